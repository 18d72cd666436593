// SPDX-License-Identifier: MIT
/*
 * check.c -- daxkv_check(): the offline verifier and repairer.
 *
 * The check reads a database exactly as recovery would: both walk a
 * segment's log batch by batch with dk_batch_end (record.c), so they end
 * it at the same place, and both then search the rest of the segment for
 * a complete valid batch (dk_log_resync, every 8-byte step): what a crash
 * leaves never holds one (layout.h), damage does.
 *
 *   sealed, log ends at sealed tail, nothing after   intact
 *   sealed, log ends past the sealed tail            bad sealed tail
 *   open,   only non-zero bytes after the log end    torn tail
 *   either, valid batch after unreadable bytes       damaged record(s)
 *   sealed, unreadable bytes up to the sealed tail   damaged record(s)
 *   a load that raised SIGBUS (guard.h)              media error
 *
 * Before the segments, the directory is matched with the meta table as
 * open matches it (recovery.c, segment.c: dk_segment_file_fate), and the
 * table's words are range-checked.
 *
 * Salvage (DAXKV_CHECK_REPAIR, kvctl check --repair, DAXKV_OPEN_SALVAGE)
 * keeps every record whose check passes, before and after the damage,
 * and never deletes a byte it could not prove dead:
 *
 * - damaged bytes between valid batches are first copied to a quarantine
 *   file beside the segment (SEG.damaged-OFFSET, never overwritten: a
 *   name taken gets a suffix), written, fdatasynced, linked into place and
 *   the directory fsynced; only then are they overwritten with delete
 *   records of a reserved key ("\xff" "dkfill" + zeros, one record per
 *   <= 1056 bytes) whose seq is the last kept seq (or 1), so the
 *   segment's seq order holds and records keep their offsets.  The report
 *   names the offsets and, where the damaged header still holds a
 *   plausible key, the key.  Ordering: the quarantine copy is durable
 *   before the first byte of the segment changes; the fillers only ever
 *   cover bytes with no complete valid batch in them; a fill that power
 *   cuts short leaves damage that the next salvage finds again (and
 *   quarantines again under a new name).  So salvage is safe to interrupt
 *   and to repeat.
 * - a media error (SIGBUS): the range is recorded in a quarantine file
 *   (its bytes cannot be read), the page is given fresh zeroed blocks
 *   (fallocate: punch, then allocate, as pmem2_badblock_clear does; or the
 *   file is extended back to its size where it was cut short), and the
 *   walk starts again: the page's records are lost, the rest is kept.
 * - damaged bytes up to a sealed tail are quarantined, zeroed, and the
 *   sealed tail lowered to the end of the log; a sealed tail below the
 *   log's end is raised to it; a seal word that is neither a tail nor a
 *   mark is set to the end of the log.
 * - a torn tail of an open segment is quarantined too (it may be the
 *   damaged last record: layout.h's limits), then zeroed (as segment.c
 *   does before the next append).
 * - a segment header that fails its crc but is recognisably this slot's
 *   (at most 16 bits differ from the header the meta table implies) is
 *   quarantined and rewritten; a whole header whose generation differs
 *   from the table's sets the table's (on the word of the segment's own
 *   header: uuid, slot, crc).
 * - the table: a slot whose file's own header says it is live is made
 *   LIVE again with that generation (a LIVE slot whose file is missing is
 *   reported, not freed: the file may come back); a state out of range
 *   is set by
 *   its file; an unknown file at a segment's name is moved aside
 *   (renamed NAME.unknown), never deleted.  The root's clean flag and
 *   flags words out of range are reset; its magic, format version, uuid
 *   and segment size, when damaged, are taken from the segments' own
 *   headers where those all agree.
 * - the meta pool's clean flag is cleared, so that the next open scans
 *   (which also puts every superseded mark right: a record that stays
 *   keeps the version rule, layout.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <libpmem.h>
#include <libpmemobj.h>

#include "crc32c.h"
#include "check.h"
#include "dirlock.h"
#include "errors.h"
#include "guard.h"
#include "internal.h"
#include "media.h"
#include "meta.h"
#include "record.h"
#include "segment.h"

/* Filler key: this prefix, then zero bytes up to the record's end. */
#define DK_FILLER_KEY "\xff" "dkfill"
#define DK_FILLER_MAX (DK_REC_HDR_SIZE + DAXKV_MAX_KEY)
#define DK_FILLER_MIN dk_rec_size(sizeof(DK_FILLER_KEY) - 1, 0)

struct dk_check {
	const char *dir;
	int dirfd;
	const struct daxkv_check_options *opts;
	struct daxkv_check_result *res;
	bool repair;
	int stop;        /* non-zero: a callback asked to stop */
	bool changed;    /* a repair touched segment data */
	PMEMobjpool *pop;          /* the meta pool, while open */
	struct dk_meta_root *root; /* its root object */
	uint64_t root_off;         /* offset of the root in meta.pool */
};

/* Tell the caller about one problem; false if it asked to stop. */
static bool dk_check_report(struct dk_check *ck, enum daxkv_problem_kind kind,
			    const char *file, uint64_t offset, uint64_t length,
			    bool repairable, bool repaired, const char *fmt,
			    ...) __attribute__((format(printf, 8, 9)));

static bool dk_check_report(struct dk_check *ck, enum daxkv_problem_kind kind,
			    const char *file, uint64_t offset, uint64_t length,
			    bool repairable, bool repaired, const char *fmt,
			    ...)
{
	struct daxkv_check_problem problem;
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ck->res->problems++;
	if (repaired)
		ck->res->repaired++;
	if (!ck->opts->report)
		return true;
	memset(&problem, 0, sizeof(problem));
	problem.version = DAXKV_CHECK_PROBLEM_VERSION;
	problem.kind = kind;
	problem.file = file;
	problem.offset = offset;
	problem.length = length;
	problem.repairable = repairable;
	problem.repaired = repaired;
	problem.what = what;
	{
		/* the caller's code: a SIGBUS there is not ours */
		struct dk_guard *g = dk_guard_top();
		int active = g ? g->active : 0;

		if (g)
			g->active = 0;
		ck->stop = ck->opts->report(&problem, ck->opts->arg);
		if (g)
			g->active = active;
	}
	return ck->stop == 0;
}

