package qlsqlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// stmtContext is the context a statement runs under when its caller's
// context has no deadline: the caller's context plus the default deadline.
//
// It exists because it is cheaper than [context.WithTimeout] on the
// per-statement path. SQLite learns about cancellation by polling Err (ncruces
// polls it as each row is stepped and every 1000 virtual machine
// instructions, and never waits on Done), so:
//   - nothing watches the deadline unless somebody asks for Done, and then
//     the database's [deadlineWatch] does, not a timer of its own;
//   - Err reads the clock on one poll in [pollsPerClockRead], so a statement
//     notices its deadline a few polls late (microseconds of work, or a few
//     busy-handler retries) and a short one never reads the clock at all;
//   - each connection's interceptor keeps one spare, so that steady traffic
//     allocates none.
type stmtContext struct {
	context.Context // the caller's
	deadline        time.Time
	timeout         time.Duration
	polls           atomic.Uint32
	expired         atomic.Bool

	watch *deadlineWatch // the database's, which ends c when its deadline passes (once armed)

	mu         sync.Mutex
	done       chan struct{} // made by Done, on demand
	stopParent func() bool   // stops the caller's context closing done; nil when it never ends
	funcs      []*func()     // registered with AfterFunc, run when done closes
}

// pollsPerClockRead is how often Err reads the clock. Deadlines under a
// millisecond (tests) are checked on every poll.
const pollsPerClockRead = 16

// reset makes c a fresh context for a statement that started at start.
func (c *stmtContext) reset(parent context.Context, start time.Time, timeout time.Duration) {
	c.Context, c.timeout, c.deadline = parent, timeout, start.Add(timeout)
	c.polls.Store(0)
	c.expired.Store(false)
}

// Deadline implements [context.Context].
func (c *stmtContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Err implements [context.Context].
func (c *stmtContext) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if c.expired.Load() {
		return context.DeadlineExceeded
	}
	if c.polls.Add(1)%pollsPerClockRead != 0 && c.timeout >= time.Millisecond {
		return nil
	}
	if time.Until(c.deadline) > 0 { // the monotonic clock only: one clock read
		return nil
	}
	c.expired.Store(true)
	return context.DeadlineExceeded
}

// check reads the clock now and marks the context expired if its deadline
// has passed, so that the next poll of Err sees it. Row iteration calls it
// once per row: a caller that reads slowly polls too seldom for Err's own
// clock reads.
func (c *stmtContext) check() {
	if !c.expired.Load() && time.Until(c.deadline) <= 0 {
		c.expired.Store(true)
	}
}

// Done implements [context.Context]. A running SQLite statement never
// calls it (it polls Err); when something does (a backend's driver, such as
// pgx, which watches each statement's context, or a writer waiting at the
// writer gate or in a group commit's queue), a channel is made that closes when the deadline
// passes or the caller's context is done.
func (c *stmtContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm()
	return c.done
}

// arm makes the done channel and what closes it, once: the caller's
// context ending, or the database's deadline watch. c.mu is held.
func (c *stmtContext) arm() {
	if c.done != nil {
		return
	}
	c.done = make(chan struct{})
	if c.Context.Done() != nil { // a context.Background never ends: nothing to stop
		c.stopParent = context.AfterFunc(c.Context, c.fire)
	}
	c.watch.add(c)
}

// expire ends c: its deadline passed.
func (c *stmtContext) expire() {
	c.expired.Store(true)
	c.fire()
}

// fire closes the done channel, once, and runs what AfterFunc registered.
func (c *stmtContext) fire() {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return
	default:
		close(c.done)
	}
	funcs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for _, f := range funcs {
		(*f)()
	}
}

// AfterFunc arranges for f to run once c is done (in the goroutine that
// ends c, or in one of its own when c is done already: f must not block,
// and context.AfterFunc's own f does not), and returns a function that stops that. [context.AfterFunc], and
// so pgx's watch of each statement's context, uses it instead of starting a
// goroutine per statement to wait on Done.
func (c *stmtContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm()
	select {
	case <-c.done:
		go f()
		return func() bool { return false }
	default:
	}
	p := &f
	c.funcs = append(c.funcs, p)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if i := slices.Index(c.funcs, p); i >= 0 {
			c.funcs = slices.Delete(c.funcs, i, i+1)
			return true
		}
		return false
	}
}

// release frees what Done armed, if anything, and reports whether c can
// be reused for another statement (it can unless Done was asked for).
func (c *stmtContext) release() (reusable bool) {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil { // armed: the watch, and the caller's context, let go of it
		c.watch.remove(c)
		if c.stopParent != nil {
			c.stopParent()
		}
		return false
	}
	c.Context = context.Background() // no reference to the caller's context kept
	return true
}

// timeoutError is returned by a statement that was stopped because its
// context ended: it matches both the context's error (errors.Is with
// [context.DeadlineExceeded] or [context.Canceled]) and the database's own
// error (errors.Is with sqlite3.INTERRUPT).
type timeoutError struct {
	classOf // Performance
	ctxErr  error
	err     error
	timeout time.Duration // the default deadline that applied, if one did
	waiting string        // what the statement was waiting for, if not SQLite
}

func (e *timeoutError) Error() string {
	var where string
	if e.waiting != "" {
		where = " while waiting for " + e.waiting
	}
	if e.timeout > 0 {
		return fmt.Sprintf("qlsqlite: statement exceeded the %v default deadline%s (raise _timeout, or pass a context with its own deadline): %v", e.timeout, where, e.err)
	}
	return fmt.Sprintf("qlsqlite: %v%s: %v", e.ctxErr, where, e.err)
}

func (e *timeoutError) Unwrap() []error { return []error{e.ctxErr, e.err} }

// surfaceCtxErr makes the error of a statement whose context has ended say
// so (DESIGN.md, trap 4): SQLite reports only that it was interrupted.
func surfaceCtxErr(ctx context.Context, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	ctxErr := ctx.Err()
	if ctxErr == nil {
		return err
	}
	if errors.Is(err, ctxErr) {
		return err
	}
	te := &timeoutError{classOf: classOf{Performance}, ctxErr: ctxErr, err: err}
	if sc, ok := ctx.(*stmtContext); ok && sc.Context.Err() == nil {
		te.timeout = sc.timeout
	}
	return te
}
