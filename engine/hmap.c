// SPDX-License-Identifier: MIT
/*
 * hmap.c -- the point index: key -> entry, with the newest record's
 * location inline so that a get costs one slot and one record.
 *
 * liburcu's rculfhash was the first choice; profiles showed its split-
 * ordered lists cost three to four dependent cache misses per lookup
 * (bucket, dummy node, entry, then the entry's version), where a get
 * needs only two: the slot, and the record the slot points to (which holds
 * the key, for the comparison, and the value).  So this is a small
 * open-addressing table built for that, reclaimed through liburcu.  It is
 * also the one authority on which entry a key has: an entry exists once
 * its creator wins an empty slot (btree.c keeps the same entries in key
 * order).
 *
 * Slots are {entry pointer, location word}.  The location word is the
 * entry's newest DK_LOC with a 15-bit hash tag in bits 48..62, so a
 * reader rejects most non-matching slots without touching anything else.
 * An entry takes an empty slot with a CAS on the pointer; writers store
 * the location word under their entry lock.  A removed entry (index.c)
 * leaves a tombstone, which probes pass over and inserts never reuse: a
 * slot is only ever empty -> entry -> tombstone, so two writers creating
 * the same key always meet at the same empty slot.
 *
 * Shards.  The table is 256 tables, chosen by the top byte of the hash,
 * so that growing (or clearing the tombstones of) one copies 1/256 of the
 * index: the writers it stops are stopped for that long only.  Every
 * store to a shard (an insert, a location, a tombstone) is made by a
 * thread that holds a lane (lane.c), and a shard is never more than half
 * full of entries and tombstones: an insert that would pass that returns
 * full instead, and its caller lets go of its lane and calls
 * dk_hmap_grow().  The grower takes every lane, so no store can happen
 * while it copies the live entries into a table sized for them (four
 * times their number: twice as large after growth, smaller after a churn
 * of deletes); readers keep reading the old table, which stays valid,
 * until the new one is published, and the old one is freed after an RCU
 * grace period.  Lock order: hmap_grow_lock, lane_grow_lock, lanes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xxhash.h>

#include "arena.h"
#include "errors.h"
#include "hmap.h"
#include "internal.h"

#define DK_TAG_SHIFT 48
#define DK_TAG_MASK (0x7fffull << DK_TAG_SHIFT)
#define DK_SHARD_BITS 8
#define DK_SHARDS (1u << DK_SHARD_BITS)
_Static_assert(DK_SHARDS == DK_HMAP_SHARDS, "shards");
#define DK_SHARD_MIN 64u /* slots of an empty shard */
#define DK_HTOMB ((struct dk_entry *)(uintptr_t)1)

struct dk_hslot {
	struct dk_entry *e; /* atomic; NULL = empty, DK_HTOMB = removed */
	uint64_t word;      /* atomic: tag | DK_LOC of e's newest version */
};

struct dk_hpool;

struct dk_htable {
	uint64_t mask;  /* slots - 1 */
	uint64_t used;  /* atomic: entries and tombstones */
	uint64_t live;  /* atomic: entries */
	struct dk_hslot *slots;
	struct dk_hpool *pool; /* slots from the pool, or NULL: their own */
	struct rcu_head rcu;
};

/*
 * Slot arrays below 2 MiB (most shards) come from 2 MiB chunks on huge
 * pages, by power-of-two size, and are reused from free lists: a get
 * probes one at a random place, and on 4 KiB pages that would miss the
 * TLB beside the cache.  Larger arrays have huge pages of their own.
 */
#define DK_HPOOL_CHUNK (2u << 20)
#define DK_HPOOL_ORDERS 22 /* 2^21 bytes and up: not pooled */

struct dk_hpool {
	pthread_mutex_t lock; /* protects the rest */
	void *free[DK_HPOOL_ORDERS]; /* freed arrays of 2^order bytes */
	uint8_t *cur, *end;          /* the newest chunk's free part */
	void **chunks;
	size_t nchunks, cap;
};

struct dk_hmap {
	struct dk_htable *shard[DK_SHARDS]; /* atomic */
	struct dk_hpool pool;
};