/* Make [addr, addr + len) of a mapped segment durable. */
static void dk_check_persist(const struct dk_segment *seg, const void *addr,
			     size_t len)
{
	if (pmem_is_pmem(seg->base, seg->size))
		pmem_persist(addr, len);
	else
		pmem_msync(addr, len);
}

/*
 * Copy [off, off + len) of the segment at @p path (its bytes at @p bytes,
 * or NULL where they cannot be read) to a new quarantine file beside it:
 * PATH.damaged-OFF, a suffix added if the name is taken.  A text line
 * says what it holds, then the raw bytes.  Durable (fdatasync, link,
 * fsync of the directory) when it returns 0; on -1 nothing may be
 * changed in the segment.  *namep gets the file name.
 */
static int dk_quarantine(struct dk_check *ck, const char *path, uint64_t off,
			 uint64_t len, const uint8_t *bytes, char *name,
			 size_t namelen)
{
	char tmp[4200], line[256];
	int fd, n, ok;

	snprintf(tmp, sizeof(tmp), "%s.damaged.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	n = snprintf(line, sizeof(line),
		     "daxkv quarantine 1: %s offset %llu length %llu %s\n",
		     strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
		     (unsigned long long)off, (unsigned long long)len,
		     bytes ? "bytes follow" : "unreadable (media error)");
	ok = write(fd, line, (size_t)n) == n;
	for (uint64_t done = 0; ok && bytes && done < len;) {
		ssize_t w = write(fd, bytes + done, len - done);

		ok = w > 0;
		done += w > 0 ? (uint64_t)w : 0;
	}
	ok = ok && fdatasync(fd) == 0;
	close(fd);
	for (unsigned i = 0; ok && i < 1000; i++) {
		if (i)
			snprintf(name, namelen, "%s.damaged-%llu.%u", path,
				 (unsigned long long)off, i);
		else
			snprintf(name, namelen, "%s.damaged-%llu", path,
				 (unsigned long long)off);
		if (link(tmp, name) == 0)
			break;
		if (errno != EEXIST || i == 999)
			ok = 0;
	}
	unlink(tmp);
	return ok && fsync(ck->dirfd) == 0 ? 0 : -1;
}

/* The key a damaged header at @p off still plausibly names, printable,
 * in @p buf ("" if none). */
static void dk_check_key_hint(const struct dk_segment *seg, uint64_t off,
			      uint64_t end, char *buf, size_t cap)
{
	const struct dk_rec *rec = (const struct dk_rec *)(seg->base + off);
	size_t pos = 0;

	buf[0] = '\0';
	if (off + DK_REC_HDR_SIZE > end || rec->klen == 0 ||
	    rec->klen > DAXKV_MAX_KEY || off + DK_REC_HDR_SIZE + rec->klen > end)
		return;
	pos += (size_t)snprintf(buf, cap, "; its header names key \"");
	for (uint16_t i = 0; i < rec->klen && pos + 8 < cap; i++) {
		uint8_t c = dk_rec_key(rec)[i];

		pos += (size_t)snprintf(buf + pos, cap - pos,
					isprint(c) && c != '"' && c != '\\' ?
						"%c" : "\\x%02x", c);
	}
	snprintf(buf + pos, cap - pos, "\"");
}

/* Overwrite [off, end) with never-visible delete records of seq @p seq. */
static void dk_check_fill(struct dk_segment *seg, uint64_t off, uint64_t end,
			  uint64_t seq)
{
	uint64_t start = off;

	while (off < end) {
		uint64_t len = end - off, klen;
		struct dk_rec *rec = (struct dk_rec *)(seg->base + off);

		if (len > DK_FILLER_MAX)
			len = end - off - DK_FILLER_MAX < DK_FILLER_MIN ?
				      DK_FILLER_MAX - DK_FILLER_MIN :
				      DK_FILLER_MAX;
		klen = len - DK_REC_HDR_SIZE;
		memset(rec, 0, len);
		rec->klen = (uint16_t)klen;
		rec->flags = DK_REC_DEL;
		rec->vlen = 0;
		rec->batch = 1;
		rec->seq = seq;
		memcpy((uint8_t *)rec + DK_REC_HDR_SIZE, DK_FILLER_KEY,
		       sizeof(DK_FILLER_KEY) - 1);
		rec->crc = dk_rec_crc(rec, dk_rec_key(rec), dk_rec_val(rec));
		off += len;
	}
	dk_check_persist(seg, seg->base + start, end - start);
}

static void dk_check_zero(struct dk_segment *seg, uint64_t off, uint64_t end)
{
	memset(seg->base + off, 0, end - off);
	dk_check_persist(seg, seg->base + off, end - off);
}

static void dk_check_set_sealed(struct dk_segment *seg, uint64_t tail)
{
	struct dk_seg_header *hdr = (struct dk_seg_header *)seg->base;

	__atomic_store_n(&hdr->sealed_tail, tail, __ATOMIC_RELEASE);
	dk_check_persist(seg, &hdr->sealed_tail, sizeof(hdr->sealed_tail));
}

/* Quarantine [off, end), then overwrite it with fillers (repair only);
 * false if the quarantine failed (then nothing changed). */
static bool dk_check_refill(struct dk_check *ck, struct dk_segment *seg,
			    const char *path, uint64_t off, uint64_t end,
			    uint64_t seq, char *qname, size_t qlen)
{
	if (dk_quarantine(ck, path, off, end - off, seg->base + off, qname,
			  qlen) != 0)
		return false;
	dk_check_fill(seg, off, end, seq);
	return true;
}

