// SPDX-License-Identifier: MIT
/*
 * segment.c -- data segment files: create, map, validate, seal, reuse.
 *
 * A segment is created in this order, each step durable before the next:
 *   1. the file is created, allocated (posix_fallocate inside
 *      pmem_map_file) and mapped; its header is written and persisted;
 *   2. the directory is fsynced, so that the name survives;
 *   3. the meta table entry of its slot becomes LIVE with the new gen.
 * A crash before 3 leaves a file whose slot is FREE and whose own bytes
 * say so: a header for the slot's next generation (or parts of one, or
 * nothing) and zeros; open removes it (dk_segment_file_fate).  A crash
 * after 3 leaves a valid, empty segment.  Records are appended only
 * after 3.  A compaction's destination is created with the seal word
 * DK_SEAL_FILLING in that header (layout.h).
 *
 * A segment is removed (compaction's retirement, or a round that failed)
 * in this order: its seal word becomes DK_SEAL_RETIRED (persisted), the
 * slot FREE (durable), the file unlinked, the directory fsynced.  Its own
 * header then proves it dead at every step, so open finishes a removal a
 * crash interrupted, and removes nothing else: a file that the table
 * calls FREE but whose header says it is a live segment (a damaged or
 * older meta.pool) is kept and the open refused.
 *
 * File-system operations that later steps rely on, each durable first:
 *   create: file allocated (posix_fallocate inside pmem_map_file; its
 *           size and blocks become durable with the header's MAP_SYNC
 *           fault or msync) -> header persisted -> fsync(dir) -> LIVE;
 *   remove: RETIRED persisted -> FREE -> unlink -> fsync(dir) (nothing
 *           relies on the unlink: a file left behind proves itself dead).
 *
 * Steps 1 and 2 are slow (allocation, a fault per page, an fsync) and
 * are made ahead of need by a background thread (spare.c): such a spare
 * waits between 2 and 3 for as long as no lane needs it, so a crash
 * finds it as step 1 and 2 left it: a complete header for the slot's
 * next generation and zeros, which open removes as above.  A retired
 * segment's file renewed into a spare (dk_segment_free_keep, then
 * dk_segment_renew) is RETIRED by its header until the renewal writes
 * the next generation's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "errors.h"
#include "events.h"
#include "internal.h"
#include "meta.h"
#include "persist.h"
#include "record.h"
#include "segment.h"

void dk_segment_path(const struct daxkv *db, uint32_t slot, char *buf,
		     size_t len)
{
	snprintf(buf, len, "%s/seg-%08u.dat", db->dir, slot);
}

const struct dk_seg_header *dk_segment_header(const struct dk_segment *seg)
{
	return (const struct dk_seg_header *)seg->base;
}

bool dk_segment_size_ok(const struct daxkv *db, uint64_t size)
{
	if (db->format_version < 2)
		return size == db->segment_size;
	return size >= DK_SEG_MIN && size <= db->segment_size &&
	       size % DK_SEG_ALIGN == 0;
}

/*
 * The size of the next segment.  Format 1: segment_size.  Format 2:
 * about 1/64 of the live bytes, a power of two times 2 MiB, from 2 MiB up
 * to segment_size (and to 1/32 of max_size).  Bytes on media hold a few
 * segments besides dead records, whatever the size of the database (each
 * lane's open segment, spares, a compaction's destinations before its
 * victims go), so segments small against the data keep that small; and
 * a database that grows gets bigger ones, so that 16384 slots still
 * reach segment_size x 16384.
 */
uint64_t dk_segment_size_next(const struct daxkv *db)
{
	int64_t live = (int64_t)db->live_bytes;
	uint64_t want, size = DK_SEG_MIN;

	if (db->format_version < 2)
		return db->segment_size;
	for (uint32_t i = 0; i < DK_MAX_LANES; i++)
		live += __atomic_load_n(&db->lanes[i].dlive, __ATOMIC_RELAXED);
	want = live > 0 ? (uint64_t)live / 64 : 0;
	if (db->max_size && want > db->max_size / 32)
		want = db->max_size / 32;
	while (size * 2 <= want && size * 2 <= db->segment_size)
		size *= 2;
	return size < db->segment_size ? size : db->segment_size;
}

