package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// Pool defaults (DSN: "_max_open", "_max_idle", "_idle_timeout",
// "_max_lifetime", "_min_open", "_conn_timeout"), chosen for SQLite:
const (
	// DefaultMaxOpen caps open connections. SQLite runs one writer at a time
	// (qlsqlite queues them on its writer gate) and each connection's reads
	// run on its own CPU-bound SQLite instance, so a few connections per core
	// serve everything; each costs about 0.35 MB plus its page cache.
	DefaultMaxOpen = 32
	// DefaultMaxIdle keeps every open connection when idle: an idle SQLite
	// connection keeps its page cache and its prepared statements warm, and
	// database/sql's own default of 2 idle connections throws both away.
	DefaultMaxIdle = DefaultMaxOpen
	// DefaultIdleTimeout closes a connection idle this long.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultMaxLifetime recycles connections this old: SQLite's memory in
	// a connection grows with its largest query and is never given back.
	DefaultMaxLifetime = time.Hour
	// DefaultMinOpen is how many connections Open opens up front and keeps
	// open, so that the first statements do not pay for opening one.
	DefaultMinOpen = 2
	// DefaultConnTimeout bounds opening a connection.
	DefaultConnTimeout = 30 * time.Second
)

// PoolConfig sizes a database's connection pool. Zero fields take the
// defaults; negative ones mean "no limit" (MaxOpen, IdleTimeout,
// MaxLifetime) or none (MinOpen).
type PoolConfig struct {
	MaxOpen     int           // open connections at most
	MaxIdle     int           // idle connections kept at most
	IdleTimeout time.Duration // an idle connection is closed after this
	MaxLifetime time.Duration // a connection is closed after this
	MinOpen     int           // connections opened up front and kept open
	ConnTimeout time.Duration // opening a connection takes this at most
}

func (p PoolConfig) withDefaults() PoolConfig {
	def := orDefault[int]
	defDur := orDefault[time.Duration]
	p.MaxOpen = def(p.MaxOpen, DefaultMaxOpen)
	p.MaxIdle = def(p.MaxIdle, max(p.MaxOpen, DefaultMaxIdle))
	p.MinOpen = def(p.MinOpen, DefaultMinOpen)
	if p.MaxOpen > 0 {
		p.MaxIdle = min(p.MaxIdle, p.MaxOpen)
		p.MinOpen = min(p.MinOpen, p.MaxOpen)
	}
	p.MinOpen = min(p.MinOpen, p.MaxIdle) // more would be closed as soon as they are idle
	p.IdleTimeout = defDur(p.IdleTimeout, DefaultIdleTimeout)
	p.MaxLifetime = defDur(p.MaxLifetime, DefaultMaxLifetime)
	p.ConnTimeout = defDur(p.ConnTimeout, DefaultConnTimeout)
	return p
}

// orDefault returns d for 0 and 0 for a negative v (none, or no limit).
func orDefault[T int | time.Duration](v, d T) T {
	switch {
	case v == 0:
		return d
	case v < 0:
		return 0
	}
	return v
}

// WithPool sizes the connection pool. See [PoolConfig].
func WithPool(p PoolConfig) Option {
	return func(c *config) { c.pool = p }
}

// ConfigurePool applies the pool settings of db's DSN and options to db
// (database/sql's SetMaxOpenConns, SetMaxIdleConns, SetConnMaxIdleTime and
// SetConnMaxLifetime), and opens the minimum of connections, bounded by ctx.
// [Open] calls it; a program that opened db with sql.Open calls it once
// after, since database/sql keeps its pool to itself and a driver cannot
// size it. Without it, db has database/sql's defaults.
func ConfigurePool(ctx context.Context, db *sql.DB) error {
	d, err := stateOf(db)
	if err != nil {
		return err
	}
	p := d.cfg.pool
	db.SetMaxOpenConns(p.MaxOpen)
	db.SetMaxIdleConns(p.MaxIdle)
	db.SetConnMaxIdleTime(p.IdleTimeout)
	db.SetConnMaxLifetime(p.MaxLifetime)
	if p.MinOpen <= 0 {
		return nil
	}
	if err := warm(ctx, db, p.MinOpen); err != nil {
		return err
	}
	d.keepWarm(db, p)
	return nil
}

// warm makes sure at least n connections are open, opening them all at once.
func warm(ctx context.Context, db *sql.DB, n int) error {
	need := n - db.Stats().OpenConnections
	if need <= 0 {
		return nil
	}
	conns := make([]*sql.Conn, 0, need)
	defer func() {
		for _, c := range conns {
			c.Close() // back to the idle pool
		}
	}()
	for range need {
		c, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("qlsqlite: opening the pool's %d warm connections: %w", n, err)
		}
		if err := c.PingContext(ctx); err != nil {
			c.Close()
			return fmt.Errorf("qlsqlite: opening the pool's %d warm connections: %w", n, err)
		}
		conns = append(conns, c)
	}
	return nil
}

