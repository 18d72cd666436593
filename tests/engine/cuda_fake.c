// SPDX-License-Identifier: MIT
/* cuda_fake.c -- a GPU played on the host (cuda_fake.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_fake.h"

#define FK_MAX_ALLOCS 1024
#define FK_MAX_STREAMS 16
#define FK_CTX_BASE 0x5000u

enum fk_kind { FK_HOST = 1, FK_DEV = 2 };
enum fk_opkind { FK_OP_COPY = 1, FK_OP_ZERO, FK_OP_LAUNCH };

struct fk_op {
	int kind;
	void *dst;
	const void *src;
	size_t bytes;
	struct dkc_scan_args args;
	unsigned blocks;
	bool fault;
};

struct fk_stream {
	bool used;
	struct fk_op *ops;
	unsigned nops, cap;
	unsigned copies_since_launch; /* H2D copies queued since a launch */
};

static struct {
	pthread_mutex_t lock; /* the fake is one device: one call at a time */
	struct cuda_fake_config cfg;
	struct cuda_fake_stats st;
	struct {
		void *ptr;
		size_t bytes;
		int kind;
	} allocs[FK_MAX_ALLOCS];
	struct fk_stream streams[FK_MAX_STREAMS];
	CUcontext ctx;	    /* the live context (ours), NULL if none */
	cudaError_t sticky; /* the context is broken with this */
	const char *fail_call;
	unsigned fail_nth;
	cudaError_t fail_err;
	bool fail_breaks;
	unsigned fault_nth;
} fk = {PTHREAD_MUTEX_INITIALIZER};

static __thread CUcontext fk_stack[16];
static __thread int fk_depth;

bool cuda_fake_is_sticky(cudaError_t err)
{
	switch (err) {
	case cudaErrorIllegalAddress:
	case cudaErrorLaunchFailure:
	case cudaErrorLaunchTimeout:
	case cudaErrorHardwareStackError:
	case cudaErrorIllegalInstruction:
	case cudaErrorMisalignedAddress:
	case cudaErrorInvalidAddressSpace:
	case cudaErrorInvalidPc:
	case cudaErrorAssert:
	case cudaErrorECCUncorrectable:
		return true;
	default:
		return false;
	}
}

/* ---- Memory ---- */

static bool fk_in(const void *ptr, size_t bytes, int kind)
{
	const char *p = ptr;

	for (unsigned i = 0; i < FK_MAX_ALLOCS; i++) {
		const char *a = fk.allocs[i].ptr;

		if (a && fk.allocs[i].kind == kind && p >= a &&
		    p + bytes <= a + fk.allocs[i].bytes)
			return true;
	}
	return false;
}

static bool fk_check(const void *ptr, size_t bytes, int kind)
{
	if (fk_in(ptr, bytes, kind))
		return true;
	fk.st.bad_ptrs++;
	fprintf(stderr, "cuda_fake: %p + %zu is not in %s memory\n", ptr, bytes,
		kind == FK_DEV ? "device" : "pinned host");
	return false;
}

static cudaError_t fk_alloc(void **ptr, size_t bytes, int kind)
{
	for (unsigned i = 0; i < FK_MAX_ALLOCS; i++) {
		if (fk.allocs[i].ptr)
			continue;
		fk.allocs[i].ptr = malloc(bytes ? bytes : 1);
		if (!fk.allocs[i].ptr)
			return cudaErrorMemoryAllocation;
		/* what a GPU's fresh memory holds is not zero */
		memset(fk.allocs[i].ptr, 0xa5, bytes);
		fk.allocs[i].bytes = bytes;
		fk.allocs[i].kind = kind;
		if (kind == FK_DEV)
			fk.st.dev_bytes += bytes;
		else
			fk.st.host_bytes += bytes;
		*ptr = fk.allocs[i].ptr;
		return cudaSuccess;
	}
	return cudaErrorMemoryAllocation;
}

static cudaError_t fk_free(void *ptr, int kind)
{
	if (!ptr)
		return cudaSuccess;
	for (unsigned i = 0; i < FK_MAX_ALLOCS; i++) {
		if (fk.allocs[i].ptr != ptr)
			continue;
		if (fk.allocs[i].kind != kind)
			break;
		if (kind == FK_DEV)
			fk.st.dev_bytes -= fk.allocs[i].bytes;
		else
			fk.st.host_bytes -= fk.allocs[i].bytes;
		free(ptr);
		fk.allocs[i].ptr = NULL;
		return cudaSuccess;
	}
	fk.st.bad_ptrs++;
	fprintf(stderr, "cuda_fake: free of %p, not %s memory\n", ptr,
		kind == FK_DEV ? "device" : "pinned host");
	return cudaErrorInvalidValue;
}

