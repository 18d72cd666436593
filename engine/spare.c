// SPDX-License-Identifier: MIT
/*
 * spare.c -- segments made ready before a lane needs one.
 *
 * Making a segment is slow: the file is allocated, every page faulted in
 * (on DAX each fault also syncs file system metadata; in a VM a first
 * touch costs microseconds a page), and the directory fsynced.  A writer
 * that did that at roll-over held its lane, its entries' locks and a
 * sequence number meanwhile: every put of those keys, and every snapshot,
 * waited for it (hundreds of milliseconds at the tail, issue #20).
 *
 * So a background thread, the maker, keeps a few segments *ready* in
 * db->ready[] (under seg_lock), as many as lanes append (at least one):
 *
 * - spares: new files made by dk_segment_make (header and directory
 *   entry durable) whose slot is still FREE.  A lane that takes one
 *   makes it LIVE with one durable meta word (dk_segment_activate), the
 *   last step of segment.c's creation order, so the order and what a
 *   crash leaves are unchanged: a spare that no lane took is an aborted
 *   create, provably so by its own header (segment.c).
 * - reused segments: a LIVE segment with room left (from before a
 *   reopen, or a compaction's last destination, dk_offer_last) has its
 *   torn remains zeroed and its sealed tail cleared here
 *   (dk_segment_prepare_append), which reads the rest of the segment.
 *   While it waits it is `owned`, so no compaction takes it.
 *
 * A lane takes a ready segment under seg_lock (dk_spare_take) with no
 * entry lock held: write.c makes room before it locks any entry.  If
 * none is ready (the maker fell behind, or was never started:
 * DAXKV_OPEN_NOBACKGROUND), the writer lets go of its lane and makes one
 * itself, holding nothing (dk_spare_make_now), then starts over.
 *
 * Spares count as used space: their bytes are `pending_bytes`, under
 * max_size like the LIVE segments', and daxkv_stat's bytes_mapped
 * includes them.  At close they are unlinked.
 *
 * Locks: seg_lock for ready[] and the slot reservations; spare_wait_lock
 * (innermost: taken under seg_lock or nothing) for the maker's sleep.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "errors.h"
#include "internal.h"
#include "segment.h"
#include "spare.h"

/* Spares kept beyond one per appending lane: a compaction's
 * destinations come from them when there are some (dk_spare_for_compaction). */
#define DK_SPARE_EXTRA 1u

/* Ready segments to keep: one per lane with an open segment, at least
 * one.  Under seg_lock. */
static uint32_t dk_ready_target(struct daxkv *db)
{
	uint32_t n = __atomic_load_n(&db->nlanes, __ATOMIC_ACQUIRE), want = 0;

	for (uint32_t i = 0; i < n; i++)
		want += __atomic_load_n(&db->lanes[i].seg, __ATOMIC_RELAXED) !=
			NULL;
	if (want == 0)
		want = 1;
	return want < DK_MAX_READY ? want : DK_MAX_READY;
}

/* Spares in ready[] under seg_lock. */
static uint32_t dk_spares_ready(const struct daxkv *db)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < db->nready; i++)
		n += db->ready[i]->spare;
	return n;
}

void dk_spare_kick(struct daxkv *db)
{
	pthread_mutex_lock(&db->spare_wait_lock);
	db->spare_kicked = true;
	pthread_cond_signal(&db->spare_cond);
	pthread_mutex_unlock(&db->spare_wait_lock);
}

struct dk_segment *dk_spare_take(struct daxkv *db, uint64_t bytes)
{
	struct dk_segment *seg = NULL;
	uint32_t i;

	/* caller holds seg_lock.  A reused segment first: its room would
	 * otherwise wait for a compaction */
	for (i = 0; i < db->nready; i++)
		if (!db->ready[i]->spare &&
		    db->ready[i]->size - db->ready[i]->tail >= bytes)
			break;
	if (i == db->nready)
		for (i = 0; i < db->nready; i++)
			if (db->ready[i]->spare &&
			    db->ready[i]->size - DK_SEG_HDR_SIZE >= bytes)
				break;
	if (i == db->nready)
		return NULL;
	seg = db->ready[i];
	db->ready[i] = db->ready[--db->nready];
	if (seg->spare)
		dk_segment_activate(db, seg, false);
	dk_spare_kick(db); /* one fewer ready */
	return seg;
}

