/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * daxmirror.h -- internal interfaces between the parts of the module.
 *
 *   daxmirror_file.c    the misc device, its files and ioctls, module init
 *   daxmirror_mirror.c  one device address space: the device page table,
 *                       the interval notifiers and the fault path
 *   daxmirror_device.c  the emulated device: jobs split over parallel lanes
 *   daxmirror_kernel_copy.c  the first device kernel: copy to a buffer (READ)
 *   daxmirror_query.c   VERSION, QUERY and the record-scan kernel
 *
 * Lock order: mirror->map_sem, then the mm's mmap_lock (taken inside
 * hmm_range_fault and mmu_interval_notifier_insert), then mirror->pt_lock.
 * The notifier callback takes only pt_lock; nothing holding pt_lock takes
 * mmap_lock or sleeps on user memory.
 */
#ifndef DAXMIRROR_H
#define DAXMIRROR_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/rwsem.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include <daxmirror_uapi.h>

/*
 * A device page table entry.  It holds a pfn and what the CPU mapping
 * allowed when it was faulted, never a page reference: the entry is only a
 * promise that the page is there until the next invalidation of its range,
 * and the notifier clears it before that invalidation completes.
 */
#define DMR_PTE_VALID BIT_ULL(63)
#define DMR_PTE_WRITE BIT_ULL(62)
#define DMR_PTE_ERROR BIT_ULL(61)
#define DMR_PTE_ORDER_SHIFT 56
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

struct dmr_mirror;

/* One MAP range: an interval notifier and its slice of the page table. */
struct dmr_range {
	struct mmu_interval_notifier notifier;
	struct dmr_mirror *mirror;
	unsigned long start;
	unsigned long end;
	u64 *pt;		/* one entry a page; protected by mirror->pt_lock */
	struct list_head node;	/* in mirror->ranges; protected by map_sem */
};

/* One open file of /dev/daxmirror: one device address space. */
struct dmr_mirror {
	struct mm_struct *mm;	/* mmgrab()ed at open; ioctls only from it */
	struct rw_semaphore map_sem;	/* protects ranges, nr_ranges, mapped */
	struct list_head ranges;
	unsigned int nr_ranges;
	u64 mapped;		/* bytes in all ranges */
	/*
	 * pt_lock protects every range's pt[].  The notifier takes it for
	 * write to clear entries; a device access holds it for read from
	 * the entry lookup to the end of its use of the page, so no access
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
		atomic64_t events[DAXMIRROR_EV_COUNT];
	} stats;
};

/* Module-wide live object counts; all return to zero when idle. */
extern atomic64_t dmr_live_files;
extern atomic64_t dmr_live_ranges;
extern atomic64_t dmr_live_pt_bytes;

/* daxmirror_mirror.c */
struct dmr_mirror *dmr_mirror_create(struct mm_struct *mm);
void dmr_mirror_destroy(struct dmr_mirror *mirror);
int dmr_mirror_map(struct dmr_mirror *mirror, unsigned long addr,
		   unsigned long len, struct dmr_range **out);
int dmr_mirror_unmap(struct dmr_mirror *mirror, unsigned long addr,
		     unsigned long len);
struct dmr_range *dmr_mirror_find(struct dmr_mirror *mirror,
				  unsigned long addr, unsigned long len);
int dmr_range_fault(struct dmr_range *range, unsigned long start,
		    unsigned long end, unsigned long *pfns,
		    const atomic_t *cancel);
u8 dmr_range_snapshot_page(struct dmr_range *range, unsigned long addr);

/*
 * The emulated device.
 *
 * A job is one piece of device work over [addr, addr + len) of a mirrored
 * range.  The device splits it into page-aligned slices, one per lane, and
 * each lane walks its slice page by page: it looks the page up in the
 * device page table, faults it with hmm_range_fault on a miss, and hands
 * the bytes to the job's kernel while holding pt_lock for read.  A kernel
 * therefore sees each byte through a valid mapping, but only for the
 * duration of one process() call; it must not keep pointers, sleep on user
 * memory or take mmap_lock.  Calls for one lane are in address order and
 * never concurrent; different lanes run in parallel.
 *
 * Adding a device kernel (a record scan, say) is: a struct dmr_kernel with
 * process() and per-lane state in job->priv, then dmr_device_run().
 */
struct dmr_job;
struct dmr_lane;

struct dmr_kernel {
	const char *name;
	/*
	 * A lane program: instead of walking a slice of [addr, addr + len),
	 * each of the job's lanes calls run() once and finds its own work
	 * (in job->priv), reading memory with dmr_range_lookup() under
	 * pt_lock and faulting with dmr_lane_fault() without it.  Returns 0
	 * or -errno; process() is unused.
	 */
	int (*run)(struct dmr_job *job, struct dmr_lane *lane);
	/*
	 * Consume len bytes at job offset off (device address job->addr +
	 * off), readable at data.  Return 0 to go on or -errno to stop the
	 * job with that error at off.
	 */
	int (*process)(struct dmr_job *job, unsigned int lane, u64 off,
		       const void *data, size_t len);
};

struct dmr_lane {
	struct work_struct work;
	struct dmr_job *job;
	unsigned int index;
	u64 off;		/* slice [off, off + len) of the job */
	u64 len;
	unsigned long *pfns;	/* DMR_FAULT_PAGES scratch for faults */
	u64 faults;
	int err;
	u64 err_off;		/* first failing offset when err != 0 */
};

struct dmr_job {
	const struct dmr_kernel *kernel;	/* NULL: only fault */
	struct dmr_range *range;
	u64 addr;
	u64 len;
	void *priv;
	unsigned int nr_lanes;
	/* set by dmr_device_run() */
	atomic_t cancel;	/* nonzero: lanes stop at the next page */
	atomic_t pending;
	struct completion done;
	struct dmr_lane lanes[DMR_MAX_LANES];
	int err;		/* first error by offset, 0 if none */
	u64 err_off;		/* bytes before that error */
	u64 faults;
};

int dmr_device_init(void);
void dmr_device_exit(void);
int dmr_device_run(struct dmr_job *job);
int dmr_lane_fault(struct dmr_lane *lane, struct dmr_range *range,
		   unsigned long page_addr, unsigned long fault_end);
struct page *dmr_range_lookup(struct dmr_range *range, unsigned long addr);

/* daxmirror_file.c */
int dmr_copy_arg(void *arg, size_t size, const void __user *uarg);

/* daxmirror_query.c */
int dmr_ioctl_version(struct dmr_mirror *mirror, void __user *uarg);
int dmr_ioctl_query(struct dmr_mirror *mirror, void __user *uarg);

/* daxmirror_kernel_copy.c */
extern const struct dmr_kernel dmr_kernel_copy;

#endif /* DAXMIRROR_H */
