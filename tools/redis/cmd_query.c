// SPDX-License-Identifier: MIT
/*
 * cmd_query.c -- DKV.QUERY (within one {tag}) and DKV.NODEQUERY (this
 * node's whole database): the engine's pushed-down COUNT, SUM, MIN, MAX
 * or ROWS, run by a worker thread while the client waits blocked.
 *
 *   DKV.QUERY tag [COUNT | SUM F | MIN F | MAX F | ROWS] [WHERE EXPR]...
 *             [FROM s] [TO e] [LIMIT n] [BACKEND auto|cpu|kmod|cuda]
 *   DKV.NODEQUERY [same] [PREFIX p]
 *
 * EXPR and F are kvctl query's (tools/kvctl/where.c parses them):
 * "u32@0 > 100", "u64@8".  Offsets are into the value as DKV.SET got it;
 * the module adds its 24-byte header's size, and one more predicate,
 * u64@16 > now, which leaves logically expired records out (so at most
 * 7 WHERE).  For DKV.QUERY, FROM and TO are suffixes after "{tag}"; for
 * DKV.NODEQUERY whole keys.  ROWS come in key order, at most LIMIT
 * (default 1000, at most 100000), as a flat array key value ...; an
 * aggregate comes as a two-element array: the count, and the value as a
 * decimal string (nil for COUNT, and for MIN/MAX of nothing).
 *
 * A query reads at its own daxkv snapshot, so it needs nothing from the
 * main thread once it is queued; the workers never write.  Inside MULTI,
 * a script, or where blocking is denied, it runs in the calling thread.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkr.h"
#include "kvctl.h"

struct dkr_qjob {
	struct dkr_qjob *next;
	rm_blocked_client *bc;
	struct daxkv_query q;
	struct kv_where where[DAXKV_QUERY_MAX_PREDS]; /* pred bytes live here */
	struct kv_field field;
	uint8_t lo[DAXKV_MAX_KEY], hi[DAXKV_MAX_KEY], prefix[DAXKV_MAX_KEY];
	/* results */
	int rc;
	char errmsg[512];
	struct daxkv_query_result res;
	uint8_t *rows;  /* klen u32, vlen u32, key, value; ... */
	size_t rows_len, rows_cap;
	uint64_t nrows;
};

/* The worker pool.  The lock protects the queue, stop and inflight. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dkr_qjob *head, *tail;
	pthread_t *threads;
	uint32_t nthreads;
	uint64_t inflight; /* queued or running */
	bool stop;
} dkr_pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

static int dkr_rows_fn(const struct daxkv_row *rows, size_t n, void *arg)
{
	struct dkr_qjob *job = arg;

	for (size_t i = 0; i < n; i++) {
		const struct daxkv_row *r = &rows[i];
		size_t vlen, need;
		uint32_t k32, v32;

		if (r->vlen < DKR_HDR_SIZE)
			continue; /* not a record of ours: never matches */
		vlen = r->vlen - DKR_HDR_SIZE;
		need = 8 + r->klen + vlen;
		if (job->rows_len + need > job->rows_cap) {
			size_t cap = job->rows_cap ? job->rows_cap : 4096;
			uint8_t *grown;

			while (cap < job->rows_len + need)
				cap *= 2;
			grown = realloc(job->rows, cap);
			if (!grown)
				return DAXKV_ENOMEM;
			job->rows = grown;
			job->rows_cap = cap;
		}
		k32 = (uint32_t)r->klen;
		v32 = (uint32_t)vlen;
		memcpy(job->rows + job->rows_len, &k32, 4);
		memcpy(job->rows + job->rows_len + 4, &v32, 4);
		memcpy(job->rows + job->rows_len + 8, r->key, r->klen);
		memcpy(job->rows + job->rows_len + 8 + r->klen,
		       (const uint8_t *)r->val + DKR_HDR_SIZE, vlen);
		job->rows_len += need;
		job->nrows++;
	}
	return 0;
}

