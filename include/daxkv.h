/* SPDX-License-Identifier: MIT */
/**
 * @file daxkv.h
 * @brief daxkv: a persistent-memory key-value store.
 *
 * daxkv keeps every record in persistent memory: files on a DAX file
 * system (ext4 or xfs mounted -o dax) mapped with MAP_SYNC, or, as a
 * fallback, any file system flushed with msync.  When a write call
 * returns 0 the change survives power failure.
 *
 * Conventions
 * -----------
 * - Every call returns 0 on success or a negative DAXKV_E* code.  The
 *   codes are stable; daxkv_strerror() names them and daxkv_errmsg()
 *   returns a thread-local sentence about the last failure in the
 *   calling thread (which file, offset or limit was at fault).
 * - Keys are 1 to DAXKV_MAX_KEY bytes and order bytewise (memcmp; a
 *   proper prefix sorts first).  Values are 0 to DAXKV_MAX_VALUE bytes.
 *   Longer input is refused with DAXKV_EINVAL.
 * - One handle may be shared by any number of threads, for any mix of
 *   calls.  A database directory is open read-write by at most one
 *   handle, in one process, or read-only (DAXKV_OPEN_RDONLY) by any
 *   number of handles and processes, never both at once.
 * - Constructors take a T ** and set it only on success; destructors
 *   accept NULL.
 */
#ifndef DAXKV_H
#define DAXKV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DAXKV_VERSION_MAJOR 0
#define DAXKV_VERSION_MINOR 1
#define DAXKV_VERSION_PATCH 0

/** Longest key, in bytes. */
#define DAXKV_MAX_KEY 1024u
/** Longest value, in bytes. */
#define DAXKV_MAX_VALUE (1u << 20)
/** Most operations in one batch. */
#define DAXKV_MAX_BATCH_OPS 65536u

/** @name Error codes (all negative; 0 is success)
 * @{ */
#define DAXKV_ENOTFOUND (-30900) /**< key (or database, see DAXKV_ENODB) not found */
#define DAXKV_EINVAL (-30901)    /**< invalid argument: NULL, bad length, bad option */
#define DAXKV_ERANGE (-30902)    /**< buffer too small; the needed size was returned */
#define DAXKV_ENOSPC (-30903)    /**< max_size reached or the file system is full */
#define DAXKV_EBUSY (-30904)     /**< the database is open in another process (or, from
				      daxkv_close, snapshots or cursors are
				      still open) */
#define DAXKV_ECORRUPT (-30905)  /**< damaged metadata or segment; see daxkv_errmsg() */
#define DAXKV_EVERSION (-30906)  /**< database written by an unknown format version */
#define DAXKV_ENOMEM (-30907)    /**< out of memory */
#define DAXKV_EIO (-30908)       /**< a file operation failed; see daxkv_errmsg() */
#define DAXKV_EPERM (-30909)     /**< permission denied on the directory or a file */
#define DAXKV_ENODB (-30910)     /**< path is not a daxkv database (or missing, with
				      DAXKV_OPEN_NOCREATE) */
#define DAXKV_ENOTSUP (-30911)   /**< the requested query backend is not
				      available here; daxkv_errmsg() says why */
/** @} */

/* Symbols of the public API (the library is built -fvisibility=hidden). */
#if defined(__GNUC__)
#define DAXKV_API __attribute__((visibility("default")))
#else
#define DAXKV_API
#endif

typedef struct daxkv daxkv;
typedef struct daxkv_batch daxkv_batch;

/**
 * Scan callback.  key/val point into the database's mapping and stay
 * valid until the callback returns.  Return 0 to go on; any other value
 * stops the scan and becomes daxkv_scan()'s return value.  The callback
 * may call any function on the same handle but daxkv_close(), compaction
 * included: the scan holds no lock while it runs.
 */
typedef int (*daxkv_scan_fn)(const void *key, size_t klen, const void *val,
			     size_t vlen, void *arg);

/** @name Open flags (daxkv_options.flags)
 * @{ */
#define DAXKV_OPEN_NOCREATE 0x1u   /**< fail with DAXKV_ENODB if missing */
#define DAXKV_OPEN_EXCLUSIVE 0x2u  /**< fail with DAXKV_EINVAL if it exists */
#define DAXKV_OPEN_NOCHECKPOINT 0x4u /**< ignore a checkpoint: rebuild by scan */
#define DAXKV_OPEN_FORCE_MSYNC 0x8u  /**< persist with msync even on DAX */
#define DAXKV_OPEN_NOCOMPACT 0x10u   /**< no background compaction thread
					  (daxkv_compact() and the compaction
					  after ENOSPC still work) */
/**
 * Read-only: open an existing database without changing a byte of it.
 * The segments are mapped read-only; no file is created, written or
 * removed (no probe file, no metadata word, no checkpoint, no orphan
 * removal, not even the lock file's pid), so a database on a read-only
 * mount, on a volume snapshot or under inspection can be opened.  Any
 * number of read-only handles, in any processes, may hold a database at
 * once (a shared lock on DIR/lock); a read-write open meanwhile gets
 * DAXKV_EBUSY, and a read-only open while a writer holds it too.  A
 * directory without DIR/lock opens unlocked on a read-only file system
 * and is refused (DAXKV_ENODB) elsewhere.  Implies NOCREATE and
 * NOCOMPACT; EXCLUSIVE or a max_size is DAXKV_EINVAL.
 *
 * Writes (put, delete, batch commit, compact) return DAXKV_EPERM.  Gets,
 * scans, snapshots, queries, stats and daxkv_backup() work.  A database
 * that was not closed cleanly is recovered in memory only: gets and scans
 * see exactly what a read-write open would.  Queries decide visibility
 * from the records on media (their `superseded` words), which only a
 * read-write recovery repairs after a crash; where the read-only recovery
 * found such words wrong, daxkv_query() returns DAXKV_ENOTSUP saying so
 * (daxkv_stat's stale_marks counts them) until a read-write open has
 * repaired them.
 */
#define DAXKV_OPEN_RDONLY 0x20u
/** Keep no latency figures (daxkv_stat's latency fields stay 0): for
 *  benchmarks that measure what keeping them costs. */
#define DAXKV_OPEN_NOLATENCY 0x40u
#define DAXKV_OPEN_SALVAGE 0x80u     /**< salvage a damaged database first,
					  as daxkv_check() with
					  DAXKV_CHECK_REPAIR does (kvctl check
					  --repair): every record whose check
					  passes is kept, damaged bytes go to
					  quarantine files beside their
					  segment, and each problem goes to
					  daxkv_options.salvage_report.  With
					  DAXKV_OPEN_RDONLY: DAXKV_EINVAL */
