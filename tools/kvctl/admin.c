// SPDX-License-Identifier: MIT
/*
 * admin.c -- create, info, stats, compact and check.
 *
 * info and stats open the database read-only (DAXKV_OPEN_RDONLY: they
 * change nothing, run beside other readers, and exit 3 while a writer
 * holds it); create and compact open it read-write and close it, which
 * writes a checkpoint.  check never opens it: daxkv_check() takes the
 * same directory lock (shared without --repair) and reads the files, and
 * the libpmempool check of meta.pool runs in its pool hook, under that
 * lock, before anything maps the pool.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpmempool.h>

#include "kvctl.h"

static const struct option kv_admin_longopts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "segment-size", required_argument, NULL, 's' },
	{ "max-size", required_argument, NULL, 'm' },
	{ "durability", required_argument, NULL, 'd' },
	{ "repair", no_argument, NULL, 'r' },
	{ "yes", no_argument, NULL, 'y' },
	{ NULL, 0, NULL, 0 },
};

static void kv_uuid_string(const uint8_t *uuid, char *buf)
{
	static const char digits[] = "0123456789abcdef";
	char *p = buf;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = digits[uuid[i] >> 4];
		*p++ = digits[uuid[i] & 15];
	}
	*p = '\0';
}

static const char *kv_recovery_name(uint32_t recovery)
{
	switch (recovery) {
	case DAXKV_RECOVERY_NONE:
		return "none";
	case DAXKV_RECOVERY_CHECKPOINT:
		return "checkpoint";
	case DAXKV_RECOVERY_SCAN:
		return "scan";
	default:
		return "unknown";
	}
}

/* Space amplification: bytes mapped over the bytes a full compaction
 * would keep.  Negative when nothing is kept (no record at all). */
static double kv_space_amp(const struct daxkv_stat *st)
{
	if (!st->record_live_bytes)
		return -1;
	return (double)st->bytes_mapped / (double)st->record_live_bytes;
}

static json_object *kv_json_amp(const struct daxkv_stat *st)
{
	double amp = kv_space_amp(st);

	return amp < 0 ? NULL : json_object_new_double(amp);
}

static void kv_print_amp(const struct daxkv_stat *st)
{
	double amp = kv_space_amp(st);

	if (amp < 0)
		printf("- (no records)");
	else
		printf("%.2fx", amp);
}

static uint64_t kv_record_dead_bytes(const struct daxkv_stat *st)
{
	return st->bytes_written > st->record_live_bytes ?
		       st->bytes_written - st->record_live_bytes : 0;
}

/* Parse options; only those in @p allowed are accepted.  -1: go on. */
struct kv_admin_opts {
	bool json, repair, yes, msync;
	uint64_t segment_size, max_size;
};

static int kv_admin_parse(int argc, char **argv, const char *allowed,
			  const char *help, struct kv_admin_opts *o)
{
	int opt;

	memset(o, 0, sizeof(*o));
	while ((opt = getopt_long(argc, argv, "jh", kv_admin_longopts,
				  NULL)) != -1) {
		if (opt != 'h' && opt != '?' && !strchr(allowed, opt))
			return kv_usage_error(argv[0], "option '%s' does not "
					      "apply here", argv[optind - 1]);
		switch (opt) {
		case 'j':
			o->json = true;
			break;
		case 'h':
			return kv_help(help);
		case 's':
			if (!kv_parse_size(optarg, &o->segment_size))
				return kv_usage_error(argv[0], "--segment-size "
						      "'%s' is not a size", optarg);
			break;
		case 'm':
			if (!kv_parse_size(optarg, &o->max_size))
				return kv_usage_error(argv[0], "--max-size '%s' "
						      "is not a size", optarg);
			break;
		case 'd':
			if (!strcmp(optarg, "msync"))
				o->msync = true;
			else if (strcmp(optarg, "auto"))
				return kv_usage_error(argv[0], "--durability "
						      "is 'auto' or 'msync', not "
						      "'%s'", optarg);
			break;
		case 'r':
			o->repair = true;
			break;
		case 'y':
			o->yes = true;
			break;
		default:
			return kv_usage_error(argv[0], "bad option");
		}
	}
	if (argc - optind != 1)
		return kv_usage_error(argv[0], "%s DIR",
				      argc - optind < 1 ? "missing" :
							  "too many arguments after");
	return -1;
}

/* ---- create ---- */

static const char kv_create_help[] =
	"usage: kvctl create DIR [--segment-size SIZE] [--max-size SIZE]\n"
	"                        [--durability auto|msync] [--json]\n"
	"Create a database in DIR (made if missing; must not hold one).\n"
	"SIZE takes K, M, G, T suffixes (powers of 1024).  --segment-size is a\n"
	"multiple of 2M from 2M to 1G (default 64M) and is fixed for good;\n"
	"--max-size caps all files (0 = none).  --durability msync forces\n"
	"msync for this open; each later open probes again.\n";

