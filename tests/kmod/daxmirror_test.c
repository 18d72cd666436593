// SPDX-License-Identifier: MIT
/*
 * daxmirror_test.c -- tests of the daxmirror module, run inside the test VM
 * (tests/vm/) on fsdax files (ext4, xfs mounted -o dax) and devdax.
 *
 * Usage: daxmirror_test -c CASE [-p PATH] [-l LABEL] [-n COUNT] [-s SEED]
 *                       [-y] [-r]
 *   PATH is a directory on a DAX file system, or a /dev/daxX.Y device.
 *   -y: the race cases map their files MAP_SYNC.
 *   -r: the race case also clones a file over the mirrored one (FICLONE),
 *       where the file system has reflink.
 * Cases: read_equal events no_pin race lifecycle fuzz query query_race
 * refuse poison kill stress leaks.
 * Exit 0 pass, 1 fail, 4 skip.  Lines starting "DMR-" are results the
 * suite collects (events per operation, race and fuzz counts).
 *
 * The stale-read rule of the race case is explained above race_check().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daxmirror_uapi.h"

#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif
#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif

#define PAGE 4096ul
#define PMD (2ul << 20)

/* Assertions that print where and both values, and work with NDEBUG. */
#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                           \
			fprintf(stderr, __VA_ARGS__);                       \
			fprintf(stderr, "\n");                              \
			return -1;                                          \
		}                                                           \
	} while (0)
#define CHECK_EQ(a, b)                                                      \
	CHECK((long long)(a) == (long long)(b), "%s = %lld, %s = %lld", #a, \
	      (long long)(a), #b, (long long)(b))
#define CHECK_SYS(expr) CHECK((expr) != -1, "%s", strerror(errno))

struct opts {
	const char *path;
	const char *label;
	long count;
	uint64_t seed;
	bool devdax;
	bool race_sync;	/* -y */
	bool clone;	/* -r */
};

static struct opts opt = { .path = "/mnt", .label = "fs", .count = 1000,
			   .seed = 0x9e3779b97f4a7c15ull };

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static const char *event_names[DAXMIRROR_EV_COUNT] = {
	[DAXMIRROR_EV_UNMAP] = "UNMAP",
	[DAXMIRROR_EV_CLEAR] = "CLEAR",
	[DAXMIRROR_EV_PROTECTION_VMA] = "PROTECTION_VMA",
	[DAXMIRROR_EV_PROTECTION_PAGE] = "PROTECTION_PAGE",
	[DAXMIRROR_EV_SOFT_DIRTY] = "SOFT_DIRTY",
	[DAXMIRROR_EV_RELEASE] = "RELEASE",
	[DAXMIRROR_EV_MIGRATE] = "MIGRATE",
	[DAXMIRROR_EV_EXCLUSIVE] = "EXCLUSIVE",
	[DAXMIRROR_EV_OTHER] = "OTHER",
};

/* ---- thin wrappers: return 0 or -errno ---- */

static int dmr_open(void)
{
	return open("/dev/" DAXMIRROR_DEVICE_NAME, O_RDWR | O_CLOEXEC);
}

static int dmr_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static int dmr_map(int fd, void *addr, size_t len, uint64_t flags,
		   uint64_t *faulted)
{
	struct daxmirror_map arg = { .size = sizeof(arg),
				     .addr = (uintptr_t)addr, .len = len,
				     .flags = flags };
	int ret = dmr_ioctl(fd, DAXMIRROR_IOC_MAP, &arg);

	if (faulted)
		*faulted = arg.faulted;
	/* The (in) fields come back unchanged (uapi); callers keep them to
	 * UNMAP later, and the engine once lost its ranges that way. */
	if (ret == 0 && (arg.size != sizeof(arg) || arg.addr != (uintptr_t)addr ||
			 arg.len != len || arg.flags != flags)) {
		fprintf(stderr, "MAP changed its (in) fields: addr %#llx len %llu\n",
			(unsigned long long)arg.addr, (unsigned long long)arg.len);
		return -EPROTO;
	}
	return ret;
}

static int dmr_unmap(int fd, void *addr, size_t len)
{
	struct daxmirror_unmap arg = { .size = sizeof(arg),
				       .addr = (uintptr_t)addr, .len = len };

	return dmr_ioctl(fd, DAXMIRROR_IOC_UNMAP, &arg);
}

static int dmr_read(int fd, const void *addr, size_t len, void *buf,
		    unsigned int lanes, uint64_t *bytes)
{
	struct daxmirror_read arg = { .size = sizeof(arg),
				      .addr = (uintptr_t)addr, .len = len,
				      .ptr = (uintptr_t)buf, .lanes = lanes };
	int ret = dmr_ioctl(fd, DAXMIRROR_IOC_READ, &arg);

	if (bytes)
		*bytes = arg.bytes;
	return ret;
}

static int dmr_snapshot(int fd, const void *addr, size_t npages,
			uint8_t *states)
{
	struct daxmirror_snapshot arg = { .size = sizeof(arg),
					  .addr = (uintptr_t)addr,
					  .npages = npages,
					  .ptr = (uintptr_t)states };

	return dmr_ioctl(fd, DAXMIRROR_IOC_SNAPSHOT, &arg);
}

static int dmr_stats(int fd, struct daxmirror_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return dmr_ioctl(fd, DAXMIRROR_IOC_STATS, st);
}

static long sysfs_counter(const char *name)
{
	char path[128];
	long val = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/misc/%s/%s",
		 DAXMIRROR_DEVICE_NAME, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &val) != 1)
		val = -1;
	fclose(f);
	return val;
}

/* The module's test-only delay between a fault and its commit. */
static void set_commit_delay(unsigned int us)
{
	FILE *f = fopen("/sys/module/daxmirror/parameters/inject_commit_delay_us",
			"w");

	if (f) {
		fprintf(f, "%u\n", us);
		fclose(f);
	}
}

/* ---- targets: a MAP_SYNC file mapping or a devdax mapping ---- */

struct target {
	int fd;
	char path[256];
	uint8_t *map;
	size_t len;
	int prot;
	bool sync;	/* map_sync when it was made */
};

/*
 * File mappings are MAP_SYNC except in the race cases without -y: there, a
 * CPU write fault on a MAP_SYNC mapping racing with a read fault of the
 * same 2 MiB (ours, or any other thread's) trips WARN_ON_ONCE in
 * insert_pfn_pmd() on Debian's 6.1 kernel (see docs/kmod.md), which the
 * suite counts as a failure; -y runs them MAP_SYNC where the kernel
 * allows it.
 */
static bool map_sync = true;

/* A 2 MiB-aligned hole of len bytes in the address space, kept reserved. */
static void *reserve_aligned(size_t len)
{
	uint8_t *p = mmap(NULL, len + PMD, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t aligned;

	if (p == MAP_FAILED)
		return NULL;
	aligned = ((uintptr_t)p + PMD - 1) & ~(PMD - 1);
	return (void *)aligned;
}

static int target_map_at(struct target *t, void *where)
{
	int flags = MAP_FIXED | (opt.devdax || !t->sync ? MAP_SHARED :
				 MAP_SHARED_VALIDATE | MAP_SYNC);
	void *p = mmap(where, t->len, PROT_READ | PROT_WRITE, flags, t->fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	t->map = p;
	return 0;
}

/* Set a 2 MiB extent size hint where the fs has one (xfs); ignore others. */
static void set_extsize_hint(int fd)
{
	struct fsxattr fsx;

	if (ioctl(fd, FS_IOC_FSGETXATTR, &fsx))
		return;
	fsx.fsx_xflags |= FS_XFLAG_EXTSIZE;
	fsx.fsx_extsize = PMD;
	(void)ioctl(fd, FS_IOC_FSSETXATTR, &fsx);
}

static int target_open_file(struct target *t, const char *name, size_t len)
{
	snprintf(t->path, sizeof(t->path), "%s/%s", opt.path, name);
	t->fd = open(t->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (t->fd < 0)
		return -errno;
	set_extsize_hint(t->fd);
	if (fallocate(t->fd, 0, 0, len))
		return -errno;
	return 0;
}

/* target_create() at @p where, a hole of at least len bytes that the
 * caller reserved (reserve_aligned). */
static int target_create_in(struct target *t, const char *name, size_t len,
			    void *where)
{
	int ret;

	memset(t, 0, sizeof(*t));
	t->len = len;
	t->sync = map_sync;
	if (opt.devdax) {
		snprintf(t->path, sizeof(t->path), "%s", opt.path);
		t->fd = open(opt.path, O_RDWR | O_CLOEXEC);
		if (t->fd < 0)
			return -errno;
	} else {
		ret = target_open_file(t, name, len);
		if (ret)
			return ret;
	}
	return target_map_at(t, where);
}

static int target_create(struct target *t, const char *name, size_t len)
{
	void *where = reserve_aligned(len);

	return where ? target_create_in(t, name, len, where) : -ENOMEM;
}

static void target_destroy(struct target *t)
{
	if (t->map)
		munmap(t->map, t->len);
	if (t->fd > 0)
		close(t->fd);
	if (!opt.devdax && t->path[0])
		unlink(t->path);
	memset(t, 0, sizeof(*t));
}

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rng();

		memcpy(p + i, &v, 8);
	}
}

static void print_stats(const char *what, const struct daxmirror_stats *st)
{
	printf("DMR-STATS %s %s faults=%llu fault_errors=%llu retries=%llu "
	       "invalidations=%llu order0=%llu order9=%llu bytes_read=%llu\n",
	       opt.label, what, (unsigned long long)st->faults,
	       (unsigned long long)st->fault_errors,
	       (unsigned long long)st->retries,
	       (unsigned long long)st->invalidations,
	       (unsigned long long)st->mirrored_order0,
	       (unsigned long long)st->mirrored_order9,
	       (unsigned long long)st->bytes_read);
}

/* ---- read_equal ---- */

static int count_order9(int dfd, const void *addr, size_t len, size_t *valid)
{
	size_t npages = len / PAGE, n9 = 0;
	uint8_t *st = malloc(npages);

	if (!st || dmr_snapshot(dfd, addr, npages, st)) {
		free(st);
		return -1;
	}
	*valid = 0;
	for (size_t i = 0; i < npages; i++) {
		if (st[i] & DAXMIRROR_SNAP_VALID)
			(*valid)++;
		if (st[i] >> DAXMIRROR_SNAP_ORDER_SHIFT == 9)
			n9++;
	}
	free(st);
	return (int)n9;
}

static int case_read_equal(void)
{
	const size_t len = 16ul << 20;
	struct daxmirror_stats st;
	struct target t;
	uint64_t faulted, bytes;
	uint8_t *buf;
	size_t valid = 0;
	int dfd, n9;

	CHECK_EQ(target_create(&t, "read_equal", len), 0);
	buf = malloc(len);
	CHECK(buf, "malloc");
	fill_random(t.map, len);

	/* Prefaulted mirror, all lanes. */
	dfd = dmr_open();
	CHECK_SYS(dfd);
	CHECK_EQ(dmr_map(dfd, t.map, len, DAXMIRROR_MAP_PREFAULT, &faulted), 0);
	CHECK_EQ(dmr_stats(dfd, &st), 0);
	print_stats("after PREFAULT", &st);
	printf("DMR-STATS %s last_fault_error=%lld refused=%llu\n", opt.label,
	       (long long)st.last_fault_error,
	       (unsigned long long)st.refused);
	CHECK_EQ(faulted, len / PAGE);
	n9 = count_order9(dfd, t.map, len, &valid);
	CHECK_EQ(valid, len / PAGE);
	printf("DMR-ORDER %s pages=%zu order9=%d\n", opt.label, len / PAGE, n9);
	CHECK(n9 == (int)(len / PAGE), "2 MiB-aligned extents must mirror at "
	      "order 9: %d of %zu pages", n9, len / PAGE);
	memset(buf, 0, len);
	CHECK_EQ(dmr_read(dfd, t.map, len, buf, 8, &bytes), 0);
	CHECK_EQ(bytes, len);
	CHECK(!memcmp(buf, t.map, len), "device read differs from CPU data");

	/* Unaligned pieces, random lane counts. */
	for (int i = 0; i < 200; i++) {
		size_t off = rng() % len;
		size_t n = 1 + rng() % (len - off < 300000 ? len - off : 300000);

		CHECK_EQ(dmr_read(dfd, t.map + off, n, buf, rng() % 9, &bytes),
			 0);
		CHECK(!memcmp(buf, t.map + off, n), "piece %zu+%zu differs",
		      off, n);
	}
	CHECK_EQ(dmr_stats(dfd, &st), 0);
	print_stats("prefault", &st);
	close(dfd);

	/* A cold mirror: every page comes in through the fault path. */
	dfd = dmr_open();
	CHECK_SYS(dfd);
	CHECK_EQ(dmr_map(dfd, t.map, len, 0, NULL), 0);
	fill_random(t.map, len);
	CHECK_EQ(dmr_read(dfd, t.map, len, buf, 4, &bytes), 0);
	CHECK(!memcmp(buf, t.map, len), "cold device read differs");
	CHECK_EQ(dmr_stats(dfd, &st), 0);
	print_stats("cold", &st);
	CHECK(st.faults > 0, "no device faults");
	CHECK(st.mirrored_order9 > 0, "cold faults did not map order 9");
	CHECK_EQ(dmr_unmap(dfd, t.map, len), 0);
	close(dfd);
	free(buf);
	target_destroy(&t);
	return 0;
}

/* ---- events: which notifier events each CPU operation fires ---- */

enum op_kind {
	OP_NONE,
	OP_WRITE,
	OP_TRUNCATE,
	OP_PUNCH,
	OP_MUNMAP,
	OP_MPROTECT_RO,
	OP_MPROTECT_NONE,
	OP_REUSE,
	OP_CLONE,
	OP_COUNT
};

static const char *op_names[OP_COUNT] = {
	[OP_WRITE] = "write",	    [OP_TRUNCATE] = "ftruncate",
	[OP_PUNCH] = "punch_hole", [OP_MUNMAP] = "munmap",
	[OP_MPROTECT_RO] = "mprotect_ro",
	[OP_MPROTECT_NONE] = "mprotect_none",
	[OP_REUSE] = "unlink_reuse",
	[OP_CLONE] = "reflink_clone",
};

static int events_one(enum op_kind op)
{
	const size_t len = 4ul << 20, probe = 3ul << 20, hole = 1ul << 20;
	struct daxmirror_stats before, after;
	uint8_t *buf = malloc(PAGE), *old = malloc(len);
	uint8_t state;
	struct target t;
	char line[512];
	int dfd, rd_probe, rd_hole, pos;
	uint64_t faulted;

	CHECK(buf && old, "malloc");
	CHECK_EQ(target_create(&t, "events", len), 0);
	fill_random(t.map, len);
	memcpy(old, t.map, len);
	dfd = dmr_open();
	CHECK_SYS(dfd);
	CHECK_EQ(dmr_map(dfd, t.map, len, DAXMIRROR_MAP_PREFAULT, &faulted), 0);
	CHECK_EQ(faulted, len / PAGE);
	CHECK_EQ(dmr_stats(dfd, &before), 0);

	switch (op) {
	case OP_TRUNCATE: /* drops [3 MiB, 4 MiB): splits the 2nd PMD */
		CHECK_SYS(ftruncate(t.fd, probe));
		break;
	case OP_PUNCH:
		CHECK_SYS(fallocate(t.fd, FALLOC_FL_PUNCH_HOLE |
				    FALLOC_FL_KEEP_SIZE, hole, 64 << 10));
		break;
	case OP_MUNMAP:
		CHECK_SYS(munmap(t.map, len));
		break;
	case OP_MPROTECT_RO:
		CHECK_SYS(mprotect(t.map, len, PROT_READ));
		break;
	case OP_MPROTECT_NONE:
		CHECK_SYS(mprotect(t.map, len, PROT_NONE));
		break;
	default:
		CHECK(0, "op %d", op);
	}
	CHECK_EQ(dmr_stats(dfd, &after), 0);

	/* What the device sees now, at the probe page and at the hole. */
	rd_probe = dmr_read(dfd, t.map + probe, PAGE, buf, 1, NULL);
	if (!rd_probe && op != OP_MPROTECT_RO && op != OP_PUNCH)
		CHECK(memcmp(buf, old + probe, PAGE),
		      "%s: device returned the old bytes", op_names[op]);
	if (!rd_probe && op == OP_MPROTECT_RO)
		CHECK(!memcmp(buf, old + probe, PAGE), "mprotect_ro changed data");
	if (op == OP_TRUNCATE || op == OP_MUNMAP || op == OP_MPROTECT_NONE)
		CHECK(rd_probe != 0, "%s: read past it succeeded", op_names[op]);
	rd_hole = dmr_read(dfd, t.map + hole, PAGE, buf, 1, NULL);
	if (op == OP_PUNCH) {
		static const uint8_t zero[PAGE];

		CHECK_EQ(rd_hole, 0);
		CHECK(!memcmp(buf, zero, PAGE), "punched page not zero");
	}
	CHECK_EQ(dmr_snapshot(dfd, t.map + probe, 1, &state), 0);
	if (op == OP_MPROTECT_RO)
		CHECK(!(state & DAXMIRROR_SNAP_WRITE), "writable after RO");

	pos = snprintf(line, sizeof(line), "DMR-EVENT %s %s:", opt.label,
		       op_names[op]);
	for (int e = 1; e < DAXMIRROR_EV_COUNT; e++) {
		uint64_t d = after.events[e] - before.events[e];

		if (d && pos < (int)sizeof(line))
			pos += snprintf(line + pos, sizeof(line) - pos,
					" %s=%llu", event_names[e],
					(unsigned long long)d);
	}
	printf("%s cleared=%llu read_after=%d(%s) hole_read=%d last_fault_error=%lld\n",
	       line, (unsigned long long)(after.pages_cleared -
					  before.pages_cleared),
	       rd_probe, rd_probe ? strerror(-rd_probe) : "ok", rd_hole,
	       (long long)(int64_t)after.last_fault_error);
	CHECK(after.invalidations > before.invalidations,
	      "%s fired no invalidation", op_names[op]);
	close(dfd);
	if (op == OP_MUNMAP)
		t.map = NULL;
	else
		munmap(t.map, len), t.map = NULL;
	target_destroy(&t);
	free(buf);
	free(old);
	return 0;
}

static int case_events(void)
{
	static const enum op_kind file_ops[] = { OP_TRUNCATE, OP_PUNCH,
		OP_MUNMAP, OP_MPROTECT_RO, OP_MPROTECT_NONE };
	static const enum op_kind dev_ops[] = { OP_MUNMAP, OP_MPROTECT_RO,
		OP_MPROTECT_NONE };
	const enum op_kind *ops = opt.devdax ? dev_ops : file_ops;
	size_t n = opt.devdax ? 3 : 5;

	for (size_t i = 0; i < n; i++)
		if (events_one(ops[i]))
			return -1;
	return 0;
}

/* ---- no_pin: the fs frees and reuses blocks under a live mirror ---- */

struct extent {
	uint64_t phys, len;
};

static int fiemap_extents(int fd, struct extent *out, int max)
{
	size_t sz = sizeof(struct fiemap) + max * sizeof(struct fiemap_extent);
	struct fiemap *fm = calloc(1, sz);
	int n;

	if (!fm)
		return -1;
	fm->fm_length = ~0ull;
	fm->fm_flags = FIEMAP_FLAG_SYNC;
	fm->fm_extent_count = max;
	if (ioctl(fd, FS_IOC_FIEMAP, fm)) {
		free(fm);
		return -1;
	}
	n = fm->fm_mapped_extents;
	for (int i = 0; i < n; i++) {
		out[i].phys = fm->fm_extents[i].fe_physical;
		out[i].len = fm->fm_extents[i].fe_length;
	}
	free(fm);
	return n;
}

static uint64_t overlap(const struct extent *a, int na, const struct extent *b,
			int nb)
{
	uint64_t total = 0;

	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++) {
			uint64_t lo = a[i].phys > b[j].phys ? a[i].phys : b[j].phys;
			uint64_t ea = a[i].phys + a[i].len, eb = b[j].phys + b[j].len;
			uint64_t hi = ea < eb ? ea : eb;

			if (hi > lo)
				total += hi - lo;
		}
	return total;
}

