/* SPDX-License-Identifier: MIT */
/*
 * ycsb_backend_test.c -- every store of the driver against the same
 * expectations: get, insert, update (longer, shorter, empty values),
 * delete, keys that differ only in length, a large value, 20000 keys
 * against a model that must hold after close and reopen, two threads
 * that never read a torn value, and scan in key order or, for the hash
 * table, its refusal.  Then what only the pmemobj peer has: its
 * properties, a full pool (an error naming pmemobj.poolsize, nothing
 * lost), a file that is not its pool.
 *
 * Cases are named STORE_CHECK (`--list`).  daxkv and pmemobj are always
 * built; lmdb and rocksdb only where their libraries were found at build
 * time (the bench dependencies), and their cases say so and pass where
 * they are not.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "dk_test.h"
#include "props.h"
#include "runner.h"
#include "workload.h"

static char err[512];

/* A store open in a fresh directory, with one thread context. */
struct fixture {
	const struct ycsb_backend *be;
	const char *dir;
	struct ycsb_props props;
	void *store, *thread;
	struct ycsb_buf buf;
};

/* Properties every store is given: small daxkv segments, and a pmemobj
 * table of 16 buckets, so that its chains are long (20000 keys: ~1250
 * an entry) and every walk, unlink and relink runs. */
static const char *const store_props = "daxkv.segmentsize=2M\n"
				       "pmemobj.buckets=16\n"
				       "pmemobj.poolsize=256M\n";

/* False (and a note) if @p name is not built into this binary. */
static bool setup(struct fixture *f, const char *name, const char *tag,
		  const char *props)
{
	memset(f, 0, sizeof(*f));
	f->be = ycsb_backend_find(name);
	if (!f->be) {
		if (strcmp(name, "lmdb") && strcmp(name, "rocksdb"))
			DK_FAIL("store %s is not built in", name);
		printf("note: store %s not built in (its -dev package was "
		       "missing at build time): nothing to check\n",
		       name);
		return false;
	}
	f->dir = dk_test_dir(tag);
	CHECK_EQ(mkdir(f->dir, 0755), 0);
	ycsb_props_init(&f->props);
	CHECK_EQ(ycsb_props_parse(&f->props, props ? props : store_props,
				  "props", err, sizeof(err)),
		 0);
	if (f->be->open(f->dir, 64ull << 20, &f->props, &f->store, err,
			sizeof(err)))
		DK_FAIL("%s open: %s", name, err);
	CHECK_EQ(f->be->thread_open(f->store, &f->thread, err, sizeof(err)),
		 YCSB_OK);
	return true;
}

static void reopen(struct fixture *f)
{
	f->be->thread_close(f->thread);
	f->be->close(f->store);
	if (f->be->open(f->dir, 64ull << 20, &f->props, &f->store, err,
			sizeof(err)))
		DK_FAIL("%s reopen: %s", f->be->name, err);
	CHECK_EQ(f->be->thread_open(f->store, &f->thread, err, sizeof(err)),
		 YCSB_OK);
}

static void teardown(struct fixture *f)
{
	f->be->thread_close(f->thread);
	f->be->close(f->store);
	ycsb_props_free(&f->props);
	free(f->buf.data);
	dk_rmtree(f->dir);
}

static int put_s(struct fixture *f, const char *key, const char *val,
		 size_t vlen)
{
	int rc = f->be->put(f->thread, key, strlen(key), val, vlen);

	if (rc != YCSB_OK)
		DK_FAIL("%s put %s: %d: %s", f->be->name, key, rc,
			f->be->thread_error(f->thread));
	return rc;
}

/* @p key reads back as exactly @p val. */
static void expect_value(struct fixture *f, const char *key, const char *val,
			 size_t vlen)
{
	int rc = f->be->read(f->thread, key, strlen(key), &f->buf);

	if (rc != YCSB_OK)
		DK_FAIL("%s read %s: %d, want its value (%s)", f->be->name, key,
			rc,
			rc == YCSB_ERROR ? f->be->thread_error(f->thread)
					 : "not found");
	if (f->buf.len != vlen)
		DK_FAIL("%s read %s: %zu bytes, want %zu", f->be->name, key,
			f->buf.len, vlen);
	if (vlen)
		CHECK_MEM(f->buf.data, val, vlen);
}

