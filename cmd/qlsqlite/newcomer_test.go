package main

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// This file tests, from the outside, what a newcomer met in the first hour
// (issue 25): exit statuses, -h, flag messages, migrate's rough edges,
// restore, and --timeout.

func TestBareCommandExitsTwoWithUsage(t *testing.T) {
	code, stdout, stderr := runCommand(t)
	if code != 2 || !strings.Contains(stderr, "usage: qlsqlite <command> [flags]") || stdout != "" {
		t.Errorf("qlsqlite: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runCommand(t, "help")
	if code != 0 || !strings.Contains(stdout, "usage: qlsqlite <command> [flags]") {
		t.Errorf("qlsqlite help: exit %d\n%s", code, stdout)
	}
	code, _, stderr = runCommand(t, "sideways")
	if code != 2 || !strings.Contains(stderr, `unknown command "sideways"`) {
		t.Errorf("qlsqlite sideways: exit %d\n%s", code, stderr)
	}
}

// TestEveryHelpIsTheSame: every command's -h prints one style of usage on
// standard output and exits 0.
func TestEveryHelpIsTheSame(t *testing.T) {
	for _, c := range commands() {
		out, err := runCLI(t, c.name, "-h")
		if err != nil || !strings.HasPrefix(out, "usage: qlsqlite "+c.name) || !strings.Contains(out, "\nflags:\n") || strings.Contains(out, "Usage of") {
			t.Errorf("%s -h: %v\n%s", c.name, err, out)
		}
	}
	code, stdout, stderr := runCommand(t, "archive", "-h")
	if code != 0 || !strings.HasPrefix(stdout, "usage: qlsqlite archive") || stderr != "" {
		t.Errorf("archive -h: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestBadFlagsAreNamed: a wrong flag exits 2 with a message naming it.
func TestBadFlagsAreNamed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"backup", "-frobnicate"}, []string{"-frobnicate", "qlsqlite backup -h lists its flags"}},
		{[]string{"demo", "--workers", "0"}, []string{"--workers 0"}},
		{[]string{"demo", "--users", "0"}, []string{"--users 0"}},
		{[]string{"demo", "--ops", "-1"}, []string{"--ops -1"}},
		{[]string{"demo", "--duration", "0s"}, []string{"--duration 0s"}},
		{[]string{"demo", "--timeout", "5s"}, []string{"-timeout", "qlsqlite demo -h"}},
		{[]string{"health", "--db", "x.db", "--timeout", "-1s"}, []string{"--timeout -1s", "0 (no limit)"}},
		{[]string{"migrate", "status", "--db", "x.db", "--dir", "embed:trading", "--timeout", "-1s"}, []string{"--timeout -1s", "0 (no limit)"}},
		{[]string{"migrate", "down", "0", "--db", "x.db"}, []string{`migrate down: "0"`, "1 or more"}},
		{[]string{"migrate", "--db", "x.db"}, []string{"no action given"}},
	} {
		code, _, stderr := runCommand(t, tc.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: the message lacks %q:\n%s", tc.args, w, stderr)
			}
		}
	}
}

