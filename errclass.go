package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
)

// A Class is a broad kind of database error, for deciding what to do about
// it: retry, page someone, fix the query, fix the data.
//
// [Classify] returns the class of any error, through any wrapping. The
// errors qlsqlite makes itself (a statement stopped by its deadline, an open
// circuit, retries used up) also match their class with errors.Is:
//
//	errors.Is(err, qlsqlite.Performance)
type Class uint8

// The classes, as first specified for the trading platform.
const (
	// Unclassified is the class of nil and of errors qlsqlite cannot place.
	Unclassified Class = iota
	// Connection: the database cannot be reached or written: I/O errors, a
	// full disk, a file that cannot be opened, a closed connection, an open
	// circuit breaker.
	Connection
	// Query: the statement itself is wrong: syntax, unknown table or
	// column, wrong number of arguments, type mismatch, a read-only database.
	Query
	// Performance: the statement ran out of time: its deadline passed, it
	// was cancelled, or the database stayed locked after every retry.
	Performance
	// Migration: a schema migration failed (errors that report this class
	// through an ErrorClass() string method returning "migration").
	Migration
	// Integrity: the data refused the statement or is damaged: constraint
	// violations, corruption, a file that is not a database.
	Integrity
)

var classNames = [...]string{"unclassified", "connection", "query", "performance", "migration", "integrity"}

// String returns the class name in lower case.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unclassified"
}

// Error makes a Class usable as a target of errors.Is.
func (c Class) Error() string { return "qlsqlite: " + c.String() + " error" }

// Classify returns the class of err. It looks through wrapped errors
// (fmt.Errorf's %w, errors.Join): the first error in the chain that has a
// class decides.
func Classify(err error) Class { return classify(rulesOf(err), err) }

// classify is [Classify] with the engine's rules given: those of the
// database the error came from.
func classify(rules errorRules, err error) Class {
	if err == nil {
		return Unclassified
	}
	var c Class
	if errors.As(err, &c) {
		return c // one of qlsqlite's own, or a Class itself
	}
	var classed interface{ ErrorClass() string }
	if errors.As(err, &classed) {
		for i, name := range classNames {
			if name == classed.ErrorClass() {
				return Class(i)
			}
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return Performance
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), errors.Is(err, ErrCircuitOpen):
		return Connection
	}
	return rules.class(err)
}

// classOf is embedded by qlsqlite's own errors so that errors.As(err,
// &class) finds their class.
type classOf struct{ class Class }

func (c classOf) As(target any) bool {
	if p, ok := target.(*Class); ok {
		*p = c.class
		return true
	}
	return false
}
