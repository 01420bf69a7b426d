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

var now = trading.Epoch()

func load(t testing.TB, d trading.Data) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "trading.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := trading.Load(context.Background(), db, d, nil); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestLoadShape(t *testing.T) {
	d := trading.Data{Users: 300, Symbols: 500, Trades: 6000, Orders: 4000, Signals: 1000, Seed: 1, Now: now}
	db := load(t, d)
	count := func(q string) (n int) {
		t.Helper()
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM trades`); n != d.Trades {
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
	if open == 0 || open > d.Orders/20 {
		t.Errorf("%d open orders of %d", open, d.Orders)
	}
	if old := count(`SELECT count(*) FROM orders WHERE status = 'open' AND id < 3000`); old != 0 {
		t.Errorf("%d old open orders", old)
	}
	// Timestamps increase with rowid over the 30 days before Now.
	if n := count(`SELECT count(*) FROM trades a JOIN trades b ON b.id = a.id + 1 WHERE b.timestamp < a.timestamp`); n != 0 {
		t.Errorf("%d timestamps out of order", n)
	}
	var first, last string
	if err := db.QueryRow(`SELECT min(timestamp), max(timestamp) FROM trades`).Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	if first != now.AddDate(0, 0, -30).Format(trading.TimeLayout) || last >= now.Format(trading.TimeLayout) || last < now.AddDate(0, 0, -1).Format(trading.TimeLayout) {
		t.Errorf("trades from %s to %s", first, last)
	}
	// One position per (user, symbol) traded.
	if p, pairs := count(`SELECT count(*) FROM portfolio`), count(`SELECT count(*) FROM (SELECT DISTINCT user_id, symbol FROM trades)`); p != pairs {
		t.Errorf("%d positions for %d traded pairs", p, pairs)
	}
	// The same seed gives the same rows.
	again := load(t, d)
	const rows = `SELECT group_concat(symbol || user_id || price, ',') FROM trades`
	var a, b string
	if err := db.QueryRow(rows).Scan(&a); err != nil {
		t.Fatal(err)
	}
	if err := again.QueryRow(rows).Scan(&b); err != nil {
		t.Fatal(err)
	}
	if a == "" || a != b {
		t.Error("same seed, different rows")
	}
}

func TestLoadProgress(t *testing.T) {
	var calls, last, total int
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "p.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := trading.Data{Users: 10, Trades: 12000, Orders: 100, Signals: 100, Now: now}
	err = trading.Load(context.Background(), db, d, func(done, tot int) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		calls, last, total = calls+1, done, tot
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := 10 + 12000 + 100 + 100; last != want || total != want || calls < 4 {
		t.Errorf("%d progress calls, last %d of %d; want %d", calls, last, total, want)
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

func ExampleLoad() {
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
	d := trading.Data{Users: 100, Symbols: 50, Trades: 1000, Orders: 500, Signals: 200, Seed: 42}
	if err := trading.Load(context.Background(), db, d, nil); err != nil {
		log.Fatal(err)
	}
	var trades int
	db.QueryRow(`SELECT count(*) FROM trades`).Scan(&trades)
	fmt.Println(trades, "trades")
	// Output:
	// 1000 trades
}

func ExampleWorker() {
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
	d := trading.Data{Users: 20, Trades: 500, Seed: 1}
	if err := trading.Load(context.Background(), db, d, nil); err != nil {
		log.Fatal(err)
	}
	w := trading.NewWorker(d, 1)
	for range 100 {
		if err := w.Run(context.Background(), db, w.Pick()); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("ran 100 statements of the mix")
	// Output:
	// ran 100 statements of the mix
}
