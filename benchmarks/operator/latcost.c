// SPDX-License-Identifier: MIT
/*
 * latcost.c -- daxkv-latcost: what keeping latency figures costs.
 *
 * The engine times a sample of puts, gets and deletes and every batch,
 * scan and query (engine/latency.c).  This measures the same work on two
 * handles opened side by side, one keeping the figures and one with
 * DAXKV_OPEN_NOLATENCY, both loaded with the same N keys (16-byte keys,
 * 100-byte values): round by round, each operation runs on one handle
 * then the other (the order alternating), so that a slow stretch of a
 * shared machine hits both sides of a pair; halfway the two databases
 * swap roles.  Per round: N puts of new
 * keys, 4N random gets, N/16 batches of 16 puts, N/16 scans of 16 keys
 * from a random one, with T threads; and 40N gets refused at once (a
 * NULL key: "timer", the cost of the timing itself and the argument
 * checks, without the memory misses whose noise hides a few
 * nanoseconds).  It prints, per operation, the
 * median ns per operation of each side, the median of the per-round
 * differences (on - off) / off, and the noise: half the spread of those
 * differences between their 25th and 75th percentiles.  A median
 * difference inside the noise is "within noise".  --aa runs both sides
 * without figures: what the method reports when there is no difference
 * (on a loaded machine, differences of several percent either way).  Run
 * on /dev/shm with PMEM_IS_PMEM_FORCE=1.
 *
 *   daxkv-latcost [--keys N] [--rounds R] [--threads T] [--dir DIR] [--aa]
 */
#include <ftw.h>
#include <stdbool.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daxkv.h"

#define KLEN 16
#define VLEN 100
#define NOPS 5

static const char *const op_names[NOPS] = { "put", "get", "batch16",
					    "scan16", "timer" };

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

static void make_key(uint8_t *key, uint64_t i)
{
	uint64_t a = mix(i), b = mix(i + 0x9e3779b97f4a7c15ull);

	memcpy(key, &a, 8);
	memcpy(key + 8, &b, 8);
}

static int rm_one(const char *p, const struct stat *s, int f, struct FTW *w)
{
	(void)s, (void)f, (void)w;
	return remove(p);
}

struct job {
	daxkv *db;
	int op;
	uint64_t first, count, nkeys, seed;
	pthread_barrier_t *start;
};

static int scan_cb(const void *k, size_t kl, const void *v, size_t vl,
		   void *arg)
{
	(void)k, (void)kl, (void)v, (void)vl;
	return ++*(unsigned *)arg >= 16;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	uint8_t key[KLEN], val[VLEN], buf[VLEN];
	uint64_t rng = j->seed;
	size_t vlen;

	memset(val, 'v', sizeof(val));
	pthread_barrier_wait(j->start);
	for (uint64_t i = 0; i < j->count; i++) {
		int rc = 0;

		switch (j->op) {
		case 0:
			make_key(key, j->first + i);
			rc = daxkv_put(j->db, key, KLEN, val, VLEN);
			break;
		case 1:
			rng = mix(rng + 1);
			make_key(key, rng % j->nkeys);
			rc = daxkv_get(j->db, key, KLEN, buf, sizeof(buf), &vlen);
			break;
		case 2: {
			daxkv_batch *b;

			daxkv_batch_new(&b);
			for (int k = 0; k < 16; k++) {
				rng = mix(rng + 1);
				make_key(key, rng % j->nkeys);
				daxkv_batch_put(b, key, KLEN, val, VLEN);
			}
			rc = daxkv_batch_commit(j->db, b);
			daxkv_batch_free(b);
			break;
		}
		case 4:
			/* a get refused at once (a NULL key): the timer and
			 * the argument checks, nothing else */
			rc = daxkv_get(j->db, NULL, 0, buf, sizeof(buf), &vlen);
			rc = rc == DAXKV_EINVAL ? 0 : -1;
			break;
		default: {
			unsigned seen = 0;

			rng = mix(rng + 1);
			make_key(key, rng % j->nkeys);
			rc = daxkv_scan(j->db, key, KLEN, NULL, 0, scan_cb,
					&seen);
			rc = rc == 1 ? 0 : rc;
			break;
		}
		}
		if (rc) {
			fprintf(stderr, "%s: %s: %s\n", op_names[j->op],
				daxkv_strerror(rc), daxkv_errmsg());
			exit(1);
		}
	}
	return NULL;
}

/* ns per operation of @p count operations of @p op over @p threads; puts
 * write keys from @p first on. */