static uint32_t dk_seg_header_crc(const struct dk_seg_header *hdr)
{
	return dk_crc32c(0, hdr, offsetof(struct dk_seg_header, crc));
}

/*
 * A read-only open maps segments PROT_READ from a read-only descriptor, so
 * that nothing can change them and a read-only file system will do.  It
 * asks for MAP_SYNC first, as a writer's pmem_map_file does: the kernel
 * grants it only on DAX (EOPNOTSUPP elsewhere, EINVAL before Linux 4.15)
 * and it changes nothing for read faults, so *is_pmemp says what media the
 * segment is on as libpmem would for a writer (PMEM_IS_PMEM_FORCE=1
 * included), though nothing is ever flushed through this mapping.  NULL
 * with errno set on a system error; NULL with errno 0 and the message set
 * when the file has the wrong size.
 */
static void *dk_segment_map_rdonly(struct daxkv *db, const char *path,
				   size_t *lenp, int *is_pmemp)
{
	struct stat st;
	void *addr;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		err = errno;
		close(fd);
		errno = err;
		return NULL;
	}
	if (!dk_segment_size_ok(db, (uint64_t)st.st_size)) {
		close(fd);
		dk_err(DAXKV_ECORRUPT, "%s: size %llu, expected %s%llu "
		       "(truncated?)",
		       path, (unsigned long long)st.st_size,
		       db->format_version >= 2 ? "a multiple of 2 MiB up to " :
						 "",
		       (unsigned long long)db->segment_size);
		errno = 0;
		return NULL;
	}
	addr = mmap(NULL, (size_t)st.st_size, PROT_READ,
		    MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
	*is_pmemp = addr != MAP_FAILED;
	if (addr == MAP_FAILED && (errno == EOPNOTSUPP || errno == EINVAL))
		addr = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED,
			    fd, 0);
	err = errno;
	close(fd); /* the mapping keeps the file */
	if (addr == MAP_FAILED) {
		errno = err;
		return NULL;
	}
	*lenp = (size_t)st.st_size;
	if (!*is_pmemp)
		*is_pmemp = pmem_is_pmem(addr, *lenp);
	return addr;
}

static int dk_segment_map(struct daxkv *db, uint32_t slot, uint64_t size,
			  bool create, struct dk_segment **out)
{
	char path[4096];
	struct dk_segment *seg;
	size_t mapped_len = 0;
	int is_pmem = 0;
	void *addr;

	seg = calloc(1, sizeof(*seg));
	if (!seg)
		return dk_err(DAXKV_ENOMEM, "no memory for a segment");
	dk_segment_path(db, slot, path, sizeof(path));
	if (create) {
		/* no file may be here: open removed every proven-dead one
		 * and refused to run beside any other (EEXIST below) */
		addr = pmem_map_file(path, size,
				     PMEM_FILE_CREATE | PMEM_FILE_EXCL, 0644,
				     &mapped_len, &is_pmem);
	} else if (db->rdonly) {
		addr = dk_segment_map_rdonly(db, path, &mapped_len, &is_pmem);
		if (!addr && errno == 0) {
			free(seg);
			return DAXKV_ECORRUPT; /* the message is set */
		}
		seg->readonly = true;
	} else {
		struct stat st;

		if (stat(path, &st) == 0 &&
		    !dk_segment_size_ok(db, (uint64_t)st.st_size)) {
			free(seg);
			return dk_err(DAXKV_ECORRUPT,
				      "%s: size %llu, expected %s%llu "
				      "(truncated?)",
				      path, (unsigned long long)st.st_size,
				      db->format_version >= 2 ?
					      "a multiple of 2 MiB up to " :
					      "",
				      (unsigned long long)db->segment_size);
		}
		addr = pmem_map_file(path, 0, 0, 0, &mapped_len, &is_pmem);
	}
	if (!addr) {
		int err = errno;

		free(seg);
		if (create && err != EEXIST)
			unlink(path); /* ours: made by this call, no record */
		if (create && err == EEXIST)
			return dk_err(DAXKV_ECORRUPT,
				      "%s: a file is in the way of a new "
				      "segment (kept)", path);
		if (!create && err == ENOENT)
			return dk_err(DAXKV_ECORRUPT,
				      "%s: segment file is missing", path);
		return dk_err_errno(dk_errno_code(err) == DAXKV_ENODB ?
					    DAXKV_EIO :
					    dk_errno_code(err),
				    err, "%s: cannot %s segment", path,
				    create ? "create" : "map");
	}
	pthread_mutex_init(&seg->marks_lock, NULL);
	seg->slot = slot;
	seg->base = addr;
	seg->size = mapped_len;
	seg->pm.is_pmem = db->force_msync ? 0 : is_pmem;
	*out = seg;
	return 0;
}

