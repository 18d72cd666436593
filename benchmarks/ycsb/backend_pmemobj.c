/* SPDX-License-Identifier: MIT */
/*
 * backend_pmemobj.c -- the driver's PMDK peer: a persistent chained hash
 * table on libpmemobj, written the way a PMDK user would write a
 * key-value store (pmemkv, PMDK's own, is not packaged for Debian 12).
 *
 * The pool, one file "pmemobj.pool" in the cell's directory:
 *
 *   root      { magic, nbuckets, buckets }        (struct pm_root)
 *   buckets   PMEMoid[nbuckets], zeroed at create  (type PM_TYPE_BUCKETS)
 *   entries   { next, hash, klen, vlen, key, value } (type PM_TYPE_ENTRY)
 *
 * The bucket array is fixed when the pool is made: the next power of two
 * at or above the keys the workload will hold (recordcount plus the
 * inserts operationcount x insertproportion expects), so that a chain
 * holds one entry on average; pmemobj.buckets overrides.  It never
 * grows: rehashing a persistent table is a transaction over all of it,
 * which a user sizing the table up front avoids.  More keys than buckets
 * make chains longer, never an error.  The pool's size is fixed too (PMDK
 * fallocates it): sized from the same counts and the largest record,
 * with room for the allocator; pmemobj.poolsize overrides.  A put that
 * finds the pool full fails with a message that names the property.
 *
 * Concurrency: 4096 pthread rwlocks in DRAM, one per cache line; bucket
 * b is guarded by stripe b mod 4096.  Locks in DRAM need no recovery:
 * only the process that held them can have been stopped holding them.
 *
 * Reads take no transaction: the stripe's read lock, a walk of the chain
 * (hash, then length, then bytes), a copy of the value out.  Writers hold
 * the write lock for their whole transaction, so a reader sees committed
 * entries only.
 *
 * Every put and delete is one undo-logged pmemobj transaction under the
 * stripe's write lock, durable when it returns (per operation, as
 * daxkv):
 *
 *   update, value of the same size (every YCSB update at a constant
 *           fieldlength): in place, pmemobj_tx_add_range_direct on the
 *           value's bytes (the old value goes to the undo log and is
 *           persisted first), then the copy; the range is flushed at
 *           commit: the plain way to overwrite a fixed-size value with
 *           libpmemobj.  In workload A it ran 1.5-2x the throughput of
 *           a new entry per update (2026-12, the 2-core machine).
 *   insert, or a value of another size: pmemobj_tx_alloc the new entry
 *           and fill it (an object allocated in a transaction is flushed
 *           at commit and released if it aborts); snapshot the 16-byte
 *           link that points at the old entry, or the chain's NULL end;
 *           store the new entry's oid there; pmemobj_tx_free the old
 *           entry (done at commit).
 *   delete: snapshot the link, point it past the entry, free the entry.
 *
 * A power failure anywhere leaves the table as before the transaction
 * or as after it: pmemobj_open rolls an unfinished transaction back from
 * its undo log (the old value, or the link's old 16 bytes) and releases
 * its allocation.  Nothing else needs rebuilding at open.
 *
 * No scan: a hash table has no key order, so .scan is NULL and the driver
 * reports workloads that scan (E) as "n/a" for this store.  A scan by a
 * full table walk and a sort would be correct but would measure the sort.
 */
#include <errno.h>
#include <libpmemobj.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "backend.h"

#define PM_POOL_FILE "pmemobj.pool"
#define PM_LAYOUT "daxkv-ycsb-hash"
#define PM_MAGIC 0x31687379626b6d70ull /* "pmkbysh1": format 1 */
#define PM_STRIPES 4096u
#define PM_MIN_POOL (8ull << 20) /* PMEMOBJ_MIN_POOL */
#define PM_MAX_BUCKETS (1ull << 32)
#define PM_DEFAULT_BUCKETS (1ull << 16) /* no workload to size from */

enum { PM_TYPE_BUCKETS = 1, PM_TYPE_ENTRY = 2 };

struct pm_root {
	uint64_t magic;	   /* PM_MAGIC once the table is made */
	uint64_t nbuckets; /* a power of two */
	PMEMoid buckets;   /* PMEMoid[nbuckets] */
};

struct pm_entry {
	PMEMoid next;
	uint64_t hash;
	uint32_t klen, vlen;
	char data[]; /* key, then value */
};

