package qlsqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Defaults of group commit (DSN: "_group_commit_max", "_group_commit_time").
const (
	// DefaultGroupCommitStatements caps the statements of one group.
	DefaultGroupCommitStatements = 128
	// DefaultGroupCommitTime caps how long a group takes in statements
	// after it began: past it, the group commits what it has.
	DefaultGroupCommitTime = 10 * time.Millisecond
)

// GroupCommitLimits are the limits of one group of group commit (DSN:
// "_group_commit_max", "_group_commit_time"). Zero fields take the
// defaults.
type GroupCommitLimits struct {
	// MaxStatements caps the statements of one group; default
	// [DefaultGroupCommitStatements].
	MaxStatements int
	// MaxTime caps how long a group keeps taking statements after its
	// transaction began; default [DefaultGroupCommitTime]. Statements
	// already taken still run, then the group commits.
	MaxTime time.Duration
}

// WithGroupCommit turns group commit on or off (DSN: "_group_commit";
// default off): concurrent autocommit writes share one transaction and one
// fsync. It is off by default: see the README's Group commit section for
// what a caller can tell apart.
func WithGroupCommit(on bool) Option {
	return func(c *config) { c.group = on }
}

// WithGroupCommitLimits sets the limits of a group (DSN:
// "_group_commit_max", "_group_commit_time"); zero fields take the
// defaults. It does not turn group commit on.
func WithGroupCommitLimits(l GroupCommitLimits) Option {
	return func(c *config) { c.groupLimit = l.withDefaults() }
}

func (g GroupCommitLimits) withDefaults() GroupCommitLimits {
	if g.MaxStatements <= 0 {
		g.MaxStatements = DefaultGroupCommitStatements
	}
	if g.MaxTime <= 0 {
		g.MaxTime = DefaultGroupCommitTime
	}
	return g
}

// groupCommitter coalesces the concurrent autocommit writes of one database
// into shared transactions: many durable writers, one fsync.
//
// It sits at the writer gate, where writers already queue. A caller whose
// statement can be grouped (see [sqliteConn.groupable]) joins the
// committer's queue. The first caller to find no leader leads: it takes the
// writer gate on its own connection, takes the queued statements, runs each
// in a SAVEPOINT of one transaction on its connection ([groupCommitter.run]),
// keeps taking statements that queued meanwhile until nobody is queued or a
// limit is reached, commits once, and only then answers every caller of the
// group, each with its own Result or error. The others follow: they wait,
// their connections idle, until the leader answers, and leave the queue if
// their context ends before the leader started their statement.
//
// A writer that finds nobody queued and no contention since the last group
// runs its statement alone, in autocommit, exactly as without group commit:
// there is no timer, and a group commits as soon as nobody else is queued.
//
// Leadership passes, in queue order, to the first waiting caller when a
// group is done or when a leader's context ends before it got the gate.
// Between groups the leader gives the writer gate back, so a writer that
// does not group (a transaction, a statement of a connection unfit to
// group) waits for one group at most, whose size and time are capped.
type groupCommitter struct {
	limits GroupCommitLimits

	mu        sync.Mutex
	leading   bool        // a leader is waiting for the gate or running a group
	queue     []*groupReq // followers waiting to be taken, in arrival order
	contended bool        // the last group had more than one statement

	// The leader's work lists, reused from group to group: one leader at a
	// time uses them (handed over under mu). members is every caller taken
	// into the group.
	todo, cur, ended, members []*groupReq
	running                   *cachedStmt // the statement running, if a panic stops it

	stats   groupStats
	metrics groupMetrics

	onJoin func(lead bool)                // tests: called after a caller joined, as leader or follower
	onRun  func(args []driver.NamedValue) // tests: called before a statement of a group runs
}

func newGroupCommitter(l GroupCommitLimits, tel *telemetry) *groupCommitter {
	return &groupCommitter{limits: l.withDefaults(), metrics: newGroupMetrics(tel)}
}

// groupReq is one caller's statement on its way through a group. Each
// connection has one, reused call after call: a connection makes one call
// at a time.
type groupReq struct {
	conn  *sqliteConn
	ctx   context.Context // the caller's: it bounds the caller's statement
	query string
	args  []driver.NamedValue
	stmt  *cachedStmt // the leader's own statement, taken from its cache; nil for the others

	state  atomic.Int32
	signal chan struct{} // one message per "lead" or "done"; never one for a withdrawn caller

	joined, started time.Time // queued, and when its statement started
	ran             bool      // its statement ran (the caller's last_insert_rowid is lastID)
	res             driver.Result
	err             error
	maybe           bool // err, but its statement may be committed: never retry it
	lastID          int64
}

