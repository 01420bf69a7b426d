package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// sqliteConn is the innermost qlsqlite layer, directly over the ncruces
// connection, and the place for what is SQLite's own. It adds what ncruces
// lacks: [driver.QueryerContext], and [driver.ExecerContext] for statements
// with arguments (ncruces answers those with [driver.ErrSkip], DESIGN.md
// trap 3), both through a cache of prepared statements ([stmtCache]).
type sqliteConn struct {
	ncruces.Conn                      // Raw, Close, BeginTx, PrepareContext, ...
	exec         driver.ExecerContext // ncruces's own, for statements without arguments
	db           *database
	connCore                 // statement cache, statistics, call report
	gateHolds    int         // calls and transactions of this connection holding the writer gate
	group        groupConn   // group commit (groupcommit.go)
	partial      bool        // the last Exec failed after part of it was applied
	health       health      // what the pool checks (pool.go)
	spareRows    *cachedRows // closed rows, for the next query
	txs          txStmts     // prepared BEGIN and COMMIT (txstmts.go)
}

func newSQLiteConn(nc ncruces.Conn, db *database) (*sqliteConn, error) {
	c := &sqliteConn{Conn: nc, exec: nc.(driver.ExecerContext), db: db, connCore: connCore{stmts: newStmtCache(db.cfg.stmtCache, &db.schemaGen)}}
	var err error
	if c.health.queryOnly, c.health.foreignKeys, err = c.readSession(); err != nil {
		return nil, err
	}
	db.track(&c.connCore)
	return c, nil
}

var (
	_ driver.ExecerContext     = &sqliteConn{}
	_ driver.QueryerContext    = &sqliteConn{}
	_ driver.NamedValueChecker = &sqliteConn{}
)

// ncrucesStmt is what ncruces's prepared statements implement, including
// the methods of the [sqlite3.Stmt] they embed.
type ncrucesStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
	ColumnCount() int
	ColumnName(col int) string
	Status(op sqlite3.StmtStatus, reset bool) int
	ReadOnly() bool
	Reset() error
	ClearBindings() error
	rowReader
}

// ncrucesRows is what ncruces's rows implement; a wrapper must implement the
// same, or [database/sql] loses column type information.
type ncrucesRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypeScanType
}

// ExecContext implements [driver.ExecerContext]. Without arguments it is
// ncruces's own (Savepoint), or a script run statement by statement (see
// [sqliteConn.execScript]); with arguments it runs a cached prepared
// statement.
func (c *sqliteConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.partial = false
	if len(args) == 0 {
		if query == "" {
			return c.exec.ExecContext(ctx, query, args) // ncruces's Savepoint handshake
		}
		took, err := c.enterGate(ctx, mayWrite(query))
		if err != nil {
			return nil, err
		}
		var res driver.Result
		if strings.IndexByte(query, ';') >= 0 {
			res, err = c.execScript(ctx, query)
		} else {
			res, err = c.exec.ExecContext(ctx, query, args)
		}
		c.leaveGate(took)
		if mayChangeSchema(query) {
			c.db.schemaChanged()
			c.health.dirty = true
			c.noteSessionChange(query)
		}
		return res, err
	}
	s, err := c.takeChecked(ctx, query, len(args))
	if err != nil {
		return nil, err
	}
	return c.execTaken(ctx, s, args)
}

// execTaken runs a statement taken from the cache (or a prepared
// statement's own) that writes or not: through group commit if it can be
// grouped, else holding the writer gate if it writes.
func (c *sqliteConn) execTaken(ctx context.Context, s *cachedStmt, args []driver.NamedValue) (driver.Result, error) {
	if c.db.group != nil && c.groupable(s) {
		return c.db.group.exec(ctx, c, s, args)
	}
	took, err := c.enterGate(ctx, !s.ReadOnly())
	if err != nil {
		c.stmts.release(s, false)
		return nil, err
	}
	return c.execStmt(ctx, s, took, args)
}

// execStmt runs a statement taken with [sqliteConn.start] and returns it.
func (c *sqliteConn) execStmt(ctx context.Context, s *cachedStmt, took bool, args []driver.NamedValue) (driver.Result, error) {
	res, err := s.ExecContext(ctx, args)
	c.leaveGate(took)
	c.stmts.release(s, err != nil)
	return res, err
}

// callStart implements [session].
func (c *sqliteConn) callStart() time.Time { return c.report.callStart() }

// addWait implements [session].
func (c *sqliteConn) addWait(d time.Duration) { c.report.addWait(d) }

// inTx implements [session].
func (c *sqliteConn) inTx() bool { return !c.Conn.Raw().GetAutocommit() }

// applied implements [session]: only a script can fail after part of it
// was applied.
func (c *sqliteConn) applied() bool { return c.partial }

