// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * daxmirror_mirror.c -- one device address space: page table, notifier,
 * fault path, and what may be mirrored.
 *
 * The device page table never holds a page reference.  This is what lets
 * the file system stay in charge of its blocks: truncate, hole punch and
 * block reuse proceed as if the device did not exist, because DAX waits
 * only for page references to drop, and there are none.  The price is the
 * invariant this file keeps:
 *
 *   An entry is valid only between a successful hmm_range_fault whose
 *   sequence was still current when the entry was stored, and the next
 *   invalidation of its address; the invalidation clears it, under
 *   pt_lock, before the callback returns, and the kernel frees or reuses
 *   the page only after the callback returns.
 *
 * Faults follow the mmu_interval_read_begin()/read_retry() protocol, in
 * the calling thread: under the caller's mmap_lock (read), check that
 * every VMA of the window is a shared DAX mapping, hmm_range_fault, then
 * take pt_lock and store the pfns only if no invalidation ran meanwhile;
 * otherwise start again, up to a timeout.  The VMA check, the fault and
 * the commit share one mmap_lock hold, so the VMAs checked are the ones
 * faulted and no VMA can be replaced before the commit.
 *
 * What the device may read (dmr_page_readable()): fsdax and devdax
 * ZONE_DEVICE pages, and the zero pages DAX maps over holes.  Those are
 * in the kernel's direct map and are not device-private, P2P or
 * secretmem pages.  A page the kernel has marked hardware-poisoned is
 * never read (-EIO), and every read of pmem goes through
 * copy_mc_to_kernel() (dmr_pmem_read()), so a machine check on a line
 * nobody knew was bad becomes -EIO for that access instead of a kernel
 * panic, and the page is refused from then on.
 */
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/hrtimer.h>
#include <linux/huge_mm.h>
#include <linux/jiffies.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/page-flags.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include "daxmirror.h"

/*
 * Fault injection for the tests: sleep this long (killably) between
 * hmm_range_fault() and the commit under pt_lock, widening the window in
 * which an invalidation must make the commit retry.  0 (the default) in
 * production; only root can read or set it, and it is capped at
 * DMR_MAX_COMMIT_DELAY_US.
 */
#define DMR_MAX_COMMIT_DELAY_US 100000u
static unsigned int inject_commit_delay_us;
module_param(inject_commit_delay_us, uint, 0600);
MODULE_PARM_DESC(inject_commit_delay_us,
		 "test only: delay before committing a fault, microseconds (root)");

static unsigned int dmr_event_index(enum mmu_notifier_event event)
{
	switch (event) {
	case MMU_NOTIFY_UNMAP:
		return DAXMIRROR_EV_UNMAP;
	case MMU_NOTIFY_CLEAR:
		return DAXMIRROR_EV_CLEAR;
	case MMU_NOTIFY_PROTECTION_VMA:
		return DAXMIRROR_EV_PROTECTION_VMA;
	case MMU_NOTIFY_PROTECTION_PAGE:
		return DAXMIRROR_EV_PROTECTION_PAGE;
	case MMU_NOTIFY_SOFT_DIRTY:
		return DAXMIRROR_EV_SOFT_DIRTY;
	case MMU_NOTIFY_RELEASE:
		return DAXMIRROR_EV_RELEASE;
	case MMU_NOTIFY_MIGRATE:
		return DAXMIRROR_EV_MIGRATE;
	case MMU_NOTIFY_EXCLUSIVE:
		return DAXMIRROR_EV_EXCLUSIVE;
	}
	return DAXMIRROR_EV_OTHER;
}