static void expect_absent(struct fixture *f, const char *key)
{
	int rc = f->be->read(f->thread, key, strlen(key), &f->buf);

	if (rc != YCSB_NOTFOUND)
		DK_FAIL("%s read %s: %d, want not found", f->be->name, key, rc);
}

/* Deterministic bytes for (key number, version): a torn or stale value
 * does not match.  Even keys keep one length over their versions (an
 * update in place, for the stores that do that), odd keys change it. */
static size_t make_value(char *out, size_t cap, uint64_t k, uint64_t version)
{
	uint64_t s = k * 1000003u + version;
	size_t len = 16 + (size_t)((k % 2 ? dk_rand(&s) : k * 7) % 200);

	if (len > cap)
		len = cap;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)(dk_rand(&s) >> 56);
	return len;
}

static void crud(const char *name)
{
	struct fixture f;
	char big[100000];
	const char *k = "user6284781860667377211";

	if (!setup(&f, name, "be-crud", NULL))
		return;
	expect_absent(&f, k);
	CHECK_EQ(f.be->del(f.thread, k, strlen(k)), YCSB_NOTFOUND);
	/* insert, update of the same size, longer, shorter, empty */
	put_s(&f, k, "first", 5);
	expect_value(&f, k, "first", 5);
	put_s(&f, k, "FIRST", 5);
	expect_value(&f, k, "FIRST", 5);
	put_s(&f, k, "a longer second value", 21);
	expect_value(&f, k, "a longer second value", 21);
	put_s(&f, k, "3rd", 3);
	expect_value(&f, k, "3rd", 3);
	put_s(&f, k, "", 0);
	expect_value(&f, k, "", 0);
	/* keys that differ only in length or last byte are apart */
	put_s(&f, "user1", "one", 3);
	put_s(&f, "user10", "ten", 3);
	put_s(&f, "user2", "two", 3);
	expect_value(&f, "user1", "one", 3);
	expect_value(&f, "user10", "ten", 3);
	expect_value(&f, "user2", "two", 3);
	expect_absent(&f, "user");
	expect_absent(&f, "user100");
	/* delete, again, and insert after delete */
	CHECK_EQ(f.be->del(f.thread, "user1", 5), YCSB_OK);
	expect_absent(&f, "user1");
	expect_value(&f, "user10", "ten", 3);
	CHECK_EQ(f.be->del(f.thread, "user1", 5), YCSB_NOTFOUND);
	put_s(&f, "user1", "uno", 3);
	expect_value(&f, "user1", "uno", 3);
	/* a value far larger than the read buffer's first size */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 3);
	put_s(&f, "big", big, sizeof(big));
	expect_value(&f, "big", big, sizeof(big));
	/* what was acknowledged is there after close and reopen */
	reopen(&f);
	expect_value(&f, k, "", 0);
	expect_value(&f, "user1", "uno", 3);
	expect_value(&f, "user10", "ten", 3);
	expect_value(&f, "big", big, sizeof(big));
	expect_absent(&f, "user100");
	teardown(&f);
}

/*
 * 20000 keys inserted, every third updated, every fifth deleted, then
 * each key checked against the model, before and after reopening; then
 * deleted keys come back.
 */
static void many(const char *name)
{
	enum { N = 20000 };
	struct fixture f;
	static uint8_t version[N]; /* 0: absent */
	char key[32], val[256];
	size_t len;

	if (!setup(&f, name, "be-many", NULL))
		return;
	memset(version, 0, sizeof(version));
	for (uint64_t i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "user%llu", (unsigned long long)i);
		len = make_value(val, sizeof(val), i, 1);
		put_s(&f, key, val, len);
		version[i] = 1;
	}
	for (uint64_t i = 0; i < N; i += 3) {
		snprintf(key, sizeof(key), "user%llu", (unsigned long long)i);
		len = make_value(val, sizeof(val), i, 2);
		put_s(&f, key, val, len);
		version[i] = 2;
	}
	for (uint64_t i = 0; i < N; i += 5) {
		snprintf(key, sizeof(key), "user%llu", (unsigned long long)i);
		CHECK_EQ(f.be->del(f.thread, key, strlen(key)), YCSB_OK);
		version[i] = 0;
	}
	for (int round = 0; round < 2; round++) {
		for (uint64_t i = 0; i < N; i++) {
			snprintf(key, sizeof(key), "user%llu",
				 (unsigned long long)i);
			if (!version[i]) {
				expect_absent(&f, key);
				continue;
			}
			len = make_value(val, sizeof(val), i, version[i]);
			expect_value(&f, key, val, len);
		}
		if (round == 0)
			reopen(&f);
	}
	for (uint64_t i = 0; i < N; i += 5) {
		snprintf(key, sizeof(key), "user%llu", (unsigned long long)i);
		len = make_value(val, sizeof(val), i, 3);
		put_s(&f, key, val, len);
		expect_value(&f, key, val, len);
	}
	teardown(&f);
}

