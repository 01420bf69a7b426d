package page

import (
	"context"
	"time"
)

// Source is what the pages show: the qlsqlite driver implements it for a
// database in its own process (from live snapshots and the history) and
// for another process's database (from the history and the file). Every
// text it returns is shown as text, escaped; none holds an argument value.
type Source interface {
	// About names the database and says where the figures come from.
	About(ctx context.Context) About
	Overview(ctx context.Context) (Overview, error)
	Queries(ctx context.Context, w Window) (QueryList, error)
	// Query returns one fingerprint; ErrNotFound when there is none.
	Query(ctx context.Context, id string, w Window) (QueryDetail, error)
	Space(ctx context.Context, w Window) (Space, error)
	Connections(ctx context.Context, w Window) (Connections, error)
	Maintenance(ctx context.Context, w Window) (Maintenance, error)
	Alerts(ctx context.Context, w Window) (Alerts, error)
	// Act runs an action (only when [Options].Actions is set) and returns
	// what it did, for a person.
	Act(ctx context.Context, a Action) (string, error)
}

// ErrNotFound is returned by [Source.Query] for an unknown fingerprint.
var ErrNotFound = errNotFound{}

type errNotFound struct{}

func (errNotFound) Error() string { return "not found" }

// ErrUnavailable, wrapped in a [Source]'s error, says that the figures
// cannot be had now (the database was closed): the page answers 503
// Service Unavailable, not 500.
var ErrUnavailable = errUnavailable{}

type errUnavailable struct{}

func (errUnavailable) Error() string { return "unavailable" }

// About is the header of every page.
type About struct {
	Database string // the database's name
	// Mode says where the figures come from, for a person: "live" or
	// "history written by another process".
	Mode string
	// History is the history file, "" when none is kept; HistoryNote says
	// why not, or what went wrong writing it.
	History     string
	HistoryNote string
	// Windows are the time windows the pages offer, the default first.
	Windows []Window
	Now     time.Time
}

// Window is a period the pages show: the last hour, day, 14 days, or
// everything since the statistics started.
type Window struct {
	Name  string        // in URLs: "1h", "24h", "14d", "all"
	Label string        // for people
	Span  time.Duration // 0 for "all"
}

// The windows a history offers.
var (
	WindowHour = Window{"1h", "last hour", time.Hour}
	WindowDay  = Window{"24h", "last day", 24 * time.Hour}
	Window14d  = Window{"14d", "last 14 days", 14 * 24 * time.Hour}
	WindowAll  = Window{"all", "since the start", 0}
)

// Status is the outcome of a check.
type Status string

const (
	OK      Status = "ok"
	Warning Status = "warning"
	Failing Status = "failing"
	Unknown Status = "unknown"
)

// Check is one line of the overview.
type Check struct {
	Name   string
	Status Status
	Value  string // the measure, formatted
	Detail string // what it means, or what to do
	Link   string // a page that says more, relative to the root ("queries", "space")
	Items  []CheckItem
}

// CheckItem is one finding of a check: an index, a query, a statement to
// run.
type CheckItem struct {
	Text string
	Code string // SQL that fixes it, shown as code
	Link string // relative to the root
}

// Overview is the first page.
type Overview struct {
	Checks []Check
	Stats  []Stat
	Charts []Chart
}

// Stat is a headline figure.
type Stat struct {
	Label, Value string
}

// QueryList is the queries page.
type QueryList struct {
	Window Window
	Note   string // how the figures were gathered
	Rows   []QueryRow
	// TotalTime is the time of every row, for their shares.
	TotalTime time.Duration
}

// QueryRow is one fingerprint over a window.
type QueryRow struct {
	ID, Text, Summary            string
	Calls, Rows, Errors          uint64
	ErrorClasses                 string // "query 3, performance 1"
	Total, Mean, P50, P95, P99   time.Duration
	Max, Waited                  time.Duration
	CacheHitRatio                float64 // -1 when no call used the cache
	Plan, Scan, Rewrite, Advised bool    // a plan was captured; it scans; a verified rewrite; an index is advised
}

// QueryDetail is the page of one fingerprint.
type QueryDetail struct {
	Window   Window
	Row      QueryRow
	Charts   []Chart
	Plan     string // EXPLAIN QUERY PLAN, as the sqlite3 shell prints it
	PlanAt   time.Time
	Advice   []Advice
	Rewrites []Rewrite
	// AdviceNote says why there is no advice yet (computing, failed).
	AdviceNote string
}

// Advice is an index suggested for a fingerprint.
type Advice struct {
	Name, Table, CreateSQL string
	Before, After          string // the plans without and with it
	Queries                []string
}

// Rewrite is a rewrite of a fingerprint.
type Rewrite struct {
	Rule, SQL, Note string
	Verified        bool
	Before, After   string
}

// Space is the space page.
type Space struct {
	Size, WAL, Free int64 // bytes
	PageSize        int64
	// Method says how the sizes per object were measured.
	Method  string
	Objects []SpaceObject
	// GrowthPerDay is the database's growth over the window, per day;
	// Growth false when the history cannot tell.
	GrowthPerDay int64
	Growth       bool
	Charts       []Chart
}

// SpaceObject is a table or an index.
type SpaceObject struct {
	Name, Kind, Table string // Kind: "table" or "index"
	Bytes, Rows       int64  // Rows -1 when unknown
	Share             float64
}

// Connections is the connections page.
type Connections struct {
	Window                 Window
	Open, InUse, Idle, Max int
	WaitCount              int64
	WaitDuration           time.Duration
	Charts                 []Chart
	Note                   string
}

// Maintenance is the maintenance page.
type Maintenance struct {
	Runs       []Run // optimize, integrity, checkpoints: the last of each
	Statistics []CheckItem
	WAL, Size  int64
	Charts     []Chart
	Events     []Event
	Advice     []Advice // indexes an action can create
	AdviceNote string
	Actions    bool
	Message    string // the outcome of the last action, from the redirect
}

// Run is the last run of a maintenance task.
type Run struct {
	Name   string
	At     time.Time // zero: never
	Detail string
	Status Status
}

// Event is a maintenance event.
type Event struct {
	At           time.Time
	Kind, Detail string
}

// Alerts is the alerts page.
type Alerts struct {
	Window Window
	Firing []Alert
	Events []Alert
	Note   string
}

// Alert is an alert that fired or cleared.
type Alert struct {
	At               time.Time
	Name             string
	Firing           bool
	Value, Threshold string
	Message          string
}

// Action is what a POST asks for.
type Action struct {
	Name  string // "checkpoint", "optimize", "apply"
	Index string // for "apply": the advised index's name
}

// Chart is a line chart over time.
type Chart struct {
	Title  string
	Unit   Unit
	Series []Series
}

// Unit says how a chart's values are shown.
type Unit int

const (
	Count   Unit = iota // 1,234
	Seconds             // 1.2 ms
	Bytes               // 1.2 MB
	Ratio               // 12%
	PerMinute
)

// Series is one line of a chart.
type Series struct {
	Name   string
	Points []Point
}

// Point is one value at one time.
type Point struct {
	At    time.Time
	Value float64
}
