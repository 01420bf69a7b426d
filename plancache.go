package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2"
	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// DefaultPlanCache is how many captured plans a database keeps.
const DefaultPlanCache = 1024

// A Plan is the query plan SQLite chose for a query, as EXPLAIN QUERY PLAN
// reports it (https://sqlite.org/eqp.html).
type Plan struct {
	Fingerprint   Fingerprint
	Query         string     // the SQL text the plan was captured for
	Steps         []PlanStep // in the order EXPLAIN QUERY PLAN returns them
	SchemaVersion int64      // PRAGMA schema_version when captured
	CapturedAt    time.Time
}

// A PlanStep is one row of EXPLAIN QUERY PLAN.
type PlanStep struct {
	ID, Parent int
	Detail     string // e.g. "SEARCH trades USING INDEX i (symbol=?)"
}

// String renders the plan as a tree, as the sqlite3 shell does.
func (p Plan) String() string {
	var sb strings.Builder
	depth := map[int]int{0: 0}
	for _, s := range p.Steps {
		d := depth[s.Parent] + 1
		depth[s.ID] = d
		sb.WriteString(strings.Repeat("   ", d-1))
		sb.WriteString("|--")
		sb.WriteString(s.Detail)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// Scans returns the plan's full table scans (SCAN steps that use no index).
func (p Plan) Scans() []string {
	var scans []string
	for _, s := range p.Steps {
		if strings.HasPrefix(s.Detail, "SCAN ") && !strings.Contains(s.Detail, " INDEX ") {
			scans = append(scans, s.Detail)
		}
	}
	return scans
}

// planner captures the plans of a database's queries off the query path: a
// statement prepared for the first time on a connection asks for its plan
// with a send that never blocks, and one goroutine per database captures it
// on a connection of its own and keeps it in a bounded LRU keyed by
// fingerprint. A plan is captured again when the schema version changed.
//
// Databases that only exist inside one connection (":memory:", temporary
// files) have no plans captured in the background: another connection
// would see another database.
type planner struct {
	db       *database
	plans    *lru.Cache[string, *Plan]
	requests chan planRequest
	start    sync.Once
	stop     sync.Once
	done     chan struct{}
	stopped  chan struct{}
}

// planRequest asks for query's plan; a request with flushed set only
// reports, by closing it, that the requests before it were handled.
type planRequest struct {
	query   string
	flushed chan struct{}
}

func newPlanner(db *database, size int) *planner {
	plans, _ := lru.New[string, *Plan](max(size, 1))
	return &planner{
		db:       db,
		plans:    plans,
		requests: make(chan planRequest, 256),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

// request asks for query's plan, unless the queue is full.
func (p *planner) request(query string) {
	p.start.Do(func() { go p.run() })
	select {
	case p.requests <- planRequest{query: query}:
	default: // busy: the next miss asks again
	}
}

// flush waits until the requests made so far are handled.
func (p *planner) flush(ctx context.Context) error {
	p.start.Do(func() { go p.run() })
	r := planRequest{flushed: make(chan struct{})}
	select {
	case p.requests <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.flushed:
		return nil
	case <-p.stopped:
		return errors.New("qlsqlite: the database is closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the planner's goroutine and closes its connection.
func (p *planner) close() {
	p.start.Do(func() { close(p.stopped) }) // never started
	p.stop.Do(func() { close(p.done) })
	<-p.stopped
}

func (p *planner) run() {
	defer close(p.stopped)
	var conn *sqlite3.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case <-p.done:
			return
		case r := <-p.requests:
			if r.flushed != nil {
				close(r.flushed)
				continue
			}
			if conn == nil {
				var err error
				if conn, err = p.connect(); err != nil {
					continue // no plans for now; a later request tries again
				}
			}
			fp := FingerprintOf(r.query)
			if refreshSchema(conn) != nil {
				continue
			}
			if old, ok := p.plans.Peek(fp.ID); ok && old.SchemaVersion == schemaVersion(conn) {
				continue
			}
			if plan, err := capturePlan(conn, r.query, fp); err == nil {
				p.plans.Add(fp.ID, plan)
			}
		}
	}
}

// connect opens the planner's own connection, unless the database lives
// inside one connection only.
func (p *planner) connect() (*sqlite3.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dc, err := p.db.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	raw := dc.(ncruces.Conn).Raw()
	if f := raw.Filename("main"); f == nil || f.String() == "" {
		dc.Close()
		return nil, errors.New("qlsqlite: an in-memory database has no plans captured in the background")
	}
	raw.BusyTimeout(DefaultBusyTimeout)
	// Plans only: never write through this connection.
	if err := raw.Exec(`PRAGMA query_only = ON`); err != nil {
		dc.Close()
		return nil, err
	}
	return raw, nil
}

// capturePlan runs EXPLAIN QUERY PLAN for query on conn. Parameters are
// left unbound (NULL), which does not change the plan's shape.
func capturePlan(conn *sqlite3.Conn, query string, fp Fingerprint) (*Plan, error) {
	stmt, tail, err := conn.Prepare(`EXPLAIN QUERY PLAN ` + query)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	if strings.TrimSpace(strings.Trim(tail, "; \t\r\n")) != "" {
		return nil, fmt.Errorf("qlsqlite: no plan for several statements: %q", query)
	}
	plan := &Plan{Fingerprint: fp, Query: query, SchemaVersion: schemaVersion(conn), CapturedAt: time.Now()}
	for stmt.Step() {
		plan.Steps = append(plan.Steps, PlanStep{
			ID:     stmt.ColumnInt(0),
			Parent: stmt.ColumnInt(1),
			Detail: stmt.ColumnText(3),
		})
	}
	if err := stmt.Err(); err != nil {
		return nil, err
	}
	return plan, nil
}

// refreshSchema brings conn's copy of the schema up to date. SQLite
// compiles against the copy it has and notices another connection's change
// only when a statement steps, too late for the column names a caller asks
// for before the first row, or for EXPLAIN.
func refreshSchema(conn *sqlite3.Conn) error {
	return conn.Exec(`SELECT 1 FROM sqlite_schema LIMIT 1`)
}

// schemaVersion returns PRAGMA schema_version, or -1.
func schemaVersion(conn *sqlite3.Conn) int64 {
	stmt, _, err := conn.Prepare(`PRAGMA schema_version`)
	if err != nil {
		return -1
	}
	defer stmt.Close()
	if !stmt.Step() {
		return -1
	}
	return stmt.ColumnInt64(0)
}

// CapturedPlans returns the plans captured for the queries run on db, one
// per fingerprint, recapturing any whose schema changed since. It waits for
// the captures already asked for, bounded by ctx. db must have been opened
// with the qlsqlite driver.
func CapturedPlans(ctx context.Context, db *sql.DB) ([]Plan, error) {
	d, err := stateOf(db)
	if err != nil {
		return nil, err
	}
	p := d.planner
	for _, fp := range p.plans.Keys() {
		if plan, ok := p.plans.Peek(fp); ok {
			p.request(plan.Query) // recaptured if the schema version changed
		}
	}
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	var plans []Plan
	for _, plan := range p.plans.Values() {
		plans = append(plans, *plan)
	}
	slices.SortFunc(plans, func(a, b Plan) int { return strings.Compare(a.Fingerprint.Text, b.Fingerprint.Text) })
	return plans, nil
}

// stateOf returns the per-database state of a *sql.DB opened with the
// qlsqlite driver, by sql.Open or by Open.
func stateOf(db *sql.DB) (*database, error) {
	if db == nil {
		return nil, errors.New("qlsqlite: nil *sql.DB")
	}
	d, ok := db.Driver().(*Driver)
	if !ok || d.db == nil {
		return nil, fmt.Errorf("qlsqlite: the *sql.DB uses driver %T, not qlsqlite: open it with sql.Open(%q, dsn) or qlsqlite.Open", db.Driver(), DriverName)
	}
	d.db.know(db)
	return d.db, nil
}
