// SPDX-License-Identifier: MIT
/*
 * index_test.c -- the ordered index, its cursors and the removal of
 * deleted keys, against a model (white-box: the tree's invariants and
 * the index's figures come from the engine's headers).
 *
 * tree_model      random puts, deletes and batches over keys that share
 *                 long prefixes and are prefixes of each other; the tree's
 *                 invariants, a scan and a reverse cursor walk against the
 *                 model, and entries == live keys (no snapshot: a delete
 *                 removes its entry at once), across reopens by
 *                 checkpoint and by scan (the bulk builds).
 * cursor_moves    every kind of move on small sets of keys (empty, one,
 *                 many), seeks between and beyond keys, turning around,
 *                 the copying access and its ERANGE.
 * cursor_pit      a cursor reads its point in time while keys are
 *                 written, deleted and compacted between its moves; one
 *                 over a public snapshot likewise.
 * churn           unique keys inserted then deleted, round after round:
 *                 entries fall back to 0, the index's bytes to where they
 *                 started, and the arena stops growing (memory reused).
 * snapshot_holds  deletes under an open snapshot keep their entries (the
 *                 snapshot reads the values); once it closes, writers and
 *                 the compaction thread remove them.
 * fork_close      a child forked while a handle is open (its compaction
 *                 and call_rcu threads running) opens, uses and closes
 *                 a handle of its own: the close returns (liburcu's fork
 *                 handlers, index.c), and so does the parent's.
 * reput_rdonly    keys deleted (entries removed) and put again, then a
 *                 crash: a read-only open counts no stale mark.
 */
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dk_test.h"

#include "arena.h"
#include "btree.h"
#include "index.h"
#include "internal.h"

struct mkey {
	uint8_t bytes[40];
	size_t len;
};

static int mkey_cmp(const void *a, const void *b)
{
	const struct mkey *x = a, *y = b;

	return dk_keycmp(x->bytes, x->len, y->bytes, y->len);
}

/* @p n distinct keys, sorted: long shared prefixes, prefixes of each
 * other, a few bytes 0x00 and 0xff. */
static struct mkey *make_keys(uint64_t *rng, size_t n)
{
	struct mkey *k = calloc(n, sizeof(*k));
	size_t i = 0;

	CHECK(k);
	while (i < n) {
		struct mkey c;
		uint64_t r = dk_rand(rng) % 10;

		if (i && r < 3) {
			/* a prefix or an extension of an earlier key */
			c = k[dk_rand(rng) % i];
			if (c.len > 1 && r == 0)
				c.len--;
			else if (c.len < sizeof(c.bytes))
				c.bytes[c.len++] = (uint8_t)(dk_rand(rng) % 3 ?
					'0' + dk_rand(rng) % 10 :
					(dk_rand(rng) % 2 ? 0x00 : 0xff));
		} else {
			int n0 = r < 7 ? 18 : 2; /* "user000000000000..." */

			c.len = (size_t)n0 + 1 + dk_rand(rng) % 12;
			memcpy(c.bytes, "user00000000000000000", (size_t)n0);
			for (size_t j = (size_t)n0; j < c.len; j++)
				c.bytes[j] = (uint8_t)('0' + dk_rand(rng) % 10);
		}
		k[i] = c;
		/* distinct: checked after sorting */
		i++;
		if (i == n) {
			size_t w = 1;

			qsort(k, n, sizeof(*k), mkey_cmp);
			for (size_t j = 1; j < n; j++)
				if (mkey_cmp(&k[j], &k[w - 1]))
					k[w++] = k[j];
			i = w;
		}
	}
	return k;
}

/* The model: a value per key (its length; 0 = absent, lengths are
 * value + 1) and a generation mixed into the value bytes. */
struct model {
	struct mkey *keys;
	size_t n;
	uint32_t *len; /* value length + 1; 0 = absent */
	uint32_t *gen;
};

static size_t val_of(const struct model *m, size_t i, uint8_t *v)
{
	size_t len = m->len[i] - 1;

	for (size_t j = 0; j < len; j++)
		v[j] = (uint8_t)(i * 7 + m->gen[i] * 13 + j);
	return len;
}

