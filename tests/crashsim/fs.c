// SPDX-License-Identifier: MIT
/*
 * fs.c -- the file-system model: what a crash keeps of the database
 * directory, and the check directory built from it.
 *
 * The engine's file operations on the database directory are wrapped at
 * link time (-Wl,--wrap: open, openat, close, write, pwrite, ftruncate,
 * fallocate, posix_fallocate, fsync, fdatasync, unlink, unlinkat, rename,
 * renameat, pmem_map_file, pmem_unmap); a direct mmap of a database file
 * is seen through the process-wide mmap below.  Each operation is done for
 * real on the working directory and recorded, in the manner of SQLite's
 * crash VFS and of the ALICE study (Pillai et al., OSDI 2014):
 *
 *   - the namespace: a durable one (dur_ns) and the list of directory
 *     operations since the directory was last fsynced (create, unlink,
 *     rename; each carries the inode it names).  A crash keeps the
 *     durable namespace plus any subset of those operations, applied in
 *     order ("posix", the default: nothing orders two operations that no
 *     fsync separates), or any prefix of them ("journal": ext4 and xfs
 *     commit metadata in order, and an fsync of any file commits all of
 *     it).  A rename is atomic: the new name points at the renamed inode
 *     or keeps what it had.
 *   - file data written with write/pwrite/ftruncate: durable at the
 *     file's fsync or fdatasync.  A crash keeps the durable content, the
 *     new content, or the new size with its tail not written (zeros).
 *   - mapped files (segments): their content is the persistent-memory
 *     model's (pmem.c).  Their size (fallocate inside pmem_map_file) is
 *     durable from the first store through the mapping: the mapping is
 *     MAP_SYNC (or msync'ed), whose write fault makes the file's
 *     allocation durable before the store can land.  Before that a crash
 *     may find the file empty.
 *   - meta.pool is libpmemobj's: atomic at each dk_meta_set (pmem.c); its
 *     creation is not modelled (no crash state exists before it).
 *
 * The check directory C is built for each crash state from this model:
 * every name of the state's namespace is a hard link to the inode's file
 * in the inode store S (segments: kept equal to the persistent-memory
 * model's image; meta.pool: meta_img), or a regular file written with the
 * chosen content.  The checker maps everything MAP_PRIVATE and breaks a
 * hard link before it writes a file (checker side, below), so the store
 * never changes under the simulator; after each state, whatever names the
 * checker changed in C are put back.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpmem.h>

#include "crashsim.h"

#define FDMAX 4096

int __real_open(const char *path, int flags, ...);
int __real_openat(int dirfd, const char *path, int flags, ...);
int __real_close(int fd);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
int __real_ftruncate(int fd, off_t len);
int __real_fallocate(int fd, int mode, off_t off, off_t len);
int __real_posix_fallocate(int fd, off_t off, off_t len);
int __real_fsync(int fd);
int __real_fdatasync(int fd);
int __real_unlink(const char *path);
int __real_unlinkat(int dirfd, const char *path, int flags);
int __real_rename(const char *from, const char *to);
int __real_renameat(int fd1, const char *from, int fd2, const char *to);
void *__real_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp);
int __real_pmem_unmap(void *addr, size_t len);

int __wrap_open(const char *path, int flags, ...);
int __wrap_openat(int dirfd, const char *path, int flags, ...);
int __wrap_close(int fd);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_fallocate(int fd, int mode, off_t off, off_t len);
int __wrap_posix_fallocate(int fd, off_t off, off_t len);
int __wrap_fsync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_unlink(const char *path);
int __wrap_unlinkat(int dirfd, const char *path, int flags);
int __wrap_rename(const char *from, const char *to);
int __wrap_renameat(int fd1, const char *from, int fd2, const char *to);
void *__wrap_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp);
int __wrap_pmem_unmap(void *addr, size_t len);

struct inode **inodes;
uint32_t ninodes;
static uint32_t cap_inodes;
struct nspace vol_ns, dur_ns;
struct dirop *dirops;
size_t ndirops;
static size_t cap_dirops;
uint64_t fs_serial;
int fs_order;
static int32_t fd_ino[FDMAX];  /* inode id + 1 */
static bool fd_dir[FDMAX];     /* an fd of the database directory */
static bool dirsync_deferred;  /* plant 7 */
static bool skipped_for[1u << 16]; /* plant 8: inodes whose fsync went */

/*
 * Files outside the model: `lock` holds the owner's pid for a message and
 * is created again by every open; `.probe` is made and removed by every
 * open before anything else, which first removes one left behind.
 * Nothing a crash leaves in them can matter, and their unsynced variants
 * would only multiply every crash point's states.
 */
static bool ignored(const char *name)
{
	return !strcmp(name, "lock") || !strcmp(name, ".probe");
}

/* ---- the namespace ---- */

static struct dent *ns_find(struct nspace *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (!strcmp(ns->e[i].name, name))
			return &ns->e[i];
	return NULL;
}

