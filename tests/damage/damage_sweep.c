// SPDX-License-Identifier: MIT
/*
 * damage_sweep.c -- damage never costs an acknowledged write.
 *
 * Three base images of one database, each with a model of what was
 * acknowledged:
 *   clean     written, then closed cleanly (checkpoint, sealed segments);
 *   killed    reopened by a child that writes (puts, deletes, batches)
 *             and is SIGKILLed at a random moment (open segments, a write
 *             in flight, a stale checkpoint);
 *   compact   the same with compactions running when the kill lands.
 * For each (position, moment) pair one byte of one file is changed (a bit
 * flipped, or all eight), in record headers (each field), keys, values,
 * crcs, segment headers, the meta pool (pool header, root object, segment
 * table, heap) and the checkpoint.  Then:
 *   - daxkv_open either refuses with DAXKV_ECORRUPT or DAXKV_EIO (or
 *     DAXKV_EVERSION for the format version word) naming a file, or opens
 *     with every acknowledged write intact except those of keys whose
 *     newest record's own bytes were hit (the model parses the base image
 *     to know which record each byte belongs to);
 *   - a refused database is salvaged as `kvctl check --repair` does
 *     (daxkv_check with DAXKV_CHECK_REPAIR, libpmempool's repair of the
 *     pool first) and must then open, normally, with the same guarantee;
 *   - no file of the base image may disappear except those the open of
 *     the undamaged image removes itself (an interrupted compaction's
 *     copies), or one moved aside (NAME.unknown);
 *   - no crash (the sweep runs in one process) and no hang (alarm).
 * It prints, per category and in all: pairs tried, refused, opened,
 * salvaged, and acknowledged records lost beyond the damaged ones, which
 * must be 0, as must every other failure count.
 *
 *   damage_sweep [--pairs N] [--seed S] [--keep] [-v]
 *   (DAXKV_DAMAGE_PAIRS=N overrides --pairs: the sanitizer step's size)
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <libpmempool.h>

#include "crc32c.h"
#include "dk_test.h"
#include "layout.h"

#define NKEYS 1200
#define MAXVER 32768

/* ---- values that say which write they are ---- */

/* value: u32 key, u32 version, u32 len, u32 crc of the rest, then bytes */
static size_t make_value(uint8_t *buf, uint32_t key, uint32_t ver)
{
	size_t len = 24 + (key * 31 + ver * 17) % 1000;
	uint32_t crc, l = (uint32_t)len;

	memcpy(buf, &key, 4);
	memcpy(buf + 4, &ver, 4);
	memcpy(buf + 8, &l, 4);
	for (size_t i = 16; i < len; i++)
		buf[i] = (uint8_t)(key ^ ver ^ i);
	crc = dk_crc32c(0, buf + 16, len - 16);
	memcpy(buf + 12, &crc, 4);
	return len;
}

/* version of a value of @p key, or -1 if it is not one of ours */
static long value_version(const uint8_t *buf, size_t len, uint32_t key)
{
	uint32_t k, ver, l, crc;

	if (len < 16)
		return -1;
	memcpy(&k, buf, 4);
	memcpy(&ver, buf + 4, 4);
	memcpy(&l, buf + 8, 4);
	memcpy(&crc, buf + 12, 4);
	if (k != key || l != len || crc != dk_crc32c(0, buf + 16, len - 16))
		return -1;
	return ver;
}

static void key_name(char *buf, uint32_t k)
{
	snprintf(buf, 32, "k%05u", k);
}

/* ---- the model ---- */

struct kmodel {
	long acked;         /* version + 1 acknowledged last, 0 = absent */
	int pending;        /* a write in flight at the kill */
	long pend;          /* its state (version + 1, or 0) */
	uint8_t ever[MAXVER / 8]; /* versions ever acknowledged (bitmap) */
};

struct base {
	const char *name;
	char dir[256];
	struct kmodel keys[NKEYS];
	char files[64][64]; /* files of the image */
	int nfiles;
	char gone[64][64];  /* removed by the open of the undamaged image */
	int ngone;
};

