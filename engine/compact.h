/* SPDX-License-Identifier: MIT */
/* compact.h -- space reclamation (compact.c). */
#ifndef DK_COMPACT_H
#define DK_COMPACT_H

#include "internal.h"

/* Start the background thread (at open, after recovery). */
int dk_compact_start(struct daxkv *db);
/* Stop the background thread and retire what can be: at close. */
void dk_compact_stop(struct daxkv *db);
/* After ENOSPC: compact and retire what can be now; > 0 if space was
 * freed, 0 if not, < 0 on error. */
int dk_compact_for_space(struct daxkv *db);

#endif
