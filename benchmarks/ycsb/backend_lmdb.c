/* SPDX-License-Identifier: MIT */
/*
 * backend_lmdb.c -- the driver's LMDB backend (Debian liblmdb).
 *
 * Opened with MDB_WRITEMAP | MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD:
 * writes go straight into the shared mapping and a commit does not
 * msync, so a put is NOT durable when it returns (a power failure loses
 * what the OS has not written back).  That is the fastest LMDB can go and
 * the configuration the targets name; it is not the durability daxkv
 * gives.  Each put is its own write transaction (LMDB serializes
 * writers); each thread keeps one read transaction that it resets and
 * renews around every read, LMDB's cheap path for readers.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

struct lm_store {
	MDB_env *env;
	MDB_dbi dbi;
};

struct lm_thread {
	struct lm_store *st;
	MDB_txn *rtxn; /* reset between reads */
	char err[256];
};

static int lm_open(const char *dir, uint64_t expected_bytes,
		   struct ycsb_props *props, void **store, char *err,
		   size_t errlen)
{
	struct lm_store *st = calloc(1, sizeof(*st));
	MDB_txn *txn;
	size_t mapsize;
	int rc;

	(void)props; /* no properties of its own */
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return YCSB_ERROR;
	}
	/* B-tree pages and free pages of copy-on-write: 4x the data plus
	 * 1 GiB; sparse on /dev/shm until written */
	mapsize = (size_t)expected_bytes * 4 + (1ull << 30);
	rc = mdb_env_create(&st->env);
	if (!rc)
		rc = mdb_env_set_mapsize(st->env, mapsize);
	if (!rc)
		rc = mdb_env_set_maxreaders(st->env, 256);
	if (!rc)
		rc = mdb_env_open(st->env, dir,
				  MDB_WRITEMAP | MDB_NOSYNC | MDB_NOTLS |
				      MDB_NORDAHEAD,
				  0644);
	if (!rc)
		rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (!rc) {
		rc = mdb_dbi_open(txn, NULL, 0, &st->dbi);
		if (rc)
			mdb_txn_abort(txn);
		else
			rc = mdb_txn_commit(txn);
	}
	if (rc) {
		snprintf(err, errlen, "lmdb open %s: %s", dir,
			 mdb_strerror(rc));
		if (st->env)
			mdb_env_close(st->env);
		free(st);
		return YCSB_ERROR;
	}
	*store = st;
	return YCSB_OK;
}

static void lm_close(void *store)
{
	struct lm_store *st = store;

	if (!st)
		return;
	mdb_env_close(st->env);
	free(st);
}

static int lm_thread_open(void *store, void **thread, char *err, size_t errlen)
{
	struct lm_thread *t = calloc(1, sizeof(*t));
	int rc;

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return YCSB_ERROR;
	}
	t->st = store;
	rc = mdb_txn_begin(t->st->env, NULL, MDB_RDONLY, &t->rtxn);
	if (rc) {
		snprintf(err, errlen, "mdb_txn_begin: %s", mdb_strerror(rc));
		free(t);
		return YCSB_ERROR;
	}
	mdb_txn_reset(t->rtxn);
	*thread = t;
	return YCSB_OK;
}

static void lm_thread_close(void *thread)
{
	struct lm_thread *t = thread;

	if (!t)
		return;
	mdb_txn_abort(t->rtxn);
	free(t);
}

static int lm_fail(struct lm_thread *t, const char *call, int rc)
{
	snprintf(t->err, sizeof(t->err), "%s: %s", call, mdb_strerror(rc));
	return YCSB_ERROR;
}

static int lm_read(void *thread, const char *key, size_t klen,
		   struct ycsb_buf *out)
{
	struct lm_thread *t = thread;
	MDB_val k = {klen, (void *)key}, v;
	int rc = mdb_txn_renew(t->rtxn);

