package pg

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/quantumleap/qlsqlite"
)

// The tests of the default deadline as the server enforces it
// (backend.EnforceTimeout); TestDeadlineStopsTheStatementOnTheServer, in
// policy_test.go, is the first of them.

// show returns a setting as the session on q sees it.
func show(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) string {
	t.Helper()
	var v string
	if err := q.QueryRowContext(context.Background(), "SHOW "+name).Scan(&v); err != nil {
		t.Fatalf("SHOW %s: %v", name, err)
	}
	return v
}

// wantDefaultDeadline fails t unless err is the default deadline's error,
// as on SQLite, with the server's 57014 in its chain.
func wantDefaultDeadline(t *testing.T, what string, err error, timeout string) {
	t.Helper()
	var pe *pgconn.PgError
	switch {
	case !errors.Is(err, context.DeadlineExceeded):
		t.Errorf("%s: error %v, want one matching context.DeadlineExceeded", what, err)
	case !strings.Contains(err.Error(), timeout+" default deadline") || !strings.Contains(err.Error(), "_timeout"):
		t.Errorf("%s: error %q does not name the %s default deadline and _timeout", what, err, timeout)
	case !errors.As(err, &pe) || pe.Code != "57014":
		t.Errorf("%s: error %v does not keep the server's 57014", what, err)
	case qlsqlite.Classify(err) != qlsqlite.Performance:
		t.Errorf("%s: class %v, want performance", what, qlsqlite.Classify(err))
	}
}

// Each connection opens with statement_timeout set to _timeout (30s by
// default), none with _timeout=0; a DSN that sets statement_timeout keeps
// it, and then the deadline is the client's, as before.
func TestServerEnforcesTheDefaultDeadline(t *testing.T) {
	for _, c := range []struct {
		params []string
		want   string
	}{
		{nil, "30s"},
		{[]string{"_timeout=300ms"}, "300ms"},
		{[]string{"_timeout=1500us"}, "2ms"}, // whole milliseconds, rounded up
		{[]string{"_timeout=0"}, "0"},
		{[]string{"_timeout=300ms", "statement_timeout=5000"}, "5s"},
		{[]string{"_timeout=300ms", "options=-c%20statement_timeout%3D4s"}, "4s"},
	} {
		db, _ := newDB(t, c.params...)
		if got := show(t, db, "statement_timeout"); got != c.want {
			t.Errorf("%v: statement_timeout %s, want %s", c.params, got, c.want)
		}
	}

	// The DSN's own statement_timeout (5s) is longer than _timeout: the
	// client's deadline stops the statement at 300ms, as before.
	db, _ := newDB(t, "_timeout=300ms", "statement_timeout=5000")
	start := time.Now()
	_, err := db.ExecContext(context.Background(), `SELECT pg_sleep(3)`)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("with the DSN's statement_timeout: %v after %v, want the client's deadline at 300ms", err, time.Since(start))
	}
}

// The server's timeout is the default deadline's error on every path: an
// Exec, a query whose error comes with its rows, a prepared statement, a
// statement in a transaction.
func TestServerTimeoutIsTheDefaultDeadlineError(t *testing.T) {
	db, _ := newDB(t, "_timeout=300ms")
	ctx := context.Background()
	_, err := db.ExecContext(ctx, `SELECT pg_sleep(5)`)
	wantDefaultDeadline(t, "exec", err, "300ms")

	var s string
	err = db.QueryRowContext(ctx, `SELECT pg_sleep(5)::text`).Scan(&s)
	wantDefaultDeadline(t, "query", err, "300ms")

	stmt, err := db.PrepareContext(ctx, `SELECT pg_sleep($1)::text`)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	err = stmt.QueryRowContext(ctx, 5).Scan(&s)
	wantDefaultDeadline(t, "prepared", err, "300ms")
	if err := stmt.QueryRowContext(ctx, 0).Scan(&s); err != nil {
		t.Errorf("the prepared statement after its timeout: %v", err)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, `SELECT pg_sleep(5)`)
	wantDefaultDeadline(t, "in a transaction", err, "300ms")
	tx.Rollback()

	// The server stops a statement that streams rows too: 300ms of them.
	start := time.Now()
	rows, err := db.QueryContext(ctx, `SELECT g, pg_sleep(0.01) FROM generate_series(1, 1000) g`)
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	wantDefaultDeadline(t, "rows", err, "300ms")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the streaming query ended after %v", d)
	}
}

