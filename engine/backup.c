// SPDX-License-Identifier: MIT
/*
 * backup.c -- daxkv_backup(): a hot copy of a database as of one snapshot.
 *
 * What the copy is.  A snapshot s fixes a sequence and, for every segment
 * a reader at s may need, the tail captured after s (snapshot.c); while it
 * is held no listed segment is removed (compaction retires by epoch) and
 * below those tails records are complete, durable and immutable but for
 * their `superseded` word.  Within a segment records are in seq order, so
 * the records a reader at s can see are a prefix of each listed segment:
 * up to the first record whose seq is above s (the cut).  The copy holds,
 * for each listed segment, its header and that prefix, sealed at the cut,
 * under the same slot, generation and uuid; a fresh meta pool lists
 * exactly those slots.  Its superseded words are rewritten for s: a mark
 * of a commit <= s stays (it never changes once s is complete); a mark of
 * a later commit, which does not exist in the copy, becomes 0 (the record
 * is the newest at s), and so does a 0.  The version rule then holds in
 * the copy for every snapshot it can be given, which is exactly what
 * recovery of the copy would establish, so the copy needs no repair.  It
 * has no checkpoint: its first open rebuilds the index by scanning.
 *
 * With DAXKV_BACKUP_COMPACT the copy instead holds only the records a scan
 * at s returns, in key order, each with seq s (a segment's records must be
 * in seq order, and key order is not), packed into as few segments as
 * they fill.
 *
 * A superseded word can be written by a writer while it is copied, so it
 * is read again after the bulk copy, with one atomic 8-byte load, and
 * fixed in the copy where the snapshot sees it differently
 * (dk_backup_segment).  Writers and compaction go on meanwhile; the backup
 * holds no engine lock but, briefly, seg_lock to read the segment table.
 *
 * Never a valid partial database.  The destination must be empty.  The
 * first file made there is DK_BACKUP_MARKER (layout.h), durable with its
 * directory entry before anything else is written; open and check refuse
 * a directory holding it.  Then, each durable before the next step: the
 * segment files (written, fdatasync'd), the lock file, the directory
 * fsync'd; the meta pool, built under a temporary name and renamed into
 * place, the directory fsync'd; and last the marker is removed and the
 * directory fsync'd.  A crash anywhere before that last fsync leaves the
 * marker, or leaves a complete copy; an error removes what was written,
 * the marker last.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "errors.h"
#include "internal.h"
#include "meta.h"
#include "record.h"
#include "snapshot.h"

#define DK_BACKUP_CHUNK (8u << 20) /* compacting: bytes per write (> a
					 * largest record) */

_Static_assert(DK_BACKUP_CHUNK >= DK_SEG_HDR_SIZE + DAXKV_MAX_KEY +
					  DAXKV_MAX_VALUE + DK_REC_HDR_SIZE +
					  DK_REC_ALIGN,
	       "a chunk holds the header and any one record");

struct dk_backup {
	struct daxkv *db;
	const char *dir;
	int dirfd;
	uint64_t snap;           /* the sequence copied */
	uint8_t *buf;            /* compacting: DK_BACKUP_CHUNK bytes */
	struct dk_meta_root *image; /* the copy's meta pool root */
	bool made_dir;           /* dir was created here */
	/* compacting: the segment being filled */
	int fd;
	uint32_t slot;
	uint64_t off;            /* next record's offset in the segment */
	uint64_t buf_off;        /* segment offset of buf[0] */
	size_t used;             /* bytes in buf */
	int rc;                  /* first error of the scan callback */
};

