// SPDX-License-Identifier: MIT
/*
 * crashsim.c -- crash-state enumeration for the engine.
 *
 * The engine runs on a working directory W with the persistence seam routed
 * here (DAXKV_PERSIST_HOOKS).  For every segment mapping the simulator keeps
 * a second, persisted image that receives a 64-byte line only when the
 * engine flushed it (dk_seam_flush, or copy_nodrain's non-temporal stores)
 * and a fence followed (dk_seam_drain, or the fence inside a metadata
 * commit).  Every fence and every metadata commit is a crash point: the
 * lines that differ between working and persisted image ("dirty") may each
 * have reached media or not, and a line may be torn at 8-byte granularity.
 * At each crash point the simulator builds crash images -- all subsets of
 * the dirty lines where there are few, random subsets (with torn lines)
 * where there are many -- in a check directory C, and a checker process
 * opens each with daxkv_open and compares every key, and a full scan,
 * against the model of acknowledged writes: acknowledged writes present
 * with their values, the one unacknowledged operation in flight all or
 * nothing, nothing torn.
 *
 * The metadata pool (libpmemobj) is taken as atomic at each dk_meta_set:
 * its image is the file as of the last one.  Its order against the data
 * stores is simulated: a metadata commit is a crash point with the old and
 * with the new metadata, before the fence it implies.
 *
 * The checker is a child forked before any pool is open (libpmemobj will
 * not open two pools with one uuid in one process); it logs what the
 * checked engine wrote to C so that C can be put back to the persisted
 * image cheaply, and if a damaged image crashes it, that is a failure too.
 *
 * Phase 1 runs a workload of puts, deletes and batches (segment roll-over
 * with --big; with --compact, that percentage of operations are
 * daxkv_compact() calls, whose every fence is a crash point too, and the
 * checker also counts the records a query sees, so that a record visible
 * twice on media is caught).  One crash image taken inside its last operation becomes
 * the start of phase 2, which recovers it with tracking on (so crashes
 * during recovery are simulated, and must recover to the same contents:
 * recovery is idempotent), writes more and closes cleanly.
 *
 * --plant N makes the simulator itself misbehave like a broken engine at
 * the seam, and --expect-violations then requires that it be caught:
 *   1  the fence after a record copy is skipped (drain dropped)
 *   2  record copies are never flushed (flush dropped)
 *   3  the segment header's flush happens after the metadata publishes the
 *      segment (a flush and a store swapped)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpmem.h>

#include "daxkv.h"
#include "persist.h"

#define LINE 64u
#define NKEYS 32
#define SEG_SIZE (2ull << 20)
#define META_SIZE (8ull << 20)
#define MAXMAPS 64
#define MAXUNDO 65536

void *__real_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp);
int __real_pmem_unmap(void *addr, size_t len);
void *__wrap_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp);
int __wrap_pmem_unmap(void *addr, size_t len);
void dk_seam_meta_set(const void *field, uint64_t val);

/* ---- the model: key k holds version ver (value derived from it) ---- */

struct kv_state {
	int32_t len[NKEYS]; /* -1: absent */
	uint32_t ver[NKEYS];
};

struct expect {
	struct kv_state old, new; /* new differs only on inflight keys */
	uint8_t inflight[NKEYS];
	int any_inflight;
};

static void key_name(int k, char *buf)
{
	snprintf(buf, 16, "key%02d", k);
}

static uint8_t val_byte(int k, uint32_t ver, size_t i)
{
	return (uint8_t)((k * 131u + ver * 17u + i * 7u) ^ (i >> 8));
}

/* ---- shared with the checker ---- */

struct undo {
	uint32_t slot, off, len;
};

struct shm {
	char dir[256];
	struct expect exp;
	int ok;
	char msg[512];
	uint32_t nundo;
	int undo_overflow;
	uint64_t ns_open, ns_verify, ns_close; /* the checker's time */
	struct undo undo[MAXUNDO];
};

static struct shm *shm;
static int to_child[2], from_child[2];
static pid_t child_pid;

/* ---- tracked mappings ---- */

struct tmap {
	uint32_t slot;
	uint8_t *base;   /* engine's mapping (working image), NULL after unmap */
	size_t size;
	uint8_t *pers;   /* persisted image */
	uint8_t *cand;   /* one bit per line: may differ from pers */
	uint8_t *chk;    /* our mapping of C/seg-N.dat, kept == pers */
	uint8_t *pdirty; /* one bit per 4 KiB page: pers changed, chk not yet */
	bool is_check;   /* a mapping made by the checker (child side) */
};

struct pend {
	struct tmap *tm;
	uint32_t line;
	uint8_t data[LINE];
};

static struct tmap maps[MAXMAPS];
static int nmaps;
static struct pend *pending;
static size_t npending, cap_pending;
static bool tracking;  /* parent: record seam traffic */
static bool in_child;
static int plant;
static char wdir[256], cdir[256], w2dir[256], faildir[256];
static uint8_t *meta_snap, *meta_chk;
static bool have_meta, meta_chk_dirty = true;
static uint64_t meta_ver, meta_chk_ver;

