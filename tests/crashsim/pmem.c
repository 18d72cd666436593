// SPDX-License-Identifier: MIT
/*
 * pmem.c -- the persistent-memory model, fed by the persistence seam.
 *
 * For every mapped segment file the model keeps `pers`, what is durable
 * for sure, and for every 64-byte line that changed since, each *version*
 * the line held after a store (the cumulative content right after each
 * seam call that wrote it), oldest first.  The cache may write a dirty
 * line back at any moment, so after a crash a line holds `pers` or any of
 * its versions: an intermediate value as well as the last.  Within a
 * version, 8-byte words are the unit of atomicity (a torn line mixes
 * `pers` and a version word by word).
 *
 * What makes a version durable is the production path's instructions
 * (persist.h), each with its semantics:
 *   copy_nodrain (non-temporal copy), store8_nt (movnti)  a store, in
 *       flight until the *same thread's* next fence;
 *   flush (clwb)         the line as it is now, in flight until the same
 *                        thread's next fence;
 *   store8               a store and nothing else: durable only through a
 *                        later flush;
 *   drain (sfence)       everything this thread has in flight is durable:
 *                        pers takes the version it named, and the
 *                        versions before it are gone (later ones stay
 *                        candidates);
 *   msync                (a mapping that is not pmem) the lines' newest
 *                        versions are durable when it returns.
 * A non-temporal store to a line that is in the cache writes the line
 * back too (Intel SDM, "non-temporal stores"), so it makes the whole
 * line's version durable, like a flush.  Fences are per thread, as sfence
 * is per core: a line another thread flushed is not durable at my fence.
 *
 * The metadata pool (libpmemobj) is taken as atomic at each dk_meta_set:
 * its crash image is the file as of the last one (meta_img).  Each set is
 * decoded (which word of the root changed) so that planted bugs can hold
 * a word back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crashsim.h"
#include "layout.h"
#include "persist.h"
#include "persist.h"

#define MAXVER 32u /* versions kept per line (the oldest go first) */

struct lstate *lines;
size_t nlines;
static size_t cap_lines;
uint64_t store_serial, pers_gen;
struct tmap *tmaps;
static uint64_t vseq_next;

uint8_t *meta_img, *meta_file;
static uint8_t *meta_raw;
uint64_t meta_ver;
static bool have_meta;
static uint64_t root_off;
bool meta_private_failed;
static ino_t meta_ino;

/* planted bugs that hold something back */
static struct tmap *held_hdr;          /* 3 */
static struct pend *held_copy;         /* 4 */
static size_t nheld_copy, cap_held_copy;
struct held_word {
	uint64_t off, old;
};
static struct held_word held[64];       /* 5, 6, 7 */
static unsigned nheld;
static bool release_after_set;         /* 6: at the next set */

/* ---- mappings ---- */

struct tmap *tmap_new(uint32_t ino, size_t size, const uint8_t *content)
{
	struct tmap *tm = calloc(1, sizeof(*tm));
	uint32_t nl = (uint32_t)(size / LINE);

	if (!tm)
		die("out of memory");
	tm->ino = ino;
	tm->size = size;
	tm->pers = malloc(size);
	tm->pdirty = calloc(size / 4096 / 8 + 1, 1);
	tm->lidx = malloc(nl * sizeof(*tm->lidx));
	if (!tm->pers || !tm->pdirty || !tm->lidx)
		die("out of memory");
	if (content)
		memcpy(tm->pers, content, size);
	else
		memset(tm->pers, 0, size);
	for (uint32_t l = 0; l < nl; l++)
		tm->lidx[l] = -1;
	tm->compact_dst = sim_self()->ctx == CTX_COMPACT;
	tm->next = tmaps;
	tmaps = tm;
	return tm;
}

static void line_drop(size_t i);

void tmap_free(struct tmap *tm)
{
	struct tmap **pp;

	for (size_t i = nlines; i-- > 0;)
		if (lines[i].tm == tm)
			line_drop(i);
	sched_forget_tmap(tm);
	pmem_forget_held(tm);
	for (pp = &tmaps; *pp; pp = &(*pp)->next)
		if (*pp == tm) {
			*pp = tm->next;
			break;
		}
	if (tm->chk)
		munmap(tm->chk, tm->size);
	if (held_hdr == tm)
		held_hdr = NULL;
	free(tm->pers);
	free(tm->pdirty);
	free(tm->lidx);
	free(tm);
}

struct tmap *tmap_of_addr(const void *addr)
{
	const uint8_t *a = addr;

