package pg

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/quantumleap/qlsqlite"
)

// This file is PostgreSQL's [qlsqlite.IndexAdviser]: index advice verified
// with the server's own planner, through hypopg's hypothetical indexes
// (https://github.com/HypoPG/hypopg), which the planner sees in one session
// only and which cost no disk and no lock.
//
// For each statement: its generic plan (parameters unknown) is read with
// EXPLAIN; each sequential scan with a filter, or under a sort, suggests
// candidate indexes (the filter's equality columns, then a range column or
// the sort's columns); each candidate is created hypothetically and the
// statement planned again; the candidate the planner uses and that cuts the
// plan's cost at least in half (advised as ankane/dexter does: only a large
// gain) is the advice. Nothing is written to the database.

// ErrNoHypoPG is matched by the error of index advice on a database
// without the hypopg extension. The error says how to install it.
var ErrNoHypoPG = errors.New("qlpg: index advice needs the hypopg extension")

// minGain is the share of a plan's cost an advised index must save.
const minGain = 0.5

var _ qlsqlite.IndexAdviser = &backend{}

// AdviseIndexes implements [qlsqlite.IndexAdviser]: qlsqlite.Advise and
// qlsqlite.AdviseWorkload call it for a qlpg database. It runs on the
// backend's own connection, never one of the pool's; statements that do not
// prepare are reported as [qlsqlite.AdviceQueryError]s, and the others
// analysed all the same.
func (b *backend) AdviseIndexes(ctx context.Context, _ *sql.DB, queries []qlsqlite.WorkloadQuery) ([]qlsqlite.IndexAdvice, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
	}
	var out []qlsqlite.IndexAdvice
	var queryErrs []error
	err := b.withOwn(ctx, func(c *pgx.Conn) error {
		if err := checkHypoPG(ctx, c); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
			return err
		}
		defer c.Exec(context.WithoutCancel(ctx), `RESET plan_cache_mode`)
		defer c.Exec(context.WithoutCancel(ctx), `SELECT hypopg_reset()`)
		for i, q := range queries {
			if !plannable(q.Query) {
				continue // DDL, ANALYZE, ...: no index serves them
			}
			a, err := adviseOne(ctx, c, i, q)
			var qe *qlsqlite.AdviceQueryError
			switch {
			case errors.As(err, &qe):
				queryErrs = append(queryErrs, err)
			case err != nil:
				return err
			case a != nil:
				out = merge(out, *a)
			}
		}
		return nameIndexes(ctx, c, out)
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b qlsqlite.IndexAdvice) int { return int(b.Total - a.Total) })
	return out, errors.Join(queryErrs...)
}

// plannable reports whether a statement is one PostgreSQL plans (and so
// can prepare): a query or a data change.
func plannable(query string) bool {
	f := strings.Fields(strings.TrimLeft(query, "( \t\r\n"))
	if len(f) == 0 {
		return false
	}
	switch strings.ToUpper(f[0]) {
	case "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "VALUES", "TABLE", "MERGE":
		return true
	}
	return false
}

// checkHypoPG returns ErrNoHypoPG, saying how to get it, unless the
// extension is installed in the database.
func checkHypoPG(ctx context.Context, c *pgx.Conn) error {
	var installed, available bool
	err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg'),
		EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg')`).Scan(&installed, &available)
	switch {
	case err != nil:
		return err
	case installed:
		return nil
	case available:
		return fmt.Errorf("%w: it is on the server but not in database %q: run CREATE EXTENSION hypopg in it (as a role allowed to create extensions)", ErrNoHypoPG, c.Config().Database)
	}
	return fmt.Errorf("%w, which the server does not have: install it on the database server (Debian: apt-get install postgresql-15-hypopg; other systems: https://github.com/HypoPG/hypopg), then run CREATE EXTENSION hypopg in database %q", ErrNoHypoPG, c.Config().Database)
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType  string      `json:"Node Type"`
	Relation  string      `json:"Relation Name"`
	Filter    string      `json:"Filter"`
	SortKey   []string    `json:"Sort Key"`
	IndexName string      `json:"Index Name"`
	TotalCost float64     `json:"Total Cost"`
	Plans     []*planNode `json:"Plans"`
}

