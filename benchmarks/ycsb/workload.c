/* SPDX-License-Identifier: MIT */
/* workload.c -- YCSB's CoreWorkload (workload.h). */
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const ycsb_op_names[YCSB_OP_COUNT] = {
    "READ", "UPDATE", "INSERT", "SCAN", "READ-MODIFY-WRITE",
};

static int parse_dist(struct ycsb_props *p, const char *name, const char *dflt,
		      unsigned allowed, enum ycsb_dist *out, char *err,
		      size_t errlen)
{
	static const char *const names[] = {
	    [YCSB_DIST_CONSTANT] = "constant", [YCSB_DIST_UNIFORM] = "uniform",
	    [YCSB_DIST_ZIPFIAN] = "zipfian",   [YCSB_DIST_LATEST] = "latest",
	    [YCSB_DIST_HOTSPOT] = "hotspot",
	};
	const char *v = ycsb_props_get(p, name, dflt);

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((allowed & (1u << i)) && !strcmp(v, names[i])) {
			*out = (enum ycsb_dist)i;
			return 0;
		}
	snprintf(err, errlen, "%s: %s: '%s' is not supported here (",
		 ycsb_props_origin(p, name) ? ycsb_props_origin(p, name)
					    : "default",
		 name, v);
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (allowed & (1u << i)) {
			size_t l = strlen(err);

			snprintf(err + l, errlen - l, "%s%s", names[i],
				 (allowed >> (i + 1)) ? ", " : ")");
		}
	return -1;
}

#define GET_U64(name, dflt, dst)                                               \
	do {                                                                   \
		uint64_t v_;                                                   \
		if (ycsb_props_get_u64(p, name, dflt, &v_, err, errlen))       \
			return -1;                                             \
		dst = v_;                                                      \
	} while (0)
#define GET_DOUBLE(name, dflt, dst)                                            \
	do {                                                                   \
		if (ycsb_props_get_double(p, name, dflt, &(dst), err, errlen)) \
			return -1;                                             \
	} while (0)
#define GET_BOOL(name, dflt, dst)                                              \
	do {                                                                   \
		if (ycsb_props_get_bool(p, name, dflt, &(dst), err, errlen))   \
			return -1;                                             \
	} while (0)

