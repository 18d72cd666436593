// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * daxmirror_file.c -- the misc device /dev/daxmirror: files, ioctls, module
 * init.
 *
 * Each open file is a device address space (struct dmr_mirror) bound to the
 * opener's mm.  Every ioctl first checks that it comes from that mm, then
 * copies its argument in (copy_struct_from_user(), see the uapi header's
 * size rule), and validates every field before use; user addresses of
 * device memory are untagged first.  Out-structs carry counts, never
 * kernel addresses or pfns, and are written back for at most the caller's
 * size.
 *
 * Memory per file, all of it charged to the caller's memory cgroup
 * (GFP_KERNEL_ACCOUNT):
 *   - the page table, 8 bytes per mirrored page: at most
 *     DAXMIRROR_MAX_MIRROR_LEN / 4 KiB * 8 = 128 MiB, plus at most
 *     DAXMIRROR_MAX_RANGES range structs;
 *   - at most DMR_MAX_CALLS (8) MAP, READ, SNAPSHOT or QUERY calls in
 *     flight (more wait for a slot, killably), each with a job of about
 *     2 KiB and a 4 KiB fault array, and: a READ at most DMR_READ_BATCH
 *     (4 MiB); a SNAPSHOT at most DAXMIRROR_MAX_SNAPSHOT_PAGES bytes
 *     (64 KiB); a QUERY 24 bytes a unit (at most 2^20 units, 24 MiB), 4
 *     more a unit if its units are not in address order, and per lane
 *     (at most 8) a 256 KiB read window plus a 66 KiB bounce buffer, or
 *     with ROWS a staging buffer of min(2 MiB, rows_cap) -- so at most
 *     about 24 + 4 + 8 * 2.3 = 47 MiB.  Worst case per file: 128 MiB of
 *     page table and 8 * 47 MiB in flight.
 * A killed caller's job is freed when its lanes stop, at most
 * DMR_HOLD_PAGES pages of reading later.
 */
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "daxmirror.h"

atomic64_t dmr_live_files = ATOMIC64_INIT(0);
atomic64_t dmr_live_ranges = ATOMIC64_INIT(0);
atomic64_t dmr_live_pt_bytes = ATOMIC64_INIT(0);

/* The first version of each struct is a prefix of the current one. */
static_assert(sizeof(struct daxmirror_map) == DAXMIRROR_MAP_SIZE_VER0);
static_assert(sizeof(struct daxmirror_unmap) == DAXMIRROR_UNMAP_SIZE_VER0);
static_assert(sizeof(struct daxmirror_read) == DAXMIRROR_READ_SIZE_VER0);
static_assert(sizeof(struct daxmirror_snapshot) ==
	      DAXMIRROR_SNAPSHOT_SIZE_VER0);
static_assert(offsetof(struct daxmirror_stats, refused) ==
	      DAXMIRROR_STATS_SIZE_VER0);
static_assert(sizeof(struct daxmirror_version) ==
	      DAXMIRROR_VERSION_SIZE_VER0);
static_assert(offsetof(struct daxmirror_query, err_addr) ==
	      DAXMIRROR_QUERY_SIZE_VER0);

static int dmr_open(struct inode *inode, struct file *file)
{
	struct dmr_mirror *mirror;

	if (!current->mm)
		return -EINVAL;
	mirror = dmr_mirror_create(current->mm);
	if (!mirror)
		return -ENOMEM;
	file->private_data = mirror;
	return 0;
}

static int dmr_release(struct inode *inode, struct file *file)
{
	dmr_mirror_release(file->private_data);
	return 0;
}

/*
 * Copy an argument struct of the module's size in, by the caller's size
 * field (the uapi header's rule): *usize is that size, for dmr_copy_out().
 * The size field of arg is set to it, whatever a racing thread stores.
 */
int dmr_copy_arg(void *arg, size_t size, size_t min_size,
		 const void __user *uarg, size_t *usize)
{
	u64 claimed;
	int ret;

	if (get_user(claimed, (const u64 __user *)uarg))
		return -EFAULT;
	if (claimed > DAXMIRROR_MAX_ARG_SIZE)
		return -E2BIG;
	if (claimed < min_size || claimed % sizeof(u64))
		return -EINVAL;
	ret = copy_struct_from_user(arg, size, uarg, claimed);
	if (ret)
		return ret;
	*(u64 *)arg = claimed;
	*usize = claimed;
	return 0;
}

/* Write an out-struct back, at most the caller's size of it. */
int dmr_copy_out(void __user *uarg, size_t usize, const void *arg,
		 size_t size)
{
	return copy_to_user(uarg, arg, min(usize, size)) ? -EFAULT : 0;
}

