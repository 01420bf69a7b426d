package rewrite

import (
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// affinity is a column's or an expression's type affinity
// (https://sqlite.org/datatype3.html#type_affinity).
type affinity byte

const (
	affNone    affinity = iota // BLOB affinity, or an expression without one
	affText                    // TEXT: numbers are stored as text
	affNumeric                 // NUMERIC: well-formed numbers in text are stored as numbers
	affInteger                 // INTEGER
	affReal                    // REAL
)

func (a affinity) numeric() bool { return a >= affNumeric }

func (a affinity) String() string {
	return [...]string{"BLOB", "TEXT", "NUMERIC", "INTEGER", "REAL"}[a]
}

// affinityOf returns the affinity of a declared type, by SQLite's rules
// (section 3.1 of the datatype document), in their order.
func affinityOf(typ string) affinity {
	t := strings.ToUpper(typ)
	switch {
	case strings.Contains(t, "INT"):
		return affInteger
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return affText
	case strings.Contains(t, "BLOB"), t == "":
		return affNone
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		return affReal
	}
	return affNumeric
}

// A table of the user's database, as far as the rules care.
type table struct {
	schema, name string
	strict       bool // a STRICT table: every value has its column's declared type
	withoutRowid bool
	cols         []column
	indexes      []*index
}

type column struct {
	name    string
	typ     string // declared type, as written
	aff     affinity
	coll    string // collation, upper case: BINARY, NOCASE, RTRIM, or an application's
	notNull bool   // NOT NULL, or the INTEGER PRIMARY KEY (which is the rowid)
	ipk     bool   // the INTEGER PRIMARY KEY alias of the rowid
	hidden  bool   // a hidden or generated column
}

type index struct {
	name    string
	unique  bool
	partial bool
	cols    []indexCol
}

// An indexCol is one key column of an index.
type indexCol struct {
	col  int    // column number; -1 the rowid, -2 an expression
	coll string // upper case
	desc bool
}

// col returns the number of column name of t, -1 for the rowid (under one
// of its names, when no column takes it), -2 when there is none.
func (t *table) col(name string) int {
	for i, c := range t.cols {
		if strings.EqualFold(c.name, name) {
			return i
		}
	}
	if !t.withoutRowid {
		switch strings.ToLower(name) {
		case "rowid", "oid", "_rowid_":
			return -1
		}
	}
	return -2
}

// notNull reports whether column i (-1 the rowid) can never be NULL.
func (t *table) notNull(i int) bool { return i == -1 || i >= 0 && t.cols[i].notNull }

// valueTypes reports what kinds of values column i can hold beyond NULL:
// text, numbers, blobs. Affinity converts numbers to text in a TEXT column;
// only a STRICT table rules the other kinds out.
func (t *table) valueTypes(i int) (text, number, blob bool) {
	if i == -1 || i >= 0 && t.cols[i].ipk {
		return false, true, false
	}
	c := t.cols[i]
	if t.strict {
		switch strings.ToUpper(c.typ) {
		case "INT", "INTEGER", "REAL":
			return false, true, false
		case "TEXT":
			return true, false, false
		case "BLOB":
			return false, false, true
		}
		return true, true, true // ANY
	}
	return true, c.aff != affText, true
}

// indexed reports whether some index of t, not a partial one, has column i
// as a key column in collation coll.
func (t *table) indexed(i int, coll string) bool {
	for _, ix := range t.indexes {
		if ix.partial {
			continue
		}
		for _, c := range ix.cols {
			if c.col == i && strings.EqualFold(c.coll, coll) {
				return true
			}
		}
	}
	return false
}

// A schema reads the tables of the user's database as the rules ask for
// them, and the behaviour of the functions they rely on.
type schema struct {
	conn   *sqlite3.Conn
	tables map[string]*table // by lower-case schema.name; nil: not a table

	probed    bool
	foldASCII bool // lower() and upper() are SQLite's built-in ASCII-only ones
	likeCI    bool // LIKE is case-insensitive (PRAGMA case_sensitive_like is off)
	likeOK    bool // like() and glob() are SQLite's own
	likeBlob  bool // LIKE reads a BLOB as text (SQLite 3.54 does not: a BLOB never matches)
	globBlob  bool // GLOB likewise
}

func newSchema(c *sqlite3.Conn) *schema {
	return &schema{conn: c, tables: map[string]*table{}}
}

// table returns the table name of database db ("" for the usual search:
// temp, then main, then attached), or nil for a view, a virtual table or
// nothing of that name.
func (s *schema) table(db, name string) (*table, error) {
	key := strings.ToLower(db + "." + name)
	if t, ok := s.tables[key]; ok {
		return t, nil
	}
	t, err := s.load(db, name)
	if err != nil {
		return nil, err
	}
	s.tables[key] = t
	return t, nil
}

func (s *schema) load(db, name string) (*table, error) {
	var t *table
	err := query(s.conn, `SELECT schema, name, type, wr, strict FROM pragma_table_list(?) WHERE ? IN ('', schema)
		ORDER BY schema = 'temp' DESC, schema = 'main' DESC LIMIT 1`, []any{name, db}, func(st *sqlite3.Stmt) error {
		if st.ColumnText(2) == "table" {
			t = &table{schema: st.ColumnText(0), name: st.ColumnText(1), withoutRowid: st.ColumnBool(3), strict: st.ColumnBool(4)}
		}
		return nil
	})
	if err != nil || t == nil {
		return nil, wrapSchema(name, err)
	}
	npk, pk := 0, -1
	err = query(s.conn, `SELECT name, type, "notnull", pk, hidden FROM pragma_table_xinfo(?, ?) ORDER BY cid`, []any{t.name, t.schema},
		func(st *sqlite3.Stmt) error {
			c := column{name: st.ColumnText(0), typ: st.ColumnText(1), notNull: st.ColumnBool(2), hidden: st.ColumnInt(4) != 0, coll: "BINARY"}
			c.aff = affinityOf(c.typ)
			if st.ColumnInt(3) > 0 {
				npk++
				pk = len(t.cols)
				// A WITHOUT ROWID table enforces NOT NULL on its key; a rowid
				// table does not (only its INTEGER PRIMARY KEY is never NULL).
				c.notNull = c.notNull || t.withoutRowid
			}
			t.cols = append(t.cols, c)
			return nil
		})
	if err != nil {
		return nil, wrapSchema(name, err)
	}
	for i := range t.cols {
		_, coll, _, _, _, err := s.conn.TableColumnMetadata(t.schema, t.name, t.cols[i].name)
		if err != nil {
			return nil, wrapSchema(name, err)
		}
		if coll != "" {
			t.cols[i].coll = strings.ToUpper(coll)
		}
	}
	if npk == 1 && !t.withoutRowid && strings.EqualFold(t.cols[pk].typ, "INTEGER") {
		t.cols[pk].ipk, t.cols[pk].notNull = true, true
	}
	return t, s.loadIndexes(t)
}

func (s *schema) loadIndexes(t *table) error {
	err := query(s.conn, `SELECT name, "unique", partial FROM pragma_index_list(?, ?) ORDER BY seq DESC`, []any{t.name, t.schema},
		func(st *sqlite3.Stmt) error {
			t.indexes = append(t.indexes, &index{name: st.ColumnText(0), unique: st.ColumnBool(1), partial: st.ColumnBool(2)})
			return nil
		})
	if err != nil {
		return wrapSchema(t.name, err)
	}
	for _, ix := range t.indexes {
		err := query(s.conn, `SELECT cid, coll, "desc" FROM pragma_index_xinfo(?, ?) WHERE key ORDER BY seqno`, []any{ix.name, t.schema},
			func(st *sqlite3.Stmt) error {
				ix.cols = append(ix.cols, indexCol{col: st.ColumnInt(0), coll: strings.ToUpper(st.ColumnText(1)), desc: st.ColumnBool(2)})
				return nil
			})
		if err != nil {
			return wrapSchema(t.name, err)
		}
	}
	return nil
}

func wrapSchema(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("rewrite: read the schema of %q: %w", name, err)
}

// probe learns, once, how the connection's functions behave where the rules
// depend on it: an application (or an extension such as ICU or ncruces's
// unicode) may replace lower(), upper(), like() and glob().
func (s *schema) probe() error {
	if s.probed {
		return nil
	}
	s.probed = true
	return query(s.conn, `SELECT lower('ÀÉ') = 'ÀÉ' AND upper('àé') = 'àé' AND lower('AZ') = 'az' AND upper('az') = 'AZ',
		'a' LIKE 'A',
		(SELECT count(*) FROM pragma_function_list WHERE name IN ('like', 'glob', 'lower', 'upper') AND builtin = 0) = 0,
		CAST('a' AS BLOB) LIKE 'a', CAST('a' AS BLOB) GLOB 'a'`, nil,
		func(st *sqlite3.Stmt) error {
			s.foldASCII, s.likeCI, s.likeOK = st.ColumnBool(0), st.ColumnBool(1), st.ColumnBool(2)
			s.likeBlob, s.globBlob = st.ColumnBool(3), st.ColumnBool(4)
			s.foldASCII = s.foldASCII && s.likeOK
			return nil
		})
}

// query runs sql on c with args bound (string, int64, int, nil) and calls
// row for each result row.
func query(c *sqlite3.Conn, sql string, args []any, row func(*sqlite3.Stmt) error) error {
	st, _, err := c.Prepare(sql)
	if err != nil {
		return err
	}
	defer st.Close()
	for i, a := range args {
		if err := bind(st, i+1, a); err != nil {
			return err
		}
	}
	for st.Step() {
		if err := row(st); err != nil {
			return err
		}
	}
	return st.Err()
}
