/* SPDX-License-Identifier: MIT */
/*
 * layout.h -- the on-media format of a daxkv database.
 *
 * Everything a reader needs to interpret a database without the engine's
 * DRAM state is in two headers, and only there:
 *
 *   this file                  the directory, the segment header, records
 *                              (the table below, validity, batches, the
 *                              version rule's argument), the meta pool
 *                              and the checkpoint file;
 *   include/daxkv_device.h     what a device compiles against without the
 *                              engine: struct dk_rec (the record header of
 *                              the table below), the DK_REC_* flags and
 *                              alignment, dk_rec_size() and the version
 *                              rule dk_rec_visible().
 *
 * The _Static_asserts after the segment header hold struct dk_rec and its
 * constants to the record table here.  The CPU recovery path, kvctl check,
 * the daxmirror emulated device and CUDA kernels all read records by
 * these definitions.  The format is little-endian, fixed width, and
 * frozen per DK_FORMAT_VERSION: change a byte here and the version must
 * change.
 *
 * A database is a directory:
 *
 *   lock            advisory lock (fcntl OFD) + the holder's pid, as text
 *   meta.pool       libpmemobj pool, layout "daxkv": struct dk_meta_root
 *   seg-NNNNNNNN.dat  data segments, NNNNNNNN = segment slot, decimal
 *   checkpoint.dat  index checkpoint written by a clean close (optional)
 *   backup.incomplete  present only while daxkv_backup() writes the
 *                   directory (backup.c): created first, removed last.
 *                   A directory holding it is not a database (open
 *                   refuses it), whatever else it holds
 *
 * Metadata that changes rarely and must change atomically (uuid, options,
 * the segment table, the clean-shutdown flag) lives in the libpmemobj pool.
 * A new pool is built under a temporary name and renamed into place; after
 * that every change is one aligned 8-byte word, stored and made durable
 * with pmemobj_persist (meta.c: dk_meta_set), which is failure atomic at
 * that size, and no change spans two words.  Records live in segments and
 * are written with libpmem (non-temporal copy + fence).
 *
 * Segment file (a multiple of 2 MiB, so that a device mirror can map it
 * with 2 MiB page-table entries; format 1: exactly the meta pool's
 * segment_size; format 2: at most that, each segment's own size in its
 * header and file, so that a small database need not have big ones):
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      8    magic "DAXKVSEG"
 *   8      4    format version (DK_FORMAT_VERSION)
 *   12     4    header size, 4096 (records begin there)
 *   16     16   database uuid
 *   32     4    segment slot (index in the meta segment table)
 *   36     4    slot generation (dk_seg_entry.gen when it was created)
 *   40     8    segment size in bytes
 *   48     4    crc32c of bytes [0, 48)
 *   52     4    reserved, 0
 *   56     8    seal word: the sealed tail, offset one past the last
 *               record when the segment was sealed (full, or clean
 *               close); 0 while the segment is open for a lane's
 *               appends; DK_SEAL_FILLING while a compaction fills it;
 *               DK_SEAL_RETIRED once compaction retired it.  Mutable,
 *               not in the crc; one 8-byte word, so each change is
 *               failure atomic.  The two marks have their low 3 bits set
 *               (a tail is 8-aligned) and bits above 2^30 (a tail is at
 *               most DK_SEG_MAX): no single flipped bit turns a tail, 0
 *               or the other mark into one of them.
 *   64     4032 reserved, 0
 *   4096   ...  records, back to back, each 8-byte aligned
 *
 * Record (header 32 bytes, then key, then value, padded with zeros to a
 * multiple of 8 bytes; the header is struct dk_rec, its flags DK_REC_PUT
 * (1), DK_REC_DEL (2) and DK_REC_BATCH (4), in include/daxkv_device.h):
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      4    crc32c (Castagnoli) of bytes [4, 24) of the header, then
 *               the key, then the value.  Not over `superseded` or padding.
 *   4      2    klen, 1..DAXKV_MAX_KEY
 *   6      2    flags: DK_REC_PUT or DK_REC_DEL, optionally DK_REC_BATCH
 *   8      4    vlen, 0..DAXKV_MAX_VALUE (0 for a delete)
 *   12     4    batch count: records in this record's batch (1 if single)
 *   16     8    seq: commit sequence number, >= 1
 *   24     8    superseded: seq of the record that replaced this key's
 *               version, 0 while it is the newest (a delete's may stay 0
 *               after it was replaced: nothing reads it).  Mutable, not
 *               in crc.
 *   32     klen key bytes
 *   32+klen vlen value bytes
 *
 * Validity (record.c: dk_rec_check).  A record is valid iff its crc
 * matches, klen/vlen/flags are in range, it fits in the segment, and its
 * seq is >= the seq of the record before it in the same segment (appends
 * in a segment are in seq order; recovery resumes sequence numbers above
 * every seq it has seen, so stale bytes past a torn tail can never pass
 * this test after new appends).  The first invalid record ends the
 * segment's log.
 *
 * What a crash can leave past the end of a segment's log.  The bytes of a
 * segment past its tail were zero when it was made (a new file is zero;
 * before a lane appends to a segment again, segment.c zeroes what lies
 * past its tail, once record.c has shown that nothing there is a valid
 * record), and only these stores ever reach them:
 *   - a lane's open segment (seal word 0): appends, by the one lane that
 *     owns it, one commit at a time under that lane's lock, each fenced
 *     before the tail moves and before the next commit starts (write.c).
 *     So a crash leaves at most one commit in flight: one batch (or one
 *     record) at the tail, any subset of its 8-byte words written, and
 *     zeros after it (a whole-line append writes zeros past its records,
 *     onto bytes that are zero already);
 *   - a compaction's destination (seal word DK_SEAL_FILLING): every copy
 *     from the header on, with one fence at the end, then the sealed
 *     tail.  A crash before that leaves any subset of the copies; their
 *     originals are intact in the victims, which are retired only after
 *     the seal (compact.c), so recovery removes such a segment whole.
 * Neither can leave a *complete* valid batch after an invalid record: the
 * records of the one commit in flight form one batch, and a batch counts
 * only with all of its records (a suffix of it is incomplete).  So,
 * walking on from the end of the log one 8-byte step at a time
 * (record.c: dk_log_resync), a complete valid batch with seq >= the last
 * kept one means damage, not a crash: recovery refuses the segment with
 * DAXKV_ECORRUPT, naming the file and offset, sealed or not, and only a
 * salvage (check.c) goes on.  Limits: the damaged *last* record of an open
 * segment reads as the commit a crash interrupted (it is one a crash could
 * have torn) and is dropped and counted in discarded_records; and a value
 * that itself holds the bytes of a complete valid record, written by a
 * commit that a crash tore, makes recovery refuse the database (never
 * silently lose it).  In a sealed segment the log must end exactly at the
 * sealed tail, and nothing valid lies past it.
 *
 * Batches.  The records of one batch share one seq, carry DK_REC_BATCH and
 * the count n, and are contiguous in one segment.  A batch is committed iff
 * all n records are valid; otherwise none of them counts (record.c:
 * dk_batch_end; a single record is a batch of one).
 *
 * Version rule (what a device may evaluate with only these bytes).  Given
 * a snapshot sequence s and, for each segment, the tail captured with s,
 * the record r at an offset below its segment's tail is visible at s iff
 *
 *     (r.flags & DK_REC_PUT) && r.seq <= s &&
 *     (r.superseded == 0 || r.superseded > s)
 *
 * The engine keeps this true: a write's superseded mark on the previous
 * version is stored before the write's seq can be part of any snapshot,
 * and recovery marks every put that lost to a newer record before the
 * database opens.  A delete is never visible, whatever its mark says.  Exactly one version of a key satisfies it at any s,
 * and none if the newest version at s is a delete.
 */
