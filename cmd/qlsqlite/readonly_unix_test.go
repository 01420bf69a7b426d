//go:build unix

package main

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/quantumleap/qlsqlite"
)

// TestReadOnlyCommands runs each command that only reads on a database
// file the user running it cannot write, in a directory it cannot write
// (0444 in 0555), as a process: advise (without --apply), backup, migrate
// status, plan and version, verify and health all succeed, and the files
// are unchanged. One database is in rollback-journal mode, one in WAL mode
// (the production default; it has no -shm when no process has it open,
// and none can be created).
//
// Root ignores file permissions, so as root the commands run as the user
// nobody (65534): a copy of the test binary in a directory nobody can read
// is the command. Writing commands (purge, migrate up) fail there, which
// shows that the files really are read-only to the process.
func TestReadOnlyCommands(t *testing.T) {
	root, err := os.MkdirTemp("", "qlsqlite-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			os.Chmod(p, 0o755)
			return nil
		})
		os.RemoveAll(root)
	})
	if err := os.Chmod(root, 0o755); err != nil { // MkdirTemp's 0700 keeps nobody out
		t.Fatal(err)
	}
	data, out := filepath.Join(root, "data"), filepath.Join(root, "out")
	for _, d := range []string{data, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(out, 0o777); err != nil { // the backups go here
		t.Fatal(err)
	}
	rollback, wal := filepath.Join(data, "rollback.db"), filepath.Join(data, "wal.db")
	for _, db := range []string{rollback, wal} {
		if _, err := runCLI(t, "migrate", "up", "--db", db, "--dir", "embed:trading", "--no-backup"); err != nil {
			t.Fatal(err)
		}
	}
	toWAL(t, wal)

	var prepare func(*exec.Cmd)
	exe := os.Args[0]
	if os.Geteuid() == 0 {
		exe = filepath.Join(root, "qlsqlite.test")
		copyFile(t, os.Args[0], exe, 0o755)
		prepare = func(c *exec.Cmd) {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
	}
	for _, db := range []string{rollback, wal} {
		if err := os.Chmod(db, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(data, 0o555); err != nil {
		t.Fatal(err)
	}
	before := snapshotDir(t, data)

	for _, db := range []string{rollback, wal} {
		name := filepath.Base(db)
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"advise", "--db", db, "--query", "SELECT id FROM users WHERE name = 'Ada'"}, "CREATE INDEX"},
			{[]string{"backup", "-db", db, "-to", filepath.Join(out, name+".bak"), "-progress=false"}, "backed up " + db},
			{[]string{"migrate", "status", "--db", db, "--dir", "embed:trading"}, "002_add_trading_indexes.sql"},
			{[]string{"migrate", "plan", "--db", db, "--dir", "embed:trading"}, "nothing to apply"},
			{[]string{"migrate", "version", "--db", db}, "2\n"},
			{[]string{"verify", db}, "ok        " + db},
			{[]string{"health", "--db", db}, "status:      ok"},
		} {
			code, stdout, stderr := runExe(t, exe, prepare, tc.args...)
			if code != 0 || !strings.Contains(stdout, tc.want) {
				t.Errorf("%s: exit %d, want 0 and %q\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), code, tc.want, stdout, stderr)
			}
		}
		// The control: a command that writes cannot.
		code, _, stderr := runExe(t, exe, prepare, "purge", "-db", db, "-table", "trades", "-where", "true", "-progress=false")
		if code != 1 || !strings.Contains(stderr, "readonly") {
			t.Errorf("purge of a read-only file: exit %d\n%s", code, stderr)
		}
	}
	if after := snapshotDir(t, data); after != before {
		t.Errorf("the read-only directory changed:\nbefore %s\nafter  %s", before, after)
	}
}

// toWAL switches the database at path to WAL mode, and makes sure no -wal
// or -shm is left beside it.
func toWAL(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open(qlsqlite.DriverName, fileURI(path, "_pragma=journal_mode(wal)"))
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q, %v", mode, err)
	}
	db.Close()
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapshotDir describes the files of dir: names, sizes, modes, contents.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		content, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %v %v %d %x; ", e.Name(), fi.Mode(), fi.ModTime(), len(content), sha256.Sum256(content))
	}
	return b.String()
}