// BeginTx implements [driver.ConnBeginTx]. A transaction that takes SQLite's
// write lock at BEGIN (IMMEDIATE or EXCLUSIVE) first takes the writer gate,
// and holds it until it commits or rolls back.
func (c *sqliteConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	took, err := c.enterGate(ctx, c.db.writesFromBegin(opts))
	if err != nil {
		return nil, err
	}
	var tx driver.Tx
	if mode, ok := c.txMode(opts); ok {
		tx, err = c.beginPrepared(ctx, mode)
	} else {
		tx, err = c.Conn.BeginTx(ctx, opts)
	}
	if err != nil {
		c.leaveGate(took)
		return nil, err
	}
	if !took {
		return tx, nil
	}
	return &gatedTx{Tx: tx, conn: c}, nil
}

// writesFromBegin reports whether a transaction with opts takes SQLite's
// write lock at BEGIN, as ncruces decides it: read-only transactions are
// DEFERRED, serializable ones IMMEDIATE, linearizable ones EXCLUSIVE, and the
// others follow "_txlock" (IMMEDIATE unless set).
func (db *database) writesFromBegin(opts driver.TxOptions) bool {
	switch {
	case opts.ReadOnly:
		return false
	case opts.Isolation == driver.IsolationLevel(sql.LevelSerializable), opts.Isolation == driver.IsolationLevel(sql.LevelLinearizable):
		return true
	case opts.Isolation != driver.IsolationLevel(sql.LevelDefault):
		return false // ncruces refuses the level
	}
	return db.cfg.txLock == "" || db.cfg.txLock == "immediate" || db.cfg.txLock == "exclusive"
}

// gatedTx releases the writer gate when the transaction ends.
type gatedTx struct {
	driver.Tx
	conn *sqliteConn
}

func (t *gatedTx) Commit() error {
	err := t.Tx.Commit()
	t.conn.leaveGate(true)
	return err
}

func (t *gatedTx) Rollback() error {
	err := t.Tx.Rollback()
	t.conn.leaveGate(true)
	return err
}

// QueryContext implements [driver.QueryerContext] with a cached prepared
// statement, returned to the cache when the rows close.
func (c *sqliteConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, took, err := c.start(ctx, query, len(args))
	if err != nil {
		return nil, err
	}
	return c.queryStmt(ctx, s, took, args)
}

// queryStmt runs a statement taken with [sqliteConn.start]; it goes back
// when its rows close.
func (c *sqliteConn) queryStmt(ctx context.Context, s *cachedStmt, took bool, args []driver.NamedValue) (driver.Rows, error) {
	reprepares := s.Status(sqlite3.STMTSTATUS_REPREPARE, false)
	rows, err := s.QueryContext(ctx, args)
	if err != nil {
		c.leaveGate(took)
		c.stmts.release(s, true)
		return nil, err
	}
	r := c.spareRows
	if r != nil {
		c.spareRows = nil
	} else {
		r = &cachedRows{}
	}
	c.group.openRows++
	*r = cachedRows{ncrucesRows: rows.(ncrucesRows), conn: c, stmt: s, ctx: ctx, shape: c.shapeOf(s, reprepares), reprepares: reprepares, gated: took, keep: keepable(args)}
	return r, nil
}

// Close implements [driver.Conn]: it finalizes the cached statements, then
// closes the SQLite connection.
func (c *sqliteConn) Close() error {
	c.dropGate() // a transaction left open by a connection closed under it
	c.stmts.close()
	c.group.close()
	c.txs.close()
	c.optimizeOnClose()
	c.db.untrack(&c.connCore)
	return c.Conn.Close()
}

// start readies a statement for query with nargs arguments: taken from the
// cache, its arguments counted, and the writer gate taken if it writes
// (INSERT ... RETURNING through Query too) in autocommit mode. took says
// whether this call holds the gate, to give back with leaveGate.
func (c *sqliteConn) start(ctx context.Context, query string, nargs int) (s *cachedStmt, took bool, err error) {
	if s, err = c.takeChecked(ctx, query, nargs); err != nil {
		return nil, false, err
	}
	if took, err = c.enterGate(ctx, !s.ReadOnly()); err != nil {
		c.stmts.release(s, false)
		return nil, false, err
	}
	return s, took, nil
}

// takeChecked takes a statement for query from the cache and checks that
// it takes nargs arguments.
func (c *sqliteConn) takeChecked(ctx context.Context, query string, nargs int) (*cachedStmt, error) {
	s, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if err := checkArgs(s, nargs); err != nil {
		c.stmts.release(s, false)
		return nil, err
	}
	return s, nil
}

// take takes a statement for query from the cache. When a statement run
// through qlsqlite may have changed the schema since the last one, the cache
// is emptied and this connection's copy of the schema refreshed first (see
// [refreshSchema]).
func (c *sqliteConn) take(ctx context.Context, query string) (*cachedStmt, error) {
	if err := c.freshen(); err != nil {
		return nil, err
	}
	s, err := c.stmts.take(ctx, query, c.prepare)
	if err == nil {
		c.report.tookStmt(c.stmts.lastHit)
		if s.ddl {
			c.health.dirty = true
			c.noteSessionChange(query)
		}
	}
	return s, err
}

