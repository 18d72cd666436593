// SPDX-License-Identifier: MIT
/*
 * backend.c -- what every query backend may call (backend.h): its
 * per-handle state word, errors, and row buffers.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "errors.h"
#include "internal.h"

void **dk_backend_state(struct daxkv *db, int backend)
{
	return &db->backend_state[backend];
}

int dk_query_err(int code, const char *msg)
{
	return dk_err(code, "%s", msg);
}

/* ---- Row buffers ---- */

int dk_rowbuf_reserve(struct dk_rowbuf *rb, size_t bytes)
{
	size_t cap;
	uint8_t *grown;

	if (rb->cap - rb->used >= bytes)
		return 0;
	cap = rb->cap ? rb->cap : 64u << 10;
	while (cap - rb->used < bytes)
		cap *= 2;
	grown = realloc(rb->data, cap);
	if (!grown)
		return dk_err(DAXKV_ENOMEM, "no memory for %zu bytes of rows",
			      cap);
	rb->data = grown;
	rb->cap = cap;
	return 0;
}

int dk_rowbuf_add(struct dk_rowbuf *rb, const struct dk_rec *rec)
{
	size_t size = dk_rec_size(rec->klen, rec->vlen);
	size_t body = DK_REC_HDR_SIZE + rec->klen + rec->vlen;
	int rc = dk_rowbuf_reserve(rb, size);

	if (rc)
		return rc;
	memcpy(rb->data + rb->used, rec, body);
	memset(rb->data + rb->used + body, 0, size - body);
	rb->used += size;
	rb->nrows++;
	return rb->flush && rb->used >= DK_ROWS_FLUSH ? rb->flush(rb) : 0;
}

int dk_rowbuf_append(struct dk_rowbuf *rb, const void *recs, size_t bytes,
		     uint64_t n)
{
	int rc = dk_rowbuf_reserve(rb, bytes);

	if (rc)
		return rc;
	memcpy(rb->data + rb->used, recs, bytes);
	return dk_rowbuf_commit(rb, bytes, n);
}

int dk_rowbuf_commit(struct dk_rowbuf *rb, size_t bytes, uint64_t n)
{
	rb->used += bytes;
	rb->nrows += n;
	return rb->flush && rb->used >= DK_ROWS_FLUSH ? rb->flush(rb) : 0;
}

int dk_rowbuf_flush(struct dk_rowbuf *rb)
{
	return rb->flush && dk_rowbuf_held(rb) ? rb->flush(rb) : 0;
}

void dk_rowbuf_free(struct dk_rowbuf *rb)
{
	free(rb->data);
	memset(rb, 0, sizeof(*rb));
}
