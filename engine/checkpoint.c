// SPDX-License-Identifier: MIT
/*
 * checkpoint.c -- the index checkpoint written by a clean close.
 *
 * A clean close lists, in key order, every live key and where its newest
 * record is, plus every segment's tail, in checkpoint.dat (layout.h).
 * The next open builds the index from that instead of scanning every
 * record: entries from the file's keys, the tree bottom up in the file's
 * order, the hash index sized once; the records are read only to be
 * checked, in the order they lie in the segments, so that they stream
 * instead of each costing a miss and a page walk.  The file is written with
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

#include "arena.h"
#include "btree.h"
#include "bulk.h"
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

struct dk_ckpt_fill {
	struct dk_ckpt_entry *ents; /* NULL: only count */
	uint8_t *keys;
	uint64_t n, keybytes;
};

static void dk_ckpt_add(struct dk_entry *e, void *arg)
{
	struct dk_ckpt_fill *f = arg;

	if (!e->cur || (e->cur & DK_LOC_DEL))
		return;
	if (f->ents) {
		f->ents[f->n].slot = DK_LOC_SLOT(e->cur);
		f->ents[f->n].offset = DK_LOC_OFF(e->cur);
		f->ents[f->n].vlen = e->vlen;
		f->ents[f->n].klen = e->klen;
		memcpy(f->keys + f->keybytes, e->key, e->klen);
	}
	f->n++;
	f->keybytes += e->klen;
}

