// SPDX-License-Identifier: MIT
/*
 * btree.c -- the key-ordered index: a B+-tree of entries, built for
 * inserts and scans, with optimistic lock coupling (Leis, Haubenschild,
 * Neumann, "Optimistic Lock Coupling", 2019).
 *
 * Why this shape.  The hash index (hmap.c) answers point reads in two
 * cache misses and decides which entry a key has; this tree only keeps
 * the entries in key order.  Updates do not touch it (an entry keeps its
 * place while its versions change), so it changes only when a key is
 * created or removed.  Leaves hold up to 64 entry pointers in key order
 * beside a 64-bit "head" of each key, so that a search compares integers
 * and reads an entry's key only when two heads tie; a scan walks a leaf's
 * pointer array (eight lines) and prefetches entries and records ahead
 * (cursor.c).  The skip list it replaces cost a dependent miss per level
 * on every insert and per key on every scan step.
 *
 * Heads and prefixes.  A node covers the keys in [lo, hi) (its fences,
 * NULL: unbounded); every such key starts with the common prefix of lo
 * and hi, whose length is the node's plen.  Heads are the eight key
 * bytes after it (big-endian, zero-padded), so they tell keys apart even
 * where all keys share a long prefix ("user" + digits: plen grows with
 * the depth).  Equal heads say nothing: then the keys are compared.
 * Separators are the shortest key between two neighbours (suffix
 * truncation), malloc'd and immutable; inner nodes keep heads of them.
 *
 * Concurrency.  Each node has a lock word: a version counter, a locked
 * bit and an obsolete bit.  Readers take no lock: they read the version,
 * read what they need with relaxed atomic loads, and check the version
 * again before they use it; a node's pointer (a child, an entry, the
 * next leaf) is followed only after that check, and a child's version is
 * read before its parent's is checked again, so a reader never acts on a
 * node that was changed or replaced meanwhile.  Writers lock only the
 * nodes they change: a leaf for an insert or a removal, and its parent
 * (and a sibling) only to split or merge.  Locks are taken by upgrading
 * a version that was read (a compare-and-swap); a failed upgrade means
 * someone changed the node, and the operation restarts from the root,
 * so no writer ever waits for a lock and none can deadlock.  Inserts
 * split full inner nodes on the way down, so a parent always has room
 * for a child's split; removals merge underfull inner nodes on the way
 * down and an underfull leaf with a sibling under the same parent.
 *
 * Memory.  Nodes are type-stable (arena.h): a node taken out of the tree
 * is marked obsolete and goes back to its pool at once, and the pool
 * only hands it out again as a node of the same kind whose version
 * continues to count up.  A reader still holding it therefore reads node
 * memory, never anything else, and its version check fails.  That is
 * also what lets a cursor keep a leaf between calls without any lock
 * (struct dk_leafview).  Entries and separators are freed only after an
 * RCU grace period (arena.c), and only readers inside rcu_read_lock
 * follow them, after a version check.  Fences are read under locks
 * only, so they are freed at once.
 *
 * Order of keys: bytewise, a proper prefix first (dk_keycmp).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "btree.h"
#include "bulk.h"
#include "errors.h"
#include "internal.h"

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* Fill of nodes made by a bulk build, and merge thresholds. */
#define DK_LEAF_FILL 48u
#define DK_INNER_FILL 48u
#define DK_LEAF_MIN 16u  /* a leaf below this merges with a sibling */
#define DK_INNER_MIN 16u /* likewise an inner node, on the way down */
#define DK_MERGE_MAX 48u /* ... into a node of at most this many keys */

/* ---- lock words ---- */

static inline uint64_t dk_ver_read(struct dk_node *n)
{
	return __atomic_load_n(&n->version, __ATOMIC_ACQUIRE);
}

static inline bool dk_ver_busy(uint64_t v)
{
	return v & 3; /* locked or obsolete */
}

/* Did nothing change @p n since its version @p v was read? */
static inline bool dk_ver_check(struct dk_node *n, uint64_t v)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&n->version, __ATOMIC_RELAXED) == v;
}

