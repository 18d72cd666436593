/* SPDX-License-Identifier: MIT */
/* runner.c -- one phase of one store with N threads (runner.h). */
#include "runner.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct thread_arg {
	struct ycsb_workload *w;
	const struct ycsb_backend *be;
	void *store;
	bool load;
	uint64_t opcount; /* run phase */
	uint64_t seed;
	pthread_barrier_t *barrier;
	const bool *stop; /* set by the main thread (atomic) */
	struct ycsb_tally *tally;
	pthread_mutex_t *lock; /* protects *nfinished */
	pthread_cond_t *cond;  /* signalled when a thread finishes */
	unsigned *nfinished;
	uint64_t end_ns;
	/* written by the thread, read by the progress line */
	uint64_t done_ops __attribute__((aligned(64)));
	int setup_failed;
	char error[256];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	struct ycsb_worker wk;
	void *thread = NULL;
	uint64_t n = 0;

	if (a->be->thread_open(a->store, &thread, a->error, sizeof(a->error)))
		a->setup_failed = 1;
	else if (ycsb_worker_init(&wk, a->w, a->be, thread, a->seed,
				  a->tally)) {
		snprintf(a->error, sizeof(a->error), "out of memory");
		a->be->thread_close(thread);
		a->setup_failed = 1;
	}
	pthread_barrier_wait(a->barrier);
	if (a->setup_failed)
		goto out;
	for (;;) {
		if (a->load) {
			if (!ycsb_do_insert(&wk))
				break;
		} else {
			if (n >= a->opcount)
				break;
			ycsb_do_transaction(&wk);
		}
		n++;
		if ((n & 255) == 0) {
			__atomic_store_n(&a->done_ops, n, __ATOMIC_RELAXED);
			if (__atomic_load_n(a->stop, __ATOMIC_RELAXED))
				break;
		}
	}
	__atomic_store_n(&a->done_ops, n, __ATOMIC_RELAXED);
	if (wk.tally->errors[0] + wk.tally->errors[1] + wk.tally->errors[2] +
	    wk.tally->errors[3] + wk.tally->errors[4])
		snprintf(a->error, sizeof(a->error), "%s",
			 a->be->thread_error(thread));
	ycsb_worker_fini(&wk);
	a->be->thread_close(thread);
out:
	a->end_ns = now_ns();
	pthread_mutex_lock(a->lock);
	(*a->nfinished)++;
	pthread_cond_signal(a->cond);
	pthread_mutex_unlock(a->lock);
	return NULL;
}

static void summarize(struct ycsb_phase_result *res, struct ycsb_tally *sum)
{
	for (int i = 0; i < YCSB_OP_COUNT; i++) {
		struct ycsb_op_summary *s = &res->op[i];
		struct ycsb_hist *h = &sum->hist[i];

		s->count = h->count;
		s->notfound = sum->notfound[i];
		s->errors = sum->errors[i];
		res->errors += s->errors;
		s->ops_per_s =
		    res->seconds > 0
			? (double)(s->count + s->notfound + s->errors) /
			      res->seconds
			: 0;
		s->mean_us = ycsb_hist_mean(h) / 1e3;
		s->p50_us = (double)ycsb_hist_percentile(h, 50) / 1e3;
		s->p95_us = (double)ycsb_hist_percentile(h, 95) / 1e3;
		s->p99_us = (double)ycsb_hist_percentile(h, 99) / 1e3;
		s->p999_us = (double)ycsb_hist_percentile(h, 99.9) / 1e3;
		s->max_us = (double)ycsb_hist_percentile(h, 100) / 1e3;
	}
	res->verified = sum->verified;
	res->verify_failures = sum->verify_failures;
}