static bool dmr_invalidate(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_range *nrange,
			   unsigned long cur_seq)
{
	struct dmr_range *range = container_of(sub, struct dmr_range,
					       notifier);
	struct dmr_mirror *mirror = range->mirror;
	unsigned long start = max(nrange->start, range->start);
	unsigned long end = min(nrange->end, range->end);
	unsigned long addr;
	u64 cleared = 0;

	if (mmu_notifier_range_blockable(nrange))
		down_write(&mirror->pt_lock);
	else if (!down_write_trylock(&mirror->pt_lock))
		return false;

	mmu_interval_set_seq(sub, cur_seq);
	for (addr = start; addr < end; addr += PAGE_SIZE) {
		u64 *pte = &range->pt[(addr - range->start) >> PAGE_SHIFT];

		if (*pte)
			cleared++;
		WRITE_ONCE(*pte, 0);
	}
	up_write(&mirror->pt_lock);

	atomic64_inc(&mirror->stats.invalidations);
	atomic64_add(cleared, &mirror->stats.pages_cleared);
	atomic64_inc(&mirror->stats.events[dmr_event_index(nrange->event)]);
	return true;
}

static const struct mmu_interval_notifier_ops dmr_notifier_ops = {
	.invalidate = dmr_invalidate,
};

struct dmr_mirror *dmr_mirror_create(struct mm_struct *mm)
{
	struct dmr_mirror *mirror;

	mirror = kzalloc(sizeof(*mirror), GFP_KERNEL_ACCOUNT);
	if (!mirror)
		return NULL;
	kref_init(&mirror->ref);
	mmgrab(mm);
	mirror->mm = mm;
	sema_init(&mirror->calls, DMR_MAX_CALLS);
	init_rwsem(&mirror->map_sem);
	init_rwsem(&mirror->pt_lock);
	INIT_LIST_HEAD(&mirror->ranges);
	atomic64_inc(&dmr_live_files);
	return mirror;
}

void dmr_mirror_get(struct dmr_mirror *mirror)
{
	kref_get(&mirror->ref);
}

static void dmr_mirror_free(struct kref *ref)
{
	struct dmr_mirror *mirror = container_of(ref, struct dmr_mirror, ref);

	WARN_ON_ONCE(!list_empty(&mirror->ranges));
	mmdrop(mirror->mm);
	atomic64_dec(&dmr_live_files);
	kfree(mirror);
}

/* May sleep (the last range's notifier removal may run before it). */
void dmr_mirror_put(struct dmr_mirror *mirror)
{
	kref_put(&mirror->ref, dmr_mirror_free);
}

void dmr_range_get(struct dmr_range *range)
{
	kref_get(&range->ref);
}

static void dmr_range_free(struct kref *ref)
{
	struct dmr_range *range = container_of(ref, struct dmr_range, ref);
	struct dmr_mirror *mirror = range->mirror;
	u64 bytes = (range->end - range->start) >> PAGE_SHIFT << 3;

	/* Waits for a callback in progress; none can start afterwards. */
	mmu_interval_notifier_remove(&range->notifier);
	atomic64_sub(bytes, &dmr_live_pt_bytes);
	atomic64_sub(bytes, &mirror->stats.pt_bytes);
	atomic64_dec(&dmr_live_ranges);
	kvfree(range->pt);
	kfree(range);
	dmr_mirror_put(mirror);
}

/* May sleep: the last reference removes the notifier. */
void dmr_range_put(struct dmr_range *range)
{
	might_sleep();
	kref_put(&range->ref, dmr_range_free);
}

/*
 * The file's last reference is gone: unlist every range.  No ioctl can be
 * running (each holds a file reference), but jobs of killed callers may
 * still hold ranges and the mirror; the last of them frees the rest.
 */
void dmr_mirror_release(struct dmr_mirror *mirror)
{
	struct dmr_range *range, *next;
	LIST_HEAD(dead);

	down_write(&mirror->map_sem);
	list_splice_init(&mirror->ranges, &dead);
	mirror->nr_ranges = 0;
	mirror->mapped = 0;
	up_write(&mirror->map_sem);
	list_for_each_entry_safe(range, next, &dead, node) {
		list_del(&range->node);
		dmr_range_put(range);
	}
	dmr_mirror_put(mirror);
}

