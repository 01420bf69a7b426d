package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// This file holds the checks that make sure [Archive] deletes a row only
// where its copy is durable and exact: what SQLite actually attached as the
// archive, whether the archive table stores values the way the source table
// does, and whether either table changed shape while the run went on.

// checkAttached reads what SQLite attached as the archive (PRAGMA
// database_list) and refuses anything but a database file that is not the
// source: SQLite accepts ":memory:", "file:x?mode=memory" and a relative
// "file:" URI of the main database itself without complaint, and rows
// "archived" into any of them are gone, or deleted twice over.
func (a *archiver) checkAttached(ctx context.Context) error {
	var file string
	err := a.conn.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = ?`, archiveSchema).Scan(&file)
	if err != nil {
		return fmt.Errorf("lifecycle: archive: reading the attached archive's file name: %w", err)
	}
	if file == "" {
		return fmt.Errorf("lifecycle: archive: DestPath %q opens an in-memory or temporary database, not a file: archived rows would vanish when the connection closes; pass the path of a database file, such as %q", a.p.DestPath, "archive.db")
	}
	src, err := mainFile(ctx, a.conn)
	if err != nil {
		return fmt.Errorf("lifecycle: archive: %w", err)
	}
	if src != "" && (filepath.Clean(src) == filepath.Clean(file) || sameFile(src, file)) {
		return fmt.Errorf("lifecycle: archive: DestPath %q is the source database itself (SQLite opened %s): pass the path of another file", a.p.DestPath, file)
	}
	a.destFile = file
	return nil
}

// checkDestFile makes sure the archive is a file on disk once its table
// exists (it has been written to by then): a VFS that keeps databases in
// memory reports a file name for a file that never appears.
func (a *archiver) checkDestFile() error {
	fi, err := os.Stat(a.destFile)
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("lifecycle: archive: DestPath %q: SQLite reports the file %s, but there is no such file on disk (a VFS that keeps it in memory?): pass the path of a database file", a.p.DestPath, a.destFile)
	}
	return nil
}

// readCollations fills in the collating sequence of every column of t (in
// schema) and the collations of its primary-key index. PRAGMA table_xinfo
// does not report collations; sqlite3_table_column_metadata does.
func readCollations(ctx context.Context, conn *sql.Conn, schema string, t *table) error {
	err := withRaw(conn, func(c *sqlite3.Conn) error {
		for _, cols := range [][]column{t.cols, t.key} {
			for i := range cols {
				_, coll, _, _, _, err := c.TableColumnMetadata(schema, t.name, cols[i].name)
				if err != nil {
					return fmt.Errorf("column %s: %w", cols[i].name, err)
				}
				cols[i].coll = coll
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lifecycle: reading the collations of table %s: %w", t.name, err)
	}
	// A PRIMARY KEY (a COLLATE NOCASE) constraint compares the key with the
	// index's collation, whatever the column's is. An INTEGER PRIMARY KEY
	// has no index (and needs none: it holds integers only).
	rows, err := conn.QueryContext(ctx, `
		SELECT x.coll FROM pragma_index_list(?1, ?2) AS l, pragma_index_xinfo(l.name, ?2) AS x
		WHERE l.origin = 'pk' AND x.key ORDER BY x.seqno`, t.name, schema)
	if err != nil {
		return fmt.Errorf("lifecycle: reading the primary key of table %s: %w", t.name, err)
	}
	defer rows.Close()
	t.keyColl = nil
	for rows.Next() {
		var coll string
		if err := rows.Scan(&coll); err != nil {
			return fmt.Errorf("lifecycle: reading the primary key of table %s: %w", t.name, err)
		}
		t.keyColl = append(t.keyColl, coll)
	}
	return rows.Err()
}

// affinity returns the type affinity SQLite gives a column declared with
// typ (https://sqlite.org/datatype3.html#determination_of_column_affinity);
// in a STRICT table, ANY keeps values as they are, like BLOB.
func affinity(typ string, strict bool) string {
	u := strings.ToUpper(typ)
	switch {
	case strict && u == "ANY":
		return "BLOB"
	case strings.Contains(u, "INT"):
		return "INTEGER"
	case strings.Contains(u, "CHAR"), strings.Contains(u, "CLOB"), strings.Contains(u, "TEXT"):
		return "TEXT"
	case strings.Contains(u, "BLOB"), u == "":
		return "BLOB"
	case strings.Contains(u, "REAL"), strings.Contains(u, "FLOA"), strings.Contains(u, "DOUB"):
		return "REAL"
	}
	return "NUMERIC"
}

// describe says how c is declared, for error messages.
func describe(c column, strict bool) string {
	typ := c.typ
	if typ == "" {
		typ = "no type"
	}
	return fmt.Sprintf("%s (affinity %s, collation %s)", typ, affinity(c.typ, strict), c.coll)
}

// compareShape returns an error naming the first difference between the
// source table src and the archive table dst that would let the archive
// store or compare a value differently from the source: a column missing,
// another affinity (a TEXT '02134' stored into an INTEGER column becomes
// 2134), another collation, or another primary key. The archive table may
// have more columns than the source. Both tables need their collations read
// (readCollations).
func compareShape(src, dst *table, destPath string) error {
	sameKey := len(dst.key) == len(src.key)
	for i := 0; sameKey && i < len(src.key); i++ {
		sameKey = strings.EqualFold(dst.key[i].name, src.key[i].name)
	}
	if !sameKey {
		return fmt.Errorf("lifecycle: archive: table %s in %q has primary key (%s), the source has (%s): they must be the same", dst.name, destPath, dst.keyList(), src.keyList())
	}
	for _, c := range src.cols {
		d, ok := dst.column(c.name)
		if !ok {
			return fmt.Errorf("lifecycle: archive: table %s in %q has no column %s: add it there (ALTER TABLE ... ADD COLUMN %s %s) to match the source", dst.name, destPath, c.name, c.quoted, c.typ)
		}
		if affinity(d.typ, dst.strict) != affinity(c.typ, src.strict) || !strings.EqualFold(d.coll, c.coll) {
			return fmt.Errorf("lifecycle: archive: column %s of table %s is %s in the source but %s in %q: the archive would store or compare its values differently (a TEXT '007' stored into an INTEGER column becomes 7); make the archive table's column match the source's, or archive into a new file", c.name, src.name, describe(c, src.strict), describe(d, dst.strict), destPath)
		}
	}
	if len(src.keyColl) != len(dst.keyColl) {
		// One key is a rowid alias (it has no index and holds integers
		// only, which every collation compares alike) and the other is
		// not; a non-integer key copied into a rowid alias is refused by
		// SQLite (datatype mismatch), not converted.
		return nil
	}
	for i := range src.keyColl {
		if !strings.EqualFold(src.keyColl[i], dst.keyColl[i]) {
			return fmt.Errorf("lifecycle: archive: the primary key of table %s compares column %s with collation %s in the source but %s in %q: the archive could hold only one of two source keys (such as 'ABC' and 'abc'); make the archive table's key match the source's, or archive into a new file", src.name, src.key[i].name, src.keyColl[i], dst.keyColl[i], destPath)
		}
	}
	return nil
}

// errSchemaChanged is wrapped by the error of [Archive] when the source or
// the archive table changed shape while the run went on.
var errSchemaChanged = errors.New("changed while it was being archived")

// checkSchema runs at the start of each of a batch's transactions. When
// another connection changed the schema of the source or of the archive
// since the run started (their schema_version moved), it reads both tables
// again: if the source's columns, types, collations or key differ from what
// the run's statements were built for (a column added by ALTER TABLE, say),
// it returns an error wrapping errSchemaChanged, and the caller deletes
// nothing; other schema changes (an index created) are fine.
func (a *archiver) checkSchema(ctx context.Context) error {
	var src, dst int64
	if err := a.schemaMain.QueryRowContext(ctx).Scan(&src); err != nil {
		return fmt.Errorf("reading the source's schema_version: %w", err)
	}
	if err := a.schemaDest.QueryRowContext(ctx).Scan(&dst); err != nil {
		return fmt.Errorf("reading the archive's schema_version: %w", err)
	}
	if src == a.srcSchema && dst == a.dstSchema {
		return nil
	}
	now, err := lookupTable(ctx, a.conn, "main", a.src.name)
	if err == nil {
		err = readCollations(ctx, a.conn, "main", now)
	}
	if err != nil {
		return fmt.Errorf("table %s %w: %w; run Archive again", a.src.name, errSchemaChanged, err)
	}
	if diff := shapeDiff(a.src, now); diff != "" {
		return fmt.Errorf("table %s %w (%s): nothing more was deleted from it; make the archive table match it (ALTER TABLE ... ADD COLUMN for a new column), then run Archive again", a.src.name, errSchemaChanged, diff)
	}
	dstNow, err := lookupTable(ctx, a.conn, archiveSchema, a.src.name)
	if err == nil {
		err = readCollations(ctx, a.conn, archiveSchema, dstNow)
	}
	if err == nil {
		err = compareShape(now, dstNow, a.p.DestPath)
	}
	if err != nil {
		return fmt.Errorf("the archive table %w: %w", errSchemaChanged, err)
	}
	a.srcSchema, a.dstSchema = src, dst
	return nil
}

// shapeDiff says how the insertable columns or the key of b differ from
// those of a, or returns "".
func shapeDiff(a, b *table) string {
	for _, c := range b.cols {
		if _, ok := a.column(c.name); !ok {
			return "column " + c.name + " was added"
		}
	}
	for _, c := range a.cols {
		d, ok := b.column(c.name)
		switch {
		case !ok:
			return "column " + c.name + " was dropped or renamed"
		case affinity(c.typ, a.strict) != affinity(d.typ, b.strict) || !strings.EqualFold(c.coll, d.coll):
			return "column " + c.name + " was " + describe(c, a.strict) + " and is now " + describe(d, b.strict)
		}
	}
	if a.keyList() != b.keyList() || strings.Join(a.keyColl, ",") != strings.Join(b.keyColl, ",") {
		return "its primary key changed"
	}
	return ""
}
