package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

// This file holds what the demo says between its steps: the alerts and log
// records held back while a progress bar is on the terminal, the statistics
// of the workload's own statements, and what the numbers mean.

// heldLog keeps the database's log records and alerts while a progress bar
// draws, so that no line lands in the middle of it; flush prints them
// after the step.
type heldLog struct {
	timed  bool // the workload runs are timed: their last statements are cut short
	mu     sync.Mutex
	buf    bytes.Buffer // slog records, one per line
	alerts []qlsqlite.Alert
}

// Write implements io.Writer for the slog handler.
func (h *heldLog) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.Write(p)
}

// alert is the database's alert function.
func (h *heldLog) alert(a qlsqlite.Alert) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.alerts = append(h.alerts, a)
}

// flush prints, and forgets, what was held during a step.
func (h *heldLog) flush(w io.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.alerts {
		state := "fired"
		if !a.Firing {
			state = "cleared"
		}
		fmt.Fprintf(w, "alert %s: %s: %s\n", state, a.Name, a.Message)
		if a.Name == qlsqlite.AlertErrorRate && a.Firing && h.timed {
			fmt.Fprintln(w, "  (the statements cut short as the timed run ended count as failed calls)")
		}
	}
	if h.buf.Len() > 0 {
		fmt.Fprintf(w, "logged meanwhile:\n%s", h.buf.String())
	}
	h.alerts, h.buf = nil, bytes.Buffer{}
}