	for (struct tmap *tm = tmaps; tm; tm = tm->next)
		if (tm->base && a >= tm->base && a < tm->base + tm->size)
			return tm;
	return NULL;
}

/* ---- lines and their versions ---- */

static struct lstate *line_get(struct tmap *tm, uint32_t l, bool create)
{
	struct lstate *ls;

	if (tm->lidx[l] >= 0)
		return &lines[tm->lidx[l]];
	if (!create)
		return NULL;
	if (nlines == cap_lines) {
		cap_lines = cap_lines ? 2 * cap_lines : 1024;
		lines = realloc(lines, cap_lines * sizeof(*lines));
		if (!lines)
			die("out of memory");
	}
	ls = &lines[nlines];
	memset(ls, 0, sizeof(*ls));
	ls->tm = tm;
	ls->line = l;
	tm->lidx[l] = (int32_t)nlines++;
	return ls;
}

static void line_drop(size_t i)
{
	struct lstate *ls = &lines[i];

	ls->tm->lidx[ls->line] = -1;
	free(ls->ver);
	if (i != nlines - 1) {
		lines[i] = lines[nlines - 1];
		lines[i].tm->lidx[lines[i].line] = (int32_t)i;
	}
	nlines--;
}

/* The line as the engine sees it now is a new version. */
static void line_store(struct tmap *tm, uint32_t l)
{
	const uint8_t *now = tm->base + (size_t)l * LINE;
	struct lstate *ls = line_get(tm, l, false);
	const uint8_t *prev = ls && ls->nver ? ls->ver[ls->nver - 1].data :
					      tm->pers + (size_t)l * LINE;

	if (!tm->size_synced)
		fs_mapped_store(tm); /* the MAP_SYNC fault */
	if (!memcmp(now, prev, LINE))
		return; /* nothing changed: no new state */
	if (!ls)
		ls = line_get(tm, l, true);
	if (ls->nver == MAXVER) {
		memmove(ls->ver, ls->ver + 1, (MAXVER - 1) * sizeof(*ls->ver));
		ls->nver--;
	}
	if (ls->nver == ls->cap) {
		ls->cap = ls->cap ? 2 * ls->cap : 2;
		ls->ver = realloc(ls->ver, ls->cap * sizeof(*ls->ver));
		if (!ls->ver)
			die("out of memory");
	}
	ls->ver[ls->nver].vseq = ++vseq_next;
	ls->ver[ls->nver].store = store_serial;
	memcpy(ls->ver[ls->nver].data, now, LINE);
	ls->nver++;
}

static void pend_push(struct pend **arr, size_t *n, size_t *cap,
		      struct tmap *tm, uint32_t l, uint64_t vseq)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		*arr = realloc(*arr, *cap * sizeof(**arr));
		if (!*arr)
			die("out of memory");
	}
	(*arr)[*n].tm = tm;
	(*arr)[*n].line = l;
	(*arr)[*n].vseq = vseq;
	(*n)++;
}

/* Line @p l is in flight for thread @p t: its newest version lands at
 * t's next fence. */
static void pend_line(struct sim_thread *t, struct tmap *tm, uint32_t l)
{
	struct lstate *ls = line_get(tm, l, false);

	if (!ls || !ls->nver)
		return; /* == pers already */
	if (plant == PLANT_COPY_UNFENCED && tm->compact_dst &&
	    t->ctx == CTX_COMPACT && l >= DK_SEG_HDR_SIZE / LINE) {
		pend_push(&held_copy, &nheld_copy, &cap_held_copy, tm, l,
			  ls->ver[ls->nver - 1].vseq);
		return;
	}
	pend_push(&t->pend, &t->npend, &t->cap_pend, tm, l,
		  ls->ver[ls->nver - 1].vseq);
}

static void lines_of(struct tmap *tm, const void *addr, size_t len,
		     uint32_t *first, uint32_t *last)
{
	size_t off = (size_t)((const uint8_t *)addr - tm->base);

	*first = (uint32_t)(off / LINE);
	*last = (uint32_t)((off + len - 1) / LINE);
}

/* Make the in-flight lines of @p t durable (its fence). */
static void fence_apply(struct sim_thread *t)
{
	for (size_t i = 0; i < t->npend; i++) {
		struct pend *p = &t->pend[i];
		struct lstate *ls = line_get(p->tm, p->line, false);
		size_t page;
		uint32_t k;

		if (!ls)
			continue;
		/* the newest version at or before the flush */
		for (k = ls->nver; k > 0 && ls->ver[k - 1].vseq > p->vseq; k--)
			;
		if (k == 0)
			continue; /* an earlier fence got it */
		memcpy(p->tm->pers + (size_t)p->line * LINE,
		       ls->ver[k - 1].data, LINE);
		page = (size_t)p->line * LINE / 4096;
		p->tm->pdirty[page / 8] |= (uint8_t)(1u << (page % 8));
		memmove(ls->ver, ls->ver + k, (ls->nver - k) * sizeof(*ls->ver));
		ls->nver -= k;
		if (!ls->nver)
			line_drop((size_t)p->tm->lidx[p->line]);
	}
	t->npend = 0;
	pers_gen++;
}