// States of a groupReq.
const (
	reqQueued    int32 = iota // in the queue, a follower
	reqLead                   // told to lead (or leading)
	reqTaken                  // taken into a group, its statement not started: may still withdraw
	reqRunning                // its statement started: the caller waits for the answer
	reqDone                   // answered
	reqWithdrawn              // left because its context ended; never answered
)

// exec runs a grouped statement for connection c: s is the statement c
// took from its own cache for the caller (a leader runs it; a follower
// gives it back), ctx the caller's context.
func (g *groupCommitter) exec(ctx context.Context, c *sqliteConn, s *cachedStmt, args []driver.NamedValue) (driver.Result, error) {
	r := c.group.request(c, ctx, s.query, args)
	if g.join(r) {
		r.stmt = s // r is nobody else's: it leads
	} else {
		c.stmts.release(s, false) // the leader runs it on its own connection
		lead, err := g.follow(ctx, r)
		if err != nil {
			c.report.addWait(time.Since(r.joined))
			r.clear()
			return nil, err
		}
		if !lead {
			return c.groupAnswer(r, 0)
		}
	}
	return g.lead(ctx, c, r)
}

// join queues r, or makes it the leader if nobody leads; it reports whether
// r leads.
func (g *groupCommitter) join(r *groupReq) bool {
	g.mu.Lock()
	if !g.leading {
		g.leading = true
		r.state.Store(reqLead)
		g.mu.Unlock()
		if g.onJoin != nil {
			g.onJoin(true)
		}
		return true
	}
	r.state.Store(reqQueued)
	g.queue = append(g.queue, r)
	g.mu.Unlock()
	if g.onJoin != nil {
		g.onJoin(false)
	}
	return false
}

// follow waits until r's group answered it, or r is told to lead (lead),
// or r's context ends before its statement started (err: the caller
// leaves, nothing of its statement applied).
func (g *groupCommitter) follow(ctx context.Context, r *groupReq) (lead bool, err error) {
	select {
	case <-r.signal:
	case <-ctx.Done():
		if g.withdraw(r) {
			g.stats.withdrew()
			return false, waitTimeout(ctx, "its group commit")
		}
		<-r.signal // its statement runs, or it was told to lead: the answer comes
	}
	return r.state.Load() == reqLead, nil
}

// withdraw takes r out of the queue, or out of the group that took it if
// its statement has not started, and reports whether it could.
func (g *groupCommitter) withdraw(r *groupReq) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch r.state.Load() {
	case reqQueued:
		if i := slices.Index(g.queue, r); i >= 0 {
			g.queue = slices.Delete(g.queue, i, i+1)
		}
		r.state.Store(reqWithdrawn)
		return true
	case reqTaken:
		return r.state.CompareAndSwap(reqTaken, reqWithdrawn)
	}
	return false
}

// lead takes the writer gate on c and runs a group that starts with r: r
// alone in autocommit if nobody else waits, else every statement queued
// (see [groupCommitter.run]). It answers the followers, hands leadership on,
// and returns r's own answer.
func (g *groupCommitter) lead(ctx context.Context, c *sqliteConn, r *groupReq) (driver.Result, error) {
	waited := c.report.waited
	took, err := c.enterGate(ctx, true)
	if err != nil {
		g.handOver()
		if r.stmt != nil {
			c.stmts.release(r.stmt, false)
		}
		r.clear()
		return nil, err
	}
	holds := true
	defer func() {
		if p := recover(); p != nil {
			g.abandon(c, r, p)
			if holds {
				c.leaveGate(took)
			}
			panic(p)
		}
	}()
	gateWait := c.report.waited - waited
	lone := g.take(r)
	cache := c.report.cache
	if lone {
		g.runAlone(c, r)
		g.stats.ranAlone()
	} else {
		g.run(c)
	}
	c.leaveGate(took)
	holds = false
	c.report.cache = cache // the call's own statement, not the group's last
	g.finish(r)
	return c.groupAnswer(r, gateWait)
}