int kv_cmd_create(int argc, char **argv)
{
	struct kv_admin_opts o;
	struct daxkv_options opts;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	char uuid[40], what[4200];
	daxkv *db;
	int rc;

	rc = kv_admin_parse(argc, argv, "jsmd", kv_create_help, &o);
	if (rc >= 0)
		return rc;
	daxkv_options_init(&opts);
	opts.flags = DAXKV_OPEN_EXCLUSIVE | KV_OPEN_FLAGS |
		     (o.msync ? DAXKV_OPEN_FORCE_MSYNC : 0);
	if (o.segment_size)
		opts.segment_size = o.segment_size;
	opts.max_size = o.max_size;
	rc = daxkv_open(argv[optind], &opts, &db);
	if (rc) {
		snprintf(what, sizeof(what), "cannot create %s", argv[optind]);
		rc = kv_fail(what, rc);
		return rc == KV_EXIT_USAGE && strstr(daxkv_errmsg(), "exists") ?
			       KV_EXIT_NOOPEN : rc;
	}
	daxkv_stat(db, &st);
	kv_uuid_string(st.uuid, uuid);
	if (o.json) {
		json_object *obj = json_object_new_object();

		json_object_object_add(obj, "path", json_object_new_string(argv[optind]));
		json_object_object_add(obj, "uuid", json_object_new_string(uuid));
		json_object_object_add(obj, "segment_size",
				       json_object_new_uint64(st.segment_size));
		json_object_object_add(obj, "max_size",
				       json_object_new_uint64(st.max_size));
		json_object_object_add(obj, "durability",
				       json_object_new_string(daxkv_durability_name(st.durability)));
		kv_json_print(obj);
		json_object_put(obj);
	} else {
		printf("created %s: uuid %s, segment size %llu, durability %s\n",
		       argv[optind], uuid, (unsigned long long)st.segment_size,
		       daxkv_durability_name(st.durability));
	}
	return kv_close(db);
}

/* The per-open compaction counters (kvctl's own open). */
static json_object *kv_compaction_json(const struct daxkv_stat *st)
{
	json_object *c = json_object_new_object();

	json_object_object_add(c, "compactions",
			       json_object_new_uint64(st->compactions));
	json_object_object_add(c, "segments_retired",
			       json_object_new_uint64(st->segments_retired));
	json_object_object_add(c, "bytes_compacted",
			       json_object_new_uint64(st->bytes_compacted));
	json_object_object_add(c, "segments_retiring",
			       json_object_new_uint64(st->segments_retiring));
	return c;
}

/* ---- info ---- */

static const char kv_info_help[] =
	"usage: kvctl info DIR [--json]\n"
	"Format version, uuid, options, segments (size, fill, live bytes), keys,\n"
	"live and dead bytes, what compaction would keep and the space\n"
	"amplification (bytes mapped / record bytes kept), the durability mode\n"
	"of kvctl's own open (read-only), the file system and its DAX state, and\n"
	"the pmem namespace underneath (or \"not on pmem\").\n"
	"DIR is opened read-only: beside other readers, on a read-only mount\n"
	"too; refused (exit 3) while a program holds it read-write.\n";

struct kv_seg_list {
	json_object *array;
};

static int kv_info_segment(const struct daxkv_segment_info *si, void *arg)
{
	struct kv_seg_list *list = arg;
	json_object *seg = json_object_new_object();
	char name[32];

	snprintf(name, sizeof(name), "seg-%08u.dat", si->slot);
	json_object_object_add(seg, "slot", json_object_new_int64(si->slot));
	json_object_object_add(seg, "file", json_object_new_string(name));
	json_object_object_add(seg, "gen", json_object_new_int64(si->gen));
	json_object_object_add(seg, "size", json_object_new_uint64(si->size));
	json_object_object_add(seg, "tail", json_object_new_uint64(si->tail));
	json_object_object_add(seg, "fill_percent",
			       json_object_new_double((double)((si->tail * 1000 + si->size / 2) / si->size) / 10.0));
	json_object_object_add(seg, "sealed", json_object_new_boolean(si->sealed));
	json_object_object_add(seg, "live_bytes",
			       json_object_new_uint64(si->live_bytes));
	json_object_object_add(seg, "live_records",
			       json_object_new_uint64(si->live_records));
	json_object_object_add(seg, "durability",
			       json_object_new_string(daxkv_durability_name(
				       (enum daxkv_durability)si->durability)));
	json_object_array_add(list->array, seg);
	return 0;
}

static uint64_t kv_get_u64(json_object *obj, const char *name)
{
	json_object *field;

	return json_object_object_get_ex(obj, name, &field) ?
		       json_object_get_uint64(field) : 0;
}

