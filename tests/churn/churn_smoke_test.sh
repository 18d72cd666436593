#!/bin/sh
# SPDX-License-Identifier: MIT
# churn_smoke_test.sh -- daxkv-churn at a small size: every stage is
# reported, the deletes leave no live key, the target line is printed and
# the database is removed; bad arguments exit 2.
#
#   churn_smoke_test.sh DAXKV_CHURN
set -u

CHURN=$1
WORK=$(mktemp -d /dev/shm/churn-smoke-test-XXXXXX) || exit 1
trap 'rm -rf "$WORK"' EXIT
export PMEM_IS_PMEM_FORCE="${PMEM_IS_PMEM_FORCE:-1}"

fail() {
	echo "FAIL: $*" >&2
	for f in "$WORK"/out "$WORK"/err; do
		[ -f "$f" ] && { echo "--- $f:" >&2; head -c 4000 "$f" >&2; }
	done
	exit 1
}
has() { grep -qE -- "$2" "$1" || fail "$1 lacks '$2'"; }

"$CHURN" --keys 20000 --settle 0 --segment 2 --dir "$WORK" \
	>"$WORK/out" 2>"$WORK/err" || fail "daxkv-churn failed"
has "$WORK/out" "^after the inserts: .* 20000 live keys"
has "$WORK/out" "^after the deletes: .* 0 live keys"
has "$WORK/out" "^after daxkv_compact\(\): .* 0 live keys"
has "$WORK/out" "^20000 keys inserted and deleted in .* largest segment 2 MiB"
has "$WORK/out" "^target: bytes on media <= one segment per lane \+ 1% of the bytes written \(.* MiB\): .* MiB (met|MISSED)$"
! ls -d "$WORK"/daxkv-churn-* >/dev/null 2>&1 || fail "the database was left in $WORK"
for bad in "--keys 0" "--keys x" "--settle -1" "--nope" "extra"; do
	# shellcheck disable=SC2086
	"$CHURN" $bad --dir "$WORK" >"$WORK/out" 2>"$WORK/err"
	[ $? -eq 2 ] || fail "'$bad' did not exit 2"
done
"$CHURN" --help >"$WORK/out" 2>&1 || fail "--help failed"
has "$WORK/out" "usage: daxkv-churn"
echo "churn_smoke: ok"
