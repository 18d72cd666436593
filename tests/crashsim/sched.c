// SPDX-License-Identifier: MIT
/*
 * sched.c -- the deterministic scheduler: several threads, one at a time.
 *
 * Every thread of the workload (writers, a snapshot reader) and every
 * thread the engine starts (the background compactor, recovery threads,
 * whatever a later engine adds) is a *simulated thread*: it runs only
 * while it holds the token, and hands the token on at a scheduling point:
 * a call into the persistence seam, a lock, an unlock, a wait, a yield.
 * Which thread runs next is a seeded choice among the threads that can
 * run, so a run is a function of its seed: every crash state can be
 * rebuilt by running the same seed again (crashsim --keep-state N), and
 * the simulator's own bookkeeping needs no lock.
 *
 * A thread that would block in the kernel while holding the token would
 * stop everything, so the blocking calls the engine makes are wrapped at
 * link time (-Wl,--wrap) and become waits the scheduler knows:
 *
 *   pthread_mutex_lock, pthread_rwlock_{rd,wr}lock   try; if busy, wait
 *                                                    until an unlock
 *   pthread_cond_wait / _timedwait                   until signalled (a
 *                          timed wait may also time out: a seeded choice,
 *                          or the only choice when nothing else can run)
 *   pthread_join                                     until the thread ends
 *   urcu_bp_synchronize_rcu                          until no other thread
 *                                                    is inside a read-side
 *                                                    critical section
 *   sched_yield, nanosleep, usleep                   a scheduling point
 *                          that prefers another thread (spin-waits end
 *                          in sched_yield: the one that spins gives way)
 *
 * The real primitives are still used underneath (trylock), so the
 * engine's data stays protected the way it is in production.  Nothing
 * else may block: a wait the scheduler does not know would hang the run,
 * and a watchdog says so (with every thread's state) instead of hanging.
 * If no thread can run and none has a timed wait, the engine deadlocked:
 * that is reported with every thread's state too.
 *
 * sysconf(_SC_NPROCESSORS_ONLN) answers 2 inside this program, so that
 * the engine sizes its lanes the same way on every machine and a seed
 * means the same run everywhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crashsim.h"

int __real_pthread_create(pthread_t *th, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg);
int __real_pthread_join(pthread_t th, void **ret);
int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __real_pthread_mutex_trylock(pthread_mutex_t *m);
int __real_pthread_mutex_unlock(pthread_mutex_t *m);
int __real_pthread_rwlock_rdlock(pthread_rwlock_t *l);
int __real_pthread_rwlock_wrlock(pthread_rwlock_t *l);
int __real_pthread_rwlock_unlock(pthread_rwlock_t *l);
int __real_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int __real_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				  const struct timespec *abstime);
int __real_pthread_cond_signal(pthread_cond_t *c);
int __real_pthread_cond_broadcast(pthread_cond_t *c);
int __real_sched_yield(void);
int __real_nanosleep(const struct timespec *req, struct timespec *rem);
int __real_usleep(useconds_t usec);
void __real_urcu_bp_read_lock(void);
void __real_urcu_bp_read_unlock(void);
void __real_urcu_bp_synchronize_rcu(void);
long __real_sysconf(int name);

int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg);
int __wrap_pthread_join(pthread_t th, void **ret);
int __wrap_pthread_mutex_lock(pthread_mutex_t *m);
int __wrap_pthread_mutex_trylock(pthread_mutex_t *m);
int __wrap_pthread_mutex_unlock(pthread_mutex_t *m);
int __wrap_pthread_rwlock_rdlock(pthread_rwlock_t *l);
int __wrap_pthread_rwlock_wrlock(pthread_rwlock_t *l);
int __wrap_pthread_rwlock_unlock(pthread_rwlock_t *l);
int __wrap_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				  const struct timespec *abstime);
int __wrap_pthread_cond_signal(pthread_cond_t *c);
int __wrap_pthread_cond_broadcast(pthread_cond_t *c);
int __wrap_sched_yield(void);
int __wrap_nanosleep(const struct timespec *req, struct timespec *rem);
int __wrap_usleep(useconds_t usec);
void __wrap_urcu_bp_read_lock(void);
void __wrap_urcu_bp_read_unlock(void);
void __wrap_urcu_bp_synchronize_rcu(void);
long __wrap_sysconf(int name);

static struct sim_thread main_thread = { .id = 0, .role = ROLE_MAIN };
static __thread struct sim_thread *self_t;
static struct sim_thread *thr[MAXTHREADS];
static int nthr;
static bool sched_on;
static int next_id = 1;
static uint64_t wait_counter;
static unsigned switch_pct = 25;
static uint64_t rng_sched = 0x2545F4914F6CDD1Dull;
static volatile uint64_t sched_events;
static enum role spawn_role = ROLE_ENGINE;
static int spawn_group;
uint64_t sched_switches, sched_timeouts;

static uint64_t rnd_sched(void)
{
	rng_sched ^= rng_sched << 13;
	rng_sched ^= rng_sched >> 7;
	rng_sched ^= rng_sched << 17;
	return rng_sched;
}

struct sim_thread *sim_self(void)
{
	return self_t ? self_t : &main_thread;
}

bool sim_known(void)
{
	return self_t != NULL;
}

bool sched_active(void)
{
	return sched_on && self_t;
}

void sched_progress(void)
{
	sched_events++;
}

static const char *wait_name(enum wait_kind w)
{
	static const char *const names[] = { "running", "mutex", "cond",
					     "timed cond", "join", "rcu",
					     "done" };

	return names[w];
}

static const char *role_name(enum role r)
{
	static const char *const names[] = { "main", "writer", "reader",
					     "engine" };

	return names[r];
}

void sched_report(void)
{
	for (int i = 0; i < nthr; i++) {
		struct sim_thread *t = thr[i];

		fprintf(stderr, "  thread %d (%s%s): %s %p, doing: %s\n", t->id,
			role_name(t->role), t == self_t ? ", has the token" : "",
			wait_name(t->wait), t->obj, t->op[0] ? t->op : "-");
	}
}

/* Can @p t run now? */
static bool eligible(const struct sim_thread *t)
{
	switch (t->wait) {
	case W_NONE:
		return true;
	case W_MUTEX:
	case W_COND:
	case W_TCOND:
		return t->woken;
	case W_JOIN:
		return t->join_target->wait == W_DONE;
	case W_RCU:
		for (int i = 0; i < nthr; i++)
			if (thr[i] != t && thr[i]->rcu_nest > 0)
				return false;
		return true;
	case W_DONE:
		return false;
	}
	return false;
}

