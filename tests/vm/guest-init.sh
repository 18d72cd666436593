#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the daxmirror test VM.  Loads the modules (none on the debug
# kernel, which has everything built in), makes an fsdax namespace for
# ext4, one for xfs, a devdax one and an fsdax one for xfs with reflink,
# runs the tests and reports on the serial console in lines the host reads:
#   DMR PASS <name> / DMR FAIL <name> <why> / DMR SUITE DONE
# then dumps the kernel log and powers off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
. /etc/suite.conf

fail() { echo "DMR FAIL $*"; }
run() { # name, command...
	name=$1
	shift
	echo "$name" | grep -qE "${CASES:-.}" || return 0
	start=$(date +%s)
	# A case that hangs is killed, so that its output still shows.
	if timeout -s KILL "${CASE_TIMEOUT:-200}" "$@" >/tmp/out 2>&1; then
		echo "DMR PASS $name ($(($(date +%s) - start))s)"
	else
		echo "DMR FAIL $name rc=$? ($(($(date +%s) - start))s)"
	fi
	sed 's/^/DMR   /' /tmp/out
}

finish() {
	echo "DMR SUITE DONE"
	echo "DMR-DMESG-BEGIN"
	dmesg
	echo "DMR-DMESG-END"
	sync
	poweroff -f
}

for mod in $(cat /etc/modules); do
	insmod /lib/modules/$mod 2>/tmp/insmod || {
		grep -q 'File exists' /tmp/insmod || fail "insmod $mod: $(cat /tmp/insmod)"
	}
done
insmod /lib/modules/daxmirror.ko || { fail "insmod daxmirror"; finish; }
[ -c /dev/daxmirror ] || { fail "no /dev/daxmirror"; finish; }
echo "DMR kernel $(uname -r)"

# Namespaces: the regions come up label-less (raw); convert them.  The
# host gives the xfs one 2 GiB (the kill case maps a 1 GiB file there);
# region numbers need not follow the host's device order, so roles go by
# size: the largest region is xfs (dev1), the others in order ext4 (dev0),
# devdax (dev2), xfs with reflink (dev3).
big=$(for ns in $(ls /sys/bus/nd/devices | grep '^namespace[0-9]*\.0$'); do
	echo "$(cat /sys/bus/nd/devices/$ns/size) $ns"
done | sort -n -k1,1 -s | tail -n 1 | cut -d' ' -f2)
i=0
for ns in $big $(ls /sys/bus/nd/devices | grep '^namespace[0-9]*\.0$' | grep -vx "$big" | sort); do
	case $i in
	0) role=1 mode=fsdax ;;
	1) role=0 mode=fsdax ;;
	2) role=2 mode=devdax ;;
	*) role=3 mode=fsdax ;;
	esac
	ndctl create-namespace -f -e $ns -m $mode -a 2M >/tmp/ns.json 2>&1 ||
		fail "ndctl create-namespace $ns $mode: $(cat /tmp/ns.json)"
	dev=$(sed -n -e 's/.*"blockdev":"\([^"]*\)".*/\1/p' -e 's/.*"chardev":"\([^"]*\)".*/\1/p' /tmp/ns.json | head -n 1)
	eval dev$role=$dev
	echo "DMR $ns: $mode $dev, $(cat /sys/bus/nd/devices/$ns/size) bytes"
	i=$((i + 1))
done
echo "DMR namespaces: fsdax $dev0, fsdax $dev1, devdax $dev2, fsdax $dev3"

mkdir -p /mnt/ext4 /mnt/xfs /mnt/xfsr
mkfs.ext4 -q -F -b 4096 -E stride=512,stripe_width=512 /dev/$dev0 >/tmp/mkfs 2>&1 &&
	mount -t ext4 -o dax /dev/$dev0 /mnt/ext4 ||
	fail "ext4 on /dev/$dev0: $(cat /tmp/mkfs)"
mkfs.xfs -q -f -m reflink=0 -d su=2m,sw=1 /dev/$dev1 >/tmp/mkfs 2>&1 &&
	mount -t xfs -o dax /dev/$dev1 /mnt/xfs ||
	fail "xfs on /dev/$dev1: $(cat /tmp/mkfs)"
# xfs with reflink (its race case clones files over mirrored ones).
mkfs.xfs -q -f -m reflink=1 -d su=2m,sw=1 /dev/$dev3 >/tmp/mkfs 2>&1 &&
	mount -t xfs -o dax /dev/$dev3 /mnt/xfsr ||
	fail "xfs with reflink on /dev/$dev3: $(cat /tmp/mkfs) $(dmesg | tail -n 3)"
grep -E 'ext4|xfs' /proc/mounts | sed 's/^/DMR mount /'
df -m /mnt/ext4 /mnt/xfs /mnt/xfsr | sed 's/^/DMR df /'

t=/bin/daxmirror_test
for fs in ext4 xfs; do
	run "$fs.read_equal" $t -c read_equal -p /mnt/$fs -l $fs
	run "$fs.events" $t -c events -p /mnt/$fs -l $fs
	run "$fs.no_pin" $t -c no_pin -p /mnt/$fs -l $fs
	run "$fs.race" $t -c race -p /mnt/$fs -l $fs -n $RACES
	run "$fs.query" $t -c query -p /mnt/$fs -l $fs -n $QUERIES
	run "$fs.query_race" $t -c query_race -p /mnt/$fs -l $fs -n $QRACES
