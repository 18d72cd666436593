/* SPDX-License-Identifier: MIT */
/*
 * space.h -- space and write amplification of a run phase, for stores
 * that reclaim space (a backend with space(): daxkv).
 *
 * Space amplification is bytes on media over what a full compaction
 * would keep.  It moves in a saw tooth while a compactor runs, so one
 * reading at the end says little: a sampler thread reads it every period
 * (100 ms in the driver) while the run phase goes on, and the
 * steady-state figure is the highest reading of the phase's second half
 * (the first half includes the climb from the freshly loaded database).
 * Write amplification is (user bytes + bytes compacted) / user bytes over
 * the run phase: the readings at its start and end.
 */
#ifndef YCSB_SPACE_H
#define YCSB_SPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

struct ycsb_space_result {
	bool valid;
	bool compaction;
	double amp_end;	  /* right after the run phase */
	double amp_peak;  /* highest reading of the second half */
	double amp_mean;  /* mean reading of the second half */
	unsigned samples; /* readings in the second half */
	double write_amp;
	uint64_t user_bytes, bytes_compacted;	/* during the run phase */
	uint64_t compactions, segments_retired; /* during the run phase */
	uint64_t bytes_on_media, live_bytes;	/* at the end */
};

/* bytes_on_media / live_bytes; 0 when nothing is live. */
double ycsb_space_amp(const struct ycsb_space *s);

/*
 * The figures of a phase from its first and last readings and the
 * amplification readings taken between (@p t_ns[i], @p amps[i]), the
 * phase lasting from @p t0 to @p t1 (ns).
 */
void ycsb_space_summarize(const struct ycsb_space *first,
			  const struct ycsb_space *last, const uint64_t *t_ns,
			  const double *amps, size_t n, uint64_t t0,
			  uint64_t t1, struct ycsb_space_result *out);

struct ycsb_sampler;

/* Take the first reading and start a thread that reads every @p
 * period_ms.  NULL when the backend has no space() or it fails. */
struct ycsb_sampler *ycsb_sampler_start(const struct ycsb_backend *be,
					void *store, unsigned period_ms);
/* Stop the thread, take the last reading, fill @p out, free. */
void ycsb_sampler_stop(struct ycsb_sampler *s, struct ycsb_space_result *out);

#endif
