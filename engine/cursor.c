// SPDX-License-Identifier: MIT
/*
 * cursor.c -- cursors over a point in time, and the scans built on them.
 *
 * A cursor reads at a sequence s: its own (taken at open, like a
 * snapshot) or a snapshot's.  Either way a hold (snapshot.c) keeps, for as
 * long as the cursor is open, the versions it reads in the index (by s)
 * and the segments that hold them (by view epoch).  Nothing else is held
 * between calls: no lock, no RCU read-side section.  So between two moves,
 * or inside a scan's callback, the caller may make any other call on the
 * handle (put, delete, a batch, a query, daxkv_compact, snapshots), and
 * compaction never waits for a cursor: it only keeps the segments the
 * cursor may still read until the cursor closes.
 *
 * Where the cursor is: the record of the key it is at (a location; the
 * key and value pointers handed out point into it, valid until the next
 * move, and kept mapped by the epoch), and ahead of it in the direction
 * of the walk, a short buffer of records already found.  A move that
 * runs out of buffer goes back into the tree for the next few keys,
 * inside one rcu_read_lock section: from its copy of the leaf it was in
 * (btree.h: a leaf view) if that leaf has not changed since, or else by
 * seeking past the last key it resolved, so a cursor whose leaf was split,
 * merged or emptied, or whose records a compaction moved, finds its place
 * again by key.  Keys it may meet are exactly those visible at s: a key
 * visible at s keeps its entry in the tree while the hold lasts (index.c
 * removes only entries whose delete every hold can see), keys created
 * since have versions above s, which dk_version_at skips.
 *
 * Filling the buffer is where a scan spends its time: for each key an
 * entry (a cache miss) and then its record (another, in append order, not
 * key order).  The entries of a batch are prefetched together, then their
 * records, then each record's version is checked, so the misses of a
 * batch overlap instead of queueing.
 */
#include <stdlib.h>
#include <string.h>

#include "btree.h"
#include "errors.h"
#include "guard.h"
#include "index.h"
#include "internal.h"
#include "lane.h"
#include "latency.h"
#include "record.h"
#include "snapshot.h"

#define DK_CUR_BATCH 32u /* most keys resolved per trip into the tree */
#define DK_CUR_FIRST 4u  /* ... on the first trip after a seek: a short
			    scan pays for few misses, a long one doubles */

struct daxkv_cursor {
	struct daxkv *db;
	const struct daxkv_snapshot *snap; /* NULL: the cursor's own hold */
	struct dk_hold hold;               /* its own point in time */
	uint64_t seq;
	/* position: buf[ibuf] while positioned */
	bool positioned;
	int dir;                    /* +1: buf ascends; -1: it descends */
	uint32_t nbuf, ibuf;
	uint32_t batch;             /* keys to resolve on the next trip */
	uint64_t buf[DK_CUR_BATCH]; /* locations visible at seq, walk order */
	/* where the walk goes on past buf: from lv at lpos while lv has not
	 * changed, else the keys after (GT, LT) or from (GE, LE) ckey */
	bool done;                 /* nothing further in dir */
	bool lv_ok;                /* lv may be continued from */
	struct dk_leafview lv;
	uint32_t lpos;             /* forward: next slot; backward: slots
				      left below (the next is lpos - 1) */
	enum dk_seek cmode;
	int err;                   /* the last fill's DAXKV_EIO, else 0 */
	bool refind;               /* a fill met a media error after it had
				      found buf: the next goes on past
				      buf's last key (and meets it again) */
	bool cnull;                /* no key: from the start or the end */
	size_t cklen;
	uint8_t ckey[DAXKV_MAX_KEY];
};

static inline const struct dk_rec *dk_cur_rec(const struct daxkv_cursor *c)
{
	return dk_rec_at(c->db, c->buf[c->ibuf]);
}

/*
 * Resolve the next slots of lv in the walk's direction into buf, at most
 * DK_CUR_BATCH - nbuf of them.  Under rcu_read_lock, lv checked valid.
 * Returns the last entry resolved, or NULL if lv had none left.
 */