/* The context is gone: its memory and streams with it. */
static void fk_drop_context(void)
{
	for (unsigned i = 0; i < FK_MAX_ALLOCS; i++) {
		free(fk.allocs[i].ptr);
		fk.allocs[i].ptr = NULL;
	}
	for (unsigned i = 0; i < FK_MAX_STREAMS; i++) {
		free(fk.streams[i].ops);
		memset(&fk.streams[i], 0, sizeof(fk.streams[i]));
	}
	fk.st.dev_bytes = 0;
	fk.st.host_bytes = 0;
	fk.st.pending_ops = 0;
	fk.ctx = NULL;
	fk.sticky = cudaSuccess;
}

/* ---- Calls ---- */

/* Every runtime call: in our context?  Broken?  Told to fail? */
static cudaError_t fk_enter(const char *call)
{
	fk.st.calls++;
	if (!fk.ctx || fk_depth == 0 || fk_stack[fk_depth - 1] != fk.ctx) {
		fk.st.wrong_ctx++;
		fprintf(stderr, "cuda_fake: %s outside the backend's context\n",
			call);
	}
	if (fk.sticky)
		return fk.st.last = fk.sticky;
	if (fk.fail_call && strcmp(fk.fail_call, call) == 0 &&
	    --fk.fail_nth == 0) {
		cudaError_t err = fk.fail_err;

		fk.fail_call = NULL;
		if (fk.fail_breaks || cuda_fake_is_sticky(err))
			fk.sticky = err;
		return fk.st.last = err;
	}
	return cudaSuccess;
}

#define FK_ENTER(call)                                                         \
	cudaError_t err_;                                                      \
	pthread_mutex_lock(&fk.lock);                                          \
	err_ = fk_enter(call);                                                 \
	if (err_ != cudaSuccess) {                                             \
		pthread_mutex_unlock(&fk.lock);                                \
		return err_;                                                   \
	}

#define FK_RETURN(value)                                                       \
	do {                                                                   \
		cudaError_t v_ = (value);                                      \
		if (v_ != cudaSuccess)                                         \
			fk.st.last = v_;                                       \
		pthread_mutex_unlock(&fk.lock);                                \
		return v_;                                                     \
	} while (0)

static struct fk_stream *fk_stream_of(cudaStream_t s)
{
	uintptr_t i = (uintptr_t)s;

	if (i == 0 || i > FK_MAX_STREAMS || !fk.streams[i - 1].used)
		return NULL;
	return &fk.streams[i - 1];
}

static cudaError_t fk_queue(cudaStream_t s, const struct fk_op *op)
{
	struct fk_stream *q = fk_stream_of(s);

	if (!q) {
		fk.st.bad_ptrs++;
		return cudaErrorInvalidResourceHandle;
	}
	if (q->nops == q->cap) {
		unsigned cap = q->cap ? 2 * q->cap : 16;
		struct fk_op *grown = realloc(q->ops, cap * sizeof(*grown));

		if (!grown)
			return cudaErrorMemoryAllocation;
		q->ops = grown;
		q->cap = cap;
	}
	q->ops[q->nops++] = *op;
	fk.st.pending_ops++;
	return cudaSuccess;
}

/* Run a launch now: check what it was given, then the kernel's code. */
static void fk_run_launch(const struct fk_op *op)
{
	const struct dkc_scan_args *a = &op->args;
	size_t bytes = 0;

	if (!fk_check(a->q, sizeof(*a->q), FK_DEV) ||
	    !fk_check(a->units, a->nunits * sizeof(*a->units), FK_DEV) ||
	    !fk_check(a->parts, op->blocks * sizeof(*a->parts), FK_DEV) ||
	    !fk_check(a->ctl, sizeof(*a->ctl), FK_DEV) ||
	    (a->rows && !fk_check(a->rows, a->rows_cap, FK_DEV)) ||
	    op->blocks * (__u64)DKC_BLOCK < a->nunits)
		return;
	for (__u64 i = 0; i < a->nunits; i++) {
		bytes += a->units[i].len;
		if (fk_in(a->units[i].recs, a->units[i].len, FK_DEV))
			fk.st.staged_units++;
		else if (fk_in(a->units[i].recs, 1, FK_HOST) ||
			 fk_in(a->units[i].recs, 1, FK_DEV))
			fk.st.bad_ptrs++; /* half in a buffer: a bug */
		else
			fk.st.direct_units++;
	}
	if (bytes > fk.st.max_batch_bytes)
		fk.st.max_batch_bytes = bytes;
	if (a->nunits > fk.st.max_batch_units)
		fk.st.max_batch_units = (unsigned)a->nunits;
	if (a->rows && a->rows_cap > fk.st.max_rows_alloc)
		fk.st.max_rows_alloc = a->rows_cap;
	dkc_scan_emulate(a, op->blocks);
}

