// SPDX-License-Identifier: MIT
/*
 * rows_test.c -- how a ROWS query delivers (engine/query/rows.c), and SUM
 * overflow.
 *
 * memory      a ROWS query over DAXKV_ROWS_MATCHES (default 10,000,000)
 *             matches, unordered and ORDERED with a limit, stays under a
 *             fixed bound of anonymous memory (sampled by a thread of its
 *             own every millisecond and in every callback): rows stream,
 *             they are not gathered.  Small records (8-byte keys, empty
 *             values) keep the load short.
 * ordered     ORDERED with limits 1, 7, 1000 and beyond the answer: the
 *             smallest keys, in order, as a sorted scan gives them.
 * callback    runs on the calling thread only, one batch at a time, with
 *             4 CPU threads; may query and write the handle; a non-zero
 *             return stops the query, is returned, and the result counts
 *             what was delivered; an unordered limit delivers exactly it.
 * nested      a callback queries the handle while its own query still
 *             runs on a device holding a lock for the run (CUDA) and
 *             waiting for room in the delivery's queue: no deadlock.
 * sum         SUM overflow at the boundaries: UINT at 2^64 - 1 and 2^64,
 *             INT at INT64_MAX / INT64_MIN and one past, sums whose
 *             partial sums overflow but whose total fits, and a version 1
 *             result struct that must not be written past its end.
 *
 * DAXKV_TEST_BACKEND=cpu (default) | kmod | cuda | auto runs the callback
 * and sum cases on that backend (cuda: exit 4 where the driver finds no
 * GPU; a GPU without the backend fails).
 */
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "dk_test.h"
#include "dk_gpu.h"

static int backend = DAXKV_BACKEND_CPU;

static void choose_backend(daxkv *db)
{
	const char *b = getenv("DAXKV_TEST_BACKEND");

	if (!b || !*b || !strcmp(b, "cpu"))
		return;
	backend = !strcmp(b, "kmod") ? DAXKV_BACKEND_KMOD :
		  !strcmp(b, "cuda") ? DAXKV_BACKEND_CUDA :
				       DAXKV_BACKEND_AUTO;
	if (backend != DAXKV_BACKEND_AUTO &&
	    daxkv_backend_available(db, backend) != 1) {
		/* skips (exit 4) only where the driver finds no GPU */
		if (backend == DAXKV_BACKEND_CUDA)
			dk_gpu_need_backend(0, daxkv_errmsg(),
					    "rows_test (cuda)");
		DK_FAIL("backend %s asked for but: %s", b, daxkv_errmsg());
	}
}

static daxkv *open_db(const char *dir)
{
	struct daxkv_options o;
	daxkv *db;

	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	choose_backend(db);
	return db;
}

static void key_of(uint64_t i, uint8_t *k)
{
	for (int b = 0; b < 8; b++)
		k[b] = (uint8_t)(i >> (56 - 8 * b));
}

static uint64_t key_num(const void *key)
{
	const uint8_t *k = key;
	uint64_t i = 0;

	for (int b = 0; b < 8; b++)
		i = i << 8 | k[b];
	return i;
}

/* ---- memory ---- */

struct loader {
	daxkv *db;
	uint64_t first, last;
};

static void *load_range(void *arg)
{
	struct loader *l = arg;
	daxkv_batch *b;
	uint8_t k[8];

	CHECK_OK(daxkv_batch_new(&b));
	for (uint64_t i = l->first; i < l->last;) {
		daxkv_batch_clear(b);
		for (unsigned j = 0; j < 65536 && i < l->last; j++, i++) {
			key_of(i, k);
			CHECK_OK(daxkv_batch_put(b, k, 8, "", 0));
		}
		CHECK_OK(daxkv_batch_commit(l->db, b));
	}
	daxkv_batch_free(b);
	return NULL;
}

/* Anonymous memory of this process, KiB (heap, mallocs, thread stacks:
 * not the segments' file mappings). */
static long rss_anon_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "RssAnon:", 8))
			kib = atol(line + 8);
	fclose(f);
	CHECK(kib >= 0);
	return kib;
}

static long peak_kib;
static int sampling;