int kv_cmd_info(int argc, char **argv)
{
	struct kv_admin_opts o;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	struct kv_seg_list segs;
	json_object *obj, *db_obj, *placement;
	char uuid[40];
	daxkv *db;
	int rc;

	rc = kv_admin_parse(argc, argv, "j", kv_info_help, &o);
	if (rc >= 0)
		return rc;
	rc = kv_open_rdonly(argv[optind], &db, NULL);
	if (rc)
		return rc;
	rc = daxkv_stat(db, &st);
	segs.array = json_object_new_array();
	if (!rc)
		rc = daxkv_segment_foreach(db, kv_info_segment, &segs);
	if (rc) {
		rc = kv_fail("info", rc);
		json_object_put(segs.array);
		daxkv_close(db);
		return rc;
	}
	kv_uuid_string(st.uuid, uuid);
	obj = json_object_new_object();
	json_object_object_add(obj, "path", json_object_new_string(argv[optind]));
	db_obj = json_object_new_object();
	json_object_object_add(db_obj, "format_version",
			       json_object_new_int64(st.format_version));
	json_object_object_add(db_obj, "library_version",
			       json_object_new_string(daxkv_version()));
	json_object_object_add(db_obj, "uuid", json_object_new_string(uuid));
	json_object_object_add(db_obj, "segment_size",
			       json_object_new_uint64(st.segment_size));
	json_object_object_add(db_obj, "max_size", json_object_new_uint64(st.max_size));
	json_object_object_add(db_obj, "durability",
			       json_object_new_string(daxkv_durability_name(st.durability)));
	json_object_object_add(db_obj, "segments_msync",
			       json_object_new_uint64(st.segments_msync));
	json_object_object_add(db_obj, "compaction_errors",
			       json_object_new_uint64(st.compaction_errors));
	json_object_object_add(db_obj, "bad_blocks",
			       json_object_new_uint64(st.bad_blocks));
	json_object_object_add(db_obj, "recovery",
			       json_object_new_string(kv_recovery_name(st.recovery)));
	json_object_object_add(db_obj, "keys", json_object_new_uint64(st.keys));
	json_object_object_add(db_obj, "segments", json_object_new_uint64(st.segments));
	json_object_object_add(db_obj, "bytes_mapped",
			       json_object_new_uint64(st.bytes_mapped));
	json_object_object_add(db_obj, "bytes_written",
			       json_object_new_uint64(st.bytes_written));
	json_object_object_add(db_obj, "live_bytes", json_object_new_uint64(st.live_bytes));
	json_object_object_add(db_obj, "dead_bytes",
			       json_object_new_uint64(st.bytes_written > st.live_bytes ?
							      st.bytes_written - st.live_bytes : 0));
	json_object_object_add(db_obj, "last_seq", json_object_new_uint64(st.last_seq));
	json_object_object_add(db_obj, "record_live_bytes",
			       json_object_new_uint64(st.record_live_bytes));
	json_object_object_add(db_obj, "record_dead_bytes",
			       json_object_new_uint64(kv_record_dead_bytes(&st)));
	json_object_object_add(db_obj, "space_amplification", kv_json_amp(&st));
	json_object_object_add(db_obj, "compaction", kv_compaction_json(&st));
	json_object_object_add(obj, "database", db_obj);
	json_object_object_add(obj, "segments", segs.array);
	rc = kv_close(db);
	placement = kv_placement(argv[optind]);
	json_object_object_add(obj, "placement", placement);

	if (o.json) {
		kv_json_print(obj);
	} else {
		size_t n = json_object_array_length(segs.array);

		printf("database %s\n", argv[optind]);
		printf("  format version   %u (library %s)\n", st.format_version,
		       daxkv_version());
		printf("  uuid             %s\n", uuid);
		printf("  segment size     %llu\n", (unsigned long long)st.segment_size);
		if (st.max_size)
			printf("  max size         %llu\n",
			       (unsigned long long)st.max_size);
		else
			printf("  max size         none\n");
		printf("  durability       %s", daxkv_durability_name(st.durability));
		if (st.segments_msync && st.segments_msync < st.segments)
			printf(" (mixed: %llu of %llu segments msync, see below)",
			       (unsigned long long)st.segments_msync,
			       (unsigned long long)st.segments);
		else if (st.durability == DAXKV_DUR_READONLY && n)
			/* what a writer's open would use on this media */
			printf(" (segments %s)",
			       json_object_get_string(json_object_object_get(
				       json_object_array_get_idx(segs.array, 0),
				       "durability")));
		printf("\n");
		if (st.compaction_errors || st.bad_blocks)
			printf("  damage           %llu compaction rounds stopped "
			       "by damage, %llu segments with bad blocks: run "
			       "kvctl check\n",
			       (unsigned long long)st.compaction_errors,
			       (unsigned long long)st.bad_blocks);
		printf("  last open        %s recovery\n", kv_recovery_name(st.recovery));
		printf("  keys             %llu\n", (unsigned long long)st.keys);
		printf("  bytes            %llu mapped, %llu written, %llu live, "
		       "%llu dead\n",
		       (unsigned long long)st.bytes_mapped,
		       (unsigned long long)st.bytes_written,
		       (unsigned long long)st.live_bytes,
		       (unsigned long long)kv_get_u64(db_obj, "dead_bytes"));
		printf("  records          %llu bytes kept by compaction (deletes "
		       "included), %llu dead\n",
		       (unsigned long long)st.record_live_bytes,
		       (unsigned long long)kv_record_dead_bytes(&st));
		printf("  space amp.       ");
		kv_print_amp(&st);
		printf(" (bytes mapped / bytes kept)\n");
		printf("  compaction       this open: %llu rounds, %llu segments "
		       "retired, %llu bytes copied, %llu retiring\n",
		       (unsigned long long)st.compactions,
		       (unsigned long long)st.segments_retired,
		       (unsigned long long)st.bytes_compacted,
		       (unsigned long long)st.segments_retiring);
		printf("  segments         %zu\n", n);
		for (size_t i = 0; i < n; i++) {
			json_object *seg = json_object_array_get_idx(segs.array, i);
			json_object *field;

			json_object_object_get_ex(seg, "sealed", &field);
			printf("    %s  tail %llu of %llu (%.1f%%), %s, %llu live "
			       "bytes in %llu records%s%s\n",
			       json_object_get_string(json_object_object_get(seg, "file")),
			       (unsigned long long)kv_get_u64(seg, "tail"),
			       (unsigned long long)kv_get_u64(seg, "size"),
			       json_object_get_double(json_object_object_get(seg, "fill_percent")),
			       json_object_get_boolean(field) ? "sealed" : "open",
			       (unsigned long long)kv_get_u64(seg, "live_bytes"),
			       (unsigned long long)kv_get_u64(seg, "live_records"),
			       st.segments_msync && st.segments_msync < st.segments ?
				       ", " : "",
			       st.segments_msync && st.segments_msync < st.segments ?
				       json_object_get_string(json_object_object_get(
					       seg, "durability")) : "");
		}
		kv_placement_print(placement);
	}
	json_object_put(obj);
	return rc;
}

