// Package qlsqlite is a production layer for SQLite in Go: a [database/sql]
// driver named "qlsqlite" over [github.com/ncruces/go-sqlite3] that a program
// adopts by changing the driver name it passes to [sql.Open]:
//
//	import _ "github.com/quantumleap/qlsqlite"
//
//	db, err := sql.Open("qlsqlite", "file:trading.db")
//
// Every call then goes through one interceptor (see [github.com/ngrok/sqlmw])
// that records statistics, spans and metrics and adds a per-statement
// deadline, and beneath it a per-connection cache of prepared statements.
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
// The pragma parameters of github.com/mattn/go-sqlite3 ("_busy_timeout",
// "_journal_mode"/"_journal", "_synchronous"/"_sync", "_foreign_keys"/"_fk",
// "_cache_size", "_locking_mode"/"_locking", "_auto_vacuum"/"_vacuum",
// "_recursive_triggers"/"_rt", "_case_sensitive_like"/"_cslike",
// "_defer_foreign_keys"/"_defer_fk", "_ignore_check_constraints",
// "_query_only", "_secure_delete", "_writable_schema") are accepted as
// aliases, each becoming a "_pragma"; "_mutex" and "_loc=UTC" are accepted
// and need nothing. One differs: mattn's "_timeout" is a busy timeout, and
// qlsqlite's is the statement deadline (below): write "_busy_timeout".
//
// ":memory:" (and "file::memory:") is one database for the whole [*sql.DB],
// however many connections its pool opens: qlsqlite opens it as a database
// of ncruces's memdb VFS with a random name of its own, which lives until the
// [*sql.DB] is closed. (SQLite itself gives each connection an empty database
// of its own.)
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
// any "_pragma" is given. A mattn alias sets its own pragma and leaves the
// defaults for the others. "_defaults=off" (or [WithDefaults](false)) gives
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
// # Group commit
//
// With "_group_commit=on" (or [WithGroupCommit](true)), concurrent autocommit
// INSERT, UPDATE, DELETE and REPLACE statements with arguments share one
// transaction and one fsync: the first waiting writer leads, runs each
// queued statement in a savepoint of its own on its connection, commits
// once, and answers every caller with its own result or error. A lone
// writer runs alone, as before. It is off by default: a caller can tell a
// grouped statement apart (changes() on its own connection, a deadline
// passed while its group committed); see the README.
//
// # Observability
//
// Each call (a statement, until its rows are closed; BEGIN, COMMIT and
// ROLLBACK) is recorded per query fingerprint (see [FingerprintOf]): calls,
// errors by class, rows, latency percentiles within 2%, time spent waiting,
// statement-cache hits; [Stats] reads them, like PostgreSQL's
// pg_stat_statements, and [ResetStats] starts over. Recording takes no lock
// shared by all goroutines: each connection keeps its own share, and [Stats]
// adds them up. A database keeps at most "_stats_max" fingerprints (default
// 5000, [WithStatsMax]); past it the least-used, by calls, are evicted, their
// calls kept in the database's totals.
//
// A call slower than "_slow" (default 100ms, 0 disables) is logged through
// [log/slog] with its fingerprint, duration, number of arguments (never their
// values) and plan, at most "_slow_limit" records a period per database
// (default 10 a second, [WithSlowQueryLimit]), with the count of the records
// left out. "_stats=off" turns the statistics off.
//
// Each call is also an OpenTelemetry client span ("_trace=off" turns them
// off) and a db.client.operation.duration measurement ("_metrics=off"),
// through the global providers unless [WithTracerProvider] and
// [WithMeterProvider] say otherwise, following the database semantic
// conventions; a span never carries argument values, and carries the
// fingerprint's text as db.query.text only with "_query_text=on".
//
// A monitor ([Monitor]; [Open] starts one) samples the database off the query
// path and raises an [Alert] when a threshold is crossed over a sliding
// window: query p95 100ms, pool usage 80%, database size 5000 MB, error rate
// 1%, lock wait 1s ([DefaultAlertThresholds]), and checks the database's
// integrity table by table once a day ([CheckIntegrity],
// "_integrity_every"); problems raise an alert. [Health] sums it all up
// without reading any table, cheaply enough for a probe, and [Handler]
// serves it over HTTP (/healthz, /readyz).
//
// # Encryption at rest
//
// A DSN may open the database through an encrypting VFS of ncruces (import
// github.com/ncruces/go-sqlite3/vfs/adiantum or .../xts), with its key:
//
//	file:trading.db?vfs=adiantum&hexkey=…
//
// A key of the wrong length is an error at open. The key never appears in
// an error, a log line, a span, a metric, [Stats] or [Health]. The
// per-database [Driver] tells packages lifecycle and migrate the VFS and key
// ([Driver.EncryptionParams]), so that every backup, archive and migration
// backup they write is encrypted like the database.
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
