// SPDX-License-Identifier: MIT
/*
 * poison_test.c -- a media error in a mapped segment is DAXKV_EIO naming
 * the file and offset, not a dead process (engine/guard.c).
 *
 * This host's kernel refuses MADV_HWPOISON, so the SIGBUS is made in user
 * space: a segment file cut short under its mapping (ftruncate) faults on
 * every load past its new end, as a poisoned page does.  The VM suite
 * does the same with real poison (tests/vm/poison_vm.sh).  Cases:
 *
 *   get, scan     the file of an open handle is cut; reads below the cut
 *                 still work, reads past it (get, scan, a CPU query) say
 *                 EIO with file and offset;
 *   compact       a victim is cut: the round ends with EIO, nothing is
 *                 published, every readable key still reads;
 *   open          the file is cut between recovery's mapping and its
 *                 reads (pmem_map_file wrapped): open says EIO; then the
 *                 database is salvaged and keeps every record below the
 *                 cut;
 *   check         the same for daxkv_check's own mapping (mmap wrapped);
 *   chain         a SIGBUS outside daxkv reaches the handler the
 *                 application installed before its first open;
 *   badblocks     the device lists a bad block under the log (libpmem2's
 *                 list wrapped: see fake_bbs): open says EIO with file
 *                 and offset, check reports it, salvage keeps every
 *                 record outside it;
 *   badblocks_room  one past the log: open counts it, appends go
 *                 elsewhere.
 */
#include <fcntl.h>
#include <libpmem2.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dk_test.h"

/* Under ASan, its own SIGBUS handler would be the disposition daxkv's
 * chains to; the cases here (mce_ao above all) are about the process's
 * default one, as a program without a handler has.  (Read by ASan only.) */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "handle_sigbus=0";
}

#define NKEYS 10000
#define VLEN 100
#define CUT (1u << 20)
/* single writer, 152-byte records from 4096 on */
#define REC_OFF(i) (4096u + (unsigned)(i) * 152u)

/* ---- the wraps: cut a file right after it is mapped ---- */

static char cut_path[512]; /* when set, the next mapping of it is cut */

static void cut_if_target(const char *path)
{
	if (cut_path[0] && !strcmp(path, cut_path)) {
		CHECK(truncate(path, CUT) == 0);
		cut_path[0] = '\0';
	}
}

void *__real_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp);
void *__wrap_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp);
void *__wrap_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp)
{
	void *addr = __real_pmem_map_file(path, len, flags, mode, mapped_lenp,
					  is_pmemp);

	if (addr)
		cut_if_target(path);
	return addr;
}

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	void *p = __real_mmap(addr, len, prot, flags, fd, off);
	char link[64], path[512];
	ssize_t n;

	if (p != MAP_FAILED && fd >= 0 && cut_path[0]) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		if (n > 0) {
			path[n] = '\0';
			cut_if_target(path);
		}
	}
	return p;
}

/* The device's unsafe shutdown count, as the test says (tmpfs has none). */
static long fake_usc = -1;

int __real_pmem2_source_device_usc(const struct pmem2_source *src,
				   uint64_t *usc);
int __wrap_pmem2_source_device_usc(const struct pmem2_source *src,
				   uint64_t *usc);
int __wrap_pmem2_source_device_usc(const struct pmem2_source *src,
				   uint64_t *usc)
{
	if (fake_usc < 0)
		return __real_pmem2_source_device_usc(src, usc);
	*usc = (uint64_t)fake_usc;
	return 0;
}

int __real_pmem2_source_device_id(const struct pmem2_source *src, char *id,
				  size_t *len);
int __wrap_pmem2_source_device_id(const struct pmem2_source *src, char *id,
				  size_t *len);
int __wrap_pmem2_source_device_id(const struct pmem2_source *src, char *id,
				  size_t *len)
{
	if (fake_usc < 0)
		return __real_pmem2_source_device_id(src, id, len);
	if (*len < 8)
		return -1;
	snprintf(id, *len, "dimm-0");
	*len = 7;
	return 0;
}