int dk_checkpoint_write(struct daxkv *db)
{
	struct dk_ckpt_fill fill = { NULL, NULL, 0, 0 };
	struct dk_ckpt_header *hdr;
	struct dk_ckpt_tail *tails;
	uint64_t ntails = 0, gen = db->meta->ckpt_gen + 1;
	char tmp[4096], path[4096];
	size_t size;
	uint8_t *buf;
	int fd, rc;

	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
		if (db->segs[slot])
			ntails++;
	/* no writer is left: the tree may be walked plainly */
	dk_tree_foreach(db, dk_ckpt_add, &fill);
	size = sizeof(*hdr) + ntails * sizeof(*tails) +
	       fill.n * sizeof(struct dk_ckpt_entry) + fill.keybytes;
	buf = calloc(1, size);
	if (!buf)
		return dk_err(DAXKV_ENOMEM, "no memory for the checkpoint");
	hdr = (struct dk_ckpt_header *)buf;
	tails = (struct dk_ckpt_tail *)(hdr + 1);
	fill.ents = (struct dk_ckpt_entry *)(tails + ntails);
	fill.keys = (uint8_t *)(fill.ents + fill.n);
	fill.n = fill.keybytes = 0;
	dk_tree_foreach(db, dk_ckpt_add, &fill);
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
	hdr->nentries = fill.n;
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
 * Loading, with recovery_threads threads:
 *   1. each thread takes a share of the entries (in key order), checks
 *      each against the file and the segment tails (lengths in range,
 *      keys strictly ascending) and makes its entry from the file's key;
 *   2. the records' locations are sorted, segment by segment;
 *   3. each thread takes segments and checks their listed records in the
 *      order they lie in: crc and fields, a put, not superseded, the
 *      lengths and the key's hash the file gave;
 *   4. the hash index: each shard sized once, then filled;
 *   5. the tree, bottom up, from the entries in key order.
 * A doubt about any entry throws everything made away: the caller scans.
 */
struct dk_ckpt_load {
	struct daxkv *db;
	const struct dk_ckpt_entry *ents;
	const uint8_t *keys;
	uint64_t n, keybytes;
	uint32_t nthreads;
	uint64_t *koff;          /* [thread]: where its share's keys start */
	struct dk_alloc **als;
	struct dk_entry **es;    /* es[i] for ents[i] */
	uint64_t *hashes;
	uint64_t *byloc;         /* offset << 32 | i, grouped by slot */
	uint64_t *slot_start;    /* [DK_MAX_SEGMENTS + 1] into byloc */
	uint32_t next;           /* atomic: next slot to check */
	uint64_t (*counts)[DK_HMAP_SHARDS]; /* [thread][shard] */
	int64_t **seglive;       /* [thread][slot] */
	uint64_t *max_seq, *live_bytes; /* [thread] */
	int bad;                 /* atomic: an entry failed its check */
	int nomem;               /* atomic */
};

/* Does entry @p i of the file make sense by itself? */
static bool dk_ckpt_entry_ok(const struct dk_ckpt_load *l, uint64_t i)
{
	const struct dk_ckpt_entry *ce = &l->ents[i];
	struct dk_segment *seg = ce->slot < DK_MAX_SEGMENTS ?
					 l->db->segs[ce->slot] : NULL;

	return seg && ce->offset >= DK_SEG_HDR_SIZE &&
	       ce->offset % DK_REC_ALIGN == 0 &&
	       ce->offset + dk_rec_size(ce->klen, ce->vlen) <= seg->tail &&
	       ce->klen >= 1 && ce->klen <= DAXKV_MAX_KEY &&
	       ce->vlen <= DAXKV_MAX_VALUE && ce->reserved == 0;
}

/* Where each thread's share of the keys starts; false if the lengths do
 * not add up to the key bytes. */
static bool dk_ckpt_key_offsets(struct dk_ckpt_load *l)
{
	uint64_t off = 0;
	uint32_t t = 0;

	for (uint64_t i = 0; i <= l->n; i++) {
		while (t < l->nthreads && i == l->n * t / l->nthreads)
			l->koff[t++] = off;
		if (i < l->n)
			off += l->ents[i].klen;
	}
	return off == l->keybytes;
}

static void dk_ckpt_entries_job(void *arg, uint32_t t)
{
	struct dk_ckpt_load *l = arg;
	uint64_t lo = l->n * t / l->nthreads, hi = l->n * (t + 1) / l->nthreads;
	const uint8_t *key = l->keys + l->koff[t], *prev = NULL;
	size_t plen = 0;

	if (lo > 0 && lo < hi) {
		/* the key before this share, for the order check */
		plen = l->ents[lo - 1].klen;
		prev = key - plen;
	}
	for (uint64_t i = lo; i < hi; i++) {
		size_t klen = l->ents[i].klen;
		struct dk_entry *e;

		if (__atomic_load_n(&l->bad, __ATOMIC_RELAXED))
			return;
		if (!dk_ckpt_entry_ok(l, i) ||
		    (prev && dk_keycmp(prev, plen, key, klen) >= 0))
			goto out_bad;
		e = dk_entry_new(l->als[t], key, klen);
		if (!e) {
			__atomic_store_n(&l->nomem, 1, __ATOMIC_RELAXED);
			goto out_bad;
		}
		e->cur = DK_LOC(l->ents[i].slot, l->ents[i].offset);
		e->vlen = l->ents[i].vlen;
		e->linked = 1;
		l->es[i] = e;
		l->hashes[i] = dk_hash(key, klen);
		l->counts[t][dk_hmap_shard_of(l->hashes[i])]++;
		prev = key;
		plen = klen;
		key += klen;
	}
	return;
out_bad:
	__atomic_store_n(&l->bad, 1, __ATOMIC_RELAXED);
}

/* Sort v[0..n) by their upper 32 bits (offsets): two 16-bit passes. */
static int dk_sort_by_offset(uint64_t *v, size_t n)
{
	uint64_t *tmp;
	size_t *cnt;

	if (n < 2)
		return 0;
	tmp = malloc(n * sizeof(*tmp));
	cnt = malloc(65536 * sizeof(*cnt));
	if (!tmp || !cnt) {
		free(tmp);
		free(cnt);
		return -1;
	}
	for (int pass = 0; pass < 2; pass++) {
		unsigned shift = 32 + 16 * (unsigned)pass;
		size_t sum = 0;

		memset(cnt, 0, 65536 * sizeof(*cnt));
		for (size_t i = 0; i < n; i++)
			cnt[(v[i] >> shift) & 0xffff]++;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = cnt[d];

			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[cnt[(v[i] >> shift) & 0xffff]++] = v[i];
		memcpy(v, tmp, n * sizeof(*v));
	}
	free(tmp);
	free(cnt);
	return 0;
}

static void dk_ckpt_records_job(void *arg, uint32_t t)
{
	struct dk_ckpt_load *l = arg;
	struct daxkv *db = l->db;
	struct dk_guard g;
	uint32_t slot;

	while ((slot = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED)) <
	       DK_MAX_SEGMENTS) {
		uint64_t *v = l->byloc + l->slot_start[slot];
		size_t n = l->slot_start[slot + 1] - l->slot_start[slot];
		struct dk_segment *seg = db->segs[slot];

		if (n == 0)
			continue;
		if (__atomic_load_n(&l->bad, __ATOMIC_RELAXED))
			return;
		if (dk_sort_by_offset(v, n)) {
			__atomic_store_n(&l->nomem, 1, __ATOMIC_RELAXED);
			goto out_bad;
		}
		/* a media error while reading the records: the scan that
		 * follows says where */
		if (sigsetjmp(g.env, 0)) {
			dk_guard_landed(&g);
			goto out_bad;
		}
		dk_guard_push(&g);
		for (size_t j = 0; j < n; j++) {
			uint64_t off = v[j] >> 32, i = (uint32_t)v[j];
			const struct dk_ckpt_entry *ce = &l->ents[i];
			const struct dk_rec *rec;
			uint64_t size;

			/* the entry is not read: its key's hash stands for it
			 * (64 bits, beside the record's crc and the file's) */
			if (j + 8 < n)
				__builtin_prefetch(
					&l->hashes[(uint32_t)v[j + 8]]);
			if ((j && off == v[j - 1] >> 32) ||
			    dk_rec_check(seg, off, 0) != 0)
				goto out_bad_guarded;
			rec = (const struct dk_rec *)(seg->base + off);
			size = dk_rec_size(rec->klen, rec->vlen);
			if (!(rec->flags & DK_REC_PUT) || rec->superseded != 0 ||
			    off + size > seg->tail || rec->klen != ce->klen ||
			    rec->vlen != ce->vlen ||
			    dk_hash(dk_rec_key(rec), rec->klen) != l->hashes[i])
				goto out_bad_guarded;
			if (rec->seq > l->max_seq[t])
				l->max_seq[t] = rec->seq;
			l->seglive[t][slot] += (int64_t)size;
			l->live_bytes[t] += size;
		}
		dk_guard_pop(&g);
	}
	return;
out_bad_guarded:
	dk_guard_pop(&g);
out_bad:
	__atomic_store_n(&l->bad, 1, __ATOMIC_RELAXED);
}

