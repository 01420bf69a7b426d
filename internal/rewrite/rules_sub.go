package rewrite

import (
	"fmt"
	"strings"
)

// simpleSub returns the core of sel when it is one plain SELECT with one
// result column that is not an aggregate: what IN and NOT IN compare with,
// and what an EXISTS can say of row by row.
func simpleSub(sel *selectStmt) (*selectCore, *node, bool) {
	if sel == nil || len(sel.cores) != 1 || sel.withLo >= 0 || sel.limitLo >= 0 {
		return nil, nil, false
	}
	sc := sel.cores[0]
	if sc.values || sc.fromLo < 0 || sc.groupLo >= 0 || sc.windowLo >= 0 || len(sc.cols) != 1 || sc.cols[0].expr == nil || aggregate(sc) {
		return nil, nil, false
	}
	return sc, sc.cols[0].expr, true
}

// outerCol returns x as a column of an enclosing query, qualified so that
// it still refers there from inside sc: nil when x is not a column, or when
// a FROM item of sc has the same name (it would capture the reference).
func outerCol(x *node, sc *selectCore) *colRef {
	xr := tableCol(x)
	if xr == nil {
		return nil
	}
	for _, f := range sc.from {
		if strings.EqualFold(f.ref(), xr.item.ref()) {
			return nil
		}
	}
	return xr
}

// existsText renders EXISTS (SELECT 1 FROM <sc's FROM> WHERE (<sc's WHERE>)
// AND <x> = <y>).
func (q *stmt) existsText(not bool, sc *selectCore, xr *colRef, y *node) string {
	var b strings.Builder
	if not {
		b.WriteString("NOT ")
	}
	b.WriteString("EXISTS (SELECT 1 " + q.t.span(sc.fromLo, sc.fromHi) + " WHERE ")
	if sc.where != nil {
		b.WriteString("(" + q.t.node(sc.where) + ") AND ")
	}
	b.WriteString(colName(xr) + " = " + q.t.paren(y) + ")")
	return b.String()
}

// notIn: x NOT IN (SELECT y FROM t WHERE w) becomes
//
//	NOT EXISTS (SELECT 1 FROM t WHERE (w) AND x = y)
//
// The two differ on NULL, which makes NOT IN a correctness trap: when the
// subquery returns a NULL, x NOT IN (...) is NULL for every x that is not
// in the list (x NOT IN (1, NULL) is NULL, not true), so the original
// returns no row at all; and a NULL x gives NULL unless the subquery is
// empty. NOT EXISTS ignores NULLs, which is nearly always what was meant.
// They are equivalent when neither x nor y can be NULL (NOT NULL columns, an
// INTEGER PRIMARY KEY, or "y IS NOT NULL" in w); "x = y" compares with the
// affinity and collation NOT IN uses (SQLite takes both from the comparison
// x = y, the left operand's collation first).
//
// Where equivalent, the rewrite is proposed only if the plan gets cheaper:
// SQLite evaluates an uncorrelated NOT IN once, into an index it probes for
// each row, which NOT EXISTS seldom beats. Where NULLs can occur it is
// always proposed, as a hint that is not equivalent, with the data check
// telling whether the live data already shows the difference.
func notIn(q *stmt) []candidate {
	var out []candidate
	for _, c := range q.cores() {
		for _, n := range conds(c) {
			n = unparen(n)
			if n.kind != nIn || !n.not || n.sel == nil {
				continue
			}
			sc, y, ok := simpleSub(n.sel)
			if !ok {
				continue
			}
			xr := outerCol(n.args[0], sc)
			if xr == nil {
				continue
			}
			yr := tableCol(y)
			xNull := !xr.table().notNull(xr.col)
			yNull := yr == nil || !yr.table().notNull(yr.col) && !filtersNull(sc.where, yr)
			sql := q.replace(n, q.existsText(true, sc, xr, y))
			if !xNull && !yNull {
				out = append(out, candidate{rule: RuleNotIn, variants: []variant{{sql: sql, equivalent: true,
					note: fmt.Sprintf("%s and %s are never NULL, so NOT IN and NOT EXISTS return the same rows; SQLite probes NOT EXISTS through an index per row instead of building the list once", describe(xr), describe(yr))}}})
				continue
			}
			var nullable []string
			if xNull {
				nullable = append(nullable, describe(xr))
			}
			if yNull && yr != nil {
				nullable = append(nullable, describe(yr))
			} else if yNull {
				nullable = append(nullable, q.t.node(y))
			}
			out = append(out, candidate{rule: RuleNotIn, variants: []variant{{sql: sql, always: true, compare: true,
				note: fmt.Sprintf("A correctness trap, not a speed-up: %s can be NULL. If the subquery returns a NULL, x NOT IN (...) is NULL for every x not in the list and the original returns no row at all; a NULL x is NULL too unless the subquery is empty. "+
					"NOT EXISTS ignores NULLs, which is usually what was meant, so the rewrite is not equivalent: check which answer you want", strings.Join(nullable, " and "))}}})
		}
	}
	return out
}