static void dkr_query_run(struct dkr_qjob *job)
{
	job->res.version = DAXKV_QUERY_RESULT_VERSION;
	job->rc = daxkv_query(dkr.db, &job->q, &job->res);
	if (job->rc)
		snprintf(job->errmsg, sizeof(job->errmsg), "%s",
			 daxkv_errmsg());
}

static void dkr_job_free(struct dkr_qjob *job)
{
	if (!job)
		return;
	free(job->rows);
	free(job);
}

static int dkr_query_reply(rm_ctx *ctx, struct dkr_qjob *job)
{
	char num[32];

	/* a negative code from daxkv, or the rows callback's ENOMEM */
	if (job->rc)
		return dkr_reply_errorf(ctx, "ERR daxkv: query: %s%s%s",
					daxkv_strerror(job->rc),
					*job->errmsg ? ": " : "", job->errmsg);
	if (job->q.output == DAXKV_QUERY_ROWS) {
		size_t off = 0;

		rm.reply_with_array(ctx, (long)(2 * job->nrows));
		for (uint64_t i = 0; i < job->nrows; i++) {
			uint32_t klen, vlen;

			memcpy(&klen, job->rows + off, 4);
			memcpy(&vlen, job->rows + off + 4, 4);
			rm.reply_with_string_buffer(
				ctx, (const char *)job->rows + off + 8, klen);
			rm.reply_with_string_buffer(
				ctx, (const char *)job->rows + off + 8 + klen,
				vlen);
			off += 8 + (size_t)klen + vlen;
		}
		return RM_OK;
	}
	rm.reply_with_array(ctx, 2);
	rm.reply_with_long_long(ctx, (long long)job->res.count);
	if (job->q.output == DAXKV_QUERY_COUNT ||
	    (job->q.output != DAXKV_QUERY_SUM && job->res.count == 0))
		return rm.reply_with_null(ctx);
	if (job->field.type == DAXKV_FIELD_INT)
		snprintf(num, sizeof(num), "%" PRId64,
			 (int64_t)job->res.value);
	else
		snprintf(num, sizeof(num), "%" PRIu64, job->res.value);
	return rm.reply_with_string_buffer(ctx, num, strlen(num));
}

static void *dkr_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&dkr_pool.lock);
	for (;;) {
		struct dkr_qjob *job;

		while (!dkr_pool.head && !dkr_pool.stop)
			pthread_cond_wait(&dkr_pool.cond, &dkr_pool.lock);
		if (dkr_pool.stop)
			break;
		job = dkr_pool.head;
		dkr_pool.head = job->next;
		if (!dkr_pool.head)
			dkr_pool.tail = NULL;
		pthread_mutex_unlock(&dkr_pool.lock);
		dkr_query_run(job);
		pthread_mutex_lock(&dkr_pool.lock);
		dkr_pool.inflight--;
		pthread_mutex_unlock(&dkr_pool.lock);
		/* the reply callback runs on the main thread */
		rm.unblock_client(job->bc, job);
		pthread_mutex_lock(&dkr_pool.lock);
	}
	pthread_mutex_unlock(&dkr_pool.lock);
	return NULL;
}

int dkr_workers_start(char *err, size_t errlen)
{
	dkr_pool.threads = calloc(dkr.query_workers, sizeof(pthread_t));
	if (!dkr_pool.threads) {
		snprintf(err, errlen, "no memory for %u query workers",
			 dkr.query_workers);
		return -1;
	}
	for (uint32_t i = 0; i < dkr.query_workers; i++) {
		if (pthread_create(&dkr_pool.threads[i], NULL, dkr_worker,
				   NULL) != 0) {
			snprintf(err, errlen, "cannot start query worker %u", i);
			dkr_workers_stop();
			return -1;
		}
		dkr_pool.nthreads++;
	}
	return 0;
}