static void ns_set(struct nspace *ns, const char *name, uint32_t ino)
{
	struct dent *d = ns_find(ns, name);

	if (!d) {
		if (ns->n == ns->cap) {
			ns->cap = ns->cap ? 2 * ns->cap : 64;
			ns->e = realloc(ns->e, ns->cap * sizeof(*ns->e));
			if (!ns->e)
				die("out of memory");
		}
		d = &ns->e[ns->n++];
		if (strlen(name) >= sizeof(d->name))
			die("file name %s: too long for the model", name);
		snprintf(d->name, sizeof(d->name), "%s", name);
	}
	d->ino = ino;
}

static void ns_del(struct nspace *ns, const char *name)
{
	struct dent *d = ns_find(ns, name);

	if (d)
		*d = ns->e[--ns->n];
}

static void ns_copy(struct nspace *to, const struct nspace *from)
{
	to->n = 0;
	for (size_t i = 0; i < from->n; i++)
		ns_set(to, from->e[i].name, from->e[i].ino);
}

static void op_apply(struct nspace *ns, const struct dirop *op)
{
	switch (op->kind) {
	case OP_LINK:
		ns_set(ns, op->name, op->ino);
		break;
	case OP_UNLINK:
		ns_del(ns, op->name);
		break;
	case OP_RENAME:
		ns_del(ns, op->name);
		ns_set(ns, op->to, op->ino);
		break;
	}
}

/* ---- inodes ---- */

struct inode *fs_inode(uint32_t id)
{
	return id < ninodes ? inodes[id] : NULL;
}

static struct inode *inode_new(enum ikind kind)
{
	struct inode *in = calloc(1, sizeof(*in));

	if (!in)
		die("out of memory");
	if (ninodes == cap_inodes) {
		cap_inodes = cap_inodes ? 2 * cap_inodes : 256;
		inodes = realloc(inodes, cap_inodes * sizeof(*inodes));
		if (!inodes)
			die("out of memory");
	}
	in->id = ninodes;
	in->kind = kind;
	inodes[ninodes++] = in;
	return in;
}

static void store_path(uint32_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/i%u", sdir, id);
}

/* The inode-store file of a segment, mapped as tm->chk (== pers). */
static void seg_backing(struct inode *in)
{
	struct tmap *tm = in->tm;
	char path[512];
	struct stat st;
	int fd;

	store_path(in->id, path, sizeof(path));
	fd = __real_open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || __real_ftruncate(fd, (off_t)tm->size) != 0 ||
	    fstat(fd, &st) != 0)
		die("%s: %s", path, strerror(errno));
	tm->chk = mmap(NULL, tm->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       0);
	__real_close(fd);
	if (tm->chk == MAP_FAILED)
		die("mmap %s: %s", path, strerror(errno));
	memcpy(tm->chk, tm->pers, tm->size);
	in->st_ino = st.st_ino;
}

static bool is_seg_name(const char *name)
{
	unsigned slot;
	char tail;

	return sscanf(name, "seg-%8u.dat%c", &slot, &tail) == 1 &&
	       strlen(name) == 16;
}

/* A mapped file becomes a segment of the model: @p content is what a
 * crash keeps of it (NULL: zeros). */
static void inode_make_seg(struct inode *in, size_t size,
			   const uint8_t *content)
{
	in->kind = IK_SEG;
	in->size = size;
	in->tm = tmap_new(in->id, size, content);
	seg_backing(in);
	free(in->vol);
	free(in->dur);
	in->vol = in->dur = NULL;
	in->vol_len = in->dur_len = 0;
	in->unsynced = false;
}

static bool inode_named(uint32_t id)
{
	for (size_t i = 0; i < vol_ns.n; i++)
		if (vol_ns.e[i].ino == id)
			return true;
	for (size_t i = 0; i < dur_ns.n; i++)
		if (dur_ns.e[i].ino == id)
			return true;
	for (size_t i = 0; i < ndirops; i++)
		if (dirops[i].ino == id)
			return true;
	return false;
}

/* Inodes no name can reach, in any crash, any more. */
static void collect(void)
{
	for (uint32_t id = 0; id < ninodes; id++) {
		struct inode *in = inodes[id];
		char path[512];

		if (in->gone || in->kind == IK_META || inode_named(id) ||
		    (in->tm && in->tm->base))
			continue;
		for (int fd = 0; fd < FDMAX; fd++)
			if (fd_ino[fd] == (int32_t)id + 1)
				goto next;
		if (in->tm) {
			tmap_free(in->tm);
			in->tm = NULL;
			store_path(id, path, sizeof(path));
			__real_unlink(path);
		}
		free(in->vol);
		free(in->dur);
		in->vol = in->dur = NULL;
		in->gone = true;
next:;
	}
}

