package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// lockHolder is another process's view of the database (a raw driver pool of
// its own) holding SQLite's write lock.
type lockHolder struct {
	t  *testing.T
	db *sql.DB
	tx *sql.Tx
}

func holdWriteLock(t *testing.T, path string) *lockHolder {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=journal_mode(wal)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tx, err := db.Begin() // BEGIN IMMEDIATE: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO t VALUES (-1)`); err != nil {
		t.Fatal(err)
	}
	return &lockHolder{t: t, db: db, tx: tx}
}

func (h *lockHolder) release() {
	if err := h.tx.Commit(); err != nil {
		h.t.Error(err)
	}
}

// retryDB opens path with a short busy timeout, so that lock contention
// surfaces as SQLITE_BUSY quickly, and counts retries.
func retryDB(t *testing.T, path, params string, opts ...Option) (*sql.DB, *atomic.Int32, chan error) {
	t.Helper()
	var retries atomic.Int32
	first := make(chan error, 1)
	opts = append(opts, withRetryHook(func(err error) {
		if retries.Add(1) == 1 {
			first <- err
		}
	}))
	db, err := Open("file:"+path+"?_pragma=busy_timeout(1)&_pragma=journal_mode(wal)"+params, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return db, &retries, first
}

func TestRetryAutocommitBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "retry.db")
	db, retries, first := retryDB(t, path, "")
	h := holdWriteLock(t, path)
	go func() {
		err := <-first // the insert lost the race once: now let it through
		if !errors.Is(err, sqlite3.BUSY) {
			t.Errorf("retried after %v, want BUSY", err)
		}
		h.release()
	}()
	if _, err := db.Exec(`INSERT INTO t VALUES (?)`, 1); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if n := retries.Load(); n < 1 {
		t.Errorf("%d retries", n)
	}
}

func TestRetryNeverInsideATransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tx.db")
	db, retries, _ := retryDB(t, path, "&_txlock=deferred")
	h := holdWriteLock(t, path)
	defer h.release()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = tx.Exec(`INSERT INTO t VALUES (?)`, 1)
	if !errors.Is(err, sqlite3.BUSY) {
		t.Errorf("insert in a transaction: %v, want BUSY at once", err)
	}
	if n := retries.Load(); n != 0 {
		t.Errorf("a statement inside a transaction was retried %d times", n)
	}
}

func TestRetriesRunOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.db")
	db, retries, _ := retryDB(t, path, "&_retry=3")
	h := holdWriteLock(t, path)
	defer h.release()
	_, err := db.Exec(`INSERT INTO t VALUES (?)`, 1)
	if !errors.Is(err, sqlite3.BUSY) || Classify(err) != Performance || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("after every attempt: %v (%v)", err, Classify(err))
	}
	if n := retries.Load(); n != 2 {
		t.Errorf("%d retries, want 2 (3 attempts)", n)
	}
	// The backoffs (10ms and 20ms, each ±50% jitter) are the call's waits.
	q := statsOf(t, mustStats(t, db), `INSERT INTO t VALUES (?)`)
	if q.Waited < 15*time.Millisecond || q.Waited > q.Total {
		t.Errorf("waited %v of %v: want the backoffs, at least 15ms", q.Waited, q.Total)
	}
}

func TestRetryBoundedByContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctx.db")
	db, _, _ := retryDB(t, path, "&_retry=1000")
	h := holdWriteLock(t, path)
	defer h.release()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?)`, 1)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sqlite3.BUSY) && !errors.Is(err, sqlite3.INTERRUPT) {
		t.Errorf("retrying past the deadline: %v", err)
	}
}

func TestRunTxRerunsOnBusySnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshot.db")
	db, retries, _ := retryDB(t, path, "&_txlock=deferred")
	if _, err := db.Exec(`CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER); INSERT INTO acct VALUES (1, 100), (2, 100)`); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite3", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	runs := 0
	err = RunTx(context.Background(), db, nil, func(tx *sql.Tx) error {
		runs++
		var b int
		if err := tx.QueryRow(`SELECT balance FROM acct WHERE id = 1`).Scan(&b); err != nil {
			return err
		}
		if runs == 1 { // someone else writes after our snapshot was taken
			if _, err := other.Exec(`UPDATE acct SET balance = balance + 5 WHERE id = 2`); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`UPDATE acct SET balance = ? WHERE id = 1`, b-10); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE acct SET balance = balance + 10 WHERE id = 2`)
		return err
	})
	if err != nil {
		t.Fatalf("RunTx: %v", err)
	}
	if runs != 2 || retries.Load() != 1 {
		t.Errorf("fn ran %d times with %d retries, want 2 and 1", runs, retries.Load())
	}
	var a, b int
	db.QueryRow(`SELECT (SELECT balance FROM acct WHERE id = 1), (SELECT balance FROM acct WHERE id = 2)`).Scan(&a, &b)
	if a != 90 || b != 115 {
		t.Errorf("balances %d and %d, want 90 and 115", a, b)
	}
}

func TestRunTxReturnsOtherErrorsAsTheyAre(t *testing.T) {
	db, retries, _ := retryDB(t, filepath.Join(t.TempDir(), "boom.db"), "")
	boom := errors.New("boom")
	err := RunTx(context.Background(), db, nil, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO t VALUES (?)`, 7); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Errorf("RunTx = %v, want fn's error as it is", err)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM t`).Scan(&n)
	if n != 0 || retries.Load() != 0 {
		t.Errorf("%d rows after the rollback, %d retries", n, retries.Load())
	}
}

func TestWriterGate(t *testing.T) {
	db, err := Open("file:" + filepath.Join(t.TempDir(), "gate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE t (n); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil) // a write transaction holds the gate
	if err != nil {
		t.Fatal(err)
	}

	// Reads never wait for it.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var n int
	if err := db.QueryRowContext(rctx, `SELECT count(*) FROM t WHERE n > ?`, 0).Scan(&n); err != nil {
		t.Errorf("a read behind a writer: %v", err)
	}
	ro, err := db.BeginTx(rctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("a read-only transaction behind a writer: %v", err)
	}
	ro.Rollback()

	// A writer waits in line, as long as its context allows.
	wctx, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	_, err = db.ExecContext(wctx, `INSERT INTO t VALUES (?)`, 2)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sqlite3.INTERRUPT) || !strings.Contains(err.Error(), "writer gate") {
		t.Errorf("a writer behind a writer: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// The gate is free again.
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?)`, 3); err != nil {
		t.Errorf("after the commit: %v", err)
	}
	if w := db.Driver().(*Driver).db.gate; !w.sem.TryAcquire(1) {
		t.Error("the gate is still held")
	} else {
		w.release()
	}
}