// take starts a group (g.todo) with its leader r and the followers queued
// now, as many as the limit allows. lone says r is alone and nothing
// suggests others are coming: it runs in autocommit.
func (g *groupCommitter) take(r *groupReq) (lone bool) {
	r.state.Store(reqTaken)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.todo = append(g.todo[:0], r)
	g.todo = g.takeLocked(g.todo, g.limits.MaxStatements-1)
	g.members = append(g.members[:0], g.todo...)
	return len(g.todo) == 1 && !g.contended
}

// more takes up to n more queued followers into the group running.
func (g *groupCommitter) more(batch []*groupReq, n int) []*groupReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.takeLocked(batch, n)
}

func (g *groupCommitter) takeLocked(batch []*groupReq, n int) []*groupReq {
	n = min(n, len(g.queue))
	for _, f := range g.queue[:n] {
		f.state.Store(reqTaken)
	}
	batch = append(batch, g.queue[:n]...)
	if len(g.members) > 0 { // more, for the group running
		g.members = append(g.members, g.queue[:n]...)
	}
	g.queue = slices.Delete(g.queue, 0, n)
	return batch
}

// runAlone runs the leader's statement by itself, in autocommit, as
// without group commit.
func (g *groupCommitter) runAlone(c *sqliteConn, r *groupReq) {
	r.state.Store(reqRunning)
	r.started = time.Now()
	s := r.stmt
	if s == nil {
		if s, r.err = c.take(r.ctx, r.query); r.err != nil {
			g.ended = append(g.ended[:0], r)
			return
		}
	}
	r.stmt, g.running = nil, s
	r.res, r.err = s.ExecContext(r.ctx, r.args)
	r.ran, r.lastID = true, c.Conn.Raw().LastInsertRowID()
	g.running = nil
	c.stmts.release(s, r.err != nil)
	g.ended = append(g.ended[:0], r)
}

// finish records the group just run, answers its followers (leader: the
// caller, who reads its own answer) and hands leadership on.
func (g *groupCommitter) finish(leader *groupReq) {
	g.stats.record(g.ended)
	g.metrics.record(g.ended)
	for _, r := range g.ended {
		r.state.Store(reqDone)
		if r != leader {
			r.signal <- struct{}{}
		}
	}
	contended := len(g.ended) > 1
	clear(g.ended) // no reference kept to the callers' contexts and results
	clear(g.members)
	g.ended, g.members = g.ended[:0], g.members[:0]
	g.mu.Lock()
	g.contended = contended
	g.mu.Unlock()
	g.handOver()
}

// abandon answers every caller of the group still waiting when its leader
// panicked (SQLite out of memory, or a bug), so that none waits forever:
// their statements may or may not have been applied. The group's
// transaction, if still open, is rolled back, and the leader's connection
// is not reused. Then it hands over.
func (g *groupCommitter) abandon(c *sqliteConn, leader *groupReq, p any) {
	err := &groupError{op: "run", n: len(g.members), maybe: true, err: fmt.Errorf("the leader panicked: %v", p)}
	c.health.broken = err
	if s := g.running; s != nil {
		g.running = nil
		c.stmts.release(s, true) // finalized: the connection can close
	}
	if raw := c.Conn.Raw(); !raw.GetAutocommit() {
		raw.SetInterrupt(context.Background())
		raw.Exec(`ROLLBACK`)
	}
	for _, r := range g.members {
		if r != leader && (r.state.CompareAndSwap(reqTaken, reqDone) || r.state.CompareAndSwap(reqRunning, reqDone)) {
			r.res, r.err, r.maybe, r.ran = nil, err, true, false
			r.signal <- struct{}{}
		}
	}
	g.todo, g.cur, g.ended, g.members = nil, nil, nil, nil
	g.handOver()
}

// handOver passes leadership to the first queued follower, if any.
func (g *groupCommitter) handOver() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.leading = false
		return
	}
	next := g.queue[0]
	g.queue = slices.Delete(g.queue, 0, 1)
	next.state.Store(reqLead)
	next.signal <- struct{}{}
}

// waitTimeout is the error of a caller whose context ended while it waited
// for what (it applied nothing): it matches the context's error and
// sqlite3.INTERRUPT, as a statement interrupted by its context does.
func waitTimeout(ctx context.Context, what string) error {
	te := &timeoutError{classOf: classOf{Performance}, ctxErr: ctx.Err(), err: sqlite3.INTERRUPT, waiting: what}
	if sc, ok := ctx.(*stmtContext); ok && sc.Context.Err() == nil {
		te.timeout = sc.timeout
	}
	return te
}

