package main

import (
	"bytes"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantumleap/qlsqlite/lifecycle"
)

const (
	cliSecret = "TOP-SECRET-ACCOUNT-7f3a"
	cliKey    = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	cliKey2   = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// TestEncryptedDatabaseCommands runs every command that reads or writes a
// database on an encrypted one, with its key in an environment variable or
// a file: no file of the directory may hold the secret or a key, and no
// output or error may show a key.
func TestEncryptedDatabaseCommands(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "trading db.db")
	t.Setenv("QL_TEST_KEY", "vfs=adiantum&hexkey="+cliKey)
	keyFile := filepath.Join(t.TempDir(), "backup.key")
	if err := os.WriteFile(keyFile, []byte("vfs=xts&hexkey="+cliKey2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder // every output and error, to look for the keys
	cli := func(args ...string) (string, error) {
		t.Helper()
		out, err := runCLI(t, args...)
		shown.WriteString(out)
		if err != nil {
			shown.WriteString(err.Error())
		}
		return out, err
	}
	must := func(want string, args ...string) {
		t.Helper()
		out, err := cli(args...)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("%q: %q, %v; want %q", args, out, err, want)
		}
	}

	// A new encrypted database, created by migrate, then filled.
	must("version 1", "migrate", "to", "1", "--db", dbPath, "--dir", "embed:trading", "--key-env", "QL_TEST_KEY")
	db, err := sql.Open("sqlite3", fileURI(dbPath, "vfs=adiantum&hexkey="+cliKey+"&_pragma=journal_mode(wal)"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO users (id, name) VALUES ('u1', ?)`, cliSecret)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)
		INSERT INTO trades (user_id, symbol, quantity, price, side, timestamp, strategy_id)
		SELECT 'u1', 'SYM' || (x % 9), x, 100 + x, 'buy',
		       CASE WHEN x <= 300 THEN datetime('2024-01-01', '+' || x || ' hours') ELSE datetime('2025-01-01', '+' || x || ' hours') END,
		       ? || '-' || x
		FROM c`, cliSecret)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	must("version 2", "migrate", "up", "--db", dbPath, "--dir", "embed:trading", "--key-env", "QL_TEST_KEY")
	archive, backup, backup2 := filepath.Join(dir, "archive.db"), filepath.Join(dir, "backup.db"), filepath.Join(dir, "backup2.db")
	must("archived 300 rows", "archive", "-db", dbPath, "-key-env", "QL_TEST_KEY", "-table", "trades", "-before", "2025-01-01", "-to", archive, "-progress=false")
	must("purged 22 rows", "purge", "-db", dbPath, "-key-env", "QL_TEST_KEY", "-table", "trades", "-where", "symbol = ?", "-arg", "SYM0", "-before", "2026-01-01", "-progress=false")
	must("backed up", "backup", "-db", dbPath, "-key-env", "QL_TEST_KEY", "-to", backup, "-progress=false")
	must("backed up", "backup", "-db", dbPath, "-key-env", "QL_TEST_KEY", "-to-key-file", keyFile, "-to", backup2, "-progress=false")
	must("ok        "+backup, "verify", "-key-env", "QL_TEST_KEY", backup, archive)
	must("ok        "+backup2, "verify", "-key-file", keyFile, backup2)
	must("status:      ok", "health", "-db", dbPath, "-key-env", "QL_TEST_KEY")
	restored := filepath.Join(dir, "restored.db")
	must("restored "+restored, "restore", "-from", backup, "-to", restored, "-key-env", "QL_TEST_KEY")
	must("rekeyed "+restored, "rekey", "-db", restored, "-key-env", "QL_TEST_KEY", "-new-key-file", keyFile)
	must("ok        "+restored, "verify", "-key-file", keyFile, restored)

	if baks, _ := filepath.Glob(filepath.Join(dir, "*.bak")); len(baks) != 1 {
		t.Errorf("migrate up took backups %v, want one", baks)
	}
	found := filesWith(t, dir, cliSecret, cliKey, cliKey2)
	if len(found) > 0 {
		t.Errorf("readable in the directory: %v", found)
	}

	// Without the key, or with another: the clear error, and a hint.
	out, err := cli("verify", backup)
	if err == nil || !strings.Contains(out, "wrong or missing key") || !strings.Contains(out, "-key-env") {
		t.Errorf("verify without a key: %q, %v", out, err)
	}
	_, err = cli("restore", "-from", backup, "-to", filepath.Join(dir, "r2.db"), "-key-file", keyFile)
	if !errors.Is(err, lifecycle.ErrWrongKey) {
		t.Errorf("restore with another key: %v, want ErrWrongKey", err)
	}
	_, err = cli("backup", "-db", dbPath, "-to", filepath.Join(dir, "b3.db"), "-progress=false")
	if err == nil || !strings.Contains(err.Error(), "give its key with -key-env or -key-file") {
		t.Errorf("backup without a key: %v, want a hint", err)
	}
	_, err = cli("backup", "-db", dbPath, "-key-env", "QL_NO_SUCH_VARIABLE", "-to", filepath.Join(dir, "b3.db"))
	if err == nil || !strings.Contains(err.Error(), "QL_NO_SUCH_VARIABLE") {
		t.Errorf("an unset variable: %v", err)
	}
	// The key is never a flag's value.
	for _, flag := range []string{"-key", "-hexkey", "-textkey"} {
		if _, err := cli("backup", "-db", dbPath, flag, cliKey, "-to", filepath.Join(dir, "b3.db")); err == nil {
			t.Errorf("backup %s: accepted", flag)
		}
	}
	// Plaintext on request only.
	plainDir := t.TempDir()
	must("backed up", "backup", "-db", dbPath, "-key-env", "QL_TEST_KEY", "-plaintext", "-to", filepath.Join(plainDir, "plain.db"), "-progress=false")
	if len(filesWith(t, plainDir, cliSecret)) == 0 {
		t.Error("backup -plaintext is not plaintext")
	}

	for _, k := range []string{cliKey, cliKey2} {
		if strings.Contains(shown.String(), k) {
			t.Errorf("the output shows a key:\n%s", shown.String())
		}
	}
}

// filesWith returns the files under dir whose bytes contain a needle.
func filesWith(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found = append(found, filepath.Base(path))
			}
		}
		return nil
	})
	return found
}
