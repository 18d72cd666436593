// SPDX-License-Identifier: MIT
/*
 * checker.c -- the checker process: is a crash state a correct database?
 *
 * A child forked at start (libpmemobj will not open two pools with one
 * uuid in one process) opens each crash state in the check directory with
 * daxkv_open, compares it with the model and closes it.  It maps every
 * file MAP_PRIVATE (fs.c: mmap) and gives a hard-linked name a copy of
 * its own before writing it, so nothing it does reaches the simulator's
 * images; if a damaged state crashes or hangs it, that is a violation too.
 *
 * What a state must show (struct expect): every key as acknowledged,
 * except the keys of operations in flight, each of which is all or
 * nothing: every key of a writer thread's operation shows the new value,
 * or every key the old one.  Values are derived from key and version, so
 * a torn or stale value never matches.  A full scan must list exactly the
 * expected keys, and a query (which reads the records, not the index) must
 * count each live key once: a record visible twice fails it.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crashsim.h"
#include "daxkv.h"

#define CHECK_TIMEOUT_MS 120000

struct shm {
	char dir[256];
	struct expect exp;
	ino_t meta_ino;
	int meta_private;  /* the checker mapped meta.pool privately */
	int ok;
	char msg[512];
	uint64_t ns_open, ns_verify, ns_close, runs;
};

static struct shm *shm;
static int to_child[2] = { -1, -1 }, from_child[2] = { -1, -1 };
static pid_t child_pid;

/* Told by fs.c's mmap when the checker made a file mapping private. */
void checker_privatized(int fd)
{
	struct stat st;

	if (shm && fstat(fd, &st) == 0 && st.st_ino == shm->meta_ino)
		shm->meta_private = 1;
}

struct scan_ctx {
	const struct kv_state *st[NKEYS];
	int count;
	char *msg;
};

static int scan_cb(const void *key, size_t klen, const void *val, size_t vlen,
		   void *arg)
{
	struct scan_ctx *sc = arg;
	int k = -1;

	if (klen == 5 && !memcmp(key, "key", 3))
		k = (((const char *)key)[3] - '0') * 10 +
		    ((const char *)key)[4] - '0';
	if (k < 0 || k >= NKEYS || !value_ok(k, sc->st[k], val, vlen)) {
		snprintf(sc->msg, 512, "scan: key %.*s has a wrong or torn "
			 "value (%zu bytes)", (int)klen, (const char *)key,
			 vlen);
		return 1;
	}
	sc->count++;
	return 0;
}

static uint8_t getbuf[DAXKV_MAX_VALUE];

/* Compare the open database with the model; 0 or a message in msg. */
int verify_db(void *handle, const struct expect *exp, char *msg)
{
	daxkv *db = handle;
	int side[MAXTHREADS + 1];
	struct scan_ctx sc;
	int want = 0, rc;

	/* each operation in flight: all of it or none of it */
	for (int g = 0; g <= MAXTHREADS; g++)
		side[g] = -1;
	for (int k = 0; k < NKEYS; k++) {
		int g = exp->group[k];
		size_t vlen;
		char key[16];
		bool is_old, is_new;

		if (!g)
			continue;
		key_name(k, key);
		rc = daxkv_get(db, key, 5, getbuf, sizeof(getbuf), &vlen);
		is_old = rc == 0 ? value_ok(k, &exp->old, getbuf, vlen) :
				   exp->old.len[k] < 0;
		is_new = rc == 0 ? value_ok(k, &exp->new, getbuf, vlen) :
				   exp->new.len[k] < 0;
		if (is_old == is_new)
			continue; /* both (same value) or neither: below */
		if (side[g] < 0)
			side[g] = is_new;
		else if (side[g] != is_new) {
			snprintf(msg, 512, "get %s: the operation in flight of "
				 "writer %d is half there [not atomic]", key,
				 g);
			return -1;
		}
	}
	for (int k = 0; k < NKEYS; k++) {
		int g = exp->group[k];

		sc.st[k] = g && side[g] == 1 ? &exp->new : &exp->old;
	}
	for (int k = 0; k < NKEYS; k++) {
		const struct kv_state *st = sc.st[k];
		size_t vlen = 0;
		char key[16];

		key_name(k, key);
		rc = daxkv_get(db, key, 5, getbuf, sizeof(getbuf), &vlen);
		if (st->len[k] >= 0)
			want++;
		if (rc == DAXKV_ENOTFOUND && st->len[k] < 0)
			continue;
		if (rc == 0 && value_ok(k, st, getbuf, vlen))
			continue;
		snprintf(msg, 512,
			 "get %s: rc %d len %zu, expected %s%d bytes (v%u)%s", key,
			 rc, vlen, st->len[k] < 0 ? "absent " : "", st->len[k],
			 st->ver[k],
			 exp->group[k] ? " [in flight: value torn or from "
					 "nowhere]" :
					 " [acknowledged write lost]");
		return -1;
	}
	sc.count = 0;
	sc.msg = msg;
	if (daxkv_scan(db, NULL, 0, NULL, 0, scan_cb, &sc) != 0)
		return -1;
	if (sc.count != want) {
		snprintf(msg, 512, "scan: %d keys, expected %d", sc.count, want);
		return -1;
	}
	{
		/* the records themselves (what a device reads): each live
		 * key visible exactly once, also after a compaction's copy */
		struct daxkv_query q;
		struct daxkv_query_result res = {
			.version = DAXKV_QUERY_RESULT_VERSION
		};

		daxkv_query_init(&q);
		q.backend = DAXKV_BACKEND_CPU;
		q.threads = 1;
		rc = daxkv_query(db, &q, &res);
		if (rc || res.count != (uint64_t)want) {
			snprintf(msg, 512,
				 "query: rc %d, %llu records visible, expected "
				 "%d [a record visible twice, or a mark lost]",
				 rc, (unsigned long long)res.count, want);
			return -1;
		}
	}
	return 0;
}

