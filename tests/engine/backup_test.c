// SPDX-License-Identifier: MIT
/*
 * backup_test.c -- daxkv_backup(): hot, consistent, durable, never partial.
 *
 * basic      a database of several segments (puts, replacements, deletes,
 *            batches) backed up whole and compacting, into a new and into
 *            an empty directory: each copy opens read-write and read-only,
 *            scans equal the source, a query counts what the scan counts
 *            (the version rule holds on the copy's media), daxkv_check
 *            finds nothing; refusals (non-empty, the source itself, bad
 *            flags); a backup from a read-only handle; both kinds of
 *            copy of a database with no record.
 * concurrent writers, explicit compactions and the background compactor
 *            run while backups are taken at snapshots (daxkv_backup_at):
 *            each copy holds exactly what a scan at its snapshot returned
 *            (the model), whole and compacting, and its queries agree.
 * kill       a process taking backups is killed (SIGKILL) at random
 *            moments (DAXKV_BACKUP_KILLS, default 30, spread over one
 *            child's open and backup): the destination never opens as a
 *            database (not even with creation allowed, and a refused open
 *            changes nothing there), unless the backup had finished, and
 *            then it equals the source.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "dk_test.h"

/* ---- a model: a sorted list of (key, value) ---- */

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

static void kvset_same(const struct kvset *a, const struct kvset *b)
{
	if (a->n != b->n)
		DK_FAIL("%zu keys, expected %zu", a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct kv *x = &a->v[i], *y = &b->v[i];

		if (x->klen != y->klen || memcmp(x->key, y->key, x->klen))
			DK_FAIL("key %zu differs ('%.*s' / '%.*s')", i,
				(int)x->klen, (const char *)x->key,
				(int)y->klen, (const char *)y->key);
		if (x->vlen != y->vlen || memcmp(x->val, y->val, x->vlen))
			DK_FAIL("value of '%.*s' differs (%zu / %zu bytes)",
				(int)x->klen, (const char *)x->key, x->vlen,
				y->vlen);
	}
}

/* ---- writing ---- */

static size_t make_val(uint64_t *rng, uint32_t key, uint32_t ver,
		       uint8_t *v)
{
	size_t len = 8 + (size_t)(dk_rand(rng) % 1500);

	memcpy(v, &key, 4);
	memcpy(v + 4, &ver, 4);
	for (size_t i = 8; i < len; i++)
		v[i] = (uint8_t)(key * 7 + ver + i);
	return len;
}

static int keyname(char *k, uint32_t i)
{
	return snprintf(k, 16, "key%06u", i);
}

/* @p ops random puts (70%), deletes (15%) and batches of 1..20 (15%) on
 * @p nkeys keys. */
/* Versions for the values; writer threads share the counter. */
static uint32_t next_version(void)
{
	static uint32_t version;

	return __atomic_add_fetch(&version, 1, __ATOMIC_RELAXED);
}

static void churn(daxkv *db, uint64_t *rng, uint32_t nkeys, unsigned ops)
{
	uint8_t v[2048];
	char k[16];

	for (unsigned n = 0; n < ops; n++) {
		uint32_t i = (uint32_t)(dk_rand(rng) % nkeys), r;
		int klen = keyname(k, i), rc;

		r = (uint32_t)(dk_rand(rng) % 100);
		if (r < 70) {
			size_t vlen = make_val(rng, i, next_version(), v);

			CHECK_OK(daxkv_put(db, k, (size_t)klen, v, vlen));
		} else if (r < 85) {
			rc = daxkv_delete(db, k, (size_t)klen);
			CHECK(rc == 0 || rc == DAXKV_ENOTFOUND);
		} else {
			daxkv_batch *b;
			unsigned cnt = 1 + (unsigned)(dk_rand(rng) % 20);

			CHECK_OK(daxkv_batch_new(&b));
			for (unsigned j = 0; j < cnt; j++) {
				i = (uint32_t)(dk_rand(rng) % nkeys);
				klen = keyname(k, i);
				if (dk_rand(rng) % 4 == 0) {
					CHECK_OK(daxkv_batch_delete(
						b, k, (size_t)klen));
				} else {
					size_t vlen = make_val(rng, i,
							       next_version(),
							       v);

					CHECK_OK(daxkv_batch_put(
						b, k, (size_t)klen, v, vlen));
				}
			}
			CHECK_OK(daxkv_batch_commit(db, b));
			daxkv_batch_free(b);
		}
	}
}

