// SPDX-License-Identifier: MIT
/*
 * engine_test.c -- the engine's API contract: semantics, bad input and
 * damaged databases, one case per behaviour.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <libpmemobj.h>

#include "crc32c.h"
#include "dk_test.h"
#include "layout.h"

static daxkv *open_small(const char *dir)
{
	struct daxkv_options o = dk_small_opts();
	daxkv *db = NULL;

	CHECK_OK(daxkv_open(dir, &o, &db));
	return db;
}

static void put_str(daxkv *db, const char *k, const char *v)
{
	CHECK_OK(daxkv_put(db, k, strlen(k), v, strlen(v)));
}

/* Value of k as a C string, or NULL if missing. */
static char *get_str(daxkv *db, const char *k)
{
	static char buf[4096];
	size_t vlen = 0;
	int rc = daxkv_get(db, k, strlen(k), buf, sizeof(buf) - 1, &vlen);

	if (rc == DAXKV_ENOTFOUND)
		return NULL;
	CHECK_OK(rc);
	buf[vlen] = '\0';
	return buf;
}

static void test_crc32c(void)
{
	uint8_t buf[300];
	uint64_t seed = 7;

	CHECK_EQ(dk_crc32c(0, "123456789", 9), 0xe3069283u);
	CHECK_EQ(dk_crc32c_portable(0, "123456789", 9), 0xe3069283u);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)dk_rand(&seed);
	for (size_t start = 0; start < 9; start++)
		for (size_t len = 0; len + start <= sizeof(buf); len += 7)
			CHECK_EQ(dk_crc32c(0, buf + start, len),
				 dk_crc32c_portable(0, buf + start, len));
	/* chaining equals one pass */
	CHECK_EQ(dk_crc32c(dk_crc32c(0, buf, 100), buf + 100, 200),
		 dk_crc32c(0, buf, 300));
}

static void test_basic(void)
{
	const char *dir = dk_test_dir("basic");
	daxkv *db = open_small(dir);
	char small[2];
	size_t vlen = 0;

	CHECK(get_str(db, "a") == NULL);
	put_str(db, "a", "one");
	CHECK(!strcmp(get_str(db, "a"), "one"));
	put_str(db, "a", "two");
	CHECK(!strcmp(get_str(db, "a"), "two"));
	/* ERANGE: size reported, nothing copied */
	small[0] = 'x';
	CHECK_RC(daxkv_get(db, "a", 1, small, 2, &vlen), DAXKV_ERANGE);
	CHECK_EQ(vlen, 3);
	CHECK_EQ(small[0], 'x');
	CHECK_RC(daxkv_get(db, "a", 1, NULL, 0, &vlen), DAXKV_ERANGE);
	CHECK_EQ(vlen, 3);
	/* empty value */
	CHECK_OK(daxkv_put(db, "e", 1, NULL, 0));
	CHECK_OK(daxkv_get(db, "e", 1, NULL, 0, &vlen));
	CHECK_EQ(vlen, 0);
	/* delete */
	CHECK_OK(daxkv_delete(db, "a", 1));
	CHECK(get_str(db, "a") == NULL);
	CHECK_RC(daxkv_delete(db, "a", 1), DAXKV_ENOTFOUND);
	CHECK_RC(daxkv_delete(db, "never", 5), DAXKV_ENOTFOUND);
	put_str(db, "a", "three");
	CHECK(!strcmp(get_str(db, "a"), "three"));
	CHECK_OK(daxkv_close(db));
	db = open_small(dir);
	CHECK(!strcmp(get_str(db, "a"), "three"));
	CHECK_OK(daxkv_get(db, "e", 1, NULL, 0, &vlen));
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void test_limits(void)
{
	const char *dir = dk_test_dir("limits");
	daxkv *db = open_small(dir);
	uint8_t *key = malloc(DAXKV_MAX_KEY + 1);
	uint8_t *val = malloc(DAXKV_MAX_VALUE + 1);
	uint8_t *out = malloc(DAXKV_MAX_VALUE);
	size_t vlen;

	CHECK(key && val && out);
	memset(key, 0xab, DAXKV_MAX_KEY + 1);
	for (size_t i = 0; i <= DAXKV_MAX_VALUE; i++)
		val[i] = (uint8_t)(i * 31);
	CHECK_OK(daxkv_put(db, key, DAXKV_MAX_KEY, val, DAXKV_MAX_VALUE));
	CHECK_OK(daxkv_get(db, key, DAXKV_MAX_KEY, out, DAXKV_MAX_VALUE,
			   &vlen));
	CHECK_EQ(vlen, DAXKV_MAX_VALUE);
	CHECK_MEM(out, val, DAXKV_MAX_VALUE);
	CHECK_RC(daxkv_put(db, key, DAXKV_MAX_KEY + 1, val, 1), DAXKV_EINVAL);
	CHECK_STR_HAS(daxkv_errmsg(), "key");
	CHECK_RC(daxkv_put(db, key, 1, val, DAXKV_MAX_VALUE + 1),
		 DAXKV_EINVAL);
	CHECK_STR_HAS(daxkv_errmsg(), "value");
	CHECK_RC(daxkv_get(db, key, DAXKV_MAX_KEY + 1, out, 1, &vlen),
		 DAXKV_EINVAL);
	CHECK_OK(daxkv_close(db));
	free(key);
	free(val);
	free(out);
	dk_rmtree(dir);
}

static int count_cb(const void *k, size_t kl, const void *v, size_t vl,
		    void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void test_bad_input(void)
{
	const char *dir = dk_test_dir("badin");
	struct daxkv_options o = dk_small_opts();
	daxkv_batch *b = NULL;
	daxkv *db = open_small(dir);
	char path[300];
	size_t vlen;
	int fd, n = 0;

	CHECK_RC(daxkv_put(NULL, "k", 1, "v", 1), DAXKV_EINVAL);
	CHECK_RC(daxkv_put(db, NULL, 1, "v", 1), DAXKV_EINVAL);
	CHECK_RC(daxkv_put(db, "k", 0, "v", 1), DAXKV_EINVAL);
	CHECK_RC(daxkv_put(db, "k", 1, NULL, 1), DAXKV_EINVAL);
	CHECK_RC(daxkv_get(db, "k", 1, NULL, 0, NULL), DAXKV_EINVAL);
	CHECK_RC(daxkv_get(db, "k", 1, NULL, 5, &vlen), DAXKV_EINVAL);
	CHECK_RC(daxkv_get(NULL, "k", 1, NULL, 0, &vlen), DAXKV_EINVAL);
	CHECK_RC(daxkv_delete(db, NULL, 0), DAXKV_EINVAL);
	CHECK_RC(daxkv_scan(db, NULL, 0, NULL, 0, NULL, NULL), DAXKV_EINVAL);
	CHECK_RC(daxkv_scan(db, NULL, 3, NULL, 0, count_cb, &n), DAXKV_EINVAL);
	CHECK_RC(daxkv_batch_new(NULL), DAXKV_EINVAL);
	CHECK_OK(daxkv_batch_new(&b));
	CHECK_RC(daxkv_batch_put(b, "k", 0, "v", 1), DAXKV_EINVAL);
	CHECK_RC(daxkv_batch_put(NULL, "k", 1, "v", 1), DAXKV_EINVAL);
	CHECK_RC(daxkv_batch_delete(b, NULL, 1), DAXKV_EINVAL);
	CHECK_RC(daxkv_batch_commit(NULL, b), DAXKV_EINVAL);
	CHECK_RC(daxkv_batch_commit(db, NULL), DAXKV_EINVAL);
	daxkv_batch_free(b);
	daxkv_batch_free(NULL);
	CHECK_RC(daxkv_stat(db, NULL), DAXKV_EINVAL);
	{
		struct daxkv_stat st = { .version = 99 };

		CHECK_RC(daxkv_stat(db, &st), DAXKV_EINVAL);
	}
	CHECK_OK(daxkv_close(NULL));
	CHECK_OK(daxkv_close(db));

	/* options */
	CHECK_RC(daxkv_open(NULL, NULL, &db), DAXKV_EINVAL);
	CHECK_RC(daxkv_open("", NULL, &db), DAXKV_EINVAL);
	CHECK_RC(daxkv_open(dir, NULL, NULL), DAXKV_EINVAL);
	o.version = 0;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EINVAL);
	o = dk_small_opts();
	o.segment_size = 3u << 20;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EINVAL);
	CHECK_STR_HAS(daxkv_errmsg(), "segment_size");
	o = dk_small_opts();
	o.flags = 0x200; /* no such flag */
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EINVAL);
	o.flags = DAXKV_OPEN_NOCREATE | DAXKV_OPEN_EXCLUSIVE;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EINVAL);
	o.flags = DAXKV_OPEN_EXCLUSIVE;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EINVAL);
	CHECK_STR_HAS(daxkv_errmsg(), "exists");

	/* a path that is a file */
	snprintf(path, sizeof(path), "%s/plainfile", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	close(fd);
	CHECK_RC(daxkv_open(path, NULL, &db), DAXKV_EINVAL);
	CHECK_STR_HAS(daxkv_errmsg(), "not a directory");
	/* a directory that is no database, without create */
	o = dk_small_opts();
	o.flags = DAXKV_OPEN_NOCREATE;
	snprintf(path, sizeof(path), "%s-empty", dir);
	CHECK(mkdir(path, 0755) == 0);
	CHECK_RC(daxkv_open(path, &o, &db), DAXKV_ENODB);
	rmdir(path);
	snprintf(path, sizeof(path), "%s-missing", dir);
	CHECK_RC(daxkv_open(path, &o, &db), DAXKV_ENODB);
	CHECK_EQ(access(path, F_OK), -1);
	dk_rmtree(dir);
}

