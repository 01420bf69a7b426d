package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/ncruces/go-sqlite3"
)

// txStmts are a connection's prepared BEGIN and COMMIT statements.
//
// ncruces runs BEGIN and COMMIT with sqlite3_exec, which parses them on
// every transaction: about 2 µs of a short write transaction's CPU time
// here, for two statements whose text never changes. qlsqlite prepares
// them once per connection instead and runs them as ncruces would, with
// the same interrupt context and the same rollback of a failed COMMIT, so
// that errors and outcomes are the same (the conformance suite compares
// them with ncruces's).
//
// Only the transactions whose BEGIN is one plain statement take this path;
// read-only ones (ncruces adds PRAGMA query_only), isolation levels ncruces
// refuses and connections whose session is query_only go through ncruces.
type txStmts struct {
	begin  [3]*sqlite3.Stmt // BEGIN deferred, immediate, exclusive
	commit *sqlite3.Stmt
}

// Transaction modes, indexes of txStmts.begin.
const (
	txDeferred = iota
	txImmediate
	txExclusive
)

var beginSQL = [...]string{txDeferred: "BEGIN deferred", txImmediate: "BEGIN immediate", txExclusive: "BEGIN exclusive"}

// txMode returns the mode of the BEGIN ncruces would run for opts on c, and
// false when that is not one plain statement or the caller must hear
// ncruces's own answer (an isolation level it refuses).
func (c *sqliteConn) txMode(opts driver.TxOptions) (int, bool) {
	if opts.ReadOnly || c.health.queryOnly {
		return 0, false
	}
	switch opts.Isolation {
	case driver.IsolationLevel(sql.LevelLinearizable):
		return txExclusive, true
	case driver.IsolationLevel(sql.LevelSerializable):
		return txImmediate, true
	case driver.IsolationLevel(sql.LevelDefault):
		switch c.db.cfg.txLock {
		case "", "immediate": // ncruces's default is immediate
			return txImmediate, true
		case "exclusive":
			return txExclusive, true
		case "deferred":
			return txDeferred, true
		}
	}
	return 0, false
}

// beginPrepared runs the prepared BEGIN of mode under ctx, as ncruces's
// BeginTx does, and returns the transaction.
func (c *sqliteConn) beginPrepared(ctx context.Context, mode int) (driver.Tx, error) {
	raw := c.Conn.Raw()
	st := c.txs.begin[mode]
	if st == nil {
		var err error
		if st, _, err = raw.Prepare(beginSQL[mode]); err != nil {
			return nil, err
		}
		c.txs.begin[mode] = st
	}
	if old := raw.SetInterrupt(ctx); old != ctx {
		defer raw.SetInterrupt(old)
	}
	if err := st.Exec(); err != nil {
		return nil, err
	}
	return preparedTx{c}, nil
}

// close finalizes the statements.
func (t *txStmts) close() {
	for _, st := range t.begin {
		if st != nil {
			st.Close()
		}
	}
	if t.commit != nil {
		t.commit.Close()
	}
	*t = txStmts{}
}

// preparedTx is a transaction begun by beginPrepared.
type preparedTx struct{ c *sqliteConn }

// Commit implements [driver.Tx] with the prepared COMMIT; as with ncruces,
// a COMMIT that fails and leaves the transaction open rolls it back.
func (t preparedTx) Commit() error {
	c := t.c
	raw := c.Conn.Raw()
	if c.txs.commit == nil {
		st, _, err := raw.Prepare("COMMIT")
		if err != nil {
			return err
		}
		c.txs.commit = st
	}
	err := c.txs.commit.Exec()
	if err != nil && !raw.GetAutocommit() {
		t.Rollback()
	}
	return err
}

// Rollback implements [driver.Tx]: ncruces's own, which rolls back even
// when its context is done.
func (t preparedTx) Rollback() error {
	return t.c.Conn.(driver.Tx).Rollback()
}
