// SPDX-License-Identifier: MIT
/*
 * kmod_test.c -- the KMOD backend's errors, on the daxmirror module in the
 * VM suite (tests/vm/guest-init.sh runs it as ext4.query_kmod_errors; it
 * needs the module loaded, a file system mounted -o dax in
 * DAXKV_TEST_DIR, and root for MADV_HWPOISON, so ctest does not run it on
 * the host).
 *
 *   not_dax  a database on a file system without DAX (DAXKV_TEST_NODAX_DIR,
 *            default /tmp, a tmpfs in the guest): the module refuses to
 *            mirror it, so an explicit KMOD query is DAXKV_ENOTSUP naming
 *            DAX, and AUTO answers on the CPU, exactly.
 *   poison   a page of a segment file poisoned with MADV_HWPOISON (the
 *            kernel's memory-failure path): a KMOD query, aggregate or
 *            ROWS, is DAXKV_EIO whose daxkv_errmsg() names the segment
 *            file and the page's offset in it, and so is an AUTO query,
 *            which must not answer on the CPU instead.  The database is
 *            kept: the page stays poisoned for the machine's life, and its
 *            blocks must go to no other file.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "dk_test.h"

#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif

#define PAGE 4096u
#define NRECS 6000u
#define VLEN 200u

static void need_module(void)
{
	if (access("/dev/daxmirror", F_OK) != 0)
		DK_FAIL("no /dev/daxmirror: this program runs in the VM suite, "
			"with the daxmirror module loaded");
}

/* NRECS records "k000000".. with a u64 field (its index) at value
 * offset 0. */
static daxkv *fill(const char *dir)
{
	struct daxkv_options o = dk_small_opts();
	uint8_t val[VLEN];
	daxkv *db;

	CHECK_OK(daxkv_open(dir, &o, &db));
	memset(val, 'v', sizeof(val));
	for (uint64_t i = 0; i < NRECS; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%06llu", (unsigned long long)i);
		memcpy(val, &i, sizeof(i));
		CHECK_OK(daxkv_put(db, key, strlen(key), val, sizeof(val)));
	}
	return db;
}

/* COUNT of the records whose field is below @p below, on @p backend. */
static int count_below(daxkv *db, uint32_t backend, uint64_t below,
		       struct daxkv_query_result *res)
{
	struct daxkv_query q;

	daxkv_query_init(&q);
	q.backend = backend;
	q.output = DAXKV_QUERY_COUNT;
	q.npreds = 1;
	q.preds[0] = (struct daxkv_pred){ .type = DAXKV_FIELD_UINT,
					  .op = DAXKV_OP_LT,
					  .offset = 0,
					  .width = 8,
					  .uval = below };
	memset(res, 0, sizeof(*res));
	res->version = DAXKV_QUERY_RESULT_VERSION;
	return daxkv_query(db, &q, res);
}

static int count_rows(const struct daxkv_row *rows, size_t n, void *arg)
{
	(void)rows;
	*(uint64_t *)arg += n;
	return 0;
}

static void test_not_dax(void)
{
	const char *base = getenv("DAXKV_TEST_NODAX_DIR");
	struct daxkv_query_result res;
	char dir[256];
	daxkv *db;

	need_module();
	snprintf(dir, sizeof(dir), "%s/daxkv-kmod-nodax-%ld",
		 base ? base : "/tmp", (long)getpid());
	dk_rmtree(dir);
	db = fill(dir);
	CHECK_RC(count_below(db, DAXKV_BACKEND_KMOD, 1000, &res),
		 DAXKV_ENOTSUP);
	printf("KMOD on a non-DAX database: %s\n", daxkv_errmsg());
	CHECK_STR_HAS(daxkv_errmsg(), "only DAX memory");
	CHECK_OK(count_below(db, DAXKV_BACKEND_AUTO, 1000, &res));
	CHECK_EQ(res.backend, DAXKV_BACKEND_CPU);
	CHECK_EQ(res.count, 1000);
	CHECK_OK(daxkv_close(db));
	dk_rmtree(dir);
}

static volatile sig_atomic_t sigbus_seen;

static void on_sigbus(int sig)
{
	(void)sig;
	sigbus_seen = 1;
}

/*
 * The segment file of @p dir whose page at @p off holds records: its
 * path in @p path, its slot as the return value.
 */
