/* SPDX-License-Identifier: MIT */
/*
 * runner.h -- one phase (load or run) of one store with N threads.
 *
 * The threads start together at a barrier; the phase's time is from the
 * barrier to the last thread's end, so throughput is operations over
 * wall time as YCSB reports it.  Each thread records into its own
 * histograms (no sharing on the operation path); they are merged when
 * the phase ends.  On a terminal, a progress line is redrawn once a
 * second.
 */
#ifndef YCSB_RUNNER_H
#define YCSB_RUNNER_H

#include <stdbool.h>

#include "backend.h"
#include "workload.h"

struct ycsb_op_summary {
	uint64_t count, notfound, errors;
	double ops_per_s;
	double mean_us, p50_us, p95_us, p99_us, p999_us, max_us;
};

struct ycsb_phase_result {
	double seconds;
	uint64_t ops; /* every operation, whatever its status */
	double ops_per_s;
	struct ycsb_op_summary op[YCSB_OP_COUNT];
	uint64_t verified, verify_failures, errors;
	char first_problem[320];
	uint64_t t0_ns; /* the phase's start, CLOCK_MONOTONIC */
	struct ycsb_slow_op slow[YCSB_SLOWEST]; /* slowest first */
	unsigned nslow;
};

/* Run the load (@p load) or run phase.  0, or -1 when the phase could
 * not run at all (message in res->first_problem); operation errors are
 * counted in @p res, not returned. */
int ycsb_run_phase(struct ycsb_workload *w, const struct ycsb_backend *be,
		   void *store, bool load, unsigned threads, uint64_t seed,
		   const char *label, struct ycsb_phase_result *res);

/* Print a phase the way YCSB does ([OVERALL], [READ], ...), then its
 * slowest operations ([SLOWEST]). */
void ycsb_print_phase(FILE *out, const char *label,
		      const struct ycsb_phase_result *res);

#endif
