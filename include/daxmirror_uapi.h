/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * daxmirror_uapi.h -- the ioctl interface of /dev/daxmirror, shared by the
 * kernel module (kmod/), the engine and the tests.
 *
 * Rules: every struct is made of __u64 only, so its layout is the same for
 * 32- and 64-bit callers and needs no compat handler; each field says
 * whether the caller fills it (in) or the module does (out); the first field
 * of every argument struct is its size, which the module checks against the
 * size it knows (a mismatch is -EINVAL, never a partial copy); every flags
 * field rejects unknown bits; value 0 of every enum is reserved so that a
 * zeroed field is never a valid choice.
 *
 * Each open file of /dev/daxmirror is one device address space bound to the
 * mm of the process that opened it.  Ioctls from any other mm (a child after
 * fork, a process that received the fd) fail with -EPERM.
 */
#ifndef DAXMIRROR_UAPI_H
#define DAXMIRROR_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#include "daxkv_device.h" /* struct dkd_filter, records, version rule */

#define DAXMIRROR_DEVICE_NAME "daxmirror"
#define DAXMIRROR_IOC_MAGIC 0xDA

/* Limits, also enforced by the module (see docs/kmod.md, "Limits"). */
#define DAXMIRROR_MAX_RANGES 1024	   /* MAP ranges per open file */
#define DAXMIRROR_MAX_RANGE_LEN (1ull << 30) /* bytes in one MAP range */
#define DAXMIRROR_MAX_MIRROR_LEN (64ull << 30) /* bytes mapped per file */
#define DAXMIRROR_MAX_READ_LEN (64ull << 20) /* bytes per READ */
#define DAXMIRROR_MAX_SNAPSHOT_PAGES 65536ull /* pages per SNAPSHOT */
#define DAXMIRROR_MAX_QUERY_UNITS (1ull << 20) /* units per QUERY */
#define DAXMIRROR_MAX_QUERY_ROWS (256ull << 20) /* rows_cap of a QUERY */

/* Interface version VERSION reports; 2 added VERSION and QUERY. */
#define DAXMIRROR_API_VERSION 2ull

/* daxmirror_map.flags */
#define DAXMIRROR_MAP_PREFAULT 0x1ull /* fault the whole range now */
#define DAXMIRROR_MAP_FLAGS_KNOWN DAXMIRROR_MAP_PREFAULT

/* MAP: mirror [addr, addr + len) of the caller's address space.  On success
 * the (in) fields come back unchanged. */
struct daxmirror_map {
	__u64 size;	/* (in) sizeof(struct daxmirror_map) */
	__u64 addr;	/* (in) page aligned start */
	__u64 len;	/* (in) page aligned length, 1..MAX_RANGE_LEN */
	__u64 flags;	/* (in) DAXMIRROR_MAP_* */
	__u64 faulted;	/* (out) pages valid after a PREFAULT */
};

/* UNMAP: stop mirroring the range MAP registered at exactly addr, len. */
struct daxmirror_unmap {
	__u64 size;	/* (in) sizeof(struct daxmirror_unmap) */
	__u64 addr;	/* (in) as given to MAP */
	__u64 len;	/* (in) as given to MAP */
};

/*
 * READ: the device copies [addr, addr + len) as it sees it into the user
 * buffer at ptr, faulting missing pages.  The ioctl returns 0 when every
 * byte was read; otherwise the first error (for example -EFAULT when the
 * CPU mapping is gone or lies beyond the end of its file), and bytes says
 * how many leading bytes of the buffer are valid.
 */
struct daxmirror_read {
	__u64 size;	/* (in) sizeof(struct daxmirror_read) */
	__u64 addr;	/* (in) start, inside one MAP range */
	__u64 len;	/* (in) 1..MAX_READ_LEN, inside the same range */
	__u64 ptr;	/* (in) user buffer of len bytes */
	__u64 lanes;	/* (in) device lanes to use, 0 = default */
	__u64 bytes;	/* (out) leading bytes read before the first error */
	__u64 faults;	/* (out) device faults this read took */
};

/* Per-page state bits written by SNAPSHOT, one __u8 per page. */
#define DAXMIRROR_SNAP_VALID 0x01	/* the device page table maps it */
#define DAXMIRROR_SNAP_WRITE 0x02	/* ... writable */
#define DAXMIRROR_SNAP_ERROR 0x04	/* the last fault of it failed */
#define DAXMIRROR_SNAP_UNMAPPED 0x08	/* not inside any MAP range */
#define DAXMIRROR_SNAP_ORDER_SHIFT 4	/* bits 4..7: CPU mapping order */

