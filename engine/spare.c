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
 * Renewed files.  A segment that compaction retired is not unlinked
 * while spares are wanted: its file is made a spare again
 * (dk_segment_renew: records zeroed, a header of the next generation),
 * which costs a memset where a new file costs an allocation and a fault
 * per page.  A compaction takes its destinations from spares beyond the
 * lanes' (dk_spare_for_compaction).
 *
 * The reserve.  A full database must always be emptied: deletes must go
 * on where puts fail, and compaction must have somewhere to copy to
 * (segment.c: DK_ROOM_*).  Under max_size that is accounting.  On a file
 * system that fills up, no accounting helps: the room must be allocated
 * before it is needed.  So once the file system's free blocks are under
 * DK_LOW_SEGMENTS segments, the maker also keeps DK_SPARE_RESERVE spares,
 * and a lane takes a spare only if as many as its class leaves free (two
 * for a commit with a put, one for deletes only) could still be had
 * after it (ready, being made, or room for more); compaction may use
 * them to the last.  Retired segments' files are then kept as spares
 * rather than given back.
 *
 * Locks: seg_lock for ready[] and the slot reservations; spare_wait_lock
 * (innermost: taken under seg_lock or nothing) for the maker's sleep.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "errors.h"
#include "guard.h"
#include "internal.h"
#include "segment.h"
#include "spare.h"

/* Spares kept beyond one per appending lane: a compaction's
 * destinations come from them when there are some. */
#define DK_SPARE_EXTRA 1u
/* Spares kept for deletes and compaction when room runs low. */
#define DK_SPARE_RESERVE 2u
/* Room runs low under this many segments (file system or max_size). */
#define DK_LOW_SEGMENTS 8u

/* Spares for the lanes: one per lane with an open segment, at least
 * one.  Under seg_lock. */
static uint32_t dk_lanes_want(struct daxkv *db)
{
	uint32_t n = __atomic_load_n(&db->nlanes, __ATOMIC_ACQUIRE), want = 0;

	for (uint32_t i = 0; i < n; i++)
		want += __atomic_load_n(&db->lanes[i].seg, __ATOMIC_RELAXED) !=
			NULL;
	if (want == 0)
		want = 1;
	return want;
}

/* The reserve the lanes must leave, now (0 while room is plenty). */
static uint32_t dk_reserve_want(const struct daxkv *db)
{
	return __atomic_load_n(&db->room_low, __ATOMIC_RELAXED) ?
		       DK_SPARE_RESERVE :
		       0;
}

static uint32_t dk_cap(uint32_t n)
{
	return n < DK_MAX_READY ? n : DK_MAX_READY;
}

/* Spares in ready[] under seg_lock. */
static uint32_t dk_spares_ready(const struct daxkv *db)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < db->nready; i++)
		n += db->ready[i]->spare;
	return n;
}

/* Take ready[i] out (under seg_lock). */
static struct dk_segment *dk_ready_remove(struct daxkv *db, uint32_t i)
{
	struct dk_segment *seg = db->ready[i];

	db->ready[i] = db->ready[--db->nready];
	return seg;
}

void dk_spare_unready_older(struct daxkv *db, uint64_t seq)
{
	for (uint32_t i = 0; i < db->nready;) {
		struct dk_segment *seg = db->ready[i];
		uint64_t put = __atomic_load_n(&seg->min_put_seq,
					       __ATOMIC_RELAXED);

		if (seg->spare || !put || put >= seq) {
			i++;
			continue;
		}
		/* as dk_ready_add lets one go */
		seg->owned = false;
		db->reuse[db->nreuse++] = seg->slot;
		dk_ready_remove(db, i);
	}
}

/*
 * Is room low on the file system?  Its free blocks against
 * DK_LOW_SEGMENTS segments.  (Under max_size the reserve is accounting,
 * segment.c, and needs no spares.)  No lock held.
 */
static void dk_room_check(struct daxkv *db)
{
	struct statvfs sv;
	uint64_t free_segs = UINT32_MAX;

	if (fstatvfs(db->dirfd, &sv) == 0)
		free_segs = (uint64_t)sv.f_bavail * sv.f_frsize /
			    dk_segment_size_next(db);
	__atomic_store_n(&db->room_segs,
			 free_segs < UINT32_MAX ? (uint32_t)free_segs :
						  UINT32_MAX,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&db->room_low, free_segs < DK_LOW_SEGMENTS,
			 __ATOMIC_RELAXED);
}