/*
 * The next thread to run: one that can, chosen by the seeded generator
 * (@p me among them only if @p me_ok).  A thread in a timed wait that
 * nobody signalled times out now and then, or when nothing else can run.
 */
static struct sim_thread *pick(struct sim_thread *me, bool me_ok)
{
	struct sim_thread *can[MAXTHREADS], *timed[MAXTHREADS];
	int ncan = 0, ntimed = 0;

	for (int i = 0; i < nthr; i++) {
		struct sim_thread *t = thr[i];

		if (t == me && !me_ok)
			continue;
		if (eligible(t))
			can[ncan++] = t;
		else if (t->wait == W_TCOND)
			timed[ntimed++] = t;
	}
	if (ntimed && (ncan == 0 || rnd_sched() % 64 == 0)) {
		sched_timeouts++;
		return timed[rnd_sched() % (uint64_t)ntimed];
	}
	if (ncan == 0)
		return NULL;
	return can[rnd_sched() % (uint64_t)ncan];
}

/* Hand the token to @p next and wait until it comes back. */
static void switch_to(struct sim_thread *me, struct sim_thread *next)
{
	if (next == me)
		return;
	sched_switches++;
	sem_post(&next->go);
	while (sem_wait(&me->go) != 0)
		;
}

static void deadlock(void)
{
	fprintf(stderr, "crashsim: DEADLOCK: no thread can run\n");
	sched_report();
	die("the engine deadlocked under this schedule (seed above)");
}

