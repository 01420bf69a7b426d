package rewrite

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/advise"
)

// Options tune a proposal. The zero value is ready to use.
type Options struct {
	// Budget bounds the data check of one statement: running the original
	// and its rewrites on the live data (default 2 seconds). A rewrite whose
	// check does not finish in time stays a hint.
	Budget time.Duration
	// MaxRows is the largest result the data check reads from one run
	// (default 100,000 rows); a larger one leaves the rewrite a hint.
	MaxRows int
	// Samples is how many argument sets are sampled from the data for a
	// statement given without arguments (default 3).
	Samples int
}

func (o Options) withDefaults() Options {
	if o.Budget <= 0 {
		o.Budget = 2 * time.Second
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 100_000
	}
	if o.Samples <= 0 {
		o.Samples = 3
	}
	return o
}

// A Rewrite is one proposal for a statement.
type Rewrite struct {
	Rule     string
	Original string
	// SQL is the rewritten statement. It takes the same arguments as the
	// original, except for RuleKeyset, whose Note says which it takes.
	SQL string
	// Before and After are the plans of Original and SQL on the database.
	Before, After advise.Plan
	// Equivalent: SQL returns the same rows as Original for every content
	// of the database and every argument, by construction of its rule.
	Equivalent bool
	// Verified: Equivalent, After is cheaper than Before, and on the live
	// data SQL returned the same rows as Original and did no more work.
	Verified bool
	// Note says why, what was checked and, for a hint, what must hold.
	Note string
}

// A candidate is what a rule proposes at one place of a statement: one or
// more variants, the preferred first. The first whose plan is cheaper than
// the original's is taken; a variant marked always is taken even when it is
// not.
type candidate struct {
	rule     string
	variants []variant
}

type variant struct {
	sql        string
	equivalent bool
	note       string
	always     bool // proposed whatever the plan: a correctness trap, a flag, a rewrite never worse
	compare    bool // run on the data even though not equivalent, to report what the live data does
	newArgs    bool // takes other arguments than the original (keyset pagination)
}

// A stmt is the statement the rules look at.
type stmt struct {
	src    string
	sch    *schema
	t      *text
	s      *selectStmt
	before advise.Plan
}

type rule func(q *stmt) []candidate

// rules lists every rule, in the order their proposals are returned.
var rules = []rule{caseFold, dateRange, arithmetic, likePrefix, orUnion, notIn, countExists, inExists, affinityMismatch, keyset, selectStar}

// Propose returns the rewrites the rules propose for query on c, each
// verified as far as it can be (see the package documentation). args are
// the statement's arguments; without them, arguments are sampled from the
// data. Statements other than one SELECT get no proposal. A statement that
// does not prepare on c is an error (*advise.QueryError).
func Propose(ctx context.Context, c *sqlite3.Conn, query string, args []any, opts Options) ([]Rewrite, error) {
	opts = opts.withDefaults()
	if err := advise.CheckPrepare(c, query); err != nil {
		return nil, &advise.QueryError{Query: query, Err: err}
	}
	q, err := read(c, query)
	if q == nil || err != nil {
		return nil, err
	}
	var picked []pick
	for _, r := range rules {
		for _, cand := range r(q) {
			if p, ok := q.choose(cand); ok {
				picked = append(picked, p)
			}
		}
	}
	if len(picked) == 0 {
		return nil, nil
	}
	if err := q.check(ctx, picked, args, opts); err != nil {
		return nil, err
	}
	out := make([]Rewrite, len(picked))
	for i, p := range picked {
		out[i] = p.Rewrite
	}
	return out, nil
}

// read parses and resolves query; nil when the rules have nothing to look
// at.
func read(c *sqlite3.Conn, query string) (*stmt, error) {
	st, _, err := c.Prepare(query)
	if err != nil || st == nil {
		return nil, err
	}
	ro := st.ReadOnly()
	st.Close()
	if !ro {
		return nil, nil
	}
	s, toks, err := parseSelect(query)
	if err != nil {
		return nil, nil // not a SELECT the rules can read: nothing to propose
	}
	q := &stmt{src: query, sch: newSchema(c), t: newText(query, toks), s: s}
	if q.t.mixed {
		return nil, nil
	}
	r := &resolver{sch: q.sch}
	r.stmt(s, nil, nil)
	if r.err != nil {
		return nil, r.err
	}
	if err := q.sch.probe(); err != nil {
		return nil, fmt.Errorf("rewrite: %w", err)
	}
	if q.before, err = advise.ExplainConn(c, query); err != nil {
		return nil, fmt.Errorf("rewrite: explain %q: %w", query, err)
	}
	return q, nil
}

type pick struct {
	Rewrite
	variant
	cheaper bool
}

// choose takes the first variant of cand whose plan is cheaper, or that is
// proposed anyway.
func (q *stmt) choose(cand candidate) (pick, bool) {
	for _, v := range cand.variants {
		if v.sql == "" || !q.sameArgs(v) {
			continue
		}
		after, err := advise.ExplainConn(q.sch.conn, v.sql)
		if err != nil {
			continue // a rule's output that SQLite refuses is no proposal
		}
		cheaper := costOf(after).cheaper(costOf(q.before))
		if !cheaper && !v.always {
			continue
		}
		return pick{Rewrite: Rewrite{Rule: cand.rule, Original: q.src, SQL: v.sql, Before: q.before, After: after,
			Equivalent: v.equivalent, Note: v.note}, variant: v, cheaper: cheaper}, true
	}
	return pick{}, false
}