#define DAXKV_OPEN_NOBACKGROUND 0x100u /**< no background thread at all:
					  NOCOMPACT, and no segment files
					  made ahead of need (a writer that
					  fills its segment makes the next
					  one itself; for single-threaded
					  tests such as the crash simulator) */
/** @} */

/** daxkv_options.max_size: remove a stored cap. */
#define DAXKV_MAX_SIZE_NONE UINT64_MAX

/** Structure version filled in by daxkv_options_init() (1: up to
 *  `reserved`; 2: the salvage report too). */
#define DAXKV_OPTIONS_VERSION 2u

struct daxkv_check_problem;

/**
 * Options for daxkv_open().  Always start from daxkv_options_init():
 * fields added later get their defaults that way.
 */
struct daxkv_options {
	uint32_t version;      /**< DAXKV_OPTIONS_VERSION */
	uint32_t flags;        /**< DAXKV_OPEN_* */
	uint64_t segment_size; /**< the largest a data segment may be, a
				    multiple of 2 MiB, 2 MiB..1 GiB;
				    default 64 MiB.  Fixed at creation,
				    ignored later.  Each segment is sized
				    to about 1/64 of the live data (2 MiB
				    at least), up to this: compaction
				    frees whole segments and keeps a few
				    open, which costs little space when
				    they are small beside the data. */
	uint64_t max_size;     /**< cap on all files in bytes.  0 keeps
				    the cap stored in the database (none
				    for a new one); DAXKV_MAX_SIZE_NONE
				    removes it; any other value replaces
				    it from this open on.  Puts leave two
				    segments of it free, deletes one: the
				    room deletes and a compaction need,
				    so that a full database can always be
				    emptied */
	uint32_t recovery_threads; /**< 0 = one per online CPU */
	uint32_t reserved;
	/* version 2 */
	/** DAXKV_OPEN_SALVAGE: called for each problem found and what was
	 *  done about it (as daxkv_check()'s report); may be NULL */
	int (*salvage_report)(const struct daxkv_check_problem *problem,
			      void *arg);
	void *salvage_arg;     /**< passed to salvage_report */
};

/** Fill @p opts with the defaults. */
DAXKV_API void daxkv_options_init(struct daxkv_options *opts);

/**
 * Open (and by default create) the database in directory @p dir.
 * @p opts NULL means defaults.  After a crash, open recovers: every
 * acknowledged write is found, torn and unacknowledged records are
 * discarded.  Damage is never taken for a crash: a segment with valid
 * records after unreadable bytes, a segment file that the meta table does
 * not explain, a media error (DAXKV_EIO) or an unsafe shutdown while the
 * database was open makes open fail, naming the file and offset in
 * daxkv_errmsg(), and nothing is deleted or overwritten; salvage with
 * DAXKV_OPEN_SALVAGE or kvctl check --repair.
 *
 * @return 0, or DAXKV_EINVAL (NULL argument, bad option, a file where a
 * directory should be, EXCLUSIVE on an existing database), DAXKV_ENODB
 * (not a database; missing with NOCREATE or RDONLY; an unfinished
 * backup, see daxkv_backup()), DAXKV_EBUSY (open in another process or
 * handle; daxkv_errmsg() names the writer's pid, or says that read-only
 * handles hold it), DAXKV_EPERM, DAXKV_EVERSION, DAXKV_ECORRUPT,
 * DAXKV_ENOSPC, DAXKV_ENOMEM, DAXKV_EIO.
 */
DAXKV_API int daxkv_open(const char *dir, const struct daxkv_options *opts,
	       daxkv **dbp);

/**
 * Close the handle: wait for nothing (every write is already durable),
 * write a checkpoint so that the next open need not scan (not for a
 * read-only handle, which writes nothing), release the directory lock and
 * free everything.  No call may be in progress on
 * @p db.  NULL is accepted.
 * @return 0, DAXKV_EBUSY if snapshots or cursors of the handle are still
 * open (then nothing is closed), or DAXKV_EIO if the checkpoint could not
 * be written (the data is safe; the next open scans instead).
 */
DAXKV_API int daxkv_close(daxkv *db);

/**
 * Insert or replace.  Durable when it returns 0.
 * @return 0, DAXKV_EINVAL, DAXKV_ENOSPC, DAXKV_ENOMEM, DAXKV_EIO.
 * DAXKV_EPERM on a read-only handle.
 */
DAXKV_API int daxkv_put(daxkv *db, const void *key, size_t klen, const void *val,
	      size_t vlen);

/**
 * Copy the value of @p key into @p buf (capacity @p cap) and set *vlen.
 * If cap is too small, nothing is copied, *vlen holds the size needed
 * and DAXKV_ERANGE is returned.  @p buf may be NULL when @p cap is 0.
 * @return 0, DAXKV_ENOTFOUND, DAXKV_ERANGE, DAXKV_EINVAL.
 */
DAXKV_API int daxkv_get(daxkv *db, const void *key, size_t klen, void *buf, size_t cap,
	      size_t *vlen);

/**
 * Delete @p key.  Durable when it returns 0.
 * @return 0, DAXKV_ENOTFOUND (no such key; nothing written),
 * DAXKV_EINVAL, DAXKV_ENOSPC, DAXKV_ENOMEM, DAXKV_EIO.
 * DAXKV_EPERM on a read-only handle.
 */
DAXKV_API int daxkv_delete(daxkv *db, const void *key, size_t klen);

/**
 * Call @p fn for each live key in [lo, hi) in key order, as of one
 * point in time: writes that complete during the scan are not seen, and
 * every write that completed before it is.  lo NULL (or lolen 0) means
 * from the first key; hi NULL (or hilen 0) means to the last.  The
 * callback may call other daxkv functions on the same handle (all but
 * daxkv_close()).  For descending order, or to stop and go on later, use
 * a cursor (daxkv_cursor_open()).
 * @return 0 when all were visited, the callback's non-zero value when
 * it stopped the scan, DAXKV_EINVAL (NULL db or fn, a bound longer than
 * DAXKV_MAX_KEY or NULL with a length) or DAXKV_ENOMEM.
 */
DAXKV_API int daxkv_scan(daxkv *db, const void *lo, size_t lolen, const void *hi,
	       size_t hilen, daxkv_scan_fn fn, void *arg);

/**
 * Batches: a list of puts and deletes committed all or nothing, also
 * across a crash, at one point in time (a scan sees all or none of it).
 * If a key appears more than once, the last operation on it wins.  A
 * delete of a missing key in a batch is not an error.
 */
DAXKV_API int daxkv_batch_new(daxkv_batch **bp);
/** @return 0, DAXKV_EINVAL (bad lengths, more than DAXKV_MAX_BATCH_OPS),
 *  DAXKV_ENOMEM. */