static void dirop_push(enum opkind kind, const char *name, const char *to,
		       uint32_t ino)
{
	struct dirop *op;

	if (ndirops == cap_dirops) {
		cap_dirops = cap_dirops ? 2 * cap_dirops : 64;
		dirops = realloc(dirops, cap_dirops * sizeof(*dirops));
		if (!dirops)
			die("out of memory");
	}
	op = &dirops[ndirops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	snprintf(op->name, sizeof(op->name), "%s", name);
	snprintf(op->to, sizeof(op->to), "%s", to ? to : "");
	op->ino = ino;
	fs_serial++;
	trace("fs: %s %s%s%s (inode %u)", kind == OP_LINK ? "create" :
	      kind == OP_UNLINK ? "unlink" : "rename", name, to ? " -> " : "",
	      to ? to : "", ino);
}

static void dir_sync_apply(void)
{
	trace("fs: directory fsync: %zu operations durable", ndirops);
	ns_copy(&dur_ns, &vol_ns);
	ndirops = 0;
	fs_serial++;
	collect();
}

/* An fsync of the database directory. */
static void dir_sync(void)
{
	if (plant == PLANT_NO_DIRSYNC) {
		bool skip = false;

		for (size_t i = 0; i < ndirops; i++)
			if (dirops[i].kind == OP_LINK &&
			    is_seg_name(dirops[i].name) &&
			    dirops[i].ino < (1u << 16) &&
			    !skipped_for[dirops[i].ino]) {
				skipped_for[dirops[i].ino] = true;
				skip = true;
				trace("planted 8: directory fsync skipped");
			}
		if (skip)
			return; /* planted: this fsync is not made */
	}
	if (plant == PLANT_CLEAN_EARLY) {
		for (size_t i = 0; i < ndirops; i++)
			if (dirops[i].kind == OP_RENAME &&
			    !strcmp(dirops[i].to, "checkpoint.dat")) {
				dirsync_deferred = true;
				trace("planted 7: directory fsync deferred");
				return; /* planted: after the clean flag */
			}
	}
	dir_sync_apply();
}

void fs_dirsync_release(void)
{
	if (dirsync_deferred) {
		dirsync_deferred = false;
		dir_sync_apply();
	}
}

static void file_sync(struct inode *in)
{
	if (in->gone)
		return;
	trace("fs: fsync of inode %u", in->id);
	if (in->kind == IK_REG && in->unsynced) {
		free(in->dur);
		in->dur = malloc(in->vol_len ? in->vol_len : 1);
		if (!in->dur)
			die("out of memory");
		memcpy(in->dur, in->vol, in->vol_len);
		in->dur_len = in->vol_len;
		in->unsynced = false;
		fs_serial++;
	} else if (in->kind != IK_REG && !in->size_durable) {
		in->size_durable = true;
		fs_serial++;
	}
	if (fs_order == 1 && ndirops) /* a journal commits everything */
		dir_sync();
}

/* The first store through a segment's mapping: its size is durable. */
void fs_mapped_store(struct tmap *tm)
{
	struct inode *in = fs_inode(tm->ino);

	tm->size_synced = true;
	if (in && !in->size_durable) {
		in->size_durable = true;
		fs_serial++;
	}
}

static void reg_resize(struct inode *in, size_t len)
{
	if (len > in->vol_len) {
		in->vol = realloc(in->vol, len);
		if (!in->vol)
			die("out of memory");
		memset(in->vol + in->vol_len, 0, len - in->vol_len);
	}
	in->vol_len = len;
}

static void reg_write(struct inode *in, off_t off, const void *buf, size_t n)
{
	if ((size_t)off + n > in->vol_len)
		reg_resize(in, (size_t)off + n);
	memcpy(in->vol + off, buf, n);
	in->unsynced = true;
	fs_serial++;
}

static uint8_t *read_whole(int dirfd, const char *name, size_t *lenp)
{
	int fd = __real_openat(dirfd, name, O_RDONLY);
	struct stat st;
	uint8_t *buf;

	*lenp = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		__real_close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
		die("%s: cannot read", name);
	__real_close(fd);
	*lenp = (size_t)st.st_size;
	return buf;
}

/* A file of the directory the model has not seen made (libpmemobj's
 * pool, or one that was there when tracking started): as it is. */
static struct inode *adopt(const char *name, bool durable)
{
	struct inode *in;
	int dfd = __real_open(wdir, O_RDONLY | O_DIRECTORY);
	size_t len;
	uint8_t *buf;

	if (!strcmp(name, "meta.pool")) {
		in = inode_new(IK_META);
	} else {
		in = inode_new(IK_REG);
		buf = read_whole(dfd, name, &len);
		in->vol = buf;
		in->vol_len = len;
		in->dur = malloc(len + 1);
		memcpy(in->dur, buf ? buf : (const uint8_t *)"", len);
		in->dur_len = len;
	}
	__real_close(dfd);
	ns_set(&vol_ns, name, in->id);
	if (durable)
		ns_set(&dur_ns, name, in->id);
	else
		dirop_push(OP_LINK, name, NULL, in->id);
	return in;
}

void fs_reset(void)
{
	for (uint32_t id = 0; id < ninodes; id++) {
		struct inode *in = inodes[id];

		free(in->vol);
		free(in->dur);
		free(in);
	}
	ninodes = 0;
	vol_ns.n = dur_ns.n = 0;
	ndirops = 0;
	dirsync_deferred = false;
	memset(fd_ino, 0, sizeof(fd_ino));
	memset(fd_dir, 0, sizeof(fd_dir));
	memset(skipped_for, 0, sizeof(skipped_for));
	fs_serial++;
}

/* The start of a phase: everything in the directory is durable. */
void fs_load_dir(void)
{
	DIR *d = opendir(wdir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		struct inode *in;

		if ((de->d_name[0] == '.' &&
		     (!de->d_name[1] || !strcmp(de->d_name, ".."))) ||
		    ignored(de->d_name))
			continue;
		if (is_seg_name(de->d_name)) {
			size_t len;
			uint8_t *buf;
			int dfd = dirfd(d);

			in = inode_new(IK_SEG);
			buf = read_whole(dfd, de->d_name, &len);
			in->size_durable = true;
			inode_make_seg(in, len, buf);
			free(buf);
			ns_set(&vol_ns, de->d_name, in->id);
			ns_set(&dur_ns, de->d_name, in->id);
		} else {
			adopt(de->d_name, true);
		}
	}
	if (d)
		closedir(d);
}

/* ---- which operations are the database directory's ---- */

static bool fs_on(void)
{
	return tracking && !in_child && sim_known();
}

/* The name inside the database directory, or NULL. */
static const char *w_name(int dirfd, const char *path)
{
	size_t n = strlen(wdir);
	const char *name;

	if (dirfd != AT_FDCWD && path[0] != '/') {
		if (dirfd < 0 || dirfd >= FDMAX || !fd_dir[dirfd] ||
		    strchr(path, '/'))
			return NULL;
		name = path;
	} else {
		if (strncmp(path, wdir, n) || path[n] != '/' ||
		    strchr(path + n + 1, '/'))
			return NULL;
		name = path + n + 1;
	}
	return ignored(name) ? NULL : name;
}

static bool is_wdir(int dirfd, const char *path)
{
	return dirfd == AT_FDCWD && !strcmp(path, wdir);
}

static struct inode *fd_inode(int fd)
{
	struct inode *in;

	if (fd < 0 || fd >= FDMAX || !fd_ino[fd])
		return NULL;
	in = inodes[fd_ino[fd] - 1];
	return in->gone ? NULL : in;
}

static void fs_crash_point(void)
{
	if (meta_known())
		crash_point(EV_FS);
	sched_point();
}

/* ---- the checker's side: never write through a hard link ---- */

/* @p fd is one of C's names hard-linked to the inode store: give the
 * name a copy of its own first, and make fd refer to the copy. */
static void child_unshare(int fd)
{
	char link[64], path[600], tmp[640];
	struct stat st;
	ssize_t n;
	off_t pos;
	int nfd, flags;
	size_t len;
	uint8_t *buf;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink < 2)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return;
	path[n] = '\0';
	snprintf(tmp, sizeof(tmp), "%s.unshare", path);
	buf = read_whole(AT_FDCWD, path, &len);
	nfd = __real_open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (nfd < 0 || (len && __real_pwrite(nfd, buf, len, 0) != (ssize_t)len))
		die("%s: cannot unshare", path);
	free(buf);
	__real_close(nfd);
	__real_rename(tmp, path);
	flags = fcntl(fd, F_GETFL);
	pos = lseek(fd, 0, SEEK_CUR);
	nfd = __real_open(path, flags & ~(O_CREAT | O_EXCL | O_TRUNC));
	if (nfd < 0)
		die("%s: cannot reopen", path);
	lseek(nfd, pos, SEEK_SET);
	dup2(nfd, fd);
	__real_close(nfd);
}

