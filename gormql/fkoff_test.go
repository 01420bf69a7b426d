package gormql

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// A connection on which foreign keys cannot be turned back on (here: a
// transaction is still open, where the PRAGMA does nothing) is closed, not
// returned to the pool.
func TestConnectionWithForeignKeysOffIsClosed(t *testing.T) {
	ctx := context.Background()
	db, err := gorm.Open(Open("file:"+filepath.Join(t.TempDir(), "fk.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	sqlDB.SetMaxOpenConns(1)

	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cdb := db.Session(&gorm.Session{Context: ctx, NewDB: true})
	cdb.Statement.ConnPool = conn
	if err := cdb.Exec("PRAGMA foreign_keys = OFF").Error; err != nil {
		t.Fatal(err)
	}
	if err := cdb.Exec("BEGIN").Error; err != nil {
		t.Fatal(err)
	}
	err = restoreForeignKeys(cdb, conn, true)
	if err == nil || !strings.Contains(err.Error(), "closed instead of returned to the pool") {
		t.Fatalf("restoring foreign keys inside a transaction: %v", err)
	}
	conn.Close()

	// The pool's next connection is a new one: foreign keys on, no
	// transaction left open.
	if open := sqlDB.Stats().OpenConnections; open != 0 {
		t.Errorf("%d connections open after the bad one was closed", open)
	}
	var on bool
	if err := db.Raw("PRAGMA foreign_keys").Row().Scan(&on); err != nil || !on {
		t.Errorf("the next connection has foreign keys %v (%v)", on, err)
	}
	if err := db.Exec("BEGIN; ROLLBACK").Error; err != nil {
		t.Errorf("the next connection is inside a transaction: %v", err)
	}
}
