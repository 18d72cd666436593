// SPDX-License-Identifier: MIT
/*
 * record.c -- the module's records in daxkv: header, reads, writes, ids,
 * and the error replies that carry daxkv's message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dkr.h"

_Static_assert(DKR_HDR_SIZE == DKR_OFF_EXPIRE + 8, "header layout");
_Static_assert(sizeof(DKR_MAGIC) - 1 == 4, "magic is 4 bytes");

static void dkr_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void dkr_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t dkr_get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t dkr_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void dkr_hdr_encode(uint8_t *hdr, uint64_t id, uint64_t expire)
{
	memcpy(hdr, DKR_MAGIC, 4);
	dkr_put_le32(hdr + 4, DKR_FORMAT);
	dkr_put_le64(hdr + DKR_OFF_ID, id);
	dkr_put_le64(hdr + DKR_OFF_EXPIRE, expire);
}

int dkr_hdr_decode(const void *data, size_t len, struct dkr_rec *out)
{
	const uint8_t *p = data;

	if (len < DKR_HDR_SIZE || memcmp(p, DKR_MAGIC, 4) != 0 ||
	    dkr_get_le32(p + 4) != DKR_FORMAT)
		return DKR_EFOREIGN;
	out->id = dkr_get_le64(p + DKR_OFF_ID);
	out->expire = dkr_get_le64(p + DKR_OFF_EXPIRE);
	if (out->id == 0)
		return DKR_EFOREIGN;
	out->val = p + DKR_HDR_SIZE;
	out->vlen = len - DKR_HDR_SIZE;
	return 0;
}

int dkr_record_get_at(const daxkv_snapshot *snap, const void *key,
		      size_t klen, struct dkr_rec *out)
{
	size_t len;
	int rc;

	rc = daxkv_get_at(dkr.db, snap, key, klen, dkr.rbuf, DAXKV_MAX_VALUE,
			  &len);
	if (rc)
		return rc;
	return dkr_hdr_decode(dkr.rbuf, len, out);
}

int dkr_record_get(const void *key, size_t klen, struct dkr_rec *out)
{
	return dkr_record_get_at(NULL, key, klen, out);
}

int dkr_record_put(const void *key, size_t klen, uint64_t id,
		   uint64_t expire, const void *val, size_t vlen)
{
	if (vlen > DKR_MAX_VALUE)
		return DAXKV_EINVAL;
	dkr_hdr_encode(dkr.wbuf, id, expire);
	if (vlen)
		memcpy(dkr.wbuf + DKR_HDR_SIZE, val, vlen);
	return daxkv_put(dkr.db, key, klen, dkr.wbuf, DKR_HDR_SIZE + vlen);
}

uint64_t dkr_new_id(void)
{
	return dkr.next_id++;
}

uint64_t dkr_expire_from_redis(long long ms)
{
	if (ms == RM_NO_EXPIRE || ms < 0)
		return DKR_EXPIRE_NONE;
	return (uint64_t)ms;
}

long long dkr_expire_to_redis(uint64_t expire)
{
	if (expire == DKR_EXPIRE_NONE || expire > (uint64_t)INT64_MAX)
		return RM_NO_EXPIRE;
	return (long long)expire;
}

bool dkr_expired(uint64_t expire, long long now_ms)
{
	return expire != DKR_EXPIRE_NONE && now_ms >= 0 &&
	       expire <= (uint64_t)now_ms;
}

/* Redis error replies are one line: newlines become blanks. */
static void dkr_one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			*s = ' ';
}

int dkr_reply_errorf(rm_ctx *ctx, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dkr_one_line(msg);
	return rm.reply_with_error(ctx, msg);
}

int dkr_reply_daxkv_error(rm_ctx *ctx, const char *what, int rc)
{
	const char *detail = daxkv_errmsg();

	if (rc == DKR_EFOREIGN)
		return dkr_reply_errorf(ctx, "ERR daxkv: %s: the record has no "
					"daxkv_redis header (not written by "
					"this module)", what);
	return dkr_reply_errorf(ctx, "ERR daxkv: %s: %s%s%s", what,
				daxkv_strerror(rc), *detail ? ": " : "",
				detail);
}

bool dkr_arg_is(rm_string *arg, const char *word)
{
	size_t len;
	const char *p = rm.string_ptr_len(arg, &len);

	return len == strlen(word) && strncasecmp(p, word, len) == 0;
}
