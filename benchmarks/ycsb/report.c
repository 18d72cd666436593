/* SPDX-License-Identifier: MIT */
/* report.c -- markdown, CSV, PNG and target lines from a matrix. */
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ycsb_cell *ycsb_matrix_cell(const struct ycsb_matrix *m, unsigned wl,
				   unsigned ti, unsigned store, unsigned rep)
{
	size_t i = (((size_t)wl * m->nthreads + ti) * m->nstores + store) *
		       m->repeats +
		   rep;

	return &m->cells[i];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double ycsb_matrix_median(const struct ycsb_matrix *m, unsigned wl, unsigned ti,
			  unsigned store, bool load, unsigned *median_rep)
{
	double v[m->repeats], sorted[m->repeats], med;
	unsigned n = 0;

	for (unsigned r = 0; r < m->repeats; r++) {
		struct ycsb_cell *c = ycsb_matrix_cell(m, wl, ti, store, r);

		if (!c->ran)
			continue;
		v[r] = load ? c->load.ops_per_s : c->run.ops_per_s;
		sorted[n++] = v[r];
	}
	if (!n)
		return 0;
	qsort(sorted, n, sizeof(double), cmp_double);
	/* odd: the middle; even: the lower middle, a value that was run */
	med = sorted[(n - 1) / 2];
	if (median_rep)
		for (unsigned r = 0; r < m->repeats; r++)
			if (ycsb_matrix_cell(m, wl, ti, store, r)->ran &&
			    v[r] == med) {
				*median_rep = r;
				break;
			}
	return med;
}

static int store_index(const struct ycsb_matrix *m, const char *name)
{
	for (unsigned s = 0; s < m->nstores; s++)
		if (!strcmp(m->stores[s]->name, name))
			return (int)s;
	return -1;
}

/* Load throughput: the median over every load of every workload. */
static double load_median(const struct ycsb_matrix *m, unsigned ti,
			  unsigned store)
{
	size_t cap = (size_t)m->nworkloads * m->repeats, n = 0;
	double *v = malloc(cap * sizeof(double)), med;

	if (!v)
		return 0;
	for (unsigned wl = 0; wl < m->nworkloads; wl++)
		for (unsigned r = 0; r < m->repeats; r++) {
			struct ycsb_cell *c =
			    ycsb_matrix_cell(m, wl, ti, store, r);

			if (c->ran)
				v[n++] = c->load.ops_per_s;
		}
	if (!n) {
		free(v);
		return 0;
	}
	qsort(v, n, sizeof(double), cmp_double);
	med = v[(n - 1) / 2];
	free(v);
	return med;
}

static void fmt_ops(char *buf, size_t len, double ops)
{
	if (ops >= 1e6)
		snprintf(buf, len, "%.2f M", ops / 1e6);
	else if (ops > 0)
		snprintf(buf, len, "%.0f k", ops / 1e3);
	else
		snprintf(buf, len, "-");
}

/* True if the store refused workload @p wl (every cell is alike). */
static bool cell_refused(const struct ycsb_matrix *m, unsigned wl, unsigned ti,
			 unsigned s)
{
	return ycsb_matrix_cell(m, wl, ti, s, 0)->refused;
}

/* @p refused: NULL, or per store whether it refused this workload. */
static void table_row(const struct ycsb_matrix *m, FILE *out, const char *label,
		      unsigned ti, const double *ops, const bool *refused)
{
	int dx = store_index(m, "daxkv");
	char buf[32];

	fprintf(out, "| %s | %u |", label, m->threads[ti]);
	for (unsigned s = 0; s < m->nstores; s++) {
		bool na = refused && (refused[s] || (dx >= 0 && refused[dx]));

		if (refused && refused[s])
			snprintf(buf, sizeof(buf), "n/a");
		else
			fmt_ops(buf, sizeof(buf), ops[s]);
		fprintf(out, " %s |", buf);
		if (dx >= 0 && (int)s != dx) {
			if (na)
				fprintf(out, " n/a |");
			else if (ops[s] > 0 && ops[dx] > 0)
				fprintf(out, " %.2fx |", ops[dx] / ops[s]);
			else
				fprintf(out, " - |");
		}
	}
	fputc('\n', out);
}

/* The latency rows of one cell, from its median repeat. */
static void latency_rows(const struct ycsb_matrix *m, FILE *out, unsigned wl,
			 unsigned ti, unsigned s)
{
	unsigned rep = 0;
	struct ycsb_cell *c;

	if (ycsb_matrix_median(m, wl, ti, s, false, &rep) <= 0)
		return;
	c = ycsb_matrix_cell(m, wl, ti, s, rep);
	for (int o = 0; o < YCSB_OP_COUNT; o++) {
		const struct ycsb_op_summary *x = &c->run.op[o];

		if (!x->count)
			continue;
		fprintf(out,
			"| %s | %u | %s | %s | %llu | %.2f | %.2f | %.2f "
			"| %.2f | %.1f |\n",
			m->workloads[wl], m->threads[ti], m->stores[s]->name,
			ycsb_op_names[o], (unsigned long long)x->count,
			x->p50_us, x->p95_us, x->p99_us, x->p999_us, x->max_us);
	}
}

enum space_field {
	SP_AMP_END,
	SP_AMP_PEAK,
	SP_AMP_MEAN,
	SP_WRITE_AMP,
	SP_COMPACTIONS,
	SP_RETIRED,
	SP_COMPACTED,
	SP_USER,
};

static double space_value(const struct ycsb_space_result *r, enum space_field f)
{
	switch (f) {
	case SP_AMP_END:
		return r->amp_end;
	case SP_AMP_PEAK:
		return r->amp_peak;
	case SP_AMP_MEAN:
		return r->amp_mean;
	case SP_WRITE_AMP:
		return r->write_amp;
	case SP_COMPACTIONS:
		return (double)r->compactions;
	case SP_RETIRED:
		return (double)r->segments_retired;
	case SP_COMPACTED:
		return (double)r->bytes_compacted;
	case SP_USER:
		return (double)r->user_bytes;
	}
	return 0;
}

/* Median of one space figure over the repeats of a cell (each figure on
 * its own); the first valid repeat in @p first.  False if none has any. */
static bool space_median(const struct ycsb_matrix *m, unsigned wl, unsigned ti,
			 unsigned s, enum space_field f, double *med,
			 const struct ycsb_space_result **first)
{
	double v[m->repeats];
	unsigned n = 0;

	for (unsigned r = 0; r < m->repeats; r++) {
		const struct ycsb_cell *c = ycsb_matrix_cell(m, wl, ti, s, r);

		if (!c->ran || !c->space.valid)
			continue;
		if (!n && first)
			*first = &c->space;
		v[n++] = space_value(&c->space, f);
	}
	if (!n)
		return false;
	qsort(v, n, sizeof(double), cmp_double);
	*med = v[(n - 1) / 2];
	return true;
}

static bool matrix_has_space(const struct ycsb_matrix *m)
{
	size_t n =
	    (size_t)m->nworkloads * m->nthreads * m->nstores * m->repeats;

	for (size_t i = 0; i < n; i++)
		if (m->cells[i].space.valid)
			return true;
	return false;
}

static void space_table(const struct ycsb_matrix *m, FILE *out)
{
	fprintf(out,
		"\nSpace, run phase, stores that reclaim space (median of "
		"each figure over the repeats).\n"
		"Space amplification: bytes on media / bytes a full "
		"compaction keeps, read every 100 ms; peak and mean: the "
		"readings of the run's second half (steady state).\n"
		"Write amplification: (record bytes the driver wrote + bytes "
		"the store copied) / record bytes the driver wrote, in the "
		"run phase.\n\n");
	fprintf(out, "| workload | threads | store | compaction | space amp. "
		     "end | space amp. peak | space amp. mean | write amp. "
		     "| compactions | segments retired | MiB compacted |\n");
	fprintf(out, "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned wl = 0; wl < m->nworkloads; wl++)
		for (unsigned ti = 0; ti < m->nthreads; ti++)
			for (unsigned s = 0; s < m->nstores; s++) {
				const struct ycsb_space_result *first = NULL;
				double end, peak, mean, wa, nc, ret, cb;

				if (!space_median(m, wl, ti, s, SP_AMP_END,
						  &end, &first))
					continue;
				space_median(m, wl, ti, s, SP_AMP_PEAK, &peak,
					     NULL);
				space_median(m, wl, ti, s, SP_AMP_MEAN, &mean,
					     NULL);
				space_median(m, wl, ti, s, SP_WRITE_AMP, &wa,
					     NULL);
				space_median(m, wl, ti, s, SP_COMPACTIONS, &nc,
					     NULL);
				space_median(m, wl, ti, s, SP_RETIRED, &ret,
					     NULL);
				space_median(m, wl, ti, s, SP_COMPACTED, &cb,
					     NULL);
				fprintf(out,
					"| %s | %u | %s | %s | %.2f | %.2f | "
					"%.2f | %.2f | %.0f | %.0f | %.0f |\n",
					m->workloads[wl], m->threads[ti],
					m->stores[s]->name,
					first->compaction ? "on" : "off", end,
					peak, mean, wa, nc, ret,
					cb / (1024.0 * 1024.0));
			}
}

void ycsb_report_markdown(const struct ycsb_matrix *m, FILE *out)
{
	int dx = store_index(m, "daxkv");
	double ops[m->nstores];
	bool refused[m->nstores];

	fprintf(out, "Throughput, ops/s, median of %u run%s; size: %s.\n",
		m->repeats, m->repeats == 1 ? "" : "s", m->size_note);
	if (m->machine_note[0])
		fprintf(out, "Machine: %s.\n", m->machine_note);
	if (dx >= 0)
		fprintf(out, "Ratio columns: daxkv ops/s divided by the "
			     "store's (above 1: daxkv is faster).\n");
	fprintf(out, "\n| workload | threads |");
	for (unsigned s = 0; s < m->nstores; s++) {
		fprintf(out, " %s |", m->stores[s]->name);
		if (dx >= 0 && (int)s != dx)
			fprintf(out, " daxkv / %s |", m->stores[s]->name);
	}
	fprintf(out, "\n|---|---|");
	for (unsigned s = 0; s < m->nstores; s++)
		fprintf(out,
			(dx >= 0 && (int)s != dx) ? "---:|---:|" : "---:|");
	fputc('\n', out);
	for (unsigned ti = 0; ti < m->nthreads; ti++) {
		for (unsigned s = 0; s < m->nstores; s++)
			ops[s] = load_median(m, ti, s);
		table_row(m, out, "load", ti, ops, NULL);
	}
	for (unsigned wl = 0; wl < m->nworkloads; wl++)
		for (unsigned ti = 0; ti < m->nthreads; ti++) {
			for (unsigned s = 0; s < m->nstores; s++) {
				ops[s] = ycsb_matrix_median(m, wl, ti, s, false,
							    NULL);
				refused[s] = cell_refused(m, wl, ti, s);
			}
			table_row(m, out, m->workloads[wl], ti, ops, refused);
		}

	fprintf(out, "\nLatency in microseconds, from the median run of "
		     "each cell (run phase):\n\n");
	fprintf(out, "| workload | threads | store | operation | ops | p50 | "
		     "p95 | p99 | p99.9 | max |\n");
	fprintf(out, "|---|---|---|---|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned wl = 0; wl < m->nworkloads; wl++)
		for (unsigned ti = 0; ti < m->nthreads; ti++)
			for (unsigned s = 0; s < m->nstores; s++)
				latency_rows(m, out, wl, ti, s);
	if (matrix_has_space(m))
		space_table(m, out);
	fputc('\n', out);
	for (unsigned s = 0; s < m->nstores; s++)
		fprintf(out, "- %s\n", m->stores[s]->describe);
}

static int workload_index(const struct ycsb_matrix *m, const char *label)
{
	for (unsigned wl = 0; wl < m->nworkloads; wl++)
		if (!strcmp(m->workloads[wl], label))
			return (int)wl;
	return -1;
}

static int threads_index(const struct ycsb_matrix *m, unsigned t)
{
	for (unsigned ti = 0; ti < m->nthreads; ti++)
		if (m->threads[ti] == t)
			return (int)ti;
	return -1;
}

/* "Far ahead of RocksDB" made checkable: at least this many times. */
#define FAR_AHEAD 3.0
/* Issue 24: daxkv at least this many times the PMDK peer on A-D and F. */
#define PMEMOBJ_AHEAD 1.3

/*
 * Steady state (issues 8 and 20), on workloads A and F with daxkv and
 * daxkv-nocompact in the matrix: space amplification at most
 * SPACE_AMP_MAX at steady state (the mean and the peak of the run's
 * second half), write amplification at most WRITE_AMP_MAX, throughput at
 * least COMPACT_SPEED_MIN of compaction off's, p99 at most
 * COMPACT_P99_MAX times its; at 1 thread, every operation's p99.9 at most
 * P999_US_MAX and its maximum at most MAX_US_MAX.
 */
#define SPACE_AMP_MAX 1.3
#define WRITE_AMP_MAX 2.5
#define COMPACT_SPEED_MIN 0.9
#define COMPACT_P99_MAX 2.0
#define P999_US_MAX 50.0
#define MAX_US_MAX 5000.0

static void target_line(FILE *out, bool ok, unsigned *met, unsigned *missed,
			const char *fmt, double value)
{
	fprintf(out, fmt, value);
	fprintf(out, " %s\n", ok ? "met" : "MISSED");
	ok ? (*met)++ : (*missed)++;
}

/* The ordered index (issue 17): daxkv's load at least LOAD_AHEAD times
 * LMDB's (the table's load row), and in workload A's median run, an insert's p50 (its load) at
 * most INSERT_P50_MAX times an update's (its run). */
#define LOAD_AHEAD 1.5
#define INSERT_P50_MAX 1.5

static void index_targets(const struct ycsb_matrix *m, int dx, int lm,
			  FILE *out, unsigned *met, unsigned *missed)
{
	int wa = workload_index(m, "A");

	for (unsigned t = 1; t <= 2; t++) {
		int ti = threads_index(m, t);
		char fmt[160];
		unsigned rep;

		if (ti < 0)
			continue;
		/* the table's load row: every load of every workload */
		if (lm >= 0) {
			double d = load_median(m, (unsigned)ti, (unsigned)dx);
			double o = load_median(m, (unsigned)ti, (unsigned)lm);

			if (d > 0 && o > 0) {
				snprintf(fmt, sizeof(fmt),
					 "target load, %u thread%s: daxkv "
					 ">= %.1fx lmdb: %%.2fx",
					 t, t > 1 ? "s" : "", LOAD_AHEAD);
				target_line(out, d / o >= LOAD_AHEAD, met,
					    missed, fmt, d / o);
			}
		}
		if (wa >= 0 && ycsb_matrix_median(m, (unsigned)wa, (unsigned)ti,
						  (unsigned)dx, false,
						  &rep) > 0) {
			const struct ycsb_cell *c = ycsb_matrix_cell(
			    m, (unsigned)wa, (unsigned)ti, (unsigned)dx, rep);
			double ins = c->load.op[YCSB_OP_INSERT].p50_us;
			double upd = c->run.op[YCSB_OP_UPDATE].p50_us;

			if (ins > 0 && upd > 0) {
				snprintf(fmt, sizeof(fmt),
					 "target A, %u thread%s: daxkv insert "
					 "p50 (load) <= %.1fx update p50: "
					 "%%.2fx",
					 t, t > 1 ? "s" : "", INSERT_P50_MAX);
				target_line(out, ins <= INSERT_P50_MAX * upd,
					    met, missed, fmt, ins / upd);
			}
		}
	}
}

/* The latency lines of one cell of daxkv (@p a) against compaction
 * off's (@p b): p99 ratio; at 1 thread p99.9 and max. */
static void latency_targets(FILE *out, const char *wname, unsigned t,
			    const struct ycsb_phase_result *a,
			    const struct ycsb_phase_result *b, unsigned *met,
			    unsigned *missed)
{
	char fmt[256];

	for (int o = 0; o < YCSB_OP_COUNT; o++) {
		const struct ycsb_op_summary *x = &a->op[o], *y = &b->op[o];

		if (!x->count)
			continue;
		if (y->count && y->p99_us > 0) {
			snprintf(fmt, sizeof(fmt),
				 "target %s, %u thread%s: %s p99 with "
				 "compaction <= %.0fx daxkv-nocompact's "
				 "(%.2f vs %.2f us): %%.2fx",
				 wname, t, t > 1 ? "s" : "", ycsb_op_names[o],
				 COMPACT_P99_MAX, x->p99_us, y->p99_us);
			target_line(out, x->p99_us <= COMPACT_P99_MAX * y->p99_us,
				    met, missed, fmt, x->p99_us / y->p99_us);
		}
		if (t != 1)
			continue;
		snprintf(fmt, sizeof(fmt),
			 "target %s, 1 thread: daxkv %s p99.9 <= %.0f us: "
			 "%%.2f us",
			 wname, ycsb_op_names[o], P999_US_MAX);
		target_line(out, x->p999_us <= P999_US_MAX, met, missed, fmt,
			    x->p999_us);
		snprintf(fmt, sizeof(fmt),
			 "target %s, 1 thread: daxkv %s max <= %.0f ms: "
			 "%%.2f ms",
			 wname, ycsb_op_names[o], MAX_US_MAX / 1000);
		target_line(out, x->max_us <= MAX_US_MAX, met, missed, fmt,
			    x->max_us / 1000);
	}
}

static void compaction_targets(const struct ycsb_matrix *m, FILE *out,
			       unsigned *met, unsigned *missed)
{
	static const char *const wnames[] = { "A", "F" };
	int dx = store_index(m, "daxkv"), nc = store_index(m, "daxkv-nocompact");
	char fmt[256];

	/* only in a compaction benchmark: elsewhere (scripts/bench.sh) the
	 * updates are too few for a steady state */
	if (dx < 0 || nc < 0)
		return;
	for (unsigned w = 0; w < 2; w++) {
		int wl = workload_index(m, wnames[w]);

		if (wl < 0)
			continue;
		for (unsigned ti = 0; ti < m->nthreads; ti++) {
			const struct ycsb_space_result *first = NULL;
			unsigned t = m->threads[ti], rd = 0, rn = 0;
			double peak, mean, wa, d, n;

			/*
			 * Steady state is the second half's readings: their
			 * mean, and their peak, which catches a round
			 * between its copies and the removal of its victims.
			 */
			if (!space_median(m, (unsigned)wl, ti, (unsigned)dx,
					  SP_AMP_MEAN, &mean, &first) ||
			    !first->compaction ||
			    !space_median(m, (unsigned)wl, ti, (unsigned)dx,
					  SP_AMP_PEAK, &peak, NULL) ||
			    !space_median(m, (unsigned)wl, ti, (unsigned)dx,
					  SP_WRITE_AMP, &wa, NULL))
				continue;
			snprintf(fmt, sizeof(fmt),
				 "target %s, %u thread%s: daxkv space "
				 "amplification <= %.1f at steady state (mean "
				 "of the second half): %%.2f",
				 wnames[w], t, t > 1 ? "s" : "", SPACE_AMP_MAX);
			target_line(out, mean <= SPACE_AMP_MAX, met, missed, fmt,
				    mean);
			snprintf(fmt, sizeof(fmt),
				 "target %s, %u thread%s: daxkv space "
				 "amplification <= %.1f at steady state (peak "
				 "of the second half): %%.2f",
				 wnames[w], t, t > 1 ? "s" : "", SPACE_AMP_MAX);
			target_line(out, peak <= SPACE_AMP_MAX, met, missed, fmt,
				    peak);
			snprintf(fmt, sizeof(fmt),
				 "target %s, %u thread%s: daxkv write "
				 "amplification <= %.1f: %%.2f",
				 wnames[w], t, t > 1 ? "s" : "", WRITE_AMP_MAX);
			target_line(out, wa <= WRITE_AMP_MAX, met, missed, fmt,
				    wa);
			d = ycsb_matrix_median(m, (unsigned)wl, ti, (unsigned)dx,
					       false, &rd);
			n = ycsb_matrix_median(m, (unsigned)wl, ti, (unsigned)nc,
					       false, &rn);
			if (d <= 0 || n <= 0)
				continue;
			snprintf(fmt, sizeof(fmt),
				 "target %s, %u thread%s: daxkv throughput "
				 "with compaction >= %.0f%%%% of "
				 "daxkv-nocompact: %%.0f%%%%",
				 wnames[w], t, t > 1 ? "s" : "",
				 COMPACT_SPEED_MIN * 100);
			target_line(out, d >= COMPACT_SPEED_MIN * n, met, missed,
				    fmt, 100 * d / n);
			latency_targets(
			    out, wnames[w], t,
			    &ycsb_matrix_cell(m, (unsigned)wl, ti, (unsigned)dx,
					      rd)->run,
			    &ycsb_matrix_cell(m, (unsigned)wl, ti, (unsigned)nc,
					      rn)->run,
			    met, missed);
		}
	}
}

void ycsb_report_targets(const struct ycsb_matrix *m, FILE *out)
{
	static const char *const stock[] = {"A", "B", "C", "D", "E", "F"};
	int dx = store_index(m, "daxkv"), lm = store_index(m, "lmdb"),
	    rx = store_index(m, "rocksdb"), pm = store_index(m, "pmemobj");
	unsigned met = 0, missed = 0;

	if (dx < 0)
		return;
	fprintf(out, "Targets (medians of %u run%s):\n", m->repeats,
		m->repeats == 1 ? "" : "s");
	for (unsigned t = 1; t <= 2; t++) {
		int ti = threads_index(m, t);

		if (ti < 0)
			continue;
		for (unsigned i = 0; i < 6; i++) {
			int wl = workload_index(m, stock[i]);
			double d, o, want;

			if (wl < 0)
				continue;
			d = ycsb_matrix_median(m, (unsigned)wl, (unsigned)ti,
					       (unsigned)dx, false, NULL);
			if (lm >= 0) {
				want = i == 4 ? 1.5 : 2.0;
				o = ycsb_matrix_median(
				    m, (unsigned)wl, (unsigned)ti, (unsigned)lm,
				    false, NULL);
				if (d > 0 && o > 0) {
					bool ok = d / o >= want;

					fprintf(out,
						"target %s, %u thread%s: daxkv "
						">= %.1fx lmdb: %.2fx %s\n",
						stock[i], t, t > 1 ? "s" : "",
						want, d / o,
						ok ? "met" : "MISSED");
					ok ? met++ : missed++;
				}
			}
			if (rx >= 0) {
				o = ycsb_matrix_median(
				    m, (unsigned)wl, (unsigned)ti, (unsigned)rx,
				    false, NULL);
				if (d > 0 && o > 0) {
					bool ok = d / o >= FAR_AHEAD;

					fprintf(
					    out,
					    "target %s, %u thread%s: daxkv "
					    "far ahead of rocksdb (>= %.0fx): "
					    "%.2fx %s\n",
					    stock[i], t, t > 1 ? "s" : "",
					    FAR_AHEAD, d / o,
					    ok ? "met" : "MISSED");
					ok ? met++ : missed++;
				}
			}
			/* E scans: the hash table does not run it */
			if (pm >= 0 && i != 4) {
				o = ycsb_matrix_median(
				    m, (unsigned)wl, (unsigned)ti, (unsigned)pm,
				    false, NULL);
				if (d > 0 && o > 0) {
					bool ok = d / o >= PMEMOBJ_AHEAD;

					fprintf(out,
						"target %s, %u thread%s: daxkv "
						">= %.1fx pmemobj: %.2fx %s\n",
						stock[i], t, t > 1 ? "s" : "",
						PMEMOBJ_AHEAD, d / o,
						ok ? "met" : "MISSED");
					ok ? met++ : missed++;
				}
			}
		}
	}
	{
		int wl = workload_index(m, "C"), t1 = threads_index(m, 1),
		    t2 = threads_index(m, 2);

		if (wl >= 0 && t1 >= 0 && t2 >= 0) {
			double a =
			    ycsb_matrix_median(m, (unsigned)wl, (unsigned)t1,
					       (unsigned)dx, false, NULL);
			double b =
			    ycsb_matrix_median(m, (unsigned)wl, (unsigned)t2,
					       (unsigned)dx, false, NULL);

			if (a > 0 && b > 0) {
				bool ok = b / a >= 1.8;

				fprintf(out,
					"target C: daxkv 2 threads >= 1.8x "
					"1 thread: %.2fx %s\n",
					b / a, ok ? "met" : "MISSED");
				ok ? met++ : missed++;
			}
		}
	}
	index_targets(m, dx, lm, out, &met, &missed);
	compaction_targets(m, out, &met, &missed);
	fprintf(out, "targets: %u met, %u missed\n", met, missed);
}

/* The space columns that end every row: empty, or a run's figures. */
static void csv_space(FILE *f, const struct ycsb_space_result *sp)
{
	if (!sp || !sp->valid) {
		fprintf(f, ",,,,,,,,,\n");
		return;
	}
	fprintf(f, ",%s,%.4f,%.4f,%.4f,%.4f,%llu,%llu,%llu,%llu\n",
		sp->compaction ? "on" : "off", sp->amp_end, sp->amp_peak,
		sp->amp_mean, sp->write_amp,
		(unsigned long long)sp->compactions,
		(unsigned long long)sp->segments_retired,
		(unsigned long long)sp->bytes_compacted,
		(unsigned long long)sp->user_bytes);
}

/* The CSV rows of one phase of one repeat: OVERALL (with the space
 * figures, if any), then each type. */
static void csv_phase(FILE *f, const char *store, const char *wl,
		      unsigned threads, unsigned rep, const char *phase,
		      const struct ycsb_phase_result *p,
		      const struct ycsb_space_result *sp)
{
	fprintf(f, "%s,%s,%u,%u,%s,OVERALL,%llu,%.4f,%.1f,,,,,,,,", store, wl,
		threads, rep, phase, (unsigned long long)p->ops, p->seconds,
		p->ops_per_s);
	csv_space(f, sp);
	for (int o = 0; o < YCSB_OP_COUNT; o++) {
		const struct ycsb_op_summary *x = &p->op[o];

		if (!x->count && !x->errors && !x->notfound)
			continue;
		fprintf(f,
			"%s,%s,%u,%u,%s,%s,%llu,%.4f,%.1f,%.3f,%.3f,%.3f,"
			"%.3f,%.3f,%.3f,%llu,%llu",
			store, wl, threads, rep, phase, ycsb_op_names[o],
			(unsigned long long)x->count, p->seconds, x->ops_per_s,
			x->mean_us, x->p50_us, x->p95_us, x->p99_us, x->p999_us,
			x->max_us, (unsigned long long)x->notfound,
			(unsigned long long)x->errors);
		csv_space(f, NULL);
	}
}

/* The median row's space columns: the median of each figure. */
static void csv_median_space(FILE *f, const struct ycsb_matrix *m, unsigned wl,
			     unsigned ti, unsigned s)
{
	const struct ycsb_space_result *first = NULL;
	struct ycsb_space_result med = {.valid = true};
	double v;

	if (!space_median(m, wl, ti, s, SP_AMP_END, &med.amp_end, &first)) {
		csv_space(f, NULL);
		return;
	}
	med.compaction = first->compaction;
	space_median(m, wl, ti, s, SP_AMP_PEAK, &med.amp_peak, NULL);
	space_median(m, wl, ti, s, SP_AMP_MEAN, &med.amp_mean, NULL);
	space_median(m, wl, ti, s, SP_WRITE_AMP, &med.write_amp, NULL);
	space_median(m, wl, ti, s, SP_COMPACTIONS, &v, NULL);
	med.compactions = (uint64_t)v;
	space_median(m, wl, ti, s, SP_RETIRED, &v, NULL);
	med.segments_retired = (uint64_t)v;
	space_median(m, wl, ti, s, SP_COMPACTED, &v, NULL);
	med.bytes_compacted = (uint64_t)v;
	space_median(m, wl, ti, s, SP_USER, &v, NULL);
	med.user_bytes = (uint64_t)v;
	csv_space(f, &med);
}

int ycsb_report_csv(const struct ycsb_matrix *m, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "store,workload,threads,repeat,phase,operation,operations,"
		   "seconds,ops_per_s,mean_us,p50_us,p95_us,p99_us,p999_us,"
		   "max_us,notfound,errors,compaction,space_amp_end,"
		   "space_amp_peak,space_amp_mean,write_amp,compactions,"
		   "segments_retired,bytes_compacted,user_bytes\n");
	for (unsigned wl = 0; wl < m->nworkloads; wl++)
		for (unsigned ti = 0; ti < m->nthreads; ti++)
			for (unsigned s = 0; s < m->nstores; s++) {
				const char *name = m->stores[s]->name;

				if (cell_refused(m, wl, ti, s))
					continue; /* no rows: n/a */
				for (unsigned r = 0; r < m->repeats; r++) {
					struct ycsb_cell *c;

					c = ycsb_matrix_cell(m, wl, ti, s, r);
					if (!c->ran)
						continue;
					csv_phase(f, name, m->workloads[wl],
						  m->threads[ti], r + 1, "load",
						  &c->load, NULL);
					csv_phase(f, name, m->workloads[wl],
						  m->threads[ti], r + 1, "run",
						  &c->run, &c->space);
				}
				fprintf(f,
					"%s,%s,%u,median,run,OVERALL,,,%.1f,"
					",,,,,,,",
					name, m->workloads[wl], m->threads[ti],
					ycsb_matrix_median(m, wl, ti, s, false,
							   NULL));
				csv_median_space(f, m, wl, ti, s);
			}
	return fclose(f) ? -1 : 0;
}

int ycsb_report_png(const struct ycsb_matrix *m, const char *path, char *err,
		    size_t errlen)
{
	char dat[] = "/tmp/ycsb-plot-XXXXXX";
	int fd = mkstemp(dat);
	FILE *f, *gp;
	int rc;

	if (fd < 0) {
		snprintf(err, errlen, "cannot create a temporary file");
		return -1;
	}
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(dat);
		snprintf(err, errlen, "fdopen failed");
		return -1;
	}
	for (unsigned wl = 0; wl < m->nworkloads; wl++)
		for (unsigned ti = 0; ti < m->nthreads; ti++) {
			fprintf(f, "\"%s/%ut\"", m->workloads[wl],
				m->threads[ti]);
			for (unsigned s = 0; s < m->nstores; s++)
				if (cell_refused(m, wl, ti, s))
					fprintf(f, " ?"); /* n/a: no bar */
				else
					fprintf(f, " %.4f",
						ycsb_matrix_median(
						    m, wl, ti, s, false, NULL) /
						    1e6);
			fputc('\n', f);
		}
	fclose(f);
	gp = popen("gnuplot 2>&1", "w");
	if (!gp) {
		unlink(dat);
		snprintf(err, errlen, "cannot run gnuplot");
		return -1;
	}
	fprintf(gp,
		"set terminal pngcairo size 1200,600 noenhanced\n"
		"set output '%s'\n"
		"set title 'YCSB throughput, median of %u runs (%s)'\n"
		"set ylabel 'M ops/s'\n"
		"set style data histograms\n"
		"set style histogram clustered gap 1\n"
		"set style fill solid 0.8 border -1\n"
		"set key top left\n"
		"set grid ytics\n"
		"set yrange [0:*]\n"
		"set xtics rotate by -45\n"
		"set datafile missing '?'\n"
		"plot ",
		path, m->repeats, m->size_note);
	for (unsigned s = 0; s < m->nstores; s++)
		fprintf(gp, "%s'%s' using %u%s title '%s'", s ? ", " : "", dat,
			s + 2, s ? "" : ":xtic(1)", m->stores[s]->name);
	fputc('\n', gp);
	rc = pclose(gp);
	unlink(dat);
	if (rc != 0) {
		snprintf(err, errlen,
			 "gnuplot failed (exit %d); is gnuplot "
			 "installed (gnuplot-nox)?",
			 rc);
		return -1;
	}
	return 0;
}
