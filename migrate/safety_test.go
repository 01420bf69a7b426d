package migrate

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
)

const parentChild = `CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE trades (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    qty REAL NOT NULL
);
INSERT INTO users (id, name) VALUES (1, 'ada'), (2, 'bob'), (3, 'cy');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO trades (user_id, qty) SELECT 1 + i % 3, i FROM n;
`

// SQLite's 12-step rebuild of a parent table: drop and rename.
const rebuildUsers = `-- Rebuild users to add a column with a CHECK (ALTER TABLE cannot).
CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT CHECK (email LIKE '%@%'));
INSERT INTO users_new (id, name) SELECT id, name FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
`

// Rebuilding a table referenced by foreign keys with ON DELETE CASCADE loses
// no child row, and the connection goes back with foreign keys on.
func TestRebuildKeepsCascadingChildren(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_base.sql":          parentChild,
		"002_rebuild_users.sql": rebuildUsers,
	})
	db.SetMaxOpenConns(1) // the migrator's connection is the one we check after
	if n := queryInt(t, db, "PRAGMA foreign_keys"); n != 1 {
		t.Fatal("this build should have foreign keys on by default")
	}
	m := newMigrator(t, db, dir, WithoutBackup())
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM trades"); n != 300 {
		t.Fatalf("%d trades after the rebuild, want 300", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM pragma_table_info('users') WHERE name = 'email'"); n != 1 {
		t.Fatal("users was not rebuilt")
	}
	if n := queryInt(t, db, "PRAGMA foreign_keys"); n != 1 {
		t.Fatal("foreign_keys left off")
	}
	// Enforcement is back: the cascade still works on the new table.
	if _, err := db.Exec("DELETE FROM users WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM trades"); n != 200 {
		t.Fatalf("%d trades after deleting a user, want 200", n)
	}
}

// The trap the default avoids: with enforcement kept on (the directive),
// DROP TABLE deletes the children through ON DELETE CASCADE.
func TestForeignKeysOnDirectiveCascades(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_base.sql":          parentChild,
		"002_rebuild_users.sql": "-- qlsqlite:foreign-keys on\n" + rebuildUsers,
	})
	if err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM trades"); n != 0 {
		t.Fatalf("%d trades: with foreign keys on, DROP TABLE users should cascade", n)
	}
}

// A migration that leaves a dangling reference fails foreign_key_check and
// rolls back; the foreign keys setting is restored on that path too.
func TestForeignKeyCheckRollsBack(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_base.sql": parentChild,
		"002_lossy_rebuild.sql": `CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO users_new SELECT id, name FROM users WHERE id <> 2;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
`,
	})
	db.SetMaxOpenConns(1)
	m := newMigrator(t, db, dir, WithoutBackup())
	if err := m.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	before := schema(t, db)
	err := m.Up(ctx)
	if !errors.Is(err, ErrCheckFailed) || !strings.Contains(err.Error(), "002_lossy_rebuild.sql") ||
		!strings.Contains(err.Error(), "100 foreign key violation") || !strings.Contains(err.Error(), "no parent in users") {
		t.Fatalf("Up = %v, want ErrCheckFailed with 100 violations", err)
	}
	if schema(t, db) != before || queryInt(t, db, "SELECT count(*) FROM users") != 3 || version(t, m) != 1 {
		t.Fatal("the failed migration was not rolled back")
	}
	if n := queryInt(t, db, "PRAGMA foreign_keys"); n != 1 {
		t.Fatal("foreign_keys left off after a failed check")
	}
}

// PRAGMA quick_check failing (here: a row breaking a CHECK constraint,
// smuggled in with ignore_check_constraints) rolls the migration back.
func TestQuickCheckRollsBack(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql": "CREATE TABLE a (x INTEGER CHECK (x > 0));\n",
		"002_bad.sql": `PRAGMA ignore_check_constraints = ON;
INSERT INTO a VALUES (-1);
PRAGMA ignore_check_constraints = OFF;
`,
	})
	m := newMigrator(t, db, dir, WithoutBackup())
	err := m.Up(ctx)
	if !errors.Is(err, ErrCheckFailed) || !strings.Contains(err.Error(), "quick_check") || !strings.Contains(err.Error(), "002_bad.sql") {
		t.Fatalf("Up = %v, want ErrCheckFailed from quick_check", err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM a"); n != 0 || version(t, m) != 1 {
		t.Fatal("not rolled back")
	}
}

