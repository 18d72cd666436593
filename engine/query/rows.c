// SPDX-License-Identifier: MIT
/*
 * rows.c -- a ROWS query's rows, from the backend to the callback, in
 * memory that does not grow with the answer.
 *
 * Backends append copies of matching records to row buffers (backend.h);
 * a buffer of a ROWS query has this delivery as its sink, and whenever it
 * holds DK_ROWS_FLUSH bytes its rows leave it (dk_rows_flush):
 *
 * - Unordered: to a queue of at most DK_ROWS_QUEUE full buffers, which
 *   the caller's thread empties into the callback, DK_ROWS_BATCH rows a
 *   call, while the backend runs in a thread of its own (dk_rows_run).
 *   A producer that finds the queue full waits for room, so the rows in
 *   memory are at most the queue, one buffer per producing thread and
 *   the batch being delivered, whatever the answer's size.  The callback
 *   runs only on the caller's thread and never while a backend holds a
 *   lock of its own (a device's state mutex), so it may query again.
 *   With a limit the caller stops after that many rows.  One exception
 *   to the bound: a callback that queries the same handle while the run
 *   still holds its device (the CUDA backend keeps its lock for a whole
 *   run) would wait for that run, which waits for room in the queue; so
 *   a query started inside a callback (dk_rows_nested_query) makes the
 *   outer delivery unbounded: the rest of its rows wait in `all`.
 * - ORDERED with a limit: into a max-heap of the `limit` smallest keys
 *   (a copy of each record in it), under the lock; delivered sorted at
 *   the end.  Memory: the limit's rows.
 * - ORDERED without a limit: all rows are kept and sorted at the end;
 *   this alone still grows with the answer (documented in daxkv.h).
 *
 * Stopping.  When the callback returns non-zero, or the limit is
 * reached, `stopped` is set (and x->stop, which the CPU workers read
 * between units), producers waiting for room are woken, and every later
 * flush answers DK_QUERY_STOPPED, which backends pass up like an error:
 * the run ends early and dk_rows_run returns the callback's value (or 0
 * for a reached limit) instead.  If thread creation fails the rows are
 * gathered (as for ORDERED) and delivered at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "index.h"
#include "rows.h"

#include "daxkv.h"

#define DK_ROWS_BATCH 256u /* rows per callback */

/* The delivery whose callback this thread is running, if any. */
static __thread struct dk_rows *dk_rows_inside;

/* Empty @p rb: its rows have been handed on (or dropped). */
static void dk_rows_clear(struct dk_rowbuf *rb)
{
	rb->used = 0;
	rb->handed = rb->nrows;
}

/* Hand @p n records (pointers) to the callback on this (the caller's)
 * thread, DK_ROWS_BATCH at a time, up to the limit. */
static void dk_rows_hand(struct dk_rows *r, const struct dk_rec *const *recs,
			 uint64_t n)
{
	struct daxkv_row batch[DK_ROWS_BATCH];

	for (uint64_t i = 0; i < n && !r->halt;) {
		size_t k = 0;
		int rc;

		for (; k < DK_ROWS_BATCH && i < n; k++, i++) {
			if (r->limit && r->delivered + k == r->limit)
				break;
			batch[k].key = dk_rec_key(recs[i]);
			batch[k].klen = recs[i]->klen;
			batch[k].val = dk_rec_val(recs[i]);
			batch[k].vlen = recs[i]->vlen;
		}
		if (k) {
			r->inside = dk_rows_inside;
			dk_rows_inside = r;
			rc = r->q->rows(batch, k, r->q->arg);
			dk_rows_inside = r->inside;
			r->inside = NULL;
			r->delivered += k;
			if (rc) {
				r->stop_rc = rc;
				r->halt = true;
			}
		}
		if (r->limit && r->delivered >= r->limit)
			r->halt = true;
	}
}

/* The same for the records of a buffer, in its order. */
static void dk_rows_hand_buf(struct dk_rows *r, const uint8_t *data,
			     uint64_t n)
{
	const struct dk_rec *recs[DK_ROWS_BATCH];
	uint64_t off = 0;

	while (n && !r->halt) {
		uint64_t k = 0;

		for (; k < DK_ROWS_BATCH && k < n; k++) {
			recs[k] = (const struct dk_rec *)(data + off);
			off += dk_rec_size(recs[k]->klen, recs[k]->vlen);
		}
		dk_rows_hand(r, recs, k);
		n -= k;
	}
}

