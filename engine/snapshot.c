// SPDX-License-Identifier: MIT
/*
 * snapshot.c -- snapshots: the sequence a reader holds, the old versions
 * it keeps, and public snapshots (which queries cut into units of
 * records: query/units.c).
 *
 * A snapshot is a sequence s such that every commit <= s is complete and
 * none above is visible at s (lane.c explains how a writer marks itself
 * in flight before it takes its sequence): dk_snapshot_seq_wait() reads
 * s = next_seq - 1 and waits, lane by lane, while a lane's in-flight
 * sequence is non-zero and <= s.
 *
 * Snapshots and old versions.  A snapshot counts itself in snap_active
 * before it reads next_seq; while that count is 0 a commit keeps no old
 * version at all (index.c: dk_version_push).  Held sequences are listed
 * under snap_lock.  gc_horizon is (re)computed under the same lock as the
 * minimum of the held sequences and the current completed sequence, so
 * every snapshot that exists or is taken later is >= gc_horizon, and a
 * writer may free any version older than the newest one <= gc_horizon.
 * Writers refresh it every few hundred writes with a trylock: stale
 * values are only more conservative.
 *
 * A daxkv_snapshot is such a held sequence s plus, for queries, the tail
 * of every segment read after s was fixed.  Why the tails suffice: a
 * commit advances its segment's tail (release) before it ends its
 * sequence, and dk_snapshot_seq_hold() returns only once every sequence
 * <= s has ended, so every record with seq <= s lies below the tail read
 * afterwards (acquire).  Records between that tail and the current one
 * all have seq > s and are invisible at s anyway; bytes beyond the tail
 * may be half written and are never read.  Below its tail a segment
 * holds only complete, durable records (the tail moves after the
 * commit's fence, and recovery sets it to the end of the valid log), so
 * a device may walk them header by header.
 *
 * Compaction (compact.c) copies the live records of some segments into a
 * new one and swaps them under view_lock: before the swap new snapshots
 * list the old segments and not the new one (hidden), after it the new
 * one and not the old ones (retiring), never both, so no snapshot sees a
 * record and its copy.  Each swap starts a new view epoch; a snapshot
 * records the epoch it was taken in, and a segment retired by the swap of
 * epoch E is removed only when no snapshot of an epoch before E is open
 * (compact.c).  That covers the segments a snapshot lists (for queries)
 * and every segment its index reads can reach: a version it reads either
 * lies in a segment it lists, or is a copy made by a later compaction,
 * which retires its segment only after that snapshot is gone.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "internal.h"
#include "lane.h"
#include "snapshot.h"

/* Every commit <= the returned sequence is complete. */
static uint64_t dk_snapshot_seq_wait(struct daxkv *db)
{
	uint64_t snap = __atomic_load_n(&db->next_seq, __ATOMIC_SEQ_CST) - 1;
	uint32_t n = __atomic_load_n(&db->nlanes, __ATOMIC_SEQ_CST);

	for (uint32_t i = 0; i < n; i++) {
		unsigned spins = 0;
		uint64_t busy;

		while ((busy = __atomic_load_n(&db->lanes[i].inflight,
					       __ATOMIC_SEQ_CST)) != 0 &&
		       busy <= snap) {
			if (++spins < 256)
				caa_cpu_relax();
			else
				sched_yield();
		}
	}
	return snap;
}

/* Caller holds snap_lock. */
static void dk_gc_horizon_set(struct daxkv *db, uint64_t completed)
{
	uint64_t horizon = completed;

	for (uint32_t i = 0; i < db->nsnaps; i++)
		if (db->snaps[i] < horizon)
			horizon = db->snaps[i];
	if (horizon > __atomic_load_n(&db->gc_horizon, __ATOMIC_RELAXED))
		__atomic_store_n(&db->gc_horizon, horizon, __ATOMIC_RELEASE);
}

void dk_gc_horizon_update(struct daxkv *db, bool wait)
{
	if (wait)
		pthread_mutex_lock(&db->snap_lock);
	else if (pthread_mutex_trylock(&db->snap_lock) != 0)
		return;
	dk_gc_horizon_set(db, dk_completed_seq(db));
	pthread_mutex_unlock(&db->snap_lock);
}

int dk_snapshot_seq_hold(struct daxkv *db, uint64_t *snapp)
{
	/* counted before next_seq is read: see dk_version_push */
	__atomic_fetch_add(&db->snap_active, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&db->snap_lock);
	if (db->nsnaps == db->snaps_cap) {
		uint32_t cap = db->snaps_cap ? 2 * db->snaps_cap : 16;
		uint64_t *grown = realloc(db->snaps, cap * sizeof(*grown));

		if (!grown) {
			pthread_mutex_unlock(&db->snap_lock);
			__atomic_fetch_sub(&db->snap_active, 1, __ATOMIC_SEQ_CST);
			return dk_err(DAXKV_ENOMEM, "no memory for a snapshot");
		}
		db->snaps = grown;
		db->snaps_cap = cap;
	}
	*snapp = dk_snapshot_seq_wait(db);
	db->snaps[db->nsnaps++] = *snapp;
	pthread_mutex_unlock(&db->snap_lock);
	return 0;
}

void dk_snapshot_seq_release(struct daxkv *db, uint64_t snap)
{
	pthread_mutex_lock(&db->snap_lock);
	for (uint32_t i = 0; i < db->nsnaps; i++) {
		if (db->snaps[i] == snap) {
			db->snaps[i] = db->snaps[--db->nsnaps];
			break;
		}
	}
	dk_gc_horizon_set(db, dk_completed_seq(db));
	pthread_mutex_unlock(&db->snap_lock);
	__atomic_fetch_sub(&db->snap_active, 1, __ATOMIC_SEQ_CST);
}

