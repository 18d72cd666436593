// SPDX-License-Identifier: MIT
/*
 * query.c -- kvctl query: a filter over a snapshot, run by a query backend
 * (daxkv_query).
 *
 * The command line becomes one struct daxkv_query: each --where (parsed
 * by where.c) is a predicate, --count/--sum/--min/--max/--rows the
 * output, --from/--to/--prefix the key range, --backend the backend.
 * Rows print as kvctl scan prints them; an aggregate prints as one number,
 * signed for an iN field.  Everything the command line can get wrong is
 * caught here, before the database is opened, so that a usage error
 * never waits for an open.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvctl.h"

static const char kv_query_help[] =
	"usage: kvctl query DIR [--where EXPR]...\n"
	"                       [--count | --sum F | --min F | --max F | "
	"--rows]\n"
	"                       [--from K] [--to K] [--prefix P] [--limit N] "
	"[--ordered]\n"
	"                       [--backend auto|cpu|kmod|cuda] [--threads N] "
	"[--stats]\n"
	"                       [--hex|--base64] [--json]\n"
	"Select the live keys from K (inclusive) to K (exclusive) that start "
	"with P\n"
	"and whose value satisfies every --where (at most 8), and print how "
	"many\n"
	"there are (--count, the default), the sum, smallest or largest of "
	"field F\n"
	"of their values, or the rows.\n"
	"  EXPR  TYPE@OFFSET OP OPERAND, e.g. 'u32@0 > 100', 'i16@4 <= -3',\n"
	"        \"bytes3@8 == 'abc'\", 'bytes2@8 != 0x00ff'\n"
	"        TYPE  u8 u16 u32 u64 i8 i16 i32 i64: a little-endian integer "
	"at\n"
	"              byte OFFSET of the value; bytesN (N = 1..64): N bytes\n"
	"              compared bytewise\n"
	"        OP    == != < <= > >=\n"
	"        OPERAND  a decimal or 0x-hex integer (negative for iN only);\n"
	"              for bytesN exactly N bytes: 'text', \"text\" (escapes "
	"\\\\ \\'\n"
	"              \\\" \\xHH) or 0xHEX\n"
	"  F     TYPE@OFFSET of an integer type, e.g. u64@8\n"
	"A value too short for a field does not match.  --sum prints the sum "
	"modulo\n"
	"2^64 and, when the exact sum does not fit, says so on standard "
	"error\n"
	"and exits 1 (JSON: \"overflow\": true);\n"
	"--min/--max of no record print nothing.  --rows prints KEY<TAB>VALUE "
	"lines\n"
	"as scan does, in no particular order unless --ordered; --limit N "
	"prints at\n"
	"most N (with --ordered, the first N in key order).  --hex/--base64 "
	"apply\n"
	"to K, P and the rows, not to EXPR.  --backend says where the filter "
	"runs:\n"
	"auto (default) picks the first available of cuda, kmod, cpu; an "
	"explicit\n"
	"one that is not available fails with exit 1.  --threads N: CPU "
	"threads\n"
	"(default 0: one per CPU).  --stats: the backend that ran, records "
	"and\n"
	"bytes scanned, time and GB/s, on standard error, and, when auto "
	"fell back\n"
	"from a device (a GPU error, a GPU disabled by an earlier one), "
	"which and why.\n"
	"Rows are printed as they come, so memory does not grow with the "
	"answer\n"
	"(except --ordered without --limit, and --json).  DIR is opened "
	"read-only:\n"
	"beside other readers, on a read-only mount too; refused (exit 3) "
	"while a\n"
	"program holds it read-write.\n";

enum { KV_Q_WHERE = 256, KV_Q_COUNT, KV_Q_SUM, KV_Q_MIN, KV_Q_MAX, KV_Q_ROWS,
       KV_Q_FROM, KV_Q_TO, KV_Q_PREFIX, KV_Q_LIMIT, KV_Q_ORDERED,
       KV_Q_BACKEND, KV_Q_THREADS, KV_Q_STATS };

static const struct option kv_query_longopts[] = {
	{ "where", required_argument, NULL, KV_Q_WHERE },
	{ "count", no_argument, NULL, KV_Q_COUNT },
	{ "sum", required_argument, NULL, KV_Q_SUM },
	{ "min", required_argument, NULL, KV_Q_MIN },
	{ "max", required_argument, NULL, KV_Q_MAX },
	{ "rows", no_argument, NULL, KV_Q_ROWS },
	{ "from", required_argument, NULL, KV_Q_FROM },
	{ "to", required_argument, NULL, KV_Q_TO },
	{ "prefix", required_argument, NULL, KV_Q_PREFIX },
	{ "limit", required_argument, NULL, KV_Q_LIMIT },
	{ "ordered", no_argument, NULL, KV_Q_ORDERED },
	{ "backend", required_argument, NULL, KV_Q_BACKEND },
	{ "threads", required_argument, NULL, KV_Q_THREADS },
	{ "stats", no_argument, NULL, KV_Q_STATS },
	{ "hex", no_argument, NULL, 'x' },
	{ "base64", no_argument, NULL, 'b' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* What the command line asked for. */