static void model_init(struct model *m, uint64_t *rng, size_t n)
{
	m->keys = make_keys(rng, n);
	m->n = n;
	m->len = calloc(n, sizeof(*m->len));
	m->gen = calloc(n, sizeof(*m->gen));
	CHECK(m->len && m->gen);
}

static void model_free(struct model *m)
{
	free(m->keys);
	free(m->len);
	free(m->gen);
}

static size_t model_live(const struct model *m)
{
	size_t live = 0;

	for (size_t i = 0; i < m->n; i++)
		live += m->len[i] != 0;
	return live;
}

static void do_put(daxkv *db, struct model *m, size_t i, size_t vlen)
{
	uint8_t v[300];

	m->gen[i]++;
	m->len[i] = (uint32_t)vlen + 1;
	val_of(m, i, v);
	CHECK_OK(daxkv_put(db, m->keys[i].bytes, m->keys[i].len, v, vlen));
}

static void do_del(daxkv *db, struct model *m, size_t i)
{
	CHECK_RC(daxkv_delete(db, m->keys[i].bytes, m->keys[i].len),
		 m->len[i] ? 0 : DAXKV_ENOTFOUND);
	m->len[i] = 0;
}

struct scan_ck {
	const struct model *m;
	size_t next, seen;
};

static int scan_ck_cb(const void *key, size_t klen, const void *val,
		      size_t vlen, void *arg)
{
	struct scan_ck *c = arg;
	uint8_t want[300];

	while (c->next < c->m->n && !c->m->len[c->next])
		c->next++;
	CHECK(c->next < c->m->n);
	CHECK_EQ(klen, c->m->keys[c->next].len);
	CHECK_MEM(key, c->m->keys[c->next].bytes, klen);
	CHECK_EQ(vlen, val_of(c->m, c->next, want));
	CHECK_MEM(val, want, vlen);
	c->next++;
	c->seen++;
	return 0;
}

/* Forward by scan, backward by cursor: both equal the model. */
static void check_all(daxkv *db, const struct model *m)
{
	struct scan_ck c = { m, 0, 0 };
	daxkv_cursor *cur;
	size_t i = m->n, seen = 0;
	int rc;

	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, scan_ck_cb, &c));
	CHECK_EQ(c.seen, model_live(m));
	CHECK_OK(daxkv_cursor_open(db, NULL, &cur));
	for (rc = daxkv_cursor_last(cur); rc == 0; rc = daxkv_cursor_prev(cur)) {
		const void *k, *v;
		size_t kl, vl;
		uint8_t want[300];

		while (i > 0 && !m->len[i - 1])
			i--;
		CHECK(i > 0);
		i--;
		CHECK_OK(daxkv_cursor_key(cur, &k, &kl));
		CHECK_OK(daxkv_cursor_value(cur, &v, &vl));
		CHECK_EQ(kl, m->keys[i].len);
		CHECK_MEM(k, m->keys[i].bytes, kl);
		CHECK_EQ(vl, val_of(m, i, want));
		CHECK_MEM(v, want, vl);
		seen++;
	}
	CHECK_RC(rc, DAXKV_ENOTFOUND);
	CHECK_EQ(seen, model_live(m));
	daxkv_cursor_close(cur);
}

static void check_tree(daxkv *db, uint64_t want_entries)
{
	uint64_t n = 0, entries, bytes;
	char msg[256];

	if (dk_tree_check(db, &n, msg, sizeof(msg)))
		DK_FAIL("tree: %s", msg);
	CHECK_EQ(n, want_entries);
	dk_index_usage(db, &entries, &bytes);
	CHECK_EQ(entries, want_entries);
}