int dk_segment_reserve(struct daxkv *db, uint64_t size, enum dk_room room,
		       uint32_t *slotp)
{
	static const char *const leaves[] = {
		"", ", and one kept free for compaction",
		", and two kept free for deletes and compaction"
	};
	uint64_t total;
	uint32_t slot;

	/* caller holds seg_lock */
	for (slot = 0; slot < DK_MAX_SEGMENTS; slot++)
		if (db->meta->segs[slot].state == DK_SEG_FREE &&
		    !db->slot_taken[slot])
			break;
	if (slot == DK_MAX_SEGMENTS)
		return dk_err(DAXKV_ENOSPC, "%s: all %u segment slots in use",
			      db->dir, DK_MAX_SEGMENTS);
	/*
	 * Under max_size, puts leave two segments free and deletes one: the
	 * room a compaction copies live records into, and the room the
	 * tombstones of deletes take.  So a full database can always be
	 * emptied: deletes go on where puts fail, and compaction turns the
	 * segments they emptied into free ones.  Spares and segments being
	 * made count as used.
	 */
	total = DK_META_POOL_SIZE + db->seg_bytes + db->pending_bytes + size +
		(uint64_t)room * dk_segment_size_next(db);
	if (db->max_size && total > db->max_size)
		return dk_err(DAXKV_ENOSPC,
			      "%s: a new segment would exceed max_size %llu "
			      "(%llu bytes in %u segments%s, %llu more being "
			      "made or spare)",
			      db->dir, (unsigned long long)db->max_size,
			      (unsigned long long)db->seg_bytes, db->nsegs,
			      leaves[room],
			      (unsigned long long)db->pending_bytes);
	db->slot_taken[slot] = 1;
	db->pending_bytes += size;
	*slotp = slot;
	return 0;
}

void dk_segment_unreserve(struct daxkv *db, uint32_t slot, uint64_t size)
{
	/* caller holds seg_lock */
	db->slot_taken[slot] = 0;
	db->pending_bytes -= size;
}

int dk_segment_make(struct daxkv *db, uint32_t slot, uint64_t size,
		    struct dk_segment **out)
{
	struct dk_seg_header hdr;
	struct dk_segment *seg;
	int rc;

	/* the slot is reserved: nobody else reads or writes its meta word */
	rc = dk_segment_map(db, slot, size, true, &seg);
	if (rc)
		return rc;
	seg->gen = db->meta->segs[slot].gen + 1;
#ifdef MADV_POPULATE_WRITE
	/*
	 * Fault the whole mapping in now (on DAX: the MAP_SYNC faults with
	 * their metadata syncs), once, rather than one page fault every few
	 * puts.  Kernels before 5.14 say EINVAL: then pages fault as used.
	 */
	(void)madvise(seg->base, seg->size, MADV_POPULATE_WRITE);
#endif

	/* 1. header, durable before the slot can say LIVE */
	memset(&hdr, 0, sizeof(hdr));
	memcpy(hdr.magic, DK_SEG_MAGIC, sizeof(hdr.magic));
	hdr.format_version = db->format_version;
	hdr.header_size = DK_SEG_HDR_SIZE;
	memcpy(hdr.uuid, db->meta->uuid, sizeof(hdr.uuid));
	hdr.slot = slot;
	hdr.gen = seg->gen;
	hdr.size = seg->size;
	hdr.crc = dk_seg_header_crc(&hdr);
	dk_copy_nodrain(&seg->pm, seg->base, &hdr, sizeof(hdr));
	dk_drain(&db->pm);

