/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h -- snapshots (snapshot.c): held sequences, the old-version
 * horizon, and struct daxkv_snapshot, shared by read.c and the query
 * layer.
 */
#ifndef DK_SNAPSHOT_H
#define DK_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writers refresh gc_horizon once every this many commits of a lane. */
#define DK_GC_EVERY 256

struct daxkv;
struct dk_segment;

/* Hold a snapshot sequence: every commit <= *snapp is complete, none
 * after it is visible, and the index keeps the versions it reads until
 * dk_snapshot_seq_release(). */
int dk_snapshot_seq_hold(struct daxkv *db, uint64_t *snapp);
void dk_snapshot_seq_release(struct daxkv *db, uint64_t snap);
/* Recompute gc_horizon; without @p wait, only if snap_lock is free. */
void dk_gc_horizon_update(struct daxkv *db, bool wait);

/*
 * What a reader holds while it may come back to the database between
 * calls (a snapshot, a cursor, a scan while its callback runs): a
 * sequence, which keeps the versions it reads in the index, and the view
 * epoch read before that sequence was fixed, which keeps every segment
 * holding them (compact.c removes a segment retired at epoch E only when
 * no hold of an epoch before E is open).  Neither blocks anyone.
 */
struct dk_hold {
	uint64_t seq;                /* every commit <= seq, none after */
	uint64_t epoch;              /* db->view_epoch before seq was fixed */
	struct dk_hold *next, *prev; /* db->holds */
};

int dk_hold_take(struct daxkv *db, struct dk_hold *h);
void dk_hold_release(struct daxkv *db, struct dk_hold *h);

struct daxkv_snapshot {
	struct daxkv *db;
	uint64_t seq;		/* hold.seq */
	struct dk_hold hold;	/* its epoch taken under view_lock */
	uint32_t ntails;
	struct dk_snap_tail {
		struct dk_segment *seg;
		uint64_t tail;	/* captured after seq was fixed */
	} *tails;		/* segments with records, slot order */
};

/* Take a public snapshot of @p db (also for queries that bring none). */
int dk_snapshot_take(struct daxkv *db, struct daxkv_snapshot **sp);
/* The oldest epoch of an open hold, UINT64_MAX if none. */
uint64_t dk_snapshot_min_epoch(struct daxkv *db);
void dk_snapshot_release(struct daxkv_snapshot *s);

#endif
