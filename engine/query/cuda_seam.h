/* SPDX-License-Identifier: MIT */
/*
 * cuda_seam.h -- what the CUDA backend (cuda.cu) calls CUDA through, and
 * what its kernel is given: the seam its fault-injection test replaces.
 *
 * Every CUDA call of cuda.cu goes through one table, struct dkc_api: the
 * driver API (loaded with dlopen, so that libdaxkv needs no libcuda.so at
 * link or load time) and the runtime API (linked statically), and the
 * kernel launch itself.  The library uses the real table.  The build
 * `daxkv_cuda_seam` (engine/query/CMakeLists.txt) compiles the same
 * cuda.cu with DKC_SEAM, which adds dkc_seam_install() and
 * dkc_scan_emulate(): tests/engine/cuda_fault_test.c installs a table of
 * its own that plays a GPU on the host (memory is malloc'd, streams are
 * queues run at synchronisation, the kernel is dkc_scan_emulate, the same
 * per-thread code as the kernel run thread by thread) and makes chosen
 * calls fail with sticky or non-sticky errors, so that the backend's
 * control flow after "a GPU is there" runs where there is none.  What the
 * fake cannot show (the kernel on a real GPU, the driver's behaviour,
 * HMM) is what the tests labelled `cuda` check on a GPU (docs/cuda.md).
 *
 * Plain C, so that the C test can include it; it needs the CUDA headers.
 */
#ifndef DK_CUDA_SEAM_H
#define DK_CUDA_SEAM_H

#include <stddef.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "daxkv_device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Limits (the tests check them) ---- */

#define DKC_SLOTS 2	       /* batches in flight */
#define DKC_BLOCK 128	       /* threads per block (power of two) */
#define DKC_BATCH_UNITS 16384u /* units per batch at most */
/* Bytes of records per batch at most: a direct batch's, and a staged
 * batch's (its staging buffer).  A batch's rows are copies of some of its
 * records, so they never need more than this on the device either. */
#define DKC_DIRECT_BATCH_BYTES (64u << 20)
#define DKC_STAGE_BYTES (8u << 20)
#define DKC_ROWS_INITIAL                                                       \
	(1u << 20) /* device row buffer kept between                           \
		      queries; larger ones are freed when                      \
		      the query ends */
#define DKC_LIMIT_FIRST_BATCH                                                  \
	(1u << 20) /* ROWS with a limit: the first                             \
		      batch's bytes, doubling after */
/* AUTO passes CUDA over for a query that scans fewer bytes than this
 * (DAXKV_CUDA_AUTO_MIN_BYTES in the environment overrides it). */
#define DKC_AUTO_MIN_BYTES (64ull << 20)

/* ---- What the kernel is given ---- */

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
	unsigned long long rows_used;  /* bytes every matching row reserved */
	unsigned long long rows_kept;  /* rows copied: those that fitted */
	unsigned long long kept_bytes; /* their bytes, a prefix of the buffer */
	unsigned long long rows_found; /* matches, for stop_rows */
	unsigned int bad;	       /* a record overran its unit */
	unsigned int pad;
};

/* The kernel's arguments (passed by value). */
struct dkc_scan_args {
	const struct dkc_query *q;
	const struct dkc_unit *units;
	__u64 nunits;
	struct dkc_part *parts; /* one per block */
	__u8 *rows;		/* ROWS: matching records; NULL otherwise */
	__u64 rows_cap;
	__u64 stop_rows; /* threads stop once this many matches are
			    found (0: never) */
	struct dkc_ctl *ctl;
};

/* ---- The table ---- */

struct dkc_api {
	/* Load the driver API below (dlopen("libcuda.so.1")): 0, or -1 with
	 * the reason in @p why. */
	int (*load_driver)(struct dkc_api *api, char *why, size_t len);

	/* Driver API (cuInit ... cuGetErrorString; the context calls are
	 * the versions whose signatures these are: cuCtxCreate_v2 ...). */
	CUresult (*init)(unsigned int flags);
	CUresult (*driver_version)(int *version);
	CUresult (*device_count)(int *count);
	CUresult (*device_get)(CUdevice *dev, int ordinal);
	CUresult (*device_attribute)(int *value, CUdevice_attribute attr,
				     CUdevice dev);
	CUresult (*ctx_create)(CUcontext *ctx, unsigned int flags,
			       CUdevice dev);
	CUresult (*ctx_destroy)(CUcontext ctx);
	CUresult (*ctx_push)(CUcontext ctx);
	CUresult (*ctx_pop)(CUcontext *ctx);
	CUresult (*error_string)(CUresult err, const char **str);

	/* Runtime API, in the context current on the calling thread. */
	cudaError_t (*get_last_error)(void);
	cudaError_t (*device_sync)(void);
	cudaError_t (*kernel_check)(
	    void); /* the scan kernel has code for
		      this GPU (cudaFuncGetAttributes) */
	cudaError_t (*stream_create)(cudaStream_t *stream);
	cudaError_t (*stream_destroy)(cudaStream_t stream);
	cudaError_t (*stream_sync)(cudaStream_t stream);
	cudaError_t (*host_alloc)(void **ptr, size_t bytes); /* pinned */
	cudaError_t (*host_free)(void *ptr);
	cudaError_t (*dev_alloc)(void **ptr, size_t bytes);
	cudaError_t (*dev_free)(void *ptr);
	cudaError_t (*copy_async)(void *dst, const void *src, size_t bytes,
				  enum cudaMemcpyKind kind,
				  cudaStream_t stream);
	cudaError_t (*zero_async)(void *ptr, size_t bytes, cudaStream_t stream);
	cudaError_t (*launch)(const struct dkc_scan_args *args,
			      unsigned int blocks, cudaStream_t stream);
};

/*
 * DKC_SEAM builds only.  Use @p api (copied) instead of the real table,
 * and forget what the backend knew about the GPU (the next query probes
 * again).  Call it with no CUDA query running and no handle that ran one
 * still open.  NULL puts the real table back.
 */
void dkc_seam_install(const struct dkc_api *api);

/* DKC_SEAM builds only.  The real table, to wrap some of its entries
 * (its driver entries are filled by its load_driver). */
const struct dkc_api *dkc_seam_real(void);

/* DKC_SEAM builds only.  Run the scan kernel on the host: @p blocks blocks
 * of DKC_BLOCK threads, one after the other, each thread the kernel's
 * code, the block's reduction the kernel's order. */
void dkc_scan_emulate(const struct dkc_scan_args *args, unsigned int blocks);

#ifdef __cplusplus
}
#endif

#endif /* DK_CUDA_SEAM_H */
