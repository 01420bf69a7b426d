package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// A Backend is a database engine other than SQLite beneath qlsqlite's
// shared layers: the interceptor (deadlines, retries, the circuit breaker),
// statistics, OpenTelemetry, alerts and health work the same over it, and
// [RunTx], [Stats], [ResetStats], [Health] and [Classify] accept its
// databases. Module github.com/quantumleap/qlsqlite/pg implements it for
// PostgreSQL (driver "qlpg"); the README's "A third backend" section says
// what another engine needs.
//
// What is SQLite's own does not apply to a backend: the writer gate and
// group commit, which sits at it, PRAGMAs, statistics upkeep, the integrity check, the statement cache (a
// backend's driver keeps its own), captured plans and the Raw SQLite
// connection.
//
// Get a database's connector with [NewBackendConnector]. A Backend is used
// by one database: it may keep connections of its own (for [Health]), which
// its Close releases.
type Backend interface {
	// System is the engine's db.system.name in OpenTelemetry's
	// conventions, such as "postgresql".
	System() string
	// Namespace is the database's db.namespace: its name.
	Namespace() string
	// Connect opens one connection. Its errors count toward the circuit
	// breaker as [ErrorRules.Infrastructure] says.
	Connect(ctx context.Context) (BackendConn, error)
	// Close releases what the backend holds. Closing the database calls it
	// once, after its last connection closed.
	Close() error
	ErrorRules
}

// ErrorRules tell the shared policies what an engine's errors mean. Each
// method may be given any error the engine's connections returned, wrapped
// or not, and must answer false (or [Unclassified], or "") for errors it
// does not know.
type ErrorRules interface {
	// RetryStatement reports whether a call that failed with err applied
	// nothing and may run again at once on the same connection, outside a
	// transaction (SQLite's BUSY). An engine whose driver already hands
	// database/sql [driver.ErrBadConn] for work that never reached the
	// server, which database/sql runs again on another connection, answers
	// false.
	RetryStatement(err error) bool
	// RetryTransaction reports whether a transaction that failed with err
	// may run again from its start ([RunTx]): PostgreSQL's serialization
	// failures and deadlocks.
	RetryTransaction(err error) bool
	// Infrastructure reports whether err is a failure of the server, the
	// network or the storage rather than of the statement: these open the
	// circuit breaker, and the connection that saw one is not reused.
	Infrastructure(err error) bool
	// Class returns the class of err ([Classify]).
	Class(err error) Class
	// StatusCode returns the engine's code for err (OpenTelemetry's
	// db.response.status_code, such as PostgreSQL's SQLSTATE "40001"), or
	// "".
	StatusCode(err error) string
}

// BackendConn is one connection of a [Backend]: a [database/sql/driver]
// connection with the optional interfaces the shared layers call, and
// InTx.
type BackendConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.NamedValueChecker
	// InTx reports whether a transaction is open on the connection: no
	// single statement is retried then, and the pool does not take the
	// connection back.
	InTx() bool
}

// ServerReporter is implemented by a [Backend] whose server reports on
// itself. [Stats] and the monitor read Storage; [Health] reads both.
type ServerReporter interface {
	// Storage reports the database's size in StorageStats.SizeBytes (the
	// other fields describe SQLite's files and stay zero).
	Storage(ctx context.Context) (StorageStats, error)
	// ServerHealth reports the server's state: connections, long
	// transactions, size, replication.
	ServerHealth(ctx context.Context) (ServerHealth, error)
}

