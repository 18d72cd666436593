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

#define DAXMIRROR_DEVICE_NAME "daxmirror"
#define DAXMIRROR_IOC_MAGIC 0xDA

/* Limits, also enforced by the module (see docs/kmod.md, "Limits"). */
#define DAXMIRROR_MAX_RANGES 64		   /* MAP ranges per open file */
#define DAXMIRROR_MAX_RANGE_LEN (1ull << 30) /* bytes in one MAP range */
#define DAXMIRROR_MAX_MIRROR_LEN (4ull << 30) /* bytes mapped per file */
#define DAXMIRROR_MAX_READ_LEN (64ull << 20) /* bytes per READ */
#define DAXMIRROR_MAX_SNAPSHOT_PAGES 65536ull /* pages per SNAPSHOT */

/* daxmirror_map.flags */
#define DAXMIRROR_MAP_PREFAULT 0x1ull /* fault the whole range now */
#define DAXMIRROR_MAP_FLAGS_KNOWN DAXMIRROR_MAP_PREFAULT

/* MAP: mirror [addr, addr + len) of the caller's address space. */
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

#define DAXMIRROR_IOC_MAP _IOWR(DAXMIRROR_IOC_MAGIC, 1, struct daxmirror_map)
#define DAXMIRROR_IOC_UNMAP \
	_IOWR(DAXMIRROR_IOC_MAGIC, 2, struct daxmirror_unmap)
#define DAXMIRROR_IOC_READ _IOWR(DAXMIRROR_IOC_MAGIC, 3, struct daxmirror_read)
#define DAXMIRROR_IOC_SNAPSHOT \
	_IOWR(DAXMIRROR_IOC_MAGIC, 4, struct daxmirror_snapshot)
#define DAXMIRROR_IOC_STATS \
	_IOWR(DAXMIRROR_IOC_MAGIC, 5, struct daxmirror_stats)

#endif /* DAXMIRROR_UAPI_H */
