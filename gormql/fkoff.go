package gormql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// withoutForeignKeys runs fn in a transaction in which foreign keys are
// off, for schema changes that drop a table: with foreign keys on, SQLite
// deletes a table's rows before dropping it, which fires ON DELETE CASCADE
// (or fails on a violation) in every table that references it.
//
// SQLite ignores PRAGMA foreign_keys inside a transaction, and the PRAGMA
// is per connection (DESIGN.md, traps 7 and 8). So fn runs on one
// connection, the migrator's own *sql.Conn if it has one (db.Connection) or
// else one taken from the pool, where foreign keys are turned off before
// BEGIN IMMEDIATE and turned back on after COMMIT or ROLLBACK, whatever
// happens; a connection of the pool on which that fails is closed, never
// returned to the pool with foreign keys off. fn gets check = true when
// foreign keys were on, and should then run PRAGMA foreign_key_check
// before it returns.
//
// In a transaction (the migrator of a *gorm.DB from db.Begin or
// db.Transaction), fn runs in a savepoint of it with check = false. Foreign
// keys cannot be turned off there; when they are on, withoutForeignKeys
// refuses if a table other than tables references one of them.
//
// Statements run under [Config.MigrateTimeout] when the context has no
// deadline.
func (m Migrator) withoutForeignKeys(tables []string, fn func(db *gorm.DB, check bool) error) error {
	ctx, cancel := m.dialector.migrateContext(m.DB.Statement.Context)
	defer cancel()
	db := m.DB.Session(&gorm.Session{Context: ctx, NewDB: true})

	switch pool := db.Statement.ConnPool.(type) {
	case gorm.TxCommitter:
		return inSavepoint(db, tables, fn)
	case *sql.Conn:
		return onConnection(db, pool, false, fn)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("finding the *sql.DB to take a connection from: %w", err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	db.Statement.ConnPool = conn
	return onConnection(db, conn, true, fn)
}

// onConnection runs fn in a transaction on conn with foreign keys off.
// owned says whether the connection was taken from the pool, and is to be
// closed if foreign keys cannot be turned back on.
func onConnection(db *gorm.DB, conn *sql.Conn, owned bool, fn func(db *gorm.DB, check bool) error) (err error) {
	var fkOn bool
	if err := db.Raw("PRAGMA foreign_keys").Row().Scan(&fkOn); err != nil {
		return err
	}
	if fkOn {
		if err := db.Exec("PRAGMA foreign_keys = OFF").Error; err != nil {
			return err
		}
		defer func() {
			if rerr := restoreForeignKeys(db, conn, owned); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}()
	}

	if err := db.Exec("BEGIN IMMEDIATE").Error; err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			// Before foreign keys are turned back on (a deferred call
			// runs first), since the PRAGMA does nothing in a transaction.
			cdb, cancel := cleanup(db)
			defer cancel()
			if rerr := cdb.Exec("ROLLBACK").Error; rerr != nil {
				err = errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
			}
		}
	}()
	if err := fn(db, fkOn); err != nil {
		return err
	}
	if err := db.Exec("COMMIT").Error; err != nil {
		return err
	}
	committed = true
	return nil
}

// cleanupTimeout bounds what a schema change does to clean up after itself.
const cleanupTimeout = time.Minute

// cleanup returns db under a context for cleaning up: not canceled with the
// change's (a timed-out change must still roll back and turn foreign keys
// back on), with a deadline of its own.
func cleanup(db *gorm.DB) (*gorm.DB, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(db.Statement.Context), cleanupTimeout)
	return db.WithContext(ctx), cancel
}

// restoreForeignKeys turns foreign keys back on and checks they are. If
// they are not, a connection taken from the pool is closed; the caller's
// own connection cannot be, and the error says so.
func restoreForeignKeys(db *gorm.DB, conn *sql.Conn, owned bool) error {
	db, cancel := cleanup(db)
	defer cancel()
	err := db.Exec("PRAGMA foreign_keys = ON").Error
	var on bool
	if err == nil {
		err = db.Raw("PRAGMA foreign_keys").Row().Scan(&on)
	}
	if err == nil && !on {
		err = errors.New("PRAGMA foreign_keys = ON did not take (is a transaction still open?)")
	}
	if err == nil {
		return nil
	}
	if owned {
		conn.Raw(func(any) error { return driver.ErrBadConn }) // closes it
		return fmt.Errorf("turning foreign keys back on failed, so the connection was closed instead of returned to the pool: %w", err)
	}
	return fmt.Errorf("turning foreign keys back on failed: they are still OFF on the connection given as the ConnPool: %w", err)
}

// inSavepoint runs fn in a savepoint of the caller's transaction.
func inSavepoint(db *gorm.DB, tables []string, fn func(db *gorm.DB, check bool) error) error {
	var fkOn bool
	if err := db.Raw("PRAGMA foreign_keys").Row().Scan(&fkOn); err != nil {
		return err
	}
	if fkOn {
		var others []string
		for _, t := range tables {
			children, err := referencingTables(db, t)
			if err != nil {
				return err
			}
			for _, c := range children {
				if !slices.ContainsFunc(tables, func(t string) bool { return strings.EqualFold(t, c) }) && !slices.Contains(others, c) {
					others = append(others, c)
				}
			}
		}
		if len(others) > 0 {
			return fmt.Errorf("inside a transaction foreign keys stay on, and dropping the table would fire the foreign keys of %s (ON DELETE actions, or violations): run this migration outside the transaction", strings.Join(others, ", "))
		}
	}
	const sp = `"gormql_migrate"`
	if err := db.Exec("SAVEPOINT " + sp).Error; err != nil {
		return err
	}
	if err := fn(db, false); err != nil {
		cdb, cancel := cleanup(db)
		defer cancel()
		rerr := cdb.Exec("ROLLBACK TO " + sp + "; RELEASE " + sp).Error
		return errors.Join(err, rerr)
	}
	return db.Exec("RELEASE " + sp).Error
}

// referencingTables returns the other tables with a foreign key to table.
func referencingTables(q *gorm.DB, table string) ([]string, error) {
	var names []string
	err := q.Raw(`SELECT DISTINCT m.name FROM sqlite_schema AS m, pragma_foreign_key_list(m.name) AS f
		WHERE m.type = 'table' AND f."table" = ? COLLATE NOCASE AND m.name <> ? COLLATE NOCASE
		ORDER BY m.name`, table, table).Scan(&names).Error
	return names, err
}
