#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite, as CI runs it: installs what it needs on a fresh
# Debian 12 machine, then builds and runs
#   1. the release build's tests (engine, tools, benchmarks' unit tests,
#      and the Redis Cluster tests of daxkv_redis: label redis, ~3 min),
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. the concurrent tests under ThreadSanitizer,
#   4. the crash simulator and fault injection (in step 1) and bounded
#      fuzzing (a clang build, 60 s a target),
#   5. the kernel-module VM suite (QEMU, software emulation) on both
#      Debian 12 kernels and on a debug kernel (KASAN, lockdep) built
#      from Debian's 6.12 source first (about 10 minutes on 2 cores, kept
#      in build/vm for the next run; docs/kmod.md, "The debug kernel");
#      --no-debug-kernel leaves the debug kernel out.
# Usage: scripts/test.sh [--no-vm] [--no-debug-kernel] [--no-sanitizers]
#                        [--jobs N]
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
run_vm=1
run_debug_kernel=1
run_san=1
jobs=$(nproc)
while [ $# -gt 0 ]; do
	case "$1" in
	--no-vm) run_vm=0 ;;
	--no-debug-kernel) run_debug_kernel=0 ;;
	--debug-kernel) run_debug_kernel=1 ;;	# the default; kept for old scripts
	--no-sanitizers) run_san=0 ;;
	--jobs) jobs=$2; shift ;;
	-h|--help)
		sed -n '3,17p' "$0" | sed 's/^# \{0,1\}//'
		exit 0 ;;
	*) echo "test.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

groups="test bench"
[ "$run_vm" = 1 ] && groups="$groups vm"
[ "$run_vm" = 1 ] && [ "$run_debug_kernel" = 1 ] && groups="$groups vm-debug"
# shellcheck disable=SC2086
scripts/install-deps.sh $groups || { echo "test.sh: dependency install failed" >&2; exit 1; }

export PMEM_IS_PMEM_FORCE=1

# The crash simulator and fuzz_open open a libpmemobj pool for every
# crash state or input, and each open touches the pool's 1024 lanes in a
# fresh mapping: on a VM with shadow paging, a fault per 4 KiB page that
# the guest does not even see.  On a tmpfs with huge pages they run about
# 1.5x faster (tests/crashsim/crashsim.c).  Where none can be mounted (not
# root, no tmpfs), they use /dev/shm.
huge_dir=""
if [ "$(id -u)" = 0 ] && huge_dir=$(mktemp -d /tmp/daxkv-huge.XXXXXX) &&
   mount -t tmpfs -o huge=always,mode=1777 daxkv-huge "$huge_dir" 2>/dev/null; then
	export DAXKV_CRASHSIM_DIR=$huge_dir DAXKV_FUZZ_DIR=$huge_dir
	trap 'umount "$huge_dir" 2>/dev/null || umount -l "$huge_dir"; rmdir "$huge_dir"' EXIT
	echo "test.sh: crash images and fuzz databases on $huge_dir (tmpfs, huge=always)"
else
	[ -n "$huge_dir" ] && rmdir "$huge_dir" 2>/dev/null
	huge_dir=""
fi

total_pass=0
total_fail=0
failed_steps=""
start=$(date +%s)

# step NAME BUILD_DIR CMAKE_ARGS CTEST_ARGS...
step() {
	local name=$1 dir=$2 cmake_args=$3
	shift 3
	local t0 log
	t0=$(date +%s)
	log=$(mktemp)
	echo "=== $name"
	# shellcheck disable=SC2086
	if ! cmake -S . -B "$dir" $cmake_args >"$log" 2>&1 ||
	   ! cmake --build "$dir" -j"$jobs" >>"$log" 2>&1; then
		cat "$log"
		echo "=== $name: BUILD FAILED"
		total_fail=$((total_fail + 1))
		failed_steps="$failed_steps $name(build)"
		rm -f "$log"
		return
	fi
	# shellcheck disable=SC2086
	${CTEST_WRAP:-} ctest --test-dir "$dir" --output-on-failure --no-tests=error "$@" 2>&1 | tee "$log"
	local passed failed
	passed=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$log" | tail -1)
	if [ -z "$passed" ]; then
		total_fail=$((total_fail + 1))
		failed_steps="$failed_steps $name"
	else
		set -- $passed
		total_pass=$((total_pass + $1 - $2))
		total_fail=$((total_fail + $2))
		[ "$2" != 0 ] && failed_steps="$failed_steps $name"
	fi
	echo "=== $name: $(( $(date +%s) - t0 )) s"
	rm -f "$log"
	figures "$name" "$dir/Testing/Temporary/LastTest.log"
}