/* Page aligned, non-empty, bounded, no overflow, inside the user space. */
static int dmr_check_user_range(u64 addr, u64 len, u64 max_len)
{
	u64 end;

	if (!len || len > max_len)
		return -EINVAL;
	if (check_add_overflow(addr, len, &end))
		return -EINVAL;
	if (!PAGE_ALIGNED(addr) || !PAGE_ALIGNED(len))
		return -EINVAL;
	if (end > TASK_SIZE)
		return -EINVAL;
	return 0;
}

/*
 * PREFAULT: fault the range window by window (a PMD each) in this thread.
 * Best effort: a window that fails is skipped.  Returns 0 with the pages
 * now valid in *faulted, or -EINTR.
 */
static int dmr_prefault(struct dmr_range *range, u64 *faulted)
{
	struct dmr_mirror *mirror = range->mirror;
	unsigned long addr, next, *pfns;
	u64 i, valid = 0;
	int ret = 0;

	pfns = kcalloc(DMR_FAULT_PAGES, sizeof(*pfns), GFP_KERNEL_ACCOUNT);
	if (!pfns)
		return -ENOMEM;
	for (addr = range->start; addr < range->end; addr = next) {
		next = min(ALIGN(addr + 1, PMD_SIZE), range->end);
		if (dmr_range_fault(range, addr, next, pfns) == -EINTR) {
			ret = -EINTR;
			break;
		}
	}
	kfree(pfns);
	if (ret)
		return ret;

	if (down_read_killable(&mirror->pt_lock))
		return -EINTR;
	for (i = 0; i < (range->end - range->start) >> PAGE_SHIFT; i++)
		if (READ_ONCE(range->pt[i]) & DMR_PTE_VALID)
			valid++;
	up_read(&mirror->pt_lock);
	*faulted = valid;
	return 0;
}

static int dmr_ioctl_map(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_map arg;
	struct dmr_range *range;
	unsigned long addr;
	u64 faulted = 0;
	size_t usize;
	int ret;

	ret = dmr_copy_arg(&arg, sizeof(arg), DAXMIRROR_MAP_SIZE_VER0, uarg,
			   &usize);
	if (ret)
		return ret;
	if (arg.flags & ~DAXMIRROR_MAP_FLAGS_KNOWN || arg.faulted)
		return -EINVAL;
	addr = untagged_addr((unsigned long)arg.addr);
	ret = dmr_check_user_range(addr, arg.len, DAXMIRROR_MAX_RANGE_LEN);
	if (ret)
		return ret;

	ret = dmr_mirror_map(mirror, addr, arg.len, &range);
	if (ret)
		return ret;
	if (arg.flags & DAXMIRROR_MAP_PREFAULT)
		ret = dmr_prefault(range, &faulted);
	dmr_range_put(range);
	if (ret)
		return ret;

	/* The (in) fields go back as they came: a caller may keep using
	 * the struct, for example to UNMAP the same range later. */
	arg.faulted = faulted;
	return dmr_copy_out(uarg, usize, &arg, sizeof(arg));
}

static int dmr_ioctl_unmap(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_unmap arg;
	unsigned long addr;
	size_t usize;
	int ret;

	ret = dmr_copy_arg(&arg, sizeof(arg), DAXMIRROR_UNMAP_SIZE_VER0, uarg,
			   &usize);
	if (ret)
		return ret;
	addr = untagged_addr((unsigned long)arg.addr);
	ret = dmr_check_user_range(addr, arg.len, DAXMIRROR_MAX_RANGE_LEN);
	if (ret)
		return ret;
	return dmr_mirror_unmap(mirror, addr, arg.len);
}

static int dmr_ioctl_read(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_read arg;
	struct dmr_range *range;
	struct dmr_job *job;
	u64 done = 0, faults = 0, end;
	void __user *ubuf;
	unsigned long addr;
	size_t usize;
	void *buf;
	int ret;

	ret = dmr_copy_arg(&arg, sizeof(arg), DAXMIRROR_READ_SIZE_VER0, uarg,
			   &usize);
	if (ret)
		return ret;
	addr = untagged_addr((unsigned long)arg.addr);
	if (!arg.len || arg.len > DAXMIRROR_MAX_READ_LEN ||
	    check_add_overflow((u64)addr, arg.len, &end) || end > TASK_SIZE ||
	    arg.lanes > DMR_MAX_LANES || arg.bytes || arg.faults)
		return -EINVAL;
	ubuf = u64_to_user_ptr(arg.ptr);
	if (!access_ok(ubuf, arg.len))
		return -EFAULT;

	range = dmr_mirror_find_get(mirror, addr, arg.len);
	if (IS_ERR(range))
		return PTR_ERR(range);
	if (!range)
		return -ENXIO;
	job = dmr_job_create(mirror, &dmr_kernel_copy);
	if (!job) {
		dmr_range_put(range);
		return -ENOMEM;
	}
	job->range = range;
	job->nr_lanes = arg.lanes;
	buf = kvmalloc(min_t(u64, arg.len, DMR_READ_BATCH), GFP_KERNEL_ACCOUNT);
	if (!buf) {
		ret = -ENOMEM;
		goto out_put;
	}
	job->priv = buf;

	while (done < arg.len) {
		job->addr = addr + done;
		job->len = min_t(u64, arg.len - done, DMR_READ_BATCH);
		ret = dmr_device_run(job);
		faults += job->faults;
		if (ret == -EINTR)
			break;	/* lanes may still write buf: leave it */
		/* The bytes before the first error are good: hand them out. */
		if (job->err_off &&
		    copy_to_user(ubuf + done, buf, job->err_off)) {
			ret = -EFAULT;
			break;
		}
		done += job->err_off;
		if (ret)
			break;
	}
	memset(&arg, 0, sizeof(arg));
	arg.size = usize;
	arg.bytes = done;
	arg.faults = faults;
	if (dmr_copy_out(uarg, usize, &arg, sizeof(arg)))
		ret = -EFAULT;
out_put:
	dmr_job_put(job);
	return ret;
}

