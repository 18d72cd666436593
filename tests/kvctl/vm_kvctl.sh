#!/bin/sh
# SPDX-License-Identifier: MIT
# vm_kvctl.sh -- kvctl's device facts, checked where an emulated NVDIMM
# exists: inside the VM suite's guest (busybox sh, no python), after
# tests/vm/guest-init.sh has made its fsdax namespaces and mounted them
# with -o dax and loaded the daxmirror module; and kvctl query on the
# module's device (--backend kmod) against the CPU backend.  Not
# registered with ctest on the host: the guest runs it.
#
#   vm_kvctl.sh KVCTL DIR_ON_DAX_MOUNT [FSTYPE]
#
# e.g. in guest-init.sh:  run kvctl.ext4 /bin/vm_kvctl.sh /bin/kvctl /mnt/ext4 ext4
# Exit 0 when every fact matches, 1 with a line per mismatch.
KVCTL=$1
MNT=$2
FS=${3:-}
DB=$MNT/kvctl-vm-test
OUT=/tmp/kvctl-vm.out
bad=0

fail() { echo "kvctl-vm: FAIL: $*"; bad=1; }
# has "field": value -- in kvctl's pretty JSON, one field a line
has() { grep -q "\"$1\": $2" "$OUT" || fail "no \"$1\": $2 in: $3"; }

unset PMEM_IS_PMEM_FORCE
rm -rf "$DB"

"$KVCTL" devices >"$OUT" 2>&1 || fail "devices exited $?"
grep -q "no pmem found" "$OUT" && fail "devices says no pmem"
"$KVCTL" devices --json >"$OUT" 2>&1 || fail "devices --json exited $?"
has pmem_found true devices
has mode '"fsdax"' devices
has numa_node '[-0-9]*' devices
has badblocks 0 devices

"$KVCTL" create --json "$DB" --segment-size 2M >"$OUT" 2>&1 || fail "create exited $?"
# a writer on fsdax: MAP_SYNC (or eADR), never the msync fallback
has durability '"\(map_sync\|eadr\)"' create
"$KVCTL" put "$DB" k v || fail "put exited $?"
"$KVCTL" info --json "$DB" >"$OUT" 2>&1 || fail "info --json exited $?"
has on_pmem true info
has mode '"fsdax"' info
has region '"region[0-9]*"' info
has namespace '"namespace[0-9.]*"' info
has blockdev '"pmem[0-9]*' info
has align '[1-9][0-9]*' info
has badblocks 0 info
has dax_mount_option '"always"' info
has file_dax true info
# info opens read-only: the handle says so, and each segment (mapped
# MAP_SYNC, which the kernel grants only on DAX) names what a writer would
# use on this media -- never msync or emulated here
has durability '"read-only"' info
has durability '"\(map_sync\|eadr\)"' info
grep '"durability":' "$OUT" | grep -v '"\(read-only\|map_sync\|eadr\)"' &&
	fail "info: a durability other than read-only, map_sync or eadr"
[ -n "$FS" ] && has fs_type "\"$FS\"" info
"$KVCTL" info "$DB" >"$OUT" 2>&1 || fail "info exited $?"
grep -q "namespace        namespace" "$OUT" || fail "info text lacks the namespace"
grep -q "durability       read-only (segments \(map_sync\|eadr\))" "$OUT" ||
	fail "info text: the segments' durability is not map_sync or eadr"
grep -q "not on pmem" "$OUT" && fail "info text says not on pmem"
"$KVCTL" check "$DB" >"$OUT" 2>&1 || fail "check exited $? on a DAX file system"

