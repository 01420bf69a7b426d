//go:build unix

package lifecycle

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRestoreKeepsModeOwnerAndTheReplaced: the restored file has the
// permission bits and (as root, where it can be another's) the owner of the
// file it replaced, and the replaced database, with the entries written
// after the backup, is kept where it was asked to be, readable as it was.
func TestRestoreKeepsModeOwnerAndTheReplaced(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db := openDB(t, src)
	seedLedger(t, db, 30)
	backup := filepath.Join(dir, "backup.db")
	if err := Backup(ctx, db, backup); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		addEntry(t, db, 1) // only in the database that the restore replaces
	}
	db.Close()
	if err := os.Chmod(src, 0o640); err != nil {
		t.Fatal(err)
	}
	wantUID, wantGID := os.Geteuid(), os.Getegid()
	if wantUID == 0 {
		// Root can give the file to someone else: the restore must give
		// the restored file the same owner.
		wantUID, wantGID = 4242, 4343
		if err := os.Chown(src, wantUID, wantGID); err != nil {
			t.Fatal(err)
		}
	}

	keep := filepath.Join(dir, "src.db.replaced")
	if err := RestoreWith(ctx, backup, src, RestoreOptions{KeepReplaced: keep}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o640 || int(st.Uid) != wantUID || int(st.Gid) != wantGID {
		t.Errorf("restored file: mode %v, owner %d:%d; want -rw-r-----, %d:%d", fi.Mode().Perm(), st.Uid, st.Gid, wantUID, wantGID)
	}
	restored := openDB(t, src)
	if got, _, _ := ledgerState(t, restored); got != 30 {
		t.Errorf("restored: %d entries, want the backup's 30", got)
	}
	restored.Close()
	if got, n, _ := ledgerState(t, openDB(t, keep)); got != 35 || n != 35 {
		t.Errorf("kept: %d entries (totals %d), want the replaced database's 35", got, n)
	}

	// Into a new file: the backup's permission bits, nothing to keep.
	fresh := filepath.Join(dir, "fresh.db")
	if err := RestoreWith(ctx, backup, fresh, RestoreOptions{KeepReplaced: fresh + ".replaced"}); err != nil {
		t.Fatal(err)
	}
	bfi, _ := os.Stat(backup)
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != bfi.Mode().Perm() {
		t.Errorf("a new file: %v, %v; want the backup's %v", fi.Mode(), err, bfi.Mode().Perm())
	}
	if _, err := os.Stat(fresh + ".replaced"); !os.IsNotExist(err) {
		t.Errorf("kept a database that did not exist: %v", err)
	}

	// A keep that exists, or lies elsewhere, is refused before anything
	// changes.
	for _, bad := range []string{keep, filepath.Join(t.TempDir(), "elsewhere.db")} {
		err := RestoreWith(ctx, backup, src, RestoreOptions{KeepReplaced: bad})
		if err == nil || !strings.Contains(err.Error(), "nothing was replaced") {
			t.Errorf("KeepReplaced %s: %v", bad, err)
		}
	}
}
