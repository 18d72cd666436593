// SPDX-License-Identifier: MIT
/*
 * index.c -- the DRAM index: key -> entry -> versions.
 *
 * Two structures share one set of entries.  The hash index (hmap.c)
 * answers point lookups and is the one authority on uniqueness: an entry
 * exists once a writer wins its slot.  The winner then links the entry
 * into an insert-only lock-free skip list, which keeps key order for
 * scans, and only then sets entry->linked.  Other writers that find the
 * entry wait for `linked` before committing a version to it, so that no
 * acknowledged write is ever missing from the skip list.  Entries are never unlinked
 * while the handle is open (a deleted key keeps its entry, which its next
 * put reuses; compaction moves an entry's location, never the entry, and
 * the next open builds the index afresh), so neither structure needs a
 * deletion protocol; old versions are trimmed under the entry lock
 * and freed through call_rcu, and every reader runs inside rcu_read_lock.
 *
 * Entries are carved from 2 MiB chunks on transparent huge pages (an
 * arena), not malloc'd one by one: a put reads its entry at a random
 * place among all of them, and on 4 KiB pages that read missed the TLB
 * too (a page walk costs as much as the miss itself under virtualisation).
 * Entries are only freed at close, so the arena never returns memory
 * before; an entry of at most 64 bytes is placed so that it does not cross
 * a cache line (lock, cur and key in one line).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "errors.h"
#include "hmap.h"
#include "index.h"
#include "internal.h"

static __thread uint64_t dk_rand_state;

static unsigned dk_random_height(void)
{
	uint64_t x = dk_rand_state;
	unsigned height = 1;

	if (unlikely(x == 0))
		x = (uint64_t)(uintptr_t)&dk_rand_state ^ dk_now_ns() ^
		    0x9e3779b97f4a7c15ull;
	/* xorshift64*: a quarter of the nodes reach each next level */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	dk_rand_state = x;
	x *= 0x2545f4914f6cdd1dull;
	while (height < DK_SKIP_MAX_HEIGHT && (x & 3) == 0) {
		height++;
		x >>= 2;
	}
	return height;
}

int dk_keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

#define DK_ARENA_CHUNK (2u << 20)

struct dk_entry_arena {
	pthread_mutex_t lock; /* protects the rest */
	uint8_t *cur, *end;   /* free part of the newest chunk */
	void **chunks;        /* every chunk, to free at close */
	size_t nchunks, cap;
};

