/* SPDX-License-Identifier: MIT */
/*
 * persist.h -- the persistence seam: every store to persistent memory that
 * the engine relies on goes through these calls.
 *
 *   dk_copy_nodrain(dst, src, n)  copy n bytes and start writing them back
 *                                 (non-temporal stores); not yet durable
 *   dk_flush(addr, n)             start writing back the lines of [addr, n)
 *   dk_drain()                    fence: everything copied/flushed before
 *                                 by this thread is durable when it returns
 *   dk_persist(addr, n)           dk_flush + dk_drain
 *   dk_store8(addr, v)            8-byte aligned store, single-copy atomic
 *                                 (and failure atomic on x86); not flushed
 *   dk_store8_flush(addr, v)      dk_store8 + dk_flush, done as one
 *                                 non-temporal store where it can be: no
 *                                 read of the line, nothing to evict
 *
 * Which instruction does what is decided once, below, for both builds: a
 * persistent-memory mapping gets non-temporal copies, movnti, clwb and
 * sfence; any other mapping gets plain stores and msync.  Those six
 * operations are the primitives (dk_prim_*).  A production build inlines
 * them; a build with DAXKV_PERSIST_HOOKS routes each one to a dk_seam_*()
 * function, so that a crash simulator sees every instruction the shipped
 * build would execute, with its semantics (a non-temporal copy or movnti
 * is in flight until the next fence, like a flushed line), and nothing
 * else changes.  The library's own weak definitions (persist.c) forward to
 * libpmem.
 */
#ifndef DK_PERSIST_H
#define DK_PERSIST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <libpmem.h>

/* How one mapping is made durable (each segment has its own, fixed when
 * it is mapped: libpmem's is_pmem for that file, i.e. MAP_SYNC or
 * PMEM_IS_PMEM_FORCE; DAXKV_OPEN_FORCE_MSYNC makes every one 0). */
struct dk_persist {
	int is_pmem; /* 1: cache flush + fence; 0: msync */
};

#ifdef DAXKV_PERSIST_HOOKS
void dk_seam_copy_nodrain(void *dst, const void *src, size_t len);
void dk_seam_flush(const void *addr, size_t len);
void dk_seam_drain(void);
void dk_seam_store8(uint64_t *addr, uint64_t val);
void dk_seam_store8_nt(uint64_t *addr, uint64_t val);
/* A mapping that is not persistent memory: [addr, addr + len) is written
 * back with msync, durable when this returns. */
void dk_seam_msync(const void *addr, size_t len);
/* Told after each durable metadata word (meta.c: dk_meta_set). */
void dk_seam_meta_set(const void *field, uint64_t val);

/* Engine bugs a crash simulator plants to show that it catches them
 * (DK_PLANT_*, below): true where bug @p bug is to be made.  The
 * production build's is the constant false. */
int dk_seam_planted(int bug);

#define dk_prim_copy_nt dk_seam_copy_nodrain
#define dk_prim_flush dk_seam_flush
#define dk_prim_fence dk_seam_drain
#define dk_prim_store8 dk_seam_store8
#define dk_prim_store8_nt dk_seam_store8_nt
#define dk_prim_msync dk_seam_msync
#else
static inline void dk_prim_copy_nt(void *dst, const void *src, size_t len)
{
	pmem_memcpy(dst, src, len, PMEM_F_MEM_NONTEMPORAL | PMEM_F_MEM_NODRAIN);
}

static inline void dk_prim_flush(const void *addr, size_t len)
{
	pmem_flush(addr, len);
}

static inline void dk_prim_fence(void)
{
	pmem_drain();
}

static inline void dk_prim_store8(uint64_t *addr, uint64_t val)
{
	__atomic_store_n(addr, val, __ATOMIC_RELEASE);
}

static inline void dk_prim_store8_nt(uint64_t *addr, uint64_t val)
{
#if defined(__x86_64__)
	/* movnti: the line need not be read in; the next fence makes the
	 * store durable, as a flushed store would be */
	__builtin_ia32_movnti64((long long *)addr, (long long)val);
#else
	dk_prim_store8(addr, val);
	dk_prim_flush(addr, sizeof(*addr));
#endif
}

static inline void dk_prim_msync(const void *addr, size_t len)
{
	pmem_msync(addr, len);
}

static inline int dk_seam_planted(int bug)
{
	(void)bug;
	return 0;
}
#endif

/* Bugs the crash simulator can plant in the engine (dk_seam_planted):
 * compaction drops every tombstone that has no index entry, whatever
 * older versions of its key may still lie in other segments (compact.c,
 * the tombstone rule). */
#define DK_PLANT_TOMB_ANY 1

static inline void dk_copy_nodrain(const struct dk_persist *pm, void *dst,
				   const void *src, size_t len)
{
	if (pm->is_pmem) {
		dk_prim_copy_nt(dst, src, len);
	} else {
		memcpy(dst, src, len);
		dk_prim_msync(dst, len);
	}
}

static inline void dk_flush(const struct dk_persist *pm, const void *addr,
			    size_t len)
{
	if (pm->is_pmem)
		dk_prim_flush(addr, len);
	else
		dk_prim_msync(addr, len);
}

/* A fence for every mapping written before it: a commit may store into
 * mappings of both kinds (records in one segment, superseded marks in
 * another), and an msync is complete when it returns, so the fence is
 * the pmem side's and costs the msync side nothing that matters. */
static inline void dk_drain(const struct dk_persist *pm)
{
	(void)pm;
	dk_prim_fence();
}

static inline void dk_persist(const struct dk_persist *pm, const void *addr,
			      size_t len)
{
	dk_flush(pm, addr, len);
	dk_drain(pm);
}

static inline void dk_store8(const struct dk_persist *pm, uint64_t *addr,
			     uint64_t val)
{
	(void)pm;
	dk_prim_store8(addr, val);
}

static inline void dk_store8_flush(const struct dk_persist *pm, uint64_t *addr,
				   uint64_t val)
{
	if (pm->is_pmem) {
		dk_prim_store8_nt(addr, val);
		return;
	}
	dk_store8(pm, addr, val);
	dk_flush(pm, addr, sizeof(*addr));
}

#endif
