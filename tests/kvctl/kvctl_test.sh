#!/bin/sh
# SPDX-License-Identifier: MIT
# kvctl_test.sh -- kvctl run as a user would, one case per ctest test.
#
#   kvctl_test.sh KVCTL KVCTL_HOLD SEGTOOL CASE
#
# Each case_* function below is a case; it creates its databases under
# /dev/shm (PMEM_IS_PMEM_FORCE=1 comes from ctest) and removes them.
# --json output is parsed with python3's json module.
set -u

KVCTL=$1
HOLD=$2
SEGTOOL=$3
CASE=$4
WORK=/dev/shm/kvctl-test-$$-$CASE
DB=$WORK/db
OUT=$WORK/out
ERR=$WORK/err
export PMEM_IS_PMEM_FORCE=${PMEM_IS_PMEM_FORCE:-1}

cleanup() {
	[ -n "${HOLD_PID:-}" ] && kill "$HOLD_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK" || exit 1

fail() {
	echo "FAIL [$CASE]: $*" >&2
	[ -f "$OUT" ] && { echo "--- stdout:" >&2; head -c 4000 "$OUT" >&2; }
	[ -f "$ERR" ] && { echo "--- stderr:" >&2; head -c 4000 "$ERR" >&2; }
	exit 1
}

# run EXPECTED_RC ARGS...: run kvctl, stdout in $OUT, stderr in $ERR
run() {
	want=$1
	shift
	"$KVCTL" "$@" >"$OUT" 2>"$ERR"
	got=$?
	[ "$got" = "$want" ] || fail "kvctl $* exited $got, expected $want"
}

# out_has TEXT / err_has TEXT: fixed-string search
out_has() { grep -qF -- "$1" "$OUT" || fail "stdout lacks '$1'"; }
err_has() { grep -qF -- "$1" "$ERR" || fail "stderr lacks '$1'"; }
out_is() {
	printf '%s\n' "$1" | cmp -s - "$OUT" || fail "stdout is not '$1'"
}
out_empty() { [ ! -s "$OUT" ] || fail "stdout is not empty"; }

# json_check PYTHON_EXPR: evaluate with `j` = parsed stdout; must be true
json_check() {
	python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)' "$OUT" "$@" || fail "json check failed: $1"
}

seg0() { echo "$DB/seg-00000000.dat"; }

# ---- kvctl query: the reference answers come from queryref.py ----
QREF=$(dirname "$0")/queryref.py

# load_query_db: $DB holds queryref.py's records (9000 keys over two 2M
# segments, 10% of them replaced by a second load, 10 deleted) and
# $WORK/model.json what is live
load_query_db() {
	python3 "$QREF" gen "$WORK" 7 9000 || fail "queryref.py gen"
	run 0 create "$DB" --segment-size 2M
	run 0 load "$DB" "$WORK/load1.jsonl" --quiet
	run 0 load "$DB" "$WORK/load2.jsonl" --quiet
	while read -r key; do
		run 0 del "$DB" "$key"
	done <"$WORK/deletes"
}

# query_check: each line of standard input holds the arguments of one
# `kvctl query $DB ...` (shell quoting); its output must be the reference's
# (rows in no particular order compared as sets)
query_check() {
	python3 "$QREF" check "$KVCTL" "$DB" "$WORK/model.json" >"$OUT" 2>"$ERR" ||
		fail "a query differs from the reference"
}

make_db() {
	run 0 create "$DB" --segment-size 2M
	for i in 1 2 3 4 5 6 7 8; do
		run 0 put "$DB" "key$i" "value$i"
	done
}

# start_hold [crash]: keep $DB open in another process until stop_hold
start_hold() {
	mkfifo "$WORK/fifo"
	"$HOLD" "$DB" "$@" <"$WORK/fifo" >"$WORK/hold.out" 2>&1 &
	HOLD_PID=$!
	exec 9>"$WORK/fifo"
	for _ in $(seq 100); do
		grep -q ready "$WORK/hold.out" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "helper did not open the database: $(cat "$WORK/hold.out")"
}
stop_hold() {
	exec 9>&-
	wait "$HOLD_PID"
	HOLD_PID=
	rm -f "$WORK/fifo"
}

case_help() {
	run 0 --help
	out_has "commands:"
	for cmd in create info check get put del scan query dump load stats compact backup devices mirror cluster; do
		run 0 "$cmd" --help
		out_has "usage: kvctl $cmd"
	done
	run 0 --version
	out_has "kvctl (daxkv)"
}

case_usage_errors() {
	run 2
	err_has "no command given"
	run 2 frobnicate
	err_has "unknown command 'frobnicate'"
	run 2 info
	err_has "missing DIR"
	run 2 info a b
	err_has "too many arguments"
	run 2 get "$DB"
	err_has "missing arguments"
	run 2 scan "$DB" --limit many
	err_has "--limit 'many' is not a number"
	run 2 create "$DB" --segment-size lots
	err_has "--segment-size 'lots' is not a size"
	run 2 create "$DB" --durability fast
	err_has "'auto' or 'msync'"
	run 2 get --hex "$DB" 0g
	err_has "is not valid hex"
	run 2 put --base64 "$DB" "a" "!!"
	err_has "is not valid base64"
	run 2 check "$DB" --yes
	err_has "--yes only goes with --repair"
	run 2 info "$DB" --repair
	err_has "does not apply here"
	run 2 devices extra
	err_has "takes no arguments"
	run 2 compact
	err_has "missing DIR"
	run 2 compact "$DB" --yes
	err_has "does not apply here"
	run 2 put "$DB" "" v
	err_has "keys are 1 to 1024 bytes"
	run 2 dump --hex "$DB"
	err_has "dump has its own format"
	# segment size the engine refuses: still a usage error
	run 2 create "$DB" --segment-size 3M
	err_has "segment_size"
}

case_create() {
	run 0 create --json "$DB" --segment-size 4M --max-size 1G
	json_check 'j["segment_size"] == 4 << 20 and j["max_size"] == 1 << 30'
	run 0 create "$WORK/db3"
	out_has "created $WORK/db3"
	run 3 create "$DB"
	err_has "exists"
	run 0 create --json "$WORK/db2" --durability msync
	json_check 'j["segment_size"] == 64 << 20 and j["durability"] == "msync" and len(j["uuid"]) == 36'
	# the cap is stored: a later open (info's) keeps it
	run 0 info --json "$DB"
	json_check 'j["database"]["segment_size"] == 4 << 20 and j["database"]["max_size"] == 1 << 30'
}

case_info() {
	make_db
	run 0 del "$DB" key1
	run 0 put "$DB" key2 changed
	run 0 info "$DB"
	out_has "format version   2"
	# the read-only open; its segments say what a writer would use here
	out_has "durability       read-only (segments emulated)"
	out_has "keys             7"
	out_has "seg-00000000.dat"
	out_has "namespace        not on pmem"
	out_has "file system      tmpfs"
}

