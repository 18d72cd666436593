// SPDX-License-Identifier: MIT
/*
 * query.c -- daxkv_query(): validate, compile, plan, run a backend,
 * deliver.  The backends are files of their own behind backend.h: cpu.c
 * (the reference, and the fallback), kmod.c, cuda.cu or nocuda.c.
 *
 * 1. Validate the public descriptor field by field (every error says
 *    which field) and compile it into a struct dkd_filter: the form every
 *    backend evaluates with the same functions of daxkv_device.h.
 * 2. Take a snapshot unless the caller gave one.
 * 3. Choose the backend: the query's, else the handle's; AUTO is the
 *    first available of CUDA, KMOD, CPU, passing over a device that is
 *    not worth it for the bytes the snapshot holds (CUDA below a size) and
 *    so never opening it for a small query.  An explicit backend that is
 *    not available is DAXKV_ENOTSUP; AUTO falls back to the CPU when a
 *    device declines (ENOTSUP) at run time too, and says so: the
 *    result's fallback_from, and daxkv_errmsg() after a query that
 *    returned 0.  Then cut the snapshot's records into units (units.c)
 *    sized for the backend.
 * 4. Run the backend; it fills aggregates and, for ROWS, copies of the
 *    matching records.
 * 5. ROWS: sort by key if asked, apply the limit, hand rows to the
 *    callback in batches.  Rows are copies, so the callback may take its
 *    time and call the handle.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "errors.h"
#include "index.h"
#include "internal.h"
#include "lane.h"
#include "latency.h"
#include "rows.h"
#include "snapshot.h"
#include "units.h"

void daxkv_query_init(struct daxkv_query *q)
{
	if (!q)
		return;
	memset(q, 0, sizeof(*q));
	q->version = DAXKV_QUERY_VERSION;
	q->output = DAXKV_QUERY_COUNT;
	q->backend = DAXKV_BACKEND_DEFAULT;
}

const char *daxkv_backend_name(int backend)
{
	switch (backend) {
	case DAXKV_BACKEND_DEFAULT:
		return "default";
	case DAXKV_BACKEND_AUTO:
		return "auto";
	case DAXKV_BACKEND_CPU:
		return "cpu";
	case DAXKV_BACKEND_KMOD:
		return "kmod";
	case DAXKV_BACKEND_CUDA:
		return "cuda";
	default:
		return "unknown";
	}
}

int daxkv_set_backend(daxkv *db, int backend)
{
	dk_err_clear();
	if (!db)
		return dk_err(DAXKV_EINVAL, "db is NULL");
	if (backend < DAXKV_BACKEND_AUTO || backend > DAXKV_BACKEND_CUDA)
		return dk_err(DAXKV_EINVAL, "backend %d is not AUTO, CPU, "
			      "KMOD or CUDA", backend);
	__atomic_store_n(&db->backend, (uint32_t)backend, __ATOMIC_RELAXED);
	return 0;
}

/* ---- Validation and compilation ---- */

static int dk_int_width_ok(uint32_t width)
{
	return width == 1 || width == 2 || width == 4 || width == 8;
}

static int dk_field_check(const char *what, uint32_t type, uint32_t offset,
			  uint32_t width, bool bytes_ok)
{
	if (type == DAXKV_FIELD_UINT || type == DAXKV_FIELD_INT) {
		if (!dk_int_width_ok(width))
			return dk_err(DAXKV_EINVAL,
				      "%s: integer width %u is not 1, 2, 4 or 8",
				      what, width);
	} else if (type == DAXKV_FIELD_BYTES && bytes_ok) {
		if (width == 0 || width > DAXKV_QUERY_MAX_BYTES)
			return dk_err(DAXKV_EINVAL,
				      "%s: bytes width %u is not 1..%u", what,
				      width, DAXKV_QUERY_MAX_BYTES);
	} else {
		return dk_err(DAXKV_EINVAL, "%s: unknown field type %u", what,
			      type);
	}
	if ((uint64_t)offset + width > DAXKV_QUERY_FIELD_LIMIT)
		return dk_err(DAXKV_EINVAL,
			      "%s: field [%u, %llu) ends beyond %u bytes", what,
			      offset, (unsigned long long)offset + width,
			      DAXKV_QUERY_FIELD_LIMIT);
	return 0;
}

static int dk_pred_compile(const struct daxkv_pred *p, unsigned i,
			   struct dkd_pred *out)
{
	char what[32];
	int rc;

