// SPDX-License-Identifier: MIT
/*
 * rdonly_test.c -- DAXKV_OPEN_RDONLY: a read-only open changes nothing.
 *
 * Every case takes a fingerprint of the database directory (each entry's
 * name, inode, size, modification time and a hash of its bytes) before
 * and after what it does read-only, and requires them equal: nothing
 * created, written or removed, not even the lock file's pid.  The cases:
 * a clean database read through every call; several read-only handles
 * and processes at once, writers refused while they hold it and readers
 * refused while a writer does; a database left by a crash (recovered in
 * DRAM; queries refused while its superseded marks are wrong); a real
 * read-only mount (a tmpfs remounted ro in a mount namespace of its own,
 * as root or in a user namespace; skipped, exit 4, where neither is
 * allowed); bad flag combinations.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "dk_test.h"
#include "layout.h"

#define FP_MAX 64

struct fp_entry {
	char name[256];
	uint64_t ino, size, mtime_ns, hash;
};

struct fingerprint {
	struct fp_entry e[FP_MAX];
	int n;
};

static uint64_t fnv1a(const uint8_t *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static int fp_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fp_entry *)a)->name,
		      ((const struct fp_entry *)b)->name);
}

static void fingerprint(const char *dir, struct fingerprint *fp)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	CHECK(d);
	memset(fp, 0, sizeof(*fp));
	while ((de = readdir(d)) != NULL) {
		struct fp_entry *e;
		char path[512];
		uint8_t buf[65536];
		struct stat st;
		ssize_t got;
		int fd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		CHECK(fp->n < FP_MAX);
		e = &fp->e[fp->n++];
		snprintf(e->name, sizeof(e->name), "%s", de->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		CHECK(stat(path, &st) == 0);
		e->ino = st.st_ino;
		e->size = (uint64_t)st.st_size;
		e->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull +
			      (uint64_t)st.st_mtim.tv_nsec;
		e->hash = 0xcbf29ce484222325ull;
		fd = open(path, O_RDONLY);
		CHECK(fd >= 0);
		while ((got = read(fd, buf, sizeof(buf))) > 0)
			e->hash = fnv1a(buf, (size_t)got, e->hash);
		CHECK(got == 0);
		close(fd);
	}
	closedir(d);
	qsort(fp->e, (size_t)fp->n, sizeof(fp->e[0]), fp_cmp);
}

static void fp_same(const struct fingerprint *a, const struct fingerprint *b)
{
	for (int i = 0; i < a->n || i < b->n; i++) {
		if (i >= a->n || i >= b->n)
			DK_FAIL("entry %s %s", i < a->n ? a->e[i].name :
							  b->e[i].name,
				i < a->n ? "disappeared" : "appeared");
		if (strcmp(a->e[i].name, b->e[i].name))
			DK_FAIL("entries differ: %s / %s", a->e[i].name,
				b->e[i].name);
		if (a->e[i].ino != b->e[i].ino || a->e[i].size != b->e[i].size ||
		    a->e[i].mtime_ns != b->e[i].mtime_ns ||
		    a->e[i].hash != b->e[i].hash)
			DK_FAIL("%s changed (inode %llu/%llu, size %llu/%llu, "
				"mtime %llu/%llu, hash %016llx/%016llx)",
				a->e[i].name, (unsigned long long)a->e[i].ino,
				(unsigned long long)b->e[i].ino,
				(unsigned long long)a->e[i].size,
				(unsigned long long)b->e[i].size,
				(unsigned long long)a->e[i].mtime_ns,
				(unsigned long long)b->e[i].mtime_ns,
				(unsigned long long)a->e[i].hash,
				(unsigned long long)b->e[i].hash);
	}
}

static daxkv *open_ro(const char *dir)
{
	struct daxkv_options o;
	daxkv *db = NULL;

	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_RDONLY;
	CHECK_OK(daxkv_open(dir, &o, &db));
	return db;
}

static int open_ro_rc(const char *dir, daxkv **dbp)
{
	struct daxkv_options o;

	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_RDONLY;
	return daxkv_open(dir, &o, dbp);
}

/* 300 keys k000..k299 over 2 MiB segments, values v<i>-<round>; every
 * third key rewritten, every seventh deleted, one batch: the model is
 * what get_model() returns for key i. */
