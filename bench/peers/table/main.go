// Command table reads the output of the peers benchmarks (several rounds,
// one result line per benchmark and driver each) and prints a Markdown
// table: each driver's median time per op, and the ratios of qlsqlite to
// its peers, taken round by round, as their median and range, with the
// floor each is held to.
//
//	go run ./table results.txt
//	go run ./table -metric cpu-ns/op results.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// line matches "BenchmarkName/sub/driver=NAME-2   	  1000	  1234 ns/op ...".
var line = regexp.MustCompile(`^Benchmark(\S+?)/driver=([a-z]+)(?:-\d+)?\s+\d+\s+(.*)`)

// metric is the unit compared: ns/op (wall time, the default) or
// cpu-ns/op (the process's CPU time per op).
var metric = flag.String("metric", "ns/op", "the metric compared: ns/op or cpu-ns/op")

// value returns the value of the metric in a result line's fields.
func value(fields string) (float64, bool) {
	f := strings.Fields(fields)
	for i := 1; i < len(f); i++ {
		if f[i] == *metric {
			v, err := strconv.ParseFloat(f[i-1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// A ratio compares two drivers of a benchmark: num's time over den's.
type ratio struct {
	num, den string
	floor    float64 // 0: none
}

// ratios are the comparisons printed, by benchmark (prefix match).
var ratios = []struct {
	bench string
	r     []ratio
}{
	{"PointAdhoc", []ratio{{"qlsqlite", "mattn", 0.70}, {"qlsqlite", "ncruces", 0}}},
	{"PointPrepared", []ratio{{"qlsqlite", "mattn", 0}, {"qlsqlite", "ncruces", 1.10}}},
	{"RangeAdhoc", []ratio{{"qlsqlite", "mattn", 0.90}, {"qlsqlite", "ncruces", 0}}},
	{"InsertAutocommit", []ratio{{"qlsqlite", "mattn", 1.05}, {"qlsqlite", "ncruces", 0}}},
	{"Readers16", []ratio{{"qlsqlite", "mattn", 0.70}, {"qlsqlite", "ncruces", 0}}},
	{"Telemetry", []ratio{{"qlsqlite", "otelsql", 0.80}}},
	{"Sampled", []ratio{{"sampled", "noop", 1.10}}},
	{"", []ratio{{"qlsqlite", "mattn", 0}, {"qlsqlite", "ncruces", 0}}},
}

var columns = []string{"ncruces", "mattn", "modernc", "qlsqlite", "otelsql", "noop", "sampled"}

func main() {
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: table [-metric cpu-ns/op] results.txt")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	times := map[string]map[string][]float64{} // bench -> driver -> ns/op per round
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, ok := value(m[3])
		if !ok {
			continue
		}
		if times[m[1]] == nil {
			times[m[1]] = map[string][]float64{}
			order = append(order, m[1])
		}
		times[m[1]][m[2]] = append(times[m[1]][m[2]], ns)
	}
	print(order, times)
}

func print(order []string, times map[string]map[string][]float64) {
	var used []string
	for _, c := range columns {
		for _, b := range order {
			if _, ok := times[b][c]; ok {
				used = append(used, c)
				break
			}
		}
	}
	fmt.Printf("| workload | %s | ratios (median, range over rounds) | floor | rounds |\n", strings.Join(used, " | "))
	fmt.Printf("|---|%s---|---|---|\n", strings.Repeat("---|", len(used)))
	for _, b := range order {
		row := []string{b}
		rounds := 0
		for _, c := range used {
			ts := times[b][c]
			rounds = max(rounds, len(ts))
			if len(ts) == 0 {
				row = append(row, "")
				continue
			}
			row = append(row, human(median(ts)))
		}
		var rs, floors []string
		for _, r := range ratiosOf(b) {
			num, den := times[b][r.num], times[b][r.den]
			if len(num) == 0 || len(den) == 0 {
				continue
			}
			var per []float64
			for i := range min(len(num), len(den)) {
				per = append(per, num[i]/den[i])
			}
			med := median(per)
			rs = append(rs, fmt.Sprintf("%s/%s **%.2f** (%.2f–%.2f)", r.num, r.den, med, slices.Min(per), slices.Max(per)))
			if r.floor > 0 {
				mark := "✓"
				if med > r.floor {
					mark = "✗"
				}
				floors = append(floors, fmt.Sprintf("%s/%s ≤ %.2f %s", r.num, r.den, r.floor, mark))
			}
		}
		row = append(row, strings.Join(rs, "; "), strings.Join(floors, "; "), strconv.Itoa(rounds))
		fmt.Printf("| %s |\n", strings.Join(row, " | "))
	}
}

func ratiosOf(bench string) []ratio {
	for _, r := range ratios {
		if strings.HasPrefix(bench, r.bench) {
			return r.r
		}
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// human prints ns as a duration with three significant digits.
func human(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%.0f ns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	}
	return fmt.Sprintf("%.3g s", ns/1e9)
}
