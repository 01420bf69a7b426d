package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/quantumleap/qlsqlite"
)

// printStats writes the per-fingerprint table of a statistics snapshot,
// the top fingerprints by total time, and the database's totals.
func printStats(w io.Writer, snap qlsqlite.Snapshot, top int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "calls\tp50\tp95\tp99\trows\terrors\ttotal\t  query")
	for i, q := range snap.Queries {
		if i == top {
			break
		}
		text := q.Fingerprint.Text
		if len(text) > 70 {
			text = text[:67] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t  %s\n", q.Calls, fmtDuration(q.P50), fmtDuration(q.P95), fmtDuration(q.P99),
			q.Rows, q.ErrorCount(), fmtDuration(q.Total), text)
	}
	tw.Flush()
	if n := len(snap.Queries); n > top {
		fmt.Fprintf(w, "(%d more fingerprints)\n", n-top)
	}
	d := snap.Database
	fmt.Fprintf(w, "%d calls, %.0f ops/s and %.2f%% errors over the last %v, statement cache hit ratio %.1f%%, %v spent waiting\n",
		d.Calls, d.OpsPerSecond, 100*d.ErrorRate, d.Window.Round(1e6), 100*d.StmtCache.HitRatio, d.Waited.Round(1e6))
	fmt.Fprintf(w, "%d of at most %d fingerprints kept, %d evicted\n", d.Fingerprints, d.MaxFingerprints, d.FingerprintEvictions)
}
