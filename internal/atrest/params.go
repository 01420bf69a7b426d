// Package atrest holds what the packages that copy a database (lifecycle,
// migrate) and the qlsqlite driver share to keep a copy of an encrypted
// database encrypted: the SQLite URI parameters that open a file through an
// encrypting VFS (github.com/ncruces/go-sqlite3/vfs/adiantum or xts), how to
// find them for a live connection, and how to keep the key out of every
// message.
//
// A key is a secret: nothing in this package prints one. [Params.String]
// names the VFS and which key parameter is set, never its value.
package atrest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Key parameter names, as the adiantum and xts VFSes read them from a URI.
const (
	ParamKey     = "key"     // the key's bytes
	ParamHexKey  = "hexkey"  // the key's bytes in hex
	ParamTextKey = "textkey" // a passphrase the VFS derives the key from
)

// PlainVFS is the name of SQLite's default, unencrypted VFS in
// github.com/ncruces/go-sqlite3.
const PlainVFS = "os"

// Params say how a database file is opened through an encrypting VFS: the
// VFS's name and one key parameter. The zero Params opens a file
// unencrypted, through the default VFS.
type Params struct {
	VFS      string // "adiantum", "xts", or another registered VFS that takes a key
	KeyParam string // ParamKey, ParamHexKey or ParamTextKey
	Key      string // the key parameter's value: a secret
}

// IsZero reports whether p opens files unencrypted.
func (p Params) IsZero() bool { return p == Params{} }

// String names the VFS and the key parameter, never the key.
func (p Params) String() string {
	if p.IsZero() {
		return "unencrypted"
	}
	return "vfs=" + p.VFS + " with a " + p.KeyParam
}

// GoString is String: %#v must not print the key either.
func (p Params) GoString() string { return "atrest.Params{" + p.String() + "}" }

// Check validates p: a VFS and a key, both or neither, and for the VFSes of
// github.com/ncruces/go-sqlite3 a key of the length they take. Its errors
// never contain the key.
func (p Params) Check() error {
	if p.IsZero() {
		return nil
	}
	switch {
	case p.VFS == "" || p.VFS == PlainVFS:
		return fmt.Errorf("a %s needs an encrypting VFS: add vfs=adiantum or vfs=xts (and import github.com/ncruces/go-sqlite3/vfs/adiantum or .../xts)", orKey(p.KeyParam))
	case p.Key == "":
		return fmt.Errorf("vfs=%s needs a key: give key=, hexkey= or textkey=", p.VFS)
	}
	var n int
	switch p.KeyParam {
	case ParamKey:
		n = len(p.Key)
	case ParamHexKey:
		b, err := hex.DecodeString(p.Key)
		if err != nil {
			return errors.New("hexkey is not hexadecimal: give the key's bytes as hex digits (0-9, a-f)")
		}
		n = len(b)
	case ParamTextKey:
		return nil // any passphrase
	default:
		return fmt.Errorf("unknown key parameter %q: use key, hexkey or textkey", p.KeyParam)
	}
	switch {
	case p.VFS == "adiantum" && n != 32:
		return fmt.Errorf("vfs=adiantum takes a 32-byte key (64 hex digits in hexkey), this %s has %d bytes; or give a passphrase in textkey", p.KeyParam, n)
	case p.VFS == "xts" && n != 32 && n != 48 && n != 64:
		return fmt.Errorf("vfs=xts takes a 32, 48 or 64-byte key (64, 96 or 128 hex digits in hexkey), this %s has %d bytes; or give a passphrase in textkey", p.KeyParam, n)
	}
	return nil
}

func orKey(name string) string {
	if name == "" {
		return "key"
	}
	return name
}

// Values returns p as URI parameters (nil for the zero Params).
func (p Params) Values() url.Values {
	if p.IsZero() {
		return nil
	}
	v := url.Values{"vfs": {p.VFS}}
	if p.KeyParam != "" {
		v[p.KeyParam] = []string{p.Key}
	}
	return v
}

// Query returns p as the query of a SQLite URI, "vfs=adiantum&hexkey=…",
// escaped the way SQLite reads a URI ("" for the zero Params). It holds the
// key: never print it.
func (p Params) Query() string {
	if p.IsZero() {
		return ""
	}
	q := "vfs=" + escape(p.VFS)
	if p.KeyParam != "" {
		q += "&" + p.KeyParam + "=" + escape(p.Key)
	}
	return q
}

// URI returns what SQLite must be given to open the file at path with p:
// path itself for the zero Params (as every copy was opened before keys
// existed), a "file:" URI with p's parameters otherwise. It holds the key:
// never print it.
func (p Params) URI(path string) string {
	if p.IsZero() {
		return path
	}
	return FileURI(path) + "?" + p.Query()
}

// PlainURI returns a "file:" URI that opens path unencrypted whatever the
// VFS of the connection that reads it: ATTACH uses the main database's VFS
// unless the URI names another.
func PlainURI(path string) string { return FileURI(path) + "?vfs=" + PlainVFS }

// FileURI returns the "file:" URI of path, with no query, escaping what
// SQLite would read as the URI's own syntax.
func FileURI(path string) string {
	p := filepath.ToSlash(path)
	if filepath.VolumeName(path) != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p // file:/C:/dir/x.db
	}
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(p)
}

// escape percent-encodes every byte of s but the unreserved ones, so that
// SQLite (which decodes %HH and nothing else: "+" stays "+") and Go's
// net/url read back the same value.
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// Secrets returns the strings whose presence in a message would reveal the
// key: its value and its escaped form. Nil for the zero Params.
func (p Params) Secrets() []string {
	if p.Key == "" {
		return nil
	}
	s := []string{p.Key}
	if e := escape(p.Key); e != p.Key {
		s = append(s, e)
	}
	if e := url.QueryEscape(p.Key); e != p.Key && e != s[len(s)-1] {
		s = append(s, e)
	}
	return s
}