static void child_open_trunc(int dirfd, const char *path, int flags)
{
	struct stat st;

	if (!(flags & O_TRUNC) || fstatat(dirfd, path, &st, 0) != 0 ||
	    st.st_nlink < 2)
		return;
	/* the name gets a new, empty file: O_TRUNC's result */
	__real_unlinkat(dirfd, path, 0);
	__real_close(__real_openat(dirfd, path, O_CREAT | O_WRONLY,
				   st.st_mode & 07777));
}

/* ---- the wrappers ---- */

static int model_open(int dirfd, const char *path, int flags, mode_t mode)
{
	const char *name = w_name(dirfd, path);
	struct dent *d;
	struct inode *in;
	int fd;

	fd = dirfd == AT_FDCWD ? __real_open(path, flags, mode) :
				 __real_openat(dirfd, path, flags, mode);
	if (fd < 0 || fd >= FDMAX)
		return fd;
	if (is_wdir(dirfd, path)) {
		fd_dir[fd] = true;
		return fd;
	}
	if (!name)
		return fd;
	d = ns_find(&vol_ns, name);
	if (!d) {
		if (flags & O_CREAT) {
			in = inode_new(IK_REG);
			ns_set(&vol_ns, name, in->id);
			dirop_push(OP_LINK, name, NULL, in->id);
		} else {
			in = adopt(name, false);
		}
		fd_ino[fd] = (int32_t)in->id + 1;
		fs_crash_point();
		return fd;
	}
	in = inodes[d->ino];
	fd_ino[fd] = (int32_t)in->id + 1;
	if (in->kind == IK_REG && (flags & O_TRUNC) &&
	    (flags & O_ACCMODE) != O_RDONLY && in->vol_len) {
		in->vol_len = 0;
		in->unsynced = true;
		fs_serial++;
		fs_crash_point();
	}
	return fd;
}

