package qlsqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"sync"
	"time"
)

// The default deadline of a [Backend] whose server enforces it
// ([ServerDeadline]): what the interceptor does instead of giving each
// statement a [stmtContext].
//
// A statement whose context has no deadline runs under that context,
// unchanged, and the server stops it at the default deadline. Its
// connection records when it started (busy), and the database's
// [stallWatch] gives up on it if no answer came by the default deadline
// plus the backend's grace: a network that went silent is bounded as it
// was when the client's own context bounded every read. Nothing is
// allocated and no timer is set per statement.
//
// A statement whose context has a deadline of its own runs under it, as
// on SQLite. When that deadline is later than the default, the server's
// limit is lifted for the statement ([ServerDeadlineConn.SetServerTimeout]):
// one round trip, and one more before the next statement that runs under
// the default on that connection, outside a transaction. That is the
// cheapest rule that lets the caller's deadline govern both ways; the
// alternative, a context with the default deadline for every statement,
// is what this replaces. A deadline sooner than the default needs nothing:
// the client's cancel comes before the server's limit.

// serverCall is one call's share of the server's default deadline.
type serverCall struct {
	start time.Time // when the call started, when the default deadline applies to it; zero otherwise
}

// applies reports whether the default deadline applies to the call.
func (c serverCall) applies() bool { return !c.start.IsZero() }

// stallInterrupted is the busy mark of a call the stall watch gave up on.
const stallInterrupted = -1

// since encodes a call's start as a connection's busy mark (> 0), counted
// from the watch's epoch.
func (w *stallWatch) since(start time.Time) int64 { return int64(start.Sub(w.epoch)) + 1 }

// serverBegin is [interceptor.deadline]'s twin when the server enforces
// the default deadline. adjust says whether the server's limit must fit
// the call (a statement; BEGIN cannot run long and needs no round trip).
func (i *interceptor) serverBegin(ctx context.Context, adjust bool) (serverCall, error) {
	start := i.session.callStart() // taken first, so that none is left for a later call
	c := i.server
	if dl, ok := ctx.Deadline(); ok {
		if adjust && time.Until(dl) > i.timeout {
			return serverCall{}, c.sd.SetServerTimeout(ctx, true)
		}
		return serverCall{}, nil
	}
	if start.IsZero() {
		start = time.Now()
	}
	c.busy.Store(c.db.stalls.since(start)) // before any round trip: the stall watch bounds it too
	if adjust {
		if err := c.sd.SetServerTimeout(ctx, false); err != nil {
			return serverCall{start: start}, err
		}
	}
	return serverCall{start: start}, nil
}

// serverEnd ends a call begun with [interceptor.serverBegin] and returns
// its error as the shared layers report it (see [interceptor.serverErr]).
func (i *interceptor) serverEnd(ctx context.Context, call serverCall, err error) error {
	if !call.applies() {
		return err
	}
	if i.server.busy.Swap(0) == stallInterrupted {
		if i.server.broken == nil {
			i.server.broken = errStalled
		}
		if err == nil || err == io.EOF {
			return err
		}
		return i.stalledError(err)
	}
	return i.serverErr(ctx, call, err)
}

// mayBeScript reports whether an Exec's SQL may hold more than one
// statement (a ';' before its end, perhaps in a literal or a comment).
// The server applies its statement_timeout to each statement of a script
// sent at once (PostgreSQL 13 and later), not to the call.
func mayBeScript(sql string) bool {
	return strings.IndexByte(strings.TrimRight(sql, "; \t\r\n"), ';') >= 0
}