DAXKV_API int daxkv_batch_put(daxkv_batch *b, const void *key, size_t klen,
		    const void *val, size_t vlen);
/** @return 0, DAXKV_EINVAL, DAXKV_ENOMEM. */
DAXKV_API int daxkv_batch_delete(daxkv_batch *b, const void *key, size_t klen);
/**
 * Commit @p b; durable and visible at once when it returns 0.  The batch
 * keeps its operations and may be committed again or freed.  A batch
 * must fit in one segment (its encoded size at most segment_size minus
 * 4 KiB) or DAXKV_EINVAL is returned.
 * @return 0, DAXKV_EINVAL, DAXKV_ENOSPC, DAXKV_ENOMEM, DAXKV_EIO.
 * DAXKV_EPERM on a read-only handle.
 */
DAXKV_API int daxkv_batch_commit(daxkv *db, daxkv_batch *b);
/** Empty @p b so that it can be reused. */
DAXKV_API void daxkv_batch_clear(daxkv_batch *b);
/** Free @p b; NULL is accepted. */
DAXKV_API void daxkv_batch_free(daxkv_batch *b);

/* ---- Snapshots ---- */

typedef struct daxkv_snapshot daxkv_snapshot;

/**
 * Open a snapshot: a point in time that daxkv_get_at(), daxkv_scan_at()
 * and daxkv_query() can read at while other threads keep writing.  It
 * sees every write that completed before the call and none that started
 * after it returned.  An open snapshot keeps the versions it can see
 * (in DRAM, the older versions of keys written since; on media, every
 * segment it can read): close it when done.  Every snapshot of a handle
 * must be closed before daxkv_close().
 * @return 0, DAXKV_EINVAL (NULL argument), DAXKV_ENOMEM.
 */
DAXKV_API int daxkv_snapshot_open(daxkv *db, daxkv_snapshot **snapp);

/** Close @p snap; NULL is accepted. */
DAXKV_API void daxkv_snapshot_close(daxkv_snapshot *snap);

/** The sequence number of @p snap: the newest commit it sees. */
DAXKV_API uint64_t daxkv_snapshot_seq(const daxkv_snapshot *snap);

/**
 * daxkv_get() as of @p snap (NULL: now).
 * @return as daxkv_get(); DAXKV_EINVAL also if @p snap belongs to another
 * handle.
 */
DAXKV_API int daxkv_get_at(daxkv *db, const daxkv_snapshot *snap,
			   const void *key, size_t klen, void *buf, size_t cap,
			   size_t *vlen);

/**
 * daxkv_scan() as of @p snap (NULL: a snapshot of its own, as
 * daxkv_scan() does).
 * @return as daxkv_scan(); DAXKV_EINVAL also if @p snap belongs to
 * another handle.
 */
DAXKV_API int daxkv_scan_at(daxkv *db, const daxkv_snapshot *snap,
			    const void *lo, size_t lolen, const void *hi,
			    size_t hilen, daxkv_scan_fn fn, void *arg);

/* ---- Cursors ---- */

typedef struct daxkv_cursor daxkv_cursor;

/** How daxkv_cursor_seek() places the cursor.  Value 0 is reserved. */
enum daxkv_seek {
	DAXKV_SEEK_GE = 1, /**< at the first key >= the key given */
	DAXKV_SEEK_LE = 2, /**< at the last key <= the key given */
};

/**
 * Open a cursor: a position among the keys of one point in time, moved
 * in either direction.  With @p snap it reads at that snapshot (which
 * must stay open until the cursor is closed); with NULL it takes a point
 * in time of its own, as daxkv_snapshot_open() would, held until
 * daxkv_cursor_close().  A new cursor is at no key: place it with
 * daxkv_cursor_first(), daxkv_cursor_last() or daxkv_cursor_seek().
 *
 * Between two calls on a cursor, any function may be called on the
 * handle (writes, daxkv_compact(), snapshots, queries): a cursor holds no
 * lock.  An open cursor keeps what its point in time can see, as a
 * snapshot does (older versions in DRAM, and the segments holding them),
 * so a cursor held open for long keeps space that compaction would
 * otherwise free.  Every cursor of a handle must be closed before
 * daxkv_close().  A cursor is used by one thread at a time.
 * @return 0, DAXKV_EINVAL (NULL @p db or @p curp, @p snap of another
 * handle), DAXKV_ENOMEM.
 */
DAXKV_API int daxkv_cursor_open(daxkv *db, const daxkv_snapshot *snap,
				daxkv_cursor **curp);

/** Close @p cur; NULL is accepted. */
DAXKV_API void daxkv_cursor_close(daxkv_cursor *cur);

/**
 * Place @p cur at the first key >= @p key (@p how DAXKV_SEEK_GE) or at
 * the last key <= @p key (DAXKV_SEEK_LE).
 * @return 0; DAXKV_ENOTFOUND if there is no such key (the cursor is then
 * at no key); DAXKV_EINVAL (NULL @p cur, a key of 0 or more than
 * DAXKV_MAX_KEY bytes, another @p how).
 */
DAXKV_API int daxkv_cursor_seek(daxkv_cursor *cur, const void *key,
				size_t klen, int how);

/**
 * Place @p cur at the first (smallest) key.
 * @return 0; DAXKV_ENOTFOUND if there is no key; DAXKV_EINVAL (NULL).
 */
DAXKV_API int daxkv_cursor_first(daxkv_cursor *cur);

/**
 * Place @p cur at the last (largest) key.
 * @return 0; DAXKV_ENOTFOUND if there is no key; DAXKV_EINVAL (NULL).
 */
DAXKV_API int daxkv_cursor_last(daxkv_cursor *cur);

/**
 * Move @p cur to the next larger key.
 * @return 0; DAXKV_ENOTFOUND if it was at the last key (it is then at no
 * key) or at no key already; DAXKV_EINVAL (NULL).
 */
DAXKV_API int daxkv_cursor_next(daxkv_cursor *cur);

/**
 * Move @p cur to the next smaller key.
 * @return 0; DAXKV_ENOTFOUND if it was at the first key (it is then at
 * no key) or at no key already; DAXKV_EINVAL (NULL).
 */
DAXKV_API int daxkv_cursor_prev(daxkv_cursor *cur);

/**
 * The key @p cur is at, without copying: *key points into the
 * database's mapping and stays valid until the next call that moves or
 * closes @p cur.
 * @return 0; DAXKV_ENOTFOUND if it is at no key; DAXKV_EINVAL (NULL).
 */
DAXKV_API int daxkv_cursor_key(const daxkv_cursor *cur, const void **key,
			       size_t *klen);