case_info_json() {
	make_db
	run 0 put "$DB" key2 changed
	run 0 info --json "$DB"
	json_check 'j["database"]["keys"] == 8 and j["database"]["format_version"] == 2'
	json_check 'j["database"]["durability"] == "read-only"'
	json_check 'j["database"]["segments_msync"] == 0 and all(s["durability"] == "emulated" for s in j["segments"])'
	json_check 'j["database"]["dead_bytes"] == j["database"]["bytes_written"] - j["database"]["live_bytes"] > 0'
	json_check 'len(j["segments"]) == j["database"]["segments"] == 1'
	json_check 'j["segments"][0]["file"] == "seg-00000000.dat" and j["segments"][0]["live_records"] == 8'
	json_check 'j["segments"][0]["size"] == 2 << 20 and 4096 < j["segments"][0]["tail"] < 8192'
	json_check 'j["placement"]["on_pmem"] is False and j["placement"]["namespace"] is None'
	json_check 'j["placement"]["fs_type"] == "tmpfs" and "not_on_pmem_reason" in j["placement"]'
}

# ---- compaction ----

# make_dead_db: $DB on 2M segments holding 3000 keys loaded six times over
# (about 0.5 KiB each: the first five loads are dead), one key put again,
# one deleted; $WORK/before is its dump
make_dead_db() {
	python3 -c '
import json
print(json.dumps({"daxkv_dump": 1}))
for i in range(3000):
    print(json.dumps({"k": "key%05d" % i, "v": "v%d-" % i + "x" * 500}))
print(json.dumps({"end": True, "count": 3000}))' >"$WORK/load.jsonl"
	# the last load rewrites every other key, so that the live records
	# lie half in one segment, half in another: compact has to copy
	grep -v '"key[0-9]*[13579]"' "$WORK/load.jsonl" |
		sed 's/"count": 3000/"count": 1500/' >"$WORK/load-even.jsonl"
	run 0 create "$DB" --segment-size 2M
	for f in load load load load load load-even; do
		run 0 load "$DB" "$WORK/$f.jsonl" --quiet
	done
	run 0 put "$DB" key00001 last
	run 0 del "$DB" key00002
	run 0 dump "$DB" "$WORK/before"
}

seg_files() { ls "$DB" | grep -c '^seg-[0-9]*\.dat$'; }

# the figures of a daxkv_stat as info and compact print them agree
AMP_OK='abs(s["space_amplification"] - s["bytes_mapped"] / s["record_live_bytes"]) < 1e-9'

case_compact() {
	make_dead_db
	files_before=$(seg_files)
	[ "$files_before" -ge 5 ] || fail "only $files_before segment files to compact"
	run 0 compact "$DB"
	out_has "compacted $DB in "
	out_has "segments retired"
	out_has "space amp."
	files_after=$(seg_files)
	[ "$files_after" -lt "$files_before" ] ||
		fail "segment files: $files_before before, $files_after after"
	# every key reads back its last value, nothing came back
	run 0 dump "$DB" "$WORK/after"
	cmp -s "$WORK/before" "$WORK/after" || fail "dump differs after compact"
	run 0 get "$DB" key00001
	out_is "last"
	run 1 get "$DB" key00002
	run 0 get "$DB" key02999
	out_has "v2999-xxx"
	run 0 check "$DB"
	# the engine's segment count is the directory's
	run 0 info --json "$DB"
	json_check "j['database']['segments'] == len(j['segments']) == $files_after"
}

case_compact_json() {
	make_dead_db
	files_before=$(seg_files)
	run 0 compact --json "$DB"
	json_check 'j["ok"] is True and j["error"] is None and j["path"] == "'"$DB"'"'
	json_check "j['before']['segments'] == $files_before"
	json_check 'j["after"]["segments"] < j["before"]["segments"]'
	json_check 'j["after"]["bytes_mapped"] < j["before"]["bytes_mapped"]'
	json_check 'j["segments_retired"] >= j["before"]["segments"] - j["after"]["segments"] > 0'
	json_check 'j["compactions"] >= 1 and j["segments_retiring"] == 0 and j["time_ns"] > 0'
	json_check '0 < j["bytes_compacted"] <= j["after"]["bytes_written"]'
	json_check 'all(eval(sys.argv[3], {"s": j[w]}) for w in ("before", "after"))' "$AMP_OK"
	json_check 'j["before"]["space_amplification"] > 4 and j["after"]["space_amplification"] < 2'
	[ "$(seg_files)" = "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["after"]["segments"])' "$OUT")" ] ||
		fail "segment files in the directory differ from after.segments"
	run 0 dump "$DB" "$WORK/after"
	cmp -s "$WORK/before" "$WORK/after" || fail "dump differs after compact"
	# again: nothing left to do
	run 0 compact --json "$DB"
	json_check 'j["compactions"] == 0 and j["segments_retired"] == 0 and j["bytes_compacted"] == 0'
	json_check 'j["before"] == j["after"]'
	# an empty database: no records, no amplification to speak of
	run 0 create "$WORK/empty"
	run 0 compact --json "$WORK/empty"
	json_check 'j["after"]["record_live_bytes"] == 0 and j["after"]["space_amplification"] is None'
	run 0 compact "$WORK/empty"
	grep -qE '^  space amp\. +- +- ' "$OUT" || fail "no '-' amplification for an empty database"
}

case_info_compaction() {
	make_dead_db
	run 0 info --json "$DB"
	d='j["database"]'
	json_check "$d['record_live_bytes'] + $d['record_dead_bytes'] == $d['bytes_written']"
	json_check "$d['record_live_bytes'] >= $d['live_bytes'] > 0"
	json_check 'eval(sys.argv[3], {"s": j["database"]})' "$AMP_OK"
	json_check "$d['space_amplification'] > 4"
	# kvctl's own opens never compact in the background
	json_check "$d['compaction'] == {'compactions': 0, 'segments_retired': 0, 'bytes_compacted': 0, 'segments_retiring': 0}"
	json_check "$d['segments'] == $(seg_files)"
	# the fields info had before compaction existed are all still there
	json_check "set($d) >= {'format_version', 'library_version', 'uuid', 'segment_size', 'max_size', 'durability', 'recovery', 'keys', 'segments', 'bytes_mapped', 'bytes_written', 'live_bytes', 'dead_bytes', 'last_seq'}"
	run 0 info "$DB"
	out_has "space amp."
	out_has "bytes kept by compaction"
	out_has "compaction       this open: 0 rounds, 0 segments retired, 0 bytes copied, 0 retiring"
	run 0 compact "$DB"
	run 0 info --json "$DB"
	json_check 'eval(sys.argv[3], {"s": j["database"]})' "$AMP_OK"
	json_check "$d['space_amplification'] < 2 and $d['segments'] == $(seg_files)"
}

