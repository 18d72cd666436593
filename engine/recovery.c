// SPDX-License-Identifier: MIT
/*
 * recovery.c -- rebuild the index at open.
 *
 * After a clean close the checkpoint is loaded (checkpoint.c).  Otherwise
 * every live segment is scanned, in parallel (one thread per CPU by
 * default, segments handed out from a shared counter):
 *
 * - Records are read from offset 4096 until the first invalid one
 *   (layout.h: crc, ranges, seq not below the previous record's).  A batch
 *   counts only if all of its records are valid; the first incomplete
 *   batch ends the segment's log.  That end becomes the segment's tail.
 * - Past the end of the log, only what a crash can leave may follow
 *   (layout.h): the one commit in flight, torn, then zeros.  So the rest
 *   of the segment is searched, one 8-byte step at a time, for a complete
 *   valid batch (record.c: dk_log_resync); finding one means damage, and
 *   the open fails with DAXKV_ECORRUPT naming the file and offset, sealed
 *   segment or open one.  In a sealed segment the log must also end
 *   exactly at the sealed tail.  Otherwise the rest of an open segment is
 *   the torn remains of an unacknowledged write; it is zeroed before the
 *   next append (segment.c), which proves it dead again first.
 * - Every read of a mapping is guarded (guard.h): a media error is
 *   DAXKV_EIO naming the file and offset, not a dead process.
 * - Before any of it, files are matched with the meta table: a segment
 *   file of a slot that is not LIVE is removed only when its own header
 *   proves it an aborted create or a retired segment
 *   (segment.c: dk_segment_file_fate); any other refuses the open.  A
 *   LIVE segment whose seal word says FILLING (a compaction a crash
 *   interrupted: its originals are intact) or RETIRED (a removal a crash
 *   interrupted) is removed.
 * - Each valid record is offered to its key's entry; the newest sequence
 *   wins.  The loser's `superseded` word is set if it is 0 or larger
 *   than the winner's sequence, and after the scan every winner's word is
 *   reset to 0: marks written by commits that did not survive are undone,
 *   marks that did not reach media are redone.  Both are idempotent, so a
 *   crash during recovery is followed by the same recovery.
 * - Sequence numbers resume above the highest seq of any record whose crc
 *   was valid, counted or not.
 *
 * A read-only open (DAXKV_OPEN_RDONLY) recovers in DRAM only: no orphan is
 * removed, no mark written, the clean flag left as it is.  The index it
 * builds is the same (the newest sequence wins whatever the marks say),
 * so gets and scans are right.  The marks it would have changed are
 * counted in stale_marks: where there are any, the version rule does not
 * hold on media (a loser still unmarked reads as visible, a winner marked
 * by a lost commit as invisible), and queries, which decide visibility
 * from the records alone, are refused (query.c).  After a clean close, or
 * after any read-write open, there are none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "errors.h"
#include "guard.h"
#include "hmap.h"
#include "index.h"
#include "internal.h"
#include "lane.h"
#include "media.h"
#include "meta.h"
#include "persist.h"
#include "record.h"
#include "recovery.h"
#include "segment.h"

struct dk_recovery {
	struct daxkv *db;
	uint32_t *slots;
	uint32_t nslots;
	uint32_t next;   /* atomic: next index into slots */
	int rc;          /* atomic: first error */
	char errmsg[512];
	pthread_mutex_t err_lock; /* protects errmsg */
	uint64_t max_seq;  /* atomic max */
	uint64_t records;  /* atomic */
	uint64_t discarded; /* atomic */
};

static void dk_atomic_max(uint64_t *dst, uint64_t val)
{
	uint64_t cur = __atomic_load_n(dst, __ATOMIC_RELAXED);

	while (cur < val && !__atomic_compare_exchange_n(
				    dst, &cur, val, true, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED))
		;
}

/*
 * Mark the record at @p loc, which lost to a record of sequence @p seq, as
 * superseded (flushed as its own segment's mapping is).  A mark already
 * there stays unless it is larger than @p seq: the mark a commit leaves is
 * its own sequence, stored on its key's newest record (or on both twins of
 * a compaction copy not yet swapped), so a mark above the sequence of a
 * surviving newer record comes from a commit that did not survive.  Left
 * in place, it would make the record visible again to every snapshot
 * below it, beside the winner (a query would count the key twice;
 * crashsim found it: a writer's mark landed on the original of a copy
 * that compaction had made but not swapped, its record did not, and the
 * original lost the tie to the copy).  A read-only open writes nothing:
 * it counts the mark it could not make.
 */
