// Command otlp runs a little trading service on a qlsqlite database and
// exports its spans and metrics with OTLP, over HTTP or gRPC, to an
// OpenTelemetry Collector (or Jaeger, Grafana Tempo and Mimir, anything that
// speaks OTLP):
//
//	go run . --endpoint localhost:4318                   # OTLP/HTTP
//	go run . --protocol grpc --endpoint localhost:4317   # OTLP/gRPC
//
// It is a module of its own so that qlsqlite's module does not depend on the
// exporters (and, through them, on gRPC and protobuf). Its test starts an
// OpenTelemetry Collector in-process, built from the Collector's own
// modules, and checks what reaches it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/quantumleap/qlsqlite"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.Export.Endpoint, "endpoint", "localhost:4318", "the Collector's OTLP receiver (host:port)")
	flag.StringVar(&cfg.Export.Protocol, "protocol", "http", "http (OTLP/HTTP, usually port 4318) or grpc (OTLP/gRPC, usually port 4317)")
	flag.StringVar(&cfg.DB.Path, "db", "otlp-example.db", "database file (removed at the end)")
	flag.BoolVar(&cfg.DB.QueryText, "query-text", false, "spans carry db.query.text, the statement's fingerprint (qlsqlite.WithQueryText)")
	flag.IntVar(&cfg.Orders, "orders", 200, "orders to place")
	flag.Parse()
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// config is the program's configuration.
type config struct {
	Export exportConfig
	DB     dbConfig
	Orders int
}

var symbols = []string{"AAPL", "MSFT", "NVDA", "TSLA", "AMZN"}

// run places cfg.Orders orders for a few users, sends some of them twice
// (the second is rejected as a duplicate), values the portfolios and
// prints qlsqlite's statistics.
func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	p, err := newProviders(ctx, cfg.Export)
	if err != nil {
		return err
	}
	defer func() {
		// Shutdown exports what is still buffered.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, p.shutdown(ctx))
	}()
	svc, err := openService(ctx, cfg.DB, p)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.DB.Path + "-shm")
	defer os.Remove(cfg.DB.Path + "-wal")
	defer os.Remove(cfg.DB.Path)
	defer svc.close()

	for i, sym := range symbols {
		if err := svc.setQuote(ctx, sym, 100+10*float64(i)); err != nil {
			return err
		}
	}
	duplicates := 0
	for i := range cfg.Orders {
		o := order{
			ClientOrderID: fmt.Sprintf("c-%06d", i),
			UserID:        fmt.Sprintf("u%d", i%7),
			Symbol:        symbols[i%len(symbols)],
			Quantity:      float64(1 + i%10),
			Price:         100 + float64(i%50)/4,
		}
		if i%10 == 9 {
			o.ClientOrderID = fmt.Sprintf("c-%06d", i-1) // sent again
		}
		switch err := svc.placeOrder(ctx, o); {
		case errors.Is(err, errDuplicate):
			duplicates++
		case err != nil:
			return err
		}
		if i%5 == 4 {
			if _, err := svc.portfolioValue(ctx, o.UserID); err != nil {
				return err
			}
		}
	}

	snap, err := qlsqlite.Stats(svc.db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d orders, %d duplicates rejected; sent to %s over OTLP/%s\n", cfg.Orders, duplicates, cfg.Export.Endpoint, cfg.Export.Protocol)
	for _, q := range snap.Queries {
		fmt.Fprintf(out, "%6d calls %3d errors  p95 %-10v %s\n", q.Calls, q.ErrorCount(), q.P95, q.Fingerprint.Text)
	}
	// Export now, while the database is open: closing it unregisters its
	// observed metrics (the pool, the statement cache, the breaker), and
	// the deferred shutdown comes after.
	flushCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return p.flush(flushCtx)
}
