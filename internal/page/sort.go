package page

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
)

// sortColumns are the columns the queries page sorts by, with the value
// each compares.
var sortColumns = map[string]func(QueryRow) float64{
	"total":  func(q QueryRow) float64 { return float64(q.Total) },
	"calls":  func(q QueryRow) float64 { return float64(q.Calls) },
	"mean":   func(q QueryRow) float64 { return float64(q.Mean) },
	"p50":    func(q QueryRow) float64 { return float64(q.P50) },
	"p95":    func(q QueryRow) float64 { return float64(q.P95) },
	"p99":    func(q QueryRow) float64 { return float64(q.P99) },
	"max":    func(q QueryRow) float64 { return float64(q.Max) },
	"rows":   func(q QueryRow) float64 { return float64(q.Rows) },
	"errors": func(q QueryRow) float64 { return float64(q.Errors) },
	"wait":   func(q QueryRow) float64 { return float64(q.Waited) },
	"cache":  func(q QueryRow) float64 { return q.CacheHitRatio },
}

// sortOf returns the column and order a request asks for: by total time,
// largest first, unless it says otherwise. "query" sorts by text.
func sortOf(r *http.Request) (col string, desc bool) {
	q := r.URL.Query()
	col = q.Get("sort")
	if _, ok := sortColumns[col]; !ok && col != "query" {
		col = "total"
	}
	desc = q.Get("order") != "asc"
	return col, desc
}

// sortRows sorts rows by col; ties are ordered by text, then ID, so the
// order is the same on every load.
func sortRows(rows []QueryRow, col string, desc bool) {
	key := sortColumns[col]
	slices.SortFunc(rows, func(a, b QueryRow) int {
		c := 0
		if key != nil {
			c = cmp.Compare(key(a), key(b))
		} else {
			c = strings.Compare(a.Text, b.Text)
		}
		if desc {
			c = -c
		}
		if c == 0 {
			if c = strings.Compare(a.Text, b.Text); c == 0 {
				c = strings.Compare(a.ID, b.ID)
			}
		}
		return c
	})
}
