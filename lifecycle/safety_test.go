package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests of this file each try to lose or silently change a row through
// Archive with ordinary application behaviour (issue 20): a key reused by a
// late insert, a destination that is no durable file, an archive table of
// another shape, a column added or a row updated while the run goes on.

// seedJobs creates jobs(id INTEGER PRIMARY KEY, what, done): an id without
// AUTOINCREMENT, which SQLite hands out again once the highest rows are
// deleted. Rows 1..n are done and named "job <id>".
func seedJobs(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	mustExec(t, db, `CREATE TABLE jobs (id INTEGER PRIMARY KEY, what TEXT NOT NULL, done INTEGER NOT NULL)`)
	mustExec(t, db, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
		INSERT INTO jobs SELECT x, 'job ' || x, 1 FROM c`, n)
}

// jobPlaces returns, for every job name, the files it is in: "main",
// "arc", or both, in that order.
func jobPlaces(t testing.TB, conn *sql.Conn) map[string][]string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(),
		`SELECT what, 'main' FROM main.jobs UNION ALL SELECT what, 'arc' FROM arc.jobs ORDER BY 2 DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	places := map[string][]string{}
	for rows.Next() {
		var what, where string
		if err := rows.Scan(&what, &where); err != nil {
			t.Fatal(err)
		}
		places[what] = append(places[what], where)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return places
}

// checkJobsOnce checks that each of names is in exactly one of the files.
func checkJobsOnce(t testing.TB, conn *sql.Conn, names []string) {
	t.Helper()
	places := jobPlaces(t, conn)
	lost, twice := 0, 0
	for _, name := range names {
		switch len(places[name]) {
		case 0:
			lost++
			if lost <= 3 {
				t.Errorf("%s is in neither the source nor the archive", name)
			}
		case 1:
		default:
			twice++
			t.Errorf("%s is in %v", name, places[name])
		}
	}
	if lost > 0 || twice > 0 {
		t.Errorf("%d of %d jobs lost, %d in both files", lost, len(names), twice)
	}
}

func jobNames(n int, extra ...string) []string {
	names := make([]string, 0, n+len(extra))
	for i := 1; i <= n; i++ {
		names = append(names, fmt.Sprintf("job %d", i))
	}
	return append(names, extra...)
}

// TestArchiveLateInsertWithReusedKey: right after a batch's delete the
// application inserts a row, and SQLite hands it a freed id. That row is a
// conflict, kept in the source; the archived original is not overwritten.
func TestArchiveLateInsertWithReusedKey(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		src := filepath.Join(dir, "src.db")
		db := openDB(t, src)
		seedJobs(t, db, 20)
		app := openDB(t, src)
		dest := filepath.Join(dir, "archive.db")
		p := ArchivePolicy{Table: "jobs", Where: "done = 1", DestPath: dest, BatchSize: 20}
		var lateID int64
		p.hook = func(phase string, batch int) {
			if phase == "deleted" && batch == 1 && lateID == 0 {
				res := mustExec(t, app, `INSERT INTO jobs (what, done) VALUES ('late', 1)`)
				lateID, _ = res.LastInsertId()
			}
		}
		rep, err := Archive(ctx, db, p)
		if lateID != 1 {
			t.Fatalf("the late row got id %d: the test needs the reused id 1", lateID)
		}
		if !errors.Is(err, ErrConflict) || rep.Conflicts != 1 || rep.Moved != 20 {
			t.Errorf("report %+v, err %v; want the 20 jobs moved and the late row a conflict", rep, err)
		}
		conn := attachForCheck(t, db, dest)
		checkJobsOnce(t, conn, jobNames(20, "late"))
		if got := jobPlaces(t, conn)["late"]; !slices.Equal(got, []string{"main"}) {
			t.Errorf("the late row is in %v, want the source", got)
		}
		if got := count(t, conn, `SELECT count(*) FROM arc.jobs WHERE id = 1 AND what = 'job 1'`); got != 1 {
			t.Errorf("the archived job 1 was overwritten")
		}
		// The next run finds the same conflict: the late row's key is in
		// the archive, its content is not.
		p.hook = nil
		rep, err = Archive(ctx, db, p)
		if !errors.Is(err, ErrConflict) || rep.Conflicts != 1 || rep.Moved != 0 {
			t.Errorf("second run: report %+v, err %v; want the late row a conflict again", rep, err)
		}
		checkJobsOnce(t, conn, jobNames(20, "late"))
	})
}

