#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run the daxmirror VM suite against one Debian 12 kernel line, or the debug
# kernel built from Debian's 6.12 source (tests/vm/build-debug-kernel.sh:
# KASAN, lockdep, DEBUG_VM, DEBUG_ATOMIC_SLEEP), under QEMU (TCG) with
# emulated NVDIMMs.  Exit 0 pass, 1 fail, 4 skip (the machine cannot run
# QEMU at all), printing why.
#
# Usage: tests/vm/run-vm-suite.sh 6.1|6.12|debug [WORKDIR]
#   WORKDIR     where everything is built (default build/vm); downloads are
#               cached in $DAXKV_VM_CACHE or WORKDIR/cache.
#   DAXKV_VM_TIMEOUT  seconds the guest may run (default 480)
#   DAXKV_VM_RACES    race rounds per file system (default 4000)
#   DAXKV_VM_FUZZ     fuzzed ioctls (default 100000)
#   DAXKV_VM_QUERIES  random QUERY filters per target (default 20)
#   DAXKV_VM_QRACES   truncate/munmap rounds under queries (default 40)
#   DAXKV_VM_ENGINE_RECORDS, DAXKV_VM_ENGINE_QUERIES  query_test sizes
#                     with the KMOD backend (default 5000, 50)
#   DAXKV_VM_SCAN_RECORDS  daxkv-scanbench records (default 300000)
#   DAXKV_VM_STRESS   seconds of the stress case (default 10, debug 60)
#   DAXKV_VM_SYNC_RACES  race rounds with MAP_SYNC per file system
#                     (default 500 on 6.12 and debug, 0 on 6.1: see
#                     docs/kmod.md)
#   DAXKV_VM_XFSR_RACES  race rounds on xfs with reflink (default 1000)
#   DAXKV_VM_CASES    regex: run only the matching cases (debugging)
#
# Steps: resolve the kernel from Debian's meta package, download image and
# headers packages (cached), unpack them into WORKDIR, build the module
# against those headers with W=1 (a warning fails the suite), build the
# static test programs and a busybox initramfs, boot QEMU, and turn the
# guest's serial console into pass/fail.  Any kernel splat in the guest's
# log (BUG, WARNING, Oops, KASAN, lockdep, "sleeping function called from
# invalid context", hung task) fails the run.
set -euo pipefail

line=${1:?usage: run-vm-suite.sh 6.1|6.12|debug [WORKDIR]}
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mkdir -p "${2:-$src/build/vm}" && cd "${2:-$src/build/vm}" && pwd)
cache=${DAXKV_VM_CACHE:-$work/cache}
timeout_s=${DAXKV_VM_TIMEOUT:-480}
races=${DAXKV_VM_RACES:-4000}
fuzz=${DAXKV_VM_FUZZ:-100000}
queries=${DAXKV_VM_QUERIES:-20}
qraces=${DAXKV_VM_QRACES:-40}
engine_records=${DAXKV_VM_ENGINE_RECORDS:-5000}
engine_queries=${DAXKV_VM_ENGINE_QUERIES:-50}
scan_records=${DAXKV_VM_SCAN_RECORDS:-300000}
stress=${DAXKV_VM_STRESS:-10}
sync_races=${DAXKV_VM_SYNC_RACES:-500}
xfsr_races=${DAXKV_VM_XFSR_RACES:-1000}
clones=-r
t_start=$(date +%s)

say() { echo "vm[$line]: $*" >&2; }
skip() { say "SKIP: $*"; exit 4; }
fail() { say "FAIL: $*"; exit 1; }

case "$line" in
# 6.1's fsdax warns (dax_associate_entry) on a block two reflinked files
# share, and (rarely) on a MAP_SYNC write fault racing a read fault
# (insert_pfn_pmd): its own warnings, which the suite would count.
6.1) meta=linux-image-amd64 sync_races=${DAXKV_VM_SYNC_RACES:-0} clones= ;;
6.12) meta=linux-image-6.12-amd64 ;;
debug) meta= stress=${DAXKV_VM_STRESS:-60} ;;
*) fail "unknown kernel line '$line' (6.1, 6.12 or debug)" ;;
esac

# 1. Host packages.  Installing needs root (or sudo); without it, go on with
# what is there and let the checks below decide.
if ! "$src/scripts/install-deps.sh" vm; then
	say "install-deps.sh vm failed; using the packages already installed"