static void test_tree_model(void)
{
	uint64_t rng = 17;
	struct daxkv_options o = dk_small_opts();
	const char *dir = dk_test_dir("idx-model");
	struct model m;
	daxkv *db;

	o.flags |= DAXKV_OPEN_NOCOMPACT;
	model_init(&m, &rng, 6000);
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (int round = 0; round < 8; round++) {
		for (int op = 0; op < 20000; op++) {
			size_t i = dk_rand(&rng) % m.n;
			uint64_t r = dk_rand(&rng) % 100;

			/* rounds alternate growing and shrinking */
			if (r < (round % 2 ? 35u : 70u))
				do_put(db, &m, i, dk_rand(&rng) % 120);
			else if (r < 98)
				do_del(db, &m, i);
			else {
				daxkv_batch *b;
				size_t j = dk_rand(&rng) % m.n;

				CHECK_OK(daxkv_batch_new(&b));
				m.gen[i]++;
				m.len[i] = 5;
				{
					uint8_t v[8];

					val_of(&m, i, v);
					CHECK_OK(daxkv_batch_put(
						b, m.keys[i].bytes,
						m.keys[i].len, v, 4));
				}
				if (j != i) {
					CHECK_OK(daxkv_batch_delete(
						b, m.keys[j].bytes,
						m.keys[j].len));
					m.len[j] = 0;
				}
				CHECK_OK(daxkv_batch_commit(db, b));
				daxkv_batch_free(b);
			}
		}
		check_tree(db, model_live(&m));
		check_all(db, &m);
		/* bulk builds: from the checkpoint, then from a scan */
		CHECK_OK(daxkv_close(db));
		o.flags = DAXKV_OPEN_NOCOMPACT |
			  (round % 2 ? DAXKV_OPEN_NOCHECKPOINT : 0);
		CHECK_OK(daxkv_open(dir, &o, &db));
		check_tree(db, model_live(&m));
		check_all(db, &m);
	}
	CHECK_OK(daxkv_close(db));
	model_free(&m);
	dk_rmtree(dir);
}

/* Where a cursor must be: the model's index, or -1 for no key. */
static void expect_at(daxkv_cursor *cur, int rc, const struct model *m,
		      long want)
{
	const void *k, *v;
	size_t kl, vl;

	if (want < 0) {
		CHECK_RC(rc, DAXKV_ENOTFOUND);
		CHECK_RC(daxkv_cursor_key(cur, &k, &kl), DAXKV_ENOTFOUND);
		return;
	}
	CHECK_OK(rc);
	CHECK_OK(daxkv_cursor_key(cur, &k, &kl));
	CHECK_OK(daxkv_cursor_value(cur, &v, &vl));
	CHECK_EQ(kl, m->keys[want].len);
	CHECK_MEM(k, m->keys[want].bytes, kl);
	{
		uint8_t w[300];

		CHECK_EQ(vl, val_of(m, (size_t)want, w));
		CHECK_MEM(v, w, vl);
	}
}

/* The first live index >= i (ge) or last <= i (!ge), or -1. */
static long live_from(const struct model *m, long i, bool ge)
{
	if (ge) {
		for (; i < (long)m->n; i++)
			if (i >= 0 && m->len[i])
				return i;
		return -1;
	}
	for (; i >= 0; i--)
		if (i < (long)m->n && m->len[i])
			return i;
	return -1;
}

