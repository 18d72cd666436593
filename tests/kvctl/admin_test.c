// SPDX-License-Identifier: MIT
/*
 * admin_test.c -- the Administration API (daxkv_check,
 * daxkv_segment_foreach) called directly: argument checks, every error
 * code, callback stop values, the pool hook, counts, and a repair that is
 * idempotent and leaves a database the engine opens with every record.
 * kvctl_test.sh covers the same calls as a user meets them through kvctl.
 * Records are damaged or forged by the rules of layout.h (the test links
 * the static library for dk_crc32c).
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "dk_test.h"
#include "layout.h"

static struct daxkv_check_options dk_check_opts(uint32_t flags)
{
	struct daxkv_check_options o;

	memset(&o, 0, sizeof(o));
	o.version = DAXKV_CHECK_OPTIONS_VERSION;
	o.flags = flags;
	return o;
}

static struct daxkv_check_result dk_check_res(void)
{
	struct daxkv_check_result r;

	memset(&r, 0, sizeof(r));
	r.version = DAXKV_CHECK_RESULT_VERSION;
	return r;
}

/* A database with @p n keys "k0000".., closed. */
static void dk_make_db(const char *dir, int n)
{
	struct daxkv_options o = dk_small_opts();
	daxkv *db;
	char key[16];

	CHECK_OK(daxkv_open(dir, &o, &db));
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		CHECK_OK(daxkv_put(db, key, strlen(key), "value", 5));
	}
	CHECK_OK(daxkv_close(db));
}