// TestArchiveWithInserterLosesNothing archives a small table again and
// again while the application inserts a row that matches too every
// millisecond, with no hook, as in issue 20: whatever the interleaving,
// every row ends in exactly one file. An insert right after the batch's
// delete has emptied the table gets id 1 again, which the batch's range
// holds (a ticker sets the pace; it synchronizes nothing).
func TestArchiveWithInserterLosesNothing(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		const trials, rows, inserts = 40, 20, 50
		var conflicts, unsettled int64
		for trial := range trials {
			dir := t.TempDir()
			src := filepath.Join(dir, "src.db")
			db := openDB(t, src)
			seedJobs(t, db, rows)
			app := openDB(t, src)
			dest := filepath.Join(dir, "archive.db")

			stop := make(chan struct{})
			var wg sync.WaitGroup
			var late []string
			wg.Go(func() {
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for i := range inserts {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					name := fmt.Sprintf("late %d", i)
					if _, err := app.Exec(`INSERT INTO jobs (what, done) VALUES (?, 1)`, name); err != nil {
						t.Errorf("insert: %v", err)
						return
					}
					late = append(late, name)
				}
			})
			rep, err := Archive(context.Background(), db, ArchivePolicy{Table: "jobs", Where: "done = 1", DestPath: dest})
			close(stop)
			wg.Wait()
			if err != nil && !errors.Is(err, ErrConflict) {
				t.Fatalf("trial %d: %v", trial, err)
			}
			conflicts += rep.Conflicts
			unsettled += rep.Unsettled
			conn := attachForCheck(t, db, dest)
			checkJobsOnce(t, conn, jobNames(rows, late...))
			if t.Failed() {
				t.Fatalf("trial %d (%d rows inserted meanwhile): %+v", trial, len(late), rep)
			}
			// The next scheduled run finds the late rows that got a
			// reused id beside the archived originals: conflicts, which
			// must neither overwrite the originals nor leave the source.
			rerun, err := Archive(context.Background(), db, ArchivePolicy{Table: "jobs", Where: "done = 1", DestPath: dest})
			if err != nil && !errors.Is(err, ErrConflict) {
				t.Fatalf("trial %d, second run: %v", trial, err)
			}
			checkJobsOnce(t, conn, jobNames(rows, late...))
			if t.Failed() {
				t.Fatalf("trial %d, second run (%d rows inserted during the first): %+v", trial, len(late), rerun)
			}
			conn.Close()
			db.Close()
			app.Close()
		}
		t.Logf("%d trials: %d conflicts, %d rows unsettled", trials, conflicts, unsettled)
	})
}

