// Package lifecycle manages the life of the data in a SQLite database reached
// through [database/sql]: archival that never loses a row, retention purges,
// consistent online backups, verification, restore, corruption recovery and
// routine maintenance (WAL checkpoints, incremental vacuum, size reports).
//
// It works with any [database/sql] driver whose connections implement the
// [github.com/ncruces/go-sqlite3/driver.Conn] interface: the raw "sqlite3"
// driver of [github.com/ncruces/go-sqlite3] and the qlsqlite driver of this
// module. It depends only on [database/sql] and the SQLite dialect, never on
// the internals of the qlsqlite driver.
//
// # Archival
//
// [Archive] moves the rows of a table that match a condition into a table of
// the same definition in another database file, in primary-key order, in
// batches. It follows Percona's pt-archiver: copy first, then delete from the
// source only the rows whose identical copy is confirmed present in the
// archive. A transaction over two WAL databases is atomic per file only, so
// the copy and the delete are two separate commits, ordered so that a crash
// at any point leaves at worst a duplicate (a row in both files), never a lost
// row; running [Archive] again with the same policy removes the duplicates and
// finishes the job.
//
// # Retention
//
// [Purge] deletes the rows that match a condition in short batches, each its
// own transaction, so the write lock is never held for long.
//
// # Backup, verify, restore
//
// [Backup] takes a consistent online backup while other connections keep
// writing, writes it to a temporary file beside the destination and renames
// it into place. [Verify] runs SQLite's integrity check on a database file and
// says clearly what is wrong ([ErrNotDatabase], [ErrCorrupt]). [Restore] puts a
// verified backup in place of a database that is not in use, and
// [RecoverFromBackup] restores a corrupt database from the newest backup that
// verifies.
//
// # Encryption at rest
//
// A database opened through an encrypting VFS of
// [github.com/ncruces/go-sqlite3] (vfs=adiantum or vfs=xts) keeps every copy
// this package writes encrypted: [Backup], the archive of [Archive], the file
// [Restore] and [RecoverFromBackup] put in place, with the database's VFS
// and key unless an [Encryption] option names others; an unencrypted copy
// needs a Plaintext option ([ErrPlaintextCopy]). [VerifyWith], [RestoreWith]
// and [RecoverFromBackupWith] read encrypted files, and say "wrong or missing
// key" ([ErrWrongKey]) when they cannot. [Rekey] changes a database's key. No
// error contains a key.
//
// # Maintenance
//
// [Checkpoint] runs a TRUNCATE WAL checkpoint, [EnableIncrementalVacuum] and
// [IncrementalVacuum] return free pages to the file system a little at a time,
// and [Size] reports how big a database is and how much of it is free.
//
// # Deadlines
//
// The qlsqlite driver applies a default per-statement deadline (30 s) when the
// caller's context has none. A backup or an integrity check of a large file
// may legitimately take longer, so every function of this package that is
// given a context without a deadline derives one [LongDeadline] ahead: long
// work is bounded, but not cut short by a default meant for OLTP statements.
// Pass a context with a deadline of your own to choose another bound.
package lifecycle