/* ---- stats ---- */

static const char *const kv_latency_names[] = {
	"put", "get", "delete", "batch", "scan", "query",
};

static const struct daxkv_latency *kv_latency_of(const struct daxkv_stat *st,
						 int i)
{
	const struct daxkv_latency *all[] = {
		&st->put_latency,   &st->get_latency,  &st->delete_latency,
		&st->batch_latency, &st->scan_latency, &st->query_latency,
	};

	return all[i];
}

static json_object *kv_latency_json(const struct daxkv_stat *st)
{
	json_object *obj = json_object_new_object();

	for (int i = 0; i < 6; i++) {
		const struct daxkv_latency *l = kv_latency_of(st, i);
		json_object *o = json_object_new_object();

		json_object_object_add(o, "samples",
				       json_object_new_uint64(l->samples));
		json_object_object_add(o, "p50_ns",
				       json_object_new_uint64(l->p50_ns));
		json_object_object_add(o, "p90_ns",
				       json_object_new_uint64(l->p90_ns));
		json_object_object_add(o, "p99_ns",
				       json_object_new_uint64(l->p99_ns));
		json_object_object_add(o, "p999_ns",
				       json_object_new_uint64(l->p999_ns));
		json_object_object_add(o, "max_ns",
				       json_object_new_uint64(l->max_ns));
		json_object_object_add(obj, kv_latency_names[i], o);
	}
	return obj;
}

/* ns as a short figure: 850ns, 12.3us, 4.56ms, 1.20s */
static void kv_ns_text(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000)
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2fms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", (double)ns / 1e9);
}

static void kv_latency_print(const struct daxkv_stat *st)
{
	printf("  latency (this open)     %9s %9s %9s %9s %9s %9s\n",
	       "samples", "p50", "p90", "p99", "p99.9", "max");
	for (int i = 0; i < 6; i++) {
		const struct daxkv_latency *l = kv_latency_of(st, i);
		uint64_t v[5] = { l->p50_ns, l->p90_ns, l->p99_ns, l->p999_ns,
				  l->max_ns };
		char text[5][16];

		for (int j = 0; j < 5; j++) {
			if (l->samples)
				kv_ns_text(v[j], text[j], sizeof(text[j]));
			else
				snprintf(text[j], sizeof(text[j]), "-");
		}
		printf("    %-20s %9llu %9s %9s %9s %9s %9s\n",
		       kv_latency_names[i], (unsigned long long)l->samples,
		       text[0], text[1], text[2], text[3], text[4]);
	}
}

static const char kv_stats_help[] =
	"usage: kvctl stats DIR [--json]\n"
	"Operation counters, latency percentiles (put, get, delete, batch,\n"
	"scan, query), recovery figures and space use the engine keeps.\n"
	"Counters and latencies are kept per open handle and this command opens\n"
	"the database (read-only) itself, so they describe kvctl's own open; a\n"
	"program reads its own with daxkv_stat().  A database open read-write\n"
	"in another process is refused (exit 3) with that process's pid.\n";

