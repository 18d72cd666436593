// SPDX-License-Identifier: MIT
/*
 * db.c -- daxkv_open/daxkv_close, the directory lock, options and stats.
 *
 * Open: check the arguments, take the directory lock (an OFD fcntl lock
 * on DIR/lock, which also holds the owner's pid for the EBUSY message),
 * find out how writes are made durable here (a small probe mapping:
 * MAP_SYNC on DAX, or msync), open or create the meta pool, then recover
 * (recovery.c).  Close: seal every segment, write the checkpoint, free.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint.h"
#include "compact.h"
#include "dirlock.h"
#include "errors.h"
#include "events.h"
#include "guard.h"
#include "index.h"
#include "media.h"
#include "internal.h"
#include "latency.h"
#include "meta.h"
#include "recovery.h"
#include "segment.h"
#include "spare.h"

void daxkv_options_init(struct daxkv_options *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->version = DAXKV_OPTIONS_VERSION;
	opts->segment_size = DK_SEG_DEFAULT;
}

const char *daxkv_version(void)
{
#define DK_STR2(x) #x
#define DK_STR(x) DK_STR2(x)
	return DK_STR(DAXKV_VERSION_MAJOR) "." DK_STR(
		DAXKV_VERSION_MINOR) "." DK_STR(DAXKV_VERSION_PATCH);
}

const char *daxkv_durability_name(enum daxkv_durability mode)
{
	switch (mode) {
	case DAXKV_DUR_MAP_SYNC:
		return "map_sync";
	case DAXKV_DUR_EADR:
		return "eadr";
	case DAXKV_DUR_MSYNC:
		return "msync";
	case DAXKV_DUR_EMULATED:
		return "emulated";
	case DAXKV_DUR_READONLY:
		return "read-only";
	default:
		return "unknown";
	}
}

static int dk_check_options(const struct daxkv_options *opts)
{
	const uint32_t known = DAXKV_OPEN_NOCREATE | DAXKV_OPEN_EXCLUSIVE |
			       DAXKV_OPEN_NOCHECKPOINT | DAXKV_OPEN_FORCE_MSYNC |
			       DAXKV_OPEN_NOCOMPACT | DAXKV_OPEN_RDONLY |
			       DAXKV_OPEN_NOLATENCY | DAXKV_OPEN_SALVAGE |
			       DAXKV_OPEN_NOBACKGROUND;

	if (opts->version < 1 || opts->version > DAXKV_OPTIONS_VERSION)
		return dk_err(DAXKV_EINVAL,
			      "options version %u, expected 1..%u (use "
			      "daxkv_options_init)",
			      opts->version, DAXKV_OPTIONS_VERSION);
	if (opts->flags & ~known)
		return dk_err(DAXKV_EINVAL, "unknown open flags 0x%x",
			      opts->flags & ~known);
	if ((opts->flags & DAXKV_OPEN_NOCREATE) &&
	    (opts->flags & DAXKV_OPEN_EXCLUSIVE))
		return dk_err(DAXKV_EINVAL, "NOCREATE and EXCLUSIVE together");
	if ((opts->flags & DAXKV_OPEN_RDONLY) &&
	    ((opts->flags & DAXKV_OPEN_EXCLUSIVE) || opts->max_size))
		return dk_err(DAXKV_EINVAL,
			      "RDONLY with %s: a read-only open changes nothing",
			      opts->max_size ? "max_size" : "EXCLUSIVE");
	if ((opts->flags & DAXKV_OPEN_RDONLY) &&
	    (opts->flags & DAXKV_OPEN_SALVAGE))
		return dk_err(DAXKV_EINVAL,
			      "RDONLY with SALVAGE: a salvage writes (open "
			      "read-write, or run kvctl check without --repair)");
	if (opts->segment_size &&
	    (opts->segment_size < DK_SEG_MIN || opts->segment_size > DK_SEG_MAX ||
	     opts->segment_size % DK_SEG_ALIGN))
		return dk_err(DAXKV_EINVAL,
			      "segment_size %llu: must be a multiple of 2 MiB "
			      "from 2 MiB to 1 GiB",
			      (unsigned long long)opts->segment_size);
	return 0;
}

/* How stores to a mapping that libpmem calls pmem are made durable. */
static enum daxkv_durability dk_pmem_durability(void)
{
	const char *force = getenv("PMEM_IS_PMEM_FORCE");

