// SPDX-License-Identifier: MIT
/*
 * mt_test.c -- concurrency: writers on disjoint and overlapping keys,
 * scanners, cursors and readers at the same time, on one handle, with
 * the compaction thread and daxkv_compact() in a loop.
 *
 * Writers update pairs of keys ("a/NNN", "b/NNN") in one batch with the
 * same value, or delete both in one batch (their entries then leave the
 * index, and come back with the next put).  A scan is a snapshot, so in
 * every scan each pair is either absent on both sides or equal; cursors
 * (a point in time each) walk forward and backward, turn around and seek,
 * and see keys in strict order and every pair whole.  Churners insert
 * unique keys and delete them soon after, so that leaves split and merge
 * under the walks.  Values carry their own checksum, so a torn value is
 * caught wherever it is read.  Each writer also owns private keys
 * (disjoint), checked at the end against what it last wrote.
 */
#include <pthread.h>
#include <unistd.h>

#include "crc32c.h"
#include "dk_test.h"

#define NPAIRS 64
#define NWRITERS 4
#define NSCANNERS 2
#define NCURSORS 2
#define NCHURNERS 2
#define PRIVATE_KEYS 200

static daxkv *db;
static int stop;
static long ops_per_writer = 100000;
static long scans_done, pairs_checked, cursor_steps, churned, compactions;
static uint64_t last_private[NWRITERS][PRIVATE_KEYS];

/* value: u64 id, u32 len, u32 crc of the rest, filler */
static size_t make_value(uint8_t *buf, uint64_t id, uint64_t *rng)
{
	size_t len = 16 + dk_rand(rng) % 200;
	uint32_t crc;

	memcpy(buf, &id, 8);
	memcpy(buf + 8, &len, 4);
	for (size_t i = 16; i < len; i++)
		buf[i] = (uint8_t)(id * 7 + i);
	crc = dk_crc32c(0, buf + 16, len - 16);
	memcpy(buf + 12, &crc, 4);
	return len;
}

static uint64_t check_value(const uint8_t *buf, size_t len)
{
	uint64_t id;
	uint32_t vlen, crc;

	CHECK(len >= 16);
	memcpy(&id, buf, 8);
	memcpy(&vlen, buf + 8, 4);
	memcpy(&crc, buf + 12, 4);
	CHECK_EQ(vlen, len);
	CHECK_EQ(crc, dk_crc32c(0, buf + 16, len - 16));
	return id;
}

static void *writer(void *arg)
{
	long w = (long)arg;
	uint64_t rng = 1000 + (uint64_t)w;
	uint8_t val[256];
	char ka[32], kb[32];
	daxkv_batch *b;

	CHECK_OK(daxkv_batch_new(&b));
	for (long i = 0; i < ops_per_writer; i++) {
		uint64_t id = ((uint64_t)w << 40) | (uint64_t)i;
		uint64_t r = dk_rand(&rng) % 10;

		if (r < 6) {
			/* overlapping: a pair any writer may touch */
			int p = (int)(dk_rand(&rng) % NPAIRS);
			size_t len = make_value(val, id, &rng);

			snprintf(ka, sizeof(ka), "a/%03d", p);
			snprintf(kb, sizeof(kb), "b/%03d", p);
			daxkv_batch_clear(b);
			if (dk_rand(&rng) % 8 == 0) {
				CHECK_OK(daxkv_batch_delete(b, ka, strlen(ka)));
				CHECK_OK(daxkv_batch_delete(b, kb, strlen(kb)));
			} else {
				CHECK_OK(daxkv_batch_put(b, ka, strlen(ka), val,
							 len));
				CHECK_OK(daxkv_batch_put(b, kb, strlen(kb), val,
							 len));
			}
			CHECK_OK(daxkv_batch_commit(db, b));
		} else if (r < 9) {
			/* disjoint: this writer's own keys */
			int k = (int)(dk_rand(&rng) % PRIVATE_KEYS);
			size_t len = make_value(val, id, &rng);

			snprintf(ka, sizeof(ka), "p%ld/%03d", w, k);
			CHECK_OK(daxkv_put(db, ka, strlen(ka), val, len));
			last_private[w][k] = id + 1;
		} else {
			int k = (int)(dk_rand(&rng) % PRIVATE_KEYS);
			size_t vlen;

			snprintf(ka, sizeof(ka), "p%ld/%03d", w, k);
			if (last_private[w][k]) {
				CHECK_OK(daxkv_get(db, ka, strlen(ka), val,
						   sizeof(val), &vlen));
				CHECK_EQ(check_value(val, vlen),
					 last_private[w][k] - 1);
			}
		}
	}
	daxkv_batch_free(b);
	return NULL;
}

