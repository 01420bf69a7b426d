package atrest

import (
	"errors"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// IsKeyError reports whether err is what SQLite says when a file is read
// with a wrong or missing key: "file is not a database" (the decrypted, or
// not decrypted, first page is no SQLite header), a key the VFS refuses
// (IOERR_BADKEY), or an encrypting VFS given no key at all, which fails
// the first read that is not of the header (CANTOPEN, reported as an I/O
// error).
func IsKeyError(err error, p Params) bool {
	switch {
	case errors.Is(err, sqlite3.NOTADB), errors.Is(err, sqlite3.IOERR_BADKEY):
		return true
	case !p.IsZero() && p.Key == "":
		return errors.Is(err, sqlite3.CANTOPEN) || errors.Is(err, sqlite3.IOERR)
	}
	return false
}

// Hint says, for a file that p could not read, which key it was tried with
// and what to do: "it was read with vfs=adiantum and the hexkey given: if it
// was written with another key or unencrypted, give that".
func Hint(p Params) string {
	if p.IsZero() {
		return "it was read unencrypted: if it was written encrypted, with vfs=adiantum or vfs=xts, give its key"
	}
	return "it was read with vfs=" + p.VFS + " and the " + p.KeyParam + " given: if it was written with another key, or unencrypted, give that"
}

// Redact returns err unchanged unless its message contains one of the
// secrets; then an error whose message has each replaced by "[REDACTED]"
// and which still wraps err, so that errors.Is and errors.As keep working.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	found := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "[REDACTED]")
			found = true
		}
	}
	if !found {
		return err
	}
	return &redacted{msg: msg, err: err}
}

// Hide returns an error with message msg that wraps err, for an err whose
// message may hold part of a key that Redact cannot recognise.
func Hide(err error, msg string) error { return &redacted{msg: msg, err: err} }

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
