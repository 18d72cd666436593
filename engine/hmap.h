/* SPDX-License-Identifier: MIT */
/* hmap.h -- the hash index (hmap.c): key -> entry, newest location inline. */
#ifndef DK_HMAP_H
#define DK_HMAP_H

#include "internal.h"

struct dk_hmap;

/* The hash of a key, for every structure that needs one (XXH3). */
uint64_t dk_hash(const void *key, size_t klen);
int dk_hmap_init(struct daxkv *db);
void dk_hmap_destroy(struct daxkv *db);
/* Under rcu_read_lock: the entry of a key (it may be dead: index.c). */
struct dk_entry *dk_hmap_find(struct daxkv *db, const void *key, size_t klen,
			      uint64_t hash);
/* Location of key's newest version (0: none), without touching entries. */
uint64_t dk_hmap_get(struct daxkv *db, const void *key, size_t klen,
		     uint64_t hash);
/* Under rcu_read_lock: start fetching the slot where a probe for @p hash
 * begins (a hint: the table may be replaced meanwhile). */
void dk_hmap_prefetch(struct daxkv *db, uint64_t hash);
/* Holding a lane: @p e, or the entry the key has already; NULL with
 * *full set when its shard must grow first (dk_hmap_grow, holding no
 * lane). */
struct dk_entry *dk_hmap_insert(struct daxkv *db, struct dk_entry *e,
				uint64_t hash, bool *full);
/* Holding a lane and e's lock: e's newest location. */
void dk_hmap_set(struct daxkv *db, struct dk_entry *e, uint64_t hash,
		 uint64_t loc);
/* Holding a lane and e's lock: e leaves (its slot becomes a tombstone). */
void dk_hmap_remove(struct daxkv *db, struct dk_entry *e, uint64_t hash);
/* Rebuild the shard of @p hash for its live entries (holding no lane). */
int dk_hmap_grow(struct daxkv *db, uint64_t hash);
/* The shard (of DK_HMAP_SHARDS) a hash falls in. */
#define DK_HMAP_SHARDS 256u
uint32_t dk_hmap_shard_of(uint64_t hash);
/* Open only, no reader: make room for @p count more entries in @p shard,
 * so that inserts never find it full. */
int dk_hmap_reserve_shard(struct daxkv *db, uint32_t shard, uint64_t count);
/* Entries, and bytes of slots. */
uint64_t dk_hmap_count(struct daxkv *db);
uint64_t dk_hmap_bytes(struct daxkv *db);
/* Every entry: under rcu_read_lock (writers may run: an entry may be
 * dead, or missed if added meanwhile), or alone. */
void dk_hmap_foreach(struct daxkv *db, void (*fn)(struct dk_entry *, void *),
		     void *arg);

#endif