/* A key's pair and side, or -1 for other keys. */
static int pair_of(const void *key, size_t klen, int *side)
{
	const char *k = key;

	if (klen == 5 && (k[0] == 'a' || k[0] == 'b') && k[1] == '/') {
		*side = k[0] == 'b';
		return (k[2] - '0') * 100 + (k[3] - '0') * 10 + (k[4] - '0');
	}
	return -1;
}

struct pair_seen {
	uint64_t a[NPAIRS], b[NPAIRS]; /* id + 1, 0 = absent */
	int in_pairs;
};

static int scan_cb(const void *key, size_t klen, const void *val, size_t vlen,
		   void *arg)
{
	struct pair_seen *ps = arg;
	int side, p = -1;

	if (klen == 5 && (((const char *)key)[0] == 'a' ||
			  ((const char *)key)[0] == 'b'))
		p = pair_of(key, klen, &side);
	if (p >= 0) {
		CHECK(p < NPAIRS);
		(side ? ps->b : ps->a)[p] = check_value(val, vlen) + 1;
	} else {
		check_value(val, vlen);
	}
	return 0;
}

static void *scanner(void *arg)
{
	long n = 0;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct pair_seen ps;

		memset(&ps, 0, sizeof(ps));
		CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, scan_cb, &ps));
		for (int p = 0; p < NPAIRS; p++) {
			if (ps.a[p] != ps.b[p])
				DK_FAIL("scan is no snapshot: pair %d has a=%llu "
					"b=%llu",
					p, (unsigned long long)ps.a[p],
					(unsigned long long)ps.b[p]);
		}
		__atomic_fetch_add(&pairs_checked, NPAIRS, __ATOMIC_RELAXED);
		n++;
	}
	__atomic_fetch_add(&scans_done, n, __ATOMIC_RELAXED);
	return NULL;
}

/*
 * A cursor at its own point in time: runs forward or backward (turning
 * at random, seeking now and then), keys strictly ordered in the
 * direction of travel, each value whole, and at the end of a run every
 * pair seen on both sides equal.
 */
static void *cursor_walker(void *arg)
{
	uint64_t rng = 5000 + (uint64_t)(long)arg;
	long steps = 0;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct pair_seen ps;
		uint8_t last[64];
		size_t lastlen = 0;
		daxkv_cursor *c;
		int dir = dk_rand(&rng) % 2 ? 1 : -1, rc;
		char k[16];

		memset(&ps, 0, sizeof(ps));
		CHECK_OK(daxkv_cursor_open(db, NULL, &c));
		snprintf(k, sizeof(k), "a/%03d", (int)(dk_rand(&rng) % NPAIRS));
		rc = dk_rand(&rng) % 3 ? (dir > 0 ? daxkv_cursor_first(c) :
						    daxkv_cursor_last(c)) :
					 daxkv_cursor_seek(c, k, strlen(k),
							   dir > 0 ?
								   DAXKV_SEEK_GE :
								   DAXKV_SEEK_LE);
		for (int n = 0; rc == 0 && n < 2000; n++) {
			const void *key, *val;
			size_t klen, vlen;
			int side, p;

			CHECK_OK(daxkv_cursor_key(c, &key, &klen));
			CHECK_OK(daxkv_cursor_value(c, &val, &vlen));
			CHECK(klen <= sizeof(last));
			if (lastlen) {
				int cmp = memcmp(key, last,
						 klen < lastlen ? klen : lastlen);

				if (!cmp)
					cmp = (klen > lastlen) - (klen < lastlen);
				if (cmp * dir <= 0)
					DK_FAIL("cursor out of order (dir %d)",
						dir);
			}
			memcpy(last, key, klen);
			lastlen = klen;
			p = pair_of(key, klen, &side);
			if (p >= 0) {
				CHECK(p < NPAIRS);
				(side ? ps.b : ps.a)[p] =
					check_value(val, vlen) + 1;
			} else {
				check_value(val, vlen);
			}
			steps++;
			if (dk_rand(&rng) % 64 == 0) {
				/* turn: the pairs seen so far still hold */
				dir = -dir;
				lastlen = 0;
			}
			rc = dir > 0 ? daxkv_cursor_next(c) :
				       daxkv_cursor_prev(c);
		}
		CHECK(rc == 0 || rc == DAXKV_ENOTFOUND);
		daxkv_cursor_close(c);
		for (int p = 0; p < NPAIRS; p++)
			if (ps.a[p] && ps.b[p] && ps.a[p] != ps.b[p])
				DK_FAIL("cursor is no point in time: pair %d",
					p);
	}
	__atomic_fetch_add(&cursor_steps, steps, __ATOMIC_RELAXED);
	return NULL;
}