static void on_alarm(int sig)
{
	static const char msg[] = "no_pin: the fs blocked on the mirror\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static int case_no_pin(void)
{
	const size_t len = 8ul << 20;
	struct extent ea[64], ec[64];
	struct target a, c;
	struct statvfs sv;
	char filler[256];
	uint8_t *buf = malloc(PAGE), *rbuf;
	uint64_t faulted, reused, bytes = 0;
	int dfd, na, nc, ffd, rd;
	long long slack;
	size_t c_len;

	CHECK(buf, "malloc");
	signal(SIGALRM, on_alarm);
	alarm(60);
	sync(); /* earlier cases' frees: allocatable before A is made */

	CHECK_EQ(target_create(&a, "nopin_a", len), 0);
	fill_random(a.map, len);
	dfd = dmr_open();
	CHECK_SYS(dfd);
	CHECK_EQ(dmr_map(dfd, a.map, len, DAXMIRROR_MAP_PREFAULT, &faulted), 0);
	CHECK_EQ(faulted, len / PAGE);
	na = fiemap_extents(a.fd, ea, 64);
	CHECK(na > 0, "fiemap A");

	/* Fill the fs so that new allocations must come from A's blocks. */
	snprintf(filler, sizeof(filler), "%s/nopin_filler", opt.path);
	ffd = open(filler, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK_SYS(ffd);
	unlink(filler); /* its blocks go back when ffd closes, even on failure */
	/* Commit earlier frees first, or they become free only after A's. */
	CHECK_SYS(syncfs(ffd));
	CHECK_SYS(fstatvfs(ffd, &sv));
	slack = (long long)sv.f_bavail * sv.f_bsize - (4ll << 20);
	if (slack > 0)
		CHECK_SYS(fallocate(ffd, 0, 0, slack));
	else
		slack = 0;
	/* statfs may hide reserves (xfs): take what is left, to ENOSPC. */
	for (long long chunk = 1 << 20; chunk >= (long long)PAGE; chunk /= 4)
		while (!fallocate(ffd, 0, slack, chunk))
			slack += chunk;

	/* Hole punch, then truncate, with every page mirrored. */
	CHECK_SYS(fallocate(a.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    0, PMD));
	CHECK_SYS(ftruncate(a.fd, 0));
	CHECK_SYS(unlink(a.path));
	a.path[0] = 0;
	/* Commit the journal: freed blocks are reusable only after it. */
	CHECK_SYS(syncfs(ffd));

	/* C takes the freed blocks; the device must never see C's bytes. */
	/*
	 * As large as A: whatever free space the fs kept hidden from the
	 * filler (xfs reserves some), C must still take A's blocks.
	 */
	c_len = len;
	if (target_create(&c, "nopin_c", c_len) == -ENOSPC) {
		target_destroy(&c);
		c_len = len / 2;
		CHECK_EQ(target_create(&c, "nopin_c", c_len), 0);
	}
	nc = fiemap_extents(c.fd, ec, 64);
	CHECK(nc > 0, "fiemap C");
	reused = overlap(ea, na, ec, nc);
	for (int i = 0; i < na; i++)
		printf("DMR-NOPIN %s A extent %d: %#llx+%#llx\n", opt.label, i,
		       (unsigned long long)ea[i].phys,
		       (unsigned long long)ea[i].len);
	for (int i = 0; i < nc; i++)
		printf("DMR-NOPIN %s C extent %d: %#llx+%#llx\n", opt.label, i,
		       (unsigned long long)ec[i].phys,
		       (unsigned long long)ec[i].len);
	printf("DMR-NOPIN %s filler %lld bytes\n", opt.label, slack);
	fill_random(c.map, c_len);
	rbuf = malloc(len);
	CHECK(rbuf, "malloc");
	rd = dmr_read(dfd, a.map, len, rbuf, 2, &bytes);
	free(rbuf);
	printf("DMR-NOPIN %s punch+truncate ok, reused=%llu of %zu bytes, "
	       "device read of old range=%d (%s) bytes=%llu\n", opt.label,
	       (unsigned long long)reused, len, rd, strerror(-rd),
	       (unsigned long long)bytes);
	CHECK(rd != 0 && bytes == 0, "device read a truncated file");
	CHECK(reused >= PMD, "the fs did not reuse the freed blocks");
	alarm(0);
	close(dfd);
	close(ffd);
	target_destroy(&c);
	target_destroy(&a);
	free(buf);
	return 0;
}

/* ---- race ---- */

/*
 * Stale-read rule.  The CPU thread runs rounds r = 1, 2, ...; before round
 * r every byte of the window holds stamp r, as the byte (r % 255) + 1.
 * Round r does its operation, publishes done = r, waits a random moment,
 * publishes restoring = r, restores a mapping if the operation removed it,
 * and writes stamp r + 1 over the window.  Stamps are single bytes because
 * the device copies with memcpy, which may tear wider words that the CPU
 * is writing at the same moment; a byte is either old or new.
 *
 * A device READ that starts after done = d0 was published, and after which
 * done = d1 and restoring = s1, can only see stamps up to smax =
 * max(d1, s1) + 2, so a byte decodes to the unique stamp in
 * (smax - 255, smax] (reads where smax - d0 >= 255 are not judged).  It may
 * see errors or zero bytes, but a byte with stamp s is stale when
 *   s < d0: stamp s was overwritten by round s before round d0 began; or
 *   s == d0 and round d0 destroyed the data (write, truncate, hole punch,
 *           unlink + reuse): it cannot come back; or
 *   s == d0 and round d0 removed only the mapping (munmap, mprotect
 *           PROT_NONE) and s1 < d0: the whole read ran while no CPU
 *           mapping existed, so the device read a page it had no right to.
 */
#define RACE_LEN (2ul << 20)
#define RACE_WIN (16ul << 10)

struct race {
	struct target t;
	int dfd;
	long rounds;
	enum op_kind *kinds;
	_Atomic long done;
	_Atomic long restoring;
	_Atomic bool stop;
	_Atomic long reads_done;
	/* device thread results */
	long reads, ok, errors, zero_reads, stale, unjudged;
	long errs_by[160];
};

static void write_stamp(uint8_t *win, long stamp)
{
	memset(win, (int)(stamp % 255) + 1, RACE_WIN);
}

static long race_check(struct race *rc, const uint8_t *buf, long d0, long d1,
		       long s1)
{
	long smax = (d1 > s1 ? d1 : s1) + 2, stale = 0;

	if (smax - d0 >= 255) {
		rc->unjudged++;
		return 0;
	}
	for (size_t i = 0; i < RACE_WIN; i++) {
		long s;
		bool bad;

		if (!buf[i])
			continue;
		s = smax - ((smax - (buf[i] - 1)) % 255);
		if (s < d0)
			bad = true;
		else if (s > d0 || d0 == 0)
			bad = false;
		else if (rc->kinds[d0] == OP_MUNMAP ||
			 rc->kinds[d0] == OP_MPROTECT_NONE)
			bad = s1 < d0;
		else
			bad = true;
		if (bad && !stale++)
			fprintf(stderr, "stale byte %zu = stamp %ld after round "
				"%ld (%s, before it %s), done %ld restoring %ld\n",
				i, s, d0, op_names[rc->kinds[d0]],
				d0 > 1 ? op_names[rc->kinds[d0 - 1]] : "-", d1,
				s1);
	}
	return stale;
}

static void *race_device(void *arg)
{
	struct race *rc = arg;
	uint8_t *buf = malloc(RACE_WIN);
	unsigned int lanes = 0;

	while (!atomic_load(&rc->stop)) {
		long d0 = atomic_load(&rc->done), d1, s1;
		int ret = dmr_read(rc->dfd, rc->t.map, RACE_WIN, buf,
				   1 + lanes++ % 2, NULL);
		long stale;

		s1 = atomic_load(&rc->restoring);
		d1 = atomic_load(&rc->done);
		rc->reads++;
		atomic_fetch_add(&rc->reads_done, 1);
		if (ret) {
			rc->errors++;
			if (-ret < 160)
				rc->errs_by[-ret]++;
			continue;
		}
		rc->ok++;
		stale = race_check(rc, buf, d0, d1, s1);
		if (stale)
			rc->stale++;
		if (!buf[0] && !buf[RACE_WIN - 1])
			rc->zero_reads++;
	}
	free(buf);
	return NULL;
}

static int race_reopen(struct race *rc, int round)
{
	void *where = rc->t.map;
	char name[32];

	/* The next file takes the place (and likely the blocks) of the last. */
	snprintf(name, sizeof(name), "race_%d", round & 1);
	CHECK_EQ(target_open_file(&rc->t, name, RACE_LEN), 0);
	CHECK_EQ(target_map_at(&rc->t, where), 0);
	return 0;
}

/*
 * The window between an operation and its repair.  Half the rounds wait
 * until a device read that began inside the window has finished (at most
 * 20 ms), so every kind of operation is raced by the device, however fast
 * the CPU side is; the others wait a random moment.
 */
static void race_window(struct race *rc)
{
	struct timespec t0, t1;
	long start;

	if (rng() % 2) {
		long n = rng() % 20000;

		for (volatile long i = 0; i < n; i++)
			;
		return;
	}
	start = atomic_load(&rc->reads_done);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&rc->reads_done) < start + 2) {
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000000000l +
		    (t1.tv_nsec - t0.tv_nsec) > 20000000l)
			break;
	}
}

