// SPDX-License-Identifier: MIT
/*
 * resp.c -- just enough of a Redis client for kvctl cluster: a TCP
 * connection, commands as arrays of bulk strings, and RESP2 replies
 * parsed into a tree.
 *
 * The server is not trusted to be sane: every length is checked against
 * a limit before anything is allocated, nesting is bounded, and reads and
 * writes time out, so a wrong port or a stuck node gives an error that
 * names HOST:PORT instead of a hang or a crash.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "resp.h"

#define KV_RESP_MAX_BULK (512ull << 20) /* Redis's own proto-max-bulk-len */
#define KV_RESP_MAX_ELEMS (64ull << 20)
#define KV_RESP_MAX_DEPTH 8
#define KV_RESP_LINE_MAX 65536

struct kv_conn {
	int fd;
	int timeout_ms;
	char name[300];    /* "host:port", for messages */
	char err[512];     /* the last error */
	uint8_t buf[65536];
	size_t start, end; /* unread bytes are buf[start, end) */
};

static void kv_conn_fail(struct kv_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void kv_conn_fail(struct kv_conn *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, sizeof(c->err), "%s: ", c->name);

	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

const char *kv_conn_error(const struct kv_conn *c)
{
	return c->err;
}

const char *kv_conn_name(const struct kv_conn *c)
{
	return c->name;
}

static int kv_wait(struct kv_conn *c, short events)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	int rc;

	do
		rc = poll(&p, 1, c->timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0) {
		kv_conn_fail(c, "no answer within %d ms", c->timeout_ms);
		return -1;
	}
	if (rc < 0) {
		kv_conn_fail(c, "poll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int kv_conn_open(const char *host, const char *port, int timeout_ms,
		 struct kv_conn **out, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	struct kv_conn *c;
	int rc, fd = -1;

	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(c->name, sizeof(c->name), "%s:%s", host, port);
	c->timeout_ms = timeout_ms;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "%s: %s", c->name, gai_strerror(rc));
		free(c);
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot connect: %s", c->name,
			 strerror(errno));
		free(c);
		return -1;
	}
	c->fd = fd;
	*out = c;
	return 0;
}

