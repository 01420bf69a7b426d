// Command gorm compares GORM's SQLite dialectors in one process: gormql
// (over qlsqlite, on ncruces's pure-Go SQLite), gorm.io/driver/sqlite (over
// mattn/go-sqlite3, cgo) and github.com/glebarez/sqlite (over modernc's
// pure-Go SQLite), on seven workloads, with GORM's PrepareStmt off and on.
//
// Each dialector and PrepareStmt setting has a database of its own, all with
// the same settings (see dialectors) and data (see seed). A round measures
// every workload on every database once (testing.Benchmark, -benchtime
// each); within a round each workload runs on all of them back to back,
// in an order that rotates from round to round, so that the machine's
// drifting load falls on all alike. The table shows each median over the
// rounds and, in brackets, the median of the rounds' ratios to mattn (time
// per operation, above 1 = slower than mattn); the second table the range
// of those ratios, GORM's allocations per operation, and gormql's
// PrepareStmt on/off ratio.
//
// mattn/go-sqlite3 and ncruces both register "sqlite3": build with
//
//	go build -ldflags '-X github.com/mattn/go-sqlite3.driverName=mattn'
//
// as bench/gorm/run.sh does. Profiles of one dialector's workloads:
//
//	./gorm -dialectors gormql -workloads first,find20 -prepare off -cpuprofile cpu.out
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"
)

