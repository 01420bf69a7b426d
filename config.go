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
	timeout   time.Duration // default statement deadline; 0 disables
	stmtCache int           // statements cached per connection; 0 disables
	defaults  bool          // apply the production PRAGMA defaults
	obs       observeConfig // statistics, spans, metrics, slow log, alerts

	// Read from the DSN, not settable: what the user's own _pragma set.
	hasPragma      bool
	hasBusyTimeout bool
}

func defaultConfig() config {
	return config{
		timeout:   DefaultTimeout,
		stmtCache: DefaultStmtCache,
		defaults:  true,
		obs:       defaultObserveConfig(),
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
