// SPDX-License-Identifier: MIT
/*
 * image.c -- crash points: the crash states of one point, built in the
 * check directory and checked.
 *
 * A crash state chooses, independently:
 *   - for every line that differs from its durable content (pmem.c): that
 *     content, or one of the versions the line held since (the newest
 *     first; at most MAXCAND distinct ones), possibly torn at 8-byte
 *     granularity between the durable content and a version;
 *   - which directory operations not yet fsynced survived (fs.c: any
 *     subset, or any prefix with --fs journal);
 *   - for every file whose data or size is not yet durable, which content
 *     it has (fs.c: fs_file_variants);
 *   - the metadata pool: as of its last commit (a metadata commit is two
 *     crash points, before and after).
 * Where the product of those choices is at most 2^enum_max (128), every
 * combination is checked, then each line torn once; beyond that,
 * `samples` seeded combinations (10, 50 or 90 % of the lines, or a
 * prefix of them in address order; a quarter torn; each directory
 * operation kept with even odds).
 *
 * Crash points between stores (a short operation, pmem.c) check only the
 * states that are new at that store: those in which a line that store
 * wrote shows what it wrote.  Every other state of the point was a state
 * of an earlier point with the same durable image, expectation and file
 * system, so the states of an operation's stores together are exactly
 * the states of its fence; a point whose inputs did not change since the
 * last one (its fence, after its last store) has no new state and is
 * skipped.  The reasoning needs nothing else to have changed since the
 * last fully enumerated point; otherwise the point is enumerated fully.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crashsim.h"

#define MAXCAND 8u

uint64_t states, points, violations, max_states = UINT64_MAX, keep_state;
uint64_t states_by_ev[EV_NKINDS], states_by_ctx[CTX_NKINDS];
uint64_t states_torn, states_interm, states_fs;
unsigned enum_max = 7, samples = 20;
bool save_w2_at_fence;
bool checking = true;
bool count_only;
char w2dir[256], keep_dir[256];
struct expect w2_exp;

struct dline {
	struct lstate *ls;
	uint8_t ncand;
	bool touched;           /* written by the store of this point */
	uint8_t newest;         /* the digit of its newest version */
	uint8_t cand[MAXCAND];  /* indices into ls->ver, newest first */
};

static struct dline *dl;
static size_t ndl, cap_dl;
static struct inode **files;
static size_t nfiles;
static uint8_t filevar[64];

/* what a state applied to the check mappings, to undo */
struct undo {
	struct tmap *tm;
	uint32_t line;
};
static struct undo *undo;
static size_t nundo, cap_undo;

struct sig {
	uint64_t pers, store, fs, meta, exp;
};
static struct sig last_sig;
static bool filter_ok;
static uint64_t seen_pers, seen_fs, seen_meta, seen_exp, seen_store;

static const char *const ev_names[EV_NKINDS] = { "fence", "store", "meta",
						 "fs" };

void image_reset(void)
{
	memset(&last_sig, 0xff, sizeof(last_sig));
	filter_ok = false;
}

/* The lines that may differ, with their candidate contents. */
static void collect_lines(void)
{
	ndl = 0;
	for (size_t i = 0; i < nlines; i++) {
		struct lstate *ls = &lines[i];
		const uint8_t *pers = ls->tm->pers + (size_t)ls->line * LINE;
		struct dline *d;

		if (!ls->nver)
			continue;
		if (ndl == cap_dl) {
			cap_dl = cap_dl ? 2 * cap_dl : 1024;
			dl = realloc(dl, cap_dl * sizeof(*dl));
			if (!dl)
				die("out of memory");
		}
		d = &dl[ndl];
		d->ls = ls;
		d->ncand = 0;
		d->touched = ls->ver[ls->nver - 1].store == store_serial;
		d->newest = 0;
		for (uint32_t v = ls->nver; v-- > 0 && d->ncand < MAXCAND;) {
			const uint8_t *data = ls->ver[v].data;
			bool dup = !memcmp(data, pers, LINE);

			for (unsigned c = 0; c < d->ncand && !dup; c++)
				dup = !memcmp(data, ls->ver[d->cand[c]].data,
					      LINE);
			if (v == ls->nver - 1 && !memcmp(data, pers, LINE))
				d->newest = 0;
			else if (v == ls->nver - 1)
				d->newest = 1;
			if (!dup)
				d->cand[d->ncand++] = (uint8_t)v;
		}
		if (d->ncand)
			ndl++;
	}
}

static void push_undo(struct tmap *tm, uint32_t line)
{
	if (nundo == cap_undo) {
		cap_undo = cap_undo ? 2 * cap_undo : 1024;
		undo = realloc(undo, cap_undo * sizeof(*undo));
		if (!undo)
			die("out of memory");
	}
	undo[nundo].tm = tm;
	undo[nundo].line = line;
	nundo++;
}

