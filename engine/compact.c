// SPDX-License-Identifier: MIT
/*
 * compact.c -- space reclamation: copy the live records of mostly dead
 * segments into a fresh one, swap, and remove the old files once no
 * snapshot needs them.
 *
 * A compaction of victims V (sealed segments no lane appends to) into
 * destinations D (new segments, hidden from snapshots):
 *
 *   1. collect the records of V that are the newest version of their key
 *      (the index entry points at them; a delete whose key has no entry
 *      is kept too, unless the tombstone rule below lets it go with its
 *      victim: an older put of its key may still lie in another segment).
 *      Everything else in V is dead: a newer record of its key exists and
 *      is itself kept by this rule.  V is sorted oldest first (by the
 *      first put each holds) before this step.
 *   2. copy them, in sequence order, to D with non-temporal stores: same
 *      key, value and seq, `superseded` 0, and without the batch flag (a
 *      batch committed long ago; its copies stand alone), crc recomputed.
 *      Each record is read once into DRAM and its crc checked there
 *      before anything is copied or recomputed, so no crc is ever made
 *      over bytes that were not verified: a bad record (or a media error,
 *      guard.h) ends the round with DAXKV_ECORRUPT (DAXKV_EIO) naming the
 *      file and offset, nothing published, the victims kept, the new
 *      segments removed, and the damaged victim never picked again by
 *      this handle (daxkv_stat counts both).  D was created with the seal
 *      word DK_SEAL_FILLING (layout.h).  One fence: the copies are
 *      durable.  D's tail and sealed tail are set (the seal replaces
 *      FILLING in one failure-atomic word).
 *   3. swap, under view_lock (no snapshot is being taken) and, record by
 *      record, the entry lock (no writer of that key is committing), the
 *      entry found again by key (entries can be removed meanwhile): if
 *      the entry still points at the original, point it (and the hash
 *      index) at the copy; if a writer replaced it meanwhile, that writer
 *      marked the original's `superseded`: copy the mark to the copy
 *      (flushed; one fence after the loop).  Then D is no longer hidden
 *      and V is retiring: snapshots taken from now on read D, those taken
 *      before read V, none reads both, so none sees a record twice.
 *   4. retire: once no snapshot taken before the swap is open (epochs:
 *      snapshot.c says why that covers index reads too) and an RCU grace
 *      period has passed (no lock-free reader still holds a
 *      location in it), listeners hear it is RETIRED (events.h: the KMOD
 *      backend unregisters its mirror), then its slot becomes FREE in the
 *      meta table (durable) and the file is unmapped (which invalidates
 *      every device mirror of it through the mmu notifier anyway) and
 *      unlinked: its blocks return to the file system.
 *
 * Crash safety.  Before D's seal, D holds at most torn copies and says
 * FILLING: recovery removes it whole and V is intact.  Between the fence and the FREE in 4, every
 * kept record exists twice with one seq; recovery keeps one (the newest
 * sequence wins, and on a tie the loser's `superseded` is set to its own
 * seq, which the version rule reads as "never visible") and the other
 * segment is simply found dead by the next compaction.  After the FREE,
 * only D holds them; a file left behind by a crash before the unlink is an
 * orphan that open removes.  Nothing is lost and nothing is visible twice
 * at any point.
 *
 * Tombstones.  A delete's record (a tombstone) is what keeps its key
 * deleted across recovery: recovery offers every record of every LIVE
 * segment to its key and the newest sequence wins, so while a put of the
 * key older than the delete lies in a segment that recovery reads, the
 * delete must lie in one too.  Step 1 leaves a tombstone T (key k, seq s)
 * of victim V[i] behind, to go with V[i], when
 *
 *   (a) k has no index entry: k's newest version is a delete that no open
 *       snapshot, cursor or scan can look behind (index.c removes the
 *       entry only then, and a reader that begins later has a sequence
 *       >= s; with an entry, T is kept and the entry moves to its copy);
 *       and nothing can point at T (an entry made later for k points at
 *       records of later commits); and
 *   (b) s < thr[i] (dk_tomb_thresholds): no segment in the meta table that
 *       is not a victim (retiring ones included: they are LIVE until
 *       reaped), nor any victim after V[i], holds a put with a sequence
 *       below s (min_put_seq: the first put appended, appends being in
 *       seq order).
 *
 * Why (b) is enough.  Every put of k older than s was committed before T
 * (writers of one key hold its entry lock from taking their sequence to
 * publishing, write.c) and set min_put_seq of its segment before letting
 * the lock go; it lies in that segment, or in a copy, and copies are only
 * ever made of records that were then the newest version of their key,
 * which a put older than T no longer is once T is committed.  So such a
 * put lies in V[i] or in a victim before it.  Segments that receive
 * records later (a lane's new segment, an offered destination, a later
 * round's copies) hold no put of k older than s: a writer that took its
 * sequence before s and appends it later writes another key.  After a
 * checkpoint load min_put_seq is min_seq (a lower bound), so the rule
 * holds there too, only less sharply.
 *
 * Crash ordering.  The victims enter retiring[] in their sorted order, and
 * dk_reap retires them in that order, each one dead on media (its seal
 * word RETIRED, then its slot FREE, both durable: dk_segment_remove,
 * dk_segment_free_keep) before the next one's seal is written.  A crash
 * leaves a prefix of them dead.  If V[i] is dead, so is every victim that
 * could hold an older put of k, and no other segment holds one: recovery
 * finds no version of k, as it should.  If V[i] is not dead, T is read
 * and wins over whatever older put is left.  Before the swap nothing on
 * media changed.  Every open reads the same segments: a clean open loads
 * a checkpoint (written at close, after every victim was retired, listing
 * live keys only); a scan (crash, NOCHECKPOINT, a checkpoint not
 * trusted), a read-only open and salvage read the LIVE segments, and a
 * retired victim's header says RETIRED, which salvage never makes LIVE
 * again (check.c).  compact_test's tomb_churn kills compactions at random
 * moments; the crash simulator's planted bug 9 drops tombstones without
 * (b), and is caught.
 *
 * Readers.  Snapshots, cursors and scans taken before the swap list the
 * victims, which are kept until they close (step 4): they read T.  Those
 * taken after list the destinations and the non-victims, which hold no
 * version of k older than s, and their sequence is >= s: k is absent to
 * them, as it is.  An index entry never points at a dropped tombstone
 * (a), so none points into a freed segment.
 *
 * What the rule cannot see: min_put_seq is a watermark.  A segment that
 * holds an old put holds back every newer tombstone, even of keys it has
 * no put of; cold data that never changes and is never compacted holds
 * back every delete made after it was written.  Keys inserted and deleted
 * in order (queues, sessions, caches, the churn benchmark) empty the old
 * segments and move the watermark; daxkv_compact also lets go of the
 * lanes' open segments (lane.c: dk_lanes_let_go_tombs) so that the
 * deletes just made, and the old puts there, can be compacted.
 *
 * Why writers stay correct during 3: before the swap a writer marks the
 * original, after it the copy.  Snapshots listing V were taken before the
 * swap, so every write that marked only the copy has a later sequence
 * than theirs, and the unmarked original is right for them.  Snapshots
 * listing D get the original's mark copied in step 3.
 *
 * Pace.  A background thread wakes every 20 ms (or when a lane seals a
 * segment: it listens for SEALED, events.h) and compacts while bytes on
 * media exceed 1.2 x the live bytes.  It picks victims by cost-benefit
 * (dk_pick: age x dead fraction, up to four new segments a round, so
 * that segments 60-85% live can be freed too) and paces itself by the
 * writers (dk_compact_background): near 1.2 it frees space as fast as
 * they use it, no faster, and from 1.27 on, or near max_size, it runs
 * flat out.  A writer that meets ENOSPC compacts (everything under 90%
 * live, emptiest first) and retries once.  Destinations are spares when
 * some are ready (spare.c), and a removed segment's file is made a spare
 * again rather than unlinked while spares are wanted: making a new file
 * costs a fault per page, which on some machines is most of a round.
 *
 * Granularity.  Besides dead records, bytes on media hold each lane's
 * open segment and, while a round runs, its new segments beside the
 * victims they replace: a few segments, whatever the size of the
 * database.  With 16 MiB segments and 211 MB of live data (13 segments)
 * that alone is 0.1-0.2 of space amplification; with 530 MB, under 0.1.
 * So segments should be at most about 1/32 of the live data
 * (docs/ycsb.md has the figures).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compact.h"
#include "errors.h"
#include "events.h"
#include "guard.h"
#include "hmap.h"
#include "index.h"
#include "internal.h"
#include "lane.h"
#include "persist.h"
#include "record.h"
#include "segment.h"
#include "snapshot.h"
#include "spare.h"

#define DK_AMP_START_X100 120     /* compact above this space amplification */
#define DK_AMP_URGENT_X100 127    /* ... flat out from this on */
#define DK_VICTIM_LIVE_X100 85    /* background: victims at most this live */
#define DK_DEMAND_LIVE_X100 90    /* daxkv_compact / ENOSPC: at most this */
#define DK_MAX_VICTIMS 16u
#define DK_BG_MAX_DST 4u	  /* background: new segments per round */
#define DK_COMPACT_PERIOD_MS 20
#define DK_REUSE_OFFERED_MAX 2u   /* last destinations waiting for lanes */
#define DK_COMPACT_SLICE (256u << 10)

