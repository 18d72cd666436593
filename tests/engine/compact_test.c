// SPDX-License-Identifier: MIT
/*
 * compact_test.c -- space reclamation.
 *
 * model      random puts, deletes and batches against an in-memory model,
 *            compacting now and then: contents equal the model, before and
 *            after reopening (checkpoint and full scan), space stays
 *            bounded, files of retired segments are gone, and a query
 *            (which reads records, not the index) counts what a scan
 *            counts: no record is visible twice.
 * snapshot   a snapshot held across compactions reads its versions (get,
 *            scan, query); its segments wait, then go when it closes.
 * enospc     at max_size with mostly dead data a write compacts and goes
 *            on (no background thread); with live data ENOSPC stays.
 * concurrent writers, daxkv_compact() in a loop, the background thread,
 *            and readers comparing queries with scans at one snapshot.
 * kill       SIGKILL at random moments of compactions: acknowledged writes
 *            survive, nothing is visible twice.
 * tombstone  a delete whose entry was removed stays through compaction
 *            (its key's put lies in a segment not compacted): the key
 *            stays deleted after a clean close and after SIGKILL.
 * tomb_churn keys inserted, then all deleted: compaction drops the
 *            deletes (tombstones_dropped, tombstone_bytes and bytes on
 *            media fall) and no key comes back after a clean close,
 *            after SIGKILL, or after SIGKILL in the middle of compactions
 *            (read-write, read-only and salvage opens).
 * tomb_snapshot  a snapshot and a cursor opened before the deletes read
 *            the old values after compactions; once they close, the
 *            deletes go, and the keys stay deleted after reopening.
 *
 * DAXKV_TEST_BACKEND=kmod|cuda makes the concurrent case's readers query
 * through that backend (the VM suite runs it with the module: device
 * reads during compactions, and no stale read once a segment is gone).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "dk_test.h"
#include "dk_gpu.h"

#define NKEYS 3000

/* No background thread: segment files are made by the writer that needs
 * one, so the files in the directory are known at every step. */
static struct daxkv_options opts_nocompact(void)
{
	struct daxkv_options o = dk_small_opts();

	o.flags |= DAXKV_OPEN_NOCOMPACT | DAXKV_OPEN_NOBACKGROUND;
	return o;
}

/* Value of (key, version): [u32 key][u32 version][pattern], length from
 * both, so that any mix-up or tear shows. */
static size_t make_val(uint32_t key, uint32_t ver, uint8_t *v)
{
	uint64_t s = ((uint64_t)key << 32) | ver;
	size_t len = 8 + (size_t)((key * 131u + ver * 17u) % 900u);

	memcpy(v, &key, 4);
	memcpy(v + 4, &ver, 4);
	for (size_t i = 8; i < len; i++)
		v[i] = (uint8_t)dk_rand(&s);
	return len;
}

static void check_val(uint32_t key, uint32_t ver, const uint8_t *v,
		      size_t len)
{
	uint8_t want[1024];
	size_t wlen = make_val(key, ver, want);

	CHECK_EQ(len, wlen);
	CHECK_MEM(v, want, len);
}

static int keyname(char *k, uint32_t i)
{
	return sprintf(k, "key%06u", i);
}

/* The number in a key "keyNNNNNN" (not NUL-terminated). */
static uint32_t keynum(const void *key, size_t klen)
{
	char buf[16];

	CHECK(klen == 9);
	memcpy(buf, key, klen);
	buf[klen] = 0;
	return (uint32_t)atoi(buf + 3);
}

/* model[k] = version + 1, 0 = absent */
static void check_model(daxkv *db, const uint32_t *model)
{
	struct daxkv_query q;
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	uint64_t live = 0;

	for (uint32_t i = 0; i < NKEYS; i++) {
		uint8_t v[1024];
		char k[16];
		size_t len;
		int rc = daxkv_get(db, k, (size_t)keyname(k, i), v, sizeof(v),
				   &len);

		if (!model[i]) {
			CHECK_RC(rc, DAXKV_ENOTFOUND);
			continue;
		}
		CHECK_OK(rc);
		check_val(i, model[i] - 1, v, len);
		live++;
	}
	/* records, not the index: every live key exactly once */
	daxkv_query_init(&q);
	q.backend = DAXKV_BACKEND_CPU;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, live);
}

static unsigned count_segment_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	CHECK(d);
	while ((de = readdir(d)) != NULL)
		n += !strncmp(de->d_name, "seg-", 4);
	closedir(d);
	return n;
}

/* Bytes of the segment files in @p dir: what daxkv_stat's bytes_mapped
 * counts (segments in use and spares), so a retired segment's file that
 * stayed would show. */