	if (force && !strcmp(force, "1"))
		return DAXKV_DUR_EMULATED;
	if (pmem_has_auto_flush() == 1)
		return DAXKV_DUR_EADR;
	return DAXKV_DUR_MAP_SYNC;
}

/* How will a store to this directory's mappings be made durable? */
static int dk_probe_durability(struct daxkv *db, bool force_msync)
{
	char path[4096];
	size_t mapped = 0;
	int is_pmem = 0;
	void *addr;

	db->force_msync = force_msync;
	if (force_msync) {
		db->pm.is_pmem = 0;
		db->durability = DAXKV_DUR_MSYNC;
		return 0;
	}
	snprintf(path, sizeof(path), "%s/.probe", db->dir);
	unlink(path);
	addr = pmem_map_file(path, DK_SEG_HDR_SIZE,
			     PMEM_FILE_CREATE | PMEM_FILE_EXCL, 0600, &mapped,
			     &is_pmem);
	if (!addr) {
		int err = errno;

		unlink(path);
		return dk_err_errno(dk_errno_code(err) == DAXKV_ENODB ?
					    DAXKV_EIO :
					    dk_errno_code(err),
				    err, "%s: cannot map a probe file", db->dir);
	}
	pmem_unmap(addr, mapped);
	unlink(path);
	db->pm.is_pmem = is_pmem;
	db->durability = is_pmem ? db->pmem_durability : DAXKV_DUR_MSYNC;
	return 0;
}

static void dk_db_free(struct daxkv *db)
{
	dk_lat_free(db);
	dk_index_destroy(db);
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
		dk_segment_unmap(db->segs[slot]);
	dk_meta_close(db);
	if (db->lockfd >= 0)
		close(db->lockfd); /* releases the lock */
	if (db->dirfd >= 0)
		close(db->dirfd);
	for (uint32_t i = 0; i < DK_MAX_LANES; i++)
		pthread_mutex_destroy(&db->lanes[i].lock);
	pthread_mutex_destroy(&db->lane_grow_lock);
	pthread_mutex_destroy(&db->seg_lock);
	pthread_mutex_destroy(&db->snap_lock);
	pthread_rwlock_destroy(&db->view_lock);
	pthread_cond_destroy(&db->compact_cond);
	pthread_mutex_destroy(&db->compact_lock);
	pthread_mutex_destroy(&db->hold_lock);
	pthread_mutex_destroy(&db->rmq_lock);
	pthread_mutex_destroy(&db->hmap_grow_lock);
	pthread_mutex_destroy(&db->compact_wait_lock);
	pthread_mutex_destroy(&db->spare_wait_lock);
	pthread_cond_destroy(&db->spare_cond);
	pthread_mutex_destroy(&db->listen_lock);
	free(db->snaps);
	free(db->dir);
	free(db);
}

/*
 * The database directory: there, or created unless NOCREATE.
 *
 * File-system operations that later steps rely on, each made durable
 * before the step that relies on it:
 *   mkdir(dir)            -> fsync(parent): the directory's name, before
 *                            any file in it is relied upon;
 *   meta.pool.tmp built   -> rename to meta.pool -> fsync(dir) (meta.c);
 *   segment file created, allocated, header persisted -> fsync(dir) ->
 *                            slot LIVE (segment.c);
 *   checkpoint.tmp written, fdatasync -> rename -> fsync(dir) -> ckpt_gen
 *                            -> clean (checkpoint.c);
 *   quarantine copy written, fdatasync -> link -> fsync(dir) -> the
 *                            segment's damaged bytes overwritten (check.c).
 * The lock file and the durability probe are never relied upon.
 */
static int dk_fsync_parent(const char *dir)
{
	char parent[4096];
	char *slash;
	int fd, rc = 0;

	snprintf(parent, sizeof(parent), "%s", dir);
	while (strlen(parent) > 1 && parent[strlen(parent) - 1] == '/')
		parent[strlen(parent) - 1] = '\0';
	slash = strrchr(parent, '/');
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = dk_err_errno(DAXKV_EIO, errno, "%s: fsync of the parent "
				  "directory", parent);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int dk_open_dir(const char *dir, uint32_t flags)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		if (errno != ENOENT)
			return dk_err_errno(dk_errno_code(errno), errno, "%s",
					    dir);
		if (flags & DAXKV_OPEN_NOCREATE)
			return dk_err(DAXKV_ENODB, "%s: no such database", dir);
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			int err = errno;

			return dk_err_errno(dk_errno_code(err) == DAXKV_ENODB ?
						    DAXKV_EINVAL :
						    dk_errno_code(err),
					    err, "%s: cannot create", dir);
		}
		return dk_fsync_parent(dir);
	} else if (!S_ISDIR(st.st_mode)) {
		return dk_err(DAXKV_EINVAL, "%s is not a directory", dir);
	}
	return 0;
}