struct kv_query_opts {
	struct kv_where where[DAXKV_QUERY_MAX_PREDS];
	uint32_t nwhere;
	uint32_t output;          /* DAXKV_QUERY_*; 0 until given */
	const char *output_opt;   /* its option, for messages */
	struct kv_field field;    /* SUM/MIN/MAX */
	const char *from, *to, *prefix;
	uint64_t limit;
	bool limit_given, ordered, stats, json;
	int backend;
	uint32_t threads;
	enum kv_encoding enc;
};

/* Rows on their way to standard output (or into the JSON array). */
struct kv_query_rows {
	enum kv_encoding enc;
	json_object *records; /* --json: the array, else NULL */
};

static const char *kv_output_name(uint32_t output)
{
	switch (output) {
	case DAXKV_QUERY_SUM:
		return "sum";
	case DAXKV_QUERY_MIN:
		return "min";
	case DAXKV_QUERY_MAX:
		return "max";
	case DAXKV_QUERY_ROWS:
		return "rows";
	default:
		return "count";
	}
}

static int kv_query_set_output(const char *cmd, struct kv_query_opts *o,
			       uint32_t output, const char *opt,
			       const char *spec)
{
	char err[KV_WHERE_ERR_MAX];

	if (o->output)
		return kv_usage_error(cmd, "%s and %s: one output per query",
				      o->output_opt, opt);
	o->output = output;
	o->output_opt = opt;
	if (spec && !kv_field_parse(spec, &o->field, err, sizeof(err)))
		return kv_usage_error(cmd, "%s '%s': %s", opt, spec, err);
	return -1;
}