/**
 * The value at the key @p cur is at, without copying, valid as
 * daxkv_cursor_key()'s.
 * @return 0; DAXKV_ENOTFOUND if it is at no key; DAXKV_EINVAL (NULL).
 */
DAXKV_API int daxkv_cursor_value(const daxkv_cursor *cur, const void **val,
				 size_t *vlen);

/**
 * Copy the key and the value @p cur is at into @p kbuf (capacity
 * @p kcap) and @p vbuf (capacity @p vcap), and set *klen and *vlen.  If
 * either buffer is too small, nothing is copied, both sizes are set and
 * DAXKV_ERANGE is returned.  A buffer may be NULL when its capacity is 0.
 * @return 0; DAXKV_ERANGE; DAXKV_ENOTFOUND if it is at no key;
 * DAXKV_EINVAL (NULL @p cur, @p klen or @p vlen, or a NULL buffer with a
 * capacity).
 */
DAXKV_API int daxkv_cursor_get(const daxkv_cursor *cur, void *kbuf,
			       size_t kcap, size_t *klen, void *vbuf,
			       size_t vcap, size_t *vlen);

/* ---- Queries: filters pushed down to a backend ---- */

/*
 * A query selects the live records of a snapshot whose key lies in
 * [lo, hi) and starts with a prefix, and whose value satisfies up to
 * DAXKV_QUERY_MAX_PREDS predicates (ANDed), and returns their COUNT, the
 * SUM, MIN or MAX of an integer field of their values, or the rows
 * themselves.  A predicate reads a field of the value at a byte offset:
 * an unsigned or signed little-endian integer of 1, 2, 4 or 8 bytes, or
 * 1..DAXKV_QUERY_MAX_BYTES raw bytes compared with memcmp.  A record
 * whose value is too short for any field of the query (the aggregated
 * field included) does not match.
 *
 * Backends evaluate the filter where they are: CPU threads in this
 * process, the daxmirror kernel module's device (the records read through
 * its HMM mirror of the segments), or a CUDA GPU (reading the mapping
 * directly where the GPU supports pageable memory access and the database
 * is not on real DAX, through pinned staging buffers otherwise; the
 * environment variables DAXKV_CUDA_STAGED=1, DAXKV_CUDA_DIRECT=1 and
 * DAXKV_CUDA_AUTO_MIN_BYTES change that and AUTO's threshold: see
 * docs/cuda.md).  Every backend returns the same answer: that of
 * daxkv_scan_at() on the same snapshot, filtered on the CPU.
 */

/** Query backends.  DEFAULT (0) in a query means the handle's choice. */
enum daxkv_backend {
	DAXKV_BACKEND_DEFAULT = 0, /**< the handle's (daxkv_set_backend) */
	DAXKV_BACKEND_AUTO = 1, /**< the first available of CUDA (for a
				     query that scans at least 64 MiB),
				     KMOD, CPU */
	DAXKV_BACKEND_CPU = 2,  /**< threads of this process */
	DAXKV_BACKEND_KMOD = 3, /**< the daxmirror module's device */
	DAXKV_BACKEND_CUDA = 4, /**< a CUDA GPU */
};

/** Name of a backend ("default", "auto", "cpu", "kmod", "cuda"), or
 *  "unknown"; never NULL. */
DAXKV_API const char *daxkv_backend_name(int backend);

/**
 * Set the backend that queries of @p db use when they leave theirs at
 * DAXKV_BACKEND_DEFAULT.  The initial choice is AUTO.
 * @return 0, DAXKV_EINVAL (NULL, unknown or DEFAULT backend).
 */
DAXKV_API int daxkv_set_backend(daxkv *db, int backend);

/**
 * Can @p backend run queries of @p db now?  The first KMOD or CUDA query
 * (or this call) opens the device; the answer is remembered.  For CUDA
 * this finds the driver and the GPU but creates no context: the first
 * query that runs on it does, and if that fails, or a GPU error breaks
 * the context later, the answer becomes 0 for the rest of the process
 * (and in a child it forks once CUDA was initialised).
 * @return 1 yes, 0 no (daxkv_errmsg() says why: module not loaded or too
 * old, no GPU, built without CUDA, disabled after a GPU error),
 * DAXKV_EINVAL.
 */
DAXKV_API int daxkv_backend_available(daxkv *db, int backend);

/** Field types of predicates and aggregates. */
enum daxkv_field_type {
	DAXKV_FIELD_UINT = 1,  /**< unsigned little-endian, width 1/2/4/8 */
	DAXKV_FIELD_INT = 2,   /**< signed little-endian, width 1/2/4/8 */
	DAXKV_FIELD_BYTES = 3, /**< raw bytes, width 1..DAXKV_QUERY_MAX_BYTES */
};

/** Comparison operators: field OP operand. */
enum daxkv_op {
	DAXKV_OP_EQ = 1,
	DAXKV_OP_NE = 2,
	DAXKV_OP_LT = 3,
	DAXKV_OP_LE = 4,
	DAXKV_OP_GT = 5,
	DAXKV_OP_GE = 6,
};

/** Most predicates in one query. */
#define DAXKV_QUERY_MAX_PREDS 8u
/** Widest raw-bytes field. */
#define DAXKV_QUERY_MAX_BYTES 64u
/** offset + width of any field is at most this. */
#define DAXKV_QUERY_FIELD_LIMIT 65536u

/** One predicate on the value. */
struct daxkv_pred {
	uint32_t type;      /**< enum daxkv_field_type */
	uint32_t op;        /**< enum daxkv_op */
	uint32_t offset;    /**< byte offset of the field in the value */
	uint32_t width;     /**< bytes of the field */
	uint64_t uval;      /**< operand of a UINT field (must fit width) */
	int64_t ival;       /**< operand of an INT field (must fit width) */
	const void *bytes;  /**< operand of a BYTES field: width bytes */
};

/** What a query returns. */
enum daxkv_query_output {
	DAXKV_QUERY_COUNT = 1, /**< result.count */
	DAXKV_QUERY_SUM = 2,   /**< result.value: sum of field, modulo 2^64;
				    result.overflow says when the exact sum
				    does not fit */
	DAXKV_QUERY_MIN = 3,   /**< result.value: smallest field */
	DAXKV_QUERY_MAX = 4,   /**< result.value: largest field */
	DAXKV_QUERY_ROWS = 5,  /**< the rows, to the rows callback */
};

/** A row delivered by a ROWS query: pointers valid during the callback. */
struct daxkv_row {
	const void *key;
	const void *val;
	size_t klen;
	size_t vlen;
};

