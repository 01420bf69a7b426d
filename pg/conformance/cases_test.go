package conformance_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestValues(t *testing.T) {
	conform(t, "scalars", func(o *observer, db *sql.DB) {
		rows, err := db.Query(`SELECT 1::int2, 2::int4, 3::int8, 1.5::float4, 2.25::float8, 12.345::numeric(10,3),
			'text'::text, 'vc'::varchar(10), 'x'::char(3), '\x00ff'::bytea, true, NULL::int,
			'2026-06-30 12:34:56.789+00'::timestamptz, '2026-06-30 12:34:56'::timestamp, '2026-06-30'::date,
			'{"a": [1, 2]}'::jsonb, '00000000-0000-0000-0000-000000000001'::uuid, ARRAY[1, 2, 3], interval '1 day 2 hours'`)
		o.seeRows("select", rows, err)
	})
	conform(t, "arguments_round_trip", func(o *observer, db *sql.DB) {
		at := time.Date(2026, 6, 30, 12, 0, 0, 123456000, time.UTC)
		rows, err := db.Query(`SELECT $1::int8, $2::float8, $3::text, $4::bytea, $5::bool, $6::timestamptz, $7::text, $8::numeric`,
			int64(-7), 3.5, "héllo", []byte{0, 1, 2}, true, at, nil, "1.25")
		o.seeRows("select", rows, err)
	})
	conform(t, "table_round_trip", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE t (id serial PRIMARY KEY, name text, score float8, at timestamptz)`)
		o.must(err)
		res, err := db.Exec(`INSERT INTO t (name, score, at) VALUES ($1, $2, $3), ($4, $5, $6)`, "a", 1.5, time.Unix(0, 0).UTC(), "b", nil, nil)
		o.seeResult("insert", res, err)
		res, err = db.Exec(`UPDATE t SET score = coalesce(score, 0) + 1`)
		o.seeResult("update", res, err)
		rows, err := db.Query(`SELECT id, name, score, at FROM t ORDER BY id`)
		o.seeRows("select", rows, err)
		var name string
		o.seeErr("no rows", db.QueryRow(`SELECT name FROM t WHERE id = $1`, 99).Scan(&name))
	})
	conform(t, "named_arguments", func(o *observer, db *sql.DB) {
		var n int
		o.seeErr("named", db.QueryRow(`SELECT $1::int`, sql.Named("n", 1)).Scan(&n))
	})
}

func TestErrors(t *testing.T) {
	conform(t, "constraints", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE p (id int PRIMARY KEY);
			CREATE TABLE c (id int PRIMARY KEY, p int REFERENCES p(id), v int NOT NULL CHECK (v > 0))`)
		o.must(err)
		_, err = db.Exec(`INSERT INTO p VALUES (1)`)
		o.must(err)
		_, err = db.Exec(`INSERT INTO p VALUES (1)`)
		o.seeErr("unique", err)
		_, err = db.Exec(`INSERT INTO c VALUES (1, 2, 1)`)
		o.seeErr("foreign key", err)
		_, err = db.Exec(`INSERT INTO c VALUES (1, 1, NULL)`)
		o.seeErr("not null", err)
		_, err = db.Exec(`INSERT INTO c VALUES (1, 1, -1)`)
		o.seeErr("check", err)
	})
	conform(t, "statements", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`SELEC 1`)
		o.seeErr("syntax", err)
		_, err = db.Query(`SELECT nope FROM nowhere`)
		o.seeErr("unknown table", err)
		_, err = db.Exec(`SELECT $1::int`, "x")
		o.seeErr("bad argument", err)
		_, err = db.Exec(`SELECT $1::int`)
		o.seeErr("missing argument", err)
		rows, err := db.Query(`SELECT 1/(g - 3) FROM generate_series(1, 5) g`)
		o.seeRows("error during iteration", rows, err)
	})
}

