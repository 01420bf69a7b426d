package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// column is one column of a table, as PRAGMA table_xinfo describes it.
type column struct {
	name    string // exact name, as declared
	quoted  string // name quoted for SQL text
	typ     string // declared type
	coll    string // collating sequence (read only by readCollations; "" otherwise)
	notNull bool
	pk      int // 1-based position in the primary key, 0 if not part of it
	hidden  int // 0 ordinary, 1 hidden (virtual tables), 2 and 3 generated
}

// table describes a table of a schema as far as archival and purging need.
type table struct {
	name         string // exact name, as stored in sqlite_schema
	quoted       string // schema-qualified, quoted name for SQL text
	sql          string // the CREATE TABLE statement from sqlite_schema
	withoutRowid bool
	strict       bool
	cols         []column // columns that can be inserted (generated columns left out)
	key          []column // primary-key columns, in primary-key order
	keyColl      []string // collations of the primary-key index, nil without one (read only by readCollations)
}

// errNoTable is wrapped by lookupTable when the table does not exist.
var errNoTable = errors.New("no such table")

// lookupTable validates name and loads the description of that table in
// schema (an identifier this package chose, never user input).
//
// Table names are matched the way SQLite matches them: exactly, except for
// the case of ASCII letters.
func lookupTable(ctx context.Context, q queryer, schema, name string) (*table, error) {
	if err := checkName("table", name); err != nil {
		return nil, err
	}
	t := &table{}
	var createSQL sql.NullString
	err := q.QueryRowContext(ctx,
		`SELECT name, sql FROM `+quoteIdent(schema)+`.sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE`,
		name).Scan(&t.name, &createSQL)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("lifecycle: table %q: %w in the %s database: check the name", name, errNoTable, schema)
	}
	if err != nil {
		return nil, fmt.Errorf("lifecycle: looking up table %q: %w", name, err)
	}
	t.sql = createSQL.String
	t.quoted = quoteIdent(schema) + "." + quoteIdent(t.name)
	if strings.HasPrefix(strings.ToLower(t.name), "sqlite_") {
		return nil, fmt.Errorf("lifecycle: table %q is one of SQLite's internal tables: it cannot be archived or purged", t.name)
	}
	if !strings.HasPrefix(t.sql, "CREATE TABLE ") {
		return nil, fmt.Errorf("lifecycle: table %q is not an ordinary table (virtual tables cannot be archived or purged)", t.name)
	}

	err = q.QueryRowContext(ctx,
		`SELECT wr, strict FROM pragma_table_list WHERE schema = ? AND name = ?`, schema, t.name).Scan(&t.withoutRowid, &t.strict)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: reading the kind of table %q: %w", t.name, err)
	}

	rows, err := q.QueryContext(ctx,
		`SELECT name, type, "notnull", pk, hidden FROM pragma_table_xinfo(?, ?) ORDER BY cid`, t.name, schema)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: reading the columns of table %q: %w", t.name, err)
	}
	defer rows.Close()
	var key []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ, &c.notNull, &c.pk, &c.hidden); err != nil {
			return nil, fmt.Errorf("lifecycle: reading the columns of table %q: %w", t.name, err)
		}
		c.quoted = quoteIdent(c.name)
		if c.pk > 0 {
			key = append(key, c)
		}
		if c.hidden == 0 {
			t.cols = append(t.cols, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lifecycle: reading the columns of table %q: %w", t.name, err)
	}
	t.key = make([]column, len(key))
	for _, c := range key {
		t.key[c.pk-1] = c
	}
	return t, nil
}

// column returns the column called name (matched like SQLite does).
func (t *table) column(name string) (column, bool) {
	for _, c := range t.cols {
		if strings.EqualFold(c.name, name) {
			return c, true
		}
	}
	return column{}, false
}

// rowidAlias reports whether the primary key is the rowid itself (a single
// INTEGER PRIMARY KEY column of a rowid table), which can never be NULL.
func (t *table) rowidAlias() bool {
	return !t.withoutRowid && len(t.key) == 1 && strings.EqualFold(t.key[0].typ, "INTEGER")
}

// nullableKey reports whether SQLite lets the primary key hold NULLs: it does
// in rowid tables, for compatibility, unless the key is the rowid or its
// columns are declared NOT NULL.
func (t *table) nullableKey() bool {
	if t.withoutRowid || t.rowidAlias() {
		return false
	}
	for _, c := range t.key {
		if !c.notNull {
			return true
		}
	}
	return false
}

// keyList returns the primary-key columns as a comma-separated list.
func (t *table) keyList() string {
	parts := make([]string, len(t.key))
	for i, c := range t.key {
		parts[i] = c.quoted
	}
	return strings.Join(parts, ", ")
}

// keyTuple returns the primary key as a row value: (a, b) or a.
func (t *table) keyTuple() string {
	if len(t.key) == 1 {
		return t.key[0].quoted
	}
	return "(" + t.keyList() + ")"
}

// paramTuple returns named parameters :base0, :base1... shaped like the key.
func (t *table) paramTuple(base string) string {
	parts := make([]string, len(t.key))
	for i := range t.key {
		parts[i] = fmt.Sprintf(":%s%d", base, i)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// namedKey binds key values to the parameters that paramTuple(base) names.
func namedKey(base string, vals []any) []any {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = sql.Named(fmt.Sprintf("%s%d", base, i), v)
	}
	return args
}

// keyNotNull returns a condition true when no key column is NULL, or "" when
// the key can never be NULL.
func (t *table) keyNotNull() string {
	if !t.nullableKey() {
		return ""
	}
	parts := make([]string, 0, len(t.key))
	for _, c := range t.key {
		if !c.notNull {
			parts = append(parts, c.quoted+" IS NOT NULL")
		}
	}
	return strings.Join(parts, " AND ")
}

// orderBy returns the primary-key columns in ascending or descending order.
func (t *table) orderBy(desc bool) string {
	parts := make([]string, len(t.key))
	for i, c := range t.key {
		parts[i] = c.quoted
		if desc {
			parts[i] += " DESC"
		}
	}
	return strings.Join(parts, ", ")
}

// plainKey returns the key columns as expressions that carry no declared
// type ("+col"), so that drivers hand the stored values back unconverted
// (a DATETIME key is not turned into a time.Time and back into other text).
func (t *table) plainKey() string {
	parts := make([]string, len(t.key))
	for i, c := range t.key {
		parts[i] = "+" + c.quoted
	}
	return strings.Join(parts, ", ")
}
