// SPDX-License-Identifier: MIT
/*
 * reentry_test.c -- calls back into the handle from inside a scan's
 * callback and between a cursor's moves: every public function on the
 * same handle (writes, batches, reads, snapshots, nested scans and
 * cursors, queries, daxkv_compact, figures), with the background
 * compaction thread running, and a put that meets DAXKV_ENOSPC.  Each
 * case finishes under an alarm (a deadlock fails it) with the model's
 * answer: the outer scan or cursor reads its own point in time, the
 * handle (and the reopened database) the model's last state.
 *
 * scan       from inside daxkv_scan's callback
 * cursor     between moves of a cursor, both ways
 * enospc     at max_size: puts from inside a callback meet ENOSPC (the
 *            scan keeps the segments compaction would free) and return;
 *            after the scan, the same puts compact and succeed
 */
#include <signal.h>
#include <unistd.h>

#include "dk_test.h"

#define NKEYS 2000
#define ALARM_S 300

static uint32_t model[NKEYS];  /* version + 1; 0 = absent */
static uint32_t frozen[NKEYS]; /* the outer walk's point in time */
static uint64_t rng;
static daxkv *db;

static int keyname(char *k, uint32_t i)
{
	return sprintf(k, "key%05u", i);
}

static uint32_t keynum(const void *key, size_t klen)
{
	char buf[16];

	CHECK(klen == 8);
	memcpy(buf, key, klen);
	buf[klen] = 0;
	return (uint32_t)atoi(buf + 3);
}

static size_t make_val(uint32_t key, uint32_t ver, uint8_t *v)
{
	size_t len = 8 + (key * 31u + ver * 7u) % 300u;

	memcpy(v, &key, 4);
	memcpy(v + 4, &ver, 4);
	for (size_t i = 8; i < len; i++)
		v[i] = (uint8_t)(key + ver * 3 + i);
	return len;
}

static void check_val(uint32_t key, uint32_t ver, const void *v, size_t len)
{
	uint8_t want[512];
	size_t wlen = make_val(key, ver, want);

	CHECK_EQ(len, wlen);
	CHECK_MEM(v, want, len);
}

static void put_key(uint32_t i)
{
	uint8_t v[512];
	char k[16];
	uint32_t ver = model[i];

	CHECK_OK(daxkv_put(db, k, (size_t)keyname(k, i), v,
			   make_val(i, ver, v)));
	model[i] = ver + 1;
}

static void check_get(uint32_t i)
{
	uint8_t v[512];
	char k[16];
	size_t len;
	int rc = daxkv_get(db, k, (size_t)keyname(k, i), v, sizeof(v), &len);

	if (!model[i]) {
		CHECK_RC(rc, DAXKV_ENOTFOUND);
		return;
	}
	CHECK_OK(rc);
	check_val(i, model[i] - 1, v, len);
}

struct inner_scan {
	uint32_t next, hi, seen;
};

static int inner_cb(const void *key, size_t klen, const void *val,
		    size_t vlen, void *arg)
{
	struct inner_scan *s = arg;
	uint32_t i = keynum(key, klen);

	/* the inner scan is a point in time of its own: the model now */
	while (s->next < i) {
		CHECK_EQ(model[s->next], 0);
		s->next++;
	}
	CHECK(i < s->hi && model[i]);
	check_val(i, model[i] - 1, val, vlen);
	s->next = i + 1;
	s->seen++;
	return 0;
}

static int seg_cb(const struct daxkv_segment_info *info, void *arg)
{
	(*(uint64_t *)arg) += info->live_records;
	return 0;
}