#define NKEYS 300

static void fill(daxkv *db)
{
	daxkv_batch *b;
	char k[16], v[64];

	for (int i = 0; i < NKEYS; i++) {
		snprintf(k, sizeof(k), "k%03d", i);
		snprintf(v, sizeof(v), "v%d-0-%0*d", i, 20 + i % 40, 0);
		CHECK_OK(daxkv_put(db, k, strlen(k), v, strlen(v)));
	}
	for (int i = 0; i < NKEYS; i += 3) {
		snprintf(k, sizeof(k), "k%03d", i);
		snprintf(v, sizeof(v), "v%d-1", i);
		CHECK_OK(daxkv_put(db, k, strlen(k), v, strlen(v)));
	}
	for (int i = 0; i < NKEYS; i += 7) {
		snprintf(k, sizeof(k), "k%03d", i);
		CHECK_OK(daxkv_delete(db, k, strlen(k)));
	}
	CHECK_OK(daxkv_batch_new(&b));
	for (int i = 1; i < NKEYS; i += 50) {
		snprintf(k, sizeof(k), "k%03d", i);
		snprintf(v, sizeof(v), "v%d-2", i);
		CHECK_OK(daxkv_batch_put(b, k, strlen(k), v, strlen(v)));
	}
	CHECK_OK(daxkv_batch_commit(db, b));
	daxkv_batch_free(b);
}

/* The model's value of key i, or NULL when deleted. */
static const char *model(int i, char *buf, size_t len)
{
	if (i % 7 == 0)
		return NULL;
	if (i % 50 == 1)
		snprintf(buf, len, "v%d-2", i);
	else if (i % 3 == 0)
		snprintf(buf, len, "v%d-1", i);
	else
		snprintf(buf, len, "v%d-0-%0*d", i, 20 + i % 40, 0);
	return buf;
}

static int live_keys(void)
{
	int n = 0;

	for (int i = 0; i < NKEYS; i++)
		n += i % 7 != 0;
	return n;
}

struct scan_state {
	int next, seen;
};

static int scan_check(const void *key, size_t klen, const void *val,
		      size_t vlen, void *arg)
{
	struct scan_state *s = arg;
	char want[64], k[16];
	int i;

	CHECK(klen == 4 && sscanf((const char *)key, "k%3d", &i) == 1);
	CHECK(i >= s->next);
	for (; s->next < i; s->next++)
		CHECK(!model(s->next, want, sizeof(want)));
	snprintf(k, sizeof(k), "k%03d", i);
	CHECK_MEM(key, k, 4);
	CHECK(model(i, want, sizeof(want)));
	CHECK_EQ(vlen, strlen(want));
	CHECK_MEM(val, want, vlen);
	s->next = i + 1;
	s->seen++;
	return 0;
}

