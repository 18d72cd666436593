// SPDX-License-Identifier: MIT
/*
 * cuda_fault_test.c -- the CUDA backend's control flow, on a GPU played by
 * the host (cuda_fake.h), with CUDA calls made to fail.  Runs anywhere the
 * backend compiles; no GPU is used or needed.
 *
 * probe       no driver, no GPU, an old GPU or driver, cuInit failing: not
 *             available, the reason said, no context; AUTO on the CPU
 * threshold   AUTO takes CUDA only for a query of DAXKV_CUDA_AUTO_MIN_BYTES
 *             (default 64 MiB) or more; below it nothing of CUDA is touched;
 *             daxkv_backend_available() probes without a context
 * answers     every output, direct and staged, equals the CPU's (ROWS byte
 *             for byte), through the queued streams, the rows retry, big
 *             values; every pointer given to the device is checked
 * dax         on real DAX (map_sync, eadr) staged unless DAXKV_CUDA_DIRECT=1;
 *             direct on non-DAX where the device reports pageable access
 * bounded     batches within DKC_DIRECT_BATCH_BYTES / the staging buffer,
 *             row buffers within a batch's bytes and trimmed after a query
 * rows_limit  a ROWS limit without order reads about a MiB; with an order,
 *             everything
 * sticky      a kernel fault: the query in hand and later AUTO queries on
 *             the CPU with the right answer, the reason in daxkv_errmsg()
 *             and fallback_from; explicit CUDA: EIO in hand, ENOTSUP after;
 *             no CUDA call after; the context destroyed
 * sticky_call a sticky code returned by a call; an unknown code after which
 *             the context does not synchronise
 * nonsticky   out of device memory, a bad launch, a copy failing with
 *             batches in flight: that query only (AUTO: CPU; explicit:
 *             ENOMEM/EIO), nothing left queued, buffers released, the next
 *             query on CUDA again
 * context     cuCtxCreate out of memory (that query), failing otherwise or
 *             no code for the GPU (dead)
 * close       daxkv_close frees the handle's buffers in the context; after
 *             a GPU error it makes no CUDA call
 * fork        a child forked after cuInit refuses CUDA with the reason; one
 *             forked before probes for itself
 * caller_ctx  the caller's current context is the same after every query,
 *             with one of its own or none
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/wait.h>

#include "dk_test.h"
#include "dk_rows.h"
#include "cuda_fake.h"
#include "internal.h"

static const uint32_t CUDA = DAXKV_BACKEND_CUDA, CPU = DAXKV_BACKEND_CPU,
		      AUTO = DAXKV_BACKEND_AUTO;

/* ---- Databases ---- */

static daxkv *open_db(const char *tag, const char **dirp, uint32_t flags)
{
	struct daxkv_options o;
	daxkv *db;

	daxkv_options_init(&o);
	o.segment_size = 8u << 20;
	/* no background compaction in any case: check_same compares each
	 * answer's records_scanned with the CPU's, and a round between the
	 * two queries (one that drops fill()'s deletes, since #20) changes
	 * them; nothing here is about compaction */
	o.flags |= flags | DAXKV_OPEN_NOCOMPACT;
	*dirp = dk_test_dir(tag);
	CHECK_OK(daxkv_open(*dirp, &o, &db));
	return db;
}

