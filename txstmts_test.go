package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// TestPreparedBeginModes: a transaction begun with the prepared BEGIN takes
// the lock ncruces would take: the write lock at BEGIN by default (another
// connection's BEGIN IMMEDIATE is refused), none with _txlock=deferred,
// the write lock for serializable transactions whatever _txlock says.
func TestPreparedBeginModes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dsn       string
		opts      *sql.TxOptions
		writeLock bool
	}{
		{"default", "", nil, true},
		{"immediate", "&_txlock=immediate", nil, true},
		{"exclusive", "&_txlock=exclusive", nil, true},
		{"deferred", "&_txlock=deferred", nil, false},
		{"deferred serializable", "&_txlock=deferred", &sql.TxOptions{Isolation: sql.LevelSerializable}, true},
		{"deferred linearizable", "&_txlock=deferred", &sql.TxOptions{Isolation: sql.LevelLinearizable}, true},
		{"read-only", "", &sql.TxOptions{ReadOnly: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "tx.db")
			// No writer gate: the second connection must meet SQLite's
			// lock, not wait at the gate.
			db, err := sql.Open(DriverName, "file:"+filepath.ToSlash(path)+"?_writer_gate=off&_retry=0&_pragma=busy_timeout(0)"+tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`CREATE TABLE t (a)`); err != nil {
				t.Fatal(err)
			}
			other, err := db.Conn(ctx) // opened first: an exclusive lock keeps new connections out
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if err := other.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			tx, err := db.BeginTx(ctx, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			_, err = other.ExecContext(ctx, `BEGIN IMMEDIATE`)
			if got := errors.Is(err, sqlite3.BUSY); got != tc.writeLock {
				t.Errorf("another connection's BEGIN IMMEDIATE: %v; want BUSY: %v", err, tc.writeLock)
			}
			if err == nil {
				other.ExecContext(ctx, `ROLLBACK`)
			}
		})
	}
}

// TestPreparedCommitFailureRollsBack: a COMMIT that fails (a deferred
// foreign key still broken) returns SQLite's error, rolls the transaction
// back as ncruces does, and leaves the connection ready for the next one.
func TestPreparedCommitFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open(DriverName, "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "fk.db"))+"?_max_open=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE p (id INTEGER PRIMARY KEY);
		CREATE TABLE c (p INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	// One connection throughout: the pool would drop a connection left in
	// a transaction and hide a missing rollback.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 3 {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO c VALUES (42)`); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); !errors.Is(err, sqlite3.CONSTRAINT_FOREIGNKEY) {
			t.Fatalf("Commit with a broken deferred foreign key: %v", err)
		}
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM c`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows after three failed commits: %d, %v; want 0", n, err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO p VALUES (42); INSERT INTO c VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit of a consistent transaction: %v", err)
	}
}

// TestPreparedBeginCancelled: BEGIN runs under the caller's context, as
// with ncruces: a context already cancelled starts nothing.
func TestPreparedBeginCancelled(t *testing.T) {
	db, err := sql.Open(DriverName, "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "c.db"))+"?_max_open=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A transaction on this connection first, so that the prepared BEGIN
	// exists when the cancelled one comes.
	tx, err := conn.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := conn.BeginTx(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("BeginTx with a cancelled context: %v", err)
	}
	var autocommit bool
	if err := conn.Raw(func(dc any) error {
		autocommit = dc.(interface{ Raw() *sqlite3.Conn }).Raw().GetAutocommit()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !autocommit {
		t.Error("a transaction was opened under a cancelled context")
	}
}
