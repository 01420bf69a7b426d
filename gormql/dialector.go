package gormql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/migrator"
	"gorm.io/gorm/schema"

	"github.com/quantumleap/qlsqlite"
)

// DefaultMigrateTimeout is the deadline given to a migrator statement that
// can take long (a table rebuild, a native DROP COLUMN, CREATE INDEX) when
// its context has none. See [Config.MigrateTimeout].
const DefaultMigrateTimeout = 24 * time.Hour

// Config configures a [Dialector]. Set DSN to open a database through the
// qlsqlite driver, or Conn to use one that is already open.
type Config struct {
	// DSN is the data source name given to [qlsqlite.Open]: a file name, or
	// a "file:" URI with SQLite's, ncruces's and qlsqlite's parameters.
	DSN string

	// Options are given to [qlsqlite.Open] with DSN.
	Options []qlsqlite.Option

	// Conn, when set, is used instead of opening DSN: usually a [*sql.DB]
	// opened with [qlsqlite.Open] or sql.Open("qlsqlite", dsn). A *sql.DB
	// of ncruces's own "sqlite3" driver works as well, without qlsqlite's
	// deadlines. Closing it stays with the caller.
	Conn gorm.ConnPool

	// MigrateTimeout is the deadline for a migrator statement that rewrites
	// a table or builds an index when the caller's context has none; zero
	// means [DefaultMigrateTimeout]. It exists because qlsqlite gives every
	// statement without a deadline a short default one (30 s), which would
	// cut short (and roll back) the copy of a large table. Pass a context
	// with a deadline (db.WithContext) to choose per call.
	MigrateTimeout time.Duration
}

// Dialector is GORM's dialector for SQLite through qlsqlite. Get one with
// [Open] or [New] and pass it to [gorm.Open]. Its [Dialector.Name] is
// "sqlite", so GORM and its plugins treat it as SQLite.
type Dialector struct {
	Config
}

var (
	_ gorm.Dialector                     = &Dialector{}
	_ gorm.ErrorTranslator               = &Dialector{}
	_ gorm.SavePointerDialectorInterface = &Dialector{}
)

// Open returns a dialector that opens dsn through the qlsqlite driver
// ([qlsqlite.Open]) when [gorm.Open] initializes it:
//
//	db, err := gorm.Open(gormql.Open("file:app.db"), &gorm.Config{TranslateError: true})
func Open(dsn string) gorm.Dialector {
	return &Dialector{Config: Config{DSN: dsn}}
}

// New returns a dialector configured by cfg, for options or for a database
// that is already open:
//
//	sqlDB, err := qlsqlite.Open("file:app.db")
//	db, err := gorm.Open(gormql.New(gormql.Config{Conn: sqlDB}), &gorm.Config{})
func New(cfg Config) gorm.Dialector {
	return &Dialector{Config: cfg}
}

// Name implements [gorm.Dialector]: "sqlite".
func (d *Dialector) Name() string { return "sqlite" }

// minReturning is the first SQLite release with RETURNING.
const minReturning = "3.35.0"

// Initialize implements [gorm.Dialector]. It opens the database (unless
// Config.Conn is set), checks that it answers, and registers GORM's
// callbacks with SQLite's clauses: RETURNING for INSERT, UPDATE and DELETE
// (so generated keys and defaults are read back from the statement itself),
// ON CONFLICT for upserts, and SQLite's LIMIT/OFFSET form.
func (d *Dialector) Initialize(db *gorm.DB) error {
	opened := false
	switch {
	case d.Conn != nil:
		db.ConnPool = d.Conn
	case d.DSN == "":
		return errors.New("gormql: no database: set Config.DSN to open one, or Config.Conn to use one that is open")
	default:
		sqlDB, err := qlsqlite.Open(d.DSN, d.Options...)
		if err != nil {
			return fmt.Errorf("gormql: %w", err)
		}
		db.ConnPool, opened = sqlDB, true
	}

	var version string
	err := db.ConnPool.QueryRowContext(context.Background(), "SELECT sqlite_version()").Scan(&version)
	if err != nil {
		if opened {
			db.ConnPool.(*sql.DB).Close()
		}
		return fmt.Errorf("gormql: opening the database: %w", err)
	}

	cfg := &callbacks.Config{LastInsertIDReversed: true}
	if compareVersions(version, minReturning) >= 0 {
		cfg.CreateClauses = []string{"INSERT", "VALUES", "ON CONFLICT", "RETURNING"}
		cfg.UpdateClauses = []string{"UPDATE", "SET", "FROM", "WHERE", "RETURNING"}
		cfg.DeleteClauses = []string{"DELETE", "FROM", "WHERE", "RETURNING"}
	}
	callbacks.RegisterDefaultCallbacks(db, cfg)
	for name, build := range d.clauseBuilders() {
		db.ClauseBuilders[name] = build
	}
	return nil
}