// keepWarm tops the pool up to its minimum as connections age out, until
// the database is closed.
func (d *database) keepWarm(db *sql.DB, p PoolConfig) {
	every := p.IdleTimeout / 2
	if p.MaxLifetime > 0 && (every <= 0 || p.MaxLifetime/2 < every) {
		every = p.MaxLifetime / 2
	}
	if every <= 0 {
		return // connections never age out
	}
	d.keepOnce.Do(func() {
		d.every(every, func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, p.ConnTimeout)
			defer cancel()
			warm(ctx, db, p.MinOpen)
		})
	})
}

// every runs f every interval in a goroutine of its own, until the database
// closes. f's context ends when the database closes, and Close waits for f
// to return.
func (d *database) every(interval time.Duration, f func(context.Context)) {
	d.background.Add(1)
	go func() {
		defer d.background.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-d.done:
				return
			case <-tick.C:
				f(d.ctx)
			}
		}
	}()
}

// health is a connection's state as the pool sees it.
type health struct {
	broken error // a failure after which the connection must not be reused
	dirty  bool  // session state may have changed: check before reuse

	// What the session looked like when opened.
	queryOnly, foreignKeys bool
}

// IsValid implements [driver.Validator]; database/sql calls it when a
// connection goes back to the pool, and closes the connection if it returns
// false. A connection is not reused after a fatal error, inside a
// transaction, or with its session changed by the last user: query_only left
// on, foreign keys left off, a temp schema or an attached database left
// behind. It reads no clock: it runs after every statement.
func (c *sqliteConn) IsValid() bool {
	switch {
	case c.health.broken != nil:
		return false
	case c.inTx():
		return false
	case c.health.dirty:
		if c.sessionChanged() != nil {
			return false
		}
		c.health.dirty = false
	}
	return true
}

// ResetSession implements [driver.SessionResetter]; database/sql calls it
// before it hands a used connection out again. A broken connection is
// refused (database/sql then closes it and opens another).
func (c *sqliteConn) ResetSession(ctx context.Context) error {
	if c.health.broken != nil {
		return driver.ErrBadConn
	}
	return nil
}

// observe records a call's error: after a fatal one, the connection is not
// reused. Fatal are the storage's failures, and a statement stopped by its
// context inside a transaction (inTx: whether one was open when the call
// began; SQLite may have rolled it back since).
func (c *sqliteConn) observe(err error, inTx bool) {
	if err == nil || c.health.broken != nil {
		return
	}
	if c.db.rules.infrastructure(err) || inTx && classify(c.db.rules, err) == Performance {
		c.health.broken = err
	}
}

// readSession reads the session settings the pool checks.
func (c *sqliteConn) readSession() (queryOnly, foreignKeys bool, err error) {
	raw := c.Conn.Raw()
	stmt, _, err := raw.Prepare(`SELECT query_only, foreign_keys FROM pragma_query_only, pragma_foreign_keys`)
	if err != nil {
		return false, false, err
	}
	defer stmt.Close()
	if !stmt.Step() {
		return false, false, errors.Join(stmt.Err(), errors.New("no session settings"))
	}
	return stmt.ColumnBool(0), stmt.ColumnBool(1), stmt.Close()
}

// sessionChanged returns what the last user left changed in the session.
func (c *sqliteConn) sessionChanged() error {
	queryOnly, foreignKeys, err := c.readSession()
	switch {
	case err != nil:
		return err
	case queryOnly != c.health.queryOnly:
		return errors.New("query_only was left changed")
	case foreignKeys != c.health.foreignKeys:
		return errors.New("foreign_keys was left changed")
	}
	raw := c.Conn.Raw()
	stmt, _, err := raw.Prepare(`SELECT (SELECT count(*) FROM temp.sqlite_schema), (SELECT count(*) FROM pragma_database_list WHERE name NOT IN ('main', 'temp'))`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	if !stmt.Step() {
		return errors.Join(stmt.Err(), errors.New("no schema count"))
	}
	switch {
	case stmt.ColumnInt(0) > 0:
		return errors.New("a temp schema was left behind")
	case stmt.ColumnInt(1) > 0:
		return errors.New("an attached database was left behind")
	}
	return nil
}

// connect opens an ncruces connection, bounded by "_conn_timeout" and
// retried while the database is locked (applying the production defaults
// switches the journal mode, which needs a lock). While the circuit breaker
// is open it fails fast, and a failure to open counts toward opening it.
func (d *database) connect(ctx context.Context) (driver.Conn, error) {
	if err := d.breaker.refuse(); err != nil {
		return nil, err // the storage is failing: do not even open
	}
	if t := d.cfg.pool.ConnTimeout; t > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		}
	}
	dc, err := d.connectOnce(ctx)
	if err != nil {
		dc, err = again(ctx, d.retrier, err, nil, func() (driver.Conn, error) { return d.connectOnce(ctx) })
	}
	if err != nil {
		err = surfaceCtxErr(ctx, err)
		d.breaker.done(0, err) // opening is no trial of writing: only failures count
		return nil, err
	}
	return dc, nil
}
