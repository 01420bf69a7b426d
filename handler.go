package qlsqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/quantumleap/qlsqlite/internal/page"
)

// A HandlerOption configures the handler [Handler] returns.
type HandlerOption func(*handlerConfig)

// handlerConfig is what HandlerOptions set.
type handlerConfig struct {
	// healthTimeout bounds the Health call behind /healthz.
	healthTimeout time.Duration
	// actions enables the page's forms that change the database.
	actions bool
	// stored is the history another process writes, for "qlsqlite
	// serve": the pages show it instead of this process's statistics.
	stored string
}

// WithActions enables the monitoring page's actions (default off):
// checkpoint the WAL, run PRAGMA optimize, create an advised index. They
// are POST forms on the Maintenance page, refused from other sites
// ([http.CrossOriginProtection]). Off, the pages change nothing.
func WithActions(on bool) HandlerOption {
	return func(c *handlerConfig) { c.actions = on }
}

// WithStoredHistory makes the pages show the statistics history another
// process keeps at path, for the database db opens (what "qlsqlite serve"
// does): the queries, connections and alerts come from the history,
// sizes, indexes and advice from the database's file. The history is read,
// never written, and closed with db. Actions are off.
func WithStoredHistory(path string) HandlerOption {
	return func(c *handlerConfig) { c.stored = path }
}

// Handler returns the HTTP handler of db's monitoring, for a database
// opened with the qlsqlite driver; any other is an error. Mount it where
// the program serves its operational endpoints, under a prefix with
// [http.StripPrefix] if need be:
//
//	h, err := qlsqlite.Handler(db)
//	mux.Handle("/db/", http.StripPrefix("/db", h))
//
// It serves the monitoring pages, pghero's set in SQLite's terms: "/" the
// overview (checks marked ok, warning or failing: the alert thresholds,
// the breaker, the WAL, planner statistics, unused, redundant and
// suggested indexes, free pages, the last integrity check), "/queries"
// (per fingerprint, sortable, over the last hour, day, 14 days or since
// the start; a page per fingerprint with its calls and p95 over time, its
// plan, its advice and rewrites), "/space", "/connections", "/maintenance"
// and "/alerts". The pages read snapshots of the statistics and the
// history; they run no SQL on a statement's path (index advice is
// computed in the background, at most every 10 minutes while the pages are
// viewed, on connections of the pool), and change nothing unless
// [WithActions] is given. They show fingerprints, never an argument value.
//
// Unless the database has none ([WithoutHistory], "_history=off", a
// database in memory), Handler starts the statistics history, beside the
// database unless [WithHistory] or "_history" says where; an error
// starting it is Handler's error.
//
// "/metrics" serves the Prometheus text format (see newMetricsHandler's
// list in metrics.go and the README): db_client_operation_duration and the
// pool by OpenTelemetry's conventions, through OpenTelemetry's Prometheus
// exporter on a registry of its own, client_golang's go_sql_* pool
// metrics, and qlsqlite's gauges (breaker state, WAL bytes, database
// size).
//
// And the probes:
//
//   - /healthz, for liveness: the result of [Health] (cheap: no table is
//     read), as JSON. It answers 200 while the database is open, whatever
//     the status, so that a liveness probe restarts nothing a restart would
//     not fix (a damaged file, an open breaker); the status and problems are
//     in the body. 503 once the database is closed.
//   - /readyz, for readiness: whether the database can take a write now:
//     open, its circuit breaker closed (or none), and its pool not
//     exhausted (fewer connections in use than its limit). 200 when it can,
//     503 with the reasons when it cannot. It reads no file.
//
// Both answer GET and HEAD, and are not cached.
func Handler(db *sql.DB, opts ...HandlerOption) (http.Handler, error) {
	d, err := stateOf(db)
	if err != nil {
		return nil, err
	}
	cfg := handlerConfig{healthTimeout: 5 * time.Second}
	for _, opt := range opts {
		opt(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src, err := newPageSource(ctx, d, db, cfg)
	if err != nil {
		return nil, err
	}
	metrics, err := newMetricsHandler(d, db)
	if err != nil {
		return nil, fmt.Errorf("qlsqlite: the Prometheus endpoint: %w", err)
	}
	h := &handler{db: db, d: d, cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.Handle("GET /metrics", metrics)
	pages := page.New(closedSource{src}, page.Options{Actions: cfg.actions && cfg.stored == ""})
	mux.Handle("GET /", pages)
	mux.Handle("POST /actions/", pages)
	return mux, nil
}

type handler struct {
	db  *sql.DB
	d   *database
	cfg handlerConfig
}

// closed reports whether the database was closed.
func (h *handler) closed() bool {
	select {
	case <-h.d.done:
		return true
	default:
		return false
	}
}

// healthzBody is what /healthz answers.
type healthzBody struct {
	Status   HealthStatus `json:"status"`
	Problems []string     `json:"problems"`
	// IntegrityCheckedAt is when the last integrity check started,
	// absent before the first; IntegrityOK says it completed and found
	// nothing.
	IntegrityCheckedAt *time.Time `json:"integrity_checked_at,omitempty"`
	IntegrityOK        *bool      `json:"integrity_ok,omitempty"`
	TookMS             float64    `json:"took_ms"`
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	if h.closed() {
		writeJSON(w, http.StatusServiceUnavailable, healthzBody{Status: HealthFailing, Problems: []string{"the database is closed"}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.healthTimeout)
	defer cancel()
	rep, err := Health(ctx, h.db)
	if err != nil { // not reached: Handler checked the database
		writeJSON(w, http.StatusInternalServerError, healthzBody{Status: HealthFailing, Problems: []string{err.Error()}})
		return
	}
	body := healthzBody{Status: rep.Status, Problems: rep.Problems, TookMS: float64(rep.Took.Microseconds()) / 1000}
	if body.Problems == nil {
		body.Problems = []string{}
	}
	if ir := rep.Integrity; ir != nil {
		ok := ir.OK()
		body.IntegrityCheckedAt, body.IntegrityOK = &ir.At, &ok
	}
	writeJSON(w, http.StatusOK, body)
}

// readyzBody is what /readyz answers.
type readyzBody struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

func (h *handler) readyz(w http.ResponseWriter, _ *http.Request) {
	var reasons []string
	if h.closed() {
		reasons = append(reasons, "the database is closed")
	}
	switch state := h.d.breakerState(); state {
	case "", "closed":
	default:
		reasons = append(reasons, fmt.Sprintf("the circuit breaker is %s", state))
	}
	if p := poolStats(h.db); p.MaxOpenConnections > 0 && p.InUse >= p.MaxOpenConnections {
		reasons = append(reasons, fmt.Sprintf("the connection pool is exhausted: %d of %d connections in use", p.InUse, p.MaxOpenConnections))
	}
	if len(reasons) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, readyzBody{Reasons: reasons})
		return
	}
	writeJSON(w, http.StatusOK, readyzBody{Ready: true})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