case_stats() {
	make_db
	run 0 stats "$DB"
	out_has "recovery"
	out_has "8 keys"
	out_has "latency (this open)"
	out_has "    query"
	run 0 stats --json "$DB"
	json_check 'j["space"]["keys"] == 8 and j["recovery"]["mode"] in ("checkpoint", "scan")'
	json_check 'set(j["operations"]) >= {"puts", "gets", "deletes", "batches", "scans"}'
	json_check 'set(j["latency"]) == {"put", "get", "delete", "batch", "scan", "query"}'
	json_check 'all(set(v) == {"samples", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"} for v in j["latency"].values())'
	# kvctl stats itself puts, gets, scans nothing: its open's figures
	json_check 'all(v["samples"] == 0 for v in j["latency"].values())'
}

case_devices() {
	run 0 devices
	if grep -q "no pmem found" "$OUT"; then
		run 0 devices --json
		json_check 'j["pmem_found"] is False and j["regions"] == [] and j["dax_devices"] == []'
	else
		# a machine with pmem: the listing must at least parse
		run 0 devices --json
		json_check 'j["pmem_found"] is True'
	fi
}

case_mirror() {
	root=$WORK/root
	mkdir -p "$root"
	KVCTL_SYSROOT=$root run 0 mirror
	out_is "daxmirror: module not loaded"
	KVCTL_SYSROOT=$root run 0 mirror --json
	json_check 'j == {"loaded": False, "device": False, "version": None, "live_files": None, "live_ranges": None, "live_pt_bytes": None}'
	mkdir -p "$root/sys/module/daxmirror" "$root/dev"
	echo "0.3.1" >"$root/sys/module/daxmirror/version"
	touch "$root/dev/daxmirror"
	KVCTL_SYSROOT=$root run 0 mirror
	out_is "daxmirror: module loaded, version 0.3.1, /dev/daxmirror present"
	KVCTL_SYSROOT=$root run 0 mirror --json
	json_check 'j == {"loaded": True, "device": True, "version": "0.3.1", "live_files": None, "live_ranges": None, "live_pt_bytes": None}'
	# the module's live counters, summed over all processes
	mkdir -p "$root/sys/class/misc/daxmirror"
	echo 2 >"$root/sys/class/misc/daxmirror/live_files"
	echo 5 >"$root/sys/class/misc/daxmirror/live_ranges"
	echo 4096 >"$root/sys/class/misc/daxmirror/live_pt_bytes"
	KVCTL_SYSROOT=$root run 0 mirror
	out_has "mirrors now: 2 open, 5 ranges, 4096 bytes of device page tables"
	KVCTL_SYSROOT=$root run 0 mirror --json
	json_check 'j["live_files"] == 2 and j["live_ranges"] == 5 and j["live_pt_bytes"] == 4096'
}

case_put_get_del() {
	run 0 create "$DB"
	run 0 put "$DB" greeting "hello world"
	run 0 get "$DB" greeting
	out_is "hello world"
	run 0 get --json "$DB" greeting
	json_check 'j == {"key": "greeting", "value": "hello world"}'
	printf 'from\nstdin' | "$KVCTL" put "$DB" piped || fail "put from stdin"
	run 0 get --base64 "$DB" cGlwZWQ=
	out_is "$(printf 'from\nstdin' | base64)"
	run 0 put "$DB" empty ""
	run 0 get "$DB" empty
	out_is ""
	run 0 del "$DB" greeting
	run 1 get "$DB" greeting
	err_has "key not found"
	run 1 del "$DB" greeting
	err_has "key not found"
}

case_scan() {
	run 0 create "$DB"
	for k in apple apricot banana blueberry cherry; do
		run 0 put "$DB" "$k" "fruit-$k"
	done
	run 0 scan "$DB"
	[ "$(wc -l <"$OUT")" = 5 ] || fail "scan: 5 lines expected"
	head -1 "$OUT" | grep -q "^apple	fruit-apple$" || fail "scan: first line"
	run 0 scan "$DB" --prefix b --keys-only
	out_is "$(printf 'banana\nblueberry')"
	run 0 scan "$DB" --from apricot --to blueberry --keys-only
	out_is "$(printf 'apricot\nbanana')"
	run 0 scan "$DB" --limit 2 --keys-only
	out_is "$(printf 'apple\napricot')"
	run 0 scan "$DB" --prefix ap --from apr --keys-only
	out_is "apricot"
	run 0 scan --json "$DB" --prefix c
	json_check 'j == {"count": 1, "records": [{"key": "cherry", "value": "fruit-cherry"}]}'
	run 0 scan "$DB" --prefix zzz
	if [ -s "$OUT" ]; then fail "scan of a missing prefix printed something"; fi
}

case_hex_roundtrip() {
	run 0 create "$DB"
	run 0 put --hex "$DB" 00ff10 deadbeef00
	run 0 put --hex "$DB" ff 00
	run 0 get --hex "$DB" 00ff10
	out_is "deadbeef00"
	run 0 get --base64 "$DB" AP8Q
	out_is "3q2+7wA="
	run 0 scan --hex "$DB"
	out_is "$(printf '00ff10\tdeadbeef00\nff\t00')"
	run 0 scan --json "$DB"
	json_check 'j["records"][0] == {"key_base64": "AP8Q", "value_base64": "3q2+7wA="}'
	run 0 scan --json --hex "$DB" --prefix ff
	json_check 'j["records"] == [{"key_hex": "ff", "value_hex": "00"}]'
	run 0 del --hex "$DB" ff
	run 1 get --hex "$DB" ff
}

case_dump_load_roundtrip() {
	run 0 create "$DB"
	run 0 put "$DB" plain "text value"
	run 0 put "$DB" "ünïcödé ключ" "значение ✓"
	run 0 put "$DB" "quote\"back\\slash/" "tab	newline
end"
	run 0 put --hex "$DB" 00 ff00fe
	run 0 put --hex "$DB" c0af 80
	run 0 put "$DB" empty ""
	# a 1 MiB value of every byte value, many keys to span batches
	python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4096)' |
		"$KVCTL" put "$DB" big || fail "put big"
	python3 -c '
import base64, json
print(json.dumps({"daxkv_dump": 1}))
for i in range(3000):
    print(json.dumps({"k": "bulk%05d" % i, "v": "v" * (i % 100)}))
