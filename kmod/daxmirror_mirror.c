// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * daxmirror_mirror.c -- one device address space: page table, notifier and
 * fault path.
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
 * Faults follow the mmu_interval_read_begin()/read_retry() protocol: fault
 * without pt_lock (hmm_range_fault may itself trigger invalidations), then
 * take pt_lock and store the pfns only if no invalidation ran meanwhile;
 * otherwise start again, up to a timeout.
 */
#include <linux/delay.h>
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "daxmirror.h"

/*
 * Fault injection for the tests: sleep this long between hmm_range_fault()
 * and the commit under pt_lock, widening the window in which an
 * invalidation must make the commit retry.  0 (the default) in production.
 */
static unsigned int inject_commit_delay_us;
module_param(inject_commit_delay_us, uint, 0644);
MODULE_PARM_DESC(inject_commit_delay_us,
		 "test only: delay before committing a fault, microseconds");

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

	mirror = kzalloc(sizeof(*mirror), GFP_KERNEL);
	if (!mirror)
		return NULL;
	mmgrab(mm);
	mirror->mm = mm;
	init_rwsem(&mirror->map_sem);
	init_rwsem(&mirror->pt_lock);
	INIT_LIST_HEAD(&mirror->ranges);
	atomic64_inc(&dmr_live_files);
	return mirror;
}

static void dmr_range_free(struct dmr_range *range)
{
	/* Waits for a callback in progress; none can start afterwards. */
	mmu_interval_notifier_remove(&range->notifier);
	atomic64_sub((range->end - range->start) >> PAGE_SHIFT << 3,
		     &dmr_live_pt_bytes);
	atomic64_dec(&dmr_live_ranges);
	kvfree(range->pt);
	kfree(range);
}

