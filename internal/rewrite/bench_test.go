package rewrite

import (
	"context"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/advise"
)

// BenchmarkPropose measures the cost of Propose on the 20 inefficient
// statements (one op is all 20), on the test's trading database (300 users,
// 6,000 trades, 2,000 orders), against running the 20 originals once each
// with sampled arguments, in the same run:
//
//	go test -run '^$' -bench BenchmarkPropose -benchmem -benchtime 5x -count 5 ./internal/rewrite
//
// all is parse, rules, plans and the data check of every proposal; plans is
// parse, rules and plans only, the part that runs no statement; originals is
// the 20 statements run once each, the unit of comparison. all-but-in and
// originals-but-in leave out the correlated IN, whose original alone runs
// for seconds.
func BenchmarkPropose(b *testing.B) {
	db := tradingDB(b)
	ctx := context.Background()
	err := advise.WithConn(ctx, db, func(c *sqlite3.Conn) error {
		propose := func(b *testing.B, skip string) {
			for b.Loop() {
				for _, s := range inefficientStatements {
					if s.rule == skip {
						continue
					}
					if _, err := Propose(ctx, c, s.sql, nil, Options{}); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.Run("all", func(b *testing.B) { propose(b, "") })
		// The correlated IN statement runs for seconds on its own (that is
		// the point of the rule), and its data check stops at the 2 s
		// budget: without it, the other 19 show what the checks cost.
		b.Run("all-but-in", func(b *testing.B) { propose(b, RuleInExists) })
		b.Run("plans", func(b *testing.B) {
			for b.Loop() {
				for _, s := range inefficientStatements {
					q, err := read(c, s.sql)
					if err != nil || q == nil {
						b.Fatal(s.sql, err)
					}
					for _, r := range rules {
						for _, cand := range r(q) {
							q.choose(cand)
						}
					}
				}
			}
		})
		r := &runner{c: c, opts: Options{}.withDefaults()}
		var args [][]any
		for _, s := range inefficientStatements {
			q, err := read(c, s.sql)
			if err != nil {
				b.Fatal(err)
			}
			sets, why, err := r.sample(ctx, q.s, q.t, 1)
			if err != nil || why != "" {
				b.Fatal(s.sql, why, err)
			}
			args = append(args, sets[0])
		}
		originals := func(b *testing.B, skip string) {
			stmts := map[string]*sqlite3.Stmt{}
			defer func() {
				for _, st := range stmts {
					st.Close()
				}
			}()
			for b.Loop() {
				for i, s := range inefficientStatements {
					if s.rule == skip {
						continue
					}
					if _, err := r.run(ctx, stmts, shape{sql: s.sql}, args[i]); err != nil {
						b.Fatal(s.sql, err)
					}
				}
			}
		}
		b.Run("originals", func(b *testing.B) { originals(b, "") })
		b.Run("originals-but-in", func(b *testing.B) { originals(b, RuleInExists) })
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