static void peak_note(void)
{
	long kib = rss_anon_kib();
	long seen = __atomic_load_n(&peak_kib, __ATOMIC_RELAXED);

	while (kib > seen && !__atomic_compare_exchange_n(
				     &peak_kib, &seen, kib, true,
				     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void *sampler(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&sampling, __ATOMIC_RELAXED)) {
		peak_note();
		usleep(1000);
	}
	return NULL;
}

struct mem_rows {
	uint64_t n, next, calls;
	bool ordered;
};

static int mem_rows_cb(const struct daxkv_row *rows, size_t n, void *arg)
{
	struct mem_rows *m = arg;

	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(rows[i].klen, 8);
		CHECK_EQ(rows[i].vlen, 0);
		if (m->ordered) /* the smallest keys, in order */
			CHECK_EQ(key_num(rows[i].key), m->next++);
	}
	m->n += n;
	if (++m->calls % 64 == 0)
		peak_note();
	return 0;
}

static void test_memory(void)
{
	const char *dir = dk_test_dir("rows-mem");
	uint64_t matches = strtoull(getenv("DAXKV_ROWS_MATCHES") ?
					    getenv("DAXKV_ROWS_MATCHES") :
					    "10000000",
				    NULL, 10);
	const long bound_kib = 64 * 1024; /* far below what gathering takes */
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	struct loader l[2];
	struct daxkv_query q;
	struct mem_rows m;
	pthread_t t[2], s;
	long base;
	daxkv *db;

	db = open_db(dir);
	/* two loaders: keys [0, n/2) and [n/2, n) */
	for (int i = 0; i < 2; i++) {
		l[i].db = db;
		l[i].first = matches / 2 * (uint64_t)i;
		l[i].last = i ? matches : matches / 2;
		CHECK(pthread_create(&t[i], NULL, load_range, &l[i]) == 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);

	for (int ordered = 0; ordered < 2; ordered++) {
		daxkv_query_init(&q);
		q.backend = (uint32_t)backend;
		q.output = DAXKV_QUERY_ROWS;
		q.rows = mem_rows_cb;
		q.arg = &m;
		if (ordered) {
			q.flags = DAXKV_QUERY_ORDERED;
			q.limit = 10000;
		}
		memset(&m, 0, sizeof(m));
		m.ordered = ordered;
		base = rss_anon_kib();
		peak_kib = base;
		__atomic_store_n(&sampling, 1, __ATOMIC_RELAXED);
		CHECK(pthread_create(&s, NULL, sampler, NULL) == 0);
		CHECK_OK(daxkv_query(db, &q, &res));
		__atomic_store_n(&sampling, 0, __ATOMIC_RELAXED);
		pthread_join(s, NULL);
		CHECK_EQ(m.n, ordered ? 10000 : matches);
		CHECK_EQ(res.count, m.n);
		printf("memory: %s ROWS over %llu matches: %llu rows in %llu "
		       "calls, anonymous memory %ld KiB before, peak +%ld KiB "
		       "(bound %ld KiB), %.2f s\n",
		       ordered ? "ORDERED limit 10000" : "unordered",
		       (unsigned long long)matches, (unsigned long long)m.n,
		       (unsigned long long)m.calls, base, peak_kib - base,
		       bound_kib, (double)res.time_ns / 1e9);
		if (peak_kib - base > bound_kib)
			DK_FAIL("peak anonymous memory +%ld KiB, bound %ld KiB",
				peak_kib - base, bound_kib);
	}
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* ---- ordered ---- */

struct collect {
	uint64_t *keys;
	size_t n, cap;
};

static void collect_push(struct collect *c, uint64_t key);

static int collect_rows(const struct daxkv_row *rows, size_t n, void *arg)
{
	struct collect *c = arg;

	for (size_t i = 0; i < n; i++)
		collect_push(c, key_num(rows[i].key));
	return 0;
}

static void collect_push(struct collect *c, uint64_t key)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 1024;
		c->keys = realloc(c->keys, c->cap * sizeof(*c->keys));
		CHECK(c->keys);
	}
	c->keys[c->n++] = key;
}

static int collect_scan(const void *key, size_t klen, const void *val,
			size_t vlen, void *arg)
{
	(void)klen;
	(void)val;
	(void)vlen;
	collect_push(arg, key_num(key));
	return 0;
}

