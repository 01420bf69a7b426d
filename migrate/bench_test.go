package migrate

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/quantumleap/qlsqlite/internal/trading"
)

// benchSource is the trading schema (001, 002) followed by testdata/bench10
// (003-011): ten migrations to apply, one of them (006) the 12-step rebuild
// of the 1M-row trades table, referenced with ON DELETE CASCADE.
func benchSource(b *testing.B) fs.FS {
	src := fstest.MapFS{}
	for _, fsys := range []fs.FS{trading.Migrations, os.DirFS("testdata/bench10")} {
		err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(fsys, path)
			src[path] = &fstest.MapFile{Data: data}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return src
}

// BenchmarkMigrate10WithRebuild1M applies ten migrations (indexes, a column
// and its backfill, a cascading child table, the rebuild of the 1M-row
// trades table, a view, a trigger, ANALYZE) to a database holding 1M trades,
// with the default backup before the run and the checks after each
// migration. Setting up the data is not timed.
//
// It runs once per driver (see TestMain); to run it through qlsqlite only,
// under its default 30 s statement deadline and its writer gate, as CI does:
//
//	QLSQLITE_MIGRATE_DRIVER=qlsqlite go test -run '^$' -bench BenchmarkMigrate10 -benchtime 1x ./migrate
func BenchmarkMigrate10WithRebuild1M(b *testing.B) {
	const trades = 1_000_000
	b.Logf("driver %s", testDriver)
	src := benchSource(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dbPath := filepath.Join(b.TempDir(), "trading.db")
		db := openDB(b, dbPath)
		m, err := New(db, src)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.UpTo(ctx, 1); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(`
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
			INSERT INTO users (id, name) SELECT 'u' || i, 'user ' || i FROM n`); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(`
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO trades (user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms)
			SELECT 'u' || (1 + i % 2000), 'SYM' || (i % 500), 1 + i % 100, 10 + (i % 1000) / 10.0,
			       CASE i % 2 WHEN 0 THEN 'buy' ELSE 'sell' END,
			       datetime('2025-01-01', '+' || (i / 20) || ' seconds'), 's' || (i % 7), i % 50
			FROM n;`, trades); err != nil {
			b.Fatal(err)
		}
		var rebuild time.Duration
		m, err = New(db, src, WithNotify(func(e Event) {
			b.Logf("%-8s %-30s %v", e.Kind, e.Source, e.Duration.Round(time.Millisecond)) // shown with -v
			if e.Kind == EventApplied && e.Version == 6 {
				rebuild = e.Duration
			}
		}))
		if err != nil {
			b.Fatal(err)
		}
		plan, err := m.Plan(ctx)
		if err != nil || len(plan) != 10 {
			b.Fatalf("plan: %d migrations, %v", len(plan), err)
		}
		b.StartTimer()

		if err := m.Up(ctx); err != nil {
			b.Fatal(err)
		}

		b.StopTimer()
		if n := queryInt(b, db, "SELECT count(*) FROM trades"); n != trades {
			b.Fatalf("%d trades after the run", n)
		}
		if n := queryInt(b, db, "SELECT count(*) FROM trade_fees"); n != trades/10 {
			b.Fatalf("%d trade fees after the run: the rebuild lost children", n)
		}
		b.ReportMetric(rebuild.Seconds(), "rebuild-s")
		// What the two checks after each migration cost on the final database.
		start := time.Now()
		for _, pragma := range []string{"PRAGMA foreign_key_check", "PRAGMA quick_check"} {
			rows, err := db.Query(pragma)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			rows.Close()
		}
		b.ReportMetric(time.Since(start).Seconds(), "checks-s")
		b.ReportMetric(float64(queryInt(b, db, "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size"))/1e6, "db-MB")
		db.Close()
		b.StartTimer()
	}
}