/* Run stream @p q's queue (or, for a broken context, drop it). */
static cudaError_t fk_drain(struct fk_stream *q)
{
	unsigned i;

	for (i = 0; i < q->nops && !fk.sticky; i++) {
		const struct fk_op *op = &q->ops[i];

		fk.st.pending_ops--;
		switch (op->kind) {
		case FK_OP_COPY:
			memcpy(op->dst, op->src, op->bytes);
			break;
		case FK_OP_ZERO:
			memset(op->dst, 0, op->bytes);
			break;
		default:
			if (op->fault)
				fk.sticky = cudaErrorIllegalAddress;
			else
				fk_run_launch(op);
			break;
		}
	}
	fk.st.pending_ops -= q->nops - i;
	q->nops = 0;
	if (fk.sticky) {
		/* a broken context runs nothing more, on any stream */
		for (unsigned s = 0; s < FK_MAX_STREAMS; s++) {
			fk.st.pending_ops -= fk.streams[s].nops;
			fk.streams[s].nops = 0;
		}
		return fk.st.last = fk.sticky;
	}
	return cudaSuccess;
}

/* ---- The driver ---- */

static CUresult fk_init(unsigned flags)
{
	(void)flags;
	pthread_mutex_lock(&fk.lock);
	fk.st.calls++;
	fk.st.inits++;
	pthread_mutex_unlock(&fk.lock);
	return fk.cfg.init_err;
}

static CUresult fk_driver_version(int *v)
{
	fk.st.calls++;
	*v = fk.cfg.version;
	return CUDA_SUCCESS;
}

static CUresult fk_device_count(int *n)
{
	fk.st.calls++;
	*n = fk.cfg.count;
	return CUDA_SUCCESS;
}

static CUresult fk_device_get(CUdevice *dev, int ordinal)
{
	fk.st.calls++;
	if (ordinal >= fk.cfg.count)
		return CUDA_ERROR_INVALID_DEVICE;
	*dev = ordinal;
	return CUDA_SUCCESS;
}