static int kv_query_parse(int argc, char **argv, struct kv_query_opts *o)
{
	const char *cmd = argv[0];
	char err[KV_WHERE_ERR_MAX];
	uint64_t num;
	int opt, rc;

	memset(o, 0, sizeof(*o));
	o->backend = DAXKV_BACKEND_AUTO;
	while ((opt = getopt_long(argc, argv, "xbjh", kv_query_longopts,
				  NULL)) != -1) {
		rc = -1;
		switch (opt) {
		case 'x':
			o->enc = KV_ENC_HEX;
			break;
		case 'b':
			o->enc = KV_ENC_BASE64;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			return kv_help(kv_query_help);
		case KV_Q_WHERE:
			if (o->nwhere == DAXKV_QUERY_MAX_PREDS)
				return kv_usage_error(cmd, "at most %u --where "
						      "expressions",
						      DAXKV_QUERY_MAX_PREDS);
			if (!kv_where_parse(optarg, &o->where[o->nwhere], err,
					    sizeof(err)))
				return kv_usage_error(cmd, "--where '%s': %s",
						      optarg, err);
			o->nwhere++;
			break;
		case KV_Q_COUNT:
			rc = kv_query_set_output(cmd, o, DAXKV_QUERY_COUNT,
						 "--count", NULL);
			break;
		case KV_Q_SUM:
			rc = kv_query_set_output(cmd, o, DAXKV_QUERY_SUM,
						 "--sum", optarg);
			break;
		case KV_Q_MIN:
			rc = kv_query_set_output(cmd, o, DAXKV_QUERY_MIN,
						 "--min", optarg);
			break;
		case KV_Q_MAX:
			rc = kv_query_set_output(cmd, o, DAXKV_QUERY_MAX,
						 "--max", optarg);
			break;
		case KV_Q_ROWS:
			rc = kv_query_set_output(cmd, o, DAXKV_QUERY_ROWS,
						 "--rows", NULL);
			break;
		case KV_Q_FROM:
			o->from = optarg;
			break;
		case KV_Q_TO:
			o->to = optarg;
			break;
		case KV_Q_PREFIX:
			o->prefix = optarg;
			break;
		case KV_Q_LIMIT:
			if (!kv_parse_u64(optarg, &o->limit))
				return kv_usage_error(cmd, "--limit '%s' is not "
						      "a number", optarg);
			o->limit_given = true;
			break;
		case KV_Q_ORDERED:
			o->ordered = true;
			break;
		case KV_Q_BACKEND:
			o->backend = -1;
			for (int b = DAXKV_BACKEND_AUTO; b <= DAXKV_BACKEND_CUDA;
			     b++)
				if (strcmp(optarg, daxkv_backend_name(b)) == 0)
					o->backend = b;
			if (o->backend < 0)
				return kv_usage_error(cmd, "--backend '%s' is "
						      "not auto, cpu, kmod or "
						      "cuda", optarg);
			break;
		case KV_Q_THREADS:
			if (!kv_parse_u64(optarg, &num) || num > UINT32_MAX)
				return kv_usage_error(cmd, "--threads '%s' is "
						      "not a number of "
						      "threads", optarg);
			o->threads = (uint32_t)num;
			break;
		case KV_Q_STATS:
			o->stats = true;
			break;
		default:
			return kv_usage_error(cmd, "bad option");
		}
		if (rc >= 0)
			return rc;
	}
	if (!o->output) {
		o->output = DAXKV_QUERY_COUNT;
		o->output_opt = "--count";
	}
	if (o->output != DAXKV_QUERY_ROWS && (o->limit_given || o->ordered))
		return kv_usage_error(cmd, "%s goes with --rows, not %s",
				      o->limit_given ? "--limit" : "--ordered",
				      o->output_opt);
	return -1;
}

static int kv_query_row(const struct daxkv_row *rows, size_t n, void *arg)
{
	struct kv_query_rows *st = arg;

	for (size_t i = 0; i < n; i++) {
		if (st->records) {
			json_object *rec = json_object_new_object();

			kv_json_add_bytes(rec, "key", st->enc, rows[i].key,
					  rows[i].klen);
			kv_json_add_bytes(rec, "value", st->enc, rows[i].val,
					  rows[i].vlen);
			json_object_array_add(st->records, rec);
		} else {
			kv_print_bytes(st->enc, rows[i].key, rows[i].klen);
			putchar('\t');
			kv_print_bytes(st->enc, rows[i].val, rows[i].vlen);
			putchar('\n');
		}
	}
	/* a closed pipe or full disk: stop the query */
	return ferror(stdout) ? 1 : 0;
}

/* What result.threads counts on @p backend. */
static const char *kv_threads_word(uint32_t backend)
{
	switch (backend) {
	case DAXKV_BACKEND_KMOD:
		return "lane";
	case DAXKV_BACKEND_CUDA:
		return "block";
	default:
		return "thread";
	}
}

/* @p why: daxkv_errmsg() right after the query (the fallback's reason) */
static void kv_query_print_stats(const struct daxkv_query_result *res,
				 const char *why)
{
	fprintf(stderr, "backend          %s, %u %s%s%s\n",
		daxkv_backend_name((int)res->backend), res->threads,
		kv_threads_word(res->backend), res->threads == 1 ? "" : "s",
		res->backend != DAXKV_BACKEND_CUDA ? "" :
		res->direct ? ", reading the mapping in place" :
			      ", through staging buffers");
	/* the library's reason starts with the backend's name */
	if (res->fallback_from)
		fprintf(stderr, "fallback         %s\n", why);
	fprintf(stderr, "snapshot         seq %" PRIu64 "\n", res->snap_seq);
	fprintf(stderr, "records scanned  %" PRIu64 "\n", res->records_scanned);
	fprintf(stderr, "bytes scanned    %" PRIu64 " (%.1f MiB)\n",
		res->bytes_scanned, (double)res->bytes_scanned / (1 << 20));
	fprintf(stderr, "time             %.3f ms\n",
		(double)res->time_ns / 1e6);
	/* bytes per nanosecond are GB/s (10^9 bytes) */
	if (res->time_ns)
		fprintf(stderr, "throughput       %.2f GB/s\n",
			(double)res->bytes_scanned / (double)res->time_ns);
	else
		fprintf(stderr, "throughput       -\n");
}

