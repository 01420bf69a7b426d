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