int ycsb_workload_configure(struct ycsb_workload *w, struct ycsb_props *p,
			    char *err, size_t errlen)
{
	const char *wl = ycsb_props_get(p, "workload", NULL);
	const char *order;
	double total = 0;
	uint64_t fc;

	memset(w, 0, sizeof(*w));
	if (wl && !strstr(wl, "CoreWorkload")) {
		snprintf(err, errlen,
			 "%s: workload=%s: only CoreWorkload is "
			 "implemented",
			 ycsb_props_origin(p, "workload"), wl);
		return -1;
	}
	GET_U64("recordcount", 0, w->recordcount);
	GET_U64("operationcount", 0, w->operationcount);
	GET_U64("insertstart", 0, w->insertstart);
	if (w->recordcount == 0) {
		snprintf(err, errlen, "recordcount must be set and > 0");
		return -1;
	}
	if (w->insertstart > w->recordcount) {
		snprintf(err, errlen, "%s: insertstart %llu > recordcount %llu",
			 ycsb_props_origin(p, "insertstart"),
			 (unsigned long long)w->insertstart,
			 (unsigned long long)w->recordcount);
		return -1;
	}
	GET_U64("insertcount", w->recordcount - w->insertstart, w->insertcount);
	GET_U64("fieldcount", 10, fc);
	if (fc == 0 || fc > 65535) {
		snprintf(err, errlen, "%s: fieldcount must be 1..65535",
			 ycsb_props_origin(p, "fieldcount"));
		return -1;
	}
	w->fieldcount = (uint32_t)fc;
	GET_U64("fieldlength", 100, w->fieldlength);
	if (w->fieldlength == 0 || w->fieldlength > (1u << 20)) {
		snprintf(err, errlen, "%s: fieldlength must be 1..1048576",
			 ycsb_props_origin(p, "fieldlength"));
		return -1;
	}
	if (parse_dist(p, "fieldlengthdistribution", "constant",
		       1u << YCSB_DIST_CONSTANT | 1u << YCSB_DIST_UNIFORM |
			   1u << YCSB_DIST_ZIPFIAN,
		       &w->fieldlength_dist, err, errlen))
		return -1;
	GET_BOOL("readallfields", true, w->readallfields);
	GET_BOOL("writeallfields", false, w->writeallfields);
	GET_BOOL("dataintegrity", false, w->dataintegrity);
	if (w->dataintegrity && w->fieldlength_dist != YCSB_DIST_CONSTANT) {
		snprintf(err, errlen,
			 "dataintegrity needs "
			 "fieldlengthdistribution=constant (as in YCSB)");
		return -1;
	}
	GET_DOUBLE("readproportion", 0.95, w->proportion[YCSB_OP_READ]);
	GET_DOUBLE("updateproportion", 0.05, w->proportion[YCSB_OP_UPDATE]);
	GET_DOUBLE("insertproportion", 0, w->proportion[YCSB_OP_INSERT]);
	GET_DOUBLE("scanproportion", 0, w->proportion[YCSB_OP_SCAN]);
	GET_DOUBLE("readmodifywriteproportion", 0, w->proportion[YCSB_OP_RMW]);
	for (int i = 0; i < YCSB_OP_COUNT; i++) {
		if (w->proportion[i] < 0) {
			snprintf(err, errlen, "negative %s proportion",
				 ycsb_op_names[i]);
			return -1;
		}
		total += w->proportion[i];
	}
	if (total <= 0) {
		snprintf(err, errlen, "all operation proportions are 0");
		return -1;
	}
	if (parse_dist(p, "requestdistribution", "uniform",
		       1u << YCSB_DIST_UNIFORM | 1u << YCSB_DIST_ZIPFIAN |
			   1u << YCSB_DIST_LATEST | 1u << YCSB_DIST_HOTSPOT,
		       &w->request_dist, err, errlen))
		return -1;
	GET_DOUBLE("hotspotdatafraction", 0.2, w->hotset_fraction);
	GET_DOUBLE("hotspotopnfraction", 0.8, w->hotopn_fraction);
	GET_U64("minscanlength", 1, w->minscanlength);
	GET_U64("maxscanlength", 1000, w->maxscanlength);
	if (w->minscanlength == 0 || w->minscanlength > w->maxscanlength) {
		snprintf(err, errlen,
			 "need 1 <= minscanlength <= maxscanlength");
		return -1;
	}
	if (parse_dist(p, "scanlengthdistribution", "uniform",
		       1u << YCSB_DIST_UNIFORM | 1u << YCSB_DIST_ZIPFIAN,
		       &w->scanlength_dist, err, errlen))
		return -1;
	order = ycsb_props_get(p, "insertorder", "hashed");
	if (!strcmp(order, "ordered")) {
		w->ordered_inserts = true;
	} else if (!strcmp(order, "hashed")) {
		w->ordered_inserts = false;
	} else {
		snprintf(err, errlen,
			 "%s: insertorder=%s: want hashed or ordered",
			 ycsb_props_origin(p, "insertorder"), order);
		return -1;
	}
	GET_U64("zeropadding", 1, w->zeropadding);
	if (w->zeropadding > 40) {
		snprintf(err, errlen, "%s: zeropadding above 40",
			 ycsb_props_origin(p, "zeropadding"));
		return -1;
	}
	GET_U64("threadcount", 1, w->threadcount);
	if (w->threadcount == 0)
		w->threadcount = 1;
	GET_DOUBLE("maxexecutiontime", 0, w->maxexecutiontime);
	/* YCSB: predict the inserts so that the zipfian key space does not
	 * change size (and its hot keys move) while the run inserts */
	w->zipfian_max =
	    (int64_t)(w->insertstart + w->insertcount +
		      (uint64_t)((double)w->operationcount *
				 w->proportion[YCSB_OP_INSERT] / total * 2.0));
	for (int i = 0; i < YCSB_OP_COUNT; i++)
		w->proportion[i] /= total;
	return 0;
}