	/* 2. the directory entry */
	if (fsync(db->dirfd) != 0) {
		char path[4096];

		rc = dk_err_errno(DAXKV_EIO, errno, "%s: fsync", db->dir);
		dk_segment_path(db, slot, path, sizeof(path));
		dk_segment_unmap(seg);
		unlink(path);
		return rc;
	}
	seg->spare = true;
	*out = seg;
	return 0;
}

void dk_segment_activate(struct daxkv *db, struct dk_segment *seg,
			 bool for_compaction)
{
	struct dk_seg_entry entry = db->meta->segs[seg->slot];
	uint64_t word;

	/* caller holds seg_lock.  A compaction's copies are whole only
	 * after its seal (layout.h): the seal word says FILLING, durable
	 * before the slot is LIVE, so a crash in the copy leaves a segment
	 * that open removes by its own word */
	if (for_compaction) {
		struct dk_seg_header *hdr = (struct dk_seg_header *)seg->base;

		dk_store8(&seg->pm, &hdr->sealed_tail, DK_SEAL_FILLING);
		dk_persist(&seg->pm, &hdr->sealed_tail,
			   sizeof(hdr->sealed_tail));
	}
	/* 3. publish: state and gen share one 8-byte
	 * word; records are appended only after it is durable */
	entry.state = DK_SEG_LIVE;
	entry.gen = seg->gen;
	memcpy(&word, &entry, sizeof(word));
	dk_meta_set(db, (uint64_t *)&db->meta->segs[seg->slot], word);
	dk_segment_unreserve(db, seg->slot, seg->size);
	seg->spare = false;
	seg->tail = DK_SEG_HDR_SIZE;
	seg->hidden = for_compaction; /* before any snapshot can see it */
	seg->owned = true;
	dk_segs_publish(db, seg->slot, seg);
	db->nsegs++;
	db->seg_bytes += seg->size;
	dk_seg_publish(db, seg, DK_SEG_EV_CREATED);
}

void dk_segment_discard(struct daxkv *db, struct dk_segment *seg)
{
	char path[4096];

	/* caller holds seg_lock.  Never LIVE: its slot is FREE, so the file
	 * is an aborted create, whatever happens to it from here */
	dk_segment_unreserve(db, seg->slot, seg->size);
	dk_segment_path(db, seg->slot, path, sizeof(path));
	dk_segment_unmap(seg);
	unlink(path);
}

int dk_segment_create_ex(struct daxkv *db, bool for_compaction,
			 struct dk_segment **out)
{
	uint64_t size = dk_segment_size_next(db);
	uint32_t slot;
	int rc;

	pthread_mutex_lock(&db->seg_lock);
	rc = dk_segment_reserve(db, size,
				for_compaction ? DK_ROOM_COMPACT : DK_ROOM_PUT,
				&slot);
	pthread_mutex_unlock(&db->seg_lock);
	if (rc)
		return rc;
	/* the slow part (allocation, faults, fsync) under no lock */
	rc = dk_segment_make(db, slot, size, out);
	pthread_mutex_lock(&db->seg_lock);
	if (rc)
		dk_segment_unreserve(db, slot, size);
	else
		dk_segment_activate(db, *out, for_compaction);
	pthread_mutex_unlock(&db->seg_lock);
	return rc;
}