/* A zeroed handle with its locks set up, or NULL. */
static struct daxkv *dk_db_alloc(void)
{
	pthread_rwlockattr_t ra;
	pthread_condattr_t ca;
	struct daxkv *db;

	/* aligned as its members ask (lanes, next_seq: a cache line each);
	 * calloc of this size returns 16 mod 64 */
	db = aligned_alloc(_Alignof(struct daxkv), sizeof(*db));
	if (!db)
		return NULL;
	memset(db, 0, sizeof(*db));
	db->dirfd = -1;
	db->lockfd = -1;
	for (uint32_t i = 0; i < DK_MAX_LANES; i++)
		pthread_mutex_init(&db->lanes[i].lock, NULL);
	pthread_mutex_init(&db->lane_grow_lock, NULL);
	pthread_mutex_init(&db->seg_lock, NULL);
	pthread_mutex_init(&db->snap_lock, NULL);
	/* a compaction's swap must not wait behind a stream of snapshot
	 * takers */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(
		&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&db->view_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&db->compact_cond, &ca);
	pthread_cond_init(&db->spare_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&db->spare_wait_lock, NULL);
	pthread_mutex_init(&db->compact_lock, NULL);
	pthread_mutex_init(&db->hold_lock, NULL);
	pthread_mutex_init(&db->rmq_lock, NULL);
	pthread_mutex_init(&db->hmap_grow_lock, NULL);
	pthread_mutex_init(&db->compact_wait_lock, NULL);
	pthread_mutex_init(&db->listen_lock, NULL);
	db->backend = DAXKV_BACKEND_AUTO;
	return db;
}

/* The directory's file descriptor and lock, and how stores to its
 * mappings are made durable. */
static int dk_open_lock(struct daxkv *db, const char *dir, uint32_t flags)
{
	int rc;

	db->dir = strdup(dir);
	if (!db->dir)
		return dk_err(DAXKV_ENOMEM, "no memory for a handle");
	db->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (db->dirfd < 0)
		return dk_err_errno(dk_errno_code(errno), errno, "%s", dir);
	if ((flags & DAXKV_OPEN_NOCREATE) &&
	    faccessat(db->dirfd, "meta.pool", F_OK, 0) != 0)
		return dk_err(DAXKV_ENODB, "%s: no daxkv database here", dir);
	/* before anything could be created in it (layout.h, backup.c) */
	if (faccessat(db->dirfd, DK_BACKUP_MARKER, F_OK, 0) == 0)
		return dk_err(DAXKV_ENODB,
			      "%s is an unfinished backup (%s is there): not a "
			      "database; remove it and take the backup again",
			      dir, DK_BACKUP_MARKER);
	rc = dk_dirlock_take(db->dir, db->dirfd, db->rdonly, &db->lockfd);
	if (rc)
		return rc;
	/* each segment's mode when its mapping is pmem (admin.c) */
	db->pmem_durability = dk_pmem_durability();
	if (db->rdonly) {
		/* no probe file: nothing is written, nothing made durable */
		db->durability = DAXKV_DUR_READONLY;
		return 0;
	}
	return dk_probe_durability(db, flags & DAXKV_OPEN_FORCE_MSYNC);
}

/* The meta pool, opened or created with a fresh uuid. */
static int dk_open_meta(struct daxkv *db, const struct daxkv_options *opts)
{
	uint8_t uuid[16];

	db->segment_size = opts->segment_size ? opts->segment_size :
						DK_SEG_DEFAULT;
	db->max_size = opts->max_size;
	if (db->rdonly)
		return dk_meta_read(db);
	if (getrandom(uuid, sizeof(uuid), 0) != (ssize_t)sizeof(uuid))
		return dk_err_errno(DAXKV_EIO, errno, "getrandom");
	uuid[6] = (uuid[6] & 0x0f) | 0x40; /* RFC 4122 version 4 */
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
	return dk_meta_open(db, !(opts->flags & DAXKV_OPEN_NOCREATE),
			    opts->flags & DAXKV_OPEN_EXCLUSIVE, uuid);
}

/*
 * DAXKV_OPEN_SALVAGE: the offline salvage (check.c), under the lock this
 * open holds, before anything else reads the files.  A problem it could
 * not repair is left for the open to refuse.
 */