struct pm_stripe {
	pthread_rwlock_t lock; /* the chains of buckets b, b mod 4096 = this */
} __attribute__((aligned(64)));

struct pm_store {
	struct pm_stripe stripes[PM_STRIPES];
	PMEMobjpool *pop;
	PMEMoid *buckets; /* the pool's bucket array */
	uint64_t mask;	  /* nbuckets - 1 */
	uint64_t poolsize;
};

struct pm_thread {
	struct pm_store *st;
	char err[256];
};

struct pm_config {
	uint64_t buckets;  /* a power of two */
	uint64_t poolsize; /* bytes */
	bool buckets_set, poolsize_set;
};

static uint64_t pm_pow2_at_least(uint64_t n)
{
	uint64_t p = 1;

	while (p < n && p < PM_MAX_BUCKETS)
		p <<= 1;
	return p;
}

/*
 * Sizes from the workload: the keys it will hold and the largest entry.
 * Each entry is an allocation of the entry header, key and value plus
 * PMDK's 16-byte object header, rounded up to an allocation class;
 * updates allocate the new entry before the old one is freed, and each
 * thread's arena keeps partly used runs: 1.5x the entries, plus the
 * bucket array, plus 64 MiB for the pool's own metadata and lanes (in
 * an 8 MiB pool, a 1 MiB bucket array leaves room for ~60 entries of 4
 * KiB).
 */
static int pm_config_read(struct ycsb_props *props, struct pm_config *cfg,
			  char *err, size_t errlen)
{
	uint64_t records = 0, ops = 0, fields = 10, fieldlen = 100, keys;
	double insert_share = 0;
	uint64_t entry;

	memset(cfg, 0, sizeof(*cfg));
	cfg->buckets = PM_DEFAULT_BUCKETS;
	if (props && (ycsb_props_get_u64(props, "recordcount", 0, &records, err,
					 errlen) ||
		      ycsb_props_get_u64(props, "operationcount", 0, &ops, err,
					 errlen) ||
		      ycsb_props_get_double(props, "insertproportion", 0,
					    &insert_share, err, errlen) ||
		      ycsb_props_get_u64(props, "fieldcount", 10, &fields, err,
					 errlen) ||
		      ycsb_props_get_u64(props, "fieldlength", 100, &fieldlen,
					 err, errlen)))
		return -1;
	keys = records + (uint64_t)((double)ops * insert_share) + 1;
	if (records)
		cfg->buckets = pm_pow2_at_least(keys);
	if (props && ycsb_props_origin(props, "pmemobj.buckets")) {
		uint64_t n;

		if (ycsb_props_get_u64(props, "pmemobj.buckets", 0, &n, err,
				       errlen))
			return -1;
		if (n == 0 || n > PM_MAX_BUCKETS) {
			snprintf(err, errlen,
				 "%s: pmemobj.buckets: '%llu' is not 1..2^32",
				 ycsb_props_origin(props, "pmemobj.buckets"),
				 (unsigned long long)n);
			return -1;
		}
		cfg->buckets = pm_pow2_at_least(n);
		cfg->buckets_set = true;
	}
	/* header 32, key up to 64 (YCSB_MAX_KEY), record 2 + 4n + n*len */
	entry = sizeof(struct pm_entry) + 64 + 2 + fields * (4 + fieldlen) + 16;
	cfg->poolsize = (64ull << 20) + cfg->buckets * sizeof(PMEMoid) +
			keys * entry * 3 / 2;
	if (props && ycsb_props_origin(props, "pmemobj.poolsize")) {
		if (ycsb_props_get_size(props, "pmemobj.poolsize", 0,
					&cfg->poolsize, err, errlen))
			return -1;
		if (cfg->poolsize < PM_MIN_POOL) {
			snprintf(err, errlen,
				 "%s: pmemobj.poolsize: %llu bytes is below "
				 "libpmemobj's minimum pool of 8 MiB",
				 ycsb_props_origin(props, "pmemobj.poolsize"),
				 (unsigned long long)cfg->poolsize);
			return -1;
		}
		cfg->poolsize_set = true;
	}
	return 0;
}

/* What the store line at the start says: set by check_props. */
static char pm_describe[320] =
    "pmemobj: libpmemobj chained hash table, 4096 striped rwlocks in "
    "DRAM, reads without a transaction, every put in an undo-logged "
    "transaction: durable per operation; no scan (workloads that scan: "
    "n/a)";

/* Called once per workload of the matrix: the line gives the largest
 * table and pool any of them makes. */
