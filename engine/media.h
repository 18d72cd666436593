/* SPDX-License-Identifier: MIT */
/*
 * media.h -- what the device says about a file (media.c, libpmem2): its
 * bad blocks, and the unsafe shutdown count.
 */
#ifndef DK_MEDIA_H
#define DK_MEDIA_H

#include <stdint.h>

/* The bad block of @p fd's file that starts lowest at or after byte
 * @p from, or overlaps it: 1 with *offp and *lenp (bytes, in the file), 0 if
 * none (or the platform cannot say: not persistent memory, no ndctl). */
int dk_media_badblock_first(int fd, uint64_t from, uint64_t *offp,
			    uint64_t *lenp);

/* Clear the bad blocks of [off, off + len) of @p fd's file (fresh zeroed
 * blocks for them): 0, or -1. */
int dk_media_badblock_clear(int fd, uint64_t off, uint64_t len);

/* The device's unsafe shutdown count, packed with a hash of its id into
 * one word that is never 0: 0 with *wordp, or -1 where the platform cannot
 * say. */
int dk_media_sds_word(int fd, uint64_t *wordp);

#endif
