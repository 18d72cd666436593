/* SPDX-License-Identifier: MIT */
/*
 * cuda_fake.h -- a GPU played on the host, for the CUDA backend's seam
 * (engine/query/cuda_seam.h), and the faults it can be told to make.
 *
 * The fake is a struct dkc_api: a driver with one GPU of the configured
 * compute capability and pageable-memory attribute; contexts on a
 * per-thread stack; device and pinned memory from malloc, every pointer
 * the backend hands back checked against what was allocated (kind and
 * bounds); streams that queue their copies, memsets and launches and run
 * them at synchronisation (so reading results before a sync, or
 * rewriting a buffer a queued copy still reads, gives wrong answers, as
 * on a GPU); and the kernel run by dkc_scan_emulate(), the kernel's own
 * per-thread code.  Every runtime call checks that the backend's context
 * is the current one.
 *
 * Faults: the Nth call of a named entry returns an error (a sticky one
 * breaks the context: every later call returns it, as CUDA documents),
 * or the Nth launch faults when it runs (an illegal address, reported by
 * the next synchronisation, the way a GPU reports a bad pointer).
 *
 * What it cannot show: the kernel on a GPU, the driver's own behaviour
 * (its real sticky-error scope, HMM faults on DAX pages), real
 * concurrency between host and device.  The `cuda` tests do that.
 */
#ifndef CUDA_FAKE_H
#define CUDA_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cuda_seam.h"

struct cuda_fake_config {
	bool driver;		/* libcuda.so.1 loads */
	int count;		/* GPUs */
	int major, minor;	/* compute capability */
	int pageable;		/* CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS */
	int version;		/* cuDriverGetVersion */
	CUresult init_err;	/* cuInit's answer */
	CUresult ctx_err;	/* cuCtxCreate's answer (once) */
	cudaError_t kernel_err; /* cudaFuncGetAttributes's answer */
};

struct cuda_fake_stats {
	unsigned inits, ctx_creates, ctx_destroys;
	unsigned launches;   /* kernels queued */
	unsigned reruns;     /* launches with no new units since the last */
	unsigned long calls; /* driver and runtime calls, load aside */
	size_t dev_bytes, host_bytes; /* allocated now */
	size_t max_batch_bytes;	      /* most record bytes one launch read */
	unsigned max_batch_units;
	size_t max_rows_alloc;	    /* largest row buffer (rows_cap) launched */
	unsigned long direct_units; /* units read from host memory */
	unsigned long staged_units; /* units read from device memory */
	unsigned wrong_ctx;	    /* runtime calls outside our context */
	unsigned bad_ptrs;	    /* pointers outside their allocations */
	unsigned pending_ops;	    /* queued, not yet run */
	cudaError_t last; /* the thread's last error, as the fake has it */
};

/* A GPU that works: compute capability 9.0, pageable access, driver
 * CUDA 13.0. */
void cuda_fake_defaults(struct cuda_fake_config *cfg);
/* Forget everything (counters, memory, faults), and make the backend use
 * the fake configured so (it probes again at its next use). */
void cuda_fake_install(const struct cuda_fake_config *cfg);
/* The @p nth call of entry @p call ("dev_alloc", "copy_async", "launch",
 * "stream_sync", ... as in struct dkc_api) from now returns @p err. */
void cuda_fake_fail(const char *call, unsigned nth, cudaError_t err);
/* The same, and the context is broken with @p err from then on, whatever
 * the error is (a code cuda.cu does not know as sticky). */
void cuda_fake_break(const char *call, unsigned nth, cudaError_t err);
/* The @p nth launch from now faults when it runs. */
void cuda_fake_fault_kernel(unsigned nth);
const struct cuda_fake_stats *cuda_fake_stats(void);
/* This thread's current context and the stack's depth. */
CUcontext cuda_fake_current(int *depth);
/* Push a context of "the application" on this thread. */
void cuda_fake_push_caller(void);
#define CUDA_FAKE_CALLER ((CUcontext)(uintptr_t)0xca11e4)
/* Is @p err one the fake treats as sticky (cuda.cu's own list aside). */
bool cuda_fake_is_sticky(cudaError_t err);

#endif
