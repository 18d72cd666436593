/* SPDX-License-Identifier: MIT */
/*
 * report.h -- the matrix of results and what is printed from it.
 *
 * A matrix is workloads x thread counts x stores x repeats; each cell
 * holds a load phase and a run phase measured on a fresh database.  The
 * reports use the median over repeats of each (workload, threads, store)
 * and, for latencies, the repeat whose throughput is that median, so
 * the percentiles shown belong to a run that happened.
 */
#ifndef YCSB_REPORT_H
#define YCSB_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "backend.h"
#include "runner.h"
#include "space.h"

struct ycsb_cell {
	bool ran;
	bool refused; /* the store cannot run this workload (a scan on a
			 store without key order): "n/a" in the tables */
	struct ycsb_phase_result load, run;
	struct ycsb_space_result space;
};

struct ycsb_matrix {
	const char **workloads; /* labels: "A".."F" for the stock files */
	unsigned nworkloads;
	const struct ycsb_backend **stores;
	unsigned nstores;
	const unsigned *threads;
	unsigned nthreads;
	unsigned repeats;
	struct ycsb_cell *cells;
	char size_note[256];	/* records, operations, value size */
	char machine_note[256]; /* CPUs and load: how noisy the run was */
};

struct ycsb_cell *ycsb_matrix_cell(const struct ycsb_matrix *m, unsigned wl,
				   unsigned ti, unsigned store, unsigned rep);
/* Median run (or load) throughput of a cell over its repeats; 0 if
 * nothing ran. */
double ycsb_matrix_median(const struct ycsb_matrix *m, unsigned wl, unsigned ti,
			  unsigned store, bool load, unsigned *median_rep);

void ycsb_report_markdown(const struct ycsb_matrix *m, FILE *out);
/* Target lines (met / missed); only those the matrix can answer. */
void ycsb_report_targets(const struct ycsb_matrix *m, FILE *out);
int ycsb_report_csv(const struct ycsb_matrix *m, const char *path);
/* PNG bar chart via gnuplot; 0, or -1 with a reason in @p err. */
int ycsb_report_png(const struct ycsb_matrix *m, const char *path, char *err,
		    size_t errlen);

#endif
