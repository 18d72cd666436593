// SPDX-License-Identifier: MIT
/*
 * model_test.c -- random put/get/delete/batch/scan sequences checked
 * against an in-memory model, with reopens (by checkpoint and by scan)
 * in between.  `model_test [SEED [OPS]]`; the seed is printed so that a
 * failure can be replayed.
 */
#include "dk_test.h"

#define NKEYS 400

struct mkey {
	uint8_t bytes[24];
	size_t len;
};

static struct mkey keys[NKEYS];   /* sorted bytewise */
static uint8_t *model_val[NKEYS]; /* NULL = absent */
static size_t model_len[NKEYS];
static uint64_t rng;

static int mkey_cmp(const void *a, const void *b)
{
	const struct mkey *x = a, *y = b;
	int c = memcmp(x->bytes, y->bytes, x->len < y->len ? x->len : y->len);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void make_keys(void)
{
	for (int i = 0; i < NKEYS; i++) {
	again:
		if (i > 0 && dk_rand(&rng) % 8 == 0) {
			/* a prefix or extension of an earlier key */
			const struct mkey *base = &keys[dk_rand(&rng) % i];

			keys[i] = *base;
			if (keys[i].len > 1 && dk_rand(&rng) % 2)
				keys[i].len--;
			else if (keys[i].len < sizeof(keys[i].bytes))
				keys[i].bytes[keys[i].len++] =
					(uint8_t)dk_rand(&rng);
		} else {
			keys[i].len = 1 + dk_rand(&rng) % 20;
			for (size_t j = 0; j < keys[i].len; j++)
				keys[i].bytes[j] = (uint8_t)(dk_rand(&rng) % 4 ?
					'a' + dk_rand(&rng) % 26 :
					dk_rand(&rng));
		}
		for (int j = 0; j < i; j++)
			if (!mkey_cmp(&keys[i], &keys[j]))
				goto again;
	}
	qsort(keys, NKEYS, sizeof(keys[0]), mkey_cmp);
}

static size_t rand_vlen(void)
{
	uint64_t r = dk_rand(&rng) % 100;

	if (r < 90)
		return dk_rand(&rng) % 200;
	if (r < 99)
		return 200 + dk_rand(&rng) % 4800;
	return 5000 + dk_rand(&rng) % 95000;
}

static uint8_t *rand_val(size_t len)
{
	uint8_t *v = malloc(len ? len : 1);
	uint64_t x = dk_rand(&rng);

	CHECK(v);
	for (size_t i = 0; i < len; i++)
		v[i] = (uint8_t)(x + i * 131);
	return v;
}

static void model_set(int k, uint8_t *val, size_t len)
{
	free(model_val[k]);
	model_val[k] = val;
	model_len[k] = len;
}

static void check_get(daxkv *db, int k)
{
	static uint8_t buf[100000];
	size_t vlen = 0;
	int rc = daxkv_get(db, keys[k].bytes, keys[k].len, buf, sizeof(buf),
			   &vlen);

	if (!model_val[k]) {
		CHECK_RC(rc, DAXKV_ENOTFOUND);
		return;
	}
	CHECK_OK(rc);
	CHECK_EQ(vlen, model_len[k]);
	CHECK_MEM(buf, model_val[k], vlen);
}

static daxkv *debug_db;

static int dump_cb(const void *key, size_t klen, const void *val,
		   size_t vlen, void *arg)
{
	for (int i = 0; i < NKEYS; i++)
		if (keys[i].len == klen && !memcmp(keys[i].bytes, key, klen))
			fprintf(stderr, "%d ", i);
	return 0;
}

struct scan_check {
	int next; /* model index expected next */
	int hi;
	int seen;
};

static int scan_cb(const void *key, size_t klen, const void *val,
		   size_t vlen, void *arg)
{
	struct scan_check *sc = arg;

	while (sc->next < sc->hi && !model_val[sc->next])
		sc->next++;
	if (sc->next >= sc->hi) {
		int idx = -1;

		for (int i = 0; i < NKEYS; i++)
			if (keys[i].len == klen && !memcmp(keys[i].bytes, key, klen))
				idx = i;
		if (getenv("MODEL_DEBUG"))
			daxkv_scan(debug_db, NULL, 0, NULL, 0, dump_cb, NULL);
		{
			int present = 0;

			for (int i = 0; i < NKEYS; i++)
				present += model_val[i] != NULL;
			DK_FAIL("scan returned key #%d (in model: %s) past the "
				"range end #%d; seen %d, model has %d", idx,
				idx >= 0 && model_val[idx] ? "yes" : "no",
				sc->hi, sc->seen, present);
		}
	}
	CHECK_EQ(klen, keys[sc->next].len);
	CHECK_MEM(key, keys[sc->next].bytes, klen);
	CHECK_EQ(vlen, model_len[sc->next]);
	CHECK_MEM(val, model_val[sc->next], vlen);
	sc->next++;
	sc->seen++;
	return 0;
}

static void check_scan(daxkv *db, int lo, int hi)
{
	struct scan_check sc = { lo, hi, 0 };
	int expect = 0;

	for (int i = lo; i < hi; i++)
		expect += model_val[i] != NULL;
	/* lo == NKEYS: from past the last key, which no model key is */
	static const uint8_t past_all[25] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff };

	CHECK_OK(daxkv_scan(db, lo < NKEYS ? keys[lo].bytes : past_all,
			    lo < NKEYS ? keys[lo].len : sizeof(past_all),
			    hi < NKEYS ? keys[hi].bytes : NULL,
			    hi < NKEYS ? keys[hi].len : 0, scan_cb, &sc));
	CHECK_EQ(sc.seen, expect);
}

