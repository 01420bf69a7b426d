// Package history keeps the statistics history of a qlsqlite database in a
// SQLite file of its own: what each fingerprint did in each minute (calls,
// errors by class, rows, time, waits, statement cache use, and the latency
// histogram, so that the percentiles of any window are exact to the
// histogram's precision), the database's own figures (calls, pool, size,
// WAL, breaker), the alerts that fired and cleared, the captured plans and
// the maintenance done.
//
// The driver writes it from one background goroutine, from snapshots of its
// statistics, never on a statement's path; the monitoring page and
// "qlsqlite serve" read it. A Store is safe for concurrent use, but one
// process writes a history file at a time.
//
// What is kept: a row per fingerprint and minute for MinuteRetention (two
// days), rolled up into a row per fingerprint and hour, kept for Retention
// (14 days); the whole file bounded by MaxBytes, the oldest rows deleted
// first when it grows past it.
//
// The file is opened with the VFS and key it is given: the history of an
// encrypted database holds its statements' texts and must be encrypted
// like it.
package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // the "sqlite3" driver: the history is not observed by qlsqlite

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// Defaults of [Options].
const (
	DefaultRetention       = 14 * 24 * time.Hour
	DefaultMinuteRetention = 48 * time.Hour
	DefaultMaxBytes        = 256 << 20
)

// schemaVersion is the layout this package writes; a file with a higher
// one was written by a newer qlsqlite.
const schemaVersion = 1

// Resolutions of the rows.
const (
	resMinute = 60
	resHour   = 3600
)

// Options say how a history file is opened and kept.
type Options struct {
	// Database names the database the history belongs to (its file name):
	// a history file is refused for another database.
	Database string
	// Encryption opens the file through an encrypting VFS, the database's.
	Encryption atrest.Params
	// ReadOnly opens an existing file to read it, never to write it.
	ReadOnly bool
	// Retention is how long the hourly rows, the alerts and events are
	// kept (default DefaultRetention); MinuteRetention how long the
	// per-minute rows are (default DefaultMinuteRetention, at most
	// Retention).
	Retention, MinuteRetention time.Duration
	// MaxBytes bounds the space the rows take in the file (default
	// DefaultMaxBytes): past it, the oldest rows are deleted.
	MaxBytes int64
}

func (o Options) withDefaults() Options {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.MinuteRetention <= 0 {
		o.MinuteRetention = DefaultMinuteRetention
	}
	o.MinuteRetention = min(o.MinuteRetention, o.Retention)
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	return o
}

// Store is an open history file.
type Store struct {
	db   *sql.DB
	opts Options
	path string

	mu   sync.Mutex
	seen map[string]int64 // when each fingerprint's last_at was last written, by ID
}

// Open opens the history file at path, creating it unless opts.ReadOnly.
// A file that belongs to another database, or was written by a newer
// version, is an error that says what to do.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.Encryption.Check(); err != nil {
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("history %s: %w (the database's process writes it once it has run for a minute with a history)", path, err)
		}
	}
	db, err := sql.Open("sqlite3", dsn(path, opts))
	if err != nil {
		return nil, hide(fmt.Errorf("history %s: %w", path, err), opts)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	s := &Store{db: db, opts: opts, path: path}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, hide(fmt.Errorf("history %s: %w", path, err), opts)
	}
	return s, nil
}