/**
 * Rows callback: @p n rows (1 <= n <= 256) of a ROWS query.  Rows come
 * in batches as the backend finds them: the callback runs while the
 * query goes on, always on the thread that called daxkv_query() and one
 * batch at a time, and the rows in memory at once are a few buffers of
 * 256 KiB per backend thread, whatever the answer's size (a backend waits
 * while the callback takes its time).  Without DAXKV_QUERY_ORDERED rows
 * come in no particular order and a limit stops the query once reached.
 * With ORDERED and a limit, only the `limit` smallest keys are kept (a
 * heap), then delivered sorted at the end; ORDERED without a limit keeps
 * every row until the end, so memory grows with the answer.  Return 0 to
 * go on; any other value stops the query and becomes daxkv_query()'s
 * return value (its result still says how many rows were delivered).  It
 * may call the handle, queries included, but not daxkv_close().  (A query
 * from the callback while its own query still runs on a device that
 * serves one query at a time, as the CUDA backend does, waits for that
 * run to end; the rows still to come are then kept in memory meanwhile.)
 */
typedef int (*daxkv_rows_fn)(const struct daxkv_row *rows, size_t n,
			     void *arg);

/** @name Query flags (daxkv_query.flags)
 * @{ */
#define DAXKV_QUERY_ORDERED 0x1u /**< ROWS in key order (the engine sorts);
				      without it, in no particular order */
/** @} */

/** Structure version filled in by daxkv_query_init(). */
#define DAXKV_QUERY_VERSION 1u

/** A query descriptor.  Always start from daxkv_query_init(). */
struct daxkv_query {
	uint32_t version;   /**< DAXKV_QUERY_VERSION */
	uint32_t flags;     /**< DAXKV_QUERY_* */
	uint32_t output;    /**< enum daxkv_query_output */
	uint32_t backend;   /**< enum daxkv_backend */
	const void *lo;     /**< keys >= lo; NULL (or lolen 0) = no bound */
	size_t lolen;
	const void *hi;     /**< keys < hi; NULL (or hilen 0) = no bound */
	size_t hilen;
	const void *prefix; /**< keys starting with prefix; NULL/0 = any */
	size_t prefixlen;
	uint32_t npreds;    /**< predicates in preds[], ANDed */
	uint32_t threads;   /**< CPU backend threads, 0 = one per CPU */
	struct daxkv_pred preds[DAXKV_QUERY_MAX_PREDS];
	uint32_t field_type;   /**< SUM/MIN/MAX: DAXKV_FIELD_UINT or INT */
	uint32_t field_offset; /**< ... its offset in the value */
	uint32_t field_width;  /**< ... its width: 1, 2, 4 or 8 */
	uint32_t reserved;
	uint64_t limit;     /**< ROWS: at most this many rows, 0 = all (with
			         ORDERED, the first ones in key order) */
	daxkv_rows_fn rows; /**< ROWS: the callback */
	void *arg;          /**< its argument */
	const daxkv_snapshot *snap; /**< read at this snapshot; NULL: the
					 query takes one of its own */
};

/** Fill @p q with an empty query: COUNT of every record, DEFAULT
 *  backend. */
DAXKV_API void daxkv_query_init(struct daxkv_query *q);

/** Structure version of struct daxkv_query_result (1: up to `direct`;
 *  2: `fallback_from` too; 3: `overflow`, where version 2 had a reserved
 *  word: the size did not change).  daxkv_query() fills the fields of the
 *  version the caller put in and leaves the rest alone. */
#define DAXKV_QUERY_RESULT_VERSION 3u

/** What a query did (daxkv_query()). */
struct daxkv_query_result {
	uint32_t version;     /**< (in) DAXKV_QUERY_RESULT_VERSION */
	uint32_t backend;     /**< the backend that ran (CPU, KMOD or CUDA) */
	uint64_t count;       /**< matching records; ROWS: rows delivered */
	uint64_t value;       /**< SUM (an INT field's sum: read as int64_t),
				   MIN or MAX (an INT field's: as int64_t);
				   0 when count is 0 */
	uint64_t snap_seq;    /**< sequence of the snapshot it read */
	uint64_t records_scanned; /**< records the backend examined: every
				       record below the snapshot's tails,
				       older versions and deletes included */
	uint64_t bytes_scanned;   /**< bytes of records it examined */
	uint64_t time_ns;     /**< wall time of the whole call */
	uint32_t threads;     /**< CPU threads, device lanes or GPU blocks */
	uint32_t direct;      /**< CUDA: 1 if the GPU read the mapping in
				   place, 0 if through staging buffers */
	/* version 2 */
	uint32_t fallback_from; /**< AUTO: the device backend it wanted and
				     did not get, 0 if none: one that failed
				     or declined during this query (the CPU
				     then ran it), or that this process
				     stopped using after a failure (a GPU
				     error).  daxkv_errmsg() says why, until
				     the thread's next daxkv call */
	/* version 3 */
	uint32_t overflow;    /**< SUM: 1 if the exact sum does not fit in
				   64 bits: in a uint64_t for a UINT field,
				   in an int64_t for an INT field (value
				   then holds it modulo 2^64); else 0 */
};

/**
 * Run @p q on @p db and fill @p res (may be NULL).  The answer is that
 * of daxkv_scan_at() at the query's snapshot (its own if q->snap is NULL)
 * filtered by the query, whatever the backend, while other threads write.
 * @return 0; the rows callback's non-zero value when it stopped the
 * query; DAXKV_EINVAL for a bad descriptor (wrong version, unknown
 * output, flag, backend, field type or operator, more than
 * DAXKV_QUERY_MAX_PREDS predicates, a width the type does not allow, a
 * field ending beyond DAXKV_QUERY_FIELD_LIMIT, an operand that does not
 * fit its width, a key bound or prefix longer than DAXKV_MAX_KEY, lo > hi
 * (lo == hi is an empty range: an empty answer),
 * no field for SUM/MIN/MAX, no callback for ROWS, a snapshot of another
 * handle); DAXKV_ENOTSUP when the backend asked for explicitly is not
 * available (a CUDA backend that a GPU error disabled included:
 * daxkv_errmsg() has the error); DAXKV_ENOMEM; DAXKV_EIO when a device
 * failed during a query that asked for it explicitly (daxkv_errmsg() has
 * its error), and under AUTO too for poisoned persistent memory: a media
 * error the KMOD device met names the segment file and the offset, and
 * the CPU is not asked, because its load from that page would take the
 * machine check.  Under AUTO a device that fails in a way the CPU can
 * answer for (a GPU error, a device out of memory) hands the query to the
 * CPU: 0, with result.fallback_from and daxkv_errmsg() saying so.
 */
DAXKV_API int daxkv_query(daxkv *db, const struct daxkv_query *q,
			  struct daxkv_query_result *res);