static int dk_open_salvage(struct daxkv *db, const struct daxkv_options *opts)
{
	struct daxkv_check_options co = {
		.version = DAXKV_CHECK_OPTIONS_VERSION,
		.flags = DAXKV_CHECK_REPAIR,
	};
	struct daxkv_check_result res = {
		.version = DAXKV_CHECK_RESULT_VERSION
	};

	if (opts->version >= 2) {
		co.report = opts->salvage_report;
		co.arg = opts->salvage_arg;
	}
	db->salvage = true;
	return dk_check_locked(db->dir, db->dirfd, &co, &res);
}

/*
 * Unsafe shutdowns (as libpmemobj's SDS does, for the whole database).
 * Where flushes are the durability (MAP_SYNC, not eADR), a write is
 * durable once fenced only if the platform's flush-on-power-loss worked;
 * the DIMMs count the times it did not (USC).  Each open records the
 * count (meta root `sds`, one failure-atomic word) before any write; a
 * clean close leaves clean = 1.  So if the last session did not close
 * cleanly and the count moved since it opened, power was lost unsafely
 * while the database was open: fenced writes may be gone, which no
 * recovery can see.  Open refuses (ECORRUPT) unless salvaging, after
 * which the database is taken as it is.  Platforms that cannot tell (no
 * ndctl, emulated pmem, eADR, msync) skip this.
 */
static int dk_open_sds(struct daxkv *db)
{
	char path[4096];
	uint64_t word, old = db->meta->sds;
	int fd, rc;

	if (db->durability == DAXKV_DUR_EADR ||
	    db->durability == DAXKV_DUR_MSYNC)
		return 0;
	snprintf(path, sizeof(path), "%s/meta.pool", db->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	rc = dk_media_sds_word(fd, &word);
	close(fd);
	if (rc)
		return 0;
	if (!db->meta->clean && !db->salvage && old &&
	    old >> 32 == word >> 32 && old != word)
		return dk_err(DAXKV_ECORRUPT,
			      "%s offset %llu%s: unsafe shutdown while the "
			      "database was open (the device's unsafe shutdown "
			      "count moved from %llu to %llu): acknowledged "
			      "writes may be lost; check with kvctl check, then "
			      "open with DAXKV_OPEN_SALVAGE to take it as it is",
			      path,
			      (unsigned long long)(db->pop ?
				      (uint64_t)((uint8_t *)&db->meta->sds -
						 (uint8_t *)db->pop) :
				      offsetof(struct dk_meta_root, sds)),
			      db->pop ? "" : " of the root object",
			      (unsigned long long)((uint32_t)old - 1),
			      (unsigned long long)((uint32_t)word - 1));
	/* a read-only open records nothing (db->meta is a DRAM copy) */
	if (word != old && !db->rdonly)
		dk_meta_set(db, &db->meta->sds, word);
	return 0;
}

/* Recovery threads and lanes, from the CPUs online. */
static void dk_open_sizes(struct daxkv *db, const struct daxkv_options *opts)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu < 1)
		ncpu = 1;
	db->recovery_threads = opts->recovery_threads ?
				       opts->recovery_threads :
				       (uint32_t)ncpu;
	db->max_lanes = (uint32_t)(4 * ncpu);
	if (db->max_lanes < 4)
		db->max_lanes = 4;
	if (db->max_lanes > DK_MAX_LANES)
		db->max_lanes = DK_MAX_LANES;
}

