#!/bin/sh
# SPDX-License-Identifier: MIT
# determinism.sh CRASHSIM -- a run is a function of its seed: the same
# threaded command twice checks the same states (same counts of every
# kind, same scheduling decisions), and --keep-state rebuilds one of them
# with the same description.
sim=$1
args="--seed 21 --ops 120 --threads 3 --bg-compact --reader --big 30 --big-size 300000 --del 20 --reopen 30 --round 30 --max-states 400"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
figures() {
	grep -E '^(phase|states|threads|engine)' "$1"
}
# shellcheck disable=SC2086
"$sim" $args >"$out/a" 2>&1 || { cat "$out/a"; exit 1; }
# shellcheck disable=SC2086
"$sim" $args >"$out/b" 2>&1 || { cat "$out/b"; exit 1; }
figures "$out/a" >"$out/fa"
figures "$out/b" >"$out/fb"
if ! cmp -s "$out/fa" "$out/fb" || ! [ -s "$out/fa" ]; then
	echo "determinism: two runs of one seed differ:"
	diff "$out/fa" "$out/fb"
	exit 1
fi
cat "$out/fa"
# shellcheck disable=SC2086
"$sim" $args --keep-state 300 --keep-dir "$out/state" >"$out/k" 2>&1
line=$(grep '^state 300 (' "$out/k")
[ -n "$line" ] && [ -f "$out/state/meta.pool" ] || {
	echo "determinism: --keep-state 300 did not rebuild the state"
	cat "$out/k"
	exit 1
}
echo "$line"
echo "determinism: the same seed made the same run, and state 300 was rebuilt"
