/* SPDX-License-Identifier: MIT */
/* index.h -- the DRAM index (index.c): entries, versions, removal. */
#ifndef DK_INDEX_H
#define DK_INDEX_H

#include "internal.h"

struct dk_alloc;

/* Set up (at open) and free (at close) the index: arena, hash index,
 * tree, the lanes' allocators. */
int dk_index_init(struct daxkv *db);
void dk_index_destroy(struct daxkv *db);
/* Under rcu_read_lock: the entry of key, or NULL.  It may be dead: a
 * writer locks it and checks. */
struct dk_entry *dk_index_lookup(struct daxkv *db, const void *key,
				 size_t klen, uint64_t hash);
/* Under rcu_read_lock, holding @p lane: the entry of key, created (and
 * put into the tree) if missing.  NULL on ENOMEM (error set), or with
 * *full set when the hash index must grow first: then let go of the lane,
 * call dk_hmap_grow(db, hash) and try again.  It may be dead (as above). */
struct dk_entry *dk_index_get_or_create(struct daxkv *db,
					struct dk_lane *lane, const void *key,
					size_t klen, uint64_t hash, bool *full);
/* A new entry from @p al, not in any structure (bulk builds), and the
 * set-up of one. */
struct dk_entry *dk_entry_new(struct dk_alloc *al, const void *key,
			      size_t klen);
void dk_entry_init(struct dk_entry *e, const void *key, size_t klen);
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
/*
 * Holding @p lane and e's lock, under rcu_read_lock, once a delete made
 * e's newest version a delete: remove e now if no snapshot was counted
 * when the delete took its sequence (@p versions_needed false), else
 * queue it for dk_index_reap.
 */
void dk_index_deleted(struct daxkv *db, struct dk_lane *lane,
		      struct dk_entry *e, uint64_t hash, bool versions_needed);
/* Are entries queued for removal? */
bool dk_index_reap_pending(struct daxkv *db);
/* Holding @p lane and no entry lock: remove the queued entries whose
 * delete gc_horizon has passed. */
void dk_index_reap(struct daxkv *db, struct dk_lane *lane);
/* Entries in the index, and the DRAM bytes they, the tree's nodes and
 * the hash index take (not the arena's free memory). */
void dk_index_usage(struct daxkv *db, uint64_t *entries, uint64_t *bytes);

#endif
