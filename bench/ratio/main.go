// Command ratio prints, for each benchmark of a `go test -bench` output that
// has driver=sqlite3 and driver=qlsqlite sub-benchmarks (or driver=pgx and
// driver=qlpg, from module pg), the ratio qlsqlite time / raw time, below 1
// when qlsqlite is faster. For benchmarks
// with obs=<config> sub-benchmarks (BenchmarkObserve), it prints each
// configuration's time over the previous one's, in the order they ran.
//
// Where the benchmarks report the process's CPU time (cpu-ns/op), the
// ratio of CPU times is printed too: on a shared machine it varies less
// than the wall-clock time, which counts the waits for a CPU.
//
// Ratios are taken round by round (bench/run.sh runs rounds of -count 1, in
// which both sides run back to back) and the median of the rounds' ratios
// is reported with their range: on a machine whose load drifts between
// rounds, that cancels the drift a ratio of medians would keep. Benchmarks
// that report a p99-µs metric get a second table: each driver's median p99
// with the range of the rounds. Benchmarks with a third configuration
// (driver=qlsqlite-off) get a table of qlsqlite against it, and of it
// against the raw driver.
//
//	go run ./bench/ratio results.txt
package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ratio results.txt")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	times := map[string]map[string][]float64{} // benchmark -> driver -> ns/op
	cpu := map[string]map[string][]float64{}   // benchmark -> driver -> cpu-ns/op, where reported
	p99s := map[string]map[string][]float64{}  // benchmark -> driver -> p99-µs
	var order []string
	var obs series
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || fields[3] != "ns/op" {
			continue
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		if j := strings.Index(name, "obs="); j >= 0 {
			ns, err := strconv.ParseFloat(fields[2], 64)
			if err == nil {
				obs.add(strings.TrimSuffix(name[:j], "/"), name[j+len("obs="):], ns)
			}
			continue
		}
		i := strings.Index(name, "driver=")
		if i < 0 {
			continue
		}
		bench, driver := strings.TrimSuffix(name[:i], "/"), name[i+len("driver="):]
		if j := strings.IndexByte(driver, '/'); j >= 0 {
			bench, driver = bench+driver[j:], driver[:j]
		}
		ns, err := strconv.ParseFloat(fields[2], 64)
		if err != nil {
			continue
		}
		if times[bench] == nil {
			times[bench] = map[string][]float64{}
			cpu[bench] = map[string][]float64{}
			order = append(order, bench)
		}
		times[bench][driver] = append(times[bench][driver], ns)
		if i := slices.Index(fields, "cpu-ns/op"); i > 0 {
			if c, err := strconv.ParseFloat(fields[i-1], 64); err == nil {
				cpu[bench][driver] = append(cpu[bench][driver], c)
			}
		}
		for j := 4; j+1 < len(fields); j += 2 {
			if fields[j+1] != "p99-µs" {
				continue
			}
			if v, err := strconv.ParseFloat(fields[j], 64); err == nil {
				if p99s[bench] == nil {
					p99s[bench] = map[string][]float64{}
				}
				p99s[bench][driver] = append(p99s[bench][driver], v)
			}
		}
	}
	for _, pair := range [][2]string{{"sqlite3", "qlsqlite"}, {"pgx", "qlpg"}} {
		header := false
		for _, b := range order {
			raw, ql := times[b][pair[0]], times[b][pair[1]]
			r := ratios(ql, raw)
			if len(r) == 0 {
				continue
			}
			if !header {
				fmt.Printf("%-40s %14s %14s %8s %15s %10s %15s\n", "benchmark", pair[0], pair[1], "ratio", "rounds' range", "CPU ratio", "rounds' range")
				header = true
			}
			line := fmt.Sprintf("%-40s %11.1f µs %11.1f µs %8.2f %15s", b, median(raw)/1000, median(ql)/1000, median(r), spread(r))
			if c := ratios(cpu[b][pair[1]], cpu[b][pair[0]]); len(c) > 0 {
				line += fmt.Sprintf(" %10.2f %15s", median(c), spread(c))
			}
			fmt.Println(line)
		}
	}
	printOthers(order, times)
	printP99(order, p99s)
	obs.print()
}

