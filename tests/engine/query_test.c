// SPDX-License-Identifier: MIT
/*
 * query_test.c -- snapshots and queries, differential against an ordered
 * scan filtered here.
 *
 * The reference answer of a query is daxkv_scan_at() at the query's
 * snapshot, filtered by this file's own evaluator (written from the
 * documentation in daxkv.h, independent of include/daxkv_device.h), so a
 * bug shared by the engine's evaluator and its backends still shows.
 *
 * Backend: DAXKV_TEST_BACKEND=cpu (default) | kmod | cuda | auto.  An
 * explicit kmod run fails when the module is not usable (the VM suite
 * loads it and expects it); cuda exits 4 (skip) when no GPU backend is
 * available, saying why.  Sizes: DAXKV_QUERY_RECORDS (default 100000)
 * and DAXKV_QUERY_COUNT (default 1000 queries).
 */
#include <pthread.h>
#include <time.h>
#include <stdbool.h>

#include "dk_test.h"
#include "dk_gpu.h"

static int backend = DAXKV_BACKEND_CPU;
static const char *backend_env = "cpu";

static unsigned long env_num(const char *name, unsigned long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 10) : dflt;
}

/* ---- The reference ---- */

struct kv {
	uint8_t *key, *val;
	size_t klen, vlen;
};

struct kvset {
	struct kv *v;
	size_t n, cap;
};

static int collect(const void *key, size_t klen, const void *val,
		   size_t vlen, void *arg)
{
	struct kvset *s = arg;
	struct kv *e;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		CHECK(s->v);
	}
	e = &s->v[s->n++];
	e->klen = klen;
	e->vlen = vlen;
	e->key = malloc(klen);
	e->val = malloc(vlen ? vlen : 1);
	CHECK(e->key && e->val);
	memcpy(e->key, key, klen);
	memcpy(e->val, val, vlen);
	return 0;
}

static void kvset_free(struct kvset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].key);
		free(s->v[i].val);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

static uint64_t ref_load(const uint8_t *p, unsigned width, bool is_signed)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)p[i] << (8 * i);
	if (is_signed && width < 8 && (v >> (8 * width - 1)) & 1)
		v |= ~0ull << (8 * width);
	return v;
}

static bool ref_cmp(int c, unsigned op)
{
	switch (op) {
	case DAXKV_OP_EQ: return c == 0;
	case DAXKV_OP_NE: return c != 0;
	case DAXKV_OP_LT: return c < 0;
	case DAXKV_OP_LE: return c <= 0;
	case DAXKV_OP_GT: return c > 0;
	case DAXKV_OP_GE: return c >= 0;
	}
	DK_FAIL("bad op %u", op);
}

static bool ref_match(const struct daxkv_query *q, const struct kv *e)
{
	if (q->lolen && keycmp(e->key, e->klen, q->lo, q->lolen) < 0)
		return false;
	if (q->hilen && keycmp(e->key, e->klen, q->hi, q->hilen) >= 0)
		return false;
	if (q->prefixlen && (e->klen < q->prefixlen ||
			     memcmp(e->key, q->prefix, q->prefixlen)))
		return false;
	for (unsigned i = 0; i < q->npreds; i++) {
		const struct daxkv_pred *p = &q->preds[i];
		int c;

		if (p->offset + p->width > e->vlen)
			return false;
		if (p->type == DAXKV_FIELD_BYTES) {
			c = memcmp(e->val + p->offset, p->bytes, p->width);
		} else if (p->type == DAXKV_FIELD_INT) {
			int64_t v = (int64_t)ref_load(e->val + p->offset,
						      p->width, true);
			c = v < p->ival ? -1 : v > p->ival;
		} else {
			uint64_t v = ref_load(e->val + p->offset, p->width,
					      false);
			c = v < p->uval ? -1 : v > p->uval;
		}
		if (!ref_cmp(c, p->op))
			return false;
	}
	if (q->output >= DAXKV_QUERY_SUM && q->output <= DAXKV_QUERY_MAX &&
	    q->field_offset + q->field_width > e->vlen)
		return false;
	return true;
}

struct ref_answer {
	uint64_t count, value;
	size_t *rows; /* indexes into the kvset, key order */
	size_t nrows;
};

static void ref_eval(const struct daxkv_query *q, const struct kvset *s,
		     struct ref_answer *a)
{
	bool is_signed = q->field_type == DAXKV_FIELD_INT;

