package qlsqlite

import (
	"errors"

	"github.com/ncruces/go-sqlite3"
)

// errorRules is what the generic policies (retry, breaker, error classes,
// pool health) need to know about a database engine's errors. SQLite is the
// only engine today; a second one adds its rules (and a [dialect], for
// observability), not a rewrite of the policies.
type errorRules interface {
	// retryable reports whether err means the statement lost a race for a
	// lock and nothing it did was applied, so running it again is safe
	// where no transaction was open.
	retryable(err error) bool
	// infrastructure reports whether err is a failure of the storage
	// rather than of the statement: these open the circuit breaker.
	infrastructure(err error) bool
	// class returns the class of an error the engine returned.
	class(err error) Class
}

// rulesOf returns the rules for an error's engine. There is one.
func rulesOf(error) errorRules { return sqliteRules{} }

// sqliteRules reads SQLite's result codes (https://sqlite.org/rescode.html).
type sqliteRules struct{}

func (sqliteRules) retryable(err error) bool {
	return errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED)
}

func (sqliteRules) infrastructure(err error) bool {
	var code sqlite3.ErrorCode
	if !errors.As(err, &code) {
		return false
	}
	switch code {
	case sqlite3.IOERR, sqlite3.FULL, sqlite3.CANTOPEN, sqlite3.CORRUPT, sqlite3.NOTADB, sqlite3.NOMEM, sqlite3.PROTOCOL:
		return true
	}
	return false
}

func (sqliteRules) class(err error) Class {
	var code sqlite3.ErrorCode
	if !errors.As(err, &code) {
		return Unclassified
	}
	switch code {
	case sqlite3.IOERR, sqlite3.FULL, sqlite3.CANTOPEN, sqlite3.NOMEM, sqlite3.PROTOCOL, sqlite3.PERM:
		return Connection
	case sqlite3.BUSY, sqlite3.LOCKED, sqlite3.INTERRUPT:
		return Performance
	case sqlite3.CONSTRAINT, sqlite3.CORRUPT, sqlite3.NOTADB, sqlite3.FORMAT:
		return Integrity
	case sqlite3.ERROR, sqlite3.MISMATCH, sqlite3.RANGE, sqlite3.MISUSE, sqlite3.AUTH,
		sqlite3.READONLY, sqlite3.TOOBIG, sqlite3.SCHEMA, sqlite3.ABORT:
		return Query
	}
	return Unclassified
}