// TestArchiveQueueRefilledWhenDrained: a worker watches the queue and
// inserts a job as soon as it finds it empty, as a queue that refills
// itself does, with no hook. Its job gets id 1, the id of an archived job,
// during the run or right after it; the next scheduled run then finds a
// copy in the archive that differs from the source row: a conflict, which
// must neither overwrite the archived job nor delete the new one. (The
// ticker above inserts whether or not the queue is empty, and so rarely
// gets a reused id; this worker always does.)
func TestArchiveQueueRefilledWhenDrained(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		const trials, rows = 10, 20
		for trial := range trials {
			dir := t.TempDir()
			src := filepath.Join(dir, "src.db")
			db := openDB(t, src)
			seedJobs(t, db, rows)
			app := openDB(t, src)
			dest := filepath.Join(dir, "archive.db")

			stop := make(chan struct{})
			var wg sync.WaitGroup
			var late []string
			var lateID int64
			refill := func() bool { // on the worker's goroutine: no t.Fatal
				var n int64
				if err := app.QueryRow(`SELECT count(*) FROM jobs`).Scan(&n); err != nil || n > 0 {
					if err != nil {
						t.Errorf("counting jobs: %v", err)
						return true
					}
					return false
				}
				name := fmt.Sprintf("late %d", len(late))
				res, err := app.Exec(`INSERT INTO jobs (what, done) VALUES (?, 1)`, name)
				if err != nil {
					t.Errorf("insert: %v", err)
					return true
				}
				lateID, _ = res.LastInsertId()
				late = append(late, name)
				return true
			}
			wg.Go(func() {
				tick := time.NewTicker(100 * time.Microsecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						if len(late) == 0 {
							refill() // the queue drained just as the run ended
						}
						return
					case <-tick.C:
					}
					if refill() {
						return
					}
				}
			})
			rep, err := Archive(context.Background(), db, ArchivePolicy{Table: "jobs", Where: "done = 1", DestPath: dest})
			close(stop)
			wg.Wait()
			if err != nil && !errors.Is(err, ErrConflict) {
				t.Fatalf("trial %d: %v", trial, err)
			}
			if len(late) != 1 || lateID != 1 {
				t.Fatalf("trial %d: the worker inserted %d jobs, the last with id %d; the test needs one, with the reused id 1", trial, len(late), lateID)
			}
			rerun, err := Archive(context.Background(), db, ArchivePolicy{Table: "jobs", Where: "done = 1", DestPath: dest})
			if !errors.Is(err, ErrConflict) || rerun.Conflicts != 1 || rerun.Moved != 0 {
				t.Errorf("trial %d, second run: %+v, %v; want the refilled job a conflict", trial, rerun, err)
			}
			conn := attachForCheck(t, db, dest)
			checkJobsOnce(t, conn, jobNames(rows, late...))
			if got := jobPlaces(t, conn)[late[0]]; !slices.Equal(got, []string{"main"}) {
				t.Errorf("trial %d: the refilled job is in %v, want the source", trial, got)
			}
			if t.Failed() {
				t.Fatalf("trial %d: first run %+v", trial, rep)
			}
			conn.Close()
			db.Close()
			app.Close()
		}
	})
}

// TestArchiveRefusesDestinationsThatAreNoFile: an in-memory database, or
// the source under another name, must be refused before anything is
// deleted.
func TestArchiveRefusesDestinationsThatAreNoFile(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		dir := t.TempDir()
		t.Chdir(dir)
		src := filepath.Join(dir, "src.db")
		db := openDB(t, src)
		seedJobs(t, db, 50)
		if err := os.Symlink(src, filepath.Join(dir, "link.db")); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ dest, want string }{
			{":memory:", "in-memory or temporary database"},
			{"file:" + filepath.Join(dir, "arc.db") + "?mode=memory", "in-memory or temporary database"},
			{"file:arc.db?mode=memory&cache=shared", "in-memory or temporary database"},
			{"file:src.db", "is the source database itself"},
			{"file:" + src, "is the source database itself"},
			{"file:./src.db?cache=private", "is the source database itself"},
			{"link.db", "is the source database itself"},
		} {
			rep, err := Archive(context.Background(), db, ArchivePolicy{Table: "jobs", Where: "true", DestPath: tc.dest})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "pass") {
				t.Errorf("DestPath %q: err = %v, want it to say %q and what to pass instead", tc.dest, err, tc.want)
			}
			if rep.Moved != 0 {
				t.Errorf("DestPath %q: moved %d rows", tc.dest, rep.Moved)
			}
			if got := count(t, db, `SELECT count(*) FROM jobs`); got != 50 {
				t.Fatalf("DestPath %q: %d of 50 jobs left in the source", tc.dest, got)
			}
		}
		// A file that is neither works, also given as a relative URI.
		rep, err := Archive(context.Background(), db, ArchivePolicy{Table: "jobs", Where: "id <= 10", DestPath: "file:arc.db"})
		if err != nil || rep.Moved != 10 {
			t.Fatalf("archiving into file:arc.db: %+v, %v", rep, err)
		}
		checkJobsOnce(t, attachForCheck(t, db, filepath.Join(dir, "arc.db")), jobNames(50))
	})
}

