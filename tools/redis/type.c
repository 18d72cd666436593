// SPDX-License-Identifier: MIT
/*
 * type.c -- the module data type "daxkv-val" and everything that keeps
 * daxkv in step with Redis's keyspace: the unlink queue, keyspace
 * notifications, the FLUSHDB, LOADING, FORK_CHILD, EVENTLOOP and
 * SHUTDOWN events, and the rebuild of the keyspace at load.
 *
 * How each way a key changes reaches daxkv (dkr.h states the invariant):
 *
 *   DKV.SET/MSET/DEL     the commands write daxkv themselves (cmd_kv.c)
 *   DEL, UNLINK, GETDEL, expiry, eviction, MIGRATE's source, any
 *   overwrite (SET on the key, RESTORE REPLACE, COPY REPLACE)
 *                        unlink2 queues (key, id); the notification that
 *                        follows the change applies the queue
 *   RENAME               rename_from remembers the source; rename_to moves
 *                        the record (one daxkv batch: put the destination
 *                        with the handle's id, delete the source); the
 *                        source's queued delete then finds the record gone
 *   EXPIRE, PERSIST, ... "expire"/"persist" rewrite the header's expiry
 *   RESTORE (MIGRATE's target, a replica of it)
 *                        rdb_load keeps the value in a pending handle;
 *                        "restore" writes the record with the key's TTL.
 *                        (A RESTORE whose TTL is already past frees the
 *                        value without adding the key: nothing was
 *                        written, nothing is left.)
 *   COPY                 copy2 writes the destination's record
 *   FLUSHALL/FLUSHDB, full resync
 *                        the FLUSHDB event deletes every record
 *   full resync load     rdb_load writes each record (LOADING_REPL)
 *
 * The queue is applied after every keyspace notification (except
 * rename_from), at the start of every DKV command, and before Redis goes
 * to sleep (EVENTLOOP), so that replies, which Redis writes after that,
 * never acknowledge a change daxkv does not hold yet.  A daxkv error
 * (ENOSPC) leaves the entry queued; it is retried every 100 ms and
 * counted in DKV.INFO.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dkr.h"

#define DKR_RETRY_MS 100
#define DKR_FLUSH_BATCH 4096u
#define DKR_SAVE_MISSING (UINT64_MAX - 1) /* rdb_save: no record (a bug) */

/* ---- handles ---- */

struct dkr_handle *dkr_handle_new(uint64_t id, size_t vlen)
{
	struct dkr_handle *h = rm.calloc(1, sizeof(*h));

	h->id = id;
	h->vlen = (uint32_t)vlen;
	__atomic_fetch_add(&dkr.handles, 1, __ATOMIC_RELAXED);
	return h;
}

static void dkr_type_free(void *value)
{
	struct dkr_handle *h = value;

	if (!h)
		return;
	if (h->record)
		rm.free(h->record);
	rm.free(h);
	__atomic_fetch_sub(&dkr.handles, 1, __ATOMIC_RELAXED);
}

bool dkr_key_is_ours(rm_key *key)
{
	return key && rm.key_type(key) == RM_KEYTYPE_MODULE &&
	       rm.module_type_get_type(key) == dkr.type;
}

struct dkr_handle *dkr_key_handle(rm_key *key)
{
	return dkr_key_is_ours(key) ? rm.module_type_get_value(key) : NULL;
}

static uint8_t *dkr_memdup(const void *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (copy && len)
		memcpy(copy, p, len);
	return copy;
}

/* ---- the unlink queue ---- */

static void dkr_queue_delete(const rm_string *name, uint64_t id)
{
	const char *key;
	size_t klen;
	struct dkr_del *d;

	key = rm.string_ptr_len(name, &klen);
	if (dkr.ndels == dkr.dels_cap) {
		size_t cap = dkr.dels_cap ? 2 * dkr.dels_cap : 64;
		struct dkr_del *grown = realloc(dkr.dels, cap * sizeof(*grown));

		if (!grown)
			goto out_nomem;
		dkr.dels = grown;
		dkr.dels_cap = cap;
	}
	d = &dkr.dels[dkr.ndels];
	d->key = dkr_memdup(key, klen);
	if (!d->key)
		goto out_nomem;
	d->klen = klen;
	d->id = id;
	dkr.ndels++;
	return;
out_nomem:
	/* the record stays; DKV.CHECK reports it as an orphan */
	dkr.errors++;
	rm.log(NULL, "warning", "daxkv: out of memory queueing the delete "
	       "of a %zu-byte key: its record stays (DKV.CHECK counts it)",
	       klen);
}

