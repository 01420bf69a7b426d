// Package qlsqlite is a production layer for SQLite in Go: a [database/sql]
// driver named "qlsqlite" over [github.com/ncruces/go-sqlite3] that a program
// adopts by changing the driver name it passes to [sql.Open]:
//
//	import _ "github.com/quantumleap/qlsqlite"
//
//	db, err := sql.Open("qlsqlite", "file:trading.db")
//
// Every call then goes through one interceptor (see [github.com/ngrok/sqlmw])
// that adds a per-statement deadline, and beneath it a per-connection cache
// of prepared statements.
//
// # Data source names
//
// Everything the ncruces driver accepts passes through unchanged: plain file
// names, "file:" [URI] names with SQLite's own parameters (mode, vfs, cache,
// immutable, ...) and ncruces's "_pragma", "_txlock" and "_timefmt".
// qlsqlite's own parameters also start with an underscore; they are parsed
// and removed before the DSN reaches ncruces:
//
//	file:trading.db?_timeout=5s&_stmt_cache=256
//
// An unknown underscore parameter, a malformed value, or parameters on a DSN
// that does not start with "file:" (which SQLite would take as part of the
// file name) are errors that name the parameter. Each DSN parameter has an
// equivalent [Option] for [Open] and [NewConnector]; options are applied after
// the DSN, so Go code wins.
//
// # Production defaults
//
// Unless the DSN sets a "_pragma" of its own, every new connection runs
//
//	PRAGMA busy_timeout=5000;
//	PRAGMA journal_mode=WAL;
//	PRAGMA synchronous=FULL;
//	PRAGMA foreign_keys=ON;
//
// (journal_mode is left alone on read-only connections). A DSN that sets its
// own "_pragma" gets only the busy timeout, and only when none of its pragmas
// sets one, because ncruces drops its own one-minute busy timeout as soon as
// any "_pragma" is given. "_defaults=off" (or [WithDefaults](false)) gives
// ncruces's behaviour exactly.
//
// # Deadlines
//
// A statement whose context has no deadline gets one: "_timeout" (default
// 30s, 0 disables) bounds it, including its row iteration until Rows.Close.
// A statement stopped by any deadline or cancellation returns an error for
// which errors.Is(err, context.DeadlineExceeded) (or [context.Canceled])
// holds, with SQLite's error ("sqlite3: interrupted") still in the chain.
//
// # SQLite's own features
//
// [sql.Conn.Raw] hands out a value implementing ncruces's [driver.Conn], so
// the online backup API and [driver.Savepoint] work through qlsqlite exactly as
// they do with the raw driver.
//
// [URI]: https://sqlite.org/uri.html
// [driver.Conn]: https://pkg.go.dev/github.com/ncruces/go-sqlite3/driver#Conn
// [driver.Savepoint]: https://pkg.go.dev/github.com/ncruces/go-sqlite3/driver#Savepoint
package qlsqlite