/* One call (or a few) into the handle, chosen at random. */
static void call_in(void)
{
	uint32_t i = (uint32_t)(dk_rand(&rng) % NKEYS);
	char k[16];
	size_t kl = (size_t)keyname(k, i);

	switch (dk_rand(&rng) % 14) {
	case 0:
	case 1:
		put_key(i);
		break;
	case 2:
		CHECK_RC(daxkv_delete(db, k, kl),
			 model[i] ? 0 : DAXKV_ENOTFOUND);
		model[i] = 0;
		break;
	case 3: {
		daxkv_batch *b;
		uint32_t j = (i + 1) % NKEYS;
		uint8_t v[512];
		char kj[16];

		CHECK_OK(daxkv_batch_new(&b));
		CHECK_OK(daxkv_batch_put(b, k, kl, v, make_val(i, model[i], v)));
		CHECK_OK(daxkv_batch_delete(b, kj, (size_t)keyname(kj, j)));
		CHECK_OK(daxkv_batch_commit(db, b));
		daxkv_batch_clear(b);
		daxkv_batch_free(b);
		model[i]++;
		model[j] = 0;
		break;
	}
	case 4:
		check_get(i);
		break;
	case 5: {
		/* a snapshot opened and read in here, a write after it */
		daxkv_snapshot *snap;
		uint8_t v[512];
		size_t len;
		uint32_t before = model[i];

		CHECK_OK(daxkv_snapshot_open(db, &snap));
		put_key(i);
		CHECK_RC(daxkv_get_at(db, snap, k, kl, v, sizeof(v), &len),
			 before ? 0 : DAXKV_ENOTFOUND);
		if (before)
			check_val(i, before - 1, v, len);
		daxkv_snapshot_close(snap);
		break;
	}
	case 6: {
		/* a nested scan over a range */
		struct inner_scan s = { i, i + 50 < NKEYS ? i + 50 : NKEYS, 0 };
		char hi[16];

		keyname(hi, s.hi);
		CHECK_OK(daxkv_scan(db, k, kl, s.hi < NKEYS ? hi : NULL,
				    s.hi < NKEYS ? 8 : 0, inner_cb, &s));
		while (s.next < s.hi)
			CHECK_EQ(model[s.next++], 0);
		break;
	}
	case 7: {
		/* a query counts the model's keys */
		struct daxkv_query q;
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};
		uint64_t live = 0;

		for (uint32_t j = 0; j < NKEYS; j++)
			live += model[j] != 0;
		daxkv_query_init(&q);
		q.backend = DAXKV_BACKEND_CPU;
		q.threads = 1;
		CHECK_OK(daxkv_query(db, &q, &res));
		CHECK_EQ(res.count, live);
		break;
	}
	case 8:
		CHECK_OK(daxkv_compact(db));
		break;
	case 9: {
		struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
		uint64_t recs = 0, live = 0;

		for (uint32_t j = 0; j < NKEYS; j++)
			live += model[j] != 0;
		CHECK_OK(daxkv_stat(db, &st));
		CHECK_EQ(st.keys, live);
		CHECK_OK(daxkv_segment_foreach(db, seg_cb, &recs));
		CHECK_EQ(recs, live);
		break;
	}
	case 10: {
		/* a nested cursor, backwards from here */
		daxkv_cursor *c;
		int rc = 0, steps = 0;
		long at = i;

		CHECK_OK(daxkv_cursor_open(db, NULL, &c));
		for (rc = daxkv_cursor_seek(c, k, kl, DAXKV_SEEK_LE);
		     rc == 0 && steps < 20; rc = daxkv_cursor_prev(c), steps++) {
			const void *key, *val;
			size_t klen, vlen;

			while (at >= 0 && !model[at])
				at--;
			CHECK(at >= 0);
			CHECK_OK(daxkv_cursor_key(c, &key, &klen));
			CHECK_OK(daxkv_cursor_value(c, &val, &vlen));
			CHECK_EQ(keynum(key, klen), (uint32_t)at);
			check_val((uint32_t)at, model[at] - 1, val, vlen);
			at--;
		}
		daxkv_cursor_close(c);
		break;
	}
	case 11: {
		struct daxkv_options o;

		daxkv_options_init(&o);
		CHECK(o.version == DAXKV_OPTIONS_VERSION);
		CHECK(strlen(daxkv_strerror(DAXKV_ENOSPC)) > 0);
		CHECK(daxkv_errmsg() != NULL);
		CHECK(strlen(daxkv_version()) > 0);
		CHECK(strlen(daxkv_durability_name(DAXKV_DUR_EMULATED)) > 0);
		CHECK(strlen(daxkv_backend_name(DAXKV_BACKEND_CPU)) > 0);
		CHECK_OK(daxkv_set_backend(db, DAXKV_BACKEND_CPU));
		CHECK_RC(daxkv_backend_available(db, DAXKV_BACKEND_CPU), 1);
		break;
	}
	case 12: {
		/* a scan at a snapshot opened here */
		daxkv_snapshot *snap;
		struct inner_scan s = { 0, NKEYS, 0 };

		CHECK_OK(daxkv_snapshot_open(db, &snap));
		CHECK_OK(daxkv_scan_at(db, snap, NULL, 0, NULL, 0, inner_cb,
				       &s));
		daxkv_snapshot_close(snap);
		break;
	}
	default:
		/* a burst of updates: work for the compaction thread */
		for (int n = 0; n < 40; n++)
			put_key((uint32_t)(dk_rand(&rng) % NKEYS));
		break;
	}
}