/* Line i shows candidate c (1-based; 0: pers), words in @p mask only. */
static void apply_line(size_t i, unsigned c, uint8_t mask)
{
	struct dline *d = &dl[i];
	struct tmap *tm = d->ls->tm;
	size_t off = (size_t)d->ls->line * LINE;
	const uint8_t *data;

	if (!c || !tm->chk)
		return;
	data = d->ls->ver[d->cand[c - 1]].data;
	for (unsigned w = 0; w < LINE / 8; w++)
		if (mask & (1u << w))
			memcpy(tm->chk + off + w * 8, data + w * 8, 8);
	push_undo(tm, d->ls->line);
}

static void undo_lines(void)
{
	for (size_t i = 0; i < nundo; i++) {
		size_t off = (size_t)undo[i].line * LINE;

		memcpy(undo[i].tm->chk + off, undo[i].tm->pers + off, LINE);
	}
	nundo = 0;
}

/* One state: build, check, count, undo. */
static void check_state(enum ev_kind ev, const struct fs_choice *fc,
			const char *what, bool torn, bool interm, bool fslost)
{
	struct sim_thread *t = sim_self();
	struct check_result res;

	fs_build_check_dir(fc);
	states++;
	states_by_ev[ev]++;
	states_by_ctx[t->ctx]++;
	states_torn += torn;
	states_interm += interm;
	states_fs += fslost;
	sched_progress();
	if (keep_state && states == keep_state) {
		fs_save_dir(keep_dir);
		printf("state %llu (%s %s, %s, thread %d: %s) kept in %s\n",
		       (unsigned long long)states, ctx_name(t->ctx),
		       ev_names[ev], what, t->id, t->op, keep_dir);
	}
	if (count_only || (keep_state && states != keep_state)) {
		/* sizing a run, or rebuilding one state: built, not checked
		 * (the checker changes nothing the states after it see) */
		res.ok = 1;
		res.msg[0] = '\0';
	} else {
		checker_run(&cur_exp, &res);
	}
	if (!res.ok) {
		violations++;
		if (violations <= 10) {
			fprintf(stderr,
				"VIOLATION phase %d state %llu (point %llu, %s "
				"%s, thread %d: %s; %s): %s\n",
				cur_phase, (unsigned long long)states,
				(unsigned long long)points, ctx_name(t->ctx),
				ev_names[ev], t->id, t->op, what, res.msg);
			fprintf(stderr, "  rebuild it: the same command with "
				"--keep-state %llu --keep-dir DIR\n",
				(unsigned long long)states);
		}
	}
	undo_lines();
	fs_restore_check_dir();
	if (!res.ok && expect_violations)
		planted_caught();
	if (keep_state && states == keep_state) {
		printf("state %llu: %s%s\n", (unsigned long long)states,
		       res.ok ? "recovers correctly" : "VIOLATION: ",
		       res.ok ? "" : res.msg);
		tracking = false;
		exit(res.ok ? 0 : 1);
	}
}

/* Phase 2 starts from this: a random half of the point's choices. */
static void save_w2(void)
{
	struct fs_choice fc = { 0 };
	struct inode **f;
	size_t nf = fs_unsynced(&f);

	for (size_t i = 0; i < ndl; i++)
		if (rnd_var() & 1)
			apply_line(i, 1 + (unsigned)(rnd_var() % dl[i].ncand),
				   0xff);
	fc.opmask = rnd_var();
	fc.nops = (uint32_t)(rnd_var() % (ndirops + 1));
	for (size_t i = 0; i < nf && i < sizeof(filevar); i++)
		filevar[i] = (uint8_t)(rnd_var() % fs_file_variants(f[i]));
	fc.filevar = filevar;
	fs_build_check_dir(&fc);
	fs_save_dir(w2dir);
	w2_exp = cur_exp;
	undo_lines();
	fs_restore_check_dir();
	save_w2_at_fence = false;
}

