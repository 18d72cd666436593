// SPDX-License-Identifier: MIT
/*
 * cmd_kv.c -- DKV.SET, DKV.GET, DKV.DEL, DKV.MSET, DKV.MGET.
 *
 * A write is durable in daxkv before the keyspace changes and before the
 * reply; the command is then replicated verbatim, so a replica runs the
 * same code against its own daxkv before it acknowledges the offset
 * (which is what WAIT counts).  If power fails between the daxkv write
 * and the keyspace change, the restart rebuilds the keyspace from daxkv:
 * the write is there, though never acknowledged.
 */
#include <string.h>

#include "dkr.h"

#define DKR_WRONGTYPE                                                          \
	"WRONGTYPE Operation against a key holding the wrong kind of value"

bool dkr_command_ok(rm_ctx *ctx)
{
	if (!dkr.db) {
		rm.reply_with_error(ctx, "ERR daxkv: the database is closed "
				    "(the server is shutting down)");
		return false;
	}
	if (rm.get_selected_db(ctx) != 0) {
		rm.reply_with_error(ctx, "ERR daxkv: DKV commands work in db 0 "
				    "only (one daxkv database per node)");
		return false;
	}
	return true;
}

static bool dkr_key_ok(rm_ctx *ctx, rm_string *name)
{
	size_t klen;

	rm.string_ptr_len(name, &klen);
	if (klen == 0 || klen > DAXKV_MAX_KEY) {
		dkr_reply_errorf(ctx, "ERR daxkv: key of %zu bytes: keys are "
				 "1 to %u bytes", klen, DAXKV_MAX_KEY);
		return false;
	}
	return true;
}

static bool dkr_value_ok(rm_ctx *ctx, rm_string *val)
{
	size_t vlen;

	rm.string_ptr_len(val, &vlen);
	if (vlen > DKR_MAX_VALUE) {
		dkr_reply_errorf(ctx, "ERR daxkv: value of %zu bytes: at most "
				 "%u", vlen, DKR_MAX_VALUE);
		return false;
	}
	return true;
}

/* The handle replaces whatever the key held (as SET does, TTL too). */
static void dkr_key_set(rm_ctx *ctx, rm_string *name, uint64_t id,
			size_t vlen)
{
	rm_key *key = rm.open_key(ctx, name, RM_WRITE);

	rm.module_type_set_value(key, dkr.type, dkr_handle_new(id, vlen));
	rm.close_key(key);
	rm.notify_keyspace_event(ctx, RM_NOTIFY_MODULE, "dkv.set", name);
}

int dkr_cmd_set(rm_ctx *ctx, rm_string **argv, int argc)
{
	const char *key, *val;
	size_t klen, vlen;
	uint64_t id;
	int rc;

	if (argc != 3)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx) || !dkr_key_ok(ctx, argv[1]) ||
	    !dkr_value_ok(ctx, argv[2]))
		return RM_OK;
	dkr_apply_queue(ctx);
	key = rm.string_ptr_len(argv[1], &klen);
	val = rm.string_ptr_len(argv[2], &vlen);
	id = dkr_new_id();
	rc = dkr_record_put(key, klen, id, DKR_EXPIRE_NONE, val, vlen);
	if (rc)
		return dkr_reply_daxkv_error(ctx, "DKV.SET", rc);
	dkr_key_set(ctx, argv[1], id, vlen);
	/* the replaced handle's queued delete finds the new id: dropped */
	dkr_apply_queue(ctx);
	rm.replicate_verbatim(ctx);
	return rm.reply_with_simple_string(ctx, "OK");
}

/* Reply with the value of @p name: nil, WRONGTYPE or the bytes. */
static int dkr_reply_value(rm_ctx *ctx, rm_string *name, bool wrongtype_nil)
{
	rm_key *key = rm.open_key(ctx, name, RM_READ);
	struct dkr_handle *h;
	struct dkr_rec rec;
	const char *kp;
	size_t klen;
	int rc;

	if (!key || rm.key_type(key) == RM_KEYTYPE_EMPTY) {
		rc = rm.reply_with_null(ctx);
		goto out_close;
	}
	h = dkr_key_handle(key);
	if (!h) {
		rc = wrongtype_nil ? rm.reply_with_null(ctx) :
				     rm.reply_with_error(ctx, DKR_WRONGTYPE);
		goto out_close;
	}
	if (h->pending) {
		rc = rm.reply_with_string_buffer(
			ctx, (const char *)h->record + DKR_HDR_SIZE, h->vlen);
		goto out_close;
	}
	kp = rm.string_ptr_len(name, &klen);
	rc = dkr_record_get(kp, klen, &rec);
	if (rc == 0 && rec.id != h->id) {
		rc = dkr_reply_errorf(ctx, "ERR daxkv: the record of this key "
				      "carries id %llu, its handle %llu "
				      "(inconsistent: see DKV.CHECK)",
				      (unsigned long long)rec.id,
				      (unsigned long long)h->id);
		goto out_close;
	}
	if (rc)
		rc = dkr_reply_daxkv_error(ctx, "DKV.GET", rc);
	else
		rc = rm.reply_with_string_buffer(ctx, (const char *)rec.val,
						 rec.vlen);
out_close:
	if (key)
		rm.close_key(key);
	return rc;
}

