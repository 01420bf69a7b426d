package rewrite

import (
	"errors"
	"fmt"
	"strings"

	"github.com/quantumleap/qlsqlite/internal/sqllex"
)

// The parser reads one SELECT statement into a tree whose nodes keep the
// span of tokens they came from, so that a rule rewrites a statement by
// splicing new text between untouched spans of the original: comments,
// spelling and formatting outside the rewritten part stay as written.
//
// It covers SQLite's SELECT grammar as far as the rules need to see into it
// (result columns, FROM with joins and subqueries, WHERE, GROUP BY, HAVING,
// compound operators, ORDER BY, LIMIT, expressions with every operator,
// subqueries, CASE, CAST, COLLATE, function calls with FILTER and OVER).
// What it does not understand makes the statement unsupported, never
// misread: a rule sees a statement only if all of it parsed.

// nodeKind is the kind of an expression node.
type nodeKind uint8

const (
	nColumn   nodeKind = iota // name, table.name or schema.table.name
	nLiteral                  // string, number, blob, NULL, TRUE, FALSE, CURRENT_*
	nParam                    // ?, ?NNN, :name, @name, $name
	nUnary                    // op: "-", "+", "~", "NOT"
	nBinary                   // op: "AND", "OR", "=", "<", "+", "||", "IS", "IS NOT", ...
	nPostfix                  // op: "ISNULL", "NOTNULL"
	nLike                     // op: "LIKE", "GLOB", "MATCH", "REGEXP"; args: subject, pattern[, escape]
	nBetween                  // args: subject, low, high
	nIn                       // args: subject, list...; or sel
	nFunc                     // name (lower case), args; star for f(*)
	nCast                     // args[0] AS name
	nCollate                  // args[0] COLLATE name
	nCase                     // args: the operand, WHEN, THEN and ELSE expressions, in order
	nParen                    // ( args... ): one expression, or a row value
	nSubquery                 // ( sel )
	nExists                   // EXISTS ( sel )
	nRaise                    // RAISE(...)
)

// A node is one expression. Its span is tokens [lo, hi).
type node struct {
	kind     nodeKind
	op       string // upper case
	name     string // column, function (lower case), cast type, collation, a literal as written
	table    string // a column's qualifier, "" when unqualified
	args     []*node
	sel      *selectStmt // subquery of nIn, nSubquery, nExists
	not      bool        // NOT LIKE, NOT BETWEEN, NOT IN, NOT EXISTS
	star     bool        // count(*)
	distinct bool        // count(DISTINCT x)
	window   bool        // a function with FILTER or OVER
	lo, hi   int

	ref *colRef // a resolved column, see resolve.go
}

// A selectStmt is a SELECT, possibly compound, with its ORDER BY and LIMIT.
type selectStmt struct {
	lo, hi  int
	withLo  int // token of WITH, or -1
	ctes    []string
	cores   []*selectCore
	orderLo int // token of ORDER, or -1
	orderBy []orderTerm
	limitLo int // token of LIMIT, or -1
	limit   *node
	offset  *node
	comma   bool        // LIMIT offset, count
	parent  *selectCore // the core a subquery is nested in, set by resolve; nil at the top
}

// A selectCore is one SELECT ... FROM ... WHERE ... GROUP BY ... of a
// compound statement.
type selectCore struct {
	lo, hi   int
	values   bool // a VALUES list: nothing inside is analysed
	distinct bool
	cols     []resultCol
	colsLo   int // first token of the result columns
	colsHi   int
	from     []*fromItem
	fromLo   int // token of FROM, or -1
	fromHi   int
	whereLo  int // token of WHERE, or -1
	where    *node
	groupLo  int // token of GROUP, or -1
	groupBy  []*node
	having   *node
	windowLo int // token of WINDOW, or -1
	stmt     *selectStmt
}

type resultCol struct {
	expr      *node // nil for * and t.*
	star      bool
	tableStar string
	alias     string
	lo, hi    int
}

