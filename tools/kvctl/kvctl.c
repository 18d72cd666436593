// SPDX-License-Identifier: MIT
/*
 * kvctl.c -- the administrator's command for daxkv: dispatch and helpers.
 *
 * kvctl uses only the public header daxkv.h (as LMDB's mdb_stat uses only
 * lmdb.h); device facts come from libndctl/libdaxctl, pool checks from
 * libpmempool and JSON from json-c.  Each subcommand parses its own
 * options with getopt_long and has --help; kvctl(1) documents them, the
 * JSON schemas and the exit codes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvctl.h"

const char *kv_prog = "kvctl";

struct kv_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct kv_command kv_commands[] = {
	{ "create", kv_cmd_create, "create a database" },
	{ "info", kv_cmd_info, "format, options, segments, durability, placement" },
	{ "check", kv_cmd_check, "verify records and metadata; --repair" },
	{ "get", kv_cmd_get, "print the value of a key" },
	{ "put", kv_cmd_put, "store a value" },
	{ "del", kv_cmd_del, "delete a key" },
	{ "scan", kv_cmd_scan, "list keys and values in key order" },
	{ "query", kv_cmd_query, "count, sum, min, max or rows matching a filter" },
	{ "dump", kv_cmd_dump, "write every key and value as JSON lines" },
	{ "load", kv_cmd_load, "read a dump into a database" },
	{ "stats", kv_cmd_stats, "operation counters and recovery figures" },
	{ "compact", kv_cmd_compact, "reclaim the space of dead records now" },
	{ "backup", kv_cmd_backup, "a consistent copy of a database (hot)" },
	{ "devices", kv_cmd_devices, "pmem regions, namespaces, dax devices" },
	{ "mirror", kv_cmd_mirror, "state of the daxmirror kernel module" },
	{ "cluster", kv_cmd_cluster, "query or scan a Redis Cluster of daxkv_redis nodes" },
};

static void kv_main_usage(FILE *out)
{
	fprintf(out,
		"usage: kvctl [--version] [--help] COMMAND [ARGS]\n\n"
		"commands:\n");
	for (size_t i = 0; i < sizeof(kv_commands) / sizeof(kv_commands[0]); i++)
		fprintf(out, "  %-8s %s\n", kv_commands[i].name,
			kv_commands[i].summary);
	fprintf(out,
		"\n'kvctl COMMAND --help' describes a command; kvctl(1) has "
		"the details.\n"
		"exit: 0 ok, 1 problems found or operation failed, 2 usage "
		"error, 3 cannot open\n");
}

int kv_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", kv_prog, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see '%s %s --help')\n", kv_prog, cmd);
	return KV_EXIT_USAGE;
}

int kv_help(const char *text)
{
	fputs(text, stdout);
	return KV_EXIT_OK;
}

int kv_fail(const char *what, int err)
{
	const char *detail = daxkv_errmsg();

	fprintf(stderr, "%s: %s: %s%s%s\n", kv_prog, what, daxkv_strerror(err),
		*detail ? ": " : "", detail);
	switch (err) {
	case DAXKV_ENODB:
	case DAXKV_EBUSY:
	case DAXKV_EPERM:
	case DAXKV_EVERSION:
	case DAXKV_ECORRUPT:
		return KV_EXIT_NOOPEN;
	case DAXKV_EINVAL:
		return KV_EXIT_USAGE;
	default:
		return KV_EXIT_PROBLEMS;
	}
}

int kv_open(const char *dir, daxkv **dbp)
{
	return kv_open_err(dir, dbp, NULL);
}

int kv_open_err(const char *dir, daxkv **dbp, int *errp)
{
	return kv_open_flags(dir, DAXKV_OPEN_NOCREATE | KV_OPEN_FLAGS, dbp,
			     errp);
}

int kv_open_rdonly(const char *dir, daxkv **dbp, int *errp)
{
	return kv_open_flags(dir, DAXKV_OPEN_RDONLY, dbp, errp);
}

int kv_open_flags(const char *dir, uint32_t flags, daxkv **dbp, int *errp)
{
	struct daxkv_options opts;
	char what[4200];
	int rc;

	daxkv_options_init(&opts);
	opts.flags = flags;
	rc = daxkv_open(dir, &opts, dbp);
	if (errp)
		*errp = rc;
	if (!rc)
		return KV_EXIT_OK;
	snprintf(what, sizeof(what), "cannot open %s", dir);
	rc = kv_fail(what, rc);
	/* a file, not a directory, is "not a database" */
	return rc == KV_EXIT_USAGE ? KV_EXIT_NOOPEN : rc;
}

int kv_close(daxkv *db)
{
	int rc = daxkv_close(db);

	if (rc)
		return kv_fail("close (the data is safe; the next open scans)",
			       rc);
	return KV_EXIT_OK;
}

void kv_json_print(json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
}

bool kv_parse_u64(const char *text, uint64_t *out)
{
	char *end;
	unsigned long long val;

	if (!text || !*text || *text == '-')
		return false;
	errno = 0;
	val = strtoull(text, &end, 0);
	if (errno || *end)
		return false;
	*out = val;
	return true;
}

bool kv_parse_size(const char *text, uint64_t *out)
{
	char *end;
	unsigned long long val;
	int shift = 0;

	if (!text || !*text || *text == '-')
		return false;
	errno = 0;
	val = strtoull(text, &end, 10);
	if (errno || end == text)
		return false;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end || (shift && val > (~0ull >> shift)))
		return false;
	*out = val << shift;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	/* stop at the command: its options are its own */
	while ((opt = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			kv_main_usage(stdout);
			return KV_EXIT_OK;
		case 'V':
			printf("kvctl (daxkv) %s\n", daxkv_version());
			return KV_EXIT_OK;
		default:
			kv_main_usage(stderr);
			return KV_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: no command given\n", kv_prog);
		kv_main_usage(stderr);
		return KV_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(kv_commands) / sizeof(kv_commands[0]); i++) {
		if (strcmp(argv[optind], kv_commands[i].name) == 0) {
			int cmd_argc = argc - optind;
			char **cmd_argv = argv + optind;

			optind = 0; /* full re-initialisation for the command */
			return kv_commands[i].run(cmd_argc, cmd_argv);
		}
	}
	fprintf(stderr, "%s: unknown command '%s'\n", kv_prog, argv[optind]);
	kv_main_usage(stderr);
	return KV_EXIT_USAGE;
}
