// Package conformance proves that qlsqlite changes nothing a user relies on.
//
// Its tests are one table-driven suite: every case runs against the raw
// ncruces driver ("sqlite3") and against "qlsqlite", each on a fresh database
// file, and the two must observe the same results: values and their Go types,
// errors and what they match with errors.Is, rows affected, last insert ids.
// Test names say which driver ran: TestValues/named_args/sqlite3 and
// TestValues/named_args/qlsqlite, and the parent test compares the two.
//
// Where qlsqlite deliberately adds something (a statement stopped by a
// deadline also matches context.DeadlineExceeded), the case observes what
// both share and asserts the addition on qlsqlite alone.
//
// Run it with:
//
//	go test ./conformance
//	go test -race ./conformance
package conformance