static bool pend_has_record(const struct sim_thread *t)
{
	for (size_t i = 0; i < t->npend; i++)
		if (t->pend[i].line >= DK_SEG_HDR_SIZE / LINE)
			return true;
	return false;
}

/* Bring every check mapping up to pers (the pages fences changed). */
void pmem_sync_chk(void)
{
	for (struct tmap *tm = tmaps; tm; tm = tm->next) {
		size_t npages = tm->size / 4096;

		if (!tm->chk)
			continue;
		for (size_t p = 0; p < npages; p++) {
			if (!(tm->pdirty[p / 8] & (1u << (p % 8)))) {
				if (!tm->pdirty[p / 8])
					p |= 7;
				continue;
			}
			memcpy(tm->chk + p * 4096, tm->pers + p * 4096, 4096);
		}
		memset(tm->pdirty, 0, npages / 8 + 1);
	}
}

void pmem_reset(void)
{
	while (tmaps)
		tmap_free(tmaps);
	nlines = 0;
	held_hdr = NULL;
	nheld_copy = 0;
	nheld = 0;
	release_after_set = false;
	have_meta = false;
	meta_ino = 0; /* the inode store is made anew */
	sim_self()->npend = 0;
}

/* ---- the seam ---- */

static bool tracked(void)
{
	return tracking && !in_child;
}

static void after_store(void)
{
	if (sim_self()->store_points)
		crash_point(EV_STORE);
	sched_point();
}

void dk_seam_copy_nodrain(void *dst, const void *src, size_t len)
{
	struct sim_thread *t;
	struct tmap *tm;
	uint32_t first, last;

	memcpy(dst, src, len);
	if (!tracked() || !len || !(tm = tmap_of_addr(dst)))
		return;
	t = sim_self();
	store_serial++;
	lines_of(tm, dst, len, &first, &last);
	for (uint32_t l = first; l <= last; l++)
		line_store(tm, l);
	if (plant == PLANT_HEADER_LATE && (uint8_t *)dst == tm->base) {
		held_hdr = tm; /* planted: flushed after the next commit */
	} else if (!(plant == PLANT_NO_FLUSH &&
		     (size_t)((uint8_t *)dst - tm->base) >= DK_SEG_HDR_SIZE)) {
		for (uint32_t l = first; l <= last; l++)
			pend_line(t, tm, l);
	}
	after_store();
}

void dk_seam_flush(const void *addr, size_t len)
{
	struct tmap *tm;
	uint32_t first, last;

	if (!tracked() || !len || !(tm = tmap_of_addr(addr)))
		return;
	lines_of(tm, addr, len, &first, &last);
	for (uint32_t l = first; l <= last; l++)
		pend_line(sim_self(), tm, l);
	sched_point();
}

void dk_seam_store8(uint64_t *addr, uint64_t val)
{
	struct tmap *tm;
	uint32_t l;

	__atomic_store_n(addr, val, __ATOMIC_RELEASE);
	if (!tracked() || !(tm = tmap_of_addr(addr)))
		return;
	store_serial++;
	l = (uint32_t)(((uint8_t *)addr - tm->base) / LINE);
	line_store(tm, l);
	after_store();
}

void dk_seam_store8_nt(uint64_t *addr, uint64_t val)
{
	struct tmap *tm;
	uint32_t l;

	__atomic_store_n(addr, val, __ATOMIC_RELEASE);
	if (!tracked() || !(tm = tmap_of_addr(addr)))
		return;
	store_serial++;
	l = (uint32_t)(((uint8_t *)addr - tm->base) / LINE);
	line_store(tm, l);
	pend_line(sim_self(), tm, l);
	after_store();
}

/*
 * A mapping that is not persistent memory (DAXKV_OPEN_FORCE_MSYNC, or a
 * file libpmem does not take for pmem): msync writes the lines back and is
 * complete when it returns, so their newest versions are durable now.
 */
