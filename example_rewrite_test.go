package qlsqlite_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/quantumleap/qlsqlite"
)

func ExampleRewrite() {
	db, cleanup := adviseExampleDB() // 2000 orders
	defer cleanup()
	if _, err := db.Exec(`CREATE INDEX idx_orders_placed ON orders(placed)`); err != nil {
		log.Fatal(err)
	}

	// placed is text such as '2025-01-01 13:20'; LIKE is case-insensitive,
	// and the index is BINARY, so SQLite's own LIKE optimisation does not
	// apply: it scans.
	rs, err := qlsqlite.Rewrite(context.Background(), db,
		`SELECT id, total FROM orders WHERE placed LIKE '2025-01-01 13:%'`)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs {
		fmt.Println(r.Rule, "verified:", r.Verified)
		fmt.Println(r.SQL)
		fmt.Printf("before:\n%s\nafter:\n%s\n", strings.Join(r.Before, "\n"), strings.Join(r.After, "\n"))
	}
	// Output:
	// like-prefix verified: true
	// SELECT id, total FROM orders WHERE (placed >= '2025-01-01 13:' AND placed < '2025-01-01 13;') AND placed LIKE '2025-01-01 13:%'
	// before:
	// `--SCAN orders
	// after:
	// `--SEARCH orders USING INDEX idx_orders_placed (placed>? AND placed<?)
}

func ExampleRewritesByFingerprint() {
	db, cleanup := adviseExampleDB()
	defer cleanup()
	if _, err := db.Exec(`CREATE INDEX idx_orders_placed ON orders(placed)`); err != nil {
		log.Fatal(err)
	}
	// Per order, other orders of the same customer placed at the same time:
	// a correlated IN, which SQLite runs again for every row.
	fp := qlsqlite.FingerprintOf(`SELECT id FROM orders o
		WHERE o.customer IN (SELECT c.customer FROM orders c WHERE c.placed = o.placed AND c.id <> o.id)`)
	byID, err := qlsqlite.RewritesByFingerprint(context.Background(), db, fp)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range byID[fp.ID] {
		fmt.Println(fp.Text)
		fmt.Println(r.Rule, "verified:", r.Verified)
		fmt.Println(r.SQL)
	}
	// Output:
	// SELECT id FROM orders o WHERE o.customer IN (SELECT c.customer FROM orders c WHERE c.placed = o.placed AND c.id <> o.id)
	// in-exists verified: true
	// SELECT id FROM orders o WHERE EXISTS (SELECT 1 FROM orders c WHERE (c.placed = o.placed AND c.id <> o.id) AND o.customer = c.customer)
}
