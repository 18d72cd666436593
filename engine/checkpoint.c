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

#include "btree.h"
#include "bulk.h"
#include "checkpoint.h"
#include "crc32c.h"
#include "errors.h"
#include "hmap.h"
#include "index.h"
#include "internal.h"
#include "meta.h"
#include "record.h"

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

static void dk_ckpt_count(struct dk_entry *e, void *arg)
{
	if (e->cur && !(e->cur & DK_LOC_DEL))
		(*(uint64_t *)arg)++;
}

struct dk_ckpt_fill {
	struct dk_ckpt_entry *ents;
	uint64_t n;
};

static void dk_ckpt_add(struct dk_entry *e, void *arg)
{
	struct dk_ckpt_fill *f = arg;

	if (!e->cur || (e->cur & DK_LOC_DEL))
		return;
	f->ents[f->n].slot = DK_LOC_SLOT(e->cur);
	f->ents[f->n].offset = DK_LOC_OFF(e->cur);
	f->n++;
}

int dk_checkpoint_write(struct daxkv *db)
{
	struct dk_ckpt_header *hdr;
	struct dk_ckpt_tail *tails;
	struct dk_ckpt_entry *ents;
	uint64_t ntails = 0, nents = 0, gen = db->meta->ckpt_gen + 1;
	char tmp[4096], path[4096];
	size_t size;
	uint8_t *buf;
	int fd, rc;

	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
		if (db->segs[slot])
			ntails++;
	/* no writer is left: the tree may be walked plainly */
	dk_tree_foreach(db, dk_ckpt_count, &nents);
	size = sizeof(*hdr) + ntails * sizeof(*tails) + nents * sizeof(*ents);
	buf = calloc(1, size);
	if (!buf)
		return dk_err(DAXKV_ENOMEM, "no memory for the checkpoint");
	hdr = (struct dk_ckpt_header *)buf;
	tails = (struct dk_ckpt_tail *)(hdr + 1);
	ents = (struct dk_ckpt_entry *)(tails + ntails);
	{
		struct dk_ckpt_fill fill = { ents, 0 };

		dk_tree_foreach(db, dk_ckpt_add, &fill);
		nents = fill.n;
	}
	ntails = 0;
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++) {
		if (!db->segs[slot])
			continue;
		tails[ntails].slot = slot;
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

/*
 * Loading, with every thread of recovery_threads: each takes a share of
 * the entries (in key order) and checks them (slot, offset, the record's
 * crc and fields, key order with the one before), making an entry for
 * each; then each shard of the hash index is sized for what goes into it
 * and filled; then the tree is built from the entries as they are.  A
 * doubt about any entry throws everything made away: the caller scans
 * instead.
 */
struct dk_ckpt_load {
	struct daxkv *db;
	const struct dk_ckpt_entry *ents;
	uint64_t n;
	uint32_t nthreads;
	struct dk_alloc **als;
	struct dk_entry **es;   /* es[i] for ents[i] */
	uint64_t *hashes;
	uint64_t (*counts)[DK_HMAP_SHARDS]; /* [thread][shard] */
	int64_t **seglive;      /* [thread][slot] */
	uint64_t *max_seq, *live_bytes; /* [thread] */
	int bad;                /* atomic: an entry failed its check */
	int nomem;              /* atomic */
};

static void dk_ckpt_check_job(void *arg, uint32_t t)
{
	struct dk_ckpt_load *l = arg;
	struct daxkv *db = l->db;
	uint64_t lo = l->n * t / l->nthreads, hi = l->n * (t + 1) / l->nthreads;
	const struct dk_rec *prev = NULL;

	if (lo > 0 && lo < hi) {
		/* the key before this share, for the order check */
		const struct dk_ckpt_entry *pe = &l->ents[lo - 1];
		struct dk_segment *seg = pe->slot < DK_MAX_SEGMENTS ?
						 db->segs[pe->slot] : NULL;

		if (!seg || pe->offset < DK_SEG_HDR_SIZE ||
		    pe->offset >= seg->tail ||
		    dk_rec_check(seg, pe->offset, 0) != 0)
			goto out_bad;
		prev = (const struct dk_rec *)(seg->base + pe->offset);
	}
	for (uint64_t i = lo; i < hi; i++) {
		const struct dk_ckpt_entry *ce = &l->ents[i];
		struct dk_segment *seg = ce->slot < DK_MAX_SEGMENTS ?
						 db->segs[ce->slot] : NULL;
		const struct dk_rec *rec;
		struct dk_entry *e;
		uint64_t size;

		if (__atomic_load_n(&l->bad, __ATOMIC_RELAXED))
			return;
		if (i + 4 < hi) {
			const struct dk_ckpt_entry *ne = &l->ents[i + 4];
			struct dk_segment *ns = ne->slot < DK_MAX_SEGMENTS ?
							db->segs[ne->slot] :
							NULL;

			if (ns && ne->offset < ns->size) {
				__builtin_prefetch(ns->base + ne->offset);
				__builtin_prefetch(ns->base + ne->offset + 64);
				__builtin_prefetch(ns->base + ne->offset + 128);
			}
		}
		if (!seg || ce->offset < DK_SEG_HDR_SIZE ||
		    ce->offset >= seg->tail ||
		    dk_rec_check(seg, ce->offset, 0) != 0)
			goto out_bad;
		rec = (const struct dk_rec *)(seg->base + ce->offset);
		if (!(rec->flags & DK_REC_PUT) || rec->superseded != 0 ||
		    (prev && dk_keycmp(dk_rec_key(prev), prev->klen,
				       dk_rec_key(rec), rec->klen) >= 0))
			goto out_bad;
		prev = rec;
		if (rec->seq > l->max_seq[t])
			l->max_seq[t] = rec->seq;
		e = dk_entry_new(l->als[t], dk_rec_key(rec), rec->klen);
		if (!e) {
			__atomic_store_n(&l->nomem, 1, __ATOMIC_RELAXED);
			goto out_bad;
		}
		e->cur = DK_LOC(ce->slot, ce->offset);
		e->vlen = rec->vlen;
		e->linked = 1;
		l->es[i] = e;
		l->hashes[i] = dk_hash(dk_rec_key(rec), rec->klen);
		l->counts[t][dk_hmap_shard_of(l->hashes[i])]++;
		size = dk_rec_size(rec->klen, rec->vlen);
		l->seglive[t][ce->slot] += (int64_t)size;
		l->live_bytes[t] += size;
	}
	return;
out_bad:
	__atomic_store_n(&l->bad, 1, __ATOMIC_RELAXED);
}

static void dk_ckpt_hash_job(void *arg, uint32_t t)
{
	struct dk_ckpt_load *l = arg;
	uint64_t lo = l->n * t / l->nthreads, hi = l->n * (t + 1) / l->nthreads;

	for (uint64_t i = lo; i < hi; i++) {
		bool full;

		if (i + 8 < hi)
			dk_hmap_prefetch(l->db, l->hashes[i + 8]);
		/* shards were sized for this: never full */
		dk_hmap_insert(l->db, l->es[i], l->hashes[i], &full);
		dk_hmap_set(l->db, l->es[i], l->hashes[i], l->es[i]->cur);
	}
}

static void dk_ckpt_load_free(struct dk_ckpt_load *l)
{
	free(l->es);
	free(l->hashes);
	free(l->counts);
	if (l->seglive)
		for (uint32_t t = 0; t < l->nthreads; t++)
			free(l->seglive[t]);
	free(l->seglive);
	free(l->max_seq);
	free(l->live_bytes);
	dk_bulk_allocs_end(l->db, l->als, l->als ? l->nthreads : 0);
}

int dk_checkpoint_load(struct daxkv *db)
{
	const struct dk_ckpt_header *hdr;
	const struct dk_ckpt_tail *tails;
	struct dk_ckpt_load l;
	uint64_t max_seq = 0, nlive_segs = 0;
	size_t len = 0;
	char path[4096];
	uint8_t *buf;
	int rc = 1;

	memset(&l, 0, sizeof(l));
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
	    hdr->nentries > (len - sizeof(*hdr)) / sizeof(struct dk_ckpt_entry) ||
	    len != sizeof(*hdr) + hdr->ntails * sizeof(*tails) +
			   hdr->nentries * sizeof(struct dk_ckpt_entry) ||
	    hdr->crc != dk_crc32c(0, buf + 16, len - 16))
		goto out;
	tails = (const struct dk_ckpt_tail *)(hdr + 1);
	l.ents = (const struct dk_ckpt_entry *)(tails + hdr->ntails);
	l.n = hdr->nentries;

	/* the tails first: entries are checked against them */
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
		if (db->segs[slot])
			nlive_segs++;
	if (nlive_segs != hdr->ntails)
		goto out;
	for (uint64_t i = 0; i < hdr->ntails; i++) {
		struct dk_segment *seg = tails[i].slot < DK_MAX_SEGMENTS ?
						 db->segs[tails[i].slot] :
						 NULL;

		if (!seg || tails[i].tail < DK_SEG_HDR_SIZE ||
		    tails[i].tail > seg->size || tails[i].tail % DK_REC_ALIGN)
			goto out;
		seg->tail = tails[i].tail;
	}

	l.db = db;
	l.nthreads = db->recovery_threads ? db->recovery_threads : 1;
	if (l.nthreads > 64)
		l.nthreads = 64;
	if (l.n < 4096)
		l.nthreads = 1;
	l.es = calloc(l.n ? l.n : 1, sizeof(*l.es));
	l.hashes = malloc((l.n ? l.n : 1) * sizeof(*l.hashes));
	l.counts = calloc(l.nthreads, sizeof(*l.counts));
	l.seglive = calloc(l.nthreads, sizeof(*l.seglive));
	l.max_seq = calloc(l.nthreads, sizeof(*l.max_seq));
	l.live_bytes = calloc(l.nthreads, sizeof(*l.live_bytes));
	l.als = dk_bulk_allocs(db, l.nthreads);
	if (!l.es || !l.hashes || !l.counts || !l.seglive || !l.max_seq ||
	    !l.live_bytes || !l.als)
		goto out_nomem;
	for (uint32_t t = 0; t < l.nthreads; t++) {
		l.seglive[t] = calloc(DK_MAX_SEGMENTS, sizeof(int64_t));
		if (!l.seglive[t])
			goto out_nomem;
	}
	dk_bulk_run(l.nthreads, dk_ckpt_check_job, &l);
	if (l.nomem)
		goto out_nomem;
	if (l.bad) {
		/* nothing was published: the entries go back */
		for (uint64_t i = 0; i < l.n; i++)
			if (l.es[i])
				dk_free_entry(l.als[0], l.es[i]);
		goto out;
	}
	for (uint32_t s = 0; s < DK_HMAP_SHARDS; s++) {
		uint64_t c = 0;

		for (uint32_t t = 0; t < l.nthreads; t++)
			c += l.counts[t][s];
		if (c && dk_hmap_reserve_shard(db, s, c))
			goto out_nomem;
	}
	dk_bulk_run(l.nthreads, dk_ckpt_hash_job, &l);
	rc = dk_tree_build(db, l.als, l.nthreads, l.es, l.n);
	if (rc)
		goto out;
	for (uint32_t t = 0; t < l.nthreads; t++) {
		if (l.max_seq[t] > max_seq)
			max_seq = l.max_seq[t];
		db->live_bytes += l.live_bytes[t];
		for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
			if (l.seglive[t][slot])
				db->segs[slot]->live += l.seglive[t][slot];
	}
	db->nkeys = l.n;
	db->nentries = l.n;
	if (hdr->last_seq > max_seq)
		max_seq = hdr->last_seq;
	db->next_seq = max_seq + 1;
	db->recovered_records = hdr->nentries;
	rc = 0;
	goto out;
out_nomem:
	rc = dk_err(DAXKV_ENOMEM, "no memory to load the checkpoint");
out:
	dk_ckpt_load_free(&l);
	free(buf);
	return rc;
}