static void cursor_moves_on(daxkv *db, const struct model *m, uint64_t *rng)
{
	daxkv_cursor *cur;
	long at = -1;

	CHECK_OK(daxkv_cursor_open(db, NULL, &cur));
	/* a new cursor is at no key */
	expect_at(cur, daxkv_cursor_next(cur), m, -1);
	expect_at(cur, daxkv_cursor_prev(cur), m, -1);
	at = live_from(m, 0, true);
	expect_at(cur, daxkv_cursor_first(cur), m, at);
	at = live_from(m, (long)m->n - 1, false);
	expect_at(cur, daxkv_cursor_last(cur), m, at);
	for (int step = 0; step < 3000; step++) {
		uint64_t r = dk_rand(rng) % 10;
		int rc;

		if (r < 3 && at >= 0) {
			at = live_from(m, at + 1, true);
			rc = daxkv_cursor_next(cur);
		} else if (r < 6 && at >= 0) {
			at = live_from(m, at - 1, false);
			rc = daxkv_cursor_prev(cur);
		} else if (r < 8) {
			/* a key of the model (live or not), or one between */
			long i = (long)(dk_rand(rng) % (m->n + 1));
			bool ge = dk_rand(rng) % 2;
			struct mkey k;

			if (i == (long)m->n) {
				/* past every key */
				memset(k.bytes, 0xff, sizeof(k.bytes));
				k.len = sizeof(k.bytes);
				at = ge ? -1 : live_from(m, i - 1, false);
			} else if (dk_rand(rng) % 2) {
				k = m->keys[i];
				at = live_from(m, i, ge);
			} else {
				/* just after keys[i]: keys[i] + "\0" may be a
				 * key itself, so compare */
				k = m->keys[i];
				if (k.len < sizeof(k.bytes))
					k.bytes[k.len++] = 0;
				{
					long j = i;

					while (j < (long)m->n &&
					       mkey_cmp(&m->keys[j], &k) < 0)
						j++;
					if (j < (long)m->n &&
					    !mkey_cmp(&m->keys[j], &k))
						at = live_from(m, j, ge);
					else
						at = ge ? live_from(m, j, true) :
							  live_from(m, j - 1,
								    false);
				}
			}
			rc = daxkv_cursor_seek(cur, k.bytes, k.len,
					       ge ? DAXKV_SEEK_GE :
						    DAXKV_SEEK_LE);
		} else if (r < 9) {
			at = live_from(m, 0, true);
			rc = daxkv_cursor_first(cur);
		} else {
			at = live_from(m, (long)m->n - 1, false);
			rc = daxkv_cursor_last(cur);
		}
		if (r < 6 && at < 0 && rc == 0)
			DK_FAIL("moved where the model has no key");
		expect_at(cur, rc, m, at);
		if (at >= 0 && dk_rand(rng) % 8 == 0) {
			/* the copying access */
			uint8_t kb[64], vb[300];
			size_t kl = 0, vl = 0;

			CHECK_RC(daxkv_cursor_get(cur, kb, 0, &kl, vb, 0, &vl),
				 m->keys[at].len == 0 ? 0 : DAXKV_ERANGE);
			CHECK_EQ(kl, m->keys[at].len);
			CHECK_EQ(vl, m->len[at] - 1);
			CHECK_OK(daxkv_cursor_get(cur, kb, sizeof(kb), &kl, vb,
						  sizeof(vb), &vl));
			CHECK_MEM(kb, m->keys[at].bytes, kl);
		}
	}
	CHECK_RC(daxkv_cursor_seek(cur, "", 0, DAXKV_SEEK_GE), DAXKV_EINVAL);
	CHECK_RC(daxkv_cursor_seek(cur, "a", 1, 0), DAXKV_EINVAL);
	CHECK_RC(daxkv_cursor_open(NULL, NULL, &cur), DAXKV_EINVAL);
	CHECK_RC(daxkv_cursor_next(NULL), DAXKV_EINVAL);
	daxkv_cursor_close(cur);
	daxkv_cursor_close(NULL);
}

