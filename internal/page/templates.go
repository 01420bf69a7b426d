package page

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
)

// pageNames are the pages, each a template file defining "content".
var pageNames = []string{"overview", "queries", "query", "space", "connections", "maintenance", "alerts", "error"}

// parseTemplates parses the layout with each page.
func parseTemplates() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t := template.Must(layout.Clone())
		out[name] = template.Must(t.ParseFS(templateFS, "templates/"+name+".html"))
	}
	return out
}

var funcs = template.FuncMap{
	"dur":     fmtDuration,
	"bytes":   fmtBytes,
	"count":   func(n any) string { return countOf(n) },
	"pct":     fmtPercent,
	"ago":     fmtAgo,
	"at":      fmtTime,
	"chart":   renderChart,
	"sortURL": sortURL,
	"winURL":  windowURL,
	"arrow":   arrow,
	"lines":   func(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") },
	"bar":     bar,
	"esc":     url.PathEscape,
}

func countOf(n any) string {
	switch v := n.(type) {
	case int:
		return fmtCount(v)
	case int64:
		return fmtCount(v)
	case uint64:
		return fmtCount(v)
	case float64:
		return fmtCount(v)
	}
	return "?"
}

// sortURL is the query of a link that sorts the queries by col: the other
// way when they are sorted by it already, largest first otherwise (by
// text: A to Z). The window is kept.
func sortURL(q url.Values, col string) string {
	cur, desc := q.Get("sort"), q.Get("order") != "asc"
	if cur == "" {
		cur = "total"
	}
	v := url.Values{}
	if w := q.Get("window"); w != "" {
		v.Set("window", w)
	}
	v.Set("sort", col)
	switch {
	case cur == col && desc:
		v.Set("order", "asc")
	case cur == col:
		v.Set("order", "desc")
	case col == "query":
		v.Set("order", "asc")
	default:
		v.Set("order", "desc")
	}
	return "?" + v.Encode()
}

// arrow marks the column the queries are sorted by.
func arrow(q url.Values, col string) string {
	cur := q.Get("sort")
	if cur == "" {
		cur = "total"
	}
	if cur != col {
		return ""
	}
	if q.Get("order") == "asc" {
		return " ▲"
	}
	return " ▼"
}

// windowURL is the query of a link to another window, the sort kept.
func windowURL(q url.Values, w string) string {
	v := url.Values{}
	for _, k := range []string{"sort", "order"} {
		if s := q.Get(k); s != "" {
			v.Set(k, s)
		}
	}
	v.Set("window", w)
	return "?" + v.Encode()
}

// bar draws a share (0 to 1) as a small SVG bar.
func bar(share float64) template.HTML {
	w := max(0, min(share, 1)) * 100
	return template.HTML(`<svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true"><rect width="` +
		strconv.FormatFloat(w, 'f', 1, 64) + `" height="8"/></svg>`)
}

// queryRowsHTML renders the rows of the queries table. A page of 10,000
// fingerprints is 110,000 cells: written here directly, not through the
// template engine's reflection, it renders in a few tens of milliseconds
// instead of a few hundred. Every text is escaped.
func queryRowsHTML(rows []QueryRow, base, window string) template.HTML {
	if len(rows) == 0 {
		return `<tr><td colspan="11" class="empty">No query ran in this window.</td></tr>`
	}
	var b strings.Builder
	b.Grow(len(rows) * 640)
	win := template.HTMLEscapeString(url.QueryEscape(window))
	num := func(class, v string) {
		b.WriteString(`<td class="num`)
		if class != "" {
			b.WriteByte(' ')
			b.WriteString(class)
		}
		b.WriteString(`">`)
		b.WriteString(v)
		b.WriteString(`</td>`)
	}
	for i := range rows {
		q := &rows[i]
		id := template.HTMLEscapeString(q.ID)
		b.WriteString("\n<tr data-id=\"")
		b.WriteString(id)
		b.WriteString(`"><td class="text"><a href="`)
		b.WriteString(template.HTMLEscapeString(base))
		b.WriteString(`queries/`)
		b.WriteString(template.HTMLEscapeString(url.PathEscape(q.ID)))
		b.WriteString(`?window=`)
		b.WriteString(win)
		b.WriteString(`">`)
		b.WriteString(template.HTMLEscapeString(q.Text))
		b.WriteString(`</a>`)
		if q.Scan {
			b.WriteString(` <span class="tag tag-scan">scan</span>`)
		}
		if q.Advised {
			b.WriteString(` <span class="tag tag-advised">index advised</span>`)
		}
		if q.Rewrite {
			b.WriteString(` <span class="tag tag-rewrite">verified rewrite</span>`)
		}
		b.WriteString(`</td>`)
		num("total", fmtDuration(q.Total))
		num("calls", fmtCount(q.Calls))
		num("", fmtDuration(q.Mean))
		num("", fmtDuration(q.P50))
		num("p95", fmtDuration(q.P95))
		num("", fmtDuration(q.P99))
		num("", fmtCount(q.Rows))
		if q.Errors > 0 {
			b.WriteString(`<td class="num bad" title="`)
			b.WriteString(template.HTMLEscapeString(q.ErrorClasses))
			b.WriteString(`">`)
			b.WriteString(fmtCount(q.Errors))
			b.WriteString(`</td>`)
		} else {
			num("", "0")
		}
		num("", fmtDuration(q.Waited))
		num("", fmtPercent(q.CacheHitRatio))
		b.WriteString(`</tr>`)
	}
	return template.HTML(b.String())
}