fi
command -v qemu-system-x86_64 >/dev/null ||
	skip "qemu-system-x86_64 is not installed and cannot be installed"
qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg ||
	skip "this qemu-system-x86_64 has no TCG accelerator"
for tool in busybox cpio ndctl mkfs.ext4 mkfs.xfs dpkg-deb apt-get gcc make depmod xz; do
	command -v $tool >/dev/null || fail "$tool is missing (scripts/install-deps.sh vm build)"
done

# 2. The kernel: Debian's packages, resolved and fetched; or the debug
# kernel, built (and kept) by build-debug-kernel.sh.
if [ "$line" = debug ]; then
	kdir=$("$src/tests/vm/build-debug-kernel.sh" "$work" | tail -n 1) ||
		fail "the debug kernel did not build"
	kver=$(cat "$kdir/kernelrelease")
	vmlinuz=$kdir/arch/x86/boot/bzImage
	moddir=	# everything the guest needs is built in
	say "kernel $kver (debug, built in $(cat "$kdir/build-seconds") s)"
else
first_dep() { # package, pattern: its first Depends matching the pattern
	apt-cache depends "$1" 2>/dev/null |
		awk -v pat="$2" '$1 ~ /Depends:/ && $2 ~ pat { print $2; exit }'
}
image=$(first_dep "$meta" '^linux-image-[0-9]')
if [ -z "$image" ]; then
	[ "$(id -u)" = 0 ] && apt-get update -qq || true
	image=$(first_dep "$meta" '^linux-image-[0-9]')
