/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * daxmirror.h -- internal interfaces between the parts of the module.
 *
 *   daxmirror_file.c    the misc device, its files and ioctls, module init
 *   daxmirror_mirror.c  one device address space: the device page table,
 *                       the interval notifiers, the fault path and what
 *                       may be mirrored
 *   daxmirror_device.c  the emulated device: jobs split over parallel lanes
 *   daxmirror_kernel_copy.c  the first device kernel: copy to a buffer (READ)
 *   daxmirror_query.c   VERSION, QUERY and the record-scan kernel
 *
 * Who does what.  The calling thread (the ioctl) does everything that
 * touches the caller's address space: it copies arguments and results
 * in and out, and it takes every device fault (hmm_range_fault under the
 * caller's mmap_lock).  Lanes, work items on the device's workqueue, only
 * read pmem that the device page table already maps; a lane that meets a
 * missing page stops and hands it to the caller, which faults it and
 * starts the lane again.  So faults run in the caller's context (its
 * cgroup, its signals), and a fatal signal ends the caller's wait at once:
 * a job is reference counted, and a lane still running finishes alone.
 *
 * Lock order: mirror->map_sem, then the mm's mmap_lock (taken for read by
 * the fault path, for write by MAP to check the VMAs and register the
 * notifier), then mirror->pt_lock.  Every one of them is taken killably
 * in the calling thread (the lanes, kworkers, take pt_lock plainly, and
 * the notifier must).
 * map_sem is held only to look ranges up (taking references) or to change
 * the list, never across a fault or a user copy; no lock is held across
 * copy_to_user() or copy_from_user().  The notifier callback takes only
 * pt_lock; nothing holding pt_lock takes mmap_lock, allocates memory or
 * touches user memory.
 */
#ifndef DAXMIRROR_H
#define DAXMIRROR_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/rwsem.h>
#include <linux/semaphore.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include <daxmirror_uapi.h>

/*
 * A device page table entry.  It holds a pfn and what the CPU mapping
 * allowed when it was faulted, never a page reference: the entry is only a
 * promise that the page is there until the next invalidation of its range,
 * and the notifier clears it before that invalidation completes.
 *
 * An ERROR entry is not valid.  Plain, it records a failed fault (the next
 * access faults again); with POISON or REFUSED it records a page the
 * device must not read (poisoned; not fsdax or devdax memory), and an
 * access fails with -EIO or -EOPNOTSUPP without faulting, until an
 * invalidation clears the entry.
 */
#define DMR_PTE_VALID BIT_ULL(63)
#define DMR_PTE_WRITE BIT_ULL(62)
#define DMR_PTE_ERROR BIT_ULL(61)
#define DMR_PTE_REFUSED BIT_ULL(58)
#define DMR_PTE_POISON BIT_ULL(57)
#define DMR_PTE_ORDER_SHIFT 52
#define DMR_PTE_ORDER_MASK (0x1full << DMR_PTE_ORDER_SHIFT)
#define DMR_PTE_PFN_MASK ((1ull << 52) - 1)

/* Pages one hmm_range_fault call covers at most: one PMD. */
#define DMR_FAULT_PAGES 512
/* How long a device access may wait for a stable range before -EBUSY. */
#define DMR_FAULT_TIMEOUT_MS 2000
/* Lanes of the emulated device. */
#define DMR_MAX_LANES 8
#define DMR_DEFAULT_LANES 2
/* READ copies through a kernel buffer of at most this size per batch. */
#define DMR_READ_BATCH (4ul << 20)
/*
 * Pages a lane reads under one hold of pt_lock, at most (a QUERY record
 * that needs more finishes first).  Bounds how long an invalidation waits
 * for the device and how long a cancelled lane runs on.
 */
#define DMR_HOLD_PAGES 64
/* Ioctls in progress per file, at most; more wait (killably). */
#define DMR_MAX_CALLS DAXMIRROR_MAX_CALLS

struct dmr_mirror;

/*
 * One MAP range: an interval notifier and its slice of the page table.
 * The mirror's list holds a reference, and so does each job using it, so
 * an UNMAP during a READ or QUERY only unlists it; the last reference
 * removes the notifier and frees the page table.  A range holds a
 * reference on its mirror, whose pt_lock and counters it uses.
 */
