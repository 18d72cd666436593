// SPDX-License-Identifier: MIT
/* cuda.cu -- the CUDA backend: the query filter evaluated on a GPU. */
/*
 * The invariant this file keeps: a GPU never turns into a lasting failure
 * of daxkv_query().  Whatever CUDA does, a query either gets the right
 * answer (from the GPU or, under AUTO, from the CPU) or a clear error that
 * names the CUDA call and error, and the caller's own CUDA state is left
 * as it was.
 *
 * The device, per process (struct dkc_device):
 *
 *   UNPROBED --probe--> ABSENT (no driver, no GPU, too old: why)
 *                   \-> PRESENT (a GPU; no context yet)
 *   PRESENT --first query--> READY (our context) or DEAD (why)
 *   READY --sticky error--> DEAD (why)
 *   any --fork() after cuInit--> FORKED, in the child
 *
 * The probe loads the driver API with dlopen and asks it for a device,
 * its compute capability and cudaDevAttrPageableMemoryAccess; it creates
 * no context, and AUTO asks for it only for a query large enough to be
 * worth a GPU (dk_cuda_worth), so a process that runs small queries never
 * pays for a context (hundreds of MiB, a slow first call).
 *
 * The context is the backend's own (cuCtxCreate), not the runtime's
 * primary context that the host application's CUDA code shares: a query
 * pushes it on the calling thread, makes its runtime calls (which use the
 * current context), and pops it, so the caller's current context and
 * device are what they were, and daxkv's streams, memory and errors live
 * apart from the application's.  docs/cuda.md says why the driver API is
 * loaded with dlopen rather than linked (the library must load where
 * there is no driver) and what the isolation does and does not promise.
 *
 * Errors.  A "sticky" CUDA error (an illegal address, a launch failure, an
 * uncorrectable ECC error...) breaks the context for good: NVIDIA's
 * documentation says CUDA is then unusable until the process restarts.
 * So a call that fails is classified: a known sticky code, or any other
 * code after which the context no longer synchronises, marks the device
 * DEAD with the reason; the context is destroyed when the last query
 * inside it leaves, and from then on available() says -1 with the
 * reason: AUTO runs KMOD or the CPU (and says what it passed over), an
 * explicit CUDA query gets DAXKV_ENOTSUP with it.  The query in hand
 * returns DAXKV_ENOTSUP under AUTO (query.c then runs it on the CPU) and
 * DAXKV_EIO when it asked for CUDA itself.  Any other failure (out of
 * device memory, a bad launch configuration) ends only that query, in the
 * same way, and its buffers are released so the next query starts clean.
 *
 * fork(): CUDA cannot be used in a child forked after cuInit.  An atfork
 * handler marks the child's device FORKED when this process had called
 * cuInit (the reason says so), and UNPROBED otherwise (the child probes
 * for itself); the parent's context is never touched from the child.
 *
 * Where the GPU reads records, per query:
 *
 * - Direct: the kernel dereferences the segment mappings themselves
 *   (HMM: the device reports pageable memory access); nothing is copied
 *   in.  The default where the mappings are not DAX; on real DAX (map_sync
 *   or eadr durability) only with DAXKV_CUDA_DIRECT=1, because whether the
 *   driver can fault fsdax pages in is not proven, and a failed device
 *   fault is a sticky error, not an error return.
 * - Staged: the host copies the units' bytes (CPU memcpy) into pinned
 *   staging buffers that go to the device with cudaMemcpyAsync.  Two
 *   slots, each with its own stream, take batches in turn, so the CPU fills
 *   one buffer while the other is copied and scanned.  DAXKV_CUDA_STAGED=1
 *   forces it.
 *
 * We never cudaHostRegister() a segment mapping to skip that copy: on an
 * fsdax file the kernel refuses long-term pins (FOLL_LONGTERM) of DAX
 * pages, because a pinned page could not be truncated or reflinked under
 * the file system; cudaHostRegister would fail there or, on a file system
 * that allowed it, hold pages the file system believes it can free.
 *
 * Work is cut as query.c cut it: a unit is a run of whole records of one
 * segment, about DK_MARK_STRIDE bytes (one record when a value is large).
 * One GPU thread walks one unit's records with the evaluator of
 * daxkv_device.h (the CPU backend's and the module's code), so the answers
 * agree by construction.  A batch is at most DKC_BATCH_UNITS units and a
 * byte bound (DKC_DIRECT_BATCH_BYTES, or the staging buffer); each block
 * reduces its threads' aggregates (dkd_acc_merge) to one partial, the host
 * merges the partials.  ROWS: a matching record is copied whole into a
 * device row buffer at an atomically advanced cursor; if it did not fit,
 * the batch runs again with a larger buffer, never larger than the
 * batch's own bytes (rows are copies of some of its records); buffers
 * past DKC_ROWS_INITIAL are freed when the query ends.  A ROWS query with
 * a limit (and no order) starts with a small batch that doubles, and its
 * threads stop once the batch found enough matches.
 *
 * Per handle: streams and buffers, created at its first CUDA query in
 * the current context (and forgotten if that context goes), freed at
 * daxkv_close (the state listens to the handle: engine/events.h).  A
 * handle's CUDA queries run one at a time (its lock).  Every batch is
 * finished before daxkv_query returns, error or not, so the GPU never
 * reads a segment after the query's snapshot lets it go.
 *
 * Every CUDA call goes through struct dkc_api (cuda_seam.h), which the
 * fault-injection test replaces in a build of its own.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda.h>
#include <cuda_runtime.h>

#include "daxkv.h"
#include "backend.h"
#include "cuda_seam.h"
#include "events.h"

/* The oldest compute capability the library has code for (CMake passes
 * the lowest of CMAKE_CUDA_ARCHITECTURES); CUDA 13 supports none older. */
#ifndef DKC_MIN_ARCH
#define DKC_MIN_ARCH 75
#endif

/* ---- The kernel ---- */

