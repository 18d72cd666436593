/* SPDX-License-Identifier: MIT */
/* errors.h -- error codes and the thread-local detail message. */
#ifndef DK_ERRORS_H
#define DK_ERRORS_H

#include "daxkv.h"

/*
 * Record @p code with a printf-style detail for daxkv_errmsg() and return
 * @p code, so that a failure reads `return dk_err(DAXKV_EIO, "...", ...)`.
 */
int dk_err(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like dk_err, appending ": strerror(errnum)". */
int dk_err_errno(int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Map an errno from a file operation to a daxkv code. */
int dk_errno_code(int errnum);

/* Clear the detail message (start of every public call that can fail). */
void dk_err_clear(void);

#endif
