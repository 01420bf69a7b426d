package advise

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// An IndexIssue is an existing index that costs writes and space for nothing.
type IndexIssue struct {
	Table     string
	Index     string
	CoveredBy string // for a redundant index, the index that serves in its place
	DropSQL   string // DROP INDEX IF EXISTS ...
}

// StatsProblem says what is wrong with a table's statistics.
type StatsProblem string

const (
	// StatsMissing: ANALYZE never ran on the table (or index), so the
	// planner guesses row counts and selectivities.
	StatsMissing StatsProblem = "missing"
	// StatsStale: the table changed so much since its last ANALYZE that
	// SQLite's own PRAGMA optimize would analyse it again.
	StatsStale StatsProblem = "stale"
)

// A StatsIssue is a table, or one index of it, whose statistics mislead the
// planner, with the statement that fixes it.
type StatsIssue struct {
	Table   string
	Index   string // "" when the problem is the table's
	Problem StatsProblem
	Fix     string // the statement to run, for example ANALYZE "trades"
}

// An Audit is the outcome of [AuditIndexes].
type Audit struct {
	// Unused lists indexes created with CREATE INDEX that none of the plans
	// read. It is empty when no plans were given. Indexes behind UNIQUE and
	// PRIMARY KEY constraints, and other unique indexes, are never listed:
	// they enforce a constraint. Plans do not show an index read only to
	// check a foreign key or by a trigger: review before dropping.
	Unused []IndexIssue
	// Redundant lists indexes another index of the same table serves: their
	// columns are a prefix of the other's (in the same collations and
	// directions, or all reversed). Unique and partial indexes are never
	// listed.
	Redundant []IndexIssue
	// Stats lists tables and indexes whose statistics are missing or stale.
	Stats []StatsIssue
	// PlansSeen is how many plans the audit read, given and explained.
	PlansSeen int
}

// AuditIndexes audits the indexes of db's main database: those no plan uses,
// those another index makes redundant, and tables whose statistics are missing
// or stale. plans are captured EXPLAIN QUERY PLAN outputs, as text with one
// row per line (any rendering that keeps SQLite's detail text); queries are
// explained against db and their plans added. It reads db and never changes it.
//
// A query that does not prepare is reported in an error joining one
// [*QueryError] per failed query, returned with the audit of the rest.
func AuditIndexes(ctx context.Context, db *sql.DB, plans []string, queries []string, opts Options) (Audit, error) {
	opts = opts.withDefaults()
	ctx, cancel := withDeadline(ctx, opts.Timeout)
	defer cancel()
	var out Audit
	var failed []error
	err := withRaw(ctx, db, func(c *sqlite3.Conn) error {
		sch, err := loadSchema(c)
		if err != nil {
			return err
		}
		used := map[string]bool{}
		note := func(p string) {
			out.PlansSeen++
			for line := range strings.Lines(p) {
				if name := usedIndex(strings.TrimRight(line, "\r\n")); name != "" {
					used[strings.ToLower(name)] = true
				}
			}
		}
		for _, p := range plans {
			note(p)
		}
		for _, q := range queries {
			if err := checkPrepare(c, q); err != nil {
				if ctx.Err() != nil {
					return err
				}
				failed = append(failed, &QueryError{Query: q, Err: err})
				continue
			}
			p, err := explain(c, q)
			if err != nil {
				return fmt.Errorf("advise: explain %q: %w", q, err)
			}
			note(p.String())
		}
		out.Unused = unused(sch, used, out.PlansSeen > 0)
		out.Redundant = redundant(sch)
		out.Stats, err = statsIssues(c, sch)
		return err
	})
	if err != nil {
		return Audit{}, err
	}
	return out, errors.Join(failed...)
}

func dropSQL(name string) string { return "DROP INDEX IF EXISTS " + quote(name) }

// plain reports whether ix was made by CREATE INDEX and enforces nothing.
func plain(ix *index) bool { return ix.origin == "c" && !ix.unique }

func unused(sch *schema, used map[string]bool, sawPlans bool) []IndexIssue {
	if !sawPlans {
		return nil
	}
	var out []IndexIssue
	for _, t := range sch.tables {
		for _, ix := range t.indexes {
			if plain(ix) && !used[strings.ToLower(ix.name)] {
				out = append(out, IndexIssue{Table: t.name, Index: ix.name, DropSQL: dropSQL(ix.name)})
			}
		}
	}
	return out
}

