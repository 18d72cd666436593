/* SPDX-License-Identifier: MIT */
/*
 * props.h -- Java-properties reader for YCSB workload files.
 *
 * YCSB's workload files are java.util.Properties files: `name=value`
 * (also `name: value` and `name value`), `#` and `!` comment lines,
 * surrounding whitespace ignored, a line ending in a backslash goes on
 * on the next line.  Several files are read in order and later settings
 * win, then `-p name=value` overrides, as YCSB's command line does.
 *
 * Every value remembers where it came from ("workloada:12", "-p") so a
 * bad number is reported with the file and line that set it.  Every
 * lookup marks the property used; what was never looked up is unknown to
 * this driver and ycsb_props_note_unused() says so (YCSB ignores unknown
 * properties too).
 */
#ifndef YCSB_PROPS_H
#define YCSB_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ycsb_prop {
	char *name;
	char *value;
	char *origin; /* "file:line" or "-p" */
	bool used;
};

struct ycsb_props {
	struct ycsb_prop *items;
	size_t count, cap;
};

void ycsb_props_init(struct ycsb_props *p);
void ycsb_props_free(struct ycsb_props *p);
/* Deep copy of @p src into a fresh @p dst. 0 or -1 (out of memory). */
int ycsb_props_copy(struct ycsb_props *dst, const struct ycsb_props *src);

/* Set (or replace) one property.  0 or -1 (out of memory). */
int ycsb_props_set(struct ycsb_props *p, const char *name, const char *value,
		   const char *origin);
/* Parse properties text; @p source names it in origins and errors.
 * 0, or -1 with a message in @p err. */
int ycsb_props_parse(struct ycsb_props *p, const char *text, const char *source,
		     char *err, size_t errlen);
/* Read and parse a file.  0, or -1 with a message in @p err. */
int ycsb_props_load_file(struct ycsb_props *p, const char *path, char *err,
			 size_t errlen);
/* A `-p name=value` argument.  0, or -1 with a message in @p err. */
int ycsb_props_set_arg(struct ycsb_props *p, const char *arg, char *err,
		       size_t errlen);

/* The value, or @p dflt if unset; marks it used. */
const char *ycsb_props_get(struct ycsb_props *p, const char *name,
			   const char *dflt);
/* Typed lookups: 0, or -1 with "ORIGIN: NAME: 'VALUE' is not ..." in err. */
int ycsb_props_get_u64(struct ycsb_props *p, const char *name, uint64_t dflt,
		       uint64_t *out, char *err, size_t errlen);
/* A size in bytes, with an optional K, M or G suffix (powers of 1024):
 * "16M", "2097152"; the error says "... is not a size". */
int ycsb_props_get_size(struct ycsb_props *p, const char *name, uint64_t dflt,
			uint64_t *out, char *err, size_t errlen);
int ycsb_props_get_double(struct ycsb_props *p, const char *name, double dflt,
			  double *out, char *err, size_t errlen);
int ycsb_props_get_bool(struct ycsb_props *p, const char *name, bool dflt,
			bool *out, char *err, size_t errlen);
/* Where a property was set, or NULL. */
const char *ycsb_props_origin(const struct ycsb_props *p, const char *name);

/* Print a note for each property never looked up; returns how many. */
size_t ycsb_props_note_unused(const struct ycsb_props *p, FILE *out);

#endif
