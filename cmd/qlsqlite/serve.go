package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/quantumleap/qlsqlite"
)

func serveCommand() command {
	return command{
		name:    "serve",
		summary: "serve the monitoring pages of a database another process runs, from its history and its file",
		run:     runServe,
	}
}

// runServe serves the monitoring pages of a database from the statistics
// history the process running it writes (qlsqlite.WithHistory, or the
// default beside the database once its program serves qlsqlite.Handler),
// and from the database's file: sizes, WAL, indexes, advice over the
// stored workload. It opens both read-only and changes nothing; it stops on
// Ctrl-C.
func runServe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("serve", "serve --db FILE [--history FILE] [--addr 127.0.0.1:8089] [--key-env VAR | --key-file FILE]",
		"Serves the monitoring pages of a database another process runs, read-only: the queries, connections",
		"and alerts from the statistics history that process keeps, sizes, indexes and advice from the file.",
		"Runs until Ctrl-C.")
	path := fs.String("db", "", "the database file (required; opened read-only)")
	hist := fs.String("history", "", "its history file (default: beside the database, NAME-history.db; opened read-only)")
	addr := fs.String("addr", "127.0.0.1:8089", "the address to serve the pages on")
	var key keySource
	key.register(fs, "", "the database's (and its history's)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *path == "" || fs.NArg() > 0 {
		return usageErrorf("serve: --db FILE is required and takes no other arguments (qlsqlite serve -h lists the flags)")
	}
	p, err := key.load()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	abs, err := filepath.Abs(*path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if *hist == "" {
		*hist = qlsqlite.HistoryPath(abs)
	}
	if _, err := os.Stat(*hist); err != nil {
		return fmt.Errorf("serve: no history at %s: the program that runs the database keeps one with qlsqlite.WithHistory or _history=PATH (or beside the database once it serves qlsqlite.Handler); give its place with --history", *hist)
	}
	// Read-only, no defaults (no switch to WAL), no upkeep, no history or
	// scheduled check of its own: serve changes nothing.
	db, err := sql.Open(qlsqlite.DriverName, fileURI(abs, withDSNQuery("mode=ro&_pragma=busy_timeout(5000)&_optimize=off&_history=off&_integrity_every=0", p)))
	if err != nil {
		return err
	}
	defer db.Close()
	h, err := qlsqlite.Handler(db, qlsqlite.WithStoredHistory(*hist))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "serving the pages of %s from its history %s on http://%s/ (Ctrl-C stops)\n", *path, *hist, ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	<-done
	return nil
}

// demoServer serves the demo's pages with --serve.
type demoServer struct {
	srv  *http.Server
	done chan error
	addr string
	out  io.Writer
}

// demoPages starts serving the monitoring pages of the demo's database on
// addr; with no address it serves nothing.
func demoPages(db *sql.DB, addr string, out io.Writer) (*demoServer, error) {
	d := &demoServer{out: out}
	if addr == "" {
		return d, nil
	}
	h, err := qlsqlite.Handler(db)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo: --serve: %w", err)
	}
	d.srv, d.done, d.addr = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, make(chan error, 1), ln.Addr().String()
	go func() { d.done <- d.srv.Serve(ln) }()
	fmt.Fprintf(out, "monitoring pages: http://%s/\n\n", d.addr)
	return d, nil
}

// end keeps the pages up until ctx ends (Ctrl-C); without them it says
// how to see the run's history.
func (d *demoServer) end(ctx context.Context, dbPath, historyPath string) error {
	if d.srv == nil {
		fmt.Fprintf(d.out, "\nthe statistics history of this run is in %s; to see its pages:\n  qlsqlite serve --db %s\n", historyPath, dbPath)
		return nil
	}
	fmt.Fprintf(d.out, "\nmonitoring pages at http://%s/ until Ctrl-C\n", d.addr)
	select {
	case <-ctx.Done():
	case err := <-d.done:
		d.srv = nil
		return fmt.Errorf("demo: --serve: %w", err)
	}
	return nil
}

// stop stops serving.
func (d *demoServer) stop() {
	if d.srv == nil {
		return
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.srv.Shutdown(shutdown)
	<-d.done
	d.srv = nil
}
