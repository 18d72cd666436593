// SPDX-License-Identifier: MIT
/*
 * index.c -- the DRAM index: key -> entry -> versions, and the removal of
 * entries that only say "deleted".
 *
 * Two structures share one set of entries.  The hash index (hmap.c)
 * answers point lookups and is the one authority on uniqueness: an entry
 * exists once a writer wins its slot.  The winner then puts the entry
 * into the B+-tree (btree.c), which keeps key order for scans and
 * cursors, and only then sets entry->linked.  Other writers that find the
 * entry wait for `linked` before committing a version to it, so that no
 * acknowledged write is ever missing from the tree.  Compaction moves an
 * entry's location, never the entry.  Old versions are kept while
 * snapshots may read them, trimmed under the entry lock and freed through
 * call_rcu; every lock-free reader runs inside rcu_read_lock.
 *
 * Removal.  An entry whose newest version is a delete is removed once no
 * reader can look behind that delete: when no snapshot (or cursor, or
 * scan: each holds a sequence, snapshot.c) older than the delete's
 * sequence is open.  A delete that took its sequence while no snapshot
 * was counted (dk_versions_needed false) removes its entry at once; one
 * that took it beside an open snapshot queues the entry (rmq), and the
 * queue is worked off, holding a lane, by writers every DK_GC_EVERY
 * commits and by the compaction thread, for every entry whose delete
 * gc_horizon has passed.  Removing, under the entry lock and a lane:
 * `dead` is set, the entry leaves the tree and then the hash index (a
 * tombstone), its old versions go to call_rcu and its memory waits in the
 * lane's retire batch for a grace period (arena.c).  A writer that found
 * the entry before it went locks it, sees `dead`, lets go and looks the
 * key up again: the hash index then has no entry for it, and the writer
 * creates a new one, which the tree cannot already hold (it left the tree
 * first).  A queued entry is removed only by the queue, so that the queue
 * never points at freed memory.
 *
 * What stays on media.  Removing an entry changes nothing in the
 * segments: the delete's record stays, and compaction keeps a delete
 * whose key has no entry (compact.c, dk_collect_one): an older put of the
 * key may still lie in a segment not compacted yet, and recovery would
 * bring it back if the delete were dropped.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "btree.h"
#include "errors.h"
#include "hmap.h"
#include "index.h"
#include "internal.h"

/*
 * fork().  liburcu's call_rcu worker thread and its reader registry
 * belong to the process that made them: a child forked without exec has
 * no worker, and its registry may list threads it does not have, so the
 * child's first rcu_barrier (daxkv_close) or grace period would wait
 * forever.  liburcu-bp's fork handlers fix both (the worker is paused
 * between callbacks over the fork, and the child gets a worker of its
 * own and a registry of its own threads); they are installed once, at
 * the first open.  liburcu warns against them where callbacks call
 * free(): old glibc took its malloc locks in an atfork handler of its
 * own, which could run first.  glibc since 2.24 takes them inside
 * fork(), after every prepare handler has returned.
 */
static pthread_mutex_t dk_rcu_atfork_lock = PTHREAD_MUTEX_INITIALIZER;
static bool dk_rcu_atfork_done; /* under dk_rcu_atfork_lock */

static void dk_rcu_fork_prepare(void)
{
	call_rcu_before_fork(); /* first: the worker may be in a grace
				   period, which takes the registry lock */
	urcu_bp_before_fork();
}

static void dk_rcu_fork_parent(void)
{
	urcu_bp_after_fork_parent();
	call_rcu_after_fork_parent();
}

static void dk_rcu_fork_child(void)
{
	urcu_bp_after_fork_child();
	call_rcu_after_fork_child();
}

/* Once per process; an open that could not install them fails, and the
 * next one tries again. */
static int dk_rcu_atfork_install(void)
{
	int rc = 0;

	pthread_mutex_lock(&dk_rcu_atfork_lock);
	if (!dk_rcu_atfork_done) {
		rc = pthread_atfork(dk_rcu_fork_prepare, dk_rcu_fork_parent,
				    dk_rcu_fork_child);
		dk_rcu_atfork_done = rc == 0;
	}
	pthread_mutex_unlock(&dk_rcu_atfork_lock);
	if (rc)
		return dk_err(DAXKV_ENOMEM, "index: no memory for fork "
			      "handlers (pthread_atfork: %d)", rc);
	return 0;
}

int dk_index_init(struct daxkv *db)
{
	int rc;

	rc = dk_rcu_atfork_install();
	if (rc)
		return rc;
	/* on an error, dk_index_destroy() frees what was made */
	rc = dk_arena_new(&db->arena);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < DK_MAX_LANES; i++) {
		db->lanes[i].alloc = malloc(sizeof(struct dk_alloc));
		if (!db->lanes[i].alloc)
			return dk_err(DAXKV_ENOMEM, "index: no memory");
		dk_alloc_init(db->lanes[i].alloc, db->arena);
	}
	rc = dk_hmap_init(db);
	if (rc)
		return rc;
	return dk_tree_init(db, db->lanes[0].alloc);
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

