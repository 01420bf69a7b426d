// Package gormql is a [GORM] dialector for SQLite through the qlsqlite
// driver ([github.com/quantumleap/qlsqlite]), so that a GORM program gets
// qlsqlite's deadlines and statement cache, on ncruces's pure-Go SQLite,
// with no cgo and no second SQLite engine linked in:
//
//	db, err := gorm.Open(gormql.Open("file:app.db"), &gorm.Config{TranslateError: true})
//
// or, for a database that is already open (and qlsqlite's options):
//
//	sqlDB, err := qlsqlite.Open("file:app.db", qlsqlite.WithTimeout(5*time.Second))
//	db, err := gorm.Open(gormql.New(gormql.Config{Conn: sqlDB}), &gorm.Config{})
//
// The dialector's name is "sqlite": GORM and its plugins treat it as SQLite.
// Every statement GORM runs goes through the qlsqlite driver, so qlsqlite's
// policies apply to it, and GORM's logger sees it as usual.
//
// # SQL
//
// Identifiers are quoted with double quotes and values bound with "?".
// INSERT, UPDATE and DELETE take a RETURNING clause (SQLite 3.35 and
// later), which GORM uses to read generated keys and defaults back from the
// statement that made them; upserts are ON CONFLICT (columns) DO UPDATE or
// DO NOTHING; nested transactions are savepoints. SQLite has no row locks:
// clause.Locking (FOR UPDATE) is left out of the SQL, and a transaction that
// reads before it writes should be begun IMMEDIATE (the "_txlock=immediate"
// DSN parameter) to hold the database's write lock from the start.
//
// # Errors
//
// With [gorm.Config] TranslateError set, SQLite's constraint errors become
// [gorm.ErrDuplicatedKey], [gorm.ErrForeignKeyViolated] and
// [gorm.ErrCheckConstraintViolated], still wrapping SQLite's own error (see
// [Dialector.Translate]).
//
// # Migrations
//
// The [Migrator] uses SQLite's ALTER TABLE where it can and otherwise
// rebuilds the table as SQLite documents ([Making Other Kinds Of Table
// Schema Changes]): a new table is made, the rows copied into it, the old
// table dropped and the new one renamed; indexes, triggers, views, the
// AUTOINCREMENT counter and the planner's statistics are carried over.
// Dropping the old table with foreign keys on would first delete its rows,
// firing ON DELETE CASCADE in the tables that reference it and losing their
// rows. So a rebuild takes a connection of its own, turns foreign keys off
// before BEGIN (SQLite ignores the PRAGMA inside a transaction), checks the
// result with PRAGMA foreign_key_check before COMMIT, and turns foreign keys
// back on whatever happens; a connection on which that fails is closed
// rather than returned to the pool. Rows that broke a foreign key before
// the change do not stop it; rows it would break do. Inside a transaction
// the rebuild runs in a savepoint, and refuses if other tables reference
// the table, because there foreign keys cannot be turned off.
//
// [Migrator.DropTable] runs the same way: with foreign keys on, SQLite
// deletes a table's rows before dropping it, and with them the rows that
// reference them ON DELETE CASCADE.
//
// A rebuild, a DROP COLUMN and a CREATE INDEX can take long on a large
// table: when the context has no deadline they get [Config.MigrateTimeout]
// instead of qlsqlite's short per-statement default.
//
// [GORM]: https://gorm.io
// [Making Other Kinds Of Table Schema Changes]: https://sqlite.org/lang_altertable.html#otheralter
package gormql
