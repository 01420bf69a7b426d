package rewrite

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// The data check runs the original and the rewrite on the live data, in one
// read transaction (a SAVEPOINT rolled back at the end, so both read the same
// snapshot and nothing can be written), with the caller's arguments or with
// arguments sampled from the rows, and compares what they return.
//
// Both run without their top-level LIMIT and OFFSET: under an ORDER BY with
// ties, or without an ORDER BY, a LIMIT lets two correct plans return
// different rows, and the whole result is the stronger test of the WHERE
// clause anyway. Rows are compared as a multiset (duplicates count), each
// value with its storage class (1 and '1' differ). When the statement has an
// ORDER BY, the ORDER BY expressions are read as extra columns and their
// sequence must be the same too.

// A check is the outcome of the data check of one rewrite.
type check struct {
	same     bool   // every argument set gave the same rows
	diff     string // the first difference, when not same
	sets     int    // argument sets compared
	rows     int    // rows the original returned, over all sets
	ordered  bool   // the ORDER BY sequence was compared too
	origStep int    // virtual machine steps, summed over the sets
	newStep  int
}

type runner struct {
	c    *sqlite3.Conn
	opts Options
}

// shape is a statement made ready for comparison.
type shape struct {
	sql   string
	nKeys int   // ORDER BY expressions appended as the last columns
	keys  []int // for each ORDER BY term, the column holding its value
}

// comparable strips the top-level LIMIT and OFFSET of sql and appends its
// ORDER BY expressions as result columns. It falls back to the statement
// without ORDER BY columns when they cannot be appended.
func comparable(sql string) (full, plain shape) {
	s, toks, err := parseSelect(sql)
	if err != nil {
		return shape{sql: sql}, shape{sql: sql}
	}
	t := newText(sql, toks)
	var edits []edit
	if s.limitLo >= 0 {
		edits = append(edits, edit{s.limitLo, s.hi, ""})
	}
	plain = shape{sql: t.splice(0, len(toks), edits...)}
	if len(s.orderBy) == 0 || len(s.cores) != 1 || s.cores[0].values {
		return plain, plain
	}
	var extra []string
	for _, o := range s.orderBy {
		e := unparen(o.expr)
		if e.kind == nLiteral {
			if k, err := strconv.Atoi(t.node(e)); err == nil && k >= 1 {
				full.keys = append(full.keys, k-1) // ORDER BY 2: the second result column
				continue
			}
		}
		full.keys = append(full.keys, -1-len(extra)) // resolved below, once the column count is known
		extra = append(extra, t.node(o.expr))
	}
	full.nKeys = len(extra)
	c := s.cores[0]
	full.sql = t.splice(0, len(toks), append(edits, edit{c.colsHi, c.colsHi, ", " + strings.Join(extra, ", ")})...)
	return full, plain
}

// compare runs the original and the rewrite for every set of arguments.
func (r *runner) compare(ctx context.Context, orig, rewritten string, sets [][]any) (check, error) {
	of, op := comparable(orig)
	nf, np := comparable(rewritten)
	ordered := len(of.keys) > 0 && len(of.keys) == len(nf.keys)
	ck := check{same: true, ordered: ordered}
	stmts := map[string]*sqlite3.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	for _, args := range sets {
		var a, b result
		var err error
		if ordered {
			a, b, err = r.pair(ctx, stmts, of, nf, args)
			if err != nil && !isBudget(ctx, err) {
				ordered, ck.ordered = false, false // the ORDER BY expressions cannot be read as columns
			}
		}
		if !ordered {
			a, b, err = r.pair(ctx, stmts, op, np, args)
		}
		if err != nil {
			return ck, err
		}
		ck.sets++
		ck.rows += len(a.rows)
		ck.origStep += a.steps
		ck.newStep += b.steps
		if d := a.differs(b, ordered); d != "" && ck.same {
			ck.same, ck.diff = false, fmt.Sprintf("%s (arguments %s)", d, formatArgs(args))
		}
	}
	return ck, nil
}

