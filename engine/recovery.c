// SPDX-License-Identifier: MIT
/*
 * recovery.c -- rebuild the index at open.
 *
 * After a clean close the checkpoint is loaded (checkpoint.c).  Otherwise
 * every live segment is scanned, in parallel (one thread per CPU by
 * default, segments handed out from a shared counter):
 *
 * - Records are read from offset 4096 until the first invalid one
 *   (layout.h: crc, ranges, seq not below the previous record's).  A batch
 *   counts only if all of its records are valid; the first incomplete
 *   batch ends the segment's log.  That end becomes the segment's tail.
 * - Past the end of the log, only what a crash can leave may follow
 *   (layout.h): the one commit in flight, torn, then zeros.  So the rest
 *   of the segment is searched, one 8-byte step at a time, for a complete
 *   valid batch (record.c: dk_log_resync); finding one means damage, and
 *   the open fails with DAXKV_ECORRUPT naming the file and offset, sealed
 *   segment or open one.  In a sealed segment the log must also end
 *   exactly at the sealed tail.  Otherwise the rest of an open segment is
 *   the torn remains of an unacknowledged write; it is zeroed before the
 *   next append (segment.c), which proves it dead again first.
 * - Every read of a mapping is guarded (guard.h): a media error is
 *   DAXKV_EIO naming the file and offset, not a dead process.
 * - Before any of it, files are matched with the meta table: a segment
 *   file of a slot that is not LIVE is removed only when its own header
 *   proves it an aborted create or a retired segment
 *   (segment.c: dk_segment_file_fate); any other refuses the open.  A
 *   LIVE segment whose seal word says FILLING (a compaction a crash
 *   interrupted: its originals are intact) or RETIRED (a removal a crash
 *   interrupted) is removed.
 * - Each valid record is offered to its key's entry; the newest sequence
 *   wins.  A losing put's `superseded` word is set if it is 0 or larger
 *   than the winner's sequence, and after the scan every winner's word is
 *   reset to 0: marks written by commits that did not survive are undone,
 *   marks that did not reach media are redone.  Both are idempotent, so a
 *   crash during recovery is followed by the same recovery.  A losing
 *   delete is left as it is: the version rule reads the marks of puts
 *   only, compaction treats an unmarked delete by asking the index, and a
 *   put that follows a delete whose entry was removed (index.c) had no
 *   entry to mark it through, so such deletes are unmarked on media by
 *   design, not by a lost write.
 * - Sequence numbers resume above the highest seq of any record whose crc
 *   was valid, counted or not.
 *
 * A read-only open (DAXKV_OPEN_RDONLY) recovers in DRAM only: no orphan is
 * removed, no mark written, the clean flag left as it is.  The index it
 * builds is the same (the newest sequence wins whatever the marks say),
 * so gets and scans are right.  The marks it would have changed are
 * counted in stale_marks: where there are any, the version rule does not
 * hold on media (a loser still unmarked reads as visible, a winner marked
 * by a lost commit as invisible), and queries, which decide visibility
 * from the records alone, are refused (query.c).  After a clean close, or
 * after any read-write open, there are none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btree.h"
#include "bulk.h"
#include "checkpoint.h"
#include "errors.h"
#include "guard.h"
#include "hmap.h"
#include "index.h"
#include "internal.h"
#include "lane.h"
#include "media.h"
#include "meta.h"
#include "persist.h"
#include "record.h"
#include "recovery.h"
#include "segment.h"

/*
 * A record seen by the scan: its key's hash, an entry made for it while
 * the segment was read in order (key, location in cur, value length), its
 * sequence, and whether its `superseded` word was set: the rest of
 * recovery needs the record itself only to set or clear that word.
 */
struct dk_ritem {
	uint64_t hash;
	struct dk_entry *e;
	uint64_t seq;     /* << 1 | superseded word non-zero */
};

/* Items of one partition (hash-index shard) found by one thread. */
struct dk_rbuf {
	struct dk_ritem *v;
	size_t n, cap;
};

