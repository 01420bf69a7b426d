package qlsqlite

import (
	"sync"
	"time"
)

// deadlineWatch ends the statement contexts of a database whose default
// deadline passed, from one goroutine, instead of a runtime timer per
// statement.
//
// Only a backend's driver asks a statement's context for Done (pgx watches
// every statement's context, to send the server a cancel request); SQLite
// polls Err. A timer per statement costs more than its allocation: adding
// a timer earlier than the one the runtime's network poller sleeps for
// wakes the poller (a system call), on every statement. The deadlines of
// one database all come from one default timeout, so a statement armed
// later never ends before one armed earlier, and the watch never has to be
// woken early: it sleeps until the earliest deadline it holds or, with
// none, one timeout, and ends what expired when it wakes.
type deadlineWatch struct {
	db *database // its background work: the watch runs until the database closes

	mu      sync.Mutex
	armed   map[*stmtContext]struct{}
	running bool
}

// add watches c's deadline, starting the watch on first use.
func (w *deadlineWatch) add(c *stmtContext) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed == nil {
		w.armed = make(map[*stmtContext]struct{})
	}
	w.armed[c] = struct{}{}
	if !w.running && w.db.ctx.Err() == nil {
		w.running = true
		w.db.background.Add(1)
		go w.run(c.timeout)
	}
}

// remove stops watching c.
func (w *deadlineWatch) remove(c *stmtContext) {
	w.mu.Lock()
	delete(w.armed, c)
	w.mu.Unlock()
}

// run is the watch's goroutine; period is the default timeout.
func (w *deadlineWatch) run(period time.Duration) {
	defer w.db.background.Done()
	timer := time.NewTimer(period)
	defer timer.Stop()
	for {
		select {
		case <-w.db.ctx.Done():
			return
		case <-timer.C:
		}
		for _, c := range w.expired(period) {
			c.expire()
		}
		timer.Reset(w.next(period))
	}
}

// expired takes the contexts whose deadline passed out of the watch.
func (w *deadlineWatch) expired(period time.Duration) []*stmtContext {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*stmtContext
	for c := range w.armed {
		if time.Until(c.deadline) <= 0 {
			out = append(out, c)
			delete(w.armed, c)
		}
	}
	return out
}

// next is how long the watch sleeps: until the earliest deadline it holds,
// at most period.
func (w *deadlineWatch) next(period time.Duration) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := period
	for c := range w.armed {
		d = min(d, time.Until(c.deadline))
	}
	return max(d, time.Millisecond)
}