	memset(a, 0, sizeof(*a));
	a->rows = malloc((s->n + 1) * sizeof(*a->rows));
	CHECK(a->rows);
	for (size_t i = 0; i < s->n; i++) {
		const struct kv *e = &s->v[i];
		uint64_t v;

		if (!ref_match(q, e))
			continue;
		a->rows[a->nrows++] = i;
		if (q->output < DAXKV_QUERY_SUM || q->output > DAXKV_QUERY_MAX) {
			a->count++;
			continue;
		}
		v = ref_load(e->val + q->field_offset, q->field_width,
			     is_signed);
		if (q->output == DAXKV_QUERY_SUM)
			a->value += v;
		else if (a->count == 0)
			a->value = v;
		else if (q->output == DAXKV_QUERY_MIN ?
				 (is_signed ? (int64_t)v < (int64_t)a->value :
					      v < a->value) :
				 (is_signed ? (int64_t)v > (int64_t)a->value :
					      v > a->value))
			a->value = v;
		a->count++;
	}
}

/* ---- Rows as the query delivers them ---- */

struct got_rows {
	struct kvset rows;
	uint64_t calls;
};

static int got_row_batch(const struct daxkv_row *rows, size_t n, void *arg)
{
	struct got_rows *g = arg;

	CHECK(n >= 1 && n <= 100000);
	g->calls++;
	for (size_t i = 0; i < n; i++)
		collect(rows[i].key, rows[i].klen, rows[i].val, rows[i].vlen,
			&g->rows);
	return 0;
}

static int kv_sort_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;

	return keycmp(x->key, x->klen, y->key, y->klen);
}

/* Is row @p r of the answer equal to reference record @p e? */
static void check_row(const struct kv *r, const struct kv *e)
{
	CHECK_EQ(r->klen, e->klen);
	CHECK_MEM(r->key, e->key, r->klen);
	CHECK_EQ(r->vlen, e->vlen);
	CHECK_MEM(r->val, e->val, r->vlen);
}

