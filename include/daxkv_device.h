/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * daxkv_device.h -- what a device needs to read daxkv records and evaluate
 * a query over them: the record header, the version rule, and the filter
 * evaluator.  One definition for every reader: the engine's CPU backend and
 * recovery (through engine/layout.h), the daxmirror module's emulated
 * device (kernel), and the CUDA kernels (host and device code).
 *
 * Freestanding: only <linux/types.h> (available to the kernel, to user
 * space on Linux, and to nvcc's host compiler), no libc call.  Functions
 * are static inline and marked DKD_FN, which adds __host__ __device__
 * under nvcc.
 *
 * The evaluator works on a compiled filter (struct dkd_filter) that the
 * engine builds from the public struct daxkv_query after validating it
 * (engine/query/query.c); a device re-validates what it is given (the module
 * checks every field, see kmod/daxmirror_query.c, and compiles integer
 * predicates into an interval test of the same rule as dkd_pred_eval():
 * dkd_ipred_compile()).
 */
#ifndef DAXKV_DEVICE_H
#define DAXKV_DEVICE_H

#include <linux/types.h>

#if defined(__CUDACC__)
#define DKD_FN static inline __host__ __device__
#define DKD_LOAD64(p) (*(const volatile __u64 *)(p))
#elif defined(__KERNEL__)
#include <linux/compiler.h>
#define DKD_FN static inline
#define DKD_LOAD64(p) READ_ONCE(*(p))
#else
#define DKD_FN static inline
#define DKD_LOAD64(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#endif

/*
 * ---- Records ----
 * The part of the on-media format a device reads.  engine/layout.h holds
 * the rest (directory, segment header, meta pool, checkpoint, what makes
 * a record valid) and the OFFSET/SIZE table of struct dk_rec, with the
 * static asserts that hold this struct and these constants to it.
 */

#define DK_REC_ALIGN 8u
#define DK_REC_HDR_SIZE 32u

/* Record flags. */
#define DK_REC_PUT 0x0001u
#define DK_REC_DEL 0x0002u
#define DK_REC_BATCH 0x0004u
#define DK_REC_FLAGS_KNOWN (DK_REC_PUT | DK_REC_DEL | DK_REC_BATCH)

/*
 * Record header, 32 bytes, little-endian, 8-byte aligned in its segment;
 * the key follows, then the value, then zeros up to a multiple of 8
 * (engine/layout.h: the record table).
 */
struct dk_rec {
	__u32 crc;	  /* crc32c of [4, 24) of the header, key, value */
	__u16 klen;	  /* 1..DAXKV_MAX_KEY */
	__u16 flags;	  /* DK_REC_PUT or DK_REC_DEL, maybe DK_REC_BATCH */
	__u32 vlen;	  /* 0..DAXKV_MAX_VALUE, 0 for a delete */
	__u32 batch;	  /* records in this record's batch, 1 if single */
	__u64 seq;	  /* commit sequence number, >= 1 */
	__u64 superseded; /* seq of the version that replaced it, 0 = none;
			     the only word that changes after the commit */
};

/* Bytes a record of these lengths occupies in a segment. */
DKD_FN __u64 dk_rec_size(__u64 klen, __u64 vlen)
{
	return (DK_REC_HDR_SIZE + klen + vlen + DK_REC_ALIGN - 1) &
	       ~(__u64)(DK_REC_ALIGN - 1);
}

DKD_FN const __u8 *dk_rec_key(const struct dk_rec *rec)
{
	return (const __u8 *)rec + DK_REC_HDR_SIZE;
}

DKD_FN const __u8 *dk_rec_val(const struct dk_rec *rec)
{
	return (const __u8 *)rec + DK_REC_HDR_SIZE + rec->klen;
}

/*
 * The version rule, for a record below its segment's tail as captured
 * with snapshot @p snap (engine/layout.h explains why it holds).  Exactly
 * one version of a key passes it at any snapshot, none if the key's
 * newest version at the snapshot is a delete.  @p sup is the record's
 * `superseded` word as the caller loaded it (once: dk_rec_visible, or a
 * walk's header copy); a writer may store it concurrently, but any value
 * it can change to is > snap, so the answer does not depend on which
 * value that load saw.
 */
DKD_FN int dk_rec_visible_at(__u16 flags, __u64 seq, __u64 sup, __u64 snap)
{
	return (flags & DK_REC_PUT) && seq <= snap && (sup == 0 || sup > snap);
}

DKD_FN int dk_rec_visible(const struct dk_rec *rec, __u64 snap)
{
	return dk_rec_visible_at(rec->flags, rec->seq,
				 DKD_LOAD64(&rec->superseded), snap);
}

/* ---- Compiled filters ---- */

#define DKD_MAX_PREDS 8		/* predicates per query, ANDed */
#define DKD_MAX_BYTES 64	/* widest raw-bytes field */
#define DKD_FIELD_LIMIT 65536	/* offset + width of a field, at most */
#define DKD_MAX_KEY 1024	/* == DAXKV_MAX_KEY */
#define DKD_MAX_VALUE (1u << 20) /* == DAXKV_MAX_VALUE */

/* Field types.  0 is reserved (no field). */
enum dkd_type {
	DKD_T_NONE = 0,
	DKD_T_UINT = 1,	 /* unsigned little-endian, width 1, 2, 4 or 8 */
	DKD_T_INT = 2,	 /* two's complement little-endian, same widths */
	DKD_T_BYTES = 3, /* raw bytes compared with memcmp, 1..DKD_MAX_BYTES */
};

/* Comparisons: field OP operand.  0 is reserved. */
enum dkd_op {
	DKD_OP_NONE = 0,
	DKD_OP_EQ = 1,
	DKD_OP_NE = 2,
	DKD_OP_LT = 3,
	DKD_OP_LE = 4,
	DKD_OP_GT = 5,
	DKD_OP_GE = 6,
};

/* One predicate on the value: bytes [offset, offset + width). */
struct dkd_pred {
	__u64 type;	  /* enum dkd_type */
	__u64 op;	  /* enum dkd_op */
	__u64 offset;	  /* offset + width <= DKD_FIELD_LIMIT */
	__u64 width;
	__u64 operand[8]; /* integers: operand[0], as the field's type reads
			     it (an INT sign-extended to 64 bits); bytes: the
			     first width bytes, the rest zero */
};

/*
 * A compiled query: which records (snapshot, key range, key prefix,
 * predicates) and which integer field aggregates.  Key bytes are not in
 * the struct (they are up to 1 KiB each); each reader passes them in a
 * struct dkd_keys of its own address space.  __u64 only, so the struct is
 * the same for every compiler and can travel through an ioctl as is.
 */
struct dkd_filter {
	__u64 snap;	  /* snapshot sequence: the version rule's s */
	__u64 min_vlen;	  /* values shorter than this never match: the
			     largest offset + width of any field, the
			     aggregated field included */
	__u64 lo_len;	  /* key >= lo; 0 = unbounded below */
	__u64 hi_len;	  /* key < hi; 0 = unbounded above */
	__u64 prefix_len; /* key starts with prefix; 0 = any key */
	__u64 npreds;	  /* 0..DKD_MAX_PREDS */
	struct dkd_pred preds[DKD_MAX_PREDS];
	__u64 agg_type;	  /* DKD_T_UINT/INT to aggregate a field, else 0 */
	__u64 agg_offset;
	__u64 agg_width;  /* 1, 2, 4 or 8 */
};

/* Key bytes of a filter, in the evaluator's address space. */
struct dkd_keys {
	const __u8 *lo;
	const __u8 *hi;
	const __u8 *prefix;
};

DKD_FN int dkd_memcmp(const __u8 *a, const __u8 *b, __u64 n)
{
	for (__u64 i = 0; i < n; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

/* Bytewise key order; a proper prefix sorts first. */
DKD_FN int dkd_keycmp(const __u8 *a, __u64 alen, const __u8 *b, __u64 blen)
{
	int c = dkd_memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Unsigned little-endian load of 1, 2, 4 or 8 bytes (any alignment).
 * Spelled out per width so that compilers merge the bytes into one load
 * where the machine is little-endian. */
DKD_FN __u64 dkd_load_le(const __u8 *p, __u64 width)
{
	switch (width) {
	case 1:
		return p[0];
	case 2:
		return (__u64)p[0] | (__u64)p[1] << 8;
	case 4:
		return (__u64)p[0] | (__u64)p[1] << 8 | (__u64)p[2] << 16 |
		       (__u64)p[3] << 24;
	default:
		return (__u64)p[0] | (__u64)p[1] << 8 | (__u64)p[2] << 16 |
		       (__u64)p[3] << 24 | (__u64)p[4] << 32 |
		       (__u64)p[5] << 40 | (__u64)p[6] << 48 |
		       (__u64)p[7] << 56;
	}
}

/* The same, sign-extended from width bytes. */
DKD_FN __s64 dkd_load_le_signed(const __u8 *p, __u64 width)
{
	__u64 v = dkd_load_le(p, width);
	unsigned shift = (unsigned)(64 - 8 * width);

	return (__s64)(v << shift) >> shift;
}

DKD_FN int dkd_cmp_result(int c, __u64 op)
{
	switch (op) {
	case DKD_OP_EQ: return c == 0;
	case DKD_OP_NE: return c != 0;
	case DKD_OP_LT: return c < 0;
	case DKD_OP_LE: return c <= 0;
	case DKD_OP_GT: return c > 0;
	case DKD_OP_GE: return c >= 0;
	}
	return 0;
}

/* One predicate on a value of vlen bytes (too short: no match). */
DKD_FN int dkd_pred_eval(const struct dkd_pred *p, const __u8 *val, __u64 vlen)
{
	const __u8 *f = val + p->offset;
	int c;

	if (p->offset + p->width > vlen)
		return 0;
	if (p->type == DKD_T_UINT) {
		__u64 v = dkd_load_le(f, p->width), o = p->operand[0];

		c = v < o ? -1 : v > o ? 1 : 0;
	} else if (p->type == DKD_T_INT) {
		__s64 v = dkd_load_le_signed(f, p->width);
		__s64 o = (__s64)p->operand[0];

		c = v < o ? -1 : v > o ? 1 : 0;
	} else {
		c = dkd_memcmp(f, (const __u8 *)p->operand, p->width);
	}
	return dkd_cmp_result(c, p->op);
}

/*
 * An integer (UINT or INT) predicate compiled into one interval test, for
 * a walk that counts its instructions per record (the kernel module's,
 * under QEMU's TCG, where each branch on a predicate's type, width and op
 * costs about what a load does).  The same rule as dkd_pred_eval(): the
 * host test tests/engine/ipred_test.c holds the two to each other.
 *
 * The field is read as the top bytes of the 8 that end at its last byte:
 * dkd_ipred_match() reads val + end - 8 .. val + end, so the 8 bytes
 * before a field at offset < 8 must be readable, as they are in a record
 * (the value follows a 32-byte header and the key) and in any copy that
 * keeps the header.  In "biased" order, b(v) = v for UINT and v + 2^63 for
 * INT (as u64), unsigned compares order both; the op gives an interval
 * [lo, hi] of b(field), cut to the b() of the field's width, and
 * x = (raw field ^ flip) is b(field) - (the width's lowest b()).
 */
struct dkd_ipred {
	__u64 end;	/* offset + width, in the value */
	__u64 shift;	/* 64 - 8 * width */
	__u64 flip;	/* INT: the field's sign bit; UINT: 0 */
	__u64 lo;
	__u64 span;
};

/* Compile a checked UINT or INT predicate; 0 if no value satisfies it. */
DKD_FN int dkd_ipred_compile(const struct dkd_pred *p, struct dkd_ipred *qp)
{
	const __u64 bits = 8 * p->width, top = 1ull << 63;
	const __u64 all = ~(__u64)0;
	__u64 o = p->operand[0], wlo, whi, lo, hi;

	if (p->type == DKD_T_INT) {
		o ^= top;
		qp->flip = 1ull << (bits - 1);
		wlo = top - qp->flip;
		whi = top + (qp->flip - 1);
	} else {
		qp->flip = 0;
		wlo = 0;
		whi = bits == 64 ? all : (1ull << bits) - 1;
	}
	qp->end = p->offset + p->width;
	qp->shift = 64 - bits;
	switch (p->op) {
	case DKD_OP_NE:
		/* every b() but o: lo = o + 1, span = 2^64 - 2 (or all) */
		if (o < wlo || o > whi) {
			qp->lo = 0;
			qp->span = all;
		} else {
			qp->lo = o - wlo + 1;
			qp->span = all - 1;
		}
		return 1;
	case DKD_OP_EQ:
		lo = hi = o;
		break;
	case DKD_OP_LT:
		if (!o)
			return 0;
		lo = 0;
		hi = o - 1;
		break;
	case DKD_OP_LE:
		lo = 0;
		hi = o;
		break;
	case DKD_OP_GT:
		if (o == all)
			return 0;
		lo = o + 1;
		hi = all;
		break;
	default:	/* DKD_OP_GE, checked */
		lo = o;
		hi = all;
		break;
	}
	lo = lo > wlo ? lo : wlo;
	hi = hi < whi ? hi : whi;
	if (lo > hi)
		return 0;
	qp->lo = lo - wlo;
	qp->span = hi - lo;
	return 1;
}

/* Does the value match?  The caller has checked vlen >= qp->end. */
DKD_FN int dkd_ipred_match(const struct dkd_ipred *qp, const __u8 *val)
{
	/* one unaligned load where the compiler merges the bytes */
	__u64 x = dkd_load_le(val + qp->end - 8, 8) >> qp->shift;

	return (x ^ qp->flip) - qp->lo <= qp->span;
}

/* Key range and prefix. */
DKD_FN int dkd_key_match(const struct dkd_filter *f, const struct dkd_keys *k,
			 const __u8 *key, __u64 klen)
{
	if (f->prefix_len && (klen < f->prefix_len ||
			      dkd_memcmp(key, k->prefix, f->prefix_len)))
		return 0;
	if (f->lo_len && dkd_keycmp(key, klen, k->lo, f->lo_len) < 0)
		return 0;
	if (f->hi_len && dkd_keycmp(key, klen, k->hi, f->hi_len) >= 0)
		return 0;
	return 1;
}

/* Value predicates only (for a reader that checked the rest itself). */
DKD_FN int dkd_value_match(const struct dkd_filter *f, const __u8 *val,
			   __u64 vlen)
{
	if (vlen < f->min_vlen)
		return 0;
	for (__u64 i = 0; i < f->npreds; i++)
		if (!dkd_pred_eval(&f->preds[i], val, vlen))
			return 0;
	return 1;
}

/*
 * Does the contiguous record @p rec (below its segment's captured tail)
 * belong to the answer?  Visible at f->snap, key in range, value long
 * enough for every field, every predicate true.
 */
DKD_FN int dkd_rec_match(const struct dkd_filter *f, const struct dkd_keys *k,
			 const struct dk_rec *rec)
{
	if (!dk_rec_visible(rec, f->snap) || rec->vlen < f->min_vlen)
		return 0;
	if (!dkd_key_match(f, k, dk_rec_key(rec), rec->klen))
		return 0;
	return dkd_value_match(f, dk_rec_val(rec), rec->vlen);
}

/*
 * Aggregates of the matching records.  sum wraps modulo 2^64 (for an INT
 * field read it as __s64); min and max hold the field's bit pattern
 * (sign-extended for INT) and mean something only when count > 0.
 */
struct dkd_acc {
	__u64 count;
	__u64 sum;
	__u64 min;
	__u64 max;
};

DKD_FN void dkd_acc_init(struct dkd_acc *a)
{
	a->count = 0;
	a->sum = 0;
	a->min = 0;
	a->max = 0;
}

/* a < b as the aggregated field's type orders them. */
DKD_FN int dkd_agg_less(const struct dkd_filter *f, __u64 a, __u64 b)
{
	return f->agg_type == DKD_T_INT ? (__s64)a < (__s64)b : a < b;
}

/* The aggregated field of a matching value (min_vlen covers it). */
DKD_FN __u64 dkd_agg_load(const struct dkd_filter *f, const __u8 *val)
{
	if (f->agg_type == DKD_T_INT)
		return (__u64)dkd_load_le_signed(val + f->agg_offset,
						 f->agg_width);
	return dkd_load_le(val + f->agg_offset, f->agg_width);
}

/* Count a matching value; aggregate its field if the filter has one. */
DKD_FN void dkd_acc_add(const struct dkd_filter *f, struct dkd_acc *a,
			const __u8 *val)
{
	if (f->agg_type) {
		__u64 v = dkd_agg_load(f, val);

		a->sum += v;
		if (a->count == 0 || dkd_agg_less(f, v, a->min))
			a->min = v;
		if (a->count == 0 || dkd_agg_less(f, a->max, v))
			a->max = v;
	}
	a->count++;
}

/* Fold @p b into @p a (partial results of two lanes or threads). */
DKD_FN void dkd_acc_merge(const struct dkd_filter *f, struct dkd_acc *a,
			  const struct dkd_acc *b)
{
	if (b->count == 0)
		return;
	if (a->count == 0) {
		*a = *b;
		return;
	}
	a->sum += b->sum;
	if (dkd_agg_less(f, b->min, a->min))
		a->min = b->min;
	if (dkd_agg_less(f, a->max, b->max))
		a->max = b->max;
	a->count += b->count;
}

#endif /* DAXKV_DEVICE_H */
