/* SPDX-License-Identifier: MIT */
/* units.h -- a snapshot's records cut into units (units.c). */
#ifndef DK_UNITS_H
#define DK_UNITS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

struct daxkv_snapshot;

/* Cut the records of @p s into units of about @p unit_bytes (a multiple
 * of DK_MARK_STRIDE; records larger than that make a unit alone): 0 with
 * the units in *unitsp (free() them), their number and bytes, or
 * DAXKV_ENOMEM / DAXKV_ECORRUPT (a record below a captured tail that
 * cannot be walked). */
int dk_query_units(const struct daxkv_snapshot *s, uint64_t unit_bytes,
		   struct dk_qunit **unitsp, size_t *np, uint64_t *bytesp);

/* The bytes of records below the tails @p s captured: what a query at @p s
 * scans, known before any unit is cut (AUTO's choice needs it). */
uint64_t dk_query_scan_bytes(const struct daxkv_snapshot *s);

#endif