static void dkr_remember_restore(const rm_string *name)
{
	const char *key;
	size_t klen;

	key = rm.string_ptr_len(name, &klen);
	for (size_t i = 0; i < dkr.nrestores; i++)
		if (dkr.restores[i].klen == klen &&
		    memcmp(dkr.restores[i].key, key, klen) == 0)
			return;
	if (dkr.nrestores == dkr.restores_cap) {
		size_t cap = dkr.restores_cap ? 2 * dkr.restores_cap : 16;
		struct dkr_name *grown =
			realloc(dkr.restores, cap * sizeof(*grown));

		if (!grown)
			return; /* DKV.CHECK still sees the pending handle */
		dkr.restores = grown;
		dkr.restores_cap = cap;
	}
	dkr.restores[dkr.nrestores].key = dkr_memdup(key, klen);
	if (!dkr.restores[dkr.nrestores].key)
		return;
	dkr.restores[dkr.nrestores].klen = klen;
	dkr.nrestores++;
}

/*
 * Write the record of a pending (RESTOREd) handle of @p key, with the
 * key's expiry; on failure the handle stays pending (its value is in
 * DRAM, and reads use it) and the key is remembered for a retry.
 */
static int dkr_persist_pending(rm_key *key, const rm_string *name,
			       struct dkr_handle *h)
{
	const char *kp;
	size_t klen;
	uint64_t expire = dkr_expire_from_redis(rm.get_abs_expire(key));
	int rc;

	kp = rm.string_ptr_len(name, &klen);
	dkr_hdr_encode(h->record, h->id, expire);
	rc = daxkv_put(dkr.db, kp, klen, h->record, DKR_HDR_SIZE + h->vlen);
	if (rc) {
		dkr.errors++;
		rm.log(NULL, "warning", "daxkv: cannot write the record of a "
		       "RESTOREd %zu-byte key (kept in memory, retried): "
		       "%s: %s", klen, daxkv_strerror(rc), daxkv_errmsg());
		dkr_remember_restore(name);
		return rc;
	}
	rm.free(h->record);
	h->record = NULL;
	h->pending = 0;
	dkr.restores_written++;
	return 0;
}

/* Retry the RESTOREd keys whose records could not be written. */
static int dkr_retry_restores(rm_ctx *ctx)
{
	int first_rc = 0;
	size_t kept = 0;

	for (size_t i = 0; i < dkr.nrestores; i++) {
		struct dkr_name *n = &dkr.restores[i];
		rm_string *name = rm.create_string(ctx, (const char *)n->key,
						   n->klen);
		rm_key *key = rm.open_key(ctx, name, RM_READ |
					  RM_OPEN_KEY_NOTOUCH);
		struct dkr_handle *h = dkr_key_handle(key);
		int rc = 0;

		/* on failure the entry stays (remember_restore finds it) */
		if (h && h->pending)
			rc = dkr_persist_pending(key, name, h);
		if (key)
			rm.close_key(key);
		rm.free_string(ctx, name);
		if (rc && !first_rc)
			first_rc = rc;
		if (!rc)
			free(n->key);
		else
			dkr.restores[kept++] = *n;
	}
	dkr.nrestores = kept;
	return first_rc;
}

