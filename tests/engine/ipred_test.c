// SPDX-License-Identifier: MIT
/*
 * ipred_test.c -- the compiled integer predicate (dkd_ipred_compile and
 * dkd_ipred_match, include/daxkv_device.h, which the kernel module's walk
 * uses) against the reference rule every backend shares (dkd_pred_eval).
 *
 * Random UINT and INT predicates of every width and op, with operands at
 * the edges of each width (0, 1, the extremes, one past them) as well as
 * inside and outside it, each evaluated on random field values and on
 * values at the edges and next to the operand; fields at every offset in
 * the first 16 bytes (a field at offset < 8 makes the match read bytes
 * before the value, as it does in a record, where the header lies there).
 * Any disagreement fails with the predicate and the value.
 *
 *   ipred_test [predicates]   (default 200000; each tried on 32 values)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daxkv_device.h"

static unsigned long long rng = 0x243f6a8885a308d3ull;

static unsigned long long rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A value for a field of width w bytes: random or at an edge. */
static unsigned long long pick(unsigned w, int is_int, unsigned long long near)
{
	unsigned long long mask = w == 8 ? ~0ull : (1ull << (8 * w)) - 1;
	unsigned long long sign = 1ull << (8 * w - 1);
	unsigned long long edges[] = { 0, 1, mask, mask - 1, sign, sign - 1,
				       sign + 1, near, near + 1, near - 1 };

	if (rnd() % 2)
		return rnd() & mask;
	(void)is_int;
	return edges[rnd() % (sizeof(edges) / sizeof(edges[0]))] & mask;
}

/* An operand: in the width (as the field's type reads it) or outside. */
static unsigned long long operand(unsigned w, int is_int)
{
	unsigned long long v = pick(w, is_int, 0);

	switch (rnd() % 8) {
	case 0: /* anything at all: outside the width too */
		return rnd() >> (rnd() % 64);
	case 1:
		return rnd() % 2 ? ~0ull : 1ull << 63;
	case 2: /* one past the width's range */
		if (w < 8)
			return is_int ? (unsigned long long)(-(1ll << (8 * w - 1)) - 1)
				      : 1ull << (8 * w);
		return v;
	default:
		break;
	}
	if (is_int && w < 8 && (v >> (8 * w - 1)) & 1)
		v |= ~0ull << (8 * w); /* sign-extend, as the library stores it */
	return v;
}

int main(int argc, char **argv)
{
	static const unsigned widths[] = { 1, 2, 4, 8 };
	long npreds = argc > 1 ? atol(argv[1]) : 200000;
	unsigned long long checks = 0, never = 0, matches = 0;
	__u8 buf[8 + 32];
	__u8 *val = buf + 8;

	if (npreds <= 0) {
		fprintf(stderr, "usage: ipred_test [predicates > 0]\n");
		return 2;
	}
	for (long n = 0; n < npreds; n++) {
		struct dkd_pred p;
		struct dkd_ipred ip;
		int ok;

		memset(&p, 0, sizeof(p));
		p.type = rnd() % 2 ? DKD_T_INT : DKD_T_UINT;
		p.op = DKD_OP_EQ + rnd() % 6;
		p.width = widths[rnd() % 4];
		p.offset = rnd() % 17;
		p.operand[0] = operand((unsigned)p.width, p.type == DKD_T_INT);
		ok = dkd_ipred_compile(&p, &ip);
		if (!ok)
			never++;
		for (int v = 0; v < 32; v++) {
			unsigned long long x = pick((unsigned)p.width,
						    p.type == DKD_T_INT,
						    p.operand[0]);
			int want, got;

			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = (__u8)rnd();
			for (unsigned i = 0; i < p.width; i++)
				val[p.offset + i] = (__u8)(x >> (8 * i));
			want = dkd_pred_eval(&p, val, 32);
			got = ok && dkd_ipred_match(&ip, val);
			checks++;
			matches += (unsigned long long)want;
			if (want != got) {
				fprintf(stderr,
					"MISMATCH: type %s op %llu width %llu "
					"offset %llu operand 0x%llx field 0x%llx: "
					"dkd_pred_eval %d, compiled %d\n",
					p.type == DKD_T_INT ? "INT" : "UINT",
					(unsigned long long)p.op,
					(unsigned long long)p.width,
					(unsigned long long)p.offset,
					(unsigned long long)p.operand[0], x,
					want, got);
				return 1;
			}
		}
	}
	printf("ipred_test: %ld predicates (%llu never true), %llu values "
	       "checked, %llu matched, 0 mismatches\n",
	       npreds, never, checks, matches);
	/* the mix must exercise both answers, or it tests little */
	if (matches == 0 || matches == checks || never == 0) {
		fprintf(stderr, "ipred_test: degenerate mix\n");
		return 1;
	}
	return 0;
}