/*
 * The device's bad-block list, as the test says.  On tmpfs libpmem2 lists
 * none (it reads them through libndctl from an fsdax namespace), and the
 * VM guest's emulated pmem did not list those written to its block
 * device's badblocks file either; so the four pmem2_badblock_* calls of
 * engine/media.c are wrapped here and, while fake_bb_on, answer from
 * fake_bbs: a file's entries are matched by device and inode, offsets are
 * bytes in the file (as libpmem2's are on fsdax), and a clear gives the
 * range fresh zeroed blocks (punch, then allocate, as libpmem2 does on
 * fsdax) and takes the entry off the list.  What this cannot show (the
 * kernel's and libpmem2's list on real media) is the VM suite's part.
 */
struct fake_bb {
	dev_t dev;
	ino_t ino;
	uint64_t off, len;
	bool listed;
};

struct fake_bbctx {
	int fd;
	dev_t dev;
	ino_t ino;
	int next; /* index in fake_bbs to look from */
};

static struct fake_bb fake_bbs[4];
static int fake_nbbs;
static bool fake_bb_on;
static int fake_bb_clears;

static void fake_bb_add(const char *path, uint64_t off, uint64_t len)
{
	struct stat st;

	CHECK(fake_nbbs < (int)(sizeof(fake_bbs) / sizeof(fake_bbs[0])));
	CHECK(stat(path, &st) == 0);
	fake_bbs[fake_nbbs++] = (struct fake_bb){ .dev = st.st_dev,
						  .ino = st.st_ino,
						  .off = off, .len = len,
						  .listed = true };
	fake_bb_on = true;
}

static void fake_bb_reset(void)
{
	fake_nbbs = 0;
	fake_bb_clears = 0;
	fake_bb_on = false;
}

int __real_pmem2_badblock_context_new(struct pmem2_badblock_context **bbctx,
				      const struct pmem2_source *src);
int __wrap_pmem2_badblock_context_new(struct pmem2_badblock_context **bbctx,
				      const struct pmem2_source *src);
int __wrap_pmem2_badblock_context_new(struct pmem2_badblock_context **bbctx,
				      const struct pmem2_source *src)
{
	struct fake_bbctx *ctx;
	struct stat st;
	int fd;

	if (!fake_bb_on)
		return __real_pmem2_badblock_context_new(bbctx, src);
	if (pmem2_source_get_fd(src, &fd) != 0 || fstat(fd, &st) != 0)
		return PMEM2_E_INVALID_FILE_HANDLE;
	ctx = calloc(1, sizeof(*ctx));
	CHECK(ctx != NULL);
	*ctx = (struct fake_bbctx){ .fd = fd, .dev = st.st_dev,
				    .ino = st.st_ino };
	*bbctx = (struct pmem2_badblock_context *)ctx;
	return 0;
}

int __real_pmem2_badblock_next(struct pmem2_badblock_context *bbctx,
			       struct pmem2_badblock *bb);
int __wrap_pmem2_badblock_next(struct pmem2_badblock_context *bbctx,
			       struct pmem2_badblock *bb);
int __wrap_pmem2_badblock_next(struct pmem2_badblock_context *bbctx,
			       struct pmem2_badblock *bb)
{
	struct fake_bbctx *ctx = (struct fake_bbctx *)bbctx;

	if (!fake_bb_on)
		return __real_pmem2_badblock_next(bbctx, bb);
	for (; ctx->next < fake_nbbs; ctx->next++) {
		const struct fake_bb *f = &fake_bbs[ctx->next];

		if (f->listed && f->dev == ctx->dev && f->ino == ctx->ino) {
			bb->offset = f->off;
			bb->length = f->len;
			ctx->next++;
			return 0;
		}
	}
	return PMEM2_E_NO_BAD_BLOCK_FOUND;
}

int __real_pmem2_badblock_clear(struct pmem2_badblock_context *bbctx,
				const struct pmem2_badblock *bb);
int __wrap_pmem2_badblock_clear(struct pmem2_badblock_context *bbctx,
				const struct pmem2_badblock *bb);
