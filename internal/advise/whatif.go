package advise

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// A scan is what the planner asked of one table while it planned a
// statement: the columns it could constrain with = (or IN, or IS) and with a
// range, the ORDER BY it would like delivered, and the columns it reads.
// One statement yields one scan per xBestIndex call, so one per table and
// per set of usable constraints (a join asks once with the join column
// usable and once without).
type scan struct {
	table *table
	eq    []term
	rng   []term
	order []term
	used  uint64 // sqlite3_index_info.colUsed: bit i for column i, bit 63 for any column past 62
}

func (s *scan) key() string {
	var b strings.Builder
	b.WriteString(s.table.name)
	for _, part := range [][]term{s.eq, s.rng, s.order} {
		b.WriteByte('|')
		for _, t := range part {
			fmt.Fprintf(&b, "%d %s %t,", t.col, t.coll, t.desc)
		}
	}
	fmt.Fprintf(&b, "|%x", s.used)
	return b.String()
}

// The what-if connection: an in-memory database in which every table of the
// user's schema is a virtual table of the module below, so that preparing a
// statement there makes SQLite's planner describe, through xBestIndex, every
// scan it would run and every constraint it could push into an index.
type whatIf struct {
	conn  *sqlite3.Conn
	sch   *schema
	scans []scan // recorded since the last reset
}

const whatIfModule = "qlsqlite_advise"

func newWhatIf(sch *schema) (_ *whatIf, err error) {
	c, err := sqlite3.Open(":memory:")
	if err != nil {
		return nil, fmt.Errorf("advise: open the what-if database: %w", err)
	}
	w := &whatIf{conn: c, sch: sch}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := prepareScratch(c, sch); err != nil {
		return nil, err
	}
	construct := func(db *sqlite3.Conn, _, _, _ string, arg ...string) (*whatIfTable, error) {
		n, err := strconv.Atoi(strings.Join(arg, ""))
		if err != nil || n < 0 || n >= len(sch.tables) {
			return nil, fmt.Errorf("advise: internal error: bad what-if table argument %q", arg)
		}
		t := sch.tables[n]
		if err := db.DeclareVTab(declaration(t)); err != nil {
			return nil, err
		}
		// Views read what-if tables too; with trusted_schema off, SQLite
		// allows that only for tables declared innocuous, which these are:
		// they hold nothing and do nothing.
		if err := db.VTabConfig(sqlite3.VTAB_INNOCUOUS); err != nil {
			return nil, err
		}
		return &whatIfTable{w: w, t: t}, nil
	}
	if err := sqlite3.CreateModule(c, whatIfModule, construct, construct); err != nil {
		return nil, fmt.Errorf("advise: register the what-if module: %w", err)
	}
	for i, t := range sch.tables {
		if err := c.Exec(fmt.Sprintf(`CREATE VIRTUAL TABLE %s USING %s(%d)`, quote(t.name), whatIfModule, i)); err != nil {
			return nil, fmt.Errorf("advise: mirror table %q: %w", t.name, err)
		}
	}
	for _, o := range sch.objects {
		if o.typ == "view" {
			// A view that cannot be created here (it uses something this
			// schema lacks) makes the statements that use it fail to
			// prepare, and those are reported one by one.
			_ = c.Exec(o.sql)
		}
	}
	return w, nil
}

// declaration is the CREATE TABLE a what-if table declares: the real table's
// columns, declared types and collations, without constraints.
func declaration(t *table) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE x(")
	for i, c := range t.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.name))
		if c.typ != "" {
			b.WriteString(" " + c.typ)
		}
		if c.hidden == 1 {
			b.WriteString(" HIDDEN")
		}
		b.WriteString(" COLLATE " + quote(c.coll))
	}
	b.WriteString(")")
	return b.String()
}