static uint64_t segment_file_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t bytes = 0;

	CHECK(d);
	while ((de = readdir(d)) != NULL) {
		char path[512];
		struct stat sb;

		if (strncmp(de->d_name, "seg-", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		CHECK(stat(path, &sb) == 0);
		bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	return bytes;
}

static void stat_of(daxkv *db, struct daxkv_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->version = DAXKV_STAT_VERSION;
	CHECK_OK(daxkv_stat(db, st));
}

static void test_model(void)
{
	const char *dir = dk_test_dir("cmodel");
	struct daxkv_options o = opts_nocompact();
	static uint32_t model[NKEYS], ver[NKEYS];
	uint64_t rng = 5, retired = 0;
	struct daxkv_stat st;
	daxkv_batch *b;
	daxkv *db;
	uint8_t v[1024];
	char k[16], k2[16];

	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_batch_new(&b));
	for (unsigned round = 0; round < 40; round++) {
		for (unsigned n = 0; n < 2000; n++) {
			uint32_t i = (uint32_t)(dk_rand(&rng) % NKEYS);
			uint32_t r = (uint32_t)(dk_rand(&rng) % 10);
			int klen = keyname(k, i);

			if (r < 6) {
				ver[i]++;
				CHECK_OK(daxkv_put(db, k, (size_t)klen, v,
						   make_val(i, ver[i], v)));
				model[i] = ver[i] + 1;
			} else if (r < 8) {
				int rc = daxkv_delete(db, k, (size_t)klen);

				CHECK_RC(rc, model[i] ? 0 : DAXKV_ENOTFOUND);
				model[i] = 0;
			} else {
				/* a batch: i put, its neighbour deleted */
				uint32_t j = (i + 1) % NKEYS;
				int k2len = keyname(k2, j);

				daxkv_batch_clear(b);
				ver[i]++;
				CHECK_OK(daxkv_batch_put(b, k, (size_t)klen, v,
							 make_val(i, ver[i],
								  v)));
				CHECK_OK(daxkv_batch_delete(b, k2,
							    (size_t)k2len));
				CHECK_OK(daxkv_batch_commit(db, b));
				model[i] = ver[i] + 1;
				model[j] = 0;
			}
		}
		if (round % 4 == 3) {
			CHECK_OK(daxkv_compact(db));
			check_model(db, model);
			stat_of(db, &st);
			CHECK_EQ(segment_file_bytes(dir), st.bytes_mapped);
			CHECK_EQ(st.segments_retiring, 0);
		}
		if (round % 10 == 9) {
			/* reopen: from the checkpoint, then by a full scan */
			stat_of(db, &st);
			retired += st.segments_retired;
			CHECK_OK(daxkv_close(db));
			o.flags = DAXKV_OPEN_NOCOMPACT |
				  (round % 20 == 19 ? DAXKV_OPEN_NOCHECKPOINT :
						      0);
			CHECK_OK(daxkv_open(dir, &o, &db));
			check_model(db, model);
		}
	}
	CHECK_OK(daxkv_compact(db));
	stat_of(db, &st);
	retired += st.segments_retired;
	printf("model: %llu segments retired; since the last open %llu "
	       "compactions, %llu bytes copied; %llu segments for %llu live "
	       "record bytes\n",
	       (unsigned long long)retired,
	       (unsigned long long)st.compactions,
	       (unsigned long long)st.bytes_compacted,
	       (unsigned long long)st.segments,
	       (unsigned long long)st.record_live_bytes);
	CHECK(retired > 0);
	/* after a full compaction, at most one segment per lane + copies
	 * of the live data beyond what fits */
	CHECK(st.segments * (2u << 20) <=
	      3 * st.record_live_bytes + 4 * (2u << 20));
	/* 80000 writes of ~460 B would need ~18 segments without it */
	CHECK(st.segments < 12);
	daxkv_batch_free(b);
	CHECK_OK(daxkv_close(db));
	o.flags = DAXKV_OPEN_NOCHECKPOINT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	check_model(db, model);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static int count_cb(const void *key, size_t klen, const void *val,
		    size_t vlen, void *arg)
{
	uint32_t i, version;

	(void)klen;
	i = keynum(key, klen);
	memcpy(&version, (const uint8_t *)val + 4, 4);
	check_val(i, version, val, vlen);
	CHECK_EQ(version, 1); /* the snapshot's version */
	(*(unsigned *)arg)++;
	return 0;
}

static void test_snapshot(void)
{
	const char *dir = dk_test_dir("csnap");
	struct daxkv_options o = opts_nocompact();
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	struct daxkv_query q;
	struct daxkv_stat st;
	daxkv_snapshot *s;
	unsigned before, n = 0;
	uint8_t v[1024];
	char k[16];
	size_t len;
	daxkv *db;

	CHECK_OK(daxkv_open(dir, &o, &db));
	for (uint32_t i = 0; i < NKEYS; i++)
		CHECK_OK(daxkv_put(db, k, (size_t)keyname(k, i), v,
				   make_val(i, 1, v)));
	CHECK_OK(daxkv_snapshot_open(db, &s));
	for (uint32_t ver = 2; ver < 6; ver++)
		for (uint32_t i = 0; i < NKEYS; i++)
			CHECK_OK(daxkv_put(db, k, (size_t)keyname(k, i), v,
					   make_val(i, ver, v)));
	before = count_segment_files(dir);
	CHECK_OK(daxkv_compact(db));
	stat_of(db, &st);
	CHECK(st.compactions > 0);
	CHECK(st.segments_retiring > 0); /* the snapshot reads them */

	/* the snapshot still reads version 1, by index and by records */
	for (uint32_t i = 0; i < NKEYS; i += 7) {
		CHECK_OK(daxkv_get_at(db, s, k, (size_t)keyname(k, i), v,
				      sizeof(v), &len));
		check_val(i, 1, v, len);
		CHECK_OK(daxkv_get(db, k, (size_t)keyname(k, i), v, sizeof(v),
				   &len));
		check_val(i, 5, v, len);
	}
	CHECK_OK(daxkv_scan_at(db, s, NULL, 0, NULL, 0, count_cb, &n));
	CHECK_EQ(n, NKEYS);
	daxkv_query_init(&q);
	q.backend = DAXKV_BACKEND_CPU;
	q.snap = s;
	q.npreds = 1;
	q.preds[0] = (struct daxkv_pred){ .type = DAXKV_FIELD_UINT,
					  .op = DAXKV_OP_EQ,
					  .offset = 4,
					  .width = 4,
					  .uval = 1 };
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, NKEYS);
	q.snap = NULL;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, 0);
	q.preds[0].uval = 5;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, NKEYS);

	/* the last reader leaves: the next compaction removes them */
	daxkv_snapshot_close(s);
	CHECK_OK(daxkv_compact(db));
	stat_of(db, &st);
	CHECK_EQ(st.segments_retiring, 0);
	CHECK_EQ(segment_file_bytes(dir), st.bytes_mapped);
	CHECK(count_segment_files(dir) < before);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void test_enospc(void)
{
	const char *dir = dk_test_dir("cnospc");
	struct daxkv_options o = opts_nocompact();
	struct daxkv_stat st;
	uint8_t v[1024];
	char k[16];
	daxkv *db;
	int rc = 0;

	/* 3 segments for writers + 2 kept: deletes' tombstones, compaction */
	o.max_size = (8ull << 20) + 5 * o.segment_size;
	CHECK_OK(daxkv_open(dir, &o, &db));
	/* 40 MiB of updates to 200 keys: 4x what max_size holds */
	for (uint32_t n = 0; n < 50000; n++) {
		uint32_t i = n % 200;

		CHECK_OK(daxkv_put(db, k, (size_t)keyname(k, i), v,
				   make_val(i, n, v)));
	}
	stat_of(db, &st);
	CHECK(st.compactions > 0);
	CHECK(st.segments <= 4);
	for (uint32_t i = 0; i < 200; i++) {
		size_t len;

		CHECK_OK(daxkv_get(db, k, (size_t)keyname(k, i), v, sizeof(v),
				   &len));
		check_val(i, 49800 + i, v, len);
	}
	/* live data only: ENOSPC, and it stays readable */
	for (uint32_t i = 200; i < 100000 && rc == 0; i++)
		rc = daxkv_put(db, k, (size_t)keyname(k, i), v,
			       make_val(i, 0, v));
	CHECK_RC(rc, DAXKV_ENOSPC);
	CHECK_OK(daxkv_get(db, k, (size_t)keyname(k, 7), v, sizeof(v),
			   &(size_t){ 0 }));
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* ---- concurrent ---- */

static daxkv *cdb;
static int cbackend = DAXKV_BACKEND_CPU;
static int cstop;
static uint64_t cwrites, ccompactions, cchecks;

static void *c_writer(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	uint32_t version = 0;
	uint8_t v[1024];
	char k[16];

	while (!__atomic_load_n(&cstop, __ATOMIC_RELAXED)) {
		uint32_t i = (uint32_t)(dk_rand(&rng) % 500);
		int klen = keyname(k, i);

		if (dk_rand(&rng) % 5 == 0) {
			int rc = daxkv_delete(cdb, k, (size_t)klen);

			CHECK(rc == 0 || rc == DAXKV_ENOTFOUND);
		} else {
			CHECK_OK(daxkv_put(cdb, k, (size_t)klen, v,
					   make_val(i, ++version, v)));
		}
		__atomic_fetch_add(&cwrites, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *c_compactor(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&cstop, __ATOMIC_RELAXED)) {
		CHECK_OK(daxkv_compact(cdb));
		__atomic_fetch_add(&ccompactions, 1, __ATOMIC_RELAXED);
		usleep(2000);
	}
	return NULL;
}

static int c_scan_cb(const void *key, size_t klen, const void *val,
		     size_t vlen, void *arg)
{
	uint32_t i = keynum(key, klen), version;

	memcpy(&version, (const uint8_t *)val + 4, 4);
	check_val(i, version, val, vlen);
	(*(uint64_t *)arg)++;
	return 0;
}

static int c_rows_cb(const struct daxkv_row *rows, size_t n, void *arg)
{
	for (size_t r = 0; r < n; r++) {
		uint32_t i = keynum(rows[r].key, rows[r].klen);
		uint32_t version;

		memcpy(&version, (const uint8_t *)rows[r].val + 4, 4);
		check_val(i, version, rows[r].val, rows[r].vlen);
	}
	*(uint64_t *)arg += n;
	return 0;
}

static void *c_reader(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&cstop, __ATOMIC_RELAXED)) {
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};
		struct daxkv_query q;
		daxkv_snapshot *s;
		uint64_t n = 0, rows = 0;

		CHECK_OK(daxkv_snapshot_open(cdb, &s));
		CHECK_OK(daxkv_scan_at(cdb, s, NULL, 0, NULL, 0, c_scan_cb,
				       &n));
		daxkv_query_init(&q);
		q.backend = (uint32_t)cbackend;
		q.snap = s;
		CHECK_OK(daxkv_query(cdb, &q, &res));
		CHECK_EQ(res.count, n);
		CHECK_EQ(res.backend, cbackend);
		q.output = DAXKV_QUERY_ROWS;
		q.rows = c_rows_cb;
		q.arg = &rows;
		CHECK_OK(daxkv_query(cdb, &q, &res));
		CHECK_EQ(rows, n);
		daxkv_snapshot_close(s);
		__atomic_fetch_add(&cchecks, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_concurrent(void)
{
	const char *dir = dk_test_dir("cconc");
	struct daxkv_options o = dk_small_opts(); /* background thread on */
	unsigned long ms = strtoul(getenv("DAXKV_COMPACT_MS") ?
					   getenv("DAXKV_COMPACT_MS") :
					   "3000",
				   NULL, 10);
	pthread_t t[5];
	struct daxkv_stat st;

	CHECK_OK(daxkv_open(dir, &o, &cdb));
	if (getenv("DAXKV_TEST_BACKEND") &&
	    strcmp(getenv("DAXKV_TEST_BACKEND"), "cpu") != 0) {
		cbackend = !strcmp(getenv("DAXKV_TEST_BACKEND"), "kmod") ?
				   DAXKV_BACKEND_KMOD :
				   DAXKV_BACKEND_CUDA;
		if (daxkv_backend_available(cdb, cbackend) != 1) {
			if (cbackend == DAXKV_BACKEND_CUDA)
				dk_gpu_need_backend(0, daxkv_errmsg(),
						    "compact_test concurrent "
						    "(cuda)");
			DK_FAIL("backend asked for but: %s", daxkv_errmsg());
		}
	}
	for (uintptr_t i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, c_writer,
				     (void *)(i + 1)) == 0);
	CHECK(pthread_create(&t[2], NULL, c_compactor, NULL) == 0);
	CHECK(pthread_create(&t[3], NULL, c_reader, NULL) == 0);
	CHECK(pthread_create(&t[4], NULL, c_reader, NULL) == 0);
	usleep((useconds_t)ms * 1000);
	/*
	 * A slow machine (TSan on 2 loaded cores) may not have filled and
	 * emptied a segment by then: go on until a compaction retired one
	 * and a snapshot check ran, for at most two minutes more.
	 */
	for (int waited = 0; waited < 1200; waited++) {
		stat_of(cdb, &st);
		if (st.segments_retired > 0 &&
		    __atomic_load_n(&cchecks, __ATOMIC_RELAXED) > 0)
			break;
		usleep(100 * 1000);
	}
	__atomic_store_n(&cstop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	stat_of(cdb, &st);
	printf("concurrent: %llu writes, %llu compact calls (%llu rounds, "
	       "%llu segments retired), %llu snapshot checks\n",
	       (unsigned long long)cwrites, (unsigned long long)ccompactions,
	       (unsigned long long)st.compactions,
	       (unsigned long long)st.segments_retired,
	       (unsigned long long)cchecks);
	CHECK(cchecks > 0 && cwrites > 0 && st.segments_retired > 0);
	CHECK_OK(daxkv_close(cdb));
	o.flags = DAXKV_OPEN_NOCHECKPOINT;
	CHECK_OK(daxkv_open(dir, &o, &cdb));
	{
		struct daxkv_query q;
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};
		uint64_t n = 0;

		CHECK_OK(daxkv_scan(cdb, NULL, 0, NULL, 0, c_scan_cb, &n));
		daxkv_query_init(&q);
		CHECK_OK(daxkv_query(cdb, &q, &res));
		CHECK_EQ(res.count, n);
	}
	CHECK_OK(daxkv_close(cdb));
	dk_rmtree(dir);
}

/* ---- kill ---- */

struct kmsg {
	uint32_t kind; /* 1 intent, 2 ack */
	uint32_t key;
	uint32_t version; /* 0: delete */
	uint32_t pad;
};

static void k_send(int fd, uint32_t kind, uint32_t key, uint32_t version)
{
	struct kmsg m = { kind, key, version, 0 };

	if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
		_exit(5);
}

static void k_child(const char *dir, int fd, uint64_t seed,
		    uint32_t first_version)
{
	struct daxkv_options o = dk_small_opts(); /* background on too */
	uint64_t rng = seed;
	uint8_t v[1024];
	char k[16];
	daxkv *db;

	if (daxkv_open(dir, &o, &db) != 0)
		_exit(4);
	for (uint32_t n = 0;; n++) {
		uint32_t i = (uint32_t)(dk_rand(&rng) % 400);
		uint32_t version = first_version + n;
		int klen = keyname(k, i), rc;

		if (n % 64 == 0 && daxkv_compact(db) != 0)
			_exit(6);
		if (dk_rand(&rng) % 8 == 0) {
			k_send(fd, 1, i, 0);
			rc = daxkv_delete(db, k, (size_t)klen);
			if (rc == DAXKV_ENOTFOUND)
				rc = 0;
			version = 0;
		} else {
			k_send(fd, 1, i, version);
			rc = daxkv_put(db, k, (size_t)klen, v,
				       make_val(i, version, v));
		}
		if (rc)
			_exit(7);
		k_send(fd, 2, i, version);
	}
}

static void test_kill(void)
{
	const char *dir = dk_test_dir("ckill");
	unsigned kills = (unsigned)strtoul(getenv("DAXKV_COMPACT_KILLS") ?
						   getenv("DAXKV_COMPACT_KILLS") :
						   "40",
					   NULL, 10);
	static uint32_t acked[400]; /* version + 1; 0 absent */
	uint64_t rng = 77, acks = 0;
	uint32_t next_version = 1;
	struct daxkv_options o = opts_nocompact();
	daxkv *db;

	/* a start with plenty of dead records to compact */
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (uint32_t n = 0; n < 12000; n++) {
		uint8_t v[1024];
		char k[16];
		uint32_t i = n % 400;

		CHECK_OK(daxkv_put(db, k, (size_t)keyname(k, i), v,
				   make_val(i, next_version, v)));
		acked[i] = next_version + 1;
		next_version++;
	}
	CHECK_OK(daxkv_close(db));

	for (unsigned round = 0; round < kills; round++) {
		int fds[2], status;
		struct kmsg m;
		struct timespec d = { 0, 0 };
		bool pending = false;
		struct kmsg pend = { 0 };
		pid_t child;
		uint64_t n = 0;

		CHECK(pipe(fds) == 0);
		child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			close(fds[0]);
			k_child(dir, fds[1], rng + round, next_version);
		}
		close(fds[1]);
		d.tv_nsec = (long)(5 + dk_rand(&rng) % 60) * 1000000L;
		nanosleep(&d, NULL);
		kill(child, SIGKILL);
		CHECK(waitpid(child, &status, 0) == child);
		if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
			DK_FAIL("child ended before the kill (status %d)",
				status);
		while (read(fds[0], &m, sizeof(m)) == sizeof(m)) {
			if (m.kind == 1) {
				pending = true;
				pend = m;
			} else {
				CHECK(pending && m.key == pend.key);
				acked[m.key] = m.version ? m.version + 1 : 0;
				pending = false;
				acks++;
			}
			if (m.version >= next_version)
				next_version = m.version + 1;
		}
		close(fds[0]);
		next_version += 1000; /* never reuse a version */

		o.flags = DAXKV_OPEN_NOCOMPACT |
			  (round % 2 ? DAXKV_OPEN_NOCHECKPOINT : 0);
		CHECK_OK(daxkv_open(dir, &o, &db));
		for (uint32_t i = 0; i < 400; i++) {
			uint8_t v[1024];
			char k[16];
			size_t len;
			int rc = daxkv_get(db, k, (size_t)keyname(k, i), v,
					   sizeof(v), &len);
			uint32_t got = 0;

			if (rc == 0) {
				memcpy(&got, v + 4, 4);
				check_val(i, got, v, len);
				got++;
			} else {
				CHECK_RC(rc, DAXKV_ENOTFOUND);
			}
			if (got != acked[i]) {
				/* only the write in flight may differ */
				CHECK(pending && pend.key == i);
				CHECK_EQ(got, pend.version ? pend.version + 1
							   : 0);
				acked[i] = got;
			}
			n += got != 0;
		}
		{
			struct daxkv_query q;
			struct daxkv_query_result res = {
				.version = DAXKV_QUERY_RESULT_VERSION
			};

			daxkv_query_init(&q);
			CHECK_OK(daxkv_query(db, &q, &res));
			CHECK_EQ(res.count, n); /* nothing visible twice */
		}
		CHECK_OK(daxkv_close(db));
	}
	printf("kill: %u kills, %llu acknowledged writes checked\n", kills,
	       (unsigned long long)acks);
	dk_rmtree(dir);
}