static int case_race(void)
{
	static const enum op_kind file_ops[] = { OP_WRITE, OP_TRUNCATE,
		OP_PUNCH, OP_MUNMAP, OP_MPROTECT_NONE, OP_REUSE, OP_CLONE };
	static const enum op_kind dev_ops[] = { OP_WRITE, OP_MUNMAP,
		OP_MPROTECT_NONE };
	const enum op_kind *ops = opt.devdax ? dev_ops : file_ops;
	size_t nops = opt.devdax ? 3 : 6;
	struct race *rc = calloc(1, sizeof(*rc));
	long by_op[OP_COUNT] = { 0 };
	struct daxmirror_stats st;
	struct timespec t0, t1;
	struct target donor = { .fd = -1 };
	pthread_t dev;

	CHECK(rc, "calloc");
	map_sync = opt.race_sync;
	/* With -r on a file system with reflink, clone a zeroed donor over
	 * the file (the fs breaks its DAX layout and shares the donor's
	 * blocks; 6.1's fsdax warns on a block shared by two files). */
	if (!opt.devdax && opt.clone) {
		CHECK_EQ(target_create(&donor, "race_donor", RACE_LEN), 0);
		memset(donor.map, 0, RACE_LEN);
		CHECK_SYS(fsync(donor.fd));
	}
	rc->rounds = opt.count;
	rc->kinds = calloc(rc->rounds + 2, sizeof(*rc->kinds));
	CHECK(rc->kinds, "calloc");
	CHECK_EQ(target_create(&rc->t, "race_1", RACE_LEN), 0);
	write_stamp(rc->t.map, 1);
	if (donor.fd >= 0 && !ioctl(rc->t.fd, FICLONE, donor.fd))
		nops = 7;
	printf("DMR-RACE %s map_sync=%d reflink=%s\n", opt.label, map_sync,
	       nops == 7 ? "yes" : "no");
	write_stamp(rc->t.map, 1);
	rc->dfd = dmr_open();
	CHECK_SYS(rc->dfd);
	CHECK_EQ(dmr_map(rc->dfd, rc->t.map, RACE_LEN, DAXMIRROR_MAP_PREFAULT,
			 NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(pthread_create(&dev, NULL, race_device, rc), 0);

	for (long r = 1; r <= rc->rounds; r++) {
		enum op_kind k = ops[rng() % nops];
		uint8_t *win = rc->t.map;

		rc->kinds[r] = k;
		by_op[k]++;
		/* Every 64 rounds, switch the fault-commit delay on or off. */
		if (r % 64 == 1)
			set_commit_delay(r / 64 % 2 ? 300 : 0);
		switch (k) {
		case OP_WRITE:
			write_stamp(win, r + 1);
			break;
		case OP_TRUNCATE:
			CHECK_SYS(ftruncate(rc->t.fd, 0));
			break;
		case OP_PUNCH:
			CHECK_SYS(fallocate(rc->t.fd, FALLOC_FL_PUNCH_HOLE |
					    FALLOC_FL_KEEP_SIZE, 0,
					    rng() % 2 ? RACE_WIN : RACE_LEN));
			break;
		case OP_MUNMAP:
			CHECK_SYS(munmap(win, RACE_LEN));
			break;
		case OP_MPROTECT_NONE:
			CHECK_SYS(mprotect(win, RACE_LEN, PROT_NONE));
			break;
		case OP_REUSE:
			CHECK_SYS(munmap(win, RACE_LEN));
			close(rc->t.fd);
			CHECK_SYS(unlink(rc->t.path));
			break;
		case OP_CLONE:
			CHECK_SYS(ioctl(rc->t.fd, FICLONE, donor.fd));
			break;
		default:
			CHECK(0, "op %d", k);
		}
		atomic_store(&rc->done, r);
		race_window(rc);
		atomic_store(&rc->restoring, r);
		switch (k) {
		case OP_TRUNCATE:
			CHECK_SYS(ftruncate(rc->t.fd, RACE_LEN));
			break;
		case OP_MUNMAP:
			CHECK_EQ(target_map_at(&rc->t, win), 0);
			break;
		case OP_MPROTECT_NONE:
			CHECK_SYS(mprotect(win, RACE_LEN, PROT_READ | PROT_WRITE));
			break;
		case OP_REUSE:
			if (race_reopen(rc, (int)r))
				return -1;
			break;
		default:
			break;
		}
		if (k != OP_WRITE)
			write_stamp(win, r + 1);
	}
	atomic_store(&rc->stop, true);
	pthread_join(dev, NULL);
	set_commit_delay(0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_EQ(dmr_stats(rc->dfd, &st), 0);

	printf("DMR-RACE %s rounds=%ld reads=%ld ok=%ld errors=%ld "
	       "(EFAULT=%ld EBUSY=%ld) zero_reads=%ld unjudged=%ld stale=%ld "
	       "invalidations=%llu retries=%llu seconds=%.1f ops:",
	       opt.label, rc->rounds, rc->reads, rc->ok, rc->errors,
	       rc->errs_by[EFAULT], rc->errs_by[EBUSY], rc->zero_reads, rc->unjudged,
	       rc->stale, (unsigned long long)st.invalidations,
	       (unsigned long long)st.retries,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	for (int k = 1; k < OP_COUNT; k++)
		if (by_op[k])
			printf(" %s=%ld", op_names[k], by_op[k]);
	printf("\n");
	CHECK_EQ(rc->stale, 0);
	CHECK(rc->ok > 0 && rc->reads >= rc->rounds / 2,
	      "too few device reads: %ld", rc->reads);
	close(rc->dfd);
	target_destroy(&rc->t);
	if (donor.fd >= 0)
		target_destroy(&donor);
	free(rc->kinds);
	free(rc);
	return 0;
}

/* ---- lifecycle: exit, close without UNMAP, fork, passed fd ---- */

/*
 * The module-wide live counters are 0.  A killed caller's job is freed by
 * its last lane, shortly after the process is reaped: wait up to 2 s.
 */
static int counters_zero(const char *when)
{
	long files, ranges, pt;

	for (int i = 0;; i++) {
		files = sysfs_counter("live_files");
		ranges = sysfs_counter("live_ranges");
		pt = sysfs_counter("live_pt_bytes");
		if ((files == 0 && ranges == 0 && pt == 0) || i == 200)
			break;
		usleep(10000);
	}
	printf("DMR-LIVE %s files=%ld ranges=%ld pt_bytes=%ld\n", when, files,
	       ranges, pt);
	CHECK(files == 0 && ranges == 0 && pt == 0, "leak %s", when);
	return 0;
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 'x';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* In a child: open, mirror a mapping, optionally pass the fd, exit. */
static void child_mirror_and_exit(int sock)
{
	struct target t;
	int dfd = dmr_open();

	if (dfd < 0 || target_create(&t, "life_child", 4ul << 20) ||
	    dmr_map(dfd, t.map, t.len, DAXMIRROR_MAP_PREFAULT, NULL))
		_exit(1);
	if (sock >= 0 && send_fd(sock, dfd))
		_exit(1);
	_exit(0); /* no UNMAP, no close, no munmap: exit does it all */
}

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int case_lifecycle(void)
{
	struct daxmirror_stats st;
	struct target t;
	uint8_t *buf = malloc(PAGE);
	int dfd, sv[2], pfd;
	pid_t pid;

	CHECK(buf, "malloc");
	if (counters_zero("start"))
		return -1;

	/* 1. A process exits with a live mirror. */
	pid = fork();
	CHECK_SYS(pid);
	if (!pid)
		child_mirror_and_exit(-1);
	CHECK_EQ(wait_child(pid), 0);
	if (counters_zero("after exit with live mirror"))
		return -1;

	/* 2. Close without UNMAP. */
	CHECK_EQ(target_create(&t, "life", 4ul << 20), 0);
	memset(t.map, 0x5a, t.len);
	dfd = dmr_open();
	CHECK_SYS(dfd);
	CHECK_EQ(dmr_map(dfd, t.map, t.len, DAXMIRROR_MAP_PREFAULT, NULL), 0);
	close(dfd);
	if (counters_zero("after close without UNMAP"))
		return -1;

	/* 3. Fork: the child's mm is not the mirror's; parent closes first. */
	dfd = dmr_open();
	CHECK_SYS(dfd);
	CHECK_EQ(dmr_map(dfd, t.map, t.len, DAXMIRROR_MAP_PREFAULT, NULL), 0);
	CHECK(pipe(sv) == 0, "pipe");
	pid = fork();
	CHECK_SYS(pid);
	if (!pid) {
		char c;

		close(sv[1]);
		if (dmr_stats(dfd, &st) != -EPERM ||
		    dmr_read(dfd, t.map, PAGE, buf, 1, NULL) != -EPERM ||
		    dmr_map(dfd, t.map, PAGE, 0, NULL) != -EPERM)
			_exit(2);
		/* Hold the file until the parent has closed its copy. */
		(void)!read(sv[0], &c, 1);
		_exit(0);
	}
	close(sv[0]);
	CHECK_EQ(dmr_read(dfd, t.map, PAGE, buf, 1, NULL), 0);
	CHECK_EQ(buf[0], 0x5a);
	close(dfd);
	close(sv[1]);
	CHECK_EQ(wait_child(pid), 0);
	if (counters_zero("after fork"))
		return -1;

	/* 4. A passed fd, whose opener has exited. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	pid = fork();
	CHECK_SYS(pid);
	if (!pid)
		child_mirror_and_exit(sv[1]);
	pfd = recv_fd(sv[0]);
	CHECK(pfd >= 0, "recv_fd");
	CHECK_EQ(wait_child(pid), 0);
	CHECK_EQ(dmr_stats(pfd, &st), -EPERM);
	CHECK_EQ(dmr_read(pfd, t.map, PAGE, buf, 1, NULL), -EPERM);
	CHECK_EQ(sysfs_counter("live_files"), 1);
	close(pfd);
	close(sv[0]);
	close(sv[1]);
	if (counters_zero("after passed fd"))
		return -1;

	/*
	 * 5. A fatal signal in the middle of a device job: with every fault
	 * slowed to 50 ms, a cold 16 MiB READ on one lane takes ~400 ms;
	 * SIGKILL after 100 ms must end it within a fault's time, and the
	 * exit must free everything.
	 */
	set_commit_delay(50000);
	CHECK(pipe(sv) == 0, "pipe");
	pid = fork();
	CHECK_SYS(pid);
	if (!pid) {
		struct target big;
		uint8_t *out = malloc(16ul << 20);
		int cfd = dmr_open();

		if (!out || cfd < 0 || target_create(&big, "life_kill", 16ul << 20) ||
		    dmr_map(cfd, big.map, big.len, 0, NULL))
			_exit(1);
		memset(big.map, 7, big.len);
		if (write(sv[1], "r", 1) != 1)
			_exit(1);
		dmr_read(cfd, big.map, big.len, out, 1, NULL);
		_exit(3); /* should not get here: killed first */
	}
	{
		struct timespec t0, t1;
		int status;
		double secs;

		char c;

		close(sv[1]);
		CHECK_EQ(read(sv[0], &c, 1), 1); /* the child is about to READ */
		close(sv[0]);
		usleep(100000);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		kill(pid, SIGKILL);
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		set_commit_delay(0);
		secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		printf("DMR-KILL READ killed after 100 ms: %s, reaped in %.3f s\n",
		       WIFSIGNALED(status) ? "by SIGKILL" : "exited first", secs);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "status %#x", status);
		CHECK(secs < 1.0, "the job ignored the fatal signal: %.3f s", secs);
	}
	unlink("/mnt/ext4/life_kill");
	if (counters_zero("after SIGKILL during a device job"))
		return -1;

	target_destroy(&t);
	unlink("/mnt/ext4/life_child");
	free(buf);
	return 0;
}

/* ---- fuzz: random ioctl arguments ---- */

static uint64_t fuzz_addr(uint8_t *mapped, uint8_t *hole)
{
	switch (rng() % 10) {
	case 0: return 0;
	case 1: return rng();
	case 2: return rng() | 1;
	case 3: return 0xffff888000000000ull + (rng() % 4096) * PAGE;
	case 4: return ~0ull - (rng() % 8) * PAGE;
	case 5: return 0x00007ffffffff000ull - (rng() % 4) * PAGE;
	case 6: return (uintptr_t)hole + (rng() % 16) * PAGE;
	case 7: return (uintptr_t)hole + rng() % 65536;
	default: return (uintptr_t)mapped + (rng() % 512) * PAGE;
	}
}

static uint64_t fuzz_len(void)
{
	switch (rng() % 9) {
	case 0: return 0;
	case 1: return 1 + rng() % PAGE;
	case 2: return PAGE;
	case 3: return (1 + rng() % 512) * PAGE;
	case 4: return rng();
	case 5: return ~0ull - rng() % 4096;
	case 6: return (DAXMIRROR_MAX_RANGE_LEN + PAGE);
	case 7: return 1ull << (rng() % 64);
	default: return (1 + rng() % 16) * PAGE;
	}
}

/*
 * What the size rule (uapi header) makes of a size field: -E2BIG, -EINVAL,
 * or 0 when the call goes on.  arg is the whole buffer the size may cover.
 */
static int size_verdict(uint64_t size, size_t ver0, size_t ksize,
			const uint64_t *arg)
{
	if (size > DAXMIRROR_MAX_ARG_SIZE)
		return -E2BIG;
	if (size < ver0 || size % 8)
		return -EINVAL;
	for (size_t i = ksize / 8; i < size / 8; i++)
		if (arg[i])
			return -E2BIG;
	return 0;
}

static int case_fuzz(void)
{
	static const unsigned long cmds[] = { DAXMIRROR_IOC_MAP,
		DAXMIRROR_IOC_UNMAP, DAXMIRROR_IOC_READ,
		DAXMIRROR_IOC_SNAPSHOT, DAXMIRROR_IOC_STATS,
		DAXMIRROR_IOC_VERSION, DAXMIRROR_IOC_QUERY };
	static const size_t sizes[] = { sizeof(struct daxmirror_map),
		sizeof(struct daxmirror_unmap), sizeof(struct daxmirror_read),
		sizeof(struct daxmirror_snapshot),
		sizeof(struct daxmirror_stats),
		sizeof(struct daxmirror_version),
		sizeof(struct daxmirror_query) };
	static const size_t ver0[] = { DAXMIRROR_MAP_SIZE_VER0,
		DAXMIRROR_UNMAP_SIZE_VER0, DAXMIRROR_READ_SIZE_VER0,
		DAXMIRROR_SNAPSHOT_SIZE_VER0, DAXMIRROR_STATS_SIZE_VER0,
		DAXMIRROR_VERSION_SIZE_VER0, DAXMIRROR_QUERY_SIZE_VER0 };
	long calls = 0, errors = 0, successes = 0, bad_size = 0, bad_cmd = 0;
	long odd_size_ok = 0, size_bits = 0;
	long err_by[160] = { 0 };
	struct target t;
	uint8_t *scratch, *hole;
	/* Room for any size the module reads (DAXMIRROR_MAX_ARG_SIZE). */
	static uint64_t arg[DAXMIRROR_MAX_ARG_SIZE / 8 + 8];
	uint64_t map_addr, map_len;
	struct daxmirror_query_unit *qunits;
	int dfd;

	printf("DMR-FUZZ seed=%#llx\n", (unsigned long long)rng_state);
	CHECK_EQ(target_create(&t, "fuzz", 2ul << 20), 0);
	memset(t.map, 1, t.len);
	/* Scratch for READ/SNAPSHOT output, a PROT_NONE guard after it. */
	scratch = mmap(NULL, 80ul << 20, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(scratch != MAP_FAILED, "mmap");
	CHECK_SYS(mprotect(scratch, 1ul << 20, PROT_READ | PROT_WRITE));
	hole = scratch + (40ul << 20);
	qunits = (void *)(scratch + (512ul << 10));
	dfd = dmr_open();
	CHECK_SYS(dfd);

	for (long i = 0; i < opt.count; i++) {
		unsigned int which = rng() % 7;
		unsigned long cmd = cmds[which];
		bool size_ok = rng() % 3 != 0, cmd_ok = rng() % 8 != 0;
		int ret, verdict;

		for (size_t j = 0; j < sizeof(arg) / 8; j++)
			arg[j] = rng() % 4 ? 0 : rng();
		arg[0] = size_ok ? sizes[which] :
			 (uint64_t[]){ 0, ver0[which] - 8, sizes[which] + 8,
				       rng(), 1, DAXMIRROR_MAX_ARG_SIZE + 8,
				       sizes[which] + 4,
				       sizes[which] + 64 }[rng() % 8];
		arg[1] = fuzz_addr(t.map, hole);
		arg[2] = fuzz_len();
		switch (which) {
		case 0: /* MAP: flags, faulted */
			arg[3] = rng() % 3 ? rng() % 2 : rng();
			arg[4] = rng() % 4 ? 0 : rng();
			break;
		case 2: /* READ: ptr, lanes, bytes, faults */
			arg[2] = rng() % 2 ? arg[2] : 1 + rng() % (1ul << 20);
			arg[3] = (uint64_t[]){ 0, (uintptr_t)scratch,
				(uintptr_t)scratch + rng() % (1ul << 20),
				(uintptr_t)hole, 0xffff888000000000ull,
				rng() }[rng() % 6];
			arg[4] = rng() % 4 ? rng() % 9 : rng();
			arg[5] = rng() % 8 ? 0 : rng();
			arg[6] = rng() % 8 ? 0 : rng();
			break;
		case 3: /* SNAPSHOT: npages, ptr, valid */
			arg[2] = rng() % 2 ? 1 + rng() % 600 : rng();
			arg[3] = (uint64_t[]){ 0, (uintptr_t)scratch,
				(uintptr_t)hole, 0xffff888000000000ull,
				rng() }[rng() % 5];
			arg[4] = rng() % 8 ? 0 : rng();
			break;
		case 6: /* QUERY: flags, units, keys, lanes, rows */
			arg[1] = rng() % 4 ? rng() % 2 : rng();
			arg[2] = rng() % 4 ? (uintptr_t)qunits :
				 fuzz_addr(t.map, hole);
			arg[3] = rng() % 4 ? 1 + rng() % 4 : rng();
			for (int j = 0; j < 4; j++) {
				qunits[j].addr = fuzz_addr(t.map, hole) &
						 ~(rng() % 2 ? 7ull : 0);
				qunits[j].len = rng() % 2 ? 8 * (1 + rng() % 512) :
						fuzz_len();
			}
			arg[7] = rng() % 4 ? rng() % 9 : rng();
			arg[8] = (uint64_t[]){ 0, (uintptr_t)scratch,
				(uintptr_t)hole, 0xffff888000000000ull }[rng() % 4];
			arg[9] = rng() % 2 ? 1 + rng() % (1ul << 20) : rng();
			break;
		default:
			break;
		}
		if (!cmd_ok) {
			/* Wrong number, wrong direction, wrong magic. */
			switch (rng() % 3) {
			case 0: cmd = _IOWR(DAXMIRROR_IOC_MAGIC, 8 + rng() % 248,
					    struct daxmirror_map); break;
			case 1: {
				unsigned int dir = _IOC_DIR(cmd);

				while (dir == _IOC_DIR(cmd))
					dir = rng() % 4;
				cmd = _IOC(dir, DAXMIRROR_IOC_MAGIC, 1 + which,
					   _IOC_SIZE(cmd));
				break;
			}
			default: cmd = _IOWR(rng() % 255, 1 + which,
					     struct daxmirror_map);
				if (_IOC_TYPE(cmd) == DAXMIRROR_IOC_MAGIC)
					cmd = _IOWR(0x11, 1 + which,
						    struct daxmirror_map);
			}
		} else if (rng() % 8 == 0) {
			/* Other size bits: the same command (size field rules). */
			cmd = _IOC(_IOC_DIR(cmd), DAXMIRROR_IOC_MAGIC, 1 + which,
				   rng() % (1u << _IOC_SIZEBITS));
			size_bits++;
		}
		map_addr = arg[1];
		map_len = arg[2];
		verdict = size_verdict(arg[0], ver0[which], sizes[which], arg);
		ret = dmr_ioctl(dfd, cmd, arg);
		calls++;
		if (!cmd_ok) {
			bad_cmd++;
			CHECK_EQ(ret, -ENOTTY);
		} else if (verdict) {
			bad_size++;
			CHECK(ret == verdict, "size %llu of cmd %u: got %d, "
			      "want %d", (unsigned long long)arg[0], which, ret,
			      verdict);
		} else if (!size_ok) {
			odd_size_ok++;	/* an older or newer caller's size */
		}
		CHECK(ret != -EIO, "an ioctl met poison: cmd %u", which);
		if (ret) {
			errors++;
			if (-ret < 160)
				err_by[-ret]++;
		} else {
			successes++;
			/* A range that got in: take it out again, often. */
			if (which == 0 && rng() % 2)
				CHECK_EQ(dmr_unmap(dfd, (void *)(uintptr_t)map_addr,
						   map_len), 0);
		}
	}
	printf("DMR-FUZZ %s calls=%ld errors=%ld successes=%ld bad_cmd=%ld "
	       "bad_size=%ld other_size_ok=%ld size_bits=%ld EINVAL=%ld "
	       "E2BIG=%ld EFAULT=%ld ENOTTY=%ld ENXIO=%ld ENOENT=%ld "
	       "EEXIST=%ld ENOSPC=%ld EOPNOTSUPP=%ld\n", opt.label, calls,
	       errors, successes, bad_cmd, bad_size, odd_size_ok, size_bits,
	       err_by[EINVAL], err_by[E2BIG], err_by[EFAULT], err_by[ENOTTY],
	       err_by[ENXIO], err_by[ENOENT], err_by[EEXIST], err_by[ENOSPC],
	       err_by[EOPNOTSUPP]);
	close(dfd);
	target_destroy(&t);
	munmap(scratch, 80ul << 20);
	return counters_zero("after fuzz");
}

#define DMR_TEST_MAX_LANES 8

/* ---- query: VERSION, QUERY against the same evaluator in user space ---- */

static int dmr_query(int fd, struct daxmirror_query *q)
{
	return dmr_ioctl(fd, DAXMIRROR_IOC_QUERY, q);
}

/* Synthetic records, back to back from the start of a region. */
struct recset {
	uint8_t *base;
	size_t bytes;			/* used */
	size_t n;
	uint64_t *off;			/* record offsets */
	/* units: [ustart[i], uend[i]) */
	size_t nunits;
	uint64_t *ustart, *uend;
};

static const uint8_t key_alpha[] = "abcd";

/* Append a record of the given lengths; false when it does not fit. */
static bool rec_append(struct recset *rs, size_t cap, uint32_t klen,
		       uint32_t vlen, bool put)
{
	uint64_t size = dk_rec_size(klen, vlen);
	struct dk_rec hdr = { 0 };
	uint8_t *p = rs->base + rs->bytes;

	if (rs->bytes + size > cap)
		return false;
	hdr.klen = (uint16_t)klen;
	hdr.flags = put ? DK_REC_PUT : DK_REC_DEL;
	hdr.vlen = put ? vlen : 0;
	hdr.batch = 1;
	hdr.seq = 1 + rng() % 100;
	hdr.superseded = rng() % 2 ? 0 : hdr.seq + 1 + rng() % 100;
	size = dk_rec_size(klen, hdr.vlen);
	memcpy(p, &hdr, sizeof(hdr));
	for (uint32_t i = 0; i < klen; i++)
		p[DK_REC_HDR_SIZE + i] = key_alpha[rng() % 4];
	for (uint32_t i = 0; i < hdr.vlen; i++)
		p[DK_REC_HDR_SIZE + klen + i] =
			rng() % 4 ? (uint8_t)rng() : (uint8_t)(rng() % 4);
	memset(p + DK_REC_HDR_SIZE + klen + hdr.vlen, 0,
	       size - DK_REC_HDR_SIZE - klen - hdr.vlen);
	rs->off[rs->n++] = rs->bytes;
	rs->bytes += size;
	return true;
}

/* Fill cap bytes at base: mostly small records, some that cross pages,
 * a few large (up to DKD_MAX_VALUE), then cut them into units. */
static int recset_build(struct recset *rs, uint8_t *base, size_t cap)
{
	memset(rs, 0, sizeof(*rs));
	rs->base = base;
	rs->off = malloc(cap / DK_REC_HDR_SIZE * sizeof(*rs->off));
	rs->ustart = malloc(cap / DK_REC_HDR_SIZE * sizeof(uint64_t));
	rs->uend = malloc(cap / DK_REC_HDR_SIZE * sizeof(uint64_t));
	CHECK(rs->off && rs->ustart && rs->uend, "malloc");
	CHECK(rec_append(rs, cap, DKD_MAX_KEY, DKD_MAX_VALUE, true), "big");
	for (;;) {
		uint32_t klen = rng() % 64 ? 1 + rng() % 12 : 1 + rng() % 1024;
		uint32_t vlen, r = rng() % 100;

		vlen = r < 90 ? rng() % 200 : r < 99 ? rng() % 20000 :
		       rng() % 300000;
		if (!rec_append(rs, cap, klen, vlen, rng() % 8 != 0))
			break;
	}
	/* Units of 1..50 records. */
	for (size_t i = 0; i < rs->n;) {
		size_t k = 1 + rng() % 50;

		if (i + k > rs->n)
			k = rs->n - i;
		rs->ustart[rs->nunits] = rs->off[i];
		rs->uend[rs->nunits] = i + k < rs->n ? rs->off[i + k] :
			rs->bytes;
		rs->nunits++;
		i += k;
	}
	return 0;
}

static void recset_free(struct recset *rs)
{
	free(rs->off);
	free(rs->ustart);
	free(rs->uend);
}

struct qkeys {
	uint8_t lo[8], hi[8], prefix[8];
};

static void rand_key(uint8_t *k, __u64 *len)
{
	*len = 1 + rng() % 3;
	for (uint64_t i = 0; i < *len; i++)
		k[i] = key_alpha[rng() % 4];
}

static void rand_field(struct dkd_pred *p, bool bytes_ok)
{
	static const uint64_t widths[] = { 1, 2, 4, 8 };

	p->type = bytes_ok && rng() % 4 == 0 ? DKD_T_BYTES :
		  rng() % 2 ? DKD_T_UINT : DKD_T_INT;
	p->width = p->type == DKD_T_BYTES ? 1 + rng() % 3 : widths[rng() % 4];
	p->offset = rng() % 16 ? rng() % 40 :
		    DKD_FIELD_LIMIT - p->width - rng() % 30000;
}

/* A random valid filter; keys in k. */
static void rand_filter(struct dkd_filter *f, struct qkeys *k)
{
	memset(f, 0, sizeof(*f));
	f->snap = rng() % 220;
	if (rng() % 4 == 0)
		rand_key(k->lo, &f->lo_len);
	if (rng() % 4 == 0)
		rand_key(k->hi, &f->hi_len);
	if (f->lo_len && f->hi_len &&
	    dkd_keycmp(k->lo, f->lo_len, k->hi, f->hi_len) >= 0)
		f->hi_len = 0;
	if (rng() % 4 == 0)
		rand_key(k->prefix, &f->prefix_len);
	f->npreds = rng() % 3 ? rng() % 3 : rng() % (DKD_MAX_PREDS + 1);
	for (uint64_t i = 0; i < f->npreds; i++) {
		struct dkd_pred *p = &f->preds[i];

		rand_field(p, true);
		p->op = DKD_OP_EQ + rng() % 6;
		if (p->type == DKD_T_BYTES) {
			for (uint64_t j = 0; j < p->width; j++)
				((uint8_t *)p->operand)[j] = (uint8_t)(rng() % 4);
		} else {
			p->operand[0] = rng() % 2 ? rng() % 4 : rng();
			if (p->type == DKD_T_INT && p->width < 8)
				p->operand[0] = (uint64_t)dkd_load_le_signed(
					(const uint8_t *)&p->operand[0],
					p->width);
		}
		if (p->offset + p->width > f->min_vlen)
			f->min_vlen = p->offset + p->width;
	}
	if (rng() % 2) {
		struct dkd_pred a = { 0 };

		rand_field(&a, false);
		f->agg_type = a.type;
		f->agg_width = a.width;
		f->agg_offset = a.offset;
		if (a.offset + a.width > f->min_vlen)
			f->min_vlen = a.offset + a.width;
	}
	if (rng() % 8 == 0)
		f->min_vlen += rng() % 100;
}

/* The answer of units [first, last) in user space, rows appended. */
static void expect_units(const struct recset *rs, const struct dkd_filter *f,
			 const struct dkd_keys *keys, size_t first,
			 size_t last, struct dkd_acc *acc, uint8_t *rows,
			 uint64_t *rows_bytes, uint64_t *nrows,
			 uint64_t *records)
{
	for (size_t u = first; u < last; u++) {
		for (uint64_t off = rs->ustart[u]; off < rs->uend[u];) {
			const struct dk_rec *rec =
				(const struct dk_rec *)(rs->base + off);
			uint64_t size = dk_rec_size(rec->klen, rec->vlen);

			if (dkd_rec_match(f, keys, rec)) {
				dkd_acc_add(f, acc, dk_rec_val(rec));
				if (rows)
					memcpy(rows + *rows_bytes, rec, size);
				*rows_bytes += size;
				(*nrows)++;
			}
			(*records)++;
			off += size;
		}
	}
}

static void query_init(struct daxmirror_query *q,
		       const struct daxmirror_query_unit *units, size_t n,
		       const struct dkd_filter *f, const struct qkeys *k)
{
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	q->units_ptr = (uintptr_t)units;
	q->nunits = n;
	q->filter = *f;
	q->lo_ptr = f->lo_len ? (uintptr_t)k->lo : 0;
	q->hi_ptr = f->hi_len ? (uintptr_t)k->hi : 0;
	q->prefix_ptr = f->prefix_len ? (uintptr_t)k->prefix : 0;
}

static void query_clear_out(struct daxmirror_query *q)
{
	q->done = q->rows = q->rows_bytes = q->count = q->sum = q->min =
		q->max = q->records = q->bytes = q->faults = 0;
}

/* Random filters: aggregates and ROWS (resumed with small buffers) equal
 * the user-space evaluation. */
static int query_differential(int dfd, const struct recset *rs,
			      struct daxmirror_query_unit *units, long count)
{
	uint64_t max_ulen = 0, total_records = 0;
	uint8_t *want = malloc(rs->bytes);
	uint8_t *got = malloc(rs->bytes + rs->bytes + (5ul << 20));
	uint64_t *row_at = malloc((rs->nunits + 1) * sizeof(uint64_t));
	uint64_t *nrow_at = malloc((rs->nunits + 1) * sizeof(uint64_t));
	long resumes = 0, matched = 0, limited = 0;

	CHECK(want && got && row_at && nrow_at, "malloc");
	for (size_t u = 0; u < rs->nunits; u++)
		if (units[u].len > max_ulen)
			max_ulen = units[u].len;
	total_records = rs->n;
	for (long i = 0; i < count; i++) {
		struct daxmirror_query q;
		struct dkd_filter f;
		struct qkeys k;
		struct dkd_keys keys = { k.lo, k.hi, k.prefix };
		struct dkd_acc acc;
		uint64_t rows_bytes = 0, nrows = 0, records = 0, got_bytes = 0;

		rand_filter(&f, &k);
		/* Expected, unit by unit, so any resume point can be judged. */
		dkd_acc_init(&acc);
		for (size_t u = 0; u < rs->nunits; u++) {
			row_at[u] = rows_bytes;
			nrow_at[u] = nrows;
			expect_units(rs, &f, &keys, u, u + 1, &acc, want,
				     &rows_bytes, &nrows, &records);
		}
		row_at[rs->nunits] = rows_bytes;
		nrow_at[rs->nunits] = nrows;
		CHECK_EQ(records, total_records);
		matched += nrows;

		query_init(&q, units, rs->nunits, &f, &k);
		q.lanes = rng() % (DMR_TEST_MAX_LANES + 1);
		CHECK_EQ(dmr_query(dfd, &q), 0);
		CHECK_EQ(q.done, 1);
		CHECK_EQ(q.resume_unit, rs->nunits);
		CHECK_EQ(q.count, acc.count);
		CHECK_EQ(q.sum, acc.sum);
		CHECK_EQ(q.min, acc.min);
		CHECK_EQ(q.max, acc.max);
		CHECK_EQ(q.records, total_records);
		CHECK_EQ(q.bytes, rs->bytes);
		CHECK_EQ(q.rows, 0);

		/* ROWS: buffer from the largest unit up, resumed. */
		query_init(&q, units, rs->nunits, &f, &k);
		q.flags = DAXMIRROR_QUERY_ROWS;
		q.lanes = rng() % (DMR_TEST_MAX_LANES + 1);
		q.rows_cap = max_ulen + (rng() % 2 ? rng() % 65536 : rng() % (4ul << 20));
		q.rows_cap &= ~7ull;
		if (q.rows_cap < max_ulen)
			q.rows_cap = max_ulen;
		q.rows_limit = rng() % 3 == 0 ? 1 + rng() % 20 : 0;
		limited += q.rows_limit != 0;
		for (;;) {
			uint64_t first = q.resume_unit;

			query_clear_out(&q);
			q.rows_ptr = (uintptr_t)(got + got_bytes);
			CHECK_EQ(dmr_query(dfd, &q), 0);
			CHECK(q.resume_unit > first, "no progress at %llu",
			      (unsigned long long)first);
			/* Exactly the rows of units [first, resume). */
			CHECK_EQ(q.rows, nrow_at[q.resume_unit] - nrow_at[first]);
			CHECK_EQ(q.rows_bytes, row_at[q.resume_unit] - row_at[first]);
			CHECK(!memcmp(got + got_bytes, want + row_at[first],
				      q.rows_bytes),
			      "rows of units %llu..%llu differ",
			      (unsigned long long)first,
			      (unsigned long long)q.resume_unit);
			CHECK_EQ(q.count, q.rows);
			got_bytes += q.rows_bytes;
			resumes++;
			if (q.done)
				break;
			CHECK(q.resume_unit < rs->nunits, "resume past end");
		}
	}
	printf("DMR-QUERY %s differential queries=%ld units=%zu records=%zu "
	       "bytes=%zu matched=%ld rows_calls=%ld with_limit=%ld\n",
	       opt.label, count, rs->nunits, rs->n, rs->bytes, matched,
	       resumes, limited);
	free(want);
	free(got);
	free(row_at);
	free(nrow_at);
	return 0;
}

/* A QUERY that must fail with want; mutate changes a valid one. */
/* bq has room after it: sizes above the struct read bq_tail. */
#define QUERY_BAD(want, what, ...)                                          \
	do {                                                                \
		struct {                                                    \
			struct daxmirror_query q;                           \
			uint64_t tail[2];                                   \
		} bq_ = { .q = *base };                                     \
		struct daxmirror_query bq;                                  \
		int ret_;                                                   \
		bq = bq_.q;                                                 \
		__VA_ARGS__;                                                \
		bq_.q = bq;                                                 \
		ret_ = dmr_query(dfd, &bq_.q);                              \
		CHECK(ret_ == (want), "%s: got %d (%s), want %d", what,     \
		      ret_, strerror(-ret_), want);                         \
		nbad++;                                                     \
	} while (0)

static int query_bad(int dfd, const struct daxmirror_query *base,
		     uint8_t *scratch, uint8_t *unmapped, uint8_t *map2,
		     size_t map_len)
{
	struct daxmirror_query_unit u1[1];
	const struct daxmirror_query_unit *units =
		(const void *)(uintptr_t)base->units_ptr;
	static const uint8_t hi_key[] = "a", lo_key[] = "b";
	int nbad = 0;
	struct dk_rec *rec = (struct dk_rec *)scratch;

	{
		struct daxmirror_query ok = *base; /* base keeps out = 0 */

		CHECK_EQ(dmr_query(dfd, &ok), 0);
		CHECK(ok.records > 0, "the valid query walked nothing");
	}
	/* The size rule (uapi header). */
	QUERY_BAD(-EINVAL, "size below API 2's", bq.size =
		  DAXMIRROR_QUERY_SIZE_VER0 - 8);
	QUERY_BAD(-EINVAL, "size not a multiple of 8", bq.size += 4);
	QUERY_BAD(-E2BIG, "size above the limit",
		  bq.size = DAXMIRROR_MAX_ARG_SIZE + 8);
	QUERY_BAD(-E2BIG, "unknown field set",
		  bq.size += 8; bq_.tail[0] = 1);
	QUERY_BAD(0, "unknown field 0 (a newer caller)", bq.size += 16);
	{
		/* An API 2 caller: the module must not write err_addr. */
		struct daxmirror_query old = *base;

		old.size = DAXMIRROR_QUERY_SIZE_VER0;
		old.err_addr = 0x5a5a;
		CHECK_EQ(dmr_query(dfd, &old), 0);
		CHECK_EQ(old.err_addr, 0x5a5a);
		CHECK(old.records > 0, "API 2 sized query walked nothing");
		nbad++;
	}
	QUERY_BAD(-EINVAL, "err_addr set", bq.err_addr = 1);
	QUERY_BAD(-EINVAL, "unknown flag", bq.flags = 2);
	QUERY_BAD(-EINVAL, "0 units", bq.nunits = 0);
	QUERY_BAD(-EINVAL, "too many units",
		  bq.nunits = DAXMIRROR_MAX_QUERY_UNITS + 1);
	QUERY_BAD(-EINVAL, "9 lanes", bq.lanes = 9);
	QUERY_BAD(-EINVAL, "out field set", bq.count = 1);
	QUERY_BAD(-EINVAL, "done set", bq.done = 1);
	QUERY_BAD(-EINVAL, "rows_cap without ROWS", bq.rows_cap = 4096);
	QUERY_BAD(-EINVAL, "resume without ROWS", bq.resume_unit = 1);
	QUERY_BAD(-EFAULT, "units_ptr NULL", bq.units_ptr = 0);
	QUERY_BAD(-EFAULT, "units_ptr kernel",
		  bq.units_ptr = 0xffff888000000000ull);
	/* Units. */
#define UNIT_BAD(what, a, l)                                                \
	QUERY_BAD(-EINVAL, what, u1[0].addr = (a); u1[0].len = (l);         \
		  bq.units_ptr = (uintptr_t)u1; bq.nunits = 1)
	UNIT_BAD("unit unaligned", units[0].addr + 4, units[0].len);
	UNIT_BAD("unit empty", units[0].addr, 0);
	UNIT_BAD("unit len % 8", units[0].addr, units[0].len - 4);
	UNIT_BAD("unit not mapped", (uintptr_t)unmapped, 4096);
	UNIT_BAD("unit past its range", units[0].addr, map_len + 8);
	UNIT_BAD("unit over two ranges", (uintptr_t)map2 - 4096, 8192);
	UNIT_BAD("unit overflows", ~0ull - 7, 16);
	{
		/* Overlapping units: in order, and out of order. */
		struct daxmirror_query_unit u2[3] = {
			{ units[0].addr, units[0].len },
			{ units[0].addr + 8, 8 },
		};

		QUERY_BAD(-EINVAL, "units overlap", bq.units_ptr =
			  (uintptr_t)u2; bq.nunits = 2);
		u2[1] = u2[0];
		u2[0] = units[1];
		u2[2] = units[1];
		QUERY_BAD(-EINVAL, "units overlap, out of order",
			  bq.units_ptr = (uintptr_t)u2; bq.nunits = 3);
		u2[2] = units[2];
		QUERY_BAD(0, "units out of order, disjoint",
			  bq.units_ptr = (uintptr_t)u2; bq.nunits = 3);
	}
	/* Filter fields. */
	QUERY_BAD(-EINVAL, "9 predicates", bq.filter.npreds = 9);
	QUERY_BAD(-EINVAL, "type 0", bq.filter.npreds = 1;
		  bq.filter.preds[0].type = 0; bq.filter.preds[0].op = 1;
		  bq.filter.preds[0].width = 4);
	QUERY_BAD(-EINVAL, "type 4", bq.filter.npreds = 1;
		  bq.filter.preds[0].type = 4; bq.filter.preds[0].op = 1;
		  bq.filter.preds[0].width = 4);
	QUERY_BAD(-EINVAL, "op 0", bq.filter.npreds = 1;
		  bq.filter.preds[0].type = DKD_T_UINT;
		  bq.filter.preds[0].op = 0; bq.filter.preds[0].width = 4;
		  bq.filter.min_vlen = 4);
	QUERY_BAD(-EINVAL, "op 7", bq.filter.npreds = 1;
		  bq.filter.preds[0].type = DKD_T_UINT;
		  bq.filter.preds[0].op = 7; bq.filter.preds[0].width = 4;
		  bq.filter.min_vlen = 4);
	QUERY_BAD(-EINVAL, "int width 3", bq.filter.npreds = 1;
		  bq.filter.preds[0].type = DKD_T_INT;
		  bq.filter.preds[0].op = 1; bq.filter.preds[0].width = 3;
		  bq.filter.min_vlen = 3);
	QUERY_BAD(-EINVAL, "bytes width 0", bq.filter.npreds = 1;
		  bq.filter.preds[0].type = DKD_T_BYTES;
		  bq.filter.preds[0].op = 1; bq.filter.preds[0].width = 0);
	QUERY_BAD(-EINVAL, "bytes width 65", bq.filter.npreds = 1;
		  bq.filter.preds[0].type = DKD_T_BYTES;
		  bq.filter.preds[0].op = 1; bq.filter.preds[0].width = 65;
		  bq.filter.min_vlen = 65);
	QUERY_BAD(-EINVAL, "field beyond 64 KiB", bq.filter.npreds = 1;
		  bq.filter.preds[0].type = DKD_T_UINT;
		  bq.filter.preds[0].op = 1; bq.filter.preds[0].width = 8;
		  bq.filter.preds[0].offset = DKD_FIELD_LIMIT - 7;
		  bq.filter.min_vlen = DKD_FIELD_LIMIT + 1);
	QUERY_BAD(-EINVAL, "field offset wraps", bq.filter.npreds = 1;
		  bq.filter.preds[0].type = DKD_T_UINT;
		  bq.filter.preds[0].op = 1; bq.filter.preds[0].width = 8;
		  bq.filter.preds[0].offset = ~0ull - 3);
	QUERY_BAD(-EINVAL, "min_vlen short of a predicate",
		  bq.filter.npreds = 1; bq.filter.preds[0].type = DKD_T_UINT;
		  bq.filter.preds[0].op = 1; bq.filter.preds[0].width = 8;
		  bq.filter.preds[0].offset = 100; bq.filter.min_vlen = 107);
	QUERY_BAD(-EINVAL, "min_vlen short of the aggregate",
		  bq.filter.agg_type = DKD_T_INT; bq.filter.agg_width = 8;
		  bq.filter.agg_offset = 60000; bq.filter.min_vlen = 60007);
	QUERY_BAD(-EINVAL, "aggregate of bytes",
		  bq.filter.agg_type = DKD_T_BYTES; bq.filter.agg_width = 8;
		  bq.filter.min_vlen = 8);
	QUERY_BAD(-EINVAL, "aggregate width 16",
		  bq.filter.agg_type = DKD_T_UINT; bq.filter.agg_width = 16;
		  bq.filter.min_vlen = 16);
	QUERY_BAD(-EINVAL, "aggregate offset without type",
		  bq.filter.agg_offset = 8);
	QUERY_BAD(-EINVAL, "lo_len 1025", bq.filter.lo_len = 1025;
		  bq.lo_ptr = (uintptr_t)scratch);
	QUERY_BAD(-EINVAL, "prefix_len 1025", bq.filter.prefix_len = 1025;
		  bq.prefix_ptr = (uintptr_t)scratch);
	QUERY_BAD(-EINVAL, "key pointer without length",
		  bq.hi_ptr = (uintptr_t)hi_key);
	QUERY_BAD(-EINVAL, "lo >= hi", bq.filter.lo_len = 1;
		  bq.lo_ptr = (uintptr_t)lo_key; bq.filter.hi_len = 1;
		  bq.hi_ptr = (uintptr_t)hi_key);
	QUERY_BAD(-EINVAL, "lo == hi", bq.filter.lo_len = 1;
		  bq.lo_ptr = (uintptr_t)hi_key; bq.filter.hi_len = 1;
		  bq.hi_ptr = (uintptr_t)hi_key);
	QUERY_BAD(-EFAULT, "lo_ptr unmapped", bq.filter.lo_len = 4;
		  bq.lo_ptr = (uintptr_t)unmapped);
	/* ROWS fields. */
	QUERY_BAD(-EINVAL, "rows_cap 0", bq.flags = DAXMIRROR_QUERY_ROWS;
		  bq.rows_ptr = (uintptr_t)scratch);
	QUERY_BAD(-EINVAL, "rows_cap too big", bq.flags = DAXMIRROR_QUERY_ROWS;
		  bq.rows_ptr = (uintptr_t)scratch;
		  bq.rows_cap = DAXMIRROR_MAX_QUERY_ROWS + 8);
	QUERY_BAD(-EINVAL, "a unit longer than rows_cap",
		  bq.flags = DAXMIRROR_QUERY_ROWS;
		  bq.rows_ptr = (uintptr_t)scratch; bq.rows_cap = 8);
	QUERY_BAD(-EINVAL, "resume_unit past the end",
		  bq.flags = DAXMIRROR_QUERY_ROWS;
		  bq.rows_ptr = (uintptr_t)scratch; bq.rows_cap = 64ul << 20;
		  bq.resume_unit = bq.nunits);
	QUERY_BAD(-EFAULT, "rows_ptr kernel", bq.flags = DAXMIRROR_QUERY_ROWS;
		  bq.rows_ptr = 0xffff888000000000ull;
		  bq.rows_cap = 64ul << 20);

	/* Records that cannot be, written into the mapped region. */
#define REC_BAD(what, len, ...)                                             \
	do {                                                                \
		memset(rec, 0, 4096);                                       \
		rec->klen = 4;                                              \
		rec->vlen = 8;                                              \
		rec->flags = DK_REC_PUT;                                    \
		rec->seq = 1;                                               \
		__VA_ARGS__;                                                \
		UNIT_BAD(what, (uintptr_t)rec, len);                        \
	} while (0)
	REC_BAD("record klen 0", 64, rec->klen = 0);
	REC_BAD("record klen 1025", 2048, rec->klen = 1025);
	REC_BAD("record past its unit", 40);
	REC_BAD("unit shorter than a header", 16);
	REC_BAD("record vlen 1 MiB + 1", 4096, rec->vlen = DKD_MAX_VALUE + 1);
	REC_BAD("second record bad (zeros)", 128);
	printf("DMR-QUERY %s bad descriptors refused: %d\n", opt.label, nbad);
	return 0;
}

/*
 * Truncate and munmap while queries run.  File A holds N records whose
 * aggregated field is 1; each round truncates A to 0 and makes file C
 * with the same layout but the field POISON (C likely gets A's blocks),
 * or munmaps A; then restores A.  A query's answer is judged by the
 * phases it saw start and end: never a POISON record (the device read
 * blocks it had lost); never a success that ran wholly while A was
 * truncated or unmapped; and the exact answer when it ran wholly while A
 * was intact.  Errors allowed: -EFAULT, -EINVAL (zeros of a half
 * restored A), -EBUSY.
 */
#define QRACE_LEN (1ul << 20)
#define QRACE_POISON 1000000ull

struct qrace {
	struct target t;
	int dfd;
	size_t nrec;
	struct daxmirror_query_unit units[16];
	size_t nunits;
	_Atomic long gen;	/* 4 * round + phase: 0 intact, 1 gone,
				   2 restoring, 3 intact again */
	_Atomic bool stop;
	_Atomic long queries;	/* finished */
	long ok, exact, efault, einval, ebusy, other, poison, stale_ok,
		wrong_intact;
};

static void qrace_fill_len(uint8_t *p, size_t len, size_t *nrec,
			   uint64_t field)
{
	size_t off = 0, n = 0;

	while (off + 64 <= len) {
		/* 32 + 8 + 24: 64 bytes, no padding. */
		struct dk_rec hdr = { .klen = 8, .flags = DK_REC_PUT,
				      .vlen = 24, .batch = 1, .seq = 1 };

		memcpy(p + off, &hdr, sizeof(hdr));
		memcpy(p + off + 32, "key00000", 8);
		memcpy(p + off + 40, &field, 8);
		memset(p + off + 48, 0, 16);
		off += dk_rec_size(hdr.klen, hdr.vlen);
		n++;
	}
	*nrec = n;
}

static void qrace_fill(uint8_t *p, size_t *nrec, uint64_t field)
{
	qrace_fill_len(p, QRACE_LEN, nrec, field);
}

/*
 * A fatal signal in the middle of a QUERY: a cold 16 MiB of records on
 * one lane, every fault slowed to 50 ms (~400 ms in all); SIGKILL after
 * 100 ms must end it within a fault's time and free everything.
 */
static int query_kill(void)
{
	const size_t len = 16ul << 20;
	struct timespec t0, t1;
	int sv[2], status;
	double secs;
	pid_t pid;
	char c;

	set_commit_delay(50000);
	CHECK(pipe(sv) == 0, "pipe");
	pid = fork();
	CHECK_SYS(pid);
	if (!pid) {
		struct daxmirror_query_unit units[16];
		struct dkd_filter f = { .snap = 5 };
		struct daxmirror_query q;
		struct target big;
		struct qkeys k;
		size_t n;
		int cfd = dmr_open();

		if (cfd < 0 || target_create(&big, "qkill", len))
			_exit(1);
		qrace_fill_len(big.map, len, &n, 1);
		if (dmr_map(cfd, big.map, len, 0, NULL))
			_exit(1);
		for (int i = 0; i < 16; i++) {
			units[i].addr = (uintptr_t)big.map + i * (len / 16);
			units[i].len = len / 16;
		}
		query_init(&q, units, 16, &f, &k);
		q.lanes = 1;
		if (write(sv[1], "q", 1) != 1)
			_exit(1);
		dmr_query(cfd, &q);
		_exit(3); /* should not get here: killed first */
	}
	close(sv[1]);
	CHECK_EQ(read(sv[0], &c, 1), 1); /* the child is about to QUERY */
	close(sv[0]);
	usleep(100000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	set_commit_delay(0);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("DMR-QUERY %s QUERY killed after 100 ms: %s, reaped in %.3f s\n",
	       opt.label, WIFSIGNALED(status) ? "by SIGKILL" : "exited first",
	       secs);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	      "status %#x", status);
	CHECK(secs < 1.0, "the query ignored the fatal signal: %.3f s", secs);
	{
		char path[300];

		snprintf(path, sizeof(path), "%s/qkill", opt.path);
		unlink(path);
	}
	return counters_zero("after SIGKILL during a QUERY");
}

static void *qrace_device(void *arg)
{
	struct qrace *qr = arg;
	struct dkd_filter f = { .snap = 5, .min_vlen = 8,
				.agg_type = DKD_T_UINT, .agg_width = 8 };
	struct qkeys k;

	while (!atomic_load(&qr->stop)) {
		struct daxmirror_query q;
		long g0 = atomic_load(&qr->gen), g1;
		int ret;

		query_init(&q, qr->units, qr->nunits, &f, &k);
		q.lanes = 1 + rng() % 3;
		ret = dmr_query(qr->dfd, &q);
		g1 = atomic_load(&qr->gen);
		atomic_fetch_add(&qr->queries, 1);
		if (ret == -EFAULT)
			qr->efault++;
		else if (ret == -EINVAL)
			qr->einval++;
		else if (ret == -EBUSY)
			qr->ebusy++;
		else if (ret)
			qr->other++;
		if (ret)
			continue;
		qr->ok++;
		if (q.max >= QRACE_POISON) {
			qr->poison++;
			continue;
		}
		/* Started after A was gone, ended before it came back. */
		if (g0 % 4 == 1 && g1 == g0)
			qr->stale_ok++;
		if ((g0 % 4 == 0 || g0 % 4 == 3) && g1 == g0) {
			if (q.count == qr->nrec && q.sum == qr->nrec)
				qr->exact++;
			else
				qr->wrong_intact++;
		}
	}
	return NULL;
}

/* Until a query that began in this phase has ended (at most 200 ms). */
static void qrace_wait(struct qrace *qr)
{
	long start = atomic_load(&qr->queries);

	for (int i = 0; i < 2000 && atomic_load(&qr->queries) < start + 2; i++)
		usleep(100);
}

static int case_query_race(void)
{
	struct qrace *qr = calloc(1, sizeof(*qr));
	struct target c;
	pthread_t dev;
	long rounds = opt.count;

	CHECK(qr, "calloc");
	CHECK(!opt.devdax, "query_race truncates files: not on devdax");
	map_sync = opt.race_sync;	/* see the race case */
	CHECK_EQ(target_create(&qr->t, "qrace_a", QRACE_LEN), 0);
	qrace_fill(qr->t.map, &qr->nrec, 1);
	qr->nunits = 16;
	for (size_t i = 0; i < qr->nunits; i++) {
		qr->units[i].addr = (uintptr_t)qr->t.map + i * (QRACE_LEN / 16);
		qr->units[i].len = QRACE_LEN / 16;
	}
	qr->dfd = dmr_open();
	CHECK_SYS(qr->dfd);
	CHECK_EQ(dmr_map(qr->dfd, qr->t.map, QRACE_LEN, DAXMIRROR_MAP_PREFAULT,
			 NULL), 0);
	CHECK_EQ(pthread_create(&dev, NULL, qrace_device, qr), 0);
	for (long r = 0; r < rounds; r++) {
		bool trunc = r % 2 == 0;

		if (r % 16 == 8)
			set_commit_delay(r % 32 == 8 ? 300 : 0);
		qrace_wait(qr);	/* intact: a query runs wholly inside */
		if (trunc) {
			CHECK_SYS(ftruncate(qr->t.fd, 0));
		} else {
			CHECK_SYS(munmap(qr->t.map, QRACE_LEN));
		}
		atomic_store(&qr->gen, 4 * r + 1);
		if (trunc) {
			/* Free A's blocks for C. */
			CHECK_SYS(syncfs(qr->t.fd));
			CHECK_EQ(target_create(&c, "qrace_c", QRACE_LEN), 0);
			qrace_fill(c.map, &qr->nrec, QRACE_POISON);
			target_destroy(&c);
		} else {
			qrace_wait(qr);
		}
		atomic_store(&qr->gen, 4 * r + 2);
		if (trunc) {
			CHECK_SYS(ftruncate(qr->t.fd, QRACE_LEN));
		} else {
			CHECK_EQ(target_map_at(&qr->t, qr->t.map), 0);
		}
		qrace_fill(qr->t.map, &qr->nrec, 1);
		atomic_store(&qr->gen, 4 * r + 3);
		qrace_wait(qr);
		atomic_store(&qr->gen, 4 * (r + 1));
	}
	atomic_store(&qr->stop, true);
	pthread_join(dev, NULL);
	set_commit_delay(0);
	printf("DMR-QUERY %s race rounds=%ld ok=%ld exact=%ld EFAULT=%ld "
	       "EINVAL=%ld EBUSY=%ld other=%ld poison=%ld stale_ok=%ld "
	       "wrong_intact=%ld\n", opt.label, rounds, qr->ok, qr->exact,
	       qr->efault, qr->einval, qr->ebusy, qr->other, qr->poison,
	       qr->stale_ok, qr->wrong_intact);
	CHECK_EQ(qr->poison, 0);
	CHECK_EQ(qr->stale_ok, 0);
	CHECK_EQ(qr->wrong_intact, 0);
	CHECK_EQ(qr->other, 0);
	CHECK(qr->exact > 0, "no query ran while A was intact");
	CHECK(qr->efault > 0, "no query met a truncated or unmapped A");
	close(qr->dfd);
	target_destroy(&qr->t);
	free(qr);
	return query_kill();
}

static int case_query(void)
{
	const size_t len = 8ul << 20, spare = 64ul << 10;
	struct daxmirror_version ver = { .size = sizeof(ver) };
	struct daxmirror_query_unit *units;
	struct daxmirror_query base;
	struct target t, t2;
	struct recset rs;
	struct dkd_filter f = { .snap = 1000 };
	struct qkeys k;
	uint8_t *unmapped;
	void *hole;
	int dfd;

	/* VERSION. */
	dfd = dmr_open();
	CHECK_SYS(dfd);
	CHECK_EQ(dmr_ioctl(dfd, DAXMIRROR_IOC_VERSION, &ver), 0);
	printf("DMR-QUERY %s version api=%llu lanes=%llu\n", opt.label,
	       (unsigned long long)ver.api, (unsigned long long)ver.lanes);
	CHECK_EQ(ver.api, DAXMIRROR_API_VERSION);
	CHECK(ver.lanes >= 1 && ver.lanes <= DMR_TEST_MAX_LANES, "lanes");
	{
		/* The size rule: a newer caller's zero tail is fine, a
		 * field the module does not know is -E2BIG. */
		uint64_t big[5] = { sizeof(ver) + 16 };

		CHECK_EQ(dmr_ioctl(dfd, DAXMIRROR_IOC_VERSION, big), 0);
		CHECK_EQ(big[1], DAXMIRROR_API_VERSION);
		big[1] = big[2] = 0;
		big[4] = 1;
		CHECK_EQ(dmr_ioctl(dfd, DAXMIRROR_IOC_VERSION, big), -E2BIG);
		big[0] = 16;
		CHECK_EQ(dmr_ioctl(dfd, DAXMIRROR_IOC_VERSION, big), -EINVAL);
		big[0] = 20;
		CHECK_EQ(dmr_ioctl(dfd, DAXMIRROR_IOC_VERSION, big), -EINVAL);
	}
	ver.size = sizeof(ver);
	ver.api = 1;
	CHECK_EQ(dmr_ioctl(dfd, DAXMIRROR_IOC_VERSION, &ver), -EINVAL);

	/*
	 * Records in a DAX mapping, and a second range right after it, in
	 * one reserved hole: mapping the second at t.map + len with
	 * MAP_FIXED outside a reservation replaced whatever was there (a
	 * malloc arena's mapping, once in a few runs: "free(): invalid
	 * pointer" at the end of this case).
	 */
	hole = reserve_aligned(2 * len);
	CHECK(hole, "reserve_aligned");
	CHECK_EQ(target_create_in(&t, "query", len, hole), 0);
	CHECK_EQ(recset_build(&rs, t.map, len - spare), 0);
	CHECK_EQ(dmr_map(dfd, t.map, len, 0, NULL), 0);
	memset(&t2, 0, sizeof(t2));
	if (!opt.devdax) {
		CHECK_EQ(target_open_file(&t2, "query2", len), 0);
		t2.len = len;
		t2.sync = map_sync;
		CHECK_EQ(target_map_at(&t2, (uint8_t *)hole + len), 0);
		CHECK_EQ(dmr_map(dfd, t2.map, len, 0, NULL), 0);
	}
	unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	CHECK(unmapped != MAP_FAILED, "mmap");
	munmap(unmapped, 4096);
	units = calloc(rs.nunits, sizeof(*units));
	CHECK(units, "calloc");
	for (size_t i = 0; i < rs.nunits; i++) {
		units[i].addr = (uintptr_t)t.map + rs.ustart[i];
		units[i].len = rs.uend[i] - rs.ustart[i];
	}

	if (query_differential(dfd, &rs, units, opt.count))
		return -1;
	query_init(&base, units, rs.nunits, &f, &k);
	if (query_bad(dfd, &base, t.map + len - spare, unmapped,
		      opt.devdax ? t.map + len - 4096 : t2.map, len))
		return -1;

	free(units);
	recset_free(&rs);
	close(dfd);
	if (t2.map)
		target_destroy(&t2);
	target_destroy(&t);
	return 0;
}

/* ---- refuse: only shared DAX mappings can be mirrored ---- */

/* A MAP of [p, p + len) and what it must give. */
static int refuse_map(int dfd, void *p, size_t len, int want,
		      const char *what)
{
	int ret = dmr_map(dfd, p, len, DAXMIRROR_MAP_PREFAULT, NULL);

	printf("DMR-REFUSE %s MAP of %s: %d (%s)\n", opt.label, what, ret,
	       ret ? strerror(-ret) : "ok");
	CHECK(ret == want, "MAP of %s: got %d, want %d", what, ret, want);
	return 0;
}

/* The block device under opt.path, from /proc/mounts. */
static int mount_device(char *dev, size_t size)
{
	char line[512], mdev[256], mdir[256];
	FILE *f = fopen("/proc/mounts", "r");
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %255s", mdev, mdir) == 2 &&
		    !strcmp(mdir, opt.path)) {
			snprintf(dev, size, "%s", mdev);
			ret = 0;
		}
	fclose(f);
	return ret;
}

/*
 * Replace the mapping at where (len bytes) by fd's (or anonymous memory,
 * fd -1) and check what READ and QUERY of the mirrored range give now.
 */
static int refuse_fault(int dfd, uint8_t *where, size_t len, int fd,
			int flags, int want, const char *what)
{
	struct daxmirror_query_unit unit = { (uintptr_t)where, 4096 };
	struct dkd_filter f = { .snap = 1 };
	struct daxmirror_query q;
	uint8_t *buf = malloc(len);
	struct qkeys k;
	void *p;
	int rd, qr;

	CHECK(buf, "malloc");
	if (fd == -2) {
		CHECK_SYS(munmap(where, len));
	} else {
		p = mmap(where, len, PROT_READ | PROT_WRITE, MAP_FIXED | flags,
			 fd, 0);
		CHECK(p == where, "mmap %s: %s", what, strerror(errno));
		memset(where, 0, 4096);	/* populate (a private COW copy) */
	}
	rd = dmr_read(dfd, where, len, buf, 2, NULL);
	query_init(&q, &unit, 1, &f, &k);
	qr = dmr_query(dfd, &q);
	printf("DMR-REFUSE %s fault on %s: READ %d QUERY %d err_addr %s\n",
	       opt.label, what, rd, qr,
	       q.err_addr == (uintptr_t)where ? "=addr" : "?");
	CHECK(rd == want, "READ of %s: got %d, want %d", what, rd, want);
	CHECK(qr == want, "QUERY of %s: got %d, want %d", what, qr, want);
	CHECK(q.err_addr == (uintptr_t)where, "err_addr %#llx, want %p",
	      (unsigned long long)q.err_addr, (void *)where);
	free(buf);
	return 0;
}

static int case_refuse(void)
{
	const size_t len = 2ul << 20, small = 64ul << 10;
	struct daxmirror_stats st;
	struct target t;
	char bdev[256], tpath[64];
	uint8_t *p, *buf = malloc(len);
	int dfd, sfd, tfd, bfd, rfd;

	CHECK(buf, "malloc");
	CHECK(!opt.devdax, "refuse needs a DAX file system");
	dfd = dmr_open();
	CHECK_SYS(dfd);

	/* memfd_secret: its pages are not in the kernel's direct map. */
	sfd = syscall(SYS_memfd_secret, 0);
	CHECK(sfd >= 0, "memfd_secret: %s (boot with secretmem.enable=1)",
	      strerror(errno));
	CHECK_SYS(ftruncate(sfd, small));
	p = mmap(NULL, small, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	CHECK(p != MAP_FAILED, "mmap secretmem: %s", strerror(errno));
	memset(p, 0x5e, small);
	if (refuse_map(dfd, p, small, -EOPNOTSUPP, "memfd_secret"))
		return -1;
	munmap(p, small);

	/* A shared mapping of a file that is not DAX: the page cache of the
	 * block device under the file system. */
	CHECK_EQ(mount_device(bdev, sizeof(bdev)), 0);
	bfd = open(bdev, O_RDONLY | O_CLOEXEC);
	CHECK(bfd >= 0, "open %s: %s", bdev, strerror(errno));
	p = mmap(NULL, small, PROT_READ, MAP_SHARED, bfd, 0);
	CHECK(p != MAP_FAILED, "mmap %s: %s", bdev, strerror(errno));
	CHECK(*(volatile uint8_t *)p == p[0], "read");
	if (refuse_map(dfd, p, small, -EOPNOTSUPP, "a block device (page cache)"))
		return -1;
	munmap(p, small);

	/* tmpfs. */
	snprintf(tpath, sizeof(tpath), "/tmp/refuse_tmpfs");
	tfd = open(tpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK_SYS(tfd);
	unlink(tpath);
	CHECK_SYS(ftruncate(tfd, len));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, tfd, 0);
	CHECK(p != MAP_FAILED, "mmap tmpfs");
	memset(p, 1, len);
	if (refuse_map(dfd, p, len, -EOPNOTSUPP, "a tmpfs file"))
		return -1;
	munmap(p, len);

	/* Anonymous memory. */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED, "mmap anon");
	memset(p, 1, len);
	if (refuse_map(dfd, p, len, -EOPNOTSUPP, "anonymous memory"))
		return -1;
	munmap(p, len);

	/* A private mapping of a DAX file, read only and after a write. */
	CHECK_EQ(target_create(&t, "refuse", len), 0);
	fill_random(t.map, len);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, t.fd, 0);
	CHECK(p != MAP_FAILED, "mmap private");
	CHECK(p[0] == t.map[0], "private mapping reads the file");
	if (refuse_map(dfd, p, len, -EOPNOTSUPP, "a private DAX mapping"))
		return -1;
	p[0] ^= 1;	/* COW: an anonymous page in a DAX VMA */
	if (refuse_map(dfd, p, len, -EOPNOTSUPP,
		       "a private DAX mapping after a write"))
		return -1;
	munmap(p, len);

	/*
	 * A read-only open's mappings: the kernel clears VM_SHARED (keeping
	 * VM_MAYSHARE) for MAP_SHARED of a file not opened for writing.
	 * Shared, they are mirrored (with and without MAP_SYNC, as the
	 * engine's read-only opens map segments); private, still refused.
	 */
	rfd = open(t.path, O_RDONLY | O_CLOEXEC);
	CHECK_SYS(rfd);
	for (int sync = 0; sync < 2; sync++) {
		const char *what = sync ? "a read-only MAP_SYNC DAX mapping" :
					  "a read-only shared DAX mapping";

		p = mmap(NULL, len, PROT_READ,
			 sync ? MAP_SHARED_VALIDATE | MAP_SYNC : MAP_SHARED,
			 rfd, 0);
		CHECK(p != MAP_FAILED, "mmap %s: %s", what, strerror(errno));
		if (refuse_map(dfd, p, len, 0, what))
			return -1;
		memset(buf, 0, len);
		CHECK_EQ(dmr_read(dfd, p, len, buf, 2, NULL), 0);
		CHECK(!memcmp(buf, t.map, len), "device read of %s differs",
		      what);
		CHECK_EQ(dmr_unmap(dfd, p, len), 0);
		munmap(p, len);
	}
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, rfd, 0);
	CHECK(p != MAP_FAILED, "mmap read-only private");
	if (refuse_map(dfd, p, len, -EOPNOTSUPP,
		       "a read-only private DAX mapping"))
		return -1;
	munmap(p, len);
	close(rfd);

	/* Nothing mapped, and a DAX mapping followed by something else. */
	p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED, "mmap");
	munmap(p, len);
	if (refuse_map(dfd, p, len, -EFAULT, "a hole"))
		return -1;
	if (refuse_map(dfd, t.map + len - small, 2 * small, -EOPNOTSUPP,
		       "a DAX mapping and the PROT_NONE reservation after it"))
		return -1;

	/* The real thing works; then each fault checks the mapping again. */
	if (refuse_map(dfd, t.map, len, 0, "a shared DAX mapping"))
		return -1;
	CHECK_EQ(dmr_read(dfd, t.map, len, buf, 2, NULL), 0);
	CHECK(!memcmp(buf, t.map, len), "device read differs");
	if (refuse_fault(dfd, t.map, len, tfd, MAP_SHARED, -EOPNOTSUPP,
			 "tmpfs in its place"))
		return -1;
	sfd = syscall(SYS_memfd_secret, 0);
	CHECK_SYS(sfd);
	CHECK_SYS(ftruncate(sfd, len));
	if (refuse_fault(dfd, t.map, len, sfd, MAP_SHARED, -EOPNOTSUPP,
			 "memfd_secret in its place"))
		return -1;
	if (refuse_fault(dfd, t.map, len, t.fd, MAP_PRIVATE, -EOPNOTSUPP,
			 "a private DAX mapping in its place"))
		return -1;
	if (refuse_fault(dfd, t.map, len, -1, MAP_PRIVATE | MAP_ANONYMOUS,
			 -EOPNOTSUPP, "anonymous memory in its place"))
		return -1;
	if (refuse_fault(dfd, t.map, len, -2, 0, -EFAULT, "nothing"))
		return -1;
	CHECK_EQ(target_map_at(&t, t.map), 0);
	CHECK_EQ(dmr_read(dfd, t.map, len, buf, 2, NULL), 0);
	CHECK(!memcmp(buf, t.map, len), "device read differs after restore");
	CHECK_EQ(dmr_stats(dfd, &st), 0);
	printf("DMR-REFUSE %s refused=%llu fault_errors=%llu\n", opt.label,
	       (unsigned long long)st.refused,
	       (unsigned long long)st.fault_errors);
	CHECK(st.refused > 0, "no refusal counted");
	close(sfd);
	close(tfd);
	close(bfd);
	close(dfd);
	target_destroy(&t);
	free(buf);
	return counters_zero("after refuse");
}

/* ---- poison: a hardware-poisoned page is refused, the rest reads ---- */

static volatile sig_atomic_t sigbus_seen, sigbus_code;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	sigbus_seen++;
	sigbus_code = si->si_code;
}

