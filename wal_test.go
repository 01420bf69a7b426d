package qlsqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withWALPause sets a forced checkpoint's first and longest pause (tests).
func withWALPause(first, longest time.Duration) Option {
	return func(c *config) { c.walPause = [2]time.Duration{first, longest} }
}

// walDSN is a WAL database with commits that do not wait for fsync, so
// that the writer outruns checkpoints the way a busy one does. The file is
// put in WAL mode beforehand, not by the DSN: a connection that has not read
// the database yet does not know it is in WAL mode, and the keeper's own
// connection must find out.
func walDSN(t *testing.T, limit string) (dsn, wal string) {
	path := filepath.Join(t.TempDir(), "wal.db")
	raw, err := sql.Open("sqlite3", "file:"+path+"?_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Ping(); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	return "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=synchronous(normal)&_wal_limit=" + limit, path + "-wal"
}

func walSize(t *testing.T, wal string) int64 {
	fi, err := os.Stat(wal)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// alwaysReading keeps a read transaction open on db without a break until
// stop is closed: each transaction reads for a while, and the next one
// starts before it ends, as overlapping readers (a dashboard, reports) do.
// It returns when the first transaction is open.
func alwaysReading(t *testing.T, db *sql.DB, stop <-chan struct{}) (done <-chan error) {
	ctx := context.Background()
	begin := func() (*sql.Tx, error) {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		var n int64
		return tx, tx.QueryRowContext(ctx, `SELECT max(id) FROM log`).Scan(&n) // takes the snapshot
	}
	first, err := begin()
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan error, 1)
	go func() {
		out <- func() error {
			old := first
			defer func() { old.Rollback() }()
			for {
				// Some reading in the old transaction, then the next one
				// opens before the old one ends.
				for i := range 50 {
					var n int64
					if err := old.QueryRowContext(ctx, `SELECT length(payload) FROM log WHERE id = ?`, 1+i).Scan(&n); err != nil {
						return err
					}
				}
				next, err := begin()
				if err != nil {
					return err
				}
				old.Rollback()
				old = next
				select {
				case <-stop:
					return nil
				default:
				}
			}
		}()
	}()
	return out
}

// writeWAL commits rows of 8 KiB, one a statement, until n were written or
// until enough returns true (checked every 25 rows), and returns the
// largest size the WAL file had after a commit.
func writeWAL(t *testing.T, db *sql.DB, wal string, n int, enough func() bool) (largest int64) {
	return writeRows(t, db, wal, n, 8<<10, enough)
}

func writeRows(t *testing.T, db *sql.DB, wal string, n, size int, enough func() bool) (largest int64) {
	payload := make([]byte, size)
	for i := range n {
		if _, err := db.Exec(`INSERT INTO log (payload) VALUES (?)`, payload); err != nil {
			t.Fatal(err)
		}
		largest = max(largest, walSize(t, wal))
		if enough != nil && i%25 == 0 && enough() {
			break
		}
	}
	return largest
}

func openWALTest(t *testing.T, dsn string, opts ...Option) *sql.DB {
	db, err := Open(dsn, append(opts, WithPool(PoolConfig{MinOpen: -1}))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE log (id INTEGER PRIMARY KEY, payload BLOB)`); err != nil {
		t.Fatal(err)
	}
	for range 60 {
		if _, err := db.Exec(`INSERT INTO log (payload) VALUES (zeroblob(100))`); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestWALStaysBounded: beside a reader that always has a read transaction
// open (each restarted before the last ends), a writer commits 12 times the
// WAL's limit; the WAL file stays under the limit. Without the keeping
// ("_wal_limit=0", SQLite's own auto-checkpoint) the same run makes the WAL
// grow past the limit: the readers starve every checkpoint.
func TestWALStaysBounded(t *testing.T) {
	const limit = 2 << 20
	for _, tc := range []struct {
		name    string
		dsn     func(t *testing.T, limit string) (string, string)
		row     int // bytes a commit writes
		limit   string
		bounded bool
	}{
		{"kept", walDSN, 8 << 10, "2MiB", true},
		{"off", walDSN, 8 << 10, "0", false},
		// qlsqlite's production defaults (synchronous=FULL: a commit
		// waits for its fsync, so fewer and larger ones); the keeper's
		// own connection is opened without them.
		{"defaults", defaultsDSN, 64 << 10, "2MiB", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, wal := tc.dsn(t, tc.limit)
			db := openWALTest(t, dsn)
			stop := make(chan struct{})
			done := alwaysReading(t, db, stop)
			rows := 12 * limit / tc.row
			largest := writeRows(t, db, wal, rows, tc.row, nil)
			close(stop)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			snap, err := Stats(db)
			if err != nil {
				t.Fatal(err)
			}
			w := snap.Database.WAL
			t.Logf("largest WAL %d bytes (limit %d) after %d commits of %d KiB; %+v", largest, limit, rows, tc.row>>10, w)
			if !tc.bounded {
				if largest <= limit {
					t.Errorf("without the keeping the WAL reached %d bytes only, not past its limit of %d: the readers did not starve the checkpoints, so the kept run proves nothing", largest, limit)
				}
				if w.Limit != 0 || w.Passive != 0 {
					t.Errorf("WAL stats with the keeping off = %+v, want zero", w)
				}
				return
			}
			if largest >= limit {
				t.Errorf("the WAL reached %d bytes, over its limit of %d", largest, limit)
			}
			if w.Limit != limit || w.Forced == 0 || w.Passive == 0 || w.LastTruncate.IsZero() || w.MaxBytes >= limit || w.Starved {
				t.Errorf("WAL stats = %+v, want forced TRUNCATE checkpoints, passive ones, and the largest size under the limit", w)
			}
			if w.LongestPause > walMaxPause+walMaxPause/2 {
				t.Errorf("writers were paused for %v at once, want %v at most", w.LongestPause, walMaxPause)
			}
		})
	}
}

// defaultsDSN is a database with qlsqlite's production defaults.
func defaultsDSN(t *testing.T, limit string) (dsn, wal string) {
	path := filepath.Join(t.TempDir(), "wal.db")
	return "file:" + path + "?_wal_limit=" + limit, path + "-wal"
}

// TestWALStarvedIsReported: a read transaction that never ends keeps the
// WAL from being reset, however long the writers are paused: Stats and
// Health say so, and once the reader ends the log is reset and the report
// clears.
func TestWALStarvedIsReported(t *testing.T) {
	dsn, wal := walDSN(t, "1MiB")
	db := openWALTest(t, dsn, withWALPause(2*time.Millisecond, 8*time.Millisecond))
	ctx := context.Background()
	tx := starveWAL(t, db, wal)
	snap, err := Stats(db)
	if err != nil {
		t.Fatal(err)
	}
	if w := snap.Database.WAL; !w.Starved || w.StarvedSince.IsZero() || w.Busy == 0 || w.Bytes < 3<<18 {
		t.Fatalf("with a read transaction open for good, WAL stats = %+v, want it starved", w)
	}
	h, err := Health(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != HealthDegraded || !h.WAL.Starved || !strings.Contains(strings.Join(h.Problems, "\n"), "cannot be reset") {
		t.Errorf("Health = %s %q, want degraded by the starved WAL", h.Status, h.Problems)
	}

	tx.Rollback()
	reset := func() bool {
		s, err := Stats(db)
		return err == nil && !s.Database.WAL.Starved && s.Database.WAL.Truncate > 0
	}
	writeWAL(t, db, wal, 2000, reset)
	if !reset() {
		s, _ := Stats(db)
		t.Fatalf("the reader ended, but the WAL was not reset: %+v", s.Database.WAL)
	}
	if size := walSize(t, wal); size >= 1<<20 {
		t.Errorf("the WAL is %d bytes after it was reset, want under its limit", size)
	}
	h, err = Health(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != HealthOK {
		t.Errorf("Health after the reader ended = %s %q, want ok", h.Status, h.Problems)
	}
}

// starveWAL opens a read transaction that holds a snapshot, and writes
// until the keeper reports itself starved; the caller ends the reader.
func starveWAL(t *testing.T, db *sql.DB, wal string) *sql.Tx {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := tx.QueryRow(`SELECT count(*) FROM log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	starved := func() bool {
		s, err := Stats(db)
		return err == nil && s.Database.WAL.Starved
	}
	writeWAL(t, db, wal, 2000, starved)
	if !starved() {
		t.Fatal("the WAL keeper was never starved with a read transaction open for good")
	}
	return tx
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "64MiB": 64 << 20, "64MB": 64e6, "512 kib": 512 << 10, "1GiB": 1 << 30, "10b": 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "lots", "64TB", "MiB", "1.5MB"} {
		if _, err := parseSize(in); err == nil || !strings.Contains(err.Error(), "64MiB") {
			t.Errorf("parseSize(%q) = %v, want an error showing a size", in, err)
		}
	}
	cfg := defaultConfig()
	if _, err := parseDSN("file:x.db?_wal_limit=huge", &cfg); err == nil || !strings.Contains(err.Error(), "_wal_limit") {
		t.Errorf("a bad _wal_limit = %v, want an error naming it", err)
	}
}

// The keeper's hook stands in for SQLite's auto-checkpoint on every
// database of a connection: an attached WAL database keeps SQLite's own
// (PASSIVE, every 1000 pages), so its log stays bounded, and its commits
// never count as main's log.
func TestWALAttachedDatabaseKeepsItsCheckpoints(t *testing.T) {
	dsn, _ := walDSN(t, "64MiB")
	db := openWALTest(t, dsn)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	aux := filepath.Join(t.TempDir(), "aux.db")
	for _, q := range []string{
		`ATTACH DATABASE '` + aux + `' AS aux`,
		`PRAGMA aux.journal_mode=wal`,
		`CREATE TABLE aux.blobs (b BLOB)`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	payload := make([]byte, 8<<10)
	for range 2500 { // about 20 MB of log, 5000 pages and more
		if _, err := conn.ExecContext(ctx, `INSERT INTO aux.blobs VALUES (?)`, payload); err != nil {
			t.Fatal(err)
		}
	}
	if size := walSize(t, aux+"-wal"); size > 8<<20 {
		t.Errorf("the attached database's WAL is %d bytes: nothing checkpoints it", size)
	}
	s, err := Stats(db)
	if err != nil {
		t.Fatal(err)
	}
	if f := s.Database.WAL.Frames; f > 100 {
		t.Errorf("main's WAL frames %d: the attached database's commits were counted as main's", f)
	}
}

// One writer alone: the log starts over after each auto-checkpoint, as
// with SQLite's own, and its file stays at about "wal_autocheckpoint"
// pages, written over rather than past its end. (Checkpoints run beside the
// writer instead finish while it appends more, so the log never starts
// over, and its file grows to the keeper's trigger, a quarter of the
// limit, to be truncated.)
func TestWALStartsOverUnderOneWriter(t *testing.T) {
	dsn, wal := walDSN(t, "8MiB")
	db := openWALTest(t, dsn+"&_pragma=wal_autocheckpoint(100)")
	// 600 commits of 2 pages or more: at least 12 times 100 pages.
	largest := writeRows(t, db, wal, 600, 6000, nil)
	s, err := Stats(db)
	if err != nil {
		t.Fatal(err)
	}
	w := s.Database.WAL
	// About 100 pages of 4 KiB and the commit that passed them, or a few
	// times that when a reader (the pool's, the monitor's) kept a
	// checkpoint from completing: under the keeper's trigger (a quarter
	// of the limit, 2 MiB), which a log that never starts over reaches.
	if largest >= 2<<20 || w.Truncate != 0 || w.Passive < 10 {
		t.Errorf("largest WAL %d bytes (want under the trigger, 2 MiB), %d PASSIVE checkpoints (want 12 or so), %d TRUNCATE (want none): the log did not start over", largest, w.Passive, w.Truncate)
	}
}
