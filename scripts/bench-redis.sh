#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# DKV.SET/DKV.GET on a 3+3 daxkv_redis cluster against plain SET/GET on a
# 3+3 Redis cluster with appendonly yes (appendfsync always: durable per
# write, the fair comparison; and everysec), measured with
# redis-benchmark --cluster, 100-byte values.  Prints each run's
# requests per second and the ratios, with the targets of issue #22
# (DKV.SET >= 1.5x SET always, DKV.GET >= 0.9x GET) marked met or missed.
#
# Where the data lives: daxkv on emulated pmem under /dev/shm (as every
# daxkv benchmark here); the AOF on the machine's disk
# ($DAXKV_BENCH_AOF_DIR, default /var/tmp), where fsync means something.
# One more row, not a target, runs appendfsync always with the AOF on
# /dev/shm, where fsync costs almost nothing (and makes nothing durable).
#
# Usage: scripts/bench-redis.sh [--requests N] [--clients C] [--keys K]
#                               [--repeat R] [--port P]
#   N requests per run (default 100000), C clients (50), K keys per node
#   (__rand_int__ range, 10000), R runs of each, interleaved, the median
#   kept (3), ports P..P+5 and P+100..P+105 (default 7300).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
requests=100000
clients=50
keys=10000
repeat=3
port=7300
while [ $# -gt 0 ]; do
	case $1 in
	--requests) requests=$2; shift ;;
	--clients) clients=$2; shift ;;
	--keys) keys=$2; shift ;;
	--repeat) repeat=$2; shift ;;
	--port) port=$2; shift ;;
	-h|--help) sed -n '3,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-redis.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

"$top/scripts/install-deps.sh" build bench
module=$top/build/tools/redis/daxkv_redis.so
if [ ! -f "$module" ]; then
	cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$top/build" -j"$(nproc)" --target daxkv_redis >/dev/null
fi

run=$(mktemp -d /dev/shm/daxkv-bench-redis.XXXXXX)
aof_parent=${DAXKV_BENCH_AOF_DIR:-/var/tmp}
aof=$(mktemp -d "$aof_parent/daxkv-bench-redis-aof.XXXXXX")
clusters=()
cleanup() {
	local d
	for d in "${clusters[@]}"; do
		DAXKV_CLUSTER_DIR=$d "$top/scripts/cluster.sh" destroy >/dev/null 2>&1 || true
	done
	rm -rf "$run" "$aof"
}
trap cleanup EXIT

# start NAME DIR PORT MODULE CONF
start() {
	clusters+=("$2")
	DAXKV_CLUSTER_DIR=$2 DAXKV_CLUSTER_PORT=$3 DAXKV_REDIS_MODULE=$4 \
		DAXKV_REDIS_CONF=$5 "$top/scripts/cluster.sh" start 3 >/dev/null
	echo "bench-redis: $1 cluster up on ports $3-$(($3 + 5))"
}

stop() { # DIR
	DAXKV_CLUSTER_DIR=$1 "$top/scripts/cluster.sh" destroy >/dev/null
}

value=$(head -c 100 /dev/zero | tr '\0' 'v')

