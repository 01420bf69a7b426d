package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/ncruces/go-sqlite3"
)

// CheckpointResult says what [Checkpoint] did.
type CheckpointResult struct {
	WAL bool // whether the database is in WAL mode (if not, there was nothing to do)

	// WALBytesBefore and WALBytesAfter are the sizes of the -wal file
	// before and after the checkpoint (0 after a successful one).
	WALBytesBefore, WALBytesAfter int64

	// LogFrames and Checkpointed are what PRAGMA wal_checkpoint reports:
	// the frames in the WAL and those copied into the database. After a
	// successful TRUNCATE checkpoint SQLite reports 0 for both, as the WAL
	// is then empty; they matter when it could not finish.
	LogFrames, Checkpointed int
}

// Checkpoint runs PRAGMA wal_checkpoint(TRUNCATE) on the main database of db:
// it waits (up to the connection's busy timeout) for writers to finish,
// copies every frame of the WAL into the database file, waits for readers
// of older snapshots, and truncates the WAL file to zero bytes.
//
// If it could not finish, because a reader or a writer stayed active past
// the busy timeout, it returns the result and an error wrapping
// [sqlite3.BUSY]; run it again when the database is quieter. A database
// not in WAL mode has nothing to checkpoint: the result says so (WAL is
// false) and the error is nil.
func Checkpoint(ctx context.Context, db *sql.DB) (CheckpointResult, error) {
	ctx, cancel := longContext(ctx)
	defer cancel()
	var res CheckpointResult
	conn, err := db.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("lifecycle: checkpoint: %w", err)
	}
	defer conn.Close()
	file, err := mainFile(ctx, conn)
	if err != nil {
		return res, err
	}
	walSize := func() int64 {
		if file == "" { // in memory
			return 0
		}
		if fi, err := os.Stat(file + "-wal"); err == nil {
			return fi.Size()
		}
		return 0
	}
	res.WALBytesBefore = walSize()
	var busy int
	err = conn.QueryRowContext(ctx, `PRAGMA main.wal_checkpoint(TRUNCATE)`).Scan(&busy, &res.LogFrames, &res.Checkpointed)
	if err != nil {
		return res, fmt.Errorf("lifecycle: checkpoint: %w", err)
	}
	if res.LogFrames < 0 {
		return CheckpointResult{}, nil
	}
	res.WAL = true
	res.WALBytesAfter = walSize()
	if busy != 0 {
		return res, fmt.Errorf("lifecycle: checkpoint: readers or a writer kept it from finishing (%d of %d frames copied); run it again later: %w", res.Checkpointed, res.LogFrames, sqlite3.BUSY)
	}
	return res, nil
}

// ErrNoIncrementalVacuum is wrapped by the error of [IncrementalVacuum] when
// the database is not set up for it (PRAGMA auto_vacuum is not INCREMENTAL).
var ErrNoIncrementalVacuum = errors.New("lifecycle: incremental vacuum is not enabled on this database")

