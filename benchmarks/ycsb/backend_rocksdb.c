/* SPDX-License-Identifier: MIT */
/*
 * backend_rocksdb.c -- the driver's RocksDB backend (Debian librocksdb,
 * C API).
 *
 * WAL on, sync off (RocksDB's default write options): each put is
 * appended to the write-ahead log with write(2) before it returns, so it
 * survives a process crash but not a power failure (the log is not
 * fsynced per operation).  Settings for a fair in-memory comparison: no
 * compression (the data sits in /dev/shm; compressing costs CPU for no
 * I/O saved), a 512 MiB LRU block cache and a 10-bit bloom filter, so a
 * default-size data set is read from cache, and parallelism for the
 * machine's cores.  Everything else is RocksDB's default.
 */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"

struct rx_store {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *table;
	rocksdb_cache_t *cache;
	rocksdb_filterpolicy_t *filter; /* owned by table once set */
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
};

struct rx_thread {
	struct rx_store *st;
	char err[256];
};

static void rx_close(void *store)
{
	struct rx_store *st = store;

	if (!st)
		return;
	if (st->db)
		rocksdb_close(st->db);
	if (st->wopts)
		rocksdb_writeoptions_destroy(st->wopts);
	if (st->ropts)
		rocksdb_readoptions_destroy(st->ropts);
	if (st->opts)
		rocksdb_options_destroy(st->opts);
	if (st->table)
		rocksdb_block_based_options_destroy(st->table);
	if (st->cache)
		rocksdb_cache_destroy(st->cache);
	free(st);
}

static int rx_open(const char *dir, uint64_t expected_bytes,
		   struct ycsb_props *props, void **store, char *err,
		   size_t errlen)
{
	struct rx_store *st = calloc(1, sizeof(*st));
	char *rerr = NULL;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	(void)expected_bytes;
	(void)props; /* no properties of its own */
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return YCSB_ERROR;
	}
	st->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(st->opts, 1);
	rocksdb_options_increase_parallelism(st->opts,
					     cpus > 1 ? (int)cpus : 2);
	rocksdb_options_set_compression(st->opts, rocksdb_no_compression);
	st->table = rocksdb_block_based_options_create();
	st->cache = rocksdb_cache_create_lru(512u << 20);
	rocksdb_block_based_options_set_block_cache(st->table, st->cache);
	st->filter = rocksdb_filterpolicy_create_bloom(10);
	rocksdb_block_based_options_set_filter_policy(st->table, st->filter);
	rocksdb_options_set_block_based_table_factory(st->opts, st->table);
	st->wopts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(st->wopts, 0);
	rocksdb_writeoptions_disable_WAL(st->wopts, 0);
	st->ropts = rocksdb_readoptions_create();
	st->db = rocksdb_open(st->opts, dir, &rerr);
	if (rerr) {
		snprintf(err, errlen, "rocksdb_open %s: %s", dir, rerr);
		rocksdb_free(rerr);
		st->db = NULL;
		rx_close(st);
		return YCSB_ERROR;
	}
	*store = st;
	return YCSB_OK;
}

static int rx_thread_open(void *store, void **thread, char *err, size_t errlen)
{
	struct rx_thread *t = calloc(1, sizeof(*t));

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return YCSB_ERROR;
	}
	t->st = store;
	*thread = t;
	return YCSB_OK;
}

static void rx_thread_close(void *thread)
{
	free(thread);
}

static int rx_fail(struct rx_thread *t, const char *call, char *rerr)
{
	snprintf(t->err, sizeof(t->err), "%s: %s", call, rerr ? rerr : "?");
	rocksdb_free(rerr);
	return YCSB_ERROR;
}

static int rx_read(void *thread, const char *key, size_t klen,
		   struct ycsb_buf *out)
{
	struct rx_thread *t = thread;
	char *rerr = NULL;
	rocksdb_pinnableslice_t *ps;
	const char *v;
	size_t vlen;

	ps = rocksdb_get_pinned(t->st->db, t->st->ropts, key, klen, &rerr);
	if (rerr)
		return rx_fail(t, "rocksdb_get_pinned", rerr);
	if (!ps)
		return YCSB_NOTFOUND;
	v = rocksdb_pinnableslice_value(ps, &vlen);
	if (ycsb_buf_reserve(out, vlen)) {
		rocksdb_pinnableslice_destroy(ps);
		snprintf(t->err, sizeof(t->err), "out of memory");
		return YCSB_ERROR;
	}
	memcpy(out->data, v, vlen);
	out->len = vlen;
	rocksdb_pinnableslice_destroy(ps);
	return YCSB_OK;
}

static int rx_put(void *thread, const char *key, size_t klen, const char *val,
		  size_t vlen)
{
	struct rx_thread *t = thread;
	char *rerr = NULL;

	rocksdb_put(t->st->db, t->st->wopts, key, klen, val, vlen, &rerr);
	return rerr ? rx_fail(t, "rocksdb_put", rerr) : YCSB_OK;
}

/* RocksDB's delete writes a tombstone whether or not the key exists;
 * a lookup first gives the NOTFOUND the other stores return. */
static int rx_del(void *thread, const char *key, size_t klen)
{
	struct rx_thread *t = thread;
	char *rerr = NULL;
	rocksdb_pinnableslice_t *ps;

	ps = rocksdb_get_pinned(t->st->db, t->st->ropts, key, klen, &rerr);
	if (rerr)
		return rx_fail(t, "rocksdb_get_pinned", rerr);
	if (!ps)
		return YCSB_NOTFOUND;
	rocksdb_pinnableslice_destroy(ps);
	rocksdb_delete(t->st->db, t->st->wopts, key, klen, &rerr);
	return rerr ? rx_fail(t, "rocksdb_delete", rerr) : YCSB_OK;
}

static int rx_scan(void *thread, const char *key, size_t klen, size_t count,
		   ycsb_scan_cb cb, void *arg)
{
	struct rx_thread *t = thread;
	rocksdb_iterator_t *it =
	    rocksdb_create_iterator(t->st->db, t->st->ropts);
	char *rerr = NULL;
	int out = YCSB_OK;

	rocksdb_iter_seek(it, key, klen);
	for (size_t i = 0; i < count && rocksdb_iter_valid(it); i++) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		const char *v = rocksdb_iter_value(it, &vl);

		if (cb(arg, k, kl, v, vl)) {
			snprintf(t->err, sizeof(t->err), "scan: bad record");
			out = YCSB_ERROR;
			break;
		}
		rocksdb_iter_next(it);
	}
	rocksdb_iter_get_error(it, &rerr);
	if (rerr)
		out = rx_fail(t, "rocksdb iterator", rerr);
	rocksdb_iter_destroy(it);
	return out;
}

static const char *rx_thread_error(void *thread)
{
	return ((struct rx_thread *)thread)->err;
}

const struct ycsb_backend ycsb_backend_rocksdb = {
    .name = "rocksdb",
    .describe = "rocksdb: WAL on, sync off (not durable per operation "
		"against power loss), no compression, 512 MiB block cache",
    .open = rx_open,
    .close = rx_close,
    .thread_open = rx_thread_open,
    .thread_close = rx_thread_close,
    .read = rx_read,
    .put = rx_put,
    .del = rx_del,
    .scan = rx_scan,
    .thread_error = rx_thread_error,
};
