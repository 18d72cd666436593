// SPDX-License-Identifier: MIT
/*
 * write.c -- puts, deletes and batches: the one commit path.
 *
 * A commit of n operations (n = 1 for daxkv_put/daxkv_delete):
 *   1. take a lane whose segment has room for the commit (rolling over to
 *      a segment made ready ahead of need, spare.c, before any entry is
 *      locked), find or create each key's entry and lock the entries in
 *      key order (batches are sorted and deduplicated first, so two
 *      commits never wait for each other in a cycle; a lane is taken
 *      before any entry lock, and the index grows only with every lane);
 *   2. take a sequence number s;
 *   3. build the records in DRAM (crc included) and copy them to the
 *      lane's segment with non-temporal stores, in whole cache lines
 *      where the lane knows the line it appends into (dk_append);
 *   4. store s into the `superseded` word of each key's previous record
 *      and flush it;
 *   5. one fence (dk_drain): the records and marks are durable;
 *   6. advance the segment's tail, publish the new versions in the index,
 *      end the sequence, unlock, return 0 (the acknowledgement).
 *
 * Ordering argument.  Power failure before 5 may leave any subset of the
 * records' and marks' cache lines durable.  Recovery validates records
 * by crc and batch count, so a partial commit is discarded whole (a
 * whole-line append rewrites the bytes around its records with the values
 * they already hold, so it can tear nothing else: see dk_append); marks
 * are hints that recovery recomputes (a key's winning record gets 0,
 * every loser a non-zero sequence <= the newest), so a mark that landed
 * without its record is repaired.  After 5 the commit is durable, which is
 * why the acknowledgement comes after it.  Marks go before the fence so
 * that one fence covers both: a mark written after the acknowledgement
 * could be lost with a clean checkpoint already trusting it.  Visibility:
 * a snapshot cannot include s before step 6 ends the sequence, and by then
 * the mark (step 4) is in place, so the version rule of layout.h holds
 * for every snapshot a device can be given.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "errors.h"
#include "hmap.h"
#include "index.h"
#include "internal.h"
#include "latency.h"
#include "lane.h"
#include "persist.h"
#include "record.h"
#include "snapshot.h"
#include "spare.h"

struct dk_op {
	const void *key;
	const void *val;
	uint32_t klen;
	uint32_t vlen;
	bool is_del;
	bool skip;      /* delete of a missing key: writes nothing */
	uint64_t hash;
	uint64_t loc;   /* where its record goes */
	struct dk_entry *e;
	struct dk_version *spare; /* to keep the replaced version, if needed */
};

struct daxkv_batch {
	struct dk_op *ops;
	size_t nops, cap;
	uint8_t *data; /* copies of keys and values */
	size_t used, data_cap;
};

static size_t dk_rec_build(uint8_t *dst, const struct dk_op *op,
			   uint16_t flags, uint32_t batch, uint64_t seq)
{
	struct dk_rec *rec = (struct dk_rec *)dst;
	size_t size = dk_rec_size(op->klen, op->vlen);
	size_t used = DK_REC_HDR_SIZE + op->klen + op->vlen;

	rec->klen = (uint16_t)op->klen;
	rec->flags = flags | (op->is_del ? DK_REC_DEL : DK_REC_PUT);
	rec->vlen = op->vlen;
	rec->batch = batch;
	rec->seq = seq;
	rec->superseded = 0;
	memcpy(dst + DK_REC_HDR_SIZE, op->key, op->klen);
	if (op->vlen)
		memcpy(dst + DK_REC_HDR_SIZE + op->klen, op->val, op->vlen);
	memset(dst + used, 0, size - used);
	rec->crc = dk_rec_crc(rec, dst + DK_REC_HDR_SIZE,
			      dst + DK_REC_HDR_SIZE + op->klen);
	return size;
}

static void dk_mark_superseded(struct daxkv *db, uint64_t loc,
			       uint64_t seq)
{
	struct dk_rec *rec = dk_rec_at(db, loc);

	dk_store8_flush(&dk_seg_of(db, loc)->pm, (uint64_t *)&rec->superseded,
			seq);
}

