#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The compaction benchmark (issues 8 and 20): YCSB workload A (and F on
# request) with 10x the record count in updates, daxkv with background
# compaction on and off (daxkv-nocompact) side by side in one driver run,
# on emulated pmem.
#   1. installs the Debian packages (scripts/install-deps.sh bench),
#   2. builds daxkv-ycsb in Release into build-bench/,
#   3. runs each workload (A: 50% reads, 50% updates; F: 50% reads, 50%
#      read-modify-writes; zipfian) with operationcount = 20 x
#      recordcount, so the updates alone are 10x the record count;
#      3 repeats, medians,
#   4. prints the throughput table (the ratio column is compaction on /
#      off), latencies, the space table (space amplification read every
#      100 ms: end, peak and mean of the run's second half; write
#      amplification; compactions; segments retired) and the target
#      lines of issue 20: space amp. <= 1.3 (mean and peak of the second
#      half), write amp. <= 2.5, throughput >= 90% of compaction off,
#      p99 <= 2x compaction off, and at 1 thread p99.9 <= 50 us and
#      max <= 5 ms for every operation.
# Default size: 500000 records of 10 x 100 B fields (~530 MB live) on
# segments of up to 16 MiB, 10000000 operations, 1 thread (about 6
# minutes on 2 cores; compaction off needs ~6 GB of /dev/shm at the end).
# Issue 20's size: COMPACT_RECORDS=1000000 COMPACT_SEGMENT=64M
# COMPACT_WORKLOADS=a,f COMPACT_THREADS=1,2
# COMPACT_ARGS="-p fieldcount=1 -p fieldlength=100".
# Through the environment:
#   COMPACT_RECORDS=N COMPACT_UPDATE_X=N (updates / records; default 10)
#   COMPACT_REPEATS=N COMPACT_THREADS=1,2 COMPACT_SEGMENT=16M
#   COMPACT_WORKLOADS=a,f (default a)
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
	-h|--help) sed -n '3,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
workloads=${COMPACT_WORKLOADS:-a}
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
wl_args=()
IFS=, read -ra wl_list <<<"$workloads"
for w in "${wl_list[@]}"; do
	case "$w" in
	a|f) wl_args+=(-W "benchmarks/ycsb/workloads/workload$w") ;;
	*) echo "bench-compaction.sh: COMPACT_WORKLOADS: '$w' is not a or f" >&2
	   exit 2 ;;
	esac
done
build-bench/benchmarks/ycsb/daxkv-ycsb "${wl_args[@]}" \
	-p recordcount="$records" -p operationcount="$ops" \
	-p daxkv.segmentsize="$segment" \
	-db daxkv,daxkv-nocompact -threads "$threads" -repeats "$repeats" \
	-dir /dev/shm -out "$out" -q ${COMPACT_ARGS:-}
echo "bench-compaction.sh: $(( $(date +%s) - start )) s; command:" \
	"COMPACT_RECORDS=$records COMPACT_UPDATE_X=$update_x" \
	"COMPACT_REPEATS=$repeats COMPACT_THREADS=$threads" \
	"COMPACT_SEGMENT=$segment COMPACT_WORKLOADS=$workloads" \
	"COMPACT_ARGS='${COMPACT_ARGS:-}' scripts/bench-compaction.sh"
