#!/bin/bash
# SPDX-License-Identifier: MIT
# crashsim-long.sh -- the crash simulator's long run (docs/testing.md): the
# configurations CI runs, with a new seed for every run and more operations,
# JOBS runs at a time, until STATES crash states were checked or SECONDS
# passed; then the sums per kind, the violations, the rate, and the time the
# whole target takes at that rate.
#
# usage: scripts/crashsim-long.sh [-b BUILD_DIR] [-s STATES] [-t SECONDS]
#                                 [-j JOBS] [-o LOG_DIR] [-n OPS]
#   -b  build directory with tests/crashsim/crashsim (default: build)
#   -s  crash states to reach (default: 10000000)
#   -t  stop starting runs after this many seconds (default: no limit)
#   -j  runs at a time (default: the number of CPUs)
#   -o  where each run's output goes (default: a new directory in /tmp)
#   -n  operations per run (default: 2000)
# Runs that find a violation keep their output; each prints the command that
# rebuilds the failing state (--keep-state).  Put DAXKV_CRASHSIM_DIR on a
# tmpfs mounted huge=always where you can (scripts/test.sh does): states
# are about 1.5x faster there.
set -u

build=build
target=10000000
limit=0
jobs=$(nproc)
logdir=""
ops=2000
while getopts "b:s:t:j:o:n:h" opt; do
	case $opt in
	b) build=$OPTARG ;;
	s) target=$OPTARG ;;
	t) limit=$OPTARG ;;
	j) jobs=$OPTARG ;;
	o) logdir=$OPTARG ;;
	n) ops=$OPTARG ;;
	*) sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
sim=$build/tests/crashsim/crashsim
[ -x "$sim" ] || { echo "crashsim-long: no $sim (build it first)" >&2; exit 2; }
[ -n "$logdir" ] || logdir=$(mktemp -d /tmp/crashsim-long.XXXXXX)
mkdir -p "$logdir"
export PMEM_IS_PMEM_FORCE=1

# The five configurations of CI (tests/crashsim/CMakeLists.txt), larger.
configs=(
	"--big 5 --reopen 10 --round 50"
	"--batch 50 --big 3 --fs journal"
	"--big 30 --del 10 --reopen 10 --round 40"
	"--threads 4 --bg-compact --reader --big 30 --big-size 300000 --del 20 --reopen 10 --round 40"
	"--threads 2 --reader --compact 4 --big 30 --big-size 400000 --del 20"
)

start=$(date +%s)
declare -A sum=()
keys="points states violations fence store meta fs write compact open close interm torn fslost"
for k in $keys; do sum[$k]=0; done
runs=0
failed=""

# add LOG: the figures of one finished run
add() {
	local log=$1 v
	v=$(awk '
		/^crashsim: .* crash states checked/ {
			printf "points=%s states=%s violations=%s ", $2, $5, $9 }
		/^states by event:/ {
			gsub(",", ""); printf "fence=%s store=%s meta=%s fs=%s ", $5, $7, $9, $11 }
		/^states by context:/ {
			gsub(",", ""); printf "write=%s compact=%s open=%s close=%s ", $5, $7, $9, $11 }
		/^states with:/ {
			gsub(",", ""); printf "interm=%s torn=%s fslost=%s ", $6, $10, $15 }
	' "$log")
	[ -n "$v" ] || { failed="$failed $log(no figures)"; return; }
	for kv in $v; do
		sum[${kv%%=*}]=$(( ${sum[${kv%%=*}]} + ${kv#*=} ))
	done
	runs=$((runs + 1))
	case " $v " in *" violations=0 "*) ;; *) failed="$failed $log" ;; esac
}

n=0
declare -A running=()
while :; do
	now=$(date +%s)
	if [ "${sum[states]}" -lt "$target" ] &&
	   { [ "$limit" = 0 ] || [ $((now - start)) -lt "$limit" ]; } &&
	   [ "${#running[@]}" -lt "$jobs" ]; then
		cfg=${configs[$((n % ${#configs[@]}))]}
		seed=$((1000 + n))
		log=$logdir/run-$n.log
		echo "$sim --seed $seed --ops $ops $cfg" >"$log"
		# shellcheck disable=SC2086
		nice -n 10 "$sim" --seed "$seed" --ops "$ops" $cfg >>"$log" 2>&1 &
		running[$!]=$log
		n=$((n + 1))
		continue
	fi
	[ "${#running[@]}" = 0 ] && break
	wait -n
	for pid in "${!running[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			add "${running[$pid]}"
			unset "running[$pid]"
		fi
	done
	echo "crashsim-long: $runs runs, ${sum[states]} states, ${sum[violations]} violations, $(( $(date +%s) - start )) s"
done

secs=$(( $(date +%s) - start ))
[ "$secs" -gt 0 ] || secs=1
rate=$(( ${sum[states]} / secs ))
echo
echo "crashsim-long: $runs runs of $ops operations ($jobs at a time), $secs s"
echo "  crash points ${sum[points]}, crash states ${sum[states]}, violations ${sum[violations]}"
echo "  by event: fence ${sum[fence]}, store ${sum[store]}, meta ${sum[meta]}, fs ${sum[fs]}"
echo "  by context: write ${sum[write]}, compact ${sum[compact]}, open ${sum[open]}, close ${sum[close]}"
echo "  with: an intermediate value ${sum[interm]}, a torn line ${sum[torn]}, a file operation lost ${sum[fslost]}"
echo "  rate: $rate states/s; $target states take about $(( target / (rate > 0 ? rate : 1) / 60 )) minutes at this rate"
echo "  outputs: $logdir"
if [ "$runs" = 0 ]; then
	echo "  no run finished with figures"
	exit 1
fi
if [ -n "$failed" ]; then
	echo "  runs with violations or without figures:$failed"
	exit 1
fi
