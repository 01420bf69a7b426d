package pg

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/quantumleap/qlsqlite"
)

// cancelGrace is how long a statement whose context ended waits for the
// server to confirm the cancel request before pgx closes the connection.
const cancelGrace = 5 * time.Second

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

var _ qlsqlite.Backend = &backend{}

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
}

var _ qlsqlite.BackendConn = &conn{}

// InTx implements [qlsqlite.BackendConn]: the server's transaction status
// from its last message ('I' is idle, 'T' in a transaction, 'E' in a
// failed one).
func (c *conn) InTx() bool { return c.Conn.Conn().PgConn().TxStatus() != 'I' }

// Unwrap returns pgx's connection beneath.
func (c *conn) Unwrap() driver.Conn { return c.Conn }