struct dk_recovery {
	struct daxkv *db;
	uint32_t *slots;
	uint32_t nslots;
	uint32_t nthreads;
	uint32_t next;   /* atomic: next index into slots, then partition */
	int rc;          /* atomic: first error */
	char errmsg[512];
	pthread_mutex_t err_lock; /* protects errmsg */
	uint64_t max_seq;  /* atomic max */
	uint64_t records;  /* atomic */
	uint64_t discarded; /* atomic */
	struct dk_rbuf *bufs;    /* [thread][partition] */
	size_t rbuf_hint;        /* first capacity of a buffer: a guess at
				    its share of the records */
	struct dk_alloc **als;   /* a builder's allocator per thread */
	struct dk_rthread {
		int64_t *seglive;        /* [DK_MAX_SEGMENTS]: live bytes,
					    then [DK_MAX_SEGMENTS]: the
					    deletes' share (tomb) */
		struct dk_entry **live;  /* entries of live keys */
		size_t nlive, livecap;
		uint64_t live_bytes;
	} *th;
};

static void dk_atomic_max(uint64_t *dst, uint64_t val)
{
	uint64_t cur = __atomic_load_n(dst, __ATOMIC_RELAXED);

	while (cur < val && !__atomic_compare_exchange_n(
				    dst, &cur, val, true, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED))
		;
}

/* The first error of any thread wins; the others stop. */
static void dk_recovery_fail(struct dk_recovery *rv, int rc)
{
	int expected = 0;

	if (__atomic_compare_exchange_n(&rv->rc, &expected, rc, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&rv->err_lock);
		snprintf(rv->errmsg, sizeof(rv->errmsg), "%s", daxkv_errmsg());
		pthread_mutex_unlock(&rv->err_lock);
	}
}

static int dk_rbuf_push(struct dk_rbuf *b, struct dk_ritem it, size_t hint)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : hint;
		struct dk_ritem *g = realloc(b->v, cap * sizeof(*g));

		if (!g)
			return dk_err(DAXKV_ENOMEM, "recovery: no memory");
		b->v = g;
		b->cap = cap;
	}
	b->v[b->n++] = it;
	return 0;
}

/* dk_batch_end under a guard: 0, or DAXKV_EIO naming the fault. */
static int dk_recover_batch(struct dk_recovery *rv, struct dk_segment *seg,
			    uint64_t off, uint64_t prev_seq, uint64_t *endp,
			    uint32_t *validp)
{
	struct dk_guard g;

	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		return dk_guard_eio(rv->db, &g, "recovery read a record");
	}
	dk_guard_push(&g);
	*endp = dk_batch_end(seg, off, prev_seq, validp);
	dk_guard_pop(&g);
	return 0;
}

/* dk_log_resync under a guard: 0, or DAXKV_EIO naming the fault. */
static int dk_recover_resync(struct dk_recovery *rv, struct dk_segment *seg,
			     uint64_t off, uint64_t prev_seq, uint64_t *nextp)
{
	struct dk_guard g;

	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		return dk_guard_eio(rv->db, &g,
				    "recovery read past the end of the log");
	}
	dk_guard_push(&g);
	*nextp = dk_log_resync(seg, off, seg->size, prev_seq);
	dk_guard_pop(&g);
	return 0;
}

/* Phase 1 for one segment: its log, the end of it, its records listed
 * by partition. */
static int dk_recover_segment(struct dk_recovery *rv, struct dk_segment *seg,
			      struct dk_rbuf *bufs, struct dk_alloc *al)
{
	struct daxkv *db = rv->db;
	const struct dk_seg_header *hdr = dk_segment_header(seg);
	uint64_t sealed = hdr->sealed_tail;
	uint64_t off = DK_SEG_HDR_SIZE, prev_seq = 0, records = 0;
	char path[4096];
	int rc;

