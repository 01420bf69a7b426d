package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/ngrok/sqlmw"
)

// backendConn is the innermost qlsqlite layer over a [Backend]'s
// connection, what [sqliteConn] is over SQLite's: it answers the
// interceptor's [session] questions and the pool's, and carries the
// connection's statistics. Statements go straight to the backend's
// connection, whose driver keeps its own statement cache.
type backendConn struct {
	BackendConn
	db *database
	connCore
	broken error // a failure after which the connection must not be reused

	// When the server enforces the default deadline (serverdeadline.go):
	sd   ServerDeadlineConn // the backend's connection; nil otherwise
	busy atomic.Int64       // when the call in progress under the default deadline started (stallWatch.since), 0 when none, or stallInterrupted
}

var _ session = &backendConn{}

func newBackendConn(bc BackendConn, db *database) *backendConn {
	c := &backendConn{BackendConn: bc, db: db, connCore: connCore{stmts: newStmtCache(0, &db.schemaGen)}}
	db.track(&c.connCore)
	return c
}

// connectBackend opens a connection of the database's [Backend] (through
// [database.connect]: the breaker, the connection deadline) and stacks
// qlsqlite's layers on it, as [Connector.Connect] does for SQLite.
func (d *database) connectBackend(ctx context.Context) (driver.Conn, error) {
	dc, err := d.connect(ctx)
	if err != nil {
		return nil, markEngine(d.rules, err)
	}
	d.historyOnce.Do(func() { d.startConfiguredHistory(ctx) })
	inner := newBackendConn(dc.(BackendConn), d)
	icp := newInterceptor(d, inner)
	if d.server != nil {
		sd, ok := dc.(ServerDeadlineConn)
		if !ok {
			inner.Close()
			return nil, fmt.Errorf("qlsqlite: the %s backend enforces the default deadline on its server, but its connection (%T) does not implement qlsqlite.ServerDeadlineConn", d.backend.System(), dc)
		}
		inner.sd, icp.server = sd, inner
		d.stalls.add(inner)
	}
	mw, err := sqlmw.Driver(opened{inner}, d.obs.interceptor(&inner.connCore, icp)).Open("")
	if err != nil {
		inner.Close()
		return nil, err
	}
	return &backendOuterConn{mwConn: mw.(mwConn), inner: inner}, nil
}

// inTx implements [session].
func (c *backendConn) inTx() bool { return c.BackendConn.InTx() }

// applied implements [session]: a backend's statement is atomic.
func (c *backendConn) applied() bool { return false }

// callStart implements [session].
func (c *backendConn) callStart() time.Time { return c.report.callStart() }

// addWait implements [session].
func (c *backendConn) addWait(d time.Duration) { c.report.addWait(d) }

// observe implements [session]: after an infrastructure failure (the
// server went away, the network broke) the connection is not reused.
func (c *backendConn) observe(err error, _ bool) {
	if err != nil && c.broken == nil && c.db.rules.infrastructure(err) {
		c.broken = err
	}
}