// TestTimeoutZeroMeansNoLimit: --timeout 0 is "no limit" for health and
// migrate alike; a timeout too short to finish says so, not "failing".
func TestTimeoutZeroMeansNoLimit(t *testing.T) {
	db := filepath.Join(t.TempDir(), "app.db")
	if _, err := runCLI(t, "migrate", "up", "--db", db, "--dir", "embed:trading"); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCommand(t, "health", "--db", db, "--timeout", "0")
	if code != 0 || !strings.Contains(stdout, "status:      ok") {
		t.Errorf("health --timeout 0: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCommand(t, "migrate", "status", "--db", db, "--dir", "embed:trading", "--timeout", "0")
	if code != 0 || !strings.Contains(stdout, "applied") {
		t.Errorf("migrate status --timeout 0: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCommand(t, "health", "--db", db, "--timeout", "1ns")
	if code != 1 || !strings.Contains(stderr, "did not finish within --timeout 1ns") || strings.Contains(stdout, "failing") {
		t.Errorf("health --timeout 1ns: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// migrationsDir writes files into a new migrations directory.
func migrationsDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "migrations")
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestMigratePlanOfAMissingDatabase: plan and status of a database that
// does not exist yet list every migration as pending and create nothing.
func TestMigratePlanOfAMissingDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "new.db")
	out, err := runCLI(t, "migrate", "plan", "--db", db, "--dir", "embed:trading")
	if err != nil || !strings.Contains(out, "does not exist yet") || !strings.Contains(out, "would apply 1 001_initial_schema.sql") ||
		!strings.Contains(out, "would apply 2 002_add_trading_indexes.sql") {
		t.Errorf("plan: %v\n%s", err, out)
	}
	out, err = runCLI(t, "migrate", "status", "--db", db, "--dir", "embed:trading")
	if err != nil || !regexp.MustCompile(`(?m)^1\s+pending\s+001_initial_schema\.sql`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^2\s+pending\s+002_add_trading_indexes\.sql`).MatchString(out) {
		t.Errorf("status: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(filepath.Dir(db))
	if len(entries) != 0 {
		t.Errorf("plan and status created %v", entries)
	}
	if _, err := runCLI(t, "migrate", "version", "--db", db); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("version of a missing database: %v", err)
	}
}

// TestMigrateRoughEdges: an empty --dir, a statement that does not
// prepare, a rollback file added after apply, messages that name the
// command, backups kept, no lock file left.
func TestMigrateRoughEdges(t *testing.T) {
	root := t.TempDir()
	db := filepath.Join(root, "app.db")

	empty := filepath.Join(root, "empty")
	os.Mkdir(empty, 0o755)
	code, _, stderr := runCommand(t, "migrate", "up", "--db", db, "--dir", empty)
	if code != 2 || !strings.Contains(stderr, "--dir "+empty+" holds no migrations") {
		t.Errorf("an empty --dir: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an empty --dir created the database: %v", err)
	}

	bad := migrationsDir(t, map[string]string{"001_a.sql": "CREATE TABLE a (x);\nINSERT INTO missing VALUES (1);\nCREATE TABLE b (y);\nCREATE TABLE c (z);\n"})
	_, err := runCLI(t, "migrate", "up", "--db", filepath.Join(root, "bad.db"), "--dir", bad)
	if err == nil || !strings.Contains(err.Error(), "\tINSERT INTO missing VALUES (1);") || strings.Contains(err.Error(), "CREATE TABLE b") {
		t.Errorf("a statement that does not prepare: %v", err)
	}

	dir := migrationsDir(t, map[string]string{
		"001_a.sql": "CREATE TABLE a (x);\n",
		"002_b.sql": "CREATE TABLE b (x);\n",
	})
	if _, err := runCLI(t, "migrate", "up", "--db", db, "--dir", dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(db + "-migrate.lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock file is left beside the database: %v", err)
	}
	// A rollback file added after version 2 was applied: no "changed", up
	// records it, down uses it.
	os.MkdirAll(filepath.Join(dir, "rollback"), 0o755)
	os.WriteFile(filepath.Join(dir, "rollback", "002_drop_b.sql"), []byte("DROP TABLE b;\n"), 0o644)
	out, err := runCLI(t, "migrate", "status", "--db", db, "--dir", dir)
	if err != nil || !regexp.MustCompile(`(?m)^2\s+applied\s+002_b\.sql`).MatchString(out) {
		t.Errorf("status with an added rollback: %v\n%s", err, out)
	}
	out, err = runCLI(t, "migrate", "up", "--db", db, "--dir", dir)
	if err != nil || !strings.Contains(out, "recorded rollback/002_drop_b.sql, added after version 2 was applied: down uses it") {
		t.Errorf("up with an added rollback: %v\n%s", err, out)
	}

	// Messages name the command, not the Go call.
	_, err = runCLI(t, "migrate", "to", "1", "--db", db, "--dir", dir)
	if err == nil || !strings.Contains(err.Error(), "qlsqlite migrate down N") || strings.Contains(err.Error(), "use Down") {
		t.Errorf("to 1 at version 2: %v", err)
	}
	_, err = runCLI(t, "migrate", "down", "5", "--db", db)
	if err == nil || !strings.Contains(err.Error(), "cannot roll back 5 migration(s): only 2 are applied") || strings.Contains(err.Error(), "Down(") {
		t.Errorf("down 5: %v", err)
	}

	// Each down and up backs the database up; --keep-backups keeps the
	// newest.
	removed := 0
	for i := range 4 {
		action := []string{"down", "1"}
		if i%2 == 1 {
			action = []string{"up"}
		}
		out, err := runCLI(t, append(append([]string{"migrate"}, action...), "--db", db, "--dir", dir, "--keep-backups", "2")...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", action, err, out)
		}
		removed += strings.Count(out, "removed the old backup")
	}
	baks, _ := filepath.Glob(filepath.Join(root, "app.db.*.bak"))
	if len(baks) != 2 || removed != 2 {
		t.Errorf("after 4 runs with --keep-backups 2: %d backups, %d removed: %v", len(baks), removed, baks)
	}
}

// TestRestoreKeepsTheReplaced: restore keeps the target's mode (and, as
// root, its owner), keeps the replaced database beside it and says where,
// unless -keep-replaced=false.
func TestRestoreKeepsTheReplaced(t *testing.T) {
	dir := t.TempDir()
	dbPath := tradingFile(t, dir)
	backup := filepath.Join(dir, "backup.db")
	if _, err := runCLI(t, "backup", "-db", dbPath, "-to", backup, "-progress=false"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "purge", "-db", dbPath, "-table", "trades", "-where", "true", "-progress=false"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dbPath, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "restore", "-from", backup, "-to", dbPath)
	m := regexp.MustCompile(`(?m)^the database it replaced is kept as (.+\.replaced-\d{8}T\d{6}Z): remove it`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if fi, err := os.Stat(dbPath); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("restored file: %v, %v; want -rw-r--r-- as before", fi.Mode(), err)
	}
	count := func(path string) int {
		db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(path)+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM trades`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if restored, kept := count(dbPath), count(m[1]); restored != 500 || kept != 0 {
		t.Errorf("restored %d trades, kept %d; want the backup's 500 and the purged database's 0", restored, kept)
	}
	out, err = runCLI(t, "restore", "-from", backup, "-to", dbPath, "-keep-replaced=false")
	if err != nil || strings.Contains(out, "kept as") {
		t.Errorf("restore -keep-replaced=false: %v\n%s", err, out)
	}
	if kept, _ := filepath.Glob(dbPath + ".replaced-*Z"); len(kept) != 1 {
		t.Errorf("kept files: %v, want the one of the first restore", kept)
	}
}

// TestArchiveWithoutTheTimeColumn: archive on a table without the column
// -before compares says so and names the flag; purge -dry-run counts and
// deletes nothing.
func TestArchiveWithoutTheTimeColumn(t *testing.T) {
	dir := t.TempDir()
	dbPath := tradingFile(t, dir)
	code, _, stderr := runCommand(t, "archive", "--db", dbPath, "--table", "users", "--before", "3d", "--to", filepath.Join(dir, "a.db"), "--progress=false")
	if code != 1 || !strings.Contains(stderr, `no such column: "timestamp"`) || !strings.Contains(stderr, "name the time column with -column") {
		t.Errorf("archive on users: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := runCommand(t, "purge", "-db", dbPath, "-table", "trades", "-before", "2025-01-01", "-dry-run")
	if code != 0 || !strings.Contains(stdout, "dry run: 300 rows of trades match; nothing was deleted") {
		t.Errorf("purge -dry-run: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = runCommand(t, "purge", "-db", dbPath, "-table", "trades", "-before", "2025-01-01", "-dry-run")
	if code != 0 || !strings.Contains(stdout, "dry run: 300 rows") {
		t.Errorf("purge -dry-run deleted rows: %s", stdout)
	}
}