/* Size of the next spare. */
static uint64_t dk_spare_size(struct daxkv *db)
{
	return db->segment_size;
}

/* Make a spare and add it to ready[]: 0, 1 if ready[] filled meanwhile
 * (the spare is dropped), or an error.  Caller holds no lock. */
static int dk_spare_make_one(struct daxkv *db, uint64_t bytes)
{
	uint64_t size = dk_spare_size(db);

	(void)bytes; /* every write fits in a segment (lane.c) */
	struct dk_segment *seg;
	uint32_t slot;
	int rc;

	pthread_mutex_lock(&db->seg_lock);
	rc = dk_segment_reserve(db, size, false, &slot);
	pthread_mutex_unlock(&db->seg_lock);
	if (rc)
		return rc;
	rc = dk_segment_make(db, slot, size, &seg);
	pthread_mutex_lock(&db->seg_lock);
	if (rc) {
		dk_segment_unreserve(db, slot, size);
	} else if (db->nready < DK_MAX_READY) {
		db->ready[db->nready++] = seg;
	} else {
		dk_segment_discard(db, seg);
		rc = 1;
	}
	pthread_mutex_unlock(&db->seg_lock);
	return rc;
}

int dk_spare_for_compaction(struct daxkv *db, struct dk_segment **out)
{
	struct dk_segment *seg = NULL;

	pthread_mutex_lock(&db->seg_lock);
	if (dk_spares_ready(db) > dk_ready_target(db)) {
		for (uint32_t i = 0; i < db->nready; i++)
			if (db->ready[i]->spare) {
				seg = db->ready[i];
				db->ready[i] = db->ready[--db->nready];
				break;
			}
		dk_segment_activate(db, seg, true);
	}
	pthread_mutex_unlock(&db->seg_lock);
	if (seg) {
		dk_spare_kick(db);
		*out = seg;
		return 0;
	}
	return dk_segment_create_ex(db, true, out);
}

void dk_spare_retired(struct daxkv *db, struct dk_segment *seg)
{
	/* caller holds seg_lock */
	if (db->spare_started && db->nrecycle < DK_MAX_READY &&
	    seg->size == dk_spare_size(db)) {
		dk_segment_free_keep(db, seg);
		db->recycle[db->nrecycle++] = seg;
		dk_spare_kick(db);
	} else {
		dk_segment_remove(db, seg);
	}
}

int dk_spare_make_now(struct daxkv *db, uint64_t bytes)
{
	int rc = dk_spare_make_one(db, bytes);

	return rc < 0 ? rc : 0;
}

/* Unmap and unlink a spare or a kept file whose reservation was given
 * back: never LIVE again, so dead by its header (segment.c). */
static void dk_spare_drop(struct daxkv *db, struct dk_segment *seg)
{
	char path[4096];

	dk_segment_path(db, seg->slot, path, sizeof(path));
	dk_segment_unmap(seg);
	unlink(path);
}

/* Make a removed segment's file a spare, or unlink it if enough are
 * ready.  Caller holds seg_lock, which is let go meanwhile. */
static int dk_spare_renew_one(struct daxkv *db, uint32_t target)
{
	struct dk_segment *old = db->recycle[--db->nrecycle], *seg = NULL;
	int rc = 0;

	if (db->nready < target + DK_SPARE_EXTRA &&
	    db->nready < DK_MAX_READY) {
		pthread_mutex_unlock(&db->seg_lock);
		rc = dk_segment_renew(db, old, &seg);
		pthread_mutex_lock(&db->seg_lock);
		if (rc == 0) {
			old = NULL;
			if (db->nready < DK_MAX_READY) {
				db->ready[db->nready++] = seg;
				return 0;
			}
		}
	}
	/* not wanted: the file goes, outside the lock */
	if (!old)
		old = seg;
	dk_segment_unreserve(db, old->slot, old->size);
	pthread_mutex_unlock(&db->seg_lock);
	dk_spare_drop(db, old);
	pthread_mutex_lock(&db->seg_lock);
	return rc;
}