/* Called once, when the last reference to the file is gone. */
void dmr_mirror_destroy(struct dmr_mirror *mirror)
{
	struct dmr_range *range, *next;

	list_for_each_entry_safe(range, next, &mirror->ranges, node) {
		list_del(&range->node);
		dmr_range_free(range);
	}
	mmdrop(mirror->mm);
	atomic64_dec(&dmr_live_files);
	kfree(mirror);
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
 * Register [addr, addr + len), already checked by the caller for alignment,
 * overflow and bounds, with the mm bound to the mirror (which is current's).
 * Caller holds map_sem for write.
 */
int dmr_mirror_map(struct dmr_mirror *mirror, unsigned long addr,
		   unsigned long len, struct dmr_range **out)
{
	unsigned long npages = len >> PAGE_SHIFT;
	struct dmr_range *range;
	int ret;

	if (mirror->nr_ranges >= DAXMIRROR_MAX_RANGES ||
	    mirror->mapped + len > DAXMIRROR_MAX_MIRROR_LEN)
		return -ENOSPC;
	if (dmr_mirror_overlaps(mirror, addr, addr + len))
		return -EEXIST;

	range = kzalloc(sizeof(*range), GFP_KERNEL);
	if (!range)
		return -ENOMEM;
	/* Charged to the caller's memory cgroup: up to 128 MiB a file. */
	range->pt = kvcalloc(npages, sizeof(*range->pt), GFP_KERNEL_ACCOUNT);
	if (!range->pt) {
		ret = -ENOMEM;
		goto err_free_range;
	}
	range->mirror = mirror;
	range->start = addr;
	range->end = addr + len;
	ret = mmu_interval_notifier_insert(&range->notifier, mirror->mm, addr,
					   len, &dmr_notifier_ops);
	if (ret)
		goto err_free_pt;

	list_add_tail(&range->node, &mirror->ranges);
	mirror->nr_ranges++;
	mirror->mapped += len;
	atomic64_inc(&dmr_live_ranges);
	atomic64_add(npages << 3, &dmr_live_pt_bytes);
	*out = range;
	return 0;

err_free_pt:
	kvfree(range->pt);
err_free_range:
	kfree(range);
	return ret;
}

/* Caller holds map_sem for write. */
int dmr_mirror_unmap(struct dmr_mirror *mirror, unsigned long addr,
		     unsigned long len)
{
	struct dmr_range *range;

	list_for_each_entry(range, &mirror->ranges, node) {
		if (range->start != addr || range->end - range->start != len)
			continue;
		list_del(&range->node);
		mirror->nr_ranges--;
		mirror->mapped -= len;
		dmr_range_free(range);
		return 0;
	}
	return -ENOENT;
}

/* The range holding all of [addr, addr + len), or NULL.  Holds map_sem. */
struct dmr_range *dmr_mirror_find(struct dmr_mirror *mirror,
				  unsigned long addr, unsigned long len)
{
	struct dmr_range *range;

	list_for_each_entry(range, &mirror->ranges, node)
		if (addr >= range->start && addr < range->end &&
		    len <= range->end - addr)
			return range;
	return NULL;
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

/* Store the result of a fault, if still current.  Returns false to retry. */
static bool dmr_range_commit(struct dmr_range *range,
			     const struct hmm_range *hrange)
{
	struct dmr_mirror *mirror = range->mirror;
	unsigned long npages = (hrange->end - hrange->start) >> PAGE_SHIFT;
	unsigned long first = (hrange->start - range->start) >> PAGE_SHIFT;
	unsigned long i;

	down_read(&mirror->pt_lock);
	if (mmu_interval_read_retry(&range->notifier, hrange->notifier_seq)) {
		up_read(&mirror->pt_lock);
		return false;
	}
	for (i = 0; i < npages; i++) {
		unsigned long hpfn = hrange->hmm_pfns[i];
		unsigned int order = hmm_pfn_to_map_order(hpfn);
		u64 pte;

		/* HMM_PFN_REQ_FAULT: every entry is valid on success. */
		if (WARN_ON_ONCE(!(hpfn & HMM_PFN_VALID)))
			continue;
		pte = DMR_PTE_VALID | ((u64)order << DMR_PTE_ORDER_SHIFT) |
		      (page_to_pfn(hmm_pfn_to_page(hpfn)) & DMR_PTE_PFN_MASK);
		if (hpfn & HMM_PFN_WRITE)
			pte |= DMR_PTE_WRITE;
		/*
		 * Lanes may commit the same page at once under the read
		 * side: both saw the same sequence, so both store the same
		 * value.
		 */
		WRITE_ONCE(range->pt[first + i], pte);
		dmr_count_order(mirror, order);
	}
	up_read(&mirror->pt_lock);
	return true;
}

static void dmr_range_mark_error(struct dmr_range *range, unsigned long addr)
{
	u64 *pte = &range->pt[(addr - range->start) >> PAGE_SHIFT];

	down_read(&range->mirror->pt_lock);
	if (!(READ_ONCE(*pte) & DMR_PTE_VALID))
		WRITE_ONCE(*pte, DMR_PTE_ERROR);
	up_read(&range->mirror->pt_lock);
}

/*
 * The device's fault handler: make [start, end) (page aligned, inside the
 * range, at most DMR_FAULT_PAGES) valid in the device page table, as a GPU
 * driver does on a device page fault.  pfns is scratch space of
 * DMR_FAULT_PAGES entries.  Returns 0, the error of hmm_range_fault (for
 * example -EFAULT for an address with no readable CPU mapping, or beyond
 * the end of the mapped file), -EBUSY past the timeout, -EINTR when
 * cancelled, or -ESRCH when the mm has exited.
 */
int dmr_range_fault(struct dmr_range *range, unsigned long start,
		    unsigned long end, unsigned long *pfns,
		    const atomic_t *cancel)
{
	struct dmr_mirror *mirror = range->mirror;
	struct mm_struct *mm = mirror->mm;
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
	unsigned int delay;
	int ret;

	if (WARN_ON_ONCE(start >= end || start < range->start ||
			 end > range->end ||
			 end - start > DMR_FAULT_PAGES * PAGE_SIZE))
		return -EINVAL;
	if (!mmget_not_zero(mm))
		return -ESRCH;

	timeout = jiffies + msecs_to_jiffies(DMR_FAULT_TIMEOUT_MS);
	for (;;) {
		if (cancel && atomic_read(cancel)) {
			ret = -EINTR;
			break;
		}
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			break;
		}
		hrange.notifier_seq = mmu_interval_read_begin(&range->notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(&hrange);
		mmap_read_unlock(mm);
		if (ret == -EBUSY) {
			atomic64_inc(&mirror->stats.retries);
			continue;
		}
		if (ret)
			break;
		delay = READ_ONCE(inject_commit_delay_us);
		if (delay)
			usleep_range(delay, delay + delay / 4 + 1);
		if (dmr_range_commit(range, &hrange))
			break;
		atomic64_inc(&mirror->stats.retries);
	}
	mmput(mm);

	if (ret) {
		atomic64_inc(&mirror->stats.fault_errors);
		atomic64_set(&mirror->stats.last_fault_error, ret);
		if (end - start == PAGE_SIZE && ret != -EINTR)
			dmr_range_mark_error(range, start);
	} else {
		atomic64_inc(&mirror->stats.faults);
	}
	return ret;
}

/* SNAPSHOT state of one page.  Caller holds map_sem and pt_lock (read). */
u8 dmr_range_snapshot_page(struct dmr_range *range, unsigned long addr)
{
	u64 pte = READ_ONCE(range->pt[(addr - range->start) >> PAGE_SHIFT]);
	u8 state = 0;

	if (pte & DMR_PTE_VALID) {
		state |= DAXMIRROR_SNAP_VALID;
		if (pte & DMR_PTE_WRITE)
			state |= DAXMIRROR_SNAP_WRITE;
		state |= ((pte & DMR_PTE_ORDER_MASK) >> DMR_PTE_ORDER_SHIFT)
			 << DAXMIRROR_SNAP_ORDER_SHIFT;
	} else if (pte & DMR_PTE_ERROR) {
		state |= DAXMIRROR_SNAP_ERROR;
	}
	return state;
}