static double run_op(daxkv *db, int op, uint64_t first, uint64_t count,
		     uint64_t nkeys, unsigned threads, uint64_t round)
{
	pthread_t tid[64];
	struct job jobs[64];
	pthread_barrier_t start;
	uint64_t t0, t1;

	pthread_barrier_init(&start, NULL, threads + 1);
	for (unsigned t = 0; t < threads; t++) {
		jobs[t] = (struct job){ .db = db, .op = op,
					.first = first + count / threads * t,
					.count = count / threads,
					.nkeys = nkeys,
					.seed = round * 1000 + t + 1,
					.start = &start };
		pthread_create(&tid[t], NULL, worker, &jobs[t]);
	}
	pthread_barrier_wait(&start);
	t0 = now_ns();
	for (unsigned t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
	t1 = now_ns();
	pthread_barrier_destroy(&start);
	return (double)(t1 - t0) / (double)(count / threads * threads);
}

/* Open @p dir as side 0 (figures kept) or 1 (NOLATENCY; both with
 * --aa). */
static int open_side(const char *dir, int side, bool aa, daxkv **dbp)
{
	struct daxkv_options o;
	int rc;

	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_NOCOMPACT |
		  (side || aa ? DAXKV_OPEN_NOLATENCY : 0);
	rc = daxkv_open(dir, &o, dbp);
	if (rc)
		fprintf(stderr, "open %s: %s\n", dir, daxkv_errmsg());
	return rc;
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, 'k' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "dir", required_argument, NULL, 'd' },
		{ "aa", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t nkeys = 100000;
	unsigned rounds = 15, threads = 1;
	bool aa = false;
	const char *base = "/dev/shm";
	double res[2][NOPS][64];
	char dirs[2][4096];
	daxkv *dbs[2];
	int opt;

	while ((opt = getopt_long(argc, argv, "k:r:t:d:a", longopts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			nkeys = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			rounds = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 't':
			threads = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'd':
			base = optarg;
			break;
		case 'a':
			aa = true;
			break;
		default:
			fprintf(stderr, "usage: daxkv-latcost [--keys N] "
				"[--rounds R] [--threads T] [--dir DIR] "
				"[--aa]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > 64 || threads < 1 || threads > 64 ||
	    nkeys < 1000) {
		fprintf(stderr, "daxkv-latcost: 1..64 rounds and threads, at "
			"least 1000 keys\n");
		return 2;
	}
	for (int k = 0; k < 2; k++) {
		snprintf(dirs[k], sizeof(dirs[k]), "%s/daxkv-latcost-%ld-%d",
			 base, (long)getpid(), k);
		nftw(dirs[k], rm_one, 16, FTW_DEPTH | FTW_PHYS);
		if (open_side(dirs[k], k, aa, &dbs[k]))
			return 1;
		run_op(dbs[k], 0, 0, nkeys, nkeys, threads, 0); /* the load */
	}
	for (unsigned r = 0; r < rounds; r++) {
		/* halfway, the two databases swap roles (each reopened): a
		 * difference that comes with a database or its memory, not
		 * with the figures, then cancels out */
		bool swapped = r >= rounds / 2;

		if (r == rounds / 2) {
			for (int k = 0; k < 2; k++) {
				daxkv_close(dbs[k]);
				if (open_side(dirs[k], !k, aa, &dbs[k]))
					return 1;
			}
		}
		for (int op = 0; op < NOPS; op++) {
			uint64_t count = op == 0 ? nkeys :
					 op == 1 ? 4 * nkeys :
					 op == 4 ? 40 * nkeys :
						   nkeys / 16;

			for (int i = 0; i < 2; i++) {
				/* side 0 (on) first in even rounds, side 1
				 * (off) first in odd ones */
				int side = (int)((r + (unsigned)i) % 2);
				int k = swapped ? !side : side;

				res[side][op][r] = run_op(dbs[k], op,
							  nkeys * (r + 1),
							  count, nkeys,
							  threads, r + 1);
			}
		}
	}
	for (int k = 0; k < 2; k++) {
		daxkv_close(dbs[k]);
		nftw(dirs[k], rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	printf("latency figures on vs off (DAXKV_OPEN_NOLATENCY)%s: %llu keys, "
	       "%u rounds, %u thread%s; ns per operation, medians\n",
	       aa ? " [--aa: both off]" : "", (unsigned long long)nkeys,
	       rounds, threads, threads == 1 ? "" : "s");
	printf("%-8s %10s %10s %9s %9s  %s\n", "op", "on", "off", "diff",
	       "noise", "verdict");
	for (int op = 0; op < NOPS; op++) {
		double on[64], off[64], diff[64], m_diff, noise;

		for (unsigned r = 0; r < rounds; r++) {
			on[r] = res[0][op][r];
			off[r] = res[1][op][r];
			diff[r] = 100.0 * (on[r] - off[r]) / off[r];
		}
		m_diff = median(diff, rounds); /* sorts diff */
		noise = (diff[rounds * 3 / 4] - diff[rounds / 4]) / 2;
		printf("%-8s %10.1f %10.1f %+8.1f%% %8.1f%%  %s\n",
		       op_names[op], median(on, rounds), median(off, rounds),
		       m_diff, noise,
		       m_diff <= noise ? "within noise" : "ABOVE noise");
	}
	return 0;
}