/* Every read path agrees with the model. */
static void check_reads(daxkv *db, bool queries)
{
	struct scan_state ss = { 0 };
	struct daxkv_query q;
	struct daxkv_query_result res = { .version = DAXKV_QUERY_RESULT_VERSION };
	daxkv_snapshot *snap;
	char buf[128], want[64], k[16];
	size_t vlen;

	for (int i = 0; i < NKEYS; i++) {
		snprintf(k, sizeof(k), "k%03d", i);
		if (!model(i, want, sizeof(want))) {
			CHECK_RC(daxkv_get(db, k, 4, buf, sizeof(buf), &vlen),
				 DAXKV_ENOTFOUND);
			continue;
		}
		CHECK_OK(daxkv_get(db, k, 4, buf, sizeof(buf), &vlen));
		CHECK_EQ(vlen, strlen(want));
		CHECK_MEM(buf, want, vlen);
	}
	CHECK_OK(daxkv_scan(db, NULL, 0, NULL, 0, scan_check, &ss));
	CHECK_EQ(ss.seen, live_keys());
	CHECK_OK(daxkv_snapshot_open(db, &snap));
	memset(&ss, 0, sizeof(ss));
	CHECK_OK(daxkv_scan_at(db, snap, NULL, 0, NULL, 0, scan_check, &ss));
	CHECK_EQ(ss.seen, live_keys());
	daxkv_query_init(&q);
	q.backend = DAXKV_BACKEND_CPU;
	q.snap = snap;
	if (queries) {
		CHECK_OK(daxkv_query(db, &q, &res));
		CHECK_EQ(res.count, live_keys());
	} else {
		CHECK_RC(daxkv_query(db, &q, &res), DAXKV_ENOTSUP);
		CHECK_STR_HAS(daxkv_errmsg(), "superseded marks");
	}
	daxkv_snapshot_close(snap);
}

/* Writes are refused, and leave nothing behind. */
static void check_writes_refused(daxkv *db)
{
	daxkv_batch *b;

	CHECK_RC(daxkv_put(db, "k001", 4, "x", 1), DAXKV_EPERM);
	CHECK_STR_HAS(daxkv_errmsg(), "read-only");
	CHECK_RC(daxkv_delete(db, "k001", 4), DAXKV_EPERM);
	CHECK_OK(daxkv_batch_new(&b));
	CHECK_OK(daxkv_batch_put(b, "new", 3, "x", 1));
	CHECK_RC(daxkv_batch_commit(db, b), DAXKV_EPERM);
	daxkv_batch_free(b);
	CHECK_RC(daxkv_compact(db), DAXKV_EPERM);
}

static void make_db(const char *dir)
{
	struct daxkv_options o = dk_small_opts();
	daxkv *db;

	CHECK_OK(daxkv_open(dir, &o, &db));
	fill(db);
	CHECK_OK(daxkv_close(db));
}

/* Each segment of a read-only handle says what its media is, as a writer's
 * would (here PMEM_IS_PMEM_FORCE=1: emulated), not msync. */
static int seg_durability(const struct daxkv_segment_info *info, void *arg)
{
	int *count = arg;

	CHECK_EQ(info->durability, DAXKV_DUR_EMULATED);
	(*count)++;
	return 0;
}

static void test_clean(void)
{
	const char *dir = dk_test_dir("ro-clean");
	struct fingerprint before, after;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	struct daxkv_check_options co = {
		.version = DAXKV_CHECK_OPTIONS_VERSION,
	};
	struct daxkv_check_result cr = { .version = DAXKV_CHECK_RESULT_VERSION };
	daxkv *db;

	make_db(dir);
	fingerprint(dir, &before);
	db = open_ro(dir);
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.durability, DAXKV_DUR_READONLY);
	CHECK_STR_HAS(daxkv_durability_name(st.durability), "read-only");
	{
		int nseg = 0;

		CHECK_OK(daxkv_segment_foreach(db, seg_durability, &nseg));
		CHECK_EQ((uint64_t)nseg, st.segments);
		CHECK(nseg > 0);
		CHECK_EQ(st.segments_msync, 0);
	}
	CHECK_EQ(st.recovery, DAXKV_RECOVERY_CHECKPOINT);
	CHECK_EQ(st.keys, live_keys());
	CHECK_EQ(st.stale_marks, 0);
	check_reads(db, true);
	check_writes_refused(db);
	/* a check without repair shares the lock with read-only handles */
	CHECK_OK(daxkv_check(dir, &co, &cr));
	CHECK_EQ(cr.problems, 0);
	CHECK_OK(daxkv_close(db));
	/* again, rebuilding by scan */
	{
		struct daxkv_options o;

		daxkv_options_init(&o);
		o.flags = DAXKV_OPEN_RDONLY | DAXKV_OPEN_NOCHECKPOINT;
		CHECK_OK(daxkv_open(dir, &o, &db));
		CHECK_OK(daxkv_stat(db, &st));
		CHECK_EQ(st.recovery, DAXKV_RECOVERY_SCAN);
		CHECK_EQ(st.stale_marks, 0);
		check_reads(db, true);
		CHECK_OK(daxkv_close(db));
	}
	fingerprint(dir, &after);
	fp_same(&before, &after);
	/* and a read-write open afterwards is as before */
	db = NULL;
	{
		struct daxkv_options o = dk_small_opts();

		CHECK_OK(daxkv_open(dir, &o, &db));
		check_reads(db, true);
		CHECK_OK(daxkv_close(db));
	}
	dk_rmtree(dir);
}

