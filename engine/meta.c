// SPDX-License-Identifier: MIT
/*
 * meta.c -- the metadata pool (libpmemobj, layout "daxkv").
 *
 * The pool holds what changes rarely and must change atomically: format
 * version, uuid, segment size, the segment table and the clean-shutdown
 * flag.  A new pool is built under a temporary name and renamed into
 * place once complete, so a crash during creation leaves either no
 * database or a whole one.  Later changes are single aligned 8-byte words
 * (a segment entry's state+gen, the clean flag, the checkpoint
 * generation): each is stored and persisted with pmemobj_persist, which
 * is failure atomic at that size, and no change spans two words.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "internal.h"
#include "meta.h"
#include "persist.h"

void dk_meta_set(struct daxkv *db, uint64_t *field, uint64_t val)
{
	__atomic_store_n(field, val, __ATOMIC_RELEASE);
	pmemobj_persist(db->pop, field, sizeof(*field));
#ifdef DAXKV_PERSIST_HOOKS
	dk_seam_meta_set(field, val);
#endif
}

static PMEMobjpool *dk_pool_create(const char *path)
{
	PMEMobjpool *pop = pmemobj_create(path, DK_POOL_LAYOUT,
					  DK_META_POOL_SIZE, 0644);

	if (!pop && errno != EEXIST && errno != ENOSPC && errno != EACCES) {
		/*
		 * Emulated NVDIMMs (QEMU) and some DAX file systems report no
		 * unsafe-shutdown count; PMDK then refuses to create a pool
		 * that would check it.  Such a device cannot report unsafe
		 * shutdowns anyway (and daxkv keeps its own count for the
		 * whole database: db.c, dk_open_sds), so create this one pool
		 * without the check.  libpmemobj has the setting only for the
		 * process; it is put back at once, so that pools the host
		 * program creates keep theirs (a pool another thread creates
		 * in these few microseconds is the one exception).
		 */
		int off = 0, prev = 1;

		(void)pmemobj_ctl_get(NULL, "sds.at_create", &prev);

		pmemobj_ctl_set(NULL, "sds.at_create", &off);
		unlink(path);
		pop = pmemobj_create(path, DK_POOL_LAYOUT, DK_META_POOL_SIZE,
				     0644);
		pmemobj_ctl_set(NULL, "sds.at_create", &prev);
	}
	return pop;
}

int dk_meta_create_pool(const char *path, int dirfd,
			const struct dk_meta_root *image)
{
	char tmp[4200];
	struct dk_meta_root *root;
	PMEMobjpool *pop;
	PMEMoid oid;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	pop = dk_pool_create(tmp);
	if (!pop) {
		int err = errno;

		return dk_err_errno(dk_errno_code(err) == DAXKV_ENODB ?
					    DAXKV_EIO :
					    dk_errno_code(err),
				    err, "%s: cannot create pool (%s)", tmp,
				    pmemobj_errormsg());
	}
	oid = pmemobj_root(pop, sizeof(struct dk_meta_root));
	if (OID_IS_NULL(oid)) {
		pmemobj_close(pop);
		unlink(tmp);
		return dk_err(DAXKV_ENOSPC, "%s: cannot allocate root: %s", tmp,
			      pmemobj_errormsg());
	}
	/* The pool is private until renamed: plain stores, one persist. */
	root = pmemobj_direct(oid);
	memcpy(root, image, sizeof(*root));
	pmemobj_persist(pop, root, sizeof(*root));
	pmemobj_close(pop);
	if (rename(tmp, path) != 0 || fsync(dirfd) != 0) {
		int err = errno;

		unlink(tmp);
		return dk_err_errno(DAXKV_EIO, err, "%s: cannot install pool",
				    path);
	}
	return 0;
}

int dk_meta_make(int dirfd, const char *path, const uint8_t *uuid,
		 uint64_t segment_size, uint64_t max_size,
		 const struct dk_seg_entry *table)
{
	struct dk_meta_root *root = calloc(1, sizeof(*root));
	int rc;

	if (!root)
		return dk_err(DAXKV_ENOMEM, "no memory for a meta pool");
	memcpy(root->magic, DK_META_MAGIC, sizeof(root->magic));
	root->format_version = DK_FORMAT_VERSION;
	memcpy(root->uuid, uuid, sizeof(root->uuid));
	root->segment_size = segment_size;
	root->max_size = max_size;
	if (table)
		memcpy(root->segs, table, sizeof(root->segs));
	rc = dk_meta_create_pool(path, dirfd, root);
	free(root);
	return rc;
}