// A caller's deadline governs, as on SQLite: a later one than the
// default lets the statement run past _timeout (the server's limit is
// lifted for it, in autocommit and in a transaction), and the default is
// back for the next statement without one; a sooner one stops the
// statement at the caller's deadline.
func TestCallerDeadlineGoverns(t *testing.T) {
	db, _ := newDB(t, "_timeout=300ms")
	ctx := context.Background()
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	if _, err := conn.ExecContext(long, `SELECT pg_sleep(0.8)`); err != nil {
		t.Fatalf("exec under a deadline of a minute: %v", err)
	}
	var s string
	if err := conn.QueryRowContext(long, `SELECT pg_sleep(0.8)::text`).Scan(&s); err != nil {
		t.Fatalf("query under a deadline of a minute: %v", err)
	}
	_, err = conn.ExecContext(ctx, `SELECT pg_sleep(5)`)
	wantDefaultDeadline(t, "the next statement, without a deadline", err, "300ms")
	if got := show(t, conn, "statement_timeout"); got != "300ms" {
		t.Errorf("statement_timeout %s after a lifted statement, want 300ms", got)
	}

	// In a transaction: SET LOCAL, for each statement that needs it.
	tx, err := conn.BeginTx(long, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := tx.ExecContext(long, `SELECT pg_sleep(0.5)`); err != nil {
			t.Fatalf("statement %d of a transaction under a deadline of a minute: %v", i, err)
		}
	}
	_, err = tx.ExecContext(ctx, `SELECT pg_sleep(5)`)
	wantDefaultDeadline(t, "a statement without a deadline in the transaction", err, "300ms")
	tx.Rollback()

	// Lifted outside a transaction, then a transaction whose BEGIN has a
	// deadline of its own: its statements without one are under the
	// default (SET LOCAL ... TO DEFAULT), and so is the session after it.
	if _, err := conn.ExecContext(long, `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	tx, err = conn.BeginTx(long, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, `SELECT pg_sleep(5)`)
	wantDefaultDeadline(t, "a transaction on a lifted session", err, "300ms")
	tx.Rollback()
	_, err = conn.ExecContext(ctx, `SELECT pg_sleep(5)`)
	wantDefaultDeadline(t, "after the transaction on a lifted session", err, "300ms")

	// A savepoint rolled back undoes a SET LOCAL: the next statement sets
	// it again.
	tx, err = conn.BeginTx(long, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`SAVEPOINT a`, `SELECT pg_sleep(0.4)`, `ROLLBACK TO SAVEPOINT a`, `SELECT pg_sleep(0.4)`} {
		if _, err := tx.ExecContext(long, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tx.Rollback()

	// A deadline sooner than the default stops the statement at it: the
	// error is the caller's, not the default's.
	dbLong, _ := newDB(t, "_timeout=5s")
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	start := time.Now()
	_, err = dbLong.ExecContext(short, `SELECT pg_sleep(5)`)
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "default deadline") {
		t.Errorf("under a deadline of 200ms: %v, want the caller's deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("under a deadline of 200ms, the statement returned after %v", d)
	}
}

// A session's own SET statement_timeout is its own: its timeout is the
// server's error (not the default deadline's); it stays with the pooled
// connection (pgx's ResetSession resets nothing), and RESET ALL and
// DISCARD ALL come back to _timeout, the connection's startup value.
func TestOwnStatementTimeoutAndReset(t *testing.T) {
	db, _ := newDB(t, "_timeout=300ms", "_max_open=1", "_max_idle=1")
	ctx := context.Background()
	mustExec(t, db, `SET statement_timeout = '100ms'`)
	_, err := db.ExecContext(ctx, `SELECT pg_sleep(2)`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" || strings.Contains(err.Error(), "default deadline") || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("under the session's own 100ms: %v, want the server's 57014 as it is", err)
	}
	if got := show(t, db, "statement_timeout"); got != "100ms" {
		t.Errorf("the pooled connection's statement_timeout %s, want the session's own 100ms", got)
	}
	// DISCARD ALL also drops the statements pgx prepared and caches by
	// their text: each statement is written anew after it.
	for _, reset := range []string{`RESET ALL`, `RESET statement_timeout`, `DISCARD ALL`} {
		mustExec(t, db, `SET statement_timeout = '100ms' -- before `+reset, reset)
		if got := show(t, db, "statement_timeout -- after "+reset); got != "300ms" {
			t.Errorf("after %s: statement_timeout %s, want 300ms", reset, got)
		}
	}
	_, err = db.ExecContext(ctx, `SELECT pg_sleep(5) -- after DISCARD ALL`)
	wantDefaultDeadline(t, "after DISCARD ALL", err, "300ms")
}

// A call whose answer never comes (the network went silent) is given up
// on at the default deadline plus the grace, as the client's own deadline
// did before: the error is the default deadline's, the connection is not
// reused, and the database works again once the network does.
func TestSilentNetworkIsBoundedByTheDefaultDeadline(t *testing.T) {
	old := cancelGrace
	cancelGrace = 400 * time.Millisecond
	t.Cleanup(func() { cancelGrace = old })
	p := newProxy(t, srv.Host())
	db, err := sql.Open(DriverName, p.dsn(newDatabase(t), "_timeout=300ms", "_max_open=2"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}

	p.freeze()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := conn.ExecContext(ctx, `SELECT 1`)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		p.thaw()
		<-done
		t.Fatalf("the call was not given up on in 10s (the network came back then)")
	}
	took := time.Since(start)
	p.thaw()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "300ms default deadline while waiting for the server's answer") {
		t.Errorf("error %v, want the default deadline's, waiting for the server", err)
	}
	if took < 700*time.Millisecond || took > 5*time.Second {
		t.Errorf("given up on after %v, want about 300ms + 400ms", took)
	}
	conn.Close()

	var after int
	if err := db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&after); err != nil || after == pid {
		t.Errorf("after the stall: server process %d (%v), want a new connection (not %d)", after, err, pid)
	}
}
