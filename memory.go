package qlsqlite

import (
	"crypto/rand"
	"strings"

	"github.com/ncruces/go-sqlite3/vfs/memdb"
)

// This file makes ":memory:" one database for the whole *sql.DB.
//
// SQLite gives every connection that opens ":memory:" a database of its
// own, empty. Behind database/sql's pool that means a table created on one
// connection is missing on the next: a program that worked with one
// connection fails with "no such table" under load. qlsqlite opens
// ":memory:" (and "file::memory:", with any parameters) as a database of
// ncruces's memdb VFS with a name of its own, random and unique to the
// connector: every connection of one *sql.DB sees the same database, and
// two *sql.DBs never see each other's. The database lives until the
// *sql.DB is closed ([Connector.Close]), whatever its connections do.
//
// A DSN that names a VFS of its own ("file::memory:?vfs=...") is left as
// it is.

// memoryDSN returns the memdb DSN that stands for dsn and the name of the
// memdb database to create, if dsn names ":memory:"; otherwise dsn and "".
func memoryDSN(dsn string) (string, string) {
	var query string
	uri, _, _ := strings.Cut(dsn, "#") // a URI's fragment means nothing to SQLite
	switch {
	case dsn == ":memory:":
	case uri == "file::memory:":
	case strings.HasPrefix(uri, "file::memory:?"):
		query = strings.TrimPrefix(uri, "file::memory:?")
	default:
		return dsn, ""
	}
	kept := []string{"vfs=memdb"}
	for segment := range strings.SplitSeq(query, "&") {
		key, value, _ := strings.Cut(segment, "=")
		switch {
		case segment == "":
		case key == "vfs":
			return dsn, "" // the DSN's own VFS
		case key == "mode" && value == "memory":
			// SQLite's own in-memory mode would bypass the VFS.
		default:
			kept = append(kept, segment)
		}
	}
	name := "qlsqlite-" + rand.Text()
	return "file:/" + name + "?" + strings.Join(kept, "&"), name
}

// createMemory creates the memdb database of a connector.
func createMemory(name string) { memdb.Create(name, nil) }

// dropMemory deletes the memdb database of a connector: it is freed once
// its last connection closes.
func dropMemory(name string) {
	if name != "" {
		memdb.Delete(name)
	}
}