static int dk_meta_build(struct daxkv *db, const char *path,
			 const uint8_t *uuid)
{
	struct dk_meta_root *root = calloc(1, sizeof(*root));
	int rc;

	if (!root)
		return dk_err(DAXKV_ENOMEM, "no memory for a meta pool");
	memcpy(root->magic, DK_META_MAGIC, sizeof(root->magic));
	root->format_version = DK_FORMAT_VERSION;
	memcpy(root->uuid, uuid, sizeof(root->uuid));
	root->segment_size = db->segment_size;
	root->max_size = db->max_size == DAXKV_MAX_SIZE_NONE ? 0 : db->max_size;
	rc = dk_meta_create_pool(path, db->dirfd, root);
	free(root);
	return rc;
}

/*
 * libpmemobj checks the pool header and the first 2 KiB of its pool
 * descriptor against checksums, but trusts the words after them: the root
 * object's offset and size, the conversion flags and the heap size.  A
 * damaged word there makes pmemobj_open leak the heap it sized from it or
 * fault (both found by fuzz_open), where daxkv must answer ECORRUPT.  So
 * before handing a pool to libpmemobj, read those words and check them
 * against the file.  Offsets below are libpmemobj's pool format 6 (PMDK
 * 1.6 to 1.12, the only format Debian 12 ships); a pool of another format
 * is left for pmemobj_open to judge.
 */
#define DK_POBJ_MAJOR 6u
#define DK_POBJ_HEAP_OFFSET 5136u   /* checksummed */
#define DK_POBJ_ROOT_OFFSET 6144u   /* the rest are not */
#define DK_POBJ_ROOT_SIZE 6160u
#define DK_POBJ_CONV_FLAGS 6168u
#define DK_POBJ_HEAP_SIZE 6176u

static uint64_t dk_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

int dk_meta_precheck(const char *path)
{
	uint8_t hdr[8192];
	uint64_t heap_off, heap_size, root_off, root_size, conv, size;
	struct stat st;
	uint32_t major;
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* pmemobj_open reports it */
	if (fstat(fd, &st) != 0) {
		close(fd);
		return 0;
	}
	got = pread(fd, hdr, sizeof(hdr), 0);
	close(fd);
	if (got != (ssize_t)sizeof(hdr) || memcmp(hdr, "PMEMOBJ", 8) != 0)
		return 0; /* too short or not a pool: pmemobj_open says so */
	memcpy(&major, hdr + 8, sizeof(major));
	if (major != DK_POBJ_MAJOR)
		return 0;
	size = (uint64_t)st.st_size;
	heap_off = dk_le64(hdr + DK_POBJ_HEAP_OFFSET);
	heap_size = dk_le64(hdr + DK_POBJ_HEAP_SIZE);
	root_off = dk_le64(hdr + DK_POBJ_ROOT_OFFSET);
	root_size = dk_le64(hdr + DK_POBJ_ROOT_SIZE);
	conv = dk_le64(hdr + DK_POBJ_CONV_FLAGS);
	/* a bad heap offset fails the descriptor checksum: pmemobj_open */
	if (heap_off < sizeof(hdr) || heap_off >= size)
		return 0;
	if (heap_size != size - heap_off)
		return dk_err(DAXKV_ECORRUPT,
			      "%s offset %u: heap size %llu, the file leaves "
			      "%llu",
			      path, DK_POBJ_HEAP_SIZE,
			      (unsigned long long)heap_size,
			      (unsigned long long)(size - heap_off));
	if (root_off == 0 ? root_size != 0 :
	    root_off < heap_off || root_off % 8 || root_off >= size ||
	    root_size > size - root_off)
		return dk_err(DAXKV_ECORRUPT,
			      "%s offset %u: root object at %llu of %llu "
			      "bytes lies outside the heap",
			      path, DK_POBJ_ROOT_OFFSET,
			      (unsigned long long)root_off,
			      (unsigned long long)root_size);
	if (conv & ~1ull) /* bit 0: the only flag PMDK's converter sets */
		return dk_err(DAXKV_ECORRUPT,
			      "%s offset %u: unknown conversion flags %#llx",
			      path, DK_POBJ_CONV_FLAGS,
			      (unsigned long long)conv);
	return 0;
}

