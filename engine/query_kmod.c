// SPDX-License-Identifier: MIT
/* query_kmod.c -- KMOD backend (placeholder until the module side lands). */
#include <stdio.h>

#include "daxkv.h"
#include "query.h"

int dk_kmod_available(struct daxkv *db, char *why, size_t len)
{
	(void)db;
	snprintf(why, len, "the KMOD backend is not built yet");
	return 0;
}

int dk_query_kmod(struct dk_qexec *x)
{
	(void)x;
	return dk_query_err(DAXKV_ENOTSUP, "the KMOD backend is not built yet");
}

void dk_kmod_close(struct daxkv *db)
{
	(void)db;
}

void dk_kmod_forget(struct daxkv *db, uint32_t slot)
{
	(void)db;
	(void)slot;
}
