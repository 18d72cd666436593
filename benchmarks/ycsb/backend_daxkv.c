/* SPDX-License-Identifier: MIT */
/*
 * backend_daxkv.c -- the driver's daxkv backend, through daxkv.h only.
 *
 * Every put is durable when it returns (flush + fence; "emulated" on
 * /dev/shm with PMEM_IS_PMEM_FORCE=1).  One handle is shared by all
 * threads, as the API allows; a thread context only holds its error.
 */
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "daxkv.h"

struct dx_thread {
	daxkv *db;
	char err[256];
};

static int dx_open(const char *dir, uint64_t expected_bytes, void **store,
		   char *err, size_t errlen)
{
	struct daxkv_options opts;
	daxkv *db;
	int rc;

	(void)expected_bytes; /* daxkv grows by segments */
	daxkv_options_init(&opts);
	rc = daxkv_open(dir, &opts, &db);
	if (rc) {
		snprintf(err, errlen, "daxkv_open %s: %s: %s", dir,
			 daxkv_strerror(rc), daxkv_errmsg());
		return YCSB_ERROR;
	}
	*store = db;
	return YCSB_OK;
}

static void dx_close(void *store)
{
	daxkv_close(store);
}

static int dx_thread_open(void *store, void **thread, char *err, size_t errlen)
{
	struct dx_thread *t = calloc(1, sizeof(*t));

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return YCSB_ERROR;
	}
	t->db = store;
	*thread = t;
	return YCSB_OK;
}

static void dx_thread_close(void *thread)
{
	free(thread);
}

static int dx_fail(struct dx_thread *t, const char *call, int rc)
{
	snprintf(t->err, sizeof(t->err), "%s: %s: %s", call, daxkv_strerror(rc),
		 daxkv_errmsg());
	return YCSB_ERROR;
}

static int dx_read(void *thread, const char *key, size_t klen,
		   struct ycsb_buf *out)
{
	struct dx_thread *t = thread;
	size_t vlen;
	int rc = daxkv_get(t->db, key, klen, out->data, out->cap, &vlen);

	if (rc == DAXKV_ERANGE) {
		if (ycsb_buf_reserve(out, vlen))
			return dx_fail(t, "daxkv_get", DAXKV_ENOMEM);
		rc = daxkv_get(t->db, key, klen, out->data, out->cap, &vlen);
	}
	if (rc == DAXKV_ENOTFOUND)
		return YCSB_NOTFOUND;
	if (rc)
		return dx_fail(t, "daxkv_get", rc);
	out->len = vlen;
	return YCSB_OK;
}

static int dx_put(void *thread, const char *key, size_t klen, const char *val,
		  size_t vlen)
{
	struct dx_thread *t = thread;
	int rc = daxkv_put(t->db, key, klen, val, vlen);

	return rc ? dx_fail(t, "daxkv_put", rc) : YCSB_OK;
}

struct dx_scan {
	size_t left;
	ycsb_scan_cb cb;
	void *arg;
	int cb_rc;
};

static int dx_scan_fn(const void *key, size_t klen, const void *val,
		      size_t vlen, void *arg)
{
	struct dx_scan *s = arg;

	s->cb_rc = s->cb(s->arg, key, klen, val, vlen);
	if (s->cb_rc)
		return 1;
	return --s->left == 0 ? 1 : 0;
}

static int dx_scan(void *thread, const char *key, size_t klen, size_t count,
		   ycsb_scan_cb cb, void *arg)
{
	struct dx_thread *t = thread;
	struct dx_scan s = {count, cb, arg, 0};
	int rc;

	if (count == 0)
		return YCSB_OK;
	rc = daxkv_scan(t->db, key, klen, NULL, 0, dx_scan_fn, &s);
	if (rc < 0)
		return dx_fail(t, "daxkv_scan", rc);
	return s.cb_rc ? YCSB_ERROR : YCSB_OK;
}

static const char *dx_thread_error(void *thread)
{
	return ((struct dx_thread *)thread)->err;
}

const struct ycsb_backend ycsb_backend_daxkv = {
    .name = "daxkv",
    .describe = "daxkv: every put durable on return (flush + fence)",
    .open = dx_open,
    .close = dx_close,
    .thread_open = dx_thread_open,
    .thread_close = dx_thread_close,
    .read = dx_read,
    .put = dx_put,
    .scan = dx_scan,
    .thread_error = dx_thread_error,
};