/*
 * May a commit that leaves @p leave spares take one?  When room is low,
 * only if that many could still be had after it: spares ready, being
 * made, or room for more.  Under seg_lock.
 */
static bool dk_may_take_spare(const struct daxkv *db, uint32_t leave)
{
	uint64_t could;

	if (!dk_reserve_want(db))
		return dk_spares_ready(db) > 0;
	could = (uint64_t)dk_spares_ready(db) + db->nmaking +
		__atomic_load_n(&db->room_segs, __ATOMIC_RELAXED);
	return dk_spares_ready(db) > 0 && could > leave;
}

void dk_spare_kick(struct daxkv *db)
{
	pthread_mutex_lock(&db->spare_wait_lock);
	db->spare_kicked = true;
	pthread_cond_signal(&db->spare_cond);
	pthread_mutex_unlock(&db->spare_wait_lock);
}

struct dk_segment *dk_spare_take(struct daxkv *db, uint64_t bytes,
				 enum dk_room room)
{
	uint32_t i, leave = dk_reserve_want(db) ? (uint32_t)room : 0;
	struct dk_segment *seg;

	/* caller holds seg_lock.  A reused segment first: its room would
	 * otherwise wait for a compaction, and it takes no new space */
	for (i = 0; i < db->nready; i++)
		if (!db->ready[i]->spare &&
		    db->ready[i]->size - db->ready[i]->tail >= bytes)
			break;
	if (i == db->nready && dk_may_take_spare(db, leave))
		for (i = 0; i < db->nready; i++)
			if (db->ready[i]->spare &&
			    db->ready[i]->size - DK_SEG_HDR_SIZE >= bytes)
				break;
	if (i == db->nready)
		return NULL;
	seg = dk_ready_remove(db, i);
	if (seg->spare)
		dk_segment_activate(db, seg, false);
	dk_spare_kick(db); /* one fewer ready */
	return seg;
}

/* Size of the next spare: room for @p bytes at least (segment.c:
 * dk_segment_size_next). */
static uint64_t dk_spare_size(struct daxkv *db, uint64_t bytes)
{
	uint64_t size = dk_segment_size_next(db);

	while (size - DK_SEG_HDR_SIZE < bytes && size < db->segment_size)
		size *= 2;
	return size < db->segment_size ? size : db->segment_size;
}

/* Add @p seg to ready[] (under seg_lock); when it is full, a reopened
 * segment goes back to the reuse list to make room.  false: full of
 * spares. */
static bool dk_ready_add(struct daxkv *db, struct dk_segment *seg)
{
	if (db->nready == DK_MAX_READY) {
		uint32_t i;

		for (i = 0; i < db->nready && db->ready[i]->spare; i++)
			;
		if (i < db->nready) {
			db->ready[i]->owned = false;
			db->reuse[db->nreuse++] = db->ready[i]->slot;
			dk_ready_remove(db, i);
		} else {
			/*
			 * Full of spares: a smaller one goes for a bigger
			 * one.  A writer whose batch fits none of them made
			 * this one for itself; dropped, it would make it
			 * again, for ever (rows_test memory: 64 Ki-record
			 * batches of 2.5 MiB with ready[] full of 2 MiB
			 * spares).
			 */
			for (i = 0; i < db->nready &&
				    db->ready[i]->size >= seg->size; i++)
				;
			if (i == db->nready)
				return false;
			dk_segment_discard(db, dk_ready_remove(db, i));
		}
	}
	db->ready[db->nready++] = seg;
	return true;
}

/* Make a spare with room for @p bytes, for @p room, and add it to ready[]: 0, 1 if ready[] filled
 * meanwhile (the spare is dropped), or an error.  Caller holds no
 * lock. */
static int dk_spare_make_one(struct daxkv *db, uint64_t bytes,
			     enum dk_room room)
{
	uint64_t size = dk_spare_size(db, bytes);
	struct dk_segment *seg;
	uint32_t slot;
	int rc;

