// SPDX-License-Identifier: MIT
/*
 * cluster.c -- kvctl cluster query|scan: the client-side fan-out over a
 * Redis Cluster whose nodes run daxkv_redis (docs/redis.md).
 *
 * The seed node's CLUSTER SLOTS names the masters (each slot range's
 * first entry); every master gets the same DKV.NODEQUERY or DKV.NODESCAN
 * over its own daxkv database, and the answers are merged here: counts
 * and sums add up (modulo 2^64), minimum and maximum of the nodes that
 * matched anything, rows and scans by a k-way merge in key order.  Rows
 * come from each node in pages (the next page starts after the last key
 * seen), so memory here is one page per master.  A node that is not in
 * cluster mode is taken as the whole cluster.
 *
 * This is not a point-in-time read of the cluster: each master answers
 * at its own snapshot.  While a slot migrates, a key can be on both
 * nodes for a moment; the merge prints it once.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvctl.h"
#include "resp.h"

#define KV_CL_PAGE 1000u
#define KV_CL_MAX_NODES 1024

static const char kv_cluster_help[] =
	"usage: kvctl cluster query HOST:PORT [kvctl query's options]\n"
	"       kvctl cluster scan HOST:PORT [--from K] [--to K] [--prefix P]\n"
	"                                    [--limit N] [--hex|--base64] "
	"[--json]\n"
	"Ask every master of the Redis Cluster that HOST:PORT belongs to "
	"(its\n"
	"nodes run daxkv_redis) and merge the answers: query's --count, --sum,"
	"\n--min, --max or --rows (in key order), or scan's keys and values in "
	"key\norder.  Options: --timeout MS per node reply (default 10000).  "
	"Exit 1\nwhen a node fails (its HOST:PORT and error on standard "
	"error).\n";

static const char kv_cluster_query_help[] =
	"usage: kvctl cluster query HOST:PORT [--where EXPR]...\n"
	"            [--count | --sum F | --min F | --max F | --rows]\n"
	"            [--from K] [--to K] [--prefix P] [--limit N]\n"
	"            [--backend auto|cpu|kmod|cuda] [--timeout MS]\n"
	"            [--hex|--base64] [--json]\n"
	"kvctl query's filter (see 'kvctl query --help'; at most 7 --where) "
	"run by\nevery master of the cluster over its own keys "
	"(DKV.NODEQUERY), merged:\ncounts and sums add up, min/max over the "
	"nodes, rows in key order (at\nmost N with --limit).  --backend is "
	"the nodes' query backend.  Each\nnode answers at its own snapshot.\n";

static const char kv_cluster_scan_help[] =
	"usage: kvctl cluster scan HOST:PORT [--from K] [--to K] [--prefix P]\n"
	"            [--limit N] [--timeout MS] [--hex|--base64] [--json]\n"
	"Every key and value of the cluster from K (inclusive) to K "
	"(exclusive)\nthat starts with P, in key order, at most N: each "
	"master's DKV.NODESCAN,\nmerged.  Lines are KEY<TAB>VALUE, as kvctl "
	"scan prints them.\n";

enum { KV_CL_WHERE = 256, KV_CL_COUNT, KV_CL_SUM, KV_CL_MIN, KV_CL_MAX,
       KV_CL_ROWS, KV_CL_FROM, KV_CL_TO, KV_CL_PREFIX, KV_CL_LIMIT,
       KV_CL_BACKEND, KV_CL_TIMEOUT };

static const struct option kv_cluster_longopts[] = {
	{ "where", required_argument, NULL, KV_CL_WHERE },
	{ "count", no_argument, NULL, KV_CL_COUNT },
	{ "sum", required_argument, NULL, KV_CL_SUM },
	{ "min", required_argument, NULL, KV_CL_MIN },
	{ "max", required_argument, NULL, KV_CL_MAX },
	{ "rows", no_argument, NULL, KV_CL_ROWS },
	{ "from", required_argument, NULL, KV_CL_FROM },
	{ "to", required_argument, NULL, KV_CL_TO },
	{ "prefix", required_argument, NULL, KV_CL_PREFIX },
	{ "limit", required_argument, NULL, KV_CL_LIMIT },
	{ "backend", required_argument, NULL, KV_CL_BACKEND },
	{ "timeout", required_argument, NULL, KV_CL_TIMEOUT },
	{ "hex", no_argument, NULL, 'x' },
	{ "base64", no_argument, NULL, 'b' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct kv_cl_opts {
	bool scan;
	struct kv_where where[DAXKV_QUERY_MAX_PREDS];
	uint32_t nwhere;
	uint32_t output;        /* DAXKV_QUERY_*; 0 until given */
	const char *output_opt;
	struct kv_field field;
	const char *from, *to, *prefix, *backend;
	uint64_t limit;         /* 0: all */
	bool limit_given, json;
	int timeout_ms;
	enum kv_encoding enc;
};