static const struct dk_entry *dk_cur_resolve(struct daxkv_cursor *c)
{
	const struct dk_entry *ents[DK_CUR_BATCH];
	uint64_t locs[DK_CUR_BATCH];
	uint32_t want = c->batch - c->nbuf, k = 0;

	if (c->dir > 0) {
		while (k < want && c->lpos < c->lv.n)
			ents[k++] = c->lv.ent[c->lpos++];
		/* the next batch's entries start coming meanwhile */
		for (uint32_t j = c->lpos; j < c->lv.n && j < c->lpos + k; j++)
			__builtin_prefetch(c->lv.ent[j]);
	} else {
		while (k < want && c->lpos > 0)
			ents[k++] = c->lv.ent[--c->lpos];
		for (uint32_t j = c->lpos; j > 0 && j + k > c->lpos; j--)
			__builtin_prefetch(c->lv.ent[j - 1]);
	}
	/* the entries' misses together (most were started by the batch
	 * before), then their records' (all three lines of a small record:
	 * the caller reads the value next), then the version checks */
	for (uint32_t i = 0; i < k; i++)
		__builtin_prefetch(ents[i]);
	for (uint32_t i = 0; i < k; i++) {
		locs[i] = __atomic_load_n(&ents[i]->cur, __ATOMIC_ACQUIRE);
		if (locs[i]) {
			const uint8_t *r =
				(const uint8_t *)dk_rec_at(c->db, locs[i]);

			__builtin_prefetch(r);
			__builtin_prefetch(r + 64);
			__builtin_prefetch(r + 128);
		}
	}
	for (uint32_t i = 0; i < k; i++) {
		uint64_t loc = locs[i];

		/* dk_version_at, from the cur already read */
		if (loc && dk_rec_at(c->db, loc)->seq > c->seq)
			loc = dk_version_at(c->db, ents[i], c->seq);
		if (loc && !(loc & DK_LOC_DEL)) {
			const struct dk_rec *r = dk_rec_at(c->db, loc);
			size_t size = dk_rec_size(r->klen, r->vlen);

			/* a larger value: the rest of it too */
			for (size_t off = 192; off < size && off < 1024;
			     off += 64)
				__builtin_prefetch((const uint8_t *)r + off);
			c->buf[c->nbuf++] = loc;
		}
	}
	return k ? ents[k - 1] : NULL;
}

/* The walk goes on past @p e (under rcu_read_lock). */
static void dk_cur_past(struct daxkv_cursor *c, const struct dk_entry *e)
{
	memcpy(c->ckey, e->key, e->klen);
	c->cklen = e->klen;
	c->cnull = false;
	c->cmode = c->dir > 0 ? DK_SEEK_GT : DK_SEEK_LT;
}

/* Find where the walk goes on from ckey (under rcu_read_lock). */
static void dk_cur_seek(struct daxkv_cursor *c)
{
	uint32_t pos;

	dk_tree_seek(c->db, c->cnull ? NULL : c->ckey, c->cklen, c->cmode,
		     &c->lv, &pos);
	c->lpos = c->dir > 0 ? pos : pos + 1;
	c->lv_ok = c->lv.leaf != NULL;
}

/* The walk of dk_cur_fill, under rcu_read_lock and its guard. */
static void dk_cur_walk(struct daxkv_cursor *c)
{
	const struct dk_entry *last = NULL;

	if (!c->lv_ok || !dk_tree_view_valid(&c->lv))
		dk_cur_seek(c);
	while (c->lv_ok && c->nbuf < c->batch) {
		const struct dk_entry *e = dk_cur_resolve(c);

		if (e) {
			last = e;
			continue;
		}
		/* this leaf is done */
		if (last) {
			dk_cur_past(c, last);
			last = NULL;
		}
		if (c->nbuf >= c->batch / 2)
			break; /* enough: the next fill goes on from lv */
		if (c->dir > 0 && dk_tree_next_leaf(&c->lv)) {
			c->lpos = 0;
			c->lv_ok = c->lv.leaf != NULL;
		} else {
			dk_cur_seek(c);
		}
	}
	if (last)
		dk_cur_past(c, last);
}