fi
[ -n "$image" ] || fail "apt-cache cannot resolve $meta"
kver=${image#linux-image-}
headers=linux-headers-$kver
pkgs="$image $headers $(first_dep "$headers" '^linux-headers-.*-common$') $(first_dep "$headers" '^linux-kbuild-')"
say "kernel $kver (from $meta)"

mkdir -p "$cache"
for pkg in $pkgs; do
	ls "$cache/${pkg}_"*.deb >/dev/null 2>&1 && continue
	say "downloading $pkg"
	(cd "$cache" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
		fail "apt-get download $pkg failed"
done

kroot=$work/$kver/root
if [ ! -e "$kroot/.unpacked" ]; then
	rm -rf "$kroot" && mkdir -p "$kroot"
	for pkg in $pkgs; do
		dpkg-deb -x "$(ls "$cache/${pkg}_"*.deb | tail -n 1)" "$kroot"
	done
	# The headers' Makefile includes the common tree by absolute path.
	sed -i "s#^include /usr/src/#include $kroot/usr/src/#" \
		"$kroot/usr/src/$headers/Makefile"
	# The package ships no modules.dep (its postinst runs depmod).
	depmod -b "$kroot" "$kver" || fail "depmod failed"
	touch "$kroot/.unpacked"
fi
kdir=$kroot/usr/src/$headers
moddir=$kroot/lib/modules/$kver
vmlinuz=$kroot/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || fail "no $vmlinuz in $image"
fi

# 3. The module, out of the source tree, W=1, warnings are failures.
kbuild=$work/$kver/kmod
rm -rf "$kbuild" && mkdir -p "$kbuild/include"
cp "$src"/kmod/Kbuild "$src"/kmod/*.[ch] "$kbuild/"
cp "$src/include/daxmirror_uapi.h" "$src/include/daxkv_device.h" \
	"$kbuild/include/"
btf=()
command -v pahole >/dev/null || btf=(CONFIG_DEBUG_INFO_BTF_MODULES=)
if ! make -s -C "$kdir" M="$kbuild" W=1 "${btf[@]}" modules >"$kbuild/build.log" 2>&1; then
	cat "$kbuild/build.log" >&2
	fail "module build failed"
fi
if grep -E 'warning:|error:' "$kbuild/build.log" >&2; then
	fail "module build has warnings (W=1)"
fi

# 4. Test programs: static, so the initramfs needs no libraries for them.
bindir=$work/$kver/bin
mkdir -p "$bindir"
for test_src in "$src"/tests/kmod/*.c; do
	name=$(basename "$test_src" .c)
	gcc -static -O2 -g -Wall -Wextra -Werror -pthread -I"$src/include" \
		-o "$bindir/$name" "$test_src" || fail "cannot build $name"
done

# 5. The initramfs.
ird=$work/$kver/initramfs
rm -rf "$ird" && mkdir -p "$ird"/{bin,sbin,etc,proc,sys,dev,mnt,tmp,lib/modules,lib64}
cp "$(command -v busybox)" "$ird/bin/busybox"
cp "$bindir"/* "$ird/bin/"
cp "$kbuild/daxmirror.ko" "$ird/lib/modules/"
for tool in ndctl mkfs.ext4 mkfs.xfs; do
	path=$(readlink -f "$(command -v $tool)")
	cp "$path" "$ird/bin/$tool"
	for lib in $(ldd "$path" | awk '/=> \//{print $3} /^\t\/lib/{print $1}'); do
		mkdir -p "$ird$(dirname "$lib")"
		cp -L "$lib" "$ird$lib"
	done
done
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$ird/etc/"

# The engine's own tests and kvctl, from the CMake build, on real fsdax:
# MAP_SYNC durability, libpmemobj pools on emulated NVDIMMs (no false
# unsafe-shutdown or bad-block errors), kvctl's namespace facts.  Each
# goes with the shared libraries ldd names (the build's rpath included).
if [ -n "${DAXKV_VM_BUILD_DIR:-}" ]; then
	for prog in tests/engine/engine_test tests/engine/crash_test \
		tests/engine/query_test tests/engine/compact_test \
		tests/engine/poison_vm tests/engine/kmod_test \
		benchmarks/scan/daxkv-scanbench tools/kvctl/kvctl; do
		path=$DAXKV_VM_BUILD_DIR/$prog
		[ -x "$path" ] || fail "$path is not built (build before the VM suite)"
		cp "$path" "$ird/bin/"
	done
	cp "$src/tests/kvctl/vm_kvctl.sh" "$ird/bin/"
	cp "$(readlink -f "$(command -v pmempool)")" "$ird/bin/pmempool"
	for path in "$ird/bin/engine_test" "$ird/bin/crash_test" \
		"$ird/bin/query_test" "$ird/bin/compact_test" \
		"$ird/bin/poison_vm" "$ird/bin/kmod_test" \
		"$ird/bin/daxkv-scanbench" \
		"$ird/bin/kvctl" "$ird/bin/pmempool"; do
		for lib in $(ldd "$path" | awk '/=> \//{print $3} /^\t\/lib/{print $1}'); do
			case "$lib" in
			/lib/* | /lib64/* | /usr/lib/*) dest=$lib ;;
			# the build tree's libdaxkv: a default library
			# directory (the guest mounts a tmpfs over /tmp)
			*) dest=/lib/x86_64-linux-gnu/$(basename "$lib") ;;
			esac
			mkdir -p "$ird$(dirname "$dest")"
			cp -L "$lib" "$ird$dest"
		done
	done
fi

# Kernel modules, dependencies first, in the order modules.dep implies.
declare -A seen=()
order=()
add_module() {
	local name=$1 entry dep
	[ -n "${seen[$name]:-}" ] && return 0
	seen[$name]=1
	[ -n "$moddir" ] || return 0	# debug kernel: all built in
	entry=$(grep -E "(^|/)${name}\.ko(\.xz|\.zst)?:" "$moddir/modules.dep" || true)
	[ -n "$entry" ] || return 0	# built in
	for dep in ${entry#*:}; do
		dep=$(basename "$dep")
		add_module "${dep%%.ko*}"
	done
	order+=("${entry%%:*}")
}
for name in libnvdimm nfit nd_pmem nd_btt dax_pmem device_dax \
	crc32c_generic crc32c-intel crc16 ext4 libcrc32c xfs; do
	add_module "$name"
done
: >"$ird/etc/modules"
for rel in "${order[@]}"; do
	base=$(basename "$rel")
	case "$base" in
	*.xz) xz -dc "$moddir/$rel" >"$ird/lib/modules/${base%.xz}" ;;
	*.zst) zstd -qdc "$moddir/$rel" >"$ird/lib/modules/${base%.zst}" ;;
	*) cp "$moddir/$rel" "$ird/lib/modules/" ;;
	esac
	echo "${base%%.ko*}.ko" >>"$ird/etc/modules"
done
cp "$src/tests/vm/guest-init.sh" "$ird/init"
chmod +x "$ird/init"
case "${DAXKV_VM_CASES:-}" in *\'*) fail "DAXKV_VM_CASES may not contain a quote" ;; esac
printf "RACES=%d\nFUZZ=%d\nKVER='%s'\nCASES='%s'\n" "$races" "$fuzz" "$kver" \
	"${DAXKV_VM_CASES:-.}" >"$ird/etc/suite.conf"
printf "CASE_TIMEOUT=%d\nQUERIES=%d\nQRACES=%d\nENGINE_RECORDS=%d\nENGINE_QUERIES=%d\nSCAN_RECORDS=%d\n" \
	"$((timeout_s / 2))" "$queries" "$qraces" "$engine_records" "$engine_queries" \
	"$scan_records" >>"$ird/etc/suite.conf"
# The stress case maps half its files MAP_SYNC where the race cases do.
stress_sync=
[ "$sync_races" -gt 0 ] && stress_sync=-y
printf "STRESS=%d\nSYNC_RACES=%d\nSTRESS_SYNC='%s'\nCLONES='%s'\nXFSR_RACES=%d\n" \
	"$stress" "$sync_races" "$stress_sync" "$clones" "$xfsr_races" >>"$ird/etc/suite.conf"
(cd "$ird" && find . | cpio -o -H newc --quiet) >"$work/$kver/initramfs.cpio"

# 6. Boot.  Four NVDIMMs: fsdax for ext4, fsdax for xfs (2 GiB: the kill
# case maps a 1 GiB file there), devdax, fsdax for xfs with reflink.  The
# backing files are sparse: only what the guest writes takes host disk.
img=$work/$kver/nvdimm
rm -f "$img".*
nv=()
for i in 0 1 2 3; do
	size=1G	# xfs wants > 300 MB and a 64 MB log in one AG
	[ $i = 1 ] && size=2G
	truncate -s $size "$img.$i"
	nv+=(-object "memory-backend-file,id=nvmem$i,share=on,mem-path=$img.$i,size=$size"
		-device "nvdimm,id=nvdimm$i,memdev=nvmem$i")
done
log=$work/$kver/console.log
say "booting (timeout ${timeout_s}s, log $log)"
t_boot=$(date +%s)
set +e
timeout -k 5 "$timeout_s" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp 2 \
	-machine pc,nvdimm=on -m 1G,slots=6,maxmem=8G "${nv[@]}" \
	-nographic -no-reboot -serial mon:stdio -monitor none \
	-kernel "$vmlinuz" -initrd "$work/$kver/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 quiet secretmem.enable=1" \
	</dev/null >"$log" 2>&1
qrc=$?
set -e
rm -f "$img".*
t_end=$(date +%s)

# 7. Verdict.
grep -E '^DMR ' "$log" | tr -d '\r' >&2 || true
verdict=0
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
	say "guest timed out after ${timeout_s}s"
	verdict=1
elif [ $qrc != 0 ]; then
	say "qemu exited with $qrc"
	verdict=1
fi
# Splats.  The debug kernel's checkers print theirs as BUG: (KASAN,
# "sleeping function called from invalid context") or WARNING: (lockdep);
# the other patterns catch them however they are worded, and a lockdep
# that turned itself off would check nothing more.
splat='(^|[^A-Za-z_])BUG[: ]|WARNING:|Oops|general protection|Call Trace|Kernel panic'
splat="$splat|KASAN|UBSAN|possible (circular|recursive) locking|inconsistent lock state"
splat="$splat|sleeping function called|DEBUG_LOCKS_WARN_ON|turning off the locking correctness validator"
splat="$splat|list_(add|del) corruption|INFO: task .* blocked|soft lockup|hard LOCKUP|self-detected stall"
if grep -nE "$splat" "$log" >&2; then
	say "the guest kernel log has a splat (BUG, WARNING, Oops, KASAN, lockdep, panic...)"
	verdict=1
fi
if grep -q '^DMR FAIL' "$log"; then
	verdict=1
fi
if ! grep -q '^DMR SUITE DONE' "$log"; then
	say "the suite did not finish"
	verdict=1
fi
say "boot+tests $((t_end - t_boot))s, whole script $((t_end - t_start))s"
[ $verdict = 0 ] || { tail -n 60 "$log" >&2; fail "see $log"; }
say "PASS"
