#!/bin/sh
# SPDX-License-Identifier: MIT
# ycsb_compaction_test.sh -- the driver binary with compaction on and off
# side by side: the stores, the property, the space table, the CSV
# columns and the compaction target lines.
#
#   ycsb_compaction_test.sh DAXKV_YCSB WORKLOADS_DIR
set -u

YCSB=$1
WL=$2/workloada
WORK=$(mktemp -d /dev/shm/ycsb-compaction-test-XXXXXX) || exit 1
trap 'rm -rf "$WORK"' EXIT
export PMEM_IS_PMEM_FORCE="${PMEM_IS_PMEM_FORCE:-1}"
SMALL="-p recordcount=5000 -p operationcount=50000 -p daxkv.segmentsize=2M"

fail() {
	echo "FAIL: $*" >&2
	for f in "$WORK"/out "$WORK"/err "$WORK"/r.md; do
		[ -f "$f" ] && { echo "--- $f:" >&2; head -c 4000 "$f" >&2; }
	done
	exit 1
}
has() { grep -qF -- "$2" "$1" || fail "$1 lacks '$2'"; }
lacks() { ! grep -qF -- "$2" "$1" || fail "$1 has '$2'"; }

# side by side in one invocation
# shellcheck disable=SC2086
"$YCSB" -db daxkv,daxkv-nocompact -P "$WL" $SMALL -dir "$WORK" \
	-out "$WORK/r" -q >"$WORK/out" 2>"$WORK/err" || fail "driver failed"
has "$WORK/out" "store daxkv: every put durable on return (flush + fence); background compaction on; 2 MiB segments"
has "$WORK/out" "store daxkv-nocompact: every put durable on return (flush + fence); background compaction off (DAXKV_OPEN_NOCOMPACT); 2 MiB segments"
has "$WORK/r.md" "| workload | threads | daxkv | daxkv-nocompact | daxkv / daxkv-nocompact |"
has "$WORK/r.md" "Space, run phase"
has "$WORK/r.md" "| A | 1 | daxkv | on |"
has "$WORK/r.md" "| A | 1 | daxkv-nocompact | off |"
has "$WORK/r.md" "target A, 1 thread: daxkv space amplification <= 1.3 at steady state (mean of the second half): "
has "$WORK/r.md" "target A, 1 thread: daxkv space amplification <= 1.3 at steady state (peak of the second half): "
has "$WORK/r.md" "target A, 1 thread: daxkv write amplification <= 2.5: "
has "$WORK/r.md" "target A, 1 thread: daxkv throughput with compaction >= 90% of daxkv-nocompact:"
has "$WORK/r.md" "target A, 1 thread: UPDATE p99 with compaction <= 2x daxkv-nocompact's"
has "$WORK/r.md" "target A, 1 thread: daxkv UPDATE p99.9 <= 50 us: "
has "$WORK/r.md" "target A, 1 thread: daxkv READ max <= 5 ms: "
lacks "$WORK/r.md" "target F,"
python3 - "$WORK/r.csv" <<'PY' || fail "CSV check"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert rows and all(len(r) == 26 for r in rows), "26 columns everywhere"
run = {r["store"]: r for r in rows
       if r["phase"] == "run" and r["operation"] == "OVERALL" and r["repeat"] == "1"}
off, on = run["daxkv-nocompact"], run["daxkv"]
assert off["compaction"] == "off" and on["compaction"] == "on"
# nothing copied: every byte on media was written by the driver
assert off["compactions"] == "0" and off["bytes_compacted"] == "0"
assert float(off["write_amp"]) == 1.0
# 5000 records and 25000 updates of ~1.1 KiB on 2 MiB segments
assert float(off["space_amp_end"]) > 3, off["space_amp_end"]
assert int(on["user_bytes"]) == int(off["user_bytes"]) > 25000 * 1042
assert float(on["write_amp"]) >= 1.0
assert float(on["space_amp_peak"]) >= float(on["space_amp_end"]) > 0
assert all(r["compaction"] == "" for r in rows if r["phase"] == "load")
PY

# the property on the plain store; the nocompact store is not a default
# shellcheck disable=SC2086
"$YCSB" -db daxkv -P "$WL" $SMALL -p daxkv.compaction=off -dir "$WORK" \
	-out "$WORK/r" -q >"$WORK/out" 2>"$WORK/err" || fail "driver failed"
has "$WORK/out" "store daxkv: every put durable on return (flush + fence); background compaction off"
has "$WORK/r.md" "| A | 1 | daxkv | off |"
lacks "$WORK/r.md" "daxkv space amplification <= 1.3"
lacks "$WORK/out" "is not used by"
"$YCSB" -h >"$WORK/out" 2>&1
has "$WORK/out" "daxkv.compaction=on|off"

# a bad value: exit 2 before any run, naming where it was set
"$YCSB" -db daxkv -P "$WL" -p daxkv.compaction=sometimes >"$WORK/out" \
	2>"$WORK/err"
[ $? = 2 ] || fail "bad daxkv.compaction: exit status not 2"
has "$WORK/err" "-p: daxkv.compaction: 'sometimes' is not on or off"
lacks "$WORK/out" "[OVERALL]"
exit 0