// compareVersions compares dotted version numbers.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// clauseBuilders writes the clauses where SQLite's SQL differs from GORM's
// defaults.
func (d *Dialector) clauseBuilders() map[string]clause.ClauseBuilder {
	return map[string]clause.ClauseBuilder{
		// INSERT INTO the table's name: an aliased table expression
		// (db.Table("users u")) is not valid there.
		"INSERT": func(c clause.Clause, builder clause.Builder) {
			insert, ok := c.Expression.(clause.Insert)
			stmt, isStmt := builder.(*gorm.Statement)
			if !ok || !isStmt {
				c.Build(builder)
				return
			}
			stmt.WriteString("INSERT ")
			if insert.Modifier != "" {
				stmt.WriteString(insert.Modifier)
				stmt.WriteByte(' ')
			}
			stmt.WriteString("INTO ")
			if insert.Table.Name == "" {
				stmt.WriteQuoted(stmt.Table)
			} else {
				stmt.WriteQuoted(insert.Table)
			}
		},
		// SQLite has OFFSET only after a LIMIT: LIMIT -1 means none.
		//
		// The limit is written as a number, not bound: SQLite's planner
		// reads a bound LIMIT's value, so each new binding expires the
		// statement and SQLite prepares it again on its next step (every
		// First would be parsed and planned anew). The offset, which
		// pages through results, stays bound, so that every page runs the
		// same cached statement; the planner does not read it.
		"LIMIT": func(c clause.Clause, builder clause.Builder) {
			limit, ok := c.Expression.(clause.Limit)
			if !ok {
				c.Build(builder)
				return
			}
			hasLimit := limit.Limit != nil && *limit.Limit >= 0
			if !hasLimit && limit.Offset <= 0 {
				return
			}
			builder.WriteString("LIMIT ")
			if hasLimit {
				builder.WriteString(strconv.Itoa(*limit.Limit))
			} else {
				builder.WriteString("-1")
			}
			if limit.Offset > 0 {
				builder.WriteString(" OFFSET ")
				builder.AddVar(builder, limit.Offset)
			}
		},
		// SQLite locks the whole database, never rows: FOR UPDATE and
		// FOR SHARE have nothing to do and are left out.
		"FOR": func(c clause.Clause, builder clause.Builder) {
			if _, ok := c.Expression.(clause.Locking); ok {
				return
			}
			c.Build(builder)
		},
		// ON CONFLICT names its target by columns in SQLite; there is no
		// ON CONSTRAINT.
		"ON CONFLICT": func(c clause.Clause, builder clause.Builder) {
			if oc, ok := c.Expression.(clause.OnConflict); ok && oc.OnConstraint != "" {
				if stmt, ok := builder.(*gorm.Statement); ok {
					stmt.AddError(fmt.Errorf("gormql: SQLite has no ON CONFLICT ON CONSTRAINT %q: name the constraint's columns in clause.OnConflict.Columns", oc.OnConstraint))
					return
				}
			}
			c.Build(builder)
		},
	}
}

// Migrator implements [gorm.Dialector]. See [Migrator].
func (d *Dialector) Migrator(db *gorm.DB) gorm.Migrator {
	return Migrator{
		Migrator: migrator.Migrator{Config: migrator.Config{
			DB:                          db,
			Dialector:                   d,
			CreateIndexAfterCreateTable: true,
		}},
		dialector: d,
	}
}

// DataTypeOf implements [gorm.Dialector] with the type names
// gorm.io/driver/sqlite uses, so that a database made with it migrates
// without rewriting its tables:
//
//	bool             numeric
//	int, uint        integer; "integer PRIMARY KEY AUTOINCREMENT" for the
//	                 auto-incremented primary key (ids are never reused)
//	float            real
//	string           text (SQLite does not enforce sizes)
//	time.Time        datetime (the driver scans it back as time.Time)
//	[]byte           blob
//
// A type given with the "type" tag is used as written.
func (d *Dialector) DataTypeOf(field *schema.Field) string {
	switch field.DataType {
	case schema.Bool:
		return "numeric"
	case schema.Int, schema.Uint:
		if autoIncrementKey(field) {
			return "integer PRIMARY KEY AUTOINCREMENT"
		}
		return "integer"
	case schema.Float:
		return "real"
	case schema.String:
		return "text"
	case schema.Time:
		return "datetime"
	case schema.Bytes:
		return "blob"
	}
	return string(field.DataType)
}