// A fromItem is one table, subquery or table-valued function of a FROM
// clause, with the join operator before it.
type fromItem struct {
	schema, name string // a table or view (or CTE)
	alias        string
	sub          *selectStmt // a subquery
	fn           bool        // a table-valued function, or a parenthesised join
	join         string      // "" for the first item, "," or the JOIN operator in upper case
	on           *node
	using        bool
	lo, hi       int

	tbl *table // the schema's table, when it is one; see resolve.go
}

type orderTerm struct {
	expr   *node
	desc   bool
	lo, hi int
}

// name is the name the item is referred to by.
func (f *fromItem) ref() string {
	if f.alias != "" {
		return f.alias
	}
	return f.name
}

// errUnsupported marks what the parser does not read; the statement gets
// no rewrite.
var errUnsupported = errors.New("rewrite: statement not understood")

type parseError struct{ err error }

// maxDepth bounds the nesting of expressions and subqueries, so that
// arbitrary input cannot exhaust the stack.
const maxDepth = 200

type parser struct {
	src   string
	toks  []sqllex.Token
	pos   int
	depth int
}

// parseSelect parses src, which must be one SELECT statement (a trailing
// semicolon allowed).
func parseSelect(src string) (_ *selectStmt, toks []sqllex.Token, err error) {
	p := &parser{src: src, toks: sqllex.Tokens(src)}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(parseError)
			if !ok {
				panic(r)
			}
			err = pe.err
		}
	}()
	s := p.selectStmt()
	for p.is(";") {
		p.pos++
	}
	if p.pos != len(p.toks) {
		p.fail("text after the statement")
	}
	return s, p.toks, nil
}

func (p *parser) fail(format string, args ...any) {
	what := "the end"
	if p.pos < len(p.toks) {
		what = fmt.Sprintf("%q", p.toks[p.pos].Text)
	}
	panic(parseError{fmt.Errorf("%w: %s at %s", errUnsupported, fmt.Sprintf(format, args...), what)})
}

