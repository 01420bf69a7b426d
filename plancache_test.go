package qlsqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

func TestCapturedPlans(t *testing.T) {
	db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "plans.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT, ts TEXT)`); err != nil {
		t.Fatal(err)
	}
	const q1 = `SELECT * FROM trades WHERE symbol = ? ORDER BY ts DESC LIMIT 50`
	for _, sym := range []string{"AAPL", "MSFT"} {
		rows, err := db.Query(q1, sym)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if _, err := db.Exec(`INSERT INTO trades (symbol, ts) VALUES (?, ?)`, "AAPL", "2026"); err != nil {
		t.Fatal(err)
	}

	plans, err := CapturedPlans(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	plan := findPlan(plans, q1)
	if plan == nil {
		t.Fatalf("no plan captured for %q; have %v", q1, plans)
	}
	if scans := plan.Scans(); len(scans) != 1 || !strings.Contains(scans[0], "trades") {
		t.Errorf("without an index the plan should scan trades: %v\n%s", scans, plan)
	}
	if !strings.Contains(plan.String(), "USE TEMP B-TREE FOR ORDER BY") {
		t.Errorf("plan lacks the sort:\n%s", plan)
	}

	// An index changes the schema version: the plan is captured again.
	if _, err := db.Exec(`CREATE INDEX trades_symbol_ts ON trades (symbol, ts)`); err != nil {
		t.Fatal(err)
	}
	plans, err = CapturedPlans(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	plan = findPlan(plans, q1)
	if plan == nil || len(plan.Scans()) != 0 || !strings.Contains(plan.String(), "trades_symbol_ts") {
		t.Errorf("after CREATE INDEX the plan is not refreshed:\n%v", plan)
	}
	if plan.SchemaVersion <= 1 {
		t.Errorf("schema version %d", plan.SchemaVersion)
	}
}

func findPlan(plans []Plan, query string) *Plan {
	fp := FingerprintOf(query)
	for i := range plans {
		if plans[i].Fingerprint == fp {
			return &plans[i]
		}
	}
	return nil
}

func TestCapturedPlansOtherDB(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := CapturedPlans(context.Background(), db); err == nil || !strings.Contains(err.Error(), "not qlsqlite") {
		t.Errorf("CapturedPlans on a raw sqlite3 *sql.DB: %v", err)
	}
}

func TestPlannerStopsWithDB(t *testing.T) {
	db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "stop.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t WHERE n > ?`, 0).Scan(&n); err != nil {
		t.Fatal(err)
	}
	p := db.Driver().(*Driver).db.planner
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	<-p.stopped // the goroutine is gone
	if err := p.flush(context.Background()); err == nil {
		t.Error("flush after close succeeded")
	}
}

func TestAuditWithCapturedPlans(t *testing.T) {
	db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE t (a, b, c); CREATE INDEX t_a ON t (a); CREATE INDEX t_c ON t (c)`); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT b FROM t WHERE a = ?`, 1) // uses t_a, never t_c
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	audit, err := AuditIndexes(ctx, db, AuditInput{})
	if err != nil {
		t.Fatal(err)
	}
	if audit.PlansSeen == 0 || len(audit.Unused) != 1 || audit.Unused[0].Index != "t_c" {
		t.Errorf("audit from captured plans: %+v", audit)
	}
}
