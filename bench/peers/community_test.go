package peers

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The workloads of cvilsmeier/go-sqlite-bench, the benchmark the Go SQLite
// community compares drivers on, after its definitions (simple, real,
// complex, many, large, concurrent) with smaller sizes, so that a round of
// every driver takes minutes, not hours. Its schema: users, articles by
// users, comments on articles, each with an index on its creation time and
// its parent.

const communitySchema = `
CREATE TABLE users (id INTEGER PRIMARY KEY NOT NULL, created INTEGER NOT NULL, email TEXT NOT NULL, active INTEGER NOT NULL);
CREATE INDEX users_created ON users(created);
CREATE TABLE articles (id INTEGER PRIMARY KEY NOT NULL, created INTEGER NOT NULL, userId INTEGER NOT NULL REFERENCES users(id), text TEXT NOT NULL);
CREATE INDEX articles_created ON articles(created);
CREATE INDEX articles_userId ON articles(userId);
CREATE TABLE comments (id INTEGER PRIMARY KEY NOT NULL, created INTEGER NOT NULL, articleId INTEGER NOT NULL REFERENCES articles(id), text TEXT NOT NULL);
CREATE INDEX comments_created ON comments(created);
CREATE INDEX comments_articleId ON comments(articleId);`

var created = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

func must(b *testing.B, err error) {
	if err != nil {
		b.Helper()
		b.Fatal(err)
	}
}

// community opens an empty database with the community schema.
func community(b *testing.B, d Driver) *sql.DB {
	db := openEmpty(b, d)
	_, err := db.Exec(communitySchema)
	must(b, err)
	return db
}

// insertUsers inserts n users in one transaction with a prepared
// statement, each with an email of the given extra length.
func insertUsers(b *testing.B, db *sql.DB, first, n, extra int) {
	tx, err := db.Begin()
	must(b, err)
	stmt, err := tx.Prepare(`INSERT INTO users (id, created, email, active) VALUES (?, ?, ?, ?)`)
	must(b, err)
	pad := strings.Repeat("x", extra)
	for i := first; i < first+n; i++ {
		_, err := stmt.Exec(i+1, created+int64(i), fmt.Sprintf("user%d@example.com%s", i, pad), i%2)
		must(b, err)
	}
	must(b, stmt.Close())
	must(b, tx.Commit())
}

// settle checkpoints the WAL a set-up wrote, so that no driver carries
// the set-up's checkpoint into the measurement (qlsqlite checkpoints on a
// goroutine of its own, the others inside the writer's last commit).
func settle(b *testing.B, db *sql.DB) *sql.DB {
	_, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	must(b, err)
	return db
}

// queryUsers reads every user, all columns, and returns how many.
func queryUsers(b *testing.B, db *sql.DB) int {
	rows, err := db.Query(`SELECT id, created, email, active FROM users ORDER BY id`)
	must(b, err)
	n := 0
	for rows.Next() {
		var id, created int64
		var email string
		var active bool
		must(b, rows.Scan(&id, &created, &email, &active))
		n++
	}
	must(b, rows.Err())
	must(b, rows.Close())
	return n
}

// BenchmarkSimple: insert 100,000 users in one transaction, then read
// them all once (go-sqlite-bench: 1,000,000). One op is both, on a new
// database.
func BenchmarkSimple(b *testing.B) {
	const n = 100_000
	each(b, func(*testing.B, Driver) *sql.DB { return nil }, func(b *testing.B, _ *sql.DB) {
		d := driverOf(b)
		for b.Loop() {
			b.StopTimer()
			db := community(b, d)
			b.StartTimer()
			insertUsers(b, db, 0, n, 0)
			if got := queryUsers(b, db); got != n {
				b.Fatalf("read %d users, want %d", got, n)
			}
		}
	})
}

// insertBlog inserts users, their articles and the comments on each, one
// transaction per user.
func insertBlog(b *testing.B, db *sql.DB, users, articles, comments int) {
	aid, cid := 0, 0
	for u := 1; u <= users; u++ {
		tx, err := db.Begin()
		must(b, err)
		_, err = tx.Exec(`INSERT INTO users (id, created, email, active) VALUES (?, ?, ?, ?)`, u, created, fmt.Sprintf("user%d@example.com", u), 1)
		must(b, err)
		ins, err := tx.Prepare(`INSERT INTO articles (id, created, userId, text) VALUES (?, ?, ?, ?)`)
		must(b, err)
		inc, err := tx.Prepare(`INSERT INTO comments (id, created, articleId, text) VALUES (?, ?, ?, ?)`)
		must(b, err)
		for range articles {
			aid++
			_, err := ins.Exec(aid, created+int64(aid), u, "article text, not very long but long enough to be realistic for a blog")
			must(b, err)
			for range comments {
				cid++
				_, err := inc.Exec(cid, created+int64(cid), aid, "a comment on the article")
				must(b, err)
			}
		}
		must(b, ins.Close())
		must(b, inc.Close())
		must(b, tx.Commit())
	}
}