/* Stop after the running queries (the server is shutting down). */
void dkr_workers_stop(void)
{
	pthread_mutex_lock(&dkr_pool.lock);
	dkr_pool.stop = true;
	pthread_cond_broadcast(&dkr_pool.cond);
	pthread_mutex_unlock(&dkr_pool.lock);
	for (uint32_t i = 0; i < dkr_pool.nthreads; i++)
		pthread_join(dkr_pool.threads[i], NULL);
	dkr_pool.nthreads = 0;
	free(dkr_pool.threads);
	dkr_pool.threads = NULL;
}

uint64_t dkr_queries_inflight(void)
{
	uint64_t n;

	pthread_mutex_lock(&dkr_pool.lock);
	n = dkr_pool.inflight;
	pthread_mutex_unlock(&dkr_pool.lock);
	return n;
}

static int dkr_blocked_reply(rm_ctx *ctx, rm_string **argv, int argc)
{
	(void)argv;
	(void)argc;
	return dkr_query_reply(ctx, rm.get_blocked_client_private_data(ctx));
}

static void dkr_blocked_free(rm_ctx *ctx, void *privdata)
{
	(void)ctx;
	dkr_job_free(privdata);
}

/* Copy an argument (after @p prefix) into @p buf; false after replying. */
static bool dkr_query_bytes(rm_ctx *ctx, const char *opt,
			    const struct dkr_tag_range *tag, rm_string *arg,
			    uint8_t *buf, size_t *len)
{
	size_t plen = tag ? tag->prefixlen : 0, alen;
	const char *p = rm.string_ptr_len(arg, &alen);

	if (plen + alen > DAXKV_MAX_KEY) {
		dkr_reply_errorf(ctx, "ERR daxkv: %s of %zu bytes: keys are at "
				 "most %u", opt, plen + alen, DAXKV_MAX_KEY);
		return false;
	}
	if (plen)
		memcpy(buf, tag->prefix, plen);
	if (alen)
		memcpy(buf + plen, p, alen);
	*len = plen + alen;
	return true;
}

/* A field's offset moved past the header; false after replying. */
static bool dkr_shift_offset(rm_ctx *ctx, uint32_t *offset, uint32_t width)
{
	if ((uint64_t)*offset + width + DKR_HDR_SIZE >
	    DAXKV_QUERY_FIELD_LIMIT) {
		dkr_reply_errorf(ctx, "ERR daxkv: field at offset %u: values "
				 "are read up to offset %u (the module's %u-byte "
				 "header comes first)", *offset,
				 DAXKV_QUERY_FIELD_LIMIT - DKR_HDR_SIZE,
				 DKR_HDR_SIZE);
		return false;
	}
	*offset += DKR_HDR_SIZE;
	return true;
}

static bool dkr_set_output(rm_ctx *ctx, struct dkr_qjob *job, uint32_t out,
			   rm_string *spec)
{
	char err[KV_WHERE_ERR_MAX], text[256];
	const char *p;
	size_t len;

	if (job->q.output) {
		rm.reply_with_error(ctx, "ERR daxkv: one of COUNT, SUM, MIN, "
				    "MAX, ROWS per query");
		return false;
	}
	job->q.output = out;
	if (!spec)
		return true;
	p = rm.string_ptr_len(spec, &len);
	snprintf(text, sizeof(text), "%.*s", (int)(len < 255 ? len : 255), p);
	if (!kv_field_parse(text, &job->field, err, sizeof(err))) {
		dkr_reply_errorf(ctx, "ERR daxkv: field '%s': %s", text, err);
		return false;
	}
	job->q.field_type = job->field.type;
	job->q.field_offset = job->field.offset;
	job->q.field_width = job->field.width;
	return dkr_shift_offset(ctx, &job->q.field_offset, job->field.width);
}

/*
 * Parse the options from argv[i] into @p job; @p tag is the tag's range
 * for DKV.QUERY, NULL for DKV.NODEQUERY.  False after replying.
 */