int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (in_child)
		child_open_trunc(AT_FDCWD, path, flags);
	if (!fs_on())
		return __real_open(path, flags, mode);
	return model_open(AT_FDCWD, path, flags, mode);
}

int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (in_child)
		child_open_trunc(dirfd, path, flags);
	if (!fs_on())
		return __real_openat(dirfd, path, flags, mode);
	return model_open(dirfd, path, flags, mode);
}

int __wrap_close(int fd)
{
	if (fd >= 0 && fd < FDMAX && !in_child) {
		fd_ino[fd] = 0;
		fd_dir[fd] = false;
	}
	return __real_close(fd);
}

static void not_modelled(const char *what, const struct inode *in)
{
	die("the engine uses %s on a mapped file (inode %u): not modelled",
	    what, in->id);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	struct inode *in;
	off_t off;
	ssize_t rc;

	if (in_child)
		child_unshare(fd);
	if (!fs_on() || !(in = fd_inode(fd)))
		return __real_write(fd, buf, n);
	if (in->kind != IK_REG)
		not_modelled("write", in);
	off = lseek(fd, 0, SEEK_CUR);
	rc = __real_write(fd, buf, n);
	if (rc > 0 && off >= 0) {
		reg_write(in, off, buf, (size_t)rc);
		fs_crash_point();
	}
	return rc;
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	struct inode *in;
	ssize_t rc;

	if (in_child)
		child_unshare(fd);
	if (!fs_on() || !(in = fd_inode(fd)))
		return __real_pwrite(fd, buf, n, off);
	if (in->kind != IK_REG)
		not_modelled("pwrite", in);
	rc = __real_pwrite(fd, buf, n, off);
	if (rc > 0) {
		reg_write(in, off, buf, (size_t)rc);
		fs_crash_point();
	}
	return rc;
}

/* A size change (ftruncate, fallocate without KEEP_SIZE). */
static void size_change(struct inode *in, uint64_t len)
{
	if (in->kind == IK_REG) {
		if (len == in->vol_len)
			return;
		reg_resize(in, (size_t)len);
		in->unsynced = true;
		fs_serial++;
	} else if (in->kind == IK_SEG && in->tm && len != in->tm->size) {
		not_modelled("a size change", in);
	} else {
		in->size = len;
		in->size_durable = false;
		fs_serial++;
	}
	fs_crash_point();
}

int __wrap_ftruncate(int fd, off_t len)
{
	struct inode *in;
	int rc;

	if (in_child)
		child_unshare(fd);
	rc = __real_ftruncate(fd, len);
	if (rc == 0 && fs_on() && (in = fd_inode(fd)))
		size_change(in, (uint64_t)len);
	return rc;
}

int __wrap_fallocate(int fd, int mode, off_t off, off_t len)
{
	struct inode *in;
	int rc;

	if (in_child)
		child_unshare(fd);
	rc = __real_fallocate(fd, mode, off, len);
	if (rc == 0 && fs_on() && (in = fd_inode(fd))) {
		uint64_t cur = in->kind == IK_REG ? in->vol_len : in->size;

		if (mode & ~FALLOC_FL_KEEP_SIZE)
			not_modelled("fallocate with this mode", in);
		if (!(mode & FALLOC_FL_KEEP_SIZE) && (uint64_t)(off + len) > cur)
			size_change(in, (uint64_t)(off + len));
	}
	return rc;
}

int __wrap_posix_fallocate(int fd, off_t off, off_t len)
{
	struct inode *in;
	int rc;

	if (in_child)
		child_unshare(fd);
	rc = __real_posix_fallocate(fd, off, len);
	if (rc == 0 && fs_on() && (in = fd_inode(fd))) {
		uint64_t cur = in->kind == IK_REG ? in->vol_len : in->size;

		if ((uint64_t)(off + len) > cur)
			size_change(in, (uint64_t)(off + len));
	}
	return rc;
}

static void sync_fd(int fd)
{
	struct inode *in;

	if (!fs_on())
		return;
	if (fd >= 0 && fd < FDMAX && fd_dir[fd])
		dir_sync();
	else if ((in = fd_inode(fd)))
		file_sync(in);
}

int __wrap_fsync(int fd)
{
	int rc = __real_fsync(fd);

	if (rc == 0)
		sync_fd(fd);
	return rc;
}

int __wrap_fdatasync(int fd)
{
	int rc = __real_fdatasync(fd);

	if (rc == 0)
		sync_fd(fd);
	return rc;
}

