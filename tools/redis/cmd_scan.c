// SPDX-License-Identifier: MIT
/*
 * cmd_scan.c -- DKV.SCAN (ordered keys inside one {tag}) and DKV.NODESCAN
 * (this node's whole database), forward or REV, at most LIMIT records.
 *
 *   DKV.SCAN tag start end [LIMIT n] [REV]
 *       keys "{tag}" + s with start <= s < end ("" = unbounded), i.e.
 *       the keys that begin with "{tag}" -- all in the tag's hash slot,
 *       so Cluster routes the command by its tag (key spec at 1)
 *   DKV.NODESCAN start end [LIMIT n] [REV]
 *       keys k with start <= k < end of this node (no key: any node)
 *
 * Reply: a flat array key1 value1 key2 value2 ..., in key order
 * (descending with REV), keys whole, values as DKV.SET got them.  LIMIT
 * defaults to 1000 and is at most 100000.  The next page starts after the
 * last key (forward: start = last key's suffix + "\0"; REV: end = last
 * key's suffix).  Logically expired keys are left out, as Redis hides
 * them.  Records are read at one daxkv snapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "dkr.h"

/* The bounds of a scan: keys in [lo, hi); a length of 0 is unbounded. */
struct dkr_range {
	uint8_t lo[DAXKV_MAX_KEY];
	size_t lolen;
	uint8_t hi[DAXKV_MAX_KEY];
	size_t hilen;
};

bool dkr_tag_parse(rm_ctx *ctx, rm_string *arg, struct dkr_tag_range *out)
{
	const char *tag;
	size_t len;

	tag = rm.string_ptr_len(arg, &len);
	if (len == 0 || len + 2 > DAXKV_MAX_KEY || memchr(tag, '{', len) ||
	    memchr(tag, '}', len)) {
		dkr_reply_errorf(ctx, "ERR daxkv: tag of %zu bytes: a tag is 1 "
				 "to %u bytes without '{' or '}' (keys "
				 "\"{tag}...\" are scanned)", len,
				 DAXKV_MAX_KEY - 2);
		return false;
	}
	out->prefix[0] = '{';
	memcpy(out->prefix + 1, tag, len);
	out->prefix[len + 1] = '}';
	out->prefixlen = len + 2;
	return true;
}

bool dkr_limit_parse(rm_ctx *ctx, rm_string *arg, uint64_t *out)
{
	const char *p;
	size_t len;
	uint64_t val = 0;

	p = rm.string_ptr_len(arg, &len);
	if (len == 0 || len > 20)
		goto out_bad;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			goto out_bad;
		val = val * 10 + (uint64_t)(p[i] - '0');
	}
	if (val == 0 || val > DKR_SCAN_MAX_LIMIT)
		goto out_bad;
	*out = val;
	return true;
out_bad:
	dkr_reply_errorf(ctx, "ERR daxkv: LIMIT '%.*s': a count from 1 to %u",
			 (int)(len < 40 ? len : 40), p, DKR_SCAN_MAX_LIMIT);
	return false;
}

/* prefix + suffix into @p buf; false after replying when too long. */
static bool dkr_bound(rm_ctx *ctx, const uint8_t *prefix, size_t prefixlen,
		      rm_string *arg, uint8_t *buf, size_t *len)
{
	const char *s;
	size_t slen;

	s = rm.string_ptr_len(arg, &slen);
	if (prefixlen + slen > DAXKV_MAX_KEY) {
		dkr_reply_errorf(ctx, "ERR daxkv: scan bound of %zu bytes: "
				 "keys are at most %u", prefixlen + slen,
				 DAXKV_MAX_KEY);
		return false;
	}
	if (prefixlen)
		memcpy(buf, prefix, prefixlen);
	if (slen)
		memcpy(buf + prefixlen, s, slen);
	*len = prefixlen + slen;
	return true;
}

/*
 * Records go into the reply as they come; the array starts with the
 * first one, so that an error found before any record can still be the
 * whole reply.
 */
struct dkr_emit {
	rm_ctx *ctx;
	long long now;
	uint64_t limit, count;
	bool started;
};

static void dkr_emit(struct dkr_emit *e, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	if (!e->started) {
		rm.reply_with_array(e->ctx, RM_POSTPONED_LEN);
		e->started = true;
	}
	rm.reply_with_string_buffer(e->ctx, key, klen);
	rm.reply_with_string_buffer(e->ctx, val, vlen);
	e->count++;
}

static int dkr_scan_forward_one(const void *key, size_t klen, const void *val,
				size_t vlen, void *arg)
{
	struct dkr_emit *e = arg;
	struct dkr_rec rec;

	if (dkr_hdr_decode(val, vlen, &rec) != 0 || dkr_expired(rec.expire,
								 e->now))
		return 0;
	dkr_emit(e, key, klen, rec.val, rec.vlen);
	return e->count == e->limit ? 1 : 0;
}

/* Bytewise order, a proper prefix first (daxkv's key order). */
static int dkr_keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/*
 * The last e->limit live records of [lo, hi), the greatest key first: a
 * cursor (a point in time of its own, as daxkv_scan_at's) placed at the
 * last key <= hi and moved back, so time and memory go with LIMIT, not
 * with the range.  Records are emitted as the cursor reaches them (the
 * reply copies them before the next move).
 */