static int case_poison(void)
{
	const size_t len = 4ul << 20, ulen = 256ul << 10;
	const size_t victim_off = (1ul << 20) + 8 * PAGE;
	struct daxmirror_query_unit units[16], good[15];
	struct dkd_filter f = { .snap = 5, .min_vlen = 8,
				.agg_type = DKD_T_UINT, .agg_width = 8 };
	struct sigaction sa = { .sa_sigaction = on_sigbus,
				.sa_flags = SA_SIGINFO };
	struct daxmirror_stats st;
	struct daxmirror_query q;
	struct target t;
	struct qkeys k;
	uint8_t *want = malloc(len), *buf = malloc(len), state;
	uint64_t faulted, bytes;
	size_t nrec, ngood = 0, per_unit = ulen / 64;
	int dfd, ret;

	CHECK(want && buf, "malloc");
	CHECK(!opt.devdax, "poison runs on an fsdax file");
	/*
	 * The poisoned page stays poisoned for the life of the machine, so
	 * its file is kept: freed, its blocks would go to another file,
	 * whose reads would fail.
	 */
	CHECK_EQ(target_create(&t, "poisoned.keep", len), 0);
	qrace_fill_len(t.map, len, &nrec, 1);
	memcpy(want, t.map, len);
	CHECK_EQ(nrec, len / 64);
	dfd = dmr_open();
	CHECK_SYS(dfd);
	CHECK_EQ(dmr_map(dfd, t.map, len, DAXMIRROR_MAP_PREFAULT, &faulted), 0);
	CHECK_EQ(faulted, len / PAGE);
	for (size_t i = 0; i < 16; i++) {
		units[i].addr = (uintptr_t)t.map + i * ulen;
		units[i].len = ulen;
		if (i * ulen + ulen <= victim_off || i * ulen > victim_off)
			good[ngood++] = units[i];
	}

	/* The kernel's memory-failure path: marks the page, unmaps it from
	 * every process, and sends this one SIGBUS. */
	CHECK_SYS(sigaction(SIGBUS, &sa, NULL));
	CHECK(madvise(t.map + victim_off, PAGE, MADV_HWPOISON) == 0,
	      "MADV_HWPOISON: %s", strerror(errno));
	printf("DMR-POISON %s page at +%#zx poisoned; SIGBUS seen %d (code "
	       "%d)\n", opt.label, victim_off, (int)sigbus_seen,
	       (int)sigbus_code);

	/* READ over it: -EIO, the bytes before it good. */
	ret = dmr_read(dfd, t.map, len, buf, 2, &bytes);
	printf("DMR-POISON %s READ of all: %d bytes=%#llx\n", opt.label, ret,
	       (unsigned long long)bytes);
	CHECK_EQ(ret, -EIO);
	CHECK_EQ(bytes, victim_off);
	CHECK(!memcmp(buf, want, bytes), "bytes before the poison differ");
	CHECK_EQ(dmr_read(dfd, t.map + victim_off, PAGE, buf, 1, &bytes), -EIO);
	CHECK_EQ(bytes, 0);
	CHECK_EQ(dmr_snapshot(dfd, t.map + victim_off, 1, &state), 0);
	CHECK_EQ(state, DAXMIRROR_SNAP_ERROR | DAXMIRROR_SNAP_WHY_POISON);
	/* The rest of the range still reads. */
	CHECK_EQ(dmr_read(dfd, t.map + victim_off + PAGE,
			  len - victim_off - PAGE, buf, 3, &bytes), 0);
	CHECK(!memcmp(buf, want + victim_off + PAGE, len - victim_off - PAGE),
	      "bytes after the poison differ");
	CHECK_EQ(dmr_read(dfd, t.map, victim_off, buf, 2, NULL), 0);
	CHECK(!memcmp(buf, want, victim_off), "bytes before the poison differ");

	/* QUERY over it: -EIO naming the page; without its unit: exact. */
	for (int lanes = 1; lanes <= 4; lanes += 3) {
		query_init(&q, units, 16, &f, &k);
		q.lanes = lanes;
		ret = dmr_query(dfd, &q);
		printf("DMR-POISON %s QUERY of all (%d lanes): %d err_addr=+%#llx\n",
		       opt.label, lanes, ret,
		       (unsigned long long)(q.err_addr - (uintptr_t)t.map));
		CHECK_EQ(ret, -EIO);
		CHECK(q.err_addr >= (uintptr_t)t.map + victim_off &&
		      q.err_addr < (uintptr_t)t.map + victim_off + PAGE,
		      "err_addr %#llx not in the poisoned page",
		      (unsigned long long)q.err_addr);
		query_init(&q, good, ngood, &f, &k);
		q.lanes = lanes;
		CHECK_EQ(dmr_query(dfd, &q), 0);
		CHECK_EQ(q.count, ngood * per_unit);
		CHECK_EQ(q.sum, ngood * per_unit);
	}
	CHECK_EQ(dmr_stats(dfd, &st), 0);
	printf("DMR-POISON %s poisoned=%llu\n", opt.label,
	       (unsigned long long)st.poisoned);
	CHECK(st.poisoned >= 1, "no poisoned page counted");
	signal(SIGBUS, SIG_DFL);
	close(dfd);
	/* Keep the file (see above): unmap and close only. */
	munmap(t.map, t.len);
	close(t.fd);
	free(want);
	free(buf);
	return counters_zero("after poison");
}

