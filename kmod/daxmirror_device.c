// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * daxmirror_device.c -- the emulated device: jobs over mirrored pages,
 * executed by parallel lanes that only read, and served by the caller.
 *
 * A lane is a work item on an unbound workqueue, so lanes of one job run
 * on different CPUs, like the engines of a real device.  The device reads
 * memory only through its page table (see daxmirror_mirror.c): a lane
 * takes pt_lock for read, looks each page up and reads it with
 * dmr_pmem_read() before dropping the lock, and drops it at least every
 * DMR_HOLD_PAGES pages.  An invalidation therefore waits for any access
 * already using the page and every later access sees the cleared entry:
 * the device can never use a page after the invalidation that took it
 * away.
 *
 * A lane never faults and never touches user memory.  When it meets a
 * page that is not mapped it stops (DMR_LANE_MISS) with its cursor saved;
 * so does a lane program that has results for user space
 * (DMR_LANE_FLUSH).  dmr_device_run(), in the calling thread, runs the job
 * in rounds: start every lane that is ready, wait until they have all
 * stopped, then fault each missed page (dmr_range_fault(), under the
 * caller's mmap_lock) or flush each lane's results, and start those lanes
 * again.  A page that keeps being invalidated between its fault and its
 * read fails with -EBUSY after DMR_FAULT_TIMEOUT_MS.
 *
 * The caller waits killably and nothing else it does after a fatal signal
 * is uninterruptible: it sets job->cancel and returns -EINTR at once.  The
 * job is reference counted (the caller, and each queued lane), so lanes
 * still running finish on their own: each checks the cancel flag at its
 * next hold of pt_lock, at most DMR_HOLD_PAGES pages later, and the last
 * reference frees the job with its buffers and its references to ranges
 * and mirror.
 */
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "daxmirror.h"

static struct workqueue_struct *dmr_wq;

static void dmr_job_free(struct kref *ref)
{
	struct dmr_job *job = container_of(ref, struct dmr_job, ref);

	if (job->kernel->release)
		job->kernel->release(job);
	if (job->range)
		dmr_range_put(job->range);
	dmr_mirror_put(job->mirror);
	kfree(job->pfns);
	kfree(job);
}

/* Drop a reference; the last one frees the job.  May sleep. */
void dmr_job_put(struct dmr_job *job)
{
	kref_put(&job->ref, dmr_job_free);
}

/* The slice walk of one lane, from lane->cur to the end of its slice. */
static int dmr_lane_walk(struct dmr_lane *lane)
{
	struct dmr_job *job = lane->job;
	struct dmr_range *range = job->range;
	struct dmr_mirror *mirror = range->mirror;
	const u64 end = lane->off + lane->len;
	const u64 start = lane->cur;
	unsigned int held = 0;
	int ret = DMR_LANE_DONE;

	down_read(&mirror->pt_lock);
	while (lane->cur < end) {
		unsigned long addr = job->addr + lane->cur;
		size_t len = min_t(u64, end - lane->cur,
				   PAGE_SIZE - offset_in_page(addr));
		struct page *page;

		if (held == DMR_HOLD_PAGES) {
			up_read(&mirror->pt_lock);
			if (atomic_read(&job->cancel)) {
				ret = -EINTR;
				goto out;
			}
			cond_resched();
			down_read(&mirror->pt_lock);
			held = 0;
		}
		page = dmr_range_lookup(range, addr);
		if (!page) {
			/* Fault the rest of this PMD the lane will touch. */
			lane->miss_range = range;
			lane->miss_addr = addr & PAGE_MASK;
			lane->miss_end = min3((unsigned long)PAGE_ALIGN(job->addr + end),
					      range->end,
					      ALIGN(lane->miss_addr + 1, PMD_SIZE));
			ret = DMR_LANE_MISS;
			break;
		}
		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			lane->err_addr = addr;
			break;
		}
		ret = job->kernel->process(job, lane, lane->cur, page, len);
		if (ret)
			break;
		lane->cur += len;
		held++;
	}
	up_read(&mirror->pt_lock);
out:
	atomic64_add(lane->cur - start, &mirror->stats.bytes_read);
	if (ret < 0)
		lane->err_off = lane->err_addr ? lane->err_addr - job->addr :
						 lane->cur;
	return ret;
}

