/* SPDX-License-Identifier: MIT */
/* lane.h -- append points and sequence numbers (lane.c). */
#ifndef DK_LANE_H
#define DK_LANE_H

#include "internal.h"

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
/* Make room for @p bytes in the lane's segment (rolling over if needed);
 * returns the segment and the offset where they go. */
int dk_lane_reserve(struct daxkv *db, struct dk_lane *lane, uint64_t bytes,
		    struct dk_segment **segp, uint64_t *offp);

#endif
