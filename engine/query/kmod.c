// SPDX-License-Identifier: MIT
/*
 * kmod.c -- the KMOD backend: queries evaluated by the daxmirror
 * module's emulated device (kmod/, docs/kmod.md).
 *
 * Per handle, /dev/daxmirror is opened once, at the first question about
 * the backend, and its answer (usable or why not) is kept.  The device
 * address space of that file mirrors every segment a query has touched:
 * the first query that meets a slot MAPs the whole segment mapping
 * (base .. base + its size), once, under the state's mutex.  Queries
 * then hand the module their units as they are (the device reads the
 * records through its own page table, faulting on a miss) and get back
 * aggregates and, for ROWS, copies of the matching records in the record
 * format, which go to the execution's row buffer as they come.
 *
 * Compaction retires a segment only when no snapshot needs it, and tells
 * the handle's listeners first (engine/events.h): this backend's UNMAPs
 * its range (dk_kmod_forget()); a slot met again (reused,
 * maybe at another address) is MAPped afresh, and dk_kmod_map_slot() also
 * replaces a range left for a slot whose mapping moved.  Even without the
 * UNMAP, the device could not read a retired segment's blocks: munmap or
 * truncate invalidates the mirror, and a query over it fails -EFAULT.
 *
 * Concurrent queries share the file: the module runs up to
 * DAXMIRROR_MAX_CALLS of its calls at once and queues the rest, and a
 * MAP does not wait for queries in flight.
 *
 * Errors.  What the device cannot read is named by segment file and
 * offset (the module's err_addr, inside the segment mapping of a unit):
 * poisoned memory (-EIO: a page the kernel has marked hardware-poisoned,
 * or a machine check on the device's machine-check-safe read) is
 * DAXKV_EIO, and AUTO does not answer on the CPU instead: the CPU backend
 * would load from the same page, which the kernel has unmapped, and the
 * process would get SIGBUS.  Memory the module does not mirror (a
 * segment on a file system without -o dax: -EOPNOTSUPP, or more segments
 * than it takes: -ENOSPC) is DAXKV_ENOTSUP, "the device declines this
 * database", and AUTO answers on the CPU.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "daxkv.h"
#include "daxmirror_uapi.h"
#include "events.h"
#include "internal.h"
#include "backend.h"
#include "segment.h"

/* Rows buffer of a ROWS query: at least this, and at least a unit. */
#define DK_KMOD_ROWS_CAP (8u << 20)

struct dk_kmod {
	struct dk_listener listener; /* first: the callbacks cast it back */
	pthread_mutex_t lock; /* protects everything below */
	int fd;		      /* /dev/daxmirror, -1 when not usable */
	bool probed;	      /* fd and why are the final answer */
	char why[200];	      /* why the backend is not usable */
	uint64_t lanes;	      /* lanes of the device, at most */
	/* Mapping MAPped for each slot, NULL if none; read without the lock
	 * (acquire) by queries that only need to know it is there. */
	const uint8_t *mapped[DK_MAX_SEGMENTS];
	uint64_t map_len[DK_MAX_SEGMENTS];
};

static void dk_kmod_segment_event(struct dk_listener *l, struct daxkv *db,
				  struct dk_segment *seg, enum dk_seg_event ev);
static void dk_kmod_close(struct dk_listener *l, struct daxkv *db);

/* Creates the per-handle states (rarely: once per handle). */
static pthread_mutex_t dk_kmod_state_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The handle's state, created at the first question and registered as a
 * listener of the handle's segments before any query can map one, so no
 * retirement is missed.
 */
static struct dk_kmod *dk_kmod_state(struct daxkv *db)
{
	void **word = dk_backend_state(db, DAXKV_BACKEND_KMOD);
	struct dk_kmod *k = __atomic_load_n(word, __ATOMIC_ACQUIRE);

