/* SPDX-License-Identifier: MIT */
/*
 * workload.h -- YCSB's CoreWorkload: what a workload file means.
 *
 * Properties and defaults are YCSB's (site.ycsb.workloads.CoreWorkload);
 * docs/ycsb.md lists what is supported.  A workload is configured once
 * from a property set and shared read-only by the benchmark threads,
 * except for the two insert-key counters.  Each thread keeps its own
 * generators (struct ycsb_worker).
 *
 * Keys are built as YCSB builds them: "user" + the key number, hashed
 * with FNV-1a 64 unless insertorder=ordered, left-padded with zeros to
 * zeropadding digits.
 *
 * A record is fieldcount fields (field0, field1, ...), encoded into one
 * value for the key-value stores:
 *
 *   OFFSET     SIZE  DESCRIPTION
 *   0          2     n, the number of fields (little-endian)
 *   2          4*n   length of field i's value (little-endian u32)
 *   2+4n       ...   the values of field0 .. field(n-1), back to back
 *
 * Field names are implicit: field i is "field<i>".  A partial update
 * (writeallfields=false, YCSB's default) reads the record, replaces the
 * one field and writes the record back, as YCSB's bindings for
 * key-value stores (RocksDB's among them) do; every store pays for that
 * in the same driver code.
 */
#ifndef YCSB_WORKLOAD_H
#define YCSB_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "generator.h"
#include "histogram.h"
#include "props.h"

enum ycsb_op {
	YCSB_OP_READ,
	YCSB_OP_UPDATE,
	YCSB_OP_INSERT,
	YCSB_OP_SCAN,
	YCSB_OP_RMW,
	YCSB_OP_COUNT
};
extern const char *const ycsb_op_names[YCSB_OP_COUNT];

enum ycsb_dist {
	YCSB_DIST_CONSTANT,
	YCSB_DIST_UNIFORM,
	YCSB_DIST_ZIPFIAN,
	YCSB_DIST_LATEST,
	YCSB_DIST_HOTSPOT,
};

#define YCSB_MAX_KEY 64

struct ycsb_workload {
	uint64_t recordcount, operationcount, insertstart, insertcount;
	uint32_t fieldcount;
	uint64_t fieldlength;
	enum ycsb_dist fieldlength_dist;
	bool readallfields, writeallfields, ordered_inserts, dataintegrity;
	double proportion[YCSB_OP_COUNT];
	enum ycsb_dist request_dist;
	double hotset_fraction, hotopn_fraction;
	uint64_t minscanlength, maxscanlength;
	enum ycsb_dist scanlength_dist;
	uint32_t zeropadding;
	uint32_t threadcount;
	double maxexecutiontime; /* seconds, 0 = none */
	int64_t zipfian_max;	 /* upper end of the zipfian key range */

	/* shared by the threads of a phase */
	struct ycsb_counter load_seq;	/* load: next key number */
	struct ycsb_counter insert_seq; /* run: inserted key numbers */
};

/* Configure from @p props (YCSB defaults for what is unset).  0, or -1
 * with a message in @p err that names the property's file and line. */
int ycsb_workload_configure(struct ycsb_workload *w, struct ycsb_props *props,
			    char *err, size_t errlen);
/* Reset the shared counters for a fresh load + run. */
int ycsb_workload_begin(struct ycsb_workload *w);
void ycsb_workload_end(struct ycsb_workload *w);

/* "user" + number as YCSB builds it; returns the length. */
size_t ycsb_build_key(const struct ycsb_workload *w, int64_t keynum,
		      char key[YCSB_MAX_KEY]);
/* YCSB's deterministic field value (dataintegrity=true). */
void ycsb_deterministic_value(const char *key, size_t klen, uint32_t field,
			      char *out, size_t len);

/* Encoding of a record (see the layout above). */
size_t ycsb_record_size(uint32_t nfields, const uint32_t *lens);
void ycsb_record_encode(char *out, uint32_t nfields, const char *const *vals,
			const uint32_t *lens);
/* Locate the fields of an encoded record; 0, or -1 if malformed. */
int ycsb_record_decode(const char *rec, size_t len, uint32_t max_fields,
		       uint32_t *nfields, const char **vals, uint32_t *lens);

/* What one thread counts while it works. */
/* The slowest operations of a phase are kept (start and length, on
 * CLOCK_MONOTONIC, which `perf record -k CLOCK_MONOTONIC` also uses), so
 * that a trace can say where they waited. */
#define YCSB_SLOWEST 10

struct ycsb_slow_op {
	uint64_t start_ns, ns;
	unsigned op;     /* enum ycsb_op */
	unsigned thread; /* filled when the phase's threads are merged */
};

/* Keep @p s among the @p n (<= YCSB_SLOWEST) slowest in @p list, slowest
 * first; returns the new count. */
unsigned ycsb_slowest_add(struct ycsb_slow_op *list, unsigned n,
			  const struct ycsb_slow_op *s);

struct ycsb_tally {
	struct ycsb_hist hist[YCSB_OP_COUNT]; /* latency in ns of OK ops */
	struct ycsb_slow_op slow[YCSB_SLOWEST]; /* slowest first */
	unsigned nslow;
	uint64_t notfound[YCSB_OP_COUNT];
	uint64_t errors[YCSB_OP_COUNT];
	uint64_t verified;	  /* field values checked */
	uint64_t verify_failures; /* wrong, missing or malformed */
	char first_failure[256];
};

/* Per-thread generators and buffers. */
struct ycsb_worker {
	struct ycsb_workload *w;
	const struct ycsb_backend *be;
	void *thread;
	struct ycsb_rng rng;
	struct ycsb_scrambled scrambled;
	struct ycsb_zipfian latest;
	struct ycsb_hotspot hotspot;
	struct ycsb_zipfian fieldlen_zipf, scanlen_zipf;
	struct ycsb_buf readbuf;
	char *valbuf;	     /* record being written */
	char *fieldbuf;	     /* fieldcount * fieldlength bytes */
	char **fieldvals;    /* fieldcount pointers */
	uint32_t *fieldlens; /* fieldcount lengths */
	const char **decvals;
	uint32_t *declens;
	char *expectbuf; /* fieldlength bytes: a value to compare with */
	struct ycsb_tally *tally;
};

int ycsb_worker_init(struct ycsb_worker *wk, struct ycsb_workload *w,
		     const struct ycsb_backend *be, void *thread, uint64_t seed,
		     struct ycsb_tally *tally);
void ycsb_worker_fini(struct ycsb_worker *wk);

/* The next key number a read, update, scan or rmw uses. */
int64_t ycsb_next_keynum(struct ycsb_worker *wk);
/* Next field length (fieldlengthdistribution). */
uint64_t ycsb_next_fieldlength(struct ycsb_worker *wk);

/* One load insert; false when the load is complete. */
bool ycsb_do_insert(struct ycsb_worker *wk);
/* One run operation. */
void ycsb_do_transaction(struct ycsb_worker *wk);

#endif
