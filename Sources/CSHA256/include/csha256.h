// SHA-256's round constants, and its block function on the CPU's own instructions: SHA-NI on x86_64, the ARMv8
// SHA2 extension on aarch64, found at run time. Intrinsics are C's, hence this file; the
// rest of SHA-256 (padding, the software rounds) is DbgWire's SHA256.
#ifndef CSHA256_H
#define CSHA256_H

#include <stddef.h>
#include <stdint.h>

// FIPS 180-4's 64 round constants, for these instructions and DbgWire's software rounds.
const uint32_t *csha256_round_constants(void);

// 1 when this CPU has SHA-256 instructions that csha256_blocks uses, else 0.
int csha256_hardware(void);

// Runs `blocks` 64-byte blocks of `data` through `state` (h0..h7); only when
// csha256_hardware() said 1.
void csha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif
