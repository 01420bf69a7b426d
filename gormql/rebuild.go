package gormql

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// rebuild changes table the way SQLite documents for what ALTER TABLE
// cannot do (https://sqlite.org/lang_altertable.html#otheralter): a new
// table is made from the old one's CREATE TABLE as edit changed it, the
// rows are copied into it, the old table is dropped and the new one takes
// its name; indexes, triggers and views are made again, and the
// AUTOINCREMENT counter and the planner's statistics are carried over.
//
// It runs with foreign keys off (see [Migrator.withoutForeignKeys]):
// dropping the old table with them on would first delete its rows, firing
// ON DELETE CASCADE in every table that references it (DESIGN.md, trap 7).
// PRAGMA foreign_key_check vets the result before COMMIT.
//
// When edit leaves the table's definition as it is, nothing is done: the
// rebuild would make the same table again. GORM asks for an alteration
// whenever its comparison of the model with the column finds a difference
// in how the two are written (a DEFAULT '2000-01-01T00:00:00Z' for the tag
// default:2000-01-01 00:00:00, decimal(10, 2) for decimal(10,2)), and an
// AutoMigrate of an unchanged model must not copy the table each time.
func (m Migrator) rebuild(table, what string, edit func(*tableDDL) error) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("gormql: rebuilding table %q to %s: %w", table, what, err)
		}
	}()
	ctx, cancel := m.dialector.migrateContext(m.DB.Statement.Context)
	defer cancel()
	q := m.DB.Session(&gorm.Session{NewDB: true, Context: ctx})
	q.DryRun = false
	if same, err := changesNothing(q, table, edit); err != nil || same {
		return err
	}
	if m.DB.DryRun {
		return m.rebuildDryRun(table, edit)
	}
	return m.withoutForeignKeys([]string{table}, func(db *gorm.DB, check bool) error {
		return rebuildSteps(db, db, table, edit, check)
	})
}

// rebuildDryRun logs the statements of a rebuild without running them, for
// GORM's DryRun mode; the schema is read for real.
func (m Migrator) rebuildDryRun(table string, edit func(*tableDDL) error) error {
	q := m.DB.Session(&gorm.Session{NewDB: true})
	q.DryRun = false
	x := m.DB
	for _, s := range []string{"PRAGMA foreign_keys = OFF", "BEGIN IMMEDIATE"} {
		x.Exec(s)
	}
	if err := rebuildSteps(q, x, table, edit, false); err != nil {
		return err
	}
	for _, s := range []string{"COMMIT", "PRAGMA foreign_keys = ON"} {
		x.Exec(s)
	}
	return nil
}

// changesNothing reports whether edit leaves table's CREATE TABLE
// statement as it is.
func changesNothing(q *gorm.DB, table string, edit func(*tableDDL) error) (bool, error) {
	name, ddl, err := readTable(q, table)
	if err != nil {
		return false, err
	}
	before := ddl.create(name)
	if err := edit(ddl); err != nil {
		return false, err
	}
	return ddl.create(name) == before, nil
}

// readTable returns the stored name of table and its CREATE TABLE
// statement taken apart.
func readTable(q *gorm.DB, table string) (string, *tableDDL, error) {
	var name, createSQL string
	err := q.Raw("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE", table).
		Row().Scan(&name, &createSQL)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, fmt.Errorf("no such table")
	}
	if err != nil {
		return "", nil, err
	}
	ddl, err := parseCreateTable(createSQL)
	return name, ddl, err
}

// schemaObject is a row of sqlite_schema.
type schemaObject struct {
	typ, name, sql string
}

