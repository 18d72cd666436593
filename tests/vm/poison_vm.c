// SPDX-License-Identifier: MIT
/*
 * poison_vm.c -- real memory poison in a mapped segment (the VM suite;
 * run as root on a kernel with CONFIG_MEMORY_FAILURE, which Debian's
 * guest kernels have and this project's hosts refuse).
 *
 *   poison_vm DIR     DIR on fsdax (ext4/xfs -o dax) or on tmpfs
 *
 * A database with 2 MiB segments and 8,000 keys is written and closed.
 * One page in the middle of its first segment is poisoned, by a child
 * process (madvise(MADV_HWPOISON) sends its caller a SIGBUS at once,
 * which is not daxkv's to take):
 *   - on tmpfs, madvise(MADV_HWPOISON) through a mapping of the file: the
 *     kernel's memory_failure() marks the page and unmaps it from every
 *     mapping; the next load raises SIGBUS BUS_MCEERR_AR, as a real
 *     uncorrectable error does;
 *   - on fsdax, memory_failure() unmaps the page but a DAX fault does not
 *     look at the page's poison flag (emulated NVDIMMs hold no real
 *     poison), so the file's block is first added to the pmem disk's bad
 *     blocks (/sys/dev/block/MAJ:MIN/badblocks, found with FIEMAP), which
 *     is what the pmem driver and libpmem2 read, and the test drops its
 *     own handle's page table entries for the page (zap_own_mapping): the
 *     next fault on the page gets SIGBUS, and open and check see it.
 * Then, with the process surviving each:
 *   - an open handle (opened before the poison): daxkv_get of a key on
 *     that page, a scan, and daxkv_compact() return DAXKV_EIO naming
 *     seg-00000000.dat and an offset on the page; keys elsewhere read;
 *   - after close: daxkv_check reports the media error, and a fresh
 *     daxkv_open (recovery's scan) returns DAXKV_EIO or DAXKV_ECORRUPT
 *     naming the file and offset;
 *   - salvage (DAXKV_OPEN_SALVAGE) opens the database, and every key whose
 *     record lies wholly outside the poisoned page reads back.
 * Exit 0 when all hold, 1 on a failure, 4 when the kernel refuses
 * MADV_HWPOISON (not root, no CONFIG_MEMORY_FAILURE): then it says why.
 * Prints "poison_vm: ..." lines the suite's log keeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/fiemap.h>
#include <linux/fs.h>

#include "daxkv.h"

#define NKEYS 8000
#define VLEN 100
#define RECSZ 152u /* 32 + 16 + 100, 8-aligned */
#define SEGSZ (2u << 20)
#define PAGE_OFF (256u << 10) /* the page poisoned: 256 KiB into seg 0 */

static int failures;

#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("poison_vm: FAIL line %d: ", __LINE__);        \
			printf(__VA_ARGS__);                                   \
			printf(" (%s)\n", daxkv_errmsg());                     \
			failures++;                                            \
		}                                                              \
	} while (0)

static void key_of(char *k, int i)
{
	snprintf(k, 17, "key-%012d", i);
}

static unsigned rec_off(int i)
{
	return 4096u + (unsigned)i * RECSZ;
}

/* Does key i's record touch the poisoned page? */
static int on_page(int i)
{
	return rec_off(i) + RECSZ > PAGE_OFF && rec_off(i) < PAGE_OFF + 4096;
}

static int count_fn(const void *k, size_t kl, const void *v, size_t vl,
		    void *arg)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*(long *)arg)++;
	return 0;
}

static int readable(daxkv *db, int skip_page)
{
	char k[32], v[VLEN];
	size_t vlen;
	int bad = 0;

	for (int i = 0; i < NKEYS; i++) {
		if (skip_page && on_page(i))
			continue;
		key_of(k, i);
		if (daxkv_get(db, k, 16, v, sizeof(v), &vlen) != 0 ||
		    vlen != VLEN || v[0] != (char)('a' + i % 26))
			bad++;
	}
	return bad;
}

static void child_sigbus(int sig)
{
	(void)sig;
	_exit(0); /* madvise's own SIGBUS: the page is poisoned */
}

/*
 * On a DAX block device: add the disk blocks under [off, off + 4096) of
 * @p fd to the device's bad blocks.  0 done, 1 not a block device with a
 * badblocks file (tmpfs), -1 failed (printed).
 */