/*
 * Two threads share one store: each rewrites its own 500 keys (versions
 * 1..), deletes and reinserts some, and reads the other's keys, whose
 * every value must be one the other thread wrote whole.  At the end the
 * store holds each key's last version.
 */
enum { TK = 500, TROUNDS = 8 };

struct mt_arg {
	struct fixture *f;
	unsigned id;
	const char *failure; /* NULL: fine */
	char detail[160];
};

static void *mt_main(void *p)
{
	struct mt_arg *a = p;
	const struct ycsb_backend *be = a->f->be;
	struct ycsb_buf buf = {0};
	void *thread;
	char key[32], val[256], want[256];
	size_t len;

	if (be->thread_open(a->f->store, &thread, err, sizeof(err))) {
		a->failure = "thread_open";
		return NULL;
	}
	for (unsigned round = 1; round <= TROUNDS && !a->failure; round++) {
		for (uint64_t i = 0; i < TK && !a->failure; i++) {
			uint64_t mine = a->id * TK + i,
				 theirs = (1 - a->id) * TK + i;
			int rc;

			snprintf(key, sizeof(key), "k%llu",
				 (unsigned long long)mine);
			if (round % 3 == 0 && i % 4 == 0 &&
			    be->del(thread, key, strlen(key)) != YCSB_OK) {
				a->failure = "delete";
				break;
			}
			len = make_value(val, sizeof(val), mine, round);
			if (be->put(thread, key, strlen(key), val, len)) {
				a->failure = "put";
				snprintf(a->detail, sizeof(a->detail), "%s",
					 be->thread_error(thread));
				break;
			}
			snprintf(key, sizeof(key), "k%llu",
				 (unsigned long long)theirs);
			rc = be->read(thread, key, strlen(key), &buf);
			if (rc == YCSB_NOTFOUND)
				continue; /* not written yet, or deleted */
			if (rc != YCSB_OK) {
				a->failure = "read";
				break;
			}
			/* some version the other thread wrote, whole */
			bool matched = false;

			for (uint64_t v = 1; v <= TROUNDS && !matched; v++) {
				size_t wl =
				    make_value(want, sizeof(want), theirs, v);

				matched = wl == buf.len &&
					  !memcmp(want, buf.data, wl);
			}
			if (!matched) {
				a->failure = "torn or foreign value";
				snprintf(a->detail, sizeof(a->detail),
					 "%s: %zu bytes", key, buf.len);
			}
		}
	}
	be->thread_close(thread);
	free(buf.data);
	return NULL;
}

static void threads(const char *name)
{
	struct fixture f;
	struct mt_arg args[2];
	pthread_t tid[2];
	char key[32], val[256];
	size_t len;

	if (!setup(&f, name, "be-mt", NULL))
		return;
	for (unsigned i = 0; i < 2; i++) {
		args[i] = (struct mt_arg){.f = &f, .id = i};
		CHECK_EQ(pthread_create(&tid[i], NULL, mt_main, &args[i]), 0);
	}
	for (unsigned i = 0; i < 2; i++)
		pthread_join(tid[i], NULL);
	for (unsigned i = 0; i < 2; i++)
		if (args[i].failure)
			DK_FAIL("%s thread %u: %s %s", name, i, args[i].failure,
				args[i].detail);
	for (uint64_t k = 0; k < 2 * TK; k++) {
		snprintf(key, sizeof(key), "k%llu", (unsigned long long)k);
		len = make_value(val, sizeof(val), k, TROUNDS);
		expect_value(&f, key, val, len);
	}
	teardown(&f);
}