static void checker_loop(void)
{
	struct daxkv_options opts;
	char c;

	in_child = true;
	tracking = false;
	sched_after_fork_child();
	/* each open allocates and frees the same large tables: keep them in
	 * the heap instead of mmap/munmap (page faults) every time */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	daxkv_options_init(&opts);
	opts.segment_size = SEG_SIZE;
	opts.recovery_threads = 1;
	opts.flags = DAXKV_OPEN_NOCREATE | DAXKV_OPEN_NOCOMPACT;
	while (read(to_child[0], &c, 1) == 1) {
		daxkv *db = NULL;
		uint64_t t0 = now_ns();
		int rc = daxkv_open(shm->dir, &opts, &db);

		shm->ns_open += now_ns() - t0;
		t0 = now_ns();
		if (rc) {
			snprintf(shm->msg, sizeof(shm->msg),
				 "recovery failed: %s: %s", daxkv_strerror(rc),
				 daxkv_errmsg());
			shm->ok = 0;
		} else {
			shm->ok = verify_db(db, &shm->exp, shm->msg) == 0;
			shm->ns_verify += now_ns() - t0;
			t0 = now_ns();
			rc = daxkv_close(db);
			shm->ns_close += now_ns() - t0;
			if (rc && shm->ok) {
				shm->ok = 0;
				snprintf(shm->msg, sizeof(shm->msg),
					 "close: %s", daxkv_errmsg());
			}
		}
		shm->runs++;
		if (write(from_child[1], &c, 1) != 1)
			break;
	}
	_exit(0);
}

void checker_spawn(void)
{
	if (!shm) {
		shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (shm == MAP_FAILED)
			die("out of memory");
		signal(SIGPIPE, SIG_IGN);
	}
	if (child_pid > 0) {
		close(to_child[1]);
		close(from_child[0]);
	}
	if (pipe(to_child) || pipe(from_child))
		die("pipe: %s", strerror(errno));
	child_pid = fork();
	if (child_pid < 0)
		die("fork: %s", strerror(errno));
	if (child_pid == 0) {
		close(to_child[1]);
		close(from_child[0]);
		checker_loop();
	}
	close(to_child[0]);
	close(from_child[1]);
}

void checker_stop(void)
{
	if (child_pid <= 0)
		return;
	close(to_child[1]);
	close(from_child[0]);
	waitpid(child_pid, NULL, 0);
	child_pid = 0;
}

/* Check the state C holds now against @p exp. */
void checker_run(const struct expect *exp, struct check_result *res)
{
	char path[600], c = 'c';
	struct pollfd pfd;
	struct stat st;
	int status = 0;

	snprintf(shm->dir, sizeof(shm->dir), "%s", cdir);
	snprintf(path, sizeof(path), "%s/meta", sdir);
	shm->meta_ino = stat(path, &st) == 0 ? st.st_ino : 0;
	shm->meta_private = 0;
	shm->exp = *exp;
	shm->ok = 0;
	shm->msg[0] = '\0';
	if (write(to_child[1], &c, 1) != 1)
		goto died;
	pfd.fd = from_child[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, CHECK_TIMEOUT_MS) != 1) {
		kill(child_pid, SIGKILL);
		waitpid(child_pid, &status, 0);
		child_pid = 0;
		res->ok = 0;
		snprintf(res->msg, sizeof(res->msg),
			 "the checker hung for %d s on this state",
			 CHECK_TIMEOUT_MS / 1000);
		checker_spawn();
		meta_private_failed = true;
		return;
	}
	if (read(from_child[0], &c, 1) != 1)
		goto died;
	res->ok = shm->ok;
	snprintf(res->msg, sizeof(res->msg), "%s", shm->msg);
	if (!shm->meta_private)
		meta_private_failed = true; /* re-read the store's copy */
	return;
died:
	waitpid(child_pid, &status, 0);
	child_pid = 0;
	res->ok = 0;
	snprintf(res->msg, sizeof(res->msg),
		 "checker died (status 0x%x) opening the state", status);
	checker_spawn();
	meta_private_failed = true;
}

void checker_times(double *open_ms, double *verify_ms, double *close_ms)
{
	double n = shm && shm->runs ? (double)shm->runs : 1;

	*open_ms = shm ? (double)shm->ns_open / 1e6 / n : 0;
	*verify_ms = shm ? (double)shm->ns_verify / 1e6 / n : 0;
	*close_ms = shm ? (double)shm->ns_close / 1e6 / n : 0;
}
