package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

func TestPoolWarmUp(t *testing.T) {
	db, err := Open("file:" + filepath.Join(t.TempDir(), "warm.db") + "?_min_open=5&_max_open=7&_max_idle=6")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := db.Stats()
	if s.OpenConnections != 5 || s.Idle != 5 || s.MaxOpenConnections != 7 {
		t.Errorf("before the first query: %d open, %d idle, max %d; want 5, 5, 7", s.OpenConnections, s.Idle, s.MaxOpenConnections)
	}
}

func TestConfigurePoolForSQLOpen(t *testing.T) {
	db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "cfg.db")+"?_min_open=3&_max_open=9")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := db.Stats().OpenConnections; n != 0 {
		t.Fatalf("sql.Open connected: %d open", n)
	}
	if err := ConfigurePool(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if s := db.Stats(); s.OpenConnections != 3 || s.MaxOpenConnections != 9 {
		t.Errorf("after ConfigurePool: %d open, max %d", s.OpenConnections, s.MaxOpenConnections)
	}
	raw, _ := sql.Open("sqlite3", ":memory:")
	defer raw.Close()
	if err := ConfigurePool(context.Background(), raw); err == nil {
		t.Error("ConfigurePool accepted a raw sqlite3 *sql.DB")
	}
}

func TestPoolOpenFailsClearly(t *testing.T) {
	_, err := Open("file:" + filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"))
	if err == nil || !strings.Contains(err.Error(), "warm connections") || !errors.Is(err, sqlite3.CANTOPEN) {
		t.Errorf("Open in a missing directory: %v", err)
	}
}

// TestPool150Goroutines runs the mixed trading workload from 150 goroutines
// on a pool of 100 connections.
func TestPool150Goroutines(t *testing.T) {
	db, err := Open("file:"+filepath.Join(t.TempDir(), "pool.db"), WithPool(PoolConfig{MaxOpen: 100, MinOpen: 5}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	data := trading.Data{Users: 200, Trades: 3000, Seed: 3, Now: trading.Epoch()}
	if err := trading.Load(ctx, db, data, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 150)
	for g := range 150 {
		wg.Go(func() {
			w := trading.NewWorker(data, uint64(g))
			for range 20 {
				k := w.Pick()
				if err := w.Run(ctx, db, k); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := db.Stats()
	if s.InUse != 0 || s.Idle != s.OpenConnections || s.OpenConnections > 100 || s.OpenConnections < 5 || s.MaxOpenConnections != 100 {
		t.Errorf("pool after the run: %+v", s)
	}
}

// rawOf returns the SQLite connection behind c, to tell connections apart.
func rawOf(t *testing.T, c *sql.Conn) (raw *sqlite3.Conn) {
	t.Helper()
	if err := c.Raw(func(dc any) error { raw = dc.(ncruces.Conn).Raw(); return nil }); err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestPoisonedConnectionsAreNotReused(t *testing.T) {
	ctx := context.Background()
	poisons := []struct {
		name   string
		poison func(t *testing.T, db *sql.DB, c *sql.Conn)
	}{
		{"left inside a transaction", func(t *testing.T, _ *sql.DB, c *sql.Conn) {
			mustExec(t, c, `BEGIN; INSERT INTO t VALUES (1)`)
		}},
		{"query_only left on", func(t *testing.T, _ *sql.DB, c *sql.Conn) { mustExec(t, c, `PRAGMA query_only = ON`) }},
		{"foreign keys left off", func(t *testing.T, _ *sql.DB, c *sql.Conn) { mustExec(t, c, `PRAGMA foreign_keys = OFF`) }},
		{"temp schema left behind", func(t *testing.T, _ *sql.DB, c *sql.Conn) { mustExec(t, c, `CREATE TEMP TABLE scratch (x)`) }},
		{"attached database left behind", func(t *testing.T, _ *sql.DB, c *sql.Conn) {
			mustExec(t, c, `ATTACH ? AS other`, filepath.Join(t.TempDir(), "other.db"))
		}},
		{"foreign keys turned off through Raw", func(t *testing.T, _ *sql.DB, c *sql.Conn) {
			c.Raw(func(dc any) error { return dc.(ncruces.Conn).Raw().Exec(`PRAGMA foreign_keys = OFF`) })
		}},
		{"interrupted mid-transaction", func(t *testing.T, _ *sql.DB, c *sql.Conn) {
			tx, err := c.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			qctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			_, err = tx.ExecContext(qctx, `INSERT INTO t SELECT count(*) FROM (`+endlessQuery+`)`)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the statement was not interrupted: %v", err)
			}
			tx.Rollback()
		}},
	}
	for _, p := range poisons {
		t.Run(p.name, func(t *testing.T) {
			db, err := Open("file:"+filepath.Join(t.TempDir(), "poison.db"), WithPool(PoolConfig{MaxOpen: 1, MinOpen: 1}))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mustExec(t, c, `CREATE TABLE IF NOT EXISTS t (n)`)
			before := rawOf(t, c)
			p.poison(t, db, c)
			c.Close()

			next, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			if rawOf(t, next) == before {
				t.Error("the poisoned connection was handed out again")
			}
			var queryOnly, fk, temps, attached int
			err = next.QueryRowContext(ctx, `SELECT (SELECT query_only FROM pragma_query_only), (SELECT foreign_keys FROM pragma_foreign_keys),
				(SELECT count(*) FROM temp.sqlite_schema), (SELECT count(*) FROM pragma_database_list WHERE name NOT IN ('main', 'temp'))`).
				Scan(&queryOnly, &fk, &temps, &attached)
			if err != nil || queryOnly != 0 || fk != 1 || temps != 0 || attached != 0 {
				t.Errorf("the next user's session: query_only=%d foreign_keys=%d temp=%d attached=%d (%v)", queryOnly, fk, temps, attached, err)
			}
			if _, err := next.ExecContext(ctx, `INSERT INTO t VALUES (?)`, 2); err != nil {
				t.Errorf("the next user cannot write: %v", err)
			}
		})
	}
}

func TestCleanConnectionsAreReused(t *testing.T) {
	db, err := Open("file:"+filepath.Join(t.TempDir(), "reuse.db"), WithPool(PoolConfig{MaxOpen: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	c, _ := db.Conn(ctx)
	mustExec(t, c, `CREATE TABLE t (n); PRAGMA foreign_keys = OFF; PRAGMA foreign_keys = ON`) // changed and put back
	before := rawOf(t, c)
	c.Close()
	c, _ = db.Conn(ctx)
	defer c.Close()
	if rawOf(t, c) != before {
		t.Error("a clean connection was replaced")
	}
}

func TestPoolFatalErrorReplacesConnection(t *testing.T) {
	fv, vfsName := registerFaultVFS(t)
	db, err := Open("file:"+filepath.Join(t.TempDir(), "fatal.db")+"?vfs="+vfsName, WithPool(PoolConfig{MaxOpen: 1}), WithoutBreaker())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	c, _ := db.Conn(ctx)
	mustExec(t, c, `CREATE TABLE t (n)`)
	before := rawOf(t, c)
	fv.failWrites(errEIO)
	if _, err := c.ExecContext(ctx, `INSERT INTO t VALUES (1)`); !errors.Is(err, sqlite3.IOERR) {
		t.Fatalf("insert on a failing disk: %v", err)
	}
	fv.failWrites(nil)
	c.Close()
	c, _ = db.Conn(ctx)
	defer c.Close()
	if rawOf(t, c) == before {
		t.Error("a connection was reused after an I/O error")
	}
}

func TestPoolExhaustion(t *testing.T) {
	db, err := Open("file:"+filepath.Join(t.TempDir(), "full.db"), WithPool(PoolConfig{MaxOpen: 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	a, _ := db.Conn(ctx)
	b, _ := db.Conn(ctx)
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = db.ExecContext(wctx, `SELECT 1`)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("with every connection held: %v", err)
	}
	if s := db.Stats(); s.WaitCount == 0 || s.InUse != 2 {
		t.Errorf("pool while full: %+v", s)
	}
	a.Close()
	b.Close()
	if _, err := db.ExecContext(ctx, `SELECT 1`); err != nil {
		t.Errorf("after the connections came back: %v", err)
	}
}

const endlessQuery = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c`

func mustExec(t *testing.T, c *sql.Conn, query string, args ...any) {
	t.Helper()
	if _, err := c.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// Closing a database cancels its background work (the pool keeper, the
// statistics upkeep) and waits for it: when Close returns, none of it runs.
func TestCloseWaitsForBackgroundWork(t *testing.T) {
	c, err := NewConnector("file:" + filepath.Join(t.TempDir(), "bg.db"))
	if err != nil {
		t.Fatal(err)
	}
	d := c.(*Connector).db
	started := make(chan struct{})
	var returned atomic.Bool
	d.every(time.Millisecond, func(ctx context.Context) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done() // work that lasts until the database closes
		returned.Store(true)
	})
	<-started
	db := sql.OpenDB(c)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !returned.Load() {
		t.Error("Close returned while background work still ran")
	}
}