func redundant(sch *schema) []IndexIssue {
	var out []IndexIssue
	for _, t := range sch.tables {
		for i, a := range t.indexes {
			if !plain(a) || a.partial || slices.ContainsFunc(a.cols, func(x term) bool { return x.col < 0 }) {
				continue
			}
			for j, b := range t.indexes {
				if i == j || !serves(b, a.cols, 0) {
					continue
				}
				// Of two identical plain indexes, report the one that sorts last.
				if len(b.cols) == len(a.cols) && plain(b) && strings.ToLower(a.name) < strings.ToLower(b.name) {
					continue
				}
				out = append(out, IndexIssue{Table: t.name, Index: a.name, CoveredBy: b.name, DropSQL: dropSQL(a.name)})
				break
			}
		}
	}
	return out
}

// statsIssues finds tables and indexes without statistics, and asks SQLite's
// PRAGMA optimize, in its debugging mode that only reports (0x10003: report,
// analyse tables, check all tables), which tables it would analyse again.
func statsIssues(c *sqlite3.Conn, sch *schema) ([]StatsIssue, error) {
	var out []StatsIssue
	have := map[string]bool{}
	for _, r := range sch.stat1 {
		have[statKey(r.tbl, r.idx)] = true
	}
	skip := map[string]bool{} // tables already reported, or empty: PRAGMA optimize adds nothing
	for _, t := range sch.tables {
		if t.virtual {
			continue
		}
		// ANALYZE writes nothing for an empty table: nothing is missing.
		empty := true
		if err := each(c, `SELECT 1 FROM main.`+quote(t.name)+` LIMIT 1`, nil, func(*sqlite3.Stmt) error {
			empty = false
			return nil
		}); err != nil {
			return nil, fmt.Errorf("advise: read %q: %w", t.name, err)
		}
		if empty {
			skip[strings.ToLower(t.name)] = true // and PRAGMA optimize's wish to analyse it is moot
			continue
		}
		if !t.hasStat1 {
			skip[strings.ToLower(t.name)] = true
			out = append(out, StatsIssue{Table: t.name, Problem: StatsMissing, Fix: "ANALYZE " + quote(t.name)})
			continue
		}
		for _, ix := range t.indexes {
			if !have[statKey(t.name, ix.name)] {
				skip[strings.ToLower(t.name)] = true // PRAGMA optimize would analyse it for that reason
				out = append(out, StatsIssue{Table: t.name, Index: ix.name, Problem: StatsMissing, Fix: "ANALYZE " + quote(ix.name)})
			}
		}
	}
	err := each(c, `PRAGMA main.optimize(0x10003)`, nil, func(st *sqlite3.Stmt) error {
		line := st.ColumnText(0)
		name := lastIdentifier(line)
		t := sch.table(name)
		if t == nil || skip[strings.ToLower(t.name)] || !strings.HasPrefix(strings.ToUpper(line), "ANALYZE") {
			return nil
		}
		out = append(out, StatsIssue{Table: t.name, Problem: StatsStale, Fix: line})
		return nil
	})
	if errors.Is(err, sqlite3.READONLY) {
		// PRAGMA optimize starts a write transaction even when it only
		// reports: a read-only connection cannot tell stale statistics.
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("advise: ask PRAGMA optimize which tables to analyse: %w", err)
	}
	return out, nil
}

// lastIdentifier returns the last double-quoted identifier of s, unquoted:
// "trades" from ANALYZE "main"."trades".
func lastIdentifier(s string) string {
	s = strings.TrimRight(s, "; ")
	if !strings.HasSuffix(s, `"`) {
		return s[strings.LastIndexAny(s, ". ")+1:]
	}
	var b strings.Builder
	for i := len(s) - 2; i >= 0; i-- {
		if s[i] == '"' {
			if i > 0 && s[i-1] == '"' {
				b.WriteByte('"')
				i--
				continue
			}
			break
		}
		b.WriteByte(s[i])
	}
	r := []byte(b.String())
	slices.Reverse(r)
	return string(r)
}