static void close_db(daxkv *db, const char *dir)
{
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/*
 * @p n records: key k%08u, value u64 i, u64 i % 100, then bytes up to
 * @p vlen (at least 16); then every 7th key replaced or deleted, so the
 * version rule has work.
 */
static void fill(daxkv *db, uint32_t n, size_t vlen)
{
	unsigned char *val = malloc(vlen);

	CHECK(val && vlen >= 16);
	for (uint32_t i = 0; i < n; i++) {
		char key[16];
		uint64_t head[2] = {i, i % 100};

		memset(val, (int)(i & 0xff), vlen);
		memcpy(val, head, sizeof(head));
		snprintf(key, sizeof(key), "k%08u", i);
		CHECK_OK(daxkv_put(db, key, strlen(key), val, vlen));
	}
	for (uint32_t i = 0; i < n; i += 7) {
		char key[16];
		uint64_t head[2] = {i + 1, 1000};

		snprintf(key, sizeof(key), "k%08u", i);
		if (i % 2) {
			CHECK_OK(daxkv_delete(db, key, strlen(key)));
		} else {
			memcpy(val, head, sizeof(head));
			CHECK_OK(daxkv_put(db, key, strlen(key), val, vlen));
		}
	}
	free(val);
}

/* A few values of DAXKV_MAX_VALUE and beyond the 64 KiB field limit. */
static void fill_big(daxkv *db)
{
	unsigned char *val = malloc(DAXKV_MAX_VALUE);

	CHECK(val);
	for (int i = 0; i < 6; i++) {
		char key[16];
		size_t len = i % 2 ? 70000 : DAXKV_MAX_VALUE;
		uint64_t head[2] = {(uint64_t)i, 7};

		memset(val, 'a' + i, len);
		memcpy(val, head, sizeof(head));
		snprintf(key, sizeof(key), "big%02d", i);
		CHECK_OK(daxkv_put(db, key, strlen(key), val, len));
	}
	free(val);
}

/* ---- Queries ---- */

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

/* The fake saw nothing wrong, nothing is left queued, and the caller's
 * context (pushed by the case) is current again. */
static void fake_clean(void)
{
	const struct cuda_fake_stats *st = cuda_fake_stats();
	int depth;
	CUcontext cur = cuda_fake_current(&depth);

	CHECK_EQ(st->wrong_ctx, 0);
	CHECK_EQ(st->bad_ptrs, 0);
	CHECK_EQ(st->pending_ops, 0);
	CHECK_EQ(depth, 1);
	CHECK(cur == CUDA_FAKE_CALLER);
}

/* @p q on @p backend answers as on the CPU, and ran on @p want_ran. */
static void check_same(daxkv *db, struct daxkv_query *q, uint32_t backend,
		       uint32_t want_ran, struct daxkv_query_result *out)
{
	struct daxkv_query_result cpu, dev;
	struct dk_rowset cpu_rows = {0}, dev_rows = {0};

	CHECK_OK(run(db, q, CPU, &cpu, &cpu_rows));
	CHECK_OK(run(db, q, backend, &dev, &dev_rows));
	fake_clean();
	CHECK_EQ(dev.backend, want_ran);
	CHECK_EQ(dev.count, cpu.count);
	CHECK_EQ(dev.value, cpu.value);
	CHECK_EQ(dev.records_scanned, cpu.records_scanned);
	CHECK_EQ(dev.bytes_scanned, cpu.bytes_scanned);
	if (q->output == DAXKV_QUERY_ROWS)
		dk_rowset_same(&cpu_rows, &dev_rows,
			       !(q->flags & DAXKV_QUERY_ORDERED));
	if (want_ran == CUDA)
		CHECK(dev.threads >= 1);
	if (out)
		*out = dev;
	dk_rowset_free(&cpu_rows);
	dk_rowset_free(&dev_rows);
}

/* COUNT of everything. */
static struct daxkv_query q_count(void)
{
	struct daxkv_query q;

	daxkv_query_init(&q);
	return q;
}

/* Every output and key filter, on @p backend, each against the CPU. */
static void check_outputs(daxkv *db, uint32_t backend, uint32_t want_ran,
			  uint32_t want_direct)
{
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;

	check_same(db, &q, backend, want_ran, &res);
	CHECK_EQ(res.direct, want_direct);
	q.output = DAXKV_QUERY_SUM;
	q.field_type = DAXKV_FIELD_UINT;
	q.field_offset = 8;
	q.field_width = 8;
	q.npreds = 1;
	q.preds[0].type = DAXKV_FIELD_UINT;
	q.preds[0].op = DAXKV_OP_LT;
	q.preds[0].offset = 0;
	q.preds[0].width = 4;
	q.preds[0].uval = 20000;
	check_same(db, &q, backend, want_ran, NULL);
	q.output = DAXKV_QUERY_MIN;
	q.field_type = DAXKV_FIELD_INT;
	check_same(db, &q, backend, want_ran, NULL);
	q.output = DAXKV_QUERY_MAX;
	check_same(db, &q, backend, want_ran, NULL);
	/* every record a row: more than the first row buffer holds */
	q.output = DAXKV_QUERY_ROWS;
	q.npreds = 0;
	check_same(db, &q, backend, want_ran, &res);
	CHECK_EQ(res.direct, want_direct);
	q.prefix = "k0001";
	q.prefixlen = 5;
	check_same(db, &q, backend, want_ran, NULL);
	q.prefix = NULL;
	q.prefixlen = 0;
	q.lo = "k00002000";
	q.lolen = 9;
	q.hi = "k00009000";
	q.hilen = 9;
	check_same(db, &q, backend, want_ran, NULL);
	/* the first rows in key order: the same ones, in the same order */
	q.flags = DAXKV_QUERY_ORDERED;
	q.limit = 5;
	check_same(db, &q, backend, want_ran, NULL);
	/* a field far into the value: only the long values have it */
	q.flags = 0;
	q.limit = 0;
	q.lo = q.hi = NULL;
	q.lolen = q.hilen = 0;
	q.npreds = 1;
	q.preds[0].type = DAXKV_FIELD_BYTES;
	q.preds[0].op = DAXKV_OP_GE;
	q.preds[0].offset = 65000;
	q.preds[0].width = 2;
	q.preds[0].bytes = "c";
	check_same(db, &q, backend, want_ran, NULL);
}

/* Start a case: the fake as configured, AUTO's threshold at 0 unless a
 * case says otherwise, neither path forced, a caller context current. */
static void start(const struct cuda_fake_config *cfg)
{
	struct cuda_fake_config def;

	if (!cfg) {
		cuda_fake_defaults(&def);
		cfg = &def;
	}
	cuda_fake_install(cfg);
	setenv("DAXKV_CUDA_AUTO_MIN_BYTES", "0", 1);
	unsetenv("DAXKV_CUDA_STAGED");
	unsetenv("DAXKV_CUDA_DIRECT");
	cuda_fake_push_caller();
}

/* ---- Cases ---- */

static void probe_refused(const struct cuda_fake_config *cfg, const char *why)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;
	struct dk_rowset rs = {0};

	start(cfg);
	db = open_db("probe", &dir, 0);
	fill(db, 2000, 16);
	CHECK_EQ(daxkv_backend_available(db, CUDA), 0);
	CHECK_STR_HAS(daxkv_errmsg(), why);
	CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_ENOTSUP);
	CHECK_STR_HAS(daxkv_errmsg(), why);
	/* AUTO: elsewhere, and nothing to report: there is no GPU */
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_EQ(res.fallback_from, 0);
	CHECK_EQ(cuda_fake_stats()->ctx_creates, 0);
	close_db(db, dir);
}