static int add_badblock(int fd, unsigned off)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent ext[1];
	} q;
	struct stat st;
	char path[128];
	unsigned long long phys;
	FILE *f;

	if (fstat(fd, &st) != 0)
		return -1;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/badblocks",
		 major(st.st_dev), minor(st.st_dev));
	if (access(path, W_OK) != 0)
		return 1;
	memset(&q, 0, sizeof(q));
	q.fm.fm_start = off;
	q.fm.fm_length = 4096;
	q.fm.fm_flags = FIEMAP_FLAG_SYNC;
	q.fm.fm_extent_count = 1;
	if (ioctl(fd, FS_IOC_FIEMAP, &q.fm) != 0 || q.fm.fm_mapped_extents != 1) {
		printf("poison_vm: FAIL fiemap: %s\n", strerror(errno));
		return -1;
	}
	phys = q.ext[0].fe_physical + (off - q.ext[0].fe_logical);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%llu 8\n", phys / 512) < 0 || fclose(f) != 0) {
		printf("poison_vm: FAIL write %s: %s\n", path, strerror(errno));
		return -1;
	}
	printf("poison_vm: %s: sectors %llu+8 added (file offset %u)\n", path,
	       phys / 512, off);
	return 0;
}

/*
 * Drop this process's page table entries for the page at PAGE_OFF of
 * @p seg0 (the database handle's mapping, found in /proc/self/maps), as
 * memory_failure() does for every mapping of a poisoned page where the
 * file system supports it: the next load faults, and the fault sees the
 * bad block.  (For an fsdax page the kernel here leaves them: the DAX
 * pages of ext4, and of xfs without rmapbt, get no notify_failure.)
 */
static void zap_own_mapping(const char *seg0)
{
	char line[1024];
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;

		if (!strstr(line, seg0) ||
		    sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) != 3 ||
		    off > PAGE_OFF || lo + (PAGE_OFF - off) + 4096 > hi)
			continue;
		madvise((void *)(lo + (PAGE_OFF - off)), 4096, MADV_DONTNEED);
	}
	if (f)
		fclose(f);
}

/* Poison the page at PAGE_OFF of @p seg0, in a child: 0, 1 fail, 4 the
 * kernel refuses. */
static int poison(const char *seg0)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct sigaction sa;
		char *p;
		int fd = open(seg0, O_RDWR);

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = child_sigbus;
		sigaction(SIGBUS, &sa, NULL);
		p = fd < 0 ? MAP_FAILED :
			     mmap(NULL, SEGSZ, PROT_READ | PROT_WRITE,
				  MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			printf("poison_vm: FAIL map %s: %s\n", seg0,
			       strerror(errno));
			_exit(1);
		}
		if (add_badblock(fd, PAGE_OFF) < 0)
			_exit(1);
		fflush(stdout);
		(void)*(volatile char *)(p + PAGE_OFF);
		if (madvise(p + PAGE_OFF, 4096, MADV_HWPOISON) != 0) {
			printf("poison_vm: skipped: madvise(MADV_HWPOISON): %s "
			       "(needs root and CONFIG_MEMORY_FAILURE)\n",
			       strerror(errno));
			fflush(stdout);
			_exit(4);
		}
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	if (WEXITSTATUS(status))
		return WEXITSTATUS(status);
	zap_own_mapping(seg0);
	return 0;
}

