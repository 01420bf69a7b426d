package gormql

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite"
)

// tables are CREATE TABLE statements with what makes SQL hard to take
// apart: quotes of every kind, comments, commas and keywords inside
// parentheses and literals, constraints with and without names.
var tables = []string{
	`CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT UNIQUE NOT NULL)`,
	`CREATE TABLE "odd ""name""" (
		"a,b" TEXT DEFAULT 'x, y' CHECK ("a,b" <> 'NOT NULL'), -- a comment, with a comma
		[c d] INTEGER DEFAULT -1 /* another, comment */ NOT NULL,
		` + "`e`" + ` REAL DEFAULT (1.5 * 2) COLLATE NOCASE,
		f TEXT CONSTRAINT f_fk REFERENCES parent(code) ON DELETE SET NULL ON UPDATE CASCADE NOT DEFERRABLE,
		g TEXT DEFAULT NULL NULL,
		h ANY,
		CONSTRAINT pk PRIMARY KEY ("a,b", [c d]),
		CONSTRAINT "u h" UNIQUE (h, f) ON CONFLICT REPLACE,
		CHECK ([c d] > -10 AND "a,b" NOT IN ('(', ')')),
		FOREIGN KEY (g) REFERENCES parent (code) DEFERRABLE INITIALLY DEFERRED
	) WITHOUT ROWID`,
	`CREATE TABLE gen (
		id INTEGER PRIMARY KEY,
		price REAL NOT NULL,
		qty INTEGER NOT NULL DEFAULT 1,
		total REAL GENERATED ALWAYS AS (price * qty) STORED,
		label TEXT AS ('#' || id) VIRTUAL
	)`,
	`CREATE TABLE strict_t (id INTEGER PRIMARY KEY, v TEXT NOT NULL DEFAULT '') STRICT`,
	`CREATE TABLE typeless (a, b UNSIGNED BIG INT, c VARYING CHARACTER(255), d DECIMAL(10, 5))`,
}

