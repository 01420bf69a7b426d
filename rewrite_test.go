package qlsqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

// rewriteDB opens a trading database through the qlsqlite driver, with the
// platform's indexes, one on trades(user_id) and one on users(name COLLATE
// NOCASE), analysed.
func rewriteDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open(qlsqlite.DriverName, "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "rewrite.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	size := trading.Data{Users: 200, Symbols: 50, Trades: 3000, Orders: 1000, Signals: 500, Seed: 5, Now: trading.Epoch()}
	if err := trading.Load(ctx, db, size, nil); err != nil {
		t.Fatal(err)
	}
	plan, err := fs.ReadFile(trading.Migrations, "002_add_trading_indexes.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(plan) + `
		CREATE INDEX idx_trades_user ON trades(user_id);
		CREATE INDEX idx_users_name_nocase ON users(name COLLATE NOCASE);
		ANALYZE;`); err != nil {
		t.Fatal(err)
	}
	return db
}

// usersWithTrades counts again, per user, trades it only needs to find one
// of: a correlated count(*) > 0.
const usersWithTrades = `SELECT id FROM users u WHERE (SELECT count(*) FROM trades t WHERE t.user_id = u.id) > 0`

func TestRewriteVerified(t *testing.T) {
	db := rewriteDB(t)
	rs, err := qlsqlite.Rewrite(context.Background(), db, usersWithTrades)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d rewrites: %+v", len(rs), rs)
	}
	r := rs[0]
	if r.Rule != qlsqlite.RewriteCountExists || !r.Verified || !r.Equivalent || r.Original != usersWithTrades ||
		r.SQL != `SELECT id FROM users u WHERE EXISTS (SELECT 1 FROM trades t WHERE t.user_id = u.id)` {
		t.Errorf("rewrite %+v", r)
	}
	if !slices.ContainsFunc(r.Before, func(l string) bool { return strings.Contains(l, "CORRELATED SCALAR SUBQUERY") }) ||
		!slices.ContainsFunc(r.After, func(l string) bool { return strings.Contains(l, "SEARCH t EXISTS") }) {
		t.Errorf("plans\n%s\n%s", strings.Join(r.Before, "\n"), strings.Join(r.After, "\n"))
	}
	if !strings.Contains(r.Note, "correlated subqueries 1 → 0") || !strings.Contains(r.Note, "same 200 rows") {
		t.Errorf("note: %s", r.Note)
	}
}

// TestRewriteTakesTheSameArguments runs the rewrite the way the program
// would: with the original's arguments, named ones by name.
func TestRewriteTakesTheSameArguments(t *testing.T) {
	db := rewriteDB(t)
	ctx := context.Background()
	for _, c := range []struct {
		query string
		args  []any
	}{
		{`SELECT id FROM users WHERE lower(name) = ? AND created_at >= ?`, []any{"trader 7", "2000-01-01"}},
		{`SELECT id FROM users WHERE lower(name) = :name`, []any{sql.Named("name", "trader 12")}},
		{`SELECT t.id, o.id FROM trades t JOIN orders o ON o.id = t.id WHERE t.symbol = ? OR o.status = ?`, []any{"SYM003", "open"}},
	} {
		rs, err := qlsqlite.Rewrite(ctx, db, c.query, c.args...)
		if err != nil || len(rs) != 1 {
			t.Fatalf("%s: %v %+v", c.query, err, rs)
		}
		want, got := rowsOf(t, db, c.query, c.args...), rowsOf(t, db, rs[0].SQL, c.args...)
		if len(want) == 0 || !slices.Equal(want, got) {
			t.Errorf("%s\n%s\nrows %v, want %v", c.query, rs[0].SQL, got, want)
		}
		if !strings.Contains(rs[0].Note, "for the arguments given") {
			t.Errorf("note: %s", rs[0].Note)
		}
	}
}

func rowsOf(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, fmt.Sprintf("%#v", vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestRewriteChangesNothing: the data check runs in a transaction that is
// rolled back and released, and a statement that is not a SELECT gets no
// proposal and is never run.
func TestRewriteChangesNothing(t *testing.T) {
	db := rewriteDB(t)
	db.SetMaxOpenConns(1) // the same connection before, during and after
	ctx := context.Background()
	var before int
	if err := db.QueryRow(`SELECT count(*) FROM trades`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if rs, err := qlsqlite.Rewrite(ctx, db, usersWithTrades); err != nil || len(rs) != 1 || !rs[0].Verified {
		t.Fatalf("%v %+v", err, rs)
	}
	// The pool's one connection still begins a transaction of its own (the
	// internal TestProposeLeavesNoTransaction checks the connection itself:
	// the pool would also roll back one left open).
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO users (id, name) VALUES ('user-x', 'X')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	rs, err := qlsqlite.Rewrite(ctx, db, `DELETE FROM trades WHERE (SELECT count(*) FROM users u WHERE u.id = trades.user_id) > 0`)
	if err != nil || len(rs) != 0 {
		t.Errorf("DELETE: %v %+v", err, rs)
	}
	var after int
	if err := db.QueryRow(`SELECT count(*) FROM trades`).Scan(&after); err != nil || after != before {
		t.Errorf("trades: %d rows, was %d (%v)", after, before, err)
	}
}

func TestRewriteErrors(t *testing.T) {
	db := rewriteDB(t)
	_, err := qlsqlite.Rewrite(context.Background(), db, `SELECT * FROM nosuch WHERE lower(x) = ?`)
	var qe *qlsqlite.AdviceQueryError
	if !errors.As(err, &qe) || qe.Query != `SELECT * FROM nosuch WHERE lower(x) = ?` || !strings.Contains(err.Error(), "no such table") {
		t.Errorf("bad query: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := qlsqlite.Rewrite(ctx, db, usersWithTrades); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	if _, err := qlsqlite.Rewrite(context.Background(), db, `SELECT id FROM users WHERE lower(name) = ?`, struct{}{}); err == nil || !strings.Contains(err.Error(), "argument 1") {
		t.Errorf("an argument of an unknown type: %v", err)
	}
}

// TestRewriteBudget: a check that cannot finish in its budget leaves the
// rewrite a hint, and says so.
func TestRewriteBudget(t *testing.T) {
	db := rewriteDB(t)
	rs, err := qlsqlite.RewriteOptions{Budget: time.Nanosecond}.Rewrite(context.Background(), db, usersWithTrades)
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %+v", err, rs)
	}
	if rs[0].Verified || !rs[0].Equivalent || !strings.Contains(rs[0].Note, "budget") {
		t.Errorf("%+v", rs[0])
	}
}

func TestAdviseIncludesRewrites(t *testing.T) {
	db := rewriteDB(t)
	ctx := context.Background()
	advice, err := qlsqlite.Advise(ctx, db, usersWithTrades, trading.SQL[trading.RecentTrades])
	if err != nil {
		t.Fatal(err)
	}
	var alone []qlsqlite.IndexAdvice
	for _, a := range advice {
		if a.CreateSQL == "" {
			alone = append(alone, a)
		}
	}
	if len(alone) != 1 || len(alone[0].Rewrites) != 1 || !alone[0].Rewrites[0].Verified || !slices.Equal(alone[0].Queries, []string{usersWithTrades}) ||
		len(alone[0].Plans) != 1 || !strings.Contains(alone[0].Plans[0].After, "SEARCH t EXISTS") || alone[0].Name != "" {
		t.Fatalf("advice %+v", advice)
	}
	if err := qlsqlite.ApplyAdvice(ctx, db, alone...); err != nil {
		t.Errorf("ApplyAdvice of a rewrite: %v", err)
	}
}

func TestRewritesByFingerprint(t *testing.T) {
	db := rewriteDB(t)
	ctx := context.Background()
	if err := qlsqlite.ResetStats(db); err != nil {
		t.Fatal(err)
	}
	// A fingerprint has placeholders for literals: count(*) > 0 becomes
	// count(*) > ?, which no rule can judge; a correlated IN keeps its shape.
	const correlatedIn = `SELECT id FROM orders o WHERE o.user_id IN (SELECT p.user_id FROM portfolio p WHERE p.symbol = o.symbol)`
	for range 3 {
		rowsOf(t, db, correlatedIn)
		rowsOf(t, db, usersWithTrades)
		rowsOf(t, db, `SELECT id FROM trades WHERE symbol = ?`, "SYM001")
	}
	// The correlated IN runs for hundreds of milliseconds on its own, over
	// a minute under the race detector on a busy machine: a budget no load
	// reaches, so that it is verified whatever the machine.
	opts := qlsqlite.RewriteOptions{Budget: time.Hour}
	got, err := opts.RewritesByFingerprint(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	fp := qlsqlite.FingerprintOf(correlatedIn)
	if len(got) != 1 || len(got[fp.ID]) != 1 || !got[fp.ID][0].Verified {
		t.Fatalf("by fingerprint: %+v", got)
	}
	bad := qlsqlite.FingerprintOf(`SELECT * FROM nosuch`)
	got, err = opts.RewritesByFingerprint(ctx, db, bad, fp)
	var qe *qlsqlite.AdviceQueryError
	if !errors.As(err, &qe) || len(got[fp.ID]) != 1 {
		t.Errorf("%v %+v", err, got)
	}
}
