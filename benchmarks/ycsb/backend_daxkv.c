/* SPDX-License-Identifier: MIT */
/*
 * backend_daxkv.c -- the driver's daxkv backend, through daxkv.h only.
 *
 * Every put is durable when it returns (flush + fence; "emulated" on
 * /dev/shm with PMEM_IS_PMEM_FORCE=1).  One handle is shared by all
 * threads, as the API allows; a thread context holds its error and the
 * record bytes its puts wrote.
 *
 * Two stores: "daxkv", whose background compaction follows the property
 * daxkv.compaction (on by default), and "daxkv-nocompact", the same with
 * compaction always off (DAXKV_OPEN_NOCOMPACT), so that one invocation
 * can run both side by side (-db daxkv,daxkv-nocompact) and the ratio
 * column compares them.  daxkv.segmentsize sets the segment size of the
 * databases created (a multiple of 2 MiB; K, M, G suffixes).
 *
 * Space figures (space()): bytes_mapped over record_live_bytes from
 * daxkv_stat, and the record bytes the driver's puts wrote, counted here
 * because daxkv's bytes_written only covers the segments that still
 * exist.  The readings taken while a run goes on (nowait) use a version 1
 * daxkv_stat, bytes_mapped over live_bytes: version 2 waits for the
 * compactor's lock (segments_retiring), which a compaction holds for a
 * whole burst of rounds, so readings would come only between bursts, when
 * space is lowest.  live_bytes leaves out delete records, which YCSB's
 * workloads never write, so the two denominators agree here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "daxkv.h"

/* A record's size in a segment: the engine's layout.h (32-byte header,
 * key, value, padding to 8 bytes). */
#define DX_REC_HDR 32u
#define DX_REC_ALIGN 8u

static uint64_t dx_rec_size(size_t klen, size_t vlen)
{
	return (DX_REC_HDR + klen + vlen + DX_REC_ALIGN - 1) &
	       ~(uint64_t)(DX_REC_ALIGN - 1);
}

struct dx_store {
	daxkv *db;
	bool compaction;
	uint64_t user_bytes; /* of closed threads; atomic */
};

struct dx_thread {
	struct dx_store *st;
	daxkv *db;
	uint64_t user_bytes;
	char err[256];
};

struct dx_config {
	bool compaction;
	uint64_t segment_size; /* 0: the library's default */
};

/* The store's properties; @p force_off for daxkv-nocompact. */
static int dx_config_read(struct ycsb_props *props, bool force_off,
			  struct dx_config *cfg, char *err, size_t errlen)
{
	const char *v;

	cfg->compaction = !force_off;
	cfg->segment_size = 0;
	if (!props)
		return 0;
	v = ycsb_props_get(props, "daxkv.compaction", "on");
	if (!strcmp(v, "off") || !strcmp(v, "false")) {
		cfg->compaction = false;
	} else if (strcmp(v, "on") && strcmp(v, "true")) {
		snprintf(err, errlen,
			 "%s: daxkv.compaction: '%s' is not on or off",
			 ycsb_props_origin(props, "daxkv.compaction"), v);
		return -1;
	}
	if (force_off)
		cfg->compaction = false;
	if (ycsb_props_get_size(props, "daxkv.segmentsize", 0,
				&cfg->segment_size, err, errlen))
		return -1;
	if (ycsb_props_origin(props, "daxkv.segmentsize") &&
	    cfg->segment_size == 0) {
		snprintf(err, errlen,
			 "%s: daxkv.segmentsize: '0' is not a size",
			 ycsb_props_origin(props, "daxkv.segmentsize"));
		return -1;
	}
	return 0;
}

/* What the store line at the start says: set by check_props. */
static char dx_describe_on[256] =
    "daxkv: every put durable on return (flush + fence); background "
    "compaction on";
static char dx_describe_off[256] =
    "daxkv-nocompact: daxkv with background compaction off "
    "(DAXKV_OPEN_NOCOMPACT)";

static void dx_describe_set(char *buf, size_t len, const char *name,
			    const struct dx_config *cfg)
{
	char seg[64] = "";

	if (cfg->segment_size)
		snprintf(seg, sizeof(seg), "; %llu MiB segments",
			 (unsigned long long)(cfg->segment_size >> 20));
	snprintf(buf, len,
		 "%s: every put durable on return (flush + fence); background "
		 "compaction %s%s",
		 name, cfg->compaction ? "on" : "off (DAXKV_OPEN_NOCOMPACT)",
		 seg);
}

static int dx_check_props(struct ycsb_props *props, char *err, size_t errlen)
{
	struct dx_config cfg;

	if (dx_config_read(props, false, &cfg, err, errlen))
		return -1;
	dx_describe_set(dx_describe_on, sizeof(dx_describe_on), "daxkv", &cfg);
	return 0;
}

