// SPDX-License-Identifier: MIT
/*
 * cuda_backend_test.c -- the CUDA backend is there exactly when a GPU is,
 * and on a GPU answers as the CPU does.
 *
 * Whether this machine has a usable GPU is decided without the library
 * (dk_gpu.h asks the driver).  Then:
 * - no such GPU, or a build without CUDA: daxkv_backend_available() says 0
 *   with a reason, an explicit CUDA query returns DAXKV_ENOTSUP, and AUTO
 *   runs another backend with the same answer as the CPU;
 * - a GPU and a CUDA build: CUDA is available, explicit and AUTO queries
 *   (AUTO's threshold at 0) run on it and agree with the CPU, ROWS byte
 *   for byte, values of 1 MiB and overflowing row buffers included; the
 *   GPU reads the mapping in place (direct == 1) exactly where the device
 *   reports pageable memory access, the database is not on real DAX and
 *   DAXKV_CUDA_STAGED is not set; a small AUTO query stays on the CPU; a
 *   ROWS limit reads little; the caller's current context is the same
 *   after a query.
 * The differential test over random queries is query_test, which ctest
 * runs again as query_cuda with DAXKV_TEST_BACKEND=cuda; the error paths
 * are cuda_fault_test (no GPU needed) and cuda_gpu_fault_test (a real
 * kernel fault).
 */
#include <stdbool.h>

#include "dk_test.h"
#include "dk_gpu.h"
#include "dk_rows.h"

#define NSMALL 20000

static struct dk_gpu gpu;