int kv_cmd_stats(int argc, char **argv)
{
	struct kv_admin_opts o;
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	json_object *obj, *ops, *rec, *space;
	daxkv *db;
	int rc;

	int err;

	rc = kv_admin_parse(argc, argv, "j", kv_stats_help, &o);
	if (rc >= 0)
		return rc;
	rc = kv_open_rdonly(argv[optind], &db, &err);
	if (rc) {
		if (err == DAXKV_EBUSY)
			fprintf(stderr, "%s stats: its counters live in that "
				"process; daxkv cannot read them from outside "
				"yet\n", kv_prog);
		return rc;
	}
	rc = daxkv_stat(db, &st);
	if (rc) {
		rc = kv_fail("stats", rc);
		daxkv_close(db);
		return rc;
	}
	rc = kv_close(db);
	obj = json_object_new_object();
	json_object_object_add(obj, "path", json_object_new_string(argv[optind]));
	ops = json_object_new_object();
	json_object_object_add(ops, "puts", json_object_new_uint64(st.puts));
	json_object_object_add(ops, "gets", json_object_new_uint64(st.gets));
	json_object_object_add(ops, "deletes", json_object_new_uint64(st.deletes));
	json_object_object_add(ops, "batches", json_object_new_uint64(st.batches));
	json_object_object_add(ops, "scans", json_object_new_uint64(st.scans));
	json_object_object_add(ops, "lanes", json_object_new_uint64(st.lanes));
	json_object_object_add(obj, "operations", ops);
	rec = json_object_new_object();
	json_object_object_add(rec, "mode",
			       json_object_new_string(kv_recovery_name(st.recovery)));
	json_object_object_add(rec, "ns", json_object_new_uint64(st.recovery_ns));
	json_object_object_add(rec, "records",
			       json_object_new_uint64(st.recovered_records));
	json_object_object_add(rec, "discarded",
			       json_object_new_uint64(st.discarded_records));
	json_object_object_add(obj, "recovery", rec);
	space = json_object_new_object();
	json_object_object_add(space, "keys", json_object_new_uint64(st.keys));
	json_object_object_add(space, "segments", json_object_new_uint64(st.segments));
	json_object_object_add(space, "bytes_mapped",
			       json_object_new_uint64(st.bytes_mapped));
	json_object_object_add(space, "bytes_written",
			       json_object_new_uint64(st.bytes_written));
	json_object_object_add(space, "live_bytes", json_object_new_uint64(st.live_bytes));
	json_object_object_add(space, "dead_bytes",
			       json_object_new_uint64(st.bytes_written > st.live_bytes ?
							      st.bytes_written - st.live_bytes : 0));
	json_object_object_add(obj, "space", space);
	json_object_object_add(obj, "latency", kv_latency_json(&st));
	if (o.json) {
		kv_json_print(obj);
	} else {
		printf("database %s\n", argv[optind]);
		printf("  operations (this open)  %llu puts, %llu gets, %llu deletes, "
		       "%llu batches, %llu scans\n",
		       (unsigned long long)st.puts, (unsigned long long)st.gets,
		       (unsigned long long)st.deletes,
		       (unsigned long long)st.batches, (unsigned long long)st.scans);
		printf("  recovery                %s, %.3f ms, %llu records, "
		       "%llu discarded\n",
		       kv_recovery_name(st.recovery), (double)st.recovery_ns / 1e6,
		       (unsigned long long)st.recovered_records,
		       (unsigned long long)st.discarded_records);
		printf("  space                   %llu keys, %llu segments, %llu "
		       "written, %llu live, %llu dead bytes\n",
		       (unsigned long long)st.keys, (unsigned long long)st.segments,
		       (unsigned long long)st.bytes_written,
		       (unsigned long long)st.live_bytes,
		       (unsigned long long)(st.bytes_written > st.live_bytes ?
						    st.bytes_written - st.live_bytes : 0));
		kv_latency_print(&st);
	}
	json_object_put(obj);
	return rc;
}

/* ---- compact ---- */

static const char kv_compact_help[] =
	"usage: kvctl compact DIR [--json]\n"
	"Compact now: copy the live records of every segment at most 90% live\n"
	"into new segments, round after round, and remove the old files (their\n"
	"space goes back to the file system).  Prints, before and after: segments,\n"
	"bytes mapped, record bytes kept (the newest record of each key, deletes\n"
	"included) and space amplification (mapped / kept); then segments\n"
	"retired, bytes copied and the time taken.  Segments fuller than 90%\n"
	"stay, and so does a lone sparse one (copying it would free nothing).\n"
	"The database must not be open elsewhere (exit 3).  Exit 1 if\n"
	"compaction fails (out of space, I/O); what earlier rounds did is kept\n"
	"and reported.\n";

static json_object *kv_space_json(const struct daxkv_stat *st)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "segments", json_object_new_uint64(st->segments));
	json_object_object_add(o, "bytes_mapped",
			       json_object_new_uint64(st->bytes_mapped));
	json_object_object_add(o, "bytes_written",
			       json_object_new_uint64(st->bytes_written));
	json_object_object_add(o, "record_live_bytes",
			       json_object_new_uint64(st->record_live_bytes));
	json_object_object_add(o, "space_amplification", kv_json_amp(st));
	return o;
}

