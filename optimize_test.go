package qlsqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

func TestOptimizeOnOpen(t *testing.T) {
	for _, tt := range []struct {
		params string
		want   bool
	}{
		{"", true},
		{"?_optimize=off", false},
	} {
		path := filepath.Join(t.TempDir(), "opt.db")
		seed, err := sql.Open("sqlite3", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = seed.Exec(`CREATE TABLE t (a, b); CREATE INDEX t_a ON t (a);
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 5000)
			INSERT INTO t SELECT i % 50, i FROM n`)
		seed.Close()
		if err != nil {
			t.Fatal(err)
		}

		db, err := sql.Open(DriverName, "file:"+path+tt.params)
		if err != nil {
			t.Fatal(err)
		}
		var stats int
		err = db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'`).Scan(&stats)
		if err == nil && stats > 0 {
			err = db.QueryRow(`SELECT count(*) FROM sqlite_stat1 WHERE tbl = 't'`).Scan(&stats)
		}
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := stats > 0; got != tt.want {
			t.Errorf("%q: statistics gathered on open: %v, want %v", tt.params, got, tt.want)
		}
	}
}

func TestOptimizeNow(t *testing.T) {
	db, err := Open("file:"+filepath.Join(t.TempDir(), "now.db"), WithoutOptimize())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (a); CREATE INDEX t_a ON t (a);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 5000) INSERT INTO t SELECT i % 7 FROM n`); err != nil {
		t.Fatal(err)
	}
	d := db.Driver().(*Driver).db
	if err := d.optimizeNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkBoundedStatistics(t, db, "t")
}

// checkBoundedStatistics checks that table has the statistics an ANALYZE
// bounded by analysis_limit leaves: sqlite_stat1 rows, and no sqlite_stat4
// samples, which would make statements with range parameters re-prepare.
func checkBoundedStatistics(t *testing.T, db *sql.DB, table string) {
	t.Helper()
	var stat1, stat4 int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_stat1 WHERE tbl = ?`, table).Scan(&stat1); err != nil || stat1 == 0 {
		t.Errorf("%d rows of sqlite_stat1 for %s (%v), want some", stat1, table, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_stat4 WHERE tbl = ?`, table).Scan(&stat4); err != nil || stat4 != 0 {
		t.Errorf("%d rows of sqlite_stat4 for %s (%v): ANALYZE ran without analysis_limit", stat4, table, err)
	}
}

// The PRAGMA optimize a connection runs as it closes is bounded by
// analysis_limit like the others: the table this connection queried gets
// sqlite_stat1 rows and no sqlite_stat4 samples.
func TestOptimizeOnCloseBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "close.db")
	db, err := Open("file:"+path, WithOptimize(0)) // no periodic run: only open and close
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx) // opened on an empty file: its optimize at open has nothing to do
	if err != nil {
		t.Fatal(err)
	}
	fillUnanalysed(t, ctx, conn)
	var stat1 int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'`).Scan(&stat1); err != nil || stat1 != 0 {
		t.Fatalf("statistics before the close: %d (%v), want none", stat1, err)
	}
	conn.Close()
	if err := db.Close(); err != nil { // closes the connection, which runs PRAGMA optimize
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	checkBoundedStatistics(t, raw, "t")
}

// TestCloseDoesNotWaitForAnotherWriter: while another connection holds the
// write lock, closing a connection with statistics to gather skips its
// PRAGMA optimize at once instead of waiting for the lock: Close is not
// held by a busy database (its busy timeout here is a minute; the optimize
// at close is bounded at 5 s besides).
func TestCloseDoesNotWaitForAnotherWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	db, err := Open("file:"+path+"?_pragma=busy_timeout(60000)", WithOptimize(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fillUnanalysed(t, ctx, db)
	other, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	writer, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	if _, err := writer.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer writer.ExecContext(ctx, `ROLLBACK`)
	start := time.Now()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v while another connection held the write lock", took)
	}
	var stat1 int
	if err := writer.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'`).Scan(&stat1); err != nil || stat1 != 0 {
		t.Errorf("statistics were written under another writer's lock: %d (%v)", stat1, err)
	}
}

// fillUnanalysed gives db an indexed table of 5,000 rows that was queried
// but never analysed: PRAGMA optimize has work to do.
func fillUnanalysed(t *testing.T, ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) {
	t.Helper()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (a); CREATE INDEX t_a ON t (a);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 5000) INSERT INTO t SELECT i % 7 FROM n`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE a = ?`, 3).Scan(&n); err != nil {
		t.Fatal(err)
	}
}