/* ---- kill: a fatal signal ends long device work within a second ---- */

enum kill_work { KILL_PREFAULT, KILL_READ, KILL_QUERY };

static const char *kill_names[] = { "PREFAULT", "READ", "QUERY" };

/* In a child: the work, over the whole 1 GiB mapping at map. */
static void kill_child(int sock, uint8_t *map, size_t len, enum kill_work w,
		       bool warm)
{
	struct daxmirror_query_unit *units;
	struct dkd_filter f = { .snap = 5, .min_vlen = 8,
				.agg_type = DKD_T_UINT, .agg_width = 8 };
	const size_t piece = DAXMIRROR_MAX_READ_LEN, ulen = 1ul << 20;
	struct daxmirror_query q;
	struct qkeys k;
	uint8_t *buf = NULL;
	int cfd = dmr_open();

	if (cfd < 0)
		_exit(1);
	if (w != KILL_PREFAULT &&
	    dmr_map(cfd, map, len, warm ? DAXMIRROR_MAP_PREFAULT : 0, NULL))
		_exit(1);
	units = calloc(len / ulen, sizeof(*units));
	if (w == KILL_READ)
		buf = malloc(piece);
	if (!units || (w == KILL_READ && !buf))
		_exit(1);
	for (size_t i = 0; i < len / ulen; i++) {
		units[i].addr = (uintptr_t)map + i * ulen;
		units[i].len = ulen;
	}
	if (write(sock, "g", 1) != 1)
		_exit(1);
	for (;;) {
		switch (w) {
		case KILL_PREFAULT:
			dmr_map(cfd, map, len, DAXMIRROR_MAP_PREFAULT, NULL);
			_exit(3);	/* killed first */
		case KILL_READ:
			for (size_t off = 0; off < len; off += piece)
				dmr_read(cfd, map + off, piece, buf, 2, NULL);
			break;
		case KILL_QUERY:
			query_init(&q, units, len / ulen, &f, &k);
			q.lanes = 2;
			dmr_query(cfd, &q);
			break;
		}
	}
}