static void dk_entry_free_versions(struct dk_entry *e, void *arg)
{
	(void)arg;
	dk_version_free_chain(e->older);
	e->older = NULL;
}

void dk_index_destroy(struct daxkv *db)
{
	if (!db->arena)
		return; /* never set up (an open that failed early) */
	/* batches still waiting, then every pending callback (old versions,
	 * old tables, retired entries) */
	for (uint32_t i = 0; i < DK_MAX_LANES; i++)
		if (db->lanes[i].alloc)
			dk_alloc_flush(db->lanes[i].alloc);
	rcu_barrier();
	if (db->hmap) {
		dk_hmap_foreach(db, dk_entry_free_versions, NULL);
		dk_hmap_destroy(db);
	}
	dk_tree_destroy(db);
	for (uint32_t i = 0; i < DK_MAX_LANES; i++) {
		free(db->lanes[i].alloc);
		db->lanes[i].alloc = NULL;
	}
	dk_arena_destroy(db->arena);
	db->arena = NULL;
	free(db->rmq);
	db->rmq = NULL;
	db->rmq_n = db->rmq_cap = 0;
}

struct dk_entry *dk_index_lookup(struct daxkv *db, const void *key,
				 size_t klen, uint64_t hash)
{
	return dk_hmap_find(db, key, klen, hash);
}

struct dk_entry *dk_entry_new(struct dk_alloc *al, const void *key,
			      size_t klen)
{
	struct dk_entry *e = dk_alloc_entry(al, dk_entry_size(klen));

	if (!e)
		return NULL;
	dk_entry_init(e, key, klen);
	return e;
}

void dk_entry_init(struct dk_entry *e, const void *key, size_t klen)
{
	e->cur = 0;
	e->older = NULL;
	e->lock = 0;
	e->vlen = 0;
	e->linked = 0;
	e->dead = 0;
	e->queued = 0;
	e->pad = 0;
	e->klen = (uint16_t)klen;
	memcpy(e->key, key, klen);
}

