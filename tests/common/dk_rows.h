/* SPDX-License-Identifier: MIT */
/*
 * dk_rows.h -- the rows of a ROWS query, kept whole (key and value bytes)
 * so that two backends' answers can be compared byte for byte.
 */
#ifndef DK_ROWS_H
#define DK_ROWS_H

#include <stdbool.h>

#include "dk_test.h"

struct dk_row {
	size_t klen, vlen;
	unsigned char *bytes; /* key, then value */
};

struct dk_rowset {
	size_t n, cap;
	struct dk_row *rows;
};

static inline int dk_rows_collect(const struct daxkv_row *rows, size_t n,
				  void *arg)
{
	struct dk_rowset *rs = arg;

	for (size_t i = 0; i < n; i++) {
		struct dk_row *r;

		if (rs->n == rs->cap) {
			rs->cap = rs->cap ? 2 * rs->cap : 1024;
			rs->rows = realloc(rs->rows, rs->cap * sizeof(*r));
			CHECK(rs->rows);
		}
		r = &rs->rows[rs->n++];
		r->klen = rows[i].klen;
		r->vlen = rows[i].vlen;
		r->bytes = malloc(r->klen + r->vlen + 1);
		CHECK(r->bytes);
		memcpy(r->bytes, rows[i].key, r->klen);
		memcpy(r->bytes + r->klen, rows[i].val, r->vlen);
	}
	return 0;
}

static inline int dk_row_cmp(const void *a, const void *b)
{
	const struct dk_row *x = a, *y = b;
	size_t k = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->bytes, y->bytes, k);

	if (c)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static inline void dk_rowset_free(struct dk_rowset *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->rows[i].bytes);
	free(rs->rows);
	memset(rs, 0, sizeof(*rs));
}

static inline bool dk_row_same(const struct dk_row *a, const struct dk_row *b)
{
	return a->klen == b->klen && a->vlen == b->vlen &&
	       memcmp(a->bytes, b->bytes, a->klen + a->vlen) == 0;
}

/* Equal as sets (sorted first when @p sort), every byte. */
static inline void dk_rowset_same(struct dk_rowset *a, struct dk_rowset *b,
				  bool sort)
{
	CHECK_EQ(a->n, b->n);
	if (sort) {
		qsort(a->rows, a->n, sizeof(struct dk_row), dk_row_cmp);
		qsort(b->rows, b->n, sizeof(struct dk_row), dk_row_cmp);
	}
	for (size_t i = 0; i < a->n; i++)
		if (!dk_row_same(&a->rows[i], &b->rows[i]))
			DK_FAIL("row %zu differs (key %.*s)", i,
				(int)a->rows[i].klen, a->rows[i].bytes);
}

/* Every row of @p part is one of sorted @p all, none twice. */
static inline void dk_rowset_within(struct dk_rowset *part,
				    const struct dk_rowset *all)
{
	qsort(part->rows, part->n, sizeof(struct dk_row), dk_row_cmp);
	for (size_t i = 0; i < part->n; i++) {
		const struct dk_row *hit =
		    bsearch(&part->rows[i], all->rows, all->n,
			    sizeof(struct dk_row), dk_row_cmp);

		CHECK(hit && dk_row_same(hit, &part->rows[i]));
		if (i)
			CHECK(dk_row_cmp(&part->rows[i - 1], &part->rows[i]) <
			      0);
	}
}

#endif