void dk_seam_msync(const void *addr, size_t len)
{
	struct tmap *tm;
	uint32_t first, last;

	pmem_msync(addr, len);
	if (!tracked() || !len || !(tm = tmap_of_addr(addr)))
		return;
	/* the stores before it (a plain memcpy) are new versions; any of
	 * them may have been written back before the crash */
	store_serial++;
	lines_of(tm, addr, len, &first, &last);
	for (uint32_t l = first; l <= last; l++)
		line_store(tm, l);
	crash_point(EV_FENCE);
	for (uint32_t l = first; l <= last; l++) {
		struct lstate *ls = line_get(tm, l, false);
		size_t page = (size_t)l * LINE / 4096;

		if (!ls)
			continue;
		memcpy(tm->pers + (size_t)l * LINE, ls->ver[ls->nver - 1].data,
		       LINE);
		tm->pdirty[page / 8] |= (uint8_t)(1u << (page % 8));
		line_drop((size_t)tm->lidx[l]);
	}
	pers_gen++;
	sched_point();
}

void dk_seam_drain(void)
{
	struct sim_thread *t = sim_self();

	if (!tracked())
		return;
	crash_point(EV_FENCE);
	if (plant == PLANT_FENCE_DROPPED && pend_has_record(t)) {
		sched_point(); /* planted: the lines wait for a later fence */
		return;
	}
	fence_apply(t);
	sched_point();
}

/* ---- the metadata pool ---- */

bool meta_known(void)
{
	return have_meta;
}

static void find_root(void)
{
	if (root_off && root_off + sizeof(struct dk_meta_root) <= META_SIZE &&
	    !memcmp(meta_raw + root_off, DK_META_MAGIC, 8))
		return;
	root_off = 0;
	for (uint64_t off = 4096; off + 8 <= META_SIZE; off += 8)
		if (!memcmp(meta_raw + off, DK_META_MAGIC, 8)) {
			root_off = off;
			return;
		}
}

static void hold(uint64_t off, uint64_t old)
{
	for (unsigned i = 0; i < nheld; i++)
		if (held[i].off == off)
			return; /* the oldest value stays */
	if (nheld < sizeof(held) / sizeof(*held)) {
		held[nheld].off = off;
		held[nheld].old = old;
		nheld++;
	}
}

static void unhold(uint64_t off)
{
	for (unsigned i = 0; i < nheld; i++)
		if (held[i].off == off) {
			held[i] = held[--nheld];
			return;
		}
}

static void meta_apply_held(void)
{
	memcpy(meta_img, meta_raw, META_SIZE);
	for (unsigned i = 0; i < nheld; i++)
		memcpy(meta_img + held[i].off, &held[i].old, 8);
	meta_ver++;
}

/*
 * Read meta.pool as it is now (libpmemobj persisted it), decode the root
 * words that changed since the last read, and let the planted bugs hold
 * some of them back.  *@p freed: a slot became FREE; *@p clean_set: the
 * clean flag became 1.
 */
static void meta_read(bool *freed, bool *clean_set)
{
	static uint8_t *prev;
	char path[512];
	int fd;

	*freed = *clean_set = false;
	if (!meta_raw) {
		meta_raw = malloc(META_SIZE);
		meta_img = malloc(META_SIZE);
		prev = malloc(META_SIZE);
		if (!meta_raw || !meta_img || !prev)
			die("out of memory");
	}
	memcpy(prev, meta_raw, META_SIZE);
	snprintf(path, sizeof(path), "%s/meta.pool", wdir);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, meta_raw, META_SIZE, 0) != (ssize_t)META_SIZE)
		die("%s: cannot read the metadata pool", path);
	close(fd);
	find_root();
	if (have_meta && root_off) {
		const size_t segs = root_off +
				    offsetof(struct dk_meta_root, segs);
		const size_t end = root_off + sizeof(struct dk_meta_root);

		for (size_t off = root_off; off < end; off += 8) {
			uint64_t was, now;
			bool is_seg = off >= segs &&
				      (off - segs) % sizeof(struct dk_seg_entry) == 0;

			if (off % 4096 == 0 &&
			    !memcmp(prev + off, meta_raw + off,
				    end - off < 4096 ? end - off : 4096)) {
				off += 4096 - 8;
				continue;
			}
			memcpy(&was, prev + off, 8);
			memcpy(&now, meta_raw + off, 8);
			if (was == now)
				continue;
			trace("meta: root+%llu: %#llx -> %#llx",
			      (unsigned long long)(off - root_off),
			      (unsigned long long)was, (unsigned long long)now);
			unhold(off); /* a newer value of a held word wins */
			if (is_seg) {
				struct dk_seg_entry e;

				memcpy(&e, &now, 8);
				if (e.state == DK_SEG_FREE)
					*freed = true;
				if (plant == PLANT_FREE_LATE &&
				    e.state == DK_SEG_FREE)
					hold(off, was);
				if (plant == PLANT_LIVE_LATE &&
				    e.state == DK_SEG_LIVE &&
				    sim_self()->ctx == CTX_WRITE) {
					hold(off, was);
					release_after_set = true;
				}
			} else if (off - root_off ==
				   offsetof(struct dk_meta_root, ckpt_gen)) {
				if (plant == PLANT_CLEAN_EARLY)
					hold(off, was);
			} else if (off - root_off ==
					   offsetof(struct dk_meta_root, clean) &&
				   now == 1) {
				*clean_set = true;
			}
		}
	}
	have_meta = true;
	meta_apply_held();
}

