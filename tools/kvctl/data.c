// SPDX-License-Identifier: MIT
/*
 * data.c -- get, put, del, scan, dump and load.
 *
 * Dump format (kvctl(1), DUMP FORMAT): JSON lines, one object a line.
 * The first line is {"daxkv_dump": 1}; then one line per live key in key
 * order, {"k": TEXT, "v": TEXT}, where either field is replaced by "k64"
 * / "v64" holding base64 when the bytes are not UTF-8 text without NUL;
 * the last line is {"end": true, "count": N}.  Nothing in it depends on
 * the database it came from, so dump, load elsewhere, dump again gives
 * the same bytes.  load commits in batches and refuses a dump whose end
 * line is missing or whose count disagrees (a truncated file).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvctl.h"

#define KV_DUMP_VERSION 1
#define KV_LOAD_BATCH_OPS 1024u

/* Options shared by the data commands. */
struct kv_data_opts {
	enum kv_encoding enc;
	bool json;
};

enum { KV_OPT_FROM = 256, KV_OPT_TO, KV_OPT_PREFIX, KV_OPT_LIMIT,
       KV_OPT_KEYS_ONLY, KV_OPT_QUIET };

static const struct option kv_data_longopts[] = {
	{ "hex", no_argument, NULL, 'x' },
	{ "base64", no_argument, NULL, 'b' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "from", required_argument, NULL, KV_OPT_FROM },
	{ "to", required_argument, NULL, KV_OPT_TO },
	{ "prefix", required_argument, NULL, KV_OPT_PREFIX },
	{ "limit", required_argument, NULL, KV_OPT_LIMIT },
	{ "keys-only", no_argument, NULL, KV_OPT_KEYS_ONLY },
	{ "quiet", no_argument, NULL, KV_OPT_QUIET },
	{ NULL, 0, NULL, 0 },
};

/* Scan-only options, filled only when @p scan is given. */
struct kv_scan_opts {
	const char *from, *to, *prefix;
	uint64_t limit;
	bool keys_only;
};

/*
 * Parse the common options; -1 means go on, anything else is the exit
 * code.  @p allowed lists the long options (by value) beyond the common
 * ones that this command takes.
 */
static int kv_data_parse(int argc, char **argv, const char *help,
			 struct kv_data_opts *o, struct kv_scan_opts *scan,
			 bool *quiet)
{
	int opt;

	memset(o, 0, sizeof(*o));
	while ((opt = getopt_long(argc, argv, "xbjh", kv_data_longopts,
				  NULL)) != -1) {
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
			return kv_help(help);
		case KV_OPT_FROM:
		case KV_OPT_TO:
		case KV_OPT_PREFIX:
		case KV_OPT_LIMIT:
		case KV_OPT_KEYS_ONLY:
			if (!scan)
				return kv_usage_error(argv[0],
						      "option '%s' is for scan",
						      argv[optind - 1]);
			if (opt == KV_OPT_FROM)
				scan->from = optarg;
			else if (opt == KV_OPT_TO)
				scan->to = optarg;
			else if (opt == KV_OPT_PREFIX)
				scan->prefix = optarg;
			else if (opt == KV_OPT_KEYS_ONLY)
				scan->keys_only = true;
			else if (!kv_parse_u64(optarg, &scan->limit))
				return kv_usage_error(argv[0],
						      "--limit '%s' is not a "
						      "number", optarg);
			break;
		case KV_OPT_QUIET:
			if (!quiet)
				return kv_usage_error(argv[0],
						      "option '--quiet' is for "
						      "load");
			*quiet = true;
			break;
		default:
			return kv_usage_error(argv[0], "bad option");
		}
	}
	return -1;
}

int kv_need_args(int argc, char **argv, int min, int max,
		 const char *synopsis)
{
	int n = argc - optind;

	if (n < min || n > max)
		return kv_usage_error(argv[0], "%s arguments; usage: %s",
				      n < min ? "missing" : "too many",
				      synopsis);
	return -1;
}

