package qlsqlite

import (
	"context"
	"database/sql/driver"

	"github.com/ncruces/go-sqlite3"
)

// execScript runs SQL that may hold several statements (a script), one
// statement at a time, as sqlite3_exec does, keeping count of what it
// applied: when a statement fails after an earlier one wrote, or after the
// script opened a transaction, the call is marked partial
// ([sqliteConn.applied]) and is never retried whole. A script that fails
// with BUSY or LOCKED inside a transaction it opened itself rolls that
// transaction back, as SQLite advises (https://sqlite.org/lang_transaction.html),
// so that the connection is not left holding a half-done transaction and
// its locks.
//
// Its [driver.Result] is the one ncruces gives for the same script: the
// changes and last insert rowid of the last statement that changed rows.
func (c *sqliteConn) execScript(ctx context.Context, query string) (driver.Result, error) {
	raw := c.Conn.Raw()
	if old := raw.SetInterrupt(ctx); old != ctx {
		defer raw.SetInterrupt(old)
	}
	raw.SetLastInsertRowID(0)
	autocommit := raw.GetAutocommit()
	wrote := false
	for {
		stmt, tail, err := raw.Prepare(query)
		if err == nil && stmt != nil {
			if err = stmt.Exec(); err == nil && !stmt.ReadOnly() {
				wrote = true
			}
			if cerr := stmt.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return nil, c.scriptFailed(raw, autocommit, wrote, err)
		}
		if tail == "" || stmt == nil && tail == query {
			break
		}
		query = tail
	}
	return execResult(raw), nil
}

// scriptFailed marks a failed script partial if part of it was applied, and
// rolls back a transaction the script opened when it lost a race for the
// lock.
func (c *sqliteConn) scriptFailed(raw *sqlite3.Conn, autocommit, wrote bool, err error) error {
	opened := autocommit && !raw.GetAutocommit()
	c.partial = wrote || opened
	if opened && (sqliteRules{}).retryable(err) {
		bg := context.Background()
		old := raw.SetInterrupt(bg)
		raw.Exec(`ROLLBACK`)
		raw.SetInterrupt(old)
	}
	return err
}

// execResult is the result of the statements just run on raw, as ncruces
// reports it.
func execResult(raw *sqlite3.Conn) driver.Result {
	r := execRes{rows: raw.Changes()}
	if r.rows != 0 {
		r.id = raw.LastInsertRowID()
	}
	return r
}

type execRes struct{ id, rows int64 }

func (r execRes) LastInsertId() (int64, error) { return r.id, nil }
func (r execRes) RowsAffected() (int64, error) { return r.rows, nil }