struct collect {
	char keys[64][16];
	int n;
	int stop_after;
};

static int collect_cb(const void *k, size_t kl, const void *v, size_t vl,
		      void *arg)
{
	struct collect *c = arg;

	CHECK(kl < 16 && c->n < 64);
	memcpy(c->keys[c->n], k, kl);
	c->keys[c->n][kl] = '\0';
	c->n++;
	if (c->stop_after && c->n == c->stop_after)
		return 42;
	return 0;
}

static void test_scan(void)
{
	const char *dir = dk_test_dir("scan");
	daxkv *db = open_small(dir);
	const char *keys[] = { "b", "a", "ab", "abc", "c", "ba", "" };
	struct collect c;

	for (int i = 0; keys[i][0]; i++)
		put_str(db, keys[i], keys[i]);
	memset(&c, 0, sizeof(c));
	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, collect_cb, &c));
	CHECK_EQ(c.n, 6);
	/* bytewise order; a proper prefix sorts first */
	CHECK(!strcmp(c.keys[0], "a") && !strcmp(c.keys[1], "ab") &&
	      !strcmp(c.keys[2], "abc") && !strcmp(c.keys[3], "b") &&
	      !strcmp(c.keys[4], "ba") && !strcmp(c.keys[5], "c"));
	memset(&c, 0, sizeof(c));
	CHECK_OK(daxkv_scan(db, "ab", 2, "ba", 2, collect_cb, &c));
	CHECK_EQ(c.n, 3); /* ab abc b: hi is exclusive */
	CHECK(!strcmp(c.keys[0], "ab") && !strcmp(c.keys[2], "b"));
	memset(&c, 0, sizeof(c));
	CHECK_OK(daxkv_scan(db, "bb", 2, NULL, 0, collect_cb, &c));
	CHECK_EQ(c.n, 1);
	memset(&c, 0, sizeof(c));
	CHECK_OK(daxkv_scan(db, "c", 1, "c", 1, collect_cb, &c));
	CHECK_EQ(c.n, 0);
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	CHECK_RC(daxkv_scan(db, NULL, 0, NULL, 0, collect_cb, &c), 42);
	CHECK_EQ(c.n, 2);
	/* deleted keys are not visited */
	CHECK_OK(daxkv_delete(db, "abc", 3));
	memset(&c, 0, sizeof(c));
	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, collect_cb, &c));
	CHECK_EQ(c.n, 5);
	/* binary keys: 0x00 and 0xff order as bytes */
	CHECK_OK(daxkv_put(db, "\x00", 1, "z", 1));
	CHECK_OK(daxkv_put(db, "\xff", 1, "z", 1));
	memset(&c, 0, sizeof(c));
	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, collect_cb, &c));
	CHECK_EQ(c.n, 7);
	CHECK_EQ((uint8_t)c.keys[0][0], 0);
	CHECK_EQ((uint8_t)c.keys[6][0], 0xff);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static int put_in_scan_cb(const void *k, size_t kl, const void *v, size_t vl,
			  void *arg)
{
	daxkv *db = arg;
	char nk[32];

	/* writes during a scan are not seen by it */
	snprintf(nk, sizeof(nk), "z%.*s", (int)kl, (const char *)k);
	CHECK_OK(daxkv_put(db, nk, strlen(nk), "new", 3));
	return 0;
}

