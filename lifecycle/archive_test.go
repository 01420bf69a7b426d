package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestArchiveMovesOnlyMatchingRows(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "src.db"))
		const n = 20_000
		seedTrades(t, db, n)
		cutoff := int64(12_345) // trades with id < cutoff are older than the cutoff time
		dest := filepath.Join(dir, "archive.db")

		var calls []ArchiveReport
		rep, err := Archive(ctx, db, ArchivePolicy{
			Table: "trades", Where: "timestamp < ?", Args: []any{tradeTime(cutoff)},
			DestPath: dest, BatchSize: 1000,
			Progress: func(r ArchiveReport) { calls = append(calls, r) },
		})
		if err != nil {
			t.Fatal(err)
		}
		want := cutoff - 1
		if rep.Moved != want || rep.Copied != want || rep.Total != want || rep.Conflicts != 0 {
			t.Errorf("report %+v, want Moved = Copied = Total = %d", rep, want)
		}
		if rep.Batches != int((want+999)/1000) || len(calls) != rep.Batches {
			t.Errorf("%d batches, %d progress calls, want %d", rep.Batches, len(calls), (want+999)/1000)
		}
		for i := 1; i < len(calls); i++ {
			if calls[i].Moved <= calls[i-1].Moved {
				t.Errorf("progress did not advance: %d then %d", calls[i-1].Moved, calls[i].Moved)
			}
		}

		conn := attachForCheck(t, db, dest)
		if got := count(t, conn, `SELECT count(*) FROM main.trades WHERE id < ?`, cutoff); got != 0 {
			t.Errorf("%d old trades are still in the source", got)
		}
		if got := count(t, conn, `SELECT count(*) FROM arc.trades WHERE id >= ?`, cutoff); got != 0 {
			t.Errorf("%d recent trades were archived", got)
		}
		checkExactlyOnce(t, conn, n)

		// The archive table has the source's definition, in a WAL-mode file.
		var srcSQL, dstSQL, mode string
		conn.QueryRowContext(ctx, `SELECT sql FROM main.sqlite_schema WHERE name = 'trades'`).Scan(&srcSQL)
		conn.QueryRowContext(ctx, `SELECT sql FROM arc.sqlite_schema WHERE name = 'trades'`).Scan(&dstSQL)
		conn.QueryRowContext(ctx, `PRAGMA arc.journal_mode`).Scan(&mode)
		if srcSQL == "" || srcSQL != dstSQL {
			t.Errorf("archive table is\n%s\nwant\n%s", dstSQL, srcSQL)
		}
		if mode != "wal" {
			t.Errorf("archive journal mode %q, want wal", mode)
		}

		// Running it again finds nothing more to do.
		rep, err = Archive(ctx, db, ArchivePolicy{Table: "trades", Where: "timestamp < ?", Args: []any{tradeTime(cutoff)}, DestPath: dest})
		if err != nil || rep.Moved != 0 || rep.Copied != 0 {
			t.Errorf("second run: %+v, %v; want nothing moved", rep, err)
		}
	})
}

// TestArchiveMillionRowsWhileInserting archives a million trades while other
// goroutines keep inserting trades (old and new) and updating old ones. It
// runs through the qlsqlite driver with its defaults, as the platform runs:
// every statement of the inserters and updaters under the 30 s default
// deadline, writers queued at the writer gate, Archive's own statements
// under its LongDeadline. (Through the raw driver too it would double the
// package's test time; the raw driver runs every other Archive test.)
func TestArchiveMillionRowsWhileInserting(t *testing.T) {
	testArchiveMillionRows(t, openQL)
}