	while (off < seg->size) {
		const struct dk_rec *rec =
			(const struct dk_rec *)(seg->base + off);
		uint32_t count, valid;
		uint64_t seq, end;

		rc = dk_recover_batch(rv, seg, off, prev_seq, &end, &valid);
		if (rc)
			return rc;
		if (valid == 0)
			break; /* an invalid record: the log ends here */
		seq = rec->seq;
		count = rec->batch;
		dk_atomic_max(&rv->max_seq, seq);
		if (!end) {
			/* the whole batch, or nothing */
			__atomic_fetch_add(&rv->discarded, valid,
					   __ATOMIC_RELAXED);
			break;
		}
		for (uint64_t pos = off; pos < end;) {
			const struct dk_rec *r =
				(const struct dk_rec *)(seg->base + pos);
			uint64_t hash = dk_hash(dk_rec_key(r), r->klen);
			struct dk_ritem it = {
				.hash = hash,
				.e = dk_entry_new(al, dk_rec_key(r), r->klen),
				.seq = r->seq << 1 | (r->superseded != 0),
			};

			if (!it.e)
				return dk_err(DAXKV_ENOMEM,
					      "recovery: no memory");
			it.e->cur = DK_LOC(seg->slot, pos) |
				    ((r->flags & DK_REC_DEL) ? DK_LOC_DEL : 0);
			it.e->vlen = r->vlen;
			it.e->linked = 1;
			if (!(r->flags & DK_REC_DEL) && !seg->min_put_seq)
				seg->min_put_seq = r->seq;
			rc = dk_rbuf_push(&bufs[dk_hmap_shard_of(hash)], it,
					  rv->rbuf_hint);
			if (rc)
				return rc;
			pos += dk_rec_size(r->klen, r->vlen);
		}
		records += count;
		prev_seq = seq;
		off = end;
	}
	__atomic_fetch_add(&rv->records, records, __ATOMIC_RELAXED);
	/* damage, or what a crash leaves? (layout.h) */
	{
		uint64_t next;

		rc = dk_recover_resync(rv, seg, off, prev_seq, &next);
		if (rc)
			return rc;
		if (next) {
			dk_segment_path(db, seg->slot, path, sizeof(path));
			return dk_err(DAXKV_ECORRUPT,
				      "%s offset %llu: %llu damaged bytes "
				      "with valid records after them (at "
				      "%llu): damage, not a torn write; "
				      "salvage with kvctl check --repair or "
				      "DAXKV_OPEN_SALVAGE",
				      path, (unsigned long long)off,
				      (unsigned long long)(next - off),
				      (unsigned long long)next);
		}
	}
	if (sealed && off != sealed) {
		dk_segment_path(db, seg->slot, path, sizeof(path));
		return dk_err(DAXKV_ECORRUPT,
			      "%s offset %llu: invalid record in a sealed "
			      "segment (sealed tail %llu)",
			      path, (unsigned long long)off,
			      (unsigned long long)sealed);
	}
	if (off + DK_REC_HDR_SIZE <= seg->size &&
	    ((const struct dk_rec *)(seg->base + off))->seq != 0)
		__atomic_fetch_add(&rv->discarded, 1, __ATOMIC_RELAXED);
	seg->tail = off;
	seg->max_seq = prev_seq;
	return 0;
}

static void dk_recover_scan_job(void *arg, uint32_t t)
{
	struct dk_recovery *rv = arg;
	struct dk_rbuf *bufs = &rv->bufs[(size_t)t * DK_HMAP_SHARDS];

	for (;;) {
		uint32_t i = __atomic_fetch_add(&rv->next, 1, __ATOMIC_RELAXED);
		int rc;

		if (i >= rv->nslots || __atomic_load_n(&rv->rc, __ATOMIC_RELAXED))
			break;
		rc = dk_recover_segment(rv, rv->db->segs[rv->slots[i]], bufs,
					rv->als[t]);
		if (rc) {
			dk_recovery_fail(rv, rc);
			break;
		}
	}
}

/* Item @p i of the lists @p bufs (one per thread), numbered in turn. */
static inline struct dk_ritem *dk_ritem_at(struct dk_rbuf **bufs, size_t i)
{
	while (i >= (*bufs)->n)
		i -= (*bufs++)->n;
	return &(*bufs)->v[i];
}

static inline bool dk_entry_same_key(const struct dk_entry *a,
				     const struct dk_entry *b)
{
	return a->klen == b->klen && !memcmp(a->key, b->key, a->klen);
}

/*
 * Mark the record of losing put @p e, which lost to a record of sequence
 * @p seq, as superseded (a delete: see the top of this file).  A mark
 * already there stays unless it is larger than @p seq: the mark a commit
 * leaves is its own sequence, stored on its key's newest record (or on
 * both twins of a compaction copy not yet swapped), so a mark above the
 * sequence of a surviving newer record comes from a commit that did not
 * survive, and left in place it would make the record visible again to
 * every snapshot below it, beside the winner (crashsim found it on main).
 * Phase 1 noted whether the word was non-zero; only then is it read
 * again here.  A read-only open writes nothing: it counts the mark it
 * could not make.
 */
