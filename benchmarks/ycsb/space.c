/* SPDX-License-Identifier: MIT */
/* space.c -- space and write amplification of a run phase (space.h). */
#include "space.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double ycsb_space_amp(const struct ycsb_space *s)
{
	return s->live_bytes ? (double)s->bytes_on_media / (double)s->live_bytes
			     : 0;
}

void ycsb_space_summarize(const struct ycsb_space *first,
			  const struct ycsb_space *last, const uint64_t *t_ns,
			  const double *amps, size_t n, uint64_t t0,
			  uint64_t t1, struct ycsb_space_result *out)
{
	uint64_t half = t0 + (t1 - t0) / 2;
	double sum;

	memset(out, 0, sizeof(*out));
	out->valid = true;
	out->compaction = last->compaction;
	out->bytes_on_media = last->bytes_on_media;
	out->live_bytes = last->live_bytes;
	out->amp_end = ycsb_space_amp(last);
	/* the last reading belongs to the second half too */
	out->amp_peak = out->amp_end;
	sum = out->amp_end;
	out->samples = 1;
	for (size_t i = 0; i < n; i++) {
		if (t_ns[i] < half || amps[i] <= 0)
			continue;
		if (amps[i] > out->amp_peak)
			out->amp_peak = amps[i];
		sum += amps[i];
		out->samples++;
	}
	out->amp_mean = sum / out->samples;
	out->user_bytes = last->user_bytes - first->user_bytes;
	out->bytes_compacted = last->bytes_compacted - first->bytes_compacted;
	out->compactions = last->compactions - first->compactions;
	out->segments_retired =
	    last->segments_retired - first->segments_retired;
	out->write_amp =
	    out->user_bytes ? (double)(out->user_bytes + out->bytes_compacted) /
				  (double)out->user_bytes
			    : 0;
}

struct ycsb_sampler {
	const struct ycsb_backend *be;
	void *store;
	unsigned period_ms;
	struct ycsb_space first;
	uint64_t t0;
	pthread_t thread;
	pthread_mutex_t lock; /* protects stop */
	pthread_cond_t cond;  /* signalled when stop is set */
	bool stop;
	/* written by the sampler thread only, read after the join */
	uint64_t *t_ns;
	double *amps;
	size_t n, cap;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sampler_add(struct ycsb_sampler *s, uint64_t t, double amp)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		uint64_t *t_ns = realloc(s->t_ns, cap * sizeof(*t_ns));
		double *amps;

		if (!t_ns)
			return;
		s->t_ns = t_ns;
		amps = realloc(s->amps, cap * sizeof(*amps));
		if (!amps)
			return;
		s->amps = amps;
		s->cap = cap;
	}
	s->t_ns[s->n] = t;
	s->amps[s->n] = amp;
	s->n++;
}

static void *sampler_main(void *arg)
{
	struct ycsb_sampler *s = arg;
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		struct ycsb_space sp;

		until.tv_nsec += (long)s->period_ms * 1000000L;
		while (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&s->cond, &s->lock, &until) !=
			ETIMEDOUT ||
		    s->stop)
			continue;
		pthread_mutex_unlock(&s->lock);
		if (s->be->space(s->store, true, &sp) == 0)
			sampler_add(s, now_ns(), ycsb_space_amp(&sp));
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct ycsb_sampler *ycsb_sampler_start(const struct ycsb_backend *be,
					void *store, unsigned period_ms)
{
	struct ycsb_sampler *s;
	pthread_condattr_t ca;

	if (!be->space)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->be = be;
	s->store = store;
	s->period_ms = period_ms ? period_ms : 1;
	if (be->space(store, false, &s->first)) {
		free(s);
		return NULL;
	}
	s->t0 = now_ns();
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->thread, NULL, sampler_main, s)) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	return s;
}

void ycsb_sampler_stop(struct ycsb_sampler *s, struct ycsb_space_result *out)
{
	struct ycsb_space last;
	uint64_t t1;

	memset(out, 0, sizeof(*out));
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	t1 = now_ns();
	if (s->be->space(s->store, false, &last) == 0)
		ycsb_space_summarize(&s->first, &last, s->t_ns, s->amps, s->n,
				     s->t0, t1, out);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->t_ns);
	free(s->amps);
	free(s);
}