static void dk_recover_mark(struct daxkv *db, uint64_t loc, uint64_t seq)
{
	struct dk_rec *rec = dk_rec_at(db, loc);

	if (rec->superseded != 0 && rec->superseded <= seq)
		return;
	if (db->rdonly)
		__atomic_fetch_add(&db->stale_marks, 1, __ATOMIC_RELAXED);
	else
		dk_store8_flush(&dk_seg_of(db, loc)->pm,
				(uint64_t *)&rec->superseded, seq);
}

/* Offer one record to its key; the caller holds *lanep. */
static int dk_recover_apply(struct daxkv *db, struct dk_segment *seg,
			    uint64_t off, struct dk_lane **lanep)
{
	struct dk_rec *rec = (struct dk_rec *)(seg->base + off);
	const uint8_t *key = dk_rec_key(rec);
	uint64_t loc = DK_LOC(seg->slot, off) |
		       ((rec->flags & DK_REC_DEL) ? DK_LOC_DEL : 0);
	uint64_t hash = dk_hash(key, rec->klen);
	struct dk_entry *e;
	bool full;
	int rc;

	while (!(e = dk_index_get_or_create(db, key, rec->klen, hash, false,
					    &full))) {
		if (!full)
			return dk_err(DAXKV_ENOMEM,
				      "recovery: no memory for the index");
		dk_lane_release(*lanep);
		rc = dk_hmap_grow(db);
		*lanep = dk_lane_acquire(db);
		if (rc)
			return rc;
	}
	dk_entry_lock(e);
	if (e->cur) {
		struct dk_rec *cur = dk_rec_at(db, e->cur);

		if (rec->seq < cur->seq) {
			dk_recover_mark(db, loc, cur->seq);
			dk_entry_unlock(e);
			return 0;
		}
		dk_recover_mark(db, e->cur, rec->seq);
	}
	/* no reader exists yet: no old version is kept */
	e->cur = loc;
	e->vlen = rec->vlen;
	dk_hmap_set(db, e, hash, loc);
	dk_entry_unlock(e);
	return 0;
}

/* dk_batch_end under a guard: 0, or DAXKV_EIO naming the fault. */
static int dk_recover_batch(struct dk_recovery *rv, struct dk_segment *seg,
			    uint64_t off, uint64_t prev_seq, uint64_t *endp,
			    uint32_t *validp)
{
	struct dk_guard g;

	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		return dk_guard_eio(rv->db, &g, "recovery read a record");
	}
	dk_guard_push(&g);
	*endp = dk_batch_end(seg, off, prev_seq, validp);
	dk_guard_pop(&g);
	return 0;
}

/* dk_log_resync under a guard: 0, or DAXKV_EIO naming the fault. */
static int dk_recover_resync(struct dk_recovery *rv, struct dk_segment *seg,
			     uint64_t off, uint64_t prev_seq, uint64_t *nextp)
{
	struct dk_guard g;

	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		return dk_guard_eio(rv->db, &g,
				    "recovery read past the end of the log");
	}
	dk_guard_push(&g);
	*nextp = dk_log_resync(seg, off, seg->size, prev_seq);
	dk_guard_pop(&g);
	return 0;
}

static int dk_recover_segment_locked(struct dk_recovery *rv,
				     struct dk_segment *seg,
				     struct dk_lane **lanep)
{
	struct daxkv *db = rv->db;
	const struct dk_seg_header *hdr = dk_segment_header(seg);
	uint64_t sealed = hdr->sealed_tail;
	uint64_t off = DK_SEG_HDR_SIZE, prev_seq = 0, records = 0;
	char path[4096];
	int rc;

	/* the lane is let go now and then, so that the index can grow */

