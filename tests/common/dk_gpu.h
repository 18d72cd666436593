/* SPDX-License-Identifier: MIT */
/*
 * dk_gpu.h -- is there a GPU the CUDA backend should find?  Asked of the
 * driver itself (dlopen("libcuda.so.1")), not of the library, so that a
 * test can tell "no GPU here: skip" (exit 4) from "a GPU is here and the
 * backend failed to use it: fail".
 *
 * A GPU counts when the driver loads, initialises, reports a device, and
 * supports at least the CUDA major version the library was built with
 * (DK_TEST_CUDART_VERSION, which CMake passes to the tests of a CUDA
 * build).
 */
#ifndef DK_GPU_H
#define DK_GPU_H

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>

#ifndef DK_TEST_WITH_CUDA
#define DK_TEST_WITH_CUDA 0
#endif
#ifndef DK_TEST_CUDART_VERSION
#define DK_TEST_CUDART_VERSION 0
#endif

struct dk_gpu {
	bool present; /* the backend should be available */
	int count;    /* devices */
	int version;  /* cuDriverGetVersion */
	int pageable; /* device 0: CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS */
	char why[256]; /* what was found, or why none */
};

static inline struct dk_gpu dk_gpu_probe(void)
{
	struct dk_gpu g = {0};
	int (*cu_init)(unsigned);
	int (*cu_count)(int *);
	int (*cu_version)(int *);
	int (*cu_get)(int *, int);
	int (*cu_attr)(int *, int, int);
	void *lib;
	int dev = 0;

	if (!DK_TEST_WITH_CUDA) {
		snprintf(g.why, sizeof(g.why), "built without CUDA");
		return g;
	}
	lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(g.why, sizeof(g.why), "no CUDA driver (%s)",
			 dlerror());
		return g;
	}
	*(void **)&cu_init = dlsym(lib, "cuInit");
	*(void **)&cu_count = dlsym(lib, "cuDeviceGetCount");
	*(void **)&cu_version = dlsym(lib, "cuDriverGetVersion");
	*(void **)&cu_get = dlsym(lib, "cuDeviceGet");
	*(void **)&cu_attr = dlsym(lib, "cuDeviceGetAttribute");
	if (!cu_init || !cu_count || !cu_version || !cu_get || !cu_attr ||
	    cu_init(0) != 0 || cu_count(&g.count) != 0 || g.count == 0) {
		snprintf(g.why, sizeof(g.why), "the driver finds no GPU");
		return g;
	}
	cu_version(&g.version);
	if (g.version / 1000 < DK_TEST_CUDART_VERSION / 1000) {
		snprintf(g.why, sizeof(g.why),
			 "driver supports CUDA %d, the library needs %d",
			 g.version, DK_TEST_CUDART_VERSION);
		return g;
	}
	if (cu_get(&dev, 0) == 0)
		cu_attr(&g.pageable, 88 /* PAGEABLE_MEMORY_ACCESS */, dev);
	/* dlclose would not unload a driver; keep it open. */
	g.present = true;
	snprintf(g.why, sizeof(g.why),
		 "%d GPU(s), driver CUDA %d, pageable memory access %d",
		 g.count, g.version, g.pageable);
	return g;
}

/*
 * A test that needs the CUDA backend: return if it is available; exit 4
 * (skip) saying why if there is no GPU; fail if there is one and the
 * backend still says no (@p what names the test).
 */
static inline void dk_gpu_need_backend(int available, const char *errmsg,
				       const char *what)
{
	struct dk_gpu g;

	if (available == 1)
		return;
	g = dk_gpu_probe();
	if (g.present) {
		fprintf(stderr,
			"%s: a GPU is here (%s) but the CUDA backend is not "
			"available: %s\n",
			what, g.why, errmsg);
		exit(1);
	}
	printf("SKIP: %s needs a GPU: %s (backend: %s)\n", what, g.why, errmsg);
	exit(4);
}

#endif