/* One master: its connection and the page of rows being merged. */
struct kv_cl_node {
	char host[256], port[16];
	struct kv_conn *conn;
	uint64_t count;         /* aggregates: this node's count */
	struct kv_reply page;   /* rows: key, value, key, value, ... */
	size_t pos;             /* next key's index in page.elems */
	bool done;              /* no page after this one */
	struct kv_buf next_from; /* where the next page starts */
};

struct kv_cl {
	struct kv_cl_opts *o;
	struct kv_cl_node *nodes;
	size_t nnodes;
	struct kv_buf lo, hi, prefix; /* decoded bounds (len 0: none) */
	bool empty;             /* the range holds no key */
};

static int kv_cl_set_output(const char *cmd, struct kv_cl_opts *o,
			    uint32_t output, const char *opt, const char *spec)
{
	char err[KV_WHERE_ERR_MAX];

	if (o->scan)
		return kv_usage_error(cmd, "%s is for 'cluster query'", opt);
	if (o->output)
		return kv_usage_error(cmd, "%s and %s: one output per query",
				      o->output_opt, opt);
	o->output = output;
	o->output_opt = opt;
	if (spec && !kv_field_parse(spec, &o->field, err, sizeof(err)))
		return kv_usage_error(cmd, "%s '%s': %s", opt, spec, err);
	return -1;
}

static int kv_cl_parse(int argc, char **argv, struct kv_cl_opts *o)
{
	const char *cmd = o->scan ? "cluster scan" : "cluster query";
	char err[KV_WHERE_ERR_MAX];
	uint64_t num;
	int opt, rc;

	o->timeout_ms = 10000;
	while ((opt = getopt_long(argc, argv, "xbjh", kv_cluster_longopts,
				  NULL)) != -1) {
		rc = -1;
		switch (opt) {
		case 'x':
			o->enc = KV_ENC_HEX;
			break;
		case 'b':
			o->enc = KV_ENC_BASE64;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			return kv_help(o->scan ? kv_cluster_scan_help :
						 kv_cluster_query_help);
		case KV_CL_WHERE:
			if (o->scan)
				return kv_usage_error(cmd, "--where is for "
						      "'cluster query'");
			if (o->nwhere == DAXKV_QUERY_MAX_PREDS - 1)
				return kv_usage_error(cmd, "at most %u --where "
						      "(the nodes add one for "
						      "expiry)",
						      DAXKV_QUERY_MAX_PREDS - 1);
			if (!kv_where_parse(optarg, &o->where[o->nwhere], err,
					    sizeof(err)))
				return kv_usage_error(cmd, "--where '%s': %s",
						      optarg, err);
			o->nwhere++;
			break;
		case KV_CL_COUNT:
			rc = kv_cl_set_output(cmd, o, DAXKV_QUERY_COUNT,
					      "--count", NULL);
			break;
		case KV_CL_SUM:
			rc = kv_cl_set_output(cmd, o, DAXKV_QUERY_SUM, "--sum",
					      optarg);
			break;
		case KV_CL_MIN:
			rc = kv_cl_set_output(cmd, o, DAXKV_QUERY_MIN, "--min",
					      optarg);
			break;
		case KV_CL_MAX:
			rc = kv_cl_set_output(cmd, o, DAXKV_QUERY_MAX, "--max",
					      optarg);
			break;
		case KV_CL_ROWS:
			rc = kv_cl_set_output(cmd, o, DAXKV_QUERY_ROWS,
					      "--rows", NULL);
			break;
		case KV_CL_FROM:
			o->from = optarg;
			break;
		case KV_CL_TO:
			o->to = optarg;
			break;
		case KV_CL_PREFIX:
			o->prefix = optarg;
			break;
		case KV_CL_LIMIT:
			if (!kv_parse_u64(optarg, &o->limit))
				return kv_usage_error(cmd, "--limit '%s' is not "
						      "a number", optarg);
			o->limit_given = true;
			break;
		case KV_CL_BACKEND:
			if (o->scan)
				return kv_usage_error(cmd, "--backend is for "
						      "'cluster query'");
			if (strcmp(optarg, "auto") && strcmp(optarg, "cpu") &&
			    strcmp(optarg, "kmod") && strcmp(optarg, "cuda"))
				return kv_usage_error(cmd, "--backend '%s' is "
						      "not auto, cpu, kmod or "
						      "cuda", optarg);
			o->backend = optarg;
			break;
		case KV_CL_TIMEOUT:
			if (!kv_parse_u64(optarg, &num) || num == 0 ||
			    num > 3600000)
				return kv_usage_error(cmd, "--timeout '%s': "
						      "milliseconds, 1 to "
						      "3600000", optarg);
			o->timeout_ms = (int)num;
			break;
		default:
			return kv_usage_error(cmd, "bad option");
		}
		if (rc >= 0)
			return rc;
	}
	if (!o->scan && !o->output) {
		o->output = DAXKV_QUERY_COUNT;
		o->output_opt = "--count";
	}
	if (!o->scan && o->output != DAXKV_QUERY_ROWS && o->limit_given)
		return kv_usage_error(cmd, "--limit goes with --rows, not %s",
				      o->output_opt);
	return -1;
}