struct dk_cand {
	uint64_t seq;
	uint64_t loc;   /* of the original, with DK_LOC_DEL for a delete */
	uint64_t nloc;  /* of the copy */
	uint64_t hash;
	struct dk_segment *dst;
	uint32_t size;
};

static int dk_cand_cmp(const void *a, const void *b)
{
	const struct dk_cand *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->loc < y->loc ? -1 : x->loc > y->loc;
}

static void dk_sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Append a kept record to *cands. */
static int dk_cand_add(struct dk_cand **cands, size_t *n, size_t *cap,
		       struct dk_cand c)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 1024;
		struct dk_cand *g = realloc(*cands, ncap * sizeof(*g));

		if (!g)
			return dk_err(DAXKV_ENOMEM, "no memory to compact");
		*cands = g;
		*cap = ncap;
	}
	(*cands)[(*n)++] = c;
	return 0;
}

/*
 * Step 1 for one victim: append its kept records to *cands.
 *
 * A record marked superseded is dead (a newer version of its key
 * committed, or recovery found it lost a tie): no index lookup needed.
 * Otherwise ask the index.  No entry: the key's newest version is a
 * delete whose entry was removed (index.c; or the key was deleted before
 * the checkpoint this handle opened from, which lists live keys only).
 * That delete is kept, for an older put of the key may lie in a segment
 * not compacted (or not yet retired), and recovery would bring the put
 * back if the delete were gone, unless the tombstone rule (top of this
 * file) proves that no such put can outlive the victim.  Tests:
 * compact_test's tombstone case (the put in a segment not compacted: the
 * delete is kept), tomb_churn and tomb_snapshot (deletes dropped), each
 * reopened cleanly and after SIGKILL.  The key's puts are older than that
 * delete: dead.
 *
 * The walk is a pipeline, because it is the compactor's main cost after
 * the copy (perf: the load of each record header, a cache miss per
 * record): the header a few records ahead is prefetched (records of one
 * store tend to have one size, so the current size is the stride), and a
 * record's index lookup waits DK_PF_DEPTH records after its hash slot was
 * prefetched.  Whether the lookup comes a few records later changes
 * nothing: `superseded` is only a shortcut, and the entry's `cur` is
 * compared again at the swap (step 3).
 */
#define DK_PF_DEPTH 8u
#define DK_PF_AHEAD 6u

struct dk_pend {
	uint64_t off, hash, size;
	bool del;
};

/* What one victim's walk needs besides the victim: where kept records
 * go, and the tombstone rule's threshold (dk_tomb_thresholds). */
struct dk_walk {
	struct dk_cand **cands;
	size_t *n, *cap;
	uint64_t drop_below; /* a delete with no entry and a smaller seq
				goes (0: none goes) */
	uint64_t dropped;    /* deletes left behind */
};

static int dk_collect_one(struct daxkv *db, struct dk_segment *seg,
			  const struct dk_pend *p, struct dk_walk *w)
{
	const struct dk_rec *rec = (const struct dk_rec *)(seg->base + p->off);
	uint64_t loc = DK_LOC(seg->slot, p->off) | (p->del ? DK_LOC_DEL : 0);
	struct dk_entry *e;
	bool keep;

	e = dk_index_lookup(db, dk_rec_key(rec), rec->klen, p->hash);
	keep = e ? __atomic_load_n(&e->cur, __ATOMIC_ACQUIRE) == loc : p->del;
	if (keep && !e &&
	    (rec->seq < w->drop_below || dk_seam_planted(DK_PLANT_TOMB_ANY))) {
		/* the tombstone rule (top of this file): nothing it hides
		 * can outlive its victim */
		w->dropped++;
		return 0;
	}
	if (!keep)
		return 0;
	return dk_cand_add(w->cands, w->n, w->cap,
			   (struct dk_cand){ .seq = rec->seq, .loc = loc,
					     .hash = p->hash,
					     .size = (uint32_t)p->size });
}

/* A victim found damaged: report it, and never pick it again. */
static int dk_compact_damaged(struct daxkv *db, struct dk_segment *seg, int rc)
{
	pthread_mutex_lock(&db->seg_lock);
	seg->damaged = true;
	pthread_mutex_unlock(&db->seg_lock);
	__atomic_fetch_add(&db->compaction_errors, 1, __ATOMIC_RELAXED);
	return rc;
}

/* The walk of dk_collect, under its guard and RCU read section. */
static int dk_collect_walk(struct daxkv *db, struct dk_segment *seg,
			   struct dk_walk *w)
{
	uint64_t tail = __atomic_load_n(&seg->tail, __ATOMIC_ACQUIRE);
	uint64_t off = DK_SEG_HDR_SIZE;
	struct dk_pend ring[DK_PF_DEPTH];
	unsigned head = 0, cnt = 0;
	char path[4096];
	int rc = 0;