static void dmr_lane_work(struct work_struct *work)
{
	struct dmr_lane *lane = container_of(work, struct dmr_lane, work);
	struct dmr_job *job = lane->job;
	int state;

	if (atomic_read(&job->cancel))
		state = -EINTR;
	else if (job->kernel->run)
		state = job->kernel->run(job, lane);
	else
		state = dmr_lane_walk(lane);
	lane->state = state;
	if (state < 0)
		atomic_set(&job->failed, 1);
	/* Fully ordered: the caller sees the lane's state and cursor. */
	if (atomic_dec_and_test(&job->pending))
		complete(&job->done);
	dmr_job_put(job);
}

/*
 * A job for mirror with kernel: one reference for the caller (drop it with
 * dmr_job_put()), and one on the mirror.  The caller fills range (with a
 * reference it hands over), addr, len, priv and nr_lanes.
 */
struct dmr_job *dmr_job_create(struct dmr_mirror *mirror,
			       const struct dmr_kernel *kernel)
{
	struct dmr_job *job;
	unsigned int i;

	job = kzalloc(sizeof(*job), GFP_KERNEL_ACCOUNT);
	if (!job)
		return NULL;
	/* Zeroed: hmm_range_fault() reads input flags from it. */
	job->pfns = kcalloc(DMR_FAULT_PAGES, sizeof(*job->pfns),
			    GFP_KERNEL_ACCOUNT);
	if (!job->pfns) {
		kfree(job);
		return NULL;
	}
	kref_init(&job->ref);
	job->kernel = kernel;
	job->mirror = mirror;
	dmr_mirror_get(mirror);
	init_completion(&job->done);
	for (i = 0; i < DMR_MAX_LANES; i++) {
		job->lanes[i].job = job;
		job->lanes[i].index = i;
		INIT_WORK(&job->lanes[i].work, dmr_lane_work);
	}
	return job;
}

/*
 * In the calling thread: fault the page a lane missed, the window it asked
 * for or, if the window fails, just that page (its error is the one to
 * report: the window may reach past the end of a truncated file the lane
 * never needs).  Returns DMR_LANE_READY or -errno.
 */
static int dmr_lane_serve_miss(struct dmr_job *job, struct dmr_lane *lane)
{
	unsigned long addr = lane->miss_addr;
	int ret;

	if (addr != lane->last_miss) {
		lane->last_miss = addr;
		lane->miss_deadline = jiffies +
				      msecs_to_jiffies(DMR_FAULT_TIMEOUT_MS);
	} else if (time_after(jiffies, lane->miss_deadline)) {
		/* Invalidated again and again between fault and read. */
		ret = -EBUSY;
		goto fail;
	}
	lane->faults++;
	ret = dmr_range_fault(lane->miss_range, addr, lane->miss_end,
			      job->pfns);
	if ((ret == -EFAULT || ret == -EOPNOTSUPP) &&
	    lane->miss_end - addr > PAGE_SIZE) {
		lane->faults++;
		ret = dmr_range_fault(lane->miss_range, addr, addr + PAGE_SIZE,
				      job->pfns);
	}
	if (!ret)
		return DMR_LANE_READY;
fail:
	lane->err_addr = addr;
	lane->err_off = lane->cur;
	return ret;
}

/*
 * Run a job to completion, in rounds (see above).  Returns 0, the error of
 * the lowest failing offset (slice jobs: job->err_off bytes before it were
 * processed, in every lane; job->err_addr is where it failed if known), or
 * -EINTR on a fatal signal, after which the caller only drops its
 * reference.  A lane program's job returns the error of its lowest
 * failing lane, not counting lanes that stopped because another failed.
 */
