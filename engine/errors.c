// SPDX-License-Identifier: MIT
/* errors.c -- daxkv_strerror() and the thread-local daxkv_errmsg(). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

static __thread char dk_errbuf[512];

static void dk_err_vset(const char *fmt, va_list ap, int errnum)
{
	int n = vsnprintf(dk_errbuf, sizeof(dk_errbuf), fmt, ap);

	if (errnum && n >= 0 && (size_t)n < sizeof(dk_errbuf))
		snprintf(dk_errbuf + n, sizeof(dk_errbuf) - (size_t)n, ": %s",
			 strerror(errnum));
}

int dk_err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dk_err_vset(fmt, ap, 0);
	va_end(ap);
	return code;
}

int dk_err_errno(int code, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dk_err_vset(fmt, ap, errnum);
	va_end(ap);
	return code;
}

int dk_errno_code(int errnum)
{
	switch (errnum) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return DAXKV_ENOSPC;
	case ENOMEM:
		return DAXKV_ENOMEM;
	case EACCES:
	case EPERM:
	case EROFS:
		return DAXKV_EPERM;
	case ENOTDIR:
	case EISDIR:
	case ENAMETOOLONG:
	case ELOOP:
		return DAXKV_EINVAL;
	case ENOENT:
		return DAXKV_ENODB;
	default:
		return DAXKV_EIO;
	}
}

void dk_err_clear(void)
{
	dk_errbuf[0] = '\0';
}

const char *daxkv_errmsg(void)
{
	return dk_errbuf;
}

const char *daxkv_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case DAXKV_ENOTFOUND:
		return "DAXKV_ENOTFOUND: key not found";
	case DAXKV_EINVAL:
		return "DAXKV_EINVAL: invalid argument";
	case DAXKV_ERANGE:
		return "DAXKV_ERANGE: buffer too small";
	case DAXKV_ENOSPC:
		return "DAXKV_ENOSPC: no space left (max_size or file system)";
	case DAXKV_EBUSY:
		return "DAXKV_EBUSY: busy (open in another process, or snapshots open)";
	case DAXKV_ECORRUPT:
		return "DAXKV_ECORRUPT: database is damaged";
	case DAXKV_EVERSION:
		return "DAXKV_EVERSION: unsupported format version";
	case DAXKV_ENOMEM:
		return "DAXKV_ENOMEM: out of memory";
	case DAXKV_EIO:
		return "DAXKV_EIO: I/O error";
	case DAXKV_EPERM:
		return "DAXKV_EPERM: permission denied";
	case DAXKV_ENODB:
		return "DAXKV_ENODB: not a daxkv database";
	case DAXKV_ENOTSUP:
		return "DAXKV_ENOTSUP: backend not available";
	default:
		return "unknown daxkv error";
	}
}