static void test_scan_snapshot_self(void)
{
	const char *dir = dk_test_dir("scanself");
	daxkv *db = open_small(dir);
	int n = 0;

	put_str(db, "a", "1");
	put_str(db, "b", "2");
	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, put_in_scan_cb, db));
	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, count_cb, &n));
	CHECK_EQ(n, 4); /* a b za zb: the scan above saw only a and b */
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void test_batch(void)
{
	const char *dir = dk_test_dir("batch");
	daxkv *db = open_small(dir);
	daxkv_batch *b;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };

	put_str(db, "old", "x");
	CHECK_OK(daxkv_batch_new(&b));
	CHECK_OK(daxkv_batch_commit(db, b)); /* empty: nothing */
	CHECK_OK(daxkv_batch_put(b, "k1", 2, "v1", 2));
	CHECK_OK(daxkv_batch_put(b, "k2", 2, "v2", 2));
	CHECK_OK(daxkv_batch_put(b, "k1", 2, "v1b", 3)); /* last wins */
	CHECK_OK(daxkv_batch_delete(b, "old", 3));
	CHECK_OK(daxkv_batch_delete(b, "missing", 7)); /* not an error */
	CHECK_OK(daxkv_batch_commit(db, b));
	CHECK(!strcmp(get_str(db, "k1"), "v1b"));
	CHECK(!strcmp(get_str(db, "k2"), "v2"));
	CHECK(get_str(db, "old") == NULL);
	CHECK(get_str(db, "missing") == NULL);
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.keys, 2);
	daxkv_batch_clear(b);
	CHECK_OK(daxkv_batch_put(b, "k2", 2, "v2b", 3));
	CHECK_OK(daxkv_batch_delete(b, "k2", 2)); /* then deleted */
	CHECK_OK(daxkv_batch_commit(db, b));
	CHECK(get_str(db, "k2") == NULL);
	/* a batch larger than a segment is refused, and nothing lands */
	daxkv_batch_clear(b);
	{
		static uint8_t big[DAXKV_MAX_VALUE];

		CHECK_OK(daxkv_batch_put(b, "b1", 2, big, sizeof(big)));
		CHECK_OK(daxkv_batch_put(b, "b2", 2, big, sizeof(big)));
		CHECK_OK(daxkv_batch_put(b, "b3", 2, big, sizeof(big)));
		CHECK_RC(daxkv_batch_commit(db, b), DAXKV_EINVAL);
		CHECK_STR_HAS(daxkv_errmsg(), "segment");
		CHECK(get_str(db, "b1") == NULL);
	}
	daxkv_batch_free(b);
	CHECK_OK(daxkv_close(db));
	db = open_small(dir);
	CHECK(!strcmp(get_str(db, "k1"), "v1b"));
	CHECK(get_str(db, "k2") == NULL);
	CHECK(get_str(db, "old") == NULL);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* Fill, reopen by checkpoint and by scan: the same data either way. */
