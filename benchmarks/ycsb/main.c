/* SPDX-License-Identifier: MIT */
/*
 * main.c -- daxkv-ycsb: YCSB workloads against daxkv, LMDB, RocksDB and a
 * libpmemobj hash table, one driver, one run, so that the ratios hold on
 * a noisy machine.
 *
 * Each cell of the matrix (workload x threads x store x repeat) creates
 * a fresh database in a unique directory, loads it (measured: the load
 * phase), runs the workload (the run phase) and removes the directory.
 * The loops nest repeat > workload > threads > store, so the stores
 * being compared run back to back and machine noise falls on all alike.
 */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "props.h"
#include "report.h"
#include "runner.h"
#include "space.h"
#include "workload.h"

#define MAX_LIST 32
#define SPACE_PERIOD_MS 100 /* space amplification readings in a run */

/* The 1-minute load average, or -1: other work on the machine is what
 * makes a 2-thread figure on 2 cores unreliable, so the report says. */
static double load_average(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l = -1;

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: daxkv-ycsb [options]\n"
	    "  -P FILE        YCSB property file; several are read in order\n"
	    "  -p NAME=VALUE  property override, applied after all files\n"
	    "  -W FILE        one workload of a matrix (repeatable); its\n"
	    "                 properties go over the -P files, the -p over "
	    "it.\n"
	    "                 Without -W the -P files are the one workload.\n"
	    "  -db LIST       stores, comma-separated (default: all built in\n"
	    "                 but daxkv-nocompact, daxkv with compaction off)\n"
	    "  -threads LIST  thread counts, comma-separated (default:\n"
	    "                 the threadcount property)\n"
	    "  -repeats N     repeat every cell N times; medians reported\n"
	    "  -dir DIR       where databases are created (default /dev/shm)\n"
	    "  -out PREFIX    also write PREFIX.md, PREFIX.csv, PREFIX.png\n"
	    "  -verify        dataintegrity=true: check every value read\n"
	    "  -seed N        random seed (default 1)\n"
	    "  -q             no per-phase lines, only the tables\n"
	    "Store properties: daxkv.compaction=on|off (default on; store\n"
	    "daxkv-nocompact is always off), daxkv.segmentsize=SIZE (bytes,\n"
	    "K/M/G suffixes, a multiple of 2M; default 64M);\n"
	    "pmemobj.buckets=N (hash buckets, rounded up to a power of two;\n"
	    "default: the keys the workload will hold), pmemobj.poolsize=SIZE\n"
	    "(default: from the record count and size).  pmemobj has no scan:\n"
	    "workloads that scan are not run on it (n/a).\n"
	    "Exit status: 0, 1 on a failure (open, errors, verification),\n"
	    "2 on bad arguments.\n");
}

static int split_list(char *s, char **items, unsigned max, unsigned *n)
{
	*n = 0;
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		if (*n == max)
			return -1;
		items[(*n)++] = tok;
	}
	return *n ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* "workloada" -> "A"; anything else keeps its file name. */
static const char *workload_label(const char *path)
{
	char *copy = strdup(path), *base = basename(copy), *label;

	if (!strncmp(base, "workload", 8) && strlen(base) == 9) {
		label = malloc(2);
		label[0] = (char)toupper((unsigned char)base[8]);
		label[1] = '\0';
	} else {
		label = strdup(base);
	}
	free(copy);
	return label;
}

struct options {
	const char *pfiles[MAX_LIST];
	unsigned npfiles;
	const char *overrides[256];
	unsigned noverrides;
	const char *wfiles[MAX_LIST];
	unsigned nwfiles;
	char *db_list, *threads_list;
	unsigned repeats;
	const char *dir, *out;
	bool verify, quiet;
	unsigned long long seed;
};