__host__ __device__ static unsigned long long
dkc_atomic_add(unsigned long long *p, unsigned long long v)
{
#ifdef __CUDA_ARCH__
	return atomicAdd(p, v);
#else
	return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
#endif
}

__host__ __device__ static void dkc_atomic_or(unsigned int *p, unsigned int v)
{
#ifdef __CUDA_ARCH__
	atomicOr(p, v);
#else
	__atomic_fetch_or(p, v, __ATOMIC_RELAXED);
#endif
}

/* Copy one record (8-byte aligned, size a multiple of 8) to the rows. */
__host__ __device__ static void dkc_copy_rec(__u8 *dst, const __u8 *src,
					     __u64 size)
{
	__u64 *d = (__u64 *)dst;
	const __u64 *s = (const __u64 *)src;

	for (__u64 i = 0; i < size / 8; i++)
		d[i] = s[i];
}

/* What one thread does: walk unit @p idx into @p mine. */
__host__ __device__ static void dkc_scan_thread(const struct dkc_scan_args *a,
						__u64 idx,
						struct dkc_part *mine)
{
	const struct dkc_query *q = a->q;
	struct dkd_keys keys;
	const __u8 *p, *end;

	dkd_acc_init(&mine->acc);
	mine->records = 0;
	mine->bytes = 0;
	if (idx >= a->nunits)
		return;
	keys.lo = q->lo;
	keys.hi = q->hi;
	keys.prefix = q->prefix;
	p = a->units[idx].recs;
	end = p + a->units[idx].len;
	while (p < end) {
		const struct dk_rec *rec = (const struct dk_rec *)p;
		__u64 size;

		/* enough matches in this batch: the other rows are not
		 * needed (the ROWS limit, without an order) */
		if (a->stop_rows &&
		    *(volatile unsigned long long *)&a->ctl->rows_found >=
			    a->stop_rows)
			break;
		if ((__u64)(end - p) < DK_REC_HDR_SIZE ||
		    (size = dk_rec_size(rec->klen, rec->vlen)) >
			    (__u64)(end - p)) {
			dkc_atomic_or(&a->ctl->bad, 1u);
			break;
		}
		mine->records++;
		mine->bytes += size;
		if (dkd_rec_match(&q->flt, &keys, rec)) {
			dkd_acc_add(&q->flt, &mine->acc, dk_rec_val(rec));
			if (a->rows) {
				unsigned long long at = dkc_atomic_add(
					&a->ctl->rows_used, size);

				/* reservations tile [0, rows_used), so the
				 * rows that fit are a prefix of the buffer */
				if (at + size <= a->rows_cap) {
					dkc_copy_rec(a->rows + at, p, size);
					dkc_atomic_add(&a->ctl->rows_kept, 1);
					dkc_atomic_add(&a->ctl->kept_bytes,
						       size);
				}
				dkc_atomic_add(&a->ctl->rows_found, 1);
			}
		}
		p += size;
	}
}

__host__ __device__ static void dkc_part_merge(const struct dkd_filter *f,
					       struct dkc_part *a,
					       const struct dkc_part *b)
{
	dkd_acc_merge(f, &a->acc, &b->acc);
	a->records += b->records;
	a->bytes += b->bytes;
}

__global__ static void dkc_scan(struct dkc_scan_args a)
{
	__shared__ struct dkc_part shared[DKC_BLOCK];
	struct dkc_part mine;

	dkc_scan_thread(&a, (__u64)blockIdx.x * blockDim.x + threadIdx.x,
			&mine);
	/* Tree reduction of the block's partials. */
	shared[threadIdx.x] = mine;
	__syncthreads();
	for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
		if (threadIdx.x < half)
			dkc_part_merge(&a.q->flt, &shared[threadIdx.x],
				       &shared[threadIdx.x + half]);
		__syncthreads();
	}
	if (threadIdx.x == 0)
		a.parts[blockIdx.x] = shared[0];
}

#ifdef DKC_SEAM
void dkc_scan_emulate(const struct dkc_scan_args *a, unsigned int blocks)
{
	struct dkc_part shared[DKC_BLOCK];

	for (unsigned b = 0; b < blocks; b++) {
		for (unsigned t = 0; t < DKC_BLOCK; t++)
			dkc_scan_thread(a, (__u64)b * DKC_BLOCK + t,
					&shared[t]);
		for (unsigned half = DKC_BLOCK / 2; half > 0; half /= 2)
			for (unsigned t = 0; t < half; t++)
				dkc_part_merge(&a->q->flt, &shared[t],
					       &shared[t + half]);
		a->parts[b] = shared[0];
	}
}
#endif

/* ---- The real table ---- */

/* The driver API from libcuda.so.1, looked up by the names whose
 * signatures struct dkc_api has (the _v2 context calls keep them in every
 * driver since CUDA 4.0; a CUDA 13 header maps cuCtxCreate to _v4). */
static int dkc_load_libcuda(struct dkc_api *api, char *why, size_t len)
{
	const struct {
		const char *name;
		void **slot;
	} syms[] = {
		{"cuInit", (void **)&api->init},
		{"cuDriverGetVersion", (void **)&api->driver_version},
		{"cuDeviceGetCount", (void **)&api->device_count},
		{"cuDeviceGet", (void **)&api->device_get},
		{"cuDeviceGetAttribute", (void **)&api->device_attribute},
		{"cuCtxCreate_v2", (void **)&api->ctx_create},
		{"cuCtxDestroy_v2", (void **)&api->ctx_destroy},
		{"cuCtxPushCurrent_v2", (void **)&api->ctx_push},
		{"cuCtxPopCurrent_v2", (void **)&api->ctx_pop},
		{"cuGetErrorString", (void **)&api->error_string},
	};
	/* never closed: a driver is not unloaded, and the static runtime
	 * holds it open too */
	void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		snprintf(why, len, "no CUDA driver (%s)", dlerror());
		return -1;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(lib, syms[i].name);
		if (!*syms[i].slot) {
			snprintf(why, len,
				 "the CUDA driver (libcuda.so.1) has no %s",
				 syms[i].name);
			return -1;
		}
	}
	return 0;
}