/* ---- checking a copy ---- */

static void scan_all(daxkv *db, const daxkv_snapshot *snap, struct kvset *s)
{
	CHECK_OK(daxkv_scan_at(db, snap, NULL, 0, NULL, 0, collect, s));
}

static uint64_t query_count(daxkv *db)
{
	struct daxkv_query q;
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };

	daxkv_query_init(&q);
	q.backend = DAXKV_BACKEND_CPU;
	CHECK_OK(daxkv_query(db, &q, &res));
	return res.count;
}

/* The copy at @p dir holds exactly @p model, read-only and read-write,
 * with the version rule right on media and nothing for check to find. */
static void check_copy(const char *dir, const struct kvset *model)
{
	struct daxkv_options o;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	struct daxkv_check_options co = {
		.version = DAXKV_CHECK_OPTIONS_VERSION,
	};
	struct daxkv_check_result cr = { .version = DAXKV_CHECK_RESULT_VERSION };
	struct kvset got = { 0 };
	char marker[512];
	daxkv *db;

	snprintf(marker, sizeof(marker), "%s/backup.incomplete", dir);
	CHECK(access(marker, F_OK) != 0);
	CHECK_OK(daxkv_check(dir, &co, &cr));
	if (cr.problems)
		DK_FAIL("%s: check found %llu problems", dir,
			(unsigned long long)cr.problems);
	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_RDONLY;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.stale_marks, 0);
	CHECK_EQ(st.recovery, model->n || st.segments ? DAXKV_RECOVERY_SCAN :
							DAXKV_RECOVERY_NONE);
	scan_all(db, NULL, &got);
	kvset_same(&got, model);
	kvset_free(&got);
	CHECK_EQ(query_count(db), model->n);
	CHECK_OK(daxkv_close(db));
	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_NOCREATE | DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	scan_all(db, NULL, &got);
	kvset_same(&got, model);
	kvset_free(&got);
	CHECK_EQ(query_count(db), model->n);
	/* and it takes writes */
	CHECK_OK(daxkv_put(db, "after-restore", 13, "x", 1));
	CHECK_OK(daxkv_close(db));
}

static daxkv *open_rw(const char *dir)
{
	struct daxkv_options o = dk_small_opts();
	daxkv *db;

	o.flags |= DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	return db;
}

