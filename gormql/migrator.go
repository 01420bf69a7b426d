package gormql

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/migrator"
	"gorm.io/gorm/schema"
)

// Migrator is GORM's migrator for SQLite. It reads the schema from
// sqlite_schema and SQLite's PRAGMAs, uses ALTER TABLE where SQLite has it
// (RENAME TO, RENAME COLUMN, ADD COLUMN, DROP COLUMN), and rebuilds the
// table where it does not (altering a column, adding or dropping a
// constraint, and the cases ADD and DROP COLUMN refuse). Rebuilds and
// DropTable run with foreign keys off, so that dropping a table never
// deletes the rows of the tables that reference it: see the package
// documentation.
//
// CreateTable, RenameTable, RenameColumn (ALTER TABLE RENAME COLUMN, which
// SQLite carries into indexes, views, triggers and other tables' foreign
// keys), DropView and AutoMigrate are GORM's own, on the methods here.
//
// Tables are those of the main database.
type Migrator struct {
	migrator.Migrator
	dialector *Dialector
}

var _ gorm.Migrator = Migrator{}

// CurrentDatabase implements [gorm.Migrator]: SQLite's name for the
// database opened, "main".
func (m Migrator) CurrentDatabase() string { return "main" }

// GetTables implements [gorm.Migrator]: the tables, without SQLite's own.
func (m Migrator) GetTables() ([]string, error) {
	var names []string
	err := m.DB.Raw(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`).
		Scan(&names).Error
	return names, err
}

// HasTable implements [gorm.Migrator]. Like SQLite, it ignores case.
func (m Migrator) HasTable(value any) bool {
	var n int
	m.RunWithValue(value, func(stmt *gorm.Statement) error {
		return m.DB.Raw("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE", stmt.Table).
			Row().Scan(&n)
	})
	return n > 0
}

// DropTable implements [gorm.Migrator]: it drops the tables, those that
// depend on others first, in one transaction, with foreign keys off. With
// them on, SQLite would delete each table's rows before dropping it, and so
// delete the rows of any other table that references it ON DELETE CASCADE,
// or fail on the first row another table still references. So rows of the
// tables left are never touched; a foreign key that referred to a dropped
// table refers to none until a table of that name exists again. In a
// transaction, foreign keys cannot be turned off: dropping a table that a
// table not being dropped references is refused there.
func (m Migrator) DropTable(values ...any) error {
	values = m.ReorderModels(values, false)
	var (
		names []string
		exprs []any
	)
	for i := len(values) - 1; i >= 0; i-- {
		if err := m.RunWithValue(values[i], func(stmt *gorm.Statement) error {
			names = append(names, stmt.Table)
			exprs = append(exprs, m.CurrentTable(stmt))
			return nil
		}); err != nil {
			return err
		}
	}
	drop := func(db *gorm.DB) error {
		for _, e := range exprs {
			if err := db.Exec("DROP TABLE IF EXISTS ?", e).Error; err != nil {
				return err
			}
		}
		return nil
	}
	if m.DB.DryRun {
		return drop(m.DB)
	}
	err := m.withoutForeignKeys(names, func(db *gorm.DB, _ bool) error { return drop(db) })
	if err != nil {
		return fmt.Errorf("gormql: dropping %s: %w", strings.Join(names, ", "), err)
	}
	return nil
}

// TableType implements [gorm.Migrator]: "table" or "view", in schema "main".
func (m Migrator) TableType(value any) (gorm.TableType, error) {
	var tt migrator.TableType
	err := m.RunWithValue(value, func(stmt *gorm.Statement) error {
		err := m.DB.Raw("SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE", stmt.Table).
			Row().Scan(&tt.NameValue, &tt.TypeValue)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("gormql: no table or view %q", stmt.Table)
		}
		return err
	})
	tt.SchemaValue = "main"
	return tt, err
}

// HasColumn implements [gorm.Migrator]. Like SQLite, it ignores case.
func (m Migrator) HasColumn(value any, field string) bool {
	found := false
	m.RunWithValue(value, func(stmt *gorm.Statement) error {
		var err error
		found, err = m.hasColumn(stmt.Table, columnName(stmt, field))
		return err
	})
	return found
}

func (m Migrator) hasColumn(table, column string) (bool, error) {
	var n int
	err := m.DB.Raw("SELECT count(*) FROM pragma_table_xinfo(?) WHERE name = ? COLLATE NOCASE", table, column).Row().Scan(&n)
	return n > 0, err
}

// columnName returns the column name of field: its DBName if it names a
// field of the model, else field itself.
func columnName(stmt *gorm.Statement, field string) string {
	if stmt.Schema != nil {
		if f := stmt.Schema.LookUpField(field); f != nil {
			return f.DBName
		}
	}
	return field
}

// lookUpField returns the model's field called name.
func lookUpField(stmt *gorm.Statement, name string) (*schema.Field, error) {
	if stmt.Schema == nil {
		return nil, fmt.Errorf("gormql: %q is a table name: pass a model to know the column's definition", stmt.Table)
	}
	f := stmt.Schema.LookUpField(name)
	if f == nil {
		return nil, fmt.Errorf("gormql: model %s has no field %q", stmt.Schema.Name, name)
	}
	return f, nil
}

// AddColumn implements [gorm.Migrator] with ALTER TABLE ADD COLUMN. Where
// SQLite refuses it (a NOT NULL column with no default, a default that is
// not a constant such as CURRENT_TIMESTAMP, a PRIMARY KEY column) the table
// is rebuilt with the column instead, and the existing rows get its
// default. A unique field is added with its UNIQUE constraint (named as
// GORM names it) in one rebuild, so that one AutoMigrate is enough.
func (m Migrator) AddColumn(value any, name string) error {
	return m.RunWithValue(value, func(stmt *gorm.Statement) error {
		f, err := lookUpField(stmt, name)
		if err != nil || f.IgnoreMigration {
			return err
		}
		def := quoteIdent(f.DBName) + " " + m.DB.Migrator().FullDataTypeOf(f).SQL
		unique := ""
		if f.Unique && !f.PrimaryKey {
			unique = m.DB.NamingStrategy.UniqueName(stmt.Table, f.DBName)
		}
		if unique == "" {
			ctx, cancel := m.dialector.migrateContext(m.DB.Statement.Context)
			defer cancel()
			err = m.DB.WithContext(ctx).Exec("ALTER TABLE ? ADD COLUMN "+def, m.CurrentTable(stmt)).Error
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), "cannot add a") {
				return err
			}
		}
		return m.rebuild(stmt.Table, "add column "+quoteIdent(f.DBName), func(d *tableDDL) error {
			if d.columnIndex(f.DBName) >= 0 {
				return fmt.Errorf("column %q exists", f.DBName)
			}
			d.addColumn(tableItem{sql: def, column: f.DBName})
			if unique != "" {
				d.setConstraint(unique, "CONSTRAINT "+quoteIdent(unique)+" UNIQUE ("+quoteIdent(f.DBName)+")")
			}
			return nil
		})
	})
}

// DropColumn implements [gorm.Migrator] with ALTER TABLE DROP COLUMN.
// Where SQLite refuses it because the column has a UNIQUE constraint, a
// foreign key, a CHECK or an index, the table is rebuilt without the column
// and without the constraints and indexes on it. A primary key column is
// not dropped, nor one that a view reads (the view would break).
func (m Migrator) DropColumn(value any, name string) error {
	return m.RunWithValue(value, func(stmt *gorm.Statement) error {
		column := columnName(stmt, name)
		found, err := m.hasColumn(stmt.Table, column)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("gormql: table %q has no column %q", stmt.Table, column)
		}
		ctx, cancel := m.dialector.migrateContext(m.DB.Statement.Context)
		defer cancel()
		err = m.DB.WithContext(ctx).Exec("ALTER TABLE ? DROP COLUMN ?", m.CurrentTable(stmt), clause.Column{Name: column}).Error
		if err == nil || !errors.Is(err, sqlite3.ERROR) {
			return err
		}
		return m.rebuild(stmt.Table, "drop column "+quoteIdent(column), func(d *tableDDL) error {
			return d.dropColumn(column)
		})
	})
}

// AlterColumn implements [gorm.Migrator]. SQLite cannot alter a column, so
// the table is rebuilt with the column defined as the model says (type,
// NOT NULL, DEFAULT); its other constraints (UNIQUE, CHECK, COLLATE,
// REFERENCES) are kept, and so are the rows, converted by SQLite's type
// affinity. Rows that break the new definition (a NULL in a column made
// NOT NULL) make it fail, with nothing changed. When the table's CREATE
// TABLE comes out as it is, nothing is done: no rebuild, no write.
func (m Migrator) AlterColumn(value any, field string) error {
	return m.RunWithValue(value, func(stmt *gorm.Statement) error {
		f, err := lookUpField(stmt, field)
		if err != nil {
			return err
		}
		full := m.DB.Migrator().FullDataTypeOf(f).SQL
		return m.rebuild(stmt.Table, "alter column "+quoteIdent(f.DBName), func(d *tableDDL) error {
			i := d.columnIndex(f.DBName)
			if i < 0 {
				return fmt.Errorf("no column %q", f.DBName)
			}
			d.items[i] = tableItem{sql: retype(d.items[i].sql, f.DBName, full), column: f.DBName}
			if mentions(tokenize(full), "PRIMARY") {
				// The column now says PRIMARY KEY itself.
				for j, it := range d.items {
					if it.column == "" && it.kind == "PRIMARY" && uniqueOver(it, f.DBName) {
						d.items = append(d.items[:j], d.items[j+1:]...)
						break
					}
				}
			}
			return nil
		})
	})
}

// CreateView implements [gorm.Migrator]. SQLite has no CREATE OR REPLACE
// VIEW: with Replace, the old view is dropped and the new one made in one
// transaction. SQLite has no WITH CHECK OPTION either, so CheckOption is
// an error. The query's values are written into the view as the SQLite
// literals of what the driver would bind (a time as RFC 3339 text, as rows
// hold it), not as [Dialector.Explain] writes them for people.
func (m Migrator) CreateView(name string, option gorm.ViewOption) error {
	if option.Query == nil {
		return gorm.ErrSubQueryRequired
	}
	if option.CheckOption != "" {
		return fmt.Errorf("gormql: view %q: SQLite views have no %s (use a trigger to check writes)", name, option.CheckOption)
	}
	stmt := &gorm.Statement{DB: m.DB, Context: m.DB.Statement.Context, Clauses: map[string]clause.Clause{}}
	var query strings.Builder
	stmt.AddVar(&query, option.Query)
	if stmt.Error != nil {
		return stmt.Error
	}
	create := "CREATE VIEW " + quoteIdent(name) + " AS " + inlineSQL(query.String(), stmt.Vars...)
	if !option.Replace {
		return m.DB.Exec(create).Error
	}
	return m.DB.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("DROP VIEW IF EXISTS " + quoteIdent(name)).Error; err != nil {
			return err
		}
		return tx.Exec(create).Error
	})
}

// tableSQL returns the stored name and CREATE TABLE statement of table.
func (m Migrator) tableSQL(table string) (name, createSQL string, err error) {
	err = m.DB.Raw("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE", table).
		Row().Scan(&name, &createSQL)
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("gormql: no table %q", table)
	}
	return name, createSQL, err
}

// HasConstraint implements [gorm.Migrator]: whether the table (for a
// relation's foreign key, the table that holds it) has a constraint of the
// name, on the table or on a column.
func (m Migrator) HasConstraint(value any, name string) bool {
	found := false
	m.RunWithValue(value, func(stmt *gorm.Statement) error {
		constraint, table := m.GuessConstraintInterfaceAndTable(stmt, name)
		if constraint != nil {
			name = constraint.GetName()
		}
		_, createSQL, err := m.tableSQL(table)
		if err != nil {
			return err
		}
		ddl, err := parseCreateTable(createSQL)
		if err != nil {
			return err
		}
		found = ddl.hasConstraint(name)
		return nil
	})
	return found
}

// CreateConstraint implements [gorm.Migrator] for the model's constraints
// by name: a relation's foreign key, a CHECK, a UNIQUE. SQLite cannot add a
// constraint to a table, so the table is rebuilt with it; existing rows
// that break it make it fail, with nothing changed.
func (m Migrator) CreateConstraint(value any, name string) error {
	return m.RunWithValue(value, func(stmt *gorm.Statement) error {
		constraint, table := m.GuessConstraintInterfaceAndTable(stmt, name)
		if constraint == nil {
			return fmt.Errorf("gormql: %s defines no constraint %q (a relation's foreign key, a check or a unique field)", stmt.Table, name)
		}
		text, vars := constraint.Build()
		def := m.render(text, vars...)
		return m.rebuild(table, "add constraint "+quoteIdent(constraint.GetName()), func(d *tableDDL) error {
			d.setConstraint(constraint.GetName(), def)
			return nil
		})
	})
}

// DropConstraint implements [gorm.Migrator] by rebuilding the table
// without the constraint. Asked to drop the unique constraint GORM names
// for a field that is no longer unique, it also removes a UNIQUE written on
// the column itself (as older GORM SQLite drivers did).
func (m Migrator) DropConstraint(value any, name string) error {
	return m.RunWithValue(value, func(stmt *gorm.Statement) error {
		constraint, table := m.GuessConstraintInterfaceAndTable(stmt, name)
		if constraint != nil {
			name = constraint.GetName()
		}
		uniqueColumn := ""
		if unique, ok := constraint.(*schema.UniqueConstraint); ok {
			uniqueColumn = unique.Field.DBName
		} else if constraint == nil && stmt.Schema != nil {
			// MigrateColumnUnique asks for the unique constraint of a field
			// that is no longer unique, by the name GORM gives it.
			for _, f := range stmt.Schema.Fields {
				if f.DBName != "" && strings.EqualFold(m.DB.NamingStrategy.UniqueName(table, f.DBName), name) {
					uniqueColumn = f.DBName
				}
			}
		}
		return m.rebuild(table, "drop constraint "+quoteIdent(name), func(d *tableDDL) error {
			if d.dropConstraint(name) {
				return nil
			}
			if uniqueColumn != "" && d.dropUnique(uniqueColumn) {
				return nil
			}
			return fmt.Errorf("no constraint %q", name)
		})
	})
}

// render builds SQL from GORM clause values (names, column lists) as text,
// with values as the driver binds them.
func (m Migrator) render(text string, vars ...any) string {
	stmt := &gorm.Statement{DB: m.DB, Context: m.DB.Statement.Context, Clauses: map[string]clause.Clause{}}
	clause.Expr{SQL: text, Vars: vars}.Build(stmt)
	return inlineSQL(stmt.SQL.String(), stmt.Vars...)
}

// BuildIndexOptions implements GORM's index option builder: a column, or
// an expression, with its COLLATE and ASC or DESC. SQLite has no index
// prefix lengths; a length is ignored.
func (m Migrator) BuildIndexOptions(opts []schema.IndexOption, stmt *gorm.Statement) []any {
	results := make([]any, 0, len(opts))
	for _, opt := range opts {
		str := stmt.Quote(opt.DBName)
		if opt.Expression != "" {
			str = opt.Expression
		}
		if opt.Collate != "" {
			str += " COLLATE " + opt.Collate
		}
		if opt.Sort != "" {
			str += " " + opt.Sort
		}
		results = append(results, clause.Expr{SQL: str})
	}
	return results
}

// CreateIndex implements [gorm.Migrator]: CREATE [UNIQUE] INDEX, partial
// when the index tag has a "where". SQLite has one kind of index: a type
// ("btree", "hash") and a comment are ignored, and a class other than
// UNIQUE (FULLTEXT, SPATIAL) is an error.
func (m Migrator) CreateIndex(value any, name string) error {
	return m.RunWithValue(value, func(stmt *gorm.Statement) error {
		if stmt.Schema == nil {
			return fmt.Errorf("gormql: CreateIndex(%q) needs a model", name)
		}
		idx := stmt.Schema.LookIndex(name)
		if idx == nil {
			return fmt.Errorf("gormql: model %s defines no index %q", stmt.Schema.Name, name)
		}
		create := "CREATE INDEX ? ON ??"
		switch strings.ToUpper(idx.Class) {
		case "":
		case "UNIQUE":
			create = "CREATE UNIQUE INDEX ? ON ??"
		default:
			return fmt.Errorf("gormql: index %q: SQLite has no %s indexes (for full-text search, use an FTS5 virtual table)", idx.Name, idx.Class)
		}
		if idx.Where != "" {
			create += " WHERE " + idx.Where
		}
		ctx, cancel := m.dialector.migrateContext(m.DB.Statement.Context)
		defer cancel()
		opts := m.BuildIndexOptions(idx.Fields, stmt)
		return m.DB.WithContext(ctx).Exec(create, clause.Column{Name: idx.Name}, m.CurrentTable(stmt), opts).Error
	})
}

// DropIndex implements [gorm.Migrator].
func (m Migrator) DropIndex(value any, name string) error {
	return m.RunWithValue(value, func(stmt *gorm.Statement) error {
		if stmt.Schema != nil {
			if idx := stmt.Schema.LookIndex(name); idx != nil {
				name = idx.Name
			}
		}
		return m.DB.Exec("DROP INDEX ?", clause.Column{Name: name}).Error
	})
}

// HasIndex implements [gorm.Migrator]: whether the table has an index of
// that name (or of the name of the model's index called that).
func (m Migrator) HasIndex(value any, name string) bool {
	var n int
	m.RunWithValue(value, func(stmt *gorm.Statement) error {
		if stmt.Schema != nil {
			if idx := stmt.Schema.LookIndex(name); idx != nil {
				name = idx.Name
			}
		}
		return m.DB.Raw("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? COLLATE NOCASE AND name = ? COLLATE NOCASE",
			stmt.Table, name).Row().Scan(&n)
	})
	return n > 0
}

// RenameIndex implements [gorm.Migrator]. SQLite cannot rename an index:
// it is made again under the new name, from its own CREATE INDEX, and the
// old one dropped, in one transaction.
func (m Migrator) RenameIndex(value any, oldName, newName string) error {
	return m.RunWithValue(value, func(stmt *gorm.Statement) error {
		var create sql.NullString
		err := m.DB.Raw("SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? COLLATE NOCASE AND name = ? COLLATE NOCASE",
			stmt.Table, oldName).Row().Scan(&create)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("gormql: table %q has no index %q", stmt.Table, oldName)
		}
		if err != nil {
			return err
		}
		if !create.Valid {
			return fmt.Errorf("gormql: index %q is SQLite's own, for a UNIQUE or PRIMARY KEY constraint, and has no name of its own to change", oldName)
		}
		renamed, err := renameIndexSQL(create.String, newName)
		if err != nil {
			return err
		}
		ctx, cancel := m.dialector.migrateContext(m.DB.Statement.Context)
		defer cancel()
		return m.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("DROP INDEX ?", clause.Column{Name: oldName}).Error; err != nil {
				return err
			}
			return tx.Exec(renamed).Error
		})
	})
}

// renameIndexSQL returns a CREATE INDEX statement with the index's name
// changed.
func renameIndexSQL(create, newName string) (string, error) {
	toks := tokenize(create)
	for i, t := range toks {
		if !t.is("INDEX") {
			continue
		}
		j := i + 1
		if j+2 < len(toks) && toks[j].is("IF") && toks[j+1].is("NOT") && toks[j+2].is("EXISTS") {
			j += 3
		}
		if j+2 < len(toks) && toks[j+1].isPunct('.') { // schema.name
			j += 2
		}
		if j < len(toks) && toks[j].isName() {
			return create[:toks[j].start] + quoteIdent(newName) + create[toks[j].end:], nil
		}
		break
	}
	return "", fmt.Errorf("gormql: cannot find the index name in %q", create)
}

// GetIndexes implements [gorm.Migrator] with PRAGMA index_list and
// index_info: the indexes made by CREATE INDEX and for a PRIMARY KEY. The
// indexes SQLite makes for UNIQUE constraints are left out: they are
// constraints (see HasConstraint and ColumnTypes' Unique).
func (m Migrator) GetIndexes(value any) ([]gorm.Index, error) {
	var indexes []gorm.Index
	err := m.RunWithValue(value, func(stmt *gorm.Statement) error {
		type indexRow struct {
			Name   string
			Unique bool
			Origin string
		}
		var list []indexRow
		err := m.DB.Raw(`SELECT name AS name, "unique" AS "unique", origin AS origin FROM pragma_index_list(?) WHERE origin <> 'u' ORDER BY seq DESC`, stmt.Table).
			Scan(&list).Error
		if err != nil {
			return err
		}
		for _, ix := range list {
			var cols []string
			err := m.DB.Raw("SELECT coalesce(name, '') FROM pragma_index_info(?) ORDER BY seqno", ix.Name).Scan(&cols).Error
			if err != nil {
				return err
			}
			indexes = append(indexes, &migrator.Index{
				TableName:       stmt.Table,
				NameValue:       ix.Name,
				ColumnList:      cols,
				PrimaryKeyValue: sql.NullBool{Bool: ix.Origin == "pk", Valid: true},
				UniqueValue:     sql.NullBool{Bool: ix.Unique, Valid: true},
			})
		}
		return nil
	})
	return indexes, err
}
