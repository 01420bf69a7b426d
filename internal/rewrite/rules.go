package rewrite

import "strings"

// The rule names: the Rule of a proposal.
const (
	RuleCaseFold   = "case-fold"         // lower(col) = ? → col = ? COLLATE NOCASE, for a NOCASE index
	RuleDateRange  = "date-range"        // date(col) = ? → a range of col
	RuleArithmetic = "arithmetic"        // col + 0 > ? → col > ?
	RuleLikePrefix = "like-prefix"       // col LIKE 'abc%' → a range of col
	RuleOrUnion    = "or-union"          // a OR b → UNION ALL of a and (b AND a IS NOT TRUE)
	RuleNotIn      = "not-in-null"       // NOT IN (subquery) → NOT EXISTS
	RuleCount      = "count-exists"      // count(*) > 0 → EXISTS
	RuleInExists   = "in-exists"         // correlated IN (subquery) → EXISTS, a semi-join
	RuleAffinity   = "affinity-mismatch" // text_col = CAST(? AS INTEGER) → a text comparison
	RuleKeyset     = "keyset"            // LIMIT ? OFFSET ? → keyset pagination
	RuleSelectStar = "select-star"       // SELECT * past a covering index → the covered columns
)

// cores returns every select core of the statement, subqueries included,
// outermost first.
func (q *stmt) cores() []*selectCore {
	var out []*selectCore
	var visit func(s *selectStmt)
	visit = func(s *selectStmt) {
		for _, c := range s.cores {
			if c.values {
				continue
			}
			out = append(out, c)
			for _, f := range c.from {
				if f.sub != nil {
					visit(f.sub)
				}
			}
		}
	}
	visit(q.s)
	q.s.walk(func(n *node) bool {
		if n.sel != nil {
			visit(n.sel)
		}
		return true
	})
	return out
}

// conds returns the conditions of c that filter rows, where adding an
// implied condition beside one changes nothing: the conjuncts of WHERE and
// of each ON.
func conds(c *selectCore) []*node {
	out := conjuncts(c.where)
	for _, f := range c.from {
		out = append(out, conjuncts(f.on)...)
	}
	return out
}

// comparison splits n into left op right, for =, ==, <, <=, >, >=.
func comparison(n *node) (left, right *node, op string, ok bool) {
	n = unparen(n)
	if n == nil || n.kind != nBinary {
		return nil, nil, "", false
	}
	switch n.op {
	case "=", "==", "<", "<=", ">", ">=":
		op := n.op
		if op == "==" {
			op = "="
		}
		return n.args[0], n.args[1], op, true
	}
	return nil, nil, "", false
}

// flip returns the operator that compares in the other direction: a < b is
// b > a.
func flip(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op
}

// oriented returns the comparison n as "x op v" with match(x) true, or ok
// false.
func oriented(n *node, match func(*node) bool) (x, v *node, op string, ok bool) {
	l, r, op, ok := comparison(n)
	switch {
	case !ok:
		return nil, nil, "", false
	case match(unparen(l)):
		return unparen(l), r, op, true
	case match(unparen(r)):
		return unparen(r), l, flip(op), true
	}
	return nil, nil, "", false
}

// tableCol returns the column reference n is, when it is a column of a
// table of the schema, or nil.
func tableCol(n *node) *colRef {
	r := colOf(n)
	if r == nil || r.item.tbl == nil {
		return nil
	}
	return r
}

// implied renders the replacement of condition n by "(ranges) AND n": the
// ranges are implied by n, so adding them changes no result, and they are
// what an index on the column can search. With several ranges (a catch-all
// for values of another storage class), SQLite's OR optimisation searches
// each; the equality conditions of c on the same table are repeated inside
// every branch so that each can use an index that starts with those
// columns.
func (q *stmt) implied(c *selectCore, n *node, col *colRef, ranges []string) string {
	if len(ranges) == 1 {
		return "(" + ranges[0] + ") AND " + q.t.node(n)
	}
	var eqs []string
	for _, x := range conjuncts(c.where) {
		if x == n {
			continue
		}
		if _, v, op, ok := oriented(x, func(y *node) bool { r := tableCol(y); return r != nil && r.item == col.item }); ok && op == "=" && constant(v) {
			eqs = append(eqs, q.t.node(x))
		}
	}
	branches := make([]string, len(ranges))
	for i, r := range ranges {
		branches[i] = "(" + strings.Join(append(eqs[:len(eqs):len(eqs)], r), " AND ") + ")"
	}
	return "(" + strings.Join(branches, " OR ") + ") AND " + q.t.node(n)
}

// replace renders the statement with node n replaced by s.
func (q *stmt) replace(n *node, s string) string {
	return q.t.splice(0, len(q.t.toks), edit{n.lo, n.hi, s})
}

// colName renders how a column may be named: its qualifier as the
// statement's FROM item calls it, and its name.
func colName(r *colRef) string {
	name := "rowid"
	if r.col >= 0 {
		name = r.column().name
	}
	return quoteIdent(r.item.ref()) + "." + quoteIdent(name)
}

// describe names a column for a note: table.column.
func describe(r *colRef) string {
	name := "rowid"
	if r.col >= 0 {
		name = r.column().name
	}
	return r.item.tbl.name + "." + name
}