static CUresult fk_device_attribute(int *v, CUdevice_attribute attr,
				    CUdevice dev)
{
	(void)dev;
	fk.st.calls++;
	switch (attr) {
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
		*v = fk.cfg.major;
		break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
		*v = fk.cfg.minor;
		break;
	case CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS:
		*v = fk.cfg.pageable;
		break;
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
	return CUDA_SUCCESS;
}

static CUresult fk_ctx_create(CUcontext *ctx, unsigned flags, CUdevice dev)
{
	CUresult cr;

	(void)flags;
	(void)dev;
	pthread_mutex_lock(&fk.lock);
	fk.st.calls++;
	cr = fk.cfg.ctx_err;
	fk.cfg.ctx_err = CUDA_SUCCESS;
	if (cr == CUDA_SUCCESS && fk.ctx) {
		fprintf(stderr, "cuda_fake: a second context\n");
		cr = CUDA_ERROR_INVALID_CONTEXT;
	}
	if (cr == CUDA_SUCCESS) {
		fk.st.ctx_creates++;
		fk.ctx =
		    (CUcontext)(uintptr_t)(FK_CTX_BASE + fk.st.ctx_creates);
		*ctx = fk.ctx;
		fk_stack[fk_depth++] = fk.ctx; /* made current, as CUDA does */
	}
	pthread_mutex_unlock(&fk.lock);
	return cr;
}

static CUresult fk_ctx_destroy(CUcontext ctx)
{
	pthread_mutex_lock(&fk.lock);
	fk.st.calls++;
	if (ctx != fk.ctx || !ctx) {
		pthread_mutex_unlock(&fk.lock);
		return CUDA_ERROR_INVALID_CONTEXT;
	}
	fk.st.ctx_destroys++;
	fk_drop_context();
	pthread_mutex_unlock(&fk.lock);
	return CUDA_SUCCESS;
}

static CUresult fk_ctx_push(CUcontext ctx)
{
	fk.st.calls++;
	if (fk_depth == 16)
		return CUDA_ERROR_INVALID_VALUE;
	fk_stack[fk_depth++] = ctx;
	return CUDA_SUCCESS;
}

static CUresult fk_ctx_pop(CUcontext *ctx)
{
	fk.st.calls++;
	if (fk_depth == 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	*ctx = fk_stack[--fk_depth];
	return CUDA_SUCCESS;
}

static CUresult fk_error_string(CUresult err, const char **str)
{
	(void)err;
	*str = "fake driver error";
	return CUDA_SUCCESS;
}

static int fk_load_driver(struct dkc_api *api, char *why, size_t len)
{
	if (!fk.cfg.driver) {
		snprintf(why, len,
			 "no CUDA driver (fake: libcuda.so.1 absent)");
		return -1;
	}
	api->init = fk_init;
	api->driver_version = fk_driver_version;
	api->device_count = fk_device_count;
	api->device_get = fk_device_get;
	api->device_attribute = fk_device_attribute;
	api->ctx_create = fk_ctx_create;
	api->ctx_destroy = fk_ctx_destroy;
	api->ctx_push = fk_ctx_push;
	api->ctx_pop = fk_ctx_pop;
	api->error_string = fk_error_string;
	return 0;
}

/* ---- The runtime ---- */

static cudaError_t fk_get_last_error(void)
{
	cudaError_t err;

	pthread_mutex_lock(&fk.lock);
	fk.st.calls++;
	err = fk.sticky ? fk.sticky : fk.st.last;
	if (!fk.sticky)
		fk.st.last = cudaSuccess;
	pthread_mutex_unlock(&fk.lock);
	return err;
}

static cudaError_t fk_device_sync(void)
{
	FK_ENTER("device_sync");
	for (unsigned s = 0; s < FK_MAX_STREAMS; s++)
		if (fk.streams[s].used)
			fk_drain(&fk.streams[s]);
	FK_RETURN(fk.sticky);
}

static cudaError_t fk_kernel_check(void)
{
	FK_ENTER("kernel_check");
	FK_RETURN(fk.cfg.kernel_err);
}

static cudaError_t fk_stream_create(cudaStream_t *s)
{
	FK_ENTER("stream_create");
	for (uintptr_t i = 0; i < FK_MAX_STREAMS; i++) {
		if (fk.streams[i].used)
			continue;
		fk.streams[i].used = true;
		*s = (cudaStream_t)(i + 1);
		FK_RETURN(cudaSuccess);
	}
	FK_RETURN(cudaErrorMemoryAllocation);
}

static cudaError_t fk_stream_destroy(cudaStream_t s)
{
	struct fk_stream *q;

	FK_ENTER("stream_destroy");
	q = fk_stream_of(s);
	if (!q)
		FK_RETURN(cudaErrorInvalidResourceHandle);
	fk_drain(q); /* queued work completes, as on a GPU */
	free(q->ops);
	memset(q, 0, sizeof(*q));
	FK_RETURN(cudaSuccess);
}

static cudaError_t fk_stream_sync(cudaStream_t s)
{
	struct fk_stream *q;

	FK_ENTER("stream_sync");
	q = fk_stream_of(s);
	if (!q)
		FK_RETURN(cudaErrorInvalidResourceHandle);
	FK_RETURN(fk_drain(q));
}

static cudaError_t fk_host_alloc(void **p, size_t bytes)
{
	FK_ENTER("host_alloc");
	FK_RETURN(fk_alloc(p, bytes, FK_HOST));
}

static cudaError_t fk_host_free(void *p)
{
	FK_ENTER("host_free");
	FK_RETURN(fk_free(p, FK_HOST));
}

static cudaError_t fk_dev_alloc(void **p, size_t bytes)
{
	FK_ENTER("dev_alloc");
	FK_RETURN(fk_alloc(p, bytes, FK_DEV));
}

static cudaError_t fk_dev_free(void *p)
{
	FK_ENTER("dev_free");
	FK_RETURN(fk_free(p, FK_DEV));
}

static cudaError_t fk_copy_async(void *dst, const void *src, size_t bytes,
				 enum cudaMemcpyKind kind, cudaStream_t s)
{
	struct fk_op op = {
	    .kind = FK_OP_COPY, .dst = dst, .src = src, .bytes = bytes};
	struct fk_stream *q;

	FK_ENTER("copy_async");
	if (kind == cudaMemcpyHostToDevice) {
		if (!fk_check(dst, bytes, FK_DEV))
			FK_RETURN(cudaErrorInvalidValue);
		q = fk_stream_of(s);
		if (q)
			q->copies_since_launch++;
	} else if (kind == cudaMemcpyDeviceToHost) {
		if (!fk_check(src, bytes, FK_DEV))
			FK_RETURN(cudaErrorInvalidValue);
	} else {
		fk.st.bad_ptrs++;
		FK_RETURN(cudaErrorInvalidMemcpyDirection);
	}
	FK_RETURN(fk_queue(s, &op));
}

static cudaError_t fk_zero_async(void *p, size_t bytes, cudaStream_t s)
{
	struct fk_op op = {.kind = FK_OP_ZERO, .dst = p, .bytes = bytes};

	FK_ENTER("zero_async");
	if (!fk_check(p, bytes, FK_DEV))
		FK_RETURN(cudaErrorInvalidValue);
	FK_RETURN(fk_queue(s, &op));
}

static cudaError_t fk_launch(const struct dkc_scan_args *args,
			     unsigned int blocks, cudaStream_t s)
{
	struct fk_op op = {
	    .kind = FK_OP_LAUNCH, .args = *args, .blocks = blocks};
	struct fk_stream *q;

	FK_ENTER("launch");
	q = fk_stream_of(s);
	if (!q)
		FK_RETURN(cudaErrorInvalidResourceHandle);
	if (blocks == 0)
		FK_RETURN(cudaErrorInvalidConfiguration);
	fk.st.launches++;
	if (q->copies_since_launch == 0)
		fk.st.reruns++;
	q->copies_since_launch = 0;
	if (fk.fault_nth && --fk.fault_nth == 0)
		op.fault = true;
	FK_RETURN(fk_queue(s, &op));
}

static const struct dkc_api fk_api = {
    .load_driver = fk_load_driver,
    .get_last_error = fk_get_last_error,
    .device_sync = fk_device_sync,
    .kernel_check = fk_kernel_check,
    .stream_create = fk_stream_create,
    .stream_destroy = fk_stream_destroy,
    .stream_sync = fk_stream_sync,
    .host_alloc = fk_host_alloc,
    .host_free = fk_host_free,
    .dev_alloc = fk_dev_alloc,
    .dev_free = fk_dev_free,
    .copy_async = fk_copy_async,
    .zero_async = fk_zero_async,
    .launch = fk_launch,
};

/* ---- Control ---- */

void cuda_fake_defaults(struct cuda_fake_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->driver = true;
	cfg->count = 1;
	cfg->major = 9;
	cfg->minor = 0;
	cfg->pageable = 1;
	cfg->version = 13000;
}

void cuda_fake_install(const struct cuda_fake_config *cfg)
{
	pthread_mutex_lock(&fk.lock);
	fk_drop_context();
	memset(&fk.st, 0, sizeof(fk.st));
	fk.cfg = *cfg;
	fk.fail_call = NULL;
	fk.fault_nth = 0;
	pthread_mutex_unlock(&fk.lock);
	fk_depth = 0;
	dkc_seam_install(&fk_api);
}

void cuda_fake_fail(const char *call, unsigned nth, cudaError_t err)
{
	pthread_mutex_lock(&fk.lock);
	fk.fail_call = call;
	fk.fail_nth = nth;
	fk.fail_err = err;
	fk.fail_breaks = false;
	pthread_mutex_unlock(&fk.lock);
}

void cuda_fake_break(const char *call, unsigned nth, cudaError_t err)
{
	cuda_fake_fail(call, nth, err);
	pthread_mutex_lock(&fk.lock);
	fk.fail_breaks = true;
	pthread_mutex_unlock(&fk.lock);
}

void cuda_fake_fault_kernel(unsigned nth)
{
	pthread_mutex_lock(&fk.lock);
	fk.fault_nth = nth;
	pthread_mutex_unlock(&fk.lock);
}

const struct cuda_fake_stats *cuda_fake_stats(void)
{
	return &fk.st;
}

CUcontext cuda_fake_current(int *depth)
{
	*depth = fk_depth;
	return fk_depth ? fk_stack[fk_depth - 1] : NULL;
}

void cuda_fake_push_caller(void)
{
	fk_stack[fk_depth++] = CUDA_FAKE_CALLER;
}
