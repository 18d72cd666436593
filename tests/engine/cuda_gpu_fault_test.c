// SPDX-License-Identifier: MIT
/*
 * cuda_gpu_fault_test.c -- a real GPU fault in the CUDA backend, on a
 * machine with a GPU (exit 4 elsewhere, saying why).
 *
 * Built on the fault-injection build (daxkv_cuda_seam) with the real CUDA
 * table, except that the kernel launch can be told to pass the kernel a
 * units pointer no allocation holds: the kernel then faults on the GPU
 * (cudaErrorIllegalAddress, or cudaErrorLaunchFailure), a sticky error.
 * Meanwhile the test plays an application with CUDA work of its own in
 * the primary context of device 0.  It checks:
 * - before the fault, queries run on CUDA and the application's context
 *   is current again after each;
 * - the faulting AUTO query returns the CPU's answer, with fallback_from
 *   and the CUDA error in daxkv_errmsg(); the backend is disabled with
 *   that reason; an explicit CUDA query gets DAXKV_ENOTSUP;
 * - the application's context still works (a memset and a copy), which is
 *   what the backend's own context is for.  If that fails, the driver
 *   spreads a sticky error across contexts and docs/cuda.md's claim of
 *   isolation is wrong on this driver.
 */
#include <stdbool.h>

#include <cuda_runtime_api.h>

#include "dk_test.h"
#include "dk_gpu.h"
#include "cuda_seam.h"

static struct dkc_api api;
static cudaError_t (*real_launch)(const struct dkc_scan_args *, unsigned int,
				  cudaStream_t);
static bool poison;

static cudaError_t bad_launch(const struct dkc_scan_args *args,
			      unsigned int blocks, cudaStream_t stream)
{
	struct dkc_scan_args a = *args;

	if (poison)
		a.units = (const struct dkc_unit *)(uintptr_t)0x1000;
	return real_launch(&a, blocks, stream);
}

static void fill(daxkv *db)
{
	for (uint64_t i = 0; i < 50000; i++) {
		char key[16];
		uint64_t val[2] = {i, i % 100};

		snprintf(key, sizeof(key), "k%08llu", (unsigned long long)i);
		CHECK_OK(daxkv_put(db, key, strlen(key), val, sizeof(val)));
	}
}

static uint64_t count(daxkv *db, uint32_t backend, int want_rc,
		      struct daxkv_query_result *res)
{
	struct daxkv_query q;

	daxkv_query_init(&q);
	q.backend = backend;
	memset(res, 0, sizeof(*res));
	res->version = DAXKV_QUERY_RESULT_VERSION;
	CHECK_RC(daxkv_query(db, &q, res), want_rc);
	return res->count;
}

/* The application's own CUDA work, in its primary context. */
static void app_work(int *buf, int value)
{
	int back[64];
	cudaError_t err = cudaMemset(buf, value, sizeof(back));

	if (err == cudaSuccess)
		err =
		    cudaMemcpy(back, buf, sizeof(back), cudaMemcpyDeviceToHost);
	if (err != cudaSuccess)
		DK_FAIL("the application's CUDA work failed: %s (%s); after a "
			"fault in daxkv's own context this means the driver "
			"does not keep contexts apart (docs/cuda.md)",
			cudaGetErrorName(err), cudaGetErrorString(err));
	for (int i = 0; i < 64; i++)
		CHECK_EQ(back[i], value * 0x01010101);
}

static void test_kernel_fault(void)
{
	struct daxkv_options o;
	struct daxkv_query_result res;
	const char *dir = dk_test_dir("gpufault");
	daxkv *db;
	int *buf = NULL, dev = -1;
	uint64_t want;

	CHECK_EQ(cudaSetDevice(0), cudaSuccess);
	CHECK_EQ(cudaMalloc((void **)&buf, 64 * sizeof(int)), cudaSuccess);
	app_work(buf, 1);

	daxkv_options_init(&o);
	CHECK_OK(daxkv_open(dir, &o, &db));
	fill(db);
	dk_gpu_need_backend(daxkv_backend_available(db, DAXKV_BACKEND_CUDA),
			    daxkv_errmsg(), "cuda_gpu_fault_test");
	want = count(db, DAXKV_BACKEND_CPU, 0, &res);
	CHECK_EQ(count(db, DAXKV_BACKEND_AUTO, 0, &res), want);
	CHECK_EQ(res.backend, DAXKV_BACKEND_CUDA);
	CHECK_EQ(cudaGetDevice(&dev), cudaSuccess);
	CHECK_EQ(dev, 0);
	app_work(buf, 2);

	poison = true;
	CHECK_EQ(count(db, DAXKV_BACKEND_AUTO, 0, &res), want);
	printf("  the fault: %s\n", daxkv_errmsg());
	CHECK_EQ(res.backend, DAXKV_BACKEND_CPU);
	CHECK_EQ(res.fallback_from, DAXKV_BACKEND_CUDA);
	CHECK_STR_HAS(daxkv_errmsg(), "disabled");
	CHECK_STR_HAS(daxkv_errmsg(), "cudaError");
	CHECK_EQ(daxkv_backend_available(db, DAXKV_BACKEND_CUDA), 0);
	CHECK_STR_HAS(daxkv_errmsg(), "disabled");
	count(db, DAXKV_BACKEND_CUDA, DAXKV_ENOTSUP, &res);
	CHECK_EQ(count(db, DAXKV_BACKEND_AUTO, 0, &res), want);
	CHECK_EQ(res.fallback_from, DAXKV_BACKEND_CUDA);

	/* the application, in its own context, goes on */
	printf("  application's last error after daxkv's fault: %s\n",
	       cudaGetErrorName(cudaGetLastError()));
	app_work(buf, 3);
	CHECK_EQ(cudaFree(buf), cudaSuccess);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static const struct dk_case cases[] = {
    {"kernel_fault", test_kernel_fault},
};

int main(int argc, char **argv)
{
	struct dk_gpu g = dk_gpu_probe();

	if (!g.present) {
		printf("SKIP: cuda_gpu_fault_test needs a GPU: %s\n", g.why);
		return 4;
	}
	api = *dkc_seam_real();
	real_launch = api.launch;
	api.launch = bad_launch;
	dkc_seam_install(&api);
	setenv("DAXKV_CUDA_AUTO_MIN_BYTES", "0", 1);
	return dk_test_main(argc, argv, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