/* ---- nodes ---- */

static bool kv_cl_split(const char *hostport, char *host, size_t hostcap,
			char *port, size_t portcap)
{
	const char *colon = strrchr(hostport, ':');

	if (!colon || colon == hostport || !colon[1] ||
	    (size_t)(colon - hostport) >= hostcap ||
	    strlen(colon + 1) >= portcap)
		return false;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	strcpy(port, colon + 1);
	return true;
}

static int kv_cl_add_node(struct kv_cl *cl, const char *host, size_t hostlen,
			  long long port)
{
	struct kv_cl_node *n;
	char portbuf[16];

	if (hostlen >= sizeof(n->host) || port <= 0 || port > 65535)
		return -1;
	snprintf(portbuf, sizeof(portbuf), "%lld", port);
	for (size_t i = 0; i < cl->nnodes; i++)
		if (strlen(cl->nodes[i].host) == hostlen &&
		    memcmp(cl->nodes[i].host, host, hostlen) == 0 &&
		    strcmp(cl->nodes[i].port, portbuf) == 0)
			return 0;
	if (cl->nnodes == KV_CL_MAX_NODES)
		return -1;
	n = &cl->nodes[cl->nnodes++];
	memcpy(n->host, host, hostlen);
	n->host[hostlen] = '\0';
	strcpy(n->port, portbuf);
	return 0;
}

