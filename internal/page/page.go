// Package page renders qlsqlite's monitoring pages: the overview, queries,
// space, connections, maintenance and alerts, in SQLite's terms what
// pghero shows for PostgreSQL. It knows nothing about where the figures
// come from: a [Source] gives them, and the driver implements it.
//
// The pages need no network and no script: their style sheet is embedded,
// their charts are SVG drawn on the server, sorting and time windows are
// links. Their Content-Security-Policy allows nothing from elsewhere.
// Actions (checkpoint, optimize, apply an advised index) are POST forms,
// refused unless [Options].Actions is set and refused from other sites
// ([http.CrossOriginProtection]).
//
// Links are relative, so the handler works mounted under any prefix with
// [http.StripPrefix].
package page

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Options configure the pages.
type Options struct {
	// Actions enables the forms that change the database: checkpoint,
	// optimize, apply an advised index.
	Actions bool
	// Timeout bounds the work behind one page (default 10 seconds).
	Timeout time.Duration
}

// New returns the handler of the pages, served from src:
//
//	/                 the overview
//	/queries          the queries, ?window=1h|24h|14d|all&sort=COLUMN&order=asc|desc
//	/queries/{id}     one fingerprint
//	/space            tables and indexes by size
//	/connections      the pool over time
//	/maintenance      optimize, integrity, checkpoints; the actions
//	/alerts           alerts fired and cleared
//	POST /actions/{name}
func New(src Source, opts Options) http.Handler {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	p := &pages{src: src, opts: opts, tmpl: parseTemplates()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.overview)
	mux.HandleFunc("GET /queries", p.queries)
	mux.HandleFunc("GET /queries/{id}", p.query)
	mux.HandleFunc("GET /space", p.space)
	mux.HandleFunc("GET /connections", p.connections)
	mux.HandleFunc("GET /maintenance", p.maintenance)
	mux.HandleFunc("GET /alerts", p.alerts)
	assets, _ := fs.Sub(assetFS, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheFor(time.Hour, http.FileServerFS(assets))))
	mux.Handle("POST /actions/{name}", http.NewCrossOriginProtection().Handler(http.HandlerFunc(p.act)))
	return secure(mux)
}

type pages struct {
	src  Source
	opts Options
	tmpl map[string]*template.Template
}

// secure sets the headers every answer carries: nothing may be loaded
// from elsewhere, run as script, or frame the pages.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(d.Seconds())))
		h.ServeHTTP(w, r)
	})
}

// view is what every template gets.
type view struct {
	About  About
	Page   string // the page's name, for the navigation
	Title  string
	Base   string // the relative path to the root: "./" or "../"
	Window Window
	Query  url.Values // the request's query, for links that keep it
	Data   any
}

// windowOf returns the window a request asks for, or the first offered.
func windowOf(r *http.Request, about About) Window {
	name := r.URL.Query().Get("window")
	for _, w := range about.Windows {
		if w.Name == name {
			return w
		}
	}
	if len(about.Windows) > 0 {
		return about.Windows[0]
	}
	return WindowAll
}

// base is the relative path from the request's path to the handler's root.
func base(r *http.Request) string {
	depth := strings.Count(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if depth == 0 {
		return "./"
	}
	return strings.Repeat("../", depth)
}

func (p *pages) context(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), p.opts.Timeout)
}

// render executes a page's template into a buffer first, so that an error
// is an error page, not half a page.
func (p *pages) render(w http.ResponseWriter, r *http.Request, name, title string, about About, win Window, data any) {
	v := view{About: about, Page: name, Title: title, Base: base(r), Window: win, Query: r.URL.Query(), Data: data}
	var buf bytes.Buffer
	buf.Grow(64 << 10)
	if err := p.tmpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

func (p *pages) fail(w http.ResponseWriter, r *http.Request, about About, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		status = http.StatusServiceUnavailable
	}
	w.WriteHeader(status)
	v := view{About: about, Page: "error", Title: http.StatusText(status), Base: base(r), Query: r.URL.Query(), Data: err.Error()}
	p.tmpl["error"].ExecuteTemplate(w, "layout", v)
}