/*
 * tombstone: a deleted key's entry is removed at once (no snapshot), and
 * the delete's record lands in segments that compaction empties, while
 * the key's put stays in a segment too live to be compacted.  Compaction
 * must keep the delete (it has no entry to say so): after a clean close
 * and after SIGKILL, recovery by scan finds the put and the delete, and
 * the key stays deleted.
 */
static bool del_slot_seen;

/* Sets del_slot_seen if the segment of slot *arg is there. */
static int tomb_seg_seen(const struct daxkv_segment_info *info, void *arg)
{
	if (info->slot == *(uint32_t *)arg)
		del_slot_seen = true;
	return 0;
}

/* The highest slot in use: the segment being appended to, here. */
static int tomb_seg_last(const struct daxkv_segment_info *info, void *arg)
{
	if (info->slot > *(uint32_t *)arg)
		*(uint32_t *)arg = info->slot;
	return 0;
}

static void tombstone_round(const char *dir, bool crash)
{
	struct daxkv_options o = opts_nocompact();
	uint32_t put_slot, del_slot;
	struct daxkv_stat st;
	uint8_t v[1024];
	char k[16];
	daxkv *db;

	CHECK_OK(daxkv_open(dir, &o, &db));
	/* the put of key 0 first, then live data that is never touched
	 * again: its segment fills with it and stays live */
	for (uint32_t i = 0; i < 4500; i++)
		CHECK_OK(daxkv_put(db, k, (size_t)keyname(k, i), v,
				   make_val(i, 0, v)));
	stat_of(db, &st);
	CHECK(st.segments >= 2); /* the delete goes to a later segment */
	put_slot = 0;
	CHECK_OK(daxkv_delete(db, k, (size_t)keyname(k, 0)));
	del_slot = 0;
	CHECK_OK(daxkv_segment_foreach(db, tomb_seg_last, &del_slot));
	CHECK(del_slot > put_slot);
	/* the delete's segment and the next fill with updates of a few keys
	 * (dead) and a few new keys (live): sparse segments, compacted
	 * together */
	for (uint32_t n = 1; n < 12000; n++) {
		uint32_t i = n % 40 ? 4500 + n % 20 : 5000 + n;

		CHECK_OK(daxkv_put(db, k, (size_t)keyname(k, i), v,
				   make_val(i, n, v)));
	}
	CHECK_OK(daxkv_compact(db));
	/* the put's segment holds records older than the delete (the
	 * tombstone rule, compact.c): the delete was copied, not dropped */
	stat_of(db, &st);
	CHECK_EQ(st.tombstones_dropped, 0);
	CHECK(st.tombstone_bytes > 0);
	/* the delete's segment was compacted away, the put's was not */
	del_slot_seen = false;
	CHECK_OK(daxkv_segment_foreach(db, tomb_seg_seen, &del_slot));
	CHECK(!del_slot_seen);
	CHECK_OK(daxkv_segment_foreach(db, tomb_seg_seen, &put_slot));
	CHECK(del_slot_seen);
	CHECK_RC(daxkv_get(db, k, (size_t)keyname(k, 0), v, sizeof(v),
			   &(size_t){ 0 }),
		 DAXKV_ENOTFOUND);
	if (crash) {
		fflush(stdout);
		raise(SIGKILL); /* no close, no checkpoint */
	}
	CHECK_OK(daxkv_close(db));
}