static void test_probe(void)
{
	struct cuda_fake_config cfg;

	cuda_fake_defaults(&cfg);
	cfg.driver = false;
	probe_refused(&cfg, "no CUDA driver");
	cuda_fake_defaults(&cfg);
	cfg.count = 0;
	probe_refused(&cfg, "no CUDA GPU present");
	cuda_fake_defaults(&cfg);
	cfg.major = 6;
	cfg.minor = 1;
	probe_refused(&cfg, "compute capability 6.1");
	cuda_fake_defaults(&cfg);
	cfg.version = 12080;
	probe_refused(&cfg, "supports CUDA 12.8");
	cuda_fake_defaults(&cfg);
	cfg.init_err = CUDA_ERROR_NO_DEVICE;
	probe_refused(&cfg, "cuInit");
}

static void test_threshold(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;
	struct dk_rowset rs = {0};
	char num[32];

	start(NULL);
	unsetenv("DAXKV_CUDA_AUTO_MIN_BYTES");
	db = open_db("threshold", &dir, 0);
	fill(db, 20000, 16);
	/* small: the CPU, and CUDA not even probed */
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_EQ(res.fallback_from, 0);
	CHECK(res.bytes_scanned < DKC_AUTO_MIN_BYTES);
	CHECK_EQ(cuda_fake_stats()->inits, 0);
	CHECK_EQ(cuda_fake_stats()->calls, 0);
	/* asking probes, without a context */
	CHECK_EQ(daxkv_backend_available(db, CUDA), 1);
	CHECK_EQ(cuda_fake_stats()->inits, 1);
	CHECK_EQ(cuda_fake_stats()->ctx_creates, 0);
	check_same(db, &q, AUTO, CPU, NULL);
	CHECK_EQ(cuda_fake_stats()->ctx_creates, 0);
	/* at the threshold: CUDA; one byte short: the CPU */
	snprintf(num, sizeof(num), "%llu",
		 (unsigned long long)res.bytes_scanned);
	setenv("DAXKV_CUDA_AUTO_MIN_BYTES", num, 1);
	check_same(db, &q, AUTO, CUDA, NULL);
	CHECK_EQ(cuda_fake_stats()->ctx_creates, 1);
	snprintf(num, sizeof(num), "%llu",
		 (unsigned long long)res.bytes_scanned + 1);
	setenv("DAXKV_CUDA_AUTO_MIN_BYTES", num, 1);
	check_same(db, &q, AUTO, CPU, NULL);
	/* an explicit choice has no threshold */
	CHECK_OK(run(db, &q, CUDA, &res, &rs));
	CHECK_EQ(res.backend, CUDA);
	CHECK_EQ(cuda_fake_stats()->ctx_creates, 1);
	close_db(db, dir);
}

