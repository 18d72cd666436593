// SPDX-License-Identifier: MIT
/*
 * fuzz_record.c -- libFuzzer target for the record decoder: the input is
 * the record area of a segment (after the 4 KiB header); the loop walks
 * it as recovery does (dk_rec_check, then dk_rec_size to the next), so
 * every length, flag and crc check runs on hostile bytes.  Nothing may
 * read outside the segment.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dk_segment seg;
	uint64_t off = DK_SEG_HDR_SIZE, prev = 0;
	size_t len = DK_SEG_HDR_SIZE + ((size + 7) & ~(size_t)7);
	uint8_t *base;

	if (size > (1u << 20))
		return 0;
	/* exactly sized, so ASan sees any read past the segment's end */
	base = calloc(1, len);
	if (!base)
		return 0;
	memcpy(base + DK_SEG_HDR_SIZE, data, size);
	memset(&seg, 0, sizeof(seg));
	seg.base = base;
	seg.size = len;
	while (off < seg.size && dk_rec_check(&seg, off, prev) == 0) {
		const struct dk_rec *rec = (const struct dk_rec *)(base + off);
		uint64_t next = off + dk_rec_size(rec->klen, rec->vlen);

		if (next <= off || next > seg.size)
			abort(); /* dk_rec_check let a record overrun */
		prev = rec->seq;
		off = next;
	}
	free(base);
	return 0;
}
