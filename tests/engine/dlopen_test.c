// SPDX-License-Identifier: MIT
/*
 * dlopen_test -- libdaxkv.so loads with dlopen() (as the Redis module and
 * Python's ctypes load it), opens a database and takes a write.
 *
 * A library whose TLS is used in the initial-exec model needs its whole
 * TLS block in the static TLS block, and a library loaded after the
 * program started gets only the little room glibc keeps spare: built with
 * the static CUDA runtime (a 4 KiB-aligned TLS block), libdaxkv then
 * failed to load with "cannot allocate memory in static TLS block".
 *
 * usage: dlopen_test LIBDAXKV.so DIR
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daxkv.h"

typedef int (*open_fn)(const char *, const struct daxkv_options *,
		       daxkv **);
typedef int (*put_fn)(daxkv *, const void *, size_t, const void *,
		      size_t);
typedef int (*close_fn)(daxkv *);
typedef void (*opts_fn)(struct daxkv_options *);

int main(int argc, char **argv)
{
	void *lib;
	open_fn op;
	put_fn put;
	close_fn cl;
	opts_fn init;
	struct daxkv_options o;
	daxkv *db = NULL;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: dlopen_test LIBDAXKV.so DIR\n");
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "dlopen_test: FAIL: dlopen: %s\n", dlerror());
		return 1;
	}
	op = (open_fn)dlsym(lib, "daxkv_open");
	put = (put_fn)dlsym(lib, "daxkv_put");
	cl = (close_fn)dlsym(lib, "daxkv_close");
	init = (opts_fn)dlsym(lib, "daxkv_options_init");
	if (!op || !put || !cl || !init) {
		fprintf(stderr, "dlopen_test: FAIL: a symbol is missing\n");
		return 1;
	}
	init(&o);
	rc = op(argv[2], &o, &db);
	if (rc != 0) {
		fprintf(stderr, "dlopen_test: FAIL: daxkv_open %s: %d\n",
			argv[2], rc);
		return 1;
	}
	rc = put(db, "k", 1, "v", 1);
	if (rc != 0) {
		fprintf(stderr, "dlopen_test: FAIL: daxkv_put: %d\n", rc);
		return 1;
	}
	cl(db);
	printf("dlopen_test: ok\n");
	return 0;
}