int __wrap_pmem2_badblock_clear(struct pmem2_badblock_context *bbctx,
				const struct pmem2_badblock *bb)
{
	struct fake_bbctx *ctx = (struct fake_bbctx *)bbctx;

	if (!fake_bb_on)
		return __real_pmem2_badblock_clear(bbctx, bb);
	for (int i = 0; i < fake_nbbs; i++) {
		struct fake_bb *f = &fake_bbs[i];

		if (!f->listed || f->dev != ctx->dev || f->ino != ctx->ino ||
		    f->off != bb->offset || f->len != bb->length)
			continue;
		if (fallocate(ctx->fd, FALLOC_FL_PUNCH_HOLE |
					       FALLOC_FL_KEEP_SIZE,
			      (off_t)f->off, (off_t)f->len) != 0 ||
		    fallocate(ctx->fd, 0, (off_t)f->off, (off_t)f->len) != 0)
			return -errno;
		f->listed = false;
		fake_bb_clears++;
		return 0;
	}
	return PMEM2_E_NO_BAD_BLOCK_FOUND;
}

void __real_pmem2_badblock_context_delete(
	struct pmem2_badblock_context **bbctx);
void __wrap_pmem2_badblock_context_delete(
	struct pmem2_badblock_context **bbctx);
void __wrap_pmem2_badblock_context_delete(
	struct pmem2_badblock_context **bbctx)
{
	if (!fake_bb_on) {
		__real_pmem2_badblock_context_delete(bbctx);
		return;
	}
	free(*bbctx);
	*bbctx = NULL;
}

/* ---- helpers ---- */

static void key_of(char *k, int i)
{
	snprintf(k, 32, "key%012d", i); /* 15 bytes + ... */
	k[15] = 'x';
	k[16] = '\0';
}

static void val_of(uint8_t *v, int i)
{
	for (int j = 0; j < VLEN; j++)
		v[j] = (uint8_t)(i * 7 + j);
}

static const char *make_db(const char *tag, char *seg0, size_t len)
{
	const char *dir = dk_test_dir(tag);
	struct daxkv_options o = dk_small_opts();
	uint8_t v[VLEN];
	char k[32];
	daxkv *db;

	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (int i = 0; i < NKEYS; i++) {
		key_of(k, i);
		val_of(v, i);
		CHECK_OK(daxkv_put(db, k, 16, v, VLEN));
	}
	CHECK_OK(daxkv_close(db));
	snprintf(seg0, len, "%s/seg-00000000.dat", dir);
	return dir;
}

/* The first key wholly below the cut, and the first past it. */
static int first_past(void)
{
	int i = 0;

	while (REC_OFF(i + 1) <= CUT)
		i++;
	return i + 1;
}

static void check_keys(daxkv *db, int upto)
{
	uint8_t v[VLEN], want[VLEN];
	size_t vlen;
	char k[32];

	for (int i = 0; i < upto; i++) {
		key_of(k, i);
		val_of(want, i);
		CHECK_OK(daxkv_get(db, k, 16, v, sizeof(v), &vlen));
		CHECK_EQ(vlen, VLEN);
		CHECK_MEM(v, want, VLEN);
	}
}

static int count_fn(const void *k, size_t kl, const void *v, size_t vl,
		    void *arg)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*(int *)arg)++;
	return 0;
}

/* ---- cases ---- */

