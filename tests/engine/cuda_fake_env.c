// SPDX-License-Identifier: MIT
/*
 * cuda_fake_env.c -- linked into test builds of programs that do not know
 * about the fake GPU (query_test, compact_test, kvctl): before main, the
 * CUDA backend is handed the fake (cuda_fake.h), configured from
 * DAXKV_FAKE_GPU, a comma-separated list of
 *   pageable=0|1      the device's pageable-memory attribute (default 1)
 *   fault_kernel=N    the Nth kernel launched faults when it runs
 *   nodriver          libcuda.so.1 "does not load"
 * An empty or unset DAXKV_FAKE_GPU means a working GPU.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_fake.h"

__attribute__((constructor)) static void cuda_fake_env_install(void)
{
	struct cuda_fake_config cfg;
	const char *spec = getenv("DAXKV_FAKE_GPU");
	char buf[256], *save = NULL;
	unsigned fault = 0;

	cuda_fake_defaults(&cfg);
	snprintf(buf, sizeof(buf), "%s", spec ? spec : "");
	for (char *item = strtok_r(buf, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		if (strncmp(item, "pageable=", 9) == 0) {
			cfg.pageable = atoi(item + 9);
		} else if (strncmp(item, "fault_kernel=", 13) == 0) {
			fault = (unsigned)atoi(item + 13);
		} else if (strcmp(item, "nodriver") == 0) {
			cfg.driver = false;
		} else {
			fprintf(stderr, "DAXKV_FAKE_GPU: unknown '%s'\n", item);
			exit(2);
		}
	}
	cuda_fake_install(&cfg);
	if (fault)
		cuda_fake_fault_kernel(fault);
}
