// SPDX-License-Identifier: MIT
/*
 * lane.c -- append points (lanes) and sequence numbers.
 *
 * Writers do not share a lock.  Each write takes a lane: a mutex that is
 * almost always uncontended (a thread keeps using the lane it had last),
 * an open segment that only this lane appends to, and an in-flight slot.
 * Lanes are added on demand up to max_lanes.
 *
 * Sequence numbers.  next_seq is a global counter.  A writer first sets
 * its lane's inflight to 1, then takes seq = next_seq++, then sets
 * inflight = seq, does its work (record durable, index updated, the old
 * version marked superseded) and sets inflight = 0.  A snapshot reads
 * s = next_seq - 1 and then waits, lane by lane, while a lane's inflight
 * is non-zero and <= s.  Because inflight is set before the increment
 * (all seq_cst), any writer that took a seq <= s is seen by that wait,
 * so when it ends every commit <= s is complete and none > s is visible
 * at s (snapshot.c takes snapshots that way).  The wait covers only
 * writes already in progress: short.
 */
#include <errno.h>
#include <unistd.h>

#include "errors.h"
#include "internal.h"
#include "lane.h"
#include "segment.h"
#include "spare.h"

static __thread uint32_t dk_lane_hint;
static __thread uint32_t dk_thread_slot = UINT32_MAX;
static uint32_t dk_thread_slots; /* atomic: hands out dk_thread_slot */

struct dk_rcounter *dk_thread_rcounter(struct daxkv *db)
{
	if (unlikely(dk_thread_slot == UINT32_MAX))
		dk_thread_slot = __atomic_fetch_add(&dk_thread_slots, 1,
						    __ATOMIC_RELAXED);
	return &db->rcount[dk_thread_slot % DK_MAX_LANES];
}

/*
 * Add a lane, locked, and set *hint to its index; NULL when max_lanes are
 * in use.  *np gets the number of lanes seen.
 */
static struct dk_lane *dk_lane_add(struct daxkv *db, uint32_t *hint,
				   uint32_t *np)
{
	struct dk_lane *lane = NULL;
	uint32_t n;

	pthread_mutex_lock(&db->lane_grow_lock);
	n = __atomic_load_n(&db->nlanes, __ATOMIC_ACQUIRE);
	if (n < db->max_lanes) {
		lane = &db->lanes[n];
		pthread_mutex_lock(&lane->lock);
		__atomic_store_n(&db->nlanes, n + 1, __ATOMIC_SEQ_CST);
		*hint = n;
	}
	pthread_mutex_unlock(&db->lane_grow_lock);
	*np = n;
	return lane;
}

struct dk_lane *dk_lane_acquire(struct daxkv *db)
{
	uint32_t n = __atomic_load_n(&db->nlanes, __ATOMIC_ACQUIRE);
	uint32_t hint = dk_lane_hint;
	struct dk_lane *lane;

	if (hint < n && pthread_mutex_trylock(&db->lanes[hint].lock) == 0)
		return &db->lanes[hint];
	for (uint32_t i = 0; i < n; i++) {
		if (pthread_mutex_trylock(&db->lanes[i].lock) == 0) {
			dk_lane_hint = i;
			return &db->lanes[i];
		}
	}
	/* all busy: open another lane if allowed */
	lane = dk_lane_add(db, &dk_lane_hint, &n);
	if (lane)
		return lane;
	hint = hint < n ? hint : (uint32_t)(pthread_self() % n);
	pthread_mutex_lock(&db->lanes[hint].lock);
	dk_lane_hint = hint;
	return &db->lanes[hint];
}

/*
 * A lane for a thread that writes the hash index but never appends (the
 * compactor's swap).  dk_lane_acquire would hand it the lane a writer
 * just let go of; the writer would then find its lane busy, move to
 * another and open a second segment there, and the first would sit half
 * filled, owned by a lane nobody appends to: one segment of space lost
 * for good (measured: two owned segments with one writer thread).  So this
 * thread keeps a lane of its own, with no open segment, added the first
 * time; only when no lane can be added does it share.
 */
static __thread uint32_t dk_quiet_hint = UINT32_MAX;

struct dk_lane *dk_lane_acquire_quiet(struct daxkv *db)
{
	uint32_t n = __atomic_load_n(&db->nlanes, __ATOMIC_ACQUIRE);
	uint32_t hint = dk_quiet_hint;
	struct dk_lane *lane;