static void *dk_arena_alloc(struct dk_entry_arena *a, size_t size)
{
	uint8_t *p;

	size = (size + 15) & ~(size_t)15;
	pthread_mutex_lock(&a->lock);
	p = a->cur;
	if (p && size <= 64 && ((uintptr_t)p % 64) + size > 64)
		p += 64 - (uintptr_t)p % 64; /* do not straddle two lines */
	if (!p || p + size > a->end) {
		void *chunk = NULL;

		if (a->nchunks == a->cap) {
			size_t cap = a->cap ? 2 * a->cap : 64;
			void **grown = realloc(a->chunks, cap * sizeof(*grown));

			if (!grown)
				goto out_nomem;
			a->chunks = grown;
			a->cap = cap;
		}
		if (posix_memalign(&chunk, DK_ARENA_CHUNK, DK_ARENA_CHUNK))
			goto out_nomem;
		(void)madvise(chunk, DK_ARENA_CHUNK, MADV_HUGEPAGE);
		a->chunks[a->nchunks++] = chunk;
		p = chunk;
		a->end = p + DK_ARENA_CHUNK;
	}
	a->cur = p + size;
	pthread_mutex_unlock(&a->lock);
	return p;
out_nomem:
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* Give back the last allocation if nothing was taken after it (an entry
 * that lost its slot to a concurrent insert); otherwise it stays unused
 * until close. */
static void dk_arena_unalloc(struct dk_entry_arena *a, void *p, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	pthread_mutex_lock(&a->lock);
	if (a->cur == (uint8_t *)p + size)
		a->cur = p;
	pthread_mutex_unlock(&a->lock);
}

static void dk_arena_destroy(struct dk_entry_arena *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nchunks; i++)
		free(a->chunks[i]);
	free(a->chunks);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static size_t dk_entry_size(unsigned height, size_t klen)
{
	return sizeof(struct dk_entry) + height * sizeof(struct dk_entry *) +
	       klen;
}

int dk_index_init(struct daxkv *db)
{
	int rc;

	db->arena = calloc(1, sizeof(*db->arena));
	if (!db->arena)
		return dk_err(DAXKV_ENOMEM, "index: no memory");
	pthread_mutex_init(&db->arena->lock, NULL);

	db->skip_head = calloc(1, sizeof(struct dk_entry) +
					  DK_SKIP_MAX_HEIGHT *
						  sizeof(struct dk_entry *));
	if (!db->skip_head) {
		dk_arena_destroy(db->arena);
		db->arena = NULL;
		return dk_err(DAXKV_ENOMEM, "index: no memory");
	}
	db->skip_head->height = DK_SKIP_MAX_HEIGHT;
	db->skip_head->linked = 1;
	rc = dk_hmap_init(db);
	if (rc) {
		free(db->skip_head);
		db->skip_head = NULL;
		dk_arena_destroy(db->arena);
		db->arena = NULL;
	}
	return rc;
}

static void dk_version_free_chain(struct dk_version *v)
{
	/* only at close: no reader is left */
	while (v) {
		struct dk_version *older = v->older;

		free(v);
		v = older;
	}
}

static void dk_entry_free(struct dk_entry *e, void *arg)
{
	dk_version_free_chain(e->older); /* e itself goes with the arena */
}

void dk_index_destroy(struct daxkv *db)
{
	if (db->hmap) {
		/* pending call_rcu work (old versions, old tables) first */
		rcu_barrier();
		dk_hmap_foreach(db, dk_entry_free, NULL);
		dk_hmap_destroy(db);
	}
	dk_arena_destroy(db->arena);
	db->arena = NULL;
	free(db->skip_head);
	db->skip_head = NULL;
}

struct dk_entry *dk_index_lookup(struct daxkv *db, const void *key,
				 size_t klen, uint64_t hash)
{
	return dk_hmap_find(db, key, klen, hash);
}

/*
 * Find, at each level, the last node with a key < @p key.  Returns the
 * level-0 successor (first node >= key).
 */
static struct dk_entry *dk_skip_find(struct daxkv *db, const void *key,
				     size_t klen, struct dk_entry **preds)
{
	struct dk_entry *x = db->skip_head, *next = NULL;

	for (int level = DK_SKIP_MAX_HEIGHT - 1; level >= 0; level--) {
		for (;;) {
			next = __atomic_load_n(&x->next[level],
					       __ATOMIC_ACQUIRE);
			if (!next || dk_keycmp(dk_entry_key(next), next->klen,
					       key, klen) >= 0)
				break;
			x = next;
		}
		if (preds)
			preds[level] = x;
	}
	return next;
}

static void dk_skip_insert(struct daxkv *db, struct dk_entry *e)
{
	struct dk_entry *preds[DK_SKIP_MAX_HEIGHT];
	const uint8_t *key = dk_entry_key(e);

	for (int level = 0; level < e->height; level++) {
		for (;;) {
			struct dk_entry *pred, *succ;

			if (level == 0 || !preds[level]) {
				/* (re)compute the path */
				dk_skip_find(db, key, e->klen, preds);
			}
			pred = preds[level];
			succ = __atomic_load_n(&pred->next[level],
					       __ATOMIC_ACQUIRE);
			/* another insert may have slipped in before us */
			while (succ && dk_keycmp(dk_entry_key(succ), succ->klen,
						 key, e->klen) < 0) {
				pred = succ;
				succ = __atomic_load_n(&pred->next[level],
						       __ATOMIC_ACQUIRE);
			}
			preds[level] = pred;
			__atomic_store_n(&e->next[level], succ,
					 __ATOMIC_RELAXED);
			if (__atomic_compare_exchange_n(&pred->next[level],
							&succ, e, false,
							__ATOMIC_RELEASE,
							__ATOMIC_RELAXED))
				break;
		}
	}
}

static struct dk_entry *dk_entry_new(struct daxkv *db, const void *key,
				      size_t klen)
{
	unsigned height = dk_random_height();
	struct dk_entry *e = dk_arena_alloc(db->arena,
					    dk_entry_size(height, klen));

	if (!e)
		return NULL;
	e->cur = 0;
	e->vlen = 0;
	e->older = NULL;
	e->lock = 0;
	e->linked = 0;
	e->klen = (uint16_t)klen;
	e->height = (uint8_t)height;
	memset(e->next, 0, height * sizeof(struct dk_entry *));
	memcpy(dk_entry_key(e), key, klen);
	return e;
}

struct dk_entry *dk_index_get_or_create(struct daxkv *db, const void *key,
					size_t klen, uint64_t hash, bool link,
					bool *full)
{
	struct dk_entry *e = dk_hmap_find(db, key, klen, hash), *won;

	*full = false;
	if (!e) {
		e = dk_entry_new(db, key, klen);
		if (!e)
			return NULL;
		won = dk_hmap_insert(db, e, hash, full);
		if (won != e) {
			/* never published */
			dk_arena_unalloc(db->arena, e,
					 dk_entry_size(e->height, klen));
			if (!won)
				return NULL; /* *full, or no memory */
			e = won;
		} else if (link) {
			dk_skip_insert(db, e);
			__atomic_store_n(&e->linked, 1, __ATOMIC_RELEASE);
			return e;
		} else {
			return e;
		}
	}
	while (link && !__atomic_load_n(&e->linked, __ATOMIC_ACQUIRE))
		caa_cpu_relax(); /* its creator is linking it now */
	return e;
}

struct dk_entry *dk_index_seek(struct daxkv *db, const void *key,
			       size_t klen)
{
	if (!key)
		return dk_index_next(db->skip_head);
	return dk_skip_find(db, key, klen, NULL);
}

static int dk_entry_cmp(const void *a, const void *b)
{
	const struct dk_entry *ea = *(struct dk_entry *const *)a;
	const struct dk_entry *eb = *(struct dk_entry *const *)b;

	return dk_keycmp(dk_entry_key(ea), ea->klen, dk_entry_key(eb),
			 eb->klen);
}

struct dk_entry_list {
	struct dk_entry **all;
	size_t n;
};

static void dk_entry_list_add(struct dk_entry *e, void *arg)
{
	struct dk_entry_list *c = arg;

	c->all[c->n++] = e;
}

int dk_index_build_order(struct daxkv *db)
{
	struct dk_entry *last[DK_SKIP_MAX_HEIGHT];
	struct dk_entry_list c = { NULL, 0 };

	c.all = malloc((dk_hmap_count(db) + 1) * sizeof(*c.all));
	if (!c.all)
		return dk_err(DAXKV_ENOMEM, "index: no memory to sort keys");
	dk_hmap_foreach(db, dk_entry_list_add, &c);
	qsort(c.all, c.n, sizeof(*c.all), dk_entry_cmp);
	for (int level = 0; level < DK_SKIP_MAX_HEIGHT; level++)
		last[level] = db->skip_head;
	for (size_t i = 0; i < c.n; i++) {
		struct dk_entry *e = c.all[i];

		for (int level = 0; level < e->height; level++) {
			last[level]->next[level] = e;
			last[level] = e;
		}
		e->linked = 1;
	}
	free(c.all);
	return 0;
}

void dk_entry_lock(struct dk_entry *e)
{
	while (__atomic_exchange_n(&e->lock, 1, __ATOMIC_ACQUIRE)) {
		unsigned spins = 0;

		while (__atomic_load_n(&e->lock, __ATOMIC_RELAXED)) {
			if (++spins < 128)
				caa_cpu_relax();
			else
				sched_yield();
		}
	}
}

void dk_entry_unlock(struct dk_entry *e)
{
	__atomic_store_n(&e->lock, 0, __ATOMIC_RELEASE);
}

uint64_t dk_version_at(struct daxkv *db, const struct dk_entry *e,
		       uint64_t snap)
{
	uint64_t loc = __atomic_load_n(&e->cur, __ATOMIC_ACQUIRE);
	struct dk_version *v;

	if (!loc || dk_rec_at(db, loc)->seq <= snap)
		return loc;
	/* `older` was published before `cur` moved past snap */
	for (v = __atomic_load_n(&e->older, __ATOMIC_ACQUIRE); v;
	     v = __atomic_load_n(&v->older, __ATOMIC_ACQUIRE))
		if (v->seq <= snap)
			return v->loc;
	return 0;
}

static void dk_version_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct dk_version, rcu));
}