#ifndef DAXKV_LAYOUT_H
#define DAXKV_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "daxkv.h"
#include "daxkv_device.h" /* the record header and the version rule */

/* Format 2: segments of any size up to segment_size (above); a new
 * database is made in it.  Format 1 is read and written as it is (every
 * segment segment_size). */
#define DK_FORMAT_VERSION 2u
#define DK_FORMAT_VERSION_MIN 1u
#define DK_POOL_LAYOUT "daxkv"
#define DK_SEG_MAGIC "DAXKVSEG"
#define DK_META_MAGIC "DAXKVMET"
#define DK_CKPT_MAGIC "DAXKVCK2"
#define DK_BACKUP_MARKER "backup.incomplete"

#define DK_SEG_ALIGN (2ull << 20)      /* 2 MiB: one PMD mapping */
#define DK_SEG_MIN DK_SEG_ALIGN
#define DK_SEG_MAX (1ull << 30)
#define DK_SEG_DEFAULT (64ull << 20)
#define DK_SEG_HDR_SIZE 4096u
#define DK_MAX_SEGMENTS 16384u
#define DK_META_POOL_SIZE (8ull << 20)  /* PMEMOBJ_MIN_POOL */

/* Seal word marks (segment header offset 56, above). */
#define DK_SEAL_FILLING 0x474e494c4c494607ull /* "\aFILLING" */
#define DK_SEAL_RETIRED 0x444552495445520full /* "\x0fRETIRED" */

