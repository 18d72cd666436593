// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * daxmirror_query.c -- the record scan: VERSION and QUERY, and the device
 * kernel that evaluates a compiled daxkv filter (include/daxkv_device.h)
 * over records in mirrored memory.
 *
 * What the device reads.  A unit is [addr, addr + len) of whole records
 * inside one MAP range; units may not overlap, so a query reads each
 * mirrored byte at most once and its work is bounded by the ranges
 * mapped.  A lane walks its units record by record.  It reads device
 * memory only into its window: under pt_lock (read) it looks up each page
 * it enters and copies the part of the page inside the unit into the
 * window buffer with dmr_pmem_read() (copy_mc_to_kernel(): a machine
 * check is -EIO, never a panic), and evaluates records from that copy.
 * The window holds consecutive device pages, up to DMR_HOLD_PAGES; it
 * grows over the pages after it while their entries are valid and the
 * hold has pages left.  pt_lock is dropped between records once the hold
 * has entered DMR_HOLD_PAGES pages (more only for a record that needs
 * them), before a miss is handed to the caller, and at a unit's end, and
 * the window goes with it.  So every byte a record is evaluated from was
 * read under one uninterrupted hold that began after its entries were
 * found valid: an invalidation (which takes pt_lock for write) either
 * waits until the bytes are copied, so they are the file's bytes from
 * before it, or makes the lane find the entry cleared.  A record whose
 * page cannot be faulted (truncated file, munmap) ends the query with
 * -EFAULT; it never reads what the blocks hold afterwards.
 *
 * Records are untrusted: the header is read once from the window (klen
 * 1..DKD_MAX_KEY, vlen <= DKD_MAX_VALUE, the record inside its unit), and
 * every later access uses the checked lengths.
 *
 * The walk.  Under QEMU's TCG, where the suite measures it, a scan costs
 * its guest instructions per record, so the per-record path tests only
 * the record: the records wholly inside the window are walked in a tight
 * loop (dmr_query_walk); the lock, lookups, hold count and page crossings
 * are tested only where that loop stops.  A record that crosses the
 * window's end is copied into a per-lane buffer (up to its last field, or
 * whole for ROWS) by the one-record path and evaluated there.
 *
 * Misses and rows.  A lane never faults and never touches user memory
 * (daxmirror_device.c): at a missing page it saves its place (unit,
 * address, the unit's partial results) and returns DMR_LANE_MISS; with
 * ROWS, when its staging buffer is full it returns DMR_LANE_FLUSH, and
 * the calling thread copies the staged rows out (dmr_query_flush) and
 * starts it again.  Rows are returned in unit order.  The ioctl evaluates
 * batches of units that fit, at their full length, in what is left of
 * rows_cap; each lane takes a run of consecutive units of the batch and
 * its rows go at the place of that run in the user buffer (a run's rows
 * never exceed its bytes).  After the batch the caller closes the gaps.
 * With rows_limit, a lane stops after a unit once the rows of the lanes up
 * to it reach the limit; the call then returns the units before the first
 * unit not evaluated.
 *
 * The query's state (argument, keys, units, lane buffers) belongs to the
 * job (job->priv) and is freed with it, so a killed caller can return
 * while its lanes stop.
 */
#include <asm/byteorder.h>
#include <linux/cache.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>

#include "daxmirror.h"

/* A lane's window: the pages of one hold, copied. */
#define DMR_QUERY_WIN (DMR_HOLD_PAGES * PAGE_SIZE)
/* ROWS: a lane's staging buffer (holds the largest record). */
#define DMR_QUERY_STAGE (2ul << 20)
/* Otherwise: what a lane copies of a record that crosses the window. */
#define DMR_QUERY_BOUNCE (DK_REC_HDR_SIZE + DKD_MAX_KEY + DKD_FIELD_LIMIT)
/* Units copied in from user space at a time. */
#define DMR_QUERY_UNIT_CHUNK 64

struct dmr_qunit {
	u64 addr;
	u64 len;
	struct dmr_range *range;	/* a reference when the range changes */
};

/* One lane's share of a batch and its results. */
struct dmr_qlane {
	size_t first, last;	/* units [first, last) of the batch */
	u64 user_off;		/* ROWS: offset of its rows in rows_ptr */
	size_t done_units;	/* units evaluated completely */
	/* Resuming after a miss or flush: the unit in progress. */
	bool in_unit;
	u64 resume_addr;	/* the record to start from */
	struct dkd_acc acc_before;	/* results before that unit */
	u64 records_before, rows_before, rows_bytes_before;
	struct dkd_acc acc;
	u64 records, bytes;	/* walked; bytes in completed units */
	u64 rows, rows_bytes;	/* staged or copied out */
	atomic64_t rows_pub;	/* rows of completed units, for rows_limit */
	u8 *win;		/* the window: copies of device pages */
	u8 *buf;		/* staging (ROWS) or bounce buffer */
	size_t buf_cap;
	size_t staged;		/* ROWS: bytes in buf not yet copied out */
	u64 flushed;		/* ROWS: bytes copied to user space */
} ____cacheline_aligned;	/* lanes update their own, per record */

struct dmr_query {
	struct daxmirror_query *arg;	/* owned; arg->filter is flt */
	const struct dkd_filter *flt;
	u8 *keybuf;			/* owned: lo, hi, prefix */
	struct dkd_keys keys;
	u64 fields_end;		/* value bytes the filter reads, at most */
	/* f->min_vlen, or more than any vlen if a predicate never holds */
	u64 min_vlen;
	u64 nipreds, nbpreds;
	struct dkd_ipred ipreds[DKD_MAX_PREDS];	/* UINT and INT, compiled */
	const struct dkd_pred *bpreds[DKD_MAX_PREDS];	/* BYTES */
	bool rows;
	u64 rows_limit;
	u64 rows_ptr;
	struct dmr_qunit *units;	/* owned, with their range references */
	size_t nunits;
	unsigned int nr_lanes;
	struct dmr_qlane lanes[DMR_MAX_LANES];
};

/*
 * A lane's view of device memory: pt_lock, and a window [win_addr,
 * win_end) of one range whose bytes inside the unit [lo, hi) are copied at
 * kaddr (the lane's window buffer).  Every page of the window was found
 * valid under the current hold and read then.
 */
struct dmr_qcur {
	struct dmr_lane *lane;
	struct dmr_mirror *mirror;
	struct dmr_range *range;
	bool locked;
	unsigned int held_pages;	/* pages entered under this hold */
	unsigned long lo, hi;		/* the unit: bytes worth copying */
	unsigned long win_addr;		/* win_end == win_addr: no window */
	unsigned long win_end;
	u8 *kaddr;			/* the window buffer */
	unsigned long miss;	/* page whose entry was not valid */
	int err;		/* -EIO, -EOPNOTSUPP: the page at err_addr */
	unsigned long err_addr;
};

static void dmr_qcur_lock(struct dmr_qcur *c)
{
	down_read(&c->mirror->pt_lock);
	c->locked = true;
	c->held_pages = 0;
}

static void dmr_qcur_unlock(struct dmr_qcur *c)
{
	c->win_addr = 0;
	c->win_end = 0;
	if (c->locked)
		up_read(&c->mirror->pt_lock);
	c->locked = false;
}

/* Is addr inside the window?  (False when there is none.) */
static __always_inline bool dmr_qcur_has(const struct dmr_qcur *c,
					 unsigned long addr)
{
	return addr - c->win_addr < c->win_end - c->win_addr;
}

/*
 * Copy the page at page_addr, whose entry is valid, into the window at
 * its place (the part inside the unit).  False after a machine check
 * (c->err, c->err_addr say where).
 */
static bool dmr_qcur_read(struct dmr_qcur *c, struct page *page,
			  unsigned long page_addr)
{
	unsigned long from = max(page_addr, c->lo);
	unsigned long to = min(page_addr + PAGE_SIZE, c->hi);
	size_t left;

	left = dmr_pmem_read(c->range, from,
			     c->kaddr + (from - c->win_addr), page, to - from);
	if (unlikely(left)) {
		c->err = -EIO;
		c->err_addr = to - left;
		return false;
	}
	return true;
}

/*
 * Enter the page of addr, which is outside the window: the window grows
 * over it if it is the next page and the buffer has room, else a new
 * window starts there.  Returns addr's place in the window, or NULL
 * (c->miss or c->err says why).
 */
static noinline u8 *dmr_qcur_enter(struct dmr_qcur *c, unsigned long addr)
{
	unsigned long page_addr = addr & PAGE_MASK;
	struct page *page;

	page = dmr_range_lookup(c->range, page_addr);
	if (IS_ERR_OR_NULL(page)) {
		c->err = page ? PTR_ERR(page) : 0;
		c->err_addr = page_addr;
		c->miss = page_addr;
		return NULL;
	}
	if (page_addr != c->win_end ||
	    c->win_end - c->win_addr + PAGE_SIZE > DMR_QUERY_WIN)
		c->win_addr = page_addr;
	c->win_end = page_addr;
	if (!dmr_qcur_read(c, page, page_addr)) {
		c->win_addr = c->win_end = 0;
		return NULL;
	}
	c->win_end = page_addr + PAGE_SIZE;
	c->held_pages++;
	return c->kaddr + (addr - c->win_addr);
}

/* The window place of addr, entering its page if need be, or NULL. */
static __always_inline u8 *dmr_qcur_at(struct dmr_qcur *c, unsigned long addr)
{
	if (dmr_qcur_has(c, addr))
		return c->kaddr + (addr - c->win_addr);
	return dmr_qcur_enter(c, addr);
}

/*
 * Grow the window over the pages after it, up to end, while their entries
 * are valid, the buffer has room and the hold has pages left.  Never
 * faults: the walk enters (and faults) a page this stopped at when it
 * gets there.  False after a machine check (c->err).
 */
static noinline bool dmr_qcur_grow(struct dmr_qcur *c, unsigned long end)
{
	while (c->win_end < end && c->held_pages < DMR_HOLD_PAGES &&
	       c->win_end - c->win_addr + PAGE_SIZE <= DMR_QUERY_WIN) {
		struct page *page = dmr_range_lookup(c->range, c->win_end);

		if (IS_ERR_OR_NULL(page))
			break;
		if (!dmr_qcur_read(c, page, c->win_end))
			return false;
		c->win_end += PAGE_SIZE;
		c->held_pages++;
	}
	return true;
}

/* Copy [addr, addr + len) of the unit's device memory; false on a miss. */
static bool dmr_qcur_copy(struct dmr_qcur *c, void *dst, unsigned long addr,
			  size_t len)
{
	while (len) {
		u8 *kaddr = dmr_qcur_at(c, addr);
		size_t n;

		if (!kaddr)
			return false;
		n = min_t(size_t, len, c->win_end - addr);
		memcpy(dst, kaddr, n);
		dst += n;
		addr += n;
		len -= n;
	}
	return true;
}

/*
 * A record header, read once: its four words are loaded one by one
 * (READ_ONCE) and the fields taken out of them with shifts, so that the
 * compiler keeps them in registers and does not load the header again
 * after the checks.  (The window is a private copy, so a second load would
 * see the same bytes, but a struct copy lives on the stack, which
 * Debian's kernels zero for every record: INIT_STACK_ALL_ZERO.  Under
 * QEMU's TCG every guest load and store is emulated, and these were a good
 * part of a scan's time.)  The offsets are those of struct dk_rec on a
 * little-endian machine, checked below.
 */
struct dmr_hdr {
	u64 w[DK_REC_HDR_SIZE / 8];	/* as read: a row's header */
	u64 seq, sup;
	u32 vlen;
	u16 klen, flags;
};

#ifndef __LITTLE_ENDIAN
#error "dmr_hdr_read() assumes a little-endian machine"
#endif
static_assert(offsetof(struct dk_rec, klen) == 4 &&
	      offsetof(struct dk_rec, flags) == 6 &&
	      offsetof(struct dk_rec, vlen) == 8 &&
	      offsetof(struct dk_rec, seq) == 16 &&
	      offsetof(struct dk_rec, superseded) == 24 &&
	      sizeof(struct dk_rec) == DK_REC_HDR_SIZE,
	      "struct dk_rec changed: dmr_hdr_read() must follow");

static __always_inline void dmr_hdr_read(struct dmr_hdr *h, const void *p)
{
	const u64 *w = p;

	h->w[0] = READ_ONCE(w[0]);
	h->w[1] = READ_ONCE(w[1]);
	h->w[2] = READ_ONCE(w[2]);
	h->w[3] = READ_ONCE(w[3]);
	h->klen = (u16)(h->w[0] >> 32);
	h->flags = (u16)(h->w[0] >> 48);
	h->vlen = (u32)h->w[1];
	h->seq = h->w[2];
	h->sup = h->w[3];
}

/*
 * Does the record match?  hdr is the checked copy of its header; base the
 * record's bytes (in the window or a bounce copy), readable up to the last
 * byte the filter needs.  Only hdr's lengths are used, never base's.
 * keys: the filter has a key range or prefix.  The same rule as
 * dkd_rec_match(), with the integer predicates compiled
 * (dkd_ipred_compile() in daxkv_device.h); q->min_vlen covers every field.
 */
static __always_inline bool dmr_query_match(const struct dmr_query *q,
					    const struct dkd_filter *f,
					    bool keys, u64 snap,
					    const struct dmr_hdr *hdr,
					    const u8 *base)
{
	const u8 *val = base + DK_REC_HDR_SIZE + hdr->klen;
	u64 i;

	if (!dk_rec_visible_at(hdr->flags, hdr->seq, hdr->sup, snap) ||
	    hdr->vlen < q->min_vlen)
		return false;
	if (keys &&
	    !dkd_key_match(f, &q->keys, base + DK_REC_HDR_SIZE, hdr->klen))
		return false;
	for (i = 0; i < q->nipreds; i++)
		if (!dkd_ipred_match(&q->ipreds[i], val))
			return false;
	for (i = 0; i < q->nbpreds; i++)
		if (!dkd_pred_eval(q->bpreds[i], val, hdr->vlen))
			return false;
	return true;
}

/*
 * ROWS, in the calling thread (no lock held): copy a lane's staged rows to
 * its place in user memory.
 */
static int dmr_query_flush(struct dmr_job *job, struct dmr_lane *lane)
{
	struct dmr_query *q = job->priv;
	struct dmr_qlane *ql = &q->lanes[lane->index];
	void __user *dst = u64_to_user_ptr(q->rows_ptr + ql->user_off +
					   ql->flushed);

	if (!ql->staged)
		return 0;
	if (copy_to_user(dst, ql->buf, ql->staged))
		return -EFAULT;
	ql->flushed += ql->staged;
	ql->staged = 0;
	return 0;
}

/* The fault window for a miss at page_addr while walking unit u. */
static unsigned long dmr_query_fault_end(const struct dmr_qunit *u,
					 unsigned long page_addr)
{
	return min3((unsigned long)PAGE_ALIGN(u->addr + u->len),
		    u->range->end, ALIGN(page_addr + 1, PMD_SIZE));
}

/*
 * ROWS: stage a matching record of size bytes at base (in the window, or
 * already copied to its place in the staging buffer) as the lane's next
 * row.  The row's header is the one checked.
 */
static __always_inline void dmr_row_stage(struct dmr_qlane *ql,
					  const u8 *base,
					  const struct dmr_hdr *hdr, u64 size)
{
	u8 *dst = ql->buf + ql->staged;

	if (base != dst)
		memcpy(dst, base, size);
	memcpy(dst, hdr->w, sizeof(hdr->w));
	ql->staged += size;
	ql->rows++;
	ql->rows_bytes += size;
}

/*
 * The fast path: walk the records that lie wholly inside [p, end), the
 * window's copy of device memory, cut at the unit's end.
 * Per record only what the record itself needs is tested: its header, its
 * size against end, the filter.  Returns the first record not walked: at
 * end, or one this cannot take (crossing end, a bad header, ROWS staging
 * full), which the caller's slow path takes up again from its header.
 */
static __always_inline const u8 *dmr_query_walk(const struct dmr_query *q,
						 struct dmr_qlane *ql,
						 const u8 *p, const u8 *end,
						 struct dkd_acc *acc,
						 u64 *records, const bool rows)
{
	const struct dkd_filter *f = q->flt;
	const bool keys = f->prefix_len || f->lo_len || f->hi_len;
	const u64 snap = f->snap;
	struct dmr_hdr hdr;
	u64 walked = 0;

	while (end - p >= DK_REC_HDR_SIZE) {
		u64 size;

		dmr_hdr_read(&hdr, p);
		if (!hdr.klen || hdr.klen > DKD_MAX_KEY ||
		    hdr.vlen > DKD_MAX_VALUE)
			break;
		size = dk_rec_size(hdr.klen, hdr.vlen);
		if (size > end - p)
			break;
		if (rows && ql->staged + size > ql->buf_cap)
			break;
		if (dmr_query_match(q, f, keys, snap, &hdr, p)) {
			dkd_acc_add(f, acc, p + DK_REC_HDR_SIZE + hdr.klen);
			if (rows)
				dmr_row_stage(ql, p, &hdr, size);
		}
		walked++;
		p += size;
	}
	*records += walked;
	return p;
}

/*
 * Evaluate one unit, from ql->resume_addr: the records inside the window
 * in dmr_query_walk(), and one record at a time here where that stops (a
 * new hold, a record crossing the window's end, misses, errors, ROWS
 * staging full).  The walked counts and aggregates are kept in locals and
 * stored in the lane when the call returns (a store to the lane per record
 * would make the compiler reload the filter after it).  Returns 0 when the
 * unit is done, DMR_LANE_MISS or DMR_LANE_FLUSH with ql->resume_addr at
 * the record to start again from, or -errno.
 */
static __always_inline int dmr_query_unit_x(struct dmr_query *q,
					    struct dmr_qlane *ql,
					    struct dmr_qcur *c,
					    const struct dmr_qunit *u,
					    const bool rows)
{
	struct dmr_job *job = c->lane->job;
	const struct dkd_filter *f = q->flt;
	const bool keys = f->prefix_len || f->lo_len || f->hi_len;
	const u64 snap = f->snap;
	const unsigned long uend = u->addr + u->len;
	unsigned long addr = ql->resume_addr;
	struct dkd_acc acc = ql->acc;
	u64 records = 0;
	/* Out of the loop: the kernel's INIT_STACK_ALL_ZERO would clear a
	 * struct declared in it for every record. */
	struct dmr_hdr hdr;
	struct dk_rec tmp;
	int ret = 0;

	c->range = u->range;
	c->lo = u->addr;
	c->hi = uend;
	while (addr < uend) {
		u64 left, size, copy;
		const u8 *base;
		u8 *dst;

		if (!c->locked) {
			if (atomic_read(&job->cancel)) {
				ret = -EINTR;
				goto out;
			}
			if (atomic_read(&job->failed)) {
				ret = -ECANCELED;
				goto out;
			}
			cond_resched();
			dmr_qcur_lock(c);
		}
		if (dmr_qcur_has(c, addr)) {
			const u8 *start = c->kaddr + (addr - c->win_addr);
			const u8 *end = c->kaddr +
					(min(c->win_end, uend) - c->win_addr);

			addr += dmr_query_walk(q, ql, start, end, &acc,
					       &records, rows) - start;
			if (addr == uend)
				break;
		}

		/*
		 * The slow path, one record.  Its pages are entered one by
		 * one, so a hold that has read its share of pages ends here,
		 * between records.
		 */
		if (c->held_pages >= DMR_HOLD_PAGES) {
			dmr_qcur_unlock(c);
			continue;
		}
		left = uend - addr;
		if (left < DK_REC_HDR_SIZE) {
			ret = -EINVAL;
			goto out;
		}
		base = dmr_qcur_at(c, addr);
		if (!base)
			goto miss;
		/* Take in the pages ahead while the hold has room. */
		if (!dmr_qcur_grow(c, PAGE_ALIGN(uend)))
			goto miss;
		if (c->win_end - addr >= sizeof(hdr.w)) {
			dmr_hdr_read(&hdr, base);
		} else {
			if (!dmr_qcur_copy(c, &tmp, addr, sizeof(tmp)))
				goto miss;
			dmr_hdr_read(&hdr, &tmp);
		}
		/* Checked once: hdr is never read from the window again. */
		if (!hdr.klen || hdr.klen > DKD_MAX_KEY ||
		    hdr.vlen > DKD_MAX_VALUE) {
			ret = -EINVAL;
			goto out;
		}
		size = dk_rec_size(hdr.klen, hdr.vlen);
		if (size > left) {
			ret = -EINVAL;
			goto out;
		}
		if (rows && ql->staged + size > ql->buf_cap) {
			/* buf_cap = min(STAGE, rows_cap) holds any record */
			if (!ql->staged) {
				ret = -EINVAL;
				goto out;
			}
			ret = DMR_LANE_FLUSH;
			goto out;
		}
		dst = rows ? ql->buf + ql->staged : ql->buf;
		if (dmr_qcur_has(c, addr) && c->win_end - addr >= size) {
			/* Inside the window: evaluate in place. */
			base = c->kaddr + (addr - c->win_addr);
		} else {
			copy = rows ? size :
			       min(size, DK_REC_HDR_SIZE + hdr.klen +
					 q->fields_end);
			if (!dmr_qcur_copy(c, dst, addr, copy))
				goto miss;
			base = dst;
		}
		if (dmr_query_match(q, f, keys, snap, &hdr, base)) {
			dkd_acc_add(f, &acc, base + DK_REC_HDR_SIZE + hdr.klen);
			if (rows)
				dmr_row_stage(ql, base, &hdr, size);
		}
		records++;
		addr += size;
		continue;
miss:
		if (c->err) {
			c->lane->err_addr = c->err_addr;
			ret = c->err;
			goto out;
		}
		c->lane->miss_range = u->range;
		c->lane->miss_addr = c->miss;
		c->lane->miss_end = dmr_query_fault_end(u, c->miss);
		ret = DMR_LANE_MISS;
		goto out;
	}
out:
	ql->acc = acc;
	ql->records += records;
	ql->resume_addr = addr;
	return ret;
}

/*
 * Two copies of the walk, one for ROWS and one for aggregates: without
 * the staging branches the aggregate loop keeps its state in registers
 * (under QEMU's TCG, where every guest load and store is emulated, that
 * was most of the difference to the CPU backend).  __flatten: GCC would
 * leave dkd_value_match() out of line, a call and return per record.
 */
static noinline __flatten int dmr_query_unit_rows(struct dmr_query *q,
					struct dmr_qlane *ql,
					struct dmr_qcur *c,
					const struct dmr_qunit *u)
{
	return dmr_query_unit_x(q, ql, c, u, true);
}

static noinline __flatten int dmr_query_unit_agg(struct dmr_query *q,
				       struct dmr_qlane *ql,
				       struct dmr_qcur *c,
				       const struct dmr_qunit *u)
{
	return dmr_query_unit_x(q, ql, c, u, false);
}

static int dmr_query_unit(struct dmr_query *q, struct dmr_qlane *ql,
			  struct dmr_qcur *c, const struct dmr_qunit *u)
{
	return q->rows ? dmr_query_unit_rows(q, ql, c, u) :
			 dmr_query_unit_agg(q, ql, c, u);
}

/* May lane i stop before its next unit?  (ROWS with rows_limit.) */
static bool dmr_query_enough(struct dmr_query *q, unsigned int i)
{
	u64 rows = 0;
	unsigned int k;

	if (!q->rows_limit)
		return false;
	for (k = 0; k <= i; k++)
		rows += atomic64_read(&q->lanes[k].rows_pub);
	return rows >= q->rows_limit;
}

/* A lane program's run(): go on with the lane's units where it stopped. */
static int dmr_query_run(struct dmr_job *job, struct dmr_lane *lane)
{
	struct dmr_query *q = job->priv;
	struct dmr_qlane *ql = &q->lanes[lane->index];
	struct dmr_qcur c = { .lane = lane, .mirror = job->mirror,
			      .kaddr = ql->win };
	u64 walked = 0;
	int ret = 0;

	while (ql->first + ql->done_units < ql->last) {
		const struct dmr_qunit *u = &q->units[ql->first +
						      ql->done_units];

		if (!ql->in_unit) {
			ql->in_unit = true;
			ql->resume_addr = u->addr;
			ql->acc_before = ql->acc;
			ql->records_before = ql->records;
			ql->rows_before = ql->rows;
			ql->rows_bytes_before = ql->rows_bytes;
		}
		ret = dmr_query_unit(q, ql, &c, u);
		dmr_qcur_unlock(&c);
		if (ret > 0)
			break;		/* a miss or a flush: come back */
		if (ret < 0) {
			/* Counters cover completed units only. */
			ql->acc = ql->acc_before;
			ql->records = ql->records_before;
			ql->rows = ql->rows_before;
			ql->rows_bytes = ql->rows_bytes_before;
			break;
		}
		ql->in_unit = false;
		ql->done_units++;
		ql->bytes += u->len;
		walked += u->len;
		atomic64_set(&ql->rows_pub, ql->rows);
		if (dmr_query_enough(q, lane->index))
			break;
	}
	atomic64_add(walked, &job->mirror->stats.bytes_read);
	return ret;
}

static void dmr_query_release(struct dmr_job *job)
{
	struct dmr_query *q = job->priv;
	struct dmr_range *held = NULL;
	unsigned int k;
	size_t i;

	if (!q)
		return;
	for (i = 0; q->units && i < q->nunits; i++) {
		if (q->units[i].range && q->units[i].range != held) {
			held = q->units[i].range;
			dmr_range_put(held);
		}
	}
	for (k = 0; k < DMR_MAX_LANES; k++) {
		kvfree(q->lanes[k].buf);
		kvfree(q->lanes[k].win);
	}
	kvfree(q->units);
	kfree(q->keybuf);
	kfree(q->arg);
	kfree(q);
}

static const struct dmr_kernel dmr_kernel_query = {
	.name = "query",
	.run = dmr_query_run,
	.flush = dmr_query_flush,
	.release = dmr_query_release,
};

/* Integer field widths. */
static bool dmr_int_width(u64 width)
{
	return width == 1 || width == 2 || width == 4 || width == 8;
}

/* Check a filter; *fields_end is the end of its last field. */
static int dmr_query_check_filter(const struct dkd_filter *f,
				  u64 *fields_end)
{
	u64 end = 0, i;

	if (f->npreds > DKD_MAX_PREDS)
		return -EINVAL;
	for (i = 0; i < f->npreds; i++) {
		const struct dkd_pred *p = &f->preds[i];

		if (p->op < DKD_OP_EQ || p->op > DKD_OP_GE)
			return -EINVAL;
		if (p->type == DKD_T_UINT || p->type == DKD_T_INT) {
			if (!dmr_int_width(p->width))
				return -EINVAL;
		} else if (p->type == DKD_T_BYTES) {
			if (!p->width || p->width > DKD_MAX_BYTES)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
		if (p->offset > DKD_FIELD_LIMIT - p->width)
			return -EINVAL;
		end = max(end, p->offset + p->width);
	}
	if (f->agg_type == DKD_T_UINT || f->agg_type == DKD_T_INT) {
		if (!dmr_int_width(f->agg_width) ||
		    f->agg_offset > DKD_FIELD_LIMIT - f->agg_width)
			return -EINVAL;
		end = max(end, f->agg_offset + f->agg_width);
	} else if (f->agg_type || f->agg_offset || f->agg_width) {
		return -EINVAL;
	}
	/* dkd_acc_add() reads the aggregated field unchecked. */
	if (f->min_vlen < end)
		return -EINVAL;
	if (f->lo_len > DKD_MAX_KEY || f->hi_len > DKD_MAX_KEY ||
	    f->prefix_len > DKD_MAX_KEY)
		return -EINVAL;
	*fields_end = end;
	return 0;
}

/* Split a checked filter's predicates into compiled integer ones and
 * BYTES ones. */
static void dmr_query_compile(struct dmr_query *q, const struct dkd_filter *f)
{
	u64 i;

	q->min_vlen = f->min_vlen;
	q->nipreds = q->nbpreds = 0;
	for (i = 0; i < f->npreds; i++) {
		const struct dkd_pred *p = &f->preds[i];

		if (p->type == DKD_T_BYTES)
			q->bpreds[q->nbpreds++] = p;
		else if (!dkd_ipred_compile(p, &q->ipreds[q->nipreds++]))
			q->min_vlen = U64_MAX;	/* no record matches */
	}
}

/* Copy a key in: len bytes at uptr (0 with len 0). */
static int dmr_query_key(u8 *dst, u64 uptr, u64 len)
{
	if (!len)
		return uptr ? -EINVAL : 0;
	if (copy_from_user(dst, u64_to_user_ptr(uptr), len))
		return -EFAULT;
	return 0;
}

/* Copy the units in and check each one's bounds.  No lock held. */
static int dmr_query_copy_units(const struct daxmirror_query *arg,
				struct dmr_qunit *units)
{
	struct daxmirror_query_unit chunk[DMR_QUERY_UNIT_CHUNK];
	const struct daxmirror_query_unit __user *uunits =
		u64_to_user_ptr(arg->units_ptr);
	u64 i, j, n, end;

	for (i = 0; i < arg->nunits; i += n) {
		n = min_t(u64, arg->nunits - i, DMR_QUERY_UNIT_CHUNK);
		if (copy_from_user(chunk, uunits + i, n * sizeof(chunk[0])))
			return -EFAULT;
		for (j = 0; j < n; j++) {
			u64 addr = untagged_addr((unsigned long)chunk[j].addr);
			u64 len = chunk[j].len;

			if (!len || !IS_ALIGNED(addr | len, DK_REC_ALIGN) ||
			    check_add_overflow(addr, len, &end) ||
			    end > TASK_SIZE)
				return -EINVAL;
			if (arg->flags & DAXMIRROR_QUERY_ROWS &&
			    len > arg->rows_cap)
				return -EINVAL;
			units[i + j] = (struct dmr_qunit){ addr, len, NULL };
		}
	}
	return 0;
}

static int dmr_qunit_cmp(const void *a, const void *b, const void *priv)
{
	const struct dmr_qunit *units = priv;
	u64 x = units[*(const u32 *)a].addr, y = units[*(const u32 *)b].addr;

	return x < y ? -1 : x > y;
}

/*
 * Do units overlap?  O(n) when they come in address order (as one
 * segment's do), else through a sorted index.  -EINVAL if they do.
 */
static int dmr_query_check_overlap(const struct dmr_qunit *units, size_t n)
{
	size_t i;
	u32 *idx;
	int ret = 0;

	for (i = 1; i < n; i++)
		if (units[i].addr < units[i - 1].addr + units[i - 1].len)
			break;
	if (i == n)
		return 0;
	idx = kvmalloc_array(n, sizeof(*idx), GFP_KERNEL_ACCOUNT);
	if (!idx)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		idx[i] = i;
	sort_r(idx, n, sizeof(*idx), dmr_qunit_cmp, NULL, (void *)units);
	for (i = 1; i < n; i++) {
		const struct dmr_qunit *p = &units[idx[i - 1]];

		if (units[idx[i]].addr < p->addr + p->len) {
			ret = -EINVAL;
			break;
		}
	}
	kvfree(idx);
	return ret;
}

/*
 * Find each unit's MAP range, taking a reference where it changes from the
 * unit before (dmr_query_release() drops them the same way).  -EINVAL for
 * a unit outside every range.
 */
static int dmr_query_find_ranges(struct dmr_mirror *mirror,
				 struct dmr_qunit *units, size_t n)
{
	struct dmr_range *range = NULL;
	int ret = 0;
	size_t i;

	if (down_read_killable(&mirror->map_sem))
		return -EINTR;
	for (i = 0; i < n; i++) {
		struct dmr_qunit *u = &units[i];

		/* Units of one segment come in a row: try the last. */
		if (!range || u->addr < range->start ||
		    u->addr + u->len > range->end) {
			range = dmr_mirror_find(mirror, u->addr, u->len);
			if (!range) {
				ret = -EINVAL;
				break;
			}
			if (i == 0 || units[i - 1].range != range)
				dmr_range_get(range);
		}
		u->range = range;
	}
	up_read(&mirror->map_sem);
	return ret;
}

/* Give the lanes runs of consecutive units of about equal bytes. */
static void dmr_query_split(struct dmr_query *q, size_t first, size_t last,
			    u64 base)
{
	u64 total = 0, cum = 0;
	unsigned int k = 0;
	size_t i;

	for (i = first; i < last; i++)
		total += q->units[i].len;
	for (k = 0; k < q->nr_lanes; k++) {
		struct dmr_qlane *ql = &q->lanes[k];

		ql->first = ql->last = last;
		ql->done_units = 0;
		ql->in_unit = false;
		ql->records = ql->bytes = ql->rows = ql->rows_bytes = 0;
		ql->staged = ql->flushed = 0;
		dkd_acc_init(&ql->acc);
		atomic64_set(&ql->rows_pub, 0);
	}
	k = 0;
	for (i = first; i < last; i++) {
		/* Lane of this unit: by the bytes before it. */
		unsigned int lane = min_t(u64, q->nr_lanes - 1,
				div64_u64(cum * q->nr_lanes, total));

		if (q->lanes[lane].first == last) {
			q->lanes[lane].first = i;
			q->lanes[lane].user_off = base + cum;
		}
		q->lanes[lane].last = i + 1;
		cum += q->units[i].len;
	}
	/* Lanes left without units keep first == last. */
}

/* Move len bytes of user memory from src down to dst (dst < src). */
static int dmr_query_move(u64 dst, u64 src, u64 len, u8 *bounce,
			  size_t cap)
{
	while (len) {
		size_t n = min_t(u64, len, cap);

		if (copy_from_user(bounce, u64_to_user_ptr(src), n) ||
		    copy_to_user(u64_to_user_ptr(dst), bounce, n))
			return -EFAULT;
		dst += n;
		src += n;
		len -= n;
	}
	return 0;
}

struct dmr_query_result {
	struct dkd_acc acc;
	u64 records, bytes, rows, rows_bytes, faults;
	size_t next;		/* first unit not evaluated */
	u64 err_addr;
};

/*
 * Evaluate units [first, last) in one device job and fold the results of
 * its evaluated prefix into res.  ROWS: the batch's rows go at base in
 * rows_ptr, compacted.  In the calling thread, no lock held.
 */
static int dmr_query_batch(struct dmr_query *q, struct dmr_job *job,
			   size_t first, size_t last, u64 base,
			   struct dmr_query_result *res)
{
	u64 out = base;
	unsigned int k;
	int ret;

	dmr_query_split(q, first, last, base);
	ret = dmr_device_run(job);
	res->faults += job->faults;
	if (ret == -EINTR)
		return ret;	/* the lanes may still run: leave q alone */
	if (ret) {
		for (k = 0; k < q->nr_lanes; k++)
			res->records += q->lanes[k].records;
		res->err_addr = job->err_addr;
		return ret;
	}

	res->next = last;
	for (k = 0; k < q->nr_lanes; k++) {
		struct dmr_qlane *ql = &q->lanes[k];

		if (ql->first == ql->last)
			continue;
		if (q->rows) {
			ret = dmr_query_flush(job, &job->lanes[k]);
			if (ret)
				return ret;
		}
		dkd_acc_merge(q->flt, &res->acc, &ql->acc);
		res->records += ql->records;
		res->bytes += ql->bytes;
		res->rows += ql->rows;
		res->rows_bytes += ql->rows_bytes;
		if (q->rows && ql->rows_bytes && ql->user_off != out) {
			ret = dmr_query_move(q->rows_ptr + out,
					     q->rows_ptr + ql->user_off,
					     ql->rows_bytes, q->lanes[0].buf,
					     q->lanes[0].buf_cap);
			if (ret)
				return ret;
		}
		out += ql->rows_bytes;
		if (ql->done_units < ql->last - ql->first) {
			/* Stopped early: the batch ends here. */
			res->next = ql->first + ql->done_units;
			break;
		}
	}
	return 0;
}

static int dmr_query_check_arg(const struct daxmirror_query *arg)
{
	if (arg->flags & ~DAXMIRROR_QUERY_FLAGS_KNOWN)
		return -EINVAL;
	if (!arg->nunits || arg->nunits > DAXMIRROR_MAX_QUERY_UNITS ||
	    arg->lanes > DMR_MAX_LANES)
		return -EINVAL;
	if (arg->done || arg->rows || arg->rows_bytes || arg->count ||
	    arg->sum || arg->min || arg->max || arg->records || arg->bytes ||
	    arg->faults || arg->err_addr)
		return -EINVAL;
	if (arg->flags & DAXMIRROR_QUERY_ROWS) {
		if (!arg->rows_cap || arg->rows_cap > DAXMIRROR_MAX_QUERY_ROWS ||
		    arg->resume_unit >= arg->nunits)
			return -EINVAL;
		if (!access_ok(u64_to_user_ptr(arg->rows_ptr), arg->rows_cap))
			return -EFAULT;
	} else if (arg->rows_ptr || arg->rows_cap || arg->rows_limit ||
		   arg->resume_unit) {
		return -EINVAL;
	}
	return 0;
}

/*
 * Copy the query in, check it, and set up q: keys, compiled filter,
 * units with their ranges, lane buffers.  No lock held across the copies.
 */
static int dmr_query_setup(struct dmr_mirror *mirror, struct dmr_query *q,
			   void __user *uarg, size_t *usize)
{
	struct daxmirror_query *arg;
	unsigned int k;
	int ret;

	arg = kzalloc(sizeof(*arg), GFP_KERNEL_ACCOUNT);
	q->keybuf = kmalloc(3 * DKD_MAX_KEY, GFP_KERNEL_ACCOUNT);
	q->arg = arg;
	if (!arg || !q->keybuf)
		return -ENOMEM;
	ret = dmr_copy_arg(arg, sizeof(*arg), DAXMIRROR_QUERY_SIZE_VER0, uarg,
			   usize);
	if (ret)
		return ret;
	ret = dmr_query_check_arg(arg);
	if (ret)
		return ret;
	ret = dmr_query_check_filter(&arg->filter, &q->fields_end);
	if (ret)
		return ret;
	ret = dmr_query_key(q->keybuf, arg->lo_ptr, arg->filter.lo_len);
	if (!ret)
		ret = dmr_query_key(q->keybuf + DKD_MAX_KEY, arg->hi_ptr,
				    arg->filter.hi_len);
	if (!ret)
		ret = dmr_query_key(q->keybuf + 2 * DKD_MAX_KEY,
				    arg->prefix_ptr, arg->filter.prefix_len);
	if (ret)
		return ret;
	q->keys.lo = q->keybuf;
	q->keys.hi = q->keybuf + DKD_MAX_KEY;
	q->keys.prefix = q->keybuf + 2 * DKD_MAX_KEY;
	if (arg->filter.lo_len && arg->filter.hi_len &&
	    dkd_keycmp(q->keys.lo, arg->filter.lo_len, q->keys.hi,
		       arg->filter.hi_len) >= 0)
		return -EINVAL;

	q->flt = &arg->filter;
	dmr_query_compile(q, q->flt);
	q->rows = arg->flags & DAXMIRROR_QUERY_ROWS;
	q->rows_limit = arg->rows_limit;
	q->rows_ptr = arg->rows_ptr;
	q->nr_lanes = arg->lanes ? arg->lanes : DMR_DEFAULT_LANES;

	q->units = kvmalloc_array(arg->nunits, sizeof(*q->units),
				  GFP_KERNEL_ACCOUNT);
	if (!q->units)
		return -ENOMEM;
	ret = dmr_query_copy_units(arg, q->units);
	if (ret)
		return ret;
	ret = dmr_query_check_overlap(q->units, arg->nunits);
	if (ret)
		return ret;
	/* From here on dmr_query_release() puts the ranges found. */
	q->nunits = arg->nunits;
	ret = dmr_query_find_ranges(mirror, q->units, q->nunits);
	if (ret)
		return ret;

	for (k = 0; k < q->nr_lanes; k++) {
		struct dmr_qlane *ql = &q->lanes[k];

		ql->buf_cap = q->rows ? min_t(u64, DMR_QUERY_STAGE,
					      arg->rows_cap) :
				DMR_QUERY_BOUNCE;
		ql->buf = kvmalloc(ql->buf_cap, GFP_KERNEL_ACCOUNT);
		ql->win = kvmalloc(DMR_QUERY_WIN, GFP_KERNEL_ACCOUNT);
		if (!ql->buf || !ql->win)
			return -ENOMEM;
	}
	return 0;
}

int dmr_ioctl_query(struct dmr_mirror *mirror, void __user *uarg)
{
	struct dmr_query_result res = { 0 };
	struct daxmirror_query *arg;
	struct dmr_query *q;
	struct dmr_job *job;
	size_t cur, last, usize = 0;
	u64 used = 0;
	int ret;

	job = dmr_job_create(mirror, &dmr_kernel_query);
	if (!job)
		return -ENOMEM;
	q = kzalloc(sizeof(*q), GFP_KERNEL_ACCOUNT);
	if (!q) {
		ret = -ENOMEM;
		goto out_put;
	}
	job->priv = q;
	ret = dmr_query_setup(mirror, q, uarg, &usize);
	if (ret)
		goto out_put;
	arg = q->arg;
	job->nr_lanes = q->nr_lanes;

	cur = q->rows ? arg->resume_unit : 0;
	dkd_acc_init(&res.acc);
	res.next = cur;
	while (cur < arg->nunits) {
		/* ROWS: the units whose rows surely fit in what is left. */
		u64 room = arg->rows_cap - used, bytes = 0;

		last = cur;
		while (last < arg->nunits &&
		       (!q->rows || bytes + q->units[last].len <= room))
			bytes += q->units[last++].len;
		if (last == cur)
			break;
		ret = dmr_query_batch(q, job, cur, last, used, &res);
		if (ret)
			break;
		used = res.rows_bytes;
		cur = res.next;
		if (q->rows_limit && res.rows >= q->rows_limit)
			break;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}
	if (ret == -ENOMEM || ret == -EINTR)
		goto out_put;

	/* Out: counts only.  On an error, only faults, records, err_addr. */
	arg->faults = res.faults;
	arg->records = res.records;
	arg->err_addr = ret == -EFAULT || ret == -EOPNOTSUPP || ret == -EIO ?
			res.err_addr : 0;
	if (ret)
		res = (struct dmr_query_result){ .next = arg->resume_unit };
	arg->resume_unit = q->rows ? res.next : arg->nunits;
	arg->done = res.next == arg->nunits;
	arg->rows = res.rows;
	arg->rows_bytes = res.rows_bytes;
	arg->count = res.acc.count;
	arg->sum = res.acc.sum;
	arg->min = res.acc.min;
	arg->max = res.acc.max;
	arg->bytes = res.bytes;
	/* All out fields but the filter, which is in only; then err_addr. */
	if (dmr_copy_out(uarg, min_t(size_t, usize,
				     offsetof(typeof(*arg), filter)),
			 arg, sizeof(*arg)))
		ret = -EFAULT;
	if (usize > offsetof(typeof(*arg), err_addr) &&
	    put_user(arg->err_addr,
		     (u64 __user *)(uarg + offsetof(typeof(*arg), err_addr))))
		ret = -EFAULT;
out_put:
	dmr_job_put(job);
	return ret;
}

int dmr_ioctl_version(struct dmr_mirror *mirror, void __user *uarg)
{
	struct daxmirror_version arg;
	size_t usize;
	int ret;

	ret = dmr_copy_arg(&arg, sizeof(arg), DAXMIRROR_VERSION_SIZE_VER0,
			   uarg, &usize);
	if (ret)
		return ret;
	if (arg.api || arg.lanes)
		return -EINVAL;
	arg.api = DAXMIRROR_API_VERSION;
	arg.lanes = DMR_MAX_LANES;
	return dmr_copy_out(uarg, usize, &arg, sizeof(arg));
}
