// SPDX-License-Identifier: MIT
/*
 * check.c -- daxkv_check(): the offline verifier and repairer.
 *
 * The check reads a database exactly as recovery would: both walk a
 * segment's log batch by batch with dk_batch_end (record.c), so they end
 * it at the same place; the check then says where the two would disagree
 * with an intact database.  Recovery ends a segment's log at the first
 * invalid record or incomplete batch; it cannot tell a torn tail from a
 * damaged record that has valid records behind it, and silently ignores
 * the latter in an open segment.  So after the log ends, the check looks
 * further: first at the end the broken record's own header claims, then
 * at every 8-byte offset, for the next *complete batch* (a single valid
 * record, or all records of a batch) whose seq is not below the last one
 * kept.  A torn write cannot produce one (a write is one record or one
 * contiguous batch, and the engine zeroes what lies past a torn tail
 * before it appends there again), so finding one means damage:
 *
 *   sealed, log ends at sealed tail, nothing after   intact
 *   sealed, log ends past the sealed tail            bad sealed tail
 *   open,   only non-zero bytes after the log end    torn tail
 *   either, valid batch after unreadable bytes       damaged record(s)
 *   sealed, unreadable bytes up to the sealed tail   damaged record(s)
 *
 * Repairs never move or rewrite a valid record, so they are safe to
 * interrupt (the worst case is a second repair), and each is made
 * durable before the next step:
 *
 * - damaged bytes between valid batches are overwritten with delete
 *   records of a reserved key ("\xff" "dkfill" + zeros, one
 *   record per <= 1056 bytes).  Their seq is the last kept seq (or 1), so
 *   the segment's seq order holds, and a delete of a key nobody wrote is
 *   never visible: recovery drops the entry, scans and the version rule
 *   ignore delete records.
 * - a torn tail is zeroed, as segment.c does before the next append.
 * - damaged bytes up to a sealed tail are zeroed, then the sealed tail is
 *   lowered to the end of the log; a sealed tail below the log's end is
 *   raised to it.
 * - the meta pool's clean flag is cleared, so that the next open scans
 *   rather than trusting a checkpoint written before the repair.
 */
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
#include <unistd.h>

#include <libpmem.h>
#include <libpmemobj.h>

#include "crc32c.h"
#include "dirlock.h"
#include "errors.h"
#include "internal.h"
#include "meta.h"
#include "record.h"
#include "segment.h"

/* Filler key: this prefix, then zero bytes up to the record's end. */
#define DK_FILLER_KEY "\xff" "dkfill"
#define DK_FILLER_MAX (DK_REC_HDR_SIZE + DAXKV_MAX_KEY)
#define DK_FILLER_MIN dk_rec_size(sizeof(DK_FILLER_KEY) - 1, 0)

