// Package bench measures qlsqlite against the raw ncruces driver it wraps,
// in the same run, with identical pragmas, on the trading platform's schema.
//
// Every benchmark has one sub-benchmark per driver, named driver=sqlite3 and
// driver=qlsqlite, so that benchstat can put them side by side:
//
//	go test -run '^$' -bench . -benchmem -count 10 ./bench > bench.txt
//	benchstat -col /driver bench.txt
//
// bench/run.sh does both and prints the ratio table.
package bench
