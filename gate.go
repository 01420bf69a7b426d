package qlsqlite

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	"golang.org/x/sync/semaphore"
)

// writerGate lets one writer of a database at a time reach SQLite's write
// lock, in arrival order. SQLite allows a single writer; without the gate,
// concurrent writers of one process spin in the busy handler, sleeping and
// retrying, and the unluckiest wait longest. With it they queue, first come
// first served, and each waits only as long as its context allows.
//
// Write transactions hold the gate from BEGIN to COMMIT or ROLLBACK;
// autocommit writes hold it for the statement (a query's, until its rows
// close). Read-only statements (sqlite3_stmt_readonly) and statements inside
// a transaction never take it; the holds are counted per connection, so
// that a statement inside a write transaction never releases the
// transaction's hold.
// Other processes are still handled by the busy timeout and by retries.
type writerGate struct {
	sem     *semaphore.Weighted // FIFO
	waiting atomic.Int32        // writers waiting for the gate
	onWait  func()              // tests: called when a writer starts waiting
}

func newWriterGate() *writerGate { return &writerGate{sem: semaphore.NewWeighted(1)} }

// acquire waits for the gate, bounded by ctx, and returns how long it
// waited. A nil gate is always free.
func (g *writerGate) acquire(ctx context.Context) (time.Duration, error) {
	if g == nil || g.sem.TryAcquire(1) { // the fast path does not ask ctx for Done
		return 0, nil
	}
	start := time.Now()
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	if g.onWait != nil {
		g.onWait()
	}
	err := g.sem.Acquire(ctx, 1)
	return time.Since(start), err
}

// contended reports whether a writer is waiting for the gate. A nil gate
// never is.
func (g *writerGate) contended() bool { return g != nil && g.waiting.Load() > 0 }

// tryAcquire takes the gate if it is free now. A nil gate always is.
func (g *writerGate) tryAcquire() bool { return g == nil || g.sem.TryAcquire(1) }

func (g *writerGate) release() {
	if g != nil {
		g.sem.Release(1)
	}
}

// enterGate takes the writer gate for an autocommit statement or a
// transaction that writes (write says it might), and reports whether it did:
// the caller gives it back with [sqliteConn.leaveGate]. Statements inside a
// transaction never take it. A connection that holds the gate already (the
// rows of an INSERT ... RETURNING are still open) holds it once more rather
// than wait for itself.
//
// A context that ends while it waits gives the error SQLite gives for a
// done context, sqlite3.INTERRUPT, which then also matches the context's
// error.
func (c *sqliteConn) enterGate(ctx context.Context, write bool) (took bool, err error) {
	switch {
	case !write || c.db.gate == nil:
		return false, nil
	case c.gateHolds > 0:
		c.gateHolds++
		return true, nil
	case c.inTx():
		return false, nil
	}
	waited, err := c.db.gate.acquire(ctx)
	c.report.addWait(waited)
	if err != nil {
		te := &timeoutError{classOf: classOf{Performance}, ctxErr: err, err: sqlite3.INTERRUPT, waiting: "the writer gate"}
		if sc, ok := ctx.(*stmtContext); ok && sc.Context.Err() == nil {
			te.timeout = sc.timeout
		}
		return false, te
	}
	c.gateHolds = 1
	return true, nil
}

// leaveGate gives back a hold enterGate took (took: whether it did).
func (c *sqliteConn) leaveGate(took bool) {
	if !took {
		return
	}
	if c.gateHolds--; c.gateHolds == 0 {
		c.db.gate.release()
	}
}

// dropGate releases the gate if the connection holds it, whatever the
// holds: the connection is closing.
func (c *sqliteConn) dropGate() {
	if c.gateHolds > 0 {
		c.gateHolds = 0
		c.db.gate.release()
	}
}

// mayWrite reports whether a statement run without preparing it first
// (ncruces's path for statements without arguments, including scripts)
// might write, so that it takes the gate. Only statements that begin with
// SELECT, EXPLAIN or VALUES are known not to.
func mayWrite(query string) bool {
	l := lexer{s: query}
	t, ok := l.next()
	if !ok {
		return false
	}
	switch strings.ToUpper(t.text) {
	case "SELECT", "EXPLAIN", "VALUES":
		return strings.ContainsRune(query, ';') // a script may go on to write
	}
	return true
}
