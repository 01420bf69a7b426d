package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
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
	conn, err := c.Connect(context.Background())
	// Without a connector to close, ":memory:" lives as long as this
	// connection, as it does in SQLite.
	dropMemory(c.(*Connector).db.memory)
	return conn, err
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
	return openDB(c.(*Connector))
}

// openDB opens a database on c: the monitor started, the pool sized and
// warmed.
func openDB(c *Connector) (*sql.DB, error) {
	db := sql.OpenDB(c)
	ctx := context.Background()
	if t := c.db.cfg.pool.ConnTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	d := c.db
	d.know(db)
	if err := d.startConfiguredHistory(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := d.obs.startMonitor(db, d.cfg.obs); err != nil {
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
	named := rest // the database as the DSN names it, for db.namespace
	rest, memory := memoryDSN(rest)
	inner, err := (&ncruces.SQLite{}).OpenConnector(rest)
	if err != nil {
		return nil, fmt.Errorf("qlsqlite: %w", atrest.Redact(err, atRest.Secrets()...))
	}
	if memory != "" {
		createMemory(memory)
	}
	db := newDatabase(cfg, sqliteRules{})
	db.inner, db.atRest, db.memory = inner, atRest, memory
	if cfg.writerGate {
		db.gate = newWriterGate()
	}
	db.obs = newObservability(db, newSQLiteDialect(inner, named))
	if cfg.group {
		db.group = newGroupCommitter(cfg.groupLimit, db.obs.tel)
	}
	db.wal = newWALKeeper(db)
	return &Connector{db: db, driver: &Driver{db: db}}, nil
}

// newDatabase returns the state of a database whose engine's errors follow
// rules: what every engine shares.
func newDatabase(cfg config, rules errorRules) *database {
	db := &database{cfg: cfg, rules: rules, done: make(chan struct{})}
	db.retrier = newRetrier(cfg.retry, cfg.onRetry, rules.retryable)
	db.txRetrier = newRetrier(cfg.retry, cfg.onRetry, rules.retryableTx)
	db.ctx, db.cancel = context.WithCancel(context.Background())
	db.deadlines.db = db
	db.planner = newPlanner(db, DefaultPlanCache)
	if cfg.breaker != nil {
		db.breaker = newBreaker(*cfg.breaker, cfg.now, rules)
	}
	return db
}

// database is the state shared by every connection to one database.
type database struct {
	cfg       config
	rules     errorRules       // what the engine's errors mean
	backend   Backend          // the engine, when it is not SQLite; nil for SQLite
	inner     driver.Connector // the ncruces connector (SQLite only)
	planner   *planner         // captures query plans in the background
	retrier   *retrier         // retries calls; nil when retrying is off
	txRetrier *retrier         // re-runs transactions (RunTx); nil when retrying is off
	breaker   *breaker         // nil when the breaker is off
	gate      *writerGate      // nil when the writer gate is off
	group     *groupCommitter  // nil when group commit is off
	obs       *observability   // statistics, telemetry, monitor
	wal       *walKeeper       // nil when the WAL's size is not kept (wal.go; SQLite only)
	done      chan struct{}    // closed when the connector closes
	atRest    atrest.Params    // the DSN's encrypting VFS and key: never print them
	memory    string           // the memdb database that stands for ":memory:" (memory.go), or ""
	slowLog   slowLimiter      // the slow-query log's rate limit (slowlog.go)
	deadlines deadlineWatch    // ends statements past the default deadline, for a backend's driver (deadlinewatch.go)
	server    ServerDeadline   // the backend, when its server enforces the default deadline (serverdeadline.go); nil otherwise
	stalls    stallWatch       // gives up on calls the server left unanswered past that deadline (serverdeadline.go)

	// Background work (pool keeper, statistics upkeep) runs under ctx,
	// which Close cancels, and Close waits for it.
	ctx        context.Context
	cancel     context.CancelFunc
	background sync.WaitGroup

	keepOnce     sync.Once // starts the pool keeper
	optimizeOnce sync.Once // starts the statistics upkeep
	historyOnce  sync.Once // starts the history configured, at the first connection
	stopOnce     sync.Once

	schemaGen atomic.Uint64 // bumped when a statement may have changed the schema

	known     atomic.Pointer[sql.DB]         // the *sql.DB built on this database, once a function was given it
	optimized atomic.Pointer[maintenanceRun] // the last periodic PRAGMA optimize

	mu      sync.Mutex
	conns   map[*connCore]struct{} // open connections
	closed  cacheTotals            // counters of closed connections
	closers []func()               // run by Close (see onClose)
	advice  *adviceCache           // the monitoring page's, once a Handler serves it
}

// connCore is what every connection of a database keeps for the shared
// layers above the engine: its statistics, what its calls did, its
// statement cache (empty for engines that cache statements themselves).
type connCore struct {
	stmts  *stmtCache
	stats  shard      // this connection's statistics
	report callReport // what the call in progress did, for the observer
}

// goBackground runs f in a goroutine that Close cancels (through ctx) and
// waits for; false, and f not run, when the database is closed.
func (db *database) goBackground(f func(ctx context.Context)) bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	select {
	case <-db.done:
		return false
	default:
	}
	db.background.Add(1)
	go func() {
		defer db.background.Done()
		f(db.ctx)
	}()
	return true
}

// know remembers the *sql.DB built on the database: the pool's figures
// are read from it.
func (db *database) know(sqlDB *sql.DB) {
	if db.known.Load() == nil {
		db.known.CompareAndSwap(nil, sqlDB)
	}
}

// sqlDB returns the *sql.DB built on the database, nil until a function
// that takes one was called.
func (db *database) sqlDB() *sql.DB { return db.known.Load() }

// track registers an open connection.
func (db *database) track(c *connCore) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.conns == nil {
		db.conns = make(map[*connCore]struct{})
	}
	db.conns[c] = struct{}{}
}

