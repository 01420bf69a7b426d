package atrest

import (
	"bytes"
	"database/sql/driver"
	"io"
	"net/url"
	"os"

	"github.com/ncruces/go-sqlite3"
)

// Provider is the optional capability by which a database/sql driver tells
// the packages that copy a database how the database is encrypted. The
// qlsqlite driver's per-database Driver implements it; they find it by
// interface assertion on [database/sql.DB.Driver], the way database/sql
// finds its own optional interfaces.
type Provider interface {
	// EncryptionParams returns the URI parameters a copy of the database
	// must be opened with to be encrypted like it: "vfs" and one of "key",
	// "hexkey", "textkey" (or a "_pragma" setting one), or nil when the
	// database is not opened through an encrypting VFS. The values are
	// secret: never print them.
	EncryptionParams() url.Values
}

// Source says how the main database of a connection is encrypted.
type Source struct {
	// Params open a copy the way the database is opened; zero when the
	// database is unencrypted or its key is not known (see Encrypted).
	Params Params

	// Encrypted reports whether the database is encrypted at rest: its DSN
	// names a key, its VFS is one of the encrypting VFSes of
	// github.com/ncruces/go-sqlite3, or its file on disk does not start with
	// SQLite's header although SQLite reads it.
	Encrypted bool

	// VFS is the name of the VFS SQLite reports for the main database.
	VFS string
}

// KeyKnown reports whether a copy can be encrypted like the source.
func (s Source) KeyKnown() bool { return !s.Params.IsZero() }

// Inspect finds how the main database of c, opened by drv, is encrypted.
// The key comes from drv if it is a [Provider], otherwise from the URI
// parameters of the main database's file name (where the raw
// github.com/ncruces/go-sqlite3 driver leaves a DSN's parameters). A key
// set only with a PRAGMA on the connection is not found: Encrypted is then
// still true, from the VFS's name or the file's header.
func Inspect(c *sqlite3.Conn, drv driver.Driver) (Source, error) {
	var s Source
	if name, err := c.FileControl("main", sqlite3.FCNTL_VFSNAME); err == nil {
		s.VFS, _ = name.(string)
	}
	var v url.Values
	if p, ok := drv.(Provider); ok {
		v = p.EncryptionParams()
	} else if f := c.Filename("main"); f != nil {
		v = f.URIParameters()
	}
	p, err := FromValues(v)
	if err != nil {
		return s, err
	}
	if e := p.Effective(); !e.IsZero() {
		if err := e.Check(); err != nil {
			return s, err
		}
		s.Params, s.Encrypted = e, true
	}
	if s.VFS == "adiantum" || s.VFS == "xts" || p.VFS == "adiantum" || p.VFS == "xts" {
		s.Encrypted = true // maybe with a key set by PRAGMA
	}
	if !s.Encrypted {
		if f := c.Filename("main"); f != nil && f.String() != "" {
			s.Encrypted = NotPlainHeader(f.String())
		}
	}
	return s, nil
}

// sqliteMagic starts every unencrypted SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// NotPlainHeader reports whether the file at path holds at least a header's
// worth of bytes that do not start like an unencrypted SQLite database. It
// is false for a missing, empty or short file.
func NotPlainHeader(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	hdr := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, hdr); err != nil {
		return false
	}
	return !bytes.Equal(hdr, sqliteMagic)
}