static uint64_t kv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int kv_cmd_compact(int argc, char **argv)
{
	struct kv_admin_opts o;
	struct daxkv_stat before = { .version = DAXKV_STAT_VERSION };
	struct daxkv_stat after = { .version = DAXKV_STAT_VERSION };
	json_object *obj;
	uint64_t t0, elapsed;
	daxkv *db;
	int rc, crc, close_rc;
	char errmsg[512] = "";

	rc = kv_admin_parse(argc, argv, "j", kv_compact_help, &o);
	if (rc >= 0)
		return rc;
	rc = kv_open(argv[optind], &db);
	if (rc)
		return rc;
	rc = daxkv_stat(db, &before);
	if (rc) {
		rc = kv_fail("compact", rc);
		daxkv_close(db);
		return rc;
	}
	t0 = kv_now_ns();
	crc = daxkv_compact(db);
	elapsed = kv_now_ns() - t0;
	if (crc)
		snprintf(errmsg, sizeof(errmsg), "%s%s%s", daxkv_strerror(crc),
			 *daxkv_errmsg() ? ": " : "", daxkv_errmsg());
	rc = daxkv_stat(db, &after);
	if (rc) {
		rc = kv_fail("compact", rc);
		daxkv_close(db);
		return rc;
	}
	close_rc = kv_close(db);

	obj = json_object_new_object();
	json_object_object_add(obj, "path", json_object_new_string(argv[optind]));
	json_object_object_add(obj, "before", kv_space_json(&before));
	json_object_object_add(obj, "after", kv_space_json(&after));
	json_object_object_add(obj, "compactions",
			       json_object_new_uint64(after.compactions -
						      before.compactions));
	json_object_object_add(obj, "segments_retired",
			       json_object_new_uint64(after.segments_retired -
						      before.segments_retired));
	json_object_object_add(obj, "bytes_compacted",
			       json_object_new_uint64(after.bytes_compacted -
						      before.bytes_compacted));
	json_object_object_add(obj, "segments_retiring",
			       json_object_new_uint64(after.segments_retiring));
	json_object_object_add(obj, "time_ns", json_object_new_uint64(elapsed));
	json_object_object_add(obj, "ok", json_object_new_boolean(crc == 0));
	json_object_object_add(obj, "error",
			       crc ? json_object_new_string(errmsg) : NULL);
	if (o.json) {
		kv_json_print(obj);
	} else {
		printf("compacted %s in %.3f s: %llu round%s, %llu segment%s "
		       "retired, %llu bytes copied\n",
		       argv[optind], (double)elapsed / 1e9,
		       (unsigned long long)(after.compactions - before.compactions),
		       after.compactions - before.compactions == 1 ? "" : "s",
		       (unsigned long long)(after.segments_retired -
					    before.segments_retired),
		       after.segments_retired - before.segments_retired == 1 ?
			       "" : "s",
		       (unsigned long long)(after.bytes_compacted -
					    before.bytes_compacted));
		printf("                 %16s %16s\n", "before", "after");
		printf("  segments       %16llu %16llu\n",
		       (unsigned long long)before.segments,
		       (unsigned long long)after.segments);
		printf("  bytes mapped   %16llu %16llu\n",
		       (unsigned long long)before.bytes_mapped,
		       (unsigned long long)after.bytes_mapped);
		printf("  record bytes   %16llu %16llu   (kept by compaction)\n",
		       (unsigned long long)before.record_live_bytes,
		       (unsigned long long)after.record_live_bytes);
		printf("  space amp.     ");
		for (int i = 0; i < 2; i++) {
			double amp = kv_space_amp(i ? &after : &before);
			char buf[32];

			if (amp < 0)
				snprintf(buf, sizeof(buf), "-");
			else
				snprintf(buf, sizeof(buf), "%.2fx", amp);
			printf(" %16s", buf);
		}
		printf("   (mapped / kept)\n");
		if (after.segments_retiring)
			printf("%llu compacted segment%s still read by open "
			       "snapshots: removed when they close\n",
			       (unsigned long long)after.segments_retiring,
			       after.segments_retiring == 1 ? " is" : "s are");
	}
	json_object_put(obj);
	if (crc) {
		fprintf(stderr, "%s compact: %s\n", kv_prog, errmsg);
		return KV_EXIT_PROBLEMS;
	}
	return close_rc;
}

/* ---- check ---- */

static const char kv_check_help[] =
	"usage: kvctl check DIR [--repair [--yes]] [--json]\n"
	"Verify meta.pool (libpmempool check, then its root object and segment\n"
	"table) and every record of every live segment.  Each problem is shown\n"
	"with its file and offset; exit 1 if there is any.  --repair asks for\n"
	"confirmation (or takes --yes), then salvages: damaged bytes are copied\n"
	"to SEG.damaged-OFFSET beside their segment before they are overwritten\n"
	"with never-visible filler records; media errors are recorded and their\n"
	"blocks replaced; damaged segment headers and meta.pool are rebuilt from\n"
	"what the segments' own headers say (the old pool kept as\n"
	"meta.pool.damaged); torn tails are quarantined too, then zeroed;\n"
	"orphans proven dead are removed, unknown files renamed NAME.unknown.\n"
	"It never drops a valid record.  Without --repair it reads under a\n"
	"shared lock: beside read-only opens, and on a read-only mount (where\n"
	"libpmempool's check, which opens the pool for writing, is skipped,\n"
	"saying so); a database open read-write elsewhere is refused (exit 3).\n"
	"--repair needs the database open nowhere else (exit 3).\n";