/* The start of a phase: meta.pool as it is, nothing held. */
void meta_snapshot(void)
{
	bool f, c;

	nheld = 0;
	have_meta = false;
	meta_read(&f, &c);
}

ino_t meta_st_ino(void)
{
	return meta_ino;
}

/* Put meta_img into the inode store's copy (what C/meta.pool links). */
void meta_sync_file(void)
{
	static uint64_t synced = UINT64_MAX;
	char path[512];
	int fd;

	if (synced == meta_ver && !meta_private_failed)
		return;
	snprintf(path, sizeof(path), "%s/meta", sdir);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	if (!meta_file || !meta_ino) {
		struct stat st;

		if (!meta_file)
			meta_file = calloc(1, META_SIZE);
		else
			memset(meta_file, 0, META_SIZE);
		if (!meta_file || ftruncate(fd, (off_t)META_SIZE) != 0 ||
		    fstat(fd, &st) != 0)
			die("%s: cannot size", path);
		meta_ino = st.st_ino;
		synced = UINT64_MAX;
	}
	if (meta_private_failed) {
		/* the checker wrote to it: read back what it holds */
		if (pread(fd, meta_file, META_SIZE, 0) != (ssize_t)META_SIZE)
			die("%s: cannot read", path);
		meta_private_failed = false;
	}
	for (size_t off = 0; off < META_SIZE; off += 4096)
		if (memcmp(meta_file + off, meta_img + off, 4096)) {
			if (pwrite(fd, meta_img + off, 4096, (off_t)off) != 4096)
				die("%s: cannot write", path);
			memcpy(meta_file + off, meta_img + off, 4096);
		}
	close(fd);
	synced = meta_ver;
}

/* Planted bugs that live in the engine: it asks (persist.h). */
int dk_seam_planted(int bug)
{
	return bug == DK_PLANT_TOMB_ANY && plant == PLANT_TOMB_ANY;
}

void dk_seam_meta_set(const void *field, uint64_t val)
{
	struct sim_thread *t = sim_self();
	bool freed, clean_set, release_now = release_after_set;

	(void)field;
	(void)val;
	if (!tracked())
		return;
	/* the new word may not have landed yet: the old metadata ... */
	if (have_meta)
		crash_point(EV_META);
	if (release_now) {
		/* planted 6: the LIVE held since the last set lands now */
		release_after_set = false;
		nheld = 0;
	}
	meta_read(&freed, &clean_set);
	/* ... or it has, with the data lines around it in any subset */
	crash_point(EV_META);
	/* pmemobj_persist's fence covers this thread's lines too */
	fence_apply(t);
	if (held_hdr) {
		uint32_t first, last;

		lines_of(held_hdr, held_hdr->base, 64, &first, &last);
		pend_line(t, held_hdr, first);
		held_hdr = NULL;
	}
	if (freed && nheld_copy) {
		/* planted 4: the copies become durable after the FREE */
		for (size_t i = 0; i < nheld_copy; i++)
			pend_push(&t->pend, &t->npend, &t->cap_pend,
				  held_copy[i].tm, held_copy[i].line,
				  held_copy[i].vseq);
		nheld_copy = 0;
	}
	if (clean_set && plant == PLANT_CLEAN_EARLY) {
		/* planted 7: the checkpoint and its generation land after
		 * the clean flag */
		nheld = 0;
		meta_apply_held();
		fs_dirsync_release();
	}
	sched_point();
}

/* Forget held copies of a mapping that goes away. */
void pmem_forget_held(struct tmap *tm)
{
	size_t keep = 0;

	for (size_t i = 0; i < nheld_copy; i++)
		if (held_copy[i].tm != tm)
			held_copy[keep++] = held_copy[i];
	nheld_copy = keep;
}