/* Start w in a child, SIGKILL it after delay_ms, time the reaping. */
static int kill_one(uint8_t *map, size_t len, enum kill_work w, bool warm,
		    unsigned int delay_ms, double *secs)
{
	struct timespec t0, t1;
	int sv[2], status;
	pid_t pid;
	char c;

	CHECK(pipe(sv) == 0, "pipe");
	pid = fork();
	CHECK_SYS(pid);
	if (!pid) {
		close(sv[0]);
		kill_child(sv[1], map, len, w, warm);
	}
	close(sv[1]);
	CHECK_EQ(read(sv[0], &c, 1), 1);	/* about to start */
	close(sv[0]);
	usleep(delay_ms * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("DMR-KILL %s %s %s killed after %u ms: %s, reaped in %.3f s\n",
	       opt.label, kill_names[w], warm ? "warm" : "cold", delay_ms,
	       WIFSIGNALED(status) ? "by SIGKILL" : "exited first", *secs);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	      "%s: status %#x", kill_names[w], status);
	CHECK(*secs < 1.0, "%s ignored the fatal signal: %.3f s",
	      kill_names[w], *secs);
	return counters_zero(kill_names[w]);
}

/*
 * SIGKILL in the middle of a PREFAULT, READs and a QUERY over 1 GiB.  Cold,
 * with every fault slowed to 50 ms (a PREFAULT of 1 GiB then takes 512 *
 * 50 ms), the caller is killed while it faults; warm, with no delay, while
 * the lanes read.  Each must be reaped within a second.
 */