static void test_answers(void)
{
	const char *dir;
	daxkv *db;
	struct cuda_fake_config cfg;

	start(NULL);
	db = open_db("answers", &dir, DAXKV_OPEN_NOCOMPACT);
	fill(db, 30000, 16);
	fill_big(db);
	check_outputs(db, CUDA, CUDA, 1);
	check_outputs(db, AUTO, CUDA, 1);
	CHECK(cuda_fake_stats()->direct_units > 0);
	CHECK_EQ(cuda_fake_stats()->staged_units, 0);
	/* rows beyond the first row buffer made batches run again */
	CHECK(cuda_fake_stats()->reruns > 0);
	setenv("DAXKV_CUDA_STAGED", "1", 1);
	check_outputs(db, CUDA, CUDA, 0);
	CHECK(cuda_fake_stats()->staged_units > 0);
	close_db(db, dir);

	/* no pageable access: staged, whatever is asked */
	cuda_fake_defaults(&cfg);
	cfg.pageable = 0;
	start(&cfg);
	setenv("DAXKV_CUDA_DIRECT", "1", 1);
	db = open_db("answers", &dir, DAXKV_OPEN_NOCOMPACT);
	fill(db, 5000, 40);
	check_outputs(db, CUDA, CUDA, 0);
	CHECK_EQ(cuda_fake_stats()->direct_units, 0);
	close_db(db, dir);
}

static void test_dax(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;
	const enum daxkv_durability modes[] = {DAXKV_DUR_MAP_SYNC,
					       DAXKV_DUR_EADR};
	enum daxkv_durability was;

	start(NULL);
	db = open_db("dax", &dir, DAXKV_OPEN_NOCOMPACT);
	fill(db, 5000, 16);
	check_same(db, &q, CUDA, CUDA, &res);
	CHECK_EQ(res.direct, 1); /* not DAX, pageable access */
	/* what a query sees of the mapping: the handle's durability, as
	 * daxkv_open found it (here it plays an fsdax mount) */
	was = db->durability;
	for (int i = 0; i < 2; i++) {
		db->durability = modes[i];
		unsetenv("DAXKV_CUDA_DIRECT");
		check_same(db, &q, CUDA, CUDA, &res);
		CHECK_EQ(res.direct, 0);
		q.output = DAXKV_QUERY_ROWS;
		check_same(db, &q, CUDA, CUDA, &res);
		CHECK_EQ(res.direct, 0);
		q.output = DAXKV_QUERY_COUNT;
		setenv("DAXKV_CUDA_DIRECT", "1", 1);
		check_same(db, &q, CUDA, CUDA, &res);
		CHECK_EQ(res.direct, 1);
		/* forcing staged wins over forcing direct */
		setenv("DAXKV_CUDA_STAGED", "1", 1);
		check_same(db, &q, CUDA, CUDA, &res);
		CHECK_EQ(res.direct, 0);
		unsetenv("DAXKV_CUDA_STAGED");
	}
	db->durability = was;
	close_db(db, dir);
}

static void test_bounded(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;
	const struct cuda_fake_stats *st = cuda_fake_stats();
	size_t base;

	start(NULL);
	db = open_db("bounded", &dir, DAXKV_OPEN_NOCOMPACT);
	/* 80 MiB of 256 KiB values, more than one direct batch */
	fill(db, 320, 256u << 10);
	check_same(db, &q, CUDA, CUDA, &res);
	CHECK(res.bytes_scanned > DKC_DIRECT_BATCH_BYTES);
	CHECK(st->max_batch_bytes <= DKC_DIRECT_BATCH_BYTES);
	CHECK(st->launches >= 2);
	base = st->dev_bytes;
	/* rows of about a quarter of it: more than the first row buffer,
	 * never more than a batch's bytes, given back afterwards */
	q.output = DAXKV_QUERY_ROWS;
	q.npreds = 1;
	q.preds[0].type = DAXKV_FIELD_UINT;
	q.preds[0].op = DAXKV_OP_LT;
	q.preds[0].offset = 8;
	q.preds[0].width = 8;
	q.preds[0].uval = 25;
	check_same(db, &q, CUDA, CUDA, &res);
	CHECK(res.count * (256u << 10) > 4 * DKC_ROWS_INITIAL);
	CHECK(st->max_rows_alloc > DKC_ROWS_INITIAL);
	CHECK(st->max_rows_alloc <= DKC_DIRECT_BATCH_BYTES);
	CHECK(st->dev_bytes <= base + DKC_SLOTS * DKC_ROWS_INITIAL);
	/* staged: batches of a staging buffer */
	setenv("DAXKV_CUDA_STAGED", "1", 1);
	check_same(db, &q, CUDA, CUDA, &res);
	CHECK(st->max_rows_alloc <= DKC_DIRECT_BATCH_BYTES);
	q = q_count();
	check_same(db, &q, CUDA, CUDA, &res);
	printf("  largest batch %zu bytes, %u units; largest row buffer %zu; "
	       "device memory kept %zu\n",
	       st->max_batch_bytes, st->max_batch_units, st->max_rows_alloc,
	       st->dev_bytes);
	CHECK(st->dev_bytes <=
	      base + DKC_SLOTS * (DKC_ROWS_INITIAL + DKC_STAGE_BYTES));
	close_db(db, dir);

	/* staged batches of small units: within the staging buffer */
	start(NULL);
	setenv("DAXKV_CUDA_STAGED", "1", 1);
	db = open_db("bounded", &dir, DAXKV_OPEN_NOCOMPACT);
	fill(db, 200000, 64);
	check_same(db, &q, CUDA, CUDA, &res);
	CHECK(res.bytes_scanned > 2 * DKC_STAGE_BYTES);
	CHECK(st->max_batch_bytes <= DKC_STAGE_BYTES);
	CHECK(st->max_batch_units <= DKC_BATCH_UNITS);
	CHECK(st->launches >= 3);
	q.output = DAXKV_QUERY_ROWS;
	check_same(db, &q, CUDA, CUDA, &res);
	CHECK(st->max_rows_alloc <= DKC_STAGE_BYTES);
	close_db(db, dir);
}

