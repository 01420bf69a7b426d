package rewrite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/advise"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

// The differential test: on random data made to break rewrites (NULLs,
// numbers in text and DATETIME columns, text and BLOBs in REAL columns,
// non-ASCII and mixed-case text, time-zone suffixes, duplicate rows), every
// variant a rule offers as equivalent must return what the original
// returns, for random arguments of every storage class. The variants a rule
// offers only as hints must differ somewhere, or the data is too tame to
// test anything.

// extraSchema adds to the trading schema a table whose text column is
// declared NOCASE, and a STRICT one, where rules drop their catch-alls.
const extraSchema = `
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT COLLATE NOCASE, score REAL);
CREATE INDEX idx_notes_body ON notes(body);
CREATE INDEX idx_notes_score ON notes(score);
CREATE TABLE ticks (id INTEGER PRIMARY KEY, sym TEXT NOT NULL, px REAL, at TEXT) STRICT;
CREATE INDEX idx_ticks_sym_nocase ON ticks(sym COLLATE NOCASE);
CREATE INDEX idx_ticks_px ON ticks(px);
CREATE INDEX idx_ticks_at ON ticks(at);
`

// differentialStatements are the statements tested beside the 20
// inefficient ones, chosen for shapes those do not have: projections with
// duplicates, DISTINCT, <, <= and * 1, NUMERIC and TEXT columns under LIKE
// with a prefix that can begin a number, NOCASE and STRICT tables.
var differentialStatements = []string{
	`SELECT symbol FROM trades WHERE symbol = ? OR user_id = ?`,
	`SELECT DISTINCT t.symbol FROM trades t JOIN orders o ON o.id = t.id WHERE t.symbol = ? OR o.status = ?`,
	`SELECT symbol, side FROM trades t WHERE t.side = ? OR t.symbol = ? OR t.strategy_id = ? ORDER BY symbol`,
	`SELECT price FROM trades WHERE price + 0 < ?`,
	`SELECT confidence_score FROM signals WHERE confidence_score * 1 <= ?`,
	`SELECT confidence_score FROM signals WHERE 0 + confidence_score >= ?`,
	`SELECT id FROM trades WHERE execution_time_ms - 0 = ?`,
	`SELECT name FROM users WHERE upper(name) = ?`,
	`SELECT name FROM users WHERE ? = lower(name)`,
	`SELECT created_at FROM orders WHERE created_at LIKE '2026%'`,
	`SELECT created_at FROM orders WHERE created_at GLOB '2026-06-2*'`,
	`SELECT symbol FROM trades WHERE symbol LIKE '4%'`,
	`SELECT quantity FROM trades WHERE quantity LIKE '-%'`,
	`SELECT symbol FROM trades WHERE symbol LIKE 'S_M%' ESCAPE '\'`,
	`SELECT name FROM users WHERE name LIKE '%_%' ESCAPE '%'`,
	`SELECT id FROM signals WHERE symbol NOT IN (SELECT symbol FROM orders WHERE status = ?)`,
	`SELECT id FROM users u WHERE id NOT IN (SELECT t.user_id FROM trades t WHERE t.user_id IS NOT NULL)`,
	`SELECT (SELECT count(*) FROM trades t WHERE t.user_id = u.id) = 0 FROM users u`,
	`SELECT count(1) >= 1 FROM trades WHERE symbol = ?`,
	`SELECT count(*) = 0 AS none FROM trades WHERE symbol = ?`,
	`SELECT symbol FROM trades t WHERE t.symbol IN (SELECT o.symbol FROM orders o WHERE o.user_id = t.user_id)`,
	`SELECT body FROM notes WHERE lower(body) = ?`,
	`SELECT body FROM notes WHERE body LIKE '1%'`,
	`SELECT score FROM notes WHERE score + 0 > ?`,
	`SELECT sym FROM ticks WHERE lower(sym) = ?`,
	`SELECT px FROM ticks WHERE px + 0 < ?`,
	`SELECT at FROM ticks WHERE at LIKE '2026-06%'`,
	`SELECT at FROM ticks WHERE date(at) = ?`,
	`SELECT symbol FROM trades WHERE date(timestamp) <= ?`,
	`SELECT t.symbol FROM trades t JOIN users u ON u.id = t.execution_time_ms`,
}