int kv_decode_arg(const char *cmd, enum kv_encoding enc, const char *what,
		  const char *text, struct kv_buf *out)
{
	if (kv_decode(enc, text, out))
		return -1;
	return kv_usage_error(cmd, "%s '%s' is not valid %s", what, text,
			      enc == KV_ENC_HEX ? "hex" : "base64");
}

static bool kv_key_ok(const char *cmd, size_t len)
{
	if (len >= 1 && len <= DAXKV_MAX_KEY)
		return true;
	kv_usage_error(cmd, "keys are 1 to %u bytes, this one has %zu",
		       DAXKV_MAX_KEY, len);
	return false;
}

void kv_print_bytes(enum kv_encoding enc, const void *data, size_t len)
{
	if (enc == KV_ENC_TEXT) {
		fwrite(data, 1, len, stdout);
	} else {
		char *text = kv_encode(enc, data, len);

		fputs(text ? text : "", stdout);
		free(text);
	}
}

/* ---- get ---- */

static const char kv_get_help[] =
	"usage: kvctl get DIR KEY [--hex|--base64] [--json]\n"
	"Print the value of KEY.  With --hex or --base64 the key is given and\n"
	"the value printed in that encoding.  Exit 1 if the key is missing.\n"
	"DIR is opened read-only: beside other readers, on a read-only mount\n"
	"too; refused (exit 3) while a program holds it read-write.\n";

int kv_cmd_get(int argc, char **argv)
{
	struct kv_data_opts o;
	struct kv_buf key = { 0 };
	uint8_t *val = NULL;
	size_t vlen = 0, cap = 4096;
	daxkv *db;
	int rc;

	rc = kv_data_parse(argc, argv, kv_get_help, &o, NULL, NULL);
	if (rc >= 0)
		return rc;
	rc = kv_need_args(argc, argv, 2, 2, "kvctl get DIR KEY");
	if (rc >= 0)
		return rc;
	rc = kv_decode_arg(argv[0], o.enc, "key", argv[optind + 1], &key);
	if (rc >= 0)
		return rc;
	if (!kv_key_ok(argv[0], key.len)) {
		free(key.data);
		return KV_EXIT_USAGE;
	}
	rc = kv_open_rdonly(argv[optind], &db, NULL);
	if (rc)
		goto out_free;
	for (;;) {
		uint8_t *bigger = realloc(val, cap);

		if (!bigger) {
			rc = kv_fail("get", DAXKV_ENOMEM);
			goto out_close;
		}
		val = bigger;
		rc = daxkv_get(db, key.data, key.len, val, cap, &vlen);
		if (rc != DAXKV_ERANGE)
			break;
		cap = vlen ? vlen : 1;
	}
	if (rc == DAXKV_ENOTFOUND) {
		fprintf(stderr, "%s get: key not found\n", kv_prog);
		rc = KV_EXIT_PROBLEMS;
	} else if (rc) {
		rc = kv_fail("get", rc);
	} else if (o.json) {
		json_object *obj = json_object_new_object();

		kv_json_add_bytes(obj, "key", o.enc, key.data, key.len);
		kv_json_add_bytes(obj, "value", o.enc, val, vlen);
		kv_json_print(obj);
		json_object_put(obj);
	} else {
		kv_print_bytes(o.enc, val, vlen);
		putchar('\n');
	}
out_close:
	if (kv_close(db) && !rc)
		rc = KV_EXIT_PROBLEMS;
out_free:
	free(val);
	free(key.data);
	return rc;
}

/* ---- put ---- */

static const char kv_put_help[] =
	"usage: kvctl put DIR KEY [VALUE] [--hex|--base64]\n"
	"Store VALUE under KEY (durable when kvctl returns).  Without VALUE the\n"
	"value is read from standard input: raw bytes, or hex/base64 text\n"
	"(whitespace ignored) with --hex/--base64.\n";