static bool dkr_query_parse(rm_ctx *ctx, rm_string **argv, int argc, int i,
			    const struct dkr_tag_range *tag,
			    struct dkr_qjob *job)
{
	uint64_t limit = DKR_SCAN_DEFAULT_LIMIT;
	bool limit_given = false;
	struct daxkv_pred *expiry;
	uint32_t nwhere = 0;

	daxkv_query_init(&job->q);
	job->q.output = 0;
	job->q.backend = (uint32_t)dkr.backend;
	job->q.threads = dkr.query_threads;
	for (; i < argc; i++) {
		bool has_arg = i + 1 < argc;

		if (dkr_arg_is(argv[i], "COUNT")) {
			if (!dkr_set_output(ctx, job, DAXKV_QUERY_COUNT, NULL))
				return false;
		} else if (dkr_arg_is(argv[i], "ROWS")) {
			if (!dkr_set_output(ctx, job, DAXKV_QUERY_ROWS, NULL))
				return false;
		} else if (has_arg && (dkr_arg_is(argv[i], "SUM") ||
				       dkr_arg_is(argv[i], "MIN") ||
				       dkr_arg_is(argv[i], "MAX"))) {
			uint32_t out = dkr_arg_is(argv[i], "SUM") ?
					       DAXKV_QUERY_SUM :
				       dkr_arg_is(argv[i], "MIN") ?
					       DAXKV_QUERY_MIN :
					       DAXKV_QUERY_MAX;

			if (!dkr_set_output(ctx, job, out, argv[++i]))
				return false;
		} else if (has_arg && dkr_arg_is(argv[i], "WHERE")) {
			char err[KV_WHERE_ERR_MAX], text[512];
			size_t len;
			const char *p = rm.string_ptr_len(argv[++i], &len);

			if (nwhere == DAXKV_QUERY_MAX_PREDS - 1) {
				dkr_reply_errorf(ctx, "ERR daxkv: at most %u "
						 "WHERE (one more filters "
						 "expired keys)",
						 DAXKV_QUERY_MAX_PREDS - 1);
				return false;
			}
			snprintf(text, sizeof(text), "%.*s",
				 (int)(len < 511 ? len : 511), p);
			if (!kv_where_parse(text, &job->where[nwhere], err,
					    sizeof(err))) {
				dkr_reply_errorf(ctx, "ERR daxkv: WHERE '%s': "
						 "%s", text, err);
				return false;
			}
			if (!dkr_shift_offset(ctx,
					      &job->where[nwhere].pred.offset,
					      job->where[nwhere].pred.width))
				return false;
			nwhere++;
		} else if (has_arg && dkr_arg_is(argv[i], "FROM")) {
			if (!dkr_query_bytes(ctx, "FROM", tag, argv[++i],
					     job->lo, &job->q.lolen))
				return false;
			job->q.lo = job->lo;
		} else if (has_arg && dkr_arg_is(argv[i], "TO")) {
			if (!dkr_query_bytes(ctx, "TO", tag, argv[++i],
					     job->hi, &job->q.hilen))
				return false;
			job->q.hi = job->hi;
		} else if (has_arg && !tag && dkr_arg_is(argv[i], "PREFIX")) {
			if (!dkr_query_bytes(ctx, "PREFIX", NULL, argv[++i],
					     job->prefix, &job->q.prefixlen))
				return false;
			job->q.prefix = job->prefix;
		} else if (has_arg && dkr_arg_is(argv[i], "LIMIT")) {
			if (!dkr_limit_parse(ctx, argv[++i], &limit))
				return false;
			limit_given = true;
		} else if (has_arg && dkr_arg_is(argv[i], "BACKEND")) {
			int b = -1;

			i++;
			for (int k = DAXKV_BACKEND_AUTO;
			     k <= DAXKV_BACKEND_CUDA; k++)
				if (dkr_arg_is(argv[i], daxkv_backend_name(k)))
					b = k;
			if (b < 0) {
				rm.reply_with_error(ctx, "ERR daxkv: BACKEND is "
						    "auto, cpu, kmod or cuda");
				return false;
			}
			job->q.backend = (uint32_t)b;
		} else {
			size_t len;
			const char *p = rm.string_ptr_len(argv[i], &len);

			dkr_reply_errorf(ctx, "ERR daxkv: unknown or incomplete "
					 "option '%.*s' (COUNT, SUM F, MIN F, "
					 "MAX F, ROWS, WHERE EXPR, FROM s, TO "
					 "e,%s LIMIT n, BACKEND b)",
					 (int)(len < 40 ? len : 40), p,
					 tag ? "" : " PREFIX p,");
			return false;
		}
	}
	if (!job->q.output)
		job->q.output = DAXKV_QUERY_COUNT;
	if (limit_given && job->q.output != DAXKV_QUERY_ROWS) {
		rm.reply_with_error(ctx, "ERR daxkv: LIMIT goes with ROWS");
		return false;
	}
	if (tag) {
		memcpy(job->prefix, tag->prefix, tag->prefixlen);
		job->q.prefix = job->prefix;
		job->q.prefixlen = tag->prefixlen;
	}
	for (uint32_t k = 0; k < nwhere; k++)
		job->q.preds[k] = job->where[k].pred;
	expiry = &job->q.preds[nwhere];
	expiry->type = DAXKV_FIELD_UINT;
	expiry->op = DAXKV_OP_GT;
	expiry->offset = DKR_OFF_EXPIRE;
	expiry->width = 8;
	expiry->uval = (uint64_t)rm.milliseconds();
	job->q.npreds = nwhere + 1;
	if (job->q.output == DAXKV_QUERY_ROWS) {
		job->q.flags |= DAXKV_QUERY_ORDERED;
		job->q.limit = limit;
		job->q.rows = dkr_rows_fn;
		job->q.arg = job;
	}
	return true;
}