static int case_kill(void)
{
	const size_t len = 1ul << 30;
	struct timespec t0, t1;
	double secs, worst = 0, scan;
	struct target t;
	size_t nrec;
	int dfd;

	CHECK(!opt.devdax, "kill runs on an fsdax file");
	CHECK_EQ(target_create(&t, "kill_1g", len), 0);
	/* 64-byte records tile a page: make one, copy it everywhere. */
	qrace_fill_len(t.map, PAGE, &nrec, 1);
	for (size_t off = PAGE; off < len; off += PAGE)
		memcpy(t.map + off, t.map, PAGE);
	nrec = len / 64;

	set_commit_delay(50000);
	for (int w = KILL_PREFAULT; w <= KILL_QUERY; w++) {
		if (kill_one(t.map, len, w, false, 300, &secs))
			return -1;
		worst = secs > worst ? secs : worst;
	}
	set_commit_delay(0);

	/* How long does a warm QUERY of the whole GiB take here? */
	dfd = dmr_open();
	CHECK_SYS(dfd);
	CHECK_EQ(dmr_map(dfd, t.map, len, DAXMIRROR_MAP_PREFAULT, NULL), 0);
	{
		struct daxmirror_query_unit *units = calloc(1024, sizeof(*units));
		struct dkd_filter f = { .snap = 5, .min_vlen = 8,
					.agg_type = DKD_T_UINT, .agg_width = 8 };
		struct daxmirror_query q;
		struct qkeys k;

		CHECK(units, "calloc");
		for (size_t i = 0; i < 1024; i++) {
			units[i].addr = (uintptr_t)t.map + i * (len / 1024);
			units[i].len = len / 1024;
		}
		query_init(&q, units, 1024, &f, &k);
		q.lanes = 2;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK_EQ(dmr_query(dfd, &q), 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		CHECK_EQ(q.count, nrec);
		free(units);
	}
	close(dfd);
	scan = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("DMR-KILL %s a warm QUERY of 1 GiB takes %.3f s\n", opt.label,
	       scan);
	for (int w = KILL_READ; w <= KILL_QUERY; w++) {
		if (kill_one(t.map, len, w, true, 100 + scan * 300, &secs))
			return -1;
		worst = secs > worst ? secs : worst;
	}
	printf("DMR-KILL %s worst reap %.3f s\n", opt.label, worst);
	target_destroy(&t);
	return counters_zero("after kill");
}

/* ---- stress: random ioctls from 16 threads, files changing under them ---- */

#define STRESS_FILES 4
#define STRESS_LEN (4ul << 20)
#define STRESS_THREADS 16
/* One fd shared by 12 threads (more than DAXMIRROR_MAX_CALLS), one for
 * each pair of the other 4. */
#define STRESS_SHARED 12
#define STRESS_FDS 3

struct stress {
	struct target t[STRESS_FILES];
	uint8_t *where[STRESS_FILES];
	pthread_mutex_t lock[STRESS_FILES];	/* the mapping at where[] */
	int fds[STRESS_FDS];
	_Atomic bool stop;
	_Atomic long calls, errs_by[160], unexpected, kills;
	_Atomic long max_in_flight;	/* STATS: the most seen at once */
};

/* Which errors a call may give while files change under it. */
static bool stress_expected(int ret)
{
	switch (-ret) {
	case 0: case EFAULT: case EEXIST: case ENOENT: case ENXIO:
	case EBUSY: case EINVAL: case ENOSPC: case EOPNOTSUPP: case EINTR:
		return true;
	}
	return false;
}

/* One random call; quiet in a forked child (no stdio after fork). */
static void stress_call(struct stress *sx, int fd, uint64_t *rs, bool quiet)
{
	uint64_t r = *rs;
	int file, ret = 0;
	uint8_t *base;
	size_t off, len;
	static _Thread_local uint8_t buf[256 << 10];

	r ^= r << 13; r ^= r >> 7; r ^= r << 17;
	*rs = r;
	file = r % STRESS_FILES;
	base = sx->where[file];
	off = (r >> 8) % (STRESS_LEN / PAGE) * PAGE;
	len = PAGE * (1 + (r >> 24) % 64);
	if (off + len > STRESS_LEN)
		len = STRESS_LEN - off;
	switch ((r >> 40) % 8) {
	case 0:
		ret = dmr_map(fd, base + off, len,
			      r >> 50 & 1 ? DAXMIRROR_MAP_PREFAULT : 0, NULL);
		break;
	case 1:
		ret = dmr_unmap(fd, base + off, len);
		break;
	case 2:
		ret = dmr_map(fd, base, STRESS_LEN, 0, NULL);
		break;
	case 3:
		ret = dmr_unmap(fd, base, STRESS_LEN);
		break;
	case 4:
		ret = dmr_read(fd, base + off + (r >> 52) % PAGE,
			       len > sizeof(buf) ? sizeof(buf) - PAGE : len - 1,
			       buf, (r >> 56) % 9, NULL);
		break;
	case 5: {
		struct daxmirror_query_unit u[4];
		struct dkd_filter f = { .snap = 5, .min_vlen = 8,
					.agg_type = DKD_T_UINT, .agg_width = 8 };
		struct daxmirror_query q;
		struct qkeys k;
		size_t n = 1 + (r >> 50) % 4;

		size_t ulen = len / n / 64 * 64;

		if (!ulen)
			ulen = 64;
		for (size_t i = 0; i < n; i++) {
			u[i].addr = (uintptr_t)base + off + i * ulen;
			u[i].len = ulen;
		}
		query_init(&q, u, n, &f, &k);
		q.lanes = (r >> 56) % 9;
		if (r >> 55 & 1) {
			q.flags = DAXMIRROR_QUERY_ROWS;
			q.rows_ptr = (uintptr_t)buf;
			q.rows_cap = sizeof(buf);
		}
		ret = dmr_query(fd, &q);
		break;
	}
	case 6: {
		uint8_t states[64];

		ret = dmr_snapshot(fd, base + off, len / PAGE, states);
		break;
	}
	default: {
		struct daxmirror_stats st;
		long seen;

		ret = dmr_stats(fd, &st);
		seen = atomic_load(&sx->max_in_flight);
		while (!ret && (long)st.in_flight > seen &&
		       !atomic_compare_exchange_weak(&sx->max_in_flight, &seen,
						     (long)st.in_flight))
			;
		break;
	}
	}
	atomic_fetch_add(&sx->calls, 1);
	if (-ret < 160)
		atomic_fetch_add(&sx->errs_by[-ret], 1);
	if (!stress_expected(ret) && atomic_fetch_add(&sx->unexpected, 1) < 5 &&
	    !quiet)
		fprintf(stderr, "stress: op %llu gave %d (%s)\n",
			(unsigned long long)((r >> 40) % 8), ret,
			strerror(-ret));
}

struct stress_thread {
	struct stress *sx;
	int index;
};

static void *stress_ioctls(void *arg)
{
	struct stress_thread *st = arg;
	struct stress *sx = st->sx;
	int fd = st->index < STRESS_SHARED ? sx->fds[0] :
		 sx->fds[1 + (st->index - STRESS_SHARED) / 2];
	uint64_t r = 0x9e3779b97f4a7c15ull * (st->index + 1);

	while (!atomic_load(&sx->stop))
		stress_call(sx, fd, &r, false);
	return NULL;
}

/* Truncate, punch, munmap, mprotect, replace by anonymous memory. */
static void *stress_mutate(void *arg)
{
	struct stress *sx = arg;
	uint64_t r = 12345;
	size_t n;

	while (!atomic_load(&sx->stop)) {
		struct target *t;
		int file;

		r ^= r << 13; r ^= r >> 7; r ^= r << 17;
		file = r % STRESS_FILES;
		t = &sx->t[file];
		pthread_mutex_lock(&sx->lock[file]);
		switch ((r >> 8) % 5) {
		case 0:
			if (ftruncate(t->fd, 0) || ftruncate(t->fd, STRESS_LEN))
				atomic_fetch_add(&sx->unexpected, 1);
			break;
		case 1:
			if (fallocate(t->fd, FALLOC_FL_PUNCH_HOLE |
				      FALLOC_FL_KEEP_SIZE,
				      (r >> 16) % (STRESS_LEN / PAGE) * PAGE,
				      PAGE * (1 + (r >> 32) % 600)))
				atomic_fetch_add(&sx->unexpected, 1);
			break;
		case 2:
			munmap(t->map, STRESS_LEN);
			if (target_map_at(t, sx->where[file]))
				atomic_fetch_add(&sx->unexpected, 1);
			break;
		case 3:
			mprotect(t->map, STRESS_LEN, PROT_NONE);
			usleep(r % 1000);
			mprotect(t->map, STRESS_LEN, PROT_READ | PROT_WRITE);
			break;
		default:
			mmap(t->map, STRESS_LEN, PROT_READ | PROT_WRITE,
			     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			usleep(r % 1000);
			if (target_map_at(t, sx->where[file]))
				atomic_fetch_add(&sx->unexpected, 1);
			break;
		}
		qrace_fill_len(t->map, STRESS_LEN, &n, 1);
		pthread_mutex_unlock(&sx->lock[file]);
		usleep(r % 2000);
	}
	return NULL;
}

/* Children that mirror and read, killed at random moments. */
static void *stress_killer(void *arg)
{
	struct stress *sx = arg;
	uint64_t r = 777;

	while (!atomic_load(&sx->stop)) {
		pid_t pid;

		r ^= r << 13; r ^= r >> 7; r ^= r << 17;
		pid = fork();
		if (pid == 0) {
			int fd = dmr_open();
			uint64_t cr = r | 1;

			for (;;)
				stress_call(sx, fd, &cr, true);
		}
		if (pid < 0)
			continue;
		usleep(10000 + r % 90000);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		atomic_fetch_add(&sx->kills, 1);
	}
	return NULL;
}

static int case_stress(void)
{
	struct stress *sx = calloc(1, sizeof(*sx));
	struct stress_thread th[STRESS_THREADS];
	pthread_t tid[STRESS_THREADS], mut, killer;
	struct timespec t0, t1;
	double secs;
	size_t n;

	CHECK(sx, "calloc");
	CHECK(!opt.devdax, "stress truncates files: not on devdax");
	for (int i = 0; i < STRESS_FILES; i++) {
		char name[32];

		snprintf(name, sizeof(name), "stress_%d", i);
		/* With -y half the files MAP_SYNC (see the race case). */
		map_sync = opt.race_sync && i % 2 == 0;
		CHECK_EQ(target_create(&sx->t[i], name, STRESS_LEN), 0);
		sx->where[i] = sx->t[i].map;
		pthread_mutex_init(&sx->lock[i], NULL);
		qrace_fill_len(sx->t[i].map, STRESS_LEN, &n, 1);
	}
	map_sync = true;
	for (int i = 0; i < STRESS_FDS; i++) {
		sx->fds[i] = dmr_open();
		CHECK_SYS(sx->fds[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < STRESS_THREADS; i++) {
		th[i] = (struct stress_thread){ sx, i };
		CHECK_EQ(pthread_create(&tid[i], NULL, stress_ioctls, &th[i]), 0);
	}
	CHECK_EQ(pthread_create(&mut, NULL, stress_mutate, sx), 0);
	CHECK_EQ(pthread_create(&killer, NULL, stress_killer, sx), 0);
	sleep(opt.count);
	atomic_store(&sx->stop, true);
	for (int i = 0; i < STRESS_THREADS; i++)
		pthread_join(tid[i], NULL);
	pthread_join(mut, NULL);
	pthread_join(killer, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("DMR-STRESS %s seconds=%.0f calls=%ld killed_children=%ld "
	       "unexpected=%ld ok=%ld EFAULT=%ld EINVAL=%ld EEXIST=%ld "
	       "ENOENT=%ld ENXIO=%ld EBUSY=%ld EOPNOTSUPP=%ld ENOSPC=%ld\n",
	       opt.label, secs, (long)sx->calls, (long)sx->kills,
	       (long)sx->unexpected, (long)sx->errs_by[0],
	       (long)sx->errs_by[EFAULT], (long)sx->errs_by[EINVAL],
	       (long)sx->errs_by[EEXIST], (long)sx->errs_by[ENOENT],
	       (long)sx->errs_by[ENXIO], (long)sx->errs_by[EBUSY],
	       (long)sx->errs_by[EOPNOTSUPP], (long)sx->errs_by[ENOSPC]);
	printf("DMR-STRESS %s most calls in flight on one file: %ld\n",
	       opt.label, (long)sx->max_in_flight);
	CHECK_EQ(sx->unexpected, 0);
	CHECK(sx->max_in_flight <= (long)DAXMIRROR_MAX_CALLS,
	      "%ld calls in flight, the limit is %llu", (long)sx->max_in_flight,
	      (unsigned long long)DAXMIRROR_MAX_CALLS);
	CHECK(sx->max_in_flight > 1, "never two calls in flight on one file");
	CHECK(sx->errs_by[0] > 0, "no call succeeded");
	CHECK(sx->kills > 0, "no child was killed");
	for (int i = 0; i < STRESS_FDS; i++)
		close(sx->fds[i]);
	for (int i = 0; i < STRESS_FILES; i++)
		target_destroy(&sx->t[i]);
	free(sx);
	return counters_zero("after stress");
}

static int case_leaks(void)
{
	return counters_zero("end of suite");
}

static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
	{ "read_equal", case_read_equal }, { "events", case_events },
	{ "no_pin", case_no_pin },	    { "race", case_race },
	{ "lifecycle", case_lifecycle },   { "fuzz", case_fuzz },
	{ "query", case_query },	    { "query_race", case_query_race },
	{ "refuse", case_refuse },	    { "poison", case_poison },
	{ "kill", case_kill },		    { "stress", case_stress },
	{ "leaks", case_leaks },
};

int main(int argc, char **argv)
{
	const char *name = NULL;
	struct stat sb;
	int c;

	while ((c = getopt(argc, argv, "c:p:l:n:s:yr")) != -1) {
		switch (c) {
		case 'y': opt.race_sync = true; break;
		case 'r': opt.clone = true; break;
		case 'c': name = optarg; break;
		case 'p': opt.path = optarg; break;
		case 'l': opt.label = optarg; break;
		case 'n': opt.count = atol(optarg); break;
		case 's': opt.seed = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s -c CASE [-p PATH] [-l LABEL] "
				"[-n COUNT] [-s SEED] [-y] [-r]\n", argv[0]);
			return 1;
		}
	}
	rng_state = opt.seed ? opt.seed : 1;
	opt.devdax = !stat(opt.path, &sb) && S_ISCHR(sb.st_mode);
	if (access("/dev/" DAXMIRROR_DEVICE_NAME, R_OK | W_OK)) {
		fprintf(stderr, "no /dev/%s: %s\n", DAXMIRROR_DEVICE_NAME,
			strerror(errno));
		return 4;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGCHLD, SIG_DFL); /* init may have left it ignored */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (name && !strcmp(name, cases[i].name))
			return cases[i].fn() ? 1 : 0;
	fprintf(stderr, "unknown case '%s'\n", name ? name : "");
	return 1;
}
