// SPDX-License-Identifier: MIT
/*
 * media.c -- bad blocks and the unsafe shutdown count, from libpmem2.
 *
 * On fsdax and devdax, libpmem2 reads the bad blocks the kernel and the
 * platform know for the namespace under a file (through libndctl) and
 * translates them to offsets in the file; it reads the unsafe shutdown
 * count (USC) of the DIMMs under it.  Elsewhere (tmpfs, a disk, emulated
 * pmem) both report that they cannot say, which is not an error here.
 *
 * SDS word (meta root offset 72): bits 0-31 the USC + 1, bits 32-63 a
 * crc32c of the device id, so one failure-atomic 8-byte store records
 * both, and 0 means "never recorded" (a database of an older library).
 */
#include <string.h>

#include <libpmem2.h>

#include "crc32c.h"
#include "media.h"

static struct pmem2_badblock_context *dk_media_bbctx(int fd,
						     struct pmem2_source **srcp)
{
	struct pmem2_badblock_context *ctx = NULL;

	*srcp = NULL;
	if (pmem2_source_from_fd(srcp, fd) != 0)
		return NULL;
	if (pmem2_badblock_context_new(&ctx, *srcp) != 0) {
		pmem2_source_delete(srcp);
		return NULL;
	}
	return ctx;
}

int dk_media_badblock_first(int fd, uint64_t from, uint64_t *offp,
			    uint64_t *lenp)
{
	struct pmem2_source *src;
	struct pmem2_badblock_context *ctx = dk_media_bbctx(fd, &src);
	struct pmem2_badblock bb;
	int found = 0;

	if (!ctx)
		return 0;
	while (pmem2_badblock_next(ctx, &bb) == 0) {
		if (bb.offset + bb.length <= from)
			continue;
		if (!found || bb.offset < *offp) {
			*offp = bb.offset;
			*lenp = bb.length;
			found = 1;
		}
	}
	pmem2_badblock_context_delete(&ctx);
	pmem2_source_delete(&src);
	return found;
}

int dk_media_badblock_clear(int fd, uint64_t off, uint64_t len)
{
	struct pmem2_source *src;
	struct pmem2_badblock_context *ctx = dk_media_bbctx(fd, &src);
	struct pmem2_badblock bb;
	int rc = -1;

	if (!ctx)
		return -1;
	while (pmem2_badblock_next(ctx, &bb) == 0) {
		if (bb.offset + bb.length <= off || bb.offset >= off + len)
			continue;
		rc = pmem2_badblock_clear(ctx, &bb) == 0 ? 0 : -1;
		if (rc)
			break;
	}
	pmem2_badblock_context_delete(&ctx);
	pmem2_source_delete(&src);
	return rc;
}

int dk_media_sds_word(int fd, uint64_t *wordp)
{
	struct pmem2_source *src;
	char id[256];
	size_t len = sizeof(id);
	uint64_t usc;
	int rc = -1;

	if (pmem2_source_from_fd(&src, fd) != 0)
		return -1;
	if (pmem2_source_device_usc(src, &usc) == 0 &&
	    pmem2_source_device_id(src, id, &len) == 0 && len <= sizeof(id)) {
		uint32_t idhash = dk_crc32c(0, id, strnlen(id, len));

		*wordp = (uint64_t)idhash << 32 | (uint32_t)(usc + 1);
		if (*wordp == 0)
			*wordp = 1;
		rc = 0;
	}
	pmem2_source_delete(&src);
	return rc;
}
