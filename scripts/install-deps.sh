#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages a daxkv job needs, only those missing.
# Usage: scripts/install-deps.sh GROUP...   groups: build test bench vm vm-debug cuda all
set -euo pipefail

build_pkgs="build-essential cmake pkg-config libpmem-dev libpmem2-dev libpmemobj-dev libpmempool-dev
	liburcu-dev libxxhash-dev libjson-c-dev libndctl-dev libdaxctl-dev"
test_pkgs="pmdk-tools clang llvm python3 binutils redis-server redis-tools"
bench_pkgs="liblmdb-dev librocksdb-dev gnuplot-nox redis-server redis-tools"
vm_pkgs="qemu-system-x86 busybox-static cpio ndctl e2fsprogs xfsprogs kmod xz-utils dwarves"
# the debug guest kernel (tests/vm/build-debug-kernel.sh)
vm_debug_pkgs="linux-source-6.12 build-essential bc flex bison libelf-dev libssl-dev"

want=""
for group in "${@:-build}"; do
	case "$group" in
	build) want="$want $build_pkgs" ;;
	test) want="$want $build_pkgs $test_pkgs" ;;
	bench) want="$want $build_pkgs $bench_pkgs" ;;
	vm) want="$want $vm_pkgs" ;;
	vm-debug) want="$want $vm_pkgs $vm_debug_pkgs" ;;
	all) want="$want $build_pkgs $test_pkgs $bench_pkgs $vm_pkgs $vm_debug_pkgs" ;;
	*) echo "install-deps: unknown group '$group' (build test bench vm vm-debug all)" >&2; exit 2 ;;
	esac
done

missing=""
for pkg in $want; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	sudo="sudo"
else
	sudo=""
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
