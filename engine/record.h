/* SPDX-License-Identifier: MIT */
/*
 * record.h -- records as the engine reads and writes them: the crc, the
 * validity test, the walk over one batch, and the limits of a caller's
 * key and value.  The format itself is layout.h's (the header struct is
 * in include/daxkv_device.h).
 */
#ifndef DK_RECORD_H
#define DK_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

struct dk_segment;

/* crc32c of a record: header bytes [4, 24), then key, then value. */
uint32_t dk_rec_crc(const struct dk_rec *hdr, const void *key,
		    const void *val);

/* 0 if the record at @p off of @p seg is valid (layout.h: crc, ranges,
 * seq >= @p min_seq) and fits in the segment, else -1. */
int dk_rec_check(const struct dk_segment *seg, uint64_t off,
		 uint64_t min_seq);

/*
 * The batch at @p off (a single record is a batch of one): the offset
 * just past it if all of its records are valid, with seq >= @p min_seq,
 * else 0.  *validp gets how many of its records were valid before the
 * first that was not, so 0 means the record at @p off itself is invalid
 * (the log ends there) and 0 < *validp < batch an incomplete batch.
 * Recovery (recovery.c) and the offline check (check.c) both walk a
 * segment's log with this, so they agree on where it ends.
 */
uint64_t dk_batch_end(const struct dk_segment *seg, uint64_t off,
		      uint64_t min_seq, uint32_t *validp);

/*
 * The first offset p in (@p off, @p limit), 8-aligned, where a complete
 * valid batch with seq >= @p min_seq starts, or 0 if there is none.
 * Every 8-byte step is tried (a damaged header says nothing reliable
 * about where its record ends), skipping zero pages and words fast: a
 * record's seq word is never 0.  Recovery calls it past the end of each
 * segment's log to tell damage from what a crash leaves (layout.h),
 * segment.c before it zeroes bytes past a tail, and check.c to find where
 * valid records resume after damage.
 */
uint64_t dk_log_resync(const struct dk_segment *seg, uint64_t off,
		       uint64_t limit, uint64_t min_seq);

/* A caller's key (1..DAXKV_MAX_KEY bytes) and, if @p has_val, value
 * (0..DAXKV_MAX_VALUE bytes): 0, or DAXKV_EINVAL saying which is wrong. */
int dk_check_kv(const void *key, size_t klen, const void *val, size_t vlen,
		bool has_val);

#endif
