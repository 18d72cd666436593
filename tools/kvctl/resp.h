/* SPDX-License-Identifier: MIT */
/* resp.h -- a minimal Redis (RESP2) client for kvctl cluster (resp.c). */
#ifndef KVCTL_RESP_H
#define KVCTL_RESP_H

#include <stddef.h>

enum kv_reply_type {
	KV_REPLY_NONE = 0,
	KV_REPLY_STATUS,  /* +OK: str */
	KV_REPLY_ERROR,   /* -ERR ...: str */
	KV_REPLY_INTEGER, /* integer */
	KV_REPLY_STRING,  /* bulk: str, len (NUL-terminated too) */
	KV_REPLY_NIL,
	KV_REPLY_ARRAY,   /* elems, n */
};

struct kv_reply {
	enum kv_reply_type type;
	long long integer;
	char *str;
	size_t len;
	struct kv_reply *elems;
	size_t n;
};

struct kv_conn;

/* Connect; on failure -1 with a message naming HOST:PORT in @p err. */
int kv_conn_open(const char *host, const char *port, int timeout_ms,
		 struct kv_conn **out, char *err, size_t errlen);
void kv_conn_close(struct kv_conn *c);
/* Send a command (@p lens NULL: C strings); -1 on a connection error. */
int kv_conn_send(struct kv_conn *c, int argc, const char *const *argv,
		 const size_t *lens);
/* Read one reply; -1 on a connection or protocol error. */
int kv_conn_read(struct kv_conn *c, struct kv_reply *r);
/* Send and read. */
int kv_conn_command(struct kv_conn *c, int argc, const char *const *argv,
		    const size_t *lens, struct kv_reply *r);
/* "HOST:PORT: what went wrong" of the last failure. */
const char *kv_conn_error(const struct kv_conn *c);
const char *kv_conn_name(const struct kv_conn *c);
void kv_reply_free(struct kv_reply *r);

#endif
