// Package migrate applies versioned schema migrations to a SQLite database
// through [database/sql], with none of the usual failure modes of migration
// tools: no dirty versions, a lock between processes, checksums, no silently
// skipped out-of-order file, a backup before every change, and rollbacks that
// work after the file is gone.
//
// # Files
//
// Migrations are .sql files in any [io/fs.FS] ([embed.FS] first):
//
//	001_initial_schema.sql        version 1, "initial schema"
//	002_add_trading_indexes.sql   version 2
//	rollback/002_rollback.sql     rolls back version 2
//
// or, in the common layout, 003_name.up.sql and 003_name.down.sql. Migrations
// written in Go are registered with [WithGoMigrations]. Files are split into
// statements by SQLite itself, so triggers (BEGIN ... END) and strings with
// semicolons need nothing special.
//
// # Directives
//
// A line of its own in a file (migration or rollback):
//
//	-- qlsqlite:no-transaction    run the statements one by one, outside a transaction
//	                              (VACUUM, PRAGMA journal_mode, ...)
//	-- qlsqlite:foreign-keys on   keep foreign key enforcement on while it runs
//	                              (for data migrations relying on ON DELETE actions)
//
// An unknown directive is an error.
//
// # Guarantees
//
// Each migration runs in one transaction (BEGIN IMMEDIATE) with its row in
// the schema_versions table: a failure anywhere leaves schema, data and
// version exactly as before, and the [*StatementError] names the file, the
// statement, its ordinal and its line. Only a no-transaction file can fail
// half way; its version is then marked partial, nothing more runs, and the
// error gives the exact command that resolves it ([Migrator.Resolve]).
//
// Foreign key enforcement is switched off before BEGIN (PRAGMA foreign_keys is
// a no-op inside a transaction) and put back on every exit path, so the
// 12-step table rebuild of SQLite's ALTER TABLE documentation loses no row to
// ON DELETE CASCADE. Before COMMIT, PRAGMA foreign_key_check and PRAGMA
// quick_check must pass, or the migration rolls back ([ErrCheckFailed]).
// Everything runs on one dedicated connection, which goes back to the pool
// with its foreign_keys setting as it was, or is discarded.
//
// Up and Down take a lock file next to the database (app.db-migrate.lock,
// flock on Unix, LockFileEx on Windows; the kernel drops it if the process
// dies): two processes running Up at once apply each migration exactly once.
// An applied migration whose file changed stops Up ([ErrChanged],
// [AcceptChanged]); so does a pending file older than the newest applied
// version ([ErrOutOfOrder], [AllowOutOfOrder]). Before changing anything,
// Up and Down copy the database with SQLite's online backup API to a
// timestamped file ([WithBackupDir], [WithoutBackup]). The backup of a
// database encrypted at rest (vfs=adiantum or vfs=xts) is encrypted with
// the database's VFS and key, or the ones of [WithBackupEncryption]; it is
// written unencrypted only with [WithPlaintextBackup] ([ErrPlaintextBackup]).
//
// # The table
//
//	schema_versions(
//	    version INTEGER PRIMARY KEY, applied_at TEXT (RFC 3339, UTC),
//	    description TEXT, rollback_script TEXT, checksum TEXT (hex SHA-256),
//	    execution_ms INTEGER, backup TEXT, partial INTEGER, partial_note TEXT)
//
// The rollback script is stored when the migration is applied.
package migrate
