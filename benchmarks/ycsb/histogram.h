/* SPDX-License-Identifier: MIT */
/*
 * histogram.h -- log-linear latency histogram, HdrHistogram-style.
 *
 * Why our own: Debian 12 ships no HdrHistogram C library (only the Java,
 * .NET, JS and Python ports exist as packages elsewhere), and the driver
 * must build from Debian packages alone.  What the benchmark needs is
 * small: record a nanosecond value in O(1) without allocation, merge the
 * per-thread histograms at the end of a phase, and read percentiles with
 * about two significant digits.
 *
 * Layout: values below 2*SUB (256) get one bucket each (exact).  Above,
 * each power-of-two range [2^k, 2^(k+1)) is cut into SUB = 128 equal
 * buckets, so a bucket is at most 1/128 (< 0.8 %) of its value wide:
 * two significant digits everywhere, from 1 ns to 2^64 ns, in 7424
 * counters.  Like HdrHistogram, a percentile is reported as the highest
 * value equivalent to its bucket; max, min and the mean are exact.
 */
#ifndef YCSB_HISTOGRAM_H
#define YCSB_HISTOGRAM_H

#include <stdint.h>

#define YCSB_HIST_SUB_BITS 7
#define YCSB_HIST_SUB (1u << YCSB_HIST_SUB_BITS)
#define YCSB_HIST_BUCKETS ((64 - YCSB_HIST_SUB_BITS + 1) * YCSB_HIST_SUB)

struct ycsb_hist {
	uint64_t count;
	uint64_t sum; /* for the mean; wraps only after ~584 years of ns */
	uint64_t min;
	uint64_t max;
	uint64_t buckets[YCSB_HIST_BUCKETS];
};

void ycsb_hist_reset(struct ycsb_hist *h);
void ycsb_hist_record(struct ycsb_hist *h, uint64_t value);
/* Add every sample of @p src to @p dst (per-thread -> phase total). */
void ycsb_hist_merge(struct ycsb_hist *dst, const struct ycsb_hist *src);
/* Smallest recorded value v such that at least @p pct percent of the
 * samples are <= v's bucket; the bucket's highest value.  100 -> max. */
uint64_t ycsb_hist_percentile(const struct ycsb_hist *h, double pct);
double ycsb_hist_mean(const struct ycsb_hist *h);

/* Bucket arithmetic, exposed for the tests. */
unsigned ycsb_hist_index(uint64_t value);
uint64_t ycsb_hist_lowest(unsigned index);
uint64_t ycsb_hist_highest(unsigned index);

#endif
