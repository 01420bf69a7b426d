package gormql_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/quantumleap/qlsqlite/gormql"
)

// sqlLog is a GORM logger that keeps every statement GORM reports.
type sqlLog struct {
	mu        sync.Mutex
	stmts     []string
	deadlines []time.Time // of each statement's context; zero if none
}

func (l *sqlLog) LogMode(logger.LogLevel) logger.Interface { return l }
func (l *sqlLog) Info(context.Context, string, ...any)     {}
func (l *sqlLog) Warn(context.Context, string, ...any)     {}
func (l *sqlLog) Error(context.Context, string, ...any)    {}
func (l *sqlLog) Trace(ctx context.Context, _ time.Time, fc func() (string, int64), _ error) {
	sql, _ := fc()
	deadline, _ := ctx.Deadline()
	l.mu.Lock()
	l.stmts = append(l.stmts, sql)
	l.deadlines = append(l.deadlines, deadline)
	l.mu.Unlock()
}

// take returns the statements logged since the last take.
func (l *sqlLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stmts
	l.stmts, l.deadlines = nil, nil
	return s
}

// takeDeadlines returns the statements logged since the last take, with
// the deadlines of their contexts.
func (l *sqlLog) takeDeadlines() ([]string, []time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, d := l.stmts, l.deadlines
	l.stmts, l.deadlines = nil, nil
	return s, d
}

// writes returns the statements among stmts that change the schema or data.
func writes(stmts []string) []string {
	var w []string
	for _, s := range stmts {
		head := strings.ToUpper(strings.TrimSpace(s))
		for _, kw := range []string{"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE", "BEGIN", "PRAGMA FOREIGN_KEYS ="} {
			if strings.HasPrefix(head, kw) {
				w = append(w, s)
				break
			}
		}
	}
	return w
}

// open opens a new database file through gormql with TranslateError on.
func open(t *testing.T) (*gorm.DB, *sqlLog) {
	t.Helper()
	return openDSN(t, "file:"+filepath.Join(t.TempDir(), "test.db"))
}

func openDSN(t *testing.T, dsn string) (*gorm.DB, *sqlLog) {
	t.Helper()
	return openWith(t, gormql.Config{DSN: dsn}, &gorm.Config{})
}

// openWith opens a database with these configurations, a new file if
// cfg.DSN is empty; GORM's logger is the returned one, TranslateError on.
func openWith(t *testing.T, cfg gormql.Config, gcfg *gorm.Config) (*gorm.DB, *sqlLog) {
	t.Helper()
	if cfg.DSN == "" && cfg.Conn == nil {
		cfg.DSN = "file:" + filepath.Join(t.TempDir(), "test.db")
	}
	log := &sqlLog{}
	gcfg.Logger, gcfg.TranslateError = log, true
	db, err := gorm.Open(gormql.New(cfg), gcfg)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	return db, log
}

// mustExec runs a statement and fails the test if it fails.
func mustExec(t *testing.T, db *gorm.DB, sql string, args ...any) {
	t.Helper()
	if err := db.Exec(sql, args...).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// count returns the result of a count query.
func count(t *testing.T, db *gorm.DB, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Raw(sql, args...).Row().Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// foreignKey is a row of PRAGMA foreign_key_list.
type foreignKey struct {
	Table    string
	From     string
	To       string
	OnDelete string
}

func foreignKeys(t *testing.T, db *gorm.DB, table string) []foreignKey {
	t.Helper()
	var fks []foreignKey
	err := db.Raw(`SELECT "table" AS "table", "from" AS "from", "to" AS "to", on_delete AS on_delete
		FROM pragma_foreign_key_list(?) ORDER BY id, seq`, table).Scan(&fks).Error
	if err != nil {
		t.Fatal(err)
	}
	return fks
}

// foreignKeysOnAll reports PRAGMA foreign_keys on every connection the pool
// holds, taking them all at once.
func foreignKeysOnAll(t *testing.T, db *gorm.DB) []bool {
	t.Helper()
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	n := sqlDB.Stats().OpenConnections
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var on []bool
	for range n {
		c, err := sqlDB.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var v bool
		if err := c.QueryRowContext(context.Background(), "PRAGMA foreign_keys").Scan(&v); err != nil {
			t.Fatal(err)
		}
		on = append(on, v)
	}
	return on
}
