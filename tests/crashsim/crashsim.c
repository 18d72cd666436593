// SPDX-License-Identifier: MIT
/*
 * crashsim.c -- crash-state enumeration for the engine: what the hardware
 * and the file system can leave behind at any point, checked state by
 * state.
 *
 * The engine (compiled with DAXKV_PERSIST_HOOKS, so every persistence
 * instruction of the production path reaches the simulator through the
 * seam, engine/persist.h) runs a workload on a working directory W.  The
 * simulator models what a crash can keep:
 *   pmem.c  every version a cache line held since it was last durable,
 *           and what each thread's flushes and fences make durable;
 *   fs.c    file creation, allocation, truncation, unlink, rename and
 *           data, and what fsync of a file or of the directory makes
 *           durable (ALICE-style: any subset of what is not);
 *   the metadata pool, atomic at each dk_meta_set.
 * At every crash point (a fence, a metadata commit, a file operation, and
 * each store of a short operation) image.c builds the point's crash states
 * in a check directory C, and a checker process (checker.c) opens each
 * with daxkv_open and compares every key, a scan and a query with the
 * model of acknowledged writes.
 *
 * Threads: with --threads N (2 to 4) writer threads on separate lanes,
 * --bg-compact (the engine's background compactor) and --reader (a
 * snapshot reader that keeps old segments alive and checks what it reads)
 * all run under the deterministic scheduler of sched.c: one at a time,
 * switched at the seam, at locks and at waits by a seeded choice.  A run
 * is a function of its seed: state N of a run is rebuilt by running the
 * same command with --keep-state N.  Each writer owns the keys k with
 * k % N == its number, so the model knows which thread received which
 * acknowledgement, and each thread's operation in flight is checked all or
 * nothing on its own.
 *
 * Phases.  Phase 1 creates a database and runs the workload in rounds
 * (with --reopen, a round may end with a tracked close and open: the
 * checkpoint, and recovery from it, are crash-tested too).  One crash
 * state taken inside an operation near the end becomes the start of
 * phase 2, which recovers it with tracking on (crashes during recovery
 * must recover to the same contents), writes more and closes.
 *
 * --plant N makes the simulator itself misbehave like a broken engine at
 * the seam or in the file system, and --expect-violations then requires
 * that it be caught (crashsim.h: enum plant says what each one is).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crashsim.h"
#include "daxkv.h"

int plant;
bool tracking, in_child, expect_violations;
char wdir[256], cdir[256], sdir[256];
uint64_t exp_serial;
struct expect cur_exp;
int cur_phase = 1;

/* ---- small helpers ---- */

static uint64_t rng_var = 88172645463325252ull;
static uint64_t rng_main = 0x9E3779B97F4A7C15ull;
static uint64_t rng_work[MAXWRITERS + 1];

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