// TestArchiveRefusesArchiveTableOfAnotherShape: an archive table whose
// columns convert or compare values differently from the source's must be
// refused, naming the column, with every source row kept.
func TestArchiveRefusesArchiveTableOfAnotherShape(t *testing.T) {
	for _, tc := range []struct {
		name, source, archive, rows, want string
	}{
		{"integer zip", `CREATE TABLE addr (id INTEGER PRIMARY KEY, zip TEXT)`,
			`CREATE TABLE addr (id INTEGER PRIMARY KEY, zip INTEGER)`,
			`INSERT INTO addr VALUES (1, '02134'), (2, '007')`, "column zip of table addr is TEXT"},
		{"numeric long digits", `CREATE TABLE addr (id INTEGER PRIMARY KEY, zip TEXT)`,
			`CREATE TABLE addr (id INTEGER PRIMARY KEY, zip NUMERIC)`,
			`INSERT INTO addr VALUES (1, '12345678901234567890123')`, "column zip"},
		{"untyped archive column", `CREATE TABLE addr (id INTEGER PRIMARY KEY, zip TEXT)`,
			`CREATE TABLE addr (id INTEGER PRIMARY KEY, zip)`,
			`INSERT INTO addr VALUES (1, 1)`, "column zip"},
		{"nocase key", `CREATE TABLE addr (code TEXT PRIMARY KEY, zip TEXT) WITHOUT ROWID`,
			`CREATE TABLE addr (code TEXT COLLATE NOCASE PRIMARY KEY, zip TEXT) WITHOUT ROWID`,
			`INSERT INTO addr VALUES ('ABC', 'a'), ('abc', 'b')`, "column code of table addr"},
		{"nocase key constraint", `CREATE TABLE addr (code TEXT, zip TEXT, PRIMARY KEY (code))`,
			`CREATE TABLE addr (code TEXT, zip TEXT, PRIMARY KEY (code COLLATE NOCASE))`,
			`INSERT INTO addr VALUES ('ABC', 'a'), ('abc', 'b')`, "the primary key of table addr compares column code with collation BINARY"},
		{"rtrim column", `CREATE TABLE addr (id INTEGER PRIMARY KEY, zip TEXT)`,
			`CREATE TABLE addr (id INTEGER PRIMARY KEY, zip TEXT COLLATE RTRIM)`,
			`INSERT INTO addr VALUES (1, 'x ')`, "collation RTRIM"},
		{"other key", `CREATE TABLE addr (id INTEGER PRIMARY KEY, zip TEXT)`,
			`CREATE TABLE addr (id INTEGER, zip TEXT, PRIMARY KEY (zip))`,
			`INSERT INTO addr VALUES (1, 'x')`, "primary key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachDriver(t, func(t *testing.T, openDB opener) {
				dir := t.TempDir()
				db := openDB(t, filepath.Join(dir, "src.db"))
				mustExec(t, db, tc.source)
				mustExec(t, db, tc.rows)
				before := count(t, db, `SELECT count(*) FROM addr`)
				dest := filepath.Join(dir, "archive.db")
				adb := openDB(t, dest)
				mustExec(t, adb, tc.archive)
				adb.Close()
				rep, err := Archive(context.Background(), db, ArchivePolicy{Table: "addr", Where: "true", DestPath: dest})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want it to contain %q", err, tc.want)
				}
				if got := count(t, db, `SELECT count(*) FROM addr`); got != before || rep.Moved != 0 {
					t.Errorf("%d of %d rows left in the source, %d moved", got, before, rep.Moved)
				}
				if got := count(t, attachForCheck(t, db, dest), `SELECT count(*) FROM arc.addr`); got != 0 {
					t.Errorf("%d rows were copied into the archive", got)
				}
			})
		})
	}
}

// TestArchiveCreatesTableOfTheSourcesShape: a table Archive creates keeps
// the source's types, collations and key, so values keep their form.
func TestArchiveCreatesTableOfTheSourcesShape(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "src.db"))
		mustExec(t, db, `CREATE TABLE addr (code TEXT, zip TEXT COLLATE NOCASE, n NUMERIC, b, PRIMARY KEY (code COLLATE RTRIM)) WITHOUT ROWID`)
		mustExec(t, db, `INSERT INTO addr VALUES ('a', '02134', '1.0', 1), ('b', '007', 20, 1.0), ('c ', 'X', '12345678901234567890123', x'00')`)
		dest := filepath.Join(dir, "archive.db")
		rep, err := Archive(context.Background(), db, ArchivePolicy{Table: "addr", Where: "true", DestPath: dest})
		if err != nil || rep.Moved != 3 {
			t.Fatalf("%+v, %v", rep, err)
		}
		conn := attachForCheck(t, db, dest)
		got := count(t, conn, `SELECT count(*) FROM arc.addr WHERE
			(code, zip, typeof(n), n, typeof(b), quote(b)) IN (VALUES ('a', '02134', 'integer', 1, 'integer', '1'), ('b', '007', 'integer', 20, 'real', '1.0'), ('c ', 'X', 'real', 1.2345678901234568e+22, 'blob', 'X''00'''))`)
		if got != 3 {
			t.Errorf("%d of 3 rows archived with their values as stored", got)
		}
		if got := count(t, conn, `SELECT count(*) FROM arc.addr WHERE zip = 'x'`); got != 1 {
			t.Errorf("the archive's column collation differs from the source's")
		}
		var keyColl string
		err = conn.QueryRowContext(context.Background(), `SELECT group_concat(x.coll) FROM pragma_index_list('addr', 'arc') AS l,
			pragma_index_xinfo(l.name, 'arc') AS x WHERE l.origin = 'pk' AND x.key`).Scan(&keyColl)
		if err != nil || keyColl != "RTRIM" {
			t.Errorf("the archive's key collates with %q (%v), want RTRIM", keyColl, err)
		}
	})
}