/*
 * Whole-line appends.  A record is 8-byte aligned, so an append usually
 * begins and ends inside a cache line.  Copied byte-exactly, libpmem writes
 * those partial lines with ordinary stores and a flush, and the first one
 * is the line the previous append flushed (evicted, on CPUs whose clwb
 * evicts): each append then reads it back from media before it can write.
 * Instead the lane keeps a copy of its last partial line (dk_lane.line),
 * and an append writes whole lines with non-temporal stores: that line's
 * bytes before the new records, as they are, and zeros after them up to
 * the next line boundary.  The bytes on media do not change at all except
 * where the records go, so this writes exactly what the byte-exact copy
 * writes, and power failure leaves what it would have left: a rewritten
 * 8-byte word holds its old value whether it was written or not, and the
 * zeros land on bytes past the tail, which are zero already (segments are
 * created zeroed; dk_segment_prepare_append zeroes the torn remains past
 * the tail of a reused one before appends begin).
 *
 * The bytes before the new records in their first line must be immutable
 * for this to be right: the only word of a record that changes after it
 * was appended is `superseded`, which another lane's commit may store at
 * any time, and rewriting it from a stale copy would undo that mark.  So a
 * whole-line append is made only when the last record before it has its
 * whole 32-byte header below that line (true for every record of 64 bytes
 * or more: 16-byte keys with 100-byte values are 152) and the lane knows
 * the line (it appended it itself, to this segment, and nothing since).
 * Otherwise the copy is byte-exact, as before.  The lane's copy of the
 * new last line is kept in both cases when it is known.
 */
#define DK_LINE 64u

static void dk_append(struct daxkv *db, struct dk_lane *lane,
		      struct dk_segment *seg, uint64_t off, uint8_t *lines,
		      uint64_t total, uint64_t last)
{
	uint64_t head = off % DK_LINE, line0 = off - head, end = off + total;
	uint64_t lend = (end + DK_LINE - 1) & ~(uint64_t)(DK_LINE - 1);
	uint64_t tail_line = end & ~(uint64_t)(DK_LINE - 1);
	bool known = head == 0 ||
		     (lane->line_seg == seg && lane->line_tail == off &&
		      lane->last_rec + DK_REC_HDR_SIZE <= line0);

	if (known) {
		memcpy(lines, lane->line, head);
		dk_copy_nodrain(&seg->pm, seg->base + line0, lines, lend - line0);
	} else {
		dk_copy_nodrain(&seg->pm, seg->base + off, lines + head, total);
	}
	if (known || tail_line >= off) {
		memcpy(lane->line, lines + (tail_line - line0), end - tail_line);
		lane->line_seg = seg;
		lane->line_tail = end;
		lane->last_rec = last;
	} else {
		lane->line_seg = NULL;
	}
}

enum dk_commit_kind { DK_COMMIT_PUT, DK_COMMIT_DELETE, DK_COMMIT_BATCH };

/* A per-lane counter: written only by the lane's holder, read by
 * daxkv_stat (relaxed). */
static inline void dk_counter_add(int64_t *field, int64_t delta)
{
	__atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) + delta,
			 __ATOMIC_RELAXED);
}

/*
 * Step 1: take a lane with room for @p bound bytes in its segment, find or
 * create each key's entry, and lock the entries in key order; a delete of
 * a key without a live version is to be skipped.  Under rcu_read_lock.  0
 * with the lane held and every entry found locked, DK_LANE_NO_SEGMENT
 * (no segment was ready: make one, holding nothing, and call again), or
 * an error, with neither held.
 *
 * Room is made before any entry is locked, so that a roll-over never
 * holds up another writer of these keys (it takes a ready segment,
 * spare.c: bounded work, but still not under an entry lock).
 */
static int dk_commit_lock(struct daxkv *db, struct dk_op *ops, size_t n,
			  uint64_t bound, enum dk_room room,
			  struct dk_lane **lanep)
{
	struct dk_lane *lane;
	size_t i;
	int rc;

retry:
	lane = dk_lane_acquire(db);
	rc = dk_lane_make_room(db, lane, bound, room);
	if (rc) {
		dk_lane_release(lane);
		return rc;
	}
	for (i = 0; i < n; i++) {
		struct dk_op *op = &ops[i];
		bool full = false;

		if (op->is_del) {
			op->e = dk_index_lookup(db, op->key, op->klen,
						op->hash);
			continue; /* none: nothing to delete */
		}
		op->e = dk_index_get_or_create(db, lane, op->key, op->klen,
					       op->hash, &full);
		if (op->e)
			continue;
		dk_lane_release(lane);
		if (!full)
			return DAXKV_ENOMEM; /* said why */
		rc = dk_hmap_grow(db, op->hash); /* needs every lane */
		if (rc)
			return rc;
		goto retry;
	}
	for (i = 0; i < n; i++) {
		struct dk_op *op = &ops[i];
		uint64_t cur;

		op->skip = false;
		if (!op->e) {
			op->skip = true;
			continue;
		}
		dk_entry_lock(op->e);
		if (op->e->dead) {
			/* removed since it was found (index.c): look again */
			for (size_t j = 0; j <= i; j++)
				if (ops[j].e)
					dk_entry_unlock(ops[j].e);
			dk_lane_release(lane);
			goto retry;
		}
		cur = op->e->cur;
		if (op->is_del && (!cur || (cur & DK_LOC_DEL)))
			op->skip = true;
	}
	*lanep = lane;
	return 0;
}

