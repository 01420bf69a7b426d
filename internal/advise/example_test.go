package advise_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/quantumleap/qlsqlite/internal/advise"
)

// exampleDB creates a database of 2000 orders in a temporary directory.
func exampleDB() (db *sql.DB, cleanup func()) {
	dir, err := os.MkdirTemp("", "advise-example")
	if err != nil {
		log.Fatal(err)
	}
	db, err = sql.Open("sqlite3", "file:"+filepath.ToSlash(filepath.Join(dir, "example.db")))
	if err != nil {
		log.Fatal(err)
	}
	_, err = db.Exec(`
		CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, status TEXT, placed TEXT, total REAL);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		INSERT INTO orders (customer, status, placed, total)
		SELECT i % 400, iif(i % 50 = 0, 'open', 'closed'), printf('2025-01-01 %02d:%02d', i / 60 % 24, i % 60), i * 1.5 FROM n;`)
	if err != nil {
		log.Fatal(err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

func ExampleAnalyze() {
	db, cleanup := exampleDB()
	defer cleanup()

	rep, err := advise.Analyze(context.Background(), db, []advise.Query{
		{SQL: `SELECT * FROM orders WHERE customer = ? ORDER BY placed DESC LIMIT 20`},
		{SQL: `SELECT * FROM orders WHERE customer = :customer`},
	}, advise.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range rep.Advice {
		fmt.Println(a.CreateSQL)
		for _, q := range a.Queries {
			fmt.Printf("%s\nbefore:\n%s\nafter:\n%s\n", q.SQL, q.Before, q.After)
		}
	}
	// Output:
	// CREATE INDEX IF NOT EXISTS "idx_orders_customer_placed" ON "orders" ("customer", "placed")
	// SELECT * FROM orders WHERE customer = ? ORDER BY placed DESC LIMIT 20
	// before:
	// |--SCAN orders
	// `--USE TEMP B-TREE FOR ORDER BY
	// after:
	// `--SEARCH orders USING INDEX idx_orders_customer_placed (customer=?)
	// SELECT * FROM orders WHERE customer = :customer
	// before:
	// `--SCAN orders
	// after:
	// `--SEARCH orders USING INDEX idx_orders_customer_placed (customer=?)
}

func ExampleAuditIndexes() {
	db, cleanup := exampleDB()
	defer cleanup()
	_, err := db.Exec(`
		CREATE INDEX orders_customer ON orders (customer);
		CREATE INDEX orders_customer_placed ON orders (customer, placed);
		CREATE INDEX orders_status ON orders (status);`)
	if err != nil {
		log.Fatal(err)
	}

	audit, err := advise.AuditIndexes(context.Background(), db, nil,
		[]string{`SELECT * FROM orders WHERE customer = ? ORDER BY placed`}, advise.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, i := range audit.Unused {
		fmt.Println("unused:", i.Index, "fix:", i.DropSQL)
	}
	for _, i := range audit.Redundant {
		fmt.Println("redundant:", i.Index, "served by", i.CoveredBy, "fix:", i.DropSQL)
	}
	for _, s := range audit.Stats {
		fmt.Println("statistics", s.Problem, "for", s.Table, "fix:", s.Fix)
	}
	// Output:
	// unused: orders_customer fix: DROP INDEX IF EXISTS "orders_customer"
	// unused: orders_status fix: DROP INDEX IF EXISTS "orders_status"
	// redundant: orders_customer served by orders_customer_placed fix: DROP INDEX IF EXISTS "orders_customer"
	// statistics missing for orders fix: ANALYZE "orders"
}

func ExamplePlan_String() {
	db, cleanup := exampleDB()
	defer cleanup()

	p, err := advise.Explain(context.Background(), db,
		`SELECT status, count(*) FROM orders WHERE customer IN (SELECT customer FROM orders WHERE total > ?) GROUP BY status`)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p)
	// Output:
	// |--SCAN orders
	// |--LIST SUBQUERY 1
	// |  |--SCAN orders
	// |  `--CREATE BLOOM FILTER
	// `--USE TEMP B-TREE FOR GROUP BY
}