struct dk_check {
	const char *dir;
	const struct daxkv_check_options *opts;
	struct daxkv_check_result *res;
	bool repair;
	int stop;        /* non-zero: a callback asked to stop */
	bool changed;    /* a repair touched segment data */
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
	ck->stop = ck->opts->report(&problem, ck->opts->arg);
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

/* Offset of the next complete batch in (off, limit), or 0. */
static uint64_t dk_check_resync(const struct dk_segment *seg, uint64_t off,
				uint64_t limit, uint64_t min_seq)
{
	const struct dk_rec *rec = (const struct dk_rec *)(seg->base + off);
	uint32_t valid;

	/* the broken record's own header may still say where it ends */
	if (off + DK_REC_HDR_SIZE <= seg->size && rec->klen &&
	    rec->klen <= DAXKV_MAX_KEY && rec->vlen <= DAXKV_MAX_VALUE) {
		uint64_t next = off + dk_rec_size(rec->klen, rec->vlen);

		if (next < limit && dk_batch_end(seg, next, min_seq, &valid))
			return next;
	}
	for (uint64_t pos = off + DK_REC_ALIGN; pos + DK_REC_HDR_SIZE <= limit;
	     pos += DK_REC_ALIGN)
		if (dk_batch_end(seg, pos, min_seq, &valid))
			return pos;
	return 0;
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

/* Walk the records of one mapped, header-checked segment. */
static void dk_check_records(struct dk_check *ck, struct dk_segment *seg,
			     const char *path)
{
	const struct dk_seg_header *hdr = dk_segment_header(seg);
	uint64_t sealed = hdr->sealed_tail;
	uint64_t off = DK_SEG_HDR_SIZE, prev_seq = 0;
	bool repair = ck->repair;

	while (off < seg->size) {
		uint32_t valid;
		uint64_t end = dk_batch_end(seg, off, prev_seq, &valid);
		uint64_t limit, next, last;

		if (end) {
			const struct dk_rec *rec =
				(const struct dk_rec *)(seg->base + off);

			ck->res->records += rec->batch;
			ck->res->record_bytes += end - off;
			prev_seq = rec->seq;
			off = end;
			continue;
		}
		/* recovery's log ends here */
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
		limit = sealed ? sealed : seg->size;
		next = dk_check_resync(seg, off, limit, prev_seq);
		if (next) {
			if (next - off < DK_FILLER_MIN) {
				dk_check_report(ck, DAXKV_PROBLEM_RECORD, path,
						off, next - off, false, false,
						"%llu unreadable bytes before a "
						"valid record, too few to "
						"overwrite",
						(unsigned long long)(next - off));
			} else {
				if (repair)
					dk_check_fill(seg, off, next,
						      prev_seq ? prev_seq : 1);
				ck->changed |= repair;
				ck->res->dropped_records += valid;
				dk_check_report(ck, DAXKV_PROBLEM_RECORD, path,
						off, next - off, true, repair,
						"%llu unreadable bytes (damaged "
						"record%s) with valid records "
						"after them%s",
						(unsigned long long)(next - off),
						valid ? " or incomplete batch" : "",
						repair ? "; overwritten with "
							 "filler deletes" :
							 "");
			}
			if (ck->stop)
				return;
			off = next;
			continue;
		}
		if (sealed) {
			if (repair) {
				dk_check_zero(seg, off, sealed);
				dk_check_set_sealed(seg, off);
			}
			ck->changed |= repair;
			ck->res->dropped_records += valid;
			dk_check_report(ck, DAXKV_PROBLEM_RECORD, path, off,
					sealed - off, true, repair,
					"invalid record before the sealed tail "
					"%llu; open would refuse the segment%s",
					(unsigned long long)sealed,
					repair ? "; zeroed, sealed tail lowered" :
						 "");
			return;
		}
		/* open segment: anything non-zero left is a torn tail */
		last = seg->size;
		while (last > off &&
		       ((const uint64_t *)seg->base)[last / 8 - 1] == 0)
			last -= 8;
		if (last > off) {
			if (repair)
				dk_check_zero(seg, off, last);
			ck->changed |= repair;
			ck->res->dropped_records += valid;
			dk_check_report(ck, DAXKV_PROBLEM_TORN_TAIL, path, off,
					last - off, true, repair,
					"torn tail: %llu bytes of an "
					"unacknowledged write%s%s",
					(unsigned long long)(last - off),
					valid ? " (incomplete batch)" : "",
					repair ? "; zeroed" : "");
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

/* Map, check the header of, and walk the segment of one LIVE slot. */
static void dk_check_segment(struct dk_check *ck,
			     const struct dk_meta_root *root, uint32_t slot)
{
	char path[4096];
	struct dk_segment seg = { .slot = slot };
	const struct dk_seg_header *hdr;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/seg-%08u.dat", ck->dir, slot);
	ck->res->segments++;
	fd = open(path, (ck->repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 0, 0, false,
				false, "segment of LIVE slot %u: %s", slot,
				strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	/* format 2: each segment's size is its own, up to segment_size */
	if (root->format_version >= 2 ?
		    (uint64_t)st.st_size < DK_SEG_MIN ||
			    (uint64_t)st.st_size > root->segment_size ||
			    (uint64_t)st.st_size % DK_SEG_ALIGN :
		    (uint64_t)st.st_size != root->segment_size) {
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 0,
				(uint64_t)st.st_size, false, false,
				"size %llu, expected %s%llu (truncated?)",
				(unsigned long long)st.st_size,
				root->format_version >= 2 ?
					"a multiple of 2 MiB up to " : "",
				(unsigned long long)root->segment_size);
		close(fd);
		return;
	}
	seg.size = (uint64_t)st.st_size;
	seg.base = mmap(NULL, seg.size,
			PROT_READ | (ck->repair ? PROT_WRITE : 0), MAP_SHARED,
			fd, 0);
	close(fd);
	if (seg.base == MAP_FAILED) {
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 0, 0, false,
				false, "cannot map: %s", strerror(errno));
		return;
	}
	hdr = dk_segment_header(&seg);
	if (memcmp(hdr->magic, DK_SEG_MAGIC, sizeof(hdr->magic)) != 0 ||
	    hdr->crc != dk_crc32c(0, hdr, offsetof(struct dk_seg_header, crc)))
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 0, 64, false,
				false, "bad segment header (magic or crc)");
	else if (hdr->format_version != root->format_version)
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 8, 4, false,
				false, "segment format version %u, expected %u",
				hdr->format_version, root->format_version);
	else if (hdr->header_size != DK_SEG_HDR_SIZE ||
		 memcmp(hdr->uuid, root->uuid, sizeof(hdr->uuid)) != 0 ||
		 hdr->slot != slot || hdr->gen != root->segs[slot].gen ||
		 hdr->size != seg.size)
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 0, 64, false,
				false,
				"header belongs to another database or slot "
				"(slot %u gen %u, table says slot %u gen %u)",
				hdr->slot, hdr->gen, slot, root->segs[slot].gen);
	else if (hdr->sealed_tail &&
		 (hdr->sealed_tail < DK_SEG_HDR_SIZE ||
		  hdr->sealed_tail > seg.size ||
		  hdr->sealed_tail % DK_REC_ALIGN))
		dk_check_report(ck, DAXKV_PROBLEM_SEGMENT, path, 56, 8, false,
				false, "bad sealed tail %llu",
				(unsigned long long)hdr->sealed_tail);
	else
		dk_check_records(ck, &seg, path);
	munmap(seg.base, seg.size);
}

/* Segment files whose slot is not LIVE (open removes them too). */
static void dk_check_orphans(struct dk_check *ck,
			     const struct dk_meta_root *root, int dirfd)
{
	DIR *dir = opendir(ck->dir);
	struct dirent *de;
	char path[4096];

	if (!dir)
		return;
	while (!ck->stop && (de = readdir(dir)) != NULL) {
		unsigned slot;
		char tail;

		if (sscanf(de->d_name, "seg-%8u.dat%c", &slot, &tail) != 1 ||
		    strlen(de->d_name) != 16)
			continue;
		if (slot < DK_MAX_SEGMENTS &&
		    root->segs[slot].state == DK_SEG_LIVE)
			continue;
		snprintf(path, sizeof(path), "%s/%s", ck->dir, de->d_name);
		if (ck->repair)
			unlinkat(dirfd, de->d_name, 0);
		dk_check_report(ck, DAXKV_PROBLEM_ORPHAN, path, 0, 0, true,
				ck->repair,
				"segment file of a slot that is not LIVE (left "
				"by a crash during creation)%s",
				ck->repair ? "; removed" : "");
	}
	closedir(dir);
	if (ck->repair)
		fsync(dirfd);
}

/* Check the meta pool's root and table, then every segment. */
static int dk_check_pool(struct dk_check *ck, int dirfd)
{
	char path[4096];
	const struct dk_meta_root *root;
	struct dk_meta_root *wroot = NULL, *copy = NULL;
	PMEMobjpool *pop = NULL;
	uint64_t root_off;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/meta.pool", ck->dir);
	if (dk_meta_precheck(path) != 0) {
		/* words libpmemobj would trust: not safe to open at all */
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 0, 0, false,
				false, "%s", daxkv_errmsg());
		return 0;
	}
	if (!ck->repair) {
		/* pmemobj_open writes to the pool: read the root instead */
		rc = dk_meta_read_root(path, &copy, &root_off);
		if (rc == DAXKV_EPERM || rc == DAXKV_ENOMEM || rc == DAXKV_EIO)
			return rc;
		if (rc) {
			dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 0, 0,
					false, false, "not a valid daxkv pool: %s",
					daxkv_errmsg());
			return 0;
		}
		root = copy;
		goto check_root;
	}
	pop = pmemobj_open(path, DK_POOL_LAYOUT);
	if (!pop) {
		int err = errno;

		if (err == EACCES || err == EPERM)
			return dk_err_errno(DAXKV_EPERM, err, "%s", path);
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 0, 0, false,
				false, "not a valid daxkv pool: %s",
				pmemobj_errormsg());
		return 0;
	}
	if (pmemobj_root_size(pop) < sizeof(struct dk_meta_root)) {
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, 0, 0, false,
				false, "root object of %zu bytes, expected %zu",
				pmemobj_root_size(pop),
				sizeof(struct dk_meta_root));
		goto out_close;
	}
	wroot = pmemobj_direct(pmemobj_root(pop, sizeof(*wroot)));
	root = wroot;
	root_off = (uint64_t)((const char *)root - (const char *)pop);