static void dk_ckpt_hash_job(void *arg, uint32_t t)
{
	struct dk_ckpt_load *l = arg;
	uint64_t lo = l->n * t / l->nthreads, hi = l->n * (t + 1) / l->nthreads;

	for (uint64_t i = lo; i < hi; i++) {
		bool full;

		if (i + 16 < hi)
			dk_hmap_prefetch(l->db, l->hashes[i + 16]);
		/* shards were sized for this: never full */
		dk_hmap_insert(l->db, l->es[i], l->hashes[i], &full);
		dk_hmap_set(l->db, l->es[i], l->hashes[i], l->es[i]->cur);
	}
}

static void dk_ckpt_load_free(struct dk_ckpt_load *l)
{
	free(l->es);
	dk_huge_unmap(l->hashes, ((l->n ? l->n : 1) * sizeof(*l->hashes) +
				  4095) & ~(size_t)4095);
	free(l->koff);
	free(l->byloc);
	free(l->slot_start);
	free(l->counts);
	if (l->seglive)
		for (uint32_t t = 0; t < l->nthreads; t++)
			free(l->seglive[t]);
	free(l->seglive);
	free(l->max_seq);
	free(l->live_bytes);
	dk_bulk_allocs_end(l->db, l->als, l->als ? l->nthreads : 0);
}