static void test_cursor_moves(void)
{
	uint64_t rng = 5;
	struct daxkv_options o = dk_small_opts();
	const char *dir = dk_test_dir("idx-moves");
	static const size_t sizes[] = { 0, 1, 2, 3, 64, 65, 700, 5000 };
	daxkv *db;

	CHECK_OK(daxkv_open(dir, &o, &db));
	for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
		struct model m;

		model_init(&m, &rng, sizes[s] ? sizes[s] : 1);
		for (size_t i = 0; i < m.n; i++)
			if (sizes[s] && dk_rand(&rng) % 4)
				do_put(db, &m, i, dk_rand(&rng) % 50);
		cursor_moves_on(db, &m, &rng);
		/* emptied, and the same walks again */
		for (size_t i = 0; i < m.n; i++)
			if (m.len[i])
				do_del(db, &m, i);
		cursor_moves_on(db, &m, &rng);
		model_free(&m);
	}
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* A cursor walks its point in time (@p frozen) while @p live changes. */
static void test_cursor_pit(void)
{
	uint64_t rng = 9;
	struct daxkv_options o = dk_small_opts();
	const char *dir = dk_test_dir("idx-pit");
	struct model live, frozen;
	daxkv_snapshot *snap;
	daxkv_cursor *cur, *scur;
	daxkv *db;
	long at;
	int rc;

	CHECK_OK(daxkv_open(dir, &o, &db));
	model_init(&live, &rng, 4000);
	for (size_t i = 0; i < live.n; i++)
		if (dk_rand(&rng) % 3)
			do_put(db, &live, i, 100 + dk_rand(&rng) % 100);
	frozen = live;
	frozen.len = malloc(live.n * sizeof(*frozen.len));
	frozen.gen = malloc(live.n * sizeof(*frozen.gen));
	memcpy(frozen.len, live.len, live.n * sizeof(*frozen.len));
	memcpy(frozen.gen, live.gen, live.n * sizeof(*frozen.gen));
	CHECK_OK(daxkv_cursor_open(db, NULL, &cur));
	CHECK_OK(daxkv_snapshot_open(db, &snap));
	CHECK_OK(daxkv_cursor_open(db, snap, &scur));
	at = live_from(&frozen, 0, true);
	expect_at(cur, daxkv_cursor_first(cur), &frozen, at);
	expect_at(scur, daxkv_cursor_first(scur), &frozen, at);
	for (int step = 0; at >= 0; step++) {
		/* between moves: writes, deletes, a compaction */
		for (int w = 0; w < 20; w++) {
			size_t i = dk_rand(&rng) % live.n;

			if (dk_rand(&rng) % 3)
				do_put(db, &live, i, dk_rand(&rng) % 200);
			else
				do_del(db, &live, i);
		}
		if (step % 100 == 0)
			CHECK_OK(daxkv_compact(db));
		at = live_from(&frozen, at + 1, true);
		rc = daxkv_cursor_next(cur);
		expect_at(cur, rc, &frozen, at);
		expect_at(scur, daxkv_cursor_next(scur), &frozen, at);
	}
	/* and back from the end */
	at = live_from(&frozen, (long)frozen.n - 1, false);
	expect_at(cur, daxkv_cursor_last(cur), &frozen, at);
	while (at >= 0) {
		if (dk_rand(&rng) % 50 == 0)
			CHECK_OK(daxkv_compact(db));
		do_del(db, &live, dk_rand(&rng) % live.n);
		at = live_from(&frozen, at - 1, false);
		expect_at(cur, daxkv_cursor_prev(cur), &frozen, at);
	}
	/* the handle refuses to close under them */
	CHECK_RC(daxkv_close(db), DAXKV_EBUSY);
	daxkv_cursor_close(scur);
	daxkv_snapshot_close(snap);
	CHECK_RC(daxkv_close(db), DAXKV_EBUSY);
	daxkv_cursor_close(cur);
	check_all(db, &live);
	CHECK_OK(daxkv_close(db));
	model_free(&live);
	free(frozen.len);
	free(frozen.gen);
	dk_rmtree(dir);
}

static void usage(daxkv *db, uint64_t *entries, uint64_t *bytes,
		  uint64_t *arena)
{
	dk_index_usage(db, entries, bytes);
	*arena = dk_arena_bytes(db->arena);
}

