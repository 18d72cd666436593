/* SPDX-License-Identifier: MIT */
/* generator.c -- YCSB's number generators (generator.h). */
#include "generator.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void ycsb_rng_seed(struct ycsb_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) { /* splitmix64 */
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		r->s[i] = z ^ (z >> 31);
	}
}

uint64_t ycsb_rng_next(struct ycsb_rng *r)
{
	uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double ycsb_rng_double(struct ycsb_rng *r)
{
	return (double)(ycsb_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t ycsb_rng_below(struct ycsb_rng *r, uint64_t n)
{
	/* Lemire's multiply-shift; the bias (< n / 2^64) does not matter */
	return (uint64_t)(((unsigned __int128)ycsb_rng_next(r) * n) >> 64);
}

int64_t ycsb_fnvhash64(int64_t val)
{
	uint64_t hash = 0xCBF29CE484222325ull, v = (uint64_t)val;
	int64_t signed_hash;

	for (int i = 0; i < 8; i++) {
		hash ^= v & 0xff;
		/* Java's val >> 8 is arithmetic; keys are >= 0 so equal */
		v = (uint64_t)((int64_t)v >> 8);
		hash *= 1099511628211ull;
	}
	signed_hash = (int64_t)hash;
	if (signed_hash < 0 && signed_hash != INT64_MIN)
		signed_hash = -signed_hash; /* Math.abs */
	return signed_hash;
}

double ycsb_zeta(int64_t st, int64_t n, double theta, double initial)
{
	double sum = initial;

	for (int64_t i = st; i < n; i++)
		sum += 1.0 / pow((double)(i + 1), theta);
	return sum;
}

void ycsb_zipfian_init(struct ycsb_zipfian *z, int64_t min, int64_t max,
		       double theta, double zetan)
{
	z->base = min;
	z->items = max - min + 1;
	z->theta = theta;
	z->zeta2theta = ycsb_zeta(0, 2, theta, 0);
	z->alpha = 1.0 / (1.0 - theta);
	z->zetan = zetan >= 0 ? zetan : ycsb_zeta(0, z->items, theta, 0);
	z->countforzeta = z->items;
	z->half_pow_theta = 1.0 + pow(0.5, theta);
	z->eta = (1 - pow(2.0 / (double)z->items, 1 - theta)) /
		 (1 - z->zeta2theta / z->zetan);
}

int64_t ycsb_zipfian_next_n(struct ycsb_zipfian *z, struct ycsb_rng *r,
			    int64_t itemcount)
{
	double u, uz;

	if (itemcount != z->countforzeta) {
		/* the item count changed (latest: inserts happened);
		 * extend zeta incrementally when it grew, as YCSB does */
		if (itemcount > z->countforzeta)
			z->zetan = ycsb_zeta(z->countforzeta, itemcount,
					     z->theta, z->zetan);
		else
			z->zetan = ycsb_zeta(0, itemcount, z->theta, 0);
		z->countforzeta = itemcount;
		z->eta = (1 - pow(2.0 / (double)itemcount, 1 - z->theta)) /
			 (1 - z->zeta2theta / z->zetan);
	}
	u = ycsb_rng_double(r);
	uz = u * z->zetan;
	if (uz < 1.0)
		return z->base;
	if (uz < z->half_pow_theta)
		return z->base + 1;
	return z->base + (int64_t)((double)itemcount *
				   pow(z->eta * u - z->eta + 1, z->alpha));
}

int64_t ycsb_zipfian_next(struct ycsb_zipfian *z, struct ycsb_rng *r)
{
	return ycsb_zipfian_next_n(z, r, z->items);
}

void ycsb_scrambled_init(struct ycsb_scrambled *s, int64_t min, int64_t max)
{
	s->min = min;
	s->itemcount = max - min + 1;
	ycsb_zipfian_init(&s->gen, 0, YCSB_SCRAMBLED_ITEMS,
			  YCSB_ZIPFIAN_CONSTANT, YCSB_SCRAMBLED_ZETAN);
}

int64_t ycsb_scrambled_next(struct ycsb_scrambled *s, struct ycsb_rng *r)
{
	int64_t v = ycsb_zipfian_next(&s->gen, r);

	return s->min + ycsb_fnvhash64(v) % s->itemcount;
}

void ycsb_hotspot_init(struct ycsb_hotspot *h, int64_t lower, int64_t upper,
		       double hot_set_fraction, double hot_opn_fraction)
{
	int64_t interval;

	if (hot_set_fraction < 0 || hot_set_fraction > 1)
		hot_set_fraction = 0; /* YCSB's fallback */
	if (hot_opn_fraction < 0 || hot_opn_fraction > 1)
		hot_opn_fraction = 0;
	if (lower > upper) {
		int64_t t = lower;

		lower = upper;
		upper = t;
	}
	interval = upper - lower + 1;
	h->lower = lower;
	h->hot_interval = (int64_t)((double)interval * hot_set_fraction);
	h->cold_interval = interval - h->hot_interval;
	h->hot_opn_fraction = hot_opn_fraction;
}

int64_t ycsb_hotspot_next(const struct ycsb_hotspot *h, struct ycsb_rng *r)
{
	if (h->hot_interval > 0 &&
	    (h->cold_interval == 0 || ycsb_rng_double(r) < h->hot_opn_fraction))
		return h->lower +
		       (int64_t)ycsb_rng_below(r, (uint64_t)h->hot_interval);
	return h->lower + h->hot_interval +
	       (int64_t)ycsb_rng_below(r, (uint64_t)h->cold_interval);
}

int ycsb_counter_init(struct ycsb_counter *c, int64_t start)
{
	c->next = start;
	c->limit = start;
	c->window = calloc(YCSB_ACK_WINDOW, sizeof(bool));
	if (!c->window)
		return -1;
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

void ycsb_counter_fini(struct ycsb_counter *c)
{
	free(c->window);
	c->window = NULL;
	pthread_mutex_destroy(&c->lock);
}

int64_t ycsb_counter_next(struct ycsb_counter *c)
{
	return __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
}

void ycsb_counter_acknowledge(struct ycsb_counter *c, int64_t value)
{
	pthread_mutex_lock(&c->lock);
	/* YCSB throws when the window overflows; with at most a few
	 * inserts in flight per thread that cannot happen here */
	c->window[value % YCSB_ACK_WINDOW] = true;
	while (c->window[c->limit % YCSB_ACK_WINDOW]) {
		c->window[c->limit % YCSB_ACK_WINDOW] = false;
		/* readers load limit without the lock */
		__atomic_store_n(&c->limit, c->limit + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&c->lock);
}

int64_t ycsb_counter_last(struct ycsb_counter *c)
{
	/* every operation asks; a lock here would bounce between threads */
	return __atomic_load_n(&c->limit, __ATOMIC_ACQUIRE) - 1;
}