// candidate is an index that may serve a statement.
type candidate struct {
	table   string
	columns []string
}

func (c candidate) create() string {
	cols := make([]string, len(c.columns))
	for i, col := range c.columns {
		cols[i] = pgx.Identifier{col}.Sanitize()
	}
	return "CREATE INDEX ON " + pgx.Identifier{c.table}.Sanitize() + " (" + strings.Join(cols, ", ") + ")"
}

// adviseOne finds the best candidate index of one statement, or nil.
func adviseOne(ctx context.Context, c *pgx.Conn, i int, q qlsqlite.WorkloadQuery) (*qlsqlite.IndexAdvice, error) {
	st := statement{sql: numbered(q.Query), name: fmt.Sprintf("qlpg_advise_%d", i)}
	sd, err := c.Prepare(ctx, st.name, st.sql)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return nil, &qlsqlite.AdviceQueryError{Query: q.Query, Err: err}
		}
		return nil, err
	}
	if err := c.Deallocate(ctx, st.name); err != nil {
		return nil, err
	}
	st.params = len(sd.ParamOIDs)
	before, err := st.explain(ctx, c)
	if err != nil {
		return nil, err
	}
	var best *candidate
	bestCost := before.TotalCost * (1 - minGain)
	for _, cand := range candidates(before) {
		after, err := withHypothetical(ctx, c, cand, func() (*planNode, error) { return st.explain(ctx, c) })
		if err != nil {
			return nil, err
		}
		if usesHypothetical(after) && after.TotalCost <= bestCost {
			best, bestCost = &cand, after.TotalCost
		}
	}
	if best == nil {
		return nil, nil
	}
	beforeText, err := st.explainText(ctx, c)
	if err != nil {
		return nil, err
	}
	afterText, err := withHypothetical(ctx, c, *best, func() (string, error) { return st.explainText(ctx, c) })
	if err != nil {
		return nil, err
	}
	return &qlsqlite.IndexAdvice{
		Table: best.table, Columns: best.columns, Queries: []string{q.Query}, Total: q.Total,
		Plans: []qlsqlite.AdvicePlan{{Query: q.Query, Before: beforeText, After: afterText}},
	}, nil
}

// withHypothetical runs fn with cand created as a hypothetical index.
func withHypothetical[T any](ctx context.Context, c *pgx.Conn, cand candidate, fn func() (T, error)) (T, error) {
	var zero T
	if _, err := c.Exec(ctx, `SELECT * FROM hypopg_create_index($1)`, cand.create()); err != nil {
		return zero, fmt.Errorf("qlpg: hypopg_create_index(%s): %w", cand.create(), err)
	}
	defer c.Exec(context.WithoutCancel(ctx), `SELECT hypopg_reset()`)
	return fn()
}

// statement is a statement to plan with its parameters unknown: prepared
// anew for each plan (a prepared statement keeps its generic plan, which
// would not see a hypothetical index created since) and run with EXPLAIN
// EXECUTE under plan_cache_mode=force_generic_plan (PostgreSQL 15 has no
// EXPLAIN (GENERIC_PLAN)).
type statement struct {
	sql, name string
	params    int
}

// withPrepared runs fn with the statement prepared, and the EXECUTE that
// plans it.
func withPrepared[T any](ctx context.Context, c *pgx.Conn, st statement, fn func(execute string) (T, error)) (T, error) {
	var zero T
	if _, err := c.Prepare(ctx, st.name, st.sql); err != nil {
		return zero, err
	}
	defer c.Deallocate(context.WithoutCancel(ctx), st.name)
	execute := "EXECUTE " + st.name
	if st.params > 0 {
		execute += "(" + strings.TrimSuffix(strings.Repeat("NULL, ", st.params), ", ") + ")"
	}
	return fn(execute)
}

func (st statement) explain(ctx context.Context, c *pgx.Conn) (*planNode, error) {
	return withPrepared(ctx, c, st, func(execute string) (*planNode, error) { return explain(ctx, c, execute) })
}

