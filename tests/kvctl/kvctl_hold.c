// SPDX-License-Identifier: MIT
/*
 * kvctl_hold.c -- test helper: keep a database open in another process.
 *
 *   kvctl_hold DIR          open, print "ready", wait for EOF on stdin,
 *                           close
 *   kvctl_hold DIR crash    open, put key "crashed" = "yes", print
 *                           "ready", wait for EOF, then exit without
 *                           closing (what a crash leaves: open segments,
 *                           no checkpoint)
 *   kvctl_hold DIR ro       open read-only (DAXKV_OPEN_RDONLY), print
 *                           "ready", wait for EOF, close
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daxkv.h"

int main(int argc, char **argv)
{
	struct daxkv_options opts;
	daxkv *db;
	char buf[64];
	int rc;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: kvctl_hold DIR [crash|ro]\n");
		return 2;
	}
	/* no background thread: a crash then leaves exactly what the put
	 * left, not a spare segment file the maker may or may not have
	 * made by then */
	daxkv_options_init(&opts);
	opts.flags = DAXKV_OPEN_NOBACKGROUND;
	if (argc == 3 && strcmp(argv[2], "ro") == 0)
		opts.flags = DAXKV_OPEN_RDONLY;
	rc = daxkv_open(argv[1], &opts, &db);
	if (rc) {
		fprintf(stderr, "kvctl_hold: %s: %s\n", daxkv_strerror(rc),
			daxkv_errmsg());
		return 1;
	}
	if (argc == 3 && strcmp(argv[2], "crash") == 0) {
		rc = daxkv_put(db, "crashed", 7, "yes", 3);
		if (rc) {
			fprintf(stderr, "kvctl_hold: put: %s\n", daxkv_errmsg());
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	if (argc == 3 && strcmp(argv[2], "crash") == 0)
		_exit(0);
	return daxkv_close(db) ? 1 : 0;
}
