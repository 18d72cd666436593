/* SPDX-License-Identifier: MIT */
/* checkpoint.h -- the index checkpoint of a clean close (checkpoint.c). */
#ifndef DK_CHECKPOINT_H
#define DK_CHECKPOINT_H

#include "internal.h"

int dk_checkpoint_write(struct daxkv *db);
/* 0 loaded, 1 no usable checkpoint (scan instead), <0 error. */
int dk_checkpoint_load(struct daxkv *db);

#endif