static int dkr_scan_reverse(const struct dkr_range *rg, struct dkr_emit *e)
{
	daxkv_cursor *cur;
	int rc = daxkv_cursor_open(dkr.db, NULL, &cur);

	if (rc)
		return rc;
	rc = rg->hilen ? daxkv_cursor_seek(cur, rg->hi, rg->hilen,
					   DAXKV_SEEK_LE) :
			 daxkv_cursor_last(cur);
	for (; rc == 0 && e->count < e->limit; rc = daxkv_cursor_prev(cur)) {
		const void *key, *val;
		size_t klen, vlen;
		struct dkr_rec rec;

		if (daxkv_cursor_key(cur, &key, &klen) != 0 ||
		    daxkv_cursor_value(cur, &val, &vlen) != 0)
			break;
		if (rg->hilen && dkr_keycmp(key, klen, rg->hi, rg->hilen) >= 0)
			continue; /* hi itself: the range ends before it */
		if (rg->lolen && dkr_keycmp(key, klen, rg->lo, rg->lolen) < 0)
			break;
		if (dkr_hdr_decode(val, vlen, &rec) != 0 ||
		    dkr_expired(rec.expire, e->now))
			continue;
		dkr_emit(e, key, klen, rec.val, rec.vlen);
	}
	daxkv_cursor_close(cur);
	return rc == DAXKV_ENOTFOUND ? 0 : rc;
}

static int dkr_scan_run(rm_ctx *ctx, const struct dkr_range *rg,
			uint64_t limit, bool rev)
{
	struct dkr_emit e = { ctx, rm.milliseconds(), limit, 0, false };
	int rc;

	if (rev)
		rc = dkr_scan_reverse(rg, &e);
	else
		rc = daxkv_scan_at(dkr.db, NULL, rg->lolen ? rg->lo : NULL,
				   rg->lolen, rg->hilen ? rg->hi : NULL,
				   rg->hilen, dkr_scan_forward_one, &e);
	if (rc > 0)
		rc = 0; /* the limit stopped it */
	if (!e.started) {
		if (rc)
			return dkr_reply_daxkv_error(ctx, "DKV.SCAN", rc);
		return rm.reply_with_array(ctx, 0);
	}
	/* daxkv_scan_at fails only before its first record */
	rm.reply_set_array_length(ctx, (long)(2 * e.count));
	return RM_OK;
}

/* Parse [LIMIT n] [REV] from argv[i]; false after replying. */
static bool dkr_scan_options(rm_ctx *ctx, rm_string **argv, int argc, int i,
			     uint64_t *limit, bool *rev)
{
	*limit = DKR_SCAN_DEFAULT_LIMIT;
	*rev = false;
	for (; i < argc; i++) {
		if (dkr_arg_is(argv[i], "LIMIT") && i + 1 < argc) {
			if (!dkr_limit_parse(ctx, argv[++i], limit))
				return false;
		} else if (dkr_arg_is(argv[i], "REV")) {
			*rev = true;
		} else {
			size_t len;
			const char *p = rm.string_ptr_len(argv[i], &len);

			dkr_reply_errorf(ctx, "ERR daxkv: unknown option "
					 "'%.*s' (LIMIT n, REV)",
					 (int)(len < 40 ? len : 40), p);
			return false;
		}
	}
	return true;
}

int dkr_cmd_scan(rm_ctx *ctx, rm_string **argv, int argc)
{
	struct dkr_tag_range tag;
	struct dkr_range *rg;
	uint64_t limit;
	bool rev;
	size_t slen;

	if (argc < 4)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx) || !dkr_tag_parse(ctx, argv[1], &tag) ||
	    !dkr_scan_options(ctx, argv, argc, 4, &limit, &rev))
		return RM_OK;
	rg = calloc(1, sizeof(*rg));
	if (!rg)
		return dkr_reply_daxkv_error(ctx, "DKV.SCAN", DAXKV_ENOMEM);
	/* start "" is the tag's first key: the prefix itself */
	if (!dkr_bound(ctx, tag.prefix, tag.prefixlen, argv[2], rg->lo,
		       &rg->lolen))
		goto out_free;
	rm.string_ptr_len(argv[3], &slen);
	if (slen) {
		if (!dkr_bound(ctx, tag.prefix, tag.prefixlen, argv[3], rg->hi,
			       &rg->hilen))
			goto out_free;
	} else {
		/* end "": past every key that begins with "{tag}" ('}' + 1) */
		memcpy(rg->hi, tag.prefix, tag.prefixlen);
		rg->hi[tag.prefixlen - 1] = '}' + 1;
		rg->hilen = tag.prefixlen;
	}
	dkr_apply_queue(ctx);
	dkr_scan_run(ctx, rg, limit, rev);
out_free:
	free(rg);
	return RM_OK;
}

int dkr_cmd_nodescan(rm_ctx *ctx, rm_string **argv, int argc)
{
	struct dkr_range *rg;
	uint64_t limit;
	bool rev;

	if (argc < 3)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx) ||
	    !dkr_scan_options(ctx, argv, argc, 3, &limit, &rev))
		return RM_OK;
	rg = calloc(1, sizeof(*rg));
	if (!rg)
		return dkr_reply_daxkv_error(ctx, "DKV.NODESCAN", DAXKV_ENOMEM);
	if (dkr_bound(ctx, NULL, 0, argv[1], rg->lo, &rg->lolen) &&
	    dkr_bound(ctx, NULL, 0, argv[2], rg->hi, &rg->hilen)) {
		dkr_apply_queue(ctx);
		dkr_scan_run(ctx, rg, limit, rev);
	}
	free(rg);
	return RM_OK;
}
