package qlsqlite

import (
	"errors"

	"github.com/ncruces/go-sqlite3"
)

// errorRules is what the generic policies (retry, breaker, error classes,
// pool health) need to know about a database engine's errors. Each
// database has its own ([database.rules]): SQLite's, or a [Backend]'s.
type errorRules interface {
	// retryable reports whether err means the statement lost a race for a
	// lock and nothing it did was applied, so running it again on the same
	// connection is safe where no transaction was open.
	retryable(err error) bool
	// retryableTx reports whether err means a whole transaction may run
	// again from its start ([RunTx]).
	retryableTx(err error) bool
	// infrastructure reports whether err is a failure of the storage
	// rather than of the statement: these open the circuit breaker.
	infrastructure(err error) bool
	// class returns the class of an error the engine returned.
	class(err error) Class
}

// rulesOf returns the rules [Classify] falls back on for an error that
// carries no class: SQLite's, which know its error codes and nothing else.
// A [Backend]'s errors carry their class themselves (see [engineError]);
// everywhere else the policies use their database's own rules
// ([database.rules]).
func rulesOf(error) errorRules { return sqliteRules{} }

// engineError is an error a [Backend]'s connection returned, marked with the
// backend's rules so that [Classify], which has only the error, classifies
// it as the backend says. It reads exactly as the error it wraps, and
// errors.Is and errors.As reach that error and its chain.
type engineError struct {
	rules errorRules
	err   error
}

func (e *engineError) Error() string { return e.err.Error() }
func (e *engineError) Unwrap() error { return e.err }

// Is lets errors.Is(err, qlsqlite.Integrity) match the backend's class of
// the error, as qlsqlite's own errors match theirs.
func (e *engineError) Is(target error) bool {
	c, ok := target.(Class)
	return ok && c != Unclassified && e.rules.class(e.err) == c
}

// As lets errors.As(err, &class) find the backend's class of the error.
func (e *engineError) As(target any) bool {
	if p, ok := target.(*Class); ok {
		if c := e.rules.class(e.err); c != Unclassified {
			*p = c
			return true
		}
	}
	return false
}

// sqliteRules reads SQLite's result codes (https://sqlite.org/rescode.html).
type sqliteRules struct{}

func (sqliteRules) retryable(err error) bool {
	return errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED)
}

// retryableTx is retryable: a transaction that lost the race for the lock
// (BUSY, BUSY_SNAPSHOT, LOCKED) applied nothing.
func (r sqliteRules) retryableTx(err error) bool { return r.retryable(err) }

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
