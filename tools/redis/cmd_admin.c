// SPDX-License-Identifier: MIT
/*
 * cmd_admin.c -- DKV.INFO, DKV.CHECK and DKV.DIGEST: what the module and
 * its daxkv database hold, whether they agree with the keyspace, and a
 * digest to compare a master's records with a replica's.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkr.h"

struct dkr_text {
	char *buf;
	size_t len, cap;
};

static void dkr_text_add(struct dkr_text *t, const char *name,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void dkr_text_add(struct dkr_text *t, const char *name,
			 const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	int n, m;

	n = snprintf(line, sizeof(line), "%s:", name);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	if (t->len + (size_t)n > t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 4096;
		char *grown;

		while (cap < t->len + (size_t)n)
			cap *= 2;
		grown = realloc(t->buf, cap);
		if (!grown)
			return;
		t->buf = grown;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, line, (size_t)n);
	t->len += (size_t)n;
}

static const char *dkr_recovery_name(uint32_t kind)
{
	switch (kind) {
	case DAXKV_RECOVERY_CHECKPOINT:
		return "checkpoint";
	case DAXKV_RECOVERY_SCAN:
		return "scan";
	default:
		return "new";
	}
}

int dkr_cmd_info(rm_ctx *ctx, rm_string **argv, int argc)
{
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	struct dkr_text t = { 0 };
	int rc;

	(void)argv;
	if (argc != 1)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx))
		return RM_OK;
	rc = daxkv_stat(dkr.db, &st);
	if (rc)
		return dkr_reply_daxkv_error(ctx, "DKV.INFO", rc);
	dkr_text_add(&t, "module_version", "%d", DKR_MODULE_VERSION);
	dkr_text_add(&t, "tested_with", "%s", DKR_TESTED_WITH);
	if (rm.get_server_version) { /* optional: 6.0.9 and later */
		int v = rm.get_server_version();

		dkr_text_add(&t, "server_version", "%d.%d.%d", (v >> 16) & 0xff,
			     (v >> 8) & 0xff, v & 0xff);
	}
	dkr_text_add(&t, "daxkv_version", "%s", daxkv_version());
	dkr_text_add(&t, "dir", "%s", dkr.dir);
	dkr_text_add(&t, "durability", "%s",
		     daxkv_durability_name((enum daxkv_durability)
					   st.durability));
	dkr_text_add(&t, "recovery", "%s", dkr_recovery_name(st.recovery));
	dkr_text_add(&t, "recovery_ms", "%.3f", (double)st.recovery_ns / 1e6);
	dkr_text_add(&t, "records", "%" PRIu64, st.keys);
	dkr_text_add(&t, "handles", "%" PRIu64,
		     __atomic_load_n(&dkr.handles, __ATOMIC_RELAXED));
	dkr_text_add(&t, "rebuilt_keys", "%" PRIu64, dkr.rebuilt_keys);
	dkr_text_add(&t, "pending_deletes", "%zu", dkr.ndels);
	dkr_text_add(&t, "pending_restores", "%zu", dkr.nrestores);
	dkr_text_add(&t, "deletes_applied", "%" PRIu64, dkr.deletes_applied);
	dkr_text_add(&t, "deletes_stale", "%" PRIu64, dkr.deletes_stale);
	dkr_text_add(&t, "restores_written", "%" PRIu64,
		     dkr.restores_written);
	dkr_text_add(&t, "renames", "%" PRIu64, dkr.renames);
	dkr_text_add(&t, "flushes", "%" PRIu64, dkr.flushes);
	dkr_text_add(&t, "repl_loads", "%" PRIu64, dkr.repl_loads);
	dkr_text_add(&t, "fork_snapshots", "%" PRIu64, dkr.fork_snaps);
	dkr_text_add(&t, "fork_snapshot_open", "%d", dkr.fork_snap ? 1 : 0);
	dkr_text_add(&t, "errors", "%" PRIu64, dkr.errors);
	dkr_text_add(&t, "query_backend", "%s",
		     daxkv_backend_name(dkr.backend));
	dkr_text_add(&t, "query_workers", "%u", dkr.query_workers);
	dkr_text_add(&t, "query_threads", "%u", dkr.query_threads);
	dkr_text_add(&t, "queries_inflight", "%" PRIu64,
		     dkr_queries_inflight());
	dkr_text_add(&t, "segments", "%" PRIu64, st.segments);
	dkr_text_add(&t, "segment_size", "%" PRIu64, st.segment_size);
	dkr_text_add(&t, "bytes_mapped", "%" PRIu64, st.bytes_mapped);
	dkr_text_add(&t, "live_bytes", "%" PRIu64, st.live_bytes);
	dkr_text_add(&t, "puts", "%" PRIu64, st.puts);
	dkr_text_add(&t, "gets", "%" PRIu64, st.gets);
	dkr_text_add(&t, "deletes", "%" PRIu64, st.deletes);
	dkr_text_add(&t, "batches", "%" PRIu64, st.batches);
	dkr_text_add(&t, "compactions", "%" PRIu64, st.compactions);
	rc = rm.reply_with_string_buffer(ctx, t.buf ? t.buf : "", t.len);
	free(t.buf);
	return rc;
}

/* ---- DKV.CHECK ---- */

struct dkr_check {
	rm_ctx *ctx;
	long long now;
	uint64_t records, foreign, expired, orphans;
	uint64_t keys, missing, pending;
};