/*
 * One step of the maker: renew a removed segment's file, reopen a reused
 * segment or make a spare if fewer than the target are ready.  1 if it
 * did something, 0 if nothing was wanted, or an error (then it waits to
 * be woken).
 */
static int dk_spare_step(struct daxkv *db)
{
	struct dk_segment *seg;
	uint32_t target;
	int rc;

	pthread_mutex_lock(&db->seg_lock);
	target = dk_ready_target(db);
	if (db->nrecycle) {
		rc = dk_spare_renew_one(db, target);
		pthread_mutex_unlock(&db->seg_lock);
		return rc < 0 ? rc : 1;
	}
	if (db->nready >= target) {
		pthread_mutex_unlock(&db->seg_lock);
		return 0;
	}
	if (db->nreuse == 0) {
		pthread_mutex_unlock(&db->seg_lock);
		rc = dk_spare_make_one(db, 0);
		return rc < 0 ? rc : 1;
	}
	/* the last offered first (recovery offers the emptiest last) */
	seg = db->segs[db->reuse[--db->nreuse]];
	seg->owned = true; /* no compaction takes it now */
	pthread_mutex_unlock(&db->seg_lock);
	rc = dk_segment_prepare_append(db, seg);
	pthread_mutex_lock(&db->seg_lock);
	if (rc == 0 && db->nready < DK_MAX_READY) {
		db->ready[db->nready++] = seg;
	} else {
		seg->owned = false;
		db->reuse[db->nreuse++] = seg->slot;
	}
	pthread_mutex_unlock(&db->seg_lock);
	return rc < 0 ? rc : 1;
}

/*
 * The maker works only when woken: a lane took a ready segment, a
 * compaction offered a segment for reuse or freed space.  So a handle
 * nobody writes to makes nothing, and a failure (ENOSPC, EIO) is tried
 * again at the next wake-up, not in a loop.
 */
static void *dk_spare_run(void *arg)
{
	struct daxkv *db = arg;

	for (;;) {
		pthread_mutex_lock(&db->spare_wait_lock);
		while (!db->spare_stop && !db->spare_kicked)
			pthread_cond_wait(&db->spare_cond, &db->spare_wait_lock);
		db->spare_kicked = false;
		if (db->spare_stop) {
			pthread_mutex_unlock(&db->spare_wait_lock);
			break;
		}
		pthread_mutex_unlock(&db->spare_wait_lock);
		while (!__atomic_load_n(&db->spare_stop, __ATOMIC_RELAXED)) {
			if (dk_spare_step(db) <= 0)
				break;
		}
	}
	return NULL;
}

int dk_spare_start(struct daxkv *db)
{
	int err;

	/* spare_cond (CLOCK_MONOTONIC) is set up with the handle (db.c) */
	err = pthread_create(&db->spare_maker, NULL, dk_spare_run, db);
	if (err)
		return dk_err_errno(DAXKV_ENOMEM, err,
				    "cannot start the segment maker thread");
	db->spare_started = true;
	return 0;
}

void dk_spare_stop(struct daxkv *db)
{
	if (db->spare_started) {
		pthread_mutex_lock(&db->spare_wait_lock);
		__atomic_store_n(&db->spare_stop, true, __ATOMIC_RELAXED);
		pthread_cond_signal(&db->spare_cond);
		pthread_mutex_unlock(&db->spare_wait_lock);
		pthread_join(db->spare_maker, NULL);
		db->spare_started = false;
	}
	pthread_mutex_lock(&db->seg_lock);
	while (db->nrecycle)
		dk_segment_discard(db, db->recycle[--db->nrecycle]);
	while (db->nready) {
		struct dk_segment *seg = db->ready[--db->nready];

		if (seg->spare) {
			dk_segment_discard(db, seg);
		} else {
			seg->owned = false;
			db->reuse[db->nreuse++] = seg->slot;
		}
	}
	pthread_mutex_unlock(&db->seg_lock);
}