/* Caller holds map_sem. */
static bool dmr_mirror_overlaps(struct dmr_mirror *mirror,
				unsigned long start, unsigned long end)
{
	struct dmr_range *range;

	list_for_each_entry(range, &mirror->ranges, node)
		if (start < range->end && range->start < end)
			return true;
	return false;
}

/*
 * May the device mirror this VMA?  Shared DAX, not I/O or PFN memory.
 * Shared is VM_MAYSHARE, not VM_SHARED: do_mmap() clears VM_SHARED (and
 * VM_MAYWRITE) for a MAP_SHARED mapping of a file not opened for writing,
 * such as a read-only open's segments.  Such a mapping can never be made
 * writable, so it holds no COW copies: every page is the file's own.  A
 * private mapping never has VM_MAYSHARE, and stays refused.
 */
static bool dmr_vma_mirrorable(const struct vm_area_struct *vma)
{
	return vma_is_dax(vma) && (vma->vm_flags & VM_MAYSHARE) &&
	       !(vma->vm_flags & (VM_IO | VM_PFNMAP));
}

/*
 * Is [start, end) covered by VMAs the device may mirror?  0, -EFAULT for
 * a hole, -EOPNOTSUPP for any other VMA.  Caller holds mm's mmap_lock.
 */
int dmr_mirror_check_vmas(struct mm_struct *mm, unsigned long start,
			  unsigned long end)
{
	mmap_assert_locked(mm);
	while (start < end) {
		struct vm_area_struct *vma = vma_lookup(mm, start);

		if (!vma)
			return -EFAULT;
		if (!dmr_vma_mirrorable(vma))
			return -EOPNOTSUPP;
		start = vma->vm_end;
	}
	return 0;
}

/*
 * Register [addr, addr + len), already checked by the caller for alignment,
 * overflow and bounds, with the mm bound to the mirror (which is current's),
 * if shared DAX mappings cover it all.  The check is advisory (VMAs can
 * change afterwards; every fault checks again), but a MAP of the wrong
 * memory fails where the caller can see why.  On success *out is the range
 * with a reference for the caller.  Takes map_sem, then mmap_lock (write).
 */
int dmr_mirror_map(struct dmr_mirror *mirror, unsigned long addr,
		   unsigned long len, struct dmr_range **out)
{
	unsigned long npages = len >> PAGE_SHIFT;
	struct dmr_range *range;
	int ret;

	/* Charged to the caller's memory cgroup: up to 128 MiB a file. */
	range = kzalloc(sizeof(*range), GFP_KERNEL_ACCOUNT);
	if (!range)
		return -ENOMEM;
	range->pt = kvcalloc(npages, sizeof(*range->pt), GFP_KERNEL_ACCOUNT);
	if (!range->pt) {
		ret = -ENOMEM;
		goto err_free_range;
	}
	kref_init(&range->ref);
	range->mirror = mirror;
	range->start = addr;
	range->end = addr + len;

	ret = down_write_killable(&mirror->map_sem);
	if (ret)
		goto err_free_pt;
	if (mirror->nr_ranges >= DAXMIRROR_MAX_RANGES ||
	    mirror->mapped + len > DAXMIRROR_MAX_MIRROR_LEN) {
		ret = -ENOSPC;
		goto err_unlock;
	}
	if (dmr_mirror_overlaps(mirror, addr, addr + len)) {
		ret = -EEXIST;
		goto err_unlock;
	}
	/*
	 * The VMA check and the registration under one hold of mmap_lock,
	 * taken killably: mmu_interval_notifier_insert() would take it for
	 * write, uninterruptibly, at the mm's first notifier.
	 */
	ret = mmap_write_lock_killable(mirror->mm);
	if (ret)
		goto err_unlock;
	ret = dmr_mirror_check_vmas(mirror->mm, addr, addr + len);
	if (!ret)
		ret = mmu_interval_notifier_insert_locked(&range->notifier,
							  mirror->mm, addr,
							  len,
							  &dmr_notifier_ops);
	mmap_write_unlock(mirror->mm);
	if (ret)
		goto err_unlock;

	dmr_mirror_get(mirror);		/* the range's */
	dmr_range_get(range);		/* the caller's; the list has one */
	list_add_tail(&range->node, &mirror->ranges);
	mirror->nr_ranges++;
	mirror->mapped += len;
	up_write(&mirror->map_sem);
	atomic64_inc(&dmr_live_ranges);
	atomic64_add(npages << 3, &dmr_live_pt_bytes);
	atomic64_add(npages << 3, &mirror->stats.pt_bytes);
	*out = range;
	return 0;

err_unlock:
	up_write(&mirror->map_sem);
err_free_pt:
	kvfree(range->pt);
err_free_range:
	kfree(range);
	return ret;
}