static int model_unlink(int dirfd, const char *path, int flags)
{
	const char *name = w_name(dirfd, path);
	struct dent *d = name ? ns_find(&vol_ns, name) : NULL;
	uint32_t ino = d ? d->ino : 0;
	int rc;

	rc = dirfd == AT_FDCWD ? __real_unlink(path) :
				 __real_unlinkat(dirfd, path, flags);
	if (rc == 0 && d) {
		ns_del(&vol_ns, name);
		dirop_push(OP_UNLINK, name, NULL, ino);
		fs_crash_point();
	}
	return rc;
}

int __wrap_unlink(const char *path)
{
	if (!fs_on())
		return __real_unlink(path);
	return model_unlink(AT_FDCWD, path, 0);
}

int __wrap_unlinkat(int dirfd, const char *path, int flags)
{
	if (!fs_on())
		return __real_unlinkat(dirfd, path, flags);
	return model_unlink(dirfd, path, flags);
}

static int model_rename(int fd1, const char *from, int fd2, const char *to)
{
	const char *a = w_name(fd1, from), *b = w_name(fd2, to);
	struct dent *d;
	uint32_t ino;
	int rc;

	rc = fd1 == AT_FDCWD && fd2 == AT_FDCWD ?
		     __real_rename(from, to) :
		     __real_renameat(fd1, from, fd2, to);
	if (rc != 0 || (!a && !b))
		return rc;
	if (!a || !b)
		die("rename %s -> %s: into or out of the database directory "
		    "is not modelled", from, to);
	d = ns_find(&vol_ns, a);
	if (!d) {
		/* made where the model does not see (libpmemobj's pool) */
		ns_del(&vol_ns, b);
		adopt(b, false);
		fs_crash_point();
		return rc;
	}
	ino = d->ino;
	ns_del(&vol_ns, a);
	ns_set(&vol_ns, b, ino);
	dirop_push(OP_RENAME, a, b, ino);
	fs_crash_point();
	return rc;
}

int __wrap_rename(const char *from, const char *to)
{
	if (!fs_on())
		return __real_rename(from, to);
	return model_rename(AT_FDCWD, from, AT_FDCWD, to);
}

int __wrap_renameat(int fd1, const char *from, int fd2, const char *to)
{
	if (!fs_on())
		return __real_renameat(fd1, from, fd2, to);
	return model_rename(fd1, from, fd2, to);
}

/* An existing file the engine maps: a segment of the model from now on. */
static void attach_mapping(struct inode *in, const char *name, void *addr,
			   size_t len)
{
	if (in->kind == IK_REG && is_seg_name(name)) {
		/* made with open/fallocate: what a crash keeps is the
		 * durable content (a short file reads as zeros past it) */
		uint8_t *content = calloc(1, len);

		if (!content)
			die("out of memory");
		memcpy(content, in->dur, in->dur_len < len ? in->dur_len : len);
		in->size_durable = in->dur_len == len;
		inode_make_seg(in, len, content);
		free(content);
	}
	if (in->kind == IK_SEG && in->tm) {
		if (in->tm->size != len)
			not_modelled("a mapping of another size", in);
		in->tm->base = addr;
	}
}

void *__wrap_pmem_map_file(const char *path, size_t len, int flags,
			   mode_t mode, size_t *mapped_lenp, int *is_pmemp)
{
	const char *name;
	struct dent *d;
	struct inode *in;
	void *addr;

	if (!fs_on() || !(name = w_name(AT_FDCWD, path)))
		return __real_pmem_map_file(path, len, flags, mode,
					    mapped_lenp, is_pmemp);
	d = ns_find(&vol_ns, name);
	addr = __real_pmem_map_file(path, len, flags, mode, mapped_lenp,
				    is_pmemp);
	if (!addr)
		return NULL;
	if (d && !((flags & PMEM_FILE_CREATE) && (flags & PMEM_FILE_EXCL))) {
		attach_mapping(inodes[d->ino], name, addr, *mapped_lenp);
		return addr;
	}
	/* open(O_CREAT) and fallocate inside libpmem: a new name, and a
	 * size that is durable from the first store (MAP_SYNC) */
	in = inode_new(is_seg_name(name) ? IK_SEG : IK_MAPPED);
	in->size = *mapped_lenp;
	if (in->kind == IK_SEG) {
		inode_make_seg(in, *mapped_lenp, NULL);
		in->tm->base = addr;
	}
	ns_set(&vol_ns, name, in->id);
	dirop_push(OP_LINK, name, NULL, in->id);
	fs_crash_point();
	return addr;
}

int __wrap_pmem_unmap(void *addr, size_t len)
{
	if (!in_child && sim_known())
		for (struct tmap *tm = tmaps; tm; tm = tm->next)
			if (tm->base == addr)
				tm->base = NULL; /* pers and versions stay */
	return __real_pmem_unmap(addr, len);
}

