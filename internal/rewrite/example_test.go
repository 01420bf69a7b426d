package rewrite_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/rewrite"
)

func ExamplePropose() {
	c, err := sqlite3.Open(":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = c.Exec(`
		CREATE TABLE signals (id INTEGER PRIMARY KEY, symbol TEXT, score REAL NOT NULL);
		CREATE INDEX idx_signals_score ON signals(score);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
		INSERT INTO signals (symbol, score) SELECT printf('SYM%03d', i % 50), i / 1000.0 FROM n;
		ANALYZE;`)
	if err != nil {
		log.Fatal(err)
	}

	// "+ 0" hides score from its index.
	rs, err := rewrite.Propose(context.Background(), c, `SELECT symbol FROM signals WHERE score + 0 > ?`, []any{0.99}, rewrite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs {
		fmt.Println(r.Rule, "equivalent:", r.Equivalent, "verified:", r.Verified)
		fmt.Println(r.SQL)
		fmt.Println(r.Before)
		fmt.Println(r.After)
	}
	// Output:
	// arithmetic equivalent: true verified: true
	// SELECT symbol FROM signals WHERE ((score > ?1) OR (score >= '')) AND score + 0 > ?1
	// `--SCAN signals
	// `--MULTI-INDEX OR
	//    |--INDEX 1
	//    |  `--SEARCH signals USING INDEX idx_signals_score (score>?)
	//    `--INDEX 2
	//       `--SEARCH signals USING INDEX idx_signals_score (score>?)
}