static void tombstone_check(const char *dir, uint32_t flags)
{
	struct daxkv_options o = opts_nocompact();
	uint8_t v[1024];
	char k[16];
	size_t len;
	daxkv *db;

	o.flags |= flags;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_RC(daxkv_get(db, k, (size_t)keyname(k, 0), v, sizeof(v), &len),
		 DAXKV_ENOTFOUND);
	CHECK_OK(daxkv_get(db, k, (size_t)keyname(k, 1), v, sizeof(v), &len));
	check_val(1, 0, v, len);
	CHECK_OK(daxkv_close(db));
}

static void test_tombstone(void)
{
	const char *dir = dk_test_dir("ctomb");
	pid_t child;
	int status;

	tombstone_round(dir, false);
	tombstone_check(dir, DAXKV_OPEN_NOCHECKPOINT);
	tombstone_check(dir, 0);
	tombstone_check(dir, DAXKV_OPEN_NOCHECKPOINT);
	dk_rmtree(dir);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		tombstone_round(dir, true);
		_exit(1);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	tombstone_check(dir, 0); /* no checkpoint: a scan */
	tombstone_check(dir, DAXKV_OPEN_NOCHECKPOINT);
	dk_rmtree(dir);
}

/* ---- empty: a full database can always be emptied ---- */

