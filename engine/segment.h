/* SPDX-License-Identifier: MIT */
/* segment.h -- data segment files (segment.c): create, map, validate, seal, reuse, remove. */
#ifndef DK_SEGMENT_H
#define DK_SEGMENT_H

#include "internal.h"

/* May a segment of this database be @p size bytes (layout.h)? */
bool dk_segment_size_ok(const struct daxkv *db, uint64_t size);
/* The size to make the next segment (format 2: in proportion to the
 * live data). */
uint64_t dk_segment_size_next(const struct daxkv *db);

/* Whom a new segment is for: how many segments of max_size it leaves
 * free (segment.c: dk_segment_reserve). */
enum dk_room {
	DK_ROOM_COMPACT = 0, /* a compaction's destination: all of it */
	DK_ROOM_DELETE = 1,  /* a commit of deletes only: one for compaction */
	DK_ROOM_PUT = 2,     /* anything else: one for deletes' tombstones
				too */
};

/*
 * Making a segment, in three parts so that the slow one holds no lock:
 * dk_segment_reserve (under seg_lock: a FREE slot nobody else has, and
 * room under max_size for @p room), dk_segment_make (no lock: file, prefault, header and directory
 * entry durable; the result is a spare, its slot still FREE), then
 * dk_segment_activate (under seg_lock: the slot's meta word LIVE, owned,
 * published; @p for_compaction: hidden from snapshots until the swap) or
 * dk_segment_discard (under seg_lock: unlinked, never LIVE).  A failed
 * make leaves the reservation to dk_segment_unreserve (under seg_lock).
 */
int dk_segment_reserve(struct daxkv *db, uint64_t size, enum dk_room room,
		       uint32_t *slotp);
void dk_segment_unreserve(struct daxkv *db, uint32_t slot, uint64_t size);
int dk_segment_make(struct daxkv *db, uint32_t slot, uint64_t size,
		    struct dk_segment **out);
void dk_segment_activate(struct daxkv *db, struct dk_segment *seg,
			 bool for_compaction);
void dk_segment_discard(struct daxkv *db, struct dk_segment *seg);
/* All three for a compaction's destination; caller holds no lock. */
int dk_segment_create_ex(struct daxkv *db, bool for_compaction,
			 struct dk_segment **out);
/* Remove a retired segment: slot FREE in the meta table (durable), file
 * unmapped and unlinked.  No reader may hold it; caller holds seg_lock. */
void dk_segment_remove(struct daxkv *db, struct dk_segment *seg);
/* The same, but the file stays, mapped, its slot taken and its bytes
 * pending, for dk_segment_renew.  Caller holds seg_lock. */
void dk_segment_free_keep(struct daxkv *db, struct dk_segment *seg);
/* Holding no lock: make a file kept by dk_segment_free_keep a spare of
 * its slot (records zeroed, a header of the next generation, durable);
 * @p old is freed (not unmapped) and *out replaces it.  On an error @p
 * old is as it was. */
int dk_segment_renew(struct daxkv *db, struct dk_segment *old,
		     struct dk_segment **out);
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

/* Does @p name in @p dirfd hold nothing past its header (every byte from
 * DK_SEG_HDR_SIZE to its end zero: no record was ever appended)?  false
 * if it cannot be read. */
bool dk_segment_file_empty(int dirfd, const char *name);

/* The seal word holds one of the marks (layout.h), not a tail. */
static inline bool dk_seal_is_mark(uint64_t word)
{
	return word == DK_SEAL_FILLING || word == DK_SEAL_RETIRED;
}

void dk_segment_path(const struct daxkv *db, uint32_t slot, char *buf,
		     size_t len);
const struct dk_seg_header *dk_segment_header(const struct dk_segment *seg);

#endif