/*
 * Unlist the range MAP registered at exactly addr, len.  Jobs using it keep
 * it until they finish.  Takes map_sem.
 */
int dmr_mirror_unmap(struct dmr_mirror *mirror, unsigned long addr,
		     unsigned long len)
{
	struct dmr_range *range, *found = NULL;
	int ret;

	ret = down_write_killable(&mirror->map_sem);
	if (ret)
		return ret;
	list_for_each_entry(range, &mirror->ranges, node) {
		if (range->start != addr || range->end - range->start != len)
			continue;
		list_del(&range->node);
		mirror->nr_ranges--;
		mirror->mapped -= len;
		found = range;
		break;
	}
	up_write(&mirror->map_sem);
	if (!found)
		return -ENOENT;
	dmr_range_put(found);
	return 0;
}

/* The range holding all of [addr, addr + len), or NULL.  Holds map_sem. */
struct dmr_range *dmr_mirror_find(struct dmr_mirror *mirror,
				  unsigned long addr, unsigned long len)
{
	struct dmr_range *range;

	lockdep_assert_held(&mirror->map_sem);
	list_for_each_entry(range, &mirror->ranges, node)
		if (addr >= range->start && addr < range->end &&
		    len <= range->end - addr)
			return range;
	return NULL;
}

/*
 * dmr_mirror_find() with a reference for the caller: NULL if there is no
 * such range, an ERR_PTR on a fatal signal.  Takes map_sem.
 */
struct dmr_range *dmr_mirror_find_get(struct dmr_mirror *mirror,
				      unsigned long addr, unsigned long len)
{
	struct dmr_range *range;

	if (down_read_killable(&mirror->map_sem))
		return ERR_PTR(-EINTR);
	range = dmr_mirror_find(mirror, addr, len);
	if (range)
		dmr_range_get(range);
	up_read(&mirror->map_sem);
	return range;
}

static void dmr_count_order(struct dmr_mirror *mirror, unsigned int order)
{
	if (order == 0)
		atomic64_inc(&mirror->stats.order0);
	else if (order == PMD_SHIFT - PAGE_SHIFT)
		atomic64_inc(&mirror->stats.order9);
	else
		atomic64_inc(&mirror->stats.order_other);
}

/*
 * The pgmap type of a ZONE_DEVICE page.  Only the head page of a compound
 * one (devdax maps 2 MiB compound pages) holds the pgmap: a tail's word
 * there is its compound_head.  6.15 made that page_pgmap().
 */
static enum memory_type dmr_page_pgmap_type(struct page *page)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
	return page_pgmap(page)->type;
#else
	return compound_head(page)->pgmap->type;
#endif
}

/*
 * The huge zero folio, which DAX maps over a PMD-sized hole.  The kernel
 * does not export it to modules, so it is recognised by what it is: in a
 * shared DAX VMA (checked under the same mmap_lock as the fault) the only
 * large folio outside ZONE_DEVICE the kernel maps is that one, a
 * PMD-order folio with no mapping (anonymous, page cache and secretmem
 * folios all have one).
 */
