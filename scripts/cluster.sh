#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A local Redis Cluster whose nodes keep their values in daxkv
# (daxkv_redis.so, docs/redis.md): N masters with one replica each on
# 127.0.0.1, node-timeout 2 s, min-replicas-to-write 1, no RDB or AOF,
# each node with its own daxkv database (emulated pmem under /dev/shm by
# default).
#
# Usage: scripts/cluster.sh start [N]    start (default N=3); a cluster
#                                         stopped before resumes with its data
#        scripts/cluster.sh stop          shut every node down (daxkv closes
#                                         cleanly: the next start needs no scan)
#        scripts/cluster.sh status        role, keys and records of each node
#        scripts/cluster.sh destroy       stop, then remove the directory
# Environment:
#   DAXKV_CLUSTER_DIR     where nodes live (default /dev/shm/daxkv-cluster)
#   DAXKV_CLUSTER_PORT    first port (default 7000; N*2 ports from it, and
#                         each port + 10000 for the cluster bus)
#   DAXKV_REDIS_MODULE    the module (default build/tools/redis/daxkv_redis.so;
#                         "none": plain Redis, for comparisons)
#   DAXKV_MODULE_ARGS     more module options, e.g. "segment-size 8M"
#   DAXKV_REDIS_CONF      more redis.conf lines for every node
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${DAXKV_CLUSTER_DIR:-/dev/shm/daxkv-cluster}
base=${DAXKV_CLUSTER_PORT:-7000}
module=${DAXKV_REDIS_MODULE:-$top/build/tools/redis/daxkv_redis.so}
cli=(redis-cli -h 127.0.0.1)

die() { echo "cluster.sh: $*" >&2; exit 1; }

usage() {
	sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//'
}

# The ports of this cluster: from the directory when it exists.
ports() {
	if [ -d "$dir" ]; then
		find "$dir" -maxdepth 1 -name 'node-*' -type d -printf '%f\n' |
			sed 's/^node-//' | sort -n
	fi
}