/* Walk the records of one mapped, header-checked segment. */
static void dk_check_records(struct dk_check *ck, struct dk_segment *seg,
			     const char *path)
{
	const struct dk_seg_header *hdr = dk_segment_header(seg);
	uint64_t sealed = dk_seal_is_mark(hdr->sealed_tail) ? 0 :
							      hdr->sealed_tail;
	uint64_t off = DK_SEG_HDR_SIZE, prev_seq = 0;
	bool repair = ck->repair;
	char qname[4300], hint[160];

	while (off < seg->size) {
		uint32_t valid;
		uint64_t end = dk_batch_end(seg, off, prev_seq, &valid);
		uint64_t next, last;

		if (end) {
			const struct dk_rec *rec =
				(const struct dk_rec *)(seg->base + off);

			ck->res->records += rec->batch;
			ck->res->record_bytes += end - off;
			prev_seq = rec->seq;
			off = end;
			continue;
		}
		/* recovery's log ends here: damage, or what a crash leaves? */
		next = dk_log_resync(seg, off, seg->size, prev_seq);
		if (next && (!sealed || next < sealed || off >= sealed)) {
			bool done = false;

			dk_check_key_hint(seg, off, next, hint, sizeof(hint));
			if (next - off < DK_FILLER_MIN) {
				dk_check_report(ck, DAXKV_PROBLEM_RECORD, path,
						off, next - off, false, false,
						"%llu unreadable bytes before a "
						"valid record, too few to "
						"overwrite",
						(unsigned long long)(next - off));
			} else {
				if (repair)
					done = dk_check_refill(
						ck, seg, path, off, next,
						prev_seq ? prev_seq : 1, qname,
						sizeof(qname));
				ck->changed |= done;
				ck->res->dropped_records += valid;
				dk_check_report(ck, DAXKV_PROBLEM_RECORD, path,
						off, next - off, true, done,
						"%llu unreadable bytes (damaged "
						"record%s) with valid records "
						"after them%s%s%s%s",
						(unsigned long long)(next - off),
						valid ? " or incomplete batch" : "",
						hint,
						done ? "; moved to " : "",
						done ? qname : "",
						done ? ", overwritten with "
						       "filler deletes" :
						repair ? "; NOT repaired: "
							 "cannot write the "
							 "quarantine file" : "");
			}
			if (ck->stop || (repair && !done))
				return;
			off = next;
			continue;
		}
		if (sealed && off == sealed)
			return;
		if (sealed && off > sealed) {
			if (repair)
				dk_check_set_sealed(seg, off);
			ck->changed |= repair;
			dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 56, 8,
					true, repair,
					"sealed tail %llu is below the end of "
					"the valid records (%llu); open would "
					"refuse the segment",
					(unsigned long long)sealed,
					(unsigned long long)off);
			return;
		}
		if (sealed) {
			bool done = false;

			dk_check_key_hint(seg, off, sealed, hint, sizeof(hint));
			if (repair &&
			    dk_quarantine(ck, path, off, sealed - off,
					  seg->base + off, qname,
					  sizeof(qname)) == 0) {
				dk_check_zero(seg, off, sealed);
				dk_check_set_sealed(seg, off);
				done = true;
			}
			ck->changed |= done;
			ck->res->dropped_records += valid;
			dk_check_report(ck, DAXKV_PROBLEM_RECORD, path, off,
					sealed - off, true, done,
					"invalid record before the sealed tail "
					"%llu; open would refuse the segment%s%s%s",
					(unsigned long long)sealed, hint,
					done ? "; moved to " : "",
					done ? qname : "");
			return;
		}
		/* open segment: anything non-zero left is a torn tail */
		last = seg->size;
		while (last > off &&
		       ((const uint64_t *)seg->base)[last / 8 - 1] == 0)
			last -= 8;
		if (last > off) {
			/* what a crash leaves, or the damaged last record
			 * (layout.h's limits): kept in a quarantine file too */
			bool done = repair &&
				    dk_quarantine(ck, path, off, last - off,
						  seg->base + off, qname,
						  sizeof(qname)) == 0;

			if (done)
				dk_check_zero(seg, off, last);
			ck->changed |= done;
			ck->res->dropped_records += valid;
			dk_check_report(ck, DAXKV_PROBLEM_TORN_TAIL, path, off,
					last - off, true, done,
					"torn tail: %llu bytes of an "
					"unacknowledged write%s%s%s%s",
					(unsigned long long)(last - off),
					valid ? " (incomplete batch)" : "",
					done ? "; moved to " : "",
					done ? qname : "",
					done ? ", zeroed" :
					repair ? "; NOT repaired: cannot write "
						 "the quarantine file" : "");
		}
		return;
	}
	if (sealed && off > sealed) {
		/* the log fills the segment but the sealed tail says less */
		if (repair)
			dk_check_set_sealed(seg, off);
		ck->changed |= repair;
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 56, 8, true,
				repair,
				"sealed tail %llu is below the end of the valid "
				"records (%llu)",
				(unsigned long long)sealed,
				(unsigned long long)off);
	}
}

/* End of the valid log of @p seg (for a seal word that must be set). */
static uint64_t dk_check_log_end(const struct dk_segment *seg)
{
	uint64_t off = DK_SEG_HDR_SIZE, prev_seq = 0;
	uint32_t valid;

	for (;;) {
		uint64_t end = dk_batch_end(seg, off, prev_seq, &valid);

		if (!end)
			return off;
		prev_seq = ((const struct dk_rec *)(seg->base + off))->seq;
		off = end;
	}
}

/*
 * dk_check_records under a guard.  A media error (SIGBUS) is reported;
 * in a repair its page gets fresh zeroed blocks (or the file its size
 * back) and the walk starts again.  false: the walk could not finish.
 */
static bool dk_check_walk(struct dk_check *ck, struct dk_segment *seg,
			  const char *path, int fd)
{
	struct dk_guard g;
	char qname[4300];
	volatile unsigned tries = 0;

again:
	if (sigsetjmp(g.env, 0)) {
		uint64_t at = (uint64_t)((uint8_t *)g.fault_addr - seg->base);
		uint64_t page = at & ~4095ull;
		struct stat st;
		bool done = false;

		dk_guard_landed(&g);
		if (ck->repair && tries < 64 && at < seg->size &&
		    dk_quarantine(ck, path, page, 4096, NULL, qname,
				  sizeof(qname)) == 0 &&
		    fstat(fd, &st) == 0) {
			if ((uint64_t)st.st_size <= page)
				done = ftruncate(fd, (off_t)seg->size) == 0;
			else
				done = fallocate(fd, FALLOC_FL_PUNCH_HOLE |
							     FALLOC_FL_KEEP_SIZE,
						 (off_t)page, 4096) == 0 &&
				       fallocate(fd, 0, (off_t)page, 4096) == 0;
			/* the new blocks (or size) durable before the walk
			 * writes fillers over them */
			done = done && fsync(fd) == 0;
			ck->changed |= done;
		}
		dk_check_report(ck, DAXKV_PROBLEM_RECORD, path, at, 1, true,
				done,
				"media error (SIGBUS) reading the segment%s%s%s",
				done ? "; page " : "", done ? qname : "",
				done ? " recorded, its blocks replaced by "
				       "zeroed ones" : "");
		if (!done || ck->stop)
			return false;
		tries++;
		goto again;
	}
	dk_guard_push(&g);
	dk_check_records(ck, seg, path);
	dk_guard_pop(&g);
	return true;
}