// weirdText, weirdNumbers and weirdBlobs are the values random rows and
// arguments draw from.
var (
	weirdText = []string{"SYM001", "sym001", "SYM002", "Trader 7", "trader 7", "TRADER 7", "Élodie", "élodie", "ÉLODIE",
		"straße", "STRASSE", "user-00001", "user-00002", "open", "OPEN", "filled", "buy", "sell", "strat-1", "strat-2",
		"42", "042", " 42", "42.0", "4.2e1", "5abc", "abc", "", "1", "0.99", "2026", "2026-06-29", "2026-06-29 10:00:00",
		"2026-06-29T23:30:00", "2026-06-30 01:00:00+02:00", "2026-06-28 23:00:00-02:00", "2026-06-29 10:00:00.123",
		"10:00", "now", "2026-06-2", "S_M1", "SYM%", "%", "_", "2026-06-", "2461220.5"}
	weirdNumbers = []any{int64(0), int64(1), int64(-1), int64(5), int64(42), int64(2026), int64(20260629), int64(1782691200),
		2461220.5, 0.5, 0.97, 0.99, -0.0, 1e20, 42.0, 0.30000000000000004, int64(9223372036854775807)}
	weirdBlobs = [][]byte{{}, []byte("SYM001"), []byte("Trader 7"), []byte("2026-06-29 10:00:00"), []byte("42"), []byte("5abc"), {0xff, 0x00}}
)

func weird(r *rand.Rand) any {
	switch x := r.IntN(20); {
	case x < 11:
		return weirdText[r.IntN(len(weirdText))]
	case x < 17:
		return weirdNumbers[r.IntN(len(weirdNumbers))]
	case x < 19:
		return weirdBlobs[r.IntN(len(weirdBlobs))]
	}
	return nil
}

// mostly returns a value of the pool most of the time, a weird one otherwise.
func mostly(r *rand.Rand, pool ...any) any {
	if r.IntN(4) == 0 {
		return weird(r)
	}
	return pool[r.IntN(len(pool))]
}

// from returns a value of the pool.
func from(r *rand.Rand, pool ...any) any { return pool[r.IntN(len(pool))] }

