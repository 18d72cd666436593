// SPDX-License-Identifier: MIT
/*
 * where.c -- kvctl query's filter expressions and aggregate fields, parsed
 * into the engine's struct daxkv_pred without a database.
 *
 * Grammar (kvctl(1), FILTER EXPRESSIONS); blanks may surround any token:
 *
 *   where    := field op operand
 *   field    := type '@' number           offset + width <= 65536
 *   type     := u8 | u16 | u32 | u64 | i8 | i16 | i32 | i64 | bytesN
 *   op       := == | != | < | <= | > | >=
 *   operand  := ['-'] number              uN, iN ('-' for iN only)
 *             | '...' | "..." | 0xHEX     bytesN: exactly N bytes
 *   number   := decimal digits | 0x hex digits
 *
 * The expression has its own syntax for bytes (quotes or 0x), so it
 * means the same whatever --hex/--base64 say about keys.  Quoted text
 * takes the escapes \\ \' \" and \xHH.  Integers are checked against the
 * field's range here, so the library's EINVAL for an operand that does
 * not fit never reaches a user without a column number.
 *
 * Nothing here opens a database or allocates, so tests/fuzz/fuzz_where.c
 * feeds it any bytes; kv_where_format() writes the canonical form that
 * parses back to the same predicate, which the fuzzer checks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kvctl.h"

struct kv_lex {
	const char *text;
	size_t pos;
	char *err;
	size_t errlen;
};

static bool kv_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool kv_is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '_';
}

static int kv_hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void kv_skip_blanks(struct kv_lex *lx)
{
	while (kv_is_blank(lx->text[lx->pos]))
		lx->pos++;
}

/* Room for what kv_snippet() writes: 16 characters of at most 4 bytes
 * each, quotes, "..." and the NUL. */
#define KV_SNIPPET_MAX 80

/* What the user wrote from @p p: up to a blank or @p max characters, at
 * most 16 of them shown, control and non-ASCII bytes as \xHH, quoted; or
 * "the end of the expression".  @p buf has KV_SNIPPET_MAX bytes. */
static void kv_snippet_n(const char *p, size_t max, char buf[KV_SNIPPET_MAX])
{
	const char *end = p;
	size_t n = 0, shown;

	while (*end && !kv_is_blank(*end) && (size_t)(end - p) < max)
		end++;
	if (end == p) {
		snprintf(buf, KV_SNIPPET_MAX, "%s",
			 *p ? "a blank" : "the end of the expression");
		return;
	}
	buf[n++] = '\'';
	for (shown = 0; p < end && shown < 16; p++, shown++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f) {
			snprintf(buf + n, KV_SNIPPET_MAX - n, "\\x%02x", c);
			n += 4;
		} else {
			buf[n++] = (char)c;
		}
	}
	if (p < end) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n++] = '\'';
	buf[n] = '\0';
}

static void kv_snippet(const char *p, char buf[KV_SNIPPET_MAX])
{
	kv_snippet_n(p, SIZE_MAX, buf);
}