void crash_point(enum ev_kind ev)
{
	struct sig sig = { pers_gen, store_serial, fs_serial, meta_ver,
			   exp_serial };
	struct fs_choice fc = { 0 };
	uint64_t total = 1, limit = 1ull << enum_max;
	size_t nops;
	bool filtered, exhaustive;
	char what[160];
	bool same;

	if (!meta_known() || !checking)
		return;
	if (pers_gen != seen_pers || fs_serial != seen_fs ||
	    meta_ver != seen_meta || exp_serial != seen_exp ||
	    store_serial != seen_store + (ev == EV_STORE)) {
		/* a durable image, file system or expectation that the last
		 * point did not see, or stores it did not see one by one */
		filter_ok = false;
		seen_pers = pers_gen;
		seen_fs = fs_serial;
		seen_meta = meta_ver;
		seen_exp = exp_serial;
	}
	seen_store = store_serial;
	same = !memcmp(&sig, &last_sig, sizeof(sig));
	if (same && !(save_w2_at_fence && ev == EV_FENCE))
		return; /* nothing new since the last point */
	last_sig = sig;
	pmem_sync_chk();
	collect_lines();
	if (save_w2_at_fence && ev == EV_FENCE && ndl > 0)
		save_w2();
	if (same || states >= max_states)
		return;
	points++;
	nfiles = fs_unsynced(&files);
	if (nfiles > sizeof(filevar))
		nfiles = sizeof(filevar);
	nops = ndirops;
	filtered = ev == EV_STORE && filter_ok;
	if (filtered) {
		bool any = false;

		for (size_t i = 0; i < ndl; i++)
			any |= dl[i].touched;
		if (!any)
			return; /* the store changed nothing */
	}
	for (size_t i = 0; i < ndl && total <= limit; i++)
		total *= 1u + dl[i].ncand;
	if (fs_order == 1)
		total *= nops + 1;
	else
		for (size_t i = 0; i < nops && total <= limit; i++)
			total *= 2;
	for (size_t i = 0; i < nfiles && total <= limit; i++)
		total *= fs_file_variants(files[i]);
	exhaustive = total <= limit && nops <= 63;
	fc.filevar = filevar;
	if (exhaustive) {
		for (uint64_t idx = 0; idx < total && states < max_states;
		     idx++) {
			uint64_t x = idx;
			bool touched_new = false, interm = false, lost = false;

			for (size_t i = 0; i < ndl; i++) {
				unsigned c = (unsigned)(x % (1u + dl[i].ncand));

				x /= 1u + dl[i].ncand;
				if (dl[i].touched && c == dl[i].newest)
					touched_new = true;
				interm |= c > 1;
				apply_line(i, c, 0xff);
			}
			if (fs_order == 1) {
				fc.nops = (uint32_t)(x % (nops + 1));
				x /= nops + 1;
				lost |= fc.nops < nops;
			} else {
				fc.opmask = x & ((1ull << nops) - 1);
				x >>= nops;
				lost |= fc.opmask != (1ull << nops) - 1;
			}
			for (size_t i = 0; i < nfiles; i++) {
				unsigned nv = fs_file_variants(files[i]);

				filevar[i] = (uint8_t)(x % nv);
				x /= nv;
				lost |= filevar[i] != 1;
			}
			if (filtered && !touched_new) {
				undo_lines();
				continue;
			}
			snprintf(what, sizeof(what),
				 "combination %llu of %llu: %zu lines, %zu "
				 "file ops, %zu files",
				 (unsigned long long)idx,
				 (unsigned long long)total, ndl, nops, nfiles);
			check_state(ev, &fc, what, false, interm, lost);
		}
		/* each line torn, alone */
		memset(filevar, 1, sizeof(filevar));
		fc.opmask = ~0ull;
		fc.nops = (uint32_t)nops;
		for (size_t i = 0; i < ndl && states < max_states; i++) {
			uint8_t mask = (uint8_t)(1 + rnd_var() % 254);
			unsigned c = 1 + (unsigned)(rnd_var() % dl[i].ncand);

			if (filtered && !dl[i].touched)
				continue;
			apply_line(i, c, mask);
			snprintf(what, sizeof(what),
				 "line %zu of %zu torn 0x%02x (version %u)", i,
				 ndl, mask, c);
			check_state(ev, &fc, what, true, c > 1, false);
		}
		filter_ok = true;
		return;
	}
	for (unsigned s = 0; s < samples && states < max_states; s++) {
		unsigned pct = (unsigned[]){ 10, 50, 90 }[s % 3];
		size_t prefix = (size_t)(rnd_var() % (ndl + 1)), forced = SIZE_MAX;
		bool torn = false, interm = false, lost = false;
		size_t ntouched = 0;

		if (filtered) {
			for (size_t i = 0; i < ndl; i++)
				ntouched += dl[i].touched;
			forced = (size_t)(rnd_var() % (ntouched ? ntouched : 1));
		}
		for (size_t i = 0, t = 0; i < ndl; i++) {
			bool in = (s % 4 == 3) ? i < prefix :
						 rnd_var() % 100 < pct;
			unsigned c = 1;
			uint8_t mask = 0xff;

			if (dl[i].touched && t++ == forced) {
				in = true;
				c = dl[i].newest ? dl[i].newest : 1;
			} else if (dl[i].ncand > 1 && rnd_var() % 2) {
				c = 1 + (unsigned)(rnd_var() % dl[i].ncand);
			}
			if (!in)
				continue;
			if (rnd_var() % 4 == 0) {
				mask = (uint8_t)(1 + rnd_var() % 254);
				torn = true;
			}
			interm |= c > 1;
			apply_line(i, c, mask);
		}
		fc.opmask = rnd_var();
		fc.nops = (uint32_t)(rnd_var() % (nops + 1));
		if (fs_order == 1) {
			lost = fc.nops < nops;
		} else {
			uint64_t all = nops >= 64 ? ~0ull : (1ull << nops) - 1;

			lost = (fc.opmask & all) != all;
		}
		for (size_t i = 0; i < nfiles; i++) {
			filevar[i] = (uint8_t)(rnd_var() %
					       fs_file_variants(files[i]));
			lost |= filevar[i] != 1;
		}
		snprintf(what, sizeof(what),
			 "sample %u of %zu lines (%u%%%s), %zu file ops, %zu "
			 "files", s, ndl, pct, s % 4 == 3 ? ", prefix" : "",
			 nops, nfiles);
		check_state(ev, &fc, what, torn, interm, lost);
	}
	filter_ok = false;
}
