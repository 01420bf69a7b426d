package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
	"github.com/quantumleap/qlsqlite/lifecycle"
	"github.com/quantumleap/qlsqlite/migrate"
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
	serve    string
	group    bool
	rest     []string // arguments after the flags: none are taken
}

func runDemo(ctx context.Context, args []string, stdout io.Writer) error {
	f, err := parseDemoFlags(args, stdout)
	if err != nil {
		return err
	}
	if isPostgresURL(f.db) {
		return runPostgresDemo(ctx, args, stdout)
	}
	if err := f.check(); err != nil {
		return err
	}
	archivePath, backupPath, historyPath := demoSibling(f.db, "archive"), demoSibling(f.db, "backup"), qlsqlite.HistoryPath(f.db)
	if err := removeDemoDB(ctx, f.db, archivePath, backupPath, historyPath); err != nil {
		return err
	}
	held := heldLog{timed: f.ops == 0}
	db, err := qlsqlite.Open(fileURI(f.db, ""), append(demoOptions(f, &held), qlsqlite.WithHistory(historyPath))...)
	if err != nil {
		return err
	}
	defer db.Close()
	pages, err := demoPages(db, f.serve, stdout)
	if err != nil {
		return err
	}
	defer pages.stop()
	fmt.Fprintf(stdout, "qlsqlite demo: %s, %d users, %d trades, %d workers\n\n", f.db, f.users, f.trades, f.workers)

	data := trading.Data{Users: f.users, Trades: f.trades, Seed: 1}
	if err := demoSetup(ctx, db, data, f, stdout); err != nil {
		return err
	}
	snap, elapsed, err := demoWorkload(ctx, db, data, f, &held, stdout)
	if err != nil {
		return err
	}
	if err := demoLifecycle(ctx, db, data, archivePath, backupPath, stdout); err != nil {
		return err
	}
	held.flush(stdout)

	fmt.Fprintf(stdout, "\nper-fingerprint statistics (qlsqlite.Stats) of the workload's statements, by total time, both runs:\n")
	printWorkloadStats(stdout, snap, 10, f.workers, elapsed)
	if f.ops == 0 {
		fmt.Fprintln(stdout, "(the errors are the statements cut short as each timed run ended)")
	}
	report, err := qlsqlite.Health(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nhealth (qlsqlite.Health):\n")
	printHealth(stdout, report)
	explainHealth(stdout, report, f.ops == 0)
	held.flush(stdout)
	demoEnd(stdout, f.db, archivePath)
	return pages.end(ctx, f.db, historyPath)
}

// parseDemoFlags reads the demo's command line.
func parseDemoFlags(args []string, stdout io.Writer) (demoFlags, error) {
	var f demoFlags
	fs := newFlagSet("demo", "demo [flags]",
		"Applies migration 1 of the trading schema to a new database, loads synthetic data, runs the platform's mixed",
		"workload, asks the advisor about the typical statements and applies its indexes, runs the workload again,",
		"archives the trades older than a week, backs the database up and verifies the backup, and ends with the",
		"statistics of the workload's statements and the health report.")
	fs.StringVar(&f.db, "db", "qlsqlite-demo.db", "database file (made by the demo; recreated on each run, with its -archive.db and -backup.db), or a postgres:// URL (run by the qlpg command)")
	fs.IntVar(&f.users, "users", 2000, "synthetic users")
	fs.IntVar(&f.trades, "trades", 100_000, "synthetic trades")
	fs.IntVar(&f.workers, "workers", 16, "concurrent goroutines running the workload")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long each workload run lasts (one before the advice, one after)")
	fs.IntVar(&f.ops, "ops", 0, "run this many operations per workload run instead of running for --duration")
	fs.BoolVar(&f.progress, "progress", true, "show progress bars on stderr")
	fs.StringVar(&f.serve, "serve", "", "serve the monitoring pages on this `address` (127.0.0.1:8089) while the demo runs, and after it until Ctrl-C")
	fs.BoolVar(&f.group, "group-commit", true, "commit the workers' concurrent autocommit writes together (group commit)")
	err := parseFlags(fs, args, stdout)
	f.rest = fs.Args()
	return f, err
}

// demoSetup applies the schema as migration 1 (no secondary indexes: the
// advisor's job) and loads the synthetic data; the statistics then start
// from zero, so that those printed are the workload's.
func demoSetup(ctx context.Context, db *sql.DB, data trading.Data, f demoFlags, stdout io.Writer) error {
	m, err := migrate.New(db, trading.Migrations, migrate.WithoutBackup())
	if err != nil {
		return err
	}
	if err := m.UpTo(ctx, 1); err != nil {
		return err
	}
	v, err := m.Version(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema: migrated to version %d (migration 2, the platform's own index plan, left pending)\n", v)

	start := time.Now()
	bar := newBar(os.Stderr, f.progress, -1, "loading")
	err = trading.Fill(ctx, db, data, func(done, total int) {
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
	return qlsqlite.ResetStats(db)
}

// demoWorkload runs the workload, asks for advice and applies it, runs the
// workload again, and returns the statistics of both runs (taken before
// the archive and the backup run statements of their own) and their time.
func demoWorkload(ctx context.Context, db *sql.DB, data trading.Data, f demoFlags, held *heldLog, stdout io.Writer) (qlsqlite.Snapshot, time.Duration, error) {
	before := runWorkload(ctx, db, data, f)
	fmt.Fprintf(stdout, "mixed workload, no secondary indexes: %d workers, %v\n", f.workers, before.elapsed.Round(time.Millisecond))
	before.print(stdout)
	held.flush(stdout)

	if err := demoAdvice(ctx, db, stdout); err != nil {
		return qlsqlite.Snapshot{}, 0, err
	}
	held.flush(stdout)
	after := runWorkload(ctx, db, data, f)
	fmt.Fprintf(stdout, "\nmixed workload, with the advised indexes: %d workers, %v\n", f.workers, after.elapsed.Round(time.Millisecond))
	after.print(stdout)
	fmt.Fprintf(stdout, "p95 of all statements: %s before, %s after\n", pct(before.all(), 95), pct(after.all(), 95))
	readsAndWrites(stdout, before, after)
	held.flush(stdout)
	snap, err := qlsqlite.Stats(db)
	if err != nil {
		return snap, 0, err
	}
	if g := snap.Database.GroupCommit; g.Enabled {
		fmt.Fprintf(stdout, "group commit: %d autocommit writes in %d commits (%.1f per commit, at most %d), p99 queued %v\n", g.Statements, g.Groups, g.MeanSize, g.MaxSize, g.P99Queued.Round(time.Microsecond))
	}
	return snap, before.elapsed + after.elapsed, nil
}

// check validates the flags, naming the one that is wrong.
func (f *demoFlags) check() error {
	switch {
	case f.workers < 1:
		return usageErrorf("demo: --workers %d: want 1 or more", f.workers)
	case f.users < 1:
		return usageErrorf("demo: --users %d: want 1 or more", f.users)
	case f.trades < 0:
		return usageErrorf("demo: --trades %d: want 0 or more", f.trades)
	case f.ops < 0:
		return usageErrorf("demo: --ops %d: want 0 (run for --duration) or more", f.ops)
	case f.ops == 0 && f.duration <= 0:
		return usageErrorf("demo: --duration %v: want a positive duration (or set --ops)", f.duration)
	case len(f.rest) > 0:
		return usageErrorf("demo: unexpected argument %q: the demo takes flags only (qlsqlite demo -h)", f.rest[0])
	}
	return nil
}

// demoOptions are the options of the demo's database. Its alerts and log
// records are held until the progress bar of a step is done, and printed
// after it (see heldLog).
func demoOptions(f demoFlags, held *heldLog) []qlsqlite.Option {
	return []qlsqlite.Option{
		qlsqlite.WithPool(qlsqlite.PoolConfig{MaxOpen: max(f.workers, 4), MinOpen: 4}),
		qlsqlite.WithSlowQueryLog(0), // before the advice nearly every query is slow: the table below says so once
		qlsqlite.WithAlertFunc(held.alert),
		qlsqlite.WithLogger(slog.New(slog.NewTextHandler(held, nil))),
		qlsqlite.WithMonitorInterval(time.Second), // alerts show in the step they belong to
		qlsqlite.WithGroupCommit(f.group),
	}
}

// demoSibling names a file the demo makes beside its database.
func demoSibling(db, what string) string {
	return strings.TrimSuffix(db, filepath.Ext(db)) + "-" + what + ".db"
}

// demoAdvice asks the advisor about the platform's typical statements,
// prints its suggestions and applies them.
func demoAdvice(ctx context.Context, db *sql.DB, w io.Writer) error {
	var queries []string
	for _, s := range trading.Statements() {
		queries = append(queries, s.SQL)
	}
	advice, err := qlsqlite.Advise(ctx, db, queries...)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nindex advice (verified with EXPLAIN QUERY PLAN): %d indexes\n", len(advice))
	for _, a := range advice {
		fmt.Fprintf(w, "  %s\n", a.CreateSQL)
		for _, p := range a.Plans {
			fmt.Fprintf(w, "      %s\n        before: %s\n        after:  %s\n", oneLine(p.Query), planLine(p.Before), planLine(p.After))
		}
	}
	if err := qlsqlite.ApplyAdvice(ctx, db, advice...); err != nil {
		return err
	}
	fmt.Fprintln(w, "applied.")
	return nil
}

// demoLifecycle archives the trades older than a week and backs the
// database up.
func demoLifecycle(ctx context.Context, db *sql.DB, data trading.Data, archivePath, backupPath string, w io.Writer) error {
	cutoff := time.Now().UTC().AddDate(0, 0, -7)
	rep, err := lifecycle.Archive(ctx, db, lifecycle.ArchivePolicy{
		Table:    "trades",
		Where:    "timestamp < ?",
		Args:     []any{cutoff.Format(trading.TimeLayout)},
		DestPath: archivePath,
	})
	if err != nil {
		return err
	}
	rate := float64(rep.Moved) / max(rep.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "\narchived %d trades older than %s into %s in %v (%.0f rows/s)\n",
		rep.Moved, cutoff.Format(time.DateOnly), archivePath, rep.Elapsed.Round(time.Millisecond), rate)

	start := time.Now()
	if err := lifecycle.Backup(ctx, db, backupPath); err != nil {
		return err
	}
	if err := lifecycle.Verify(ctx, backupPath); err != nil {
		return err
	}
	fmt.Fprintf(w, "backed up to %s and verified in %v\n", backupPath, time.Since(start).Round(time.Millisecond))
	return nil
}

func oneLine(q string) string { return strings.Join(strings.Fields(q), " ") }

// planLine renders a multi-line plan on one line.
func planLine(plan string) string {
	var steps []string
	for _, l := range strings.Split(plan, "\n") {
		if l = strings.TrimLeft(strings.TrimSpace(l), "|-`"); l != "" && l != "QUERY PLAN" {
			steps = append(steps, l)
		}
	}
	return strings.Join(steps, "; ")
}

// removeDemoDB deletes a database the demo made earlier, with the files
// it made beside it, and refuses to touch any other file.
func removeDemoDB(ctx context.Context, path string, siblings ...string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := sql.Open(qlsqlite.DriverName, fileURI(path, "mode=ro&_defaults=off"))
	if err != nil {
		return err
	}
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = ?`, demoMarker).Scan(&n)
	db.Close()
	if err != nil && !errors.Is(err, sqlite3.NOTADB) {
		return fmt.Errorf("demo: checking that %s is the demo's before replacing it: %w", path, err)
	}
	if err != nil || n == 0 {
		return fmt.Errorf("demo: %s exists and is not a database the demo made; pass --db with a new path", path)
	}
	for _, base := range append([]string{path}, siblings...) {
		for _, p := range []string{base, base + "-wal", base + "-shm", base + "-migrate.lock"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
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

func runWorkload(ctx context.Context, db *sql.DB, data trading.Data, f demoFlags) *workloadResult {
	if f.ops == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	var remaining, done atomic.Int64 // operations left (with --ops), and done
	remaining.Store(int64(f.ops))
	// The bar counts operations: their number when it is set, or it fills
	// with the run's time and counts the operations in its description.
	bar := newBar(os.Stderr, f.progress, int64(f.ops), "workload (operations)")
	if f.ops == 0 {
		bar = timeBar(os.Stderr, f.progress, f.duration)
	}
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
				done.Add(1)
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
		for over := false; !over; {
			select {
			case <-ctx.Done():
				over = true
			case <-tick.C:
				bar.Describe(fmt.Sprintf("workload: %d ops", done.Load()))
				bar.Set64(min(time.Since(start).Milliseconds(), f.duration.Milliseconds()))
			}
		}
		tick.Stop()
	}
	wg.Wait()
	if f.ops == 0 {
		bar.Describe(fmt.Sprintf("workload: %d ops", done.Load()))
	}
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
	return res
}

// all returns every latency of the run.
func (r *workloadResult) all() []time.Duration {
	var all []time.Duration
	for _, lat := range r.lat {
		all = append(all, lat...)
	}
	return all
}

// print writes the latency table.
func (r *workloadResult) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "statement\tshare\tops\tops/s\tp50\tp95\tp99\terrors\t")
	errs := 0
	for _, k := range trading.Kinds {
		lat := r.lat[k]
		errs += r.errs[k]
		fmt.Fprintf(tw, "%v\t%d%%\t%d\t%.0f\t%s\t%s\t%s\t%d\t\n", k, trading.Share[k], len(lat),
			float64(len(lat))/r.elapsed.Seconds(), pct(lat, 50), pct(lat, 95), pct(lat, 99), r.errs[k])
	}
	all := r.all()
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