static void dk_recover_lose(struct daxkv *db, const struct dk_ritem *it,
			    uint64_t seq)
{
	if (it->e->cur & DK_LOC_DEL)
		return;
	if ((it->seq & 1) &&
	    dk_rec_at(db, it->e->cur)->superseded <= seq)
		return;
	if (db->rdonly)
		__atomic_fetch_add(&db->stale_marks, 1, __ATOMIC_RELAXED);
	else
		dk_store8_flush(&dk_seg_of(db, it->e->cur)->pm,
				(uint64_t *)&dk_rec_at(db, it->e->cur)->superseded,
				seq);
}

/*
 * Phase 2 for one partition: every record of its keys (from all threads'
 * lists) offered to its key in a table of its own; the newest sequence
 * wins and each loser is marked superseded (a tie's loser with its own
 * sequence: a compaction's copy and its original) unless it is already.
 * Then each winner's mark is reset to 0 if it was set, its bytes count
 * as live in its segment, and a winner that is a put keeps its entry, in
 * the hash index too; the other entries go back.  Keys are compared in
 * the entries (DRAM on huge pages), not in the records.
 */
static int dk_recover_partition(struct dk_recovery *rv, uint32_t part,
				struct dk_alloc *al, struct dk_rthread *th)
{
	struct daxkv *db = rv->db;
	struct dk_rbuf *bufs[64];
	uint32_t *table = NULL;
	uint64_t mask = 63, nputs = 0;
	size_t n = 0;
	int rc = 0;

