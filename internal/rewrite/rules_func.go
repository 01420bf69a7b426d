package rewrite

import "fmt"

// A function or an arithmetic expression around a column hides it from
// every index on the column: SQLite searches an index only for a bare
// column (or an expression index on exactly that expression). These rules
// add, beside the original condition, a condition on the bare column that
// the original implies. The original stays as a filter, so the rewrite can
// only return fewer rows, never other ones; it returns the same rows when
// the added condition holds for every row the original matches, which is
// what each rule proves (or, for a hint, states as the condition).

// caseFold: lower(col) = v (or upper) becomes
//
//	col COLLATE NOCASE = v AND lower(col) = v
//
// Proof: SQLite's built-in lower() and upper() fold ASCII letters only, and
// so does the NOCASE collation, which compares after folding ASCII letters.
// If lower(col) = v, col and v are equal after folding, so col = v under
// NOCASE. The converse fails (NOCASE also matches an upper-case v that
// lower() can never produce), which the original condition, kept, filters
// out. Non-ASCII letters are folded by neither (lower('É') is 'É'), so
// they never break the implication; the rule declines when lower() or
// upper() fold more than ASCII (ICU, ncruces's unicode extension, an
// application's function), as then 'É' = lower('é') would hold while 'é'
// NOCASE-differs from 'É'. A BLOB in the column breaks it too: lower()
// reads a blob as text, but a blob never equals text under any collation.
// Where the table is not STRICT, a BLOB can be stored in a TEXT column,
// so the rewrite adds a second range, every value from the empty blob on
// (every blob sorts after every text value, in every index):
//
//	(col = v OR col >= x'') AND lower(col) = v
//
// when the column's own collation is NOCASE, which
// SQLite's OR optimisation can search; with a NOCASE index on a BINARY
// column the explicit COLLATE keeps the OR from using the index, and the
// rewrite without the catch-all is offered as a hint stating that the
// column must hold no BLOB. Only TEXT-affinity columns are considered: in
// others a number's text (lower(0.30000000000000004) is '0.3') would not
// convert back to the same number.
//
// Useful only where an index on the column has NOCASE collation (or the
// column is declared NOCASE); otherwise the plan is no cheaper and nothing
// is proposed. Without one, an expression index ON t(lower(col)) serves the
// original as written.
func caseFold(q *stmt) []candidate {
	if !q.sch.foldASCII {
		return nil
	}
	var out []candidate
	for _, c := range q.cores() {
		for _, n := range conds(c) {
			fn, v, op, ok := oriented(n, isFold)
			if !ok || op != "=" || !constant(v) {
				continue
			}
			cr := tableCol(fn.args[0])
			if cr == nil || cr.col < 0 || cr.column().aff != affText {
				continue
			}
			_, _, blob := cr.table().valueTypes(cr.col)
			ct, vt := q.t.node(unparen(fn.args[0])), q.t.paren(v)
			col := cr.column()
			eq := ct + " COLLATE NOCASE = " + vt
			if col.coll == "NOCASE" {
				eq = ct + " = " + vt
			}
			why := fmt.Sprintf("%s(%s) hides the column from its indexes; %s implies %s under NOCASE, since SQLite's built-in %s() and NOCASE both fold ASCII letters only, and the original condition stays as a filter",
				fn.name, describe(cr), q.t.node(unparen(n)), describe(cr), fn.name)
			cand := candidate{rule: RuleCaseFold}
			if blob && col.coll == "NOCASE" {
				cand.variants = append(cand.variants, variant{
					sql:        q.replace(n, q.implied(c, n, cr, []string{eq, ct + " >= x''"})),
					equivalent: true,
					note:       why + "; \"OR " + ct + " >= x''\" keeps any BLOB the column holds (" + fn.name + "() reads a blob as text, but a blob never equals text)",
				})
			}
			plain := variant{sql: q.replace(n, q.implied(c, n, cr, []string{eq})), equivalent: !blob, note: why}
			if blob {
				plain.compare = true
				plain.note = why + fmt.Sprintf(". A hint: equivalent only while %s holds no BLOB (%s() reads a blob as text, but a blob never equals text; nothing in a table that is not STRICT keeps a BLOB out of a TEXT column)", describe(cr), fn.name)
			}
			cand.variants = append(cand.variants, plain)
			out = append(out, cand)
		}
	}
	return out
}

