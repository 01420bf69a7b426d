package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
	"github.com/schollz/progressbar/v3"
)

// demoMarker is the table that marks a database file as the demo's own, so
// that the demo never deletes a file it did not make.
const demoMarker = "qlsqlite_demo"

func demoCommand() command {
	return command{
		name:    "demo",
		summary: "load the trading schema with synthetic data and run the platform's mixed workload",
		run:     runDemo,
	}
}

type demoFlags struct {
	db       string
	users    int
	trades   int
	workers  int
	duration time.Duration
	ops      int
	progress bool
}

func runDemo(ctx context.Context, args []string, stdout io.Writer) error {
	var f demoFlags
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&f.db, "db", "qlsqlite-demo.db", "database file (made by the demo; recreated on each run)")
	fs.IntVar(&f.users, "users", 2000, "synthetic users")
	fs.IntVar(&f.trades, "trades", 100_000, "synthetic trades")
	fs.IntVar(&f.workers, "workers", 16, "concurrent goroutines running the workload")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to run the workload")
	fs.IntVar(&f.ops, "ops", 0, "run this many operations instead of running for --duration")
	fs.BoolVar(&f.progress, "progress", true, "show progress bars on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.workers < 1 || f.users < 1 || f.trades < 0 || f.ops < 0 || f.duration <= 0 && f.ops == 0 {
		return errors.New("demo: --workers and --users must be at least 1, --trades and --ops at least 0, and --duration positive unless --ops is set")
	}

	if err := removeDemoDB(ctx, f.db); err != nil {
		return err
	}
	db, err := qlsqlite.Open("file:" + f.db)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(max(f.workers, 4))
	db.SetMaxIdleConns(max(f.workers, 4))

	data := trading.Data{Users: f.users, Trades: f.trades, Seed: 1}
	fmt.Fprintf(stdout, "qlsqlite demo: %s, %d users, %d trades\n", f.db, f.users, f.trades)
	start := time.Now()
	bar := newBar(f.progress, -1, "loading")
	err = trading.Load(ctx, db, data, func(done, total int) {
		bar.ChangeMax(total)
		bar.Set(done)
	})
	bar.Finish()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+demoMarker+` (created_at DATETIME DEFAULT CURRENT_TIMESTAMP); INSERT INTO `+demoMarker+` DEFAULT VALUES`); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loaded in %v\n\n", time.Since(start).Round(time.Millisecond))
	if err := qlsqlite.ResetStats(db); err != nil { // the statistics below are the workload's
		return err
	}

	res, err := runWorkload(ctx, db, data, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mixed workload: %d workers, %v\n", f.workers, res.elapsed.Round(time.Millisecond))
	res.print(stdout)

	snap, err := qlsqlite.Stats(db)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nper-fingerprint statistics (qlsqlite.Stats), by total time:\n")
	printStats(stdout, snap, 10)
	report, err := qlsqlite.Health(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nhealth (qlsqlite.Health):\n")
	printHealth(stdout, report)
	return nil
}

// removeDemoDB deletes a database the demo made earlier, and refuses to
// touch any other file.
func removeDemoDB(ctx context.Context, path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := sql.Open("qlsqlite", "file:"+path+"?mode=ro&_defaults=off")
	if err != nil {
		return err
	}
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = ?`, demoMarker).Scan(&n)
	db.Close()
	if err != nil || n == 0 {
		return fmt.Errorf("demo: %s exists and is not a database the demo made; pass --db with a new path", path)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// workloadResult holds the latencies of one run, by statement kind.
type workloadResult struct {
	elapsed time.Duration
	lat     [len(trading.Kinds)][]time.Duration
	errs    [len(trading.Kinds)]int
	first   error
}

func runWorkload(ctx context.Context, db *sql.DB, data trading.Data, f demoFlags) (*workloadResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if f.ops == 0 {
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	var remaining atomic.Int64
	remaining.Store(int64(f.ops))
	total := int64(f.ops)
	if total == 0 {
		total = f.duration.Milliseconds()
	}
	bar := newBar(f.progress, total, "workload")
	defer bar.Finish()

	parts := make([]*workloadResult, f.workers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range f.workers {
		part := &workloadResult{}
		parts[i] = part
		w := trading.NewWorker(data, uint64(i+1))
		wg.Go(func() {
			for ctx.Err() == nil {
				if f.ops > 0 {
					if remaining.Add(-1) < 0 {
						return
					}
					bar.Add(1)
				}
				k := w.Pick()
				t0 := time.Now()
				err := w.Run(ctx, db, k)
				if err != nil {
					if ctx.Err() != nil {
						return // the run is over; the statement was cut short
					}
					part.errs[k]++
					if part.first == nil {
						part.first = fmt.Errorf("%v: %w", k, err)
					}
					continue
				}
				part.lat[k] = append(part.lat[k], time.Since(t0))
			}
		})
	}
	if f.ops == 0 {
		tick := time.NewTicker(100 * time.Millisecond)
		for done := false; !done; {
			select {
			case <-ctx.Done():
				done = true
			case <-tick.C:
				bar.Set64(min(time.Since(start).Milliseconds(), total))
			}
		}
		tick.Stop()
	}
	wg.Wait()
	res := &workloadResult{elapsed: time.Since(start)}
	for _, p := range parts {
		for k := range res.lat {
			res.lat[k] = append(res.lat[k], p.lat[k]...)
			res.errs[k] += p.errs[k]
		}
		if res.first == nil {
			res.first = p.first
		}
	}
	return res, nil
}

// print writes the latency table.
func (r *workloadResult) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "statement\tshare\tops\tops/s\tp50\tp95\tp99\terrors\t")
	var all []time.Duration
	errs := 0
	for _, k := range trading.Kinds {
		lat := r.lat[k]
		all = append(all, lat...)
		errs += r.errs[k]
		fmt.Fprintf(tw, "%v\t%d%%\t%d\t%.0f\t%s\t%s\t%s\t%d\t\n", k, trading.Share[k], len(lat),
			float64(len(lat))/r.elapsed.Seconds(), pct(lat, 50), pct(lat, 95), pct(lat, 99), r.errs[k])
	}
	fmt.Fprintf(tw, "total\t100%%\t%d\t%.0f\t%s\t%s\t%s\t%d\t\n", len(all),
		float64(len(all))/r.elapsed.Seconds(), pct(all, 50), pct(all, 95), pct(all, 99), errs)
	tw.Flush()
	if r.first != nil {
		fmt.Fprintf(w, "first error: %v\n", r.first)
	}
}

// pct returns the p-th percentile of lat (nearest rank), sorting lat.
func pct(lat []time.Duration, p int) string {
	if len(lat) == 0 {
		return "-"
	}
	slices.Sort(lat)
	i := max((len(lat)*p+99)/100-1, 0)
	return fmtDuration(lat[i])
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// newBar returns a progress bar on stderr, or an invisible one.
func newBar(visible bool, max int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetVisibility(visible),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
