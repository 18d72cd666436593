// SPDX-License-Identifier: MIT
/*
 * crash_test.c -- acknowledged writes survive SIGKILL at random moments.
 *
 * A child process writes (puts, deletes, pair batches) and reports over a
 * pipe what it is about to do ("intent") and what returned 0 ("ack").  The
 * parent kills it with SIGKILL after a random delay, reopens the database
 * and checks: every key holds its last acknowledged state, or the state
 * of the one write that was in flight when the child died; pairs written
 * in one batch are equal; every value's own checksum holds (no torn
 * record).  The child also compacts every 256 writes (and the background
 * compaction runs), so kills land inside compactions too.
 * `crash_test [KILLS [SEED]]`, 200 kills by default.
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "crc32c.h"
#include "dk_test.h"

#define NKEYS 500

struct msg {
	uint32_t kind; /* 1 intent, 2 ack */
	uint32_t op;   /* 1 put, 2 delete, 3 pair batch put, 4 pair delete */
	uint32_t key;
	uint32_t pad;
	uint64_t id;   /* value id, for puts */
};

/* Per key: the acknowledged state and an optional in-flight one. */
struct kstate {
	uint64_t acked;   /* value id + 1, 0 = absent */
	int has_pending;
	uint64_t pending; /* value id + 1, 0 = delete */
};

static struct kstate state[NKEYS];
static int landed[NKEYS]; /* verify: in-flight write found 1, not 0, -1 ? */

static size_t make_value(uint8_t *buf, uint64_t id)
{
	size_t len = 16 + (id * 37) % 400;
	uint32_t crc;

	memcpy(buf, &id, 8);
	memcpy(buf + 8, &len, 4);
	for (size_t i = 16; i < len; i++)
		buf[i] = (uint8_t)(id ^ i);
	crc = dk_crc32c(0, buf + 16, len - 16);
	memcpy(buf + 12, &crc, 4);
	return len;
}

static uint64_t value_id(const uint8_t *buf, size_t len)
{
	uint64_t id;
	uint32_t vlen, crc;

	CHECK(len >= 16);
	memcpy(&id, buf, 8);
	memcpy(&vlen, buf + 8, 4);
	memcpy(&crc, buf + 12, 4);
	if (vlen != len || crc != dk_crc32c(0, buf + 16, len - 16))
		DK_FAIL("torn value: id %llu len %zu",
			(unsigned long long)id, len);
	return id;
}

static void key_name(char *buf, uint32_t k)
{
	/* keys k and k^1 form a pair for batches */
	snprintf(buf, 32, "key%04u", k);
}

static void send_msg(int fd, uint32_t kind, uint32_t op, uint32_t key,
		     uint64_t id)
{
	struct msg m = { kind, op, key, 0, id };

	if (write(fd, &m, sizeof(m)) != sizeof(m))
		_exit(5);
}

static void child_run(const char *dir, int fd, uint64_t seed)
{
	struct daxkv_options o = dk_small_opts();
	uint8_t val[512];
	char k1[32], k2[32];
	daxkv_batch *b;
	daxkv *db;
	uint64_t rng = seed;

	if (daxkv_open(dir, &o, &db) != 0) {
		fprintf(stderr, "child open: %s\n", daxkv_errmsg());
		_exit(4);
	}
	if (daxkv_batch_new(&b) != 0)
		_exit(4);
	for (uint64_t n = 0;; n++) {
		uint32_t k = (uint32_t)(dk_rand(&rng) % NKEYS);
		uint32_t op = 1 + (uint32_t)(dk_rand(&rng) % 10);
		uint64_t id = (seed << 24) + n;
		size_t len;
		int rc;

		op = op <= 6 ? 1 : op <= 7 ? 2 : op <= 9 ? 3 : 4;
		/* compaction too, so that kills land inside it (the
		 * background thread also runs) */
		if (n % 256 == 255 && daxkv_compact(db) != 0) {
			fprintf(stderr, "child compact: %s\n", daxkv_errmsg());
			_exit(4);
		}
		key_name(k1, k);
		key_name(k2, k ^ 1);
		send_msg(fd, 1, op, k, id);
		switch (op) {
		case 1:
			len = make_value(val, id);
			rc = daxkv_put(db, k1, strlen(k1), val, len);
			break;
		case 2:
			rc = daxkv_delete(db, k1, strlen(k1));
			if (rc == DAXKV_ENOTFOUND)
				rc = 0;
			break;
		default:
			daxkv_batch_clear(b);
			if (op == 3) {
				len = make_value(val, id);
				daxkv_batch_put(b, k1, strlen(k1), val, len);
				daxkv_batch_put(b, k2, strlen(k2), val, len);
			} else {
				daxkv_batch_delete(b, k1, strlen(k1));
				daxkv_batch_delete(b, k2, strlen(k2));
			}
			rc = daxkv_batch_commit(db, b);
			break;
		}
		if (rc != 0) {
			fprintf(stderr, "child op %u: %s\n", op, daxkv_errmsg());
			_exit(4);
		}
		send_msg(fd, 2, op, k, id);
	}
}