static unsigned find_segment(const char *dir, off_t off, char *path,
			     size_t len)
{
	struct dirent *de;
	unsigned slot = ~0u;
	DIR *d = opendir(dir);

	CHECK(d);
	while (slot == ~0u && (de = readdir(d))) {
		uint8_t page[PAGE];
		unsigned s;
		int fd;

		if (sscanf(de->d_name, "seg-%08u.dat", &s) != 1)
			continue;
		snprintf(path, len, "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY);
		CHECK(fd >= 0);
		if (pread(fd, page, PAGE, off) == PAGE &&
		    memchr(page, 'v', PAGE))
			slot = s;
		close(fd);
	}
	closedir(d);
	if (slot == ~0u)
		DK_FAIL("no segment of %s has records at offset %lld", dir,
			(long long)off);
	return slot;
}

static void test_poison(void)
{
	const off_t victim = 256u << 10; /* inside the first segment's records */
	struct sigaction sa = { .sa_handler = on_sigbus };
	struct daxkv_query_result res;
	struct daxkv_query q;
	char path[512], want[600];
	const char *dir;
	uint64_t rows = 0;
	unsigned slot;
	uint8_t *map;
	int fd;
	daxkv *db;

	need_module();
	if (!getenv("DAXKV_TEST_DIR"))
		DK_FAIL("poison needs DAXKV_TEST_DIR on a file system mounted "
			"-o dax");
	dir = dk_test_dir("kmodpoison.keep");
	db = fill(dir);
	/* Before: the device answers exactly. */
	CHECK_OK(count_below(db, DAXKV_BACKEND_KMOD, NRECS, &res));
	CHECK_EQ(res.backend, DAXKV_BACKEND_KMOD);
	CHECK_EQ(res.count, NRECS);

	slot = find_segment(dir, victim, path, sizeof(path));
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	map = mmap(NULL, 2u << 20, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	CHECK(((volatile uint8_t *)map)[victim] == 'v' ||
	      memchr(map + victim, 'v', PAGE));
	/* The kernel's memory-failure path: marks the page, unmaps it from
	 * every process (the engine's mapping too), sends this one SIGBUS. */
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
	if (madvise(map + victim, PAGE, MADV_HWPOISON) != 0)
		DK_FAIL("MADV_HWPOISON: %s", strerror(errno));
	printf("poisoned %s at offset %lld (SIGBUS seen: %d)\n", path,
	       (long long)victim, (int)sigbus_seen);

	snprintf(want, sizeof(want),
		 "at offset %lld of segment slot %u, file %s",
		 (long long)victim, slot, path);
	/* Aggregate. */
	CHECK_RC(count_below(db, DAXKV_BACKEND_KMOD, NRECS, &res), DAXKV_EIO);
	printf("KMOD COUNT: %s\n", daxkv_errmsg());
	CHECK_STR_HAS(daxkv_errmsg(), "poisoned memory");
	CHECK_STR_HAS(daxkv_errmsg(), want);
	/* ROWS. */
	daxkv_query_init(&q);
	q.backend = DAXKV_BACKEND_KMOD;
	q.output = DAXKV_QUERY_ROWS;
	q.rows = count_rows;
	q.arg = &rows;
	CHECK_RC(daxkv_query(db, &q, NULL), DAXKV_EIO);
	printf("KMOD ROWS: %s\n", daxkv_errmsg());
	CHECK_STR_HAS(daxkv_errmsg(), want);
	/* AUTO: the same error, not the CPU's answer (on hardware the CPU
	 * would take the machine check; here it might read the page). */
	CHECK_RC(count_below(db, DAXKV_BACKEND_AUTO, NRECS, &res), DAXKV_EIO);
	printf("AUTO COUNT: %s\n", daxkv_errmsg());
	CHECK_STR_HAS(daxkv_errmsg(), want);

	munmap(map, 2u << 20);
	close(fd);
	CHECK_OK(daxkv_close(db));
	printf("kept %s (its page stays poisoned)\n", dir);
}

static const struct dk_case cases[] = {
	{ "not_dax", test_not_dax },
	{ "poison", test_poison },
};

int main(int argc, char **argv)
{
	return dk_test_main(argc, argv, cases, sizeof(cases) / sizeof(*cases));
}
