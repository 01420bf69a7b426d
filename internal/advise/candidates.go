package advise

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
)

// A candidate is an index the advisor may suggest.
type candidate struct {
	index
	nEq       int    // the leading columns constrained with =, which serve in any order
	base      string // for a covering variant, the key of the candidate it extends
	key       string
	createSQL string
}

// termKey identifies a column of an index: column, collation, direction.
func termKey(t term) string {
	return fmt.Sprintf("%d/%s/%t", t.col, strings.ToUpper(t.coll), t.desc)
}

func candidateKey(t *table, cols []term) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(t.name))
	for _, c := range cols {
		b.WriteString("|" + termKey(c))
	}
	return b.String()
}

// generate builds the candidates for one scan, as sqlite3expert does: the
// equality columns; the equality columns then each range column; the equality
// columns then the ORDER BY columns; and for each of those a covering variant
// that appends the other columns the statement reads, when the result has at
// most coveringColumns columns and is not the whole table. Equality columns
// come first, the most selective (per sample) leading, so that candidates of
// different statements share prefixes and merge.
func generate(s scan, smp *sample, coveringColumns int) []*candidate {
	t := s.table
	var eq []term
	for _, e := range s.eq {
		if !slices.ContainsFunc(eq, func(x term) bool { return x.col == e.col }) {
			eq = append(eq, e)
		}
	}
	if smp != nil && len(eq) > 1 {
		d := map[int]int64{}
		for _, e := range eq {
			d[e.col] = smp.distinct([]int{e.col})[0]
		}
		slices.SortStableFunc(eq, func(a, b term) int {
			switch {
			case d[a.col] > d[b.col]:
				return -1
			case d[a.col] < d[b.col]:
				return 1
			}
			return a.col - b.col
		})
	}
	inEq := func(col int) bool { return slices.ContainsFunc(eq, func(x term) bool { return x.col == col }) }

	var out []*candidate
	add := func(cols []term, base string) {
		key := candidateKey(t, cols)
		if !slices.ContainsFunc(out, func(c *candidate) bool { return c.key == key }) {
			out = append(out, &candidate{index: index{table: t, cols: cols}, nEq: len(eq), base: base, key: key})
		}
	}
	if len(eq) > 0 {
		add(slices.Clone(eq), "")
	}
	for _, r := range s.rng {
		if !inEq(r.col) {
			add(append(slices.Clone(eq), r), "")
		}
	}
	var tail []term
	for _, o := range s.order {
		if !inEq(o.col) && !slices.ContainsFunc(tail, func(x term) bool { return x.col == o.col }) {
			tail = append(tail, o)
		}
	}
	if len(tail) > 0 {
		// An index read backwards delivers the reverse order, so an ORDER BY
		// that is descending throughout needs no DESC column.
		if !slices.ContainsFunc(tail, func(x term) bool { return !x.desc }) {
			for i := range tail {
				tail[i].desc = false
			}
		}
		add(append(slices.Clone(eq), tail...), "")
	}

	if coveringColumns <= 0 || s.used&(1<<63) != 0 && len(t.cols) > 63 {
		return out
	}
	// Columns the WHERE clause tests come before those only read, so the
	// index can filter rows before it is done.
	var extra []int
	for _, c := range slices.Concat(s.eq, s.rng) {
		if !slices.Contains(extra, c.col) {
			extra = append(extra, c.col)
		}
	}
	for i := range min(len(t.cols), 63) {
		if s.used&(1<<i) != 0 && !t.cols[i].ipk && !slices.Contains(extra, i) {
			extra = append(extra, i)
		}
	}
	for _, c := range slices.Clone(out) {
		cols := slices.Clone(c.cols)
		for _, i := range extra {
			if !slices.ContainsFunc(cols, func(x term) bool { return x.col == i }) {
				cols = append(cols, term{col: i, coll: t.cols[i].coll})
			}
		}
		if len(cols) > len(c.cols) && len(cols) <= coveringColumns && len(cols) < indexable(t) {
			add(cols, c.key)
		}
	}
	return out
}

// indexable counts the columns of t an index can hold beyond the rowid; a
// covering variant holding all of them would be a second copy of the table.
func indexable(t *table) int {
	n := 0
	for _, c := range t.cols {
		if !c.ipk {
			n++
		}
	}
	return n
}

// serves reports whether index ix answers what the candidate columns cols
// (whose first nEq are equality columns) would: its first nEq columns are the
// equality columns in any order, and the rest follow in order, all in the same
// collation, with directions equal or all reversed. A partial index serves
// only the statements its WHERE covers, so it is never taken to serve.
func serves(ix *index, cols []term, nEq int) bool {
	if ix.partial || len(ix.cols) < len(cols) {
		return false
	}
	used := make([]bool, nEq)
	for _, x := range ix.cols[:nEq] {
		found := false
		for j, c := range cols[:nEq] {
			if !used[j] && c.col == x.col && strings.EqualFold(c.coll, x.coll) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	var reversed bool
	for i := nEq; i < len(cols); i++ {
		x, c := ix.cols[i], cols[i]
		if x.col != c.col || !strings.EqualFold(x.coll, c.coll) {
			return false
		}
		if i == nEq {
			reversed = x.desc != c.desc
		} else if (x.desc != c.desc) != reversed {
			return false
		}
	}
	return true
}

// servedByExisting reports whether an index of the table already serves c.
func servedByExisting(c *candidate) bool {
	for _, ix := range c.table.indexes {
		if serves(ix, c.cols, c.nEq) {
			return true
		}
	}
	return false
}

// merge drops every candidate that another one serves (a prefix of it, with
// its equality columns in any order); of two that serve each other, the one
// listed first stays.
func merge(cands []*candidate) []*candidate {
	var out []*candidate
	for i, x := range cands {
		dropped := false
		for j, y := range cands {
			if i == j || x.table != y.table || !serves(&y.index, x.cols, x.nEq) {
				continue
			}
			if len(y.cols) > len(x.cols) || j < i {
				dropped = true
				break
			}
		}
		if !dropped {
			out = append(out, x)
		}
	}
	return out
}

// name gives c a name no object of the schema or other candidate has, built
// from its table and columns, and renders its CREATE INDEX statement.
func (c *candidate) name(taken map[string]bool) {
	t := c.table
	parts := []string{"idx", t.name}
	for _, col := range c.cols {
		p := t.cols[col.col].name
		if !strings.EqualFold(col.coll, t.cols[col.col].coll) {
			p += "_" + col.coll
		}
		if col.desc {
			p += "_desc"
		}
		parts = append(parts, p)
	}
	base := sanitize(strings.Join(parts, "_"))
	if len(base) > 60 {
		h := fnv.New32a()
		h.Write([]byte(base))
		base = fmt.Sprintf("%s_%08x", base[:50], h.Sum32())
	}
	name := base
	for n := 2; taken[strings.ToLower(name)]; n++ {
		name = fmt.Sprintf("%s_%d", base, n)
	}
	taken[strings.ToLower(name)] = true
	c.index.name = name

	var cols []string
	for _, col := range c.cols {
		s := quote(t.cols[col.col].name)
		if !strings.EqualFold(col.coll, t.cols[col.col].coll) {
			s += " COLLATE " + quote(col.coll)
		}
		if col.desc {
			s += " DESC"
		}
		cols = append(cols, s)
	}
	c.createSQL = fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)", quote(name), quote(t.name), strings.Join(cols, ", "))
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
}