func testArchiveMillionRows(t *testing.T, openDB opener) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db := openDB(t, src)
	n := int64(1_000_000)
	if raceDetector {
		n = 100_000
	}
	start := time.Now()
	seedTrades(t, db, int(n))
	t.Logf("seeded %d trades in %v", n, time.Since(start))
	dest := filepath.Join(dir, "archive.db")
	cutoff := tradeTime(n + 1) // every seeded trade is older

	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		inserted atomic.Int64
		mu       sync.Mutex
		updates  = map[int64]int64{} // id -> last execution_time_ms written
	)
	// Inserters: a separate pool, as another part of the program would
	// have; ids come from AUTOINCREMENT, so they are all above n. Each
	// writer works at a steady pace (a ticker sets the load, it does not
	// synchronize anything), like the platform's order flow.
	writers := openDB(t, src)
	for w := range 2 {
		wg.Go(func() {
			tick := time.NewTicker(500 * time.Microsecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				// Half the new trades are old enough to be archived too.
				ts := tradeTime(int64(i))
				if i%2 == 1 {
					ts = tradeTime(2 * n)
				}
				res, err := writers.ExecContext(ctx, `INSERT INTO trades (user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms)
					SELECT 'u' || (1 + id % 2), 'SYM' || (id % 500), id, id * 1.5, CASE id % 2 WHEN 0 THEN 'buy' ELSE 'sell' END, ?, 'strat' || (id % 7), ?
					FROM (SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'trades'), 0) + 1 AS id)`, ts, w)
				if err != nil {
					t.Errorf("insert: %v", err)
					return
				}
				if k, _ := res.RowsAffected(); k == 1 {
					inserted.Add(1)
				}
			}
		})
	}
	// An updater changes old trades as they are being archived: an update
	// must never be lost, whichever side of the archival it lands on.
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			id := 1 + (i*7919)%n
			res, err := writers.ExecContext(ctx, `UPDATE trades SET execution_time_ms = ? WHERE id = ?`, 1000+i, id)
			if err != nil {
				t.Errorf("update: %v", err)
				return
			}
			if k, _ := res.RowsAffected(); k == 1 {
				mu.Lock()
				updates[id] = 1000 + i
				mu.Unlock()
			}
		}
	})

	rep, err := Archive(ctx, db, ArchivePolicy{Table: "trades", Where: "timestamp < ?", Args: []any{cutoff}, DestPath: dest, BatchSize: 5000})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("%v (report %+v)", err, rep)
	}
	if rep.Moved < n {
		t.Errorf("moved %d rows, want at least the %d seeded", rep.Moved, n)
	}
	total := n + inserted.Load()
	t.Logf("moved %d rows in %v (%.0f rows/s) while %d were inserted and %d updated; %d copied, %d batches",
		rep.Moved, rep.Elapsed, float64(rep.Moved)/rep.Elapsed.Seconds(), inserted.Load(), len(updates), rep.Copied, rep.Batches)

	start = time.Now()
	defer func() { t.Logf("checked in %v", time.Since(start)) }()
	conn := attachForCheck(t, db, dest)
	checkExactlyOnce(t, conn, total)
	if left := count(t, conn, `SELECT count(*) FROM main.trades WHERE id <= ?`, n); left != 0 {
		t.Errorf("%d seeded trades are still in the source", left)
	}
	var lost int
	for id, v := range updates {
		got := count(t, conn, `SELECT execution_time_ms FROM (SELECT id, execution_time_ms FROM main.trades UNION ALL SELECT id, execution_time_ms FROM arc.trades) WHERE id = ?`, id)
		if got != v {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d updates were lost", lost, len(updates))
	}
}

