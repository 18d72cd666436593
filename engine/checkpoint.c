// SPDX-License-Identifier: MIT
/*
 * checkpoint.c -- the index checkpoint written by a clean close.
 *
 * A clean close lists, in key order, where the newest record of each live
 * key is, plus every segment's tail, in checkpoint.dat.  The next open
 * loads that instead of scanning every record.  The file is written with
 * ordinary I/O under a temporary name, fsynced and renamed; then the
 * meta pool's ckpt_gen is advanced and only then `clean` is set to 1.
 * Power failure before `clean` lands means a scan at the next open;
 * after it, the file is complete and matches ckpt_gen.  Open clears
 * `clean` before the first write, so a checkpoint is never trusted after
 * the data has moved on.  Anything wrong with the file (crc, generation,
 * a record it points to) makes open fall back to the scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "errors.h"
#include "guard.h"
#include "hmap.h"
#include "index.h"
#include "internal.h"
#include "meta.h"
#include "record.h"
#include "segment.h"

static int dk_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int dk_checkpoint_write(struct daxkv *db)
{
	struct dk_ckpt_header *hdr;
	struct dk_ckpt_tail *tails;
	struct dk_ckpt_entry *ents;
	uint64_t ntails = 0, nents = 0, gen = db->meta->ckpt_gen + 1;
	char tmp[4096], path[4096];
	struct dk_entry *e;
	size_t size;
	uint8_t *buf;
	int fd, rc;

	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
		if (db->segs[slot])
			ntails++;
	rcu_read_lock();
	for (e = dk_index_next(db->skip_head); e; e = dk_index_next(e))
		if (e->cur && !(e->cur & DK_LOC_DEL))
			nents++;
	size = sizeof(*hdr) + ntails * sizeof(*tails) + nents * sizeof(*ents);
	buf = calloc(1, size);
	if (!buf) {
		rcu_read_unlock();
		return dk_err(DAXKV_ENOMEM, "no memory for the checkpoint");
	}
	hdr = (struct dk_ckpt_header *)buf;
	tails = (struct dk_ckpt_tail *)(hdr + 1);
	ents = (struct dk_ckpt_entry *)(tails + ntails);
	nents = 0;
	for (e = dk_index_next(db->skip_head); e; e = dk_index_next(e)) {
		if (!e->cur || (e->cur & DK_LOC_DEL))
			continue;
		ents[nents].slot = DK_LOC_SLOT(e->cur);
		ents[nents].offset = DK_LOC_OFF(e->cur);
		nents++;
	}
	rcu_read_unlock();
	ntails = 0;
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++) {
		if (!db->segs[slot])
			continue;
		tails[ntails].slot = slot;
		tails[ntails].gen = db->segs[slot]->gen;
		tails[ntails].tail = db->segs[slot]->tail;
		ntails++;
	}
	memcpy(hdr->magic, DK_CKPT_MAGIC, sizeof(hdr->magic));
	hdr->format_version = DK_FORMAT_VERSION;
	memcpy(hdr->uuid, db->meta->uuid, sizeof(hdr->uuid));
	hdr->gen = gen;
	hdr->ntails = ntails;
	hdr->nentries = nents;
	hdr->last_seq = db->next_seq - 1;
	hdr->crc = dk_crc32c(0, buf + 16, size - 16);

	snprintf(tmp, sizeof(tmp), "%s/checkpoint.tmp", db->dir);
	snprintf(path, sizeof(path), "%s/checkpoint.dat", db->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = dk_err_errno(DAXKV_EIO, errno, "%s", tmp);
		goto out_free;
	}
	if (dk_write_all(fd, buf, size) != 0 || fdatasync(fd) != 0) {
		rc = dk_err_errno(DAXKV_EIO, errno, "%s: write", tmp);
		close(fd);
		unlink(tmp);
		goto out_free;
	}
	close(fd);
	if (rename(tmp, path) != 0 || fsync(db->dirfd) != 0) {
		rc = dk_err_errno(DAXKV_EIO, errno, "%s: rename", path);
		unlink(tmp);
		goto out_free;
	}
	/* file durable -> generation -> clean: each step needs the one
	 * before it, and `clean` alone makes the file trusted */
	dk_meta_set(db, &db->meta->ckpt_gen, gen);
	dk_meta_set(db, &db->meta->clean, 1);
	rc = 0;
out_free:
	free(buf);
	return rc;
}

static uint8_t *dk_read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = malloc(len ? (size_t)len : 1);
	if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	*lenp = (size_t)len;
out:
	fclose(f);
	return buf;
}

/* Pass 1 of dk_checkpoint_load over the entries (reads the segments):
 * every entry a valid put, newest of its key, keys in order. */
