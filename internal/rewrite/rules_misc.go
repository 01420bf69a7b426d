package rewrite

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/quantumleap/qlsqlite/internal/advise"
)

// affinityMismatch: text_col = v, where v has INTEGER, REAL or NUMERIC
// affinity (a numeric column of another table, CAST(? AS INTEGER)), becomes
// text_col = CAST(v AS TEXT).
//
// When one operand of a comparison has numeric affinity and the other TEXT
// (or none), SQLite applies NUMERIC affinity to the text side: '042', ' 42'
// and '42.0' all equal 42. An index on the text column orders text, not
// those numbers, so SQLite cannot search it and scans. (A TEXT column
// compared with a bare literal or parameter is fine: those have no
// affinity, and take the column's.) Comparing as text can use the index but
// is not the same comparison: it matches only the spelling CAST gives (42 →
// '42'). So this is always a hint, equivalent while every number in the
// column is written as CAST(n AS TEXT) writes it, and the data check tells
// whether the live data agrees.
func affinityMismatch(q *stmt) []candidate {
	var out []candidate
	for _, c := range q.cores() {
		for _, n := range conds(c) {
			x, v, _, ok := oriented(n, func(x *node) bool {
				r := tableCol(x)
				return r != nil && r.col >= 0 && (r.column().aff == affText || r.column().aff == affNone)
			})
			if !ok || !exprAffinity(v).numeric() {
				continue
			}
			xr := tableCol(x)
			if rs, _ := refs(v); containsItem(rs, xr.item) {
				continue
			}
			v = unparen(v)
			sql := q.t.splice(0, len(q.t.toks), edit{v.lo, v.hi, "CAST(" + q.t.node(v) + " AS TEXT)"})
			out = append(out, candidate{rule: RuleAffinity, variants: []variant{{sql: sql, compare: true,
				note: fmt.Sprintf("%s has %s affinity, so %s compares %s as a number ('042', ' 42' and '42.0' all equal 42) and no index on %s, which orders text, can serve it. "+
					"A hint: comparing as text uses the index but matches only the spelling CAST gives (42 → '42'); equivalent while every number in %s is written that way",
					q.t.node(v), exprAffinity(v), q.t.node(unparen(n)), describe(xr), describe(xr), describe(xr)),
			}}})
		}
	}
	return out
}

func containsItem(rs []*colRef, f *fromItem) bool {
	for _, r := range rs {
		if r.item == f {
			return true
		}
	}
	return false
}

// keysetMinOffset is the smallest literal OFFSET the keyset rule flags; an
// OFFSET parameter is always flagged, since its value grows page by page.
const keysetMinOffset = 100

