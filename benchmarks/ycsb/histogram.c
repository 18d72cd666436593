/* SPDX-License-Identifier: MIT */
/* histogram.c -- log-linear latency histogram (see histogram.h). */
#include "histogram.h"

#include <string.h>

void ycsb_hist_reset(struct ycsb_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned ycsb_hist_index(uint64_t value)
{
	unsigned msb, shift;

	if (value < 2 * YCSB_HIST_SUB)
		return (unsigned)value;
	msb = 63u - (unsigned)__builtin_clzll(value);
	shift = msb - YCSB_HIST_SUB_BITS;
	return (shift + 1) * YCSB_HIST_SUB +
	       (unsigned)((value >> shift) - YCSB_HIST_SUB);
}

uint64_t ycsb_hist_lowest(unsigned index)
{
	unsigned shift;

	if (index < 2 * YCSB_HIST_SUB)
		return index;
	shift = index / YCSB_HIST_SUB - 1;
	return (uint64_t)(index % YCSB_HIST_SUB + YCSB_HIST_SUB) << shift;
}

uint64_t ycsb_hist_highest(unsigned index)
{
	unsigned shift;

	if (index < 2 * YCSB_HIST_SUB)
		return index;
	shift = index / YCSB_HIST_SUB - 1;
	return ycsb_hist_lowest(index) + ((1ull << shift) - 1);
}

void ycsb_hist_record(struct ycsb_hist *h, uint64_t value)
{
	h->buckets[ycsb_hist_index(value)]++;
	h->count++;
	h->sum += value;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
}

void ycsb_hist_merge(struct ycsb_hist *dst, const struct ycsb_hist *src)
{
	if (!src->count)
		return;
	for (unsigned i = 0; i < YCSB_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t ycsb_hist_percentile(const struct ycsb_hist *h, double pct)
{
	uint64_t want, seen = 0, v;

	if (!h->count)
		return 0;
	if (pct >= 100.0)
		return h->max;
	want = (uint64_t)(pct / 100.0 * (double)h->count + 0.5);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < YCSB_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= want) {
			v = ycsb_hist_highest(i);
			/* never report beyond what was recorded */
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

double ycsb_hist_mean(const struct ycsb_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
