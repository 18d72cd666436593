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
 * - In a sealed segment the log must end exactly at the sealed tail;
 *   anything else is corruption (DAXKV_ECORRUPT, with file and offset).
 *   In an open segment the rest is the torn remains of an unacknowledged
 *   write; it is zeroed before the next append (segment.c).
 * - Each valid record is offered to its key's entry; the newest sequence
 *   wins.  The loser's `superseded` word is set if it is 0, and after the
 *   scan every winner's word is reset to 0: marks written by commits that
 *   did not survive are undone, marks that did not reach media are
 *   redone.  Both are idempotent, so a crash during recovery is followed
 *   by the same recovery.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "errors.h"
#include "hmap.h"
#include "index.h"
#include "internal.h"
#include "lane.h"
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

/* Mark @p rec as superseded by @p seq unless it already is.  A read-only
 * open writes nothing: it counts the mark it could not make. */
static void dk_recover_mark(struct daxkv *db, struct dk_rec *rec, uint64_t seq)
{
	if (rec->superseded != 0)
		return;
	if (db->rdonly)
		__atomic_fetch_add(&db->stale_marks, 1, __ATOMIC_RELAXED);
	else
		dk_store8_flush(&db->pm, (uint64_t *)&rec->superseded, seq);
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
			dk_recover_mark(db, rec, cur->seq);
			dk_entry_unlock(e);
			return 0;
		}
		dk_recover_mark(db, cur, rec->seq);
	}
	/* no reader exists yet: no old version is kept */
	e->cur = loc;
	e->vlen = rec->vlen;
	dk_hmap_set(db, e, hash, loc);
	dk_entry_unlock(e);
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
		uint64_t seq, end = dk_batch_end(seg, off, prev_seq, &valid);

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
		dk_store8_flush(&db->pm, (uint64_t *)&rec->superseded, 0);
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

/* Remove files that no committed metadata refers to. */
static void dk_remove_orphans(struct daxkv *db)
{
	DIR *dir = opendir(db->dir);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir)) != NULL) {
		unsigned slot;
		char tail;

		if (sscanf(de->d_name, "seg-%8u.dat%c", &slot, &tail) == 1 &&
		    strlen(de->d_name) == 16 &&
		    (slot >= DK_MAX_SEGMENTS ||
		     db->meta->segs[slot].state != DK_SEG_LIVE))
			unlinkat(db->dirfd, de->d_name, 0);
		else if (!strcmp(de->d_name, "meta.pool.tmp") ||
			 !strcmp(de->d_name, "checkpoint.tmp"))
			unlinkat(db->dirfd, de->d_name, 0);
	}
	closedir(dir);
}

int dk_recover(struct daxkv *db)
{
	uint64_t start = dk_now_ns();
	uint32_t *slots, n = 0;
	int rc;

	if (!db->rdonly)
		dk_remove_orphans(db);
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
		dk_segs_publish(db, slot, seg);
		db->nsegs++;
		db->seg_bytes += seg->size;
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

		if (seg->size - seg->tail >= 64 * 1024)
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