/*
 * Fill buf with the next keys in the walk's direction (one trip into the
 * tree, one read-side section); positioned at buf[0] if any.  The
 * records are read under a guard (guard.h): a media error leaves the
 * cursor at no key with c->err set to DAXKV_EIO naming the place.
 */
static void dk_cur_fill(struct daxkv_cursor *c)
{
	uint64_t from = c->refind && c->nbuf ? c->buf[c->nbuf - 1] : 0;
	struct dk_guard g;

	c->nbuf = c->ibuf = 0;
	c->err = 0;
	c->refind = false;
	rcu_read_lock();
	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		rcu_read_unlock();
		c->lv_ok = false;
		if (c->nbuf) {
			/* the keys found before the fault are handed out */
			c->refind = true;
			c->done = false;
			c->positioned = true;
			return;
		}
		c->done = true;
		c->positioned = false;
		c->err = dk_guard_eio(c->db, &g, "a cursor read a record");
		return;
	}
	dk_guard_push(&g);
	if (from) {
		const struct dk_rec *r = dk_rec_at(c->db, from);

		memcpy(c->ckey, dk_rec_key(r), r->klen);
		c->cklen = r->klen;
		c->cnull = false;
		c->cmode = c->dir > 0 ? DK_SEEK_GT : DK_SEEK_LT;
	}
	dk_cur_walk(c);
	dk_guard_pop(&g);
	rcu_read_unlock();
	c->done = !c->lv_ok;
	c->positioned = c->nbuf != 0;
	if (c->batch < DK_CUR_BATCH)
		c->batch *= 2;
}

/* A walk in the direction of @p mode from @p key (NULL: from the start
 * for GE, the end for LE): 0, or DAXKV_ENOTFOUND when there is no key. */
static int dk_cur_start(struct daxkv_cursor *c, const void *key, size_t klen,
			enum dk_seek mode)
{
	c->dir = mode == DK_SEEK_GE || mode == DK_SEEK_GT ? 1 : -1;
	c->cmode = mode;
	c->cnull = key == NULL;
	c->cklen = key ? klen : 0;
	if (key)
		memcpy(c->ckey, key, klen);
	c->lv_ok = false;
	c->refind = false;
	c->batch = DK_CUR_FIRST;
	dk_cur_fill(c);
	if (c->err)
		return c->err;
	return c->positioned ? 0 : DAXKV_ENOTFOUND;
}

/* One step in @p dir: 0, or DAXKV_ENOTFOUND past the end (then the
 * cursor is not positioned). */
static int dk_cur_step(struct daxkv_cursor *c, int dir)
{
	const struct dk_rec *rec;

	if (!c->positioned)
		return dk_err(DAXKV_ENOTFOUND, "cursor is not at a key");
	if (c->dir == dir) {
		if (c->ibuf + 1 < c->nbuf) {
			c->ibuf++;
			return 0;
		}
		if (c->done) {
			c->positioned = false;
			return DAXKV_ENOTFOUND;
		}
		dk_cur_fill(c);
		if (c->err)
			return c->err;
		return c->positioned ? 0 : DAXKV_ENOTFOUND;
	}
	/* turning: from the key it is at, the other way */
	rec = dk_cur_rec(c);
	return dk_cur_start(c, dk_rec_key(rec), rec->klen,
			    dir > 0 ? DK_SEEK_GT : DK_SEEK_LT);
}

/* Set up @p c at @p snap (NULL: a hold of its own). */
static int dk_cur_init(struct daxkv_cursor *c, struct daxkv *db,
		       const daxkv_snapshot *snap)
{
	int rc;

	c->db = db;
	c->snap = snap;
	c->positioned = false;
	c->lv_ok = false;
	c->done = false;
	c->refind = false;
	c->err = 0;
	c->nbuf = c->ibuf = 0;
	c->dir = 1;
	if (snap) {
		c->seq = snap->seq;
		return 0;
	}
	rc = dk_hold_take(db, &c->hold);
	if (rc)
		return rc;
	c->seq = c->hold.seq;
	return 0;
}