static int dkr_check_record(const void *key, size_t klen, const void *val,
			    size_t vlen, void *arg)
{
	struct dkr_check *c = arg;
	struct dkr_handle *h;
	struct dkr_rec rec;
	rm_string *name;
	rm_key *rk;

	c->records++;
	if (dkr_hdr_decode(val, vlen, &rec) != 0) {
		c->foreign++;
		return 0;
	}
	if (dkr_expired(rec.expire, c->now)) {
		c->expired++; /* its key goes when Redis expires it */
		return 0;
	}
	name = rm.create_string(c->ctx, key, klen);
	rk = rm.open_key(c->ctx, name, RM_READ | RM_OPEN_KEY_NOTOUCH);
	h = dkr_key_handle(rk);
	if (!h || h->pending || h->id != rec.id)
		c->orphans++;
	if (rk)
		rm.close_key(rk);
	rm.free_string(c->ctx, name);
	return 0;
}

static void dkr_check_key(rm_ctx *ctx, rm_string *name, rm_key *key,
			  void *arg)
{
	struct dkr_check *c = arg;
	rm_key *own = NULL;
	struct dkr_handle *h;
	struct dkr_rec rec;
	const char *kp;
	size_t klen;

	if (!key)
		key = own = rm.open_key(ctx, name, RM_READ |
					RM_OPEN_KEY_NOTOUCH);
	h = dkr_key_handle(key);
	if (h) {
		c->keys++;
		kp = rm.string_ptr_len(name, &klen);
		if (h->pending)
			c->pending++;
		else if (dkr_record_get(kp, klen, &rec) != 0 ||
			 rec.id != h->id)
			c->missing++;
	}
	if (own)
		rm.close_key(own);
}

/*
 * DKV.CHECK: every record against the keyspace and every key of the type
 * against daxkv.  Reply: records N keys N orphans N missing N foreign N
 * expired N pending N (a flat array of names and counts).  A healthy
 * node has orphans, missing and foreign 0, and records - expired = keys -
 * pending.  It reads everything: an administrator's command.
 */
int dkr_cmd_check(rm_ctx *ctx, rm_string **argv, int argc)
{
	struct dkr_check c = { ctx, rm.milliseconds() };
	rm_scan_cursor *cursor;
	daxkv_snapshot *snap = NULL;
	int rc;

	(void)argv;
	if (argc != 1)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx))
		return RM_OK;
	dkr_apply_queue(ctx);
	rc = daxkv_snapshot_open(dkr.db, &snap);
	if (!rc)
		rc = daxkv_scan_at(dkr.db, snap, NULL, 0, NULL, 0,
				   dkr_check_record, &c);
	daxkv_snapshot_close(snap);
	if (rc)
		return dkr_reply_daxkv_error(ctx, "DKV.CHECK", rc);
	cursor = rm.scan_cursor_create();
	while (rm.scan(ctx, cursor, dkr_check_key, &c))
		;
	rm.scan_cursor_destroy(cursor);
	rm.reply_with_array(ctx, 14);
	rm.reply_with_simple_string(ctx, "records");
	rm.reply_with_long_long(ctx, (long long)c.records);
	rm.reply_with_simple_string(ctx, "keys");
	rm.reply_with_long_long(ctx, (long long)c.keys);
	rm.reply_with_simple_string(ctx, "orphans");
	rm.reply_with_long_long(ctx, (long long)c.orphans);
	rm.reply_with_simple_string(ctx, "missing");
	rm.reply_with_long_long(ctx, (long long)c.missing);
	rm.reply_with_simple_string(ctx, "foreign");
	rm.reply_with_long_long(ctx, (long long)c.foreign);
	rm.reply_with_simple_string(ctx, "expired");
	rm.reply_with_long_long(ctx, (long long)c.expired);
	rm.reply_with_simple_string(ctx, "pending");
	return rm.reply_with_long_long(ctx, (long long)c.pending);
}

/* ---- DKV.DIGEST ---- */

struct dkr_digest {
	uint64_t hash, records;
};

static void dkr_fnv(uint64_t *h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		*h ^= p[i];
		*h *= 0x100000001b3ULL;
	}
}

static int dkr_digest_one(const void *key, size_t klen, const void *val,
			  size_t vlen, void *arg)
{
	struct dkr_digest *d = arg;
	struct dkr_rec rec;
	uint64_t len64;

	/* the id is the node's own: left out; a foreign value counts whole */
	if (dkr_hdr_decode(val, vlen, &rec) != 0) {
		rec.expire = 0;
		rec.val = val;
		rec.vlen = vlen;
	}
	len64 = klen;
	dkr_fnv(&d->hash, &len64, sizeof(len64));
	dkr_fnv(&d->hash, key, klen);
	dkr_fnv(&d->hash, &rec.expire, sizeof(rec.expire));
	len64 = rec.vlen;
	dkr_fnv(&d->hash, &len64, sizeof(len64));
	dkr_fnv(&d->hash, rec.val, rec.vlen);
	d->records++;
	return 0;
}

/*
 * DKV.DIGEST: a 64-bit FNV-1a over every record in key order (key,
 * expiry, value; not the node-local id) and the count.  A master and a
 * replica in sync give the same.  Reply: [hex digest, count].
 */
int dkr_cmd_digest(rm_ctx *ctx, rm_string **argv, int argc)
{
	struct dkr_digest d = { 0xcbf29ce484222325ULL, 0 };
	char hex[17];
	int rc;

	(void)argv;
	if (argc != 1)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx))
		return RM_OK;
	dkr_apply_queue(ctx);
	rc = daxkv_scan(dkr.db, NULL, 0, NULL, 0, dkr_digest_one, &d);
	if (rc)
		return dkr_reply_daxkv_error(ctx, "DKV.DIGEST", rc);
	snprintf(hex, sizeof(hex), "%016" PRIx64, d.hash);
	rm.reply_with_array(ctx, 2);
	rm.reply_with_string_buffer(ctx, hex, 16);
	return rm.reply_with_long_long(ctx, (long long)d.records);
}