static bool dmr_page_is_huge_zero(struct page *page)
{
	struct folio *folio = page_folio(page);

	return folio_order(folio) == HPAGE_PMD_ORDER &&
	       !READ_ONCE(folio->mapping);
}

/*
 * May the device read this page through the kernel's direct map?  An
 * fsdax or devdax page, or a zero page (DAX maps one over a hole).  Not a
 * device-private, coherent or P2P page (no direct mapping, or one the CPU
 * must not read this way), not anonymous or page cache memory (the VMA
 * check keeps it out; this is the second line), not secretmem (removed
 * from the direct map).
 */
static bool dmr_page_readable(struct page *page)
{
	if (is_zone_device_page(page)) {
		enum memory_type type = dmr_page_pgmap_type(page);

		return type == MEMORY_DEVICE_FS_DAX ||
		       type == MEMORY_DEVICE_GENERIC;
	}
	return is_zero_pfn(page_to_pfn(page)) || dmr_page_is_huge_zero(page);
}

/* Has the kernel marked the page (or, for a large folio, its head) bad? */
static bool dmr_page_poisoned(struct page *page)
{
	return PageHWPoison(page) || PageHWPoison(compound_head(page));
}

/*
 * Store the result of a fault, if still current.  Returns false to retry.
 * Pages the device must not read are stored as refused or poisoned
 * entries, so that the access that wanted them fails instead of faulting
 * again.  Caller holds mmap_lock (read).
 */
static bool dmr_range_commit(struct dmr_range *range,
			     const struct hmm_range *hrange)
{
	struct dmr_mirror *mirror = range->mirror;
	unsigned long npages = (hrange->end - hrange->start) >> PAGE_SHIFT;
	unsigned long first = (hrange->start - range->start) >> PAGE_SHIFT;
	u64 refused = 0, poisoned = 0;
	unsigned long i;

	/* A fatal signal makes the caller's loop return -EINTR. */
	if (down_read_killable(&mirror->pt_lock))
		return false;
	if (mmu_interval_read_retry(&range->notifier, hrange->notifier_seq)) {
		up_read(&mirror->pt_lock);
		return false;
	}
	for (i = 0; i < npages; i++) {
		unsigned long hpfn = hrange->hmm_pfns[i];
		unsigned int order = hmm_pfn_to_map_order(hpfn);
		struct page *page;
		u64 pfn, pte;

		/* HMM_PFN_REQ_FAULT: every entry is valid on success. */
		if (WARN_ON_ONCE(!(hpfn & HMM_PFN_VALID)))
			continue;
		page = hmm_pfn_to_page(hpfn);
		pfn = page_to_pfn(page) & DMR_PTE_PFN_MASK;
		if (!dmr_page_readable(page)) {
			pte = DMR_PTE_ERROR | DMR_PTE_REFUSED;
			refused++;
		} else if (dmr_page_poisoned(page)) {
			pte = DMR_PTE_ERROR | DMR_PTE_POISON | pfn;
			poisoned++;
		} else {
			pte = DMR_PTE_VALID | pfn |
			      ((u64)min(order, 31u) << DMR_PTE_ORDER_SHIFT);
			if (hpfn & HMM_PFN_WRITE)
				pte |= DMR_PTE_WRITE;
			dmr_count_order(mirror, order);
		}
		/*
		 * The caller's faults may commit the same page from several
		 * threads at once under the read side: both saw the same
		 * sequence, so both store the same value.
		 */
		WRITE_ONCE(range->pt[first + i], pte);
	}
	up_read(&mirror->pt_lock);
	if (refused)
		atomic64_add(refused, &mirror->stats.refused);
	if (poisoned)
		atomic64_add(poisoned, &mirror->stats.poisoned);
	return true;
}

static void dmr_range_mark_error(struct dmr_range *range, unsigned long addr)
{
	u64 *pte = &range->pt[(addr - range->start) >> PAGE_SHIFT];

	if (down_read_killable(&range->mirror->pt_lock))
		return;	/* only a hint: the next access faults again */
	if (!READ_ONCE(*pte))
		WRITE_ONCE(*pte, DMR_PTE_ERROR);
	up_read(&range->mirror->pt_lock);
}