int main(int argc, char **argv)
{
	const char *dir;
	struct daxkv_options o = dk_small_opts();
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) :
				   (uint64_t)getpid() * 2654435761u;
	long ops = argc > 2 ? atol(argv[2]) : 40000;
	long reopens = 0, batches = 0, scans = 0;
	daxkv *db;

	if (!getenv("DAXKV_TEST_DIR"))
		setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	printf("model_test seed %llu ops %ld\n", (unsigned long long)seed,
	       ops);
	fflush(stdout);
	rng = seed;
	make_keys();
	dir = dk_test_dir("model");
	CHECK_OK(daxkv_open(dir, &o, &db));
	debug_db = db;
	for (long i = 0; i < ops; i++) {
		uint64_t r = dk_rand(&rng) % 1000;
		int k = (int)(dk_rand(&rng) % NKEYS);

		if (getenv("MODEL_DEBUG")) {
			printf("op %ld r %llu k %d\n", i, (unsigned long long)r, k);
			check_scan(db, 0, NKEYS);
		}

		if (r < 400) {
			size_t len = rand_vlen();
			uint8_t *v = rand_val(len);

			CHECK_OK(daxkv_put(db, keys[k].bytes, keys[k].len, v,
					   len));
			model_set(k, v, len);
		} else if (r < 600) {
			check_get(db, k);
		} else if (r < 750) {
			int rc = daxkv_delete(db, keys[k].bytes, keys[k].len);

			CHECK_RC(rc, model_val[k] ? 0 : DAXKV_ENOTFOUND);
			model_set(k, NULL, 0);
		} else if (r < 850) {
			daxkv_batch *b;
			int n = 1 + (int)(dk_rand(&rng) % 20);

			CHECK_OK(daxkv_batch_new(&b));
			struct {
				int k;
				uint8_t *v;
				size_t len;
				int del;
			} pend[20];
			for (int j = 0; j < n; j++) {
				pend[j].k = (int)(dk_rand(&rng) % NKEYS);
				pend[j].del = dk_rand(&rng) % 4 == 0;
				pend[j].len = pend[j].del ? 0 : rand_vlen() % 3000;
				pend[j].v = pend[j].del ? NULL :
							  rand_val(pend[j].len);
				if (pend[j].del)
					CHECK_OK(daxkv_batch_delete(
						b, keys[pend[j].k].bytes,
						keys[pend[j].k].len));
				else
					CHECK_OK(daxkv_batch_put(
						b, keys[pend[j].k].bytes,
						keys[pend[j].k].len, pend[j].v,
						pend[j].len));
			}
			CHECK_OK(daxkv_batch_commit(db, b));
			daxkv_batch_free(b);
			for (int j = 0; j < n; j++)
				model_set(pend[j].k, pend[j].v, pend[j].len);
			batches++;
		} else if (r < 950) {
			int lo = (int)(dk_rand(&rng) % (NKEYS + 1));
			int hi = lo + (int)(dk_rand(&rng) % (NKEYS + 1 - lo));

			check_scan(db, lo, hi);
			scans++;
		} else if (r < 990) {
			check_get(db, k);
			check_get(db, (k + 1) % NKEYS);
		} else {
			if (getenv("MODEL_DEBUG"))
				printf("reopen at op %ld\n", i);
			CHECK_OK(daxkv_close(db));
			o.flags = dk_rand(&rng) % 2 ? DAXKV_OPEN_NOCHECKPOINT : 0;
			CHECK_OK(daxkv_open(dir, &o, &db));
			debug_db = db;
			reopens++;
		}
	}
	check_scan(db, 0, NKEYS);
	for (int k = 0; k < NKEYS; k++)
		check_get(db, k);
	CHECK_OK(daxkv_close(db));
	CHECK_OK(daxkv_open(dir, &o, &db));
	check_scan(db, 0, NKEYS);
	CHECK_OK(daxkv_close(db));
	for (int k = 0; k < NKEYS; k++)
		free(model_val[k]);
	dk_rmtree(dir);
	printf("model_test: %ld ops, %ld batches, %ld scans, %ld reopens\n",
	       ops, batches, scans, reopens);
	printf("1 passed, 0 failed\n");
	return 0;
}
