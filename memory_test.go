package qlsqlite

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestMemoryIsOneDatabasePerDB: ":memory:" behind the pool is one
// database for the whole *sql.DB: a table created on one connection is
// there for 20 concurrent inserts, each on whatever connection the pool
// hands out (a connection is held meanwhile, so the pool must open more).
func TestMemoryIsOneDatabasePerDB(t *testing.T) {
	for _, dsn := range []string{":memory:", "file::memory:", "file::memory:?_timeout=5s&cache=shared"} {
		t.Run(dsn, func(t *testing.T) {
			db, err := sql.Open(DriverName, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxIdleConns(0) // every connection closes after use: the database must outlive them
			held, err := db.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := held.ExecContext(t.Context(), `CREATE TABLE orders (id INTEGER PRIMARY KEY, n INTEGER)`); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Go(func() {
					if _, err := db.Exec(`INSERT INTO orders (n) VALUES (?)`, i); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				failed++
				t.Error(err)
			}
			var n int
			if err := held.QueryRowContext(t.Context(), `SELECT count(*) FROM orders`).Scan(&n); err != nil || n != 20 {
				t.Errorf("%d rows (%v), want 20; %d inserts failed", n, err, failed)
			}
			if db.Stats().MaxIdleClosed == 0 {
				t.Errorf("no connection but the held one was opened: the test shows nothing")
			}
			held.Close()
		})
	}
}

// TestMemoryDatabasesAreSeparate: two *sql.DBs on ":memory:" never see
// each other's tables, and a closed one's database is gone.
func TestMemoryDatabasesAreSeparate(t *testing.T) {
	a, err := sql.Open(DriverName, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sql.Open(DriverName, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(`CREATE TABLE only_in_a (x)`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(`SELECT * FROM only_in_a`); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Errorf("b sees a's table: %v", err)
	}
	if _, err := b.Exec(`CREATE TABLE only_in_b (x)`); err != nil {
		t.Fatal(err)
	}
	name := b.Driver().(*Driver).db.memory
	if name == "" {
		t.Fatal(`":memory:" has no memdb database`)
	}
	b.Close()
	// The memdb database is deleted: opening it without creating fails.
	raw, err := sql.Open("sqlite3", fmt.Sprintf("file:/%s?vfs=memdb&mode=rw", name))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.Ping(); err == nil {
		t.Errorf("the memdb database %s outlived its *sql.DB", name)
	}
}

func TestMemoryDSN(t *testing.T) {
	for in, want := range map[string]string{
		":memory:":                               "file:/NAME?vfs=memdb",
		"file::memory:":                          "file:/NAME?vfs=memdb",
		"file::memory:#top":                      "file:/NAME?vfs=memdb",
		"file::memory:?cache=shared#top":         "file:/NAME?vfs=memdb&cache=shared",
		"file::memory:?mode=memory&cache=shared": "file:/NAME?vfs=memdb&cache=shared",
		"file::memory:?vfs=adiantum&hexkey=00":   "file::memory:?vfs=adiantum&hexkey=00",
		"file:x.db":                              "file:x.db",
		"":                                       "",
	} {
		got, name := memoryDSN(in)
		if name != "" {
			got = strings.Replace(got, name, "NAME", 1)
		}
		if got != want {
			t.Errorf("memoryDSN(%q) = %q, want %q", in, got, want)
		}
	}
}
