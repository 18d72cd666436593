/* SPDX-License-Identifier: MIT */
/*
 * persist.h -- the persistence seam: every store to persistent memory that
 * the engine relies on goes through these five calls.
 *
 *   dk_copy_nodrain(dst, src, n)  copy n bytes and start writing them back
 *                                 (non-temporal stores); not yet durable
 *   dk_flush(addr, n)             start writing back the lines of [addr, n)
 *   dk_drain()                    fence: everything copied/flushed before
 *                                 is durable when it returns
 *   dk_persist(addr, n)           dk_flush + dk_drain
 *   dk_store8(addr, v)            8-byte aligned store, single-copy atomic
 *                                 (and failure atomic on x86); not flushed
 *   dk_store8_flush(addr, v)      dk_store8 + dk_flush, done as one
 *                                 non-temporal store where it can be: no
 *                                 read of the line, nothing to evict
 *
 * Production builds inline them to libpmem (or to msync when the mapping
 * is not persistent memory).  A build with DAXKV_PERSIST_HOOKS routes them
 * to dk_seam_*() functions so that a crash simulator can watch every store,
 * flush and fence; the library's own weak definitions forward to libpmem.
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
/* A mapping that is not persistent memory: [addr, addr + len) is written
 * back with msync, durable when this returns. */
void dk_seam_msync(const void *addr, size_t len);
/* Told after each durable metadata word (meta.c: dk_meta_set). */
void dk_seam_meta_set(const void *field, uint64_t val);
#endif

static inline void dk_copy_nodrain(const struct dk_persist *pm, void *dst,
				   const void *src, size_t len)
{
#ifdef DAXKV_PERSIST_HOOKS
	if (!pm->is_pmem) {
		memcpy(dst, src, len);
		dk_seam_msync(dst, len);
		return;
	}
	dk_seam_copy_nodrain(dst, src, len);
#else
	if (pm->is_pmem) {
		pmem_memcpy(dst, src, len,
			    PMEM_F_MEM_NONTEMPORAL | PMEM_F_MEM_NODRAIN);
	} else {
		memcpy(dst, src, len);
		pmem_msync(dst, len);
	}
#endif
}

static inline void dk_flush(const struct dk_persist *pm, const void *addr,
			    size_t len)
{
#ifdef DAXKV_PERSIST_HOOKS
	if (!pm->is_pmem) {
		dk_seam_msync(addr, len);
		return;
	}
	dk_seam_flush(addr, len);
#else
	if (pm->is_pmem)
		pmem_flush(addr, len);
	else
		pmem_msync(addr, len);
#endif
}

/* A fence for every mapping written before it: a commit may store into
 * mappings of both kinds (records in one segment, superseded marks in
 * another), and an msync is complete when it returns, so the fence is
 * the pmem side's and costs the msync side nothing that matters. */
static inline void dk_drain(const struct dk_persist *pm)
{
	(void)pm;
#ifdef DAXKV_PERSIST_HOOKS
	dk_seam_drain();
#else
	pmem_drain();
#endif
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
#ifdef DAXKV_PERSIST_HOOKS
	(void)pm;
	dk_seam_store8(addr, val);
#else
	(void)pm;
	__atomic_store_n(addr, val, __ATOMIC_RELEASE);
#endif
}

static inline void dk_store8_flush(const struct dk_persist *pm, uint64_t *addr,
				   uint64_t val)
{
#ifdef DAXKV_PERSIST_HOOKS
	dk_seam_store8(addr, val);
	dk_flush(pm, addr, sizeof(*addr));
#else
#if defined(__x86_64__)
	if (pm->is_pmem) {
		/* movnti: the line need not be read in; the next fence makes
		 * the store durable, as a flushed store would be */
		__builtin_ia32_movnti64((long long *)addr, (long long)val);
		return;
	}
#endif
	dk_store8(pm, addr, val);
	dk_flush(pm, addr, sizeof(*addr));
#endif
}

#endif