static void case_get_scan(void)
{
	char seg0[512], k[32];
	const char *dir = make_db("poison-get", seg0, sizeof(seg0));
	struct daxkv_options o = dk_small_opts();
	uint8_t v[VLEN];
	size_t vlen;
	int n = 0, past = first_past();
	daxkv *db;

	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK(truncate(seg0, CUT) == 0);
	check_keys(db, past - 1);
	key_of(k, past + 10);
	CHECK_RC(daxkv_get(db, k, 16, v, sizeof(v), &vlen), DAXKV_EIO);
	CHECK_STR_HAS(daxkv_errmsg(), "seg-00000000.dat offset ");
	CHECK_STR_HAS(daxkv_errmsg(), "media error");
	/* again: the guard is rearmed, SIGBUS not left blocked */
	CHECK_RC(daxkv_get(db, k, 16, v, sizeof(v), &vlen), DAXKV_EIO);
	check_keys(db, 10);
	CHECK_RC(daxkv_scan(db, NULL, 0, NULL, 0, count_fn, &n), DAXKV_EIO);
	CHECK_STR_HAS(daxkv_errmsg(), "seg-00000000.dat offset ");
	CHECK(n >= past - 1 - 5 && n < NKEYS);
	/* a query's CPU backend reads every record: EIO too */
	{
		struct daxkv_query q;
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};

		daxkv_query_init(&q);
		q.backend = DAXKV_BACKEND_CPU;
		CHECK_RC(daxkv_query(db, &q, &res), DAXKV_EIO);
		CHECK_STR_HAS(daxkv_errmsg(), "seg-00000000.dat offset ");
	}
	/* a scan that stays below the cut is whole */
	n = 0;
	key_of(k, 100);
	CHECK_OK(daxkv_scan(db, NULL, 0, k, 16, count_fn, &n));
	CHECK_EQ(n, 100);
	CHECK(truncate(seg0, 2u << 20) == 0); /* close seals page 0 only */
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void case_compact(void)
{
	char seg0[512], k[32];
	const char *dir = make_db("poison-compact", seg0, sizeof(seg0));
	struct daxkv_options o = dk_small_opts();
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	uint8_t v[VLEN];
	daxkv *db;

	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	/* most of segment 0 dead: it becomes a victim */
	for (int i = 0; i < NKEYS; i += 10) {
		if (REC_OFF(i) + 152 > CUT)
			break;
		key_of(k, i);
		val_of(v, i);
		CHECK_OK(daxkv_put(db, k, 16, v, VLEN));
	}
	for (int i = 0; i < NKEYS; i++) {
		if (i % 10 == 0 && REC_OFF(i) + 152 <= CUT)
			continue;
		key_of(k, i);
		CHECK_OK(daxkv_delete(db, k, 16));
	}
	/* roll the lane over: segment 0 is sealed, a victim */
	{
		static uint8_t big[64 << 10];

		/* and the next one too, dead: two victims free a segment */
		for (int i = 0; i < 40; i++) {
			snprintf(k, sizeof(k), "big%d", i);
			CHECK_OK(daxkv_put(db, k, strlen(k), big, sizeof(big)));
		}
		for (int i = 5; i < 40; i++) {
			snprintf(k, sizeof(k), "big%d", i);
			CHECK_OK(daxkv_delete(db, k, strlen(k)));
		}
	}
	CHECK(truncate(seg0, CUT) == 0);
	CHECK_RC(daxkv_compact(db), DAXKV_EIO);
	CHECK_STR_HAS(daxkv_errmsg(), "seg-00000000.dat offset ");
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.compaction_errors, 1);
	CHECK_EQ(st.compactions, 0);
	/* the damaged segment is not picked again */
	CHECK_OK(daxkv_compact(db));
	CHECK(truncate(seg0, 2u << 20) == 0);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static void salvage_and_verify(const char *dir, int upto)
{
	struct daxkv_options o = dk_small_opts();
	daxkv *db;

	o.flags = DAXKV_OPEN_SALVAGE | DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	check_keys(db, upto);
	CHECK_OK(daxkv_close(db));
	/* after salvage the database opens normally */
	CHECK_OK(daxkv_open(dir, NULL, &db));
	check_keys(db, upto);
	CHECK_OK(daxkv_close(db));
}

static void case_open(void)
{
	char seg0[512];
	const char *dir = make_db("poison-open", seg0, sizeof(seg0));
	struct daxkv_options o = dk_small_opts();
	daxkv *db;

	o.flags = DAXKV_OPEN_NOCHECKPOINT | DAXKV_OPEN_NOCOMPACT;
	snprintf(cut_path, sizeof(cut_path), "%s", seg0);
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EIO);
	CHECK_STR_HAS(daxkv_errmsg(), "seg-00000000.dat offset ");
	CHECK_STR_HAS(daxkv_errmsg(), "media error");
	CHECK(cut_path[0] == '\0');
	/* the file is short now: refused, then salvaged */
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_ECORRUPT);
	salvage_and_verify(dir, first_past() - 1);
	dk_rmtree(dir);
}

static int count_problems(const struct daxkv_check_problem *p, void *arg)
{
	if (strstr(p->what, "media error"))
		(*(int *)arg)++;
	return 0;
}