/* Wait (as the scheduler knows waits) until eligible again. */
static void block(struct sim_thread *me, enum wait_kind w, const void *obj)
{
	struct sim_thread *next;

	me->wait = w;
	me->obj = obj;
	me->woken = false;
	me->wait_order = ++wait_counter;
	sched_events++;
	next = pick(me, false);
	if (!next) {
		if (eligible(me))
			next = me;
		else
			deadlock();
	}
	switch_to(me, next);
	me->wait = W_NONE;
	me->obj = NULL;
}

void sched_point(void)
{
	struct sim_thread *me = self_t;

	if (!sched_on || !me)
		return;
	sched_events++;
	if (rnd_sched() % 100 >= switch_pct)
		return;
	switch_to(me, pick(me, true));
}

/* A scheduling point that lets another thread run first if one can. */
static void yield_point(void)
{
	struct sim_thread *me = self_t, *next;

	sched_events++;
	next = pick(me, false);
	if (next)
		switch_to(me, next);
}

static void wake(enum wait_kind w, const void *obj, bool one)
{
	struct sim_thread *first = NULL;

	for (int i = 0; i < nthr; i++) {
		struct sim_thread *t = thr[i];

		if (t->obj != obj || t->woken ||
		    !(t->wait == w || (w == W_COND && t->wait == W_TCOND)))
			continue;
		if (!one)
			t->woken = true;
		else if (!first || t->wait_order < first->wait_order)
			first = t;
	}
	if (first)
		first->woken = true;
}

/* Drop the in-flight lines of a mapping whose file is gone for good. */
void sched_forget_tmap(struct tmap *tm)
{
	for (int i = 0; i < nthr; i++) {
		struct sim_thread *t = thr[i];
		size_t keep = 0;

		for (size_t j = 0; j < t->npend; j++)
			if (t->pend[j].tm != tm)
				t->pend[keep++] = t->pend[j];
		t->npend = keep;
	}
}

/* ---- threads ---- */

static void *trampoline(void *arg)
{
	struct sim_thread *me = arg, *next;
	void *ret;

	self_t = me;
	while (sem_wait(&me->go) != 0)
		;
	ret = me->fn(me->arg);
	/* hand the token on for good: from here on this thread touches
	 * nothing the others use */
	me->wait = W_DONE;
	sched_events++;
	next = pick(me, false);
	if (!next)
		deadlock();
	sem_post(&next->go);
	return ret;
}

int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	struct sim_thread *t;
	int rc;

	if (!sched_on || !self_t)
		return __real_pthread_create(th, attr, fn, arg);
	if (nthr == MAXTHREADS)
		die("more than %d simulated threads", MAXTHREADS);
	t = calloc(1, sizeof(*t));
	if (!t)
		die("out of memory");
	t->id = next_id++;
	t->role = spawn_role;
	t->group = spawn_group;
	/* a thread the engine starts is counted as compacting: the
	 * background compactor (recovery runs in the opening thread) */
	t->ctx = spawn_role == ROLE_ENGINE ? CTX_COMPACT : CTX_WRITE;
	t->fn = fn;
	t->arg = arg;
	snprintf(t->op, sizeof(t->op), "%s", spawn_role == ROLE_ENGINE ?
		 "engine thread" : "starting");
	sem_init(&t->go, 0, 0);
	thr[nthr++] = t;
	rc = __real_pthread_create(&t->pt, attr, trampoline, t);
	if (rc) {
		nthr--;
		sem_destroy(&t->go);
		free(t);
		return rc;
	}
	*th = t->pt;
	sched_point();
	return 0;
}

