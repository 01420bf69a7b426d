package qlsqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/advise"
	"github.com/quantumleap/qlsqlite/internal/rewrite"
)

// A QueryRewrite is a rewrite of a statement that [Rewrite] proposes, with
// its proof. (Go does not let a type share the function's name, so the
// function is Rewrite and the type QueryRewrite.)
//
// A rewrite is Verified only when all of these hold:
//   - its rule makes it equivalent by construction (Equivalent): it returns
//     the same rows as Original for every content of the database and every
//     argument, by SQLite's rules for NULL, affinity, collation and case,
//     which each rule's documentation spells out;
//   - EXPLAIN QUERY PLAN shows it cheaper on the database: a full scan
//     became a search, a temporary b-tree (a sort) or a correlated
//     subquery disappeared, or a search uses more index constraints, with
//     nothing worse;
//   - on the live data, in a read transaction within a time budget, it
//     returned the same rows as Original (as a multiset, in the same ORDER
//     BY sequence where there is one) for the arguments given, or for
//     arguments sampled from the data when none were, and did no more work.
//
// Anything less is a hint: Verified is false and Note says why and what
// must hold for the rewrite to be right.
type QueryRewrite struct {
	// Rule names the rule that proposes it: one of the Rewrite* constants.
	Rule string
	// Original is the statement as given.
	Original string
	// SQL is the rewritten statement. It takes the same arguments as
	// Original: positional parameters are numbered (?1, ?2, ...) because a
	// rewrite may use one twice, named ones keep their names. The exception
	// is RewriteKeyset, which changes the arguments, as its Note says.
	SQL string
	// Before and After are the EXPLAIN QUERY PLAN of Original and SQL on the
	// database, one line per plan row as the sqlite3 shell prints them.
	Before, After []string
	// Equivalent reports that the rule makes SQL return the same rows as
	// Original whatever the data and the arguments.
	Equivalent bool
	// Verified reports that the rewrite is equivalent, cheaper, and was
	// seen to return the same rows on the live data.
	Verified bool
	// Note explains the rule's reason, what was checked, and for a hint
	// what must hold.
	Note string
}

// The rules a [QueryRewrite] comes from.
const (
	// lower(col) = ? → col COLLATE NOCASE = ? AND lower(col) = ?, where an
	// index in NOCASE collation serves the column.
	RewriteCaseFold = rewrite.RuleCaseFold
	// date(col) = ? → a range of col; a hint: it holds only while col is
	// text in SQLite's date format.
	RewriteDateRange = rewrite.RuleDateRange
	// col + 0 > ? → a comparison of the bare column.
	RewriteArithmetic = rewrite.RuleArithmetic
	// col LIKE 'abc%' that SQLite's LIKE optimisation leaves out → a range.
	RewriteLikePrefix = rewrite.RuleLikePrefix
	// a OR b that SQLite scans for → UNION ALL of a and (b AND a IS NOT TRUE).
	RewriteOrUnion = rewrite.RuleOrUnion
	// x NOT IN (subquery) → NOT EXISTS; a correctness trap when NULLs can
	// occur.
	RewriteNotIn = rewrite.RuleNotIn
	// count(*) > 0 → EXISTS.
	RewriteCountExists = rewrite.RuleCount
	// a correlated x IN (subquery) → EXISTS, a semi-join.
	RewriteInExists = rewrite.RuleInExists
	// text_col = numeric expression, which no index can serve → a text
	// comparison; a hint.
	RewriteAffinity = rewrite.RuleAffinity
	// LIMIT ? OFFSET ? → keyset pagination; a flag, it changes the API.
	RewriteKeyset = rewrite.RuleKeyset
	// SELECT * past an index that would cover the columns read → the
	// covered columns; a flag.
	RewriteSelectStar = rewrite.RuleSelectStar
)

// RewriteOptions tune [RewriteOptions.Rewrite]. The zero value is what
// [Rewrite] uses.
type RewriteOptions struct {
	// Budget bounds the time the data check of one statement may take
	// (running the original and its rewrites on the live data); default 2
	// seconds. A rewrite whose check does not finish in time stays a hint.
	// A deadline of ctx that comes earlier ends the check earlier.
	Budget time.Duration
	// MaxRows is the largest result the data check reads from one run,
	// default 100,000 rows; a larger one leaves the rewrite a hint.
	MaxRows int
	// Samples is how many argument sets are sampled from the data for a
	// statement given without arguments, default 3.
	Samples int
}