static void case_check_args(void)
{
	const char *dir = dk_test_dir("args");
	struct daxkv_check_options o = dk_check_opts(0);
	struct daxkv_check_result r = dk_check_res();
	char longdir[5000];

	dk_make_db(dir, 1);
	CHECK_RC(daxkv_check(NULL, &o, &r), DAXKV_EINVAL);
	CHECK_RC(daxkv_check("", &o, &r), DAXKV_EINVAL);
	CHECK_RC(daxkv_check(dir, NULL, &r), DAXKV_EINVAL);
	CHECK_RC(daxkv_check(dir, &o, NULL), DAXKV_EINVAL);
	o.version = 99;
	CHECK_RC(daxkv_check(dir, &o, &r), DAXKV_EINVAL);
	o = dk_check_opts(0x80);
	CHECK_RC(daxkv_check(dir, &o, &r), DAXKV_EINVAL);
	CHECK_STR_HAS(daxkv_errmsg(), "0x80");
	o = dk_check_opts(0);
	r.version = 0;
	CHECK_RC(daxkv_check(dir, &o, &r), DAXKV_EINVAL);
	r = dk_check_res();
	memset(longdir, 'a', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	CHECK_RC(daxkv_check(longdir, &o, &r), DAXKV_EINVAL);
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_RC(daxkv_segment_foreach(NULL, NULL, NULL), DAXKV_EINVAL);
	dk_rmtree(dir);
}

static void case_check_nodb(void)
{
	const char *dir = dk_test_dir("nodb");
	struct daxkv_check_options o = dk_check_opts(0);
	struct daxkv_check_result r = dk_check_res();
	char file[300];
	int fd;

	CHECK_RC(daxkv_check(dir, &o, &r), DAXKV_ENODB);
	CHECK(mkdir(dir, 0755) == 0);
	CHECK_RC(daxkv_check(dir, &o, &r), DAXKV_ENODB);
	CHECK_STR_HAS(daxkv_errmsg(), "meta.pool");
	snprintf(file, sizeof(file), "%s/file", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	close(fd);
	CHECK_RC(daxkv_check(file, &o, &r), DAXKV_ENODB);
	/* the check created nothing */
	snprintf(file, sizeof(file), "%s/lock", dir);
	CHECK(access(file, F_OK) != 0);
	dk_rmtree(dir);
}

static void case_check_busy(void)
{
	const char *dir = dk_test_dir("busy");
	struct daxkv_check_options o = dk_check_opts(DAXKV_CHECK_REPAIR);
	struct daxkv_check_result r = dk_check_res();
	struct daxkv_options opts = dk_small_opts();
	char pid[32];
	daxkv *db;

	dk_make_db(dir, 3);
	CHECK_OK(daxkv_open(dir, &opts, &db));
	CHECK_RC(daxkv_check(dir, &o, &r), DAXKV_EBUSY);
	snprintf(pid, sizeof(pid), "process %ld", (long)getpid());
	CHECK_STR_HAS(daxkv_errmsg(), pid);
	CHECK_OK(daxkv_close(db));
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.problems, 0);
	/* and the check let the lock go again */
	CHECK_OK(daxkv_open(dir, &opts, &db));
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static int dk_count_report(const struct daxkv_check_problem *p, void *arg)
{
	(*(int *)arg)++;
	CHECK_EQ(p->version, DAXKV_CHECK_PROBLEM_VERSION);
	return 0;
}

static void case_check_counts(void)
{
	const char *dir = dk_test_dir("counts");
	struct daxkv_check_options o = dk_check_opts(0);
	struct daxkv_check_result r = dk_check_res();
	struct daxkv_options opts = dk_small_opts();
	daxkv_batch *b;
	daxkv *db;
	int reports = 0;

	dk_make_db(dir, 10);
	CHECK_OK(daxkv_open(dir, &opts, &db));
	CHECK_OK(daxkv_batch_new(&b));
	CHECK_OK(daxkv_batch_put(b, "b1", 2, "x", 1));
	CHECK_OK(daxkv_batch_put(b, "b2", 2, "y", 1));
	CHECK_OK(daxkv_batch_delete(b, "k0000", 5));
	CHECK_OK(daxkv_batch_commit(db, b));
	daxkv_batch_free(b);
	CHECK_OK(daxkv_close(db));
	o.report = dk_count_report;
	o.arg = &reports;
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(reports, 0);
	CHECK_EQ(r.problems, 0);
	CHECK_EQ(r.segments, 1);
	CHECK_EQ(r.records, 13);
	CHECK_EQ(r.record_bytes, 10 * dk_rec_size(5, 5) + 2 * dk_rec_size(2, 1) +
					 dk_rec_size(5, 0));
	dk_rmtree(dir);
}

struct dk_hook {
	int calls, ret;
	char path[300];
};

static int dk_pool_hook(const char *path, void *arg)
{
	struct dk_hook *h = arg;

	h->calls++;
	snprintf(h->path, sizeof(h->path), "%s", path);
	return h->ret;
}

static int dk_stop_report(const struct daxkv_check_problem *p, void *arg)
{
	(void)arg;
	CHECK_EQ(p->kind, DAXKV_PROBLEM_ORPHAN);
	CHECK_STR_HAS(p->file, "seg-00000077.dat");
	CHECK_EQ(p->repairable, 1);
	CHECK_EQ(p->repaired, 0);
	return 7;
}

static void case_check_callbacks(void)
{
	const char *dir = dk_test_dir("callbacks");
	struct daxkv_check_options o = dk_check_opts(0);
	struct daxkv_check_result r = dk_check_res();
	struct dk_hook hook = { 0 };
	char orphan[300];
	int fd;

	dk_make_db(dir, 2);
	o.pool_check = dk_pool_hook;
	o.arg = &hook;
	hook.ret = 2;
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(hook.calls, 1);
	CHECK_STR_HAS(hook.path, "/meta.pool");
	CHECK_EQ(r.problems, 2);
	CHECK_EQ(r.segments, 1);
	hook.ret = -5;
	CHECK_RC(daxkv_check(dir, &o, &r), -5);
	CHECK_EQ(r.segments, 0);

	snprintf(orphan, sizeof(orphan), "%s/seg-00000077.dat", dir);
	fd = open(orphan, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	close(fd);
	o = dk_check_opts(0);
	o.report = dk_stop_report;
	CHECK_RC(daxkv_check(dir, &o, &r), 7);
	CHECK(access(orphan, F_OK) == 0);
	o.flags = DAXKV_CHECK_REPAIR;
	o.report = NULL;
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.problems, 1);
	CHECK_EQ(r.repaired, 1);
	CHECK(access(orphan, F_OK) != 0);
	dk_rmtree(dir);
}

static void case_repair_torn_tail(void)
{
	const char *dir = dk_test_dir("torn");
	struct daxkv_check_options o = dk_check_opts(0);
	struct daxkv_check_result r = dk_check_res();
	struct daxkv_options opts = dk_small_opts();
	struct dk_seg_header hdr;
	struct dk_rec torn = { .crc = 1, .klen = 4, .flags = DK_REC_PUT,
			       .vlen = 100, .batch = 1, .seq = 1000 };
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	char path[300], val[16];
	size_t vlen;
	uint64_t zero = 0;
	daxkv *db;
	int fd;

	dk_make_db(dir, 20);
	/* what a crash in the middle of the 21st put leaves */
	snprintf(path, sizeof(path), "%s/seg-00000000.dat", dir);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, &hdr, sizeof(hdr), 0), sizeof(hdr));
	CHECK(hdr.sealed_tail > DK_SEG_HDR_SIZE);
	CHECK_EQ(pwrite(fd, &torn, sizeof(torn), (off_t)hdr.sealed_tail),
		 sizeof(torn));
	CHECK_EQ(pwrite(fd, &zero, 8, 56), 8);
	close(fd);

	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.problems, 1);
	CHECK_EQ(r.repaired, 0);
	CHECK_EQ(r.records, 20);
	o.flags = DAXKV_CHECK_REPAIR;
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.problems, 1);
	CHECK_EQ(r.repaired, 1);
	CHECK_OK(daxkv_check(dir, &o, &r)); /* idempotent */
	CHECK_EQ(r.problems, 0);
	CHECK_EQ(r.records, 20);

	CHECK_OK(daxkv_open(dir, &opts, &db));
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.recovery, DAXKV_RECOVERY_SCAN); /* repair voids the ckpt */
	CHECK_EQ(st.keys, 20);
	CHECK_OK(daxkv_get(db, "k0019", 5, val, sizeof(val), &vlen));
	CHECK_EQ(vlen, 5);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

