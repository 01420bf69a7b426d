package qlsqlite

import (
	"testing"

	"github.com/quantumleap/qlsqlite/internal/trading"
)

func TestSummarize(t *testing.T) {
	tests := []struct{ query, op, collection string }{
		{`SELECT * FROM trades WHERE symbol = ?`, "SELECT", "trades"},
		{`select id from "Order Book" ob where ob.id = 1`, "SELECT", "Order Book"},
		{`SELECT count(*) FROM main.trades`, "SELECT", "main.trades"},
		{`SELECT * FROM trades t JOIN users u ON u.id = t.user_id`, "SELECT", ""},
		{`SELECT * FROM trades, users`, "SELECT", ""},
		{`SELECT * FROM trades AS t, users`, "SELECT", ""},
		{`SELECT a FROM x UNION SELECT a FROM y`, "SELECT", ""},
		{`SELECT * FROM (SELECT * FROM trades)`, "SELECT", ""},
		{`SELECT 1`, "SELECT", ""},
		{`SELECT * FROM trades WHERE id IN (SELECT trade_id FROM fills)`, "SELECT", "trades"},
		{`INSERT INTO trades (a) VALUES (?)`, "INSERT", "trades"},
		{`insert or replace into [portfolio] values (1)`, "INSERT", "portfolio"},
		{`REPLACE INTO portfolio VALUES (1)`, "REPLACE", "portfolio"},
		{`UPDATE OR IGNORE orders SET status = ? WHERE id = ?`, "UPDATE", "orders"},
		{`DELETE FROM signals WHERE rowid IN (SELECT rowid FROM signals LIMIT 10)`, "DELETE", "signals"},
		{`WITH recent AS (SELECT * FROM trades) SELECT * FROM recent`, "SELECT", "recent"},
		{`WITH x(n) AS (VALUES (1)) INSERT INTO t SELECT n FROM x`, "INSERT", "t"},
		{`CREATE TABLE t (n)`, "CREATE", ""},
		{`PRAGMA journal_mode`, "PRAGMA", ""},
		{`BEGIN`, "BEGIN", ""},
		{`  -- a comment
		  SELECT 1 FROM t;`, "SELECT", "t"},
		{`CREATE TABLE a (n); CREATE TABLE b (n)`, "", ""},
		{``, "", ""},
		{`?`, "", ""},
	}
	for _, tt := range tests {
		s := summarize(tt.query)
		if s.operation != tt.op || s.collection != tt.collection {
			t.Errorf("summarize(%q) = %q %q, want %q %q", tt.query, s.operation, s.collection, tt.op, tt.collection)
		}
	}
	// The trading platform's statements each name their table.
	want := map[trading.Kind]string{
		trading.RecentTrades: "SELECT trades", trading.Position: "SELECT portfolio", trading.OpenOrders: "SELECT orders",
		trading.Signals: "SELECT signals", trading.InsertTrade: "INSERT trades", trading.TradeTx: "INSERT portfolio",
		trading.UpdateOrder: "UPDATE orders",
	}
	for k, q := range trading.SQL {
		if got := summarize(q).text(); got != want[trading.Kind(k)] {
			t.Errorf("%v: summary %q, want %q", trading.Kind(k), got, want[trading.Kind(k)])
		}
	}
}

func FuzzSummarize(f *testing.F) {
	for _, q := range trading.SQL {
		f.Add(q)
	}
	f.Add(`WITH a AS (SELECT (1)) SELECT * FROM a`)
	f.Fuzz(func(t *testing.T, q string) {
		s := summarize(q) // never panics
		if s.collection != "" && s.operation == "" {
			t.Errorf("summarize(%q): a collection without an operation", q)
		}
	})
}