static void test_churn(void)
{
	struct daxkv_options o = dk_small_opts();
	const char *dir = dk_test_dir("idx-churn");
	uint64_t e0, b0, a0, e, b, a, a1 = 0, peak = 0;
	char k[32];
	uint8_t v[40];
	daxkv *db;

	memset(v, 'v', sizeof(v));
	o.segment_size = 8u << 20;
	o.flags |= DAXKV_OPEN_NOCOMPACT; /* no other thread uses the lanes */
	CHECK_OK(daxkv_open(dir, &o, &db));
	usage(db, &e0, &b0, &a0);
	CHECK_EQ(e0, 0);
	for (int round = 0; round < 4; round++) {
		/* unique keys: round and number */
		for (int i = 0; i < 60000; i++) {
			int kl = snprintf(k, sizeof(k), "r%02d/%08d", round, i);

			CHECK_OK(daxkv_put(db, k, (size_t)kl, v, sizeof(v)));
		}
		usage(db, &e, &b, &a);
		CHECK_EQ(e, 60000);
		if (b > peak)
			peak = b;
		for (int i = 0; i < 60000; i++) {
			int kl = snprintf(k, sizeof(k), "r%02d/%08d", round, i);

			CHECK_OK(daxkv_delete(db, k, (size_t)kl));
		}
		/* what waits for a grace period (the lanes' last batches),
		 * past it: the next round can reuse it all */
		for (uint32_t l = 0; l < DK_MAX_LANES; l++)
			dk_alloc_flush(db->lanes[l].alloc);
		rcu_barrier();
		usage(db, &e, &b, &a);
		printf("churn round %d: %llu entries, %llu index bytes "
		       "(%llu at the peak, %llu empty), arena %llu\n", round,
		       (unsigned long long)e, (unsigned long long)b,
		       (unsigned long long)peak, (unsigned long long)b0,
		       (unsigned long long)a);
		CHECK_EQ(e, 0);
		/* the tree went back to a leaf or so; the hash index keeps
		 * its size until it is rebuilt: at most its peak */
		CHECK(b < peak);
		CHECK(b <= b0 + (peak - b0) / 2);
		if (round == 0)
			a1 = a;
		else
			CHECK_EQ(a, a1); /* nothing new: memory reused */
		check_tree(db, 0);
	}
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void test_snapshot_holds(void)
{
	struct daxkv_options o = dk_small_opts();
	const char *dir = dk_test_dir("idx-snap");
	uint64_t e, b;
	daxkv_snapshot *snap;
	char k[32], v[64];
	size_t vl;
	daxkv *db;
	int n = 3000;

	CHECK_OK(daxkv_open(dir, &o, &db));
	for (int i = 0; i < n; i++) {
		int kl = snprintf(k, sizeof(k), "k%06d", i);

		CHECK_OK(daxkv_put(db, k, (size_t)kl, k, (size_t)kl));
	}
	CHECK_OK(daxkv_snapshot_open(db, &snap));
	for (int i = 0; i < n; i++) {
		int kl = snprintf(k, sizeof(k), "k%06d", i);

		CHECK_OK(daxkv_delete(db, k, (size_t)kl));
	}
	dk_index_usage(db, &e, &b);
	CHECK_EQ(e, (uint64_t)n); /* the snapshot may read them */
	for (int i = 0; i < n; i += 97) {
		int kl = snprintf(k, sizeof(k), "k%06d", i);

		CHECK_RC(daxkv_get(db, k, (size_t)kl, v, sizeof(v), &vl),
			 DAXKV_ENOTFOUND);
		CHECK_OK(daxkv_get_at(db, snap, k, (size_t)kl, v, sizeof(v),
				      &vl));
		CHECK_EQ(vl, (size_t)kl);
		CHECK_MEM(v, k, vl);
	}
	daxkv_snapshot_close(snap);
	/* the compaction thread works the queue off within ~20 ms; so do
	 * writers, every few hundred commits */
	for (int t = 0; t < 200; t++) {
		dk_index_usage(db, &e, &b);
		if (e == 0)
			break;
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	CHECK_EQ(e, 0);
	check_tree(db, 0);
	/* writers, without the thread */
	CHECK_OK(daxkv_close(db));
	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_put(db, "a", 1, "1", 1));
	CHECK_OK(daxkv_snapshot_open(db, &snap));
	CHECK_OK(daxkv_delete(db, "a", 1));
	daxkv_snapshot_close(snap);
	dk_index_usage(db, &e, &b);
	CHECK_EQ(e, 1);
	for (int i = 0; i < 600; i++)
		CHECK_OK(daxkv_put(db, "b", 1, "2", 1));
	dk_index_usage(db, &e, &b);
	CHECK_EQ(e, 1); /* "b" */
	CHECK_RC(daxkv_get(db, "a", 1, v, sizeof(v), &vl), DAXKV_ENOTFOUND);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* In a forked child: a handle of its own, with work for the call_rcu
 * worker (entries removed), closed; exit status 0 if all held. */
static void fork_child(const char *dir)
{
	struct daxkv_options o = dk_small_opts();
	char k[32];
	daxkv *db;

	alarm(60); /* a close that waits for the parent's worker: killed */
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (int i = 0; i < 2000; i++) {
		int kl = snprintf(k, sizeof(k), "c%06d", i);

		CHECK_OK(daxkv_put(db, k, (size_t)kl, k, (size_t)kl));
	}
	for (int i = 0; i < 2000; i++) {
		int kl = snprintf(k, sizeof(k), "c%06d", i);

		CHECK_OK(daxkv_delete(db, k, (size_t)kl));
	}
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
	_exit(0);
}

static void test_fork_close(void)
{
	struct daxkv_options o = dk_small_opts();
	const char *dir = dk_test_dir("idx-fork");
	const char *cdir = dk_test_dir("idx-forkchild");
	char k[32];
	daxkv *db;

	/* the parent's handle stays open over the forks, its compaction
	 * thread running, and its deletes keep the call_rcu worker busy */
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (int round = 0; round < 4; round++) {
		pid_t pid;
		int status;

		for (int i = 0; i < 3000; i++) {
			int kl = snprintf(k, sizeof(k), "p%d/%06d", round, i);

			CHECK_OK(daxkv_put(db, k, (size_t)kl, k, (size_t)kl));
		}
		for (int i = 0; i < 3000; i++) {
			int kl = snprintf(k, sizeof(k), "p%d/%06d", round, i);

			CHECK_OK(daxkv_delete(db, k, (size_t)kl));
		}
		fflush(stdout);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			fork_child(cdir);
		CHECK(waitpid(pid, &status, 0) == pid);
		if (WIFSIGNALED(status))
			printf("fork child: killed by signal %d (SIGALRM: its "
			       "close hung)\n", WTERMSIG(status));
		CHECK(WIFEXITED(status));
		CHECK_EQ(WEXITSTATUS(status), 0);
	}
	/* the parent's worker went on: its close waits for it */
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/*
 * A key deleted (its entry removed) and put again: the put had no entry
 * to mark the delete through, so the delete stays unmarked on media.
 * Recovery must not take that for a lost mark: a read-only open after a
 * crash counts no stale mark (queries would be refused), and the values
 * are the new puts'.
 */
static void test_reput_rdonly(void)
{
	struct daxkv_options o = dk_small_opts();
	const char *dir = dk_test_dir("idx-reput");
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	char k[32], v[32];
	size_t vl;
	daxkv *db;
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(60);
		CHECK_OK(daxkv_open(dir, &o, &db));
		for (int i = 0; i < 300; i++) {
			int kl = snprintf(k, sizeof(k), "k%04d", i);

			CHECK_OK(daxkv_put(db, k, (size_t)kl, "old", 3));
			CHECK_OK(daxkv_delete(db, k, (size_t)kl));
			CHECK_OK(daxkv_put(db, k, (size_t)kl, "new", 3));
		}
		_exit(0); /* no close: the next open scans */
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	o.flags = DAXKV_OPEN_RDONLY;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.recovery, DAXKV_RECOVERY_SCAN);
	CHECK_EQ(st.stale_marks, 0);
	for (int i = 0; i < 300; i++) {
		int kl = snprintf(k, sizeof(k), "k%04d", i);

		CHECK_OK(daxkv_get(db, k, (size_t)kl, v, sizeof(v), &vl));
		CHECK_MEM(v, "new", 3);
	}
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static const struct dk_case cases[] = {
	{ "tree_model", test_tree_model },
	{ "cursor_moves", test_cursor_moves },
	{ "cursor_pit", test_cursor_pit },
	{ "churn", test_churn },
	{ "snapshot_holds", test_snapshot_holds },
	{ "fork_close", test_fork_close },
	{ "reput_rdonly", test_reput_rdonly },
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