func main() {
	testing.Init()
	rounds := flag.Int("rounds", 5, "rounds of every measurement")
	benchtime := flag.String("benchtime", "1s", "how long each measurement runs (testing's -benchtime)")
	only := flag.String("dialectors", "gormql,mattn,glebarez", "dialectors compared, comma-separated")
	which := flag.String("workloads", "all", "workloads, comma-separated: "+workloadNames())
	prepare := flag.String("prepare", "off,on", "GORM PrepareStmt settings measured: off, on or off,on")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measurements to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile of the measurements to this file")
	blockProfile := flag.String("blockprofile", "", "write a profile of where goroutines waited (channels, locks, select) to this file")
	flag.StringVar(&gormqlParams, "gormql-params", "", "more DSN parameters for gormql, such as &_stats=0")
	dir := flag.String("dir", "", "where the databases go (default: a temporary directory, removed after)")
	flag.Parse()
	if err := flag.Set("test.benchtime", *benchtime); err != nil {
		exit(fmt.Errorf("-benchtime: %w", err))
	}
	cfg, err := configure(*only, *which, *prepare)
	if err != nil {
		exit(err)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "gormbench")
		if err != nil {
			exit(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	dbs, err := openAll(cfg, *dir)
	if err != nil {
		exit(err)
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 4096
	}
	if *blockProfile != "" {
		runtime.SetBlockProfileRate(1000) // one sample per µs waited
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			exit(err)
		}
		defer stop()
	}
	res, err := measure(cfg, dbs, *rounds)
	if err != nil {
		exit(err)
	}
	if *memProfile != "" {
		if err := writeProfile("allocs", *memProfile); err != nil {
			exit(err)
		}
	}
	if *blockProfile != "" {
		if err := writeProfile("block", *blockProfile); err != nil {
			exit(err)
		}
	}
	fmt.Printf("GORM v1.31.2, %d rounds of %s per measurement, GOMAXPROCS %d, %s/%s, %s\n\n",
		*rounds, *benchtime, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	printTables(os.Stdout, cfg, res)
}

func exit(err error) {
	fmt.Fprintln(os.Stderr, "gormbench:", err)
	os.Exit(1)
}

func workloadNames() string {
	var names []string
	for _, w := range workloads {
		names = append(names, w.name)
	}
	return strings.Join(names, ",")
}

// config is what is measured.
type config struct {
	dialectors []dialector
	workloads  []workload
	prepare    []bool
}

func configure(only, which, prepare string) (config, error) {
	var cfg config
	for name := range strings.SplitSeq(only, ",") {
		i := slices.IndexFunc(dialectors, func(d dialector) bool { return d.name == name })
		if i < 0 {
			return cfg, fmt.Errorf("-dialectors: no dialector %q (gormql, mattn, glebarez)", name)
		}
		cfg.dialectors = append(cfg.dialectors, dialectors[i])
	}
	if which == "all" {
		cfg.workloads = workloads
	} else {
		for name := range strings.SplitSeq(which, ",") {
			i := slices.IndexFunc(workloads, func(w workload) bool { return w.name == name })
			if i < 0 {
				return cfg, fmt.Errorf("-workloads: no workload %q (%s)", name, workloadNames())
			}
			cfg.workloads = append(cfg.workloads, workloads[i])
		}
	}
	for p := range strings.SplitSeq(prepare, ",") {
		switch p {
		case "off":
			cfg.prepare = append(cfg.prepare, false)
		case "on":
			cfg.prepare = append(cfg.prepare, true)
		default:
			return cfg, fmt.Errorf("-prepare: %q is neither off nor on", p)
		}
	}
	return cfg, nil
}

// target is one database: a dialector with PrepareStmt off or on.
type target struct {
	dialector string
	prepare   bool
}

func openAll(cfg config, dir string) (map[target]*gorm.DB, error) {
	dbs := map[target]*gorm.DB{}
	for _, p := range cfg.prepare {
		for _, d := range cfg.dialectors {
			db, err := openDB(d, dir, p)
			if err != nil {
				return nil, err
			}
			if err := seed(db); err != nil {
				return nil, fmt.Errorf("%s: loading the data: %w", d.name, err)
			}
			dbs[target{d.name, p}] = db
		}
	}
	return dbs, nil
}

// sample is one measurement.
type sample struct {
	nsPerOp, cpuPerOp, allocsPerOp float64
}

// results holds the samples of each workload and target, one per round.
type results map[string]map[target][]sample

// measure runs the rounds.
func measure(cfg config, dbs map[target]*gorm.DB, rounds int) (results, error) {
	res := results{}
	for r := range rounds {
		fmt.Fprintf(os.Stderr, "# round %d of %d\n", r+1, rounds)
		for _, w := range cfg.workloads {
			if res[w.name] == nil {
				res[w.name] = map[target][]sample{}
			}
			for _, t := range order(cfg, r) {
				s, err := measureOne(w, dbs[t])
				if err != nil {
					return nil, fmt.Errorf("%s on %s (PrepareStmt %v): %w", w.name, t.dialector, t.prepare, err)
				}
				res[w.name][t] = append(res[w.name][t], s)
				fmt.Fprintf(os.Stderr, "%-8s %-9s prepare=%-5v %12.0f ns/op %12.0f cpu-ns/op %8.0f allocs/op\n",
					w.name, t.dialector, t.prepare, s.nsPerOp, s.cpuPerOp, s.allocsPerOp)
			}
		}
	}
	return res, nil
}

// order returns the targets in the order round r runs them: the
// dialectors rotated by r, and PrepareStmt off first in even rounds.
func order(cfg config, r int) []target {
	n := len(cfg.dialectors)
	var ts []target
	prep := slices.Clone(cfg.prepare)
	if r%2 == 1 {
		slices.Reverse(prep)
	}
	for _, p := range prep {
		for i := range n {
			ts = append(ts, target{cfg.dialectors[(i+r)%n].name, p})
		}
	}
	return ts
}

func measureOne(w workload, db *gorm.DB) (sample, error) {
	if w.writes {
		if err := db.Exec("DELETE FROM trades").Error; err != nil {
			return sample{}, err
		}
	}
	failure.Store(nil)
	lastCPU.ops = 0
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		w.run(b, db)
	})
	if err := failure.Load(); err != nil {
		return sample{}, *err
	}
	if r.N == 0 {
		return sample{}, errors.New("the benchmark did not run")
	}
	s := sample{nsPerOp: float64(r.T.Nanoseconds()) / float64(r.N), allocsPerOp: float64(r.MemAllocs) / float64(r.N)}
	if lastCPU.ops > 0 {
		s.cpuPerOp = float64(lastCPU.d.Nanoseconds()) / float64(lastCPU.ops)
	}
	return s, nil
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.Lookup(name).WriteTo(f, 0)
}
