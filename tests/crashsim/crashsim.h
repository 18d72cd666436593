/* SPDX-License-Identifier: MIT */
/*
 * crashsim.h -- what the crash simulator's files share.
 *
 *   sched.c     the deterministic scheduler: engine and workload threads
 *               run one at a time, switched at the seam, at locks and at
 *               waits by a seeded choice (pthread/urcu wrappers)
 *   pmem.c      the persistent-memory model: every version a cache line
 *               held since it was last known durable, per-thread flushes
 *               and fences (the seam hooks)
 *   fs.c        the file-system model: namespace and file data, what a
 *               crash keeps of operations not yet fsynced (file-op
 *               wrappers); the check directory built from it
 *   image.c     crash points: the crash states of one point, built in the
 *               check directory and handed to the checker
 *   checker.c   the checker process: daxkv_open on a crash state, then
 *               every key, a scan and a query against the model
 *   crashsim.c  options, the workload, the phases, the figures
 */
#ifndef CRASHSIM_H
#define CRASHSIM_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LINE 64u
#define NKEYS 32
#define MAXTHREADS 16
#define MAXWRITERS 4
#define SEG_SIZE (2ull << 20)
#define META_SIZE (8ull << 20)

/* ---- the model of acknowledged writes (crashsim.c, checker.c) ---- */

struct kv_state {
	int32_t len[NKEYS]; /* -1: absent */
	uint32_t ver[NKEYS];
};

/*
 * What a crash state must show.  Keys not in flight: old.  A key in
 * flight belongs to the operation of one writer thread (group g = its
 * number + 1): every key of that operation shows old, or every key new.
 */
struct expect {
	struct kv_state old, new;
	uint8_t group[NKEYS]; /* 0: not in flight */
};

void key_name(int k, char *buf);
uint8_t val_byte(int k, uint32_t ver, size_t i);
bool value_ok(int k, const struct kv_state *st, const uint8_t *val,
	      size_t vlen);

/* ---- options and counters (crashsim.c) ---- */

enum plant {
	PLANT_NONE,
	PLANT_FENCE_DROPPED = 1,  /* the fence after a record copy skipped */
	PLANT_NO_FLUSH = 2,       /* record copies never flushed */
	PLANT_HEADER_LATE = 3,    /* segment header after its LIVE */
	PLANT_COPY_UNFENCED = 4,  /* compaction: victims FREE before the
				     copies are durable */
	PLANT_FREE_LATE = 5,      /* a slot reused before its FREE lands */
	PLANT_LIVE_LATE = 6,      /* rollover: LIVE after the old segment is
				     sealed and appended to */
	PLANT_CLEAN_EARLY = 7,    /* checkpoint: clean before its data */
	PLANT_NO_DIRSYNC = 8,     /* no directory fsync after a segment
				     file is created */
	PLANT_TOMB_ANY = 9,       /* in the engine (dk_seam_planted):
				     compaction drops every delete that has
				     no index entry, ignoring the tombstone
				     rule's threshold */
	PLANT_MAX = 9,
};

extern int plant;
extern bool tracking;  /* the parent records seam and file traffic */
extern bool in_child;  /* this process is the checker */
extern char wdir[256], cdir[256], sdir[256];
extern uint64_t exp_serial; /* bumped at every change of exp */
extern struct expect cur_exp;
extern int cur_phase;

/* Where a crash point happened (counted per kind in the figures). */
enum ev_kind { EV_FENCE, EV_STORE, EV_META, EV_FS, EV_NKINDS };
enum ctx_kind {
	CTX_WRITE,
	CTX_COMPACT,   /* daxkv_compact or the background compactor */
	CTX_OPEN,      /* daxkv_open: recovery */
	CTX_CLOSE,     /* daxkv_close: seal, checkpoint */
	CTX_NKINDS,
};

/* ---- the scheduler (sched.c) ---- */

enum role { ROLE_MAIN, ROLE_WRITER, ROLE_READER, ROLE_ENGINE };

enum wait_kind {
	W_NONE,   /* runnable */
	W_MUTEX,  /* a mutex or rwlock: until it is released */
	W_COND,   /* a condition variable: until signalled */
	W_TCOND,  /* ... or until the scheduler lets it time out */
	W_JOIN,   /* a thread: until it ends */
	W_RCU,    /* synchronize_rcu: until no other thread is a reader */
	W_DONE,
};

struct pend {
	struct tmap *tm;
	uint32_t line;
	uint64_t vseq; /* the line's version when it was flushed */
};

struct sim_thread {
	int id;
	enum role role;
	int group;          /* writer: 1..n; else 0 */
	sem_t go;
	enum wait_kind wait;
	const void *obj;    /* what it waits for */
	bool woken;         /* released or signalled since it waited */
	uint64_t wait_order;
	struct sim_thread *join_target;
	int rcu_nest;
	pthread_t pt;
	void *(*fn)(void *);
	void *arg;
	/* the persistence model: lines this thread flushed or wrote with
	 * non-temporal stores, durable at its next fence */
	struct pend *pend;
	size_t npend, cap_pend;
	enum ctx_kind ctx;
	bool store_points;  /* a short operation: crash points at stores */
	char op[64];        /* what it is doing, for messages */
	uint64_t acks;      /* acknowledgements it received */
};

struct sim_thread *sim_self(void);
bool sim_known(void);
void sched_init(uint64_t seed, unsigned switch_pct);
void sched_set(bool on);
bool sched_active(void);
void sched_point(void);
void sched_progress(void);
int sim_spawn(pthread_t *th, enum role role, int group, void *(*fn)(void *),
	      void *arg);