/* The property set of workload @p wl: -P files, its -W file, -p. */
static int build_props(const struct options *o, unsigned wl,
		       struct ycsb_props *p, char *err, size_t errlen)
{
	ycsb_props_init(p);
	for (unsigned i = 0; i < o->npfiles; i++)
		if (ycsb_props_load_file(p, o->pfiles[i], err, errlen))
			return -1;
	if (o->nwfiles && ycsb_props_load_file(p, o->wfiles[wl], err, errlen))
		return -1;
	for (unsigned i = 0; i < o->noverrides; i++)
		if (ycsb_props_set_arg(p, o->overrides[i], err, errlen))
			return -1;
	if (o->verify && ycsb_props_set(p, "dataintegrity", "true", "-verify"))
		return -1;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"threads", required_argument, NULL, 't'},
	    {"repeats", required_argument, NULL, 'r'},
	    {"dir", required_argument, NULL, 'D'},
	    {"out", required_argument, NULL, 'o'},
	    {"verify", no_argument, NULL, 'v'},
	    {"seed", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	char *end;

	memset(o, 0, sizeof(*o));
	o->repeats = 1;
	o->dir = "/dev/shm";
	o->seed = 1;
	/* YCSB spells options with one dash: getopt_long_only */
	while ((c = getopt_long_only(argc, argv, "P:p:W:qh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'P':
			if (o->npfiles == MAX_LIST)
				goto too_many;
			o->pfiles[o->npfiles++] = optarg;
			break;
		case 'p':
			if (o->noverrides == 256)
				goto too_many;
			o->overrides[o->noverrides++] = optarg;
			break;
		case 'W':
			if (o->nwfiles == MAX_LIST)
				goto too_many;
			o->wfiles[o->nwfiles++] = optarg;
			break;
		case 'd':
			o->db_list = optarg;
			break;
		case 't':
			o->threads_list = optarg;
			break;
		case 'r':
			o->repeats = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o->repeats == 0 || o->repeats > 100) {
				fprintf(stderr,
					"daxkv-ycsb: -repeats %s: want "
					"1..100\n",
					optarg);
				return -1;
			}
			break;
		case 'D':
			o->dir = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'v':
			o->verify = true;
			break;
		case 's':
			o->seed = strtoull(optarg, &end, 10);
			if (*end) {
				fprintf(stderr,
					"daxkv-ycsb: -seed %s: not a "
					"number\n",
					optarg);
				return -1;
			}
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "daxkv-ycsb: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (!o->npfiles && !o->nwfiles) {
		fprintf(stderr, "daxkv-ycsb: give a workload with -P or -W\n");
		return -1;
	}
	return 0;
too_many:
	fprintf(stderr, "daxkv-ycsb: too many -P/-W/-p options\n");
	return -1;
}

/* A workload that scans cannot run on a store without key order. */
static bool store_refuses(const struct ycsb_backend *be,
			  const struct ycsb_workload *w)
{
	return !be->scan && w->proportion[YCSB_OP_SCAN] > 0;
}

/* A note for each (store, workload) refused; how many cells can run. */
static unsigned note_refusals(const struct ycsb_backend *const *stores,
			      unsigned nstores, const struct ycsb_workload *wls,
			      const char *const *labels, unsigned nwl)
{
	unsigned runnable = 0;

	for (unsigned wl = 0; wl < nwl; wl++)
		for (unsigned s = 0; s < nstores; s++) {
			if (!store_refuses(stores[s], &wls[wl])) {
				runnable++;
				continue;
			}
			printf("note: %s does not run workload %s: it scans "
			       "(scanproportion %g) and %s has no key order "
			       "to scan in; the tables say n/a\n",
			       stores[s]->name, labels[wl],
			       wls[wl].proportion[YCSB_OP_SCAN],
			       stores[s]->name);
		}
	return runnable;
}

/*
 * One cell: a fresh database, load, run, close, remove.  Returns true if
 * the cell failed (operation errors, verification, a phase that could
 * not start); exits when the store cannot be set up at all.
 */
static bool run_cell(const struct options *o, struct ycsb_matrix *m,
		     struct ycsb_workload *w, struct ycsb_props *props,
		     unsigned wl, unsigned ti, unsigned s, unsigned rep)
{
	struct ycsb_cell *c = ycsb_matrix_cell(m, wl, ti, s, rep);
	const struct ycsb_backend *be = m->stores[s];
	const char *wname = m->workloads[wl];
	unsigned threads = m->threads[ti];
	char dir[4096], label[128], err[512];
	void *store = NULL;
	uint64_t bytes;
	int load_rc, run_rc = -1;
	bool bad;

	snprintf(dir, sizeof(dir), "%s/daxkv-ycsb-%ld-%s-%s-%u-%u", o->dir,
		 (long)getpid(), be->name, wname, threads, rep + 1);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(dir, 0755)) {
		fprintf(stderr, "daxkv-ycsb: mkdir %s: %s\n", dir,
			strerror(errno));
		exit(1);
	}
	/* what a fixed-size map (LMDB) must hold: records and inserts */
	bytes = (w->recordcount + w->operationcount) *
		(w->fieldcount * (w->fieldlength + 4) + 64);
	if (be->open(dir, bytes, props, &store, err, sizeof(err))) {
		fprintf(stderr, "daxkv-ycsb: %s\n", err);
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		exit(1);
	}
	if (ycsb_workload_begin(w)) {
		fprintf(stderr, "daxkv-ycsb: out of memory\n");
		exit(1);
	}
	snprintf(label, sizeof(label), "%s %s %ut #%u load", be->name, wname,
		 threads, rep + 1);
	load_rc = ycsb_run_phase(w, be, store, true, threads, o->seed + rep,
				 label, &c->load);
	if (load_rc == 0) {
		struct ycsb_sampler *sampler;

		snprintf(label, sizeof(label), "%s %s %ut #%u run", be->name,
			 wname, threads, rep + 1);
		sampler = ycsb_sampler_start(be, store, SPACE_PERIOD_MS);
		run_rc = ycsb_run_phase(w, be, store, false, threads,
					o->seed + rep, label, &c->run);
		ycsb_sampler_stop(sampler, &c->space);
	}
	c->ran = true;
	ycsb_workload_end(w);
	be->close(store);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	bad = c->load.errors || c->run.errors || c->load.verify_failures ||
	      c->run.verify_failures || (o->verify && !c->run.verified) ||
	      load_rc || run_rc;
	snprintf(label, sizeof(label), "%s %s %ut #%u", be->name, wname,
		 threads, rep + 1);
	if (!o->quiet || bad) {
		ycsb_print_phase(stdout, label, &c->load);
		ycsb_print_phase(stdout, label, &c->run);
		if (c->space.valid)
			printf(
			    "[%s] [SPACE] compaction %s, space amplification "
			    "%.2f at the end, %.2f peak and %.2f mean in the "
			    "run's second half (%u readings, %.0f expected); "
			    "write amplification %.2f; %llu compactions, %llu "
			    "segments retired\n",
			    label, c->space.compaction ? "on" : "off",
			    c->space.amp_end, c->space.amp_peak,
			    c->space.amp_mean, c->space.samples,
			    c->run.seconds * 1000 / 2 / SPACE_PERIOD_MS + 1,
			    c->space.write_amp,
			    (unsigned long long)c->space.compactions,
			    (unsigned long long)c->space.segments_retired);
	}
	if (bad)
		printf("[%s] FAILED%s\n", label,
		       o->verify && !c->run.verified ? ": nothing was verified"
						     : "");
	fflush(stdout);
	return bad;
}

