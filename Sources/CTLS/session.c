#include "ctls.h"
#include <bearssl.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

// tls.c: the one curve (BearSSL's type, so not in ctls.h, which Swift imports).
const br_ec_impl *ctls_p256(void);

// The X.509 "validator" of both ends: it accepts any chain whose first certificate holds a
// P-256 key and keeps that key. Trust is decided afterwards by its fingerprint (the client
// pins the board's; the agent looks the client's up in authorized_keys), the ssh way.
// BearSSL still makes the peer prove it holds the key: the server's ServerKeyExchange
// and the client's CertificateVerify are checked against it.
typedef struct {
    const br_x509_class *vtable;
    br_x509_decoder_context decoder;
    uint32_t depth;
    int error;
    int have_key;
    br_x509_pkey pkey;
    uint8_t point[CTLS_P256_POINT];
} key_capture;

static void capture_start_chain(const br_x509_class **context, const char *server_name) {
    (void)server_name;
    key_capture *capture = (key_capture *)(void *)context;
    capture->depth = 0;
    capture->error = 0;
    capture->have_key = 0;
}

static void capture_start_cert(const br_x509_class **context, uint32_t length) {
    (void)length;
    key_capture *capture = (key_capture *)(void *)context;
    if (capture->depth == 0) br_x509_decoder_init(&capture->decoder, NULL, NULL);
}

static void capture_append(const br_x509_class **context, const unsigned char *bytes, size_t length) {
    key_capture *capture = (key_capture *)(void *)context;
    if (capture->depth == 0) br_x509_decoder_push(&capture->decoder, bytes, length);
}

static void capture_end_cert(const br_x509_class **context) {
    key_capture *capture = (key_capture *)(void *)context;
    if (capture->depth++ != 0) return;
    br_x509_pkey *key = br_x509_decoder_get_pkey(&capture->decoder);
    if (key == NULL) {
        capture->error = br_x509_decoder_last_error(&capture->decoder);
        return;
    }
    if (key->key_type != BR_KEYTYPE_EC || key->key.ec.curve != BR_EC_secp256r1 || key->key.ec.qlen != CTLS_P256_POINT) {
        capture->error = BR_ERR_X509_WEAK_PUBLIC_KEY;
        return;
    }
    memcpy(capture->point, key->key.ec.q, CTLS_P256_POINT);
    capture->pkey.key_type = BR_KEYTYPE_EC;
    capture->pkey.key.ec.curve = BR_EC_secp256r1;
    capture->pkey.key.ec.q = capture->point;
    capture->pkey.key.ec.qlen = CTLS_P256_POINT;
    capture->have_key = 1;
}

static unsigned capture_end_chain(const br_x509_class **context) {
    key_capture *capture = (key_capture *)(void *)context;
    if (capture->error != 0) return (unsigned)capture->error;
    return capture->have_key ? 0 : BR_ERR_X509_EMPTY_CHAIN;
}

static const br_x509_pkey *capture_get_pkey(const br_x509_class *const *context, unsigned *usages) {
    key_capture *capture = (key_capture *)(void *)context;
    if (usages != NULL) *usages = BR_KEYTYPE_SIGN;
    return capture->have_key ? &capture->pkey : NULL;
}

static const br_x509_class key_capture_class = {
    sizeof(key_capture), capture_start_chain, capture_start_cert, capture_append,
    capture_end_cert, capture_end_chain, capture_get_pkey,
};

// One end of one connection: the engine, the key it captured, its own certificate and
// key (copied here, since BearSSL keeps pointers to them), and the record buffers.
struct ctls_session {
    union {
        br_ssl_server_context server;
        br_ssl_client_context client;
    } context;
    br_ssl_engine_context *engine;
    key_capture capture;
    br_x509_certificate chain;
    br_ec_private_key key;
    uint8_t certificate[CTLS_CERTIFICATE_MAX];
    uint8_t secret[CTLS_P256_SECRET];
    uint8_t buffer[BR_SSL_BUFSIZE_BIDI];
};

size_t ctls_session_size(void) { return sizeof(struct ctls_session); }