// rebuildSteps does the work of a rebuild in the open transaction: q reads,
// x writes (the same handle except in a dry run). With checkFK, it runs
// PRAGMA foreign_key_check on the table and on the tables that reference
// it, and fails if any row breaks a foreign key.
func rebuildSteps(q, x *gorm.DB, table string, edit func(*tableDDL) error, checkFK bool) error {
	name, ddl, err := readTable(q, table)
	if err != nil {
		return err
	}
	oldCols := ddl.columns()
	if err := edit(ddl); err != nil {
		return err
	}
	before, err := readTableState(q, name, checkFK)
	if err != nil {
		return err
	}
	tmp, err := tempName(q, name)
	if err != nil {
		return err
	}
	exec := func(sql string, args ...any) error { return x.Exec(sql, args...).Error }
	if err := dropDependents(exec, before.objects); err != nil {
		return err
	}
	if err := copyTable(exec, name, tmp, ddl, keptColumns(oldCols, ddl.columns())); err != nil {
		return err
	}
	kept, err := remakeDependents(q, exec, before.objects, ddl.dropped)
	if err != nil {
		return err
	}
	if err := before.restore(q, exec, name, ddl, kept); err != nil {
		return err
	}
	if checkFK {
		return checkForeignKeys(q, name, before.broken)
	}
	return nil
}

// keptColumns returns the quoted names of the columns in newCols that
// oldCols had too: the ones whose values are copied.
func keptColumns(oldCols, newCols []string) []string {
	var cols []string
	for _, c := range newCols {
		for _, o := range oldCols {
			if strings.EqualFold(c, o) {
				cols = append(cols, quoteIdent(c))
				break
			}
		}
	}
	return cols
}

// tableState is what a rebuild reads before it drops the old table, to
// make again or carry over afterwards.
type tableState struct {
	objects    []schemaObject    // the table's indexes, and every view and trigger
	seq        int64             // the AUTOINCREMENT counter, if hasSeq
	hasSeq     bool              // whether sqlite_sequence has a row for the table
	stats      []statRows        // the planner's statistics of the table
	autoBefore map[string]string // the indexes SQLite made for UNIQUE and PRIMARY KEY
	broken     map[violation]int // foreign key violations already there (with checkFK)
}

// readTableState reads the state of table name that a rebuild must keep.
func readTableState(q *gorm.DB, name string, checkFK bool) (*tableState, error) {
	st := &tableState{}
	var err error
	if st.objects, err = dependents(q, name); err != nil {
		return nil, err
	}
	if st.seq, st.hasSeq, err = sequenceOf(q, name); err != nil {
		return nil, err
	}
	if st.stats, err = statsOf(q, name); err != nil {
		return nil, err
	}
	if st.autoBefore, err = autoIndexes(q, name); err != nil {
		return nil, err
	}
	// Rows that broke a foreign key before the change are not the change's
	// doing. (A check that fails here, on a foreign key that does not match
	// its parent's keys, is what the change may be there to fix.)
	if checkFK {
		st.broken, _ = fkViolations(q, name)
	}
	return st, nil
}

// dependents returns what must be made again after a rebuild of table
// name: its indexes, and every view and trigger (renaming the new table
// fails while a view or trigger refers to the dropped one).
func dependents(q *gorm.DB, name string) ([]schemaObject, error) {
	var objects []schemaObject
	rows, err := q.Raw(`SELECT type, name, sql FROM sqlite_schema
		WHERE sql IS NOT NULL AND (type IN ('view', 'trigger') OR type = 'index' AND tbl_name = ? COLLATE NOCASE)
		ORDER BY rowid`, name).Rows()
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var o schemaObject
		if err := rows.Scan(&o.typ, &o.name, &o.sql); err != nil {
			rows.Close()
			return nil, err
		}
		objects = append(objects, o)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	return objects, nil
}