static int pm_check_props(struct ycsb_props *props, char *err, size_t errlen)
{
	static uint64_t max_buckets, max_pool;
	struct pm_config cfg;

	if (pm_config_read(props, &cfg, err, errlen))
		return -1;
	if (!cfg.buckets_set && cfg.buckets > max_buckets)
		max_buckets = cfg.buckets;
	if (!cfg.poolsize_set && cfg.poolsize > max_pool)
		max_pool = cfg.poolsize;
	snprintf(
	    pm_describe, sizeof(pm_describe),
	    "pmemobj: libpmemobj chained hash table, fixed bucket array "
	    "(%s%llu buckets), pool of %s%llu MiB, 4096 striped rwlocks "
	    "in DRAM, reads without a transaction, every put in an "
	    "undo-logged transaction: durable per operation; no scan "
	    "(workloads that scan: n/a)",
	    cfg.buckets_set ? "pmemobj.buckets: " : "up to ",
	    (unsigned long long)(cfg.buckets_set ? cfg.buckets : max_buckets),
	    cfg.poolsize_set ? "pmemobj.poolsize: " : "up to ",
	    (unsigned long long)((cfg.poolsize_set ? cfg.poolsize : max_pool) >>
				 20));
	return 0;
}

/*
 * A new pool.  Emulated NVDIMMs (QEMU) and some DAX file systems report
 * no unsafe-shutdown count and PMDK then refuses to create a pool that
 * would check it; engine/meta.c does the same retry without the check.
 */
static PMEMobjpool *pm_pool_create(const char *path, uint64_t size)
{
	PMEMobjpool *pop = pmemobj_create(path, PM_LAYOUT, size, 0644);

	if (!pop && errno != EEXIST && errno != ENOSPC && errno != EACCES &&
	    errno != ENOMEM) {
		int off = 0;

		pmemobj_ctl_set(NULL, "sds.at_create", &off);
		unlink(path);
		pop = pmemobj_create(path, PM_LAYOUT, size, 0644);
	}
	return pop;
}

/* Make the bucket array: one transaction, so a pool whose creation was
 * interrupted has magic 0 and is refused at open, never half made. */
static int pm_table_make(PMEMobjpool *pop, struct pm_root *root,
			 uint64_t nbuckets)
{
	volatile int rc = 0;

	TX_BEGIN(pop)
	{
		pmemobj_tx_add_range_direct(root, sizeof(*root));
		root->buckets = pmemobj_tx_zalloc(nbuckets * sizeof(PMEMoid),
						  PM_TYPE_BUCKETS);
		root->nbuckets = nbuckets;
		root->magic = PM_MAGIC;
	}
	TX_ONABORT
	{
		rc = -1;
	}
	TX_END
	return rc;
}

static void pm_store_free(struct pm_store *st, unsigned nlocks)
{
	for (unsigned i = 0; i < nlocks; i++)
		pthread_rwlock_destroy(&st->stripes[i].lock);
	if (st->pop)
		pmemobj_close(st->pop);
	free(st);
}

