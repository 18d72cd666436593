// SPDX-License-Identifier: MIT
/*
 * module.c -- RedisModule_OnLoad of daxkv_redis: options, the checks that
 * the server runs as the module needs (no RDB, no AOF, one database),
 * the daxkv database, the rebuild of the keyspace, commands and events.
 *
 *   loadmodule /path/daxkv_redis.so DIR [segment-size SIZE]
 *       [max-size SIZE] [backend auto|cpu|kmod|cuda] [query-workers N]
 *       [query-threads N]
 *
 * Every refusal is one log line that says what to change; OnLoad then
 * returns an error and Redis does not start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dkr.h"

struct dkr_state dkr;

/* ---- key specs of the commands ---- */

#define DKR_KS_INDEX(at, last_key, key_step, key_flags)                        \
	{ .flags = (key_flags), .begin_search_type = RM_KSPEC_BS_INDEX,        \
	  .bs.index.pos = (at), .find_keys_type = RM_KSPEC_FK_RANGE,          \
	  .fk.range = { (last_key), (key_step), 0 } }

static struct rm_key_spec dkr_ks_set[] = {
	DKR_KS_INDEX(1, 0, 1, RM_CMD_KEY_OW | RM_CMD_KEY_UPDATE), { 0 } };
static struct rm_key_spec dkr_ks_get[] = {
	DKR_KS_INDEX(1, 0, 1, RM_CMD_KEY_RO | RM_CMD_KEY_ACCESS), { 0 } };
static struct rm_key_spec dkr_ks_del[] = {
	DKR_KS_INDEX(1, -1, 1, RM_CMD_KEY_RM | RM_CMD_KEY_DELETE), { 0 } };
static struct rm_key_spec dkr_ks_mset[] = {
	DKR_KS_INDEX(1, -1, 2, RM_CMD_KEY_OW | RM_CMD_KEY_UPDATE), { 0 } };
static struct rm_key_spec dkr_ks_mget[] = {
	DKR_KS_INDEX(1, -1, 1, RM_CMD_KEY_RO | RM_CMD_KEY_ACCESS), { 0 } };
/* the tag routes like a key: "{tag}..." keys hash to its slot */
static struct rm_key_spec dkr_ks_tag[] = {
	DKR_KS_INDEX(1, 0, 1, RM_CMD_KEY_RO | RM_CMD_KEY_ACCESS), { 0 } };

struct dkr_command {
	const char *name;
	rm_cmd_fn fn;
	const char *flags;
	int first, last, step;      /* the legacy triple, same keys */
	int arity;
	struct rm_key_spec *specs;  /* NULL: no keys */
	const char *summary;
};

static const struct dkr_command dkr_commands[] = {
	{ "dkv.set", dkr_cmd_set, "write deny-oom fast", 1, 1, 1, 3,
	  dkr_ks_set, "Store a value in daxkv, durable before the reply" },
	{ "dkv.get", dkr_cmd_get, "readonly fast", 1, 1, 1, 2, dkr_ks_get,
	  "The value of a key" },
	{ "dkv.del", dkr_cmd_del, "write fast", 1, -1, 1, -2, dkr_ks_del,
	  "Delete keys, durable before the reply" },
	{ "dkv.mset", dkr_cmd_mset, "write deny-oom", 1, -1, 2, -3,
	  dkr_ks_mset, "Store several values atomically (one slot)" },
	{ "dkv.mget", dkr_cmd_mget, "readonly fast", 1, -1, 1, -2,
	  dkr_ks_mget, "The values of several keys (one slot)" },
	{ "dkv.scan", dkr_cmd_scan, "readonly", 1, 1, 1, -4, dkr_ks_tag,
	  "Keys and values of one {tag} in key order" },
	{ "dkv.query", dkr_cmd_query, "readonly", 1, 1, 1, -2, dkr_ks_tag,
	  "COUNT/SUM/MIN/MAX/ROWS of one {tag}, pushed down" },
	{ "dkv.nodescan", dkr_cmd_nodescan, "readonly", 0, 0, 0, -3, NULL,
	  "Keys and values of this node in key order" },
	{ "dkv.nodequery", dkr_cmd_nodequery, "readonly", 0, 0, 0, -1, NULL,
	  "COUNT/SUM/MIN/MAX/ROWS over this node, pushed down" },
	{ "dkv.info", dkr_cmd_info, "readonly", 0, 0, 0, 1, NULL,
	  "Figures of the module and its daxkv database" },
	{ "dkv.check", dkr_cmd_check, "readonly", 0, 0, 0, 1, NULL,
	  "Compare daxkv's records with the keyspace" },
	{ "dkv.digest", dkr_cmd_digest, "readonly", 0, 0, 0, 1, NULL,
	  "Digest of this node's records (master vs replica)" },
};