print(json.dumps({"end": True, "count": 3000}))' >"$WORK/bulk.jsonl"
	run 0 load "$DB" "$WORK/bulk.jsonl"
	run 0 dump "$DB" "$WORK/dump1"
	head -1 "$WORK/dump1" | grep -qx '{"daxkv_dump":1}' || fail "dump header"
	tail -1 "$WORK/dump1" | grep -qx '{"end":true,"count":3007}' || fail "dump end line"
	grep -q '"k64":"AA==","v64":"/wD+"' "$WORK/dump1" || fail "binary as base64"
	run 0 load "$WORK/db2" "$WORK/dump1"
	run 0 dump "$WORK/db2"
	cmp -s "$WORK/dump1" "$OUT" || fail "dump of the loaded copy differs"
	cat "$WORK/dump1" | "$KVCTL" load "$WORK/db3" || fail "load from stdin"
	run 0 dump "$WORK/db3" -
	cmp -s "$WORK/dump1" "$OUT" || fail "dump of the stdin copy differs"
	run 0 get "$WORK/db2" big
	[ "$(wc -c <"$OUT")" = $((1048576 + 1)) ] || fail "big value size"
	run 0 check "$WORK/db2"
}

case_load_errors() {
	printf '{"daxkv_dump":1}\n{"k":"a","v":"1"}\n' >"$WORK/trunc"
	run 1 load "$DB" "$WORK/trunc"
	err_has "truncated"
	printf '{"daxkv_dump":1}\n{"k":"a"}\n' >"$WORK/nov"
	run 1 load "$DB" "$WORK/nov"
	err_has "nov:2:"
	printf '{"daxkv_dump":1}\nnot json\n' >"$WORK/bad"
	run 1 load "$DB" "$WORK/bad"
	err_has "bad:2: not a JSON object"
	printf '{"hello":1}\n' >"$WORK/nohdr"
	run 1 load "$DB" "$WORK/nohdr"
	err_has "not a daxkv dump"
	printf '{"daxkv_dump":1}\n{"k":"a","v":"1"}\n{"end":true,"count":2}\n' >"$WORK/count"
	run 1 load "$DB" "$WORK/count"
	err_has "end line says 2 records, the file has 1"
	run 1 load "$DB" "$WORK/missing-file"
	err_has "No such file"
}

case_nonexistent() {
	for cmd in info stats check dump scan query compact; do
		run 3 "$cmd" "$WORK/nothing"
		err_has "not a daxkv database"
	done
	run 3 get "$WORK/nothing" k
	[ ! -e "$WORK/nothing" ] || fail "a command created the directory"
}

case_not_a_database() {
	mkdir -p "$WORK/plain"
	echo hi >"$WORK/plain/file"
	for cmd in info stats check scan; do
		run 3 "$cmd" "$WORK/plain"
		err_has "not a daxkv database"
	done
	run 3 info "$WORK/plain/file"
	run 3 check "$WORK/plain/file"
	[ ! -e "$WORK/plain/meta.pool" ] || fail "info created a database"
}

case_locked() {
	make_db
	start_hold
	for cmd in info stats check dump scan query compact; do
		run 3 "$cmd" "$DB"
		err_has "is open in process $HOLD_PID"
	done
	run 3 put "$DB" k v
	run 3 stats "$DB"
	err_has "its counters live in that process"
	run 3 check --repair --yes "$DB"
	stop_hold
	run 0 check "$DB"
}

case_check_clean() {
	make_db
	run 0 check "$DB"
	out_has "8 records"
	out_has ": ok"
	run 0 check --json "$DB"
	json_check 'j["ok"] is True and j["problems"] == [] and j["summary"]["records"] == 8 and j["summary"]["segments"] == 1'
	run 0 check --repair --yes "$DB"
}

case_check_torn_tail() {
	make_db
	start_hold crash
	stop_hold
	[ "$(python3 "$SEGTOOL" sealed "$(seg0)")" = 0 ] || fail "segment not open after the crash"
	off=$(python3 "$SEGTOOL" tear "$(seg0)")
	run 1 check "$DB"
	out_has "$(seg0) offset $off: torn tail"
	run 1 check --json "$DB"
	json_check "j['ok'] is False and j['problems'][0]['kind'] == 'torn_tail' and j['problems'][0]['offset'] == $off and j['problems'][0]['file'] == '$(seg0)'"
	# no terminal, no --yes: nothing changes
	run 1 check --repair "$DB" </dev/null
	err_has "nothing repaired"
	run 1 check "$DB"
	run 0 check --repair --yes "$DB"
	out_has "repaired 1 of 1"
	# the torn bytes (maybe a damaged last record) were kept first
	[ -s "$(seg0).damaged-$off" ] || fail "no quarantine file $(seg0).damaged-$off"
	head -1 "$(seg0).damaged-$off" | grep -q "offset $off length" ||
		fail "quarantine file without its header line"
	run 0 check "$DB"
	run 0 scan --keys-only "$DB"
	out_is "$(printf 'crashed\nkey1\nkey2\nkey3\nkey4\nkey5\nkey6\nkey7\nkey8')"
}

case_check_corrupt_record() {
	make_db
	run 0 dump "$DB" "$WORK/before"
	# the third record's value: 32-byte header + 4-byte key, then value
	off=$(python3 "$SEGTOOL" records "$(seg0)" | sed -n 3p | cut -d' ' -f1)
	python3 "$SEGTOOL" flip "$(seg0)" $((off + 36))
	run 1 check "$DB"
	out_has "$(seg0) offset $off:"
	out_has "with valid records after them"
	run 1 check --json "$DB"
	json_check "j['problems'][0]['kind'] == 'record' and j['problems'][0]['offset'] == $off and j['problems'][0]['repairable']"
	run 0 check --repair --yes --json "$DB"
	json_check "j['ok'] and j['repairs'][0]['repaired'] and j['summary']['repaired'] == 1"
	# the damaged bytes went to a quarantine file first; its key is named
	json_check "'key3' in j['repairs'][0]['message'] and 'damaged-$off' in j['repairs'][0]['message']"
	[ -s "$(seg0).damaged-$off" ] || fail "no quarantine file $(seg0).damaged-$off"
	head -1 "$(seg0).damaged-$off" | grep -q "offset $off length" ||
		fail "quarantine file without its header line"
	run 0 check "$DB"
	# every other record is intact; only key3 (the damaged one) is gone
	run 0 dump "$DB" "$WORK/after"
	grep -v '"k":"key3"' "$WORK/before" | sed 's/"count":8/"count":7/' >"$WORK/expected"
	cmp -s "$WORK/expected" "$WORK/after" || fail "repair changed other records"
	run 0 info --json "$DB"
	json_check 'j["database"]["keys"] == 7'
}

case_check_corrupt_sealed_end() {
	make_db
	# damage the last record of the sealed segment: nothing valid follows
	off=$(python3 "$SEGTOOL" records "$(seg0)" | tail -1 | cut -d' ' -f1)
	sealed=$(python3 "$SEGTOOL" sealed "$(seg0)")
	python3 "$SEGTOOL" flip "$(seg0)" $((off + 33))
	run 1 check "$DB"
	out_has "$(seg0) offset $off: invalid record before the sealed tail $sealed"
	run 0 check --repair --yes "$DB"
	[ "$(python3 "$SEGTOOL" sealed "$(seg0)")" = "$off" ] || fail "sealed tail not lowered"
	run 0 scan --keys-only "$DB"
	out_is "$(printf 'key1\nkey2\nkey3\nkey4\nkey5\nkey6\nkey7')"
	run 0 check "$DB"
}