// BenchmarkReal: a blog's life: 100 users with 20 articles each and 10
// comments on each article, one transaction per user, then 100 page views
// (a user's articles joined with the user, an article's comments).
func BenchmarkReal(b *testing.B) {
	each(b, func(*testing.B, Driver) *sql.DB { return nil }, func(b *testing.B, _ *sql.DB) {
		d := driverOf(b)
		for b.Loop() {
			b.StopTimer()
			db := community(b, d)
			b.StartTimer()
			insertBlog(b, db, 100, 20, 10)
			for i := range 100 {
				rows, err := db.Query(`SELECT a.id, a.created, a.text, u.email FROM articles a JOIN users u ON u.id = a.userId WHERE u.id = ? ORDER BY a.created DESC`, 1+i%100)
				must(b, err)
				n := drain(b, rows, 4)
				if n != 20 {
					b.Fatalf("user %d has %d articles, want 20", 1+i%100, n)
				}
				rows, err = db.Query(`SELECT id, created, text FROM comments WHERE articleId = ? ORDER BY created`, 1+i*20)
				must(b, err)
				drain(b, rows, 3)
			}
		}
	})
}

// BenchmarkComplex: 20 users with 50 articles each and 20 comments on each
// article, in one transaction, then one query joining all three tables
// over every comment (go-sqlite-bench: 200 users, 100 articles, 20
// comments).
func BenchmarkComplex(b *testing.B) {
	const users, articles, comments = 20, 50, 20
	each(b, func(*testing.B, Driver) *sql.DB { return nil }, func(b *testing.B, _ *sql.DB) {
		d := driverOf(b)
		for b.Loop() {
			b.StopTimer()
			db := community(b, d)
			b.StartTimer()
			insertBlog(b, db, users, articles, comments)
			rows, err := db.Query(`SELECT u.id, u.email, a.id, a.text, c.id, c.text FROM users u
				JOIN articles a ON a.userId = u.id JOIN comments c ON c.articleId = a.id
				ORDER BY u.created, a.created, c.created`)
			must(b, err)
			if n := drain(b, rows, 6); n != users*articles*comments {
				b.Fatalf("joined %d rows, want %d", n, users*articles*comments)
			}
		}
	})
}

// drain reads every row of ncols columns and returns how many.
func drain(b *testing.B, rows *sql.Rows, ncols int) int {
	vals := make([]any, ncols)
	ptrs := make([]any, ncols)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		must(b, rows.Scan(ptrs...))
		n++
	}
	must(b, rows.Err())
	must(b, rows.Close())
	return n
}

// BenchmarkMany: a table of N users read whole, over and over: one op is
// one read of all N.
func BenchmarkMany(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("n=%d", n), readAllUsers(n, 0))
	}
}

// BenchmarkLarge: 200 users whose rows carry N bytes each, read whole: one
// op is one read of all 200 (go-sqlite-bench: 10,000 users).
func BenchmarkLarge(b *testing.B) {
	for _, size := range []int{50_000, 100_000, 200_000} {
		b.Run(fmt.Sprintf("size=%d", size), readAllUsers(200, size))
	}
}

// readAllUsers is a benchmark, on each driver, of reading whole the given
// number of users whose rows carry size bytes each.
func readAllUsers(users, size int) func(*testing.B) {
	return func(b *testing.B) {
		each(b, func(b *testing.B, d Driver) *sql.DB {
			db := community(b, d)
			insertUsers(b, db, 0, users, size)
			return settle(b, db)
		}, func(b *testing.B, db *sql.DB) {
			for b.Loop() {
				if got := queryUsers(b, db); got != users {
					b.Fatalf("read %d users, want %d", got, users)
				}
			}
		})
	}
}

// BenchmarkConcurrent: 100,000 users read whole by N goroutines at once:
// one op is the N reads (go-sqlite-bench: 1,000,000 users).
func BenchmarkConcurrent(b *testing.B) {
	const users = 100_000
	for _, n := range []int{2, 4, 8} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			each(b, func(b *testing.B, d Driver) *sql.DB {
				db := community(b, d)
				insertUsers(b, db, 0, users, 0)
				return settle(b, db)
			}, func(b *testing.B, db *sql.DB) {
				for b.Loop() {
					var wg sync.WaitGroup
					for range n {
						wg.Go(func() {
							if got := queryUsers(b, db); got != users {
								b.Errorf("read %d users, want %d", got, users)
							}
						})
					}
					wg.Wait()
				}
			})
		})
	}
}

// driverOf returns the driver of the sub-benchmark b (named driver=NAME).
func driverOf(b *testing.B) Driver {
	name := b.Name()[strings.LastIndex(b.Name(), "driver=")+len("driver="):]
	if i := strings.IndexByte(name, '-'); i >= 0 {
		name = name[:i]
	}
	for _, d := range drivers {
		if d.Name == name {
			return d
		}
	}
	b.Fatalf("no driver %q", name)
	return Driver{}
}
