package advise

import (
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// A table of the user's main database, as far as index advice cares.
type table struct {
	name         string
	virtual      bool // a virtual table: mirrored, never indexed
	withoutRowid bool
	cols         []column
	indexes      []*index
	hasStat1     bool  // sqlite_stat1 holds at least one row for the table
	statRows     int64 // row count from sqlite_stat1; 0 when it has none

	sample *sample // read on first need, see stats.go
}

// A column of a table, in the order of PRAGMA table_xinfo (its cid).
type column struct {
	name   string
	typ    string
	coll   string // default collation, as SQLite names it (BINARY, NOCASE, ...)
	hidden int    // PRAGMA table_xinfo's hidden: 1 hidden, 2 and 3 generated
	ipk    bool   // the INTEGER PRIMARY KEY alias of the rowid
}

// An index, existing in the user's database or a candidate.
type index struct {
	name    string
	table   *table
	unique  bool
	origin  string // c (CREATE INDEX), u (UNIQUE constraint), pk (PRIMARY KEY)
	partial bool
	cols    []term // key columns, in index order
}

// One column of an index, or one constraint of a scan.
type term struct {
	col  int    // column number in table.cols; -1 for the rowid, -2 for an expression
	coll string // collation sequence
	desc bool
}

type schemaObject struct{ typ, name, sql string }

type statRow struct{ tbl, idx, stat string } // idx "" for a table's own row

// statKey identifies the sqlite_stat1 row of index idx of table tbl.
func statKey(tbl, idx string) string { return strings.ToLower(tbl + "\x00" + idx) }

type stat4Row struct {
	tbl, idx, neq, nlt, ndlt string
	sample                   []byte
}

type function struct {
	name, kind string
	narg       int
}

// The schema of the user's main database, read once per analysis.
type schema struct {
	tables  []*table
	byName  map[string]*table // lower-case name
	objects []schemaObject    // every sqlite_schema row, in creation order
	names   map[string]bool   // lower-case names of every object
	stat1   []statRow
	stat4   []stat4Row
	funcs   []function
}

func (s *schema) table(name string) *table { return s.byName[strings.ToLower(name)] }

// each runs query on c and calls row for each result row.
func each(c *sqlite3.Conn, query string, args []any, row func(*sqlite3.Stmt) error) error {
	stmt, _, err := c.Prepare(query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, a := range args {
		switch a := a.(type) {
		case string:
			err = stmt.BindText(i+1, a)
		case int64:
			err = stmt.BindInt64(i+1, a)
		case int:
			err = stmt.BindInt64(i+1, int64(a))
		case []byte:
			err = stmt.BindBlob(i+1, a)
		case nil:
			err = stmt.BindNull(i + 1)
		default:
			err = fmt.Errorf("advise: internal error: cannot bind %T", a)
		}
		if err != nil {
			return err
		}
	}
	for stmt.Step() {
		if row != nil {
			if err := row(stmt); err != nil {
				return err
			}
		}
	}
	return stmt.Err()
}

// loadSchema reads tables, columns, indexes, statistics and application
// functions of the main database of c.
func loadSchema(c *sqlite3.Conn) (*schema, error) {
	s := &schema{byName: map[string]*table{}, names: map[string]bool{}}
	err := each(c, `SELECT type, name, coalesce(sql, '') FROM main.sqlite_schema ORDER BY rowid`, nil,
		func(st *sqlite3.Stmt) error {
			o := schemaObject{st.ColumnText(0), st.ColumnText(1), st.ColumnText(2)}
			s.objects = append(s.objects, o)
			s.names[strings.ToLower(o.name)] = true
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("advise: read the schema: %w", err)
	}

	kinds := map[string][2]bool{} // name -> virtual, without rowid
	err = each(c, `SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main'`, nil,
		func(st *sqlite3.Stmt) error {
			kinds[st.ColumnText(0)] = [2]bool{st.ColumnText(1) == "virtual", st.ColumnInt(2) != 0}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("advise: list tables: %w", err)
	}

	for _, o := range s.objects {
		if o.typ != "table" || isInternal(o.name) {
			continue
		}
		k := kinds[o.name]
		t := &table{name: o.name, virtual: k[0], withoutRowid: k[1]}
		if err := loadColumns(c, t); err != nil {
			if t.virtual {
				continue // its module is not loaded on this connection: queries on it are reported
			}
			return nil, err
		}
		if !t.virtual {
			if err := loadIndexes(c, t); err != nil {
				return nil, err
			}
		}
		s.tables = append(s.tables, t)
		s.byName[strings.ToLower(t.name)] = t
	}

	if s.names["sqlite_stat1"] {
		if err := loadStats(c, s); err != nil {
			return nil, err
		}
	}

	err = each(c, `SELECT name, type, narg FROM pragma_function_list WHERE builtin = 0`, nil,
		func(st *sqlite3.Stmt) error {
			s.funcs = append(s.funcs, function{st.ColumnText(0), st.ColumnText(1), st.ColumnInt(2)})
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("advise: list application functions: %w", err)
	}
	return s, nil
}

func isInternal(name string) bool {
	return len(name) >= 7 && strings.EqualFold(name[:7], "sqlite_")
}

func loadColumns(c *sqlite3.Conn, t *table) error {
	npk := 0
	var pkType string
	pk := -1
	err := each(c, `SELECT name, type, pk, hidden FROM pragma_table_xinfo(?, 'main')`, []any{t.name},
		func(st *sqlite3.Stmt) error {
			col := column{name: st.ColumnText(0), typ: st.ColumnText(1), hidden: st.ColumnInt(3), coll: "BINARY"}
			if st.ColumnInt(2) > 0 {
				npk++
				pk, pkType = len(t.cols), col.typ
			}
			t.cols = append(t.cols, col)
			return nil
		})
	if err != nil {
		return fmt.Errorf("advise: read the columns of %q: %w", t.name, err)
	}
	if len(t.cols) == 0 {
		return fmt.Errorf("advise: table %q has no columns", t.name)
	}
	if t.virtual {
		return nil
	}
	for i := range t.cols {
		_, coll, _, _, _, err := c.TableColumnMetadata("main", t.name, t.cols[i].name)
		if err != nil {
			return fmt.Errorf("advise: read the collation of %q.%q: %w", t.name, t.cols[i].name, err)
		}
		if coll != "" {
			t.cols[i].coll = coll
		}
	}
	if npk == 1 && !t.withoutRowid && strings.EqualFold(pkType, "INTEGER") {
		t.cols[pk].ipk = true
	}
	return nil
}

func loadIndexes(c *sqlite3.Conn, t *table) error {
	err := each(c, `SELECT name, "unique", origin, partial FROM pragma_index_list(?, 'main') ORDER BY seq DESC`, []any{t.name},
		func(st *sqlite3.Stmt) error {
			t.indexes = append(t.indexes, &index{
				name: st.ColumnText(0), table: t, unique: st.ColumnInt(1) != 0,
				origin: st.ColumnText(2), partial: st.ColumnInt(3) != 0,
			})
			return nil
		})
	if err != nil {
		return fmt.Errorf("advise: list the indexes of %q: %w", t.name, err)
	}
	for _, ix := range t.indexes {
		err := each(c, `SELECT cid, coll, desc FROM pragma_index_xinfo(?, 'main') WHERE key ORDER BY seqno`, []any{ix.name},
			func(st *sqlite3.Stmt) error {
				ix.cols = append(ix.cols, term{col: st.ColumnInt(0), coll: st.ColumnText(1), desc: st.ColumnInt(2) != 0})
				return nil
			})
		if err != nil {
			return fmt.Errorf("advise: read index %q: %w", ix.name, err)
		}
	}
	return nil
}

func loadStats(c *sqlite3.Conn, s *schema) error {
	err := each(c, `SELECT tbl, coalesce(idx, ''), stat FROM main.sqlite_stat1`, nil,
		func(st *sqlite3.Stmt) error {
			r := statRow{st.ColumnText(0), st.ColumnText(1), st.ColumnText(2)}
			s.stat1 = append(s.stat1, r)
			t := s.table(r.tbl)
			if t == nil {
				return nil
			}
			t.hasStat1 = true
			var n int64
			if _, err := fmt.Sscan(r.stat, &n); err == nil && n > t.statRows {
				t.statRows = n
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("advise: read sqlite_stat1: %w", err)
	}
	if !s.names["sqlite_stat4"] {
		return nil
	}
	err = each(c, `SELECT tbl, idx, neq, nlt, ndlt, sample FROM main.sqlite_stat4`, nil,
		func(st *sqlite3.Stmt) error {
			s.stat4 = append(s.stat4, stat4Row{
				st.ColumnText(0), st.ColumnText(1), st.ColumnText(2),
				st.ColumnText(3), st.ColumnText(4), st.ColumnBlob(5, nil),
			})
			return nil
		})
	if err != nil {
		return fmt.Errorf("advise: read sqlite_stat4: %w", err)
	}
	return nil
}

// quote quotes an SQL identifier.
func quote(id string) string {
	return `"` + strings.ReplaceAll(id, `"`, `""`) + `"`
}
