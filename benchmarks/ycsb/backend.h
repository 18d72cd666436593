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

#include <stddef.h>
#include <stdint.h>

enum { YCSB_OK = 0, YCSB_NOTFOUND = 1, YCSB_ERROR = -1 };

/* A growable buffer for values read. */
struct ycsb_buf {
	char *data;
	size_t len, cap;
};
/* Make room for @p need bytes; 0 or -1. */
int ycsb_buf_reserve(struct ycsb_buf *b, size_t need);

/* Called for each record of a scan; return non-zero to stop. */
typedef int (*ycsb_scan_cb)(void *arg, const char *key, size_t klen,
			    const char *val, size_t vlen);

struct ycsb_backend {
	const char *name;
	/* one line on durability and settings, printed with every result */
	const char *describe;
	/* Create or open the store in directory @p dir (which exists and
	 * is empty); @p expected_bytes sizes fixed maps (LMDB). */
	int (*open)(const char *dir, uint64_t expected_bytes, void **store,
		    char *err, size_t errlen);
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
	/* Up to @p count records from the first key >= @p key, in order. */
	int (*scan)(void *thread, const char *key, size_t klen, size_t count,
		    ycsb_scan_cb cb, void *arg);
	/* Last error sentence of this thread. */
	const char *(*thread_error)(void *thread);
};

/* The backends built into this binary, NULL-terminated. */
extern const struct ycsb_backend *const ycsb_backends[];
/* Stores whose library was missing at build time, NULL-terminated. */
extern const char *const ycsb_backends_missing[];
const struct ycsb_backend *ycsb_backend_find(const char *name);

#endif