void kv_conn_close(struct kv_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

static int kv_write_all(struct kv_conn *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n;

		if (kv_wait(c, POLLOUT))
			return -1;
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			kv_conn_fail(c, "send: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kv_conn_send(struct kv_conn *c, int argc, const char *const *argv,
		 const size_t *lens)
{
	char head[64];
	int n;

	n = snprintf(head, sizeof(head), "*%d\r\n", argc);
	if (kv_write_all(c, head, (size_t)n))
		return -1;
	for (int i = 0; i < argc; i++) {
		size_t len = lens ? lens[i] : strlen(argv[i]);

		n = snprintf(head, sizeof(head), "$%zu\r\n", len);
		if (kv_write_all(c, head, (size_t)n) ||
		    kv_write_all(c, argv[i], len) ||
		    kv_write_all(c, "\r\n", 2))
			return -1;
	}
	return 0;
}

/* At least @p need unread bytes in the buffer (need <= its size). */
static int kv_fill(struct kv_conn *c, size_t need)
{
	if (c->end - c->start >= need)
		return 0;
	if (c->start) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	while (c->end < need) {
		ssize_t n;

		if (kv_wait(c, POLLIN))
			return -1;
		n = recv(c->fd, c->buf + c->end, sizeof(c->buf) - c->end, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			kv_conn_fail(c, "connection closed by the server");
			return -1;
		}
		if (n < 0) {
			kv_conn_fail(c, "recv: %s", strerror(errno));
			return -1;
		}
		c->end += (size_t)n;
	}
	return 0;
}

/* One line without its CRLF into @p line (NUL-terminated). */
static int kv_read_line(struct kv_conn *c, char *line, size_t cap)
{
	size_t want = 1;

	for (;;) {
		uint8_t *nl;

		if (kv_fill(c, want))
			return -1;
		nl = memchr(c->buf + c->start, '\n', c->end - c->start);
		if (nl) {
			size_t len = (size_t)(nl - (c->buf + c->start));

			if (len == 0 || c->buf[c->start + len - 1] != '\r' ||
			    len > cap) {
				kv_conn_fail(c, "malformed reply line");
				return -1;
			}
			memcpy(line, c->buf + c->start, len - 1);
			line[len - 1] = '\0';
			c->start += len + 1;
			return 0;
		}
		want = c->end - c->start + 1;
		if (want > KV_RESP_LINE_MAX || want > sizeof(c->buf)) {
			kv_conn_fail(c, "reply line longer than %d bytes",
				     KV_RESP_LINE_MAX);
			return -1;
		}
	}
}

static int kv_parse_len(struct kv_conn *c, const char *text, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text || *end) {
		kv_conn_fail(c, "bad length '%.20s' in a reply", text);
		return -1;
	}
	*out = v;
	return 0;
}

static int kv_read_bytes(struct kv_conn *c, uint8_t *dst, size_t len)
{
	while (len) {
		size_t chunk;

		if (kv_fill(c, 1))
			return -1;
		chunk = c->end - c->start;
		if (chunk > len)
			chunk = len;
		memcpy(dst, c->buf + c->start, chunk);
		c->start += chunk;
		dst += chunk;
		len -= chunk;
	}
	return 0;
}

static int kv_read_reply_depth(struct kv_conn *c, struct kv_reply *r,
			       int depth)
{
	char line[KV_RESP_LINE_MAX];
	long long len;
	uint8_t crlf[2];

	memset(r, 0, sizeof(*r));
	if (depth > KV_RESP_MAX_DEPTH) {
		kv_conn_fail(c, "reply nested deeper than %d",
			     KV_RESP_MAX_DEPTH);
		return -1;
	}
	if (kv_read_line(c, line, sizeof(line)))
		return -1;
	switch (line[0]) {
	case '+':
	case '-':
		r->type = line[0] == '+' ? KV_REPLY_STATUS : KV_REPLY_ERROR;
		r->len = strlen(line + 1);
		r->str = strdup(line + 1);
		if (!r->str)
			goto out_nomem;
		return 0;
	case ':':
		r->type = KV_REPLY_INTEGER;
		return kv_parse_len(c, line + 1, &r->integer);
	case '$':
		if (kv_parse_len(c, line + 1, &len))
			return -1;
		if (len < 0) {
			r->type = KV_REPLY_NIL;
			return 0;
		}
		if ((unsigned long long)len > KV_RESP_MAX_BULK) {
			kv_conn_fail(c, "bulk reply of %lld bytes", len);
			return -1;
		}
		r->type = KV_REPLY_STRING;
		r->len = (size_t)len;
		r->str = malloc(r->len + 1);
		if (!r->str)
			goto out_nomem;
		if (kv_read_bytes(c, (uint8_t *)r->str, r->len) ||
		    kv_read_bytes(c, crlf, 2))
			return -1;
		r->str[r->len] = '\0';
		if (crlf[0] != '\r' || crlf[1] != '\n') {
			kv_conn_fail(c, "bulk reply not followed by CRLF");
			return -1;
		}
		return 0;
	case '*':
		if (kv_parse_len(c, line + 1, &len))
			return -1;
		if (len < 0) {
			r->type = KV_REPLY_NIL;
			return 0;
		}
		if ((unsigned long long)len > KV_RESP_MAX_ELEMS) {
			kv_conn_fail(c, "array reply of %lld elements", len);
			return -1;
		}
		r->type = KV_REPLY_ARRAY;
		r->elems = calloc(len ? (size_t)len : 1, sizeof(*r->elems));
		if (!r->elems)
			goto out_nomem;
		for (long long i = 0; i < len; i++) {
			r->n = (size_t)i + 1; /* what kv_reply_free frees */
			if (kv_read_reply_depth(c, &r->elems[i], depth + 1))
				return -1;
		}
		return 0;
	default:
		kv_conn_fail(c, "reply of unknown type '%c'", line[0]);
		return -1;
	}
out_nomem:
	kv_conn_fail(c, "out of memory for a reply");
	return -1;
}

int kv_conn_read(struct kv_conn *c, struct kv_reply *r)
{
	int rc = kv_read_reply_depth(c, r, 0);

	if (rc)
		kv_reply_free(r);
	return rc;
}

int kv_conn_command(struct kv_conn *c, int argc, const char *const *argv,
		    const size_t *lens, struct kv_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (kv_conn_send(c, argc, argv, lens))
		return -1;
	return kv_conn_read(c, r);
}

void kv_reply_free(struct kv_reply *r)
{
	if (!r)
		return;
	free(r->str);
	for (size_t i = 0; i < r->n; i++)
		kv_reply_free(&r->elems[i]);
	free(r->elems);
	memset(r, 0, sizeof(*r));
}
