package rewrite

import (
	"context"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// Arguments sampled from the data, for a statement given without them.
//
// Each parameter is compared with something: trades.symbol in
// "symbol = ?", date(timestamp) in "date(timestamp) = ?", the subject of
// BETWEEN, IN (?, ?) or LIKE ?. The sample evaluates that expression on rows
// of its table spread over the rowid range, and parameters compared with the
// same table take their values from the same row, so that "symbol = ? AND
// timestamp >= ?" gets a symbol and a time that occur together. A LIMIT
// parameter gets 20, an OFFSET 0. A parameter compared with nothing the
// sample can read leaves the rewrite unverified.

type paramSource struct {
	item *fromItem
	expr *node
}

// sources finds what each parameter of s is compared with, by parameter
// index; fixed holds the values of LIMIT and OFFSET parameters.
func sources(s *selectStmt, t *text) (src map[int]paramSource, fixed map[int]any) {
	src, fixed = map[int]paramSource{}, map[int]any{}
	note := func(param, other *node) {
		param = unparen(param)
		if param == nil || param.kind != nParam {
			return
		}
		idx := t.params[param.lo]
		if _, ok := src[idx]; ok {
			return
		}
		rs, ok := refs(other)
		if !ok || len(rs) == 0 || hasParam(other) {
			return
		}
		for _, r := range rs {
			if r.item != rs[0].item {
				return
			}
		}
		if rs[0].item.tbl != nil {
			src[idx] = paramSource{rs[0].item, other}
		}
	}
	s.walk(func(n *node) bool {
		switch n.kind {
		case nBinary:
			if cmpOps[n.op] || n.op == "IS" || n.op == "IS NOT" {
				note(n.args[1], n.args[0])
				note(n.args[0], n.args[1])
			}
		case nBetween:
			note(n.args[1], n.args[0])
			note(n.args[2], n.args[0])
		case nIn:
			for _, a := range n.args[1:] {
				note(a, n.args[0])
			}
		case nLike:
			note(n.args[1], n.args[0])
		}
		return true
	})
	if p := unparen(s.limit); p != nil && p.kind == nParam {
		fixed[t.params[p.lo]] = int64(20)
	}
	if p := unparen(s.offset); p != nil && p.kind == nParam {
		fixed[t.params[p.lo]] = int64(0)
	}
	return src, fixed
}

var cmpOps = map[string]bool{"=": true, "==": true, "!=": true, "<>": true, "<": true, "<=": true, ">": true, ">=": true}

func hasParam(n *node) bool {
	found := false
	walk(n, func(x *node) bool {
		found = found || x.kind == nParam
		return !found
	})
	return found
}

// sample returns n sets of arguments for the statement, or why there are
// none.
func (r *runner) sample(ctx context.Context, s *selectStmt, t *text, n int) ([][]any, string, error) {
	if t.maxArg == 0 {
		return [][]any{nil}, "", nil
	}
	src, fixed := sources(s, t)
	sets := make([][]any, n)
	for i := range sets {
		sets[i] = make([]any, t.maxArg)
	}
	var groups []*fromItem
	byItem := map[*fromItem][]int{}
	for idx := 1; idx <= t.maxArg; idx++ {
		if v, ok := fixed[idx]; ok {
			for _, set := range sets {
				set[idx-1] = v
			}
			continue
		}
		ps, ok := src[idx]
		if !ok {
			if !t.used(idx) {
				continue // a gap in ?NNN numbering: nothing binds there
			}
			return nil, fmt.Sprintf("no sample for parameter %d: it is not compared with a column", idx), nil
		}
		if byItem[ps.item] == nil {
			groups = append(groups, ps.item)
		}
		byItem[ps.item] = append(byItem[ps.item], idx)
	}
	for _, item := range groups {
		idxs := byItem[item]
		var exprs []string
		for _, idx := range idxs {
			exprs = append(exprs, t.node(src[idx].expr))
		}
		rows, err := r.sampleRows(ctx, item, exprs, n)
		if err != nil {
			return nil, "", err
		}
		if len(rows) == 0 {
			return nil, fmt.Sprintf("no sample for the parameters compared with %s: the table is empty", item.tbl.name), nil
		}
		for i, set := range sets {
			row := rows[i%len(rows)]
			for j, idx := range idxs {
				set[idx-1] = row[j]
			}
		}
	}
	return sets, "", nil
}

// sampleRows evaluates exprs on up to n rows of item's table spread over
// its rowid range.
func (r *runner) sampleRows(ctx context.Context, item *fromItem, exprs []string, n int) ([][]any, error) {
	t := item.tbl
	from := quoteIdent(t.schema) + "." + quoteIdent(t.name) + " AS " + quoteIdent(item.ref())
	var out [][]any
	read := func(st *sqlite3.Stmt) error {
		row := make([]any, len(exprs))
		for i := range row {
			row[i] = value(st, i)
		}
		out = append(out, row)
		return nil
	}
	cols := strings.Join(exprs, ", ")
	if t.withoutRowid {
		var count int64
		if err := query(r.c, "SELECT count(*) FROM "+from, nil, func(st *sqlite3.Stmt) error { count = st.ColumnInt64(0); return nil }); err != nil {
			return nil, err
		}
		for k := range n {
			if err := query(r.c, "SELECT "+cols+" FROM "+from+" LIMIT 1 OFFSET ?", []any{count * int64(2*k+1) / int64(2*n)}, read); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	var lo, hi int64
	var empty bool
	err := query(r.c, "SELECT min(rowid), max(rowid), max(rowid) IS NULL FROM "+from, nil, func(st *sqlite3.Stmt) error {
		lo, hi, empty = st.ColumnInt64(0), st.ColumnInt64(1), st.ColumnBool(2)
		return nil
	})
	if err != nil || empty {
		return nil, err
	}
	for k := range n {
		at := lo + int64(float64(hi-lo)*float64(2*k+1)/float64(2*n))
		if err := query(r.c, "SELECT "+cols+" FROM "+from+" WHERE rowid >= ? ORDER BY rowid LIMIT 1", []any{at}, read); err != nil {
			return nil, err
		}
	}
	return out, nil
}