func (p *parser) enter() {
	if p.depth++; p.depth > maxDepth {
		p.fail("nested too deep")
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) peek(k int) sqllex.Token {
	if p.pos+k < len(p.toks) {
		return p.toks[p.pos+k]
	}
	return sqllex.Token{Kind: sqllex.Punct, Pos: len(p.src)}
}

// is reports whether the token at the cursor is word (any case) or the
// punctuation word, and not quoted.
func (p *parser) is(word string) bool { return p.isAt(0, word) }

func (p *parser) isAt(k int, word string) bool {
	t := p.peek(k)
	if p.pos+k >= len(p.toks) || t.Kind == sqllex.Quoted || t.Kind == sqllex.Literal || t.Kind == sqllex.Param {
		return false
	}
	return strings.EqualFold(t.Text, word)
}

func (p *parser) accept(word string) bool {
	if p.is(word) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(word string) {
	if !p.accept(word) {
		p.fail("want %s", word)
	}
}

// clauseWords end an expression list or an alias-less result column.
var clauseWords = map[string]bool{
	"FROM": true, "WHERE": true, "GROUP": true, "HAVING": true, "ORDER": true, "LIMIT": true,
	"OFFSET": true, "UNION": true, "INTERSECT": true, "EXCEPT": true, "WINDOW": true, "ON": true,
	"USING": true, "JOIN": true, "LEFT": true, "RIGHT": true, "FULL": true, "INNER": true,
	"CROSS": true, "NATURAL": true, "OUTER": true, "AS": true, "INDEXED": true, "NOT": true,
	"VALUES": true, "SELECT": true, "AND": true, "OR": true, "THEN": true, "WHEN": true,
	"ELSE": true, "END": true, "ESCAPE": true, "COLLATE": true, "ASC": true, "DESC": true,
	"NULLS": true, "FILTER": true, "OVER": true, "RETURNING": true, "IS": true, "IN": true,
	"LIKE": true, "GLOB": true, "MATCH": true, "REGEXP": true, "BETWEEN": true, "ISNULL": true,
	"NOTNULL": true,
}

// name reads an identifier: a quoted one, or a word that does not start a
// clause.
func (p *parser) name() string {
	t := p.peek(0)
	if p.pos < len(p.toks) && (t.Kind == sqllex.Quoted || t.Kind == sqllex.Word && !clauseWords[strings.ToUpper(t.Text)]) {
		p.pos++
		return sqllex.Unquote(t)
	}
	p.fail("want a name")
	return ""
}

func (p *parser) isName() bool {
	t := p.peek(0)
	return p.pos < len(p.toks) && (t.Kind == sqllex.Quoted || t.Kind == sqllex.Word && !clauseWords[strings.ToUpper(t.Text)])
}

func (p *parser) selectStmt() *selectStmt {
	p.enter()
	defer p.leave()
	s := &selectStmt{lo: p.pos, withLo: -1, orderLo: -1, limitLo: -1}
	if p.is("WITH") {
		s.withLo = p.pos
		p.pos++
		p.accept("RECURSIVE")
		for {
			s.ctes = append(s.ctes, p.name())
			if p.is("(") {
				p.skipParens()
			}
			p.expect("AS")
			p.accept("NOT")
			p.accept("MATERIALIZED")
			p.expect("(")
			p.selectStmt() // parsed for validity; its inside is not analysed
			p.expect(")")
			if !p.accept(",") {
				break
			}
		}
	}
	for {
		s.cores = append(s.cores, p.selectCore(s))
		if p.accept("UNION") {
			p.accept("ALL")
		} else if !p.accept("INTERSECT") && !p.accept("EXCEPT") {
			break
		}
	}
	if p.is("ORDER") && p.isAt(1, "BY") {
		s.orderLo = p.pos
		p.pos += 2
		for {
			t := orderTerm{lo: p.pos, expr: p.expr(0)}
			if p.accept("DESC") {
				t.desc = true
			} else {
				p.accept("ASC")
			}
			if p.accept("NULLS") {
				if !p.accept("FIRST") && !p.accept("LAST") {
					p.fail("want FIRST or LAST")
				}
			}
			t.hi = p.pos
			s.orderBy = append(s.orderBy, t)
			if !p.accept(",") {
				break
			}
		}
	}
	if p.is("LIMIT") {
		s.limitLo = p.pos
		p.pos++
		s.limit = p.expr(0)
		if p.accept("OFFSET") {
			s.offset = p.expr(0)
		} else if p.accept(",") {
			s.offset, s.limit = s.limit, p.expr(0)
			s.comma = true
		}
	}
	s.hi = p.pos
	return s
}

func (p *parser) selectCore(s *selectStmt) *selectCore {
	c := &selectCore{lo: p.pos, fromLo: -1, whereLo: -1, groupLo: -1, windowLo: -1, stmt: s}
	if p.accept("VALUES") {
		c.values = true
		for {
			p.expect("(")
			p.exprList(c)
			p.expect(")")
			if !p.accept(",") {
				break
			}
		}
		c.hi = p.pos
		return c
	}
	p.expect("SELECT")
	if p.accept("DISTINCT") {
		c.distinct = true
	} else {
		p.accept("ALL")
	}
	c.colsLo = p.pos
	for {
		c.cols = append(c.cols, p.resultCol(c))
		if !p.accept(",") {
			break
		}
	}
	c.colsHi = p.pos
	if p.is("FROM") {
		c.fromLo = p.pos
		p.pos++
		c.from = p.fromClause(c)
		c.fromHi = p.pos
	}
	if p.is("WHERE") {
		c.whereLo = p.pos
		p.pos++
		c.where = p.expr(0)
	}
	if p.is("GROUP") && p.isAt(1, "BY") {
		c.groupLo = p.pos
		p.pos += 2
		c.groupBy = p.exprList(c)
		if p.accept("HAVING") {
			c.having = p.expr(0)
		}
	}
	if p.is("WINDOW") {
		c.windowLo = p.pos
		p.pos++
		for {
			p.name()
			p.expect("AS")
			p.skipParens()
			if !p.accept(",") {
				break
			}
		}
	}
	c.hi = p.pos
	return c
}

func (p *parser) resultCol(c *selectCore) resultCol {
	r := resultCol{lo: p.pos}
	switch {
	case p.is("*"):
		p.pos++
		r.star = true
	case p.isName() && p.isAt(1, ".") && p.isAt(2, "*"):
		r.tableStar = p.name()
		p.pos += 2
	default:
		r.expr = p.expr(0)
		if p.accept("AS") {
			r.alias = p.name()
		} else if p.isName() {
			r.alias = p.name()
		} else if t := p.peek(0); p.pos < len(p.toks) && t.Kind == sqllex.Literal && len(t.Text) >= 2 && t.Text[0] == '\'' && strings.HasSuffix(t.Text, "'") {
			r.alias = strings.ReplaceAll(t.Text[1:len(t.Text)-1], "''", "'") // SELECT x 'alias'
			p.pos++
		}
	}
	r.hi = p.pos
	return r
}

func (p *parser) fromClause(c *selectCore) []*fromItem {
	var items []*fromItem
	join := ""
	for {
		f := p.fromItem(c)
		f.join = join
		if p.accept("ON") {
			f.on = p.expr(0)
		} else if p.accept("USING") {
			f.using = true
			p.skipParens()
		}
		f.hi = p.pos
		items = append(items, f)
		j, ok := p.joinOp()
		if !ok {
			return items
		}
		join = j
	}
}

// joinOp reads a join operator: ",", or [NATURAL] [LEFT|RIGHT|FULL]
// [OUTER] | INNER | CROSS, then JOIN.
func (p *parser) joinOp() (string, bool) {
	if p.accept(",") {
		return ",", true
	}
	var words []string
	for _, w := range []string{"NATURAL", "LEFT", "RIGHT", "FULL", "OUTER", "INNER", "CROSS"} {
		if p.accept(w) {
			words = append(words, w)
		}
	}
	if !p.accept("JOIN") {
		if len(words) > 0 {
			p.fail("want JOIN")
		}
		return "", false
	}
	return strings.Join(append(words, "JOIN"), " "), true
}

func (p *parser) fromItem(c *selectCore) *fromItem {
	f := &fromItem{lo: p.pos}
	if p.accept("(") {
		if p.is("SELECT") || p.is("WITH") || p.is("VALUES") {
			f.sub = p.selectStmt()
		} else {
			f.fn = true // a parenthesised join: read, not analysed
			p.enter()
			p.fromClause(c)
			p.leave()
		}
		p.expect(")")
	} else {
		f.name = p.name()
		if p.accept(".") {
			f.schema, f.name = f.name, p.name()
		}
		if p.is("(") {
			f.fn = true
			p.pos++
			if !p.is(")") {
				p.exprList(c)
			}
			p.expect(")")
		}
	}
	if p.accept("AS") {
		f.alias = p.name()
	} else if p.isName() {
		f.alias = p.name()
	}
	if p.accept("INDEXED") {
		p.expect("BY")
		p.name()
		f.fn = true // a forced index: leave the item alone
	} else if p.is("NOT") && p.isAt(1, "INDEXED") {
		p.pos += 2
		f.fn = true
	}
	return f
}

// skipParens skips a balanced parenthesised group starting at the cursor.
func (p *parser) skipParens() {
	p.expect("(")
	for depth := 1; depth > 0; p.pos++ {
		if p.pos >= len(p.toks) {
			p.fail("unbalanced parentheses")
		}
		switch {
		case p.is("("):
			depth++
		case p.is(")"):
			depth--
		}
	}
}

func (p *parser) exprList(c *selectCore) []*node {
	var out []*node
	for {
		out = append(out, p.expr(0))
		if !p.accept(",") {
			return out
		}
	}
}

// Binding powers, lowest first, after SQLite's operator precedence.
const (
	bpOr = iota + 1
	bpAnd
	bpNot
	bpEquality // = == != <> IS IN LIKE GLOB MATCH REGEXP BETWEEN ISNULL NOTNULL
	bpCompare  // < <= > >=
	bpBits     // & | << >>
	bpAdd      // + -
	bpMul      // * / %
	bpConcat   // || -> ->>
	bpCollate
	bpUnary
)

var binaryOps = map[string]int{
	"OR": bpOr, "AND": bpAnd,
	"=": bpEquality, "==": bpEquality, "!=": bpEquality, "<>": bpEquality,
	"<": bpCompare, "<=": bpCompare, ">": bpCompare, ">=": bpCompare,
	"&": bpBits, "|": bpBits, "<<": bpBits, ">>": bpBits,
	"+": bpAdd, "-": bpAdd, "*": bpMul, "/": bpMul, "%": bpMul,
	"||": bpConcat, "->": bpConcat, "->>": bpConcat,
}

// expr parses an expression whose operators bind tighter than min.
func (p *parser) expr(min int) *node {
	p.enter()
	defer p.leave()
	lo := p.pos
	left := p.prefix()
	for {
		t := p.peek(0)
		if p.pos >= len(p.toks) || t.Kind == sqllex.Literal || t.Kind == sqllex.Param || t.Kind == sqllex.Quoted {
			return left
		}
		op := strings.ToUpper(t.Text)
		if bp, ok := binaryOps[op]; ok {
			if bp <= min {
				return left
			}
			p.pos++
			right := p.expr(bp)
			left = &node{kind: nBinary, op: op, args: []*node{left, right}, lo: lo, hi: p.pos}
			continue
		}
		if bpEquality <= min {
			if op == "COLLATE" && bpCollate > min {
				p.pos++
				left = &node{kind: nCollate, name: p.name(), args: []*node{left}, lo: lo, hi: p.pos}
				continue
			}
			return left
		}
		n := p.postfix(left, lo)
		if n == nil {
			return left
		}
		left = n
	}
}

// postfix reads the operators of equality precedence and COLLATE that
// follow left, or returns nil.
func (p *parser) postfix(left *node, lo int) *node {
	not := false
	if p.is("NOT") {
		switch {
		case p.isAt(1, "IN"), p.isAt(1, "LIKE"), p.isAt(1, "GLOB"), p.isAt(1, "MATCH"), p.isAt(1, "REGEXP"), p.isAt(1, "BETWEEN"):
			not = true
			p.pos++
		case p.isAt(1, "NULL"):
			p.pos += 2
			return &node{kind: nPostfix, op: "NOTNULL", args: []*node{left}, lo: lo, hi: p.pos}
		default:
			return nil
		}
	}
	op := strings.ToUpper(p.peek(0).Text)
	switch op {
	case "COLLATE":
		p.pos++
		return &node{kind: nCollate, name: p.name(), args: []*node{left}, lo: lo, hi: p.pos}
	case "ISNULL", "NOTNULL":
		p.pos++
		return &node{kind: nPostfix, op: op, args: []*node{left}, lo: lo, hi: p.pos}
	case "IS":
		p.pos++
		op = "IS"
		if p.accept("NOT") {
			op = "IS NOT"
		}
		if p.accept("DISTINCT") {
			p.expect("FROM")
			op += " DISTINCT FROM"
		}
		right := p.expr(bpEquality)
		return &node{kind: nBinary, op: op, args: []*node{left, right}, lo: lo, hi: p.pos}
	case "LIKE", "GLOB", "MATCH", "REGEXP":
		p.pos++
		n := &node{kind: nLike, op: op, not: not, args: []*node{left, p.expr(bpEquality)}}
		if p.accept("ESCAPE") {
			n.args = append(n.args, p.expr(bpEquality))
		}
		n.lo, n.hi = lo, p.pos
		return n
	case "BETWEEN":
		p.pos++
		low := p.expr(bpEquality)
		p.expect("AND")
		high := p.expr(bpEquality)
		return &node{kind: nBetween, not: not, args: []*node{left, low, high}, lo: lo, hi: p.pos}
	case "IN":
		p.pos++
		return p.in(left, not, lo)
	}
	if not {
		p.fail("NOT without an operator")
	}
	return nil
}

func (p *parser) in(left *node, not bool, lo int) *node {
	n := &node{kind: nIn, not: not, args: []*node{left}}
	switch {
	case p.accept("("):
		if p.is("SELECT") || p.is("WITH") || p.is("VALUES") {
			n.sel = p.selectStmt()
		} else if !p.is(")") {
			n.args = append(n.args, p.exprList(nil)...)
		}
		p.expect(")")
	default: // IN table, IN schema.table, IN table_function(args)
		n.name = p.name()
		if p.accept(".") {
			n.name = p.name()
		}
		if p.is("(") {
			p.skipParens()
		}
		n.window = true // not a list the rules understand
	}
	n.lo, n.hi = lo, p.pos
	return n
}

func (p *parser) prefix() *node {
	lo := p.pos
	if p.pos >= len(p.toks) {
		p.fail("want an expression")
	}
	t := p.toks[p.pos]
	switch t.Kind {
	case sqllex.Literal:
		p.pos++
		return &node{kind: nLiteral, name: t.Text, lo: lo, hi: p.pos}
	case sqllex.Param:
		p.pos++
		return &node{kind: nParam, name: t.Text, lo: lo, hi: p.pos}
	}
	up := strings.ToUpper(t.Text)
	if t.Kind == sqllex.Punct {
		switch up {
		case "(":
			p.pos++
			if p.is("SELECT") || p.is("WITH") || p.is("VALUES") {
				n := &node{kind: nSubquery, sel: p.selectStmt()}
				p.expect(")")
				n.lo, n.hi = lo, p.pos
				return n
			}
			n := &node{kind: nParen, args: p.exprList(nil)}
			p.expect(")")
			n.lo, n.hi = lo, p.pos
			return n
		case "-", "+", "~":
			p.pos++
			return &node{kind: nUnary, op: up, args: []*node{p.expr(bpUnary - 1)}, lo: lo, hi: p.pos}
		}
		p.fail("want an expression")
	}
	if t.Kind == sqllex.Word {
		switch up {
		case "NULL", "TRUE", "FALSE", "CURRENT_TIME", "CURRENT_DATE", "CURRENT_TIMESTAMP":
			p.pos++
			return &node{kind: nLiteral, name: up, lo: lo, hi: p.pos}
		case "NOT":
			p.pos++
			if p.is("EXISTS") {
				n := p.exists(lo)
				n.not = true
				return n
			}
			return &node{kind: nUnary, op: "NOT", args: []*node{p.expr(bpNot - 1)}, lo: lo, hi: p.pos}
		case "EXISTS":
			return p.exists(lo)
		case "CAST":
			p.pos++
			p.expect("(")
			n := &node{kind: nCast, args: []*node{p.expr(0)}}
			p.expect("AS")
			n.name = p.typeName()
			p.expect(")")
			n.lo, n.hi = lo, p.pos
			return n
		case "CASE":
			return p.caseExpr(lo)
		case "RAISE":
			p.pos++
			p.skipParens()
			return &node{kind: nRaise, lo: lo, hi: p.pos}
		}
	}
	if !p.isName() && !(t.Kind == sqllex.Word && p.isAt(1, "(")) {
		p.fail("want an expression")
	}
	name := sqllex.Unquote(t)
	p.pos++
	if p.is("(") && t.Kind == sqllex.Word {
		return p.call(strings.ToLower(name), lo)
	}
	n := &node{kind: nColumn, name: name}
	if p.accept(".") {
		n.table, n.name = n.name, p.name()
		if p.accept(".") {
			n.table, n.name = n.name, p.name() // schema.table.column: keep table.column
		}
	}
	n.lo, n.hi = lo, p.pos
	return n
}

func (p *parser) exists(lo int) *node {
	p.expect("EXISTS")
	p.expect("(")
	n := &node{kind: nExists, sel: p.selectStmt()}
	p.expect(")")
	n.lo, n.hi = lo, p.pos
	return n
}

func (p *parser) typeName() string {
	var parts []string
	for p.isName() {
		parts = append(parts, strings.ToUpper(p.name()))
	}
	if len(parts) == 0 {
		p.fail("want a type name")
	}
	if p.is("(") {
		p.skipParens()
	}
	return strings.Join(parts, " ")
}

func (p *parser) call(name string, lo int) *node {
	n := &node{kind: nFunc, name: name}
	p.expect("(")
	switch {
	case p.accept("*"):
		n.star = true
	case p.is(")"):
	default:
		if p.accept("DISTINCT") {
			n.distinct = true
		} else {
			p.accept("ALL")
		}
		n.args = p.exprList(nil)
		if p.is("ORDER") && p.isAt(1, "BY") { // ordered-set aggregate arguments
			p.pos += 2
			p.exprList(nil)
			p.accept("ASC")
			p.accept("DESC")
			n.window = true
		}
	}
	p.expect(")")
	if p.accept("FILTER") {
		p.skipParens()
		n.window = true
	}
	if p.accept("OVER") {
		if p.is("(") {
			p.skipParens()
		} else {
			p.name()
		}
		n.window = true
	}
	n.lo, n.hi = lo, p.pos
	return n
}

func (p *parser) caseExpr(lo int) *node {
	p.expect("CASE")
	n := &node{kind: nCase}
	if !p.is("WHEN") {
		n.args = append(n.args, p.expr(0))
	}
	for p.accept("WHEN") {
		n.args = append(n.args, p.expr(0))
		p.expect("THEN")
		n.args = append(n.args, p.expr(0))
	}
	if p.accept("ELSE") {
		n.args = append(n.args, p.expr(0))
	}
	p.expect("END")
	n.lo, n.hi = lo, p.pos
	return n
}

// walk calls fn for n and every node below it, subqueries included,
// depth first; fn returning false skips a node's children.
func walk(n *node, fn func(*node) bool) {
	if n == nil || !fn(n) {
		return
	}
	for _, a := range n.args {
		walk(a, fn)
	}
	if n.sel != nil {
		n.sel.walk(fn)
	}
}

// walk calls fn for every expression of s, its cores and subqueries.
func (s *selectStmt) walk(fn func(*node) bool) {
	for _, c := range s.cores {
		for _, r := range c.cols {
			walk(r.expr, fn)
		}
		for _, f := range c.from {
			if f.sub != nil {
				f.sub.walk(fn)
			}
			walk(f.on, fn)
		}
		walk(c.where, fn)
		for _, g := range c.groupBy {
			walk(g, fn)
		}
		walk(c.having, fn)
	}
	for _, o := range s.orderBy {
		walk(o.expr, fn)
	}
	walk(s.limit, fn)
	walk(s.offset, fn)
}

// conjuncts splits a WHERE expression at its top-level ANDs, looking
// through parentheses around a single expression.
func conjuncts(n *node) []*node {
	if n == nil {
		return nil
	}
	if n.kind == nBinary && n.op == "AND" {
		return append(conjuncts(n.args[0]), conjuncts(n.args[1])...)
	}
	if n.kind == nParen && len(n.args) == 1 {
		if inner := n.args[0]; inner.kind == nBinary && inner.op == "AND" {
			return conjuncts(inner)
		}
	}
	return []*node{n}
}

// disjuncts splits an expression at its top-level ORs, looking through
// parentheses around a single expression.
func disjuncts(n *node) []*node {
	if n.kind == nParen && len(n.args) == 1 {
		return disjuncts(n.args[0])
	}
	if n.kind == nBinary && n.op == "OR" {
		return append(disjuncts(n.args[0]), disjuncts(n.args[1])...)
	}
	return []*node{n}
}

// unparen returns n without parentheses around a single expression.
func unparen(n *node) *node {
	for n != nil && n.kind == nParen && len(n.args) == 1 {
		n = n.args[0]
	}
	return n
}
