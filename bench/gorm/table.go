package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// floors are issue 22's ceilings on gormql's time per operation over
// mattn's, with PrepareStmt off and on alike.
var floors = map[string]float64{
	"create": 1.0, "update": 1.0, "preload": 1.0,
	"first": 1.15, "find20": 1.15, "batches": 1.15, "mix": 1.15,
}

const reference = "mattn"

// printTables writes the tables: medians with the median ratio to mattn,
// then the ratios' ranges and allocations, then the floors.
func printTables(w io.Writer, cfg config, res results) {
	printMedians(w, cfg, res)
	fmt.Fprintln(w)
	printDetails(w, cfg, res)
	if hasTarget(cfg, "gormql") {
		fmt.Fprintln(w)
		printFloors(w, cfg, res)
	}
}

func printMedians(w io.Writer, cfg config, res results) {
	ref := hasTarget(cfg, reference)
	head := []string{"workload"}
	for _, p := range cfg.prepare {
		for i, d := range cfg.dialectors {
			name := d.name
			if p && i == 0 {
				name = "PrepareStmt: " + name
			}
			head = append(head, name)
		}
	}
	row(w, head...)
	row(w, slices.Repeat([]string{"---"}, len(head))...)
	for _, wl := range cfg.workloads {
		cells := []string{titles[wl.name] + ", " + wl.unit}
		for _, p := range cfg.prepare {
			for _, d := range cfg.dialectors {
				ss := res[wl.name][target{d.name, p}]
				cell := formatValue(wl.unit, median(nsPerOp(ss)))
				if ref && d.name != reference {
					cell += fmt.Sprintf(" (%.2f)", median(ratios(ss, res[wl.name][target{reference, p}])))
				}
				cells = append(cells, cell)
			}
		}
		row(w, cells...)
	}
}

// printDetails writes, per workload and PrepareStmt setting, the range of
// the rounds' ratios to mattn, of wall-clock and of CPU time, and the Go
// heap allocations per operation (mattn's C memory is not counted).
func printDetails(w io.Writer, cfg config, res results) {
	ref := hasTarget(cfg, reference)
	head := []string{"workload", "PrepareStmt"}
	for _, d := range cfg.dialectors {
		if ref && d.name != reference {
			head = append(head, d.name+"/mattn: median [min–max]", "CPU time "+d.name+"/mattn")
		}
	}
	for _, d := range cfg.dialectors {
		head = append(head, "allocs/op "+d.name)
	}
	row(w, head...)
	row(w, slices.Repeat([]string{"---"}, len(head))...)
	for _, wl := range cfg.workloads {
		for _, p := range cfg.prepare {
			cells := []string{wl.name, onOff(p)}
			for _, d := range cfg.dialectors {
				if ref && d.name != reference {
					a, b := res[wl.name][target{d.name, p}], res[wl.name][target{reference, p}]
					cells = append(cells, formatRange(ratios(a, b)), formatRange(cpuRatios(a, b)))
				}
			}
			for _, d := range cfg.dialectors {
				var allocs []float64
				for _, s := range res[wl.name][target{d.name, p}] {
					allocs = append(allocs, s.allocsPerOp)
				}
				cells = append(cells, fmt.Sprintf("%.0f", median(allocs)))
			}
			row(w, cells...)
		}
	}
}

// printFloors writes gormql's ratios against issue 22's floors, of
// wall-clock time (what the floors are about) and of CPU time (what varies
// less on a busy machine).
func printFloors(w io.Writer, cfg config, res results) {
	ref := hasTarget(cfg, reference)
	both := len(cfg.prepare) == 2
	head := []string{"workload", "floor"}
	if ref {
		for _, p := range cfg.prepare {
			head = append(head, "gormql/mattn, PrepareStmt "+onOff(p), "CPU time")
		}
	}
	if both {
		head = append(head, "gormql PrepareStmt on/off (floor 1.00)", "CPU time")
	}
	row(w, head...)
	row(w, slices.Repeat([]string{"---"}, len(head))...)
	for _, wl := range cfg.workloads {
		cells := []string{wl.name, fmt.Sprintf("%.2f", floors[wl.name])}
		if ref {
			for _, p := range cfg.prepare {
				a, b := res[wl.name][target{"gormql", p}], res[wl.name][target{reference, p}]
				rs, cs := ratios(a, b), cpuRatios(a, b)
				cells = append(cells, formatRange(rs)+verdict(median(rs), floors[wl.name]), formatRange(cs)+verdict(median(cs), floors[wl.name]))
			}
		}
		if both {
			a, b := res[wl.name][target{"gormql", true}], res[wl.name][target{"gormql", false}]
			rs, cs := ratios(a, b), cpuRatios(a, b)
			cells = append(cells, formatRange(rs)+verdict(median(rs), 1.0), formatRange(cs)+verdict(median(cs), 1.0))
		}
		row(w, cells...)
	}
}

func verdict(ratio, floor float64) string {
	if ratio <= floor {
		return " ok"
	}
	return fmt.Sprintf(" **over by %.0f %%**", (ratio/floor-1)*100)
}

func hasTarget(cfg config, name string) bool {
	return slices.ContainsFunc(cfg.dialectors, func(d dialector) bool { return d.name == name })
}

func onOff(p bool) string {
	if p {
		return "on"
	}
	return "off"
}

func row(w io.Writer, cells ...string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}

func nsPerOp(ss []sample) []float64 {
	var xs []float64
	for _, s := range ss {
		xs = append(xs, s.nsPerOp)
	}
	return xs
}

// ratios returns a's time over b's, round by round.
func ratios(a, b []sample) []float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		rs = append(rs, a[i].nsPerOp/b[i].nsPerOp)
	}
	return rs
}

// cpuRatios returns a's CPU time over b's, round by round.
func cpuRatios(a, b []sample) []float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i].cpuPerOp > 0 {
			rs = append(rs, a[i].cpuPerOp/b[i].cpuPerOp)
		}
	}
	return rs
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func formatRange(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f [%.2f–%.2f]", median(xs), slices.Min(xs), slices.Max(xs))
}

// formatValue shows a time per operation in the workload's unit.
func formatValue(unit string, ns float64) string {
	switch unit {
	case "µs":
		return fmt.Sprintf("%.1f", ns/1e3)
	case "ms":
		if ms := ns / 1e6; ms < 10 {
			return fmt.Sprintf("%.2f", ms)
		} else {
			return fmt.Sprintf("%.1f", ms)
		}
	default: // ops/s
		return fmt.Sprintf("%.1fk", 1e9/ns/1e3)
	}
}