/* The masters, from the seed's CLUSTER SLOTS. */
static int kv_cl_masters(struct kv_cl *cl, const char *seed_host,
			 const char *seed_port)
{
	static const char *const slots[] = { "CLUSTER", "SLOTS" };
	struct kv_conn *c;
	struct kv_reply r;
	char err[600];
	int rc = KV_EXIT_PROBLEMS;

	cl->nodes = calloc(KV_CL_MAX_NODES, sizeof(*cl->nodes));
	if (!cl->nodes) {
		fprintf(stderr, "%s cluster: out of memory\n", kv_prog);
		return KV_EXIT_PROBLEMS;
	}
	if (kv_conn_open(seed_host, seed_port, cl->o->timeout_ms, &c, err,
			 sizeof(err))) {
		fprintf(stderr, "%s cluster: %s\n", kv_prog, err);
		return KV_EXIT_PROBLEMS;
	}
	if (kv_conn_command(c, 2, slots, NULL, &r)) {
		fprintf(stderr, "%s cluster: %s\n", kv_prog, kv_conn_error(c));
		goto out_close;
	}
	if (r.type == KV_REPLY_ERROR && strstr(r.str, "cluster support")) {
		/* not a cluster: the seed is the whole of it */
		kv_cl_add_node(cl, seed_host, strlen(seed_host),
			       atoll(seed_port));
		rc = 0;
		goto out_free;
	}
	if (r.type != KV_REPLY_ARRAY) {
		fprintf(stderr, "%s cluster: %s: CLUSTER SLOTS: %s\n", kv_prog,
			kv_conn_name(c), r.str ? r.str : "unexpected reply");
		goto out_free;
	}
	for (size_t i = 0; i < r.n; i++) {
		const struct kv_reply *range = &r.elems[i], *master;
		const char *host;
		size_t hostlen;

		if (range->type != KV_REPLY_ARRAY || range->n < 3 ||
		    range->elems[2].type != KV_REPLY_ARRAY ||
		    range->elems[2].n < 2 ||
		    range->elems[2].elems[0].type != KV_REPLY_STRING ||
		    range->elems[2].elems[1].type != KV_REPLY_INTEGER)
			goto out_bad;
		master = &range->elems[2];
		host = master->elems[0].str;
		hostlen = master->elems[0].len;
		if (hostlen == 0) { /* a node that does not know its address */
			host = seed_host;
			hostlen = strlen(seed_host);
		}
		if (kv_cl_add_node(cl, host, hostlen,
				   master->elems[1].integer))
			goto out_bad;
	}
	if (!cl->nnodes) {
		fprintf(stderr, "%s cluster: %s: no slot is served (is the "
			"cluster created?)\n", kv_prog, kv_conn_name(c));
		goto out_free;
	}
	rc = 0;
	goto out_free;
out_bad:
	fprintf(stderr, "%s cluster: %s: CLUSTER SLOTS: a range without a "
		"usable master address (or more than %d masters)\n", kv_prog,
		kv_conn_name(c), KV_CL_MAX_NODES);
out_free:
	kv_reply_free(&r);
out_close:
	kv_conn_close(c);
	return rc;
}

static int kv_cl_connect(struct kv_cl *cl)
{
	char err[600];

	for (size_t i = 0; i < cl->nnodes; i++) {
		if (kv_conn_open(cl->nodes[i].host, cl->nodes[i].port,
				 cl->o->timeout_ms, &cl->nodes[i].conn, err,
				 sizeof(err))) {
			fprintf(stderr, "%s cluster: %s\n", kv_prog, err);
			return KV_EXIT_PROBLEMS;
		}
	}
	return 0;
}

/* An error reply or a broken connection of @p n, said once. */
static int kv_cl_node_fail(const struct kv_cl_node *n, const char *what,
			   const struct kv_reply *r)
{
	if (r && r->type == KV_REPLY_ERROR)
		fprintf(stderr, "%s cluster: %s:%s: %s: %s\n", kv_prog, n->host,
			n->port, what, r->str);
	else if (r)
		fprintf(stderr, "%s cluster: %s:%s: %s: unexpected reply\n",
			kv_prog, n->host, n->port, what);
	else
		fprintf(stderr, "%s cluster: %s: %s\n", kv_prog, what,
			kv_conn_error(n->conn));
	return KV_EXIT_PROBLEMS;
}

/* ---- the command a node gets ---- */

struct kv_cl_args {
	const char *argv[64];
	size_t lens[64];
	char texts[16][300]; /* formatted arguments */
	int argc, ntexts;
};

static void kv_cl_arg(struct kv_cl_args *a, const void *p, size_t len)
{
	a->argv[a->argc] = p;
	a->lens[a->argc++] = len;
}

static void kv_cl_word(struct kv_cl_args *a, const char *word)
{
	kv_cl_arg(a, word, strlen(word));
}

static void kv_cl_text(struct kv_cl_args *a, const char *text)
{
	char *t = a->texts[a->ntexts++];

	snprintf(t, sizeof(a->texts[0]), "%s", text);
	kv_cl_word(a, t);
}

/*
 * The node command for a page starting at @p from (NULL: the range's
 * start), at most @p page rows; aggregates have no page (page 0).
 */
