#!/bin/sh
# SPDX-License-Identifier: MIT
# ycsb_pmemobj_test.sh -- the pmemobj peer through the driver binary:
# beside daxkv in one table, workload E refused with a note and "n/a"
# (no CSV rows, no chart bar, no target line), the peer's target lines,
# a matrix of nothing but refusals, a bad property and a full pool.
#
#   ycsb_pmemobj_test.sh DAXKV_YCSB WORKLOADS_DIR
set -u

YCSB=$1
WL=$2
WORK=$(mktemp -d /dev/shm/ycsb-pmemobj-test-XXXXXX) || exit 1
trap 'rm -rf "$WORK"' EXIT
export PMEM_IS_PMEM_FORCE="${PMEM_IS_PMEM_FORCE:-1}"
SMALL="-p recordcount=2000 -p operationcount=4000"

fail() {
	echo "FAIL: $*" >&2
	for f in "$WORK"/out "$WORK"/err "$WORK"/r.md; do
		[ -f "$f" ] && { echo "--- $f:" >&2; head -c 4000 "$f" >&2; }
	done
	exit 1
}
has() { grep -qF -- "$2" "$1" || fail "$1 lacks '$2'"; }
lacks() { ! grep -qF -- "$2" "$1" || fail "$1 has '$2'"; }

# A and E, both stores, with verification: exit 0, E is n/a for pmemobj
# shellcheck disable=SC2086
"$YCSB" -db daxkv,pmemobj -W "$WL/workloada" -W "$WL/workloade" $SMALL \
	-threads 1,2 -verify -dir "$WORK" -out "$WORK/r" -q \
	>"$WORK/out" 2>"$WORK/err" || fail "driver failed"
has "$WORK/out" "store pmemobj: libpmemobj chained hash table, fixed bucket array (up to 4096 buckets)"
has "$WORK/out" "durable per operation"
has "$WORK/out" "note: pmemobj does not run workload E: it scans (scanproportion 0.95) and pmemobj has no key order to scan in; the tables say n/a"
lacks "$WORK/out" "FAILED"
has "$WORK/r.md" "| workload | threads | daxkv | pmemobj | daxkv / pmemobj |"
grep -Eq '^\| E \| 1 \| [0-9.]+ (k|M) \| n/a \| n/a \|$' "$WORK/r.md" ||
	fail "no n/a row for E at 1 thread"
grep -Eq '^\| A \| 2 \| [0-9.]+ (k|M) \| [0-9.]+ (k|M) \| [0-9.]+x \|$' \
	"$WORK/r.md" || fail "no figures for pmemobj on A at 2 threads"
has "$WORK/r.md" "| A | 1 | pmemobj | UPDATE |"
lacks "$WORK/r.md" "| E | 1 | pmemobj |"
has "$WORK/r.md" "target A, 1 thread: daxkv >= 1.3x pmemobj:"
has "$WORK/r.md" "target A, 2 threads: daxkv >= 1.3x pmemobj:"
lacks "$WORK/r.md" "target E, 1 thread: daxkv >= 1.3x pmemobj"
python3 - "$WORK/r.csv" <<'PY' || fail "CSV check"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
pm = [r for r in rows if r["store"] == "pmemobj"]
assert pm, "pmemobj rows"
assert not [r for r in pm if r["workload"] == "E"], "no pmemobj E rows"
runs = [r for r in pm if r["phase"] == "run" and r["operation"] == "OVERALL"
        and r["repeat"] != "median"]
assert len(runs) == 2, runs  # A at 1 and 2 threads
assert all(float(r["ops_per_s"]) > 0 for r in runs)
assert all(r["errors"] in ("", "0") for r in pm), "no errors"
# not a store that reclaims space: no space columns
assert all(r["compaction"] == "" for r in pm)
PY
# the chart, with no bar for n/a, where gnuplot is installed
if command -v gnuplot >/dev/null 2>&1; then
	[ -s "$WORK/r.png" ] || fail "no chart"
fi

# Only refusals: nothing to run, exit 2 before any cell
"$YCSB" -db pmemobj -P "$WL/workloade" $SMALL -dir "$WORK" \
	>"$WORK/out" 2>"$WORK/err"
[ $? = 2 ] || fail "E alone on pmemobj: exit status not 2"
has "$WORK/err" "nothing to run: every store named lacks the scan these workloads need"
lacks "$WORK/out" "[OVERALL]"

# A bad property: exit 2 before any run, naming where it was set
"$YCSB" -db pmemobj -P "$WL/workloada" -p pmemobj.buckets=0 \
	>"$WORK/out" 2>"$WORK/err"
[ $? = 2 ] || fail "bad pmemobj.buckets: exit status not 2"
has "$WORK/err" "-p: pmemobj.buckets: '0' is not 1..2^32"

# A pool too small for the load: the failures say why, exit 1
# shellcheck disable=SC2086
"$YCSB" -db pmemobj -P "$WL/workloada" -p recordcount=20000 \
	-p operationcount=100 -p pmemobj.poolsize=16M -dir "$WORK" \
	>"$WORK/out" 2>"$WORK/err"
[ $? = 1 ] || fail "full pool: exit status not 1"
has "$WORK/out" "ERRORS"
has "$WORK/out" "pool is full (transaction aborted, nothing changed; set pmemobj.poolsize)"
has "$WORK/out" "FAILED"

"$YCSB" -h >"$WORK/out" 2>&1
has "$WORK/out" "pmemobj.buckets=N"
exit 0