// record prepares query on the what-if database and returns the scans the
// planner asked for.
func (w *whatIf) record(query string) ([]scan, error) {
	w.scans = w.scans[:0]
	stmt, _, err := w.conn.Prepare(query)
	if err != nil {
		return nil, err
	}
	if stmt != nil {
		stmt.Close()
	}
	seen := map[string]bool{}
	var out []scan
	for _, s := range w.scans {
		if k := s.key(); !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out, nil
}

func (w *whatIf) close() error { return w.conn.Close() }

type whatIfTable struct {
	w *whatIf
	t *table
}

// BestIndex records the scan, claims every usable = and range constraint so
// that the planner keeps exploring the plans that would use them, and costs
// the scan lower the more it constrains, as sqlite3expert does.
func (v *whatIfTable) BestIndex(info *sqlite3.IndexInfo) error {
	if v.t.virtual {
		// Mirrored so that statements joining it can be analysed; a
		// virtual table cannot be indexed.
		info.EstimatedCost = 1e6
		return nil
	}
	s := scan{table: v.t, used: info.ColumnsUsed}
	n := 0
	for i, c := range info.Constraint {
		if !c.Usable || c.Column < 0 || c.Column >= len(v.t.cols) || v.t.cols[c.Column].ipk {
			continue
		}
		t := term{col: c.Column, coll: info.Collation(i)}
		switch c.Op {
		case sqlite3.INDEX_CONSTRAINT_EQ, sqlite3.INDEX_CONSTRAINT_IS, sqlite3.INDEX_CONSTRAINT_ISNULL:
			s.eq = append(s.eq, t)
		case sqlite3.INDEX_CONSTRAINT_GT, sqlite3.INDEX_CONSTRAINT_GE,
			sqlite3.INDEX_CONSTRAINT_LT, sqlite3.INDEX_CONSTRAINT_LE:
			s.rng = append(s.rng, t)
		default:
			continue
		}
		n++
		info.ConstraintUsage[i].ArgvIndex = n
	}
	for _, o := range info.OrderBy {
		// Rows come in rowid order within equal keys of any index, so the
		// order an index can deliver ends at the rowid.
		if o.Column < 0 || o.Column >= len(v.t.cols) || v.t.cols[o.Column].ipk {
			break
		}
		s.order = append(s.order, term{col: o.Column, coll: v.t.cols[o.Column].coll, desc: o.Desc})
		n++
	}
	slices.SortStableFunc(s.eq, func(a, b term) int { return a.col - b.col })
	v.w.scans = append(v.w.scans, s)
	info.EstimatedCost = 1e6 / float64(n+1)
	return nil
}

// Open returns a cursor over no rows: what-if statements are prepared, never run.
func (v *whatIfTable) Open() (sqlite3.VTabCursor, error) { return emptyCursor{}, nil }

// Update lets UPDATE and DELETE statements prepare; it never runs.
func (v *whatIfTable) Update(...sqlite3.Value) (int64, error) {
	return 0, errors.New("advise: what-if tables hold no rows")
}

type emptyCursor struct{}

func (emptyCursor) Filter(int, string, ...sqlite3.Value) error { return nil }
func (emptyCursor) Next() error                                { return nil }
func (emptyCursor) EOF() bool                                  { return true }
func (emptyCursor) Column(sqlite3.Context, int) error          { return nil }
func (emptyCursor) RowID() (int64, error)                      { return 0, nil }

// prepareScratch makes a scratch connection accept the user's statements:
// any collation sequence, and a stand-in for every application function
// (they are prepared and planned, never run).
func prepareScratch(c *sqlite3.Conn, sch *schema) error {
	if err := c.AnyCollationNeeded(); err != nil {
		return fmt.Errorf("advise: scratch collations: %w", err)
	}
	// Stand-ins are declared deterministic and innocuous so that the copies
	// of expression indexes and views that use them can be created.
	const flags = sqlite3.DETERMINISTIC | sqlite3.INNOCUOUS
	for _, f := range sch.funcs {
		var err error
		switch f.kind {
		case "a":
			err = c.CreateAggregateFunction(f.name, f.narg, flags,
				func(*sqlite3.Context, iter.Seq[[]sqlite3.Value]) {})
		case "w":
			err = c.CreateWindowFunction(f.name, f.narg, flags,
				func() sqlite3.AggregateFunction { return standInWindow{} })
		default:
			err = c.CreateFunction(f.name, f.narg, flags, func(sqlite3.Context, ...sqlite3.Value) {})
		}
		if err != nil {
			return fmt.Errorf("advise: stand in for function %s/%d: %w", f.name, f.narg, err)
		}
	}
	return nil
}

type standInWindow struct{}

func (standInWindow) Step(sqlite3.Context, ...sqlite3.Value)    {}
func (standInWindow) Value(sqlite3.Context)                     {}
func (standInWindow) Inverse(sqlite3.Context, ...sqlite3.Value) {}