int sim_join(pthread_t th);
void sched_after_fork_child(void);
void sched_report(void);
void sched_forget_tmap(struct tmap *tm);
extern uint64_t sched_switches, sched_timeouts;

/* ---- the persistent-memory model (pmem.c) ---- */

struct lver {
	uint64_t vseq;   /* global version number */
	uint64_t store;  /* the store (seam call) that made it */
	uint8_t data[LINE];
};

struct lstate {
	struct tmap *tm;
	uint32_t line;
	uint32_t nver, cap;
	struct lver *ver; /* versions newer than pers, oldest first */
};

struct tmap {
	uint32_t ino;      /* the file (fs.c) */
	uint8_t *base;     /* the engine's mapping; NULL while unmapped */
	size_t size;
	uint8_t *pers;     /* what is durable for sure */
	uint8_t *chk;      /* mapping of its file in the inode store: the
			      crash state's content (== pers between them) */
	uint8_t *pdirty;   /* pages of pers changed since chk was synced */
	int32_t *lidx;     /* per line: index in the line table, or -1 */
	bool compact_dst;  /* created by a compaction (plant 4) */
	bool size_synced;  /* a store went through the mapping (fs.c) */
	struct tmap *next;
};

extern struct lstate *lines;
extern size_t nlines;
extern uint64_t store_serial, pers_gen;
extern struct tmap *tmaps;

struct tmap *tmap_new(uint32_t ino, size_t size, const uint8_t *content);
void tmap_free(struct tmap *tm);
struct tmap *tmap_of_addr(const void *addr);
void pmem_forget_held(struct tmap *tm);
void pmem_sync_chk(void);
void pmem_reset(void);
void meta_snapshot(void);
void meta_sync_file(void);
bool meta_known(void);
ino_t meta_st_ino(void);
extern uint64_t meta_ver;
extern uint8_t *meta_img;  /* meta.pool as a crash keeps it */
extern uint8_t *meta_file; /* what the inode store's copy holds */
extern bool meta_private_failed;

/* ---- the file-system model (fs.c) ---- */

enum ikind { IK_SEG, IK_MAPPED, IK_REG, IK_META };

struct inode {
	uint32_t id;
	enum ikind kind;
	bool gone;            /* collected */
	struct tmap *tm;      /* IK_SEG */
	uint64_t size;        /* IK_SEG, IK_MAPPED: the mapped size */
	bool size_durable;    /* ... and a crash keeps it */
	uint8_t *vol;         /* IK_REG: what the file holds now */
	size_t vol_len;
	uint8_t *dur;         /* ... and what a crash keeps for sure */
	size_t dur_len;
	bool unsynced;        /* vol differs from dur */
	ino_t st_ino;         /* IK_SEG, IK_META: its inode-store file */
};

struct dent {
	char name[64];
	uint32_t ino;
};

struct nspace {
	struct dent *e;
	size_t n, cap;
};

enum opkind { OP_LINK, OP_UNLINK, OP_RENAME };

struct dirop {
	enum opkind kind;
	char name[64], to[64];
	uint32_t ino;
};

extern struct inode **inodes;
extern uint32_t ninodes;
extern struct nspace vol_ns, dur_ns;
extern struct dirop *dirops;
extern size_t ndirops;
extern uint64_t fs_serial;
extern int fs_order; /* 0: any subset of unsynced ops; 1: a prefix */

void fs_reset(void);
void fs_load_dir(void);
struct inode *fs_inode(uint32_t id);
void fs_dirsync_release(void);
void fs_mapped_store(struct tmap *tm);
void fs_clear_check_dir(void);
struct fs_choice {
	uint64_t opmask;     /* which unsynced directory ops land */
	uint32_t nops;       /* fs_order 1: how many */
	uint8_t *filevar;    /* per unsynced inode (fs_unsynced order) */
};
size_t fs_unsynced(struct inode ***out);
unsigned fs_file_variants(const struct inode *in);
void fs_build_check_dir(const struct fs_choice *ch);
void fs_restore_check_dir(void);
void fs_save_dir(const char *to);
void fs_child_init(void);

/* ---- crash points (image.c) ---- */

void crash_point(enum ev_kind ev);
void image_reset(void);
extern uint64_t states, points, violations, max_states, keep_state;
extern uint64_t states_by_ev[EV_NKINDS], states_by_ctx[CTX_NKINDS];
extern uint64_t states_torn, states_interm, states_fs;
extern unsigned enum_max, samples;
extern bool save_w2_at_fence;
extern bool checking; /* crash points are checked (see --skip) */
extern bool count_only; /* --count-only: states built and counted only */
extern char w2dir[256], keep_dir[256];
extern struct expect w2_exp;

/* ---- the checker (checker.c) ---- */

struct check_result {
	int ok;
	char msg[512];
};

void checker_spawn(void);
void checker_stop(void);
void checker_run(const struct expect *exp, struct check_result *res);
int verify_db(void *db, const struct expect *exp, char *msg);
void checker_times(double *open_ms, double *verify_ms, double *close_ms);
void checker_privatized(int fd);

/* ---- small helpers (crashsim.c) ---- */

uint64_t rnd_var(void);
uint64_t now_ns(void);
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
					      noreturn));
void rm_dir(const char *dir);
void copy_file(const char *from, const char *to);
const char *ctx_name(enum ctx_kind c);
extern bool trace_on;
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void planted_caught(void); /* --expect-violations: stop at the first */
extern bool expect_violations;

#endif