done
# With clones of files over mirrored ones (FICLONE) where the kernel's
# fsdax shares blocks between files without a warning (CLONES, not 6.1).
run xfsr.race $t -c race $CLONES -p /mnt/xfsr -l xfsr -n $XFSR_RACES
run xfsr.query_race $t -c query_race -p /mnt/xfsr -l xfsr -n $QRACES
# The truncate/punch races with MAP_SYNC mappings, where the kernel's own
# DAX fault path allows it (SYNC_RACES=0: not on this kernel, see
# docs/kmod.md).
if [ "$SYNC_RACES" -gt 0 ]; then
	for fs in ext4 xfs xfsr; do
		run "$fs.race_sync" $t -c race -y $CLONES -p /mnt/$fs -l $fs \
			-n $SYNC_RACES
	done
fi
run devdax.read_equal $t -c read_equal -p /dev/$dev2 -l devdax
run devdax.events $t -c events -p /dev/$dev2 -l devdax
run devdax.race $t -c race -p /dev/$dev2 -l devdax -n $((RACES / 2))
run devdax.query $t -c query -p /dev/$dev2 -l devdax -n $QUERIES
run lifecycle $t -c lifecycle -p /mnt/ext4 -l ext4
run fuzz $t -c fuzz -p /mnt/ext4 -l ext4 -n $FUZZ
run refuse $t -c refuse -p /mnt/ext4 -l ext4
run kill $t -c kill -p /mnt/xfs -l xfs
# 16 threads of random ioctls on shared and private files while the files
# are truncated, punched, unmapped and replaced, and children are killed.
run stress $t -c stress $STRESS_SYNC -p /mnt/ext4 -l ext4 -n $STRESS
# Last of the cases on ext4: the poisoned page stays poisoned (its file is
# kept so that its blocks go to no other file).
run poison $t -c poison -p /mnt/ext4 -l ext4
run leaks $t -c leaks
# The engine and kvctl on real fsdax (present when the host passed them).
if [ -x /bin/engine_test ]; then
	for fs in ext4 xfs; do
		run "$fs.engine" env DAXKV_TEST_DIR=/mnt/$fs \
			DAXKV_EXPECT_DURABILITY=map_sync /bin/engine_test basic \
			limits bad_input scan batch reopen_paths busy \
			future_version corrupt torn_tail enospc msync_mode \
			pmempool_check
		run "$fs.engine_crash" env DAXKV_TEST_DIR=/mnt/$fs \
			/bin/crash_test 20
		run "$fs.kvctl" /bin/vm_kvctl.sh /bin/kvctl /mnt/$fs $fs
		# real poison (MADV_HWPOISON) in a mapped segment: DAXKV_EIO
		# naming the file and offset, and salvage (poison_vm.c)
		run "$fs.poison" /bin/poison_vm /mnt/$fs
	done
	run tmpfs.poison /bin/poison_vm /tmp
	run kvctl.mirror sh -c '/bin/kvctl mirror --json > /tmp/m &&
		cat /tmp/m && grep -q "\"loaded\": true" /tmp/m &&
		grep -q "\"version\": \"0.3.1\"" /tmp/m &&
		grep -q "\"live_files\": 0" /tmp/m'
	# Queries on the module's device: the engine's differential test
	# with the KMOD backend forced, and the scan benchmark beside the
	# same VM's plain read of the same bytes (a ratio under TCG).
	run ext4.query_kmod env DAXKV_TEST_DIR=/mnt/ext4 \
		DAXKV_TEST_BACKEND=kmod DAXKV_QUERY_RECORDS=$ENGINE_RECORDS \
		DAXKV_QUERY_COUNT=$ENGINE_QUERIES DAXKV_QUERY_MT_ROUNDS=20 \
		/bin/query_test
	# The backend's errors: a database off DAX (the device declines,
	# AUTO answers on the CPU), and a poisoned page of a segment
	# (DAXKV_EIO naming the segment file and offset, AUTO too).
	run ext4.query_kmod_errors env DAXKV_TEST_DIR=/mnt/ext4 \
		/bin/kmod_test not_dax poison
	# Device queries during heavy compaction (segments retired under
	# the mirror, files unlinked and their blocks reused), each answer
	# equal to the CPU's scan at the same snapshot; then the same
	# database reopened.  And SIGKILL inside compactions on real fsdax.
	for fs in ext4 xfs; do
		# DAXKV_KMOD_DEBUG reports an UNMAP the module refused when
		# compaction retires a segment: none may fail.
		run "$fs.compact_kmod" sh -c "env DAXKV_TEST_DIR=/mnt/$fs \
			DAXKV_TEST_BACKEND=kmod DAXKV_COMPACT_MS=4000 \
			DAXKV_KMOD_DEBUG=1 /bin/compact_test concurrent \
			2>/tmp/ck; rc=\$?; cat /tmp/ck >&2; [ \$rc = 0 ] &&
			! grep 'kmod forget' /tmp/ck >/dev/null"
	done
	run ext4.compact_kill env DAXKV_TEST_DIR=/mnt/ext4 \
		DAXKV_COMPACT_KILLS=10 /bin/compact_test kill snapshot
	run ext4.scanbench /bin/daxkv-scanbench --dir /mnt/ext4/scanbench \
		--records $SCAN_RECORDS --backends cpu,kmod --threads 2 --runs 5
fi
umount /mnt/ext4 || fail "umount ext4"
umount /mnt/xfs || fail "umount xfs"
umount /mnt/xfsr || fail "umount xfsr"
rmmod daxmirror || fail "rmmod daxmirror"
finish
