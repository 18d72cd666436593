// SPDX-License-Identifier: MIT
/*
 * fuzz_open.c -- libFuzzer target: open a database whose files were
 * mutated.  A template database (a few puts, a delete, a batch, a clean
 * close, so it has a checkpoint) is built once; each input is a list of
 * mutations applied to a copy of it, then daxkv_open must either fail
 * with an error code or open a database that can be read, scanned,
 * written and closed.  Crashes, hangs, leaks and sanitizer reports are
 * the failures.
 *
 * Input: byte 0 = open flags (bit 0: NOCHECKPOINT, bit 1: drop the
 * checkpoint file, bit 2: append a record after the open), then records of
 *   u8 target (0 segment header/records, 1 meta root object,
 *              2 meta pool header, 3 checkpoint), u16 offset, u8 n, n bytes
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpmemobj.h>

#include "daxkv.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEG_SIZE (2u << 20)
#define META_SIZE (8u << 20)

static char dir[256];
static uint8_t *tmpl_seg, *tmpl_meta, *tmpl_ckpt;
static size_t ckpt_len, root_off;

static uint8_t *slurp(const char *name, size_t *len)
{
	char path[512];
	struct stat st;
	uint8_t *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0)
		abort();
	buf = malloc((size_t)st.st_size);
	if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
		abort();
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void spit(const char *name, const uint8_t *buf, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		abort();
	close(fd);
}

static void cleanup(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* A crash ends the process without atexit: remove what dead runs left. */
static void remove_stale(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		char cmd[300];
		int pid;

		if (sscanf(de->d_name, "daxkv-fuzz-open-%d", &pid) != 1 ||
		    pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(cmd, sizeof(cmd), "rm -rf /dev/shm/%s", de->d_name);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove /dev/shm/%s\n", de->d_name);
	}
	if (d)
		closedir(d);
}

/*
 * libpmemobj allocates and frees some hundred blocks per pool open (lanes,
 * heap buckets, runtime state); under ASan each goes through the
 * sanitizer's allocator, quarantine and libFuzzer's malloc hooks, which
 * cost more than the open itself.  libpmemobj is not instrumented anyway,
 * so its allocations go to glibc directly (pmemobj_set_funcs): about 1.8x
 * the executions per second (24 -> 44 on one core, 2026-12-01).  The
 * engine's own allocations stay under ASan
 * and LSan.  DAXKV_FUZZ_PMDK_ASAN=1 keeps libpmemobj on ASan's allocator
 * too, to look for leaks inside it.
 */
extern void *__libc_malloc(size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);

static char *libc_strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = __libc_malloc(len);

	if (p)
		memcpy(p, s, len);
	return p;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct daxkv_options opts;
	daxkv_batch *b;
	daxkv *db;
	PMEMobjpool *pop;
	char path[512];
	size_t len;

	(void)argc;
	(void)argv;
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	if (!getenv("DAXKV_FUZZ_PMDK_ASAN") ||
	    strcmp(getenv("DAXKV_FUZZ_PMDK_ASAN"), "1") != 0)
		pmemobj_set_funcs(__libc_malloc, __libc_free, __libc_realloc,
				  libc_strdup);
	remove_stale();
	/*
	 * DAXKV_FUZZ_DIR: a tmpfs mounted huge=always, where one exists,
	 * runs about twice as many executions a second on a VM with shadow
	 * paging (crashsim.c says why: each pool open touches libpmemobj's
	 * lanes in a fresh mapping).  Stale directories are only looked for
	 * in /dev/shm.
	 */
	{
		const char *top = getenv("DAXKV_FUZZ_DIR");

		if (!top || !*top)
			top = "/dev/shm";
		if (strlen(top) > 200)
			abort();
		snprintf(dir, sizeof(dir), "%s/daxkv-fuzz-open-%d", top,
			 (int)getpid());
	}
	atexit(cleanup);
	daxkv_options_init(&opts);
	opts.segment_size = SEG_SIZE;
	opts.recovery_threads = 1;
	if (daxkv_open(dir, &opts, &db))
		abort();
	for (int i = 0; i < 20; i++) {
		char key[16], val[64];

		snprintf(key, sizeof(key), "key%02d", i);
		snprintf(val, sizeof(val), "value of key %d", i * 7);
		daxkv_put(db, key, strlen(key), val, strlen(val) + i);
	}
	daxkv_put(db, "key03", 5, "again", 5);
	daxkv_delete(db, "key05", 5);
	daxkv_batch_new(&b);
	daxkv_batch_put(b, "bat1", 4, "x", 1);
	daxkv_batch_put(b, "bat2", 4, "yy", 2);
	daxkv_batch_delete(b, "key07", 5);
	daxkv_batch_commit(db, b);
	daxkv_batch_free(b);
	if (daxkv_close(db))
		abort();
	tmpl_seg = slurp("seg-00000000.dat", &len);
	if (len != SEG_SIZE)
		abort();
	tmpl_meta = slurp("meta.pool", &len);
	if (len != META_SIZE)
		abort();
	tmpl_ckpt = slurp("checkpoint.dat", &ckpt_len);
	/* where the root object lies, for targeted mutations */
	snprintf(path, sizeof(path), "%s/meta.pool", dir);
	pop = pmemobj_open(path, "daxkv");
	if (!pop)
		abort();
	root_off = (size_t)((uint8_t *)pmemobj_direct(pmemobj_root(pop, 1)) -
			    (uint8_t *)pop);
	pmemobj_close(pop);
	return 0;
}

