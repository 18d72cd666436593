// SPDX-License-Identifier: MIT
/*
 * codec.c -- keys and values as text, hex or base64.
 *
 * Text is used only for bytes that JSON can carry unchanged: valid UTF-8
 * (no overlong forms, no surrogates) without NUL.  Everything else goes
 * as base64 (RFC 4648, with padding), so a dump round-trips every byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvctl.h"

static const char kv_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *kv_base64_encode(const void *data, size_t len)
{
	const uint8_t *in = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t word = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			word |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			word |= in[i + 2];
		*p++ = kv_b64[(word >> 18) & 63];
		*p++ = kv_b64[(word >> 12) & 63];
		*p++ = i + 1 < len ? kv_b64[(word >> 6) & 63] : '=';
		*p++ = i + 2 < len ? kv_b64[word & 63] : '=';
	}
	*p = '\0';
	return out;
}

static int kv_b64_value(char c)
{
	const char *pos = c ? strchr(kv_b64, c) : NULL;

	return pos ? (int)(pos - kv_b64) : -1;
}

bool kv_base64_decode(const char *text, size_t len, struct kv_buf *out)
{
	size_t pad = 0, n = 0;
	uint8_t *buf;

	if (len % 4)
		return false;
	if (len && text[len - 1] == '=')
		pad++;
	if (len > 1 && text[len - 2] == '=')
		pad++;
	buf = malloc(len / 4 * 3 + 1);
	if (!buf)
		return false;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t word = 0;

		for (size_t j = 0; j < 4; j++) {
			int v = kv_b64_value(text[i + j]);

			if (v < 0 && !(text[i + j] == '=' && i + 4 == len &&
				       j >= 4 - pad)) {
				free(buf);
				return false;
			}
			word = word << 6 | (uint32_t)(v < 0 ? 0 : v);
		}
		buf[n++] = (uint8_t)(word >> 16);
		buf[n++] = (uint8_t)(word >> 8);
		buf[n++] = (uint8_t)word;
	}
	out->data = buf;
	out->len = n - pad;
	return true;
}

static int kv_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool kv_decode(enum kv_encoding enc, const char *text, struct kv_buf *out)
{
	size_t len = strlen(text);

	out->data = NULL;
	out->len = 0;
	switch (enc) {
	case KV_ENC_BASE64:
		return kv_base64_decode(text, len, out);
	case KV_ENC_HEX:
		if (len % 2)
			return false;
		out->data = malloc(len / 2 + 1);
		if (!out->data)
			return false;
		for (size_t i = 0; i < len; i += 2) {
			int hi = kv_hex_value(text[i]), lo = kv_hex_value(text[i + 1]);

			if (hi < 0 || lo < 0) {
				free(out->data);
				out->data = NULL;
				return false;
			}
			out->data[i / 2] = (uint8_t)(hi << 4 | lo);
		}
		out->len = len / 2;
		return true;
	default:
		out->data = (uint8_t *)strdup(text);
		out->len = len;
		return out->data != NULL;
	}
}

char *kv_encode(enum kv_encoding enc, const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *in = data;
	char *out;

	switch (enc) {
	case KV_ENC_BASE64:
		return kv_base64_encode(data, len);
	case KV_ENC_HEX:
		out = malloc(len * 2 + 1);
		if (!out)
			return NULL;
		for (size_t i = 0; i < len; i++) {
			out[2 * i] = digits[in[i] >> 4];
			out[2 * i + 1] = digits[in[i] & 15];
		}
		out[len * 2] = '\0';
		return out;
	default:
		out = malloc(len + 1);
		if (!out)
			return NULL;
		memcpy(out, data, len);
		out[len] = '\0';
		return out;
	}
}

bool kv_is_text(const void *data, size_t len)
{
	const uint8_t *s = data;
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n >= len)
			return false;
		for (size_t j = 1; j <= n; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

void kv_json_add_bytes(json_object *obj, const char *name,
		       enum kv_encoding enc, const void *data, size_t len)
{
	char field[64];
	char *text;

	if (enc == KV_ENC_TEXT && kv_is_text(data, len)) {
		json_object_object_add(obj, name,
				       json_object_new_string_len(data,
								  (int)len));
		return;
	}
	if (enc == KV_ENC_TEXT)
		enc = KV_ENC_BASE64;
	snprintf(field, sizeof(field), "%s_%s", name,
		 enc == KV_ENC_HEX ? "hex" : "base64");
	text = kv_encode(enc, data, len);
	json_object_object_add(obj, field, json_object_new_string(text ? text : ""));
	free(text);
}