/* ---- Space reclamation ---- */

/**
 * Compaction.  Updates and deletes append; the records they replace are
 * dead.  A background thread (unless DAXKV_OPEN_NOCOMPACT) keeps bytes on
 * media within about 1.25 times the live bytes: it copies the live
 * records of the emptiest segments (under 75% live) into a new segment,
 * switches the index to the copies, and removes the old files once no
 * snapshot reads them any more (their blocks go back to the file system;
 * device mirrors are invalidated first).  Writers keep going meanwhile.
 * A write that meets ENOSPC compacts and retries once.  A crash at any
 * point of a compaction loses nothing and shows no record twice.
 *
 * Deletes leave a small record (key and header) that compaction keeps,
 * so that an older version of the key in another segment cannot come
 * back.
 */

/**
 * Compact now, in the calling thread: every segment at most 90% live,
 * round after round, then remove the segments no snapshot reads.  Segments
 * an open snapshot still reads are removed later (daxkv_stat's
 * segments_retiring counts them).
 * @return 0, DAXKV_EINVAL (NULL), DAXKV_ENOSPC (no room for the copies),
 * DAXKV_ENOMEM, DAXKV_EIO, DAXKV_ECORRUPT (a damaged segment).
 * DAXKV_EPERM on a read-only handle.
 */
DAXKV_API int daxkv_compact(daxkv *db);

/* ---- Hot backup ---- */

/** @name Backup flags (daxkv_backup)
 * @{ */
#define DAXKV_BACKUP_COMPACT 0x1u /**< copy only the records a scan at the
				       snapshot returns, packed into new
				       segments (each with the snapshot's
				       sequence), instead of whole segments */
/** @} */

/**
 * Hot backup: write into directory @p dir a complete database holding
 * exactly what @p db holds at one point in time (a snapshot taken by the
 * call), while other threads keep writing and compacting.  This is how a
 * program that holds the database open takes a backup: call it on its
 * handle, from any thread (a read-only handle will do too).  For a
 * database that no process holds, open it with DAXKV_OPEN_RDONLY and call
 * this, as `kvctl backup` does.
 *
 * @p dir must be missing (it is created) or an empty directory.  By
 * default each segment is copied up to the snapshot's end of it, with the
 * records' `superseded` words set as of the snapshot; with
 * DAXKV_BACKUP_COMPACT only the snapshot's live records are copied.  The
 * copy has the source's uuid, segment size and max_size and no
 * checkpoint: its first open rebuilds the index by scanning.  Every file
 * and directory entry of it is durable (fsync) before the call returns 0.
 * (From a read-only handle of a database that was not closed cleanly and
 * whose superseded words are wrong on media (daxkv_stat's stale_marks),
 * a whole-segment copy carries the same words, and like the source needs
 * a read-write open to repair them before queries; a compacting copy is
 * written from the index and needs none.)
 *
 * Interrupted (power failure, SIGKILL, an error), it never leaves
 * something that opens as a database: a file DIR/backup.incomplete is made
 * durable first and removed last, and daxkv_open() and daxkv_check()
 * refuse a directory holding it (DAXKV_ENODB).  After an error the call
 * removes what it wrote.
 * @return 0, DAXKV_EINVAL (NULL or empty @p dir, unknown flags, @p dir
 * not an empty directory, or the database's own directory), DAXKV_EPERM,
 * DAXKV_ENOSPC, DAXKV_ENOMEM, DAXKV_EIO (daxkv_errmsg() names the file),
 * DAXKV_ECORRUPT (a damaged record below a segment's tail).
 */
DAXKV_API int daxkv_backup(daxkv *db, const char *dir, uint32_t flags);

/**
 * daxkv_backup() as of @p snap (NULL: a snapshot of its own): the copy
 * holds exactly what daxkv_scan_at(@p snap) returns.
 * @return as daxkv_backup(); DAXKV_EINVAL also if @p snap belongs to
 * another handle.
 */
DAXKV_API int daxkv_backup_at(daxkv *db, const daxkv_snapshot *snap,
			      const char *dir, uint32_t flags);

/** How writes are made durable on this handle. */
enum daxkv_durability {
	DAXKV_DUR_UNKNOWN = 0,
	DAXKV_DUR_MAP_SYNC = 1, /**< DAX + MAP_SYNC, cache flush + fence */
	DAXKV_DUR_EADR = 2,     /**< DAX, caches are persistent: fence only */
	DAXKV_DUR_MSYNC = 3,    /**< not DAX: msync after each write */
	DAXKV_DUR_EMULATED = 4, /**< PMEM_IS_PMEM_FORCE: flush + fence on
				     memory that is not really persistent */
	DAXKV_DUR_READONLY = 5, /**< DAXKV_OPEN_RDONLY: nothing is written */
};

/** Name of a durability mode ("map_sync", "eadr", "msync", "emulated",
 *  "read-only"). */
DAXKV_API const char *daxkv_durability_name(enum daxkv_durability mode);

/** How the last open rebuilt its index. */
enum daxkv_recovery {
	DAXKV_RECOVERY_NONE = 0,       /**< new database */
	DAXKV_RECOVERY_CHECKPOINT = 1, /**< clean close: loaded the checkpoint */
	DAXKV_RECOVERY_SCAN = 2,       /**< crash or no checkpoint: scanned all */
};

/** Structure version of struct daxkv_stat (1: up to `lanes`; 2: the
 *  compaction figures too; 3: stale_marks and the latency figures; 4:
 *  damage and per-segment durability). */
#define DAXKV_STAT_VERSION 5u

/**
 * How long one kind of call took since the handle was opened (struct
 * daxkv_stat, version 3).  Puts, gets and deletes are sampled: each
 * thread times a random one call in 32 of each kind; batch commits, scans and
 * queries are timed every time.  A time is the whole call as the caller
 * sees it, from entry to return (a scan's or query's callbacks
 * included).  Percentiles come from a histogram whose buckets are at most
 * 12.5% wide: each is the upper end of its bucket (never below the true
 * value, at most 12.5% above it, and never above max_ns).  All 0 when
 * nothing was timed, or with DAXKV_OPEN_NOLATENCY.
 */
struct daxkv_latency {
	uint64_t samples; /**< calls timed */
	uint64_t p50_ns;  /**< median */
	uint64_t p90_ns;
	uint64_t p99_ns;
	uint64_t p999_ns; /**< 99.9th percentile */
	uint64_t max_ns;  /**< the longest call timed (exact) */
};

