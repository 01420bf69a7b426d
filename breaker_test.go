package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
		// A commit whose fsync failed had its WAL frames written: whether
		// they are there after a reopen is unknown (SQLite's recovery reads
		// every valid frame), so such a failed row may or may not be.
		failedUnknown bool
	}{
		{"write EIO", (*faultVFS).failWrites, errEIO, sqlite3.IOERR, "disk I/O error", false},
		{"disk full", (*faultVFS).failWrites, errFull, sqlite3.FULL, "full", false},
		{"sync EIO", (*faultVFS).failSyncs, errSync, sqlite3.IOERR, "disk I/O error", true},
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
			got := map[int]bool{}
			rows, err := check.Query(`SELECT n FROM acked ORDER BY n`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var n int
				rows.Scan(&n)
				got[n] = true
			}
			rows.Close()
			acked := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 300, 301, 302}
			for _, n := range acked {
				if !got[n] {
					t.Errorf("acknowledged row %d is missing", n)
				}
				delete(got, n)
			}
			for n := range got {
				failed := n >= 100 && n <= 104 || n == 201 // the inserts that reached the failing disk
				if !failed || !fault.failedUnknown {
					t.Errorf("row %d is there, and its insert failed", n)
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

// breakerRig is a database on a fault VFS with a test clock, for the exact
// breaker tests.
type breakerRig struct {
	t     *testing.T
	fv    *faultVFS
	clock *testClock
	db    *sql.DB
	ctx   context.Context
}

func newBreakerRig(t *testing.T) *breakerRig {
	fv, vfsName := registerFaultVFS(t)
	clock := newTestClock()
	db, err := Open("file:"+filepath.Join(t.TempDir(), "b.db")+"?vfs="+vfsName, WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &breakerRig{t: t, fv: fv, clock: clock, db: db, ctx: context.Background()}
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *breakerRig) state() BreakerState { return r.db.Driver().(*Driver).db.breaker.status().State }

func (r *breakerRig) want(s BreakerState, after string) {
	r.t.Helper()
	if got := r.state(); got != s {
		r.t.Fatalf("after %s the breaker is %s, want %s", after, got, s)
	}
}

// fail makes one write fail on the disk.
func (r *breakerRig) fail() {
	r.t.Helper()
	r.fv.failWrites(errEIO)
	defer r.fv.failWrites(nil)
	if _, err := r.db.ExecContext(r.ctx, `INSERT INTO t VALUES (NULL)`); !errors.Is(err, sqlite3.IOERR) {
		r.t.Fatalf("a write on a failing disk: %v", err)
	}
}

// read runs a query that succeeds.
func (r *breakerRig) read() error {
	var n int
	return r.db.QueryRowContext(r.ctx, `SELECT count(*) FROM t WHERE n > ?`, 0).Scan(&n)
}

// openIt fails five writes, which opens the breaker.
func (r *breakerRig) openIt() {
	r.t.Helper()
	for range DefaultBreakerFailures {
		r.fail()
	}
	r.want(BreakerOpen, "5 failures")
}

// The breaker opens at exactly the 5th consecutive failure, half-opens at
// exactly +30 s, closes after exactly 3 successful trials, and reopens on a
// failed trial.
func TestBreakerExactThresholds(t *testing.T) {
	r := newBreakerRig(t)
	// A connection held out of the pool: its calls meet the breaker's own
	// delay, not the refusal to open new connections while it is open.
	pinned, err := r.db.Conn(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	// The documented defaults, literally: the rest of the test counts
	// from the constants.
	if DefaultBreakerFailures != 5 || DefaultBreakerDelay != 30*time.Second || DefaultBreakerSuccesses != 3 {
		t.Fatalf("defaults %d failures, %v, %d successes; the README says 5, 30s, 3",
			DefaultBreakerFailures, DefaultBreakerDelay, DefaultBreakerSuccesses)
	}
	for i := range DefaultBreakerFailures - 1 {
		r.fail()
		r.want(BreakerClosed, fmt.Sprintf("%d failures", i+1))
	}
	// A success breaks the run: four more failures do not open it.
	if err := r.read(); err != nil {
		t.Fatal(err)
	}
	for range DefaultBreakerFailures - 1 {
		r.fail()
	}
	r.want(BreakerClosed, "a success and 4 failures")
	r.fail()
	r.want(BreakerOpen, "5 consecutive failures")

	r.clock.advance(DefaultBreakerDelay - time.Nanosecond)
	if err := r.read(); !errors.Is(err, ErrCircuitOpen) || !strings.Contains(err.Error(), "another 0s") && !strings.Contains(err.Error(), "another 1ns") {
		t.Errorf("1ns before the delay is over: %v", err)
	}
	var n int
	if err := pinned.QueryRowContext(r.ctx, `SELECT count(*) FROM t WHERE n > ?`, 0).Scan(&n); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("1ns before the delay is over, on an open connection: %v", err)
	}
	r.clock.advance(time.Nanosecond)
	for i := range DefaultBreakerSuccesses - 1 {
		if err := r.read(); err != nil {
			t.Fatalf("trial %d: %v", i+1, err)
		}
		r.want(BreakerHalfOpen, fmt.Sprintf("%d successful trials", i+1))
	}
	if err := r.read(); err != nil {
		t.Fatal(err)
	}
	r.want(BreakerClosed, "3 successful trials")

	// Open it again; a failed trial reopens it for another full delay.
	r.openIt()
	r.clock.advance(DefaultBreakerDelay)
	if err := r.read(); err != nil {
		t.Fatal(err)
	}
	r.want(BreakerHalfOpen, "1 successful trial")
	r.fail()
	r.want(BreakerOpen, "a failed trial")
	r.clock.advance(DefaultBreakerDelay - time.Second)
	if err := r.read(); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("within the new delay: %v", err)
	}
}

// Every kind of call admitted as a trial gives its trial back: successful
// queries, prepared statements, transactions and deadline errors. The
// breaker never stays half-open with its trials used up.
func TestBreakerTrialsAlwaysReport(t *testing.T) {
	r := newBreakerRig(t)
	stmt, err := r.db.Prepare(`SELECT n FROM t WHERE n = ?`)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	ins, err := r.db.Prepare(`INSERT INTO t VALUES (?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	calls := map[string]func() error{
		"query": r.read,
		"row":   func() error { var n int; return r.db.QueryRow(`SELECT n FROM t LIMIT 1`).Scan(&n) },
		"stmt query": func() error {
			rows, err := stmt.Query(1)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
			}
			return rows.Err()
		},
		"stmt exec": func() error { _, err := ins.Exec(nil); return err },
		"prepare": func() error {
			s, err := r.db.Prepare(`SELECT n FROM t WHERE n > ?`)
			if err != nil {
				return err
			}
			return s.Close()
		},
		// An error of the statement itself is an answer of the storage:
		// a successful trial, given back although the query never opened.
		"query error": func() error {
			rows, err := r.db.Query(`SELECT no_such_column FROM t`)
			if err == nil {
				rows.Close()
				return errors.New("a query of an unknown column succeeded")
			}
			if errors.Is(err, ErrCircuitOpen) || !strings.Contains(err.Error(), "no_such_column") {
				return err
			}
			return nil
		},
		"exec": func() error { _, err := r.db.Exec(`UPDATE t SET n = n WHERE n = ?`, 1); return err },
		"tx": func() error {
			tx, err := r.db.Begin()
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO t VALUES (NULL)`); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
		},
	}
	for name, call := range calls {
		r.openIt()
		r.clock.advance(DefaultBreakerDelay)
		for i := range 3 * DefaultBreakerSuccesses {
			if err := call(); err != nil {
				t.Fatalf("%s, call %d after the delay: %v", name, i+1, err)
			}
		}
		r.want(BreakerClosed, "successful "+name+" trials")
	}

	// A trial that runs out of time did not show the storage is back: it
	// reopens the breaker, which half-opens again after the delay. It runs
	// on a connection held out of the pool, so that its deadline is spent
	// in the statement, not in opening a connection on a busy machine
	// (a call whose deadline passes before it takes a trial is no trial).
	pinned, err := r.db.Conn(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	r.openIt()
	r.clock.advance(DefaultBreakerDelay)
	ctx, cancel := context.WithTimeout(r.ctx, 200*time.Millisecond)
	defer cancel()
	var n int
	err = pinned.QueryRowContext(ctx, `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s) SELECT count(*) FROM s`).Scan(&n)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an endless trial with a deadline: %v", err)
	}
	r.want(BreakerOpen, "a trial that ran out of time")
	r.clock.advance(DefaultBreakerDelay)
	for range DefaultBreakerSuccesses {
		if err := r.read(); err != nil {
			t.Fatal(err)
		}
	}
	r.want(BreakerClosed, "3 successful trials after a timed-out one")
}

// While half-open with every trial in flight, a call is refused with a
// message that says so (not "fail fast for another 0s").
func TestBreakerHalfOpenRefusalSaysWhy(t *testing.T) {
	r := newBreakerRig(t)
	r.openIt()
	r.clock.advance(DefaultBreakerDelay)
	var open []*sql.Rows
	for range DefaultBreakerSuccesses {
		rows, err := r.db.Query(`SELECT n FROM t WHERE n > ?`, 0)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, rows)
	}
	err := r.read()
	if !errors.Is(err, ErrCircuitOpen) || !strings.Contains(err.Error(), "trial calls are in progress") {
		t.Errorf("with every trial in flight: %v", err)
	}
	for _, rows := range open {
		rows.Close()
	}
	r.want(BreakerClosed, "3 trials that closed their rows")
}
