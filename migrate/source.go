package migrate

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one versioned migration known to a [Migrator]: a SQL file from
// the source [fs.FS] or a Go migration registered with [WithGoMigrations].
// [Migrator.Plan] returns the migrations [Migrator.Up] would apply.
type Migration struct {
	// Version orders migrations; it is the number that starts the file name.
	Version int64
	// Description is the rest of the file name, with underscores as spaces
	// ("add trading indexes" for 002_add_trading_indexes.sql).
	Description string
	// Source is the path of the migration's file inside the fs.FS, or
	// "go:<version>" for a Go migration.
	Source string
	// RollbackSource is the path of the rollback file ("" when there is none).
	RollbackSource string
	// SQL is the text of the migration file ("" for a Go migration).
	SQL string
	// RollbackSQL is the text of the rollback file ("" when there is none).
	RollbackSQL string
	// Checksum is the hex SHA-256 of SQL, with CRLF line ends read as LF
	// ("go" for a Go migration, whose code cannot be hashed).
	Checksum string
	// NoTransaction reports the "-- qlsqlite:no-transaction" directive: the
	// statements run one by one outside a transaction.
	NoTransaction bool
	// ForeignKeys reports the "-- qlsqlite:foreign-keys on" directive: foreign
	// key enforcement (and so ON DELETE actions) stays on while it runs.
	ForeignKeys bool

	goUp, goDown GoFunc
}

// GoFunc is the body of a Go migration or of its rollback. It runs inside the
// migration's transaction, which also records the version; it must use tx
// (not the *sql.DB) for every statement, and return an error to roll back.
type GoFunc func(ctx context.Context, tx *sql.Tx) error

// GoMigration is a migration written in Go, registered with [WithGoMigrations].
// It runs in a transaction, on the migrator's dedicated connection, with the
// same checks after it as a SQL file. Its code cannot be stored in
// schema_versions, so Down needs the Down function to still be registered.
type GoMigration struct {
	// Version must be unique among all migrations, files included.
	Version int64
	// Description is stored in schema_versions and shown by Status.
	Description string
	// Up applies the migration. Required.
	Up GoFunc
	// Down reverts it; nil means the migration cannot be rolled back.
	Down GoFunc
	// ForeignKeys keeps foreign key enforcement on while Up or Down runs
	// (see the "-- qlsqlite:foreign-keys on" directive).
	ForeignKeys bool
}

// directives found in a script.
type directives struct {
	noTransaction bool
	foreignKeys   bool
}

const directivePrefix = "-- qlsqlite:"

// parseDirectives reads the "-- qlsqlite:" lines of a script. An unknown
// directive is an error: a misspelt no-transaction must not go unnoticed.
func parseDirectives(script string) (directives, error) {
	var d directives
	sc := bufio.NewScanner(strings.NewReader(script))
	sc.Buffer(make([]byte, 0, 64*1024), len(script)+1)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(strings.ToLower(text), directivePrefix) {
			continue
		}
		word := strings.ToLower(strings.Join(strings.Fields(text[len(directivePrefix):]), " "))
		switch word {
		case "no-transaction":
			d.noTransaction = true
		case "foreign-keys on":
			d.foreignKeys = true
		case "foreign-keys off":
			d.foreignKeys = false
		default:
			return d, fmt.Errorf("line %d: unknown directive %q (known: %sno-transaction, %sforeign-keys on, %sforeign-keys off)",
				line, text, directivePrefix, directivePrefix, directivePrefix)
		}
	}
	return d, sc.Err()
}

// checksum hashes a script, reading CRLF as LF so that a checkout on Windows
// does not look like an edit.
func checksum(script string) string {
	sum := sha256.Sum256([]byte(normalize(script)))
	return hex.EncodeToString(sum[:])
}

func normalize(script string) string { return strings.ReplaceAll(script, "\r\n", "\n") }

// rollbackDir is the directory of the first specified layout's rollback files.
const rollbackDir = "rollback"

type fileName struct {
	version     int64
	description string
	kind        string // "up", "down"
}

// parseName parses "001_initial_schema.sql", "001_x.up.sql", "001_x.down.sql"
// (top level) and "002_rollback.sql" (in rollback/).
func parseName(name string, inRollback bool) (fileName, error) {
	var f fileName
	base, ok := strings.CutSuffix(name, ".sql")
	if !ok {
		return f, errors.New("not a .sql file")
	}
	f.kind = "up"
	if inRollback {
		f.kind = "down"
	} else if b, ok := strings.CutSuffix(base, ".up"); ok {
		base = b
	} else if b, ok := strings.CutSuffix(base, ".down"); ok {
		base, f.kind = b, "down"
	}
	digits, rest, hasRest := strings.Cut(base, "_")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return f, errors.New(`the name must start with a version number followed by "_" (like 001_initial_schema.sql, 001_name.up.sql or 001_name.down.sql)`)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return f, fmt.Errorf("version %s: %w", digits, err)
	}
	if v < 1 {
		return f, errors.New("version 0 is reserved for the empty database: start at 1")
	}
	if hasRest && rest == "" {
		return f, errors.New(`nothing after "_": name the migration, or drop the "_"`)
	}
	f.version = v
	f.description = strings.ReplaceAll(rest, "_", " ")
	return f, nil
}