int daxkv_open(const char *dir, const struct daxkv_options *opts,
	       daxkv **dbp)
{
	struct daxkv_options defaults, rdonly;
	struct daxkv *db;
	int rc;

	dk_err_clear();
	if (!dir || !*dir || !dbp)
		return dk_err(DAXKV_EINVAL, "%s is NULL or empty",
			      !dbp ? "dbp" : "dir");
	if (strlen(dir) > DK_MAX_DIR_LEN)
		return dk_err(DAXKV_EINVAL, "directory name longer than %u",
			      DK_MAX_DIR_LEN);
	if (!opts) {
		daxkv_options_init(&defaults);
		opts = &defaults;
	}
	rc = dk_check_options(opts);
	if (rc)
		return rc;
	if (opts->flags & DAXKV_OPEN_RDONLY) {
		/* creates nothing, and no compaction could write */
		rdonly = *opts;
		/* no background thread: the maker would make spare files */
		rdonly.flags |= DAXKV_OPEN_NOCREATE | DAXKV_OPEN_NOCOMPACT |
				DAXKV_OPEN_NOBACKGROUND;
		opts = &rdonly;
	}
	rc = dk_open_dir(dir, opts->flags);
	if (rc)
		return rc;

	db = dk_db_alloc();
	if (!db)
		return dk_err(DAXKV_ENOMEM, "no memory for a handle");
	db->rdonly = !!(opts->flags & DAXKV_OPEN_RDONLY);
	db->latency_off = !!(opts->flags & DAXKV_OPEN_NOLATENCY);
	rc = dk_open_lock(db, dir, opts->flags);
	if (rc)
		goto err;
	dk_guard_install();
	if ((opts->flags & DAXKV_OPEN_SALVAGE) &&
	    faccessat(db->dirfd, "meta.pool", F_OK, 0) == 0) {
		rc = dk_open_salvage(db, opts);
		if (rc)
			goto err;
	}
	rc = dk_open_meta(db, opts);
	if (rc)
		goto err;
	rc = dk_open_sds(db);
	if (rc)
		goto err;
	dk_open_sizes(db, opts);
	db->next_seq = 1;
	db->ignore_checkpoint = !!(opts->flags & DAXKV_OPEN_NOCHECKPOINT);
	rc = dk_index_init(db);
	if (rc)
		goto err;
	rc = dk_recover(db);
	if (rc)
		goto err;
	db->gc_horizon = db->next_seq - 1;
	if (!(opts->flags & DAXKV_OPEN_NOBACKGROUND)) {
		rc = dk_spare_start(db);
		if (rc)
			goto err;
	}
	if (!(opts->flags & (DAXKV_OPEN_NOCOMPACT | DAXKV_OPEN_NOBACKGROUND))) {
		rc = dk_compact_start(db);
		if (rc)
			goto err;
	}
	*dbp = db;
	return 0;
err:
	dk_spare_stop(db); /* spares made meanwhile are unlinked */
	dk_db_free(db);
	return rc;
}

int daxkv_close(daxkv *db)
{
	int rc = 0;

	dk_err_clear();
	if (!db)
		return 0;
	if (__atomic_load_n(&db->nsnapshots, __ATOMIC_RELAXED))
		return dk_err(DAXKV_EBUSY, "%llu snapshots are still open: "
			      "close them first",
			      (unsigned long long)__atomic_load_n(
				      &db->nsnapshots, __ATOMIC_RELAXED));
	if (__atomic_load_n(&db->ncursors, __ATOMIC_RELAXED))
		return dk_err(DAXKV_EBUSY, "%llu cursors are still open: "
			      "close them first",
			      (unsigned long long)__atomic_load_n(
				      &db->ncursors, __ATOMIC_RELAXED));
	/* the background compaction stops; what it retired goes */
	dk_compact_stop(db);
	/* no more segments made; the spares go (never LIVE) */
	dk_spare_stop(db);
	/* listeners (query backends) let go of the segments before they are
	 * unmapped: devices stop mirroring them */
	dk_listeners_close(db);
	/* no writer is left: every record below each tail is durable */
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS && !db->rdonly; slot++)
		if (db->segs[slot] &&
		    dk_segment_header(db->segs[slot])->sealed_tail !=
			    db->segs[slot]->tail)
			dk_segment_seal(db, db->segs[slot]);
	if (!db->rdonly)
		rc = dk_checkpoint_write(db);
	dk_db_free(db);
	return rc ? DAXKV_EIO : 0;
}