	/* the items of every thread's list, numbered in turn (no copy) */
	for (uint32_t t = 0; t < rv->nthreads; t++) {
		bufs[t] = &rv->bufs[(size_t)t * DK_HMAP_SHARDS + part];
		n += bufs[t]->n;
	}
	if (n == 0)
		return 0;
	while (mask + 1 < 2 * n)
		mask = 2 * mask + 1;
	table = calloc(mask + 1, sizeof(*table));
	if (!table) {
		rc = dk_err(DAXKV_ENOMEM, "recovery: no memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct dk_ritem *it = dk_ritem_at(bufs, i);
		uint64_t j;

		if (i + 8 < n)
			__builtin_prefetch(
				&table[dk_ritem_at(bufs, i + 8)->hash & mask]);
		for (j = it->hash & mask; table[j]; j = (j + 1) & mask) {
			struct dk_ritem *w = dk_ritem_at(bufs, table[j] - 1);

			if (w->hash != it->hash || !dk_entry_same_key(w->e, it->e))
				continue;
			if ((it->seq >> 1) < (w->seq >> 1)) {
				dk_recover_lose(db, it, w->seq >> 1);
				dk_free_entry(al, it->e);
			} else {
				dk_recover_lose(db, w, it->seq >> 1);
				dk_free_entry(al, w->e);
				table[j] = (uint32_t)i + 1;
			}
			break;
		}
		if (!table[j])
			table[j] = (uint32_t)i + 1;
	}
	/* winners */
	for (uint64_t j = 0; j <= mask; j++) {
		struct dk_ritem *w;
		struct dk_entry *e;

		if (!table[j])
			continue;
		w = dk_ritem_at(bufs, table[j] - 1);
		e = w->e;
		if ((w->seq & 1) && db->rdonly)
			__atomic_fetch_add(&db->stale_marks, 1,
					   __ATOMIC_RELAXED);
		else if (w->seq & 1)
			dk_store8_flush(&dk_seg_of(db, e->cur)->pm,
					(uint64_t *)&dk_rec_at(db, e->cur)
						->superseded,
					0);
		th->seglive[DK_LOC_SLOT(e->cur)] +=
			(int64_t)dk_rec_size(e->klen, e->vlen);
		if (e->cur & DK_LOC_DEL) {
			th->seglive[DK_MAX_SEGMENTS + DK_LOC_SLOT(e->cur)] +=
				(int64_t)dk_rec_size(e->klen, e->vlen);
			/* deleted: no entry (its record stays: compact.c) */
			dk_free_entry(al, e);
			table[j] = 0;
			continue;
		}
		if (th->nlive == th->livecap) {
			size_t cap = th->livecap ? 2 * th->livecap : 4096;
			struct dk_entry **g =
				realloc(th->live, cap * sizeof(*g));

			if (!g) {
				rc = dk_err(DAXKV_ENOMEM, "recovery: no memory");
				goto out;
			}
			th->live = g;
			th->livecap = cap;
		}
		th->live[th->nlive++] = e;
		th->live_bytes += dk_rec_size(e->klen, e->vlen);
		nputs++;
	}
	/* the shard is this thread's alone: sized once, then filled */
	rc = dk_hmap_reserve_shard(db, part, nputs);
	for (uint64_t j = 0; rc == 0 && j <= mask; j++) {
		struct dk_ritem *w;
		bool full;

		if (!table[j])
			continue;
		w = dk_ritem_at(bufs, table[j] - 1);
		if (dk_hmap_insert(db, w->e, w->hash, &full) != w->e)
			rc = dk_err(DAXKV_ECORRUPT, "recovery: a key twice in "
				    "the hash index");
		else
			dk_hmap_set(db, w->e, w->hash, w->e->cur);
	}
out:
	for (uint32_t t = 0; t < rv->nthreads; t++) {
		free(bufs[t]->v);
		bufs[t]->v = NULL;
		bufs[t]->n = bufs[t]->cap = 0;
	}
	free(table);
	return rc;
}

static void dk_recover_part_job(void *arg, uint32_t t)
{
	struct dk_recovery *rv = arg;

	for (;;) {
		uint32_t p = __atomic_fetch_add(&rv->next, 1, __ATOMIC_RELAXED);
		int rc;

		if (p >= DK_HMAP_SHARDS ||
		    __atomic_load_n(&rv->rc, __ATOMIC_RELAXED))
			break;
		rc = dk_recover_partition(rv, p, rv->als[t], &rv->th[t]);
		if (rc) {
			dk_recovery_fail(rv, rc);
			break;
		}
	}
	dk_drain(&rv->db->pm); /* this thread's marks */
}

static void dk_recovery_free(struct dk_recovery *rv)
{
	if (rv->bufs)
		for (size_t i = 0; i < (size_t)rv->nthreads * DK_HMAP_SHARDS;
		     i++)
			free(rv->bufs[i].v);
	free(rv->bufs);
	if (rv->th) {
		for (uint32_t t = 0; t < rv->nthreads; t++) {
			free(rv->th[t].seglive);
			free(rv->th[t].live);
		}
	}
	free(rv->th);
	dk_bulk_allocs_end(rv->db, rv->als, rv->als ? rv->nthreads : 0);
	pthread_mutex_destroy(&rv->err_lock);
}

/*
 * The scan: phase 1 walks the segments (threads take them from a
 * counter) and lists each valid record under its key's partition (the
 * hash-index shard of its key); phase 2 decides each partition's
 * winners (threads take partitions); phase 3 sorts the live keys and
 * builds the tree from them, bottom up.  Only phase 1 reads whole
 * segments; the others touch one record per key, prefetched.
 */
static int dk_recover_scan(struct daxkv *db, uint32_t *slots, uint32_t n)
{
	struct dk_recovery rv;
	struct dk_entry **all = NULL;
	size_t nall = 0;
	uint32_t nthreads = db->recovery_threads;
	int rc = 0;

	memset(&rv, 0, sizeof(rv));
	pthread_mutex_init(&rv.err_lock, NULL);
	if (nthreads > 64)
		nthreads = 64;
	if (nthreads < 1)
		nthreads = 1;
	rv.db = db;
	rv.slots = slots;
	rv.nslots = n;
	rv.nthreads = nthreads;
	rv.bufs = calloc((size_t)nthreads * DK_HMAP_SHARDS, sizeof(*rv.bufs));
	rv.th = calloc(nthreads, sizeof(*rv.th));
	rv.als = dk_bulk_allocs(db, nthreads);
	if (!rv.bufs || !rv.th || !rv.als) {
		rc = dk_err(DAXKV_ENOMEM, "no memory for recovery");
		goto out;
	}
	for (uint32_t t = 0; t < nthreads; t++) {
		rv.th[t].seglive =
			calloc(2 * (size_t)DK_MAX_SEGMENTS, sizeof(int64_t));
		if (!rv.th[t].seglive) {
			rc = dk_err(DAXKV_ENOMEM, "no memory for recovery");
			goto out;
		}
	}
	{
		/* records of 128 bytes or more, spread over the partitions */
		uint64_t bytes = 0;

		for (uint32_t i = 0; i < n; i++)
			bytes += db->segs[slots[i]]->size;
		rv.rbuf_hint = bytes / 128 / DK_HMAP_SHARDS / nthreads + 64;
	}
	dk_bulk_run(nthreads < n ? nthreads : (n ? n : 1), dk_recover_scan_job,
		    &rv);
	if (rv.rc) {
		rc = dk_err(rv.rc, "%s", rv.errmsg);
		goto out;
	}
	rv.next = 0;
	dk_bulk_run(nthreads, dk_recover_part_job, &rv);
	if (rv.rc) {
		rc = dk_err(rv.rc, "%s", rv.errmsg);
		goto out;
	}
	for (uint32_t t = 0; t < nthreads; t++) {
		nall += rv.th[t].nlive;
		db->live_bytes += rv.th[t].live_bytes;
		for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
			if (rv.th[t].seglive[slot]) {
				db->segs[slot]->live += rv.th[t].seglive[slot];
				db->segs[slot]->tomb +=
					rv.th[t].seglive[DK_MAX_SEGMENTS +
							 slot];
			}
	}
	all = malloc((nall ? nall : 1) * sizeof(*all));
	if (!all) {
		rc = dk_err(DAXKV_ENOMEM, "no memory for recovery");
		goto out;
	}
	nall = 0;
	for (uint32_t t = 0; t < nthreads; t++) {
		if (rv.th[t].nlive == 0)
			continue; /* its array may be NULL: memcpy's is not */
		memcpy(all + nall, rv.th[t].live,
		       rv.th[t].nlive * sizeof(*all));
		nall += rv.th[t].nlive;
	}
	rc = dk_bulk_sort(all, nall, nthreads);
	if (rc == 0)
		rc = dk_tree_build(db, rv.als, nthreads, all, nall);
	if (rc)
		goto out;
	db->nkeys = nall;
	db->nentries = nall;
	db->next_seq = rv.max_seq + 1;
	db->recovered_records = rv.records;
	db->discarded_records = rv.discarded;
out:
	free(all);
	dk_recovery_free(&rv);
	return rc;
}

/*
 * Match the directory with the meta table before anything is mapped: a
 * segment file of a slot that is not LIVE goes only on the word of its own
 * header (aborted create, unfinished removal); any other is kept, and the
 * open refused with the first such file named.  Temporary files of a pool
 * or checkpoint being built are removed (their names say they were never
 * relied upon).
 */
static int dk_sweep_files(struct daxkv *db)
{
	DIR *dir = opendir(db->dir);
	struct dirent *de;
	int rc = 0;

	if (!dir)
		return dk_err_errno(dk_errno_code(errno), errno, "%s", db->dir);
	while ((de = readdir(dir)) != NULL) {
		unsigned slot;
		uint32_t gen;
		char tail;

		if (sscanf(de->d_name, "seg-%8u.dat%c", &slot, &tail) == 1 &&
		    strlen(de->d_name) == 16) {
			enum dk_seg_fate fate;

			if (slot < DK_MAX_SEGMENTS &&
			    db->meta->segs[slot].state == DK_SEG_LIVE)
				continue;
			fate = dk_segment_file_fate(
				db->dirfd, de->d_name, db->meta->uuid, slot,
				slot < DK_MAX_SEGMENTS ?
					db->meta->segs[slot] :
					(struct dk_seg_entry){ 0 },
				db->segment_size, &gen);
			if (fate == DK_FATE_ABORTED || fate == DK_FATE_RETIRED) {
				if (!db->rdonly) /* read-only: left, unread */
					unlinkat(db->dirfd, de->d_name, 0);
				continue;
			}
			if (rc)
				continue;
			if (fate == DK_FATE_LIVE)
				rc = dk_err(DAXKV_ECORRUPT,
					    "%s/meta.pool offset %llu: the "
					    "meta table calls slot %u free "
					    "(gen %u) but the header of %s "
					    "says it is a live segment of this "
					    "database (gen %u): meta.pool "
					    "damaged or older than the "
					    "segments; the file is kept; "
					    "salvage with kvctl check --repair",
					    db->dir,
					    (unsigned long long)(db->pop ?
						(uint64_t)((uint8_t *)&db->meta->segs[slot] -
							   (uint8_t *)db->pop) :
						offsetof(struct dk_meta_root,
							 segs[slot])),
					    slot, db->meta->segs[slot].gen,
					    de->d_name, gen);
			else
				rc = dk_err(DAXKV_ECORRUPT,
					    "%s/%s offset 0: a segment file "
					    "that no live slot names and whose "
					    "header does not prove it dead; "
					    "kept; salvage with kvctl check "
					    "--repair (moves it aside)",
					    db->dir, de->d_name);
		} else if ((!strcmp(de->d_name, "meta.pool.tmp") ||
			    !strcmp(de->d_name, "checkpoint.tmp")) &&
			   !db->rdonly) {
			unlinkat(db->dirfd, de->d_name, 0);
		}
	}
	closedir(dir);
	if (!db->rdonly)
		(void)fsync(db->dirfd);
	return rc;
}

int dk_recover(struct daxkv *db)
{
	uint64_t start = dk_now_ns();
	uint32_t *slots, n = 0;
	int rc;

	rc = dk_sweep_files(db);
	if (rc)
		return rc;
	slots = malloc(DK_MAX_SEGMENTS * sizeof(*slots));
	if (!slots)
		return dk_err(DAXKV_ENOMEM, "no memory for recovery");
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++) {
		struct dk_segment *seg;

		if (db->meta->segs[slot].state != DK_SEG_LIVE)
			continue;
		rc = dk_segment_open(db, slot, &seg);
		if (rc)
			goto out;
		if (db->rdonly &&
		    dk_seal_is_mark(dk_segment_header(seg)->sealed_tail)) {
			/* read-only: left on media, never published (its
			 * records live elsewhere: see below) */
			dk_segment_unmap(seg);
			continue;
		}
		dk_segs_publish(db, slot, seg);
		db->nsegs++;
		db->seg_bytes += seg->size;
		if (dk_seal_is_mark(dk_segment_header(seg)->sealed_tail)) {
			/* an interrupted compaction's copies, or an
			 * interrupted removal: dead by the header's word */
			dk_segment_remove(db, seg);
			continue;
		}
		slots[n++] = slot;
	}