uint64_t rnd_var(void)
{
	return xorshift(&rng_var);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void die(const char *fmt, ...)
{
	va_list ap;

	tracking = false; /* what exit removes is no crash state */
	va_start(ap, fmt);
	fprintf(stderr, "crashsim: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[600];

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

void copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY), out;

	if (in < 0)
		return;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		die("%s: %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			die("%s: short write", to);
	close(in);
	close(out);
}

bool trace_on;

/* --trace: what the models are told, one line each (stderr). */
void trace(const char *fmt, ...)
{
	va_list ap;

	if (!trace_on)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "trace [%d %s] ", sim_self()->id, sim_self()->op);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

const char *ctx_name(enum ctx_kind c)
{
	static const char *const names[] = { "write", "compact", "open",
					     "close" };

	return names[c];
}

/* ---- the model: key k holds version ver (value derived from it) ---- */

void key_name(int k, char *buf)
{
	snprintf(buf, 16, "key%02d", k);
}

uint8_t val_byte(int k, uint32_t ver, size_t i)
{
	return (uint8_t)((k * 131u + ver * 17u + i * 7u) ^ (i >> 8));
}

bool value_ok(int k, const struct kv_state *st, const uint8_t *val,
	      size_t vlen)
{
	if (st->len[k] < 0 || vlen != (size_t)st->len[k])
		return false;
	for (size_t i = 0; i < vlen; i++)
		if (val[i] != val_byte(k, st->ver[k], i))
			return false;
	return true;
}

static struct kv_state model; /* acknowledged */
static uint32_t next_ver = 1;
static unsigned pct_big = 5, pct_batch = 20, pct_del = 20, pct_compact;
static unsigned pct_reopen, ops_per_round = 25;
static int skip_ops; /* phase 1: the first ones are not crash-tested */
static uint32_t big_max = 80000;
static int nwriters = 1;
static int cold_keys; /* --cold: keys written once, big, at the start */
static bool bg_compact, with_reader, store_points = true;
static struct daxkv_options opts;

/* every version a key ever had, for the snapshot reader */
struct hist {
	uint32_t ver;
	int32_t len;
};
static struct hist *hist[NKEYS];
static size_t nhist[NKEYS], cap_hist[NKEYS];

static void hist_add(int k, uint32_t ver, int32_t len)
{
	if (nhist[k] == cap_hist[k]) {
		cap_hist[k] = cap_hist[k] ? 2 * cap_hist[k] : 64;
		hist[k] = realloc(hist[k], cap_hist[k] * sizeof(*hist[k]));
		if (!hist[k])
			die("out of memory");
	}
	hist[k][nhist[k]].ver = ver;
	hist[k][nhist[k]].len = len;
	nhist[k]++;
}

static void exp_reset(void)
{
	memset(&cur_exp, 0, sizeof(cur_exp));
	cur_exp.old = model;
	cur_exp.new = model;
	exp_serial++;
}

static void set_new(int w, int k, int32_t len, uint32_t ver)
{
	cur_exp.new.len[k] = len;
	cur_exp.new.ver[k] = ver;
	cur_exp.group[k] = (uint8_t)w;
	exp_serial++;
	if (len >= 0)
		hist_add(k, ver, len);
}

/* Writer @p w's operation ended: acknowledged (rc 0) or not. */
static void end_op(int w, int rc)
{
	for (int k = 0; k < NKEYS; k++) {
		if (cur_exp.group[k] != w)
			continue;
		if (rc == 0) {
			model.len[k] = cur_exp.new.len[k];
			model.ver[k] = cur_exp.new.ver[k];
		}
		cur_exp.old.len[k] = cur_exp.new.len[k] = model.len[k];
		cur_exp.old.ver[k] = cur_exp.new.ver[k] = model.ver[k];
		cur_exp.group[k] = 0;
	}
	exp_serial++;
}

/*
 * Value sizes: --big PCT of 20 KB to --big-size (80 KB: roll-over; a few
 * hundred KB: segments fill and die fast, compaction), a quarter of the rest
 * tiny (records of 40-64 bytes, so that one cache line holds several and
 * a commit's append and its superseded marks meet in one line), the rest
 * under 300 bytes.
 */
static int32_t pick_len(uint64_t *rng)
{
	if (xorshift(rng) % 100 < pct_big)
		return (int32_t)(20000 + xorshift(rng) % (big_max - 19999));
	if (xorshift(rng) % 4 == 0)
		return (int32_t)(xorshift(rng) % 25);
	return (int32_t)(xorshift(rng) % 300);
}

static void fill_val(uint8_t *buf, int k, uint32_t ver, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = val_byte(k, ver, i);
}

/* A key of writer @p w (1-based): writers own disjoint keys; the
 * --cold keys are no writer's after the start. */
static int own_key(int w, uint64_t *rng)
{
	int per = NKEYS / nwriters;

	return cold_keys +
	       (int)(xorshift(rng) % (uint64_t)(per - cold_keys)) * nwriters +
	       (w - 1);
}

static uint8_t vbuf[MAXWRITERS + 1][DAXKV_MAX_VALUE];

/* One operation of writer @p w; 0, or -1 after a violation. */
static int do_op(daxkv *db, int w, int op)
{
	struct sim_thread *t = sim_self();
	uint64_t *rng = &rng_work[w];
	unsigned r = (unsigned)(xorshift(rng) % 100);
	bool is_short = true;
	char key[16];
	int rc;

	if (op < 2 * cold_keys && op % 2 == 0) {
		/* --cold: every other operation of the start puts a big
		 * value to a key never written again, so the segments of
		 * the start stay live, with the first versions of the other
		 * keys among them (the tombstone rule's hard case) */
		int k = op / 2;
		int32_t len = (int32_t)big_max;
		uint32_t ver = next_ver++;

		key_name(k, key);
		fill_val(vbuf[w], k, ver, (size_t)len);
		set_new(w, k, len, ver);
		snprintf(t->op, sizeof(t->op), "op %d: cold put %s", op, key);
		rc = daxkv_put(db, key, 5, vbuf[w], (size_t)len);
	} else if (pct_compact && xorshift(rng) % 100 < pct_compact) {
		/* no change to the model: every crash point inside must
		 * show exactly the acknowledged state */
		snprintf(t->op, sizeof(t->op), "op %d: compact", op);
		t->ctx = CTX_COMPACT;
		rc = daxkv_compact(db);
		t->ctx = CTX_WRITE;
	} else if (r < pct_batch) {
		daxkv_batch *b;
		int n = 2 + (int)(xorshift(rng) % 5);

		is_short = n <= 2;
		if (daxkv_batch_new(&b))
			die("batch_new");
		for (int i = 0; i < n; i++) {
			int k = own_key(w, rng);

			key_name(k, key);
			if (xorshift(rng) % 4 == 0) {
				daxkv_batch_delete(b, key, 5);
				set_new(w, k, -1, 0);
			} else {
				int32_t len = pick_len(rng) % 4000;
				uint32_t ver = next_ver++;

				fill_val(vbuf[w], k, ver, (size_t)len);
				daxkv_batch_put(b, key, 5, vbuf[w], (size_t)len);
				set_new(w, k, len, ver);
			}
		}
		snprintf(t->op, sizeof(t->op), "op %d: batch of %d", op, n);
		t->store_points = store_points && is_short;
		rc = daxkv_batch_commit(db, b);
		daxkv_batch_free(b);
	} else if (r < pct_batch + pct_del) {
		int k = own_key(w, rng);

		key_name(k, key);
		set_new(w, k, -1, 0);
		snprintf(t->op, sizeof(t->op), "op %d: delete %s", op, key);
		t->store_points = store_points;
		rc = daxkv_delete(db, key, 5);
		if (rc == DAXKV_ENOTFOUND && model.len[k] < 0)
			rc = 0;
	} else {
		int k = own_key(w, rng);
		int32_t len = pick_len(rng);
		uint32_t ver = next_ver++;

		key_name(k, key);
		fill_val(vbuf[w], k, ver, (size_t)len);
		set_new(w, k, len, ver);
		snprintf(t->op, sizeof(t->op), "op %d: put %s (%d bytes)", op,
			 key, len);
		t->store_points = store_points;
		rc = daxkv_put(db, key, 5, vbuf[w], (size_t)len);
	}
	t->store_points = false;
	if (rc) {
		/* the model and the engine disagree: an earlier state was
		 * already wrong (or the engine failed); stop this writer */
		fprintf(stderr, "VIOLATION phase %d writer %d %s failed: %s: %s\n",
			cur_phase, w, t->op, daxkv_strerror(rc), daxkv_errmsg());
		violations++;
		end_op(w, rc);
		return -1;
	}
	end_op(w, 0);
	t->acks++;
	snprintf(t->op, sizeof(t->op), "between operations");
	return 0;
}

/* ---- threads of the workload ---- */

struct writer_arg {
	daxkv *db;
	int w, nops, first_op;
	int rc;
};

static void *writer_run(void *arg)
{
	struct writer_arg *a = arg;

	sim_self()->ctx = CTX_WRITE;
	for (int i = 0; i < a->nops; i++)
		if ((a->rc = do_op(a->db, a->w, a->first_op + i)) != 0)
			break;
	return NULL;
}

static volatile bool writers_done;
static uint64_t reader_snapshots;

static bool value_known(int k, const uint8_t *val, size_t vlen)
{
	for (size_t i = nhist[k]; i-- > 0;) {
		struct kv_state st;

		if ((size_t)hist[k][i].len != vlen)
			continue;
		st.len[k] = hist[k][i].len;
		st.ver[k] = hist[k][i].ver;
		if (value_ok(k, &st, val, vlen))
			return true;
	}
	return false;
}

struct reader_ctx {
	int count;
	char msg[256];
};

static int reader_cb(const void *key, size_t klen, const void *val,
		     size_t vlen, void *arg)
{
	struct reader_ctx *rc = arg;
	int k = -1;

	if (klen == 5 && !memcmp(key, "key", 3))
		k = (((const char *)key)[3] - '0') * 10 +
		    ((const char *)key)[4] - '0';
	if (k < 0 || k >= NKEYS || !value_known(k, val, vlen)) {
		snprintf(rc->msg, sizeof(rc->msg),
			 "snapshot scan: key %.*s has a value no write made "
			 "(%zu bytes)", (int)klen, (const char *)key, vlen);
		return 1;
	}
	rc->count++;
	return 0;
}

/*
 * The snapshot reader: holds a snapshot over a few scheduling points
 * (old segments stay alive: compaction retires them only when it closes),
 * and checks what it reads: every value one a write made, and the scan
 * and a query at the same snapshot agree (the query reads the records,
 * so a copy and its original both visible would count twice).
 */
static void *reader_run(void *arg)
{
	daxkv *db = arg;
	struct sim_thread *t = sim_self();

	t->ctx = CTX_WRITE;
	while (!writers_done) {
		daxkv_snapshot *snap;
		struct reader_ctx rc = { 0 };
		struct daxkv_query q;
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};
		int err;

		snprintf(t->op, sizeof(t->op), "snapshot %llu",
			 (unsigned long long)reader_snapshots);
		if (daxkv_snapshot_open(db, &snap) != 0) {
			fprintf(stderr, "VIOLATION snapshot_open: %s\n",
				daxkv_errmsg());
			violations++;
			break;
		}
		reader_snapshots++;
		for (int i = 0; i < 4; i++)
			sched_yield();
		err = daxkv_scan_at(db, snap, NULL, 0, NULL, 0, reader_cb, &rc);
		daxkv_query_init(&q);
		q.backend = DAXKV_BACKEND_CPU;
		q.threads = 1;
		q.snap = snap;
		if (!err && !rc.msg[0])
			err = daxkv_query(db, &q, &res);
		if (err || rc.msg[0] || res.count != (uint64_t)rc.count) {
			fprintf(stderr, "VIOLATION reader: %s (rc %d, scan %d "
				"keys, query %llu records)\n",
				rc.msg[0] ? rc.msg : daxkv_errmsg(), err,
				rc.count, (unsigned long long)res.count);
			violations++;
		}
		for (int i = 0; i < 4; i++)
			sched_yield();
		daxkv_snapshot_close(snap);
		snprintf(t->op, sizeof(t->op), "between snapshots");
		sched_yield();
	}
	return NULL;
}

static uint64_t eng_compactions, eng_retired, eng_reopens, eng_copied;
static uint64_t eng_tombs; /* deletes compaction dropped */

/* What the engine did (for the figures): taken before each close. */
static void engine_stats(daxkv *db)
{
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };

	if (daxkv_stat(db, &st) == 0) {
		eng_compactions += st.compactions;
		eng_retired += st.segments_retired;
		eng_copied += st.bytes_compacted;
		eng_tombs += st.tombstones_dropped;
	}
}