static void apply(uint32_t key, uint32_t op, uint64_t id, int acked)
{
	uint32_t keys[2] = { key, key ^ 1 };
	int n = op >= 3 ? 2 : 1;

	for (int i = 0; i < n; i++) {
		struct kstate *ks = &state[keys[i]];
		uint64_t v = (op == 1 || op == 3) ? id + 1 : 0;

		if (acked) {
			ks->acked = v;
			ks->has_pending = 0;
		} else {
			ks->has_pending = 1;
			ks->pending = v;
		}
	}
}

static void verify(const char *dir, int nocheckpoint, uint32_t pend_op,
		   uint32_t pend_key, int pending)
{
	struct daxkv_options o = dk_small_opts();
	uint8_t val[512];
	char k1[32];
	daxkv *db;

	o.flags = nocheckpoint ? DAXKV_OPEN_NOCHECKPOINT : 0;
	CHECK_OK(daxkv_open(dir, &o, &db));
	for (uint32_t k = 0; k < NKEYS; k++) {
		struct kstate *ks = &state[k];
		uint64_t got = 0;
		size_t vlen;
		int rc;

		key_name(k1, k);
		rc = daxkv_get(db, k1, strlen(k1), val, sizeof(val), &vlen);
		if (rc == 0)
			got = value_id(val, vlen) + 1;
		else
			CHECK_RC(rc, DAXKV_ENOTFOUND);
		landed[k] = -1; /* ambiguous, or no write in flight */
		if (ks->has_pending && ks->pending != ks->acked)
			landed[k] = got == ks->pending;
		if (got == ks->acked) {
			ks->has_pending = 0;
			continue;
		}
		if (ks->has_pending && got == ks->pending) {
			/* the in-flight write landed: it is the state now */
			ks->acked = got;
			ks->has_pending = 0;
			continue;
		}
		DK_FAIL("key %u: found %llu, acknowledged %llu%s%llu", k,
			(unsigned long long)got, (unsigned long long)ks->acked,
			ks->has_pending ? ", in flight " : "",
			(unsigned long long)(ks->has_pending ? ks->pending : 0));
	}
	/* a batch in flight landed on both keys or on neither (where the
	 * pending state equals the acknowledged one, either reading fits) */
	if (pending && pend_op >= 3 && landed[pend_key] >= 0 &&
	    landed[pend_key ^ 1] >= 0 &&
	    landed[pend_key] != landed[pend_key ^ 1])
		DK_FAIL("batch on keys %u,%u landed half: %d/%d", pend_key,
			pend_key ^ 1, landed[pend_key], landed[pend_key ^ 1]);
	CHECK_OK(daxkv_close(db));
}

int main(int argc, char **argv)
{
	int kills = argc > 1 ? atoi(argv[1]) : 200;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) :
				   (uint64_t)time(NULL);
	uint64_t rng = seed;
	const char *dir;
	long acks = 0;

	if (!getenv("DAXKV_TEST_DIR"))
		setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	signal(SIGPIPE, SIG_IGN);
	printf("crash_test: %d kills, seed %llu\n", kills,
	       (unsigned long long)seed);
	fflush(stdout);
	dir = dk_test_dir("crash");
	for (int round = 0; round < kills; round++) {
		int pipefd[2];
		struct msg m;
		pid_t child;
		int status;
		struct timespec delay;
		uint32_t pend_key = 0, pend_op = 0;
		uint64_t pend_id = 0;
		int pending = 0;

		CHECK(pipe(pipefd) == 0);
		child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			close(pipefd[0]);
			child_run(dir, pipefd[1], seed * 1000 + (uint64_t)round + 1);
		}
		close(pipefd[1]);
		delay.tv_sec = 0;
		delay.tv_nsec = (long)(1 + dk_rand(&rng) % 15) * 1000000L;
		nanosleep(&delay, NULL);
		kill(child, SIGKILL);
		CHECK(waitpid(child, &status, 0) == child);
		if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
			DK_FAIL("child ended before the kill (status %d)",
				status);
		while (read(pipefd[0], &m, sizeof(m)) == sizeof(m)) {
			if (m.kind == 1) {
				pending = 1;
				pend_key = m.key;
				pend_op = m.op;
				pend_id = m.id;
			} else {
				CHECK(pending && m.key == pend_key &&
				      m.id == pend_id);
				apply(m.key, m.op, m.id, 1);
				pending = 0;
				acks++;
			}
		}
		close(pipefd[0]);
		if (pending)
			apply(pend_key, pend_op, pend_id, 0);
		verify(dir, round % 3 == 0, pend_op, pend_key, pending);
	}
	dk_rmtree(dir);
	printf("crash_test: %d kills, %ld acknowledged writes checked, 0 lost\n",
	       kills, acks);
	printf("1 passed, 0 failed\n");
	return 0;
}
