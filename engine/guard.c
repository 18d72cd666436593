// SPDX-License-Identifier: MIT
/*
 * guard.c -- the SIGBUS handler behind guard.h: media errors in reads of
 * mapped segments become DAXKV_EIO.
 *
 * Design.  One process-wide handler, installed once (pthread_once) with
 * SA_SIGINFO | SA_NODEFER and an empty mask, the previous disposition
 * saved.  On SIGBUS it reads this thread's innermost guard (a pointer in
 * a pthread key: no allocation, no lock; see guard.h); if that
 * guard is active and the signal came from the kernel (si_code > 0: a
 * fault, not kill(2)), it stores the address and siglongjmps to the
 * guard's sigsetjmp.  Everything else is chained: to the previous
 * handler if there was one (the application's, as installed before the
 * first daxkv_open), else to the default action (the disposition is reset
 * and the fault re-executed, or the signal raised again when it was
 * sent), so a program that did not expect daxkv still dies of a SIGBUS
 * that is not daxkv's, with its core.  The one exception is an
 * action-optional machine check (BUS_MCEERR_AO) where the disposition
 * was the default: it is ignored (see dk_guard_chain).
 *
 * Why this is safe to jump out of: a guarded region only loads from
 * mappings and computes (crc, key compares, memcpy), and takes no lock
 * and calls no allocator between push and pop; what it holds across the
 * region (rcu_read_lock, a lane in recovery) is given back by the code at
 * the landing, which knows it.  sigsetjmp saves no signal mask (a
 * syscall on every get otherwise); SA_NODEFER keeps SIGBUS unblocked
 * while the handler runs, so jumping out leaves the mask as it was, and
 * dk_guard_landed unblocks SIGBUS anyway.  Cost on the get fast path:
 * one sigsetjmp (registers saved to the stack), a pthread_getspecific
 * and two pthread_setspecific (loads and stores in the thread descriptor).
 *
 * An application that installs its own SIGBUS handler after opening a
 * database replaces this one: media errors then reach its handler (which
 * should chain to the one it replaced, as this one does).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "guard.h"
#include "internal.h"
#include "segment.h"

pthread_key_t dk_guard_key;

/* Before any guard can be pushed: the key must exist before the first
 * dk_guard_push, and a constructor runs before any call into the library
 * (a failure leaves guards unusable, so it ends the process: there are
 * PTHREAD_KEYS_MAX keys and a library loaded at all gets one). */
__attribute__((constructor)) static void dk_guard_key_create(void)
{
	if (pthread_key_create(&dk_guard_key, NULL) != 0) {
		fputs("libdaxkv: no pthread key for the SIGBUS guard\n",
		      stderr);
		abort();
	}
}

static struct sigaction dk_guard_prev;
static pthread_once_t dk_guard_once = PTHREAD_ONCE_INIT;

static void dk_guard_chain(int sig, siginfo_t *si, void *uc)
{
	if (dk_guard_prev.sa_flags & SA_SIGINFO) {
		dk_guard_prev.sa_sigaction(sig, si, uc);
		return;
	}
	if (dk_guard_prev.sa_handler != SIG_DFL &&
	    dk_guard_prev.sa_handler != SIG_IGN) {
		dk_guard_prev.sa_handler(sig);
		return;
	}
	/* an action-optional machine check (BUS_MCEERR_AO, the kernel's
	 * early kill: a page gone bad that no instruction is loading) asks
	 * for nothing now: the kernel has unmapped the page, and the load
	 * that touches it later gets BUS_MCEERR_AR, which a guard turns into
	 * DAXKV_EIO or which kills as the default does.  Putting the default
	 * back here would leave no handler for that guard. */
	if (si->si_code == BUS_MCEERR_AO)
		return;
	/* default action: a fault comes back when the instruction runs
	 * again; a sent signal must be sent again (SIG_IGN cannot ignore a
	 * fault: it would loop) */
	signal(sig, SIG_DFL);
	if (si->si_code <= 0)
		raise(sig);
}

static void dk_guard_handler(int sig, siginfo_t *si, void *uc)
{
	struct dk_guard *g = dk_guard_top();

	if (g && g->active && si->si_code > 0) {
		g->fault_addr = si->si_addr;
		siglongjmp(g->env, 1);
	}
	dk_guard_chain(sig, si, uc);
}

static void dk_guard_install_once(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = dk_guard_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &dk_guard_prev);
}

void dk_guard_install(void)
{
	pthread_once(&dk_guard_once, dk_guard_install_once);
}

void dk_guard_landed(struct dk_guard *g)
{
	sigset_t set;

	pthread_setspecific(dk_guard_key, g->prev);
	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int dk_guard_eio(struct daxkv *db, const struct dk_guard *g,
		 const char *what)
{
	const uint8_t *addr = g->fault_addr;
	uint32_t hi = __atomic_load_n(&db->seg_hiwater, __ATOMIC_ACQUIRE);
	char path[4096];

	for (uint32_t slot = 0; slot < hi; slot++) {
		struct dk_segment *seg =
			__atomic_load_n(&db->segs[slot], __ATOMIC_ACQUIRE);

		if (!seg || addr < seg->base || addr >= seg->base + seg->size)
			continue;
		dk_segment_path(db, slot, path, sizeof(path));
		return dk_err(DAXKV_EIO,
			      "%s offset %llu: media error (SIGBUS) while %s",
			      path, (unsigned long long)(addr - seg->base),
			      what);
	}
	return dk_err(DAXKV_EIO, "%s: media error (SIGBUS at %p) while %s",
		      db->dir, (const void *)addr, what);
}
