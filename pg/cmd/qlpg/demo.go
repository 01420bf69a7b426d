package main

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/migrate"
	"github.com/quantumleap/qlsqlite/pg"
)

//go:embed migrations
var migrationFiles embed.FS

// migrations is the demo's schema, in the layout package migrate reads.
var migrations, _ = fs.Sub(migrationFiles, "migrations")

// statements are the platform's typical statements, with their share of
// the traffic in percent (../../shared/trading), in PostgreSQL's dialect.
var statements = []struct {
	name  string
	share int
	sql   string
}{
	{"recent trades", 40, `SELECT * FROM trades WHERE symbol = $1 AND "timestamp" >= $2 ORDER BY "timestamp" DESC LIMIT 50`},
	{"position", 20, `SELECT quantity, average_cost FROM portfolio WHERE user_id = $1 AND symbol = $2`},
	{"open orders", 10, `SELECT id, symbol, quantity, limit_price FROM orders WHERE status = 'open' ORDER BY created_at LIMIT 100`},
	{"signals", 10, `SELECT symbol, direction FROM signals WHERE confidence_score >= $1 AND "timestamp" >= $2`},
	{"trade (RunTx)", 15, ``},
	{"update order", 5, `UPDATE orders SET status = $1 WHERE id = $2`},
}

const (
	insertTrade    = `INSERT INTO trades (user_id, symbol, quantity, price, side, strategy_id, execution_time_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	upsertPosition = `INSERT INTO portfolio (user_id, symbol, quantity, average_cost) VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id, symbol) DO UPDATE SET
	average_cost = (portfolio.average_cost * portfolio.quantity + excluded.average_cost * excluded.quantity) / (portfolio.quantity + excluded.quantity),
	quantity = portfolio.quantity + excluded.quantity,
	last_updated = now()`
)

type demoFlags struct {
	db       string
	users    int
	trades   int
	workers  int
	duration time.Duration
	ops      int
}

func runDemo(ctx context.Context, args []string, stdout io.Writer) error {
	var f demoFlags
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&f.db, "db", "", "PostgreSQL URL of the database to load (the demo drops and recreates its own tables there; a database holding other tables is refused)")
	fs.IntVar(&f.users, "users", 2000, "synthetic users")
	fs.IntVar(&f.trades, "trades", 200_000, "synthetic trades")
	fs.IntVar(&f.workers, "workers", 16, "concurrent goroutines running the workload")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long each workload run lasts (one before the advice, one after)")
	fs.IntVar(&f.ops, "ops", 0, "run this many operations per workload run instead of running for --duration")
	fs.Bool("progress", false, "accepted for the qlsqlite demo's sake; the load runs on the server, without a progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !strings.HasPrefix(f.db, "postgres://") && !strings.HasPrefix(f.db, "postgresql://") {
		return errors.New("demo: --db must be a PostgreSQL URL, like postgres://user@localhost:5432/demo")
	}
	if f.workers < 1 || f.users < 1 || f.trades < 0 || f.ops < 0 || f.duration <= 0 && f.ops == 0 {
		return errors.New("demo: --workers and --users must be at least 1, --trades and --ops at least 0, and --duration positive unless --ops is set")
	}
	db, err := pg.Open(f.db, qlsqlite.WithPool(qlsqlite.PoolConfig{MaxOpen: f.workers + 2, MinOpen: 2}), qlsqlite.WithSlowQueryLog(0))
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stdout, "qlpg demo: %d users, %d trades, %d workers\n\n", f.users, f.trades, f.workers)
	if err := resetSchema(ctx, db, stdout); err != nil {
		return err
	}
	start := time.Now()
	if err := load(ctx, db, f); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loaded in %v\n\n", time.Since(start).Round(time.Millisecond))
	if err := qlsqlite.ResetStats(db); err != nil {
		return err
	}

	before := runWorkload(ctx, db, f)
	fmt.Fprintf(stdout, "mixed workload, no secondary indexes: %d workers, %v, %d operations, %d failed\n", f.workers, before.elapsed.Round(time.Millisecond), before.ops, before.failed)
	before.print(stdout)
	if err := advise(ctx, db, stdout); err != nil {
		return err
	}
	after := runWorkload(ctx, db, f)
	fmt.Fprintf(stdout, "\nmixed workload, with the advised indexes: %d workers, %v, %d operations, %d failed\n", f.workers, after.elapsed.Round(time.Millisecond), after.ops, after.failed)
	after.print(stdout)

	snap, err := qlsqlite.Stats(db)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nper-fingerprint statistics (qlsqlite.Stats), by total time, both runs:\n")
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  calls\ttotal\tp95\tfingerprint")
	for _, q := range snap.Queries[:min(len(snap.Queries), 8)] {
		fmt.Fprintf(tw, "  %d\t%v\t%v\t%s\n", q.Calls, q.Total.Round(time.Millisecond), q.P95.Round(time.Microsecond), oneLine(q.Fingerprint.Text))
	}
	tw.Flush()
	h, err := qlsqlite.Health(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nhealth (qlsqlite.Health): %s", h.Status)
	if h.Server != nil {
		fmt.Fprintf(stdout, ", PostgreSQL %s, %d MB, connections %v, breaker %s", h.Server.Version, h.Server.SizeBytes>>20, h.Server.Connections, h.Breaker)
	}
	fmt.Fprintln(stdout)
	for _, p := range h.Problems {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	return nil
}

// resetSchema drops the demo's tables of an earlier run (only if the
// database is the demo's: it has the marker table) and migrates the schema
// anew.
func resetSchema(ctx context.Context, db *sql.DB, w io.Writer) error {
	var marked bool
	var tables int
	err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'qlsqlite_demo'),
		(SELECT count(*) FROM pg_tables WHERE schemaname = current_schema())`).Scan(&marked, &tables)
	if err != nil {
		return err
	}
	m, err := migrate.New(db, migrations)
	if err != nil {
		return err
	}
	switch {
	case marked:
		if err := m.Down(ctx, 1); err != nil {
			return fmt.Errorf("demo: dropping the tables of the last run: %w", err)
		}
	case tables > 0:
		return fmt.Errorf("demo: the database holds %d tables and is not the demo's: give --db a database of its own (CREATE DATABASE qlpg_demo)", tables)
	}
	if err := m.Up(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "schema: migrated (package migrate, under its advisory lock)")
	return nil
}

