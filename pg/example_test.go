package pg_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/pg"
)

// A program opens PostgreSQL through qlpg, runs its transactions through
// qlsqlite.RunTx (re-run on serialization failures), and reads the same
// statistics and error classes as on SQLite.
func Example() {
	dsn := exampleDSN() // postgres://app@db1:5432,db2:5432/trading?target_session_attrs=read-write&_timeout=5s
	db, err := sql.Open(pg.DriverName, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	db.ExecContext(ctx, `CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL)`)
	db.ExecContext(ctx, `INSERT INTO accounts VALUES (1, 100), (2, 0)`)

	err = qlsqlite.RunTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance - $1 WHERE id = $2`, 30, 1); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance + $1 WHERE id = $2`, 30, 2)
		return err
	})
	fmt.Println("transfer:", err)

	_, err = db.ExecContext(ctx, `INSERT INTO accounts VALUES (1, 0)`)
	var pgErr *pgconn.PgError
	fmt.Println("duplicate:", qlsqlite.Classify(err).String(), errors.As(err, &pgErr), pgErr.Code)

	snap, _ := qlsqlite.Stats(db)
	for _, q := range snap.Queries {
		if q.Fingerprint.Text == "UPDATE accounts SET balance = balance - ? WHERE id = ?" {
			fmt.Println("calls:", q.Calls)
		}
	}
	// Output:
	// transfer: <nil>
	// duplicate: integrity true 23505
	// calls: 1
}

// exampleDSN is a fresh database on the server the tests started.
func exampleDSN() string { return pg.TestingDSN() }
