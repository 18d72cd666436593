/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * daxmirror_uapi.h -- the ioctl interface of /dev/daxmirror, shared by the
 * kernel module (kmod/), the engine and the tests.
 *
 * Rules: every struct is made of __u64 only, so its layout is the same for
 * 32- and 64-bit callers and needs no compat handler; each field says
 * whether the caller fills it (in) or the module does (out); every flags
 * field rejects unknown bits; value 0 of every enum is reserved so that a
 * zeroed field is never a valid choice.
 *
 * Sizes.  The first field of every argument struct is its size, the
 * caller's sizeof().  The module reads the struct as the kernel's
 * copy_struct_from_user() does: a caller's struct shorter than the
 * module's (an older caller) reads as if the fields it lacks were 0; a
 * longer one (a newer caller) is taken if every byte the module does not
 * know is 0, else the ioctl fails with -E2BIG, as it does for a size
 * above DAXMIRROR_MAX_ARG_SIZE; a size below the struct's first version
 * (DAXMIRROR_*_SIZE_VER0) or not a multiple of 8 is -EINVAL.  Out fields
 * are written back for at most the caller's size.  So fields are only
 * ever appended, and a new field's 0 means what the interface did before
 * it.  The ioctl number
 * carries the magic, the command number, the direction (_IOW: the module
 * only reads the struct, _IOWR: it also writes out fields) and the
 * caller's sizeof; the module matches magic, number and direction and
 * ignores the size bits, so that a caller built against a longer struct
 * reaches the same command.
 *
 * User addresses may carry tags (arm64 TBI, x86 LAM); the module strips
 * them with untagged_addr() before it checks or uses them.
 *
 * Each open file of /dev/daxmirror is one device address space bound to the
 * mm of the process that opened it.  Ioctls from any other mm (a child after
 * fork, a process that received the fd) fail with -EPERM.
 *
 * What can be mirrored: shared mappings of DAX memory only -- a file on a
 * file system mounted with -o dax (MAP_SHARED or MAP_SHARED_VALIDATE, with
 * or without MAP_SYNC) or a device-dax character device -- whose pages are
 * fsdax or devdax ZONE_DEVICE pages (or the zero page, which the kernel
 * maps over a hole of such a file).  MAP refuses anything else with
 * -EOPNOTSUPP: private mappings, anonymous memory, tmpfs and other page
 * cache files, memfd_secret() memory (which is not in the kernel's direct
 * map), I/O and PFN mappings.  Every fault checks it again, so a mapping
 * replaced after MAP is refused the same way.
 *
 * Errors every ioctl can return: -EPERM (another mm), -ENOTTY (unknown
 * command or direction), -EINVAL or -E2BIG (size, see above), -EFAULT (the
 * argument struct cannot be copied), -EINTR (a fatal signal while waiting
 * for a lock, a slot, a fault or the device; other signals do not
 * interrupt), -ENOMEM.  Each ioctl lists its own below.
 */
#ifndef DAXMIRROR_UAPI_H
#define DAXMIRROR_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#include "daxkv_device.h" /* struct dkd_filter, records, version rule */

#define DAXMIRROR_DEVICE_NAME "daxmirror"
#define DAXMIRROR_IOC_MAGIC 0xDA

/* Limits, also enforced by the module (see docs/kmod.md, "Limits"). */
#define DAXMIRROR_MAX_ARG_SIZE 4096ull	   /* size field of any struct */
#define DAXMIRROR_MAX_RANGES 1024	   /* MAP ranges per open file */
#define DAXMIRROR_MAX_RANGE_LEN (1ull << 30) /* bytes in one MAP range */
#define DAXMIRROR_MAX_MIRROR_LEN (64ull << 30) /* bytes mapped per file */
#define DAXMIRROR_MAX_READ_LEN (64ull << 20) /* bytes per READ */
#define DAXMIRROR_MAX_SNAPSHOT_PAGES 65536ull /* pages per SNAPSHOT */
#define DAXMIRROR_MAX_QUERY_UNITS (1ull << 20) /* units per QUERY */
#define DAXMIRROR_MAX_QUERY_ROWS (256ull << 20) /* rows_cap of a QUERY */
#define DAXMIRROR_MAX_CALLS 8ull /* MAP/READ/SNAPSHOT/QUERY in flight per
				    file; more wait (killably) */

/*
 * Interface version VERSION reports; 2 added VERSION and QUERY; 3 the size
 * rule above (2 wanted exact sizes), UNMAP as _IOW, -EOPNOTSUPP for what
 * is not a shared DAX mapping, -EIO for poisoned memory, QUERY's err_addr,
 * per-file STATS.
 */
#define DAXMIRROR_API_VERSION 3ull

/* daxmirror_map.flags */
#define DAXMIRROR_MAP_PREFAULT 0x1ull /* fault the whole range now */
#define DAXMIRROR_MAP_FLAGS_KNOWN DAXMIRROR_MAP_PREFAULT

/*
 * MAP: mirror [addr, addr + len) of the caller's address space, which must
 * be mapped, all of it, by shared DAX mappings (see above).  On success
 * the (in) fields come back unchanged.  PREFAULT faults the range now, in
 * the calling thread, best effort like MAP_POPULATE: a page that cannot
 * be faulted is no error.
 *
 * Errors: -EINVAL (size, flags, alignment, 0 or too long, overflow, beyond
 * the user address space), -EEXIST (overlaps a range of this file),
 * -ENOSPC (range or byte limit of the file), -EFAULT (part of the range is
 * not mapped), -EOPNOTSUPP (part of it is mapped by something else than
 * a shared DAX mapping), -EINTR (a fatal signal; with PREFAULT the range
 * may stay registered until the file is closed).
 */
