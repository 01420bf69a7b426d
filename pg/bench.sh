#!/usr/bin/env bash
# Runs qlpg's benchmarks against pgx's database/sql adapter alone, on the same
# PostgreSQL server (started by the test binary), in rounds of -count 1 so that
# within a round both drivers run back to back; every other round runs qlpg
# first (QL_FIRST). Prints the ratio qlpg / pgx per benchmark, round by round
# (median and range), with bench/ratio.
#
#   pg/bench.sh                              # 10 rounds
#   COUNT=5 BENCH=PointSelectPrepared pg/bench.sh
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-10}
filter=${BENCH:-.}
benchtime=${BENCHTIME:-5000x}
out=$(mktemp /tmp/qlpg-bench-XXXXXX.txt)

go test -c -o /tmp/qlpg-bench.test .
for round in $(seq "$count"); do
  echo "# round $round of $count" >&2
  first=""
  if [ $((round % 2)) -eq 0 ]; then first=1; fi
  QL_FIRST=$first /tmp/qlpg-bench.test -test.run '^$' -test.bench "$filter" -test.benchmem -test.count 1 -test.benchtime "$benchtime" | tee -a "$out"
done
echo "raw results: $out" >&2
(cd .. && go run ./bench/ratio "$out")
