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
/* Durable single-word update of a meta field (8-byte failure atomic). */
void dk_meta_set(struct daxkv *db, uint64_t *field, uint64_t val);

#endif
