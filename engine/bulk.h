/* SPDX-License-Identifier: MIT */
/*
 * bulk.h -- building the index in bulk at open (bulk.c): threads, and the
 * parallel sort of entries by key.
 */
#ifndef DK_BULK_H
#define DK_BULK_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

struct dk_alloc;

/* Run @p fn(@p arg, i) for i in [0, @p n) on n threads (the calling
 * thread is one of them; fewer if threads cannot be started). */
void dk_bulk_run(uint32_t n, void (*fn)(void *arg, uint32_t i), void *arg);

/* Sort @p n entries by key with @p nthreads threads.  0 or
 * DAXKV_ENOMEM. */
int dk_bulk_sort(struct dk_entry **ents, size_t n, uint32_t nthreads);

/* Allocators for @p n builder threads, and their end: what they hold
 * goes to the lanes' allocators (free memory) and db->bulk_bytes (the
 * bytes in use).  NULL if no memory. */
struct dk_alloc **dk_bulk_allocs(struct daxkv *db, uint32_t n);
void dk_bulk_allocs_end(struct daxkv *db, struct dk_alloc **als, uint32_t n);

#endif