static void case_check(void)
{
	char seg0[512];
	const char *dir = make_db("poison-check", seg0, sizeof(seg0));
	int media = 0;
	struct daxkv_check_options co = {
		.version = DAXKV_CHECK_OPTIONS_VERSION,
		.report = count_problems,
		.arg = &media,
	};
	struct daxkv_check_result cr = { .version = DAXKV_CHECK_RESULT_VERSION };
	struct stat st;

	snprintf(cut_path, sizeof(cut_path), "%s", seg0);
	CHECK_OK(daxkv_check(dir, &co, &cr));
	CHECK_EQ(media, 1);
	CHECK(cr.problems >= 1);
	/* a repair gives the file its size back and keeps the rest */
	media = 0;
	co.flags = DAXKV_CHECK_REPAIR;
	CHECK_OK(daxkv_check(dir, &co, &cr));
	CHECK(stat(seg0, &st) == 0);
	CHECK_EQ(st.st_size, 2u << 20);
	co.flags = 0;
	CHECK_OK(daxkv_check(dir, &co, &cr));
	CHECK_EQ(cr.problems, 0);
	salvage_and_verify(dir, first_past() - 1);
	dk_rmtree(dir);
}

static sigjmp_buf app_env;
static volatile int app_caught;

static void app_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	app_caught++;
	siglongjmp(app_env, 1);
}

static void case_chain(void)
{
	char seg0[512], path[600];
	const char *dir;
	struct sigaction sa;
	uint8_t *p;
	daxkv *db;
	int fd;

	/* the application's handler, installed before the first open of
	 * this process (the cases run in their own process: see main) */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
	dir = make_db("poison-chain", seg0, sizeof(seg0));
	CHECK_OK(daxkv_open(dir, NULL, &db));
	/* a SIGBUS of the application's own, outside any daxkv call */
	snprintf(path, sizeof(path), "%s.app", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && ftruncate(fd, 8192) == 0);
	p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED);
	CHECK(ftruncate(fd, 0) == 0);
	if (sigsetjmp(app_env, 1) == 0)
		(void)*(volatile uint8_t *)(p + 4096);
	CHECK_EQ(app_caught, 1);
	munmap(p, 8192);
	close(fd);
	unlink(path);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/*
 * Unsafe shutdown count (db.c: dk_open_sds): a count that moved while the
 * database was open (last session not closed cleanly) refuses the open;
 * one that moved while it was closed does not; salvage takes it as it is.
 */
static void case_sds(void)
{
	const char *dir = dk_test_dir("poison-sds");
	struct daxkv_options o = dk_small_opts();
	int status;
	pid_t child;
	daxkv *db;

	fake_usc = 5;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_put(db, "a", 1, "1", 1));
	CHECK_OK(daxkv_close(db));
	fake_usc = 6; /* while closed: fine */
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_close(db));
	/* a session that ends without a close, with the count unchanged:
	 * a process crash, not an unsafe shutdown */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		if (daxkv_open(dir, &o, &db) || daxkv_put(db, "b", 1, "2", 1))
			_exit(2);
		_exit(0);
	}
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	CHECK_OK(daxkv_open(dir, &o, &db)); /* the count did not move */
	CHECK_OK(daxkv_close(db));
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		if (daxkv_open(dir, &o, &db) || daxkv_put(db, "d", 1, "4", 1))
			_exit(2);
		_exit(0); /* open, unsafe: the count moves before the next */
	}
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	fake_usc = 7;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_ECORRUPT);
	CHECK_STR_HAS(daxkv_errmsg(), "meta.pool offset ");
	CHECK_STR_HAS(daxkv_errmsg(), "unsafe shutdown");
	o.flags = DAXKV_OPEN_SALVAGE;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_close(db));
	o.flags = 0;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_close(db));
	fake_usc = -1;
	dk_rmtree(dir);
}

/*
 * An action-optional machine check (the kernel's early kill of a mapper
 * of a page gone bad) reaching daxkv's handler with no guard active and
 * the default disposition before it: ignored, and the handler stays, so
 * a later media error in a guarded read is still DAXKV_EIO.  (Sent to
 * this thread with rt_tgsigqueueinfo: si_code > 0 may be sent to
 * oneself.)
 */