struct scan_seen {
	char keys[16][32];
	size_t n;
	bool bad_value;
};

static int scan_collect(void *arg, const char *key, size_t klen,
			const char *val, size_t vlen)
{
	struct scan_seen *s = arg;

	if (s->n < 16 && klen < 32) {
		memcpy(s->keys[s->n], key, klen);
		s->keys[s->n][klen] = '\0';
		/* each value is its key */
		if (vlen != klen || memcmp(val, key, klen))
			s->bad_value = true;
	}
	s->n++;
	return 0;
}

/*
 * Stores with key order: from a key, in order, at most the count asked
 * for, nothing past the last key.  The hash table has no scan, and a
 * driver that is made to scan it anyway gets errors, not a crash (the
 * binary does not run such a cell: ycsb_pmemobj_test.sh).
 */
static void scan(const char *name)
{
	struct fixture f;
	struct scan_seen seen = {0};
	char key[32];

	if (!setup(&f, name, "be-scan", NULL))
		return;
	/* inserted out of order */
	for (unsigned i = 0; i < 100; i++) {
		unsigned n = (i * 37) % 100;

		snprintf(key, sizeof(key), "k%03u", n);
		put_s(&f, key, key, strlen(key));
	}
	if (!f.be->scan) {
		struct ycsb_props p;
		struct ycsb_workload w;
		struct ycsb_worker wk;
		struct ycsb_tally tally;

		CHECK(!strcmp(name, "pmemobj")); /* only the hash table */
		ycsb_props_init(&p);
		CHECK_EQ(ycsb_props_parse(&p,
					  "recordcount=100\nscanproportion=1\n"
					  "readproportion=0\n"
					  "updateproportion=0\n",
					  "scan", err, sizeof(err)),
			 0);
		CHECK_EQ(ycsb_workload_configure(&w, &p, err, sizeof(err)), 0);
		CHECK_EQ(ycsb_workload_begin(&w), 0);
		memset(&tally, 0, sizeof(tally));
		CHECK_EQ(ycsb_worker_init(&wk, &w, f.be, f.thread, 1, &tally),
			 0);
		for (int i = 0; i < 10; i++)
			ycsb_do_transaction(&wk);
		CHECK_EQ(tally.errors[YCSB_OP_SCAN], 10);
		ycsb_worker_fini(&wk);
		ycsb_workload_end(&w);
		ycsb_props_free(&p);
		teardown(&f);
		return;
	}
	CHECK_EQ(f.be->scan(f.thread, "k050", 4, 10, scan_collect, &seen),
		 YCSB_OK);
	CHECK_EQ(seen.n, 10);
	CHECK(!seen.bad_value);
	for (unsigned i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "k%03u", 50 + i);
		if (strcmp(seen.keys[i], key))
			DK_FAIL("%s scan: record %u is %s, want %s", name, i,
				seen.keys[i], key);
	}
	/* from between two keys, to the end */
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ(f.be->scan(f.thread, "k0975", 5, 10, scan_collect, &seen),
		 YCSB_OK);
	CHECK_EQ(seen.n, 2);
	CHECK(!strcmp(seen.keys[0], "k098") && !strcmp(seen.keys[1], "k099"));
	memset(&seen, 0, sizeof(seen));
	CHECK_EQ(f.be->scan(f.thread, "z", 1, 10, scan_collect, &seen),
		 YCSB_OK);
	CHECK_EQ(seen.n, 0);
	teardown(&f);
}

#define STORE_CASES(store, id)                                                 \
	static void case_##id##_crud(void)                                     \
	{                                                                      \
		crud(store);                                                   \
	}                                                                      \
	static void case_##id##_many(void)                                     \
	{                                                                      \
		many(store);                                                   \
	}                                                                      \
	static void case_##id##_threads(void)                                  \
	{                                                                      \
		threads(store);                                                \
	}                                                                      \
	static void case_##id##_scan(void)                                     \
	{                                                                      \
		scan(store);                                                   \
	}

STORE_CASES("daxkv", daxkv)
STORE_CASES("lmdb", lmdb)
STORE_CASES("rocksdb", rocksdb)
STORE_CASES("pmemobj", pmemobj)

