// SPDX-License-Identifier: MIT
/*
 * record.c -- the crc and validity test of records (layout.h), the walk
 * over one batch that recovery and the offline check share, and the
 * limits a caller's key and value are held to.
 */
#include <string.h>

#include "crc32c.h"
#include "errors.h"
#include "internal.h"
#include "record.h"

uint32_t dk_rec_crc(const struct dk_rec *hdr, const void *key,
		    const void *val)
{
	uint32_t crc = dk_crc32c(0, (const uint8_t *)hdr + 4, 20);

	crc = dk_crc32c(crc, key, hdr->klen);
	return dk_crc32c(crc, val, hdr->vlen);
}

int dk_rec_check(const struct dk_segment *seg, uint64_t off,
		 uint64_t min_seq)
{
	const struct dk_rec *rec;

	if (off + DK_REC_HDR_SIZE > seg->size)
		return -1;
	rec = (const struct dk_rec *)(seg->base + off);
	if (rec->seq == 0 || rec->seq < min_seq || rec->klen == 0 ||
	    rec->klen > DAXKV_MAX_KEY || rec->vlen > DAXKV_MAX_VALUE ||
	    (rec->flags & ~DK_REC_FLAGS_KNOWN) ||
	    !(rec->flags & (DK_REC_PUT | DK_REC_DEL)) ||
	    (rec->flags & (DK_REC_PUT | DK_REC_DEL)) ==
		    (DK_REC_PUT | DK_REC_DEL) ||
	    ((rec->flags & DK_REC_DEL) && rec->vlen) || rec->batch == 0 ||
	    rec->batch > DAXKV_MAX_BATCH_OPS ||
	    (rec->batch > 1) != !!(rec->flags & DK_REC_BATCH))
		return -1;
	if (off + dk_rec_size(rec->klen, rec->vlen) > seg->size)
		return -1;
	if (rec->crc != dk_rec_crc(rec, dk_rec_key(rec), dk_rec_val(rec)))
		return -1;
	return 0;
}

uint64_t dk_batch_end(const struct dk_segment *seg, uint64_t off,
		      uint64_t min_seq, uint32_t *validp)
{
	const struct dk_rec *rec;
	uint64_t end = off, seq;
	uint32_t count, valid = 0;

	*validp = 0;
	if (dk_rec_check(seg, off, min_seq) != 0)
		return 0;
	rec = (const struct dk_rec *)(seg->base + off);
	seq = rec->seq;
	count = rec->batch;
	/* the whole batch, or nothing (layout.h: batches); the first record
	 * was checked just above (its crc is not computed twice) */
	while (valid < count && end < seg->size &&
	       (end == off || dk_rec_check(seg, end, seq) == 0)) {
		const struct dk_rec *r = (const struct dk_rec *)(seg->base + end);

		if (r->seq != seq || r->batch != count)
			break;
		end += dk_rec_size(r->klen, r->vlen);
		valid++;
	}
	*validp = valid;
	return valid == count ? end : 0;
}

static const uint8_t dk_zero_page[4096];

uint64_t dk_log_resync(const struct dk_segment *seg, uint64_t off,
		       uint64_t limit, uint64_t min_seq)
{
	uint32_t valid;

	if (limit > seg->size)
		limit = seg->size;
	for (uint64_t pos = off + DK_REC_ALIGN; pos + DK_REC_HDR_SIZE <= limit;
	     pos += DK_REC_ALIGN) {
		uint64_t seqw = pos + offsetof(struct dk_rec, seq);

		/* a page of zeros holds no seq word: no record starts in
		 * [pos, pos + 4096) whose seq lies in it */
		if (seqw % sizeof(dk_zero_page) == 0 &&
		    seqw + sizeof(dk_zero_page) <= seg->size &&
		    memcmp(seg->base + seqw, dk_zero_page,
			   sizeof(dk_zero_page)) == 0) {
			pos += sizeof(dk_zero_page) - DK_REC_ALIGN;
			continue;
		}
		if (*(const uint64_t *)(seg->base + seqw) == 0)
			continue;
		if (dk_batch_end(seg, pos, min_seq, &valid))
			return pos;
	}
	return 0;
}

int dk_check_kv(const void *key, size_t klen, const void *val, size_t vlen,
		bool has_val)
{
	if (!key || klen == 0 || klen > DAXKV_MAX_KEY)
		return dk_err(DAXKV_EINVAL,
			      "key: %s (length %zu; 1..%u bytes allowed)",
			      key ? "bad length" : "NULL", klen, DAXKV_MAX_KEY);
	if (has_val && ((!val && vlen) || vlen > DAXKV_MAX_VALUE))
		return dk_err(DAXKV_EINVAL,
			      "value: %s (length %zu; 0..%u bytes allowed)",
			      val ? "too long" : "NULL", vlen, DAXKV_MAX_VALUE);
	return 0;
}