// TLS 1.2, ECDHE (P-256) with ECDSA, AEAD only: AES-128-GCM and ChaCha20-Poly1305, both
// with SHA-256 (no SHA-384 code). On x86_64 only the instruction-set code is linked: AES-NI
// with PCLMUL (AES-GCM is offered only where the CPU has them), SSE2 ChaCha20 and
// Poly1305 on 64-bit multiplies, which every x86_64 has. Elsewhere BearSSL's portable
// constant-time code, with ChaCha20 first (AES in software is several times slower).
static void configure(struct ctls_session *session, br_ssl_engine_context *engine) {
    static const uint16_t aes_first[] = {
        BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    };
    static const uint16_t chacha_first[] = {
        BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    };
    session->engine = engine;
    br_ssl_engine_set_versions(engine, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_ec(engine, ctls_p256());
    br_ssl_engine_set_hash(engine, br_sha256_ID, &br_sha256_vtable);
    br_ssl_engine_set_prf_sha256(engine, &br_tls12_sha256_prf);
    br_ssl_engine_set_ecdsa(engine, br_ecdsa_i31_vrfy_asn1);
#if defined(__x86_64__)
    br_ssl_engine_set_chacha20(engine, br_chacha20_sse2_get());
    br_ssl_engine_set_poly1305(engine, br_poly1305_ctmulq_get());
    br_ssl_engine_set_chapol(engine, &br_sslrec_in_chapol_vtable, &br_sslrec_out_chapol_vtable);
    const br_block_ctr_class *aes = br_aes_x86ni_ctr_get_vtable();
    if (aes != NULL && br_ghash_pclmul_get() != 0) {
        br_ssl_engine_set_aes_ctr(engine, aes);
        br_ssl_engine_set_ghash(engine, br_ghash_pclmul_get());
        br_ssl_engine_set_gcm(engine, &br_sslrec_in_gcm_vtable, &br_sslrec_out_gcm_vtable);
        br_ssl_engine_set_suites(engine, aes_first, 2);
    } else {
        br_ssl_engine_set_suites(engine, chacha_first, 1);
    }
#else
    br_ssl_engine_set_default_chapol(engine);
    br_ssl_engine_set_default_aes_gcm(engine);
    br_ssl_engine_set_suites(engine, chacha_first, 2);
#endif
    session->capture.vtable = &key_capture_class;
    br_ssl_engine_set_x509(engine, &session->capture.vtable);
    br_ssl_engine_set_buffer(engine, session->buffer, sizeof(session->buffer), 1);
}

// Our own certificate and key, copied into the session. 0, or -1 when it is too large.
static int keep_identity(struct ctls_session *session, const uint8_t *certificate, size_t length,
                         const uint8_t secret[CTLS_P256_SECRET]) {
    if (length > sizeof(session->certificate)) return -1;
    memcpy(session->certificate, certificate, length);
    memcpy(session->secret, secret, CTLS_P256_SECRET);
    session->chain.data = session->certificate;
    session->chain.data_len = length;
    session->key.curve = BR_EC_secp256r1;
    session->key.x = session->secret;
    session->key.xlen = CTLS_P256_SECRET;
    return 0;
}

// The names a CertificateRequest carries; clients send their key whatever they are (a
// DER Name: CN=dbg).
static const unsigned char client_ca_name[] = {
    0x30, 0x0e, 0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, 'd', 'b', 'g',
};
static const br_x500_name client_ca_names[] = { { (unsigned char *)client_ca_name, sizeof(client_ca_name) } };

int ctls_server_start(struct ctls_session *session, const uint8_t *certificate, size_t length,
                      const uint8_t secret[CTLS_P256_SECRET]) {
    br_ssl_server_context *server = &session->context.server;
    br_ssl_server_zero(server);
    configure(session, &server->eng);
    if (keep_identity(session, certificate, length, secret) != 0) return -1;
    br_ssl_server_set_single_ec(server, &session->chain, 1, &session->key, BR_KEYTYPE_SIGN, BR_KEYTYPE_EC,
                                ctls_p256(), br_ecdsa_i31_sign_asn1);
    // A client key is asked for and optional: without one, the password logs in.
    br_ssl_server_set_trust_anchor_names(server, client_ca_names, 1);
    br_ssl_engine_add_flags(&server->eng, BR_OPT_TOLERATE_NO_CLIENT_AUTH | BR_OPT_NO_RENEGOTIATION
                                              | BR_OPT_ENFORCE_SERVER_PREFERENCES);
    return br_ssl_server_reset(server) ? 0 : -1;
}

int ctls_client_start(struct ctls_session *session, const uint8_t *certificate, size_t length,
                      const uint8_t *secret) {
    br_ssl_client_context *client = &session->context.client;
    br_ssl_client_zero(client);
    configure(session, &client->eng);
    br_ssl_engine_add_flags(&client->eng, BR_OPT_NO_RENEGOTIATION);
    if (certificate != NULL && secret != NULL) {
        if (keep_identity(session, certificate, length, secret) != 0) return -1;
        br_ssl_client_set_single_ec(client, &session->chain, 1, &session->key, BR_KEYTYPE_SIGN, BR_KEYTYPE_EC,
                                    ctls_p256(), br_ecdsa_i31_sign_asn1);
    }
    return br_ssl_client_reset(client, NULL, 0) ? 0 : -1;
}

unsigned ctls_state(struct ctls_session *session) { return br_ssl_engine_current_state(session->engine); }

int ctls_error(struct ctls_session *session) { return br_ssl_engine_last_error(session->engine); }

uint8_t *ctls_sendrec(struct ctls_session *session, size_t *length) {
    return br_ssl_engine_sendrec_buf(session->engine, length);
}
void ctls_sendrec_ack(struct ctls_session *session, size_t length) { br_ssl_engine_sendrec_ack(session->engine, length); }

uint8_t *ctls_recvrec(struct ctls_session *session, size_t *length) {
    return br_ssl_engine_recvrec_buf(session->engine, length);
}
void ctls_recvrec_ack(struct ctls_session *session, size_t length) { br_ssl_engine_recvrec_ack(session->engine, length); }

uint8_t *ctls_sendapp(struct ctls_session *session, size_t *length) {
    return br_ssl_engine_sendapp_buf(session->engine, length);
}
void ctls_sendapp_ack(struct ctls_session *session, size_t length) { br_ssl_engine_sendapp_ack(session->engine, length); }

uint8_t *ctls_recvapp(struct ctls_session *session, size_t *length) {
    return br_ssl_engine_recvapp_buf(session->engine, length);
}
void ctls_recvapp_ack(struct ctls_session *session, size_t length) { br_ssl_engine_recvapp_ack(session->engine, length); }

void ctls_flush(struct ctls_session *session) { br_ssl_engine_flush(session->engine, 0); }

void ctls_close(struct ctls_session *session) { br_ssl_engine_close(session->engine); }

int ctls_peer_key(struct ctls_session *session, uint8_t point[CTLS_P256_POINT]) {
    if (!session->capture.have_key) return 0;
    memcpy(point, session->capture.point, CTLS_P256_POINT);
    return 1;
}

uint16_t ctls_cipher_suite(struct ctls_session *session) { return session->engine->session.cipher_suite; }

const char *ctls_error_message(int error) {
    switch (error) {
    case BR_ERR_OK: return "closed";
    case BR_ERR_BAD_VERSION: return "the peer does not speak TLS 1.2";
    case BR_ERR_BAD_CIPHER_SUITE: return "no cipher suite in common (ECDHE-ECDSA with AES-GCM or ChaCha20-Poly1305)";
    case BR_ERR_NO_CLIENT_AUTH: return "the handshake was refused";
    case BR_ERR_BAD_PARAM: case BR_ERR_BAD_LENGTH: case BR_ERR_TOO_LARGE: case BR_ERR_UNEXPECTED:
    case BR_ERR_BAD_HANDSHAKE: case BR_ERR_BAD_SNI: case BR_ERR_OVERSIZED_ID: case BR_ERR_BAD_CCS:
    case BR_ERR_BAD_FRAGLEN: case BR_ERR_BAD_SECRENEG: case BR_ERR_EXTRA_EXTENSION: case BR_ERR_BAD_HELLO_DONE:
        return "not a TLS peer, or a malformed handshake";
    case BR_ERR_BAD_MAC: return "a record failed its integrity check";
    case BR_ERR_NO_RANDOM: return "no randomness";
    case BR_ERR_UNKNOWN_TYPE: return "unknown record type";
    case BR_ERR_BAD_SIGNATURE: return "the peer's signature does not match its key";
    case BR_ERR_WRONG_KEY_USAGE: case BR_ERR_X509_WEAK_PUBLIC_KEY: return "the peer's key is not a P-256 key";
    case BR_ERR_X509_EMPTY_CHAIN: return "the peer sent no certificate";
    case BR_ERR_LIMIT_EXCEEDED: return "the handshake exceeded a limit";
    case BR_ERR_IO: return "I/O error";
    default:
        if (error >= BR_ERR_RECV_FATAL_ALERT && error < BR_ERR_RECV_FATAL_ALERT + 256) return "the peer sent a fatal alert";
        if (error >= BR_ERR_SEND_FATAL_ALERT && error < BR_ERR_SEND_FATAL_ALERT + 256) return "the handshake failed (alert sent)";
        if (error >= 32 && error < 64) return "the peer's certificate is malformed";
        return "TLS error";
    }
}

// Kernel TLS (Linux kTLS): the session's keys and sequence numbers handed to the kernel,
// which then encrypts and decrypts the records of the socket itself (and so takes
// splice and sendfile). The kernel's structures, as its uapi linux/tls.h defines them
// (the musl build has no kernel headers).
enum {
    KTLS_SOL_TLS = 282,
    KTLS_TX = 1,
    KTLS_RX = 2,
    KTLS_TCP_ULP = 31,
    KTLS_VERSION_1_2 = 0x0303,
    KTLS_CIPHER_AES_GCM_128 = 51,
    KTLS_CIPHER_CHACHA20_POLY1305 = 54,
};

struct ktls_aes_gcm_128 {
    uint16_t version, cipher_type;
    uint8_t iv[8], key[16], salt[4], rec_seq[8];
};

struct ktls_chacha20_poly1305 {
    uint16_t version, cipher_type;
    uint8_t iv[12], key[32], rec_seq[8];
};

static void big_endian64(uint8_t out[8], uint64_t value) {
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)value;
        value >>= 8;
    }
}

