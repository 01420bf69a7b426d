package pg

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/quantumleap/qlsqlite"
)

// This file is PostgreSQL's [qlsqlite.ErrorRules]: what its errors mean to
// the shared policies. The server names its errors with SQLSTATE codes
// (https://www.postgresql.org/docs/15/errcodes-appendix.html); failures of
// the network and of a server that went away come from pgx without one.

// sqlState returns the SQLSTATE of the server's error in err's chain, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// RetryStatement implements [qlsqlite.ErrorRules]: never. A statement
// that failed before any of it reached the server is answered by pgx's
// adapter with [driver.ErrBadConn], which database/sql runs again on
// another connection; one that may have reached it is not run again,
// since it may have applied.
func (*backend) RetryStatement(error) bool { return false }

// RetryTransaction implements [qlsqlite.ErrorRules]: a serialization
// failure (40001) or a deadlock (40P01) rolled the whole transaction back,
// and running it again from the start may succeed.
func (*backend) RetryTransaction(err error) bool {
	switch sqlState(err) {
	case "40001", "40P01":
		return true
	}
	return false
}

// Infrastructure implements [qlsqlite.ErrorRules]: the server cannot be
// reached or is failing, rather than the statement. These are the
// connection exceptions (class 08), a server shutting down or starting up
// (57P01, 57P02, 57P03), insufficient resources (class 53: disk full, out
// of memory, too many connections), system and I/O errors (class 58),
// corrupted data (XX001, XX002), and the errors of a connection that broke
// without a word from the server. A context that ended is no failure of the
// server.
func (*backend) Infrastructure(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if code := sqlState(err); code != "" {
		switch {
		case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "58"):
			return true
		}
		switch code {
		case "57P01", "57P02", "57P03", "XX001", "XX002":
			return true
		}
		return false
	}
	return brokenConn(err)
}

// brokenConn reports whether err is a connection that broke or could not
// be made, with no error from the server.
func brokenConn(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.As(err, &ne), errors.As(err, &ce), pgconn.SafeToRetry(err):
		return true
	}
	return false
}

// Class implements [qlsqlite.ErrorRules].
func (b *backend) Class(err error) qlsqlite.Class {
	code := sqlState(err)
	if code == "" {
		if b.Infrastructure(err) {
			return qlsqlite.Connection
		}
		return qlsqlite.Unclassified
	}
	switch code {
	case "40001", "40P01", "57014", "55P03", "25P03", "57P04":
		// serialization failure, deadlock, statement cancelled (its
		// deadline), lock not available, idle transaction timeout
		return qlsqlite.Performance
	case "XX001", "XX002":
		return qlsqlite.Integrity
	case "57P01", "57P02", "57P03":
		return qlsqlite.Connection
	}
	switch code[:2] {
	case "08", "28", "53", "58":
		return qlsqlite.Connection
	case "23":
		return qlsqlite.Integrity
	case "22", "42", "0A", "21", "25", "26", "2B", "2D", "2F", "34", "38", "39", "3B", "3D", "3F", "44", "55", "P0":
		return qlsqlite.Query
	}
	return qlsqlite.Unclassified
}

// StatusCode implements [qlsqlite.ErrorRules]: the SQLSTATE.
func (*backend) StatusCode(err error) string { return sqlState(err) }