	while (off < tail) {
		const struct dk_rec *rec =
			(const struct dk_rec *)(seg->base + off);
		uint64_t size = dk_rec_size(rec->klen, rec->vlen);

		if (rec->klen == 0 || off + size > tail) {
			dk_segment_path(db, seg->slot, path, sizeof(path));
			rc = dk_err(DAXKV_ECORRUPT,
				    "%s offset %llu: bad record below the "
				    "tail; compaction stopped, the segment "
				    "kept",
				    path, (unsigned long long)off);
			goto out;
		}
		if (off + DK_PF_AHEAD * size < tail)
			__builtin_prefetch(seg->base + off + DK_PF_AHEAD * size);
		if (__atomic_load_n(&rec->superseded, __ATOMIC_ACQUIRE) == 0) {
			struct dk_pend *p;

			if (cnt == DK_PF_DEPTH) {
				rc = dk_collect_one(db, seg, &ring[head], w);
				if (rc)
					goto out;
				head = (head + 1) % DK_PF_DEPTH;
				cnt--;
			}
			p = &ring[(head + cnt++) % DK_PF_DEPTH];
			p->off = off;
			p->size = size;
			p->del = rec->flags & DK_REC_DEL;
			p->hash = dk_hash(dk_rec_key(rec), rec->klen);
			dk_hmap_prefetch(db, p->hash);
		}
		off += size;
	}
	for (; cnt && rc == 0; cnt--, head = (head + 1) % DK_PF_DEPTH)
		rc = dk_collect_one(db, seg, &ring[head], w);
out:
	return rc;
}

static int dk_collect(struct daxkv *db, struct dk_segment *seg,
		      struct dk_walk *w)
{
	struct dk_guard g;
	int rc;

	rcu_read_lock();
	/* the loads of the walk touch only the victim's mapping and DRAM;
	 * what a landing must give back is the RCU read section */
	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		rcu_read_unlock();
		return dk_compact_damaged(
			db, seg, dk_guard_eio(db, &g, "compaction read a record"));
	}
	dk_guard_push(&g);
	rc = dk_collect_walk(db, seg, w);
	dk_guard_pop(&g);
	rcu_read_unlock();
	if (rc == DAXKV_ECORRUPT)
		dk_compact_damaged(db, seg, rc);
	return rc;
}

/* Read the record at @p loc, @p size bytes, into @p buf: 0 or DAXKV_EIO. */
static int dk_read_record(struct daxkv *db, uint64_t loc, uint8_t *buf,
			  size_t size)
{
	struct dk_guard g;

	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		return dk_guard_eio(db, &g, "compaction copied a record");
	}
	dk_guard_push(&g);
	memcpy(buf, dk_rec_at(db, loc), size);
	dk_guard_pop(&g);
	return 0;
}

/*
 * Step 2: copy the record at @p loc (@p size bytes) to @p dst at @p doff
 * (not yet durable), through @p buf, where it is verified first.
 */
static int dk_copy_record(struct daxkv *db, uint64_t loc, size_t size,
			  struct dk_segment *dst, uint64_t doff, uint8_t *buf)
{
	struct dk_rec *rec = (struct dk_rec *)buf;
	struct dk_segment *src_seg = dk_seg_of(db, loc);
	char path[4096];
	size_t body;
	int rc;

	rc = dk_read_record(db, loc, buf, size);
	if (rc)
		return dk_compact_damaged(db, src_seg, rc);
	body = DK_REC_HDR_SIZE + (size_t)rec->klen + rec->vlen;
	if (rec->klen == 0 || rec->klen > DAXKV_MAX_KEY ||
	    rec->vlen > DAXKV_MAX_VALUE ||
	    dk_rec_size(rec->klen, rec->vlen) != size ||
	    rec->crc != dk_rec_crc(rec, dk_rec_key(rec), dk_rec_val(rec))) {
		dk_segment_path(db, src_seg->slot, path, sizeof(path));
		return dk_compact_damaged(
			db, src_seg,
			dk_err(DAXKV_ECORRUPT,
			       "%s offset %u: record fails its crc; "
			       "compaction stopped, nothing published, the "
			       "segment kept",
			       path, DK_LOC_OFF(loc)));
	}
	/* from here on only verified bytes, in DRAM */
	memset(buf + body, 0, size - body);
	rec->superseded = 0; /* not under the crc */
	if (rec->flags & DK_REC_BATCH) {
		/* the only fields under the crc that change */
		rec->flags = (uint16_t)(rec->flags & ~DK_REC_BATCH);
		rec->batch = 1;
		rec->crc = dk_rec_crc(rec, dk_rec_key(rec), dk_rec_val(rec));
	}
	dk_copy_nodrain(&dst->pm, dst->base + doff, buf, size);
	return 0;
}

/* Retire what no snapshot needs any more; @p keep: files may be kept as
 * spares (spare.c).  Caller holds compact_lock. */
static void dk_reap(struct daxkv *db, bool keep)
{
	struct dk_segment *gone[64];
	uint64_t min_epoch = dk_snapshot_min_epoch(db);
	uint32_t n;

	do {
		uint32_t kept = 0;

		n = 0;
		for (uint32_t i = 0; i < db->nretiring; i++) {
			struct dk_segment *seg = db->segs[db->retiring[i]];

			if (n < sizeof(gone) / sizeof(*gone) &&
			    seg->retire_epoch <= min_epoch)
				gone[n++] = seg;
			else
				db->retiring[kept++] = db->retiring[i];
		}
		__atomic_store_n(&db->nretiring, kept, __ATOMIC_RELAXED);
		if (n == 0)
			break;
		/* lock-free readers that read a location in them before
		 * the swap */
		synchronize_rcu();
		for (uint32_t i = 0; i < n; i++)
			dk_seg_publish(db, gone[i], DK_SEG_EV_RETIRED);
		pthread_mutex_lock(&db->seg_lock);
		for (uint32_t i = 0; i < n; i++)
			dk_spare_retired(db, gone[i], keep);
		pthread_mutex_unlock(&db->seg_lock);
		__atomic_fetch_add(&db->segments_retired, n, __ATOMIC_RELAXED);
		dk_spare_kick(db); /* room again, if a spare could not be made */
	} while (n == sizeof(gone) / sizeof(*gone));
}

/*
 * Offer the last destination of a round, @p seg, to the lanes when it has
 * room: otherwise every round would leave a partly filled segment behind,
 * sealed for good (with one destination per round, that was a fifth of
 * every compacted segment, and the main cause of space amplification).
 *
 * A lane appends there with sequence numbers above @p max_seq, the
 * largest copied, only if no writer that took a smaller one is still in
 * flight: appends in a segment must be in seq order (layout.h, validity),
 * and a writer takes its sequence before it reserves room, so a writer
 * that took s < max_seq and then rolled over into @p seg would append out
 * of order, and recovery would end the segment's log there, losing that
 * acknowledged write.  Every writer in flight holds a sequence above
 * dk_completed_seq(), and every later one a larger one still, so
 * completed >= max_seq rules that out.  Otherwise the segment stays
 * sealed, to be compacted again some day.  A lane takes it through
 * dk_segment_prepare_append (which reopens it durably) like a segment
 * with room left from an earlier run.
 */