/* Mark the query stopped for the producers (caller holds the lock). */
static void dk_rows_stop_locked(struct dk_rows *r, struct dk_qexec *x)
{
	r->stopped = true;
	__atomic_store_n(&x->stop, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&r->cond);
}

static int dk_rec_keycmp(const struct dk_rec *a, const struct dk_rec *b)
{
	return dk_keycmp(dk_rec_key(a), a->klen, dk_rec_key(b), b->klen);
}

static void dk_heap_down(struct dk_rec **h, uint64_t n, uint64_t i)
{
	for (;;) {
		uint64_t l = 2 * i + 1, big = i;
		struct dk_rec *t;

		if (l < n && dk_rec_keycmp(h[l], h[big]) > 0)
			big = l;
		if (l + 1 < n && dk_rec_keycmp(h[l + 1], h[big]) > 0)
			big = l + 1;
		if (big == i)
			return;
		t = h[i];
		h[i] = h[big];
		h[big] = t;
		i = big;
	}
}

static void dk_heap_up(struct dk_rec **h, uint64_t i)
{
	while (i > 0) {
		uint64_t parent = (i - 1) / 2;
		struct dk_rec *t;

		if (dk_rec_keycmp(h[i], h[parent]) <= 0)
			return;
		t = h[i];
		h[i] = h[parent];
		h[parent] = t;
		i = parent;
	}
}

static struct dk_rec *dk_rec_copy(const struct dk_rec *rec)
{
	size_t size = dk_rec_size(rec->klen, rec->vlen);
	struct dk_rec *copy = malloc(size);

	if (copy)
		memcpy(copy, rec, size);
	return copy;
}

/* ORDERED with a limit: keep the `limit` smallest keys (under the lock). */
static int dk_rows_heap_add(struct dk_rows *r, const struct dk_rec *rec)
{
	struct dk_rec *copy;

	if (r->nheap == r->limit &&
	    dk_rec_keycmp(rec, r->heap[0]) >= 0)
		return 0;
	copy = dk_rec_copy(rec);
	if (!copy)
		return dk_err(DAXKV_ENOMEM, "no memory for a row");
	if (r->nheap < r->limit) {
		if (r->nheap == r->heap_cap) {
			uint64_t cap = r->heap_cap ? 2 * r->heap_cap : 1024;
			struct dk_rec **grown;

			if (cap > r->limit)
				cap = r->limit;
			grown = realloc(r->heap, cap * sizeof(*grown));
			if (!grown) {
				free(copy);
				return dk_err(DAXKV_ENOMEM,
					      "no memory for %llu rows",
					      (unsigned long long)cap);
			}
			r->heap = grown;
			r->heap_cap = cap;
		}
		r->heap[r->nheap] = copy;
		dk_heap_up(r->heap, r->nheap++);
	} else {
		free(r->heap[0]);
		r->heap[0] = copy;
		dk_heap_down(r->heap, r->nheap, 0);
	}
	return 0;
}

/* Rows that wait for the end: into the heap or the gathered buffer. */
static int dk_rows_keep(struct dk_rows *r, struct dk_rowbuf *rb)
{
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if (r->ordered && r->limit) {
		uint64_t off = 0;

		for (uint64_t i = 0; i < dk_rowbuf_held(rb) && !rc; i++) {
			const struct dk_rec *rec =
				(const struct dk_rec *)(rb->data + off);

			rc = dk_rows_heap_add(r, rec);
			off += dk_rec_size(rec->klen, rec->vlen);
		}
	} else {
		rc = dk_rowbuf_reserve(&r->all, rb->used);
		if (!rc) {
			memcpy(r->all.data + r->all.used, rb->data, rb->used);
			r->all.used += rb->used;
			r->all.nrows += dk_rowbuf_held(rb);
		}
	}
	pthread_mutex_unlock(&r->lock);
	dk_rows_clear(rb);
	return rc;
}

/* A full buffer to the caller's queue; wait for room.  The buffer is
 * swapped with an empty one, so nothing is copied. */