static void test_basic(void)
{
	const char *src = dk_test_dir("bk-src");
	const char *dst = dk_test_dir("bk-dst");
	const char *cmp = dk_test_dir("bk-cmp");
	const char *ro = dk_test_dir("bk-ro");
	struct kvset model = { 0 };
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	uint64_t rng = 42;
	daxkv *db = open_rw(src), *rodb;
	char path[512];
	int fd;

	churn(db, &rng, 4000, 12000);
	CHECK_OK(daxkv_stat(db, &st));
	CHECK(st.segments >= 4); /* several segments, sealed and open */
	scan_all(db, NULL, &model);

	CHECK_OK(daxkv_backup(db, dst, 0));
	check_copy(dst, &model);
	/* compacting, into an existing empty directory */
	CHECK(mkdir(cmp, 0755) == 0);
	CHECK_OK(daxkv_backup(db, cmp, DAXKV_BACKUP_COMPACT));
	check_copy(cmp, &model);
	{
		struct daxkv_stat cst = { .version = DAXKV_STAT_VERSION };
		struct daxkv_options o;

		daxkv_options_init(&o);
		o.flags = DAXKV_OPEN_RDONLY;
		CHECK_OK(daxkv_open(cmp, &o, &rodb));
		CHECK_OK(daxkv_stat(rodb, &cst));
		/* only live records: nothing dead to keep */
		CHECK(cst.bytes_written == cst.live_bytes);
		CHECK(cst.segments < st.segments);
		CHECK_OK(daxkv_close(rodb));
	}

	/* refusals, which leave the destination alone */
	CHECK_RC(daxkv_backup(db, dst, 0), DAXKV_EINVAL);
	CHECK_STR_HAS(daxkv_errmsg(), "not empty");
	CHECK_RC(daxkv_backup(db, src, 0), DAXKV_EINVAL);
	CHECK_RC(daxkv_backup(db, "", 0), DAXKV_EINVAL);
	CHECK_RC(daxkv_backup(NULL, ro, 0), DAXKV_EINVAL);
	CHECK_RC(daxkv_backup(db, ro, 0x80), DAXKV_EINVAL);
	CHECK(access(ro, F_OK) != 0);
	snprintf(path, sizeof(path), "%s/seg-00000000.dat", src);
	fd = open(path, O_RDONLY); /* a file, not a directory */
	CHECK(fd >= 0);
	close(fd);
	CHECK_RC(daxkv_backup(db, path, 0), DAXKV_EINVAL);
	CHECK_OK(daxkv_close(db));

	/* from a read-only handle, while another read-only handle is open */
	{
		struct daxkv_options o;
		daxkv *other;

		daxkv_options_init(&o);
		o.flags = DAXKV_OPEN_RDONLY;
		CHECK_OK(daxkv_open(src, &o, &rodb));
		CHECK_OK(daxkv_open(src, &o, &other));
		CHECK_OK(daxkv_backup(rodb, ro, 0));
		CHECK_OK(daxkv_close(other));
		CHECK_OK(daxkv_close(rodb));
		check_copy(ro, &model);
	}
	kvset_free(&model);
	dk_rmtree(src);
	dk_rmtree(dst);
	dk_rmtree(cmp);
	dk_rmtree(ro);

	/* a database with no record: both kinds of copy open, empty */
	db = open_rw(src);
	CHECK_OK(daxkv_backup(db, dst, 0));
	CHECK_OK(daxkv_backup(db, cmp, DAXKV_BACKUP_COMPACT));
	CHECK_OK(daxkv_close(db));
	check_copy(dst, &model);
	check_copy(cmp, &model);
	dk_rmtree(src);
	dk_rmtree(dst);
	dk_rmtree(cmp);
}

/*
 * Format 2: segments of their own sizes (2 MiB ones under an 8 MiB
 * segment_size, and a bigger one for a batch that needs it).  A plain
 * copy keeps each segment's size, as its header says; a compacting copy
 * makes segments of segment_size.  Both check clean and open.
 */
static void test_segment_sizes(void)
{
	const char *src = dk_test_dir("bk-sz-src");
	const char *dst = dk_test_dir("bk-sz-dst");
	const char *cmp = dk_test_dir("bk-sz-cmp");
	static uint8_t big[512 << 10];
	struct kvset model = { 0 };
	struct daxkv_options o;
	uint64_t rng = 7;
	daxkv_batch *b;
	daxkv *db;

	daxkv_options_init(&o);
	o.segment_size = 8u << 20;
	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(src, &o, &db));
	churn(db, &rng, 4000, 12000);
	memset(big, 'b', sizeof(big));
	CHECK_OK(daxkv_batch_new(&b));
	for (int i = 0; i < 6; i++) {
		char k[16];

		snprintf(k, sizeof(k), "big%d", i);
		CHECK_OK(daxkv_batch_put(b, k, strlen(k), big, sizeof(big)));
	}
	CHECK_OK(daxkv_batch_commit(db, b));
	daxkv_batch_free(b);
	scan_all(db, NULL, &model);
	CHECK_OK(daxkv_backup(db, dst, 0));
	CHECK_OK(daxkv_backup(db, cmp, DAXKV_BACKUP_COMPACT));
	CHECK_OK(daxkv_close(db));
	check_copy(dst, &model);
	check_copy(cmp, &model);
	kvset_free(&model);
	dk_rmtree(src);
	dk_rmtree(dst);
	dk_rmtree(cmp);
}

/* ---- concurrent ---- */

static daxkv *cdb;
static int cstop;

static void *c_writer(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;

	while (!__atomic_load_n(&cstop, __ATOMIC_RELAXED))
		churn(cdb, &rng, 1500, 50);
	return NULL;
}

static void *c_compactor(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&cstop, __ATOMIC_RELAXED)) {
		CHECK_OK(daxkv_compact(cdb));
		usleep(5000);
	}
	return NULL;
}

