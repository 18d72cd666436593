#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the daxmirror suite's debug guest kernel: Debian's linux-source-6.12
# configured from `make tinyconfig` plus tests/vm/debug-kernel.config
# (KASAN, lockdep, DEBUG_VM, DEBUG_ATOMIC_SLEEP and what the suite needs,
# built in).  Prints the build directory (bzImage in
# arch/x86/boot/, the tree to build modules against) as its last line.
#
# Usage: tests/vm/build-debug-kernel.sh [WORKDIR]
#   WORKDIR  default build/vm; the kernel goes to
#            WORKDIR/debug-kernel/<source version>-<config hash>/ and is
#            reused while the source package and the fragment are the same.
#   DAXKV_DEBUG_KERNEL_JOBS  make -j (default: the number of CPUs)
#
# The build takes a while (see docs/kmod.md, "The debug kernel"): it runs
# under nice, and its time goes to build-seconds in the build directory.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mkdir -p "${1:-$src/build/vm}" && cd "${1:-$src/build/vm}" && pwd)
fragment=$src/tests/vm/debug-kernel.config
jobs=${DAXKV_DEBUG_KERNEL_JOBS:-$(nproc)}
pkg=linux-source-6.12

say() { echo "debug-kernel: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

if ! "$src/scripts/install-deps.sh" vm-debug; then
	say "install-deps.sh vm-debug failed; using the packages already installed"
fi
srcver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) ||
	fail "$pkg is not installed (scripts/install-deps.sh vm-debug)"
tarball=$(dpkg -L "$pkg" | grep -E '/linux-source-[0-9.]+\.tar\.xz$' | head -n 1)
[ -f "$tarball" ] || fail "no source tarball in $pkg"

# The directory is keyed by what decides the kernel: the source package's
# version and the fragment's bytes.
key=$(cat "$fragment" | sha256sum | cut -c1-12)
tag=$(echo "$srcver" | tr -c 'A-Za-z0-9.+\n' '_')
base=$work/debug-kernel
tree=$base/src-$tag
out=$base/$tag-$key
if [ -e "$out/.built" ]; then
	say "reusing $out (built in $(cat "$out/build-seconds") s)"
	echo "$out"
	exit 0
fi

if [ ! -e "$tree/.extracted" ]; then
	say "unpacking $tarball"
	rm -rf "$tree" && mkdir -p "$tree"
	tar -xf "$tarball" -C "$tree" --strip-components=1
	touch "$tree/.extracted"
fi

rm -rf "$out" && mkdir -p "$out"
kmake() { nice -n 10 make -s -C "$tree" O="$out" ARCH=x86_64 "$@"; }
kmake tinyconfig >"$out/config.log" 2>&1 || fail "tinyconfig (see $out/config.log)"
"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
	"$fragment" >>"$out/config.log" 2>&1 || fail "merge_config (see $out/config.log)"
kmake olddefconfig >>"$out/config.log" 2>&1 || fail "olddefconfig (see $out/config.log)"

# Every line of the fragment must have survived olddefconfig: a dropped
# option is a dependency the fragment lacks, and a silent one would make
# the suite test less than it says.
dropped=0
while IFS= read -r line; do
	case "$line" in CONFIG_*=*) ;; *) continue ;; esac
	name=${line%%=*}
	value=${line#*=}
	if [ "$value" = n ]; then
		grep -q "^$name=" "$out/.config" || continue
	elif grep -qxF "$line" "$out/.config"; then
		continue
	fi
	say "$line did not survive olddefconfig: $(grep -E "^(# )?$name[= ]" "$out/.config" || echo absent)"
	dropped=1
done <"$fragment"
[ $dropped = 0 ] || fail "the configuration lacks options of $fragment"

say "building $pkg $srcver with -j$jobs under nice (log $out/build.log)"
t0=$(date +%s)
if ! kmake -j"$jobs" all >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	fail "kernel build failed (see $out/build.log)"
fi
t1=$(date +%s)
echo $((t1 - t0)) >"$out/build-seconds"
kmake -s kernelrelease >"$out/kernelrelease"
touch "$out/.built"
# Builds of an older fragment are dead: about 1 GB each.
for old in "$base/$tag"-*; do
	[ "$old" = "$out" ] || rm -rf "$old"
done
say "built $(cat "$out/kernelrelease") in $((t1 - t0)) s"
echo "$out"
