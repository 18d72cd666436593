/* SPDX-License-Identifier: MIT */
/* snapshot.h -- struct daxkv_snapshot, shared by read.c and query.c. */
#ifndef DK_SNAPSHOT_H
#define DK_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "query/backend.h"

struct dk_segment;

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

/* Open a snapshot of @p db (also for queries that bring none). */
int dk_snap_take(struct daxkv *db, struct daxkv_snapshot **sp);
/* The oldest epoch of an open snapshot, UINT64_MAX if none. */
uint64_t dk_snap_min_epoch(struct daxkv *db);
void dk_snap_release(struct daxkv_snapshot *s);
/* Cut the records of @p s into units of about @p unit_bytes (a multiple
 * of DK_MARK_STRIDE; records larger than that make a unit alone). */
int dk_snap_units(struct daxkv *db, const struct daxkv_snapshot *s,
		  uint64_t unit_bytes, struct dk_qunit **unitsp, size_t *np,
		  uint64_t *bytesp);

#endif
