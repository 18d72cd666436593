// SPDX-License-Identifier: MIT
/*
 * msync_test.c -- each segment's own mapping decides how it is made
 * durable, and a mapping that is not persistent memory is msynced before
 * any write into it is acknowledged (engine/persist.h).
 *
 * The engine is the persistence-seam build (daxkv_hooks); this program
 * defines dk_seam_msync and records every range it is given.
 * pmem_map_file is wrapped so that segments of odd slots report
 * is_pmem = 0, as a file on a file system without MAP_SYNC does, while the
 * others are emulated pmem (PMEM_IS_PMEM_FORCE=1).  After each put,
 * delete or batch returns, the records it appended (found in the
 * segments' mappings) and the superseded marks it stored must lie in
 * ranges msynced during that call wherever their segment is an msync one,
 * and no msync may touch a pmem segment.  daxkv_stat and
 * daxkv_segment_foreach must say which segments are which.
 */
#include <stdbool.h>
#include <sys/mman.h>

#include <libpmem.h>

#include "dk_test.h"
#include "layout.h"
#include "persist.h"

#define MAXSEG 64
#define MAXSYNC 4096

struct seg_map {
	uint8_t *base;
	size_t len;
	unsigned slot;
	int is_pmem;
};

static struct seg_map segs[MAXSEG];
static int nsegs;
static struct { const uint8_t *addr; size_t len; } synced[MAXSYNC];
static int nsynced;
static long bad_msync;

void *__real_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp);
void *__wrap_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp);
void *__wrap_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp)
{
	void *addr = __real_pmem_map_file(path, len, flags, mode, mapped_lenp,
					  is_pmemp);
	const char *name = strrchr(path, '/');
	unsigned slot;

	if (addr && name && sscanf(name, "/seg-%8u.dat", &slot) == 1) {
		*is_pmemp = slot % 2 == 0;
		CHECK(nsegs < MAXSEG);
		segs[nsegs++] = (struct seg_map){ addr, *mapped_lenp, slot,
						  *is_pmemp };
	}
	return addr;
}

static struct seg_map *seg_of(const void *p)
{
	for (int i = nsegs - 1; i >= 0; i--)
		if ((const uint8_t *)p >= segs[i].base &&
		    (const uint8_t *)p < segs[i].base + segs[i].len)
			return &segs[i];
	return NULL;
}

void dk_seam_msync(const void *addr, size_t len)
{
	struct seg_map *s = seg_of(addr);

	if (s && s->is_pmem)
		bad_msync++;
	if (nsynced < MAXSYNC) {
		synced[nsynced].addr = addr;
		synced[nsynced].len = len;
		nsynced++;
	}
	pmem_msync(addr, len);
}

/* Was [p, p + n) msynced since the call began? */
static bool covered(const uint8_t *p, size_t n)
{
	for (size_t off = 0; off < n; off += 8) {
		bool in = false;

		for (int i = 0; i < nsynced && !in; i++)
			in = p + off >= synced[i].addr &&
			     p + off < synced[i].addr + synced[i].len;
		if (!in)
			return false;
	}
	return true;
}

/* Every record (and superseded mark) in msync segments that changed
 * during the call: snapshot of each segment taken before it. */
static uint8_t *before[MAXSEG];

static void snap(void)
{
	for (int i = 0; i < nsegs; i++) {
		free(before[i]);
		before[i] = malloc(segs[i].len);
		CHECK(before[i]);
		memcpy(before[i], segs[i].base, segs[i].len);
	}
	nsynced = 0;
}

static long unsynced_changes(int known)
{
	long bad = 0;

	for (int i = 0; i < nsegs; i++) {
		if (segs[i].is_pmem)
			continue;
		for (size_t off = 0; off < segs[i].len; off += 8) {
			if (i < known &&
			    !memcmp(before[i] + off, segs[i].base + off, 8))
				continue;
			if (i >= known &&
			    !*(const uint64_t *)(segs[i].base + off))
				continue;
			if (!covered(segs[i].base + off, 8))
				bad++;
		}
	}
	return bad;
}

static int seg_fn(const struct daxkv_segment_info *info, void *arg)
{
	int *counts = arg;

	CHECK(info->version == DAXKV_SEGMENT_INFO_VERSION);
	CHECK_EQ(info->durability,
		 info->slot % 2 ? DAXKV_DUR_MSYNC : DAXKV_DUR_EMULATED);
	counts[info->slot % 2]++;
	return 0;
}

int main(void)
{
	struct daxkv_options o = dk_small_opts();
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	const char *dir = dk_test_dir("msync");
	uint8_t val[20000];
	int counts[2] = { 0, 0 };
	long acks = 0, bad = 0;
	uint64_t rng = 7;
	daxkv_batch *b;
	daxkv *db;
	char k[32];

	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	/* the writer makes its segments itself: every byte it changed is
	 * checked at its acknowledgement, none changes under another thread */
	o.flags = DAXKV_OPEN_NOBACKGROUND;
	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_batch_new(&b));
	for (int i = 0; i < 3000; i++) {
		size_t len = 10 + dk_rand(&rng) % (i % 10 == 0 ? 19000 : 300);
		int known = nsegs, op = (int)(dk_rand(&rng) % 10);

		snprintf(k, sizeof(k), "key%04d", (int)(dk_rand(&rng) % 300));
		memset(val, 'a' + i % 26, len);
		snap();
		if (op == 0) {
			int rc = daxkv_delete(db, k, strlen(k));

			CHECK(rc == 0 || rc == DAXKV_ENOTFOUND);
		} else if (op == 1) {
			daxkv_batch_clear(b);
			daxkv_batch_put(b, k, strlen(k), val, len);
			daxkv_batch_put(b, "zz", 2, val, 7);
			CHECK_OK(daxkv_batch_commit(db, b));
		} else {
			CHECK_OK(daxkv_put(db, k, strlen(k), val, len));
		}
		/* acknowledged: everything it changed in msync segments
		 * was msynced during the call */
		bad += unsynced_changes(known);
		acks++;
	}
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_OK(daxkv_segment_foreach(db, seg_fn, counts));
	printf("msync_test: %ld acknowledged writes, %d pmem and %d msync "
	       "segments, %ld bytes changed without an msync before the "
	       "acknowledgement, %ld msyncs of pmem segments\n",
	       acks, counts[0], counts[1], bad * 8, bad_msync);
	CHECK(counts[0] > 0 && counts[1] > 0);
	CHECK_EQ(st.segments_msync, (uint64_t)counts[1]);
	CHECK_EQ(bad, 0);
	CHECK_EQ(bad_msync, 0);
	daxkv_batch_free(b);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
	printf("1 passed, 0 failed\n");
	return 0;
}
