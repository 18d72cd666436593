// SPDX-License-Identifier: MIT
/*
 * persist.c -- default targets of the persistence seam in a
 * DAXKV_PERSIST_HOOKS build.  They are weak: a crash simulator linked into
 * the test program defines its own and sees every store, flush and fence.
 * In a production build this file is empty.
 */
#include "persist.h"

#ifdef DAXKV_PERSIST_HOOKS
__attribute__((weak)) void dk_seam_copy_nodrain(void *dst, const void *src,
						size_t len)
{
	pmem_memcpy(dst, src, len, PMEM_F_MEM_NONTEMPORAL | PMEM_F_MEM_NODRAIN);
}

__attribute__((weak)) void dk_seam_flush(const void *addr, size_t len)
{
	pmem_flush(addr, len);
}

__attribute__((weak)) void dk_seam_drain(void)
{
	pmem_drain();
}

__attribute__((weak)) void dk_seam_store8(uint64_t *addr, uint64_t val)
{
	__atomic_store_n(addr, val, __ATOMIC_RELEASE);
}

__attribute__((weak)) void dk_seam_store8_nt(uint64_t *addr, uint64_t val)
{
#if defined(__x86_64__)
	__builtin_ia32_movnti64((long long *)addr, (long long)val);
#else
	__atomic_store_n(addr, val, __ATOMIC_RELEASE);
	pmem_flush(addr, sizeof(*addr));
#endif
}

__attribute__((weak)) void dk_seam_msync(const void *addr, size_t len)
{
	pmem_msync(addr, len);
}

/* Told after each durable metadata word (meta.c: dk_meta_set), so a
 * simulator can order it against the data stores around it. */
__attribute__((weak)) void dk_seam_meta_set(const void *field, uint64_t val)
{
	(void)field;
	(void)val;
}

/* No engine bug is planted unless a simulator says so. */
__attribute__((weak)) int dk_seam_planted(int bug)
{
	(void)bug;
	return 0;
}
#else
typedef int dk_persist_hooks_unused; /* ISO C forbids an empty unit */
#endif