/* Unique keys put and deleted soon after: entries come and go. */
static void *churner(void *arg)
{
	long w = (long)arg;
	uint64_t rng = 7000 + (uint64_t)w, n = 0;
	uint8_t val[256];
	char k[32];

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		size_t len = make_value(val, n, &rng);

		snprintf(k, sizeof(k), "c/%ld/%08llu", w,
			 (unsigned long long)n);
		CHECK_OK(daxkv_put(db, k, strlen(k), val, len));
		if (n >= 300) {
			snprintf(k, sizeof(k), "c/%ld/%08llu", w,
				 (unsigned long long)(n - 300));
			CHECK_OK(daxkv_delete(db, k, strlen(k)));
		}
		n++;
	}
	__atomic_fetch_add(&churned, (long)n, __ATOMIC_RELAXED);
	return NULL;
}

static void *compactor(void *arg)
{
	long n = 0;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		CHECK_OK(daxkv_compact(db));
		n++;
		usleep(2000);
	}
	__atomic_fetch_add(&compactions, n, __ATOMIC_RELAXED);
	return NULL;
}

static void check_final(void)
{
	uint8_t val[256];
	char k[32];
	size_t vlen;
	struct pair_seen ps;

	memset(&ps, 0, sizeof(ps));
	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, scan_cb, &ps));
	for (int p = 0; p < NPAIRS; p++)
		CHECK_EQ(ps.a[p], ps.b[p]);
	for (long w = 0; w < NWRITERS; w++) {
		for (int i = 0; i < PRIVATE_KEYS; i++) {
			snprintf(k, sizeof(k), "p%ld/%03d", w, i);
			if (!last_private[w][i]) {
				CHECK_RC(daxkv_get(db, k, strlen(k), val,
						   sizeof(val), &vlen),
					 DAXKV_ENOTFOUND);
				continue;
			}
			CHECK_OK(daxkv_get(db, k, strlen(k), val, sizeof(val),
					   &vlen));
			CHECK_EQ(check_value(val, vlen), last_private[w][i] - 1);
		}
	}
}

int main(int argc, char **argv)
{
	struct daxkv_options o = dk_small_opts();
	pthread_t wt[NWRITERS], st[NSCANNERS], ct[NCURSORS], xt[NCHURNERS];
	pthread_t cpt;
	struct daxkv_stat stat = { .version = DAXKV_STAT_VERSION };
	const char *dir;

	if (!getenv("DAXKV_TEST_DIR"))
		setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	if (argc > 1)
		ops_per_writer = atol(argv[1]);
	else if (getenv("DAXKV_MT_OPS")) /* sanitizer builds run fewer */
		ops_per_writer = atol(getenv("DAXKV_MT_OPS"));
	dir = dk_test_dir("mt");
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (long i = 0; i < NSCANNERS; i++)
		CHECK(pthread_create(&st[i], NULL, scanner, NULL) == 0);
	for (long i = 0; i < NCURSORS; i++)
		CHECK(pthread_create(&ct[i], NULL, cursor_walker, (void *)i) ==
		      0);
	for (long i = 0; i < NCHURNERS; i++)
		CHECK(pthread_create(&xt[i], NULL, churner, (void *)i) == 0);
	CHECK(pthread_create(&cpt, NULL, compactor, NULL) == 0);
	for (long i = 0; i < NWRITERS; i++)
		CHECK(pthread_create(&wt[i], NULL, writer, (void *)i) == 0);
	for (long i = 0; i < NWRITERS; i++)
		pthread_join(wt[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (long i = 0; i < NSCANNERS; i++)
		pthread_join(st[i], NULL);
	for (long i = 0; i < NCURSORS; i++)
		pthread_join(ct[i], NULL);
	for (long i = 0; i < NCHURNERS; i++)
		pthread_join(xt[i], NULL);
	pthread_join(cpt, NULL);
	CHECK(scans_done > 0);
	CHECK(cursor_steps > 0);
	check_final();
	CHECK_OK(daxkv_stat(db, &stat));
	printf("mt_test: %d writers x %ld ops, %ld scans checked %ld pairs, "
	       "%ld cursor steps, %ld keys churned, %ld compactions, "
	       "%llu lanes\n",
	       NWRITERS, ops_per_writer, scans_done, pairs_checked,
	       cursor_steps, churned, compactions,
	       (unsigned long long)stat.lanes);
	CHECK_OK(daxkv_close(db));
	/* the same state after reopen, by checkpoint and by scan */
	CHECK_OK(daxkv_open(dir, &o, &db));
	check_final();
	CHECK_OK(daxkv_close(db));
	o.flags = DAXKV_OPEN_NOCHECKPOINT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	check_final();
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
	printf("1 passed, 0 failed\n");
	return 0;
}