func (p *pages) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := p.context(r)
	defer cancel()
	about := p.src.About(ctx)
	o, err := p.src.Overview(ctx)
	if err != nil {
		p.fail(w, r, about, err)
		return
	}
	p.render(w, r, "overview", "Overview", about, Window{}, o)
}

func (p *pages) queries(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := p.context(r)
	defer cancel()
	about := p.src.About(ctx)
	win := windowOf(r, about)
	list, err := p.src.Queries(ctx, win)
	if err != nil {
		p.fail(w, r, about, err)
		return
	}
	col, desc := sortOf(r)
	sortRows(list.Rows, col, desc)
	p.render(w, r, "queries", "Queries", about, win, queriesView{QueryList: list, Body: queryRowsHTML(list.Rows, base(r), win.Name)})
}

// queriesView is the queries page with its rows rendered.
type queriesView struct {
	QueryList
	Body template.HTML
}

func (p *pages) query(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := p.context(r)
	defer cancel()
	about := p.src.About(ctx)
	win := windowOf(r, about)
	q, err := p.src.Query(ctx, r.PathValue("id"), win)
	if err != nil {
		p.fail(w, r, about, err)
		return
	}
	p.render(w, r, "query", q.Row.Summary, about, win, q)
}

func (p *pages) space(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := p.context(r)
	defer cancel()
	about := p.src.About(ctx)
	win := windowOf(r, about)
	s, err := p.src.Space(ctx, win)
	if err != nil {
		p.fail(w, r, about, err)
		return
	}
	p.render(w, r, "space", "Space", about, win, s)
}

func (p *pages) connections(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := p.context(r)
	defer cancel()
	about := p.src.About(ctx)
	win := windowOf(r, about)
	c, err := p.src.Connections(ctx, win)
	if err != nil {
		p.fail(w, r, about, err)
		return
	}
	p.render(w, r, "connections", "Connections", about, win, c)
}

func (p *pages) maintenance(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := p.context(r)
	defer cancel()
	about := p.src.About(ctx)
	win := windowOf(r, about)
	m, err := p.src.Maintenance(ctx, win)
	if err != nil {
		p.fail(w, r, about, err)
		return
	}
	m.Actions = p.opts.Actions
	m.Message = r.URL.Query().Get("done")
	p.render(w, r, "maintenance", "Maintenance", about, win, m)
}

func (p *pages) alerts(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := p.context(r)
	defer cancel()
	about := p.src.About(ctx)
	win := windowOf(r, about)
	a, err := p.src.Alerts(ctx, win)
	if err != nil {
		p.fail(w, r, about, err)
		return
	}
	p.render(w, r, "alerts", "Alerts", about, win, a)
}

// act runs an action posted from the maintenance page and redirects back
// to it with the outcome. Only POST from the pages' own origin reaches it
// (see New), and only when actions are on.
func (p *pages) act(w http.ResponseWriter, r *http.Request) {
	if !p.opts.Actions {
		http.Error(w, "actions are off: the program enables them with qlsqlite.WithActions(true)", http.StatusForbidden)
		return
	}
	a := Action{Name: r.PathValue("name"), Index: r.PostFormValue("index")}
	switch a.Name {
	case "checkpoint", "optimize", "apply":
	default:
		http.Error(w, "unknown action "+a.Name, http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
	defer cancel()
	msg, err := p.src.Act(ctx, a)
	if err != nil {
		msg = a.Name + " failed: " + err.Error()
	}
	// Relative, so that it works under any prefix (http.Redirect would
	// make it absolute).
	w.Header().Set("Location", "../maintenance?done="+url.QueryEscape(msg))
	w.WriteHeader(http.StatusSeeOther)
}