/* SNAPSHOT: report the device page table, without faulting. */
struct daxmirror_snapshot {
	__u64 size;	/* (in) sizeof(struct daxmirror_snapshot) */
	__u64 addr;	/* (in) page aligned start */
	__u64 npages;	/* (in) 1..MAX_SNAPSHOT_PAGES */
	__u64 ptr;	/* (in) user array of npages __u8 */
	__u64 valid;	/* (out) pages with DAXMIRROR_SNAP_VALID */
};

/*
 * Invalidation events, indexes of daxmirror_stats.invalidations.  They are
 * the kernel's enum mmu_notifier_event shifted by one, so that 0 stays
 * reserved; DAXMIRROR_EV_OTHER counts events this header does not know.
 */
enum daxmirror_event {
	DAXMIRROR_EV_RESERVED = 0,
	DAXMIRROR_EV_UNMAP = 1,
	DAXMIRROR_EV_CLEAR = 2,
	DAXMIRROR_EV_PROTECTION_VMA = 3,
	DAXMIRROR_EV_PROTECTION_PAGE = 4,
	DAXMIRROR_EV_SOFT_DIRTY = 5,
	DAXMIRROR_EV_RELEASE = 6,
	DAXMIRROR_EV_MIGRATE = 7,
	DAXMIRROR_EV_EXCLUSIVE = 8,
	DAXMIRROR_EV_OTHER = 9,
	DAXMIRROR_EV_COUNT = 16, /* size of the array, room to grow */
};

/* STATS: counters of this file, and module-wide live object counts. */
struct daxmirror_stats {
	__u64 size;		/* (in) sizeof(struct daxmirror_stats) */
	__u64 faults;		/* (out) hmm_range_fault calls that succeeded */
	__u64 fault_errors;	/* (out) ... that failed */
	__u64 last_fault_error;	/* (out) -errno of the last failure, 0 none */
	__u64 retries;		/* (out) -EBUSY or read_retry loops */
	__u64 invalidations;	/* (out) invalidate callbacks, all events */
	__u64 pages_cleared;	/* (out) entries cleared by them */
	__u64 mirrored_order0;	/* (out) entries filled at order 0 (4 KiB) */
	__u64 mirrored_order9;	/* (out) entries filled at order 9 (2 MiB) */
	__u64 mirrored_other;	/* (out) entries filled at any other order */
	__u64 bytes_read;	/* (out) bytes the device read */
	__u64 ranges;		/* (out) live MAP ranges of this file */
	__u64 live_files;	/* (out) module-wide: open files */
	__u64 live_ranges;	/* (out) module-wide: registered notifiers */
	__u64 live_pt_bytes;	/* (out) module-wide: page table memory */
	__u64 events[DAXMIRROR_EV_COUNT]; /* (out) invalidations by event */
};

/* VERSION: what this module speaks.  Modules before API 2 lack it
 * (-ENOTTY): treat that as "no QUERY". */
struct daxmirror_version {
	__u64 size;	/* (in) sizeof(struct daxmirror_version) */
	__u64 api;	/* (out) DAXMIRROR_API_VERSION of the module */
	__u64 lanes;	/* (out) lanes of the emulated device, at most */
};

/*
 * QUERY: the emulated device evaluates a compiled daxkv query (struct
 * dkd_filter, include/daxkv_device.h) over records in mirrored memory and
 * copies back only results.  The records to walk come as units: a unit
 * is [addr, addr + len) of whole records, back to back, inside one MAP
 * range; the caller cuts them at record boundaries (a segment's records
 * below the tail captured with the filter's snapshot).  The device reads
 * the records through its page table, faulting as READ does, applies the
 * version rule with filter.snap and the filter, and spreads units over
 * its lanes.
 *
 * Without DAXMIRROR_QUERY_ROWS it returns the aggregates of all units
 * (count, sum, min, max as struct dkd_acc defines them).
 *
 * With DAXMIRROR_QUERY_ROWS it also copies each matching record (header,
 * key, value, padding: the record format) to rows_ptr, back to back, in
 * unit order.  Evaluation starts at unit resume_unit; when the next unit's
 * rows might not fit in what is left of rows_cap, or rows_limit rows are
 * copied, it stops: on return, units [resume_unit in, resume_unit out)
 * are evaluated with all their rows in the buffer and aggregates, and
 * done says whether that was the last unit.  Every unit's len must be <=
 * rows_cap, so that each call makes progress.  "Might not fit" counts a
 * unit at its full len: a call evaluates units while the next one's len
 * fits in rows_cap less the rows_bytes already copied.  rows_limit is a
 * hint to stop early: the call may return more rows than it (whole units
 * always), and fewer when it returns for rows_cap.  Without ROWS,
 * rows_ptr, rows_cap, rows_limit and resume_unit must be 0, all units are
 * evaluated and resume_unit comes back as nunits.  As in every ioctl
 * here, the (out) fields must be 0 on input.
 *
 * Errors: -EINVAL for a bad size, flags, unit (unaligned, empty, not
 * inside one MAP range, longer than rows_cap), filter field (reserved type
 * or op, width, offset + width > DKD_FIELD_LIMIT, more than DKD_MAX_PREDS
 * predicates, key lengths > DKD_MAX_KEY, a key pointer without a length,
 * lo >= hi when both are set, min_vlen smaller than a field needs) or a
 * record that cannot be (klen 0 or > DKD_MAX_KEY, vlen > DKD_MAX_VALUE,
 * crossing its unit's end); -EFAULT when a mirrored page cannot be
 * faulted (the CPU mapping is gone) or a user pointer is bad; -EBUSY when
 * the range did not settle within the fault timeout; -EINTR on a fatal
 * signal (as READ, other signals do not interrupt a query); -ENOMEM.
 * On an error nothing in the out fields but faults and records is
 * meaningful.
 */
