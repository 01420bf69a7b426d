// Command ratio prints, for each benchmark of a `go test -bench` output that
// has driver=sqlite3 and driver=qlsqlite sub-benchmarks, the ratio of their
// median times: qlsqlite time / raw time, below 1 when qlsqlite is faster.
//
//	go run ./bench/ratio results.txt
package main

import (
	"bufio"
	"fmt"
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
	var order []string
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
			order = append(order, bench)
		}
		times[bench][driver] = append(times[bench][driver], ns)
	}
	fmt.Printf("%-40s %14s %14s %8s\n", "benchmark", "sqlite3", "qlsqlite", "ratio")
	for _, b := range order {
		raw, ql := median(times[b]["sqlite3"]), median(times[b]["qlsqlite"])
		if raw == 0 || ql == 0 {
			continue
		}
		fmt.Printf("%-40s %11.1f µs %11.1f µs %8.2f\n", b, raw/1000, ql/1000, ql/raw)
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}
