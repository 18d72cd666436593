// SPDX-License-Identifier: MIT
/*
 * index.c -- the DRAM index: key -> entry -> versions.
 *
 * Two structures share one set of entries.  liburcu's lock-free resizable
 * hash table (rculfhash) answers point lookups in O(1) and is the one
 * authority on uniqueness: an entry exists once a writer wins
 * cds_lfht_add_unique.  The winner then links the entry into an
 * insert-only lock-free skip list, which keeps key order for scans, and
 * only then sets entry->linked.  Other writers that find the entry wait
 * for `linked` before committing a version to it, so that no acknowledged
 * write is ever missing from the skip list.  Entries are never unlinked
 * while the handle is open (compaction will rebuild), so the skip list
 * needs no deletion protocol; version chains are trimmed under the entry
 * lock and freed through call_rcu, and every reader runs inside
 * rcu_read_lock.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "errors.h"
#include "internal.h"

/*
 * liburcu publishes with its own barriers, which ThreadSanitizer cannot
 * see.  Tell it what they mean: adding a node to the hash table releases
 * everything written to the entry before, and finding it acquires it.
 */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define DK_TSAN_ACQUIRE(p) __tsan_acquire(p)
#define DK_TSAN_RELEASE(p) __tsan_release(p)
#else
#define DK_TSAN_ACQUIRE(p) ((void)(p))
#define DK_TSAN_RELEASE(p) ((void)(p))
#endif

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

uint64_t dk_hash(const void *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

int dk_keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

struct dk_match_key {
	const void *key;
	size_t klen;
};

static int dk_match(struct cds_lfht_node *node, const void *arg)
{
	const struct dk_match_key *mk = arg;
	struct dk_entry *e = caa_container_of(node, struct dk_entry, hnode);

	DK_TSAN_ACQUIRE(e);
	return e->klen == mk->klen && !memcmp(dk_entry_key(e), mk->key,
					      mk->klen);
}

int dk_index_init(struct daxkv *db)
{
	db->skip_head = calloc(1, sizeof(struct dk_entry) +
					  DK_SKIP_MAX_HEIGHT *
						  sizeof(struct dk_entry *));
	if (!db->skip_head)
		return dk_err(DAXKV_ENOMEM, "index: no memory");
	db->skip_head->height = DK_SKIP_MAX_HEIGHT;
	db->skip_head->linked = 1;
	db->ht = cds_lfht_new(1u << 12, 1u << 12, 0,
			      CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
			      NULL);
	if (!db->ht) {
		free(db->skip_head);
		db->skip_head = NULL;
		return dk_err(DAXKV_ENOMEM, "index: no memory for hash table");
	}
	return 0;
}

static void dk_version_free_chain(struct dk_version *v)
{
	while (v) {
		struct dk_version *older = v->older;

		free(v);
		v = older;
	}
}

void dk_index_destroy(struct daxkv *db)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	if (db->ht) {
		/*
		 * A background resize may still walk the table's nodes, so
		 * nothing is freed until cds_lfht_destroy (which waits for it)
		 * has returned.  Entries are chained through next[0] meanwhile:
		 * the skip list is dead by now.
		 */
		struct dk_entry *chain = NULL;

		rcu_read_lock();
		cds_lfht_first(db->ht, &iter);
		while ((node = cds_lfht_iter_get_node(&iter)) != NULL) {
			struct dk_entry *e =
				caa_container_of(node, struct dk_entry, hnode);

			cds_lfht_next(db->ht, &iter);
			cds_lfht_del(db->ht, node);
			e->next[0] = chain;
			chain = e;
		}
		rcu_read_unlock();
		/* pending call_rcu work (trimmed versions, resizes) first */
		rcu_barrier();
		cds_lfht_destroy(db->ht, NULL);
		db->ht = NULL;
		while (chain) {
			struct dk_entry *e = chain;

			chain = e->next[0];
			dk_version_free_chain(e->head);
			free(e);
		}
	}
	free(db->skip_head);
	db->skip_head = NULL;
}