# once PORT COMMAND...: requests per second of one run
once() {
	local p=$1 rps
	shift
	rps=$(timeout 600 redis-benchmark --cluster -h 127.0.0.1 -p "$p" \
		-n "$requests" -c "$clients" -r "$keys" --csv "$@" 2>/dev/null |
		awk -F'","' 'NR > 1 && NF > 2 { print $2 }' | tail -1)
	[ -n "$rps" ] || { echo "bench-redis: redis-benchmark $* failed" >&2; exit 1; }
	echo "$rps"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# every node of the cluster on PORT gets CONFIG SET NAME VALUE
config_all() {
	local p
	for p in $(seq "$1" $(($1 + 5))); do
		redis-cli -p "$p" config set "$2" "$3" >/dev/null
	done
}

echo "bench-redis: $requests requests x $repeat runs, $clients clients, $keys keys per node, 100-byte values"
echo "bench-redis: load before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"

# Both clusters up at once, their runs interleaved: the machine's other
# load falls on both alike.
start daxkv "$run/dkv" "$port" "$module" ""
plain_conf="appendonly yes
appendfsync always"
start "Redis (AOF on $aof_parent)" "$aof/plain" $((port + 100)) none "$plain_conf"
# fill every key first, so that the GET runs hit
once "$port" DKV.SET 'key:{tag}:__rand_int__' "$value" >/dev/null
once $((port + 100)) SET 'key:{tag}:__rand_int__' "$value" >/dev/null
r_dkv_set=() r_dkv_get=() r_always=() r_get=() r_everysec=() r_shm=()
for i in $(seq 1 "$repeat"); do
	r_dkv_set+=("$(once "$port" DKV.SET 'key:{tag}:__rand_int__' "$value")")
	r_always+=("$(once $((port + 100)) SET 'key:{tag}:__rand_int__' "$value")")
	r_dkv_get+=("$(once "$port" DKV.GET 'key:{tag}:__rand_int__')")
	r_get+=("$(once $((port + 100)) GET 'key:{tag}:__rand_int__')")
done
config_all $((port + 100)) appendfsync everysec
for i in $(seq 1 "$repeat"); do
	r_everysec+=("$(once $((port + 100)) SET 'key:{tag}:__rand_int__' "$value")")
done
stop "$run/dkv"
stop "$aof/plain"
start "Redis (AOF on /dev/shm)" "$run/plain-shm" $((port + 100)) none "$plain_conf"
for i in $(seq 1 "$repeat"); do
	r_shm+=("$(once $((port + 100)) SET 'key:{tag}:__rand_int__' "$value")")
done
stop "$run/plain-shm"
dkv_set=$(median "${r_dkv_set[@]}")
dkv_get=$(median "${r_dkv_get[@]}")
set_always=$(median "${r_always[@]}")
get_plain=$(median "${r_get[@]}")
set_everysec=$(median "${r_everysec[@]}")
set_always_shm=$(median "${r_shm[@]}")
echo "bench-redis: load after: $(cut -d' ' -f1-3 /proc/loadavg)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "met" : "missed" }'; }

echo
printf '| %-46s | %12s |\n' "run (redis-benchmark --cluster, 3+3 nodes)" "requests/s"
printf '|%s|%s|\n' "------------------------------------------------" "-------------:"
printf '| %-46s | %12.0f |\n' "DKV.SET (daxkv, emulated pmem)" "$dkv_set"
printf '| %-46s | %12.0f |\n' "SET, appendfsync always (AOF on $aof_parent)" "$set_always"
printf '| %-46s | %12.0f |\n' "SET, appendfsync everysec (AOF on $aof_parent)" "$set_everysec"
printf '| %-46s | %12.0f |\n' "SET, appendfsync always (AOF on /dev/shm)" "$set_always_shm"
printf '| %-46s | %12.0f |\n' "DKV.GET" "$dkv_get"
printf '| %-46s | %12.0f |\n' "GET" "$get_plain"
echo
r1=$(ratio "$dkv_set" "$set_always")
r2=$(ratio "$dkv_set" "$set_everysec")
r3=$(ratio "$dkv_set" "$set_always_shm")
r4=$(ratio "$dkv_get" "$get_plain")
printf '| %-38s | %6s | %7s | %-6s |\n' "ratio" "value" "target" "result"
printf '|%s|%s|%s|%s|\n' "----------------------------------------" "-------:" "--------:" "--------"
printf '| %-38s | %6s | %7s | %-6s |\n' "DKV.SET / SET always" "$r1" ">= 1.5" "$(verdict "$r1" 1.5)"
printf '| %-38s | %6s | %7s | %-6s |\n' "DKV.SET / SET everysec" "$r2" "-" "-"
printf '| %-38s | %6s | %7s | %-6s |\n' "DKV.SET / SET always, AOF on /dev/shm" "$r3" "-" "-"
printf '| %-38s | %6s | %7s | %-6s |\n' "DKV.GET / GET" "$r4" ">= 0.9" "$(verdict "$r4" 0.9)"