static int dxn_check_props(struct ycsb_props *props, char *err, size_t errlen)
{
	struct dx_config cfg;

	if (dx_config_read(props, true, &cfg, err, errlen))
		return -1;
	dx_describe_set(dx_describe_off, sizeof(dx_describe_off),
			"daxkv-nocompact", &cfg);
	return 0;
}

static int dx_open_cfg(const char *dir, struct ycsb_props *props,
		       bool force_off, void **store, char *err, size_t errlen)
{
	struct daxkv_options opts;
	struct dx_config cfg;
	struct dx_store *st;
	int rc;

	if (dx_config_read(props, force_off, &cfg, err, errlen))
		return YCSB_ERROR;
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return YCSB_ERROR;
	}
	daxkv_options_init(&opts);
	if (!cfg.compaction)
		opts.flags |= DAXKV_OPEN_NOCOMPACT;
	if (cfg.segment_size)
		opts.segment_size = cfg.segment_size;
	rc = daxkv_open(dir, &opts, &st->db);
	if (rc) {
		snprintf(err, errlen, "daxkv_open %s: %s: %s", dir,
			 daxkv_strerror(rc), daxkv_errmsg());
		free(st);
		return YCSB_ERROR;
	}
	st->compaction = cfg.compaction;
	*store = st;
	return YCSB_OK;
}

static int dx_open(const char *dir, uint64_t expected_bytes,
		   struct ycsb_props *props, void **store, char *err,
		   size_t errlen)
{
	(void)expected_bytes; /* daxkv grows by segments */
	return dx_open_cfg(dir, props, false, store, err, errlen);
}

static int dxn_open(const char *dir, uint64_t expected_bytes,
		    struct ycsb_props *props, void **store, char *err,
		    size_t errlen)
{
	(void)expected_bytes;
	return dx_open_cfg(dir, props, true, store, err, errlen);
}

static void dx_close(void *store)
{
	struct dx_store *st = store;

	daxkv_close(st->db);
	free(st);
}

static int dx_thread_open(void *store, void **thread, char *err, size_t errlen)
{
	struct dx_thread *t = calloc(1, sizeof(*t));

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return YCSB_ERROR;
	}
	t->st = store;
	t->db = t->st->db;
	*thread = t;
	return YCSB_OK;
}

static void dx_thread_close(void *thread)
{
	struct dx_thread *t = thread;

	__atomic_fetch_add(&t->st->user_bytes, t->user_bytes, __ATOMIC_RELAXED);
	free(t);
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

	if (rc)
		return dx_fail(t, "daxkv_put", rc);
	t->user_bytes += dx_rec_size(klen, vlen);
	return YCSB_OK;
}

static int dx_del(void *thread, const char *key, size_t klen)
{
	struct dx_thread *t = thread;
	int rc = daxkv_delete(t->db, key, klen);

	if (rc == DAXKV_ENOTFOUND)
		return YCSB_NOTFOUND;
	return rc ? dx_fail(t, "daxkv_delete", rc) : YCSB_OK;
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

static int dx_space(void *store, bool nowait, struct ycsb_space *out)
{
	struct dx_store *st = store;
	struct daxkv_stat s = {.version = nowait ? 1 : DAXKV_STAT_VERSION};

	if (daxkv_stat(st->db, &s))
		return -1;
	memset(out, 0, sizeof(*out));
	out->compaction = st->compaction;
	out->bytes_on_media = s.bytes_mapped;
	if (nowait) {
		out->live_bytes = s.live_bytes;
		return 0;
	}
	out->live_bytes = s.record_live_bytes;
	out->user_bytes = __atomic_load_n(&st->user_bytes, __ATOMIC_RELAXED);
	out->bytes_compacted = s.bytes_compacted;
	out->compactions = s.compactions;
	out->segments_retired = s.segments_retired;
	return 0;
}

const struct ycsb_backend ycsb_backend_daxkv = {
    .name = "daxkv",
    .describe = dx_describe_on,
    .check_props = dx_check_props,
    .open = dx_open,
    .close = dx_close,
    .thread_open = dx_thread_open,
    .thread_close = dx_thread_close,
    .read = dx_read,
    .put = dx_put,
    .del = dx_del,
    .scan = dx_scan,
    .thread_error = dx_thread_error,
    .space = dx_space,
};

const struct ycsb_backend ycsb_backend_daxkv_nocompact = {
    .name = "daxkv-nocompact",
    .describe = dx_describe_off,
    .check_props = dxn_check_props,
    .open = dxn_open,
    .close = dx_close,
    .thread_open = dx_thread_open,
    .thread_close = dx_thread_close,
    .read = dx_read,
    .put = dx_put,
    .del = dx_del,
    .scan = dx_scan,
    .thread_error = dx_thread_error,
    .space = dx_space,
    .not_default = true,
};