	snprintf(what, sizeof(what), "predicate %u", i);
	rc = dk_field_check(what, p->type, p->offset, p->width, true);
	if (rc)
		return rc;
	if (p->op < DAXKV_OP_EQ || p->op > DAXKV_OP_GE)
		return dk_err(DAXKV_EINVAL, "%s: unknown operator %u", what,
			      p->op);
	memset(out, 0, sizeof(*out));
	out->op = p->op;
	out->offset = p->offset;
	out->width = p->width;
	switch (p->type) {
	case DAXKV_FIELD_UINT:
		if (p->width < 8 && (p->uval >> (8 * p->width)) != 0)
			return dk_err(DAXKV_EINVAL,
				      "%s: operand %llu does not fit in %u "
				      "bytes",
				      what, (unsigned long long)p->uval,
				      p->width);
		out->type = DKD_T_UINT;
		out->operand[0] = p->uval;
		break;
	case DAXKV_FIELD_INT:
		if (p->width < 8) {
			int64_t lim = (int64_t)1 << (8 * p->width - 1);

			if (p->ival < -lim || p->ival >= lim)
				return dk_err(DAXKV_EINVAL,
					      "%s: operand %lld does not fit "
					      "in %u bytes",
					      what, (long long)p->ival,
					      p->width);
		}
		out->type = DKD_T_INT;
		out->operand[0] = (uint64_t)p->ival;
		break;
	default: /* BYTES, checked above */
		if (!p->bytes)
			return dk_err(DAXKV_EINVAL, "%s: bytes is NULL", what);
		out->type = DKD_T_BYTES;
		memcpy(out->operand, p->bytes, p->width);
		break;
	}
	return 0;
}

static int dk_key_bound(const char *what, const void *k, size_t len)
{
	if (len && !k)
		return dk_err(DAXKV_EINVAL, "%s is NULL with length %zu", what,
			      len);
	if (len > DAXKV_MAX_KEY)
		return dk_err(DAXKV_EINVAL, "%s is %zu bytes, more than %u",
			      what, len, DAXKV_MAX_KEY);
	return 0;
}

static int dk_query_compile(struct daxkv *db, const struct daxkv_query *q,
			    struct dk_qexec *x)
{
	struct dkd_filter *f = &x->flt;
	int rc;

	if (q->version != DAXKV_QUERY_VERSION)
		return dk_err(DAXKV_EINVAL,
			      "query version %u, this library knows %u "
			      "(use daxkv_query_init)",
			      q->version, DAXKV_QUERY_VERSION);
	if (q->flags & ~DAXKV_QUERY_ORDERED)
		return dk_err(DAXKV_EINVAL, "unknown query flags 0x%x",
			      q->flags & ~DAXKV_QUERY_ORDERED);
	if (q->output < DAXKV_QUERY_COUNT || q->output > DAXKV_QUERY_ROWS)
		return dk_err(DAXKV_EINVAL, "unknown query output %u",
			      q->output);
	if (q->backend > DAXKV_BACKEND_CUDA)
		return dk_err(DAXKV_EINVAL, "unknown backend %u", q->backend);
	if (q->npreds > DAXKV_QUERY_MAX_PREDS)
		return dk_err(DAXKV_EINVAL, "%u predicates, at most %u",
			      q->npreds, DAXKV_QUERY_MAX_PREDS);
	if (q->snap && q->snap->db != db)
		return dk_err(DAXKV_EINVAL, "snapshot of another handle");
	if ((rc = dk_key_bound("lo", q->lo, q->lolen)) ||
	    (rc = dk_key_bound("hi", q->hi, q->hilen)) ||
	    (rc = dk_key_bound("prefix", q->prefix, q->prefixlen)))
		return rc;
	if (q->lolen && q->hilen) {
		int c = dk_keycmp(q->lo, q->lolen, q->hi, q->hilen);

		if (c > 0)
			return dk_err(DAXKV_EINVAL,
				      "inverted key range: lo > hi");
		x->empty = c == 0; /* [k, k): nothing, and no device asked */
	}
	if (q->output == DAXKV_QUERY_ROWS && !q->rows)
		return dk_err(DAXKV_EINVAL, "ROWS query without a callback");

