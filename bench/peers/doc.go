// Package peers measures qlsqlite against the Go SQLite drivers users
// choose between: the raw ncruces driver qlsqlite wraps, mattn/go-sqlite3
// (cgo) and modernc.org/sqlite, on the same workloads with the same pragmas,
// and XSAM/otelsql over the same driver for the cost of telemetry.
//
// It is a module of its own, so that the peer drivers never enter the root
// module's dependency graph. mattn/go-sqlite3 registers "sqlite3", as
// ncruces does: its files build only with the mattn tag, and the binary is
// linked with mattn's driver name changed:
//
//	go test -tags mattn -ldflags '-X github.com/mattn/go-sqlite3.driverName=mattn' -run '^$' -bench . .
//
// Without the tag the same command (less the flags) compares the other
// three. run.sh runs the rounds, interleaved, and prints the table
// (medians, ratios and their range over the rounds).
package peers
