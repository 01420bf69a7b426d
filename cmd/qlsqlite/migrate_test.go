package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestMigrateCLITrading(t *testing.T) {
	db := filepath.Join(t.TempDir(), "trading.db")
	out, err := runCLI(t, "migrate", "up", "--db", db, "--dir", "embed:trading")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"applied 001_initial_schema.sql (initial schema)", "applied 002_add_trading_indexes.sql (add trading indexes)", "version 2\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("up output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCLI(t, "migrate", "status", "--db", db, "--dir", "embed:trading")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^1\s+applied\s+001_initial_schema\.sql`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^2\s+applied\s+002_add_trading_indexes\.sql`).MatchString(out) {
		t.Fatalf("status:\n%s", out)
	}
	// Flags before the action work too; down needs no --dir (stored rollbacks).
	out, err = runCLI(t, "migrate", "--db", db, "down", "1")
	if err != nil {
		t.Fatal(err)
	}
	backup := regexp.MustCompile(`backup: (\S+\.v2\.bak)`).FindStringSubmatch(out)
	if backup == nil || !strings.Contains(out, "reverted version 2 (add trading indexes)") || !strings.HasSuffix(out, "version 1\n") {
		t.Fatalf("down output:\n%s", out)
	}
	if _, err := os.Stat(backup[1]); err != nil {
		t.Fatalf("backup file: %v", err)
	}
	out, err = runCLI(t, "migrate", "plan", "--db", db, "--dir", "embed:trading")
	if err != nil || out != "would apply 2 002_add_trading_indexes.sql\n" {
		t.Fatalf("plan: %v\n%q", err, out)
	}
	out, err = runCLI(t, "migrate", "to", "2", "--db", db, "--dir", "embed:trading", "--no-backup")
	if err != nil || strings.Contains(out, "backup:") || !strings.HasSuffix(out, "version 2\n") {
		t.Fatalf("to 2: %v\n%s", err, out)
	}
	out, err = runCLI(t, "migrate", "version", "--db", db)
	if err != nil || out != "2\n" {
		t.Fatalf("version: %v %q", err, out)
	}
	for _, c := range [][]string{
		{"migrate", "down", "0", "--db", db},
		{"migrate", "down", "--db", db},
		{"migrate", "up", "--db", db},
		{"migrate", "up", "--dir", "embed:trading"},
		{"migrate", "sideways", "--db", db},
		{"migrate", "resolve", "2", "maybe", "--db", db},
	} {
		if _, err := runCLI(t, c...); err == nil {
			t.Errorf("%v: no error", c)
		}
	}
}

// A failing no-transaction migration prints the recovery command; running
// that very command resolves it.
func TestMigrateCLIRecoveryCommand(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "migrations")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"001_a.sql": "CREATE TABLE a (x);\n",
		"002_b.sql": "-- qlsqlite:no-transaction\nCREATE TABLE b (x);\nCREATE TABLE a (y);\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(root, "app.db")
	_, err := runCLI(t, "migrate", "up", "--db", db, "--dir", dir)
	if err == nil {
		t.Fatal("up succeeded")
	}
	cmd := regexp.MustCompile(`qlsqlite (migrate resolve 2 applied --db \S+)`).FindStringSubmatch(err.Error())
	if cmd == nil {
		t.Fatalf("no recovery command in: %v", err)
	}
	out, _ := runCLI(t, "migrate", "status", "--db", db, "--dir", dir)
	if !regexp.MustCompile(`(?m)^2\s+partial\s+002_b\.sql`).MatchString(out) || !strings.Contains(out, "table a already exists") {
		t.Fatalf("status:\n%s", out)
	}
	out, err = runCLI(t, strings.Fields(cmd[1])...)
	if err != nil || !strings.Contains(out, "version 2 resolved as applied") || !strings.HasSuffix(out, "version 2\n") {
		t.Fatalf("%s: %v\n%s", cmd[1], err, out)
	}
}
