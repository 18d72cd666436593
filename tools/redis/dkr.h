/* SPDX-License-Identifier: MIT */
/*
 * dkr.h -- what the files of daxkv_redis (the Redis module) share.
 *
 * Design (docs/redis.md has the user's view).  Keys live in Redis's
 * keyspace, values in daxkv.  A key of the module's type "daxkv-val"
 * holds a small handle (struct dkr_handle): an id, nothing else that
 * matters.  The daxkv database of the node holds, under the same key
 * bytes, a record: a 24-byte header (format below) and the value.  The
 * invariant the module keeps, on masters and replicas alike:
 *
 *   every key of the type in db 0 has exactly one daxkv record under its
 *   name whose header carries the handle's id, and every record has such
 *   a key.
 *
 * Why an id: Redis replaces and removes values in orders the module does
 * not choose (RENAME adds the destination before it deletes the source;
 * RESTORE REPLACE and COPY REPLACE load the new value before they unlink
 * the old one).  The unlink callback therefore never deletes a record by
 * name alone: it queues (name, id), and the queue is applied after the
 * command's own notification, deleting a record only if its own header
 * still carries that id (a record is proven dead by its own bytes).
 *
 * At restart daxkv is the source of truth: the node runs without RDB and
 * AOF, and the module recreates every key (with its expiry) from the
 * records when it loads.  A full resync first flushes (the FLUSHDB
 * event: every record is deleted) and then loads the master's keys
 * through the type's rdb_load, which writes each record.  The child that
 * Redis forks to send a replica its keys reads at a daxkv snapshot that
 * the parent opened just before fork() (pthread_atfork) and closes when
 * the child dies (the FORK_CHILD event).
 *
 * Threads: everything runs on Redis's main thread except the query
 * workers (query.c), which only read (daxkv_query at their own
 * snapshot), and the free callback, which Redis may call from its
 * lazyfree thread (it only frees memory and counts).
 */
#ifndef DKR_H
#define DKR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daxkv.h"
#include "rm_api.h"

#define DKR_MODULE_NAME "daxkv"
#define DKR_MODULE_VERSION 1
#define DKR_TYPE_NAME "daxkv-val" /* exactly 9 characters (Redis) */
#define DKR_TYPE_ENCVER 1
#define DKR_TESTED_WITH "Redis 7.0.15 (Debian 12)"

/*
 * Record header, at the start of every daxkv value the module writes.
 * Fixed-width little-endian fields.
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      4    magic "DKRV"
 *   4      4    format version (1)
 *   8      8    id of the handle the record belongs to (never 0)
 *   16     8    expiry, absolute Unix time in ms; DKR_EXPIRE_NONE = none
 *   24     ...  the value, as given to DKV.SET
 *
 * The expiry is a u64 so that "not expired at time T" is one pushed-down
 * predicate, u64@16 > T, which DKR_EXPIRE_NONE always passes.
 */
#define DKR_MAGIC "DKRV"
#define DKR_FORMAT 1u
#define DKR_OFF_ID 8u
#define DKR_OFF_EXPIRE 16u
#define DKR_HDR_SIZE 24u
#define DKR_EXPIRE_NONE UINT64_MAX
#define DKR_MAX_VALUE (DAXKV_MAX_VALUE - DKR_HDR_SIZE)

/* Our own "not ours" code, beside the daxkv codes. */
#define DKR_EFOREIGN (-30999)

/* A record as read from daxkv (pointers into dkr.rbuf). */
struct dkr_rec {
	uint64_t id;
	uint64_t expire;
	const uint8_t *val;
	size_t vlen;
};

/* The value of a key of the module's type. */
struct dkr_handle {
	uint64_t id;
	uint32_t vlen;
	uint32_t pending; /* 1: RESTOREd, record not written yet */
	uint8_t *record;  /* pending: header + value, else NULL */
};

/* Query backends and limits. */
#define DKR_SCAN_DEFAULT_LIMIT 1000u
#define DKR_SCAN_MAX_LIMIT 100000u

/* A key queued for deletion by the unlink callback. */
struct dkr_del {
	uint8_t *key;
	size_t klen;
	uint64_t id;
};

/* A key whose handle is pending (RESTOREd, not yet persisted). */
struct dkr_name {
	uint8_t *key;
	size_t klen;
};

enum dkr_loading {
	DKR_LOADING_NONE = 0,
	DKR_LOADING_FILE = 1, /* RDB/AOF at start or DEBUG RELOAD: refused */
	DKR_LOADING_REPL = 2, /* a full resync from the master */
};