// freshen empties the statement cache and refreshes this connection's copy
// of the schema when a statement run through qlsqlite may have changed the
// schema since the last time.
func (c *sqliteConn) freshen() error {
	if c.stmts.stale() {
		return refreshSchema(c.Conn.Raw())
	}
	return nil
}

// prepare prepares one statement; SQL with a tail (several statements) is an
// error, as with ncruces.
func (c *sqliteConn) prepare(ctx context.Context, query string) (ncrucesStmt, error) {
	ds, err := c.Conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if !mayChangeSchema(query) {
		c.db.planner.request(query) // first time on this connection: capture its plan
	}
	return ds.(ncrucesStmt), nil
}

// checkArgs fails as [database/sql] does when it prepares statements itself
// and the number of arguments is wrong. nargs < 0: database/sql checked.
func checkArgs(s *cachedStmt, nargs int) error {
	if want := s.inputs(); nargs >= 0 && want != -1 && want != nargs {
		return fmt.Errorf("sql: expected %d arguments, got %d", want, nargs)
	}
	return nil
}

// cachedRows returns its statement to the cache when it closes.
//
// Its statement is checked once, at its first row: if SQLite had to
// re-prepare it because the schema changed behind qlsqlite's back (another
// process, or the Raw connection), and its columns are no longer the ones
// Columns reported, the rows fail with [ErrSchemaChanged] rather than hand
// out values under the wrong names (the raw ncruces driver fails with
// sqlite3.MISUSE there, or misnames them). Schema changes made through
// qlsqlite itself never get that far: see [sqliteConn.take].
type cachedRows struct {
	ncrucesRows  // binds the arguments, resets the statement, answers ColumnType*
	conn         *sqliteConn
	stmt         *cachedStmt
	ctx          context.Context // SQLite's interrupt while a row is read
	shape        *rowShape       // names and declared types (rows.go)
	names        []string        // what Columns handed out, a copy of shape.names
	reprepares   int             // the statement's re-prepare count when taken; -1 once checked
	named        bool            // Columns was called
	ncrucesNamed bool            // ncrucesRows has read its names (rows.go)
	gated        bool            // holds the writer gate until it closes
	keep         bool            // its arguments may stay bound after it closes (bindings.go)
}

// Columns implements [driver.Rows]. database/sql hands the very slice to
// its caller, who may rewrite it in place (GORM's MapColumns does,
// DESIGN.md trap 14), and calls Columns again later, so each query gets its
// own copy of the statement's names: the names [cachedRows.Next] checks a
// re-prepare against stay qlsqlite's own.
func (r *cachedRows) Columns() []string {
	r.named = true
	return r.columnNames()
}

// Next implements [driver.Rows].
func (r *cachedRows) Next(dest []driver.Value) error {
	err := r.step()
	if r.reprepares >= 0 {
		if now := r.stmt.Status(sqlite3.STMTSTATUS_REPREPARE, false); now != r.reprepares {
			if r.named && !sameColumns(r.stmt, r.shape.names) {
				r.conn.db.schemaChanged()
				return &schemaChangedError{classOf: classOf{Migration}, query: r.stmt.query, err: err}
			}
			r.shape = r.conn.shapeOf(r.stmt, now) // the same names; the declared types may differ
		}
		r.reprepares = -1
	}
	if err != nil {
		return err
	}
	return r.read(dest)
}

func sameColumns(s ncrucesStmt, names []string) bool {
	if s.ColumnCount() != len(names) {
		return false
	}
	for i, n := range names {
		if s.ColumnName(i) != n {
			return false
		}
	}
	return true
}

// Close implements [driver.Rows]. The statement is reset, which reports the
// last error of its iteration; its bindings are cleared now or before its
// next run (see bindings.go).
func (r *cachedRows) Close() error {
	err := r.stmt.closeRows(r.ncrucesRows, r.keep)
	c := r.conn
	c.group.openRows--
	c.leaveGate(r.gated)
	c.stmts.release(r.stmt, err != nil)
	// database/sql never touches rows again once closed: keep it for the
	// connection's next query.
	*r = cachedRows{}
	if c.spareRows == nil {
		c.spareRows = r
	}
	return err
}

// Types of values ncruces binds that only its own constructors make
// ([sqlite3.JSON] and [sqlite3.Pointer]).
var (
	jsonArgType    = reflect.TypeOf(sqlite3.JSON(nil))
	pointerArgType = reflect.TypeOf(sqlite3.Pointer(nil))
)

// CheckNamedValue implements [driver.NamedValueChecker] with the rules of
// ncruces's prepared statements: what SQLite binds natively passes, anything
// else goes through [database/sql]'s default conversion.
func (c *sqliteConn) CheckNamedValue(arg *driver.NamedValue) error {
	switch arg.Value.(type) {
	case bool, int, int64, float64, string, []byte,
		time.Time, sqlite3.ZeroBlob, nil:
		return nil
	}
	if t := reflect.TypeOf(arg.Value); t == jsonArgType || t == pointerArgType {
		return nil
	}
	return driver.ErrSkip
}