// printOthers prints, for benchmarks with sub-benchmarks of a third
// configuration (driver=qlsqlite-off in BenchmarkGroupCommit: qlsqlite
// with the feature off), qlsqlite's time over that configuration's and
// that configuration's over the raw driver's, round by round.
func printOthers(order []string, times map[string]map[string][]float64) {
	header := false
	for _, b := range order {
		var others []string
		for d := range times[b] {
			if d != "sqlite3" && d != "qlsqlite" {
				others = append(others, d)
			}
		}
		slices.Sort(others)
		for _, d := range others {
			other, ql, raw := times[b][d], times[b]["qlsqlite"], times[b]["sqlite3"]
			onOff, offRaw := ratios(ql, other), ratios(other, raw)
			if len(onOff) == 0 {
				continue
			}
			if !header {
				fmt.Printf("\n%-40s %-14s %14s %14s %18s %15s %18s %15s\n", "benchmark", "other", "other", "qlsqlite", "qlsqlite / other", "rounds' range", "other / sqlite3", "rounds' range")
				header = true
			}
			line := fmt.Sprintf("%-40s %-14s %11.1f µs %11.1f µs %18.2f %15s", b, d, median(other)/1000, median(ql)/1000, median(onOff), spread(onOff))
			if len(offRaw) > 0 {
				line += fmt.Sprintf(" %18.2f %15s", median(offRaw), spread(offRaw))
			}
			fmt.Println(line)
		}
	}
}

// series holds the times of benchmarks with obs=<config> sub-benchmarks.
type series struct {
	benches []string
	configs map[string][]string             // benchmark -> configurations in the order seen
	times   map[string]map[string][]float64 // benchmark -> configuration -> ns/op
}

func (s *series) add(bench, config string, ns float64) {
	if s.times == nil {
		s.times, s.configs = map[string]map[string][]float64{}, map[string][]string{}
	}
	if s.times[bench] == nil {
		s.times[bench] = map[string][]float64{}
		s.benches = append(s.benches, bench)
	}
	if s.times[bench][config] == nil {
		s.configs[bench] = append(s.configs[bench], config)
	}
	s.times[bench][config] = append(s.times[bench][config], ns)
}

func (s *series) print() {
	for _, b := range s.benches {
		fmt.Printf("\n%-40s %14s %22s %15s\n", b+" (obs=)", "median", "ratio to the previous", "rounds' range")
		var prev []float64
		for _, c := range s.configs[b] {
			t := s.times[b][c]
			if r := ratios(t, prev); len(r) > 0 {
				fmt.Printf("  %-38s %11.1f µs %22.3f %15s\n", c, median(t)/1000, median(r), spread(r))
			} else {
				fmt.Printf("  %-38s %11.1f µs %22s\n", c, median(t)/1000, "")
			}
			prev = t
		}
	}
}

// ratios divides a by b round by round.
func ratios(a, b []float64) []float64 {
	var r []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			r = append(r, a[i]/b[i])
		}
	}
	return r
}

// spread formats the smallest and largest of xs.
func spread(xs []float64) string {
	return fmt.Sprintf("%.2f–%.2f", slices.Min(xs), slices.Max(xs))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// printP99 prints each driver's median p99 latency per benchmark that
// reported one, with the range of the rounds.
func printP99(order []string, p99s map[string]map[string][]float64) {
	header := false
	for _, b := range order {
		raw, ql := p99s[b]["sqlite3"], p99s[b]["qlsqlite"]
		if len(raw) == 0 || len(ql) == 0 {
			continue
		}
		if !header {
			fmt.Printf("\n%-40s %30s %30s\n", "p99 of one operation", "sqlite3 (rounds' range)", "qlsqlite (rounds' range)")
			header = true
		}
		line := fmt.Sprintf("%-40s %30s %30s", b, p99(raw), p99(ql))
		for _, d := range slices.Sorted(maps.Keys(p99s[b])) {
			if d != "sqlite3" && d != "qlsqlite" {
				line += fmt.Sprintf("   %s %s", d, p99(p99s[b][d]))
			}
		}
		fmt.Println(line)
	}
}

func p99(us []float64) string {
	return fmt.Sprintf("%.1f ms (%.1f–%.1f)", median(us)/1000, slices.Min(us)/1000, slices.Max(us)/1000)
}
