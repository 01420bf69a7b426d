package qlsqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/quantumleap/qlsqlite"
)

// adviseExampleDB creates a database of 2000 orders, without indexes, in a
// temporary directory.
func adviseExampleDB() (*sql.DB, func()) {
	dir, err := os.MkdirTemp("", "qlsqlite-advise")
	if err != nil {
		log.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(filepath.Join(dir, "shop.db")))
	if err != nil {
		log.Fatal(err)
	}
	_, err = db.Exec(`
		CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, status TEXT, placed TEXT, total REAL, note TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		INSERT INTO orders (customer, status, placed, total)
		SELECT i % 400, iif(i % 50 = 0, 'open', 'closed'), printf('2025-01-01 %02d:%02d', i / 60 % 24, i % 60), i * 1.5 FROM n;`)
	if err != nil {
		log.Fatal(err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

func ExampleAdvise() {
	db, cleanup := adviseExampleDB()
	defer cleanup()

	advice, err := qlsqlite.Advise(context.Background(), db,
		`SELECT * FROM orders WHERE status = 'open' ORDER BY placed LIMIT 10`,
		`SELECT total FROM orders WHERE customer = ?`)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range advice {
		fmt.Println(a.CreateSQL)
		for _, p := range a.Plans {
			fmt.Printf("%s\nbefore:\n%s\nafter:\n%s\n", p.Query, p.Before, p.After)
		}
	}
	// Output:
	// CREATE INDEX IF NOT EXISTS "idx_orders_customer_total" ON "orders" ("customer", "total")
	// SELECT total FROM orders WHERE customer = ?
	// before:
	// `--SCAN orders
	// after:
	// `--SEARCH orders USING COVERING INDEX idx_orders_customer_total (customer=?)
	// CREATE INDEX IF NOT EXISTS "idx_orders_status_placed" ON "orders" ("status", "placed")
	// SELECT * FROM orders WHERE status = 'open' ORDER BY placed LIMIT 10
	// before:
	// |--SCAN orders
	// `--USE TEMP B-TREE FOR ORDER BY
	// after:
	// `--SEARCH orders USING INDEX idx_orders_status_placed (status=?)
}

func ExampleApplyAdvice() {
	db, cleanup := adviseExampleDB()
	defer cleanup()
	ctx := context.Background()

	advice, err := qlsqlite.Advise(ctx, db, `SELECT * FROM orders WHERE customer = ?`)
	if err != nil {
		log.Fatal(err)
	}
	if err := qlsqlite.ApplyAdvice(ctx, db, advice...); err != nil {
		log.Fatal(err)
	}
	var id, parent, notUsed int
	var detail string
	err = db.QueryRow(`EXPLAIN QUERY PLAN SELECT * FROM orders WHERE customer = 7`).Scan(&id, &parent, &notUsed, &detail)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(detail)
	// Output:
	// SEARCH orders USING INDEX idx_orders_customer (customer=?)
}

func ExampleAuditIndexes() {
	db, cleanup := adviseExampleDB()
	defer cleanup()
	_, err := db.Exec(`
		CREATE INDEX orders_customer ON orders (customer);
		CREATE INDEX orders_customer_placed ON orders (customer, placed);
		CREATE INDEX orders_status ON orders (status);`)
	if err != nil {
		log.Fatal(err)
	}

	audit, err := qlsqlite.AuditIndexes(context.Background(), db, qlsqlite.AuditInput{
		Queries: []string{`SELECT * FROM orders WHERE customer = ? ORDER BY placed`},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, i := range audit.Unused {
		fmt.Println("unused:", i.Index, "-", i.DropSQL)
	}
	for _, i := range audit.Redundant {
		fmt.Println("redundant:", i.Index, "served by", i.CoveredBy, "-", i.DropSQL)
	}
	for _, s := range audit.Statistics {
		fmt.Println("statistics of", s.Table, "stale:", s.Stale, "-", s.Fix)
	}
	// Output:
	// unused: orders_customer - DROP INDEX IF EXISTS "orders_customer"
	// unused: orders_status - DROP INDEX IF EXISTS "orders_status"
	// redundant: orders_customer served by orders_customer_placed - DROP INDEX IF EXISTS "orders_customer"
	// statistics of orders stale: false - ANALYZE "orders"
}