// sameArgs reports whether v's statement takes the same arguments as the
// original: as many parameters, with the same names at the same indexes.
func (q *stmt) sameArgs(v variant) bool {
	a, _, err := q.sch.conn.Prepare(q.src)
	if err != nil {
		return false
	}
	defer a.Close()
	b, tail, err := q.sch.conn.Prepare(v.sql)
	if err != nil || b == nil {
		return false
	}
	defer b.Close()
	if strings.TrimSpace(tail) != "" {
		return false
	}
	if v.newArgs {
		return true
	}
	if a.BindCount() != b.BindCount() {
		return false
	}
	for i := 1; i <= a.BindCount(); i++ {
		// A positional parameter is rendered ?N with its own index: ? and ?N
		// are the same slot; a named one must keep its name.
		x, y := a.BindName(i), b.BindName(i)
		if x != y && !(strings.HasPrefix(x+"?", "?") && y == "?"+strconv.Itoa(i)) {
			return false
		}
	}
	return true
}

// check runs the data check of the picks that need one, in one read
// transaction within the budget, and completes their notes.
func (q *stmt) check(ctx context.Context, picks []pick, args []any, opts Options) error {
	need := false
	for _, p := range picks {
		need = need || p.equivalent && p.cheaper || p.compare
	}
	if !need {
		for i := range picks {
			picks[i].Note = sentence(picks[i].Note, planNote(picks[i]))
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Budget)
	defer cancel()
	c := q.sch.conn
	old := c.SetInterrupt(ctx)
	defer c.SetInterrupt(old)
	if err := c.Exec(`SAVEPOINT qlsqlite_rewrite`); err != nil {
		if ctx.Err() == nil {
			return fmt.Errorf("rewrite: begin the read transaction: %w", err)
		}
		for i := range picks {
			picks[i].Note = sentence(picks[i].Note, planNote(picks[i]), fmt.Sprintf("Not compared on the data: the %v budget ran out", opts.Budget))
		}
		return nil
	}
	defer func() {
		c.SetInterrupt(context.Background())
		c.Exec(`ROLLBACK TO qlsqlite_rewrite; RELEASE qlsqlite_rewrite`)
	}()

	r := &runner{c: c, opts: opts}
	sets, sampled := [][]any{args}, false
	why := ""
	if len(args) == 0 && q.t.maxArg > 0 {
		var err error
		sets, why, err = r.sample(ctx, q.s, q.t, opts.Samples)
		if err != nil {
			if ctx.Err() != nil {
				why = fmt.Sprintf("sampling arguments took longer than the %v budget", opts.Budget)
			} else {
				return fmt.Errorf("rewrite: sample arguments: %w", err)
			}
		}
		sampled = true
	}
	for i := range picks {
		p := &picks[i]
		if !(p.equivalent && p.cheaper || p.compare) {
			p.Note = sentence(p.Note, planNote(*p))
			continue
		}
		if why != "" {
			p.Note = sentence(p.Note, planNote(*p), "Not compared on the data: "+why+"; pass arguments")
			continue
		}
		ck, err := r.compare(ctx, q.src, p.SQL, sets)
		p.Note = sentence(p.Note, planNote(*p), dataNote(*p, ck, err, sampled, opts))
		p.Verified = p.equivalent && p.cheaper && err == nil && ck.same && ck.newStep <= ck.origStep
		if err != nil && !isBudget(ctx, err) {
			return fmt.Errorf("rewrite: compare %q with its rewrite: %w", q.src, err)
		}
	}
	return nil
}

func planNote(p pick) string {
	a, b := costOf(p.After), costOf(p.Before)
	var parts []string
	add := func(what string, before, after int) {
		if before != after {
			parts = append(parts, fmt.Sprintf("%s %d → %d", what, before, after))
		}
	}
	add("full scans", b.scans, a.scans)
	add("temporary b-trees", b.btrees, a.btrees)
	add("correlated subqueries", b.correlated, a.correlated)
	add("index constraints", b.terms, a.terms)
	switch {
	case p.cheaper:
		return "The plan is cheaper: " + strings.Join(parts, ", ")
	case len(parts) == 0:
		return "The plan is the same shape"
	}
	return "The plan is not cheaper: " + strings.Join(parts, ", ")
}

func dataNote(p pick, ck check, err error, sampled bool, opts Options) string {
	args := "the arguments given"
	if sampled {
		args = fmt.Sprintf("%d argument sets sampled from the data", ck.sets)
	}
	switch {
	case errors.Is(err, errTooManyRows):
		return fmt.Sprintf("Not compared on the data: a result has more than %d rows", opts.MaxRows)
	case err != nil:
		return fmt.Sprintf("Not compared on the data: it took longer than the %v budget", opts.Budget)
	case !ck.same:
		return fmt.Sprintf("On the live data the results differ: %s", ck.diff)
	}
	order := ""
	if ck.ordered {
		order = ", in the same ORDER BY sequence"
	}
	s := fmt.Sprintf("On the live data, in a read transaction, both returned the same %d rows for %s%s (LIMIT and OFFSET left out); virtual machine steps %d → %d",
		ck.rows, args, order, ck.origStep, ck.newStep)
	if p.equivalent && p.cheaper && ck.newStep > ck.origStep {
		s += ": the rewrite did more work, so it stays a hint"
	}
	return s
}

// sentence joins parts into sentences.
func sentence(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
		if !strings.HasSuffix(p, ".") {
			b.WriteByte('.')
		}
	}
	return b.String()
}
