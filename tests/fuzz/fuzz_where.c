// SPDX-License-Identifier: MIT
/*
 * fuzz_where.c -- libFuzzer target for kvctl query's expression parser
 * (tools/kvctl/where.c).  The input is one --where expression and one
 * aggregate field spec.  What must hold:
 * - a parse that succeeds yields a predicate the library accepts (known
 *   type and operator, a width the type allows, the field within
 *   DAXKV_QUERY_FIELD_LIMIT, an operand that fits the width), and its
 *   canonical text (kv_where_format) parses back to the same predicate;
 * - a parse that fails says "column N: ..." with N inside the expression
 *   (or just past its end), and never writes past a small error buffer.
 * Built only where kvctl exists (it needs json-c for kvctl.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool width_ok(uint32_t type, uint32_t width)
{
	if (type == DAXKV_FIELD_BYTES)
		return width >= 1 && width <= DAXKV_QUERY_MAX_BYTES;
	return width == 1 || width == 2 || width == 4 || width == 8;
}

static void check_error(const char *text, const char *err)
{
	unsigned long col;
	char *end;

	if (strncmp(err, "column ", 7) != 0)
		abort(); /* every error says where */
	col = strtoul(err + 7, &end, 10);
	if (col < 1 || col > strlen(text) + 1 || *end != ':')
		abort(); /* the column is inside the text */
}

static void check_pred(const struct kv_where *w)
{
	const struct daxkv_pred *p = &w->pred;

	if (p->type < DAXKV_FIELD_UINT || p->type > DAXKV_FIELD_BYTES ||
	    p->op < DAXKV_OP_EQ || p->op > DAXKV_OP_GE ||
	    !width_ok(p->type, p->width) ||
	    (uint64_t)p->offset + p->width > DAXKV_QUERY_FIELD_LIMIT)
		abort();
	if (p->type == DAXKV_FIELD_UINT && p->width < 8 &&
	    (p->uval >> (8 * p->width)) != 0)
		abort();
	if (p->type == DAXKV_FIELD_INT && p->width < 8) {
		int64_t lim = (int64_t)1 << (8 * p->width - 1);

		if (p->ival < -lim || p->ival >= lim)
			abort();
	}
	if ((p->type == DAXKV_FIELD_BYTES) != (p->bytes == w->bytes))
		abort();
}

static void where_roundtrip(const struct kv_where *w)
{
	struct kv_where again;
	char text[256], err[KV_WHERE_ERR_MAX];

	kv_where_format(w, text, sizeof(text));
	if (!kv_where_parse(text, &again, err, sizeof(err)))
		abort(); /* its own canonical form refused */
	if (again.pred.type != w->pred.type || again.pred.op != w->pred.op ||
	    again.pred.offset != w->pred.offset ||
	    again.pred.width != w->pred.width ||
	    again.pred.uval != w->pred.uval ||
	    again.pred.ival != w->pred.ival ||
	    (w->pred.type == DAXKV_FIELD_BYTES &&
	     memcmp(again.bytes, w->bytes, w->pred.width) != 0))
		abort(); /* the round trip changed the predicate */
}

static void field_roundtrip(const struct kv_field *f)
{
	struct kv_field again;
	char text[64], err[KV_WHERE_ERR_MAX];

	if (f->type == DAXKV_FIELD_BYTES || !width_ok(f->type, f->width) ||
	    (uint64_t)f->offset + f->width > DAXKV_QUERY_FIELD_LIMIT)
		abort();
	kv_field_format(f, text, sizeof(text));
	if (!kv_field_parse(text, &again, err, sizeof(err)) ||
	    memcmp(&again, f, sizeof(again)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *tiny;
	char err[KV_WHERE_ERR_MAX];
	struct kv_where w;
	struct kv_field f;
	size_t tiny_len;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (kv_where_parse(text, &w, err, sizeof(err))) {
		check_pred(&w);
		where_roundtrip(&w);
	} else {
		check_error(text, err);
	}
	if (kv_field_parse(text, &f, err, sizeof(err)))
		field_roundtrip(&f);
	else
		check_error(text, err);

	/* an error buffer of 0..15 bytes, exactly sized so ASan sees any
	 * write past it */
	tiny_len = size ? data[0] % 16 : 0;
	tiny = malloc(tiny_len ? tiny_len : 1);
	if (tiny) {
		kv_where_parse(text, &w, tiny_len ? tiny : NULL, tiny_len);
		kv_field_parse(text, &f, tiny_len ? tiny : NULL, tiny_len);
		if (tiny_len && !memchr(tiny, '\0', tiny_len))
			abort(); /* the message must be terminated */
		free(tiny);
	}
	free(text);
	return 0;
}
