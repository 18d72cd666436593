/* SPDX-License-Identifier: MIT */
/* dirlock.h -- the directory lock (dirlock.c): exclusive for a writer,
 * shared for read-only opens. */
#ifndef DK_DIRLOCK_H
#define DK_DIRLOCK_H

#include <stdbool.h>

/*
 * Take DIR/lock (@p dirfd is DIR's descriptor, @p dir its name for
 * messages).  Exclusive: create the file if needed, lock it for writing
 * and store this process's pid in it.  Shared: open it read-only and lock
 * it for reading, creating and writing nothing; a database without the
 * file is accepted unlocked only on a read-only file system (no writer can
 * exist there).  *fdp gets the descriptor that holds the lock (-1 when
 * none was needed); closing it releases the lock.
 * @return 0, DAXKV_EBUSY (held in a way that excludes this one;
 * daxkv_errmsg() names the writer's pid or says readers hold it),
 * DAXKV_ENODB (shared, no lock file on a writable file system),
 * DAXKV_EPERM, DAXKV_ENOSPC, DAXKV_EIO.
 */
int dk_dirlock_take(const char *dir, int dirfd, bool shared, int *fdp);

#endif
