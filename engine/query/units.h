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

#endif
