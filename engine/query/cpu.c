// SPDX-License-Identifier: MIT
/*
 * cpu.c -- the CPU backend: the reference, and the fallback when a device
 * declines.  Threads of this process take units from a shared counter, a
 * few at a time, and evaluate each record with the functions of
 * daxkv_device.h; each keeps its own aggregates, merged at the end (a SUM
 * with its high word too: the exact sum is known, and query.c reports an
 * overflow), and its own row buffer, which streams to the query's
 * delivery (rows.c) as it fills.  A ROWS query with a limit and no order
 * stops taking units once enough rows are in, and every ROWS query once
 * its delivery wants no more.  Each worker reads the segments under a
 * guard (guard.h): a media error ends its units with DAXKV_EIO, which the
 * query returns naming the file and offset.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend.h"
#include "errors.h"
#include "guard.h"

#define DK_QUERY_MAX_THREADS 64u

/*
 * The high word of a SUM, kept beside dkd_acc's 64-bit sum so that the
 * exact sum is known (query.c reports an overflow): what adding the
 * field's value (the sum's change, @p after - @p before modulo 2^64),
 * sign-extended for an INT field, carries into bits 64..127.
 */
static inline uint64_t dk_cpu_carry(const struct dkd_filter *f,
				    uint64_t before, uint64_t after)
{
	uint64_t carry = after < before; /* modulo 2^64: the value is added */

	if (f->agg_type == DKD_T_INT && (int64_t)(after - before) < 0)
		carry += ~0ull; /* its sign extension */
	return carry;
}

/*
 * Evaluate units [first, last) on the calling thread, into @p acc and (for
 * ROWS) @p out: the reference loop.
 */
static int dk_cpu_units(const struct dk_qexec *x, size_t first, size_t last,
			struct dkd_acc *acc, uint64_t *sum_hi,
			struct dk_rowbuf *out, uint64_t *records,
			uint64_t *bytes)
{
	const struct dkd_filter *f = &x->flt;

	for (size_t u = first; u < last; u++) {
		const struct dk_qunit *unit = &x->units[u];
		uint64_t off = unit->start;

		while (off < unit->end) {
			const struct dk_rec *rec =
				(const struct dk_rec *)(unit->base + off);

			if (dkd_rec_match(f, &x->keys, rec)) {
				uint64_t before = acc->sum;

				dkd_acc_add(f, acc, dk_rec_val(rec));
				if (f->agg_type)
					*sum_hi += dk_cpu_carry(f, before,
								acc->sum);
				if (out) {
					int rc = dk_rowbuf_add(out, rec);

					if (rc)
						return rc;
				}
			}
			off += dk_rec_size(rec->klen, rec->vlen);
			(*records)++;
		}
		*bytes += unit->end - unit->start;
	}
	return 0;
}

struct dk_cpu_worker {
	struct dk_qexec *x;
	size_t *next;          /* shared: next unit to take */
	uint64_t *rows;        /* shared: rows found so far (stop_after) */
	pthread_t tid;
	int rc;
	struct dkd_acc acc;
	uint64_t sum_hi;
	struct dk_rowbuf out;
	uint64_t records, bytes;
	void *fault;           /* where a media error stopped it */
};

/* dk_cpu_units under a guard: a SIGBUS there is DAXKV_EIO (and *faultp
 * where).  Besides loads of the mapping, only the row buffer's
 * allocations and its flushes to the delivery (rows.c: a lock, a wait
 * for room; never the caller's callback, which runs on the caller's
 * thread) run in it, and each is over before the next load: a fault
 * lands where no lock is held. */
static int dk_cpu_units_guarded(struct dk_cpu_worker *w, size_t first,
				size_t last)
{
	struct dk_guard g;
	int rc;

	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		w->fault = g.fault_addr;
		return DAXKV_EIO;
	}
	dk_guard_push(&g);
	rc = dk_cpu_units(w->x, first, last, &w->acc, &w->sum_hi,
			  w->x->rows ? &w->out : NULL, &w->records, &w->bytes);
	dk_guard_pop(&g);
	return rc;
}

