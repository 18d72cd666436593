// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * daxmirror_file.c -- the misc device /dev/daxmirror: files, ioctls, module
 * init.
 *
 * Each open file is a device address space (struct dmr_mirror) bound to the
 * opener's mm.  Every ioctl first checks that it comes from that mm, then
 * copies its argument in, checks the size field and validates every other
 * field before use; out-structs are built zeroed and carry counts, never
 * kernel addresses or pfns.
 *
 * Per-file memory is bounded: the page table costs 8 bytes per mirrored
 * page, at most DAXMIRROR_MAX_MIRROR_LEN / 4096 * 8 = 128 MiB (charged to
 * the opener's memory cgroup), plus DAXMIRROR_MAX_RANGES small range
 * structs; a READ or SNAPSHOT in progress adds at most DMR_READ_BATCH
 * (4 MiB) or DAXMIRROR_MAX_SNAPSHOT_PAGES bytes, a QUERY 24 bytes a unit
 * and a buffer per lane (2 MiB with ROWS, 66 KiB without).
 */
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "daxmirror.h"

atomic64_t dmr_live_files = ATOMIC64_INIT(0);
atomic64_t dmr_live_ranges = ATOMIC64_INIT(0);
atomic64_t dmr_live_pt_bytes = ATOMIC64_INIT(0);

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
	dmr_mirror_destroy(file->private_data);
	return 0;
}

/*
 * Copy an argument struct in and check its size field.  The size must be
 * exactly the size this module knows: this first version has nothing to
 * be compatible with, and a later one extends by checking for the old
 * sizes here.
 */
