// SPDX-License-Identifier: MIT
/* query_nocuda.c -- the CUDA backend of a build without CUDA. */
#include <stdio.h>

#include "daxkv.h"
#include "backend.h"

int dk_cuda_available(struct daxkv *db, char *why, size_t len)
{
	(void)db;
	snprintf(why, len, "libdaxkv was built without CUDA");
	return 0;
}

int dk_query_cuda(struct dk_qexec *x)
{
	(void)x;
	return dk_query_err(DAXKV_ENOTSUP, "libdaxkv was built without CUDA");
}