static const struct rm_command_info_version dkr_info_version = {
	.version = 1,
	.sizeof_historyentry = sizeof(struct rm_command_history_entry),
	.sizeof_keyspec = sizeof(struct rm_key_spec),
	.sizeof_arg = sizeof(struct rm_command_arg),
};

static int dkr_commands_register(rm_ctx *ctx, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(dkr_commands) / sizeof(dkr_commands[0]);
	     i++) {
		const struct dkr_command *c = &dkr_commands[i];
		struct rm_command_info info = {
			.version = &dkr_info_version,
			.summary = c->summary,
			.since = "1.0.0",
			.arity = c->arity,
			.key_specs = c->specs,
		};
		rm_command *cmd;

		if (rm.create_command(ctx, c->name, c->fn, c->flags, c->first,
				      c->last, c->step) != RM_OK ||
		    !(cmd = rm.get_command(ctx, c->name)) ||
		    rm.set_command_info(cmd, &info) != RM_OK) {
			snprintf(err, errlen, "cannot register command %s",
				 c->name);
			return -1;
		}
	}
	return 0;
}

/* ---- options ---- */

static bool dkr_parse_size(const char *text, uint64_t *out)
{
	char *end;
	unsigned long long val;
	int shift = 0;

	errno = 0;
	val = strtoull(text, &end, 10);
	if (errno || end == text || *text == '-')
		return false;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end || (shift && val > (~0ULL >> shift)))
		return false;
	*out = val << shift;
	return true;
}

static int dkr_parse_options(rm_string **argv, int argc,
			     struct daxkv_options *opts, char *err,
			     size_t errlen)
{
	for (int i = 1; i < argc; i += 2) {
		const char *name = rm.string_ptr_len(argv[i], NULL);
		const char *val;
		uint64_t num;

		if (i + 1 >= argc) {
			snprintf(err, errlen, "option '%s' needs a value",
				 name);
			return -1;
		}
		val = rm.string_ptr_len(argv[i + 1], NULL);
		if (strcasecmp(name, "backend") == 0) {
			dkr.backend = -1;
			for (int b = DAXKV_BACKEND_AUTO; b <= DAXKV_BACKEND_CUDA;
			     b++)
				if (strcasecmp(val, daxkv_backend_name(b)) == 0)
					dkr.backend = b;
			if (dkr.backend < 0) {
				snprintf(err, errlen, "backend '%s': auto, cpu, "
					 "kmod or cuda", val);
				return -1;
			}
			continue;
		}
		if (!dkr_parse_size(val, &num)) {
			snprintf(err, errlen, "option '%s': '%s' is not a "
				 "number (K, M, G suffixes for sizes)", name,
				 val);
			return -1;
		}
		if (strcasecmp(name, "segment-size") == 0) {
			opts->segment_size = num;
		} else if (strcasecmp(name, "max-size") == 0) {
			opts->max_size = num;
		} else if (strcasecmp(name, "query-workers") == 0 && num >= 1 &&
			   num <= 64) {
			dkr.query_workers = (uint32_t)num;
		} else if (strcasecmp(name, "query-threads") == 0 &&
			   num <= 256) {
			dkr.query_threads = (uint32_t)num;
		} else {
			snprintf(err, errlen, "unknown option or value '%s %s' "
				 "(segment-size, max-size, backend, "
				 "query-workers 1..64, query-threads 0..256)",
				 name, val);
			return -1;
		}
	}
	return 0;
}