	while (off < seg->size) {
		const struct dk_rec *rec =
			(const struct dk_rec *)(seg->base + off);
		uint32_t count, valid;
		uint64_t seq, end;

		rc = dk_recover_batch(rv, seg, off, prev_seq, &end, &valid);
		if (rc)
			return rc;
		if (valid == 0)
			break; /* an invalid record: the log ends here */
		seq = rec->seq;
		count = rec->batch;
		dk_atomic_max(&rv->max_seq, seq);
		if (!end) {
			/* the whole batch, or nothing */
			__atomic_fetch_add(&rv->discarded, valid,
					   __ATOMIC_RELAXED);
			break;
		}
		for (uint64_t pos = off; pos < end;) {
			const struct dk_rec *r =
				(const struct dk_rec *)(seg->base + pos);
			uint64_t size = dk_rec_size(r->klen, r->vlen);

			rc = dk_recover_apply(db, seg, pos, lanep);
			if (rc)
				return rc;
			pos += size;
		}
		records += count;
		prev_seq = seq;
		off = end;
		if (records % 1024 < count) {
			dk_lane_release(*lanep);
			*lanep = dk_lane_acquire(db);
		}
	}
	__atomic_fetch_add(&rv->records, records, __ATOMIC_RELAXED);
	/* damage, or what a crash leaves? (layout.h) */
	{
		uint64_t next;

		rc = dk_recover_resync(rv, seg, off, prev_seq, &next);
		if (rc)
			return rc;
		if (next) {
			dk_segment_path(db, seg->slot, path, sizeof(path));
			return dk_err(DAXKV_ECORRUPT,
				      "%s offset %llu: %llu damaged bytes "
				      "with valid records after them (at "
				      "%llu): damage, not a torn write; "
				      "salvage with kvctl check --repair or "
				      "DAXKV_OPEN_SALVAGE",
				      path, (unsigned long long)off,
				      (unsigned long long)(next - off),
				      (unsigned long long)next);
		}
	}
	if (sealed && off != sealed) {
		dk_segment_path(db, seg->slot, path, sizeof(path));
		return dk_err(DAXKV_ECORRUPT,
			      "%s offset %llu: invalid record in a sealed "
			      "segment (sealed tail %llu)",
			      path, (unsigned long long)off,
			      (unsigned long long)sealed);
	}
	if (off + DK_REC_HDR_SIZE <= seg->size &&
	    ((const struct dk_rec *)(seg->base + off))->seq != 0)
		__atomic_fetch_add(&rv->discarded, 1, __ATOMIC_RELAXED);
	seg->tail = off;
	seg->max_seq = prev_seq;
	return 0;
}

static int dk_recover_segment(struct dk_recovery *rv, struct dk_segment *seg)
{
	struct dk_lane *lane = dk_lane_acquire(rv->db);
	int rc = dk_recover_segment_locked(rv, seg, &lane);

	dk_lane_release(lane);
	return rc;
}

static void *dk_recover_thread(void *arg)
{
	struct dk_recovery *rv = arg;
	struct daxkv *db = rv->db;

	rcu_read_lock();
	for (;;) {
		uint32_t i = __atomic_fetch_add(&rv->next, 1, __ATOMIC_RELAXED);
		int rc;

		if (i >= rv->nslots || __atomic_load_n(&rv->rc, __ATOMIC_RELAXED))
			break;
		rc = dk_recover_segment(rv, db->segs[rv->slots[i]]);
		if (rc) {
			int expected = 0;

			if (__atomic_compare_exchange_n(&rv->rc, &expected, rc,
							false, __ATOMIC_SEQ_CST,
							__ATOMIC_SEQ_CST)) {
				pthread_mutex_lock(&rv->err_lock);
				snprintf(rv->errmsg, sizeof(rv->errmsg), "%s",
					 daxkv_errmsg());
				pthread_mutex_unlock(&rv->err_lock);
			}
			break;
		}
	}
	rcu_read_unlock();
	dk_drain(&db->pm); /* this thread's marks */
	return NULL;
}

/* Reset a winner's mark, count it; single-threaded. */
static void dk_recover_finish_entry(struct dk_entry *e, void *arg)
{
	struct daxkv *db = arg;
	struct dk_rec *rec = dk_rec_at(db, e->cur);

	if (rec->superseded != 0 && db->rdonly)
		db->stale_marks++;
	else if (rec->superseded != 0)
		dk_store8_flush(&dk_seg_of(db, e->cur)->pm,
				(uint64_t *)&rec->superseded, 0);
	db->segs[DK_LOC_SLOT(e->cur)]->live +=
		(int64_t)dk_rec_size(e->klen, rec->vlen);
	if (!(e->cur & DK_LOC_DEL)) {
		db->nkeys++;
		db->live_bytes += dk_rec_size(e->klen, e->vlen);
	}
}