func (st statement) explainText(ctx context.Context, c *pgx.Conn) (string, error) {
	return withPrepared(ctx, c, st, func(execute string) (string, error) { return explainText(ctx, c, execute) })
}

func explain(ctx context.Context, c *pgx.Conn, execute string) (*planNode, error) {
	var doc string
	if err := c.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+execute).Scan(&doc); err != nil {
		return nil, fmt.Errorf("qlpg: EXPLAIN: %w", err)
	}
	var plans []struct{ Plan *planNode }
	if err := json.Unmarshal([]byte(doc), &plans); err != nil || len(plans) == 0 || plans[0].Plan == nil {
		return nil, fmt.Errorf("qlpg: reading the plan of %s: %v: %.200s", execute, err, doc)
	}
	return plans[0].Plan, nil
}

// explainText is the plan as psql prints EXPLAIN.
func explainText(ctx context.Context, c *pgx.Conn, execute string) (string, error) {
	rows, err := c.Query(ctx, `EXPLAIN `+execute)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return strings.Join(lines, "\n"), err
}

// usesHypothetical reports whether a plan uses a hypothetical index (hypopg
// names them "<oid>btree_...").
func usesHypothetical(n *planNode) bool {
	if strings.HasPrefix(n.IndexName, "<") && strings.Contains(n.IndexName, ">btree") {
		return true
	}
	return slices.ContainsFunc(n.Plans, usesHypothetical)
}

// candidates are the indexes that might replace a plan's sequential scans:
// for each scan with a filter, its equality columns then its first range
// column, its equality columns alone, and its equality columns then the
// columns of a sort above it.
func candidates(root *planNode) []candidate {
	var out []candidate
	add := func(table string, cols []string) {
		cols = dedupe(cols)
		if len(cols) == 0 || len(cols) > 4 {
			return
		}
		for _, c := range out {
			if c.table == table && slices.Equal(c.columns, cols) {
				return
			}
		}
		out = append(out, candidate{table: table, columns: cols})
	}
	var walk func(n *planNode, sort []string)
	walk = func(n *planNode, sort []string) {
		switch n.NodeType {
		case "Sort", "Incremental Sort":
			sort = sortColumns(n.SortKey)
		case "Limit", "Gather", "Gather Merge", "Result":
		case "Seq Scan":
			eq, rng := filterColumns(n.Filter)
			if len(rng) > 0 {
				add(n.Relation, append(slices.Clip(eq), rng[0]))
			}
			add(n.Relation, eq)
			if len(sort) > 0 {
				add(n.Relation, append(slices.Clip(eq), sort...))
			}
			return
		default:
			sort = nil
		}
		for _, c := range n.Plans {
			walk(c, sort)
		}
	}
	walk(root, nil)
	return out
}

// comparison finds "column op" in a filter: the column (maybe quoted,
// maybe cast) left of an indexable operator.
var comparison = regexp.MustCompile(`\(*"?([A-Za-z_][A-Za-z0-9_]*)"?\)?(?:::[a-z ]+)?\s+(=|>=|<=|>|<)\s`)

