package rewrite

import (
	"slices"
	"strings"
	"testing"
)

// An inefficient statement over the trading schema and the rule that must
// fire for it, and only it.
type inefficient struct {
	sql  string
	rule string
	// verified: the rewrite must be verified on the test data; false where it
	// cannot be (a hint by construction, or a flag).
	verified bool
}

// inefficientStatements are 20 statements over the trading schema (with the
// platform's indexes and the fixture's, see helpers_test.go) that each rule
// must improve.
var inefficientStatements = []inefficient{
	{`SELECT id, name FROM users WHERE lower(name) = ?`, RuleCaseFold, false},
	{`SELECT id FROM users WHERE upper(name) = 'TRADER 7'`, RuleCaseFold, false},
	{`SELECT id, price FROM trades WHERE symbol = ? AND date(timestamp) = ?`, RuleDateRange, false},
	{`SELECT id, status FROM orders WHERE status = 'open' AND date(created_at) >= ?`, RuleDateRange, false},
	{`SELECT symbol, direction FROM signals WHERE confidence_score + 0 > 0.97`, RuleArithmetic, true},
	{`SELECT id, price FROM trades WHERE id + 0 = ?`, RuleArithmetic, true},
	{`SELECT id FROM trades WHERE symbol = ? AND timestamp LIKE '2026-06-2%'`, RuleLikePrefix, true},
	{`SELECT id, quantity FROM orders WHERE status = 'open' AND created_at LIKE '2026-06-29 1%'`, RuleLikePrefix, true},
	{`SELECT id, price FROM trades WHERE symbol = ? AND timestamp LIKE '2026-06-29 1_:%'`, RuleLikePrefix, true},
	{`SELECT t.id, o.id FROM trades t JOIN orders o ON o.id = t.id WHERE t.symbol = ? OR o.status = ?`, RuleOrUnion, true},
	{`SELECT t.id, t.timestamp FROM trades t JOIN users u ON u.id = t.user_id WHERE t.symbol = ? OR u.id = ? ORDER BY t.timestamp LIMIT 50`, RuleOrUnion, true},
	{`SELECT id, symbol FROM signals WHERE strategy_id NOT IN (SELECT strategy_id FROM trades WHERE symbol = ?)`, RuleNotIn, false},
	{`SELECT id FROM users u WHERE (SELECT count(*) FROM trades t WHERE t.user_id = u.id) > 0`, RuleCount, true},
	{`SELECT count(*) > 0 FROM orders WHERE status = 'open' AND user_id = ?`, RuleCount, false},
	{`SELECT id FROM orders o WHERE o.user_id IN (SELECT p.user_id FROM portfolio p WHERE p.symbol = o.symbol)`, RuleInExists, true},
	{`SELECT t.id FROM trades t JOIN users u ON u.id = t.execution_time_ms WHERE t.symbol = ?`, RuleAffinity, false},
	{`SELECT id, symbol, quantity FROM orders WHERE status = ? ORDER BY created_at LIMIT ? OFFSET ?`, RuleKeyset, false},
	{`SELECT id, price FROM trades WHERE symbol = 'SYM001' ORDER BY timestamp DESC LIMIT 50 OFFSET 5000`, RuleKeyset, false},
	{`SELECT * FROM orders WHERE status = 'open' ORDER BY created_at`, RuleSelectStar, false},
	{`SELECT * FROM trades WHERE symbol = ? AND timestamp >= ?`, RuleSelectStar, false},
}