#define E_VLEN 1000
#define E_MAXKEYS 100000

enum e_stage { E_FILL, E_DELETE, E_COMPACT, E_REFILL, E_NSTAGES };
static const char *const e_stage_name[] = { "fill", "delete", "compact",
					    "refill" };
static uint32_t e_ver[E_MAXKEYS]; /* version in the model; 0: absent */
static uint32_t e_order[E_MAXKEYS]; /* the order keys are deleted in */
static uint32_t e_first_fill;

static void e_val(uint32_t key, uint32_t ver, uint8_t *v)
{
	uint64_t s = ((uint64_t)key << 32) | ver;

	memcpy(v, &key, 4);
	memcpy(v + 4, &ver, 4);
	for (size_t i = 8; i < E_VLEN; i++)
		v[i] = (uint8_t)dk_rand(&s);
}

static uint32_t e_present(void)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < E_MAXKEYS; i++)
		n += e_ver[i] != 0;
	return n;
}

/*
 * Run @p stage from the model's state to its end, telling @p fd (-1:
 * nobody) each operation before it starts (kind 1) and after it is
 * acknowledged (kind 2); the model follows.  Fills end at ENOSPC, which
 * must come; deletes and compaction must succeed.
 */
static void e_run(daxkv *db, enum e_stage stage, int fd)
{
	uint8_t v[E_VLEN];
	char k[16];
	int rc;

	switch (stage) {
	case E_FILL:
	case E_REFILL:
		for (uint32_t i = 0;; i++) {
			uint32_t ver = stage == E_FILL ? 1 : 2;

			CHECK(i < E_MAXKEYS);
			if (e_ver[i])
				continue;
			e_val(i, ver, v);
			if (fd >= 0)
				k_send(fd, 1, i, ver);
			rc = daxkv_put(db, k, (size_t)keyname(k, i), v, E_VLEN);
			if (rc == DAXKV_ENOSPC)
				return;
			CHECK_OK(rc);
			e_ver[i] = ver;
			if (fd >= 0)
				k_send(fd, 2, i, ver);
		}
	case E_DELETE:
		for (uint32_t n = 0; n < E_MAXKEYS; n++) {
			uint32_t i = e_order[n];

			if (!e_ver[i])
				continue;
			if (fd >= 0)
				k_send(fd, 1, i, 0);
			/* at ENOSPC for puts, every delete still succeeds */
			CHECK_OK(daxkv_delete(db, k, (size_t)keyname(k, i)));
			e_ver[i] = 0;
			if (fd >= 0)
				k_send(fd, 2, i, 0);
		}
		return;
	case E_COMPACT:
		CHECK_OK(daxkv_compact(db));
		return;
	default:
		return;
	}
}