static void dk_recover_finish_marks(struct daxkv *db)
{
	dk_hmap_foreach(db, dk_recover_finish_entry, db);
	dk_drain(&db->pm);
}

static int dk_recover_scan(struct daxkv *db, uint32_t *slots, uint32_t n)
{
	struct dk_recovery rv;
	pthread_t threads[256];
	uint32_t nthreads = db->recovery_threads, started = 0;
	int rc;

	memset(&rv, 0, sizeof(rv));
	rv.db = db;
	rv.slots = slots;
	rv.nslots = n;
	pthread_mutex_init(&rv.err_lock, NULL);
	if (nthreads > n)
		nthreads = n;
	if (nthreads > 256)
		nthreads = 256;
	for (uint32_t i = 1; i < nthreads; i++) {
		if (pthread_create(&threads[started], NULL, dk_recover_thread,
				   &rv) != 0)
			break; /* fewer threads is fine */
		started++;
	}
	dk_recover_thread(&rv);
	for (uint32_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&rv.err_lock);
	if (rv.rc)
		return dk_err(rv.rc, "%s", rv.errmsg);
	dk_recover_finish_marks(db);
	rc = dk_index_build_order(db);
	if (rc)
		return rc;
	db->next_seq = rv.max_seq + 1;
	db->recovered_records = rv.records;
	db->discarded_records = rv.discarded;
	return 0;
}

/*
 * Match the directory with the meta table before anything is mapped: a
 * segment file of a slot that is not LIVE goes only on the word of its own
 * header (aborted create, unfinished removal); any other is kept, and the
 * open refused with the first such file named.  Temporary files of a pool
 * or checkpoint being built are removed (their names say they were never
 * relied upon).
 */
static int dk_sweep_files(struct daxkv *db)
{
	DIR *dir = opendir(db->dir);
	struct dirent *de;
	int rc = 0;

	if (!dir)
		return dk_err_errno(dk_errno_code(errno), errno, "%s", db->dir);
	while ((de = readdir(dir)) != NULL) {
		unsigned slot;
		uint32_t gen;
		char tail;

		if (sscanf(de->d_name, "seg-%8u.dat%c", &slot, &tail) == 1 &&
		    strlen(de->d_name) == 16) {
			enum dk_seg_fate fate;

			if (slot < DK_MAX_SEGMENTS &&
			    db->meta->segs[slot].state == DK_SEG_LIVE)
				continue;
			fate = dk_segment_file_fate(
				db->dirfd, de->d_name, db->meta->uuid, slot,
				slot < DK_MAX_SEGMENTS ?
					db->meta->segs[slot] :
					(struct dk_seg_entry){ 0 },
				db->segment_size, &gen);
			if (fate == DK_FATE_ABORTED || fate == DK_FATE_RETIRED) {
				if (!db->rdonly) /* read-only: left, unread */
					unlinkat(db->dirfd, de->d_name, 0);
				continue;
			}
			if (rc)
				continue;
			if (fate == DK_FATE_LIVE)
				rc = dk_err(DAXKV_ECORRUPT,
					    "%s/meta.pool offset %llu: the "
					    "meta table calls slot %u free "
					    "(gen %u) but the header of %s "
					    "says it is a live segment of this "
					    "database (gen %u): meta.pool "
					    "damaged or older than the "
					    "segments; the file is kept; "
					    "salvage with kvctl check --repair",
					    db->dir,
					    (unsigned long long)(db->pop ?
						(uint64_t)((uint8_t *)&db->meta->segs[slot] -
							   (uint8_t *)db->pop) :
						offsetof(struct dk_meta_root,
							 segs[slot])),
					    slot, db->meta->segs[slot].gen,
					    de->d_name, gen);
			else
				rc = dk_err(DAXKV_ECORRUPT,
					    "%s/%s offset 0: a segment file "
					    "that no live slot names and whose "
					    "header does not prove it dead; "
					    "kept; salvage with kvctl check "
					    "--repair (moves it aside)",
					    db->dir, de->d_name);
		} else if ((!strcmp(de->d_name, "meta.pool.tmp") ||
			    !strcmp(de->d_name, "checkpoint.tmp")) &&
			   !db->rdonly) {
			unlinkat(db->dirfd, de->d_name, 0);
		}
	}
	closedir(dir);
	if (!db->rdonly)
		(void)fsync(db->dirfd);
	return rc;
}