/* Record "column N: message" and return false. */
static bool kv_lex_fail(struct kv_lex *lx, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool kv_lex_fail(struct kv_lex *lx, size_t pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!lx->err || !lx->errlen)
		return false;
	n = snprintf(lx->err, lx->errlen, "column %zu: ", pos + 1);
	if (n < 0 || (size_t)n >= lx->errlen)
		return false;
	va_start(ap, fmt);
	vsnprintf(lx->err + n, lx->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* A decimal or 0x-hex number at the current position; @p what ("the
 * operand") names it in errors.  It must not run into letters: "12ab" is
 * an error, not 12 followed by garbage. */
static bool kv_lex_number(struct kv_lex *lx, const char *what, uint64_t *val)
{
	const char *s = lx->text;
	size_t pos = lx->pos, start = pos;
	uint64_t v = 0;
	bool hex = s[pos] == '0' && (s[pos + 1] == 'x' || s[pos + 1] == 'X');
	char found[KV_SNIPPET_MAX];

	if (!hex && (s[pos] < '0' || s[pos] > '9')) {
		kv_snippet(s + start, found);
		return kv_lex_fail(lx, start, "expected %s, a decimal or 0x-hex "
				   "number, found %s", what, found);
	}
	if (hex) {
		for (pos += 2; kv_hexdigit(s[pos]) >= 0; pos++) {
			if (v >> 60)
				break;
			v = v << 4 | (uint64_t)kv_hexdigit(s[pos]);
		}
	} else {
		for (; s[pos] >= '0' && s[pos] <= '9'; pos++) {
			unsigned digit = (unsigned)(s[pos] - '0');

			if (v > (UINT64_MAX - digit) / 10)
				break;
			v = v * 10 + digit;
		}
	}
	kv_snippet(s + start, found);
	if ((hex && kv_hexdigit(s[pos]) >= 0) ||
	    (!hex && s[pos] >= '0' && s[pos] <= '9'))
		return kv_lex_fail(lx, start, "%s %s does not fit in 64 bits",
				   what, found);
	if (hex && pos == start + 2)
		return kv_lex_fail(lx, start, "%s %s has no hex digits after "
				   "0x", what, found);
	if (kv_is_alnum(s[pos]))
		return kv_lex_fail(lx, start, "%s %s is not a number", what,
				   found);
	lx->pos = pos;
	*val = v;
	return true;
}

static const char kv_types_list[] =
	"u8 u16 u32 u64 i8 i16 i32 i64 or bytesN with N = 1..64";

/* TYPE '@' OFFSET, with the field limit checked. */
static bool kv_lex_field(struct kv_lex *lx, struct kv_field *f)
{
	const char *s = lx->text;
	size_t start, len, at;
	uint64_t offset;
	char found[KV_SNIPPET_MAX];

	kv_skip_blanks(lx);
	start = lx->pos;
	for (len = 0; kv_is_alnum(s[start + len]); len++)
		;
	if (len == 0) {
		kv_snippet(s + start, found);
		return kv_lex_fail(lx, start, "expected a field TYPE@OFFSET "
				   "(TYPE: %s), found %s", kv_types_list,
				   found);
	}
	memset(f, 0, sizeof(*f));
	if ((s[start] == 'u' || s[start] == 'i') &&
	    ((len == 2 && s[start + 1] == '8') ||
	     (len == 3 && memcmp(s + start + 1, "16", 2) == 0) ||
	     (len == 3 && memcmp(s + start + 1, "32", 2) == 0) ||
	     (len == 3 && memcmp(s + start + 1, "64", 2) == 0))) {
		f->type = s[start] == 'u' ? DAXKV_FIELD_UINT : DAXKV_FIELD_INT;
		switch (s[start + 1]) {
		case '8':
			f->width = 1;
			break;
		case '1':
			f->width = 2;
			break;
		case '3':
			f->width = 4;
			break;
		default:
			f->width = 8;
			break;
		}
	} else if (len >= 5 && memcmp(s + start, "bytes", 5) == 0) {
		uint32_t n = 0;
		size_t i;

		for (i = start + 5; i < start + len; i++) {
			if (s[i] < '0' || s[i] > '9' || n > 1000)
				break;
			n = n * 10 + (uint32_t)(s[i] - '0');
		}
		if (len == 5)
			return kv_lex_fail(lx, start, "bytes needs its width: "
					   "bytesN with N = 1..%u",
					   DAXKV_QUERY_MAX_BYTES);
		if (i != start + len || n == 0 || n > DAXKV_QUERY_MAX_BYTES) {
			kv_snippet_n(s + start, len, found);
			return kv_lex_fail(lx, start, "%s: bytesN takes N = "
					   "1..%u", found,
					   DAXKV_QUERY_MAX_BYTES);
		}
		f->type = DAXKV_FIELD_BYTES;
		f->width = n;
	} else {
		kv_snippet_n(s + start, len, found);
		return kv_lex_fail(lx, start, "unknown field type %s; types "
				   "are %s", found, kv_types_list);
	}
	lx->pos = start + len;
	kv_skip_blanks(lx);
	at = lx->pos;
	if (s[at] != '@') {
		kv_snippet(s + at, found);
		return kv_lex_fail(lx, at, "expected '@' and the field's byte "
				   "offset after the type, found %s", found);
	}
	lx->pos++;
	kv_skip_blanks(lx);
	start = lx->pos;
	if (!kv_lex_number(lx, "the offset", &offset))
		return false;
	/* not offset + width: a 64-bit offset would wrap */
	if (offset > DAXKV_QUERY_FIELD_LIMIT - f->width)
		return kv_lex_fail(lx, start, "offset %llu: a field of %u "
				   "bytes must end by byte %u (offset at most "
				   "%u)", (unsigned long long)offset, f->width,
				   DAXKV_QUERY_FIELD_LIMIT,
				   DAXKV_QUERY_FIELD_LIMIT - f->width);
	f->offset = (uint32_t)offset;
	return true;
}

static bool kv_lex_op(struct kv_lex *lx, uint32_t *op)
{
	const char *s = lx->text + lx->pos;
	char found[KV_SNIPPET_MAX];

	if (s[0] == '=' && s[1] == '=')
		*op = DAXKV_OP_EQ;
	else if (s[0] == '!' && s[1] == '=')
		*op = DAXKV_OP_NE;
	else if (s[0] == '<' && s[1] == '=')
		*op = DAXKV_OP_LE;
	else if (s[0] == '>' && s[1] == '=')
		*op = DAXKV_OP_GE;
	else if (s[0] == '<')
		*op = DAXKV_OP_LT;
	else if (s[0] == '>')
		*op = DAXKV_OP_GT;
	else if (s[0] == '=')
		return kv_lex_fail(lx, lx->pos, "'=' is not an operator: "
				   "use ==");
	else {
		kv_snippet(s, found);
		return kv_lex_fail(lx, lx->pos, "expected an operator (== != "
				   "< <= > >=), found %s", found);
	}
	lx->pos += *op == DAXKV_OP_LT || *op == DAXKV_OP_GT ? 1 : 2;
	return true;
}

static const char *kv_type_name(const struct kv_field *f, char *buf,
				size_t len)
{
	snprintf(buf, len, "%s%u",
		 f->type == DAXKV_FIELD_UINT  ? "u" :
		 f->type == DAXKV_FIELD_INT   ? "i" :
						"bytes",
		 f->type == DAXKV_FIELD_BYTES ? f->width : 8 * f->width);
	return buf;
}

static bool kv_lex_int_operand(struct kv_lex *lx, const struct kv_field *f,
			       struct daxkv_pred *p)
{
	size_t start = lx->pos;
	unsigned bits = 8 * f->width;
	bool negative = false;
	uint64_t mag, max;
	char name[16];

	kv_type_name(f, name, sizeof(name));
	if (lx->text[lx->pos] == '\'' || lx->text[lx->pos] == '"')
		return kv_lex_fail(lx, start, "%s compares integers: the "
				   "operand is a number, not quoted text",
				   name);
	if (lx->text[lx->pos] == '-') {
		if (f->type == DAXKV_FIELD_UINT)
			return kv_lex_fail(lx, start, "%s is unsigned: no "
					   "negative operand (use i%u for a "
					   "signed field)", name, bits);
		negative = true;
		lx->pos++;
	}
	if (!kv_lex_number(lx, "the operand", &mag))
		return false;
	if (f->type == DAXKV_FIELD_UINT) {
		max = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
		if (mag > max)
			return kv_lex_fail(lx, start, "%llu does not fit %s "
					   "(0..%llu)", (unsigned long long)mag,
					   name, (unsigned long long)max);
		p->uval = mag;
		return true;
	}
	max = (UINT64_C(1) << (bits - 1)) - 1; /* largest positive */
	if (mag > max + (negative ? 1 : 0))
		return kv_lex_fail(lx, start, "%s%llu does not fit %s "
				   "(-%llu..%llu)", negative ? "-" : "",
				   (unsigned long long)mag, name,
				   (unsigned long long)max + 1,
				   (unsigned long long)max);
	/* magnitude 2^63 negated: computed in unsigned, then converted */
	p->ival = negative ? (int64_t)(0 - mag) : (int64_t)mag;
	return true;
}

static bool kv_lex_bytes_operand(struct kv_lex *lx, const struct kv_field *f,
				 struct kv_where *w)
{
	const char *s = lx->text;
	size_t start = lx->pos, pos = start, n = 0;
	char name[16], found[KV_SNIPPET_MAX];

	kv_type_name(f, name, sizeof(name));
	if (s[pos] == '0' && (s[pos + 1] == 'x' || s[pos + 1] == 'X')) {
		size_t digits = 0;

		for (pos += 2; kv_hexdigit(s[pos]) >= 0; pos++, digits++)
			;
		if (kv_is_alnum(s[pos])) {
			kv_snippet(s + start, found);
			return kv_lex_fail(lx, pos, "%s: '%c' is not a hex "
					   "digit", found, s[pos]);
		}
		if (digits % 2)
			return kv_lex_fail(lx, start, "odd number of hex "
					   "digits (%zu): two make a byte",
					   digits);
		if (digits / 2 != f->width)
			return kv_lex_fail(lx, start, "%s needs exactly %u "
					   "bytes, the hex operand has %zu",
					   name, f->width, digits / 2);
		for (size_t i = 0; i < f->width; i++)
			w->bytes[i] = (uint8_t)(kv_hexdigit(s[start + 2 + 2 * i])
						 << 4 |
					 kv_hexdigit(s[start + 3 + 2 * i]));
		lx->pos = pos;
		return true;
	}
	if (s[pos] != '\'' && s[pos] != '"') {
		kv_snippet(s + start, found);
		return kv_lex_fail(lx, start, "%s takes %u bytes as 'text', "
				   "\"text\" or 0xHEX, found %s", name,
				   f->width, found);
	}
	for (pos++; s[pos] && s[pos] != s[start]; n++) {
		uint8_t byte;

		if (s[pos] == '\\') {
			char e = s[pos + 1];

			if (e == '\\' || e == '\'' || e == '"') {
				byte = (uint8_t)e;
				pos += 2;
			} else if (e == 'x' && kv_hexdigit(s[pos + 2]) >= 0 &&
				   kv_hexdigit(s[pos + 3]) >= 0) {
				byte = (uint8_t)(kv_hexdigit(s[pos + 2]) << 4 |
						 kv_hexdigit(s[pos + 3]));
				pos += 4;
			} else {
				return kv_lex_fail(lx, pos, "unknown escape in "
						   "quotes: use \\\\ \\' \\\" "
						   "or \\xHH");
			}
		} else {
			byte = (uint8_t)s[pos++];
		}
		if (n < f->width)
			w->bytes[n] = byte;
	}
	if (!s[pos])
		return kv_lex_fail(lx, start, "no closing %c for this quote",
				   s[start]);
	if (n != f->width)
		return kv_lex_fail(lx, start, "%s needs exactly %u bytes, the "
				   "quoted text has %zu", name, f->width, n);
	lx->pos = pos + 1;
	return true;
}

static bool kv_lex_end(struct kv_lex *lx, const char *after)
{
	char found[KV_SNIPPET_MAX];

	kv_skip_blanks(lx);
	if (!lx->text[lx->pos])
		return true;
	kv_snippet(lx->text + lx->pos, found);
	return kv_lex_fail(lx, lx->pos, "unexpected %s after %s", found,
			   after);
}

bool kv_where_parse(const char *expr, struct kv_where *out, char *err,
		    size_t errlen)
{
	struct kv_lex lx = { .text = expr, .err = err, .errlen = errlen };
	struct daxkv_pred *p = &out->pred;
	struct kv_field f;

	if (err && errlen)
		err[0] = '\0';
	memset(out, 0, sizeof(*out));
	kv_skip_blanks(&lx);
	if (!expr[lx.pos])
		return kv_lex_fail(&lx, lx.pos, "empty expression: expected "
				   "TYPE@OFFSET OP OPERAND, e.g. 'u32@0 > "
				   "100'");
	if (!kv_lex_field(&lx, &f))
		return false;
	p->type = f.type;
	p->offset = f.offset;
	p->width = f.width;
	kv_skip_blanks(&lx);
	if (!kv_lex_op(&lx, &p->op))
		return false;
	kv_skip_blanks(&lx);
	if (f.type == DAXKV_FIELD_BYTES) {
		if (!kv_lex_bytes_operand(&lx, &f, out))
			return false;
		p->bytes = out->bytes;
	} else if (!kv_lex_int_operand(&lx, &f, p)) {
		return false;
	}
	return kv_lex_end(&lx, "the operand");
}

bool kv_field_parse(const char *spec, struct kv_field *out, char *err,
		    size_t errlen)
{
	struct kv_lex lx = { .text = spec, .err = err, .errlen = errlen };
	char name[16];

	if (err && errlen)
		err[0] = '\0';
	kv_skip_blanks(&lx);
	if (!spec[lx.pos])
		return kv_lex_fail(&lx, lx.pos, "empty field: expected "
				   "TYPE@OFFSET, e.g. 'u64@8'");
	if (!kv_lex_field(&lx, out))
		return false;
	if (out->type == DAXKV_FIELD_BYTES)
		return kv_lex_fail(&lx, 0, "an aggregate needs an integer "
				   "field (u8..u64, i8..i64), not %s",
				   kv_type_name(out, name, sizeof(name)));
	return kv_lex_end(&lx, "the field");
}

void kv_field_format(const struct kv_field *f, char *buf, size_t len)
{
	char name[16];

	snprintf(buf, len, "%s@%u", kv_type_name(f, name, sizeof(name)),
		 f->offset);
}

void kv_where_format(const struct kv_where *w, char *buf, size_t len)
{
	static const char *const ops[] = { "?", "==", "!=", "<", "<=",
					   ">", ">=" };
	const struct daxkv_pred *p = &w->pred;
	struct kv_field f = { p->type, p->offset, p->width };
	char field[32];
	int n;

	kv_field_format(&f, field, sizeof(field));
	n = snprintf(buf, len, "%s %s ", field,
		     p->op < sizeof(ops) / sizeof(ops[0]) ? ops[p->op] : "?");
	if (n < 0 || (size_t)n >= len)
		return;
	if (p->type == DAXKV_FIELD_UINT) {
		snprintf(buf + n, len - (size_t)n, "%llu",
			 (unsigned long long)p->uval);
	} else if (p->type == DAXKV_FIELD_INT) {
		snprintf(buf + n, len - (size_t)n, "%lld",
			 (long long)p->ival);
	} else {
		size_t at = (size_t)n;

		snprintf(buf + at, len - at, "0x");
		at += 2;
		for (uint32_t i = 0; i < p->width && at + 3 <= len; i++, at += 2)
			snprintf(buf + at, len - at, "%02x", w->bytes[i]);
	}
}
