package qlsqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/vfs/adiantum"
)

const (
	testHexKey  = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testTextKey = "correct horse battery staple 7f3a"
	testSecret  = "TOP-SECRET-ACCOUNT-7f3a"
)

func TestDriverEncryptionParams(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		query string
		want  url.Values
	}{
		{"vfs=adiantum&hexkey=" + testHexKey, url.Values{"vfs": {"adiantum"}, "hexkey": {testHexKey}}},
		{"vfs=adiantum&_pragma=textkey('" + testTextKey + "')&_timeout=5s", url.Values{"vfs": {"adiantum"}, "textkey": {testTextKey}}},
		{"_pragma=busy_timeout(1000)", nil},
		{"vfs=memdb", nil},
	} {
		db, err := sql.Open(DriverName, "file:"+filepath.ToSlash(filepath.Join(dir, "x.db"))+"?"+tt.query)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := db.Driver().(interface{ EncryptionParams() url.Values })
		if !ok {
			t.Fatalf("%T has no EncryptionParams", db.Driver())
		}
		if got := p.EncryptionParams(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: EncryptionParams = %v, want %v", tt.query, got, tt.want)
		}
		db.Close()
	}
	if got := (&Driver{}).EncryptionParams(); got != nil {
		t.Errorf("the registered driver: %v, want nil", got)
	}
}

// TestDSNErrorsNeverQuoteTheKey: a DSN with a key that qlsqlite, ncruces or
// SQLite rejects gets an error that names the problem, never the key.
func TestDSNErrorsNeverQuoteTheKey(t *testing.T) {
	dir := filepath.ToSlash(t.TempDir())
	const k = testHexKey
	for _, tt := range []struct {
		dsn, want string
	}{
		{dir + "/x.db?vfs=adiantum&hexkey=" + k, "file: URI"},
		{"file:" + dir + "/x.db?vfs=adiantum&hexkey=" + k[:40], "32-byte key"},
		{"file:" + dir + "/x.db?vfs=adiantum&hexkey=" + k + "%zz", "malformed"},
		{"file:" + dir + "/x%zz.db?vfs=adiantum&hexkey=" + k, "invalid URL escape"},
		{"file:" + dir + "/x.db?vfs=adiantum&hexkey=" + k + "&textkey=" + k, "one key"},
		{"file:" + dir + "/x.db?vfs=adiantum&_pragma=textkey('" + k + "'" + k + "')", "_pragma"}, // SQLite: near "<key>": syntax error
	} {
		db, err := Open(tt.dsn, WithPool(PoolConfig{MinOpen: 1}))
		if err == nil {
			db.Close()
			t.Errorf("Open(%q): no error", tt.dsn)
			continue
		}
		if strings.Contains(err.Error(), k[:40]) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) = %q, want an error saying %q without the key", tt.dsn, err, tt.want)
		}
	}
}

// TestObservabilityNeverShowsTheKey runs statements, a failing one and a
// slow-query log on an encrypted database, and looks for the key in every
// span, metric, log line, Stats and Health.
func TestObservabilityNeverShowsTheKey(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	old := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(old) })

	for i, key := range []string{"hexkey=" + testHexKey, "_pragma=textkey('" + url.PathEscape(testTextKey) + "')"} {
		// The same key, set again by the application through the pool: its
		// statement text is recorded as a fingerprint, literals replaced.
		pragma := []string{"PRAGMA hexkey = '" + testHexKey + "'", "PRAGMA textkey = '" + testTextKey + "'"}[i]
		logs.Reset()
		rig := newOtelRig(t)
		// One connection: with textkey each one derives the key (Argon2id).
		db, path := rig.open(t, "?vfs=adiantum&"+key, WithSlowQueryLog(time.Nanosecond), WithLogger(logger), WithPool(PoolConfig{MinOpen: 1, MaxOpen: 1}))
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE accounts (id INTEGER PRIMARY KEY, note TEXT)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO accounts (note) VALUES (?)`, testSecret); err != nil {
			t.Fatal(err)
		}
		var note string
		if err := db.QueryRowContext(ctx, `SELECT note FROM accounts`).Scan(&note); err != nil || note != testSecret {
			t.Fatalf("reading back: %q, %v", note, err)
		}
		if _, err := db.ExecContext(ctx, pragma); err != nil {
			t.Fatal(err)
		}
		_, qerr := db.ExecContext(ctx, `INSERT INTO nosuch VALUES (1)`)
		stats, err := Stats(db)
		if err != nil {
			t.Fatal(err)
		}
		health, err := Health(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if health.Storage.Path != path {
			t.Errorf("Health's storage path = %q, want %q", health.Storage.Path, path)
		}
		var spans []string
		for _, s := range rig.spans.Ended() {
			spans = append(spans, fmt.Sprintf("%s %v %v %v", s.Name(), s.Attributes(), s.Events(), s.Status()))
		}
		out := map[string]string{
			"error":   fmt.Sprint(qerr),
			"stats":   jsonOf(t, stats),
			"health":  jsonOf(t, health),
			"spans":   strings.Join(spans, "\n"),
			"metrics": fmt.Sprintf("%+v", rig.metrics(t)),
			"logs":    logs.String(),
			"driver":  fmt.Sprintf("%v %+v", db.Driver(), db.Driver()),
		}
		if !strings.Contains(out["logs"], "INSERT INTO accounts") || !strings.Contains(out["logs"], "PRAGMA") || len(spans) == 0 || !strings.Contains(out["spans"], "db.namespace") {
			t.Fatalf("the rig recorded nothing: logs %q, %d spans", out["logs"], len(spans))
		}
		for what, s := range out {
			for _, secret := range []string{testHexKey, testTextKey, url.PathEscape(testTextKey)} {
				if strings.Contains(s, secret) {
					t.Errorf("%s: %s shows the key", key[:7], what)
				}
			}
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(testSecret)) || bytes.HasPrefix(b, []byte("SQLite format 3")) {
			t.Errorf("%s: the database file is not encrypted", key[:7])
		}
		db.Close()
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