/* Bits that differ between @p a and @p b (n bytes). */
static unsigned dk_bits_differ(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	unsigned bits = 0;

	for (size_t i = 0; i < n; i++)
		bits += (unsigned)__builtin_popcount(x[i] ^ y[i]);
	return bits;
}

static uint32_t dk_check_header_crc(const struct dk_seg_header *hdr)
{
	return dk_crc32c(0, hdr, offsetof(struct dk_seg_header, crc));
}

/* The header the table implies for @p slot (seal word from @p seal). */
static void dk_check_expected_header(const struct dk_meta_root *root,
				     uint32_t slot, uint64_t size,
				     uint64_t seal, struct dk_seg_header *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
	memcpy(hdr->magic, DK_SEG_MAGIC, sizeof(hdr->magic));
	hdr->format_version = root->format_version;
	hdr->header_size = DK_SEG_HDR_SIZE;
	memcpy(hdr->uuid, root->uuid, sizeof(hdr->uuid));
	hdr->slot = slot;
	hdr->gen = root->segs[slot].gen;
	hdr->size = size;
	hdr->crc = dk_check_header_crc(hdr);
	hdr->sealed_tail = seal;
}

/* Durable single-word change of the meta root (repair). */
static void dk_check_meta_set(struct dk_check *ck, uint64_t *field,
			      uint64_t val)
{
	__atomic_store_n(field, val, __ATOMIC_RELEASE);
	pmemobj_persist(ck->pop, field, sizeof(*field));
}

static void dk_check_set_slot(struct dk_check *ck, uint32_t slot,
			      uint32_t state, uint32_t gen)
{
	struct dk_seg_entry entry = ck->root->segs[slot];
	uint64_t word;

	entry.state = state;
	entry.gen = gen;
	memcpy(&word, &entry, sizeof(word));
	dk_check_meta_set(ck, (uint64_t *)&ck->root->segs[slot], word);
}

