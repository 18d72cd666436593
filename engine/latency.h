/* SPDX-License-Identifier: MIT */
/* latency.h -- per-call latency histograms (latency.c) behind daxkv_stat. */
#ifndef DK_LATENCY_H
#define DK_LATENCY_H

#include <stdint.h>

struct daxkv;
struct daxkv_stat;

/* The calls timed; daxkv_stat reports them in this order. */
enum dk_lat_op {
	DK_LAT_PUT,
	DK_LAT_GET,
	DK_LAT_DELETE,
	DK_LAT_BATCH,
	DK_LAT_SCAN,
	DK_LAT_QUERY,
	DK_LAT_NOPS,
};

/* One call being timed (t0 == 0: this call is not sampled). */
struct dk_lat_timer {
	struct daxkv *db;
	uint64_t t0;
	enum dk_lat_op op;
};

struct dk_lat_timer dk_lat_start(struct daxkv *db, enum dk_lat_op op);
/* Add a sampled call's time to its histogram. */
void dk_lat_record(const struct dk_lat_timer *t);

/* The end of a timed call: nothing but a test unless it was sampled. */
static inline void dk_lat_stop(struct dk_lat_timer *t)
{
	if (__builtin_expect(t->t0 != 0, 0))
		dk_lat_record(t);
}

/*
 * Time the rest of the enclosing block as one call of @p op: the timer
 * stops when the block is left, by any return (a cleanup attribute), so
 * a public call needs this one line at its top.
 */
#define DK_LAT_TIME(db, op)                                                    \
	struct dk_lat_timer dk_lat_timer_ __attribute__((                      \
		cleanup(dk_lat_stop), unused)) = dk_lat_start((db), (op))

/* The histogram bucket of @p ns, and the largest value bucket @p b holds
 * (declared here for tests/engine/latency_test.c). */
unsigned dk_lat_bucket(uint64_t ns);
uint64_t dk_lat_bucket_top(unsigned b);

/* Fill the latency fields of a version 3 daxkv_stat. */
void dk_lat_fill(struct daxkv *db, struct daxkv_stat *st);
/* Free the handle's histograms (close). */
void dk_lat_free(struct daxkv *db);

#endif