int ycsb_workload_begin(struct ycsb_workload *w)
{
	if (ycsb_counter_init(&w->load_seq, (int64_t)w->insertstart))
		return -1;
	if (ycsb_counter_init(&w->insert_seq, (int64_t)w->recordcount)) {
		ycsb_counter_fini(&w->load_seq);
		return -1;
	}
	return 0;
}

void ycsb_workload_end(struct ycsb_workload *w)
{
	ycsb_counter_fini(&w->load_seq);
	ycsb_counter_fini(&w->insert_seq);
}

size_t ycsb_build_key(const struct ycsb_workload *w, int64_t keynum,
		      char key[YCSB_MAX_KEY])
{
	char digits[24], *d = digits + sizeof(digits);
	uint64_t mag;
	int n, fill;

	if (!w->ordered_inserts)
		keynum = ycsb_fnvhash64(keynum);
	/* Long.toString; by hand, snprintf is a fifth of a read's cost */
	mag = keynum < 0 ? -(uint64_t)keynum : (uint64_t)keynum;
	do
		*--d = (char)('0' + mag % 10);
	while (mag /= 10);
	if (keynum < 0)
		*--d = '-';
	n = (int)(digits + sizeof(digits) - d);
	memmove(digits, d, (size_t)n);
	fill = (int)w->zeropadding - n;
	if (fill < 0)
		fill = 0;
	memcpy(key, "user", 4);
	memset(key + 4, '0', (size_t)fill);
	memcpy(key + 4 + fill, digits, (size_t)n);
	key[4 + fill + n] = '\0';
	return (size_t)(4 + fill + n);
}

/* Java's String.hashCode over the bytes (ASCII here). */
static int32_t java_hash(const char *s, size_t n)
{
	uint32_t h = 0;

	for (size_t i = 0; i < n; i++)
		h = 31 * h + (unsigned char)s[i];
	return (int32_t)h;
}

void ycsb_deterministic_value(const char *key, size_t klen, uint32_t field,
			      char *out, size_t len)
{
	/* YCSB: key + ':' + fieldkey, then ':' + hashCode() of all so far
	 * until long enough, cut to len */
	char sb[4096 + 64];
	size_t n;
	int w;

	if (klen > 1024)
		klen = 1024;
	n = (size_t)snprintf(sb, sizeof(sb), "%.*s:field%u", (int)klen, key,
			     field);
	while (n < len && n < 4096) {
		w = snprintf(sb + n, sizeof(sb) - n, ":%d", java_hash(sb, n));
		n += (size_t)w;
	}
	if (len <= n) {
		memcpy(out, sb, len);
	} else {
		/* beyond 4 KiB: repeat the pattern rather than go quadratic */
		for (size_t i = 0; i < len; i++)
			out[i] = sb[i % n];
	}
}

size_t ycsb_record_size(uint32_t nfields, const uint32_t *lens)
{
	size_t s = 2 + 4 * (size_t)nfields;

	for (uint32_t i = 0; i < nfields; i++)
		s += lens[i];
	return s;
}

static void put_le32(char *p, uint32_t v)
{
	p[0] = (char)v;
	p[1] = (char)(v >> 8);
	p[2] = (char)(v >> 16);
	p[3] = (char)(v >> 24);
}

static uint32_t get_le32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
	       (uint32_t)u[3] << 24;
}

void ycsb_record_encode(char *out, uint32_t nfields, const char *const *vals,
			const uint32_t *lens)
{
	char *data = out + 2 + 4 * (size_t)nfields;

	out[0] = (char)nfields;
	out[1] = (char)(nfields >> 8);
	for (uint32_t i = 0; i < nfields; i++) {
		put_le32(out + 2 + 4 * (size_t)i, lens[i]);
		memcpy(data, vals[i], lens[i]);
		data += lens[i];
	}
}

int ycsb_record_decode(const char *rec, size_t len, uint32_t max_fields,
		       uint32_t *nfields, const char **vals, uint32_t *lens)
{
	const unsigned char *u = (const unsigned char *)rec;
	size_t off;
	uint32_t n;

	if (len < 2)
		return -1;
	n = u[0] | (uint32_t)u[1] << 8;
	off = 2 + 4 * (size_t)n;
	if (n > max_fields || off > len)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		lens[i] = get_le32(rec + 2 + 4 * (size_t)i);
		if (lens[i] > len - off)
			return -1;
		vals[i] = rec + off;
		off += lens[i];
	}
	if (off != len)
		return -1;
	*nfields = n;
	return 0;
}

