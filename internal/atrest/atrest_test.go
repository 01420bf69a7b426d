package atrest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/adiantum"
	_ "github.com/ncruces/go-sqlite3/vfs/xts"
)

const hexKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Params
	}{
		{"", Params{}},
		{"vfs=adiantum&hexkey=" + hexKey, Params{"adiantum", ParamHexKey, hexKey}},
		{"vfs=xts&textkey=a+b%20c", Params{"xts", ParamTextKey, "a+b c"}}, // "+" is a plus, as in SQLite
		{"vfs=adiantum&_pragma=textkey('it''s')", Params{"adiantum", ParamTextKey, "it's"}},
		{"vfs=adiantum&_pragma=hexkey(\"" + hexKey + "\")", Params{"adiantum", ParamHexKey, hexKey}},
		{"vfs=adiantum&_pragma=main.hexkey = '" + hexKey + "'", Params{"adiantum", ParamHexKey, hexKey}},
		{"file:app.db?mode=rw&vfs=adiantum&hexkey=" + hexKey + "&_pragma=busy_timeout(1000)", Params{"adiantum", ParamHexKey, hexKey}},
		{"file:app.db?mode=rw", Params{}},
		{"file:app.db?vfs=memdb", Params{}},                              // not an encrypting VFS: none of ours
		{"file:app.db?hexkey=" + hexKey, Params{}},                       // the default VFS ignores keys
		{"file:app.db?vfs=adiantum&_pragma=journal_mode(wal)", Params{}}, // a key set by PRAGMA later
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseErrorsNeverQuoteTheKey(t *testing.T) {
	const secret = "s3cr3t-passphrase"
	for _, in := range []string{
		"vfs=adiantum",                              // no key
		"textkey=" + secret,                         // no VFS
		"vfs=os&textkey=" + secret,                  // the plain VFS
		"vfs=adiantum&hexkey=" + secret,             // not hex
		"vfs=adiantum&hexkey=abcd",                  // too short
		"vfs=adiantum&key=" + secret,                // not 32 bytes
		"vfs=xts&hexkey=" + hexKey[:48],             // 24 bytes
		"vfs=adiantum&textkey=" + secret + "&key=x", // two keys
		"vfs=adiantum&hexkye=" + secret,             // a typo
		"vfs=adiantum&textkey=" + secret + "%zz",    // a bad escape
		"file:x.db?vfs=adiantum&hexkey=" + secret,   // a DSN with a bad key
	} {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q): no error", in)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "zz") {
			t.Errorf("Parse(%q) = %q: it quotes the key", in, err)
		}
	}
}

func TestStringNeverShowsTheKey(t *testing.T) {
	p := Params{"adiantum", ParamHexKey, hexKey}
	for _, s := range []string{p.String(), fmt.Sprintf("%v %+v %#v %s %q", p, p, p, p, p)} {
		if strings.Contains(s, hexKey) || !strings.Contains(s, "adiantum") {
			t.Errorf("%q: want the VFS, not the key", s)
		}
	}
}

// TestURIRoundTrip writes a database through a URI made by Params with a
// key full of URI syntax, and reads it back the same way and through
// Parse: SQLite and this package agree on every byte of the key.
func TestURIRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key := `a&b=c+d e%f#g?h/i'j"k;l(m)n\o&p=q+r s%t#u` // 41 bytes
	key = key[:32]
	p := Params{"adiantum", ParamKey, key}
	path := filepath.Join(dir, "odd ?#% name.db")
	c, err := sqlite3.Open(p.URI(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(`CREATE TABLE t (x); INSERT INTO t VALUES ('plaintext-marker')`); err != nil {
		t.Fatal(err)
	}
	c.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("plaintext-marker")) || bytes.HasPrefix(b, sqliteMagic) {
		t.Fatal("the file is not encrypted")
	}
	if !NotPlainHeader(path) {
		t.Error("NotPlainHeader = false for an encrypted file")
	}

	q, err := Parse(p.URI(path))
	if err != nil || q != p {
		t.Fatalf("Parse(URI) = %v, %v; want %v", q, err, p)
	}
	c, err = sqlite3.OpenFlags(q.URI(path), sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src, err := Inspect(c, nil)
	if err != nil || src.Params != p || !src.Encrypted || src.VFS != "adiantum" {
		t.Errorf("Inspect = %+v, %v; want the key back", src, err)
	}
	if err := c.Exec(`SELECT * FROM t`); err != nil {
		t.Errorf("reading with the key: %v", err)
	}

	wrong := Params{"adiantum", ParamHexKey, hexKey}
	c2, err := sqlite3.OpenFlags(wrong.URI(path), sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	if err == nil {
		err = c2.Exec(`SELECT * FROM t`)
		c2.Close()
	}
	if !IsKeyError(err, wrong) {
		t.Errorf("reading with a wrong key: %v, want a key error", err)
	}
}

func TestRedact(t *testing.T) {
	base := sqlite3.NOTADB
	err := fmt.Errorf("opening file:x?hexkey=%s: %w", hexKey, base)
	r := Redact(err, Params{"adiantum", ParamHexKey, hexKey}.Secrets()...)
	if strings.Contains(r.Error(), hexKey) || !errors.Is(r, sqlite3.NOTADB) {
		t.Errorf("Redact = %q (Is NOTADB %v)", r, errors.Is(r, sqlite3.NOTADB))
	}
	if plain := errors.New("no key here"); Redact(plain, hexKey) != plain {
		t.Error("Redact wrapped an error without the key")
	}
}
