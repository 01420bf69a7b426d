package rewrite

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/advise"
)

// TestCheckCatchesDifference: a proposal that claims equivalence and a
// cheaper plan, but returns other rows on the data, is not verified. No rule
// makes one (the differential test sees to that), so the test makes it.
func TestCheckCatchesDifference(t *testing.T) {
	db := tradingDB(t)
	const orig = `SELECT id FROM users WHERE lower(name) = ?`
	err := advise.WithConn(context.Background(), db, func(c *sqlite3.Conn) error {
		q, err := read(c, orig)
		if err != nil {
			return err
		}
		for _, c := range []struct {
			sql      string
			arg      string
			verified bool
			note     string
		}{
			{`SELECT id FROM users WHERE name = ?1 COLLATE NOCASE AND lower(name) = ?1`, "trader 7", true, "same"},
			{`SELECT id FROM users WHERE name = ?1 COLLATE NOCASE AND lower(name) = ?1 AND id > 'user-00100'`, "trader 7", false, "the results differ"},
			{`SELECT id FROM users WHERE name = ?1 COLLATE NOCASE`, "TRADER 7", false, "the results differ"},
		} {
			v := variant{sql: c.sql, equivalent: true, note: "test."}
			p, ok := q.choose(candidate{rule: "test", variants: []variant{v}})
			if !ok || !p.cheaper {
				t.Fatalf("%s: not cheaper", c.sql)
			}
			picks := []pick{p}
			if err := q.check(context.Background(), picks, []any{c.arg}, Options{}.withDefaults()); err != nil {
				t.Fatal(err)
			}
			if picks[0].Verified != c.verified || !strings.Contains(picks[0].Note, c.note) {
				t.Errorf("%s: verified %v, note %s", c.sql, picks[0].Verified, picks[0].Note)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProposeLeavesNoTransaction: the data check's read transaction ends
// with it, whether the check finished or ran out of budget.
func TestProposeLeavesNoTransaction(t *testing.T) {
	db := tradingDB(t)
	err := advise.WithConn(context.Background(), db, func(c *sqlite3.Conn) error {
		for _, opts := range []Options{{}, {Budget: time.Microsecond}} {
			rs, err := Propose(context.Background(), c, inefficientStatements[12].sql, nil, opts)
			if err != nil || len(rs) != 1 {
				t.Fatalf("%v %+v", err, rs)
			}
			if !c.GetAutocommit() {
				t.Errorf("budget %v: the connection is left inside a transaction", opts.Budget)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
