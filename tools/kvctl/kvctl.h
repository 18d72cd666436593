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
/* Same; *errp gets daxkv_open's code. */
int kv_open_err(const char *dir, daxkv **dbp, int *errp);
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

/* Subcommands. */
int kv_cmd_create(int argc, char **argv);
int kv_cmd_info(int argc, char **argv);
int kv_cmd_stats(int argc, char **argv);
int kv_cmd_check(int argc, char **argv);
int kv_cmd_get(int argc, char **argv);
int kv_cmd_put(int argc, char **argv);
int kv_cmd_del(int argc, char **argv);
int kv_cmd_scan(int argc, char **argv);
int kv_cmd_dump(int argc, char **argv);
int kv_cmd_load(int argc, char **argv);
int kv_cmd_devices(int argc, char **argv);
int kv_cmd_mirror(int argc, char **argv);

/* pmem.c: where a directory lives (file system, DAX, namespace). */
json_object *kv_placement(const char *dir);
void kv_placement_print(json_object *placement);

#endif