/* The aggregate's value as JSON: signed for an INT field. */
static json_object *kv_query_json_value(const struct kv_query_opts *o,
					const struct daxkv_query_result *res)
{
	if (o->output != DAXKV_QUERY_SUM && res->count == 0)
		return NULL; /* no minimum or maximum of nothing */
	if (o->field.type == DAXKV_FIELD_INT)
		return json_object_new_int64((int64_t)res->value);
	return json_object_new_uint64(res->value);
}

static void kv_query_print_json(const struct kv_query_opts *o,
				const struct daxkv_query_result *res,
				json_object *records, const char *why)
{
	json_object *obj = json_object_new_object();
	json_object *where = json_object_new_array();
	json_object *stats = json_object_new_object();
	char text[256];

	json_object_object_add(obj, "output",
			       json_object_new_string(kv_output_name(o->output)));
	for (uint32_t i = 0; i < o->nwhere; i++) {
		kv_where_format(&o->where[i], text, sizeof(text));
		json_object_array_add(where, json_object_new_string(text));
	}
	json_object_object_add(obj, "where", where);
	json_object_object_add(obj, "count", json_object_new_uint64(res->count));
	if (o->output >= DAXKV_QUERY_SUM && o->output <= DAXKV_QUERY_MAX) {
		kv_field_format(&o->field, text, sizeof(text));
		json_object_object_add(obj, "field",
				       json_object_new_string(text));
		json_object_object_add(obj, "value",
				       kv_query_json_value(o, res));
		if (o->output == DAXKV_QUERY_SUM)
			json_object_object_add(
				obj, "overflow",
				json_object_new_boolean(res->overflow != 0));
	}
	if (records)
		json_object_object_add(obj, "records",
				       json_object_get(records));
	json_object_object_add(stats, "backend",
			       json_object_new_string(
				       daxkv_backend_name((int)res->backend)));
	json_object_object_add(stats, "threads",
			       json_object_new_uint64(res->threads));
	json_object_object_add(stats, "snap_seq",
			       json_object_new_uint64(res->snap_seq));
	json_object_object_add(stats, "records_scanned",
			       json_object_new_uint64(res->records_scanned));
	json_object_object_add(stats, "bytes_scanned",
			       json_object_new_uint64(res->bytes_scanned));
	json_object_object_add(stats, "time_ns",
			       json_object_new_uint64(res->time_ns));
	if (res->backend == DAXKV_BACKEND_CUDA)
		json_object_object_add(stats, "direct",
				       json_object_new_boolean(res->direct));
	if (res->fallback_from) {
		json_object *fb = json_object_new_object();

		json_object_object_add(fb, "from", json_object_new_string(
			daxkv_backend_name((int)res->fallback_from)));
		json_object_object_add(fb, "why", json_object_new_string(why));
		json_object_object_add(stats, "fallback", fb);
	}
	json_object_object_add(obj, "stats", stats);
	kv_json_print(obj);
	json_object_put(obj);
}

static void kv_query_print_text(const struct kv_query_opts *o,
				const struct daxkv_query_result *res)
{
	switch (o->output) {
	case DAXKV_QUERY_ROWS:
		break; /* printed as they came */
	case DAXKV_QUERY_COUNT:
		printf("%" PRIu64 "\n", res->count);
		break;
	default:
		if (o->output != DAXKV_QUERY_SUM && res->count == 0)
			fprintf(stderr, "%s query: no record matched: no "
				"%s\n", kv_prog,
				o->output == DAXKV_QUERY_MIN ? "minimum" :
							       "maximum");
		else if (o->field.type == DAXKV_FIELD_INT)
			printf("%" PRId64 "\n", (int64_t)res->value);
		else
			printf("%" PRIu64 "\n", res->value);
		break;
	}
}