// timeBar is the progress bar of a timed workload run: it fills with the
// run's time, and its description counts the operations done.
func timeBar(w io.Writer, show bool, d time.Duration) *progressbar.ProgressBar {
	return progressbar.NewOptions64(d.Milliseconds(),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetVisibility(show),
		progressbar.OptionSetDescription("workload: 0 ops"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionOnCompletion(func() {
			if show {
				fmt.Fprintln(w)
			}
		}),
	)
}

// workloadFingerprints are the fingerprint IDs of the statements the
// workload runs, transactions included.
func workloadFingerprints() map[string]bool {
	ids := map[string]bool{}
	for _, q := range append(trading.SQL[:], trading.UpsertPortfolio, "BEGIN", "COMMIT", "ROLLBACK") {
		ids[qlsqlite.FingerprintOf(q).ID] = true
	}
	return ids
}

// printWorkloadStats writes the per-fingerprint statistics of the
// workload's own statements, the top by total time, and what their totals
// mean.
func printWorkloadStats(w io.Writer, snap qlsqlite.Snapshot, top, workers int, wall time.Duration) {
	ids := workloadFingerprints()
	var qs []qlsqlite.QueryStats
	var calls, errs uint64
	var total, waited time.Duration
	for _, q := range snap.Queries {
		if !ids[q.Fingerprint.ID] {
			continue
		}
		qs = append(qs, q)
		calls += q.Calls
		errs += q.ErrorCount()
		total += q.Total
		waited += q.Waited
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "calls\tp50\tp95\tp99\trows\terrors\ttotal\twaited\t  query")
	for i, q := range qs {
		if i == top {
			break
		}
		text := q.Fingerprint.Text
		if len(text) > 70 {
			text = text[:67] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t  %s\n", q.Calls, fmtDuration(q.P50), fmtDuration(q.P95), fmtDuration(q.P99),
			q.Rows, q.ErrorCount(), fmtDuration(q.Total), fmtDuration(q.Waited), text)
	}
	tw.Flush()
	if n := len(qs); n > top {
		fmt.Fprintf(w, "(%d more fingerprints)\n", n-top)
	}
	fmt.Fprintf(w, "%d calls, %d errors; statement cache hit ratio %.1f%% (the database's)\n", calls, errs, 100*snap.Database.StmtCache.HitRatio)
	d := snap.Database
	fmt.Fprintf(w, "%d fingerprints kept of at most %d (_stats_max), %d evicted\n", d.Fingerprints, d.MaxFingerprints, d.FingerprintEvictions)
	fmt.Fprintf(w, "total and waited add up the time of every call, and %d workers ran calls at once: %v of calls and %v of waiting\n",
		workers, total.Round(time.Millisecond), waited.Round(time.Millisecond))
	fmt.Fprintf(w, "in %v of wall time (%.1f calls in progress at a time, on average). Waiting is time a writer spent queued at the\n",
		wall.Round(time.Millisecond), total.Seconds()/max(wall.Seconds(), 1e-9))
	fmt.Fprintln(w, "writer gate, or between retries: SQLite lets one transaction write at a time, and the gate makes the writers queue")
	fmt.Fprintln(w, "in order instead of failing with SQLITE_BUSY.")
}

// readsAndWrites says how the reads and the writes of the workload changed
// from one run to the other; writes that got slower are explained.
func readsAndWrites(w io.Writer, before, after *workloadResult) {
	reads := []trading.Kind{trading.RecentTrades, trading.Position, trading.OpenOrders, trading.Signals}
	writes := []trading.Kind{trading.InsertTrade, trading.TradeTx, trading.UpdateOrder}
	gather := func(r *workloadResult, kinds []trading.Kind) (lat []time.Duration, perSec float64) {
		for _, k := range kinds {
			lat = append(lat, r.lat[k]...)
		}
		return lat, float64(len(lat)) / max(r.elapsed.Seconds(), 1e-9)
	}
	rb, rbs := gather(before, reads)
	ra, ras := gather(after, reads)
	wb, wbs := gather(before, writes)
	wa, was := gather(after, writes)
	fmt.Fprintf(w, "reads:  median %s before, %s after; %.0f/s before, %.0f/s after\n", pct(rb, 50), pct(ra, 50), rbs, ras)
	fmt.Fprintf(w, "writes: median %s before, %s after; %.0f/s before, %.0f/s after\n", pct(wb, 50), pct(wa, 50), wbs, was)
	if len(wb) > 0 && len(wa) > 0 && median(wa) > median(wb) {
		fmt.Fprintln(w, "The writes got slower as the reads got faster: the workers no longer wait on slow reads, so more of them reach")
		fmt.Fprintln(w, "the writer gate at once, and each commit waits for the fsync of the commits queued ahead of it")
		fmt.Fprintln(w, "(synchronous=FULL: a commit is on disk before it returns). More writes go through per second; each waits longer.")
	}
}

// median returns the median of lat, which pct has sorted.
func median(lat []time.Duration) time.Duration {
	slices.Sort(lat)
	return lat[(len(lat)-1)/2]
}

// explainHealth says why a report that is not ok is so.
func explainHealth(w io.Writer, r qlsqlite.HealthReport, timed bool) {
	if r.Status != qlsqlite.HealthDegraded {
		return
	}
	var names []string
	for _, a := range r.Alerts {
		names = append(names, a.Name)
	}
	fmt.Fprintf(w, "degraded means that an alert is firing (%s), not a failure: a damaged or unreadable database is \"failing\".\n", strings.Join(names, ", "))
	fmt.Fprintln(w, "The alerts look at the last 5 minutes, which hold both runs:")
	for _, name := range names {
		switch name {
		case qlsqlite.AlertQueryP95, qlsqlite.AlertLockWait:
			fmt.Fprintf(w, "  %s: the slow statements of the run without indexes; it clears once they leave the window.\n", name)
		case qlsqlite.AlertPoolUsage:
			fmt.Fprintf(w, "  %s: the workers kept the pool's connections busy, as a load test does; in production, raise _max_open.\n", name)
		case qlsqlite.AlertErrorRate:
			if timed {
				fmt.Fprintf(w, "  %s: the statements cut short as each timed run ended count as failed calls.\n", name)
			}
		}
	}
}

// demoEnd is the demo's last word: what it showed, and what to try next.
func demoEnd(w io.Writer, db, archive string) {
	fmt.Fprintf(w, `
What this showed: one sql.Open("qlsqlite", ...) gave a SQLite database production defaults (WAL,
synchronous=FULL, a busy timeout), a deadline on every statement, a statement cache, writers queued at a
gate instead of failing with SQLITE_BUSY, per-statement statistics, alerts and a health report; the
advisor found the indexes the workload needed and proved each with SQLite's own planner; archival
moved old rows without losing one, and the backup was verified.

Try next, on the demo's database (with go run, write go run ./cmd/qlsqlite for qlsqlite):
`)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, l := range [][2]string{
		{"qlsqlite advise --db " + db, "index advice and rewrites (read-only)"},
		{"qlsqlite migrate status --db " + db + " --dir embed:trading", "migration 2, the platform's own index plan, is pending"},
		{"qlsqlite archive -db " + db + " -table trades -before 3d -dry-run", "what an archive would move"},
		{"qlsqlite verify " + archive, "check the archive file"},
		{"qlsqlite health --db " + db, "the health report of the file"},
	} {
		fmt.Fprintf(tw, "  %s\t# %s\n", l[0], l[1])
	}
	tw.Flush()
	fmt.Fprintln(w, "In a program: qlsqlite.Stats(db) and qlsqlite.Health(ctx, db) give what the tables above show.")
}
