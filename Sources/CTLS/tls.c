#include "ctls.h"
#include <bearssl.h>
#include <string.h>
#include <sys/random.h>

// P-256 is the only curve: the board's key, client keys and ECDHE. BearSSL's generic
// implementation of every curve (br_ec_get_default) would add the code of P-384, P-521
// and Curve25519, which nothing here uses.
const br_ec_impl *ctls_p256(void) { return &br_ec_p256_m31; }

// Seeded from the kernel each time: key generation is rare, and a DRBG kept between
// calls would be state to protect.
static int seeded_drbg(br_hmac_drbg_context *drbg) {
    uint8_t seed[48];
    size_t filled = 0;
    while (filled < sizeof(seed)) {
        ssize_t got = getrandom(seed + filled, sizeof(seed) - filled, 0);
        if (got <= 0) return -1;
        filled += (size_t)got;
    }
    br_hmac_drbg_init(drbg, &br_sha256_vtable, seed, sizeof(seed));
    memset(seed, 0, sizeof(seed));
    return 0;
}

int ctls_p256_keygen(uint8_t secret[CTLS_P256_SECRET], uint8_t point[CTLS_P256_POINT]) {
    br_hmac_drbg_context drbg;
    if (seeded_drbg(&drbg) != 0) return -1;
    br_ec_private_key key;
    uint8_t buffer[BR_EC_KBUF_PRIV_MAX_SIZE];
    size_t length = br_ec_keygen(&drbg.vtable, ctls_p256(), &key, buffer, BR_EC_secp256r1);
    memset(&drbg, 0, sizeof(drbg));
    if (length != CTLS_P256_SECRET) return -1;
    memcpy(secret, key.x, CTLS_P256_SECRET);
    memset(buffer, 0, sizeof(buffer));
    return ctls_p256_point(secret, point);
}

int ctls_p256_point(const uint8_t secret[CTLS_P256_SECRET], uint8_t point[CTLS_P256_POINT]) {
    br_ec_private_key key = { BR_EC_secp256r1, (unsigned char *)secret, CTLS_P256_SECRET };
    uint8_t buffer[BR_EC_KBUF_PUB_MAX_SIZE];
    size_t length = br_ec_compute_pub(ctls_p256(), NULL, buffer, &key);
    if (length != CTLS_P256_POINT) return -1;
    memcpy(point, buffer, CTLS_P256_POINT);
    return 0;
}

size_t ctls_p256_sign(const uint8_t secret[CTLS_P256_SECRET], const uint8_t digest[32],
                      uint8_t signature[CTLS_P256_SIGNATURE_MAX]) {
    br_ec_private_key key = { BR_EC_secp256r1, (unsigned char *)secret, CTLS_P256_SECRET };
    return br_ecdsa_i31_sign_asn1(ctls_p256(), &br_sha256_vtable, digest, &key, signature);
}

int ctls_p256_verify(const uint8_t point[CTLS_P256_POINT], const uint8_t digest[32], const uint8_t *signature,
                     size_t length) {
    br_ec_public_key key = { BR_EC_secp256r1, (unsigned char *)point, CTLS_P256_POINT };
    return br_ecdsa_i31_vrfy_asn1(ctls_p256(), digest, 32, &key, signature, length) == 1;
}
