/* SPDX-License-Identifier: MIT */
/* index.h -- the key-ordered index (index.c): entries, the skip list, versions. */
#ifndef DK_INDEX_H
#define DK_INDEX_H

#include "internal.h"

/* Set up (at open) and free (at close) the index and its hash index. */
int dk_index_init(struct daxkv *db);
void dk_index_destroy(struct daxkv *db);
/* Under rcu_read_lock: the entry of key, or NULL. */
struct dk_entry *dk_index_lookup(struct daxkv *db, const void *key,
				 size_t klen, uint64_t hash);
/* Under rcu_read_lock, holding a lane: the entry of key, created (and
 * linked into the skip list unless @p link is false) if missing.  NULL on
 * ENOMEM, or with *full set when the hash index must grow first: then let
 * go of the lane, call dk_hmap_grow() and try again. */
struct dk_entry *dk_index_get_or_create(struct daxkv *db, const void *key,
					size_t klen, uint64_t hash, bool link,
					bool *full);
/* Under rcu_read_lock: first linked entry with key >= @p key (NULL key:
 * the first entry). */
struct dk_entry *dk_index_seek(struct daxkv *db, const void *key,
			       size_t klen);
static inline struct dk_entry *dk_index_next(const struct dk_entry *e)
{
	return __atomic_load_n(&e->next[0], __ATOMIC_ACQUIRE);
}
/* Link every entry of the hash table into the skip list in key order
 * (single-threaded, during open).  Deleted keys stay: freeing a node of
 * the hash table needs a grace period, and the next put of the key
 * reuses the entry. */
int dk_index_build_order(struct daxkv *db);
/* Bytewise key order; a proper prefix sorts first. */
int dk_keycmp(const void *a, size_t alen, const void *b, size_t blen);
void dk_entry_lock(struct dk_entry *e);
void dk_entry_unlock(struct dk_entry *e);
/* Location of the newest version with seq <= snap (0 if none). */
uint64_t dk_version_at(struct daxkv *db, const struct dk_entry *e,
		       uint64_t snap);
/* Under the entry lock, with the commit's sequence number allocated:
 * make @p loc the newest version, keeping the previous one only if a
 * snapshot could still read it. */
void dk_version_push(struct daxkv *db, struct dk_entry *e, uint64_t hash,
		     uint64_t loc, struct dk_version *spare);
/* After taking a sequence: must the versions being replaced be kept? */
static inline bool dk_versions_needed(struct daxkv *db)
{
	return __atomic_load_n(&db->snap_active, __ATOMIC_SEQ_CST) != 0;
}

#endif