	if (k)
		return k;
	pthread_mutex_lock(&dk_kmod_state_lock);
	k = *word;
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (k) {
			k->fd = -1;
			pthread_mutex_init(&k->lock, NULL);
			k->listener.segment = dk_kmod_segment_event;
			k->listener.close = dk_kmod_close;
			if (dk_listener_add(db, &k->listener) == 0) {
				__atomic_store_n(word, k, __ATOMIC_RELEASE);
			} else {
				pthread_mutex_destroy(&k->lock);
				free(k);
				k = NULL;
			}
		}
	}
	pthread_mutex_unlock(&dk_kmod_state_lock);
	return k;
}

/* Open the device and ask its version, once.  Under k->lock. */
static void dk_kmod_probe(struct dk_kmod *k)
{
	struct daxmirror_version ver = {.size = sizeof(ver)};
	int fd, err;

	if (k->probed)
		return;
	k->probed = true;
	fd = open("/dev/" DAXMIRROR_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (err == ENOENT)
			snprintf(k->why, sizeof(k->why),
				 "the daxmirror module is not loaded "
				 "(no /dev/" DAXMIRROR_DEVICE_NAME ")");
		else
			snprintf(k->why, sizeof(k->why),
				 "cannot open /dev/" DAXMIRROR_DEVICE_NAME
				 ": %s",
				 strerror(err));
		return;
	}
	if (ioctl(fd, DAXMIRROR_IOC_VERSION, &ver)) {
		err = errno;
		if (err == ENOTTY)
			snprintf(k->why, sizeof(k->why),
				 "the daxmirror module is too old "
				 "(no VERSION ioctl; API %llu needed)",
				 (unsigned long long)DAXMIRROR_API_VERSION);
		else
			snprintf(k->why, sizeof(k->why),
				 "daxmirror VERSION failed: %s", strerror(err));
		close(fd);
		return;
	}
	if (ver.api < DAXMIRROR_API_VERSION) {
		snprintf(k->why, sizeof(k->why),
			 "the daxmirror module is too old (API %llu, "
			 "%llu needed)",
			 (unsigned long long)ver.api,
			 (unsigned long long)DAXMIRROR_API_VERSION);
		close(fd);
		return;
	}
	k->fd = fd;
	k->lanes = ver.lanes ? ver.lanes : 1;
}

static int dk_kmod_available(struct daxkv *db, char *why, size_t len)
{
	struct dk_kmod *k = dk_kmod_state(db);
	int ok;

	if (!k) {
		snprintf(why, len, "no memory for the KMOD backend's state");
		return 0;
	}
	pthread_mutex_lock(&k->lock);
	dk_kmod_probe(k);
	ok = k->fd >= 0;
	if (!ok)
		snprintf(why, len, "%s", k->why);
	pthread_mutex_unlock(&k->lock);
	return ok;
}

/* Make sure the device mirrors slot's segment at base.  Returns 0 or a
 * DAXKV_E* code with the message set. */