struct dmr_range {
	struct mmu_interval_notifier notifier;
	struct kref ref;
	struct dmr_mirror *mirror;
	unsigned long start;
	unsigned long end;
	u64 *pt;		/* one entry a page; protected by mirror->pt_lock */
	struct list_head node;	/* in mirror->ranges; protected by map_sem */
};

/*
 * One open file of /dev/daxmirror: one device address space.  The file
 * holds a reference, each range and each job one; the last one frees it.
 */
struct dmr_mirror {
	struct kref ref;
	struct mm_struct *mm;	/* mmgrab()ed at open; ioctls only from it */
	struct semaphore calls;	/* DMR_MAX_CALLS ioctls in progress */
	atomic_t in_flight;	/* ioctls in progress, for STATS */
	struct rw_semaphore map_sem;	/* protects ranges, nr_ranges, mapped */
	struct list_head ranges;
	unsigned int nr_ranges;
	u64 mapped;		/* bytes in all listed ranges */
	/*
	 * pt_lock protects every range's pt[].  The notifier takes it for
	 * write to clear entries; a device access holds it for read from
	 * the entry lookup to the end of its read of the page, so no access
	 * can outlive the invalidation that removed its page.
	 */
	struct rw_semaphore pt_lock;
	struct {
		atomic64_t faults;
		atomic64_t fault_errors;
		atomic64_t last_fault_error;
		atomic64_t retries;
		atomic64_t invalidations;
		atomic64_t pages_cleared;
		atomic64_t order0;
		atomic64_t order9;
		atomic64_t order_other;
		atomic64_t bytes_read;
		atomic64_t poisoned;
		atomic64_t refused;
		atomic64_t pt_bytes;
		atomic64_t events[DAXMIRROR_EV_COUNT];
	} stats;
};

/* Module-wide live object counts; all return to zero when idle. */
extern atomic64_t dmr_live_files;
extern atomic64_t dmr_live_ranges;
extern atomic64_t dmr_live_pt_bytes;

/* daxmirror_mirror.c */
struct dmr_mirror *dmr_mirror_create(struct mm_struct *mm);
void dmr_mirror_get(struct dmr_mirror *mirror);
void dmr_mirror_put(struct dmr_mirror *mirror);
void dmr_mirror_release(struct dmr_mirror *mirror);
int dmr_mirror_map(struct dmr_mirror *mirror, unsigned long addr,
		   unsigned long len, struct dmr_range **out);
int dmr_mirror_unmap(struct dmr_mirror *mirror, unsigned long addr,
		     unsigned long len);
struct dmr_range *dmr_mirror_find(struct dmr_mirror *mirror,
				  unsigned long addr, unsigned long len);
struct dmr_range *dmr_mirror_find_get(struct dmr_mirror *mirror,
				      unsigned long addr, unsigned long len);
void dmr_range_get(struct dmr_range *range);
void dmr_range_put(struct dmr_range *range);
int dmr_mirror_check_vmas(struct mm_struct *mm, unsigned long start,
			  unsigned long end);
int dmr_range_fault(struct dmr_range *range, unsigned long start,
		    unsigned long end, unsigned long *pfns);
u8 dmr_range_snapshot_page(struct dmr_range *range, unsigned long addr);
struct page *dmr_range_lookup(struct dmr_range *range, unsigned long addr);
void dmr_range_mark_poison(struct dmr_range *range, unsigned long addr);
size_t dmr_pmem_read(struct dmr_range *range, unsigned long addr, void *dst,
		     struct page *page, size_t len);

/*
 * The emulated device.
 *
 * A job is one piece of device work.  Its lanes run on the device's
 * workqueue and read mirrored memory only: under pt_lock (read) they look
 * pages up in the device page table and read them with dmr_pmem_read()
 * (machine-check safe), never with a plain load.  A lane that meets a
 * page that is not mapped, or that must hand results to user space,
 * returns why it stopped (DMR_LANE_MISS, DMR_LANE_FLUSH) with its cursor
 * saved; dmr_device_run(), in the calling thread, faults the page or
 * copies the results out, and starts the lane again.
 *
 * A slice job (a kernel with process()) covers [addr, addr + len) of one
 * range: the device cuts it into page-aligned slices, one per lane, and
 * each lane walks its slice page by page, calling process() with the page
 * while holding pt_lock.  A lane program (a kernel with run()) finds its
 * own work in job->priv; each of its lanes calls run() until it returns 0
 * or an error, and should stop with -ECANCELED once job->failed is set.
 *
 * A job is reference counted: the caller holds one, each queued lane one.
 * If the caller is killed it cancels the job and returns at once; lanes
 * stop at their next page or hold, and the last reference frees the job
 * (release() frees priv) and drops the job's references on its ranges and
 * mirror.
 */