/* Sleep the test delay, waking early for a fatal signal. */
static void dmr_inject_delay(void)
{
	unsigned int delay = min(READ_ONCE(inject_commit_delay_us),
				 DMR_MAX_COMMIT_DELAY_US);
	ktime_t expires;

	if (!delay)
		return;
	expires = ktime_set(0, (u64)delay * NSEC_PER_USEC);
	set_current_state(TASK_KILLABLE);
	schedule_hrtimeout_range(&expires, (u64)delay * NSEC_PER_USEC / 4,
				 HRTIMER_MODE_REL);
	__set_current_state(TASK_RUNNING);
}

/*
 * The device's fault handler, in the calling thread (a thread of the
 * mirror's mm): make [start, end) (page aligned, inside the range, at most
 * DMR_FAULT_PAGES) present in the device page table, as a GPU driver does
 * on a device page fault.  pfns is scratch space of DMR_FAULT_PAGES
 * entries; it is zeroed before every call, because hmm_range_fault() reads
 * input flags from it.  Returns 0 (some entries may be refused or
 * poisoned), -EFAULT for an address with no readable CPU mapping or beyond
 * the end of its file, -EOPNOTSUPP for a VMA that is not a shared DAX
 * mapping, -EBUSY past the timeout, or -EINTR on a fatal signal.
 */
int dmr_range_fault(struct dmr_range *range, unsigned long start,
		    unsigned long end, unsigned long *pfns)
{
	struct dmr_mirror *mirror = range->mirror;
	struct mm_struct *mm = mirror->mm;
	unsigned long npages = (end - start) >> PAGE_SHIFT;
	struct hmm_range hrange = {
		.notifier = &range->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.default_flags = HMM_PFN_REQ_FAULT,
		.pfn_flags_mask = 0,
		.dev_private_owner = NULL,
	};
	unsigned long timeout;
	bool committed;
	int ret;

	if (WARN_ON_ONCE(start >= end || start < range->start ||
			 end > range->end || npages > DMR_FAULT_PAGES ||
			 current->mm != mm))
		return -EINVAL;

	timeout = jiffies + msecs_to_jiffies(DMR_FAULT_TIMEOUT_MS);
	for (;;) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			break;
		}
		memset(pfns, 0, npages * sizeof(*pfns));
		hrange.notifier_seq = mmu_interval_read_begin(&range->notifier);
		if (mmap_read_lock_killable(mm)) {
			ret = -EINTR;
			break;
		}
		committed = false;
		ret = dmr_mirror_check_vmas(mm, start, end);
		if (!ret)
			ret = hmm_range_fault(&hrange);
		if (!ret) {
			dmr_inject_delay();
			committed = dmr_range_commit(range, &hrange);
		}
		mmap_read_unlock(mm);
		if (ret == -EBUSY || (!ret && !committed)) {
			atomic64_inc(&mirror->stats.retries);
			cond_resched();
			continue;
		}
		break;
	}

	if (ret) {
		atomic64_inc(&mirror->stats.fault_errors);
		atomic64_set(&mirror->stats.last_fault_error, ret);
		if (ret == -EOPNOTSUPP)
			atomic64_inc(&mirror->stats.refused);
		if (npages == 1 && ret != -EINTR)
			dmr_range_mark_error(range, start);
	} else {
		atomic64_inc(&mirror->stats.faults);
	}
	return ret;
}

/*
 * The page behind addr in the device page table: NULL on a miss (fault
 * it), ERR_PTR(-EIO) for a poisoned page, ERR_PTR(-EOPNOTSUPP) for a
 * refused one.  Caller holds pt_lock for read, and may read the page with
 * dmr_pmem_read() until it drops it.
 */