/*
 * Step 2: take the commit's sequence number, room for @p total bytes in
 * the lane's segment and, while a snapshot is open, a node to keep each
 * version being replaced.  On an error the sequence is skipped (nothing
 * was written) and the lane is let go.
 */
static int dk_commit_reserve(struct daxkv *db, struct dk_lane *lane,
			     struct dk_op *ops, size_t n, uint64_t total,
			     uint64_t *seqp, struct dk_segment **segp,
			     uint64_t *offp, bool *neededp)
{
	int rc;

	*seqp = dk_seq_begin(db, lane);
	rc = dk_lane_reserve(db, lane, total, segp, offp);
	*neededp = dk_versions_needed(db);
	if (rc == 0 && *neededp) {
		/* a snapshot is open: the versions replaced must stay */
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (ops[i].skip || !ops[i].e->cur)
				continue;
			ops[i].spare = malloc(sizeof(struct dk_version));
			if (!ops[i].spare)
				rc = dk_err(DAXKV_ENOMEM,
					    "no memory for a version");
		}
	}
	if (rc) {
		dk_seq_end(lane);
		dk_lane_release(lane);
	}
	return rc;
}

/*
 * Step 3: build the @p nlive records in @p buf, which holds the lines
 * [off - off % DK_LINE, ...) they go to, and copy them to @p seg at
 * @p off: not yet durable.  Each op gets its record's location.
 */
static void dk_commit_append(struct daxkv *db, struct dk_lane *lane,
			     struct dk_op *ops, size_t n, size_t nlive,
			     uint64_t seq, struct dk_segment *seg,
			     uint64_t off, uint64_t total, uint8_t *buf)
{
	uint16_t flags = nlive > 1 ? DK_REC_BATCH : 0;
	uint64_t head = off % DK_LINE, end = off + total;
	uint64_t lend = (end + DK_LINE - 1) & ~(uint64_t)(DK_LINE - 1);
	size_t pos = head, last = 0;

	for (size_t i = 0; i < n; i++) {
		if (ops[i].skip)
			continue;
		ops[i].loc = DK_LOC(seg->slot, off + pos - head) |
			     (ops[i].is_del ? DK_LOC_DEL : 0);
		last = off + pos - head;
		pos += dk_rec_build(buf + pos, &ops[i], flags, (uint32_t)nlive,
				    seq);
	}
	memset(buf + head + total, 0, lend - end);
	dk_append(db, lane, seg, off, buf, total, last);
}

/*
 * Step 6: the new versions become the newest: per-lane and per-segment
 * counters move, and the index points at the new records.
 */
static void dk_commit_publish(struct daxkv *db, struct dk_lane *lane,
			      struct dk_op *ops, size_t n,
			      struct dk_segment *seg)
{
	for (size_t i = 0; i < n; i++) {
		struct dk_op *op = &ops[i];
		uint64_t prev;

		if (op->skip)
			continue;
		prev = op->e->cur;
		if (prev && !(prev & DK_LOC_DEL)) {
			dk_counter_add(&lane->dlive,
				       -(int64_t)dk_rec_size(op->klen,
							    op->e->vlen));
			if (op->is_del)
				dk_counter_add(&lane->dkeys, -1);
		} else if (!op->is_del) {
			dk_counter_add(&lane->dkeys, 1);
		}
		if (!op->is_del)
			dk_counter_add(&lane->dlive,
				       (int64_t)dk_rec_size(op->klen, op->vlen));
		/* per segment, for compaction: the new record is live, the
		 * one it replaces is not (a delete's record counts: it is
		 * kept) */
		__atomic_fetch_add(&seg->live,
				   (int64_t)dk_rec_size(op->klen, op->vlen),
				   __ATOMIC_RELAXED);
		if (op->is_del)
			__atomic_fetch_add(&seg->tomb,
					   (int64_t)dk_rec_size(op->klen,
								op->vlen),
					   __ATOMIC_RELAXED);
		if (prev)
			__atomic_fetch_sub(
				&dk_seg_of(db, prev)->live,
				(int64_t)dk_rec_size(op->klen, op->e->vlen),
				__ATOMIC_RELAXED);
		if (prev & DK_LOC_DEL)
			__atomic_fetch_sub(&dk_seg_of(db, prev)->tomb,
					   (int64_t)dk_rec_size(op->klen,
								op->e->vlen),
					   __ATOMIC_RELAXED);
		op->e->vlen = op->vlen;
		dk_version_push(db, op->e, op->hash, op->loc, op->spare);
		op->spare = NULL;
	}
}