// IsValid implements [driver.Validator]: a connection is not taken back
// into the pool after an infrastructure failure or with a transaction open.
func (c *backendConn) IsValid() bool {
	if c.broken != nil || c.BackendConn.InTx() {
		return false
	}
	if v, ok := c.BackendConn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// ResetSession implements [driver.SessionResetter]: a broken connection
// is refused (database/sql then opens another), the others are the
// backend's to check.
func (c *backendConn) ResetSession(ctx context.Context) error {
	if c.broken != nil {
		return driver.ErrBadConn
	}
	return c.BackendConn.ResetSession(ctx)
}

// Close implements [driver.Conn].
func (c *backendConn) Close() error {
	c.db.untrack(&c.connCore)
	if c.sd != nil {
		c.db.stalls.remove(c)
	}
	return c.BackendConn.Close()
}

// backendOuterConn is the outermost connection of a [Backend]'s database,
// the one [sql.Conn.Raw] hands out.
type backendOuterConn struct {
	mwConn
	inner *backendConn
}

// Unwrap returns the backend's own connection (for PostgreSQL, pgx's
// *stdlib.Conn). What is done with it is out of qlsqlite's sight: no
// deadline, statistics or span.
func (c *backendOuterConn) Unwrap() driver.Conn { return c.inner.BackendConn }

// markEngine marks an error a backend's connection returned with the
// backend's rules (see [engineError]), so that [Classify] reads it as the
// backend says. nil, io.EOF and database/sql's signals (ErrSkip, ErrBadConn)
// are returned as they are, and so are qlsqlite's own errors, which carry
// their class.
func markEngine(rules errorRules, err error) error {
	switch {
	case err == nil, err == io.EOF, err == driver.ErrSkip, err == driver.ErrBadConn, err == driver.ErrRemoveArgument:
		return err
	}
	var c Class
	if errors.As(err, &c) {
		return err
	}
	return &engineError{rules: rules, err: err}
}

// backendDialect is the [dialect] of a [Backend]: what observability needs
// to know about its engine.
type backendDialect struct{ b Backend }

func (d backendDialect) system() string              { return d.b.System() }
func (d backendDialect) namespace() string           { return d.b.Namespace() }
func (d backendDialect) statusCode(err error) string { return d.b.StatusCode(err) }
func (d backendDialect) close()                      {}

// storage asks the backend for the database's size, when it reports one.
func (d backendDialect) storage(ctx context.Context, _ *sql.DB) (StorageStats, error) {
	if r, ok := d.b.(ServerReporter); ok {
		return r.Storage(ctx)
	}
	return StorageStats{}, errors.New("qlsqlite: the " + d.b.System() + " backend reports no storage statistics")
}

// errNoIntegrityCheck is what [CheckIntegrity] says on a backend's
// database.
var errNoIntegrityCheck = errors.New("qlsqlite: CheckIntegrity runs SQLite's quick_check; a database server checks its own storage (PostgreSQL: data checksums, the amcheck extension, pg_amcheck)")

// checkIntegrity is SQLite's alone: a backend's database has no scheduled
// check (its "_integrity_every" is an error), and CheckIntegrity says what
// to use instead without running this.
func (d backendDialect) checkIntegrity(context.Context, *sql.DB, func(time.Duration) error) (int, []string, error) {
	return 0, nil, errNoIntegrityCheck
}

// checkServer adds what the backend's server reports of itself to a health
// report: unreachable fails it, the backend's findings degrade it.
func (o *observability) checkServer(ctx context.Context, r *HealthReport, fail, degrade func(string, ...any)) {
	bd, ok := o.dialect.(backendDialect)
	if !ok {
		return
	}
	rep, ok := bd.b.(ServerReporter)
	if !ok {
		return
	}
	sh, err := rep.ServerHealth(ctx)
	if err != nil {
		fail("%v", err)
		return
	}
	r.Server = &sh
	for _, p := range sh.Problems {
		degrade("%s", p)
	}
}

// errNoSpace is what the Space page says of a backend's database.
var errNoSpace = errors.New("qlsqlite: the sizes of tables and indexes are read from SQLite's file; a database server reports its own (PostgreSQL: pg_total_relation_size, pg_stat_user_tables)")

// space is SQLite's alone: the monitoring page's Space page says what to
// read instead.
func (d backendDialect) space(context.Context, *sql.DB) ([]objectSpace, string, error) {
	return nil, "", errNoSpace
}

// checkpoint is SQLite's alone: a database server checkpoints its own
// write-ahead log.
func (d backendDialect) checkpoint(context.Context) (checkpointResult, error) {
	return checkpointResult{}, errors.New("qlsqlite: a checkpoint copies SQLite's WAL into its file; a database server checkpoints its own write-ahead log")
}