case_check_corrupt_pool() {
	make_db
	# a byte of the pool header that its checksum covers
	python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(40); b = f.read(1); f.seek(40); f.write(bytes([b[0] ^ 0xff]))' "$DB/meta.pool"
	run 1 check "$DB"
	out_has "$DB/meta.pool offset 0: incorrect pool header"
	run 1 check --json "$DB"
	json_check "any(p['kind'] == 'pmempool' and p['file'] == '$DB/meta.pool' for p in j['problems'])"
	run 3 info "$DB"
	err_has "meta.pool"
}

case_check_damaged_header() {
	run 0 create "$DB" --segment-size 2M
	run 0 put "$DB" a 1
	python3 -c 'print("x" * 5000, end="")' | "$KVCTL" put "$DB" big || fail "put big"
	run 0 put "$DB" c 3
	run 0 put "$DB" a 2
	# klen of "big" becomes 1024+: its header no longer says where it
	# ends, so check must find the next record by scanning
	off=$(python3 "$SEGTOOL" records "$(seg0)" | sed -n 2p | cut -d' ' -f1)
	python3 "$SEGTOOL" flip "$(seg0)" $((off + 5))
	run 1 check --json "$DB"
	json_check "len(j['problems']) == 1 and j['problems'][0]['offset'] == $off and j['problems'][0]['length'] == 5040"
	run 0 check --repair --yes "$DB"
	run 0 scan "$DB"
	out_is "$(printf 'a\t2\nc\t3')"
	run 0 check "$DB"
	out_has "records (" # fillers count as records now
}

case_check_open_segment_damage() {
	make_db
	start_hold crash
	stop_hold
	# damage inside an open segment: recovery alone would silently stop
	# there and lose key6..key8 and "crashed"; check must say so
	off=$(python3 "$SEGTOOL" records "$(seg0)" | sed -n 5p | cut -d' ' -f1)
	python3 "$SEGTOOL" flip "$(seg0)" $((off + 36))
	run 1 check "$DB"
	out_has "$(seg0) offset $off:"
	out_has "with valid records after them"
	run 0 check --repair --yes "$DB"
	run 0 scan --keys-only "$DB"
	out_is "$(printf 'crashed\nkey1\nkey2\nkey3\nkey4\nkey6\nkey7\nkey8')"
}

case_check_files() {
	make_db
	head -c 4096 /dev/zero >"$DB/seg-00000099.dat"
	run 1 check "$DB"
	out_has "$DB/seg-00000099.dat offset 0: segment file of a slot that is not LIVE"
	run 0 check --repair --yes "$DB"
	[ ! -e "$DB/seg-00000099.dat" ] || fail "orphan not removed"
	mv "$(seg0)" "$WORK/saved"
	run 1 check --json "$DB"
	json_check "j['problems'][0]['kind'] == 'segment' and not j['problems'][0]['repairable']"
	run 1 check --repair --yes "$DB"
	mv "$WORK/saved" "$(seg0)"
	run 0 check "$DB"
}

case_query_known() {
	# values written by hand: u16 at 0, i16 at 2, 3 bytes at 4
	run 0 create "$DB"
	run 0 put --hex "$DB" 61 0a00feff616263    # a: 10, -2, "abc"
	run 0 put --hex "$DB" 62 ffff0080616263    # b: 65535, -32768, "abc"
	run 0 put --hex "$DB" 63 0100010078797a    # c: 1, 1, "xyz"
	run 0 put --hex "$DB" 64 05                # d: too short for all
	run 0 query "$DB"
	out_is 4
	run 0 query "$DB" --where 'u16@0 > 5'
	out_is 2
	run 0 query "$DB" --sum u16@0
	out_is 65546
	run 0 query "$DB" --sum i16@2
	out_is -32769
	run 0 query "$DB" --min i16@2
	out_is -32768
	run 0 query "$DB" --max i16@2
	out_is 1
	run 0 query "$DB" --max u16@0 --where "bytes3@4 == 'abc'"
	out_is 65535
	run 0 query "$DB" --count --where 'bytes3@4!=0x616263' --where 'i16@2>=1'
	out_is 1
	run 0 query "$DB" --rows --ordered --hex --where 'i16@2 < 0'
	out_is "$(printf '61\t0a00feff616263\n62\tffff0080616263')"
	run 0 query "$DB" --rows --hex --where "bytes3@4 == 'xyz'"
	out_is "$(printf '63\t0100010078797a')"
	# min/max of nothing: no number at all
	run 0 query "$DB" --min u16@0 --where 'u16@0 > 65535'
	out_empty
	err_has "no record matched: no minimum"
	run 0 query "$DB" --sum u16@0 --where 'u16@0 > 65535'
	out_is 0
	# a sum that does not fit: printed modulo 2^64, said, exit 1
	run 0 put --hex "$DB" 7031 ffffffffffffffff
	run 0 put --hex "$DB" 7032 0100000000000000
	run 1 query "$DB" --sum u64@0 --prefix p
	out_is 0
	err_has "the sum overflowed"
	run 1 query --json "$DB" --sum u64@0 --prefix p
	json_check 'j["overflow"] is True and j["value"] == 0 and j["count"] == 2'
	run 0 query "$DB" --sum i64@0 --prefix p
	out_is 0
	run 0 del --hex "$DB" 7032
	# rows print as scan prints them: text by default
	run 0 put "$DB" e "abcdef"
	run 0 query "$DB" --rows --where "bytes3@0 == 'abc'" --where 'u8@5 == 0x66'
	out_is "$(printf 'e\tabcdef')"
	run 0 query "$DB" --rows --base64 --where "bytes2@0 == \"ab\""
	out_is "$(printf 'ZQ==\tYWJjZGVm')"
}

case_query_aggregates() {
	load_query_db
	query_check <<'EOF'
--count
--sum u32@0
--min u32@0
--max u32@0
--sum i32@4
--min i32@4
--max i32@4
--sum u64@8
--min u64@8
--max u64@8
--sum i64@8
--min i64@8
--max i64@8
--sum i8@16
--min i8@16
--max i8@16
--sum u8@20
--max i16@4
--min u16@2
--sum u64@8 --where 'u64@8 >= 0x8000000000000000'
--sum i32@4 --where 'i32@4 < 0'
--min i32@4 --where 'i32@4 > 1000'
--max u32@0 --prefix cherry --where 'u32@0 < 1000'
EOF
}

