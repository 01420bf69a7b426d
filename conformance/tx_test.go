package conformance_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	ncruces "github.com/ncruces/go-sqlite3/driver"
)

func TestTransactions(t *testing.T) {
	ctx := context.Background()

	conform(t, "commit_and_rollback", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE a (n)`)
		o.must(err)
		tx, err := db.Begin()
		o.must(err)
		res, err := tx.Exec(`INSERT INTO a VALUES (?)`, 1)
		o.seeResult("in tx", res, err)
		o.seeErr("rollback", tx.Rollback())
		o.seeErr("rollback again", tx.Rollback())
		tx, err = db.Begin()
		o.must(err)
		_, err = tx.Exec(`INSERT INTO a VALUES (?)`, 2)
		o.must(err)
		rows, err := tx.Query(`SELECT n FROM a`)
		o.seeRows("inside", rows, err)
		o.seeErr("commit", tx.Commit())
		o.seeErr("commit again", tx.Commit())
		rows, err = db.Query(`SELECT n FROM a`)
		o.seeRows("after", rows, err)
	})

	conform(t, "read_only", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE r (n); INSERT INTO r VALUES (1)`)
		o.must(err)
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		o.seeErr("begin read-only", err)
		var n int
		o.seeErr("read", tx.QueryRow(`SELECT n FROM r`).Scan(&n))
		_, err = tx.Exec(`INSERT INTO r VALUES (?)`, 2)
		o.seeErr("write in read-only", err)
		_, err = tx.Exec(`UPDATE r SET n = 3`)
		o.seeErr("write in read-only without args", err)
		o.seeErr("commit", tx.Commit())
		db.SetMaxOpenConns(1) // the next write must reuse the same connection
		res, err := db.Exec(`INSERT INTO r VALUES (?)`, 4)
		o.seeResult("write after read-only", res, err)
	})

	conform(t, "isolation_levels", func(o *observer, db *sql.DB) {
		for _, level := range []sql.IsolationLevel{
			sql.LevelDefault, sql.LevelReadUncommitted, sql.LevelReadCommitted, sql.LevelWriteCommitted,
			sql.LevelRepeatableRead, sql.LevelSnapshot, sql.LevelSerializable, sql.LevelLinearizable,
		} {
			tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: level})
			o.seeErr("begin "+level.String(), err)
			if err == nil {
				o.seeErr("rollback "+level.String(), tx.Rollback())
			}
		}
	})

	conformDSN(t, "txlock_param", "?_txlock=exclusive", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE x (n)`)
		o.must(err)
		tx, err := db.Begin()
		o.must(err)
		// An exclusive transaction holds the lock: a second connection's write
		// fails at once when its context is already cancelled.
		c2, err := db.Conn(ctx)
		o.must(err)
		defer c2.Close()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = c2.ExecContext(cctx, `INSERT INTO x VALUES (1)`)
		o.seeErrCodes("write from another connection with a cancelled context", err)
		if o.qlsqlite() && !errors.Is(err, context.Canceled) {
			o.t.Errorf("qlsqlite: want an error matching context.Canceled, got %v", err)
		}
		o.seeErr("commit", tx.Commit())
	})

	conform(t, "savepoints", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE s (n)`)
		o.must(err)
		tx, err := db.Begin()
		o.must(err)
		_, err = tx.Exec(`INSERT INTO s VALUES (1)`)
		o.must(err)
		func() {
			var err error
			sp := ncruces.Savepoint(tx)
			defer sp.Release(&err)
			_, err = tx.Exec(`INSERT INTO s VALUES (?)`, 2)
			o.must(err)
			func() {
				var err error
				inner := ncruces.Savepoint(tx)
				defer inner.Release(&err)
				_, err = tx.Exec(`INSERT INTO s VALUES (?)`, 3)
				o.must(err)
				_, err = tx.Exec(`INSERT INTO nope VALUES (?)`, 4) // fails: rolls back to inner
				o.seeErr("inner failure", err)
			}()
		}()
		o.seeErr("commit", tx.Commit())
		rows, err := db.Query(`SELECT n FROM s ORDER BY n`)
		o.seeRows("after savepoints", rows, err)
	})

	conform(t, "manual_begin_on_conn", func(o *observer, db *sql.DB) {
		c, err := db.Conn(ctx)
		o.must(err)
		defer c.Close()
		_, err = c.ExecContext(ctx, `CREATE TABLE m (n); BEGIN; INSERT INTO m VALUES (1)`)
		o.seeErr("begin by hand", err)
		_, err = c.ExecContext(ctx, `INSERT INTO m VALUES (?)`, 2)
		o.seeErr("insert in hand-made tx", err)
		_, err = c.ExecContext(ctx, `ROLLBACK`)
		o.seeErr("rollback by hand", err)
		rows, err := c.QueryContext(ctx, `SELECT count(*) FROM m`)
		o.seeRows("after rollback", rows, err)
	})

	conform(t, "two_open_rows_same_sql", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE q (n); INSERT INTO q VALUES (1), (2), (3)`)
		o.must(err)
		tx, err := db.Begin()
		o.must(err)
		defer tx.Rollback()
		const query = `SELECT n FROM q WHERE n >= ? ORDER BY n`
		r1, err := tx.Query(query, 1)
		o.must(err)
		r2, err := tx.Query(query, 2)
		o.must(err)
		for r1.Next() {
			var a int
			o.must(r1.Scan(&a))
			if r2.Next() {
				var b int
				o.must(r2.Scan(&b))
				o.see("pair %d %d", a, b)
			} else {
				o.see("pair %d -", a)
			}
		}
		o.seeErr("r1", r1.Err())
		o.seeErr("r2", r2.Err())
		o.must(r1.Close())
		o.must(r2.Close())
		rows, err := tx.Query(query, 3)
		o.seeRows("again", rows, err)
	})
}