static int pm_open(const char *dir, uint64_t expected_bytes,
		   struct ycsb_props *props, void **store, char *err,
		   size_t errlen)
{
	struct pm_config cfg;
	struct pm_store *st;
	struct pm_root *root;
	char path[4096];
	struct stat sb;
	bool exists;
	unsigned nlocks;
	PMEMoid root_oid;

	(void)expected_bytes; /* sized from the workload (pm_config_read) */
	if (pm_config_read(props, &cfg, err, errlen))
		return YCSB_ERROR;
	st = aligned_alloc(64, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return YCSB_ERROR;
	}
	memset(st, 0, sizeof(*st));
	for (nlocks = 0; nlocks < PM_STRIPES; nlocks++)
		if (pthread_rwlock_init(&st->stripes[nlocks].lock, NULL)) {
			snprintf(err, errlen, "pthread_rwlock_init failed");
			pm_store_free(st, nlocks);
			return YCSB_ERROR;
		}
	snprintf(path, sizeof(path), "%s/%s", dir, PM_POOL_FILE);
	exists = stat(path, &sb) == 0;
	st->pop = exists ? pmemobj_open(path, PM_LAYOUT)
			 : pm_pool_create(path, cfg.poolsize);
	if (!st->pop) {
		snprintf(err, errlen, "pmemobj_%s %s (%llu MiB): %s",
			 exists ? "open" : "create", path,
			 (unsigned long long)(cfg.poolsize >> 20),
			 pmemobj_errormsg());
		pm_store_free(st, nlocks);
		return YCSB_ERROR;
	}
	root_oid = pmemobj_root(st->pop, sizeof(*root));
	if (OID_IS_NULL(root_oid)) {
		snprintf(err, errlen, "pmemobj_root %s: %s", path,
			 pmemobj_errormsg());
		pm_store_free(st, nlocks);
		return YCSB_ERROR;
	}
	root = pmemobj_direct(root_oid);
	if (!exists && pm_table_make(st->pop, root, cfg.buckets)) {
		snprintf(err, errlen,
			 "%s: cannot allocate %llu buckets in a %llu MiB "
			 "pool: %s",
			 path, (unsigned long long)cfg.buckets,
			 (unsigned long long)(cfg.poolsize >> 20),
			 pmemobj_errormsg());
		pm_store_free(st, nlocks);
		return YCSB_ERROR;
	}
	if (root->magic != PM_MAGIC || root->nbuckets == 0 ||
	    (root->nbuckets & (root->nbuckets - 1)) ||
	    root->nbuckets > PM_MAX_BUCKETS || OID_IS_NULL(root->buckets) ||
	    pmemobj_alloc_usable_size(root->buckets) <
		root->nbuckets * sizeof(PMEMoid)) {
		snprintf(err, errlen,
			 "%s: not a table of this backend (magic %#llx, %llu "
			 "buckets)",
			 path, (unsigned long long)root->magic,
			 (unsigned long long)root->nbuckets);
		pm_store_free(st, nlocks);
		return YCSB_ERROR;
	}
	st->buckets = pmemobj_direct(root->buckets);
	st->mask = root->nbuckets - 1;
	st->poolsize = exists ? (uint64_t)sb.st_size : cfg.poolsize;
	*store = st;
	return YCSB_OK;
}

static void pm_close(void *store)
{
	if (store)
		pm_store_free(store, PM_STRIPES);
}

static int pm_thread_open(void *store, void **thread, char *err, size_t errlen)
{
	struct pm_thread *t = calloc(1, sizeof(*t));

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return YCSB_ERROR;
	}
	t->st = store;
	*thread = t;
	return YCSB_OK;
}

static void pm_thread_close(void *thread)
{
	free(thread);
}

static pthread_rwlock_t *pm_stripe(struct pm_store *st, uint64_t hash)
{
	return &st->stripes[(hash & st->mask) % PM_STRIPES].lock;
}

/*
 * The link that points at @p key's entry (*found set), or the NULL link
 * that ends its chain (*found NULL).  Under the stripe's lock.
 */
static PMEMoid *pm_find(struct pm_store *st, uint64_t hash, const char *key,
			size_t klen, struct pm_entry **found)
{
	PMEMoid *link = &st->buckets[hash & st->mask];

	while (!OID_IS_NULL(*link)) {
		struct pm_entry *e = pmemobj_direct(*link);

		if (e->hash == hash && e->klen == klen &&
		    !memcmp(e->data, key, klen)) {
			*found = e;
			return link;
		}
		link = &e->next;
	}
	*found = NULL;
	return link;
}

static int pm_read(void *thread, const char *key, size_t klen,
		   struct ycsb_buf *out)
{
	struct pm_thread *t = thread;
	struct pm_store *st = t->st;
	uint64_t hash = XXH3_64bits(key, klen);
	pthread_rwlock_t *lock = pm_stripe(st, hash);
	struct pm_entry *e;
	int rc = YCSB_NOTFOUND;

	pthread_rwlock_rdlock(lock);
	pm_find(st, hash, key, klen, &e);
	if (e) {
		if (ycsb_buf_reserve(out, e->vlen)) {
			snprintf(t->err, sizeof(t->err), "read: out of memory");
			rc = YCSB_ERROR;
		} else {
			memcpy(out->data, e->data + e->klen, e->vlen);
			out->len = e->vlen;
			rc = YCSB_OK;
		}
	}
	pthread_rwlock_unlock(lock);
	return rc;
}