/* The database holds exactly the model (@p pend: the operation in
 * flight at a kill, which may or may not have happened). */
static void e_check(daxkv *db, const struct kmsg *pend)
{
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	struct daxkv_query q;
	uint64_t live = 0;

	for (uint32_t i = 0; i < E_MAXKEYS; i++) {
		uint8_t v[E_VLEN + 8], want[E_VLEN];
		uint32_t got = 0;
		size_t len;
		char k[16];
		int rc = daxkv_get(db, k, (size_t)keyname(k, i), v, sizeof(v),
				   &len);

		if (rc == 0) {
			CHECK_EQ(len, E_VLEN);
			memcpy(&got, v + 4, 4);
			e_val(i, got, want);
			CHECK_MEM(v, want, E_VLEN);
		} else {
			CHECK_RC(rc, DAXKV_ENOTFOUND);
		}
		if (got != e_ver[i]) {
			/* only the operation in flight may differ */
			CHECK(pend && pend->key == i && got == pend->version);
			e_ver[i] = got;
		}
		live += got != 0;
	}
	daxkv_query_init(&q);
	q.backend = DAXKV_BACKEND_CPU;
	CHECK_OK(daxkv_query(db, &q, &res));
	CHECK_EQ(res.count, live); /* nothing visible twice */
}

/*
 * Each stage: a child runs it and is killed (SIGKILL) at a random moment;
 * the database reopens with the model's contents; the stage is finished,
 * checked, closed and reopened clean.  Fill to ENOSPC, delete every key
 * (in a random order, so no segment empties before the end), compact,
 * fill again to at least 90% of the first fill.
 */
static void e_stages(const char *dir, struct daxkv_options o, uint64_t seed)
{
	uint64_t rng = seed;
	struct daxkv_stat st;
	daxkv *db;

	memset(e_ver, 0, sizeof(e_ver));
	for (uint32_t i = 0; i < E_MAXKEYS; i++)
		e_order[i] = i;
	for (uint32_t i = E_MAXKEYS - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(dk_rand(&rng) % (i + 1)), t = e_order[i];

		e_order[i] = e_order[j];
		e_order[j] = t;
	}
	/* all in one handle first: what a process that filled its database
	 * and now empties it sees */
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (int stage = 0; stage < E_NSTAGES; stage++) {
		e_run(db, (enum e_stage)stage, -1);
		e_check(db, NULL);
		if (stage == E_FILL)
			e_first_fill = e_present();
	}
	printf("empty: one handle: first fill %u keys, second %u\n",
	       e_first_fill, e_present());
	CHECK(e_first_fill > 1000);
	CHECK(e_present() * 10 >= e_first_fill * 9);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
	memset(e_ver, 0, sizeof(e_ver));

	/* then each stage killed */
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_close(db));
	for (int stage = 0; stage < E_NSTAGES; stage++) {
		struct kmsg m, pend = { 0 };
		bool pending = false;
		int fds[2], status;
		pid_t child;
		struct timespec d = { 0, 0 };

		CHECK(pipe(fds) == 0);
		child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			close(fds[0]);
			if (daxkv_open(dir, &o, &db) != 0)
				_exit(4);
			e_run(db, (enum e_stage)stage, fds[1]);
			_exit(daxkv_close(db) == 0 ? 0 : 5);
		}
		close(fds[1]);
		d.tv_nsec = (long)(1 + dk_rand(&rng) % 30) * 1000000L;
		nanosleep(&d, NULL);
		kill(child, SIGKILL);
		CHECK(waitpid(child, &status, 0) == child);
		CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
		      (WIFEXITED(status) && WEXITSTATUS(status) == 0));
		while (read(fds[0], &m, sizeof(m)) == sizeof(m)) {
			if (m.kind == 1) {
				pending = true;
				pend = m;
			} else {
				CHECK(pending && m.key == pend.key);
				e_ver[m.key] = m.version;
				pending = false;
			}
		}
		close(fds[0]);
		/* after the kill */
		CHECK_OK(daxkv_open(dir, &o, &db));
		e_check(db, pending ? &pend : NULL);
		e_run(db, (enum e_stage)stage, -1);
		e_check(db, NULL);
		if (stage == E_FILL)
			e_first_fill = e_present();
		CHECK_OK(daxkv_close(db));
		/* clean */
		CHECK_OK(daxkv_open(dir, &o, &db));
		e_check(db, NULL);
		stat_of(db, &st);
		printf("empty: after %s: %u keys, %llu segments, %llu bytes "
		       "mapped\n",
		       e_stage_name[stage], e_present(),
		       (unsigned long long)st.segments,
		       (unsigned long long)st.bytes_mapped);
		if (stage == E_DELETE)
			CHECK_EQ(e_present(), 0);
		CHECK_OK(daxkv_close(db));
	}
	printf("empty: first fill %u keys, second %u\n", e_first_fill,
	       e_present());
	CHECK(e_first_fill > 1000);
	CHECK(e_present() * 10 >= e_first_fill * 9);
}