/* Find @p r's key in the reference (binary search, key order). */
static const struct kv *ref_find(const struct kvset *s, const struct kv *r)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = keycmp(s->v[mid].key, s->v[mid].klen, r->key, r->klen);

		if (c == 0)
			return &s->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Run @p q and compare with the reference answer over @p ref (the
 * snapshot's ordered scan). */
static void check_query(daxkv *db, struct daxkv_query *q,
			const struct kvset *ref, uint64_t *matched)
{
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	struct ref_answer a;
	struct got_rows got = { 0 };

	ref_eval(q, ref, &a);
	q->backend = (uint32_t)backend;
	if (q->output == DAXKV_QUERY_ROWS) {
		q->rows = got_row_batch;
		q->arg = &got;
	}
	CHECK_OK(daxkv_query(db, q, &res));
	if (backend != DAXKV_BACKEND_AUTO)
		CHECK_EQ(res.backend, backend);
	if (q->snap)
		CHECK_EQ(res.snap_seq, daxkv_snapshot_seq(q->snap));
	if (q->output != DAXKV_QUERY_ROWS) {
		CHECK_EQ(res.count, a.count);
		CHECK_EQ(res.value, a.value);
	} else {
		uint64_t want = a.nrows;

		if (q->limit && want > q->limit)
			want = q->limit;
		CHECK_EQ(res.count, want);
		CHECK_EQ(got.rows.n, want);
		if (q->flags & DAXKV_QUERY_ORDERED) {
			for (size_t i = 0; i < got.rows.n; i++)
				check_row(&got.rows.v[i], &ref->v[a.rows[i]]);
		} else {
			/* any order, no duplicate, each one in the answer */
			if (got.rows.n > 1)
				qsort(got.rows.v, got.rows.n,
				      sizeof(*got.rows.v), kv_sort_cmp);
			for (size_t i = 0; i < got.rows.n; i++) {
				const struct kv *e = ref_find(ref,
							      &got.rows.v[i]);

				CHECK(e);
				check_row(&got.rows.v[i], e);
				CHECK(ref_match(q, e));
				if (i)
					CHECK(kv_sort_cmp(&got.rows.v[i - 1],
							  &got.rows.v[i]) < 0);
			}
		}
	}
	if (!(q->output == DAXKV_QUERY_ROWS && q->limit &&
	      !(q->flags & DAXKV_QUERY_ORDERED)))
		CHECK(res.records_scanned >= a.nrows); /* else it may stop */
	if (matched)
		*matched += a.nrows;
	kvset_free(&got.rows);
	free(a.rows);
}

/* ---- Data ---- */

static const char *const prefixes[] = { "acct/", "blob/", "cust/", "z" };

static size_t make_key(uint64_t *rng, uint64_t id, uint8_t *key)
{
	const char *p = prefixes[id % 4];
	size_t n = strlen(p);

	memcpy(key, p, n);
	/* ids in hex, then 0..7 random tail bytes: varied lengths */
	n += (size_t)sprintf((char *)key + n, "%llx", (unsigned long long)id);
	for (unsigned t = dk_rand(rng) % 8; t; t--)
		key[n++] = (uint8_t)dk_rand(rng);
	return n;
}

/* Values: random length 0..96 (a few much longer), bytes drawn from a
 * small alphabet in the first 16 so that EQ and byte predicates match
 * often, random after. */
static size_t make_val(uint64_t *rng, uint8_t *val)
{
	size_t n = dk_rand(rng) % 97;

	if (dk_rand(rng) % 1000 == 0)
		n = 4000 + dk_rand(rng) % 30000;
	for (size_t i = 0; i < n; i++)
		val[i] = i < 16 ? (uint8_t)(dk_rand(rng) % 4) :
				  (uint8_t)dk_rand(rng);
	return n;
}

struct keyring {
	uint8_t (*keys)[64];
	size_t *klens;
	size_t n;
};

static void load(daxkv *db, uint64_t *rng, size_t nrec, struct keyring *kr)
{
	static uint8_t val[40000];
	daxkv_batch *b;

	kr->keys = calloc(nrec, sizeof(*kr->keys));
	kr->klens = calloc(nrec, sizeof(*kr->klens));
	CHECK(kr->keys && kr->klens);
	kr->n = nrec;
	CHECK_OK(daxkv_batch_new(&b));
	for (size_t i = 0; i < nrec; i++) {
		size_t vlen = make_val(rng, val);

		kr->klens[i] = make_key(rng, i, kr->keys[i]);
		if (i % 10 == 0) {
			/* every tenth write goes through a batch */
			CHECK_OK(daxkv_batch_put(b, kr->keys[i], kr->klens[i],
						 val, vlen));
			CHECK_OK(daxkv_batch_commit(db, b));
			daxkv_batch_clear(b);
		} else {
			CHECK_OK(daxkv_put(db, kr->keys[i], kr->klens[i], val,
					   vlen));
		}
	}
	daxkv_batch_free(b);
}

/* Update 20%, delete 10% (some through batches). */
static void churn(daxkv *db, uint64_t *rng, const struct keyring *kr)
{
	static uint8_t val[40000];
	daxkv_batch *b;

	CHECK_OK(daxkv_batch_new(&b));
	for (size_t i = 0; i < kr->n; i++) {
		uint64_t r = dk_rand(rng) % 10;

		if (r < 2) {
			size_t vlen = make_val(rng, val);

			CHECK_OK(daxkv_put(db, kr->keys[i], kr->klens[i], val,
					   vlen));
		} else if (r == 2) {
			int rc = daxkv_delete(db, kr->keys[i], kr->klens[i]);

			CHECK(rc == 0 || rc == DAXKV_ENOTFOUND);
		} else if (r == 3 && i % 7 == 0) {
			size_t vlen = make_val(rng, val);

			CHECK_OK(daxkv_batch_put(b, kr->keys[i], kr->klens[i],
						 val, vlen));
			CHECK_OK(daxkv_batch_delete(
				b, kr->keys[(i * 31) % kr->n],
				kr->klens[(i * 31) % kr->n]));
			CHECK_OK(daxkv_batch_commit(db, b));
			daxkv_batch_clear(b);
		}
	}
	daxkv_batch_free(b);
}

/* A random query descriptor, operands taken from real records so that
 * EQ and ranges select something. */
static void random_query(uint64_t *rng, const struct kvset *ref,
			 struct daxkv_query *q, uint8_t *keybuf,
			 uint8_t (*bytes)[64])
{
	const struct kv *pick;
	unsigned r;

	daxkv_query_init(q);
	q->threads = (unsigned)(dk_rand(rng) % 4); /* 0 = default */
	r = dk_rand(rng) % 10;
	q->output = r < 3 ? DAXKV_QUERY_COUNT :
		    r < 5 ? DAXKV_QUERY_SUM :
		    r < 6 ? DAXKV_QUERY_MIN :
		    r < 7 ? DAXKV_QUERY_MAX : DAXKV_QUERY_ROWS;
	if (q->output == DAXKV_QUERY_ROWS) {
		if (dk_rand(rng) % 2)
			q->flags |= DAXKV_QUERY_ORDERED;
		if (dk_rand(rng) % 3 == 0)
			q->limit = 1 + dk_rand(rng) % 50;
	}
	if (q->output >= DAXKV_QUERY_SUM && q->output <= DAXKV_QUERY_MAX) {
		static const unsigned w[] = { 1, 2, 4, 8 };

		q->field_type = dk_rand(rng) % 2 ? DAXKV_FIELD_INT :
						   DAXKV_FIELD_UINT;
		q->field_width = w[dk_rand(rng) % 4];
		q->field_offset = (uint32_t)(dk_rand(rng) % 90);
	}
	/* key range: from real keys, sometimes one side only */
	if (ref->n && dk_rand(rng) % 3 == 0) {
		const struct kv *a = &ref->v[dk_rand(rng) % ref->n];
		const struct kv *b = &ref->v[dk_rand(rng) % ref->n];

		if (kv_sort_cmp(a, b) > 0) {
			const struct kv *t = a;

			a = b;
			b = t;
		}
		if (kv_sort_cmp(a, b) != 0) {
			memcpy(keybuf, a->key, a->klen);
			memcpy(keybuf + 1100, b->key, b->klen);
			if (dk_rand(rng) % 4) {
				q->lo = keybuf;
				q->lolen = a->klen;
			}
			if (dk_rand(rng) % 4) {
				q->hi = keybuf + 1100;
				q->hilen = b->klen;
			}
		}
	}
	if (dk_rand(rng) % 4 == 0) {
		q->prefix = prefixes[dk_rand(rng) % 4];
		q->prefixlen = strlen(q->prefix);
		if (dk_rand(rng) % 5 == 0)
			q->prefixlen = 1; /* "a", "b", "c" or "z" */
	}
	q->npreds = (uint32_t)(dk_rand(rng) % (DAXKV_QUERY_MAX_PREDS + 1));
	if (dk_rand(rng) % 2)
		q->npreds = q->npreds % 3;
	pick = ref->n ? &ref->v[dk_rand(rng) % ref->n] : NULL;
	for (unsigned i = 0; i < q->npreds; i++) {
		struct daxkv_pred *p = &q->preds[i];
		static const unsigned w[] = { 1, 2, 4, 8 };
		uint64_t v = 0;

		p->op = (uint32_t)(1 + dk_rand(rng) % 6);
		p->type = (uint32_t)(1 + dk_rand(rng) % 3);
		p->offset = (uint32_t)(dk_rand(rng) % 24);
		if (dk_rand(rng) % 8 == 0)
			p->offset = (uint32_t)(dk_rand(rng) % 100);
		if (p->type == DAXKV_FIELD_BYTES) {
			p->width = (uint32_t)(1 + dk_rand(rng) % 6);
			if (dk_rand(rng) % 10 == 0)
				p->width = (uint32_t)(1 + dk_rand(rng) %
							  DAXKV_QUERY_MAX_BYTES);
			for (unsigned k = 0; k < p->width; k++)
				bytes[i][k] = (uint8_t)(dk_rand(rng) % 4);
			if (pick && p->offset + p->width <= pick->vlen)
				memcpy(bytes[i], pick->val + p->offset,
				       p->width);
			p->bytes = bytes[i];
			continue;
		}
		p->width = w[dk_rand(rng) % 4];
		if (pick && p->offset + p->width <= pick->vlen)
			v = ref_load(pick->val + p->offset, p->width,
				     p->type == DAXKV_FIELD_INT);
		else
			v = ref_load((const uint8_t *)&(uint64_t){ dk_rand(rng) },
				     p->width, p->type == DAXKV_FIELD_INT);
		if (p->type == DAXKV_FIELD_INT)
			p->ival = (int64_t)v;
		else
			p->uval = v;
	}
}

static void open_db(const char *dir, daxkv **dbp)
{
	struct daxkv_options o = dk_small_opts();

	CHECK_OK(daxkv_open(dir, &o, dbp));
}

static void choose_backend(daxkv *db)
{
	if (backend == DAXKV_BACKEND_CPU || backend == DAXKV_BACKEND_AUTO)
		return;
	if (daxkv_backend_available(db, backend) == 1)
		return;
	if (backend == DAXKV_BACKEND_CUDA)
		dk_gpu_need_backend(0, daxkv_errmsg(), "query_test (cuda)");
	DK_FAIL("DAXKV_TEST_BACKEND=%s asked for, but: %s", backend_env,
		daxkv_errmsg());
}

/* ---- Cases ---- */

/* >= 100k records, churned, >= 1000 random queries at an old snapshot
 * (versions superseded since) and at a fresh one. */
static void test_differential(void)
{
	const char *dir = dk_test_dir("qdiff");
	size_t nrec = env_num("DAXKV_QUERY_RECORDS", 100000);
	unsigned long nq = env_num("DAXKV_QUERY_COUNT", 1000);
	static uint8_t keybuf[2200], bytes[DAXKV_QUERY_MAX_PREDS][64];
	struct kvset ref_old = { 0 }, ref_new = { 0 };
	uint64_t rng = 42, matched = 0;
	daxkv_snapshot *old, *now;
	struct keyring kr;
	daxkv *db;

	open_db(dir, &db);
	choose_backend(db);
	load(db, &rng, nrec, &kr);
	churn(db, &rng, &kr);
	CHECK_OK(daxkv_snapshot_open(db, &old));
	CHECK_OK(daxkv_scan_at(db, old, NULL, 0, NULL, 0, collect, &ref_old));
	churn(db, &rng, &kr); /* supersede part of what `old` sees */
	CHECK_OK(daxkv_snapshot_open(db, &now));
	CHECK(daxkv_snapshot_seq(now) > daxkv_snapshot_seq(old));
	CHECK_OK(daxkv_scan_at(db, now, NULL, 0, NULL, 0, collect, &ref_new));
	CHECK(ref_old.n > nrec / 2);
	for (unsigned long i = 0; i < nq; i++) {
		struct daxkv_query q;
		bool at_old = i % 2;
		const struct kvset *ref = at_old ? &ref_old : &ref_new;

		random_query(&rng, ref, &q, keybuf, bytes);
		q.snap = at_old ? old : now;
		check_query(db, &q, ref, &matched);
	}
	/* the queries selected something, not only empty answers */
	CHECK(matched > nq);
	printf("%lu queries over %zu/%zu records, %llu rows matched\n", nq,
	       ref_old.n, ref_new.n, (unsigned long long)matched);
	/* reopen (recovery from the checkpoint): the same answers */
	daxkv_snapshot_close(old);
	daxkv_snapshot_close(now);
	CHECK_OK(daxkv_close(db));
	open_db(dir, &db);
	choose_backend(db);
	rng = 7;
	for (unsigned long i = 0; i < nq / 10; i++) {
		struct daxkv_query q;

		random_query(&rng, &ref_new, &q, keybuf, bytes);
		check_query(db, &q, &ref_new, NULL);
	}
	CHECK_OK(daxkv_close(db));
	kvset_free(&ref_old);
	kvset_free(&ref_new);
	free(kr.keys);
	free(kr.klens);
	dk_rmtree(dir);
}

/* Values under concurrent writes: [u64 version][u32 n][n bytes of
 * pattern(version)], so a torn record shows as a broken pattern. */
static size_t mt_val(uint64_t version, uint8_t *val)
{
	uint64_t s = version;
	uint32_t n = (uint32_t)(version % 200);

	memcpy(val, &version, 8);
	memcpy(val + 8, &n, 4);
	for (uint32_t i = 0; i < n; i++)
		val[12 + i] = (uint8_t)dk_rand(&s);
	return 12 + n;
}

static void mt_check_val(const uint8_t *val, size_t vlen)
{
	uint64_t version;
	uint8_t want[220];

	CHECK(vlen >= 12);
	memcpy(&version, val, 8);
	CHECK_EQ(mt_val(version, want), vlen);
	CHECK_MEM(val, want, vlen);
}

struct mt_writer {
	daxkv *db;
	unsigned id;
	int *stop;
	uint64_t ops;
};

#define MT_KEYS 4000u

static void *mt_writer_run(void *arg)
{
	struct mt_writer *w = arg;
	uint64_t rng = 1000 + w->id, version = (uint64_t)w->id << 48;
	uint8_t val[220], key[16];
	daxkv_batch *b;

	CHECK_OK(daxkv_batch_new(&b));
	while (!__atomic_load_n(w->stop, __ATOMIC_RELAXED)) {
		uint64_t r = dk_rand(&rng);
		int klen = sprintf((char *)key, "k%05u",
				   (unsigned)(r % MT_KEYS));

		version++;
		if (r % 10 < 6) {
			CHECK_OK(daxkv_put(w->db, key, (size_t)klen, val,
					   mt_val(version, val)));
		} else if (r % 10 < 8) {
			int rc = daxkv_delete(w->db, key, (size_t)klen);

			CHECK(rc == 0 || rc == DAXKV_ENOTFOUND);
		} else {
			for (unsigned k = 0; k < 4; k++) {
				klen = sprintf((char *)key, "k%05u",
					       (unsigned)((r >> (8 * k)) %
							  MT_KEYS));
				CHECK_OK(daxkv_batch_put(b, key, (size_t)klen,
							 val,
							 mt_val(++version,
								val)));
			}
			CHECK_OK(daxkv_batch_commit(w->db, b));
			daxkv_batch_clear(b);
		}
		/* paced: the point is overlap with queries, not volume (the
		 * queries scan every version ever written) */
		if (__atomic_add_fetch(&w->ops, 1, __ATOMIC_RELAXED) % 8 == 0)
			usleep(200);
	}
	daxkv_batch_free(b);
	return NULL;
}

static int mt_check_rows(const struct daxkv_row *rows, size_t n, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < n; i++)
		mt_check_val(rows[i].val, rows[i].vlen);
	return 0;
}