static void test_reopen_paths(void)
{
	const char *dir = dk_test_dir("reopen");
	struct daxkv_options o = dk_small_opts();
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	daxkv *db = open_small(dir);
	char k[32], v[200];

	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.recovery, DAXKV_RECOVERY_NONE);
	/* the mode this machine must give: emulated on /dev/shm, map_sync on
	 * a DAX mount (the VM suite says which through the environment) */
	CHECK(!strcmp(daxkv_durability_name(st.durability),
		      getenv("DAXKV_EXPECT_DURABILITY") ?
			      getenv("DAXKV_EXPECT_DURABILITY") :
			      "emulated"));
	for (int i = 0; i < 30000; i++) {
		snprintf(k, sizeof(k), "key%06d", i % 20000);
		snprintf(v, sizeof(v), "value-%d-%0*d", i, 100, i);
		CHECK_OK(daxkv_put(db, k, strlen(k), v, strlen(v)));
	}
	for (int i = 0; i < 20000; i += 3) {
		snprintf(k, sizeof(k), "key%06d", i);
		CHECK_OK(daxkv_delete(db, k, strlen(k)));
	}
	CHECK_OK(daxkv_stat(db, &st));
	CHECK(st.segments > 1); /* rolled over several times */
	CHECK_EQ(st.keys, 20000 - 6667);
	CHECK_OK(daxkv_close(db));
	for (int pass = 0; pass < 2; pass++) {
		o.flags = pass ? DAXKV_OPEN_NOCHECKPOINT : 0;
		CHECK_OK(daxkv_open(dir, &o, &db));
		CHECK_OK(daxkv_stat(db, &st));
		CHECK_EQ(st.recovery, pass ? DAXKV_RECOVERY_SCAN :
					     DAXKV_RECOVERY_CHECKPOINT);
		CHECK_EQ(st.keys, 20000 - 6667 + pass); /* + "after" */
		for (int i = 0; i < 20000; i++) {
			char *got;

			snprintf(k, sizeof(k), "key%06d", i);
			got = get_str(db, k);
			if (i % 3 == 0) {
				CHECK(got == NULL);
				continue;
			}
			snprintf(v, sizeof(v), "value-%d-%0*d",
				 i < 10000 ? i + 20000 : i, 100,
				 i < 10000 ? i + 20000 : i);
			CHECK(got && !strcmp(got, v));
		}
		/* and it keeps working after reopen */
		put_str(db, "after", pass ? "scan" : "ckpt");
		CHECK_OK(daxkv_close(db));
	}
	db = open_small(dir);
	CHECK(!strcmp(get_str(db, "after"), "scan"));
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void test_busy(void)
{
	const char *dir = dk_test_dir("busy");
	daxkv *db = open_small(dir), *db2 = NULL;
	char pid[32];
	pid_t child;
	int status;

	/* the same process opening twice */
	CHECK_RC(daxkv_open(dir, NULL, &db2), DAXKV_EBUSY);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	CHECK_STR_HAS(daxkv_errmsg(), pid);
	/* another process */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		int rc = daxkv_open(dir, NULL, &db2);

		_exit(rc == DAXKV_EBUSY && strstr(daxkv_errmsg(), pid) ? 0 : 1);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(daxkv_close(db));
	db = open_small(dir); /* free again */
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void test_permission(void)
{
	const char *dir = dk_test_dir("perm");
	daxkv *db = open_small(dir);
	pid_t child;
	int status;

	CHECK_OK(daxkv_close(db));
	CHECK(chmod(dir, 0700) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		int rc;

		/* as root, permissions do not apply: become nobody */
		if (geteuid() == 0 && setuid(65534) != 0)
			_exit(3);
		if (geteuid() == 0)
			_exit(3);
		chmod(dir, 0700); /* not ours: fails, fine */
		rc = daxkv_open(dir, NULL, &db);
		if (rc != DAXKV_EPERM) {
			fprintf(stderr, "got %d: %s\n", rc, daxkv_errmsg());
			_exit(1);
		}
		_exit(0);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	chmod(dir, 0755);
	dk_rmtree(dir);
}

static void pool_set_version(const char *dir, uint32_t version)
{
	char path[300];
	PMEMobjpool *pop;
	struct dk_meta_root *root;

	snprintf(path, sizeof(path), "%s/meta.pool", dir);
	pop = pmemobj_open(path, DK_POOL_LAYOUT);
	CHECK(pop != NULL);
	root = pmemobj_direct(pmemobj_root(pop, sizeof(*root)));
	root->format_version = version;
	pmemobj_persist(pop, &root->format_version,
			sizeof(root->format_version));
	pmemobj_close(pop);
}

static void test_future_version(void)
{
	const char *dir = dk_test_dir("version");
	daxkv *db = open_small(dir);

	put_str(db, "k", "v");
	CHECK_OK(daxkv_close(db));
	pool_set_version(dir, DK_FORMAT_VERSION + 1);
	CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_EVERSION);
	{
		char want[32];

		snprintf(want, sizeof(want), "format version %u",
			 DK_FORMAT_VERSION + 1);
		CHECK_STR_HAS(daxkv_errmsg(), want);
	}
	pool_set_version(dir, DK_FORMAT_VERSION);
	db = open_small(dir);
	CHECK(!strcmp(get_str(db, "k"), "v"));
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	CHECK(stat(path, &st) == 0);
	return (uint64_t)st.st_size;
}

/* Set every segment header of @p dir to format @p version (crc redone). */
static void segments_set_version(const char *dir, uint32_t version)
{
	for (uint32_t slot = 0; slot < 64; slot++) {
		struct dk_seg_header hdr;
		char path[300];
		int fd;

		snprintf(path, sizeof(path), "%s/seg-%08u.dat", dir, slot);
		fd = open(path, O_RDWR);
		if (fd < 0)
			continue;
		CHECK(pread(fd, &hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr));
		hdr.format_version = version;
		hdr.crc = dk_crc32c(0, &hdr, offsetof(struct dk_seg_header, crc));
		CHECK(pwrite(fd, &hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr));
		close(fd);
	}
}

static int size_cb(const struct daxkv_segment_info *info, void *arg)
{
	uint64_t *sizes = arg;

	sizes[info->size == (2u << 20) ? 0 : info->size == (4u << 20) ? 1 : 2]++;
	return 0;
}

/*
 * Format 2: a segment's size is its own, up to segment_size.  A small
 * database gets 2 MiB segments under the 64 MiB default, and a batch too
 * big for one gets a bigger one; mixed sizes reopen (scan and
 * checkpoint), check clean and compact.
 */
static void test_segment_sizes(void)
{
	const char *dir = dk_test_dir("sizes");
	struct daxkv_check_options co;
	struct daxkv_check_result res;
	struct daxkv_stat st;
	uint64_t sizes[3] = { 0, 0, 0 };
	static uint8_t big[DAXKV_MAX_VALUE];
	daxkv_batch *b;
	daxkv *db;
	char k[32];

	CHECK_OK(daxkv_open(dir, NULL, &db)); /* segment_size 64 MiB */
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		CHECK_OK(daxkv_put(db, k, strlen(k), big, 100 + i % 200));
	}
	CHECK_OK(daxkv_batch_new(&b));
	for (int i = 0; i < 3; i++) {
		snprintf(k, sizeof(k), "big%d", i);
		CHECK_OK(daxkv_batch_put(b, k, strlen(k), big, sizeof(big)));
	}
	CHECK_OK(daxkv_batch_commit(db, b));
	daxkv_batch_free(b);
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		CHECK_OK(daxkv_put(db, k, strlen(k), big, 300));
	}
	CHECK_OK(daxkv_segment_foreach(db, size_cb, sizes));
	CHECK(sizes[0] >= 3); /* 2 MiB */
	CHECK_EQ(sizes[1], 1); /* the batch's */
	CHECK_EQ(sizes[2], 0);
	memset(&st, 0, sizeof(st));
	st.version = DAXKV_STAT_VERSION;
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.format_version, DK_FORMAT_VERSION);
	CHECK_EQ(st.segment_size, 64u << 20);
	CHECK(st.bytes_mapped < 32u << 20);
	CHECK_OK(daxkv_close(db));
	for (int pass = 0; pass < 2; pass++) {
		struct daxkv_options o;
		size_t len;

		daxkv_options_init(&o);
		o.flags = pass ? DAXKV_OPEN_NOCHECKPOINT : 0;
		CHECK_OK(daxkv_open(dir, &o, &db));
		CHECK_OK(daxkv_get(db, "big2", 4, big, sizeof(big), &len));
		CHECK_EQ(len, sizeof(big));
		CHECK_OK(daxkv_compact(db));
		CHECK_OK(daxkv_get(db, "key012345", 9, big, sizeof(big), &len));
		CHECK_EQ(len, 300);
		CHECK_OK(daxkv_close(db));
	}
	memset(&co, 0, sizeof(co));
	co.version = DAXKV_CHECK_OPTIONS_VERSION;
	memset(&res, 0, sizeof(res));
	res.version = DAXKV_CHECK_RESULT_VERSION;
	CHECK_OK(daxkv_check(dir, &co, &res));
	CHECK_EQ(res.problems, 0);
	dk_rmtree(dir);
}

static void write_at(const char *path, off_t off, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY);

	CHECK(fd >= 0);
	CHECK(pwrite(fd, buf, n, off) == (ssize_t)n);
	close(fd);
}

/*
 * A format 1 database (every segment segment_size) is read and written
 * as it is: new segments are segment_size and format 1 too.
 */