int dkr_apply_queue(rm_ctx *ctx)
{
	daxkv_batch *batch = NULL;
	size_t queued = 0;
	int rc = 0;

	if (!dkr.db || dkr.in_child)
		return 0;
	if (dkr.nrestores) {
		long long now = rm.milliseconds();

		if (now >= dkr.retry_after_ms) {
			rc = dkr_retry_restores(ctx);
			if (rc)
				dkr.retry_after_ms = now + DKR_RETRY_MS;
		}
	}
	if (!dkr.ndels)
		return rc;
	/*
	 * One batch for the whole queue: one fence.  Each entry is checked
	 * against its record's own header first; an entry whose record is
	 * gone or carries another id (a newer value) is dropped.
	 */
	for (size_t i = 0; i < dkr.ndels; i++) {
		struct dkr_del *d = &dkr.dels[i];
		struct dkr_rec rec;
		int grc = dkr_record_get(d->key, d->klen, &rec);

		if (grc == DAXKV_ENOTFOUND || (grc == 0 && rec.id != d->id) ||
		    grc == DKR_EFOREIGN) {
			dkr.deletes_stale++;
			continue;
		}
		if (grc) {
			rc = grc;
			goto out_keep;
		}
		if (!batch && (rc = daxkv_batch_new(&batch)))
			goto out_keep;
		rc = daxkv_batch_delete(batch, d->key, d->klen);
		if (rc)
			goto out_keep;
		queued++;
	}
	if (queued && (rc = daxkv_batch_commit(dkr.db, batch)))
		goto out_keep;
	dkr.deletes_applied += queued;
	for (size_t i = 0; i < dkr.ndels; i++)
		free(dkr.dels[i].key);
	dkr.ndels = 0;
	daxkv_batch_free(batch);
	return 0;
out_keep:
	/* nothing of the batch was committed: all entries stay queued */
	daxkv_batch_free(batch);
	dkr.errors++;
	dkr.retry_after_ms = rm.milliseconds() + DKR_RETRY_MS;
	rm.log(NULL, "warning", "daxkv: cannot delete the records of %zu "
	       "removed keys yet (retried): %s: %s", dkr.ndels,
	       daxkv_strerror(rc), daxkv_errmsg());
	return rc;
}

/* ---- type methods ---- */

/*
 * RDB payload (encver 1): an unsigned (the header's expiry, or
 * DKR_SAVE_MISSING), then the value as a string.  The expiry travels so
 * that a replica's records carry the same TTL as the keys Redis loads.
 */
static void *dkr_type_rdb_load(rm_io *io, int encver)
{
	const rm_string *name;
	struct dkr_handle *h;
	uint64_t expire;
	char *val;
	size_t vlen, klen;
	const char *key;
	int rc;

	if (encver != DKR_TYPE_ENCVER) {
		rm.log_io_error(io, "warning", "daxkv: value of encoding "
				"version %d: this module reads version %d",
				encver, DKR_TYPE_ENCVER);
		return NULL;
	}
	expire = rm.load_unsigned(io);
	val = rm.load_string_buffer(io, &vlen);
	if ((rm.is_io_error && rm.is_io_error(io)) || !val)
		goto out_free;
	if (expire == DKR_SAVE_MISSING) {
		rm.log_io_error(io, "warning", "daxkv: the sender had no "
				"record for this key (see its log): refused");
		goto out_free;
	}
	if (dkr.loading == DKR_LOADING_FILE) {
		rm.log_io_error(io, "warning", "daxkv: refusing to load an RDB "
				"or AOF file: daxkv is the source of truth "
				"(remove the file; docs/redis.md)");
		goto out_free;
	}
	if (vlen > DKR_MAX_VALUE) {
		rm.log_io_error(io, "warning", "daxkv: value of %zu bytes is "
				"longer than %u", vlen, DKR_MAX_VALUE);
		goto out_free;
	}
	name = rm.get_key_name_from_io(io);
	if (!name) {
		rm.log_io_error(io, "warning", "daxkv: loading a value "
				"without its key name: refused");
		goto out_free;
	}
	key = rm.string_ptr_len(name, &klen);
	h = dkr_handle_new(dkr_new_id(), vlen);
	if (dkr.loading == DKR_LOADING_REPL) {
		/* a full resync: the key will be added, write it now */
		rc = dkr_record_put(key, klen, h->id, expire, val, vlen);
		if (rc) {
			rm.log_io_error(io, "warning", "daxkv: cannot write a "
					"%zu-byte key from the master: %s: %s",
					klen, daxkv_strerror(rc),
					daxkv_errmsg());
			dkr_type_free(h);
			goto out_free;
		}
	} else {
		/* RESTORE: the key may never be added; the "restore"
		 * notification writes the record */
		h->record = rm.alloc(DKR_HDR_SIZE + vlen);
		dkr_hdr_encode(h->record, h->id, expire);
		memcpy(h->record + DKR_HDR_SIZE, val, vlen);
		h->pending = 1;
	}
	rm.free(val);
	return h;
out_free:
	if (val)
		rm.free(val);
	return NULL;
}

