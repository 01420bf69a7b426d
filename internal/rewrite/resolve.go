package rewrite

import "strings"

// A colRef is what a column name of an expression refers to: column col
// (-1 the rowid) of the table of FROM item item, of select core core (the
// one the expression is in, or an enclosing one for a correlated
// reference).
type colRef struct {
	item *fromItem
	core *selectCore
	col  int
}

func (r *colRef) table() *table { return r.item.tbl }

func (r *colRef) column() *column {
	if r.col < 0 {
		return nil
	}
	return &r.item.tbl.cols[r.col]
}

// resolver links subqueries to the core they are nested in, finds the
// schema's table behind each FROM item, and resolves column names as SQLite
// does: in the FROM items of the core, then in those of the enclosing cores.
// A name it cannot resolve with certainty (it may be a result column's
// alias, or a column of a subquery or CTE) stays unresolved, and the rules
// leave expressions with unresolved names alone.
type resolver struct {
	sch *schema
	err error
}

func (r *resolver) stmt(s *selectStmt, parent *selectCore, ctes []string) {
	s.parent = parent
	ctes = append(ctes[:len(ctes):len(ctes)], s.ctes...)
	for _, c := range s.cores {
		r.core(c, ctes)
	}
	if len(s.cores) == 1 {
		for _, o := range s.orderBy {
			r.expr(o.expr, s.cores[0], ctes)
		}
	}
	r.expr(s.limit, parent, ctes)
	r.expr(s.offset, parent, ctes)
}

func (r *resolver) core(c *selectCore, ctes []string) {
	for _, f := range c.from {
		switch {
		case f.sub != nil:
			r.stmt(f.sub, c.stmt.parent, ctes)
		case f.fn:
		case f.schema == "" && containsFold(ctes, f.name):
		default:
			t, err := r.sch.table(f.schema, f.name)
			if err != nil && r.err == nil {
				r.err = err
			}
			f.tbl = t
		}
	}
	for _, col := range c.cols {
		r.expr(col.expr, c, ctes)
	}
	for _, f := range c.from {
		r.expr(f.on, c, ctes)
	}
	r.expr(c.where, c, ctes)
	for _, g := range c.groupBy {
		r.expr(g, c, ctes)
	}
	r.expr(c.having, c, ctes)
}

func (r *resolver) expr(n *node, c *selectCore, ctes []string) {
	if n == nil {
		return
	}
	if n.kind == nColumn && c != nil {
		n.ref = lookup(c, n.table, n.name)
	}
	for _, a := range n.args {
		r.expr(a, c, ctes)
	}
	if n.sel != nil {
		r.stmt(n.sel, c, ctes) // its names resolve in its own scope first
	}
}

// lookup resolves [table.]name from core c outwards; nil when it cannot
// tell for sure.
func lookup(c *selectCore, qual, name string) *colRef {
	for ; c != nil; c = c.stmt.parent {
		var found *colRef
		unknown := false
		for _, f := range c.from {
			if qual != "" && !strings.EqualFold(f.ref(), qual) {
				continue
			}
			if f.tbl == nil {
				unknown = true // a subquery, CTE, view or function: its columns are not known here
				continue
			}
			if i := f.tbl.col(name); i != -2 {
				if found != nil {
					return nil // ambiguous: SQLite refuses it
				}
				found = &colRef{item: f, core: c, col: i}
			}
		}
		switch {
		case found != nil && !unknown:
			return found
		case found != nil || unknown:
			return nil
		}
		if qual == "" && isAlias(c, name) {
			return nil // SQLite lets WHERE and ORDER BY name a result column's alias
		}
		if c.stmt == nil {
			return nil
		}
	}
	return nil
}

func isAlias(c *selectCore, name string) bool {
	for _, r := range c.cols {
		if strings.EqualFold(r.alias, name) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// refs returns the column references below n (subqueries included), and
// whether all of them resolved.
func refs(n *node) (out []*colRef, ok bool) {
	ok = true
	walk(n, func(x *node) bool {
		if x.kind == nColumn {
			if x.ref == nil {
				ok = false
			} else {
				out = append(out, x.ref)
			}
		}
		return true
	})
	return out, ok
}

// constant reports whether n reads no column of any table (parameters,
// literals, and functions of them), so it is the same for every row: a
// comparison of an indexed column with it can use the index.
func constant(n *node) bool {
	ok := true
	walk(n, func(x *node) bool {
		switch x.kind {
		case nColumn, nSubquery, nExists, nRaise:
			ok = false
		case nIn:
			if x.sel != nil {
				ok = false
			}
		case nFunc:
			if x.window || !deterministic[x.name] {
				ok = false
			}
		}
		return ok
	})
	return ok
}

// deterministic lists the built-in functions the rules let appear in an
// expression they copy or evaluate more than once: each gives the same
// result for the same arguments within a statement.
var deterministic = map[string]bool{
	"abs": true, "char": true, "coalesce": true, "concat": true, "concat_ws": true, "date": true,
	"datetime": true, "format": true, "glob": true, "hex": true, "ifnull": true, "iif": true, "if": true,
	"instr": true, "julianday": true, "length": true, "like": true, "lower": true, "ltrim": true,
	"max": true, "min": true, "nullif": true, "octet_length": true, "printf": true, "quote": true,
	"replace": true, "round": true, "rtrim": true, "sign": true, "strftime": true, "substr": true,
	"substring": true, "time": true, "timediff": true, "trim": true, "typeof": true, "unhex": true,
	"unicode": true, "unistr": true, "unixepoch": true, "upper": true, "zeroblob": true,
}

// colOf returns the column reference n is, looking through parentheses, or
// nil.
func colOf(n *node) *colRef {
	n = unparen(n)
	if n == nil || n.kind != nColumn {
		return nil
	}
	return n.ref
}

// exprAffinity is the affinity SQLite gives an expression in a comparison:
// a column's, a CAST's, none for everything else
// (https://sqlite.org/datatype3.html#affinity_of_expressions).
func exprAffinity(n *node) affinity {
	n = unparen(n)
	switch {
	case n == nil:
		return affNone
	case n.kind == nColumn && n.ref != nil:
		if n.ref.col < 0 {
			return affInteger
		}
		return n.ref.column().aff
	case n.kind == nCast:
		return affinityOf(n.name)
	case n.kind == nCollate:
		return exprAffinity(n.args[0])
	case n.kind == nUnary && n.op == "+":
		return affNone // unary + removes the affinity
	}
	return affNone
}
