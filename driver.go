package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
	"github.com/ngrok/sqlmw"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// DriverName is the name qlsqlite registers with [database/sql].
const DriverName = "qlsqlite"

func init() {
	sql.Register(DriverName, &Driver{})
}

// Driver implements [database/sql/driver.Driver] and
// [database/sql/driver.DriverContext]. The registered Driver has no state;
// each database gets a Driver of its own from [Connector.Driver], which is how
// functions such as [Stats] find a database's state from a [*sql.DB].
type Driver struct {
	db *database // nil for the registered driver
}

var _ driver.DriverContext = &Driver{}

// Open implements [database/sql/driver.Driver]. Prefer [sql.Open], which
// calls OpenConnector once per [*sql.DB].
func (d *Driver) Open(name string) (driver.Conn, error) {
	c, err := d.OpenConnector(name)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// OpenConnector implements [database/sql/driver.DriverContext].
func (d *Driver) OpenConnector(name string) (driver.Connector, error) {
	return NewConnector(name)
}

// Open opens a database through the qlsqlite driver: [sql.OpenDB] over
// [NewConnector], with the pool sized by [ConfigurePool]. It opens the
// pool's minimum of warm connections ("_min_open", default
// [DefaultMinOpen]) before it returns, and returns the error if it cannot;
// with "_min_open=0" it connects on first use, like [sql.Open]. It also
// starts the database's [Monitor], which evaluates the alerts and reports
// the connection pool in metrics; closing the database stops it.
func Open(dsn string, opts ...Option) (*sql.DB, error) {
	c, err := NewConnector(dsn, opts...)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	ctx := context.Background()
	if t := c.(*Connector).db.cfg.pool.ConnTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	if _, err := c.(*Connector).db.obs.startMonitor(db, c.(*Connector).db.cfg.obs); err != nil {
		db.Close()
		return nil, err
	}
	if err := ConfigurePool(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// NewConnector parses dsn (see the package documentation for its
// parameters), applies opts, and returns a [driver.Connector] for
// [sql.OpenDB]. Every [*sql.DB] built on it shares one set of per-database
// state.
func NewConnector(dsn string, opts ...Option) (driver.Connector, error) {
	cfg := defaultConfig()
	rest, err := parseDSN(dsn, &cfg)
	if err != nil {
		return nil, err
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	cfg.pool = cfg.pool.withDefaults()
	atRest, err := encryptionParams(rest)
	if err != nil {
		return nil, err
	}
	inner, err := (&ncruces.SQLite{}).OpenConnector(rest)
	if err != nil {
		return nil, fmt.Errorf("qlsqlite: %w", atrest.Redact(err, atRest.Secrets()...))
	}
	db := &database{cfg: cfg, inner: inner, retrier: newRetrier(cfg.retry, cfg.onRetry), done: make(chan struct{}), atRest: atRest}
	db.ctx, db.cancel = context.WithCancel(context.Background())
	db.planner = newPlanner(db, DefaultPlanCache)
	if cfg.breaker != nil {
		db.breaker = newBreaker(*cfg.breaker, cfg.now)
	}
	if cfg.writerGate {
		db.gate = newWriterGate()
	}
	db.obs = newObservability(db, rest)
	db.wal = newWALKeeper(db)
	return &Connector{db: db, driver: &Driver{db: db}}, nil
}

// database is the state shared by every connection to one database.
type database struct {
	cfg     config
	inner   driver.Connector // the ncruces connector
	planner *planner         // captures query plans in the background
	retrier *retrier         // nil when retrying is off
	breaker *breaker         // nil when the breaker is off
	gate    *writerGate      // nil when the writer gate is off
	obs     *observability   // statistics, telemetry, monitor
	wal     *walKeeper       // nil when the WAL's size is not kept (wal.go)
	done    chan struct{}    // closed when the connector closes
	atRest  atrest.Params    // the DSN's encrypting VFS and key: never print them

	// Background work (pool keeper, statistics upkeep) runs under ctx,
	// which Close cancels, and Close waits for it.
	ctx        context.Context
	cancel     context.CancelFunc
	background sync.WaitGroup

	keepOnce     sync.Once // starts the pool keeper
	optimizeOnce sync.Once // starts the statistics upkeep
	stopOnce     sync.Once

	schemaGen atomic.Uint64 // bumped when a statement may have changed the schema

	mu     sync.Mutex
	conns  map[*sqliteConn]struct{} // open connections
	closed cacheTotals              // counters of closed connections
}

// track registers an open connection.
func (db *database) track(c *sqliteConn) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.conns == nil {
		db.conns = make(map[*sqliteConn]struct{})
	}
	db.conns[c] = struct{}{}
}

// untrack forgets a closed connection, keeping its counters.
func (db *database) untrack(c *sqliteConn) {
	db.mu.Lock()
	defer db.mu.Unlock()
	delete(db.conns, c)
	db.closed.add(&c.stmts.cacheCounters)
	db.obs.retire(&c.stats)
}

// Connector implements [database/sql/driver.Connector]. Get one from
// [NewConnector].
type Connector struct {
	db     *database
	driver *Driver
}

// Driver implements [database/sql/driver.Connector]. The returned Driver
// carries this database's state.
func (c *Connector) Driver() driver.Driver { return c.driver }

// Close implements [io.Closer]; [sql.DB.Close] calls it. It stops the
// database's background work and waits for it: when it returns, no
// goroutine of qlsqlite's is left for this database.
func (c *Connector) Close() error {
	c.db.stopOnce.Do(func() {
		close(c.db.done)
		c.db.cancel()
	})
	c.db.background.Wait()
	c.db.planner.close()
	c.db.obs.close()
	return nil
}

// Connect implements [database/sql/driver.Connector]. It opens an ncruces
// connection, applies the production defaults, and stacks qlsqlite's layers
// on top of it (outermost first): the conn that [sql.Conn.Raw] hands out,
// the observer (statistics, spans, metrics), the interceptor, the statement
// cache, the ncruces conn.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.db.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.db.optimizeLoop()
	nc := dc.(ncruces.Conn)
	inner, err := newSQLiteConn(nc, c.db)
	if err != nil {
		nc.Close()
		return nil, err
	}
	mw, err := sqlmw.Driver(opened{inner}, c.db.obs.interceptor(inner, newInterceptor(c.db, inner))).Open("")
	if err != nil {
		inner.Close()
		return nil, err
	}
	return &conn{mwConn: mw.(mwConn), raw: nc.Raw(), inner: inner}, nil
}

// connectOnce opens an ncruces connection with the production defaults.
func (d *database) connectOnce(ctx context.Context) (driver.Conn, error) {
	dc, err := d.inner.Connect(ctx)
	if err != nil {
		return nil, d.hideKey(err)
	}
	nc, ok := dc.(ncruces.Conn)
	if !ok {
		dc.Close()
		return nil, errors.New("qlsqlite: the ncruces driver returned a connection without Raw()")
	}
	if err := d.setup(ctx, nc.Raw()); err != nil {
		nc.Close()
		return nil, err
	}
	d.optimizeOnOpen(nc)
	d.wal.attach(nc.Raw())
	return nc, nil
}

// setup runs the production defaults on a new connection.
func (db *database) setup(ctx context.Context, raw *sqlite3.Conn) error {
	cfg := &db.cfg
	if !cfg.defaults || cfg.hasBusyTimeout {
		return nil
	}
	if old := raw.SetInterrupt(ctx); old != ctx {
		defer raw.SetInterrupt(old)
	}
	if err := raw.BusyTimeout(DefaultBusyTimeout); err != nil {
		return fmt.Errorf("qlsqlite: setting the busy timeout: %w", err)
	}
	if cfg.hasPragma {
		return nil // the DSN's own pragmas win; only the busy timeout was missing
	}
	if ro, _ := raw.ReadOnly("main"); !ro {
		if err := raw.Exec(`PRAGMA journal_mode=WAL`); err != nil {
			return fmt.Errorf("qlsqlite: switching to WAL (set _defaults=off to keep the journal mode): %w", err)
		}
	}
	if err := raw.Exec(`PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON`); err != nil {
		return fmt.Errorf("qlsqlite: applying production defaults: %w", err)
	}
	return nil
}

// opened is a [driver.Driver] that hands out one connection that is already
// open: it lets sqlmw wrap a connection per Connect call, each with an
// interceptor of its own.
type opened struct{ conn driver.Conn }

func (o opened) Open(string) (driver.Conn, error) { return o.conn, nil }
