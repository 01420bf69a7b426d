package lifecycle

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// overwritePages writes pseudo-random bytes over whole pages of the
// (closed) database file at path, leaving the header page alone.
func overwritePages(t testing.TB, path string, pages ...int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 100)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	size := int64(hdr[16])<<8 | int64(hdr[17])
	if size == 1 {
		size = 65536
	}
	fi, _ := f.Stat()
	rng := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, size)
	for _, p := range pages {
		if p < 2 || int64(p)*size > fi.Size() {
			t.Fatalf("page %d is not a page after the header page of a %d-byte file", p, fi.Size())
		}
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(junk, int64(p-1)*size); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// makeDatabase writes a closed ledger database of entries entries at path
// and returns it.
func makeDatabase(t testing.TB, path string, entries int) string {
	t.Helper()
	db := openDB(t, path)
	seedLedger(t, db, entries)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerifyDetectsOverwrittenPages(t *testing.T) {
	ctx := context.Background()
	path := makeDatabase(t, filepath.Join(t.TempDir(), "db.db"), 1000)
	if err := Verify(ctx, path); err != nil {
		t.Fatalf("sound database: %v", err)
	}
	overwritePages(t, path, 3, 4, 5)
	for name, verify := range map[string]func(context.Context, string) error{"Verify": Verify, "QuickVerify": QuickVerify} {
		err := verify(ctx, path)
		var ce *CorruptError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
			t.Fatalf("%s: %v, want a *CorruptError", name, err)
		}
		if ce.Path != path || (len(ce.Problems) == 0 && ce.Err == nil) {
			t.Errorf("%s: %#v names no problem", name, ce)
		}
		msg := err.Error()
		for _, want := range []string{path, "database is corrupt", "restore it from a backup"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q does not say %q", name, msg, want)
			}
		}
		t.Logf("%s: %v", name, err)
	}

	// The same damage, seen through a live pool.
	if err := Check(ctx, openDSN(t, "file:"+path+"?mode=ro"), false); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check: %v, want ErrCorrupt", err)
	}
}

func TestVerifyRejectsWhatIsNoDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	header := makeDatabase(t, filepath.Join(dir, "header.db"), 10)
	f, _ := os.OpenFile(header, os.O_RDWR, 0)
	f.WriteAt([]byte("garbage garbage garbage"), 0)
	f.Close()
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o644)
	short := filepath.Join(dir, "short.db")
	os.WriteFile(short, []byte("SQLite format 3\x00"), 0o644)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte(strings.Repeat("this is not a database\n", 50)), 0o644)
	for path, want := range map[string]string{
		header: `header starts with "garbage garbage "`,
		empty:  "the file is empty",
		short:  "shorter than a database header",
		text:   `instead of "SQLite format 3`,
	} {
		err := Verify(ctx, path)
		if !errors.Is(err, ErrNotDatabase) || !strings.Contains(err.Error(), want) {
			t.Errorf("Verify(%s) = %v, want ErrNotDatabase saying %q", filepath.Base(path), err, want)
		}
	}
	if err := Verify(ctx, filepath.Join(dir, "missing.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestRecoverFromNewestBackupThatVerifies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	backups := filepath.Join(dir, "backups")
	os.Mkdir(backups, 0o755)
	live := filepath.Join(dir, "live.db")
	db := openDB(t, live)
	seedLedger(t, db, 400)

	// Three backups, oldest to newest; the newest will be damaged.
	names := []string{"b1.db", "b2.db", "b3.db"}
	sizes := map[string]int64{}
	old := time.Now().Add(-time.Hour)
	for i, name := range names {
		path := filepath.Join(backups, name)
		if err := Backup(ctx, db, path); err != nil {
			t.Fatal(err)
		}
		sizes[name], _, _ = ledgerState(t, db)
		os.Chtimes(path, old.Add(time.Duration(i)*time.Minute), old.Add(time.Duration(i)*time.Minute))
		for range 100 {
			addEntry(t, db, 1)
		}
	}
	db.Close()
	overwritePages(t, filepath.Join(backups, "b3.db"), 2, 6)

	// Healthy: nothing to do.
	rep, err := RecoverFromBackup(ctx, live, []string{backups})
	if err != nil || rep.DestProblem != nil || rep.Restored != "" {
		t.Fatalf("healthy database: %+v, %v; want it left alone", rep, err)
	}

	overwritePages(t, live, 4, 5, 7)
	if err := Verify(ctx, live); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged database verifies: %v", err)
	}
	rep, err = RecoverFromBackup(ctx, live, []string{backups})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(rep.DestProblem, ErrCorrupt) {
		t.Errorf("DestProblem = %v, want ErrCorrupt", rep.DestProblem)
	}
	if rep.Restored != filepath.Join(backups, "b2.db") {
		t.Errorf("restored %q, want b2.db, the newest that verifies", rep.Restored)
	}
	if len(rep.Rejected) != 1 || filepath.Base(rep.Rejected[0].Path) != "b3.db" || !errors.Is(rep.Rejected[0].Err, ErrCorrupt) {
		t.Errorf("rejected %+v, want b3.db as corrupt", rep.Rejected)
	}
	if err := Verify(ctx, live); err != nil {
		t.Fatalf("recovered database does not verify: %v", err)
	}
	if got, n, _ := ledgerState(t, openDB(t, live)); got != sizes["b2.db"] || n != got {
		t.Errorf("recovered database holds %d entries (totals %d), want b2's %d", got, n, sizes["b2.db"])
	}
}

func TestRecoverWithoutGoodBackupChangesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := makeDatabase(t, filepath.Join(dir, "live.db"), 200)
	bad := filepath.Join(dir, "bad-backup.db")
	os.WriteFile(bad, []byte("not a backup at all, and long enough to have a header........................................................"), 0o644)
	overwritePages(t, live, 3)
	before, _ := os.ReadFile(live)
	_, err := RecoverFromBackup(ctx, live, []string{bad})
	if err == nil || !strings.Contains(err.Error(), "none of the 1 candidates is a backup of it that verifies") || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want a refusal explaining both problems", err)
	}
	after, _ := os.ReadFile(live)
	if string(before) != string(after) {
		t.Error("a failed recovery changed the database")
	}
	if err := Restore(ctx, bad, filepath.Join(dir, "new.db")); !errors.Is(err, ErrNotDatabase) {
		t.Errorf("Restore of a bad backup: %v, want ErrNotDatabase", err)
	}
}
