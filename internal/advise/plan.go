package advise

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// A PlanRow is one row of EXPLAIN QUERY PLAN.
type PlanRow struct {
	ID     int    // the row's id
	Parent int    // the id of the row it is nested under, 0 at the top
	Detail string // the text SQLite prints, for example "SEARCH trades USING INDEX i (symbol=?)"
}

// A Plan is the output of EXPLAIN QUERY PLAN for one statement, in the order
// SQLite returns it.
type Plan []PlanRow

// String renders the plan as the sqlite3 shell does, one row per line with
// "|--" and "`--" marking the tree, without the "QUERY PLAN" header line.
func (p Plan) String() string {
	var b strings.Builder
	var walk func(parent int, prefix string)
	walk = func(parent int, prefix string) {
		var kids []PlanRow
		for _, r := range p {
			if r.Parent == parent {
				kids = append(kids, r)
			}
		}
		for i, r := range kids {
			branch, indent := "|--", "|  "
			if i == len(kids)-1 {
				branch, indent = "`--", "   "
			}
			b.WriteString(prefix + branch + r.Detail + "\n")
			if r.ID != parent {
				walk(r.ID, prefix+indent)
			}
		}
	}
	walk(0, "")
	return strings.TrimSuffix(b.String(), "\n")
}

// Indexes returns the names of the indexes the plan reads, in plan order,
// each once.
func (p Plan) Indexes() []string {
	var out []string
	for _, r := range p {
		if name := usedIndex(r.Detail); name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// usedIndex returns the index a plan row reads through, or "". Automatic
// (transient) indexes have no name and are not reported.
func usedIndex(detail string) string {
	for _, marker := range []string{" USING INDEX ", " USING COVERING INDEX "} {
		if i := strings.Index(detail, marker); i >= 0 {
			name := detail[i+len(marker):]
			if j := strings.Index(name, " ("); j >= 0 {
				name = name[:j]
			}
			return name
		}
	}
	return ""
}

// Explain returns the plan SQLite has for query on db now. Parameters need
// no values; the statement is prepared, never run.
func Explain(ctx context.Context, db *sql.DB, query string) (Plan, error) {
	var p Plan
	err := withRaw(ctx, db, func(c *sqlite3.Conn) error {
		if err := checkPrepare(c, query); err != nil {
			return &QueryError{Query: query, Err: err}
		}
		var err error
		p, err = explain(c, query)
		return err
	})
	return p, err
}

// explain runs EXPLAIN QUERY PLAN for query on c.
func explain(c *sqlite3.Conn, query string) (Plan, error) {
	var p Plan
	err := each(c, "EXPLAIN QUERY PLAN "+query, nil, func(st *sqlite3.Stmt) error {
		p = append(p, PlanRow{ID: st.ColumnInt(0), Parent: st.ColumnInt(1), Detail: st.ColumnText(3)})
		return nil
	})
	return p, err
}

// A loop row reads a table: "SCAN t ...", "SEARCH t ...".
func loopAlias(detail string) (verb, alias string) {
	verb, rest, ok := strings.Cut(detail, " ")
	if !ok || (verb != "SCAN" && verb != "SEARCH") {
		return "", ""
	}
	alias, _, _ = strings.Cut(rest, " ")
	return verb, alias
}

// fullScans counts the rows of p that read every row of a table: a SCAN, or
// a SEARCH through an automatic index, which SQLite builds by scanning the
// table each time the statement runs.
func (p Plan) fullScans() int {
	n := 0
	for _, r := range p {
		if fullScan(r.Detail) {
			n++
		}
	}
	return n
}

func fullScan(detail string) bool {
	verb, _ := loopAlias(detail)
	return verb == "SCAN" || verb == "SEARCH" && strings.Contains(detail, " AUTOMATIC ")
}

// tempBTrees counts the sorts and temporary b-trees of p (ORDER BY, GROUP BY,
// DISTINCT).
func (p Plan) tempBTrees() int {
	n := 0
	for _, r := range p {
		if strings.HasPrefix(r.Detail, "USE TEMP B-TREE FOR ") {
			n++
		}
	}
	return n
}

// better reports whether plan p does less than plan q: fewer full scans (a
// SCAN became a SEARCH) or fewer temporary b-trees.
func better(p, q Plan) bool {
	return p.fullScans() < q.fullScans() || p.tempBTrees() < q.tempBTrees()
}