// TestArchiveStopsWhenTheSourceGainsAColumn: another connection adds a
// column to the source (and fills it) while the archival runs. No row may
// lose that column's value: Archive stops before deleting anything more.
func TestArchiveStopsWhenTheSourceGainsAColumn(t *testing.T) {
	for _, at := range []string{"deleted", "copied"} {
		t.Run("after "+at, func(t *testing.T) {
			forEachDriver(t, func(t *testing.T, openDB opener) {
				dir := t.TempDir()
				src := filepath.Join(dir, "src.db")
				db := openDB(t, src)
				seedTrades(t, db, 1000)
				app := openDB(t, src)
				dest := filepath.Join(dir, "archive.db")
				p := ArchivePolicy{Table: "trades", Where: "true", DestPath: dest, BatchSize: 100}
				var withVenue int64 // the rows given a venue; the archive has no room for it
				p.hook = func(phase string, batch int) {
					if phase == at && batch == 2 {
						mustExec(t, app, `ALTER TABLE trades ADD COLUMN venue TEXT`)
						withVenue, _ = mustExec(t, app, `UPDATE trades SET venue = 'XNYS-' || id`).RowsAffected()
					}
				}
				rep, err := Archive(context.Background(), db, p)
				if err == nil || !strings.Contains(err.Error(), "column venue was added") {
					t.Errorf("err = %v, want it to say that column venue was added", err)
				}
				conn := attachForCheck(t, db, dest)
				checkExactlyOnce(t, conn, 1000)
				inSource := count(t, conn, `SELECT count(*) FROM main.trades`)
				// Every row given a venue must keep it: none may be deleted
				// from the source after the ALTER, not even the rows of the
				// batch copied just before it.
				if got := count(t, conn, `SELECT count(*) FROM main.trades WHERE venue = 'XNYS-' || id`); got != inSource || inSource != withVenue || inSource < 800 {
					t.Errorf("%d rows in the source, %d with their venue; want the %d rows given a venue, all with it", inSource, got, withVenue)
				}
				if rep.Moved != 1000-inSource {
					t.Errorf("report says %d moved, the source lost %d", rep.Moved, 1000-inSource)
				}
			})
		})
	}
}

// TestArchiveUpdateThatStopsMatching: a row updated between its batch's
// copy and delete so that it no longer matches Where must end in the
// source only, with the update; not in both files.
func TestArchiveUpdateThatStopsMatching(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		dir := t.TempDir()
		src := filepath.Join(dir, "src.db")
		db := openDB(t, src)
		seedTrades(t, db, 100)
		app := openDB(t, src)
		dest := filepath.Join(dir, "archive.db")
		p := ArchivePolicy{Table: "trades", Where: "timestamp < ?", Args: []any{tradeTime(51)}, DestPath: dest, BatchSize: 20}
		p.hook = func(phase string, batch int) {
			if phase == "copied" && batch == 1 {
				mustExec(t, app, `UPDATE trades SET timestamp = ?, execution_time_ms = -1 WHERE id = 10`, tradeTime(1000))
			}
		}
		rep, err := Archive(context.Background(), db, p)
		if err != nil || rep.Moved != 49 || rep.Copied != 49 {
			t.Errorf("report %+v, err %v; want 49 moved and copied", rep, err)
		}
		conn := attachForCheck(t, db, dest)
		checkExactlyOnce(t, conn, 100)
		if got := count(t, conn, `SELECT count(*) FROM main.trades WHERE id = 10 AND execution_time_ms = -1`); got != 1 {
			t.Errorf("trade 10 is not in the source with its update")
		}
	})
}