	pthread_mutex_lock(&db->seg_lock);
	rc = dk_segment_reserve(db, size, room, &slot);
	db->nmaking += rc == 0;
	pthread_mutex_unlock(&db->seg_lock);
	if (rc)
		return rc;
	rc = dk_segment_make(db, slot, size, &seg);
	pthread_mutex_lock(&db->seg_lock);
	db->nmaking--;
	if (rc) {
		dk_segment_unreserve(db, slot, size);
	} else if (!dk_ready_add(db, seg)) {
		dk_segment_discard(db, seg);
		rc = 1;
	}
	pthread_mutex_unlock(&db->seg_lock);
	return rc;
}

static int dk_spare_reopen_one(struct daxkv *db, uint64_t bytes);
static int dk_spare_renew_one(struct daxkv *db, uint32_t keep);

int dk_spare_make_now(struct daxkv *db, uint64_t bytes, enum dk_room room)
{
	int rc;

	/* room left in a segment first (without the maker, the only way it
	 * is used) */
	pthread_mutex_lock(&db->seg_lock);
	rc = dk_spare_reopen_one(db, bytes);
	/*
	 * Then a retired segment's file that waits for the maker to renew
	 * it.  Its space is taken until then, so on a full file system a
	 * new file cannot be made while it waits: a writer that left it to
	 * a maker slower than itself (a loaded machine) met ENOSPC with one
	 * or two such files on disk, and a database emptied and compacted
	 * refilled to 84% of its first fill (compact_test empty_fs).  Made
	 * a spare here (or unlinked, if too small for this commit or if
	 * ready[] is full), it is taken, or its room is, when the writer
	 * starts over.
	 */
	if (rc > 0 && db->nrecycle)
		rc = dk_spare_renew_one(
			db, db->recycle[db->nrecycle - 1]->size -
					    DK_SEG_HDR_SIZE >= bytes ?
				    dk_cap(db->nready + 1) :
				    0); /* too small: unlinked, its room freed */
	pthread_mutex_unlock(&db->seg_lock);
	if (rc <= 0)
		return rc;
	rc = dk_spare_make_one(db, bytes, room);
	if (rc == DAXKV_ENOSPC)
		dk_spare_kick(db); /* the maker looks at the room left */
	return rc < 0 ? rc : 0;
}

/* A ready spare for a compaction (under seg_lock): one beyond the lanes'
 * and the reserve, or with @p any, the last one. */
static struct dk_segment *dk_spare_take_for_compaction(struct daxkv *db,
							bool any)
{
	uint32_t keep = any ? 0 : dk_lanes_want(db) + dk_reserve_want(db);

	if (dk_spares_ready(db) <= keep)
		return NULL;
	for (uint32_t i = 0; i < db->nready; i++)
		if (db->ready[i]->spare) {
			struct dk_segment *seg = dk_ready_remove(db, i);

			dk_segment_activate(db, seg, true);
			return seg;
		}
	return NULL;
}

int dk_spare_for_compaction(struct daxkv *db, struct dk_segment **out)
{
	struct dk_segment *seg;
	int rc;

	pthread_mutex_lock(&db->seg_lock);
	seg = dk_spare_take_for_compaction(db, false);
	pthread_mutex_unlock(&db->seg_lock);
	if (!seg) {
		rc = dk_segment_create_ex(db, true, out);
		if (rc != DAXKV_ENOSPC)
			return rc;
		/* no room for a new file: the reserve is for this */
		pthread_mutex_lock(&db->seg_lock);
		seg = dk_spare_take_for_compaction(db, true);
		pthread_mutex_unlock(&db->seg_lock);
		if (!seg)
			return rc;
	}
	dk_spare_kick(db);
	*out = seg;
	return 0;
}