struct page *dmr_range_lookup(struct dmr_range *range, unsigned long addr)
{
	u64 *ptep = &range->pt[(addr - range->start) >> PAGE_SHIFT];
	u64 pte = READ_ONCE(*ptep);
	struct page *page;

	lockdep_assert_held_read(&range->mirror->pt_lock);
	if (unlikely(!(pte & DMR_PTE_VALID))) {
		if (pte & DMR_PTE_POISON)
			return ERR_PTR(-EIO);
		if (pte & DMR_PTE_REFUSED)
			return ERR_PTR(-EOPNOTSUPP);
		return NULL;
	}
	if (WARN_ON_ONCE(!pfn_valid(pte & DMR_PTE_PFN_MASK)))
		return ERR_PTR(-EIO);
	page = pfn_to_page(pte & DMR_PTE_PFN_MASK);
	/* Poisoned after the fault (memory_failure() marks the page before
	 * it unmaps it): refuse it before reading it. */
	if (unlikely(dmr_page_poisoned(page))) {
		dmr_range_mark_poison(range, addr);
		return ERR_PTR(-EIO);
	}
	return page;
}

/*
 * Refuse the page at addr from now on: a read of it raised a machine check
 * or the kernel marked it poisoned.  Caller holds pt_lock for read, so no
 * invalidation runs, and a fault committing concurrently stores the same
 * pfn valid (then the next access finds the poison again).
 */
void dmr_range_mark_poison(struct dmr_range *range, unsigned long addr)
{
	u64 *ptep = &range->pt[(addr - range->start) >> PAGE_SHIFT];
	u64 pte = READ_ONCE(*ptep);

	lockdep_assert_held_read(&range->mirror->pt_lock);
	if (pte & DMR_PTE_VALID)
		WRITE_ONCE(*ptep, DMR_PTE_ERROR | DMR_PTE_POISON |
				  (pte & DMR_PTE_PFN_MASK));
	atomic64_inc(&range->mirror->stats.poisoned);
}

/*
 * Read len bytes of device memory at addr, inside page (which the caller
 * looked up, holding pt_lock for read), machine-check safe.  Returns the
 * bytes NOT copied: 0, or after a machine check the bytes from the first
 * one it hit to the end, and the page is refused from then on.
 * copy_mc_to_kernel() is what the pmem driver reads with; on an
 * architecture without machine-check recovery it is a memcpy().
 */
size_t dmr_pmem_read(struct dmr_range *range, unsigned long addr, void *dst,
		     struct page *page, size_t len)
{
	void *kaddr = kmap_local_page(page);
	unsigned long left;

	left = copy_mc_to_kernel(dst, kaddr + offset_in_page(addr), len);
	kunmap_local(kaddr);
	if (unlikely(left))
		dmr_range_mark_poison(range, addr);
	return left;
}

/* SNAPSHOT state of one page.  Caller holds pt_lock (read). */
u8 dmr_range_snapshot_page(struct dmr_range *range, unsigned long addr)
{
	u64 pte = READ_ONCE(range->pt[(addr - range->start) >> PAGE_SHIFT]);
	u8 state = 0;

	if (pte & DMR_PTE_VALID) {
		u64 order = (pte & DMR_PTE_ORDER_MASK) >> DMR_PTE_ORDER_SHIFT;

		state |= DAXMIRROR_SNAP_VALID;
		if (pte & DMR_PTE_WRITE)
			state |= DAXMIRROR_SNAP_WRITE;
		state |= min_t(u64, order, 15) << DAXMIRROR_SNAP_ORDER_SHIFT;
	} else if (pte & DMR_PTE_ERROR) {
		state |= DAXMIRROR_SNAP_ERROR;
		if (pte & DMR_PTE_POISON)
			state |= DAXMIRROR_SNAP_WHY_POISON;
		else if (pte & DMR_PTE_REFUSED)
			state |= DAXMIRROR_SNAP_WHY_REFUSED;
	}
	return state;
}
