/* SPDX-License-Identifier: MIT */
/* lane.h -- append points and sequence numbers (lane.c). */
#ifndef DK_LANE_H
#define DK_LANE_H

#include "internal.h"
#include "segment.h"

/* This thread's read-counter block. */
struct dk_rcounter *dk_thread_rcounter(struct daxkv *db);

struct dk_lane *dk_lane_acquire(struct daxkv *db);
/* A lane with no open segment, for a thread that writes the hash index
 * but never appends (the compactor's swap). */
struct dk_lane *dk_lane_acquire_quiet(struct daxkv *db);
void dk_lane_release(struct dk_lane *lane);
uint64_t dk_seq_begin(struct daxkv *db, struct dk_lane *lane);
void dk_seq_end(struct dk_lane *lane);
/* Every commit <= the returned sequence has ended (a lower bound, no
 * waiting): a writer still in flight holds a larger one. */
uint64_t dk_completed_seq(struct daxkv *db);
/* Holding the lane and no entry lock: make sure its segment has room for
 * @p bytes, rolling over to a ready segment if needed (spare.c) that a
 * commit of class @p room may take.  0, an
 * error, or DK_LANE_NO_SEGMENT when none is ready: then let go of the
 * lane, make one (dk_spare_make_now) and start over. */
#define DK_LANE_NO_SEGMENT 1
int dk_lane_make_room(struct daxkv *db, struct dk_lane *lane, uint64_t bytes,
		      enum dk_room room);
/* Seal the open segment of every lane that holds tombstones, or a put
 * that may hold some back (older than the newest segment with any), and
 * let it go: compaction may then take it, room and all (compact.c,
 * daxkv_compact).  Lanes busy writing are left alone.  Takes seg_lock,
 * then lane locks and seg_lock under them: call it holding none. */
void dk_lanes_let_go_tombs(struct daxkv *db);
/* The background compactor, when it found no round to make: seal the
 * open segment of every lane nobody appended to since its last look and
 * whose records are mostly dead, so that a round can take it. */
void dk_lanes_let_go_idle(struct daxkv *db);
/* Where @p bytes go in the lane's segment (room was made for them). */
int dk_lane_reserve(struct daxkv *db, struct dk_lane *lane, uint64_t bytes,
		    struct dk_segment **segp, uint64_t *offp);

#endif