int ycsb_buf_reserve(struct ycsb_buf *b, size_t need)
{
	char *n;

	if (need <= b->cap)
		return 0;
	n = realloc(b->data, need);
	if (!n)
		return -1;
	b->data = n;
	b->cap = need;
	return 0;
}

int ycsb_worker_init(struct ycsb_worker *wk, struct ycsb_workload *w,
		     const struct ycsb_backend *be, void *thread, uint64_t seed,
		     struct ycsb_tally *tally)
{
	size_t fc = w->fieldcount;

	memset(wk, 0, sizeof(*wk));
	wk->w = w;
	wk->be = be;
	wk->thread = thread;
	wk->tally = tally;
	ycsb_rng_seed(&wk->rng, seed);
	ycsb_scrambled_init(&wk->scrambled, (int64_t)w->insertstart,
			    w->zipfian_max);
	ycsb_zipfian_init(
	    &wk->latest, 0,
	    (int64_t)w->recordcount - 2 < 0 ? 0 : (int64_t)w->recordcount - 2,
	    YCSB_ZIPFIAN_CONSTANT, -1);
	ycsb_hotspot_init(&wk->hotspot, (int64_t)w->insertstart,
			  (int64_t)(w->insertstart + w->insertcount) - 1,
			  w->hotset_fraction, w->hotopn_fraction);
	if (w->fieldlength_dist == YCSB_DIST_ZIPFIAN)
		ycsb_zipfian_init(&wk->fieldlen_zipf, 1,
				  (int64_t)w->fieldlength,
				  YCSB_ZIPFIAN_CONSTANT, -1);
	if (w->scanlength_dist == YCSB_DIST_ZIPFIAN)
		ycsb_zipfian_init(&wk->scanlen_zipf, (int64_t)w->minscanlength,
				  (int64_t)w->maxscanlength,
				  YCSB_ZIPFIAN_CONSTANT, -1);
	wk->valbuf =
	    malloc(ycsb_record_size(0, NULL) + fc * (4 + w->fieldlength));
	wk->fieldbuf = malloc(fc * w->fieldlength);
	wk->fieldvals = calloc(fc, sizeof(*wk->fieldvals));
	wk->fieldlens = calloc(fc, sizeof(*wk->fieldlens));
	wk->decvals = calloc(fc, sizeof(*wk->decvals));
	wk->declens = calloc(fc, sizeof(*wk->declens));
	wk->expectbuf = malloc(w->fieldlength);
	if (!wk->expectbuf || !wk->valbuf || !wk->fieldbuf || !wk->fieldvals ||
	    !wk->fieldlens || !wk->decvals || !wk->declens ||
	    ycsb_buf_reserve(&wk->readbuf, 4096)) {
		ycsb_worker_fini(wk);
		return -1;
	}
	for (size_t i = 0; i < fc; i++)
		wk->fieldvals[i] = wk->fieldbuf + i * w->fieldlength;
	return 0;
}

