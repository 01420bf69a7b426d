package lifecycle

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	_ "github.com/quantumleap/qlsqlite" // registers the "qlsqlite" driver
	"github.com/quantumleap/qlsqlite/internal/trading"
)

// opener opens a database file for a test, through one driver.
type opener func(t testing.TB, path string) *sql.DB

// forEachDriver runs f once per driver lifecycle is used with, as subtests
// named after the driver: the raw ncruces driver ("sqlite3", the database
// opened as openDB opens it) and qlsqlite with its production defaults
// (WAL, synchronous=FULL, foreign keys on, the 30 s default statement
// deadline, the writer gate, the statement cache, retries). lifecycle must
// work through both; it never imports the qlsqlite package itself.
func forEachDriver(t *testing.T, f func(t *testing.T, openDB opener)) {
	t.Run("sqlite3", func(t *testing.T) { f(t, openDB) })
	t.Run("qlsqlite", func(t *testing.T) { f(t, openQL) })
}

// openQL opens path with the qlsqlite driver and its defaults.
func openQL(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("qlsqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openDB opens path with the raw "sqlite3" driver in WAL mode, the way the
// platform opens its databases.
func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	return openDSN(t, dsn(path))
}

func openDSN(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func dsn(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)"
}

// testTimeout bounds each statement of a test's own checks and set-up.
// Through qlsqlite a statement whose context has no deadline gets the 30 s
// default, which a check of a million rows on a loaded machine can exceed.
const testTimeout = 10 * time.Minute

func mustExec(t testing.TB, q queryer, query string, args ...any) sql.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

func count(t testing.TB, q queryer, query string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var n int64
	if err := q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// tradeEpoch is the timestamp of trade 0; trade i is i seconds later.
var tradeEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// tradeTime returns the timestamp seedTrades gives trade id, in SQLite's
// text format (what CURRENT_TIMESTAMP writes).
func tradeTime(id int64) string {
	return tradeEpoch.Add(time.Duration(id) * time.Second).Format(time.DateTime)
}

// seedTrades creates the trading schema in db and n trades with ids 1..n
// whose every column derives from the id (see tradeColumnsMatchID).
func seedTrades(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	mustExec(t, db, trading.Schema)
	mustExec(t, db, `INSERT INTO users (id, name) VALUES ('u1', 'One'), ('u2', 'Two')`)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err := db.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
		INSERT INTO trades (id, user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms)
		SELECT x, 'u' || (1 + x % 2), 'SYM' || (x % 500), x, x * 1.5, CASE x % 2 WHEN 0 THEN 'buy' ELSE 'sell' END,
		       datetime(?, '+' || x || ' seconds'), 'strat' || (x % 7), x % 100
		FROM c`, n, tradeEpoch.Format(time.DateTime))
	if err != nil {
		t.Fatalf("seeding %d trades: %v", n, err)
	}
}

// tradeColumnsMatchID is true for a trade whose columns are what seedTrades
// (or insertTrade) derives from its id.
const tradeColumnsMatchID = `user_id = 'u' || (1 + id % 2) AND symbol = 'SYM' || (id % 500) AND quantity = id
	AND price = id * 1.5 AND side = CASE id % 2 WHEN 0 THEN 'buy' ELSE 'sell' END
	AND strategy_id = 'strat' || (id % 7)`

// attachForCheck returns a connection of db with the archive at path
// attached as "arc", for the checks of a test.
func attachForCheck(t testing.TB, db *sql.DB, path string) *sql.Conn {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, conn, `ATTACH DATABASE ? AS arc`, path)
	t.Cleanup(func() {
		conn.ExecContext(context.Background(), `DETACH DATABASE arc`)
		conn.Close()
	})
	return conn
}

// checkExactlyOnce checks that every id in want is in exactly one of
// main.trades and arc.trades, that nothing else is, and that every row's
// columns derive from its id.
func checkExactlyOnce(t testing.TB, conn *sql.Conn, want int64) {
	t.Helper()
	if n := count(t, conn, `SELECT count(*) FROM main.trades JOIN arc.trades USING (id)`); n != 0 {
		t.Errorf("%d trades are in both the source and the archive", n)
	}
	checkNoneLost(t, conn, want)
}

// checkNoneLost checks that every trade id from 1 to want is in the source
// or the archive (or both), that no other id is, and that every row's
// columns derive from its id.
func checkNoneLost(t testing.TB, conn *sql.Conn, want int64) {
	t.Helper()
	// Ids are unique within each table; with the duplicates counted once,
	// rows whose ids all lie in [1, want] and number want cover it exactly.
	dups := count(t, conn, `SELECT count(*) FROM main.trades JOIN arc.trades USING (id)`)
	n := count(t, conn, `SELECT (SELECT count(*) FROM main.trades) + (SELECT count(*) FROM arc.trades)`) - dups
	out := count(t, conn, `SELECT (SELECT count(*) FROM main.trades WHERE id NOT BETWEEN 1 AND ?1) + (SELECT count(*) FROM arc.trades WHERE id NOT BETWEEN 1 AND ?1)`, want)
	if n != want || out != 0 {
		t.Errorf("source and archive hold %d distinct trade ids (%d outside 1..%d), want %d", n, out, want, want)
	}
	for _, s := range []string{"main", "arc"} {
		if bad := count(t, conn, fmt.Sprintf(`SELECT count(*) FROM %s.trades WHERE NOT (%s)`, s, tradeColumnsMatchID)); bad != 0 {
			t.Errorf("%d rows of %s.trades do not hold the values of their id", bad, s)
		}
	}
}
