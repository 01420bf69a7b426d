package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantumleap/qlsqlite/internal/trading"
)

func adviseTestDB(t *testing.T, schema string, populate bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cli.db")
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	if populate {
		size := trading.Size{Users: 200, Symbols: 300, Trades: 3000, Orders: 2000, Signals: 1500}
		if err := trading.Populate(context.Background(), db, size, 3); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func adviseRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"advise"}, args...), &out)
	return out.String(), err
}

func TestAdviseCommandTrading(t *testing.T) {
	path := adviseTestDB(t, trading.Schema, true)
	out, err := adviseRun(t, "--db", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"advising on the trading platform's 7 typical statements",
		`CREATE INDEX IF NOT EXISTS "idx_trades_symbol_timestamp" ON "trades" ("symbol", "timestamp");`,
		`CREATE INDEX IF NOT EXISTS "idx_orders_status_created_at" ON "orders" ("status", "created_at");`,
		"   helps: SELECT * FROM trades WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp DESC LIMIT 50\n" +
			"     before:\n       |--SCAN trades\n       `--USE TEMP B-TREE FOR ORDER BY\n" +
			"     after:\n       `--SEARCH trades USING INDEX idx_trades_symbol_timestamp (symbol=? AND timestamp>?)\n",
		`statistics missing for table trades; fix: ANALYZE "trades";`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `ON "portfolio"`) || strings.Count(out, "CREATE INDEX") != 3 {
		t.Errorf("want three indexes, none on portfolio:\n%s", out)
	}

	out, err = adviseRun(t, "--db", path, "--apply")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "applied 3 index(es)") ||
		!strings.Contains(out, "     `--SEARCH trades USING INDEX idx_trades_symbol_timestamp (symbol=? AND timestamp>?)") {
		t.Errorf("--apply output:\n%s", out)
	}
	out, err = adviseRun(t, "--db", path)
	if err != nil || !strings.Contains(out, "no index to suggest") {
		t.Errorf("after --apply: %v\n%s", err, out)
	}
}

func TestAdviseCommandQueries(t *testing.T) {
	path := adviseTestDB(t, trading.Schema, true)
	out, err := adviseRun(t, "--db", path,
		"--query", "SELECT price FROM trades WHERE user_id = ? AND side = 'buy'",
		"--query", "SELECT * FROM nosuch")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "not analysed: SELECT * FROM nosuch\n   sqlite3: SQL logic error: no such table: nosuch") ||
		!strings.Contains(out, `ON "trades" ("user_id"`) {
		t.Errorf("output:\n%s", out)
	}
}

func TestAdviseCommandErrors(t *testing.T) {
	if _, err := adviseRun(t); err == nil || !strings.Contains(err.Error(), "--db FILE is required") {
		t.Errorf("no --db: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.db")
	if _, err := adviseRun(t, "--db", missing); err == nil {
		t.Error("a missing file must be an error")
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("advise created %s", missing)
	}
	other := adviseTestDB(t, `CREATE TABLE t (a)`, false)
	if _, err := adviseRun(t, "--db", other); err == nil || !strings.Contains(err.Error(), "--query SQL") {
		t.Errorf("non-trading database without --query: %v", err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out); err != nil || !strings.Contains(out.String(), "advise") {
		t.Errorf("help lists: %s", out.String())
	}
}
