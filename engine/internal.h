/* SPDX-License-Identifier: MIT */
/*
 * internal.h -- the engine's DRAM state: one struct daxkv per open handle.
 *
 * Design in brief (docs/ARCHITECTURE.md has the whole argument):
 * - Records live in append-only segments (segment.c).  A writer holds a
 *   lane (lane.c): an append point with its own open segment and its own
 *   in-flight sequence slot, so writers on different lanes share no lock.
 * - The index (index.c) maps each key to an entry holding its newest
 *   version and, while snapshots are open, older ones.  A hash index with
 *   the newest location inline (hmap.c) serves point lookups and decides
 *   which entry a key has; a B+-tree with optimistic lock coupling
 *   (btree.c) keeps the same entries in key order for scans and cursors.
 *   An entry whose newest version is a delete that no reader can look
 *   behind is removed and its memory reused (arena.c).  Lock-free readers
 *   inside an engine call run under RCU (liburcu); nothing holds RCU
 *   across a caller's code: cursors and scans hold a sequence and a view
 *   epoch instead (snapshot.c).
 * - Sequence numbers order all commits.  A snapshot is a sequence s such
 *   that every commit <= s is complete (snapshot.c).
 */
#ifndef DK_INTERNAL_H
#define DK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <libpmemobj.h>
#include <urcu-bp.h>

#include "daxkv.h"
#include "layout.h"
#include "persist.h"

#define DK_MAX_LANES 64u
#define DK_MAX_DIR_LEN 3800u /* leaves room for file names in 4 KiB paths */
#define DK_MAX_LISTENERS 4u /* events.h: compactor, KMOD, CUDA, a spare */
#define DK_MAX_READY 8u     /* segments kept ready for lanes (spare.c) */

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Where a record is, in one word so that it can be published atomically:
 * slot << 32 | offset, with DK_LOC_DEL set when the record is a delete.
 * 0 means none (offsets start at 4096).
 */
#define DK_LOC_DEL (1ull << 63)
#define DK_LOC(slot, off) (((uint64_t)(slot) << 32) | (uint32_t)(off))
#define DK_LOC_SLOT(loc) ((uint32_t)(((loc) & ~DK_LOC_DEL) >> 32))
#define DK_LOC_OFF(loc) ((uint32_t)(loc))

struct dk_listener;
struct dk_alloc;
struct dk_lat_block;
struct dk_node;

/* An older version of a key, kept while a snapshot may still read it. */
struct dk_version {
	uint64_t loc;
	uint64_t seq;
	struct dk_version *older; /* next older, or NULL */
	struct rcu_head rcu;
};

/*
 * A key in the index, in the hash index and the tree at once.  Removed
 * (index.c) once its newest version is a delete older than every reader
 * can look behind; `dead` then tells a writer that found it to look again.
 */
struct dk_entry {
	uint64_t cur;            /* newest version (DK_LOC), 0 until the first
				    commit; written under `lock`, read with
				    acquire */
	struct dk_version *older; /* versions before `cur`, newest first;
				     only while snapshots are open */
	uint32_t lock;           /* spin lock: serialises writers of this key */
	uint32_t vlen;           /* value length of `cur` (for accounting) */
	uint8_t linked;          /* 1 once in the tree (release) */
	uint8_t dead;            /* 1 once removed (under `lock`) */
	uint8_t queued;          /* 1 while in the removal queue (under
				    `lock`) */
	uint8_t pad;
	uint16_t klen;
	uint8_t key[];           /* immutable */
};

#define DK_ENTRY_HDR offsetof(struct dk_entry, key)
_Static_assert(DK_ENTRY_HDR == 30, "entry header: a 34-byte key fits a line");

/* Bytes an entry of a key of @p klen bytes takes (arena.c rounds up). */
static inline size_t dk_entry_size(size_t klen)
{
	return DK_ENTRY_HDR + klen;
}

