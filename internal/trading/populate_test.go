package trading_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/quantumleap/qlsqlite/internal/trading"
)

func openSchema(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "trading.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(trading.Schema); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestPopulateShape(t *testing.T) {
	db := openSchema(t)
	size := trading.Size{Users: 300, Symbols: 500, Trades: 6000, Orders: 4000, Signals: 1000}
	if err := trading.Populate(context.Background(), db, size, 1); err != nil {
		t.Fatal(err)
	}
	count := func(q string) (n int) {
		t.Helper()
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM trades`); n != size.Trades {
		t.Errorf("%d trades", n)
	}
	// Zipf-like popularity: the most traded symbol is far above the median one.
	top := count(`SELECT count(*) FROM trades GROUP BY symbol ORDER BY 1 DESC LIMIT 1`)
	median := count(`SELECT count(*) FROM trades GROUP BY symbol ORDER BY 1 DESC LIMIT 1 OFFSET (SELECT count(DISTINCT symbol) / 2 FROM trades)`)
	if top < 20*median {
		t.Errorf("top symbol %d trades, median %d: not Zipf-like", top, median)
	}
	// Most orders closed; a small open set, among the recent ones.
	open := count(`SELECT count(*) FROM orders WHERE status = 'open'`)
	if open == 0 || open > size.Orders/20 {
		t.Errorf("%d open orders of %d", open, size.Orders)
	}
	if old := count(`SELECT count(*) FROM orders WHERE status = 'open' AND id < 3000`); old != 0 {
		t.Errorf("%d old open orders", old)
	}
	// Timestamps increase with rowid over the 30 days before Epoch.
	if n := count(`SELECT count(*) FROM trades a JOIN trades b ON b.id = a.id + 1 WHERE b.timestamp < a.timestamp`); n != 0 {
		t.Errorf("%d timestamps out of order", n)
	}
	var last string
	db.QueryRow(`SELECT max(timestamp) FROM trades`).Scan(&last)
	if last >= trading.Epoch().Format(trading.TimeFormat) || last < trading.Epoch().AddDate(0, 0, -1).Format(trading.TimeFormat) {
		t.Errorf("last trade at %s", last)
	}
	// The same seed gives the same rows.
	again := openSchema(t)
	if err := trading.Populate(context.Background(), again, size, 1); err != nil {
		t.Fatal(err)
	}
	var a, b string
	db.QueryRow(`SELECT group_concat(symbol || user_id || price, ',') FROM trades`).Scan(&a)
	again.QueryRow(`SELECT group_concat(symbol || user_id || price, ',') FROM trades`).Scan(&b)
	if a != b {
		t.Error("same seed, different rows")
	}
}

func TestPopulateRejectsEmptySize(t *testing.T) {
	if err := trading.Populate(context.Background(), openSchema(t), trading.Size{}, 1); err == nil {
		t.Error("want an error for no users and no symbols")
	}
}

func ExampleStatements() {
	for _, s := range trading.Statements()[:3] {
		fmt.Printf("%2d%% %s\n", s.Share, s.SQL)
	}
	// Output:
	// 35% SELECT * FROM trades WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp DESC LIMIT 50
	// 20% SELECT quantity, average_cost FROM portfolio WHERE user_id = ? AND symbol = ?
	// 15% SELECT id, symbol, quantity, limit_price FROM orders WHERE status = 'open' ORDER BY created_at LIMIT 100
}

func ExamplePopulate() {
	dir, err := os.MkdirTemp("", "trading")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(filepath.Join(dir, "trading.db")))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(trading.Schema); err != nil {
		log.Fatal(err)
	}
	size := trading.Size{Users: 100, Symbols: 50, Trades: 1000, Orders: 500, Signals: 200}
	if err := trading.Populate(context.Background(), db, size, 42); err != nil {
		log.Fatal(err)
	}
	var trades, positions int
	db.QueryRow(`SELECT (SELECT count(*) FROM trades), (SELECT count(*) FROM portfolio)`).Scan(&trades, &positions)
	fmt.Println(trades, "trades;", positions <= 4*size.Users, "at most four positions per user")
	// Output:
	// 1000 trades; true at most four positions per user
}