static int dk_kmod_map_slot(struct daxkv *db, struct dk_kmod *k, uint32_t slot,
			    const uint8_t *base)
{
	struct daxmirror_map map = {.size = sizeof(map)};
	uint64_t map_len;
	char msg[256];
	int rc = 0, mrc;

	if (slot >= DK_MAX_SEGMENTS)
		return dk_query_err(DAXKV_EINVAL, "query unit of a bad slot");
	if (__atomic_load_n(&k->mapped[slot], __ATOMIC_ACQUIRE) == base)
		return 0;
	pthread_mutex_lock(&k->lock);
	if (k->mapped[slot] == base)
		goto out_unlock;
	if (k->mapped[slot]) {
		/* The slot holds another mapping now: drop the old range. */
		struct daxmirror_unmap um = {
		    .size = sizeof(um),
		    .addr = (uintptr_t)k->mapped[slot],
		    .len = k->map_len[slot],
		};

		if (ioctl(k->fd, DAXMIRROR_IOC_UNMAP, &um) && errno != ENOENT) {
			snprintf(msg, sizeof(msg),
				 "daxmirror UNMAP of segment slot %u: %s", slot,
				 strerror(errno));
			rc = dk_query_err(DAXKV_EIO, msg);
			goto out_unlock;
		}
		__atomic_store_n(&k->mapped[slot], NULL, __ATOMIC_RELEASE);
	}
	map.addr = (uintptr_t)base;
	/* the segment the unit lies in: a snapshot keeps it (each segment's
	 * size is its own, layout.h) */
	map.len = __atomic_load_n(&db->segs[slot], __ATOMIC_ACQUIRE)->size;
	map_len = map.len;
	mrc = ioctl(k->fd, DAXMIRROR_IOC_MAP, &map);
	if (mrc && errno == EEXIST) {
		/*
		 * A range this handle registered for another slot overlaps:
		 * that slot's mapping is gone (this segment is mapped there
		 * now), so its registration is stale.  Drop every such one
		 * and register again.
		 */
		for (uint32_t j = 0; j < DK_MAX_SEGMENTS; j++) {
			uintptr_t a = (uintptr_t)k->mapped[j];
			struct daxmirror_unmap um = {
			    .size = sizeof(um),
			    .addr = a,
			    .len = k->map_len[j],
			};

			if (!a || a >= map.addr + map.len ||
			    a + k->map_len[j] <= map.addr)
				continue;
			(void)ioctl(k->fd, DAXMIRROR_IOC_UNMAP, &um);
			__atomic_store_n(&k->mapped[j], NULL,
					 __ATOMIC_RELEASE);
		}
		mrc = ioctl(k->fd, DAXMIRROR_IOC_MAP, &map);
		if (mrc && errno == EEXIST) {
			/* a registration the table lost: this very range */
			struct daxmirror_unmap um = {
			    .size = sizeof(um),
			    .addr = map.addr,
			    .len = map.len,
			};

			(void)ioctl(k->fd, DAXMIRROR_IOC_UNMAP, &um);
			mrc = ioctl(k->fd, DAXMIRROR_IOC_MAP, &map);
		}
	}
	if (mrc) {
		int err = errno;

		snprintf(msg, sizeof(msg),
			 "daxmirror MAP of segment slot %u (%llu bytes): %s%s",
			 slot, (unsigned long long)map.len, strerror(err),
			 err == ENOSPC ? " (the device mirrors at most "
					 "1024 segments and 64 GiB)"
			 : err == EOPNOTSUPP
			     ? " (the device mirrors only DAX memory: a file "
			       "system mounted -o dax, or devdax)"
			     : "");
		/* Over the device's limits, or not DAX memory: the device
		 * declines, and AUTO answers on the CPU. */
		rc = dk_query_err(err == ENOSPC || err == EOPNOTSUPP
				      ? DAXKV_ENOTSUP
				      : DAXKV_EIO,
				  msg);
		goto out_unlock;
	}
	/* Not map.len: a module before 0.2.1 zeroes the (in) fields of
	 * the MAP argument it copies back. */
	k->map_len[slot] = map_len;
	__atomic_store_n(&k->mapped[slot], base, __ATOMIC_RELEASE);
out_unlock:
	pthread_mutex_unlock(&k->lock);
	return rc;
}

/*
 * A QUERY failed with @p err.  For the errors the module places (EIO,
 * EFAULT, EOPNOTSUPP: q->err_addr, the page, or for a machine check the
 * first byte it hit) the message names the segment: slot and offset
 * first (they survive a long path's truncation), then the file.
 */
static int dk_kmod_fail(const struct dk_qexec *x, const char *what, int err,
			uint64_t err_addr)
{
	const char *why =
	    err == EIO		? " (poisoned memory: a media error)"
	    : err == EFAULT	? " (a segment mapping could not be read)"
	    : err == EOPNOTSUPP ? " (a segment is no longer mapped from DAX "
				  "memory)"
	    : err == EINVAL	? " (the device refused the query or a record)"
	    : err == EBUSY	? " (the mapping did not settle)"
				: "";
	/* daxkv_errmsg() keeps the first 511 bytes of this */
	char msg[DK_MAX_DIR_LEN + 512], path[DK_MAX_DIR_LEN + 32];
	int code = err == ENOMEM       ? DAXKV_ENOMEM
		   : err == EOPNOTSUPP ? DAXKV_ENOTSUP
				       : DAXKV_EIO;
	int n;

	n = snprintf(msg, sizeof(msg), "daxmirror QUERY (%s): %s%s", what,
		     strerror(err), why);
	for (size_t i = 0; err_addr && i < x->nunits; i++) {
		const struct dk_qunit *u = &x->units[i];
		uint64_t base = (uintptr_t)u->base;

		if (err_addr < base || err_addr - base >= x->db->segment_size)
			continue;
		dk_segment_path(x->db, u->slot, path, sizeof(path));
		snprintf(msg + n, sizeof(msg) - (size_t)n,
			 " at offset %llu of segment slot %u, file %s",
			 (unsigned long long)(err_addr - base), u->slot, path);
		break;
	}
	return dk_query_err(code, msg);
}

