package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
)

func TestBreakerWithFailingDisk(t *testing.T) {
	for _, fault := range []struct {
		name        string
		inject      func(f *faultVFS, err error)
		err         error
		code        error
		description string
	}{
		{"write EIO", (*faultVFS).failWrites, errEIO, sqlite3.IOERR, "disk I/O error"},
		{"disk full", (*faultVFS).failWrites, errFull, sqlite3.FULL, "full"},
		{"sync EIO", (*faultVFS).failSyncs, errSync, sqlite3.IOERR, "disk I/O error"},
	} {
		t.Run(fault.name, func(t *testing.T) {
			fv, vfsName := registerFaultVFS(t)
			clock := newTestClock()
			path := filepath.Join(t.TempDir(), "fault.db")
			db, err := Open("file:"+path+"?vfs="+vfsName, WithClock(clock))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			ctx := context.Background()
			if _, err := db.Exec(`CREATE TABLE acked (n INTEGER PRIMARY KEY)`); err != nil {
				t.Fatal(err)
			}
			insert := func(n int) error {
				_, err := db.ExecContext(ctx, `INSERT INTO acked VALUES (?)`, n)
				return err
			}
			for n := range 10 {
				if err := insert(n); err != nil {
					t.Fatal(err)
				}
			}
			state := func() BreakerState { return db.Driver().(*Driver).db.breaker.status().State }

			// The disk fails: each commit returns a clear error, and after 5
			// consecutive failures the breaker opens.
			fault.inject(fv, fault.err)
			for n := 100; n < 105; n++ {
				err := insert(n)
				if !errors.Is(err, fault.code) || !strings.Contains(err.Error(), fault.description) {
					t.Fatalf("insert on a failing disk: %v, want %v", err, fault.code)
				}
				if Classify(err) != Connection {
					t.Errorf("class %v", Classify(err))
				}
			}
			if s := state(); s != BreakerOpen {
				t.Fatalf("after 5 failures the breaker is %s", s)
			}
			writes := fv.writes.Load()
			err = insert(200)
			if !errors.Is(err, ErrCircuitOpen) || !errors.Is(err, fault.code) {
				t.Errorf("while open: %v; want ErrCircuitOpen wrapping the cause", err)
			}
			if fv.writes.Load() != writes {
				t.Error("a call went to the disk while the breaker was open")
			}

			// 30 s later a trial goes through; the disk still fails, so it
			// opens again.
			clock.advance(DefaultBreakerDelay)
			if err := insert(201); !errors.Is(err, fault.code) || errors.Is(err, ErrCircuitOpen) {
				t.Errorf("trial call: %v", err)
			}
			if s := state(); s != BreakerOpen {
				t.Errorf("after a failed trial the breaker is %s", s)
			}

			// The fault clears: after the delay, 3 successful trials close it.
			fault.inject(fv, nil)
			clock.advance(DefaultBreakerDelay - time.Second)
			if err := insert(202); !errors.Is(err, ErrCircuitOpen) {
				t.Errorf("before the delay is over: %v", err)
			}
			clock.advance(time.Second)
			for n := 300; n < 303; n++ {
				if err := insert(n); err != nil {
					t.Fatalf("trial %d: %v", n, err)
				}
			}
			if s := state(); s != BreakerClosed {
				t.Errorf("after 3 successes the breaker is %s", s)
			}
			db.Close()

			// Reopened without faults: the database is intact, every
			// acknowledged row is there and no failed one is.
			check, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer check.Close()
			var result string
			if err := check.QueryRow(`PRAGMA integrity_check`).Scan(&result); err != nil || result != "ok" {
				t.Fatalf("integrity_check: %q %v", result, err)
			}
			var got []int
			rows, err := check.Query(`SELECT n FROM acked ORDER BY n`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var n int
				rows.Scan(&n)
				got = append(got, n)
			}
			want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 300, 301, 302}
			if len(got) != len(want) {
				t.Fatalf("rows %v, want %v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("rows %v, want %v", got, want)
				}
			}
		})
	}
}

func TestBreakerIgnoresQueryErrors(t *testing.T) {
	db, err := Open("file:"+filepath.Join(t.TempDir(), "q.db"), WithBreaker(BreakerConfig{Failures: 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Exec(`CREATE TABLE t (n UNIQUE)`)
	db.Exec(`INSERT INTO t VALUES (1)`)
	for range 10 {
		db.Exec(`INSERT INTO t VALUES (?)`, 1) // constraint
		db.Exec(`SELEC 1`)                     // syntax
		db.Query(`SELECT * FROM missing WHERE n = ?`, 1)
	}
	if s := db.Driver().(*Driver).db.breaker.status().State; s != BreakerClosed {
		t.Errorf("query errors opened the breaker: %s", s)
	}
}

func TestBreakerOff(t *testing.T) {
	for _, dsn := range []string{"?_breaker=off"} {
		db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "off.db")+dsn)
		if err != nil {
			t.Fatal(err)
		}
		if s := db.Driver().(*Driver).db.breaker.status().State; s != BreakerOff {
			t.Errorf("%s: breaker %s", dsn, s)
		}
		db.Close()
	}
	if _, err := sql.Open(DriverName, "file:x.db?_breaker=off&_breaker_failures=3"); err == nil || !strings.Contains(err.Error(), "_breaker_failures") {
		t.Errorf("a breaker setting with the breaker off: %v", err)
	}
}