	if (hint < n && pthread_mutex_trylock(&db->lanes[hint].lock) == 0) {
		if (!db->lanes[hint].seg)
			return &db->lanes[hint];
		pthread_mutex_unlock(&db->lanes[hint].lock);
	}
	lane = dk_lane_add(db, &dk_quiet_hint, &n);
	return lane ? lane : dk_lane_acquire(db);
}

void dk_lane_release(struct dk_lane *lane)
{
	pthread_mutex_unlock(&lane->lock);
}

uint64_t dk_seq_begin(struct daxkv *db, struct dk_lane *lane)
{
	uint64_t seq;

	/* the placeholder must be visible before the sequence is taken */
	__atomic_store_n(&lane->inflight, 1, __ATOMIC_SEQ_CST);
	seq = __atomic_fetch_add(&db->next_seq, 1, __ATOMIC_SEQ_CST);
	/* lowering 1 to seq or to 0 only ever ends a snapshot's wait */
	__atomic_store_n(&lane->inflight, seq, __ATOMIC_RELEASE);
	return seq;
}

void dk_seq_end(struct dk_lane *lane)
{
	__atomic_store_n(&lane->inflight, 0, __ATOMIC_RELEASE);
}

/* Completed sequence without waiting: a lower bound of what a snapshot
 * waits for (snapshot.c: dk_snapshot_seq_wait). */
uint64_t dk_completed_seq(struct daxkv *db)
{
	uint64_t low = __atomic_load_n(&db->next_seq, __ATOMIC_SEQ_CST);
	uint32_t n = __atomic_load_n(&db->nlanes, __ATOMIC_SEQ_CST);

	for (uint32_t i = 0; i < n; i++) {
		uint64_t busy = __atomic_load_n(&db->lanes[i].inflight,
						__ATOMIC_SEQ_CST);

		if (busy && busy < low)
			low = busy;
	}
	return low - 1;
}

int dk_lane_make_room(struct daxkv *db, struct dk_lane *lane, uint64_t bytes,
		      enum dk_room room)
{
	struct dk_segment *seg = lane->seg, *next;

	if (bytes > db->segment_size - DK_SEG_HDR_SIZE)
		return dk_err(DAXKV_EINVAL,
			      "write of %llu bytes does not fit in a segment "
			      "of %llu bytes",
			      (unsigned long long)bytes,
			      (unsigned long long)db->segment_size);
	if (seg && seg->size - seg->tail >= bytes)
		return 0;
	/*
	 * Roll over to a ready segment (spare.c): one durable meta word to
	 * make a spare LIVE, one for the old segment's sealed tail.  No
	 * entry lock is held (write.c), and nothing slow happens here.
	 */
	pthread_mutex_lock(&db->seg_lock);
	next = dk_spare_take(db, bytes, room);
	if (next && seg) {
		/* the old one keeps what it has; nothing more goes in */
		dk_segment_seal(db, seg);
		seg->owned = false;
	}
	if (next) {
		__atomic_store_n(&lane->seg, next, __ATOMIC_RELAXED);
		lane->line_seg = NULL; /* write.c: no line of it is known yet */
	}
	pthread_mutex_unlock(&db->seg_lock);
	return next ? 0 : DK_LANE_NO_SEGMENT;
}

/*
 * Idle lanes keep their open segments, which no round may take: after a
 * burst of writes on several lanes (more lanes open while writers find
 * theirs busy), their half-dead segments held space amplification above
 * 3 with the compactor finding nothing to do (ycsb_e2e_test
 * space_compaction_on: 6 of 11 segments were lanes' or ready ones).  A
 * segment whose tail has not moved since the compactor's previous look
 * (20 ms or more) and that is more than half dead is sealed, as a
 * roll-over does; the lane's next write takes a ready segment.
 */
