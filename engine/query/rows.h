/* SPDX-License-Identifier: MIT */
/* rows.h -- delivery of a ROWS query's rows to its callback (rows.c). */
#ifndef DK_ROWS_H
#define DK_ROWS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

struct daxkv;
struct daxkv_query;

/* Batches waiting for the caller's thread, at most. */
#define DK_ROWS_QUEUE 4u

/* One ROWS query's delivery: what dk_rowbuf_flush() hands rows to. */
struct dk_rows {
	const struct daxkv_query *q;
	struct daxkv *db;
	int be_id;               /* the backend running (DAXKV_BACKEND_*) */
	struct dk_rows *inside;  /* while the callback runs: the delivery
				    whose callback this thread was in before
				    (nested queries), else NULL */
	pthread_t caller;        /* the thread that runs the callback */
	bool ordered;
	uint64_t limit;          /* 0: all */
	pthread_mutex_t lock;    /* protects everything below */
	pthread_cond_t cond;     /* the queue or `done` changed */
	bool gather;             /* no thread to stream with: keep all rows
				    and deliver them at the end */
	bool halt;               /* the caller's thread only: no more rows
				    for the callback (it stopped, or the
				    limit was reached) */
	bool stopped;            /* `halt`, as the producers see it: every
				    later flush answers DK_QUERY_STOPPED */
	bool unbounded;          /* the callback queries the same handle:
				    producers no longer wait for room (the
				    overflow is gathered in `all`), so that a
				    device run holding its lock can end */
	int stop_rc;             /* the callback's non-zero value, or an error */
	uint64_t delivered;      /* rows handed to the callback */
	bool done;               /* the backend's run has ended */
	/* unordered: full buffers waiting for the caller, a ring */
	struct dk_rowbuf queue[DK_ROWS_QUEUE];
	unsigned qhead, qlen;
	/* ordered with a limit: a max-heap of the `limit` smallest keys,
	 * each a copy of its record */
	struct dk_rec **heap;
	uint64_t nheap, heap_cap;
	/* ordered without a limit: every row (sorted at the end) */
	struct dk_rowbuf all;
};

void dk_rows_init(struct dk_rows *r, const struct daxkv_query *q,
		  struct daxkv *db);
/*
 * A query of @p db is starting in this thread.  If the thread is inside
 * a rows callback of a query of the same handle still running on a
 * device, that run may hold the device (the CUDA backend keeps its lock
 * for a whole run) and wait for room in the queue, which only the
 * callback's return would make: the outer delivery stops waiting
 * (unbounded) so that its run can end and the new query get the device.
 */
void dk_rows_nested_query(struct daxkv *db);
void dk_rows_destroy(struct dk_rows *r);

/*
 * Run backend @p be on @p x and deliver its rows as they come.  Without
 * ORDERED the backend runs in a thread of its own and this (the caller's)
 * thread hands each batch to the callback as it arrives, so the callback
 * always runs on the caller's thread, never under a backend's lock, and
 * memory stays bounded (full buffers wait in a queue of DK_ROWS_QUEUE;
 * a producer waits for room).  With ORDERED the rows are kept (the
 * `limit` smallest in a heap, or all) and delivered, sorted, by
 * dk_rows_finish().  Returns 0, the callback's stopping value, or an
 * error (DAXKV_EIO instead of ENOTSUP when a device declines after rows
 * were delivered, so that no fallback delivers them twice).
 */
int dk_rows_run(struct dk_rows *r, const struct dk_backend *be,
		struct dk_qexec *x);
/* ORDERED: sort and deliver what was kept.  0 or the callback's value. */
int dk_rows_finish(struct dk_rows *r);

#endif