/* Queries while writers update, delete and commit batches: each equals
 * the answer at its snapshot, and no row is torn. */
static void test_concurrent(void)
{
	const char *dir = dk_test_dir("qmt");
	unsigned long rounds = env_num("DAXKV_QUERY_MT_ROUNDS", 60);
	struct mt_writer w[2];
	int stop = 0;
	uint64_t rng = 99;
	daxkv *db;

	open_db(dir, &db);
	choose_backend(db);
	for (unsigned i = 0; i < 2; i++)
		w[i] = (struct mt_writer){ .db = db, .id = i, .stop = &stop };
	{
		pthread_t t[2];

		for (unsigned i = 0; i < 2; i++)
			CHECK(pthread_create(&t[i], NULL, mt_writer_run,
					     &w[i]) == 0);
		unsigned long r;

		/* at least `rounds` rounds and min_writes writes overlapping
		 * (DAXKV_QUERY_MT_WRITES, default 20000), but not longer than
		 * 120 s (sanitizer builds are slow) */
		unsigned long min_writes = env_num("DAXKV_QUERY_MT_WRITES",
						   20000);
		uint64_t t_end = (uint64_t)time(NULL) + 120;

		for (r = 0;
		     r < rounds ||
		     (__atomic_load_n(&w[0].ops, __ATOMIC_RELAXED) +
				      __atomic_load_n(&w[1].ops,
						      __ATOMIC_RELAXED) <
			      min_writes &&
		      (uint64_t)time(NULL) < t_end);
		     r++) {
			static uint8_t keybuf[2200], bytes[8][64];
			struct kvset ref = { 0 };
			struct daxkv_query q;
			daxkv_snapshot *s;

			CHECK_OK(daxkv_snapshot_open(db, &s));
			CHECK_OK(daxkv_scan_at(db, s, NULL, 0, NULL, 0,
					       collect, &ref));
			for (size_t i = 0; i < ref.n; i++)
				mt_check_val(ref.v[i].val, ref.v[i].vlen);
			for (unsigned k = 0; k < 5; k++) {
				random_query(&rng, &ref, &q, keybuf, bytes);
				q.snap = s;
				check_query(db, &q, &ref, NULL);
			}
			/* rows of a query with its own snapshot: whole */
			daxkv_query_init(&q);
			q.output = DAXKV_QUERY_ROWS;
			q.backend = (uint32_t)backend;
			q.rows = mt_check_rows;
			CHECK_OK(daxkv_query(db, &q, NULL));
			daxkv_snapshot_close(s);
			kvset_free(&ref);
		}
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
	}
	CHECK(w[0].ops + w[1].ops > rounds);
	printf("%lu+ rounds against %llu concurrent writes\n", rounds,
	       (unsigned long long)(w[0].ops + w[1].ops));
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static int count_rows(const struct daxkv_row *rows, size_t n, void *arg)
{
	(void)rows;
	*(size_t *)arg += n;
	return 0;
}

static int stop_rows(const struct daxkv_row *rows, size_t n, void *arg)
{
	(void)rows;
	(void)n;
	(void)arg;
	return 77;
}

/* Every malformed descriptor is refused with a message naming it. */
static void test_bad_descriptors(void)
{
	const char *dir = dk_test_dir("qbad"), *dir2 = dk_test_dir("qbad2");
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	struct daxkv_query q;
	daxkv_snapshot *other;
	daxkv *db, *db2;
	size_t n = 0;

	open_db(dir, &db);
	open_db(dir2, &db2);
	CHECK_OK(daxkv_put(db, "k1", 2, "\x05\x00\x00\x00", 4));

#define BAD(mutate, needle)                                                    \
	do {                                                                   \
		daxkv_query_init(&q);                                          \
		mutate;                                                        \
		CHECK_RC(daxkv_query(db, &q, &res), DAXKV_EINVAL);             \
		CHECK_STR_HAS(daxkv_errmsg(), needle);                         \
	} while (0)
	BAD(q.version = 99, "version");
	BAD(q.flags = 0x80, "flags");
	BAD(q.output = 0, "output");
	BAD(q.output = 6, "output");
	BAD(q.backend = 9, "backend");
	BAD(q.npreds = DAXKV_QUERY_MAX_PREDS + 1, "predicates");
	BAD((q.npreds = 1, q.preds[0].type = 0, q.preds[0].op = 1,
	     q.preds[0].width = 4), "type");
	BAD((q.npreds = 1, q.preds[0].type = DAXKV_FIELD_UINT,
	     q.preds[0].op = 0, q.preds[0].width = 4), "operator");
	BAD((q.npreds = 1, q.preds[0].type = DAXKV_FIELD_UINT,
	     q.preds[0].op = 7, q.preds[0].width = 4), "operator");
	BAD((q.npreds = 1, q.preds[0].type = DAXKV_FIELD_UINT,
	     q.preds[0].op = 1, q.preds[0].width = 3), "width");
	BAD((q.npreds = 1, q.preds[0].type = DAXKV_FIELD_BYTES,
	     q.preds[0].op = 1, q.preds[0].width = 65,
	     q.preds[0].bytes = "x"), "width");
	BAD((q.npreds = 1, q.preds[0].type = DAXKV_FIELD_BYTES,
	     q.preds[0].op = 1, q.preds[0].width = 1), "NULL");
	BAD((q.npreds = 1, q.preds[0].type = DAXKV_FIELD_UINT,
	     q.preds[0].op = 1, q.preds[0].width = 8,
	     q.preds[0].offset = 65530), "beyond");
	BAD((q.npreds = 1, q.preds[0].type = DAXKV_FIELD_UINT,
	     q.preds[0].op = 1, q.preds[0].width = 1, q.preds[0].uval = 256),
	    "does not fit");
	BAD((q.npreds = 1, q.preds[0].type = DAXKV_FIELD_INT,
	     q.preds[0].op = 1, q.preds[0].width = 1, q.preds[0].ival = -129),
	    "does not fit");
	BAD((q.lo = "b", q.lolen = 1, q.hi = "a", q.hilen = 1), "lo > hi");
	BAD((q.lo = "k1", q.lolen = 2, q.hi = "k", q.hilen = 1), "lo > hi");
	BAD((q.lo = NULL, q.lolen = 3), "lo is NULL");
	BAD((q.prefix = "p", q.prefixlen = DAXKV_MAX_KEY + 1), "prefix");
	BAD(q.output = DAXKV_QUERY_SUM, "aggregated field");
	BAD((q.output = DAXKV_QUERY_MAX, q.field_type = DAXKV_FIELD_BYTES,
	     q.field_width = 4), "aggregated field");
	BAD((q.output = DAXKV_QUERY_MIN, q.field_type = DAXKV_FIELD_INT,
	     q.field_width = 16), "width");
	BAD(q.output = DAXKV_QUERY_ROWS, "callback");
	CHECK_OK(daxkv_snapshot_open(db2, &other));
	BAD(q.snap = other, "another handle");
#undef BAD
	daxkv_query_init(&q);
	CHECK_RC(daxkv_query(NULL, &q, &res), DAXKV_EINVAL);
	CHECK_RC(daxkv_query(db, NULL, &res), DAXKV_EINVAL);
	res.version = 0;
	CHECK_RC(daxkv_query(db, &q, &res), DAXKV_EINVAL);
	res.version = DAXKV_QUERY_RESULT_VERSION;
	CHECK_RC(daxkv_set_backend(db, 0), DAXKV_EINVAL);
	CHECK_RC(daxkv_set_backend(db, 5), DAXKV_EINVAL);
	CHECK_RC(daxkv_set_backend(NULL, DAXKV_BACKEND_CPU), DAXKV_EINVAL);
	CHECK_RC(daxkv_backend_available(db, 17), DAXKV_EINVAL);
	CHECK_EQ(daxkv_backend_available(db, DAXKV_BACKEND_CPU), 1);
	CHECK_EQ(daxkv_backend_available(db, DAXKV_BACKEND_AUTO), 1);

	/* an unavailable backend asked for by name: ENOTSUP, with why */
	for (int b = DAXKV_BACKEND_KMOD; b <= DAXKV_BACKEND_CUDA; b++) {
		if (daxkv_backend_available(db, b) == 1)
			continue;
		daxkv_query_init(&q);
		q.backend = (uint32_t)b;
		CHECK_RC(daxkv_query(db, &q, &res), DAXKV_ENOTSUP);
		CHECK_STR_HAS(daxkv_errmsg(), daxkv_backend_name(b));
		CHECK_OK(daxkv_set_backend(db, b));
		daxkv_query_init(&q);
		CHECK_RC(daxkv_query(db, &q, &res), DAXKV_ENOTSUP);
		CHECK_OK(daxkv_set_backend(db, DAXKV_BACKEND_AUTO));
	}
	/* lo == hi: an empty range, not an error */
	daxkv_query_init(&q);
	q.lo = q.hi = "k1";
	q.lolen = q.hilen = 2;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, 0);
	/* AUTO runs somewhere and says where */
	daxkv_query_init(&q);
	q.backend = DAXKV_BACKEND_AUTO;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, 1);
	CHECK(res.backend >= DAXKV_BACKEND_CPU &&
	      res.backend <= DAXKV_BACKEND_CUDA);
	CHECK(daxkv_backend_available(db, (int)res.backend) == 1);
	CHECK_STR_HAS(daxkv_backend_name(DAXKV_BACKEND_KMOD), "kmod");

	/* the rows callback's stop value comes back */
	daxkv_query_init(&q);
	q.output = DAXKV_QUERY_ROWS;
	q.rows = stop_rows;
	q.backend = (uint32_t)backend;
	CHECK_RC(daxkv_query(db, &q, &res), 77);
	q.rows = count_rows;
	q.arg = &n;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(n, 1);

	/* close refuses while a snapshot is open, and closes nothing */
	CHECK_RC(daxkv_close(db2), DAXKV_EBUSY);
	CHECK_STR_HAS(daxkv_errmsg(), "snapshots");
	CHECK_OK(daxkv_put(db2, "still", 5, "open", 4));
	daxkv_snapshot_close(other);
	daxkv_snapshot_close(NULL);
	CHECK_OK(daxkv_close(db2));
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
	dk_rmtree(dir2);
}