void ycsb_worker_fini(struct ycsb_worker *wk)
{
	free(wk->valbuf);
	free(wk->fieldbuf);
	free(wk->fieldvals);
	free(wk->fieldlens);
	free(wk->decvals);
	free(wk->declens);
	free(wk->expectbuf);
	free(wk->readbuf.data);
	memset(wk, 0, sizeof(*wk));
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ycsb_next_fieldlength(struct ycsb_worker *wk)
{
	switch (wk->w->fieldlength_dist) {
	case YCSB_DIST_UNIFORM:
		return 1 + ycsb_rng_below(&wk->rng, wk->w->fieldlength);
	case YCSB_DIST_ZIPFIAN:
		return (uint64_t)ycsb_zipfian_next(&wk->fieldlen_zipf,
						   &wk->rng);
	default:
		return wk->w->fieldlength;
	}
}

int64_t ycsb_next_keynum(struct ycsb_worker *wk)
{
	struct ycsb_workload *w = wk->w;
	int64_t last = ycsb_counter_last(&w->insert_seq), keynum;

	switch (w->request_dist) {
	case YCSB_DIST_LATEST:
		/* YCSB's SkewedLatestGenerator: newest keys most popular */
		return last - ycsb_zipfian_next_n(&wk->latest, &wk->rng, last);
	case YCSB_DIST_ZIPFIAN:
		do
			keynum = ycsb_scrambled_next(&wk->scrambled, &wk->rng);
		while (keynum > last);
		return keynum;
	case YCSB_DIST_HOTSPOT:
		do
			keynum = ycsb_hotspot_next(&wk->hotspot, &wk->rng);
		while (keynum > last);
		return keynum;
	default:
		return (int64_t)w->insertstart +
		       (int64_t)ycsb_rng_below(&wk->rng, w->insertcount);
	}
}

/* Field @p i's new value for @p key into wk->fieldvals[i]. */
static void build_field(struct ycsb_worker *wk, const char *key, size_t klen,
			uint32_t i)
{
	uint64_t len = ycsb_next_fieldlength(wk);
	char *out = wk->fieldvals[i];

	wk->fieldlens[i] = (uint32_t)len;
	if (wk->w->dataintegrity) {
		ycsb_deterministic_value(key, klen, i, out, len);
		return;
	}
	/* printable bytes, like YCSB's RandomByteIterator, 8 per draw */
	for (uint64_t off = 0; off < len; off += 8) {
		uint64_t r = ycsb_rng_next(&wk->rng);

		for (unsigned b = 0; b < 8 && off + b < len; b++, r >>= 8)
			out[off + b] = (char)(' ' + (r & 63));
	}
}

static void verify_fail(struct ycsb_worker *wk, const char *key, size_t klen,
			const char *what)
{
	struct ycsb_tally *t = wk->tally;

	if (!t->verify_failures++)
		snprintf(t->first_failure, sizeof(t->first_failure),
			 "key %.*s: %s", (int)klen, key, what);
}

/* Check the fields a read returned (field @p only, or all when < 0). */
static void verify_record(struct ycsb_worker *wk, const char *key, size_t klen,
			  const char *rec, size_t len, int only)
{
	struct ycsb_workload *w = wk->w;
	uint32_t n;
	char *expect = wk->expectbuf;

	if (ycsb_record_decode(rec, len, w->fieldcount, &n, wk->decvals,
			       wk->declens)) {
		verify_fail(wk, key, klen, "malformed record");
		return;
	}
	if (n != w->fieldcount) {
		verify_fail(wk, key, klen, "wrong number of fields");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (only >= 0 && i != (uint32_t)only)
			continue;
		wk->tally->verified++;
		if (wk->declens[i] != w->fieldlength) {
			verify_fail(wk, key, klen, "wrong field length");
			continue;
		}
		ycsb_deterministic_value(key, klen, i, expect, w->fieldlength);
		if (memcmp(expect, wk->decvals[i], w->fieldlength))
			verify_fail(wk, key, klen, "field value differs");
	}
}

unsigned ycsb_slowest_add(struct ycsb_slow_op *list, unsigned n,
			  const struct ycsb_slow_op *s)
{
	unsigned i;

	if (n == YCSB_SLOWEST && s->ns <= list[n - 1].ns)
		return n;
	if (n < YCSB_SLOWEST)
		n++;
	for (i = n - 1; i > 0 && list[i - 1].ns < s->ns; i--)
		list[i] = list[i - 1];
	list[i] = *s;
	return n;
}

static void record_result(struct ycsb_worker *wk, enum ycsb_op op, int rc,
			  uint64_t t0, uint64_t t1)
{
	uint64_t ns = t1 - t0;
	struct ycsb_tally *t = wk->tally;

	if (rc == YCSB_OK &&
	    (t->nslow < YCSB_SLOWEST || ns > t->slow[YCSB_SLOWEST - 1].ns)) {
		struct ycsb_slow_op s = { .start_ns = t0, .ns = ns, .op = op };

		t->nslow = ycsb_slowest_add(t->slow, t->nslow, &s);
	}
	if (rc == YCSB_OK)
		ycsb_hist_record(&wk->tally->hist[op], ns);
	else if (rc == YCSB_NOTFOUND)
		wk->tally->notfound[op]++;
	else
		wk->tally->errors[op]++;
}

static int put_all_fields(struct ycsb_worker *wk, const char *key, size_t klen)
{
	uint32_t fc = wk->w->fieldcount;

	ycsb_record_encode(wk->valbuf, fc, (const char *const *)wk->fieldvals,
			   wk->fieldlens);
	return wk->be->put(wk->thread, key, klen, wk->valbuf,
			   ycsb_record_size(fc, wk->fieldlens));
}

bool ycsb_do_insert(struct ycsb_worker *wk)
{
	struct ycsb_workload *w = wk->w;
	int64_t keynum = ycsb_counter_next(&w->load_seq);
	char key[YCSB_MAX_KEY];
	size_t klen;
	uint64_t t0;
	int rc;

	if (keynum >= (int64_t)(w->insertstart + w->insertcount))
		return false;
	klen = ycsb_build_key(w, keynum, key);
	for (uint32_t i = 0; i < w->fieldcount; i++)
		build_field(wk, key, klen, i);
	ycsb_record_encode(wk->valbuf, w->fieldcount,
			   (const char *const *)wk->fieldvals, wk->fieldlens);
	t0 = now_ns();
	rc = wk->be->put(wk->thread, key, klen, wk->valbuf,
			 ycsb_record_size(w->fieldcount, wk->fieldlens));
	record_result(wk, YCSB_OP_INSERT, rc, t0, now_ns());
	return true;
}

/* Read @p key and decode; YCSB_OK with wk->decvals/declens filled. */
static int read_record(struct ycsb_worker *wk, const char *key, size_t klen)
{
	uint32_t n;
	int rc = wk->be->read(wk->thread, key, klen, &wk->readbuf);

	if (rc != YCSB_OK)
		return rc;
	if (ycsb_record_decode(wk->readbuf.data, wk->readbuf.len,
			       wk->w->fieldcount, &n, wk->decvals,
			       wk->declens) ||
	    n != wk->w->fieldcount)
		return YCSB_ERROR;
	return YCSB_OK;
}

/* Replace field @p f (or all when < 0) of the record just read and
 * write it back. */
static int merge_and_put(struct ycsb_worker *wk, const char *key, size_t klen,
			 int f)
{
	uint32_t fc = wk->w->fieldcount;
	const char *vals[fc];
	uint32_t lens[fc];
	size_t size;

	if (f < 0)
		return put_all_fields(wk, key, klen);
	for (uint32_t i = 0; i < fc; i++) {
		vals[i] = i == (uint32_t)f ? wk->fieldvals[i] : wk->decvals[i];
		lens[i] = i == (uint32_t)f ? wk->fieldlens[i] : wk->declens[i];
	}
	size = ycsb_record_size(fc, lens);
	/* valbuf holds a record of fieldlength fields; a longer stored
	 * field (another fieldlengthdistribution) goes through the heap */
	if (size > ycsb_record_size(0, NULL) + fc * (4 + wk->w->fieldlength)) {
		char *tmp = malloc(size);
		int rc;

		if (!tmp)
			return YCSB_ERROR;
		ycsb_record_encode(tmp, fc, vals, lens);
		rc = wk->be->put(wk->thread, key, klen, tmp, size);
		free(tmp);
		return rc;
	}
	ycsb_record_encode(wk->valbuf, fc, vals, lens);
	return wk->be->put(wk->thread, key, klen, wk->valbuf, size);
}

struct scan_state {
	struct ycsb_worker *wk;
	int field;
	size_t seen;
};

static int scan_cb(void *arg, const char *key, size_t klen, const char *val,
		   size_t vlen)
{
	struct scan_state *st = arg;
	struct ycsb_worker *wk = st->wk;
	uint32_t n;

	st->seen++;
	if (wk->w->dataintegrity)
		verify_record(wk, key, klen, val, vlen, st->field);
	else if (ycsb_record_decode(val, vlen, wk->w->fieldcount, &n,
				    wk->decvals, wk->declens))
		return -1;
	return 0;
}

void ycsb_do_transaction(struct ycsb_worker *wk)
{
	struct ycsb_workload *w = wk->w;
	double pick = ycsb_rng_double(&wk->rng);
	enum ycsb_op op = YCSB_OP_READ;
	char key[YCSB_MAX_KEY];
	size_t klen;
	int64_t keynum;
	int field, rc;
	uint64_t t0, t1;

	for (int i = 0; i < YCSB_OP_COUNT; i++) {
		if (w->proportion[i] > 0)
			op = (enum ycsb_op)i; /* rounding: last non-zero */
		if (pick < w->proportion[i])
			break;
		pick -= w->proportion[i];
	}
	if (op == YCSB_OP_INSERT) {
		keynum = ycsb_counter_next(&w->insert_seq);
		klen = ycsb_build_key(w, keynum, key);
		for (uint32_t i = 0; i < w->fieldcount; i++)
			build_field(wk, key, klen, i);
		t0 = now_ns();
		rc = put_all_fields(wk, key, klen);
		t1 = now_ns();
		record_result(wk, op, rc, t0, t1);
		ycsb_counter_acknowledge(&w->insert_seq, keynum);
		return;
	}
	keynum = ycsb_next_keynum(wk);
	klen = ycsb_build_key(w, keynum, key);
	switch (op) {
	case YCSB_OP_READ:
		field = w->readallfields
			    ? -1
			    : (int)ycsb_rng_below(&wk->rng, w->fieldcount);
		t0 = now_ns();
		rc = read_record(wk, key, klen);
		t1 = now_ns();
		record_result(wk, op, rc, t0, t1);
		if (w->dataintegrity) {
			if (rc == YCSB_OK)
				verify_record(wk, key, klen, wk->readbuf.data,
					      wk->readbuf.len, field);
			else
				verify_fail(wk, key, klen, "read failed");
		}
		return;
	case YCSB_OP_UPDATE:
	case YCSB_OP_RMW:
		if (w->writeallfields) {
			field = -1;
			for (uint32_t i = 0; i < w->fieldcount; i++)
				build_field(wk, key, klen, i);
		} else {
			field = (int)ycsb_rng_below(&wk->rng, w->fieldcount);
			build_field(wk, key, klen, (uint32_t)field);
		}
		t0 = now_ns();
		/* a full-record update needs no read; a partial one, and
		 * every read-modify-write, reads first */
		if (field >= 0 || op == YCSB_OP_RMW)
			rc = read_record(wk, key, klen);
		else
			rc = YCSB_OK;
		if (rc == YCSB_OK && op == YCSB_OP_RMW && w->dataintegrity) {
			/* checked inside the timing: verification runs
			 * are not timing runs */
			verify_record(wk, key, klen, wk->readbuf.data,
				      wk->readbuf.len, -1);
		}
		if (rc == YCSB_OK)
			rc = merge_and_put(wk, key, klen, field);
		t1 = now_ns();
		record_result(wk, op, rc, t0, t1);
		if (w->dataintegrity && rc != YCSB_OK)
			verify_fail(wk, key, klen, "read for update failed");
		return;
	case YCSB_OP_SCAN: {
		struct scan_state st = {wk, -1, 0};
		uint64_t len;

		if (w->scanlength_dist == YCSB_DIST_ZIPFIAN)
			len = (uint64_t)ycsb_zipfian_next(&wk->scanlen_zipf,
							  &wk->rng);
		else
			len =
			    w->minscanlength +
			    ycsb_rng_below(&wk->rng, w->maxscanlength -
							 w->minscanlength + 1);
		if (!w->readallfields)
			st.field = (int)ycsb_rng_below(&wk->rng, w->fieldcount);
		if (!wk->be->scan) {
			/* the driver does not run such a cell (main.c);
			 * a caller that does gets errors, not a crash */
			record_result(wk, op, YCSB_ERROR, 0, 0);
			if (w->dataintegrity)
				verify_fail(wk, key, klen,
					    "the store has no scan");
			return;
		}
		t0 = now_ns();
		rc = wk->be->scan(wk->thread, key, klen, len, scan_cb, &st);
		t1 = now_ns();
		record_result(wk, op, rc, t0, t1);
		if (w->dataintegrity && (rc != YCSB_OK || st.seen == 0))
			verify_fail(wk, key, klen, "scan failed or empty");
		return;
	}
	default:
		return;
	}
}
