package qlsqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// The SQLite side of the monitoring page's Space and Maintenance pages:
// the size of each table and index, and a checkpoint.

// objectSpace is the space one table or index takes.
type objectSpace struct {
	Name, Kind, Table string // Kind: "table" or "index"
	Bytes             int64
	Rows              int64 // -1 when unknown
}

// spaceMethod says how [sqliteDialect.space] measures, for the page.
//
// SQLite's dbstat virtual table, which counts each b-tree's pages exactly,
// is not compiled into ncruces's build (SQLITE_ENABLE_DBSTAT_VTAB is not
// in its PRAGMA compile_options), and neither is sqlite_dbpage: the sizes
// are estimated.
const spaceMethod = "Estimated: dbstat is not compiled into ncruces's SQLite. Each object's share is its rows " +
	"(from sqlite_stat1, else the largest rowid) times the mean width of 200 sampled rows, and the shares are " +
	"scaled to the pages in use; the total is exact."

// spaceSample is how many rows of a table the estimate reads.
const spaceSample = 200

// space estimates the size of every table and index of the main database,
// largest first, on the dialect's own connection.
func (d *sqliteDialect) space(ctx context.Context, db *sql.DB) (objs []objectSpace, method string, err error) {
	err = d.withConn(ctx, db, func(c *sqlite3.Conn) error {
		objs, err = estimateSpace(c)
		return err
	})
	if err != nil {
		return nil, spaceMethod, fmt.Errorf("qlsqlite: estimating the space of tables and indexes: %w", err)
	}
	return objs, spaceMethod, nil
}

// schemaObject is a table or index of sqlite_schema.
type schemaObject struct {
	name, kind, table string
	columns           []string // an index's columns; nil for an expression index's
	withoutRowid      bool
}