# figures STEP LOG: the counts the issues' targets name, from the test
# outputs ctest keeps (it prints none for a test that passed): crash
# states (by kind), the fault sweep, the corruption sweep (damage_sweep:
# pairs tried, refused, opened, salvaged, writes lost), fuzz executions,
# the VM's scan ratios.  The crash-simulator runs (five in CI plus the
# seed replays; not the planted bugs or the determinism check) must check
# >= 100,000 crash states between them.
figures() {
	local name=$1 log=$2 out
	[ -f "$log" ] || return 0
	out=$(awk '
		/^[0-9]+\/[0-9]+ Test: / { t = $3; sim = t !~ /planted|determinism/ }
		/^crashsim: .* crash states checked/ && sim {
			printf "  %-20s %s crash points, %s states, %s violations, %s s\n",
				t, $2, $5, $9, $11
			states += $5; runs++
		}
		/^states by event:/ && sim {
			gsub(",", ""); ev_f += $5; ev_s += $7; ev_m += $9; ev_fs += $11
		}
		/^states by context:/ && sim {
			gsub(",", ""); cx_w += $5; cx_c += $7; cx_o += $9; cx_cl += $11
		}
		/^states with:/ && sim {
			gsub(",", ""); w_i += $6; w_t += $10; w_f += $15
		}
		/^crashsim: .* crash states checked, 0 violations/ && t ~ /planted/ {
			printf "  %-20s %s states, 0 violations (a plant the engine tolerates)\n",
				t, $5
		}
		/^planted bug [0-9]+ caught/ {
			printf "  %-20s caught at state %s\n", t, $7
		}
		/fault runs, .* failures$/ { printf "  %-20s %s\n", t, $0 }
		/^damage_sweep: .* pairs tried/ { printf "  %-20s %s\n", t, $0 }
		/^msync_test: / { printf "  %-20s %s\n", t, $0 }
		/^wrapped calls never reached/ { printf "  %-20s %s\n", t, $0 }
		/^stat::number_of_executed_units:/ {
			printf "  %-20s %s executions\n", t, $2
		}
		/^DMR +\| (cpu|kmod) \| 0\.1% \|/ {
			printf "  %-20s scanbench %s 0.1%% %s: %s of the plain read\n",
				t, $3, $7, $13
		}
		END {
			if (runs) {
				printf "  crash states in all: %d (%d runs)\n",
					states, runs
				printf "    at a fence %d, a store %d, a metadata commit %d, a file operation %d\n",
					ev_f, ev_s, ev_m, ev_fs
				printf "    while writing %d, compacting %d, opening %d, closing %d\n",
					cx_w, cx_c, cx_o, cx_cl
				printf "    with an intermediate value %d, a torn line %d, a file operation lost %d\n",
					w_i, w_t, w_f
			}
			if (runs >= 5 && states < 100000)
				print "  FEWER THAN 100000 CRASH STATES"
		}' "$log")
	[ -n "$out" ] || return 0
	echo "=== $name: figures"
	echo "$out"
	if echo "$out" | grep -q "FEWER THAN"; then
		total_fail=$((total_fail + 1))
		failed_steps="$failed_steps $name(crash-states)"
	fi
}

# The release build compiles the CUDA backend wherever nvcc is (CI has it
# at /usr/local/cuda), and fails rather than quietly leaving it out; its
# GPU tests skip (exit 4) or check unavailability where there is no GPU.
# The sanitizer and fuzz builds leave CUDA out (-DDAXKV_WITH_CUDA=OFF):
# nvcc takes neither -fsanitize nor clang's fuzzer flags, and the CUDA
# runtime is not instrumented, so they test the no-CUDA stub instead.
cuda=OFF
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
	cuda=ON
fi
release_args="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDAXKV_WITH_CUDA=$cuda"
# (sanitizer-skip marks tests that only the sanitizer steps leave out)
step "release" build "$release_args" -j"$jobs" -LE "vm"
if [ "$run_san" = 1 ]; then
	# the corruption sweep, smaller under ASan (2,100 pairs in step 1)
	DAXKV_DAMAGE_PAIRS=330 \
	step "asan+ubsan" build-asan \
		"-DCMAKE_BUILD_TYPE=Debug -DDAXKV_SANITIZE=address,undefined -DDAXKV_BUILD_BENCHMARKS=OFF -DDAXKV_WITH_CUDA=OFF" \
		-j"$jobs" -LE "vm|fuzz|crashsim|sanitizer-skip"
	# TSan's shadow memory needs a fixed layout; with a kernel that
	# randomises mmap bases widely it dies at start, so turn ASLR off
	# for those tests where setarch can.
	tsan_wrap=""
	setarch "$(uname -m)" -R true 2>/dev/null && tsan_wrap="setarch $(uname -m) -R"
	CTEST_WRAP=$tsan_wrap \
	DAXKV_MT_OPS=5000 DAXKV_QUERY_RECORDS=20000 DAXKV_QUERY_COUNT=200 \
	DAXKV_QUERY_MT_ROUNDS=20 DAXKV_QUERY_MT_WRITES=3000 \
	DAXKV_COMPACT_MS=1500 \
	TSAN_OPTIONS="suppressions=$top/tests/tsan.supp halt_on_error=1" \
	step "tsan" build-tsan \
		"-DCMAKE_BUILD_TYPE=Debug -DDAXKV_SANITIZE=thread -DDAXKV_BUILD_BENCHMARKS=OFF -DDAXKV_WITH_CUDA=OFF" \
		-L concurrency
fi
# libFuzzer needs clang: the fuzz targets get a build of their own.  Each
# target is one process on one core for DAXKV_FUZZ_SECONDS, so they run
# -j"$jobs" at a time: 60 s each, on a core each, in a third of the time.
CC=clang step "fuzz" build-fuzz \
	"-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDAXKV_BUILD_BENCHMARKS=OFF -DDAXKV_WITH_CUDA=OFF" \
	-j"$jobs" -L fuzz
if [ "$run_vm" = 1 ]; then
	if [ "$run_debug_kernel" = 1 ]; then
		# The kernel is built as a step of its own, so that its time is
		# reported apart and vm_kmod_debug's ctest limit covers only the
		# guest (it would build the kernel itself if this had not).
		t0=$(date +%s)
		if tests/vm/build-debug-kernel.sh "$top/build/vm" \
			>"$top/build/debug-kernel.log" 2>&1; then
			echo "=== debug kernel: built in $(( $(date +%s) - t0 )) s ($(tail -n 1 "$top/build/debug-kernel.log"))"
		else
			tail -n 40 "$top/build/debug-kernel.log"
			echo "=== debug kernel: BUILD FAILED after $(( $(date +%s) - t0 )) s"
			total_fail=$((total_fail + 1))
			failed_steps="$failed_steps debug-kernel(build)"
		fi
		step "vm" build "$release_args" -L vm
	else
		step "vm" build "$release_args" -L vm -LE vm-debug
	fi
fi

echo "=== all steps: $(( $(date +%s) - start )) s"
[ -n "$failed_steps" ] && echo "failed steps:$failed_steps"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
