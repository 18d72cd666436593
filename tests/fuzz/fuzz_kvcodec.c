// SPDX-License-Identifier: MIT
/*
 * fuzz_kvcodec.c -- libFuzzer target for kvctl's key/value codec
 * (tools/kvctl/codec.c): the text a user gives kvctl as a key or value is
 * decoded as text, hex and base64; and any bytes must survive
 * encode-then-decode unchanged in every encoding.  Built only where
 * codec.c exists.  (kvctl's number and size parsers live in kvctl.c next
 * to main() and are not reachable from a fuzz target.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* codec.c's neighbours in kvctl define this; the codec does not use it */
const char *kv_prog = "fuzz_kvcodec";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (int enc = KV_ENC_TEXT; enc <= KV_ENC_BASE64; enc++) {
		struct kv_buf out;
		char *coded;

		if (kv_decode((enum kv_encoding)enc, text, &out))
			free(out.data);
		coded = kv_encode((enum kv_encoding)enc, data, size);
		if (!coded)
			continue;
		/* text encoding cannot carry a NUL: only check the others */
		if (enc != KV_ENC_TEXT) {
			if (!kv_decode((enum kv_encoding)enc, coded, &out))
				abort(); /* its own encoding refused */
			if (out.len != size || memcmp(out.data, data, size))
				abort(); /* round trip changed the bytes */
			free(out.data);
		}
		free(coded);
	}
	kv_is_text(data, size);
	free(text);
	return 0;
}