static void test_rows_limit(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res, all;
	struct dk_rowset rs = {0}, every = {0};

	start(NULL);
	db = open_db("limit", &dir, DAXKV_OPEN_NOCOMPACT);
	fill(db, 200000, 64);
	q.output = DAXKV_QUERY_ROWS;
	q.npreds = 1;
	q.preds[0].type = DAXKV_FIELD_UINT;
	q.preds[0].op = DAXKV_OP_LT;
	q.preds[0].offset = 8;
	q.preds[0].width = 8;
	q.preds[0].uval = 50;
	CHECK_OK(run(db, &q, CPU, &all, &every));
	qsort(every.rows, every.n, sizeof(struct dk_row), dk_row_cmp);
	for (int mode = 0; mode < 2; mode++) {
		if (mode)
			setenv("DAXKV_CUDA_STAGED", "1", 1);
		q.limit = 10;
		CHECK_OK(run(db, &q, CUDA, &res, &rs));
		fake_clean();
		CHECK_EQ(res.backend, CUDA);
		CHECK_EQ(res.count, 10);
		CHECK_EQ(rs.n, 10);
		dk_rowset_within(&rs, &every);
		printf("  limit 10 (%s): %llu of %llu bytes scanned\n",
		       mode ? "staged" : "direct",
		       (unsigned long long)res.bytes_scanned,
		       (unsigned long long)all.bytes_scanned);
		/* small batches first (1 MiB, then 2 MiB) ... */
		if (mode == 0)
			CHECK(cuda_fake_stats()->max_batch_bytes <=
			      2 * DKC_LIMIT_FIRST_BATCH);
		/* ... whose threads stop once enough rows are found (the
		 * fake runs them one after the other, so the first ones
		 * find them all; on a GPU they race) */
		CHECK(res.bytes_scanned < DKC_LIMIT_FIRST_BATCH / 8);
		/* more than one batch's matches */
		q.limit = all.count / 2;
		CHECK_OK(run(db, &q, CUDA, &res, &rs));
		CHECK_EQ(res.count, all.count / 2);
		dk_rowset_within(&rs, &every);
		/* in key order: every record is read */
		q.flags = DAXKV_QUERY_ORDERED;
		q.limit = 10;
		check_same(db, &q, CUDA, CUDA, &res);
		CHECK_EQ(res.bytes_scanned, all.bytes_scanned);
		q.flags = 0;
	}
	dk_rowset_free(&rs);
	dk_rowset_free(&every);
	close_db(db, dir);
}

/* After a GPU error: the CPU answers AUTO, explicit CUDA is refused with
 * @p why, and no CUDA call is made any more. */
static void check_dead(daxkv *db, const char *why)
{
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;
	struct dk_rowset rs = {0};
	unsigned long calls;

	CHECK_EQ(daxkv_backend_available(db, CUDA), 0);
	CHECK_STR_HAS(daxkv_errmsg(), "disabled");
	CHECK_STR_HAS(daxkv_errmsg(), why);
	/* its context went with the last query in it, and all its memory */
	CHECK_EQ(cuda_fake_stats()->ctx_destroys, 1);
	CHECK_EQ(cuda_fake_stats()->dev_bytes, 0);
	calls = cuda_fake_stats()->calls;
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_EQ(res.fallback_from, CUDA);
	CHECK_STR_HAS(daxkv_errmsg(), why);
	q.output = DAXKV_QUERY_ROWS;
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_EQ(res.fallback_from, CUDA);
	CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_ENOTSUP);
	CHECK_STR_HAS(daxkv_errmsg(), "disabled");
	CHECK_STR_HAS(daxkv_errmsg(), why);
	CHECK_EQ(cuda_fake_stats()->calls, calls);
	fake_clean();
	dk_rowset_free(&rs);
}