func TestArchiveCompositeWithoutRowidKey(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "src.db"))
		// The key includes RFC 3339 text, which the driver would turn into a
		// time.Time if it were read back through a DATETIME column.
		mustExec(t, db, `CREATE TABLE ticks (symbol TEXT NOT NULL, ts DATETIME NOT NULL, px REAL, note TEXT COLLATE NOCASE,
		PRIMARY KEY (symbol, ts)) WITHOUT ROWID`)
		mustExec(t, db, `WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 2999)
		INSERT INTO ticks SELECT 'S' || (x % 3), strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + x, 'unixepoch'), x, 'n' || x FROM c`)
		dest := filepath.Join(dir, "archive.db")
		rep, err := Archive(ctx, db, ArchivePolicy{Table: "TICKS", Where: "px < ?", Args: []any{2000}, DestPath: dest, BatchSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Moved != 2000 || rep.Table != "ticks" {
			t.Errorf("report %+v, want 2000 rows of ticks moved", rep)
		}
		conn := attachForCheck(t, db, dest)
		if got := count(t, conn, `SELECT count(*) FROM arc.ticks WHERE px < 2000 AND note = 'n' || CAST(px AS INTEGER)`); got != 2000 {
			t.Errorf("archive holds %d of the 2000 cheap ticks", got)
		}
		if got := count(t, conn, `SELECT count(*) FROM main.ticks WHERE px >= 2000`); got != 1000 {
			t.Errorf("source holds %d ticks, want the 1000 others", got)
		}
		if got := count(t, conn, `SELECT count(*) FROM main.ticks`); got != 1000 {
			t.Errorf("source holds %d ticks, want 1000", got)
		}
	})
}

func TestArchiveTextKeyAndNullKeys(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "src.db"))
		// A TEXT primary key of a rowid table may hold NULL in SQLite.
		mustExec(t, db, `CREATE TABLE accounts (code TEXT PRIMARY KEY, closed INTEGER)`)
		mustExec(t, db, `INSERT INTO accounts VALUES ('b', 1), ('a', 1), ('c', 0), (NULL, 1)`)
		dest := filepath.Join(dir, "archive.db")
		_, err := Archive(ctx, db, ArchivePolicy{Table: "accounts", Where: "closed = 1", DestPath: dest})
		if err == nil || !strings.Contains(err.Error(), "NULL in the primary key") {
			t.Fatalf("err = %v, want a refusal naming the NULL key", err)
		}
		if got := count(t, db, `SELECT count(*) FROM accounts`); got != 4 {
			t.Errorf("source lost rows: %d left", got)
		}
		mustExec(t, db, `DELETE FROM accounts WHERE code IS NULL`)
		rep, err := Archive(ctx, db, ArchivePolicy{Table: "accounts", Where: "closed = 1", DestPath: dest, BatchSize: 1})
		if err != nil || rep.Moved != 2 || rep.Batches != 2 {
			t.Fatalf("report %+v, err %v; want 2 rows moved in 2 batches", rep, err)
		}
		conn := attachForCheck(t, db, dest)
		if got := count(t, conn, `SELECT count(*) FROM arc.accounts WHERE code IN ('a', 'b')`); got != 2 {
			t.Errorf("archive holds %d of accounts a and b", got)
		}
	})
}