static int dk_write_at(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int dk_backup_fail(struct dk_backup *bk, int err, const char *what,
			  const char *name)
{
	return dk_err_errno(dk_errno_code(err) == DAXKV_ENODB ? DAXKV_EIO :
							      dk_errno_code(err),
			    err, "backup to %s: %s %s", bk->dir, what, name);
}

/* The destination: created, or an empty directory; not the source. */
static int dk_backup_open_dir(struct dk_backup *bk)
{
	struct stat st, src;
	struct dirent *de;
	DIR *d;

	if (mkdir(bk->dir, 0755) == 0) {
		bk->made_dir = true;
	} else if (errno != EEXIST) {
		return dk_err_errno(dk_errno_code(errno) == DAXKV_ENODB ?
					    DAXKV_EINVAL :
					    dk_errno_code(errno),
				    errno, "backup to %s: cannot create it",
				    bk->dir);
	}
	bk->dirfd = open(bk->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bk->dirfd < 0)
		return dk_err_errno(errno == ENOTDIR ? DAXKV_EINVAL :
						       dk_errno_code(errno),
				    errno, "backup to %s", bk->dir);
	if (fstat(bk->dirfd, &st) == 0 && fstat(bk->db->dirfd, &src) == 0 &&
	    st.st_dev == src.st_dev && st.st_ino == src.st_ino)
		return dk_err(DAXKV_EINVAL, "backup to %s: that is the "
			      "database itself", bk->dir);
	if (bk->made_dir)
		return 0;
	d = opendir(bk->dir);
	if (!d)
		return dk_err_errno(dk_errno_code(errno), errno, "backup to %s",
				    bk->dir);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			int rc = dk_err(DAXKV_EINVAL,
					"backup to %s: the directory is not "
					"empty (%s)",
					bk->dir, de->d_name);

			closedir(d);
			return rc;
		}
	}
	closedir(d);
	return 0;
}

