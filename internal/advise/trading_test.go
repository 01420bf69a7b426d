package advise

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/quantumleap/qlsqlite/internal/trading"
)

// tradingDB is the trading schema, without secondary indexes, holding a few
// thousand rows shaped as the platform's.
func tradingDB(t testing.TB) *sql.DB {
	db := openDB(t, trading.Schema)
	size := trading.Size{Users: 400, Symbols: 500, Trades: 6000, Orders: 4000, Signals: 3000}
	if err := trading.Populate(context.Background(), db, size, 1); err != nil {
		t.Fatal(err)
	}
	return db
}

func tradingQueries() []string {
	var qs []string
	for _, s := range trading.Statements() {
		qs = append(qs, s.SQL)
	}
	return qs
}

// The acceptance test of the advisor: on the unindexed trading schema, the
// advice for the typical statements turns each of their SCANs into SEARCHes,
// in the shadow and then in the real database, and nothing is suggested where
// the index behind UNIQUE(user_id, symbol) already serves.
func TestTradingWorkload(t *testing.T) {
	db := tradingDB(t)
	rep := analyzeT(t, db, Options{}, tradingQueries()...)

	scanned := 0
	for _, r := range rep.Queries {
		if r.Err != nil {
			t.Errorf("%s: %v", r.SQL, r.Err)
		}
		if len(scans(r.Before)) == 0 {
			continue
		}
		scanned++
		if got := scans(r.After); len(got) != 0 {
			t.Errorf("%s still scans %v:\n%s", r.SQL, got, r.After)
		}
		if !strings.Contains(r.After.String(), "SEARCH") {
			t.Errorf("%s: no SEARCH after:\n%s", r.SQL, r.After)
		}
	}
	if scanned != 3 {
		t.Errorf("%d statements scan before the advice, want 3 (trades, orders, signals):\n%s", scanned, describe(rep))
	}

	// The platform's own index plan, found again.
	if adviceOn(rep, "trades", "symbol", "timestamp") == nil {
		t.Errorf("want trades(symbol, timestamp):\n%s", describe(rep))
	}
	if adviceOn(rep, "orders", "status", "created_at") == nil {
		t.Errorf("want orders(status, created_at):\n%s", describe(rep))
	}
	var tables []string
	for _, a := range rep.Advice {
		tables = append(tables, a.Table)
		if len(a.Queries) == 0 {
			t.Errorf("%s helps no statement", a.CreateSQL)
		}
	}
	slices.Sort(tables)
	if !slices.Equal(tables, []string{"orders", "signals", "trades"}) {
		t.Errorf("advice on %v, want one index each on orders, signals, trades:\n%s", tables, describe(rep))
	}

	// The portfolio lookup is served by UNIQUE(user_id, symbol); the upsert
	// is reported as not analysed, not as an error.
	for _, r := range rep.Queries {
		if strings.HasPrefix(r.SQL, "SELECT quantity, average_cost FROM portfolio") &&
			!slices.Equal(r.After.Indexes(), []string{"sqlite_autoindex_portfolio_1"}) {
			t.Errorf("portfolio lookup reads %v", r.After.Indexes())
		}
		if strings.Contains(r.SQL, "ON CONFLICT") && !strings.Contains(r.Note, "UPSERT") {
			t.Errorf("upsert note = %q", r.Note)
		}
	}

	// In the real database, once created, the indexes are used as verified.
	for _, a := range rep.Advice {
		if _, err := db.Exec(a.CreateSQL); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range rep.Advice {
		for _, pc := range a.Queries {
			p, err := Explain(context.Background(), db, pc.SQL)
			if err != nil {
				t.Fatal(err)
			}
			if len(scans(p)) != 0 || !slices.Contains(p.Indexes(), a.Name) {
				t.Errorf("real plan of %s:\n%s", pc.SQL, p)
			}
		}
	}
	// And advising again finds nothing more to do.
	if again := analyzeT(t, db, Options{}, tradingQueries()...); len(again.Advice) != 0 {
		t.Errorf("advice after applying the advice:\n%s", describe(again))
	}
}
