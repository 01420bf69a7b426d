package conformance_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrency shares one *sql.DB among 64 goroutines.
func TestConcurrency(t *testing.T) {
	const goroutines, perGoroutine = 64, 8
	conform(t, "64_goroutines", func(o *observer, db *sql.DB) {
		ctx := context.Background()
		_, err := db.Exec(`CREATE TABLE acct (id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER NOT NULL)`)
		o.must(err)
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				for i := range perGoroutine {
					owner := fmt.Sprintf("g%02d", g)
					if _, err := db.ExecContext(ctx, `INSERT INTO acct (owner, balance) VALUES (?, ?)`, owner, i); err != nil {
						errs <- err
						return
					}
					var n int
					if err := db.QueryRowContext(ctx, `SELECT count(*) FROM acct WHERE owner = ?`, owner).Scan(&n); err != nil {
						errs <- err
						return
					}
					if n != i+1 {
						errs <- fmt.Errorf("%s sees %d rows after its insert %d", owner, n, i+1)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			o.t.Error(err)
		}
		rows, err := db.Query(`SELECT count(*), sum(balance), count(DISTINCT owner) FROM acct`)
		o.seeRows("totals", rows, err)
	})
}

// TestConcurrencyOwnConnection has 64 goroutines insert on connections of
// their own (*sql.Conn) at once: each insert's LastInsertId names the row it
// inserted, and last_insert_rowid() on its connection says the same (with
// group commit the insert may have run on another goroutine's connection).
func TestConcurrencyOwnConnection(t *testing.T) {
	const goroutines, perGoroutine = 64, 8
	conform(t, "64_goroutines_own_connection", func(o *observer, db *sql.DB) {
		ctx := context.Background()
		_, err := db.Exec(`CREATE TABLE acct (id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER NOT NULL)`)
		o.must(err)
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				conn, err := db.Conn(ctx)
				if err != nil {
					errs <- err
					return
				}
				defer conn.Close()
				owner := fmt.Sprintf("g%02d", g)
				for i := range perGoroutine {
					res, err := conn.ExecContext(ctx, `INSERT INTO acct (owner, balance) VALUES (?, ?)`, owner, i)
					if err != nil {
						errs <- err
						return
					}
					id, err := res.LastInsertId()
					if err != nil {
						errs <- err
						return
					}
					var last int64
					var who string
					var balance int
					if err := conn.QueryRowContext(ctx, `SELECT last_insert_rowid()`).Scan(&last); err != nil {
						errs <- err
						return
					}
					if err := conn.QueryRowContext(ctx, `SELECT owner, balance FROM acct WHERE id = ?`, id).Scan(&who, &balance); err != nil {
						errs <- fmt.Errorf("%s insert %d: row %d: %w", owner, i, id, err)
						return
					}
					if last != id || who != owner || balance != i {
						errs <- fmt.Errorf("%s insert %d: LastInsertId %d, last_insert_rowid() %d, the row holds %s %d", owner, i, id, last, who, balance)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			o.t.Error(err)
		}
		rows, err := db.Query(`SELECT count(*), sum(balance), count(DISTINCT owner) FROM acct`)
		o.seeRows("totals", rows, err)
	})
}
