// SPDX-License-Identifier: MIT
/*
 * admin.c -- per-segment figures of an open handle, for administrators.
 *
 * Nothing here changes the database.  Live bytes are not kept per
 * segment by the write path (that would put a shared counter on every
 * write); they are counted when asked, by one pass over the hash index
 * under rcu_read_lock, which is cheap enough for a tool.
 */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "hmap.h"
#include "internal.h"
#include "segment.h"

struct dk_seg_figures {
	struct daxkv *db;
	uint64_t *live_bytes, *live_records;
};

static void dk_segment_count(struct dk_entry *e, void *arg)
{
	struct dk_seg_figures *f = arg;
	uint64_t loc = __atomic_load_n(&e->cur, __ATOMIC_ACQUIRE);
	uint32_t slot = DK_LOC_SLOT(loc);

	if (!loc || (loc & DK_LOC_DEL) || slot >= DK_MAX_SEGMENTS)
		return;
	f->live_bytes[slot] += dk_rec_size(e->klen, dk_rec_at(f->db, loc)->vlen);
	f->live_records[slot]++;
}

int daxkv_segment_foreach(daxkv *db, daxkv_segment_fn fn, void *arg)
{
	struct daxkv_segment_info info;
	uint64_t *live_bytes, *live_records;
	struct dk_seg_figures fig;
	int rc = 0;

	dk_err_clear();
	if (!db || !fn)
		return dk_err(DAXKV_EINVAL, "%s is NULL", db ? "fn" : "db");
	live_bytes = calloc(DK_MAX_SEGMENTS, sizeof(*live_bytes));
	live_records = calloc(DK_MAX_SEGMENTS, sizeof(*live_records));
	if (!live_bytes || !live_records) {
		rc = dk_err(DAXKV_ENOMEM, "no memory for segment figures");
		goto out_free;
	}

	fig.live_bytes = live_bytes;
	fig.live_records = live_records;
	fig.db = db;
	rcu_read_lock();
	dk_hmap_foreach(db, dk_segment_count, &fig);
	rcu_read_unlock();

	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++) {
		struct dk_segment *seg =
			__atomic_load_n(&db->segs[slot], __ATOMIC_ACQUIRE);

		if (!seg)
			continue;
		memset(&info, 0, sizeof(info));
		info.version = DAXKV_SEGMENT_INFO_VERSION;
		info.slot = slot;
		info.gen = seg->gen;
		info.sealed = __atomic_load_n(&dk_segment_header(seg)->sealed_tail,
					      __ATOMIC_ACQUIRE) != 0;
		info.size = seg->size;
		info.tail = __atomic_load_n(&seg->tail, __ATOMIC_ACQUIRE);
		info.live_bytes = live_bytes[slot];
		info.live_records = live_records[slot];
		info.durability = !seg->pm.is_pmem ? DAXKV_DUR_MSYNC :
						     db->pmem_durability;
		rc = fn(&info, arg);
		if (rc)
			break;
	}
out_free:
	free(live_bytes);
	free(live_records);
	return rc;
}
