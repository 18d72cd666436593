/* SPDX-License-Identifier: MIT */
/*
 * ycsb_e2e_test.c -- the driver against daxkv, in process: a load puts
 * every record where a reader finds it, verification passes on good
 * data and catches a value that differs from what was written; the
 * store properties daxkv.compaction and daxkv.segmentsize, and the space
 * figures with compaction on and off.  (The per-workload runs of the
 * real binary are registered by CMake.)
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "dk_test.h"
#include "props.h"
#include "runner.h"
#include "space.h"
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
	CHECK_EQ(f->be->open(f->dir, 0, NULL, &f->store, err, sizeof(err)),
		 YCSB_OK);
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

/* The store's own properties: checked before any run, marked used. */
static void daxkv_properties(void)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"daxkv.compaction=maybe\n",
	     "props:1: daxkv.compaction: 'maybe' is not on or off"},
	    {"daxkv.segmentsize=lots\n",
	     "props:1: daxkv.segmentsize: 'lots' is not a size"},
	    {"daxkv.segmentsize=0\n", "'0' is not a size"},
	};
	const struct ycsb_backend *dx = ycsb_backend_find("daxkv"),
				  *nc = ycsb_backend_find("daxkv-nocompact");
	struct ycsb_props p;

	CHECK(dx && nc && dx->check_props && nc->check_props);
	CHECK(!dx->not_default && nc->not_default);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ycsb_props_init(&p);
		CHECK_EQ(ycsb_props_parse(&p, bad[i].text, "props", err,
					  sizeof(err)),
			 0);
		err[0] = '\0';
		CHECK_EQ(dx->check_props(&p, err, sizeof(err)), -1);
		CHECK_STR_HAS(err, bad[i].want);
		CHECK_EQ(nc->check_props(&p, err, sizeof(err)), -1);
		ycsb_props_free(&p);
	}
	ycsb_props_init(&p);
	CHECK_EQ(ycsb_props_parse(&p,
				  "daxkv.compaction=off\n"
				  "daxkv.segmentsize=4M\n",
				  "props", err, sizeof(err)),
		 0);
	CHECK_EQ(dx->check_props(&p, err, sizeof(err)), 0);
	CHECK_EQ(ycsb_props_note_unused(&p, stdout), 0);
	/* the start line says what a cell will use */
	CHECK_STR_HAS(dx->describe, "background compaction off");
	CHECK_STR_HAS(dx->describe, "4 MiB segments");
	ycsb_props_free(&p);
	ycsb_props_init(&p);
	CHECK_EQ(nc->check_props(&p, err, sizeof(err)), 0);
	CHECK_STR_HAS(nc->describe, "compaction off (DAXKV_OPEN_NOCOMPACT)");
	CHECK_EQ(dx->check_props(&p, err, sizeof(err)), 0);
	CHECK_STR_HAS(dx->describe, "background compaction on");
	ycsb_props_free(&p);
}

/*
 * 20000 records of one size (fixed-width keys: insertorder=ordered,
 * zeropadding=10; 4 x 100-byte fields), then 100000 updates, on 2 MiB
 * segments: the driver's user bytes are exact, compaction off leaves
 * every version on media, compaction on brings the space down.
 */
static void space_with_compaction(bool on)
{
	struct fixture f;
	struct ycsb_phase_result res;
	struct ycsb_space sp;
	struct ycsb_props sprops;
	/* 32-byte header + "user" + 10 digits + 2 + 4 * 4 + 4 * 100 */
	const uint64_t rec = 32 + 14 + 418;
	const char *name = on ? "daxkv" : "daxkv-nocompact";
	int waited_ms = 0;

	f.dir = dk_test_dir(on ? "ycsb-space-on" : "ycsb-space-off");
	CHECK_EQ(mkdir(f.dir, 0755), 0);
	f.be = ycsb_backend_find(name);
	CHECK(f.be != NULL);
	ycsb_props_init(&sprops);
	CHECK_EQ(ycsb_props_parse(&sprops, "daxkv.segmentsize=2M\n", "p", err,
				  sizeof(err)),
		 0);
	CHECK_EQ(f.be->open(f.dir, 0, &sprops, &f.store, err, sizeof(err)),
		 YCSB_OK);
	ycsb_props_init(&f.props);
	CHECK_EQ(ycsb_props_parse(&f.props,
				  "recordcount=20000\noperationcount=100000\n"
				  "fieldcount=4\nfieldlength=100\n"
				  "insertorder=ordered\nzeropadding=10\n"
				  "readproportion=0\nupdateproportion=1\n"
				  "requestdistribution=uniform\n",
				  "space", err, sizeof(err)),
		 0);
	if (ycsb_workload_configure(&f.w, &f.props, err, sizeof(err)))
		DK_FAIL("configure: %s", err);
	CHECK_EQ(ycsb_workload_begin(&f.w), 0);
	CHECK_EQ(ycsb_run_phase(&f.w, f.be, f.store, true, 2, 1, "load", &res),
		 0);
	CHECK_EQ(res.errors, 0);
	CHECK_EQ(ycsb_run_phase(&f.w, f.be, f.store, false, 2, 1, "run", &res),
		 0);
	CHECK_EQ(res.errors, 0);
	CHECK_EQ(f.be->space(f.store, false, &sp), 0);
	CHECK_EQ(sp.compaction, on);
	CHECK_EQ(sp.user_bytes, 120000 * rec);
	CHECK(sp.live_bytes >= 20000 * rec);
	if (!on) {
		/* about 120000 records' worth on media for 20000 live */
		CHECK_EQ(sp.compactions, 0);
		CHECK_EQ(sp.bytes_compacted, 0);
		CHECK(sp.bytes_on_media > 5 * sp.live_bytes);
	} else {
		/*
		 * The background thread gets there, paced: wait for it.  Not
		 * to its 1.25: on a database this small (live bytes ~4.5
		 * segments) it can rest above 2 (a victim must be under 75%
		 * live and the victims must free a segment), so this asks for
		 * half of what compaction off leaves (~6x).
		 */
		while (ycsb_space_amp(&sp) > 3.0 && waited_ms < 30000) {
			struct timespec ts = {0, 50 * 1000000L};

			nanosleep(&ts, NULL);
			waited_ms += 50;
			CHECK_EQ(f.be->space(f.store, false, &sp), 0);
		}
		if (ycsb_space_amp(&sp) > 3.0)
			DK_FAIL("space amplification %.2f after 30 s",
				ycsb_space_amp(&sp));
		CHECK(sp.compactions > 0 && sp.segments_retired > 0);
		CHECK(sp.bytes_compacted > 0);
	}
	/* the readings during a run (version 1 figures) agree, no deletes */
	{
		struct ycsb_space quick;

		CHECK_EQ(f.be->space(f.store, true, &quick), 0);
		CHECK_EQ(quick.live_bytes, sp.live_bytes);
		if (!on) /* with it on, the compactor may be at work */
			CHECK_EQ(quick.bytes_on_media, sp.bytes_on_media);
	}
	ycsb_props_free(&sprops);
	teardown(&f);
}

static void space_compaction_off(void)
{
	space_with_compaction(false);
}

static void space_compaction_on(void)
{
	space_with_compaction(true);
}

static const struct dk_case cases[] = {
    {"load_puts_every_record", load_puts_every_record},
    {"verification_catches_a_wrong_value", verification_catches_a_wrong_value},
    {"daxkv_properties", daxkv_properties},
    {"space_compaction_off", space_compaction_off},
    {"space_compaction_on", space_compaction_on},
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