/* @p n keys (a multiple of 5 that 7919 does not divide) in a shuffled
 * order, every fifth deleted, a value whose u32 at 0 is the key's number
 * modulo 10. */
static daxkv *keys_db(const char *dir, uint64_t n)
{
	daxkv *db = open_db(dir);
	uint64_t rng = 3;
	uint32_t val;
	uint8_t k[8];

	for (uint64_t i = 0; i < n; i++) {
		uint64_t id = (i * 7919) % n; /* a permutation */

		key_of(id * 3 + dk_rand(&rng) % 3, k);
		val = (uint32_t)(key_num(k) % 10);
		CHECK_OK(daxkv_put(db, k, 8, &val, sizeof(val)));
		if (i % 5 == 0)
			CHECK_OK(daxkv_delete(db, k, 8));
	}
	return db;
}

/* 20,000 keys, 16,000 live. */
static daxkv *ordered_db(const char *dir)
{
	return keys_db(dir, 20000);
}

static void test_ordered(void)
{
	const char *dir = dk_test_dir("rows-ord");
	daxkv *db = ordered_db(dir);
	struct collect ref = { 0 };
	const uint64_t limits[] = { 1, 7, 1000, 15999, 16000, 16001, 1 << 30 };
	struct daxkv_pred p = {
		.type = DAXKV_FIELD_UINT, .op = DAXKV_OP_LT, .offset = 0,
		.width = 4, .uval = 3,
	};

	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, collect_scan, &ref));
	CHECK_EQ(ref.n, 16000);
	for (int filtered = 0; filtered < 2; filtered++) {
		struct collect want = { 0 };

		/* the reference: the sorted scan, filtered here */
		for (size_t i = 0; i < ref.n; i++)
			if (!filtered || ref.keys[i] % 10 < 3)
				collect_push(&want, ref.keys[i]);
		for (size_t li = 0; li < sizeof(limits) / sizeof(*limits);
		     li++) {
			struct daxkv_query_result res = {
				.version = DAXKV_QUERY_RESULT_VERSION
			};
			struct collect got = { 0 };
			struct daxkv_query q;
			uint64_t expect = limits[li] < want.n ? limits[li] :
								 want.n;

			daxkv_query_init(&q);
			q.backend = (uint32_t)backend;
			q.output = DAXKV_QUERY_ROWS;
			q.flags = DAXKV_QUERY_ORDERED;
			q.limit = limits[li];
			q.rows = collect_rows;
			q.arg = &got;
			if (filtered) {
				q.npreds = 1;
				q.preds[0] = p;
			}
			CHECK_OK(daxkv_query(db, &q, &res));
			CHECK_EQ(got.n, expect);
			CHECK_EQ(res.count, expect);
			for (size_t i = 0; i < got.n; i++)
				if (got.keys[i] != want.keys[i])
					DK_FAIL("limit %llu row %zu: key %llu, "
						"expected %llu",
						(unsigned long long)limits[li],
						i,
						(unsigned long long)got.keys[i],
						(unsigned long long)want.keys[i]);
			free(got.keys);
		}
		free(want.keys);
	}
	free(ref.keys);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* ---- callback ---- */

/*
 * 60,000 keys, 48,000 live rows of 48 bytes: more than the delivery's
 * queue and buffers hold, so that a producer waits for room while the
 * callback runs a nested query (on a device that keeps its lock for a
 * whole run, that wait would never end without dk_rows_nested_query).
 */
#define CB_LIVE 48000

struct cb_state {
	daxkv *db;
	pthread_t caller;
	uint64_t rows, calls;
	uint64_t stop_after; /* return 7 once this many rows are in */
	int inside;          /* atomic: a call in progress */
	bool nested;         /* query and write from inside */
};

