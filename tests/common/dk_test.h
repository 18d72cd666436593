/* SPDX-License-Identifier: MIT */
/*
 * dk_test.h -- the test programs' small harness.
 *
 * Table-driven: a program lists its cases in a `struct dk_case[]` and
 * calls dk_test_main(); `prog NAME...` runs only the named cases, `prog
 * --list` lists them.  Assertions print file:line and both values and do
 * not depend on assert() (they work with NDEBUG).
 */
#ifndef DK_TEST_H
#define DK_TEST_H

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daxkv.h"

struct dk_case {
	const char *name;
	void (*fn)(void);
};

#define DK_FAIL(...)                                                           \
	do {                                                                   \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                \
		fprintf(stderr, __VA_ARGS__);                                  \
		fprintf(stderr, "\n");                                         \
		exit(1);                                                       \
	} while (0)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			DK_FAIL("CHECK(%s) failed", #cond);                    \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long va_ = (long long)(a), vb_ = (long long)(b);          \
		if (va_ != vb_)                                                \
			DK_FAIL("CHECK_EQ(%s, %s): %lld != %lld", #a, #b, va_, \
				vb_);                                          \
	} while (0)

/* A daxkv call that must return @p want (0 or a DAXKV_E* code). */
#define CHECK_RC(expr, want)                                                   \
	do {                                                                   \
		int rc_ = (expr), want_ = (want);                              \
		if (rc_ != want_)                                              \
			DK_FAIL("%s returned %d (%s), want %d (%s); errmsg: %s", \
				#expr, rc_, daxkv_strerror(rc_), want_,        \
				daxkv_strerror(want_), daxkv_errmsg());        \
	} while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

#define CHECK_MEM(a, b, n)                                                     \
	do {                                                                   \
		if (memcmp((a), (b), (n)) != 0)                                \
			DK_FAIL("CHECK_MEM(%s, %s, %zu): bytes differ", #a,    \
				#b, (size_t)(n));                              \
	} while (0)

#define CHECK_STR_HAS(hay, needle)                                             \
	do {                                                                   \
		const char *h_ = (hay), *n_ = (needle);                        \
		if (!h_ || !strstr(h_, n_))                                    \
			DK_FAIL("\"%s\" does not contain \"%s\"",              \
				h_ ? h_ : "(null)", n_);                       \
	} while (0)

static inline int dk_rm_one(const char *path, const struct stat *st,
			    int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* rm -rf */
static inline void dk_rmtree(const char *path)
{
	nftw(path, dk_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory path (not created) under $DAXKV_TEST_DIR, or
 * /dev/shm; the caller removes it with dk_rmtree.  The VM suite points
 * DAXKV_TEST_DIR at ext4 and xfs mounted -o dax. */
static inline const char *dk_test_dir(const char *tag)
{
	static char buf[8][256];
	static int next;
	char *p = buf[next++ % 8];
	const char *base = getenv("DAXKV_TEST_DIR");

	snprintf(p, 256, "%s/daxkv-test-%ld-%s", base ? base : "/dev/shm",
		 (long)getpid(), tag);
	dk_rmtree(p);
	return p;
}

static inline struct daxkv_options dk_small_opts(void)
{
	struct daxkv_options o;

	daxkv_options_init(&o);
	o.segment_size = 2u << 20;
	return o;
}

/* Deterministic PRNG (splitmix64) so a failing seed can be replayed. */
static inline uint64_t dk_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline int dk_test_main(int argc, char **argv,
			       const struct dk_case *cases, size_t ncases)
{
	int ran = 0;

	/* emulated pmem: real flush instructions on /dev/shm (not on a real
	 * DAX mount, where MAP_SYNC decides) */
	if (!getenv("DAXKV_TEST_DIR"))
		setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	if (argc > 1 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < ncases; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	for (size_t i = 0; i < ncases; i++) {
		int selected = argc <= 1;

		for (int a = 1; a < argc; a++)
			if (!strcmp(argv[a], cases[i].name))
				selected = 1;
		if (!selected)
			continue;
		printf("case %s\n", cases[i].name);
		fflush(stdout);
		cases[i].fn();
		printf("case %s: ok\n", cases[i].name);
		ran++;
	}
	if (ran == 0) {
		fprintf(stderr, "no case matched\n");
		return 2;
	}
	printf("%d passed, 0 failed\n", ran);
	return 0;
}

#endif