/* ---- what the server must be ---- */

/* CONFIG GET name into @p buf ("" when absent); -1 when the call fails. */
static int dkr_config_get(rm_ctx *ctx, const char *name, char *buf,
			  size_t cap)
{
	rm_call_reply *reply = rm.call(ctx, "CONFIG", "cc", "GET", name);
	rm_call_reply *val;
	const char *p;
	size_t len;

	buf[0] = '\0';
	if (!reply)
		return -1;
	if (rm.call_reply_type(reply) != RM_REPLY_ARRAY) {
		rm.free_call_reply(reply);
		return -1;
	}
	if (rm.call_reply_length(reply) >= 2) {
		val = rm.call_reply_array_element(reply, 1);
		p = rm.call_reply_string_ptr(val, &len);
		if (p)
			snprintf(buf, cap, "%.*s", (int)len, p);
	}
	rm.free_call_reply(reply);
	return 0;
}

/*
 * daxkv is the source of truth at restart: an RDB or AOF that Redis
 * loaded would lay an older keyspace over it, and rdb_load refuses it
 * anyway.  So: no AOF, no RDB saves, no RDB file (none left behind by a
 * full resync either: rdb-del-sync-files), and one
 * database (MOVE and SWAPDB would separate keys from their records).
 */
static int dkr_check_server(rm_ctx *ctx, char *err, size_t errlen)
{
	char val[512], dir[512], path[1040];
	struct stat st;
	bool cluster = rm.get_context_flags(ctx) & RM_CTX_FLAGS_CLUSTER;

	if (dkr_config_get(ctx, "appendonly", val, sizeof(val)) == 0 &&
	    strcasecmp(val, "no") != 0) {
		snprintf(err, errlen, "appendonly is '%s': set 'appendonly no' "
			 "(daxkv holds the data; an AOF would replay older "
			 "writes over it)", val);
		return -1;
	}
	if (dkr_config_get(ctx, "save", val, sizeof(val)) == 0 && val[0]) {
		snprintf(err, errlen, "save is '%s': set 'save \"\"' (daxkv "
			 "holds the data; an RDB file would be loaded over "
			 "it at the next start)", val);
		return -1;
	}
	if (dkr_config_get(ctx, "repl-diskless-load", val, sizeof(val)) == 0 &&
	    strcasecmp(val, "swapdb") == 0) {
		snprintf(err, errlen, "repl-diskless-load is swapdb: use "
			 "'disabled' or 'on-empty-db' (a full resync must "
			 "flush before it loads)");
		return -1;
	}
	if (dkr_config_get(ctx, "rdb-del-sync-files", val, sizeof(val)) == 0 &&
	    strcasecmp(val, "yes") != 0) {
		snprintf(err, errlen, "rdb-del-sync-files is '%s': set it to yes "
			 "(a full resync leaves an RDB file behind otherwise, "
			 "and the next start would refuse it)", val);
		return -1;
	}
	if (!cluster &&
	    dkr_config_get(ctx, "databases", val, sizeof(val)) == 0 &&
	    strcmp(val, "1") != 0) {
		snprintf(err, errlen, "databases is %s: set 'databases 1' "
			 "outside cluster mode (one daxkv database per node)",
			 val);
		return -1;
	}
	if (dkr_config_get(ctx, "dir", dir, sizeof(dir)) == 0 &&
	    dkr_config_get(ctx, "dbfilename", val, sizeof(val)) == 0 &&
	    val[0]) {
		snprintf(path, sizeof(path), "%s/%s", dir, val);
		if (stat(path, &st) == 0) {
			snprintf(err, errlen, "%s exists: remove it (daxkv "
				 "holds the data; Redis would load that file "
				 "over it)", path);
			return -1;
		}
	}
	return 0;
}