static cudaError_t dkc_rt_kernel_check(void)
{
	struct cudaFuncAttributes attr;

	return cudaFuncGetAttributes(&attr, dkc_scan);
}

static cudaError_t dkc_rt_stream_create(cudaStream_t *stream)
{
	return cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking);
}

static cudaError_t dkc_rt_host_alloc(void **ptr, size_t bytes)
{
	return cudaHostAlloc(ptr, bytes, cudaHostAllocDefault);
}

static cudaError_t dkc_rt_dev_alloc(void **ptr, size_t bytes)
{
	return cudaMalloc(ptr, bytes);
}

static cudaError_t dkc_rt_zero_async(void *ptr, size_t bytes,
				     cudaStream_t stream)
{
	return cudaMemsetAsync(ptr, 0, bytes, stream);
}

/* cudaLaunchKernel returns the launch's own error: no reading of the
 * thread's last error, which may be the application's. */
static cudaError_t dkc_rt_launch(const struct dkc_scan_args *args,
				 unsigned int blocks, cudaStream_t stream)
{
	struct dkc_scan_args copy = *args;
	void *params[] = {&copy};

	return cudaLaunchKernel((const void *)dkc_scan, dim3(blocks),
				dim3(DKC_BLOCK), params, 0, stream);
}

/* Positional: nvcc's C++ dialect has no designated initialisers. */
static const struct dkc_api dkc_api_real = {
	dkc_load_libcuda,
	NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	cudaGetLastError,
	cudaDeviceSynchronize,
	dkc_rt_kernel_check,
	dkc_rt_stream_create,
	cudaStreamDestroy,
	cudaStreamSynchronize,
	dkc_rt_host_alloc,
	cudaFreeHost,
	dkc_rt_dev_alloc,
	cudaFree,
	cudaMemcpyAsync,
	dkc_rt_zero_async,
	dkc_rt_launch,
};

/* ---- The device, per process ---- */

enum dkc_dev_state {
	DKC_UNPROBED = 0,
	DKC_ABSENT,  /* no driver, no GPU, or unusable: why */
	DKC_PRESENT, /* a GPU; no context yet */
	DKC_READY,   /* our context exists */
	DKC_DEAD,    /* a failure ended CUDA for this process: why */
	DKC_FORKED,  /* a child forked after cuInit: CUDA unusable here */
};

struct dkc_device {
	pthread_mutex_t lock; /* protects the rest; held while probing and
				 creating the context, not during queries */
	int state;	      /* enum dkc_dev_state */
	bool api_set;	      /* api holds a table (real or the test's) */
	struct dkc_api api;   /* filled before the state leaves UNPROBED
				 and unchanged while it has a context */
	bool initialised;     /* cuInit was called in this process */
	pid_t init_pid;	      /* ... by this process (a parent, if FORKED) */
	CUdevice dev;
	int pageable;	      /* cudaDevAttrPageableMemoryAccess */
	CUcontext ctx;	      /* READY, or DEAD until the last user leaves */
	unsigned users;	      /* queries and closes inside ctx */
	unsigned gen;	      /* contexts gone so far: per-handle state made
				 in an older one is gone with it */
	char why[256];	      /* ABSENT, DEAD */
};