/* statistics and options */
static uint64_t states, points, violations, max_states = UINT64_MAX;
static unsigned enum_max = 7, samples = 20;
static uint64_t rng_state = 88172645463325252ull;
static int cur_op = -1, phase = 1;
static const char *cur_event = "";
static bool save_w2_at_drain;
static struct expect w2_exp; /* the model when W2 was taken */

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "crashsim: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static struct tmap *find_map(const void *addr, bool check_side)
{
	for (int i = 0; i < nmaps; i++) {
		struct tmap *tm = &maps[i];

		if (tm->base && tm->is_check == check_side &&
		    (const uint8_t *)addr >= tm->base &&
		    (const uint8_t *)addr < tm->base + tm->size)
			return tm;
	}
	return NULL;
}

static bool seg_slot_of(const char *path, uint32_t *slot)
{
	const char *base = strrchr(path, '/');
	char tail;

	base = base ? base + 1 : path;
	return sscanf(base, "seg-%8u.dat%c", slot, &tail) == 1;
}

static void chk_path(uint32_t slot, char *buf, size_t len)
{
	snprintf(buf, len, "%s/seg-%08u.dat", cdir, slot);
}

/* (Re)create C/seg-N.dat holding the persisted image, mapped as tm->chk. */
static void chk_create(struct tmap *tm)
{
	char path[512];
	int fd;

	chk_path(tm->slot, path, sizeof(path));
	if (tm->chk)
		munmap(tm->chk, tm->size);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)tm->size) != 0)
		die("%s: %s", path, strerror(errno));
	tm->chk = mmap(NULL, tm->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       0);
	close(fd);
	if (tm->chk == MAP_FAILED)
		die("mmap %s: %s", path, strerror(errno));
	memcpy(tm->chk, tm->pers, tm->size);
}

void *__wrap_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp)
{
	void *addr = __real_pmem_map_file(path, len, flags, mode, mapped_lenp,
					  is_pmemp);
	uint32_t slot;
	struct tmap *tm;

	if (!addr || !seg_slot_of(path, &slot) || (!tracking && !in_child))
		return addr;
	if (!in_child) {
		/* preloaded at the start of phase 2: now mapped */
		for (int i = 0; i < nmaps; i++)
			if (!maps[i].is_check && !maps[i].base &&
			    maps[i].slot == slot && maps[i].pers) {
				maps[i].base = addr;
				return addr;
			}
	}
	if (nmaps == MAXMAPS)
		die("too many mappings");
	tm = &maps[nmaps++];
	memset(tm, 0, sizeof(*tm));
	tm->slot = slot;
	tm->base = addr;
	tm->size = *mapped_lenp;
	tm->is_check = in_child;
	if (in_child)
		return addr;
	tm->pers = malloc(tm->size);
	tm->cand = calloc(tm->size / LINE / 8 + 1, 1);
	tm->pdirty = calloc(tm->size / 4096 / 8 + 1, 1);
	if (!tm->pers || !tm->cand || !tm->pdirty)
		die("out of memory");
	memcpy(tm->pers, addr, tm->size); /* new: zeros; phase 2: the image */
	chk_create(tm);
	return addr;
}

int __wrap_pmem_unmap(void *addr, size_t len)
{
	for (int i = 0; i < nmaps; i++)
		if (maps[i].base == addr) {
			if (maps[i].is_check) {
				maps[i] = maps[--nmaps];
			} else {
				maps[i].base = NULL; /* keep its images */
			}
			break;
		}
	return __real_pmem_unmap(addr, len);
}

/* ---- the seam ---- */

static void cand_set(struct tmap *tm, uint32_t line)
{
	tm->cand[line / 8] |= (uint8_t)(1u << (line % 8));
}

static void child_log(const void *addr, size_t len)
{
	struct tmap *tm = find_map(addr, true);

	if (!tm)
		return;
	if (shm->nundo == MAXUNDO) {
		shm->undo_overflow = 1;
		return;
	}
	shm->undo[shm->nundo].slot = tm->slot;
	shm->undo[shm->nundo].off = (uint32_t)((const uint8_t *)addr - tm->base);
	shm->undo[shm->nundo].len = (uint32_t)len;
	shm->nundo++;
}

static void add_pending(struct tmap *tm, const void *addr, size_t len)
{
	uint64_t first = ((const uint8_t *)addr - tm->base) / LINE;
	uint64_t last = ((const uint8_t *)addr - tm->base + len - 1) / LINE;

	for (uint64_t l = first; l <= last; l++) {
		if (npending == cap_pending) {
			cap_pending = cap_pending ? 2 * cap_pending : 4096;
			pending = realloc(pending, cap_pending * sizeof(*pending));
			if (!pending)
				die("out of memory");
		}
		pending[npending].tm = tm;
		pending[npending].line = (uint32_t)l;
		memcpy(pending[npending].data, tm->base + l * LINE, LINE);
		npending++;
	}
}

static void mark_cand(struct tmap *tm, const void *addr, size_t len)
{
	uint64_t first = ((const uint8_t *)addr - tm->base) / LINE;
	uint64_t last = ((const uint8_t *)addr - tm->base + len - 1) / LINE;

	for (uint64_t l = first; l <= last; l++)
		cand_set(tm, (uint32_t)l);
}

/* plant 3: header lines held back until after the next metadata commit */
static struct tmap *held_hdr;

void dk_seam_copy_nodrain(void *dst, const void *src, size_t len)
{
	struct tmap *tm;

	memcpy(dst, src, len);
	if (in_child) {
		child_log(dst, len);
		return;
	}
	if (!tracking || !len || !(tm = find_map(dst, false)))
		return;
	mark_cand(tm, dst, len);
	if (plant == 2 && (uint8_t *)dst - tm->base >= 4096)
		return; /* planted: record copy never flushed */
	if (plant == 3 && (uint8_t *)dst == tm->base) {
		held_hdr = tm;
		return;
	}
	add_pending(tm, dst, len);
}