int dk_segment_open(struct daxkv *db, uint32_t slot, struct dk_segment **out)
{
	const struct dk_seg_header *hdr;
	char path[4096];
	struct dk_segment *seg;
	int rc;

	rc = dk_segment_map(db, slot, 0, false, &seg);
	if (rc)
		return rc;
	dk_segment_path(db, slot, path, sizeof(path));
	if (!dk_segment_size_ok(db, seg->size)) {
		rc = dk_err(DAXKV_ECORRUPT,
			    "%s: size %llu, expected %s%llu (truncated?)", path,
			    (unsigned long long)seg->size,
			    db->format_version >= 2 ?
				    "a multiple of 2 MiB up to " : "",
			    (unsigned long long)db->segment_size);
		goto err;
	}
	hdr = dk_segment_header(seg);
	if (memcmp(hdr->magic, DK_SEG_MAGIC, sizeof(hdr->magic)) != 0 ||
	    hdr->crc != dk_seg_header_crc(hdr)) {
		rc = dk_err(DAXKV_ECORRUPT,
			    "%s offset 0: bad segment header (magic or crc)",
			    path);
		goto err;
	}
	if (hdr->format_version != db->format_version) {
		rc = dk_err(DAXKV_EVERSION,
			    "%s: segment format version %u, the database's "
			    "is %u",
			    path, hdr->format_version, db->format_version);
		goto err;
	}
	if (hdr->header_size != DK_SEG_HDR_SIZE ||
	    memcmp(hdr->uuid, db->meta->uuid, sizeof(hdr->uuid)) != 0 ||
	    hdr->slot != slot || hdr->gen != db->meta->segs[slot].gen ||
	    hdr->size != seg->size) {
		rc = dk_err(DAXKV_ECORRUPT,
			    "%s offset 0: header belongs to another database "
			    "or slot",
			    path);
		goto err;
	}
	if (hdr->sealed_tail && !dk_seal_is_mark(hdr->sealed_tail) &&
	    (hdr->sealed_tail < DK_SEG_HDR_SIZE || hdr->sealed_tail > seg->size ||
	     hdr->sealed_tail % DK_REC_ALIGN)) {
		rc = dk_err(DAXKV_ECORRUPT, "%s offset 56: bad sealed tail %llu",
			    path, (unsigned long long)hdr->sealed_tail);
		goto err;
	}
	seg->gen = hdr->gen;
	seg->tail = DK_SEG_HDR_SIZE;
	*out = seg;
	return 0;
err:
	dk_segment_unmap(seg);
	return rc;
}

void dk_segment_unmap(struct dk_segment *seg)
{
	if (!seg)
		return;
	if (seg->readonly)
		munmap(seg->base, seg->size);
	else
		pmem_unmap(seg->base, seg->size);
	pthread_mutex_destroy(&seg->marks_lock);
	free(seg->marks);
	free(seg);
}

void dk_segment_remove(struct daxkv *db, struct dk_segment *seg)
{
	struct dk_seg_entry entry = db->meta->segs[seg->slot];
	struct dk_seg_header *hdr = (struct dk_seg_header *)seg->base;
	char path[4096];
	uint64_t word;

	/*
	 * Order: the header says RETIRED (durable), then the slot is FREE
	 * (durable), then the file goes, so a crash anywhere leaves a file
	 * whose own header proves it dead, which open removes.  Whoever
	 * calls this has made the records that replace this segment's
	 * durable first (compact.c).
	 */
	dk_store8(&seg->pm, &hdr->sealed_tail, DK_SEAL_RETIRED);
	dk_persist(&seg->pm, &hdr->sealed_tail, sizeof(hdr->sealed_tail));
	entry.state = DK_SEG_FREE;
	memcpy(&word, &entry, sizeof(word));
	dk_meta_set(db, (uint64_t *)&db->meta->segs[seg->slot], word);
	__atomic_store_n(&db->segs[seg->slot], NULL, __ATOMIC_RELEASE);
	db->nsegs--;
	db->seg_bytes -= seg->size;
	dk_segment_path(db, seg->slot, path, sizeof(path));
	dk_segment_unmap(seg);
	/* the blocks go back to the file system (and out of every mirror:
	 * the munmap above invalidated them) */
	unlink(path);
	(void)fsync(db->dirfd);
}

