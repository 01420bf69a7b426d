package main

import (
	"database/sql"
	"fmt"
	"path/filepath"

	glebarez "github.com/glebarez/sqlite"
	mattn "gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/quantumleap/qlsqlite/gormql"
)

// mattnDriver is the name mattn/go-sqlite3 registers under in this program.
// By default it registers "sqlite3", as ncruces's driver (which qlsqlite
// imports) does, and database/sql panics at the second registration: the
// program is built with
//
//	-ldflags '-X github.com/mattn/go-sqlite3.driverName=mattn'
//
// (bench/gorm/run.sh does), and gorm.io/driver/sqlite is told the name.
const mattnDriver = "mattn"

// poolSize is every database's connection pool: open and idle alike, so
// that no dialector loses its connections (and their prepared statements)
// between calls. The concurrent mix runs this many goroutines.
const poolSize = 8

// gormqlParams are more DSN parameters for gormql (-gormql-params), to
// measure what one of qlsqlite's settings costs.
var gormqlParams string

// A dialector is one of the GORM dialectors compared.
type dialector struct {
	name string
	// open returns a GORM dialector for the database file path, with
	// every setting below given in the driver's own DSN syntax.
	open func(path string) gorm.Dialector
}

// The settings are the same for all three: WAL, synchronous=NORMAL, a busy
// timeout of 5 s, foreign keys on, and transactions that take the write
// lock at BEGIN (_txlock=immediate: ncruces's default, not mattn's or
// modernc's), so that every dialector runs the same statements.
var dialectors = []dialector{
	{"gormql", func(path string) gorm.Dialector {
		// A "_pragma" in the DSN turns qlsqlite's own PRAGMA defaults off
		// (synchronous=FULL); its other defaults (statement cache,
		// deadlines, statistics, retries) stay on, as a user gets them.
		return gormql.Open("file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
			"&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate" + gormqlParams)
	}},
	{"mattn", func(path string) gorm.Dialector {
		return mattn.New(mattn.Config{DriverName: mattnDriver, DSN: "file:" + path +
			"?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_foreign_keys=1&_txlock=immediate"})
	}},
	{"glebarez", func(path string) gorm.Dialector {
		return glebarez.Open(path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
			"&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate")
	}},
}

// openDB opens a fresh database in dir through d, with GORM's
// PrepareStmt on or off, sizes its pool, and checks that the settings took.
func openDB(d dialector, dir string, prepare bool) (*gorm.DB, error) {
	name := d.name
	if prepare {
		name += "-prepare"
	}
	db, err := gorm.Open(d.open(filepath.Join(dir, name+".db")), &gorm.Config{
		Logger:      logger.Discard,
		PrepareStmt: prepare,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sqlDB.SetMaxOpenConns(poolSize)
	sqlDB.SetMaxIdleConns(poolSize)
	sqlDB.SetConnMaxIdleTime(0)
	sqlDB.SetConnMaxLifetime(0)
	if err := checkSettings(sqlDB); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return db, nil
}

// checkSettings fails unless a connection of db has the settings compared.
func checkSettings(db *sql.DB) error {
	var journal string
	var sync, busy, fk int
	err := db.QueryRow(`SELECT * FROM pragma_journal_mode, pragma_synchronous, pragma_busy_timeout, pragma_foreign_keys`).
		Scan(&journal, &sync, &busy, &fk)
	if err != nil {
		return fmt.Errorf("reading the settings: %w", err)
	}
	if journal != "wal" || sync != 1 || busy != 5000 || fk != 1 {
		return fmt.Errorf("settings journal_mode=%s synchronous=%d busy_timeout=%d foreign_keys=%d, want wal 1 5000 1",
			journal, sync, busy, fk)
	}
	return nil
}