static void dk_cur_fini(struct daxkv_cursor *c)
{
	if (!c->snap)
		dk_hold_release(c->db, &c->hold);
}

/* ---- the public cursor ---- */

int daxkv_cursor_open(daxkv *db, const daxkv_snapshot *snap,
		      daxkv_cursor **curp)
{
	struct daxkv_cursor *c;
	int rc;

	dk_err_clear();
	if (!db || !curp)
		return dk_err(DAXKV_EINVAL, "%s is NULL", db ? "curp" : "db");
	if (snap && snap->db != db)
		return dk_err(DAXKV_EINVAL, "snapshot of another handle");
	c = malloc(sizeof(*c));
	if (!c)
		return dk_err(DAXKV_ENOMEM, "no memory for a cursor");
	rc = dk_cur_init(c, db, snap);
	if (rc) {
		free(c);
		return rc;
	}
	__atomic_fetch_add(&db->ncursors, 1, __ATOMIC_RELAXED);
	*curp = c;
	return 0;
}

void daxkv_cursor_close(daxkv_cursor *c)
{
	if (!c)
		return;
	dk_cur_fini(c);
	__atomic_fetch_sub(&c->db->ncursors, 1, __ATOMIC_RELAXED);
	free(c);
}

int daxkv_cursor_first(daxkv_cursor *c)
{
	dk_err_clear();
	if (!c)
		return dk_err(DAXKV_EINVAL, "cursor is NULL");
	return dk_cur_start(c, NULL, 0, DK_SEEK_GE);
}

int daxkv_cursor_last(daxkv_cursor *c)
{
	dk_err_clear();
	if (!c)
		return dk_err(DAXKV_EINVAL, "cursor is NULL");
	return dk_cur_start(c, NULL, 0, DK_SEEK_LE);
}

int daxkv_cursor_seek(daxkv_cursor *c, const void *key, size_t klen, int how)
{
	int rc;

	dk_err_clear();
	if (!c)
		return dk_err(DAXKV_EINVAL, "cursor is NULL");
	if (how != DAXKV_SEEK_GE && how != DAXKV_SEEK_LE)
		return dk_err(DAXKV_EINVAL, "seek direction %d is neither "
			      "DAXKV_SEEK_GE nor DAXKV_SEEK_LE", how);
	rc = dk_check_kv(key, klen, NULL, 0, false);
	if (rc)
		return rc;
	return dk_cur_start(c, key, klen,
			    how == DAXKV_SEEK_GE ? DK_SEEK_GE : DK_SEEK_LE);
}

int daxkv_cursor_next(daxkv_cursor *c)
{
	dk_err_clear();
	if (!c)
		return dk_err(DAXKV_EINVAL, "cursor is NULL");
	return dk_cur_step(c, 1);
}

int daxkv_cursor_prev(daxkv_cursor *c)
{
	dk_err_clear();
	if (!c)
		return dk_err(DAXKV_EINVAL, "cursor is NULL");
	return dk_cur_step(c, -1);
}

int daxkv_cursor_key(const daxkv_cursor *c, const void **key, size_t *klen)
{
	const struct dk_rec *rec;

	dk_err_clear();
	if (!c || !key || !klen)
		return dk_err(DAXKV_EINVAL, "%s is NULL",
			      !c ? "cursor" : !key ? "key" : "klen");
	if (!c->positioned)
		return dk_err(DAXKV_ENOTFOUND, "cursor is not at a key");
	rec = dk_cur_rec(c);
	*key = dk_rec_key(rec);
	*klen = rec->klen;
	return 0;
}

