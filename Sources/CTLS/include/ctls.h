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

// TLS sessions (session.c): TLS 1.2, ECDHE-ECDSA on P-256, AES-128-GCM or ChaCha20-Poly1305.
// A session lives in caller-provided memory of ctls_session_size() bytes (8-aligned),
// records buffers included, so the agent carves them from its budget. Its engine is
// driven by the caller: the CTLS_* state bits say what it can take or give, and the
// buffer calls hand out the bytes (BearSSL's sendrec/recvrec/sendapp/recvapp).
struct ctls_session;

enum {
    // Our certificate (KeyCertificate) is about 300 bytes.
    CTLS_CERTIFICATE_MAX = 1024,
    CTLS_CLOSED = 0x0001,
    CTLS_SENDREC = 0x0002,
    CTLS_RECVREC = 0x0004,
    CTLS_SENDAPP = 0x0008,
    CTLS_RECVAPP = 0x0010,
};

size_t ctls_session_size(void);

// The agent's side: presents `certificate` (DER) signed by `secret`; asks for a client
// key but goes on without one. 0, or -1.
int ctls_server_start(struct ctls_session *session, const uint8_t *certificate, size_t length,
                      const uint8_t secret[CTLS_P256_SECRET]);

// The client's side; `certificate` and `secret` (both or neither) are its key. 0, or -1.
int ctls_client_start(struct ctls_session *session, const uint8_t *certificate, size_t length,
                      const uint8_t *secret);

unsigned ctls_state(struct ctls_session *session);
// BearSSL's error code once the state is CTLS_CLOSED (0: closed normally).
int ctls_error(struct ctls_session *session);
const char *ctls_error_message(int error);

uint8_t *ctls_sendrec(struct ctls_session *session, size_t *length);
void ctls_sendrec_ack(struct ctls_session *session, size_t length);
uint8_t *ctls_recvrec(struct ctls_session *session, size_t *length);
void ctls_recvrec_ack(struct ctls_session *session, size_t length);
uint8_t *ctls_sendapp(struct ctls_session *session, size_t *length);
void ctls_sendapp_ack(struct ctls_session *session, size_t length);
uint8_t *ctls_recvapp(struct ctls_session *session, size_t *length);
void ctls_recvapp_ack(struct ctls_session *session, size_t length);
// Sends the application data buffered so far as a record now.
void ctls_flush(struct ctls_session *session);
// Starts the closing exchange (close_notify).
void ctls_close(struct ctls_session *session);

// The peer's P-256 public point, once its certificate has been read: 1, or 0 when it
// sent none. The peer has proved it holds the key once the handshake is over.
int ctls_peer_key(struct ctls_session *session, uint8_t point[CTLS_P256_POINT]);
// Kernel TLS: hands the session's keys and sequence numbers to the kernel for socket `fd`
// (TCP_ULP "tls", then TLS_TX and TLS_RX), which then does the records itself. Only right
// after the handshake, with nothing left in the engine's buffers. `server`: 1 on the
// agent's side. 0; -1 when the socket is unchanged (no kTLS here, or a suite the kernel
// does not take), so BearSSL goes on; -2 (errno set) when the kernel took the ULP but not
// the keys: the connection cannot go on.
int ctls_kernel_offload(struct ctls_session *session, int fd, int server);
// The negotiated cipher suite (its IANA number).
uint16_t ctls_cipher_suite(struct ctls_session *session);

#endif
