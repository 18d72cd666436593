/* SPDX-License-Identifier: MIT */
/* kvctl.h -- what the subcommands of kvctl share. */
#ifndef KVCTL_H
#define KVCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daxkv.h"

/* Exit codes, documented in kvctl(1). */
enum {
	KV_EXIT_OK = 0,
	KV_EXIT_PROBLEMS = 1, /* problems found, or the operation failed */
	KV_EXIT_USAGE = 2,    /* bad command line */
	KV_EXIT_NOOPEN = 3,   /* cannot open: busy, permission, not a db */
};

/*
 * Flags every open of kvctl adds: no background thread.  A command does
 * what it says and no more: info and stats describe the database as it
 * is, put and load do not start copying segments behind the user's back,
 * and only `kvctl compact` compacts (a write that meets ENOSPC still
 * compacts and retries, as daxkv does for every open); nor are segment
 * files made ahead of need, which a command that ends soon never uses.
 */
#define KV_OPEN_FLAGS DAXKV_OPEN_NOBACKGROUND

/* How keys and values are written and read on the command line. */
enum kv_encoding {
	KV_ENC_TEXT = 0,
	KV_ENC_HEX,
	KV_ENC_BASE64,
};

struct kv_buf {
	uint8_t *data;
	size_t len;
};

/* kvctl.c */
extern const char *kv_prog;
int kv_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Message for a failed daxkv call and the exit code it maps to. */
int kv_fail(const char *what, int err);
int kv_open(const char *dir, daxkv **dbp);
/* Same; *errp gets daxkv_open's code (errp may be NULL). */
int kv_open_err(const char *dir, daxkv **dbp, int *errp);
/* Open read-only (DAXKV_OPEN_RDONLY): what the inspecting commands (info,
 * stats, get, scan, dump, query, backup) use, so that they change nothing
 * and run beside each other. */
int kv_open_rdonly(const char *dir, daxkv **dbp, int *errp);
int kv_open_flags(const char *dir, uint32_t flags, daxkv **dbp, int *errp);
int kv_close(daxkv *db);
void kv_json_print(json_object *obj);
bool kv_parse_size(const char *text, uint64_t *out);
bool kv_parse_u64(const char *text, uint64_t *out);
/* Common help line: print @p text and return 0. */
int kv_help(const char *text);

/* codec.c */
bool kv_decode(enum kv_encoding enc, const char *text, struct kv_buf *out);
char *kv_encode(enum kv_encoding enc, const void *data, size_t len);
bool kv_base64_decode(const char *text, size_t len, struct kv_buf *out);
char *kv_base64_encode(const void *data, size_t len);
bool kv_is_text(const void *data, size_t len);
/* Add bytes as "name" (valid UTF-8 without NUL, text encoding),
 * "name_hex" or "name_base64". */
void kv_json_add_bytes(json_object *obj, const char *name,
		       enum kv_encoding enc, const void *data, size_t len);

/* where.c: --where expressions and aggregate fields of kvctl query
 * (kvctl(1), FILTER EXPRESSIONS).  Pure functions, no database: the
 * fuzz target tests/fuzz/fuzz_where.c calls them on any bytes. */
#define KV_WHERE_ERR_MAX 256 /* enough for any message of where.c */

/* A field of the value: DAXKV_FIELD_*, byte offset, width in bytes. */
struct kv_field {
	uint32_t type;
	uint32_t offset;
	uint32_t width;
};

/* A parsed expression.  pred.bytes points into bytes[] (bytesN), so a
 * kv_where must stay where it was parsed. */
struct kv_where {
	struct daxkv_pred pred;
	uint8_t bytes[DAXKV_QUERY_MAX_BYTES];
};

/* Parse "TYPE@OFFSET OP OPERAND".  False on error, with "column N: what"
 * in @p err (N counts bytes of @p expr from 1). */
bool kv_where_parse(const char *expr, struct kv_where *out, char *err,
		    size_t errlen);
/* Parse "TYPE@OFFSET" of an integer type (--sum, --min, --max). */
bool kv_field_parse(const char *spec, struct kv_field *out, char *err,
		    size_t errlen);
/* Canonical text, which parses back to the same: "u32@0 > 100",
 * "i8@4 == -1", "bytes2@8 != 0x00ff"; "u64@8". */
void kv_where_format(const struct kv_where *w, char *buf, size_t len);
void kv_field_format(const struct kv_field *f, char *buf, size_t len);

/* data.c: shared with query.c. */
/* -1 when argc - optind is in [min, max], else a usage error's code. */
int kv_need_args(int argc, char **argv, int min, int max,
		 const char *synopsis);
/* Decode a key given on the command line; -1 when it decodes, else a
 * usage error's code. */
int kv_decode_arg(const char *cmd, enum kv_encoding enc, const char *what,
		  const char *text, struct kv_buf *out);
void kv_print_bytes(enum kv_encoding enc, const void *data, size_t len);
int kv_keycmp(const struct kv_buf *a, const struct kv_buf *b);
/* The first key after every key starting with @p prefix (allocated into
 * @p end); false if there is none. */
bool kv_prefix_end(const struct kv_buf *prefix, struct kv_buf *end);

/* Subcommands. */
int kv_cmd_create(int argc, char **argv);
int kv_cmd_info(int argc, char **argv);
int kv_cmd_stats(int argc, char **argv);
int kv_cmd_compact(int argc, char **argv);
int kv_cmd_backup(int argc, char **argv);
int kv_cmd_check(int argc, char **argv);
int kv_cmd_get(int argc, char **argv);
int kv_cmd_put(int argc, char **argv);
int kv_cmd_del(int argc, char **argv);
int kv_cmd_scan(int argc, char **argv);
int kv_cmd_dump(int argc, char **argv);
int kv_cmd_load(int argc, char **argv);
int kv_cmd_devices(int argc, char **argv);
int kv_cmd_mirror(int argc, char **argv);
int kv_cmd_query(int argc, char **argv);
int kv_cmd_cluster(int argc, char **argv);

/* pmem.c: where a directory lives (file system, DAX, namespace). */
json_object *kv_placement(const char *dir);
void kv_placement_print(json_object *placement);

#endif