static void dk_hold_link(struct daxkv *db, struct dk_hold *h)
{
	h->prev = NULL;
	h->next = db->holds;
	if (h->next)
		h->next->prev = h;
	db->holds = h;
}

static void dk_hold_unlink(struct daxkv *db, struct dk_hold *h)
{
	pthread_mutex_lock(&db->hold_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		db->holds = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&db->hold_lock);
}

/*
 * Why the epoch may be read before the sequence, without view_lock: a
 * swap that ends (bumps the epoch) after the read has victims of a later
 * epoch, which this hold keeps.  A swap that ended before it moved every
 * entry it copied to the copy, and the records it left in its victims
 * were replaced by commits that took their sequences before the swap
 * ended, so before this hold's sequence (which waits for them): no
 * version this hold reads lies in those victims.  The hold is listed
 * before the sequence is fixed, so a removal that did not see it came
 * after a swap that ended before the sequence: harmless by the same
 * argument.
 */
int dk_hold_take(struct daxkv *db, struct dk_hold *h)
{
	int rc;

	pthread_mutex_lock(&db->hold_lock);
	h->epoch = __atomic_load_n(&db->view_epoch, __ATOMIC_ACQUIRE);
	dk_hold_link(db, h);
	pthread_mutex_unlock(&db->hold_lock);
	rc = dk_snapshot_seq_hold(db, &h->seq);
	if (rc)
		dk_hold_unlink(db, h);
	return rc;
}

void dk_hold_release(struct daxkv *db, struct dk_hold *h)
{
	dk_snapshot_seq_release(db, h->seq);
	dk_hold_unlink(db, h);
}

int dk_snapshot_take(struct daxkv *db, struct daxkv_snapshot **sp)
{
	struct daxkv_snapshot *s;
	uint32_t hi;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return dk_err(DAXKV_ENOMEM, "no memory for a snapshot");
	/*
	 * The sequence and the segment list are taken under one hold of
	 * view_lock: a compaction's swap between the two would list copies
	 * made after s of records some of which were dropped as superseded
	 * by writes newer than s.
	 */
	pthread_rwlock_rdlock(&db->view_lock);
	rc = dk_snapshot_seq_hold(db, &s->hold.seq);
	if (rc) {
		pthread_rwlock_unlock(&db->view_lock);
		free(s);
		return rc;
	}
	s->seq = s->hold.seq;
	/* tails after s is fixed: see the argument at the top */
	hi = __atomic_load_n(&db->seg_hiwater, __ATOMIC_ACQUIRE);
	s->tails = calloc(hi ? hi : 1, sizeof(*s->tails));
	if (!s->tails) {
		pthread_rwlock_unlock(&db->view_lock);
		dk_snapshot_seq_release(db, s->seq);
		free(s);
		return dk_err(DAXKV_ENOMEM, "no memory for a snapshot");
	}
	for (uint32_t slot = 0; slot < hi; slot++) {
		struct dk_segment *seg =
			__atomic_load_n(&db->segs[slot], __ATOMIC_ACQUIRE);
		uint64_t tail;

		if (!seg || __atomic_load_n(&seg->hidden, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&seg->retiring, __ATOMIC_ACQUIRE))
			continue;
		tail = __atomic_load_n(&seg->tail, __ATOMIC_ACQUIRE);
		if (tail <= DK_SEG_HDR_SIZE)
			continue;
		s->tails[s->ntails].seg = seg;
		s->tails[s->ntails].tail = tail;
		s->ntails++;
	}
	/* epoch and list entry under view_lock: a swap cannot slip in */
	pthread_mutex_lock(&db->hold_lock);
	s->hold.epoch = __atomic_load_n(&db->view_epoch, __ATOMIC_RELAXED);
	dk_hold_link(db, &s->hold);
	pthread_mutex_unlock(&db->hold_lock);
	pthread_rwlock_unlock(&db->view_lock);
	s->db = db;
	__atomic_fetch_add(&db->nsnapshots, 1, __ATOMIC_RELAXED);
	*sp = s;
	return 0;
}

void dk_snapshot_release(struct daxkv_snapshot *s)
{
	if (!s)
		return;
	dk_hold_release(s->db, &s->hold);
	__atomic_fetch_sub(&s->db->nsnapshots, 1, __ATOMIC_RELAXED);
	free(s->tails);
	free(s);
}

uint64_t dk_snapshot_min_epoch(struct daxkv *db)
{
	uint64_t min = UINT64_MAX;

	pthread_mutex_lock(&db->hold_lock);
	for (struct dk_hold *h = db->holds; h; h = h->next)
		if (h->epoch < min)
			min = h->epoch;
	pthread_mutex_unlock(&db->hold_lock);
	return min;
}

int daxkv_snapshot_open(daxkv *db, daxkv_snapshot **snapp)
{
	dk_err_clear();
	if (!db || !snapp)
		return dk_err(DAXKV_EINVAL, "%s is NULL", db ? "snapp" : "db");
	return dk_snapshot_take(db, snapp);
}

void daxkv_snapshot_close(daxkv_snapshot *snap)
{
	dk_snapshot_release(snap);
}

uint64_t daxkv_snapshot_seq(const daxkv_snapshot *snap)
{
	return snap ? snap->seq : 0;
}