case_query_where() {
	load_query_db
	query_check <<'EOF'
--where 'u32@0 < 500'
--where 'u32@0<500' --where 'i32@4>=0'
--where ' u32 @ 0 >= 0x100 ' --where 'i8@16 != -1'
--where "bytes4@17 == 'blue'"
--where 'bytes4@17 == 0x00ff0102'
--where "bytes4@17 < 'grn_'" --where 'bytes1@17 > 0x00'
--where 'i8@16 <= -100' --where 'i8@16 > -120'
--where 'u64@8 > 18446744073709551000'
--where 'i64@8 < -9223372036854775000'
--where 'u8@20 == 0' --where 'u32@0 <= 999'
--where 'u32@17 == 0x5f646572'
--where 'u16@2 == 0' --where 'u16@2 != 1' --where 'i16@4 > -400' --where 'i16@4 < 400' --where 'u8@0 >= 3' --where 'u8@1 <= 200' --where 'bytes1@17 != 0x72' --where 'u64@8 != 0'
--where 'u8@60000 == 0'
EOF
	# a field past the end of every value matches nothing, whatever OP
	run 0 query "$DB" --where 'u8@60000 != 0'
	out_is 0
}

case_query_rows() {
	load_query_db
	query_check <<'EOF'
--rows --hex --ordered --where 'u32@0 < 100'
--rows --hex --where 'u32@0 < 100'
--rows --base64 --ordered --where "bytes4@17 == 'red_'" --prefix YXBwbGU=
--rows --hex --ordered --limit 7 --where 'i32@4 > 400'
--rows --hex --limit 5 --where 'i32@4 > 400'
--rows --hex --limit 100000 --where 'i32@4 > 400'
EOF
	run 0 query "$DB" --rows --hex --limit 5 --where 'i32@4 > 400'
	[ "$(wc -l <"$OUT")" = 5 ] || fail "--limit 5 did not print 5 rows"
	# --json: scan's schema plus the query's
	run 0 query --json "$DB" --rows --ordered --limit 3 --where 'u32@0 < 100'
	python3 "$QREF" eval "$WORK/model.json" --rows --hex --ordered \
		--limit 3 --where 'u32@0 < 100' >"$WORK/want"
	python3 -c '
import base64, json, sys
j = json.load(open(sys.argv[1]))
want = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
got = [[r["key"].encode().hex(), base64.b64decode(r["value_base64"]).hex()]
       for r in j["records"]]
assert j["output"] == "rows" and j["count"] == 3, j
assert j["where"] == ["u32@0 < 100"], j["where"]
assert got == want, (got, want)
assert j["stats"]["backend"] == "cpu" and j["stats"]["records_scanned"] > 0
' "$OUT" "$WORK/want" || fail "query --json rows"
}

case_query_ranges() {
	load_query_db
	query_check <<'EOF'
--prefix banana
--from cherry/00100 --to cherry/06000 --where 'u32@0 < 500'
--from banana --sum u32@0
--to banana/01000 --max i32@4
--prefix date --from date/03000 --to date/05000 --min u64@8
--prefix apple --to banana
--prefix apple --from banana
--rows --hex --ordered --prefix 646174652f30373939
--rows --hex --ordered --limit 3 --from 6368657272792f3030353030
--rows --base64 --ordered --prefix Y2hlcnJ5LzAwMQ== --to Y2hlcnJ5LzAwMTU=
--prefix nothing
EOF
	run 0 query "$DB" --prefix nothing --max u32@0
	out_empty
}

case_query_random() {
	load_query_db
	python3 "$QREF" random "$KVCTL" "$DB" "$WORK/model.json" 50 11 ||
		fail "random queries differ from the reference"
}

case_query_json() {
	load_query_db
	python3 "$QREF" eval "$WORK/model.json" --where 'i32@4 < 0' >"$WORK/count"
	run 0 query --json "$DB" --where 'i32@4 < 0'
	json_check "j['output'] == 'count' and j['count'] == $(cat "$WORK/count") and 'value' not in j and 'records' not in j"
	json_check 'set(j["stats"]) == {"backend", "threads", "snap_seq", "records_scanned", "bytes_scanned", "time_ns"}'
	python3 "$QREF" eval "$WORK/model.json" --sum i32@4 >"$WORK/sum"
	run 0 query --json "$DB" --sum 'i32 @ 4' --where 'u8@0 <= 255'
	json_check "j['output'] == 'sum' and j['field'] == 'i32@4' and j['value'] == $(cat "$WORK/sum") and j['overflow'] is False"
	json_check 'j["where"] == ["u8@0 <= 255"]'
	run 0 query --json "$DB" --min u32@0 --where 'u32@0 > 4294967295'
	json_check 'j["count"] == 0 and j["value"] is None'
	run 0 query --json "$DB" --where "bytes2@17 == 'bl'"
	json_check 'j["where"] == ["bytes2@17 == 0x626c"]'
}

case_query_stats() {
	load_query_db
	# the data spans segments, so the backend's work units do too
	run 0 info --json "$DB"
	json_check 'j["database"]["segments"] >= 2'
	run 0 query "$DB" --stats --backend cpu --threads 2
	err_has "backend          cpu, "
	err_has "records scanned  "
	err_has "bytes scanned    "
	err_has " GB/s"
	# every record below the tails: live, replaced and deleted versions
	grep -q "records scanned  0$" "$ERR" && fail "nothing scanned"
	run 0 query "$DB" --backend auto --stats
	err_has "backend          "
}

case_query_backend() {
	run 0 create "$DB"
	run 0 put --hex "$DB" 6b 2a000000
	if [ ! -e /dev/daxmirror ]; then
		run 1 query "$DB" --backend kmod
		err_has "kmod"
		err_has "not available"
	fi
	# cuda: the same answer where there is one, else a clear refusal
	if "$KVCTL" query "$DB" --backend cuda --sum u32@0 >"$OUT" 2>"$ERR"; then
		out_is 42
	else
		[ $? = 1 ] || fail "--backend cuda: exit $?, expected 0 or 1"
		err_has "cuda"
	fi
	run 0 query "$DB" --backend cpu --sum u32@0
	out_is 42
	run 0 query "$DB" --backend auto --sum u32@0
	out_is 42
}

