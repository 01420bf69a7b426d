package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

type migrationErr struct{}

func (migrationErr) Error() string      { return "migration 002 failed" }
func (migrationErr) ErrorClass() string { return "migration" }

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want Class
	}{
		{nil, Unclassified},
		{errors.New("something"), Unclassified},
		{sqlite3.IOERR_WRITE, Connection},
		{sqlite3.FULL, Connection},
		{sqlite3.CANTOPEN, Connection},
		{driver.ErrBadConn, Connection},
		{sql.ErrConnDone, Connection},
		{&circuitOpenError{classOf: classOf{Connection}}, Connection},
		{sqlite3.ERROR, Query},
		{sqlite3.MISMATCH, Query},
		{sqlite3.READONLY, Query},
		{context.DeadlineExceeded, Performance},
		{context.Canceled, Performance},
		{sqlite3.BUSY, Performance},
		{sqlite3.BUSY_SNAPSHOT, Performance},
		{&timeoutError{classOf: classOf{Performance}, ctxErr: context.DeadlineExceeded, err: sqlite3.INTERRUPT}, Performance},
		{&retriesError{classOf: classOf{Performance}, attempts: 3, err: sqlite3.BUSY}, Performance},
		{migrationErr{}, Migration},
		{sqlite3.CONSTRAINT_UNIQUE, Integrity},
		{sqlite3.CONSTRAINT_FOREIGNKEY, Integrity},
		{sqlite3.CORRUPT, Integrity},
		{sqlite3.NOTADB, Integrity},
		{fmt.Errorf("wrapped: %w", sqlite3.CONSTRAINT_CHECK), Integrity},
		{errors.Join(errors.New("first"), sqlite3.FULL), Connection},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestClassesMatchWithErrorsIs(t *testing.T) {
	err := fmt.Errorf("placing an order: %w",
		&timeoutError{classOf: classOf{Performance}, ctxErr: context.DeadlineExceeded, err: sqlite3.INTERRUPT})
	var c Class
	if !errors.As(err, &c) || c != Performance {
		t.Errorf("errors.As(err, &class) = %v", c)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sqlite3.INTERRUPT) {
		t.Error("the causes are lost")
	}
}

// A real database error is classified, and keeps its identity through qlsqlite.
func TestClassifyRealErrors(t *testing.T) {
	p := pin(t, "")
	p.exec(`CREATE TABLE t (n UNIQUE)`)
	p.exec(`INSERT INTO t VALUES (?)`, 1)
	_, err := p.conn.ExecContext(p.ctx, `INSERT INTO t VALUES (?)`, 1)
	if Classify(err) != Integrity || !errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) {
		t.Errorf("duplicate: %v is %v", err, Classify(err))
	}
	var serr *sqlite3.Error
	if !errors.As(err, &serr) {
		t.Errorf("%T is not a *sqlite3.Error", err)
	}
	_, err = p.conn.ExecContext(p.ctx, `INSERT INTO nope VALUES (?)`, 1)
	if Classify(err) != Query {
		t.Errorf("no such table: %v is %v", err, Classify(err))
	}
}