	memset(f, 0, sizeof(*f));
	f->lo_len = q->lolen;
	f->hi_len = q->hilen;
	f->prefix_len = q->prefixlen;
	x->keys.lo = q->lo;
	x->keys.hi = q->hi;
	x->keys.prefix = q->prefix;
	f->npreds = q->npreds;
	for (uint32_t i = 0; i < q->npreds; i++) {
		rc = dk_pred_compile(&q->preds[i], i, &f->preds[i]);
		if (rc)
			return rc;
		if (f->preds[i].offset + f->preds[i].width > f->min_vlen)
			f->min_vlen = f->preds[i].offset + f->preds[i].width;
	}
	if (q->output >= DAXKV_QUERY_SUM && q->output <= DAXKV_QUERY_MAX) {
		rc = dk_field_check("aggregated field", q->field_type,
				    q->field_offset, q->field_width, false);
		if (rc)
			return rc;
		f->agg_type = q->field_type == DAXKV_FIELD_INT ? DKD_T_INT :
								 DKD_T_UINT;
		f->agg_offset = q->field_offset;
		f->agg_width = q->field_width;
		if (f->agg_offset + f->agg_width > f->min_vlen)
			f->min_vlen = f->agg_offset + f->agg_width;
	}
	x->rows = q->output == DAXKV_QUERY_ROWS;
	if (x->rows && q->limit && !(q->flags & DAXKV_QUERY_ORDERED))
		x->stop_after = q->limit;
	x->threads = q->threads;
	return 0;
}

/* ---- Backend choice ---- */

/* The backend of an explicit choice (CPU, KMOD or CUDA), else NULL. */
static const struct dk_backend *dk_backend_of(int backend)
{
	switch (backend) {
	case DAXKV_BACKEND_CPU:
		return &dk_backend_cpu;
	case DAXKV_BACKEND_KMOD:
		return &dk_backend_kmod;
	case DAXKV_BACKEND_CUDA:
		return &dk_backend_cuda;
	default:
		return NULL;
	}
}

/* AUTO takes the first available of these that is worth it; the CPU
 * always is. */
static const struct dk_backend *const dk_auto_order[] = {
	&dk_backend_cuda,
	&dk_backend_kmod,
	&dk_backend_cpu,
};

static int dk_backend_check(struct daxkv *db, int backend, char *why,
			    size_t len)
{
	const struct dk_backend *be = dk_backend_of(backend);

	if (!be) {
		snprintf(why, len, "unknown backend %d", backend);
		return 0;
	}
	return be->available(db, why, len);
}

int daxkv_backend_available(daxkv *db, int backend)
{
	char why[256] = "";

	dk_err_clear();
	if (!db)
		return dk_err(DAXKV_EINVAL, "db is NULL");
	if (backend == DAXKV_BACKEND_AUTO)
		return 1; /* the CPU is always there */
	if (backend < DAXKV_BACKEND_CPU || backend > DAXKV_BACKEND_CUDA)
		return dk_err(DAXKV_EINVAL, "unknown backend %d", backend);
	if (dk_backend_check(db, backend, why, sizeof(why)) > 0)
		return 1;
	dk_err(DAXKV_ENOTSUP, "%s: %s", daxkv_backend_name(backend), why);
	return 0;
}

/* What AUTO passed over or gave up on, for the caller (fallback_from). */
struct dk_fallback {
	uint32_t from;	/* 0, or the backend */
	char why[300];
};

static void dk_fallback_note(struct dk_fallback *fb, int backend,
			     const char *why)
{
	if (fb->from)
		return; /* the first one is the one AUTO wanted */
	fb->from = (uint32_t)backend;
	snprintf(fb->why, sizeof(fb->why), "%s", why);
}

/*
 * Resolve DEFAULT and AUTO to the backend that will run a query of
 * @p bytes.  AUTO asks a device whether it is worth it before asking
 * whether it is there, so a small query opens no device; a device that
 * this process gave up on (available() < 0) goes into @p fb.
 */
static int dk_backend_pick(struct daxkv *db, uint32_t want, uint64_t bytes,
			   const struct dk_backend **chosen,
			   struct dk_fallback *fb)
{
	char why[256] = "";

