/* SPDX-License-Identifier: MIT */
/*
 * guard.h -- reads of mapped segments that survive a media error
 * (guard.c).
 *
 * A poisoned line of persistent memory (or a page of a file that is no
 * longer there) raises SIGBUS on the load that touches it.  Code that
 * reads segments -- recovery, check, compaction, get, scans -- runs those
 * reads inside a guard, and a SIGBUS there becomes DAXKV_EIO naming the
 * file and offset instead of killing the process:
 *
 *	struct dk_guard g;
 *
 *	if (sigsetjmp(g.env, 0)) {
 *		dk_guard_landed(&g);     (undo what the reads held)
 *		return dk_guard_eio(db, &g, "reading a record");
 *	}
 *	dk_guard_push(&g);
 *	... loads from the mapping, no locks taken, no user code ...
 *	dk_guard_pop(&g);
 *
 * Guards nest per thread (a stack threaded through the frames); only the
 * innermost one, and only while `active`, catches.  A SIGBUS that no
 * active guard expects goes to the handler that was installed before
 * daxkv's (the application's), or takes the default action.
 */
#ifndef DK_GUARD_H
#define DK_GUARD_H

#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>

struct daxkv;

struct dk_guard {
	sigjmp_buf env;
	struct dk_guard *prev;   /* the guard this one is nested in */
	volatile int active;     /* 0: a SIGBUS now is not ours (scans turn
				    it off around the user's callback) */
	void *volatile fault_addr; /* set by the handler */
};

/*
 * The innermost guard of this thread, in a pthread key (guard.c creates it
 * when the library is loaded).  Not __thread: the handler must read it
 * without allocating, which TLS does only in the initial-exec model, and
 * initial-exec TLS puts the library's whole TLS block (the static CUDA
 * runtime's 4 KiB-aligned one included) in the static TLS block, which a
 * dlopen()ed libdaxkv (a Redis module, Python's ctypes) may not find room
 * in: "cannot allocate memory in static TLS block".  glibc's
 * pthread_getspecific is a load from the thread's descriptor, with no lock
 * and no allocation (a key that was never set reads NULL), so the handler
 * may call it.
 */
extern pthread_key_t dk_guard_key;

static inline struct dk_guard *dk_guard_top(void)
{
	return pthread_getspecific(dk_guard_key);
}

/* Install the SIGBUS handler, once per process (daxkv_open, daxkv_check). */
void dk_guard_install(void);

/* Enter @p g (after its sigsetjmp returned 0). */
static inline void dk_guard_push(struct dk_guard *g)
{
	g->prev = dk_guard_top();
	g->fault_addr = 0;
	g->active = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_setspecific(dk_guard_key, g);
}

/* Leave @p g normally. */
static inline void dk_guard_pop(struct dk_guard *g)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_setspecific(dk_guard_key, g->prev);
}

/* Leave @p g after its sigsetjmp returned non-zero (a fault landed). */
void dk_guard_landed(struct dk_guard *g);

/* DAXKV_EIO with daxkv_errmsg() naming the segment file and offset of
 * the fault @p g caught (found among @p db's mappings), and @p what. */
int dk_guard_eio(struct daxkv *db, const struct dk_guard *g,
		 const char *what);

#endif
