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
 * insert-only open-addressing table built for that, still reclaimed
 * through liburcu.
 *
 * Slots are {entry pointer, location word}.  The location word is the
 * entry's newest DK_LOC with a 15-bit hash tag in bits 48..62, so a
 * reader rejects most non-matching slots without touching anything else.
 * Slots are only ever added (entries live until close), with a CAS on the
 * entry pointer; writers store the location word under their entry lock.
 *
 * Growth.  Every store to the table (an insert or a location) is made by
 * a thread that holds a lane (lane.c), and a table is never more than half
 * full: an insert that would pass that returns DK_HMAP_FULL instead, and
 * its caller lets go of its lane and calls dk_hmap_grow().  The grower
 * takes every lane, so no store can happen while it copies the slots into
 * a table twice the size; readers keep reading the old table, which stays
 * valid, until the new one is published, and the old one is freed after
 * an RCU grace period.  Lock order: hmap_grow_lock, lane_grow_lock, lanes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xxhash.h>

#include "errors.h"
#include "hmap.h"
#include "internal.h"

#define DK_TAG_SHIFT 48
#define DK_TAG_MASK (0x7fffull << DK_TAG_SHIFT)

struct dk_hslot {
	struct dk_entry *e; /* atomic; NULL = empty */
	uint64_t word;      /* atomic: tag | DK_LOC of e's newest version */
};

struct dk_htable {
	uint64_t mask;  /* slots - 1 */
	uint64_t count; /* atomic: entries */
	struct dk_hslot *slots;
	struct rcu_head rcu;
};

