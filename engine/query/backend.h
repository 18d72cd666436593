/* SPDX-License-Identifier: MIT */
/*
 * backend.h -- the interface between daxkv_query() (query.c) and its
 * backends: struct dk_backend, one per file (cpu.c, kmod.c, cuda.cu or
 * nocuda.c), and what they may call (backend.c).
 *
 * query.c validates the public descriptor, compiles it into a struct
 * dkd_filter (include/daxkv_device.h), takes or uses a snapshot, and cuts
 * the records below each segment's captured tail into units: runs of
 * whole records, found through per-segment boundary marks (units.c).
 * A backend evaluates the filter over the units and fills the execution's
 * aggregates and, for ROWS, its row buffer; query.c then sorts, limits
 * and delivers.  Every backend sees the same units and the same filter,
 * and decides visibility from the records alone (dk_rec_visible), so the
 * answers agree by construction; tests/engine/query_test.c checks it.
 *
 * Plain C with forward declarations, so that cuda.cu can include it.
 */
#ifndef DK_BACKEND_H
#define DK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daxkv_device.h"

#ifdef __cplusplus
extern "C" {
#endif

struct daxkv;

/* Boundary marks: one every DK_MARK_STRIDE bytes of a segment. */
#define DK_MARK_SHIFT 14u
#define DK_MARK_STRIDE (1u << DK_MARK_SHIFT)

/* Records [start, end) of one segment: both on record boundaries. */
struct dk_qunit {
	const uint8_t *base; /* the segment's mapping */
	uint32_t slot;
	uint32_t reserved;
	uint64_t start;
	uint64_t end;
};

/*
 * Rows: copies of matching records, in the record format, back to back
 * (each dk_rec_size() bytes), so that a device's output can be appended
 * as it comes.  A ROWS query's buffers have a sink (query/rows.c): once a
 * buffer holds DK_ROWS_FLUSH bytes, the append hands its rows on, so that
 * memory does not grow with the answer.  An append then returns non-zero
 * when the query is to stop (DK_QUERY_STOPPED: the callback stopped it or
 * its limit was reached; or an error): the backend ends its run and
 * returns that value, as for any error.
 */
#define DK_ROWS_FLUSH (256u << 10)
#define DK_QUERY_STOPPED (-30990) /* no daxkv code: never returned to a user */

struct dk_rowbuf {
	uint8_t *data;
	size_t used, cap;
	uint64_t nrows;       /* rows appended in all (what a backend compares
				 with stop_after) */
	uint64_t handed;      /* of which handed to the sink: the others,
				 dk_rowbuf_held(), are in `data` */
	void *sink;           /* the query's delivery (rows.c), or NULL */
	int (*flush)(struct dk_rowbuf *rb); /* hands the rows held to the
					       sink and empties the buffer */
};

int dk_rowbuf_reserve(struct dk_rowbuf *rb, size_t bytes);
/* Append a copy of one record (header, key, value, padding). */
int dk_rowbuf_add(struct dk_rowbuf *rb, const struct dk_rec *rec);
/* Append @p bytes of records already in the format, holding @p n rows. */
int dk_rowbuf_append(struct dk_rowbuf *rb, const void *recs, size_t bytes,
		     uint64_t n);
/* Account for @p bytes holding @p n rows that a backend wrote into the
 * buffer itself (after dk_rowbuf_reserve), and hand them on if due; as an
 * append. */
int dk_rowbuf_commit(struct dk_rowbuf *rb, size_t bytes, uint64_t n);
/* Hand the rows held to the sink now (a thread's last rows); 0 without a
 * sink or rows, else as an append. */
int dk_rowbuf_flush(struct dk_rowbuf *rb);

/* Rows in the buffer now. */
static inline uint64_t dk_rowbuf_held(const struct dk_rowbuf *rb)
{
	return rb->nrows - rb->handed;
}
void dk_rowbuf_free(struct dk_rowbuf *rb);

/* One query run, as a backend sees it. */
struct dk_qexec {
	struct daxkv *db;
	struct dkd_filter flt;
	struct dkd_keys keys;
	bool rows;            /* copy matching records into `out` */
	uint64_t stop_after;  /* ROWS without ORDERED and with a limit: a
				 backend may stop once this many rows are
				 in `out` (it may also deliver more) */
	const struct dk_qunit *units;
	size_t nunits;
	unsigned threads;     /* CPU threads wanted (0 = one per CPU) */
	bool empty;           /* lo == hi: no backend runs */
	bool fallback;        /* AUTO chose this backend: if it returns
				 DAXKV_ENOTSUP the CPU answers instead */
	bool dax;             /* the segments are DAX mappings (durability
				 map_sync or eadr), not page cache */

	/* Filled by the backend. */
	struct dkd_acc acc;
	struct dk_rowbuf out;
	uint64_t records;     /* records examined */
	uint64_t bytes;       /* bytes of records examined */
	uint32_t used_threads; /* threads, lanes or blocks that ran */
	uint32_t direct;      /* CUDA: read the mapping in place */

	/* ROWS delivery (rows.c). */
	int stop;             /* atomic: set when no more rows are wanted; a
				 backend may end its run early (CPU workers
				 look between units) */
	uint64_t sum_hi;      /* SUM on the CPU: high 64 bits of the exact
				 128-bit sum (two's complement for INT) */
};

/*
 * A backend.  run() returns 0 or a DAXKV_E* code with daxkv_errmsg() set
 * (DAXKV_ENOTSUP: the device declines this query, and under AUTO the CPU
 * answers instead, so a backend may return it for a device failure that
 * leaves the CPU able to answer, when x->fallback says AUTO chose it).
 * available() returns 1; 0 with the reason in @p why when the device is
 * not there; -1 with the reason when it was there but this process
 * stopped using it after a failure (AUTO then tells the caller that it
 * passed it over); it may be called often (it caches).  worth(), if set,
 * says whether AUTO should consider the backend for a query that scans
 * @p bytes, without touching the device (so that small queries never
 * open it).  Per-handle device state hangs off dk_backend_state() and is
 * released at daxkv_close() by the state's listener (engine/events.h).
 * Fields in this order: cuda.cu initialises its backend without
 * designators.
 */
struct dk_backend {
	int id;			/* DAXKV_BACKEND_CPU, _KMOD or _CUDA */
	uint64_t unit_bytes;	/* units cut to about this size: large
				   enough to amortise per-unit work, small
				   enough to spread over threads (a GPU
				   wants many small ones) */
	int (*available)(struct daxkv *db, char *why, size_t len);
	int (*run)(struct dk_qexec *x);
	bool (*worth)(uint64_t bytes);
};

extern const struct dk_backend dk_backend_cpu;	/* cpu.c */
extern const struct dk_backend dk_backend_kmod; /* kmod.c: daxmirror */
extern const struct dk_backend dk_backend_cuda; /* cuda.cu, or nocuda.c */

/* The backend's per-handle state word (NULL until the backend sets it);
 * backends in C++ cannot include internal.h. */
void **dk_backend_state(struct daxkv *db, int backend);
/* Set daxkv_errmsg() to @p msg and return @p code (a DAXKV_E* value). */
int dk_query_err(int code, const char *msg);

#ifdef __cplusplus
}
#endif

#endif /* DK_BACKEND_H */
