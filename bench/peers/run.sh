#!/usr/bin/env bash
# Runs qlsqlite against its peers (raw ncruces, mattn/go-sqlite3, modernc,
# and XSAM/otelsql for telemetry) in interleaved rounds and prints the
# table of medians and ratios.
#
# Each round is one run of the test binary with -count 1, so that within a
# round every driver runs each benchmark back to back, and the rounds
# rotate which driver goes first (QL_ROUND): on a shared machine whose load
# drifts, every driver sees the same drift. Ratios are taken round by
# round; the table gives their median and range.
#
#   bench/peers/run.sh                                  # 10 rounds, everything
#   COUNT=5 MICRO='Point' COMMUNITY= bench/peers/run.sh  # only the point SELECTs
#   TAGS=sqlite3_flock bench/peers/run.sh               # ncruces's VFS with BSD locks (README)
#
# mattn/go-sqlite3 needs cgo (a C compiler) and is linked under the driver
# name "mattn" (-ldflags -X), since ncruces registers "sqlite3" too.
# Raw results go to bench/peers/results/<date>.txt.
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-10}
# Benchmarks whose op takes microseconds to milliseconds run for BENCHTIME;
# those whose op takes a second (a whole workload) run once a round.
micro=${MICRO-Point|Range|Insert|Readers|TradingMix|Telemetry|Sampled|Many|Large}
community=${COMMUNITY-Simple|Real|Complex|Concurrent}
benchtime=${BENCHTIME:-0.5s}
mkdir -p results
out=results/$(date -u +%Y%m%dT%H%M%SZ).txt

CGO_ENABLED=1 go test -c -tags "mattn ${TAGS:-}" -ldflags '-X github.com/mattn/go-sqlite3.driverName=mattn' -o results/peers.test .
trap 'rm -f results/peers.test' EXIT
for round in $(seq "$count"); do
  echo "# round $round of $count; $(uptime)" | tee -a "$out" >&2
  if [ -n "$micro" ]; then
    QL_ROUND=$round ./results/peers.test -test.run '^$' -test.bench "$micro" -test.benchmem -test.count 1 -test.benchtime "$benchtime" | tee -a "$out"
  fi
  if [ -n "$community" ]; then
    QL_ROUND=$round ./results/peers.test -test.run '^$' -test.bench "$community" -test.benchmem -test.count 1 -test.benchtime 1x | tee -a "$out"
  fi
done

echo
echo "== wall time per op, medians of $count rounds ($out)"
go run ./table "$out"
echo
echo "== CPU time per op (the process's, background work included), medians of $count rounds"
go run ./table -metric cpu-ns/op "$out"