// ServerDeadline is implemented by a [Backend] whose server can enforce the
// default statement deadline ("_timeout", [WithTimeout]) itself, as
// PostgreSQL's statement_timeout does. A statement whose context has no
// deadline of its own then reaches the backend's driver with that context
// unchanged: a driver that watches each statement's context (pgx arms a
// channel and a context.AfterFunc per statement, when the context can end)
// has nothing to watch, and the per-statement cost of the default deadline
// is gone. The database's connections must implement
// [ServerDeadlineConn].
//
// What the shared layers do around it:
//   - a statement the server stopped at the default deadline fails with the
//     same error as on SQLite: it matches [context.DeadlineExceeded], names
//     the default deadline and "_timeout", and keeps the server's error in
//     its chain;
//   - a statement whose context has a deadline of its own is governed by
//     it, as on SQLite, even when it is later than the default: the
//     connection is asked to lift the server's limit for it
//     ([ServerDeadlineConn.SetServerTimeout]);
//   - a statement that waits for the server's answer longer than the
//     default deadline plus the grace EnforceTimeout returned (the server
//     stopped it, but the network went silent) is given up on: one
//     goroutine per database watches the connections' calls in progress
//     ([ServerDeadlineConn.Interrupt]), with no timer or allocation per
//     statement.
type ServerDeadline interface {
	// EnforceTimeout is called once, before the database's first
	// connection, with the default deadline (> 0): from then on the server
	// must stop every statement of the connections Connect opens that runs
	// longer. It returns how long past the deadline a call may still wait
	// for the server's answer before its connection is given up on, or ok
	// false when the server cannot enforce it (then the deadline is the
	// client's, as for a Backend without this interface).
	EnforceTimeout(timeout time.Duration) (grace time.Duration, ok bool)
	// TimedOut reports whether err is the server's having stopped a
	// statement at its timeout (PostgreSQL: SQLSTATE 57014). It may also
	// answer true for other cancellations the server reports the same way:
	// the shared layers report it as the default deadline only when the
	// call ran for the default deadline or longer.
	TimedOut(err error) bool
}

// ServerDeadlineConn is implemented by the connections of a [Backend] that
// implements [ServerDeadline].
type ServerDeadlineConn interface {
	// SetServerTimeout is called before each statement (not before BEGIN):
	// lift true when the statement's context has a deadline later than the
	// default one, which must govern instead (the server must not stop the
	// statement at the default deadline); lift false when the default
	// applies, which the server must then enforce again if an earlier call
	// lifted it. It runs on the statement's goroutine, with its context,
	// and must cost nothing (no round trip, no allocation) when the
	// default applies and nothing was lifted: that is every statement of a
	// program that passes no deadlines of its own.
	SetServerTimeout(ctx context.Context, lift bool) error
	// Interrupt makes the call in progress on the connection stop waiting
	// for the server (PostgreSQL: the socket's deadline set to now). It is
	// called from another goroutine, possibly just as the call ends; the
	// connection is not reused afterwards.
	Interrupt()
}

// IndexAdviser is implemented by a [Backend] that advises indexes: [Advise]
// and [AdviseWorkload] hand it the statements, [ApplyAdvice] the advice.
type IndexAdviser interface {
	// AdviseIndexes suggests indexes for queries, verified with the
	// engine's planner, as [Advise] documents.
	AdviseIndexes(ctx context.Context, db *sql.DB, queries []WorkloadQuery) ([]IndexAdvice, error)
	// ApplyIndexes creates the advised indexes, as [ApplyAdvice] documents.
	ApplyIndexes(ctx context.Context, db *sql.DB, advice []IndexAdvice) error
}

// ServerHealth is what a database server reports of itself in
// [HealthReport.Server].
type ServerHealth struct {
	// Version is the server's version.
	Version string
	// Connections counts the server's connections to the database by
	// state ("active", "idle", "idle in transaction", ...).
	Connections map[string]int
	// LongTransactions are the transactions open longer than the backend's
	// threshold, oldest first.
	LongTransactions []LongTransaction
	// SizeBytes is the database's size on disk.
	SizeBytes int64
	// Standby says the server is a read-only standby replaying another
	// server's log; ReplayLag is then how far behind it is.
	Standby   bool
	ReplayLag time.Duration
	// Replicas are the standbys streaming from this server.
	Replicas []Replica
	// Problems are what the backend found wrong; each makes the report
	// degraded.
	Problems []string
}

// LongTransaction is a transaction open for a long time: it holds locks and
// keeps old row versions from being cleaned up.
type LongTransaction struct {
	PID   int
	State string        // "active", "idle in transaction", ...
	Age   time.Duration // since the transaction began
	// Query is the fingerprint of the last statement (literals replaced by
	// ?): never the values themselves.
	Query string
}

