package pg

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/quantumleap/qlsqlite"
)

// cancelGrace is how long a statement whose context ended waits for the
// server to confirm the cancel request before pgx closes the connection,
// and how long past the default deadline a statement under it waits for
// the server's answer (the server stopped it at its statement_timeout)
// before qlsqlite gives up on the connection. A variable for the tests.
var cancelGrace = 5 * time.Second

// backend is PostgreSQL as a [qlsqlite.Backend]: connections from pgx's
// database/sql adapter, and a connection of its own for health and index
// advice, opened on first use, so that a saturated pool never delays them.
type backend struct {
	cfg       *pgx.ConnConfig
	connector driver.Connector // pgx's adapter

	// Health thresholds ("_long_transaction", "_replication_lag").
	longTx time.Duration
	maxLag time.Duration

	mu     sync.Mutex
	own    *pgx.Conn // nil until first use, and after it broke
	closed bool
}

var (
	_ qlsqlite.Backend        = &backend{}
	_ qlsqlite.ServerDeadline = &backend{}
)

func newBackend(dsn string) (*backend, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("qlpg: %w", err)
	}
	// A statement whose context ends is stopped on the server with a
	// cancel request, as psql's Ctrl-C does, and the connection stays
	// usable; pgx's default only stops waiting for the answer, and the
	// server goes on running the statement.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelGrace}
	}
	return &backend{cfg: cfg, connector: stdlib.GetConnector(*cfg), longTx: DefaultLongTransaction, maxLag: DefaultReplicationLag}, nil
}

// Health thresholds (DSN: "_long_transaction", "_replication_lag").
const (
	// DefaultLongTransaction: a transaction open longer holds locks and old
	// row versions long enough to report (qlsqlite.Health degrades).
	DefaultLongTransaction = time.Minute
	// DefaultReplicationLag: a standby further behind is reported.
	DefaultReplicationLag = 10 * time.Second
)

// takeParams applies qlpg's own DSN parameters and removes them from
// params; the rest are qlsqlite's.
func (b *backend) takeParams(params url.Values) error {
	for key, dst := range map[string]*time.Duration{"_long_transaction": &b.longTx, "_replication_lag": &b.maxLag} {
		v := params.Get(key)
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("qlpg: DSN parameter %s=%q: want a positive duration, like 30s or 1m", key, v)
		}
		*dst = d
		params.Del(key)
	}
	return nil
}

// System implements [qlsqlite.Backend].
func (*backend) System() string { return "postgresql" }

// Namespace implements [qlsqlite.Backend]: the database's name.
func (b *backend) Namespace() string { return b.cfg.Database }

// Connect implements [qlsqlite.Backend].
func (b *backend) Connect(ctx context.Context) (qlsqlite.BackendConn, error) {
	dc, err := b.connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: dc.(*stdlib.Conn)}, nil
}

// EnforceTimeout implements [qlsqlite.ServerDeadline]: every connection of
// the pool opens with statement_timeout set to the default deadline (a
// startup parameter, like application_name: no round trip, and RESET ALL
// and DISCARD ALL come back to it). The backend's own connection (health,
// index advice) keeps the server's setting. A DSN that sets
// statement_timeout itself (a parameter, or -c in options) keeps it, and
// the deadline stays the client's.
func (b *backend) EnforceTimeout(timeout time.Duration) (time.Duration, bool) {
	if _, ok := b.cfg.RuntimeParams["statement_timeout"]; ok || strings.Contains(b.cfg.RuntimeParams["options"], "statement_timeout") {
		return 0, false
	}
	ms := int64((timeout + time.Millisecond - 1) / time.Millisecond) // rounded up
	if ms > math.MaxInt32 {
		return 0, false // past the server's limit for statement_timeout (24.8 days): the server would refuse every connection
	}
	cfg := b.cfg.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(ms, 10)
	b.connector = stdlib.GetConnector(*cfg)
	return cancelGrace, true
}

// TimedOut implements [qlsqlite.ServerDeadline]: SQLSTATE 57014
// (query_canceled), which the server also answers to a cancel request;
// qlsqlite reports it as the default deadline only after the call ran
// that long.
func (*backend) TimedOut(err error) bool { return sqlState(err) == "57014" }

// Close implements [qlsqlite.Backend].
func (b *backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.own != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := b.own.Close(ctx)
		b.own = nil
		return err
	}
	return nil
}