func isFold(n *node) bool {
	return n.kind == nFunc && (n.name == "lower" || n.name == "upper") && len(n.args) == 1 && !n.window && !n.distinct
}

// dateRange: date(col) = v becomes
//
//	col >= v AND col < date(v, '+1 day') AND date(col) = v
//
// (>=, >, <, <= likewise). It is a hint, never verified: the range holds
// every row date() matches only when every value of col is text in
// SQLite's own format, YYYY-MM-DD with or without a time (HH:MM[:SS[.SSS]],
// after a space or a T), without a time zone suffix, and v is a date in
// that format. SQLite's date() also reads numbers (Julian day numbers, or
// Unix times with a modifier), time-only text ('10:00' is 2000-01-01), 'now'
// and a time zone suffix ('2026-06-01 01:00+02:00' is 2026-05-31), and a
// DATETIME column has NUMERIC affinity, so a number is stored as one; none
// of those sort inside the text range. No schema constraint short of a CHECK
// on the format rules them out, so the note states the condition, and the
// data check tells whether the live data and arguments agree.
func dateRange(q *stmt) []candidate {
	var out []candidate
	for _, c := range q.cores() {
		for _, n := range conds(c) {
			fn, v, op, ok := oriented(n, func(x *node) bool {
				return x.kind == nFunc && x.name == "date" && len(x.args) == 1 && !x.window && !x.distinct
			})
			if !ok || !constant(v) {
				continue
			}
			cr := tableCol(fn.args[0])
			if cr == nil || cr.col < 0 {
				continue
			}
			ct, vt := q.t.node(unparen(fn.args[0])), q.t.paren(v)
			next := "date(" + q.t.node(v) + ", '+1 day')"
			var rng string
			switch op {
			case "=":
				rng = ct + " >= " + vt + " AND " + ct + " < " + next
			case ">=":
				rng = ct + " >= " + vt
			case ">":
				rng = ct + " >= " + next
			case "<":
				rng = ct + " < " + vt
			case "<=":
				rng = ct + " < " + next
			}
			out = append(out, candidate{rule: RuleDateRange, variants: []variant{{
				sql:     q.replace(n, q.implied(c, n, cr, []string{rng})),
				compare: true,
				note: fmt.Sprintf("date(%s) hides the column from its indexes; the range finds the same rows only while every %s is text as CURRENT_TIMESTAMP writes it (YYYY-MM-DD HH:MM:SS, no time zone) and the argument is a date YYYY-MM-DD. "+
					"A hint: a number (a Julian day), a time-zone suffix or a BLOB would be matched by date() but missed by the range, and the schema does not rule them out", describe(cr), describe(cr)),
			}}})
		}
	}
	return out
}