// loadSource reads every migration from fsys and the registered Go migrations.
// Files that do not end in .sql and directories other than rollback/ are
// ignored; a .sql file with an unparsable name, two migrations or two
// rollbacks with one version, and a rollback without its migration are errors
// naming the files.
func loadSource(fsys fs.FS, gos []GoMigration) ([]Migration, error) {
	src := &sourceSet{byVersion: map[int64]*Migration{}, downs: map[int64]string{}, downText: map[int64]string{}}
	if fsys != nil {
		if err := src.readDir(fsys, ".", false); err != nil {
			return nil, err
		}
		if err := src.readDir(fsys, rollbackDir, true); err != nil {
			return nil, err
		}
	}
	for _, g := range gos {
		if err := src.addGo(g); err != nil {
			return nil, err
		}
	}
	for v, file := range src.downs {
		m, ok := src.byVersion[v]
		if !ok {
			return nil, fmt.Errorf("%w: %s is a rollback of version %d, which has no migration file", ErrBadSource, file, v)
		}
		m.RollbackSource = file
		m.RollbackSQL = src.downText[v]
	}
	out := make([]Migration, 0, len(src.byVersion))
	for _, m := range src.byVersion {
		d, _ := parseDirectives(m.SQL) // checked when read
		m.NoTransaction = d.noTransaction
		if m.SQL != "" {
			m.ForeignKeys = d.foreignKeys
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Migration) int { return cmpInt(a.Version, b.Version) })
	return out, nil
}

// sourceSet gathers the migrations of a source as loadSource reads them.
type sourceSet struct {
	byVersion map[int64]*Migration
	downs     map[int64]string // version -> rollback file
	downText  map[int64]string // version -> its rollback's text
}

// readDir reads the .sql files of dir in fsys: rollbacks when inRollback,
// which may be missing.
func (src *sourceSet) readDir(fsys fs.FS, dir string, inRollback bool) error {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		if inRollback && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("migrate: reading migrations: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".sql") {
			continue
		}
		file := path.Join(dir, name)
		if dir == "." {
			file = name
		}
		if err := src.addFile(fsys, file, name, inRollback); err != nil {
			return err
		}
	}
	return nil
}

// addFile reads migration file (named name) from fsys and adds it.
func (src *sourceSet) addFile(fsys fs.FS, file, name string, inRollback bool) error {
	fn, err := parseName(name, inRollback)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadSource, file, err)
	}
	body, err := fs.ReadFile(fsys, file)
	if err != nil {
		return fmt.Errorf("migrate: %s: %w", file, err)
	}
	text := string(body)
	if _, err := parseDirectives(text); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadSource, file, err)
	}
	if fn.kind == "down" {
		if other, dup := src.downs[fn.version]; dup {
			return fmt.Errorf("%w: %s and %s are both rollbacks of version %d: keep one", ErrBadSource, other, file, fn.version)
		}
		src.downs[fn.version] = file
		src.downText[fn.version] = text
		return nil
	}
	if other, dup := src.byVersion[fn.version]; dup {
		return fmt.Errorf("%w: %s and %s have the same version %d: renumber one", ErrBadSource, other.Source, file, fn.version)
	}
	src.byVersion[fn.version] = &Migration{
		Version:     fn.version,
		Description: fn.description,
		Source:      file,
		SQL:         text,
		Checksum:    checksum(text),
	}
	return nil
}

// addGo adds a registered Go migration.
func (src *sourceSet) addGo(g GoMigration) error {
	name := "go:" + strconv.FormatInt(g.Version, 10)
	if g.Version < 1 {
		return fmt.Errorf("%w: %s: version must be 1 or more", ErrBadSource, name)
	}
	if g.Up == nil {
		return fmt.Errorf("%w: %s: Up is nil", ErrBadSource, name)
	}
	if other, dup := src.byVersion[g.Version]; dup {
		return fmt.Errorf("%w: %s and %s have the same version %d: renumber one", ErrBadSource, other.Source, name, g.Version)
	}
	if f, dup := src.downs[g.Version]; dup {
		return fmt.Errorf("%w: %s is a rollback file for Go migration %s: put the rollback in its Down function", ErrBadSource, f, name)
	}
	src.byVersion[g.Version] = &Migration{
		Version:     g.Version,
		Description: g.Description,
		Source:      name,
		Checksum:    "go",
		ForeignKeys: g.ForeignKeys,
		goUp:        g.Up,
		goDown:      g.Down,
	}
	return nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
