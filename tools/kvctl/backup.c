// SPDX-License-Identifier: MIT
/*
 * backup.c -- kvctl backup: a consistent copy of a database with
 * daxkv_backup(), taken through a read-only open of the source (so it
 * runs beside other readers, on a read-only mount too), then checked by
 * opening the copy read-only.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kvctl.h"

static const char kv_backup_help[] =
	"usage: kvctl backup SRC DEST [--compact] [--json]\n"
	"Copy the database in SRC into DEST (made if missing; an existing one\n"
	"must be empty) as of one point in time, durable when the command\n"
	"returns.  SRC is opened read-only: other readers may hold it, a\n"
	"writer may not (exit 3); a program that holds the database open takes\n"
	"its backups with daxkv_backup() on its own handle.  By default each\n"
	"segment is copied as it is; --compact copies only the live records,\n"
	"packed into as few segments as they fill.  An interrupted backup\n"
	"leaves DEST/backup.incomplete, and no open accepts DEST until it is\n"
	"removed.  The copy is then opened read-only and its figures printed:\n"
	"keys, segments, record bytes, and the time and rate of the copy.\n";

static uint64_t kv_backup_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int kv_cmd_backup(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "compact", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daxkv_stat src_st = { .version = DAXKV_STAT_VERSION };
	struct daxkv_stat dst_st = { .version = DAXKV_STAT_VERSION };
	bool compact = false, json = false;
	const char *src, *dst;
	char what[8400];
	uint64_t t0, elapsed;
	double mbps;
	daxkv *db;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "cjh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			compact = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			return kv_help(kv_backup_help);
		default:
			return kv_usage_error(argv[0], "bad option");
		}
	}
	rc = kv_need_args(argc, argv, 2, 2, "SRC DEST");
	if (rc >= 0)
		return rc;
	src = argv[optind];
	dst = argv[optind + 1];
	rc = kv_open_rdonly(src, &db, NULL);
	if (rc)
		return rc;
	daxkv_stat(db, &src_st);
	t0 = kv_backup_now();
	rc = daxkv_backup(db, dst, compact ? DAXKV_BACKUP_COMPACT : 0);
	elapsed = kv_backup_now() - t0;
	if (rc) {
		snprintf(what, sizeof(what), "backup of %s to %s", src, dst);
		rc = kv_fail(what, rc);
		daxkv_close(db);
		return rc == KV_EXIT_NOOPEN ? KV_EXIT_PROBLEMS : rc;
	}
	rc = kv_close(db);
	if (rc)
		return rc;
	/* what was written, as a reader of the copy sees it */
	rc = kv_open_rdonly(dst, &db, NULL);
	if (rc)
		return KV_EXIT_PROBLEMS;
	daxkv_stat(db, &dst_st);
	rc = kv_close(db);
	if (rc)
		return rc;
	mbps = elapsed ? (double)dst_st.bytes_written / 1e6 /
				 ((double)elapsed / 1e9) :
			 0;
	if (json) {
		json_object *obj = json_object_new_object();

		json_object_object_add(obj, "source", json_object_new_string(src));
		json_object_object_add(obj, "destination",
				       json_object_new_string(dst));
		json_object_object_add(obj, "compact",
				       json_object_new_boolean(compact));
		json_object_object_add(obj, "keys",
				       json_object_new_uint64(dst_st.keys));
		json_object_object_add(obj, "segments",
				       json_object_new_uint64(dst_st.segments));
		json_object_object_add(obj, "bytes_written",
				       json_object_new_uint64(dst_st.bytes_written));
		json_object_object_add(obj, "source_bytes_written",
				       json_object_new_uint64(src_st.bytes_written));
		json_object_object_add(obj, "last_seq",
				       json_object_new_uint64(dst_st.last_seq));
		json_object_object_add(obj, "time_ns",
				       json_object_new_uint64(elapsed));
		json_object_object_add(obj, "mb_per_s",
				       json_object_new_double(mbps));
		kv_json_print(obj);
		json_object_put(obj);
	} else {
		printf("backup of %s to %s%s: %llu keys, %llu segments, %llu "
		       "bytes of records (source %llu), %.3f s, %.1f MB/s\n",
		       src, dst, compact ? " (compacted)" : "",
		       (unsigned long long)dst_st.keys,
		       (unsigned long long)dst_st.segments,
		       (unsigned long long)dst_st.bytes_written,
		       (unsigned long long)src_st.bytes_written,
		       (double)elapsed / 1e9, mbps);
	}
	return KV_EXIT_OK;
}