struct dmr_job;
struct dmr_lane;

/* Why a lane stopped (run() and the slice walk return these or -errno). */
#define DMR_LANE_DONE 0
#define DMR_LANE_MISS 1		/* fault lane->miss_* and run it again */
#define DMR_LANE_FLUSH 2	/* call kernel->flush() and run it again */
#define DMR_LANE_READY 3	/* to be run (internal to the device) */

struct dmr_kernel {
	const char *name;
	/* A lane program: run once per start; see above. */
	int (*run)(struct dmr_job *job, struct dmr_lane *lane);
	/*
	 * A slice kernel: consume the len bytes at job offset off (device
	 * address job->addr + off), inside page.  Read them only with
	 * dmr_pmem_read(); return 0, or -EIO for a machine check with
	 * lane->err_addr set to the first byte it hit.
	 */
	int (*process)(struct dmr_job *job, struct dmr_lane *lane, u64 off,
		       struct page *page, size_t len);
	/* In the calling thread: a lane returned DMR_LANE_FLUSH. */
	int (*flush)(struct dmr_job *job, struct dmr_lane *lane);
	/* Free job->priv; called once, by the last reference. */
	void (*release)(struct dmr_job *job);
};

struct dmr_lane {
	struct work_struct work;
	struct dmr_job *job;
	unsigned int index;
	u64 off;		/* slice [off, off + len) of the job */
	u64 len;
	u64 cur;		/* slice walk: next job offset to read */
	int state;		/* DMR_LANE_* or -errno, set by the lane */
	u64 err_off;		/* -errno: job offset of the failure */
	u64 err_addr;		/* -errno: device address of it, 0 unknown */
	/* DMR_LANE_MISS: fault [miss_addr, miss_end) of miss_range */
	struct dmr_range *miss_range;
	unsigned long miss_addr;
	unsigned long miss_end;
	/* the caller's view: the last miss served and its deadline */
	unsigned long last_miss;
	unsigned long miss_deadline;
	u64 faults;
};

struct dmr_job {
	struct kref ref;
	const struct dmr_kernel *kernel;
	struct dmr_mirror *mirror;	/* a reference */
	struct dmr_range *range;	/* slice jobs: a reference */
	u64 addr;
	u64 len;
	void *priv;			/* owned: kernel->release() frees it */
	unsigned int nr_lanes;
	atomic_t cancel;	/* nonzero: lanes stop at the next page */
	atomic_t failed;	/* a lane or its service failed: programs stop */
	atomic_t pending;	/* lanes of this round not yet stopped */
	struct completion done;	/* the round's lanes have all stopped */
	unsigned long *pfns;	/* DMR_FAULT_PAGES, the caller's faults */
	struct dmr_lane lanes[DMR_MAX_LANES];
	int err;		/* first error by offset, 0 if none */
	u64 err_off;		/* bytes before that error */
	u64 err_addr;		/* its device address, 0 unknown */
	u64 faults;
};

int dmr_device_init(void);
void dmr_device_exit(void);
struct dmr_job *dmr_job_create(struct dmr_mirror *mirror,
			       const struct dmr_kernel *kernel);
void dmr_job_put(struct dmr_job *job);
int dmr_device_run(struct dmr_job *job);

/* daxmirror_file.c */
int dmr_copy_arg(void *arg, size_t size, size_t min_size,
		 const void __user *uarg, size_t *usize);
int dmr_copy_out(void __user *uarg, size_t usize, const void *arg,
		 size_t size);

/* daxmirror_query.c */
int dmr_ioctl_version(struct dmr_mirror *mirror, void __user *uarg);
int dmr_ioctl_query(struct dmr_mirror *mirror, void __user *uarg);

/* daxmirror_kernel_copy.c */
extern const struct dmr_kernel dmr_kernel_copy;

#endif /* DAXMIRROR_H */
