// SPDX-License-Identifier: MIT
/*
 * indexbench.c -- what the index costs at open and in DRAM (issue #17's
 * targets), through daxkv.h only.
 *
 *   reopen  load N keys (YCSB-like, "user" + digits, 100-byte values),
 *           close, and time the open that follows: after a clean close
 *           (the checkpoint) and after a crash (a child opens and is
 *           killed: every segment is scanned), with --threads recovery
 *           threads; the DRAM the open index takes per key.
 *   churn   N unique keys inserted and then deleted, a million at a time,
 *           in one open: the process's resident anonymous memory (DRAM:
 *           RssAnon) after the first million and at the end.  Segment
 *           pages (RssShmem on /dev/shm) are printed beside it: delete
 *           records stay on media until issue #20.
 *
 *   daxkv-indexbench [reopen|churn|all] [--keys N] [--threads T] [--dir D]
 *
 * Figures are wall time of daxkv_open and its own recovery_ns; on a shared
 * machine run it when the load is low (the load average is printed).
 */
#include <dirent.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daxkv.h"

#define VLEN 100
#define CHURN_ROUND 1000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* YCSB's key: "user" + the FNV-1a hash of the number, in decimal. */
static size_t make_key(char *k, uint64_t i)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int b = 0; b < 8; b++) {
		h ^= i & 0xff;
		h *= 1099511628211ull;
		i >>= 8;
	}
	return (size_t)sprintf(k, "user%llu", (unsigned long long)h);
}

/* A field of /proc/self/status in KiB ("RssAnon:"), or 0. */
static uint64_t status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	uint64_t v = 0;
	size_t n = strlen(field);

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n)) {
			v = strtoull(line + n, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static double load_average(void)
{
	double l = 0;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = 0;
		fclose(f);
	}
	return l;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "daxkv-indexbench: %s: %s (%s)\n", what,
		daxkv_strerror(rc), daxkv_errmsg());
	exit(1);
}

static daxkv *open_db(const char *dir, uint32_t threads, uint32_t flags)
{
	struct daxkv_options o;
	daxkv *db;
	int rc;

	daxkv_options_init(&o);
	o.recovery_threads = threads;
	o.flags = flags;
	rc = daxkv_open(dir, &o, &db);
	if (rc)
		die("open", rc);
	return db;
}

/* Remove the benchmark's database directory: only one that does not
 * exist, is empty, or holds a daxkv database (meta.pool), so that a
 * mistaken --dir (/dev/shm, a home directory) is refused, not emptied. */
static void rm_dir(const char *dir)
{
	char cmd[4200], meta[4200];
	struct dirent *de;
	bool empty = true;
	DIR *d = opendir(dir);

	if (d) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = false;
		closedir(d);
		snprintf(meta, sizeof(meta), "%s/meta.pool", dir);
		if (!empty && access(meta, F_OK) != 0) {
			fprintf(stderr, "daxkv-indexbench: %s is not empty and "
				"holds no daxkv database (no meta.pool): give "
				"--dir a directory of its own, which is removed "
				"before and after\n", dir);
			exit(2);
		}
	}
	if (strchr(dir, '\'')) {
		fprintf(stderr, "daxkv-indexbench: --dir with a quote\n");
		exit(2);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		exit(1);
}

static int bench_reopen(const char *dir, uint64_t nkeys, uint32_t threads)
{
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	uint64_t t0, clean_ns, crash_ns, anon0, anon1;
	char k[32], v[VLEN];
	double mb;
	pid_t child;
	int status;
	daxkv *db;

	rm_dir(dir);
	memset(v, 'v', sizeof(v));
	db = open_db(dir, threads, DAXKV_OPEN_NOCOMPACT);
	for (uint64_t i = 0; i < nkeys; i++) {
		int rc = daxkv_put(db, k, make_key(k, i), v, sizeof(v));

		if (rc)
			die("put", rc);
	}
	if (daxkv_close(db))
		die("close", DAXKV_EIO);

	/* after a clean close: the checkpoint */
	anon0 = status_kib("RssAnon:");
	t0 = now_ns();
	db = open_db(dir, threads, 0);
	clean_ns = now_ns() - t0;
	anon1 = status_kib("RssAnon:");
	daxkv_stat(db, &st);
	if (st.recovery != DAXKV_RECOVERY_CHECKPOINT || st.keys != nkeys) {
		fprintf(stderr, "daxkv-indexbench: reopen found %llu keys by "
			"%u\n", (unsigned long long)st.keys, st.recovery);
		return 1;
	}
	mb = (double)st.bytes_written / 1e6;
	printf("reopen: %llu keys, %.0f MB of records in %llu segments\n",
	       (unsigned long long)nkeys, mb,
	       (unsigned long long)st.segments);
	printf("after a clean close: open %.3f s (recovery %.3f s), "
	       "index DRAM %.0f bytes/key (RssAnon +%llu KiB)\n",
	       (double)clean_ns / 1e9, (double)st.recovery_ns / 1e9,
	       (double)(anon1 - anon0) * 1024.0 / (double)nkeys,
	       (unsigned long long)(anon1 - anon0));
	if (daxkv_close(db))
		die("close", DAXKV_EIO);

	/* after a crash: a child opens (the checkpoint is consumed) and
	 * dies without closing */
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		db = open_db(dir, threads, DAXKV_OPEN_NOCOMPACT);
		raise(SIGKILL);
		_exit(1);
	}
	if (waitpid(child, &status, 0) != child || !WIFSIGNALED(status))
		return 1;
	t0 = now_ns();
	db = open_db(dir, threads, 0);
	crash_ns = now_ns() - t0;
	daxkv_stat(db, &st);
	if (st.recovery != DAXKV_RECOVERY_SCAN || st.keys != nkeys) {
		fprintf(stderr, "daxkv-indexbench: recovery found %llu keys "
			"by %u\n", (unsigned long long)st.keys, st.recovery);
		return 1;
	}
	printf("after a crash: open %.3f s (recovery %.3f s), %.0f MB/s of "
	       "segments with %u threads\n",
	       (double)crash_ns / 1e9, (double)st.recovery_ns / 1e9,
	       mb / ((double)crash_ns / 1e9), threads);
	if (daxkv_close(db))
		die("close", DAXKV_EIO);
	rm_dir(dir);
	printf("target reopen after a clean close <= 1 s: %.3f s  %s\n",
	       (double)clean_ns / 1e9, clean_ns <= 1000000000ull ? "met" :
								  "MISSED");
	printf("target recovery after a crash >= 500 MB/s of segments at %u "
	       "threads: %.0f MB/s  %s\n",
	       threads, mb / ((double)crash_ns / 1e9),
	       mb / ((double)crash_ns / 1e9) >= 500 ? "met" : "MISSED");
	return 0;
}