// withOwn runs fn on the backend's own connection, opening it if needed.
// A connection that fn leaves broken is dropped; the next call opens
// another.
func (b *backend) withOwn(ctx context.Context, fn func(*pgx.Conn) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("qlpg: the database is closed")
	}
	if b.own == nil || b.own.IsClosed() {
		c, err := pgx.ConnectConfig(ctx, b.cfg.Copy())
		if err != nil {
			return fmt.Errorf("qlpg: connecting: %w", err)
		}
		b.own = c
	}
	err := fn(b.own)
	if err != nil && (b.own.IsClosed() || b.Infrastructure(err)) {
		b.own.Close(context.Background())
		b.own = nil
	}
	return err
}

// conn is one connection of pgx's adapter, with what the shared layers ask
// of it beyond database/sql's interfaces.
type conn struct {
	*stdlib.Conn
	// lifted: the session's statement_timeout was set to 0 for a
	// statement with a longer deadline of its own, outside a transaction,
	// and not yet reset. liftedTx: SET LOCAL did so in the transaction in
	// progress (if one still is).
	lifted, liftedTx bool
}

var (
	_ qlsqlite.BackendConn        = &conn{}
	_ qlsqlite.ServerDeadlineConn = &conn{}
)

// SetServerTimeout implements [qlsqlite.ServerDeadlineConn]. A statement
// with a deadline of its own, later than the default, runs with
// statement_timeout 0 and its context's deadline governs (pgx sends the
// cancel request): SET outside a transaction, left in place until a
// statement under the default comes (RESET statement_timeout: back to the
// startup value, the default deadline); SET LOCAL in a transaction, for
// each such statement (a rollback to a savepoint may have undone the
// last). In a transaction where the limit was lifted, each statement
// under the default sets it back with SET LOCAL ... TO DEFAULT (for the
// same reason, each time). Nothing is sent in a failed transaction (only
// a rollback runs there), nor for a statement under the default when
// nothing was lifted: every statement of a program that passes no
// deadlines.
func (c *conn) SetServerTimeout(ctx context.Context, lift bool) error {
	if !lift && !c.lifted && !c.liftedTx {
		return nil
	}
	pc := c.Conn.Conn().PgConn()
	status := pc.TxStatus()
	inTx := status != 'I'
	if !inTx {
		c.liftedTx = false // the transaction ended, and its SET LOCAL with it
	}
	var sql string
	switch {
	case status == 'E':
		return nil
	case lift && inTx:
		sql, c.liftedTx = "SET LOCAL statement_timeout = 0", true
	case lift:
		sql, c.lifted = "SET statement_timeout = 0", true
	case inTx:
		sql = "SET LOCAL statement_timeout TO DEFAULT"
	case c.lifted:
		sql = "RESET statement_timeout"
	default:
		return nil
	}
	if _, err := pc.Exec(ctx, sql).ReadAll(); err != nil {
		return err
	}
	if sql == "RESET statement_timeout" {
		c.lifted = false
	}
	return nil
}

// BeginTx implements [driver.ConnBeginTx]. A transaction starts with no
// SET LOCAL of its own (the last transaction's ended with it), and on a
// session whose limit was lifted the default is set back first, once:
// otherwise each statement under the default of every later transaction
// would set it back with a round trip of its own.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.liftedTx = false
	if c.lifted {
		if pc := c.Conn.Conn().PgConn(); pc.TxStatus() == 'I' {
			if _, err := pc.Exec(ctx, "RESET statement_timeout").ReadAll(); err != nil {
				return nil, err
			}
			c.lifted = false
		}
	}
	return c.Conn.BeginTx(ctx, opts)
}

// Interrupt implements [qlsqlite.ServerDeadlineConn]: the socket's
// deadline passes now, so that a read or write waiting on it fails, and
// pgx closes the connection. A cancel request goes to the server too, in
// the background and for cancelGrace at most, for a statement it still
// runs (its session's own statement_timeout was longer, or 0): closing the
// socket alone stops it only when the server next writes to it.
func (c *conn) Interrupt() {
	pc, grace := c.Conn.Conn().PgConn(), cancelGrace
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		pc.CancelRequest(ctx)
	}()
	pc.Conn().SetDeadline(time.Now())
}

// InTx implements [qlsqlite.BackendConn]: the server's transaction status
// from its last message ('I' is idle, 'T' in a transaction, 'E' in a
// failed one).
func (c *conn) InTx() bool { return c.Conn.Conn().PgConn().TxStatus() != 'I' }

// Unwrap returns pgx's connection beneath.
func (c *conn) Unwrap() driver.Conn { return c.Conn }
