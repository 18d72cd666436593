// SPDX-License-Identifier: MIT
/*
 * churn.c -- what a database keeps on media after keys that came and
 * went (issue 20's churn target): N unique keys inserted, then every one
 * deleted, then whatever compaction does (the background thread for
 * --settle seconds, then daxkv_compact()).  The target: bytes on media at
 * the end at most one segment per lane plus 1% of the record bytes
 * written.  Each figure is read with daxkv_stat; "one segment" is the
 * largest segment in use after the inserts or at the end (format 2 sizes
 * them to the data; at the end there may be none at all).
 *
 *   daxkv-churn [--keys N] [--dir DIR] [--settle S] [--segment SIZE]
 *
 * 16-byte keys, 100-byte values, one thread.  Run on /dev/shm with
 * PMEM_IS_PMEM_FORCE=1.  Exit status: 0 when it ran (met or not), 1 on
 * an error, 2 on bad arguments.
 */
#include <ftw.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daxkv.h"

#define KLEN 16
#define VLEN 100
#define REC_HDR 32 /* engine/layout.h: the record header */

static uint64_t rec_bytes(size_t klen, size_t vlen)
{
	return (REC_HDR + klen + vlen + 7) & ~(uint64_t)7;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int largest_cb(const struct daxkv_segment_info *info, void *arg)
{
	uint64_t *largest = arg;

	if (info->size > *largest)
		*largest = info->size;
	return 0;
}

static int stat_now(daxkv *db, struct daxkv_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->version = DAXKV_STAT_VERSION;
	return daxkv_stat(db, st);
}

static void print_stat(const char *when, const struct daxkv_stat *st)
{
	printf("%-26s bytes on media %8.1f MiB, %5llu segments, %llu lanes, "
	       "%llu live keys, %llu compactions, %llu deletes dropped\n",
	       when, (double)st->bytes_mapped / (1 << 20),
	       (unsigned long long)st->segments, (unsigned long long)st->lanes,
	       (unsigned long long)st->keys,
	       (unsigned long long)st->compactions,
	       (unsigned long long)st->tombstones_dropped);
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "daxkv-churn: %s: %s (%s)\n", what,
		daxkv_strerror(rc), daxkv_errmsg());
	return 1;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: daxkv-churn [--keys N] [--dir DIR] "
		     "[--settle S] [--segment SIZE_MIB]\n"
		     "  --keys N        unique keys inserted, then deleted "
		     "(default 1000000)\n"
		     "  --dir DIR       where the database is made (default "
		     "/dev/shm); a new database\n"
		     "                  there, removed at the end\n"
		     "  --settle S      seconds left to background compaction "
		     "before daxkv_compact() (default 2)\n"
		     "  --segment MIB   segment_size, the largest a segment may "
		     "be (default: the library's)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, 'k' },
		{ "dir", required_argument, NULL, 'd' },
		{ "settle", required_argument, NULL, 's' },
		{ "segment", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *base = "/dev/shm";
	unsigned long keys = 1000000, settle = 2, segment_mib = 0;
	struct daxkv_options o;
	struct daxkv_stat st;
	char dir[4096], key[32], val[VLEN];
	uint64_t written = 0, largest = 0, limit;
	struct timespec t0, t1;
	daxkv *db;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'k':
		case 's':
		case 'g': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*optarg < '0' || *optarg > '9' || *end != '\0' ||
			    (opt == 'k' && (!v || v > 99999999999ul)) ||
			    (opt == 's' && v > 3600)) {
				fprintf(stderr, "daxkv-churn: bad number '%s'\n",
					optarg);
				return 2;
			}
			*(opt == 'k' ? &keys : opt == 's' ? &settle :
				       &segment_mib) = v;
			break;
		}
		case 'd':
			base = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/daxkv-churn-%d", base, (int)getpid());
	daxkv_options_init(&o);
	o.segment_size = (uint64_t)segment_mib << 20;
	rc = daxkv_open(dir, &o, &db);
	if (rc)
		return fail("open", rc);
	memset(val, 'v', sizeof(val));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long i = 0; i < keys; i++) {
		snprintf(key, sizeof(key), "churn%011lu", i);
		rc = daxkv_put(db, key, KLEN, val, VLEN);
		if (rc)
			return fail("put", rc);
		written += rec_bytes(KLEN, VLEN);
	}
	if ((rc = stat_now(db, &st)))
		return fail("stat", rc);
	print_stat("after the inserts:", &st);
	if ((rc = daxkv_segment_foreach(db, largest_cb, &largest)))
		return fail("segment_foreach", rc);
	for (unsigned long i = 0; i < keys; i++) {
		snprintf(key, sizeof(key), "churn%011lu", i);
		rc = daxkv_delete(db, key, KLEN);
		if (rc)
			return fail("delete", rc);
		written += rec_bytes(KLEN, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if ((rc = stat_now(db, &st)))
		return fail("stat", rc);
	print_stat("after the deletes:", &st);
	sleep((unsigned)settle);
	if ((rc = stat_now(db, &st)))
		return fail("stat", rc);
	print_stat("after background rounds:", &st);
	if ((rc = daxkv_compact(db)))
		return fail("compact", rc);
	if ((rc = stat_now(db, &st)))
		return fail("stat", rc);
	print_stat("after daxkv_compact():", &st);
	if ((rc = daxkv_segment_foreach(db, largest_cb, &largest)))
		return fail("segment_foreach", rc);
	limit = st.lanes * largest + written / 100;
	printf("%lu keys inserted and deleted in %.1f s; record bytes "
	       "written %.1f MiB; largest segment %.0f MiB\n",
	       keys,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (double)written / (1 << 20), (double)largest / (1 << 20));
	printf("target: bytes on media <= one segment per lane + 1%% of the "
	       "bytes written (%.1f MiB): %.1f MiB %s\n",
	       (double)limit / (1 << 20), (double)st.bytes_mapped / (1 << 20),
	       st.bytes_mapped <= limit ? "met" : "MISSED");
	rc = daxkv_close(db);
	if (rc)
		return fail("close", rc);
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "daxkv-churn: could not remove %s\n", dir);
	return 0;
}