static int dkr_query_start(rm_ctx *ctx, struct dkr_qjob *job)
{
	int flags = rm.get_context_flags(ctx);

	dkr_apply_queue(ctx);
	if (flags & (RM_CTX_FLAGS_MULTI | RM_CTX_FLAGS_LUA |
		     RM_CTX_FLAGS_DENY_BLOCKING)) {
		dkr_query_run(job);
		dkr_query_reply(ctx, job);
		dkr_job_free(job);
		return RM_OK;
	}
	job->bc = rm.block_client(ctx, dkr_blocked_reply, NULL,
				  dkr_blocked_free, 0);
	pthread_mutex_lock(&dkr_pool.lock);
	if (dkr_pool.tail)
		dkr_pool.tail->next = job;
	else
		dkr_pool.head = job;
	dkr_pool.tail = job;
	dkr_pool.inflight++;
	pthread_cond_signal(&dkr_pool.cond);
	pthread_mutex_unlock(&dkr_pool.lock);
	return RM_OK;
}

int dkr_cmd_query(rm_ctx *ctx, rm_string **argv, int argc)
{
	struct dkr_tag_range tag;
	struct dkr_qjob *job;

	if (argc < 2)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx) || !dkr_tag_parse(ctx, argv[1], &tag))
		return RM_OK;
	job = calloc(1, sizeof(*job));
	if (!job)
		return dkr_reply_daxkv_error(ctx, "DKV.QUERY", DAXKV_ENOMEM);
	if (!dkr_query_parse(ctx, argv, argc, 2, &tag, job)) {
		dkr_job_free(job);
		return RM_OK;
	}
	return dkr_query_start(ctx, job);
}

int dkr_cmd_nodequery(rm_ctx *ctx, rm_string **argv, int argc)
{
	struct dkr_qjob *job;

	if (!dkr_command_ok(ctx))
		return RM_OK;
	job = calloc(1, sizeof(*job));
	if (!job)
		return dkr_reply_daxkv_error(ctx, "DKV.NODEQUERY",
					     DAXKV_ENOMEM);
	if (!dkr_query_parse(ctx, argv, argc, 1, NULL, job)) {
		dkr_job_free(job);
		return RM_OK;
	}
	return dkr_query_start(ctx, job);
}
