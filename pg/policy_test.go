package pg

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/quantumleap/qlsqlite"
)

// A statement past its deadline fails with an error that matches
// context.DeadlineExceeded and names the default deadline, and the server
// stops it: by the time the error is returned the server has cancelled it
// (at its statement_timeout, which qlpg sets to _timeout), and the
// connection is still good, in the same server process. (pgx's default
// for a context's deadline closes the connection instead, and the server
// learns of it later; qlpg sends a cancel request, as psql's Ctrl-C does.)
func TestDeadlineStopsTheStatementOnTheServer(t *testing.T) {
	db, _ := newDB(t, "_timeout=300ms")
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pid int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = conn.ExecContext(ctx, `SELECT pg_sleep(30)`)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want one matching context.DeadlineExceeded", err)
	}
	wantDefaultDeadline(t, "pg_sleep(30)", err, "300ms")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the statement returned after %v", d)
	}
	var running int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'`, pid).Scan(&running)
	if err != nil {
		t.Fatal(err)
	}
	if running != 0 {
		t.Errorf("the server still runs the statement that timed out")
	}
	var after int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&after); err != nil || after != pid {
		t.Errorf("after the deadline: server process %d (%v), want the same connection, %d", after, err, pid)
	}
}

// bank makes n accounts holding 100 each.
func bank(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	mustExec(t, db, `CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL)`,
		fmt.Sprintf(`INSERT INTO accounts SELECT g, 100 FROM generate_series(1, %d) g`, n))
}

