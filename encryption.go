package qlsqlite

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// Encryption at rest: a DSN may open the database through one of the
// encrypting VFSes of github.com/ncruces/go-sqlite3 (import
// github.com/ncruces/go-sqlite3/vfs/adiantum or .../xts), with the key in
// the DSN:
//
//	file:trading.db?vfs=adiantum&hexkey=…
//	file:trading.db?vfs=adiantum&_pragma=textkey('…')
//
// The driver keeps these parameters for [Driver.EncryptionParams] and
// never prints them: db.namespace, [Stats], [Health], spans, metrics, the
// slow-query log and the DSN errors name the file only.

// EncryptionParams returns the URI parameters a copy of this database must
// be opened with to be encrypted like it: "vfs" and the key ("key",
// "hexkey" or "textkey", also when the DSN sets it with "_pragma"), or nil
// when the DSN opens the database unencrypted (and for the registered
// Driver, which belongs to no database).
//
// It is an optional capability, found by interface assertion on
// [database/sql.DB.Driver]: packages lifecycle and migrate use it so that
// every backup, archive and pre-migration backup they write is encrypted
// with the database's own VFS and key. The values are secret: never print
// them.
func (d *Driver) EncryptionParams() url.Values {
	if d.db == nil {
		return nil
	}
	return d.db.atRest.Values()
}

// encryptionParams reads the encryption parameters of the DSN left for
// ncruces, and checks them, so that a key of the wrong length or a VFS
// without a key is an error at open rather than "disk I/O error" at the
// first query. Its errors never contain the key.
func encryptionParams(dsn string) (atrest.Params, error) {
	if !strings.HasPrefix(dsn, "file:") {
		return atrest.Params{}, nil
	}
	p, err := atrest.Parse(dsn)
	if err != nil {
		return atrest.Params{}, fmt.Errorf("qlsqlite: DSN: %w", err)
	}
	return p, nil
}

// hideKey keeps the key out of an error of opening a connection. SQLite
// quotes the text near a syntax error, so when the DSN sets the key with a
// "_pragma" and a "_pragma" fails, the message is not shown at all.
func (db *database) hideKey(err error) error {
	if err == nil || db.atRest.Key == "" {
		return err
	}
	if strings.Contains(err.Error(), "_pragma") {
		return atrest.Hide(err, "qlsqlite: a _pragma of the DSN failed (SQLite's message is not shown: it may quote the key): check the syntax of the _pragma values")
	}
	return atrest.Redact(err, db.atRest.Secrets()...)
}

// isSecretParam reports whether a DSN parameter may hold a key: its value
// must never be printed.
func isSecretParam(name, value string) bool {
	switch name {
	case atrest.ParamKey, atrest.ParamHexKey, atrest.ParamTextKey:
		return true
	case "_pragma":
		return atrest.IsKeyPragma(value)
	}
	return false
}

// redactDSN returns dsn with the values of the parameters that may hold a
// key replaced, for messages that quote a DSN.
func redactDSN(dsn string) string {
	base, query, ok := strings.Cut(dsn, "?")
	if !ok {
		return dsn
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	segments := strings.Split(query, "&")
	for i, segment := range segments {
		rawName, rawValue, _ := strings.Cut(segment, "=")
		name, err1 := url.PathUnescape(rawName)
		value, err2 := url.PathUnescape(rawValue)
		if err1 != nil || err2 != nil || isSecretParam(name, value) {
			segments[i] = rawName + "=[REDACTED]"
		}
	}
	out := base + "?" + strings.Join(segments, "&")
	if hasFragment {
		out += "#" + fragment
	}
	return out
}
