/* SPDX-License-Identifier: MIT */
/* hmap.h -- the hash index (hmap.c): key -> entry, newest location inline. */
#ifndef DK_HMAP_H
#define DK_HMAP_H

#include "internal.h"

struct dk_htable;

/* The hash of a key, for every structure that needs one (XXH3). */
uint64_t dk_hash(const void *key, size_t klen);
int dk_hmap_init(struct daxkv *db);
void dk_hmap_destroy(struct daxkv *db);
struct dk_entry *dk_hmap_find(struct daxkv *db, const void *key, size_t klen,
			      uint64_t hash);
/* Location of key's newest version (0: none), without touching entries. */
uint64_t dk_hmap_get(struct daxkv *db, const void *key, size_t klen,
		     uint64_t hash);
/* Under rcu_read_lock: start fetching the slot where a probe for @p hash
 * begins (a hint: the table may be replaced meanwhile). */
void dk_hmap_prefetch(struct daxkv *db, uint64_t hash);
struct dk_entry *dk_hmap_insert(struct daxkv *db, struct dk_entry *e,
				uint64_t hash, bool *full);
void dk_hmap_set(struct daxkv *db, struct dk_entry *e, uint64_t hash,
		 uint64_t loc);
int dk_hmap_grow(struct daxkv *db);
uint64_t dk_hmap_count(struct daxkv *db);
void dk_hmap_foreach(struct daxkv *db, void (*fn)(struct dk_entry *, void *),
		     void *arg);

#endif
