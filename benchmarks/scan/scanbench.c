// SPDX-License-Identifier: MIT
/*
 * scanbench.c -- daxkv-scanbench: filtered scans per backend, beside the
 * same run's plain sequential read of the same bytes.
 *
 * Loads N records (key "s" + 10 digits, value of V bytes: u64 id at 0,
 * u32 id % 1000 at 8, the rest filler), then for each backend, each
 * selectivity (0.1%, 10%, 100%: u32@8 < 1, < 100, < 1000) and each
 * output (COUNT, SUM of u64@0) runs the query R times, and between them
 * reads every byte the queries scan (the segments up to their tails) with
 * the same number of threads, summing 64-bit words: the physical limit.
 * Prints the median GB/s of each and the median of the per-run ratios
 * (each query against the plain read just before it, so that a slow
 * stretch of a shared or emulated machine hits both sides of a ratio);
 * answers are checked against the values the loader wrote.
 *
 * Usage: daxkv-scanbench [--records N] [--value-size V] [--dir DIR]
 *        [--backends cpu,kmod,cuda] [--threads T] [--runs R] [--keep]
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

static void die(const char *what, int rc)
{
	fprintf(stderr, "daxkv-scanbench: %s: %s (%s)\n", what,
		daxkv_strerror(rc), daxkv_errmsg());
	exit(1);
}

/* ---- The plain read ---- */

struct seg_span {
	const uint8_t *base;
	uint64_t start, end, size;
};

struct spans {
	struct seg_span *v;
	size_t n;
	const char *dir;
	uint64_t bytes;
};