/*
 * The hit path of DKV.GET reads daxkv alone: while no unlink is queued
 * and no RESTOREd value waits for its record, a record exists exactly
 * when the key does (the invariant in dkr.h), so one lookup serves the
 * read instead of two.  A miss, and a record whose expiry has passed, go
 * through the keyspace, which decides between nil, WRONGTYPE and Redis's
 * own expiry.  What the shortcut skips: the key's LRU/LFU clock and the
 * keyspace_hits counter.
 */
int dkr_cmd_get(rm_ctx *ctx, rm_string **argv, int argc)
{
	struct dkr_rec rec;
	const char *kp;
	size_t klen;

	if (argc != 2)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx))
		return RM_OK;
	if (!dkr.ndels && !dkr.nrestores) {
		kp = rm.string_ptr_len(argv[1], &klen);
		if (klen && klen <= DAXKV_MAX_KEY &&
		    dkr_record_get(kp, klen, &rec) == 0 &&
		    (rec.expire == DKR_EXPIRE_NONE ||
		     !dkr_expired(rec.expire, rm.milliseconds())))
			return rm.reply_with_string_buffer(
				ctx, (const char *)rec.val, rec.vlen);
	}
	return dkr_reply_value(ctx, argv[1], false);
}

int dkr_cmd_mget(rm_ctx *ctx, rm_string **argv, int argc)
{
	if (argc < 2)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx))
		return RM_OK;
	rm.reply_with_array(ctx, argc - 1);
	/* as MGET: a key of another type reads as nil */
	for (int i = 1; i < argc; i++)
		dkr_reply_value(ctx, argv[i], true);
	return RM_OK;
}

/*
 * DKV.DEL key [key ...]: the keys leave the keyspace (each unlink queues
 * its record), then the queue is applied in one daxkv batch before the
 * reply.  A key of another type is refused before anything changes.
 */
int dkr_cmd_del(rm_ctx *ctx, rm_string **argv, int argc)
{
	long long removed = 0;
	int rc;

	if (argc < 2)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx))
		return RM_OK;
	dkr_apply_queue(ctx);
	for (int i = 1; i < argc; i++) {
		rm_key *key = rm.open_key(ctx, argv[i], RM_READ);
		bool bad = key && rm.key_type(key) != RM_KEYTYPE_EMPTY &&
			   !dkr_key_is_ours(key);

		if (key)
			rm.close_key(key);
		if (bad)
			return rm.reply_with_error(ctx, DKR_WRONGTYPE);
	}
	for (int i = 1; i < argc; i++) {
		rm_key *key = rm.open_key(ctx, argv[i], RM_WRITE);

		if (dkr_key_is_ours(key)) {
			rm.delete_key(key);
			rm.notify_keyspace_event(ctx, RM_NOTIFY_GENERIC, "del",
						 argv[i]);
			removed++;
		}
		rm.close_key(key);
	}
	rc = dkr_apply_queue(ctx);
	if (removed)
		rm.replicate_verbatim(ctx);
	if (rc)
		return dkr_reply_daxkv_error(ctx, "DKV.DEL: the keys left the "
					     "keyspace but their records are "
					     "not deleted yet (retried)", rc);
	return rm.reply_with_long_long(ctx, removed);
}

/* DKV.MSET key value [key value ...]: one daxkv batch, all or nothing. */
int dkr_cmd_mset(rm_ctx *ctx, rm_string **argv, int argc)
{
	daxkv_batch *batch = NULL;
	uint64_t first_id;
	int rc;

	if (argc < 3 || argc % 2 == 0)
		return rm.wrong_arity(ctx);
	if (!dkr_command_ok(ctx))
		return RM_OK;
	for (int i = 1; i < argc; i += 2)
		if (!dkr_key_ok(ctx, argv[i]) || !dkr_value_ok(ctx, argv[i + 1]))
			return RM_OK;
	dkr_apply_queue(ctx);
	rc = daxkv_batch_new(&batch);
	if (rc)
		return dkr_reply_daxkv_error(ctx, "DKV.MSET", rc);
	first_id = dkr.next_id;
	for (int i = 1; i < argc && !rc; i += 2) {
		const char *key, *val;
		size_t klen, vlen;

		key = rm.string_ptr_len(argv[i], &klen);
		val = rm.string_ptr_len(argv[i + 1], &vlen);
		dkr_hdr_encode(dkr.wbuf, dkr_new_id(), DKR_EXPIRE_NONE);
		memcpy(dkr.wbuf + DKR_HDR_SIZE, val, vlen);
		rc = daxkv_batch_put(batch, key, klen, dkr.wbuf,
				     DKR_HDR_SIZE + vlen);
	}
	if (!rc)
		rc = daxkv_batch_commit(dkr.db, batch);
	daxkv_batch_free(batch);
	if (rc)
		return dkr_reply_daxkv_error(ctx, "DKV.MSET", rc);
	for (int i = 1; i < argc; i += 2) {
		size_t vlen;

		rm.string_ptr_len(argv[i + 1], &vlen);
		/* the batch's ids, in order: a repeated key ends with the
		 * last one, as the batch does */
		dkr_key_set(ctx, argv[i], first_id + (uint64_t)(i - 1) / 2,
			    vlen);
	}
	dkr_apply_queue(ctx);
	rm.replicate_verbatim(ctx);
	return rm.reply_with_simple_string(ctx, "OK");
}