/* Segment 0 of @p dir, opened for reading and writing. */
static int dk_seg0(const char *dir)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/seg-00000000.dat", dir);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	return fd;
}

static uint64_t dk_sealed_tail(int fd)
{
	uint64_t tail;

	CHECK_EQ(pread(fd, &tail, 8, 56), 8);
	return tail;
}

static void dk_set_sealed_tail(int fd, uint64_t tail)
{
	CHECK_EQ(pwrite(fd, &tail, 8, 56), 8);
}

/* Write a valid record (as the engine would) at @p off; its end. */
static uint64_t dk_forge(int fd, uint64_t off, const char *key,
			 const char *val, uint64_t seq, uint32_t batch)
{
	uint8_t buf[256] = { 0 };
	struct dk_rec *rec = (struct dk_rec *)buf;
	uint64_t size = dk_rec_size(strlen(key), strlen(val));

	rec->klen = (uint16_t)strlen(key);
	rec->flags = DK_REC_PUT | (batch > 1 ? DK_REC_BATCH : 0);
	rec->vlen = (uint32_t)strlen(val);
	rec->batch = batch;
	rec->seq = seq;
	memcpy(buf + DK_REC_HDR_SIZE, key, rec->klen);
	memcpy(buf + DK_REC_HDR_SIZE + rec->klen, val, rec->vlen);
	rec->crc = dk_crc32c(dk_crc32c(0, buf + 4, 20), buf + DK_REC_HDR_SIZE,
			     rec->klen + rec->vlen);
	CHECK_EQ(pwrite(fd, buf, size, (off_t)off), (ssize_t)size);
	return off + size;
}

/* Open @p dir: @p keys live keys, @p gone (if any) not among them. */
static void dk_expect_keys(const char *dir, uint64_t keys, const char *gone)
{
	struct daxkv_options opts = dk_small_opts();
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	size_t vlen;
	daxkv *db;

	CHECK_OK(daxkv_open(dir, &opts, &db));
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(st.keys, keys);
	if (gone)
		CHECK_RC(daxkv_get(db, gone, strlen(gone), NULL, 0, &vlen),
			 DAXKV_ENOTFOUND);
	CHECK_OK(daxkv_close(db));
}

static void case_torn_batch(void)
{
	const char *dir = dk_test_dir("tornbatch");
	struct daxkv_check_options o = dk_check_opts(0);
	struct daxkv_check_result r = dk_check_res();
	uint64_t end;
	int fd;

	dk_make_db(dir, 5);
	fd = dk_seg0(dir);
	end = dk_sealed_tail(fd);
	dk_set_sealed_tail(fd, 0);
	/* two of a batch of three reached media before the crash */
	end = dk_forge(fd, end, "t1", "x", 100, 3);
	dk_forge(fd, end, "t2", "y", 100, 3);
	close(fd);
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.problems, 1);
	CHECK_EQ(r.records, 5);
	CHECK_EQ(r.dropped_records, 2);
	o.flags = DAXKV_CHECK_REPAIR;
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.repaired, 1);
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.problems, 0);
	dk_expect_keys(dir, 5, "t1");
	dk_rmtree(dir);
}