alive() { # PORT
	local pidfile=$dir/node-$1/redis.pid
	[ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

write_conf() { # PORT
	local port=$1 node=$dir/node-$1
	mkdir -p "$node"
	cat >"$node/redis.conf" <<EOF
port $port
bind 127.0.0.1
daemonize yes
pidfile $node/redis.pid
logfile $node/redis.log
dir $node
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 2000
min-replicas-to-write 1
save ""
appendonly no
rdb-del-sync-files yes
repl-diskless-load disabled
$([ "$module" = none ] || echo "loadmodule $module $node/daxkv ${DAXKV_MODULE_ARGS:-}")
${DAXKV_REDIS_CONF:-}
EOF
}

wait_ping() { # PORT
	local i
	for i in $(seq 1 100); do
		"${cli[@]}" -p "$1" ping >/dev/null 2>&1 && return 0
		alive "$1" || die "node $1 exited: see $dir/node-$1/redis.log"
		sleep 0.1
	done
	die "node $1 does not answer after 10 s: see $dir/node-$1/redis.log"
}

wait_ok() { # PORT...
	local p i
	for p in "$@"; do
		for i in $(seq 1 300); do
			"${cli[@]}" -p "$p" cluster info 2>/dev/null |
				grep -q '^cluster_state:ok' && break
			[ "$i" = 300 ] && die "node $p: cluster not ok after 30 s"
			sleep 0.1
		done
	done
}

# Every master has an online replica (min-replicas-to-write 1 refuses
# writes until then).
wait_replicas() { # PORT...
	local p i info
	for p in "$@"; do
		for i in $(seq 1 300); do
			info=$("${cli[@]}" -p "$p" info replication 2>/dev/null | tr -d '\r')
			echo "$info" | grep -q '^role:slave' && break
			echo "$info" | grep -q '^slave0:.*state=online' && break
			[ "$i" = 300 ] && die "node $p: no online replica after 30 s"
			sleep 0.1
		done
	done
}

start() {
	local n=${1:-3} p started=() ports_list resume=0
	command -v redis-server >/dev/null ||
		die "redis-server not found (scripts/install-deps.sh test)"
	[ "$module" = none ] || [ -f "$module" ] || die "no module at $module (build first, or set DAXKV_REDIS_MODULE)"
	case $n in ''|*[!0-9]*) die "N must be a number of masters, not '$n'" ;; esac
	[ "$n" -ge 3 ] || die "Redis Cluster needs at least 3 masters (N=$n)"
	ports_list=$(ports)
	if [ -n "$ports_list" ]; then
		for p in $ports_list; do
			alive "$p" && die "node $p is running already (cluster.sh stop)"
			[ -f "$dir/node-$p/nodes.conf" ] || die "$dir holds a cluster that was never created: cluster.sh destroy"
		done
		resume=1
		echo "cluster.sh: resuming the cluster in $dir"
	else
		ports_list=$(seq "$base" $((base + 2 * n - 1)))
	fi
	# emulated pmem where the directory is a tmpfs: daxkv then flushes
	# caches as on real pmem; on any other file system it probes (DAX)
	# or falls back to msync
	mkdir -p "$dir"
	if [ "$(stat -f -c %T "$dir")" = tmpfs ]; then
		export PMEM_IS_PMEM_FORCE=${PMEM_IS_PMEM_FORCE:-1}
	fi
	for p in $ports_list; do
		[ "$resume" = 1 ] || write_conf "$p"
		redis-server "$dir/node-$p/redis.conf" ||
			die "node $p did not start: see $dir/node-$p/redis.log"
		started+=("$p")
	done
	for p in "${started[@]}"; do wait_ping "$p"; done
	if [ "$resume" = 0 ]; then
		local addrs=()
		for p in "${started[@]}"; do addrs+=("127.0.0.1:$p"); done
		redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 \
			--cluster-yes >"$dir/create.log" 2>&1 ||
			die "cluster create failed: see $dir/create.log"
	fi
	wait_ok "${started[@]}"
	wait_replicas "${started[@]}"
	echo "cluster.sh: ${#started[@]} nodes up on 127.0.0.1:${started[0]}-${started[-1]} ($dir)"
	echo "  redis-cli -c -p ${started[0]} DKV.SET '{user1}:name' Ada"
}

stop() {
	local p any=0
	for p in $(ports); do
		if alive "$p"; then
			any=1
			"${cli[@]}" -p "$p" shutdown nosave >/dev/null 2>&1 || true
		fi
	done
	for p in $(ports); do
		local i
		for i in $(seq 1 100); do
			alive "$p" || break
			sleep 0.1
		done
		alive "$p" && die "node $p did not stop (pid $(cat "$dir/node-$p/redis.pid"))"
	done
	[ "$any" = 1 ] && echo "cluster.sh: stopped"
	return 0
}

status() {
	local p
	[ -n "$(ports)" ] || { echo "cluster.sh: no cluster in $dir"; return 1; }
	printf '%-6s %-8s %-7s %10s %10s\n' PORT STATE ROLE KEYS RECORDS
	for p in $(ports); do
		if ! alive "$p"; then
			printf '%-6s %-8s\n' "$p" down
			continue
		fi
		local role keys records
		role=$("${cli[@]}" -p "$p" role 2>/dev/null | head -1)
		keys=$("${cli[@]}" -p "$p" dbsize 2>/dev/null)
		records=$("${cli[@]}" -p "$p" dkv.info 2>/dev/null |
			sed -n 's/^records:\([0-9]*\).*/\1/p')
		[ -n "$records" ] || records=-
		printf '%-6s %-8s %-7s %10s %10s\n' "$p" up "$role" "$keys" "$records"
	done
	p=$(ports | head -1)
	alive "$p" && "${cli[@]}" -p "$p" cluster info | grep -E '^cluster_(state|slots_ok|known_nodes|size):' | tr -d '\r'
	return 0
}

case ${1:-} in
start) start "${2:-3}" ;;
stop) stop ;;
status) status ;;
destroy)
	stop
	[ -d "$dir" ] && rm -rf "$dir" && echo "cluster.sh: removed $dir"
	;;
-h|--help) usage ;;
*) usage >&2; exit 2 ;;
esac
