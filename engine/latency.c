// SPDX-License-Identifier: MIT
/*
 * latency.c -- how long puts, gets, deletes, batches, scans and queries
 * take, as daxkv_stat() reports it.
 *
 * Cost is the design constraint: a get takes a couple of hundred
 * nanoseconds and two clock reads cost 40 to 130 (a loaded VM), so not
 * every call is timed.
 * Each thread times a random one in DK_LAT_EVERY of its puts, gets and
 * deletes (a per-thread xorshift decides: a counter would alias with a
 * loop that alternates kinds or keys); batches, scans and queries cost
 * microseconds and are timed every time.  A timed call adds one to a
 * histogram bucket.  Buckets are log-linear: exact below 8 ns, then 8 per
 * power of two, so a bucket is at most 12.5% wide, from 1 ns to 2^40 ns
 * (18 minutes; longer calls land in the last bucket).  Each thread slot
 * (a process-wide thread number modulo DK_MAX_LANES) has a block of its
 * own, allocated at its first timed call and aligned to a cache line, so
 * threads do not write the same lines; threads beyond DK_MAX_LANES share
 * a block, and relaxed atomic adds keep its counts right.  daxkv_stat
 * sums the blocks and reads the percentiles off the sum: the upper end
 * of the bucket holding the rank (never below the true value, at most
 * 12.5% above), and the largest call timed.  benchmarks/latency measures
 * what all this costs.
 */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "internal.h"
#include "latency.h"

#define DK_LAT_EVERY 32u   /* put, get, delete: time one call in this many */
#define DK_LAT_SUB_BITS 3u /* 8 buckets per power of two */
#define DK_LAT_MAX_BITS 40u
#define DK_LAT_BUCKETS                                                         \
	((DK_LAT_MAX_BITS - DK_LAT_SUB_BITS + 1) << DK_LAT_SUB_BITS)

struct dk_lat_block {
	uint64_t count[DK_LAT_NOPS][DK_LAT_BUCKETS]; /* atomic */
	uint64_t max[DK_LAT_NOPS];                   /* atomic */
} __attribute__((aligned(64))); /* its own lines; a size aligned_alloc takes */

static __thread uint32_t dk_lat_rng; /* xorshift32 state, 0 until used */
static __thread uint32_t dk_lat_slot = UINT32_MAX;
static uint32_t dk_lat_slots; /* atomic: hands out dk_lat_slot */

unsigned dk_lat_bucket(uint64_t ns)
{
	unsigned msb;

	if (ns < (1u << DK_LAT_SUB_BITS))
		return (unsigned)ns;
	msb = 63u - (unsigned)__builtin_clzll(ns);
	if (msb >= DK_LAT_MAX_BITS)
		return DK_LAT_BUCKETS - 1;
	return ((msb - DK_LAT_SUB_BITS + 1) << DK_LAT_SUB_BITS) |
	       ((unsigned)(ns >> (msb - DK_LAT_SUB_BITS)) &
		((1u << DK_LAT_SUB_BITS) - 1));
}

uint64_t dk_lat_bucket_top(unsigned b)
{
	unsigned group = b >> DK_LAT_SUB_BITS, shift;
	uint64_t low;

	if (group == 0)
		return b;
	shift = group - 1;
	low = (uint64_t)((1u << DK_LAT_SUB_BITS) |
			 (b & ((1u << DK_LAT_SUB_BITS) - 1)))
	      << shift;
	return low + (1ull << shift) - 1;
}

struct dk_lat_timer dk_lat_start(struct daxkv *db, enum dk_lat_op op)
{
	struct dk_lat_timer t = { .db = db, .t0 = 0, .op = op };

	if (unlikely(!db) || db->latency_off)
		return t;
	if (op <= DK_LAT_DELETE) {
		/* a random 1 in DK_LAT_EVERY: a counter would alias with a
		 * loop that alternates kinds or keys */
		uint32_t x = dk_lat_rng;

		if (unlikely(x == 0))
			x = (uint32_t)(uintptr_t)&t | 1u; /* per thread */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		dk_lat_rng = x;
		if (x % DK_LAT_EVERY != 0)
			return t;
	}
	t.t0 = dk_now_ns();
	return t;
}

