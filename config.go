package qlsqlite

import "time"

// Defaults of the settings that a DSN parameter or an [Option] can change.
const (
	// DefaultTimeout bounds a statement whose context has no deadline ("_timeout").
	DefaultTimeout = 30 * time.Second
	// DefaultStmtCache is the number of prepared statements each connection
	// keeps ("_stmt_cache"). See the Performance section of the README for the
	// measurement behind it.
	DefaultStmtCache = 128
	// DefaultBusyTimeout is the busy timeout the production defaults set.
	DefaultBusyTimeout = 5 * time.Second
)

// config is the per-database configuration, filled from the DSN and then
// from the options.
type config struct {
	timeout    time.Duration // default statement deadline; 0 disables
	stmtCache  int           // statements cached per connection; 0 disables
	defaults   bool          // apply the production PRAGMA defaults
	retry      int           // attempts for work that lost a race for the lock; 1 disables retrying
	breaker    *BreakerConfig
	writerGate bool
	group      bool              // group commit (groupcommit.go)
	groupLimit GroupCommitLimits // its limits
	txLock     string            // the DSN's _txlock, read to know which transactions write from BEGIN
	timeFmt    string            // the DSN's first _timefmt, read to convert rows as ncruces does (rows.go)
	hasTimeFmt bool
	pool       PoolConfig

	walLimit int64            // the WAL is kept under this many bytes (wal.go); 0: off
	walPause [2]time.Duration // a forced checkpoint's first and longest pause (tests); zero: the defaults

	optimize      bool          // statistics upkeep (optimize.go)
	optimizeEvery time.Duration // how often; 0: only at open and close

	now     func() time.Time // the breaker's clock; see WithClock
	onRetry func(error)      // called before each retry; tests watch it
	obs     observeConfig    // statistics, spans, metrics, slow log, alerts

	slowLimit slowLimit // the slow-query log's rate limit (slowlog.go)

	// Read from the DSN, not settable: what the user's own _pragma set.
	hasPragma      bool
	hasBusyTimeout bool     // set by a _pragma or by mattn's _busy_timeout
	aliasPragmas   []string // the pragmas mattn/go-sqlite3's parameters set (dsn_mattn.go)
}

func defaultConfig() config {
	return config{
		timeout:       DefaultTimeout,
		stmtCache:     DefaultStmtCache,
		defaults:      true,
		retry:         DefaultRetry,
		breaker:       &BreakerConfig{Failures: DefaultBreakerFailures, Delay: DefaultBreakerDelay, Successes: DefaultBreakerSuccesses},
		writerGate:    true,
		walLimit:      DefaultWALLimit,
		groupLimit:    GroupCommitLimits{}.withDefaults(),
		optimize:      true,
		optimizeEvery: DefaultOptimizeEvery,
		now:           time.Now,
		obs:           defaultObserveConfig(),
		slowLimit:     defaultSlowLimit(),
	}
}

// An Option configures a database opened with [Open] or [NewConnector].
// Options are applied after the DSN's parameters, so they win.
type Option func(*config)

// WithTimeout sets the deadline given to a statement whose context has none
// (DSN: "_timeout"; default [DefaultTimeout]). It bounds the statement
// including its row iteration until Rows.Close. Zero disables it.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = max(d, 0) }
}

// WithStmtCache sets how many prepared statements each connection keeps for
// reuse (DSN: "_stmt_cache"; default [DefaultStmtCache]). Zero disables the
// cache: every statement is then prepared, run and finalized.
func WithStmtCache(n int) Option {
	return func(c *config) { c.stmtCache = max(n, 0) }
}

// WithDefaults turns the production PRAGMA defaults on or off (DSN:
// "_defaults"; default on). Off gives the ncruces driver's behaviour exactly.
func WithDefaults(on bool) Option {
	return func(c *config) { c.defaults = on }
}

// WithRetry sets how many times work that lost a race for SQLite's lock is
// attempted, the first attempt included (DSN: "_retry"; default
// [DefaultRetry]). Only work that applied nothing is retried: preparing a
// statement, BEGIN, and an autocommit statement that failed with
// sqlite3.BUSY or sqlite3.LOCKED; never one statement inside a transaction
// (use [RunTx] to re-run a whole transaction). 1 disables retrying.
func WithRetry(attempts int) Option {
	return func(c *config) { c.retry = max(attempts, 1) }
}

// WithBreaker configures the database's circuit breaker (DSN: "_breaker",
// "_breaker_failures", "_breaker_delay", "_breaker_successes"). Zero fields
// take the defaults.
func WithBreaker(b BreakerConfig) Option {
	return func(c *config) {
		b = b.withDefaults()
		c.breaker = &b
	}
}

// WithoutBreaker turns the circuit breaker off (DSN: "_breaker=off").
func WithoutBreaker() Option {
	return func(c *config) { c.breaker = nil }
}

// WithWriterGate turns the in-process writer gate on or off (DSN:
// "_writer_gate"; default on). See the README's Resilience section.
func WithWriterGate(on bool) Option {
	return func(c *config) { c.writerGate = on }
}

func (b BreakerConfig) withDefaults() BreakerConfig {
	if b.Failures <= 0 {
		b.Failures = DefaultBreakerFailures
	}
	if b.Delay <= 0 {
		b.Delay = DefaultBreakerDelay
	}
	if b.Successes <= 0 {
		b.Successes = DefaultBreakerSuccesses
	}
	return b
}

// withRetryHook calls fn with the failure before each retry (tests).
func withRetryHook(fn func(error)) Option {
	return func(c *config) { c.onRetry = fn }
}