void dk_segment_free_keep(struct daxkv *db, struct dk_segment *seg)
{
	struct dk_seg_entry entry = db->meta->segs[seg->slot];
	uint64_t word;

	/* caller holds seg_lock.  As dk_segment_remove, but the file stays
	 * (mapped, its slot taken) for dk_segment_renew: RETIRED first, so
	 * that a crash before the renewal leaves a file dead by its own
	 * header (dk_segment_file_fate), not one the open must refuse */
	dk_store8(&seg->pm, &((struct dk_seg_header *)seg->base)->sealed_tail,
		  DK_SEAL_RETIRED);
	dk_persist(&seg->pm, &((struct dk_seg_header *)seg->base)->sealed_tail,
		   sizeof(uint64_t));
	entry.state = DK_SEG_FREE;
	memcpy(&word, &entry, sizeof(word));
	dk_meta_set(db, (uint64_t *)&db->meta->segs[seg->slot], word);
	__atomic_store_n(&db->segs[seg->slot], NULL, __ATOMIC_RELEASE);
	db->nsegs--;
	db->seg_bytes -= seg->size;
	db->slot_taken[seg->slot] = 1;
	db->pending_bytes += seg->size;
}

int dk_segment_renew(struct daxkv *db, struct dk_segment *old,
		     struct dk_segment **out)
{
	static const uint8_t zeros[65536];
	struct dk_seg_header hdr;
	struct dk_segment *seg;

	seg = calloc(1, sizeof(*seg));
	if (!seg)
		return dk_err(DAXKV_ENOMEM, "no memory for a segment");
	pthread_mutex_init(&seg->marks_lock, NULL);
	seg->slot = old->slot;
	seg->base = old->base;
	seg->size = old->size;
	seg->pm = old->pm;
	seg->gen = db->meta->segs[seg->slot].gen + 1;
	/*
	 * The slot is FREE (durable: dk_segment_free_keep) and taken, so
	 * whatever a crash leaves of this file from here on is dead by its
	 * header: the old generation, equal to the FREE slot's, or the new
	 * one, one above it.  The records go before the new header can
	 * make this a spare that a lane may make LIVE: with the one fence
	 * below both are durable before dk_segment_activate's meta word, so
	 * no record of the old life can ever be read as one of the new.
	 */
	for (uint64_t off = DK_SEG_HDR_SIZE; off < seg->size; off += sizeof(zeros))
		dk_copy_nodrain(&seg->pm, seg->base + off, zeros,
				seg->size - off < sizeof(zeros) ?
					seg->size - off :
					sizeof(zeros));
	/* zeros durable before the new header: a file whose header says
	 * the next generation holds nothing but zeros (dk_segment_file_fate
	 * removes it as an aborted create) */
	dk_drain(&db->pm);
	memset(&hdr, 0, sizeof(hdr));
	memcpy(hdr.magic, DK_SEG_MAGIC, sizeof(hdr.magic));
	hdr.format_version = db->format_version;
	hdr.header_size = DK_SEG_HDR_SIZE;
	memcpy(hdr.uuid, db->meta->uuid, sizeof(hdr.uuid));
	hdr.slot = seg->slot;
	hdr.gen = seg->gen;
	hdr.size = seg->size;
	hdr.crc = dk_seg_header_crc(&hdr);
	dk_copy_nodrain(&seg->pm, seg->base, &hdr, sizeof(hdr));
	dk_drain(&db->pm);
	/* the file's name is durable already: it was LIVE */
	pthread_mutex_destroy(&old->marks_lock);
	free(old->marks);
	free(old);
	seg->spare = true;
	*out = seg;
	return 0;
}

void dk_segment_seal(struct daxkv *db, struct dk_segment *seg)
{
	struct dk_seg_header *hdr = (struct dk_seg_header *)seg->base;

	/*
	 * Every record below tail is already durable (each write drained
	 * before it returned), so the sealed tail may follow in any order.
	 * If power fails before it lands, the segment reads as open and its
	 * end is found by scanning: nothing is lost, only the stricter
	 * corruption check is.
	 */
	dk_store8(&seg->pm, &hdr->sealed_tail,
		  __atomic_load_n(&seg->tail, __ATOMIC_ACQUIRE));
	dk_persist(&seg->pm, &hdr->sealed_tail, sizeof(hdr->sealed_tail));
	dk_seg_publish(db, seg, DK_SEG_EV_SEALED);
}

