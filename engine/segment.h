/* SPDX-License-Identifier: MIT */
/* segment.h -- data segment files (segment.c): create, map, validate, seal, reuse, remove. */
#ifndef DK_SEGMENT_H
#define DK_SEGMENT_H

#include "internal.h"

/* A new segment for a lane; caller holds seg_lock. */
int dk_segment_create(struct daxkv *db, struct dk_segment **out);
/* The same for a compaction: @p hidden from snapshots until the swap, and
 * allowed into the one segment of max_size that writers leave free. */
int dk_segment_create_ex(struct daxkv *db, bool for_compaction,
			 struct dk_segment **out);
/* Remove a retired segment: slot FREE in the meta table (durable), file
 * unmapped and unlinked.  No reader may hold it; caller holds seg_lock. */
void dk_segment_remove(struct daxkv *db, struct dk_segment *seg);
/* Map and check the segment of a LIVE slot (at open). */
int dk_segment_open(struct daxkv *db, uint32_t slot, struct dk_segment **out);
void dk_segment_unmap(struct dk_segment *seg);
/* Persist the sealed tail: no more appends until prepare_append. */
void dk_segment_seal(struct daxkv *db, struct dk_segment *seg);
/* Make a segment with room ready for appends at its tail. */
int dk_segment_prepare_append(struct daxkv *db, struct dk_segment *seg);
void dk_segment_path(const struct daxkv *db, uint32_t slot, char *buf,
		     size_t len);
const struct dk_seg_header *dk_segment_header(const struct dk_segment *seg);

#endif