static int scan_cb(const void *key, size_t klen, const void *val, size_t vlen,
		   void *arg)
{
	static volatile uint8_t sink;

	(void)sink;

	for (size_t i = 0; i < klen; i++)
		sink ^= ((const uint8_t *)key)[i];
	for (size_t i = 0; i < vlen; i++)
		sink ^= ((const uint8_t *)val)[i];
	(void)arg;
	return 0;
}

/*
 * The files stay mapped; each run puts back only the pages that differ.
 * An open may remove or replace a file (a segment the damaged table no
 * longer names is deleted as an orphan; a damaged checkpoint is
 * dropped), so each run first checks that the name still leads to the
 * mapped file at its size, and maps a new one where it does not.
 * Otherwise later runs would restore an unlinked inode and open a
 * database without its segment.
 */
struct tmpl_file {
	const char *name;
	size_t len;
	uint8_t *addr;
	dev_t dev;
	ino_t ino;
};

static void map_file(struct tmpl_file *f)
{
	char path[512];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	if (f->addr) {
		if (stat(path, &st) == 0 && st.st_dev == f->dev &&
		    st.st_ino == f->ino && (size_t)st.st_size == f->len)
			return;
		munmap(f->addr, f->len);
		f->addr = NULL;
	}
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)f->len) != 0 || fstat(fd, &st))
		abort();
	f->addr = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (f->addr == MAP_FAILED)
		abort();
	f->dev = st.st_dev;
	f->ino = st.st_ino;
}

/* Remove what an earlier run added: new segments, temporary files. */
static void remove_extra(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		abort();
	while ((de = readdir(d)) != NULL) {
		char path[600];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "seg-00000000.dat") ||
		    !strcmp(de->d_name, "meta.pool") ||
		    !strcmp(de->d_name, "checkpoint.dat") ||
		    !strcmp(de->d_name, "lock"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) != 0 && rmdir(path) != 0)
			abort();
	}
	closedir(d);
}

static void restore(uint8_t *dst, const uint8_t *tmpl, size_t len)
{
	for (size_t off = 0; off < len; off += 4096)
		if (memcmp(dst + off, tmpl + off, 4096))
			memcpy(dst + off, tmpl + off, 4096);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tmpl_file segf = { "seg-00000000.dat", SEG_SIZE };
	static struct tmpl_file metaf = { "meta.pool", META_SIZE };
	uint8_t *seg, *meta;
	uint8_t *ckpt = malloc(ckpt_len);
	struct daxkv_options opts;
	size_t pos = 1;
	daxkv *db;
	char path[512];

	if (!ckpt || size < 1)
		goto out;
	remove_extra();
	map_file(&segf);
	map_file(&metaf);
	seg = segf.addr;
	meta = metaf.addr;
	restore(seg, tmpl_seg, SEG_SIZE);
	restore(meta, tmpl_meta, META_SIZE);
	memcpy(ckpt, tmpl_ckpt, ckpt_len);
	while (pos + 4 <= size) {
		uint8_t target = data[pos] % 4, n = data[pos + 3];
		size_t off = data[pos + 1] | (size_t)data[pos + 2] << 8;
		uint8_t *dst;
		size_t lim;

		pos += 4;
		if (n > size - pos)
			n = (uint8_t)(size - pos);
		switch (target) {
		case 0: dst = seg; lim = 8192; break; /* header + records */
		case 1: dst = meta + root_off; lim = 80 + 16 * 4; break;
		case 2: dst = meta; lim = 8192; break;
		default: dst = ckpt; lim = ckpt_len; break;
		}
		off %= lim;
		if (n > lim - off)
			n = (uint8_t)(lim - off);
		memcpy(dst + off, data + pos, n);
		pos += n;
	}
	snprintf(path, sizeof(path), "%s/checkpoint.dat", dir);
	if (data[0] & 2)
		unlink(path);
	else
		spit("checkpoint.dat", ckpt, ckpt_len);
	daxkv_options_init(&opts);
	opts.flags = DAXKV_OPEN_NOCREATE |
		     (data[0] & 1 ? DAXKV_OPEN_NOCHECKPOINT : 0);
	opts.recovery_threads = 1;
	if (daxkv_open(dir, &opts, &db) == 0) {
		char buf[256];
		size_t vlen;

		daxkv_get(db, "key03", 5, buf, sizeof(buf), &vlen);
		daxkv_get(db, "bat2", 4, buf, sizeof(buf), &vlen);
		daxkv_scan(db, NULL, 0, NULL, 0, scan_cb, NULL);
		if (data[0] & 4) /* appends: prepare_append on what it found */
			daxkv_put(db, "new", 3, "v", 1);
		daxkv_close(db);
	}
out:
	free(ckpt);
	return 0;
}
