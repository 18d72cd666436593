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
/* Read-only open: a DRAM copy of the root object becomes db->meta,
 * checked as dk_meta_open checks it; nothing is written. */
int dk_meta_read(struct daxkv *db);
/* The root object of the pool at @p path, read from the file without
 * libpmemobj (which writes at open): a malloc'd copy, and its offset in
 * the file; the caller checks its fields. */
int dk_meta_read_root(const char *path, struct dk_meta_root **rootp,
		      uint64_t *offp);
/* Build a pool at @p path holding @p image as its root, under a
 * temporary name renamed into place, then fsync @p dirfd. */
int dk_meta_create_pool(const char *path, int dirfd,
			const struct dk_meta_root *image);
void dk_meta_close(struct daxkv *db);
/* Build a pool at @p path (under PATH.tmp, then renamed, the directory
 * @p dirfd fsynced) with this root; @p table NULL: every slot FREE. */
int dk_meta_make(int dirfd, const char *path, const uint8_t *uuid,
		 uint64_t segment_size, uint64_t max_size,
		 const struct dk_seg_entry *table);
/* Durable single-word update of a meta field (8-byte failure atomic). */
void dk_meta_set(struct daxkv *db, uint64_t *field, uint64_t val);

#endif
