// SPDX-License-Identifier: MIT
/* cuda.cu -- the CUDA backend: the query filter evaluated on a GPU. */
/*
 * The GPU reads records in one of two ways, chosen once per process:
 *
 * - Direct: when the device reports cudaDevAttrPageableMemoryAccess (the
 *   driver's HMM support), a kernel dereferences the segment mappings
 *   themselves; nothing is copied in, and only results come back.
 * - Staged: otherwise, the host copies the units' bytes (CPU memcpy)
 *   from the mapping into pinned staging buffers, and the buffers go to
 *   the device with cudaMemcpyAsync.  Two slots, each with its own
 *   stream, take batches in turn, so that the CPU fills one buffer while
 *   the other is copied and scanned.
 *
 * We never cudaHostRegister() a segment mapping to skip that copy: on an
 * fsdax file the kernel refuses long-term pins (FOLL_LONGTERM) of DAX
 * pages, because a pinned page could not be truncated or reflinked under
 * the file system; cudaHostRegister would fail there or, on a file system
 * that allowed it, hold pages the file system believes it can free.  The
 * staging copy is the price of having no HMM.
 *
 * Work is cut as query.c cut it: a unit is a run of whole records of one
 * segment, about DK_MARK_STRIDE bytes (one record when a value is large).
 * One GPU thread walks one unit's records in order, with the evaluator of
 * daxkv_device.h (the same code as the CPU backend and the module), so the
 * answers agree by construction.  Each block reduces its threads'
 * aggregates (dkd_acc_merge) to one partial; the host merges the
 * partials.  ROWS: a matching record is copied whole into a device output
 * buffer at an atomically advanced cursor; if the buffer is too small, the
 * cursor still counts the bytes needed, and the batch runs again with a
 * buffer of that size (visibility does not change while a snapshot is
 * held, so the second run matches the same records).
 *
 * State: the device probe is per process (pthread_once); streams and
 * buffers are per handle, created at its first CUDA query and freed at
 * daxkv_close (the state listens to the handle: engine/events.h).  A
 * handle's CUDA queries run one at a time (its lock).
 *
 * DAXKV_CUDA_STAGED=1 in the environment forces the staged path on a GPU
 * that could read directly (so both paths can be tested on one machine).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "daxkv.h"
#include "backend.h"
#include "events.h"

#define DKC_SLOTS 2		    /* batches in flight */
#define DKC_BLOCK 128		    /* threads per block (power of two) */
#define DKC_BATCH_UNITS 65536u	    /* units per batch at most */
#define DKC_STAGE_BYTES (8u << 20)  /* a staging buffer (staged path) */
#define DKC_ROWS_INITIAL (1u << 20) /* first device row buffer */

/* A unit as the kernel sees it: where its records are in the device's
 * address space (the mapping, or a staging buffer), and their bytes. */
struct dkc_unit {
	const __u8 *recs;
	__u64 len;
};

/* The filter and its key bytes, in device memory for a query. */
struct dkc_query {
	struct dkd_filter flt;
	__u8 lo[DKD_MAX_KEY];
	__u8 hi[DKD_MAX_KEY];
	__u8 prefix[DKD_MAX_KEY];
};

/* One block's results. */
struct dkc_part {
	struct dkd_acc acc;
	__u64 records;
	__u64 bytes;
};

/* A batch's shared counters, zeroed before each run. */
struct dkc_ctl {
	unsigned long long rows_used; /* bytes wanted in the row buffer */
	unsigned int bad;	      /* a record overran its unit */
	unsigned int pad;
};

/* One batch in flight: its stream and buffers. */
struct dkc_slot {
	cudaStream_t stream;
	bool busy;		     /* a batch was launched, not finished */
	size_t nunits;		     /* ... its units */
	unsigned blocks;	     /* ... and grid */
	struct dkc_unit *units_host; /* pinned, DKC_BATCH_UNITS */
	struct dkc_unit *units_dev;
	struct dkc_part *parts_host; /* pinned, one per block */
	struct dkc_part *parts_dev;
	struct dkc_ctl *ctl_host; /* pinned */
	struct dkc_ctl *ctl_dev;
	__u8 *stage_host; /* staged path: pinned copy of units */
	__u8 *stage_dev;
	size_t stage_cap;
	__u8 *rows_dev; /* ROWS: matching records */
	size_t rows_cap;
};