// filterColumns returns the columns a filter compares for equality and
// for a range, in order.
func filterColumns(filter string) (eq, rng []string) {
	for _, m := range comparison.FindAllStringSubmatch(filter, -1) {
		if m[2] == "=" {
			eq = append(eq, m[1])
		} else {
			rng = append(rng, m[1])
		}
	}
	return dedupe(eq), dedupe(rng)
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// sortColumns returns the columns of a sort key ("\"timestamp\" DESC").
func sortColumns(keys []string) []string {
	var cols []string
	for _, k := range keys {
		f := strings.Fields(k)
		if len(f) == 0 {
			continue
		}
		col := f[0]
		if i := strings.LastIndexByte(col, '.'); i >= 0 {
			col = col[i+1:]
		}
		col = strings.Trim(col, `"`)
		if !identifier.MatchString(col) {
			return nil // an expression: no plain index serves it
		}
		cols = append(cols, col)
	}
	return cols
}

func dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// merge adds a statement's advice to out, into an advice of the same index
// if there is one.
func merge(out []qlsqlite.IndexAdvice, a qlsqlite.IndexAdvice) []qlsqlite.IndexAdvice {
	for i := range out {
		if out[i].Table == a.Table && slices.Equal(out[i].Columns, a.Columns) {
			out[i].Queries = append(out[i].Queries, a.Queries...)
			out[i].Plans = append(out[i].Plans, a.Plans...)
			out[i].Total += a.Total
			return out
		}
	}
	return append(out, a)
}

// nameIndexes names the advised indexes, unique among the schema's
// relations, and writes their CREATE statements.
func nameIndexes(ctx context.Context, c *pgx.Conn, advice []qlsqlite.IndexAdvice) error {
	taken := map[string]bool{}
	for i := range advice {
		a := &advice[i]
		base := "idx_" + a.Table + "_" + strings.Join(a.Columns, "_")
		if len(base) > 60 {
			base = base[:60]
		}
		name := base
		for n := 2; ; n++ {
			var exists bool
			if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1)`, name).Scan(&exists); err != nil {
				return err
			}
			if !exists && !taken[name] {
				break
			}
			name = fmt.Sprintf("%s_%d", base, n)
		}
		taken[name] = true
		cols := make([]string, len(a.Columns))
		for j, col := range a.Columns {
			cols[j] = pgx.Identifier{col}.Sanitize()
		}
		a.Name = name
		a.CreateSQL = "CREATE INDEX CONCURRENTLY IF NOT EXISTS " + pgx.Identifier{name}.Sanitize() + " ON " + pgx.Identifier{a.Table}.Sanitize() + " (" + strings.Join(cols, ", ") + ")"
	}
	return nil
}

// numbered turns the ? placeholders of a fingerprint (what qlsqlite's
// statistics report, and so the workload) into PostgreSQL's $1, $2, ...
// Statements already written with $n are left as they are.
func numbered(query string) string {
	if !strings.Contains(query, "?") || strings.Contains(query, "$1") {
		return query
	}
	var sb strings.Builder
	n, quote := 0, byte(0)
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
			fmt.Fprintf(&sb, "$%d", n)
			continue
		}
		sb.WriteByte(ch)
	}
	return sb.String()
}

// ApplyIndexes implements [qlsqlite.IndexAdviser]: each index is built with
// CREATE INDEX CONCURRENTLY, which lets writes go on while it builds (and
// cannot run in a transaction), then its table is analysed. An advice that
// holds no CreateSQL is skipped, and one that is not a CREATE INDEX
// CONCURRENTLY IF NOT EXISTS is refused. A build that fails leaves an
// invalid index behind: the error says to drop it.
func (b *backend) ApplyIndexes(ctx context.Context, db *sql.DB, advice []qlsqlite.IndexAdvice) error {
	var tables []string
	for _, a := range advice {
		if a.CreateSQL == "" {
			continue
		}
		if !strings.HasPrefix(a.CreateSQL, "CREATE INDEX CONCURRENTLY IF NOT EXISTS ") || strings.Contains(a.CreateSQL, ";") {
			return fmt.Errorf("qlpg: apply advice: %q is not an advice from Advise (want one CREATE INDEX CONCURRENTLY IF NOT EXISTS)", a.CreateSQL)
		}
		if _, err := db.ExecContext(ctx, a.CreateSQL); err != nil {
			return fmt.Errorf("qlpg: apply advice: %s: %w (if it left an invalid index, DROP INDEX %s and apply again)", a.CreateSQL, err, pgx.Identifier{a.Name}.Sanitize())
		}
		if !slices.Contains(tables, a.Table) {
			tables = append(tables, a.Table)
		}
	}
	for _, t := range tables {
		if _, err := db.ExecContext(ctx, "ANALYZE "+pgx.Identifier{t}.Sanitize()); err != nil {
			return fmt.Errorf("qlpg: apply advice: indexes created; ANALYZE %s failed (run it later): %w", t, err)
		}
	}
	return nil
}