int sim_spawn(pthread_t *th, enum role role, int group, void *(*fn)(void *),
	      void *arg)
{
	int rc;

	spawn_role = role;
	spawn_group = group;
	rc = pthread_create(th, NULL, fn, arg);
	spawn_role = ROLE_ENGINE;
	spawn_group = 0;
	return rc;
}

int __wrap_pthread_join(pthread_t th, void **ret)
{
	struct sim_thread *t = NULL;
	int i, rc;

	if (!sched_on || !self_t)
		return __real_pthread_join(th, ret);
	for (i = 0; i < nthr; i++)
		if (thr[i] != self_t && pthread_equal(thr[i]->pt, th)) {
			t = thr[i];
			break;
		}
	if (!t)
		return __real_pthread_join(th, ret);
	while (t->wait != W_DONE) {
		self_t->join_target = t;
		block(self_t, W_JOIN, t);
	}
	rc = __real_pthread_join(th, ret);
	for (i = 0; i < nthr; i++)
		if (thr[i] == t) {
			memmove(&thr[i], &thr[i + 1],
				(size_t)(nthr - i - 1) * sizeof(*thr));
			nthr--;
			break;
		}
	sem_destroy(&t->go);
	free(t->pend);
	free(t);
	return rc;
}

int sim_join(pthread_t th)
{
	return pthread_join(th, NULL);
}

/* ---- locks ---- */

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
	if (!sched_on || !self_t)
		return __real_pthread_mutex_lock(m);
	sched_point();
	while (__real_pthread_mutex_trylock(m) == EBUSY)
		block(self_t, W_MUTEX, m);
	return 0;
}

int __wrap_pthread_mutex_trylock(pthread_mutex_t *m)
{
	if (sched_on && self_t)
		sched_point();
	return __real_pthread_mutex_trylock(m);
}

int __wrap_pthread_mutex_unlock(pthread_mutex_t *m)
{
	int rc = __real_pthread_mutex_unlock(m);

	if (sched_on && self_t) {
		wake(W_MUTEX, m, false);
		sched_point();
	}
	return rc;
}

int __wrap_pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	int rc;

	if (!sched_on || !self_t)
		return __real_pthread_rwlock_rdlock(l);
	sched_point();
	while ((rc = pthread_rwlock_tryrdlock(l)) == EBUSY || rc == EAGAIN)
		block(self_t, W_MUTEX, l);
	return rc;
}

int __wrap_pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	int rc;

	if (!sched_on || !self_t)
		return __real_pthread_rwlock_wrlock(l);
	sched_point();
	while ((rc = pthread_rwlock_trywrlock(l)) == EBUSY)
		block(self_t, W_MUTEX, l);
	return rc;
}

int __wrap_pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	int rc = __real_pthread_rwlock_unlock(l);

	if (sched_on && self_t) {
		wake(W_MUTEX, l, false);
		sched_point();
	}
	return rc;
}

/* The mutex of a condition wait, taken again as a scheduled lock. */
static void relock(pthread_mutex_t *m)
{
	while (__real_pthread_mutex_trylock(m) == EBUSY)
		block(self_t, W_MUTEX, m);
}

int __wrap_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	if (!sched_on || !self_t)
		return __real_pthread_cond_wait(c, m);
	__real_pthread_mutex_unlock(m);
	wake(W_MUTEX, m, false);
	do
		block(self_t, W_COND, c);
	while (!self_t->woken);
	relock(m);
	return 0;
}

int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				  const struct timespec *abstime)
{
	bool woken;

	if (!sched_on || !self_t)
		return __real_pthread_cond_timedwait(c, m, abstime);
	__real_pthread_mutex_unlock(m);
	wake(W_MUTEX, m, false);
	block(self_t, W_TCOND, c);
	woken = self_t->woken;
	relock(m);
	return woken ? 0 : ETIMEDOUT;
}

