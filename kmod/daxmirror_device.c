// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * daxmirror_device.c -- the emulated device: jobs over mirrored pages,
 * executed by parallel lanes.
 *
 * A lane is a work item on an unbound workqueue, so lanes of one job run
 * on different CPUs, like the engines of a real device.  The device reads
 * memory only through its page table (see daxmirror_mirror.c): for each
 * page it takes pt_lock for read, and if the entry is valid it hands the
 * page to the job's kernel before dropping the lock.  An invalidation
 * therefore waits for any access already using the page and every later
 * access sees the cleared entry and faults again: the device can never
 * use a page after the invalidation that took it away.
 *
 * The submitting thread waits killably.  A fatal signal sets job->cancel;
 * lanes notice it before their next page or fault retry, and the submitter
 * still waits for them to finish (each page takes microseconds, a fault at
 * most DMR_FAULT_TIMEOUT_MS), because the job lives on its stack.
 */
#include <linux/highmem.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "daxmirror.h"

static struct workqueue_struct *dmr_wq;

/*
 * The device's page fault: make the page at page_addr valid, faulting the
 * window [page_addr, fault_end) the lane is about to touch (at most one
 * PMD).  A window can fail because of a page the lane does not need yet
 * (beyond the end of a truncated file, say): then fault just this page,
 * whose error is the one to report.  Called without pt_lock.
 */
int dmr_lane_fault(struct dmr_lane *lane, struct dmr_range *range,
		   unsigned long page_addr, unsigned long fault_end)
{
	int ret;

	lane->faults++;
	ret = dmr_range_fault(range, page_addr, fault_end, lane->pfns,
			      &lane->job->cancel);
	if (ret == -EFAULT && fault_end - page_addr > PAGE_SIZE) {
		lane->faults++;
		ret = dmr_range_fault(range, page_addr, page_addr + PAGE_SIZE,
				      lane->pfns, &lane->job->cancel);
	}
	return ret;
}

/*
 * The page behind addr in the device page table: NULL on a miss, an
 * ERR_PTR if the entry is corrupt.  Caller holds pt_lock for read, and may
 * use the page until it drops it.
 */
struct page *dmr_range_lookup(struct dmr_range *range, unsigned long addr)
{
	u64 pte = READ_ONCE(range->pt[(addr - range->start) >> PAGE_SHIFT]);
	unsigned long pfn = pte & DMR_PTE_PFN_MASK;

	lockdep_assert_held_read(&range->mirror->pt_lock);
	if (!(pte & DMR_PTE_VALID))
		return NULL;
	if (WARN_ON_ONCE(!pfn_valid(pfn)))
		return ERR_PTR(-EIO);
	return pfn_to_page(pfn);
}

/* Access one page of the job; fault it in on a miss. */
static int dmr_lane_page(struct dmr_lane *lane, unsigned long addr,
			 size_t len, unsigned long fault_end)
{
	struct dmr_job *job = lane->job;
	struct dmr_range *range = job->range;
	struct dmr_mirror *mirror = range->mirror;
	unsigned long page_addr = addr & PAGE_MASK;
	unsigned long timeout = jiffies + msecs_to_jiffies(DMR_FAULT_TIMEOUT_MS);
	int ret;

	for (;;) {
		struct page *page;

		if (atomic_read(&job->cancel))
			return -EINTR;
		down_read(&mirror->pt_lock);
		page = dmr_range_lookup(range, addr);
		if (page) {
			void *kaddr;

			ret = 0;
			if (IS_ERR(page)) {
				ret = PTR_ERR(page);
			} else if (job->kernel) {
				kaddr = kmap_local_page(page);
				ret = job->kernel->process(job, lane->index,
					addr - job->addr,
					kaddr + offset_in_page(addr), len);
				kunmap_local(kaddr);
			}
			up_read(&mirror->pt_lock);
			if (!ret && job->kernel)
				atomic64_add(len, &mirror->stats.bytes_read);
			return ret;
		}
		up_read(&mirror->pt_lock);

		if (time_after(jiffies, timeout))
			return -EBUSY;
		ret = dmr_lane_fault(lane, range, page_addr, fault_end);
		if (ret)
			return ret;
	}
}