/* fsync the directory holding @p dir (its new entry). */
static int dk_backup_sync_parent(const char *dir)
{
	char *copy = strdup(dir);
	int fd, rc = 0;

	if (!copy)
		return ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

/* Create @p name in the destination with @p len bytes of @p data, durable
 * with its directory entry. */
static int dk_backup_small_file(struct dk_backup *bk, const char *name,
				const void *data, size_t len)
{
	int fd, err = 0;

	fd = openat(bk->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
	if (fd < 0)
		return dk_backup_fail(bk, errno, "cannot create", name);
	if (len)
		err = dk_write_at(fd, data, len, 0);
	if (!err && fsync(fd) != 0)
		err = errno;
	close(fd);
	if (!err && fsync(bk->dirfd) != 0)
		err = errno;
	return err ? dk_backup_fail(bk, err, "cannot write", name) : 0;
}

/* A new segment file of the copy. */
static int dk_backup_seg_create(struct dk_backup *bk, uint32_t slot, int *fdp)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "seg-%08u.dat", slot);
	fd = openat(bk->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
	if (fd < 0)
		return dk_backup_fail(bk, errno, "cannot create", name);
	*fdp = fd;
	return 0;
}

/*
 * A segment file written: allocated whole, as the engine allocates its own
 * (a later append into it then never meets a hole: no SIGBUS on ENOSPC;
 * what was written is allocated already, so this costs the rest only),
 * made durable, closed.
 */
static int dk_backup_seg_finish(struct dk_backup *bk, int fd, uint32_t slot,
				uint64_t size)
{
	char name[32];
	int err = posix_fallocate(fd, 0, (off_t)size);

	if (!err && fdatasync(fd) != 0)
		err = errno;
	close(fd);
	snprintf(name, sizeof(name), "seg-%08u.dat", slot);
	return err ? dk_backup_fail(bk, err, "cannot allocate or sync",
				    name) :
		     0;
}

/* Zero [off, end) of the file (what lies past the cut). */
static int dk_backup_zero(int fd, uint64_t off, uint64_t end)
{
	static const uint8_t zeros[65536];

	while (off < end) {
		uint64_t n = end - off < sizeof(zeros) ? end - off :
							 sizeof(zeros);
		int err = dk_write_at(fd, zeros, n, off);

		if (err)
			return err;
		off += n;
	}
	return 0;
}

/*
 * Copy segment @p seg as of the snapshot: its header, sealed at the cut,
 * and its records up to the cut.  The bytes below the captured tail @p
 * tail go to the file in one stretch, straight from the mapping; then one
 * walk over their headers finds the cut and fixes what the snapshot sees
 * differently.  A superseded word only ever goes from 0 to the sequence
 * of the commit that replaced its record, so one read after the copy
 * decides: 0 then was 0 in the copy too; a commit <= the snapshot's had
 * marked it before the snapshot was taken, and the copy has that value;
 * a later commit's mark may or may not be in the copy, and is set to 0
 * there.  Past the cut the file is zeros.  *copied says whether anything
 * was kept (a segment whose every record is newer than the snapshot is
 * left out).
 */
static int dk_backup_segment(struct dk_backup *bk, struct dk_segment *seg,
			     uint64_t tail, bool *copied)
{
	const uint64_t mark_at = offsetof(struct dk_rec, superseded);
	const uint64_t sealed_at = offsetof(struct dk_seg_header, sealed_tail);
	uint64_t off = DK_SEG_HDR_SIZE, zero = 0;
	char name[32];
	int fd = -1, rc, err;

	*copied = false;
	snprintf(name, sizeof(name), "seg-%08u.dat", seg->slot);
	if (tail <= DK_SEG_HDR_SIZE ||
	    ((const struct dk_rec *)(seg->base + off))->seq > bk->snap)
		return 0; /* nothing this snapshot sees */
	rc = dk_backup_seg_create(bk, seg->slot, &fd);
	if (rc)
		return rc;
	/* all but the header's sealed tail, which a writer may be storing
	 * (the copy gets its own below) */
	err = dk_write_at(fd, seg->base, sealed_at, 0);
	if (!err)
		err = dk_write_at(fd, seg->base + sealed_at + 8,
				  tail - sealed_at - 8, sealed_at + 8);
	if (err)
		goto fail_io;
	while (off < tail) {
		const struct dk_rec *rec =
			(const struct dk_rec *)(seg->base + off);
		uint64_t size = dk_rec_size(rec->klen, rec->vlen), mark;

		if (rec->seq > bk->snap)
			break; /* the cut: seq order in a segment */
		if (rec->klen == 0 || off + size > tail) {
			rc = dk_err(DAXKV_ECORRUPT,
				    "%s/%s offset %llu: bad record below its "
				    "tail %llu",
				    bk->db->dir, name, (unsigned long long)off,
				    (unsigned long long)tail);
			goto out_close;
		}
		mark = __atomic_load_n(&rec->superseded, __ATOMIC_ACQUIRE);
		if (mark > bk->snap) {
			err = dk_write_at(fd, &zero, sizeof(zero),
					  off + mark_at);
			if (err)
				goto fail_io;
		}
		off += size;
	}
	/* the records after the cut, and the sealed tail at the cut:
	 * recovery of the copy checks that the log ends exactly there */
	err = dk_backup_zero(fd, off, tail);
	if (!err)
		err = dk_write_at(fd, &off, sizeof(off), sealed_at);
	if (err)
		goto fail_io;
	/* format 2: the segment's own size, which its header says */
	rc = dk_backup_seg_finish(bk, fd, seg->slot, seg->size);
	if (rc)
		return rc;
	*copied = true;
	return 0;
fail_io:
	rc = dk_backup_fail(bk, err, "cannot write", name);
out_close:
	close(fd);
	return rc;
}

/* The copy's meta table entry of @p slot: LIVE with @p gen. */
static void dk_backup_live(struct dk_backup *bk, uint32_t slot, uint32_t gen)
{
	bk->image->segs[slot].state = DK_SEG_LIVE;
	bk->image->segs[slot].gen = gen;
}

static int dk_backup_plain(struct dk_backup *bk,
			   const struct daxkv_snapshot *snap)
{
	for (uint32_t i = 0; i < snap->ntails; i++) {
		struct dk_segment *seg = snap->tails[i].seg;
		bool copied;
		int rc = dk_backup_segment(bk, seg, snap->tails[i].tail,
					   &copied);

		if (rc)
			return rc;
		if (copied)
			dk_backup_live(bk, seg->slot, seg->gen);
	}
	return 0;
}

/* ---- DAXKV_BACKUP_COMPACT ---- */

static int dk_backup_flush(struct dk_backup *bk)
{
	int err;

	if (!bk->used)
		return 0;
	err = dk_write_at(bk->fd, bk->buf, bk->used, bk->buf_off);
	if (err)
		return dk_backup_fail(bk, err, "cannot write a", "segment");
	bk->buf_off += bk->used;
	bk->used = 0;
	return 0;
}

/* Close the segment being filled: header with its sealed tail, sync. */
static int dk_backup_compact_close(struct dk_backup *bk)
{
	struct dk_seg_header hdr;
	int rc, err;

	if (bk->fd < 0)
		return 0;
	rc = dk_backup_flush(bk);
	if (rc)
		return rc;
	memset(&hdr, 0, sizeof(hdr));
	memcpy(hdr.magic, DK_SEG_MAGIC, sizeof(hdr.magic));
	/* the copy's meta pool keeps the source's format (dk_backup_image);
	 * segment_size is a segment's size in either */
	hdr.format_version = bk->db->format_version;
	hdr.header_size = DK_SEG_HDR_SIZE;
	memcpy(hdr.uuid, bk->db->meta->uuid, sizeof(hdr.uuid));
	hdr.slot = bk->slot;
	hdr.gen = 1;
	hdr.size = bk->db->segment_size;
	hdr.crc = dk_crc32c(0, &hdr, offsetof(struct dk_seg_header, crc));
	hdr.sealed_tail = bk->off;
	err = dk_write_at(bk->fd, &hdr, sizeof(hdr), 0);
	if (err) {
		close(bk->fd);
		bk->fd = -1;
		return dk_backup_fail(bk, err, "cannot write a", "segment");
	}
	rc = dk_backup_seg_finish(bk, bk->fd, bk->slot, bk->db->segment_size);
	bk->fd = -1;
	if (rc)
		return rc;
	dk_backup_live(bk, bk->slot, 1);
	bk->slot++;
	return 0;
}

static int dk_backup_compact_rec(const void *key, size_t klen, const void *val,
				 size_t vlen, void *arg)
{
	struct dk_backup *bk = arg;
	uint64_t size = dk_rec_size(klen, vlen);
	struct dk_rec *rec;
	int rc;

	if (bk->fd >= 0 && bk->off + size > bk->db->segment_size) {
		rc = dk_backup_compact_close(bk);
		if (rc)
			goto fail;
	}
	if (bk->fd < 0) {
		if (bk->slot >= DK_MAX_SEGMENTS) {
			rc = dk_err(DAXKV_ENOSPC, "backup to %s: more than %u "
				    "segments", bk->dir, DK_MAX_SEGMENTS);
			goto fail;
		}
		rc = dk_backup_seg_create(bk, bk->slot, &bk->fd);
		if (rc)
			goto fail;
		bk->off = bk->buf_off = DK_SEG_HDR_SIZE;
	}
	if (bk->used + size > DK_BACKUP_CHUNK) {
		rc = dk_backup_flush(bk);
		if (rc)
			goto fail;
	}
	rec = (struct dk_rec *)(bk->buf + bk->used);
	memset(rec, 0, (size_t)size);
	rec->klen = (uint16_t)klen;
	rec->flags = DK_REC_PUT;
	rec->vlen = (uint32_t)vlen;
	rec->batch = 1;
	rec->seq = bk->snap;
	memcpy(rec + 1, key, klen);
	if (vlen)
		memcpy((uint8_t *)(rec + 1) + klen, val, vlen);
	rec->crc = dk_rec_crc(rec, dk_rec_key(rec), dk_rec_val(rec));
	bk->used += size;
	bk->off += size;
	return 0;
fail:
	bk->rc = rc;
	return 1; /* stops the scan */
}

static int dk_backup_compact(struct dk_backup *bk,
			     const struct daxkv_snapshot *snap)
{
	int rc;

	bk->fd = -1;
	rc = daxkv_scan_at(bk->db, snap, NULL, 0, NULL, 0,
			   dk_backup_compact_rec, bk);
	if (rc == 1 && bk->rc)
		rc = bk->rc;
	if (!rc)
		rc = dk_backup_compact_close(bk);
	if (bk->fd >= 0)
		close(bk->fd);
	return rc;
}

/* ---- The whole backup ---- */

/* The copy's meta pool root: the source's identity and options, the
 * table of the slots copied (set as they are), no checkpoint. */
static int dk_backup_image(struct dk_backup *bk, bool compact)
{
	const struct dk_meta_root *src = bk->db->meta;
	struct dk_meta_root *root = calloc(1, sizeof(*root));

	if (!root)
		return dk_err(DAXKV_ENOMEM, "no memory for a backup");
	memcpy(root->magic, src->magic, sizeof(root->magic));
	root->format_version = src->format_version;
	root->flags = src->flags;
	memcpy(root->uuid, src->uuid, sizeof(root->uuid));
	root->segment_size = src->segment_size;
	root->max_size = src->max_size;
	if (!compact) {
		/* FREE slots keep their generations, as in the source */
		pthread_mutex_lock(&bk->db->seg_lock);
		for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
			root->segs[slot].gen = src->segs[slot].gen;
		pthread_mutex_unlock(&bk->db->seg_lock);
	}
	bk->image = root;
	return 0;
}

/* After a failure: remove what this backup made, the marker last. */
static void dk_backup_undo(struct dk_backup *bk)
{
	DIR *d;
	struct dirent *de;

	if (bk->dirfd < 0)
		return;
	d = opendir(bk->dir);
	if (d) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
			    strcmp(de->d_name, DK_BACKUP_MARKER))
				unlinkat(bk->dirfd, de->d_name, 0);
		closedir(d);
	}
	(void)fsync(bk->dirfd);
	unlinkat(bk->dirfd, DK_BACKUP_MARKER, 0);
	if (bk->made_dir)
		rmdir(bk->dir);
}