/*
 * The root object read from the file, for opens that must not write:
 * pmemobj_open writes to the pool (its run id, lane recovery), so a
 * read-only open and a check without repair read the root object's bytes
 * where libpmemobj's pool descriptor says it is.  Those bytes are exactly
 * what pmemobj_open would show: the root is filled while the pool is
 * private (dk_meta_create_pool) and changed after that only by single
 * durable words, never in a transaction whose log could hold a newer
 * value.  What is checked, as pmemobj_open checks it: the pool's
 * signature and format, the checksums of its header and of the first
 * 2 KiB of its descriptor, the layout name; then the descriptor words
 * libpmemobj trusts (dk_meta_precheck) and the root's bounds.  The daxkv
 * fields of the root are the caller's to check.
 */
#define DK_POBJ_LAYOUT_OFFSET 4096u
#define DK_POBJ_LAYOUT_MAX 1024u
#define DK_POBJ_INCOMPAT 16u        /* pool header: incompat features */
#define DK_POBJ_CKSUM_2K 0x2u       /* ... only [0, 2048) checksummed */
#define DK_POBJ_HDR_CSUM 4088u      /* pool header checksum */
#define DK_POBJ_DSC_CSUM 6136u      /* descriptor [4096, 6144) checksum */

/*
 * libpmemobj's checksum (PMDK's util_checksum, a Fletcher64 over 32-bit
 * little-endian words) of [addr, addr + len): the checksum's own word and
 * every word from @p end on count as zero, but still count.
 */
static uint64_t dk_pobj_checksum(const uint8_t *addr, size_t len,
				 size_t csum_off, size_t end)
{
	uint32_t lo = 0, hi = 0;

	for (size_t off = 0; off < len; off += 4) {
		uint32_t word = 0;

		if ((off < csum_off || off >= csum_off + 8) && off < end)
			memcpy(&word, addr + off, sizeof(word));
		lo += word;
		hi += lo;
	}
	return (uint64_t)hi << 32 | lo;
}

/* The two checksums pmemobj_open verifies first: of the pool header and
 * of the first 2 KiB of the pool descriptor. */
static int dk_pobj_checksums(const char *path, const uint8_t *hdr)
{
	uint32_t incompat;
	size_t end;

	memcpy(&incompat, hdr + DK_POBJ_INCOMPAT, sizeof(incompat));
	end = incompat & DK_POBJ_CKSUM_2K ? 2048 : DK_POBJ_HDR_CSUM;
	if (dk_pobj_checksum(hdr, 4096, DK_POBJ_HDR_CSUM, end) !=
	    dk_le64(hdr + DK_POBJ_HDR_CSUM))
		return dk_err(DAXKV_ECORRUPT,
			      "%s offset 0: incorrect pool header checksum",
			      path);
	if (dk_pobj_checksum(hdr + 4096, 2048, DK_POBJ_DSC_CSUM - 4096,
			     2048) != dk_le64(hdr + DK_POBJ_DSC_CSUM))
		return dk_err(DAXKV_ECORRUPT,
			      "%s offset 4096: incorrect pool descriptor "
			      "checksum",
			      path);
	return 0;
}