struct daxmirror_map {
	__u64 size;	/* (in) sizeof(struct daxmirror_map) */
	__u64 addr;	/* (in) page aligned start */
	__u64 len;	/* (in) page aligned length, 1..MAX_RANGE_LEN */
	__u64 flags;	/* (in) DAXMIRROR_MAP_* */
	__u64 faulted;	/* (out) pages valid after a PREFAULT */
};

/*
 * UNMAP: stop mirroring the range MAP registered at exactly addr, len.
 * READs and QUERYs in flight over it finish with what they have (a range
 * lives until the last of them is done), so UNMAP does not wait for them.
 * Errors: -EINVAL, -ENOENT (no such range).
 */
struct daxmirror_unmap {
	__u64 size;	/* (in) sizeof(struct daxmirror_unmap) */
	__u64 addr;	/* (in) as given to MAP */
	__u64 len;	/* (in) as given to MAP */
};

/*
 * READ: the device copies [addr, addr + len) as it sees it into the user
 * buffer at ptr, faulting missing pages (the calling thread faults them).
 * The ioctl returns 0 when every byte was read; otherwise the first error,
 * and bytes says how many leading bytes of the buffer are valid (so addr
 * + bytes is where it failed).
 *
 * Errors: -EINVAL, -ENXIO (not inside one MAP range, or the range was
 * UNMAPped during the READ), -EFAULT (no readable CPU mapping there, a
 * page beyond the end of its file, or a bad buffer), -EOPNOTSUPP (the
 * CPU mapping there is not a shared DAX mapping, or its page not an
 * fsdax or devdax page), -EIO (a poisoned page: one the kernel has marked
 * hardware-poisoned, or one whose read raised a machine check; the page
 * stays refused until its mapping changes), -EBUSY (the range did not
 * settle within the fault timeout), -EINTR.
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

/*
 * Per-page state bits written by SNAPSHOT, one __u8 per page.  Bits 4..7
 * hold the CPU mapping's order for a VALID page (15 for 15 or more), and
 * for an ERROR page why it is refused.
 */
#define DAXMIRROR_SNAP_VALID 0x01	/* the device page table maps it */
#define DAXMIRROR_SNAP_WRITE 0x02	/* ... writable */
#define DAXMIRROR_SNAP_ERROR 0x04	/* its last fault failed, or refused */
#define DAXMIRROR_SNAP_UNMAPPED 0x08	/* not inside any MAP range */
#define DAXMIRROR_SNAP_ORDER_SHIFT 4	/* bits 4..7 */
#define DAXMIRROR_SNAP_WHY_FAULT 0x00	/* ERROR: the fault failed */
#define DAXMIRROR_SNAP_WHY_POISON 0x10	/* ERROR: poisoned (READ: -EIO) */
#define DAXMIRROR_SNAP_WHY_REFUSED 0x20 /* ERROR: not fsdax/devdax memory */
#define DAXMIRROR_SNAP_WHY_MASK 0xf0

/* SNAPSHOT: report the device page table, without faulting.  Errors:
 * -EINVAL, -EFAULT (a bad ptr). */
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

/*
 * STATS: counters of this file only.  (Module-wide live object counts are
 * in /sys/class/misc/daxmirror/live_*, readable by root only.)  The three
 * fields after ranges held module-wide counts in API 2.
 */
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
	__u64 in_flight;	/* (out) MAP/READ/SNAPSHOT/QUERY in progress */
	__u64 poisoned;		/* (out) pages found poisoned (-EIO) */
	__u64 pt_bytes;		/* (out) page table memory of this file */
	__u64 events[DAXMIRROR_EV_COUNT]; /* (out) invalidations by event */
	/* API 3 */
	__u64 refused;		/* (out) faults refused: not shared DAX */
};

/* VERSION: what this module speaks.  Modules before API 2 lack it
 * (-ENOTTY): treat that as "no QUERY".  Errors: -EINVAL. */
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
 * faulted (the CPU mapping is gone) or a user pointer is bad; -EOPNOTSUPP
 * and -EIO as READ (a page that is not fsdax or devdax memory, a poisoned
 * page); -EBUSY when the range did not settle within the fault timeout;
 * -EINTR on a fatal signal (as READ, other signals do not interrupt a
 * query); -ENOMEM.  Units may not overlap one another (-EINVAL), so a
 * query walks each mapped byte at most once.  On an error nothing in the
 * out fields but faults, records and err_addr is meaningful; err_addr is
 * the device address of the page that failed for -EFAULT, -EOPNOTSUPP and
 * -EIO (the first byte a machine check hit, for that -EIO), else 0.
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
	/* API 3 */
	__u64 err_addr;	   /* (out) where it failed (see above), or 0 */
};

/* The sizes of the first version of each struct (API 2): the least a
 * caller may pass. */
#define DAXMIRROR_MAP_SIZE_VER0 40ull
#define DAXMIRROR_UNMAP_SIZE_VER0 24ull
#define DAXMIRROR_READ_SIZE_VER0 56ull
#define DAXMIRROR_SNAPSHOT_SIZE_VER0 40ull
#define DAXMIRROR_STATS_SIZE_VER0 248ull
#define DAXMIRROR_VERSION_SIZE_VER0 24ull
#define DAXMIRROR_QUERY_SIZE_VER0 (176ull + sizeof(struct dkd_filter))

#define DAXMIRROR_IOC_MAP _IOWR(DAXMIRROR_IOC_MAGIC, 1, struct daxmirror_map)
#define DAXMIRROR_IOC_UNMAP \
	_IOW(DAXMIRROR_IOC_MAGIC, 2, struct daxmirror_unmap)
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