/* Map, check the header of, and walk the segment of one LIVE slot. */
static void dk_check_segment(struct dk_check *ck, uint32_t slot)
{
	const struct dk_meta_root *root = ck->root;
	char path[4096], qname[4300];
	struct dk_segment seg = { .slot = slot };
	struct dk_seg_header *hdr, want;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/seg-%08u.dat", ck->dir, slot);
	ck->res->segments++;
	fd = open(path, (ck->repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		/* not repaired: the file may come back (a wrong copy, a
		 * mount); the table keeps naming it */
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 0, 0, false,
				false, "segment of LIVE slot %u: %s", slot,
				strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	{
		/* format 2: each segment's size is its own (its header says
		 * which), a multiple of 2 MiB up to segment_size */
		bool f2 = root->format_version >= 2;
		uint64_t size = (uint64_t)st.st_size, want_size = root->segment_size;
		bool size_ok = f2 ? size >= DK_SEG_MIN &&
					    size <= root->segment_size &&
					    size % DK_SEG_ALIGN == 0 :
				    size == root->segment_size;

		if (!size_ok && f2) {
			struct dk_seg_header h;

			want_size = 0; /* unknown unless a whole header says */
			if (pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
			    memcmp(h.magic, DK_SEG_MAGIC, sizeof(h.magic)) == 0 &&
			    h.crc == dk_check_header_crc(&h) &&
			    h.size >= DK_SEG_MIN && h.size <= root->segment_size &&
			    h.size % DK_SEG_ALIGN == 0)
				want_size = h.size;
		}
		if (!size_ok) {
			/* cut short: the missing end reads as zeros again */
			bool done = ck->repair && size < want_size &&
				    dk_quarantine(ck, path, size, want_size - size,
						  NULL, qname,
						  sizeof(qname)) == 0 &&
				    ftruncate(fd, (off_t)want_size) == 0 &&
				    fsync(fd) == 0; /* the size, before the walk */

			ck->changed |= done;
			dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 0, size,
					size < want_size, done,
					"size %llu, expected %s%llu "
					"(truncated?)%s",
					(unsigned long long)size,
					f2 && !want_size ? "a multiple of 2 MiB up to " :
						      "",
					(unsigned long long)(want_size ? want_size :
							     root->segment_size),
					done ? "; extended, the lost end recorded"
					     : "");
			if (!done) {
				close(fd);
				return;
			}
			size = want_size;
		}
		seg.size = size;
	}
	seg.base = mmap(NULL, seg.size,
			PROT_READ | (ck->repair ? PROT_WRITE : 0), MAP_SHARED,
			fd, 0);
	if (seg.base == MAP_FAILED) {
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 0, 0, false,
				false, "cannot map: %s", strerror(errno));
		close(fd);
		return;
	}
	seg.pm.is_pmem = pmem_is_pmem(seg.base, seg.size);
	hdr = (struct dk_seg_header *)seg.base;
	if (memcmp(hdr->magic, DK_SEG_MAGIC, sizeof(hdr->magic)) != 0 ||
	    hdr->crc != dk_check_header_crc(hdr)) {
		/* this slot's header with a few bits flipped: rebuild it */
		uint64_t seal = hdr->sealed_tail;
		bool ours, done = false;

		dk_check_expected_header(root, slot, seg.size, seal, &want);
		ours = dk_bits_differ(hdr, &want,
				      offsetof(struct dk_seg_header, reserved0)) <=
		       16;
		if (ck->repair && ours &&
		    dk_quarantine(ck, path, 0, sizeof(*hdr), seg.base, qname,
				  sizeof(qname)) == 0) {
			memcpy(hdr, &want, offsetof(struct dk_seg_header,
						    sealed_tail));
			dk_check_persist(&seg, hdr, sizeof(*hdr));
			done = true;
		}
		if (!ours) {
			/*
			 * Not this slot's header, but nothing past it: no
			 * record to lose.  Such a file is a spare or a
			 * renewal that a kill tore as its header was being
			 * written, in a slot whose table entry was damaged
			 * into LIVE (damage_sweep, the compact moment).  It
			 * is moved aside, never deleted, and the slot made
			 * FREE again.
			 */
			char name[32], aside[4200];

			snprintf(name, sizeof(name), "seg-%08u.dat", slot);
			if (dk_segment_file_empty(ck->dirfd, name)) {
				snprintf(aside, sizeof(aside), "%s.unknown",
					 path);
				munmap(seg.base, seg.size);
				close(fd);
				/* the slot FREE first: a crash before the
				 * rename leaves an orphan that the next
				 * check moves aside the same way */
				if (ck->repair) {
					dk_check_set_slot(ck, slot, DK_SEG_FREE,
							  root->segs[slot].gen);
					ck->changed = true;
					done = rename(path, aside) == 0;
					fsync(ck->dirfd);
				}
				dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path,
						0, 64, true, done,
						"bad segment header (magic or "
						"crc), not recognisably this "
						"slot's, and no record past it"
						"%s%s",
						done ? "; moved aside to " : "",
						done ? aside : "");
				return;
			}
		}
		ck->changed |= done;
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 0, 64, ours,
				done, "bad segment header (magic or crc)%s%s",
				done ? "; rebuilt from the meta table, the old "
				       "one moved to " : ours ? "" :
				"; not recognisably this slot's: kept",
				done ? qname : "");
		if (!done)
			goto out;
	}
	if (hdr->format_version != root->format_version) {
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 8, 4, false,
				false, "segment format version %u, expected %u",
				hdr->format_version, root->format_version);
		goto out;
	}
	if (hdr->header_size != DK_SEG_HDR_SIZE ||
	    memcmp(hdr->uuid, root->uuid, sizeof(hdr->uuid)) != 0 ||
	    hdr->slot != slot || hdr->size != seg.size) {
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 0, 64, false,
				false,
				"header belongs to another database or slot "
				"(slot %u gen %u, table says slot %u gen %u)",
				hdr->slot, hdr->gen, slot, root->segs[slot].gen);
		goto out;
	}
	if (hdr->gen != root->segs[slot].gen) {
		/* a whole header of this slot: its word over the table's */
		if (ck->repair)
			dk_check_set_slot(ck, slot, DK_SEG_LIVE, hdr->gen);
		ck->changed |= ck->repair;
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 36, 4, true,
				ck->repair,
				"segment generation %u, the meta table says %u "
				"(meta.pool damaged or older than the "
				"segments)%s",
				hdr->gen, root->segs[slot].gen,
				ck->repair ? "; table set from the header" : "");
		if (!ck->repair)
			goto out;
	}
	if (hdr->sealed_tail && !dk_seal_is_mark(hdr->sealed_tail) &&
	    (hdr->sealed_tail < DK_SEG_HDR_SIZE ||
	     hdr->sealed_tail > seg.size ||
	     hdr->sealed_tail % DK_REC_ALIGN)) {
		uint64_t bad = hdr->sealed_tail;

		if (ck->repair)
			dk_check_set_sealed(&seg, dk_check_log_end(&seg));
		ck->changed |= ck->repair;
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 56, 8, true,
				ck->repair, "bad sealed tail %llu%s",
				(unsigned long long)bad,
				ck->repair ? "; set to the end of the valid "
					     "records" : "");
		if (!ck->repair)
			goto out;
	}
	if (hdr->sealed_tail == DK_SEAL_FILLING ||
	    hdr->sealed_tail == DK_SEAL_RETIRED)
		goto out; /* open removes it: its records live elsewhere */
	/* the device's bad blocks: lost bytes, recorded, then cleared
	 * (fresh zeroed blocks) so that the walk sees zeros, not poison */
	{
		uint64_t bad = 0, len = 0, from = 0;

		while (!ck->stop &&
		       dk_media_badblock_first(fd, from, &bad, &len)) {
			bool done = ck->repair &&
				    dk_quarantine(ck, path, bad, len, NULL,
						  qname, sizeof(qname)) == 0 &&
				    dk_media_badblock_clear(fd, bad, len) == 0;

			ck->changed |= done;
			dk_check_report(ck, DAXKV_PROBLEM_RECORD, path, bad,
					len, true, done,
					"the device lists %llu bytes here as "
					"bad blocks (media error)%s%s",
					(unsigned long long)len,
					done ? "; recorded in " : "",
					done ? qname : "");
			from = bad + len;
		}
	}
	dk_check_walk(ck, &seg, path, fd);
out:
	munmap(seg.base, seg.size);
	close(fd);
}

/* Segment files of slots that are not LIVE: what their own bytes say. */
static void dk_check_orphans(struct dk_check *ck)
{
	DIR *dir = opendir(ck->dir);
	struct dirent *de;
	char path[4096], aside[4200];

	if (!dir)
		return;
	while (!ck->stop && (de = readdir(dir)) != NULL) {
		enum dk_seg_fate fate;
		unsigned slot;
		uint32_t gen;
		char tail;
		bool done = false;

		if (sscanf(de->d_name, "seg-%8u.dat%c", &slot, &tail) != 1 ||
		    strlen(de->d_name) != 16)
			continue;
		if (slot < DK_MAX_SEGMENTS &&
		    ck->root->segs[slot].state == DK_SEG_LIVE)
			continue;
		snprintf(path, sizeof(path), "%s/%s", ck->dir, de->d_name);
		fate = dk_segment_file_fate(
			ck->dirfd, de->d_name, ck->root->uuid, slot,
			slot < DK_MAX_SEGMENTS ? ck->root->segs[slot] :
						 (struct dk_seg_entry){ 0 },
			ck->root->segment_size, &gen);
		switch (fate) {
		case DK_FATE_ABORTED:
		case DK_FATE_RETIRED:
			if (ck->repair)
				done = unlinkat(ck->dirfd, de->d_name, 0) == 0;
			dk_check_report(ck, DAXKV_PROBLEM_ORPHAN, path, 0, 0,
					true, done,
					"segment file of a slot that is not "
					"LIVE, dead by its own header (%s)%s",
					fate == DK_FATE_ABORTED ?
						"a create a crash interrupted" :
						"a retired segment",
					done ? "; removed" : "");
			break;
		case DK_FATE_LIVE:
			/* a generation below the table's cannot be made LIVE
			 * (the table may be right and the file stale); if the
			 * file holds no record at all (a spare made ahead, or
			 * a create whose table entry was damaged), moving it
			 * aside loses nothing: as an unknown file, below */
			if (gen < ck->root->segs[slot].gen &&
			    dk_segment_file_empty(ck->dirfd, de->d_name))
				goto aside;
			if (ck->repair && gen >= ck->root->segs[slot].gen) {
				dk_check_set_slot(ck, slot, DK_SEG_LIVE, gen);
				done = true;
				ck->changed = true;
			}
			dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 0, 64,
					gen >= ck->root->segs[slot].gen, done,
					"the meta table calls slot %u free (gen "
					"%u) but the file's header says it is a "
					"live segment of this database (gen "
					"%u)%s",
					slot, ck->root->segs[slot].gen, gen,
					done ? "; slot made LIVE again" : "");
			if (done)
				dk_check_segment(ck, slot);
			break;
		default:
		aside:
			snprintf(aside, sizeof(aside), "%s.unknown", path);
			if (ck->repair)
				done = rename(path, aside) == 0;
			dk_check_report(ck, DAXKV_PROBLEM_ORPHAN, path, 0, 0,
					true, done,
					"a segment file that no live slot names "
					"and whose header does not prove it "
					"dead%s%s",
					done ? "; moved aside to " : "",
					done ? aside : "");
			break;
		}
	}
	closedir(dir);
	if (ck->repair)
		fsync(ck->dirfd);
}