// changingRowRig opens 100 trades with two connections: db archives trades
// 1 to 50 in batches of 20 by the policy returned, while app changes rows
// from p.hook.
func changingRowRig(t *testing.T, openDB opener) (db, app *sql.DB, p ArchivePolicy) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db = openDB(t, src)
	seedTrades(t, db, 100)
	app = openDB(t, src)
	return db, app, ArchivePolicy{Table: "trades", Where: "id <= 50", DestPath: filepath.Join(dir, "archive.db"), BatchSize: 20}
}

// TestArchiveRowThatKeepsChanging: a row changed between copy and delete
// in every attempt of its batch stays in the source only, reported as
// unsettled; the update is never lost.
func TestArchiveRowThatKeepsChanging(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		db, app, p := changingRowRig(t, openDB)
		dest := p.DestPath
		updates := 0
		p.hook = func(phase string, batch int) {
			if phase == "copied" && batch == 2 {
				updates++
				mustExec(t, app, `UPDATE trades SET execution_time_ms = ? WHERE id = 30`, -updates)
			}
		}
		rep, err := Archive(context.Background(), db, p)
		if err != nil || rep.Moved != 49 || rep.Unsettled != 1 || rep.Conflicts != 0 || rep.Copied != 49 {
			t.Fatalf("report %+v, err %v; want 49 moved and trade 30 unsettled", rep, err)
		}
		conn := attachForCheck(t, db, dest)
		checkExactlyOnce(t, conn, 100)
		if got := count(t, conn, `SELECT execution_time_ms FROM main.trades WHERE id = 30`); got != -int64(updates) || updates != 3 { // maxAttempts, as documented
			t.Errorf("trade 30 has execution_time_ms %d after %d updates", got, updates)
		}
		// Once it settles, the next run archives it.
		rep, err = Archive(context.Background(), db, ArchivePolicy{Table: "trades", Where: "id <= 50", DestPath: dest})
		if err != nil || rep.Moved != 1 {
			t.Fatalf("rerun: %+v, %v", rep, err)
		}
	})
}

// TestArchiveRowChangedOnceIsMovedOnRetry: a row changed between copy and
// delete in its batch's first attempt only is copied again, with the
// change, in the next attempt and moved: nothing is left unsettled.
func TestArchiveRowChangedOnceIsMovedOnRetry(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		db, app, p := changingRowRig(t, openDB)
		dest := p.DestPath
		changed := false
		p.hook = func(phase string, batch int) {
			if phase == "copied" && batch == 2 && !changed {
				changed = true
				mustExec(t, app, `UPDATE trades SET execution_time_ms = -7 WHERE id = 30`)
			}
		}
		rep, err := Archive(context.Background(), db, p)
		if err != nil || rep.Moved != 50 || rep.Unsettled != 0 || rep.Copied != 50 {
			t.Fatalf("report %+v, err %v; want all 50 moved, trade 30 on its batch's second attempt", rep, err)
		}
		conn := attachForCheck(t, db, dest)
		checkExactlyOnce(t, conn, 100)
		if got := count(t, conn, `SELECT execution_time_ms FROM arc.trades WHERE id = 30`); got != -7 {
			t.Errorf("trade 30 is archived with execution_time_ms %d, not its update", got)
		}
	})
}