void dk_lanes_let_go_idle(struct daxkv *db)
{
	uint32_t n = __atomic_load_n(&db->nlanes, __ATOMIC_ACQUIRE);
	bool tight;

	/*
	 * Not when room is short: a sealed segment's room is lost until a
	 * round frees it, and near max_size or a full file system that room
	 * is what deletes need (compact_test empty, under ASan: a delete
	 * met ENOSPC after its lane's segment was sealed).  Short: the file
	 * system's free blocks are low (spare.c), or max_size leaves fewer
	 * than four more segments.
	 */
	pthread_mutex_lock(&db->seg_lock);
	tight = __atomic_load_n(&db->room_low, __ATOMIC_RELAXED) ||
		(db->max_size &&
		 DK_META_POOL_SIZE + db->seg_bytes + db->pending_bytes +
				 4 * dk_segment_size_next(db) >
			 db->max_size);
	pthread_mutex_unlock(&db->seg_lock);
	if (tight)
		return;

	for (uint32_t i = 0; i < n; i++) {
		struct dk_lane *lane = &db->lanes[i];
		struct dk_segment *seg;

		if (pthread_mutex_trylock(&lane->lock) != 0)
			continue; /* a writer appends there now */
		seg = lane->seg;
		if (seg) {
			uint64_t tail = __atomic_load_n(&seg->tail,
							__ATOMIC_ACQUIRE);
			int64_t l = __atomic_load_n(&seg->live,
						    __ATOMIC_RELAXED);
			uint64_t live = l > 0 ? (uint64_t)l : 0;

			if (tail == lane->idle_tail &&
			    live * 2 < tail - DK_SEG_HDR_SIZE) {
				pthread_mutex_lock(&db->seg_lock);
				dk_segment_seal(db, seg);
				seg->owned = false;
				__atomic_store_n(&lane->seg, NULL,
						 __ATOMIC_RELAXED);
				lane->line_seg = NULL;
				pthread_mutex_unlock(&db->seg_lock);
			}
			lane->idle_tail = tail;
		}
		pthread_mutex_unlock(&lane->lock);
	}
}

void dk_lanes_let_go_tombs(struct daxkv *db)
{
	uint32_t n = __atomic_load_n(&db->nlanes, __ATOMIC_ACQUIRE);
	uint32_t hi = __atomic_load_n(&db->seg_hiwater, __ATOMIC_ACQUIRE);
	uint64_t newest_tomb = 0;

	/* the newest segment that holds tombstones: a put older than its
	 * newest record may hold some of them back */
	pthread_mutex_lock(&db->seg_lock);
	for (uint32_t slot = 0; slot < hi; slot++) {
		struct dk_segment *seg = db->segs[slot];
		uint64_t max;

		if (!seg || __atomic_load_n(&seg->tomb, __ATOMIC_RELAXED) <= 0)
			continue;
		max = __atomic_load_n(&seg->max_seq, __ATOMIC_RELAXED);
		if (max > newest_tomb)
			newest_tomb = max;
	}
	/* reused segments waiting for a lane: the same */
	if (newest_tomb)
		dk_spare_unready_older(db, newest_tomb);
	pthread_mutex_unlock(&db->seg_lock);
	for (uint32_t i = 0; i < n && newest_tomb; i++) {
		struct dk_lane *lane = &db->lanes[i];
		struct dk_segment *seg;
		uint64_t put;

		if (pthread_mutex_trylock(&lane->lock) != 0)
			continue; /* a writer appends there now */
		seg = lane->seg;
		put = seg ? __atomic_load_n(&seg->min_put_seq, __ATOMIC_RELAXED)
			  : 0;
		if (seg && (__atomic_load_n(&seg->tomb, __ATOMIC_RELAXED) > 0 ||
			    (put && put < newest_tomb))) {
			/* as a roll-over does; the next write of this lane
			 * takes a ready segment (dk_lane_make_room) */
			pthread_mutex_lock(&db->seg_lock);
			dk_segment_seal(db, seg);
			seg->owned = false;
			__atomic_store_n(&lane->seg, NULL, __ATOMIC_RELAXED);
			lane->line_seg = NULL;
			pthread_mutex_unlock(&db->seg_lock);
		}
		pthread_mutex_unlock(&lane->lock);
	}
}

int dk_lane_reserve(struct daxkv *db, struct dk_lane *lane, uint64_t bytes,
		    struct dk_segment **segp, uint64_t *offp)
{
	struct dk_segment *seg = lane->seg;

	/* dk_lane_make_room made room for at least this much, and the lane
	 * has been held since */
	if (!seg || seg->size - seg->tail < bytes)
		return dk_err(DAXKV_EIO,
			      "internal: no room for %llu bytes in the lane's "
			      "segment",
			      (unsigned long long)bytes);
	*segp = seg;
	*offp = seg->tail;
	return 0;
}