/*
 * mmap, for the whole process (libpmem and libpmemobj map their files
 * themselves).  In the checker every shared mapping of a file becomes
 * private: what the checked engine writes to its image never reaches the
 * inode store.  In the simulator a shared writable mapping of a database
 * file made directly by the engine becomes a segment of the model.
 */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static void *(*real)(void *, size_t, int, int, int, off_t);
	void *p;

	if (!real)
		real = (void *(*)(void *, size_t, int, int, int,
				  off_t))dlsym(RTLD_NEXT, "mmap");
	if (in_child && fd >= 0 && (flags & MAP_SHARED)) {
		flags &= ~(MAP_SHARED | MAP_SHARED_VALIDATE | MAP_SYNC);
		flags |= MAP_PRIVATE;
		checker_privatized(fd);
	}
	p = real(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED && !in_child && fd >= 0 && (flags & MAP_SHARED) &&
	    (prot & PROT_WRITE) && fs_on()) {
		struct inode *in = fd_inode(fd);

		if (in) {
			for (size_t i = 0; i < vol_ns.n; i++)
				if (vol_ns.e[i].ino == in->id) {
					attach_mapping(in, vol_ns.e[i].name, p,
						       len);
					break;
				}
		}
	}
	return p;
}

int munmap(void *addr, size_t len)
{
	static int (*real)(void *, size_t);

	if (!real)
		real = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
	if (!in_child && sim_known() && tracking)
		for (struct tmap *tm = tmaps; tm; tm = tm->next)
			if (tm->base == addr)
				tm->base = NULL;
	return real(addr, len);
}

/* ---- the check directory ---- */

/* What C holds under each name, as the simulator made it. */
struct centry {
	char name[64];
	enum { C_LINK, C_FILE } kind;
	ino_t st_ino;     /* C_LINK: the store file it links */
	uint32_t ino;     /* the model's inode */
	int variant;      /* C_FILE: which content */
};
static struct centry *cns;
static size_t ncns, cap_cns;
static struct inode **uns; /* the unsynced inodes, fs_unsynced() order */
static size_t nuns, cap_uns;

size_t fs_unsynced(struct inode ***out)
{
	nuns = 0;
	for (uint32_t id = 0; id < ninodes; id++) {
		struct inode *in = inodes[id];

		if (in->gone || !inode_named(id))
			continue;
		if (!((in->kind == IK_REG && in->unsynced) ||
		      ((in->kind == IK_SEG || in->kind == IK_MAPPED) &&
		       !in->size_durable)))
			continue;
		if (nuns == cap_uns) {
			cap_uns = cap_uns ? 2 * cap_uns : 16;
			uns = realloc(uns, cap_uns * sizeof(*uns));
			if (!uns)
				die("out of memory");
		}
		uns[nuns++] = in;
	}
	*out = uns;
	return nuns;
}

unsigned fs_file_variants(const struct inode *in)
{
	/* regular: durable, new, new size with its tail unwritten;
	 * mapped: empty, allocated */
	return in->kind == IK_REG ? 3 : 2;
}

static int c_fd = -1; /* the check directory */

static int cdir_fd(void)
{
	if (c_fd < 0) {
		c_fd = __real_open(cdir, O_RDONLY | O_DIRECTORY);
		if (c_fd < 0)
			die("%s: %s", cdir, strerror(errno));
	}
	return c_fd;
}

static struct centry *cns_find(const char *name)
{
	for (size_t i = 0; i < ncns; i++)
		if (!strcmp(cns[i].name, name))
			return &cns[i];
	return NULL;
}

static void cns_del(const char *name)
{
	struct centry *c = cns_find(name);

	if (c)
		*c = cns[--ncns];
}

static struct centry *cns_add(const char *name)
{
	if (ncns == cap_cns) {
		cap_cns = cap_cns ? 2 * cap_cns : 64;
		cns = realloc(cns, cap_cns * sizeof(*cns));
		if (!cns)
			die("out of memory");
	}
	memset(&cns[ncns], 0, sizeof(cns[ncns]));
	snprintf(cns[ncns].name, sizeof(cns[ncns].name), "%s", name);
	return &cns[ncns++];
}

static void write_file(int dfd, const char *name, const uint8_t *buf,
		       size_t len, size_t size)
{
	int fd = __real_openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || (len && __real_write(fd, buf, len) != (ssize_t)len) ||
	    (size > len && __real_ftruncate(fd, (off_t)size) != 0))
		die("%s/%s: %s", cdir, name, strerror(errno));
	__real_close(fd);
}

/* Content variant @p v of a regular file: 0 durable, 1 new, 2 the new
 * size with everything past a seeded point still zero. */
static void reg_variant(const struct inode *in, int v, const uint8_t **buf,
			size_t *len, size_t *size)
{
	static uint8_t *tmp;
	static size_t cap;

	if (v == 0 || !in->unsynced) {
		*buf = in->dur;
		*len = *size = in->dur_len;
		return;
	}
	*buf = in->vol;
	*len = *size = in->vol_len;
	if (v == 2 && in->vol_len) {
		size_t keep = (size_t)(rnd_var() % in->vol_len);

		if (cap < in->vol_len) {
			cap = in->vol_len;
			tmp = realloc(tmp, cap);
			if (!tmp)
				die("out of memory");
		}
		memcpy(tmp, in->vol, keep);
		memset(tmp + keep, 0, in->vol_len - keep);
		*buf = tmp;
	}
}