struct outer {
	uint32_t next, seen;
};

/* The outer walk sees frozen[], whatever the calls changed since. */
static void outer_step(struct outer *o, const void *key, size_t klen,
		       const void *val, size_t vlen)
{
	uint32_t i = keynum(key, klen);

	while (o->next < i) {
		CHECK_EQ(frozen[o->next], 0);
		o->next++;
	}
	CHECK(frozen[i]);
	check_val(i, frozen[i] - 1, val, vlen);
	o->next = i + 1;
	o->seen++;
}

static int outer_cb(const void *key, size_t klen, const void *val,
		    size_t vlen, void *arg)
{
	outer_step(arg, key, klen, val, vlen);
	call_in();
	if (dk_rand(&rng) % 4 == 0)
		call_in();
	return 0;
}

static void check_model(void)
{
	struct inner_scan s = { 0, NKEYS, 0 };

	for (uint32_t i = 0; i < NKEYS; i++)
		check_get(i);
	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, inner_cb, &s));
	while (s.next < NKEYS)
		CHECK_EQ(model[s.next++], 0);
}

static void start(const char *dir, struct daxkv_options *o)
{
	alarm(ALARM_S); /* a deadlock: SIGALRM ends the test, failed */
	memset(model, 0, sizeof(model));
	CHECK_OK(daxkv_open(dir, o, &db));
	for (uint32_t i = 0; i < NKEYS; i++)
		if (dk_rand(&rng) % 4)
			put_key(i);
}

static void finish(const char *dir, struct daxkv_options *o)
{
	check_model();
	CHECK_OK(daxkv_close(db));
	CHECK_OK(daxkv_open(dir, o, &db));
	check_model();
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
	alarm(0);
}

static void test_scan(void)
{
	struct daxkv_options o = dk_small_opts();
	const char *dir = dk_test_dir("reentry-scan");

	rng = 11;
	start(dir, &o);
	for (int round = 0; round < 6; round++) {
		struct outer w = { 0, 0 };

		memcpy(frozen, model, sizeof(model));
		CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, outer_cb, &w));
		while (w.next < NKEYS)
			CHECK_EQ(frozen[w.next++], 0);
	}
	finish(dir, &o);
}