// keyset: ORDER BY k LIMIT n OFFSET m becomes
//
//	WHERE ... AND (k, id) > (?last_k, ?last_id) ORDER BY k, id LIMIT n
//
// SQLite implements OFFSET m by producing and discarding m rows, so page p
// costs p pages of work. Keyset pagination seeks to the last row of the
// previous page through the ORDER BY index and reads only the page. It
// changes the API (the caller passes the last row's keys instead of the
// offset) and is therefore only flagged, never verified. The rowid (or the
// INTEGER PRIMARY KEY) is appended to the ORDER BY so that the key is
// unique: with ties, a page boundary inside them would skip rows. A
// nullable key is called out: a row-value comparison with NULL is NULL, so
// rows with NULL keys would never be reached.
func keyset(q *stmt) []candidate {
	s := q.s
	if len(s.cores) != 1 || s.orderLo < 0 || s.limitLo < 0 || s.offset == nil {
		return nil
	}
	off := unparen(s.offset)
	if off.kind != nParam {
		n, err := strconv.ParseInt(off.name, 0, 64)
		if off.kind != nLiteral || err != nil || n < keysetMinOffset {
			return nil
		}
	}
	c := s.cores[0]
	if c.values || c.groupLo >= 0 || aggregate(c) {
		return nil
	}
	type key struct {
		text string
		desc bool
		col  *colRef
	}
	var keys []key
	for _, o := range s.orderBy {
		r := tableCol(o.expr)
		if r == nil || r.core != c || strings.Contains(strings.ToUpper(q.t.span(o.expr.hi, o.hi)), "NULLS") {
			return nil
		}
		keys = append(keys, key{q.t.node(o.expr), o.desc, r})
	}
	var edits []edit
	last := keys[len(keys)-1]
	if len(c.from) == 1 && c.from[0].tbl != nil && !c.from[0].tbl.withoutRowid && !(last.col.col == -1 || last.col.col >= 0 && last.col.column().ipk) {
		f := c.from[0]
		id := &colRef{item: f, core: c, col: -1}
		for i, col := range f.tbl.cols {
			if col.ipk {
				id.col = i
			}
		}
		tie := key{colName(id), last.desc, id}
		keys = append(keys, tie)
		text := tie.text
		if tie.desc {
			text += " DESC"
		}
		edits = append(edits, edit{s.orderBy[len(s.orderBy)-1].hi, s.orderBy[len(s.orderBy)-1].hi, ", " + text})
	}
	params := make([]string, len(keys))
	var names, nullable []string
	for i, k := range keys {
		params[i] = "?" + strconv.Itoa(q.t.maxArg+1+i)
		names = append(names, params[i]+" ("+k.text+")")
		if !k.col.table().notNull(k.col.col) {
			nullable = append(nullable, describe(k.col))
		}
	}
	pred := keysetPredicate(keys, params, func(k key) (string, bool) { return k.text, k.desc })
	if c.where != nil {
		edits = append(edits, edit{c.where.lo, c.where.hi, "(" + q.t.node(c.where) + ") AND " + pred})
	} else {
		at := c.hi
		if c.groupLo >= 0 {
			at = c.groupLo
		} else if c.windowLo >= 0 {
			at = c.windowLo
		}
		edits = append(edits, edit{at, at, "WHERE " + pred})
	}
	edits = append(edits, edit{s.limitLo, s.hi, "LIMIT " + q.t.node(s.limit)})
	note := fmt.Sprintf("OFFSET %s makes SQLite produce and discard that many rows for every page, so deep pages cost as much as all the pages before them; keyset pagination seeks to the previous page's last row and reads only the page. "+
		"It changes the API, so it is a flag, never verified: pass the ORDER BY values of the previous page's last row as %s instead of the offset %s, and run the first page without the keyset condition",
		q.t.node(off), strings.Join(names, ", "), q.t.node(off))
	if len(nullable) > 0 {
		note += fmt.Sprintf(". %s can be NULL: a comparison with NULL is NULL, so rows with a NULL key would never be reached; order NULLs apart or make the column NOT NULL", strings.Join(nullable, " and "))
	}
	if len(c.from) != 1 {
		note += ". With a join, make sure the ORDER BY keys are unique, or pages may skip rows that tie"
	}
	return []candidate{{rule: RuleKeyset, variants: []variant{{
		sql: q.t.splice(0, len(q.t.toks), edits...), always: true, newArgs: true, note: note,
	}}}}
}

