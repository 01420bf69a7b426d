package atrest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Parse reads Params from s, which is either the query of a SQLite URI
// ("vfs=adiantum&hexkey=…", what the command-line tool reads from an
// environment variable or a file) or a whole DSN ("file:app.db?vfs=…"),
// whose other parameters are ignored. A key may also be given the way
// "_pragma" sets it: "_pragma=hexkey('…')". Values are decoded the way
// SQLite decodes a URI: %HH escapes, and "+" is a plus sign.
//
// In the query form an unknown parameter is an error (naming the
// parameter, never a value): a misspelt "hexkye" must not silently give an
// unencrypted copy. The result is checked with [Params.Check]. An empty s
// gives the zero Params.
func Parse(s string) (Params, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Params{}, nil
	}
	dsn := strings.HasPrefix(s, "file:")
	query := s
	if dsn {
		_, query, _ = strings.Cut(s, "?")
		query, _, _ = strings.Cut(query, "#")
	}
	v, err := ParseQuery(query)
	if err != nil {
		return Params{}, err
	}
	if !dsn {
		for name := range v {
			switch name {
			case "vfs", ParamKey, ParamHexKey, ParamTextKey, "_pragma":
			default:
				return Params{}, fmt.Errorf("unknown parameter %q: give vfs= and one of key=, hexkey= or textkey=", name)
			}
		}
	}
	p, err := FromValues(v)
	if err != nil {
		return Params{}, err
	}
	if dsn {
		// A DSN without a key, or with the default VFS, opens its file
		// unencrypted: other VFSes (memdb, …) are none of our business.
		p = p.Effective()
	} else if p.IsZero() {
		return Params{}, errors.New("no key in it: give vfs= and one of key=, hexkey= or textkey=")
	}
	if err := p.Check(); err != nil {
		return Params{}, err
	}
	return p, nil
}

// ParseQuery splits a URI query into parameters, decoding them the way
// SQLite does (%HH only). Its errors never contain a value.
func ParseQuery(query string) (url.Values, error) {
	v := url.Values{}
	for segment := range strings.SplitSeq(query, "&") {
		if segment == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(segment, "=")
		name, err := url.PathUnescape(rawName)
		if err != nil {
			return nil, errors.New("malformed %-escape in a parameter name")
		}
		value, err := url.PathUnescape(rawValue)
		if err != nil {
			return nil, fmt.Errorf("malformed %%-escape in the value of %s", name)
		}
		v[name] = append(v[name], value)
	}
	return v, nil
}

// FromValues reads Params from URI parameters, as given: "vfs", one of
// "key", "hexkey" and "textkey", or a "_pragma" that sets one of them. Two
// key parameters are an error. See [Params.Effective] for how SQLite opens
// a file with them.
func FromValues(v url.Values) (Params, error) {
	p := Params{VFS: first(v["vfs"])}
	for _, name := range []string{ParamKey, ParamHexKey, ParamTextKey} {
		vals, ok := v[name]
		if !ok || name == ParamTextKey && first(vals) == "" {
			continue
		}
		if p.KeyParam != "" {
			return Params{}, fmt.Errorf("both %s and %s are given: give one key", p.KeyParam, name)
		}
		p.KeyParam, p.Key = name, first(vals)
	}
	for _, pragma := range v["_pragma"] {
		name, value, ok := pragmaKey(pragma)
		if !ok {
			continue
		}
		if p.KeyParam != "" && (p.KeyParam != name || p.Key != value) {
			return Params{}, fmt.Errorf("both %s and _pragma=%s(…) are given: give one key", p.KeyParam, name)
		}
		p.KeyParam, p.Key = name, value
	}
	return p, nil
}

// Effective returns how SQLite opens a file with p: through p's VFS with
// p's key, or (without a key, or through the default VFS, which ignores
// keys) the zero Params.
func (p Params) Effective() Params {
	if p.KeyParam == "" || p.VFS == "" || p.VFS == PlainVFS {
		return Params{}
	}
	return p
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// IsKeyPragma reports whether a "_pragma" value sets a key: its value must
// never be printed.
func IsKeyPragma(pragma string) bool {
	_, _, ok := pragmaKey(pragma)
	return ok
}

// pragmaKey reads a "_pragma" value that sets a key: "hexkey('…')",
// "textkey = '…'", "main.key(\"…\")". It reports false for any other pragma.
func pragmaKey(pragma string) (name, value string, ok bool) {
	i := strings.IndexAny(pragma, "=(")
	if i < 0 {
		return "", "", false
	}
	name = strings.ToLower(strings.TrimSpace(pragma[:i]))
	name = strings.TrimPrefix(name, "main.")
	switch name {
	case ParamKey, ParamHexKey, ParamTextKey:
	default:
		return "", "", false
	}
	value = strings.TrimSpace(pragma[i+1:])
	if pragma[i] == '(' {
		value = strings.TrimSpace(strings.TrimSuffix(value, ")"))
	}
	value = strings.TrimSuffix(value, ";")
	if n := len(value); n >= 2 && (value[0] == '\'' || value[0] == '"') && value[n-1] == value[0] {
		q := value[:1]
		value = strings.ReplaceAll(value[1:n-1], q+q, q)
	}
	return name, value, true
}
