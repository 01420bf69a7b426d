package qlsqlite_test

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ncdriver "github.com/ncruces/go-sqlite3/driver"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

func adviseOpen(t testing.TB, schema string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "advise.db"))+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	return db
}

func adviseTradingDB(t testing.TB) *sql.DB {
	db := adviseOpen(t, "") // Load creates the schema
	size := trading.Data{Users: 300, Symbols: 500, Trades: 5000, Orders: 3000, Signals: 2000, Seed: 2, Now: trading.Epoch()}
	if err := trading.Load(context.Background(), db, size, nil); err != nil {
		t.Fatal(err)
	}
	return db
}

func adviseStatements() []string {
	var qs []string
	for _, s := range trading.Statements() {
		qs = append(qs, s.SQL)
	}
	return qs
}

func adviseRealPlan(t testing.TB, db *sql.DB, query string) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN " + query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n")
}

func TestAdviseAndApplyTrading(t *testing.T) {
	db := adviseTradingDB(t)
	ctx := context.Background()
	advice, err := qlsqlite.Advise(ctx, db, adviseStatements()...)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range advice {
		got = append(got, a.Table)
		if len(a.Queries) == 0 || len(a.Plans) != len(a.Queries) || a.Total != 0 {
			t.Errorf("%s: %d queries, %d plans, total %v", a.CreateSQL, len(a.Queries), len(a.Plans), a.Total)
		}
		for i, p := range a.Plans {
			if p.Query != a.Queries[i] || !strings.Contains(p.Before, "SCAN "+a.Table) ||
				strings.Contains(p.After, "SCAN "+a.Table) || !strings.Contains(p.After, a.Name) {
				t.Errorf("%s: plans for %s:\nbefore:\n%s\nafter:\n%s", a.Name, p.Query, p.Before, p.After)
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"orders", "signals", "trades"}) {
		t.Fatalf("advice on %v, want orders, signals, trades", got)
	}

	// Literal values: the real planner, after ApplyAdvice.
	probe := `SELECT * FROM trades WHERE symbol = 'SYM001' AND timestamp >= '2025-06-01' ORDER BY timestamp DESC LIMIT 50`
	if p := adviseRealPlan(t, db, probe); !strings.HasPrefix(p, "SCAN trades") {
		t.Fatalf("before ApplyAdvice: %s", p)
	}
	if err := qlsqlite.ApplyAdvice(ctx, db, advice...); err != nil {
		t.Fatal(err)
	}
	if p := adviseRealPlan(t, db, probe); !strings.HasPrefix(p, "SEARCH trades USING INDEX idx_trades_symbol_timestamp") {
		t.Errorf("after ApplyAdvice: %s", p)
	}
	// The tables indexed were analysed, with analysis_limit restored.
	var analysed []string
	rows, err := db.Query(`SELECT DISTINCT tbl FROM sqlite_stat1 ORDER BY tbl`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		analysed = append(analysed, s)
	}
	rows.Close()
	if !slices.Equal(analysed, []string{"orders", "signals", "trades"}) {
		t.Errorf("analysed %v", analysed)
	}
	// Applying twice is harmless; advising again finds nothing.
	if err := qlsqlite.ApplyAdvice(ctx, db, advice...); err != nil {
		t.Fatal(err)
	}
	if again, err := qlsqlite.Advise(ctx, db, adviseStatements()...); err != nil || len(again) != 0 {
		t.Errorf("advice after applying: %v, %v", again, err)
	}
}

func TestApplyAdviceRefuses(t *testing.T) {
	db := adviseOpen(t, `CREATE TABLE t (a, b); CREATE INDEX idx_t_a ON t (b)`)
	ctx := context.Background()
	bad := qlsqlite.IndexAdvice{Table: "t", Name: "x", Columns: []string{"a"}, CreateSQL: "DROP TABLE t"}
	if err := qlsqlite.ApplyAdvice(ctx, db, bad); err == nil || !strings.Contains(err.Error(), "DROP TABLE t") {
		t.Errorf("err = %v, want a refusal naming the statement", err)
	}
	// Exactly one CREATE INDEX: nothing after it runs.
	for _, tail := range []string{"; DROP TABLE t", ";DROP TABLE t;", "; -- x\nDROP TABLE t", "; /* */ DROP TABLE t"} {
		chained := qlsqlite.IndexAdvice{Table: "t", Name: "idx_t_x", Columns: []string{"a"},
			CreateSQL: `CREATE INDEX IF NOT EXISTS "idx_t_x" ON "t" ("a")` + tail}
		if err := qlsqlite.ApplyAdvice(ctx, db, chained); err == nil || !strings.Contains(err.Error(), "exactly one") {
			t.Errorf("%q: err = %v, want a refusal of the second statement", chained.CreateSQL, err)
		}
	}
	clash := qlsqlite.IndexAdvice{Table: "t", Name: "idx_t_a", Columns: []string{"a"},
		CreateSQL: `CREATE INDEX IF NOT EXISTS "idx_t_a" ON "t" ("a")`}
	if err := qlsqlite.ApplyAdvice(ctx, db, clash); err == nil || !strings.Contains(err.Error(), `"idx_t_a" exists on (b), not (a)`) {
		t.Errorf("err = %v, want the name clash reported", err)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM sqlite_schema`).Scan(&n)
	if n != 2 {
		t.Errorf("schema has %d objects, want 2: nothing applied", n)
	}
}

func TestAdviseQueryErrors(t *testing.T) {
	db := adviseTradingDB(t)
	advice, err := qlsqlite.Advise(context.Background(), db,
		`SELECT * FROM trades WHERE strategy_id = ?`, `SELECT * FROM trades WHERE no_such_column = ?`)
	var qe *qlsqlite.AdviceQueryError
	if !errors.As(err, &qe) || qe.Query != `SELECT * FROM trades WHERE no_such_column = ?` {
		t.Fatalf("err = %v, want an AdviceQueryError naming the bad query", err)
	}
	if len(advice) != 1 || !slices.Equal(advice[0].Columns, []string{"strategy_id"}) {
		t.Errorf("advice = %+v, want trades(strategy_id) for the good query", advice)
	}
}

// adviseWideSchema is a table with 25 columns c1..c25 of distinct values.
func adviseWideDB(t testing.TB) *sql.DB {
	var cols, vals []string
	for i := 1; i <= 25; i++ {
		cols = append(cols, fmt.Sprintf("c%d INTEGER", i))
		vals = append(vals, fmt.Sprintf("(i * %d) %% 997", i))
	}
	return adviseOpen(t, fmt.Sprintf(`CREATE TABLE w (id INTEGER PRIMARY KEY, %s);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		INSERT INTO w SELECT i, %s FROM n;`, strings.Join(cols, ", "), strings.Join(vals, ", ")))
}

func adviseWorkload() []qlsqlite.WorkloadQuery {
	var w []qlsqlite.WorkloadQuery
	for i := 1; i <= 25; i++ {
		w = append(w, qlsqlite.WorkloadQuery{
			Query: fmt.Sprintf("SELECT * FROM w WHERE c%d = ?", i), Calls: int64(i), Total: time.Duration(i) * time.Millisecond,
		})
	}
	return w
}

func TestAdviseWorkload(t *testing.T) {
	db := adviseWideDB(t)
	advice, err := qlsqlite.AdviseWorkload(context.Background(), db, adviseWorkload())
	if err != nil {
		t.Fatal(err)
	}
	if len(advice) != qlsqlite.MaxWorkloadQueries {
		t.Fatalf("%d indexes, want one for each of the %d costliest statements", len(advice), qlsqlite.MaxWorkloadQueries)
	}
	// Costliest first: c25 (25 ms) down to c6 (6 ms); c1..c5 left out.
	for i, a := range advice {
		k := 25 - i
		if want := []string{fmt.Sprintf("c%d", k)}; !slices.Equal(a.Columns, want) || a.Total != time.Duration(k)*time.Millisecond {
			t.Errorf("advice %d: %v total %v, want %v total %dms", i, a.Columns, a.Total, want, k)
		}
	}
}

// A connector whose connections report a workload, as the qlsqlite driver's do.
type adviseReporterConnector struct {
	sqldriver.Connector
	workload []qlsqlite.WorkloadQuery
}

type adviseReporterConn struct {
	ncdriver.Conn
	workload []qlsqlite.WorkloadQuery
}

func (c adviseReporterConn) Workload() []qlsqlite.WorkloadQuery { return c.workload }

func (c adviseReporterConnector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return adviseReporterConn{conn.(ncdriver.Conn), c.workload}, nil
}

func TestAdviseWithoutQueries(t *testing.T) {
	plain := adviseWideDB(t)
	ctx := context.Background()
	if _, err := qlsqlite.Advise(ctx, plain); !errors.Is(err, qlsqlite.ErrNoWorkload) {
		t.Fatalf("err = %v, want ErrNoWorkload", err)
	}

	var dsn string
	plain.QueryRow(`SELECT 'file:' || file FROM pragma_database_list WHERE name = 'main'`).Scan(&dsn)
	connector, err := (&ncdriver.SQLite{}).OpenConnector(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(adviseReporterConnector{connector, adviseWorkload()[:3]})
	defer db.Close()
	advice, err := qlsqlite.Advise(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, a := range advice {
		cols = append(cols, a.Columns...)
	}
	if !slices.Equal(cols, []string{"c3", "c2", "c1"}) {
		t.Errorf("advice on %v, want c3, c2, c1 from the reported workload", cols)
	}
}

func TestAuditIndexes(t *testing.T) {
	db := adviseTradingDB(t)
	ctx := context.Background()
	if _, err := db.Exec(`CREATE INDEX portfolio_user ON portfolio (user_id); CREATE INDEX trades_side ON trades (side); ANALYZE`); err != nil {
		t.Fatal(err)
	}
	audit, err := qlsqlite.AuditIndexes(ctx, db, qlsqlite.AuditInput{
		Queries: adviseStatements(),
		Plans:   []string{"SEARCH portfolio USING INDEX portfolio_user (user_id=?)"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if audit.PlansSeen != len(adviseStatements())+1 {
		t.Errorf("PlansSeen = %d", audit.PlansSeen)
	}
	if len(audit.Unused) != 1 || audit.Unused[0].Index != "trades_side" {
		t.Errorf("unused = %+v, want trades_side", audit.Unused)
	}
	if len(audit.Redundant) != 1 || audit.Redundant[0] != (qlsqlite.IndexIssue{
		Table: "portfolio", Index: "portfolio_user", CoveredBy: "sqlite_autoindex_portfolio_1",
		DropSQL: `DROP INDEX IF EXISTS "portfolio_user"`}) {
		t.Errorf("redundant = %+v", audit.Redundant)
	}
	if len(audit.Statistics) != 0 {
		t.Errorf("statistics = %+v after ANALYZE", audit.Statistics)
	}
	if _, err := db.Exec(`INSERT INTO trades (user_id, symbol, quantity, price, side) SELECT user_id, symbol, quantity, price, side FROM trades, (SELECT 1 FROM trades LIMIT 20)`); err != nil {
		t.Fatal(err)
	}
	audit, err = qlsqlite.AuditIndexes(ctx, db, qlsqlite.AuditInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit.Statistics) != 1 || audit.Statistics[0] != (qlsqlite.StatisticsIssue{Table: "trades", Stale: true, Fix: `ANALYZE "main"."trades"`}) {
		t.Errorf("statistics = %+v, want trades stale", audit.Statistics)
	}
}
