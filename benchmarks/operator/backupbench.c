// SPDX-License-Identifier: MIT
/*
 * backupbench.c -- daxkv-backupbench: daxkv_backup()'s throughput beside a
 * plain copy of the same files.
 *
 * Builds a database of about --size MiB of records (16-byte keys, values
 * of --value bytes; --dead percent of the puts overwrite earlier keys, so
 * that a compacting backup has dead records to leave out), closes it,
 * opens it read-only, and then, --runs times: daxkv_backup() whole,
 * daxkv_backup() with DAXKV_BACKUP_COMPACT, and `cp -r` of the database
 * directory followed by an fsync of every file and of the directory (a
 * backup is durable when it returns; cp alone is not).  Each is timed
 * into a fresh destination on the same file system (--dir).  It prints
 * the median seconds and MB/s of each, reckoned on the bytes of the
 * source's files (what cp copies), and the record bytes each copy holds.
 *
 *   daxkv-backupbench [--size MiB] [--value BYTES] [--dead PCT]
 *                     [--runs R] [--dir DIR]
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daxkv.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static int rm_one(const char *p, const struct stat *s, int f, struct FTW *w)
{
	(void)s, (void)f, (void)w;
	return remove(p);
}

static void rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Bytes of the files in @p dir. */
static uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t total = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[8192];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

/* fsync every file of @p dir and the directory. */
static int sync_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int fd, rc = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char path[8192];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0 || fsync(fd) != 0)
			rc = -1;
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fsync(fd) != 0)
		rc = -1;
	if (fd >= 0)
		close(fd);
	return rc;
}

static uint64_t records_of(const char *dir)
{
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	struct daxkv_options o;
	daxkv *db;

	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_RDONLY;
	if (daxkv_open(dir, &o, &db) != 0)
		return 0;
	daxkv_stat(db, &st);
	daxkv_close(db);
	return st.bytes_written;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "value", required_argument, NULL, 'v' },
		{ "dead", required_argument, NULL, 'x' },
		{ "runs", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const names[3] = { "daxkv_backup",
					      "daxkv_backup COMPACT",
					      "cp -r + fsync" };
	uint64_t size_mib = 1024, value = 1000, dead = 20, bytes, t[3][16];
	uint64_t rec_bytes[3] = { 0 };
	unsigned runs = 3;
	const char *base = "/dev/shm";
	char src[4096], dst[4200], cmd[16384];
	struct daxkv_options o;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	uint8_t *val;
	daxkv *db;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:v:x:r:d:", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 's':
			size_mib = strtoull(optarg, NULL, 0);
			break;
		case 'v':
			value = strtoull(optarg, NULL, 0);
			break;
		case 'x':
			dead = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			runs = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'd':
			base = optarg;
			break;
		default:
			fprintf(stderr, "usage: daxkv-backupbench [--size MiB] "
				"[--value BYTES] [--dead PCT] [--runs R] "
				"[--dir DIR]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 16 || value < 8 || value > DAXKV_MAX_VALUE ||
	    dead > 90 || size_mib < 1) {
		fprintf(stderr, "daxkv-backupbench: 1..16 runs, a value of "
			"8..%u bytes, --dead 0..90\n", DAXKV_MAX_VALUE);
		return 2;
	}
	snprintf(src, sizeof(src), "%s/daxkv-backupbench-%ld", base,
		 (long)getpid());
	rmtree(src);
	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_NOCOMPACT;
	if (daxkv_open(src, &o, &db) != 0) {
		fprintf(stderr, "open %s: %s\n", src, daxkv_errmsg());
		return 1;
	}
	val = malloc(value);
	memset(val, 'v', value);
	{
		uint64_t keys = 0, i = 0;

		do {
			uint8_t key[16];
			uint64_t id = dead && mix(i) % 100 < dead && keys ?
					      mix(i + 7) % keys :
					      keys++;
			uint64_t a = mix(id), b = mix(id + 1);

			memcpy(key, &a, 8);
			memcpy(key + 8, &b, 8);
			memcpy(val, &i, 8);
			if (daxkv_put(db, key, 16, val, value) != 0) {
				fprintf(stderr, "put: %s\n", daxkv_errmsg());
				return 1;
			}
			if (++i % 4096 == 0)
				daxkv_stat(db, &st);
		} while (st.bytes_written < size_mib << 20);
	}
	daxkv_close(db);
	free(val);
	bytes = dir_bytes(src);
	o.flags = DAXKV_OPEN_RDONLY;
	if (daxkv_open(src, &o, &db) != 0) {
		fprintf(stderr, "open %s: %s\n", src, daxkv_errmsg());
		return 1;
	}
	daxkv_stat(db, &st);
	for (unsigned r = 0; r < runs; r++) {
		for (int k = 0; k < 3; k++) {
			uint64_t t0;
			int rc;

			snprintf(dst, sizeof(dst), "%s.copy", src);
			rmtree(dst);
			sync();
			t0 = now_ns();
			if (k < 2) {
				rc = daxkv_backup(db, dst,
						  k ? DAXKV_BACKUP_COMPACT : 0);
			} else {
				snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'",
					 src, dst);
				rc = system(cmd) || sync_dir(dst);
			}
			t[k][r] = now_ns() - t0;
			if (rc) {
				fprintf(stderr, "%s: failed: %s\n", names[k],
					k < 2 ? daxkv_errmsg() : "cp");
				return 1;
			}
			if (r == 0)
				rec_bytes[k] = records_of(dst);
		}
	}
	daxkv_close(db);
	rmtree(dst);
	rmtree(src);
	printf("backup of a database of %llu bytes of files (%llu keys, "
	       "%llu bytes of records, %llu of them live; %llu-byte values) "
	       "on %s, %u runs, medians\n",
	       (unsigned long long)bytes, (unsigned long long)st.keys,
	       (unsigned long long)st.bytes_written,
	       (unsigned long long)st.live_bytes, (unsigned long long)value,
	       base, runs);
	printf("%-22s %10s %12s %16s\n", "", "seconds", "MB/s (files)",
	       "records copied");
	for (int k = 0; k < 3; k++) {
		double s;

		qsort(t[k], runs, sizeof(t[k][0]), cmp_u64);
		s = (double)t[k][runs / 2] / 1e9;
		printf("%-22s %10.3f %12.0f %16llu\n", names[k], s,
		       (double)bytes / 1e6 / s, (unsigned long long)rec_bytes[k]);
	}
	return 0;
}
