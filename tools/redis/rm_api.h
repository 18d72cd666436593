/* SPDX-License-Identifier: MIT */
/*
 * rm_api.h -- the part of the Redis module API that daxkv_redis uses,
 * declared here from the documented signatures (Debian ships no
 * redismodule.h).
 *
 * The load handshake, as the module API documentation describes it: the
 * server calls RedisModule_OnLoad(ctx, argv, argc); the first word of the
 * context it passes is a function `int get_api(const char *name, void
 * *out)` that stores the address of the API function called `name` in
 * *out and returns 0 (REDISMODULE_OK), or 1 when this server does not
 * have it.  rm_api_init() looks every function below up by name through
 * it.  A function marked (optional) may be missing: its pointer stays
 * NULL and the module does without it, or says why it cannot.  A
 * required one missing makes the module refuse to load, naming it.
 *
 * Tested with Redis 7.0 (Debian 12's 7.0.15).  The structures and
 * constants here are those of the 7.0 ABI, which later Redis and Valkey
 * 7/8 keep (each versioned structure carries its version).
 */
#ifndef DKR_RM_API_H
#define DKR_RM_API_H

#include <stddef.h>
#include <stdint.h>

/* Opaque handles of the server. */
typedef struct rm_ctx rm_ctx;
typedef struct rm_string rm_string;
typedef struct rm_key rm_key;
typedef struct rm_type rm_type;
typedef struct rm_io rm_io;
typedef struct rm_digest rm_digest;
typedef struct rm_command rm_command;
typedef struct rm_blocked_client rm_blocked_client;
typedef struct rm_call_reply rm_call_reply;
typedef struct rm_key_opt_ctx rm_key_opt_ctx;
typedef struct rm_scan_cursor rm_scan_cursor;

/* Return codes of the API. */
enum { RM_OK = 0, RM_ERR = 1 };

/* Module API version passed to SetModuleAttribs. */
#define RM_APIVER 1

/* OpenKey modes. */
#define RM_READ (1 << 0)
#define RM_WRITE (1 << 1)
#define RM_OPEN_KEY_NOTOUCH (1 << 16)

/* KeyType results. */
#define RM_KEYTYPE_EMPTY 0
#define RM_KEYTYPE_MODULE 6

/* GetExpire/GetAbsExpire: the key has no expiry. */
#define RM_NO_EXPIRE (-1LL)

/* ReplyWithArray: length given later by ReplySetArrayLength. */
#define RM_POSTPONED_LEN (-1L)

/* CallReplyType results. */
#define RM_REPLY_STRING 0
#define RM_REPLY_ERROR 1
#define RM_REPLY_INTEGER 2
#define RM_REPLY_ARRAY 3
#define RM_REPLY_NULL 4

/* GetContextFlags bits. */
#define RM_CTX_FLAGS_LUA (1 << 0)
#define RM_CTX_FLAGS_MULTI (1 << 1)
#define RM_CTX_FLAGS_MASTER (1 << 2)
#define RM_CTX_FLAGS_SLAVE (1 << 3)
#define RM_CTX_FLAGS_CLUSTER (1 << 5)
#define RM_CTX_FLAGS_LOADING (1 << 13)
#define RM_CTX_FLAGS_DENY_BLOCKING (1 << 21)

/* Keyspace notification classes (notify-keyspace-events letters). */
#define RM_NOTIFY_GENERIC (1 << 2)  /* g */
#define RM_NOTIFY_STRING (1 << 3)   /* $ */
#define RM_NOTIFY_LIST (1 << 4)     /* l */
#define RM_NOTIFY_SET (1 << 5)      /* s */
#define RM_NOTIFY_HASH (1 << 6)     /* h */
#define RM_NOTIFY_ZSET (1 << 7)     /* z */
#define RM_NOTIFY_EXPIRED (1 << 8)  /* x */
#define RM_NOTIFY_EVICTED (1 << 9)  /* e */
#define RM_NOTIFY_STREAM (1 << 10)  /* t */
#define RM_NOTIFY_MODULE (1 << 13)  /* d */
#define RM_NOTIFY_NOT_MODULE                                                   \
	(RM_NOTIFY_GENERIC | RM_NOTIFY_STRING | RM_NOTIFY_LIST |               \
	 RM_NOTIFY_SET | RM_NOTIFY_HASH | RM_NOTIFY_ZSET | RM_NOTIFY_EXPIRED | \
	 RM_NOTIFY_EVICTED | RM_NOTIFY_STREAM)