/* Commit ops[0..n) (sorted by key, no key twice): the steps above. */
static int dk_commit(struct daxkv *db, struct dk_op *ops, size_t n,
		     enum dk_commit_kind kind)
{
	uint8_t stackbuf[2048] __attribute__((aligned(64))), *buf = stackbuf;
	struct dk_lane *lane = NULL;
	struct dk_segment *seg;
	size_t nlive = 0, i;
	uint64_t total = 0, bound = 0, off, seq;
	enum dk_room room = DK_ROOM_DELETE;
	bool locked = false, needed = false;
	int rc;

	for (i = 0; i < n; i++) {
		ops[i].spare = NULL;
		ops[i].e = NULL;
		ops[i].skip = false;
		bound += dk_rec_size(ops[i].klen, ops[i].vlen);
		if (!ops[i].is_del)
			room = DK_ROOM_PUT; /* deletes may go on without it */
	}
	rcu_read_lock();
	/* each slot's miss overlaps taking the lane (and the other misses) */
	for (i = 0; i < n; i++)
		dk_hmap_prefetch(db, ops[i].hash);
	while ((rc = dk_commit_lock(db, ops, n, bound, room, &lane)) ==
	       DK_LANE_NO_SEGMENT) {
		/* no segment was ready: make one, outside the read section
		 * and every lock, and start over */
		rcu_read_unlock();
		rc = dk_spare_make_now(db, bound, room);
		rcu_read_lock();
		if (rc)
			break;
	}
	if (rc)
		goto out_unlock;
	locked = true;
	for (i = 0; i < n; i++) {
		if (ops[i].skip)
			continue;
		total += dk_rec_size(ops[i].klen, ops[i].vlen);
		nlive++;
	}
	if (nlive == 0) {
		if (kind == DK_COMMIT_DELETE)
			rc = dk_err(DAXKV_ENOTFOUND, "key not found");
		dk_lane_release(lane);
		goto out_unlock;
	}
	if (total + 2 * DK_LINE > sizeof(stackbuf)) {
		buf = malloc(total + 2 * DK_LINE);
		if (!buf) {
			rc = dk_err(DAXKV_ENOMEM,
				    "no memory to build %llu bytes of records",
				    (unsigned long long)total);
			dk_lane_release(lane);
			goto out_unlock;
		}
	}
	rc = dk_commit_reserve(db, lane, ops, n, total, &seq, &seg, &off,
			       &needed);
	if (rc)
		goto out_unlock;
	/* step 3: records, not yet durable */
	dk_commit_append(db, lane, ops, n, nlive, seq, seg, off, total, buf);
	/* step 4: marks on the previous versions, same fence */
	for (i = 0; i < n; i++) {
		if (!ops[i].skip && ops[i].e->cur)
			dk_mark_superseded(db, ops[i].e->cur, seq);
	}
	/* step 5: durable from here on; power failure before this line loses
	 * the whole commit, which was not acknowledged */
	dk_drain(&db->pm);
	__atomic_store_n(&seg->tail, off + total, __ATOMIC_RELEASE);
	if (!__atomic_load_n(&seg->min_seq, __ATOMIC_RELAXED))
		__atomic_store_n(&seg->min_seq, seq, __ATOMIC_RELAXED);
	/* before the keys are unlocked: a delete of one of them that
	 * follows must find this put (compact.c, the tombstone rule) */
	if (room == DK_ROOM_PUT &&
	    !__atomic_load_n(&seg->min_put_seq, __ATOMIC_RELAXED))
		__atomic_store_n(&seg->min_put_seq, seq, __ATOMIC_RELEASE);
	__atomic_store_n(&seg->max_seq, seq, __ATOMIC_RELAXED);
	dk_counter_add((int64_t *)&lane->appended, (int64_t)total);

