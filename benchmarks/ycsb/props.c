/* SPDX-License-Identifier: MIT */
/* props.c -- Java-properties reader for YCSB workload files (props.h). */
#include "props.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ycsb_props_init(struct ycsb_props *p)
{
	memset(p, 0, sizeof(*p));
}

void ycsb_props_free(struct ycsb_props *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->count; i++) {
		free(p->items[i].name);
		free(p->items[i].value);
		free(p->items[i].origin);
	}
	free(p->items);
	memset(p, 0, sizeof(*p));
}

static struct ycsb_prop *find(const struct ycsb_props *p, const char *name)
{
	for (size_t i = 0; i < p->count; i++)
		if (!strcmp(p->items[i].name, name))
			return &p->items[i];
	return NULL;
}

int ycsb_props_set(struct ycsb_props *p, const char *name, const char *value,
		   const char *origin)
{
	struct ycsb_prop *it = find(p, name);
	char *v = strdup(value), *o = strdup(origin);

	if (!v || !o)
		goto err_free;
	if (it) {
		free(it->value);
		free(it->origin);
		it->value = v;
		it->origin = o;
		return 0;
	}
	if (p->count == p->cap) {
		size_t ncap = p->cap ? 2 * p->cap : 32;
		struct ycsb_prop *n = realloc(p->items, ncap * sizeof(*n));

		if (!n)
			goto err_free;
		p->items = n;
		p->cap = ncap;
	}
	it = &p->items[p->count];
	it->name = strdup(name);
	if (!it->name)
		goto err_free;
	it->value = v;
	it->origin = o;
	it->used = false;
	p->count++;
	return 0;
err_free:
	free(v);
	free(o);
	return -1;
}

int ycsb_props_copy(struct ycsb_props *dst, const struct ycsb_props *src)
{
	ycsb_props_init(dst);
	for (size_t i = 0; i < src->count; i++)
		if (ycsb_props_set(dst, src->items[i].name, src->items[i].value,
				   src->items[i].origin)) {
			ycsb_props_free(dst);
			return -1;
		}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* A logical line: "name=value", "name: value" or "name value". */
static int parse_line(struct ycsb_props *p, char *line, const char *source,
		      unsigned lineno, char *err, size_t errlen)
{
	char origin[512];
	char *s = trim(line), *sep, *name, *value;

	if (!*s || *s == '#' || *s == '!')
		return 0;
	sep = s + strcspn(s, "=: \t");
	if (*sep == '\0') {
		value = sep; /* a name alone means an empty value */
	} else {
		char *after = sep;

		/* whitespace, then optionally one '=' or ':' */
		while (*after == ' ' || *after == '\t')
			after++;
		if (*after == '=' || *after == ':')
			after++;
		*sep = '\0';
		value = trim(after);
	}
	name = s;
	if (!*name) {
		snprintf(err, errlen, "%s:%u: no property name before '='",
			 source, lineno);
		return -1;
	}
	snprintf(origin, sizeof(origin), "%s:%u", source, lineno);
	if (ycsb_props_set(p, name, value, origin)) {
		snprintf(err, errlen, "%s:%u: out of memory", source, lineno);
		return -1;
	}
	return 0;
}

int ycsb_props_parse(struct ycsb_props *p, const char *text, const char *source,
		     char *err, size_t errlen)
{
	size_t len = strlen(text);
	char *buf = malloc(len + 1), *logical = malloc(len + 1);
	size_t pos = 0, llen = 0;
	unsigned lineno = 0, first_line = 0;
	int rc = 0;

	if (!buf || !logical) {
		snprintf(err, errlen, "%s: out of memory", source);
		rc = -1;
		goto out_free;
	}
	memcpy(buf, text, len + 1);
	while (pos <= len && rc == 0) {
		size_t end = pos + strcspn(buf + pos, "\n");
		char *raw = buf + pos;
		size_t rlen, slashes = 0;
		bool more;

		buf[end] = '\0';
		lineno++;
		rlen = strlen(raw);
		if (rlen && raw[rlen - 1] == '\r')
			raw[--rlen] = '\0';
		if (llen == 0) {
			first_line = lineno;
		} else {
			/* continuation: leading whitespace dropped */
			while (*raw == ' ' || *raw == '\t')
				raw++, rlen--;
		}
		/* an odd number of trailing backslashes continues the line,
		 * except on a comment line */
		while (slashes < rlen && raw[rlen - 1 - slashes] == '\\')
			slashes++;
		more = (slashes % 2) == 1 &&
		       !(llen == 0 && (*trim(raw) == '#' || *trim(raw) == '!'));
		if (more)
			rlen--;
		memcpy(logical + llen, raw, rlen);
		llen += rlen;
		logical[llen] = '\0';
		if (!more || end >= len) {
			rc = parse_line(p, logical, source, first_line, err,
					errlen);
			llen = 0;
		}
		pos = end + 1;
	}
out_free:
	free(buf);
	free(logical);
	return rc;
}

int ycsb_props_load_file(struct ycsb_props *p, const char *path, char *err,
			 size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, cap = 0, n;
	int rc = -1;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *t = realloc(text, cap + 65536);

			if (!t) {
				snprintf(err, errlen, "%s: out of memory",
					 path);
				goto out_close;
			}
			text = t;
			cap += 65536;
		}
		n = fread(text + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out_close;
	}
	text[len] = '\0';
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "%s: binary file, not properties", path);
		goto out_close;
	}
	rc = ycsb_props_parse(p, text, path, err, errlen);