static int reopen(daxkv **dbp)
{
	struct sim_thread *t = sim_self();
	int rc;

	engine_stats(*dbp);
	eng_reopens++;
	t->ctx = CTX_CLOSE;
	snprintf(t->op, sizeof(t->op), "close");
	rc = daxkv_close(*dbp);
	*dbp = NULL;
	if (rc) {
		fprintf(stderr, "VIOLATION phase %d close: %s\n", cur_phase,
			daxkv_errmsg());
		violations++;
		return -1;
	}
	t->ctx = CTX_OPEN;
	snprintf(t->op, sizeof(t->op), "open");
	opts.flags = DAXKV_OPEN_NOCREATE |
		     (bg_compact ? 0 : DAXKV_OPEN_NOBACKGROUND);
	rc = daxkv_open(wdir, &opts, dbp);
	t->ctx = CTX_WRITE;
	if (rc) {
		fprintf(stderr, "VIOLATION phase %d reopen: %s\n", cur_phase,
			daxkv_errmsg());
		violations++;
		return -1;
	}
	return 0;
}

/*
 * Run @p nops operations in rounds; phase 1 arms the capture of phase 2's
 * start in the round that reaches @p w2_at (or never: w2_at < 0).
 */
static int run_ops(daxkv **dbp, int nops, int w2_at)
{
	int done = 0;

	while (done < nops) {
		int n = nops - done < (int)ops_per_round ? nops - done :
							  (int)ops_per_round;
		int rc = 0;

		if (w2_at >= 0 && done <= w2_at && w2_at < done + n)
			save_w2_at_fence = true;
		if (w2_at >= 0 && done < skip_ops) {
			/* fast forward: build what later operations act on */
			if (n > skip_ops - done)
				n = skip_ops - done;
			checking = false;
		} else {
			checking = true;
		}
		if (nwriters == 1 && !with_reader) {
			for (int i = 0; i < n && rc == 0; i++)
				rc = do_op(*dbp, 1, done + i);
		} else {
			struct writer_arg wa[MAXWRITERS];
			pthread_t wt[MAXWRITERS], rt;

			writers_done = false;
			for (int w = 0; w < nwriters; w++) {
				wa[w].db = *dbp;
				wa[w].w = w + 1;
				wa[w].nops = n / nwriters +
					     (w < n % nwriters ? 1 : 0);
				wa[w].first_op = done;
				wa[w].rc = 0;
				if (sim_spawn(&wt[w], ROLE_WRITER, w + 1,
					      writer_run, &wa[w]))
					die("cannot start a writer");
			}
			if (with_reader &&
			    sim_spawn(&rt, ROLE_READER, 0, reader_run, *dbp))
				die("cannot start the reader");
			for (int w = 0; w < nwriters; w++) {
				sim_join(wt[w]);
				rc |= wa[w].rc;
			}
			writers_done = true;
			if (with_reader)
				sim_join(rt);
		}
		done += n;
		if (rc)
			return -1;
		if (pct_reopen && done < nops &&
		    xorshift(&rng_main) % 100 < pct_reopen && reopen(dbp))
			return -1;
	}
	return 0;
}

