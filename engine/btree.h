/* SPDX-License-Identifier: MIT */
/*
 * btree.h -- the key-ordered index (btree.c): a B+-tree of entries with
 * optimistic lock coupling, for inserts, removals and ordered walks.
 */
#ifndef DK_BTREE_H
#define DK_BTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "internal.h"

#define DK_LEAF_MAX 64u  /* entries per leaf */
#define DK_INNER_MAX 64u /* separators per inner node */

/* A separator or fence key: immutable once made. */
struct dk_key {
	uint16_t len;
	uint8_t bytes[];
};

/*
 * Every node starts with this header.  Fields that readers read without
 * the lock are read and written as relaxed atomics, and a reader uses
 * what it read only once the lock word shows no change (btree.c).
 */
struct dk_node {
	uint64_t version;          /* lock word: counter << 2 | locked << 1 |
				      obsolete; arena.h: word 0 */
	struct dk_node *pool_next; /* the arena's link while free (word 1) */
	uint16_t count;            /* leaf: entries; inner: separators */
	uint16_t plen;             /* every key in [lo, hi) starts with the
				      same plen bytes; heads start there */
	uint8_t leaf;              /* 1: struct dk_leaf; fixed for the
				      memory's life (pools per kind) */
	uint8_t pad[3];
	struct dk_key *lo, *hi;    /* fences: keys are >= lo and < hi; NULL:
				      unbounded.  Owned; read under the
				      node's lock only */
	struct dk_node *next;      /* leaf: right sibling, NULL for the last */
	uint64_t pad2[2];
};

struct dk_leaf {
	struct dk_node n;
	uint64_t head[DK_LEAF_MAX];        /* key bytes [plen, plen + 8),
					      big-endian, zero-padded */
	struct dk_entry *ent[DK_LEAF_MAX]; /* in key order */
};

struct dk_inner {
	struct dk_node n;
	uint64_t head[DK_INNER_MAX];
	struct dk_key *sep[DK_INNER_MAX];       /* child[i] holds keys in
						   [sep[i-1], sep[i]) */
	struct dk_node *child[DK_INNER_MAX + 1];
};

_Static_assert(sizeof(struct dk_node) == 64, "node header is one line");

/* An empty tree (at open); the separators and fences of every node, at
 * close (the nodes themselves go with the arena). */
int dk_tree_init(struct daxkv *db, struct dk_alloc *al);
void dk_tree_destroy(struct daxkv *db);

/* Holding a lane (its allocator @p al), under rcu_read_lock: put @p e in
 * the tree.  Its key must not be there (the hash index decides which
 * entry a key has).  0 or DAXKV_ENOMEM. */
int dk_tree_insert(struct daxkv *db, struct dk_alloc *al, struct dk_entry *e);
/* Likewise: take @p e out of the tree (if it is there), merging nodes
 * that become underfull. */
void dk_tree_remove(struct daxkv *db, struct dk_alloc *al, struct dk_entry *e);

/* Build the tree of an empty index from @p n entries in key order, with
 * @p nthreads threads (allocators @p als[0..nthreads)).  Open only. */
int dk_tree_build(struct daxkv *db, struct dk_alloc **als, uint32_t nthreads,
		  struct dk_entry **sorted, size_t n);

/*
 * Ordered walks (cursors).  A view is a copy of one leaf's entry pointers
 * made under rcu_read_lock, with the leaf's version: while the version
 * has not moved, the entries are still in the leaf (so not freed), and a
 * walk can go on from the view in a later read-side section.
 */
struct dk_leafview {
	struct dk_node *leaf; /* NULL: no leaf (before the first or past the
				 last key) */
	uint64_t version;
	uint32_t n;           /* entries in ent[] */
	struct dk_entry *ent[DK_LEAF_MAX];
};

enum dk_seek {
	DK_SEEK_GE, /* first key >= k */
	DK_SEEK_GT, /* first key > k */
	DK_SEEK_LE, /* last key <= k */
	DK_SEEK_LT, /* last key < k */
};

/*
 * Under rcu_read_lock: the view of the leaf where a walk in @p mode from
 * @p key starts, and in *posp the slot of that key (GE, GT: the first
 * key >= / > key; LE, LT: the last <= / <).  A NULL key is before every
 * key for GE/GT and after every key for LE/LT.  Empty leaves are skipped;
 * lv->leaf is NULL when there is no such key.
 */
void dk_tree_seek(struct daxkv *db, const void *key, size_t klen,
		  enum dk_seek mode, struct dk_leafview *lv, uint32_t *posp);
/* Under rcu_read_lock: is @p lv's leaf unchanged since it was copied? */
bool dk_tree_view_valid(const struct dk_leafview *lv);
/* Under rcu_read_lock: replace @p lv with the next non-empty leaf (leaf
 * NULL at the end); false if lv's leaf changed since its copy: then
 * seek again (GT the last key seen). */
bool dk_tree_next_leaf(struct dk_leafview *lv);

/* Every entry in key order (single-threaded: open, close, tests). */
void dk_tree_foreach(struct daxkv *db, void (*fn)(struct dk_entry *, void *),
		     void *arg);
/* The tree's invariants (tests; single-threaded): 0 and the number of
 * entries, or -1 with what is wrong in @p msg. */
int dk_tree_check(struct daxkv *db, uint64_t *entries, char *msg,
		  size_t msglen);
/* Nodes in the tree and their bytes (tests; a walk, single-threaded). */
void dk_tree_usage(struct daxkv *db, uint64_t *nodes, uint64_t *bytes);

#endif