static void dk_version_free_chain_rcu(struct dk_version *v)
{
	while (v) {
		struct dk_version *older = v->older;

		call_rcu(&v->rcu, dk_version_free_rcu);
		v = older;
	}
}

/*
 * Which old versions to keep.  A snapshot increments snap_active before it
 * reads next_seq; a commit reads it (dk_versions_needed) after taking its
 * sequence S and passes a spare node only if it was not 0.  If it was 0, every snapshot that is not counted yet will read a sequence
 * >= S, wait for this commit and read the new version: nothing older is
 * needed (the fast path: no allocation).  Otherwise the previous version
 * is kept, and versions older than the newest one <= gc_horizon go (every
 * snapshot that exists or can be taken is >= gc_horizon).
 */
void dk_version_push(struct daxkv *db, struct dk_entry *e, uint64_t hash,
		     uint64_t loc, struct dk_version *spare)
{
	uint64_t prev = e->cur;
	struct dk_version *chain = e->older;

	if (!spare) {
		if (chain) {
			__atomic_store_n(&e->older, NULL, __ATOMIC_RELEASE);
			dk_version_free_chain_rcu(chain);
		}
	} else if (prev) {
		uint64_t horizon = __atomic_load_n(&db->gc_horizon,
						   __ATOMIC_ACQUIRE);
		struct dk_version *v = spare, *keep;

		v->loc = prev;
		v->seq = dk_rec_at(db, prev)->seq;
		v->older = chain;
		/* cut what no snapshot can read: below the newest <= horizon */
		for (keep = v; keep && keep->seq > horizon; keep = keep->older)
			;
		if (keep && keep->older) {
			struct dk_version *dead = keep->older;

			__atomic_store_n(&keep->older, NULL, __ATOMIC_RELEASE);
			dk_version_free_chain_rcu(dead);
		}
		__atomic_store_n(&e->older, v, __ATOMIC_RELEASE);
	} else {
		free(spare);
	}
	__atomic_store_n(&e->cur, loc, __ATOMIC_RELEASE);
	dk_hmap_set(db, e, hash, loc);
}