static void kv_cl_build(const struct kv_cl *cl, const struct kv_buf *from,
			uint64_t page, struct kv_cl_args *a)
{
	const struct kv_cl_opts *o = cl->o;
	char text[300];

	memset(a, 0, sizeof(*a));
	if (o->scan) {
		kv_cl_word(a, "DKV.NODESCAN");
		if (from)
			kv_cl_arg(a, from->data, from->len);
		else
			kv_cl_arg(a, cl->lo.data ? (char *)cl->lo.data : "",
				  cl->lo.len);
		kv_cl_arg(a, cl->hi.data ? (char *)cl->hi.data : "",
			  cl->hi.len);
		kv_cl_word(a, "LIMIT");
		snprintf(text, sizeof(text), "%" PRIu64, page);
		kv_cl_text(a, text);
		return;
	}
	kv_cl_word(a, "DKV.NODEQUERY");
	switch (o->output) {
	case DAXKV_QUERY_SUM:
	case DAXKV_QUERY_MIN:
	case DAXKV_QUERY_MAX:
		kv_cl_word(a, o->output == DAXKV_QUERY_SUM ? "SUM" :
			   o->output == DAXKV_QUERY_MIN ? "MIN" : "MAX");
		kv_field_format(&o->field, text, sizeof(text));
		kv_cl_text(a, text);
		break;
	case DAXKV_QUERY_ROWS:
		kv_cl_word(a, "ROWS");
		kv_cl_word(a, "LIMIT");
		snprintf(text, sizeof(text), "%" PRIu64, page);
		kv_cl_text(a, text);
		break;
	default:
		kv_cl_word(a, "COUNT");
		break;
	}
	for (uint32_t i = 0; i < o->nwhere; i++) {
		kv_where_format(&o->where[i], text, sizeof(text));
		kv_cl_word(a, "WHERE");
		kv_cl_text(a, text);
	}
	if (from) {
		kv_cl_word(a, "FROM");
		kv_cl_arg(a, from->data, from->len);
	} else if (cl->lo.len) {
		kv_cl_word(a, "FROM");
		kv_cl_arg(a, cl->lo.data, cl->lo.len);
	}
	if (cl->hi.len) {
		kv_cl_word(a, "TO");
		kv_cl_arg(a, cl->hi.data, cl->hi.len);
	}
	if (cl->prefix.len) {
		kv_cl_word(a, "PREFIX");
		kv_cl_arg(a, cl->prefix.data, cl->prefix.len);
	}
	if (o->backend) {
		kv_cl_word(a, "BACKEND");
		kv_cl_word(a, o->backend);
	}
}

/* ---- aggregates ---- */