static void case_mce_ao(void)
{
	char seg0[512], k[32];
	const char *dir = make_db("poison-ao", seg0, sizeof(seg0));
	struct daxkv_options o = dk_small_opts();
	siginfo_t si;
	uint8_t v[VLEN];
	size_t vlen;
	daxkv *db;

	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_code = BUS_MCEERR_AO;
	si.si_addr = (void *)0x1000;
	CHECK(syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGBUS,
		      &si) == 0);
	/* still here; and the guard still catches */
	CHECK(truncate(seg0, CUT) == 0);
	key_of(k, first_past() + 10);
	CHECK_RC(daxkv_get(db, k, 16, v, sizeof(v), &vlen), DAXKV_EIO);
	CHECK_STR_HAS(daxkv_errmsg(), "seg-00000000.dat offset ");
	CHECK(truncate(seg0, 2u << 20) == 0);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/*
 * A segment offered for reuse at open whose bytes past the tail fault
 * (the file cut short after recovery read its records): the first write
 * gets another segment, and the process lives on.
 */
static void case_reuse(void)
{
	char seg0[512], seg1[600];
	const char *dir = make_db("poison-reuse", seg0, sizeof(seg0));
	struct daxkv_options o = dk_small_opts();
	uint8_t v[VLEN];
	size_t vlen;
	daxkv *db;

	o.flags = DAXKV_OPEN_NOCHECKPOINT | DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	/* records end at REC_OFF(NKEYS), 1.45 MiB; room after them */
	CHECK(REC_OFF(NKEYS) + (256u << 10) < (7u << 18));
	CHECK(truncate(seg0, 7u << 18) == 0);
	val_of(v, 1);
	CHECK_OK(daxkv_put(db, "after-cut", 9, v, VLEN));
	CHECK_OK(daxkv_get(db, "after-cut", 9, v, sizeof(v), &vlen));
	snprintf(seg1, sizeof(seg1), "%s/seg-00000001.dat", dir);
	CHECK(access(seg1, F_OK) == 0);
	check_keys(db, 100);
	CHECK(truncate(seg0, 2u << 20) == 0);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* Segment files in @p dir. */
static int count_segments(const char *dir)
{
	char path[600];
	int n = 0;

	for (unsigned slot = 0; slot < 64; slot++) {
		snprintf(path, sizeof(path), "%s/seg-%08u.dat", dir, slot);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/*
 * Compaction verifies before it copies (issue #16): a live record of the
 * victim whose value no longer matches its crc ends the round with
 * DAXKV_ECORRUPT naming the file and offset; nothing is published (every
 * other key reads as before, the new segment is gone), the victim is kept
 * and not picked again, and the damaged record is never copied with a
 * fresh crc (salvage afterwards finds it where it was).
 */
static void case_compact_crc(void)
{
	char seg0[512], k[32], want[128];
	const char *dir = make_db("poison-compact-crc", seg0, sizeof(seg0));
	struct daxkv_options o = dk_small_opts();
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	uint8_t v[VLEN], got[VLEN], *file;
	long hit = -1;
	size_t vlen;
	struct stat fst;
	int fd, nsegs;
	daxkv *db;

	/* no spare maker either: the files counted below are the round's */
	o.flags = DAXKV_OPEN_NOBACKGROUND;
	CHECK_OK(daxkv_open(dir, &o, &db));
	/* as in case_compact: segment 0 mostly dead, then rolled over */
	for (int i = 0; i < NKEYS; i += 10) {
		key_of(k, i);
		val_of(v, i);
		CHECK_OK(daxkv_put(db, k, 16, v, VLEN));
	}
	for (int i = 0; i < NKEYS; i++) {
		if (i % 10 == 0)
			continue;
		key_of(k, i);
		CHECK_OK(daxkv_delete(db, k, 16));
	}
	{
		static uint8_t big[64 << 10];

		for (int i = 0; i < 40; i++) {
			snprintf(k, sizeof(k), "big%d", i);
			CHECK_OK(daxkv_put(db, k, strlen(k), big, sizeof(big)));
		}
		for (int i = 5; i < 40; i++) {
			snprintf(k, sizeof(k), "big%d", i);
			CHECK_OK(daxkv_delete(db, k, strlen(k)));
		}
	}
	/* the newest record of key 0 (its last copy in segment 0): one value
	 * byte flipped through the file, which the handle's mapping shares */
	key_of(k, 0);
	fd = open(seg0, O_RDWR);
	CHECK(fd >= 0 && fstat(fd, &fst) == 0);
	file = malloc((size_t)fst.st_size);
	CHECK(file && pread(fd, file, (size_t)fst.st_size, 0) == fst.st_size);
	for (long off = 4096; off + 16 + VLEN <= fst.st_size; off += 8)
		if (!memcmp(file + off, k, 16))
			hit = off;
	CHECK(hit > 0);
	file[hit + 16 + 50] ^= 0x10;
	CHECK(pwrite(fd, file + hit + 16 + 50, 1, hit + 16 + 50) == 1);
	free(file);
	close(fd);
	nsegs = count_segments(dir);

	CHECK_RC(daxkv_compact(db), DAXKV_ECORRUPT);
	/* the record starts 32 bytes before its key */
	snprintf(want, sizeof(want), "seg-00000000.dat offset %ld: record "
		 "fails its crc", hit - 32);
	CHECK_STR_HAS(daxkv_errmsg(), want);
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.compaction_errors, 1);
	CHECK_EQ(st.compactions, 0);
	CHECK_EQ(count_segments(dir), nsegs);
	for (int i = 10; i < NKEYS; i += 10) {
		key_of(k, i);
		val_of(v, i);
		CHECK_OK(daxkv_get(db, k, 16, got, sizeof(got), &vlen));
		CHECK(vlen == VLEN && !memcmp(got, v, VLEN));
	}
	/* not picked again */
	CHECK_OK(daxkv_compact(db));
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.compaction_errors, 1);
	CHECK_OK(daxkv_close(db));
	/* the damage is where it was, found by the next open */
	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_ECORRUPT);
	dk_rmtree(dir);
}