#define DK_CPU_GRAB 4u /* units taken at a time */

static void *dk_cpu_worker_run(void *arg)
{
	struct dk_cpu_worker *w = arg;
	struct dk_qexec *x = w->x;

	dkd_acc_init(&w->acc);
	for (;;) {
		size_t first = __atomic_fetch_add(w->next, DK_CPU_GRAB,
						  __ATOMIC_RELAXED);
		size_t last = first + DK_CPU_GRAB;
		uint64_t before = w->out.nrows;

		if (first >= x->nunits)
			break;
		if (x->stop_after &&
		    __atomic_load_n(w->rows, __ATOMIC_RELAXED) >= x->stop_after)
			break;
		if (__atomic_load_n(&x->stop, __ATOMIC_RELAXED))
			break; /* the rows' delivery wants no more */
		if (last > x->nunits)
			last = x->nunits;
		w->rc = dk_cpu_units_guarded(w, first, last);
		if (w->rc)
			break;
		if (w->out.nrows != before)
			__atomic_fetch_add(w->rows, w->out.nrows - before,
					   __ATOMIC_RELAXED);
	}
	/* this thread's last rows go to the delivery from here */
	if (!w->rc)
		w->rc = dk_rowbuf_flush(&w->out);
	return NULL;
}

static int dk_query_cpu(struct dk_qexec *x)
{
	struct dk_cpu_worker *w;
	size_t next = 0;
	uint64_t rows = 0;
	unsigned n = x->threads;
	unsigned started;
	int rc = 0;

	if (n == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n = cpus > 0 ? (unsigned)cpus : 1;
	}
	if (n > DK_QUERY_MAX_THREADS)
		n = DK_QUERY_MAX_THREADS;
	if (n > (x->nunits + DK_CPU_GRAB - 1) / DK_CPU_GRAB)
		n = (unsigned)((x->nunits + DK_CPU_GRAB - 1) / DK_CPU_GRAB);
	if (n == 0)
		n = 1;
	w = calloc(n, sizeof(*w));
	if (!w)
		return dk_err(DAXKV_ENOMEM, "no memory for query threads");
	for (unsigned i = 0; i < n; i++) {
		w[i].x = x;
		w[i].next = &next;
		w[i].rows = &rows;
		w[i].out.sink = x->out.sink;   /* ROWS: streamed (rows.c) */
		w[i].out.flush = x->out.flush;
	}
	/* worker 0 is this thread */
	for (started = 1; started < n; started++)
		if (pthread_create(&w[started].tid, NULL, dk_cpu_worker_run,
				   &w[started]) != 0)
			break;
	dk_cpu_worker_run(&w[0]);
	for (unsigned i = 1; i < started; i++)
		pthread_join(w[i].tid, NULL);
	dkd_acc_init(&x->acc);
	x->sum_hi = 0;
	for (unsigned i = 0; i < started; i++) {
		uint64_t before = x->acc.sum;

		if (w[i].rc && !rc) {
			rc = w[i].rc;
			if (w[i].fault) {
				struct dk_guard g = { .fault_addr = w[i].fault };

				rc = dk_guard_eio(x->db, &g,
						  "a query read a record");
			}
		}
		dkd_acc_merge(&x->flt, &x->acc, &w[i].acc);
		/* 128-bit: the high words, and the low words' carry */
		x->sum_hi += w[i].sum_hi + (x->acc.sum < before);
		x->records += w[i].records;
		x->bytes += w[i].bytes;
		if (!rc && w[i].out.used)
			rc = dk_rowbuf_append(&x->out, w[i].out.data,
					      w[i].out.used, w[i].out.nrows);
		dk_rowbuf_free(&w[i].out);
	}
	x->used_threads = started;
	free(w);
	return rc;
}

static int dk_cpu_available(struct daxkv *db, char *why, size_t len)
{
	(void)db;
	(void)why;
	(void)len;
	return 1;
}

const struct dk_backend dk_backend_cpu = {
	.id = DAXKV_BACKEND_CPU,
	.unit_bytes = 256u << 10,
	.available = dk_cpu_available,
	.run = dk_query_cpu,
};