static int kv_cl_aggregate(struct kv_cl *cl)
{
	const struct kv_cl_opts *o = cl->o;
	bool is_int = o->field.type == DAXKV_FIELD_INT, have = false;
	uint64_t count = 0, value = 0;
	struct kv_cl_args a;
	int rc = 0;

	kv_cl_build(cl, NULL, 0, &a);
	/* every node works at once; the replies are read in order */
	for (size_t i = 0; i < cl->nnodes; i++)
		if (kv_conn_send(cl->nodes[i].conn, a.argc, a.argv, a.lens))
			return kv_cl_node_fail(&cl->nodes[i], "DKV.NODEQUERY",
					       NULL);
	for (size_t i = 0; i < cl->nnodes; i++) {
		struct kv_cl_node *n = &cl->nodes[i];
		struct kv_reply r;
		uint64_t v = 0;

		if (kv_conn_read(n->conn, &r))
			return kv_cl_node_fail(n, "DKV.NODEQUERY", NULL);
		if (r.type != KV_REPLY_ARRAY || r.n != 2 ||
		    r.elems[0].type != KV_REPLY_INTEGER ||
		    (r.elems[1].type != KV_REPLY_NIL &&
		     r.elems[1].type != KV_REPLY_STRING)) {
			rc = kv_cl_node_fail(n, "DKV.NODEQUERY", &r);
			kv_reply_free(&r);
			return rc;
		}
		n->count = (uint64_t)r.elems[0].integer;
		count += n->count;
		if (r.elems[1].type == KV_REPLY_STRING)
			v = is_int ? (uint64_t)strtoll(r.elems[1].str, NULL, 10) :
				     strtoull(r.elems[1].str, NULL, 10);
		if (o->output == DAXKV_QUERY_SUM) {
			value += v; /* modulo 2^64, signed or not */
		} else if (r.elems[1].type == KV_REPLY_STRING &&
			   o->output != DAXKV_QUERY_COUNT) {
			bool better;

			if (is_int)
				better = o->output == DAXKV_QUERY_MIN ?
						 (int64_t)v < (int64_t)value :
						 (int64_t)v > (int64_t)value;
			else
				better = o->output == DAXKV_QUERY_MIN ?
						 v < value : v > value;
			if (!have || better)
				value = v;
			have = true;
		}
		kv_reply_free(&r);
	}
	if (o->json) {
		json_object *obj = json_object_new_object();
		json_object *nodes = json_object_new_array();
		json_object *where = json_object_new_array();
		char text[300];

		json_object_object_add(obj, "output", json_object_new_string(
				o->output_opt + 2));
		for (uint32_t i = 0; i < o->nwhere; i++) {
			kv_where_format(&o->where[i], text, sizeof(text));
			json_object_array_add(where,
					      json_object_new_string(text));
		}
		json_object_object_add(obj, "where", where);
		json_object_object_add(obj, "count",
				       json_object_new_uint64(count));
		if (o->output != DAXKV_QUERY_COUNT) {
			kv_field_format(&o->field, text, sizeof(text));
			json_object_object_add(obj, "field",
					       json_object_new_string(text));
			json_object_object_add(
				obj, "value",
				o->output != DAXKV_QUERY_SUM && !have ? NULL :
				is_int ? json_object_new_int64((int64_t)value) :
					 json_object_new_uint64(value));
		}
		for (size_t i = 0; i < cl->nnodes; i++) {
			json_object *n = json_object_new_object();

			snprintf(text, sizeof(text), "%s:%s",
				 cl->nodes[i].host, cl->nodes[i].port);
			json_object_object_add(n, "node",
					       json_object_new_string(text));
			json_object_object_add(
				n, "count",
				json_object_new_uint64(cl->nodes[i].count));
			json_object_array_add(nodes, n);
		}
		json_object_object_add(obj, "nodes", nodes);
		kv_json_print(obj);
		json_object_put(obj);
	} else if (o->output == DAXKV_QUERY_COUNT) {
		printf("%" PRIu64 "\n", count);
	} else if (o->output != DAXKV_QUERY_SUM && !have) {
		fprintf(stderr, "%s cluster query: no record matched: no %s\n",
			kv_prog, o->output == DAXKV_QUERY_MIN ? "minimum" :
								"maximum");
	} else if (is_int) {
		printf("%" PRId64 "\n", (int64_t)value);
	} else {
		printf("%" PRIu64 "\n", value);
	}
	return rc;
}

/* ---- rows and scans: the merge ---- */

/*
 * The smallest key after @p key (keys are at most DAXKV_MAX_KEY bytes):
 * key + "\0" when it can grow, else the key with trailing 0xff bytes
 * dropped and its last byte raised.  False when there is none.
 */
static bool kv_cl_key_after(const struct kv_reply *key, struct kv_buf *out)
{
	size_t len = key->len;

	free(out->data);
	out->data = NULL;
	if (len < DAXKV_MAX_KEY) {
		out->data = malloc(len + 1);
		if (!out->data)
			return false;
		memcpy(out->data, key->str, len);
		out->data[len] = 0;
		out->len = len + 1;
		return true;
	}
	while (len && (uint8_t)key->str[len - 1] == 0xff)
		len--;
	if (!len)
		return false;
	out->data = malloc(len);
	if (!out->data)
		return false;
	memcpy(out->data, key->str, len);
	out->data[len - 1]++;
	out->len = len;
	return true;
}