static void test_sticky(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;
	struct dk_rowset rs = {0};

	/* AUTO: the query in hand goes to the CPU */
	start(NULL);
	db = open_db("sticky", &dir, 0);
	fill(db, 30000, 16);
	check_same(db, &q, AUTO, CUDA, NULL);
	cuda_fake_fault_kernel(1);
	q.output = DAXKV_QUERY_ROWS;
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_EQ(res.fallback_from, CUDA);
	CHECK_STR_HAS(daxkv_errmsg(), "cudaErrorIllegalAddress");
	CHECK_STR_HAS(daxkv_errmsg(), "cudaStreamSynchronize");
	check_dead(db, "cudaErrorIllegalAddress");
	/* a caller built against result version 1: nothing written past it */
	{
		union {
			struct daxkv_query_result res;
			unsigned char bytes[sizeof(struct daxkv_query_result)];
		} v1;
		size_t end = offsetof(struct daxkv_query_result,
				      fallback_from);

		q = q_count();
		CHECK_OK(run(db, &q, CPU, &res, &rs));
		memset(&v1, 0xab, sizeof(v1));
		v1.res.version = 1;
		q.backend = AUTO;
		CHECK_OK(daxkv_query(db, &q, &v1.res));
		CHECK_EQ(v1.res.count, res.count);
		CHECK_EQ(v1.res.backend, CPU);
		for (size_t i = end; i < sizeof(v1); i++)
			CHECK_EQ(v1.bytes[i], 0xab);
	}
	close_db(db, dir);

	/* explicit: EIO for the query in hand, ENOTSUP after */
	start(NULL);
	db = open_db("sticky", &dir, 0);
	fill(db, 30000, 16);
	q = q_count();
	check_same(db, &q, CUDA, CUDA, NULL);
	cuda_fake_fault_kernel(1);
	CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_EIO);
	CHECK_STR_HAS(daxkv_errmsg(), "cudaErrorIllegalAddress");
	CHECK_STR_HAS(daxkv_errmsg(), "disabled");
	fake_clean();
	check_dead(db, "cudaErrorIllegalAddress");
	/* the handle closes without CUDA */
	{
		unsigned long calls = cuda_fake_stats()->calls;

		close_db(db, dir);
		CHECK_EQ(cuda_fake_stats()->calls, calls);
	}
}

static void test_sticky_call(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;

	/* a code CUDA documents as sticky, returned by a call */
	start(NULL);
	db = open_db("stickycall", &dir, 0);
	fill(db, 20000, 16);
	cuda_fake_fail("copy_async", 3, cudaErrorLaunchFailure);
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_EQ(res.fallback_from, CUDA);
	CHECK_STR_HAS(daxkv_errmsg(), "cudaErrorLaunchFailure");
	check_dead(db, "cudaErrorLaunchFailure");
	close_db(db, dir);

	/* a code not on the list, after which the context does not
	 * synchronise: broken all the same */
	start(NULL);
	db = open_db("stickycall", &dir, 0);
	fill(db, 20000, 16);
	check_same(db, &q, AUTO, CUDA, NULL);
	cuda_fake_break("stream_sync", 1, cudaErrorUnknown);
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_STR_HAS(daxkv_errmsg(), "cudaErrorUnknown");
	CHECK_STR_HAS(daxkv_errmsg(), "then cudaDeviceSynchronize");
	check_dead(db, "cudaErrorUnknown");
	close_db(db, dir);
}

static void test_nonsticky(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;
	struct dk_rowset rs = {0};
	const struct cuda_fake_stats *st = cuda_fake_stats();

	start(NULL);
	db = open_db("nonsticky", &dir, 0);
	fill(db, 20000, 16);
	/* AUTO, the device out of memory: the CPU answers this query */
	cuda_fake_fail("dev_alloc", 1, cudaErrorMemoryAllocation);
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_EQ(res.fallback_from, CUDA);
	CHECK_STR_HAS(daxkv_errmsg(), "cudaErrorMemoryAllocation");
	CHECK_STR_HAS(daxkv_errmsg(), "the CPU answers this query");
	CHECK_EQ(st->last, cudaSuccess); /* cleared: not the caller's */
	CHECK_EQ(st->dev_bytes, 0);	 /* what it had is released */
	CHECK_EQ(daxkv_backend_available(db, CUDA), 1);
	/* ... and the next one runs on CUDA */
	check_same(db, &q, AUTO, CUDA, &res);
	CHECK_EQ(res.fallback_from, 0);
	/* explicit: the error, for that query only */
	cuda_fake_fail("launch", 1, cudaErrorLaunchOutOfResources);
	CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_EIO);
	CHECK_STR_HAS(daxkv_errmsg(), "cudaLaunchKernel");
	CHECK_STR_HAS(daxkv_errmsg(), "cudaErrorLaunchOutOfResources");
	fake_clean();
	cuda_fake_fail("dev_alloc", 2, cudaErrorMemoryAllocation);
	CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_ENOMEM);
	CHECK_STR_HAS(daxkv_errmsg(), "cudaMalloc");
	fake_clean();
	CHECK_EQ(st->dev_bytes, 0);
	check_same(db, &q, CUDA, CUDA, NULL);
	CHECK_EQ(st->ctx_destroys, 0);
	close_db(db, dir);

	/* a copy fails while other batches are queued: nothing is left
	 * running when the query returns (the GPU must not read the
	 * mapping after its snapshot is gone) */
	start(NULL);
	setenv("DAXKV_CUDA_STAGED", "1", 1);
	db = open_db("nonsticky", &dir, DAXKV_OPEN_NOCOMPACT);
	fill(db, 300000, 64);
	for (unsigned nth = 3; nth <= 12; nth += 3) {
		cuda_fake_fail("copy_async", nth, cudaErrorInvalidValue);
		CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_EIO);
		CHECK_STR_HAS(daxkv_errmsg(), "cudaMemcpyAsync");
		fake_clean();
		CHECK_EQ(st->dev_bytes, 0);
		check_same(db, &q, CUDA, CUDA, NULL);
	}
	CHECK(st->launches >= 3);
	close_db(db, dir);
	dk_rowset_free(&rs);
}