func TestArchiveRefusesBadPolicies(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		src := filepath.Join(dir, "src.db")
		db := openDB(t, src)
		seedTrades(t, db, 10)
		mustExec(t, db, `CREATE TABLE logs (line TEXT)`)
		mustExec(t, db, `CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent (id) ON DELETE CASCADE)`)
		dest := filepath.Join(dir, "archive.db")
		ok := ArchivePolicy{Table: "trades", Where: "true", DestPath: dest}
		for _, tc := range []struct {
			name string
			edit func(*ArchivePolicy)
			want string
		}{
			{"empty table", func(p *ArchivePolicy) { p.Table = "" }, "table name is empty"},
			{"missing table", func(p *ArchivePolicy) { p.Table = "nope" }, `"nope": no such table`},
			{"quote in name", func(p *ArchivePolicy) { p.Table = `trades" WHERE 1; --` }, "no such table"},
			{"internal table", func(p *ArchivePolicy) { p.Table = "sqlite_sequence" }, "internal tables"},
			{"no primary key", func(p *ArchivePolicy) { p.Table = "logs" }, "has no PRIMARY KEY"},
			{"cascade", func(p *ArchivePolicy) { p.Table = "parent" }, "ON DELETE CASCADE"},
			{"empty where", func(p *ArchivePolicy) { p.Where = " " }, "Where is empty"},
			{"bad where", func(p *ArchivePolicy) { p.Where = "no_such_column < 3" }, "no such column"},
			{"batch size", func(p *ArchivePolicy) { p.BatchSize = -1 }, "BatchSize -1 is out of range"},
			{"no dest", func(p *ArchivePolicy) { p.DestPath = "" }, "DestPath is empty"},
			{"dest is source", func(p *ArchivePolicy) { p.DestPath = src }, "is the source database itself"},
			{"dest dir missing", func(p *ArchivePolicy) { p.DestPath = filepath.Join(dir, "no", "a.db") }, "does not exist"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := ok
				tc.edit(&p)
				rep, err := Archive(ctx, db, p)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.want)
				}
				if rep.Moved != 0 {
					t.Errorf("moved %d rows", rep.Moved)
				}
			})
		}
		if got := count(t, db, `SELECT count(*) FROM trades`); got != 10 {
			t.Errorf("source holds %d trades, want 10", got)
		}
		if _, err := os.Stat(dest); err == nil {
			// Only the "bad where" case may have got as far as creating it.
			if got := count(t, attachForCheck(t, db, dest), `SELECT count(*) FROM arc.trades`); got != 0 {
				t.Errorf("archive holds %d rows", got)
			}
		}
	})
}

func TestArchiveDryRun(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "src.db"))
		seedTrades(t, db, 500)
		dest := filepath.Join(dir, "archive.db")
		rep, err := Archive(context.Background(), db, ArchivePolicy{Table: "trades", Where: "id <= ?", Args: []any{123}, DestPath: dest, DryRun: true})
		if err != nil || rep.Total != 123 || rep.Moved != 0 || !rep.DryRun {
			t.Fatalf("report %+v, err %v; want Total 123 and nothing moved", rep, err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dry run created the archive (stat: %v)", err)
		}
		if got := count(t, db, `SELECT count(*) FROM trades`); got != 500 {
			t.Errorf("dry run changed the source: %d trades", got)
		}
	})
}

// TestArchiveKeyReuseIsAConflict archives a row, lets the source hand its
// key to a new, different row, and archives again: the new row must stay.
func TestArchiveKeyReuseIsAConflict(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "src.db"))
		mustExec(t, db, `CREATE TABLE jobs (id INTEGER PRIMARY KEY, what TEXT, done INTEGER)`)
		mustExec(t, db, `INSERT INTO jobs VALUES (1, 'first', 1), (2, 'second', 1)`)
		dest := filepath.Join(dir, "archive.db")
		p := ArchivePolicy{Table: "jobs", Where: "done = 1", DestPath: dest}
		if rep, err := Archive(ctx, db, p); err != nil || rep.Moved != 2 {
			t.Fatalf("first archival: %+v, %v", rep, err)
		}
		// Without AUTOINCREMENT, an emptied table hands out rowid 1 again.
		res := mustExec(t, db, `INSERT INTO jobs (what, done) VALUES ('third', 1)`)
		if id, _ := res.LastInsertId(); id != 1 {
			t.Fatalf("new row got id %d, the test needs a reused id 1", id)
		}
		mustExec(t, db, `INSERT INTO jobs VALUES (5, 'fifth', 1)`)

		rep, err := Archive(ctx, db, p)
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "first key: 1") {
			t.Fatalf("err = %v, want ErrConflict naming key 1", err)
		}
		if rep.Conflicts != 1 || rep.Moved != 1 {
			t.Errorf("report %+v, want 1 conflict and row 5 moved", rep)
		}
		conn := attachForCheck(t, db, dest)
		var src, arc string
		conn.QueryRowContext(ctx, `SELECT what FROM main.jobs WHERE id = 1`).Scan(&src)
		conn.QueryRowContext(ctx, `SELECT what FROM arc.jobs WHERE id = 1`).Scan(&arc)
		if src != "third" || arc != "first" {
			t.Errorf("id 1 is %q in the source and %q in the archive, want third and first", src, arc)
		}
		if got := count(t, conn, `SELECT count(*) FROM arc.jobs WHERE id = 5 AND what = 'fifth'`); got != 1 {
			t.Errorf("row 5 was not archived")
		}
	})
}