void dk_seam_flush(const void *addr, size_t len)
{
	struct tmap *tm;

	if (in_child || !tracking || !len || !(tm = find_map(addr, false)))
		return;
	add_pending(tm, addr, len);
}

void dk_seam_store8(uint64_t *addr, uint64_t val)
{
	struct tmap *tm;

	__atomic_store_n(addr, val, __ATOMIC_RELEASE);
	if (in_child) {
		child_log(addr, 8);
		return;
	}
	if (!tracking || !(tm = find_map(addr, false)))
		return;
	mark_cand(tm, addr, 8);
}

static void crash_point(const char *event);

static void apply_pending(void)
{
	for (size_t i = 0; i < npending; i++) {
		struct tmap *tm = pending[i].tm;
		size_t page = (size_t)pending[i].line * LINE / 4096;

		memcpy(tm->pers + (size_t)pending[i].line * LINE,
		       pending[i].data, LINE);
		tm->pdirty[page / 8] |= (uint8_t)(1u << (page % 8));
	}
	npending = 0;
}

static bool pending_has_record(void)
{
	for (size_t i = 0; i < npending; i++)
		if (pending[i].line >= 4096 / LINE)
			return true;
	return false;
}

void dk_seam_drain(void)
{
	if (in_child || !tracking)
		return;
	crash_point("fence");
	if (plant == 1 && pending_has_record())
		return; /* planted: fence dropped, lines wait for a later one */
	apply_pending();
}

static void meta_snapshot(void)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/meta.pool", wdir);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, meta_snap, META_SIZE, 0) != (ssize_t)META_SIZE)
		die("%s: cannot snapshot", path);
	close(fd);
	have_meta = true;
	meta_ver++;
}

void dk_seam_meta_set(const void *field, uint64_t val)
{
	(void)field;
	(void)val;
	if (in_child || !tracking)
		return;
	/* the new word may not have landed yet: old metadata ... */
	if (have_meta)
		crash_point("meta-old");
	meta_snapshot();
	/* ... or it has, and the data lines around it in any subset */
	crash_point("meta-new");
	apply_pending(); /* pmemobj_persist's fence covers them too */
	if (held_hdr) {
		add_pending(held_hdr, held_hdr->base, 64);
		held_hdr = NULL;
	}
}

/* ---- building crash images in C ---- */

struct dline {
	struct tmap *tm;
	uint32_t line;
};

static struct dline *dl;
static size_t ndl, cap_dl;
static struct undo *pundo;
static size_t npundo, cap_pundo;

static void collect_dirty(void)
{
	ndl = 0;
	for (int i = 0; i < nmaps; i++) {
		struct tmap *tm = &maps[i];
		uint32_t nlines = (uint32_t)(tm->size / LINE);

		if (tm->is_check || !tm->base)
			continue;
		for (uint32_t b = 0; b < nlines / 8; b++) {
			if (!tm->cand[b])
				continue;
			for (uint32_t l = b * 8; l < b * 8 + 8; l++) {
				size_t off = (size_t)l * LINE;

				if (!(tm->cand[l / 8] & (1u << (l % 8))))
					continue;
				if (!memcmp(tm->base + off, tm->pers + off,
					    LINE)) {
					tm->cand[l / 8] &=
						(uint8_t) ~(1u << (l % 8));
					continue;
				}
				if (ndl == cap_dl) {
					cap_dl = cap_dl ? 2 * cap_dl : 1024;
					dl = realloc(dl, cap_dl * sizeof(*dl));
				}
				dl[ndl].tm = tm;
				dl[ndl].line = l;
				ndl++;
			}
		}
	}
}

static void push_undo(uint32_t slot, uint32_t off, uint32_t len)
{
	if (npundo == cap_pundo) {
		cap_pundo = cap_pundo ? 2 * cap_pundo : 1024;
		pundo = realloc(pundo, cap_pundo * sizeof(*pundo));
	}
	pundo[npundo].slot = slot;
	pundo[npundo].off = off;
	pundo[npundo].len = len;
	npundo++;
}

/* Put the new content of dirty line i into C, whole or 8-byte words by mask. */
static void apply_line(size_t i, uint8_t wordmask)
{
	struct tmap *tm = dl[i].tm;
	size_t off = (size_t)dl[i].line * LINE;

	for (unsigned w = 0; w < LINE / 8; w++)
		if (wordmask & (1u << w))
			memcpy(tm->chk + off + w * 8, tm->base + off + w * 8, 8);
	push_undo(tm->slot, (uint32_t)off, LINE);
}

static struct tmap *map_by_slot(uint32_t slot)
{
	for (int i = nmaps - 1; i >= 0; i--)
		if (!maps[i].is_check && maps[i].slot == slot)
			return &maps[i];
	return NULL;
}

static void restore_range(uint32_t slot, uint32_t off, uint32_t len)
{
	struct tmap *tm = map_by_slot(slot);

	if (tm && tm->chk && off + (uint64_t)len <= tm->size)
		memcpy(tm->chk + off, tm->pers + off, len);
}