	/* step 6: visible */
	dk_commit_publish(db, lane, ops, n, seg);
	dk_seq_end(lane);
	dk_counter_add((int64_t *)(kind == DK_COMMIT_PUT ? &lane->puts :
				   kind == DK_COMMIT_DELETE ? &lane->deletes :
							      &lane->batches),
		       1);
	/* keys deleted: their entries go, now or once no snapshot looks
	 * behind the delete (index.c) */
	for (i = 0; i < n; i++) {
		if (!ops[i].e)
			continue;
		if (!ops[i].skip && ops[i].is_del)
			dk_index_deleted(db, lane, ops[i].e, ops[i].hash,
					 needed);
		dk_entry_unlock(ops[i].e);
		ops[i].e = NULL;
	}
	if (++lane->ops % DK_GC_EVERY == 0) {
		dk_gc_horizon_update(db, false);
		if (dk_index_reap_pending(db))
			dk_index_reap(db, lane);
	}
	dk_lane_release(lane);
	rcu_read_unlock();
	goto out_free;

out_unlock:
	for (i = 0; locked && i < n; i++)
		if (ops[i].e)
			dk_entry_unlock(ops[i].e);
	rcu_read_unlock();
out_free:
	for (i = 0; i < n; i++)
		free(ops[i].spare);
	if (buf != stackbuf)
		free(buf);
	return rc;
}

/*
 * A commit that met ENOSPC compacts and tries once more.  Once more even
 * when this compaction freed nothing itself: the background compactor's
 * round, which dk_compact_for_space waited for, may have freed segments
 * whose files now wait to be renewed as spares, which the retry's
 * dk_spare_make_now does (spare.c).  Without it a delete at ENOSPC could
 * fail on a loaded machine while space was there (compact_test
 * empty_fs).
 */
static int dk_commit_or_compact(struct daxkv *db, struct dk_op *ops, size_t n,
				enum dk_commit_kind kind)
{
	int rc;

	if (db->rdonly)
		return dk_err(DAXKV_EPERM, "%s was opened read-only "
			      "(DAXKV_OPEN_RDONLY)", db->dir);
	rc = dk_commit(db, ops, n, kind);

	if (rc == DAXKV_ENOSPC && dk_compact_for_space(db) >= 0)
		rc = dk_commit(db, ops, n, kind);
	return rc;
}

int daxkv_put(daxkv *db, const void *key, size_t klen, const void *val,
	      size_t vlen)
{
	struct dk_op op;
	int rc;
	DK_LAT_TIME(db, DK_LAT_PUT);

	dk_err_clear();
	if (!db)
		return dk_err(DAXKV_EINVAL, "db is NULL");
	rc = dk_check_kv(key, klen, val, vlen, true);
	if (rc)
		return rc;
	op.key = key;
	op.klen = (uint32_t)klen;
	op.val = val;
	op.vlen = (uint32_t)vlen;
	op.is_del = false;
	op.hash = dk_hash(key, klen);
	return dk_commit_or_compact(db, &op, 1, DK_COMMIT_PUT);
}

int daxkv_delete(daxkv *db, const void *key, size_t klen)
{
	struct dk_op op;
	int rc;
	DK_LAT_TIME(db, DK_LAT_DELETE);

	dk_err_clear();
	if (!db)
		return dk_err(DAXKV_EINVAL, "db is NULL");
	rc = dk_check_kv(key, klen, NULL, 0, false);
	if (rc)
		return rc;
	op.key = key;
	op.klen = (uint32_t)klen;
	op.val = NULL;
	op.vlen = 0;
	op.is_del = true;
	op.hash = dk_hash(key, klen);
	return dk_commit_or_compact(db, &op, 1, DK_COMMIT_DELETE);
}

int daxkv_batch_new(daxkv_batch **bp)
{
	dk_err_clear();
	if (!bp)
		return dk_err(DAXKV_EINVAL, "bp is NULL");
	*bp = calloc(1, sizeof(**bp));
	if (!*bp)
		return dk_err(DAXKV_ENOMEM, "no memory for a batch");
	return 0;
}