uint64_t dk_hash(const void *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

static inline uint64_t dk_tag(uint64_t hash)
{
	return ((hash >> 17) << DK_TAG_SHIFT) & DK_TAG_MASK;
}

static struct dk_htable *dk_htable_new(uint64_t nslots)
{
	struct dk_htable *t = calloc(1, sizeof(*t));
	size_t bytes = nslots * sizeof(struct dk_hslot);

	if (!t)
		return NULL;
	if (bytes >= (2u << 20)) {
		/* big tables on huge pages: TLB misses would double a get */
		if (posix_memalign((void **)&t->slots, 2u << 20, bytes) == 0) {
			madvise(t->slots, bytes, MADV_HUGEPAGE);
			memset(t->slots, 0, bytes);
		} else {
			t->slots = NULL;
		}
	} else {
		t->slots = calloc(nslots, sizeof(struct dk_hslot));
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
	free(t->slots);
	free(t);
}

static void dk_htable_free_rcu(struct rcu_head *head)
{
	dk_htable_free(caa_container_of(head, struct dk_htable, rcu));
}

int dk_hmap_init(struct daxkv *db)
{
	db->hmap = dk_htable_new(1u << 14);
	if (!db->hmap)
		return dk_err(DAXKV_ENOMEM, "no memory for the hash index");
	pthread_mutex_init(&db->hmap_grow_lock, NULL);
	return 0;
}

void dk_hmap_destroy(struct daxkv *db)
{
	if (!db->hmap)
		return;
	dk_htable_free(db->hmap);
	db->hmap = NULL;
	pthread_mutex_destroy(&db->hmap_grow_lock);
}

static inline bool dk_entry_is(const struct dk_entry *e, const void *key,
			       size_t klen)
{
	return e->klen == klen && !memcmp(dk_entry_key(e), key, klen);
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
	struct dk_htable *t = __atomic_load_n(&db->hmap, __ATOMIC_ACQUIRE);
	uint64_t tag = dk_tag(hash);

	for (uint64_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct dk_hslot *s = &t->slots[i];
		struct dk_entry *e = __atomic_load_n(&s->e, __ATOMIC_ACQUIRE);
		uint64_t word;

		if (!e)
			return NULL;
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
	struct dk_htable *t = __atomic_load_n(&db->hmap, __ATOMIC_ACQUIRE);

	__builtin_prefetch(&t->slots[hash & t->mask]);
}

uint64_t dk_hmap_get(struct daxkv *db, const void *key, size_t klen,
		     uint64_t hash)
{
	struct dk_htable *t = __atomic_load_n(&db->hmap, __ATOMIC_ACQUIRE);
	uint64_t tag = dk_tag(hash);

	for (uint64_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct dk_hslot *s = &t->slots[i];
		struct dk_entry *e = __atomic_load_n(&s->e, __ATOMIC_ACQUIRE);
		const struct dk_rec *rec;
		uint64_t word, loc;

		if (!e)
			return 0;
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
	struct dk_htable *t = db->hmap;

	*full = false;
	for (uint64_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct dk_hslot *s = &t->slots[i];
		struct dk_entry *cur = __atomic_load_n(&s->e, __ATOMIC_ACQUIRE);

		if (!cur) {
			if (__atomic_load_n(&t->count, __ATOMIC_RELAXED) >=
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
			__atomic_fetch_add(&t->count, 1, __ATOMIC_RELAXED);
			return e;
		}
	check:
		if (dk_entry_is(cur, dk_entry_key(e), e->klen))
			return cur;
	}
}

void dk_hmap_set(struct daxkv *db, struct dk_entry *e, uint64_t hash,
		 uint64_t loc)
{
	struct dk_htable *t = db->hmap;

	for (uint64_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct dk_hslot *s = &t->slots[i];

		if (__atomic_load_n(&s->e, __ATOMIC_ACQUIRE) == e) {
			__atomic_store_n(&s->word, dk_tag(hash) | loc,
					 __ATOMIC_RELEASE);
			return;
		}
	}
}

int dk_hmap_grow(struct daxkv *db)
{
	struct dk_htable *old, *n;
	uint32_t nlanes;
	int rc = 0;

	/* the caller holds no lane */
	pthread_mutex_lock(&db->hmap_grow_lock);
	old = db->hmap;
	if (__atomic_load_n(&old->count, __ATOMIC_RELAXED) <
	    (old->mask + 1) / 2) {
		pthread_mutex_unlock(&db->hmap_grow_lock);
		return 0; /* someone else grew it */
	}
	n = dk_htable_new((old->mask + 1) * 2);
	if (!n) {
		pthread_mutex_unlock(&db->hmap_grow_lock);
		return dk_err(DAXKV_ENOMEM, "no memory to grow the index to "
			      "%llu slots",
			      (unsigned long long)(old->mask + 1) * 2);
	}
	pthread_mutex_lock(&db->lane_grow_lock);
	nlanes = __atomic_load_n(&db->nlanes, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < nlanes; i++)
		pthread_mutex_lock(&db->lanes[i].lock);
	/* quiet: nobody stores into the table now */
	for (uint64_t i = 0; i <= old->mask; i++) {
		struct dk_entry *e = old->slots[i].e;
		uint64_t j;

		if (!e)
			continue;
		for (j = dk_hash(dk_entry_key(e), e->klen) & n->mask;
		     n->slots[j].e; j = (j + 1) & n->mask)
			;
		n->slots[j].e = e;
		n->slots[j].word = old->slots[i].word;
	}
	n->count = old->count;
	__atomic_store_n(&db->hmap, n, __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < nlanes; i++)
		pthread_mutex_unlock(&db->lanes[i].lock);
	pthread_mutex_unlock(&db->lane_grow_lock);
	pthread_mutex_unlock(&db->hmap_grow_lock);
	call_rcu(&old->rcu, dk_htable_free_rcu);
	return rc;
}

uint64_t dk_hmap_count(struct daxkv *db)
{
	return __atomic_load_n(&db->hmap->count, __ATOMIC_RELAXED);
}

void dk_hmap_foreach(struct daxkv *db, void (*fn)(struct dk_entry *, void *),
		     void *arg)
{
	struct dk_htable *t = db->hmap;

	for (uint64_t i = 0; i <= t->mask; i++)
		if (t->slots[i].e)
			fn(t->slots[i].e, arg);
}