static bool dk_checkpoint_entries_ok(struct daxkv *db,
				     const struct dk_ckpt_entry *ents,
				     uint64_t nentries, uint64_t *max_seqp)
{
	const uint8_t *prev_key = NULL;
	size_t prev_klen = 0;
	uint64_t max_seq = 0;

	for (uint64_t i = 0; i < nentries; i++) {
		struct dk_segment *seg = ents[i].slot < DK_MAX_SEGMENTS ?
						 db->segs[ents[i].slot] :
						 NULL;
		const struct dk_rec *rec;

		if (!seg || ents[i].offset < DK_SEG_HDR_SIZE ||
		    ents[i].offset >= seg->tail ||
		    dk_rec_check(seg, ents[i].offset, 0) != 0)
			return false;
		rec = (const struct dk_rec *)(seg->base + ents[i].offset);
		if (!(rec->flags & DK_REC_PUT) || rec->superseded != 0 ||
		    (prev_key && dk_keycmp(prev_key, prev_klen, dk_rec_key(rec),
					   rec->klen) >= 0))
			return false;
		prev_key = dk_rec_key(rec);
		prev_klen = rec->klen;
		if (rec->seq > max_seq)
			max_seq = rec->seq;
	}
	*max_seqp = max_seq;
	return true;
}

int dk_checkpoint_load(struct daxkv *db)
{
	const struct dk_ckpt_header *hdr;
	const struct dk_ckpt_tail *tails;
	const struct dk_ckpt_entry *ents;
	uint64_t max_seq = 0, nlive_segs = 0;
	struct dk_guard g;
	bool ok;
	size_t len = 0;
	char path[4096];
	uint8_t *buf;
	int rc = 1;

	snprintf(path, sizeof(path), "%s/checkpoint.dat", db->dir);
	buf = dk_read_file(path, &len);
	if (!buf)
		return 1;
	hdr = (const struct dk_ckpt_header *)buf;
	if (len < sizeof(*hdr) ||
	    memcmp(hdr->magic, DK_CKPT_MAGIC, sizeof(hdr->magic)) ||
	    hdr->format_version != DK_FORMAT_VERSION ||
	    memcmp(hdr->uuid, db->meta->uuid, sizeof(hdr->uuid)) ||
	    hdr->gen != db->meta->ckpt_gen || hdr->ntails > DK_MAX_SEGMENTS ||
	    hdr->nentries > (len - sizeof(*hdr)) / sizeof(*ents) ||
	    len != sizeof(*hdr) + hdr->ntails * sizeof(*tails) +
			   hdr->nentries * sizeof(*ents) ||
	    hdr->crc != dk_crc32c(0, buf + 16, len - 16))
		goto out;
	tails = (const struct dk_ckpt_tail *)(hdr + 1);
	ents = (const struct dk_ckpt_entry *)(tails + hdr->ntails);

	/* pass 1: validate everything before touching the index */
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
		if (db->segs[slot])
			nlive_segs++;
	if (nlive_segs != hdr->ntails)
		goto out;
	for (uint64_t i = 0; i < hdr->ntails; i++) {
		struct dk_segment *seg = tails[i].slot < DK_MAX_SEGMENTS ?
						 db->segs[tails[i].slot] :
						 NULL;

		/* a clean close sealed every segment at its tail: a
		 * checkpoint that disagrees with a segment's own header (a
		 * flipped clean flag, an older meta.pool) is not trusted */
		if (!seg || tails[i].tail < DK_SEG_HDR_SIZE ||
		    tails[i].tail > seg->size || tails[i].tail % DK_REC_ALIGN ||
		    tails[i].gen != seg->gen ||
		    dk_segment_header(seg)->sealed_tail != tails[i].tail)
			goto out;
		seg->tail = tails[i].tail;
	}
	/* a media error while reading the records: the scan says where */
	if (sigsetjmp(g.env, 0)) {
		dk_guard_landed(&g);
		goto out;
	}
	dk_guard_push(&g);
	ok = dk_checkpoint_entries_ok(db, ents, hdr->nentries, &max_seq);
	dk_guard_pop(&g);
	if (!ok)
		goto out;

	/* pass 2: build (alone: no lane needed, the index grows in place) */
	rcu_read_lock();
	for (uint64_t i = 0; i < hdr->nentries; i++) {
		uint64_t loc = DK_LOC(ents[i].slot, ents[i].offset);
		struct dk_rec *rec = dk_rec_at(db, loc);
		uint64_t hash = dk_hash(dk_rec_key(rec), rec->klen);
		struct dk_entry *e;
		bool full;

		while (!(e = dk_index_get_or_create(db, dk_rec_key(rec),
						    rec->klen, hash, false,
						    &full)) &&
		       full && dk_hmap_grow(db) == 0)
			;
		if (!e) {
			rcu_read_unlock();
			rc = dk_err(DAXKV_ENOMEM,
				    "no memory to load the checkpoint");
			goto out;
		}
		e->cur = loc;
		e->vlen = rec->vlen;
		dk_hmap_set(db, e, hash, loc);
		db->nkeys++;
		db->live_bytes += dk_rec_size(rec->klen, rec->vlen);
		db->segs[ents[i].slot]->live +=
			(int64_t)dk_rec_size(rec->klen, rec->vlen);
	}
	rcu_read_unlock();
	rc = dk_index_build_order(db);
	if (rc)
		goto out;
	if (hdr->last_seq > max_seq)
		max_seq = hdr->last_seq;
	db->next_seq = max_seq + 1;
	db->recovered_records = hdr->nentries;
	rc = 0;
out:
	free(buf);
	return rc;
}