static int dk_batch_add(daxkv_batch *b, const void *key, size_t klen,
			const void *val, size_t vlen, bool is_del)
{
	struct dk_op *op;
	int rc;

	dk_err_clear();
	if (!b)
		return dk_err(DAXKV_EINVAL, "batch is NULL");
	rc = dk_check_kv(key, klen, val, vlen, !is_del);
	if (rc)
		return rc;
	if (b->nops == DAXKV_MAX_BATCH_OPS)
		return dk_err(DAXKV_EINVAL, "batch holds %u operations already",
			      DAXKV_MAX_BATCH_OPS);
	if (b->nops == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct dk_op *grown = realloc(b->ops, cap * sizeof(*grown));

		if (!grown)
			return dk_err(DAXKV_ENOMEM, "no memory for batch ops");
		b->ops = grown;
		b->cap = cap;
	}
	if (b->used + klen + vlen > b->data_cap) {
		size_t cap = b->data_cap ? b->data_cap : 4096;
		uint8_t *grown;

		while (cap < b->used + klen + vlen)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (!grown)
			return dk_err(DAXKV_ENOMEM, "no memory for batch data");
		b->data = grown;
		b->data_cap = cap;
	}
	op = &b->ops[b->nops];
	memset(op, 0, sizeof(*op));
	/* pointers are offsets into data until commit (data may move) */
	op->key = (const void *)(uintptr_t)b->used;
	memcpy(b->data + b->used, key, klen);
	b->used += klen;
	op->val = (const void *)(uintptr_t)b->used;
	if (vlen)
		memcpy(b->data + b->used, val, vlen);
	b->used += vlen;
	op->klen = (uint32_t)klen;
	op->vlen = (uint32_t)vlen;
	op->is_del = is_del;
	b->nops++;
	return 0;
}

int daxkv_batch_put(daxkv_batch *b, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	return dk_batch_add(b, key, klen, val, vlen, false);
}

int daxkv_batch_delete(daxkv_batch *b, const void *key, size_t klen)
{
	return dk_batch_add(b, key, klen, NULL, 0, true);
}

struct dk_sort_op {
	struct dk_op op;
	size_t order; /* position in the batch: the later wins */
};

static int dk_sort_op_cmp(const void *a, const void *b)
{
	const struct dk_sort_op *x = a, *y = b;
	int c = dk_keycmp(x->op.key, x->op.klen, y->op.key, y->op.klen);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

int daxkv_batch_commit(daxkv *db, daxkv_batch *b)
{
	struct dk_sort_op *sorted;
	struct dk_op *ops;
	size_t n = 0;
	int rc;
	DK_LAT_TIME(db, DK_LAT_BATCH);

	dk_err_clear();
	if (!db || !b)
		return dk_err(DAXKV_EINVAL, "%s is NULL", db ? "batch" : "db");
	if (b->nops == 0)
		return 0;
	sorted = malloc(b->nops * sizeof(*sorted));
	ops = malloc(b->nops * sizeof(*ops));
	if (!sorted || !ops) {
		free(sorted);
		free(ops);
		return dk_err(DAXKV_ENOMEM, "no memory to commit a batch");
	}
	for (size_t i = 0; i < b->nops; i++) {
		sorted[i].op = b->ops[i];
		sorted[i].op.key = b->data + (uintptr_t)b->ops[i].key;
		sorted[i].op.val = b->data + (uintptr_t)b->ops[i].val;
		sorted[i].order = i;
	}
	qsort(sorted, b->nops, sizeof(*sorted), dk_sort_op_cmp);
	/* keep the last operation on each key */
	for (size_t i = 0; i < b->nops; i++) {
		if (i + 1 < b->nops &&
		    dk_keycmp(sorted[i].op.key, sorted[i].op.klen,
			      sorted[i + 1].op.key, sorted[i + 1].op.klen) == 0)
			continue;
		ops[n] = sorted[i].op;
		ops[n].hash = dk_hash(ops[n].key, ops[n].klen);
		n++;
	}
	free(sorted);
	rc = dk_commit_or_compact(db, ops, n, DK_COMMIT_BATCH);
	free(ops);
	return rc;
}

void daxkv_batch_clear(daxkv_batch *b)
{
	if (!b)
		return;
	b->nops = 0;
	b->used = 0;
}

void daxkv_batch_free(daxkv_batch *b)
{
	if (!b)
		return;
	free(b->ops);
	free(b->data);
	free(b);
}