// filtersNull reports whether w has a top-level condition "y IS NOT NULL"
// (or NOTNULL, NOT NULL) on column yr.
func filtersNull(w *node, yr *colRef) bool {
	for _, c := range conjuncts(w) {
		c = unparen(c)
		var subject *node
		switch {
		case c.kind == nPostfix && c.op == "NOTNULL":
			subject = c.args[0]
		case c.kind == nBinary && c.op == "IS NOT" && unparen(c.args[1]).kind == nLiteral && unparen(c.args[1]).name == "NULL":
			subject = c.args[0]
		}
		if r := tableCol(subject); subject != nil && r != nil && r.item == yr.item && r.col == yr.col {
			return true
		}
	}
	return false
}

// countExists: (SELECT count(*) FROM t WHERE w) > 0 becomes
// EXISTS (SELECT 1 FROM t WHERE w), and = 0 becomes NOT EXISTS; so does a
// statement SELECT count(*) > 0 FROM t WHERE w, which becomes
// SELECT EXISTS (SELECT 1 FROM t WHERE w).
//
// Proof: count(*) (or count of a non-NULL constant) counts the rows of
// FROM ... WHERE; it is above 0 exactly when there is one, and it is never
// NULL. count(*) reads every matching row, EXISTS stops at the first: for a
// correlated subquery SQLite also turns EXISTS into a semi-join ("SEARCH t
// EXISTS"), and the per-row subquery disappears from the plan. The result
// column keeps its name (the original text, or its alias). Proposed
// wherever it applies, since EXISTS never does more work; verified where
// the plan shows the gain.
func countExists(q *stmt) []candidate {
	var out []candidate
	q.s.walk(func(n *node) bool {
		if cnt, k, op, ok := countCompare(n, func(x *node) bool {
			_, ok := countSub(x)
			return ok
		}); ok {
			if not, ok := existsOp(op, k); ok {
				sel, _ := countSub(cnt)
				sc := sel.cores[0]
				inner := q.t.splice(sel.lo, sel.hi, edit{sc.colsLo, sc.colsHi, "1"})
				text := "EXISTS (" + inner + ")"
				if not {
					text = "(NOT " + text + ")"
				}
				out = append(out, candidate{rule: RuleCount, variants: []variant{{
					sql: q.replace(n, text+q.keepName(n)), equivalent: true, always: true, compare: true,
					note: fmt.Sprintf("%s counts every matching row only to compare the count with %s; EXISTS stops at the first row, and SQLite runs a correlated EXISTS as a semi-join", q.t.node(n), k),
				}}})
			}
		}
		return true
	})
	if c, ok := q.countStatement(); ok {
		out = append(out, c)
	}
	return out
}

// countStatement handles SELECT count(*) > 0 FROM ... WHERE ...
func (q *stmt) countStatement() (candidate, bool) {
	s := q.s
	if len(s.cores) != 1 || s.limitLo >= 0 || s.orderLo >= 0 {
		return candidate{}, false
	}
	c := s.cores[0]
	if c.values || c.fromLo < 0 || c.distinct || c.groupLo >= 0 || c.having != nil || c.windowLo >= 0 || len(c.cols) != 1 || c.cols[0].expr == nil {
		return candidate{}, false
	}
	e := c.cols[0].expr
	_, k, op, ok := countCompare(e, isCount)
	if !ok {
		return candidate{}, false
	}
	not, ok := existsOp(op, k)
	if !ok {
		return candidate{}, false
	}
	fn := "EXISTS"
	if not {
		fn = "NOT EXISTS"
	}
	sql := fn + " (SELECT 1 " + q.t.span(c.fromLo, c.hi) + ")"
	sql = q.t.splice(c.lo, c.hi, edit{c.colsLo, c.hi, sql + q.keepName(e)})
	if s.withLo >= 0 {
		sql = q.t.span(s.withLo, c.lo) + " " + sql
	}
	return candidate{rule: RuleCount, variants: []variant{{sql: sql, equivalent: true, always: true, compare: true,
		note: fmt.Sprintf("%s counts every matching row only to compare the count with %s; EXISTS stops at the first row. The statement still returns one row, 1 or 0", q.t.node(e), k)}}}, true
}

// keepName returns " AS <name>" when n is a result column without an
// alias, so that the rewritten column keeps the name SQLite gave it (the
// text as written).
func (q *stmt) keepName(n *node) string {
	for _, c := range q.cores() {
		for _, r := range c.cols {
			if r.expr == n && r.alias == "" {
				return " AS " + quoteIdent(q.t.src[q.t.toks[n.lo].Pos:q.t.toks[n.hi-1].End()])
			}
		}
	}
	return ""
}