func TestTransactions(t *testing.T) {
	conform(t, "commit_and_rollback", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE t (id int PRIMARY KEY)`)
		o.must(err)
		tx, err := db.Begin()
		o.must(err)
		_, err = tx.Exec(`INSERT INTO t VALUES (1)`)
		o.must(err)
		o.seeErr("commit", tx.Commit())
		o.seeErr("commit again", tx.Commit())
		tx, err = db.Begin()
		o.must(err)
		_, err = tx.Exec(`INSERT INTO t VALUES (2)`)
		o.must(err)
		o.seeErr("rollback", tx.Rollback())
		rows, err := db.Query(`SELECT id FROM t ORDER BY id`)
		o.seeRows("after", rows, err)
	})
	conform(t, "failed_transaction", func(o *observer, db *sql.DB) {
		tx, err := db.Begin()
		o.must(err)
		_, err = tx.Exec(`SELEC 1`)
		o.seeErr("error", err)
		_, err = tx.Exec(`SELECT 1`)
		o.seeErr("after the error", err)
		o.seeErr("commit", tx.Commit())
	})
	conform(t, "options", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE t (id int)`)
		o.must(err)
		ctx := context.Background()
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		o.must(err)
		_, err = tx.Exec(`INSERT INTO t VALUES (1)`)
		o.seeErr("write in read-only", err)
		tx.Rollback()
		for _, level := range []sql.IsolationLevel{sql.LevelReadCommitted, sql.LevelRepeatableRead, sql.LevelSerializable, sql.LevelLinearizable} {
			tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: level})
			if err != nil {
				o.seeErr(level.String(), err)
				continue
			}
			var iso string
			o.must(tx.QueryRow(`SHOW transaction_isolation`).Scan(&iso))
			o.see("%s: %s", level, iso)
			o.must(tx.Rollback())
		}
	})
	conform(t, "savepoints", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE t (id int PRIMARY KEY)`)
		o.must(err)
		tx, err := db.Begin()
		o.must(err)
		for _, s := range []string{`INSERT INTO t VALUES (1)`, `SAVEPOINT a`, `INSERT INTO t VALUES (1)`} {
			_, err = tx.Exec(s)
			o.seeErr(s, err)
		}
		for _, s := range []string{`ROLLBACK TO SAVEPOINT a`, `INSERT INTO t VALUES (2)`} {
			_, err = tx.Exec(s)
			o.seeErr(s, err)
		}
		o.seeErr("commit", tx.Commit())
		rows, err := db.Query(`SELECT id FROM t ORDER BY id`)
		o.seeRows("after", rows, err)
	})
}

func TestPrepared(t *testing.T) {
	conform(t, "reuse", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE t (id int PRIMARY KEY, v text)`)
		o.must(err)
		ins, err := db.Prepare(`INSERT INTO t VALUES ($1, $2)`)
		o.must(err)
		defer ins.Close()
		for i := range 3 {
			res, err := ins.Exec(i, "v")
			o.seeResult("insert", res, err)
		}
		_, err = ins.Exec(1, "dup")
		o.seeErr("duplicate", err)
		sel, err := db.Prepare(`SELECT v FROM t WHERE id = $1`)
		o.must(err)
		defer sel.Close()
		var v string
		o.seeErr("select", sel.QueryRow(2).Scan(&v))
		o.see("value %q", v)
		o.seeErr("wrong arity", sel.QueryRow(1, 2).Scan(&v))
		_, err = db.Prepare(`SELEC`)
		o.seeErr("bad prepare", err)
	})
}

func TestContext(t *testing.T) {
	conform(t, "already_cancelled", func(o *observer, db *sql.DB) {
		o.must(db.Ping())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := db.ExecContext(ctx, `SELECT 1`)
		o.seeErr("exec", err)
		_, err = db.QueryContext(ctx, `SELECT $1::int`, 1)
		o.seeErr("query", err)
		_, err = db.BeginTx(ctx, nil)
		o.seeErr("begin", err)
	})
	conform(t, "deadline_stops_a_statement", func(o *observer, db *sql.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := db.ExecContext(ctx, `SELECT pg_sleep(10)`)
		o.see("stopped by the deadline: %v", err != nil)
		if o.qlpg() && !errors.Is(err, context.DeadlineExceeded) {
			o.t.Errorf("qlpg: want an error matching context.DeadlineExceeded, got %v", err)
		}
		var one int
		o.seeErr("usable after", db.QueryRow(`SELECT 1`).Scan(&one))
	})
}

func TestConcurrency(t *testing.T) {
	conform(t, "many_goroutines", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL)`)
		o.must(err)
		var wg sync.WaitGroup
		errs := make([]error, 16)
		for g := range 16 {
			wg.Go(func() {
				for i := range 25 {
					if _, err := db.Exec(`INSERT INTO t VALUES ($1, $2)`, g*100+i, i); err != nil {
						errs[g] = err
						return
					}
				}
			})
		}
		wg.Wait()
		o.seeErr("inserts", errors.Join(errs...))
		var n, sum int
		o.must(db.QueryRow(`SELECT count(*), sum(n) FROM t`).Scan(&n, &sum))
		o.see("%d rows, sum %d", n, sum)
	})
}