/** Figures about an open database (daxkv_stat()). */
struct daxkv_stat {
	uint32_t version;        /**< (in) DAXKV_STAT_VERSION */
	uint32_t format_version; /**< on-media format version */
	uint8_t uuid[16];        /**< database uuid */
	uint64_t segment_size;
	uint64_t max_size;       /**< 0 = none */
	uint32_t durability;     /**< enum daxkv_durability */
	uint32_t recovery;       /**< enum daxkv_recovery, of the last open */
	uint64_t recovery_ns;    /**< time the last open spent rebuilding */
	uint64_t recovered_records; /**< records read by the last open */
	uint64_t discarded_records; /**< torn or unacknowledged, dropped */
	uint64_t segments;       /**< data segments in use */
	uint64_t bytes_mapped;   /**< size of all data segment files: those
				      in use, and spares made ahead of
				      need (not yet in use) */
	uint64_t bytes_written;  /**< record bytes in all segments */
	uint64_t live_bytes;     /**< bytes of the newest record of each key */
	uint64_t keys;           /**< live keys */
	uint64_t last_seq;       /**< newest committed sequence number */
	uint64_t puts, gets, deletes, batches, scans; /**< since open */
	uint64_t lanes;          /**< append points in use */
	/* version 2 */
	uint64_t compactions;    /**< compaction rounds since open */
	uint64_t segments_retired; /**< segments removed since open */
	uint64_t bytes_compacted; /**< record bytes copied by compactions */
	uint64_t segments_retiring; /**< compacted, waiting for the snapshots
				         that still read them */
	uint64_t record_live_bytes; /**< bytes of the newest record of each
					 key, deletes included: what a full
					 compaction would keep.  Space
					 amplification is bytes_mapped over
					 this */
	/* version 3 */
	uint64_t stale_marks;    /**< read-only handle of a database not
				      closed cleanly: superseded marks on
				      media that only a read-write open
				      repairs; queries are refused while
				      this is not 0 (DAXKV_OPEN_RDONLY) */
	struct daxkv_latency put_latency;    /**< daxkv_put */
	struct daxkv_latency get_latency;    /**< daxkv_get, daxkv_get_at */
	struct daxkv_latency delete_latency; /**< daxkv_delete */
	struct daxkv_latency batch_latency;  /**< daxkv_batch_commit */
	struct daxkv_latency scan_latency;   /**< daxkv_scan, daxkv_scan_at */
	struct daxkv_latency query_latency;  /**< daxkv_query */
	/* version 4 */
	uint64_t compaction_errors; /**< rounds ended by a damaged record or
					 a media error (the segment is kept
					 and not compacted again by this
					 handle; kvctl check names it) */
	uint64_t segments_msync;    /**< segments persisted with msync (not
					 MAP_SYNC-capable, or FORCE_MSYNC);
					 the rest with cache flushes.  When
					 both kinds exist, `durability` is
					 that of the directory's probe and
					 each segment's is in
					 daxkv_segment_foreach() */
	uint64_t bad_blocks;        /**< bad blocks the device lists in the
					 unused part of segments at open
					 (those segments take no appends) */
	/* version 5 */
	uint64_t tombstones_dropped; /**< delete records compaction left
					  behind since open: no older version
					  of their key could survive them */
	uint64_t tombstone_bytes;   /**< bytes of delete records that are
					 the newest version of their key
					 (part of record_live_bytes; after a
					 clean reopen, only those written or
					 copied since) */
};

/**
 * Fill @p st.  Set st->version = DAXKV_STAT_VERSION first: a program
 * built against an older version passes that version and gets its fields
 * only (nothing past them is written), so the struct may grow in later
 * versions without breaking it.  Sizes: version 1 ends before
 * `compactions`, version 2 before `stale_marks`, version 3 before
 * `compaction_errors`, version 4 before `tombstones_dropped`, version 5
 * is sizeof(struct daxkv_stat) of this header.
 * @return 0 or DAXKV_EINVAL (NULL, or a version outside
 * 1..DAXKV_STAT_VERSION).
 */
DAXKV_API int daxkv_stat(daxkv *db, struct daxkv_stat *st);

/** Name of an error code; never NULL. */
DAXKV_API const char *daxkv_strerror(int err);

/**
 * Thread-local detail of the last error this thread got from daxkv, or
 * "" if none.  Valid until the thread's next daxkv call.
 */
DAXKV_API const char *daxkv_errmsg(void);

/** The library's version as "MAJOR.MINOR.PATCH". */
DAXKV_API const char *daxkv_version(void);

/* ---- Administration (kvctl) ---- */

/*
 * Calls for administrators' tools (kvctl): an offline verifier and a
 * per-segment view of an open handle.  They read the on-media format
 * described in the engine's layout.h so that a tool needs only this
 * header.
 */

/** What daxkv_check() found.  Value 0 is reserved. */
enum daxkv_problem_kind {
	DAXKV_PROBLEM_NONE = 0,
	DAXKV_PROBLEM_POOL = 1,      /**< meta.pool: cannot be opened, bad
					  root object or bad field */
	DAXKV_PROBLEM_SEGMENT = 2,   /**< segment file missing, of the wrong
					  size, bad header or sealed tail */
	DAXKV_PROBLEM_TORN_TAIL = 3, /**< open segment: remains of an
					  unacknowledged write after the last
					  complete record (harmless: open
					  discards them) */
	DAXKV_PROBLEM_RECORD = 4,    /**< unreadable bytes where records
					  should be: before the sealed tail,
					  or with valid records after them;
					  or a media error (SIGBUS, a bad
					  block the device lists) */
	DAXKV_PROBLEM_ORPHAN = 5,    /**< segment file that no LIVE slot of
					  the meta pool refers to */
	DAXKV_PROBLEM_EXTERNAL = 6,  /**< reported by the pool_check hook */
};

/** Structure version of struct daxkv_check_problem. */
#define DAXKV_CHECK_PROBLEM_VERSION 1u

/** One problem, as passed to the report callback. */
struct daxkv_check_problem {
	uint32_t version;    /**< DAXKV_CHECK_PROBLEM_VERSION */
	uint32_t kind;       /**< enum daxkv_problem_kind */
	const char *file;    /**< path of the file concerned */
	uint64_t offset;     /**< byte offset in @c file where it starts */
	uint64_t length;     /**< bytes concerned, 0 if not applicable */
	uint32_t repairable; /**< 1 if DAXKV_CHECK_REPAIR can fix it */
	uint32_t repaired;   /**< 1 if this call fixed it */
	const char *what;    /**< one sentence, without file and offset */
};

/**
 * Report callback: called once per problem, in file and offset order
 * within a segment.  Pointers are valid until it returns.  Return 0 to
 * go on; any other value stops the check and becomes daxkv_check()'s
 * return value.
 */
typedef int (*daxkv_check_fn)(const struct daxkv_check_problem *problem,
			      void *arg);

