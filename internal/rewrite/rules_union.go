package rewrite

import (
	"fmt"
	"strings"
)

// orUnion: SELECT ... WHERE c AND (a OR b) becomes
//
//	SELECT ... WHERE c AND (a)
//	UNION ALL
//	SELECT ... WHERE c AND (b) AND (a) IS NOT TRUE
//
// SQLite answers an OR with its own OR-by-union (MULTI-INDEX OR) only when
// every branch constrains the same table through an index; an OR across
// two tables of a join, or beside an ORDER BY it would rather read from an
// index, is a full scan. As a UNION ALL, each branch plans on its own.
//
// Proof: a row is in the original when a or b is true. The branches are
// disjoint and cover exactly those rows: the first takes the rows where a is
// true, the second those where b is true and a is not; "IS NOT TRUE" is true
// when a is FALSE and when it is NULL (NOT a would be NULL, and drop the
// row). So every row appears once, duplicates of the original (a join's)
// included: a plain UNION ALL of a and b would return a row matching both
// twice, and UNION would merge rows that are equal but distinct. For
// SELECT DISTINCT the branches are joined by UNION, which removes the same
// duplicates. An ORDER BY and LIMIT apply to the union, through
// SELECT * FROM (...), which the rule does only when every ORDER BY term
// names one result column. The WHERE clause is repeated in every branch, so
// the rule declines when it calls a function that is not known to be
// deterministic. Aggregates, GROUP BY, window functions and compound
// statements are left alone.
func orUnion(q *stmt) []candidate {
	s := q.s
	if len(s.cores) != 1 {
		return nil
	}
	c := s.cores[0]
	if c.values || c.where == nil || c.groupLo >= 0 || c.windowLo >= 0 || aggregate(c) || !deterministicAll(c.where) {
		return nil
	}
	var out []candidate
	for _, n := range conjuncts(c.where) {
		ds := disjuncts(n)
		if len(ds) < 2 {
			continue
		}
		branches := make([]string, len(ds))
		for i, d := range ds {
			cond := "(" + q.t.node(d) + ")"
			for _, prev := range ds[:i] {
				cond += " AND (" + q.t.node(prev) + ") IS NOT TRUE"
			}
			branches[i] = q.t.splice(c.lo, c.hi, edit{n.lo, n.hi, cond})
		}
		op := "\nUNION ALL\n"
		if c.distinct {
			op = "\nUNION\n"
		}
		sql := strings.Join(branches, op)
		if s.orderLo >= 0 || s.limitLo >= 0 {
			tail, ok := q.unionTail(c)
			if !ok {
				continue
			}
			sql = "SELECT * FROM (\n" + sql + "\n)" + tail
		}
		if s.withLo >= 0 {
			sql = q.t.span(s.withLo, c.lo) + "\n" + sql
		}
		out = append(out, candidate{rule: RuleOrUnion, variants: []variant{{
			sql: sql, equivalent: true,
			note: fmt.Sprintf("SQLite runs %s as one scan: its own OR optimisation needs every branch served by an index of the same table; as a UNION ALL each branch plans on its own. "+
				"Each branch after the first drops the rows of those before it with \"IS NOT TRUE\" (true for FALSE and NULL), so each row of the original appears exactly once, duplicates included", q.t.node(n)),
		}}})
	}
	return out
}

// unionTail renders the ORDER BY and LIMIT of the statement for the query
// around the union, where only result column names are known.
func (q *stmt) unionTail(c *selectCore) (string, bool) {
	s := q.s
	names, ok := outputNames(c)
	var parts []string
	for _, o := range s.orderBy {
		e := unparen(o.expr)
		suffix := q.t.span(o.expr.hi, o.hi)
		switch {
		case e.kind == nLiteral:
			parts = append(parts, q.t.node(e)+" "+suffix) // ORDER BY 2: the same column of the union
		case e.kind == nColumn && ok:
			count := 0
			for _, name := range names {
				if strings.EqualFold(name, e.name) {
					count++
				}
			}
			if count != 1 {
				return "", false
			}
			parts = append(parts, quoteIdent(e.name)+" "+suffix)
		default:
			return "", false
		}
	}
	var b strings.Builder
	if len(parts) > 0 {
		b.WriteString(" ORDER BY " + strings.Join(trimAll(parts), ", "))
	}
	if s.limitLo >= 0 {
		b.WriteString(" " + q.t.span(s.limitLo, s.hi))
	}
	return b.String(), true
}

func trimAll(ss []string) []string {
	for i := range ss {
		ss[i] = strings.TrimSpace(ss[i])
	}
	return ss
}

// outputNames returns the names of c's result columns, as a query around it
// sees them; ok is false when one is unknown or two are the same (the
// outer query would see them renamed).
func outputNames(c *selectCore) ([]string, bool) {
	var names []string
	for _, r := range c.cols {
		switch {
		case r.star || r.tableStar != "":
			for _, f := range c.from {
				if r.tableStar != "" && !strings.EqualFold(f.ref(), r.tableStar) {
					continue
				}
				if f.tbl == nil {
					return nil, false
				}
				for _, col := range f.tbl.cols {
					if !col.hidden {
						names = append(names, col.name)
					}
				}
			}
		case r.alias != "":
			names = append(names, r.alias)
		case unparen(r.expr).kind == nColumn:
			names = append(names, unparen(r.expr).name)
		default:
			return nil, false
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[strings.ToLower(n)] {
			return nil, false
		}
		seen[strings.ToLower(n)] = true
	}
	return names, true
}

// aggregates are SQLite's built-in aggregate functions.
var aggregates = map[string]bool{"count": true, "sum": true, "total": true, "avg": true, "min": true, "max": true,
	"group_concat": true, "string_agg": true, "json_group_array": true, "json_group_object": true,
	"jsonb_group_array": true, "jsonb_group_object": true, "median": true, "percentile": true,
	"percentile_cont": true, "percentile_disc": true}

// aggregate reports whether the result columns or HAVING of c aggregate, or
// use a window function (min and max with one argument aggregate; with
// several they are scalar).
func aggregate(c *selectCore) bool {
	found := c.having != nil
	check := func(n *node) bool {
		if n.kind == nFunc && (n.window || aggregates[n.name] && !((n.name == "min" || n.name == "max") && len(n.args) > 1)) {
			found = true
		}
		return n.sel == nil && !found
	}
	for _, r := range c.cols {
		walk(r.expr, check)
	}
	for _, o := range c.stmt.orderBy {
		walk(o.expr, check)
	}
	return found
}

// deterministicAll reports whether every function n calls (subqueries
// included) is a built-in deterministic one or an aggregate, so that
// evaluating n twice on a row gives the same result twice.
func deterministicAll(n *node) bool {
	ok := true
	walk(n, func(x *node) bool {
		if x.kind == nFunc && !deterministic[x.name] && !aggregates[x.name] {
			ok = false
		}
		if x.kind == nRaise {
			ok = false
		}
		return ok
	})
	return ok
}