static void test_concurrent(void)
{
	const char *src = dk_test_dir("bkc-src");
	struct daxkv_options o = dk_small_opts(); /* background compaction */
	unsigned rounds = (unsigned)strtoul(getenv("DAXKV_BACKUP_ROUNDS") ?
						    getenv("DAXKV_BACKUP_ROUNDS") :
						    "8",
					    NULL, 10);
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	uint64_t rng = 7;
	pthread_t t[3];

	CHECK_OK(daxkv_open(src, &o, &cdb));
	churn(cdb, &rng, 1500, 3000);
	for (uintptr_t i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, c_writer,
				     (void *)(i + 100)) == 0);
	CHECK(pthread_create(&t[2], NULL, c_compactor, NULL) == 0);
	for (unsigned r = 0; r < rounds; r++) {
		char name[32];
		const char *dst;
		struct kvset model = { 0 };
		daxkv_snapshot *snap;

		snprintf(name, sizeof(name), "bkc-dst%u", r);
		dst = dk_test_dir(name);
		CHECK_OK(daxkv_snapshot_open(cdb, &snap));
		/* the copy is taken while the writers go on; the model is
		 * what the snapshot reads */
		CHECK_OK(daxkv_backup_at(cdb, snap, dst,
					 r % 2 ? DAXKV_BACKUP_COMPACT : 0));
		scan_all(cdb, snap, &model);
		daxkv_snapshot_close(snap);
		check_copy(dst, &model);
		kvset_free(&model);
		dk_rmtree(dst);
	}
	__atomic_store_n(&cstop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	CHECK_OK(daxkv_stat(cdb, &st));
	printf("concurrent: %u backups beside %llu puts, %llu batches, "
	       "%llu compaction rounds (%llu segments retired)\n",
	       rounds, (unsigned long long)st.puts,
	       (unsigned long long)st.batches,
	       (unsigned long long)st.compactions,
	       (unsigned long long)st.segments_retired);
	CHECK(st.compactions > 0);
	CHECK_OK(daxkv_close(cdb));
	dk_rmtree(src);
}

/* ---- kill ---- */

#define FP_MAX 64

struct fp {
	char name[FP_MAX][64];
	uint64_t size[FP_MAX], mtime[FP_MAX];
	int n;
};

static int fp_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Names, sizes and mtimes of a directory's entries (-1: no directory). */
static int fp_take(const char *dir, struct fp *fp)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char names[FP_MAX][64];
	int n = 0;

	memset(fp, 0, sizeof(*fp));
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		CHECK(n < FP_MAX);
		snprintf(names[n++], 64, "%.63s", de->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, 64, fp_cmp);
	for (int i = 0; i < n; i++) {
		char path[4200];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		CHECK(stat(path, &st) == 0);
		memcpy(fp->name[i], names[i], 64);
		fp->size[i] = (uint64_t)st.st_size;
		fp->mtime[i] = (uint64_t)st.st_mtim.tv_sec * 1000000000ull +
			       (uint64_t)st.st_mtim.tv_nsec;
	}
	fp->n = n;
	return 0;
}

/* A child's whole life: open the source read-only, back it up. */
static int kill_child(const char *src, const char *dst, uint32_t flags)
{
	struct daxkv_options o;
	daxkv *db;

	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_RDONLY;
	if (daxkv_open(src, &o, &db) != 0)
		return 1;
	return daxkv_backup(db, dst, flags) == 0 ? 0 : 2;
}