/* ---- load ---- */

__attribute__((visibility("default"))) int RedisModule_OnLoad(rm_ctx *ctx, rm_string **argv,
						       int argc);

int RedisModule_OnLoad(rm_ctx *ctx, rm_string **argv, int argc)
{
	struct daxkv_options opts;
	const char *missing = NULL;
	char err[1400] = "";
	int rc;

	if (rm_api_init(ctx, &missing) != 0) {
		/* no logging function may exist yet: stderr reaches the log
		 * of a daemonized server only through its own messages */
		fprintf(stderr, "daxkv_redis: this server lacks %s: Redis 7.0 "
			"or later is needed\n", missing);
		return RM_ERR;
	}
	if (rm.is_module_name_busy && rm.is_module_name_busy(DKR_MODULE_NAME))
		return RM_ERR;
	rm.set_module_attribs(ctx, DKR_MODULE_NAME, DKR_MODULE_VERSION,
			      RM_APIVER);
	if (dkr.dir) {
		rm.log(ctx, "warning", "daxkv: the module is loaded already");
		return RM_ERR;
	}
	if (argc < 1) {
		rm.log(ctx, "warning", "daxkv: usage: loadmodule daxkv_redis.so "
		       "DIR [segment-size SIZE] [max-size SIZE] [backend B] "
		       "[query-workers N] [query-threads N]");
		return RM_ERR;
	}
	daxkv_options_init(&opts);
	dkr.backend = DAXKV_BACKEND_CPU;
	dkr.query_workers = 2;
	dkr.query_threads = 1;
	if (dkr_parse_options(argv, argc, &opts, err, sizeof(err)) ||
	    dkr_check_server(ctx, err, sizeof(err)))
		goto out_refuse;
	dkr.rbuf = malloc(DAXKV_MAX_VALUE);
	dkr.wbuf = malloc(DAXKV_MAX_VALUE);
	dkr.dir = strdup(rm.string_ptr_len(argv[0], NULL));
	if (!dkr.rbuf || !dkr.wbuf || !dkr.dir) {
		snprintf(err, sizeof(err), "out of memory");
		goto out_refuse;
	}
	rc = daxkv_open(dkr.dir, &opts, &dkr.db);
	if (rc) {
		snprintf(err, sizeof(err), "cannot open %s: %s: %s", dkr.dir,
			 daxkv_strerror(rc), daxkv_errmsg());
		goto out_refuse;
	}
	dkr.next_id = 1;
	if (dkr_type_register(ctx) != 0) {
		snprintf(err, sizeof(err), "cannot create the data type %s",
			 DKR_TYPE_NAME);
		goto out_close;
	}
	if (dkr_rebuild(ctx, err, sizeof(err)) != 0 ||
	    dkr_commands_register(ctx, err, sizeof(err)) != 0)
		goto out_close;
	if (dkr_events_register(ctx) != 0) {
		snprintf(err, sizeof(err), "cannot subscribe to server events");
		goto out_close;
	}
	if (dkr_workers_start(err, sizeof(err)) != 0)
		goto out_close;
	rm.log(ctx, "notice", "daxkv: %s open (%llu keys rebuilt), "
	       "query backend %s, %u workers", dkr.dir,
	       (unsigned long long)dkr.rebuilt_keys,
	       daxkv_backend_name(dkr.backend), dkr.query_workers);
	return RM_OK;
out_close:
	daxkv_close(dkr.db);
	dkr.db = NULL;
out_refuse:
	rm.log(ctx, "warning", "daxkv: refusing to load: %s", err);
	return RM_ERR;
}
