package main

import (
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/atrest"
	"github.com/schollz/progressbar/v3"
)

// openDB opens the database file at path through the qlsqlite driver for a
// command. Unless create is set the file must exist, so that a mistyped path
// is an error rather than a new empty database. The commands set only a busy
// timeout and change nothing in the file unasked: its journal mode stays as
// they find it, and no statistics are gathered (_optimize=off). key, if
// not zero, opens it through an encrypting VFS.
func openDB(path string, create bool, key atrest.Params) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	mode := "rw"
	if create {
		mode = "rwc"
	} else if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return sql.Open(qlsqlite.DriverName, fileURI(abs, withDSNQuery("mode="+mode+"&_pragma=busy_timeout(10000)&_optimize=off", key)))
}

// fileURI returns the "file:" URI of path with query, escaping what SQLite
// would read as the URI's own syntax in the path.
func fileURI(path, query string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	uri := "file:" + r.Replace(filepath.ToSlash(path))
	if query != "" {
		uri += "?" + query
	}
	return uri
}

// newBar returns a progress bar on w for long work, invisible unless show.
func newBar(w io.Writer, show bool, max int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetVisibility(show),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionOnCompletion(func() {
			if show {
				fmt.Fprintln(w)
			}
		}),
	)
}