// A statement that cannot run in a transaction gets a hint; with the
// no-transaction directive it runs.
func TestNoTransactionDirective(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql":      "CREATE TABLE a (x);\n",
		"002_vacuum.sql": "VACUUM;\n",
	})
	m := newMigrator(t, db, dir, WithoutBackup())
	err := m.Up(ctx)
	var se *StatementError
	if !errors.As(err, &se) || se.File != "002_vacuum.sql" || !strings.Contains(err.Error(), "-- qlsqlite:no-transaction") {
		t.Fatalf("Up = %v, want a hint about the directive", err)
	}
	writeFiles(t, dir, map[string]string{"002_vacuum.sql": "-- qlsqlite:no-transaction\nVACUUM;\nPRAGMA journal_mode = WAL;\n"})
	m = newMigrator(t, db, dir, WithoutBackup())
	if ms := m.Migrations(); !ms[1].NoTransaction {
		t.Fatal("directive not read")
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	st := status(t, m)
	if st[1].State != StateApplied {
		t.Fatalf("status = %+v", st[1])
	}
}

// A no-transaction migration failing after some statements ran is marked
// partial: Up refuses to go on and prints the recovery command, which works.
func TestNoTransactionFailureIsMarkedPartial(t *testing.T) {
	db, dbPath, dir := setup(t, map[string]string{
		"001_a.sql": "CREATE TABLE a (x);\n",
		"002_two_steps.sql": `-- qlsqlite:no-transaction
CREATE TABLE b (x);
INSERT INTO nope VALUES (1);
`,
		"003_c.sql": "CREATE TABLE c (x);\n",
	})
	m := newMigrator(t, db, dir, WithoutBackup())
	err := m.Up(ctx)
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("Up = %v, want ErrPartial", err)
	}
	var se *StatementError
	if !errors.As(err, &se) || se.Ordinal != 2 || se.File != "002_two_steps.sql" {
		t.Fatalf("Up = %v, want the failing statement", err)
	}
	cmd := "qlsqlite migrate resolve 2 pending --db " + dbPath
	if !strings.Contains(err.Error(), cmd) || !strings.Contains(err.Error(), "1 statement(s) of 002_two_steps.sql had run") {
		t.Fatalf("Up = %v, want the recovery command %q", err, cmd)
	}
	if !tableExists(t, db, "b") || tableExists(t, db, "c") {
		t.Fatal("want b (ran, not undone) and no c")
	}
	// Nothing more runs until resolved, and everyone says why.
	if err := m.Up(ctx); !errors.Is(err, ErrPartial) || !strings.Contains(err.Error(), cmd) {
		t.Fatalf("second Up = %v", err)
	}
	if err := m.Down(ctx, 1); !errors.Is(err, ErrPartial) {
		t.Fatalf("Down = %v", err)
	}
	if v, err := m.Version(ctx); v != 1 || !errors.Is(err, ErrPartial) {
		t.Fatalf("Version = %d, %v", v, err)
	}
	st := status(t, m)
	if st[1].State != StatePartial || !strings.Contains(st[1].Note, "no such table: nope") {
		t.Fatalf("status = %+v", st[1])
	}
	if err := m.Resolve(ctx, 1, false); err == nil || !strings.Contains(err.Error(), "not marked partial") {
		t.Fatalf("Resolve(1) = %v", err)
	}
	// Repair by hand, fix the file, resolve as pending, go on.
	if _, err := db.Exec("DROP TABLE b"); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"002_two_steps.sql": "-- qlsqlite:no-transaction\nCREATE TABLE b (x);\nINSERT INTO b VALUES (1);\n"})
	m = newMigrator(t, db, dir, WithoutBackup())
	if err := m.Resolve(ctx, 2, false); err != nil {
		t.Fatal(err)
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if version(t, m) != 3 || queryInt(t, db, "SELECT count(*) FROM b") != 1 {
		t.Fatal("did not go on after Resolve")
	}
}

// Resolve(version, true) records a repaired migration as applied.
func TestResolveApplied(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql": "-- qlsqlite:no-transaction\nCREATE TABLE a (x);\nCREATE TABLE a (y);\n",
	})
	m := newMigrator(t, db, dir, WithoutBackup())
	if err := m.Up(ctx); !errors.Is(err, ErrPartial) {
		t.Fatalf("Up = %v", err)
	}
	if err := m.Resolve(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	if v := version(t, m); v != 1 {
		t.Fatalf("version = %d", v)
	}
}

// A no-transaction migration whose first statement fails changed nothing:
// it is not marked partial.
func TestNoTransactionFirstStatementFailureIsClean(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql": "-- qlsqlite:no-transaction\nINSERT INTO nope VALUES (1);\n",
	})
	m := newMigrator(t, db, dir, WithoutBackup())
	err := m.Up(ctx)
	if err == nil || errors.Is(err, ErrPartial) || !strings.Contains(err.Error(), "database is as before") {
		t.Fatalf("Up = %v", err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM schema_versions"); n != 0 {
		t.Fatal("a row was left behind")
	}
}