// arithmetic: col + 0 op v (col - 0, col * 1, 0 + col, 1 * col) becomes
//
//	(col op v' OR col >= '') AND col + 0 op v
//
// Proof, for a column of INTEGER, REAL or NUMERIC affinity (the rule
// declines others): for a number x, x + 0 is x exactly, so x + 0 op v and
// x op v agree when v is a number. They differ in affinity: col op v applies
// the column's affinity to v (the text '5' becomes 5), while col + 0 has no
// affinity and compares a number with the text '5' as smaller than any text.
// So for <, <= the rewrite compares with
//
//	CASE WHEN typeof(v) IN ('text', 'blob') THEN x'' ELSE v END
//
// since a text or blob v makes x + 0 < v true for every number, and every
// number and text sorts below the empty blob. For =, >, >= a text v makes
// the original false, and anything added is filtered out. A text or BLOB in
// the column (possible unless the table is STRICT) gives x + 0 the number
// its text starts with, which col op v does not see: the second range,
// from the empty string on, keeps them all (text and blobs sort after
// numbers in every index). NULL: x + 0 is NULL, the original filters the
// row out.
//
// Often "+ 0" is there on purpose, to stop SQLite from using an index on
// the column: then keep it. The rule proposes a rewrite only where the plan
// gets cheaper.
func arithmetic(q *stmt) []candidate {
	var out []candidate
	for _, c := range q.cores() {
		for _, n := range conds(c) {
			e, v, op, ok := oriented(n, func(x *node) bool { return identityCol(x) != nil })
			if !ok || !constant(v) {
				continue
			}
			colNode := identityCol(e)
			cr := tableCol(colNode)
			if cr == nil || cr.col >= 0 && !cr.column().aff.numeric() {
				continue
			}
			text, _, blob := cr.table().valueTypes(cr.col)
			ct, vt := q.t.node(colNode), q.t.paren(v)
			if op == "<" || op == "<=" {
				vt = "CASE WHEN typeof(" + q.t.node(v) + ") IN ('text', 'blob') THEN x'' ELSE " + q.t.node(v) + " END"
			}
			rng := ct + " " + op + " " + vt
			why := fmt.Sprintf("%s hides %s from its indexes; for a number x, x %s is x, and the comparison of the bare column is built so that the original implies it whatever the argument's type (if %q is there on purpose, to keep SQLite off an index, keep it)",
				q.t.node(e), describe(cr), q.t.span(identityOp(e)), q.t.node(e))
			cand := candidate{rule: RuleArithmetic}
			if text || blob {
				cand.variants = append(cand.variants, variant{
					sql: q.replace(n, q.implied(c, n, cr, []string{rng, ct + " >= ''"})), equivalent: true,
					note: why + fmt.Sprintf("; \"OR %s >= ''\" keeps the text and BLOB values the column may hold (the table is not STRICT), whose %s is the number their text starts with", ct, q.t.node(e)),
				})
				cand.variants = append(cand.variants, variant{
					sql: q.replace(n, q.implied(c, n, cr, []string{rng})), compare: true,
					note: why + fmt.Sprintf(". A hint: equivalent only while %s holds numbers and NULLs only, which a table that is not STRICT does not enforce", describe(cr)),
				})
			} else {
				cand.variants = append(cand.variants, variant{sql: q.replace(n, q.implied(c, n, cr, []string{rng})), equivalent: true, note: why})
			}
			out = append(out, cand)
		}
	}
	return out
}

// identityCol returns the column of x + 0, x - 0, x * 1, 0 + x or 1 * x,
// or nil.
func identityCol(n *node) *node {
	if n.kind != nBinary || len(n.args) != 2 {
		return nil
	}
	l, r := unparen(n.args[0]), unparen(n.args[1])
	isLit := func(x *node, s string) bool { return x.kind == nLiteral && x.name == s }
	switch n.op {
	case "+":
		if l.kind == nColumn && isLit(r, "0") {
			return l
		}
		if r.kind == nColumn && isLit(l, "0") {
			return r
		}
	case "-":
		if l.kind == nColumn && isLit(r, "0") {
			return l
		}
	case "*":
		if l.kind == nColumn && isLit(r, "1") {
			return l
		}
		if r.kind == nColumn && isLit(l, "1") {
			return r
		}
	}
	return nil
}

// identityOp returns the span of the operator and constant of x + 0.
func identityOp(n *node) (lo, hi int) {
	if unparen(n.args[0]).kind == nColumn {
		return n.args[0].hi, n.hi
	}
	return n.lo, n.args[1].lo
}