int dk_meta_read_root(const char *path, struct dk_meta_root **rootp,
		      uint64_t *offp)
{
	uint8_t hdr[8192];
	struct dk_meta_root *root;
	uint64_t root_off, root_size;
	struct stat st;
	uint32_t major;
	ssize_t got;
	int fd, rc;

	*rootp = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dk_err_errno(dk_errno_code(errno), errno, "%s", path);
	if (fstat(fd, &st) != 0) {
		rc = dk_err_errno(DAXKV_EIO, errno, "%s", path);
		goto out_close;
	}
	got = pread(fd, hdr, sizeof(hdr), 0);
	if (got != (ssize_t)sizeof(hdr) || memcmp(hdr, "PMEMOBJ", 8) != 0) {
		rc = got < 0 ? dk_err_errno(DAXKV_EIO, errno, "%s", path) :
			       dk_err(DAXKV_ECORRUPT,
				      "%s offset 0: not a libpmemobj pool", path);
		goto out_close;
	}
	memcpy(&major, hdr + 8, sizeof(major));
	if (major != DK_POBJ_MAJOR) {
		rc = dk_err(DAXKV_EVERSION,
			    "%s offset 8: libpmemobj pool format %u; a read-only "
			    "open reads format %u",
			    path, major, DK_POBJ_MAJOR);
		goto out_close;
	}
	rc = dk_pobj_checksums(path, hdr);
	if (rc)
		goto out_close;
	if (strncmp((const char *)hdr + DK_POBJ_LAYOUT_OFFSET, DK_POOL_LAYOUT,
		    DK_POBJ_LAYOUT_MAX) != 0) {
		rc = dk_err(DAXKV_ECORRUPT,
			    "%s offset %u: pool layout is not \"%s\"", path,
			    DK_POBJ_LAYOUT_OFFSET, DK_POOL_LAYOUT);
		goto out_close;
	}
	rc = dk_meta_precheck(path);
	if (rc)
		goto out_close;
	root_off = dk_le64(hdr + DK_POBJ_ROOT_OFFSET);
	root_size = dk_le64(hdr + DK_POBJ_ROOT_SIZE);
	if (root_off == 0 || root_size < sizeof(*root) ||
	    root_off > (uint64_t)st.st_size ||
	    (uint64_t)st.st_size - root_off < sizeof(*root)) {
		rc = dk_err(DAXKV_ECORRUPT,
			    "%s offset %u: root object at %llu of %llu bytes, "
			    "expected %zu bytes inside the file",
			    path, DK_POBJ_ROOT_OFFSET,
			    (unsigned long long)root_off,
			    (unsigned long long)root_size, sizeof(*root));
		goto out_close;
	}
	root = malloc(sizeof(*root));
	if (!root) {
		rc = dk_err(DAXKV_ENOMEM, "no memory for %s", path);
		goto out_close;
	}
	got = pread(fd, root, sizeof(*root), (off_t)root_off);
	if (got != (ssize_t)sizeof(*root)) {
		rc = dk_err_errno(DAXKV_EIO, got < 0 ? errno : EIO,
				  "%s: reading the root object", path);
		free(root);
		goto out_close;
	}
	*rootp = root;
	if (offp)
		*offp = root_off;
	rc = 0;
out_close:
	close(fd);
	return rc;
}

int dk_meta_read(struct daxkv *db)
{
	char path[4096];
	struct dk_meta_root *root;
	int rc;

	snprintf(path, sizeof(path), "%s/meta.pool", db->dir);
	rc = dk_meta_read_root(path, &root, NULL);
	if (rc)
		return rc;
	if (memcmp(root->magic, DK_META_MAGIC, sizeof(root->magic)) != 0) {
		rc = dk_err(DAXKV_ECORRUPT, "%s: root object has no daxkv magic",
			    path);
	} else if (root->format_version < DK_FORMAT_VERSION_MIN ||
		   root->format_version > DK_FORMAT_VERSION) {
		rc = dk_err(DAXKV_EVERSION,
			    "%s: format version %u, this library reads %u to %u",
			    path, root->format_version, DK_FORMAT_VERSION_MIN,
			    DK_FORMAT_VERSION);
	} else if (root->segment_size < DK_SEG_MIN ||
		   root->segment_size > DK_SEG_MAX ||
		   root->segment_size % DK_SEG_ALIGN) {
		rc = dk_err(DAXKV_ECORRUPT, "%s offset 32: bad segment size %llu",
			    path, (unsigned long long)root->segment_size);
	}
	if (rc) {
		free(root);
		return rc;
	}
	db->meta = root;
	db->format_version = root->format_version;
	db->segment_size = root->segment_size;
	db->max_size = root->max_size;
	return 0;
}