int ctls_kernel_offload(struct ctls_session *session, int fd, int server) {
    br_ssl_engine_context *engine = session->engine;
    uint16_t suite = engine->session.cipher_suite;
    int gcm = suite == BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
    if (!gcm && suite != BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256) return -1;
    // RFC 5246 6.3: key_block = PRF(master_secret, "key expansion", server_random +
    // client_random); AEAD suites have no MAC keys: the client's key, the server's, the
    // client's IV, the server's.
    size_t key_length = gcm ? 16 : 32, iv_length = gcm ? 4 : 12;
    uint8_t block[2 * 32 + 2 * 12];
    br_tls_prf_seed_chunk seed[2] = {
        { engine->server_random, sizeof(engine->server_random) },
        { engine->client_random, sizeof(engine->client_random) },
    };
    br_tls12_sha256_prf(block, 2 * (key_length + iv_length), engine->session.master_secret,
                        sizeof(engine->session.master_secret), "key expansion", 2, seed);
    const uint8_t *client_key = block, *server_key = block + key_length;
    const uint8_t *client_iv = block + 2 * key_length, *server_iv = client_iv + iv_length;
    const uint8_t *tx_key = server ? server_key : client_key, *rx_key = server ? client_key : server_key;
    const uint8_t *tx_iv = server ? server_iv : client_iv, *rx_iv = server ? client_iv : server_iv;
    uint64_t tx_seq = gcm ? engine->out.gcm.seq : engine->out.chapol.seq;
    uint64_t rx_seq = gcm ? engine->in.gcm.seq : engine->in.chapol.seq;
    if (setsockopt(fd, IPPROTO_TCP, KTLS_TCP_ULP, "tls", sizeof("tls")) != 0) {
        memset(block, 0, sizeof(block));
        return -1;  // the socket is as it was
    }
    int failed;
    if (gcm) {
        struct ktls_aes_gcm_128 tx = { KTLS_VERSION_1_2, KTLS_CIPHER_AES_GCM_128 }, rx = tx;
        memcpy(tx.key, tx_key, 16);
        memcpy(tx.salt, tx_iv, 4);
        big_endian64(tx.rec_seq, tx_seq);
        big_endian64(tx.iv, tx_seq);  // the explicit nonce: BearSSL's is the sequence number too
        memcpy(rx.key, rx_key, 16);
        memcpy(rx.salt, rx_iv, 4);
        big_endian64(rx.rec_seq, rx_seq);
        failed = setsockopt(fd, KTLS_SOL_TLS, KTLS_TX, &tx, sizeof(tx))
              || setsockopt(fd, KTLS_SOL_TLS, KTLS_RX, &rx, sizeof(rx));
        memset(&tx, 0, sizeof(tx));
        memset(&rx, 0, sizeof(rx));
    } else {
        struct ktls_chacha20_poly1305 tx = { KTLS_VERSION_1_2, KTLS_CIPHER_CHACHA20_POLY1305 }, rx = tx;
        memcpy(tx.key, tx_key, 32);
        memcpy(tx.iv, tx_iv, 12);
        big_endian64(tx.rec_seq, tx_seq);
        memcpy(rx.key, rx_key, 32);
        memcpy(rx.iv, rx_iv, 12);
        big_endian64(rx.rec_seq, rx_seq);
        failed = setsockopt(fd, KTLS_SOL_TLS, KTLS_TX, &tx, sizeof(tx))
              || setsockopt(fd, KTLS_SOL_TLS, KTLS_RX, &rx, sizeof(rx));
        memset(&tx, 0, sizeof(tx));
        memset(&rx, 0, sizeof(rx));
    }
    memset(block, 0, sizeof(block));
    // With the ULP attached but without both directions' keys, the socket can carry
    // neither the kernel's records nor BearSSL's reliably.
    return failed ? -2 : 0;
}
