/* SPDX-License-Identifier: MIT */
/* crc32c.h -- CRC-32C (Castagnoli), SSE4.2 when the CPU has it. */
#ifndef DK_CRC32C_H
#define DK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a crc32c over @p len bytes; start with crc = 0. */
uint32_t dk_crc32c(uint32_t crc, const void *buf, size_t len);

/* The table-driven version, for tests that compare it with the above. */
uint32_t dk_crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
