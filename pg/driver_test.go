package pg

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/quantumleap/qlsqlite"
)

func TestOpenRunsAndCounts(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL)`)
	for i := range 3 {
		if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES ($1, $2)`, i, "n"); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE name = $1`, "n").Scan(&n); err != nil || n != 3 {
		t.Fatalf("count = %d, %v", n, err)
	}
	snap, err := qlsqlite.Stats(db)
	if err != nil {
		t.Fatal(err)
	}
	var inserts uint64
	for _, q := range snap.Queries {
		if strings.HasPrefix(q.Fingerprint.Text, "INSERT INTO t") {
			inserts = q.Calls
		}
	}
	if inserts != 3 {
		t.Errorf("Stats counted %d inserts, want 3: %+v", inserts, snap.Queries)
	}
	if snap.Database.Storage.SizeBytes <= 0 || snap.Database.StorageError != "" {
		t.Errorf("database size %d, error %q", snap.Database.Storage.SizeBytes, snap.Database.StorageError)
	}
	if err := qlsqlite.ResetStats(db); err != nil {
		t.Fatal(err)
	}
	if snap, _ := qlsqlite.Stats(db); snap.Database.Calls != 0 {
		t.Errorf("after ResetStats, %d calls", snap.Database.Calls)
	}
}

func TestDSNParameters(t *testing.T) {
	name := newDatabase(t)
	// qlsqlite's parameters never reach the server, which would refuse
	// them as unknown settings.
	db, err := sql.Open(DriverName, srv.URL(name, "_timeout=2s", "_retry=5", "_breaker_delay=1s", "_long_transaction=2m"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dsn, want string }{
		{srv.URL(name, "_writer_gate=off"), "applies to SQLite only"},
		{srv.URL(name, "_nope=1"), `unknown DSN parameter "_nope"`},
		{srv.URL(name, "_long_transaction=soon"), "_long_transaction"},
		{"host=127.0.0.1 dbname=x _timeout=1s", "need the URL form"},
	} {
		_, err := NewConnector(tc.dsn)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.dsn, err, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `CREATE TABLE t (id int PRIMARY KEY)`, `INSERT INTO t VALUES (1)`)
	_, dup := db.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
	_, syntax := db.ExecContext(ctx, `SELEC 1`)
	_, div := db.ExecContext(ctx, `SELECT 1/0`)
	for _, tc := range []struct {
		err   error
		class qlsqlite.Class
		code  string
	}{
		{dup, qlsqlite.Integrity, "23505"},
		{syntax, qlsqlite.Query, "42601"},
		{div, qlsqlite.Query, "22012"},
	} {
		if got := qlsqlite.Classify(tc.err); got != tc.class {
			t.Errorf("%v: class %v, want %v", tc.err, got, tc.class)
		}
		if !errors.Is(tc.err, tc.class) {
			t.Errorf("%v: errors.Is(err, %v) is false", tc.err, tc.class)
		}
		var pe *pgconn.PgError
		if !errors.As(tc.err, &pe) || pe.Code != tc.code {
			t.Errorf("%v: errors.As finds no PgError with code %s", tc.err, tc.code)
		}
		if strings.Contains(tc.err.Error(), "qlsqlite") {
			t.Errorf("the error reads %q: not as pgx's own", tc.err)
		}
	}
	refused, err := sql.Open(DriverName, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&_breaker=off&_conn_timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	if err := refused.PingContext(ctx); qlsqlite.Classify(err) != qlsqlite.Connection {
		t.Errorf("connection refused: %v classified %v, want connection", err, qlsqlite.Classify(err))
	}
}