// Rewrite proposes rewrites of query on db, with RewriteOptions' defaults;
// see [RewriteOptions.Rewrite].
func Rewrite(ctx context.Context, db *sql.DB, query string, args ...any) ([]QueryRewrite, error) {
	return RewriteOptions{}.Rewrite(ctx, db, query, args...)
}

// Rewrite proposes rewrites of query, one SELECT statement, on db: each a
// [QueryRewrite], verified where it can be. args are the statement's
// arguments, as database/sql takes them (sql.Named included); without them,
// arguments are sampled from the data. A statement no rule improves gets
// none; so does a statement that is not a SELECT, which is never run.
//
// Rewrite changes nothing in db. It prepares the statements and reads their
// plans, and runs the original and a rewrite (both read-only) only to
// compare them, in a transaction it rolls back.
//
// A query that does not prepare returns an error that [errors.As] finds as
// an [*AdviceQueryError].
func (o RewriteOptions) Rewrite(ctx context.Context, db *sql.DB, query string, args ...any) ([]QueryRewrite, error) {
	var out []QueryRewrite
	err := advise.WithConn(ctx, db, func(c *sqlite3.Conn) error {
		rs, err := rewrite.Propose(ctx, c, query, args, rewrite.Options(o))
		for _, r := range rs {
			out = append(out, publicRewrite(r))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("qlsqlite: rewrite: %w", err)
	}
	return out, nil
}

func publicRewrite(r rewrite.Rewrite) QueryRewrite {
	return QueryRewrite{Rule: r.Rule, Original: r.Original, SQL: r.SQL, Before: planLines(r.Before), After: planLines(r.After),
		Equivalent: r.Equivalent, Verified: r.Verified, Note: r.Note}
}

func planLines(p advise.Plan) []string {
	if len(p) == 0 {
		return nil
	}
	return strings.Split(p.String(), "\n")
}

// RewritesByFingerprint proposes rewrites for the statements behind
// fingerprints, with arguments sampled from the data, and returns them by
// fingerprint ID; a fingerprint without a proposal is not in the map. It is
// what a monitoring page needs to say that a fingerprint has a verified
// rewrite (see [QueryRewrite.Verified]).
//
// Without fingerprints, it takes the [MaxWorkloadQueries] statements with
// the largest total time from the database's [WorkloadReporter] (the
// qlsqlite driver is one), or returns [ErrNoWorkload].
//
// A fingerprint whose text does not prepare does not stop the others: the
// result holds the rest, together with an error joining one
// [*AdviceQueryError] per such fingerprint. Literals are placeholders in a
// fingerprint, so rules that read a literal (a LIKE pattern, an OFFSET) see
// a parameter instead. Each statement's data check has its own budget
// (RewriteOptions.Budget), so this runs for up to that long per statement:
// call it on demand or in the background, not on a request path.
func (o RewriteOptions) RewritesByFingerprint(ctx context.Context, db *sql.DB, fingerprints ...Fingerprint) (map[string][]QueryRewrite, error) {
	if len(fingerprints) == 0 {
		w, err := adviseWorkloadOf(ctx, db)
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(w, func(a, b WorkloadQuery) int { return cmp.Compare(b.Total, a.Total) })
		for _, q := range w[:min(len(w), MaxWorkloadQueries)] {
			fingerprints = append(fingerprints, FingerprintOf(q.Query))
		}
	}
	out := map[string][]QueryRewrite{}
	var failed []error
	for _, fp := range fingerprints {
		if _, done := out[fp.ID]; done {
			continue
		}
		rs, err := o.Rewrite(ctx, db, fp.Text)
		var qe *AdviceQueryError
		switch {
		case errors.As(err, &qe):
			failed = append(failed, qe)
			continue
		case err != nil:
			return out, err
		}
		if len(rs) > 0 {
			out[fp.ID] = rs
		}
	}
	return out, errors.Join(failed...)
}

// RewritesByFingerprint is [RewriteOptions.RewritesByFingerprint] with the
// default options.
func RewritesByFingerprint(ctx context.Context, db *sql.DB, fingerprints ...Fingerprint) (map[string][]QueryRewrite, error) {
	return RewriteOptions{}.RewritesByFingerprint(ctx, db, fingerprints...)
}