static int bench_churn(const char *dir, uint64_t nkeys)
{
	uint64_t first = 0, end, shmem_first = 0;
	char k[40], v[VLEN];
	daxkv *db;

	rm_dir(dir);
	memset(v, 'v', sizeof(v));
	db = open_db(dir, 0, 0);
	for (uint64_t base = 0; base < nkeys; base += CHURN_ROUND) {
		uint64_t n = nkeys - base < CHURN_ROUND ? nkeys - base :
							   CHURN_ROUND;

		for (uint64_t i = base; i < base + n; i++) {
			int rc = daxkv_put(db, k, make_key(k, i), v, sizeof(v));

			if (rc)
				die("put", rc);
		}
		for (uint64_t i = base; i < base + n; i++) {
			int rc = daxkv_delete(db, k, make_key(k, i));

			if (rc)
				die("delete", rc);
		}
		if (base == 0) {
			first = status_kib("RssAnon:");
			shmem_first = status_kib("RssShmem:");
		}
	}
	end = status_kib("RssAnon:");
	printf("churn: %llu unique keys inserted then deleted, %llu at a "
	       "time: RssAnon %.1f MiB after the first %llu, %.1f MiB at the "
	       "end (+%.1f MiB); segment pages %.1f -> %.1f MiB (deletes "
	       "stay on media)\n",
	       (unsigned long long)nkeys, (unsigned long long)CHURN_ROUND,
	       (double)first / 1024, (unsigned long long)CHURN_ROUND,
	       (double)end / 1024, ((double)end - (double)first) / 1024,
	       (double)shmem_first / 1024,
	       (double)status_kib("RssShmem:") / 1024);
	if (daxkv_close(db))
		die("close", DAXKV_EIO);
	rm_dir(dir);
	printf("target churn: RssAnon at the end <= after the first %llu + "
	       "32 MiB: %+.1f MiB  %s\n",
	       (unsigned long long)CHURN_ROUND,
	       ((double)end - (double)first) / 1024,
	       end <= first + 32 * 1024 ? "met" : "MISSED");
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: daxkv-indexbench [reopen|churn|all] [--keys N] "
		"[--threads T] [--dir DIR]\n"
		"  reopen     open after a clean close and after a crash "
		"(default --keys 5000000)\n"
		"  churn      unique keys inserted then deleted, a million at "
		"a time (default --keys 10000000)\n"
		"  --threads  recovery threads (default 2)\n"
		"  --dir      database directory, removed first and after\n"
		"             (default /dev/shm/daxkv-indexbench)\n"
		"Set PMEM_IS_PMEM_FORCE=1 on /dev/shm to use real flushes.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 't' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = "/dev/shm/daxkv-indexbench", *what = "all";
	uint64_t nkeys = 0;
	uint32_t threads = 2;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "k:t:d:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			nkeys = strtoull(optarg, NULL, 10);
			break;
		case 't':
			threads = (uint32_t)atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		what = argv[optind];
	if (strcmp(what, "reopen") && strcmp(what, "churn") &&
	    strcmp(what, "all")) {
		usage(stderr);
		return 2;
	}
	if (threads < 1 || threads > 256) {
		fprintf(stderr, "daxkv-indexbench: --threads 1..256\n");
		return 2;
	}
	printf("daxkv-indexbench: load average %.2f at the start\n",
	       load_average());
	if (!strcmp(what, "reopen") || !strcmp(what, "all"))
		rc |= bench_reopen(dir, nkeys ? nkeys : 5000000, threads);
	if (!strcmp(what, "churn") || !strcmp(what, "all"))
		rc |= bench_churn(dir, nkeys ? nkeys : 10000000);
	printf("load average %.2f at the end\n", load_average());
	return rc;
}