static void dk_kmod_add_acc(struct dk_qexec *x, const struct daxmirror_query *q)
{
	struct dkd_acc part = {q->count, q->sum, q->min, q->max};

	dkd_acc_merge(&x->flt, &x->acc, &part);
	x->records += q->records;
	x->bytes += q->bytes;
}

/* Reset the (out) fields, which the module wants 0 on input. */
static void dk_kmod_clear_out(struct daxmirror_query *q)
{
	q->done = q->rows = q->rows_bytes = 0;
	q->count = q->sum = q->min = q->max = 0;
	q->records = q->bytes = q->faults = q->err_addr = 0;
}

static int dk_query_kmod(struct dk_qexec *x)
{
	struct dk_kmod *k = dk_kmod_state(x->db);
	struct daxmirror_query_unit *units;
	struct daxmirror_query q;
	uint64_t max_len = 0, lanes;
	uint8_t *rows = NULL;
	int rc = 0;

	if (!k)
		return dk_query_err(DAXKV_ENOMEM, "no memory for KMOD state");
	pthread_mutex_lock(&k->lock);
	dk_kmod_probe(k);
	pthread_mutex_unlock(&k->lock);
	if (k->fd < 0)
		return dk_query_err(DAXKV_ENOTSUP, k->why);

	units = malloc(x->nunits * sizeof(*units));
	if (!units)
		return dk_query_err(DAXKV_ENOMEM, "no memory for query units");
	for (size_t i = 0; i < x->nunits; i++) {
		const struct dk_qunit *u = &x->units[i];

		rc = dk_kmod_map_slot(x->db, k, u->slot, u->base);
		if (rc)
			goto out;
		units[i].addr = (uintptr_t)(u->base + u->start);
		units[i].len = u->end - u->start;
		if (units[i].len > max_len)
			max_len = units[i].len;
	}

	lanes =
	    x->threads ? x->threads : (uint64_t)sysconf(_SC_NPROCESSORS_ONLN);
	if (lanes < 1)
		lanes = 1;
	if (lanes > k->lanes)
		lanes = k->lanes;
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.lo_ptr = x->flt.lo_len ? (uintptr_t)x->keys.lo : 0;
	q.hi_ptr = x->flt.hi_len ? (uintptr_t)x->keys.hi : 0;
	q.prefix_ptr = x->flt.prefix_len ? (uintptr_t)x->keys.prefix : 0;
	q.lanes = lanes;
	q.filter = x->flt;
	dkd_acc_init(&x->acc);
	x->used_threads = (uint32_t)lanes;

	if (!x->rows) {
		/* All units, in calls of at most the module's limit. */
		for (size_t first = 0; first < x->nunits;) {
			size_t n = x->nunits - first;

			if (n > DAXMIRROR_MAX_QUERY_UNITS)
				n = DAXMIRROR_MAX_QUERY_UNITS;
			q.units_ptr = (uintptr_t)(units + first);
			q.nunits = n;
			q.resume_unit = 0;
			dk_kmod_clear_out(&q);
			if (ioctl(k->fd, DAXMIRROR_IOC_QUERY, &q)) {
				rc = dk_kmod_fail(x, "aggregate", errno,
						  q.err_addr);
				goto out;
			}
			dk_kmod_add_acc(x, &q);
			first += n;
		}
		goto out;
	}

	/* ROWS: resume until done, or until stop_after rows are in. */
	q.flags = DAXMIRROR_QUERY_ROWS;
	q.rows_cap = max_len > DK_KMOD_ROWS_CAP ? max_len : DK_KMOD_ROWS_CAP;
	rows = malloc(q.rows_cap);
	if (!rows) {
		rc = dk_query_err(DAXKV_ENOMEM, "no memory for query rows");
		goto out;
	}
	q.rows_ptr = (uintptr_t)rows;
	for (size_t first = 0; first < x->nunits;) {
		size_t n = x->nunits - first;

		if (n > DAXMIRROR_MAX_QUERY_UNITS)
			n = DAXMIRROR_MAX_QUERY_UNITS;
		q.units_ptr = (uintptr_t)(units + first);
		q.nunits = n;
		q.resume_unit = 0;
		do {
			if (x->stop_after && x->out.nrows >= x->stop_after)
				goto out;
			q.rows_limit =
			    x->stop_after ? x->stop_after - x->out.nrows : 0;
			dk_kmod_clear_out(&q);
			if (ioctl(k->fd, DAXMIRROR_IOC_QUERY, &q)) {
				rc = dk_kmod_fail(x, "rows", errno, q.err_addr);
				goto out;
			}
			dk_kmod_add_acc(x, &q);
			if (q.rows_bytes) {
				rc = dk_rowbuf_append(&x->out, rows,
						      q.rows_bytes, q.rows);
				if (rc)
					goto out;
			}
		} while (!q.done);
		first += n;
	}
out:
	free(rows);
	free(units);
	return rc;
}