/* Lock @p n if it is still at version @p v. */
static inline bool dk_ver_upgrade(struct dk_node *n, uint64_t v)
{
	if (!__atomic_compare_exchange_n(&n->version, &v, v + 2, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return false;
	/* stores after this are not seen before the locked bit */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return true;
}

static inline void dk_ver_unlock(struct dk_node *n)
{
	__atomic_fetch_add(&n->version, 2, __ATOMIC_RELEASE);
}

static inline void dk_ver_unlock_obsolete(struct dk_node *n)
{
	__atomic_fetch_add(&n->version, 3, __ATOMIC_RELEASE);
}

/* Lock a node not read before (a sibling): false if busy. */
static inline bool dk_ver_trylock(struct dk_node *n)
{
	uint64_t v = dk_ver_read(n);

	return !dk_ver_busy(v) && dk_ver_upgrade(n, v);
}

/* After many restarts, let the thread holding the lock run. */
static void dk_backoff(unsigned *restarts)
{
	if (++*restarts < 16)
		caa_cpu_relax();
	else
		sched_yield();
}

/* ---- keys, heads, separators ---- */

static inline uint64_t dk_head(const uint8_t *key, size_t klen, size_t plen)
{
	uint64_t h = 0;

	if (klen >= plen + 8) {
		memcpy(&h, key + plen, 8);
	} else if (klen > plen) {
		uint8_t b[8] = { 0 };

		memcpy(b, key + plen, klen - plen);
		memcpy(&h, b, 8);
	}
	return __builtin_bswap64(h);
}

static size_t dk_lcp(const uint8_t *a, size_t alen, const uint8_t *b,
		     size_t blen)
{
	size_t n = alen < blen ? alen : blen, i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* plen of a node with fences @p lo and @p hi. */
static uint16_t dk_fence_plen(const struct dk_key *lo, const struct dk_key *hi)
{
	if (!lo || !hi)
		return 0;
	return (uint16_t)dk_lcp(lo->bytes, lo->len, hi->bytes, hi->len);
}

static struct dk_key *dk_key_new(const uint8_t *bytes, size_t len)
{
	struct dk_key *k = malloc(sizeof(*k) + len);

	if (k) {
		k->len = (uint16_t)len;
		memcpy(k->bytes, bytes, len);
	}
	return k;
}

static struct dk_key *dk_key_dup(const struct dk_key *k)
{
	return k ? dk_key_new(k->bytes, k->len) : NULL;
}

/* The shortest key s with a < s <= b (a < b): b up to one byte past
 * their common prefix. */
static struct dk_key *dk_key_between(const uint8_t *a, size_t alen,
				     const uint8_t *b, size_t blen)
{
	return dk_key_new(b, dk_lcp(a, alen, b, blen) + 1);
}

/* ---- nodes ---- */

static struct dk_node *dk_node_new(struct dk_alloc *al, bool leaf)
{
	size_t size = leaf ? sizeof(struct dk_leaf) : sizeof(struct dk_inner);
	bool reused;
	struct dk_node *n = dk_alloc_node(al, leaf ? DK_NODE_LEAF :
						     DK_NODE_INNER,
					  size, &reused);

	if (!n)
		return NULL;
	if (reused) {
		/* continue the count, clear locked and obsolete: a reader
		 * that read an older version fails its check */
		ST(n->version, (LD(n->version) | 3) + 1);
	} else {
		ST(n->version, 4);
		ST(n->leaf, leaf ? 1 : 0);
	}
	ST(n->count, 0);
	ST(n->plen, 0);
	n->lo = n->hi = NULL;
	ST(n->next, NULL);
	return n;
}

/* Out of the tree (locked by the caller): obsolete, fences freed, back to
 * the pool. */
static void dk_node_free(struct dk_alloc *al, struct dk_node *n)
{
	free(n->lo);
	free(n->hi);
	n->lo = n->hi = NULL;
	dk_ver_unlock_obsolete(n);
	if (LD(n->leaf))
		dk_free_node(al, DK_NODE_LEAF, n, sizeof(struct dk_leaf));
	else
		dk_free_node(al, DK_NODE_INNER, n, sizeof(struct dk_inner));
}

static inline struct dk_leaf *dk_leaf_of(struct dk_node *n)
{
	return (struct dk_leaf *)n;
}

static inline struct dk_inner *dk_inner_of(struct dk_node *n)
{
	return (struct dk_inner *)n;
}

/*
 * Searches.  @p v non-zero: optimistic (no lock held): before a key
 * behind a pointer is read, the version is checked, and -1 means it
 * moved (restart).  Under the node's lock, pass 0.
 */

/* Leaf: the first slot whose key is > (upper) or >= (!upper) @p key. */
static int dk_leaf_bound(struct dk_leaf *l, uint64_t v, const uint8_t *key,
			 size_t klen, bool upper)
{
	uint32_t n = LD(l->n.count), lo = 0, hi;
	uint64_t kh = dk_head(key, klen, LD(l->n.plen));

	hi = n > DK_LEAF_MAX ? DK_LEAF_MAX : n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		uint64_t h = LD(l->head[mid]);
		int c;

		if (kh != h) {
			c = kh < h ? -1 : 1;
		} else {
			const struct dk_entry *e = LD(l->ent[mid]);

			if (v && !dk_ver_check(&l->n, v))
				return -1;
			c = dk_keycmp(key, klen, e->key, e->klen);
		}
		if (c < 0 || (c == 0 && !upper))
			hi = mid;
		else
			lo = mid + 1;
	}
	return (int)lo;
}

/* Inner: the number of separators <= (upper) or < (!upper) @p key, the
 * index of the child to follow. */
static int dk_inner_bound(struct dk_inner *in, uint64_t v, const uint8_t *key,
			  size_t klen, bool upper)
{
	uint32_t n = LD(in->n.count), lo = 0, hi;
	uint64_t kh = dk_head(key, klen, LD(in->n.plen));

	hi = n > DK_INNER_MAX ? DK_INNER_MAX : n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		uint64_t h = LD(in->head[mid]);
		int c;

		if (kh != h) {
			c = kh < h ? -1 : 1;
		} else {
			const struct dk_key *s = LD(in->sep[mid]);

			if (v && !dk_ver_check(&in->n, v))
				return -1;
			c = dk_keycmp(key, klen, s->bytes, s->len);
		}
		if (c < 0 || (c == 0 && !upper))
			hi = mid;
		else
			lo = mid + 1;
	}
	return (int)lo;
}

static void dk_prefetch_node(const struct dk_node *n)
{
	/* the head array: a search touches several of its lines, which a
	 * binary search would otherwise fetch one after the other */
	const uint8_t *p = (const uint8_t *)n;

	for (size_t off = 64; off < 64 + 8 * DK_LEAF_MAX; off += 64)
		__builtin_prefetch(p + off);
}

/* Heads of a leaf's entries [from, to) at its plen (locked). */
static void dk_leaf_reheads(struct dk_leaf *l, uint32_t from, uint32_t to)
{
	uint16_t plen = LD(l->n.plen);

	for (uint32_t i = from; i < to; i++)
		__builtin_prefetch(l->ent[i]);
	for (uint32_t i = from; i < to; i++) {
		const struct dk_entry *e = l->ent[i];

		ST(l->head[i], dk_head(e->key, e->klen, plen));
	}
}

static void dk_inner_reheads(struct dk_inner *in, uint32_t from, uint32_t to)
{
	uint16_t plen = LD(in->n.plen);

	for (uint32_t i = from; i < to; i++) {
		const struct dk_key *s = in->sep[i];

		ST(in->head[i], dk_head(s->bytes, s->len, plen));
	}
}

/* ---- structure changes (callers hold the locks named) ---- */

/* Make a new root over @p left and @p right, split by @p sep (taken).
 * The old root (@p left) is locked. */
static int dk_make_root(struct daxkv *db, struct dk_alloc *al,
			struct dk_node *left, struct dk_key *sep,
			struct dk_node *right)
{
	struct dk_inner *r = dk_inner_of(dk_node_new(al, false));

	if (!r)
		return DAXKV_ENOMEM;
	ST(r->sep[0], sep);
	ST(r->head[0], dk_head(sep->bytes, sep->len, 0));
	ST(r->child[0], left);
	ST(r->child[1], right);
	ST(r->n.count, 1);
	__atomic_store_n(&db->root, &r->n, __ATOMIC_RELEASE);
	return 0;
}

/* Put @p sep and its right child @p right into @p p (locked, not full). */
static void dk_inner_insert(struct dk_inner *p, struct dk_key *sep,
			    struct dk_node *right)
{
	uint32_t n = p->n.count;
	uint32_t pos = (uint32_t)dk_inner_bound(p, 0, sep->bytes, sep->len,
						true);

	for (uint32_t i = n; i > pos; i--) {
		ST(p->head[i], p->head[i - 1]);
		ST(p->sep[i], p->sep[i - 1]);
		ST(p->child[i + 1], p->child[i]);
	}
	ST(p->head[pos], dk_head(sep->bytes, sep->len, p->n.plen));
	ST(p->sep[pos], sep);
	ST(p->child[pos + 1], right);
	ST(p->n.count, n + 1);
}

/* Take separator @p si and child si + 1 out of @p p (locked). */
static void dk_inner_cut(struct dk_inner *p, uint32_t si)
{
	uint32_t n = p->n.count;

	for (uint32_t i = si; i + 1 < n; i++) {
		ST(p->head[i], p->head[i + 1]);
		ST(p->sep[i], p->sep[i + 1]);
		ST(p->child[i + 1], p->child[i + 2]);
	}
	ST(p->n.count, n - 1);
}

/*
 * Split full leaf @p l (locked; its parent @p p locked, or @p l is the
 * root): the upper half goes to a new right sibling, and the shortest
 * separator between the halves goes up.
 */
static int dk_leaf_split(struct daxkv *db, struct dk_alloc *al,
			 struct dk_leaf *l, struct dk_inner *p)
{
	uint32_t n = l->n.count, m = n / 2;
	const struct dk_entry *a = l->ent[m - 1], *b = l->ent[m];
	struct dk_key *sep, *lhi = NULL, *rlo = NULL;
	struct dk_leaf *r;
	uint16_t lplen, rplen;

	sep = dk_key_between(a->key, a->klen, b->key, b->klen);
	r = dk_leaf_of(dk_node_new(al, true));
	if (sep) {
		lhi = dk_key_dup(sep);
		rlo = dk_key_dup(sep);
	}
	if (!sep || !r || !lhi || !rlo) {
		free(sep);
		free(lhi);
		free(rlo);
		if (r) {
			dk_ver_unlock_obsolete(&r->n);
			dk_free_node(al, DK_NODE_LEAF, r, sizeof(*r));
		}
		return DAXKV_ENOMEM;
	}
	r->n.lo = rlo;
	r->n.hi = l->n.hi;
	rplen = dk_fence_plen(rlo, r->n.hi);
	lplen = dk_fence_plen(l->n.lo, lhi);
	ST(r->n.plen, rplen);
	for (uint32_t i = m; i < n; i++) {
		ST(r->ent[i - m], l->ent[i]);
		ST(r->head[i - m], l->head[i]);
	}
	ST(r->n.count, n - m);
	if (rplen != l->n.plen)
		dk_leaf_reheads(r, 0, n - m);
	ST(r->n.next, l->n.next);
	if (p)
		dk_inner_insert(p, sep, &r->n);
	else if (dk_make_root(db, al, &l->n, sep, &r->n)) {
		free(sep);
		free(lhi);
		r->n.hi = NULL;
		dk_node_free(al, &r->n);
		return DAXKV_ENOMEM;
	}
	l->n.hi = lhi;
	ST(l->n.count, m);
	if (lplen != l->n.plen) {
		ST(l->n.plen, lplen);
		dk_leaf_reheads(l, 0, m);
	}
	ST(l->n.next, &r->n);
	return 0;
}

/* Split full inner node @p x (locked; parent @p p locked, or @p x is the
 * root): its middle separator goes up. */
static int dk_inner_split(struct daxkv *db, struct dk_alloc *al,
			  struct dk_inner *x, struct dk_inner *p)
{
	uint32_t n = x->n.count, m = n / 2;
	struct dk_key *up = x->sep[m], *xhi = dk_key_dup(up),
		      *rlo = dk_key_dup(up);
	struct dk_inner *r = dk_inner_of(dk_node_new(al, false));
	uint16_t xplen, rplen;

	if (!xhi || !rlo || !r) {
		free(xhi);
		free(rlo);
		if (r) {
			dk_ver_unlock_obsolete(&r->n);
			dk_free_node(al, DK_NODE_INNER, r, sizeof(*r));
		}
		return DAXKV_ENOMEM;
	}
	r->n.lo = rlo;
	r->n.hi = x->n.hi;
	rplen = dk_fence_plen(rlo, r->n.hi);
	xplen = dk_fence_plen(x->n.lo, xhi);
	ST(r->n.plen, rplen);
	for (uint32_t i = m + 1; i < n; i++) {
		ST(r->sep[i - m - 1], x->sep[i]);
		ST(r->head[i - m - 1], x->head[i]);
	}
	for (uint32_t i = m + 1; i <= n; i++)
		ST(r->child[i - m - 1], x->child[i]);
	ST(r->n.count, n - m - 1);
	if (rplen != x->n.plen)
		dk_inner_reheads(r, 0, n - m - 1);
	if (p)
		dk_inner_insert(p, up, &r->n);
	else if (dk_make_root(db, al, &x->n, up, &r->n)) {
		free(xhi);
		r->n.hi = NULL;
		dk_node_free(al, &r->n);
		return DAXKV_ENOMEM;
	}
	x->n.hi = xhi;
	ST(x->n.count, m);
	if (xplen != x->n.plen) {
		ST(x->n.plen, xplen);
		dk_inner_reheads(x, 0, m);
	}
	return 0;
}

/*
 * Merge @p r into its left sibling @p l, both children of @p p at si and
 * si + 1, all three locked; r leaves the tree.
 */
static void dk_merge(struct dk_alloc *al, struct dk_inner *p, uint32_t si,
		     struct dk_node *l, struct dk_node *r)
{
	uint32_t ln = l->count, rn = r->count;
	struct dk_key *sep = p->sep[si];
	uint16_t plen;

	free(l->hi);
	l->hi = r->hi;
	r->hi = NULL;
	plen = dk_fence_plen(l->lo, l->hi);
	if (LD(l->leaf)) {
		struct dk_leaf *ll = dk_leaf_of(l), *rl = dk_leaf_of(r);

		for (uint32_t i = 0; i < rn; i++) {
			ST(ll->ent[ln + i], rl->ent[i]);
			ST(ll->head[ln + i], rl->head[i]);
		}
		ST(l->count, ln + rn);
		ST(l->next, r->next);
		if (plen != l->plen) {
			ST(l->plen, plen);
			dk_leaf_reheads(ll, 0, ln + rn);
		} else if (plen != r->plen) {
			dk_leaf_reheads(ll, ln, ln + rn);
		}
		dk_inner_cut(p, si);
		/* the separator is no longer read from p; readers that read
		 * it before may still compare with it */
		dk_retire_block(al, sep);
	} else {
		struct dk_inner *li = dk_inner_of(l), *ri = dk_inner_of(r);

		/* the parent's separator comes down between them */
		ST(li->sep[ln], sep);
		ST(li->head[ln], dk_head(sep->bytes, sep->len, l->plen));
		for (uint32_t i = 0; i < rn; i++) {
			ST(li->sep[ln + 1 + i], ri->sep[i]);
			ST(li->head[ln + 1 + i], ri->head[i]);
		}
		for (uint32_t i = 0; i <= rn; i++)
			ST(li->child[ln + 1 + i], ri->child[i]);
		ST(l->count, ln + 1 + rn);
		if (plen != l->plen) {
			ST(l->plen, plen);
			dk_inner_reheads(li, 0, ln + 1 + rn);
		} else if (plen != r->plen) {
			dk_inner_reheads(li, ln + 1, ln + 1 + rn);
		}
		dk_inner_cut(p, si);
	}
	dk_node_free(al, r);
}

/*
 * Try to merge @p x (locked, at @p ci in @p p, which is locked) with a
 * sibling: the right one if there is one, else the left one.  The
 * sibling is locked only if it is free; the merge is made if the keys of
 * both fit in DK_MERGE_MAX (any number if x is empty).  Returns whether
 * x was merged away or absorbed its sibling; either way the locks of p
 * and x are still held (x is freed if it went: do not unlock it).
 */
static bool dk_try_merge(struct dk_alloc *al, struct dk_inner *p, uint32_t ci,
			 struct dk_node *x, bool *x_gone)
{
	uint32_t pn = p->n.count, max;
	struct dk_node *l, *r, *sib;
	bool leaf = LD(x->leaf);

	*x_gone = false;
	if (pn == 0)
		return false; /* no sibling under this parent */
	if (ci < pn) {
		sib = p->child[ci + 1];
		l = x;
		r = sib;
	} else {
		sib = p->child[ci - 1];
		l = sib;
		r = x;
	}
	if (!dk_ver_trylock(sib))
		return false;
	max = x->count == 0 ? (leaf ? DK_LEAF_MAX : DK_INNER_MAX) :
			      DK_MERGE_MAX;
	if ((uint32_t)l->count + r->count + (leaf ? 0u : 1u) > max) {
		dk_ver_unlock(sib);
		return false;
	}
	/* r leaves the tree (freed): x if it was the right one, else the
	 * sibling; the survivor l stays locked (by the caller if it is x) */
	dk_merge(al, p, l == x ? ci : ci - 1, l, r);
	if (r == x) {
		*x_gone = true;
		dk_ver_unlock(sib);
	}
	return true;
}

/* ---- insert and remove ---- */

int dk_tree_insert(struct daxkv *db, struct dk_alloc *al, struct dk_entry *e)
{
	unsigned restarts = 0;
	int rc;

	goto start;
restart:
	dk_backoff(&restarts);
start:;
	struct dk_node *node = __atomic_load_n(&db->root, __ATOMIC_ACQUIRE);
	struct dk_inner *parent = NULL;
	uint64_t v = dk_ver_read(node), pv = 0;

	if (dk_ver_busy(v) || node != __atomic_load_n(&db->root,
						       __ATOMIC_ACQUIRE))
		goto restart;
	while (!LD(node->leaf)) {
		struct dk_inner *in = dk_inner_of(node);
		struct dk_node *child;
		int ci;

		if (LD(node->count) == DK_INNER_MAX) {
			/* full: split it now, so that its parent has room
			 * when a child splits */
			if (parent && !dk_ver_upgrade(&parent->n, pv))
				goto restart;
			if (!dk_ver_upgrade(node, v)) {
				if (parent)
					dk_ver_unlock(&parent->n);
				goto restart;
			}
			if (!parent && node != __atomic_load_n(&db->root, __ATOMIC_RELAXED)) {
				dk_ver_unlock(node);
				goto restart;
			}
			rc = dk_inner_split(db, al, in, parent);
			dk_ver_unlock(node);
			if (parent)
				dk_ver_unlock(&parent->n);
			if (rc)
				return dk_err(rc, "index: no memory to split "
					      "a node");
			goto restart;
		}
		if (parent && !dk_ver_check(&parent->n, pv))
			goto restart;
		dk_prefetch_node(node);
		ci = dk_inner_bound(in, v, e->key, e->klen, true);
		if (ci < 0)
			goto restart;
		child = LD(in->child[ci]);
		if (!dk_ver_check(node, v))
			goto restart;
		parent = in;
		pv = v;
		node = child;
		v = dk_ver_read(node);
		if (dk_ver_busy(v))
			goto restart;
	}
	dk_prefetch_node(node);
	if (LD(node->count) == DK_LEAF_MAX) {
		if (parent && !dk_ver_upgrade(&parent->n, pv))
			goto restart;
		if (!dk_ver_upgrade(node, v)) {
			if (parent)
				dk_ver_unlock(&parent->n);
			goto restart;
		}
		if (!parent && node != __atomic_load_n(&db->root, __ATOMIC_RELAXED)) {
			dk_ver_unlock(node);
			goto restart;
		}
		rc = dk_leaf_split(db, al, dk_leaf_of(node), parent);
		dk_ver_unlock(node);
		if (parent)
			dk_ver_unlock(&parent->n);
		if (rc)
			return dk_err(rc, "index: no memory to split a leaf");
		goto restart;
	}
	if (!dk_ver_upgrade(node, v))
		goto restart;
	if (parent && !dk_ver_check(&parent->n, pv)) {
		dk_ver_unlock(node);
		goto restart;
	}
	{
		struct dk_leaf *l = dk_leaf_of(node);
		uint32_t n = l->n.count;
		uint32_t pos = (uint32_t)dk_leaf_bound(l, 0, e->key, e->klen,
						       false);

		for (uint32_t i = n; i > pos; i--) {
			ST(l->ent[i], l->ent[i - 1]);
			ST(l->head[i], l->head[i - 1]);
		}
		ST(l->ent[pos], e);
		ST(l->head[pos], dk_head(e->key, e->klen, l->n.plen));
		ST(l->n.count, n + 1);
	}
	dk_ver_unlock(node);
	return 0;
}

void dk_tree_remove(struct daxkv *db, struct dk_alloc *al, struct dk_entry *e)
{
	unsigned restarts = 0;

	goto start;
restart:
	dk_backoff(&restarts);
start:;
	struct dk_node *node = __atomic_load_n(&db->root, __ATOMIC_ACQUIRE);
	struct dk_inner *parent = NULL;
	uint64_t v = dk_ver_read(node), pv = 0;
	uint32_t pci = 0;
	bool gone;

	if (dk_ver_busy(v) || node != __atomic_load_n(&db->root,
						       __ATOMIC_ACQUIRE))
		goto restart;
	while (!LD(node->leaf)) {
		struct dk_inner *in = dk_inner_of(node);
		struct dk_node *child;
		int ci;

		if (!parent && LD(node->count) == 0) {
			/* a root with one child: the child is the root */
			if (!dk_ver_upgrade(node, v))
				goto restart;
			if (node != __atomic_load_n(&db->root,
						    __ATOMIC_RELAXED)) {
				dk_ver_unlock(node);
				goto restart;
			}
			__atomic_store_n(&db->root, in->child[0],
					 __ATOMIC_RELEASE);
			dk_node_free(al, node);
			goto restart;
		}
		if (parent && LD(node->count) < DK_INNER_MIN) {
			/* underfull: merge it now, as inserts split */
			if (!dk_ver_upgrade(&parent->n, pv))
				goto restart;
			if (!dk_ver_upgrade(node, v)) {
				dk_ver_unlock(&parent->n);
				goto restart;
			}
			if (dk_try_merge(al, parent, pci, node, &gone)) {
				if (!gone)
					dk_ver_unlock(node);
				dk_ver_unlock(&parent->n);
				goto restart;
			}
			/* no sibling to take it: go on through it */
			dk_ver_unlock(node);
			dk_ver_unlock(&parent->n);
			goto restart_nomerge;
		}
		if (parent && !dk_ver_check(&parent->n, pv))
			goto restart;
		ci = dk_inner_bound(in, v, e->key, e->klen, true);
		if (ci < 0)
			goto restart;
		child = LD(in->child[ci]);
		if (!dk_ver_check(node, v))
			goto restart;
		parent = in;
		pv = v;
		pci = (uint32_t)ci;
		node = child;
		v = dk_ver_read(node);
		if (dk_ver_busy(v))
			goto restart;
	}
	goto at_leaf;

restart_nomerge:
	/* the same walk without merging inner nodes (none could be) */
	dk_backoff(&restarts);
	node = __atomic_load_n(&db->root, __ATOMIC_ACQUIRE);
	parent = NULL;
	v = dk_ver_read(node);
	if (dk_ver_busy(v) || node != __atomic_load_n(&db->root,
						       __ATOMIC_ACQUIRE))
		goto restart;
	while (!LD(node->leaf)) {
		struct dk_inner *in = dk_inner_of(node);
		struct dk_node *child;
		int ci;

		if (parent && !dk_ver_check(&parent->n, pv))
			goto restart;
		ci = dk_inner_bound(in, v, e->key, e->klen, true);
		if (ci < 0)
			goto restart;
		child = LD(in->child[ci]);
		if (!dk_ver_check(node, v))
			goto restart;
		parent = in;
		pv = v;
		pci = (uint32_t)ci;
		node = child;
		v = dk_ver_read(node);
		if (dk_ver_busy(v))
			goto restart;
	}

at_leaf:
	if (!dk_ver_upgrade(node, v))
		goto restart;
	if (parent && !dk_ver_check(&parent->n, pv)) {
		dk_ver_unlock(node);
		goto restart;
	}
	{
		struct dk_leaf *l = dk_leaf_of(node);
		uint32_t n = l->n.count;
		int pos = dk_leaf_bound(l, 0, e->key, e->klen, false);

		if ((uint32_t)pos >= n || l->ent[pos] != e) {
			dk_ver_unlock(node); /* not in the tree */
			return;
		}
		for (uint32_t i = (uint32_t)pos; i + 1 < n; i++) {
			ST(l->ent[i], l->ent[i + 1]);
			ST(l->head[i], l->head[i + 1]);
		}
		ST(l->n.count, n - 1);
		if (parent && n - 1 < DK_LEAF_MIN &&
		    dk_ver_upgrade(&parent->n, pv)) {
			if (dk_try_merge(al, parent, pci, node, &gone) &&
			    gone) {
				dk_ver_unlock(&parent->n);
				return;
			}
			dk_ver_unlock(&parent->n);
		}
	}
	dk_ver_unlock(node);
}

/* ---- walks ---- */

bool dk_tree_view_valid(const struct dk_leafview *lv)
{
	return lv->leaf && dk_ver_check(lv->leaf, lv->version);
}

/* Copy leaf @p n at version @p v into @p lv; false if it moved. */
static bool dk_view_copy(struct dk_leafview *lv, struct dk_node *n, uint64_t v)
{
	struct dk_leaf *l = dk_leaf_of(n);
	uint32_t cnt = LD(n->count);

	if (cnt > DK_LEAF_MAX)
		cnt = DK_LEAF_MAX;
	for (uint32_t i = 0; i < cnt; i++)
		lv->ent[i] = LD(l->ent[i]);
	if (!dk_ver_check(n, v))
		return false;
	lv->leaf = n;
	lv->version = v;
	lv->n = cnt;
	return true;
}

bool dk_tree_next_leaf(struct dk_leafview *lv)
{
	struct dk_node *cur = lv->leaf;
	uint64_t cv = lv->version;

	for (;;) {
		struct dk_node *next;
		uint64_t nv;

		next = LD(cur->next);
		if (!dk_ver_check(cur, cv))
			return false;
		if (!next) {
			lv->leaf = NULL;
			lv->n = 0;
			return true;
		}
		nv = dk_ver_read(next);
		/* next was still cur's successor when its version was read */
		if (dk_ver_busy(nv) || !dk_ver_check(cur, cv))
			return false;
		if (!dk_view_copy(lv, next, nv))
			return false;
		if (lv->n)
			return true;
		cur = next; /* empty: go on */
		cv = nv;
	}
}

#define DK_MAX_DEPTH 32

struct dk_path {
	struct dk_node *node;
	uint64_t v;
	uint32_t ci;
};

/*
 * One attempt of dk_tree_seek; false to restart.  Descends with a path
 * (for LE/LT, which may have to go back to an earlier leaf).
 */
static bool dk_seek_once(struct daxkv *db, const uint8_t *key, size_t klen,
			 enum dk_seek mode, struct dk_leafview *lv,
			 uint32_t *posp)
{
	struct dk_path path[DK_MAX_DEPTH];
	bool back = mode == DK_SEEK_LE || mode == DK_SEEK_LT;
	struct dk_node *node = __atomic_load_n(&db->root, __ATOMIC_ACQUIRE);
	uint64_t v = dk_ver_read(node);
	int depth = 0, pos;

	if (dk_ver_busy(v) || node != __atomic_load_n(&db->root,
						       __ATOMIC_ACQUIRE))
		return false;
	while (!LD(node->leaf)) {
		struct dk_inner *in = dk_inner_of(node);
		struct dk_node *child;
		int ci;

		if (depth == DK_MAX_DEPTH)
			return false;
		dk_prefetch_node(node);
		if (!key)
			ci = back ? (int)LD(node->count) : 0;
		else
			ci = dk_inner_bound(in, v, key, klen,
					    mode != DK_SEEK_LT);
		if (ci < 0 || ci > (int)DK_INNER_MAX)
			return false;
		child = LD(in->child[ci]);
		if (!dk_ver_check(node, v))
			return false;
		path[depth].node = node;
		path[depth].v = v;
		path[depth].ci = (uint32_t)ci;
		depth++;
		node = child;
		v = dk_ver_read(node);
		if (dk_ver_busy(v) || !dk_ver_check(path[depth - 1].node,
						    path[depth - 1].v))
			return false;
	}
	dk_prefetch_node(node);
	if (!key)
		pos = back ? (int)LD(node->count) : 0;
	else
		pos = dk_leaf_bound(dk_leaf_of(node), v, key, klen,
				    mode == DK_SEEK_GT || mode == DK_SEEK_LE);
	if (pos < 0 || !dk_view_copy(lv, node, v))
		return false;
	if (!back) {
		/* forward: past this leaf's end, the next leaf's start */
		if ((uint32_t)pos < lv->n) {
			*posp = (uint32_t)pos;
			return true;
		}
		if (!dk_tree_next_leaf(lv))
			return false;
		*posp = 0;
		return true;
	}
	/* backward: the slot before pos, or the last key of an earlier
	 * leaf: up the path to the first ancestor with a child to the left,
	 * then down its rightmost children */
	while (pos == 0) {
		struct dk_node *child;

		while (depth > 0 && path[depth - 1].ci == 0)
			depth--;
		if (depth == 0) {
			lv->leaf = NULL; /* nothing before */
			lv->n = 0;
			*posp = 0;
			return true;
		}
		depth--;
		node = path[depth].node;
		v = path[depth].v;
		path[depth].ci--;
		child = LD(dk_inner_of(node)->child[path[depth].ci]);
		if (!dk_ver_check(node, v))
			return false;
		depth++;
		for (;;) {
			node = child;
			v = dk_ver_read(node);
			if (dk_ver_busy(v) ||
			    !dk_ver_check(path[depth - 1].node,
					  path[depth - 1].v))
				return false;
			if (LD(node->leaf))
				break;
			if (depth == DK_MAX_DEPTH)
				return false;
			path[depth].node = node;
			path[depth].v = v;
			path[depth].ci = LD(node->count);
			if (path[depth].ci > DK_INNER_MAX)
				return false;
			child = LD(dk_inner_of(node)->child[path[depth].ci]);
			if (!dk_ver_check(node, v))
				return false;
			depth++;
		}
		if (!dk_view_copy(lv, node, v))
			return false;
		pos = (int)lv->n;
	}
	*posp = (uint32_t)pos - 1;
	return true;
}

void dk_tree_seek(struct daxkv *db, const void *key, size_t klen,
		  enum dk_seek mode, struct dk_leafview *lv, uint32_t *posp)
{
	unsigned restarts = 0;

	while (!dk_seek_once(db, key, klen, mode, lv, posp))
		dk_backoff(&restarts);
}

/* ---- whole-tree walks (single-threaded) ---- */

static void dk_tree_walk(struct dk_node *n, void (*fn)(struct dk_node *, void *),
			 void *arg)
{
	if (!n->leaf) {
		struct dk_inner *in = dk_inner_of(n);

		for (uint32_t i = 0; i <= n->count; i++)
			dk_tree_walk(in->child[i], fn, arg);
	}
	fn(n, arg);
}

struct dk_foreach_arg {
	void (*fn)(struct dk_entry *, void *);
	void *arg;
};

void dk_tree_foreach(struct daxkv *db, void (*fn)(struct dk_entry *, void *),
		     void *arg)
{
	struct dk_node *n = db->root;

	while (!n->leaf)
		n = dk_inner_of(n)->child[0];
	for (; n; n = n->next) {
		struct dk_leaf *l = dk_leaf_of(n);

		for (uint32_t i = 0; i < n->count; i++)
			fn(l->ent[i], arg);
	}
}

struct dk_usage {
	uint64_t nodes, bytes;
};

static void dk_usage_add(struct dk_node *n, void *arg)
{
	struct dk_usage *u = arg;

	u->nodes++;
	u->bytes += n->leaf ? sizeof(struct dk_leaf) : sizeof(struct dk_inner);
}

void dk_tree_usage(struct daxkv *db, uint64_t *nodes, uint64_t *bytes)
{
	struct dk_usage u = { 0, 0 };

	if (db->root)
		dk_tree_walk(db->root, dk_usage_add, &u);
	*nodes = u.nodes;
	*bytes = u.bytes;
}

static void dk_node_free_keys(struct dk_node *n, void *arg)
{
	(void)arg;
	if (!n->leaf) {
		struct dk_inner *in = dk_inner_of(n);

		for (uint32_t i = 0; i < n->count; i++)
			free(in->sep[i]);
	}
	free(n->lo);
	free(n->hi);
	n->lo = n->hi = NULL;
}

int dk_tree_init(struct daxkv *db, struct dk_alloc *al)
{
	struct dk_node *root = dk_node_new(al, true);

	if (!root)
		return dk_err(DAXKV_ENOMEM, "index: no memory");
	db->root = root;
	return 0;
}

void dk_tree_destroy(struct daxkv *db)
{
	if (db->root)
		dk_tree_walk(db->root, dk_node_free_keys, NULL);
	db->root = NULL;
}

/* ---- bulk build ---- */

struct dk_build {
	struct daxkv *db;
	struct dk_alloc **als;
	uint32_t nthreads;
	struct dk_entry **ents;
	size_t n, nleaves;
	struct dk_node **leaves;
	struct dk_key **seps; /* seps[i]: between leaf i and i + 1 */
	int rc;               /* atomic: first error */
};

/* The separator between leaves i and i + 1 of @p b. */
static struct dk_key *dk_build_sep(const struct dk_build *b, size_t i)
{
	const struct dk_entry *x = b->ents[b->n * (i + 1) / b->nleaves - 1];
	const struct dk_entry *y = b->ents[b->n * (i + 1) / b->nleaves];

	return dk_key_between(x->key, x->klen, y->key, y->klen);
}

static void dk_build_leaves_job(void *p, uint32_t t)
{
	struct dk_build *b = p;
	struct dk_alloc *al = b->als[t];
	size_t lo = b->nleaves * t / b->nthreads;
	size_t hi = b->nleaves * (t + 1) / b->nthreads;

	for (size_t i = lo; i < hi; i++) {
		size_t first = b->n * i / b->nleaves;
		size_t last = b->n * (i + 1) / b->nleaves;
		struct dk_leaf *l = dk_leaf_of(dk_node_new(al, true));

		b->leaves[i] = l ? &l->n : NULL;
		if (!l)
			goto out_nomem;
		if (i + 1 < b->nleaves) {
			b->seps[i] = dk_build_sep(b, i);
			l->n.hi = dk_key_dup(b->seps[i]);
			if (!b->seps[i] || !l->n.hi)
				goto out_nomem;
		}
		if (i > 0) {
			l->n.lo = dk_build_sep(b, i - 1);
			if (!l->n.lo)
				goto out_nomem;
		}
		l->n.plen = dk_fence_plen(l->n.lo, l->n.hi);
		for (size_t k = first; k < last; k++)
			l->ent[k - first] = b->ents[k];
		l->n.count = (uint16_t)(last - first);
		dk_leaf_reheads(l, 0, l->n.count);
		if (i > lo)
			b->leaves[i - 1]->next = &l->n;
	}
	return;
out_nomem:
	__atomic_store_n(&b->rc, DAXKV_ENOMEM, __ATOMIC_RELAXED);
}

/*
 * One inner level over @p level[0..n) (n > 1) split by @p seps[0..n-1):
 * the nodes in *upp, the separators between them in *upsepp.  Every
 * separator goes into a node or up; made nodes are appended to @p all
 * (for the undo after a failure).  0 or DAXKV_ENOMEM.
 */
static int dk_build_level(struct dk_alloc *al, struct dk_node **level,
			  size_t n, struct dk_key **seps,
			  struct dk_node ***upp, struct dk_key ***upsepp,
			  size_t *nupp, struct dk_node **all, size_t *nall)
{
	size_t nup = (n + DK_INNER_FILL) / (DK_INNER_FILL + 1);
	struct dk_node **up = calloc(nup, sizeof(*up));
	struct dk_key **upseps = calloc(nup, sizeof(*upseps));
	int rc = 0;

	*upp = up;
	*upsepp = upseps;
	*nupp = nup;
	if (!up || !upseps)
		return DAXKV_ENOMEM;
	for (size_t j = 0; j < nup; j++) {
		size_t a = n * j / nup, z = n * (j + 1) / nup;
		struct dk_inner *in = dk_inner_of(dk_node_new(al, false));

		if (!in)
			return DAXKV_ENOMEM;
		up[j] = &in->n;
		all[(*nall)++] = &in->n;
		/* the separator before it went up with node j - 1 */
		if (j > 0 && !(in->n.lo = dk_key_dup(upseps[j - 1])))
			rc = DAXKV_ENOMEM;
		if (j + 1 < nup) {
			if (!(in->n.hi = dk_key_dup(seps[z - 1])))
				rc = DAXKV_ENOMEM;
			upseps[j] = seps[z - 1];
			seps[z - 1] = NULL;
		}
		in->n.plen = dk_fence_plen(in->n.lo, in->n.hi);
		for (size_t k = a; k < z; k++) {
			in->child[k - a] = level[k];
			if (k + 1 < z) {
				in->sep[k - a] = seps[k];
				seps[k] = NULL;
				in->n.count = (uint16_t)(k - a + 1);
			}
		}
		dk_inner_reheads(in, 0, in->n.count);
	}
	return rc;
}

int dk_tree_build(struct daxkv *db, struct dk_alloc **als, uint32_t nthreads,
		  struct dk_entry **sorted, size_t n)
{
	struct dk_build b = { .db = db, .als = als, .nthreads = nthreads,
			      .ents = sorted, .n = n };
	struct dk_node **level, **all = NULL;
	struct dk_key **seps;
	size_t nlevel, nall = 0;
	int rc = 0;

	b.nleaves = n ? (n + DK_LEAF_FILL - 1) / DK_LEAF_FILL : 1;
	if (b.nthreads > b.nleaves)
		b.nthreads = (uint32_t)b.nleaves;
	b.leaves = calloc(b.nleaves, sizeof(*b.leaves));
	b.seps = calloc(b.nleaves, sizeof(*b.seps));
	/* every node: the leaves, and fewer inner nodes than leaves */
	all = calloc(2 * b.nleaves + 1, sizeof(*all));
	if (!b.leaves || !b.seps || !all) {
		rc = DAXKV_ENOMEM;
		goto out;
	}
	dk_bulk_run(b.nthreads, dk_build_leaves_job, &b);
	for (size_t i = 0; i < b.nleaves; i++)
		if (b.leaves[i])
			all[nall++] = b.leaves[i];
	if (b.rc) {
		rc = b.rc;
		goto out_undo;
	}
	/* each thread's last leaf to the next thread's first */
	for (uint32_t t = 1; t < b.nthreads; t++) {
		size_t first = b.nleaves * t / b.nthreads;

		b.leaves[first - 1]->next = b.leaves[first];
	}
	level = b.leaves;
	nlevel = b.nleaves;
	seps = b.seps;
	while (nlevel > 1) {
		struct dk_node **up;
		struct dk_key **upseps;
		size_t nup;

		rc = dk_build_level(als[0], level, nlevel, seps, &up, &upseps,
				    &nup, all, &nall);
		if (rc) {
			/* separators that went nowhere, then the arrays */
			for (size_t i = 0; i + 1 < nlevel; i++) {
				free(seps[i]);
				seps[i] = NULL;
			}
			for (size_t i = 0; upseps && i < nup; i++)
				free(upseps[i]);
			free(up);
			free(upseps);
		}
		if (level != b.leaves)
			free(level);
		if (seps != b.seps)
			free(seps);
		if (rc)
			goto out_undo;
		level = up;
		seps = upseps;
		nlevel = nup;
	}
	/* the empty root of dk_tree_init goes back to its pool */
	if (db->root) {
		dk_ver_upgrade(db->root, dk_ver_read(db->root));
		dk_node_free(db->lanes[0].alloc, db->root);
	}
	__atomic_store_n(&db->root, level[0], __ATOMIC_RELEASE);
	if (level != b.leaves)
		free(level);
	if (seps != b.seps)
		free(seps);
	goto out;
out_undo:
	/* the keys of what was made (nodes are the arena's) */
	for (size_t i = 0; i < nall; i++)
		dk_node_free_keys(all[i], NULL);
	for (size_t i = 0; i < b.nleaves; i++)
		free(b.seps[i]);
out:
	free(b.leaves);
	free(b.seps);
	free(all);
	return rc ? dk_err(rc, "no memory to build the index") : 0;
}

/* ---- invariants (tests) ---- */

struct dk_check {
	struct dk_node *prev_leaf; /* the leaf before, in key order */
	int leaf_depth;
	uint64_t entries;
	char *msg;
	size_t msglen;
};

static bool dk_key_eq(const struct dk_key *a, const struct dk_key *b)
{
	if (!a || !b)
		return a == b;
	return a->len == b->len && !memcmp(a->bytes, b->bytes, a->len);
}

/* Is [bytes, len) within [lo, hi)? */
static bool dk_in_fences(const struct dk_node *n, const uint8_t *bytes,
			 size_t len)
{
	if (n->lo && dk_keycmp(bytes, len, n->lo->bytes, n->lo->len) < 0)
		return false;
	if (n->hi && dk_keycmp(bytes, len, n->hi->bytes, n->hi->len) >= 0)
		return false;
	return true;
}

static int dk_check_node(struct dk_check *c, struct dk_node *n, int depth)
{
	if (n->count > (n->leaf ? DK_LEAF_MAX : DK_INNER_MAX)) {
		snprintf(c->msg, c->msglen, "node %p: count %u", (void *)n,
			 n->count);
		return -1;
	}
	if (n->plen > dk_fence_plen(n->lo, n->hi)) {
		snprintf(c->msg, c->msglen, "node %p: plen %u above its "
			 "fences' common prefix %u", (void *)n, n->plen,
			 dk_fence_plen(n->lo, n->hi));
		return -1;
	}
	if (n->leaf) {
		struct dk_leaf *l = dk_leaf_of(n);

		if (c->leaf_depth < 0)
			c->leaf_depth = depth;
		if (depth != c->leaf_depth) {
			snprintf(c->msg, c->msglen, "leaf %p at depth %d, "
				 "others at %d", (void *)n, depth,
				 c->leaf_depth);
			return -1;
		}
		if (c->prev_leaf && c->prev_leaf->next != n) {
			snprintf(c->msg, c->msglen, "leaf %p: not the next of "
				 "the leaf before it", (void *)n);
			return -1;
		}
		c->prev_leaf = n;
		for (uint32_t i = 0; i < n->count; i++) {
			const struct dk_entry *e = l->ent[i];

			if (!e || e->dead || !e->linked ||
			    l->head[i] != dk_head(e->key, e->klen, n->plen) ||
			    !dk_in_fences(n, e->key, e->klen) ||
			    (i && dk_keycmp(l->ent[i - 1]->key,
					    l->ent[i - 1]->klen, e->key,
					    e->klen) >= 0)) {
				snprintf(c->msg, c->msglen, "leaf %p slot %u: "
					 "bad entry (dead, head, fences or "
					 "order)", (void *)n, i);
				return -1;
			}
		}
		c->entries += n->count;
		return 0;
	}
	{
		struct dk_inner *in = dk_inner_of(n);

		for (uint32_t i = 0; i <= n->count; i++) {
			struct dk_node *ch = in->child[i];
			const struct dk_key *lo = i ? in->sep[i - 1] : n->lo;
			const struct dk_key *hi = i < n->count ? in->sep[i] :
								 n->hi;

			if (i < n->count &&
			    (in->head[i] != dk_head(in->sep[i]->bytes,
						    in->sep[i]->len, n->plen) ||
			     !dk_in_fences(n, in->sep[i]->bytes,
					   in->sep[i]->len))) {
				snprintf(c->msg, c->msglen, "inner %p sep %u: "
					 "bad head or outside the fences",
					 (void *)n, i);
				return -1;
			}
			if (!dk_key_eq(ch->lo, lo) || !dk_key_eq(ch->hi, hi)) {
				snprintf(c->msg, c->msglen, "inner %p child %u: "
					 "fences differ from the separators",
					 (void *)n, i);
				return -1;
			}
			if (dk_check_node(c, ch, depth + 1))
				return -1;
		}
	}
	return 0;
}

int dk_tree_check(struct daxkv *db, uint64_t *entries, char *msg,
		  size_t msglen)
{
	struct dk_check c = { NULL, -1, 0, msg, msglen };

	if (dk_check_node(&c, db->root, 0))
		return -1;
	if (c.prev_leaf && c.prev_leaf->next) {
		snprintf(msg, msglen, "the last leaf has a next");
		return -1;
	}
	*entries = c.entries;
	return 0;
}