struct dkr_state {
	daxkv *db;
	char *dir;
	rm_type *type;
	uint64_t next_id;        /* ids of new handles */
	/* options */
	int backend;             /* enum daxkv_backend of queries */
	uint32_t query_threads;  /* CPU threads of one query */
	uint32_t query_workers;  /* worker threads */
	/* main-thread scratch: reads, and records being written */
	uint8_t *rbuf, *wbuf;
	/* unlink queue (type.c) */
	struct dkr_del *dels;
	size_t ndels, dels_cap;
	/* RESTOREd keys whose records could not be written yet */
	struct dkr_name *restores;
	size_t nrestores, restores_cap;
	long long retry_after_ms; /* after a failure, retry no sooner */
	/* the source of the RENAME being notified */
	uint8_t *rename_from;
	size_t rename_from_len;
	bool rename_from_set;
	int loading;             /* enum dkr_loading */
	/* fork */
	daxkv_snapshot *fork_snap;
	bool in_child;
	/* counters for DKV.INFO */
	uint64_t handles;        /* live handles (atomic: lazyfree frees) */
	uint64_t rebuilt_keys, flushes, repl_loads, fork_snaps;
	uint64_t restores_written, renames, deletes_applied, deletes_stale;
	uint64_t errors;
};

extern struct dkr_state dkr;

/* record.c */
void dkr_hdr_encode(uint8_t *hdr, uint64_t id, uint64_t expire);
/* 0 or DKR_EFOREIGN when @p data is not a record of ours. */
int dkr_hdr_decode(const void *data, size_t len, struct dkr_rec *out);
/* Read @p key's record at @p snap (NULL: now) into dkr.rbuf. */
int dkr_record_get_at(const daxkv_snapshot *snap, const void *key,
		      size_t klen, struct dkr_rec *out);
int dkr_record_get(const void *key, size_t klen, struct dkr_rec *out);
/* Write a record (durable when it returns 0). */
int dkr_record_put(const void *key, size_t klen, uint64_t id,
		   uint64_t expire, const void *val, size_t vlen);
uint64_t dkr_new_id(void);
/* Expiry of Redis (ms, or RM_NO_EXPIRE) as a header's, and back. */
uint64_t dkr_expire_from_redis(long long ms);
long long dkr_expire_to_redis(uint64_t expire);
bool dkr_expired(uint64_t expire, long long now_ms);
/* "ERR daxkv: DAXKV_E...: detail" for @p rc (one line). */
int dkr_reply_daxkv_error(rm_ctx *ctx, const char *what, int rc);
/* printf into a reply error. */
int dkr_reply_errorf(rm_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* type.c: the data type, the unlink queue, keyspace and server events */
int dkr_type_register(rm_ctx *ctx);
struct dkr_handle *dkr_handle_new(uint64_t id, size_t vlen);
/* The handle of an open key, NULL when the key holds another type. */
struct dkr_handle *dkr_key_handle(rm_key *key);
bool dkr_key_is_ours(rm_key *key);
/* Apply the unlink queue (and retry pending RESTOREs); 0 or a daxkv
 * error of the first record that could not be deleted (it stays
 * queued). */
int dkr_apply_queue(rm_ctx *ctx);
int dkr_events_register(rm_ctx *ctx);
/* Recreate the keyspace from daxkv (at load). */
int dkr_rebuild(rm_ctx *ctx, char *err, size_t errlen);

/* commands */
int dkr_cmd_set(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_get(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_del(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_mset(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_mget(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_scan(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_nodescan(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_query(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_nodequery(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_info(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_check(rm_ctx *ctx, rm_string **argv, int argc);
int dkr_cmd_digest(rm_ctx *ctx, rm_string **argv, int argc);
/* Common start of every command: refuse outside db 0 or when closed;
 * false after replying with the error. */
bool dkr_command_ok(rm_ctx *ctx);

/* query.c */
int dkr_workers_start(char *err, size_t errlen);
void dkr_workers_stop(void);
uint64_t dkr_queries_inflight(void);

/* A tag's key range: keys that start with "{tag}". */
struct dkr_tag_range {
	uint8_t prefix[DAXKV_MAX_KEY];
	size_t prefixlen;
};
/* Parse a tag argument; false after replying with the error. */
bool dkr_tag_parse(rm_ctx *ctx, rm_string *arg, struct dkr_tag_range *out);
/* Parse "LIMIT n": false after replying with the error. */
bool dkr_limit_parse(rm_ctx *ctx, rm_string *arg, uint64_t *out);
/* Case-insensitive compare of an argument with a word. */
bool dkr_arg_is(rm_string *arg, const char *word);

#endif