/* ---- bad blocks the device lists (the wraps above) ---- */

#define BB_OFF (64u << 10)
#define BB_LEN 4096u

static bool hits_bad_block(int i)
{
	return REC_OFF(i) < BB_OFF + BB_LEN && REC_OFF(i) + 152u > BB_OFF;
}

struct bb_seen {
	int problems; /* all reported */
	int bad;      /* those about the listed bad blocks */
	int repaired; /* of those, repaired */
	uint64_t offset, length;
	char file[512];
};

static int note_bb(const struct daxkv_check_problem *p, void *arg)
{
	struct bb_seen *seen = arg;

	seen->problems++;
	if (!strstr(p->what, "bad blocks"))
		return 0;
	seen->bad++;
	seen->repaired += p->repaired != 0;
	seen->offset = p->offset;
	seen->length = p->length;
	snprintf(seen->file, sizeof(seen->file), "%s", p->file);
	CHECK(p->repairable);
	return 0;
}

/*
 * A listed bad block under the log (engine/recovery.c, check.c): open
 * refuses with DAXKV_EIO naming the file and offset, whether recovery
 * loads the checkpoint or scans; daxkv_check reports it (repairable) and
 * changes nothing; salvage records and clears it and keeps every record
 * outside it; after that the database opens normally with the same keys.
 */