/* Bytewise key order; a proper prefix sorts first. */
static inline int dk_keycmp(const void *a, size_t alen, const void *b,
			    size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* A mapped data segment. */
struct dk_segment {
	uint32_t slot;
	uint32_t gen;
	uint8_t *base;     /* mapping of the whole file */
	uint64_t size;
	struct dk_persist pm; /* how stores to this mapping become durable */
	bool damaged;      /* compaction found a bad record, or the device
			      lists a bad block in it: never a victim nor
			      reused by this handle (compact.c, recovery.c) */
	uint64_t tail;     /* end of complete records; atomic, advanced only
			      by the lane that owns the segment */
	bool owned;        /* a lane appends here; under db->seg_lock */
	/* Record boundary marks for queries (snapshot.c): marks[i] is the
	 * offset of the first record starting at or after i * DK_MARK_STRIDE,
	 * for i < nmarks; the records below marks_end are walked.  Under
	 * marks_lock; allocated at the first query. */
	pthread_mutex_t marks_lock;
	uint32_t *marks;
	uint32_t nmarks;
	uint64_t marks_end;
	/* Compaction (compact.c). */
	int64_t live;        /* atomic: bytes of records that are the newest
				version of their key (puts and deletes) */
	int64_t tomb;        /* atomic: the deletes' share of `live` (0
				after a checkpoint load, which counts
				puts only): what dropping its tombstones
				would free (compact.c) */
	uint64_t min_seq, max_seq; /* atomic: seq of its first and last
				      record (0: none yet); appends are in
				      seq order.  max_seq after a
				      checkpoint load: a lower bound */
	uint64_t min_put_seq; /* atomic: seq of its first put (0: none),
				 set before the put's key is unlocked; after
				 a checkpoint load, min_seq (a lower bound):
				 the tombstone rule (compact.c) */
	uint64_t retire_epoch; /* view epoch of the swap that retired it */
	bool hidden;         /* atomic: being filled by a compaction; not
				listed by new snapshots (under view_lock) */
	bool retiring;       /* atomic: compacted away; not listed by new
				snapshots, removed once no snapshot older
				than retire_epoch is open */
	bool compacting;     /* a victim of the running compaction
				(under seg_lock) */
	bool spare;          /* made ahead of need (spare.c): header durable,
				slot not LIVE yet (under seg_lock) */
	bool readonly;       /* mapped PROT_READ by a read-only open (plain
				mmap, so munmap) */
};

/* An append point.  Padded so that lanes do not share cache lines. */
struct dk_lane {
	pthread_mutex_t lock;  /* held for a whole write: protects the rest */
	struct dk_segment *seg; /* open segment, or NULL */
	uint64_t inflight;      /* atomic: seq being committed here, 1 while
				   one is being allocated, 0 if idle */
	uint64_t ops;           /* writes done, to pace GC horizon updates */
	uint64_t idle_tail;     /* the compactor's last look at seg's tail
				   (lane.c: dk_lanes_let_go_idle), under
				   lock */
	struct dk_alloc *alloc; /* index memory (arena.h), set up at open */
	uint64_t appended;      /* atomic (relaxed): record bytes written
				   here, read by the compactor's pacing */
	/* Written only by the lane's holder, read by daxkv_stat (relaxed):
	 * per-lane, so writers do not bounce a shared counter line. */
	int64_t dkeys, dlive;   /* change of live keys and bytes */
	int64_t dentries;       /* change of index entries */
	uint64_t puts, deletes, batches;
	/* The partial cache line at the end of this lane's last append
	 * (write.c: whole-line appends).  Valid while line_seg == seg and
	 * line_tail == seg->tail: line[0, line_tail % 64) then holds the
	 * bytes of [line_tail & ~63, line_tail) as written, and last_rec is
	 * the offset of the last record appended. */
	struct dk_segment *line_seg;
	uint64_t line_tail, last_rec;
	uint8_t line[64];
} __attribute__((aligned(64)));

/* Read counters, one block per thread slot (relaxed atomics). */
struct dk_rcounter {
	uint64_t gets, scans;
} __attribute__((aligned(64)));

struct daxkv {
	char *dir;
	int dirfd;
	int lockfd;
	struct dk_persist pm;  /* fences (dk_drain); each segment has its own
				  mode for flushes (dk_segment.pm) */
	enum daxkv_durability durability;
	enum daxkv_durability pmem_durability; /* that of a segment mapped
				  as pmem: MAP_SYNC, EADR or EMULATED (a
				  read-only handle's too: what its media is) */
	bool force_msync;      /* DAXKV_OPEN_FORCE_MSYNC */
	bool salvage;          /* DAXKV_OPEN_SALVAGE */

	/* Metadata pool. */
	PMEMobjpool *pop;
	struct dk_meta_root *meta;
	uint32_t format_version; /* the database's (layout.h) */
	uint64_t segment_size;   /* format 2: the largest a segment may be */
	uint64_t max_size;

	/* Segments: slot -> mapping; entries set once (release) under
	 * seg_lock and never moved while open. */
	struct dk_segment *segs[DK_MAX_SEGMENTS];
	pthread_mutex_t seg_lock; /* protects segment creation, the meta
				     table, nsegs, reuse[] and ->owned */
	uint32_t nsegs;
	uint32_t seg_hiwater; /* atomic: 1 + the highest slot in segs[] */
	uint32_t nreuse;
	uint32_t reuse[DK_MAX_SEGMENTS]; /* slots with room, not owned */
	/* Segments ready for a lane (spare.c), under seg_lock: spares (new
	 * files, not LIVE yet) and reuse slots reopened for appends. */
	struct dk_segment *ready[DK_MAX_READY];
	uint32_t nready;
	struct dk_segment *recycle[DK_MAX_READY]; /* removed segments whose
						     files wait to be made
						     spares (under seg_lock) */
	uint32_t nrecycle;
	uint64_t seg_bytes;     /* sizes of the LIVE segments */
	uint64_t pending_bytes; /* sizes of spares and of segments being
				   made (their slots are in slot_taken) */
	uint8_t slot_taken[DK_MAX_SEGMENTS]; /* 1: a FREE slot that a spare
						or a segment being made has */
	pthread_mutex_t spare_wait_lock; /* with spare_cond: the maker's
					    sleep and wake-up; taken under
					    no lock but seg_lock */
	pthread_cond_t spare_cond;
	bool spare_stop;        /* under spare_wait_lock */
	bool spare_kicked;      /* under spare_wait_lock: work may wait */
	bool room_low;          /* atomic: the file system is nearly full;
				   the maker keeps a reserve of spares
				   (spare.c) */
	uint32_t room_segs;     /* atomic: segments the file system had
				   room for at the maker's last look */
	uint32_t nmaking;       /* spares being made (under seg_lock) */
	bool spare_started;
	pthread_t spare_maker;

	/* Lanes. */
	struct dk_lane lanes[DK_MAX_LANES];
	uint32_t nlanes;   /* atomic; lanes [0, nlanes) are in use */
	uint32_t max_lanes;
	pthread_mutex_t lane_grow_lock; /* serialises nlanes growth */

	/* Sequence numbers and snapshots.  next_seq is written by every
	 * commit: alone on its line, so that it does not take nlanes (read
	 * by every lane acquire) or snap_active with it to the other core. */
	uint64_t next_seq __attribute__((aligned(64))); /* atomic: next
				      sequence to hand out */
	pthread_mutex_t snap_lock __attribute__((aligned(64))); /* protects
				      snaps[], nsnaps and the writes of
				      gc_horizon */
	uint64_t *snaps;   /* sequences of open snapshots (unordered) */
	uint32_t nsnaps, snaps_cap;
	uint64_t gc_horizon; /* atomic: no snapshot older than this exists
				or can be taken; versions older than the
				newest one <= it may be freed */
	uint64_t snap_active; /* atomic: snapshots open or being opened */

	/* Index (index.c, btree.c, hmap.c, arena.c). */
	struct dk_arena *arena; /* memory of entries and tree nodes */
	struct dk_hmap *hmap;   /* the hash index (hmap.c) */
	pthread_mutex_t hmap_grow_lock; /* one hash-index grower at a time */
	struct dk_node *root;   /* atomic: the tree's root (btree.c) */
	uint64_t nkeys;       /* live keys at open (lanes hold the changes) */
	uint64_t live_bytes;  /* live bytes at open (likewise) */
	uint64_t nentries;    /* index entries at open (likewise) */
	uint64_t bulk_bytes;  /* index bytes the open's bulk build took */
	pthread_mutex_t rmq_lock; /* protects rmq, rmq_n, rmq_cap */
	struct dk_entry **rmq;    /* entries whose delete an open snapshot
				     may still look behind (index.c) */
	size_t rmq_n, rmq_cap;

	/* From the last open. */
	enum daxkv_recovery recovery;
	uint64_t recovery_ns;
	uint64_t recovered_records;
	uint64_t discarded_records;
	uint32_t recovery_threads;
	bool ignore_checkpoint; /* DAXKV_OPEN_NOCHECKPOINT */

	struct dk_rcounter rcount[DK_MAX_LANES];

	/* Compaction (compact.c). */
	pthread_rwlock_t view_lock; /* snapshots list segments under it (read);
				       a compaction swaps victims for their
				       copies under it (write) */
	pthread_mutex_t compact_lock; /* one compaction at a time; protects
					 retiring[] and the figures below */
	pthread_mutex_t compact_wait_lock; /* with compact_cond: wakes the
					      background thread */
	pthread_cond_t compact_cond;
	bool compact_stop;      /* under compact_wait_lock */
	bool compactor_started;
	pthread_t compactor;
	uint64_t view_epoch;    /* atomic: bumped by each swap, under
				   view_lock (write) */
	struct dk_hold *holds;  /* open snapshots, cursors and scans: their
				   epochs (snapshot.c) */
	pthread_mutex_t hold_lock; /* protects holds */
	uint32_t nretiring;
	uint32_t retiring[DK_MAX_SEGMENTS]; /* slots waiting for snapshots */
	uint64_t compactions, segments_retired, bytes_compacted; /* atomic */
	uint64_t compaction_errors; /* atomic: rounds ended by a damaged
				       record or a media error */
	uint64_t tombstones_dropped; /* atomic: deletes not copied (compact.c:
					the tombstone rule) */
	uint64_t bad_blocks;    /* listed in unused parts of segments at open */

	/* Snapshots and queries (snapshot.c, query/). */
	uint64_t nsnapshots;  /* atomic: open daxkv_snapshot objects */
	uint64_t ncursors;    /* atomic: open daxkv_cursor objects */
	uint32_t backend;     /* atomic: daxkv_set_backend() choice */
	/* Each query backend's per-handle state, by DAXKV_BACKEND_* (opaque
	 * here: query/backend.h, dk_backend_state). */
	void *backend_state[DAXKV_BACKEND_CUDA + 1];

	/* Segment-lifecycle listeners (events.c). */
	pthread_mutex_t listen_lock; /* serialises registrations */
	struct dk_listener *listeners[DK_MAX_LISTENERS]; /* atomic; NULL:
							    free entry */

	/* DAXKV_OPEN_RDONLY: nothing on media is created, written or
	 * removed; `meta` is a DRAM copy of the pool's root (pop is NULL),
	 * segments are mapped read-only, recovery happens in DRAM. */
	bool rdonly;
	uint64_t stale_marks; /* atomic: superseded marks the read-only
				 recovery found wrong and could not fix
				 (recovery.c); while non-zero the version
				 rule does not hold on media and queries
				 are refused */

	/* Latency figures (latency.c): one block per thread slot, allocated
	 * at its thread's first timed call. */
	bool latency_off; /* DAXKV_OPEN_NOLATENCY */
	struct dk_lat_block *lat[DK_MAX_LANES]; /* atomic pointers */
};

/* Publish segs[slot] (release) and raise seg_hiwater.  Under seg_lock or
 * single-threaded (open). */
static inline void dk_segs_publish(struct daxkv *db, uint32_t slot,
				   struct dk_segment *seg)
{
	__atomic_store_n(&db->segs[slot], seg, __ATOMIC_RELEASE);
	if (slot + 1 > __atomic_load_n(&db->seg_hiwater, __ATOMIC_RELAXED))
		__atomic_store_n(&db->seg_hiwater, slot + 1, __ATOMIC_RELEASE);
}

/* The record at @p loc, and the segment it lies in (the segment must be
 * mapped: the caller holds a location that a reader may still use). */
static inline struct dk_rec *dk_rec_at(const struct daxkv *db, uint64_t loc)
{
	struct dk_segment *seg = __atomic_load_n(&db->segs[DK_LOC_SLOT(loc)],
						 __ATOMIC_ACQUIRE);
	return (struct dk_rec *)(seg->base + DK_LOC_OFF(loc));
}

static inline struct dk_segment *dk_seg_of(const struct daxkv *db,
					   uint64_t loc)
{
	return __atomic_load_n(&db->segs[DK_LOC_SLOT(loc)], __ATOMIC_ACQUIRE);
}

static inline uint64_t dk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
