package qlsqlite

import (
	"sync"
	"time"
)

// deadlineWatch ends the statement contexts of a database whose default
// deadline passed, from one goroutine, instead of a runtime timer per
// statement.
//
// A statement's context is asked for Done by a backend's driver (pgx
// watches every statement's context, to send the server a cancel
// request), and on SQLite only by a writer that waits (at the writer gate,
// or in a group commit's queue); a running SQLite statement polls Err. A timer per statement costs more than its allocation: adding
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
		expired, next := w.sweep(period)
		for _, c := range expired {
			c.expire()
		}
		timer.Reset(next)
	}
}

// sweep takes the contexts whose deadline passed out of the watch, and
// returns them with how long the watch sleeps next: until the earliest
// deadline it still holds, at most period. One pass, one reading of the
// clock.
func (w *deadlineWatch) sweep(period time.Duration) (expired []*stmtContext, next time.Duration) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	next = period
	for c := range w.armed {
		if left := c.deadline.Sub(now); left <= 0 {
			expired = append(expired, c)
			delete(w.armed, c)
		} else {
			next = min(next, left)
		}
	}
	return expired, max(next, time.Millisecond)
}