int daxkv_cursor_value(const daxkv_cursor *c, const void **val, size_t *vlen)
{
	const struct dk_rec *rec;

	dk_err_clear();
	if (!c || !val || !vlen)
		return dk_err(DAXKV_EINVAL, "%s is NULL",
			      !c ? "cursor" : !val ? "val" : "vlen");
	if (!c->positioned)
		return dk_err(DAXKV_ENOTFOUND, "cursor is not at a key");
	rec = dk_cur_rec(c);
	*val = dk_rec_val(rec);
	*vlen = rec->vlen;
	return 0;
}

int daxkv_cursor_get(const daxkv_cursor *c, void *kbuf, size_t kcap,
		     size_t *klen, void *vbuf, size_t vcap, size_t *vlen)
{
	const struct dk_rec *rec;

	dk_err_clear();
	if (!c || !klen || !vlen || (!kbuf && kcap) || (!vbuf && vcap))
		return dk_err(DAXKV_EINVAL, "%s is NULL",
			      !c ? "cursor" : !klen ? "klen" : !vlen ? "vlen" :
			      !kbuf && kcap ? "kbuf" : "vbuf");
	if (!c->positioned)
		return dk_err(DAXKV_ENOTFOUND, "cursor is not at a key");
	rec = dk_cur_rec(c);
	*klen = rec->klen;
	*vlen = rec->vlen;
	if (rec->klen > kcap || rec->vlen > vcap)
		return dk_err(DAXKV_ERANGE, "key is %u bytes (buffer %zu), "
			      "value %u (buffer %zu)", rec->klen, kcap,
			      rec->vlen, vcap);
	memcpy(kbuf, dk_rec_key(rec), rec->klen);
	if (rec->vlen)
		memcpy(vbuf, dk_rec_val(rec), rec->vlen);
	return 0;
}

/* ---- scans ---- */

/* Read every line of @p rec (key and value) under a guard, so that
 * poison there is DAXKV_EIO here and not a SIGBUS in the caller's
 * callback. */
static int dk_scan_touch(struct daxkv *db, const struct dk_rec *rec)
{
	const volatile uint8_t *p = (const volatile uint8_t *)rec;
	struct dk_guard g;
	size_t n;

	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		return dk_guard_eio(db, &g, "a scan read a value");
	}
	dk_guard_push(&g);
	n = dk_rec_size(rec->klen, rec->vlen);
	for (size_t i = 0; i < n; i += 64)
		(void)p[i];
	if (n)
		(void)p[n - 1];
	dk_guard_pop(&g);
	return 0;
}

int daxkv_scan_at(daxkv *db, const daxkv_snapshot *snap, const void *lo,
		  size_t lolen, const void *hi, size_t hilen, daxkv_scan_fn fn,
		  void *arg)
{
	struct daxkv_cursor c;
	int rc, cbrc = 0;
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
	rc = dk_cur_init(&c, db, snap);
	if (rc)
		return rc;
	/* the callback runs with nothing held but the hold: it may call
	 * anything on the handle but daxkv_close */
	for (rc = dk_cur_start(&c, lo, lolen, DK_SEEK_GE); rc == 0;
	     rc = dk_cur_step(&c, 1)) {
		const struct dk_rec *rec = dk_cur_rec(&c);

		cbrc = dk_scan_touch(db, rec);
		if (cbrc)
			break;
		if (hi && dk_keycmp(dk_rec_key(rec), rec->klen, hi, hilen) >= 0)
			break;
		cbrc = fn(dk_rec_key(rec), rec->klen, dk_rec_val(rec),
			  rec->vlen, arg);
		if (cbrc)
			break;
	}
	dk_cur_fini(&c);
	__atomic_fetch_add(&dk_thread_rcounter(db)->scans, 1, __ATOMIC_RELAXED);
	if (cbrc == 0 && rc != 0 && rc != DAXKV_ENOTFOUND)
		cbrc = rc; /* a media error: DAXKV_EIO, said */
	return cbrc;
}

int daxkv_scan(daxkv *db, const void *lo, size_t lolen, const void *hi,
	       size_t hilen, daxkv_scan_fn fn, void *arg)
{
	return daxkv_scan_at(db, NULL, lo, lolen, hi, hilen, fn, arg);
}