int daxkv_stat(daxkv *db, struct daxkv_stat *st)
{
	uint64_t bytes = 0;
	uint32_t version;

	dk_err_clear();
	if (!db || !st)
		return dk_err(DAXKV_EINVAL, "%s is NULL", db ? "st" : "db");
	if (st->version < 1 || st->version > DAXKV_STAT_VERSION)
		return dk_err(DAXKV_EINVAL, "stat version %u, expected 1..%u",
			      st->version, DAXKV_STAT_VERSION);
	version = st->version;
	/* an older caller's struct ends where its version's fields do */
	memset(st, 0, version == 1 ? offsetof(struct daxkv_stat, compactions) :
		      version == 2 ? offsetof(struct daxkv_stat, stale_marks) :
		      version == 3 ? offsetof(struct daxkv_stat,
					      compaction_errors) :
		      version == 4 ? offsetof(struct daxkv_stat,
					      tombstones_dropped) :
				     sizeof(*st));
	st->version = version;
	st->format_version = db->format_version;
	memcpy(st->uuid, db->meta->uuid, sizeof(st->uuid));
	st->segment_size = db->segment_size;
	st->max_size = db->max_size;
	st->durability = db->durability;
	st->recovery = db->recovery;
	st->recovery_ns = db->recovery_ns;
	st->recovered_records = db->recovered_records;
	st->discarded_records = db->discarded_records;
	pthread_mutex_lock(&db->seg_lock);
	st->segments = db->nsegs;
	for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
		if (db->segs[slot])
			bytes += __atomic_load_n(&db->segs[slot]->tail,
						 __ATOMIC_ACQUIRE) -
				 DK_SEG_HDR_SIZE;
	st->bytes_mapped = db->seg_bytes + db->pending_bytes;
	pthread_mutex_unlock(&db->seg_lock);
	st->bytes_written = bytes;
	{
		int64_t keys = (int64_t)db->nkeys, live = (int64_t)db->live_bytes;

		for (uint32_t i = 0; i < DK_MAX_LANES; i++) {
			const struct dk_lane *lane = &db->lanes[i];

			keys += __atomic_load_n(&lane->dkeys, __ATOMIC_RELAXED);
			live += __atomic_load_n(&lane->dlive, __ATOMIC_RELAXED);
			st->puts += __atomic_load_n(&lane->puts,
						    __ATOMIC_RELAXED);
			st->deletes += __atomic_load_n(&lane->deletes,
						       __ATOMIC_RELAXED);
			st->batches += __atomic_load_n(&lane->batches,
						       __ATOMIC_RELAXED);
			st->gets += __atomic_load_n(&db->rcount[i].gets,
						    __ATOMIC_RELAXED);
			st->scans += __atomic_load_n(&db->rcount[i].scans,
						     __ATOMIC_RELAXED);
		}
		st->keys = keys > 0 ? (uint64_t)keys : 0;
		st->live_bytes = live > 0 ? (uint64_t)live : 0;
	}
	st->last_seq = __atomic_load_n(&db->next_seq, __ATOMIC_RELAXED) - 1;
	st->lanes = __atomic_load_n(&db->nlanes, __ATOMIC_RELAXED);
	if (version >= 2) {
		st->compactions =
			__atomic_load_n(&db->compactions, __ATOMIC_RELAXED);
		st->segments_retired =
			__atomic_load_n(&db->segments_retired, __ATOMIC_RELAXED);
		st->bytes_compacted =
			__atomic_load_n(&db->bytes_compacted, __ATOMIC_RELAXED);
		/* no compact_lock: a burst of rounds holds it for long */
		st->segments_retiring =
			__atomic_load_n(&db->nretiring, __ATOMIC_RELAXED);
		pthread_mutex_lock(&db->seg_lock);
		for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
			if (db->segs[slot] &&
			    !__atomic_load_n(&db->segs[slot]->retiring,
					     __ATOMIC_ACQUIRE)) {
				int64_t l = __atomic_load_n(
					&db->segs[slot]->live, __ATOMIC_RELAXED);

				st->record_live_bytes += l > 0 ? (uint64_t)l : 0;
			}
		pthread_mutex_unlock(&db->seg_lock);
	}
	if (version >= 3) {
		st->stale_marks =
			__atomic_load_n(&db->stale_marks, __ATOMIC_RELAXED);
		dk_lat_fill(db, st);
	}
	if (version >= 4) {
		st->compaction_errors = __atomic_load_n(&db->compaction_errors,
							__ATOMIC_RELAXED);
		st->bad_blocks = db->bad_blocks;
		pthread_mutex_lock(&db->seg_lock);
		for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
			if (db->segs[slot] && !db->segs[slot]->pm.is_pmem)
				st->segments_msync++;
		pthread_mutex_unlock(&db->seg_lock);
	}
	if (version >= 5) {
		st->tombstones_dropped = __atomic_load_n(
			&db->tombstones_dropped, __ATOMIC_RELAXED);
		pthread_mutex_lock(&db->seg_lock);
		for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++)
			if (db->segs[slot] &&
			    !__atomic_load_n(&db->segs[slot]->retiring,
					     __ATOMIC_ACQUIRE)) {
				int64_t t = __atomic_load_n(
					&db->segs[slot]->tomb, __ATOMIC_RELAXED);

				st->tombstone_bytes += t > 0 ? (uint64_t)t : 0;
			}
		pthread_mutex_unlock(&db->seg_lock);
	}
	return 0;
}