# kvctl_fakegpu only (tests/kvctl/CMakeLists.txt): the CUDA backend on the
# fake GPU of tests/engine/cuda_fake_env.c, told by DAXKV_FAKE_GPU to fail
case_query_cuda_fallback() {
	make_db
	export DAXKV_CUDA_AUTO_MIN_BYTES=0
	unset DAXKV_FAKE_GPU DAXKV_CUDA_STAGED
	run 0 query "$DB" --stats
	out_is 8
	err_has "backend          cuda, 1 block, reading the mapping in place"
	grep -q "^fallback" "$ERR" && fail "a fallback without a fault"
	export DAXKV_CUDA_STAGED=1
	run 0 query "$DB" --stats --backend cuda
	err_has "through staging buffers"
	unset DAXKV_CUDA_STAGED
	# the kernel faults: the CPU answers, and --stats says why
	export DAXKV_FAKE_GPU=fault_kernel=1
	run 0 query "$DB" --stats
	out_is 8
	err_has "backend          cpu, "
	err_has "fallback         cuda: CUDA backend: cudaStreamSynchronize: cudaErrorIllegalAddress"
	err_has "disabled for this process"
	run 0 query "$DB" --stats --json --rows
	json_check 'j["count"] == 8 and j["stats"]["backend"] == "cpu"'
	json_check 'j["stats"]["fallback"]["from"] == "cuda"'
	json_check '"cudaErrorIllegalAddress" in j["stats"]["fallback"]["why"]'
	# asked for by name: the error, exit 1
	run 1 query "$DB" --backend cuda
	err_has "cudaErrorIllegalAddress"
	# no driver: not a fallback, just not there
	export DAXKV_FAKE_GPU=nodriver
	run 0 query "$DB" --stats
	out_is 8
	grep -q "^fallback" "$ERR" && fail "a fallback without a GPU"
	run 1 query "$DB" --backend cuda
	err_has "no CUDA driver"
	# AUTO's default threshold: 8 records are not worth a GPU
	unset DAXKV_FAKE_GPU DAXKV_CUDA_AUTO_MIN_BYTES
	run 0 query "$DB" --stats
	err_has "backend          cpu, "
}

case_query_usage_errors() {
	run 0 create "$DB"
	# each bad expression: exit 2, the column and what is wrong
	run 2 query "$DB" --where ''
	err_has "column 1: empty expression"
	run 2 query "$DB" --where 'u32@0'
	err_has "column 6: expected an operator"
	run 2 query "$DB" --where 'u32@0 = 5'
	err_has "column 7: '=' is not an operator: use =="
	run 2 query "$DB" --where 'u24@0 == 1'
	err_has "column 1: unknown field type 'u24'"
	run 2 query "$DB" --where 'bytes@0 == 1'
	err_has "column 1: bytes needs its width"
	run 2 query "$DB" --where 'bytes65@0 == 0x00'
	err_has "bytesN takes N = 1..64"
	run 2 query "$DB" --where 'u32 0 == 1'
	err_has "column 5: expected '@'"
	run 2 query "$DB" --where 'u32@x == 1'
	err_has "column 5: expected the offset"
	run 2 query "$DB" --where 'u8@0 == 256'
	err_has "column 9: 256 does not fit u8 (0..255)"
	run 2 query "$DB" --where 'u16@0 > -1'
	err_has "column 9: u16 is unsigned"
	run 2 query "$DB" --where 'i8@0 > -129'
	err_has "column 8: -129 does not fit i8 (-128..127)"
	run 2 query "$DB" --where 'i32@0 < 2147483648'
	err_has "does not fit i32"
	run 2 query "$DB" --where 'u64@0 == 18446744073709551616'
	err_has "does not fit in 64 bits"
	run 2 query "$DB" --where 'u32@0 == 12ab'
	err_has "column 10: the operand '12ab' is not a number"
	run 2 query "$DB" --where "u32@0 == '1'"
	err_has "the operand is a number, not quoted text"
	run 2 query "$DB" --where "bytes3@0 == 'ab'"
	err_has "column 13: bytes3 needs exactly 3 bytes, the quoted text has 2"
	run 2 query "$DB" --where 'bytes2@0 == 0x123'
	err_has "odd number of hex digits"
	run 2 query "$DB" --where 'bytes2@0 == 0x123456'
	err_has "bytes2 needs exactly 2 bytes, the hex operand has 3"
	run 2 query "$DB" --where "bytes2@0 == 'ab"
	err_has "no closing ' for this quote"
	run 2 query "$DB" --where "bytes2@0 == 'a\\q'"
	err_has "unknown escape"
	run 2 query "$DB" --where 'bytes2@0 == 5'
	err_has "bytes2 takes 2 bytes as 'text', \"text\" or 0xHEX"
	run 2 query "$DB" --where 'u32@0 == 5 and'
	err_has "column 12: unexpected 'and' after the operand"
	# the field limit: offset + width at most 65536
	run 2 query "$DB" --where 'u32@65533 == 1'
	err_has "column 5: offset 65533: a field of 4 bytes must end by byte 65536"
	run 2 query "$DB" --where 'u8@0xffffffffffffffff == 1'
	err_has "must end by byte 65536"
	run 0 query "$DB" --where 'u32@65532 == 1'
	# aggregate fields
	run 2 query "$DB" --sum bytes4@0
	err_has "--sum 'bytes4@0': column 1: an aggregate needs an integer field"
	run 2 query "$DB" --max 'u32@0 > 1'
	err_has "unexpected '>' after the field"
	run 2 query "$DB" --min u64@65529
	err_has "must end by byte 65536"
	# combinations
	run 2 query "$DB" --count --sum u32@0
	err_has "--count and --sum: one output per query"
	run 2 query "$DB" --limit 3
	err_has "--limit goes with --rows"
	run 2 query "$DB" --sum u32@0 --ordered
	err_has "--ordered goes with --rows, not --sum"
	run 2 query "$DB" --backend gpu
	err_has "--backend 'gpu' is not auto, cpu, kmod or cuda"
	run 2 query "$DB" --threads many
	err_has "--threads 'many' is not a number"
	run 2 query "$DB" --rows --limit -1
	err_has "--limit '-1' is not a number"
	run 2 query "$DB" --from b --to a
	err_has "--from must sort before --to"
	run 2 query "$DB" --hex --prefix zz
	err_has "is not valid hex"
	run 2 query "$DB" $(for i in 1 2 3 4 5 6 7 8 9; do printf -- '--where u8@%d==0 ' "$i"; done)
	err_has "at most 8 --where expressions"
	run 2 query
	err_has "missing arguments"
	# a key bound the engine refuses: still exit 2, its words
	run 2 query "$DB" --prefix "$(python3 -c 'print("k" * 1025)')"
	err_has "prefix is 1025 bytes"
}

# ---- read-only inspection and backups ----

# fingerprint: every file of $DB with its size, mtime and checksum
fingerprint() {
	( cd "$DB" && for f in $(ls -A | sort); do
		printf '%s %s ' "$f" "$(stat -c '%i %s %Y.%y' "$f")"
		sha256sum <"$f"
	done )
}

