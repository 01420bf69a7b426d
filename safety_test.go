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
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// The tests in this file each show that a safety mechanism never causes the
// failure it guards against (issue 13).

// gateHeld reports whether some connection of db holds the writer gate.
func gateHeld(t *testing.T, db *sql.DB) bool {
	t.Helper()
	g := db.Driver().(*Driver).db.gate
	if g.sem.TryAcquire(1) {
		g.release()
		return false
	}
	return true
}

// A script is never retried once part of it was applied: its first
// statement commits, its second loses the race for another file's lock,
// and the caller gets that error with the first statement applied once.
func TestScriptNotRetriedAfterPartialApply(t *testing.T) {
	dir := t.TempDir()
	path, other := filepath.Join(dir, "main.db"), filepath.Join(dir, "other.db")
	db, retries, first := retryDB(t, path, "")
	released := make(chan struct{})
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	setup, err := sql.Open("sqlite3", "file:"+other+"?_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	if _, err := setup.Exec(`CREATE TABLE t (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `ATTACH ? AS other`, other); err != nil {
		t.Fatal(err)
	}
	h := holdWriteLock(t, other)
	go func() {
		select {
		case <-first: // a retry happened: let it succeed, which duplicates the first statement
		case <-released:
		}
		h.release()
	}()
	_, err = conn.ExecContext(ctx, `INSERT INTO main.t VALUES (1000 + (SELECT count(*) FROM main.t)); INSERT INTO other.t VALUES (1)`)
	close(released)
	if !errors.Is(err, sqlite3.BUSY) {
		t.Errorf("the script: %v, want the BUSY of its second statement", err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM main.t`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the first statement was applied %d times (%v), want once", n, err)
	}
	if r := retries.Load(); r != 0 {
		t.Errorf("the script was retried %d times after part of it was applied", r)
	}
}

// A script that applied nothing before it lost the race is retried whole.
func TestScriptRetriedWhenNothingApplied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "retry.db")
	db, retries, first := retryDB(t, path, "")
	h := holdWriteLock(t, path)
	go func() {
		<-first
		h.release()
	}()
	if _, err := db.Exec(`INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)`); err != nil {
		t.Fatalf("script: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t WHERE n > 0`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d rows (%v), want 2", n, err)
	}
	if retries.Load() < 1 {
		t.Error("not retried")
	}
}

// A BUSY in the middle of a BEGIN ... COMMIT script reaches the caller as
// it is, and the connection is left outside any transaction.
func TestScriptBusyInsideItsTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tx.db")
	db, retries, _ := retryDB(t, path, "")
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := holdWriteLock(t, path)
	_, err = conn.ExecContext(ctx, `BEGIN; INSERT INTO t VALUES (1); COMMIT`)
	h.release()
	if !errors.Is(err, sqlite3.BUSY) || strings.Contains(err.Error(), "within a transaction") {
		t.Errorf("the script: %v, want its BUSY", err)
	}
	if r := retries.Load(); r != 0 {
		t.Errorf("retried %d times", r)
	}
	conn.Raw(func(dc any) error {
		if !dc.(ncruces.Conn).Raw().GetAutocommit() {
			t.Error("the connection is left inside the script's transaction")
		}
		return nil
	})
	if _, err := conn.ExecContext(ctx, `INSERT INTO t VALUES (?)`, 2); err != nil {
		t.Errorf("the connection after: %v", err)
	}
}