// untrack forgets a closed connection, keeping its counters.
func (db *database) untrack(c *connCore) {
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
		c.db.mu.Lock() // goBackground and onClose check done under it
		close(c.db.done)
		c.db.mu.Unlock()
		c.db.cancel()
	})
	c.db.obs.stopHistory() // its last period reads the storage and the plans
	c.db.background.Wait()
	c.db.planner.close()
	c.db.mu.Lock()
	closers := c.db.closers
	c.db.closers = nil
	c.db.mu.Unlock()
	for _, f := range closers {
		f()
	}
	c.db.obs.flushSlow()
	c.db.obs.close()
	dropMemory(c.db.memory)
	if c.db.backend != nil {
		return c.db.backend.Close()
	}
	return nil
}

// Connect implements [database/sql/driver.Connector]. It opens an ncruces
// connection, applies the production defaults, and stacks qlsqlite's layers
// on top of it (outermost first): the conn that [sql.Conn.Raw] hands out,
// the observer (statistics, spans, metrics), the interceptor, the statement
// cache, the ncruces conn.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.db.backend != nil {
		return c.db.connectBackend(ctx)
	}
	dc, err := c.db.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.db.optimizeLoop()
	c.db.historyOnce.Do(func() { c.db.startConfiguredHistory(ctx) })
	nc := dc.(ncruces.Conn)
	inner, err := newSQLiteConn(nc, c.db)
	if err != nil {
		nc.Close()
		return nil, err
	}
	mw, err := sqlmw.Driver(opened{inner}, c.db.obs.interceptor(&inner.connCore, newInterceptor(c.db, inner))).Open("")
	if err != nil {
		inner.Close()
		return nil, err
	}
	return &conn{mwConn: mw.(mwConn), raw: nc.Raw(), inner: inner}, nil
}

// connectOnce opens an ncruces connection with the production defaults, or
// a connection of the database's [Backend].
func (d *database) connectOnce(ctx context.Context) (driver.Conn, error) {
	if d.backend != nil {
		return d.backend.Connect(ctx)
	}
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

// setup runs the production defaults on a new connection: each pragma
// that neither the DSN's own "_pragma" nor one of mattn/go-sqlite3's
// parameters (dsn_mattn.go) set.
func (db *database) setup(ctx context.Context, raw *sqlite3.Conn) error {
	cfg := &db.cfg
	if !cfg.defaults || cfg.hasPragma && cfg.hasBusyTimeout {
		return nil
	}
	if old := raw.SetInterrupt(ctx); old != ctx {
		defer raw.SetInterrupt(old)
	}
	if !cfg.hasBusyTimeout {
		if err := raw.BusyTimeout(DefaultBusyTimeout); err != nil {
			return fmt.Errorf("qlsqlite: setting the busy timeout: %w", err)
		}
	}
	if cfg.hasPragma {
		return nil // the DSN's own pragmas win; only the busy timeout was missing
	}
	if ro, _ := raw.ReadOnly("main"); !ro && !cfg.aliased("journal_mode") {
		if err := raw.Exec(`PRAGMA journal_mode=WAL`); err != nil {
			return setupError("switching to WAL (set _defaults=off to keep the journal mode)", err)
		}
	}
	var pragmas []string
	if !cfg.aliased("synchronous") {
		pragmas = append(pragmas, `PRAGMA synchronous=FULL`)
	}
	if !cfg.aliased("foreign_keys") {
		pragmas = append(pragmas, `PRAGMA foreign_keys=ON`)
	}
	if len(pragmas) == 0 {
		return nil
	}
	if err := raw.Exec(strings.Join(pragmas, "; ")); err != nil {
		return setupError("applying production defaults", err)
	}
	return nil
}

// setupError reports the failure of a production default. The first
// statement on a new connection is the first to read the file, so a file
// that is not a database fails here: that is said first, and what qlsqlite
// was doing after.
func setupError(doing string, err error) error {
	if errors.Is(err, sqlite3.NOTADB) {
		return fmt.Errorf("qlsqlite: file is not a database (or it is encrypted and the DSN gives no key, or another one): check the DSN's file name and key; found while %s: %w", doing, err)
	}
	return fmt.Errorf("qlsqlite: %s: %w", doing, err)
}

// opened is a [driver.Driver] that hands out one connection that is already
// open: it lets sqlmw wrap a connection per Connect call, each with an
// interceptor of its own.
type opened struct{ conn driver.Conn }

func (o opened) Open(string) (driver.Conn, error) { return o.conn, nil }