int dk_meta_open(struct daxkv *db, bool create, bool exclusive,
		 const uint8_t *fresh_uuid)
{
	char path[4096];
	struct dk_meta_root *root;
	int rc;

	snprintf(path, sizeof(path), "%s/meta.pool", db->dir);
	if (access(path, F_OK) != 0) {
		if (errno != ENOENT)
			return dk_err_errno(dk_errno_code(errno), errno, "%s",
					    path);
		if (!create)
			return dk_err(DAXKV_ENODB,
				      "%s: no daxkv database (meta.pool is "
				      "missing)",
				      db->dir);
		rc = dk_meta_build(db, path, fresh_uuid);
		if (rc)
			return rc;
	} else if (exclusive) {
		return dk_err(DAXKV_EINVAL,
			      "%s: a database exists (exclusive create)",
			      db->dir);
	}

	rc = dk_meta_precheck(path);
	if (rc)
		return rc;
	db->pop = pmemobj_open(path, DK_POOL_LAYOUT);
	if (!db->pop) {
		int err = errno;

		if (err == EACCES || err == EPERM)
			return dk_err_errno(DAXKV_EPERM, err, "%s", path);
		/* a failing system is not a damaged database */
		if (err == ENOMEM)
			return dk_err(DAXKV_ENOMEM, "%s: %s", path,
				      pmemobj_errormsg());
		if (err == EIO || err == EMFILE || err == ENFILE)
			return dk_err(DAXKV_EIO, "%s: %s", path,
				      pmemobj_errormsg());
		if (err == ENOSPC || err == EDQUOT)
			return dk_err(DAXKV_ENOSPC, "%s: %s", path,
				      pmemobj_errormsg());
		return dk_err(DAXKV_ECORRUPT, "%s offset 0: not a valid pool: %s",
			      path, pmemobj_errormsg());
	}
	if (pmemobj_root_size(db->pop) < sizeof(struct dk_meta_root)) {
		rc = dk_err(DAXKV_ECORRUPT, "%s: root object of %zu bytes",
			    path, pmemobj_root_size(db->pop));
		goto err_close;
	}
	root = pmemobj_direct(pmemobj_root(db->pop, sizeof(*root)));
	/* a damaged pool can hold any root offset (found by fuzz_open) */
	if ((uintptr_t)root % 8 || (uint8_t *)root < (uint8_t *)db->pop ||
	    (uint8_t *)(root + 1) > (uint8_t *)db->pop + DK_META_POOL_SIZE ||
	    memcmp(root->magic, DK_META_MAGIC, sizeof(root->magic)) != 0) {
		rc = dk_err(DAXKV_ECORRUPT,
			    "%s offset %llu: root object has no daxkv magic",
			    path, (unsigned long long)((uint8_t *)root -
						       (uint8_t *)db->pop));
		goto err_close;
	}
	if (root->format_version < DK_FORMAT_VERSION_MIN ||
	    root->format_version > DK_FORMAT_VERSION) {
		rc = dk_err(DAXKV_EVERSION,
			    "%s offset %llu: format version %u, this library "
			    "reads %u to %u",
			    path, (unsigned long long)((uint8_t *)root -
						       (uint8_t *)db->pop + 8),
			    root->format_version, DK_FORMAT_VERSION_MIN,
			    DK_FORMAT_VERSION);
		goto err_close;
	}
	/* the root's words in range (a flipped bit must not steer open) */
	if (root->flags != 0 || root->clean > 1) {
		rc = dk_err(DAXKV_ECORRUPT,
			    "%s offset %llu: root %s %llu out of range",
			    path, (unsigned long long)((uint8_t *)root -
						       (uint8_t *)db->pop +
						       (root->flags ? 12 : 48)),
			    root->flags ? "flags" : "clean flag",
			    (unsigned long long)(root->flags ? root->flags :
							       root->clean));
		goto err_close;
	}
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++) {
		if (root->segs[slot].state <= DK_SEG_RETIRED)
			continue;
		rc = dk_err(DAXKV_ECORRUPT,
			    "%s offset %llu: segment slot %u has unknown "
			    "state %u",
			    path, (unsigned long long)((uint8_t *)&root->segs[slot] -
						       (uint8_t *)db->pop),
			    slot, root->segs[slot].state);
		goto err_close;
	}
	if (root->segment_size < DK_SEG_MIN || root->segment_size > DK_SEG_MAX ||
	    root->segment_size % DK_SEG_ALIGN) {
		rc = dk_err(DAXKV_ECORRUPT, "%s offset %llu: bad segment size "
			    "%llu",
			    path, (unsigned long long)((uint8_t *)root -
						       (uint8_t *)db->pop + 32),
			    (unsigned long long)root->segment_size);
		goto err_close;
	}
	db->meta = root;
	db->format_version = root->format_version;
	db->segment_size = root->segment_size;
	/* 0: keep what is stored; NONE: no cap; else the new cap */
	if (db->max_size == 0)
		db->max_size = root->max_size;
	else if (db->max_size == DAXKV_MAX_SIZE_NONE)
		db->max_size = 0;
	if (root->max_size != db->max_size)
		dk_meta_set(db, &root->max_size, db->max_size);
	dk_meta_set(db, &root->open_count, root->open_count + 1);
	return 0;

err_close:
	pmemobj_close(db->pop);
	db->pop = NULL;
	return rc;
}

void dk_meta_close(struct daxkv *db)
{
	if (db->pop)
		pmemobj_close(db->pop);
	else
		free(db->meta); /* a read-only open's copy, or NULL */
	db->pop = NULL;
	db->meta = NULL;
}