static int variant_of(const struct fs_choice *ch, const struct inode *in)
{
	for (size_t i = 0; i < nuns; i++)
		if (uns[i] == in)
			return ch->filevar ? ch->filevar[i] : 0;
	return 0;
}

/* Make C hold the crash state of the file system chosen by @p ch. */
void fs_build_check_dir(const struct fs_choice *ch)
{
	static struct nspace want;
	int dfd = cdir_fd();
	char spath[600];

	meta_sync_file();
	ns_copy(&want, &dur_ns);
	for (size_t i = 0; i < ndirops; i++) {
		bool in = fs_order == 1 ? i < ch->nops :
					  (i < 64 && (ch->opmask >> i) & 1);

		if (in)
			op_apply(&want, &dirops[i]);
	}
	/* names C has that the state has not, or not as they are */
	for (size_t i = 0; i < ncns;) {
		struct dent *w = ns_find(&want, cns[i].name);
		struct inode *in = w ? inodes[w->ino] : NULL;
		bool keep = w && cns[i].kind == C_LINK &&
			    cns[i].ino == w->ino && in->kind != IK_REG &&
			    (in->kind == IK_META ||
			     (in->kind == IK_SEG &&
			      (in->size_durable || variant_of(ch, in) == 1)));

		if (keep) {
			i++;
			continue;
		}
		unlinkat(dfd, cns[i].name, 0);
		cns[i] = cns[--ncns];
	}
	for (size_t i = 0; i < want.n; i++) {
		struct inode *in = inodes[want.e[i].ino];
		const char *name = want.e[i].name;
		struct centry *c;

		if (cns_find(name))
			continue;
		c = cns_add(name);
		c->ino = in->id;
		if (in->kind == IK_META ||
		    (in->kind == IK_SEG &&
		     (in->size_durable || variant_of(ch, in) == 1))) {
			if (in->kind == IK_META)
				snprintf(spath, sizeof(spath), "%s/meta", sdir);
			else
				store_path(in->id, spath, sizeof(spath));
			c->kind = C_LINK;
			if (linkat(AT_FDCWD, spath, dfd, name, 0) != 0)
				die("link %s -> %s/%s: %s", spath, cdir, name,
				    strerror(errno));
			c->st_ino = 0;
		} else if (in->kind == IK_REG) {
			const uint8_t *buf;
			size_t len, size;

			c->kind = C_FILE;
			c->variant = variant_of(ch, in);
			reg_variant(in, c->variant, &buf, &len, &size);
			write_file(dfd, name, buf, len, size);
		} else {
			/* a mapped file whose size may not have landed */
			c->kind = C_FILE;
			write_file(dfd, name, NULL, 0,
				   in->size_durable || variant_of(ch, in) == 1 ?
					   in->size :
					   0);
		}
	}
}

/* After the checker: C's names back to what the simulator made. */
void fs_restore_check_dir(void)
{
	int dfd = cdir_fd();
	DIR *d;
	struct dirent *de;

	d = fdopendir(dup(dfd));
	if (!d)
		die("%s: %s", cdir, strerror(errno));
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		struct centry *c;
		struct stat st;

		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		c = cns_find(de->d_name);
		if (c && c->kind == C_LINK &&
		    fstatat(dfd, de->d_name, &st, 0) == 0) {
			struct inode *in = inodes[c->ino];
			ino_t want = in->kind == IK_META ? meta_st_ino() :
							   in->st_ino;

			if (st.st_ino == want)
				continue;
		}
		unlinkat(dfd, de->d_name, 0);
		if (c)
			cns_del(de->d_name);
	}
	closedir(d);
	/* names the checker removed */
	for (size_t i = 0; i < ncns;) {
		struct stat st;

		if (fstatat(dfd, cns[i].name, &st, 0) != 0)
			cns[i] = cns[--ncns];
		else
			i++;
	}
}

/* Start C afresh (a new phase). */
void fs_clear_check_dir(void)
{
	if (c_fd >= 0)
		__real_close(c_fd);
	c_fd = -1;
	rm_dir(cdir);
	if (mkdir(cdir, 0755) != 0)
		die("mkdir %s: %s", cdir, strerror(errno));
	ncns = 0;
}

/* Copy C as it is now (a crash state) to @p to. */
void fs_save_dir(const char *to)
{
	DIR *d = opendir(cdir);
	struct dirent *de;
	char from[600], dst[600];

	rm_dir(to);
	if (mkdir(to, 0755) != 0)
		die("mkdir %s: %s", to, strerror(errno));
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		snprintf(from, sizeof(from), "%s/%s", cdir, de->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, de->d_name);
		copy_file(from, dst);
	}
	if (d)
		closedir(d);
}