struct dk_seg_header {
	char magic[8];
	uint32_t format_version;
	uint32_t header_size;
	uint8_t uuid[16];
	uint32_t slot;
	uint32_t gen;
	uint64_t size;
	uint32_t crc;
	uint32_t reserved0;
	uint64_t sealed_tail;
};

_Static_assert(sizeof(struct dk_seg_header) == 64, "segment header size");
_Static_assert(offsetof(struct dk_seg_header, uuid) == 16, "uuid offset");
_Static_assert(offsetof(struct dk_seg_header, slot) == 32, "slot offset");
_Static_assert(offsetof(struct dk_seg_header, size) == 40, "size offset");
_Static_assert(offsetof(struct dk_seg_header, crc) == 48, "crc offset");
_Static_assert(offsetof(struct dk_seg_header, sealed_tail) == 56,
	       "sealed tail offset");
/* The record header of include/daxkv_device.h, held to the table above. */
_Static_assert(DK_REC_HDR_SIZE == 32 && DK_REC_ALIGN == 8, "record framing");
_Static_assert(sizeof(struct dk_rec) == DK_REC_HDR_SIZE, "record header");
_Static_assert(offsetof(struct dk_rec, crc) == 0 &&
		       sizeof(((struct dk_rec *)0)->crc) == 4, "crc field");
_Static_assert(offsetof(struct dk_rec, klen) == 4 &&
		       sizeof(((struct dk_rec *)0)->klen) == 2, "klen field");
_Static_assert(offsetof(struct dk_rec, flags) == 6 &&
		       sizeof(((struct dk_rec *)0)->flags) == 2, "flags field");
_Static_assert(offsetof(struct dk_rec, vlen) == 8 &&
		       sizeof(((struct dk_rec *)0)->vlen) == 4, "vlen field");
_Static_assert(offsetof(struct dk_rec, batch) == 12 &&
		       sizeof(((struct dk_rec *)0)->batch) == 4, "batch field");
_Static_assert(offsetof(struct dk_rec, seq) == 16 &&
		       sizeof(((struct dk_rec *)0)->seq) == 8, "seq field");
_Static_assert(offsetof(struct dk_rec, superseded) == 24 &&
		       sizeof(((struct dk_rec *)0)->superseded) == 8,
	       "superseded field");
_Static_assert(DK_REC_PUT == 1 && DK_REC_DEL == 2 && DK_REC_BATCH == 4,
	       "record flags");
_Static_assert(DAXKV_MAX_KEY <= UINT16_MAX, "klen fits its field");
_Static_assert(DAXKV_MAX_KEY == DKD_MAX_KEY, "device key limit");
_Static_assert(DAXKV_MAX_VALUE == DKD_MAX_VALUE, "device value limit");

