// SPDX-License-Identifier: MIT
/* Built against an installed daxkv: put, get back, close. */
#include <stdio.h>
#include <string.h>

#include <daxkv.h>

int main(int argc, char **argv)
{
	char buf[16];
	size_t len = 0;
	daxkv *db;
	int rc;

	if (argc != 2)
		return 2;
	rc = daxkv_open(argv[1], NULL, &db);
	if (rc == 0)
		rc = daxkv_put(db, "k", 1, "installed", 9);
	if (rc == 0)
		rc = daxkv_get(db, "k", 1, buf, sizeof(buf), &len);
	if (db)
		daxkv_close(db);
	if (rc || len != 9 || memcmp(buf, "installed", 9)) {
		fprintf(stderr, "consumer: %s %s\n", daxkv_strerror(rc),
			daxkv_errmsg());
		return 1;
	}
	printf("consumer: ok (daxkv %s)\n", daxkv_version());
	return 0;
}
