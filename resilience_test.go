package qlsqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// TestThousandGoroutines runs 1000 goroutines against one WAL file: money
// transfers through RunTx mixed with autocommit trade inserts. No BUSY or
// LOCKED reaches a caller, money is neither made nor lost, and every
// acknowledged insert is there. The busy timeout is 0, so that nothing but
// qlsqlite's writer gate stands between the writers of the process: without
// it they meet in SQLite's lock and lose races (retried, and failing once
// the retries run out); with it, not one statement or BEGIN is retried.
func TestThousandGoroutines(t *testing.T) {
	const goroutines, accounts, opsEach = 1000, 50, 4
	var retries atomic.Int32
	db, err := Open("file:"+filepath.Join(t.TempDir(), "bank.db")+"?_pragma=busy_timeout(0)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)",
		withRetryHook(func(error) { retries.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(64)
	if _, err := db.Exec(`
		CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
		CREATE TABLE trades (id INTEGER PRIMARY KEY, acct INTEGER NOT NULL REFERENCES acct(id), qty INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i := range accounts {
		if _, err := db.Exec(`INSERT INTO acct VALUES (?, 1000)`, i); err != nil {
			t.Fatal(err)
		}
	}
	acked, errs := bankWorkload(t, db, goroutines, accounts, opsEach)
	for _, err := range errs {
		if errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED) {
			t.Errorf("lock contention reached a caller: %v", err)
		} else {
			t.Errorf("unexpected: %v", err)
		}
	}
	if n := retries.Load(); n != 0 {
		t.Errorf("%d statements lost a race for the lock within the process", n)
	}
	checkBank(t, db, accounts, acked)
}

// With deferred transactions (each starts as a reader and upgrades at its
// first write), 400 goroutines of RunTx transfers beside autocommit inserts:
// no BUSY or LOCKED reaches a caller, money is conserved and every
// acknowledged insert is there. A deferred transaction that lost the race
// is run again as a writer.
func TestDeferredTransactionsNeverSurfaceBusy(t *testing.T) {
	const goroutines, accounts, opsEach = 400, 20, 3
	db, err := Open("file:" + filepath.Join(t.TempDir(), "bank.db") + "?_txlock=deferred")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(32)
	if _, err := db.Exec(`
		CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
		CREATE TABLE trades (id INTEGER PRIMARY KEY, acct INTEGER NOT NULL, qty INTEGER NOT NULL);
		WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < 19) INSERT INTO acct SELECT n, 1000 FROM s`); err != nil {
		t.Fatal(err)
	}
	acked, errs := bankWorkload(t, db, goroutines, accounts, opsEach)
	for _, err := range errs {
		if errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED) {
			t.Errorf("lock contention reached a caller: %v", err)
		} else {
			t.Errorf("unexpected: %v", err)
		}
	}
	checkBank(t, db, accounts, acked)
}

// bankWorkload runs goroutines that each do opsEach operations: half money
// transfers through RunTx (read a balance, then two UPDATEs), half
// autocommit trade inserts. It returns the ids of the acknowledged inserts
// and every error a caller got.
func bankWorkload(t *testing.T, db *sql.DB, goroutines, accounts, opsEach int) (acked []int64, errs []error) {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range opsEach {
				if r.IntN(2) == 0 {
					from, to, amount := r.IntN(accounts), r.IntN(accounts), 1+r.IntN(20)
					err := RunTx(ctx, db, nil, func(tx *sql.Tx) error {
						var bal int
						if err := tx.QueryRow(`SELECT balance FROM acct WHERE id = ?`, from).Scan(&bal); err != nil {
							return err
						}
						if bal < amount {
							return nil // not enough money: nothing to do
						}
						if _, err := tx.Exec(`UPDATE acct SET balance = balance - ? WHERE id = ?`, amount, from); err != nil {
							return err
						}
						_, err := tx.Exec(`UPDATE acct SET balance = balance + ? WHERE id = ?`, amount, to)
						return err
					})
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("transfer: %w", err))
						mu.Unlock()
					}
					continue
				}
				res, err := db.ExecContext(ctx, `INSERT INTO trades (acct, qty) VALUES (?, ?)`, r.IntN(accounts), 1+r.IntN(100))
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("insert: %w", err))
				} else {
					id, _ := res.LastInsertId()
					acked = append(acked, id)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return acked, errs
}

// checkBank checks that the accounts still hold 1000 each in total and that
// the trades table holds exactly the acknowledged inserts.
func checkBank(t *testing.T, db *sql.DB, accounts int, acked []int64) {
	t.Helper()
	var total, n int64
	if err := db.QueryRow(`SELECT sum(balance) FROM acct`).Scan(&total); err != nil || total != int64(accounts)*1000 {
		t.Errorf("total balance %d (%v), want %d", total, err, accounts*1000)
	}
	if err := db.QueryRow(`SELECT count(*) FROM trades`).Scan(&n); err != nil || n != int64(len(acked)) {
		t.Errorf("%d trades in the table, %d acknowledged (%v)", n, len(acked), err)
	}
	missing := 0
	for _, id := range acked {
		var one int
		if err := db.QueryRow(`SELECT 1 FROM trades WHERE id = ?`, id).Scan(&one); err != nil {
			missing++
		}
	}
	if missing > 0 || len(acked) == 0 {
		t.Errorf("%d of %d acknowledged inserts missing", missing, len(acked))
	}
}

// child returns a command running this test binary as the child process
// mode (see runChild) on the database at path.
func child(path, mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "QLSQLITE_CHILD="+mode, "QLSQLITE_DB="+path)...)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestCrashDurability kills a child process inserting in a loop with
// SIGKILL at 20 random points. After each, the database passes
// integrity_check and holds every row the child reported as committed.
func TestCrashDurability(t *testing.T) { crashDurability(t, "insert-loop") }

// crashDurability is TestCrashDurability for the child process mode. A
// child that says "grouped" committed a group of several statements: in
// mode "group-loop", most rounds must.
func crashDurability(t *testing.T, mode string) {
	path := filepath.Join(t.TempDir(), "crash.db")
	r := rand.New(rand.NewPCG(42, 7))
	reported := map[int64]bool{}
	groupedRounds := 0
	for round := range 20 {
		cmd := child(path, mode)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		killAt := 1 + r.IntN(200) // commits to see before the kill
		seen := 0
		for lines.Scan() {
			if lines.Text() == "grouped" {
				groupedRounds++
				continue
			}
			id, err := strconv.ParseInt(lines.Text(), 10, 64)
			if err != nil {
				t.Fatalf("round %d: child said %q", round, lines.Text())
			}
			reported[id] = true
			if seen++; seen == killAt {
				cmd.Process.Kill() // SIGKILL, mid-write most likely
			}
		}
		cmd.Wait()
		if seen < killAt {
			t.Fatalf("round %d: the child stopped after %d commits on its own", round, seen)
		}

		db, err := sql.Open("sqlite3", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		var check string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
			t.Fatalf("round %d: integrity_check %q %v", round, check, err)
		}
		ids := map[int64]bool{}
		rows, err := db.Query(`SELECT id FROM log`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids[id] = true
		}
		rows.Close()
		db.Close()
		for id := range reported {
			if !ids[id] {
				t.Fatalf("round %d: row %d was reported committed and is gone", round, id)
			}
		}
	}
	if len(reported) < 20 {
		t.Errorf("only %d commits reported over 20 rounds", len(reported))
	}
	if mode == "group-loop" && groupedRounds < 10 {
		t.Errorf("a group of several statements committed in %d rounds of 20: the kills hit lone writers", groupedRounds)
	}
}

// TestTwoProcesses has two processes write the same file at once: both
// finish without errors (busy timeout and retries between processes).
func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	const n = 300
	cmds := []*exec.Cmd{
		child(path, "insert-n", "QLSQLITE_N="+strconv.Itoa(n), "QLSQLITE_TAG=a"),
		child(path, "insert-n", "QLSQLITE_N="+strconv.Itoa(n), "QLSQLITE_TAG=b"),
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v", i, err)
		}
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tag := range []string{"a", "b"} {
		var got int
		if err := db.QueryRow(`SELECT count(*) FROM log WHERE tag = ?`, tag).Scan(&got); err != nil || got != n {
			t.Errorf("process %s wrote %d rows (%v), want %d", tag, got, err, n)
		}
	}
}