// TestArchiveUpdateBetweenCopyAndDelete updates a row after its batch was
// copied and before the delete: the update must reach the archive.
func TestArchiveUpdateBetweenCopyAndDelete(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		src := filepath.Join(dir, "src.db")
		db := openDB(t, src)
		seedTrades(t, db, 100)
		other := openDB(t, src)
		dest := filepath.Join(dir, "archive.db")
		p := ArchivePolicy{Table: "trades", Where: "id <= 50", DestPath: dest, BatchSize: 20}
		p.hook = func(phase string, batch int) {
			if phase == "copied" && batch == 2 {
				mustExec(t, other, `UPDATE trades SET execution_time_ms = -1 WHERE id = 30`)
			}
		}
		rep, err := Archive(ctx, db, p)
		if err != nil || rep.Moved != 50 || rep.Conflicts != 0 {
			t.Fatalf("report %+v, err %v; want 50 moved, no conflict", rep, err)
		}
		conn := attachForCheck(t, db, dest)
		if got := count(t, conn, `SELECT execution_time_ms FROM arc.trades WHERE id = 30`); got != -1 {
			t.Errorf("archived trade 30 has execution_time_ms %d, want the update (-1)", got)
		}
		checkExactlyOnce(t, conn, 100)
	})
}

// TestArchiveLeavesConnectionClean runs archivals that succeed, fail and are
// cancelled on a pool of one connection, and checks that the connection
// comes back with nothing attached and foreign keys on.
func TestArchiveLeavesConnectionClean(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "src.db"))
		db.SetMaxOpenConns(1)
		seedTrades(t, db, 100)
		dest := filepath.Join(dir, "archive.db")
		clean := func(when string) {
			t.Helper()
			if n := count(t, db, `SELECT count(*) FROM pragma_database_list WHERE name NOT IN ('main', 'temp')`); n != 0 {
				t.Errorf("%s: %d databases still attached", when, n)
			}
			if fk := count(t, db, `PRAGMA foreign_keys`); fk != 1 {
				t.Errorf("%s: foreign_keys = %d, want 1", when, fk)
			}
		}

		if _, err := Archive(context.Background(), db, ArchivePolicy{Table: "trades", Where: "id <= 10", DestPath: dest}); err != nil {
			t.Fatal(err)
		}
		clean("after success")

		// users are still referenced by trades: the delete fails on the
		// foreign key, after the copy.
		_, err := Archive(context.Background(), db, ArchivePolicy{Table: "users", Where: "true", DestPath: dest})
		if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY constraint failed") {
			t.Fatalf("err = %v, want the foreign key failure", err)
		}
		if got := count(t, db, `SELECT count(*) FROM users`); got != 2 {
			t.Errorf("%d users left, want 2", got)
		}
		clean("after a failure")

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := ArchivePolicy{Table: "trades", Where: "true", DestPath: dest, BatchSize: 10}
		p.hook = func(phase string, batch int) {
			if phase == "copied" && batch == 3 {
				cancel()
			}
		}
		rep, err := Archive(ctx, db, p)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		clean("after cancellation")
		conn := attachForCheck(t, db, dest)
		checkNoneLost(t, conn, 100)
		if rep.Moved != 20 {
			t.Errorf("moved %d before the cancellation, want the 20 of batches 1 and 2", rep.Moved)
		}
	})
}