static void test_cursor(void)
{
	struct daxkv_options o = dk_small_opts();
	const char *dir = dk_test_dir("reentry-cursor");

	rng = 12;
	start(dir, &o);
	for (int round = 0; round < 6; round++) {
		daxkv_cursor *c;
		uint32_t at;
		int rc;

		memcpy(frozen, model, sizeof(model));
		CHECK_OK(daxkv_cursor_open(db, NULL, &c));
		/* forward to the middle, then back to the start */
		at = 0;
		for (rc = daxkv_cursor_first(c); rc == 0;
		     rc = daxkv_cursor_next(c)) {
			const void *key, *val;
			size_t klen, vlen;

			CHECK_OK(daxkv_cursor_key(c, &key, &klen));
			CHECK_OK(daxkv_cursor_value(c, &val, &vlen));
			for (; at < keynum(key, klen); at++)
				CHECK_EQ(frozen[at], 0);
			CHECK(frozen[at]);
			check_val(at, frozen[at] - 1, val, vlen);
			at++;
			call_in();
			if (at >= NKEYS / 2)
				break; /* and back from this key */
		}
		for (; rc == 0; rc = daxkv_cursor_prev(c)) {
			const void *key, *val;
			size_t klen, vlen;
			uint32_t i;

			CHECK_OK(daxkv_cursor_key(c, &key, &klen));
			CHECK_OK(daxkv_cursor_value(c, &val, &vlen));
			i = keynum(key, klen);
			CHECK(i < at && frozen[i]);
			for (uint32_t j = i + 1; j < at; j++)
				CHECK_EQ(frozen[j], 0);
			check_val(i, frozen[i] - 1, val, vlen);
			at = i;
			call_in();
		}
		CHECK_RC(rc, DAXKV_ENOTFOUND);
		for (uint32_t j = 0; j < at; j++)
			CHECK_EQ(frozen[j], 0);
		daxkv_cursor_close(c);
	}
	finish(dir, &o);
}

/* enospc: inside the callback, puts fill the database to max_size. */
static int enospc_cb(const void *key, size_t klen, const void *val,
		     size_t vlen, void *arg)
{
	int *met = arg;
	uint8_t v[4096];
	char k[16];
	int rc;

	outer_step(&(struct outer){ keynum(key, klen), 0 }, key, klen, val,
		   vlen);
	for (int n = 0; n < 8; n++) {
		uint32_t i = (uint32_t)(dk_rand(&rng) % 100);

		memset(v, (int)i, sizeof(v));
		rc = daxkv_put(db, k, (size_t)keyname(k, i), v, sizeof(v));
		if (rc == DAXKV_ENOSPC) {
			(*met)++;
			/* compaction from in here returns too (ENOSPC
			 * when its copies find no room: the scan holds the
			 * space it would free) */
			rc = daxkv_compact(db);
			CHECK(rc == 0 || rc == DAXKV_ENOSPC);
			return *met >= 3;
		}
		CHECK_OK(rc);
		model[i] = UINT32_MAX; /* 4 KiB, checked by hand below */
	}
	return 0;
}

static void test_enospc(void)
{
	struct daxkv_options o = dk_small_opts();
	const char *dir = dk_test_dir("reentry-enospc");
	uint8_t v[4096];
	int met = 0, rc;
	char k[16];

	rng = 13;
	o.max_size = (8u << 20) + 6 * o.segment_size;
	/* No spare maker and no compaction thread: with them, a put after
	 * the scan can meet ENOSPC while a spare is still being made (it
	 * counts against max_size) or while their compaction holds the
	 * victims, and the test asks that every put after the scan
	 * succeeds once its own compaction has run. */
	o.flags |= DAXKV_OPEN_NOBACKGROUND;
	start(dir, &o);
	memcpy(frozen, model, sizeof(model));
	CHECK_RC(daxkv_scan(db, NULL, 0, NULL, 0, enospc_cb, &met), 1);
	CHECK_EQ(met, 3);
	/* the scan is over: the same puts now compact the dead versions
	 * away and go on */
	for (uint32_t n = 0; n < 2000; n++) {
		uint32_t i = n % 100;

		memset(v, (int)i, sizeof(v));
		rc = daxkv_put(db, k, (size_t)keyname(k, i), v, sizeof(v));
		CHECK_OK(rc);
		model[i] = UINT32_MAX;
	}
	for (uint32_t i = 0; i < NKEYS; i++) {
		uint8_t got[4096];
		size_t len;

		if (model[i] != UINT32_MAX)
			continue;
		CHECK_OK(daxkv_get(db, k, (size_t)keyname(k, i), got,
				   sizeof(got), &len));
		CHECK_EQ(len, sizeof(got));
		memset(v, (int)i, sizeof(v));
		CHECK_MEM(got, v, len);
	}
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
	alarm(0);
}

static const struct dk_case cases[] = {
	{ "scan", test_scan },
	{ "cursor", test_cursor },
	{ "enospc", test_enospc },
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