/* daxkv_close: unregister every range, close the device, free. */
static void dk_kmod_close(struct dk_listener *l, struct daxkv *db)
{
	void **word = dk_backend_state(db, DAXKV_BACKEND_KMOD);
	struct dk_kmod *k = (struct dk_kmod *)l;

	if (k->fd >= 0) {
		for (uint32_t slot = 0; slot < DK_MAX_SEGMENTS; slot++) {
			struct daxmirror_unmap um = {
			    .size = sizeof(um),
			    .addr = (uintptr_t)k->mapped[slot],
			    .len = k->map_len[slot],
			};

			if (k->mapped[slot])
				(void)ioctl(k->fd, DAXMIRROR_IOC_UNMAP, &um);
		}
		/* Closing alone would drop the ranges too. */
		close(k->fd);
	}
	pthread_mutex_destroy(&k->lock);
	free(k);
	*word = NULL;
}

/*
 * Compaction is about to remove slot's segment (no snapshot needs it): the
 * device stops mirroring it.  UNMAP waits for queries in flight over it.
 * An UNMAP that fails leaves a range the munmap will invalidate anyway.
 */
static void dk_kmod_forget(struct dk_kmod *k, uint32_t slot)
{
	if (slot >= DK_MAX_SEGMENTS)
		return;
	pthread_mutex_lock(&k->lock);
	if (k->fd >= 0 && k->mapped[slot]) {
		struct daxmirror_unmap um = {
		    .size = sizeof(um),
		    .addr = (uintptr_t)k->mapped[slot],
		    .len = k->map_len[slot],
		};

		if (ioctl(k->fd, DAXMIRROR_IOC_UNMAP, &um) != 0 &&
		    getenv("DAXKV_KMOD_DEBUG"))
			fprintf(stderr, "daxkv: kmod forget slot %u: UNMAP: %s\n",
				slot, strerror(errno));
		__atomic_store_n(&k->mapped[slot], NULL, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&k->lock);
}

/* The handle's listener: only a retirement concerns the device. */
static void dk_kmod_segment_event(struct dk_listener *l, struct daxkv *db,
				  struct dk_segment *seg, enum dk_seg_event ev)
{
	(void)db;
	if (ev == DK_SEG_EV_RETIRED)
		dk_kmod_forget((struct dk_kmod *)l, seg->slot);
}

const struct dk_backend dk_backend_kmod = {
	.id = DAXKV_BACKEND_KMOD,
	.unit_bytes = 1u << 20,
	.available = dk_kmod_available,
	.run = dk_query_kmod,
};