/* Per handle, in dk_backend_state(db, DAXKV_BACKEND_CUDA). */
struct dkc_state {
	struct dk_listener listener; /* first: the close callback casts it */
	pthread_mutex_t lock; /* one query at a time; protects the rest */
	bool ready;	      /* slots allocated */
	struct dkc_query *query_host; /* pinned */
	struct dkc_query *query_dev;
	struct dkc_slot slot[DKC_SLOTS];
	__u8 *rows_host; /* rows on their way to the row buffer */
	size_t rows_host_cap;
};

/* What the per-process probe found. */
static struct {
	pthread_once_t once;
	int available;
	int device;
	int direct; /* pageable memory access, and not DAXKV_CUDA_STAGED */
	char why[256];
} dkc_probe = {PTHREAD_ONCE_INIT, 0, 0, 0, ""};

/* Creates the per-handle state words. */
static pthread_mutex_t dkc_state_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- The kernel ---- */

/* Copy one record (8-byte aligned, size a multiple of 8) to the rows. */
__device__ static void dkc_copy_rec(__u8 *dst, const __u8 *src, __u64 size)
{
	__u64 *d = (__u64 *)dst;
	const __u64 *s = (const __u64 *)src;

	for (__u64 i = 0; i < size / 8; i++)
		d[i] = s[i];
}

__global__ static void dkc_scan(const struct dkc_query *q,
				const struct dkc_unit *units, __u64 nunits,
				struct dkc_part *parts, __u8 *rows,
				__u64 rows_cap, struct dkc_ctl *ctl)
{
	__shared__ struct dkc_part shared[DKC_BLOCK];
	struct dkd_keys keys;
	struct dkc_part mine;
	__u64 idx = (__u64)blockIdx.x * blockDim.x + threadIdx.x;

	keys.lo = q->lo;
	keys.hi = q->hi;
	keys.prefix = q->prefix;
	dkd_acc_init(&mine.acc);
	mine.records = 0;
	mine.bytes = 0;
	if (idx < nunits) {
		const __u8 *p = units[idx].recs;
		const __u8 *end = p + units[idx].len;

		while (p < end) {
			const struct dk_rec *rec = (const struct dk_rec *)p;
			__u64 size;

			if ((__u64)(end - p) < DK_REC_HDR_SIZE ||
			    (size = dk_rec_size(rec->klen, rec->vlen)) >
				(__u64)(end - p)) {
				atomicOr(&ctl->bad, 1u);
				break;
			}
			mine.records++;
			mine.bytes += size;
			if (dkd_rec_match(&q->flt, &keys, rec)) {
				dkd_acc_add(&q->flt, &mine.acc,
					    dk_rec_val(rec));
				if (rows) {
					__u64 at =
					    atomicAdd(&ctl->rows_used,
						      (unsigned long long)size);

					if (at + size <= rows_cap)
						dkc_copy_rec(rows + at, p,
							     size);
				}
			}
			p += size;
		}
	}

	/* Tree reduction of the block's partials. */
	shared[threadIdx.x] = mine;
	__syncthreads();
	for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
		if (threadIdx.x < half) {
			struct dkc_part *a = &shared[threadIdx.x];
			const struct dkc_part *b = &shared[threadIdx.x + half];

			dkd_acc_merge(&q->flt, &a->acc, &b->acc);
			a->records += b->records;
			a->bytes += b->bytes;
		}
		__syncthreads();
	}
	if (threadIdx.x == 0)
		parts[blockIdx.x] = shared[0];
}

/* ---- Errors and the probe ---- */

static int dkc_err(cudaError_t err, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "CUDA backend: %s: %s (%s)", what,
		 cudaGetErrorString(err), cudaGetErrorName(err));
	return dk_query_err(DAXKV_EIO, msg);
}