struct dk_entry *dk_index_get_or_create(struct daxkv *db,
					struct dk_lane *lane, const void *key,
					size_t klen, uint64_t hash, bool *full)
{
	struct dk_entry *e = dk_hmap_find(db, key, klen, hash), *won;

	*full = false;
	if (!e) {
		e = dk_entry_new(lane->alloc, key, klen);
		if (!e) {
			dk_err(DAXKV_ENOMEM, "no memory for an index entry");
			return NULL;
		}
		won = dk_hmap_insert(db, e, hash, full);
		if (won != e) {
			/* never published */
			dk_free_entry(lane->alloc, e);
			if (!won && !*full)
				dk_err(DAXKV_ENOMEM, "no memory for an index "
				       "entry");
			if (!won)
				return NULL;
			e = won;
		} else {
			if (dk_tree_insert(db, lane->alloc, e)) {
				/* out of the hash index again; writers that
				 * found it see it dead and look again */
				__atomic_store_n(&e->dead, 1, __ATOMIC_RELAXED);
				dk_hmap_remove(db, e, hash);
				__atomic_store_n(&e->linked, 1,
						 __ATOMIC_RELEASE);
				dk_retire_entry(lane->alloc, e);
				return NULL;
			}
			__atomic_store_n(&lane->dentries,
					 lane->dentries + 1, __ATOMIC_RELAXED);
			__atomic_store_n(&e->linked, 1, __ATOMIC_RELEASE);
			return e;
		}
	}
	while (!__atomic_load_n(&e->linked, __ATOMIC_ACQUIRE))
		caa_cpu_relax(); /* its creator is linking it now */
	return e;
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
 * sequence S and passes a spare node only if it was not 0.  If it was 0,
 * every snapshot that is not counted yet will read a sequence >= S, wait
 * for this commit and read the new version: nothing older is needed (the
 * fast path: no allocation).  Otherwise the previous version is kept, and
 * versions older than the newest one <= gc_horizon go (every snapshot
 * that exists or can be taken is >= gc_horizon).
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

/* ---- removal ---- */

/* Holding a lane and e's lock, under rcu_read_lock: e leaves the index. */
static void dk_index_remove(struct daxkv *db, struct dk_lane *lane,
			    struct dk_entry *e, uint64_t hash)
{
	struct dk_version *chain = e->older;

	__atomic_store_n(&e->dead, 1, __ATOMIC_RELEASE);
	/* the tree first: a writer that creates the key anew after the
	 * hash index let go must not find it in the tree */
	dk_tree_remove(db, lane->alloc, e);
	dk_hmap_remove(db, e, hash);
	if (chain) {
		__atomic_store_n(&e->older, NULL, __ATOMIC_RELEASE);
		dk_version_free_chain_rcu(chain);
	}
	/* readers and the writers spinning on its lock are inside
	 * rcu_read_lock: its memory outlives them */
	dk_retire_entry(lane->alloc, e);
	__atomic_store_n(&lane->dentries, lane->dentries - 1, __ATOMIC_RELAXED);
}

static void dk_index_queue(struct daxkv *db, struct dk_entry *e)
{
	if (e->queued)
		return;
	pthread_mutex_lock(&db->rmq_lock);
	if (db->rmq_n == db->rmq_cap) {
		size_t cap = db->rmq_cap ? 2 * db->rmq_cap : 256;
		struct dk_entry **grown = realloc(db->rmq, cap * sizeof(*grown));

		if (!grown) {
			/* it stays until a later delete queues it */
			pthread_mutex_unlock(&db->rmq_lock);
			return;
		}
		db->rmq = grown;
		db->rmq_cap = cap;
	}
	e->queued = 1;
	db->rmq[db->rmq_n] = e;
	__atomic_store_n(&db->rmq_n, db->rmq_n + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&db->rmq_lock);
}

void dk_index_deleted(struct daxkv *db, struct dk_lane *lane,
		      struct dk_entry *e, uint64_t hash, bool versions_needed)
{
	if (!versions_needed && !e->queued)
		dk_index_remove(db, lane, e, hash);
	else
		dk_index_queue(db, e);
}

bool dk_index_reap_pending(struct daxkv *db)
{
	return __atomic_load_n(&db->rmq_n, __ATOMIC_RELAXED) != 0;
}

/* Put @p n entries back into the queue (they stay queued). */
static void dk_index_requeue(struct daxkv *db, struct dk_entry **es, size_t n)
{
	size_t i;

	pthread_mutex_lock(&db->rmq_lock);
	for (i = 0; i < n; i++) {
		if (db->rmq_n == db->rmq_cap) {
			size_t cap = db->rmq_cap ? 2 * db->rmq_cap : 256;
			struct dk_entry **grown =
				realloc(db->rmq, cap * sizeof(*grown));

			if (!grown)
				break;
			db->rmq = grown;
			db->rmq_cap = cap;
		}
		db->rmq[db->rmq_n] = es[i];
		__atomic_store_n(&db->rmq_n, db->rmq_n + 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&db->rmq_lock);
	/* no memory for the rest: they stay in the index, unqueued, until
	 * a later delete queues them again */
	for (; i < n; i++) {
		dk_entry_lock(es[i]);
		es[i]->queued = 0;
		dk_entry_unlock(es[i]);
	}
}

void dk_index_reap(struct daxkv *db, struct dk_lane *lane)
{
	uint64_t horizon = __atomic_load_n(&db->gc_horizon, __ATOMIC_ACQUIRE);
	struct dk_entry **batch;
	size_t n, keep = 0;

	pthread_mutex_lock(&db->rmq_lock);
	batch = db->rmq;
	n = db->rmq_n;
	db->rmq = NULL;
	db->rmq_cap = 0;
	__atomic_store_n(&db->rmq_n, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&db->rmq_lock);
	if (!n) {
		free(batch);
		return;
	}
	rcu_read_lock();
	for (size_t i = 0; i < n; i++) {
		struct dk_entry *e = batch[i];
		uint64_t cur;

		dk_entry_lock(e);
		cur = e->cur;
		if ((cur & DK_LOC_DEL) && dk_rec_at(db, cur)->seq <= horizon) {
			e->queued = 0;
			dk_index_remove(db, lane, e, dk_hash(e->key, e->klen));
		} else if (cur & DK_LOC_DEL) {
			batch[keep++] = e; /* a snapshot still looks behind */
		} else {
			e->queued = 0; /* put again since */
		}
		dk_entry_unlock(e);
	}
	rcu_read_unlock();
	if (keep)
		dk_index_requeue(db, batch, keep);
	free(batch);
}

void dk_index_usage(struct daxkv *db, uint64_t *entries, uint64_t *bytes)
{
	int64_t n = (int64_t)db->nentries, b = 0;

	for (uint32_t i = 0; i < DK_MAX_LANES; i++) {
		n += __atomic_load_n(&db->lanes[i].dentries, __ATOMIC_RELAXED);
		if (db->lanes[i].alloc)
			b += __atomic_load_n(&db->lanes[i].alloc->used,
					     __ATOMIC_RELAXED);
	}
	b += (int64_t)db->bulk_bytes;
	*entries = n > 0 ? (uint64_t)n : 0;
	*bytes = (b > 0 ? (uint64_t)b : 0) + dk_hmap_bytes(db);
}