// EnableIncrementalVacuum sets PRAGMA auto_vacuum = INCREMENTAL on the main
// database of db, so that [IncrementalVacuum] can later return free pages
// to the file system a few at a time. On an existing database the setting
// only takes effect after a full VACUUM, which EnableIncrementalVacuum then
// runs: it rewrites the whole file, holds the write lock throughout and
// needs free disk space about the size of the database, so run it once, in
// a quiet period. It does nothing if the setting is already in force.
func EnableIncrementalVacuum(ctx context.Context, db *sql.DB) error {
	ctx, cancel := longContext(ctx)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lifecycle: enable incremental vacuum: %w", err)
	}
	defer conn.Close()
	mode, err := autoVacuum(ctx, conn)
	if err != nil || mode == 2 {
		return err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA main.auto_vacuum = INCREMENTAL`); err != nil {
		return fmt.Errorf("lifecycle: enable incremental vacuum: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `VACUUM main`); err != nil {
		return fmt.Errorf("lifecycle: enable incremental vacuum: VACUUM: %w", err)
	}
	if mode, err = autoVacuum(ctx, conn); err != nil {
		return err
	}
	if mode != 2 {
		return fmt.Errorf("lifecycle: enable incremental vacuum: auto_vacuum is still %d after VACUUM", mode)
	}
	return nil
}

func autoVacuum(ctx context.Context, q queryer) (int, error) {
	var mode int
	if err := q.QueryRowContext(ctx, `PRAGMA main.auto_vacuum`).Scan(&mode); err != nil {
		return 0, fmt.Errorf("lifecycle: reading PRAGMA auto_vacuum: %w", err)
	}
	return mode, nil
}

// VacuumResult says what [IncrementalVacuum] did.
type VacuumResult struct {
	FreeBefore int64 // free pages before
	FreeAfter  int64 // free pages after
	PageSize   int64 // bytes per page
}

// Freed is the number of bytes returned to the file system.
func (r VacuumResult) Freed() int64 { return (r.FreeBefore - r.FreeAfter) * r.PageSize }

// IncrementalVacuum returns up to pages free pages of the main database of db
// to the file system (all of them when pages <= 0), with PRAGMA
// incremental_vacuum. Each call is one short write transaction, so it can
// run while the program works, for example after an [Archive] or a [Purge]
// freed many pages. The database must have been set up with
// [EnableIncrementalVacuum]; otherwise the error wraps
// [ErrNoIncrementalVacuum].
func IncrementalVacuum(ctx context.Context, db *sql.DB, pages int) (VacuumResult, error) {
	ctx, cancel := longContext(ctx)
	defer cancel()
	var res VacuumResult
	conn, err := db.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("lifecycle: incremental vacuum: %w", err)
	}
	defer conn.Close()
	mode, err := autoVacuum(ctx, conn)
	if err != nil {
		return res, err
	}
	if mode != 2 {
		return res, fmt.Errorf("lifecycle: incremental vacuum: %w (auto_vacuum is %d): call EnableIncrementalVacuum once first", ErrNoIncrementalVacuum, mode)
	}
	if err := conn.QueryRowContext(ctx, `SELECT page_size, freelist_count FROM pragma_page_size, pragma_freelist_count`).Scan(&res.PageSize, &res.FreeBefore); err != nil {
		return res, fmt.Errorf("lifecycle: incremental vacuum: %w", err)
	}
	if pages < 0 {
		pages = 0
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA main.incremental_vacuum(%d)`, pages)); err != nil {
		return res, fmt.Errorf("lifecycle: incremental vacuum: %w", err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT freelist_count FROM pragma_freelist_count`).Scan(&res.FreeAfter); err != nil {
		return res, fmt.Errorf("lifecycle: incremental vacuum: %w", err)
	}
	return res, nil
}

// SizeReport says how big a database is and how much of it is free.
type SizeReport struct {
	Path       string // the main database's file ("" in memory)
	PageSize   int64  // bytes per page
	Pages      int64  // pages in the database
	FreePages  int64  // pages on the freelist (reusable, or returned by vacuum)
	FileBytes  int64  // size of the database file on disk
	WALBytes   int64  // size of the -wal file (0 if none)
	AutoVacuum string // "none", "full" or "incremental"
	Journal    string // the journal mode, such as "wal"
}

// UsedBytes is the space the data uses: pages not on the freelist.
func (r SizeReport) UsedBytes() int64 { return (r.Pages - r.FreePages) * r.PageSize }

// FreeBytes is the space on the freelist.
func (r SizeReport) FreeBytes() int64 { return r.FreePages * r.PageSize }

// Size reports the size of the main database of db.
func Size(ctx context.Context, db *sql.DB) (SizeReport, error) {
	ctx, cancel := longContext(ctx)
	defer cancel()
	var r SizeReport
	var av int
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT file FROM pragma_database_list WHERE name = 'main'),
		(SELECT page_size FROM pragma_page_size),
		(SELECT page_count FROM pragma_page_count),
		(SELECT freelist_count FROM pragma_freelist_count),
		(SELECT auto_vacuum FROM pragma_auto_vacuum),
		(SELECT journal_mode FROM pragma_journal_mode)`).
		Scan(&r.Path, &r.PageSize, &r.Pages, &r.FreePages, &av, &r.Journal)
	if err != nil {
		return r, fmt.Errorf("lifecycle: size: %w", err)
	}
	r.AutoVacuum = [...]string{"none", "full", "incremental"}[av%3]
	if r.Path != "" {
		if fi, err := os.Stat(r.Path); err == nil {
			r.FileBytes = fi.Size()
		}
		if fi, err := os.Stat(r.Path + "-wal"); err == nil {
			r.WALBytes = fi.Size()
		}
	}
	return r, nil
}