static void test_format1(void)
{
	const char *dir = dk_test_dir("format1");
	struct daxkv_options o;
	struct daxkv_stat st;
	char k[32], path[300];
	daxkv *db;

	daxkv_options_init(&o);
	o.segment_size = 4u << 20;
	CHECK_OK(daxkv_open(dir, &o, &db));
	put_str(db, "k", "v");
	CHECK_OK(daxkv_close(db));
	/* its one segment is 2 MiB: format 1 wants 4 */
	snprintf(path, sizeof(path), "%s/seg-00000000.dat", dir);
	CHECK_EQ(file_size(path), 2u << 20);
	pool_set_version(dir, 1);
	segments_set_version(dir, 1);
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_ECORRUPT);
	CHECK_STR_HAS(daxkv_errmsg(), "expected 4194304");
	CHECK(truncate(path, 4u << 20) == 0);
	segments_set_version(dir, 1); /* the header says its size */
	{
		int fd = open(path, O_RDWR);
		struct dk_seg_header hdr;

		CHECK(fd >= 0);
		CHECK(pread(fd, &hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr));
		hdr.size = 4u << 20;
		hdr.crc = dk_crc32c(0, &hdr, offsetof(struct dk_seg_header, crc));
		CHECK(pwrite(fd, &hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr));
		close(fd);
	}
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK(!strcmp(get_str(db, "k"), "v"));
	for (int i = 0; i < 10000; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		put_str(db, k, "a value of some thirty bytes...");
	}
	memset(&st, 0, sizeof(st));
	st.version = DAXKV_STAT_VERSION;
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.format_version, 1);
	CHECK(st.segments >= 1);
	CHECK_OK(daxkv_close(db));
	for (uint32_t slot = 0; slot < 8; slot++) {
		snprintf(path, sizeof(path), "%s/seg-%08u.dat", dir, slot);
		if (access(path, F_OK) == 0)
			CHECK_EQ(file_size(path), 4u << 20);
	}
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK(!strcmp(get_str(db, "key009999"), "a value of some thirty bytes..."));
	CHECK_OK(daxkv_close(db));
	/* a format 1 library wrote checkpoints of format 1: this one does
	 * not read them (it scans the segments instead), and loses nothing */
	{
		uint32_t v1 = 1;

		snprintf(path, sizeof(path), "%s/checkpoint.dat", dir);
		write_at(path, offsetof(struct dk_ckpt_header, format_version),
			 &v1, sizeof(v1));
	}
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK(!strcmp(get_str(db, "k"), "v"));
	CHECK(!strcmp(get_str(db, "key000000"), "a value of some thirty bytes..."));
	CHECK(!strcmp(get_str(db, "key009999"), "a value of some thirty bytes..."));
	CHECK_OK(daxkv_close(db));
	/* and read-only (which reads the meta pool its own way) */
	{
		struct daxkv_options ro;

		daxkv_options_init(&ro);
		ro.flags = DAXKV_OPEN_RDONLY;
		CHECK_OK(daxkv_open(dir, &ro, &db));
		memset(&st, 0, sizeof(st));
		st.version = DAXKV_STAT_VERSION;
		CHECK_OK(daxkv_stat(db, &st));
		CHECK_EQ(st.format_version, 1);
		CHECK(!strcmp(get_str(db, "key004321"),
			      "a value of some thirty bytes..."));
		CHECK_OK(daxkv_close(db));
	}
	{
		struct daxkv_check_options co;
		struct daxkv_check_result res;

		memset(&co, 0, sizeof(co));
		co.version = DAXKV_CHECK_OPTIONS_VERSION;
		memset(&res, 0, sizeof(res));
		res.version = DAXKV_CHECK_RESULT_VERSION;
		CHECK_OK(daxkv_check(dir, &co, &res));
		CHECK_EQ(res.problems, 0);
	}
	dk_rmtree(dir);
}

static void fill_db(const char *dir, int n)
{
	daxkv *db = open_small(dir);
	char k[32], v[300];

	memset(v, 'v', sizeof(v));
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		CHECK_OK(daxkv_put(db, k, strlen(k), v, sizeof(v)));
	}
	CHECK_OK(daxkv_close(db));
}

static void test_corrupt(void)
{
	const char *dir = dk_test_dir("corrupt");
	struct daxkv_options o = dk_small_opts();
	char seg0[300], path[300];
	daxkv *db;
	const char garbage[] = "garbage garbage garbage";

	snprintf(seg0, sizeof(seg0), "%s/seg-00000000.dat", dir);

	/* garbage in the header */
	fill_db(dir, 10000);
	write_at(seg0, 8, garbage, sizeof(garbage));
	CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
	CHECK_STR_HAS(daxkv_errmsg(), "seg-00000000.dat offset 0");
	dk_rmtree(dir);

	/* garbage in the middle of a sealed segment, found by the scan */
	fill_db(dir, 10000);
	write_at(seg0, 4096 + 5000, garbage, sizeof(garbage));
	o.flags = DAXKV_OPEN_NOCHECKPOINT;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_ECORRUPT);
	CHECK_STR_HAS(daxkv_errmsg(), "seg-00000000.dat offset ");
	CHECK_STR_HAS(daxkv_errmsg(), "with valid records after them");
	/* the checkpoint path checks every record it points to: falls back
	 * to the scan, which reports the damage */
	CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
	dk_rmtree(dir);

	/* a truncated segment */
	fill_db(dir, 10000);
	CHECK(truncate(seg0, 1u << 20) == 0);
	CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
	CHECK_STR_HAS(daxkv_errmsg(), "seg-00000000.dat");
	CHECK_STR_HAS(daxkv_errmsg(), "truncated");
	dk_rmtree(dir);

	/* a missing segment */
	fill_db(dir, 10000);
	CHECK(unlink(seg0) == 0);
	CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
	CHECK_STR_HAS(daxkv_errmsg(), "missing");
	dk_rmtree(dir);

	/* garbage metadata */
	fill_db(dir, 10);
	snprintf(path, sizeof(path), "%s/meta.pool", dir);
	for (off_t off = 0; off < 8192; off += sizeof(garbage))
		write_at(path, off, garbage, sizeof(garbage));
	CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
	CHECK_STR_HAS(daxkv_errmsg(), "meta.pool");
	dk_rmtree(dir);

	/*
	 * Words of the pool descriptor that libpmemobj does not checksum
	 * but trusts (heap size, root offset and size, conversion flags):
	 * the engine checks them before pmemobj_open, which would leak or
	 * fault on them (found by fuzz_open).
	 */
	{
		static const struct { off_t off; uint64_t val; const char *what; }
			bad[] = {
			{ 6176, 12345, "offset 6176: heap size 12345" },
			{ 6176, 0, "offset 6176: heap size 0" },
			{ 6144, 7, "offset 6144: root object at 7" },
			{ 6144, 1ull << 40, "offset 6144: root object" },
			{ 6160, 1ull << 30, "offset 6144: root object" },
			{ 6168, 0x10, "offset 6168: unknown conversion" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			fill_db(dir, 10);
			snprintf(path, sizeof(path), "%s/meta.pool", dir);
			write_at(path, bad[i].off, &bad[i].val,
				 sizeof(bad[i].val));
			CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
			CHECK_STR_HAS(daxkv_errmsg(), "meta.pool");
			CHECK_STR_HAS(daxkv_errmsg(), bad[i].what);
			/* the offline check reports it, without opening */
			{
				struct daxkv_check_options co = {
					.version = DAXKV_CHECK_OPTIONS_VERSION
				};
				struct daxkv_check_result cr = {
					.version = DAXKV_CHECK_RESULT_VERSION
				};

				CHECK_OK(daxkv_check(dir, &co, &cr));
				CHECK_EQ(cr.problems, 1);
				CHECK_EQ(cr.segments, 0);
			}
			dk_rmtree(dir);
		}
	}

	/* a truncated metadata pool */
	fill_db(dir, 10);
	CHECK(truncate(path, 4096) == 0);
	CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
	dk_rmtree(dir);

	/* an empty segment file where a segment should be */
	fill_db(dir, 10);
	CHECK(truncate(seg0, 0) == 0);
	CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
	dk_rmtree(dir);
}

