package advise

import (
	"context"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// The shadow: an in-memory database with the user's schema and no rows, whose
// sqlite_stat1 (and sqlite_stat4) carry the user's statistics, so that its
// planner chooses as the user's would. Candidates are created here, never in
// the user's database.
type shadow struct {
	conn    *sqlite3.Conn
	user    *sqlite3.Conn
	sch     *schema
	opts    Options
	rows    map[*table]int64
	created map[string]*candidate // by key
	notes   []string              // schema objects the shadow could not copy
}

func newShadow(ctx context.Context, user *sqlite3.Conn, sch *schema, opts Options) (_ *shadow, err error) {
	c, err := sqlite3.Open(":memory:")
	if err != nil {
		return nil, fmt.Errorf("advise: open the shadow database: %w", err)
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	c.SetInterrupt(ctx)
	if err := prepareScratch(c, sch); err != nil {
		return nil, err
	}
	sh := &shadow{conn: c, user: user, sch: sch, opts: opts, rows: map[*table]int64{}, created: map[string]*candidate{}}
	for _, o := range sch.objects {
		if isInternal(o.name) || o.sql == "" || o.typ == "trigger" {
			continue
		}
		sql := o.sql
		if o.typ == "table" {
			t := sch.table(o.name)
			if t == nil {
				continue
			}
			if t.virtual {
				sql = plainTable(t)
			}
		}
		if err := c.Exec(sql); err != nil {
			if o.typ == "table" {
				return nil, fmt.Errorf("advise: copy table %q into the shadow schema: %w", o.name, err)
			}
			sh.notes = append(sh.notes, fmt.Sprintf("%s %q is not in the shadow schema: %v", o.typ, o.name, err))
		}
	}
	if err := c.Exec(`ANALYZE; DELETE FROM sqlite_stat1; DELETE FROM sqlite_stat4`); err != nil {
		return nil, fmt.Errorf("advise: create the shadow statistics: %w", err)
	}
	if err := sh.loadStats(); err != nil {
		return nil, err
	}
	return sh, nil
}

// plainTable stands in for a virtual table in the shadow: an ordinary table
// with its columns, so statements that read it still plan.
func plainTable(t *table) string {
	var cols []string
	for _, c := range t.cols {
		cols = append(cols, quote(c.name))
	}
	return fmt.Sprintf("CREATE TABLE %s (%s)", quote(t.name), strings.Join(cols, ", "))
}

// loadStats fills the shadow's sqlite_stat1: the user's own rows where
// ANALYZE ran, estimates from row counts and samples where it did not, and
// the user's sqlite_stat4 as it is.
func (sh *shadow) loadStats() error {
	have := map[string]bool{} // statKey of the rows copied
	for _, r := range sh.sch.stat1 {
		if err := sh.insertStat(r.tbl, r.idx, r.stat); err != nil {
			return err
		}
		have[statKey(r.tbl, r.idx)] = true
	}
	for _, t := range sh.sch.tables {
		if t.virtual {
			continue
		}
		if !t.hasStat1 {
			n, err := sh.rowCount(t)
			if err != nil {
				return err
			}
			if err := sh.insertStat(t.name, "", fmt.Sprint(n)); err != nil {
				return err
			}
		}
		for _, ix := range t.indexes {
			if have[statKey(t.name, ix.name)] {
				continue
			}
			stat, err := sh.estimate(t, ix.cols, ix.unique)
			if err != nil {
				return err
			}
			if stat != "" {
				if err := sh.insertStat(t.name, ix.name, stat); err != nil {
					return err
				}
			}
		}
	}
	for _, r := range sh.sch.stat4 {
		err := each(sh.conn, `INSERT INTO sqlite_stat4 (tbl, idx, neq, nlt, ndlt, sample) VALUES (?, ?, ?, ?, ?, ?)`,
			[]any{r.tbl, r.idx, r.neq, r.nlt, r.ndlt, r.sample}, nil)
		if err != nil {
			return fmt.Errorf("advise: copy sqlite_stat4 into the shadow: %w", err)
		}
	}
	return sh.reload()
}

func (sh *shadow) insertStat(tbl, idx, stat string) error {
	var ix any = idx
	if idx == "" {
		ix = nil
	}
	err := each(sh.conn, `INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)`, []any{tbl, ix, stat}, nil)
	if err != nil {
		return fmt.Errorf("advise: write shadow statistics for %q: %w", tbl, err)
	}
	return nil
}

// reload makes the shadow's planner read sqlite_stat1 again.
func (sh *shadow) reload() error {
	if err := sh.conn.Exec(`ANALYZE sqlite_schema`); err != nil {
		return fmt.Errorf("advise: reload the shadow statistics: %w", err)
	}
	return nil
}

// rowCount is the table's row count as the shadow's statistics state it.
func (sh *shadow) rowCount(t *table) (int64, error) {
	if t.hasStat1 && t.statRows > 0 {
		return t.statRows, nil
	}
	if n, ok := sh.rows[t]; ok {
		return n, nil
	}
	n, err := rowCount(sh.user, t, sh.opts.CountLimit)
	if err != nil {
		return 0, err
	}
	sh.rows[t] = n
	return n, nil
}

func (sh *shadow) sample(t *table) (*sample, error) {
	if t.sample != nil {
		return t.sample, nil
	}
	n, err := sh.rowCount(t)
	if err != nil {
		return nil, err
	}
	s, err := readSample(sh.user, t, n, sh.opts.SampleRows)
	if err != nil {
		return nil, err
	}
	t.sample = s
	return s, nil
}

// estimate renders the sqlite_stat1 line of an index on cols from the row
// count and a sample; "" for an index on expressions, left to the planner's
// defaults.
func (sh *shadow) estimate(t *table, cols []term, unique bool) (string, error) {
	var idx []int
	for _, c := range cols {
		if c.col < 0 {
			return "", nil
		}
		idx = append(idx, c.col)
	}
	s, err := sh.sample(t)
	if err != nil {
		return "", err
	}
	return statLine(s.rows, s.distinct(idx), unique), nil
}

// create adds candidate c to the shadow with its estimated statistics; the
// caller reloads.
func (sh *shadow) create(c *candidate) error {
	if sh.created[c.key] != nil {
		return nil
	}
	if err := sh.conn.Exec(c.createSQL); err != nil {
		return fmt.Errorf("advise: create candidate %s in the shadow: %w", c.createSQL, err)
	}
	stat, err := sh.estimate(c.table, c.cols, false)
	if err != nil {
		return err
	}
	if err := sh.insertStat(c.table.name, c.index.name, stat); err != nil {
		return err
	}
	sh.created[c.key] = c
	return nil
}

// keep leaves exactly the candidates in want in the shadow and reloads.
func (sh *shadow) keep(want []*candidate) error {
	keys := map[string]bool{}
	for _, c := range want {
		keys[c.key] = true
		if err := sh.create(c); err != nil {
			return err
		}
	}
	for key, c := range sh.created {
		if keys[key] {
			continue
		}
		// DROP INDEX also deletes the index's sqlite_stat1 rows.
		if err := sh.conn.Exec("DROP INDEX " + quote(c.index.name)); err != nil {
			return fmt.Errorf("advise: drop candidate %q from the shadow: %w", c.index.name, err)
		}
		delete(sh.created, key)
	}
	return sh.reload()
}

func (sh *shadow) close() error { return sh.conn.Close() }