/*
 * What the segments' own headers (whole: magic and crc) agree on: uuid,
 * format version, segment size.  false if none or they disagree.
 */
static bool dk_check_consensus(struct dk_check *ck, uint8_t *uuid,
			       uint32_t *version, uint64_t *size)
{
	DIR *dir = opendir(ck->dir);
	struct dirent *de;
	unsigned found = 0;
	bool agree = true;

	if (!dir)
		return false;
	while (agree && (de = readdir(dir)) != NULL) {
		struct dk_seg_header hdr;
		struct stat st;
		unsigned slot;
		char tail;
		int fd;

		if (sscanf(de->d_name, "seg-%8u.dat%c", &slot, &tail) != 1 ||
		    strlen(de->d_name) != 16)
			continue;
		fd = openat(ck->dirfd, de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 &&
		    pread(fd, &hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
		    !memcmp(hdr.magic, DK_SEG_MAGIC, sizeof(hdr.magic)) &&
		    hdr.crc == dk_check_header_crc(&hdr) &&
		    hdr.sealed_tail != DK_SEAL_RETIRED) {
			if (found++ == 0) {
				memcpy(uuid, hdr.uuid, sizeof(hdr.uuid));
				*version = hdr.format_version;
				*size = hdr.size;
			} else {
				/* format 2: sizes differ; the largest is
				 * the least segment_size can be */
				agree = agree &&
					!memcmp(uuid, hdr.uuid,
						sizeof(hdr.uuid)) &&
					*version == hdr.format_version &&
					(*size == hdr.size ||
					 hdr.format_version >= 2);
				if (hdr.size > *size)
					*size = hdr.size;
			}
		}
		close(fd);
	}
	closedir(dir);
	return agree && found;
}

/* The root's own words, range-checked; repaired from the segments'
 * headers where they all agree.  false: the segments cannot be read by
 * this root (a problem was reported). */
static bool dk_check_root(struct dk_check *ck, const char *path, int *rcp)
{
	struct dk_meta_root *root = ck->root;
	uint64_t off = ck->root_off, seg_size = 0;
	uint32_t version = 0;
	uint8_t uuid[16];
	bool cons = dk_check_consensus(ck, uuid, &version, &seg_size);
	bool done;

	if (memcmp(root->magic, DK_META_MAGIC, sizeof(root->magic)) != 0) {
		/* the pool's layout name ("daxkv", under libpmemobj's
		 * checksum) already says whose it is */
		done = ck->repair &&
		       dk_bits_differ(root->magic, DK_META_MAGIC, 8) <= 8;
		if (done) {
			uint64_t word;

			memcpy(&word, DK_META_MAGIC, sizeof(word));
			dk_check_meta_set(ck, (uint64_t *)root->magic, word);
		}
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, off, 8, done,
				done, "root object has no daxkv magic%s",
				done ? "; restored" : "");
		if (!done)
			return false;
	}
	if (root->format_version < DK_FORMAT_VERSION_MIN ||
	    root->format_version > DK_FORMAT_VERSION) {
		bool known = cons && version >= DK_FORMAT_VERSION_MIN &&
			     version <= DK_FORMAT_VERSION;

		done = ck->repair && known;
		if (done)
			dk_check_meta_set(
				ck, (uint64_t *)&root->format_version,
				(uint64_t)version |
					(uint64_t)root->flags << 32);
		if (!done && !known) {
			*rcp = dk_err(DAXKV_EVERSION,
				      "%s: format version %u, this library "
				      "reads %u to %u",
				      path, root->format_version,
				      DK_FORMAT_VERSION_MIN, DK_FORMAT_VERSION);
			return false;
		}
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, off + 8, 4, true,
				done,
				"format version %u, but every segment says %u%s",
				root->format_version, version,
				done ? "; restored" : "");
		if (!done)
			return false;
	}
	if (root->flags != 0) {
		if (ck->repair)
			dk_check_meta_set(ck, (uint64_t *)&root->format_version,
					  root->format_version);
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, off + 12, 4, true,
				ck->repair, "flags %#x, expected 0%s",
				root->flags, ck->repair ? "; reset" : "");
	}
	if (cons && memcmp(uuid, root->uuid, sizeof(uuid)) != 0) {
		done = ck->repair && dk_bits_differ(uuid, root->uuid, 16) <= 16;
		if (done) {
			uint64_t w[2];

			memcpy(w, uuid, sizeof(w));
			dk_check_meta_set(ck, (uint64_t *)root->uuid, w[0]);
			dk_check_meta_set(ck, (uint64_t *)root->uuid + 1, w[1]);
		}
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, off + 16, 16,
				true, done,
				"uuid differs from the one every segment "
				"carries%s",
				done ? "; restored from the segments" : "");
	}
	/* the size in every segment's header (under its crc) over a root
	 * word that no database can hold, or that disagrees with them all */
	/* (format 2: seg_size is the largest segment, which segment_size
	 * may exceed) */
	if (root->segment_size < DK_SEG_MIN || root->segment_size > DK_SEG_MAX ||
	    root->segment_size % DK_SEG_ALIGN ||
	    (cons && (version >= 2 ? root->segment_size < seg_size :
				     root->segment_size != seg_size))) {
		done = ck->repair && cons && seg_size >= DK_SEG_MIN &&
		       seg_size <= DK_SEG_MAX && seg_size % DK_SEG_ALIGN == 0;
		if (done)
			dk_check_meta_set(ck, &root->segment_size, seg_size);
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, off + 32, 8,
				cons, done, "bad segment size %llu%s",
				(unsigned long long)root->segment_size,
				done ? "; set from the segment files" : "");
		if (!done)
			return false;
	}
	if (root->clean > 1) {
		if (ck->repair)
			dk_check_meta_set(ck, &root->clean, 0);
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, off + 48, 8, true,
				ck->repair, "clean flag %llu, expected 0 or 1%s",
				(unsigned long long)root->clean,
				ck->repair ? "; cleared" : "");
	}
	return true;
}