/* A crash leaves the segment open; a torn last record is discarded and
 * everything before it survives. */
static void test_torn_tail(void)
{
	const char *dir = dk_test_dir("torn");
	struct daxkv_options o = dk_small_opts();
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	char seg0[300], k[32];
	uint64_t last_off = 0;
	daxkv *db;
	pid_t child;
	int status;

	snprintf(seg0, sizeof(seg0), "%s/seg-00000000.dat", dir);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		daxkv *cdb = open_small(dir);

		for (int i = 0; i < 100; i++) {
			snprintf(k, sizeof(k), "key%03d", i);
			CHECK_OK(daxkv_put(cdb, k, strlen(k), "value", 5));
		}
		_exit(0); /* no close: as after a crash */
	}
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	/* the last record starts at 4096 + 99 * size */
	last_off = DK_SEG_HDR_SIZE + 99 * dk_rec_size(6, 5);
	write_at(seg0, (off_t)last_off + DK_REC_HDR_SIZE + 2, "X", 1);
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.recovery, DAXKV_RECOVERY_SCAN);
	CHECK_EQ(st.keys, 99);
	CHECK_EQ(st.discarded_records, 1);
	CHECK(get_str(db, "key099") == NULL);
	CHECK(!strcmp(get_str(db, "key098"), "value"));
	/* appends resume over the torn bytes */
	put_str(db, "after", "torn");
	CHECK_OK(daxkv_close(db));
	o.flags = DAXKV_OPEN_NOCHECKPOINT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK(!strcmp(get_str(db, "after"), "torn"));
	CHECK(get_str(db, "key099") == NULL);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void test_enospc(void)
{
	const char *dir = dk_test_dir("enospc");
	struct daxkv_options o = dk_small_opts();
	daxkv *db;
	char k[32], v[1000];
	int acked = 0, rc = 0, n = 0;

	/* two segments for writers, two kept free: one for the tombstones
	 * of deletes, one for compaction */
	o.max_size = DK_META_POOL_SIZE + 4 * o.segment_size;
	CHECK_OK(daxkv_open(dir, &o, &db));
	memset(v, 'q', sizeof(v));
	for (int i = 0; i < 100000; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		rc = daxkv_put(db, k, strlen(k), v, sizeof(v));
		if (rc)
			break;
		acked++;
	}
	CHECK_RC(rc, DAXKV_ENOSPC);
	CHECK_STR_HAS(daxkv_errmsg(), "max_size");
	CHECK(acked > 3000); /* two 2 MiB segments of ~1 KiB records */
	CHECK_RC(daxkv_put(db, "more", 4, v, sizeof(v)), DAXKV_ENOSPC);
	/* reads still work */
	CHECK(get_str(db, "key000000") != NULL);
	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, count_cb, &n));
	CHECK_EQ(n, acked);
	CHECK_OK(daxkv_close(db));
	/* reopen works and keeps everything */
	CHECK_OK(daxkv_open(dir, &o, &db));
	n = 0;
	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, count_cb, &n));
	CHECK_EQ(n, acked);
	CHECK_RC(daxkv_put(db, "more", 4, v, sizeof(v)), DAXKV_ENOSPC);
	/* small writes may still fit in the space left */
	CHECK_OK(daxkv_close(db));
	/* the cap is kept by an open that does not give one */
	o.max_size = 0;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_RC(daxkv_put(db, "more", 4, v, sizeof(v)), DAXKV_ENOSPC);
	CHECK_OK(daxkv_close(db));
	/* and removed by DAXKV_MAX_SIZE_NONE */
	o.max_size = DAXKV_MAX_SIZE_NONE;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_put(db, "more", 4, v, sizeof(v)));
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void test_msync_mode(void)
{
	const char *dir = dk_test_dir("msync");
	struct daxkv_options o = dk_small_opts();
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	daxkv *db;

	o.flags = DAXKV_OPEN_FORCE_MSYNC;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.durability, DAXKV_DUR_MSYNC);
	CHECK(!strcmp(daxkv_durability_name(st.durability), "msync"));
	put_str(db, "k", "v");
	CHECK_OK(daxkv_close(db));
	db = open_small(dir);
	CHECK(!strcmp(get_str(db, "k"), "v"));
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void test_strerror(void)
{
	int codes[] = { DAXKV_ENOTFOUND, DAXKV_EINVAL, DAXKV_ERANGE,
			DAXKV_ENOSPC, DAXKV_EBUSY, DAXKV_ECORRUPT,
			DAXKV_EVERSION, DAXKV_ENOMEM, DAXKV_EIO, DAXKV_EPERM,
			DAXKV_ENODB };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		CHECK(codes[i] < 0);
		CHECK(strstr(daxkv_strerror(codes[i]), "DAXKV_E") != NULL);
		for (size_t j = 0; j < i; j++)
			CHECK(codes[i] != codes[j]);
	}
	CHECK_STR_HAS(daxkv_strerror(12345), "unknown");
	CHECK(!strcmp(daxkv_strerror(0), "success"));
	CHECK(daxkv_version()[0] == '0');
}

/* libpmemobj's own checker accepts every pool the engine leaves. */
static void test_pmempool_check(void)
{
	const char *dir = dk_test_dir("pmempool");
	char cmd[512];
	int rc;

	fill_db(dir, 5000);
	snprintf(cmd, sizeof(cmd), "pmempool check -v %s/meta.pool", dir);
	rc = system(cmd);
	CHECK(WIFEXITED(rc));
	CHECK_EQ(WEXITSTATUS(rc), 0);
	dk_rmtree(dir);
}

/*
 * Whole-line appends (write.c: dk_append) rewrite the start of the cache
 * line a lane last appended into, from the lane's copy of it.  Records of
 * many small sizes (deletes of 1-byte keys are 40 bytes, so some lines do
 * hold a superseded word) from two threads that overwrite each other's
 * keys, so that marks land in the other lane's last records while it goes
 * on appending: a query, which decides visibility by the marks on media,
 * must count what a scan counts; the offline check must find nothing; and
 * a reopen that scans must find every value read before the close.
 */
#define AL_KEYS 48
#define AL_OPS 30000

static daxkv *al_db;
static int al_done;

static size_t al_key(uint8_t *key, unsigned k)
{
	size_t klen = 1 + k % 24;

	memset(key, 'a' + (int)(k % 26), klen);
	key[0] = (uint8_t)k;
	return klen;
}

