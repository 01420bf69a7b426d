package pg

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite"
)

func TestAdviseThroughHypoPG(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `CREATE EXTENSION hypopg`,
		`CREATE TABLE trades (id bigserial PRIMARY KEY, symbol text NOT NULL, ts timestamptz NOT NULL, qty float8 NOT NULL)`,
		`INSERT INTO trades (symbol, ts, qty) SELECT 'SYM' || (g % 200), timestamptz '2026-01-01' + g * interval '1 minute', g FROM generate_series(1, 50000) g`,
		`ANALYZE trades`)
	hot := `SELECT * FROM trades WHERE symbol = $1 AND ts >= $2 ORDER BY ts DESC LIMIT 50`
	advice, err := qlsqlite.Advise(ctx, db, hot, `SELECT count(*) FROM trades`, `SELECT nope FROM trades`)
	var qe *qlsqlite.AdviceQueryError
	if !errors.As(err, &qe) || qe.Query != `SELECT nope FROM trades` {
		t.Errorf("error %v, want an AdviceQueryError for the bad statement only", err)
	}
	if len(advice) != 1 {
		t.Fatalf("%d advice, want 1: %+v", len(advice), advice)
	}
	a := advice[0]
	if a.Table != "trades" || strings.Join(a.Columns, ",") != "symbol,ts" || len(a.Plans) != 1 {
		t.Fatalf("advice %+v, want trades (symbol, ts)", a)
	}
	if !strings.Contains(a.Plans[0].Before, "Seq Scan on trades") || !strings.Contains(a.Plans[0].After, "btree_trades_symbol_ts") {
		t.Errorf("plans before:\n%s\nafter:\n%s", a.Plans[0].Before, a.Plans[0].After)
	}
	var hypothetical int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = 'trades'`).Scan(&hypothetical); err != nil || hypothetical != 1 {
		t.Fatalf("%d indexes on trades (%v): advice changed the database", hypothetical, err)
	}

	// From the workload: the statistics' fingerprints (with ?) are advised on.
	for i := range 5 {
		rows, err := db.QueryContext(ctx, hot, "SYM7", time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	// The setup's INSERT ... SELECT does not prepare as a fingerprint
	// (timestamptz ? is no syntax): it is reported, the rest advised.
	advice, err = qlsqlite.Advise(ctx, db)
	if err != nil && !errors.As(err, &qe) {
		t.Fatal(err)
	}
	if len(advice) != 1 || advice[0].Total <= 0 || advice[0].Queries[0] != "SELECT * FROM trades WHERE symbol = ? AND ts >= ? ORDER BY ts DESC LIMIT ?" {
		t.Fatalf("workload advice %+v, %v", advice, err)
	}

	if err := qlsqlite.ApplyAdvice(ctx, db, advice...); err != nil {
		t.Fatal(err)
	}
	var plan []string
	rows, err := db.QueryContext(ctx, `EXPLAIN SELECT * FROM trades WHERE symbol = 'SYM7' AND ts >= '2026-06-01' ORDER BY ts DESC LIMIT 50`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var l string
		rows.Scan(&l)
		plan = append(plan, l)
	}
	rows.Close()
	if !strings.Contains(strings.Join(plan, "\n"), advice[0].Name) {
		t.Errorf("after ApplyAdvice the plan does not use %s:\n%s", advice[0].Name, strings.Join(plan, "\n"))
	}
}

// Advice is only what the planner verifies: an index it would not use
// (a column of two values) and one it would use but that saves less than
// half the plan's cost (a range matching a third of the rows) are not
// advised, though both columns are in the statements' filters.
func TestAdviseKeepsOnlyWhatThePlannerVerifies(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `CREATE EXTENSION hypopg`,
		`CREATE TABLE fills (id bigserial PRIMARY KEY, side int NOT NULL, qty float8 NOT NULL)`,
		`INSERT INTO fills (side, qty) SELECT g % 2, g FROM generate_series(1, 50000) g`,
		`ANALYZE fills`)
	for _, q := range []string{`SELECT * FROM fills WHERE side = $1`, `SELECT * FROM fills WHERE qty >= $1`} {
		advice, err := qlsqlite.Advise(ctx, db, q)
		if err != nil || len(advice) != 0 {
			t.Errorf("%s: advice %+v (%v), want none", q, advice, err)
		}
	}
}

func TestAdviseWithoutHypoPGSaysHow(t *testing.T) {
	db, _ := newDB(t)
	_, err := qlsqlite.Advise(context.Background(), db, `SELECT 1`)
	if !errors.Is(err, ErrNoHypoPG) || !strings.Contains(err.Error(), "CREATE EXTENSION hypopg") {
		t.Fatalf("error %v, want ErrNoHypoPG saying to CREATE EXTENSION hypopg", err)
	}
}
