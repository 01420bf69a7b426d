package pg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite"
)

// A script of statements each shorter than _timeout but longer together:
// the default deadline bounds the call, as on SQLite and as the client's
// deadline did (the server's statement_timeout bounds each statement of
// a script on its own, and the backstop then gave up on the connection
// at _timeout + 5s). A caller's later deadline governs a script too.
func TestScriptUnderTheDefaultDeadline(t *testing.T) {
	db, _ := newDB(t, "_timeout=300ms")
	ctx := context.Background()
	script := `SELECT pg_sleep(0.2); SELECT pg_sleep(0.2); SELECT pg_sleep(0.2); SELECT pg_sleep(0.2);`
	start := time.Now()
	_, err := db.ExecContext(ctx, script)
	wantDefaultDeadline(t, "a script of 0.8s", err, "300ms")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the script returned after %v", d)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, script)
	wantDefaultDeadline(t, "a script in a transaction", err, "300ms")
	tx.Rollback()

	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := db.ExecContext(long, `SELECT pg_sleep(0.4); SELECT pg_sleep(0.4)`); err != nil {
		t.Errorf("a script under a deadline of a minute: %v", err)
	}
	_, err = db.ExecContext(ctx, `SELECT pg_sleep(5)`)
	wantDefaultDeadline(t, "after the script", err, "300ms")
}

// A _timeout longer than statement_timeout can be (24.8 days) does not
// make the server refuse every connection: the deadline is the client's.
func TestTimeoutBeyondTheServersLimit(t *testing.T) {
	for _, d := range []string{"720h", "8760h"} {
		db, _ := newDB(t, "_timeout="+d)
		var one int
		if err := db.QueryRowContext(context.Background(), `SELECT 1`).Scan(&one); err != nil {
			t.Errorf("_timeout=%s: %v", d, err)
		}
	}
}

// A limit lifted once (in a transaction, or in the session) costs one
// round trip at most, not one for each statement of every later
// transaction: BEGIN clears the last transaction's SET LOCAL and sets a
// lifted session's default back.
func TestLiftedLimitIsSetBackOnce(t *testing.T) {
	p := newProxy(t, srv.Host())
	db, err := sql.Open(DriverName, p.dsn(newDatabase(t), "_timeout=300ms", "_max_open=1"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, lifted := range []string{"tx", "session"} {
		if lifted == "tx" {
			err = qlsqlite.RunTx(ctx, db, nil, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(long, `SELECT 1`)
				return err
			})
		} else {
			_, err = db.ExecContext(long, `SELECT 1`)
		}
		if err != nil {
			t.Fatal(err)
		}
		before := p.count("statement_timeout")
		if before == 0 {
			t.Fatalf("lifted in %s: the proxy saw no statement_timeout sent: it counts nothing", lifted)
		}
		for range 20 {
			err := qlsqlite.RunTx(ctx, db, nil, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `SELECT 2`)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		sets := p.count("statement_timeout") - before
		t.Logf("lifted in %s: %d SETs over the next 20 transactions", lifted, sets)
		if sets > 2 {
			t.Errorf("lifted in %s: %d SETs over the next 20 transactions, want at most 2", lifted, sets)
		}
		_, err = db.ExecContext(ctx, `SELECT pg_sleep(5)`)
		wantDefaultDeadline(t, "after", err, "300ms")
	}
}

// Savepoints around a lifted limit (SET LOCAL before or after the
// savepoint, rolled back to, released, after a failed statement): the
// next statement without a deadline, in the transaction and after it, is
// under the default.
func TestLiftedLimitAndSavepoints(t *testing.T) {
	db, _ := newDB(t, "_timeout=300ms", "_max_open=1")
	ctx := context.Background()
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, seq := range [][]string{
		{"L:SELECT pg_sleep(0.4)", "SAVEPOINT a", "L:SELECT pg_sleep(0.4)", "ROLLBACK TO SAVEPOINT a"},
		{"SAVEPOINT a", "L:SELECT pg_sleep(0.4)", "ROLLBACK TO SAVEPOINT a"},
		{"SAVEPOINT a", "L:SELECT pg_sleep(0.4)", "RELEASE SAVEPOINT a"},
		{"SAVEPOINT a", "L:SELECT 1/0", "!ROLLBACK TO SAVEPOINT a"},
		{"L:SELECT pg_sleep(0.4)", "SAVEPOINT a", "L:SELECT 1/0", "!ROLLBACK TO SAVEPOINT a"},
	} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range seq {
			c := ctx
			failOK := false
			if strings.HasPrefix(q, "L:") {
				c, q = long, q[2:]
				failOK = strings.Contains(q, "1/0")
			}
			if strings.HasPrefix(q, "!") {
				q = q[1:]
			}
			if _, err := tx.ExecContext(c, q); err != nil && !failOK {
				t.Fatalf("%v: %s: %v", seq, q, err)
			}
		}
		start := time.Now()
		_, err = tx.ExecContext(ctx, `SELECT pg_sleep(5)`)
		wantDefaultDeadline(t, fmt.Sprint(seq), err, "300ms")
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%v: %v", seq, d)
		}
		tx.Rollback()
		_, err = db.ExecContext(ctx, `SELECT pg_sleep(5)`)
		wantDefaultDeadline(t, fmt.Sprint(seq)+" after", err, "300ms")
	}
}

// 60 goroutines on 8 pooled connections, mixing deadlines: a statement
// without a deadline is always stopped at the default, and sees it; one
// under a later deadline never is. No lifted limit leaks to the next user
// of a connection.
func TestMixedDeadlinesOnPooledConnections(t *testing.T) {
	db, _ := newDB(t, "_timeout=250ms", "_max_open=8")
	ctx := context.Background()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := range 60 {
		wg.Go(func() {
			for i := range 6 {
				switch (g + i) % 4 {
				case 0: // long deadline, longer than default
					c, cancel := context.WithTimeout(ctx, 30*time.Second)
					_, err := db.ExecContext(c, `SELECT pg_sleep(0.35)`)
					cancel()
					if err != nil {
						bad.Add(1)
						t.Errorf("long: %v", err)
					}
				case 1: // no deadline, runs long: must be stopped
					start := time.Now()
					_, err := db.ExecContext(ctx, `SELECT pg_sleep(3)`)
					if !errors.Is(err, context.DeadlineExceeded) {
						bad.Add(1)
						t.Errorf("default: %v after %v", err, time.Since(start))
					}
				case 2: // long deadline in a transaction, then default
					c, cancel := context.WithTimeout(ctx, 30*time.Second)
					tx, err := db.BeginTx(c, nil)
					if err == nil {
						_, err = tx.ExecContext(c, `SELECT pg_sleep(0.3)`)
						if err == nil {
							_, err = tx.ExecContext(ctx, `SELECT pg_sleep(3)`)
							if !errors.Is(err, context.DeadlineExceeded) {
								bad.Add(1)
								t.Errorf("tx default: %v", err)
							}
						}
						tx.Rollback()
					}
					cancel()
				case 3: // no deadline: the session is under the default
					var s string
					if err := db.QueryRowContext(ctx, `SELECT current_setting('statement_timeout')`).Scan(&s); err != nil || s != "250ms" {
						bad.Add(1)
						t.Errorf("setting %q %v", s, err)
					}
				}
			}
		})
	}
	wg.Wait()
}