static struct dk_lat_block *dk_lat_block_get(struct daxkv *db)
{
	struct dk_lat_block *b, *none = NULL;
	uint32_t slot;

	if (unlikely(dk_lat_slot == UINT32_MAX))
		dk_lat_slot = __atomic_fetch_add(&dk_lat_slots, 1,
						 __ATOMIC_RELAXED);
	slot = dk_lat_slot % DK_MAX_LANES;
	b = __atomic_load_n(&db->lat[slot], __ATOMIC_ACQUIRE);
	if (likely(b))
		return b;
	b = aligned_alloc(64, sizeof(*b));
	if (!b)
		return NULL; /* this sample is lost; figures stay true */
	memset(b, 0, sizeof(*b));
	if (!__atomic_compare_exchange_n(&db->lat[slot], &none, b, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(b); /* a thread sharing the slot was first */
		b = none;
	}
	return b;
}

void dk_lat_record(const struct dk_lat_timer *t)
{
	struct dk_lat_block *b;
	uint64_t ns, max;

	ns = dk_now_ns() - t->t0;
	b = dk_lat_block_get(t->db);
	if (!b)
		return;
	__atomic_fetch_add(&b->count[t->op][dk_lat_bucket(ns)], 1,
			   __ATOMIC_RELAXED);
	max = __atomic_load_n(&b->max[t->op], __ATOMIC_RELAXED);
	while (ns > max &&
	       !__atomic_compare_exchange_n(&b->max[t->op], &max, ns, true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* The value at rank ceil(p * total) of histogram @p h. */
static uint64_t dk_lat_percentile(const uint64_t *h, uint64_t total,
				  double p, uint64_t max)
{
	uint64_t rank = (uint64_t)(p * (double)total), seen = 0;

	if (rank * 1.0 < p * (double)total)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned b = 0; b < DK_LAT_BUCKETS; b++) {
		seen += h[b];
		if (seen >= rank) {
			uint64_t top = dk_lat_bucket_top(b);

			return top < max ? top : max;
		}
	}
	return max;
}

void dk_lat_fill(struct daxkv *db, struct daxkv_stat *st)
{
	struct daxkv_latency *out[DK_LAT_NOPS] = {
		&st->put_latency,   &st->get_latency,  &st->delete_latency,
		&st->batch_latency, &st->scan_latency, &st->query_latency,
	};
	uint64_t *h = calloc(DK_LAT_BUCKETS, sizeof(*h));

	if (!h)
		return; /* the fields stay 0 */
	for (unsigned op = 0; op < DK_LAT_NOPS; op++) {
		uint64_t total = 0, max = 0;

		memset(h, 0, DK_LAT_BUCKETS * sizeof(*h));
		for (uint32_t slot = 0; slot < DK_MAX_LANES; slot++) {
			const struct dk_lat_block *b =
				__atomic_load_n(&db->lat[slot], __ATOMIC_ACQUIRE);
			uint64_t m;

			if (!b)
				continue;
			for (unsigned i = 0; i < DK_LAT_BUCKETS; i++) {
				uint64_t c = __atomic_load_n(&b->count[op][i],
							     __ATOMIC_RELAXED);

				h[i] += c;
				total += c;
			}
			m = __atomic_load_n(&b->max[op], __ATOMIC_RELAXED);
			if (m > max)
				max = m;
		}
		memset(out[op], 0, sizeof(*out[op]));
		if (!total)
			continue;
		out[op]->samples = total;
		out[op]->p50_ns = dk_lat_percentile(h, total, 0.50, max);
		out[op]->p90_ns = dk_lat_percentile(h, total, 0.90, max);
		out[op]->p99_ns = dk_lat_percentile(h, total, 0.99, max);
		out[op]->p999_ns = dk_lat_percentile(h, total, 0.999, max);
		out[op]->max_ns = max;
	}
	free(h);
}

void dk_lat_free(struct daxkv *db)
{
	for (uint32_t slot = 0; slot < DK_MAX_LANES; slot++) {
		free(db->lat[slot]);
		db->lat[slot] = NULL;
	}
}
