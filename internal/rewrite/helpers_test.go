package rewrite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/quantumleap/qlsqlite/internal/advise"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

// fixtureIndexes are the indexes the test database has beyond the trading
// platform's own plan (migration 002): an application that looks users up
// case-insensitively, and lists trades and orders by user.
const fixtureIndexes = `
CREATE INDEX idx_users_name_nocase ON users(name COLLATE NOCASE);
CREATE INDEX idx_trades_user ON trades(user_id);
CREATE INDEX idx_orders_user ON orders(user_id);
`

// tradingDB returns a trading database with data, the platform's indexes
// and the fixture's, analysed.
func tradingDB(t testing.TB) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trading.db")
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	size := trading.Data{Users: 300, Symbols: 60, Trades: 6000, Orders: 2000, Signals: 1500, Seed: 7, Now: trading.Epoch()}
	if err := trading.Load(ctx, db, size, nil); err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(trading.Migrations, "002_add_trading_indexes.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(b) + fixtureIndexes + "ANALYZE;"); err != nil {
		t.Fatal(err)
	}
	return db
}

// budget is the data-check budget of the tests: so large that no machine
// load (nor the race detector, which runs the correlated IN original for
// well over a minute) turns a verified rewrite into a hint. The budget
// itself is tested with a budget of its own (TestRewriteBudget).
const budget = time.Hour

// propose runs Propose on one connection of db.
func propose(t testing.TB, db *sql.DB, query string, args ...any) []Rewrite {
	t.Helper()
	return proposeWith(t, db, Options{}, query, args...)
}

func proposeWith(t testing.TB, db *sql.DB, opts Options, query string, args ...any) []Rewrite {
	t.Helper()
	var out []Rewrite
	err := advise.WithConn(context.Background(), db, func(c *sqlite3.Conn) error {
		var err error
		out, err = Propose(context.Background(), c, query, args, opts)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}