/* Server events: an id and the version of the data passed with it. */
struct rm_event {
	uint64_t id;
	uint64_t dataver;
};
#define RM_EVENT_PERSISTENCE 1
#define RM_EVENT_FLUSHDB 2
#define RM_EVENT_LOADING 3
#define RM_EVENT_SHUTDOWN 5
#define RM_EVENT_FORK_CHILD 13
#define RM_EVENT_EVENTLOOP 15

#define RM_SUBEVENT_FLUSHDB_START 0
#define RM_SUBEVENT_LOADING_RDB_START 0
#define RM_SUBEVENT_LOADING_AOF_START 1
#define RM_SUBEVENT_LOADING_REPL_START 2
#define RM_SUBEVENT_LOADING_ENDED 3
#define RM_SUBEVENT_LOADING_FAILED 4
#define RM_SUBEVENT_FORK_CHILD_BORN 0
#define RM_SUBEVENT_FORK_CHILD_DIED 1
#define RM_SUBEVENT_EVENTLOOP_BEFORE_SLEEP 0

/* Data of the FLUSHDB event (version 1). */
struct rm_flush_info {
	uint64_t version;
	int32_t sync;
	int32_t dbnum; /* -1: all databases */
};

/* Callbacks. */
typedef int (*rm_cmd_fn)(rm_ctx *ctx, rm_string **argv, int argc);
typedef int (*rm_notify_fn)(rm_ctx *ctx, int type, const char *event,
			    rm_string *key);
typedef void (*rm_event_fn)(rm_ctx *ctx, struct rm_event eid,
			    uint64_t subevent, void *data);
typedef void (*rm_scan_fn)(rm_ctx *ctx, rm_string *keyname, rm_key *key,
			   void *privdata);

/*
 * Methods of a module data type, version 4 (Redis 7.0).  The server reads
 * the fields up to the version given; unused ones are NULL.
 */
#define RM_TYPE_METHOD_VERSION 4
struct rm_type_methods {
	uint64_t version;
	void *(*rdb_load)(rm_io *rdb, int encver);
	void (*rdb_save)(rm_io *rdb, void *value);
	void (*aof_rewrite)(rm_io *aof, rm_string *key, void *value);
	size_t (*mem_usage)(const void *value);
	void (*digest)(rm_digest *digest, void *value);
	void (*free)(void *value);
	int (*aux_load)(rm_io *rdb, int encver, int when);
	void (*aux_save)(rm_io *rdb, int when);
	int aux_save_triggers;
	size_t (*free_effort)(rm_string *key, const void *value);
	void (*unlink)(rm_string *key, const void *value);
	void *(*copy)(rm_string *fromkey, rm_string *tokey,
		      const void *value);
	int (*defrag)(void *ctx, rm_string *key, void **value);
	size_t (*mem_usage2)(rm_key_opt_ctx *ctx, const void *value,
			     size_t sample_size);
	size_t (*free_effort2)(rm_key_opt_ctx *ctx, const void *value);
	void (*unlink2)(rm_key_opt_ctx *ctx, const void *value);
	void *(*copy2)(rm_key_opt_ctx *ctx, const void *value);
};

/*
 * Command metadata for SetCommandInfo (Redis 7.0, info version 1): key
 * specs tell the server, COMMAND GETKEYS and cluster clients where the
 * keys of a command are.
 */