// TestBeforeComparesInTheColumnsFormat purges by a time cutoff columns that
// keep their times as Unix seconds, milliseconds, microseconds and
// nanoseconds, Julian days and mixed ISO-8601 text: each must lose its 70
// old rows only. Compared as text, as "qlsqlite purge -before" did, an
// integer column loses every row (the control below).
func TestBeforeComparesInTheColumnsFormat(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	cutoff := now.Add(-30 * 24 * time.Hour)
	seed := func(t *testing.T) *sql.DB {
		db := openDB(t, filepath.Join(t.TempDir(), "src.db"))
		mustExec(t, db, `CREATE TABLE ev (id INTEGER PRIMARY KEY, s INTEGER, ms INTEGER, us INTEGER, ns INTEGER, jd REAL, iso TEXT, dt DATETIME)`)
		plus2 := time.FixedZone("+02:00", 2*3600)
		for x := range 100 {
			at := now.Add(-time.Duration(x)*24*time.Hour - time.Hour) // x days and an hour old
			iso := [...]string{
				at.Format(time.DateTime),
				at.Format("2006-01-02T15:04:05Z"),
				at.In(plus2).Format("2006-01-02T15:04:05.000-07:00"),
				at.Format("2006-01-02 15:04:05.000000"),
			}[x%4]
			mustExec(t, db, `INSERT INTO ev VALUES (?, ?, ?, ?, ?, julianday(?), ?, ?)`, x, at.Unix(), at.UnixMilli(), at.UnixMicro(), at.UnixNano(),
				at.Format(time.DateTime), iso, at.Format(time.DateTime))
		}
		return db
	}
	for _, tc := range []struct {
		column string
		format TimeFormat
	}{
		{"s", TimeUnix}, {"ms", TimeUnixMilli}, {"us", TimeUnixMicro}, {"ns", TimeUnixNano},
		{"jd", TimeJulianDay}, {"iso", TimeText}, {"dt", TimeText},
	} {
		t.Run(tc.column, func(t *testing.T) {
			db := seed(t)
			c, err := Before(ctx, db, "ev", tc.column, cutoff)
			if err != nil || c.Format != tc.format {
				t.Fatalf("Before: %+v, %v; want format %s", c, err, tc.format)
			}
			rep, err := PurgeWith(ctx, db, PurgePolicy{Table: "ev", Where: c.Where, Args: c.Args, DryRun: true})
			if err != nil || rep.Total != 70 || rep.Deleted != 0 {
				t.Errorf("dry run: %+v, %v; want 70 matching, none deleted", rep, err)
			}
			n, err := Purge(ctx, db, "ev", c.Where, c.Args, 7)
			if err != nil || n != 70 {
				t.Errorf("purged %d, %v; want 70", n, err)
			}
			if got := count(t, db, `SELECT count(*) FROM ev WHERE id < 30`); got != 30 || count(t, db, `SELECT count(*) FROM ev`) != 30 {
				t.Errorf("the 30 young rows are not exactly what is left (%d of them left)", got)
			}
		})
	}
	t.Run("control: a text cutoff on Unix seconds", func(t *testing.T) {
		db := seed(t)
		n, err := Purge(ctx, db, "ev", "s < ?", []any{cutoff.Format(time.DateTime)}, 0)
		if err != nil || n != 100 {
			t.Errorf("purged %d, %v: the control should show every row matching", n, err)
		}
	})
}

// TestBeforeRefusesWhatIsNoTime: a column whose values Before cannot read
// as times of one format is refused, saying what it holds.
func TestBeforeRefusesWhatIsNoTime(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "src.db"))
	mustExec(t, db, `CREATE TABLE ev (id INTEGER PRIMARY KEY, mixed, units INTEGER, zero INTEGER, junk TEXT, b BLOB, empty INTEGER)`)
	mustExec(t, db, `INSERT INTO ev VALUES (1, 1700000000, 1700000000, 0, 'soon', x'01', NULL), (2, '2024-01-01', 1700000000000, 1700000000, '2024-01-01', x'02', NULL)`)
	cutoff := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for column, want := range map[string]string{
		"mixed": "values of more than one kind (the smallest is integer, the largest text)",
		"units": "numbers from 1700000000 to 1700000000000, which are not all times of one unit",
		"zero":  "numbers from 0 to 1700000000",
		"junk":  `the text "soon", which is no ISO-8601 time`,
		"b":     "values of type blob, which are no times",
		"nope":  `no such column: "nope" (its columns: id, mixed, units, zero, junk, b, empty)`,
	} {
		_, err := Before(ctx, db, "ev", column, cutoff)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", column, err, want)
		}
	}
	if _, err := Before(ctx, db, "ev", "nope", cutoff); !errors.Is(err, ErrNoColumn) {
		t.Errorf("missing column: %v, want ErrNoColumn", err)
	}
	c, err := Before(ctx, db, "ev", "empty", cutoff)
	if err != nil || c.Format != TimeNoValuesYet {
		t.Fatalf("empty column: %+v, %v", c, err)
	}
	if n, err := Purge(ctx, db, "ev", c.Where, c.Args, 0); err != nil || n != 0 {
		t.Errorf("purge on a column with no values: %d, %v; want nothing deleted", n, err)
	}
}

