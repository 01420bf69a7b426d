package qlsqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// groupCtl holds a connection's prepared control statements for the groups
// it leads.
type groupCtl struct {
	begin, savepoint, release, rollbackTo, commit, rollback *sqlite3.Stmt
}

// controls returns the connection's control statements, preparing them the
// first time.
func (gc *groupConn) controls(raw *sqlite3.Conn) (*groupCtl, error) {
	if gc.ctl != nil {
		return gc.ctl, nil
	}
	ctl := &groupCtl{}
	for _, p := range []struct {
		s   **sqlite3.Stmt
		sql string
	}{
		{&ctl.begin, `BEGIN IMMEDIATE`},
		{&ctl.savepoint, `SAVEPOINT qlsqlite_group`},
		{&ctl.release, `RELEASE qlsqlite_group`},
		{&ctl.rollbackTo, `ROLLBACK TO qlsqlite_group`},
		{&ctl.commit, `COMMIT`},
		{&ctl.rollback, `ROLLBACK`},
	} {
		s, _, err := raw.Prepare(p.sql)
		if err != nil {
			ctl.close()
			return nil, err
		}
		*p.s = s
	}
	gc.ctl = ctl
	return ctl, nil
}

// close finalizes the control statements.
func (gc *groupConn) close() {
	if gc.ctl != nil {
		gc.ctl.close()
		gc.ctl = nil
	}
}

func (ctl *groupCtl) close() {
	for _, s := range []*sqlite3.Stmt{ctl.begin, ctl.savepoint, ctl.release, ctl.rollbackTo, ctl.commit, ctl.rollback} {
		if s != nil {
			s.Close()
		}
	}
}

// run runs a group on the leader's connection c, which holds the writer
// gate: g.todo holds the statements taken, the leader's first.
//
// One transaction (BEGIN IMMEDIATE); each statement in a SAVEPOINT of its
// own, run under its caller's context, so that its caller's deadline
// interrupts its statement only. A statement keeps exactly what SQLite
// keeps of it: nothing when it fails (SQLite undoes a failed statement
// inside a transaction as it does in autocommit), and, under OR FAIL, its
// rows before the failing one, as in autocommit. A statement that leaves a
// deferred foreign key unresolved is rolled back to its savepoint and its
// caller gets the error its own COMMIT would have given. A statement whose
// failure makes SQLite roll the whole transaction back (OR ROLLBACK,
// RAISE(ROLLBACK) in a trigger, an interrupt, an I/O error) gets its own
// error, and the statements that had run in that transaction run again, in
// the same order, in a new one (a failed one fails again, an OR FAIL one
// keeps its first rows again), so that each caller still gets what it
// would have got alone. When the statements taken have run, the group takes those queued
// meanwhile, until nobody is queued or a limit is reached, then commits
// once. If BEGIN or COMMIT fails, every statement of the group that had not
// failed on its own gets that error, and nothing of the group is applied
// (a COMMIT whose write or sync failed may still be found committed after
// a crash: such an answer says its outcome is unknown, and is never
// retried).
//
// Control statements run with no interrupt: no caller's context stops the
// others' COMMIT.
func (g *groupCommitter) run(c *sqliteConn) {
	raw := c.Conn.Raw()
	old := raw.SetInterrupt(context.Background())
	defer raw.SetInterrupt(old)
	g.cur, g.ended = g.cur[:0], g.ended[:0]
	ctl, err := c.group.controls(raw)
	if err == nil {
		err = ctl.begin.Exec()
	}
	if err != nil {
		g.failTodo(err, "BEGIN")
		return
	}
	start := time.Now()
	taken := len(g.todo)
	base := g.todo[:0]
	for {
		for len(g.todo) > 0 {
			r := g.todo[0]
			g.todo = g.todo[1:]
			if !r.state.CompareAndSwap(reqTaken, reqRunning) && r.state.Load() != reqRunning {
				continue // withdrawn before its statement started
			}
			switch g.runOne(c, ctl, r) {
			case stmtKept, stmtFailed:
				g.cur = append(g.cur, r) // answered when the transaction ends
			case txRolledBack:
				// SQLite rolled the transaction back: r failed on its
				// own, and those that had run in it run again first.
				g.ended = append(g.ended, r)
				g.stats.replayed()
				g.todo = append(g.cur[:len(g.cur):len(g.cur)], g.todo...)
				g.cur = g.cur[:0]
				if err := ctl.begin.Exec(); err != nil {
					g.failTodo(err, "BEGIN")
					return
				}
			case txCommitted:
				// SQLite committed early (see runOne): what ran so far is
				// committed, r included; the rest goes on in a new
				// transaction.
				g.ended = append(append(g.ended, g.cur...), r)
				g.cur = g.cur[:0]
				if err := ctl.begin.Exec(); err != nil {
					g.failTodo(err, "BEGIN")
					return
				}
			}
		}
		g.todo = base
		if taken < g.limits.MaxStatements && time.Since(start) < g.limits.MaxTime {
			g.todo = g.more(g.todo, g.limits.MaxStatements-taken)
			if len(g.todo) > 0 {
				taken += len(g.todo)
				continue
			}
		}
		break
	}
	g.commit(raw, ctl)
}

// A statement's outcome inside a group.
type stmtOutcome int