int main(int argc, char **argv)
{
	struct daxkv_options o;
	char dir[512], seg0[600], k[32], v[VLEN];
	size_t vlen;
	long n = 0;
	int rc, victim = -1;
	daxkv *db;

	if (argc != 2) {
		fprintf(stderr, "usage: poison_vm DIR\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/poison-db", argv[1]);
	snprintf(seg0, sizeof(seg0), "%s/seg-00000000.dat", dir);
	daxkv_options_init(&o);
	o.segment_size = SEGSZ;
	o.flags = DAXKV_OPEN_NOCOMPACT;
	if (daxkv_open(dir, &o, &db) != 0) {
		printf("poison_vm: FAIL create: %s\n", daxkv_errmsg());
		return 1;
	}
	for (int i = 0; i < NKEYS && rec_off(i) + RECSZ <= SEGSZ; i++) {
		key_of(k, i);
		memset(v, 'a' + i % 26, sizeof(v));
		if (daxkv_put(db, k, 16, v, sizeof(v)) != 0) {
			printf("poison_vm: FAIL put: %s\n", daxkv_errmsg());
			return 1;
		}
	}
	for (int i = 0; i < NKEYS; i++)
		if (on_page(i) && rec_off(i) >= PAGE_OFF) {
			victim = i;
			break;
		}

	/* poison one page of segment 0 while the handle maps it */
	rc = poison(seg0);
	if (rc)
		return rc;
	printf("poison_vm: %s: page at offset %u poisoned (key %d on it)\n",
	       argv[1], PAGE_OFF, victim);

	key_of(k, victim);
	rc = daxkv_get(db, k, 16, v, sizeof(v), &vlen);
	EXPECT(rc == DAXKV_EIO && strstr(daxkv_errmsg(), "seg-00000000.dat offset"),
	       "get on the poisoned page returned %d", rc);
	printf("poison_vm: get: %s\n", daxkv_errmsg());
	EXPECT(readable(db, 1) == 0, "keys off the page read back");
	rc = daxkv_scan(db, NULL, 0, NULL, 0, count_fn, &n);
	EXPECT(rc == DAXKV_EIO, "scan returned %d", rc);
	printf("poison_vm: scan: %s\n", daxkv_errmsg());
	/* make segment 0 a victim, most of it dead (keys on the page are not
	 * rewritten: a write stores a superseded mark into the old version,
	 * and writes are not guarded), and the next segment one too, sealed
	 * and half dead, so that one round frees a segment: then compact */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < NKEYS; i++) {
			if (on_page(i) || i % 4 == 0)
				continue;
			key_of(k, i);
			memset(v, 'a' + i % 26, sizeof(v));
			daxkv_put(db, k, 16, v, sizeof(v));
		}
	{
		static char big[64 << 10];

		for (int i = 0; i < 40; i++) {
			snprintf(k, sizeof(k), "big%d", i);
			daxkv_put(db, k, strlen(k), big, sizeof(big));
		}
		for (int i = 0; i < 40; i++) {
			snprintf(k, sizeof(k), "big%d", i);
			daxkv_delete(db, k, strlen(k));
		}
	}
	rc = daxkv_compact(db);
	EXPECT(rc == DAXKV_EIO && strstr(daxkv_errmsg(), "seg-00000000.dat offset"),
	       "compact returned %d", rc);
	printf("poison_vm: compact: %d %s\n", rc, daxkv_errmsg());
	rc = daxkv_close(db);
	EXPECT(rc == 0, "close returned %d", rc);

	{
		struct daxkv_check_options co = {
			.version = DAXKV_CHECK_OPTIONS_VERSION
		};
		struct daxkv_check_result cr = {
			.version = DAXKV_CHECK_RESULT_VERSION
		};

		rc = daxkv_check(dir, &co, &cr);
		EXPECT(rc == 0 && cr.problems > 0, "check found %llu problems",
		       (unsigned long long)cr.problems);
	}
	o.flags = DAXKV_OPEN_NOCOMPACT | DAXKV_OPEN_NOCHECKPOINT;
	rc = daxkv_open(dir, &o, &db);
	EXPECT((rc == DAXKV_EIO || rc == DAXKV_ECORRUPT) &&
		       strstr(daxkv_errmsg(), "seg-00000000.dat"),
	       "open returned %d", rc);
	printf("poison_vm: open: %s\n", daxkv_errmsg());
	if (rc == 0)
		daxkv_close(db);
	o.flags = DAXKV_OPEN_SALVAGE | DAXKV_OPEN_NOCOMPACT;
	rc = daxkv_open(dir, &o, &db);
	EXPECT(rc == 0, "salvage returned %d", rc);
	if (rc == 0) {
		int bad = readable(db, 1);

		EXPECT(bad == 0, "%d keys off the page lost", bad);
		daxkv_close(db);
		o.flags = 0;
		rc = daxkv_open(dir, &o, &db);
		EXPECT(rc == 0, "open after salvage returned %d", rc);
		if (rc == 0)
			daxkv_close(db);
	}
	printf("poison_vm: %s: %s\n", argv[1], failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
