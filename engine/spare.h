/* SPDX-License-Identifier: MIT */
/* spare.h -- segments made ready before a lane needs one (spare.c). */
#ifndef DK_SPARE_H
#define DK_SPARE_H

#include "internal.h"

#include "segment.h"

/* Under seg_lock: a ready segment with room for @p bytes for a commit of
 * class @p room (DK_ROOM_PUT or DK_ROOM_DELETE: the reserve it leaves),
 * now LIVE and owned (a spare is activated: one durable meta word), or
 * NULL. */
struct dk_segment *dk_spare_take(struct daxkv *db, uint64_t bytes,
				 enum dk_room room);
/* Holding no lock: make a spare with room for @p bytes now, for class
 * @p room (a writer found none ready).  0 or an error (DAXKV_ENOSPC
 * under max_size or on a full file system). */
int dk_spare_make_now(struct daxkv *db, uint64_t bytes, enum dk_room room);
/* Holding no lock: a compaction's next destination (LIVE, hidden): a
 * spare beyond what the lanes need, or a new segment. */
int dk_spare_for_compaction(struct daxkv *db, struct dk_segment **out);
/* Under seg_lock: remove a retired segment (dk_segment_remove), keeping
 * its file for the maker to make a spare of if @p keep (the background
 * compactor: spares will be wanted) or room is low (the reserve). */
void dk_spare_retired(struct daxkv *db, struct dk_segment *seg, bool keep);
/* Wake the maker (no lock, or seg_lock). */
void dk_spare_kick(struct daxkv *db);
/* Reused segments in ready[] that hold a put older than @p seq go back
 * to the reuse list, where compaction may take them (lane.c:
 * dk_lanes_let_go_tombs).  Caller holds seg_lock. */
void dk_spare_unready_older(struct daxkv *db, uint64_t seq);
/* Start the maker thread (open); stop it and unlink the spares (close). */
int dk_spare_start(struct daxkv *db);
void dk_spare_stop(struct daxkv *db);

#endif