/* Step 2: byloc grouped by slot (a counting sort); false if no memory. */
static bool dk_ckpt_group(struct dk_ckpt_load *l)
{
	uint64_t *pos;

	l->byloc = malloc((l->n ? l->n : 1) * sizeof(*l->byloc));
	l->slot_start = calloc(DK_MAX_SEGMENTS + 1, sizeof(*l->slot_start));
	pos = malloc(DK_MAX_SEGMENTS * sizeof(*pos));
	if (!l->byloc || !l->slot_start || !pos) {
		free(pos);
		return false;
	}
	for (uint64_t i = 0; i < l->n; i++)
		l->slot_start[l->ents[i].slot + 1]++;
	for (uint32_t s = 0; s < DK_MAX_SEGMENTS; s++) {
		l->slot_start[s + 1] += l->slot_start[s];
		pos[s] = l->slot_start[s];
	}
	for (uint64_t i = 0; i < l->n; i++)
		l->byloc[pos[l->ents[i].slot]++] =
			(uint64_t)l->ents[i].offset << 32 | (uint32_t)i;
	free(pos);
	return true;
}

int dk_checkpoint_load(struct daxkv *db)
{
	const struct dk_ckpt_header *hdr;
	const struct dk_ckpt_tail *tails;
	struct dk_ckpt_load l;
	uint64_t max_seq = 0, nlive_segs = 0, fixed;
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
	    hdr->nentries > len / sizeof(struct dk_ckpt_entry) ||
	    hdr->nentries > UINT32_MAX)
		goto out;
	fixed = sizeof(*hdr) + hdr->ntails * sizeof(*tails) +
		hdr->nentries * sizeof(struct dk_ckpt_entry);
	if (len < fixed || hdr->crc != dk_crc32c(0, buf + 16, len - 16))
		goto out;
	tails = (const struct dk_ckpt_tail *)(hdr + 1);
	l.ents = (const struct dk_ckpt_entry *)(tails + hdr->ntails);
	l.keys = buf + fixed;
	l.keybytes = len - fixed;
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

	l.db = db;
	l.nthreads = db->recovery_threads ? db->recovery_threads : 1;
	if (l.nthreads > 64)
		l.nthreads = 64;
	if (l.n < 4096)
		l.nthreads = 1;
	l.koff = calloc(l.nthreads, sizeof(*l.koff));
	l.es = calloc(l.n ? l.n : 1, sizeof(*l.es));
	/* read at random (by location): on huge pages */
	l.hashes = dk_huge_map(((l.n ? l.n : 1) * sizeof(*l.hashes) + 4095) &
			       ~(size_t)4095);
	l.counts = calloc(l.nthreads, sizeof(*l.counts));
	l.seglive = calloc(l.nthreads, sizeof(*l.seglive));
	l.max_seq = calloc(l.nthreads, sizeof(*l.max_seq));
	l.live_bytes = calloc(l.nthreads, sizeof(*l.live_bytes));
	l.als = dk_bulk_allocs(db, l.nthreads);
	if (!l.es || !l.hashes || !l.counts || !l.seglive || !l.max_seq ||
	    !l.live_bytes || !l.als || !l.koff)
		goto out_nomem;
	if (!dk_ckpt_key_offsets(&l))
		goto out;
	for (uint32_t t = 0; t < l.nthreads; t++) {
		l.seglive[t] = calloc(DK_MAX_SEGMENTS, sizeof(int64_t));
		if (!l.seglive[t])
			goto out_nomem;
	}
	dk_bulk_run(l.nthreads, dk_ckpt_entries_job, &l);
	if (!l.bad) {
		if (!dk_ckpt_group(&l))
			goto out_nomem;
		dk_bulk_run(l.nthreads, dk_ckpt_records_job, &l);
	}
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