static void case_badblocks(void)
{
	char seg0[512], want[160], k[32];
	const char *dir = make_db("poison-bb", seg0, sizeof(seg0));
	struct daxkv_options o = dk_small_opts();
	struct bb_seen seen = { 0 };
	struct daxkv_check_options co = {
		.version = DAXKV_CHECK_OPTIONS_VERSION,
		.report = note_bb,
		.arg = &seen,
	};
	struct daxkv_check_result cr = { .version = DAXKV_CHECK_RESULT_VERSION };
	uint8_t v[VLEN], got[VLEN];
	int lost = 0, kept = 0;
	size_t vlen;
	daxkv *db = NULL;

	for (int i = 0; i < NKEYS; i++)
		lost += hits_bad_block(i);
	CHECK(lost > 0 && lost < 40);
	fake_bb_add(seg0, BB_OFF, BB_LEN);
	snprintf(want, sizeof(want), "seg-00000000.dat offset %u: %u bytes "
		 "the device lists as bad blocks", BB_OFF, BB_LEN);

	/* (a) refused: after a clean close (checkpoint), and scanning */
	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EIO);
	CHECK_STR_HAS(daxkv_errmsg(), want);
	o.flags = DAXKV_OPEN_NOCOMPACT | DAXKV_OPEN_NOCHECKPOINT;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EIO);
	CHECK_STR_HAS(daxkv_errmsg(), want);
	o.flags = DAXKV_OPEN_RDONLY;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EIO);
	CHECK_STR_HAS(daxkv_errmsg(), want);
	CHECK_EQ(fake_bb_clears, 0);

	/* (b) the check reports it, and without REPAIR changes nothing */
	CHECK_OK(daxkv_check(dir, &co, &cr));
	CHECK_EQ(seen.bad, 1);
	CHECK_EQ(seen.repaired, 0);
	CHECK_EQ(seen.offset, BB_OFF);
	CHECK_EQ(seen.length, BB_LEN);
	CHECK_STR_HAS(seen.file, "seg-00000000.dat");
	CHECK_EQ(seen.problems, 1);
	CHECK_EQ(cr.problems, 1);
	CHECK_EQ(fake_bb_clears, 0);
	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_RC(daxkv_open(dir, &o, &db), DAXKV_EIO);

	/* (c) salvage: the block cleared, every record outside it kept */
	memset(&seen, 0, sizeof(seen));
	o.flags = DAXKV_OPEN_SALVAGE | DAXKV_OPEN_NOCOMPACT;
	o.salvage_report = note_bb;
	o.salvage_arg = &seen;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_EQ(seen.bad, 1);
	CHECK_EQ(seen.repaired, 1);
	CHECK_EQ(seen.offset, BB_OFF);
	CHECK_EQ(fake_bb_clears, 1);
	for (int pass = 0; pass < 2; pass++) {
		kept = 0;
		for (int i = 0; i < NKEYS; i++) {
			key_of(k, i);
			if (hits_bad_block(i)) {
				CHECK_RC(daxkv_get(db, k, 16, got, sizeof(got),
						   &vlen), DAXKV_ENOTFOUND);
				continue;
			}
			val_of(v, i);
			CHECK_OK(daxkv_get(db, k, 16, got, sizeof(got),
					   &vlen));
			CHECK_EQ(vlen, VLEN);
			CHECK_MEM(got, v, VLEN);
			kept++;
		}
		CHECK_EQ(kept, NKEYS - lost);
		CHECK_OK(daxkv_close(db));
		/* after salvage it opens normally, with the same keys */
		o.flags = DAXKV_OPEN_NOCOMPACT;
		o.salvage_report = NULL;
		CHECK_OK(daxkv_open(dir, &o, &db));
		if (pass == 1)
			CHECK_OK(daxkv_close(db));
	}
	memset(&seen, 0, sizeof(seen));
	CHECK_OK(daxkv_check(dir, &co, &cr));
	CHECK_EQ(cr.problems, 0);
	fake_bb_reset();
	dk_rmtree(dir);
}

/*
 * A listed bad block past the end of the log: not damage (no record is
 * there), so open succeeds and counts it (daxkv_stat's bad_blocks), and
 * the segment takes no appends (a write gets a new segment).
 */
static void case_badblocks_room(void)
{
	char seg0[512], seg1[600];
	const char *dir = make_db("poison-bb-room", seg0, sizeof(seg0));
	struct daxkv_options o = dk_small_opts();
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	uint8_t v[VLEN];
	size_t vlen;
	daxkv *db;

	CHECK(REC_OFF(NKEYS) < (7u << 18));
	fake_bb_add(seg0, 7u << 18, BB_LEN);
	o.flags = DAXKV_OPEN_NOCOMPACT;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.bad_blocks, 1);
	val_of(v, 1);
	CHECK_OK(daxkv_put(db, "after-bb", 8, v, VLEN));
	CHECK_OK(daxkv_get(db, "after-bb", 8, v, sizeof(v), &vlen));
	snprintf(seg1, sizeof(seg1), "%s/seg-00000001.dat", dir);
	CHECK(access(seg1, F_OK) == 0);
	check_keys(db, NKEYS);
	CHECK_OK(daxkv_close(db));
	fake_bb_reset();
	dk_rmtree(dir);
}

static const struct dk_case cases[] = {
	{ "sds", case_sds },
	{ "get_scan", case_get_scan },
	{ "compact", case_compact },
	{ "compact_crc", case_compact_crc },
	{ "mce_ao", case_mce_ao },
	{ "reuse", case_reuse },
	{ "open", case_open },
	{ "check", case_check },
	{ "chain", case_chain },
	{ "badblocks", case_badblocks },
	{ "badblocks_room", case_badblocks_room },
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
