package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/quantumleap/qlsqlite"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// dbConfig says which database the service uses and how qlsqlite
// observes it.
type dbConfig struct {
	Path      string        // database file
	QueryText bool          // spans carry db.query.text (qlsqlite.WithQueryText)
	Monitor   time.Duration // how often qlsqlite's monitor samples pool and storage (10s)
}

// service is a small trading service: its handlers are what an HTTP server
// would call, each under a server span of its own, and qlsqlite's spans
// are their children.
type service struct {
	db     *sql.DB
	tracer trace.Tracer
}

// openService opens the database with qlsqlite, sending spans and metrics
// to p, and creates the schema.
func openService(ctx context.Context, cfg dbConfig, p *providers) (*service, error) {
	opts := []qlsqlite.Option{
		// Without these two, qlsqlite uses the global providers
		// (otel.SetTracerProvider, otel.SetMeterProvider), also when they
		// are installed after the database was opened.
		qlsqlite.WithTracerProvider(p.tp),
		qlsqlite.WithMeterProvider(p.mp),
		qlsqlite.WithQueryText(cfg.QueryText),
	}
	if cfg.Monitor > 0 {
		opts = append(opts, qlsqlite.WithMonitorInterval(cfg.Monitor))
	}
	// qlsqlite.Open, unlike sql.Open, also starts the monitor, which
	// reports the connection pool (db.client.connection.*) and the WAL's
	// size (qlsqlite.wal.size) and evaluates the alerts.
	db, err := qlsqlite.Open("file:"+cfg.Path, opts...)
	if err != nil {
		return nil, err
	}
	s := &service{db: db, tracer: p.tp.Tracer("qlsqlite-otlp-example")}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *service) close() error { return s.db.Close() }

var schema = []string{
	`CREATE TABLE IF NOT EXISTS quotes (symbol TEXT PRIMARY KEY, price REAL NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS orders (
		id INTEGER PRIMARY KEY,
		client_order_id TEXT NOT NULL UNIQUE,
		user_id TEXT NOT NULL,
		symbol TEXT NOT NULL,
		quantity REAL NOT NULL,
		price REAL NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS positions (
		user_id TEXT NOT NULL,
		symbol TEXT NOT NULL,
		quantity REAL NOT NULL,
		PRIMARY KEY (user_id, symbol))`,
}

// The service's statements.
const (
	insertOrder    = `INSERT INTO orders (client_order_id, user_id, symbol, quantity, price) VALUES (?, ?, ?, ?, ?)`
	upsertPosition = `INSERT INTO positions (user_id, symbol, quantity) VALUES (?, ?, ?)
		ON CONFLICT (user_id, symbol) DO UPDATE SET quantity = quantity + excluded.quantity`
	upsertQuote = `INSERT INTO quotes (symbol, price) VALUES (?, ?)
		ON CONFLICT (symbol) DO UPDATE SET price = excluded.price`
	selectPositions = `SELECT symbol, quantity FROM positions WHERE user_id = ? ORDER BY symbol`
	selectQuote     = `SELECT price FROM quotes WHERE symbol = ?`
)

func (s *service) migrate(ctx context.Context) error {
	ctx, span := s.tracer.Start(ctx, "migrate")
	defer span.End()
	for _, stmt := range schema {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fail(span, err)
		}
	}
	return nil
}

// An order: ClientOrderID is the client's own id, unique, so that a client
// may safely send an order again when it does not know whether it arrived.
type order struct {
	ClientOrderID string
	UserID        string
	Symbol        string
	Quantity      float64
	Price         float64
}

// errDuplicate says an order was placed before, under the same client id.
var errDuplicate = errors.New("the order was placed before")

// placeOrder records an order and updates the user's position, in one
// transaction: BEGIN, two statements, COMMIT (or ROLLBACK), each a span
// under "POST /orders".
func (s *service) placeOrder(ctx context.Context, o order) error {
	ctx, span := s.tracer.Start(ctx, "POST /orders", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(span, err)
	}
	defer tx.Rollback() // after Commit, a no-op
	_, err = tx.ExecContext(ctx, insertOrder, o.ClientOrderID, o.UserID, o.Symbol, o.Quantity, o.Price)
	if errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) {
		// Not the service's failure: the span says so without the id.
		span.SetAttributes(attribute.Bool("order.duplicate", true))
		return fmt.Errorf("order %s: %w", o.ClientOrderID, errDuplicate)
	}
	if err != nil {
		return fail(span, err)
	}
	if _, err := tx.ExecContext(ctx, upsertPosition, o.UserID, o.Symbol, o.Quantity); err != nil {
		return fail(span, err)
	}
	if err := tx.Commit(); err != nil {
		return fail(span, err)
	}
	return nil
}

// setQuote records a symbol's price: one statement, no transaction.
func (s *service) setQuote(ctx context.Context, symbol string, price float64) error {
	ctx, span := s.tracer.Start(ctx, "PUT /quotes", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	_, err := s.db.ExecContext(ctx, upsertQuote, symbol, price)
	return fail(span, err)
}

// portfolioValue values a user's positions at the quoted prices. It looks
// each quote up while it iterates over the positions (a JOIN would do the
// same in one statement): the positions query's span lasts until its rows
// are closed, so the lookups' spans fall inside it.
func (s *service) portfolioValue(ctx context.Context, userID string) (float64, error) {
	ctx, span := s.tracer.Start(ctx, "GET /portfolio", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	rows, err := s.db.QueryContext(ctx, selectPositions, userID)
	if err != nil {
		return 0, fail(span, err)
	}
	defer rows.Close()
	var value float64
	for rows.Next() {
		var symbol string
		var quantity, price float64
		if err := rows.Scan(&symbol, &quantity); err != nil {
			return 0, fail(span, err)
		}
		if err := s.db.QueryRowContext(ctx, selectQuote, symbol).Scan(&price); err != nil {
			return 0, fail(span, err)
		}
		value += quantity * price
	}
	return value, fail(span, rows.Err())
}

// fail marks span as failed by err, if err is not nil, and returns err.
// The span gets the error's type, never its message, which may hold the
// data the handler was given.
func fail(span trace.Span, err error) error {
	if err != nil {
		span.SetStatus(codes.Error, fmt.Sprintf("%T", err))
	}
	return err
}
