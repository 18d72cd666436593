// SPDX-License-Identifier: MIT
/*
 * cuda_backend_test.c -- the CUDA backend is there exactly when a GPU is.
 *
 * Whether this machine has a usable GPU is decided here without the
 * library: libcuda.so.1 (the driver) loads, reports a device, and is at
 * least as new as the CUDA runtime the library was built with.  Then:
 * - no such GPU, or a build without CUDA: daxkv_backend_available() says 0
 *   with a reason, an explicit CUDA query returns DAXKV_ENOTSUP, and AUTO
 *   runs another backend with the same answer as the CPU;
 * - a GPU and a CUDA build: CUDA is available, explicit and AUTO queries
 *   run on it (staged, not direct, under DAXKV_CUDA_STAGED=1) and agree
 *   with the CPU, values of 1 MiB and overflowing row buffers included.
 * The differential test over random queries is query_test, which ctest
 * runs again as query_cuda with DAXKV_TEST_BACKEND=cuda.
 */
#include <dlfcn.h>
#include <stdbool.h>

#include "dk_test.h"

#ifndef DK_TEST_WITH_CUDA
#define DK_TEST_WITH_CUDA 0
#endif
#ifndef DK_TEST_CUDART_VERSION
#define DK_TEST_CUDART_VERSION 0
#endif

#define NSMALL 20000

static bool gpu_expected;
static char gpu_why[256];

/* The driver API, looked up by hand so that this test needs no CUDA. */
static void probe_gpu(void)
{
	int (*cu_init)(unsigned);
	int (*cu_count)(int *);
	int (*cu_version)(int *);
	int count = 0, version = 0;
	void *lib;

	if (!DK_TEST_WITH_CUDA) {
		snprintf(gpu_why, sizeof(gpu_why), "built without CUDA");
		return;
	}
	lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(gpu_why, sizeof(gpu_why), "no CUDA driver (%s)",
			 dlerror());
		return;
	}
	*(void **)&cu_init = dlsym(lib, "cuInit");
	*(void **)&cu_count = dlsym(lib, "cuDeviceGetCount");
	*(void **)&cu_version = dlsym(lib, "cuDriverGetVersion");
	if (!cu_init || !cu_count || !cu_version || cu_init(0) != 0 ||
	    cu_count(&count) != 0 || count == 0) {
		snprintf(gpu_why, sizeof(gpu_why), "the driver finds no GPU");
		return;
	}
	cu_version(&version);
	if (version < DK_TEST_CUDART_VERSION) {
		snprintf(gpu_why, sizeof(gpu_why),
			 "driver supports CUDA %d, the library needs %d",
			 version, DK_TEST_CUDART_VERSION);
		return;
	}
	/* dlclose would not unload a driver; keep it open. */
	gpu_expected = true;
	snprintf(gpu_why, sizeof(gpu_why), "%d GPU(s), driver CUDA %d", count,
		 version);
}

static bool staged_forced(void)
{
	const char *v = getenv("DAXKV_CUDA_STAGED");

	return v && strcmp(v, "0") != 0;
}

static daxkv *open_db(const char *tag, const char **dirp)
{
	struct daxkv_options o;
	daxkv *db;

	daxkv_options_init(&o);
	o.segment_size = 8u << 20;
	*dirp = dk_test_dir(tag);
	CHECK_OK(daxkv_open(*dirp, &o, &db));
	return db;
}

