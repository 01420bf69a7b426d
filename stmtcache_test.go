package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// pinned is one connection of a fresh database, with access to its layers.
type pinned struct {
	t    *testing.T
	db   *sql.DB
	conn *sql.Conn
	ctx  context.Context
}

func pin(t *testing.T, params string) *pinned {
	t.Helper()
	db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "cache.db")+params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &pinned{t: t, db: db, conn: conn, ctx: ctx}
}

// inner returns the connection's sqliteConn.
func (p *pinned) inner() (c *sqliteConn) {
	p.t.Helper()
	err := p.conn.Raw(func(dc any) error {
		c = sqliteConnOf(dc)
		return nil
	})
	if err != nil || c == nil {
		p.t.Fatalf("no sqliteConn found: %v", err)
	}
	return c
}

// liveConns returns the database's open connections.
func (p *pinned) liveConns() map[*connCore]struct{} {
	d := p.db.Driver().(*Driver).db
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make(map[*connCore]struct{}, len(d.conns))
	for c := range d.conns {
		m[c] = struct{}{}
	}
	return m
}

// sqliteConnOf returns the sqliteConn beneath a connection [sql.Conn.Raw]
// handed out.
func sqliteConnOf(dc any) *sqliteConn { return dc.(*conn).inner }

// liveStmts counts the connection's prepared statements SQLite still holds.
func (p *pinned) liveStmts() (n int) {
	p.t.Helper()
	p.conn.Raw(func(dc any) error {
		for range dc.(ncruces.Conn).Raw().Stmts() {
			n++
		}
		return nil
	})
	return n
}

func (p *pinned) exec(query string, args ...any) {
	p.t.Helper()
	if _, err := p.conn.ExecContext(p.ctx, query, args...); err != nil {
		p.t.Fatalf("%s: %v", query, err)
	}
}