static int dk_rows_enqueue(struct dk_rows *r, struct dk_rowbuf *rb)
{
	struct dk_rowbuf *slot;
	uint8_t *data;
	size_t cap;

	pthread_mutex_lock(&r->lock);
	while (r->qlen == DK_ROWS_QUEUE && !r->stopped && !r->unbounded)
		pthread_cond_wait(&r->cond, &r->lock);
	if (r->stopped) {
		pthread_mutex_unlock(&r->lock);
		dk_rows_clear(rb);
		return DK_QUERY_STOPPED;
	}
	if (r->qlen == DK_ROWS_QUEUE) {
		/* unbounded: the caller, in its callback, queries the same
		 * handle; the rows wait in `all` until the run ends */
		int rc = dk_rowbuf_reserve(&r->all, rb->used);

		if (!rc) {
			memcpy(r->all.data + r->all.used, rb->data, rb->used);
			r->all.used += rb->used;
			r->all.nrows += dk_rowbuf_held(rb);
		}
		pthread_mutex_unlock(&r->lock);
		dk_rows_clear(rb);
		return rc;
	}
	slot = &r->queue[(r->qhead + r->qlen) % DK_ROWS_QUEUE];
	/* the slot keeps the buffer the caller emptied last, if any */
	data = slot->data;
	cap = slot->cap;
	slot->data = rb->data;
	slot->cap = rb->cap;
	slot->used = rb->used;
	slot->nrows = slot->handed + dk_rowbuf_held(rb);
	rb->data = data;
	rb->cap = cap;
	dk_rows_clear(rb);
	r->qlen++;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* The sink of every row buffer of a ROWS query (rb->flush). */
static int dk_rows_flush(struct dk_rowbuf *rb)
{
	struct dk_rows *r = rb->sink;
	bool stopped;

	if (!dk_rowbuf_held(rb))
		return 0;
	pthread_mutex_lock(&r->lock);
	stopped = r->stopped;
	pthread_mutex_unlock(&r->lock);
	if (stopped) {
		dk_rows_clear(rb);
		return DK_QUERY_STOPPED;
	}
	if (r->ordered || r->gather)
		return dk_rows_keep(r, rb);
	return dk_rows_enqueue(r, rb);
}

void dk_rows_init(struct dk_rows *r, const struct daxkv_query *q,
		  struct daxkv *db)
{
	memset(r, 0, sizeof(*r));
	r->q = q;
	r->db = db;
	r->caller = pthread_self();
	r->ordered = q->flags & DAXKV_QUERY_ORDERED;
	r->limit = q->limit;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
}

/* Forget every row of an earlier run (a fallback runs again). */
static void dk_rows_reset(struct dk_rows *r)
{
	for (uint64_t i = 0; i < r->nheap; i++)
		free(r->heap[i]);
	r->nheap = 0;
	dk_rows_clear(&r->all);
	for (unsigned i = 0; i < DK_ROWS_QUEUE; i++)
		dk_rows_clear(&r->queue[i]);
	r->qhead = r->qlen = 0;
	r->stopped = false;
	r->unbounded = false;
	r->halt = false;
	r->stop_rc = 0;
	r->done = false;
	r->delivered = 0;
	r->gather = false;
}

void dk_rows_destroy(struct dk_rows *r)
{
	dk_rows_reset(r);
	free(r->heap);
	dk_rowbuf_free(&r->all);
	for (unsigned i = 0; i < DK_ROWS_QUEUE; i++)
		dk_rowbuf_free(&r->queue[i]);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
}

struct dk_rows_runner {
	struct dk_rows *r;
	const struct dk_backend *be;
	struct dk_qexec *x;
	int rc;
	char errmsg[512];
};

/* The backend's run, in a thread of its own; then its last rows. */
static void *dk_rows_runner_main(void *arg)
{
	struct dk_rows_runner *run = arg;
	struct dk_rows *r = run->r;
	int rc = run->be->run(run->x);

	if (!rc)
		rc = dk_rowbuf_flush(&run->x->out);
	if (rc && rc != DK_QUERY_STOPPED)
		snprintf(run->errmsg, sizeof(run->errmsg), "%s",
			 daxkv_errmsg());
	run->rc = rc;
	pthread_mutex_lock(&r->lock);
	r->done = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* The caller's side: hand every queued buffer to the callback until the
 * runner is done and the queue empty. */
static void dk_rows_consume(struct dk_rows *r, struct dk_qexec *x)
{
	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct dk_rowbuf *slot;
		uint8_t *data;
		uint64_t n;

		while (!r->qlen && !r->done)
			pthread_cond_wait(&r->cond, &r->lock);
		if (!r->qlen)
			break;
		slot = &r->queue[r->qhead];
		data = slot->data;
		n = r->halt ? 0 : dk_rowbuf_held(slot);
		pthread_mutex_unlock(&r->lock);
		/* outside the lock: the callback may take its time */
		if (n)
			dk_rows_hand_buf(r, data, n);
		pthread_mutex_lock(&r->lock);
		/* the slot keeps its buffer for a producer to swap in */
		dk_rows_clear(slot);
		r->qhead = (r->qhead + 1) % DK_ROWS_QUEUE;
		r->qlen--;
		if (r->halt && !r->stopped)
			dk_rows_stop_locked(r, x);
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	/* what waited in `all` while the callback queried the handle (the
	 * run has ended: no producer is left) */
	if (!r->halt && dk_rowbuf_held(&r->all))
		dk_rows_hand_buf(r, r->all.data, dk_rowbuf_held(&r->all));
	dk_rows_clear(&r->all);
}

void dk_rows_nested_query(struct daxkv *db)
{
	for (struct dk_rows *r = dk_rows_inside; r; r = r->inside) {
		if (r->db != db || r->be_id == DAXKV_BACKEND_CPU)
			continue;
		pthread_mutex_lock(&r->lock);
		if (!r->unbounded && !r->done) {
			r->unbounded = true;
			pthread_cond_broadcast(&r->cond);
		}
		pthread_mutex_unlock(&r->lock);
	}
}

int dk_rows_run(struct dk_rows *r, const struct dk_backend *be,
		struct dk_qexec *x)
{
	struct dk_rows_runner run = { .r = r, .be = be, .x = x };
	pthread_t tid;
	int rc;

	dk_rows_reset(r);
	r->be_id = be->id;
	__atomic_store_n(&x->stop, 0, __ATOMIC_RELAXED);
	x->out.sink = r;
	x->out.flush = dk_rows_flush;
	if (r->ordered) {
		/* nothing reaches the callback before the end: run here */
		rc = be->run(x);
		if (!rc)
			rc = dk_rowbuf_flush(&x->out);
		return rc;
	}
	if (pthread_create(&tid, NULL, dk_rows_runner_main, &run) != 0) {
		/* no thread to stream with: gather, deliver at the end */
		r->gather = true;
		rc = be->run(x);
		if (!rc)
			rc = dk_rowbuf_flush(&x->out);
		if (!rc)
			rc = dk_rows_finish(r);
		return rc;
	}
	dk_rows_consume(r, x);
	pthread_join(tid, NULL);
	if (r->stop_rc)
		return r->stop_rc; /* the callback's value */
	rc = run.rc;
	if (rc == DK_QUERY_STOPPED)
		return 0; /* the limit was reached */
	if (rc && r->delivered && rc == DAXKV_ENOTSUP)
		return dk_err(DAXKV_EIO,
			      "the device declined after %llu rows were "
			      "delivered (no fallback: they would come twice): "
			      "%s",
			      (unsigned long long)r->delivered, run.errmsg);
	if (rc)
		return dk_err(rc, "%s", run.errmsg);
	return 0;
}

static int dk_rows_ptr_cmp(const void *a, const void *b)
{
	return dk_rec_keycmp(*(const struct dk_rec *const *)a,
			     *(const struct dk_rec *const *)b);
}

int dk_rows_finish(struct dk_rows *r)
{
	const struct dk_rec **recs;
	uint64_t n, off = 0;

	if (r->halt)
		return r->stop_rc;
	if (r->ordered && r->limit) {
		if (r->nheap == 0)
			return 0;
		qsort(r->heap, r->nheap, sizeof(*r->heap), dk_rows_ptr_cmp);
		dk_rows_hand(r, (const struct dk_rec *const *)r->heap,
			     r->nheap);
		return r->stop_rc;
	}
	if (!r->ordered) {
		/* gathered for want of a thread: in the order found (a
		 * streamed run left nothing here) */
		if (r->gather && dk_rowbuf_held(&r->all))
			dk_rows_hand_buf(r, r->all.data,
					 dk_rowbuf_held(&r->all));
		return r->stop_rc;
	}
	n = dk_rowbuf_held(&r->all);
	if (n == 0)
		return 0;
	recs = malloc(n * sizeof(*recs));
	if (!recs)
		return dk_err(DAXKV_ENOMEM, "no memory to sort %llu rows",
			      (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++) {
		recs[i] = (const struct dk_rec *)(r->all.data + off);
		off += dk_rec_size(recs[i]->klen, recs[i]->vlen);
	}
	qsort(recs, n, sizeof(*recs), dk_rows_ptr_cmp);
	dk_rows_hand(r, recs, n);
	free(recs);
	return r->stop_rc;
}