int dmr_copy_arg(void *arg, size_t size, const void __user *uarg)
{
	if (copy_from_user(arg, uarg, size))
		return -EFAULT;
	if (*(const u64 *)arg != size)
		return -EINVAL;
	return 0;
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

static int dmr_ioctl_map(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_map arg;
	struct dmr_range *range;
	struct dmr_job *job;
	u64 faulted = 0;
	int ret;

	ret = dmr_copy_arg(&arg, sizeof(arg), uarg);
	if (ret)
		return ret;
	if (arg.flags & ~DAXMIRROR_MAP_FLAGS_KNOWN || arg.faulted)
		return -EINVAL;
	ret = dmr_check_user_range(arg.addr, arg.len, DAXMIRROR_MAX_RANGE_LEN);
	if (ret)
		return ret;

	down_write(&mirror->map_sem);
	ret = dmr_mirror_map(mirror, arg.addr, arg.len, &range);
	if (ret)
		goto out_unlock;
	if (arg.flags & DAXMIRROR_MAP_PREFAULT) {
		/* Like MAP_POPULATE: best effort, failures are not errors. */
		job = kzalloc(sizeof(*job), GFP_KERNEL);
		if (job) {
			job->range = range;
			job->addr = arg.addr;
			job->len = arg.len;
			if (dmr_device_run(job) == -EINTR)
				ret = -EINTR;
			kfree(job);
		}
		if (ret) {
			/* Killed: the MAP did not happen. */
			dmr_mirror_unmap(mirror, arg.addr, arg.len);
			goto out_unlock;
		}
		down_read(&mirror->pt_lock);
		for (u64 i = 0; i < arg.len >> PAGE_SHIFT; i++)
			if (READ_ONCE(range->pt[i]) & DMR_PTE_VALID)
				faulted++;
		up_read(&mirror->pt_lock);
	}
out_unlock:
	up_write(&mirror->map_sem);
	if (ret)
		return ret;

	/* The (in) fields go back as they came: a caller may keep using
	 * the struct, for example to UNMAP the same range later. */
	arg.faulted = faulted;
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		return -EFAULT;
	return 0;
}

static int dmr_ioctl_unmap(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_unmap arg;
	int ret;

	ret = dmr_copy_arg(&arg, sizeof(arg), uarg);
	if (ret)
		return ret;
	ret = dmr_check_user_range(arg.addr, arg.len, DAXMIRROR_MAX_RANGE_LEN);
	if (ret)
		return ret;

	down_write(&mirror->map_sem);
	ret = dmr_mirror_unmap(mirror, arg.addr, arg.len);
	up_write(&mirror->map_sem);
	return ret;
}

static int dmr_ioctl_read(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_read arg;
	struct dmr_range *range;
	struct dmr_job *job;
	u64 done = 0, faults = 0, end;
	void *buf;
	int ret;

	ret = dmr_copy_arg(&arg, sizeof(arg), uarg);
	if (ret)
		return ret;
	if (!arg.len || arg.len > DAXMIRROR_MAX_READ_LEN ||
	    check_add_overflow(arg.addr, arg.len, &end) || end > TASK_SIZE ||
	    arg.lanes > DMR_MAX_LANES || arg.bytes || arg.faults)
		return -EINVAL;
	if (!access_ok(u64_to_user_ptr(arg.ptr), arg.len))
		return -EFAULT;

	job = kzalloc(sizeof(*job), GFP_KERNEL);
	buf = kvmalloc(min_t(u64, arg.len, DMR_READ_BATCH), GFP_KERNEL);
	if (!job || !buf) {
		ret = -ENOMEM;
		goto out_free;
	}

	down_read(&mirror->map_sem);
	range = dmr_mirror_find(mirror, arg.addr, arg.len);
	if (!range) {
		ret = -ENXIO;
		goto out_unlock;
	}
	while (done < arg.len) {
		job->kernel = &dmr_kernel_copy;
		job->range = range;
		job->addr = arg.addr + done;
		job->len = min_t(u64, arg.len - done, DMR_READ_BATCH);
		job->priv = buf;
		job->nr_lanes = arg.lanes;
		ret = dmr_device_run(job);
		faults += job->faults;
		/* The bytes before the first error are good: hand them out. */
		if (job->err_off &&
		    copy_to_user(u64_to_user_ptr(arg.ptr + done), buf,
				 job->err_off)) {
			ret = -EFAULT;
			break;
		}
		done += job->err_off;
		if (ret)
			break;
	}
out_unlock:
	up_read(&mirror->map_sem);
	if (ret != -ENXIO && ret != -ENOMEM) {
		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.bytes = done;
		arg.faults = faults;
		if (copy_to_user(uarg, &arg, sizeof(arg)))
			ret = -EFAULT;
	}
out_free:
	kvfree(buf);
	kfree(job);
	return ret;
}

static int dmr_ioctl_snapshot(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_snapshot arg;
	struct dmr_range *range = NULL;
	u64 i, valid = 0;
	u8 *states;
	int ret;

	ret = dmr_copy_arg(&arg, sizeof(arg), uarg);
	if (ret)
		return ret;
	if (arg.valid || !arg.npages ||
	    arg.npages > DAXMIRROR_MAX_SNAPSHOT_PAGES)
		return -EINVAL;
	ret = dmr_check_user_range(arg.addr, arg.npages << PAGE_SHIFT,
				   DAXMIRROR_MAX_SNAPSHOT_PAGES << PAGE_SHIFT);
	if (ret)
		return ret;

	states = kvzalloc(arg.npages, GFP_KERNEL);
	if (!states)
		return -ENOMEM;
	down_read(&mirror->map_sem);
	down_read(&mirror->pt_lock);
	for (i = 0; i < arg.npages; i++) {
		unsigned long addr = arg.addr + (i << PAGE_SHIFT);

		if (!range || addr < range->start || addr >= range->end)
			range = dmr_mirror_find(mirror, addr, PAGE_SIZE);
		if (!range) {
			states[i] = DAXMIRROR_SNAP_UNMAPPED;
			continue;
		}
		states[i] = dmr_range_snapshot_page(range, addr);
		if (states[i] & DAXMIRROR_SNAP_VALID)
			valid++;
	}
	up_read(&mirror->pt_lock);
	up_read(&mirror->map_sem);

	ret = 0;
	if (copy_to_user(u64_to_user_ptr(arg.ptr), states, arg.npages)) {
		ret = -EFAULT;
		goto out_free;
	}
	memset(&arg, 0, sizeof(arg));
	arg.size = sizeof(arg);
	arg.valid = valid;
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
out_free:
	kvfree(states);
	return ret;
}

static int dmr_ioctl_stats(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_stats *arg;
	unsigned int i;
	int ret;

	arg = kzalloc(sizeof(*arg), GFP_KERNEL);
	if (!arg)
		return -ENOMEM;
	ret = dmr_copy_arg(arg, sizeof(*arg), uarg);
	if (ret)
		goto out_free;

	memset(arg, 0, sizeof(*arg));
	arg->size = sizeof(*arg);
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
	for (i = 0; i < DAXMIRROR_EV_COUNT; i++)
		arg->events[i] = atomic64_read(&mirror->stats.events[i]);
	down_read(&mirror->map_sem);
	arg->ranges = mirror->nr_ranges;
	up_read(&mirror->map_sem);
	arg->live_files = atomic64_read(&dmr_live_files);
	arg->live_ranges = atomic64_read(&dmr_live_ranges);
	arg->live_pt_bytes = atomic64_read(&dmr_live_pt_bytes);
	if (copy_to_user(uarg, arg, sizeof(*arg)))
		ret = -EFAULT;
out_free:
	kfree(arg);
	return ret;
}

static long dmr_ioctl(struct file *file, unsigned int cmd, unsigned long uarg)
{
	struct dmr_mirror *mirror = file->private_data;
	void __user *argp = (void __user *)uarg;

	/* The device address space belongs to the mm that opened it. */
	if (current->mm != mirror->mm)
		return -EPERM;

	switch (cmd) {
	case DAXMIRROR_IOC_MAP:
		return dmr_ioctl_map(mirror, argp);
	case DAXMIRROR_IOC_UNMAP:
		return dmr_ioctl_unmap(mirror, argp);
	case DAXMIRROR_IOC_READ:
		return dmr_ioctl_read(mirror, argp);
	case DAXMIRROR_IOC_SNAPSHOT:
		return dmr_ioctl_snapshot(mirror, argp);
	case DAXMIRROR_IOC_STATS:
		return dmr_ioctl_stats(mirror, argp);
	case DAXMIRROR_IOC_VERSION:
		return dmr_ioctl_version(mirror, argp);
	case DAXMIRROR_IOC_QUERY:
		return dmr_ioctl_query(mirror, argp);
	}
	return -ENOTTY;
}

static const struct file_operations dmr_fops = {
	.owner = THIS_MODULE,
	.open = dmr_open,
	.release = dmr_release,
	.unlocked_ioctl = dmr_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* /sys/class/misc/daxmirror/live_*: leak checks without opening a file. */
static ssize_t live_files_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&dmr_live_files));
}
static DEVICE_ATTR_RO(live_files);

static ssize_t live_ranges_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&dmr_live_ranges));
}
static DEVICE_ATTR_RO(live_ranges);

static ssize_t live_pt_bytes_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&dmr_live_pt_bytes));
}
static DEVICE_ATTR_RO(live_pt_bytes);

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
MODULE_VERSION("0.2.3");