#define RM_CMD_KEY_RO (1ULL << 0)
#define RM_CMD_KEY_RW (1ULL << 1)
#define RM_CMD_KEY_OW (1ULL << 2)
#define RM_CMD_KEY_RM (1ULL << 3)
#define RM_CMD_KEY_ACCESS (1ULL << 4)
#define RM_CMD_KEY_UPDATE (1ULL << 5)
#define RM_CMD_KEY_INSERT (1ULL << 6)
#define RM_CMD_KEY_DELETE (1ULL << 7)

enum rm_kspec_begin_search {
	RM_KSPEC_BS_INVALID = 0, /* marks the end of a key spec array */
	RM_KSPEC_BS_UNKNOWN,
	RM_KSPEC_BS_INDEX,
	RM_KSPEC_BS_KEYWORD,
};

enum rm_kspec_find_keys {
	RM_KSPEC_FK_OMITTED = 0,
	RM_KSPEC_FK_UNKNOWN,
	RM_KSPEC_FK_RANGE,
	RM_KSPEC_FK_KEYNUM,
};

struct rm_key_spec {
	const char *notes;
	uint64_t flags; /* RM_CMD_KEY_* */
	int begin_search_type; /* enum rm_kspec_begin_search */
	union {
		struct {
			int pos; /* argv index of the first key */
		} index;
		struct {
			const char *keyword;
			int startfrom;
		} keyword;
	} bs;
	int find_keys_type; /* enum rm_kspec_find_keys */
	union {
		struct {
			int lastkey; /* relative to the first; -1: to the end */
			int keystep;
			int limit;
		} range;
		struct {
			int keynumidx;
			int firstkey;
			int keystep;
		} keynum;
	} fk;
};

struct rm_command_history_entry {
	const char *since;
	const char *changes;
};

struct rm_command_arg {
	const char *name;
	int type;
	int key_spec_index;
	const char *token;
	const char *summary;
	const char *since;
	int flags;
	const char *deprecated_since;
	struct rm_command_arg *subargs;
};

struct rm_command_info_version {
	int version;
	size_t sizeof_historyentry;
	size_t sizeof_keyspec;
	size_t sizeof_arg;
};

struct rm_command_info {
	const struct rm_command_info_version *version;
	const char *summary;
	const char *complexity;
	const char *since;
	struct rm_command_history_entry *history;
	const char *tips;
	int arity;
	struct rm_key_spec *key_specs; /* ends with a zeroed entry */
	struct rm_command_arg *args;
};

/* The API functions, looked up by name at load. */
struct rm_api {
	int (*get_api)(const char *name, void *out);