static struct dkc_device dkc_dev = {PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t dkc_atfork_once = PTHREAD_ONCE_INIT;

static void dkc_fork_prepare(void)
{
	pthread_mutex_lock(&dkc_dev.lock);
}

static void dkc_fork_parent(void)
{
	pthread_mutex_unlock(&dkc_dev.lock);
}

/* In the child, single-threaded: forget the parent's context (it is not
 * ours to use or destroy); no formatting here, available() does it. */
static void dkc_fork_child(void)
{
	dkc_dev.ctx = NULL;
	dkc_dev.users = 0;
	dkc_dev.gen++;
	if (dkc_dev.initialised)
		dkc_dev.state = DKC_FORKED;
	else if (dkc_dev.state != DKC_ABSENT)
		dkc_dev.state = DKC_UNPROBED;
	pthread_mutex_unlock(&dkc_dev.lock);
}

static void dkc_atfork_register(void)
{
	pthread_atfork(dkc_fork_prepare, dkc_fork_parent, dkc_fork_child);
}

static const char *dkc_cu_text(CUresult cr)
{
	const char *text = NULL;

	if (dkc_dev.api.error_string &&
	    dkc_dev.api.error_string(cr, &text) == CUDA_SUCCESS && text)
		return text;
	return "unknown driver error";
}

/* Caller holds the lock.  Why the device is not usable, formatted. */
static const char *dkc_why_locked(void)
{
	if (dkc_dev.state == DKC_FORKED)
		snprintf(dkc_dev.why, sizeof(dkc_dev.why),
			 "CUDA was initialised in process %d, and this "
			 "process (%d) was forked from it afterwards: CUDA "
			 "cannot be used in such a child",
			 (int)dkc_dev.init_pid, (int)getpid());
	return dkc_dev.why;
}

/* Caller holds the lock; state UNPROBED.  Find a GPU; no context. */
static void dkc_probe_locked(void)
{
	struct dkc_api *api = &dkc_dev.api;
	int count = 0, version = 0, major = 0, minor = 0, pageable = 0;
	char *why = dkc_dev.why;
	size_t len = sizeof(dkc_dev.why);
	CUresult cr;

	pthread_once(&dkc_atfork_once, dkc_atfork_register);
	if (!dkc_dev.api_set) {
		dkc_dev.api = dkc_api_real;
		dkc_dev.api_set = true;
	}
	dkc_dev.state = DKC_ABSENT;
	if (api->load_driver(api, why, len))
		return;
	dkc_dev.initialised = true;
	dkc_dev.init_pid = getpid();
	cr = api->init(0);
	if (cr != CUDA_SUCCESS) {
		snprintf(why, len, "cuInit: %s (%d)", dkc_cu_text(cr), (int)cr);
		return;
	}
	cr = api->driver_version(&version);
	if (cr == CUDA_SUCCESS && version / 1000 < CUDART_VERSION / 1000) {
		snprintf(why, len,
			 "the CUDA driver supports CUDA %d.%d, older than the "
			 "CUDA %d the library was built with",
			 version / 1000, version % 1000 / 10,
			 CUDART_VERSION / 1000);
		return;
	}
	if (cr == CUDA_SUCCESS)
		cr = api->device_count(&count);
	if (cr == CUDA_SUCCESS && count == 0) {
		snprintf(why, len, "no CUDA GPU present");
		return;
	}
	/* Ordinal 0 of the devices CUDA_VISIBLE_DEVICES leaves visible. */
	if (cr == CUDA_SUCCESS)
		cr = api->device_get(&dkc_dev.dev, 0);
	if (cr == CUDA_SUCCESS)
		cr = api->device_attribute(
			&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
			dkc_dev.dev);
	if (cr == CUDA_SUCCESS)
		cr = api->device_attribute(
			&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
			dkc_dev.dev);
	if (cr == CUDA_SUCCESS)
		cr = api->device_attribute(
			&pageable, CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS,
			dkc_dev.dev);
	if (cr != CUDA_SUCCESS) {
		snprintf(why, len, "CUDA GPU 0 unusable: %s (%d)",
			 dkc_cu_text(cr), (int)cr);
		return;
	}
	if (major * 10 + minor < DKC_MIN_ARCH) {
		snprintf(why, len,
			 "CUDA GPU 0 has compute capability %d.%d, older than "
			 "any code in the library (%d.%d)",
			 major, minor, DKC_MIN_ARCH / 10, DKC_MIN_ARCH % 10);
		return;
	}
	dkc_dev.pageable = pageable;
	dkc_dev.state = DKC_PRESENT;
}

/* Caller holds the lock.  A failure ended CUDA for this process; the
 * context goes when its last user leaves (dkc_leave). */
static void dkc_dead_locked(const char *why)
{
	if (dkc_dev.state == DKC_DEAD)
		return; /* the first reason is the one that matters */
	dkc_dev.state = DKC_DEAD;
	snprintf(dkc_dev.why, sizeof(dkc_dev.why),
		 "CUDA backend disabled for this process after a GPU error: "
		 "%s",
		 why);
}

/*
 * Caller holds the lock; state PRESENT.  Create our context and check the
 * kernel has code for the GPU.  0 (READY), or the DAXKV_E* code for the
 * query with daxkv_errmsg() set: a device out of memory fails this query
 * only; anything else marks the device DEAD.
 */
static int dkc_context_locked(const struct dk_qexec *x)
{
	struct dkc_api *api = &dkc_dev.api;
	char msg[256];
	CUcontext ctx = NULL, popped;
	cudaError_t err;
	CUresult cr;

	cr = api->ctx_create(&ctx, 0, dkc_dev.dev);
	if (cr == CUDA_ERROR_OUT_OF_MEMORY) {
		snprintf(msg, sizeof(msg),
			 "CUDA backend: cuCtxCreate: %s (%d)%s",
			 dkc_cu_text(cr), (int)cr,
			 x && x->fallback ? "; the CPU answers this query" :
					    "");
		return dk_query_err(x && x->fallback ? DAXKV_ENOTSUP :
						       DAXKV_ENOMEM,
				    msg);
	}
	if (cr != CUDA_SUCCESS) {
		snprintf(msg, sizeof(msg), "cuCtxCreate: %s (%d)",
			 dkc_cu_text(cr), (int)cr);
		dkc_dead_locked(msg);
		return dk_query_err(DAXKV_ENOTSUP, dkc_dev.why);
	}
	/* cuCtxCreate made it current here: ask, clear, give it back */
	err = api->kernel_check();
	if (err != cudaSuccess)
		api->get_last_error();
	api->ctx_pop(&popped);
	if (err != cudaSuccess) {
		api->ctx_destroy(ctx);
		snprintf(msg, sizeof(msg),
			 "the library has no code this GPU runs "
			 "(cudaFuncGetAttributes: %s: %s)",
			 cudaGetErrorName(err), cudaGetErrorString(err));
		dkc_dead_locked(msg);
		return dk_query_err(DAXKV_ENOTSUP, dkc_dev.why);
	}
	dkc_dev.ctx = ctx;
	dkc_dev.state = DKC_READY;
	return 0;
}

/*
 * Enter our context on this thread.  For a query (@p x set) probe and
 * create it as needed; for a close only if it is there.  0 with the
 * context pushed and *gen its generation, else the DAXKV_E* code with
 * daxkv_errmsg() set (DAXKV_ENOTSUP: the device is not usable).
 */
static int dkc_enter(const struct dk_qexec *x, unsigned *gen)
{
	CUcontext ctx;
	CUresult cr;
	int rc;

	pthread_mutex_lock(&dkc_dev.lock);
	if (x && dkc_dev.state == DKC_UNPROBED)
		dkc_probe_locked();
	if (x && dkc_dev.state == DKC_PRESENT) {
		rc = dkc_context_locked(x);
		if (rc) {
			pthread_mutex_unlock(&dkc_dev.lock);
			return rc;
		}
	}
	if (dkc_dev.state != DKC_READY) {
		/* a close leaves daxkv_errmsg() alone */
		rc = !x ? DAXKV_ENOTSUP :
			  dk_query_err(DAXKV_ENOTSUP, dkc_why_locked());
		pthread_mutex_unlock(&dkc_dev.lock);
		return rc;
	}
	dkc_dev.users++;
	*gen = dkc_dev.gen;
	ctx = dkc_dev.ctx;
	pthread_mutex_unlock(&dkc_dev.lock);

	cr = dkc_dev.api.ctx_push(ctx);
	if (cr != CUDA_SUCCESS) {
		char msg[200];

		snprintf(msg, sizeof(msg), "cuCtxPushCurrent: %s (%d)",
			 dkc_cu_text(cr), (int)cr);
		pthread_mutex_lock(&dkc_dev.lock);
		dkc_dead_locked(msg);
		dkc_dev.users--;
		if (dkc_dev.users == 0 && dkc_dev.ctx) {
			dkc_dev.api.ctx_destroy(dkc_dev.ctx);
			dkc_dev.ctx = NULL;
			dkc_dev.gen++;
		}
		rc = !x ? DAXKV_ENOTSUP :
			  dk_query_err(DAXKV_ENOTSUP, dkc_dev.why);
		pthread_mutex_unlock(&dkc_dev.lock);
		return rc;
	}
	return 0;
}

/* Leave the context (the caller's current context is current again);
 * the last user of a dead context destroys it. */
static void dkc_leave(void)
{
	CUcontext popped;

	dkc_dev.api.ctx_pop(&popped);
	pthread_mutex_lock(&dkc_dev.lock);
	dkc_dev.users--;
	if (dkc_dev.state == DKC_DEAD && dkc_dev.users == 0 && dkc_dev.ctx) {
		dkc_dev.api.ctx_destroy(dkc_dev.ctx);
		dkc_dev.ctx = NULL;
		dkc_dev.gen++;
	}
	pthread_mutex_unlock(&dkc_dev.lock);
}

static bool dkc_is_dead(void)
{
	bool dead;

	pthread_mutex_lock(&dkc_dev.lock);
	dead = dkc_dev.state != DKC_READY;
	pthread_mutex_unlock(&dkc_dev.lock);
	return dead;
}

/* Errors that leave the context unusable (cuda's driver_types.h: "any
 * further CUDA work will return the same error"). */
static bool dkc_is_sticky(cudaError_t err)
{
	switch (err) {
	case cudaErrorIllegalAddress:
	case cudaErrorLaunchTimeout:
	case cudaErrorHardwareStackError:
	case cudaErrorIllegalInstruction:
	case cudaErrorMisalignedAddress:
	case cudaErrorInvalidAddressSpace:
	case cudaErrorInvalidPc:
	case cudaErrorLaunchFailure:
	case cudaErrorAssert:
	case cudaErrorECCUncorrectable:
	case cudaErrorNvlinkUncorrectable:
	case cudaErrorContained:
	case cudaErrorContextIsDestroyed:
	case cudaErrorTensorMemoryLeak:
	case cudaErrorMpsClientTerminated:
	case cudaErrorExternalDevice:
	case cudaErrorDevicesUnavailable:
	case cudaErrorCudartUnloading:
		return true;
	default:
		return false;
	}
}

/*
 * A CUDA call of query @p x failed with @p err.  Classify it, and return
 * what the query returns, with daxkv_errmsg() set.  A non-sticky error is
 * cleared from the thread's last error (it is ours, not the
 * application's); if the context then fails to synchronise, it is broken
 * all the same.
 */
static int dkc_fail(const struct dk_qexec *x, cudaError_t err,
		    const char *call)
{
	const struct dkc_api *api = &dkc_dev.api;
	cudaError_t after = cudaSuccess;
	bool sticky = dkc_is_sticky(err);
	char what[200], msg[400];

	snprintf(what, sizeof(what), "%s: %s (%s)", call, cudaGetErrorName(err),
		 cudaGetErrorString(err));
	if (!sticky) {
		api->get_last_error();
		after = api->device_sync();
		sticky = after != cudaSuccess;
		if (sticky) {
			size_t n = strlen(what);

			snprintf(what + n, sizeof(what) - n,
				 ", then cudaDeviceSynchronize: %s",
				 cudaGetErrorName(after));
		}
	}
	if (sticky) {
		api->get_last_error(); /* what of it can be cleared */
		pthread_mutex_lock(&dkc_dev.lock);
		dkc_dead_locked(what);
		pthread_mutex_unlock(&dkc_dev.lock);
		snprintf(msg, sizeof(msg),
			 "CUDA backend: %s; the backend is disabled for this "
			 "process%s",
			 what, x->fallback ? ", the CPU answers" : "");
		return dk_query_err(x->fallback ? DAXKV_ENOTSUP : DAXKV_EIO,
				    msg);
	}
	snprintf(msg, sizeof(msg), "CUDA backend: %s%s", what,
		 x->fallback ? "; the CPU answers this query" : "");
	if (x->fallback)
		return dk_query_err(DAXKV_ENOTSUP, msg);
	return dk_query_err(err == cudaErrorMemoryAllocation ? DAXKV_ENOMEM :
							       DAXKV_EIO,
			    msg);
}

/* Run a CUDA call of query x; on failure return from the caller. */
#define DKC_TRY(x, name, call)                                                 \
	do {                                                                   \
		cudaError_t err_ = (call);                                     \
		if (err_ != cudaSuccess)                                       \
			return dkc_fail((x), err_, (name));                    \
	} while (0)

static bool dkc_env_on(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

/* AUTO: a query of @p bytes is worth a GPU (docs/cuda.md: why 64 MiB). */
static bool dk_cuda_worth(uint64_t bytes)
{
	const char *v = getenv("DAXKV_CUDA_AUTO_MIN_BYTES");
	unsigned long long min = DKC_AUTO_MIN_BYTES;

	if (v && *v) {
		char *end;
		unsigned long long n = strtoull(v, &end, 0);

		if (*end == '\0')
			min = n;
	}
	return bytes >= min;
}

static int dk_cuda_available(struct daxkv *db, char *why, size_t len)
{
	int r;

	(void)db;
	pthread_mutex_lock(&dkc_dev.lock);
	if (dkc_dev.state == DKC_UNPROBED)
		dkc_probe_locked();
	switch (dkc_dev.state) {
	case DKC_PRESENT:
	case DKC_READY:
		r = 1;
		break;
	case DKC_DEAD:
	case DKC_FORKED:
		r = -1;
		break;
	default:
		r = 0;
		break;
	}
	if (r != 1 && why && len)
		snprintf(why, len, "%s", dkc_why_locked());
	pthread_mutex_unlock(&dkc_dev.lock);
	return r;
}

#ifdef DKC_SEAM
void dkc_seam_install(const struct dkc_api *api)
{
	pthread_mutex_lock(&dkc_dev.lock);
	dkc_dev.api = api ? *api : dkc_api_real;
	dkc_dev.api_set = true;
	dkc_dev.state = DKC_UNPROBED;
	dkc_dev.initialised = false;
	dkc_dev.ctx = NULL;
	dkc_dev.users = 0;
	dkc_dev.gen++;
	dkc_dev.why[0] = '\0';
	pthread_mutex_unlock(&dkc_dev.lock);
}

const struct dkc_api *dkc_seam_real(void)
{
	return &dkc_api_real;
}
#endif

/* ---- Per-handle state ---- */

/* One batch in flight: its stream and buffers. */
struct dkc_slot {
	cudaStream_t stream;
	bool busy;		     /* a batch was launched, not finished */
	size_t nunits;		     /* ... its units */
	size_t bytes;		     /* ... their bytes */
	unsigned blocks;	     /* ... and grid */
	__u64 stop_rows;	     /* ... its threads stop at this many */
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
	bool ready;	      /* slots allocated, in context generation gen */
	unsigned gen;
	unsigned batches;     /* launched by the query running */
	struct dkc_query *query_host; /* pinned */
	struct dkc_query *query_dev;
	struct dkc_slot slot[DKC_SLOTS];
};

/* Creates the per-handle state words. */
static pthread_mutex_t dkc_state_lock = PTHREAD_MUTEX_INITIALIZER;

/* The context that held the state's buffers is gone, and they with it. */
static void dkc_state_forget(struct dkc_state *st)
{
	st->query_host = NULL;
	st->query_dev = NULL;
	memset(st->slot, 0, sizeof(st->slot));
	st->ready = false;
}

static void dkc_slot_free(struct dkc_slot *s)
{
	const struct dkc_api *api = &dkc_dev.api;

	if (s->stream)
		api->stream_sync(s->stream);
	api->host_free(s->units_host);
	api->dev_free(s->units_dev);
	api->host_free(s->parts_host);
	api->dev_free(s->parts_dev);
	api->host_free(s->ctl_host);
	api->dev_free(s->ctl_dev);
	api->host_free(s->stage_host);
	api->dev_free(s->stage_dev);
	api->dev_free(s->rows_dev);
	if (s->stream)
		api->stream_destroy(s->stream);
	memset(s, 0, sizeof(*s));
}

/* Free the handle's buffers and streams, inside the context they were made
 * in.  Errors are ignored: at exit the runtime may be gone already. */
static void dkc_state_release(struct dkc_state *st)
{
	for (int i = 0; i < DKC_SLOTS; i++)
		dkc_slot_free(&st->slot[i]);
	dkc_dev.api.host_free(st->query_host);
	st->query_host = NULL;
	dkc_dev.api.dev_free(st->query_dev);
	st->query_dev = NULL;
	st->ready = false;
}

static int dkc_slot_init(const struct dk_qexec *x, struct dkc_slot *s)
{
	const struct dkc_api *api = &dkc_dev.api;
	size_t parts = (DKC_BATCH_UNITS + DKC_BLOCK - 1) / DKC_BLOCK;

	DKC_TRY(x, "cudaStreamCreateWithFlags", api->stream_create(&s->stream));
	DKC_TRY(x, "cudaHostAlloc",
		api->host_alloc((void **)&s->units_host,
				DKC_BATCH_UNITS * sizeof(struct dkc_unit)));
	DKC_TRY(x, "cudaMalloc",
		api->dev_alloc((void **)&s->units_dev,
			       DKC_BATCH_UNITS * sizeof(struct dkc_unit)));
	DKC_TRY(x, "cudaHostAlloc",
		api->host_alloc((void **)&s->parts_host,
				parts * sizeof(struct dkc_part)));
	DKC_TRY(x, "cudaMalloc",
		api->dev_alloc((void **)&s->parts_dev,
			       parts * sizeof(struct dkc_part)));
	DKC_TRY(x, "cudaHostAlloc",
		api->host_alloc((void **)&s->ctl_host, sizeof(struct dkc_ctl)));
	DKC_TRY(x, "cudaMalloc",
		api->dev_alloc((void **)&s->ctl_dev, sizeof(struct dkc_ctl)));
	return 0;
}

static int dkc_state_ready(const struct dk_qexec *x, struct dkc_state *st,
			   unsigned gen)
{
	const struct dkc_api *api = &dkc_dev.api;

	if (st->ready)
		return 0;
	st->gen = gen;
	DKC_TRY(x, "cudaHostAlloc",
		api->host_alloc((void **)&st->query_host,
				sizeof(struct dkc_query)));
	DKC_TRY(x, "cudaMalloc",
		api->dev_alloc((void **)&st->query_dev,
			       sizeof(struct dkc_query)));
	for (int i = 0; i < DKC_SLOTS; i++) {
		int rc = dkc_slot_init(x, &st->slot[i]);

		if (rc)
			return rc;
	}
	st->ready = true;
	return 0;
}

/* Staged path: make the slot's staging buffers hold at least @p bytes. */
static int dkc_stage_reserve(const struct dk_qexec *x, struct dkc_slot *s,
			     size_t bytes)
{
	const struct dkc_api *api = &dkc_dev.api;
	size_t cap = bytes > DKC_STAGE_BYTES ? bytes : DKC_STAGE_BYTES;

	if (s->stage_cap >= bytes)
		return 0;
	api->host_free(s->stage_host);
	api->dev_free(s->stage_dev);
	s->stage_host = NULL;
	s->stage_dev = NULL;
	s->stage_cap = 0;
	DKC_TRY(x, "cudaHostAlloc",
		api->host_alloc((void **)&s->stage_host, cap));
	DKC_TRY(x, "cudaMalloc", api->dev_alloc((void **)&s->stage_dev, cap));
	s->stage_cap = cap;
	return 0;
}

/* ROWS: make the slot's device row buffer @p bytes. */
static int dkc_rows_reserve(const struct dk_qexec *x, struct dkc_slot *s,
			    size_t bytes)
{
	const struct dkc_api *api = &dkc_dev.api;

	if (s->rows_cap >= bytes)
		return 0;
	api->dev_free(s->rows_dev);
	s->rows_dev = NULL;
	s->rows_cap = 0;
	DKC_TRY(x, "cudaMalloc", api->dev_alloc((void **)&s->rows_dev, bytes));
	s->rows_cap = bytes;
	return 0;
}

/* After a query: buffers that one query grew go back to their usual
 * size, so a handle holds at most DKC_ROWS_INITIAL of rows and one
 * staging buffer per slot between queries. */
static void dkc_state_trim(struct dkc_state *st)
{
	const struct dkc_api *api = &dkc_dev.api;

	for (int i = 0; i < DKC_SLOTS; i++) {
		struct dkc_slot *s = &st->slot[i];

		if (s->rows_cap > DKC_ROWS_INITIAL) {
			api->dev_free(s->rows_dev);
			s->rows_dev = NULL;
			s->rows_cap = 0;
		}
		if (s->stage_cap > DKC_STAGE_BYTES) {
			api->host_free(s->stage_host);
			api->dev_free(s->stage_dev);
			s->stage_host = NULL;
			s->stage_dev = NULL;
			s->stage_cap = 0;
		}
	}
}

/* daxkv_close.  Without a CUDA query on the handle there is no state and
 * no CUDA call is made; with a context that is gone (a GPU error, a fork)
 * its buffers went with it. */
static void dkc_close(struct dk_listener *l, struct daxkv *db)
{
	void **word = dk_backend_state(db, DAXKV_BACKEND_CUDA);
	struct dkc_state *st = (struct dkc_state *)l;
	unsigned gen;

	if (st->ready && dkc_enter(NULL, &gen) == 0) {
		if (st->gen == gen)
			dkc_state_release(st);
		dkc_leave();
	}
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
static int dkc_run(const struct dkc_state *st, const struct dk_qexec *x,
		   struct dkc_slot *s)
{
	const struct dkc_api *api = &dkc_dev.api;
	struct dkc_scan_args a;

	a.q = st->query_dev;
	a.units = s->units_dev;
	a.nunits = s->nunits;
	a.parts = s->parts_dev;
	a.rows = x->rows ? s->rows_dev : NULL;
	a.rows_cap = x->rows ? s->rows_cap : 0;
	a.stop_rows = s->stop_rows;
	a.ctl = s->ctl_dev;
	DKC_TRY(x, "cudaMemsetAsync",
		api->zero_async(s->ctl_dev, sizeof(struct dkc_ctl), s->stream));
	DKC_TRY(x, "cudaLaunchKernel", api->launch(&a, s->blocks, s->stream));
	DKC_TRY(x, "cudaMemcpyAsync",
		api->copy_async(s->parts_host, s->parts_dev,
				s->blocks * sizeof(struct dkc_part),
				cudaMemcpyDeviceToHost, s->stream));
	DKC_TRY(x, "cudaMemcpyAsync",
		api->copy_async(s->ctl_host, s->ctl_dev, sizeof(struct dkc_ctl),
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

/* The most bytes of records the next batch may take. */
static size_t dkc_batch_limit(const struct dkc_state *st,
			      const struct dk_qexec *x, const struct dkc_slot *s)
{
	size_t limit = x->direct ? DKC_DIRECT_BATCH_BYTES : s->stage_cap;

	/* a ROWS limit: small batches first, so that a query that needs
	 * ten rows reads about a MiB, not a whole batch */
	if (x->stop_after) {
		unsigned shift = st->batches < 16 ? st->batches : 16;
		size_t grow = (size_t)DKC_LIMIT_FIRST_BATCH << shift;

		if (grow < limit)
			limit = grow;
	}
	return limit;
}

/*
 * Take the next batch of units from *next into slot @p s and launch it.
 * The slot is idle, so its pinned buffers are free to refill.
 */
static int dkc_launch(struct dkc_state *st, struct dk_qexec *x,
		      struct dkc_slot *s, size_t *next)
{
	const struct dkc_api *api = &dkc_dev.api;
	size_t n = 0, bytes = 0, limit;
	int rc;

	if (!x->direct && s->stage_cap == 0) {
		rc = dkc_stage_reserve(x, s, DKC_STAGE_BYTES);
		if (rc)
			return rc;
	}
	limit = dkc_batch_limit(st, x, s);
	while (*next + n < x->nunits && n < DKC_BATCH_UNITS) {
		const struct dk_qunit *u = &x->units[*next + n];
		size_t len = u->end - u->start;

		if (bytes + len > limit) {
			if (n)
				break; /* the next batch takes it */
			/* a unit larger than the bound: one record, at most
			 * DAXKV_MAX_VALUE and its key; it goes alone */
			if (!x->direct && len > s->stage_cap) {
				rc = dkc_stage_reserve(x, s, len);
				if (rc)
					return rc;
			}
		}
		if (!x->direct) {
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
	s->bytes = bytes;
	s->blocks = (unsigned)((n + DKC_BLOCK - 1) / DKC_BLOCK);
	s->stop_rows = x->stop_after ? x->stop_after - x->out.nrows : 0;
	if (x->rows && !s->rows_cap) {
		rc = dkc_rows_reserve(x, s, DKC_ROWS_INITIAL);
		if (rc)
			return rc;
	}
	DKC_TRY(x, "cudaMemcpyAsync",
		api->copy_async(s->units_dev, s->units_host,
				n * sizeof(struct dkc_unit),
				cudaMemcpyHostToDevice, s->stream));
	if (!x->direct)
		DKC_TRY(x, "cudaMemcpyAsync",
			api->copy_async(s->stage_dev, s->stage_host, bytes,
					cudaMemcpyHostToDevice, s->stream));
	rc = dkc_run(st, x, s);
	if (rc)
		return rc;
	s->busy = true;
	st->batches++;
	if (s->blocks > x->used_threads)
		x->used_threads = s->blocks;
	return 0;
}

/* Did the rows of slot @p s's batch fit (or enough of them)? */
static bool dkc_rows_fit(const struct dkc_slot *s)
{
	const struct dkc_ctl *c = s->ctl_host;

	return c->rows_used <= s->rows_cap ||
	       (s->stop_rows && c->rows_kept >= s->stop_rows);
}

/* Wait for slot @p s's batch and fold its results into @p x. */
static int dkc_finish(struct dkc_state *st, struct dk_qexec *x,
		      struct dkc_slot *s)
{
	const struct dkc_api *api = &dkc_dev.api;
	struct dkc_part sum;
	unsigned long long kept, kept_bytes;
	int rc;

	DKC_TRY(x, "cudaStreamSynchronize", api->stream_sync(s->stream));
	/* ROWS that did not fit: run the batch again with more room (its
	 * input is still in place until the slot is refilled).  The rows
	 * are copies of the batch's records, so its bytes always do. */
	while (x->rows && !dkc_rows_fit(s)) {
		size_t want = s->ctl_host->rows_used;

		if (s->rows_cap >= s->bytes)
			return dk_query_err(DAXKV_EIO,
					    "CUDA backend: a batch's rows "
					    "came to more than its records");

		if (want < 2 * s->rows_cap)
			want = 2 * s->rows_cap;
		if (want > s->bytes)
			want = s->bytes;
		rc = dkc_rows_reserve(x, s, want);
		if (rc)
			return rc;
		rc = dkc_run(st, x, s);
		if (rc)
			return rc;
		DKC_TRY(x, "cudaStreamSynchronize",
			api->stream_sync(s->stream));
	}
	s->busy = false;
	if (s->ctl_host->bad)
		return dk_query_err(DAXKV_ECORRUPT,
				    "CUDA backend: a record overruns its "
				    "unit");
	dkd_acc_init(&sum.acc);
	sum.records = 0;
	sum.bytes = 0;
	for (unsigned b = 0; b < s->blocks; b++)
		dkc_part_merge(&x->flt, &sum, &s->parts_host[b]);
	dkd_acc_merge(&x->flt, &x->acc, &sum.acc);
	x->records += sum.records;
	x->bytes += sum.bytes;

	kept = s->ctl_host->rows_kept;
	kept_bytes = s->ctl_host->kept_bytes;
	if (!x->rows || kept == 0)
		return 0;
	/* straight into the engine's row buffer: no copy of our own */
	rc = dk_rowbuf_reserve(&x->out, kept_bytes);
	if (rc)
		return rc;
	DKC_TRY(x, "cudaMemcpyAsync",
		api->copy_async(x->out.data + x->out.used, s->rows_dev,
				kept_bytes, cudaMemcpyDeviceToHost, s->stream));
	DKC_TRY(x, "cudaStreamSynchronize", api->stream_sync(s->stream));
	/* counted, and handed to the query's delivery if due (rows.c) */
	return dk_rowbuf_commit(&x->out, kept_bytes, kept);
}

/* ROWS with a limit and no order: enough rows delivered to stop. */
static bool dkc_enough(const struct dk_qexec *x)
{
	return x->rows && x->stop_after && x->out.nrows >= x->stop_after;
}

static int dkc_query_locked(struct dkc_state *st, struct dk_qexec *x,
			    unsigned gen)
{
	const struct dkc_api *api = &dkc_dev.api;
	struct dkc_query *q;
	size_t next = 0;
	int rc;

	rc = dkc_state_ready(x, st, gen);
	if (rc)
		return rc;
	st->batches = 0;
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
	DKC_TRY(x, "cudaMemcpyAsync",
		api->copy_async(st->query_dev, q, sizeof(*q),
				cudaMemcpyHostToDevice, st->slot[0].stream));
	DKC_TRY(x, "cudaStreamSynchronize",
		api->stream_sync(st->slot[0].stream));

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

/* Where this query's GPU reads: the top of the file says why. */
static bool dkc_direct(const struct dk_qexec *x)
{
	if (!dkc_dev.pageable || dkc_env_on("DAXKV_CUDA_STAGED"))
		return false;
	if (x->dax)
		return dkc_env_on("DAXKV_CUDA_DIRECT");
	return true;
}

static int dk_query_cuda(struct dk_qexec *x)
{
	struct dkc_state *st;
	unsigned gen;
	int rc;

	dkd_acc_init(&x->acc);
	x->records = 0;
	x->bytes = 0;
	x->used_threads = 0;
	st = dkc_state_get(x->db);
	if (!st)
		return dk_query_err(DAXKV_ENOMEM, "CUDA backend: no memory");
	rc = dkc_enter(x, &gen);
	if (rc)
		return rc;
	pthread_mutex_lock(&st->lock);
	if (st->ready && st->gen != gen)
		dkc_state_forget(st);
	x->direct = dkc_direct(x);
	rc = dkc_query_locked(st, x, gen);
	if (rc == 0) {
		dkc_state_trim(st);
	} else if (dkc_is_dead()) {
		/* every call in the context fails now; its memory goes
		 * with it when the last user leaves */
		dkc_state_forget(st);
	} else {
		/* this query's failure only: wait for what is in flight
		 * (the GPU must not read the mapping after we return),
		 * then start the next query from nothing */
		dkc_state_release(st);
	}
	pthread_mutex_unlock(&st->lock);
	dkc_leave();
	return rc;
}

/* backend.h declares it extern "C"; fields in their order. */
const struct dk_backend dk_backend_cuda = {
	DAXKV_BACKEND_CUDA,
	DK_MARK_STRIDE,
	dk_cuda_available,
	dk_query_cuda,
	dk_cuda_worth,
};