struct kv_check_state {
	bool json, quiet;
	bool repair;      /* this pass repairs */
	json_object *problems;
	uint64_t repairable;
};

static const char *kv_problem_name(uint32_t kind)
{
	switch (kind) {
	case DAXKV_PROBLEM_POOL:
		return "pool";
	case DAXKV_PROBLEM_SEGMENT:
		return "segment";
	case DAXKV_PROBLEM_TORN_TAIL:
		return "torn_tail";
	case DAXKV_PROBLEM_RECORD:
		return "record";
	case DAXKV_PROBLEM_ORPHAN:
		return "orphan";
	case DAXKV_PROBLEM_EXTERNAL:
		return "pmempool";
	default:
		return "unknown";
	}
}

static void kv_check_add(struct kv_check_state *cs, uint32_t kind,
			 const char *file, uint64_t offset, uint64_t length,
			 bool repairable, bool repaired, const char *what)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "kind", json_object_new_string(kv_problem_name(kind)));
	json_object_object_add(p, "file", json_object_new_string(file));
	json_object_object_add(p, "offset", json_object_new_uint64(offset));
	json_object_object_add(p, "length", json_object_new_uint64(length));
	json_object_object_add(p, "repairable", json_object_new_boolean(repairable));
	json_object_object_add(p, "repaired", json_object_new_boolean(repaired));
	json_object_object_add(p, "message", json_object_new_string(what));
	json_object_array_add(cs->problems, p);
	if (repairable && !repaired)
		cs->repairable++;
	if (!cs->json && !cs->quiet)
		printf("%s offset %llu: %s%s\n", file, (unsigned long long)offset,
		       what, repaired ? " [repaired]" :
			     repairable ? " [repairable]" : "");
}

static int kv_check_report(const struct daxkv_check_problem *p, void *arg)
{
	kv_check_add(arg, p->kind, p->file, p->offset, p->length, p->repairable,
		     p->repaired, p->what);
	return 0;
}

/* libpmempool's check of one libpmemobj pool; returns problems found. */
static int kv_check_pool(const char *path, void *arg)
{
	struct kv_check_state *cs = arg;
	struct pmempool_check_args args = {
		.path = path,
		.backup_path = NULL,
		.pool_type = PMEMPOOL_POOL_TYPE_OBJ,
		.flags = PMEMPOOL_CHECK_FORMAT_STR |
			 (cs->repair ? PMEMPOOL_CHECK_REPAIR |
					       PMEMPOOL_CHECK_ALWAYS_YES :
				       0),
	};
	struct pmempool_check_status *status;
	enum pmempool_check_result result;
	PMEMpoolcheck *ppc;
	int found = 0;
	char last[512] = "";

	ppc = pmempool_check_init(&args, sizeof(args));
	if (!ppc && !cs->repair && (errno == EROFS || errno == EACCES)) {
		/* libpmempool opens the pool for writing even to look; the
		 * engine's read of it checked its header and descriptor
		 * checksums, layout and root (daxkv_check) */
		if (!cs->json && !cs->quiet)
			fprintf(stderr, "%s check: %s: libpmempool's check "
				"skipped: it opens the pool for writing (%s); "
				"its checksums are checked by daxkv\n",
				kv_prog, path, strerror(errno));
		return 0;
	}
	if (!ppc) {
		kv_check_add(cs, DAXKV_PROBLEM_EXTERNAL, path, 0, 0, false, false,
			     "libpmempool cannot check this pool");
		return 1;
	}
	while ((status = pmempool_check(ppc)) != NULL) {
		if (status->type == PMEMPOOL_CHECK_MSG_TYPE_ERROR) {
			kv_check_add(cs, DAXKV_PROBLEM_EXTERNAL, path, 0, 0, false,
				     false, status->str.msg);
			found++;
		} else if (status->type == PMEMPOOL_CHECK_MSG_TYPE_QUESTION) {
			snprintf(last, sizeof(last), "%s", status->str.msg);
			status->str.answer = "yes"; /* only with REPAIR */
		}
	}
	result = pmempool_check_end(ppc);
	switch (result) {
	case PMEMPOOL_CHECK_RESULT_CONSISTENT:
		break;
	case PMEMPOOL_CHECK_RESULT_REPAIRED:
		kv_check_add(cs, DAXKV_PROBLEM_EXTERNAL, path, 0, 0, true, true,
			     last[0] ? last : "libpmempool repaired the pool");
		found++;
		break;
	case PMEMPOOL_CHECK_RESULT_NOT_CONSISTENT:
		/* libpmempool may fix it: let --repair try */
		if (found)
			cs->repairable++;
		/* fall through */
	default:
		if (!found) {
			kv_check_add(cs, DAXKV_PROBLEM_EXTERNAL, path, 0, 0,
				     result == PMEMPOOL_CHECK_RESULT_NOT_CONSISTENT,
				     false,
				     last[0] ? last :
					       "libpmempool: pool is not consistent");
			found++;
		}
		break;
	}
	return found;
}