int dk_recover(struct daxkv *db)
{
	uint64_t start = dk_now_ns();
	uint32_t *slots, n = 0;
	int rc;

	rc = dk_sweep_files(db);
	if (rc)
		return rc;
	slots = malloc(DK_MAX_SEGMENTS * sizeof(*slots));
	if (!slots)
		return dk_err(DAXKV_ENOMEM, "no memory for recovery");
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++) {
		struct dk_segment *seg;

		if (db->meta->segs[slot].state != DK_SEG_LIVE)
			continue;
		rc = dk_segment_open(db, slot, &seg);
		if (rc)
			goto out;
		if (db->rdonly &&
		    dk_seal_is_mark(dk_segment_header(seg)->sealed_tail)) {
			/* read-only: left on media, never published (its
			 * records live elsewhere: see below) */
			dk_segment_unmap(seg);
			continue;
		}
		dk_segs_publish(db, slot, seg);
		db->nsegs++;
		db->seg_bytes += seg->size;
		if (dk_seal_is_mark(dk_segment_header(seg)->sealed_tail)) {
			/* an interrupted compaction's copies, or an
			 * interrupted removal: dead by the header's word */
			dk_segment_remove(db, seg);
			continue;
		}
		slots[n++] = slot;
	}

	rc = 1;
	if (db->meta->clean && !db->ignore_checkpoint)
		rc = dk_checkpoint_load(db);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		rc = dk_recover_scan(db, slots, n);
		if (rc)
			goto out;
		db->recovery = DAXKV_RECOVERY_SCAN;
	} else {
		db->recovery = DAXKV_RECOVERY_CHECKPOINT;
	}
	if (n == 0 && db->recovery == DAXKV_RECOVERY_SCAN &&
	    db->meta->open_count <= 1)
		db->recovery = DAXKV_RECOVERY_NONE;

	/* the device's bad blocks: under the log, damage (a read there
	 * faults); past it, room that takes no appends */
	for (uint32_t i = 0; i < n; i++) {
		struct dk_segment *seg = db->segs[slots[i]];
		uint64_t bad = 0, len = 0;
		char path[4096];
		int fd;

		dk_segment_path(db, seg->slot, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (dk_media_badblock_first(fd, 0, &bad, &len)) {
			if (bad < seg->tail && !db->salvage) {
				close(fd);
				rc = dk_err(DAXKV_EIO,
					    "%s offset %llu: %llu bytes the "
					    "device lists as bad blocks; "
					    "salvage with kvctl check --repair",
					    path, (unsigned long long)bad,
					    (unsigned long long)len);
				goto out;
			}
			db->bad_blocks++;
			seg->damaged = true;
		}
		close(fd);
	}
	/* segments with room are offered to lanes, emptiest last */
	for (uint32_t i = 0; i < n; i++) {
		struct dk_segment *seg = db->segs[slots[i]];

		/* appends are in seq order: the first record has the least
		 * (compaction's age and tombstone rules, compact.c) */
		if (seg->tail > DK_SEG_HDR_SIZE)
			seg->min_seq = ((const struct dk_rec *)(
						seg->base + DK_SEG_HDR_SIZE))->seq;
		if (seg->max_seq < seg->min_seq)
			seg->max_seq = seg->min_seq;

		if (seg->size - seg->tail >= 64 * 1024 && !seg->damaged)
			db->reuse[db->nreuse++] = seg->slot;
	}
	/* the checkpoint is consumed: until the next clean close it is void
	 * (a read-only open leaves it valid: nothing moves on) */
	if (db->meta->clean && !db->rdonly)
		dk_meta_set(db, &db->meta->clean, 0);
	db->recovery_ns = dk_now_ns() - start;
	rc = 0;
out:
	free(slots);
	return rc;
}