/* Run a CUDA call; on failure return DAXKV_EIO from the caller. */
#define DKC_TRY(call)                                                          \
	do {                                                                   \
		cudaError_t err_ = (call);                                     \
		if (err_ != cudaSuccess)                                       \
			return dkc_err(err_, #call);                           \
	} while (0)

static void dkc_probe_once(void)
{
	cudaError_t err;
	cudaFuncAttributes fattr;
	int count = 0, pageable = 0;
	const char *staged = getenv("DAXKV_CUDA_STAGED");

	/* Without a driver (libcuda.so.1 absent: the static runtime loads it
	 * with dlopen) this fails, and the library still loads and runs. */
	err = cudaGetDeviceCount(&count);
	if (err == cudaErrorInsufficientDriver) {
		snprintf(dkc_probe.why, sizeof(dkc_probe.why),
			 "no CUDA driver, or one older than CUDA %d.%d "
			 "(cudaGetDeviceCount: %s)",
			 CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10,
			 cudaGetErrorString(err));
		return;
	}
	if (err != cudaSuccess) {
		snprintf(dkc_probe.why, sizeof(dkc_probe.why),
			 "no usable CUDA GPU (cudaGetDeviceCount: %s)",
			 cudaGetErrorString(err));
		return;
	}
	if (count == 0) {
		snprintf(dkc_probe.why, sizeof(dkc_probe.why),
			 "no CUDA GPU present");
		return;
	}
	/* The current device: 0 unless CUDA_VISIBLE_DEVICES says otherwise. */
	err = cudaGetDevice(&dkc_probe.device);
	if (err == cudaSuccess)
		err = cudaDeviceGetAttribute(&pageable,
					     cudaDevAttrPageableMemoryAccess,
					     dkc_probe.device);
	/* Fails where the GPU is older than any code in the fat binary. */
	if (err == cudaSuccess)
		err = cudaFuncGetAttributes(&fattr, dkc_scan);
	if (err != cudaSuccess) {
		snprintf(dkc_probe.why, sizeof(dkc_probe.why),
			 "CUDA GPU %d unusable: %s", dkc_probe.device,
			 cudaGetErrorString(err));
		return;
	}
	dkc_probe.direct = pageable && !(staged && strcmp(staged, "0"));
	dkc_probe.available = 1;
}

static int dk_cuda_available(struct daxkv *db, char *why, size_t len)
{
	(void)db;
	pthread_once(&dkc_probe.once, dkc_probe_once);
	if (!dkc_probe.available && why && len)
		snprintf(why, len, "%s", dkc_probe.why);
	return dkc_probe.available;
}

/* ---- Per-handle state ---- */

static void dkc_slot_free(struct dkc_slot *s)
{
	if (s->stream)
		cudaStreamSynchronize(s->stream);
	cudaFreeHost(s->units_host);
	cudaFree(s->units_dev);
	cudaFreeHost(s->parts_host);
	cudaFree(s->parts_dev);
	cudaFreeHost(s->ctl_host);
	cudaFree(s->ctl_dev);
	cudaFreeHost(s->stage_host);
	cudaFree(s->stage_dev);
	cudaFree(s->rows_dev);
	if (s->stream)
		cudaStreamDestroy(s->stream);
	memset(s, 0, sizeof(*s));
}

static int dkc_slot_init(struct dkc_slot *s)
{
	size_t parts = (DKC_BATCH_UNITS + DKC_BLOCK - 1) / DKC_BLOCK;

	DKC_TRY(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
	DKC_TRY(cudaHostAlloc((void **)&s->units_host,
			      DKC_BATCH_UNITS * sizeof(struct dkc_unit),
			      cudaHostAllocDefault));
	DKC_TRY(cudaMalloc((void **)&s->units_dev,
			   DKC_BATCH_UNITS * sizeof(struct dkc_unit)));
	DKC_TRY(cudaHostAlloc((void **)&s->parts_host,
			      parts * sizeof(struct dkc_part),
			      cudaHostAllocDefault));
	DKC_TRY(cudaMalloc((void **)&s->parts_dev,
			   parts * sizeof(struct dkc_part)));
	DKC_TRY(cudaHostAlloc((void **)&s->ctl_host, sizeof(struct dkc_ctl),
			      cudaHostAllocDefault));
	DKC_TRY(cudaMalloc((void **)&s->ctl_dev, sizeof(struct dkc_ctl)));
	return 0;
}

/* Staged path: make the slot's staging buffers hold at least @p bytes. */
static int dkc_stage_reserve(struct dkc_slot *s, size_t bytes)
{
	size_t cap = bytes > DKC_STAGE_BYTES ? bytes : DKC_STAGE_BYTES;

	if (s->stage_cap >= bytes)
		return 0;
	cudaFreeHost(s->stage_host);
	cudaFree(s->stage_dev);
	s->stage_host = NULL;
	s->stage_dev = NULL;
	s->stage_cap = 0;
	DKC_TRY(
	    cudaHostAlloc((void **)&s->stage_host, cap, cudaHostAllocDefault));
	DKC_TRY(cudaMalloc((void **)&s->stage_dev, cap));
	s->stage_cap = cap;
	return 0;
}

/* ROWS: make the slot's device row buffer hold at least @p bytes. */
static int dkc_rows_reserve(struct dkc_slot *s, size_t bytes)
{
	size_t cap = s->rows_cap ? s->rows_cap : DKC_ROWS_INITIAL;

	if (s->rows_cap >= bytes)
		return 0;
	while (cap < bytes)
		cap *= 2;
	cudaFree(s->rows_dev);
	s->rows_dev = NULL;
	s->rows_cap = 0;
	DKC_TRY(cudaMalloc((void **)&s->rows_dev, cap));
	s->rows_cap = cap;
	return 0;
}

/* Free the handle's device buffers and streams (errors ignored: this
 * also runs at exit, when the runtime may already be gone). */
static void dkc_state_release(struct dkc_state *st)
{
	for (int i = 0; i < DKC_SLOTS; i++)
		dkc_slot_free(&st->slot[i]);
	cudaFreeHost(st->query_host);
	st->query_host = NULL;
	cudaFree(st->query_dev);
	st->query_dev = NULL;
	free(st->rows_host);
	st->rows_host = NULL;
	st->rows_host_cap = 0;
	st->ready = false;
}

static int dkc_state_ready(struct dkc_state *st)
{
	cudaError_t err;
	int rc;

	if (st->ready)
		return 0;
	err = cudaHostAlloc((void **)&st->query_host, sizeof(struct dkc_query),
			    cudaHostAllocDefault);
	if (err == cudaSuccess)
		err = cudaMalloc((void **)&st->query_dev,
				 sizeof(struct dkc_query));
	if (err != cudaSuccess) {
		rc = dkc_err(err, "allocating the query buffers");
		goto err_release;
	}
	for (int i = 0; i < DKC_SLOTS; i++) {
		rc = dkc_slot_init(&st->slot[i]);
		if (rc)
			goto err_release;
	}
	st->ready = true;
	return 0;

err_release:
	dkc_state_release(st);
	return rc;
}

/* daxkv_close; without a CUDA query on the handle there is no state,
 * and no CUDA call is made. */
static void dkc_close(struct dk_listener *l, struct daxkv *db)
{
	void **word = dk_backend_state(db, DAXKV_BACKEND_CUDA);
	struct dkc_state *st = (struct dkc_state *)l;

	cudaSetDevice(dkc_probe.device);
	dkc_state_release(st);
	pthread_mutex_destroy(&st->lock);
	free(st);
	*word = NULL;
}

static struct dkc_state *dkc_state_get(struct daxkv *db)
{
	void **word = dk_backend_state(db, DAXKV_BACKEND_CUDA);
	struct dkc_state *st;

	pthread_mutex_lock(&dkc_state_lock);
	st = (struct dkc_state *)*word;
	if (!st) {
		st = (struct dkc_state *)calloc(1, sizeof(*st));
		if (st) {
			pthread_mutex_init(&st->lock, NULL);
			st->listener.close = dkc_close;
			if (dk_listener_add(db, &st->listener) == 0) {
				*word = st;
			} else {
				pthread_mutex_destroy(&st->lock);
				free(st);
				st = NULL;
			}
		}
	}
	pthread_mutex_unlock(&dkc_state_lock);
	return st;
}

/* ---- A query ---- */

/* Launch the kernel on the slot's batch (staged input already copied). */
static int dkc_run(struct dkc_state *st, struct dk_qexec *x, struct dkc_slot *s)
{
	DKC_TRY(
	    cudaMemsetAsync(s->ctl_dev, 0, sizeof(struct dkc_ctl), s->stream));
	dkc_scan<<<s->blocks, DKC_BLOCK, 0, s->stream>>>(
	    st->query_dev, s->units_dev, s->nunits, s->parts_dev,
	    x->rows ? s->rows_dev : NULL, x->rows ? s->rows_cap : 0,
	    s->ctl_dev);
	DKC_TRY(cudaGetLastError());
	DKC_TRY(cudaMemcpyAsync(s->parts_host, s->parts_dev,
				s->blocks * sizeof(struct dkc_part),
				cudaMemcpyDeviceToHost, s->stream));
	DKC_TRY(cudaMemcpyAsync(s->ctl_host, s->ctl_dev, sizeof(struct dkc_ctl),
				cudaMemcpyDeviceToHost, s->stream));
	return 0;
}

/*
 * memcpy may read a record's `superseded` word, which writers store
 * concurrently, in pieces; the version rule holds for any whole value the
 * word had (dk_rec_visible), not for a torn one.  So read each of them
 * again with one 8-byte load into the staged copy.
 */
static void dkc_stage_fixup(__u8 *copy, const __u8 *recs, size_t len)
{
	size_t off = 0;

	while (off + DK_REC_HDR_SIZE <= len) {
		struct dk_rec *to = (struct dk_rec *)(copy + off);
		const struct dk_rec *from = (const struct dk_rec *)(recs + off);

		to->superseded = DKD_LOAD64(&from->superseded);
		off += dk_rec_size(to->klen, to->vlen);
	}
}

/*
 * Take the next batch of units from *next into slot @p s and launch it.
 * The slot is idle, so its pinned buffers are free to refill.
 */
static int dkc_launch(struct dkc_state *st, struct dk_qexec *x,
		      struct dkc_slot *s, size_t *next)
{
	size_t n = 0, bytes = 0;
	int rc;

	while (*next + n < x->nunits && n < DKC_BATCH_UNITS) {
		const struct dk_qunit *u = &x->units[*next + n];
		size_t len = u->end - u->start;

		if (!dkc_probe.direct) {
			if (bytes + len > s->stage_cap) {
				if (n)
					break; /* the next batch takes it */
				rc = dkc_stage_reserve(s, len);
				if (rc)
					return rc;
			}
			/* CPU copy out of the mapping: see the top of file
			 * for why the mapping is not registered instead. */
			memcpy(s->stage_host + bytes, u->base + u->start, len);
			dkc_stage_fixup(s->stage_host + bytes,
					u->base + u->start, len);
			s->units_host[n].recs = s->stage_dev + bytes;
		} else {
			s->units_host[n].recs = u->base + u->start;
		}
		s->units_host[n].len = len;
		bytes += len;
		n++;
	}
	*next += n;
	s->nunits = n;
	s->blocks = (unsigned)((n + DKC_BLOCK - 1) / DKC_BLOCK);
	if (x->rows && !s->rows_cap) {
		rc = dkc_rows_reserve(s, DKC_ROWS_INITIAL);
		if (rc)
			return rc;
	}
	DKC_TRY(cudaMemcpyAsync(s->units_dev, s->units_host,
				n * sizeof(struct dkc_unit),
				cudaMemcpyHostToDevice, s->stream));
	if (!dkc_probe.direct)
		DKC_TRY(cudaMemcpyAsync(s->stage_dev, s->stage_host, bytes,
					cudaMemcpyHostToDevice, s->stream));
	rc = dkc_run(st, x, s);
	if (rc)
		return rc;
	s->busy = true;
	if (s->blocks > x->used_threads)
		x->used_threads = s->blocks;
	return 0;
}

/* Wait for slot @p s's batch and fold its results into @p x. */
static int dkc_finish(struct dkc_state *st, struct dk_qexec *x,
		      struct dkc_slot *s)
{
	struct dkc_part sum;
	size_t used;
	int rc;

	DKC_TRY(cudaStreamSynchronize(s->stream));
	/* ROWS that did not fit: run the batch again with room for all of
	 * them (its input is still in place until the slot is refilled). */
	while (x->rows && s->ctl_host->rows_used > s->rows_cap) {
		rc = dkc_rows_reserve(s, s->ctl_host->rows_used);
		if (rc)
			return rc;
		rc = dkc_run(st, x, s);
		if (rc)
			return rc;
		DKC_TRY(cudaStreamSynchronize(s->stream));
	}
	s->busy = false;
	if (s->ctl_host->bad)
		return dk_query_err(DAXKV_ECORRUPT,
				    "CUDA backend: a record overruns its "
				    "unit");
	dkd_acc_init(&sum.acc);
	sum.records = 0;
	sum.bytes = 0;
	for (unsigned b = 0; b < s->blocks; b++) {
		dkd_acc_merge(&x->flt, &sum.acc, &s->parts_host[b].acc);
		sum.records += s->parts_host[b].records;
		sum.bytes += s->parts_host[b].bytes;
	}
	dkd_acc_merge(&x->flt, &x->acc, &sum.acc);
	x->records += sum.records;
	x->bytes += sum.bytes;

	used = s->ctl_host->rows_used;
	if (!x->rows || used == 0)
		return 0;
	if (used > st->rows_host_cap) {
		__u8 *grown = (__u8 *)realloc(st->rows_host, used);

		if (!grown)
			return dk_query_err(DAXKV_ENOMEM,
					    "CUDA backend: no memory for rows");
		st->rows_host = grown;
		st->rows_host_cap = used;
	}
	DKC_TRY(cudaMemcpyAsync(st->rows_host, s->rows_dev, used,
				cudaMemcpyDeviceToHost, s->stream));
	DKC_TRY(cudaStreamSynchronize(s->stream));
	return dk_rowbuf_append(&x->out, st->rows_host, used, sum.acc.count);
}

/* ROWS with a limit and no order: enough rows delivered to stop. */
static bool dkc_enough(const struct dk_qexec *x)
{
	return x->rows && x->stop_after && x->out.nrows >= x->stop_after;
}

static int dkc_query_locked(struct dkc_state *st, struct dk_qexec *x)
{
	struct dkc_query *q;
	size_t next = 0;
	int rc;

	DKC_TRY(cudaSetDevice(dkc_probe.device));
	rc = dkc_state_ready(st);
	if (rc)
		return rc;
	/* The filter and its key bytes, once per query (all slots are idle,
	 * so no kernel reads query_dev now).  Every copy and kernel goes to
	 * the slots' streams, which do not wait for the legacy default
	 * stream; so this copy too, finished before any kernel starts. */
	q = st->query_host;
	memset(q, 0, sizeof(*q));
	q->flt = x->flt;
	if (x->flt.lo_len)
		memcpy(q->lo, x->keys.lo, x->flt.lo_len);
	if (x->flt.hi_len)
		memcpy(q->hi, x->keys.hi, x->flt.hi_len);
	if (x->flt.prefix_len)
		memcpy(q->prefix, x->keys.prefix, x->flt.prefix_len);
	DKC_TRY(cudaMemcpyAsync(st->query_dev, q, sizeof(*q),
				cudaMemcpyHostToDevice, st->slot[0].stream));
	DKC_TRY(cudaStreamSynchronize(st->slot[0].stream));

	/* Slots in turn: finish the slot's last batch, refill it, go on;
	 * the other slot's copy and kernel run meanwhile. */
	for (int i = 0;; i = (i + 1) % DKC_SLOTS) {
		struct dkc_slot *s = &st->slot[i];
		bool any_busy = false;

		if (s->busy) {
			rc = dkc_finish(st, x, s);
			if (rc)
				return rc;
		}
		if (next < x->nunits && !dkc_enough(x)) {
			rc = dkc_launch(st, x, s, &next);
			if (rc)
				return rc;
			continue;
		}
		for (int j = 0; j < DKC_SLOTS; j++)
			any_busy |= st->slot[j].busy;
		if (!any_busy)
			return 0;
	}
}

static int dk_query_cuda(struct dk_qexec *x)
{
	char why[256];
	struct dkc_state *st;
	int rc;

	if (!dk_cuda_available(x->db, why, sizeof(why)))
		return dk_query_err(DAXKV_ENOTSUP, why);
	st = dkc_state_get(x->db);
	if (!st)
		return dk_query_err(DAXKV_ENOMEM, "CUDA backend: no memory");
	dkd_acc_init(&x->acc);
	x->records = 0;
	x->bytes = 0;
	x->used_threads = 0;
	x->direct = dkc_probe.direct;

	pthread_mutex_lock(&st->lock);
	rc = dkc_query_locked(st, x);
	if (rc) {
		/* Leave every slot idle for the next query; a sticky CUDA
		 * error makes these fail too, and the next query reports it. */
		for (int i = 0; i < DKC_SLOTS; i++) {
			if (st->slot[i].stream)
				cudaStreamSynchronize(st->slot[i].stream);
			st->slot[i].busy = false;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* backend.h declares it extern "C"; fields in their order. */
const struct dk_backend dk_backend_cuda = {
	DAXKV_BACKEND_CUDA,
	DK_MARK_STRIDE,
	dk_cuda_available,
	dk_query_cuda,
};
