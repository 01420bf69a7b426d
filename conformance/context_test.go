package conformance_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// endless is a query that runs until it is interrupted.
const endless = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c`

func TestContext(t *testing.T) {
	conform(t, "already_cancelled", func(o *observer, db *sql.DB) {
		o.must(db.Ping())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := db.ExecContext(ctx, `SELECT 1`)
		o.seeErr("exec", err)
		_, err = db.QueryContext(ctx, `SELECT ?`, 1)
		o.seeErr("query", err)
		_, err = db.BeginTx(ctx, nil)
		o.seeErr("begin", err)
	})

	conform(t, "deadline_stops_a_statement", func(o *observer, db *sql.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		var n int64
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM (`+endless+`)`).Scan(&n)
		// Either database/sql reports ctx.Err() or SQLite its interruption,
		// on both drivers; qlsqlite's error always matches the deadline.
		o.see("stopped by the deadline: %v", errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sqlite3.INTERRUPT))
		if o.qlsqlite() && !errors.Is(err, context.DeadlineExceeded) {
			o.t.Errorf("qlsqlite: want an error matching context.DeadlineExceeded, got %v", err)
		}
		o.must(db.Ping())
		var one int
		o.seeErr("connection usable after", db.QueryRow(`SELECT 1`).Scan(&one))
	})

	conform(t, "cancel_during_iteration", func(o *observer, db *sql.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rows, err := db.QueryContext(ctx, endless)
		o.must(err)
		n := 0
		for rows.Next() {
			if n++; n == 1000 {
				cancel()
			}
		}
		// Either database/sql ends the rows with ctx.Err() or SQLite reports
		// the interruption first, on both drivers; qlsqlite's error always
		// matches context.Canceled.
		o.see("stopped: %v", n >= 1000)
		err = rows.Err()
		o.see("rows.Err is a cancellation: %v", errors.Is(err, context.Canceled) || errors.Is(err, sqlite3.INTERRUPT))
		if o.qlsqlite() && !errors.Is(rows.Err(), context.Canceled) {
			o.t.Errorf("qlsqlite: want an error matching context.Canceled, got %v", rows.Err())
		}
		o.must(rows.Close())
		var one int
		o.seeErr("connection usable after", db.QueryRow(`SELECT 1`).Scan(&one))
	})
}