// Before changing anything, Up and Down back the database up to a
// timestamped file; Status says where.
func TestBackup(t *testing.T) {
	db, dbPath, dir := setup(t, map[string]string{
		"001_a.sql":          "CREATE TABLE a (x);\nINSERT INTO a VALUES (1);\n",
		"002_b.sql":          "INSERT INTO a VALUES (2);\n",
		"rollback/002_b.sql": "DELETE FROM a WHERE x = 2;\n",
	})
	backups := filepath.Join(t.TempDir(), "backups")
	var events []Event
	m := newMigrator(t, db, dir, WithBackupDir(backups), WithNotify(func(e Event) { events = append(events, e) }))
	if err := m.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if m.LastBackup() != "" || events[0].Kind != EventApplied {
		t.Fatalf("backed up a new, empty database: %q", m.LastBackup())
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	last := m.LastBackup()
	if filepath.Dir(last) != backups || !strings.HasPrefix(filepath.Base(last), "app.db.") || !strings.HasSuffix(last, ".v1.bak") {
		t.Fatalf("backup path %q", last)
	}
	if len(events) != 3 || events[1].Kind != EventBackup || events[1].Path != last {
		t.Fatalf("events = %+v", events)
	}
	// The backup holds the database as it was before the run: version 1.
	bdb := openDB(t, last)
	if n := queryInt(t, bdb, "SELECT count(*) FROM a"); n != 1 {
		t.Fatalf("backup has %d rows, want 1", n)
	}
	if n := queryInt(t, bdb, "SELECT max(version) FROM schema_versions"); n != 1 {
		t.Fatalf("backup at version %d, want 1", n)
	}
	st := status(t, m)
	if st[1].Backup != last || st[0].Backup != "" {
		t.Fatalf("status backups %q %q", st[0].Backup, st[1].Backup)
	}
	// Nothing to do: no backup.
	n := len(events)
	if err := m.Up(ctx); err != nil || len(events) != n {
		t.Fatalf("Up with nothing pending: %v, events %+v", err, events[n:])
	}
	// Down backs up too.
	if err := m.Down(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if m.LastBackup() == last || !strings.HasSuffix(m.LastBackup(), ".v2.bak") {
		t.Fatalf("Down's backup %q", m.LastBackup())
	}
	// By default, next to the database; WithoutBackup, none.
	if err := newMigrator(t, db, dir).Up(ctx); err != nil {
		t.Fatal(err)
	}
	next, _ := filepath.Glob(dbPath + ".*.v1.bak")
	if len(next) != 1 {
		t.Fatalf("default backup: %v", next)
	}
	if err := newMigrator(t, db, dir, WithoutBackup()).Down(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if all, _ := filepath.Glob(filepath.Join(filepath.Dir(dbPath), "*.bak")); len(all) != 1 {
		t.Fatalf("WithoutBackup made a backup: %v", all)
	}
}

// An in-memory database works; it takes no backup without a directory.
func TestInMemory(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"001_a.sql": "CREATE TABLE a (x);\n"})
	m := newMigrator(t, db, dir)
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if m.LastBackup() != "" || version(t, m) != 1 {
		t.Fatalf("backup %q", m.LastBackup())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("files appeared: %v", entries)
	}
}

// A script that switches foreign keys itself (possible outside a
// transaction) cannot leave the pooled connection with them off: on an
// in-memory database the setting is restored, on a file the connection is
// replaced.
func TestScriptCannotLeakForeignKeysOff(t *testing.T) {
	files := map[string]string{
		"001_a.sql": "-- qlsqlite:no-transaction\n-- qlsqlite:foreign-keys on\nCREATE TABLE a (x);\nPRAGMA foreign_keys = OFF;\n",
	}
	mem, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	mem.SetMaxOpenConns(1)
	db, _, dir := setup(t, files)
	db.SetMaxOpenConns(1)
	for name, db := range map[string]*sql.DB{"memory": mem, "file": db} {
		if err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx); err != nil {
			t.Fatal(name, err)
		}
		if !tableExists(t, db, "a") {
			t.Fatal(name, "not migrated")
		}
		if n := queryInt(t, db, "PRAGMA foreign_keys"); n != 1 {
			t.Fatalf("%s: foreign_keys left off", name)
		}
	}
}

// The context bounds a run: a statement that would never end is
// interrupted, errors.Is reports the deadline, and nothing is applied.
func TestContextInterruptsStatement(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql": "CREATE TABLE a (x);\n",
		"002_forever.sql": `CREATE TABLE b (x);
INSERT INTO b WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n WHERE i < 0;
`,
	})
	m := newMigrator(t, db, dir, WithoutBackup())
	if err := m.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := m.Up(short)
	var se *StatementError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &se) || se.Ordinal != 2 || se.File != "002_forever.sql" {
		t.Fatalf("Up = %v, want DeadlineExceeded at 002_forever.sql statement 2", err)
	}
	if !errors.Is(err, sqlite3.INTERRUPT) {
		t.Fatalf("the SQLite error is not in the chain: %v", err)
	}
	if tableExists(t, db, "b") || version(t, m) != 1 {
		t.Fatal("the interrupted migration was not rolled back")
	}
}
