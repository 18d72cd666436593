/* SPDX-License-Identifier: MIT */
/*
 * backend.h -- the interface every store implements for the driver.
 *
 * The driver does everything else (key choice, value encoding, the
 * read-merge-write of a partial update, timing): a backend only moves
 * bytes, so the stores are compared on the same work.  A backend is one
 * file, backend_<store>.c, built only when its library is found
 * (backends.c lists what was built).
 *
 * Calls return YCSB_OK, YCSB_NOTFOUND or YCSB_ERROR; on YCSB_ERROR the
 * backend writes a sentence into the thread context's errbuf.
 */
#ifndef YCSB_BACKEND_H
#define YCSB_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "props.h"

enum { YCSB_OK = 0, YCSB_NOTFOUND = 1, YCSB_ERROR = -1 };

/* A growable buffer for values read. */
struct ycsb_buf {
	char *data;
	size_t len, cap;
};
/* Make room for @p need bytes; 0 or -1. */
int ycsb_buf_reserve(struct ycsb_buf *b, size_t need);

/*
 * Space figures of a store that reclaims space (daxkv): what is on media
 * against what a full compaction would keep, and what the driver's puts
 * and the store's own copying wrote.
 */
struct ycsb_space {
	bool compaction;	  /* background compaction on */
	uint64_t bytes_on_media;  /* data files (daxkv: bytes_mapped) */
	uint64_t live_bytes;	  /* what a full compaction keeps
				     (daxkv: record_live_bytes) */
	uint64_t user_bytes;	  /* record bytes the driver's puts made,
				     since open, of threads closed so far */
	uint64_t bytes_compacted; /* record bytes the store copied */
	uint64_t compactions, segments_retired;
};

/* Called for each record of a scan; return non-zero to stop. */
typedef int (*ycsb_scan_cb)(void *arg, const char *key, size_t klen,
			    const char *val, size_t vlen);

struct ycsb_backend {
	const char *name;
	/* one line on durability and settings, printed with every result */
	const char *describe;
	/* Optional: look up and check this store's own properties
	 * ("daxkv.compaction") before any cell runs, so that a bad value
	 * fails at once and a used one is not reported as unknown.  0, or
	 * -1 with a message naming the property's origin. */
	int (*check_props)(struct ycsb_props *props, char *err, size_t errlen);
	/* Create the store in directory @p dir (which exists), or open
	 * the one this backend made there before; @p expected_bytes sizes
	 * fixed maps (LMDB); @p props (NULL: defaults) holds the workload's
	 * and the store's own properties. */
	int (*open)(const char *dir, uint64_t expected_bytes,
		    struct ycsb_props *props, void **store, char *err,
		    size_t errlen);
	void (*close)(void *store);
	/* Per benchmark thread. */
	int (*thread_open)(void *store, void **thread, char *err,
			   size_t errlen);
	void (*thread_close)(void *thread);
	int (*read)(void *thread, const char *key, size_t klen,
		    struct ycsb_buf *out);
	/* insert and update are both "put" for a key-value store */
	int (*put)(void *thread, const char *key, size_t klen, const char *val,
		   size_t vlen);
	/* Remove @p key: YCSB_OK, YCSB_NOTFOUND or YCSB_ERROR.  YCSB's
	 * CoreWorkload never deletes; the backend tests do. */
	int (*del)(void *thread, const char *key, size_t klen);
	/* Up to @p count records from the first key >= @p key, in order.
	 * NULL for a store without key order (a hash table): the driver
	 * does not run workloads that scan on it and reports them "n/a". */
	int (*scan)(void *thread, const char *key, size_t klen, size_t count,
		    ycsb_scan_cb cb, void *arg);
	/* Last error sentence of this thread. */
	const char *(*thread_error)(void *thread);
	/* Optional (NULL for stores that do not reclaim space): fill @p
	 * out; may be called from another thread while a phase runs.  With
	 * @p nowait, only bytes_on_media and live_bytes, read without
	 * waiting for the store's own work (a running compaction).  0 or
	 * -1. */
	int (*space)(void *store, bool nowait, struct ycsb_space *out);
	/* Only run when named in -db (a variant of another store). */
	bool not_default;
};

/* The backends built into this binary, NULL-terminated. */
extern const struct ycsb_backend *const ycsb_backends[];
/* Stores whose library was missing at build time, NULL-terminated. */
extern const char *const ycsb_backends_missing[];
const struct ycsb_backend *ycsb_backend_find(const char *name);

#endif