/*
 * Meta pool (libpmemobj root object).  Built whole under a temporary
 * name, then changed only one durable 8-byte word at a time (above).
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      8    magic "DAXKVMET"
 *   8      4    format version
 *   12     4    flags, 0
 *   16     16   uuid
 *   32     8    segment_size (format 2: the largest a segment may be)
 *   40     8    max_size last given to open (0 = none)
 *   48     8    clean: 1 if checkpoint.dat of ckpt_gen is valid
 *   56     8    ckpt_gen: generation of the last checkpoint written
 *   64     8    open_count: opens since creation
 *   72     8    sds: the device's unsafe shutdown count at the last open
 *               (bits 0-31, + 1) and a crc32c of its id (bits 32-63);
 *               0 = not recorded (engine/media.c)
 *   80     16*DK_MAX_SEGMENTS   segment table, indexed by slot
 *
 * Segment table entry:
 *   0      4    state: DK_SEG_FREE (0), DK_SEG_LIVE, DK_SEG_RETIRED
 *   4      4    gen: bumped each time the slot is (re)used
 *   8      8    reserved
 */
enum dk_seg_state {
	DK_SEG_FREE = 0,
	DK_SEG_LIVE = 1,
	DK_SEG_RETIRED = 2,
};

struct dk_seg_entry {
	uint32_t state;
	uint32_t gen;
	uint64_t reserved;
};

struct dk_meta_root {
	char magic[8];
	uint32_t format_version;
	uint32_t flags;
	uint8_t uuid[16];
	uint64_t segment_size;
	uint64_t max_size;
	uint64_t clean;
	uint64_t ckpt_gen;
	uint64_t open_count;
	uint64_t sds;
	struct dk_seg_entry segs[DK_MAX_SEGMENTS];
};

_Static_assert(sizeof(struct dk_seg_entry) == 16, "segment entry size");
_Static_assert(offsetof(struct dk_meta_root, segment_size) == 32,
	       "segment size offset");
_Static_assert(offsetof(struct dk_meta_root, segs) == 80, "table offset");

/*
 * Checkpoint file, written with write(2) + fsync at a clean close and
 * trusted only while meta.clean == 1 and the generations match.  It
 * lists every live key with its key bytes, so that the next open builds
 * the index from the file alone (in key order, bottom up) and reads the
 * records only to check them, in the order they lie in (checkpoint.c):
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      8    magic "DAXKVCK2"
 *   8      4    format version
 *   12     4    crc32c of bytes [16, end of file)
 *   16     16   uuid
 *   32     8    generation (== meta.ckpt_gen)
 *   40     8    number of segment tails (T)
 *   48     8    number of entries (N)
 *   56     8    last seq
 *   64     16*T tails: u32 slot, u32 slot generation, u64 tail offset,
 *               which must equal the segment's sealed tail
 *   ...    16*N entries in key order: u32 slot, u32 offset of the newest
 *               record of each live key, u32 its value length, u16 its key
 *               length, u16 reserved (0)
 *   ...    key bytes: the entries' keys, back to back in their order, to
 *               the end of the file
 *
 * The checkpoint is no part of the database's format: a file of another
 * layout (the first one, "DAXKVCKP", had no keys) is ignored and open
 * scans instead, as it does after a crash.
 */
struct dk_ckpt_header {
	char magic[8];
	uint32_t format_version;
	uint32_t crc;
	uint8_t uuid[16];
	uint64_t gen;
	uint64_t ntails;
	uint64_t nentries;
	uint64_t last_seq;
};

struct dk_ckpt_tail {
	uint32_t slot;
	uint32_t gen;
	uint64_t tail;
};

struct dk_ckpt_entry {
	uint32_t slot;
	uint32_t offset;
	uint32_t vlen;
	uint16_t klen;
	uint16_t reserved;
};

_Static_assert(sizeof(struct dk_ckpt_header) == 64, "checkpoint header");
_Static_assert(sizeof(struct dk_ckpt_tail) == 16, "checkpoint tail");
_Static_assert(sizeof(struct dk_ckpt_entry) == 16, "checkpoint entry");
_Static_assert(DK_SEG_MAX <= UINT32_MAX, "offsets fit in 32 bits");

#endif /* DAXKV_LAYOUT_H */
