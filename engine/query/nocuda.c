// SPDX-License-Identifier: MIT
/* nocuda.c -- the CUDA backend of a build without CUDA. */
#include <stdio.h>

#include "daxkv.h"
#include "backend.h"

static int dk_cuda_available(struct daxkv *db, char *why, size_t len)
{
	(void)db;
	snprintf(why, len, "libdaxkv was built without CUDA");
	return 0;
}

static int dk_query_cuda(struct dk_qexec *x)
{
	(void)x;
	return dk_query_err(DAXKV_ENOTSUP, "libdaxkv was built without CUDA");
}

const struct dk_backend dk_backend_cuda = {
	.id = DAXKV_BACKEND_CUDA,
	.unit_bytes = DK_MARK_STRIDE,
	.available = dk_cuda_available,
	.run = dk_query_cuda,
};