static int add_span(const struct daxkv_segment_info *info, void *arg)
{
	struct spans *s = arg;
	char path[4096];
	void *base;
	int fd;

	if (info->tail <= 4096)
		return 0;
	snprintf(path, sizeof(path), "%s/seg-%08u.dat", s->dir, info->slot);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "daxkv-scanbench: %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	base = mmap(NULL, info->size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED) {
		fprintf(stderr, "daxkv-scanbench: mmap %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
	if (!s->v)
		exit(1);
	s->v[s->n++] = (struct seg_span){ base, 4096, info->tail, info->size };
	s->bytes += info->tail - 4096;
	return 0;
}

struct reader {
	const struct spans *s;
	unsigned id, n;
	uint64_t sum;
	pthread_t tid;
};

/* Thread id reads the id-th of n equal slices of every segment. */
static void *read_slice(void *arg)
{
	struct reader *r = arg;
	uint64_t sum = 0;

	for (size_t i = 0; i < r->s->n; i++) {
		const struct seg_span *sp = &r->s->v[i];
		uint64_t len = (sp->end - sp->start) / 8;
		const uint64_t *w = (const uint64_t *)(sp->base + sp->start);
		uint64_t a = len * r->id / r->n, b = len * (r->id + 1) / r->n;

		for (uint64_t k = a; k < b; k++)
			sum += w[k];
	}
	r->sum = sum;
	return NULL;
}

static double plain_read_gbs(const struct spans *s, unsigned threads)
{
	struct reader r[64];
	uint64_t t0, sum = 0;

	if (threads > 64)
		threads = 64;
	t0 = now_ns();
	for (unsigned i = 0; i < threads; i++) {
		r[i] = (struct reader){ .s = s, .id = i, .n = threads };
		if (i)
			pthread_create(&r[i].tid, NULL, read_slice, &r[i]);
	}
	read_slice(&r[0]);
	for (unsigned i = 1; i < threads; i++)
		pthread_join(r[i].tid, NULL);
	for (unsigned i = 0; i < threads; i++)
		sum += r[i].sum;
	/* keep the sum alive */
	if (sum == 0x5eed)
		fprintf(stderr, " ");
	return (double)s->bytes / (double)(now_ns() - t0);
}

/* ---- Loading ---- */

static void load(daxkv *db, uint64_t n, unsigned vsize)
{
	uint8_t *val = calloc(1, vsize);
	daxkv_batch *b;
	char key[32];
	int rc;

	if (!val)
		exit(1);
	if ((rc = daxkv_batch_new(&b)))
		die("batch", rc);
	for (uint64_t i = 0; i < n; i++) {
		uint32_t sel = (uint32_t)(i % 1000);

		memcpy(val, &i, 8);
		memcpy(val + 8, &sel, 4);
		for (unsigned k = 12; k < vsize; k++)
			val[k] = (uint8_t)(i + k);
		snprintf(key, sizeof(key), "s%010" PRIu64, i);
		if ((rc = daxkv_batch_put(b, key, 11, val, vsize)))
			die("batch_put", rc);
		if ((i + 1) % 1000 == 0) {
			if ((rc = daxkv_batch_commit(db, b)))
				die("batch_commit", rc);
			daxkv_batch_clear(b);
		}
	}
	if ((rc = daxkv_batch_commit(db, b)))
		die("batch_commit", rc);
	daxkv_batch_free(b);
	free(val);
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: daxkv-scanbench [options]\n"
		"  --records N      records to load (default 10000000)\n"
		"  --value-size V   value bytes, >= 12 (default 100)\n"
		"  --dir DIR        database directory (default "
		"/dev/shm/daxkv-scanbench); removed at the end unless --keep\n"
		"  --backends LIST  comma list of cpu,kmod,cuda (default: every "
		"available one)\n"
		"  --threads T      CPU threads, device lanes and plain-read "
		"threads (default 2)\n"
		"  --runs R         runs of each measurement; the median is "
		"printed (default 5)\n"
		"  --keep           keep the database (and reuse it when it "
		"already holds N records)\n"
		"Set PMEM_IS_PMEM_FORCE=1 on /dev/shm (emulated pmem).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "records", required_argument, NULL, 'n' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "dir", required_argument, NULL, 'd' },
		{ "backends", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 't' },
		{ "runs", required_argument, NULL, 'r' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 } };
	static const uint32_t sel_lim[] = { 1, 100, 1000 };
	static const char *const sel_name[] = { "0.1%", "10%", "100%" };
	const char *dir = "/dev/shm/daxkv-scanbench", *blist = NULL;
	uint64_t nrec = 10000000;
	unsigned vsize = 100, threads = 2, runs = 5;
	int backends[3], nb = 0, c, rc;
	struct daxkv_options o;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	struct spans spans = { 0 };
	bool keep = false;
	daxkv *db;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end = NULL;

		switch (c) {
		case 'n':
			nrec = strtoull(optarg, &end, 10);
			break;
		case 'v':
			vsize = (unsigned)strtoul(optarg, &end, 10);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'b':
			blist = optarg;
			break;
		case 't':
			threads = (unsigned)strtoul(optarg, &end, 10);
			break;
		case 'r':
			runs = (unsigned)strtoul(optarg, &end, 10);
			break;
		case 'k':
			keep = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (end && *end) {
			fprintf(stderr, "daxkv-scanbench: bad number '%s'\n",
				optarg);
			return 2;
		}
	}
	if (optind != argc || nrec == 0 || vsize < 12 || vsize > 65536 ||
	    threads == 0 || threads > 64 || runs == 0 || runs > 99) {
		usage(stderr);
		return 2;
	}

	daxkv_options_init(&o);
	if ((rc = daxkv_open(dir, &o, &db)))
		die(dir, rc);
	if ((rc = daxkv_stat(db, &st)))
		die("stat", rc);
	if (st.keys != nrec) {
		uint64_t t0 = now_ns();

		if (st.keys) {
			fprintf(stderr, "daxkv-scanbench: %s holds %" PRIu64
				" keys, not %" PRIu64 "; remove it first\n",
				dir, st.keys, nrec);
			return 1;
		}
		load(db, nrec, vsize);
		fprintf(stderr, "loaded %" PRIu64 " records in %.1f s\n", nrec,
			(double)(now_ns() - t0) / 1e9);
	}

	if (blist) {
		char *copy = strdup(blist), *tok, *save = NULL;

		for (tok = strtok_r(copy, ",", &save); tok && nb < 3;
		     tok = strtok_r(NULL, ",", &save)) {
			int b = !strcmp(tok, "cpu")  ? DAXKV_BACKEND_CPU :
				!strcmp(tok, "kmod") ? DAXKV_BACKEND_KMOD :
				!strcmp(tok, "cuda") ? DAXKV_BACKEND_CUDA :
						       0;

			if (!b) {
				fprintf(stderr, "daxkv-scanbench: unknown "
					"backend '%s'\n", tok);
				return 2;
			}
			if (daxkv_backend_available(db, b) != 1) {
				fprintf(stderr, "daxkv-scanbench: %s: %s\n",
					tok, daxkv_errmsg());
				return 1;
			}
			backends[nb++] = b;
		}
		free(copy);
	} else {
		for (int b = DAXKV_BACKEND_CPU; b <= DAXKV_BACKEND_CUDA; b++) {
			if (daxkv_backend_available(db, b) == 1)
				backends[nb++] = b;
			else
				printf("(%s backend not run: %s)\n",
				       daxkv_backend_name(b), daxkv_errmsg());
		}
	}

	spans.dir = dir;
	if ((rc = daxkv_segment_foreach(db, add_span, &spans)))
		die("segments", rc);
	printf("%" PRIu64 " records of %u-byte values, %.1f MB of records in "
	       "%zu segments; %u threads/lanes; median of %u runs\n\n",
	       nrec, vsize, (double)spans.bytes / 1e6, spans.n, threads, runs);
	printf("| backend | selectivity | output | GB/s | plain read GB/s "
	       "| ratio |\n|---|---|---|---|---|---|\n");
	for (int bi = 0; bi < nb; bi++) {
		for (int s = 0; s < 3; s++) {
			for (int out = 0; out < 2; out++) {
				double q[99], p[99], ratio[99], qm, pm;
				uint64_t want_count = 0, want_sum = 0;

				/* the loader's ids with id % 1000 < lim */
				for (uint64_t id = 0; id < nrec; id++)
					if (id % 1000 < sel_lim[s]) {
						want_count++;
						want_sum += id;
					}
				for (unsigned r = 0; r < runs; r++) {
					struct daxkv_query_result res = {
						.version =
							DAXKV_QUERY_RESULT_VERSION
					};
					struct daxkv_query qd;

					daxkv_query_init(&qd);
					qd.backend = (uint32_t)backends[bi];
					qd.threads = threads;
					qd.npreds = 1;
					qd.preds[0] = (struct daxkv_pred){
						.type = DAXKV_FIELD_UINT,
						.op = DAXKV_OP_LT,
						.offset = 8,
						.width = 4,
						.uval = sel_lim[s]
					};
					if (out) {
						qd.output = DAXKV_QUERY_SUM;
						qd.field_type = DAXKV_FIELD_UINT;
						qd.field_offset = 0;
						qd.field_width = 8;
					}
					p[r] = plain_read_gbs(&spans, threads);
					if ((rc = daxkv_query(db, &qd, &res)))
						die("query", rc);
					if (res.count != want_count ||
					    (out && res.value != want_sum)) {
						fprintf(stderr,
							"daxkv-scanbench: "
							"WRONG ANSWER from %s: "
							"count %" PRIu64
							" (want %" PRIu64
							"), value %" PRIu64
							" (want %" PRIu64 ")\n",
							daxkv_backend_name(
								backends[bi]),
							res.count, want_count,
							res.value, want_sum);
						return 1;
					}
					q[r] = (double)res.bytes_scanned /
					       (double)res.time_ns;
					ratio[r] = q[r] / p[r];
				}
				qm = median(q, runs);
				pm = median(p, runs);
				printf("| %s | %s | %s | %.2f | %.2f | %.2f |\n",
				       daxkv_backend_name(backends[bi]),
				       sel_name[s], out ? "SUM" : "COUNT", qm,
				       pm, median(ratio, runs));
				fflush(stdout);
			}
		}
	}
	for (size_t i = 0; i < spans.n; i++)
		munmap((void *)spans.v[i].base, spans.v[i].size);
	free(spans.v);
	if ((rc = daxkv_close(db)))
		die("close", rc);
	if (!keep && nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "daxkv-scanbench: could not remove %s\n", dir);
	return 0;
}
