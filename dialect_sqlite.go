package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// This file is the SQLite side of observability: everything statistics,
// spans, metrics, alerts and health need to know about the engine. The
// generic code reaches it only through the [dialect] interface, so that
// another engine is one more file like this one.

// dialect is what the observability code needs from the database engine.
type dialect interface {
	// system is the engine's db.system.name in OpenTelemetry's conventions.
	system() string
	// namespace is the database's db.namespace.
	namespace() string
	// statusCode is the engine's code for err (db.response.status_code),
	// or "" when err does not come from the engine.
	statusCode(err error) string
	// storage reports the database's size on disk. db serves databases
	// that live inside one connection, where a connection of the dialect's
	// own would see another database.
	storage(ctx context.Context, db *sql.DB) (StorageStats, error)
	// checkIntegrity checks the database's structure slice by slice, each
	// slice in a read transaction of its own, on a connection of its own
	// (not the one storage uses). After each slice but the last it calls
	// between with how long the slice took, and stops with between's
	// error. It returns how many slices it checked and what it found
	// wrong, at most maxIntegrityProblems findings; corruption that stops a
	// slice is a finding, not an error. The error says why the check could
	// not go on.
	checkIntegrity(ctx context.Context, db *sql.DB, between func(took time.Duration) error) (slices int, problems []string, err error)
	// space estimates the size of each table and index of the database,
	// largest first, and says how it measured, for the monitoring page.
	space(ctx context.Context, db *sql.DB) (objs []objectSpace, method string, err error)
	// checkpoint copies the write-ahead log into the database and empties
	// it, waiting for readers as the busy timeout allows.
	checkpoint(ctx context.Context) (checkpointResult, error)
	// close releases what the dialect holds (its own connection).
	close()
}

// sqliteDialect is the [dialect] of SQLite. It reads sizes and runs checks
// on a read-only connection of its own, opened on first use, so that a
// saturated pool never delays a health check.
type sqliteDialect struct {
	inner driver.Connector // the ncruces connector
	ns    string

	mu     sync.Mutex
	conn   *sqlite3.Conn // nil until first use
	memory bool          // the database lives inside one connection
	path   string        // the main database file
	closed bool
}

func newSQLiteDialect(inner driver.Connector, dsn string) *sqliteDialect {
	return &sqliteDialect{inner: inner, ns: sqliteNamespace(dsn)}
}

// sqliteNamespace is the db.namespace of a SQLite DSN: the database's file
// name as the application wrote it, without "file:" and parameters.
func sqliteNamespace(dsn string) string {
	name := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexAny(name, "?#"); i >= 0 {
		name = name[:i]
	}
	if name == "" {
		return ":memory:"
	}
	return name
}

func (d *sqliteDialect) system() string    { return "sqlite" }
func (d *sqliteDialect) namespace() string { return d.ns }

// sqliteCode returns the primary result code in err's chain.
func sqliteCode(err error) (sqlite3.ErrorCode, bool) {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		return se.Code(), true
	}
	var code sqlite3.ErrorCode
	if errors.As(err, &code) {
		return code, true
	}
	var xcode sqlite3.ExtendedErrorCode
	if errors.As(err, &xcode) {
		return sqlite3.ErrorCode(xcode & 0xff), true
	}
	return 0, false
}

// statusCode is SQLite's extended result code, in decimal: "2067" for
// SQLITE_CONSTRAINT_UNIQUE, "5" for SQLITE_BUSY
// (https://sqlite.org/rescode.html).
func (d *sqliteDialect) statusCode(err error) string {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		return strconv.Itoa(int(se.ExtendedCode()))
	}
	if code, ok := sqliteCode(err); ok {
		return strconv.Itoa(int(code))
	}
	return ""
}

