// SPDX-License-Identifier: MIT
/*
 * units.c -- cutting a snapshot's records into units, for the backends.
 *
 * A unit is a run of whole records of one segment, below the tail the
 * snapshot captured (snapshot.c: below it every record is complete and
 * durable).  To spread a segment over threads, lanes or GPU threads a
 * reader must know where records start; only a sequential walk of the
 * headers tells.  So each segment keeps boundary marks: the first query
 * that reaches a segment walks it once and remembers, for every
 * DK_MARK_STRIDE bytes, where the first record at or after that point
 * starts; later queries walk only what was appended since.  This is DRAM
 * state, derived from the records, and is not a part of the format:
 * writers pay nothing for it.  The marks live in struct dk_segment
 * (internal.h), which frees them with the segment.
 */
#include <pthread.h>
#include <stdlib.h>

#include "backend.h"
#include "errors.h"
#include "guard.h"
#include "internal.h"
#include "snapshot.h"
#include "units.h"

/*
 * Extend @p seg's boundary marks up to @p tail (a record boundary) and
 * return them (valid up to that tail), or NULL on ENOMEM.  Caller holds
 * seg->marks_lock.
 */
static const uint32_t *dk_marks_extend(struct dk_segment *seg, uint64_t tail)
{
	uint64_t off;

	if (!seg->marks) {
		uint32_t n = (uint32_t)(seg->size >> DK_MARK_SHIFT) + 1;

		seg->marks = calloc(n, sizeof(*seg->marks));
		if (!seg->marks)
			return NULL;
		seg->marks_end = DK_SEG_HDR_SIZE;
	}
	/*
	 * Walk the headers from the last boundary seen up to @p tail.
	 * Below a captured tail every record is complete (snapshot.c), so
	 * lengths can be trusted; a length that would leave the walked range
	 * means the bytes are not what the engine wrote, and the walk stops
	 * there rather than read past the tail.
	 */
	for (off = seg->marks_end; off < tail;) {
		const struct dk_rec *rec =
			(const struct dk_rec *)(seg->base + off);
		uint64_t size = dk_rec_size(rec->klen, rec->vlen);

		while ((uint64_t)seg->nmarks << DK_MARK_SHIFT <= off)
			seg->marks[seg->nmarks++] = (uint32_t)off;
		if (rec->klen == 0 || off + size > tail)
			break;
		off += size;
	}
	seg->marks_end = off;
	return seg->marks;
}

/*
 * dk_marks_extend under a guard (guard.h): 0, DAXKV_ENOMEM, or DAXKV_EIO
 * naming where a media error stopped the walk (the marks stay valid up to
 * marks_end, which a landing leaves where it was).  Caller holds
 * seg->marks_lock, and keeps it.
 */
static int dk_marks_extend_guarded(struct daxkv *db, struct dk_segment *seg,
				   uint64_t tail, const uint32_t **marksp)
{
	struct dk_guard g;

	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		return dk_guard_eio(db, &g, "a query walked record headers");
	}
	dk_guard_push(&g);
	*marksp = dk_marks_extend(seg, tail);
	dk_guard_pop(&g);
	return *marksp ? 0 : dk_err(DAXKV_ENOMEM, "no memory for marks");
}

int dk_query_units(const struct daxkv_snapshot *s, uint64_t unit_bytes,
		   struct dk_qunit **unitsp, size_t *np, uint64_t *bytesp)
{
	uint32_t step = (uint32_t)(unit_bytes >> DK_MARK_SHIFT);
	struct dk_qunit *units = NULL;
	size_t n = 0, cap = 0;
	uint64_t bytes = 0;
	int rc;

	if (step == 0)
		step = 1;
	for (uint32_t i = 0; i < s->ntails; i++) {
		struct dk_segment *seg = s->tails[i].seg;
		uint64_t tail = s->tails[i].tail, start = DK_SEG_HDR_SIZE;
		const uint32_t *marks;

		pthread_mutex_lock(&seg->marks_lock);
		rc = dk_marks_extend_guarded(s->db, seg, tail, &marks);
		if (rc) {
			pthread_mutex_unlock(&seg->marks_lock);
			free(units);
			return rc;
		}
		if (seg->marks_end < tail) {
			uint64_t end = seg->marks_end;

			pthread_mutex_unlock(&seg->marks_lock);
			free(units);
			return dk_err(DAXKV_ECORRUPT,
				      "segment %u: bad record at offset %llu "
				      "below its tail %llu",
				      seg->slot, (unsigned long long)end,
				      (unsigned long long)tail);
		}
		for (uint32_t m = step;; m += step) {
			uint64_t end = m < seg->nmarks ? marks[m] : tail;

			if (end > tail)
				end = tail;
			if (end <= start)
				continue;
			if (n == cap) {
				size_t ncap = cap ? 2 * cap : 256;
				struct dk_qunit *grown =
					realloc(units, ncap * sizeof(*units));

				if (!grown) {
					pthread_mutex_unlock(&seg->marks_lock);
					free(units);
					return dk_err(DAXKV_ENOMEM,
						      "no memory for units");
				}
				units = grown;
				cap = ncap;
			}
			units[n++] = (struct dk_qunit){ .base = seg->base,
							.slot = seg->slot,
							.start = start,
							.end = end };
			bytes += end - start;
			start = end;
			if (end == tail)
				break;
		}
		pthread_mutex_unlock(&seg->marks_lock);
	}
	*unitsp = units;
	*np = n;
	*bytesp = bytes;
	return 0;
}

uint64_t dk_query_scan_bytes(const struct daxkv_snapshot *s)
{
	uint64_t bytes = 0;

	for (uint32_t i = 0; i < s->ntails; i++)
		if (s->tails[i].tail > DK_SEG_HDR_SIZE)
			bytes += s->tails[i].tail - DK_SEG_HDR_SIZE;
	return bytes;
}
