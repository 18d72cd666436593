/* SPDX-License-Identifier: MIT */
/*
 * arena.h -- DRAM for the index (arena.c): entries and tree nodes, carved
 * from 2 MiB chunks on huge pages and reused once freed.
 */
#ifndef DK_ARENA_H
#define DK_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Entry size classes, 16 bytes apart, up to the largest entry. */
#define DK_ENT_CLASSES ((DK_ENTRY_HDR + DAXKV_MAX_KEY + 15) / 16 + 1)
/* Entries (and separator keys) per batch waiting for a grace period. */
#define DK_RETIRE_BATCH 126

/* Tree node kinds: each has its own pool, so that a node's memory never
 * changes kind (btree.c relies on it: type-stable nodes). */
enum dk_node_kind { DK_NODE_LEAF = 0, DK_NODE_INNER = 1, DK_NODE_KINDS };

struct dk_arena;
struct dk_retire;

/* @p bytes (a multiple of 4 KiB) of zeroed memory, 2 MiB-aligned, that
 * huge pages may back (the index's chunks, the hash index's arrays), and
 * its end.  NULL if none. */
void *dk_huge_map(size_t bytes);
void dk_huge_unmap(void *p, size_t bytes);

/*
 * One allocator per owner: a lane (held by its writer), a thread of a
 * bulk build.  Only its owner touches it, so it takes no lock; the arena
 * behind it takes one only for a new chunk.
 */
struct dk_alloc {
	struct dk_arena *arena;
	uint8_t *cur, *end;             /* free part of its newest chunk */
	void *free_ent[DK_ENT_CLASSES]; /* freed entries, by size class */
	void *free_node[DK_NODE_KINDS]; /* freed nodes (linked by pool_next) */
	struct dk_retire *retire;       /* removed, not yet past a grace
					   period; NULL: none */
	int64_t used;                   /* atomic (written by the owner
					   only): bytes of entries and nodes
					   it handed out, less those it was
					   given back */
};

/* The arena of a handle, and its end (every chunk freed: no reader, no
 * pending grace period may be left; call rcu_barrier() first). */
int dk_arena_new(struct dk_arena **ap);
void dk_arena_destroy(struct dk_arena *a);
/* Bytes of chunks taken from the system (for the memory figures). */
uint64_t dk_arena_bytes(const struct dk_arena *a);

/* Set up @p al for its owner; dk_alloc_flush() hands its retire batch to
 * RCU (at close, and when its owner goes away). */
void dk_alloc_init(struct dk_alloc *al, struct dk_arena *a);
void dk_alloc_flush(struct dk_alloc *al);
/* Hand @p src's free memory to @p dst (@p src's owner is done). */
void dk_alloc_merge(struct dk_alloc *dst, struct dk_alloc *src);

/* An entry of @p size bytes (DK_ENTRY_HDR + klen), 16-byte aligned, not
 * straddling a cache line when it fits in one; NULL if no memory. */
struct dk_entry *dk_alloc_entry(struct dk_alloc *al, size_t size);
/* Give back an entry no reader can hold (never published, or past a
 * grace period). */
void dk_free_entry(struct dk_alloc *al, struct dk_entry *e);
/* An entry that readers may still hold (removed from the index under
 * rcu_read_lock by others): freed after a grace period. */
void dk_retire_entry(struct dk_alloc *al, struct dk_entry *e);
/* A malloc'd block readers may still hold (a tree separator): free()d
 * after a grace period. */
void dk_retire_block(struct dk_alloc *al, void *p);

/*
 * Tree nodes.  A node's first word is its lock word, which keeps counting
 * across reuse, and its second word is the pool's link; the rest is
 * btree.c's.  dk_alloc_node: a node of @p size bytes (the same for every
 * node of a kind), 64-byte aligned; *reusedp says it was a node before
 * (its lock word holds a version to continue from), else it is zeroed.
 */
void *dk_alloc_node(struct dk_alloc *al, enum dk_node_kind kind, size_t size,
		    bool *reusedp);
/* Back to the pool of its kind at once: nodes are type-stable (btree.c),
 * so a reader still holding it reads a node and fails its version check. */
void dk_free_node(struct dk_alloc *al, enum dk_node_kind kind, void *node,
		  size_t size);

#endif