	if (want == DAXKV_BACKEND_DEFAULT)
		want = __atomic_load_n(&db->backend, __ATOMIC_RELAXED);
	if (want == DAXKV_BACKEND_DEFAULT || want == DAXKV_BACKEND_AUTO) {
		for (size_t i = 0; i < sizeof(dk_auto_order) /
					       sizeof(*dk_auto_order); i++) {
			const struct dk_backend *be = dk_auto_order[i];
			int avail;

			*chosen = be;
			if (be->worth && !be->worth(bytes))
				continue;
			avail = be->available(db, why, sizeof(why));
			if (avail > 0)
				break;
			if (avail < 0)
				dk_fallback_note(fb, be->id, why);
		}
		return 0;
	}
	if (dk_backend_check(db, (int)want, why, sizeof(why)) <= 0)
		return dk_err(DAXKV_ENOTSUP, "%s backend not available: %s",
			      daxkv_backend_name((int)want), why);
	*chosen = dk_backend_of((int)want);
	return 0;
}

/* ---- Results ---- */

/*
 * Did a SUM overflow: does the exact sum not fit in 64 bits (UINT) or in
 * an int64_t (INT)?  Nothing can have overflowed when count times the
 * largest (and, for INT, the smallest) value fits: the common case costs
 * two multiplications.  Otherwise the CPU backend knows the exact sum
 * (its high word, cpu.c); a device keeps it modulo 2^64 only, so the CPU
 * sums the same units again.
 */
static int dk_sum_overflow(const struct dk_qexec *x,
			   const struct dk_backend *be, uint32_t *overflow)
{
	const struct dkd_acc *a = &x->acc;
	uint64_t lo = a->sum, hi = x->sum_hi;
	int64_t ign;
	uint64_t uign;

	*overflow = 0;
	if (a->count == 0)
		return 0;
	if (x->flt.agg_type == DKD_T_INT ?
		    !__builtin_mul_overflow((int64_t)a->count, (int64_t)a->min,
					    &ign) &&
			    !__builtin_mul_overflow((int64_t)a->count,
						    (int64_t)a->max, &ign) :
		    !__builtin_mul_overflow(a->count, a->max, &uign))
		return 0;
	if (be != &dk_backend_cpu) {
		struct dk_qexec cpu = *x;
		int rc;

		cpu.rows = false;
		memset(&cpu.out, 0, sizeof(cpu.out));
		rc = dk_backend_cpu.run(&cpu);
		if (rc)
			return rc;
		lo = cpu.acc.sum;
		hi = cpu.sum_hi;
	}
	if (x->flt.agg_type == DKD_T_INT)
		*overflow = hi != ((int64_t)lo < 0 ? ~0ull : 0);
	else
		*overflow = hi != 0;
	return 0;
}

/* The bytes of a result of version @p version (fields added later are
 * left alone for a caller built before them). */
static size_t dk_result_size(uint32_t version)
{
	if (version == 1)
		return offsetof(struct daxkv_query_result, fallback_from);
	if (version == 2) /* its last word was reserved, now `overflow` */
		return offsetof(struct daxkv_query_result, overflow);
	return sizeof(struct daxkv_query_result);
}

int daxkv_query(daxkv *db, const struct daxkv_query *q,
		struct daxkv_query_result *res)
{
	uint64_t t0 = dk_now_ns(), plan_bytes = 0;
	struct daxkv_snapshot *own = NULL;
	const struct daxkv_snapshot *snap;
	struct dk_qunit *units = NULL;
	struct dk_qexec x;
	struct dk_rows rows;
	struct dk_fallback fb = { 0 };
	const struct dk_backend *be = &dk_backend_cpu;
	size_t nunits = 0;
	uint32_t want;
	enum daxkv_durability dur;
	bool autopick;
	int rc;
	DK_LAT_TIME(db, DK_LAT_QUERY);

	dk_err_clear();
	if (!db || !q)
		return dk_err(DAXKV_EINVAL, "%s is NULL", db ? "q" : "db");
	if (res && (res->version < 1 ||
		    res->version > DAXKV_QUERY_RESULT_VERSION))
		return dk_err(DAXKV_EINVAL,
			      "result version %u, this library knows 1..%u",
			      res->version, DAXKV_QUERY_RESULT_VERSION);
	memset(&x, 0, sizeof(x));
	x.db = db;
	rc = dk_query_compile(db, q, &x);
	if (rc)
		return rc;
	/* from inside a rows callback: let an outer device run end */
	dk_rows_nested_query(db);
	if (__atomic_load_n(&db->stale_marks, __ATOMIC_RELAXED))
		return dk_err(DAXKV_ENOTSUP,
			      "%s was not closed cleanly and is open read-only: "
			      "%llu superseded marks on media are wrong and only "
			      "a read-write open repairs them, so a query (which "
			      "reads them) would be wrong; gets and scans are "
			      "right",
			      db->dir, (unsigned long long)__atomic_load_n(
					       &db->stale_marks,
					       __ATOMIC_RELAXED));
	want = q->backend;
	if (want == DAXKV_BACKEND_DEFAULT)
		want = __atomic_load_n(&db->backend, __ATOMIC_RELAXED);
	autopick = want == DAXKV_BACKEND_AUTO;