static void print_figures(double secs);
static uint64_t t0;

/*
 * A planted bug was caught: say where, and stop (the rest of the run
 * would only find it again).  The state can be rebuilt from the seed.
 */
void planted_caught(void)
{
	tracking = false;
	print_figures((double)(now_ns() - t0) / 1e9);
	printf("planted bug %d caught at state %llu (%llu violations)\n",
	       plant, (unsigned long long)states,
	       (unsigned long long)violations);
	fflush(stdout);
	exit(0);
}

/* ---- phases ---- */

static void reset_models(void)
{
	pmem_reset();
	fs_reset();
	image_reset();
	rm_dir(sdir);
	if (mkdir(sdir, 0755) != 0)
		die("mkdir %s: %s", sdir, strerror(errno));
	fs_clear_check_dir();
}

/* Phase 2's model: what recovering W2 gives, checked against phase 1's. */
static int reference_of_w2(const struct expect *exp)
{
	char cmd[1200], w3[300], msg[512];
	struct daxkv_options o;
	daxkv *db;
	int rc;

	snprintf(w3, sizeof(w3), "%s-ref", w2dir);
	rm_dir(w3);
	snprintf(cmd, sizeof(cmd), "cp -r %s %s", w2dir, w3);
	if (system(cmd) != 0)
		die("%s failed", cmd);
	daxkv_options_init(&o);
	o.flags = DAXKV_OPEN_NOCREATE | DAXKV_OPEN_NOBACKGROUND;
	o.recovery_threads = 1;
	rc = daxkv_open(w3, &o, &db);
	if (rc) {
		fprintf(stderr, "VIOLATION phase 2 base image: recovery "
			"failed: %s\n", daxkv_errmsg());
		violations++;
		rm_dir(w3);
		return -1;
	}
	if (verify_db(db, exp, msg) != 0) {
		fprintf(stderr, "VIOLATION phase 2 base image: %s\n", msg);
		violations++;
	}
	/* which side of each operation in flight survived */
	model = exp->old;
	for (int k = 0; k < NKEYS; k++) {
		static uint8_t buf[DAXKV_MAX_VALUE];
		size_t vlen;
		char key[16];

		if (!exp->group[k])
			continue;
		key_name(k, key);
		rc = daxkv_get(db, key, 5, buf, sizeof(buf), &vlen);
		if ((rc == 0 && value_ok(k, &exp->new, buf, vlen)) ||
		    (rc != 0 && exp->new.len[k] < 0)) {
			model.len[k] = exp->new.len[k];
			model.ver[k] = exp->new.ver[k];
		}
	}
	daxkv_close(db);
	rm_dir(w3);
	return 0;
}