static void case_broken_batch_inside(void)
{
	const char *dir = dk_test_dir("brokenbatch");
	struct daxkv_check_options o = dk_check_opts(0);
	struct daxkv_check_result r = dk_check_res();
	uint64_t off, end, after;
	uint8_t byte;
	int fd;

	dk_make_db(dir, 2);
	fd = dk_seg0(dir);
	off = dk_sealed_tail(fd);
	dk_set_sealed_tail(fd, 0);
	end = dk_forge(fd, off, "b1", "x", 10, 3);
	end = dk_forge(fd, end, "b2", "y", 10, 3);
	end = dk_forge(fd, end, "b3", "z", 10, 3);
	after = dk_forge(fd, end, "later", "v", 11, 1);
	dk_set_sealed_tail(fd, after);
	/* damage the middle member: the batch no longer counts, the record
	 * after it still does */
	CHECK_EQ(pread(fd, &byte, 1, (off_t)(off + 40 + 34)), 1);
	byte ^= 0xff;
	CHECK_EQ(pwrite(fd, &byte, 1, (off_t)(off + 40 + 34)), 1);
	close(fd);
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.problems, 1);
	CHECK_EQ(r.records, 3);
	o.flags = DAXKV_CHECK_REPAIR;
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.repaired, 1);
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.problems, 0);
	dk_expect_keys(dir, 3, "b1"); /* k0000, k0001, later */
	dk_rmtree(dir);
}

static void case_sealed_tail_low(void)
{
	const char *dir = dk_test_dir("sealedlow");
	struct daxkv_check_options o = dk_check_opts(DAXKV_CHECK_REPAIR);
	struct daxkv_check_result r = dk_check_res();
	uint64_t tail;
	int fd;

	dk_make_db(dir, 4);
	fd = dk_seg0(dir);
	tail = dk_sealed_tail(fd);
	dk_set_sealed_tail(fd, DK_SEG_HDR_SIZE + dk_rec_size(5, 5));
	close(fd);
	CHECK_OK(daxkv_check(dir, &o, &r));
	CHECK_EQ(r.problems, 1);
	CHECK_EQ(r.repaired, 1);
	fd = dk_seg0(dir);
	CHECK_EQ(dk_sealed_tail(fd), tail);
	close(fd);
	dk_expect_keys(dir, 4, NULL);
	dk_rmtree(dir);
}

struct dk_segs {
	int calls, stop_at;
	struct daxkv_segment_info last;
};

static int dk_seg_cb(const struct daxkv_segment_info *si, void *arg)
{
	struct dk_segs *s = arg;

	s->last = *si;
	return ++s->calls == s->stop_at ? 9 : 0;
}

static void case_segment_foreach(void)
{
	const char *dir = dk_test_dir("segs");
	struct daxkv_options opts = dk_small_opts();
	struct daxkv_stat st = { .version = DAXKV_STAT_VERSION };
	struct dk_segs s = { 0 };
	daxkv *db;

	CHECK_OK(daxkv_open(dir, &opts, &db));
	CHECK_RC(daxkv_segment_foreach(db, NULL, NULL), DAXKV_EINVAL);
	CHECK_OK(daxkv_segment_foreach(db, dk_seg_cb, &s));
	CHECK_EQ(s.calls, 0);
	CHECK_OK(daxkv_put(db, "a", 1, "1", 1));
	CHECK_OK(daxkv_put(db, "b", 1, "2", 1));
	CHECK_OK(daxkv_put(db, "a", 1, "33", 2));
	CHECK_OK(daxkv_delete(db, "b", 1));
	CHECK_OK(daxkv_segment_foreach(db, dk_seg_cb, &s));
	CHECK_EQ(s.calls, 1);
	CHECK_EQ(s.last.version, DAXKV_SEGMENT_INFO_VERSION);
	CHECK_EQ(s.last.size, 2u << 20);
	CHECK_EQ(s.last.sealed, 0);
	/* two puts of one byte, one of two, one delete */
	CHECK_EQ(s.last.tail, DK_SEG_HDR_SIZE + 2 * dk_rec_size(1, 1) +
				      dk_rec_size(1, 2) + dk_rec_size(1, 0));
	CHECK_EQ(s.last.live_records, 1);
	CHECK_EQ(s.last.live_bytes, dk_rec_size(1, 2));
	CHECK_OK(daxkv_stat(db, &st));
	CHECK_EQ(s.last.live_bytes, st.live_bytes);
	s.calls = 0;
	s.stop_at = 1;
	CHECK_RC(daxkv_segment_foreach(db, dk_seg_cb, &s), 9);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static const struct dk_case cases[] = {
	{ "check_args", case_check_args },
	{ "check_nodb", case_check_nodb },
	{ "check_busy", case_check_busy },
	{ "check_counts", case_check_counts },
	{ "check_callbacks", case_check_callbacks },
	{ "repair_torn_tail", case_repair_torn_tail },
	{ "torn_batch", case_torn_batch },
	{ "broken_batch_inside", case_broken_batch_inside },
	{ "sealed_tail_low", case_sealed_tail_low },
	{ "segment_foreach", case_segment_foreach },
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