static void close_db(daxkv *db, const char *dir)
{
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* Small records: key k%08d, value 16 bytes: u64 i, u64 i % 100. */
static void fill_small(daxkv *db)
{
	for (uint64_t i = 0; i < NSMALL; i++) {
		char key[16];
		uint64_t val[2] = {i, i % 100};

		snprintf(key, sizeof(key), "k%08llu", (unsigned long long)i);
		CHECK_OK(daxkv_put(db, key, strlen(key), val, sizeof(val)));
	}
	/* some deletes and updates, so the version rule has work */
	for (uint64_t i = 0; i < NSMALL; i += 7) {
		char key[16];
		uint64_t val[2] = {i + 1, 1000};

		snprintf(key, sizeof(key), "k%08llu", (unsigned long long)i);
		if (i % 2)
			CHECK_OK(daxkv_delete(db, key, strlen(key)));
		else
			CHECK_OK(
			    daxkv_put(db, key, strlen(key), val, sizeof(val)));
	}
}

struct rows_seen {
	uint64_t n;
	uint64_t key_sum; /* order-free fingerprint of the rows */
	uint64_t val_sum;
};

static int count_rows(const struct daxkv_row *rows, size_t n, void *arg)
{
	struct rows_seen *seen = arg;

	for (size_t i = 0; i < n; i++) {
		const unsigned char *k = rows[i].key, *v = rows[i].val;

		for (size_t b = 0; b < rows[i].klen; b++)
			seen->key_sum += k[b] * (b + 1);
		for (size_t b = 0; b < rows[i].vlen; b += 4096)
			seen->val_sum += v[b] + rows[i].vlen;
		seen->n++;
	}
	return 0;
}

/* Run @p q on @p backend; with rows, fingerprint them into @p seen. */
static int run(daxkv *db, struct daxkv_query *q, uint32_t backend,
	       struct daxkv_query_result *res, struct rows_seen *seen)
{
	q->backend = backend;
	if (q->output == DAXKV_QUERY_ROWS) {
		memset(seen, 0, sizeof(*seen));
		q->rows = count_rows;
		q->arg = seen;
	}
	memset(res, 0, sizeof(*res));
	res->version = DAXKV_QUERY_RESULT_VERSION;
	return daxkv_query(db, q, res);
}

/* @p q gives the same answer on @p backend as on the CPU. */
static void check_same(daxkv *db, struct daxkv_query *q, uint32_t backend,
		       uint32_t want_ran)
{
	struct daxkv_query_result cpu, dev;
	struct rows_seen cpu_rows, dev_rows;

	CHECK_OK(run(db, q, DAXKV_BACKEND_CPU, &cpu, &cpu_rows));
	CHECK_OK(run(db, q, backend, &dev, &dev_rows));
	CHECK_EQ(dev.backend, want_ran);
	CHECK_EQ(dev.count, cpu.count);
	CHECK_EQ(dev.value, cpu.value);
	CHECK_EQ(dev.records_scanned, cpu.records_scanned);
	CHECK_EQ(dev.bytes_scanned, cpu.bytes_scanned);
	if (q->output == DAXKV_QUERY_ROWS) {
		CHECK_EQ(dev_rows.n, cpu_rows.n);
		CHECK_EQ(dev_rows.key_sum, cpu_rows.key_sum);
		CHECK_EQ(dev_rows.val_sum, cpu_rows.val_sum);
	}
	if (want_ran == DAXKV_BACKEND_CUDA) {
		CHECK(dev.threads >= 1);
		if (staged_forced())
			CHECK_EQ(dev.direct, 0);
	}
}

static void test_available(void)
{
	const char *dir;
	daxkv *db = open_db("avail", &dir);
	int r = daxkv_backend_available(db, DAXKV_BACKEND_CUDA);

	printf("  GPU expected: %s (%s); available: %d (%s)\n",
	       gpu_expected ? "yes" : "no", gpu_why, r,
	       r ? "" : daxkv_errmsg());
	if (gpu_expected) {
		CHECK_EQ(r, 1);
	} else {
		CHECK_EQ(r, 0);
		CHECK_STR_HAS(daxkv_errmsg(), "cuda");
		if (!DK_TEST_WITH_CUDA)
			CHECK_STR_HAS(daxkv_errmsg(), "built without CUDA");
		else
			CHECK_STR_HAS(daxkv_errmsg(), "CUDA");
		/* asked again: the same answer (the probe is cached) */
		CHECK_EQ(daxkv_backend_available(db, DAXKV_BACKEND_CUDA), 0);
	}
	close_db(db, dir);
}

static void test_explicit(void)
{
	const char *dir;
	daxkv *db = open_db("explicit", &dir);
	struct daxkv_query q;
	struct daxkv_query_result res;
	struct rows_seen seen;

	fill_small(db);
	daxkv_query_init(&q);
	if (!gpu_expected) {
		CHECK_RC(run(db, &q, DAXKV_BACKEND_CUDA, &res, &seen),
			 DAXKV_ENOTSUP);
		CHECK_STR_HAS(daxkv_errmsg(), "cuda");
		/* the handle's choice, too */
		CHECK_OK(daxkv_set_backend(db, DAXKV_BACKEND_CUDA));
		CHECK_RC(run(db, &q, DAXKV_BACKEND_DEFAULT, &res, &seen),
			 DAXKV_ENOTSUP);
		close_db(db, dir);
		return;
	}
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	q.output = DAXKV_QUERY_SUM;
	q.field_type = DAXKV_FIELD_UINT;
	q.field_offset = 8;
	q.field_width = 8;
	q.npreds = 1;
	q.preds[0].type = DAXKV_FIELD_UINT;
	q.preds[0].op = DAXKV_OP_LT;
	q.preds[0].offset = 0;
	q.preds[0].width = 4;
	q.preds[0].uval = NSMALL / 2;
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	q.output = DAXKV_QUERY_MIN;
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	q.output = DAXKV_QUERY_MAX;
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	/* every record a row: more than the first row buffer holds */
	q.output = DAXKV_QUERY_ROWS;
	q.npreds = 0;
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	q.prefix = "k0001";
	q.prefixlen = 5;
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	close_db(db, dir);
}

static void test_auto(void)
{
	const char *dir;
	daxkv *db = open_db("auto", &dir);
	struct daxkv_query q;
	struct daxkv_query_result res;
	struct rows_seen seen;

	fill_small(db);
	daxkv_query_init(&q);
	q.npreds = 1;
	q.preds[0].type = DAXKV_FIELD_UINT;
	q.preds[0].op = DAXKV_OP_EQ;
	q.preds[0].offset = 8;
	q.preds[0].width = 1;
	q.preds[0].uval = 42;
	CHECK_OK(run(db, &q, DAXKV_BACKEND_AUTO, &res, &seen));
	printf("  AUTO ran %s\n", daxkv_backend_name((int)res.backend));
	if (gpu_expected)
		CHECK_EQ(res.backend, DAXKV_BACKEND_CUDA);
	else
		CHECK(res.backend != DAXKV_BACKEND_CUDA);
	check_same(db, &q, DAXKV_BACKEND_AUTO, res.backend);
	q.output = DAXKV_QUERY_ROWS;
	check_same(db, &q, DAXKV_BACKEND_AUTO, res.backend);
	close_db(db, dir);
}

/* Values up to DAXKV_MAX_VALUE: a unit then holds one record. */
static void test_big_values(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q;
	const uint32_t cuda = DAXKV_BACKEND_CUDA;
	unsigned char *val;

	if (!gpu_expected) {
		printf("  nothing to compare without a GPU (%s)\n", gpu_why);
		return;
	}
	val = malloc(DAXKV_MAX_VALUE);
	CHECK(val);
	db = open_db("big", &dir);
	for (int i = 0; i < 12; i++) {
		char key[16];
		size_t len = 24;

		if (i % 3 == 0)
			len = DAXKV_MAX_VALUE;
		else if (i % 3 == 1)
			len = 70000; /* beyond the 64 KiB field limit */

		memset(val, 'a' + i, len);
		memcpy(val, &i, sizeof(i));
		snprintf(key, sizeof(key), "big%02d", i);
		CHECK_OK(daxkv_put(db, key, strlen(key), val, len));
	}
	free(val);
	daxkv_query_init(&q);
	check_same(db, &q, cuda, cuda);
	q.output = DAXKV_QUERY_ROWS;
	check_same(db, &q, cuda, cuda);
	/* a field far into the value: only the long values have it */
	q.npreds = 1;
	q.preds[0].type = DAXKV_FIELD_BYTES;
	q.preds[0].op = DAXKV_OP_GE;
	q.preds[0].offset = 65000;
	q.preds[0].width = 2;
	q.preds[0].bytes = "d";
	check_same(db, &q, cuda, cuda);
	q.output = DAXKV_QUERY_SUM;
	q.field_type = DAXKV_FIELD_INT;
	q.field_offset = 0;
	q.field_width = 4;
	check_same(db, &q, cuda, cuda);
	close_db(db, dir);
}

static const struct dk_case cases[] = {
    {"available", test_available},
    {"explicit", test_explicit},
    {"auto", test_auto},
    {"big_values", test_big_values},
};

int main(int argc, char **argv)
{
	probe_gpu();
	return dk_test_main(argc, argv, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
