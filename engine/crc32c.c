// SPDX-License-Identifier: MIT
/*
 * crc32c.c -- CRC-32C for record checksums.
 *
 * Debian 12 ships no small C library for CRC-32C alone (zlib's is CRC-32),
 * so this is the usual pair: the SSE4.2 crc32 instruction, chosen once at
 * load time, and a table-driven fallback that gives the same values.
 */
#include <pthread.h>

#include "crc32c.h"

#define CRC32C_POLY 0x82f63b78u

static uint32_t crc_table[256];

static void crc_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t dk_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const uint8_t *p = buf;

	pthread_once(&once, crc_table_init);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t word;

		__builtin_memcpy(&word, p, 8);
		c = __builtin_ia32_crc32di(c, word);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

static int crc_have_sse42 = -1;

uint32_t dk_crc32c(uint32_t crc, const void *buf, size_t len)
{
	int have = __atomic_load_n(&crc_have_sse42, __ATOMIC_RELAXED);

	if (have < 0) {
		__builtin_cpu_init();
		have = __builtin_cpu_supports("sse4.2") ? 1 : 0;
		__atomic_store_n(&crc_have_sse42, have, __ATOMIC_RELAXED);
	}
	return have ? crc32c_hw(crc, buf, len) : dk_crc32c_portable(crc, buf, len);
}
#else
uint32_t dk_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return dk_crc32c_portable(crc, buf, len);
}
#endif