/*
 * The value of handle @p h of @p key: in a fork child at the snapshot the
 * parent pinned before fork(), else now.  0, or an error when there is
 * no record carrying the handle's id.
 */
static int dkr_handle_value(const void *key, size_t klen,
			    const struct dkr_handle *h, struct dkr_rec *out)
{
	int rc;

	if (h->pending)
		return dkr_hdr_decode(h->record, DKR_HDR_SIZE + h->vlen, out);
	if (dkr.in_child && !dkr.fork_snap)
		return DAXKV_EINVAL; /* no pinned snapshot: never read live */
	rc = dkr_record_get_at(dkr.in_child ? dkr.fork_snap : NULL, key,
			       klen, out);
	if (rc == 0 && out->id != h->id)
		rc = DAXKV_ENOTFOUND;
	return rc;
}

static void dkr_type_rdb_save(rm_io *io, void *value)
{
	const struct dkr_handle *h = value;
	const rm_string *name = rm.get_key_name_from_io(io);
	struct dkr_rec rec;
	const char *key = "";
	size_t klen = 0;
	int rc = DAXKV_EINVAL;

	if (name) {
		key = rm.string_ptr_len(name, &klen);
		rc = dkr_handle_value(key, klen, h, &rec);
	}
	if (rc) {
		/* the receiver refuses the marker: loud, nothing lost */
		rm.log_io_error(io, "warning", "daxkv: no record for a "
				"%zu-byte key being saved (%s): sent as "
				"missing, the receiver refuses it", klen,
				rc == DAXKV_EINVAL ? "no key name or no "
				"snapshot" : daxkv_strerror(rc));
		rm.save_unsigned(io, DKR_SAVE_MISSING);
		rm.save_string_buffer(io, "", 0);
		return;
	}
	rm.save_unsigned(io, rec.expire);
	rm.save_string_buffer(io, (const char *)rec.val, rec.vlen);
}

static void dkr_type_aof_rewrite(rm_io *io, rm_string *name, void *value)
{
	const struct dkr_handle *h = value;
	struct dkr_rec rec;
	const char *key;
	size_t klen;

	key = rm.string_ptr_len(name, &klen);
	if (dkr_handle_value(key, klen, h, &rec) != 0) {
		rm.log_io_error(io, "warning", "daxkv: no record for a "
				"%zu-byte key in an AOF rewrite: left out",
				klen);
		return;
	}
	/* Redis adds the key's PEXPIREAT itself */
	rm.emit_aof(io, "DKV.SET", "sb", name, (const char *)rec.val,
		    rec.vlen);
}

static size_t dkr_type_mem_usage(const void *value)
{
	const struct dkr_handle *h = value;

	return sizeof(*h) + (h->record ? DKR_HDR_SIZE + h->vlen : 0);
}

/* DEBUG DIGEST: the value's bytes (Redis adds the key and expiry). */
static void dkr_type_digest(rm_digest *md, void *value)
{
	const rm_string *name = rm.get_key_name_from_digest(md);
	struct dkr_rec rec;
	const char *key;
	size_t klen;

	if (!name)
		return;
	key = rm.string_ptr_len(name, &klen);
	if (dkr_handle_value(key, klen, value, &rec) == 0)
		rm.digest_add_string_buffer(md, (const char *)rec.val,
					    rec.vlen);
	else
		rm.digest_add_string_buffer(md, "\0missing", 8);
	rm.digest_end_sequence(md);
}

static void dkr_type_unlink2(rm_key_opt_ctx *ctx, const void *value)
{
	const struct dkr_handle *h = value;

	if (dkr.in_child || rm.get_db_id_from_opt_ctx(ctx) != 0)
		return;
	if (h->pending)
		return; /* no record of its own yet */
	dkr_queue_delete(rm.get_key_name_from_opt_ctx(ctx), h->id);
}