/* At max_size: 20 segments of 2 MiB after the meta pool. */
static void test_empty(void)
{
	const char *dir = dk_test_dir("cempty");
	struct daxkv_options o = dk_small_opts();

	o.max_size = (8ull << 20) + 20 * o.segment_size;
	e_stages(dir, o, 11);
	dk_rmtree(dir);
}

/*
 * On a full file system: a 48 MiB tmpfs mounted here (as root; exit 4,
 * a skip, where mounting is not allowed), unmounted at exit however the
 * test ends (not in the children the stages fork).
 */
static char e_mnt[] = "/tmp/daxkv-empty-XXXXXX";
static pid_t e_mnt_owner;

static void e_unmount(void)
{
	char dir[64];

	if (getpid() != e_mnt_owner)
		return;
	snprintf(dir, sizeof(dir), "%s/db", e_mnt);
	dk_rmtree(dir);
	if (umount(e_mnt) != 0)
		(void)umount2(e_mnt, MNT_DETACH);
	rmdir(e_mnt);
}

static void test_empty_fs(void)
{
	struct daxkv_options o = dk_small_opts();
	char dir[64];

	CHECK(mkdtemp(e_mnt) != NULL);
	if (mount("daxkv-empty", e_mnt, "tmpfs", 0, "size=48m,mode=0700") !=
	    0) {
		printf("SKIP: cannot mount a tmpfs at %s: %s (not root?)\n",
		       e_mnt, strerror(errno));
		rmdir(e_mnt);
		exit(4);
	}
	e_mnt_owner = getpid();
	atexit(e_unmount);
	snprintf(dir, sizeof(dir), "%s/db", e_mnt);
	e_stages(dir, o, 12);
}

/*
 * tomb_churn: TC_KEYS keys with values of up to 900 bytes (about ten
 * 2 MiB segments), then every key deleted; no snapshot, so every entry
 * goes at once and every delete is a tombstone with no entry.
 */
#define TC_KEYS 40000u

static void tc_fill(daxkv *db)
{
	uint8_t v[1024];
	char k[16];

	for (uint32_t i = 0; i < TC_KEYS; i++)
		CHECK_OK(daxkv_put(db, k, (size_t)keyname(k, i), v,
				   make_val(i, 1, v)));
	for (uint32_t i = 0; i < TC_KEYS; i++)
		CHECK_OK(daxkv_delete(db, k, (size_t)keyname(k, i)));
}

/* No key of the churn is there: not by the index, not by a query (which
 * a read-only open of a database not closed cleanly may refuse: its
 * stale_marks). */
static void tc_check_empty(const char *dir, uint32_t flags)
{
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	struct daxkv_options o = opts_nocompact();
	struct daxkv_query q;
	struct daxkv_stat st;
	uint8_t v[1024];
	char k[16];
	size_t len;
	daxkv *db;

	o.flags |= flags;
	if (flags & DAXKV_OPEN_RDONLY) {
		daxkv_options_init(&o); /* it takes no write options */
		o.flags = flags;
	}
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (uint32_t i = 0; i < TC_KEYS; i++)
		CHECK_RC(daxkv_get(db, k, (size_t)keyname(k, i), v, sizeof(v),
				   &len),
			 DAXKV_ENOTFOUND);
	stat_of(db, &st);
	CHECK_EQ(st.keys, 0);
	if (st.stale_marks == 0) {
		daxkv_query_init(&q);
		q.backend = DAXKV_BACKEND_CPU;
		CHECK_OK(daxkv_query(db, &q, &res));
		CHECK_EQ(res.count, 0);
	}
	CHECK_OK(daxkv_close(db));
}