// transfer moves amount from one account to another.
func transfer(ctx context.Context, tx *sql.Tx, from, to, amount int) error {
	var bal int
	if err := tx.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE id = $1`, from).Scan(&bal); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = $1 WHERE id = $2`, bal-amount, from); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance + $1 WHERE id = $2`, amount, to)
	return err
}

// RunTx runs a transaction again after a serialization failure (40001),
// and does not after any other error.
func TestRunTxRerunsSerializationFailuresOnly(t *testing.T) {
	db, _ := newDB(t)
	bank(t, db, 2)
	ctx := context.Background()
	serializable := &sql.TxOptions{Isolation: sql.LevelSerializable}

	// A second transaction commits a change to the row the first one read,
	// between its read and its write: the first fails with 40001 and runs
	// again.
	calls := 0
	err := qlsqlite.RunTx(ctx, db, serializable, func(tx *sql.Tx) error {
		calls++
		var bal int
		if err := tx.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE id = 1`).Scan(&bal); err != nil {
			return err
		}
		if calls == 1 {
			if _, err := db.ExecContext(ctx, `UPDATE accounts SET balance = balance - 1 WHERE id = 1`); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = $1 WHERE id = 1`, bal+10)
		return err
	})
	if err != nil || calls != 2 {
		t.Fatalf("RunTx: %v after %d calls, want success after 2", err, calls)
	}
	var bal int
	if err := db.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE id = 1`).Scan(&bal); err != nil || bal != 109 {
		t.Fatalf("balance %d (%v), want 109: the re-run read the other transaction's change", bal, err)
	}

	// A unique violation is the statement's fault: no re-run.
	calls = 0
	err = qlsqlite.RunTx(ctx, db, serializable, func(tx *sql.Tx) error {
		calls++
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts VALUES (1, 0)`)
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || calls != 1 {
		t.Fatalf("RunTx: %v after %d calls, want the unique violation after 1", err, calls)
	}
}

// The floor: 60 goroutines of SERIALIZABLE transfers through RunTx: no
// failure reaches a caller, and the money is all there at the end.
func TestConcurrentTransfersConserveMoney(t *testing.T) {
	const accounts, workers, each = 20, 60, 15
	db, _ := newDB(t, "_max_open=60", "_retry=30")
	bank(t, db, accounts)
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	var attempts atomic.Int64
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range each {
				from, to := 1+r.IntN(accounts), 1+r.IntN(accounts)
				for to == from {
					to = 1 + r.IntN(accounts)
				}
				err := qlsqlite.RunTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(tx *sql.Tx) error {
					attempts.Add(1)
					return transfer(ctx, tx, from, to, 1+r.IntN(10))
				})
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d transfers failed; the first: %v", n, firstErr.Load())
	}
	var total int
	if err := db.QueryRowContext(ctx, `SELECT sum(balance) FROM accounts`).Scan(&total); err != nil || total != accounts*100 {
		t.Fatalf("total %d (%v), want %d", total, err, accounts*100)
	}
	t.Logf("%d transfers in %d attempts", workers*each, attempts.Load())
	if attempts.Load() == workers*each {
		t.Errorf("no transaction was re-run: the test did not contend")
	}
}

// The breaker opens on connection failures, and statements' own errors
// (syntax, constraints) never open it.
func TestBreakerCountsConnectionFailuresOnly(t *testing.T) {
	db, _ := newDB(t, "_breaker_failures=3", "_breaker_delay=1h", "_min_open=0")
	ctx := context.Background()
	mustExec(t, db, `CREATE TABLE t (id int PRIMARY KEY)`, `INSERT INTO t VALUES (1)`)
	for range 10 {
		db.ExecContext(ctx, `SELEC 1`)
		db.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
	}
	if h, _ := qlsqlite.Health(ctx, db); h.Breaker != "closed" {
		t.Fatalf("after 20 statement errors the breaker is %s", h.Breaker)
	}

	down, err := sql.Open(DriverName, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&_breaker_failures=3&_breaker_delay=1h")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	for range 3 {
		down.PingContext(ctx)
	}
	err = down.PingContext(ctx)
	if !errors.Is(err, qlsqlite.ErrCircuitOpen) {
		t.Fatalf("after 3 refused connections: %v, want the circuit open", err)
	}
}

// An autocommit statement that reached the server is not run again when
// the connection breaks under it: nextval, which no rollback undoes,
// shows how many times it ran.
func TestStatementThatReachedTheServerIsNotRetried(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `CREATE SEQUENCE s`)
	_, err := db.ExecContext(ctx, `SELECT nextval('s'), pg_terminate_backend(pg_backend_pid())`)
	if err == nil {
		t.Fatal("the statement that killed its connection succeeded")
	}
	if qlsqlite.Classify(err) != qlsqlite.Connection {
		t.Errorf("%v: class %v, want connection", err, qlsqlite.Classify(err))
	}
	var last int
	if err := db.QueryRowContext(ctx, `SELECT last_value FROM s`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if last != 1 {
		t.Fatalf("nextval ran %d times: the statement was retried after it reached the server", last)
	}
}

// A statement on a connection pgx knows is closed never reached the
// server: database/sql runs it on another connection, and the caller sees
// no error.
func TestStatementThatNeverReachedTheServerRunsElsewhere(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `CREATE TABLE t (id int)`)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		return dc.(interface{ Unwrap() driver.Conn }).Unwrap().Close() // pgx's connection, closed beneath qlsqlite
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatalf("insert: %v", err)
	}
}

// The breaker counts the server ending sessions (57P01, what a fast
// shutdown or a failover sends each client) as a connection failure: the
// error comes from the server with a SQLSTATE, unlike a refused
// connection, and still opens the breaker.
func TestBreakerCountsServerShutdown(t *testing.T) {
	db, _ := newDB(t, "_breaker_failures=3", "_breaker_delay=1h", "_min_open=0")
	ctx := context.Background()
	for range 3 {
		_, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57P01" {
			t.Fatalf("a session that the server ended: %v, want SQLSTATE 57P01", err)
		}
	}
	if _, err := db.ExecContext(ctx, `SELECT 1`); !errors.Is(err, qlsqlite.ErrCircuitOpen) {
		t.Fatalf("after 3 sessions ended by the server: %v, want the circuit open", err)
	}
}

// A connection that saw an infrastructure error from a session the server
// kept open (here an I/O error, class 58, raised by the test) is not
// reused: the next statement runs in another server process.
func TestInfrastructureErrorDropsTheConnection(t *testing.T) {
	db, _ := newDB(t, "_max_open=1")
	ctx := context.Background()
	var before, after int
	if err := db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	_, err := db.ExecContext(ctx, `DO $$ BEGIN RAISE EXCEPTION 'disk read failed' USING ERRCODE = '58030'; END $$`)
	if qlsqlite.Classify(err) != qlsqlite.Connection {
		t.Fatalf("%v: class %v, want connection", err, qlsqlite.Classify(err))
	}
	if err := db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatalf("after an I/O error the pool reused the connection (server process %d)", before)
	}
}