check_root:
	if (memcmp(root->magic, DK_META_MAGIC, sizeof(root->magic)) != 0) {
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, root_off, 8,
				false, false, "root object has no daxkv magic");
		goto out_close;
	}
	if (root->format_version < DK_FORMAT_VERSION_MIN ||
	    root->format_version > DK_FORMAT_VERSION) {
		rc = dk_err(DAXKV_EVERSION,
			    "%s: format version %u, this library reads %u to %u",
			    path, root->format_version, DK_FORMAT_VERSION_MIN,
			    DK_FORMAT_VERSION);
		goto out_close;
	}
	if (root->segment_size < DK_SEG_MIN || root->segment_size > DK_SEG_MAX ||
	    root->segment_size % DK_SEG_ALIGN) {
		dk_check_report(ck, DAXKV_PROBLEM_POOL, path, root_off + 32, 8,
				false, false, "bad segment size %llu",
				(unsigned long long)root->segment_size);
		goto out_close;
	}
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS && !ck->stop; slot++) {
		uint32_t state = root->segs[slot].state;

		if (state > DK_SEG_RETIRED)
			dk_check_report(ck, DAXKV_PROBLEM_POOL, path,
					root_off + 80 + 16ull * slot, 4, false,
					false, "segment slot %u has unknown "
					"state %u",
					slot, state);
		else if (state == DK_SEG_LIVE)
			dk_check_segment(ck, root, slot);
	}
	if (!ck->stop)
		dk_check_orphans(ck, root, dirfd);
	if (ck->changed && wroot && root->clean) {
		/* the checkpoint predates the repair: make open scan */
		__atomic_store_n(&wroot->clean, 0, __ATOMIC_RELEASE);
		pmemobj_persist(pop, &wroot->clean, sizeof(wroot->clean));
	}
out_close:
	if (pop)
		pmemobj_close(pop);
	free(copy);
	return rc;
}

int daxkv_check(const char *dir, const struct daxkv_check_options *opts,
		struct daxkv_check_result *res)
{
	struct dk_check ck;
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

	memset(&ck, 0, sizeof(ck));
	ck.dir = dir;
	ck.opts = opts;
	ck.res = res;
	ck.repair = opts->flags & DAXKV_CHECK_REPAIR;
	if (opts->pool_check) {
		char path[4096];
		int found;

		snprintf(path, sizeof(path), "%s/meta.pool", dir);
		found = opts->pool_check(path, opts->arg);
		if (found < 0) {
			rc = found;
			goto out_unlock;
		}
		res->problems += (uint64_t)found;
	}
	rc = dk_check_pool(&ck, dirfd);
	if (!rc && ck.stop)
		rc = ck.stop;
out_unlock:
	if (lockfd >= 0)
		close(lockfd); /* releases the lock */
out_close_dir:
	close(dirfd);
	return rc;
}