out_close:
	free(text);
	fclose(f);
	return rc;
}

int ycsb_props_set_arg(struct ycsb_props *p, const char *arg, char *err,
		       size_t errlen)
{
	const char *eq = strchr(arg, '=');
	char name[256], *tn, *tv, *value;
	int rc;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name)) {
		snprintf(err, errlen, "-p %s: expected name=value", arg);
		return -1;
	}
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	value = strdup(eq + 1);
	if (!value) {
		snprintf(err, errlen, "-p: out of memory");
		return -1;
	}
	tn = trim(name);
	tv = trim(value);
	rc = ycsb_props_set(p, tn, tv, "-p");
	if (rc)
		snprintf(err, errlen, "-p: out of memory");
	free(value);
	return rc;
}

const char *ycsb_props_get(struct ycsb_props *p, const char *name,
			   const char *dflt)
{
	struct ycsb_prop *it = find(p, name);

	if (!it)
		return dflt;
	it->used = true;
	return it->value;
}

const char *ycsb_props_origin(const struct ycsb_props *p, const char *name)
{
	struct ycsb_prop *it = find(p, name);

	return it ? it->origin : NULL;
}

int ycsb_props_get_u64(struct ycsb_props *p, const char *name, uint64_t dflt,
		       uint64_t *out, char *err, size_t errlen)
{
	const char *v = ycsb_props_get(p, name, NULL);
	char *end;
	unsigned long long n;

	if (!v) {
		*out = dflt;
		return 0;
	}
	errno = 0;
	n = strtoull(v, &end, 10);
	if (!*v || *end || errno || *v == '-' || isspace((unsigned char)*v)) {
		snprintf(err, errlen,
			 "%s: %s: '%s' is not a non-negative integer",
			 ycsb_props_origin(p, name), name, v);
		return -1;
	}
	*out = n;
	return 0;
}

int ycsb_props_get_size(struct ycsb_props *p, const char *name, uint64_t dflt,
			uint64_t *out, char *err, size_t errlen)
{
	const char *v = ycsb_props_get(p, name, NULL);
	char *end;
	unsigned long long n;
	int shift = 0;

	if (!v) {
		*out = dflt;
		return 0;
	}
	errno = 0;
	n = strtoull(v, &end, 10);
	if (end != v) {
		switch (*end) {
		case 'k':
		case 'K':
			shift = 10;
			end++;
			break;
		case 'm':
		case 'M':
			shift = 20;
			end++;
			break;
		case 'g':
		case 'G':
			shift = 30;
			end++;
			break;
		default:
			break;
		}
	}
	if (end == v || *end || errno || *v == '-' ||
	    isspace((unsigned char)*v) || (shift && n > (~0ull >> shift))) {
		snprintf(err, errlen, "%s: %s: '%s' is not a size",
			 ycsb_props_origin(p, name), name, v);
		return -1;
	}
	*out = (uint64_t)n << shift;
	return 0;
}

int ycsb_props_get_double(struct ycsb_props *p, const char *name, double dflt,
			  double *out, char *err, size_t errlen)
{
	const char *v = ycsb_props_get(p, name, NULL);
	char *end;
	double d;

	if (!v) {
		*out = dflt;
		return 0;
	}
	errno = 0;
	d = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(d)) {
		snprintf(err, errlen, "%s: %s: '%s' is not a number",
			 ycsb_props_origin(p, name), name, v);
		return -1;
	}
	*out = d;
	return 0;
}

int ycsb_props_get_bool(struct ycsb_props *p, const char *name, bool dflt,
			bool *out, char *err, size_t errlen)
{
	const char *v = ycsb_props_get(p, name, NULL);

	if (!v) {
		*out = dflt;
		return 0;
	}
	/* Java's Boolean.parseBoolean: "true" in any case, else false;
	 * we are stricter so that a typo is not silently false */
	if (!strcasecmp(v, "true")) {
		*out = true;
	} else if (!strcasecmp(v, "false")) {
		*out = false;
	} else {
		snprintf(err, errlen, "%s: %s: '%s' is not true or false",
			 ycsb_props_origin(p, name), name, v);
		return -1;
	}
	return 0;
}

size_t ycsb_props_note_unused(const struct ycsb_props *p, FILE *out)
{
	size_t n = 0;

	for (size_t i = 0; i < p->count; i++) {
		if (p->items[i].used)
			continue;
		if (out)
			fprintf(out,
				"note: %s: property '%s' is not used by "
				"this driver; ignored\n",
				p->items[i].origin, p->items[i].name);
		n++;
	}
	return n;
}