// serverScript is serverExec for a script: the default deadline bounds the
// whole call, as on SQLite, so it is the client's ([interceptor.deadline]),
// and the server's limit, which bounds each of its statements, is lifted
// only for a caller's deadline later than the default. Past the client's
// deadline pgx sends a cancel request; the server's timeout of one of the
// statements, at the default deadline, is the default deadline's error.
func (i *interceptor) serverScript(ctx context.Context, c stmtCall, t trial) (driver.Result, error) {
	autocommit := !i.session.inTx()
	var err error
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > i.timeout {
		err = i.server.sd.SetServerTimeout(ctx, true)
	}
	start := time.Now()
	sctx, sc := i.deadline(ctx)
	var res driver.Result
	if err == nil {
		res, err = c.runExec(sctx)
		if err != nil && autocommit && !i.session.applied() {
			res, err = i.retryExec(sctx, c, err)
		}
	}
	err = surfaceCtxErr(sctx, err)
	if sc != nil && sctx.Err() == nil { // the server's timeout came first
		err = i.serverErr(ctx, serverCall{start: start}, err)
	}
	err = i.mark(err)
	i.outcome(t, err, !autocommit)
	i.release(sc)
	return res, err
}

// errStalled marks a connection whose call the stall watch gave up on.
var errStalled = errors.New("qlsqlite: the server did not answer within the default deadline and its grace")

// serverErr makes the error of a call under the server's default deadline
// say so, as [surfaceCtxErr] does for the client's: the server's timeout
// (after the default deadline or longer: a shorter statement_timeout of
// the caller's own is its own error) and a call the stall watch gave up on
// become a [timeoutError] that matches [context.DeadlineExceeded].
func (i *interceptor) serverErr(ctx context.Context, call serverCall, err error) error {
	if err == nil || err == io.EOF || !call.applies() || ctx.Err() != nil {
		return err
	}
	if i.server.busy.Load() == stallInterrupted {
		return i.stalledError(err)
	}
	if i.server.db.server.TimedOut(err) && time.Since(call.start) >= i.timeout {
		return &timeoutError{classOf: classOf{Performance}, ctxErr: context.DeadlineExceeded, err: err, timeout: i.timeout}
	}
	return err
}

func (i *interceptor) stalledError(err error) error {
	var te *timeoutError
	if errors.As(err, &te) {
		return err
	}
	return &timeoutError{classOf: classOf{Performance}, ctxErr: context.DeadlineExceeded, err: err, timeout: i.timeout, waiting: "the server's answer"}
}

// stallWatch gives up on the calls of a database's connections that have
// waited for the server longer than the default deadline plus the
// backend's grace, from one goroutine: each call only stores when it
// started in its connection (no timer, no allocation). Every call starts
// with the same bound, so a call that starts later never expires before
// one that started earlier, and the watch never has to be woken early: it
// sleeps until the earliest expiry among the calls in progress or, with
// none, one bound.
type stallWatch struct {
	db    *database     // its background work: the watch runs until the database closes
	bound time.Duration // the default deadline plus the backend's grace
	epoch time.Time     // what the connections' busy marks count from

	mu      sync.Mutex
	conns   map[*backendConn]struct{}
	running bool
}

// add watches c's calls, starting the watch on first use.
func (w *stallWatch) add(c *backendConn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conns == nil {
		w.conns = make(map[*backendConn]struct{})
	}
	w.conns[c] = struct{}{}
	if !w.running && w.db.goBackground(w.run) {
		w.running = true
	}
}

// remove stops watching c.
func (w *stallWatch) remove(c *backendConn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
}

// run is the watch's goroutine.
func (w *stallWatch) run(ctx context.Context) {
	timer := time.NewTimer(w.bound)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(w.sweep())
	}
}

// sweep interrupts the calls past the bound and returns how long the
// watch sleeps next.
func (w *stallWatch) sweep() time.Duration {
	now := w.since(time.Now())
	next := w.bound
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.conns {
		since := c.busy.Load()
		if since <= 0 {
			continue
		}
		left := w.bound - time.Duration(now-since)
		if left > 0 {
			next = min(next, left)
			continue
		}
		if c.busy.CompareAndSwap(since, stallInterrupted) {
			c.sd.Interrupt()
		}
	}
	return max(next, time.Millisecond)
}