uint64_t dk_hash(const void *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

static inline uint64_t dk_tag(uint64_t hash)
{
	return ((hash >> 17) << DK_TAG_SHIFT) & DK_TAG_MASK;
}

static inline struct dk_htable **dk_shard(struct daxkv *db, uint64_t hash)
{
	return &db->hmap->shard[hash >> (64 - DK_SHARD_BITS)];
}

/* 2^order zeroed bytes from @p p, or NULL. */
static void *dk_hpool_alloc(struct dk_hpool *p, unsigned order)
{
	size_t bytes = (size_t)1 << order;
	void *slots;
	bool fresh = false;

	pthread_mutex_lock(&p->lock);
	slots = p->free[order];
	if (slots) {
		p->free[order] = *(void **)slots;
	} else {
		fresh = true; /* never used: zero as the system gave it */
		if (!p->cur || p->cur + bytes > p->end) {
			void *chunk;

			if (p->nchunks == p->cap) {
				size_t cap = p->cap ? 2 * p->cap : 16;
				void **g = realloc(p->chunks, cap * sizeof(*g));

				if (!g)
					goto out;
				p->chunks = g;
				p->cap = cap;
			}
			chunk = dk_huge_map(DK_HPOOL_CHUNK);
			if (!chunk)
				goto out;
			p->chunks[p->nchunks++] = chunk;
			p->cur = chunk;
			p->end = p->cur + DK_HPOOL_CHUNK;
		}
		/* sizes are powers of two and the chunk starts aligned: each
		 * array is aligned to its size */
		slots = p->cur;
		p->cur += bytes;
	}
out:
	pthread_mutex_unlock(&p->lock);
	if (slots && !fresh)
		memset(slots, 0, bytes);
	return slots;
}

static void dk_hpool_free(struct dk_hpool *p, void *slots, unsigned order)
{
	pthread_mutex_lock(&p->lock);
	*(void **)slots = p->free[order];
	p->free[order] = slots;
	pthread_mutex_unlock(&p->lock);
}

static struct dk_htable *dk_htable_new(struct dk_hmap *h, uint64_t nslots)
{
	struct dk_htable *t = calloc(1, sizeof(*t));
	size_t bytes = nslots * sizeof(struct dk_hslot);
	unsigned order = (unsigned)__builtin_ctzll(bytes);

	if (!t)
		return NULL;
	if (order < DK_HPOOL_ORDERS) {
		t->slots = dk_hpool_alloc(&h->pool, order);
		t->pool = &h->pool;
	} else {
		/* big tables on huge pages: TLB misses would double a get */
		t->slots = dk_huge_map(bytes);
	}
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->mask = nslots - 1;
	return t;
}

static void dk_htable_free(struct dk_htable *t)
{
	if (!t)
		return;
	if (t->pool)
		dk_hpool_free(t->pool, t->slots,
			      (unsigned)__builtin_ctzll((t->mask + 1) *
							sizeof(struct dk_hslot)));
	else
		dk_huge_unmap(t->slots, (t->mask + 1) * sizeof(struct dk_hslot));
	free(t);
}

static void dk_htable_free_rcu(struct rcu_head *head)
{
	dk_htable_free(caa_container_of(head, struct dk_htable, rcu));
}

int dk_hmap_init(struct daxkv *db)
{
	db->hmap = calloc(1, sizeof(*db->hmap));
	if (!db->hmap)
		return dk_err(DAXKV_ENOMEM, "no memory for the hash index");
	pthread_mutex_init(&db->hmap->pool.lock, NULL);
	for (uint32_t i = 0; i < DK_SHARDS; i++) {
		db->hmap->shard[i] = dk_htable_new(db->hmap, DK_SHARD_MIN);
		if (!db->hmap->shard[i]) {
			return dk_err(DAXKV_ENOMEM,
				      "no memory for the hash index");
		}
	}
	return 0;
}

void dk_hmap_destroy(struct daxkv *db)
{
	if (!db->hmap)
		return;
	for (uint32_t i = 0; i < DK_SHARDS; i++)
		dk_htable_free(db->hmap->shard[i]);
	for (size_t i = 0; i < db->hmap->pool.nchunks; i++)
		dk_huge_unmap(db->hmap->pool.chunks[i], DK_HPOOL_CHUNK);
	free(db->hmap->pool.chunks);
	pthread_mutex_destroy(&db->hmap->pool.lock);
	free(db->hmap);
	db->hmap = NULL;
}

static inline bool dk_entry_is(const struct dk_entry *e, const void *key,
			       size_t klen)
{
	return e->klen == klen && !memcmp(e->key, key, klen);
}

/*
 * The tag filters here too: a slot whose word carries another tag holds
 * another key, so its entry (a cache miss of its own) is not read.  A word
 * of 0 says nothing (the insert that won the slot has not stored the tag
 * yet, or the tag is 0): then the entry is compared, so no entry that the
 * comparison would find is ever skipped.
 */
struct dk_entry *dk_hmap_find(struct daxkv *db, const void *key, size_t klen,
			      uint64_t hash)
{
	struct dk_htable *t = __atomic_load_n(dk_shard(db, hash),
					      __ATOMIC_ACQUIRE);
	uint64_t tag = dk_tag(hash);

	for (uint64_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct dk_hslot *s = &t->slots[i];
		struct dk_entry *e = __atomic_load_n(&s->e, __ATOMIC_ACQUIRE);
		uint64_t word;

		if (!e)
			return NULL;
		if (e == DK_HTOMB)
			continue;
		word = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
		if (word && (word & DK_TAG_MASK) != tag)
			continue;
		if (word & ~DK_TAG_MASK) {
			/* a writer stores a mark into the record it replaces:
			 * start that miss (and its TLB walk) beside the
			 * entry's, not after it */
			const struct dk_rec *old =
				dk_rec_at(db, word & ~DK_TAG_MASK);

			__builtin_prefetch(&old->superseded, 1);
		}
		if (dk_entry_is(e, key, klen))
			return e;
	}
}

void dk_hmap_prefetch(struct daxkv *db, uint64_t hash)
{
	struct dk_htable *t = __atomic_load_n(dk_shard(db, hash),
					      __ATOMIC_ACQUIRE);

	__builtin_prefetch(&t->slots[hash & t->mask]);
}

uint64_t dk_hmap_get(struct daxkv *db, const void *key, size_t klen,
		     uint64_t hash)
{
	struct dk_htable *t = __atomic_load_n(dk_shard(db, hash),
					      __ATOMIC_ACQUIRE);
	uint64_t tag = dk_tag(hash);

	for (uint64_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct dk_hslot *s = &t->slots[i];
		struct dk_entry *e = __atomic_load_n(&s->e, __ATOMIC_ACQUIRE);
		const struct dk_rec *rec;
		uint64_t word, loc;

		if (!e)
			return 0;
		if (e == DK_HTOMB)
			continue;
		word = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
		if ((word & DK_TAG_MASK) != tag)
			continue;
		loc = word & ~DK_TAG_MASK;
		if (!loc) {
			if (dk_entry_is(e, key, klen))
				return 0; /* no version committed yet */
			continue;
		}
		/* the record carries the key: one miss serves both.  Its
		 * next lines (the value) are fetched beside the first */
		rec = dk_rec_at(db, loc);
		__builtin_prefetch(rec);
		__builtin_prefetch((const uint8_t *)rec + 64);
		__builtin_prefetch((const uint8_t *)rec + 128);
		if (rec->klen == klen && !memcmp(dk_rec_key(rec), key, klen))
			return loc;
	}
}

/* Caller holds a lane, or runs alone. */
struct dk_entry *dk_hmap_insert(struct daxkv *db, struct dk_entry *e,
				uint64_t hash, bool *full)
{
	struct dk_htable *t = *dk_shard(db, hash);

	*full = false;
	for (uint64_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct dk_hslot *s = &t->slots[i];
		struct dk_entry *cur = __atomic_load_n(&s->e, __ATOMIC_ACQUIRE);

		if (!cur) {
			if (__atomic_load_n(&t->used, __ATOMIC_RELAXED) >=
			    (t->mask + 1) / 2) {
				*full = true;
				return NULL;
			}
			if (!__atomic_compare_exchange_n(&s->e, &cur, e, false,
							 __ATOMIC_ACQ_REL,
							 __ATOMIC_ACQUIRE))
				goto check; /* lost the slot: see the winner */
			/* the tag, unless a writer that found e already
			 * stored tag | location (readers meanwhile see a
			 * word without e's tag: "no version yet", true) */
			{
				uint64_t zero = 0;

				__atomic_compare_exchange_n(
					&s->word, &zero, dk_tag(hash), false,
					__ATOMIC_RELEASE, __ATOMIC_RELAXED);
			}
			__atomic_fetch_add(&t->used, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&t->live, 1, __ATOMIC_RELAXED);
			return e;
		}
	check:
		if (cur != DK_HTOMB && dk_entry_is(cur, e->key, e->klen))
			return cur;
	}
}

/* The slot holding @p e (which is in the table). */
static struct dk_hslot *dk_hmap_slot(struct daxkv *db, struct dk_entry *e,
				     uint64_t hash)
{
	struct dk_htable *t = *dk_shard(db, hash);

	for (uint64_t i = hash & t->mask;; i = (i + 1) & t->mask)
		if (__atomic_load_n(&t->slots[i].e, __ATOMIC_ACQUIRE) == e)
			return &t->slots[i];
}

void dk_hmap_set(struct daxkv *db, struct dk_entry *e, uint64_t hash,
		 uint64_t loc)
{
	__atomic_store_n(&dk_hmap_slot(db, e, hash)->word, dk_tag(hash) | loc,
			 __ATOMIC_RELEASE);
}

void dk_hmap_remove(struct daxkv *db, struct dk_entry *e, uint64_t hash)
{
	struct dk_htable *t = *dk_shard(db, hash);

	__atomic_store_n(&dk_hmap_slot(db, e, hash)->e, DK_HTOMB,
			 __ATOMIC_RELEASE);
	__atomic_fetch_sub(&t->live, 1, __ATOMIC_RELAXED);
}

/* Slots for a shard of @p live entries: at most a quarter full. */
static uint64_t dk_shard_slots(uint64_t live)
{
	uint64_t n = DK_SHARD_MIN;

	while (n < 4 * live)
		n *= 2;
	return n;
}

/* Copy the entries of @p old into @p n (nobody stores into either). */
static void dk_htable_copy(struct dk_htable *n, const struct dk_htable *old)
{
	for (uint64_t i = 0; i <= old->mask; i++) {
		struct dk_entry *e = old->slots[i].e;
		uint64_t j;

		if (i + 8 <= old->mask && old->slots[i + 8].e > DK_HTOMB)
			__builtin_prefetch(old->slots[i + 8].e);
		if (!e || e == DK_HTOMB)
			continue;
		for (j = dk_hash(e->key, e->klen) & n->mask; n->slots[j].e;
		     j = (j + 1) & n->mask)
			;
		n->slots[j].e = e;
		n->slots[j].word = old->slots[i].word;
		n->used++;
	}
	n->live = n->used;
}

int dk_hmap_grow(struct daxkv *db, uint64_t hash)
{
	struct dk_htable **shard = dk_shard(db, hash), *old, *n;
	uint32_t nlanes;

	/* the caller holds no lane */
	pthread_mutex_lock(&db->hmap_grow_lock);
	old = *shard;
	if (__atomic_load_n(&old->used, __ATOMIC_RELAXED) <
	    (old->mask + 1) / 2) {
		pthread_mutex_unlock(&db->hmap_grow_lock);
		return 0; /* someone else grew it */
	}
	pthread_mutex_lock(&db->lane_grow_lock);
	nlanes = __atomic_load_n(&db->nlanes, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < nlanes; i++)
		pthread_mutex_lock(&db->lanes[i].lock);
	/* quiet: nobody stores into the shard now */
	n = dk_htable_new(db->hmap, dk_shard_slots(old->live + 1));
	if (n) {
		dk_htable_copy(n, old);
		__atomic_store_n(shard, n, __ATOMIC_RELEASE);
	}
	for (uint32_t i = 0; i < nlanes; i++)
		pthread_mutex_unlock(&db->lanes[i].lock);
	pthread_mutex_unlock(&db->lane_grow_lock);
	pthread_mutex_unlock(&db->hmap_grow_lock);
	if (!n)
		return dk_err(DAXKV_ENOMEM, "no memory to grow the hash index "
			      "to %llu slots",
			      (unsigned long long)dk_shard_slots(old->live + 1));
	call_rcu(&old->rcu, dk_htable_free_rcu);
	return 0;
}

int dk_hmap_reserve_shard(struct daxkv *db, uint32_t shard, uint64_t count)
{
	struct dk_htable *old = db->hmap->shard[shard], *n;

	if (count + old->used < (old->mask + 1) / 2)
		return 0;
	{
		/* at most half full once filled, as full as a shard may be
		 * before it grows: DRAM per key as at run time */
		uint64_t slots = DK_SHARD_MIN, need = count + old->live;

		while (slots < 2 * need + 2)
			slots *= 2;
		n = dk_htable_new(db->hmap, slots);
	}
	if (!n)
		return dk_err(DAXKV_ENOMEM, "no memory for the hash index");
	dk_htable_copy(n, old);
	__atomic_store_n(&db->hmap->shard[shard], n, __ATOMIC_RELEASE);
	dk_htable_free(old);
	return 0;
}

uint32_t dk_hmap_shard_of(uint64_t hash)
{
	return (uint32_t)(hash >> (64 - DK_SHARD_BITS));
}

uint64_t dk_hmap_count(struct daxkv *db)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < DK_SHARDS; i++)
		n += __atomic_load_n(
			&__atomic_load_n(&db->hmap->shard[i], __ATOMIC_ACQUIRE)
				 ->live,
			__ATOMIC_RELAXED);
	return n;
}

uint64_t dk_hmap_bytes(struct daxkv *db)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < DK_SHARDS; i++)
		n += (__atomic_load_n(&db->hmap->shard[i], __ATOMIC_ACQUIRE)
			      ->mask +
		      1) *
		     sizeof(struct dk_hslot);
	return n;
}

void dk_hmap_foreach(struct daxkv *db, void (*fn)(struct dk_entry *, void *),
		     void *arg)
{
	for (uint32_t i = 0; i < DK_SHARDS; i++) {
		struct dk_htable *t = __atomic_load_n(&db->hmap->shard[i],
						      __ATOMIC_ACQUIRE);

		if (!t)
			continue; /* an open whose dk_hmap_init failed here */
		for (uint64_t j = 0; j <= t->mask; j++) {
			struct dk_entry *e = __atomic_load_n(&t->slots[j].e,
							     __ATOMIC_ACQUIRE);

			if (e && e != DK_HTOMB)
				fn(e, arg);
		}
	}
}