// StorageStats describe a database's storage.
type StorageStats struct {
	// Path is the main database file; empty for a database that lives in
	// memory.
	Path string
	// InMemory says the database lives in memory: no file, no WAL.
	InMemory bool
	// PageSize is the size of a database page in bytes.
	PageSize int64
	// Pages is the number of pages in the database, free pages included.
	Pages int64
	// SizeBytes is the database's size, Pages × PageSize: what the main
	// file holds once the WAL is checkpointed.
	SizeBytes int64
	// WALBytes is the size of the write-ahead log file (0 without one). It
	// grows until a checkpoint can reset it; a WAL that keeps growing means
	// a reader holds a snapshot open.
	WALBytes int64
	// FreelistPages is the number of unused pages, which VACUUM (or
	// incremental vacuum) gives back to the file system.
	FreelistPages int64
}

// FreeRatio is the share of the database's pages that are free.
func (s StorageStats) FreeRatio() float64 {
	if s.Pages == 0 {
		return 0
	}
	return float64(s.FreelistPages) / float64(s.Pages)
}

// ownConn returns the dialect's own connection, opening it on first use. It
// returns nil, nil for a database that lives inside one connection. d.mu
// is held.
func (d *sqliteDialect) ownConn(ctx context.Context) (*sqlite3.Conn, error) {
	if d.closed {
		return nil, errors.New("qlsqlite: the database is closed")
	}
	if d.conn != nil || d.memory {
		return d.conn, nil
	}
	dc, err := d.inner.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("qlsqlite: opening a connection for storage statistics: %w", err)
	}
	raw := dc.(ncruces.Conn).Raw()
	f := raw.Filename("main")
	if f == nil || f.String() == "" {
		dc.Close()
		d.memory = true
		return nil, nil
	}
	raw.BusyTimeout(DefaultBusyTimeout)
	if err := raw.Exec(`PRAGMA query_only = ON`); err != nil {
		dc.Close()
		return nil, fmt.Errorf("qlsqlite: opening a connection for storage statistics: %w", err)
	}
	d.conn, d.path = raw, f.String()
	return raw, nil
}

// withConn runs fn on the dialect's own connection, or on one of db's for a
// database that lives in memory (through Raw, so the call is not counted in
// the statistics). ctx interrupts fn.
func (d *sqliteDialect) withConn(ctx context.Context, db *sql.DB, fn func(*sqlite3.Conn) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	raw, err := d.ownConn(ctx)
	if err != nil {
		return err
	}
	if raw != nil {
		old := raw.SetInterrupt(ctx)
		defer raw.SetInterrupt(old)
		return fn(raw)
	}
	if db == nil {
		return errors.New("qlsqlite: no connection to read an in-memory database through")
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(ncruces.Conn)
		if !ok {
			return fmt.Errorf("qlsqlite: connection %T has no Raw()", dc)
		}
		raw := c.Raw()
		old := raw.SetInterrupt(ctx)
		defer raw.SetInterrupt(old)
		return fn(raw)
	})
}

