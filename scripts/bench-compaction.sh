#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The compaction benchmark (issue 8): YCSB workload A with 10x the record
# count in updates, daxkv with background compaction on and off
# (daxkv-nocompact) side by side in one driver run, on emulated pmem.
#   1. installs the Debian packages (scripts/install-deps.sh bench),
#   2. builds daxkv-ycsb in Release into build-bench/,
#   3. runs workload A (50% reads, 50% updates, zipfian) with
#      operationcount = 20 x recordcount, so the updates alone are 10x the
#      record count; 3 repeats, medians,
#   4. prints the throughput table (the ratio column is compaction on /
#      off), latencies, the space table (space amplification read every
#      100 ms: end, peak and mean of the run's second half; write
#      amplification; compactions; segments retired) and the target
#      lines: space amp. <= 1.5, throughput >= 80% of compaction off,
#      p99 <= 2x compaction off.
# Default size: 500000 records of 10 x 100 B fields (~530 MB live, 32
# segments) on 16 MiB segments, 10000000 operations, 1 thread (about 6
# minutes on 2 cores; compaction off needs ~6 GB of /dev/shm at the end).
# Fewer records measure segment granularity more than reclamation: the
# open segment and a round's new segments are a few segments at any size
# (at 200000 records, 13 segments live, they add 0.1-0.2; compact.c).
# Through the environment:
#   COMPACT_RECORDS=N COMPACT_UPDATE_X=N (updates / records; default 10)
#   COMPACT_REPEATS=N COMPACT_THREADS=1,2 COMPACT_SEGMENT=16M
#   COMPACT_OUT=PREFIX (default build-bench/compaction-results)
#   COMPACT_ARGS="-p requestdistribution=uniform ..." (extra arguments)
# Usage: scripts/bench-compaction.sh [--no-deps] [--help]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
deps=1
for arg in "$@"; do
	case "$arg" in
	--no-deps) deps=0 ;;
	-h|--help) sed -n '3,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-compaction.sh: unknown option '$arg' (see --help)" >&2
	   exit 2 ;;
	esac
done

records=${COMPACT_RECORDS:-500000}
update_x=${COMPACT_UPDATE_X:-10}
ops=$((records * update_x * 2)) # workload A: half the operations update
repeats=${COMPACT_REPEATS:-3}
threads=${COMPACT_THREADS:-1}
segment=${COMPACT_SEGMENT:-16M}
out=${COMPACT_OUT:-$top/build-bench/compaction-results}

if [ "$deps" = 1 ]; then
	scripts/install-deps.sh bench ||
		{ echo "bench-compaction.sh: dependency install failed" >&2; exit 1; }
fi
mkdir -p build-bench
log=build-bench/bench-build.log
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >"$log" 2>&1 ||
	{ cat "$log"; echo "bench-compaction.sh: configure failed" >&2; exit 1; }
cmake --build build-bench -j"$(nproc)" --target daxkv-ycsb >>"$log" 2>&1 ||
	{ tail -50 "$log"; echo "bench-compaction.sh: build failed" >&2; exit 1; }

export PMEM_IS_PMEM_FORCE=1
mkdir -p "$(dirname "$out")"
start=$(date +%s)
# shellcheck disable=SC2086
build-bench/benchmarks/ycsb/daxkv-ycsb \
	-P benchmarks/ycsb/workloads/workloada \
	-p recordcount="$records" -p operationcount="$ops" \
	-p daxkv.segmentsize="$segment" \
	-db daxkv,daxkv-nocompact -threads "$threads" -repeats "$repeats" \
	-dir /dev/shm -out "$out" -q ${COMPACT_ARGS:-}
echo "bench-compaction.sh: $(( $(date +%s) - start )) s; command:" \
	"COMPACT_RECORDS=$records COMPACT_UPDATE_X=$update_x" \
	"COMPACT_REPEATS=$repeats COMPACT_THREADS=$threads" \
	"COMPACT_SEGMENT=$segment scripts/bench-compaction.sh"
