package pg

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// splitDSN takes qlsqlite's own parameters (those whose names begin with
// "_") out of a PostgreSQL URL, and returns what is left for pgx and the
// parameters taken. pgx would send any parameter it does not know to the
// server as a setting, which the server refuses.
//
// The query is filtered segment by segment, so that the rest (several
// hosts, target_session_attrs, sslmode, ...) reaches pgx as written.
func splitDSN(dsn string) (rest string, params url.Values, err error) {
	params = url.Values{}
	if !strings.Contains(dsn, "://") {
		if kvParam.MatchString(dsn) {
			return "", nil, fmt.Errorf("qlpg: qlsqlite's own DSN parameters (%s) need the URL form of the DSN: postgres://user@host:5432/db?_timeout=5s", kvParam.FindStringSubmatch(dsn)[1])
		}
		return dsn, params, nil
	}
	base, query, ok := strings.Cut(dsn, "?")
	if !ok {
		return dsn, params, nil
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	var kept []string
	for segment := range strings.SplitSeq(query, "&") {
		if segment == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(segment, "=")
		// The name as pgx will read it: "%5Ftimeout" is "_timeout" too.
		key, kerr := url.QueryUnescape(rawKey)
		if !strings.HasPrefix(rawKey, "_") && (kerr != nil || !strings.HasPrefix(key, "_")) {
			kept = append(kept, segment)
			continue
		}
		value, verr := url.QueryUnescape(rawValue)
		if kerr != nil || verr != nil {
			return "", nil, fmt.Errorf("qlpg: malformed %%-escape in DSN parameter %q", rawKey)
		}
		params.Add(key, value)
	}
	rest = base
	if len(kept) > 0 {
		rest += "?" + strings.Join(kept, "&")
	}
	if hasFragment {
		rest += "#" + fragment
	}
	return rest, params, nil
}

// kvParam finds an underscore parameter in a keyword/value DSN.
var kvParam = regexp.MustCompile(`(?:^|\s)(_[A-Za-z_]+)\s*=`)
