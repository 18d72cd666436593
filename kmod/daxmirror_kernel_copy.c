// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * daxmirror_kernel_copy.c -- the copy kernel: the device copies what it sees
 * into a kernel buffer (job->priv, owned by the job), which READ then
 * copies to user space from the calling thread.  It is the smallest
 * possible device kernel and the model for the others: state in
 * job->priv, one process() call per page piece, pmem read only with
 * dmr_pmem_read(), no sleeping.
 */
#include <linux/mm.h>
#include <linux/slab.h>

#include "daxmirror.h"

static int dmr_copy_process(struct dmr_job *job, struct dmr_lane *lane,
			    u64 off, struct page *page, size_t len)
{
	unsigned long addr = job->addr + off;
	char *dst = job->priv;
	size_t left;

	left = dmr_pmem_read(job->range, addr, dst + off, page, len);
	if (left) {
		lane->err_addr = addr + (len - left);
		return -EIO;
	}
	return 0;
}

static void dmr_copy_release(struct dmr_job *job)
{
	kvfree(job->priv);
}

const struct dmr_kernel dmr_kernel_copy = {
	.name = "copy",
	.process = dmr_copy_process,
	.release = dmr_copy_release,
};