case_readonly() {
	make_db
	run 0 del "$DB" key1
	fingerprint >"$WORK/before"
	# every inspecting command opens read-only: nothing on media changes
	run 0 info "$DB"
	out_has "durability       read-only"
	run 0 info --json "$DB"
	run 0 stats "$DB"
	run 0 get "$DB" key2
	out_is "value2"
	run 0 scan "$DB"
	run 0 dump "$DB" "$WORK/dump"
	run 0 query "$DB"
	run 0 query "$DB" --rows --ordered --limit 3
	run 0 check "$DB"
	run 0 check --json "$DB"
	run 0 backup "$DB" "$WORK/copy"
	fingerprint >"$WORK/after"
	cmp -s "$WORK/before" "$WORK/after" ||
		fail "read-only commands changed the database: $(diff "$WORK/before" "$WORK/after")"
	# while a read-only handle holds it: readers go on, writers are refused
	start_hold ro
	run 0 get "$DB" key3
	run 0 stats "$DB"
	run 0 check "$DB"
	run 3 put "$DB" k v
	err_has "is open read-only in another process"
	run 3 compact "$DB"
	stop_hold
	fingerprint >"$WORK/after"
	cmp -s "$WORK/before" "$WORK/after" || fail "a read-only holder changed it"
	run 0 put "$DB" k v
}

# the inspecting commands on a read-only mount: a tmpfs in a mount
# namespace of this case's own (a user namespace gives the rights where
# this is not root); exit 4 (skip) where none can be made
case_readonly_mount() {
	unshare -rm true 2>/dev/null || { echo "SKIP: no user+mount namespace here"; exit 4; }
	mkdir "$WORK/mnt"
	cat >"$WORK/inner.sh" <<EOF
set -e
mount -t tmpfs daxkv-kvctl-ro "$WORK/mnt"
"$KVCTL" create "$WORK/mnt/db" --segment-size 2M >/dev/null
for i in 1 2 3 4 5; do "$KVCTL" put "$WORK/mnt/db" key\$i value\$i; done
"$KVCTL" del "$WORK/mnt/db" key3
# the fs options mount(8) would repeat (uid=, gid=) are refused in a
# user namespace: remount with the read-only flag alone
mount -o remount,ro --options-source disable "$WORK/mnt"
DB="$WORK/mnt/db"
fp() { ( cd "\$DB" && for f in \$(ls -A | sort); do printf '%s %s ' "\$f" "\$(stat -c '%i %s %Y' "\$f")"; sha256sum <"\$f"; done ); }
fp >"$WORK/before"
"$KVCTL" info "\$DB" >"$WORK/info.out"
"$KVCTL" stats "\$DB" >/dev/null
"$KVCTL" get "\$DB" key2 >"$WORK/get.out"
"$KVCTL" scan "\$DB" >"$WORK/scan.out"
"$KVCTL" dump "\$DB" "$WORK/dump"
"$KVCTL" query "\$DB" >"$WORK/count.out"
"$KVCTL" query "\$DB" --rows --ordered >"$WORK/rows.out"
"$KVCTL" check "\$DB" >"$WORK/check.out" 2>"$WORK/check.err"
"$KVCTL" backup "\$DB" "$WORK/copy" >/dev/null
rc=0; "$KVCTL" put "\$DB" k v 2>"$WORK/put.err" || rc=\$?
echo "\$rc" >"$WORK/put.rc"
fp >"$WORK/after"
EOF
	unshare -rm sh -e "$WORK/inner.sh" >"$OUT" 2>"$ERR" || fail "the read-only mount run failed"
	cmp -s "$WORK/before" "$WORK/after" || fail "files changed on the read-only mount"
	grep -qF "durability       read-only" "$WORK/info.out" || fail "info: $(cat "$WORK/info.out")"
	[ "$(cat "$WORK/get.out")" = value2 ] || fail "get: $(cat "$WORK/get.out")"
	[ "$(wc -l <"$WORK/scan.out")" = 4 ] || fail "scan: $(cat "$WORK/scan.out")"
	[ "$(cat "$WORK/count.out")" = 4 ] || fail "query: $(cat "$WORK/count.out")"
	[ "$(head -1 "$WORK/rows.out")" = "$(printf 'key1\tvalue1')" ] || fail "rows: $(cat "$WORK/rows.out")"
	grep -qF ": ok" "$WORK/check.out" || fail "check: $(cat "$WORK/check.out" "$WORK/check.err")"
	grep -qF "libpmempool's check skipped" "$WORK/check.err" || fail "check: $(cat "$WORK/check.err")"
	[ "$(cat "$WORK/put.rc")" = 3 ] || fail "put on a read-only mount exited $(cat "$WORK/put.rc")"
	grep -qF "Read-only file system" "$WORK/put.err" || fail "put: $(cat "$WORK/put.err")"
	run 0 scan "$WORK/copy"
	[ "$(wc -l <"$OUT")" = 4 ] || fail "the backup's scan differs"
}

case_backup() {
	make_db
	run 0 del "$DB" key1
	run 0 put "$DB" key2 changed
	run 0 dump "$DB" "$WORK/src.dump"
	run 0 backup "$DB" "$WORK/copy"
	out_has "backup of $DB to $WORK/copy: 7 keys, 1 segments"
	[ ! -e "$WORK/copy/backup.incomplete" ] || fail "marker left behind"
	run 0 check "$WORK/copy"
	run 0 dump "$WORK/copy" "$WORK/copy.dump"
	cmp -s "$WORK/src.dump" "$WORK/copy.dump" || fail "the copy differs"
	run 0 backup --compact --json "$DB" "$WORK/copy2"
	json_check 'j["compact"] is True and j["keys"] == 7 and j["segments"] == 1'
	json_check 'j["bytes_written"] < j["source_bytes_written"] and j["time_ns"] > 0'
	run 0 dump "$WORK/copy2" "$WORK/copy2.dump"
	cmp -s "$WORK/src.dump" "$WORK/copy2.dump" || fail "the compacted copy differs"
	# the copy is a database of its own: it takes writes
	run 0 put "$WORK/copy2" newkey newvalue
	# refusals
	run 2 backup "$DB" "$WORK/copy"
	err_has "not empty"
	run 2 backup "$DB"
	err_has "missing arguments"
	run 3 backup "$WORK/nothing" "$WORK/copy3"
	[ ! -e "$WORK/copy3" ] || fail "a failed backup left $WORK/copy3"
	start_hold
	run 3 backup "$DB" "$WORK/copy3"
	err_has "is open in process $HOLD_PID"
	stop_hold
	# an unfinished backup is no database, for every command
	mkdir "$WORK/partial"
	cp "$WORK/copy/meta.pool" "$WORK/copy/lock" "$WORK/partial/"
	echo "interrupted" >"$WORK/partial/backup.incomplete"
	for cmd in info check scan stats; do
		run 3 "$cmd" "$WORK/partial"
		err_has "unfinished backup"
	done
	run 3 put "$WORK/partial" k v
	err_has "unfinished backup"
}

# failures exit through fail(); an unknown case name is one too
command -v "case_$CASE" >/dev/null || fail "no such case"
"case_$CASE"
exit 0