static void *dkr_type_copy2(rm_key_opt_ctx *ctx, const void *value)
{
	const struct dkr_handle *h = value;
	const char *from, *to;
	size_t flen, tlen;
	struct dkr_handle *copy;
	struct dkr_rec rec;
	int rc;

	if (rm.get_db_id_from_opt_ctx(ctx) != 0 ||
	    rm.get_to_db_id_from_opt_ctx(ctx) != 0) {
		rm.log(NULL, "warning", "daxkv: COPY to another database "
		       "refused (the module keeps db 0 only)");
		return NULL;
	}
	from = rm.string_ptr_len(rm.get_key_name_from_opt_ctx(ctx), &flen);
	to = rm.string_ptr_len(rm.get_to_key_name_from_opt_ctx(ctx), &tlen);
	rc = dkr_handle_value(from, flen, h, &rec);
	if (rc)
		goto out_fail;
	copy = dkr_handle_new(dkr_new_id(), rec.vlen);
	/* the "copy_to" notification sets the copy's own expiry */
	rc = dkr_record_put(to, tlen, copy->id, rec.expire, rec.val,
			    rec.vlen);
	if (rc) {
		dkr_type_free(copy);
		goto out_fail;
	}
	return copy;
out_fail:
	dkr.errors++;
	rm.log(NULL, "warning", "daxkv: COPY of a %zu-byte key failed: %s: "
	       "%s", flen, daxkv_strerror(rc), daxkv_errmsg());
	return NULL;
}

int dkr_type_register(rm_ctx *ctx)
{
	struct rm_type_methods tm = {
		.version = RM_TYPE_METHOD_VERSION,
		.rdb_load = dkr_type_rdb_load,
		.rdb_save = dkr_type_rdb_save,
		.aof_rewrite = dkr_type_aof_rewrite,
		.mem_usage = dkr_type_mem_usage,
		.digest = dkr_type_digest,
		.free = dkr_type_free,
		.unlink2 = dkr_type_unlink2,
		.copy2 = dkr_type_copy2,
	};

	dkr.type = rm.create_data_type(ctx, DKR_TYPE_NAME, DKR_TYPE_ENCVER,
				       &tm);
	return dkr.type ? 0 : -1;
}

/* ---- keyspace notifications ---- */

/* A key's record carries the key's current expiry (and exists). */
static void dkr_sync_key(rm_ctx *ctx, rm_string *name)
{
	rm_key *key = rm.open_key(ctx, name, RM_READ | RM_OPEN_KEY_NOTOUCH);
	struct dkr_handle *h = dkr_key_handle(key);
	struct dkr_rec rec;
	const char *kp;
	size_t klen;
	uint64_t expire;
	int rc;

	if (!h)
		goto out_close;
	if (h->pending) {
		dkr_persist_pending(key, name, h);
		goto out_close;
	}
	kp = rm.string_ptr_len(name, &klen);
	expire = dkr_expire_from_redis(rm.get_abs_expire(key));
	rc = dkr_record_get(kp, klen, &rec);
	if (rc == 0 && rec.id == h->id && rec.expire == expire)
		goto out_close;
	if (rc == 0 && rec.id == h->id)
		rc = dkr_record_put(kp, klen, h->id, expire, rec.val, rec.vlen);
	else if (rc == 0)
		rc = DAXKV_ENOTFOUND;
	if (rc) {
		dkr.errors++;
		rm.log(NULL, "warning", "daxkv: cannot update the expiry of a "
		       "%zu-byte key: %s: %s", klen, daxkv_strerror(rc),
		       daxkv_errmsg());
	}
out_close:
	if (key)
		rm.close_key(key);
}