// TestRecoverRestoresOnlyABackupOfTheDatabase: beside app.db lie its
// backup, then (newer) the archive database Archive wrote and a backup of
// another database. All of them verify; only app.db's own backup may be
// restored over it, and the report says why the others were skipped.
func TestRecoverRestoresOnlyABackupOfTheDatabase(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		dir := t.TempDir()
		backups := filepath.Join(dir, "backups")
		if err := os.Mkdir(backups, 0o755); err != nil {
			t.Fatal(err)
		}
		app := filepath.Join(dir, "app.db")
		db := openDB(t, app)
		seedTrades(t, db, 300)
		own := filepath.Join(backups, "app-monday.db")
		if err := Backup(ctx, db, own); err != nil {
			t.Fatal(err)
		}
		archive := filepath.Join(backups, "trades-archive.db")
		if _, err := Archive(ctx, db, ArchivePolicy{Table: "trades", Where: "id <= 100", DestPath: archive}); err != nil {
			t.Fatal(err)
		}
		other := openDB(t, filepath.Join(dir, "other.db"))
		seedJobs(t, other, 10)
		otherBackup := filepath.Join(backups, "other-tuesday.db")
		if err := Backup(ctx, other, otherBackup); err != nil {
			t.Fatal(err)
		}
		db.Close()
		other.Close()
		old := time.Now().Add(-time.Hour)
		for i, p := range []string{own, archive, otherBackup} { // oldest first
			at := old.Add(time.Duration(i) * time.Minute)
			if err := os.Chtimes(p, at, at); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{own, archive, otherBackup} {
			if err := Verify(ctx, p); err != nil {
				t.Fatalf("%s does not verify: %v", p, err)
			}
		}

		f, err := os.OpenFile(app, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte("oops, wrong file handle"), 0)
		f.Close()
		os.Remove(app + "-wal")
		os.Remove(app + "-shm")

		rep, err := RecoverFromBackup(ctx, app, []string{backups})
		if err != nil || rep.Restored != own {
			t.Fatalf("restored %q (%+v), %v; want %s", rep.Restored, rep, err, own)
		}
		skipped := map[string]string{}
		for _, s := range rep.Skipped {
			skipped[filepath.Base(s.Path)] = s.Err.Error()
		}
		if !strings.Contains(skipped["trades-archive.db"], "not written by lifecycle.Backup") ||
			!strings.Contains(skipped["other-tuesday.db"], "is a backup of "+canonicalPath(filepath.Join(dir, "other.db"))+", not of "+canonicalPath(app)) ||
			len(rep.Skipped) != 2 || len(rep.Rejected) != 0 {
			t.Errorf("skipped %q, rejected %v; want the archive and the other database's backup skipped, saying why", skipped, rep.Rejected)
		}
		restored := openDB(t, app)
		if got := count(t, restored, `SELECT count(*) FROM trades`); got != 300 {
			t.Errorf("the restored app.db holds %d trades, want the backup's 300", got)
		}
		if got := count(t, restored, `SELECT count(*) FROM sqlite_schema WHERE name = ?`, MarkerTable); got != 0 {
			t.Errorf("the restored database still holds the backup marker")
		}
	})
}

// TestRecoverChecksTheApplicationID: a backup whose marker names this path
// but whose application_id differs from the one still readable in the
// damaged database's header is another database's.
func TestRecoverChecksTheApplicationID(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	app := filepath.Join(dir, "app.db")
	db := openDB(t, app)
	seedJobs(t, db, 10)
	backup := filepath.Join(dir, "app-backup.db")
	if err := Backup(ctx, db, backup); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `PRAGMA application_id = 4242`)
	mustExec(t, db, `CREATE TABLE more (x); INSERT INTO more VALUES (1)`)
	db.Close()
	overwritePages(t, app, 2)
	rep, err := RecoverFromBackup(ctx, app, []string{backup})
	if err == nil || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].Err.Error(), "application_id 0, but "+canonicalPath(app)+" has application_id 4242") {
		t.Fatalf("%+v, %v; want the backup skipped for its application_id", rep, err)
	}
	if !strings.Contains(err.Error(), "skipped "+backup) {
		t.Errorf("the error does not say why the backup was skipped: %v", err)
	}
}
