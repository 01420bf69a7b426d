package qlsqlite

import (
	"context"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"
)

// writerGate lets one writer of a database at a time reach SQLite's write
// lock, in arrival order. SQLite allows a single writer; without the gate,
// concurrent writers of one process spin in the busy handler, sleeping and
// retrying, and the unluckiest wait longest. With it they queue, first come
// first served, and each waits only as long as its context allows.
//
// Write transactions hold the gate from BEGIN to COMMIT or ROLLBACK;
// autocommit writes hold it for the statement. Read-only statements
// (sqlite3_stmt_readonly) and statements inside a transaction never take it.
// Other processes are still handled by the busy timeout and by retries.
type writerGate struct {
	sem *semaphore.Weighted // FIFO
}

func newWriterGate() *writerGate { return &writerGate{sem: semaphore.NewWeighted(1)} }

// acquire waits for the gate, bounded by ctx, and returns how long it
// waited. A nil gate is always free.
func (g *writerGate) acquire(ctx context.Context) (time.Duration, error) {
	if g == nil || g.sem.TryAcquire(1) { // the fast path does not ask ctx for Done
		return 0, nil
	}
	start := time.Now()
	err := g.sem.Acquire(ctx, 1)
	return time.Since(start), err
}

// tryAcquire takes the gate if it is free now. A nil gate always is.
func (g *writerGate) tryAcquire() bool { return g == nil || g.sem.TryAcquire(1) }

func (g *writerGate) release() {
	if g != nil {
		g.sem.Release(1)
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
