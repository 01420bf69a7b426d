// Package rewrite proposes rewrites of SELECT statements that SQLite runs
// better, each one checked before it is called verified. It is the engine
// behind qlsqlite.Rewrite, beside the index advisor (internal/advise).
//
// # Rules
//
// Each rule lives in its own function, whose documentation gives the
// SQLite-specific reason it helps and the proof that its rewrite returns the
// same rows, by SQLite's rules for NULL, affinity, collation and case (or,
// for a hint, what must hold for it to):
//
//   - [RuleCaseFold] lower(col) = ? → col COLLATE NOCASE = ? AND lower(col) = ?
//   - [RuleDateRange] date(col) = ? → a range of col (a hint)
//   - [RuleArithmetic] col + 0 > ? → col > ?
//   - [RuleLikePrefix] col LIKE 'abc%' → a range of col
//   - [RuleOrUnion] a OR b → UNION ALL of a and (b AND a IS NOT TRUE)
//   - [RuleNotIn] NOT IN (subquery) → NOT EXISTS (a correctness trap when NULLs can occur)
//   - [RuleCount] count(*) > 0 → EXISTS
//   - [RuleInExists] correlated IN (subquery) → EXISTS, a semi-join
//   - [RuleAffinity] text_col = numeric expression → a text comparison (a hint)
//   - [RuleKeyset] LIMIT ? OFFSET ? → keyset pagination (a flag: it changes the API)
//   - [RuleSelectStar] SELECT * past a covering index → the covered columns (a flag)
//
// The rules that rewrite a condition keep the original one as a filter and
// add beside it a condition on the bare column that the original implies:
// the rewrite can then only drop rows, never add any, and it is equivalent
// exactly when the implication holds, which is what each rule proves. Where
// a value of another storage class could break it (a BLOB in a TEXT column,
// text in a REAL one: only STRICT tables rule them out), the rule adds a
// range that catches that class (numbers sort before text, text before
// blobs, in every index), and offers the rewrite without it as a hint that
// says what the column must not hold.
//
// # Verification
//
// A statement is parsed (parse.go: SQLite's SELECT grammar as far as the
// rules look into it; anything else makes it unsupported, never misread),
// its names resolved against the schema, and every rule proposes what it
// can. A proposal is kept when EXPLAIN QUERY PLAN on the database shows it
// cheaper than the original (plan.go: fewer full scans, temporary b-trees
// or correlated subqueries, or more index constraints with nothing worse),
// or when its rule proposes it whatever the plan (a correctness trap, a
// flag, count(*) > 0, which EXISTS never makes worse).
//
// A proposal that is equivalent and cheaper, and every hint, is then run
// against the original on the live data (verify.go): in one read
// transaction, within a time budget, with the caller's arguments or
// arguments sampled from the rows (sample.go). Rows are compared as a
// multiset, values with their storage class, and in ORDER BY sequence where
// there is one. A proposal is Verified only when it is equivalent, cheaper,
// returned the same rows and did no more virtual machine steps; everything
// else is a hint whose Note says why.
//
// The data is a guard against mistakes in a rule, not the proof: the
// differential test (differential_test.go) runs every equivalent variant of
// every rule against its original on data made to break them.
package rewrite