/* pmemobj's properties: checked before any run, errors name the origin. */
static void pmemobj_properties(void)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"pmemobj.buckets=0\n", "props:1: pmemobj.buckets: '0' is not"},
	    {"pmemobj.buckets=many\n",
	     "props:1: pmemobj.buckets: 'many' is not a non-negative integer"},
	    {"pmemobj.poolsize=lots\n",
	     "props:1: pmemobj.poolsize: 'lots' is not a size"},
	    {"pmemobj.poolsize=1M\n",
	     "props:1: pmemobj.poolsize: 1048576 bytes is below libpmemobj's "
	     "minimum pool of 8 MiB"},
	};
	const struct ycsb_backend *pm = ycsb_backend_find("pmemobj");
	struct ycsb_props p;

	CHECK(pm && pm->check_props && pm->del && !pm->scan);
	CHECK(!pm->not_default);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ycsb_props_init(&p);
		CHECK_EQ(ycsb_props_parse(&p, bad[i].text, "props", err,
					  sizeof(err)),
			 0);
		err[0] = '\0';
		CHECK_EQ(pm->check_props(&p, err, sizeof(err)), -1);
		CHECK_STR_HAS(err, bad[i].want);
		ycsb_props_free(&p);
	}
	ycsb_props_init(&p);
	CHECK_EQ(ycsb_props_parse(&p,
				  "pmemobj.buckets=1000\n"
				  "pmemobj.poolsize=1G\n",
				  "props", err, sizeof(err)),
		 0);
	CHECK_EQ(pm->check_props(&p, err, sizeof(err)), 0);
	CHECK_EQ(ycsb_props_note_unused(&p, stdout), 0);
	/* rounded up to a power of two; the line says what a cell uses */
	CHECK_STR_HAS(pm->describe, "pmemobj.buckets: 1024 buckets");
	CHECK_STR_HAS(pm->describe, "pmemobj.poolsize: 1024 MiB");
	CHECK_STR_HAS(pm->describe, "durable per operation");
	ycsb_props_free(&p);
}

/*
 * The table is sized from the workload: recordcount plus the inserts
 * the run expects, rounded up to a power of two.  Seen from outside by
 * the size of the pool file and by the describe line.
 */
static void pmemobj_sized_from_workload(void)
{
	struct fixture f;
	struct stat sb;
	char path[512];

	if (!setup(&f, "pmemobj", "be-size",
		   "recordcount=100000\noperationcount=200000\n"
		   "insertproportion=0.05\nfieldcount=1\nfieldlength=100\n"))
		return;
	CHECK_EQ(f.be->check_props(&f.props, err, sizeof(err)), 0);
	/* 100000 + 10000 + 1 keys: 131072 buckets */
	CHECK_STR_HAS(f.be->describe, "131072 buckets");
	snprintf(path, sizeof(path), "%s/pmemobj.pool", f.dir);
	CHECK_EQ(stat(path, &sb), 0);
	/* 64 MiB + 2 MiB of buckets + 110001 x (32 + 64 + 106 + 16) x 1.5 */
	CHECK_EQ(sb.st_size,
		 (64ll << 20) + 131072 * 16 + 110001ll * 218 * 3 / 2);
	teardown(&f);
}

/*
 * A full pool: the put that does not fit fails with a message naming
 * pmemobj.poolsize, changes nothing (an update keeps the old value, an
 * insert leaves no key), and every earlier record is intact; deleting
 * makes room again.
 */