static void *al_writer(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	uint8_t key[32], val[128];

	for (int i = 0; i < AL_OPS; i++) {
		uint64_t r = dk_rand(&rng);
		unsigned k = (unsigned)(r % AL_KEYS);
		size_t klen = al_key(key, k), vlen = (r >> 8) % 121;
		int rc;

		if ((r >> 16) % 8 == 0) {
			rc = daxkv_delete(al_db, key, klen);
			if (rc != DAXKV_ENOTFOUND)
				CHECK_OK(rc);
			continue;
		}
		for (size_t j = 0; j < vlen; j++)
			val[j] = (uint8_t)(r >> 24) + (uint8_t)j;
		CHECK_OK(daxkv_put(al_db, key, klen, val, vlen));
	}
	__atomic_fetch_add(&al_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int al_count(const void *key, size_t klen, const void *val,
		    size_t vlen, void *arg)
{
	(*(uint64_t *)arg)++;
	return 0;
}

/* Query and scan at one snapshot agree (an undone mark makes the query
 * count an old version too).  Checked while the writers run, before a
 * compaction can copy the evidence away. */
static void al_agree(void)
{
	struct daxkv_query_result qr = { .version = DAXKV_QUERY_RESULT_VERSION };
	struct daxkv_query q;
	daxkv_snapshot *snap;
	uint64_t scanned = 0;

	CHECK_OK(daxkv_snapshot_open(al_db, &snap));
	CHECK_OK(daxkv_scan_at(al_db, snap, NULL, 0, NULL, 0, al_count,
			       &scanned));
	daxkv_query_init(&q);
	q.backend = DAXKV_BACKEND_CPU;
	q.threads = 1;
	q.snap = snap;
	CHECK_OK(daxkv_query(al_db, &q, &qr));
	CHECK_EQ(qr.count, scanned);
	daxkv_snapshot_close(snap);
}

static void al_round(uint64_t seed)
{
	const char *dir = dk_test_dir("append_lines");
	struct daxkv_options o = dk_small_opts();
	struct daxkv_check_options co = { .version = DAXKV_CHECK_OPTIONS_VERSION };
	struct daxkv_check_result cr = { .version = DAXKV_CHECK_RESULT_VERSION };
	static uint8_t vals[AL_KEYS][128];
	size_t vlens[AL_KEYS];
	bool found[AL_KEYS];
	pthread_t t[2];

	al_done = 0;
	CHECK_OK(daxkv_open(dir, &o, &al_db));
	for (uintptr_t i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, al_writer,
					(void *)(i * 7919 + seed)), 0);
	while (__atomic_load_n(&al_done, __ATOMIC_ACQUIRE) < 2)
		al_agree();
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	al_agree();
	for (unsigned k = 0; k < AL_KEYS; k++) {
		uint8_t key[32];
		size_t klen = al_key(key, k);
		int rc = daxkv_get(al_db, key, klen, vals[k], sizeof(vals[k]),
				   &vlens[k]);

		found[k] = rc == 0;
		if (rc != DAXKV_ENOTFOUND)
			CHECK_OK(rc);
	}
	CHECK_OK(daxkv_close(al_db));
	CHECK_OK(daxkv_check(dir, &co, &cr));
	CHECK_EQ(cr.problems, 0);
	o.flags |= DAXKV_OPEN_NOCHECKPOINT;
	CHECK_OK(daxkv_open(dir, &o, &al_db));
	for (unsigned k = 0; k < AL_KEYS; k++) {
		uint8_t key[32], buf[128];
		size_t klen = al_key(key, k), vlen;
		int rc = daxkv_get(al_db, key, klen, buf, sizeof(buf), &vlen);

		if (!found[k]) {
			CHECK_RC(rc, DAXKV_ENOTFOUND);
			continue;
		}
		CHECK_OK(rc);
		CHECK_EQ(vlen, vlens[k]);
		CHECK_MEM(buf, vals[k], vlen);
	}
	CHECK_OK(daxkv_close(al_db));
	dk_rmtree(dir);
}

static void test_append_lines(void)
{
	for (uint64_t seed = 1; seed <= 3; seed++)
		al_round(seed);
}


/* ---- meta table damage never deletes a segment file (issue #16) ---- */

static uint64_t root_offset(const char *dir)
{
	char path[300];
	uint64_t off = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/meta.pool", dir);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, &off, 8, 6144) == 8);
	close(fd);
	return off;
}

static int count_segs(const char *dir)
{
	char path[300];
	int n = 0;

	for (int slot = 0; slot < 64; slot++) {
		snprintf(path, sizeof(path), "%s/seg-%08d.dat", dir, slot);
		n += access(path, F_OK) == 0;
	}
	return n;
}

static void fill_keys(const char *dir, int from, int to)
{
	daxkv *db = open_small(dir);
	char k[32], v[3000];

	for (int i = from; i < to; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		memset(v, 'a' + i % 26, sizeof(v));
		CHECK_OK(daxkv_put(db, k, strlen(k), v, sizeof(v)));
	}
	CHECK_OK(daxkv_close(db));
}

static void check_keys(const char *dir, int n, uint32_t flags)
{
	struct daxkv_options o = dk_small_opts();
	char k[32], v[3000];
	size_t vlen;
	daxkv *db;

	o.flags = flags;
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		CHECK_OK(daxkv_get(db, k, strlen(k), v, sizeof(v), &vlen));
		CHECK_EQ(vlen, sizeof(v));
		CHECK(v[0] == 'a' + i % 26 && v[vlen - 1] == v[0]);
	}
	CHECK_OK(daxkv_close(db));
}

/* Each state value out of range, and LIVE read as FREE: open refuses
 * naming meta.pool and the offset, keeps every file; salvage restores. */
static void test_meta_states(void)
{
	static const uint32_t bad[] = { DK_SEG_FREE, 3, 4, 0x80000001u,
					0xffffffffu };
	const char *dir = dk_test_dir("meta-states");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[300], want[64];
		uint64_t off;
		int before;
		daxkv *db;

		fill_keys(dir, 0, 1500); /* 3 segments of 2 MiB */
		before = count_segs(dir);
		CHECK(before >= 2);
		off = root_offset(dir) + 80 + 16 * 1; /* slot 1's state */
		snprintf(path, sizeof(path), "%s/meta.pool", dir);
		write_at(path, (off_t)off, &bad[i], 4);
		CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
		CHECK_STR_HAS(daxkv_errmsg(), "meta.pool offset ");
		snprintf(want, sizeof(want), "offset %llu",
			 (unsigned long long)off);
		CHECK_STR_HAS(daxkv_errmsg(), want);
		CHECK_EQ(count_segs(dir), before);
		/* refused again: still nothing deleted */
		CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
		CHECK_EQ(count_segs(dir), before);
		check_keys(dir, 1500, DAXKV_OPEN_SALVAGE);
		check_keys(dir, 1500, 0);
		CHECK_EQ(count_segs(dir), before);
		dk_rmtree(dir);
	}
}