int dmr_device_run(struct dmr_job *job)
{
	bool program = job->kernel->run;
	unsigned int nr_lanes = job->nr_lanes ? job->nr_lanes :
						DMR_DEFAULT_LANES;
	u64 slice = 0, off = 0;
	unsigned int i;

	if (WARN_ON_ONCE(nr_lanes > DMR_MAX_LANES))
		return -EINVAL;
	if (!program) {
		if (WARN_ON_ONCE(!job->len || !job->range))
			return -EINVAL;
		/* Slices a whole number of pages; lanes beyond the job idle. */
		slice = ALIGN(DIV_ROUND_UP(job->len, nr_lanes), PAGE_SIZE);
	}

	job->err = 0;
	job->err_off = job->len;
	job->err_addr = 0;
	job->faults = 0;
	atomic_set(&job->failed, 0);
	for (i = 0; i < nr_lanes && (program || off < job->len); i++) {
		struct dmr_lane *lane = &job->lanes[i];

		lane->off = off;
		lane->len = program ? 0 : min(slice, job->len - off);
		lane->cur = off;
		lane->state = DMR_LANE_READY;
		lane->faults = 0;
		lane->err_off = 0;
		lane->err_addr = 0;
		lane->last_miss = 0;
		off += lane->len;
	}
	nr_lanes = i;

	for (;;) {
		unsigned int queued = 0;

		reinit_completion(&job->done);
		/* The caller's bias: no lane can complete the round early. */
		atomic_set(&job->pending, 1);
		for (i = 0; i < nr_lanes; i++) {
			struct dmr_lane *lane = &job->lanes[i];

			if (lane->state != DMR_LANE_READY)
				continue;
			atomic_inc(&job->pending);
			kref_get(&job->ref);
			queue_work(dmr_wq, &lane->work);
			queued++;
		}
		if (!queued)
			break;
		if (atomic_dec_and_test(&job->pending))
			complete(&job->done);
		if (wait_for_completion_killable(&job->done))
			goto cancel;

		for (i = 0; i < nr_lanes; i++) {
			struct dmr_lane *lane = &job->lanes[i];
			int state = lane->state;

			if (state == DMR_LANE_MISS) {
				state = dmr_lane_serve_miss(job, lane);
			} else if (state == DMR_LANE_FLUSH) {
				state = job->kernel->flush(job, lane);
				if (!state)
					state = DMR_LANE_READY;
				else
					lane->err_off = lane->cur;
			}
			lane->state = state;
			if (state == -EINTR)
				goto cancel;
			if (state < 0)
				atomic_set(&job->failed, 1);
		}
		if (fatal_signal_pending(current))
			goto cancel;
	}

	for (i = 0; i < nr_lanes; i++) {
		struct dmr_lane *lane = &job->lanes[i];

		job->faults += lane->faults;
		if (lane->state >= 0)
			continue;
		/* A program's lanes that stopped for another's error say
		 * -ECANCELED: report the error that stopped them. */
		if (!job->err || (!program && lane->err_off < job->err_off) ||
		    (program && job->err == -ECANCELED &&
		     lane->state != -ECANCELED)) {
			job->err = lane->state;
			job->err_off = lane->err_off;
			job->err_addr = lane->err_addr;
		}
	}
	if (!job->err)
		job->err_off = job->len;
	return job->err;

cancel:
	atomic_set(&job->cancel, 1);
	for (i = 0; i < nr_lanes; i++)
		job->faults += job->lanes[i].faults;
	job->err = -EINTR;
	return -EINTR;
}

int dmr_device_init(void)
{
	dmr_wq = alloc_workqueue("daxmirror", WQ_UNBOUND, DMR_MAX_LANES * 4);
	return dmr_wq ? 0 : -ENOMEM;
}

void dmr_device_exit(void)
{
	/* Drains lanes of jobs whose callers were killed. */
	destroy_workqueue(dmr_wq);
}
