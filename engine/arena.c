// SPDX-License-Identifier: MIT
/*
 * arena.c -- DRAM for the index: entries and tree nodes.
 *
 * Both are read at random places by every operation (a put reads its
 * entry, a scan walks leaves), so they come from 2 MiB chunks on
 * transparent huge pages: on 4 KiB pages each of those reads would miss
 * the TLB too, and a page walk costs as much as the miss itself under
 * virtualisation.  Chunks are never returned to the system while the
 * handle is open; what is freed is reused instead, so memory follows the
 * largest index the handle had, not the number of keys ever written.
 *
 * Allocation takes no lock: each owner (a lane, held by its writer; a
 * thread of a bulk build) has a struct dk_alloc with a bump pointer into
 * its own chunk and free lists of its own.  The arena's lock is taken
 * only for a new chunk.
 *
 * Freeing.  A tree node goes back to its owner's pool at once: nodes are
 * type-stable (btree.c explains why a reader still holding one is safe).
 * An entry removed from the index may still be read by lock-free readers
 * inside rcu_read_lock, so it waits in its owner's retire batch; a full
 * batch goes to call_rcu, whose callback pushes it onto the arena's
 * `returned` stack, from which any owner whose free list is empty takes
 * every batch at once (an exchange, so the stack has no ABA problem).
 * Separator keys of the tree (malloc'd, read by readers the same way)
 * travel in the same batches and are free()d by the callback.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arena.h"
#include "errors.h"
#include "internal.h"

#define DK_CHUNK (2u << 20)

struct dk_retire {
	struct rcu_head rcu;
	struct dk_arena *arena;
	struct dk_retire *next; /* on the arena's returned stack */
	uint32_t n;
	void *items[DK_RETIRE_BATCH]; /* entries; blocks with bit 0 set */
};

struct dk_arena {
	pthread_mutex_t lock;      /* protects chunks, nchunks, cap, lost */
	void **chunks;             /* every chunk, freed at the end */
	size_t nchunks, cap;
	uint64_t bytes;            /* atomic: chunk bytes */
	struct dk_retire *returned; /* atomic: batches past a grace period */
	void **lost;               /* blocks that found no retire batch (no
				      memory): freed at the end */
	size_t nlost, lostcap;
};