// load fills the tables on the server with generate_series: symbols with
// a skewed popularity, timestamps over the last 30 days, most orders
// closed.
func load(ctx context.Context, db *sql.DB, f demoFlags) error {
	u, n := f.users, f.trades
	for _, s := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users SELECT 'user-' || lpad(g::text, 5, '0'), 'Trader ' || g, now() - g * interval '1 minute' FROM generate_series(0, $1::int - 1) g`, []any{u}},
		{`INSERT INTO trades (user_id, symbol, quantity, price, side, "timestamp", strategy_id, execution_time_ms)
			SELECT 'user-' || lpad((g % $1::int)::text, 5, '0'), 'SYM' || lpad(floor(100 * random() ^ 3)::int::text, 3, '0'),
				1 + floor(random() * 500), 10 + random() * 990, CASE WHEN random() < 0.5 THEN 'buy' ELSE 'sell' END,
				now() - (($2::int - g) * interval '30 days') / $2::int, 'strat-' || (g % 20), floor(random() * 50)
			FROM generate_series(1, $2::int) g`, []any{u, n}},
		{`INSERT INTO orders (user_id, symbol, side, quantity, limit_price, status, created_at)
			SELECT 'user-' || lpad((g % $1::int)::text, 5, '0'), 'SYM' || lpad(floor(100 * random() ^ 3)::int::text, 3, '0'), 'buy',
				1 + floor(random() * 500), 10 + random() * 990,
				CASE WHEN g > $2::int / 10 * 9 AND random() < 0.3 THEN 'open' WHEN random() < 0.1 THEN 'cancelled' ELSE 'filled' END,
				now() - (($2::int / 5 - g) * interval '30 days') / ($2::int / 5 + 1)
			FROM generate_series(1, $2::int / 5) g`, []any{u, n}},
		{`INSERT INTO signals (symbol, strategy_id, confidence_score, direction, "timestamp")
			SELECT 'SYM' || lpad(floor(100 * random() ^ 3)::int::text, 3, '0'), 'strat-' || (g % 20), random(),
				CASE WHEN random() < 0.5 THEN 'long' ELSE 'short' END, now() - (($1::int / 5 - g) * interval '30 days') / ($1::int / 5 + 1)
			FROM generate_series(1, $1::int / 5) g`, []any{n}},
		{`INSERT INTO portfolio (user_id, symbol, quantity, average_cost, last_updated)
			SELECT user_id, symbol, sum(quantity), avg(price), max("timestamp") FROM trades GROUP BY user_id, symbol`, []any{}},
		{`ANALYZE`, []any{}},
	} {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute) // bigger than one statement's default deadline
		_, err := db.ExecContext(ctx, s.sql, s.args...)
		cancel()
		if err != nil {
			return fmt.Errorf("demo: loading: %w", err)
		}
	}
	return nil
}

// workloadRun is one timed run of the workload: latencies by statement.
type workloadRun struct {
	elapsed     time.Duration
	ops, failed int64
	mu          sync.Mutex
	lat         map[string][]time.Duration
}

func runWorkload(ctx context.Context, db *sql.DB, f demoFlags) *workloadRun {
	r := &workloadRun{lat: map[string][]time.Duration{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if f.ops == 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, f.duration)
		defer c()
	}
	var left atomic.Int64
	left.Store(int64(f.ops))
	start := time.Now()
	var wg sync.WaitGroup
	for w := range f.workers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 17))
			for ctx.Err() == nil && (f.ops == 0 || left.Add(-1) >= 0) {
				name, err, d := r.one(ctx, db, rnd, f)
				if ctx.Err() != nil {
					return // cut short as the run ended: not counted
				}
				r.mu.Lock()
				r.ops++
				if err != nil {
					r.failed++
				} else {
					r.lat[name] = append(r.lat[name], d)
				}
				r.mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	return r
}

// one runs one statement drawn with the platform's shares.
func (r *workloadRun) one(ctx context.Context, db *sql.DB, rnd *rand.Rand, f demoFlags) (string, error, time.Duration) {
	x := rnd.IntN(100)
	i := 0
	for x >= statements[i].share {
		x -= statements[i].share
		i++
	}
	st := statements[i]
	sym := fmt.Sprintf("SYM%03d", int(100*rnd.Float64()*rnd.Float64()*rnd.Float64()))
	user := fmt.Sprintf("user-%05d", rnd.IntN(f.users))
	since := time.Now().Add(-time.Duration(1+rnd.IntN(48)) * time.Hour)
	start := time.Now()
	var err error
	switch st.name {
	case "recent trades":
		err = drain(db.QueryContext(ctx, st.sql, sym, since))
	case "position":
		err = drain(db.QueryContext(ctx, st.sql, user, sym))
	case "open orders":
		err = drain(db.QueryContext(ctx, st.sql))
	case "signals":
		err = drain(db.QueryContext(ctx, st.sql, 0.9+rnd.Float64()/10, since))
	case "trade (RunTx)":
		qty, price := float64(1+rnd.IntN(500)), 10+rnd.Float64()*990
		err = qlsqlite.RunTx(ctx, db, nil, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, insertTrade, user, sym, qty, price, "buy", "strat-1", rnd.IntN(50)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, upsertPosition, user, sym, qty, price)
			return err
		})
	case "update order":
		_, err = db.ExecContext(ctx, st.sql, "filled", 1+rnd.IntN(max(f.trades/5, 1)))
	}
	return st.name, err, time.Since(start)
}

func drain(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

func (r *workloadRun) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  statement\tcalls\tp50\tp95\tp99")
	var all []time.Duration
	for _, st := range statements {
		l := r.lat[st.name]
		all = append(all, l...)
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", st.name, len(l), pct(l, 50), pct(l, 95), pct(l, 99))
	}
	fmt.Fprintf(tw, "  all\t%d\t%s\t%s\t%s\n", len(all), pct(all, 50), pct(all, 95), pct(all, 99))
	tw.Flush()
}

func pct(l []time.Duration, p int) string {
	if len(l) == 0 {
		return "-"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Microsecond).String()
}

// advise asks the advisor (hypopg) about the typical statements, prints
// its suggestions and applies them.
func advise(ctx context.Context, db *sql.DB, w io.Writer) error {
	var queries []string
	for _, s := range statements {
		if s.sql != "" {
			queries = append(queries, s.sql)
		}
	}
	advice, err := qlsqlite.Advise(ctx, db, queries...)
	if errors.Is(err, pg.ErrNoHypoPG) {
		fmt.Fprintf(w, "\nno index advice: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nindex advice (hypopg's hypothetical indexes, verified with EXPLAIN): %d indexes\n", len(advice))
	for _, a := range advice {
		fmt.Fprintf(w, "  %s\n", a.CreateSQL)
		for _, p := range a.Plans {
			fmt.Fprintf(w, "      %s\n        before: %s\n        after:  %s\n", oneLine(p.Query), firstLine(p.Before), firstLine(p.After))
		}
	}
	if err := qlsqlite.ApplyAdvice(ctx, db, advice...); err != nil {
		return err
	}
	fmt.Fprintln(w, "applied.")
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// firstLine is a plan's first scan, or its top node.
func firstLine(plan string) string {
	lines := strings.Split(plan, "\n")
	for _, l := range lines {
		if strings.Contains(l, "Scan") {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "->"))
		}
	}
	return strings.TrimSpace(lines[0])
}
