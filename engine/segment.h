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
/* What a segment file's own bytes say about it, for a slot that the meta
 * table does not call LIVE (segment.c: the order of create and remove). */
enum dk_seg_fate {
	DK_FATE_UNKNOWN = 0, /* not (recognisably) ours: keep, report */
	DK_FATE_ABORTED,     /* a create that never published: remove */
	DK_FATE_RETIRED,     /* a removal that never finished: remove */
	DK_FATE_LIVE,        /* a whole header of this slot that is neither:
				a live segment the table lost (keep) */
};

/* Classify @p name in @p dirfd, the file of @p slot whose table entry is
 * @p entry; *genp gets the generation its header names. */
enum dk_seg_fate dk_segment_file_fate(int dirfd, const char *name,
				      const uint8_t *uuid, uint32_t slot,
				      struct dk_seg_entry entry,
				      uint64_t segment_size, uint32_t *genp);

/* The seal word holds one of the marks (layout.h), not a tail. */
static inline bool dk_seal_is_mark(uint64_t word)
{
	return word == DK_SEAL_FILLING || word == DK_SEAL_RETIRED;
}

void dk_segment_path(const struct daxkv *db, uint32_t slot, char *buf,
		     size_t len);
const struct dk_seg_header *dk_segment_header(const struct dk_segment *seg);

#endif