/* A table state out of range: set by the slot's file. */
static void dk_check_bad_state(struct dk_check *ck, const char *path,
			       uint32_t slot)
{
	char name[32];
	uint32_t gen = 0, state = ck->root->segs[slot].state;
	struct dk_seg_entry as_live = ck->root->segs[slot];
	enum dk_seg_fate fate;
	bool done = false;

	snprintf(name, sizeof(name), "seg-%08u.dat", slot);
	/* asked as if the slot were FREE one generation back, a whole
	 * header of this slot and gen reads as LIVE */
	as_live.state = DK_SEG_FREE;
	fate = faccessat(ck->dirfd, name, F_OK, 0) != 0 ?
		       DK_FATE_ABORTED :
		       dk_segment_file_fate(ck->dirfd, name, ck->root->uuid,
					    slot, as_live,
					    ck->root->segment_size, &gen);
	if (ck->repair) {
		if (fate == DK_FATE_LIVE || fate == DK_FATE_RETIRED)
			dk_check_set_slot(ck, slot,
					  fate == DK_FATE_LIVE ? DK_SEG_LIVE :
								 DK_SEG_FREE,
					  gen);
		else
			dk_check_set_slot(ck, slot, DK_SEG_FREE,
					  ck->root->segs[slot].gen);
		done = true;
		ck->changed = true;
	}
	dk_check_report(ck, DAXKV_PROBLEM_POOL, path,
			ck->root_off + 80 + 16ull * slot, 4, true, done,
			"segment slot %u has unknown state %u%s", slot, state,
			!done ? "" : fate == DK_FATE_LIVE ?
				"; LIVE again, as its file's header says" :
				"; FREE (no live segment file)");
}

/*
 * A meta pool that libpmemobj cannot open, rebuilt from the segments'
 * own headers (repair only): the old file is kept (linked to
 * meta.pool.damaged[-N], never overwritten, made durable), and a new
 * pool, renamed over meta.pool, holds the uuid and segment size every
 * whole header agrees on and, per slot, the state and generation its file's header says (RETIRED: FREE
 * with that generation, so that open finishes the removal; FILLING:
 * LIVE, so that open removes it as an interrupted compaction).  The
 * clean flag and checkpoint generation start at 0 (open scans); a
 * max_size cap is lost.  false: not possible (reported by the caller).
 */
static bool dk_check_rebuild_pool(struct dk_check *ck, const char *path)
{
	static struct dk_seg_entry table[DK_MAX_SEGMENTS];
	char aside[4200];
	uint64_t seg_size;
	uint32_t version;
	uint8_t uuid[16];
	DIR *dir;
	struct dirent *de;
	unsigned n;

	if (!dk_check_consensus(ck, uuid, &version, &seg_size) ||
	    version != DK_FORMAT_VERSION || seg_size < DK_SEG_MIN ||
	    seg_size > DK_SEG_MAX || seg_size % DK_SEG_ALIGN)
		return false;
	memset(table, 0, sizeof(table));
	dir = opendir(ck->dir);
	if (!dir)
		return false;
	while ((de = readdir(dir)) != NULL) {
		struct dk_seg_header hdr;
		unsigned slot;
		char tail;
		int fd;

		if (sscanf(de->d_name, "seg-%8u.dat%c", &slot, &tail) != 1 ||
		    strlen(de->d_name) != 16 || slot >= DK_MAX_SEGMENTS)
			continue;
		fd = openat(ck->dirfd, de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (pread(fd, &hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
		    !memcmp(hdr.magic, DK_SEG_MAGIC, sizeof(hdr.magic)) &&
		    hdr.crc == dk_check_header_crc(&hdr) &&
		    !memcmp(hdr.uuid, uuid, sizeof(uuid)) && hdr.slot == slot) {
			table[slot].gen = hdr.gen;
			table[slot].state = hdr.sealed_tail == DK_SEAL_RETIRED ?
						    DK_SEG_FREE :
						    DK_SEG_LIVE;
		}
		close(fd);
	}
	closedir(dir);
	for (n = 0; n < 1000; n++) {
		if (n)
			snprintf(aside, sizeof(aside), "%s.damaged-%u", path, n);
		else
			snprintf(aside, sizeof(aside), "%s.damaged", path);
		if (link(path, aside) == 0)
			break;
		if (errno != EEXIST)
			return false;
	}
	/* the old pool durable under its new name first; then the new one
	 * replaces meta.pool in one rename (dk_meta_make), so a crash
	 * leaves one or the other there, never neither */
	if (n == 1000 || fsync(ck->dirfd) != 0)
		return false;
	if (dk_meta_make(ck->dirfd, path, uuid, seg_size, 0, table) != 0)
		return false;
	ck->changed = true;
	dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 0, 0, true, true,
			"rebuilt from the segments' headers; the damaged pool "
			"is kept as %s (a max_size cap it held is lost)",
			aside);
	return true;
}

/* Check the meta pool's root and table, then every segment. */
static int dk_check_pool(struct dk_check *ck)
{
	char path[4096];
	struct dk_meta_root *copy = NULL;
	bool rebuilt = false;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/meta.pool", ck->dir);
again:
	if (dk_meta_precheck(path) != 0) {
		/* words libpmemobj would trust: not safe to open at all */
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 0, 0, ck->repair,
				false, "%s", daxkv_errmsg());
		if (ck->repair && !rebuilt && dk_check_rebuild_pool(ck, path)) {
			rebuilt = true;
			goto again;
		}
		return 0;
	}
	if (!ck->repair) {
		/* pmemobj_open writes to the pool: read the root instead
		 * (every change below is made only in a repair) */
		rc = dk_meta_read_root(path, &copy, &ck->root_off);
		if (rc == DAXKV_EPERM || rc == DAXKV_ENOMEM || rc == DAXKV_EIO)
			return rc;
		if (rc) {
			dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 0, 0,
					false, false, "not a valid daxkv pool: %s",
					daxkv_errmsg());
			return 0;
		}
		ck->root = copy;
		goto check_root;
	}
	ck->pop = pmemobj_open(path, DK_POOL_LAYOUT);
	if (!ck->pop) {
		int err = errno;

		if (err == EACCES || err == EPERM)
			return dk_err_errno(DAXKV_EPERM, err, "%s", path);
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 0, 0, ck->repair,
				false, "not a valid daxkv pool: %s",
				pmemobj_errormsg());
		if (ck->repair && !rebuilt && dk_check_rebuild_pool(ck, path)) {
			rebuilt = true;
			goto again;
		}
		return 0;
	}
	if (pmemobj_root_size(ck->pop) < sizeof(struct dk_meta_root)) {
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 0, 0, false,
				false, "root object of %zu bytes, expected %zu",
				pmemobj_root_size(ck->pop),
				sizeof(struct dk_meta_root));
		goto out_close;
	}
	ck->root = pmemobj_direct(pmemobj_root(ck->pop, sizeof(*ck->root)));
	ck->root_off = (uint64_t)((const char *)ck->root -
				  (const char *)ck->pop);
