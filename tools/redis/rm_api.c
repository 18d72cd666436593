// SPDX-License-Identifier: MIT
/*
 * rm_api.c -- look the module API up by name (the documented load
 * handshake; rm_api.h says how it works).
 */
#include <stdbool.h>
#include <stddef.h>

#include "rm_api.h"

struct rm_api rm;

struct rm_api_entry {
	const char *name;   /* the API's documented name */
	size_t offset;      /* of the pointer in struct rm_api */
	bool optional;
};

#define RM_REQ(field, name) { "RedisModule_" name, offsetof(struct rm_api, field), false }
#define RM_OPT(field, name) { "RedisModule_" name, offsetof(struct rm_api, field), true }

static const struct rm_api_entry rm_api_table[] = {
	RM_REQ(set_module_attribs, "SetModuleAttribs"),
	RM_OPT(is_module_name_busy, "IsModuleNameBusy"),
	RM_OPT(get_server_version, "GetServerVersion"),
	RM_REQ(alloc, "Alloc"),
	RM_REQ(calloc, "Calloc"),
	RM_REQ(free, "Free"),
	RM_REQ(log, "Log"),
	RM_REQ(milliseconds, "Milliseconds"),
	RM_REQ(create_command, "CreateCommand"),
	RM_REQ(get_command, "GetCommand"),
	RM_REQ(set_command_info, "SetCommandInfo"),
	RM_REQ(get_context_flags, "GetContextFlags"),
	RM_REQ(get_selected_db, "GetSelectedDb"),
	RM_REQ(create_data_type, "CreateDataType"),
	RM_REQ(module_type_set_value, "ModuleTypeSetValue"),
	RM_REQ(module_type_get_type, "ModuleTypeGetType"),
	RM_REQ(module_type_get_value, "ModuleTypeGetValue"),
	RM_REQ(open_key, "OpenKey"),
	RM_REQ(close_key, "CloseKey"),
	RM_REQ(key_type, "KeyType"),
	RM_REQ(delete_key, "DeleteKey"),
	RM_REQ(get_abs_expire, "GetAbsExpire"),
	RM_REQ(set_abs_expire, "SetAbsExpire"),
	RM_REQ(string_ptr_len, "StringPtrLen"),
	RM_REQ(create_string, "CreateString"),
	RM_REQ(free_string, "FreeString"),
	RM_REQ(reply_with_error, "ReplyWithError"),
	RM_REQ(reply_with_simple_string, "ReplyWithSimpleString"),
	RM_REQ(reply_with_string_buffer, "ReplyWithStringBuffer"),
	RM_REQ(reply_with_null, "ReplyWithNull"),
	RM_REQ(reply_with_array, "ReplyWithArray"),
	RM_REQ(reply_set_array_length, "ReplySetArrayLength"),
	RM_REQ(reply_with_long_long, "ReplyWithLongLong"),
	RM_REQ(wrong_arity, "WrongArity"),
	RM_REQ(replicate_verbatim, "ReplicateVerbatim"),
	RM_REQ(notify_keyspace_event, "NotifyKeyspaceEvent"),
	RM_REQ(subscribe_to_keyspace_events, "SubscribeToKeyspaceEvents"),
	RM_REQ(subscribe_to_server_event, "SubscribeToServerEvent"),
	RM_REQ(get_key_name_from_io, "GetKeyNameFromIO"),
	RM_REQ(save_string_buffer, "SaveStringBuffer"),
	RM_REQ(save_unsigned, "SaveUnsigned"),
	RM_REQ(load_string_buffer, "LoadStringBuffer"),
	RM_REQ(load_unsigned, "LoadUnsigned"),
	RM_OPT(is_io_error, "IsIOError"),
	RM_REQ(log_io_error, "LogIOError"),
	RM_REQ(emit_aof, "EmitAOF"),
	RM_REQ(digest_add_string_buffer, "DigestAddStringBuffer"),
	RM_REQ(digest_end_sequence, "DigestEndSequence"),
	RM_REQ(get_key_name_from_digest, "GetKeyNameFromDigest"),
	RM_REQ(get_key_name_from_opt_ctx, "GetKeyNameFromOptCtx"),
	RM_REQ(get_to_key_name_from_opt_ctx, "GetToKeyNameFromOptCtx"),
	RM_REQ(get_db_id_from_opt_ctx, "GetDbIdFromOptCtx"),
	RM_REQ(get_to_db_id_from_opt_ctx, "GetToDbIdFromOptCtx"),
	RM_REQ(block_client, "BlockClient"),
	RM_REQ(unblock_client, "UnblockClient"),
	RM_REQ(get_blocked_client_private_data, "GetBlockedClientPrivateData"),
	RM_REQ(call, "Call"),
	RM_REQ(call_reply_type, "CallReplyType"),
	RM_REQ(call_reply_string_ptr, "CallReplyStringPtr"),
	RM_REQ(call_reply_array_element, "CallReplyArrayElement"),
	RM_REQ(call_reply_length, "CallReplyLength"),
	RM_REQ(free_call_reply, "FreeCallReply"),
	RM_REQ(scan, "Scan"),
	RM_REQ(scan_cursor_create, "ScanCursorCreate"),
	RM_REQ(scan_cursor_destroy, "ScanCursorDestroy"),
};

int rm_api_init(rm_ctx *ctx, const char **missing)
{
	/* the handshake: the context's first word is the lookup function */
	rm.get_api = *(int (**)(const char *, void *))ctx;
	for (size_t i = 0; i < sizeof(rm_api_table) / sizeof(rm_api_table[0]);
	     i++) {
		const struct rm_api_entry *e = &rm_api_table[i];
		void **slot = (void **)((char *)&rm + e->offset);

		*slot = NULL;
		if (rm.get_api(e->name, slot) != RM_OK)
			*slot = NULL;
		if (!*slot && !e->optional) {
			*missing = e->name;
			return -1;
		}
	}
	return 0;
}