func (r *runner) pair(ctx context.Context, stmts map[string]*sqlite3.Stmt, a, b shape, args []any) (result, result, error) {
	x, err := r.run(ctx, stmts, a, args)
	if err != nil {
		return x, result{}, err
	}
	y, err := r.run(ctx, stmts, b, args)
	return x, y, err
}

type result struct {
	rows  []string // each row's values, encoded with their storage class
	keys  []string // each row's ORDER BY values, when read
	steps int
}

// errTooManyRows stops a comparison whose result is larger than
// Options.MaxRows.
var errTooManyRows = errors.New("too many rows")

// run runs sh with args, preparing it on first use (stmts keeps it for the
// next argument set).
func (r *runner) run(ctx context.Context, stmts map[string]*sqlite3.Stmt, sh shape, args []any) (result, error) {
	var res result
	st := stmts[sh.sql]
	if st == nil {
		var err error
		if st, _, err = r.c.Prepare(sh.sql); err != nil {
			return res, err
		}
		stmts[sh.sql] = st
		if !st.ReadOnly() {
			return res, fmt.Errorf("rewrite: internal error: %q is not read-only", sh.sql)
		}
	}
	defer st.Reset()
	if err := st.ClearBindings(); err != nil {
		return res, err
	}
	if err := bindAll(st, args); err != nil {
		return res, err
	}
	n := st.ColumnCount()
	nData := n - sh.nKeys
	for st.Step() {
		if len(res.rows) >= r.opts.MaxRows {
			return res, errTooManyRows
		}
		var row, key strings.Builder
		for i := range nData {
			encode(&row, st, i)
		}
		for _, k := range sh.keys {
			if k < 0 {
				k = nData - 1 - k
			}
			if k < n {
				encode(&key, st, k)
			}
		}
		res.rows = append(res.rows, row.String())
		res.keys = append(res.keys, key.String())
	}
	if err := st.Err(); err != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return res, err
	}
	res.steps = st.Status(sqlite3.STMTSTATUS_VM_STEP, true)
	return res, nil
}

func isBudget(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, errTooManyRows)
}

// encode appends column i's value with its storage class.
func encode(b *strings.Builder, st *sqlite3.Stmt, i int) {
	switch st.ColumnType(i) {
	case sqlite3.INTEGER:
		b.WriteString("i" + strconv.FormatInt(st.ColumnInt64(i), 10))
	case sqlite3.FLOAT:
		f := st.ColumnFloat(i)
		if f == 0 {
			f = 0 // -0 and 0 are the same value to SQLite
		}
		b.WriteString("r" + strconv.FormatUint(math.Float64bits(f), 16))
	case sqlite3.TEXT:
		b.WriteString("t" + strconv.Quote(st.ColumnText(i)))
	case sqlite3.BLOB:
		b.WriteString("b" + hex.EncodeToString(st.ColumnRawBlob(i)))
	default:
		b.WriteString("n")
	}
	b.WriteByte('|')
}

// differs describes how y differs from x, or returns "".
func (x result) differs(y result, ordered bool) string {
	if len(x.rows) != len(y.rows) {
		return fmt.Sprintf("the original returns %d rows, the rewrite %d", len(x.rows), len(y.rows))
	}
	a, b := slices.Clone(x.rows), slices.Clone(y.rows)
	slices.Sort(a)
	slices.Sort(b)
	for i := range a {
		if a[i] != b[i] {
			return "the rows differ"
		}
	}
	if ordered && !slices.Equal(x.keys, y.keys) {
		return "the rows come in another order"
	}
	return ""
}

func formatArgs(args []any) string {
	if len(args) == 0 {
		return "none"
	}
	parts := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case string:
			parts[i] = quoteText(a)
		case []byte:
			parts[i] = "x'" + hex.EncodeToString(a) + "'"
		case nil:
			parts[i] = "NULL"
		default:
			parts[i] = fmt.Sprint(a)
		}
	}
	return strings.Join(parts, ", ")
}