func (d *sqliteDialect) storage(ctx context.Context, db *sql.DB) (StorageStats, error) {
	var s StorageStats
	err := d.withConn(ctx, db, func(c *sqlite3.Conn) (err error) {
		if s.PageSize, err = pragmaInt(c, "page_size"); err != nil {
			return err
		}
		if s.Pages, err = pragmaInt(c, "page_count"); err != nil {
			return err
		}
		if s.FreelistPages, err = pragmaInt(c, "freelist_count"); err != nil {
			return err
		}
		if f := c.Filename("main"); f != nil && f.URIParameter("vfs") != "memdb" { // memdb: ":memory:" (memory.go)
			s.Path = f.String()
		}
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("qlsqlite: reading storage statistics: %w", err)
	}
	s.SizeBytes = s.Pages * s.PageSize
	if s.Path == "" {
		s.InMemory = true
		return s, nil
	}
	if fi, err := os.Stat(s.Path + "-wal"); err == nil {
		s.WALBytes = fi.Size()
	}
	return s, nil
}

// pragmaInt returns the value of a PRAGMA that returns one integer.
func pragmaInt(c *sqlite3.Conn, name string) (int64, error) {
	stmt, _, err := c.Prepare(`PRAGMA ` + name)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	if !stmt.Step() {
		if err := stmt.Err(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("PRAGMA %s returned nothing", name)
	}
	return stmt.ColumnInt64(0), nil
}

// maxIntegrityProblems bounds the findings an integrity check keeps.
const maxIntegrityProblems = 100

// checkIntegrity runs PRAGMA quick_check(TABLE)
// (https://sqlite.org/pragma.html#pragma_quick_check) on each table of the
// main database in turn, sqlite_schema included: each verifies a table and
// its indexes (the structure of every page, every record, NOT NULL and
// CHECK constraints; not that the indexes match the table, which only
// integrity_check does) in its own read transaction, so that a checkpoint
// can reset the WAL between slices. What a per-table check skips is the
// accounting of the whole file: the free-list and pages no table owns.
func (d *sqliteDialect) checkIntegrity(ctx context.Context, db *sql.DB, between func(time.Duration) error) (n int, problems []string, err error) {
	find := func(table string, err error) {
		if len(problems) < maxIntegrityProblems {
			problems = append(problems, fmt.Sprintf("%s: %v", table, err))
		}
	}
	err = d.withCheckConn(ctx, db, func(c *sqlite3.Conn) error {
		tables, err := tablesToCheck(c)
		if isCorruption(err) {
			find("sqlite_schema", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the tables: %w", err)
		}
		for i, table := range tables {
			start := time.Now()
			found, err := quickCheckTable(c, table)
			switch {
			case isCorruption(err):
				find(table, err)
			case err != nil && strings.Contains(err.Error(), "no such table"):
				continue // dropped since the list was read
			case err != nil:
				return fmt.Errorf("checking table %s: %w", table, err)
			}
			n++
			for _, f := range found {
				if len(problems) < maxIntegrityProblems {
					problems = append(problems, table+": "+f)
				}
			}
			if i < len(tables)-1 {
				if err := between(time.Since(start)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("qlsqlite: integrity check: %w", err)
	}
	return n, problems, err
}

// isCorruption reports whether err says the database file is damaged.
func isCorruption(err error) bool {
	return errors.Is(err, sqlite3.CORRUPT) || errors.Is(err, sqlite3.NOTADB)
}

// tablesToCheck lists the main database's tables, shadow tables of virtual
// ones included, views and virtual tables excluded.
func tablesToCheck(c *sqlite3.Conn) ([]string, error) {
	stmt, _, err := c.Prepare(`SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'shadow') ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var tables []string
	for stmt.Step() {
		tables = append(tables, stmt.ColumnText(0))
	}
	return tables, stmt.Err()
}

// quickCheckTable returns what PRAGMA quick_check(table) found wrong; nil
// for a sound table.
func quickCheckTable(c *sqlite3.Conn, table string) ([]string, error) {
	stmt, _, err := c.Prepare(`PRAGMA main.quick_check(` + sqlite3.QuoteIdentifier(table) + `)`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var found []string
	for stmt.Step() {
		if f := stmt.ColumnText(0); f != "ok" {
			found = append(found, strings.TrimPrefix(f, "*** in database main ***\n"))
		}
	}
	return found, stmt.Err()
}

// withCheckConn runs fn on a read-only connection opened for it and closed
// after, or, for a database that lives in memory, on one of db's (see
// withConn). ctx interrupts fn.
func (d *sqliteDialect) withCheckConn(ctx context.Context, db *sql.DB, fn func(*sqlite3.Conn) error) error {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return errors.New("the database is closed")
	}
	dc, err := d.inner.Connect(ctx)
	if err != nil {
		return fmt.Errorf("opening a connection: %w", err)
	}
	raw := dc.(ncruces.Conn).Raw()
	if f := raw.Filename("main"); f == nil || f.String() == "" {
		dc.Close()
		return d.withConn(ctx, db, fn)
	}
	defer dc.Close()
	raw.BusyTimeout(DefaultBusyTimeout)
	if err := raw.Exec(`PRAGMA query_only = ON`); err != nil {
		return err
	}
	old := raw.SetInterrupt(ctx)
	defer raw.SetInterrupt(old)
	return fn(raw)
}

func (d *sqliteDialect) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
}