void *dk_huge_map(size_t bytes)
{
	size_t align = 2u << 20;
	uint8_t *p = mmap(NULL, bytes + align, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *start;

	if (p == MAP_FAILED)
		return NULL;
	/* keep the 2 MiB-aligned part: huge pages can back it whole */
	start = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (start > p)
		munmap(p, (size_t)(start - p));
	munmap(start + bytes, (size_t)(p + bytes + align - (start + bytes)));
	(void)madvise(start, bytes, MADV_HUGEPAGE);
	return start;
}

void dk_huge_unmap(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

int dk_arena_new(struct dk_arena **ap)
{
	struct dk_arena *a = calloc(1, sizeof(*a));

	if (!a)
		return dk_err(DAXKV_ENOMEM, "index: no memory");
	pthread_mutex_init(&a->lock, NULL);
	*ap = a;
	return 0;
}

void dk_arena_destroy(struct dk_arena *a)
{
	struct dk_retire *r, *next;

	if (!a)
		return;
	for (r = a->returned; r; r = next) {
		next = r->next;
		free(r);
	}
	for (size_t i = 0; i < a->nchunks; i++)
		dk_huge_unmap(a->chunks[i], DK_CHUNK);
	for (size_t i = 0; i < a->nlost; i++)
		free(a->lost[i]);
	free(a->lost);
	free(a->chunks);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

uint64_t dk_arena_bytes(const struct dk_arena *a)
{
	return __atomic_load_n(&a->bytes, __ATOMIC_RELAXED);
}

void dk_alloc_init(struct dk_alloc *al, struct dk_arena *a)
{
	memset(al, 0, sizeof(*al));
	al->arena = a;
}

/* A new chunk for @p al's bump pointer; false if no memory. */
static bool dk_alloc_chunk(struct dk_alloc *al)
{
	struct dk_arena *a = al->arena;
	void *chunk;

	pthread_mutex_lock(&a->lock);
	if (a->nchunks == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		void **grown = realloc(a->chunks, cap * sizeof(*grown));

		if (!grown)
			goto out_nomem;
		a->chunks = grown;
		a->cap = cap;
	}
	chunk = dk_huge_map(DK_CHUNK);
	if (!chunk)
		goto out_nomem;
	a->chunks[a->nchunks++] = chunk;
	pthread_mutex_unlock(&a->lock);
	__atomic_fetch_add(&a->bytes, DK_CHUNK, __ATOMIC_RELAXED);
	al->cur = chunk;
	al->end = (uint8_t *)chunk + DK_CHUNK;
	return true;
out_nomem:
	pthread_mutex_unlock(&a->lock);
	return false;
}

/* @p size bytes at @p align from the bump pointer; an allocation of at
 * most a line does not straddle two. */
static void *dk_alloc_bump(struct dk_alloc *al, size_t size, size_t align)
{
	for (int tries = 0; tries < 2; tries++) {
		uint8_t *p = al->cur;

		if (p) {
			p += (align - (uintptr_t)p % align) % align;
			if (size <= 64 && (uintptr_t)p % 64 + size > 64)
				p += 64 - (uintptr_t)p % 64;
			if (p + size <= al->end) {
				al->cur = p + size;
				return p;
			}
		}
		if (!dk_alloc_chunk(al))
			return NULL;
	}
	return NULL;
}

static inline size_t dk_ent_class(size_t size)
{
	return (size + 15) / 16;
}

static inline void dk_used_add(struct dk_alloc *al, int64_t delta)
{
	__atomic_store_n(&al->used,
			 __atomic_load_n(&al->used, __ATOMIC_RELAXED) + delta,
			 __ATOMIC_RELAXED);
}

/* Back to a free list (the bytes were counted off already). */
static void dk_free_entry_list(struct dk_alloc *al, struct dk_entry *e)
{
	size_t c = dk_ent_class(dk_entry_size(e->klen));

	*(void **)e = al->free_ent[c];
	al->free_ent[c] = e;
}

/* Take every batch past its grace period into @p al's free lists. */
static bool dk_alloc_take_returned(struct dk_alloc *al)
{
	struct dk_retire *r = __atomic_exchange_n(&al->arena->returned, NULL,
						  __ATOMIC_ACQUIRE);
	bool any = r != NULL;

	while (r) {
		struct dk_retire *next = r->next;

		for (uint32_t i = 0; i < r->n; i++)
			dk_free_entry_list(al, r->items[i]);
		free(r);
		r = next;
	}
	return any;
}

struct dk_entry *dk_alloc_entry(struct dk_alloc *al, size_t size)
{
	size_t c = dk_ent_class(size);
	void *p = al->free_ent[c];

	if (!p && al->arena->returned && dk_alloc_take_returned(al))
		p = al->free_ent[c];
	if (!p)
		p = dk_alloc_bump(al, c * 16, 16);
	else
		al->free_ent[c] = *(void **)p;
	if (p)
		dk_used_add(al, (int64_t)c * 16);
	return p;
}

void dk_free_entry(struct dk_alloc *al, struct dk_entry *e)
{
	dk_used_add(al, -(int64_t)dk_ent_class(dk_entry_size(e->klen)) * 16);
	dk_free_entry_list(al, e);
}

static void dk_retire_cb(struct rcu_head *head)
{
	struct dk_retire *r = caa_container_of(head, struct dk_retire, rcu);
	struct dk_arena *a = r->arena;
	uint32_t keep = 0;

	for (uint32_t i = 0; i < r->n; i++) {
		if ((uintptr_t)r->items[i] & 1)
			free((void *)((uintptr_t)r->items[i] & ~(uintptr_t)1));
		else
			r->items[keep++] = r->items[i];
	}
	r->n = keep;
	if (!keep) {
		free(r);
		return;
	}
	r->next = __atomic_load_n(&a->returned, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&a->returned, &r->next, r, true,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

void dk_alloc_flush(struct dk_alloc *al)
{
	if (al->retire && al->retire->n)
		call_rcu(&al->retire->rcu, dk_retire_cb);
	else
		free(al->retire);
	al->retire = NULL;
}

/* Put @p item (tagged) into the retire batch; false if no batch could be
 * had (no memory). */
static bool dk_retire_item(struct dk_alloc *al, void *item)
{
	if (!al->retire) {
		al->retire = malloc(sizeof(*al->retire));
		if (!al->retire)
			return false;
		al->retire->arena = al->arena;
		al->retire->n = 0;
	}
	al->retire->items[al->retire->n++] = item;
	if (al->retire->n == DK_RETIRE_BATCH)
		dk_alloc_flush(al);
	return true;
}

void dk_retire_entry(struct dk_alloc *al, struct dk_entry *e)
{
	dk_used_add(al, -(int64_t)dk_ent_class(dk_entry_size(e->klen)) * 16);
	/* without a batch the entry is never reused: its chunk goes at the
	 * end, like every chunk */
	(void)dk_retire_item(al, e);
}

void dk_retire_block(struct dk_alloc *al, void *p)
{
	struct dk_arena *a = al->arena;

	if (!p || dk_retire_item(al, (void *)((uintptr_t)p | 1)))
		return;
	/* no batch: keep it for the end rather than free it under a reader */
	pthread_mutex_lock(&a->lock);
	if (a->nlost == a->lostcap) {
		size_t cap = a->lostcap ? 2 * a->lostcap : 64;
		void **grown = realloc(a->lost, cap * sizeof(*grown));

		if (grown) {
			a->lost = grown;
			a->lostcap = cap;
		}
	}
	if (a->nlost < a->lostcap)
		a->lost[a->nlost++] = p;
	/* else: leaked, not freed under a reader */
	pthread_mutex_unlock(&a->lock);
}

void *dk_alloc_node(struct dk_alloc *al, enum dk_node_kind kind, size_t size,
		    bool *reusedp)
{
	void **p = al->free_node[kind];

	if (p) {
		al->free_node[kind] = __atomic_load_n(&p[1], __ATOMIC_RELAXED);
		*reusedp = true;
	} else {
		/* chunk memory is never used twice: zero as the system gave
		 * it (btree.c sets every field it reads) */
		*reusedp = false;
		p = dk_alloc_bump(al, (size + 63) & ~(size_t)63, 64);
	}
	if (p)
		dk_used_add(al, (int64_t)size);
	return p;
}

void dk_free_node(struct dk_alloc *al, enum dk_node_kind kind, void *node,
		  size_t size)
{
	void **p = node;

	dk_used_add(al, -(int64_t)size);
	/* the link is written atomically: a stale reader may read it */
	__atomic_store_n(&p[1], al->free_node[kind], __ATOMIC_RELAXED);
	al->free_node[kind] = node;
}

void dk_alloc_merge(struct dk_alloc *dst, struct dk_alloc *src)
{
	for (size_t c = 0; c < DK_ENT_CLASSES; c++) {
		void **tail;

		if (!src->free_ent[c])
			continue;
		for (tail = src->free_ent[c]; *tail; tail = *tail)
			;
		*tail = dst->free_ent[c];
		dst->free_ent[c] = src->free_ent[c];
		src->free_ent[c] = NULL;
	}
	for (int k = 0; k < DK_NODE_KINDS; k++) {
		while (src->free_node[k]) {
			void **p = src->free_node[k];

			src->free_node[k] = p[1];
			p[1] = dst->free_node[k];
			dst->free_node[k] = p;
		}
	}
	dk_alloc_flush(src);
}