static int cb_rows(const struct daxkv_row *rows, size_t n, void *arg)
{
	struct cb_state *s = arg;

	CHECK(pthread_equal(pthread_self(), s->caller));
	CHECK(n >= 1 && n <= 256);
	CHECK_EQ(__atomic_fetch_add(&s->inside, 1, __ATOMIC_SEQ_CST), 0);
	s->rows += n;
	s->calls++;
	if (s->nested && s->calls % 8 == 1) {
		struct daxkv_query q;
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};
		uint8_t k[8];

		daxkv_query_init(&q);
		q.backend = (uint32_t)backend;
		CHECK_OK(daxkv_query(s->db, &q, &res));
		CHECK(res.count >= CB_LIVE);
		key_of(1000000 + s->calls, k);
		CHECK_OK(daxkv_put(s->db, k, 8, "n", 1));
	}
	__atomic_fetch_sub(&s->inside, 1, __ATOMIC_SEQ_CST);
	if (s->stop_after && s->rows >= s->stop_after)
		return 7;
	return 0;
}


static void test_callback(void)
{
	const char *dir = dk_test_dir("rows-cb");
	daxkv *db = keys_db(dir, 60000);
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	struct cb_state s;
	struct daxkv_query q;
	daxkv_snapshot *snap;

	/* pinned to one snapshot: the nested puts are not in the answer */
	CHECK_OK(daxkv_snapshot_open(db, &snap));
	daxkv_query_init(&q);
	q.backend = (uint32_t)backend;
	q.output = DAXKV_QUERY_ROWS;
	q.threads = 4;
	q.rows = cb_rows;
	q.arg = &s;
	q.snap = snap;

	memset(&s, 0, sizeof(s));
	s.db = db;
	s.caller = pthread_self();
	s.nested = true;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(s.rows, CB_LIVE);
	CHECK_EQ(res.count, CB_LIVE);
	CHECK(s.calls >= CB_LIVE / 256);

	/* stop: the callback's value comes back, the count is what it got */
	memset(&s, 0, sizeof(s));
	s.db = db;
	s.caller = pthread_self();
	s.stop_after = 3000;
	CHECK_RC(daxkv_query(db, &q, &res), 7);
	CHECK(s.rows >= 3000 && s.rows < 3000 + 256);
	CHECK_EQ(res.count, s.rows);

	/* an unordered limit: exactly that many */
	memset(&s, 0, sizeof(s));
	s.db = db;
	s.caller = pthread_self();
	q.limit = 4321;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(s.rows, 4321);
	CHECK_EQ(res.count, 4321);
	/* a limit beyond the answer */
	memset(&s, 0, sizeof(s));
	s.db = db;
	s.caller = pthread_self();
	q.limit = 1000000;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(s.rows, CB_LIVE);
	daxkv_snapshot_close(snap);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* ---- nested ---- */

/*
 * A callback that queries the handle while its own query still runs on
 * a device that holds a lock for the whole run (the CUDA backend): 50,000
 * values of 1000 bytes are several of the GPU's staging batches (8 MiB),
 * whose rows fill the delivery's queue, so the run waits for room while
 * the callback's query waits for the run's lock.  The delivery must stop
 * bounding the queue then (dk_rows_nested_query), or neither returns.
 */
struct nested {
	daxkv *db;
	uint64_t rows;
	bool queried;
};

static int nested_rows(const struct daxkv_row *rows, size_t n, void *arg)
{
	struct nested *s = arg;

	(void)rows;
	if (!s->queried) {
		struct daxkv_query q;
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};

		s->queried = true;
		/* let the outer run fill the queue and wait for room */
		usleep(200000);
		daxkv_query_init(&q);
		q.backend = (uint32_t)backend;
		CHECK_OK(daxkv_query(s->db, &q, &res));
		CHECK_EQ(res.count, 50000);
	}
	s->rows += n;
	return 0;
}