int daxkv_backup_at(daxkv *db, const daxkv_snapshot *snap, const char *dir,
		    uint32_t flags)
{
	struct dk_backup bk = { .db = db, .dir = dir, .dirfd = -1, .fd = -1 };
	struct daxkv_snapshot *own = NULL;
	char path[4096], note[4200];
	bool compact = flags & DAXKV_BACKUP_COMPACT;
	int rc, err;

	dk_err_clear();
	if (!db || !dir || !*dir)
		return dk_err(DAXKV_EINVAL, "%s is NULL or empty",
			      !db ? "db" : "dir");
	if (strlen(dir) > DK_MAX_DIR_LEN)
		return dk_err(DAXKV_EINVAL, "directory name longer than %u",
			      DK_MAX_DIR_LEN);
	if (flags & ~DAXKV_BACKUP_COMPACT)
		return dk_err(DAXKV_EINVAL, "unknown backup flags 0x%x",
			      flags & ~DAXKV_BACKUP_COMPACT);
	if (snap && snap->db != db)
		return dk_err(DAXKV_EINVAL, "snapshot of another handle");
	bk.buf = compact ? malloc(DK_BACKUP_CHUNK) : NULL;
	if (compact && !bk.buf)
		return dk_err(DAXKV_ENOMEM, "no memory for a backup");
	rc = dk_backup_open_dir(&bk);
	if (rc)
		goto out;
	/* 1. the marker, durable before anything else is there */
	snprintf(note, sizeof(note),
		 "an unfinished daxkv backup of %s: not a database\n", db->dir);
	rc = dk_backup_small_file(&bk, DK_BACKUP_MARKER, note, strlen(note));
	if (!rc && bk.made_dir && (err = dk_backup_sync_parent(dir)) != 0)
		rc = dk_backup_fail(&bk, err, "cannot sync the parent of",
				    dir);
	if (rc)
		goto out_undo;
	if (!snap) {
		rc = dk_snapshot_take(db, &own);
		if (rc)
			goto out_undo;
		snap = own;
	}
	bk.snap = snap->seq;
	rc = dk_backup_image(&bk, compact);
	if (rc)
		goto out_undo;
	/* 2. segments, each written and synced */
	rc = compact ? dk_backup_compact(&bk, snap) : dk_backup_plain(&bk, snap);
	dk_snapshot_release(own);
	own = NULL;
	if (rc)
		goto out_undo;
	/* 3. the lock file (read-only opens need one); the names durable */
	rc = dk_backup_small_file(&bk, "lock", NULL, 0);
	if (rc)
		goto out_undo;
	/* 4. the meta pool, renamed into place; the directory synced */
	snprintf(path, sizeof(path), "%s/meta.pool", dir);
	rc = dk_meta_create_pool(path, bk.dirfd, bk.image);
	if (rc)
		goto out_undo;
	/* 5. complete: the marker goes, and that is made durable */
	if (unlinkat(bk.dirfd, DK_BACKUP_MARKER, 0) != 0 ||
	    fsync(bk.dirfd) != 0) {
		rc = dk_backup_fail(&bk, errno, "cannot remove",
				    DK_BACKUP_MARKER);
		goto out_undo;
	}
	rc = 0;
	goto out;
out_undo:
	dk_snapshot_release(own);
	{
		/* keep the first error's message over the undo's calls */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", daxkv_errmsg());
		dk_backup_undo(&bk);
		dk_err(rc, "%s", msg);
	}
out:
	if (bk.dirfd >= 0)
		close(bk.dirfd);
	free(bk.image);
	free(bk.buf);
	return rc;
}

int daxkv_backup(daxkv *db, const char *dir, uint32_t flags)
{
	return daxkv_backup_at(db, NULL, dir, flags);
}