static void test_kill(void)
{
	const char *src = dk_test_dir("bkk-src");
	const char *dst = dk_test_dir("bkk-dst");
	unsigned rounds = (unsigned)strtoul(getenv("DAXKV_BACKUP_KILLS") ?
						    getenv("DAXKV_BACKUP_KILLS") :
						    "30",
					    NULL, 10);
	struct kvset model = { 0 };
	unsigned complete = 0, partial = 0, empty = 0;
	uint64_t rng = 99, backup_us;
	struct timespec t0, t1;
	daxkv *db = open_rw(src);

	churn(db, &rng, 10000, 15000); /* ~12 MiB of records */
	scan_all(db, NULL, &model);
	CHECK_OK(daxkv_close(db));
	/* how long a child takes here, start to end: kills land across it */
	{
		pid_t child;
		int status;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		child = fork();
		CHECK(child >= 0);
		if (child == 0)
			_exit(kill_child(src, dst, 0));
		CHECK(waitpid(child, &status, 0) == child);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		check_copy(dst, &model);
		dk_rmtree(dst);
		/* signed: the nanoseconds' difference may be negative */
		backup_us = (uint64_t)(((int64_t)(t1.tv_sec - t0.tv_sec) *
						1000000000 +
					(t1.tv_nsec - t0.tv_nsec)) /
				       1000);
	}
	for (unsigned r = 0; r < rounds; r++) {
		struct daxkv_options o;
		struct fp before, after;
		char marker[512], meta[512];
		pid_t child;
		int status, rc;
		daxkv *copy = NULL;

		child = fork();
		CHECK(child >= 0);
		if (child == 0) /* alternate plain and compacting copies */
			_exit(kill_child(src, dst, r % 2 ? DAXKV_BACKUP_COMPACT :
							   0));
		/* from just after the fork to a little past the end */
		usleep((useconds_t)(dk_rand(&rng) % (backup_us * 11 / 10 + 1)));
		kill(child, SIGKILL);
		CHECK(waitpid(child, &status, 0) == child);
		CHECK(!WIFEXITED(status) || WEXITSTATUS(status) == 0);

		snprintf(marker, sizeof(marker), "%s/backup.incomplete", dst);
		snprintf(meta, sizeof(meta), "%s/meta.pool", dst);
		if (fp_take(dst, &before) != 0) {
			empty++; /* killed before it made the directory */
			continue;
		}
		if (access(marker, F_OK) != 0 && access(meta, F_OK) == 0) {
			complete++;
			check_copy(dst, &model);
			dk_rmtree(dst);
			continue;
		}
		if (before.n == 0) {
			/* killed between mkdir and the marker: an empty
			 * directory, which is no database either */
			empty++;
			daxkv_options_init(&o);
			o.flags = DAXKV_OPEN_NOCREATE;
			CHECK_RC(daxkv_open(dst, &o, &copy), DAXKV_ENODB);
			dk_rmtree(dst);
			continue;
		}
		partial++;
		CHECK(access(marker, F_OK) == 0);
		/* every kind of open refuses it, creation allowed or not */
		CHECK_RC(daxkv_open(dst, NULL, &copy), DAXKV_ENODB);
		CHECK_STR_HAS(daxkv_errmsg(), "unfinished backup");
		daxkv_options_init(&o);
		o.flags = DAXKV_OPEN_RDONLY;
		CHECK_RC(daxkv_open(dst, &o, &copy), DAXKV_ENODB);
		o.flags = DAXKV_OPEN_NOCREATE;
		rc = daxkv_open(dst, &o, &copy);
		CHECK_RC(rc, DAXKV_ENODB);
		{
			struct daxkv_check_options co = {
				.version = DAXKV_CHECK_OPTIONS_VERSION,
			};
			struct daxkv_check_result cr = {
				.version = DAXKV_CHECK_RESULT_VERSION
			};

			CHECK_RC(daxkv_check(dst, &co, &cr), DAXKV_ENODB);
		}
		CHECK(fp_take(dst, &after) == 0);
		CHECK_EQ(after.n, before.n);
		for (int i = 0; i < before.n; i++) {
			CHECK(!strcmp(before.name[i], after.name[i]));
			CHECK_EQ(before.size[i], after.size[i]);
			CHECK_EQ(before.mtime[i], after.mtime[i]);
		}
		dk_rmtree(dst);
	}
	printf("kill: a child's open and backup take %llu us; %u rounds: %u "
	       "killed before "
	       "the marker, %u partial (refused), %u complete (equal)\n",
	       (unsigned long long)backup_us, rounds, empty, partial, complete);
	CHECK(partial > 0);
	kvset_free(&model);
	dk_rmtree(src);
}

static const struct dk_case cases[] = {
	{ "basic", test_basic },
	{ "segment_sizes", test_segment_sizes },
	{ "concurrent", test_concurrent },
	{ "kill", test_kill },
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