static void test_nested(void)
{
	const char *dir = dk_test_dir("rows-nested");
	daxkv *db = open_db(dir);
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	struct nested s = { .db = db };
	struct daxkv_query q;
	static uint8_t val[1000];
	uint8_t k[8];

	for (uint64_t i = 0; i < 50000; i++) {
		key_of(i, k);
		memcpy(val, &i, sizeof(i));
		CHECK_OK(daxkv_put(db, k, 8, val, sizeof(val)));
	}
	daxkv_query_init(&q);
	q.backend = (uint32_t)backend;
	q.output = DAXKV_QUERY_ROWS;
	q.rows = nested_rows;
	q.arg = &s;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK(s.queried);
	CHECK_EQ(s.rows, 50000);
	CHECK_EQ(res.count, 50000);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* ---- sum ---- */

struct sum_case {
	const char *what;
	int is_int;
	unsigned n;
	uint64_t vals[6];
	uint64_t want_value;
	uint32_t want_overflow;
};

static void test_sum(void)
{
	const char *dir = dk_test_dir("rows-sum");
	const uint64_t umax = UINT64_MAX;
	const uint64_t imax = (uint64_t)INT64_MAX, imin = (uint64_t)INT64_MIN;
	const struct sum_case cases[] = {
		{ "u64 sum 2^64-1", 0, 2, { umax - 5, 5 }, umax, 0 },
		{ "u64 sum 2^64", 0, 2, { umax - 5, 6 }, 0, 1 },
		{ "u64 max + max", 0, 2, { umax, umax }, umax - 1, 1 },
		{ "u64 small", 0, 3, { 1, 2, 3 }, 6, 0 },
		{ "i64 INT64_MAX", 1, 2, { imax - 10, 10 }, imax, 0 },
		{ "i64 INT64_MAX+1", 1, 2, { imax - 10, 11 }, imin, 1 },
		{ "i64 INT64_MIN", 1, 2, { imin + 10, (uint64_t)-10 }, imin, 0 },
		{ "i64 INT64_MIN-1", 1, 2, { imin + 10, (uint64_t)-11 }, imax,
		  1 },
		/* partial sums leave int64 both ways, the total fits */
		{ "i64 up and back", 1, 4, { imax, imax, imin, imin + 2 }, 0,
		  0 },
		{ "i64 max + min", 1, 2, { imax, imin }, (uint64_t)-1, 0 },
		{ "i64 all negative", 1, 3, { imin, imin, imin }, imin, 1 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
		const struct sum_case *sc = &cases[c];
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};
		struct daxkv_query q;
		daxkv *db;
		char k[32];

		db = open_db(dir);
		for (unsigned i = 0; i < sc->n; i++) {
			snprintf(k, sizeof(k), "k%u", i);
			CHECK_OK(daxkv_put(db, k, strlen(k), &sc->vals[i], 8));
		}
		daxkv_query_init(&q);
		q.backend = (uint32_t)backend;
		q.output = DAXKV_QUERY_SUM;
		q.field_type = sc->is_int ? DAXKV_FIELD_INT : DAXKV_FIELD_UINT;
		q.field_offset = 0;
		q.field_width = 8;
		CHECK_OK(daxkv_query(db, &q, &res));
		if (res.value != sc->want_value ||
		    res.overflow != sc->want_overflow)
			DK_FAIL("%s: value %#llx overflow %u, expected %#llx "
				"overflow %u",
				sc->what, (unsigned long long)res.value,
				res.overflow,
				(unsigned long long)sc->want_value,
				sc->want_overflow);
		/* a version 1 caller: nothing written past its struct */
		if (c == 1) {
			uint8_t buf[sizeof(struct daxkv_query_result)];
			struct daxkv_query_result *v1 = (void *)buf;
			size_t v1_size = offsetof(struct daxkv_query_result,
						  overflow);

			memset(buf, 0xa5, sizeof(buf));
			v1->version = 1;
			CHECK_OK(daxkv_query(db, &q, v1));
			CHECK_EQ(v1->value, sc->want_value);
			for (size_t i = v1_size; i < sizeof(buf); i++)
				CHECK_EQ(buf[i], 0xa5);
		}
		CHECK_OK(daxkv_close(db));
		dk_rmtree(dir);
	}
	/* a SUM over the 16,000 keys of a smaller field: no overflow */
	{
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};
		struct daxkv_query q;
		daxkv *db = ordered_db(dir);

		daxkv_query_init(&q);
		q.backend = (uint32_t)backend;
		q.output = DAXKV_QUERY_SUM;
		q.field_type = DAXKV_FIELD_UINT;
		q.field_width = 4;
		CHECK_OK(daxkv_query(db, &q, &res));
		CHECK_EQ(res.count, 16000);
		CHECK_EQ(res.overflow, 0);
		CHECK_OK(daxkv_close(db));
		dk_rmtree(dir);
	}
}

static const struct dk_case cases[] = {
	{ "ordered", test_ordered },
	{ "callback", test_callback },
	{ "nested", test_nested },
	{ "sum", test_sum },
	{ "memory", test_memory },
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