static void model_ack(struct kmodel *m, long state)
{
	m->acked = state;
	m->pending = 0;
	if (state > 0 && state - 1 < MAXVER)
		m->ever[(state - 1) / 8] |= (uint8_t)(1u << ((state - 1) % 8));
}

/* ---- writers ---- */

struct msg {
	uint32_t kind; /* 1 intent, 2 ack */
	uint32_t key;  /* first key; batches cover key, key + 1 */
	uint32_t n;    /* keys */
	uint32_t del;  /* 1 delete */
	uint32_t ver;
	uint32_t pad;
};

static void send_msg(int fd, struct msg m)
{
	if (fd >= 0 && write(fd, &m, sizeof(m)) != sizeof(m))
		_exit(5);
}

/* One random operation; reports intent and ack on @p fd (-1: none), and
 * applies it to @p model directly when @p model is given. */
static int do_op(daxkv *db, daxkv_batch *b, uint64_t *rng, uint32_t ver,
		 int fd, struct kmodel *model)
{
	uint8_t val[1100];
	char k1[32];
	struct msg m = { 1, (uint32_t)(dk_rand(rng) % (NKEYS - 1)), 1, 0, ver,
			 0 };
	uint32_t r = (uint32_t)(dk_rand(rng) % 10);
	size_t len;
	int rc;

	if (r == 0)
		m.del = 1;
	if (r >= 8)
		m.n = 2;
	send_msg(fd, m);
	if (m.n == 2) {
		daxkv_batch_clear(b);
		for (uint32_t i = 0; i < 2; i++) {
			key_name(k1, m.key + i);
			len = make_value(val, m.key + i, ver);
			daxkv_batch_put(b, k1, strlen(k1), val, len);
		}
		rc = daxkv_batch_commit(db, b);
	} else if (m.del) {
		key_name(k1, m.key);
		rc = daxkv_delete(db, k1, strlen(k1));
		if (rc == DAXKV_ENOTFOUND)
			rc = 0;
	} else {
		key_name(k1, m.key);
		len = make_value(val, m.key, ver);
		rc = daxkv_put(db, k1, strlen(k1), val, len);
	}
	if (rc)
		return rc;
	m.kind = 2;
	send_msg(fd, m);
	if (model)
		for (uint32_t i = 0; i < m.n; i++)
			model_ack(&model[m.key + i], m.del ? 0 : (long)ver + 1);
	return 0;
}

/* Fill a fresh database and close it cleanly; the model follows. */
static void build_clean(const char *dir, struct kmodel *model, uint64_t seed,
			int ops, uint32_t *verp)
{
	struct daxkv_options o = dk_small_opts();
	uint64_t rng = seed;
	daxkv_batch *b;
	daxkv *db;

	CHECK_OK(daxkv_open(dir, &o, &db));
	CHECK_OK(daxkv_batch_new(&b));
	for (int i = 0; i < ops; i++)
		CHECK_OK(do_op(db, b, &rng, (*verp)++, -1, model));
	daxkv_batch_free(b);
	CHECK_OK(daxkv_close(db));
}

/* Reopen in a child that writes (and compacts, if asked) until killed. */
static void build_killed(const char *dir, struct kmodel *model, uint64_t seed,
			 bool compact, uint32_t *verp)
{
	int pipefd[2], status;
	struct msg m, pend = { 0 };
	struct timespec delay = { 0, 0 };
	uint64_t rng = seed ^ 0x5555;
	pid_t child;
	bool pending = false;

	CHECK(pipe(pipefd) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct daxkv_options o = dk_small_opts();
		uint32_t ver = *verp;
		daxkv_batch *b;
		daxkv *db;

		close(pipefd[0]);
		if (daxkv_open(dir, &o, &db) || daxkv_batch_new(&b))
			_exit(4);
		for (uint64_t n = 0;; n++) {
			if (compact && n % 64 == 63 && daxkv_compact(db))
				_exit(4);
			if (do_op(db, b, &rng, ver++, pipefd[1], NULL))
				_exit(4);
		}
	}
	close(pipefd[1]);
	delay.tv_nsec = (long)(20 + dk_rand(&rng) % 60) * 1000000L;
	nanosleep(&delay, NULL);
	kill(child, SIGKILL);
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status));
	while (read(pipefd[0], &m, sizeof(m)) == sizeof(m)) {
		if (m.kind == 1) {
			pend = m;
			pending = true;
			continue;
		}
		for (uint32_t i = 0; i < m.n; i++)
			model_ack(&model[m.key + i], m.del ? 0 : (long)m.ver + 1);
		pending = false;
		*verp = m.ver + 1;
	}
	close(pipefd[0]);
	if (pending) {
		for (uint32_t i = 0; i < pend.n; i++) {
			model[pend.key + i].pending = 1;
			model[pend.key + i].pend = pend.del ? 0 : (long)pend.ver + 1;
		}
		*verp = pend.ver + 1;
	}
}

