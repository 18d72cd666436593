// SPDX-License-Identifier: MIT
/*
 * mt_test.c -- concurrency: writers on disjoint and overlapping keys,
 * scanners and readers at the same time, on one handle.
 *
 * Writers update pairs of keys ("a/NNN", "b/NNN") in one batch with the
 * same value, or delete both in one batch.  A scan is a snapshot, so in
 * every scan each pair is either absent on both sides or equal.  Values
 * carry their own checksum, so a torn value is caught wherever it is
 * read.  Each writer also owns private keys (disjoint), checked at the
 * end against what it last wrote.
 */
#include <pthread.h>

#include "crc32c.h"
#include "dk_test.h"

#define NPAIRS 64
#define NWRITERS 4
#define NSCANNERS 2
#define PRIVATE_KEYS 200

static daxkv *db;
static int stop;
static long ops_per_writer = 100000;
static long scans_done, pairs_checked;
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

struct pair_seen {
	uint64_t a[NPAIRS], b[NPAIRS]; /* id + 1, 0 = absent */
	int in_pairs;
};

static int scan_cb(const void *key, size_t klen, const void *val, size_t vlen,
		   void *arg)
{
	struct pair_seen *ps = arg;
	const char *k = key;
	int p;

	if (klen == 5 && (k[0] == 'a' || k[0] == 'b') && k[1] == '/') {
		p = (k[2] - '0') * 100 + (k[3] - '0') * 10 + (k[4] - '0');
		CHECK(p >= 0 && p < NPAIRS);
		(k[0] == 'a' ? ps->a : ps->b)[p] = check_value(val, vlen) + 1;
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
	pthread_t wt[NWRITERS], st[NSCANNERS];
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
	for (long i = 0; i < NWRITERS; i++)
		CHECK(pthread_create(&wt[i], NULL, writer, (void *)i) == 0);
	for (long i = 0; i < NWRITERS; i++)
		pthread_join(wt[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (long i = 0; i < NSCANNERS; i++)
		pthread_join(st[i], NULL);
	CHECK(scans_done > 0);
	check_final();
	CHECK_OK(daxkv_stat(db, &stat));
	printf("mt_test: %d writers x %ld ops, %ld scans checked %ld pairs, "
	       "%llu lanes\n",
	       NWRITERS, ops_per_writer, scans_done, pairs_checked,
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