// countCompare splits n into count OP k with isCnt(count) and k the literal
// 0 or 1, count moved to the left.
func countCompare(n *node, isCnt func(*node) bool) (cnt *node, k string, op string, ok bool) {
	l, r, op, ok := comparison(n)
	if !ok && n.kind == nBinary && (n.op == "!=" || n.op == "<>") {
		l, r, op, ok = n.args[0], n.args[1], "!=", true
	}
	if !ok {
		return nil, "", "", false
	}
	l, r = unparen(l), unparen(r)
	if !isCnt(l) {
		l, r, op = r, l, flip(op)
	}
	if !isCnt(l) || r.kind != nLiteral || r.name != "0" && r.name != "1" {
		return nil, "", "", false
	}
	return l, r.name, op, true
}

// existsOp maps count OP k to EXISTS (not false) or NOT EXISTS (not true).
func existsOp(op, k string) (not bool, ok bool) {
	switch op + k {
	case ">0", ">=1", "!=0":
		return false, true
	case "=0", "<1", "<=0":
		return true, true
	}
	return false, false
}

// isCount reports whether n is count(*) or count of a non-NULL literal.
func isCount(n *node) bool {
	n = unparen(n)
	if n.kind != nFunc || n.name != "count" || n.window || n.distinct {
		return false
	}
	if n.star {
		return true
	}
	if len(n.args) != 1 {
		return false
	}
	a := unparen(n.args[0])
	return a.kind == nLiteral && a.name != "NULL"
}

// countSub returns the subquery of n when n is (SELECT count(*) FROM ...).
func countSub(n *node) (*selectStmt, bool) {
	n = unparen(n)
	if n.kind != nSubquery {
		return nil, false
	}
	s := n.sel
	if len(s.cores) != 1 || s.withLo >= 0 || s.limitLo >= 0 || s.orderLo >= 0 {
		return nil, false
	}
	c := s.cores[0]
	if c.values || c.fromLo < 0 || c.distinct || c.groupLo >= 0 || c.having != nil || c.windowLo >= 0 || len(c.cols) != 1 || c.cols[0].expr == nil || !isCount(c.cols[0].expr) {
		return nil, false
	}
	return s, true
}

// inExists: x IN (SELECT y FROM t WHERE w), where w refers to the outer
// query, becomes
//
//	EXISTS (SELECT 1 FROM t WHERE (w) AND x = y)
//
// SQLite cannot evaluate a correlated IN once: it runs the subquery again
// for every outer row and builds its result into a temporary index each
// time (CORRELATED LIST SUBQUERY). A correlated EXISTS it runs as a
// semi-join, a join that stops at the first match of each outer row, so that
// the outer row appears once however many rows match: a plain JOIN would
// repeat it, and needs DISTINCT, which also merges rows that were distinct.
//
// Proof: as a condition of WHERE or ON, x IN (...) keeps a row when some y
// equals x, and drops it when none does (FALSE) or when the comparison is
// unknown (NULL); EXISTS keeps it exactly when some row has x = y true.
// "x = y" compares with the affinity and collation IN uses. Uncorrelated
// IN subqueries, which SQLite evaluates once, are left alone, and so is an
// IN under NOT or in a result column, where NULL and FALSE differ.
func inExists(q *stmt) []candidate {
	var out []candidate
	for _, c := range q.cores() {
		for _, n := range conds(c) {
			n = unparen(n)
			if n.kind != nIn || n.not || n.sel == nil {
				continue
			}
			sc, y, ok := simpleSub(n.sel)
			if !ok || !correlated(n.sel) {
				continue
			}
			xr := outerCol(n.args[0], sc)
			if xr == nil {
				continue
			}
			out = append(out, candidate{rule: RuleInExists, variants: []variant{{
				sql: q.replace(n, q.existsText(false, sc, xr, y)), equivalent: true,
				note: "a correlated IN runs its subquery again for every row, building a temporary index each time; SQLite runs the EXISTS as a semi-join, which keeps each outer row once, as IN does",
			}}})
		}
	}
	return out
}

// correlated reports whether sel refers to a column of an enclosing query.
func correlated(sel *selectStmt) bool {
	inside := map[*selectCore]bool{}
	var mark func(s *selectStmt)
	mark = func(s *selectStmt) {
		for _, c := range s.cores {
			inside[c] = true
			for _, f := range c.from {
				if f.sub != nil {
					mark(f.sub)
				}
			}
		}
		s.walk(func(n *node) bool {
			if n.sel != nil {
				mark(n.sel)
			}
			return true
		})
	}
	mark(sel)
	found := false
	sel.walk(func(n *node) bool {
		if n.kind == nColumn && (n.ref == nil || !inside[n.ref.core]) {
			found = true // an unresolved name may be an outer one: treat it as correlated
		}
		return !found
	})
	return found
}
