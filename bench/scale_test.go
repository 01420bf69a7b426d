package bench

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
	"github.com/quantumleap/qlsqlite/lifecycle"
	"github.com/quantumleap/qlsqlite/migrate"
)

// Scaling with data:
//
//	go test ./bench -run TestScaling -scale=100000,1000000,10000000 -scaleout=$PWD/bench/results/scaling.md -timeout 3h -v
//
// Without -scale the test runs one small size (a check that it works). The
// file named by -scaleout is relative to bench/, where go test runs it.
var (
	scaleSizes = flag.String("scale", "", "comma-separated trade counts TestScaling measures; empty: one small size")
	scaleOut   = flag.String("scaleout", "", "a file TestScaling writes its table to")
)

// scaleRow is one size's measurements.
type scaleRow struct {
	trades                  int
	size                    int64
	load, migration         time.Duration
	point, rng, insert      [2]time.Duration // p50, p95
	backup, archive         time.Duration
	archived                int64
	backupSize, archiveSize int64
}

// TestScaling measures, at each size, on qlsqlite with its production
// defaults (WAL, synchronous=FULL): loading the data; migration 002 (the
// platform's index plan) over it; the p50 and p95 of a point SELECT, a
// range query and an autocommit INSERT; an online backup; and archiving the
// oldest tenth of the trades.
func TestScaling(t *testing.T) {
	sizes := []int{3000}
	if *scaleSizes != "" {
		sizes = nil
		for s := range strings.SplitSeq(*scaleSizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				t.Fatalf("-scale=%q: want trade counts like 100000,1000000", *scaleSizes)
			}
			sizes = append(sizes, n)
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "| trades | database | load | migration 002 (indexes) | point SELECT p50 / p95 | range (50 rows) p50 / p95 | autocommit INSERT p50 / p95 | backup | archive oldest 10%% |\n")
	fmt.Fprintf(&out, "|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		r := scaleOne(t, n)
		fmt.Fprintf(&out, "| %d | %.0f MB | %v | %v | %v / %v | %v / %v | %v / %v | %v (%.0f MB) | %v (%d rows, %.0f MB) |\n",
			r.trades, mb(r.size), r.load.Round(time.Millisecond), r.migration.Round(time.Millisecond),
			round(r.point[0]), round(r.point[1]), round(r.rng[0]), round(r.rng[1]), round(r.insert[0]), round(r.insert[1]),
			r.backup.Round(time.Millisecond), mb(r.backupSize), r.archive.Round(time.Millisecond), r.archived, mb(r.archiveSize))
		t.Logf("%d trades measured", n)
		if *scaleOut != "" {
			if err := os.WriteFile(*scaleOut, []byte(out.String()), 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	t.Log("\n" + out.String())
}

func scaleOne(t *testing.T, n int) scaleRow {
	// Loading and indexing 10M trades run single statements (the
	// portfolio built from every trade, CREATE INDEX) longer than
	// qlsqlite's 30 s default deadline: the context gives them an hour.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	dir := t.TempDir()
	path := filepath.Join(dir, "trading.db")
	db, err := qlsqlite.Open("file:" + path + "?_min_open=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := trading.Data{Users: 2000, Symbols: 500, Trades: n, Seed: 7, Now: trading.Epoch()}
	r := scaleRow{trades: n}

	m, err := migrate.New(db, trading.Migrations, migrate.WithoutBackup())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := trading.Fill(ctx, db, d, nil); err != nil {
		t.Fatal(err)
	}
	r.load = time.Since(start)
	start = time.Now()
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	r.migration = time.Since(start)
	if _, err := db.ExecContext(ctx, `PRAGMA analysis_limit=400; ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	r.size = fi.Size()

	r.point, r.rng, r.insert = scaleLatencies(t, db, d)

	start = time.Now()
	if err := lifecycle.Backup(ctx, db, filepath.Join(dir, "backup.db")); err != nil {
		t.Fatal(err)
	}
	r.backup = time.Since(start)
	r.backupSize = fileSize(t, filepath.Join(dir, "backup.db"))
	os.Remove(filepath.Join(dir, "backup.db"))

	cutoff := d.Now.Add(-27 * 24 * time.Hour).Format(trading.TimeLayout) // the oldest 3 of 30 days
	var before int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM trades WHERE timestamp < ?`, cutoff).Scan(&before); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	rep, err := lifecycle.Archive(ctx, db, lifecycle.ArchivePolicy{Table: "trades", Where: "timestamp < ?", Args: []any{cutoff}, DestPath: filepath.Join(dir, "archive.db")})
	if err != nil {
		t.Fatal(err)
	}
	r.archive = time.Since(start)
	r.archived = rep.Moved
	r.archiveSize = fileSize(t, filepath.Join(dir, "archive.db"))
	if rep.Moved != before || before == 0 {
		t.Errorf("%d trades: archived %d rows, %d matched", n, rep.Moved, before)
	}
	return r
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// scaleLatencies returns the p50 and p95 of a point SELECT (a position),
// the range query (a popular symbol's latest 50 trades of the last day) and
// an autocommit INSERT.
func scaleLatencies(t *testing.T, db *sql.DB, d trading.Data) (point, rng, insert [2]time.Duration) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	var ps [][2]string
	rows, err := db.QueryContext(ctx, `SELECT user_id, symbol FROM portfolio ORDER BY id LIMIT 2000`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	rows.Close()
	if len(ps) == 0 {
		t.Fatal("no positions")
	}
	measure := func(n int, fn func(i int) error) [2]time.Duration {
		ds := make([]time.Duration, 0, n)
		for i := range n {
			start := time.Now()
			if err := fn(i); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		return [2]time.Duration{percentile(ds, .50), percentile(ds, .95)}
	}
	var qty, cost float64
	point = measure(2000, func(i int) error {
		p := ps[r.IntN(len(ps))]
		return db.QueryRowContext(ctx, trading.SQL[trading.Position], p[0], p[1]).Scan(&qty, &cost)
	})
	since := d.Now.Add(-24 * time.Hour).Format(trading.TimeLayout)
	var cols [9]any
	ptrs := make([]any, len(cols))
	for i := range cols {
		ptrs[i] = &cols[i]
	}
	rng = measure(500, func(i int) error {
		rows, err := db.QueryContext(ctx, trading.SQL[trading.RecentTrades], trading.Symbol(i%10), since)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return err
			}
		}
		return rows.Close()
	})
	insert = measure(500, func(i int) error {
		_, err := db.ExecContext(ctx, trading.SQL[trading.InsertTrade], trading.UserID(r.IntN(d.Users)), trading.Symbol(r.IntN(d.Symbols)),
			float64(1+r.IntN(100)), 100*r.Float64(), "buy", "strat-1", r.IntN(50))
		return err
	})
	return point, rng, insert
}