static pid_t main_pid;

/* On any exit of the main process (die() included): no directories left. */
static void remove_dirs(void)
{
	char w3[300];

	if (getpid() != main_pid)
		return;
	rm_dir(wdir);
	rm_dir(w2dir);
	snprintf(w3, sizeof(w3), "%s-ref", w2dir);
	rm_dir(w3);
	rm_dir(cdir);
	rm_dir(sdir);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: crashsim [--seed N] [--ops N] [--big PCT] [--batch PCT]\n"
		"         [--del PCT] [--compact PCT] [--reopen PCT] [--round N]\n"
		"         [--skip N] [--big-size BYTES] [--cold N (1 writer)]\n"
		"         [--threads 1-4] [--bg-compact] [--reader] [--switch PCT]\n"
		"         [--fs posix|journal] [--no-store-points]\n"
		"         [--plant 1-%d --expect-violations] [--max-states N]\n"
		"         [--samples N] [--enum-max N]\n"
		"         [--keep-state N --keep-dir DIR] [--trace] [--count-only]\n",
		PLANT_MAX);
	exit(2);
}

static void print_figures(double secs)
{
	double o, v, c;

	printf("crashsim: %llu crash points, %llu crash states checked, "
	       "%llu violations, %.1f s%s\n",
	       (unsigned long long)points, (unsigned long long)states,
	       (unsigned long long)violations, secs,
	       plant ? " (planted bug)" : count_only ? " (counted, not checked)" :
						       "");
	printf("states by event: fence %llu, store %llu, meta %llu, fs %llu\n",
	       (unsigned long long)states_by_ev[EV_FENCE],
	       (unsigned long long)states_by_ev[EV_STORE],
	       (unsigned long long)states_by_ev[EV_META],
	       (unsigned long long)states_by_ev[EV_FS]);
	printf("states by context: write %llu, compact %llu, open %llu, "
	       "close %llu\n",
	       (unsigned long long)states_by_ctx[CTX_WRITE],
	       (unsigned long long)states_by_ctx[CTX_COMPACT],
	       (unsigned long long)states_by_ctx[CTX_OPEN],
	       (unsigned long long)states_by_ctx[CTX_CLOSE]);
	printf("states with: an intermediate value %llu, a torn line %llu, "
	       "a file operation lost %llu\n",
	       (unsigned long long)states_interm,
	       (unsigned long long)states_torn,
	       (unsigned long long)states_fs);
	printf("threads: %d writer%s%s%s; %llu switches, %llu timed waits "
	       "timed out, %llu snapshots read\n",
	       nwriters, nwriters > 1 ? "s" : "",
	       with_reader ? " + snapshot reader" : "",
	       bg_compact ? " + background compactor" : "",
	       (unsigned long long)sched_switches,
	       (unsigned long long)sched_timeouts,
	       (unsigned long long)reader_snapshots);
	printf("engine: %llu compaction rounds, %llu segments retired, %llu "
	       "bytes copied, %llu deletes dropped, %llu reopens\n",
	       (unsigned long long)eng_compactions,
	       (unsigned long long)eng_retired,
	       (unsigned long long)eng_copied,
	       (unsigned long long)eng_tombs,
	       (unsigned long long)eng_reopens);
	checker_times(&o, &v, &c);
	if (states && !count_only)
		printf("per state: open %.2f ms, verify %.2f ms, close %.2f ms\n",
		       o, v, c);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "seed", 1, NULL, 's' },      { "ops", 1, NULL, 'n' },
		{ "big", 1, NULL, 'b' },       { "batch", 1, NULL, 'B' },
		{ "del", 1, NULL, 'd' },       { "plant", 1, NULL, 'p' },
		{ "max-states", 1, NULL, 'm' }, { "samples", 1, NULL, 'S' },
		{ "expect-violations", 0, NULL, 'x' },
		{ "compact", 1, NULL, 'C' },   { "reopen", 1, NULL, 'R' },
		{ "round", 1, NULL, 'r' },     { "threads", 1, NULL, 't' },
		{ "bg-compact", 0, NULL, 'g' }, { "reader", 0, NULL, 'e' },
		{ "switch", 1, NULL, 'w' },    { "fs", 1, NULL, 'f' },
		{ "no-store-points", 0, NULL, 'P' },
		{ "enum-max", 1, NULL, 'E' },  { "keep-state", 1, NULL, 'k' },
		{ "keep-dir", 1, NULL, 'K' },  { "trace", 0, NULL, 'T' },
		{ "skip", 1, NULL, 'k' + 256 }, { "big-size", 1, NULL, 'b' + 256 },
		{ "count-only", 0, NULL, 'c' + 256 },
		{ "cold", 1, NULL, 'o' + 256 },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t seed = 0;
	unsigned switch_pct = 25;
	int nops = 300, opt, rc;
	daxkv *db;

	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'n': nops = atoi(optarg); break;
		case 'b': pct_big = (unsigned)atoi(optarg); break;
		case 'B': pct_batch = (unsigned)atoi(optarg); break;
		case 'd': pct_del = (unsigned)atoi(optarg); break;
		case 'C': pct_compact = (unsigned)atoi(optarg); break;
		case 'R': pct_reopen = (unsigned)atoi(optarg); break;
		case 'r': ops_per_round = (unsigned)atoi(optarg); break;
		case 't': nwriters = atoi(optarg); break;
		case 'g': bg_compact = true; break;
		case 'e': with_reader = true; break;
		case 'w': switch_pct = (unsigned)atoi(optarg); break;
		case 'f':
			if (!strcmp(optarg, "posix"))
				fs_order = 0;
			else if (!strcmp(optarg, "journal"))
				fs_order = 1;
			else
				usage();
			break;
		case 'P': store_points = false; break;
		case 'p': plant = atoi(optarg); break;
		case 'm': max_states = strtoull(optarg, NULL, 0); break;
		case 'S': samples = (unsigned)atoi(optarg); break;
		case 'E': enum_max = (unsigned)atoi(optarg); break;
		case 'k': keep_state = strtoull(optarg, NULL, 0); break;
		case 'K': snprintf(keep_dir, sizeof(keep_dir), "%s", optarg);
			break;
		case 'x': expect_violations = true; break;
		case 'T': trace_on = true; break;
		case 'k' + 256: skip_ops = atoi(optarg); break;
		case 'b' + 256: big_max = (uint32_t)atoi(optarg); break;
		case 'c' + 256: count_only = true; break;
		case 'o' + 256: cold_keys = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || nwriters < 1 || nwriters > MAXWRITERS ||
	    plant < 0 || plant > PLANT_MAX || enum_max > 16 ||
	    ops_per_round < 1 || (keep_state && !keep_dir[0]) ||
	    big_max < 20000 || big_max > DAXKV_MAX_VALUE || cold_keys < 0 ||
	    cold_keys >= NKEYS / 2 || (cold_keys && nwriters != 1))
		usage();
	rng_var ^= seed * 0x9E3779B97F4A7C15ull;
	rng_main ^= seed * 0xBF58476D1CE4E5B9ull;
	for (int w = 0; w <= MAXWRITERS; w++)
		rng_work[w] = (seed + 1) * 0x94D049BB133111EBull + (uint64_t)w *
			      0x2545F4914F6CDD1Dull;
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	t0 = now_ns();
	/*
	 * Where the images live: /dev/shm, or DAXKV_CRASHSIM_DIR.  Each
	 * state costs a libpmemobj pool open, which touches the pool's 1024
	 * lanes in a fresh mapping; on a VM with shadow paging every 4 KiB
	 * page of that is a fault the guest cannot see, so a tmpfs mounted
	 * huge=always (scripts/test.sh makes one) checks states faster.
	 */
	{
		const char *top = getenv("DAXKV_CRASHSIM_DIR");

		if (!top || !*top)
			top = "/dev/shm";
		if (strlen(top) > 200)
			die("DAXKV_CRASHSIM_DIR: path too long");
		snprintf(wdir, sizeof(wdir), "%s/crashsim-%d-w", top,
			 (int)getpid());
		snprintf(w2dir, sizeof(w2dir), "%s/crashsim-%d-w2", top,
			 (int)getpid());
		snprintf(cdir, sizeof(cdir), "%s/crashsim-%d-c", top,
			 (int)getpid());
		snprintf(sdir, sizeof(sdir), "%s/crashsim-%d-s", top,
			 (int)getpid());
	}
	main_pid = getpid();
	remove_dirs();
	atexit(remove_dirs);
	sched_init(seed, switch_pct);
	checker_spawn();
	for (int k = 0; k < NKEYS; k++)
		model.len[k] = -1;
	exp_reset();

	/* phase 1: a fresh database, the workload, a clean close */
	daxkv_options_init(&opts);
	opts.segment_size = SEG_SIZE;
	opts.recovery_threads = 1;
	opts.flags = bg_compact ? 0 : DAXKV_OPEN_NOBACKGROUND;
	reset_models();
	tracking = true;
	sched_set(true);
	sim_self()->ctx = CTX_OPEN;
	snprintf(sim_self()->op, sizeof(sim_self()->op), "open (create)");
	rc = daxkv_open(wdir, &opts, &db);
	if (rc)
		die("open %s: %s", wdir, daxkv_errmsg());
	sim_self()->ctx = CTX_WRITE;
	rc = run_ops(&db, nops, nops - 1 - nops / 10);
	if (db) {
		engine_stats(db);
		sim_self()->ctx = CTX_CLOSE;
		snprintf(sim_self()->op, sizeof(sim_self()->op), "close");
		if (daxkv_close(db) != 0) {
			fprintf(stderr, "VIOLATION phase 1 close: %s\n",
				daxkv_errmsg());
			violations++;
		}
	}
	sim_self()->ctx = CTX_WRITE;
	checking = true;
	sched_set(false);
	tracking = false;
	printf("phase 1: %d operations, %llu crash points, %llu crash states "
	       "checked, %llu violations\n",
	       nops, (unsigned long long)points, (unsigned long long)states,
	       (unsigned long long)violations);

	/* phase 2: recover one crash state of an operation, tracked */
	if (access(w2dir, F_OK) == 0 && reference_of_w2(&w2_exp) == 0) {
		uint64_t p1 = states;

		cur_phase = 2;
		rm_dir(wdir);
		snprintf(wdir, sizeof(wdir), "%s", w2dir);
		reset_models();
		exp_reset();
		fs_load_dir();
		meta_snapshot();
		tracking = true;
		sched_set(true);
		sim_self()->ctx = CTX_OPEN;
		snprintf(sim_self()->op, sizeof(sim_self()->op),
			 "open (recovery of a crash state)");
		opts.flags = DAXKV_OPEN_NOCREATE |
			     (bg_compact ? 0 : DAXKV_OPEN_NOBACKGROUND);
		rc = daxkv_open(wdir, &opts, &db);
		if (rc)
			die("phase 2 open: %s", daxkv_errmsg());
		sim_self()->ctx = CTX_WRITE;
		rc = run_ops(&db, nops / 4, -1);
		if (db) {
			engine_stats(db);
			sim_self()->ctx = CTX_CLOSE;
			snprintf(sim_self()->op, sizeof(sim_self()->op),
				 "close");
			if (daxkv_close(db) != 0) {
				fprintf(stderr, "VIOLATION phase 2 close: %s\n",
					daxkv_errmsg());
				violations++;
			}
		}
		sim_self()->ctx = CTX_WRITE;
		sched_set(false);
		tracking = false;
		printf("phase 2 (recovery of a crash state, more writes, "
		       "close): %llu crash states\n",
		       (unsigned long long)(states - p1));
	}
	print_figures((double)(now_ns() - t0) / 1e9);
	checker_stop();
	if (keep_state) {
		fprintf(stderr, "state %llu was not reached (%llu states)\n",
			(unsigned long long)keep_state,
			(unsigned long long)states);
		return 2;
	}
	if (expect_violations) {
		if (violations == 0) {
			fprintf(stderr, "planted bug %d was NOT caught\n", plant);
			return 1;
		}
		printf("planted bug %d caught at state %llu (%llu "
		       "violations)\n", plant, (unsigned long long)states,
		       (unsigned long long)violations);
		return 0;
	}
	return violations ? 1 : 0;
}