// groupConn is a connection's group commit state.
type groupConn struct {
	req      groupReq
	ctl      *groupCtl // the group's control statements, prepared the first time it leads
	unfit    bool      // its session may differ from a new connection's: it never groups
	openRows int       // queries whose rows are open
}

// request readies the connection's groupReq for a call. Its statement is
// set only if it leads: a follower's runs on the leader's connection.
func (gc *groupConn) request(c *sqliteConn, ctx context.Context, query string, args []driver.NamedValue) *groupReq {
	r := &gc.req
	if r.signal == nil {
		r.signal = make(chan struct{}, 1)
	}
	r.conn, r.ctx, r.query, r.args, r.stmt = c, ctx, query, args, nil
	r.joined = time.Now()
	r.started, r.ran, r.res, r.err, r.maybe, r.lastID = time.Time{}, false, nil, nil, false, 0
	return r
}

// clear drops the references a finished request holds.
func (r *groupReq) clear() {
	r.ctx, r.args, r.stmt, r.res, r.err = nil, nil, nil, nil, nil
}

// groupAnswer returns a grouped call's answer to its caller on c, and
// leaves c as the statement alone would have: its last_insert_rowid, and
// whether a failed call may have applied its statement (never retried
// then). The time the call queued counts as waiting, apart from the
// writer gate's wait already counted (gateWait).
func (c *sqliteConn) groupAnswer(r *groupReq, gateWait time.Duration) (driver.Result, error) {
	if !r.started.IsZero() {
		c.report.addWait(max(r.started.Sub(r.joined)-gateWait, 0))
	}
	if r.ran {
		c.Conn.Raw().SetLastInsertRowID(r.lastID)
	}
	c.partial = r.maybe
	res, err := r.res, r.err
	r.clear()
	return res, err
}

// groupable reports whether a statement c took from its cache runs through
// group commit: an INSERT, UPDATE, DELETE or REPLACE, in autocommit, on a
// connection whose session is a new connection's (so that the leader's
// connection runs it as this one would), with no open rows.
func (c *sqliteConn) groupable(s *cachedStmt) bool {
	if s.grouping == 0 {
		s.grouping = -1
		if groupableSQL(s.query) && !s.ReadOnly() {
			s.grouping = 1
		}
	}
	return s.grouping > 0 && !c.group.unfit && c.health.broken == nil &&
		c.gateHolds == 0 && c.group.openRows == 0 && !c.inTx()
}

// groupableSQL reports whether query is a single INSERT, UPDATE, DELETE or
// REPLACE that reads nothing of its connection's own state: no RETURNING
// (its rows go to its own caller), and none of changes(), total_changes()
// and last_insert_rowid(), which would read the leader's connection.
func groupableSQL(query string) bool {
	l := lexer{s: query}
	t, ok := l.next()
	if !ok || t.kind != tokWord {
		return false
	}
	switch strings.ToUpper(t.text) {
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
	default:
		return false
	}
	for {
		t, ok := l.next()
		if !ok {
			return true
		}
		if t.kind == tokPunct && t.text == ";" {
			return false
		}
		if t.kind != tokWord && t.kind != tokQuoted {
			continue
		}
		switch strings.ToUpper(strings.Trim(t.text, "\"`[]")) {
		case "RETURNING", "CHANGES", "TOTAL_CHANGES", "LAST_INSERT_ROWID":
			return false
		}
	}
}

// noteSessionChange marks the connection unfit to group, for good, when a
// statement it ran may have made its session differ from a new
// connection's: a PRAGMA, ATTACH or DETACH, or anything TEMP (a temp table
// or trigger shadows or acts on main's tables on this connection only).
func (c *sqliteConn) noteSessionChange(query string) {
	if c.group.unfit {
		return
	}
	l := lexer{s: query}
	for {
		t, ok := l.next()
		if !ok {
			return
		}
		if t.kind != tokWord && t.kind != tokQuoted {
			continue
		}
		switch strings.ToUpper(strings.Trim(t.text, "\"`[]")) {
		case "PRAGMA", "ATTACH", "DETACH", "TEMP", "TEMPORARY":
			c.group.unfit = true
			return
		}
	}
}