// efficientStatements are 20 statements the indexes serve already: no rule
// may propose anything for them.
var efficientStatements = []string{
	`SELECT * FROM trades WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp DESC LIMIT 50`,
	`SELECT quantity, average_cost FROM portfolio WHERE user_id = ? AND symbol = ?`,
	`SELECT id, symbol, quantity, limit_price FROM orders WHERE status = 'open' ORDER BY created_at LIMIT 100`,
	`SELECT symbol, direction FROM signals WHERE confidence_score >= ? AND timestamp >= ?`,
	`SELECT id FROM users WHERE name = ? COLLATE NOCASE`,
	`SELECT id FROM trades WHERE symbol = ? AND timestamp >= ? AND timestamp < ?`,
	`SELECT count(*) FROM orders WHERE status = ?`,
	`SELECT EXISTS (SELECT 1 FROM trades WHERE user_id = ?)`,
	`SELECT id FROM trades WHERE symbol = ? OR user_id = ?`,
	`SELECT id FROM signals WHERE symbol NOT IN (SELECT symbol FROM orders WHERE status = 'open')`,
	`SELECT id FROM orders WHERE user_id IN (SELECT id FROM users WHERE name = ?)`,
	`SELECT id, price FROM trades WHERE symbol = ? ORDER BY timestamp DESC LIMIT 20`,
	`SELECT id FROM orders WHERE status = 'open' ORDER BY created_at LIMIT 20 OFFSET 40`,
	`SELECT name FROM users WHERE name LIKE 'Trader 1%'`,
	`SELECT u.name, count(*) FROM users u JOIN trades t ON t.user_id = u.id WHERE u.id = ? GROUP BY u.name`,
	`SELECT quantity, average_cost FROM portfolio WHERE user_id = ? AND symbol IN (?, ?, ?)`,
	`SELECT id FROM trades WHERE symbol = 'SYM001' AND timestamp GLOB '2026-06-1*'`,
	`SELECT t.id FROM trades t JOIN users u ON u.id = t.user_id WHERE t.symbol = ?`,
	`SELECT max(timestamp) FROM trades WHERE symbol = ?`,
	`SELECT id FROM orders o WHERE EXISTS (SELECT 1 FROM portfolio p WHERE p.user_id = o.user_id AND p.symbol = o.symbol)`,
}

func TestInefficientStatements(t *testing.T) {
	if len(inefficientStatements) != 20 {
		t.Fatalf("%d inefficient statements, want 20", len(inefficientStatements))
	}
	db := tradingDB(t)
	seen := map[string]bool{}
	for _, s := range inefficientStatements {
		rs := proposeWith(t, db, Options{Budget: budget}, s.sql)
		var rules []string
		for _, r := range rs {
			rules = append(rules, r.Rule)
		}
		if !slices.Equal(rules, []string{s.rule}) {
			t.Errorf("%s\nrules %v, want [%s]", s.sql, rules, s.rule)
			for _, r := range rs {
				t.Logf("  %s: %s\n    %s", r.Rule, r.SQL, r.Note)
			}
			continue
		}
		r := rs[0]
		seen[r.Rule] = true
		if r.Verified != s.verified {
			t.Errorf("%s\nverified %v, want %v\n  %s\n  before %v\n  after  %v\n  %s", s.sql, r.Verified, s.verified, r.SQL, lines(r.Before), lines(r.After), r.Note)
		}
		if r.Verified && (!r.Equivalent || !costOf(r.After).cheaper(costOf(r.Before))) {
			t.Errorf("%s: verified, but equivalent %v, plan %v → %v", s.sql, r.Equivalent, costOf(r.Before), costOf(r.After))
		}
		if r.Note == "" || r.Original != s.sql || r.SQL == s.sql {
			t.Errorf("%s: incomplete proposal %+v", s.sql, r)
		}
	}
	for _, rule := range []string{RuleCaseFold, RuleDateRange, RuleArithmetic, RuleLikePrefix, RuleOrUnion, RuleNotIn, RuleCount, RuleInExists, RuleAffinity, RuleKeyset, RuleSelectStar} {
		if !seen[rule] {
			t.Errorf("rule %s never fired", rule)
		}
	}
}

func TestEfficientStatements(t *testing.T) {
	if len(efficientStatements) != 20 {
		t.Fatalf("%d efficient statements, want 20", len(efficientStatements))
	}
	db := tradingDB(t)
	for _, q := range efficientStatements {
		for _, r := range proposeWith(t, db, Options{Budget: budget}, q) {
			t.Errorf("%s\n  proposed %s: %s\n  %s", q, r.Rule, r.SQL, r.Note)
		}
	}
}

// TestNotesSayWhy checks the notes carry the rule's reason and the outcome
// of the checks.
func TestNotesSayWhy(t *testing.T) {
	db := tradingDB(t)
	for q, want := range map[string][]string{
		inefficientStatements[0].sql:  {"NOCASE", "BLOB", "The plan is cheaper", "On the live data"},
		inefficientStatements[2].sql:  {"CURRENT_TIMESTAMP", "time-zone", "A hint"},
		inefficientStatements[11].sql: {"correctness trap", "NULL", "not equivalent"},
		inefficientStatements[16].sql: {"changes the API", "?4 (created_at), ?5 (orders.id)", "offset ?3"},
	} {
		rs := proposeWith(t, db, Options{Budget: budget}, q)
		if len(rs) != 1 {
			t.Fatalf("%s: %d proposals", q, len(rs))
		}
		for _, w := range want {
			if !strings.Contains(rs[0].Note, w) {
				t.Errorf("%s: note lacks %q:\n%s", q, w, rs[0].Note)
			}
		}
	}
}