func TestArchiveIntoExistingTable(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "src.db"))
		mustExec(t, db, `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT, c AS (a || b))`)
		mustExec(t, db, `INSERT INTO t (id, a, b) VALUES (1, 'x', 'y'), (2, 'z', 'w')`)

		// An archive table missing a column is refused.
		bad := filepath.Join(dir, "bad.db")
		bdb := openDB(t, bad)
		mustExec(t, bdb, `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)`)
		bdb.Close()
		_, err := Archive(ctx, db, ArchivePolicy{Table: "t", Where: "true", DestPath: bad})
		if err == nil || !strings.Contains(err.Error(), "has no column b") {
			t.Fatalf("err = %v, want a missing column named", err)
		}

		// One with the same key and more columns is used as it is; the
		// generated column is computed there, not copied.
		good := filepath.Join(dir, "good.db")
		gdb := openDB(t, good)
		mustExec(t, gdb, `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT, c AS (a || b), archived_at TEXT DEFAULT 'then')`)
		gdb.Close()
		rep, err := Archive(ctx, db, ArchivePolicy{Table: "t", Where: "true", DestPath: good})
		if err != nil || rep.Moved != 2 {
			t.Fatalf("report %+v, err %v", rep, err)
		}
		conn := attachForCheck(t, db, good)
		if got := count(t, conn, `SELECT count(*) FROM arc.t WHERE c = a || b AND archived_at = 'then'`); got != 2 {
			t.Errorf("archive rows are not as expected (%d good)", got)
		}
	})
}

// TestArchiveReleasesWriteLockBetweenBatches writes from another connection
// with no busy timeout between batches: it must never find the lock held.
func TestArchiveReleasesWriteLockBetweenBatches(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		dir := t.TempDir()
		src := filepath.Join(dir, "src.db")
		db := openDB(t, src)
		seedTrades(t, db, 2000)
		impatient := openDSN(t, "file:"+src+"?_pragma=busy_timeout(0)")
		var writes int
		_, err := Archive(context.Background(), db, ArchivePolicy{
			Table: "trades", Where: "id <= 1500", DestPath: filepath.Join(dir, "archive.db"), BatchSize: 100,
			Progress: func(ArchiveReport) {
				if _, err := impatient.Exec(`UPDATE trades SET execution_time_ms = 7 WHERE id = 2000`); err != nil {
					t.Errorf("write between batches: %v", err)
				}
				writes++
			},
		})
		if err != nil || writes != 15 {
			t.Fatalf("err %v, %d writes between batches, want 15", err, writes)
		}
	})
}

// cancelOnceExists is a context that is cancelled as soon as file exists:
// its Err is what SQLite polls. Its parent must have a deadline, or Archive
// wraps it in one whose Err is its own.
type cancelOnceExists struct {
	context.Context
	file string
}

func (c cancelOnceExists) Err() error {
	if _, err := os.Stat(c.file); err == nil {
		return context.Canceled
	}
	return nil
}

// TestArchiveCancelledAfterAttachDetaches: an Archive stopped right after
// ATTACH (the file it creates cancels the context) still detaches, so the
// pooled connection can archive again.
func TestArchiveCancelledAfterAttachDetaches(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "src.db"))
		db.SetMaxOpenConns(1) // both runs get the same connection
		seedTrades(t, db, 100)
		dest := filepath.Join(dir, "archive.db")
		p := ArchivePolicy{Table: "trades", Where: "id <= 50", DestPath: dest}

		parent, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ctx := cancelOnceExists{Context: parent, file: dest}
		if _, err := Archive(ctx, db, p); err == nil {
			t.Fatal("Archive under a context cancelled after ATTACH: no error")
		}
		rep, err := Archive(context.Background(), db, p)
		if err != nil || rep.Moved != 50 {
			t.Fatalf("Archive again on the same connection: moved %d, %v", rep.Moved, err)
		}
	})
}
