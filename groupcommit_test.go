package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// groupRig opens a database with group commit on and forms groups
// deterministically: it holds the writer gate, lets callers join one at a
// time (the first leads and waits for the gate, the others queue behind
// it), then lets the gate go.
type groupRig struct {
	t      *testing.T
	db     *sql.DB
	path   string
	g      *groupCommitter
	joined chan bool
}

const groupSchema = `
CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE, n INT);
CREATE TABLE u (id INTEGER PRIMARY KEY, grp INT);
INSERT INTO u (grp) SELECT 0 FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 10) SELECT i FROM c);`

func newGroupRig(t *testing.T, params string, opts ...Option) *groupRig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "group.db")
	db, err := Open("file:"+path+"?_group_commit=on"+params, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(groupSchema); err != nil {
		t.Fatal(err)
	}
	r := &groupRig{t: t, db: db, path: path, g: db.Driver().(*Driver).db.group, joined: make(chan bool, 64)}
	r.g.onJoin = func(lead bool) { r.joined <- lead }
	return r
}

// holdGate takes the writer gate, as a writer of another connection would.
func (r *groupRig) holdGate() {
	r.t.Helper()
	if _, err := r.db.Driver().(*Driver).db.gate.acquire(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// releaseGate gives the gate back.
func (r *groupRig) releaseGate() { r.db.Driver().(*Driver).db.gate.release() }

// gcall is an Exec started in a goroutine of its own.
type gcall struct {
	res  sql.Result
	err  error
	done chan struct{}
}

// start runs fn in a goroutine and returns once it joined group commit
// (lead says whether it leads).
func (r *groupRig) start(fn func() (sql.Result, error)) (c *gcall, lead bool) {
	r.t.Helper()
	c = &gcall{done: make(chan struct{})}
	go func() {
		c.res, c.err = fn()
		close(c.done)
	}()
	select {
	case lead = <-r.joined:
	case <-c.done:
		// Both may be ready (a lone writer joins, runs and returns at
		// once), and select picks either: its join, sent before it
		// returned, is then in the channel's buffer.
		select {
		case lead = <-r.joined:
			return c, lead
		default:
		}
		r.t.Fatalf("the call returned without joining group commit: %v", c.err)
	case <-time.After(10 * time.Second):
		r.t.Fatal("the call never joined group commit")
	}
	return c, lead
}

// exec starts an Exec of query on the database.
func (r *groupRig) exec(query string, args ...any) *gcall {
	r.t.Helper()
	c, _ := r.start(func() (sql.Result, error) { return r.db.ExecContext(context.Background(), query, args...) })
	return c
}

// wait waits for c to return.
func (c *gcall) wait(t *testing.T) *gcall {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the call never returned")
	}
	return c
}

func (c *gcall) id(t *testing.T) int64 {
	t.Helper()
	if c.err != nil {
		t.Fatalf("call failed: %v", c.err)
	}
	id, err := c.res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (c *gcall) rows(t *testing.T) int64 {
	t.Helper()
	if c.err != nil {
		t.Fatalf("call failed: %v", c.err)
	}
	n, err := c.res.RowsAffected()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (r *groupRig) stats() GroupCommitStats {
	r.t.Helper()
	s, err := Stats(r.db)
	if err != nil {
		r.t.Fatal(err)
	}
	return s.Database.GroupCommit
}

// valueOf returns the v of the row of t with id, or "" if there is none.
func (r *groupRig) valueOf(id int64) string {
	r.t.Helper()
	var v string
	err := r.db.QueryRow(`SELECT v FROM t WHERE id = ?`, id).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		r.t.Fatal(err)
	}
	return v
}

func (r *groupRig) count(where string) int {
	r.t.Helper()
	var n int
	if err := r.db.QueryRow(`SELECT count(*) FROM t WHERE ` + where).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// Each caller of a group gets what it would have got alone: its own last
// insert id and rows affected (a prepared statement's too), its own
// constraint error while the rest commits, and on its own connection the
// last_insert_rowid() of its own insert. The group is one transaction.
// With the statement cache off too, where a prepared statement keeps its
// own and the leader prepares the others' SQL for the one call.
func TestGroupCommitEachCallerGetsItsOwnAnswer(t *testing.T) {
	for _, params := range []string{"", "&_stmt_cache=0"} {
		t.Run("params="+params, func(t *testing.T) { eachCallerGetsItsOwnAnswer(t, params) })
	}
}

func eachCallerGetsItsOwnAnswer(t *testing.T, params string) {
	r := newGroupRig(t, params)
	ctx := context.Background()
	prepared, err := r.db.Prepare(`INSERT INTO t (v, n) VALUES (?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer prepared.Close()
	own, err := r.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()

	r.holdGate()
	a, lead := r.start(func() (sql.Result, error) { return r.db.Exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "a", 1) })
	if !lead {
		t.Fatal("the first caller does not lead")
	}
	b, _ := r.start(func() (sql.Result, error) { return prepared.Exec("b", 2) })
	dup := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "a", 3) // after a: UNIQUE fails
	upd := r.exec(`UPDATE u SET grp = grp + ? WHERE id <= 4`, 1)
	del := r.exec(`DELETE FROM u WHERE id > ?`, 8)
	f, _ := r.start(func() (sql.Result, error) { return own.ExecContext(ctx, `INSERT INTO t (v, n) VALUES (?, ?)`, "f", 6) })
	r.releaseGate()
	for _, c := range []*gcall{a, b, dup, upd, del, f} {
		c.wait(t)
	}

	for v, c := range map[string]*gcall{"a": a, "b": b, "f": f} {
		if got := r.valueOf(c.id(t)); got != v {
			t.Errorf("insert of %q: LastInsertId %d holds %q", v, c.id(t), got)
		}
		if n := c.rows(t); n != 1 {
			t.Errorf("insert of %q: RowsAffected %d", v, n)
		}
	}
	if !errors.Is(dup.err, sqlite3.CONSTRAINT_UNIQUE) {
		t.Errorf("duplicate insert: %v, want UNIQUE constraint failed", dup.err)
	}
	if n := upd.rows(t); n != 4 {
		t.Errorf("UPDATE: RowsAffected %d, want 4", n)
	}
	if n := del.rows(t); n != 2 {
		t.Errorf("DELETE: RowsAffected %d, want 2", n)
	}
	var last int64
	if err := own.QueryRowContext(ctx, `SELECT last_insert_rowid()`).Scan(&last); err != nil || last != f.id(t) {
		t.Errorf("last_insert_rowid() on the caller's own connection: %d %v, want %d", last, err, f.id(t))
	}
	if n := r.count(`n = 3`); n != 0 {
		t.Errorf("the failed insert left %d rows", n)
	}
	s := r.stats()
	if s.Groups != 1 || s.Statements != 6 || s.MaxSize != 6 || s.Failed != 1 || s.Alone != 0 {
		t.Errorf("stats: %+v, want one group of 6 with one failure", s)
	}
}

// A statement that leaves a deferred foreign key unresolved fails, in a
// group, with the error its own COMMIT gives alone; it alone is rolled back.
func TestGroupCommitDeferredForeignKey(t *testing.T) {
	r := newGroupRig(t, "")
	if _, err := r.db.Exec(`
		CREATE TABLE parent (id INTEGER PRIMARY KEY);
		CREATE TABLE child (id INTEGER PRIMARY KEY, pid INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
		INSERT INTO parent VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO child (id, pid) VALUES (?, ?)`
	r.holdGate()
	ok1 := r.exec(insert, 10, 1)
	bad := r.exec(insert, 11, 999)
	ok2 := r.exec(insert, 12, 1)
	r.releaseGate()
	for _, c := range []*gcall{ok1, bad, ok2} {
		c.wait(t)
	}
	if ok1.err != nil || ok2.err != nil {
		t.Fatalf("the valid inserts failed: %v; %v", ok1.err, ok2.err)
	}
	alone := r.exec(insert, 13, 998).wait(t) // nobody waits: it runs alone, in autocommit
	if !errors.Is(bad.err, sqlite3.CONSTRAINT_FOREIGNKEY) || alone.err == nil || bad.err.Error() != alone.err.Error() {
		t.Errorf("grouped: %v; alone: %v; want the same FOREIGN KEY error", bad.err, alone.err)
	}
	var ids string
	if err := r.db.QueryRow(`SELECT group_concat(id) FROM (SELECT id FROM child ORDER BY id)`).Scan(&ids); err != nil || ids != "10,12" {
		t.Errorf("child rows %q %v, want 10,12", ids, err)
	}
}

// Conflict clauses behave in a group as in autocommit: INSERT OR FAIL keeps
// the rows before the failing one (autocommit commits them), and INSERT OR
// ROLLBACK rolls SQLite's transaction back, so the group's other statements
// run again and commit.
func TestGroupCommitConflictClauses(t *testing.T) {
	r := newGroupRig(t, "")
	if c := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "taken", 0).wait(t); c.err != nil {
		t.Fatal(c.err)
	}
	orFail := `INSERT OR FAIL INTO t (v, n) VALUES (?, 1), (?, 1), (?, 1)`
	orRollback := `INSERT OR ROLLBACK INTO t (v, n) VALUES (?, 2), (?, 2)`
	r.holdGate()
	a := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "a", 3)
	fail := r.exec(orFail, "f1", "f2", "taken")
	b := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "b", 3)
	rollback := r.exec(orRollback, "r1", "taken")
	c := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "c", 3)
	r.releaseGate()
	for _, call := range []*gcall{a, fail, b, rollback, c} {
		call.wait(t)
	}
	aloneFail := r.exec(orFail, "g1", "g2", "taken").wait(t)
	aloneRollback := r.exec(orRollback, "s1", "taken").wait(t)
	for name, err := range map[string]error{"grouped OR FAIL": fail.err, "grouped OR ROLLBACK": rollback.err, "OR FAIL alone": aloneFail.err, "OR ROLLBACK alone": aloneRollback.err} {
		if !errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) {
			t.Errorf("%s: %v, want UNIQUE constraint failed", name, err)
		}
	}
	var vs string
	if err := r.db.QueryRow(`SELECT group_concat(v) FROM (SELECT v FROM t ORDER BY v)`).Scan(&vs); err != nil {
		t.Fatal(err)
	}
	if want := "a,b,c,f1,f2,g1,g2,taken"; vs != want {
		t.Errorf("rows %q, want %q: OR FAIL keeps its first rows, OR ROLLBACK none, the others all", vs, want)
	}
	if s := r.stats(); s.Replays != 1 {
		t.Errorf("stats: %+v, want one replay (OR ROLLBACK)", s)
	}
}

// countdownCtx has a far deadline and ends (Canceled) at its n-th poll:
// SQLite polls it as a statement runs, so it ends in the middle of one.
type countdownCtx struct {
	context.Context
	left atomic.Int64
}

func (c *countdownCtx) Deadline() (time.Time, bool) { return time.Now().Add(time.Hour), true }
func (c *countdownCtx) Done() <-chan struct{}       { return nil }
func (c *countdownCtx) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// A caller whose context ends in the middle of its statement gets its
// deadline error, and SQLite rolls the whole transaction back (it does for
// an interrupted write inside a transaction): the statements of the group
// that had succeeded run again, and every other caller still gets exactly
// its own answer.
func TestGroupCommitInterruptedStatementReplaysTheOthers(t *testing.T) {
	r := newGroupRig(t, "")
	r.holdGate()
	a := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "a", 1)
	b := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "b", 2)
	ctx := &countdownCtx{Context: context.Background()}
	ctx.left.Store(100)
	x, _ := r.start(func() (sql.Result, error) {
		return r.db.ExecContext(ctx, `INSERT INTO t (v, n) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < ?) SELECT 'x' || i, 9 FROM c`, 1_000_000)
	})
	c := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "c", 3)
	r.releaseGate()
	for _, call := range []*gcall{a, b, x, c} {
		call.wait(t)
	}
	if !errors.Is(x.err, context.Canceled) || !errors.Is(x.err, sqlite3.INTERRUPT) {
		t.Errorf("interrupted insert: %v, want context.Canceled and sqlite3.INTERRUPT", x.err)
	}
	for v, call := range map[string]*gcall{"a": a, "b": b, "c": c} {
		if got := r.valueOf(call.id(t)); got != v {
			t.Errorf("insert of %q: LastInsertId %d holds %q", v, call.id(t), got)
		}
	}
	if n := r.count(`n = 9`); n != 0 {
		t.Errorf("the interrupted insert left %d rows", n)
	}
	if s := r.stats(); s.Replays != 1 || s.Groups != 1 || s.Statements != 4 {
		t.Errorf("stats: %+v, want one group of 4 with one replay", s)
	}
}

// A caller whose context ends while it is queued leaves at once, with
// nothing applied; a leader whose context ends while it waits for the
// writer gate hands the lead to the next caller, whose group goes on.
func TestGroupCommitContextEndsWhileQueued(t *testing.T) {
	for _, who := range []string{"follower", "leader"} {
		t.Run(who, func(t *testing.T) {
			r := newGroupRig(t, "")
			ctx, cancel := context.WithCancel(context.Background())
			insert := func(ctx context.Context, v string) func() (sql.Result, error) {
				return func() (sql.Result, error) {
					ctx, stop := context.WithTimeout(ctx, 15*time.Second)
					defer stop()
					return r.db.ExecContext(ctx, `INSERT INTO t (v, n) VALUES (?, ?)`, v, 1)
				}
			}
			r.holdGate()
			first := context.Background()
			if who == "leader" {
				first = ctx
			}
			a, _ := r.start(insert(first, "a"))
			second := context.Background()
			if who == "follower" {
				second = ctx
			}
			b, _ := r.start(insert(second, "b"))
			c, _ := r.start(insert(context.Background(), "c"))
			gone := a
			if who == "follower" {
				gone = b
			}
			cancel()
			gone.wait(t) // returns while the gate is still held
			if !errors.Is(gone.err, context.Canceled) {
				t.Errorf("cancelled caller: %v, want context.Canceled", gone.err)
			}
			r.releaseGate()
			for _, call := range []*gcall{a, b, c} {
				call.wait(t)
				if call != gone && call.err != nil {
					t.Errorf("a caller that stayed failed: %v", call.err)
				}
			}
			var vs string
			if err := r.db.QueryRow(`SELECT group_concat(v) FROM (SELECT v FROM t ORDER BY v)`).Scan(&vs); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"leader": "b,c", "follower": "a,c"}[who]
			if vs != want {
				t.Errorf("rows %q, want %q", vs, want)
			}
			s := r.stats()
			if who == "follower" && s.Withdrawn != 1 {
				t.Errorf("stats: %+v, want one caller withdrawn", s)
			}
			if s.Groups != 1 || s.Statements != 2 {
				t.Errorf("stats: %+v, want one group of 2", s)
			}
		})
	}
}

// A caller taken into a group whose context ends before its statement
// starts leaves with context.Canceled, and the group skips it: its
// statement never runs (run with a cancelled context it would be
// interrupted, and SQLite would roll the group's transaction back and make
// the others run again).
func TestGroupCommitWithdrawnAfterTakenNeverRuns(t *testing.T) {
	r := newGroupRig(t, "")
	r.holdGate()
	a := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "a", 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, _ := r.start(func() (sql.Result, error) {
		return r.db.ExecContext(ctx, `INSERT INTO t (v, n) VALUES (?, ?)`, "b", 2)
	})
	// When a's statement is about to run, b was taken into the group with
	// it: b's caller gives up then, and has its answer before a runs.
	var once sync.Once
	r.g.onRun = func(args []driver.NamedValue) {
		if len(args) > 0 && args[0].Value == "a" {
			once.Do(func() { cancel(); b.wait(t) })
		}
	}
	r.releaseGate()
	a.wait(t)
	b.wait(t)
	if a.err != nil || !errors.Is(b.err, context.Canceled) {
		t.Fatalf("a: %v, b: %v; want a applied and b cancelled", a.err, b.err)
	}
	if n := r.count(`1`); n != 1 || r.valueOf(a.id(t)) != "a" {
		t.Errorf("%d rows, want a's only", n)
	}
	if s := r.stats(); s.Withdrawn != 1 || s.Replays != 0 || s.Statements != 1 {
		t.Errorf("stats: %+v, want b withdrawn, one statement run and no replay", s)
	}
}

// If the group's COMMIT fails, every caller of the group gets the error
// and nothing of the group is applied. Here COMMIT loses the race for the
// lock (a rollback journal needs readers gone to commit) to a reader in
// another connection.
func TestGroupCommitFailedCommitFailsEveryCaller(t *testing.T) {
	// No statistics upkeep: a new connection's PRAGMA optimize would lose
	// the same race.
	r := newGroupRig(t, "&_pragma=journal_mode(delete)&_pragma=busy_timeout(20)&_retry=1&_optimize=off")
	reader, err := sql.Open("sqlite3", "file:"+r.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	rtx, err := reader.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil { // a SHARED lock until rollback
		t.Fatal(err)
	}
	r.holdGate()
	calls := []*gcall{
		r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "a", 1),
		r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "b", 2),
		r.exec(`UPDATE u SET grp = ? WHERE id = 1`, 7),
	}
	r.releaseGate()
	for _, c := range calls {
		c.wait(t)
		var ge *groupError
		if !errors.Is(c.err, sqlite3.BUSY) || !errors.As(c.err, &ge) || !strings.Contains(c.err.Error(), "nothing of the group was applied") {
			t.Errorf("caller of the failed group: %v, want its COMMIT's BUSY, saying nothing was applied", c.err)
		}
	}
	rtx.Rollback()
	var grp int
	if err := r.db.QueryRow(`SELECT grp FROM u WHERE id = 1`).Scan(&grp); err != nil || grp != 0 || r.count(`1`) != 0 {
		t.Errorf("after the failed COMMIT: %d rows in t, grp %d %v: want nothing applied", r.count(`1`), grp, err)
	}
	if c := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "after", 1).wait(t); c.err != nil {
		t.Errorf("an insert after the failed group: %v", c.err)
	}
	if s := r.stats(); s.FailedCommits != 1 {
		t.Errorf("stats: %+v, want one failed commit", s)
	}
}

// A COMMIT whose sync fails has an unknown outcome: each caller of the
// group gets SQLite's I/O error, saying so, and none is retried; the
// breaker counts the failure once per caller, as it would have alone.
func TestGroupCommitFailedSync(t *testing.T) {
	for _, failures := range []int{3, 4} {
		t.Run(fmt.Sprintf("breaker_failures=%d", failures), func(t *testing.T) {
			fv, vfsName := registerFaultVFS(t)
			var retries atomic.Int32
			r := newGroupRig(t, "&vfs="+vfsName, WithBreaker(BreakerConfig{Failures: failures}),
				withRetryHook(func(error) { retries.Add(1) }))
			r.holdGate()
			calls := []*gcall{
				r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "a", 1),
				r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "b", 2),
				r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "c", 3),
			}
			fv.failSyncs(errSync)
			r.releaseGate()
			for _, c := range calls {
				c.wait(t)
				if !errors.Is(c.err, sqlite3.IOERR) || !strings.Contains(c.err.Error(), "group of 3") || !strings.Contains(c.err.Error(), "outcome is unknown") {
					t.Errorf("caller of the failed group: %v, want its COMMIT's I/O error, with an unknown outcome", c.err)
				}
			}
			if retries.Load() != 0 {
				t.Errorf("%d retries of a group whose COMMIT failed", retries.Load())
			}
			state := r.db.Driver().(*Driver).db.breaker.status().State
			if want := map[int]BreakerState{3: BreakerOpen, 4: BreakerClosed}[failures]; state != want {
				t.Errorf("breaker %s after one failed group of 3, want %s", state, want)
			}
		})
	}
}

// Statements that cannot be told apart from their own connection's run
// never group: inside a transaction, reads (through Query or Exec),
// RETURNING, changes() and last_insert_rowid(), statements without
// arguments, and any statement of a connection whose session changed (a
// temp table, a PRAGMA, Raw use).
func TestGroupCommitOnlyWhereNothingChanges(t *testing.T) {
	r := newGroupRig(t, "")
	r.g.onJoin = nil
	ctx := context.Background()
	grouped := func() uint64 { return r.stats().Statements }
	check := func(name string, want uint64, fn func() error) {
		t.Helper()
		before := grouped()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := grouped() - before; got != want {
			t.Errorf("%s: %d statements through group commit, want %d", name, got, want)
		}
	}
	exec := func(q string, args ...any) func() error {
		return func() error { _, err := r.db.ExecContext(ctx, q, args...); return err }
	}
	check("a plain INSERT", 1, exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "p", 1))
	check("a plain UPDATE", 1, exec(`UPDATE t SET n = ? WHERE v = 'p'`, 2))
	check("RETURNING", 0, exec(`INSERT INTO t (v, n) VALUES (?, ?) RETURNING id`, "q", 1))
	check("changes()", 0, exec(`UPDATE t SET n = changes() + ? WHERE v = 'p'`, 1))
	check("last_insert_rowid()", 0, exec(`INSERT INTO t (v, n) VALUES (?, last_insert_rowid())`, "r"))
	check("no arguments", 0, exec(`INSERT INTO t (v, n) VALUES ('s', 1)`))
	check("a read", 0, func() error {
		var n int
		return r.db.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE n > ?`, 0).Scan(&n)
	})
	check("a read through Exec", 0, exec(`SELECT count(*) FROM t WHERE n > ?`, 0))
	check("in a transaction", 0, func() error {
		return RunTx(ctx, r.db, nil, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO t (v, n) VALUES (?, ?)`, "tx", 1)
			return err
		})
	})
	// Each of these runs on a new connection: a pooled one that an earlier
	// check left unfit to group would pass whatever the setup.
	r.db.SetMaxIdleConns(0)
	onConn := func(setup string, setupArgs ...any) func() error {
		return func() error {
			conn, err := r.db.Conn(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			if setup == "raw" {
				err = conn.Raw(func(dc any) error { dc.(ncruces.Conn).Raw(); return nil })
			} else {
				_, err = conn.ExecContext(ctx, setup, setupArgs...)
			}
			if err != nil {
				return err
			}
			if _, err := conn.ExecContext(ctx, `INSERT INTO t (v, n) VALUES (?, ?)`, setup, 5); err != nil {
				return err
			}
			if setup != "raw" {
				_, err = conn.ExecContext(ctx, `DROP TABLE IF EXISTS temp.t`)
			}
			return err
		}
	}
	check("a connection with a temp table", 0, onConn(`CREATE TEMP TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INT)`))
	check("a connection that ran a PRAGMA", 0, onConn(`PRAGMA recursive_triggers = ON`))
	check("a connection handed out by Raw", 0, onConn("raw"))
	check("a connection that attached a database", 0, onConn(`ATTACH DATABASE ':memory:' AS aux`))
	if n := r.count(`n = 5`); n != 3 { // the temp table's row stayed in temp
		t.Errorf("%d rows inserted into main by the connections with a changed session, want 3", n)
	}
}

// A connection with a temp table that shadows a main one never lends its
// statement to a leader, whose connection would write the main table: its
// insert waits for the gate as a writer of its own, and lands in its temp
// table.
func TestGroupCommitTempTableStaysOnItsConnection(t *testing.T) {
	r := newGroupRig(t, "")
	ctx := context.Background()
	conn, err := r.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TEMP TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INT)`); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{}, 4)
	r.db.Driver().(*Driver).db.gate.onWait = func() { waiting <- struct{}{} }
	r.holdGate()
	a := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "leader", 1)
	<-waiting // the leader waits for the gate
	tmp := &gcall{done: make(chan struct{})}
	go func() {
		tmp.res, tmp.err = conn.ExecContext(ctx, `INSERT INTO t (v, n) VALUES (?, ?)`, "temp", 2)
		close(tmp.done)
	}()
	select {
	case <-waiting: // a writer of its own
	case <-r.joined: // a follower of the leader's group
	case <-time.After(10 * time.Second):
		t.Fatal("the temp table's insert never arrived")
	}
	r.releaseGate()
	a.wait(t)
	tmp.wait(t)
	if a.err != nil || tmp.err != nil {
		t.Fatal(a.err, tmp.err)
	}
	var inTemp int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM temp.t WHERE v = 'temp'`).Scan(&inTemp); err != nil {
		t.Fatal(err)
	}
	if inMain := r.count(`v = 'temp'`); inTemp != 1 || inMain != 0 {
		t.Errorf("the temp table's insert landed %d times in temp.t and %d times in main.t, want once in temp.t", inTemp, inMain)
	}
}

// A leader that panics (SQLite out of memory, or a bug) leaves no caller
// waiting: each gets an error saying its outcome is unknown, the leader's
// connection is not reused (closing it rolls the group back), and the next
// writers group as before.
func TestGroupCommitLeaderPanics(t *testing.T) {
	r := newGroupRig(t, "")
	r.g.onRun = func(args []driver.NamedValue) {
		if args[0].Value == "boom" {
			panic("out of memory")
		}
	}
	var recovered atomic.Value
	r.holdGate()
	a, _ := r.start(func() (res sql.Result, err error) {
		defer func() { recovered.Store(recover()) }()
		return r.db.Exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "a", 1)
	})
	b := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "b", 2)
	boom := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "boom", 3)
	r.releaseGate()
	for _, c := range []*gcall{a, b, boom} {
		c.wait(t)
	}
	if p := recovered.Load(); p != "out of memory" {
		t.Errorf("the leader's caller recovered %v, want the panic", p)
	}
	for _, c := range []*gcall{b, boom} {
		if c.err == nil || !strings.Contains(c.err.Error(), "outcome is unknown") || !strings.Contains(c.err.Error(), "panicked") {
			t.Errorf("caller of the panicked group: %v, want an unknown outcome", c.err)
		}
	}
	r.g.onRun = nil
	if c := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "after", 4).wait(t); c.err != nil {
		t.Fatalf("an insert after the panic: %v", c.err)
	}
	var vs string
	if err := r.db.QueryRow(`SELECT group_concat(v) FROM t`).Scan(&vs); err != nil || vs != "after" {
		t.Errorf("rows %q %v, want only the insert after the panic (the group was rolled back)", vs, err)
	}
}

// A writer that does not group (here a transaction) waits for one group
// at most: the leader gives the writer gate back between groups, and the
// gate serves writers in order.
func TestGroupCommitWriterGateStaysFair(t *testing.T) {
	r := newGroupRig(t, "&_group_commit_max=4")
	gate := r.db.Driver().(*Driver).db.gate
	waiting := make(chan struct{}, 16)
	gate.onWait = func() { waiting <- struct{}{} }
	r.holdGate()
	calls := []*gcall{r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "w0", 1)}
	<-waiting // the leader waits for the gate
	parkedAtGate(t, 1)
	for i := 1; i < 10; i++ {
		calls = append(calls, r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, fmt.Sprint("w", i), 1))
	}
	seen := make(chan int, 1)
	tx := &gcall{done: make(chan struct{})}
	go func() {
		defer close(tx.done)
		tx.err = RunTx(context.Background(), r.db, nil, func(tx *sql.Tx) error {
			var n int
			err := tx.QueryRow(`SELECT count(*) FROM t`).Scan(&n)
			seen <- n
			return err
		})
	}()
	<-waiting // the transaction waits for the gate, behind the leader
	parkedAtGate(t, 2)
	r.releaseGate()
	tx.wait(t)
	for _, c := range calls {
		c.wait(t)
		if c.err != nil {
			t.Fatal(c.err)
		}
	}
	if n := <-seen; tx.err != nil || n != 4 {
		t.Errorf("the transaction behind the first group saw %d rows (%v), want the first group's 4", n, tx.err)
	}
	if s := r.stats(); s.MaxSize != 4 || s.Statements != 10 {
		t.Errorf("stats: %+v, want groups of at most 4, 10 statements", s)
	}
}

// parkedAtGate waits until n goroutines are parked in the writer gate's
// queue. The gate's onWait hook runs just before a writer joins the queue:
// a writer descheduled between the two (it happened under -race on a busy
// machine) would join it after a writer that came later. No test of this
// package runs in parallel, so the process's goroutines are this test's.
func parkedAtGate(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	for {
		k := runtime.Stack(buf, true)
		parked := 0
		for _, g := range strings.Split(string(buf[:k]), "\n\n") {
			if strings.Contains(g, "[select") && strings.Contains(g, "semaphore.(*Weighted).Acquire") {
				parked++
			}
		}
		if parked >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writers parked at the gate after 10s, want %d", parked, n)
		}
		runtime.Gosched()
	}
}

// A group takes the statements that queue while it runs, until its time
// limit: with an hour, a statement queued during the group's first one
// joins it; with a nanosecond, it waits for the next group.
func TestGroupCommitTimeLimit(t *testing.T) {
	for limit, wantGroups := range map[string]uint64{"1h": 1, "1ns": 2} {
		t.Run(limit, func(t *testing.T) {
			r := newGroupRig(t, "&_group_commit_time="+limit)
			late := make(chan *gcall, 1)
			r.g.onRun = func(args []driver.NamedValue) {
				if args[0].Value == "b" { // the group's second statement: one more queues
					late <- r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "late", 1)
				}
			}
			r.holdGate()
			a := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "a", 1)
			b := r.exec(`INSERT INTO t (v, n) VALUES (?, ?)`, "b", 1)
			r.releaseGate()
			for _, c := range []*gcall{a, b, <-late} {
				if c.wait(t).err != nil {
					t.Fatal(c.err)
				}
			}
			if s := r.stats(); s.Groups != wantGroups || s.Statements != 3 {
				t.Errorf("stats: %+v, want %d groups", s, wantGroups)
			}
		})
	}
}

// A lone writer never waits for a group: with nobody else waiting it runs
// alone, in autocommit, and a group's time limit (here an hour) is no
// timer it waits for.
func TestGroupCommitLoneWriterRunsAlone(t *testing.T) {
	r := newGroupRig(t, "&_group_commit_time=1h")
	r.g.onJoin = nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 50 {
		if _, err := r.db.ExecContext(ctx, `INSERT INTO t (v, n) VALUES (?, ?)`, fmt.Sprint(i), i); err != nil {
			t.Fatal(err)
		}
	}
	if s := r.stats(); s.Alone != 50 || s.Groups != 50 || s.MaxSize != 1 {
		t.Errorf("stats: %+v, want 50 statements run alone", s)
	}
	if err := ResetStats(r.db); err != nil {
		t.Fatal(err)
	}
	if s := r.stats(); s != (GroupCommitStats{Enabled: true, MaxStatements: DefaultGroupCommitStatements, MaxTime: time.Hour}) {
		t.Errorf("after ResetStats: %+v", s)
	}
}

// Many writers at once: every acknowledged insert is there with the id it
// was given, every failed one is not, and they went through in groups.
func TestGroupCommitManyWriters(t *testing.T) {
	r := newGroupRig(t, "&_max_open=40")
	r.g.onJoin = nil
	const writers, each = 32, 40
	type ack struct {
		id int64
		v  string
	}
	var mu sync.Mutex
	var acked []ack
	var dups atomic.Int32
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				v := fmt.Sprintf("%d-%d", w, i)
				if i%10 == 9 {
					v = fmt.Sprintf("%d-%d", w, i-1) // a duplicate: UNIQUE fails
				}
				res, err := r.db.Exec(`INSERT INTO t (v, n) VALUES (?, ?)`, v, w)
				if errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) {
					dups.Add(1)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				id, _ := res.LastInsertId()
				mu.Lock()
				acked = append(acked, ack{id, v})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, a := range acked {
		if got := r.valueOf(a.id); got != a.v {
			t.Fatalf("insert of %q: id %d holds %q", a.v, a.id, got)
		}
	}
	if want := writers * each / 10; int(dups.Load()) != want || len(acked) != writers*each-want || r.count(`1`) != len(acked) {
		t.Errorf("%d acknowledged, %d duplicates, %d rows", len(acked), dups.Load(), r.count(`1`))
	}
	s := r.stats()
	if s.Statements != writers*each || s.MaxSize < 2 || s.Failed != uint64(dups.Load()) {
		t.Errorf("stats: %+v", s)
	}
	t.Logf("%d groups, mean size %.1f, p99 queued %v", s.Groups, s.MeanSize, s.P99Queued)
}

// Group sizes and time queued reach the metrics.
func TestGroupCommitMetrics(t *testing.T) {
	rig := newOtelRig(t)
	db, _ := rig.open(t, "?_group_commit=on")
	r := &groupRig{t: t, db: db, g: db.Driver().(*Driver).db.group, joined: make(chan bool, 8)}
	r.g.onJoin = func(lead bool) { r.joined <- lead }
	if _, err := db.Exec(groupSchema); err != nil {
		t.Fatal(err)
	}
	r.holdGate()
	calls := []*gcall{r.exec(`INSERT INTO t (v) VALUES (?)`, "a"), r.exec(`INSERT INTO t (v) VALUES (?)`, "b"), r.exec(`INSERT INTO t (v) VALUES (?)`, "c")}
	r.releaseGate()
	for _, c := range calls {
		c.wait(t)
	}
	m := rig.metrics(t)
	size, ok := m[metricGroupSize].Data.(metricdata.Histogram[int64])
	if !ok || len(size.DataPoints) != 1 || size.DataPoints[0].Count != 1 || size.DataPoints[0].Sum != 3 {
		t.Errorf("%s: %+v, want one group of 3", metricGroupSize, m[metricGroupSize].Data)
	}
	queued, ok := m[metricGroupQueueTime].Data.(metricdata.Histogram[float64])
	if !ok || len(queued.DataPoints) != 1 || queued.DataPoints[0].Count != 3 || m[metricGroupQueueTime].Unit != "s" {
		t.Errorf("%s: %+v, want 3 statements", metricGroupQueueTime, m[metricGroupQueueTime])
	}
}

func TestGroupCommitDSN(t *testing.T) {
	type setting struct {
		on     bool
		limits GroupCommitLimits
	}
	for dsn, want := range map[string]setting{
		"file:x.db":                  {false, GroupCommitLimits{MaxStatements: 128, MaxTime: 10 * time.Millisecond}},
		"file:x.db?_group_commit=on": {true, GroupCommitLimits{MaxStatements: 128, MaxTime: 10 * time.Millisecond}},
		"file:x.db?_group_commit=on&_group_commit_max=16&_group_commit_time=2ms": {true, GroupCommitLimits{MaxStatements: 16, MaxTime: 2 * time.Millisecond}},
	} {
		cfg := defaultConfig()
		if _, err := parseDSN(dsn, &cfg); err != nil || (setting{cfg.group, cfg.groupLimit}) != want {
			t.Errorf("%s: %v %+v %v, want %+v", dsn, cfg.group, cfg.groupLimit, err, want)
		}
	}
	for _, dsn := range []string{"file:x.db?_group_commit=maybe", "file:x.db?_group_commit_max=0", "file:x.db?_group_commit_time=0"} {
		cfg := defaultConfig()
		if _, err := parseDSN(dsn, &cfg); err == nil || !strings.Contains(err.Error(), "_group_commit") {
			t.Errorf("%s: %v, want an error naming the parameter", dsn, err)
		}
	}
	for _, key := range []string{"_group_commit", "_group_commit_max", "_group_commit_time"} {
		cfg := defaultConfig()
		err := applyBackendParams("postgresql", url.Values{key: {"1"}}, &cfg)
		if err == nil || !strings.Contains(err.Error(), key+" applies to SQLite only") {
			t.Errorf("%s on a backend: %v, want an error saying it applies to SQLite only", key, err)
		}
	}
	cfg := defaultConfig()
	WithGroupCommit(true)(&cfg)
	WithGroupCommitLimits(GroupCommitLimits{MaxStatements: 8})(&cfg)
	if want := (GroupCommitLimits{MaxStatements: 8, MaxTime: DefaultGroupCommitTime}); !cfg.group || cfg.groupLimit != want {
		t.Errorf("options: %v %+v, want on with %+v", cfg.group, cfg.groupLimit, want)
	}
}

// A child process inserting from 16 goroutines with group commit on,
// killed with SIGKILL at 20 random points: every row it reported committed
// is there, and the file passes integrity_check.
func TestGroupCommitCrashDurability(t *testing.T) { crashDurability(t, "group-loop") }

// With group commit on, a power failure loses no acknowledged commit (the
// power-loss model of TestPowerFailureLosesNoAcknowledgedCommit), and the
// inserts went through in groups.
func TestGroupCommitPowerFailure(t *testing.T) {
	for _, ackAt := range []int{1, 37, 400, 2500} {
		acked, found, groups := powerFailure(t, "&_group_commit=on", ackAt)
		lost := 0
		for id := range acked {
			if !found[id] {
				lost++
			}
		}
		if lost > 0 {
			t.Errorf("power cut after %d acknowledged inserts: %d of %d acknowledged rows lost", ackAt, lost, len(acked))
		}
		if ackAt >= 400 && groups.MaxSize < 2 {
			t.Errorf("power cut after %d acknowledged inserts: no group formed (%+v)", ackAt, groups)
		}
	}
}
