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

struct daxkv_snapshot {
	struct daxkv *db;
	uint64_t seq;		/* every commit <= seq, none after */
	uint64_t epoch;		/* db->view_epoch when it was taken */
	struct daxkv_snapshot *next, *prev; /* db->psnaps */
	uint32_t ntails;
	struct dk_snap_tail {
		struct dk_segment *seg;
		uint64_t tail;	/* captured after seq was fixed */
	} *tails;		/* segments with records, slot order */
};

/* Take a public snapshot of @p db (also for queries that bring none). */
int dk_snapshot_take(struct daxkv *db, struct daxkv_snapshot **sp);
/* The oldest epoch of an open snapshot, UINT64_MAX if none. */
uint64_t dk_snapshot_min_epoch(struct daxkv *db);
void dk_snapshot_release(struct daxkv_snapshot *s);

#endif