// autoIncrementKey reports whether field can be SQLite's AUTOINCREMENT
// column: an auto-incremented integer that is the table's only primary key,
// or that is auto-incremented in a table without one. SQLite increments
// only the rowid, so an auto-increment field in a composite key stays a
// plain integer.
func autoIncrementKey(field *schema.Field) bool {
	if !field.AutoIncrement || field.Schema == nil {
		return false
	}
	pks := field.Schema.PrimaryFields
	if field.PrimaryKey {
		return len(pks) == 1
	}
	return len(pks) == 0
}

// DefaultValueOf implements [gorm.Dialector]. GORM asks for it in a batch
// insert where some rows set a column that has a database default and
// others do not. SQLite has no DEFAULT keyword in VALUES, so the default is
// written out: NULL for the auto-incremented key (SQLite then assigns one),
// the field's default expression otherwise (CURRENT_TIMESTAMP, (random())),
// and NULL for a default that exists only in the database ("default:(-)").
func (d *Dialector) DefaultValueOf(field *schema.Field) clause.Expression {
	if field.AutoIncrement || field.DefaultValue == "" || field.DefaultValue == "(-)" {
		return clause.Expr{SQL: "NULL"}
	}
	return clause.Expr{SQL: field.DefaultValue}
}

// BindVarTo implements [gorm.Dialector]: SQLite's "?".
func (d *Dialector) BindVarTo(writer clause.Writer, stmt *gorm.Statement, v any) {
	writer.WriteByte('?')
}

// QuoteTo implements [gorm.Dialector]. Identifiers are quoted with double
// quotes, SQLite's standard (in this build a double-quoted name is never
// mistaken for a string); "a.b" is the name b in a, and "*" stays bare.
//
// GORM calls it for every table and column name of every statement it
// builds, so it writes straight to writer and allocates nothing.
func (d *Dialector) QuoteTo(writer clause.Writer, str string) {
	for i := 0; ; i++ {
		part, rest, more := strings.Cut(str, ".")
		if i > 0 {
			writer.WriteByte('.')
		}
		if part == "*" {
			writer.WriteByte('*')
		} else {
			writer.WriteByte('"')
			for {
				before, after, quoted := strings.Cut(part, `"`)
				writer.WriteString(before)
				if !quoted {
					break
				}
				writer.WriteString(`""`)
				part = after
			}
			writer.WriteByte('"')
		}
		if !more {
			return
		}
		str = rest
	}
}

// SavePoint implements [gorm.SavePointerDialectorInterface]: GORM calls it
// for a transaction nested in another (db.Transaction inside
// db.Transaction) and for tx.SavePoint. It refuses to run outside a
// transaction, where SAVEPOINT would begin one that nothing ends.
func (d *Dialector) SavePoint(tx *gorm.DB, name string) error {
	if _, ok := tx.Statement.ConnPool.(gorm.TxCommitter); !ok {
		return fmt.Errorf("gormql: SavePoint(%q) needs a transaction: call it on the *gorm.DB that db.Begin or db.Transaction gives", name)
	}
	return tx.Session(&gorm.Session{}).Exec("SAVEPOINT " + quoteIdent(name)).Error
}

// RollbackTo implements [gorm.SavePointerDialectorInterface]: it undoes
// what the transaction did since SavePoint(name), which stays set.
func (d *Dialector) RollbackTo(tx *gorm.DB, name string) error {
	if _, ok := tx.Statement.ConnPool.(gorm.TxCommitter); !ok {
		return fmt.Errorf("gormql: RollbackTo(%q) needs a transaction", name)
	}
	return tx.Session(&gorm.Session{}).Exec("ROLLBACK TO SAVEPOINT " + quoteIdent(name)).Error
}

// migrateContext returns the context for a long migrator statement: ctx,
// or ctx with a deadline of MigrateTimeout when it has none.
func (d *Dialector) migrateContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	timeout := d.MigrateTimeout
	if timeout <= 0 {
		timeout = DefaultMigrateTimeout
	}
	return context.WithTimeout(ctx, timeout)
}
