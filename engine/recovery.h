/* SPDX-License-Identifier: MIT */
/* recovery.h -- rebuilding the index at open (recovery.c). */
#ifndef DK_RECOVERY_H
#define DK_RECOVERY_H

#include "internal.h"

/* Map the live segments, load the checkpoint or scan them, and leave
 * the index, the tails and the sequence counter as the log says. */
int dk_recover(struct daxkv *db);

#endif