/* Several readers at once, in this process and another; writers out. */
static void test_shared(void)
{
	const char *dir = dk_test_dir("ro-shared");
	struct fingerprint before, after;
	struct daxkv_options rw = dk_small_opts();
	daxkv *r1, *r2, *w = NULL;
	int pipefd[2], status;
	char pid[32], c;
	pid_t child;

	make_db(dir);
	fingerprint(dir, &before);
	r1 = open_ro(dir);
	r2 = open_ro(dir);
	CHECK_RC(daxkv_open(dir, &rw, &w), DAXKV_EBUSY);
	CHECK_STR_HAS(daxkv_errmsg(), "read-only");
	CHECK(pipe(pipefd) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		daxkv *r3 = NULL, *w2 = NULL;
		int ok;

		close(pipefd[0]);
		ok = open_ro_rc(dir, &r3) == 0 &&
		     daxkv_open(dir, &rw, &w2) == DAXKV_EBUSY;
		if (ok)
			check_reads(r3, true);
		/* hold it while the parent reads too */
		if (write(pipefd[1], ok ? "y" : "n", 1) != 1)
			_exit(1);
		usleep(200000);
		_exit(ok && daxkv_close(r3) == 0 ? 0 : 1);
	}
	close(pipefd[1]);
	CHECK(read(pipefd[0], &c, 1) == 1 && c == 'y');
	check_reads(r1, true);
	check_reads(r2, true);
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(pipefd[0]);
	CHECK_OK(daxkv_close(r1));
	CHECK_RC(daxkv_open(dir, &rw, &w), DAXKV_EBUSY); /* r2 still there */
	CHECK_OK(daxkv_close(r2));
	fingerprint(dir, &after);
	fp_same(&before, &after);
	/* a writer now; readers are refused with its pid */
	CHECK_OK(daxkv_open(dir, &rw, &w));
	CHECK_RC(open_ro_rc(dir, &r1), DAXKV_EBUSY);
	snprintf(pid, sizeof(pid), "process %ld", (long)getpid());
	CHECK_STR_HAS(daxkv_errmsg(), pid);
	CHECK_OK(daxkv_close(w));
	dk_rmtree(dir);
}

/* The record of key @p key with sequence @p seq in segment 0, or NULL. */
static struct dk_rec *find_rec(uint8_t *base, size_t size, const char *key,
			       bool newest)
{
	struct dk_rec *found = NULL;

	for (uint64_t off = DK_SEG_HDR_SIZE; off + DK_REC_HDR_SIZE <= size;) {
		struct dk_rec *rec = (struct dk_rec *)(base + off);

		if (rec->klen == 0)
			break;
		if (rec->klen == strlen(key) &&
		    !memcmp(dk_rec_key(rec), key, rec->klen)) {
			if (!newest)
				return rec;
			found = rec;
		}
		off += dk_rec_size(rec->klen, rec->vlen);
	}
	return found;
}

