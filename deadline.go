package qlsqlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// stmtContext is the context a statement runs under when its caller's
// context has no deadline: the caller's context plus the default deadline.
//
// It exists only because it is cheaper than [context.WithTimeout] on the
// per-statement path: SQLite learns about cancellation by polling Err from its
// progress handler (ncruces never waits on Done), so Err compares the clock
// with the deadline and no timer is armed unless somebody asks for Done.
type stmtContext struct {
	context.Context // the caller's
	deadline        time.Time
	timeout         time.Duration

	mu   sync.Mutex
	done chan struct{} // made by Done, on demand
	stop func() bool   // stops what closes done
}

func newStmtContext(parent context.Context, timeout time.Duration) *stmtContext {
	return &stmtContext{Context: parent, deadline: time.Now().Add(timeout), timeout: timeout}
}

// Deadline implements [context.Context].
func (c *stmtContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Err implements [context.Context].
func (c *stmtContext) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if time.Now().Before(c.deadline) {
		return nil
	}
	return context.DeadlineExceeded
}

// Done implements [context.Context]. Nothing in the statement's own path
// calls it; when something does, a channel is made that closes when the
// deadline passes or the caller's context is done.
func (c *stmtContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		done := make(chan struct{})
		closeDone := func() {
			select {
			case <-done:
			default:
				close(done)
			}
		}
		timer := time.AfterFunc(time.Until(c.deadline), closeDone)
		stopParent := context.AfterFunc(c.Context, closeDone)
		c.done = done
		c.stop = func() bool { stopParent(); return timer.Stop() }
	}
	return c.done
}

// release frees what Done armed, if anything. The statement is over.
func (c *stmtContext) release() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		c.stop()
	}
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
