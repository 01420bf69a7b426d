package rewrite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/trading"
)

// FuzzPropose feeds arbitrary text to the parser and to Propose on a small
// trading database: neither may panic, and every proposal must be one
// SELECT that prepares and takes the original's arguments.
//
//	go test -run '^$' -fuzz FuzzPropose -fuzztime 1m ./internal/rewrite
func FuzzPropose(f *testing.F) {
	for _, s := range inefficientStatements {
		f.Add(s.sql)
	}
	for _, s := range efficientStatements {
		f.Add(s)
	}
	for _, s := range differentialStatements {
		f.Add(s)
	}
	for _, s := range []string{"", ";", "SELECT", "SELECT 1; SELECT 2", "SELECT (((((", "SELECT * FROM trades WHERE x NOT", "WITH x AS (SELECT 1) SELECT * FROM x",
		"SELECT CASE WHEN 1 THEN 2 END", "SELECT ?1, :a", "SELECT 'unterminated", "SELECT [x", "DELETE FROM trades", "SELECT a FROM (SELECT 1 a) WHERE a IN ()",
		"SELECT count(*) OVER (PARTITION BY symbol) > 0 FROM trades", "VALUES (1), (2)", "SELECT 1 UNION SELECT 2 ORDER BY 1 LIMIT 1 OFFSET 200"} {
		f.Add(s)
	}
	c, err := sqlite3.Open(":memory:")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	if err := c.Exec(trading.Schema + fixtureIndexes + `
		INSERT INTO users VALUES ('user-00001', 'Trader 1', '2026-06-29 10:00:00'), ('user-00002', 'trader 2', NULL);
		INSERT INTO trades (user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms)
			VALUES ('user-00001', 'SYM001', 1, 10, 'buy', '2026-06-29 10:00:00', NULL, 5), ('user-00002', 'SYM002', 2, 20, 'sell', 2461220.5, 'strat-1', 7);
		INSERT INTO orders (user_id, symbol, side, quantity, limit_price, status, created_at) VALUES ('user-00001', 'SYM001', 'buy', 1, 10, 'open', '2026-06-29 10:00:00');
		INSERT INTO signals (symbol, strategy_id, confidence_score, direction, timestamp) VALUES ('SYM001', 'strat-1', 0.99, 'long', '2026-06-29');
		INSERT INTO portfolio (user_id, symbol, quantity, average_cost) VALUES ('user-00001', 'SYM001', 1, 10);`); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query string) {
		// An input that takes this long is a hang: crash, so that the fuzzer
		// reports and keeps it.
		timer := time.AfterFunc(20*time.Second, func() { panic(fmt.Sprintf("Propose(%q) runs for more than 20s", query)) })
		defer timer.Stop()
		if s, toks, err := parseSelect(query); err == nil {
			txt := newText(query, toks)
			txt.span(0, len(toks))
			(&resolver{sch: newSchema(c)}).stmt(s, nil, nil)
			comparable(query)
		}
		rs, err := Propose(context.Background(), c, query, nil, Options{Budget: 200 * time.Millisecond, MaxRows: 1000})
		if err != nil {
			return
		}
		for _, r := range rs {
			st, tail, err := c.Prepare(r.SQL)
			if err != nil || st == nil || !st.ReadOnly() || tail != "" && tail != ";" {
				t.Fatalf("%q: proposal %q does not prepare as one read-only statement: %v (tail %q)", query, r.SQL, err, tail)
			}
			st.Close()
		}
	})
}