# kvctl query on the daxmirror module's device (the guest loaded it) must
# print what the CPU backend prints.  Records span two 2M segments, some
# replaced and deleted so that old versions lie in them; values are text
# "NNNNNNNN-TAG-..." so that fields read ASCII digits.
QDB=$MNT/kvctl-vm-query
QN=10000 # few lines: the guest's CPU is emulated
rm -rf "$QDB"
"$KVCTL" create "$QDB" --segment-size 2M >/dev/null || fail "query: create exited $?"
i=0
pad=padding-to-spread-the-records-over-two-segments
pad=$pad-$pad-$pad-$pad
{
	echo '{"daxkv_dump":1}'
	while [ $i -lt $QN ]; do
		case $((i % 3)) in 0) tag=red ;; 1) tag=blu ;; *) tag=grn ;; esac
		printf '{"k":"q%06d","v":"%08d-%s-%s"}\n' $i \
			$(((i * 7919) % 100000000)) $tag \
			"$pad"
		i=$((i + 1))
	done
	echo "{\"end\":true,\"count\":$QN}"
} >/tmp/kvq.jsonl
"$KVCTL" load "$QDB" /tmp/kvq.jsonl --quiet || fail "query: load exited $?"
for k in q000007 q001234 q009999; do
	"$KVCTL" put "$QDB" "$k" "99999999-new" || fail "query: put exited $?"
done
"$KVCTL" del "$QDB" q000100 || fail "query: del exited $?"
rm -f /tmp/kvq.jsonl

# qcmp ARGS...: kmod's answer is cpu's (rows without --ordered compared
# sorted), and kmod is the backend that ran.  Both exit $QRC (default 0);
# QRC=1 is a sum that overflows: both print it modulo 2^64 and say so.
qcmp() {
	want=${QRC:-0}
	"$KVCTL" query "$QDB" --backend cpu "$@" >/tmp/kvq.cpu 2>/tmp/kvq.err
	rc=$?
	[ $rc = "$want" ] ||
		fail "query --backend cpu $* exited $rc, not $want: $(cat /tmp/kvq.err)"
	"$KVCTL" query "$QDB" --backend kmod --stats "$@" >/tmp/kvq.kmod \
		2>/tmp/kvq.stats
	rc=$?
	[ $rc = "$want" ] ||
		fail "query --backend kmod $* exited $rc, not $want: $(cat /tmp/kvq.stats)"
	if [ "$want" = 1 ]; then
		grep -q "the sum overflowed" /tmp/kvq.err ||
			fail "query --backend cpu $*: no overflow message: $(cat /tmp/kvq.err)"
		grep -q "the sum overflowed" /tmp/kvq.stats ||
			fail "query --backend kmod $*: no overflow message: $(cat /tmp/kvq.stats)"
	fi
	grep -q "^backend  *kmod" /tmp/kvq.stats ||
		fail "query $*: kmod did not run: $(cat /tmp/kvq.stats)"
	case " $* " in
	*" --ordered "*) ;;
	*)
		sort /tmp/kvq.cpu -o /tmp/kvq.cpu
		sort /tmp/kvq.kmod -o /tmp/kvq.kmod
		;;
	esac
	cmp -s /tmp/kvq.cpu /tmp/kvq.kmod ||
		fail "query $*: kmod printed $(head -c 200 /tmp/kvq.kmod), cpu $(head -c 200 /tmp/kvq.cpu)"
}
qcmp --count
qcmp --where 'u8@0 >= 0x35'
qcmp --where "bytes3@9 == 'red'" --where 'u16@0 != 0x3030'
qcmp --sum u32@0 --where "bytes3@9 != 'grn'"
# eight ASCII digits as an int64 are about 3.5e18: 10,000 of them overflow
QRC=1 qcmp --sum i64@0
qcmp --sum i32@4
qcmp --min u64@4 --prefix q005
qcmp --max u16@2 --from q002000 --to q008000
qcmp --min u8@13 --where 'u8@60000 == 0'
qcmp --rows --ordered --hex --where "bytes4@0 == '9999'"
qcmp --rows --where 'u8@0 == 0x37' --where 'u8@1 == 0x37'
qcmp --rows --ordered --limit 10 --where 'u8@2 < 0x32'
# an unordered --limit may pick any rows: only the number is compared
"$KVCTL" query "$QDB" --backend kmod --rows --limit 7 >/tmp/kvq.kmod ||
	fail "query --backend kmod --rows --limit 7 exited $?"
[ "$(wc -l </tmp/kvq.kmod)" = 7 ] || fail "query --backend kmod --limit 7"
rm -rf "$QDB"

[ $bad = 0 ] || cat "$OUT"
rm -rf "$DB"
exit $bad
