// Package conformance proves that qlsqlite changes nothing a user relies on.
//
// Its tests are one table-driven suite: every case runs against the raw
// ncruces driver ("sqlite3"), against "qlsqlite", and against "qlsqlite" with
// group commit on ("_group_commit=on"), each on a fresh database file, and
// all must observe the same results: values and their Go types, errors and
// what they match with errors.Is, rows affected, last insert ids. Test names
// say which ran: TestValues/named_args/sqlite3,
// TestValues/named_args/qlsqlite and
// TestValues/named_args/qlsqlite_group_commit, and the parent test compares
// each with the raw driver.
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