// The writer gate is held by a write transaction from BEGIN to COMMIT, its
// writes included: another writer waits at the gate all along.
func TestGateHeldThroughWriteTransaction(t *testing.T) {
	db, err := Open("file:" + filepath.Join(t.TempDir(), "gate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`INSERT INTO t VALUES (?)`, `UPDATE t SET n = n + ?`} {
		if _, err := tx.Exec(q, 1); err != nil {
			t.Fatal(err)
		}
		if !gateHeld(t, db) {
			t.Fatalf("the gate was released inside the transaction, after %s", q)
		}
	}
	rows, err := tx.Query(`INSERT INTO t VALUES (?) RETURNING n`, 2)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = db.ExecContext(wctx, `INSERT INTO t VALUES (?)`, 3)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "writer gate") {
		t.Errorf("a writer beside an open write transaction: %v, want a wait at the writer gate", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if gateHeld(t, db) {
		t.Error("the gate is still held after COMMIT")
	}
}

// A connection with the rows of an INSERT ... RETURNING still open writes
// again without waiting for itself at the gate.
func TestGateNotWaitingForItself(t *testing.T) {
	p := pin(t, "")
	p.exec(`CREATE TABLE t (n)`)
	rows, err := p.conn.QueryContext(p.ctx, `INSERT INTO t VALUES (?) RETURNING n`, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if _, err := p.conn.ExecContext(ctx, `INSERT INTO t VALUES (?)`, 2); err != nil {
		t.Errorf("a second write on the same connection: %v", err)
	}
	if _, err := p.conn.ExecContext(ctx, `INSERT INTO t VALUES (3)`); err != nil {
		t.Errorf("a third write, without arguments: %v", err)
	}
	for rows.Next() {
	}
	rows.Close()
	if gateHeld(t, p.db) {
		t.Error("the gate is still held after the rows closed")
	}
	var n int
	p.conn.QueryRowContext(p.ctx, `SELECT count(*) FROM t`).Scan(&n)
	if n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}

// A prepared statement's writes queue at the writer gate like ad-hoc ones,
// whether the statement cache keeps the statement or the prepared statement
// keeps its own (cache off).
func TestPreparedStatementTakesTheGate(t *testing.T) {
	for _, params := range []string{"", "?_stmt_cache=0"} {
		t.Run("params="+params, func(t *testing.T) { preparedTakesTheGate(t, params) })
	}
}

func preparedTakesTheGate(t *testing.T, params string) {
	db, err := Open("file:" + filepath.Join(t.TempDir(), "gate.db") + params)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	ins, err := db.Prepare(`INSERT INTO t VALUES (?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	if _, err := ins.Exec(1); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil) // holds the gate
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = ins.ExecContext(wctx, 2)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "writer gate") {
		t.Errorf("a prepared INSERT beside a write transaction: %v, want a wait at the writer gate", err)
	}
	// A prepared query that writes (INSERT ... RETURNING) waits there too.
	ret, err := db.Prepare(`INSERT INTO t VALUES (?) RETURNING n`)
	if err != nil {
		t.Fatal(err)
	}
	defer ret.Close()
	qctx, qcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer qcancel()
	if rows, err := ret.QueryContext(qctx, 4); err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
		t.Errorf("a prepared INSERT ... RETURNING beside a write transaction: %v, want a wait at the writer gate", err)
	} else if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "writer gate") {
		t.Errorf("a prepared INSERT ... RETURNING beside a write transaction: %v, want a wait at the writer gate", err)
	}
	// Inside the transaction, a prepared statement writes without the gate.
	txIns := tx.Stmt(ins)
	if _, err := txIns.Exec(3); err != nil {
		t.Errorf("a prepared INSERT inside the transaction: %v", err)
	}
	if !gateHeld(t, db) {
		t.Error("the transaction's gate was released by its prepared statement")
	}
}

// DDL run through a prepared statement tells every connection, as ad-hoc
// DDL does: another connection's cached SELECT * sees the new column.
func TestPreparedDDLInvalidatesOtherCaches(t *testing.T) {
	db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "ddl.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	a, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.ExecContext(ctx, `CREATE TABLE t (x); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	cols := func() ([]string, error) {
		rows, err := a.QueryContext(ctx, `SELECT * FROM t WHERE x > ?`, 0)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		c, _ := rows.Columns()
		c = append([]string(nil), c...)
		for rows.Next() {
		}
		return c, rows.Err()
	}
	if c, err := cols(); err != nil || len(c) != 1 {
		t.Fatalf("before: %v %v", c, err)
	}
	b, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alter, err := b.PrepareContext(ctx, `ALTER TABLE t ADD COLUMN y DEFAULT 2`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alter.Exec(); err != nil {
		t.Fatal(err)
	}
	alter.Close()
	b.Close()
	if c, err := cols(); err != nil || len(c) != 2 {
		t.Errorf("after a prepared ALTER elsewhere: %v %v, want two columns and no error", c, err)
	}
}

// A prepared autocommit statement that lost the race for the lock is
// retried.
func TestPreparedStatementRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "retry.db")
	db, retries, first := retryDB(t, path, "")
	ins, err := db.Prepare(`INSERT INTO t VALUES (?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	h := holdWriteLock(t, path)
	go func() {
		<-first
		h.release()
	}()
	if _, err := ins.Exec(1); err != nil {
		t.Fatalf("prepared insert: %v", err)
	}
	if retries.Load() < 1 {
		t.Error("not retried")
	}
}

// The default deadline covers row iteration: a caller reading slowly gets
// a deadline error on the first row it asks for after the deadline.
func TestDeadlineDuringSlowIteration(t *testing.T) {
	p := pin(t, "?_timeout=100ms")
	p.exec(`CREATE TABLE t (n)`)
	p.exec(`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 10) INSERT INTO t SELECT n FROM s`)
	rows, err := p.conn.QueryContext(p.ctx, `SELECT n FROM t WHERE n > ?`, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	start := time.Now()
	read := 0
	for rows.Next() {
		read++
		if read == 2 {
			time.Sleep(150*time.Millisecond - time.Since(start)) // the caller is slow: past the deadline
		}
	}
	err = rows.Err()
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sqlite3.INTERRUPT) {
		t.Errorf("after %d rows, past the deadline: %v, want a deadline error", read, err)
	}
	if read != 2 {
		t.Errorf("%d rows read, want the 2 before the deadline", read)
	}
}