static void test_tomb_churn(void)
{
	const char *dir = dk_test_dir("ctchurn");
	struct daxkv_options o = opts_nocompact();
	struct daxkv_stat before, after;
	uint64_t seed = 77;
	pid_t child;
	int status;
	daxkv *db;

	/* in one handle: the deletes go, and the space with them */
	CHECK_OK(daxkv_open(dir, &o, &db));
	tc_fill(db);
	stat_of(db, &before);
	CHECK(before.tombstone_bytes >= TC_KEYS * 32ull);
	CHECK_OK(daxkv_compact(db));
	stat_of(db, &after);
	printf("tomb_churn: %u keys: before %llu segments, %llu tombstone "
	       "bytes; after %llu segments, %llu tombstone bytes, %llu "
	       "dropped\n",
	       TC_KEYS, (unsigned long long)before.segments,
	       (unsigned long long)before.tombstone_bytes,
	       (unsigned long long)after.segments,
	       (unsigned long long)after.tombstone_bytes,
	       (unsigned long long)after.tombstones_dropped);
	/* every one, the lane's open segment let go first (lane.c) */
	CHECK_EQ(after.tombstones_dropped, TC_KEYS);
	CHECK_EQ(after.tombstone_bytes, 0);
	CHECK_EQ(after.segments, 0);
	CHECK(after.bytes_mapped * 4 < before.bytes_mapped);
	CHECK_OK(daxkv_close(db));
	tc_check_empty(dir, 0);
	tc_check_empty(dir, DAXKV_OPEN_NOCHECKPOINT);
	dk_rmtree(dir);

	/* SIGKILL right after the compaction: a scan finds no key */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		CHECK_OK(daxkv_open(dir, &o, &db));
		tc_fill(db);
		CHECK_OK(daxkv_compact(db));
		raise(SIGKILL);
		_exit(1);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	tc_check_empty(dir, DAXKV_OPEN_RDONLY); /* recovery in DRAM */
	tc_check_empty(dir, 0);
	dk_rmtree(dir);

	/* SIGKILL at a random moment of the compactions (victims retired
	 * one by one, oldest first): whatever is left, no key is there */
	for (int kill_no = 0; kill_no < 6; kill_no++) {
		int fds[2];
		char c;

		CHECK(pipe(fds) == 0);
		child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			close(fds[0]);
			CHECK_OK(daxkv_open(dir, &o, &db));
			tc_fill(db);
			CHECK(write(fds[1], "d", 1) == 1);
			for (;;)
				CHECK_OK(daxkv_compact(db));
		}
		close(fds[1]);
		CHECK(read(fds[0], &c, 1) == 1);
		close(fds[0]);
		usleep((useconds_t)(dk_rand(&seed) % 30000));
		kill(child, SIGKILL);
		CHECK(waitpid(child, &status, 0) == child);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		if (kill_no % 2)
			tc_check_empty(dir, DAXKV_OPEN_RDONLY);
		if (kill_no % 3 == 2) /* what check --repair's salvage reads */
			tc_check_empty(dir, DAXKV_OPEN_SALVAGE);
		tc_check_empty(dir, 0);
		dk_rmtree(dir);
	}
}

/* @p cur, opened before the deletes, walks every key with its value. */
static void ts_cursor_walk(daxkv_cursor *cur)
{
	uint32_t n = 0;
	int rc;

	for (rc = daxkv_cursor_first(cur); rc == 0;
	     rc = daxkv_cursor_next(cur)) {
		const void *key, *val;
		size_t klen, vlen;

		CHECK_OK(daxkv_cursor_key(cur, &key, &klen));
		CHECK_OK(daxkv_cursor_value(cur, &val, &vlen));
		CHECK_EQ(keynum(key, klen), n);
		check_val(n, 1, val, vlen);
		n++;
	}
	CHECK_RC(rc, DAXKV_ENOTFOUND);
	CHECK_EQ(n, TC_KEYS);
}

static void test_tomb_snapshot(void)
{
	const char *dir = dk_test_dir("ctsnap");
	struct daxkv_options o = opts_nocompact();
	daxkv_snapshot *snap;
	daxkv_cursor *cur;
	struct daxkv_stat st;
	uint8_t v[1024];
	char k[16];
	size_t len;
	daxkv *db;

	CHECK_OK(daxkv_open(dir, &o, &db));
	for (uint32_t i = 0; i < TC_KEYS; i++)
		CHECK_OK(daxkv_put(db, k, (size_t)keyname(k, i), v,
				   make_val(i, 1, v)));
	CHECK_OK(daxkv_snapshot_open(db, &snap));
	CHECK_OK(daxkv_cursor_open(db, NULL, &cur));
	for (uint32_t i = 0; i < TC_KEYS; i++)
		CHECK_OK(daxkv_delete(db, k, (size_t)keyname(k, i)));
	CHECK_OK(daxkv_compact(db));
	CHECK_OK(daxkv_compact(db));
	/* the deletes' entries wait for the snapshot and the cursor: kept */
	stat_of(db, &st);
	CHECK_EQ(st.tombstones_dropped, 0);
	for (uint32_t i = 0; i < TC_KEYS; i += 97) {
		CHECK_OK(daxkv_get_at(db, snap, k, (size_t)keyname(k, i), v,
				      sizeof(v), &len));
		check_val(i, 1, v, len);
		CHECK_RC(daxkv_get(db, k, (size_t)keyname(k, i), v, sizeof(v),
				   &len),
			 DAXKV_ENOTFOUND);
	}
	ts_cursor_walk(cur);
	daxkv_cursor_close(cur);
	daxkv_snapshot_close(snap);
	/* now nothing looks behind the deletes: they go */
	CHECK_OK(daxkv_compact(db));
	stat_of(db, &st);
	printf("tomb_snapshot: %llu deletes dropped once the snapshot "
	       "closed, %llu segments left\n",
	       (unsigned long long)st.tombstones_dropped,
	       (unsigned long long)st.segments);
	CHECK_EQ(st.tombstones_dropped, TC_KEYS);
	CHECK_EQ(st.tombstone_bytes, 0);
	for (uint32_t i = 0; i < TC_KEYS; i += 97)
		CHECK_RC(daxkv_get(db, k, (size_t)keyname(k, i), v, sizeof(v),
				   &len),
			 DAXKV_ENOTFOUND);
	CHECK_OK(daxkv_close(db));
	tc_check_empty(dir, 0);
	tc_check_empty(dir, DAXKV_OPEN_NOCHECKPOINT);
	dk_rmtree(dir);
}

static const struct dk_case cases[] = {
	{ "model", test_model },
	{ "snapshot", test_snapshot },
	{ "enospc", test_enospc },
	{ "concurrent", test_concurrent },
	{ "kill", test_kill },
	{ "tombstone", test_tombstone },
	{ "tomb_churn", test_tomb_churn },
	{ "tomb_snapshot", test_tomb_snapshot },
	{ "empty", test_empty },
	{ "empty_fs", test_empty_fs },
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(*cases));
}
