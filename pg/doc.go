// Package pg registers the database/sql driver "qlpg": qlsqlite's layer
// over PostgreSQL, through jackc/pgx/v5's database/sql adapter. A program
// that outgrows one SQLite file keeps its habits: the same deadlines,
// retries, circuit breaker, statistics, OpenTelemetry, health and
// migrations, with [qlsqlite.RunTx], [qlsqlite.Stats], [qlsqlite.ResetStats],
// [qlsqlite.Health] and [qlsqlite.Classify] taking a qlpg *sql.DB.
//
//	import _ "github.com/quantumleap/qlsqlite/pg"
//
//	db, err := sql.Open("qlpg", "postgres://app@db1:5432,db2:5432/trading?target_session_attrs=read-write&_timeout=5s")
//
// The DSN is a PostgreSQL URL (all that pgx reads: several hosts,
// target_session_attrs, sslmode, ...) plus qlsqlite's own parameters, whose
// names begin with "_", taken out before pgx sees them: "_timeout",
// "_retry", "_breaker", "_breaker_failures", "_breaker_delay",
// "_breaker_successes", the pool's ("_max_open", "_max_idle", "_min_open",
// "_idle_timeout", "_max_lifetime", "_conn_timeout") and observability's
// ("_stats", "_stats_max", "_slow", "_trace", "_metrics", "_query_text"), as
// for SQLite;
// qlpg's own "_long_transaction" and "_replication_lag" (health
// thresholds, see [DefaultLongTransaction], [DefaultReplicationLag]). The
// parameters that are SQLite's alone (the writer gate, PRAGMAs, the
// statement cache, statistics upkeep, the integrity check) are an error.
//
// Per policy, over PostgreSQL:
//   - a statement past its deadline is stopped on the server, and fails
//     with an error that matches context.DeadlineExceeded: the default one
//     ("_timeout") is the server's statement_timeout, set when each
//     connection opens, and a statement whose context has no deadline
//     reaches pgx with that context unchanged (nothing to watch); past a
//     context's own deadline pgx sends a cancel request. A context's
//     deadline later than "_timeout" governs (the server's limit is lifted
//     for that statement); a DSN that sets statement_timeout keeps it and
//     the client's deadline; docs/postgres.md has the rest (a session's
//     own SET, RESET ALL, a silent network);
//   - [qlsqlite.RunTx] runs a transaction again after a serialization
//     failure (40001) or a deadlock (40P01), never after another error;
//   - the circuit breaker counts failures of the server and the network
//     (SQLSTATE classes 08, 53, 58, 57P01-57P03, a broken connection), never
//     the statement's own errors;
//   - a statement is run again only where it provably never reached the
//     server: pgx's adapter then returns driver.ErrBadConn, and database/sql
//     runs it on another connection;
//   - spans and metrics carry db.system.name=postgresql, the database's
//     name as db.namespace and the SQLSTATE as db.response.status_code;
//   - [qlsqlite.Health] (and [qlsqlite.Handler]'s /healthz) adds
//     [qlsqlite.ServerHealth]: connections by state, long transactions, the
//     database's size, replication lag;
//   - package migrate runs under an advisory lock, each migration in a
//     transaction with its DDL.
//
// pgx keeps its own cache of prepared statements per connection, so
// qlsqlite's statement cache does not apply (Stats reports none).
package pg