static void sync_meta(void)
{
	char path[512];

	if (!meta_chk) {
		int fd;

		snprintf(path, sizeof(path), "%s/meta.pool", cdir);
		fd = open(path, O_RDWR | O_CREAT, 0644);
		if (fd < 0 || ftruncate(fd, (off_t)META_SIZE) != 0)
			die("%s: %s", path, strerror(errno));
		meta_chk = mmap(NULL, META_SIZE, PROT_READ | PROT_WRITE,
				MAP_SHARED, fd, 0);
		close(fd);
		if (meta_chk == MAP_FAILED)
			die("mmap %s", path);
		meta_chk_dirty = true;
	}
	if (!meta_chk_dirty && meta_chk_ver == meta_ver)
		return;
	for (size_t off = 0; off < META_SIZE; off += 4096)
		if (memcmp(meta_chk + off, meta_snap + off, 4096))
			memcpy(meta_chk + off, meta_snap + off, 4096);
	meta_chk_dirty = false;
	meta_chk_ver = meta_ver;
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY), out;

	if (in < 0)
		return;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		die("%s: %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			die("%s: short write", to);
	close(in);
	close(out);
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[600];

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (!de->d_name[1] ||
					     !strcmp(de->d_name, "..")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Copy the whole of C (as it is now: a crash image) to @p dir. */
static void save_image(const char *dir)
{
	DIR *d;
	struct dirent *de;
	char from[600], to[600];

	rm_dir(dir);
	mkdir(dir, 0755);
	d = opendir(cdir);
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "lock"))
			continue;
		snprintf(from, sizeof(from), "%s/%s", cdir, de->d_name);
		snprintf(to, sizeof(to), "%s/%s", dir, de->d_name);
		copy_file(from, to);
	}
	if (d)
		closedir(d);
}

static void spawn_checker(void);

static pid_t main_pid;

/* On any exit of the main process (die() included): no directories left. */
static void remove_dirs(void)
{
	if (getpid() != main_pid)
		return;
	rm_dir(wdir);
	rm_dir(w2dir);
	rm_dir(cdir);
}

/* Run the checker on C as it is now; count and report. */
static void check_image(const char *what)
{
	char c = 'c';
	char path[600];

	sync_meta();
	snprintf(path, sizeof(path), "%s/checkpoint.dat", wdir);
	if (access(path, F_OK) == 0) {
		char to[600];

		snprintf(to, sizeof(to), "%s/checkpoint.dat", cdir);
		copy_file(path, to);
	}
	shm->nundo = 0;
	shm->undo_overflow = 0;
	shm->ok = 0;
	shm->msg[0] = '\0';
	if (write(to_child[1], &c, 1) != 1 || read(from_child[0], &c, 1) != 1) {
		int status = 0;

		waitpid(child_pid, &status, 0);
		snprintf(shm->msg, sizeof(shm->msg),
			 "checker died (status 0x%x) opening the image", status);
		shm->ok = 0;
		spawn_checker();
	}
	states++;
	if (!shm->ok) {
		violations++;
		if (violations <= 10)
			fprintf(stderr,
				"VIOLATION phase %d op %d event %s point %llu "
				"state %s: %s\n",
				phase, cur_op, cur_event,
				(unsigned long long)points, what, shm->msg);
		if (!faildir[0]) {
			snprintf(faildir, sizeof(faildir),
				 "/dev/shm/crashsim-fail-%d", (int)getpid());
			save_image(faildir);
			fprintf(stderr, "  first failing image kept in %s\n",
				faildir);
		}
	}
	/* put C back to the persisted image */
	for (size_t i = 0; i < npundo; i++)
		restore_range(pundo[i].slot, pundo[i].off, pundo[i].len);
	npundo = 0;
	for (uint32_t i = 0; i < shm->nundo; i++)
		restore_range(shm->undo[i].slot, shm->undo[i].off,
			      shm->undo[i].len);
	for (int i = 0; i < nmaps; i++) {
		struct tmap *tm = &maps[i];

		if (tm->is_check || !tm->chk)
			continue;
		chk_path(tm->slot, path, sizeof(path));
		if (shm->undo_overflow || access(path, F_OK) != 0)
			chk_create(tm); /* removed as an orphan, or too much */
	}
	meta_chk_dirty = true;
	snprintf(path, sizeof(path), "%s/checkpoint.dat", cdir);
	unlink(path);
}

/* Bring C's segment files up to the persisted images (after fences). */
static uint64_t synced_gen, pers_gen;

static void sync_chk(void)
{
	if (synced_gen == pers_gen)
		return;
	/*
	 * Only the pages apply_pending() wrote into pers can differ: every
	 * check_image() puts C back to pers (the undo logs, or chk_create()
	 * when they overflowed), and nothing else writes pers.  Comparing
	 * whole segments here was a tenth of crashsim's time.
	 */
	for (int i = 0; i < nmaps; i++) {
		struct tmap *tm = &maps[i];
		size_t npages = tm->size / 4096;

		if (tm->is_check || !tm->chk || !tm->pdirty)
			continue;
		for (size_t p = 0; p < npages; p++) {
			size_t off = p * 4096;

			if (!(tm->pdirty[p / 8] & (1u << (p % 8)))) {
				if (!tm->pdirty[p / 8])
					p |= 7; /* skip the byte's pages */
				continue;
			}
			memcpy(tm->chk + off, tm->pers + off, 4096);
		}
		memset(tm->pdirty, 0, npages / 8 + 1);
	}
	synced_gen = pers_gen;
}