// rows returns a query's rows as text, through the cache.
func (p *pinned) rows(query string, args ...any) string {
	p.t.Helper()
	rows, err := p.conn.QueryContext(p.ctx, query, args...)
	if err != nil {
		p.t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	return dump(p.t, rows)
}

// fresh returns a query's rows as text from a statement prepared now,
// bypassing the cache.
func (p *pinned) fresh(query string, args ...any) string {
	p.t.Helper()
	var out string
	err := p.conn.Raw(func(dc any) error {
		s, _, err := dc.(ncruces.Conn).Raw().Prepare(query)
		if err != nil {
			return err
		}
		defer s.Close()
		for i, a := range args {
			s.BindText(i+1, fmt.Sprint(a))
		}
		var sb strings.Builder
		for s.Step() {
			for i := range s.ColumnCount() {
				fmt.Fprintf(&sb, "%s=%s ", s.ColumnName(i), s.ColumnText(i))
			}
			sb.WriteString("\n")
		}
		out = sb.String()
		return s.Err()
	})
	if err != nil {
		p.t.Fatalf("fresh %s: %v", query, err)
	}
	return out
}

func dump(t *testing.T, rows *sql.Rows) string {
	t.Helper()
	cols, _ := rows.Columns()
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var sb strings.Builder
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, c := range cols {
			fmt.Fprintf(&sb, "%s=%s ", c, vals[i].String)
		}
		sb.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func TestStmtCacheHitsAndEvictions(t *testing.T) {
	p := pin(t, "?_stmt_cache=2")
	p.exec(`CREATE TABLE t (n); INSERT INTO t VALUES (1), (2), (3)`)
	c := p.inner()
	for range 3 {
		p.rows(`SELECT n FROM t WHERE n > ?`, 1)
	}
	if h, m := c.stmts.hits.Load(), c.stmts.misses.Load(); h != 2 || m != 1 {
		t.Errorf("hits %d misses %d, want 2 and 1", h, m)
	}
	if n := p.liveStmts(); n != 1 {
		t.Errorf("%d live statements, want the 1 cached", n)
	}
	p.rows(`SELECT n FROM t WHERE n < ?`, 3)
	p.rows(`SELECT n FROM t WHERE n = ?`, 2) // evicts the first
	if e := c.stmts.evictions.Load(); e != 1 {
		t.Errorf("evictions %d, want 1", e)
	}
	if n := p.liveStmts(); n != 2 {
		t.Errorf("%d live statements after an eviction, want 2: the evicted one is finalized", n)
	}
}

func TestStmtCacheExclusive(t *testing.T) {
	p := pin(t, "")
	p.exec(`CREATE TABLE t (n); INSERT INTO t VALUES (1), (2), (3)`)
	c := p.inner()
	const q = `SELECT n FROM t WHERE n >= ? ORDER BY n`
	r1, err := p.conn.QueryContext(p.ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := p.conn.QueryContext(p.ctx, q, 2)
	if err != nil {
		t.Fatal(err)
	}
	if n := p.liveStmts(); n != 2 {
		t.Errorf("two open Rows of one SQL hold %d statements, want 2", n)
	}
	a, b := dump(t, r2), dump(t, r1)
	r1.Close()
	r2.Close()
	if a != "n=2 \nn=3 \n" || b != "n=1 \nn=2 \nn=3 \n" {
		t.Errorf("interleaved rows: %q and %q", a, b)
	}
	if n := p.liveStmts(); n != 1 {
		t.Errorf("%d live statements after both closed, want the 1 cached", n)
	}
	if got := p.rows(q, 3); got != "n=3 \n" {
		t.Errorf("after reuse: %q (bindings not cleared?)", got)
	}
	if m := c.stmts.misses.Load(); m != 2 {
		t.Errorf("misses %d, want 2 (the cached one and the one-off)", m)
	}
}

func TestStmtCacheFailedStatementIsDropped(t *testing.T) {
	p := pin(t, "")
	p.exec(`CREATE TABLE t (n UNIQUE)`)
	const ins = `INSERT INTO t VALUES (?)`
	p.exec(ins, 1)
	if _, err := p.conn.ExecContext(p.ctx, ins, 1); !errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) {
		t.Fatalf("duplicate insert: %v", err)
	}
	if n := p.liveStmts(); n != 0 {
		t.Errorf("%d live statements after a failure, want 0", n)
	}
	p.exec(ins, 2)
	if got := p.rows(`SELECT n FROM t ORDER BY n`); got != "n=1 \nn=2 \n" {
		t.Errorf("rows: %q", got)
	}
}

func TestStmtCacheOff(t *testing.T) {
	p := pin(t, "?_stmt_cache=0")
	p.exec(`CREATE TABLE t (n); INSERT INTO t VALUES (1)`)
	for range 3 {
		if got := p.rows(`SELECT n FROM t WHERE n = ?`, 1); got != "n=1 \n" {
			t.Fatalf("rows: %q", got)
		}
	}
	if n := p.liveStmts(); n != 0 {
		t.Errorf("%d live statements with the cache off", n)
	}
	if h := p.inner().stmts.hits.Load(); h != 0 {
		t.Errorf("%d hits with the cache off", h)
	}
}

func TestStmtCacheCloseFinalizes(t *testing.T) {
	c, err := NewConnector("file:" + filepath.Join(t.TempDir(), "close.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.(*Connector).Close()
	ctx := context.Background()
	dc, err := c.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		rows, err := dc.(*conn).QueryContext(ctx, fmt.Sprintf("SELECT %d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	// ncruces's Close fails with BUSY if any statement is left unfinalized.
	if err := dc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// A cached statement never returns what a statement prepared now would not.
func TestStmtCacheStaysCorrect(t *testing.T) {
	t.Run("schema change", func(t *testing.T) {
		p := pin(t, "")
		p.exec(`CREATE TABLE t (a); INSERT INTO t VALUES (1)`)
		const q = `SELECT * FROM t`
		p.rows(q)
		p.exec(`ALTER TABLE t ADD COLUMN b DEFAULT 'x'`)
		if got, want := p.rows(q), p.fresh(q); got != want {
			t.Errorf("after ALTER: cached %q, fresh %q", got, want)
		}
		p.exec(`DROP TABLE t; CREATE TABLE t (c, d); INSERT INTO t VALUES (7, 8)`)
		if got, want := p.rows(q), p.fresh(q); got != want {
			t.Errorf("after DROP and CREATE: cached %q, fresh %q", got, want)
		}
	})
	t.Run("temp table shadows main", func(t *testing.T) {
		p := pin(t, "")
		p.exec(`CREATE TABLE t (n); INSERT INTO t VALUES (1)`)
		const q = `SELECT n FROM t`
		p.rows(q)
		p.exec(`CREATE TEMP TABLE t (n); INSERT INTO temp.t VALUES (2)`)
		if got, want := p.rows(q), p.fresh(q); got != want {
			t.Errorf("after CREATE TEMP: cached %q, fresh %q", got, want)
		}
		p.exec(`DROP TABLE temp.t`)
		if got, want := p.rows(q), p.fresh(q); got != want {
			t.Errorf("after DROP TEMP: cached %q, fresh %q", got, want)
		}
	})
	t.Run("attach and detach", func(t *testing.T) {
		p := pin(t, "")
		dir := t.TempDir()
		for i, name := range []string{"a.db", "b.db"} {
			other, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Exec(`CREATE TABLE u (n)`); err != nil {
				t.Fatal(err)
			}
			if _, err := other.Exec(`INSERT INTO u VALUES (?)`, i+10); err != nil {
				t.Fatal(err)
			}
			other.Close()
		}
		const q = `SELECT n FROM u`
		p.exec(`ATTACH ? AS aux`, filepath.Join(dir, "a.db"))
		p.rows(q)
		p.exec(`DETACH aux`)
		p.exec(`ATTACH ? AS aux`, filepath.Join(dir, "b.db"))
		if got, want := p.rows(q), p.fresh(q); got != want {
			t.Errorf("after re-ATTACH: cached %q, fresh %q", got, want)
		}
		p.exec(`CREATE TABLE u (n); INSERT INTO u VALUES (99)`) // main now shadows aux
		if got, want := p.rows(q), p.fresh(q); got != want {
			t.Errorf("after main.u appears: cached %q, fresh %q", got, want)
		}
	})
	t.Run("foreign_keys pragma", func(t *testing.T) {
		p := pin(t, "")
		p.exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (pid REFERENCES parent(id))`)
		const ins = `INSERT INTO child VALUES (?)`
		if _, err := p.conn.ExecContext(p.ctx, ins, 1); !errors.Is(err, sqlite3.CONSTRAINT_FOREIGNKEY) {
			t.Fatalf("with foreign keys on: %v", err)
		}
		p.exec(`INSERT INTO parent VALUES (1)`)
		p.exec(ins, 1) // cached now
		p.exec(`PRAGMA foreign_keys = OFF`)
		if _, err := p.conn.ExecContext(p.ctx, ins, 2); err != nil {
			t.Errorf("with foreign keys off, the cached insert still checks them: %v", err)
		}
		p.exec(`PRAGMA foreign_keys = ON`)
		if _, err := p.conn.ExecContext(p.ctx, ins, 3); !errors.Is(err, sqlite3.CONSTRAINT_FOREIGNKEY) {
			t.Errorf("with foreign keys back on, the cached insert does not check them: %v", err)
		}
	})
	t.Run("case_sensitive_like pragma", func(t *testing.T) {
		p := pin(t, "")
		p.exec(`CREATE TABLE t (s); INSERT INTO t VALUES ('abc'), ('ABC')`)
		const q = `SELECT s FROM t WHERE s LIKE ? ORDER BY s`
		p.rows(q, "a%")
		p.exec(`PRAGMA case_sensitive_like = ON`)
		if got, want := p.rows(q, "a%"), p.fresh(q, "a%"); got != want {
			t.Errorf("after case_sensitive_like: cached %q, fresh %q", got, want)
		}
	})
}

func TestStmtCacheSchemaChangedElsewhere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	db, err := sql.Open(DriverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	a, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.ExecContext(ctx, `CREATE TABLE t (a, b); INSERT INTO t VALUES (1, 2)`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT * FROM t WHERE rowid > ?`
	query := func() (string, error) {
		rows, err := a.QueryContext(ctx, q, 0)
		if err != nil {
			return "", err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			for i, c := range cols {
				out = append(out, fmt.Sprintf("%s=%v", c, vals[i]))
			}
		}
		return strings.Join(out, " "), rows.Err()
	}
	if got, err := query(); got != "a=1 b=2" || err != nil {
		t.Fatalf("before: %q %v", got, err)
	}

	// Another connection of the same *sql.DB changes the schema: the cache
	// is emptied before the statement is reused.
	b, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ExecContext(ctx, `DROP TABLE t; CREATE TABLE t (x, y, z); INSERT INTO t VALUES (7, 8, 9)`); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if got, err := query(); got != "x=7 y=8 z=9" || err != nil {
		t.Errorf("after a change through qlsqlite: %q %v", got, err)
	}

	// Another process (here, another driver) changes it: the first query
	// after fails with ErrSchemaChanged instead of misnaming values, and the
	// next one is right.
	other, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, change := range []string{
		`DROP TABLE t; CREATE TABLE t (p, q, r); INSERT INTO t VALUES (4, 5, 6)`, // same count, new names
		`ALTER TABLE t ADD COLUMN s DEFAULT 0`,                                   // one more column
	} {
		if _, err := other.Exec(change); err != nil {
			t.Fatal(err)
		}
		got, err := query()
		if !errors.Is(err, ErrSchemaChanged) {
			t.Errorf("after %q elsewhere: %q, %v; want ErrSchemaChanged", change, got, err)
		}
		got, err = query()
		fresh := ""
		a.Raw(func(dc any) error {
			s, _, _ := dc.(ncruces.Conn).Raw().Prepare(`SELECT * FROM t`)
			defer s.Close()
			for s.Step() {
				for i := range s.ColumnCount() {
					fresh += fmt.Sprintf(" %s=%d", s.ColumnName(i), s.ColumnInt(i))
				}
			}
			return nil
		})
		if err != nil || got != strings.TrimSpace(fresh) {
			t.Errorf("then: %q %v, want %q", got, err, fresh)
		}
	}
}

// A caller may rewrite the slice Columns returns (GORM's MapColumns does):
// the check made when SQLite re-prepares a statement compares against
// qlsqlite's own copy. A bound LIMIT makes SQLite re-prepare on the first
// step with no schema change (DESIGN.md, trap 13), which is not an error.
func TestStmtCacheColumnsRewrittenByCaller(t *testing.T) {
	p := pin(t, "")
	p.exec(`CREATE TABLE t (a INTEGER, b TEXT)`)
	p.exec(`INSERT INTO t VALUES (1, 'x'), (2, 'y')`)
	for i := range 3 { // a miss, then hits of the cached statement
		rows, err := p.conn.QueryContext(p.ctx, `SELECT a, b FROM t ORDER BY a LIMIT ?`, 10)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for j := range cols {
			cols[j] = strings.ToUpper(cols[j]) + "_mapped"
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil || n != 2 {
			t.Fatalf("query %d: %d rows, %v", i, n, err)
		}
		rows.Close()
	}
}