#define DAXMIRROR_QUERY_ROWS 0x1ull
#define DAXMIRROR_QUERY_FLAGS_KNOWN DAXMIRROR_QUERY_ROWS

struct daxmirror_query_unit {
	__u64 addr;	/* (in) first record, 8-byte aligned */
	__u64 len;	/* (in) bytes of whole records, > 0, a multiple of 8 */
};

struct daxmirror_query {
	__u64 size;	   /* (in) sizeof(struct daxmirror_query) */
	__u64 flags;	   /* (in) DAXMIRROR_QUERY_* */
	__u64 units_ptr;   /* (in) array of nunits daxmirror_query_unit */
	__u64 nunits;	   /* (in) 1..DAXMIRROR_MAX_QUERY_UNITS */
	__u64 lo_ptr;	   /* (in) filter.lo_len key bytes, or 0 */
	__u64 hi_ptr;	   /* (in) filter.hi_len key bytes, or 0 */
	__u64 prefix_ptr;  /* (in) filter.prefix_len key bytes, or 0 */
	__u64 lanes;	   /* (in) device lanes to use, 0 = default */
	__u64 rows_ptr;	   /* (in) ROWS: buffer of rows_cap bytes */
	__u64 rows_cap;	   /* (in) ROWS: 1..DAXMIRROR_MAX_QUERY_ROWS */
	__u64 rows_limit;  /* (in) ROWS: stop once this many, 0 = none */
	__u64 resume_unit; /* (in/out) ROWS: first unit; (out) next unit */
	__u64 done;	   /* (out) 1 if no unit is left to evaluate */
	__u64 rows;	   /* (out) ROWS: records copied to rows_ptr */
	__u64 rows_bytes;  /* (out) ROWS: bytes of rows_ptr filled */
	__u64 count;	   /* (out) matching records */
	__u64 sum;	   /* (out) struct dkd_acc, of the units evaluated */
	__u64 min;	   /* (out) */
	__u64 max;	   /* (out) */
	__u64 records;	   /* (out) records walked */
	__u64 bytes;	   /* (out) bytes walked */
	__u64 faults;	   /* (out) device faults this query took */
	struct dkd_filter filter; /* (in) */
};

#define DAXMIRROR_IOC_MAP _IOWR(DAXMIRROR_IOC_MAGIC, 1, struct daxmirror_map)
#define DAXMIRROR_IOC_UNMAP \
	_IOWR(DAXMIRROR_IOC_MAGIC, 2, struct daxmirror_unmap)
#define DAXMIRROR_IOC_READ _IOWR(DAXMIRROR_IOC_MAGIC, 3, struct daxmirror_read)
#define DAXMIRROR_IOC_SNAPSHOT \
	_IOWR(DAXMIRROR_IOC_MAGIC, 4, struct daxmirror_snapshot)
#define DAXMIRROR_IOC_STATS \
	_IOWR(DAXMIRROR_IOC_MAGIC, 5, struct daxmirror_stats)
#define DAXMIRROR_IOC_VERSION \
	_IOWR(DAXMIRROR_IOC_MAGIC, 6, struct daxmirror_version)
#define DAXMIRROR_IOC_QUERY \
	_IOWR(DAXMIRROR_IOC_MAGIC, 7, struct daxmirror_query)

#endif /* DAXMIRROR_UAPI_H */
