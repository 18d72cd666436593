#!/bin/sh
# SPDX-License-Identifier: MIT
# vm_kvctl.sh -- kvctl's device facts, checked where an emulated NVDIMM
# exists: inside the VM suite's guest (busybox sh, no python), after
# tests/vm/guest-init.sh has made its fsdax namespaces and mounted them
# with -o dax.  Not registered with ctest on the host: the guest runs it.
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

"$KVCTL" create "$DB" --segment-size 2M >/dev/null || fail "create exited $?"
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
has durability '"\(map_sync\|eadr\)"' info
[ -n "$FS" ] && has fs_type "\"$FS\"" info
"$KVCTL" info "$DB" >"$OUT" 2>&1 || fail "info exited $?"
grep -q "namespace        namespace" "$OUT" || fail "info text lacks the namespace"
grep -q "not on pmem" "$OUT" && fail "info text says not on pmem"
"$KVCTL" check "$DB" >"$OUT" 2>&1 || fail "check exited $? on a DAX file system"

[ $bad = 0 ] || cat "$OUT"
rm -rf "$DB"
exit $bad
