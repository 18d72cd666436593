/* SPDX-License-Identifier: MIT */
/*
 * generator.h -- YCSB's number generators, translated from the Java
 * (site.ycsb.generator) so that a workload file means the same here.
 *
 * Each benchmark thread owns its generators and random state: nothing on
 * the operation path is shared except the insert-key counters, which are
 * shared by design (YCSB's CounterGenerator and
 * AcknowledgedCounterGenerator).  Zipfian constants follow YCSB: 0.99,
 * and the scrambled zipfian draws from 10^10 items with YCSB's
 * precomputed zeta, then hashes (FNV-1a 64) into the key range so the hot
 * keys are spread over the key space instead of clustered at its start.
 */
#ifndef YCSB_GENERATOR_H
#define YCSB_GENERATOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Per-thread random source (xoshiro256**). */
struct ycsb_rng {
	uint64_t s[4];
};

void ycsb_rng_seed(struct ycsb_rng *r, uint64_t seed);
uint64_t ycsb_rng_next(struct ycsb_rng *r);
/* Uniform double in [0, 1). */
double ycsb_rng_double(struct ycsb_rng *r);
/* Uniform integer in [0, n), n > 0. */
uint64_t ycsb_rng_below(struct ycsb_rng *r, uint64_t n);

/* YCSB's Utils.fnvhash64: FNV-1a 64 over the 8 little-end bytes of val,
 * then Math.abs (so the result is non-negative except for INT64_MIN). */
int64_t ycsb_fnvhash64(int64_t val);

#define YCSB_ZIPFIAN_CONSTANT 0.99
/* YCSB's ScrambledZipfianGenerator: item count and its zeta(0.99). */
#define YCSB_SCRAMBLED_ITEMS 10000000000LL
#define YCSB_SCRAMBLED_ZETAN 26.46902820178302

struct ycsb_zipfian {
	int64_t base, items;
	double theta, zeta2theta, alpha, zetan, eta;
	double half_pow_theta; /* 1 + 0.5^theta */
	int64_t countforzeta;
};

/* zeta(n, theta) = sum_{i=1..n} 1/i^theta, extended from a known
 * partial sum @p initial over the first @p st items. */
double ycsb_zeta(int64_t st, int64_t n, double theta, double initial);
/* Items in [min, max]; @p zetan < 0 means compute it. */
void ycsb_zipfian_init(struct ycsb_zipfian *z, int64_t min, int64_t max,
		       double theta, double zetan);
/* YCSB's nextLong(itemcount): popular items are the small ones. */
int64_t ycsb_zipfian_next_n(struct ycsb_zipfian *z, struct ycsb_rng *r,
			    int64_t itemcount);
int64_t ycsb_zipfian_next(struct ycsb_zipfian *z, struct ycsb_rng *r);

struct ycsb_scrambled {
	struct ycsb_zipfian gen;
	int64_t min, itemcount;
};
void ycsb_scrambled_init(struct ycsb_scrambled *s, int64_t min, int64_t max);
int64_t ycsb_scrambled_next(struct ycsb_scrambled *s, struct ycsb_rng *r);

/* Hot set at the low end of [lower, upper]. */
struct ycsb_hotspot {
	int64_t lower, hot_interval, cold_interval;
	double hot_opn_fraction;
};
void ycsb_hotspot_init(struct ycsb_hotspot *h, int64_t lower, int64_t upper,
		       double hot_set_fraction, double hot_opn_fraction);
int64_t ycsb_hotspot_next(const struct ycsb_hotspot *h, struct ycsb_rng *r);

/*
 * Insert-key sequence shared by all threads.  next() hands out numbers;
 * for the run phase, acknowledge() reports an insert done and last()
 * is the highest number below which every insert is done (YCSB's
 * AcknowledgedCounterGenerator), so readers never choose a key whose
 * insert is still in flight.  Inserts are a few percent of operations,
 * so a mutex over the acknowledgement window costs nothing measurable.
 */
#define YCSB_ACK_WINDOW (1u << 20)
struct ycsb_counter {
	int64_t next;	      /* atomic: next number to hand out */
	pthread_mutex_t lock; /* protects window and writes of limit */
	int64_t limit;	      /* every number < limit is acknowledged;
				 read without the lock (atomic load) */
	bool *window;	      /* acknowledged flags, YCSB_ACK_WINDOW of them */
};
int ycsb_counter_init(struct ycsb_counter *c, int64_t start);
void ycsb_counter_fini(struct ycsb_counter *c);
int64_t ycsb_counter_next(struct ycsb_counter *c);
void ycsb_counter_acknowledge(struct ycsb_counter *c, int64_t value);
/* Highest acknowledged number (start - 1 before any). */
int64_t ycsb_counter_last(struct ycsb_counter *c);

#endif