static void free_workloads(struct ycsb_workload *wls, struct ycsb_props *wprops,
			   const char **labels, unsigned nwl)
{
	for (unsigned wl = 0; wl < nwl; wl++) {
		free((char *)labels[wl]);
		ycsb_props_free(&wprops[wl]);
	}
	free(wprops);
	free(labels);
	free(wls);
}

int main(int argc, char **argv)
{
	struct options o;
	struct ycsb_matrix m = {0};
	char *names[MAX_LIST], *tnames[MAX_LIST], err[512];
	const struct ycsb_backend *stores[MAX_LIST];
	unsigned threads[MAX_LIST], nnames = 0, ntn = 0, nwl;
	struct ycsb_workload *wls;
	struct ycsb_props *wprops;
	const char **labels;
	int status = 0;
	double load_start;

	if (parse_args(argc, argv, &o))
		return 2;
	nwl = o.nwfiles ? o.nwfiles : 1;
	wls = calloc(nwl, sizeof(*wls));
	wprops = calloc(nwl, sizeof(*wprops));
	labels = calloc(nwl, sizeof(*labels));
	if (!wls || !wprops || !labels)
		return 1;

	/* stores */
	if (o.db_list) {
		if (split_list(o.db_list, names, MAX_LIST, &nnames)) {
			fprintf(stderr, "daxkv-ycsb: bad -db list\n");
			return 2;
		}
		for (unsigned i = 0; i < nnames; i++) {
			stores[i] = ycsb_backend_find(names[i]);
			if (!stores[i]) {
				fprintf(stderr,
					"daxkv-ycsb: store '%s' is not "
					"built in; this binary has:",
					names[i]);
				for (size_t b = 0; ycsb_backends[b]; b++)
					fprintf(stderr, " %s",
						ycsb_backends[b]->name);
				fprintf(stderr, "\n");
				return 2;
			}
		}
	} else {
		for (size_t b = 0; ycsb_backends[b] && nnames < MAX_LIST; b++)
			if (!ycsb_backends[b]->not_default)
				stores[nnames++] = ycsb_backends[b];
	}
	for (size_t i = 0; ycsb_backends_missing[i]; i++)
		printf("note: store not built: %s\n", ycsb_backends_missing[i]);
	if (!nnames) {
		fprintf(stderr, "daxkv-ycsb: no store to run\n");
		return 2;
	}

	/* workloads: configure each now so a bad file fails before any
	 * run; the stores check their own properties too, and get them
	 * again when each cell opens its database */
	for (unsigned wl = 0; wl < nwl; wl++) {
		struct ycsb_props *p = &wprops[wl];

		bool bad =
		    build_props(&o, wl, p, err, sizeof(err)) ||
		    ycsb_workload_configure(&wls[wl], p, err, sizeof(err));

		for (unsigned s = 0; s < nnames && !bad; s++)
			bad = stores[s]->check_props &&
			      stores[s]->check_props(p, err, sizeof(err));
		if (bad) {
			fprintf(stderr, "daxkv-ycsb: %s\n", err);
			free_workloads(wls, wprops, labels, nwl);
			return 2;
		}
		labels[wl] = workload_label(
		    o.nwfiles ? o.wfiles[wl] : o.pfiles[o.npfiles - 1]);
		ycsb_props_note_unused(p, stdout);
	}

	/* thread counts */
	if (o.threads_list) {
		if (split_list(o.threads_list, tnames, MAX_LIST, &ntn)) {
			fprintf(stderr, "daxkv-ycsb: bad -threads list\n");
			return 2;
		}
		for (unsigned i = 0; i < ntn; i++) {
			char *end;

			threads[i] = (unsigned)strtoul(tnames[i], &end, 10);
			if (*end || threads[i] == 0 || threads[i] > 1024) {
				fprintf(stderr,
					"daxkv-ycsb: -threads: '%s' is "
					"not 1..1024\n",
					tnames[i]);
				return 2;
			}
		}
	} else {
		threads[0] = wls[0].threadcount;
		ntn = 1;
	}

	m.workloads = labels;
	m.nworkloads = nwl;
	m.stores = stores;
	m.nstores = nnames;
	m.threads = threads;
	m.nthreads = ntn;
	m.repeats = o.repeats;
	m.cells =
	    calloc((size_t)nwl * ntn * nnames * o.repeats, sizeof(*m.cells));
	if (!m.cells)
		return 1;
	snprintf(m.size_note, sizeof(m.size_note),
		 "%llu records, %llu operations, %u x %llu B fields",
		 (unsigned long long)wls[0].recordcount,
		 (unsigned long long)wls[0].operationcount, wls[0].fieldcount,
		 (unsigned long long)wls[0].fieldlength);
	if (wls[0].maxexecutiontime > 0) {
		size_t l = strlen(m.size_note);

		snprintf(m.size_note + l, sizeof(m.size_note) - l,
			 ", at most %.0f s per run", wls[0].maxexecutiontime);
	}
	printf("daxkv-ycsb: %u workload(s) x %u thread count(s) x %u store(s)"
	       " x %u repeat(s); %s\n",
	       nwl, ntn, nnames, o.repeats, m.size_note);
	for (unsigned s = 0; s < nnames; s++)
		printf("store %s\n", stores[s]->describe);
	printf("PMEM_IS_PMEM_FORCE=%s, databases under %s\n",
	       getenv("PMEM_IS_PMEM_FORCE") ? getenv("PMEM_IS_PMEM_FORCE")
					    : "(unset)",
	       o.dir);
	if (!note_refusals(stores, nnames, wls, labels, nwl)) {
		fprintf(stderr, "daxkv-ycsb: nothing to run: every store named "
				"lacks the scan these workloads need\n");
		free(m.cells);
		free_workloads(wls, wprops, labels, nwl);
		return 2;
	}
	load_start = load_average();
	printf("machine: %ld CPUs online, load average %.2f\n",
	       sysconf(_SC_NPROCESSORS_ONLN), load_start);
	fflush(stdout);

	for (unsigned rep = 0; rep < o.repeats; rep++)
		for (unsigned wl = 0; wl < nwl; wl++)
			for (unsigned ti = 0; ti < ntn; ti++)
				for (unsigned s = 0; s < nnames; s++) {
					if (store_refuses(stores[s],
							  &wls[wl])) {
						ycsb_matrix_cell(&m, wl, ti, s,
								 rep)
						    ->refused = true;
						continue;
					}
					if (run_cell(&o, &m, &wls[wl],
						     &wprops[wl], wl, ti, s,
						     rep))
						status = 1;
				}

	snprintf(m.machine_note, sizeof(m.machine_note),
		 "%ld CPUs online; 1-minute load average %.2f at the start, "
		 "%.2f at the end (this run adds up to its thread count)",
		 sysconf(_SC_NPROCESSORS_ONLN), load_start, load_average());
	printf("\n");
	ycsb_report_markdown(&m, stdout);
	printf("\n");
	ycsb_report_targets(&m, stdout);
	if (o.out) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s.md", o.out);
		f = fopen(path, "w");
		if (f) {
			ycsb_report_markdown(&m, f);
			fputc('\n', f);
			ycsb_report_targets(&m, f);
			fclose(f);
			printf("wrote %s\n", path);
		} else {
			fprintf(stderr, "daxkv-ycsb: %s: %s\n", path,
				strerror(errno));
			status = 1;
		}
		snprintf(path, sizeof(path), "%s.csv", o.out);
		if (ycsb_report_csv(&m, path)) {
			fprintf(stderr, "daxkv-ycsb: %s: %s\n", path,
				strerror(errno));
			status = 1;
		} else {
			printf("wrote %s\n", path);
		}
		snprintf(path, sizeof(path), "%s.png", o.out);
		if (ycsb_report_png(&m, path, err, sizeof(err)))
			printf("note: no chart: %s\n", err);
		else
			printf("wrote %s\n", path);
	}
	free(m.cells);
	free_workloads(wls, wprops, labels, nwl);
	return status;
}