/* rename_to: move the source's record to the destination. */
static void dkr_rename_to(rm_ctx *ctx, rm_string *name)
{
	rm_key *key = rm.open_key(ctx, name, RM_READ | RM_OPEN_KEY_NOTOUCH);
	struct dkr_handle *h = dkr_key_handle(key);
	daxkv_batch *batch = NULL;
	struct dkr_rec rec;
	const char *kp;
	size_t klen;
	uint64_t expire;
	int rc;

	if (!h || !dkr.rename_from_set)
		goto out_close;
	if (h->pending) {
		dkr_persist_pending(key, name, h);
		goto out_close;
	}
	kp = rm.string_ptr_len(name, &klen);
	expire = dkr_expire_from_redis(rm.get_abs_expire(key));
	rc = dkr_record_get(dkr.rename_from, dkr.rename_from_len, &rec);
	if (rc == 0 && rec.id != h->id)
		rc = DAXKV_ENOTFOUND;
	if (rc)
		goto out_fail;
	dkr_hdr_encode(dkr.wbuf, h->id, expire);
	memcpy(dkr.wbuf + DKR_HDR_SIZE, rec.val, rec.vlen);
	/* one commit: the value is under exactly one of the names */
	rc = daxkv_batch_new(&batch);
	if (!rc)
		rc = daxkv_batch_put(batch, kp, klen, dkr.wbuf,
				     DKR_HDR_SIZE + rec.vlen);
	if (!rc)
		rc = daxkv_batch_delete(batch, dkr.rename_from,
					dkr.rename_from_len);
	if (!rc)
		rc = daxkv_batch_commit(dkr.db, batch);
	daxkv_batch_free(batch);
	if (rc)
		goto out_fail;
	dkr.renames++;
	goto out_close;
out_fail:
	dkr.errors++;
	rm.log(NULL, "warning", "daxkv: RENAME could not move the record of "
	       "a %zu-byte key: %s: %s (DKV.CHECK reports the key)",
	       dkr.rename_from_len, daxkv_strerror(rc), daxkv_errmsg());
out_close:
	if (key)
		rm.close_key(key);
}

static int dkr_on_keyspace(rm_ctx *ctx, int type, const char *event,
			   rm_string *name)
{
	(void)type;
	if (!dkr.db || dkr.in_child)
		return RM_OK;
	if (strcmp(event, "rename_from") == 0) {
		const char *kp;
		size_t klen;

		kp = rm.string_ptr_len(name, &klen);
		free(dkr.rename_from);
		dkr.rename_from = dkr_memdup(kp, klen);
		dkr.rename_from_len = klen;
		dkr.rename_from_set = dkr.rename_from != NULL;
		return RM_OK; /* the source's delete waits for rename_to */
	}
	if (strcmp(event, "rename_to") == 0) {
		dkr_rename_to(ctx, name);
		dkr.rename_from_set = false;
	} else if (strcmp(event, "restore") == 0 ||
		   strcmp(event, "copy_to") == 0 ||
		   strcmp(event, "expire") == 0 ||
		   strcmp(event, "persist") == 0) {
		dkr_sync_key(ctx, name);
	}
	dkr_apply_queue(ctx);
	return RM_OK;
}

/* ---- server events ---- */

/* Delete every record (FLUSHALL, FLUSHDB, a full resync). */
struct dkr_clear {
	daxkv_batch *batch;
	size_t ops;
	uint64_t deleted;
	int rc;
};

static int dkr_clear_one(const void *key, size_t klen, const void *val,
			 size_t vlen, void *arg)
{
	struct dkr_clear *c = arg;

	(void)val;
	(void)vlen;
	c->rc = daxkv_batch_delete(c->batch, key, klen);
	if (!c->rc && ++c->ops == DKR_FLUSH_BATCH) {
		c->rc = daxkv_batch_commit(dkr.db, c->batch);
		daxkv_batch_clear(c->batch);
		c->deleted += c->ops;
		c->ops = 0;
	}
	return c->rc ? 1 : 0;
}

static void dkr_clear_all(void)
{
	struct dkr_clear c = { 0 };
	daxkv_snapshot *snap = NULL;

	c.rc = daxkv_batch_new(&c.batch);
	if (!c.rc)
		c.rc = daxkv_snapshot_open(dkr.db, &snap);
	if (!c.rc)
		daxkv_scan_at(dkr.db, snap, NULL, 0, NULL, 0, dkr_clear_one,
			      &c);
	daxkv_snapshot_close(snap);
	if (!c.rc && c.ops) {
		c.rc = daxkv_batch_commit(dkr.db, c.batch);
		c.deleted += c.ops;
	}
	daxkv_batch_free(c.batch);
	for (size_t i = 0; i < dkr.ndels; i++)
		free(dkr.dels[i].key);
	dkr.ndels = 0;
	for (size_t i = 0; i < dkr.nrestores; i++)
		free(dkr.restores[i].key);
	dkr.nrestores = 0;
	dkr.flushes++;
	if (c.rc) {
		dkr.errors++;
		rm.log(NULL, "warning", "daxkv: flush deleted %llu records, "
		       "then failed: %s: %s (DKV.CHECK counts what is left)",
		       (unsigned long long)c.deleted, daxkv_strerror(c.rc),
		       daxkv_errmsg());
	} else {
		rm.log(NULL, "notice", "daxkv: flush deleted %llu records",
		       (unsigned long long)c.deleted);
	}
}