/* A crash: recovery in DRAM, queries refused while marks are wrong. */
static void test_crashed(void)
{
	const char *dir = dk_test_dir("ro-crash");
	struct fingerprint before, after;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	struct daxkv_options rw = dk_small_opts();
	char path[512];
	struct dk_rec *old, *cur;
	uint8_t *base;
	pid_t child;
	int status, fd;
	daxkv *db;

	/* no background compaction: the marks checked stay where they are */
	rw.flags |= DAXKV_OPEN_NOCOMPACT;
	/* a child writes and dies without closing */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		if (daxkv_open(dir, &rw, &db) != 0)
			_exit(1);
		fill(db);
		_exit(0);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	fingerprint(dir, &before);
	db = open_ro(dir);
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.recovery, DAXKV_RECOVERY_SCAN);
	CHECK_EQ(st.stale_marks, 0); /* every mark reached media */
	check_reads(db, true);
	CHECK_OK(daxkv_close(db));
	fingerprint(dir, &after);
	fp_same(&before, &after);

	/*
	 * Now as if power had failed before two marks reached media: the
	 * first version of k003 (replaced) unmarked, and the newest version
	 * of k004 marked by a commit that was lost.
	 */
	snprintf(path, sizeof(path), "%s/seg-00000000.dat", dir);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	base = mmap(NULL, 2u << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(base != MAP_FAILED);
	old = find_rec(base, 2u << 20, "k003", false);
	cur = find_rec(base, 2u << 20, "k004", true);
	CHECK(old && old->superseded != 0);
	CHECK(cur && cur->superseded == 0);
	old->superseded = 0;
	cur->superseded = 1000000;
	CHECK(msync(base, 2u << 20, MS_SYNC) == 0);
	fingerprint(dir, &before);
	db = open_ro(dir);
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.stale_marks, 2);
	check_reads(db, false); /* gets and scans right, queries refused */
	CHECK_OK(daxkv_close(db));
	fingerprint(dir, &after);
	fp_same(&before, &after);
	CHECK_EQ(old->superseded, 0);

	/* a read-write open repairs the marks; then queries work read-only */
	CHECK_OK(daxkv_open(dir, &rw, &db));
	CHECK_OK(daxkv_close(db));
	CHECK(old->superseded != 0 && cur->superseded == 0);
	munmap(base, 2u << 20);
	close(fd);
	db = open_ro(dir);
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.stale_marks, 0);
	check_reads(db, true);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void test_flags(void)
{
	const char *dir = dk_test_dir("ro-flags");
	struct daxkv_options o;
	struct stat st;
	daxkv *db = NULL;

	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_RDONLY;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_ENODB);
	CHECK(stat(dir, &st) != 0); /* not created */
	CHECK(mkdir(dir, 0755) == 0);
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_ENODB);
	CHECK(rmdir(dir) == 0);
	make_db(dir);
	o.flags = DAXKV_OPEN_RDONLY | DAXKV_OPEN_EXCLUSIVE;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EINVAL);
	o.flags = DAXKV_OPEN_RDONLY;
	o.max_size = 1ull << 30;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EINVAL);
	CHECK_STR_HAS(daxkv_errmsg(), "max_size");
	/* a salvage writes: refused before anything is opened, even on an
	 * intact database (where a salvage would find nothing to do) */
	o.max_size = 0;
	o.flags = DAXKV_OPEN_RDONLY | DAXKV_OPEN_SALVAGE;
	db = NULL;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EINVAL);
	CHECK_STR_HAS(daxkv_errmsg(), "RDONLY with SALVAGE");
	CHECK(db == NULL);
	/* without DIR/lock on a writable file system: refused, not made */
	{
		char lock[512];

		snprintf(lock, sizeof(lock), "%s/lock", dir);
		CHECK(unlink(lock) == 0);
		CHECK_RC(open_ro_rc(dir, &db), DAXKV_ENODB);
		CHECK_STR_HAS(daxkv_errmsg(), "lock is missing");
		CHECK(access(lock, F_OK) != 0);
	}
	dk_rmtree(dir);
}