	snap = q->snap;
	if (!snap) {
		rc = dk_snapshot_take(db, &own);
		if (rc)
			return rc;
		snap = own;
	}
	dk_rows_init(&rows, q, db); /* before the first goto out */
	rc = dk_backend_pick(db, want, dk_query_scan_bytes(snap), &be, &fb);
	if (rc)
		goto out;
	x.flt.snap = snap->seq;
	x.fallback = autopick && be != &dk_backend_cpu;
	/* a read-only handle's durability says "read-only": its media's is
	 * pmem_durability (MAP_SYNC unless emulated or eADR, even off DAX:
	 * the staged reads it then picks are the safe default) */
	dur = db->rdonly ? db->pmem_durability : db->durability;
	x.dax = dur == DAXKV_DUR_MAP_SYNC || dur == DAXKV_DUR_EADR;
again:
	rc = dk_query_units(snap, be->unit_bytes, &units, &nunits, &plan_bytes);
	if (rc)
		goto out;
	x.units = units;
	x.nunits = nunits;
	if (nunits == 0 || x.empty)
		rc = 0; /* nothing below any tail, or lo == hi: empty */
	else if (x.rows)
		rc = dk_rows_run(&rows, be, &x); /* rows stream to the caller */
	else
		rc = be->run(&x);
	if (rc == DAXKV_ENOTSUP && x.fallback && !rows.stop_rc) {
		/* the device declined this query, or failed in a way that
		 * leaves the CPU able to answer: it does, and says why (a
		 * rows callback's own stopping value is not the device's) */
		dk_fallback_note(&fb, be->id, daxkv_errmsg());
		free(units);
		units = NULL;
		dk_rowbuf_free(&x.out);
		dkd_acc_init(&x.acc);
		x.records = x.bytes = 0;
		x.direct = x.used_threads = 0;
		x.fallback = false;
		be = &dk_backend_cpu;
		dk_err_clear();
		goto again;
	}
	/* a callback that stopped the query still learns what it got */
	if (rc && !(x.rows && rc == rows.stop_rc))
		goto out;

	if (res) {
		memset((uint8_t *)res + sizeof(res->version), 0,
		       dk_result_size(res->version) - sizeof(res->version));
		res->backend = (uint32_t)be->id;
		res->snap_seq = snap->seq;
		res->records_scanned = x.records;
		res->bytes_scanned = x.bytes;
		res->threads = x.used_threads;
		res->direct = x.direct;
		res->count = x.acc.count;
		switch (q->output) {
		case DAXKV_QUERY_SUM:
			res->value = x.acc.sum;
			if (res->version >= 3) {
				int orc = dk_sum_overflow(&x, be,
							  &res->overflow);

				if (orc) {
					rc = orc;
					goto out;
				}
			}
			break;
		case DAXKV_QUERY_MIN:
			res->value = x.acc.count ? x.acc.min : 0;
			break;
		case DAXKV_QUERY_MAX:
			res->value = x.acc.count ? x.acc.max : 0;
			break;
		default:
			break;
		}
	}
	if (x.rows) {
		/* ORDERED: the rows kept, sorted, now */
		if (!rc)
			rc = dk_rows_finish(&rows);
		if (res)
			res->count = rows.delivered;
	}
	if (res) {
		res->time_ns = dk_now_ns() - t0;
		if (res->version >= 2)
			res->fallback_from = fb.from;
	}
	/* the query succeeded; daxkv_errmsg() says what AUTO passed over */
	if (rc == 0 && fb.from)
		dk_err(0, "%s: %s", daxkv_backend_name((int)fb.from), fb.why);
out:
	dk_rows_destroy(&rows);
	dk_rowbuf_free(&x.out);
	free(units);
	dk_snapshot_release(own);
	__atomic_fetch_add(&dk_thread_rcounter(db)->scans, 1, __ATOMIC_RELAXED);
	return rc;
}