static int dmr_ioctl_snapshot(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_snapshot arg;
	struct dmr_range *range = NULL;
	unsigned long addr;
	u64 i, valid = 0;
	size_t usize;
	u8 *states;
	int ret;

	ret = dmr_copy_arg(&arg, sizeof(arg), DAXMIRROR_SNAPSHOT_SIZE_VER0,
			   uarg, &usize);
	if (ret)
		return ret;
	if (arg.valid || !arg.npages ||
	    arg.npages > DAXMIRROR_MAX_SNAPSHOT_PAGES)
		return -EINVAL;
	addr = untagged_addr((unsigned long)arg.addr);
	ret = dmr_check_user_range(addr, arg.npages << PAGE_SHIFT,
				   DAXMIRROR_MAX_SNAPSHOT_PAGES << PAGE_SHIFT);
	if (ret)
		return ret;

	states = kvzalloc(arg.npages, GFP_KERNEL_ACCOUNT);
	if (!states)
		return -ENOMEM;
	ret = down_read_killable(&mirror->map_sem);
	if (ret)
		goto out_free;
	ret = down_read_killable(&mirror->pt_lock);
	if (ret) {
		up_read(&mirror->map_sem);
		goto out_free;
	}
	for (i = 0; i < arg.npages; i++) {
		unsigned long page_addr = addr + (i << PAGE_SHIFT);

		if (!range || page_addr < range->start ||
		    page_addr >= range->end)
			range = dmr_mirror_find(mirror, page_addr, PAGE_SIZE);
		if (!range) {
			states[i] = DAXMIRROR_SNAP_UNMAPPED;
			continue;
		}
		states[i] = dmr_range_snapshot_page(range, page_addr);
		if (states[i] & DAXMIRROR_SNAP_VALID)
			valid++;
	}
	up_read(&mirror->pt_lock);
	up_read(&mirror->map_sem);

	if (copy_to_user(u64_to_user_ptr(arg.ptr), states, arg.npages)) {
		ret = -EFAULT;
		goto out_free;
	}
	memset(&arg, 0, sizeof(arg));
	arg.size = usize;
	arg.valid = valid;
	ret = dmr_copy_out(uarg, usize, &arg, sizeof(arg));
out_free:
	kvfree(states);
	return ret;
}

static int dmr_ioctl_stats(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_stats *arg;
	size_t usize;
	unsigned int i;
	int ret;

	arg = kzalloc(sizeof(*arg), GFP_KERNEL_ACCOUNT);
	if (!arg)
		return -ENOMEM;
	ret = dmr_copy_arg(arg, sizeof(*arg), DAXMIRROR_STATS_SIZE_VER0, uarg,
			   &usize);
	if (ret)
		goto out_free;
	ret = down_read_killable(&mirror->map_sem);
	if (ret)
		goto out_free;
	memset(arg, 0, sizeof(*arg));
	arg->ranges = mirror->nr_ranges;
	up_read(&mirror->map_sem);

	arg->size = usize;
	arg->faults = atomic64_read(&mirror->stats.faults);
	arg->fault_errors = atomic64_read(&mirror->stats.fault_errors);
	arg->last_fault_error = atomic64_read(&mirror->stats.last_fault_error);
	arg->retries = atomic64_read(&mirror->stats.retries);
	arg->invalidations = atomic64_read(&mirror->stats.invalidations);
	arg->pages_cleared = atomic64_read(&mirror->stats.pages_cleared);
	arg->mirrored_order0 = atomic64_read(&mirror->stats.order0);
	arg->mirrored_order9 = atomic64_read(&mirror->stats.order9);
	arg->mirrored_other = atomic64_read(&mirror->stats.order_other);
	arg->bytes_read = atomic64_read(&mirror->stats.bytes_read);
	arg->in_flight = atomic_read(&mirror->in_flight);
	arg->poisoned = atomic64_read(&mirror->stats.poisoned);
	arg->pt_bytes = atomic64_read(&mirror->stats.pt_bytes);
	arg->refused = atomic64_read(&mirror->stats.refused);
	for (i = 0; i < DAXMIRROR_EV_COUNT; i++)
		arg->events[i] = atomic64_read(&mirror->stats.events[i]);
	ret = dmr_copy_out(uarg, usize, arg, sizeof(*arg));
out_free:
	kfree(arg);
	return ret;
}