/*
 * A real read-only mount: a tmpfs in a mount namespace of this child's
 * own, filled, then remounted read-only.  Two processes open it
 * read-only at once; a read-write open is refused; nothing changes; a
 * database without its lock file opens there (no writer can exist).
 * Exit 4 from the child: no namespace could be made here.
 */
static int ro_mount_child(const char *mnt)
{
	struct fingerprint before, after;
	struct daxkv_options rw = dk_small_opts();
	char dir[256], lock[512];
	pid_t other;
	int status;
	daxkv *db = NULL, *r1;

	if (unshare(CLONE_NEWNS) != 0) {
		/* not root: a user namespace gives the mount rights */
		uid_t uid = geteuid();
		gid_t gid = getegid();
		char map[64];
		int fd;

		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
			return 4;
		fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			(void)!write(fd, "deny", 4);
			close(fd);
		}
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			return 4;
		close(fd);
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		fd = open("/proc/self/gid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			return 4;
		close(fd);
	}
	/* nothing this namespace mounts reaches the host */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return 4;
	if (mkdir(mnt, 0755) != 0 ||
	    mount("daxkv-ro", mnt, "tmpfs", 0, "size=64m") != 0)
		return 4;
	snprintf(dir, sizeof(dir), "%s/db", mnt);
	make_db(dir);
	snprintf(dir, sizeof(dir), "%s/nolock", mnt);
	make_db(dir);
	snprintf(lock, sizeof(lock), "%s/lock", dir);
	CHECK(unlink(lock) == 0);
	CHECK(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0);

	snprintf(dir, sizeof(dir), "%s/db", mnt);
	fingerprint(dir, &before);
	r1 = open_ro(dir);
	other = fork();
	CHECK(other >= 0);
	if (other == 0) {
		daxkv *r2 = NULL;

		if (open_ro_rc(dir, &r2) != 0)
			_exit(1);
		check_reads(r2, true);
		_exit(daxkv_close(r2) == 0 ? 0 : 1);
	}
	check_reads(r1, true);
	check_writes_refused(r1);
	CHECK(waitpid(other, &status, 0) == other);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* a writer is refused by the file system (it cannot even open the
	 * lock file for writing), readers or not */
	CHECK_RC(daxkv_open(dir, &rw, &db), DAXKV_EPERM);
	CHECK_OK(daxkv_close(r1));
	CHECK_RC(daxkv_open(dir, &rw, &db), DAXKV_EPERM);
	fingerprint(dir, &after);
	fp_same(&before, &after);

	snprintf(dir, sizeof(dir), "%s/nolock", mnt);
	fingerprint(dir, &before);
	r1 = open_ro(dir);
	check_reads(r1, true);
	CHECK_OK(daxkv_close(r1));
	fingerprint(dir, &after);
	fp_same(&before, &after);
	return 0;
}

static void test_ro_mount(void)
{
	char mnt[256];
	pid_t child;
	int status;

	snprintf(mnt, sizeof(mnt), "/tmp/daxkv-romount-%ld", (long)getpid());
	child = fork();
	CHECK(child >= 0);
	if (child == 0)
		_exit(ro_mount_child(mnt));
	CHECK(waitpid(child, &status, 0) == child);
	rmdir(mnt); /* the mount lived and died in the child's namespace */
	CHECK(WIFEXITED(status));
	if (WEXITSTATUS(status) == 4) {
		fprintf(stderr, "ro_mount: SKIP: neither a mount namespace "
			"nor a user namespace can be made here\n");
		exit(4);
	}
	CHECK_EQ(WEXITSTATUS(status), 0);
}

static const struct dk_case cases[] = {
	{ "clean", test_clean },
	{ "shared", test_shared },
	{ "crashed", test_crashed },
	{ "flags", test_flags },
	{ "ro_mount", test_ro_mount },
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