static void test_context(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;
	struct dk_rowset rs = {0};
	struct cuda_fake_config cfg;

	/* out of memory creating it: this query only */
	cuda_fake_defaults(&cfg);
	cfg.ctx_err = CUDA_ERROR_OUT_OF_MEMORY;
	start(&cfg);
	db = open_db("context", &dir, 0);
	fill(db, 5000, 16);
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_EQ(res.fallback_from, CUDA);
	CHECK_STR_HAS(daxkv_errmsg(), "cuCtxCreate");
	CHECK_EQ(daxkv_backend_available(db, CUDA), 1);
	check_same(db, &q, AUTO, CUDA, NULL);
	close_db(db, dir);

	cuda_fake_defaults(&cfg);
	cfg.ctx_err = CUDA_ERROR_OUT_OF_MEMORY;
	start(&cfg);
	db = open_db("context", &dir, 0);
	fill(db, 5000, 16);
	CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_ENOMEM);
	CHECK_STR_HAS(daxkv_errmsg(), "cuCtxCreate");
	check_same(db, &q, CUDA, CUDA, NULL);
	close_db(db, dir);

	/* failing otherwise: disabled */
	cuda_fake_defaults(&cfg);
	cfg.ctx_err = CUDA_ERROR_UNKNOWN;
	start(&cfg);
	db = open_db("context", &dir, 0);
	fill(db, 5000, 16);
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_EQ(res.fallback_from, CUDA);
	CHECK_EQ(daxkv_backend_available(db, CUDA), 0);
	CHECK_STR_HAS(daxkv_errmsg(), "cuCtxCreate");
	CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_ENOTSUP);
	fake_clean();
	close_db(db, dir);

	/* no code in the library for this GPU */
	cuda_fake_defaults(&cfg);
	cfg.kernel_err = cudaErrorNoKernelImageForDevice;
	start(&cfg);
	db = open_db("context", &dir, 0);
	fill(db, 5000, 16);
	CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_ENOTSUP);
	CHECK_STR_HAS(daxkv_errmsg(), "no code this GPU runs");
	CHECK_EQ(cuda_fake_stats()->ctx_destroys, 1);
	check_same(db, &q, AUTO, CPU, &res);
	CHECK_EQ(res.fallback_from, CUDA);
	close_db(db, dir);
}

static void test_close(void)
{
	const char *dir;
	daxkv *db, *db2;
	const char *dir2;
	struct daxkv_query q = q_count();
	const struct cuda_fake_stats *st = cuda_fake_stats();

	start(NULL);
	db = open_db("close", &dir, 0);
	db2 = open_db("close2", &dir2, 0);
	fill(db, 5000, 16);
	fill(db2, 5000, 16);
	q.output = DAXKV_QUERY_ROWS;
	check_same(db, &q, CUDA, CUDA, NULL);
	check_same(db2, &q, CUDA, CUDA, NULL);
	CHECK(st->dev_bytes > 0 && st->host_bytes > 0);
	close_db(db, dir);
	fake_clean();
	CHECK(st->dev_bytes > 0); /* db2's */
	close_db(db2, dir2);
	fake_clean();
	CHECK_EQ(st->dev_bytes, 0);
	CHECK_EQ(st->host_bytes, 0);
	CHECK_EQ(st->ctx_destroys, 0); /* the context stays for later */
	/* a handle that never ran a CUDA query closes without CUDA */
	{
		unsigned long calls = st->calls;

		db = open_db("close", &dir, 0);
		close_db(db, dir);
		CHECK_EQ(st->calls, calls);
	}
}

