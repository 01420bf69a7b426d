// Package conformance proves that qlpg changes nothing a user of pgx's
// database/sql adapter relies on.
//
// Every case runs against pgx's adapter ("pgx") and against "qlpg", each
// on a fresh database of a PostgreSQL server the tests start, and the two
// must observe the same results: values and their Go types, column types,
// errors with their SQLSTATE and what they match with errors.Is and
// errors.As, rows affected. Test names say which driver ran:
// TestValues/scalars/pgx and TestValues/scalars/qlpg.
//
// Where qlpg deliberately adds something (a statement stopped by a deadline
// also matches context.DeadlineExceeded), the case observes what both share
// and asserts the addition on qlpg alone.
//
//	go test ./conformance (from the pg module)
package conformance