void dk_spare_retired(struct daxkv *db, struct dk_segment *seg, bool keep)
{
	/* caller holds seg_lock */
	if ((keep || dk_reserve_want(db)) && db->spare_started &&
	    db->nrecycle < DK_MAX_READY && seg->size == dk_spare_size(db, 0)) {
		dk_segment_free_keep(db, seg);
		db->recycle[db->nrecycle++] = seg;
		dk_spare_kick(db);
	} else {
		dk_segment_remove(db, seg);
	}
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

/* Make a removed segment's file a spare if fewer than @p keep are
 * ready, or unlink it.  Caller holds seg_lock, which is let go
 * meanwhile. */
static int dk_spare_renew_one(struct daxkv *db, uint32_t keep)
{
	struct dk_segment *old = db->recycle[--db->nrecycle], *seg = NULL;
	int rc = 0;

	if (db->nready < dk_cap(keep)) {
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
	/*
	 * Not wanted: the file goes, outside the lock, and only then its
	 * slot.  Given back first, the slot could be reserved and a new file
	 * of the same name made before this unlink ran, which would then
	 * remove that file: a LIVE segment whose file is gone at the next
	 * open (compact_test empty, once in a few runs on a loaded machine).
	 */
	if (!old)
		old = seg;
	{
		uint32_t slot = old->slot;
		uint64_t size = old->size;

		pthread_mutex_unlock(&db->seg_lock);
		dk_spare_drop(db, old);
		pthread_mutex_lock(&db->seg_lock);
		dk_segment_unreserve(db, slot, size);
	}
	return rc;
}

/*
 * Reopen for a lane the last segment offered for reuse (recovery offers
 * the emptiest last) with room for @p bytes: 0, 1 if there is none, or
 * an error.  Caller holds seg_lock, let go meanwhile.
 */
/* dk_segment_prepare_append under a guard: a media error where it reads
 * (or zeroes) past the tail refuses the segment, as damage there does. */
static int dk_spare_prepare(struct daxkv *db, struct dk_segment *seg)
{
	struct dk_guard g;
	int rc;

	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		return dk_guard_eio(db, &g, "a segment was made ready for "
					    "appends; it is not reused");
	}
	dk_guard_push(&g);
	rc = dk_segment_prepare_append(db, seg);
	dk_guard_pop(&g);
	return rc;
}

static int dk_spare_reopen_one(struct daxkv *db, uint64_t bytes)
{
	struct dk_segment *seg = NULL;
	uint32_t i = db->nreuse;
	int rc;

	while (i > 0 && !seg) {
		seg = db->segs[db->reuse[--i]];
		if (seg->size - seg->tail < bytes || seg->damaged)
			seg = NULL;
	}
	if (!seg)
		return 1;
	db->reuse[i] = db->reuse[--db->nreuse];
	seg->owned = true; /* no compaction takes it now */
	pthread_mutex_unlock(&db->seg_lock);
	rc = dk_spare_prepare(db, seg);
	pthread_mutex_lock(&db->seg_lock);
	if (rc) {
		/* refused (valid records past its tail: segment.c; a media
		 * error there): kept as it is, never reused, and another
		 * taken (or made) instead */
		seg->damaged = true;
		seg->owned = false;
		return dk_spare_reopen_one(db, bytes);
	} else if (!dk_ready_add(db, seg)) {
		seg->owned = false;
		db->reuse[db->nreuse++] = seg->slot;
	}
	return rc;
}

/*
 * One step of the maker: renew a removed segment's file, reopen a reused
 * segment, or make a spare (for a lane, then for the reserve) if fewer
 * are ready than wanted.  1 if it did something, 0 if nothing was
 * wanted, or an error (then it waits to be woken).
 */
static int dk_spare_step(struct daxkv *db)
{
	uint32_t lanes, reserve;
	int rc;

	dk_room_check(db);
	pthread_mutex_lock(&db->seg_lock);
	lanes = dk_lanes_want(db);
	reserve = dk_reserve_want(db);
	if (db->nrecycle) {
		rc = dk_spare_renew_one(db, lanes + reserve + DK_SPARE_EXTRA);
	} else if (db->nready < dk_cap(lanes) && db->nreuse) {
		rc = dk_spare_reopen_one(db, 0);
	} else if (dk_spares_ready(db) < dk_cap(lanes + reserve) &&
		   db->nready < DK_MAX_READY) {
		/* the lanes' spares leave the reserve's room free; the
		 * reserve's take it */
		enum dk_room room = dk_spares_ready(db) < lanes ?
					    DK_ROOM_PUT :
					    DK_ROOM_COMPACT;

		pthread_mutex_unlock(&db->seg_lock);
		rc = dk_spare_make_one(db, 0, room);
		return rc < 0 ? rc : 1;
	} else {
		pthread_mutex_unlock(&db->seg_lock);
		return 0;
	}
	pthread_mutex_unlock(&db->seg_lock);
	return rc < 0 ? rc : 1;
}

/*
 * The maker works only when woken: a lane took a ready segment, a
 * compaction offered a segment for reuse or freed space, a writer found
 * no room.  So a handle nobody writes to makes nothing, and a failure
 * (ENOSPC, EIO) is tried again at the next wake-up, not in a loop.
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