static bool env_on(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

/* What result.direct must be for a CUDA query on @p db. */
static uint32_t want_direct(daxkv *db)
{
	struct daxkv_stat st = {.version = DAXKV_STAT_VERSION};
	bool dax;

	CHECK_OK(daxkv_stat(db, &st));
	dax = st.durability == DAXKV_DUR_MAP_SYNC ||
	      st.durability == DAXKV_DUR_EADR;
	if (!gpu.pageable || env_on("DAXKV_CUDA_STAGED"))
		return 0;
	return !dax || env_on("DAXKV_CUDA_DIRECT");
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

/* Run @p q on @p backend; with rows, keep them in @p rs. */
static int run(daxkv *db, struct daxkv_query *q, uint32_t backend,
	       struct daxkv_query_result *res, struct dk_rowset *rs)
{
	q->backend = backend;
	if (q->output == DAXKV_QUERY_ROWS) {
		dk_rowset_free(rs);
		q->rows = dk_rows_collect;
		q->arg = rs;
	}
	memset(res, 0, sizeof(*res));
	res->version = DAXKV_QUERY_RESULT_VERSION;
	return daxkv_query(db, q, res);
}

/* @p q gives the same answer on @p backend as on the CPU (ROWS: the same
 * rows, every byte), and ran on @p want_ran. */
static void check_same(daxkv *db, struct daxkv_query *q, uint32_t backend,
		       uint32_t want_ran)
{
	struct daxkv_query_result cpu, dev;
	struct dk_rowset cpu_rows = {0}, dev_rows = {0};

	CHECK_OK(run(db, q, DAXKV_BACKEND_CPU, &cpu, &cpu_rows));
	CHECK_OK(run(db, q, backend, &dev, &dev_rows));
	CHECK_EQ(dev.backend, want_ran);
	CHECK_EQ(dev.count, cpu.count);
	CHECK_EQ(dev.value, cpu.value);
	CHECK_EQ(dev.records_scanned, cpu.records_scanned);
	CHECK_EQ(dev.bytes_scanned, cpu.bytes_scanned);
	CHECK_EQ(dev.fallback_from, 0);
	if (q->output == DAXKV_QUERY_ROWS)
		dk_rowset_same(&cpu_rows, &dev_rows,
			       !(q->flags & DAXKV_QUERY_ORDERED));
	if (want_ran == DAXKV_BACKEND_CUDA) {
		CHECK(dev.threads >= 1);
		CHECK_EQ(dev.direct, want_direct(db));
	}
	dk_rowset_free(&cpu_rows);
	dk_rowset_free(&dev_rows);
}

static void test_available(void)
{
	const char *dir;
	daxkv *db = open_db("avail", &dir);
	int r = daxkv_backend_available(db, DAXKV_BACKEND_CUDA);

	printf("  GPU expected: %s (%s); available: %d (%s)\n",
	       gpu.present ? "yes" : "no", gpu.why, r,
	       r ? "" : daxkv_errmsg());
	if (gpu.present) {
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
	struct dk_rowset seen = {0};

	fill_small(db);
	daxkv_query_init(&q);
	if (!gpu.present) {
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
	q.prefix = NULL;
	q.prefixlen = 0;
	q.lo = "k00002000";
	q.lolen = 9;
	q.hi = "k00009000";
	q.hilen = 9;
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	/* the first rows in key order: the same rows in the same order */
	q.flags = DAXKV_QUERY_ORDERED;
	q.limit = 7;
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	close_db(db, dir);
}

static void test_auto(void)
{
	const char *dir;
	daxkv *db = open_db("auto", &dir);
	struct daxkv_query q;
	struct daxkv_query_result res;
	struct dk_rowset seen = {0};

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
	if (gpu.present)
		CHECK_EQ(res.backend, DAXKV_BACKEND_CUDA);
	else
		CHECK(res.backend != DAXKV_BACKEND_CUDA);
	check_same(db, &q, DAXKV_BACKEND_AUTO, res.backend);
	q.output = DAXKV_QUERY_ROWS;
	check_same(db, &q, DAXKV_BACKEND_AUTO, res.backend);
	/* with the default threshold (64 MiB) this database is too small
	 * for a GPU: AUTO stays on the CPU, GPU or not */
	{
		char *was = getenv("DAXKV_CUDA_AUTO_MIN_BYTES");

		was = was ? strdup(was) : NULL;
		unsetenv("DAXKV_CUDA_AUTO_MIN_BYTES");
		check_same(db, &q, DAXKV_BACKEND_AUTO,
			   gpu.present ? DAXKV_BACKEND_CPU : res.backend);
		if (was)
			setenv("DAXKV_CUDA_AUTO_MIN_BYTES", was, 1);
		free(was);
	}
	close_db(db, dir);
}

/* A ROWS limit without an order: the rows are some of the right ones,
 * and the GPU read a few MiB at most, not the database. */
static void test_rows_limit(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q;
	struct daxkv_query_result res, all;
	struct dk_rowset rs = {0}, every = {0};

	if (!gpu.present) {
		printf("  nothing to compare without a GPU (%s)\n", gpu.why);
		return;
	}
	db = open_db("limit", &dir);
	/* distinct keys, so that matches lie all along the log */
	for (uint64_t i = 0; i < 8 * NSMALL; i++) {
		char key[24];
		uint64_t val[2] = {i, i % 100};

		snprintf(key, sizeof(key), "l%010llu", (unsigned long long)i);
		CHECK_OK(daxkv_put(db, key, strlen(key), val, sizeof(val)));
	}
	daxkv_query_init(&q);
	q.output = DAXKV_QUERY_ROWS;
	CHECK_OK(run(db, &q, DAXKV_BACKEND_CPU, &all, &every));
	qsort(every.rows, every.n, sizeof(struct dk_row), dk_row_cmp);
	q.limit = 10;
	CHECK_OK(run(db, &q, DAXKV_BACKEND_CUDA, &res, &rs));
	CHECK_EQ(res.backend, DAXKV_BACKEND_CUDA);
	CHECK_EQ(rs.n, 10);
	dk_rowset_within(&rs, &every);
	printf("  limit 10: %llu of %llu bytes scanned\n",
	       (unsigned long long)res.bytes_scanned,
	       (unsigned long long)all.bytes_scanned);
	/* two first batches: 1 MiB and 2 MiB (cuda_seam.h) */
	CHECK(res.bytes_scanned <= (3u << 20));
	q.flags = DAXKV_QUERY_ORDERED;
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	dk_rowset_free(&rs);
	dk_rowset_free(&every);
	close_db(db, dir);
}

/*
 * The caller's current CUDA context is the same after a query: with the
 * primary context of device 0 current (as after cudaSetDevice), and with
 * none.  The backend's own context is pushed and popped around its work.
 */
static void test_caller_context(void)
{
	int (*get_current)(void **);
	int (*set_current)(void *);
	int (*retain)(void **, int);
	void *lib, *primary = NULL, *cur = (void *)1;
	const char *dir;
	daxkv *db;
	struct daxkv_query q;

	if (!gpu.present) {
		printf("  nothing to check without a GPU (%s)\n", gpu.why);
		return;
	}
	lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	CHECK(lib);
	*(void **)&get_current = dlsym(lib, "cuCtxGetCurrent");
	*(void **)&set_current = dlsym(lib, "cuCtxSetCurrent");
	*(void **)&retain = dlsym(lib, "cuDevicePrimaryCtxRetain");
	CHECK(get_current && set_current && retain);
	db = open_db("callerctx", &dir);
	fill_small(db);
	daxkv_query_init(&q);
	CHECK_EQ(set_current(NULL), 0);
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	CHECK_EQ(get_current(&cur), 0);
	CHECK(cur == NULL);
	CHECK_EQ(retain(&primary, 0), 0);
	CHECK_EQ(set_current(primary), 0);
	q.output = DAXKV_QUERY_ROWS;
	check_same(db, &q, DAXKV_BACKEND_CUDA, DAXKV_BACKEND_CUDA);
	CHECK_EQ(get_current(&cur), 0);
	CHECK(cur == primary);
	CHECK(primary != NULL);
	close_db(db, dir);
	CHECK_EQ(get_current(&cur), 0);
	CHECK(cur == primary);
	CHECK_EQ(set_current(NULL), 0);
}

/* Values up to DAXKV_MAX_VALUE: a unit then holds one record. */
static void test_big_values(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q;
	const uint32_t cuda = DAXKV_BACKEND_CUDA;
	unsigned char *val;

	if (!gpu.present) {
		printf("  nothing to compare without a GPU (%s)\n", gpu.why);
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
    {"rows_limit", test_rows_limit},
    {"caller_context", test_caller_context},
};

int main(int argc, char **argv)
{
	gpu = dk_gpu_probe();
	/* AUTO takes CUDA for queries of any size here (test_auto checks
	 * the default threshold itself) */
	setenv("DAXKV_CUDA_AUTO_MIN_BYTES", "0", 0);
	return dk_test_main(argc, argv, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