	void (*set_module_attribs)(rm_ctx *ctx, const char *name, int ver,
				   int apiver);
	int (*is_module_name_busy)(const char *name); /* (optional) */
	int (*get_server_version)(void);               /* (optional) */
	void *(*alloc)(size_t bytes);
	void *(*calloc)(size_t nmemb, size_t size);
	void (*free)(void *ptr);
	void (*log)(rm_ctx *ctx, const char *level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	long long (*milliseconds)(void);

	int (*create_command)(rm_ctx *ctx, const char *name, rm_cmd_fn fn,
			      const char *strflags, int firstkey, int lastkey,
			      int keystep);
	rm_command *(*get_command)(rm_ctx *ctx, const char *name);
	int (*set_command_info)(rm_command *command,
				const struct rm_command_info *info);
	int (*get_context_flags)(rm_ctx *ctx);
	int (*get_selected_db)(rm_ctx *ctx);

	rm_type *(*create_data_type)(rm_ctx *ctx, const char *name,
				     int encver,
				     struct rm_type_methods *methods);
	int (*module_type_set_value)(rm_key *key, rm_type *mt, void *value);
	rm_type *(*module_type_get_type)(rm_key *key);
	void *(*module_type_get_value)(rm_key *key);

	rm_key *(*open_key)(rm_ctx *ctx, rm_string *name, int mode);
	void (*close_key)(rm_key *key);
	int (*key_type)(rm_key *key);
	int (*delete_key)(rm_key *key);
	long long (*get_abs_expire)(rm_key *key);
	int (*set_abs_expire)(rm_key *key, long long expire);

	const char *(*string_ptr_len)(const rm_string *str, size_t *len);
	rm_string *(*create_string)(rm_ctx *ctx, const char *ptr,
				    size_t len);
	void (*free_string)(rm_ctx *ctx, rm_string *str);

	int (*reply_with_error)(rm_ctx *ctx, const char *err);
	int (*reply_with_simple_string)(rm_ctx *ctx, const char *msg);
	int (*reply_with_string_buffer)(rm_ctx *ctx, const char *buf,
					size_t len);
	int (*reply_with_null)(rm_ctx *ctx);
	int (*reply_with_array)(rm_ctx *ctx, long len);
	void (*reply_set_array_length)(rm_ctx *ctx, long len);
	int (*reply_with_long_long)(rm_ctx *ctx, long long ll);
	int (*wrong_arity)(rm_ctx *ctx);
	int (*replicate_verbatim)(rm_ctx *ctx);

	int (*notify_keyspace_event)(rm_ctx *ctx, int type, const char *event,
				     rm_string *key);
	int (*subscribe_to_keyspace_events)(rm_ctx *ctx, int types,
					    rm_notify_fn fn);
	int (*subscribe_to_server_event)(rm_ctx *ctx, struct rm_event event,
					 rm_event_fn fn);

	const rm_string *(*get_key_name_from_io)(rm_io *io);
	void (*save_string_buffer)(rm_io *io, const char *str, size_t len);
	void (*save_unsigned)(rm_io *io, uint64_t value);
	char *(*load_string_buffer)(rm_io *io, size_t *len);
	uint64_t (*load_unsigned)(rm_io *io);
	int (*is_io_error)(rm_io *io); /* (optional) */
	void (*log_io_error)(rm_io *io, const char *level, const char *fmt,
			     ...) __attribute__((format(printf, 3, 4)));
	void (*emit_aof)(rm_io *io, const char *cmd, const char *fmt, ...);
	void (*digest_add_string_buffer)(rm_digest *md, const char *ele,
					 size_t len);
	void (*digest_end_sequence)(rm_digest *md);
	const rm_string *(*get_key_name_from_digest)(rm_digest *md);

	const rm_string *(*get_key_name_from_opt_ctx)(rm_key_opt_ctx *ctx);
	const rm_string *(*get_to_key_name_from_opt_ctx)(rm_key_opt_ctx *ctx);
	int (*get_db_id_from_opt_ctx)(rm_key_opt_ctx *ctx);
	int (*get_to_db_id_from_opt_ctx)(rm_key_opt_ctx *ctx);

	rm_blocked_client *(*block_client)(rm_ctx *ctx, rm_cmd_fn reply_cb,
					   rm_cmd_fn timeout_cb,
					   void (*free_privdata)(rm_ctx *,
								 void *),
					   long long timeout_ms);
	int (*unblock_client)(rm_blocked_client *bc, void *privdata);
	void *(*get_blocked_client_private_data)(rm_ctx *ctx);

	rm_call_reply *(*call)(rm_ctx *ctx, const char *cmd, const char *fmt,
			       ...);
	int (*call_reply_type)(rm_call_reply *reply);
	const char *(*call_reply_string_ptr)(rm_call_reply *reply,
					     size_t *len);
	rm_call_reply *(*call_reply_array_element)(rm_call_reply *reply,
						   size_t idx);
	size_t (*call_reply_length)(rm_call_reply *reply);
	void (*free_call_reply)(rm_call_reply *reply);

	int (*scan)(rm_ctx *ctx, rm_scan_cursor *cursor, rm_scan_fn fn,
		    void *privdata);
	rm_scan_cursor *(*scan_cursor_create)(void);
	void (*scan_cursor_destroy)(rm_scan_cursor *cursor);
};

extern struct rm_api rm;

/*
 * Look up every function through the handshake word of @p ctx.  Returns
 * 0, or -1 with the name of the first missing required function in
 * *missing.
 */
int rm_api_init(rm_ctx *ctx, const char **missing);

#endif
