package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

func TestCheckpointTruncatesTheWAL(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		src := filepath.Join(t.TempDir(), "src.db")
		db := openDB(t, src)
		seedLedger(t, db, 300)
		before, err := Size(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if before.WALBytes == 0 || before.Journal != "wal" {
			t.Fatalf("size %+v: the test needs a non-empty WAL", before)
		}
		res, err := Checkpoint(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if !res.WAL || res.WALBytesBefore != before.WALBytes || res.WALBytesAfter != 0 {
			t.Errorf("checkpoint %+v, want the %d-byte WAL truncated", res, before.WALBytes)
		}
		after, _ := Size(ctx, db)
		if after.WALBytes != 0 || after.FileBytes != after.Pages*after.PageSize {
			t.Errorf("after the checkpoint: %+v, want an empty WAL and the whole database in its file", after)
		}

		// A reader on an old snapshot keeps a TRUNCATE checkpoint from finishing.
		impatient := openDSN(t, "file:"+src+"?_pragma=busy_timeout(20)")
		reader, err := openDB(t, src).BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Rollback()
		var n int
		reader.QueryRow(`SELECT count(*) FROM ledger`).Scan(&n)
		addEntry(t, db, 1)
		res, err = Checkpoint(ctx, impatient)
		if !errors.Is(err, sqlite3.BUSY) || !res.WAL {
			t.Errorf("checkpoint with a reader: %+v, %v; want sqlite3.BUSY", res, err)
		}
	})
}

func TestCheckpointOutsideWALMode(t *testing.T) {
	db := openDSN(t, "file:"+filepath.Join(t.TempDir(), "r.db")+"?_pragma=busy_timeout(1000)&_pragma=journal_mode(delete)")
	res, err := Checkpoint(context.Background(), db)
	if err != nil || res.WAL {
		t.Errorf("checkpoint in rollback mode: %+v, %v; want nothing to do", res, err)
	}
}

func TestIncrementalVacuum(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		db := openDB(t, filepath.Join(t.TempDir(), "src.db"))
		seedLedger(t, db, 2000)
		if _, err := IncrementalVacuum(ctx, db, 0); !errors.Is(err, ErrNoIncrementalVacuum) {
			t.Fatalf("before setup: %v, want ErrNoIncrementalVacuum", err)
		}
		if err := EnableIncrementalVacuum(ctx, db); err != nil {
			t.Fatal(err)
		}
		if err := EnableIncrementalVacuum(ctx, db); err != nil { // already on: nothing to do
			t.Fatal(err)
		}
		if n, err := Purge(ctx, db, "ledger", "id % 4 <> 0", nil, 500); err != nil || n != 1500 {
			t.Fatalf("purge: %d, %v", n, err)
		}
		if _, err := Checkpoint(ctx, db); err != nil {
			t.Fatal(err)
		}
		before, _ := Size(ctx, db)
		if before.FreePages < 20 || before.AutoVacuum != "incremental" {
			t.Fatalf("size %+v: the test needs free pages and incremental auto_vacuum", before)
		}

		res, err := IncrementalVacuum(ctx, db, 10)
		if err != nil {
			t.Fatal(err)
		}
		if res.FreeBefore != before.FreePages || res.FreeAfter != before.FreePages-10 || res.Freed() != 10*res.PageSize {
			t.Errorf("vacuum of 10 pages: %+v (freed %d bytes)", res, res.Freed())
		}
		res, err = IncrementalVacuum(ctx, db, 0)
		if err != nil || res.FreeAfter != 0 {
			t.Fatalf("vacuum of all pages: %+v, %v", res, err)
		}
		if _, err := Checkpoint(ctx, db); err != nil {
			t.Fatal(err)
		}
		after, _ := Size(ctx, db)
		if after.FileBytes >= before.FileBytes || after.FreePages != 0 || after.UsedBytes() != after.Pages*after.PageSize {
			t.Errorf("file went from %d to %d bytes (size now %+v): vacuum returned nothing to the file system", before.FileBytes, after.FileBytes, after)
		}
		if err := Check(ctx, db, true); err != nil {
			t.Error(err)
		}
	})
}