const (
	stmtKept     stmtOutcome = iota // it succeeded: it commits with the group
	stmtFailed                      // it failed on its own (what SQLite kept of it commits); the group goes on
	txRolledBack                    // it failed, and SQLite rolled the group's transaction back
	txCommitted                     // it succeeded, and the transaction committed with it
)

// runOne runs r's statement in its own savepoint on the leader's
// connection c.
func (g *groupCommitter) runOne(c *sqliteConn, ctl *groupCtl, r *groupReq) stmtOutcome {
	raw := c.Conn.Raw()
	if r.started.IsZero() {
		r.started = time.Now()
	}
	r.res, r.err, r.ran = nil, nil, false
	if r.err = ctl.savepoint.Exec(); r.err != nil {
		return g.failed(raw)
	}
	s := r.stmt
	if s == nil {
		if s, r.err = c.take(r.ctx, r.query); r.err != nil {
			ctl.release.Exec()
			return g.failed(raw)
		}
	}
	r.stmt = nil
	g.running = s
	if g.onRun != nil {
		g.onRun(r.args)
	}
	r.res, r.err = s.ExecContext(r.ctx, r.args)
	r.ran, r.lastID = true, raw.LastInsertRowID()
	g.running = nil
	c.stmts.release(s, r.err != nil)
	if raw.GetAutocommit() {
		r.res = nil
		return txRolledBack
	}
	if deferredFKs(raw) {
		// Its own COMMIT would fail: SQLite's error for it is what COMMIT
		// says now (it fails and leaves the transaction open); then the
		// statement is undone.
		err := ctl.commit.Exec()
		if err == nil && raw.GetAutocommit() {
			return txCommitted // SQLite's rules say this cannot happen
		}
		if r.err == nil {
			r.res, r.err = nil, err
		}
		ctl.rollbackTo.Exec()
	}
	ctl.release.Exec()
	if r.err != nil {
		r.res = nil
		return g.failed(raw)
	}
	return stmtKept
}

// failed reports what became of the group's transaction after a statement
// failed.
func (g *groupCommitter) failed(raw *sqlite3.Conn) stmtOutcome {
	if raw.GetAutocommit() {
		return txRolledBack
	}
	return stmtFailed
}

// deferredFKs reports whether a deferred foreign key constraint is
// unresolved on raw: the COMMIT would fail.
func deferredFKs(raw *sqlite3.Conn) bool {
	n, _, err := raw.Status(sqlite3.DBSTATUS_DEFERRED_FKS, false)
	return err == nil && n > 0
}

// commit commits the group's transaction. If COMMIT fails, every statement
// that had succeeded gets its error (one that failed keeps its own); the
// transaction is rolled back if it is still open, and then nothing of the
// group was applied.
func (g *groupCommitter) commit(raw *sqlite3.Conn, ctl *groupCtl) {
	err := ctl.commit.Exec()
	if err == nil {
		g.ended = append(g.ended, g.cur...)
		g.cur = g.cur[:0]
		return
	}
	maybe := raw.GetAutocommit() // SQLite gave up the transaction: its write or sync failed
	if !maybe {
		ctl.rollback.Exec()
	}
	g.stats.commitFailed()
	e := &groupError{op: "COMMIT", n: len(g.cur) + len(g.ended), maybe: maybe, err: err}
	for _, r := range g.cur {
		if r.err != nil {
			continue // its own error stays its answer
		}
		r.res, r.err, r.maybe = nil, e, maybe
		if !maybe {
			r.ran = false // rolled back: its connection's last_insert_rowid stays
		}
	}
	g.ended = append(g.ended, g.cur...)
	g.cur = g.cur[:0]
}

// failTodo answers every statement still to run, and those that had run in
// the transaction that failed to begin again, with err: none was applied.
func (g *groupCommitter) failTodo(err error, op string) {
	g.stats.commitFailed()
	e := &groupError{op: op, n: len(g.todo) + len(g.cur), err: err}
	for _, r := range append(g.cur, g.todo...) {
		if r.state.CompareAndSwap(reqTaken, reqRunning) || r.state.Load() == reqRunning {
			if r.started.IsZero() {
				r.started = time.Now()
			}
			if r.stmt != nil {
				r.conn.stmts.release(r.stmt, false)
				r.stmt = nil
			}
			r.res, r.err, r.ran = nil, e, false
			g.ended = append(g.ended, r)
		}
	}
	g.todo, g.cur = g.todo[:0], g.cur[:0]
}

// groupError is the answer of a grouped statement whose group failed to
// begin or commit. It wraps SQLite's error.
type groupError struct {
	op    string // BEGIN or COMMIT
	n     int    // statements in the group
	maybe bool   // the outcome is unknown
	err   error
}

func (e *groupError) Error() string {
	if e.maybe {
		return fmt.Sprintf("qlsqlite: the %s of a group of %d statements, this one among them, failed and its outcome is unknown (a failed write or sync may still be found committed after a restart): check before writing it again: %v", e.op, e.n, e.err)
	}
	return fmt.Sprintf("qlsqlite: the %s of a group of %d statements, this one among them, failed and nothing of the group was applied: %v", e.op, e.n, e.err)
}

func (e *groupError) Unwrap() error { return e.err }