static const uint8_t dk_zero_page[4096];

int dk_segment_prepare_append(struct daxkv *db, struct dk_segment *seg)
{
	struct dk_seg_header *hdr = (struct dk_seg_header *)seg->base;
	uint64_t tail = seg->tail, end = seg->size;
	const uint64_t *words = (const uint64_t *)seg->base;
	char path[4096];

	/*
	 * Appends resume at tail.  Bytes past it may hold the torn remains
	 * of a write that a crash interrupted; zero them first so that no
	 * stale byte can ever line up as a record behind new ones.  They are
	 * proven dead by their own bytes before they go: no complete valid
	 * batch starts anywhere past the tail (record.c: dk_log_resync; what
	 * a crash leaves never holds one, layout.h).  Where one does, the
	 * segment is refused (kept as it is, ECORRUPT) and the lane takes
	 * another.  Find the last non-zero word from the end (reads are
	 * cheap), zero up to it, persist, and only then mark the segment
	 * open (sealed_tail = 0): recovery of an open segment trusts the
	 * scan, so the zeroing must be durable first.
	 */
	/* whole zero pages first (memcmp runs vectorised), then words */
	while (end - tail >= sizeof(dk_zero_page) &&
	       memcmp(seg->base + end - sizeof(dk_zero_page), dk_zero_page,
		      sizeof(dk_zero_page)) == 0)
		end -= sizeof(dk_zero_page);
	while (end > tail && words[end / 8 - 1] == 0)
		end -= 8;
	if (end > tail && dk_log_resync(seg, tail - DK_REC_ALIGN, end, 0)) {
		dk_segment_path(db, seg->slot, path, sizeof(path));
		return dk_err(DAXKV_ECORRUPT,
			      "%s offset %llu: valid records past the tail; "
			      "the segment is not reused",
			      path, (unsigned long long)tail);
	}
	if (end > tail) {
		static const uint8_t zeros[65536];

		for (uint64_t off = tail; off < end; off += sizeof(zeros)) {
			uint64_t n = end - off < sizeof(zeros) ? end - off :
								 sizeof(zeros);

			dk_copy_nodrain(&seg->pm, seg->base + off, zeros, n);
		}
		dk_drain(&db->pm);
	}
	if (hdr->sealed_tail) {
		dk_store8(&seg->pm, &hdr->sealed_tail, 0);
		dk_persist(&seg->pm, &hdr->sealed_tail,
			   sizeof(hdr->sealed_tail));
	}
	return 0;
}

/* Is every byte of @p fd from @p off on zero?  (pread: a media error or a
 * short file reads as "no") */
static bool dk_file_zero_from(int fd, uint64_t off, uint64_t size)
{
	static const uint8_t zeros[65536];
	uint8_t *buf = malloc(sizeof(zeros));
	bool zero = buf != NULL;

	while (zero && off < size) {
		size_t n = size - off < sizeof(zeros) ? size - off :
							sizeof(zeros);

		zero = pread(fd, buf, n, (off_t)off) == (ssize_t)n &&
		       memcmp(buf, zeros, n) == 0;
		off += n;
	}
	free(buf);
	return zero;
}

bool dk_segment_file_empty(int dirfd, const char *name)
{
	struct stat st;
	bool empty = false;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size >= DK_SEG_HDR_SIZE)
		empty = dk_file_zero_from(fd, DK_SEG_HDR_SIZE,
					  (uint64_t)st.st_size);
	close(fd);
	return empty;
}