static void dkr_on_flush(rm_ctx *ctx, struct rm_event eid, uint64_t sub,
			 void *data)
{
	const struct rm_flush_info *fi = data;

	(void)ctx;
	(void)eid;
	if (!dkr.db || dkr.in_child || sub != RM_SUBEVENT_FLUSHDB_START)
		return;
	if (fi && fi->dbnum != -1 && fi->dbnum != 0)
		return;
	dkr_clear_all();
}

static void dkr_on_loading(rm_ctx *ctx, struct rm_event eid, uint64_t sub,
			   void *data)
{
	(void)ctx;
	(void)eid;
	(void)data;
	switch (sub) {
	case RM_SUBEVENT_LOADING_RDB_START:
	case RM_SUBEVENT_LOADING_AOF_START:
		dkr.loading = DKR_LOADING_FILE;
		break;
	case RM_SUBEVENT_LOADING_REPL_START:
		dkr.loading = DKR_LOADING_REPL;
		dkr.repl_loads++;
		break;
	default:
		dkr.loading = DKR_LOADING_NONE;
		break;
	}
}

/*
 * Fork.  Redis forks for a replica's full sync (and BGSAVE).  The child
 * inherits the daxkv handle's memory as it was at fork() and iterates
 * the keyspace as it was then, calling rdb_save per key.  It must read
 * each key's record as of that instant, and must never depend on the
 * parent's later work: the parent keeps writing the shared mappings and
 * its compaction may remove segments.  So the parent opens a snapshot
 * in pthread_atfork's prepare handler -- in the forking thread, after
 * every write the keyspace shows has returned -- and the child reads at
 * it (daxkv_get_at).  The snapshot keeps every segment it can read, and
 * reads take no lock (read.c), so the child cannot wait on a lock that a
 * parent thread held at fork().  The FORK_CHILD event's DIED closes it.
 * Redis runs one child at a time; a snapshot left by a failed fork is
 * closed at the next prepare.
 */
static void dkr_atfork_prepare(void)
{
	int rc;

	if (!dkr.db || dkr.in_child)
		return;
	daxkv_snapshot_close(dkr.fork_snap);
	dkr.fork_snap = NULL;
	rc = daxkv_snapshot_open(dkr.db, &dkr.fork_snap);
	if (rc) {
		dkr.fork_snap = NULL;
		dkr.errors++;
		rm.log(NULL, "warning", "daxkv: no snapshot for the fork "
		       "child (%s): it will refuse to save values",
		       daxkv_strerror(rc));
		return;
	}
	dkr.fork_snaps++;
}

static void dkr_atfork_child(void)
{
	dkr.in_child = true;
}

static void dkr_on_fork_child(rm_ctx *ctx, struct rm_event eid,
			      uint64_t sub, void *data)
{
	(void)ctx;
	(void)eid;
	(void)data;
	if (sub == RM_SUBEVENT_FORK_CHILD_DIED && !dkr.in_child) {
		daxkv_snapshot_close(dkr.fork_snap);
		dkr.fork_snap = NULL;
	}
}

static void dkr_on_eventloop(rm_ctx *ctx, struct rm_event eid, uint64_t sub,
			     void *data)
{
	(void)eid;
	(void)data;
	if (sub != RM_SUBEVENT_EVENTLOOP_BEFORE_SLEEP || !dkr.db)
		return;
	if ((dkr.ndels || dkr.nrestores) &&
	    rm.milliseconds() >= dkr.retry_after_ms)
		dkr_apply_queue(ctx);
}