/* In a forked child: CUDA @p usable (probed afresh) or refused with the
 * reason, AUTO's answer right either way; exit status 0 if all held. */
static void child_checks(bool usable)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;
	unsigned long calls = cuda_fake_stats()->calls;

	db = open_db("forkchild", &dir, 0);
	fill(db, 3000, 16);
	if (usable) {
		CHECK_EQ(daxkv_backend_available(db, CUDA), 1);
		check_same(db, &q, AUTO, CUDA, &res);
		CHECK_EQ(cuda_fake_stats()->inits, 1);
		CHECK_EQ(cuda_fake_stats()->ctx_creates, 1);
	} else {
		struct dk_rowset rs = {0};

		CHECK_EQ(daxkv_backend_available(db, CUDA), 0);
		CHECK_STR_HAS(daxkv_errmsg(), "forked");
		check_same(db, &q, AUTO, CPU, &res);
		CHECK_EQ(res.fallback_from, CUDA);
		CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_ENOTSUP);
		CHECK_STR_HAS(daxkv_errmsg(), "forked");
		/* not one CUDA call in the child */
		CHECK_EQ(cuda_fake_stats()->calls, calls);
	}
	/* the close returns in a child too (index.c: liburcu's fork
	 * handlers; index_test fork_close) */
	close_db(db, dir);
	_exit(0);
}

static void fork_and_check(bool usable)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child_checks(usable);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_fork(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();

	/* forked after cuInit: refused, with the reason */
	start(NULL);
	db = open_db("fork", &dir, 0);
	fill(db, 3000, 16);
	check_same(db, &q, CUDA, CUDA, NULL);
	close_db(db, dir);
	fork_and_check(false);
	/* the parent goes on with its context */
	db = open_db("fork", &dir, 0);
	fill(db, 3000, 16);
	check_same(db, &q, AUTO, CUDA, NULL);
	close_db(db, dir);
	CHECK_EQ(cuda_fake_stats()->ctx_creates, 1);

	/* forked before CUDA was touched: the child probes for itself */
	start(NULL);
	unsetenv("DAXKV_CUDA_AUTO_MIN_BYTES");
	db = open_db("fork", &dir, 0);
	fill(db, 3000, 16);
	check_same(db, &q, AUTO, CPU, NULL); /* small: CUDA not probed */
	close_db(db, dir);
	CHECK_EQ(cuda_fake_stats()->inits, 0);
	setenv("DAXKV_CUDA_AUTO_MIN_BYTES", "0", 1);
	fork_and_check(true);
	CHECK_EQ(cuda_fake_stats()->inits, 0);
}

static void test_caller_ctx(void)
{
	const char *dir;
	daxkv *db;
	struct daxkv_query q = q_count();
	struct daxkv_query_result res;
	struct dk_rowset rs = {0};
	struct cuda_fake_config cfg;
	int depth;

	/* no context current on the calling thread: none after */
	cuda_fake_defaults(&cfg);
	cuda_fake_install(&cfg);
	setenv("DAXKV_CUDA_AUTO_MIN_BYTES", "0", 1);
	unsetenv("DAXKV_CUDA_STAGED");
	unsetenv("DAXKV_CUDA_DIRECT");
	db = open_db("callerctx", &dir, 0);
	fill(db, 3000, 16);
	CHECK_OK(run(db, &q, CUDA, &res, &rs));
	CHECK_EQ(res.backend, CUDA);
	CHECK(cuda_fake_current(&depth) == NULL && depth == 0);
	cuda_fake_fault_kernel(1);
	CHECK_RC(run(db, &q, CUDA, &res, &rs), DAXKV_EIO);
	CHECK(cuda_fake_current(&depth) == NULL && depth == 0);
	CHECK_OK(run(db, &q, AUTO, &res, &rs));
	CHECK_EQ(res.backend, CPU);
	CHECK(cuda_fake_current(&depth) == NULL && depth == 0);
	CHECK_EQ(cuda_fake_stats()->wrong_ctx, 0);
	close_db(db, dir);
	CHECK(cuda_fake_current(&depth) == NULL && depth == 0);
}

static const struct dk_case cases[] = {
    {"probe", test_probe},	     {"threshold", test_threshold},
    {"answers", test_answers},	     {"dax", test_dax},
    {"bounded", test_bounded},	     {"rows_limit", test_rows_limit},
    {"sticky", test_sticky},	     {"sticky_call", test_sticky_call},
    {"nonsticky", test_nonsticky},   {"context", test_context},
    {"close", test_close},	     {"fork", test_fork},
    {"caller_ctx", test_caller_ctx},
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