int __wrap_pthread_cond_signal(pthread_cond_t *c)
{
	if (!sched_on || !self_t)
		return __real_pthread_cond_signal(c);
	wake(W_COND, c, true);
	return 0;
}

int __wrap_pthread_cond_broadcast(pthread_cond_t *c)
{
	if (!sched_on || !self_t)
		return __real_pthread_cond_broadcast(c);
	wake(W_COND, c, false);
	return 0;
}

int __wrap_sched_yield(void)
{
	if (!sched_on || !self_t)
		return __real_sched_yield();
	yield_point();
	return 0;
}

int __wrap_nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (!sched_on || !self_t)
		return __real_nanosleep(req, rem);
	yield_point();
	if (rem)
		rem->tv_sec = rem->tv_nsec = 0;
	return 0;
}

int __wrap_usleep(useconds_t usec)
{
	if (!sched_on || !self_t)
		return __real_usleep(usec);
	yield_point();
	return 0;
}

/* ---- RCU ---- */

void __wrap_urcu_bp_read_lock(void)
{
	if (self_t)
		self_t->rcu_nest++;
	__real_urcu_bp_read_lock();
}

void __wrap_urcu_bp_read_unlock(void)
{
	__real_urcu_bp_read_unlock();
	if (self_t)
		self_t->rcu_nest--;
}

void __wrap_urcu_bp_synchronize_rcu(void)
{
	if (sched_on && self_t) {
		sched_point();
		for (;;) {
			bool reader = false;

			for (int i = 0; i < nthr; i++)
				if (thr[i] != self_t && thr[i]->rcu_nest > 0)
					reader = true;
			if (!reader)
				break;
			block(self_t, W_RCU, NULL);
		}
	}
	/* no simulated thread is a reader: this returns */
	__real_urcu_bp_synchronize_rcu();
}

long __wrap_sysconf(int name)
{
	if (name == _SC_NPROCESSORS_ONLN || name == _SC_NPROCESSORS_CONF)
		return 2;
	return __real_sysconf(name);
}

/* ---- set-up ---- */

/*
 * A thread outside the simulation: if nothing was scheduled for a long
 * time while the simulation runs, a simulated thread is stuck in a wait
 * the scheduler does not know (a new blocking call in the engine: wrap
 * it) or in a spin loop that never yields.  Say which, and stop.
 */
static void *watchdog(void *arg)
{
	uint64_t last = 0;
	unsigned still = 0;

	(void)arg;
	for (;;) {
		struct timespec ts = { .tv_sec = 10 };

		__real_nanosleep(&ts, NULL);
		if (!sched_on || sched_events != last) {
			last = sched_events;
			still = 0;
			continue;
		}
		if (++still < 30)
			continue;
		fprintf(stderr,
			"crashsim: no scheduling point for 300 s: a simulated "
			"thread waits in a call the scheduler does not wrap, "
			"or spins without sched_yield\n");
		sched_report();
		abort();
	}
	return NULL;
}

void sched_init(uint64_t seed, unsigned pct)
{
	static bool started;
	pthread_t wd;

	rng_sched ^= seed * 0xD1B54A32D192ED03ull;
	if (!rng_sched)
		rng_sched = 1;
	switch_pct = pct;
	self_t = &main_thread;
	sem_init(&main_thread.go, 0, 0);
	main_thread.ctx = CTX_WRITE;
	thr[0] = &main_thread;
	nthr = 1;
	if (!started && __real_pthread_create(&wd, NULL, watchdog, NULL) == 0) {
		pthread_detach(wd);
		started = true;
	}
}

void sched_set(bool on)
{
	if (!on && nthr > 1)
		die("scheduler stopped with %d threads alive", nthr - 1);
	sched_on = on;
}

void sched_after_fork_child(void)
{
	sched_on = false;
	nthr = 1;
	thr[0] = &main_thread;
	self_t = &main_thread;
}