// dropDependents drops the triggers, then the views, among objects.
func dropDependents(exec func(string, ...any) error, objects []schemaObject) error {
	for _, typ := range []string{"trigger", "view"} {
		for _, o := range objects {
			if o.typ != typ {
				continue
			}
			if err := exec("DROP " + strings.ToUpper(typ) + " " + quoteIdent(o.name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// tempName returns the name under which the new table of table name is
// made, or an error if something already has it.
func tempName(q *gorm.DB, name string) (string, error) {
	tmp := "_gormql_new_" + name
	var taken int
	if err := q.Raw("SELECT count(*) FROM sqlite_schema WHERE name = ? COLLATE NOCASE", tmp).Row().Scan(&taken); err != nil {
		return "", err
	}
	if taken > 0 {
		return "", fmt.Errorf("the name %q it needs for the new table is taken", tmp)
	}
	return tmp, nil
}

// copyTable makes the table ddl describes as tmp, copies cols of the rows
// of table name into it, drops the old table and gives the new one its
// name.
func copyTable(exec func(string, ...any) error, name, tmp string, ddl *tableDDL, cols []string) error {
	list := strings.Join(cols, ", ")
	steps := []string{
		ddl.create(tmp),
		"INSERT INTO " + quoteIdent(tmp) + " (" + list + ") SELECT " + list + " FROM " + quoteIdent(name),
		"DROP TABLE " + quoteIdent(name),
		"ALTER TABLE " + quoteIdent(tmp) + " RENAME TO " + quoteIdent(name),
	}
	for _, s := range steps {
		if err := exec(s); err != nil {
			return err
		}
	}
	return nil
}

// remakeDependents makes objects again, indexes first, then views (each
// checked to still compile), then triggers, leaving out an index on a
// dropped column. It returns the lower-cased names of what it made.
func remakeDependents(q *gorm.DB, exec func(string, ...any) error, objects []schemaObject, dropped []string) (map[string]bool, error) {
	kept := map[string]bool{}
	for _, typ := range []string{"index", "view", "trigger"} {
		for _, o := range objects {
			if o.typ != typ {
				continue
			}
			if typ == "index" && indexMentions(o.sql, dropped) {
				continue // its column is gone, and so is the index
			}
			if err := exec(o.sql); err != nil {
				return nil, fmt.Errorf("making %s %q again: %w", o.typ, o.name, err)
			}
			if typ == "view" {
				// CREATE VIEW does not look at the columns a view reads.
				if err := compiles(q, "SELECT * FROM "+quoteIdent(o.name)+" LIMIT 0"); err != nil {
					return nil, fmt.Errorf("view %q would break: %w", o.name, err)
				}
			}
			kept[strings.ToLower(o.name)] = true
		}
	}
	return kept, nil
}

// restore carries the AUTOINCREMENT counter and the planner's statistics
// over to the rebuilt table name, the statistics only of the indexes kept
// (by name, lower case) or made again the same.
func (st *tableState) restore(q *gorm.DB, exec func(string, ...any) error, name string, ddl *tableDDL, kept map[string]bool) error {
	// SQLite makes the indexes of UNIQUE and PRIMARY KEY constraints with
	// the table; their statistics still hold if they index the same columns.
	autoAfter, err := autoIndexes(q, name)
	if err != nil {
		return err
	}
	for index, cols := range st.autoBefore {
		if autoAfter[index] == cols {
			kept[index] = true
		}
	}
	if st.hasSeq && ddl.autoIncrement() {
		err := exec(`INSERT OR REPLACE INTO sqlite_sequence (rowid, name, seq)
			SELECT (SELECT rowid FROM sqlite_sequence WHERE name = ?), ?, max(?, coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0))`,
			name, name, st.seq, name)
		if err != nil {
			return fmt.Errorf("keeping the AUTOINCREMENT counter: %w", err)
		}
	}
	for _, sr := range st.stats {
		insert := "INSERT INTO " + sr.table + " (" + strings.Join(sr.cols, ", ") + ") VALUES (?" +
			strings.Repeat(", ?", len(sr.cols)-1) + ")"
		for _, row := range sr.rows {
			if idx, ok := row[1].(string); ok && !kept[strings.ToLower(idx)] {
				continue // the index is gone
			}
			if err := exec(insert, row...); err != nil {
				return fmt.Errorf("keeping the planner's statistics: %w", err)
			}
		}
	}
	return nil
}

// compiles reports why a query does not compile, if it does not.
func compiles(q *gorm.DB, query string) error {
	rows, err := q.Raw(query).Rows()
	if err != nil {
		return err
	}
	return rows.Close()
}

// indexMentions reports whether the CREATE INDEX statement reads any of
// columns (in its column list, expressions or WHERE).
func indexMentions(createIndex string, columns []string) bool {
	toks := tokenize(createIndex)
	for i, t := range toks {
		if t.is("ON") {
			toks = toks[min(i+2, len(toks)):] // after ON table
			break
		}
	}
	for _, c := range columns {
		if mentions(toks, c) {
			return true
		}
	}
	return false
}

// sequenceOf returns the AUTOINCREMENT counter of table, if it has one.
func sequenceOf(q *gorm.DB, table string) (seq int64, ok bool, err error) {
	var n int
	if err := q.Raw("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'").Row().Scan(&n); err != nil || n == 0 {
		return 0, false, err
	}
	err = q.Raw("SELECT seq FROM sqlite_sequence WHERE name = ?", table).Row().Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return seq, err == nil, err
}

// statRows are a table's rows of one of the tables where ANALYZE leaves
// statistics for the query planner (sqlite_stat1, and sqlite_stat4 in this
// build). Dropping a table drops its statistics; a rebuild puts them back.
type statRows struct {
	table string   // sqlite_stat1 or sqlite_stat4
	cols  []string // its columns; the second is idx, the index's name
	rows  [][]any
}

// statsOf returns table's statistics.
func statsOf(q *gorm.DB, table string) ([]statRows, error) {
	var tables []string
	err := q.Raw("SELECT name FROM sqlite_schema WHERE name IN ('sqlite_stat1', 'sqlite_stat4') ORDER BY name").
		Scan(&tables).Error
	if err != nil {
		return nil, err
	}
	var stats []statRows
	for _, st := range tables {
		rows, err := q.Raw("SELECT * FROM "+st+" WHERE tbl = ?", table).Rows()
		if err != nil {
			return nil, err
		}
		sr := statRows{table: st}
		sr.cols, err = rows.Columns()
		for err == nil && rows.Next() {
			row := make([]any, len(sr.cols))
			ptrs := make([]any, len(row))
			for i := range row {
				ptrs[i] = &row[i]
			}
			if err = rows.Scan(ptrs...); err == nil {
				sr.rows = append(sr.rows, row)
			}
		}
		if err := errors.Join(err, rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
		stats = append(stats, sr)
	}
	return stats, nil
}

// autoIndexes returns the indexes SQLite made for table's UNIQUE and
// PRIMARY KEY constraints, lowercase, with the columns they index.
func autoIndexes(q *gorm.DB, table string) (map[string]string, error) {
	type autoIndex struct{ Name, Cols string }
	var list []autoIndex
	err := q.Raw(`SELECT lower(il.name) AS name, group_concat(coalesce(ii.name, ''), ',' ORDER BY ii.seqno) AS cols
		FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii
		WHERE il.origin IN ('u', 'pk') GROUP BY il.name`, table).Scan(&list).Error
	indexes := map[string]string{}
	for _, ix := range list {
		indexes[ix.Name] = ix.Cols
	}
	return indexes, err
}

// violation is a kind of foreign key violation PRAGMA foreign_key_check
// reports: rows of table without their parent row in parent.
type violation struct{ table, parent string }

// fkViolations counts the rows that break a foreign key, in table and in
// the tables that reference it.
func fkViolations(q *gorm.DB, table string) (map[violation]int, error) {
	children, err := referencingTables(q, table)
	if err != nil {
		return nil, err
	}
	counts := map[violation]int{}
	for _, t := range append([]string{table}, children...) {
		type row struct{ Table, Parent string }
		var rows []row
		err := q.Raw(`SELECT "table" AS "table", parent AS parent FROM pragma_foreign_key_check(?)`, t).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("PRAGMA foreign_key_check(%q): %w", t, err)
		}
		for _, r := range rows {
			counts[violation{r.Table, r.Parent}]++
		}
	}
	return counts, nil
}

// checkForeignKeys fails if, after a change, more rows of table or of the
// tables that reference it break a foreign key than did before.
func checkForeignKeys(q *gorm.DB, table string, before map[violation]int) error {
	after, err := fkViolations(q, table)
	if err != nil {
		return err
	}
	for v, n := range after {
		if n > before[v] {
			return fmt.Errorf("%d row(s) of %q would break a foreign key, without a parent row in %q; nothing was changed (PRAGMA foreign_key_check(%s) lists them)",
				n-before[v], v.table, v.parent, quoteString(v.table))
		}
	}
	return nil
}