// keysetPredicate renders "the row comes after the keys": a row value
// comparison when every key has the same direction, else the expanded
// form k1 > ?a OR (k1 = ?a AND k2 < ?b) ...
func keysetPredicate[K any](keys []K, params []string, of func(K) (string, bool)) string {
	op := func(desc bool) string {
		if desc {
			return " < "
		}
		return " > "
	}
	_, d0 := of(keys[0])
	same := true
	var texts []string
	for _, k := range keys {
		t, d := of(k)
		same = same && d == d0
		texts = append(texts, t)
	}
	if len(keys) == 1 {
		return texts[0] + op(d0) + params[0]
	}
	if same {
		return "(" + strings.Join(texts, ", ") + ")" + op(d0) + "(" + strings.Join(params, ", ") + ")"
	}
	var ors []string
	for i, k := range keys {
		var ands []string
		for j := range i {
			ands = append(ands, texts[j]+" = "+params[j])
		}
		_, d := of(k)
		ands = append(ands, texts[i]+op(d)+params[i])
		ors = append(ors, strings.Join(ands, " AND "))
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// selectStarMaxLimit is the largest literal LIMIT for which the select-star
// rule stays quiet: so few rows cost so few table lookups.
const selectStarMaxLimit = 100

// selectStar: SELECT * FROM t WHERE ... that SQLite answers through an
// index that does not cover every column: for each row the index finds,
// SQLite looks the row up in the table to read the other columns. If the
// caller reads only the columns the index holds, naming them lets SQLite
// answer from the index alone (USING COVERING INDEX). Whether it does is
// the caller's to say, so this is only a flag, with the columns listed, and
// never verified.
func selectStar(q *stmt) []candidate {
	s := q.s
	if len(s.cores) != 1 {
		return nil
	}
	c := s.cores[0]
	if c.values || len(c.from) != 1 || len(c.cols) != 1 || !c.cols[0].star && c.cols[0].tableStar == "" {
		return nil
	}
	f := c.from[0]
	if f.tbl == nil || f.tbl.withoutRowid {
		return nil
	}
	if lim := unparen(s.limit); lim != nil && lim.kind == nLiteral {
		if n, err := strconv.ParseInt(lim.name, 0, 64); err == nil && n <= selectStarMaxLimit {
			return nil
		}
	}
	ix := planIndex(q.before, f.ref(), f.tbl)
	if ix == nil {
		return nil
	}
	covered := map[int]bool{}
	var names []string
	add := func(i int) {
		if !covered[i] {
			covered[i] = true
			names = append(names, quoteIdent(f.tbl.cols[i].name))
		}
	}
	for _, k := range ix.cols {
		if k.col < 0 {
			return nil // an expression index: which columns it holds is not a list
		}
		add(k.col)
	}
	for i, col := range f.tbl.cols {
		if col.ipk {
			add(i)
		}
	}
	visible := 0
	for _, col := range f.tbl.cols {
		if !col.hidden {
			visible++
		}
	}
	if len(names) >= visible {
		return nil
	}
	rs, ok := refs(c.where)
	for _, o := range s.orderBy {
		more, ok2 := refs(o.expr)
		rs, ok = append(rs, more...), ok && ok2
	}
	if !ok {
		return nil
	}
	for _, r := range rs {
		if r.item == f && r.col >= 0 && !covered[r.col] {
			return nil // the statement reads a column the index lacks: no index covers it
		}
	}
	sql := q.t.splice(0, len(q.t.toks), edit{c.colsLo, c.colsHi, strings.Join(names, ", ")})
	return []candidate{{rule: RuleSelectStar, variants: []variant{{sql: sql, always: true,
		note: fmt.Sprintf("SELECT * reads all %d columns of %s, so for each row index %s finds SQLite reads the table too; the index holds %s. "+
			"A flag: if your code uses only these columns, name them and SQLite answers from the index alone (USING COVERING INDEX)",
			visible, f.tbl.name, ix.name, strings.Join(names, ", ")),
	}}}}
}

// planIndex returns the index of t through which plan p reads the FROM
// item named ref without covering it, or nil.
func planIndex(p advise.Plan, ref string, t *table) *index {
	for _, r := range p {
		d := r.Detail
		for _, verb := range []string{"SEARCH ", "SCAN "} {
			prefix := verb + ref + " USING INDEX "
			if !strings.HasPrefix(d, prefix) {
				continue
			}
			name, _, _ := strings.Cut(d[len(prefix):], " (")
			for _, ix := range t.indexes {
				if ix.name == name {
					return ix
				}
			}
		}
	}
	return nil
}