/* ---- files ---- */

static void copy_file(const char *from, const char *to)
{
	static uint8_t buf[1 << 20];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	CHECK(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		CHECK(write(out, buf, (size_t)n) == n);
	close(in);
	close(out);
}

static int list_files(const char *dir, char names[][64], int max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	CHECK(d != NULL);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "lock"))
			continue;
		CHECK(n < max && strlen(de->d_name) < 64);
		snprintf(names[n++], 64, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

static bool has_file(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Make @p work a copy of the base image. */
static void restore(const struct base *b, const char *work)
{
	char from[512], to[512];

	dk_rmtree(work);
	CHECK(mkdir(work, 0755) == 0);
	for (int i = 0; i < b->nfiles; i++) {
		snprintf(from, sizeof(from), "%s/%s", b->dir, b->files[i]);
		snprintf(to, sizeof(to), "%s/%s", work, b->files[i]);
		copy_file(from, to);
	}
}

/* ---- where each byte of the image belongs ---- */

struct rec_at {
	uint32_t slot, off, size, klen, key; /* key index, or UINT32_MAX */
	uint32_t batch;
	uint64_t seq;
	bool newest; /* the newest record of its key on media */
};

struct layout_map {
	struct rec_at *recs;
	size_t nrecs;
	uint32_t slots[64];
	int nslots;
	uint64_t root_off;
};

static uint32_t key_index(const uint8_t *key, uint16_t klen)
{
	unsigned k;

	if (klen != 6 || key[0] != 'k' || sscanf((const char *)key + 1, "%5u",
						 &k) != 1 || k >= NKEYS)
		return UINT32_MAX;
	return k;
}

static void map_image(const char *dir, struct layout_map *lm)
{
	char names[64][64], path[512];
	int n = list_files(dir, names, 64);
	size_t cap = 0;

	memset(lm, 0, sizeof(*lm));
	for (int i = 0; i < n; i++) {
		unsigned slot;
		uint8_t *img;
		struct stat st;
		uint64_t off = DK_SEG_HDR_SIZE, prev = 0;
		int fd;

		if (sscanf(names[i], "seg-%8u.dat", &slot) != 1 ||
		    strlen(names[i]) != 16)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = open(path, O_RDONLY);
		CHECK(fd >= 0 && fstat(fd, &st) == 0);
		img = malloc((size_t)st.st_size);
		CHECK(img && pread(fd, img, (size_t)st.st_size, 0) ==
				     st.st_size);
		close(fd);
		lm->slots[lm->nslots++] = slot;
		/* records as recovery reads them (no batch logic needed:
		 * every record of the image counts as the bytes it owns) */
		while (off + DK_REC_HDR_SIZE <= (uint64_t)st.st_size) {
			const struct dk_rec *r = (const struct dk_rec *)(img + off);
			uint64_t size;

			if (r->seq == 0 || r->seq < prev || r->klen == 0 ||
			    r->klen > DAXKV_MAX_KEY || r->vlen > DAXKV_MAX_VALUE)
				break;
			size = dk_rec_size(r->klen, r->vlen);
			if (off + size > (uint64_t)st.st_size ||
			    r->crc != dk_crc32c(dk_crc32c(dk_crc32c(0,
						(const uint8_t *)r + 4, 20),
						img + off + 32, r->klen),
					img + off + 32 + r->klen, r->vlen))
				break;
			if (lm->nrecs == cap) {
				cap = cap ? 2 * cap : 4096;
				lm->recs = realloc(lm->recs,
						   cap * sizeof(*lm->recs));
				CHECK(lm->recs);
			}
			lm->recs[lm->nrecs++] = (struct rec_at){
				.slot = slot, .off = (uint32_t)off,
				.size = (uint32_t)size, .klen = r->klen,
				.key = key_index(img + off + 32, r->klen),
				.batch = r->batch, .seq = r->seq };
			prev = r->seq;
			off += size;
		}
		free(img);
	}
	/* newest per key */
	for (size_t i = 0; i < lm->nrecs; i++) {
		bool newest = true;

		for (size_t j = 0; j < lm->nrecs && newest; j++)
			if (j != i && lm->recs[j].key == lm->recs[i].key &&
			    lm->recs[j].seq > lm->recs[i].seq)
				newest = false;
		lm->recs[i].newest = newest;
	}
	/* the root object's offset in meta.pool (libpmemobj format 6) */
	snprintf(path, sizeof(path), "%s/meta.pool", dir);
	{
		int fd = open(path, O_RDONLY);

		CHECK(fd >= 0 && pread(fd, &lm->root_off, 8, 6144) == 8);
		close(fd);
	}
}

/* ---- one pair ---- */

enum cat { C_HDR, C_KEY, C_VAL, C_CRC, C_SUP, C_SEGHDR, C_POOLHDR, C_ROOT,
	   C_TABLE, C_HEAP, C_CKPT, C_NCAT };
static const char *cat_name[C_NCAT] = { "record header", "key", "value",
	"crc", "superseded", "segment header", "pool header", "meta root",
	"segment table", "pool heap", "checkpoint" };

struct counts {
	long tried, refused, opened, salvaged, lost, badref, salvage_fail,
		deleted, noname;
};

static struct counts per[C_NCAT], total;
/* the sweep's opens: no background compaction, so that the files an open
 * removes are the same every time (compaction's own are not damage's) */
static struct daxkv_options nocompact;
static bool verbose;

/* Does the database in @p dir hold every acknowledged write but those of
 * @p damaged keys?  Returns the number of writes lost beyond those. */
static long verify(daxkv *db, const struct kmodel *model, const bool *damaged)
{
	uint8_t val[1100];
	long lost = 0;
	char k[32];

	for (uint32_t i = 0; i < NKEYS; i++) {
		const struct kmodel *m = &model[i];
		size_t vlen;
		long got = 0;
		int rc;

		key_name(k, i);
		rc = daxkv_get(db, k, strlen(k), val, sizeof(val), &vlen);
		if (rc == 0) {
			long v = value_version(val, vlen, i);

			got = v < 0 ? -1 : v + 1;
		} else if (rc != DAXKV_ENOTFOUND) {
			got = -1;
		}
		if (got == m->acked || (m->pending && got == m->pend))
			continue;
		if (damaged[i] && (got == 0 || (got > 0 && got - 1 < MAXVER &&
				   (m->ever[(got - 1) / 8] >> ((got - 1) % 8) & 1))))
			continue;
		if (verbose)
			fprintf(stderr, "  key %u: found %ld, acknowledged %ld%s\n",
				i, got, m->acked, damaged[i] ? " (damaged)" : "");
		lost++;
	}
	return lost;
}

static int pool_repair(const char *path, void *arg)
{
	struct pmempool_check_args args = {
		.path = path,
		.pool_type = PMEMPOOL_POOL_TYPE_OBJ,
		.flags = PMEMPOOL_CHECK_FORMAT_STR | PMEMPOOL_CHECK_REPAIR |
			 PMEMPOOL_CHECK_ALWAYS_YES,
	};
	PMEMpoolcheck *ppc = pmempool_check_init(&args, sizeof(args));
	struct pmempool_check_status *st;

	(void)arg;
	if (!ppc)
		return 0;
	while ((st = pmempool_check(ppc)) != NULL)
		if (st->type == PMEMPOOL_CHECK_MSG_TYPE_QUESTION)
			st->str.answer = "yes";
	pmempool_check_end(ppc);
	return 0;
}

static void one_pair(const struct base *b, const struct layout_map *lm,
		     const char *work, enum cat c, uint64_t *rng)
{
	char file[64], path[512], msg[600];
	struct counts *pc = &per[c];
	bool damaged[NKEYS];
	uint64_t pos = 0;
	uint8_t byte, mask;
	daxkv *db;
	int fd, rc;

	memset(damaged, 0, sizeof(damaged));
	restore(b, work);
	/* choose the position */
	if (c <= C_SUP) {
		const struct rec_at *r = &lm->recs[dk_rand(rng) % lm->nrecs];

		snprintf(file, sizeof(file), "seg-%08u.dat", r->slot);
		switch (c) {
		case C_HDR: /* klen, flags, vlen, batch, seq */
			pos = r->off + 4 + dk_rand(rng) % 20;
			break;
		case C_KEY:
			pos = r->off + 32 + dk_rand(rng) % r->klen;
			break;
		case C_VAL:
			pos = r->size - 32 - r->klen > 0 ?
				      r->off + 32 + r->klen +
					      dk_rand(rng) % (r->size - 32 - r->klen) :
				      r->off;
			break;
		case C_CRC:
			pos = r->off + dk_rand(rng) % 4;
			break;
		default:
			pos = r->off + 24 + dk_rand(rng) % 8;
			break;
		}
	} else if (c == C_SEGHDR) {
		snprintf(file, sizeof(file), "seg-%08u.dat",
			 lm->slots[dk_rand(rng) % lm->nslots]);
		pos = dk_rand(rng) % 64;
	} else if (c == C_CKPT) {
		struct stat st;

		snprintf(file, sizeof(file), "checkpoint.dat");
		snprintf(path, sizeof(path), "%s/%s", work, file);
		CHECK(stat(path, &st) == 0 && st.st_size > 0);
		pos = dk_rand(rng) % (uint64_t)st.st_size;
	} else {
		snprintf(file, sizeof(file), "meta.pool");
		if (c == C_POOLHDR)
			pos = dk_rand(rng) % 8192;
		else if (c == C_ROOT)
			pos = lm->root_off + dk_rand(rng) % 80;
		else if (c == C_TABLE)
			pos = lm->root_off + 80 +
			      16 * lm->slots[dk_rand(rng) % lm->nslots] +
			      dk_rand(rng) % 8;
		else
			pos = 8192 + dk_rand(rng) % (DK_META_POOL_SIZE - 8192);
	}
	/* which keys' newest records own that byte */
	if (strncmp(file, "seg-", 4) == 0) {
		unsigned slot;

		sscanf(file, "seg-%8u.dat", &slot);
		for (size_t i = 0; i < lm->nrecs; i++) {
			const struct rec_at *r = &lm->recs[i];

			if (r->slot != slot || pos < r->off ||
			    pos >= r->off + r->size)
				continue;
			/* the record hit, and the rest of its batch: a
			 * batch counts whole or not at all */
			for (size_t j = 0; j < lm->nrecs; j++) {
				const struct rec_at *o = &lm->recs[j];

				if ((j == i || (r->batch > 1 &&
						o->slot == r->slot &&
						o->seq == r->seq)) &&
				    o->newest && o->key != UINT32_MAX)
					damaged[o->key] = true;
			}
		}
	}
	mask = dk_rand(rng) % 4 == 0 ? 0xff : (uint8_t)(1u << (dk_rand(rng) % 8));
	snprintf(path, sizeof(path), "%s/%s", work, file);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0 && pread(fd, &byte, 1, (off_t)pos) == 1);
	byte ^= mask;
	CHECK(pwrite(fd, &byte, 1, (off_t)pos) == 1);
	close(fd);

	pc->tried++;
	alarm(60);
	rc = daxkv_open(work, &nocompact, &db);
	if (rc == 0) {
		long lost = verify(db, b->keys, damaged);

		pc->opened++;
		pc->lost += lost;
		if (lost || verbose)
			fprintf(stderr, "%s %s %s+%llu ^%02x: opened, %ld lost\n",
				b->name, cat_name[c], file,
				(unsigned long long)pos, mask, lost);
		CHECK_OK(daxkv_close(db));
	} else {
		snprintf(msg, sizeof(msg), "%s", daxkv_errmsg());
		pc->refused++;
		if ((rc != DAXKV_ECORRUPT && rc != DAXKV_EIO &&
		     rc != DAXKV_EVERSION) || !strstr(msg, "/")) {
			pc->badref++;
			fprintf(stderr, "%s %s %s+%llu: bad refusal %d %s\n",
				b->name, cat_name[c], file,
				(unsigned long long)pos, rc, msg);
		} else if (!strstr(msg, "offset")) {
			pc->noname++;
			if (verbose)
				fprintf(stderr, "  no offset: %s\n", msg);
		}
		if (verbose)
			fprintf(stderr, "%s %s %s+%llu ^%02x: refused: %s\n",
				b->name, cat_name[c], file,
				(unsigned long long)pos, mask, msg);
		/* salvage as kvctl check --repair does, then open */
		{
			struct daxkv_check_options co = {
				.version = DAXKV_CHECK_OPTIONS_VERSION,
				.flags = DAXKV_CHECK_REPAIR,
				.pool_check = pool_repair,
			};
			struct daxkv_check_result cr = {
				.version = DAXKV_CHECK_RESULT_VERSION
			};

			rc = daxkv_check(work, &co, &cr);
			if (rc == 0)
				rc = daxkv_open(work, &nocompact, &db);
			if (rc == 0) {
				long lost = verify(db, b->keys, damaged);

				pc->salvaged++;
				pc->lost += lost;
				if (lost)
					fprintf(stderr, "%s %s %s+%llu ^%02x: "
						"salvaged, %ld lost (%s)\n",
						b->name, cat_name[c], file,
						(unsigned long long)pos, mask,
						lost, msg);
				CHECK_OK(daxkv_close(db));
			} else {
				pc->salvage_fail++;
				fprintf(stderr, "%s %s %s+%llu ^%02x: salvage "
					"failed: %s (was: %s)\n",
					b->name, cat_name[c], file,
					(unsigned long long)pos, mask,
					daxkv_errmsg(), msg);
			}
		}
	}
	alarm(0);
	/* nothing deleted */
	for (int i = 0; i < b->nfiles; i++) {
		char aside[80];
		bool gone_ok = false;

		if (has_file(work, b->files[i]))
			continue;
		snprintf(aside, sizeof(aside), "%s.unknown", b->files[i]);
		for (int j = 0; j < b->ngone; j++)
			gone_ok |= !strcmp(b->gone[j], b->files[i]);
		if (gone_ok || has_file(work, aside))
			continue;
		pc->deleted++;
		fprintf(stderr, "%s %s %s+%llu: %s was deleted\n", b->name,
			cat_name[c], file, (unsigned long long)pos, b->files[i]);
	}
}

static void add(struct counts *t, const struct counts *c)
{
	t->tried += c->tried;
	t->refused += c->refused;
	t->opened += c->opened;
	t->salvaged += c->salvaged;
	t->lost += c->lost;
	t->badref += c->badref;
	t->salvage_fail += c->salvage_fail;
	t->deleted += c->deleted;
	t->noname += c->noname;
}

/* The base image's files, and which ones its own open removes. */
static void finish_base(struct base *b, const char *work)
{
	char after[64][64];
	int nafter;
	daxkv *db;

	b->nfiles = list_files(b->dir, b->files, 64);
	restore(b, work);
	CHECK_OK(daxkv_open(work, &nocompact, &db));
	{
		bool none[NKEYS];

		memset(none, 0, sizeof(none));
		CHECK_EQ(verify(db, b->keys, none), 0);
	}
	CHECK_OK(daxkv_close(db));
	nafter = list_files(work, after, 64);
	for (int i = 0; i < b->nfiles; i++) {
		bool there = false;

		for (int j = 0; j < nafter; j++)
			there |= !strcmp(after[j], b->files[i]);
		if (!there)
			snprintf(b->gone[b->ngone++], 64, "%s", b->files[i]);
	}
}

int main(int argc, char **argv)
{
	static struct base bases[3];
	static struct layout_map maps[3];
	long pairs = 2100;
	uint64_t seed = 1, rng;
	bool keep = false;
	const char *top;
	char work[300];
	uint32_t ver = 1;
	time_t t0 = time(NULL);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pairs") && i + 1 < argc)
			pairs = atol(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--keep"))
			keep = true;
		else if (!strcmp(argv[i], "-v"))
			verbose = true;
		else
			DK_FAIL("usage: damage_sweep [--pairs N] [--seed S] "
				"[--keep] [-v]");
	}
	/* the sanitizer step runs a smaller sweep (scripts/test.sh) */
	if (getenv("DAXKV_DAMAGE_PAIRS"))
		pairs = atol(getenv("DAXKV_DAMAGE_PAIRS"));
	if (!getenv("DAXKV_TEST_DIR"))
		setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	signal(SIGPIPE, SIG_IGN);
	rng = seed;
	daxkv_options_init(&nocompact);
	nocompact.flags = DAXKV_OPEN_NOCOMPACT;
	top = dk_test_dir("damage");
	CHECK(mkdir(top, 0755) == 0);
	snprintf(work, sizeof(work), "%s/work", top);

	/* the three moments */
	bases[0].name = "clean";
	bases[1].name = "killed";
	bases[2].name = "compact";
	for (int i = 0; i < 3; i++) {
		snprintf(bases[i].dir, sizeof(bases[i].dir), "%s/%s", top,
			 bases[i].name);
		build_clean(bases[i].dir, bases[i].keys, seed * 7 + (uint64_t)i,
			    i == 0 ? 8000 : 6000, &ver);
		if (i == 1)
			build_killed(bases[i].dir, bases[i].keys, seed + 11,
				     false, &ver);
		if (i == 2)
			build_killed(bases[i].dir, bases[i].keys, seed + 13,
				     true, &ver);
		finish_base(&bases[i], work);
		map_image(bases[i].dir, &maps[i]);
		printf("damage_sweep: moment %s: %d files, %zu records on "
		       "media, %d removed by its own open\n",
		       bases[i].name, bases[i].nfiles, maps[i].nrecs,
		       bases[i].ngone);
	}
	fflush(stdout);
	for (long p = 0; p < pairs; p++) {
		int m = (int)(p % 3);
		enum cat c = (enum cat)((p / 3) % C_NCAT);

		if (c == C_CKPT && !has_file(bases[m].dir, "checkpoint.dat"))
			c = C_VAL;
		one_pair(&bases[m], &maps[m], work, c, &rng);
	}
	printf("%-16s %6s %7s %6s %8s %5s %6s %7s %7s %9s\n", "category",
	       "tried", "refused", "opened", "salvaged", "lost", "badref",
	       "unsalv", "deleted", "no-offset");
	for (int c = 0; c < C_NCAT; c++) {
		printf("%-16s %6ld %7ld %6ld %8ld %5ld %6ld %7ld %7ld %9ld\n",
		       cat_name[c], per[c].tried, per[c].refused, per[c].opened,
		       per[c].salvaged, per[c].lost, per[c].badref,
		       per[c].salvage_fail, per[c].deleted, per[c].noname);
		add(&total, &per[c]);
	}
	printf("damage_sweep: %ld pairs tried, %ld refused, %ld opened, %ld "
	       "salvaged, %ld acknowledged records lost beyond the damaged "
	       "ones, %ld bad refusals, %ld not salvaged, %ld files deleted "
	       "(%ld s)\n",
	       total.tried, total.refused, total.opened, total.salvaged,
	       total.lost, total.badref, total.salvage_fail, total.deleted,
	       (long)(time(NULL) - t0));
	if (!keep)
		dk_rmtree(top);
	if (total.lost || total.badref || total.salvage_fail || total.deleted) {
		printf("0 passed, 1 failed\n");
		return 1;
	}
	printf("1 passed, 0 failed\n");
	return 0;
}