// dsn is the URI the file is opened with. It holds the key: never print it.
func dsn(path string, opts Options) string {
	q := opts.Encryption.Query()
	add := func(p string) {
		if q != "" {
			q += "&"
		}
		q += p
	}
	if opts.ReadOnly {
		add("mode=rw&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	} else {
		// auto_vacuum must be set before the first table: a history whose
		// oldest rows are deleted gives their pages back to the disk.
		add("mode=rwc&_pragma=busy_timeout(5000)&_pragma=auto_vacuum(incremental)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)")
	}
	return atrest.FileURI(path) + "?" + q
}

// hide keeps the key out of an error.
func hide(err error, opts Options) error {
	return atrest.Redact(err, opts.Encryption.Secrets()...)
}

// Path is the file's path.
func (s *Store) Path() string { return s.path }

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fingerprints (
	id TEXT PRIMARY KEY, text TEXT NOT NULL, summary TEXT NOT NULL,
	first_at INTEGER NOT NULL, last_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queries (
	res INTEGER NOT NULL, at INTEGER NOT NULL, fp TEXT NOT NULL,
	span_ms INTEGER NOT NULL, calls INTEGER NOT NULL, errors INTEGER NOT NULL, errors_by_class TEXT,
	rows INTEGER NOT NULL, total_ns INTEGER NOT NULL, max_ns INTEGER NOT NULL, waited_ns INTEGER NOT NULL,
	hits INTEGER NOT NULL, misses INTEGER NOT NULL, hist BLOB,
	PRIMARY KEY (res, at, fp)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queries_fp ON queries (fp, res, at);
CREATE TABLE IF NOT EXISTS database (
	res INTEGER NOT NULL, at INTEGER NOT NULL, span_ms INTEGER NOT NULL,
	calls INTEGER NOT NULL, errors INTEGER NOT NULL, waited_calls INTEGER NOT NULL, waited_ns INTEGER NOT NULL,
	size_bytes INTEGER NOT NULL, wal_bytes INTEGER NOT NULL, free_pages INTEGER NOT NULL, page_size INTEGER NOT NULL,
	open REAL NOT NULL, in_use REAL NOT NULL, idle REAL NOT NULL, max_in_use INTEGER NOT NULL, max_open INTEGER NOT NULL,
	wait_count INTEGER NOT NULL, wait_ns INTEGER NOT NULL,
	breaker TEXT NOT NULL, fingerprints INTEGER NOT NULL, evictions INTEGER NOT NULL,
	PRIMARY KEY (res, at)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
	at INTEGER NOT NULL, name TEXT NOT NULL, firing INTEGER NOT NULL,
	value REAL NOT NULL, threshold REAL NOT NULL, message TEXT NOT NULL, fingerprints TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_at ON alerts (at);
CREATE TABLE IF NOT EXISTS events (at INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_at ON events (kind, at);
CREATE TABLE IF NOT EXISTS plans (
	fp TEXT PRIMARY KEY, captured_at INTEGER NOT NULL, schema_version INTEGER NOT NULL, plan TEXT NOT NULL) WITHOUT ROWID;
`

// init creates the tables of a new file and checks an existing one's.
func (s *Store) init(ctx context.Context) error {
	if !s.opts.ReadOnly {
		if _, err := s.db.ExecContext(ctx, schema); err != nil {
			return err
		}
	}
	meta, err := s.meta(ctx)
	if err != nil {
		return fmt.Errorf("not a qlsqlite history file: %w", err)
	}
	if v, ok := meta["version"]; ok {
		n, _ := strconv.Atoi(v)
		if n > schemaVersion {
			return fmt.Errorf("written by a newer qlsqlite (history version %s, this one reads %d): upgrade, or give this database another history file", v, schemaVersion)
		}
	}
	if db, ok := meta["database"]; ok && s.opts.Database != "" && filepath.Base(db) != filepath.Base(s.opts.Database) {
		return fmt.Errorf("it is the history of %s, not of %s: give this database a history file of its own (_history=PATH)", db, s.opts.Database)
	}
	if s.opts.ReadOnly {
		if _, ok := meta["version"]; !ok {
			return errors.New("not a qlsqlite history file (no version)")
		}
		return nil
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('version', ?), ('database', ?), ('created', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE key <> 'created'`,
		strconv.Itoa(schemaVersion), s.opts.Database, strconv.FormatInt(time.Now().UnixMilli(), 10))
	return err
}

func (s *Store) meta(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key, value FROM meta`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, rows.Err()
}

// Owner is the name of the database the history belongs to, as the
// process that wrote it gave it.
func (s *Store) Owner(ctx context.Context) (string, error) {
	m, err := s.meta(ctx)
	return m["database"], err
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v) }
