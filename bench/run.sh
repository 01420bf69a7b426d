#!/usr/bin/env bash
# Runs the benchmarks of qlsqlite against the raw ncruces driver, in the same
# run, and prints them side by side with benchstat (time ratios and the
# significance of each difference).
#
# The rounds are separate `go test -count 1` runs, so that within a round
# each benchmark runs on both drivers back to back: on a shared machine whose
# load drifts, both drivers see the same drift. Every other round runs
# qlsqlite first (QL_FIRST), so that neither driver always runs second.
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

go test -c -o bench/results/bench.test ./bench
for round in $(seq "$count"); do
  echo "# round $round of $count" >&2
  first=""
  if [ $((round % 2)) -eq 0 ]; then first=1; fi
  (cd bench && QL_FIRST=$first ./results/bench.test -test.run '^$' -test.bench "$filter" -test.benchmem -test.count 1 -test.benchtime "$benchtime") | tee -a "$out"
done
rm -f bench/results/bench.test

benchstat=(go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da)
echo
echo "== qlsqlite against the raw driver (same run): benchstat -col /driver $out"
"${benchstat[@]}" -col /driver "$out"
echo
echo "== ratios (qlsqlite time / raw time)"
go run ./bench/ratio "$out"