func estimateSpace(c *sqlite3.Conn) ([]objectSpace, error) {
	objs, err := schemaObjects(c)
	if err != nil {
		return nil, err
	}
	stat := statRows(c)
	widths := map[string]map[string]float64{} // table -> column -> mean width
	rows := map[string]int64{}
	var out []objectSpace
	var weights []float64
	for _, o := range objs {
		if _, ok := widths[o.table]; !ok {
			widths[o.table] = columnWidths(c, o.table)
			rows[o.table] = tableRows(c, o.table, stat)
		}
		n := rows[o.table]
		if r, ok := stat[o.name]; ok && o.kind == "index" {
			n = r
		}
		w := rowWidth(o, widths[o.table])
		out = append(out, objectSpace{Name: o.name, Kind: o.kind, Table: o.table, Rows: n})
		weights = append(weights, float64(max(n, 0))*w+1)
	}
	// Scale the estimates to the pages in use.
	pages, err := pragmaInt(c, "page_count")
	if err != nil {
		return nil, err
	}
	free, err := pragmaInt(c, "freelist_count")
	if err != nil {
		return nil, err
	}
	size, err := pragmaInt(c, "page_size")
	if err != nil {
		return nil, err
	}
	used := float64(pages-free-1) * float64(size) // page 1 is the header and schema
	var sum float64
	for _, w := range weights {
		sum += w
	}
	for i := range out {
		out[i].Bytes = int64(used * weights[i] / sum)
	}
	slices.SortFunc(out, func(a, b objectSpace) int {
		if c := cmp.Compare(b.Bytes, a.Bytes); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func schemaObjects(c *sqlite3.Conn) ([]schemaObject, error) {
	stmt, _, err := c.Prepare(`SELECT name, type, tbl_name, sql FROM sqlite_schema WHERE type IN ('table', 'index') AND rootpage > 0 ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var objs []schemaObject
	for stmt.Step() {
		sqlText := stmt.ColumnText(3)
		objs = append(objs, schemaObject{
			name: stmt.ColumnText(0), kind: stmt.ColumnText(1), table: stmt.ColumnText(2),
			withoutRowid: strings.Contains(strings.ToUpper(sqlText), "WITHOUT ROWID"),
		})
	}
	if err := stmt.Err(); err != nil {
		return nil, err
	}
	for i := range objs {
		if objs[i].kind == "index" {
			objs[i].columns = indexColumns(c, objs[i].name)
		}
	}
	return objs, nil
}

func indexColumns(c *sqlite3.Conn, index string) []string {
	stmt, _, err := c.Prepare(`SELECT name FROM pragma_index_info(?)`)
	if err != nil {
		return nil
	}
	defer stmt.Close()
	stmt.BindText(1, index)
	var cols []string
	for stmt.Step() {
		cols = append(cols, stmt.ColumnText(0))
	}
	return cols
}

// statRows reads the row counts of sqlite_stat1, by table and index name.
func statRows(c *sqlite3.Conn) map[string]int64 {
	out := map[string]int64{}
	stmt, _, err := c.Prepare(`SELECT coalesce(idx, tbl), stat FROM sqlite_stat1`)
	if err != nil {
		return out // never analysed
	}
	defer stmt.Close()
	for stmt.Step() {
		first, _, _ := strings.Cut(stmt.ColumnText(1), " ")
		if n, err := strconv.ParseInt(first, 10, 64); err == nil {
			out[stmt.ColumnText(0)] = n
		}
	}
	return out
}

// tableRows is the table's rows by sqlite_stat1, else its largest rowid,
// else -1.
func tableRows(c *sqlite3.Conn, table string, stat map[string]int64) int64 {
	if n, ok := stat[table]; ok {
		return n
	}
	stmt, _, err := c.Prepare(`SELECT max(rowid) FROM ` + sqlite3.QuoteIdentifier(table))
	if err != nil {
		return -1 // WITHOUT ROWID
	}
	defer stmt.Close()
	if stmt.Step() {
		return stmt.ColumnInt64(0)
	}
	return -1
}

// columnWidths samples a table's rows and returns each column's mean width
// in bytes.
func columnWidths(c *sqlite3.Conn, table string) map[string]float64 {
	out := map[string]float64{}
	cols, err := tableColumns(c, table)
	if err != nil || len(cols) == 0 {
		return out
	}
	exprs := make([]string, len(cols))
	for i, col := range cols {
		exprs[i] = `avg(coalesce(length(CAST(` + sqlite3.QuoteIdentifier(col) + ` AS BLOB)), 0) + 1)`
	}
	stmt, _, err := c.Prepare(`SELECT ` + strings.Join(exprs, ", ") + ` FROM (SELECT * FROM ` + sqlite3.QuoteIdentifier(table) + ` LIMIT ` + strconv.Itoa(spaceSample) + `)`)
	if err != nil {
		return out
	}
	defer stmt.Close()
	if stmt.Step() {
		for i, col := range cols {
			out[col] = stmt.ColumnFloat(i)
		}
	}
	return out
}

func tableColumns(c *sqlite3.Conn, table string) ([]string, error) {
	stmt, _, err := c.Prepare(`SELECT name FROM pragma_table_info(?)`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	stmt.BindText(1, table)
	var cols []string
	for stmt.Step() {
		cols = append(cols, stmt.ColumnText(0))
	}
	return cols, stmt.Err()
}

// rowWidth is the estimated bytes of one entry of o: a table's record, or
// an index's key and rowid, with SQLite's per-cell overhead.
func rowWidth(o schemaObject, widths map[string]float64) float64 {
	const cellOverhead = 4 // cell pointer, payload size, header
	if o.kind == "table" {
		w := 8.0 + cellOverhead // rowid
		for _, v := range widths {
			w += v
		}
		return w
	}
	w := 8.0 + cellOverhead
	if len(o.columns) == 0 { // an expression index: a column's worth per term
		return w + 8
	}
	for _, col := range o.columns {
		if v, ok := widths[col]; ok {
			w += v
		} else {
			w += 8
		}
	}
	return w
}

// checkpointResult is what a checkpoint did.
type checkpointResult struct {
	// Frames is the WAL's frames when it ran; Checkpointed how many of
	// them were copied into the database. With every frame copied, the
	// WAL was truncated. Both are -1 for a database not in WAL mode.
	Frames, Checkpointed int
}

// checkpoint runs a TRUNCATE checkpoint of the WAL on a connection opened
// for it: it waits for the readers (the busy timeout) and empties the WAL.
func (d *sqliteDialect) checkpoint(ctx context.Context) (checkpointResult, error) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return checkpointResult{}, fmt.Errorf("qlsqlite: the database is closed")
	}
	dc, err := d.inner.Connect(ctx)
	if err != nil {
		return checkpointResult{}, fmt.Errorf("qlsqlite: checkpoint: opening a connection: %w", err)
	}
	defer dc.Close()
	raw := dc.(ncruces.Conn).Raw()
	raw.BusyTimeout(DefaultBusyTimeout)
	old := raw.SetInterrupt(ctx)
	defer raw.SetInterrupt(old)
	// A new connection opens the WAL with its first read: before it, a
	// checkpoint finds no WAL to copy.
	if err := raw.Exec(`SELECT count(*) FROM sqlite_schema`); err != nil {
		return checkpointResult{}, fmt.Errorf("qlsqlite: checkpoint: %w", err)
	}
	frames, done, err := raw.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE)
	if err != nil {
		return checkpointResult{Frames: frames, Checkpointed: done}, fmt.Errorf("qlsqlite: checkpoint: %w", err)
	}
	return checkpointResult{Frames: frames, Checkpointed: done}, nil
}