int ycsb_run_phase(struct ycsb_workload *w, const struct ycsb_backend *be,
		   void *store, bool load, unsigned threads, uint64_t seed,
		   const char *label, struct ycsb_phase_result *res)
{
	struct thread_arg *args = calloc(threads, sizeof(*args));
	struct ycsb_tally *tallies = calloc(threads + 1, sizeof(*tallies));
	pthread_t *tids = calloc(threads, sizeof(*tids));
	struct ycsb_tally *sum;
	pthread_barrier_t barrier;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond;
	pthread_condattr_t cattr;
	unsigned nfinished = 0;
	bool stop = false;
	bool tty = isatty(STDERR_FILENO), drew = false;
	uint64_t t0, t_end, next_draw, deadline = 0, total;
	unsigned started = 0;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (!args || !tallies || !tids) {
		snprintf(res->first_problem, sizeof(res->first_problem),
			 "out of memory");
		goto out_free;
	}
	sum = &tallies[threads];
	for (unsigned i = 0; i <= threads; i++)
		for (int o = 0; o < YCSB_OP_COUNT; o++)
			ycsb_hist_reset(&tallies[i].hist[o]);
	pthread_barrier_init(&barrier, NULL, threads + 1);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&cond, &cattr);
	pthread_condattr_destroy(&cattr);
	for (unsigned i = 0; i < threads; i++) {
		struct thread_arg *a = &args[i];

		a->w = w;
		a->be = be;
		a->store = store;
		a->load = load;
		a->opcount = w->operationcount / threads +
			     (i < w->operationcount % threads ? 1 : 0);
		a->seed = seed * 1000003u + i * 7919u + (load ? 1 : 2);
		a->barrier = &barrier;
		a->stop = &stop;
		a->tally = &tallies[i];
		a->lock = &lock;
		a->cond = &cond;
		a->nfinished = &nfinished;
		if (pthread_create(&tids[i], NULL, thread_main, a)) {
			/* release the barrier's count for the others */
			snprintf(res->first_problem, sizeof(res->first_problem),
				 "pthread_create failed");
			__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
			break;
		}
		started++;
	}
	if (started < threads) {
		/* the barrier would never open: abandon is not an option,
		 * so this is fatal for the run */
		fprintf(stderr, "ycsb: cannot start threads\n");
		exit(1);
	}
	pthread_barrier_wait(&barrier);
	t0 = now_ns();
	next_draw = t0 + 1000000000ull;
	if (w->maxexecutiontime > 0)
		deadline = t0 + (uint64_t)(w->maxexecutiontime * 1e9);
	/* Sleep until a thread finishes, the next progress line or the
	 * deadline: the main thread must not take CPU from the workers.
	 * The phase ends when the last worker ends (its own clock). */
	pthread_mutex_lock(&lock);
	while (nfinished < threads) {
		uint64_t wake = next_draw, now;
		struct timespec ts;

		if (deadline && deadline < wake)
			wake = deadline;
		ts.tv_sec = (time_t)(wake / 1000000000ull);
		ts.tv_nsec = (long)(wake % 1000000000ull);
		pthread_cond_timedwait(&cond, &lock, &ts);
		if (nfinished == threads)
			break;
		now = now_ns();
		if (deadline && now >= deadline)
			__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
		if (now >= next_draw) {
			if (tty) {
				total = 0;
				for (unsigned i = 0; i < threads; i++)
					total +=
					    __atomic_load_n(&args[i].done_ops,
							    __ATOMIC_RELAXED);
				fprintf(stderr,
					"\r  %s: %.0f s, %llu ops, "
					"%.3f M ops/s   ",
					label, (double)(now - t0) / 1e9,
					(unsigned long long)total,
					(double)total /
					    ((double)(now - t0) / 1e3));
				drew = true;
			}
			next_draw += 1000000000ull;
		}
	}
	pthread_mutex_unlock(&lock);
	t_end = t0;
	if (drew)
		fprintf(stderr, "\r%*s\r", 78, "");
	total = 0;
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
		total += args[i].done_ops;
		if (args[i].end_ns > t_end)
			t_end = args[i].end_ns;
		for (int o = 0; o < YCSB_OP_COUNT; o++) {
			ycsb_hist_merge(&sum->hist[o], &tallies[i].hist[o]);
			sum->notfound[o] += tallies[i].notfound[o];
			sum->errors[o] += tallies[i].errors[o];
		}
		for (unsigned j = 0; j < tallies[i].nslow; j++) {
			struct ycsb_slow_op so = tallies[i].slow[j];

			so.thread = i;
			res->nslow = ycsb_slowest_add(res->slow, res->nslow,
						      &so);
		}
		sum->verified += tallies[i].verified;
		if (tallies[i].verify_failures && !sum->verify_failures)
			snprintf(res->first_problem, sizeof(res->first_problem),
				 "%s", tallies[i].first_failure);
		else if (args[i].error[0] && !res->first_problem[0])
			snprintf(res->first_problem, sizeof(res->first_problem),
				 "%s", args[i].error);
		sum->verify_failures += tallies[i].verify_failures;
	}
	pthread_barrier_destroy(&barrier);
	pthread_cond_destroy(&cond);
	res->seconds = (double)(t_end - t0) / 1e9;
	res->t0_ns = t0;
	res->ops = total;
	res->ops_per_s = res->seconds > 0 ? (double)total / res->seconds : 0;
	rc = 0;
	for (unsigned i = 0; i < threads; i++) {
		if (args[i].setup_failed) {
			snprintf(res->first_problem, sizeof(res->first_problem),
				 "thread %u: %s", i, args[i].error);
			rc = -1;
		}
	}
	summarize(res, sum);
