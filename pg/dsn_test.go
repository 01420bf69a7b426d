package pg

import (
	"net/url"
	"reflect"
	"testing"
)

// splitDSN takes every "_" parameter out, however its name is written
// (pgx decodes %-escapes and would send "%5Ftimeout" to the server as the
// setting "_timeout", which the server refuses), and leaves the rest of
// the URL as written.
func TestSplitDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn, rest string
		params    url.Values
	}{
		{"postgres://h/db?sslmode=disable&_timeout=1s&application_name=a%20b", "postgres://h/db?sslmode=disable&application_name=a%20b", url.Values{"_timeout": {"1s"}}},
		{"postgres://h/db?%5Ftimeout=1s&%5fretry=3", "postgres://h/db", url.Values{"_timeout": {"1s"}, "_retry": {"3"}}},
		{"postgres://h1,h2/db?_timeout=1s&target_session_attrs=read-write#x", "postgres://h1,h2/db?target_session_attrs=read-write#x", url.Values{"_timeout": {"1s"}}},
		{"postgres://h/db", "postgres://h/db", url.Values{}},
	} {
		rest, params, err := splitDSN(tc.dsn)
		if err != nil || rest != tc.rest || !reflect.DeepEqual(params, tc.params) {
			t.Errorf("splitDSN(%q) = %q, %v, %v; want %q, %v", tc.dsn, rest, params, err, tc.rest, tc.params)
		}
	}
}
