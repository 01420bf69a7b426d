package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
)

// seedLedger creates a ledger whose totals row must always agree with its
// entries: every writer changes both in one transaction.
func seedLedger(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	mustExec(t, db, `CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, memo TEXT);
		CREATE TABLE totals (k INTEGER PRIMARY KEY, n INTEGER NOT NULL, total INTEGER NOT NULL);
		INSERT INTO totals VALUES (1, 0, 0)`)
	for range n {
		addEntry(t, db, 3)
	}
}

// addEntry inserts a ledger entry and updates the totals, atomically.
func addEntry(t testing.TB, db *sql.DB, amount int) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Error(err)
		return
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO ledger (amount, memo) VALUES (?, printf('%.200c', 'x'))`, amount); err != nil {
		t.Error(err)
		return
	}
	if _, err := tx.Exec(`UPDATE totals SET n = n + 1, total = total + ? WHERE k = 1`, amount); err != nil {
		t.Error(err)
		return
	}
	if err := tx.Commit(); err != nil {
		t.Error(err)
	}
}

// ledgerState returns the number of entries and the totals row of db.
func ledgerState(t testing.TB, db *sql.DB) (entries, n, total int64) {
	t.Helper()
	err := db.QueryRow(`SELECT (SELECT count(*) FROM ledger), n, total FROM totals WHERE k = 1`).Scan(&entries, &n, &total)
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestBackupWhileWritersWrite(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		src := filepath.Join(dir, "src.db")
		db := openDB(t, src)
		seedLedger(t, db, 2000)
		writers := openDB(t, src)

		// Background writers, plus one write between every two steps: each of
		// them would make a plain stepped backup start over.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
						addEntry(t, writers, 5)
					}
				}
			})
		}
		var steps []BackupProgress
		dest := filepath.Join(dir, "backups", "nightly.db")
		os.Mkdir(filepath.Dir(dest), 0o755)
		err := BackupWith(ctx, db, dest, BackupOptions{
			StepPages: 8,
			Progress: func(p BackupProgress) {
				steps = append(steps, p)
				addEntry(t, writers, 7)
			},
		})
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}

		// One snapshot, never restarted: the pages left only go down, and the
		// step count is what the snapshot's size implies.
		pages := steps[0].PageCount
		for i, s := range steps {
			if s.PageCount != pages || (i > 0 && s.Remaining >= steps[i-1].Remaining) {
				t.Fatalf("step %d: %+v after %+v: the backup restarted or its snapshot changed", i, s, steps[max(i-1, 0)])
			}
		}
		if want := (pages + 7) / 8; len(steps) != want || steps[len(steps)-1].Remaining != 0 {
			t.Errorf("%d steps for %d pages, want %d ending at 0 remaining", len(steps), pages, want)
		}

		if err := Verify(ctx, dest); err != nil {
			t.Fatalf("backup does not verify: %v", err)
		}
		bdb := openDSN(t, "file:"+dest+"?mode=ro")
		entries, n, total := ledgerState(t, bdb)
		if entries != n || entries < 2000 {
			t.Errorf("backup holds %d entries but its totals say %d: not one consistent snapshot", entries, n)
		}
		var sum int64
		bdb.QueryRow(`SELECT sum(amount) FROM ledger`).Scan(&sum)
		if sum != total {
			t.Errorf("backup's entries sum to %d, its totals say %d", sum, total)
		}
		live, _, _ := ledgerState(t, db)
		t.Logf("backup: %d pages in %d steps, %d entries; the live database has %d", pages, len(steps), entries, live)
		if live <= entries {
			t.Errorf("the writers wrote nothing during the backup (live %d, backup %d)", live, entries)
		}

		// The backup is one self-contained file in rollback-journal mode, and no
		// temporary file is left behind.
		if mode := journalModeOf(t, dest); mode != "delete" {
			t.Errorf("backup journal mode %q, want delete", mode)
		}
		files, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), "*"))
		hidden, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".*"))
		if len(files) != 1 || len(hidden) != 0 {
			t.Errorf("backup directory holds %q %q, want only the backup", files, hidden)
		}
	})
}

// TestSteppedBackupWithoutSnapshotRestarts shows the trap BackupWith
// avoids: a stepped backup that does not pin a snapshot starts over when
// another connection writes between steps.
func TestSteppedBackupWithoutSnapshotRestarts(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db := openDB(t, src)
	seedLedger(t, db, 500)
	writer := openDB(t, src)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	restarted := false
	err = conn.Raw(func(dc any) error {
		b, err := dc.(driver.Conn).Raw().BackupInit("main", filepath.Join(dir, "naive.db"))
		if err != nil {
			return err
		}
		defer b.Close()
		last := -1
		for range 1000 {
			done, err := b.Step(4)
			if err != nil || done {
				return err
			}
			if last >= 0 && b.Remaining() > last {
				restarted = true
				return nil
			}
			last = b.Remaining()
			addEntry(t, writer, 1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !restarted {
		t.Error("the naive stepped backup never restarted: this test no longer shows the trap")
	}
}

func journalModeOf(t testing.TB, path string) string {
	t.Helper()
	c, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mode, err := pragmaText(c, `PRAGMA journal_mode`)
	if err != nil {
		t.Fatal(err)
	}
	return mode
}

func TestBackupRefusals(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		src := filepath.Join(dir, "src.db")
		db := openDB(t, src)
		seedLedger(t, db, 10)
		busy := filepath.Join(dir, "busy.db")
		os.WriteFile(busy+"-wal", nil, 0o644)
		for _, tc := range []struct{ dest, want string }{
			{"", "destination path is empty"},
			{src, "is the source database itself"},
			{filepath.Join(dir, "missing", "b.db"), "does not exist"},
			{dir, "is a directory"},
			{busy, "busy.db-wal exists"},
		} {
			if err := Backup(ctx, db, tc.dest); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Backup(%q) = %v, want an error containing %q", tc.dest, err, tc.want)
			}
		}
		if _, err := os.Stat(busy); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("refused backup created %s", busy)
		}
	})
}

func TestBackupCancelledLeavesNothing(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "src.db"))
		db.SetMaxOpenConns(1) // the backup's connection is the one the write below gets
		seedLedger(t, db, 1000)
		dest := filepath.Join(dir, "out", "b.db")
		os.Mkdir(filepath.Dir(dest), 0o755)
		os.WriteFile(dest, []byte("the previous backup"), 0o644)
		ctx, cancel := context.WithCancel(context.Background())
		steps := 0
		err := BackupWith(ctx, db, dest, BackupOptions{StepPages: 1, Progress: func(BackupProgress) {
			if steps++; steps == 3 {
				cancel()
			}
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		entries, _ := os.ReadDir(filepath.Dir(dest))
		if len(entries) != 1 {
			t.Errorf("directory holds %d files after a cancelled backup, want only the previous backup", len(entries))
		}
		if b, _ := os.ReadFile(dest); string(b) != "the previous backup" {
			t.Errorf("the previous backup was changed")
		}
		// The pool's one connection came back out of the backup's read
		// transaction: a write on it commits, as another pool sees.
		addEntry(t, db, 1)
		other := openDB(t, filepath.Join(dir, "src.db"))
		var n int
		if err := other.QueryRow(`SELECT count(*) FROM ledger`).Scan(&n); err != nil || n != 1001 {
			t.Errorf("another pool sees %d entries (%v), want 1001: the write after the cancelled backup never committed", n, err)
		}
	})
}

func TestRestoreRoundTrip(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		src := filepath.Join(dir, "src.db")
		db := openDB(t, src)
		seedLedger(t, db, 300)
		backup := filepath.Join(dir, "backup.db")
		if err := Backup(ctx, db, backup); err != nil {
			t.Fatal(err)
		}
		atBackup, _, _ := ledgerState(t, db)
		for range 50 {
			addEntry(t, db, 1) // committed after the backup: a restore forgets them
		}

		// Into a new file.
		fresh := filepath.Join(dir, "fresh.db")
		if err := Restore(ctx, backup, fresh); err != nil {
			t.Fatal(err)
		}
		if got, n, _ := ledgerState(t, openDB(t, fresh)); got != atBackup || n != atBackup {
			t.Errorf("restored copy holds %d entries (totals %d), want %d", got, n, atBackup)
		}

		// Over the database itself, which is in use until it is closed.
		err := Restore(ctx, backup, src)
		if !errors.Is(err, ErrInUse) {
			t.Fatalf("restore over an open database: %v, want ErrInUse", err)
		}
		if got, _, _ := ledgerState(t, db); got != atBackup+50 {
			t.Fatalf("a refused restore changed the database: %d entries", got)
		}
		db.Close()
		if err := Restore(ctx, backup, src); err != nil {
			t.Fatal(err)
		}
		if mode := journalModeOf(t, src); mode != "wal" {
			t.Errorf("restored database journal mode %q, want wal as before", mode)
		}
		db = openDB(t, src)
		if got, n, total := ledgerState(t, db); got != atBackup || n != atBackup || total != 3*atBackup {
			t.Errorf("restored database: %d entries, totals %d/%d; want %d", got, n, total, atBackup)
		}
		addEntry(t, db, 1) // and it works
		if err := Check(ctx, db, true); err != nil {
			t.Error(err)
		}
	})
}