out_free:
	free(args);
	free(tallies);
	free(tids);
	return rc;
}

void ycsb_print_phase(FILE *out, const char *label,
		      const struct ycsb_phase_result *res)
{
	fprintf(out,
		"[%s] [OVERALL] RunTime(s) %.3f, Operations %llu, "
		"Throughput(ops/s) %.0f\n",
		label, res->seconds, (unsigned long long)res->ops,
		res->ops_per_s);
	for (int i = 0; i < YCSB_OP_COUNT; i++) {
		const struct ycsb_op_summary *s = &res->op[i];

		if (!s->count && !s->errors && !s->notfound)
			continue;
		fprintf(out,
			"[%s] [%s] ops %llu, %.0f ops/s, us: mean %.2f "
			"p50 %.2f p95 %.2f p99 %.2f p99.9 %.2f max %.1f",
			label, ycsb_op_names[i], (unsigned long long)s->count,
			s->ops_per_s, s->mean_us, s->p50_us, s->p95_us,
			s->p99_us, s->p999_us, s->max_us);
		if (s->notfound)
			fprintf(out, ", not found %llu",
				(unsigned long long)s->notfound);
		if (s->errors)
			fprintf(out, ", ERRORS %llu",
				(unsigned long long)s->errors);
		fputc('\n', out);
	}
	if (res->verified || res->verify_failures)
		fprintf(
		    out,
		    "[%s] [VERIFY] fields checked %llu, failures %llu%s%s\n",
		    label, (unsigned long long)res->verified,
		    (unsigned long long)res->verify_failures,
		    res->verify_failures ? ": first: " : "",
		    res->verify_failures ? res->first_problem : "");
	else if (res->errors && res->first_problem[0])
		fprintf(out, "[%s] first error: %s\n", label,
			res->first_problem);
	for (unsigned i = 0; i < res->nslow; i++) {
		const struct ycsb_slow_op *so = &res->slow[i];

		fprintf(out,
			"[%s] [SLOWEST] %s %.1f us, thread %u, at %.6f s into "
			"the phase (CLOCK_MONOTONIC %.6f .. %.6f)\n",
			label, ycsb_op_names[so->op], (double)so->ns / 1e3,
			so->thread,
			(double)((int64_t)so->start_ns - (int64_t)res->t0_ns) /
				1e9,
			(double)so->start_ns / 1e9,
			(double)(so->start_ns + so->ns) / 1e9);
	}
}
