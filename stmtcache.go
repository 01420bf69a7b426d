package qlsqlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// stmtCache is one connection's LRU of prepared statements, keyed by SQL
// text. [database/sql] never uses a connection from two goroutines at once,
// so the LRU needs no lock; its counters are atomic only because statistics
// read them from other goroutines.
//
// A cached statement is handed out exclusively (DESIGN.md, trap 5): while it
// is in use, the same SQL gets a one-off statement, finalized after use, so
// one connection can have two open Rows of the same query. On return, it
// has been reset, its bindings cleared or left to be replaced (bindings.go); a statement that failed is
// finalized rather than returned, and so is one evicted while in use.
// SQLite re-prepares a statement by itself when the schema changes.
type stmtCache struct {
	lru       *simplelru.LRU[string, *cachedStmt] // nil when the cache is off
	schemaGen *atomic.Uint64                      // the database's schema generation
	gen       uint64                              // the generation the cached statements belong to
	lastHit   bool                                // whether the last take was a cache hit
	cacheCounters
}

// cacheCounters count statement cache events.
type cacheCounters struct {
	hits, misses, evictions atomic.Uint64
}

// cachedStmt is a prepared statement with its cache bookkeeping.
type cachedStmt struct {
	ncrucesStmt
	query   string
	inUse   bool
	evicted bool // no longer in the cache: finalize once released
	owned   bool // kept by a prepared statement (the cache is off or was busy)
	ddl     bool // may change the schema: never cached
	// grouping says whether the statement can go through group commit
	// (see [sqliteConn.groupable]): 0 not known yet, 1 yes, -1 no.
	grouping int8
	// shape is what the statement's rows read alike (rows.go): its column
	// names and declared types, read again after SQLite re-prepares it.
	shape *rowShape
	// numInput is NumInput, read once (inputsKnown); boundLeft says that
	// the last query's arguments are still bound (bindings.go).
	numInput               int
	inputsKnown, boundLeft bool
}

func newStmtCache(size int, schemaGen *atomic.Uint64) *stmtCache {
	c := &stmtCache{schemaGen: schemaGen, gen: schemaGen.Load()}
	if size > 0 {
		c.lru, _ = simplelru.NewLRU(size, func(_ string, s *cachedStmt) {
			c.evictions.Add(1)
			s.evicted = true
			if !s.inUse {
				s.Close()
			}
		})
	}
	return c
}

// take returns a statement for query, prepared by prepare on a miss, and
// marks it in use.
func (c *stmtCache) take(ctx context.Context, query string, prepare func(context.Context, string) (ncrucesStmt, error)) (*cachedStmt, error) {
	if c.lru != nil {
		if s, ok := c.lru.Get(query); ok {
			if !s.inUse {
				c.hits.Add(1)
				c.lastHit = true
				s.inUse = true
				return s, nil
			}
			// In use (a second open Rows of the same SQL): a one-off below.
		}
	}
	c.misses.Add(1)
	c.lastHit = false
	ps, err := prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	s := &cachedStmt{ncrucesStmt: ps, query: query, inUse: true, evicted: true, ddl: mayChangeSchema(query)}
	if c.lru != nil && !s.ddl && !c.lru.Contains(query) {
		s.evicted = false
		c.lru.Add(query, s)
	}
	return s, nil
}

// release returns a statement taken with take. failed says the statement's
// last use returned an error: it is not trusted again.
func (c *stmtCache) release(s *cachedStmt, failed bool) {
	s.inUse = false
	if s.ddl {
		c.schemaGen.Add(1) // every connection re-prepares, this one too
	}
	switch {
	case s.owned: // a prepared statement's own: kept until it is closed
	case s.evicted:
		s.Close()
	case failed:
		c.lru.Remove(s.query) // evicts, which finalizes
	}
}

// stale reports whether a statement that may have changed the schema ran
// (on any connection of the database) since the cache was last emptied, and
// if so empties it.
func (c *stmtCache) stale() bool {
	gen := c.schemaGen.Load()
	if gen == c.gen {
		return false
	}
	c.gen = gen
	if c.lru != nil {
		c.lru.Purge()
	}
	return true
}

// close finalizes every cached statement.
func (c *stmtCache) close() {
	if c.lru != nil {
		c.lru.Purge()
	}
}

// cacheTotals are statement cache counters summed over connections.
type cacheTotals struct {
	Hits, Misses, Evictions uint64
}

func (t *cacheTotals) add(c *cacheCounters) {
	t.Hits += c.hits.Load()
	t.Misses += c.misses.Load()
	t.Evictions += c.evictions.Load()
}

// stmtCacheTotals sums the statement cache counters of every connection the
// database has had.
func (db *database) stmtCacheTotals() cacheTotals {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.closed
	for c := range db.conns {
		t.add(&c.stmts.cacheCounters)
	}
	return t
}

// ErrSchemaChanged is matched (with errors.Is) by the error of a query whose
// cached statement SQLite had to re-prepare because the schema changed
// outside qlsqlite (another process, or the Raw connection), and whose result
// columns changed with it. Running the query again prepares it anew.
var ErrSchemaChanged = errors.New("qlsqlite: the schema changed under a cached statement and its result columns changed")

type schemaChangedError struct {
	classOf // Migration: the schema changed under the statement
	query   string
	err     error // what the row fetch returned, if anything
}

func (e *schemaChangedError) Error() string {
	return fmt.Sprintf("%v (query %q): run the query again", ErrSchemaChanged, e.query)
}

func (e *schemaChangedError) Unwrap() []error {
	if e.err == nil || e.err == io.EOF {
		return []error{ErrSchemaChanged}
	}
	return []error{ErrSchemaChanged, e.err}
}

// schemaChanged records that a statement run through qlsqlite may have
// changed the schema: every connection empties its statement cache before
// its next statement.
func (db *database) schemaChanged() { db.schemaGen.Add(1) }
