#!/usr/bin/env bash
# Runs the benchmarks of qlsqlite against the raw ncruces driver, in the same
# run, and prints them side by side with benchstat (time ratios and the
# significance of each difference).
#
#   bench/run.sh                       # everything, 10 rounds
#   COUNT=5 BENCH='PointSelect' bench/run.sh
#
# Raw results go to bench/results/<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

count=${COUNT:-10}
filter=${BENCH:-.}
benchtime=${BENCHTIME:-1s}
mkdir -p bench/results
out=bench/results/$(date -u +%Y%m%dT%H%M%SZ).txt

go test -run '^$' -bench "$filter" -benchmem -count "$count" -benchtime "$benchtime" ./bench | tee "$out"

benchstat=(go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da)
echo
echo "== qlsqlite against the raw driver (same run): benchstat -col /driver $out"
"${benchstat[@]}" -col /driver "$out"
echo
echo "== ratios (qlsqlite time / raw time)"
go run ./bench/ratio "$out"