check_root:
	if (!dk_check_root(ck, path, &rc))
		goto out_close;
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS && !ck->stop; slot++) {
		uint32_t state = ck->root->segs[slot].state;

		if (state > DK_SEG_RETIRED)
			dk_check_bad_state(ck, path, slot);
		if (ck->root->segs[slot].state == DK_SEG_LIVE)
			dk_check_segment(ck, slot);
	}
	if (!ck->stop)
		dk_check_orphans(ck);
	if (ck->changed && ck->pop && ck->root->clean) {
		/* the checkpoint predates the repair: make open scan */
		dk_check_meta_set(ck, &ck->root->clean, 0);
	}
out_close:
	if (ck->pop)
		pmemobj_close(ck->pop);
	free(copy);
	ck->pop = NULL;
	ck->root = NULL;
	return rc;
}

int dk_check_locked(const char *dir, int dirfd,
		    const struct daxkv_check_options *opts,
		    struct daxkv_check_result *res)
{
	struct dk_check ck;
	int rc;

	memset(res, 0, sizeof(*res));
	res->version = DAXKV_CHECK_RESULT_VERSION;
	dk_guard_install();
	memset(&ck, 0, sizeof(ck));
	ck.dir = dir;
	ck.dirfd = dirfd;
	ck.opts = opts;
	ck.res = res;
	ck.repair = opts->flags & DAXKV_CHECK_REPAIR;
	if (opts->pool_check) {
		char path[4096];
		int found;

		snprintf(path, sizeof(path), "%s/meta.pool", dir);
		found = opts->pool_check(path, opts->arg);
		if (found < 0)
			return found;
		res->problems += (uint64_t)found;
	}
	rc = dk_check_pool(&ck);
	if (!rc && ck.stop)
		rc = ck.stop;
	return rc;
}

int daxkv_check(const char *dir, const struct daxkv_check_options *opts,
		struct daxkv_check_result *res)
{
	struct stat st;
	int dirfd, lockfd = -1, rc;

	dk_err_clear();
	if (!dir || !*dir || !opts || !res)
		return dk_err(DAXKV_EINVAL, "%s is NULL or empty",
			      !opts ? "opts" : !res ? "res" : "dir");
	if (strlen(dir) > DK_MAX_DIR_LEN)
		return dk_err(DAXKV_EINVAL, "directory name longer than %u",
			      DK_MAX_DIR_LEN);
	if (opts->version != DAXKV_CHECK_OPTIONS_VERSION ||
	    res->version != DAXKV_CHECK_RESULT_VERSION)
		return dk_err(DAXKV_EINVAL,
			      "check options version %u / result version %u, "
			      "expected %u / %u",
			      opts->version, res->version,
			      DAXKV_CHECK_OPTIONS_VERSION,
			      DAXKV_CHECK_RESULT_VERSION);
	if (opts->flags & ~DAXKV_CHECK_REPAIR)
		return dk_err(DAXKV_EINVAL, "unknown check flags 0x%x",
			      opts->flags & ~DAXKV_CHECK_REPAIR);
	memset(res, 0, sizeof(*res));
	res->version = DAXKV_CHECK_RESULT_VERSION;
	if (stat(dir, &st) != 0)
		return dk_err_errno(dk_errno_code(errno), errno, "%s", dir);
	if (!S_ISDIR(st.st_mode))
		return dk_err(DAXKV_ENODB, "%s is not a directory", dir);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return dk_err_errno(dk_errno_code(errno), errno, "%s", dir);
	if (faccessat(dirfd, "meta.pool", F_OK, 0) != 0) {
		rc = dk_err(DAXKV_ENODB, "%s: no daxkv database here "
			    "(meta.pool is missing)", dir);
		goto out_close_dir;
	}
	if (faccessat(dirfd, DK_BACKUP_MARKER, F_OK, 0) == 0) {
		rc = dk_err(DAXKV_ENODB, "%s is an unfinished backup (%s is "
			    "there): not a database", dir, DK_BACKUP_MARKER);
		goto out_close_dir;
	}
	/* the lock daxkv_open takes, so neither runs during the other; a
	 * check that repairs nothing shares it with read-only opens */
	rc = dk_dirlock_take(dir, dirfd, !(opts->flags & DAXKV_CHECK_REPAIR),
			     &lockfd);
	if (rc)
		goto out_close_dir;

	rc = dk_check_locked(dir, dirfd, opts, res);
	if (lockfd >= 0)
		close(lockfd); /* releases the lock */
out_close_dir:
	close(dirfd);
	return rc;
}