/* The next page of @p n (send and read), unless it is done. */
static int kv_cl_fetch(struct kv_cl *cl, struct kv_cl_node *n, uint64_t page)
{
	struct kv_cl_args a;
	const char *what = cl->o->scan ? "DKV.NODESCAN" : "DKV.NODEQUERY";
	int rc;

	kv_reply_free(&n->page);
	n->pos = 0;
	if (n->done)
		return 0;
	kv_cl_build(cl, n->next_from.data ? &n->next_from : NULL, page, &a);
	if (kv_conn_command(n->conn, a.argc, a.argv, a.lens, &n->page))
		return kv_cl_node_fail(n, what, NULL);
	if (n->page.type != KV_REPLY_ARRAY || n->page.n % 2) {
		rc = kv_cl_node_fail(n, what, &n->page);
		kv_reply_free(&n->page);
		return rc;
	}
	for (size_t i = 0; i < n->page.n; i++)
		if (n->page.elems[i].type != KV_REPLY_STRING)
			return kv_cl_node_fail(n, what, &n->page);
	if (n->page.n / 2 < page)
		n->done = true;
	else if (!kv_cl_key_after(&n->page.elems[n->page.n - 2],
				  &n->next_from))
		n->done = true;
	return 0;
}

static int kv_cl_reply_keycmp(const struct kv_reply *a,
			      const struct kv_reply *b)
{
	int c = memcmp(a->str, b->str, a->len < b->len ? a->len : b->len);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int kv_cl_merge(struct kv_cl *cl)
{
	const struct kv_cl_opts *o = cl->o;
	uint64_t page = KV_CL_PAGE, emitted = 0;
	json_object *records = o->json ? json_object_new_array() : NULL;
	struct kv_reply last = { 0 };
	int rc = 0;

	if (o->limit_given && o->limit < page)
		page = o->limit ? o->limit : 1;
	for (size_t i = 0; i < cl->nnodes && !rc; i++)
		rc = kv_cl_fetch(cl, &cl->nodes[i], page);
	while (!rc && (!o->limit_given || emitted < o->limit)) {
		struct kv_cl_node *best = NULL;
		const struct kv_reply *key, *val;

		for (size_t i = 0; i < cl->nnodes; i++) {
			struct kv_cl_node *n = &cl->nodes[i];

			if (n->pos == n->page.n)
				continue;
			if (!best || kv_cl_reply_keycmp(
					     &n->page.elems[n->pos],
					     &best->page.elems[best->pos]) < 0)
				best = n;
		}
		if (!best)
			break;
		key = &best->page.elems[best->pos];
		val = &best->page.elems[best->pos + 1];
		/* a key on two nodes (a slot migrating): print it once */
		if (!last.str || kv_cl_reply_keycmp(key, &last) != 0) {
			if (records) {
				json_object *rec = json_object_new_object();

				kv_json_add_bytes(rec, "key", o->enc, key->str,
						  key->len);
				kv_json_add_bytes(rec, "value", o->enc,
						  val->str, val->len);
				json_object_array_add(records, rec);
			} else {
				kv_print_bytes(o->enc, key->str, key->len);
				putchar('\t');
				kv_print_bytes(o->enc, val->str, val->len);
				putchar('\n');
			}
			emitted++;
			free(last.str);
			last.str = malloc(key->len ? key->len : 1);
			if (!last.str) {
				rc = KV_EXIT_PROBLEMS;
				break;
			}
			memcpy(last.str, key->str, key->len);
			last.len = key->len;
		}
		best->pos += 2;
		if (best->pos == best->page.n)
			rc = kv_cl_fetch(cl, best, page);
		if (ferror(stdout))
			break;
	}
	if (!rc && records) {
		json_object *obj = json_object_new_object();

		if (!o->scan)
			json_object_object_add(obj, "output",
					       json_object_new_string("rows"));
		json_object_object_add(obj, "count",
				       json_object_new_uint64(emitted));
		json_object_object_add(obj, "records",
				       json_object_get(records));
		kv_json_print(obj);
	}
	json_object_put(records);
	free(last.str);
	if (!rc && (fflush(stdout) != 0 || ferror(stdout))) {
		fprintf(stderr, "%s cluster: write error on standard output\n",
			kv_prog);
		rc = KV_EXIT_PROBLEMS;
	}
	return rc;
}

/* ---- the command ---- */

static int kv_cl_run(int argc, char **argv, bool scan)
{
	struct kv_cl_opts *o;
	struct kv_cl cl = { 0 };
	struct kv_buf pend = { 0 };
	const char *cmd = scan ? "cluster scan" : "cluster query";
	char host[256], port[16];
	int rc;

	o = calloc(1, sizeof(*o));
	if (!o)
		return kv_fail("cluster", DAXKV_ENOMEM);
	o->scan = scan;
	cl.o = o;
	rc = kv_cl_parse(argc, argv, o);
	if (rc >= 0)
		goto out_free;
	if (argc - optind != 1) {
		rc = kv_usage_error(cmd, "%s HOST:PORT; usage: kvctl %s "
				    "HOST:PORT [options]", argc - optind < 1 ?
				    "missing" : "one", cmd);
		goto out_free;
	}
	if (!kv_cl_split(argv[optind], host, sizeof(host), port,
			 sizeof(port))) {
		rc = kv_usage_error(cmd, "'%s' is not HOST:PORT", argv[optind]);
		goto out_free;
	}
	if ((o->from && (rc = kv_decode_arg(cmd, o->enc, "--from", o->from,
					    &cl.lo)) >= 0) ||
	    (o->to && (rc = kv_decode_arg(cmd, o->enc, "--to", o->to,
					  &cl.hi)) >= 0) ||
	    (o->prefix && (rc = kv_decode_arg(cmd, o->enc, "--prefix",
					      o->prefix, &cl.prefix)) >= 0))
		goto out_free;
	if (cl.lo.len > DAXKV_MAX_KEY || cl.hi.len > DAXKV_MAX_KEY ||
	    cl.prefix.len > DAXKV_MAX_KEY) {
		rc = kv_usage_error(cmd, "keys are at most %u bytes",
				    DAXKV_MAX_KEY);
		goto out_free;
	}
	if (scan && cl.prefix.len) {
		/* the nodes scan a range: the narrower of it and the prefix's */
		if (!cl.lo.len || kv_keycmp(&cl.lo, &cl.prefix) < 0) {
			free(cl.lo.data);
			cl.lo.data = malloc(cl.prefix.len);
			if (!cl.lo.data) {
				rc = kv_fail("cluster", DAXKV_ENOMEM);
				goto out_free;
			}
			memcpy(cl.lo.data, cl.prefix.data, cl.prefix.len);
			cl.lo.len = cl.prefix.len;
		}
		if (kv_prefix_end(&cl.prefix, &pend) &&
		    (!cl.hi.len || kv_keycmp(&pend, &cl.hi) < 0)) {
			free(cl.hi.data);
			cl.hi = pend;
			pend.data = NULL;
		}
	}
	if (cl.lo.len && cl.hi.len && kv_keycmp(&cl.lo, &cl.hi) >= 0) {
		rc = kv_usage_error(cmd, "--from must sort before --to (the "
				    "range [--from, --to) is empty)");
		goto out_free;
	}
	rc = kv_cl_masters(&cl, host, port);
	if (!rc)
		rc = kv_cl_connect(&cl);
	if (!rc) {
		if (scan || o->output == DAXKV_QUERY_ROWS)
			rc = kv_cl_merge(&cl);
		else
			rc = kv_cl_aggregate(&cl);
	}
out_free:
	for (size_t i = 0; cl.nodes && i < cl.nnodes; i++) {
		kv_conn_close(cl.nodes[i].conn);
		kv_reply_free(&cl.nodes[i].page);
		free(cl.nodes[i].next_from.data);
	}
	free(cl.nodes);
	free(cl.lo.data);
	free(cl.hi.data);
	free(cl.prefix.data);
	free(pend.data);
	free(o);
	return rc;
}

int kv_cmd_cluster(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		if (argc < 2)
			return kv_usage_error("cluster", "query or scan?");
		return kv_help(kv_cluster_help);
	}
	if (strcmp(argv[1], "query") == 0)
		return kv_cl_run(argc - 1, argv + 1, false);
	if (strcmp(argv[1], "scan") == 0)
		return kv_cl_run(argc - 1, argv + 1, true);
	return kv_usage_error("cluster", "unknown subcommand '%s' (query, "
			      "scan)", argv[1]);
}
