// SPDX-License-Identifier: MIT
/*
 * bulk.c -- building the index in bulk at open: threads, and the sort of
 * entries by key.
 *
 * Recovery and the checkpoint load build the index from millions of
 * entries at once.  One insert at a time, each costs a walk down the tree
 * with a miss per level; sorted, the tree is built bottom up in one pass
 * (btree.c: dk_tree_build).  The checkpoint lists keys in order already;
 * a scan of the segments finds them in append order, so they are sorted
 * here.
 *
 * The sort is a most-significant-digit radix sort on 8-byte "heads" of
 * the keys (bytes [depth, depth + 8), big-endian, zero-padded), in place
 * (American flag sort: one count and one permutation pass per byte).
 * Bytes shared by every key of a bucket cost a count pass and no move, so
 * a common prefix ("user", "session:") is passed over quickly; when all
 * eight bytes of a bucket's heads are equal, its keys that end within
 * them are ordered by length (they differ in nothing else), and the
 * others get the heads of their next eight bytes.  Small buckets are
 * finished by insertion sort.  Threads: the first byte that splits the
 * keys is counted and permuted by one thread, then the buckets are shared
 * out, largest first.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bulk.h"
#include "errors.h"
#include "internal.h"

struct dk_bulk_job {
	void (*fn)(void *, uint32_t);
	void *arg;
	uint32_t i;
};

static void *dk_bulk_thread(void *p)
{
	struct dk_bulk_job *j = p;

	j->fn(j->arg, j->i);
	return NULL;
}

void dk_bulk_run(uint32_t n, void (*fn)(void *arg, uint32_t i), void *arg)
{
	pthread_t tid[256];
	struct dk_bulk_job jobs[256];
	bool started[256] = { false };

	if (n > 256)
		n = 256;
	for (uint32_t i = 1; i < n; i++) {
		jobs[i] = (struct dk_bulk_job){ fn, arg, i };
		started[i] = pthread_create(&tid[i], NULL, dk_bulk_thread,
					    &jobs[i]) == 0;
	}
	fn(arg, 0);
	/* work a thread could not be started for is done here */
	for (uint32_t i = 1; i < n; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
		else
			fn(arg, i);
	}
}

/* ---- the sort ---- */

struct dk_sitem {
	uint64_t head;
	struct dk_entry *e;
};

#define DK_ISORT_MAX 24

static inline uint64_t dk_sort_head(const struct dk_entry *e, size_t depth)
{
	uint64_t h = 0;

	if (e->klen >= depth + 8) {
		memcpy(&h, e->key + depth, 8);
	} else if (e->klen > depth) {
		uint8_t b[8] = { 0 };

		memcpy(b, e->key + depth, e->klen - depth);
		memcpy(&h, b, 8);
	}
	return __builtin_bswap64(h);
}

static inline int dk_sitem_cmp(const struct dk_sitem *a,
			       const struct dk_sitem *b)
{
	if (a->head != b->head)
		return a->head < b->head ? -1 : 1;
	return dk_keycmp(a->e->key, a->e->klen, b->e->key, b->e->klen);
}

static void dk_isort(struct dk_sitem *a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct dk_sitem x = a[i];
		size_t j = i;

		while (j > 0 && dk_sitem_cmp(&x, &a[j - 1]) < 0) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = x;
	}
}

static void dk_heads_at(struct dk_sitem *a, size_t n, size_t depth)
{
	for (size_t i = 0; i < n; i++) {
		if (i + 8 < n)
			__builtin_prefetch(a[i + 8].e);
		a[i].head = dk_sort_head(a[i].e, depth);
	}
}

/* Byte @p byte (0: most significant) of a head. */
static inline unsigned dk_digit(uint64_t head, unsigned byte)
{
	return (unsigned)(head >> (56 - 8 * byte)) & 0xff;
}

/*
 * The level where a[0..n) (heads at *depthp) splits: bytes every head
 * shares are skipped, and heads that are all equal give way to the next
 * eight key bytes, keys that end within them first (ordered by length).
 * Returns how many items at the front are finished that way; the rest
 * split at byte *bytep of heads at *depthp, bucket sizes in cnt.
 * n > 0.
 */
static size_t dk_split_level(struct dk_sitem *a, size_t n, size_t *depthp,
			     unsigned *bytep, size_t cnt[256])
{
	size_t done = 0;

	for (;;) {
		if (*bytep == 8) {
			/* equal heads: keys ending here differ only in
			 * length, shortest first; the rest go deeper */
			size_t end = *depthp + 8, k = done;

			for (size_t i = done; i < n; i++) {
				if (a[i].e->klen <= end) {
					struct dk_sitem t = a[k];

					a[k++] = a[i];
					a[i] = t;
				}
			}
			dk_isort(a + done, k - done); /* by length: heads tie */
			done = k;
			*depthp = end;
			*bytep = 0;
			if (n - done <= 1)
				return done;
			dk_heads_at(a + done, n - done, *depthp);
		}
		memset(cnt, 0, 256 * sizeof(*cnt));
		for (size_t i = done; i < n; i++)
			cnt[dk_digit(a[i].head, *bytep)]++;
		if (cnt[dk_digit(a[done].head, *bytep)] != n - done)
			return done;
		(*bytep)++;
	}
}