static void crash_point(const char *event)
{
	char what[64];

	pers_gen++; /* the caller is about to move lines into pers */
	if (!have_meta || (states >= max_states && !save_w2_at_drain))
		return;
	points++;
	cur_event = event;
	sync_chk();
	collect_dirty();
	if (save_w2_at_drain && ndl > 0 && !strcmp(event, "fence")) {
		/* phase 2 starts from a random half of this operation */
		for (size_t i = 0; i < ndl; i++)
			if (rnd() & 1)
				apply_line(i, 0xff);
		save_image(w2dir);
		w2_exp = shm->exp;
		npundo = 0;
		for (int i = 0; i < nmaps; i++)
			if (!maps[i].is_check && maps[i].chk)
				memcpy(maps[i].chk, maps[i].pers, maps[i].size);
		save_w2_at_drain = false;
	}
	if (states >= max_states)
		return;
	if (ndl <= enum_max) {
		/* every subset of whole lines, then each line torn */
		for (uint64_t set = 0; set < (1ull << ndl); set++) {
			for (size_t i = 0; i < ndl; i++)
				if (set & (1ull << i))
					apply_line(i, 0xff);
			snprintf(what, sizeof(what), "subset 0x%llx of %zu",
				 (unsigned long long)set, ndl);
			check_image(what);
		}
		for (size_t t = 0; t < ndl; t++) {
			uint8_t mask = (uint8_t)(1 + rnd() % 254);

			apply_line(t, mask);
			snprintf(what, sizeof(what), "line %zu torn 0x%02x", t,
				 mask);
			check_image(what);
		}
		return;
	}
	for (unsigned s = 0; s < samples; s++) {
		unsigned pct = (unsigned[]){ 10, 50, 90 }[s % 3];
		size_t prefix = rnd() % (ndl + 1);

		for (size_t i = 0; i < ndl; i++) {
			bool in = (s % 4 == 3) ? i < prefix :
						 rnd() % 100 < pct;

			if (in)
				apply_line(i, rnd() % 4 == 0 ?
						      (uint8_t)(1 + rnd() % 254) :
						      0xff);
		}
		snprintf(what, sizeof(what), "sample %u of %zu lines", s, ndl);
		check_image(what);
	}
}

/* ---- the checker (child) ---- */

struct scan_ctx {
	const struct kv_state *st;
	int count;
	char *msg;
};

static bool value_ok(int k, const struct kv_state *st, const uint8_t *val,
		     size_t vlen)
{
	if (st->len[k] < 0 || vlen != (size_t)st->len[k])
		return false;
	for (size_t i = 0; i < vlen; i++)
		if (val[i] != val_byte(k, st->ver[k], i))
			return false;
	return true;
}

static int scan_cb(const void *key, size_t klen, const void *val, size_t vlen,
		   void *arg)
{
	struct scan_ctx *sc = arg;
	int k = -1;

	if (klen == 5 && !memcmp(key, "key", 3))
		k = (((const char *)key)[3] - '0') * 10 +
		    ((const char *)key)[4] - '0';
	if (k < 0 || k >= NKEYS || !value_ok(k, sc->st, val, vlen)) {
		snprintf(sc->msg, 512, "scan: key %.*s has a wrong or torn "
			 "value (%zu bytes)", (int)klen, (const char *)key,
			 vlen);
		return 1;
	}
	sc->count++;
	return 0;
}

static uint8_t getbuf[DAXKV_MAX_VALUE];

/* Compare the open database with the model; 0 or a message in msg. */
static int verify_db(daxkv *db, const struct expect *exp, char *msg)
{
	const struct kv_state *st = &exp->old;
	struct scan_ctx sc;
	int want = 0, rc;

	if (exp->any_inflight) {
		/* the operation in flight: all of it or none of it */
		for (int k = 0; k < NKEYS; k++) {
			size_t vlen;
			char key[16];
			bool is_old, is_new;

			if (!exp->inflight[k])
				continue;
			key_name(k, key);
			rc = daxkv_get(db, key, 5, getbuf, sizeof(getbuf), &vlen);
			is_old = rc == 0 ? value_ok(k, &exp->old, getbuf, vlen) :
					   exp->old.len[k] < 0;
			is_new = rc == 0 ? value_ok(k, &exp->new, getbuf, vlen) :
					   exp->new.len[k] < 0;
			if (is_old && is_new)
				continue;
			st = is_new ? &exp->new : &exp->old;
			break;
		}
	}
	for (int k = 0; k < NKEYS; k++) {
		size_t vlen = 0;
		char key[16];

		key_name(k, key);
		rc = daxkv_get(db, key, 5, getbuf, sizeof(getbuf), &vlen);
		if (st->len[k] >= 0)
			want++;
		if (rc == DAXKV_ENOTFOUND && st->len[k] < 0)
			continue;
		if (rc == 0 && value_ok(k, st, getbuf, vlen))
			continue;
		snprintf(msg, 512,
			 "get %s: rc %d len %zu, expected %s%d bytes (v%u)%s",
			 key, rc, vlen, st->len[k] < 0 ? "absent " : "",
			 st->len[k], st->ver[k],
			 exp->inflight[k] ? " [in flight: batch not atomic "
					    "or value torn]" :
					    " [acknowledged write lost]");
		return -1;
	}
	sc.st = st;
	sc.count = 0;
	sc.msg = msg;
	if (daxkv_scan(db, NULL, 0, NULL, 0, scan_cb, &sc) != 0)
		return -1;
	if (sc.count != want) {
		snprintf(msg, 512, "scan: %d keys, expected %d", sc.count, want);
		return -1;
	}
	{
		/* the records themselves (what a device reads): each live
		 * key visible exactly once, also after a compaction's copy */
		struct daxkv_query q;
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};

		daxkv_query_init(&q);
		q.backend = DAXKV_BACKEND_CPU;
		q.threads = 1;
		rc = daxkv_query(db, &q, &res);
		if (rc || res.count != (uint64_t)want) {
			snprintf(msg, 512,
				 "query: rc %d, %llu records visible, expected "
				 "%d [a record visible twice, or a mark lost]",
				 rc, (unsigned long long)res.count, want);
			return -1;
		}
	}
	return 0;
}