/* An older meta.pool restored over a newer database: it does not know the
 * newer segments (FREE slots, or older generations); open refuses and
 * deletes nothing; salvage brings every record back. */
static void test_meta_older(void)
{
	const char *dir = dk_test_dir("meta-older");
	char path[300], saved[300];
	int before;
	daxkv *db;

	fill_keys(dir, 0, 300);
	snprintf(path, sizeof(path), "%s/meta.pool", dir);
	snprintf(saved, sizeof(saved), "%s.old-meta", dir);
	{
		/* the earlier copy */
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "cp %s %s", path, saved);
		CHECK(system(cmd) == 0);
		fill_keys(dir, 300, 2500);
		snprintf(cmd, sizeof(cmd), "cp %s %s", saved, path);
		CHECK(system(cmd) == 0);
		unlink(saved);
	}
	before = count_segs(dir);
	CHECK(before >= 3);
	CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
	CHECK_STR_HAS(daxkv_errmsg(), "meta.pool");
	CHECK_EQ(count_segs(dir), before);
	{
		struct daxkv_check_options co = {
			.version = DAXKV_CHECK_OPTIONS_VERSION,
		};
		struct daxkv_check_result cr = {
			.version = DAXKV_CHECK_RESULT_VERSION
		};

		CHECK_OK(daxkv_check(dir, &co, &cr));
		CHECK(cr.problems > 0);
		CHECK_EQ(count_segs(dir), before);
		co.flags = DAXKV_CHECK_REPAIR;
		CHECK_OK(daxkv_check(dir, &co, &cr));
		co.flags = 0;
		CHECK_OK(daxkv_check(dir, &co, &cr));
		CHECK_EQ(cr.problems, 0);
	}
	check_keys(dir, 2500, 0);
	CHECK_EQ(count_segs(dir), before);
	dk_rmtree(dir);
}

/* A crash in the middle of the open segment: the damage is refused, not
 * taken for a torn tail (the case of issue #16), and salvage keeps every
 * record but the damaged one. */
static void test_open_segment_damage(void)
{
	const char *dir = dk_test_dir("open-damage");
	struct daxkv_options o = dk_small_opts();
	char seg0[300], k[32], v[100];
	uint8_t flip;
	pid_t child;
	int status, lost = 0;
	daxkv *db;

	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		if (daxkv_open(dir, &o, &db))
			_exit(2);
		memset(v, 'v', sizeof(v));
		for (int i = 0; i < 2000; i++) {
			snprintf(k, sizeof(k), "key%06d", i);
			if (daxkv_put(db, k, strlen(k), v, sizeof(v)))
				_exit(3);
		}
		_exit(0); /* no close: as after kill -9 */
	}
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	snprintf(seg0, sizeof(seg0), "%s/seg-00000000.dat", dir);
	{
		/* key 1000's record: 4096 + 1000 records of 144 bytes */
		off_t at = 4096 + 1000 * 144 + 40;
		int fd = open(seg0, O_RDWR);

		CHECK(fd >= 0 && pread(fd, &flip, 1, at) == 1);
		flip ^= 1;
		CHECK(pwrite(fd, &flip, 1, at) == 1);
		close(fd);
	}
	CHECK_RC(daxkv_open(dir, NULL, &db), DAXKV_ECORRUPT);
	CHECK_STR_HAS(daxkv_errmsg(), "seg-00000000.dat offset 148096");
	o.flags = DAXKV_OPEN_SALVAGE;
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (int i = 0; i < 2000; i++) {
		size_t vlen;

		snprintf(k, sizeof(k), "key%06d", i);
		if (daxkv_get(db, k, strlen(k), v, sizeof(v), &vlen) != 0)
			lost++;
	}
	CHECK_EQ(lost, 1);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* Segment files in @p dir. */
static unsigned count_seg_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += !strncmp(de->d_name, "seg-", 4);
	closedir(d);
	return n;
}

/*
 * A crash while a spare segment waits (spare.c): at the default
 * segment_size (64 MiB) a spare is sized to the data (2 MiB here), and
 * open took a file of any size but segment_size for one it could not
 * prove dead: every crash left a database that refused to open.
 */
static void test_crash_spare(void)
{
	const char *dir = dk_test_dir("crash_spare");
	struct daxkv_options o;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	static char v[1000];
	char k[32];
	size_t vlen;
	daxkv *db;
	pid_t child;
	int status;

	memset(v, 'v', sizeof(v));
	daxkv_options_init(&o);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		daxkv *cdb;

		if (daxkv_open(dir, &o, &cdb) != 0)
			_exit(2);
		for (int i = 0; i < 5000; i++) {
			snprintf(k, sizeof(k), "key%06d", i);
			if (daxkv_put(cdb, k, strlen(k), v, sizeof(v)) != 0)
				_exit(2);
		}
		/* wait (up to 10 s) for a spare beside the segments */
		for (int i = 0; i < 1000; i++) {
			if (daxkv_stat(cdb, &st) != 0)
				_exit(2);
			if (count_seg_files(dir) > st.segments)
				_exit(0); /* no close: as after a crash */
			usleep(10000);
		}
		_exit(3);
	}
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));
	if (WEXITSTATUS(status) == 3)
		fprintf(stderr, "crash_spare: no spare segment was made in "
				"10 s\n");
	CHECK_EQ(WEXITSTATUS(status), 0);
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		CHECK_OK(daxkv_get(db, k, strlen(k), v, sizeof(v), &vlen));
		CHECK_EQ(vlen, sizeof(v));
	}
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static const struct dk_case cases[] = {
	{ "crc32c", test_crc32c },
	{ "basic", test_basic },
	{ "limits", test_limits },
	{ "bad_input", test_bad_input },
	{ "scan", test_scan },
	{ "scan_snapshot_self", test_scan_snapshot_self },
	{ "batch", test_batch },
	{ "reopen_paths", test_reopen_paths },
	{ "busy", test_busy },
	{ "permission", test_permission },
	{ "future_version", test_future_version },
	{ "segment_sizes", test_segment_sizes },
	{ "format1", test_format1 },
	{ "corrupt", test_corrupt },
	{ "torn_tail", test_torn_tail },
	{ "crash_spare", test_crash_spare },
	{ "meta_states", test_meta_states },
	{ "meta_older", test_meta_older },
	{ "open_segment_damage", test_open_segment_damage },
	{ "enospc", test_enospc },
	{ "msync_mode", test_msync_mode },
	{ "strerror", test_strerror },
	{ "pmempool_check", test_pmempool_check },
	{ "append_lines", test_append_lines },
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
