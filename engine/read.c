// SPDX-License-Identifier: MIT
/*
 * read.c -- point reads, now and at a snapshot (scans and cursors are
 * cursor.c's).
 *
 * Readers take no lock.  A get reads the key's newest location from the
 * hash index and copies the value from the record in persistent memory:
 * a version is published only after its record is durable, and records
 * never change (only their `superseded` word), so a reader never sees a
 * torn value.  A get inside rcu_read_lock may still read a record a
 * compaction retired meanwhile: the segment goes only after a grace
 * period (compact.c).  A get at a snapshot reads the entry's newest
 * version at the snapshot's sequence; the snapshot keeps it (snapshot.c).
 *
 * Media errors.  Every load from a segment (the key a hash probe compares,
 * the value copied) runs inside a guard (guard.h): poison there returns
 * DAXKV_EIO naming the file and offset, with the RCU read section given
 * back.  Cursors and scans do the same (cursor.c).
 */
#include <string.h>

#include "errors.h"
#include "guard.h"
#include "hmap.h"
#include "index.h"
#include "internal.h"
#include "latency.h"
#include "lane.h"
#include "record.h"
#include "snapshot.h"

/*
 * The end of a point read, under rcu_read_lock, which it releases: copy
 * the value of the record at @p loc (0 or a delete: not found).
 */
static int dk_get_finish(struct daxkv *db, uint64_t loc, void *buf,
			 size_t cap, size_t *vlen)
{
	const struct dk_rec *rec;

	if (!loc || (loc & DK_LOC_DEL)) {
		rcu_read_unlock();
		return DAXKV_ENOTFOUND;
	}
	rec = dk_rec_at(db, loc);
	*vlen = rec->vlen;
	if (rec->vlen > cap) {
		rcu_read_unlock();
		return dk_err(DAXKV_ERANGE, "value is %u bytes, buffer %zu",
			      rec->vlen, cap);
	}
	if (rec->vlen)
		memcpy(buf, dk_rec_val(rec), rec->vlen);
	rcu_read_unlock();
	__atomic_fetch_add(&dk_thread_rcounter(db)->gets, 1, __ATOMIC_RELAXED);
	return 0;
}

int daxkv_get(daxkv *db, const void *key, size_t klen, void *buf, size_t cap,
	      size_t *vlen)
{
	struct dk_guard g;
	uint64_t loc;
	int rc;
	DK_LAT_TIME(db, DK_LAT_GET);

	dk_err_clear();
	if (!db || !vlen || (!buf && cap))
		return dk_err(DAXKV_EINVAL, "%s is NULL",
			      !db ? "db" : !vlen ? "vlen" : "buf");
	rc = dk_check_kv(key, klen, NULL, 0, false);
	if (rc)
		return rc;
	rcu_read_lock();
	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		rcu_read_unlock();
		return dk_guard_eio(db, &g, "reading a value");
	}
	dk_guard_push(&g);
	loc = dk_hmap_get(db, key, klen, dk_hash(key, klen));
	rc = dk_get_finish(db, loc, buf, cap, vlen);
	dk_guard_pop(&g);
	return rc;
}

int daxkv_get_at(daxkv *db, const daxkv_snapshot *snap, const void *key,
		 size_t klen, void *buf, size_t cap, size_t *vlen)
{
	const struct dk_entry *e;
	struct dk_guard g;
	uint64_t loc;
	int rc;

	if (!snap)
		return daxkv_get(db, key, klen, buf, cap, vlen);
	DK_LAT_TIME(db, DK_LAT_GET);
	dk_err_clear();
	if (!db || !vlen || (!buf && cap))
		return dk_err(DAXKV_EINVAL, "%s is NULL",
			      !db ? "db" : !vlen ? "vlen" : "buf");
	if (snap->db != db)
		return dk_err(DAXKV_EINVAL, "snapshot of another handle");
	rc = dk_check_kv(key, klen, NULL, 0, false);
	if (rc)
		return rc;
	rcu_read_lock();
	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		rcu_read_unlock();
		return dk_guard_eio(db, &g, "reading a value");
	}
	dk_guard_push(&g);
	e = dk_index_lookup(db, key, klen, dk_hash(key, klen));
	loc = e ? dk_version_at(db, e, snap->seq) : 0;
	rc = dk_get_finish(db, loc, buf, cap, vlen);
	dk_guard_pop(&g);
	return rc;
}