func openRaw(t *testing.T) *sql.DB {
	t.Helper()
	db, err := qlsqlite.Open("file:" + filepath.Join(t.TempDir(), "ddl.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// describe is what SQLite says a table is: its columns, indexes and foreign
// keys, as text, with the table's own name left out.
func describe(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid`,
		`SELECT il."unique", il.origin, il.partial, group_concat(coalesce(ix.name, '?') || ' ' || ix."desc" || ' ' || ix.coll)
			FROM pragma_index_list(?1) AS il, pragma_index_xinfo(il.name) AS ix WHERE ix.key GROUP BY il.name ORDER BY 4`,
		`SELECT "table", "from", "to", on_update, on_delete, "match" FROM pragma_foreign_key_list(?1) ORDER BY id, seq`,
	} {
		rows, err := db.Query(q, table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

func tableSQL(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var s string
	if err := db.QueryRow(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`, name).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A table made from the parsed statement is the same table.
func TestParseCreateTableRoundTrip(t *testing.T) {
	db := openRaw(t)
	for i, create := range tables {
		if _, err := db.Exec(create); err != nil {
			t.Fatalf("%s: %v", create, err)
		}
		name := tokenize(create)[2].name()
		ddl, err := parseCreateTable(tableSQL(t, db, name))
		if err != nil {
			t.Fatal(err)
		}
		copyName := fmt.Sprintf("copy%d", i)
		if _, err := db.Exec(ddl.create(copyName)); err != nil {
			t.Fatalf("%s: %v", ddl.create(copyName), err)
		}
		if got, want := describe(t, db, copyName), describe(t, db, name); got != want {
			t.Errorf("%s made again is\n%s\nnot\n%s", name, got, want)
		}
	}
}

// retype keeps a column's constraints other than NOT NULL and DEFAULT, as
// SQLite sees them, and the parser splits the column's constraints where
// SQLite does.
func TestRetypeKeepsConstraints(t *testing.T) {
	db := openRaw(t)
	exec := func(q string) error { _, err := db.Exec(q); return err }
	if err := exec(tables[0]); err != nil {
		t.Fatal(err)
	}
	create := `CREATE TABLE child (
		id INTEGER PRIMARY KEY,
		x TEXT CONSTRAINT nn NOT NULL DEFAULT NULL REFERENCES parent(code) ON DELETE SET NULL NOT DEFERRABLE COLLATE NOCASE CHECK (x <> ''),
		y TEXT DEFAULT 'NOT NULL' UNIQUE
	)`
	if err := exec(create); err != nil {
		t.Fatal(err)
	}
	def := parseColumnDef(`x TEXT CONSTRAINT nn NOT NULL DEFAULT NULL REFERENCES parent(code) ON DELETE SET NULL NOT DEFERRABLE COLLATE NOCASE CHECK (x <> '')`)
	var kinds []string
	for _, c := range def.constraints {
		kinds = append(kinds, c.kind)
	}
	if want := []string{"NOT", "DEFAULT", "REFERENCES", "COLLATE", "CHECK"}; !slices.Equal(kinds, want) || def.constraints[0].name != "nn" {
		t.Errorf("constraints %v (first named %q), want %v", kinds, def.constraints[0].name, want)
	}

	ddl, err := parseCreateTable(tableSQL(t, db, "child"))
	if err != nil {
		t.Fatal(err)
	}
	i := ddl.columnIndex("X")
	ddl.items[i].sql = retype(ddl.items[i].sql, "x", "varchar(10) DEFAULT 'ab'")
	if err := exec(ddl.create("child2")); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO parent (code) VALUES ('ab')`); err != nil {
		t.Fatal(err)
	}
	// Nullable now, with the new default, still NOCASE, still checked,
	// still a foreign key.
	if err := exec(`INSERT INTO child2 (id, y) VALUES (1, 'one')`); err != nil {
		t.Fatal(err)
	}
	var x string
	var n int
	db.QueryRow(`SELECT x, (SELECT count(*) FROM child2 WHERE x = 'AB') FROM child2 WHERE id = 1`).Scan(&x, &n)
	if x != "ab" || n != 1 {
		t.Errorf("default %q, NOCASE matches %d", x, n)
	}
	if err := exec(`INSERT INTO child2 (id, x, y) VALUES (2, NULL, 'two')`); err != nil {
		t.Errorf("NULL in the retyped column: %v", err)
	}
	if err := exec(`INSERT INTO child2 (id, x, y) VALUES (3, '', 'three')`); !errors.Is(err, sqlite3.CONSTRAINT_CHECK) {
		t.Errorf("the CHECK is gone: %v", err)
	}
	if err := exec(`INSERT INTO child2 (id, x, y) VALUES (4, 'zz', 'four')`); !errors.Is(err, sqlite3.CONSTRAINT_FOREIGNKEY) {
		t.Errorf("the foreign key is gone: %v", err)
	}
	if err := exec(`INSERT INTO child2 (id, y) VALUES (5, 'one')`); !errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) {
		t.Errorf("y's UNIQUE is gone: %v", err)
	}
}

func TestDropColumnEdit(t *testing.T) {
	db := openRaw(t)
	if _, err := db.Exec(tables[0]); err != nil {
		t.Fatal(err)
	}
	ddl, err := parseCreateTable(`CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT REFERENCES parent(code), c INTEGER,
		CONSTRAINT ua UNIQUE (a), UNIQUE (b, c), CONSTRAINT fk FOREIGN KEY (c) REFERENCES parent(id), CHECK (c > 0), CHECK (a <> ''))`)
	if err != nil {
		t.Fatal(err)
	}
	if err := ddl.dropColumn("c"); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, it := range ddl.items {
		left = append(left, it.sql)
	}
	want := []string{"id INTEGER PRIMARY KEY", "a TEXT", "b TEXT REFERENCES parent(code)", "CONSTRAINT ua UNIQUE (a)", "CHECK (a <> '')"}
	if !slices.Equal(left, want) {
		t.Errorf("after dropping c: %q", left)
	}
	if _, err := db.Exec(ddl.create("t")); err != nil {
		t.Error(err)
	}
	if err := ddl.dropColumn("id"); err == nil {
		t.Error("dropped the primary key")
	}
	if err := ddl.dropColumn("nope"); err == nil {
		t.Error("dropped a column that does not exist")
	}
}

func TestRenameIndexSQL(t *testing.T) {
	db := openRaw(t)
	for _, create := range []string{
		`CREATE INDEX old ON parent (code)`,
		`CREATE UNIQUE INDEX IF NOT EXISTS "old" ON parent (code DESC) WHERE code <> 'old'`,
		`CREATE INDEX main.[old] ON parent (lower(code))`,
	} {
		if _, err := db.Exec(tables[0]); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
		if _, err := db.Exec(create); err != nil {
			t.Fatal(err)
		}
		renamed, err := renameIndexSQL(create, `new "one"`)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`DROP INDEX old`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(renamed); err != nil {
			t.Fatalf("%s: %v", renamed, err)
		}
		var where string
		db.QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'new "one"'`).Scan(&where)
		if !strings.Contains(where, "old'") != !strings.Contains(create, "old'") {
			t.Errorf("%s became %s", create, where)
		}
		db.Exec(`DROP INDEX "new ""one"""`)
	}
}

func TestTokenize(t *testing.T) {
	toks := tokenize(`SELECT x'0A', 1.5e-3, .5, 0x1F, ?7, :a, @b, $c, [q]] -- c ?
		/* ? */ "a""b" 'it''s' ?`)
	var kinds []tokKind
	for _, tk := range toks {
		kinds = append(kinds, tk.kind)
	}
	want := []tokKind{tokWord, tokBlob, tokPunct, tokNumber, tokPunct, tokNumber, tokPunct, tokNumber, tokPunct,
		tokParam, tokPunct, tokParam, tokPunct, tokParam, tokPunct, tokParam, tokPunct, tokQuoted, tokPunct,
		tokQuoted, tokString, tokParam}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds %v\nwant  %v", kinds, want)
	}
	if n := toks[len(toks)-3].name(); n != `a"b` {
		t.Errorf("quoted name %q", n)
	}
	if n := toks[len(toks)-2].name(); n != `it's` {
		t.Errorf("string %q", n)
	}
}