static void checker_loop(void)
{
	struct daxkv_options opts;
	char c;

	in_child = true;
	tracking = false;
	/* each open allocates and frees the same large tables: keep them in
	 * the heap instead of mmap/munmap (page faults) every time */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	nmaps = 0;
	daxkv_options_init(&opts);
	opts.segment_size = SEG_SIZE;
	opts.recovery_threads = 1;
	opts.flags = DAXKV_OPEN_NOCREATE | DAXKV_OPEN_NOBACKGROUND;
	while (read(to_child[0], &c, 1) == 1) {
		daxkv *db = NULL;
		uint64_t t0 = now_ns();
		int rc = daxkv_open(shm->dir, &opts, &db);

		shm->ns_open += now_ns() - t0;
		t0 = now_ns();

		if (rc) {
			snprintf(shm->msg, sizeof(shm->msg),
				 "recovery failed: %s: %s", daxkv_strerror(rc),
				 daxkv_errmsg());
			shm->ok = 0;
		} else {
			shm->ok = verify_db(db, &shm->exp, shm->msg) == 0;
			shm->ns_verify += now_ns() - t0;
			t0 = now_ns();
			rc = daxkv_close(db);
			shm->ns_close += now_ns() - t0;
			if (rc && shm->ok) {
				shm->ok = 0;
				snprintf(shm->msg, sizeof(shm->msg),
					 "close: %s", daxkv_errmsg());
			}
		}
		if (write(from_child[1], &c, 1) != 1)
			break;
	}
	_exit(0);
}

static void spawn_checker(void)
{
	if (child_pid > 0) {
		close(to_child[1]);
		close(from_child[0]);
	}
	if (pipe(to_child) || pipe(from_child))
		die("pipe");
	child_pid = fork();
	if (child_pid < 0)
		die("fork");
	if (child_pid == 0) {
		close(to_child[1]);
		close(from_child[0]);
		checker_loop();
	}
	close(to_child[0]);
	close(from_child[1]);
}

/* ---- the workload ---- */

static struct kv_state model;
static uint32_t next_ver = 1;
static unsigned pct_big = 5, pct_batch = 20, pct_del = 20, pct_compact;

static int32_t pick_len(void)
{
	if (rnd() % 100 < pct_big)
		return (int32_t)(20000 + rnd() % 60000);
	return (int32_t)(rnd() % 300);
}

static void fill_val(uint8_t *buf, int k, uint32_t ver, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = val_byte(k, ver, i);
}

static void begin_inflight(void)
{
	memset(&shm->exp, 0, sizeof(shm->exp));
	shm->exp.old = model;
	shm->exp.new = model;
}

static void end_op(int rc)
{
	if (rc == 0)
		model = shm->exp.new;
	memset(&shm->exp, 0, sizeof(shm->exp));
	shm->exp.old = model;
	shm->exp.new = model;
}

static void set_new(int k, int32_t len, uint32_t ver)
{
	shm->exp.new.len[k] = len;
	shm->exp.new.ver[k] = ver;
	shm->exp.inflight[k] = 1;
	shm->exp.any_inflight = 1;
}

static int do_op(daxkv *db, int op)
{
	static uint8_t vbuf[DAXKV_MAX_VALUE];
	unsigned r = (unsigned)(rnd() % 100);
	char key[16];
	int rc;

	cur_op = op;
	begin_inflight();
	if (pct_compact && rnd() % 100 < pct_compact) {
		/* no change to the model: every crash point inside must
		 * show exactly the acknowledged state */
		rc = daxkv_compact(db);
	} else if (r < pct_batch) {
		daxkv_batch *b;
		int n = 2 + (int)(rnd() % 5);

		if (daxkv_batch_new(&b))
			die("batch_new");
		for (int i = 0; i < n; i++) {
			int k = (int)(rnd() % NKEYS);

			key_name(k, key);
			if (rnd() % 4 == 0) {
				daxkv_batch_delete(b, key, 5);
				set_new(k, -1, 0);
			} else {
				int32_t len = pick_len() % 4000;
				uint32_t ver = next_ver++;

				fill_val(vbuf, k, ver, (size_t)len);
				daxkv_batch_put(b, key, 5, vbuf, (size_t)len);
				set_new(k, len, ver);
			}
		}
		rc = daxkv_batch_commit(db, b);
		daxkv_batch_free(b);
	} else if (r < pct_batch + pct_del) {
		int k = (int)(rnd() % NKEYS);

		key_name(k, key);
		set_new(k, -1, 0);
		rc = daxkv_delete(db, key, 5);
		if (rc == DAXKV_ENOTFOUND && model.len[k] < 0)
			rc = 0;
	} else {
		int k = (int)(rnd() % NKEYS);
		int32_t len = pick_len();
		uint32_t ver = next_ver++;

		key_name(k, key);
		fill_val(vbuf, k, ver, (size_t)len);
		set_new(k, len, ver);
		rc = daxkv_put(db, key, 5, vbuf, (size_t)len);
	}
	if (rc) {
		/* the model and the engine disagree: an earlier state was
		 * already wrong (or the engine failed); stop this phase */
		fprintf(stderr, "VIOLATION phase %d op %d failed: %s: %s\n",
			phase, op, daxkv_strerror(rc), daxkv_errmsg());
		violations++;
		end_op(rc);
		return -1;
	}
	end_op(rc);
	return 0;
}