static void dk_offer_last(struct daxkv *db, struct dk_segment *seg,
			  uint64_t max_seq)
{
	if (!seg || seg->size - seg->tail < 64 * 1024 ||
	    dk_completed_seq(db) < max_seq)
		return;
	pthread_mutex_lock(&db->seg_lock);
	/* a few at most: lanes take them one per roll-over, and while they
	 * wait background rounds leave them alone (dk_pick), so with writes
	 * stopped more would pile up, each a part of a segment unused */
	if (db->nreuse < DK_REUSE_OFFERED_MAX)
		db->reuse[db->nreuse++] = seg->slot;
	pthread_mutex_unlock(&db->seg_lock);
	dk_spare_kick(db); /* the maker reopens it for a lane */
}

/*
 * The oldest put a segment may hold, for the tombstone rule: its
 * min_put_seq, UINT64_MAX when it holds none.  A put still being
 * committed has not set it yet, but is not older than any delete already
 * committed of its key (top of this file).
 */
static uint64_t dk_seg_oldest(const struct dk_segment *seg)
{
	uint64_t m = __atomic_load_n(&seg->min_put_seq, __ATOMIC_ACQUIRE);

	return m ? m : UINT64_MAX;
}

static int dk_victim_age_cmp(const void *a, const void *b)
{
	const struct dk_segment *x = *(struct dk_segment *const *)a;
	const struct dk_segment *y = *(struct dk_segment *const *)b;
	uint64_t ox = dk_seg_oldest(x), oy = dk_seg_oldest(y);

	if (ox != oy)
		return ox < oy ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/*
 * The tombstone rule's thresholds (top of this file): victims[0..nv),
 * sorted oldest first (the order dk_reap retires them in), get in thr[v]
 * the least sequence a record may have in any segment of the meta table
 * that outlives victims[v]: every segment that is not a victim (retiring
 * ones included: they are LIVE until reaped) and the victims after v.  A
 * delete of victims[v] with no entry and a smaller seq hides nothing that
 * can outlive it.  Caller holds compact_lock (no other round's segments
 * are hidden or compacting).
 */
static void dk_tomb_thresholds(struct daxkv *db, struct dk_segment **victims,
			       uint32_t nv, uint64_t *thr)
{
	uint32_t hi = __atomic_load_n(&db->seg_hiwater, __ATOMIC_ACQUIRE);
	uint64_t w = UINT64_MAX;

	pthread_mutex_lock(&db->seg_lock);
	for (uint32_t slot = 0; slot < hi; slot++) {
		struct dk_segment *seg = db->segs[slot];
		uint64_t o;

		if (!seg || seg->compacting)
			continue;
		o = dk_seg_oldest(seg);
		if (o < w)
			w = o;
	}
	pthread_mutex_unlock(&db->seg_lock);
	for (uint32_t v = nv; v-- > 0;) {
		uint64_t o;

		thr[v] = w;
		o = dk_seg_oldest(victims[v]);
		if (o < w)
			w = o;
	}
}

/* Step 1 for every victim (sorted oldest first), then in sequence order:
 * the records to copy in *cp (free() it), *np of them; *droppedp: the
 * deletes left behind. */
static int dk_compact_collect(struct daxkv *db, struct dk_segment **victims,
			      uint32_t nv, struct dk_cand **cp, size_t *np,
			      uint64_t *droppedp)
{
	uint64_t thr[DK_MAX_VICTIMS];
	size_t cap = 0;
	int rc = 0;

	*cp = NULL;
	*np = 0;
	*droppedp = 0;
	dk_tomb_thresholds(db, victims, nv, thr);
	for (uint32_t v = 0; v < nv && rc == 0; v++) {
		struct dk_walk w = { .cands = cp, .n = np, .cap = &cap,
				     .drop_below = thr[v] };

		rc = dk_collect(db, victims[v], &w);
		*droppedp += w.dropped;
	}
	if (rc == 0 && *np > 1)
		qsort(*cp, *np, sizeof(**cp), dk_cand_cmp);
	return rc;
}

/*
 * Step 2: copy c[0..n), in order, into as many new (hidden) segments as
 * needed, dsts[0..*ndstp); one fence, then their tails and sealed tails.
 * On an error *ndstp still says which were created.  *copiedp: bytes.
 */
static int dk_compact_copy(struct daxkv *db, struct dk_cand *c, size_t n,
			   double slow, struct dk_segment **dsts, size_t *ndstp,
			   uint64_t *copiedp)
{
	uint64_t copied = 0, slice_t0, doff = 0;
	size_t ndst = 0;
	uint8_t *buf;
	int rc = 0;

	buf = malloc(dk_rec_size(DAXKV_MAX_KEY, DAXKV_MAX_VALUE));
	if (!buf)
		return dk_err(DAXKV_ENOMEM, "no memory to compact");
	slice_t0 = dk_now_ns();
	for (size_t i = 0; i < n; i++) {
		if (ndst == 0 || doff + c[i].size > dsts[ndst - 1]->size) {
			if (ndst == DK_MAX_VICTIMS + 1) {
				rc = dk_err(DAXKV_ENOSPC, "compaction needs "
					    "more than %u segments",
					    DK_MAX_VICTIMS + 1);
				goto out;
			}
			if (ndst) {
				__atomic_store_n(&dsts[ndst - 1]->tail, doff,
						 __ATOMIC_RELEASE);
			}
			/* made under no lock: writers roll over meanwhile */
			rc = dk_spare_for_compaction(db, &dsts[ndst]);
			if (rc)
				goto out;
			ndst++;
			doff = DK_SEG_HDR_SIZE;
		}
		rc = dk_copy_record(db, c[i].loc, c[i].size, dsts[ndst - 1],
				    doff, buf);
		if (rc)
			goto out;
		c[i].dst = dsts[ndst - 1];
		c[i].nloc = DK_LOC(dsts[ndst - 1]->slot, doff) |
			    (c[i].loc & DK_LOC_DEL);
		doff += c[i].size;
		copied += c[i].size;
		if (slow > 0 && copied % DK_COMPACT_SLICE < c[i].size) {
			uint64_t pause = (uint64_t)(slow * (double)(dk_now_ns() -
								  slice_t0));

			dk_sleep_ns(pause < 5000000 ? pause : 5000000);
			slice_t0 = dk_now_ns();
		}
	}
	dk_drain(&db->pm); /* the copies are durable */
	if (ndst)
		__atomic_store_n(&dsts[ndst - 1]->tail, doff, __ATOMIC_RELEASE);
	/* copies go in seq order: each destination's first and last */
	for (size_t i = 0; i < n; i++) {
		if (!c[i].dst->min_seq)
			__atomic_store_n(&c[i].dst->min_seq, c[i].seq,
					 __ATOMIC_RELAXED);
		if (!(c[i].loc & DK_LOC_DEL) && !c[i].dst->min_put_seq)
			__atomic_store_n(&c[i].dst->min_put_seq, c[i].seq,
					 __ATOMIC_RELAXED);
		__atomic_store_n(&c[i].dst->max_seq, c[i].seq,
				 __ATOMIC_RELAXED);
	}
	for (size_t d = 0; d < ndst; d++)
		dk_segment_seal(db, dsts[d]);
out:
	*ndstp = ndst;
	*copiedp = copied;
	free(buf);
	return rc;
}

/* A record at @p loc of @p size bytes joins (size > 0) or leaves @p seg's
 * live bytes, and its tombstone bytes if it is a delete. */
static void dk_live_add(struct dk_segment *seg, uint64_t loc, int64_t size)
{
	__atomic_fetch_add(&seg->live, size, __ATOMIC_RELAXED);
	if (loc & DK_LOC_DEL)
		__atomic_fetch_add(&seg->tomb, size, __ATOMIC_RELAXED);
}

/*
 * Step 3: the swap.  Each entry still at its original moves to the copy
 * (a writer's newer version instead has its mark copied to the copy);
 * the destinations stop being hidden and the victims become retiring, in
 * one hold of view_lock (write) and a new view epoch.
 */
static void dk_compact_swap(struct daxkv *db, const struct dk_cand *c,
			    size_t n, struct dk_segment **dsts, size_t ndst,
			    struct dk_segment **victims, uint32_t nv)
{
	struct dk_lane *lane;

	/* a lane because the hash index is written (one that no writer
	 * appends to: lane.c) */
	lane = dk_lane_acquire_quiet(db);
	pthread_rwlock_wrlock(&db->view_lock);
	rcu_read_lock();
	for (size_t i = 0; i < n; i++) {
		const struct dk_rec *orig = dk_rec_at(db, c[i].loc);
		struct dk_rec *copy = dk_rec_at(db, c[i].nloc);
		struct dk_entry *e;

		/* found again: an entry may have been removed (and freed)
		 * since the collection, and another made for the key */
		e = dk_index_lookup(db, dk_rec_key(orig), orig->klen,
				    c[i].hash);
		if (e)
			dk_entry_lock(e);
		if (!e || e->dead) {
			/* no entry: a delete kept for the puts it hides
			 * (dk_collect_one), unless a writer replaced it and
			 * its entry went since: then copy its mark */
			uint64_t sup = __atomic_load_n(&orig->superseded,
						       __ATOMIC_ACQUIRE);

			if (sup)
				dk_store8_flush(&c[i].dst->pm,
						(uint64_t *)&copy->superseded,
						sup);
			else
				dk_live_add(c[i].dst, c[i].loc, c[i].size);
			if (e)
				dk_entry_unlock(e);
			continue;
		}
		if (e->cur == c[i].loc) {
			__atomic_store_n(&e->cur, c[i].nloc, __ATOMIC_RELEASE);
			dk_hmap_set(db, e, c[i].hash, c[i].nloc);
			dk_live_add(c[i].dst, c[i].loc, c[i].size);
			dk_live_add(db->segs[DK_LOC_SLOT(c[i].loc)], c[i].loc,
				    -(int64_t)c[i].size);
		} else {
			uint64_t sup = __atomic_load_n(
				&dk_rec_at(db, c[i].loc)->superseded,
				__ATOMIC_ACQUIRE);

			if (sup)
				dk_store8_flush(&c[i].dst->pm,
						(uint64_t *)&copy->superseded,
						sup);
		}
		dk_entry_unlock(e);
	}
	rcu_read_unlock();
	dk_drain(&db->pm); /* the marks copied above */
	for (size_t d = 0; d < ndst; d++) {
		__atomic_store_n(&dsts[d]->hidden, false, __ATOMIC_RELEASE);
		pthread_mutex_lock(&db->seg_lock);
		dsts[d]->owned = false;
		pthread_mutex_unlock(&db->seg_lock);
	}
	/* holds read it without view_lock (snapshot.c: dk_hold_take) */
	__atomic_store_n(&db->view_epoch, db->view_epoch + 1, __ATOMIC_RELEASE);
	for (uint32_t v = 0; v < nv; v++) {
		victims[v]->retire_epoch = db->view_epoch;
		__atomic_store_n(&victims[v]->retiring, true, __ATOMIC_RELEASE);
		dk_seg_publish(db, victims[v], DK_SEG_EV_RETIRING);
		db->retiring[db->nretiring] = victims[v]->slot;
		__atomic_store_n(&db->nretiring, db->nretiring + 1,
				 __ATOMIC_RELAXED);
	}
	pthread_rwlock_unlock(&db->view_lock);
	dk_lane_release(lane);
}

/*
 * Compact @p victims (marked `compacting`, not owned): steps 1 to 3 of the
 * top of this file; step 4 is dk_reap's.  Caller holds compact_lock.
 * @p slow: pause between slices (dk_compact_copy).  Returns 0 or an
 * error; on an error the victims stay as they were (nothing swapped).
 */
static int dk_compact_victims(struct daxkv *db, struct dk_segment **victims,
			      uint32_t nv, double slow)
{
	struct dk_segment *dsts[DK_MAX_VICTIMS + 1];
	struct dk_cand *c = NULL;
	size_t n = 0, ndst = 0;
	uint64_t copied = 0, dropped = 0;
	int rc;

	/* oldest first: the order of the tombstone rule's thresholds, and
	 * of retiring[] (the swap) and so of their retirement (dk_reap) */
	qsort(victims, nv, sizeof(*victims), dk_victim_age_cmp);
	rc = dk_compact_collect(db, victims, nv, &c, &n, &dropped);
	if (rc)
		goto out;
	rc = dk_compact_copy(db, c, n, slow, dsts, &ndst, &copied);
	if (rc)
		goto out;
	dk_compact_swap(db, c, n, dsts, ndst, victims, nv);
	dk_offer_last(db, ndst ? dsts[ndst - 1] : NULL, ndst ? c[n - 1].seq : 0);
	ndst = 0; /* swapped: they stay */
	__atomic_fetch_add(&db->compactions, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&db->bytes_compacted, copied, __ATOMIC_RELAXED);
	__atomic_fetch_add(&db->tombstones_dropped, dropped, __ATOMIC_RELAXED);
out:
	/* on an error: the unswapped destinations hold only copies */
	if (ndst) {
		/* never listed by a snapshot, so never mirrored; but be sure */
		for (size_t d = 0; d < ndst; d++)
			dk_seg_publish(db, dsts[d], DK_SEG_EV_RETIRED);
		pthread_mutex_lock(&db->seg_lock);
		for (size_t d = 0; d < ndst; d++)
			dk_segment_remove(db, dsts[d]);
		pthread_mutex_unlock(&db->seg_lock);
	}
	pthread_mutex_lock(&db->seg_lock);
	for (uint32_t v = 0; v < nv; v++)
		victims[v]->compacting = false;
	pthread_mutex_unlock(&db->seg_lock);
	free(c);
	return rc;
}

struct dk_space {
	uint64_t media, live;
};

/* Bytes on media (segments in use, spares, segments being made: what
 * daxkv_stat's bytes_mapped says) and what a full compaction keeps.
 * Tombstones count as kept: the pacing does not run rounds for them
 * alone (counted as garbage, the rounds they started at ENOSPC took the
 * room that deletes need: compact_test empty_fs); rounds made for other
 * reasons, daxkv_compact and writers at ENOSPC drop them. */
static void dk_space_now(struct daxkv *db, struct dk_space *sp)
{
	uint32_t hi = __atomic_load_n(&db->seg_hiwater, __ATOMIC_ACQUIRE);

	sp->live = 0;
	pthread_mutex_lock(&db->seg_lock);
	sp->media = db->seg_bytes + db->pending_bytes;
	for (uint32_t slot = 0; slot < hi; slot++) {
		struct dk_segment *seg = db->segs[slot];
		int64_t live;

		if (!seg || __atomic_load_n(&seg->retiring, __ATOMIC_ACQUIRE))
			continue;
		live = __atomic_load_n(&seg->live, __ATOMIC_RELAXED);
		sp->live += live > 0 ? (uint64_t)live : 0;
	}
	pthread_mutex_unlock(&db->seg_lock);
}

struct dk_victim {
	struct dk_segment *seg;
	uint64_t live;   /* what a round would copy, as far as pick knows */
	uint64_t full;   /* live bytes, tombstones included */
	uint64_t oldest; /* dk_seg_oldest */
	double score;
};

static int dk_victim_cmp(const void *a, const void *b)
{
	const struct dk_victim *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	/* the oldest first: its tombstones hold no other back */
	if (x->oldest != y->oldest)
		return x->oldest < y->oldest ? -1 : 1;
	return x->seg->slot < y->seg->slot ? -1 : 1;
}

/*
 * What pick expects the tombstone rule to leave behind (the rule itself
 * is dk_tomb_thresholds'; this is only the estimate that decides whether
 * a round is worth it).  Candidates cand[0..ncand) have `full` set; those
 * whose tombstones it expects to go get `live` = full - tomb, the others
 * `live` = full.  A segment's tombstones are expected to go when every
 * record in it is older than every segment that will not be a victim
 * (@p w_fixed: those that cannot be, and candidates too live to be):
 * which segments are too live depends on the expectation, so it is
 * settled by iteration (each step only lowers the bound; after a few, no
 * tombstone is expected to go).  Nothing is expected to go while deleted
 * keys' index entries wait for snapshots (index.c: a delete with an entry
 * is kept).  Caller holds seg_lock.
 */
static void dk_pick_tombs(struct daxkv *db, struct dk_victim *cand,
			  uint32_t ncand, uint64_t w_fixed,
			  unsigned max_live_x100, bool none)
{
	bool drops = !none &&
		     __atomic_load_n(&db->rmq_n, __ATOMIC_RELAXED) == 0;
	uint64_t w = w_fixed;

	for (int iter = 0;; iter++) {
		uint64_t nw = w_fixed;

		for (uint32_t i = 0; i < ncand; i++) {
			struct dk_segment *seg = cand[i].seg;
			int64_t t = __atomic_load_n(&seg->tomb, __ATOMIC_RELAXED);
			uint64_t tomb = t > 0 ? (uint64_t)t : 0;

			cand[i].live = cand[i].full;
			if (drops && tomb &&
			    __atomic_load_n(&seg->max_seq, __ATOMIC_RELAXED) < w)
				cand[i].live -= tomb < cand[i].full
							? tomb
							: cand[i].full;
			if (cand[i].live * 100 > (seg->size - DK_SEG_HDR_SIZE) *
							 max_live_x100 &&
			    cand[i].oldest < nw)
				nw = cand[i].oldest;
		}
		if (nw == w || !drops)
			return;
		w = nw;
		if (iter == 8)
			drops = false; /* one more pass, expecting nothing */
	}
}

/*
 * Pick victims: sealed segments nobody appends to, not being compacted or
 * retired, at most @p max_live_x100 percent live, by cost-benefit (as
 * log-structured file systems clean): a segment's score is
 * (1 - u) * age / (1 + u), u its live fraction and age how many commits
 * ago its newest record was written.  In the background, segments with
 * room that lanes are to fill (the reuse list, such as a round's last
 * destination) are left to them.  Space
 * freed is 1 - u for a copy cost of 1 + u (read it all, write u), and
 * the longer a segment's records have stayed live, the longer the room
 * freed is likely to stay free: old data that is still live is cold.
 * Emptiest-first alone keeps cleaning young segments whose records were
 * about to die anyway, and leaves cold half-empty ones for ever.  Live
 * bytes are counted without the tombstones the round is expected to
 * leave behind (dk_pick_tombs); ties go to the oldest segment.
 *
 * With @p greedy (daxkv_compact, ENOSPC, near max_size: space now
 * matters more than what it costs) the score is (1 - u) / (1 + u) alone:
 * emptiest first.
 *
 * In score order, victims are added while their live bytes fit in at
 * most @p max_dst new segments (fewer when max_size leaves less room);
 * once they free a segment, only victims that fit in the destinations
 * already needed: three segments at 30% go into one, five at 80% into
 * four.  A round that frees no segment is not made (a sparse copy would
 * be compacted into another sparse copy, round after round): that is
 * checked again with the tombstone rule's own thresholds for the victims
 * picked (a victim whose tombstones were expected to go but would stay,
 * because a candidate left out holds them back, counts whole).  Marks
 * the victims `compacting` and takes them out of the reuse list.  Caller
 * holds compact_lock.
 */
static uint32_t dk_pick(struct daxkv *db, unsigned max_live_x100,
			uint32_t max_dst, bool greedy,
			struct dk_segment **victims)
{
	uint32_t hi = __atomic_load_n(&db->seg_hiwater, __ATOMIC_ACQUIRE);
	uint64_t next = dk_segment_size_next(db), sum = 0;
	uint64_t room = next - DK_SEG_HDR_SIZE;
	uint64_t now = __atomic_load_n(&db->next_seq, __ATOMIC_RELAXED);
	uint64_t w_fixed = UINT64_MAX, thr[DK_MAX_VICTIMS];
	struct dk_victim *cand;
	uint32_t n = 0, ncand = 0, nkept = 0;
	int pass = 0;

	cand = calloc(hi ? hi : 1, sizeof(*cand));
	if (!cand)
		return 0; /* no memory: no round now */
	pthread_mutex_lock(&db->seg_lock);
	if (db->max_size) {
		/* the destinations must fit under max_size (writers leave
		 * one segment free for this) */
		uint64_t used = DK_META_POOL_SIZE + db->seg_bytes +
				db->pending_bytes;
		uint64_t avail = used < db->max_size
				     ? (db->max_size - used) / next
				     : 0;

		if (avail < max_dst)
			max_dst = avail ? (uint32_t)avail : 1;
	}
	/* segments with room that lanes will fill: not in the background
	 * (cand[slot] marks them; the list of candidates, built in cand[]
	 * below, never gets ahead of the slot whose mark it overwrites) */
	for (uint32_t r = 0; r < db->nreuse && !greedy; r++)
		if (db->reuse[r] < hi)
			cand[db->reuse[r]].seg = db->segs[db->reuse[r]];
	for (uint32_t slot = 0; slot < hi; slot++) {
		struct dk_segment *seg = db->segs[slot];
		bool reused = cand[slot].seg == seg && seg;
		int64_t l;

		cand[slot].seg = NULL;
		if (!seg)
			continue;
		if (seg->owned || seg->compacting || seg->hidden ||
		    __atomic_load_n(&seg->retiring, __ATOMIC_ACQUIRE) ||
		    seg->damaged ||
		    seg->tail <= DK_SEG_HDR_SIZE || reused) {
			/* outlives the round: holds tombstones back */
			uint64_t o = dk_seg_oldest(seg);

			if (o < w_fixed)
				w_fixed = o;
			continue;
		}
		l = __atomic_load_n(&seg->live, __ATOMIC_RELAXED);
		cand[ncand].seg = seg;
		cand[ncand].full = l > 0 ? (uint64_t)l : 0;
		cand[ncand].oldest = dk_seg_oldest(seg);
		ncand++;
	}
	/*
	 * Pass 0 expects the tombstones the rule may drop to go; the rule's
	 * own thresholds, once the victims are known, may keep them (an
	 * older put in a candidate that was not picked), and a round picked
	 * for them alone may then free nothing.  With @p greedy, pass 1
	 * picks again with every tombstone counted live (poison_test
	 * compact: a segment of
	 * nothing but kept deletes was picked alone, and the mostly dead
	 * segment beside it never was).
	 */
again:
	dk_pick_tombs(db, cand, ncand, w_fixed, max_live_x100, pass == 1);
	for (uint32_t i = 0; i < ncand; i++) {
		struct dk_segment *seg = cand[i].seg;
		uint64_t capacity = seg->size - DK_SEG_HDR_SIZE;
		uint64_t live = cand[i].live, newest;
		double u;

		if (live * 100 > capacity * max_live_x100)
			continue;
		newest = __atomic_load_n(&seg->max_seq, __ATOMIC_RELAXED);
		u = live < capacity ? (double)live / (double)capacity : 1.0;
		cand[nkept] = cand[i];
		cand[nkept].score = (1.0 - u) / (1.0 + u) *
				    (greedy ? 1.0 :
					      (double)(now > newest ? now - newest
								    : 1));
		nkept++;
	}
	qsort(cand, nkept, sizeof(*cand), dk_victim_cmp);
	for (uint32_t i = 0; i < nkept && n < DK_MAX_VICTIMS; i++) {
		uint64_t dst_now = (sum + room - 1) / room;
		uint64_t dst_new = (sum + cand[i].live + room - 1) / room;

		if (dst_new > max_dst)
			continue; /* one with less live may still fit */
		/* freeing already: only what fits the destinations */
		if (n > dst_now && dst_new > dst_now)
			continue;
		cand[i].seg->compacting = true;
		victims[n++] = cand[i].seg;
		sum += cand[i].live;
		for (uint32_t r = 0; r < db->nreuse; r++)
			if (db->reuse[r] == cand[i].seg->slot) {
				db->reuse[r] = db->reuse[--db->nreuse];
				break;
			}
	}
	pthread_mutex_unlock(&db->seg_lock);
	/* the tombstone rule's own thresholds for these victims: a victim
	 * whose tombstones were expected to go but would stay counts whole */
	if (n) {
		qsort(victims, n, sizeof(*victims), dk_victim_age_cmp);
		dk_tomb_thresholds(db, victims, n, thr);
		sum = 0;
		for (uint32_t v = 0; v < n; v++) {
			int64_t l = __atomic_load_n(&victims[v]->live,
						    __ATOMIC_RELAXED);
			int64_t t = __atomic_load_n(&victims[v]->tomb,
						    __ATOMIC_RELAXED);
			uint64_t full = l > 0 ? (uint64_t)l : 0;
			uint64_t tomb = t > 0 ? (uint64_t)t : 0;

			if (__atomic_load_n(&victims[v]->max_seq,
					    __ATOMIC_RELAXED) < thr[v] &&
			    __atomic_load_n(&db->rmq_n, __ATOMIC_RELAXED) == 0)
				full -= tomb < full ? tomb : full;
			sum += full;
		}
	}
	/* worth it only if it frees a segment: n victims become
	 * ceil(sum / room) new ones */
	if (n && n <= (sum + room - 1) / room) {
		pthread_mutex_lock(&db->seg_lock);
		for (uint32_t i = 0; i < n; i++)
			victims[i]->compacting = false;
		n = 0;
		if (pass == 0 && greedy) {
			/* candidates over the line with tombstones dropped
			 * stay over it with them counted.  (The background
			 * thread just waits for its next wake-up.) */
			ncand = nkept;
			nkept = 0;
			sum = 0;
			pass = 1;
			goto again; /* under seg_lock, as the first pass */
		}
		pthread_mutex_unlock(&db->seg_lock);
	}
	free(cand);
	return n;
}

/*
 * One round: pick, compact (copying with pauses of @p slow times each
 * slice's time between slices; 0: none).  Returns victims compacted
 * (> 0), 0 if nothing to do, or an error; *freedp gets the bytes the
 * round frees (victims less copies).  Caller holds compact_lock.
 */
static int dk_compact_round(struct daxkv *db, unsigned max_live_x100,
			    uint32_t max_dst, bool greedy, double slow,
			    uint64_t *freedp)
{
	struct dk_segment *victims[DK_MAX_VICTIMS];
	uint64_t before, freed = 0;
	uint32_t n;
	int rc;

	*freedp = 0;
	n = dk_pick(db, max_live_x100, max_dst, greedy, victims);
	if (n == 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		freed += victims[i]->size;
	before = __atomic_load_n(&db->bytes_compacted, __ATOMIC_RELAXED);
	rc = dk_compact_victims(db, victims, n, slow);
	if (rc)
		return rc;
	freed -= __atomic_load_n(&db->bytes_compacted, __ATOMIC_RELAXED) -
		 before;
	*freedp = freed;
	return (int)n;
}

/* Deleted keys whose snapshots closed: their entries go (and with them
 * what keeps their tombstones: the tombstone rule needs no entry). */
static void dk_compact_reap_entries(struct daxkv *db)
{
	if (dk_index_reap_pending(db)) {
		struct dk_lane *lane = dk_lane_acquire_quiet(db);

		dk_gc_horizon_update(db, true);
		dk_index_reap(db, lane);
		dk_lane_release(lane);
	}
}

int daxkv_compact(daxkv *db)
{
	int rc;

	dk_err_clear();
	if (!db)
		return dk_err(DAXKV_EINVAL, "db is NULL");
	if (db->rdonly)
		return dk_err(DAXKV_EPERM, "%s was opened read-only "
			      "(DAXKV_OPEN_RDONLY)", db->dir);
	dk_compact_reap_entries(db);
	/* a lane's open segment is no victim: the deletes just made there
	 * would stay, and hold back the tombstones older than they are */
	dk_lanes_let_go_tombs(db);
	pthread_mutex_lock(&db->compact_lock);
	/* segments no snapshot needs any more go first: while in the meta
	 * table they hold tombstones back */
	dk_reap(db, false);
	/* round after round, until no round frees a segment */
	while ((rc = dk_compact_round(db, DK_DEMAND_LIVE_X100, DK_MAX_VICTIMS,
				      true, 0, &(uint64_t){ 0 })) > 0)
		dk_reap(db, false);
	dk_reap(db, false);
	pthread_mutex_unlock(&db->compact_lock);
	return rc < 0 ? rc : 0;
}

int dk_compact_for_space(struct daxkv *db)
{
	uint32_t before = db->nsegs;
	int rc;

	pthread_mutex_lock(&db->compact_lock);
	dk_reap(db, true); /* as daxkv_compact: tombstones held back */
	while ((rc = dk_compact_round(db, DK_DEMAND_LIVE_X100, DK_MAX_VICTIMS,
				      true, 0, &(uint64_t){ 0 })) > 0)
		dk_reap(db, true);
	dk_reap(db, true);
	pthread_mutex_unlock(&db->compact_lock);
	if (rc < 0)
		return rc;
	return __atomic_load_n(&db->nsegs, __ATOMIC_RELAXED) < before;
}

/*
 * The background thread's listener (events.h): a lane that fills its
 * segment seals it, which is when compacting may have become worth it.
 * A compaction's own destinations are sealed while still hidden: no
 * reason to wake.  Runs under seg_lock; compact_wait_lock is taken under
 * no other lock, so this nests.
 */
static void dk_compactor_wake(struct dk_listener *l, struct daxkv *db,
			      struct dk_segment *seg, enum dk_seg_event ev)
{
	(void)l;
	if (ev != DK_SEG_EV_SEALED ||
	    __atomic_load_n(&seg->hidden, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&db->compact_wait_lock);
	pthread_cond_signal(&db->compact_cond);
	pthread_mutex_unlock(&db->compact_wait_lock);
}

/* One for every handle: the callback is told which. */
static struct dk_listener dk_compactor_listener = {
	.segment = dk_compactor_wake,
};

/* Record bytes the lanes have appended since open (relaxed sum). */
static uint64_t dk_appended(struct daxkv *db)
{
	uint32_t n = __atomic_load_n(&db->nlanes, __ATOMIC_ACQUIRE);
	uint64_t sum = 0;

	for (uint32_t i = 0; i < n; i++)
		sum += __atomic_load_n(&db->lanes[i].appended,
				       __ATOMIC_RELAXED);
	return sum;
}

/*
 * Background rounds, paced by the writers.  Below DK_AMP_START nothing
 * is done.  Between it and DK_AMP_URGENT, a round starts only once the
 * writers have appended (1 - b) times what the previous round freed, b
 * rising from 0 to 1 across the band: at the start of the band
 * compaction frees space exactly as fast as writes use it, and no
 * faster, so the copying it costs follows the write rate; higher up it
 * runs ahead, and at DK_AMP_URGENT (or near max_size) back to back.
 * Within a round, slices of the copy are followed by pauses as long as
 * (1 - b) times the slice took, so a round does not take a core from the
 * writers in one burst.
 */
static int dk_compact_background(struct daxkv *db, uint64_t *mark,
				 uint64_t *freed_last)
{
	struct dk_space sp;
	uint64_t written, freed;
	double b = 1.0;
	bool near_full;
	int rc;

	dk_space_now(db, &sp);
	if (sp.live && sp.media * 100 <= sp.live * DK_AMP_START_X100)
		return 0;
	if (sp.live) {
		b = ((double)sp.media / (double)sp.live -
		     DK_AMP_START_X100 / 100.0) /
		    ((DK_AMP_URGENT_X100 - DK_AMP_START_X100) / 100.0);
		if (b > 1.0)
			b = 1.0;
	}
	near_full = db->max_size &&
		    DK_META_POOL_SIZE + sp.media + 2 * dk_segment_size_next(db) >
			    db->max_size;
	if (near_full)
		b = 1.0;
	written = dk_appended(db);
	if (b < 1.0 && written - *mark < (uint64_t)((1.0 - b) *
						    (double)*freed_last))
		return 0; /* ahead of the writers: wait for them */
	rc = dk_compact_round(db, DK_VICTIM_LIVE_X100, DK_BG_MAX_DST, near_full,
			      1.0 - b, &freed);
	if (rc > 0) {
		*mark = written;
		*freed_last = freed;
	}
	return rc;
}

static void *dk_compactor_run(void *arg)
{
	struct daxkv *db = arg;
	uint64_t mark = 0, freed_last = 0;

	for (;;) {
		struct timespec until;
		int rc;

		pthread_mutex_lock(&db->compact_wait_lock);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += DK_COMPACT_PERIOD_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!db->compact_stop)
			pthread_cond_timedwait(&db->compact_cond,
					       &db->compact_wait_lock, &until);
		if (db->compact_stop) {
			pthread_mutex_unlock(&db->compact_wait_lock);
			break;
		}
		pthread_mutex_unlock(&db->compact_wait_lock);

		pthread_mutex_lock(&db->compact_lock);
		do {
			rc = dk_compact_background(db, &mark, &freed_last);
			dk_reap(db, true);
		} while (rc > 0 &&
			 !__atomic_load_n(&db->compact_stop, __ATOMIC_RELAXED));
		pthread_mutex_unlock(&db->compact_lock);
		if (rc == 0)
			dk_lanes_let_go_idle(db);
		dk_compact_reap_entries(db);
	}
	return NULL;
}

int dk_compact_start(struct daxkv *db)
{
	int err;

	/* compact_cond (CLOCK_MONOTONIC) is set up with the handle (db.c) */
	err = dk_listener_add(db, &dk_compactor_listener);
	if (err)
		return err;
	err = pthread_create(&db->compactor, NULL, dk_compactor_run, db);
	if (err)
		return dk_err_errno(DAXKV_ENOMEM, err,
				    "cannot start the compaction thread");
	db->compactor_started = true;
	return 0;
}

void dk_compact_stop(struct daxkv *db)
{
	if (db->compactor_started) {
		pthread_mutex_lock(&db->compact_wait_lock);
		__atomic_store_n(&db->compact_stop, true, __ATOMIC_RELAXED);
		pthread_cond_signal(&db->compact_cond);
		pthread_mutex_unlock(&db->compact_wait_lock);
		pthread_join(db->compactor, NULL);
		db->compactor_started = false;
	}
	pthread_mutex_lock(&db->compact_lock);
	dk_reap(db, false); /* no snapshot is open at close */
	pthread_mutex_unlock(&db->compact_lock);
}
