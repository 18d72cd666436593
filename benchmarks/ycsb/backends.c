/* SPDX-License-Identifier: MIT */
/*
 * backends.c -- which backends this binary has.  CMake builds each
 * backend_<store>.c only when its library is found and defines
 * YCSB_HAVE_<STORE>; this table is the one place that looks.
 */
#include <string.h>

#include "backend.h"

extern const struct ycsb_backend ycsb_backend_daxkv;
extern const struct ycsb_backend ycsb_backend_daxkv_nocompact;
extern const struct ycsb_backend ycsb_backend_lmdb;
extern const struct ycsb_backend ycsb_backend_rocksdb;
extern const struct ycsb_backend ycsb_backend_pmemobj;

const struct ycsb_backend *const ycsb_backends[] = {
#ifdef YCSB_HAVE_DAXKV
    &ycsb_backend_daxkv,
    &ycsb_backend_daxkv_nocompact,
#endif
#ifdef YCSB_HAVE_LMDB
    &ycsb_backend_lmdb,
#endif
#ifdef YCSB_HAVE_ROCKSDB
    &ycsb_backend_rocksdb,
#endif
#ifdef YCSB_HAVE_PMEMOBJ
    &ycsb_backend_pmemobj,
#endif
    NULL,
};

const char *const ycsb_backends_missing[] = {
#ifndef YCSB_HAVE_DAXKV
    "daxkv (the engine library target was not built)",
#endif
#ifndef YCSB_HAVE_LMDB
    "lmdb (liblmdb-dev not found at build time)",
#endif
#ifndef YCSB_HAVE_ROCKSDB
    "rocksdb (librocksdb-dev not found at build time)",
#endif
#ifndef YCSB_HAVE_PMEMOBJ
    "pmemobj (libpmemobj-dev or libxxhash-dev not found at build time)",
#endif
    NULL,
};

const struct ycsb_backend *ycsb_backend_find(const char *name)
{
	for (size_t i = 0; ycsb_backends[i]; i++)
		if (!strcmp(ycsb_backends[i]->name, name))
			return ycsb_backends[i];
	return NULL;
}