static bool kv_read_stdin(enum kv_encoding enc, struct kv_buf *out)
{
	size_t cap = 65536, len = 0, n;
	char *buf = malloc(cap + 1);

	if (!buf)
		return false;
	while ((n = fread(buf + len, 1, cap - len, stdin)) > 0) {
		len += n;
		if (len == cap) {
			char *bigger = realloc(buf, cap * 2 + 1);

			if (!bigger) {
				free(buf);
				return false;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	if (enc == KV_ENC_TEXT) {
		out->data = (uint8_t *)buf;
		out->len = len;
		return true;
	} else {
		size_t w = 0;
		bool ok;

		for (size_t r = 0; r < len; r++)
			if (buf[r] != ' ' && buf[r] != '\n' && buf[r] != '\t' &&
			    buf[r] != '\r')
				buf[w++] = buf[r];
		buf[w] = '\0';
		ok = kv_decode(enc, buf, out);
		free(buf);
		return ok;
	}
}

int kv_cmd_put(int argc, char **argv)
{
	struct kv_data_opts o;
	struct kv_buf key = { 0 }, val = { 0 };
	daxkv *db;
	int rc;

	rc = kv_data_parse(argc, argv, kv_put_help, &o, NULL, NULL);
	if (rc >= 0)
		return rc;
	rc = kv_need_args(argc, argv, 2, 3, "kvctl put DIR KEY [VALUE]");
	if (rc >= 0)
		return rc;
	rc = kv_decode_arg(argv[0], o.enc, "key", argv[optind + 1], &key);
	if (rc >= 0)
		return rc;
	if (argc - optind == 3)
		rc = kv_decode_arg(argv[0], o.enc, "value", argv[optind + 2],
				   &val);
	else if (!kv_read_stdin(o.enc, &val))
		rc = kv_usage_error(argv[0], "standard input is not valid %s",
				    o.enc == KV_ENC_HEX ? "hex" : "base64");
	if (rc >= 0)
		goto out_free;
	if (!kv_key_ok(argv[0], key.len)) {
		rc = KV_EXIT_USAGE;
		goto out_free;
	}
	if (val.len > DAXKV_MAX_VALUE) {
		rc = kv_usage_error(argv[0], "values are at most %u bytes, "
				    "this one has %zu", DAXKV_MAX_VALUE,
				    val.len);
		goto out_free;
	}
	rc = kv_open(argv[optind], &db);
	if (rc)
		goto out_free;
	rc = daxkv_put(db, key.data, key.len, val.data ? val.data : (void *)"",
		       val.len);
	if (rc)
		rc = kv_fail("put", rc);
	if (kv_close(db) && !rc)
		rc = KV_EXIT_PROBLEMS;
out_free:
	free(key.data);
	free(val.data);
	return rc;
}

/* ---- del ---- */

static const char kv_del_help[] =
	"usage: kvctl del DIR KEY [--hex|--base64]\n"
	"Delete KEY.  Exit 1 if there is no such key.\n";

int kv_cmd_del(int argc, char **argv)
{
	struct kv_data_opts o;
	struct kv_buf key = { 0 };
	daxkv *db;
	int rc;

	rc = kv_data_parse(argc, argv, kv_del_help, &o, NULL, NULL);
	if (rc >= 0)
		return rc;
	rc = kv_need_args(argc, argv, 2, 2, "kvctl del DIR KEY");
	if (rc >= 0)
		return rc;
	rc = kv_decode_arg(argv[0], o.enc, "key", argv[optind + 1], &key);
	if (rc >= 0)
		return rc;
	if (!kv_key_ok(argv[0], key.len)) {
		free(key.data);
		return KV_EXIT_USAGE;
	}
	rc = kv_open(argv[optind], &db);
	if (rc)
		goto out_free;
	rc = daxkv_delete(db, key.data, key.len);
	if (rc == DAXKV_ENOTFOUND) {
		fprintf(stderr, "%s del: key not found\n", kv_prog);
		rc = KV_EXIT_PROBLEMS;
	} else if (rc) {
		rc = kv_fail("del", rc);
	}
	if (kv_close(db) && !rc)
		rc = KV_EXIT_PROBLEMS;
out_free:
	free(key.data);
	return rc;
}

/* ---- scan ---- */

static const char kv_scan_help[] =
	"usage: kvctl scan DIR [--from K] [--to K] [--prefix P] [--limit N]\n"
	"                      [--keys-only] [--hex|--base64] [--json]\n"
	"List live keys in key order (bytewise), from K (inclusive) to K\n"
	"(exclusive), only those starting with P, at most N.  Text output is\n"
	"KEY<TAB>VALUE per line; --hex/--base64 apply to K, P and the output.\n"
	"DIR is opened read-only: beside other readers, on a read-only mount\n"
	"too; refused (exit 3) while a program holds it read-write.\n";

struct kv_scan_state {
	const struct kv_data_opts *o;
	const struct kv_scan_opts *s;
	struct kv_buf prefix;
	uint64_t count;
	json_object *records;
};

static int kv_scan_one(const void *key, size_t klen, const void *val,
		       size_t vlen, void *arg)
{
	struct kv_scan_state *st = arg;

	if (st->prefix.len &&
	    (klen < st->prefix.len ||
	     memcmp(key, st->prefix.data, st->prefix.len) != 0))
		return 1; /* past the prefix range */
	if (st->s->limit && st->count >= st->s->limit)
		return 1;
	st->count++;
	if (st->records) {
		json_object *rec = json_object_new_object();

		kv_json_add_bytes(rec, "key", st->o->enc, key, klen);
		if (!st->s->keys_only)
			kv_json_add_bytes(rec, "value", st->o->enc, val, vlen);
		json_object_array_add(st->records, rec);
	} else {
		kv_print_bytes(st->o->enc, key, klen);
		if (!st->s->keys_only) {
			putchar('\t');
			kv_print_bytes(st->o->enc, val, vlen);
		}
		putchar('\n');
	}
	return 0;
}

bool kv_prefix_end(const struct kv_buf *prefix, struct kv_buf *end)
{
	size_t len = prefix->len;

	while (len && prefix->data[len - 1] == 0xff)
		len--;
	if (!len)
		return false;
	end->data = malloc(len);
	if (!end->data)
		return false;
	memcpy(end->data, prefix->data, len);
	end->data[len - 1]++;
	end->len = len;
	return true;
}

int kv_keycmp(const struct kv_buf *a, const struct kv_buf *b)
{
	int c = memcmp(a->data, b->data, a->len < b->len ? a->len : b->len);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

int kv_cmd_scan(int argc, char **argv)
{
	struct kv_data_opts o;
	struct kv_scan_opts s = { 0 };
	struct kv_scan_state st = { 0 };
	struct kv_buf lo = { 0 }, hi = { 0 }, pend = { 0 };
	const struct kv_buf *from = NULL, *to = NULL;
	daxkv *db;
	int rc;

	rc = kv_data_parse(argc, argv, kv_scan_help, &o, &s, NULL);
	if (rc >= 0)
		return rc;
	rc = kv_need_args(argc, argv, 1, 1, "kvctl scan DIR [options]");
	if (rc >= 0)
		return rc;
	if (s.from && (rc = kv_decode_arg(argv[0], o.enc, "--from", s.from,
					  &lo)) >= 0)
		goto out_free;
	if (s.to && (rc = kv_decode_arg(argv[0], o.enc, "--to", s.to, &hi)) >= 0)
		goto out_free;
	if (s.prefix && (rc = kv_decode_arg(argv[0], o.enc, "--prefix",
					    s.prefix, &st.prefix)) >= 0)
		goto out_free;
	from = s.from ? &lo : NULL;
	to = s.to ? &hi : NULL;
	if (st.prefix.len) {
		/* the narrower of [--from, --to) and the prefix's range */
		if (!from || kv_keycmp(from, &st.prefix) < 0)
			from = &st.prefix;
		if (kv_prefix_end(&st.prefix, &pend) &&
		    (!to || kv_keycmp(&pend, to) < 0))
			to = &pend;
	}
	st.o = &o;
	st.s = &s;
	if (o.json)
		st.records = json_object_new_array();
	rc = kv_open_rdonly(argv[optind], &db, NULL);
	if (rc)
		goto out_free;
	rc = daxkv_scan(db, from ? from->data : NULL, from ? from->len : 0,
			to ? to->data : NULL, to ? to->len : 0, kv_scan_one, &st);
	if (rc < 0)
		rc = kv_fail("scan", rc);
	else
		rc = 0;
	if (!rc && o.json) {
		json_object *obj = json_object_new_object();

		json_object_object_add(obj, "count",
				       json_object_new_uint64(st.count));
		json_object_object_add(obj, "records", json_object_get(st.records));
		kv_json_print(obj);
		json_object_put(obj);
	}
	if (kv_close(db) && !rc)
		rc = KV_EXIT_PROBLEMS;
out_free:
	json_object_put(st.records);
	free(lo.data);
	free(hi.data);
	free(pend.data);
	free(st.prefix.data);
	return rc;
}

/* ---- dump ---- */

static const char kv_dump_help[] =
	"usage: kvctl dump DIR [FILE]\n"
	"Write every live key and value to FILE (default: standard output) as\n"
	"JSON lines; see DUMP FORMAT in kvctl(1).\n"
	"DIR is opened read-only: beside other readers, on a read-only mount\n"
	"too; refused (exit 3) while a program holds it read-write.\n";

struct kv_dump_state {
	FILE *out;
	uint64_t count;
};

static int kv_dump_one(const void *key, size_t klen, const void *val,
		       size_t vlen, void *arg)
{
	struct kv_dump_state *st = arg;
	json_object *line = json_object_new_object();
	char *text;

	if (kv_is_text(key, klen)) {
		json_object_object_add(line, "k",
				       json_object_new_string_len(key, (int)klen));
	} else {
		text = kv_base64_encode(key, klen);
		json_object_object_add(line, "k64", json_object_new_string(text));
		free(text);
	}
	if (kv_is_text(val, vlen)) {
		json_object_object_add(line, "v",
				       json_object_new_string_len(val, (int)vlen));
	} else {
		text = kv_base64_encode(val, vlen);
		json_object_object_add(line, "v64", json_object_new_string(text));
		free(text);
	}
	fprintf(st->out, "%s\n",
		json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(line);
	st->count++;
	return ferror(st->out) ? 1 : 0;
}

int kv_cmd_dump(int argc, char **argv)
{
	struct kv_data_opts o;
	struct kv_dump_state st = { 0 };
	const char *file;
	daxkv *db;
	int rc;

	rc = kv_data_parse(argc, argv, kv_dump_help, &o, NULL, NULL);
	if (rc >= 0)
		return rc;
	if (o.enc != KV_ENC_TEXT || o.json)
		return kv_usage_error(argv[0], "dump has its own format: no "
				      "--hex, --base64 or --json");
	rc = kv_need_args(argc, argv, 1, 2, "kvctl dump DIR [FILE]");
	if (rc >= 0)
		return rc;
	file = argc - optind == 2 ? argv[optind + 1] : "-";
	rc = kv_open_rdonly(argv[optind], &db, NULL);
	if (rc)
		return rc;
	st.out = strcmp(file, "-") ? fopen(file, "w") : stdout;
	if (!st.out) {
		fprintf(stderr, "%s dump: %s: %s\n", kv_prog, file,
			strerror(errno));
		daxkv_close(db);
		return KV_EXIT_PROBLEMS;
	}
	fprintf(st.out, "{\"daxkv_dump\":%d}\n", KV_DUMP_VERSION);
	rc = daxkv_scan(db, NULL, 0, NULL, 0, kv_dump_one, &st);
	if (rc < 0)
		rc = kv_fail("dump", rc);
	else if (rc == 0)
		fprintf(st.out, "{\"end\":true,\"count\":%llu}\n",
			(unsigned long long)st.count);
	if ((rc == 1 || fflush(st.out) != 0 || ferror(st.out))) {
		fprintf(stderr, "%s dump: %s: write error: %s\n", kv_prog, file,
			strerror(errno));
		rc = KV_EXIT_PROBLEMS;
	}
	if (st.out != stdout && fclose(st.out) != 0 && !rc) {
		fprintf(stderr, "%s dump: %s: %s\n", kv_prog, file,
			strerror(errno));
		rc = KV_EXIT_PROBLEMS;
	}
	if (kv_close(db) && !rc)
		rc = KV_EXIT_PROBLEMS;
	return rc;
}

/* ---- load ---- */

static const char kv_load_help[] =
	"usage: kvctl load DIR [FILE] [--quiet]\n"
	"Read a dump (kvctl dump) from FILE (default: standard input) into DIR,\n"
	"creating the database with default options if DIR has none.  Records\n"
	"are committed in batches; progress is shown on a terminal.  Keys that\n"
	"exist are replaced.\n";

/* Bytes or text of field @p name, or its base64 twin @p name64. */
static int kv_load_field(json_object *line, const char *name,
			 const char *name64, struct kv_buf *out, bool *owned)
{
	json_object *field;

	*owned = false;
	if (json_object_object_get_ex(line, name, &field) &&
	    json_object_is_type(field, json_type_string)) {
		out->data = (uint8_t *)json_object_get_string(field);
		out->len = (size_t)json_object_get_string_len(field);
		return 0;
	}
	if (json_object_object_get_ex(line, name64, &field) &&
	    json_object_is_type(field, json_type_string) &&
	    kv_base64_decode(json_object_get_string(field),
			     (size_t)json_object_get_string_len(field), out)) {
		*owned = true;
		return 0;
	}
	return -1;
}

static void kv_load_progress(uint64_t records, uint64_t bytes, bool last)
{
	fprintf(stderr, "\r%s load: %llu records, %.1f MiB%s", kv_prog,
		(unsigned long long)records, (double)bytes / (1 << 20),
		last ? "\n" : "");
}

int kv_cmd_load(int argc, char **argv)
{
	struct kv_data_opts o;
	struct daxkv_options opts;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	const char *file;
	bool quiet = false, progress, ended = false;
	uint64_t lineno = 0, loaded = 0, pending = 0, bytes = 0, batch_bytes = 0,
		 budget;
	struct timespec last_shown = { 0 }, now;
	daxkv_batch *batch = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *in;
	daxkv *db;
	int rc;

	rc = kv_data_parse(argc, argv, kv_load_help, &o, NULL, &quiet);
	if (rc >= 0)
		return rc;
	if (o.enc != KV_ENC_TEXT || o.json)
		return kv_usage_error(argv[0], "load reads its own format: no "
				      "--hex, --base64 or --json");
	rc = kv_need_args(argc, argv, 1, 2, "kvctl load DIR [FILE]");
	if (rc >= 0)
		return rc;
	file = argc - optind == 2 ? argv[optind + 1] : "-";
	in = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!in) {
		fprintf(stderr, "%s load: %s: %s\n", kv_prog, file,
			strerror(errno));
		return KV_EXIT_PROBLEMS;
	}
	daxkv_options_init(&opts);
	opts.flags = KV_OPEN_FLAGS;
	rc = daxkv_open(argv[optind], &opts, &db);
	if (rc) {
		char what[4200];

		snprintf(what, sizeof(what), "cannot open %s", argv[optind]);
		rc = kv_fail(what, rc);
		if (in != stdin)
			fclose(in);
		return rc == KV_EXIT_USAGE ? KV_EXIT_NOOPEN : rc;
	}
	daxkv_stat(db, &st);
	/* a batch must fit in one segment: stay well below */
	budget = st.segment_size / 4;
	progress = !quiet && isatty(STDERR_FILENO);
	if ((rc = daxkv_batch_new(&batch)) != 0) {
		rc = kv_fail("load", rc);
		goto out;
	}

	while ((len = getline(&line, &cap, in)) > 0) {
		struct json_tokener *tok;
		json_object *obj, *field;
		struct kv_buf key = { 0 }, val = { 0 };
		bool kown = false, vown = false;
		enum json_tokener_error jerr;

		lineno++;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		tok = json_tokener_new();
		obj = tok ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
		jerr = tok ? json_tokener_get_error(tok) : json_tokener_error_depth;
		if (obj && tok && json_tokener_get_parse_end(tok) != (size_t)len)
			jerr = json_tokener_error_parse_unexpected;
		json_tokener_free(tok);
		if (jerr != json_tokener_success || !obj ||
		    !json_object_is_type(obj, json_type_object)) {
			fprintf(stderr, "%s load: %s:%llu: not a JSON object "
				"(%s)\n", kv_prog, file,
				(unsigned long long)lineno,
				json_tokener_error_desc(jerr));
			json_object_put(obj);
			rc = KV_EXIT_PROBLEMS;
			goto out;
		}
		if (lineno == 1) {
			if (!json_object_object_get_ex(obj, "daxkv_dump", &field) ||
			    json_object_get_int(field) != KV_DUMP_VERSION) {
				fprintf(stderr, "%s load: %s:1: not a daxkv dump "
					"of version %d\n", kv_prog, file,
					KV_DUMP_VERSION);
				json_object_put(obj);
				rc = KV_EXIT_PROBLEMS;
				goto out;
			}
			json_object_put(obj);
			continue;
		}
		if (ended) {
			fprintf(stderr, "%s load: %s:%llu: data after the end "
				"line\n", kv_prog, file,
				(unsigned long long)lineno);
			json_object_put(obj);
			rc = KV_EXIT_PROBLEMS;
			goto out;
		}
		if (json_object_object_get_ex(obj, "end", &field)) {
			json_object *count;

			if (!json_object_object_get_ex(obj, "count", &count) ||
			    json_object_get_uint64(count) != loaded + pending) {
				fprintf(stderr, "%s load: %s:%llu: end line "
					"says %llu records, the file has "
					"%llu\n", kv_prog, file,
					(unsigned long long)lineno,
					(unsigned long long)json_object_get_uint64(count),
					(unsigned long long)(loaded + pending));
				json_object_put(obj);
				rc = KV_EXIT_PROBLEMS;
				goto out;
			}
			ended = true;
			json_object_put(obj);
			continue;
		}
		if (kv_load_field(obj, "k", "k64", &key, &kown) ||
		    kv_load_field(obj, "v", "v64", &val, &vown)) {
			fprintf(stderr, "%s load: %s:%llu: needs \"k\" or "
				"\"k64\" and \"v\" or \"v64\" (base64)\n",
				kv_prog, file, (unsigned long long)lineno);
			if (kown)
				free(key.data);
			json_object_put(obj);
			rc = KV_EXIT_PROBLEMS;
			goto out;
		}
		rc = daxkv_batch_put(batch, key.data, key.len, val.data, val.len);
		if (kown)
			free(key.data);
		if (vown)
			free(val.data);
		json_object_put(obj);
		if (rc) {
			fprintf(stderr, "%s load: %s:%llu: ", kv_prog, file,
				(unsigned long long)lineno);
			rc = kv_fail("record refused", rc);
			goto out;
		}
		pending++;
		batch_bytes += 32 + key.len + val.len + 8;
		bytes += key.len + val.len;
		if (pending >= KV_LOAD_BATCH_OPS || batch_bytes >= budget) {
			rc = daxkv_batch_commit(db, batch);
			if (rc) {
				rc = kv_fail("load: commit", rc);
				goto out;
			}
			daxkv_batch_clear(batch);
			loaded += pending;
			pending = 0;
			batch_bytes = 0;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (progress && now.tv_sec != last_shown.tv_sec) {
				kv_load_progress(loaded, bytes, false);
				last_shown = now;
			}
		}
	}
	if (ferror(in)) {
		fprintf(stderr, "%s load: %s: read error\n", kv_prog, file);
		rc = KV_EXIT_PROBLEMS;
		goto out;
	}
	if (!ended) {
		fprintf(stderr, "%s load: %s: no end line: the dump is "
			"truncated\n", kv_prog, file);
		rc = KV_EXIT_PROBLEMS;
		goto out;
	}
	if (pending) {
		rc = daxkv_batch_commit(db, batch);
		if (rc) {
			rc = kv_fail("load: commit", rc);
			goto out;
		}
		loaded += pending;
		pending = 0;
	}
	if (progress)
		kv_load_progress(loaded, bytes, true);
	rc = 0;
out:
	if (rc && loaded)
		fprintf(stderr, "%s load: %llu records were committed before "
			"the error\n", kv_prog, (unsigned long long)loaded);
	daxkv_batch_free(batch);
	free(line);
	if (in != stdin)
		fclose(in);
	if (kv_close(db) && !rc)
		rc = KV_EXIT_PROBLEMS;
	return rc;
}
