// BearSSL glue (tls.c): what Swift needs of it as plain functions over byte arrays.
// A target of its own, like CDecompress, so that only what uses TLS links BearSSL.
#ifndef CTLS_H
#define CTLS_H

#include <stddef.h>
#include <stdint.h>

enum {
    CTLS_P256_SECRET = 32,
    // The public point, uncompressed: 0x04, X, Y.
    CTLS_P256_POINT = 65,
    // The largest DER ECDSA P-256 signature.
    CTLS_P256_SIGNATURE_MAX = 72,
};

// A fresh P-256 key pair from the kernel's randomness (an HMAC-DRBG seeded with
// getrandom). 0, or -1.
int ctls_p256_keygen(uint8_t secret[CTLS_P256_SECRET], uint8_t point[CTLS_P256_POINT]);

// The public point of `secret`. 0, or -1 when the secret is not a valid scalar.
int ctls_p256_point(const uint8_t secret[CTLS_P256_SECRET], uint8_t point[CTLS_P256_POINT]);

// The DER ECDSA signature of a SHA-256 digest with `secret`; returns its length, or 0.
size_t ctls_p256_sign(const uint8_t secret[CTLS_P256_SECRET], const uint8_t digest[32],
                      uint8_t signature[CTLS_P256_SIGNATURE_MAX]);

// 1 when `signature` (DER) is `point`'s over `digest`, else 0.
int ctls_p256_verify(const uint8_t point[CTLS_P256_POINT], const uint8_t digest[32], const uint8_t *signature,
                     size_t length);

#endif