static void dkr_on_shutdown(rm_ctx *ctx, struct rm_event eid, uint64_t sub,
			    void *data)
{
	int rc;

	(void)eid;
	(void)sub;
	(void)data;
	if (!dkr.db || dkr.in_child)
		return;
	dkr_apply_queue(ctx);
	dkr_workers_stop();
	daxkv_snapshot_close(dkr.fork_snap);
	dkr.fork_snap = NULL;
	rc = daxkv_close(dkr.db);
	dkr.db = NULL;
	if (rc)
		rm.log(NULL, "warning", "daxkv: close: %s: %s (the data is "
		       "safe; the next start scans)", daxkv_strerror(rc),
		       daxkv_errmsg());
	else
		rm.log(NULL, "notice", "daxkv: closed %s", dkr.dir);
}

int dkr_events_register(rm_ctx *ctx)
{
	static const struct {
		uint64_t id;
		rm_event_fn fn;
	} events[] = {
		{ RM_EVENT_FLUSHDB, dkr_on_flush },
		{ RM_EVENT_LOADING, dkr_on_loading },
		{ RM_EVENT_FORK_CHILD, dkr_on_fork_child },
		{ RM_EVENT_EVENTLOOP, dkr_on_eventloop },
		{ RM_EVENT_SHUTDOWN, dkr_on_shutdown },
	};

	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		struct rm_event ev = { events[i].id, 1 };

		if (rm.subscribe_to_server_event(ctx, ev, events[i].fn) !=
		    RM_OK)
			return -1;
	}
	if (rm.subscribe_to_keyspace_events(ctx, RM_NOTIFY_NOT_MODULE,
					    dkr_on_keyspace) != RM_OK)
		return -1;
	if (pthread_atfork(dkr_atfork_prepare, NULL, dkr_atfork_child) != 0)
		return -1;
	return 0;
}

/* ---- rebuild at load ---- */

struct dkr_rebuild {
	rm_ctx *ctx;
	uint64_t keys, max_id;
	char *err;
	size_t errlen;
};

static int dkr_rebuild_one(const void *key, size_t klen, const void *val,
			   size_t vlen, void *arg)
{
	struct dkr_rebuild *rb = arg;
	struct dkr_rec rec;
	rm_string *name;
	rm_key *rk;

	if (dkr_hdr_decode(val, vlen, &rec) != 0) {
		snprintf(rb->err, rb->errlen, "a %zu-byte key (starting "
			 "'%.*s') has a value without the daxkv_redis header: "
			 "%s is not a database of this module", klen,
			 (int)(klen < 40 ? klen : 40), (const char *)key,
			 dkr.dir);
		return 1;
	}
	name = rm.create_string(rb->ctx, key, klen);
	rk = rm.open_key(rb->ctx, name, RM_WRITE);
	if (!rk || rm.module_type_set_value(rk, dkr.type,
					    dkr_handle_new(rec.id,
							   rec.vlen)) != RM_OK) {
		snprintf(rb->err, rb->errlen, "cannot create key %zu of the "
			 "keyspace", (size_t)rb->keys);
		if (rk)
			rm.close_key(rk);
		rm.free_string(rb->ctx, name);
		return 1;
	}
	if (rec.expire != DKR_EXPIRE_NONE)
		rm.set_abs_expire(rk, dkr_expire_to_redis(rec.expire));
	rm.close_key(rk);
	rm.free_string(rb->ctx, name);
	if (rec.id > rb->max_id)
		rb->max_id = rec.id;
	rb->keys++;
	return 0;
}

int dkr_rebuild(rm_ctx *ctx, char *err, size_t errlen)
{
	struct dkr_rebuild rb = { ctx, 0, 0, err, errlen };
	int rc;

	rc = daxkv_scan(dkr.db, NULL, 0, NULL, 0, dkr_rebuild_one, &rb);
	if (rc < 0) {
		snprintf(err, errlen, "scan of %s: %s: %s", dkr.dir,
			 daxkv_strerror(rc), daxkv_errmsg());
		return -1;
	}
	if (rc > 0)
		return -1;
	dkr.next_id = rb.max_id + 1;
	dkr.rebuilt_keys = rb.keys;
	/* the keys just made must not queue deletes of their records */
	for (size_t i = 0; i < dkr.ndels; i++)
		free(dkr.dels[i].key);
	dkr.ndels = 0;
	return 0;
}