// Replica is a standby streaming from the server.
type Replica struct {
	Name      string // application_name
	State     string // "streaming", "catchup", ...
	SyncState string // "sync", "async", "potential", "quorum"
	// Lag is how long ago the standby last replayed what the server had
	// written (zero when it is caught up); LagBytes is how much of the log
	// it has yet to replay.
	Lag      time.Duration
	LagBytes int64
}

// NewBackendConnector returns a connector that runs qlsqlite's layers over
// b, for [sql.OpenDB] or [OpenConnector]. params are qlsqlite's own DSN
// parameters (those whose names begin with "_"), which the backend took out
// of its DSN before its engine saw them; those that apply to SQLite only
// (the writer gate, group commit, PRAGMAs, the statement cache, statistics
// upkeep) are an error. opts are applied after params.
func NewBackendConnector(b Backend, params url.Values, opts ...Option) (*Connector, error) {
	cfg := defaultConfig()
	cfg.writerGate, cfg.optimize, cfg.defaults, cfg.stmtCache = false, false, false, 0
	cfg.obs.integrityEvery = 0 // the integrity check is SQLite's
	if err := applyBackendParams(b.System(), params, &cfg); err != nil {
		return nil, err
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	cfg.pool = cfg.pool.withDefaults()
	db := newDatabase(cfg, backendRules{b})
	db.backend = b
	if sd, ok := b.(ServerDeadline); ok && cfg.timeout > 0 {
		if grace, ok := sd.EnforceTimeout(cfg.timeout); ok {
			db.server = sd
			db.stalls = stallWatch{db: db, bound: cfg.timeout + max(grace, 0), epoch: time.Now()}
		}
	}
	if db.txRetrier != nil {
		db.txRetrier.exhausted = "the transaction kept failing with an error that asks for a re-run (raise _retry, or make transactions conflict less: shorter, touching fewer rows)"
	}
	db.obs = newObservability(db, backendDialect{b})
	return &Connector{db: db, driver: &Driver{db: db}}, nil
}

// sqliteOnlyParams are the DSN parameters that mean nothing to a [Backend].
var sqliteOnlyParams = []string{"_stmt_cache", "_defaults", "_writer_gate", "_group_commit", "_group_commit_max", "_group_commit_time", "_optimize", "_optimize_every", "_integrity_every", "_pragma", "_txlock", "_timefmt"}

// applyBackendParams applies qlsqlite's own DSN parameters to cfg.
func applyBackendParams(system string, params url.Values, cfg *config) error {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if slices.Contains(sqliteOnlyParams, key) {
			return fmt.Errorf("qlsqlite: DSN parameter %s applies to SQLite only, not to %s: remove it", key, system)
		}
		p := findParam(key)
		if p == nil {
			return fmt.Errorf("qlsqlite: unknown DSN parameter %q (qlsqlite knows %s)", key, backendParamNames())
		}
		for _, value := range params[key] {
			if err := p.set(cfg, value); err != nil {
				return fmt.Errorf("qlsqlite: DSN parameter %s=%q: %w", key, value, err)
			}
		}
	}
	return nil
}

func backendParamNames() string {
	var names []string
	for _, p := range dsnParams {
		if !slices.Contains(sqliteOnlyParams, p.name) {
			names = append(names, p.name)
		}
	}
	return fmt.Sprint(names)
}

// OpenConnector opens a database on c as [Open] does: [sql.OpenDB], the
// database's [Monitor] started, the pool sized by [ConfigurePool] and its
// warm connections opened.
func OpenConnector(c *Connector) (*sql.DB, error) { return openDB(c) }

// backendRules are a [Backend]'s [ErrorRules] as the policies ask them.
type backendRules struct{ b Backend }

func (r backendRules) retryable(err error) bool      { return r.b.RetryStatement(err) }
func (r backendRules) retryableTx(err error) bool    { return r.b.RetryTransaction(err) }
func (r backendRules) infrastructure(err error) bool { return r.b.Infrastructure(err) }
func (r backendRules) class(err error) Class         { return r.b.Class(err) }