static void dmr_lane_work(struct work_struct *work)
{
	struct dmr_lane *lane = container_of(work, struct dmr_lane, work);
	struct dmr_job *job = lane->job;
	unsigned long range_end, addr, end;
	int ret = 0;

	if (job->kernel && job->kernel->run) {
		ret = job->kernel->run(job, lane);
		lane->err = ret;
		lane->err_off = 0;
		goto out;
	}
	range_end = job->range->end;
	addr = job->addr + lane->off;
	end = addr + lane->len;
	while (addr < end) {
		size_t len = min_t(unsigned long, end - addr,
				   PAGE_SIZE - offset_in_page(addr));
		/* Fault window: the rest of this PMD the lane will touch. */
		unsigned long fault_end = min3(ALIGN(end, PAGE_SIZE), range_end,
				ALIGN((addr & PAGE_MASK) + 1, PMD_SIZE));

		ret = dmr_lane_page(lane, addr, len, fault_end);
		if (ret)
			break;
		addr += len;
		cond_resched();
	}
	lane->err = ret;
	lane->err_off = addr - job->addr;
out:
	if (atomic_dec_and_test(&job->pending))
		complete(&job->done);
}

/*
 * Run a job to completion.  Returns 0, the error of the lowest failing
 * offset (job->err_off bytes before it were processed, in every lane), or
 * -EINTR when a fatal signal cancelled it.  A job whose kernel has run()
 * starts nr_lanes lanes on it (job->range, addr and len are the kernel's
 * business) and returns the error of the lowest failing lane.
 */
int dmr_device_run(struct dmr_job *job)
{
	bool program = job->kernel && job->kernel->run;
	unsigned int nr_lanes = job->nr_lanes;
	u64 slice = 0, off = 0;
	unsigned int i;
	int ret;

	if (!nr_lanes)
		nr_lanes = DMR_DEFAULT_LANES;
	if (WARN_ON_ONCE(nr_lanes > DMR_MAX_LANES))
		return -EINVAL;
	if (!program) {
		if (WARN_ON_ONCE(!job->len))
			return -EINVAL;
		/* Slices a whole number of pages; lanes beyond the job idle. */
		slice = ALIGN(DIV_ROUND_UP(job->len, nr_lanes), PAGE_SIZE);
	}

	atomic_set(&job->cancel, 0);
	init_completion(&job->done);
	job->err = 0;
	job->err_off = job->len;
	job->faults = 0;
	for (i = 0; i < nr_lanes && (program || off < job->len); i++) {
		struct dmr_lane *lane = &job->lanes[i];

		lane->pfns = kmalloc_array(DMR_FAULT_PAGES, sizeof(*lane->pfns),
					   GFP_KERNEL);
		if (!lane->pfns) {
			ret = -ENOMEM;
			goto out_free;
		}
		lane->job = job;
		lane->index = i;
		lane->off = off;
		lane->len = min(slice, job->len - off);
		lane->faults = 0;
		lane->err = 0;
		INIT_WORK(&lane->work, dmr_lane_work);
		off += lane->len;
	}
	nr_lanes = i;
	atomic_set(&job->pending, nr_lanes);
	for (i = 0; i < nr_lanes; i++)
		queue_work(dmr_wq, &job->lanes[i].work);

	ret = wait_for_completion_killable(&job->done);
	if (ret) {
		atomic_set(&job->cancel, 1);
		wait_for_completion(&job->done);
	}

	for (i = 0; i < nr_lanes; i++) {
		struct dmr_lane *lane = &job->lanes[i];

		job->faults += lane->faults;
		if (lane->err && (!job->err || lane->err_off < job->err_off)) {
			job->err = lane->err;
			job->err_off = lane->err_off;
		}
	}
	if (ret)
		job->err = -EINTR;
	ret = job->err;
	if (!ret)
		job->err_off = job->len;
out_free:
	for (i = 0; i < DMR_MAX_LANES; i++) {
		kfree(job->lanes[i].pfns);
		job->lanes[i].pfns = NULL;
	}
	return ret;
}

int dmr_device_init(void)
{
	dmr_wq = alloc_workqueue("daxmirror", WQ_UNBOUND, DMR_MAX_LANES * 4);
	return dmr_wq ? 0 : -ENOMEM;
}

void dmr_device_exit(void)
{
	destroy_workqueue(dmr_wq);
}
