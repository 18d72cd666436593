// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * daxmirror_kernel_copy.c -- the copy kernel: the device copies what it sees
 * into a kernel buffer, which READ then copies to user space.  It is the
 * smallest possible device kernel and the model for the others: state in
 * job->priv, one process() call per page piece, no sleeping.
 */
#include <linux/string.h>

#include "daxmirror.h"

static int dmr_copy_process(struct dmr_job *job, unsigned int lane, u64 off,
			    const void *data, size_t len)
{
	char *dst = job->priv;

	memcpy(dst + off, data, len);
	return 0;
}

const struct dmr_kernel dmr_kernel_copy = {
	.name = "copy",
	.process = dmr_copy_process,
};
