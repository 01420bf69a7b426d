package qlsqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
	"github.com/quantumleap/qlsqlite"
)

// openFile opens a fresh database file through sql.Open("qlsqlite").
func openFile(t testing.TB, params string) *sql.DB {
	t.Helper()
	db, err := sql.Open(qlsqlite.DriverName, "file:"+filepath.Join(t.TempDir(), "test.db")+params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// pragmas reads the settings the production defaults change.
func pragmas(t *testing.T, db *sql.DB) (journal string, sync, fk, busy int) {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []struct {
		q    string
		dest any
	}{
		{"PRAGMA journal_mode", &journal},
		{"PRAGMA synchronous", &sync},
		{"PRAGMA foreign_keys", &fk},
		{"PRAGMA busy_timeout", &busy},
	} {
		if err := c.QueryRowContext(context.Background(), p.q).Scan(p.dest); err != nil {
			t.Fatalf("%s: %v", p.q, err)
		}
	}
	return
}

func TestProductionDefaults(t *testing.T) {
	tests := []struct {
		name    string
		params  string
		journal string
		sync    int
		fk      int
		busy    int
	}{
		{"defaults", "", "wal", 2, 1, 5000},
		{"defaults off is ncruces", "?_defaults=off", "delete", 2, 1, 60000},
		{"own pragma keeps a busy timeout", "?_pragma=synchronous(normal)", "delete", 1, 1, 5000},
		{"own busy timeout wins", "?_pragma=busy_timeout(1234)", "delete", 2, 1, 1234},
		{"read-only keeps its journal", "?mode=ro", "delete", 2, 1, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "test.db")
			// Create the file in rollback-journal mode first, so that mode=ro has something to open.
			seed, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := seed.Exec(`CREATE TABLE t (n)`); err != nil {
				t.Fatal(err)
			}
			seed.Close()

			db, err := sql.Open(qlsqlite.DriverName, "file:"+path+tt.params)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			journal, sync, fk, busy := pragmas(t, db)
			if journal != tt.journal || sync != tt.sync || fk != tt.fk || busy != tt.busy {
				t.Errorf("journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d, want %s %d %d %d",
					journal, sync, fk, busy, tt.journal, tt.sync, tt.fk, tt.busy)
			}
		})
	}
}

// deadlineSeen registers deadline_ms(), which returns how long the running
// statement has before its deadline, or -1 when it has none.
func deadlineSeen(t *testing.T, c *sql.Conn) {
	t.Helper()
	err := c.Raw(func(dc any) error {
		raw := dc.(ncruces.Conn).Raw()
		return raw.CreateFunction("deadline_ms", 0, 0, func(ctx sqlite3.Context, _ ...sqlite3.Value) {
			d, ok := raw.GetInterrupt().Deadline()
			if !ok {
				ctx.ResultInt64(-1)
				return
			}
			ctx.ResultInt64(time.Until(d).Milliseconds())
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDefaultDeadline(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		params   string
		ctx      func() (context.Context, context.CancelFunc)
		min, max int64 // milliseconds left, as the statement saw it
	}{
		{"default 30s", "", nil, 29_000, 30_000},
		{"_timeout=5s", "?_timeout=5s", nil, 4_000, 5_000},
		{"_timeout=0 disables", "?_timeout=0", nil, -1, -1},
		{"caller's deadline wins", "?_timeout=5s", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Hour)
		}, 3_500_000, 3_600_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openFile(t, tt.params)
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			deadlineSeen(t, c)
			qctx := ctx
			if tt.ctx != nil {
				var cancel context.CancelFunc
				qctx, cancel = tt.ctx()
				defer cancel()
			}
			for _, q := range []struct {
				name string
				run  func() (int64, error)
			}{
				{"query", func() (ms int64, err error) {
					err = c.QueryRowContext(qctx, `SELECT deadline_ms()`).Scan(&ms)
					return
				}},
				{"query with args", func() (ms int64, err error) {
					err = c.QueryRowContext(qctx, `SELECT deadline_ms() + ?`, 0).Scan(&ms)
					return
				}},
				{"prepared", func() (ms int64, err error) {
					s, err := c.PrepareContext(qctx, `SELECT deadline_ms()`)
					if err != nil {
						return 0, err
					}
					defer s.Close()
					err = s.QueryRowContext(qctx).Scan(&ms)
					return
				}},
			} {
				ms, err := q.run()
				if err != nil {
					t.Fatalf("%s: %v", q.name, err)
				}
				if ms < tt.min || ms > tt.max {
					t.Errorf("%s: statement saw %d ms left, want %d..%d", q.name, ms, tt.min, tt.max)
				}
			}
		})
	}
}

const endless = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c`

func TestDeadlineErrors(t *testing.T) {
	db := openFile(t, "?_timeout=20ms")
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sqlite3.INTERRUPT) {
			t.Errorf("%s: %v; want it to match context.DeadlineExceeded and sqlite3.INTERRUPT", what, err)
		}
		var te interface{ Unwrap() []error }
		if !errors.As(err, &te) {
			t.Errorf("%s: %T does not unwrap to both causes", what, err)
		}
	}
	_, err := db.Exec(`SELECT count(*) FROM (` + endless + `)`)
	check("exec", err)
	_, err = db.Exec(`SELECT count(*) FROM (`+endless+`) WHERE x > ?`, 0)
	check("exec with args", err)
	var n int64
	check("query row", db.QueryRow(`SELECT count(*) FROM (`+endless+`)`).Scan(&n))

	// The deadline covers row iteration until Rows.Close.
	rows, err := db.Query(endless)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	check("iteration", rows.Err())
	rows.Close()

	stmt, err := db.Prepare(`SELECT count(*) FROM (` + endless + `)`)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	check("prepared", stmt.QueryRow().Scan(&n))

	// The connection is fine afterwards.
	if err := db.QueryRow(`SELECT 1`).Scan(&n); err != nil || n != 1 {
		t.Errorf("after the deadlines: %d, %v", n, err)
	}
}

func TestCallerCancellationIsSurfaced(t *testing.T) {
	db := openFile(t, "?_timeout=0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rows, err := db.QueryContext(ctx, endless)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; rows.Next(); i++ {
		if i == 100 {
			cancel()
		}
	}
	// database/sql may close the rows with ctx.Err() itself before SQLite
	// reports the interruption; either way the error matches the cause.
	if err := rows.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("rows.Err() = %v, want it to match context.Canceled", err)
	}
	rows.Close()
}

func TestRawAndOpen(t *testing.T) {
	db, err := qlsqlite.Open("file:"+filepath.Join(t.TempDir(), "open.db"), qlsqlite.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Raw(func(dc any) error {
		conn, ok := dc.(ncruces.Conn)
		if !ok {
			t.Fatalf("%T does not implement ncruces's driver.Conn", dc)
		}
		if conn.Raw() == nil {
			t.Fatal("Raw() is nil")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := db.Driver().(*qlsqlite.Driver); !ok {
		t.Errorf("db.Driver() is %T", db.Driver())
	}
}

func TestBadDSNFromSQLOpen(t *testing.T) {
	db, err := sql.Open(qlsqlite.DriverName, "file:x.db?_bogus=1")
	if err == nil {
		db.Close()
		t.Fatal("sql.Open accepted an unknown parameter")
	}
	if want := `unknown DSN parameter "_bogus"`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %s", err, want)
	}
}
