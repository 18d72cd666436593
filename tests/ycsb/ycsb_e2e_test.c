/* SPDX-License-Identifier: MIT */
/*
 * ycsb_e2e_test.c -- the driver against daxkv, in process: a load puts
 * every record where a reader finds it, verification passes on good
 * data and catches a value that differs from what was written.  (The
 * per-workload runs of the real binary are registered by CMake.)
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "dk_test.h"
#include "props.h"
#include "runner.h"
#include "workload.h"

static char err[512];

struct fixture {
	const char *dir;
	const struct ycsb_backend *be;
	void *store;
	struct ycsb_props props;
	struct ycsb_workload w;
};

static void setup(struct fixture *f, const char *tag, const char *text)
{
	f->dir = dk_test_dir(tag);
	CHECK_EQ(mkdir(f->dir, 0755), 0);
	f->be = ycsb_backend_find("daxkv");
	CHECK(f->be != NULL);
	CHECK_EQ(f->be->open(f->dir, 0, &f->store, err, sizeof(err)), YCSB_OK);
	ycsb_props_init(&f->props);
	CHECK_EQ(ycsb_props_parse(&f->props, text, tag, err, sizeof(err)), 0);
	if (ycsb_workload_configure(&f->w, &f->props, err, sizeof(err)))
		DK_FAIL("configure: %s", err);
	CHECK_EQ(ycsb_workload_begin(&f->w), 0);
}

static void teardown(struct fixture *f)
{
	ycsb_workload_end(&f->w);
	f->be->close(f->store);
	ycsb_props_free(&f->props);
	dk_rmtree(f->dir);
}

static void load_puts_every_record(void)
{
	struct fixture f;
	struct ycsb_phase_result res;
	char key[YCSB_MAX_KEY];
	struct ycsb_buf buf = {0};
	uint32_t n, lens[4];
	const char *vals[4];

	setup(&f, "ycsb-load",
	      "recordcount=500\noperationcount=0\n"
	      "fieldcount=4\nfieldlength=20\ndataintegrity=true\n");
	CHECK_EQ(ycsb_run_phase(&f.w, f.be, f.store, true, 2, 1, "load", &res),
		 0);
	CHECK_EQ(res.ops, 500);
	CHECK_EQ(res.op[YCSB_OP_INSERT].count, 500);
	CHECK_EQ(res.errors, 0);
	for (int64_t k = 0; k < 500; k++) {
		void *thread;
		char expect[20];

		ycsb_build_key(&f.w, k, key);
		CHECK_EQ(f.be->thread_open(f.store, &thread, err, sizeof(err)),
			 0);
		CHECK_EQ(f.be->read(thread, key, strlen(key), &buf), YCSB_OK);
		f.be->thread_close(thread);
		CHECK_EQ(
		    ycsb_record_decode(buf.data, buf.len, 4, &n, vals, lens),
		    0);
		CHECK_EQ(n, 4);
		ycsb_deterministic_value(key, strlen(key), 3, expect, 20);
		CHECK_EQ(lens[3], 20);
		CHECK_MEM(vals[3], expect, 20);
	}
	free(buf.data);
	teardown(&f);
}

static void verification_catches_a_wrong_value(void)
{
	struct fixture f;
	struct ycsb_phase_result res;
	char key[YCSB_MAX_KEY], bad[2 + 4 * 4 + 4 * 20];
	const char *vals[4];
	uint32_t lens[4] = {20, 20, 20, 20};
	void *thread;

	setup(&f, "ycsb-verify",
	      "recordcount=50\noperationcount=5000\n"
	      "fieldcount=4\nfieldlength=20\ndataintegrity=true\n"
	      "readproportion=1\nupdateproportion=0\n");
	CHECK_EQ(ycsb_run_phase(&f.w, f.be, f.store, true, 1, 1, "load", &res),
		 0);
	CHECK_EQ(ycsb_run_phase(&f.w, f.be, f.store, false, 2, 1, "run", &res),
		 0);
	CHECK_EQ(res.verify_failures, 0);
	CHECK_EQ(res.verified, 5000 * 4);

	/* a well-formed record whose field 2 is not what YCSB would write */
	ycsb_build_key(&f.w, 7, key);
	for (int i = 0; i < 4; i++)
		vals[i] = "xxxxxxxxxxxxxxxxxxxx";
	ycsb_record_encode(bad, 4, vals, lens);
	CHECK_EQ(f.be->thread_open(f.store, &thread, err, sizeof(err)), 0);
	CHECK_EQ(f.be->put(thread, key, strlen(key), bad, sizeof(bad)),
		 YCSB_OK);
	f.be->thread_close(thread);
	CHECK_EQ(ycsb_run_phase(&f.w, f.be, f.store, false, 1, 2, "run", &res),
		 0);
	/* key 7 is 1 in 50 uniform reads of 5000: ~100 of them */
	CHECK(res.verify_failures > 20);
	CHECK_STR_HAS(res.first_problem, key);
	teardown(&f);
}

static const struct dk_case cases[] = {
    {"load_puts_every_record", load_puts_every_record},
    {"verification_catches_a_wrong_value", verification_catches_a_wrong_value},
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
