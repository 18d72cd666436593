/* SPDX-License-Identifier: MIT */
/* check.h -- the offline check and salvage (check.c), for daxkv_open's
 * DAXKV_OPEN_SALVAGE. */
#ifndef DK_CHECK_H
#define DK_CHECK_H

#include "daxkv.h"

/* daxkv_check() on @p dir (open as @p dirfd) whose lock the caller
 * already holds. */
int dk_check_locked(const char *dir, int dirfd,
		    const struct daxkv_check_options *opts,
		    struct daxkv_check_result *res);

#endif
