/* SPDX-License-Identifier: MIT */
/* meta.h -- the metadata pool (meta.c). */
#ifndef DK_META_H
#define DK_META_H

#include "internal.h"

/* The pool file's words libpmemobj trusts without a checksum, checked
 * against the file before pmemobj_open sees it. */
int dk_meta_precheck(const char *path);
int dk_meta_open(struct daxkv *db, bool create, bool exclusive,
		 const uint8_t *fresh_uuid);
void dk_meta_close(struct daxkv *db);
/* Build a pool at @p path (under PATH.tmp, then renamed, the directory
 * @p dirfd fsynced) with this root; @p table NULL: every slot FREE. */
int dk_meta_make(int dirfd, const char *path, const uint8_t *uuid,
		 uint64_t segment_size, uint64_t max_size,
		 const struct dk_seg_entry *table);
/* Durable single-word update of a meta field (8-byte failure atomic). */
void dk_meta_set(struct daxkv *db, uint64_t *field, uint64_t val);

#endif