static void pmemobj_pool_full(void)
{
	struct fixture f;
	char key[32], val[4096];
	uint64_t n = 0;
	int rc;

	if (!setup(&f, "pmemobj", "be-full",
		   "pmemobj.poolsize=16M\npmemobj.buckets=16\n"))
		return;
	memset(val, 'v', sizeof(val));
	for (;;) {
		snprintf(key, sizeof(key), "user%llu", (unsigned long long)n);
		memcpy(val, key, strlen(key));
		rc = f.be->put(f.thread, key, strlen(key), val, sizeof(val));
		if (rc != YCSB_OK)
			break;
		n++;
		CHECK(n < 100000); /* 16 MiB cannot hold 400 MiB */
	}
	CHECK_EQ(rc, YCSB_ERROR);
	CHECK(n > 1000); /* most of the pool was usable (~2800 fit) */
	CHECK_STR_HAS(f.be->thread_error(f.thread), "pool is full");
	CHECK_STR_HAS(f.be->thread_error(f.thread), "pmemobj.poolsize");
	snprintf(key, sizeof(key), "user%llu", (unsigned long long)n);
	expect_absent(&f, key);
	/* an update that cannot allocate keeps the old value */
	snprintf(key, sizeof(key), "user%llu", (unsigned long long)(n - 1));
	memcpy(val, key, strlen(key));
	expect_value(&f, key, val, sizeof(val));
	{
		char bigger[8192], same[sizeof(val)];

		memset(bigger, 'w', sizeof(bigger));
		CHECK_EQ(f.be->put(f.thread, key, strlen(key), bigger,
				   sizeof(bigger)),
			 YCSB_ERROR);
		expect_value(&f, key, val, sizeof(val));
		/* in place: its undo log may not fit either; then the old
		 * value stays, else the new one is there */
		memset(same, 's', sizeof(same));
		if (f.be->put(f.thread, key, strlen(key), same, sizeof(same)) ==
		    YCSB_OK) {
			expect_value(&f, key, same, sizeof(same));
			put_s(&f, key, val, sizeof(val));
		}
		expect_value(&f, key, val, sizeof(val));
	}
	for (uint64_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "user%llu", (unsigned long long)i);
		memset(val, 'v', sizeof(val));
		memcpy(val, key, strlen(key));
		expect_value(&f, key, val, sizeof(val));
	}
	/* delete a tenth: inserts fit again */
	for (uint64_t i = 0; i < n; i += 10) {
		snprintf(key, sizeof(key), "user%llu", (unsigned long long)i);
		CHECK_EQ(f.be->del(f.thread, key, strlen(key)), YCSB_OK);
	}
	snprintf(key, sizeof(key), "again");
	put_s(&f, key, val, sizeof(val));
	expect_value(&f, key, val, sizeof(val));
	reopen(&f);
	expect_value(&f, key, val, sizeof(val));
	teardown(&f);
}

/* A file where the pool should be that is not one: a clear refusal. */
static void pmemobj_not_a_pool(void)
{
	const struct ycsb_backend *pm = ycsb_backend_find("pmemobj");
	const char *dir = dk_test_dir("be-notpool");
	char path[512], junk[4096];
	void *store = NULL;
	int fd;

	CHECK(pm != NULL);
	CHECK_EQ(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/pmemobj.pool", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	memset(junk, 'x', sizeof(junk));
	for (int i = 0; i < 4096; i++) /* 16 MiB of junk */
		CHECK_EQ(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	err[0] = '\0';
	CHECK_EQ(pm->open(dir, 0, NULL, &store, err, sizeof(err)), YCSB_ERROR);
	CHECK_STR_HAS(err, "pmemobj_open");
	CHECK_STR_HAS(err, path);
	dk_rmtree(dir);
}

static const struct dk_case cases[] = {
    {"daxkv_crud", case_daxkv_crud},
    {"daxkv_many", case_daxkv_many},
    {"daxkv_threads", case_daxkv_threads},
    {"daxkv_scan", case_daxkv_scan},
    {"lmdb_crud", case_lmdb_crud},
    {"lmdb_many", case_lmdb_many},
    {"lmdb_threads", case_lmdb_threads},
    {"lmdb_scan", case_lmdb_scan},
    {"rocksdb_crud", case_rocksdb_crud},
    {"rocksdb_many", case_rocksdb_many},
    {"rocksdb_threads", case_rocksdb_threads},
    {"rocksdb_scan", case_rocksdb_scan},
    {"pmemobj_crud", case_pmemobj_crud},
    {"pmemobj_many", case_pmemobj_many},
    {"pmemobj_threads", case_pmemobj_threads},
    {"pmemobj_scan", case_pmemobj_scan},
    {"pmemobj_properties", pmemobj_properties},
    {"pmemobj_sized_from_workload", pmemobj_sized_from_workload},
    {"pmemobj_pool_full", pmemobj_pool_full},
    {"pmemobj_not_a_pool", pmemobj_not_a_pool},
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
