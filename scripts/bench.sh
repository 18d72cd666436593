#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job: YCSB workloads A-F against daxkv, LMDB, RocksDB and
# pmemobj (a libpmemobj hash table, the PMDK peer) on emulated persistent
# memory, one driver in one run, and the table.
#   1. installs the Debian packages (scripts/install-deps.sh bench),
#   2. builds in Release into build-bench/,
#   3. for each store, workload A-F and 1 and 2 threads, 3 times: a fresh
#      database under /dev/shm (PMEM_IS_PMEM_FORCE=1), load, run,
#   4. prints the markdown table of medians with each store's ratio to
#      daxkv and a met/missed line per target; writes .md, .csv and .png
#      (pmemobj has no scan: its E cells are n/a),
#   5. runs the scan benchmark (benchmarks/scan): filtered COUNT/SUM on
#      every available query backend beside a plain read of the same
#      bytes, SCAN_RECORDS records (default 10000000; 0 skips it).
# Default size: 100000 records of 10 x 100 B fields, 300000 operations
# per run (a few minutes on 2 cores).  Bigger runs, through the
# environment:
#   YCSB_RECORDS=N YCSB_OPS=N YCSB_REPEATS=N YCSB_THREADS=1,2
#   YCSB_STORES=daxkv,lmdb,rocksdb,pmemobj YCSB_WORKLOADS="a b c d e f"
#   YCSB_OUT=PREFIX (default build-bench/ycsb-results)
#   YCSB_ARGS="-p fieldcount=1 ..." (extra driver arguments)
#   SCAN_RECORDS=N SCAN_RUNS=N (scan benchmark size and repeats)
# Usage: scripts/bench.sh [--no-deps] [--help]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
deps=1
for arg in "$@"; do
	case "$arg" in
	--no-deps) deps=0 ;;
	-h|--help) sed -n '3,/^# Usage/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
	esac
done

records=${YCSB_RECORDS:-100000}
ops=${YCSB_OPS:-300000}
repeats=${YCSB_REPEATS:-3}
threads=${YCSB_THREADS:-1,2}
stores=${YCSB_STORES:-daxkv,lmdb,rocksdb,pmemobj}
workloads=${YCSB_WORKLOADS:-a b c d e f}
out=${YCSB_OUT:-$top/build-bench/ycsb-results}

if [ "$deps" = 1 ]; then
	scripts/install-deps.sh bench ||
		{ echo "bench.sh: dependency install failed" >&2; exit 1; }
fi
mkdir -p build-bench
log=build-bench/bench-build.log
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >"$log" 2>&1 ||
	{ cat "$log"; echo "bench.sh: configure failed" >&2; exit 1; }
cmake --build build-bench -j"$(nproc)" --target daxkv-ycsb daxkv-scanbench >>"$log" 2>&1 ||
	{ tail -50 "$log"; echo "bench.sh: build failed" >&2; exit 1; }

wargs=()
for w in $workloads; do
	wargs+=(-W "benchmarks/ycsb/workloads/workload$w")
done
export PMEM_IS_PMEM_FORCE=1
mkdir -p "$(dirname "$out")"
start=$(date +%s)
# shellcheck disable=SC2086
build-bench/benchmarks/ycsb/daxkv-ycsb "${wargs[@]}" \
	-p recordcount="$records" -p operationcount="$ops" \
	-db "$stores" -threads "$threads" -repeats "$repeats" \
	-dir /dev/shm -out "$out" -q ${YCSB_ARGS:-}
echo "bench.sh: $(( $(date +%s) - start )) s; command: YCSB_RECORDS=$records" \
	"YCSB_OPS=$ops YCSB_REPEATS=$repeats YCSB_THREADS=$threads scripts/bench.sh"

scan_records=${SCAN_RECORDS:-10000000}
if [ "$scan_records" != 0 ]; then
	echo
	echo "## Filtered scans ($scan_records records, daxkv-scanbench)"
	build-bench/benchmarks/scan/daxkv-scanbench --records "$scan_records" \
		--runs "${SCAN_RUNS:-5}" --dir /dev/shm/daxkv-scanbench-$$
fi