	if (rc)
		return lm_fail(t, "mdb_txn_renew", rc);
	rc = mdb_get(t->rtxn, t->st->dbi, &k, &v);
	if (rc == 0) {
		/* copy out, as every backend does: the caller owns it */
		if (ycsb_buf_reserve(out, v.mv_size)) {
			mdb_txn_reset(t->rtxn);
			return lm_fail(t, "read", ENOMEM);
		}
		memcpy(out->data, v.mv_data, v.mv_size);
		out->len = v.mv_size;
	}
	mdb_txn_reset(t->rtxn);
	if (rc == MDB_NOTFOUND)
		return YCSB_NOTFOUND;
	return rc ? lm_fail(t, "mdb_get", rc) : YCSB_OK;
}

static int lm_put(void *thread, const char *key, size_t klen, const char *val,
		  size_t vlen)
{
	struct lm_thread *t = thread;
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	MDB_txn *txn;
	int rc = mdb_txn_begin(t->st->env, NULL, 0, &txn);

	if (rc)
		return lm_fail(t, "mdb_txn_begin", rc);
	rc = mdb_put(txn, t->st->dbi, &k, &v, 0);
	if (rc) {
		mdb_txn_abort(txn);
		return lm_fail(t, "mdb_put", rc);
	}
	rc = mdb_txn_commit(txn);
	return rc ? lm_fail(t, "mdb_txn_commit", rc) : YCSB_OK;
}

static int lm_del(void *thread, const char *key, size_t klen)
{
	struct lm_thread *t = thread;
	MDB_val k = {klen, (void *)key};
	MDB_txn *txn;
	int rc = mdb_txn_begin(t->st->env, NULL, 0, &txn);

	if (rc)
		return lm_fail(t, "mdb_txn_begin", rc);
	rc = mdb_del(txn, t->st->dbi, &k, NULL);
	if (rc) {
		mdb_txn_abort(txn);
		if (rc == MDB_NOTFOUND)
			return YCSB_NOTFOUND;
		return lm_fail(t, "mdb_del", rc);
	}
	rc = mdb_txn_commit(txn);
	return rc ? lm_fail(t, "mdb_txn_commit", rc) : YCSB_OK;
}

static int lm_scan(void *thread, const char *key, size_t klen, size_t count,
		   ycsb_scan_cb cb, void *arg)
{
	struct lm_thread *t = thread;
	MDB_val k = {klen, (void *)key}, v;
	MDB_cursor *cur;
	int rc = mdb_txn_renew(t->rtxn), out = YCSB_OK;

	if (rc)
		return lm_fail(t, "mdb_txn_renew", rc);
	rc = mdb_cursor_open(t->rtxn, t->st->dbi, &cur);
	if (rc) {
		mdb_txn_reset(t->rtxn);
		return lm_fail(t, "mdb_cursor_open", rc);
	}
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (size_t i = 0; i < count && rc == 0; i++) {
		if (cb(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size)) {
			out = YCSB_ERROR;
			snprintf(t->err, sizeof(t->err), "scan: bad record");
			break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc && rc != MDB_NOTFOUND)
		out = lm_fail(t, "mdb_cursor_get", rc);
	mdb_cursor_close(cur);
	mdb_txn_reset(t->rtxn);
	return out;
}

static const char *lm_thread_error(void *thread)
{
	return ((struct lm_thread *)thread)->err;
}

const struct ycsb_backend ycsb_backend_lmdb = {
    .name = "lmdb",
    .describe = "lmdb: MDB_WRITEMAP|MDB_NOSYNC|MDB_NOTLS|MDB_NORDAHEAD, "
		"one txn per put; NOSYNC: not durable per operation",
    .open = lm_open,
    .close = lm_close,
    .thread_open = lm_thread_open,
    .thread_close = lm_thread_close,
    .read = lm_read,
    .put = lm_put,
    .del = lm_del,
    .scan = lm_scan,
    .thread_error = lm_thread_error,
};