// weirdDB fills a database with the trading schema, the platform's and the
// fixture's indexes, and rows made to break rewrites.
func weirdDB(t testing.TB, seed uint64) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("weird%d.db", seed))
	// Without fsync: the test writes a thousand rows one by one.
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(path)+"?_pragma=synchronous(off)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// Foreign keys are off: the point is to store what the schema lets in.
	if _, err := db.Exec(`PRAGMA foreign_keys = off;` + trading.Schema + platformIndexes(t) + fixtureIndexes + extraSchema); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, seed+1))
	users := []any{"user-00001", "user-00002", "user-00003", int64(42), []byte("user-00001"), nil}
	symbols := []any{"SYM001", "sym001", "SYM002", "42", int64(42), []byte("SYM001"), "Élodie"}
	times := []any{"2026-06-29 10:00:00", "2026-06-29 18:30:00", "2026-06-28 23:59:59", "2026-06-29T23:30:00",
		"2026-06-30 01:00:00+02:00", "2026-06-28 23:00:00-02:00", "2026-06-29", "10:00", 2461220.5, int64(1782691200),
		int64(20260629), []byte("2026-06-29 11:00:00"), nil, "2026-06-29 10:00:00"}
	reals := []any{0.5, 0.97, 0.99, 0.2, int64(1), "0.99", "abc", "5abc", []byte("0.99"), -0.0, 42.0, int64(-1), -2.5}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s %v: %v", q, args, err)
		}
	}
	for i := range 40 {
		exec(`INSERT OR IGNORE INTO users (id, name, created_at) VALUES (?, ?, ?)`,
			mostly(r, fmt.Sprintf("user-%05d", i), users[r.IntN(len(users))]), mostly(r, "Trader 7", "trader 7", "TRADER 7", "Élodie", "élodie", "ÉLODIE", "straße", []byte("Trader 7")), mostly(r, times...))
	}
	for range 300 {
		row := []any{mostly(r, users...), mostly(r, symbols...), mostly(r, reals...), mostly(r, reals...), mostly(r, "buy", "sell", "BUY"),
			mostly(r, times...), mostly(r, "strat-1", "strat-2", nil), mostly(r, int64(5), int64(42), "42", "042", nil, 0.5)}
		exec(`INSERT OR IGNORE INTO trades (user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, row...)
		if r.IntN(5) == 0 { // a duplicate, but for its id
			exec(`INSERT OR IGNORE INTO trades (user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, row...)
		}
	}
	for range 200 {
		exec(`INSERT OR IGNORE INTO orders (user_id, symbol, side, quantity, limit_price, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			mostly(r, users...), mostly(r, symbols...), mostly(r, "buy", "sell"), mostly(r, reals...), mostly(r, reals...), mostly(r, "open", "filled", "OPEN", "cancelled"), mostly(r, times...))
	}
	for range 150 {
		exec(`INSERT OR IGNORE INTO signals (symbol, strategy_id, confidence_score, direction, timestamp) VALUES (?, ?, ?, ?, ?)`,
			mostly(r, symbols...), mostly(r, "strat-1", "strat-2", "strat-3"), mostly(r, reals...), mostly(r, "long", "short"), mostly(r, times...))
	}
	for range 80 {
		exec(`INSERT OR IGNORE INTO portfolio (user_id, symbol, quantity, average_cost) VALUES (?, ?, ?, ?)`,
			mostly(r, users...), mostly(r, symbols...), mostly(r, reals...), mostly(r, reals...))
		exec(`INSERT OR IGNORE INTO notes (body, score) VALUES (?, ?)`, mostly(r, "Trader 7", "TRADER 7", "Élodie", "10", "1x", []byte("trader 7"), int64(12), nil), mostly(r, reals...))
		// ticks is STRICT: only values of the declared types fit.
		exec(`INSERT INTO ticks (sym, px, at) VALUES (?, ?, ?)`, from(r, "SYM001", "sym001", "Élodie", "ÉLODIE", "42"), from(r, 0.5, 0.97, int64(3), -0.0, nil), from(r, "2026-06-29 10:00:00", "2026-06-30 01:00:00+02:00", "10:00", "2026-06-28", nil))
	}
	exec(`ANALYZE`)
	return db
}

func platformIndexes(t testing.TB) string {
	t.Helper()
	b, err := fs.ReadFile(trading.Migrations, "002_add_trading_indexes.sql")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// argSets draws n argument sets for a statement with params parameters.
func argSets(r *rand.Rand, params, n int) [][]any {
	sets := make([][]any, n)
	for i := range sets {
		sets[i] = make([]any, params)
		for j := range params {
			sets[i][j] = weird(r)
		}
	}
	return sets
}

func TestDifferential(t *testing.T) {
	statements := differentialStatements
	for _, s := range inefficientStatements {
		statements = append(statements, s.sql)
	}
	equivalentRules := map[string]bool{}
	hintDiffers := map[string]bool{}
	hintTried := map[string]bool{}
	for seed := range uint64(3) {
		db := weirdDB(t, seed)
		r := rand.New(rand.NewPCG(seed, 99))
		err := advise.WithConn(context.Background(), db, func(c *sqlite3.Conn) error {
			run := &runner{c: c, opts: Options{MaxRows: 1_000_000}.withDefaults()}
			for _, query := range statements {
				q, err := read(c, query)
				if err != nil || q == nil {
					t.Fatalf("%s: not read: %v", query, err)
				}
				sets := argSets(r, q.t.maxArg, 40)
				for _, rule := range rules {
					for _, cand := range rule(q) {
						for _, v := range cand.variants {
							if v.newArgs || !q.sameArgs(v) {
								continue
							}
							ck, err := run.compare(context.Background(), query, v.sql, sets)
							if err != nil {
								t.Fatalf("%s\n%s: %v", query, v.sql, err)
							}
							if v.equivalent {
								equivalentRules[cand.rule] = true
								if !ck.same {
									t.Errorf("seed %d: %s claims equivalence, but %s\n  original %s\n  rewrite  %s", seed, cand.rule, ck.diff, query, v.sql)
								}
							} else if v.compare {
								hintTried[cand.rule] = true
								hintDiffers[cand.rule] = hintDiffers[cand.rule] || !ck.same
							}
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, rule := range []string{RuleCaseFold, RuleArithmetic, RuleLikePrefix, RuleOrUnion, RuleNotIn, RuleCount, RuleInExists} {
		if !equivalentRules[rule] {
			t.Errorf("no equivalent rewrite of rule %s was tested", rule)
		}
	}
	// The hints are not equivalent; the data must be able to show it, or
	// the test above proves nothing.
	for _, rule := range []string{RuleCaseFold, RuleDateRange, RuleArithmetic, RuleNotIn, RuleAffinity} {
		if !hintDiffers[rule] {
			t.Errorf("the weird data never shows hint %s (tried: %v) differ from its original", rule, hintTried[rule])
		}
	}
}
