// SPDX-License-Identifier: MIT
/*
 * dirlock.c -- the directory lock: DIR/lock, an OFD fcntl lock.
 *
 * A process that may write the database (daxkv_open, daxkv_check with
 * repair) holds a write lock on DIR/lock and keeps its pid in the file,
 * so that the next one can say who has it.  Read-only opens
 * (DAXKV_OPEN_RDONLY, daxkv_check without repair) hold read locks: any
 * number of them at once, and no writer meanwhile.  A reader writes
 * nothing, so it cannot leave its pid; the writer it keeps out is told
 * that readers hold the database.  OFD locks belong to the open file
 * description, not the process: two handles in one process exclude each
 * other as two processes do, and a lock is released by closing the
 * descriptor, also when the process dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dirlock.h"
#include "errors.h"

/* The pid a writer left in the lock file, or "(unknown)". */
static void dk_dirlock_pid(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!buf[0])
		snprintf(buf, len, "(unknown)");
}

static int dk_dirlock_busy(const char *dir, int fd, bool shared)
{
	struct flock probe = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char pid[32];

	/* the holder's kind; it may have changed since, so only a message */
	if (!shared && fcntl(fd, F_OFD_GETLK, &probe) == 0 &&
	    probe.l_type == F_RDLCK)
		return dk_err(DAXKV_EBUSY,
			      "%s is open read-only in another process or "
			      "handle (DAXKV_OPEN_RDONLY excludes writers)",
			      dir);
	dk_dirlock_pid(fd, pid, sizeof(pid));
	return dk_err(DAXKV_EBUSY, "%s is open in process %s", dir, pid);
}

static int dk_dirlock_shared(const char *dir, int dirfd, int *fdp)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	struct statvfs vfs;
	int fd;

	fd = openat(dirfd, "lock", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		if (err != ENOENT)
			return dk_err_errno(dk_errno_code(err), err, "%s/lock",
					    dir);
		/* nobody can write here, so there is no one to exclude */
		if (fstatvfs(dirfd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
			*fdp = -1;
			return 0;
		}
		return dk_err(DAXKV_ENODB,
			      "%s/lock is missing: a read-only open creates "
			      "nothing (open the database read-write once, or "
			      "create an empty %s/lock)",
			      dir, dir);
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		int err = errno, rc;

		rc = err == EAGAIN || err == EACCES ?
			     dk_dirlock_busy(dir, fd, true) :
			     dk_err_errno(DAXKV_EIO, err, "%s/lock", dir);
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}

int dk_dirlock_take(const char *dir, int dirfd, bool shared, int *fdp)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char pidbuf[32];
	int fd, len;

	*fdp = -1;
	if (shared)
		return dk_dirlock_shared(dir, dirfd, fdp);
	fd = openat(dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return dk_err_errno(dk_errno_code(errno), errno, "%s/lock", dir);
	if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		int err = errno, rc;

		rc = err == EAGAIN || err == EACCES ?
			     dk_dirlock_busy(dir, fd, false) :
			     dk_err_errno(DAXKV_EIO, err, "%s/lock", dir);
		close(fd);
		return rc;
	}
	len = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pidbuf, (size_t)len, 0) != len) {
		int err = errno;

		close(fd);
		return dk_err_errno(DAXKV_EIO, err, "%s/lock", dir);
	}
	*fdp = fd;
	return 0;
}