struct dk_entry *dk_index_lookup(struct daxkv *db, const void *key,
				 size_t klen, uint64_t hash)
{
	struct dk_match_key mk = { key, klen };
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	cds_lfht_lookup(db->ht, hash, dk_match, &mk, &iter);
	node = cds_lfht_iter_get_node(&iter);
	if (!node)
		return NULL;
	DK_TSAN_ACQUIRE(caa_container_of(node, struct dk_entry, hnode));
	return caa_container_of(node, struct dk_entry, hnode);
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

static struct dk_entry *dk_entry_new(const void *key, size_t klen)
{
	unsigned height = dk_random_height();
	struct dk_entry *e = malloc(sizeof(*e) +
				    height * sizeof(struct dk_entry *) + klen);

	if (!e)
		return NULL;
	cds_lfht_node_init(&e->hnode);
	e->head = NULL;
	e->lock = 0;
	e->linked = 0;
	e->klen = (uint16_t)klen;
	e->height = (uint8_t)height;
	e->reserved = 0;
	memset(e->next, 0, height * sizeof(struct dk_entry *));
	memcpy(dk_entry_key(e), key, klen);
	return e;
}

struct dk_entry *dk_index_get_or_create(struct daxkv *db, const void *key,
					size_t klen, uint64_t hash, bool link)
{
	struct dk_match_key mk = { key, klen };
	struct cds_lfht_node *won;
	struct dk_entry *e = dk_index_lookup(db, key, klen, hash);

	if (!e) {
		e = dk_entry_new(key, klen);
		if (!e)
			return NULL;
		DK_TSAN_RELEASE(e);
		won = cds_lfht_add_unique(db->ht, hash, dk_match, &mk,
					  &e->hnode);
		if (won != &e->hnode) {
			free(e); /* never published */
			e = caa_container_of(won, struct dk_entry, hnode);
			DK_TSAN_ACQUIRE(e);
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

int dk_index_build_order(struct daxkv *db)
{
	struct dk_entry *last[DK_SKIP_MAX_HEIGHT];
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	struct dk_entry **all;
	size_t n = 0, cap = 1024;

	all = malloc(cap * sizeof(*all));
	if (!all)
		return dk_err(DAXKV_ENOMEM, "index: no memory to sort keys");
	rcu_read_lock();
	cds_lfht_first(db->ht, &iter);
	while ((node = cds_lfht_iter_get_node(&iter)) != NULL) {
		struct dk_entry *e =
			caa_container_of(node, struct dk_entry, hnode);

		cds_lfht_next(db->ht, &iter);
		if (n == cap) {
			struct dk_entry **grown =
				realloc(all, 2 * cap * sizeof(*all));

			if (!grown) {
				rcu_read_unlock();
				free(all);
				return dk_err(DAXKV_ENOMEM,
					      "index: no memory to sort keys");
			}
			all = grown;
			cap *= 2;
		}
		all[n++] = e;
	}
	rcu_read_unlock();

	qsort(all, n, sizeof(*all), dk_entry_cmp);
	for (int level = 0; level < DK_SKIP_MAX_HEIGHT; level++)
		last[level] = db->skip_head;
	for (size_t i = 0; i < n; i++) {
		struct dk_entry *e = all[i];

		for (int level = 0; level < e->height; level++) {
			last[level]->next[level] = e;
			last[level] = e;
		}
		e->linked = 1;
	}
	free(all);
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

struct dk_version *dk_version_at(const struct dk_entry *e, uint64_t snap)
{
	struct dk_version *v = __atomic_load_n(&e->head, __ATOMIC_ACQUIRE);

	while (v && v->seq > snap)
		v = __atomic_load_n(&v->older, __ATOMIC_ACQUIRE);
	return v;
}

static void dk_version_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct dk_version, rcu));
}

void dk_version_trim(struct daxkv *db, struct dk_entry *e)
{
	uint64_t horizon = __atomic_load_n(&db->gc_horizon, __ATOMIC_ACQUIRE);
	struct dk_version *keep = dk_version_at(e, horizon), *v;

	/*
	 * Every snapshot that exists or can still be taken is >= horizon, so
	 * it reads `keep` or something newer: all older versions are dead.
	 */
	if (!keep)
		return;
	v = keep->older;
	if (!v)
		return;
	__atomic_store_n(&keep->older, NULL, __ATOMIC_RELEASE);
	while (v) {
		struct dk_version *older = v->older;

		call_rcu(&v->rcu, dk_version_free_rcu);
		v = older;
	}
}