static int kv_check_pass(const char *dir, struct kv_check_state *cs,
			 struct daxkv_check_result *res)
{
	struct daxkv_check_options opts = {
		.version = DAXKV_CHECK_OPTIONS_VERSION,
		.flags = cs->repair ? DAXKV_CHECK_REPAIR : 0,
		.report = kv_check_report,
		.pool_check = kv_check_pool,
		.arg = cs,
	};

	res->version = DAXKV_CHECK_RESULT_VERSION;
	json_object_put(cs->problems);
	cs->problems = json_object_new_array();
	cs->repairable = 0;
	return daxkv_check(dir, &opts, res);
}

static bool kv_confirm(uint64_t n)
{
	char answer[16];

	if (!isatty(STDIN_FILENO))
		return false;
	fprintf(stderr, "Repair %llu problem%s in place? [y/N] ",
		(unsigned long long)n, n == 1 ? "" : "s");
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	return answer[0] == 'y' || answer[0] == 'Y';
}

int kv_cmd_check(int argc, char **argv)
{
	struct kv_admin_opts o;
	struct kv_check_state cs = { 0 };
	struct daxkv_check_result res = { 0 }, fixed = { 0 };
	json_object *obj, *sum, *before = NULL;
	const char *dir;
	bool repaired = false;
	char what[4200];
	int rc;

	rc = kv_admin_parse(argc, argv, "jry", kv_check_help, &o);
	if (rc >= 0)
		return rc;
	if (o.yes && !o.repair)
		return kv_usage_error(argv[0], "--yes only goes with --repair");
	dir = argv[optind];
	snprintf(what, sizeof(what), "cannot check %s", dir);
	cs.json = o.json;
	rc = kv_check_pass(dir, &cs, &res);
	if (rc) {
		json_object_put(cs.problems);
		rc = kv_fail(what, rc);
		return rc == KV_EXIT_USAGE ? KV_EXIT_NOOPEN : rc;
	}
	if (o.repair && res.problems && cs.repairable) {
		if (!o.yes && !kv_confirm(cs.repairable)) {
			fprintf(stderr, "%s check: nothing repaired (confirm on a "
				"terminal, or add --yes)\n", kv_prog);
		} else {
			/* repair, then look again so the verdict is fresh */
			before = json_object_get(cs.problems);
			cs.repair = true;
			cs.quiet = true;
			rc = kv_check_pass(dir, &cs, &fixed);
			if (!rc && !o.json)
				printf("repaired %llu of %llu problems\n",
				       (unsigned long long)fixed.repaired,
				       (unsigned long long)fixed.problems);
			json_object_put(before);
			before = json_object_get(cs.problems);
			cs.repair = false;
			cs.quiet = false;
			if (!rc)
				rc = kv_check_pass(dir, &cs, &res);
			if (rc) {
				json_object_put(before);
				json_object_put(cs.problems);
				rc = kv_fail(what, rc);
				return rc == KV_EXIT_USAGE ? KV_EXIT_NOOPEN : rc;
			}
			repaired = true;
		}
	}

	obj = json_object_new_object();
	json_object_object_add(obj, "path", json_object_new_string(dir));
	json_object_object_add(obj, "problems", json_object_get(cs.problems));
	if (repaired)
		json_object_object_add(obj, "repairs", json_object_get(before));
	sum = json_object_new_object();
	json_object_object_add(sum, "segments", json_object_new_uint64(res.segments));
	json_object_object_add(sum, "records", json_object_new_uint64(res.records));
	json_object_object_add(sum, "record_bytes",
			       json_object_new_uint64(res.record_bytes));
	json_object_object_add(sum, "problems", json_object_new_uint64(res.problems));
	json_object_object_add(sum, "repaired",
			       json_object_new_uint64(repaired ? fixed.repaired : 0));
	json_object_object_add(sum, "dropped_records",
			       json_object_new_uint64(repaired ? fixed.dropped_records :
								 res.dropped_records));
	json_object_object_add(obj, "summary", sum);
	json_object_object_add(obj, "ok", json_object_new_boolean(res.problems == 0));
	if (o.json)
		kv_json_print(obj);
	else
		printf("%s: %llu segments, %llu records (%llu bytes): %s\n", dir,
		       (unsigned long long)res.segments,
		       (unsigned long long)res.records,
		       (unsigned long long)res.record_bytes,
		       res.problems ? "PROBLEMS FOUND" : "ok");
	json_object_put(obj);
	json_object_put(before);
	json_object_put(cs.problems);
	return res.problems ? KV_EXIT_PROBLEMS : KV_EXIT_OK;
}