int kv_cmd_query(int argc, char **argv)
{
	struct kv_query_opts *o;
	struct kv_buf lo = { 0 }, hi = { 0 }, prefix = { 0 };
	struct kv_query_rows rows = { 0 };
	struct daxkv_query q;
	struct daxkv_query_result res = { .version =
						  DAXKV_QUERY_RESULT_VERSION };
	daxkv *db;
	char why[512];
	int rc, qrc;

	o = calloc(1, sizeof(*o));
	if (!o)
		return kv_fail("query", DAXKV_ENOMEM);
	rc = kv_query_parse(argc, argv, o);
	if (rc >= 0)
		goto out_free;
	rc = kv_need_args(argc, argv, 1, 1, "kvctl query DIR [options]");
	if (rc >= 0)
		goto out_free;
	if (o->from && (rc = kv_decode_arg(argv[0], o->enc, "--from", o->from,
					   &lo)) >= 0)
		goto out_free;
	if (o->to && (rc = kv_decode_arg(argv[0], o->enc, "--to", o->to,
					 &hi)) >= 0)
		goto out_free;
	if (o->prefix && (rc = kv_decode_arg(argv[0], o->enc, "--prefix",
					     o->prefix, &prefix)) >= 0)
		goto out_free;
	/* the engine refuses an empty range; say it in kvctl's words */
	if (lo.len && hi.len && kv_keycmp(&lo, &hi) >= 0) {
		rc = kv_usage_error(argv[0], "--from must sort before --to "
				    "(the range [--from, --to) is empty)");
		goto out_free;
	}

	daxkv_query_init(&q);
	q.output = o->output;
	q.backend = (uint32_t)o->backend;
	q.threads = o->threads;
	q.lo = lo.data;
	q.lolen = lo.len;
	q.hi = hi.data;
	q.hilen = hi.len;
	q.prefix = prefix.data;
	q.prefixlen = prefix.len;
	q.npreds = o->nwhere;
	for (uint32_t i = 0; i < o->nwhere; i++)
		q.preds[i] = o->where[i].pred;
	if (o->output >= DAXKV_QUERY_SUM && o->output <= DAXKV_QUERY_MAX) {
		q.field_type = o->field.type;
		q.field_offset = o->field.offset;
		q.field_width = o->field.width;
	}
	if (o->output == DAXKV_QUERY_ROWS) {
		rows.enc = o->enc;
		if (o->json)
			rows.records = json_object_new_array();
		q.rows = kv_query_row;
		q.arg = &rows;
		q.limit = o->limit;
		if (o->ordered)
			q.flags |= DAXKV_QUERY_ORDERED;
	}

	rc = kv_open_rdonly(argv[optind], &db, NULL);
	if (rc)
		goto out_free;
	qrc = daxkv_query(db, &q, &res);
	/* after a query that returned 0, why AUTO fell back (if it did) */
	snprintf(why, sizeof(why), "%s", daxkv_errmsg());
	if (qrc < 0) {
		rc = kv_fail("query", qrc);
	} else {
		/* qrc > 0: the rows callback stopped on a write error */
		if (qrc == 0 && o->json)
			kv_query_print_json(o, &res, rows.records, why);
		else if (qrc == 0)
			kv_query_print_text(o, &res);
		if (qrc || fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "%s query: write error on standard "
				"output\n", kv_prog);
			rc = KV_EXIT_PROBLEMS;
		} else if (o->stats) {
			kv_query_print_stats(&res, why);
		}
		if (qrc == 0 && o->output == DAXKV_QUERY_SUM && res.overflow) {
			fprintf(stderr, "%s query: the sum overflowed: the "
				"exact sum does not fit in %s, what is printed "
				"is it modulo 2^64\n", kv_prog,
				o->field.type == DAXKV_FIELD_INT ? "an int64" :
								   "a uint64");
			rc = KV_EXIT_PROBLEMS;
		}
	}
	if (kv_close(db) && !rc)
		rc = KV_EXIT_PROBLEMS;
out_free:
	json_object_put(rows.records);
	free(lo.data);
	free(hi.data);
	free(prefix.data);
	free(o);
	return rc;
}