enum dk_seg_fate dk_segment_file_fate(int dirfd, const char *name,
				      const uint8_t *uuid, uint32_t slot,
				      struct dk_seg_entry entry,
				      uint64_t segment_size, uint32_t *genp)
{
	struct dk_seg_header hdr, want, old;
	const uint64_t *got_w = (const uint64_t *)&hdr;
	const uint64_t *want_w = (const uint64_t *)&want;
	const uint64_t *old_w = (const uint64_t *)&old;
	enum dk_seg_fate fate = DK_FATE_UNKNOWN;
	struct stat st;
	bool torn_create = true;
	uint64_t size;
	int fd;

	*genp = 0;
	if (slot >= DK_MAX_SEGMENTS)
		return DK_FATE_UNKNOWN;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		goto out;
	/* nothing but zeros (or nothing: created, never allocated) holds
	 * no record: dead by its own bytes, whatever its size */
	if ((uint64_t)st.st_size <= segment_size &&
	    dk_file_zero_from(fd, 0, (uint64_t)st.st_size)) {
		fate = DK_FATE_ABORTED;
		goto out;
	}
	/* a segment's size: segment_size (format 1), or a multiple of 2 MiB
	 * up to it (format 2: sized to the data, spare.c) */
	size = (uint64_t)st.st_size;
	if (size < DK_SEG_MIN || size > segment_size || size % DK_SEG_ALIGN ||
	    pread(fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		goto out;
	*genp = hdr.gen;
	if (memcmp(hdr.magic, DK_SEG_MAGIC, sizeof(hdr.magic)) == 0 &&
	    hdr.crc == dk_seg_header_crc(&hdr) &&
	    !memcmp(hdr.uuid, uuid, sizeof(hdr.uuid)) && hdr.slot == slot &&
	    hdr.size == size) {
		/* whole and ours: retired, or a live segment */
		if (hdr.gen == entry.gen && hdr.sealed_tail == DK_SEAL_RETIRED)
			fate = DK_FATE_RETIRED;
		else if (hdr.gen == entry.gen && entry.state == DK_SEG_FREE &&
			 dk_file_zero_from(fd, DK_SEG_HDR_SIZE, size))
			/* a FREE slot's own generation holding no record:
			 * a renewal (dk_segment_renew) torn after its zeros
			 * were durable, whose new header's seal word (0)
			 * landed over RETIRED while its gen and crc did not */
			fate = DK_FATE_RETIRED;
		else if (hdr.gen == entry.gen + 1 &&
			 dk_file_zero_from(fd, DK_SEG_HDR_SIZE, size))
			/* the slot's next generation, never published (a
			 * spare, or one a failed round retired before its
			 * slot was LIVE: any seal word) and holding no
			 * record: nothing but zeros past its header */
			fate = DK_FATE_ABORTED;
		else
			fate = DK_FATE_LIVE;
		goto out;
	}
	/*
	 * A create torn before its header was durable: each 8-byte word is
	 * zero or the word the create was writing (this slot's next
	 * generation), and nothing else in the file was ever written.  Or,
	 * in a FREE slot, a renewal torn the same way (dk_segment_renew):
	 * each word the retired header's (this slot's generation, RETIRED)
	 * or the new one's, and nothing but zeros past the header, made
	 * durable before the header was written.
	 */
	memset(&want, 0, sizeof(want));
	memcpy(want.magic, DK_SEG_MAGIC, sizeof(want.magic));
	want.format_version = DK_FORMAT_VERSION;
	want.header_size = DK_SEG_HDR_SIZE;
	memcpy(want.uuid, uuid, sizeof(want.uuid));
	want.slot = slot;
	want.size = size;
	old = want;
	old.gen = entry.gen;
	old.crc = dk_seg_header_crc(&old);
	want.gen = entry.gen + 1;
	want.crc = dk_seg_header_crc(&want);
	for (size_t i = 0; i < sizeof(hdr) / 8 && torn_create; i++) {
		uint64_t w = got_w[i];

		if (i == offsetof(struct dk_seg_header, sealed_tail) / 8)
			torn_create = w == 0 || w == DK_SEAL_FILLING ||
				      (entry.state == DK_SEG_FREE &&
				       w == DK_SEAL_RETIRED);
		else
			torn_create = w == 0 || w == want_w[i] ||
				      (entry.state == DK_SEG_FREE &&
				       w == old_w[i]);
	}
	if (torn_create && dk_file_zero_from(fd, sizeof(hdr), size))
		fate = DK_FATE_ABORTED;
out:
	if (fd >= 0)
		close(fd);
	return fate;
}
