package advise

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func issueNames(issues []IndexIssue) []string {
	var out []string
	for _, i := range issues {
		out = append(out, i.Index+"<"+i.CoveredBy)
	}
	return out
}

func TestRedundantIndexes(t *testing.T) {
	db := tradingDB(t)
	_, err := db.Exec(`
		CREATE INDEX portfolio_user ON portfolio (user_id);
		CREATE INDEX trades_symbol_1 ON trades (symbol);
		CREATE INDEX trades_symbol_2 ON trades (symbol);
		CREATE INDEX trades_user ON trades (user_id) WHERE side = 'buy';
		CREATE INDEX trades_user_time ON trades (user_id, timestamp);
		CREATE UNIQUE INDEX orders_id_status ON orders (id, status);
		CREATE INDEX orders_id_status_symbol ON orders (id, status, symbol);
		CREATE INDEX signals_time_desc ON signals (timestamp DESC);
		CREATE INDEX signals_time_score ON signals (timestamp, confidence_score);
		CREATE INDEX signals_score_nocase ON signals (confidence_score COLLATE NOCASE);
		CREATE INDEX signals_score_time ON signals (confidence_score, timestamp);`)
	if err != nil {
		t.Fatal(err)
	}
	a, err := AuditIndexes(context.Background(), db, nil, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := issueNames(a.Redundant)
	slices.Sort(got)
	want := []string{
		// A prefix of the index behind UNIQUE(user_id, symbol).
		"portfolio_user<sqlite_autoindex_portfolio_1",
		// Of two identical indexes, one.
		"trades_symbol_2<trades_symbol_1",
		// Direction does not matter to a one-column prefix read either way.
		"signals_time_desc<signals_time_score",
	}
	slices.Sort(want)
	// Not listed: the partial trades_user, the unique orders_id_status, and
	// signals_score_nocase, whose collation differs from signals_score_time's.
	if !slices.Equal(got, want) {
		t.Errorf("redundant = %q, want %q", got, want)
	}
	for _, r := range a.Redundant {
		if r.DropSQL != `DROP INDEX IF EXISTS "`+r.Index+`"` {
			t.Errorf("fix = %s", r.DropSQL)
		}
	}
}

func TestUnusedIndexes(t *testing.T) {
	db := itemsDB(t)
	if _, err := db.Exec(`CREATE INDEX ia ON items (a); CREATE INDEX ib ON items (b); CREATE UNIQUE INDEX ic ON items (c)`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := AuditIndexes(ctx, db, nil, nil, Options{})
	if err != nil || a.Unused != nil || a.PlansSeen != 0 {
		t.Fatalf("without plans: unused %v, err %v", a.Unused, err)
	}

	// Plans from statements, explained against the database.
	a, err = AuditIndexes(ctx, db, nil, []string{`SELECT * FROM items WHERE a = ?`}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := issueNames(a.Unused); !slices.Equal(got, []string{"ib<"}) || a.PlansSeen != 1 {
		t.Errorf("unused = %q after %d plans, want ib (ic is unique)", got, a.PlansSeen)
	}

	// Captured plans, as text.
	captured := []string{"QUERY PLAN\n`--SEARCH items USING COVERING INDEX ib (b=?)", "SCAN items"}
	a, err = AuditIndexes(ctx, db, captured, []string{`SELECT * FROM nosuch`}, Options{})
	var qe *QueryError
	if !errors.As(err, &qe) || qe.Query != `SELECT * FROM nosuch` {
		t.Errorf("err = %v, want a *QueryError for the bad query", err)
	}
	if got := issueNames(a.Unused); !slices.Equal(got, []string{"ia<"}) || a.PlansSeen != 2 {
		t.Errorf("unused = %q after %d plans, want ia", got, a.PlansSeen)
	}
}

func statsOf(a Audit) []string {
	var out []string
	for _, s := range a.Stats {
		out = append(out, fmt.Sprintf("%s/%s %s: %s", s.Table, s.Index, s.Problem, s.Fix))
	}
	return out
}

func TestStatisticsIssues(t *testing.T) {
	db := itemsDB(t)
	ctx := context.Background()
	audit := func() []string {
		t.Helper()
		a, err := AuditIndexes(ctx, db, nil, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return statsOf(a)
	}
	if _, err := db.Exec(`CREATE INDEX ia ON items (a)`); err != nil {
		t.Fatal(err)
	}
	if got := audit(); !slices.Equal(got, []string{`items/ missing: ANALYZE "items"`}) {
		t.Fatalf("never analysed: %q", got)
	}
	if _, err := db.Exec(`ANALYZE "items"`); err != nil {
		t.Fatal(err)
	}
	if got := audit(); len(got) != 0 {
		t.Fatalf("after ANALYZE: %q", got)
	}
	if _, err := db.Exec(`CREATE INDEX ib ON items (b)`); err != nil {
		t.Fatal(err)
	}
	if got := audit(); !slices.Equal(got, []string{`items/ib missing: ANALYZE "ib"`}) {
		t.Fatalf("new index: %q", got)
	}
	if _, err := db.Exec(`ANALYZE "ib"`); err != nil {
		t.Fatal(err)
	}
	// Grow the table 20-fold: PRAGMA optimize would analyse it again.
	fill(t, db, `INSERT INTO items (a, b, c) VALUES (?, ?, ?)`, 60000, func(i int) []any { return []any{i % 7, i % 5, 10000 + i} })
	got := audit()
	if !slices.Equal(got, []string{`items/ stale: ANALYZE "main"."items"`}) {
		t.Fatalf("after growth: %q", got)
	}
	if _, err := db.Exec(`ANALYZE "main"."items"`); err != nil {
		t.Fatal(err)
	}
	if got := audit(); len(got) != 0 {
		t.Fatalf("after the fix: %q", got)
	}
}

func TestLastIdentifier(t *testing.T) {
	for in, want := range map[string]string{
		`ANALYZE "main"."trades"`:       "trades",
		`ANALYZE "main"."we""ird name"`: `we"ird name`,
		`ANALYZE main.plain;`:           "plain",
	} {
		if got := lastIdentifier(in); got != want {
			t.Errorf("lastIdentifier(%q) = %q, want %q", in, got, want)
		}
	}
}