	rc = 1;
	if (db->meta->clean && !db->ignore_checkpoint)
		rc = dk_checkpoint_load(db);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		rc = dk_recover_scan(db, slots, n);
		if (rc)
			goto out;
		db->recovery = DAXKV_RECOVERY_SCAN;
	} else {
		db->recovery = DAXKV_RECOVERY_CHECKPOINT;
	}
	if (n == 0 && db->recovery == DAXKV_RECOVERY_SCAN &&
	    db->meta->open_count <= 1)
		db->recovery = DAXKV_RECOVERY_NONE;

	/* the device's bad blocks: under the log, damage (a read there
	 * faults); past it, room that takes no appends */
	for (uint32_t i = 0; i < n; i++) {
		struct dk_segment *seg = db->segs[slots[i]];
		uint64_t bad = 0, len = 0;
		char path[4096];
		int fd;

		dk_segment_path(db, seg->slot, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (dk_media_badblock_first(fd, 0, &bad, &len)) {
			if (bad < seg->tail && !db->salvage) {
				close(fd);
				rc = dk_err(DAXKV_EIO,
					    "%s offset %llu: %llu bytes the "
					    "device lists as bad blocks; "
					    "salvage with kvctl check --repair",
					    path, (unsigned long long)bad,
					    (unsigned long long)len);
				goto out;
			}
			db->bad_blocks++;
			seg->damaged = true;
		}
		close(fd);
	}
	/* segments with room are offered to lanes, emptiest last */
	for (uint32_t i = 0; i < n; i++) {
		struct dk_segment *seg = db->segs[slots[i]];

		/* appends are in seq order: the first record has the least
		 * (compaction's age and tombstone rules, compact.c) */
		if (seg->tail > DK_SEG_HDR_SIZE)
			seg->min_seq = ((const struct dk_rec *)(
						seg->base + DK_SEG_HDR_SIZE))->seq;
		if (seg->max_seq < seg->min_seq)
			seg->max_seq = seg->min_seq;
		/* a checkpoint reads live records only: where the first put
		 * is, it cannot say */
		if (db->recovery == DAXKV_RECOVERY_CHECKPOINT)
			seg->min_put_seq = seg->min_seq;

		if (seg->size - seg->tail >= 64 * 1024 && !seg->damaged)
			db->reuse[db->nreuse++] = seg->slot;
	}
	/* the checkpoint is consumed: until the next clean close it is void
	 * (a read-only open leaves it valid: nothing moves on) */
	if (db->meta->clean && !db->rdonly)
		dk_meta_set(db, &db->meta->clean, 0);
	db->recovery_ns = dk_now_ns() - start;
	rc = 0;
out:
	free(slots);
	return rc;
}