/*
 * Commands are matched on magic, number and direction; the size bits are
 * the caller's sizeof and the struct's size field rules (uapi header).
 */
#define DMR_CMD(cmd) ((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT))

static long dmr_ioctl(struct file *file, unsigned int cmd, unsigned long uarg)
{
	struct dmr_mirror *mirror = file->private_data;
	void __user *argp = (void __user *)uarg;
	long ret;

	/* The device address space belongs to the mm that opened it. */
	if (current->mm != mirror->mm)
		return -EPERM;

	switch (DMR_CMD(cmd)) {
	case DMR_CMD(DAXMIRROR_IOC_UNMAP):
		return dmr_ioctl_unmap(mirror, argp);
	case DMR_CMD(DAXMIRROR_IOC_STATS):
		return dmr_ioctl_stats(mirror, argp);
	case DMR_CMD(DAXMIRROR_IOC_VERSION):
		return dmr_ioctl_version(mirror, argp);
	case DMR_CMD(DAXMIRROR_IOC_MAP):
	case DMR_CMD(DAXMIRROR_IOC_READ):
	case DMR_CMD(DAXMIRROR_IOC_SNAPSHOT):
	case DMR_CMD(DAXMIRROR_IOC_QUERY):
		break;
	default:
		return -ENOTTY;
	}

	/* The calls that allocate per call take one of the file's slots. */
	if (down_killable(&mirror->calls))
		return -EINTR;
	atomic_inc(&mirror->in_flight);
	switch (DMR_CMD(cmd)) {
	case DMR_CMD(DAXMIRROR_IOC_MAP):
		ret = dmr_ioctl_map(mirror, argp);
		break;
	case DMR_CMD(DAXMIRROR_IOC_READ):
		ret = dmr_ioctl_read(mirror, argp);
		break;
	case DMR_CMD(DAXMIRROR_IOC_SNAPSHOT):
		ret = dmr_ioctl_snapshot(mirror, argp);
		break;
	default:
		ret = dmr_ioctl_query(mirror, argp);
		break;
	}
	atomic_dec(&mirror->in_flight);
	up(&mirror->calls);
	return ret;
}

static const struct file_operations dmr_fops = {
	.owner = THIS_MODULE,
	.open = dmr_open,
	.release = dmr_release,
	.unlocked_ioctl = dmr_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/*
 * /sys/class/misc/daxmirror/live_*: module-wide leak checks without
 * opening a file.  Root only: they count every user's mirrors.
 */
static ssize_t live_files_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&dmr_live_files));
}
static DEVICE_ATTR_ADMIN_RO(live_files);

static ssize_t live_ranges_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&dmr_live_ranges));
}
static DEVICE_ATTR_ADMIN_RO(live_ranges);

static ssize_t live_pt_bytes_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&dmr_live_pt_bytes));
}
static DEVICE_ATTR_ADMIN_RO(live_pt_bytes);

static struct attribute *dmr_attrs[] = {
	&dev_attr_live_files.attr,
	&dev_attr_live_ranges.attr,
	&dev_attr_live_pt_bytes.attr,
	NULL,
};
ATTRIBUTE_GROUPS(dmr);

static struct miscdevice dmr_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = DAXMIRROR_DEVICE_NAME,
	.fops = &dmr_fops,
	.groups = dmr_groups,
	.mode = 0660,
};

static int __init dmr_init(void)
{
	int ret;

	ret = dmr_device_init();
	if (ret)
		return ret;
	ret = misc_register(&dmr_misc);
	if (ret)
		goto err_device;
	return 0;

err_device:
	dmr_device_exit();
	return ret;
}

static void __exit dmr_exit(void)
{
	misc_deregister(&dmr_misc);
	dmr_device_exit();
}

module_init(dmr_init);
module_exit(dmr_exit);
MODULE_DESCRIPTION("pin-free HMM mirror of DAX mappings with an emulated device");
MODULE_LICENSE("Dual MIT/GPL");
MODULE_VERSION("0.3.1");
