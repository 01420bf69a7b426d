package qlsqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
	"github.com/quantumleap/qlsqlite"
)

// A program adopts qlsqlite by importing it and changing the driver name.
func Example() {
	dir, _ := os.MkdirTemp("", "qlsqlite")
	defer os.RemoveAll(dir)

	db, err := sql.Open("qlsqlite", "file:"+filepath.Join(dir, "trading.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	_, err = db.Exec(`CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT NOT NULL, price REAL NOT NULL)`)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range []float64{190.5, 191.25} {
		if _, err := db.Exec(`INSERT INTO trades (symbol, price) VALUES (?, ?)`, "AAPL", p); err != nil {
			log.Fatal(err)
		}
	}
	var n int
	var avg float64
	err = db.QueryRow(`SELECT count(*), avg(price) FROM trades WHERE symbol = ?`, "AAPL").Scan(&n, &avg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d trades, average %.3f\n", n, avg)
	// Output: 2 trades, average 190.875
}

// Open takes Go options; each has a DSN parameter twin.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "qlsqlite")
	defer os.RemoveAll(dir)

	db, err := qlsqlite.Open("file:"+filepath.Join(dir, "trading.db"),
		qlsqlite.WithTimeout(5*time.Second), // same as _timeout=5s
		qlsqlite.WithStmtCache(256),         // same as _stmt_cache=256
	)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		log.Fatal(err)
	}
	fmt.Println("journal mode:", mode)
	// Output: journal mode: wal
}

// A statement stopped by a deadline matches both the context's error and
// SQLite's.
func Example_deadline() {
	db, err := sql.Open("qlsqlite", "file:deadline.db?mode=memory&_timeout=10ms")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	_, err = db.Exec(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c`)
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, sqlite3.INTERRUPT))
	// Output: true true
}

// SQLite's online backup API is reached through sql.Conn.Raw, as with the
// raw ncruces driver.
func Example_backup() {
	dir, _ := os.MkdirTemp("", "qlsqlite")
	defer os.RemoveAll(dir)

	db, err := sql.Open("qlsqlite", "file:"+filepath.Join(dir, "trading.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (n); INSERT INTO t VALUES (42)`); err != nil {
		log.Fatal(err)
	}

	conn, err := db.Conn(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	backup := filepath.Join(dir, "backup.db")
	err = conn.Raw(func(dc any) error {
		return dc.(ncruces.Conn).Raw().Backup("main", backup)
	})
	if err != nil {
		log.Fatal(err)
	}

	copy, err := sql.Open("qlsqlite", "file:"+backup)
	if err != nil {
		log.Fatal(err)
	}
	defer copy.Close()
	var n int
	if err := copy.QueryRow(`SELECT n FROM t`).Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
	// Output: 42
}

// Savepoints nest inside a transaction, as with the raw ncruces driver.
func Example_savepoint() {
	db, err := sql.Open("qlsqlite", "file:savepoint.db?mode=memory")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		log.Fatal(err)
	}

	tx, err := db.Begin()
	if err != nil {
		log.Fatal(err)
	}
	tx.Exec(`INSERT INTO t VALUES (1)`)
	func() {
		err := errors.New("undo this part")
		sp := ncruces.Savepoint(tx)
		defer sp.Release(&err) // rolls back to the savepoint: err is not nil
		tx.Exec(`INSERT INTO t VALUES (2)`)
	}()
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	var sum int
	db.QueryRow(`SELECT sum(n) FROM t`).Scan(&sum)
	fmt.Println(sum)
	// Output: 1
}
