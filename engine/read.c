// SPDX-License-Identifier: MIT
/*
 * read.c -- point reads and ordered snapshot scans.
 *
 * Readers take no lock.  A get reads the entry's newest version (acquire)
 * and copies the value from the record in persistent memory: a version is
 * published only after its record is durable, and records never change
 * (only their `superseded` word), so a reader never sees a torn value.
 * A scan takes a snapshot s (lane.c) and walks the skip list, reading for
 * each key the newest version <= s.  RCU keeps trimmed versions alive
 * while a reader may still hold them; the snapshot list keeps the versions
 * themselves from being trimmed.
 *
 * Media errors.  Every load from a segment (the key a hash probe compares,
 * the value copied, the value a scan hands to its callback) runs inside a
 * guard (guard.h): poison there returns DAXKV_EIO naming the file and
 * offset, with the RCU read section given back.  A scan touches each
 * value under the guard before the callback sees it and turns the guard
 * off around the callback, so a SIGBUS in the caller's own code is the
 * caller's.
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

/* Touch every line of [p, p + n) (under a guard: poison faults here). */
static void dk_touch(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 64)
		(void)*(const volatile uint8_t *)(p + i);
	if (n)
		(void)*(const volatile uint8_t *)(p + n - 1);
}

/*
 * The walk of a scan at @p seq, under rcu_read_lock (kept on return).
 * The guard catches only while this code reads records; the callback
 * runs with it off.
 */
static int dk_scan_entries(struct daxkv *db, uint64_t seq, const void *lo,
			   size_t lolen, const void *hi, size_t hilen,
			   daxkv_scan_fn fn, void *arg)
{
	struct dk_entry *e;
	struct dk_guard g;
	int rc = 0;

	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		return dk_guard_eio(db, &g, "a scan read a value");
	}
	dk_guard_push(&g);
	for (e = dk_index_seek(db, lo, lolen); e; e = dk_index_next(e)) {
		const uint8_t *key = dk_entry_key(e);
		const struct dk_rec *rec;
		uint64_t loc;
		uint32_t vlen;

		if (hi && dk_keycmp(key, e->klen, hi, hilen) >= 0)
			break;
		loc = dk_version_at(db, e, seq);
		if (!loc || (loc & DK_LOC_DEL))
			continue;
		rec = dk_rec_at(db, loc);
		vlen = rec->vlen;
		dk_touch(dk_rec_val(rec), vlen);
		g.active = 0;
		rc = fn(key, e->klen, dk_rec_val(rec), vlen, arg);
		g.active = 1;
		if (rc)
			break;
	}
	dk_guard_pop(&g);
	return rc;
}

int daxkv_scan_at(daxkv *db, const daxkv_snapshot *snap, const void *lo,
		  size_t lolen, const void *hi, size_t hilen, daxkv_scan_fn fn,
		  void *arg)
{
	uint64_t seq;
	int rc = 0;
	DK_LAT_TIME(db, DK_LAT_SCAN);

	dk_err_clear();
	if (!db || !fn)
		return dk_err(DAXKV_EINVAL, "%s is NULL", db ? "fn" : "db");
	if ((lolen && !lo) || (hilen && !hi) || lolen > DAXKV_MAX_KEY ||
	    hilen > DAXKV_MAX_KEY)
		return dk_err(DAXKV_EINVAL, "bad scan bound");
	if (snap && snap->db != db)
		return dk_err(DAXKV_EINVAL, "snapshot of another handle");
	if (lo && lolen == 0)
		lo = NULL;
	if (hi && hilen == 0)
		hi = NULL;
	/*
	 * The read-side section starts before the sequence is fixed: an
	 * older version this scan may need can lie in a segment that a
	 * compaction retires after the sequence was taken, and compaction
	 * removes it only after a grace period (a public snapshot holds its
	 * segments by epoch instead).
	 */
	rcu_read_lock();
	if (snap) {
		seq = snap->seq;
	} else {
		rc = dk_snapshot_seq_hold(db, &seq);
		if (rc) {
			rcu_read_unlock();
			return rc;
		}
	}
	rc = dk_scan_entries(db, seq, lo, lolen, hi, hilen, fn, arg);
	rcu_read_unlock();
	if (!snap)
		dk_snapshot_seq_release(db, seq);
	__atomic_fetch_add(&dk_thread_rcounter(db)->scans, 1, __ATOMIC_RELAXED);
	return rc;
}

int daxkv_scan(daxkv *db, const void *lo, size_t lolen, const void *hi,
	       size_t hilen, daxkv_scan_fn fn, void *arg)
{
	return daxkv_scan_at(db, NULL, lo, lolen, hi, hilen, fn, arg);
}