/* Register W2's segment files before the engine maps them. */
static void preload_segments(void)
{
	DIR *d = opendir(wdir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		char path[600];
		struct tmap *tm;
		uint32_t slot;
		struct stat st;
		int fd;

		if (!seg_slot_of(de->d_name, &slot))
			continue;
		snprintf(path, sizeof(path), "%s/%s", wdir, de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st) != 0)
			die("%s", path);
		tm = &maps[nmaps++];
		memset(tm, 0, sizeof(*tm));
		tm->slot = slot;
		tm->size = (size_t)st.st_size;
		tm->pers = malloc(tm->size);
		tm->cand = calloc(tm->size / LINE / 8 + 1, 1);
		tm->pdirty = calloc(tm->size / 4096 / 8 + 1, 1);
		if (!tm->pers || !tm->cand || !tm->pdirty ||
		    pread(fd, tm->pers, tm->size, 0) != (ssize_t)tm->size)
			die("%s: cannot read", path);
		close(fd);
		chk_create(tm);
	}
	if (d)
		closedir(d);
}

/* Phase 2's model: what recovering W2 gives, checked against phase 1's. */
static int reference_of_w2(const struct expect *exp)
{
	char cmd[1200];
	char w3[300];
	struct daxkv_options opts;
	daxkv *db;
	char msg[512];
	int rc;

	snprintf(w3, sizeof(w3), "%s-ref", w2dir);
	rm_dir(w3);
	snprintf(cmd, sizeof(cmd), "cp -r %s %s", w2dir, w3);
	if (system(cmd) != 0)
		die("%s failed", cmd);
	daxkv_options_init(&opts);
	opts.flags = DAXKV_OPEN_NOCREATE | DAXKV_OPEN_NOBACKGROUND;
	opts.recovery_threads = 1;
	rc = daxkv_open(w3, &opts, &db);
	if (rc) {
		fprintf(stderr, "VIOLATION phase 2 base image: recovery "
			"failed: %s\n", daxkv_errmsg());
		violations++;
		return -1;
	}
	if (verify_db(db, exp, msg) != 0) {
		fprintf(stderr, "VIOLATION phase 2 base image: %s\n", msg);
		violations++;
	}
	/* which side of the operation in flight survived */
	model = exp->old;
	for (int k = 0; k < NKEYS; k++) {
		size_t vlen;
		char key[16];

		if (!exp->inflight[k])
			continue;
		key_name(k, key);
		rc = daxkv_get(db, key, 5, getbuf, sizeof(getbuf), &vlen);
		if ((rc == 0 && value_ok(k, &exp->new, getbuf, vlen) &&
		     !value_ok(k, &exp->old, getbuf, vlen)) ||
		    (rc != 0 && exp->new.len[k] < 0 && exp->old.len[k] >= 0)) {
			model = exp->new;
			break;
		}
	}
	daxkv_close(db);
	rm_dir(w3);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "seed", 1, NULL, 's' },   { "ops", 1, NULL, 'n' },
		{ "big", 1, NULL, 'b' },    { "batch", 1, NULL, 'B' },
		{ "del", 1, NULL, 'd' },    { "plant", 1, NULL, 'p' },
		{ "max-states", 1, NULL, 'm' }, { "samples", 1, NULL, 'S' },
		{ "expect-violations", 0, NULL, 'x' }, { "compact", 1, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	struct daxkv_options opts;
	struct timespec t0, t1;
	bool expect_violations = false;
	int nops = 300, opt;
	daxkv *db;
	int rc;

	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (opt) {
		case 's': rng_state ^= strtoull(optarg, NULL, 0) * 0x9E3779B97F4A7C15ull; break;
		case 'n': nops = atoi(optarg); break;
		case 'b': pct_big = (unsigned)atoi(optarg); break;
		case 'B': pct_batch = (unsigned)atoi(optarg); break;
		case 'd': pct_del = (unsigned)atoi(optarg); break;
		case 'C': pct_compact = (unsigned)atoi(optarg); break;
		case 'p': plant = atoi(optarg); break;
		case 'm': max_states = strtoull(optarg, NULL, 0); break;
		case 'S': samples = (unsigned)atoi(optarg); break;
		case 'x': expect_violations = true; break;
		default:
			fprintf(stderr, "usage: crashsim [--seed N] [--ops N] "
				"[--big PCT] [--batch PCT] [--del PCT] [--compact PCT] "
				"[--plant 1|2|3 --expect-violations] "
				"[--max-states N] [--samples N]\n");
			return 2;
		}
	}
	if (!getenv("PMEM_IS_PMEM_FORCE"))
		setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/*
	 * Where the images live: /dev/shm, or DAXKV_CRASHSIM_DIR.  Each
	 * state costs a libpmemobj pool open, which touches the pool's 1024
	 * lanes in a fresh mapping; on a VM with shadow paging every 4 KiB
	 * page of that is a fault the guest cannot see, so a tmpfs mounted
	 * huge=always (scripts/test.sh makes one) checks states ~2x faster.
	 */
	{
		const char *top = getenv("DAXKV_CRASHSIM_DIR");

		if (!top || !*top)
			top = "/dev/shm";
		if (strlen(top) > 200)
			die("DAXKV_CRASHSIM_DIR: path too long");
		snprintf(wdir, sizeof(wdir), "%s/crashsim-%d-w", top,
			 (int)getpid());
		snprintf(w2dir, sizeof(w2dir), "%s/crashsim-%d-w2", top,
			 (int)getpid());
		snprintf(cdir, sizeof(cdir), "%s/crashsim-%d-c", top,
			 (int)getpid());
	}
	rm_dir(wdir);
	rm_dir(cdir);
	main_pid = getpid();
	atexit(remove_dirs);
	if (mkdir(cdir, 0755))
		die("mkdir %s", cdir);
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	meta_snap = malloc(META_SIZE);
	if (shm == MAP_FAILED || !meta_snap)
		die("out of memory");
	snprintf(shm->dir, sizeof(shm->dir), "%s", cdir);
	signal(SIGPIPE, SIG_IGN);
	spawn_checker();
	for (int k = 0; k < NKEYS; k++)
		model.len[k] = -1;
	end_op(1);

	/* phase 1: a fresh database, a workload */
	daxkv_options_init(&opts);
	opts.segment_size = SEG_SIZE;
	opts.recovery_threads = 1;
	/* one thread: the seam's hooks are not thread-safe; compaction is
	 * an operation of the workload instead (--compact) */
	opts.flags = DAXKV_OPEN_NOBACKGROUND;
	tracking = true;
	rc = daxkv_open(wdir, &opts, &db);
	if (rc)
		die("open %s: %s", wdir, daxkv_errmsg());
	for (int op = 0; op < nops; op++) {
		/* phase 2 starts inside an operation near the end: the
		 * first fence from here on with dirty lines */
		if (op == nops - 1 - nops / 10)
			save_w2_at_drain = true;
		if (do_op(db, op))
			break;
	}
	tracking = false;
	daxkv_close(db);
	printf("phase 1: %d operations, %llu crash points, %llu crash states "
	       "checked, %llu violations\n",
	       nops, (unsigned long long)points, (unsigned long long)states,
	       (unsigned long long)violations);

	/* phase 2: recover one crash image of the last operation, tracked */
	if (access(w2dir, F_OK) == 0) {
		if (reference_of_w2(&w2_exp) == 0) {
			uint64_t p1 = states;

			for (int i = 0; i < nmaps; i++) {
				if (maps[i].chk)
					munmap(maps[i].chk, maps[i].size);
				free(maps[i].pers);
				free(maps[i].cand);
				free(maps[i].pdirty);
			}
			nmaps = 0;
			npending = 0;
			have_meta = false;
			rm_dir(cdir);
			mkdir(cdir, 0755);
			if (meta_chk)
				munmap(meta_chk, META_SIZE);
			meta_chk = NULL;
			rm_dir(wdir);
			snprintf(wdir, sizeof(wdir), "%s", w2dir);
			phase = 2;
			end_op(1);
			tracking = true;
			opts.flags = DAXKV_OPEN_NOCREATE | DAXKV_OPEN_NOBACKGROUND;
			/* the image as recovery will find it */
			meta_snapshot();
			preload_segments();
			cur_op = -1;
			rc = daxkv_open(wdir, &opts, &db);
			if (rc)
				die("phase 2 open: %s", daxkv_errmsg());
			for (int op = 0; op < nops / 4; op++)
				if (do_op(db, op))
					break;
			cur_op = -2; /* clean close: checkpoint, metadata */
			rc = daxkv_close(db);
			if (rc)
				die("phase 2 close: %s", daxkv_errmsg());
			tracking = false;
			printf("phase 2 (recovery of a crash image, more writes, "
			       "close): %llu crash states\n",
			       (unsigned long long)(states - p1));
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("crashsim: %llu crash points, %llu crash states checked, "
	       "%llu violations, %.1f s%s\n",
	       (unsigned long long)points, (unsigned long long)states,
	       (unsigned long long)violations,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       plant ? " (planted bug)" : "");
	if (states)
		printf("per state: open %.2f ms, verify %.2f ms, close %.2f ms\n",
		       shm->ns_open / 1e6 / (double)states,
		       shm->ns_verify / 1e6 / (double)states,
		       shm->ns_close / 1e6 / (double)states);
	close(to_child[1]);
	waitpid(child_pid, NULL, 0);
	rm_dir(wdir);
	rm_dir(w2dir);
	rm_dir(cdir);
	if (expect_violations) {
		if (violations == 0) {
			fprintf(stderr, "planted bug %d was NOT caught\n", plant);
			return 1;
		}
		printf("planted bug %d caught (%llu violations)\n", plant,
		       (unsigned long long)violations);
		if (faildir[0])
			rm_dir(faildir);
		return 0;
	}
	return violations ? 1 : 0;
}