/* Snapshots: point reads and scans see the past; an empty database and
 * records larger than a unit answer right. */
static void test_snapshots(void)
{
	const char *dir = dk_test_dir("qsnap");
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	static uint8_t big[600000];
	struct kvset ref = { 0 };
	struct daxkv_query q;
	daxkv_snapshot *s0, *s1;
	char buf[16];
	size_t vlen;
	daxkv *db;

	open_db(dir, &db);
	choose_backend(db);
	daxkv_query_init(&q);
	q.backend = (uint32_t)backend;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, 0);
	CHECK_OK(daxkv_snapshot_open(db, &s0)); /* empty */
	CHECK_OK(daxkv_put(db, "a", 1, "1", 1));
	CHECK_OK(daxkv_put(db, "b", 1, "2", 1));
	CHECK_OK(daxkv_snapshot_open(db, &s1));
	CHECK_OK(daxkv_put(db, "a", 1, "3", 1));
	CHECK_OK(daxkv_delete(db, "b", 1));
	CHECK_OK(daxkv_put(db, "c", 1, "4", 1));

	CHECK_RC(daxkv_get_at(db, s0, "a", 1, buf, sizeof(buf), &vlen),
		 DAXKV_ENOTFOUND);
	CHECK_OK(daxkv_get_at(db, s1, "a", 1, buf, sizeof(buf), &vlen));
	CHECK(vlen == 1 && buf[0] == '1');
	CHECK_OK(daxkv_get_at(db, s1, "b", 1, buf, sizeof(buf), &vlen));
	CHECK(vlen == 1 && buf[0] == '2');
	CHECK_RC(daxkv_get_at(db, s1, "c", 1, buf, sizeof(buf), &vlen),
		 DAXKV_ENOTFOUND);
	CHECK_OK(daxkv_get_at(db, NULL, "a", 1, buf, sizeof(buf), &vlen));
	CHECK(vlen == 1 && buf[0] == '3');
	CHECK_RC(daxkv_get_at(db, s1, "b", 1, NULL, 5, &vlen), DAXKV_EINVAL);
	CHECK_RC(daxkv_get_at(db, s1, "a", 1, NULL, 0, &vlen), DAXKV_ERANGE);
	CHECK_OK(daxkv_scan_at(db, s1, NULL, 0, NULL, 0, collect, &ref));
	CHECK_EQ(ref.n, 2);
	CHECK(ref.v[0].val[0] == '1' && ref.v[1].val[0] == '2');
	kvset_free(&ref);

	q.snap = s0;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, 0);
	q.snap = s1;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, 2);
	CHECK_EQ(res.snap_seq, daxkv_snapshot_seq(s1));
	q.snap = NULL;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, 2); /* a and c */
	CHECK(res.snap_seq > daxkv_snapshot_seq(s1));

	/* records much larger than a unit, around small ones */
	for (unsigned i = 0; i < 3; i++) {
		char key[8];

		memset(big, 'A' + i, sizeof(big));
		sprintf(key, "big%u", i);
		CHECK_OK(daxkv_put(db, key, strlen(key), big,
				   sizeof(big) - i));
		CHECK_OK(daxkv_put(db, "small", 5, key, 4));
	}
	daxkv_query_init(&q);
	q.backend = (uint32_t)backend;
	q.output = DAXKV_QUERY_COUNT;
	q.npreds = 1;
	q.preds[0] = (struct daxkv_pred){ .type = DAXKV_FIELD_BYTES,
					  .op = DAXKV_OP_EQ,
					  .offset = 599990,
					  .width = 8,
					  .bytes = "BBBBBBBB" };
	/* offset beyond the 64 KiB field limit: refused, even if values
	 * are longer */
	CHECK_RC(daxkv_query(db, &q, &res), DAXKV_EINVAL);
	q.preds[0].offset = 65000;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, 1);
	CHECK(res.bytes_scanned > 3 * 599000);
	daxkv_snapshot_close(s0);
	daxkv_snapshot_close(s1);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static const struct dk_case cases[] = {
	{ "snapshots", test_snapshots },
	{ "bad_descriptors", test_bad_descriptors },
	{ "differential", test_differential },
	{ "concurrent", test_concurrent },
};

int main(int argc, char **argv)
{
	const char *b = getenv("DAXKV_TEST_BACKEND");

	if (b && *b) {
		backend_env = b;
		if (!strcmp(b, "cpu"))
			backend = DAXKV_BACKEND_CPU;
		else if (!strcmp(b, "kmod"))
			backend = DAXKV_BACKEND_KMOD;
		else if (!strcmp(b, "cuda"))
			backend = DAXKV_BACKEND_CUDA;
		else if (!strcmp(b, "auto"))
			backend = DAXKV_BACKEND_AUTO;
		else
			DK_FAIL("DAXKV_TEST_BACKEND=%s: not cpu, kmod, cuda "
				"or auto", b);
	}
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(*cases));
}