/**
 * Pool hook: called with the path of each libpmemobj pool of the
 * database (meta.pool) while the directory is locked and before the
 * library opens the pool, so that the caller can run libpmempool's check
 * on it (libdaxkv does not link libpmempool).  Return the number of
 * problems it found (>= 0; they are added to the result's count), or a
 * negative value to stop the check with that value.
 */
typedef int (*daxkv_check_pool_fn)(const char *path, void *arg);

/** @name Check flags (daxkv_check_options.flags)
 * @{ */
#define DAXKV_CHECK_REPAIR 0x1u /**< fix what can be fixed (see daxkv_check) */
/** @} */

/** Structure version of struct daxkv_check_options. */
#define DAXKV_CHECK_OPTIONS_VERSION 1u

/** Options of daxkv_check().  Zero it, then set version. */
struct daxkv_check_options {
	uint32_t version;               /**< DAXKV_CHECK_OPTIONS_VERSION */
	uint32_t flags;                 /**< DAXKV_CHECK_* */
	daxkv_check_fn report;          /**< each problem; may be NULL */
	daxkv_check_pool_fn pool_check; /**< each pool; may be NULL */
	void *arg;                      /**< passed to both callbacks */
};

/** Structure version of struct daxkv_check_result. */
#define DAXKV_CHECK_RESULT_VERSION 1u

/** Totals of one daxkv_check() call. */
struct daxkv_check_result {
	uint32_t version;       /**< (in) DAXKV_CHECK_RESULT_VERSION */
	uint32_t reserved;
	uint64_t problems;      /**< problems found (repaired or not) */
	uint64_t repaired;      /**< of which fixed by this call */
	uint64_t segments;      /**< LIVE segments examined */
	uint64_t records;       /**< valid committed records found */
	uint64_t record_bytes;  /**< bytes those records occupy */
	uint64_t dropped_records; /**< valid records of incomplete batches:
				       never committed, not counted above */
};

/**
 * Verify the database in @p dir offline: take the directory lock as
 * daxkv_open() does (so the database cannot be opened meanwhile), call
 * the pool hook, open meta.pool with libpmemobj and check its root
 * object and segment table, then walk every LIVE segment by the rules
 * of the on-media format (header, every record's crc and fields, seq
 * order, whole batches, sealed tail), calling @c report for each
 * problem with its file and offset.
 *
 * With DAXKV_CHECK_REPAIR, and only then, the files are changed (a
 * salvage: DAXKV_OPEN_SALVAGE does the same before an open), in a way the
 * next open accepts, keeping every record whose check passes and deleting
 * nothing that its own bytes do not prove dead:
 * - damaged bytes are first copied to a quarantine file beside their
 *   segment (seg-NNNNNNNN.dat.damaged-OFFSET, never overwritten), made
 *   durable, and only then overwritten: bytes followed by valid records
 *   become delete records of a reserved, never-visible key (records keep
 *   their offsets; the lost record's key keeps its previous version, if
 *   any; the report names the key where the damaged header still holds
 *   one); bytes at the end of a sealed segment are zeroed and the sealed
 *   tail lowered;
 * - a media error (a read that raised SIGBUS, a bad block the device
 *   lists) is recorded and its page given fresh zeroed blocks; a segment
 *   file cut short gets its size back;
 * - a segment header that fails its crc but is recognisably its slot's is
 *   rebuilt; meta table words are set from what the segments' own
 *   headers say (a damaged or older meta.pool); a meta.pool that
 *   libpmemobj cannot open is moved aside (meta.pool.damaged) and rebuilt
 *   from the segments' headers;
 * - a torn tail of an open segment is quarantined, then zeroed (as the
 *   engine does before it appends there again); orphan segment files proven dead by their
 *   own header are removed, other unknown ones renamed NAME.unknown;
 * - the clean flag is cleared so that the next open rescans instead of
 *   trusting the checkpoint.
 * Each repair is durable before the next step and can be repeated: if
 * power fails during a repair, check again.  A missing segment file is
 * reported, never repaired.
 *
 * @return 0 when the check ran to the end (problems, if any, are in @p
 * res), the report callback's or pool hook's stopping value, or
 * DAXKV_EINVAL (NULL or too long @p dir, bad versions, unknown flags),
 * DAXKV_ENODB (missing, not a directory, or no meta.pool), DAXKV_EBUSY
 * (open in another process; daxkv_errmsg() names its pid), DAXKV_EPERM,
 * DAXKV_EVERSION (written by another format version), DAXKV_ENOSPC (no
 * room for the lock file), DAXKV_ENOMEM, DAXKV_EIO.
 */
DAXKV_API int daxkv_check(const char *dir,
			  const struct daxkv_check_options *opts,
			  struct daxkv_check_result *res);

/** Structure version of struct daxkv_segment_info (2: durability). */
#define DAXKV_SEGMENT_INFO_VERSION 2u

/** One data segment of an open handle (daxkv_segment_foreach()). */
struct daxkv_segment_info {
	uint32_t version;      /**< DAXKV_SEGMENT_INFO_VERSION */
	uint32_t slot;         /**< index in the segment table; the file is
				    seg-SLOT.dat, SLOT in 8 decimal digits */
	uint32_t gen;          /**< slot generation */
	uint32_t sealed;       /**< 1 if its sealed tail is set */
	uint64_t size;         /**< file size in bytes */
	uint64_t tail;         /**< end of the last complete record */
	uint64_t live_bytes;   /**< bytes of newest records of live keys */
	uint64_t live_records; /**< how many such records it holds */
	/* version 2 */
	uint32_t durability;   /**< enum daxkv_durability of this segment's
				    mapping: MAP_SYNC/EADR/EMULATED (cache
				    flushes) or MSYNC; on a read-only handle
				    (mapped MAP_SYNC where DAX allows), the
				    mode a writer would use on its media */
	uint32_t reserved;
};

/** Segment callback: return 0 to go on, non-zero to stop. */
typedef int (*daxkv_segment_fn)(const struct daxkv_segment_info *info,
				void *arg);

/**
 * Call @p fn for each data segment of @p db in slot order.  Live bytes
 * are counted by one pass over the index, so the call costs time in
 * proportion to the number of keys; figures are a snapshot that
 * concurrent writes may move on.
 * @return 0 when all were visited, the callback's non-zero value when
 * it stopped, DAXKV_EINVAL (NULL argument) or DAXKV_ENOMEM.
 */
DAXKV_API int daxkv_segment_foreach(daxkv *db, daxkv_segment_fn fn,
				    void *arg);

/* ---- end Administration ---- */

#ifdef __cplusplus
}
#endif

#endif /* DAXKV_H */