static int pm_tx_fail(struct pm_thread *t, const char *what, int errnum)
{
	if (errnum == ENOMEM)
		snprintf(t->err, sizeof(t->err),
			 "%s: the %llu MiB pool is full (transaction "
			 "aborted, nothing changed; set pmemobj.poolsize): "
			 "%s",
			 what, (unsigned long long)(t->st->poolsize >> 20),
			 pmemobj_errormsg());
	else
		snprintf(t->err, sizeof(t->err),
			 "%s: transaction aborted, nothing changed: %s (%s)",
			 what, strerror(errnum), pmemobj_errormsg());
	return YCSB_ERROR;
}

static int pm_put(void *thread, const char *key, size_t klen, const char *val,
		  size_t vlen)
{
	struct pm_thread *t = thread;
	struct pm_store *st = t->st;
	uint64_t hash = XXH3_64bits(key, klen);
	pthread_rwlock_t *lock = pm_stripe(st, hash);
	struct pm_entry *old;
	PMEMoid *link;
	volatile int errnum = 0;

	if (klen > UINT32_MAX || vlen > UINT32_MAX) {
		snprintf(t->err, sizeof(t->err),
			 "put: key of %zu or value of %zu bytes is over 4 GiB",
			 klen, vlen);
		return YCSB_ERROR;
	}
	pthread_rwlock_wrlock(lock);
	link = pm_find(st, hash, key, klen, &old);
	if (old && old->vlen == vlen) {
		/* same size: in place, the old value in the undo log */
		TX_BEGIN(st->pop)
		{
			pmemobj_tx_add_range_direct(old->data + klen, vlen);
			memcpy(old->data + klen, val, vlen);
		}
		TX_ONABORT
		{
			errnum = pmemobj_tx_errno() ? pmemobj_tx_errno() : EIO;
		}
		TX_END
		pthread_rwlock_unlock(lock);
		return errnum ? pm_tx_fail(t, "put", errnum) : YCSB_OK;
	}
	TX_BEGIN(st->pop)
	{
		PMEMoid oid = pmemobj_tx_alloc(
		    sizeof(struct pm_entry) + klen + vlen, PM_TYPE_ENTRY);
		struct pm_entry *e = pmemobj_direct(oid);
		PMEMoid old_oid = *link;

		/* flushed at commit: a range of this transaction */
		e->next = old ? old->next : OID_NULL;
		e->hash = hash;
		e->klen = (uint32_t)klen;
		e->vlen = (uint32_t)vlen;
		memcpy(e->data, key, klen);
		memcpy(e->data + klen, val, vlen);
		/* undo log: the link's old 16 bytes */
		pmemobj_tx_add_range_direct(link, sizeof(*link));
		*link = oid;
		if (old)
			pmemobj_tx_free(old_oid);
	}
	TX_ONABORT
	{
		errnum = pmemobj_tx_errno() ? pmemobj_tx_errno() : EIO;
	}
	TX_END
	pthread_rwlock_unlock(lock);
	return errnum ? pm_tx_fail(t, "put", errnum) : YCSB_OK;
}

static int pm_del(void *thread, const char *key, size_t klen)
{
	struct pm_thread *t = thread;
	struct pm_store *st = t->st;
	uint64_t hash = XXH3_64bits(key, klen);
	pthread_rwlock_t *lock = pm_stripe(st, hash);
	struct pm_entry *e;
	PMEMoid *link;
	volatile int errnum = 0;

	pthread_rwlock_wrlock(lock);
	link = pm_find(st, hash, key, klen, &e);
	if (!e) {
		pthread_rwlock_unlock(lock);
		return YCSB_NOTFOUND;
	}
	TX_BEGIN(st->pop)
	{
		PMEMoid oid = *link;

		pmemobj_tx_add_range_direct(link, sizeof(*link));
		*link = e->next;
		pmemobj_tx_free(oid);
	}
	TX_ONABORT
	{
		errnum = pmemobj_tx_errno() ? pmemobj_tx_errno() : EIO;
	}
	TX_END
	pthread_rwlock_unlock(lock);
	return errnum ? pm_tx_fail(t, "delete", errnum) : YCSB_OK;
}

static const char *pm_thread_error(void *thread)
{
	return ((struct pm_thread *)thread)->err;
}

const struct ycsb_backend ycsb_backend_pmemobj = {
    .name = "pmemobj",
    .describe = pm_describe,
    .check_props = pm_check_props,
    .open = pm_open,
    .close = pm_close,
    .thread_open = pm_thread_open,
    .thread_close = pm_thread_close,
    .read = pm_read,
    .put = pm_put,
    .del = pm_del,
    .scan = NULL, /* a hash table has no key order */
    .thread_error = pm_thread_error,
};
