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
//		go test -run '^$' -bench BenchmarkPropose -benchtime 10x -count 5 ./internal/rewrite
//
//	  - all: parse, rules, plans and the data check of every proposal;
//	  - plans: parse, rules and plans only, the part that runs no statement;
//	  - originals: the 20 statements run once each, the unit of comparison.
func BenchmarkPropose(b *testing.B) {
	db := tradingDB(b)
	ctx := context.Background()
	err := advise.WithConn(ctx, db, func(c *sqlite3.Conn) error {
		b.Run("all", func(b *testing.B) {
			for b.Loop() {
				for _, s := range inefficientStatements {
					if _, err := Propose(ctx, c, s.sql, nil, Options{}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
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
		b.Run("originals", func(b *testing.B) {
			stmts := map[string]*sqlite3.Stmt{}
			defer func() {
				for _, st := range stmts {
					st.Close()
				}
			}()
			for b.Loop() {
				for i, s := range inefficientStatements {
					if _, err := r.run(ctx, stmts, shape{sql: s.sql}, args[i]); err != nil {
						b.Fatal(s.sql, err)
					}
				}
			}
		})
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
