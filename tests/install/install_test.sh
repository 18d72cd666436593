#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the build into a scratch prefix, then build a user's program
# against it twice: with find_package(daxkv) and with pkg-config.  Also:
# the shared library exports daxkv_* and nothing else, with a soname, and
# needs no libcudart.so.
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d /tmp/daxkv-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "install_test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" >/dev/null
lib=$(find "$work/prefix" -name 'libdaxkv.so.*.*' | head -1)
[ -n "$lib" ] || fail "libdaxkv.so not installed"
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
[ "$soname" = "libdaxkv.so.0" ] || fail "soname is '$soname'"
extra=$(nm -D --defined-only "$lib" | awk '{print $3}' |
	grep -v '^daxkv_' | grep -v '^DAXKV_' || true)
[ -z "$extra" ] || fail "exports beyond daxkv_*: $extra"
# The CUDA runtime is linked in statically: the library loads where there
# is no CUDA (and no C++ runtime) installed.
needed=$(objdump -p "$lib" | awk '/NEEDED/ {print $2}')
bad=$(echo "$needed" | grep -E '^lib(cudart|cuda|stdc\+\+)\.so' || true)
[ -z "$bad" ] || fail "needs $bad at run time"
[ -f "$work/prefix/include/daxkv.h" ] || fail "header not installed"

cmake -S "$src/consumer" -B "$work/c1" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/c1" >/dev/null
LD_LIBRARY_PATH=$(dirname "$lib") "$work/c1/consumer" "$work/db1"

pcdir=$(dirname "$(find "$work/prefix" -name daxkv.pc | head -1)")
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs daxkv)
# shellcheck disable=SC2086
cc -o "$work/c2" "$src/consumer/consumer.c" $flags
LD_LIBRARY_PATH=$(dirname "$lib") "$work/c2" "$work/db2"
echo "1 passed, 0 failed"