/* Permute a[0..n) into buckets of byte @p byte (sizes in cnt). */
static void dk_permute(struct dk_sitem *a, size_t n, unsigned byte,
		       const size_t cnt[256], size_t start[257])
{
	size_t next[256];

	start[0] = 0;
	for (unsigned b = 0; b < 256; b++) {
		start[b + 1] = start[b] + cnt[b];
		next[b] = start[b];
	}
	(void)n;
	for (unsigned b = 0; b < 256; b++) {
		while (next[b] < start[b + 1]) {
			struct dk_sitem x = a[next[b]];
			unsigned d = dk_digit(x.head, byte);

			while (d != b) {
				struct dk_sitem y = a[next[d]];

				a[next[d]++] = x;
				x = y;
				d = dk_digit(x.head, byte);
			}
			a[next[b]++] = x;
		}
	}
}

static void dk_msd(struct dk_sitem *a, size_t n, size_t depth, unsigned byte)
{
	size_t cnt[256], start[257];

	while (n > DK_ISORT_MAX) {
		size_t done = dk_split_level(a, n, &depth, &byte, cnt), big = 0;
		unsigned bigb = 0;

		a += done;
		n -= done;
		if (n <= 1)
			return;
		dk_permute(a, n, byte, cnt, start);
		/* recurse into all buckets but the largest, which loops:
		 * the stack stays within log2(n) frames */
		for (unsigned b = 0; b < 256; b++)
			if (cnt[b] > big) {
				big = cnt[b];
				bigb = b;
			}
		for (unsigned b = 0; b < 256; b++)
			if (b != bigb && cnt[b] > 1)
				dk_msd(a + start[b], cnt[b], depth, byte + 1);
		a += start[bigb];
		n = big;
		byte++;
	}
	dk_isort(a, n);
}

struct dk_sort_task {
	size_t start, n;
};

struct dk_sort_ctx {
	struct dk_sitem *items;
	struct dk_entry **ents;
	size_t n;
	uint32_t nthreads;
	size_t depth;
	unsigned byte;
	struct dk_sort_task *tasks;
	uint32_t ntasks;
	uint32_t next; /* atomic */
};

static void dk_sort_heads_job(void *p, uint32_t t)
{
	struct dk_sort_ctx *c = p;
	size_t lo = c->n * t / c->nthreads, hi = c->n * (t + 1) / c->nthreads;

	for (size_t i = lo; i < hi; i++) {
		if (i + 8 < hi)
			__builtin_prefetch(c->ents[i + 8]);
		c->items[i].e = c->ents[i];
		c->items[i].head = dk_sort_head(c->ents[i], 0);
	}
}

static void dk_sort_bucket_job(void *p, uint32_t t)
{
	struct dk_sort_ctx *c = p;
	uint32_t k;

	(void)t;
	while ((k = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED)) <
	       c->ntasks)
		dk_msd(c->items + c->tasks[k].start, c->tasks[k].n, c->depth,
		       c->byte + 1);
}

static void dk_sort_back_job(void *p, uint32_t t)
{
	struct dk_sort_ctx *c = p;
	size_t lo = c->n * t / c->nthreads, hi = c->n * (t + 1) / c->nthreads;

	for (size_t i = lo; i < hi; i++)
		c->ents[i] = c->items[i].e;
}

static int dk_task_cmp(const void *x, const void *y)
{
	const struct dk_sort_task *a = x, *b = y;

	return a->n < b->n ? 1 : a->n > b->n ? -1 : 0;
}

int dk_bulk_sort(struct dk_entry **ents, size_t n, uint32_t nthreads)
{
	struct dk_sort_ctx c = { 0 };
	size_t cnt[256], start[257], done;

	if (n < 2)
		return 0;
	if (nthreads < 1)
		nthreads = 1;
	c.items = malloc(n * sizeof(*c.items));
	c.tasks = malloc(256 * sizeof(*c.tasks));
	if (!c.items || !c.tasks) {
		free(c.items);
		free(c.tasks);
		return dk_err(DAXKV_ENOMEM, "no memory to sort %zu keys", n);
	}
	c.ents = ents;
	c.n = n;
	c.nthreads = nthreads;
	dk_bulk_run(nthreads, dk_sort_heads_job, &c);
	/* the first split, by one thread; its buckets by all */
	done = dk_split_level(c.items, n, &c.depth, &c.byte, cnt);
	if (n - done > 1) {
		struct dk_sitem *rest = c.items + done;

		dk_permute(rest, n - done, c.byte, cnt, start);
		for (unsigned b = 0; b < 256; b++)
			if (cnt[b] > 1)
				c.tasks[c.ntasks++] = (struct dk_sort_task){
					done + start[b], cnt[b]
				};
		qsort(c.tasks, c.ntasks, sizeof(*c.tasks), dk_task_cmp);
		dk_bulk_run(nthreads < c.ntasks ? nthreads : c.ntasks,
			    dk_sort_bucket_job, &c);
	}
	dk_bulk_run(nthreads, dk_sort_back_job, &c);
	free(c.items);
	free(c.tasks);
	return 0;
}

/* ---- allocators of builder threads ---- */

struct dk_alloc **dk_bulk_allocs(struct daxkv *db, uint32_t n)
{
	struct dk_alloc **als = calloc(n, sizeof(*als));

	if (!als)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		als[i] = malloc(sizeof(**als));
		if (!als[i]) {
			for (uint32_t j = 0; j < i; j++)
				free(als[j]);
			free(als);
			return NULL;
		}
		dk_alloc_init(als[i], db->arena);
	}
	return als;
}

void dk_bulk_allocs_end(struct daxkv *db, struct dk_alloc **als, uint32_t n)
{
	if (!als)
		return;
	for (uint32_t i = 0; i < n; i++) {
		db->bulk_bytes += (uint64_t)als[i]->used;
		/* what it freed is reused by the first lane */
		dk_alloc_merge(db->lanes[0].alloc, als[i]);
		free(als[i]);
	}
	free(als);
}
