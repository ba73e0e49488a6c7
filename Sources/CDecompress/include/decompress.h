// Streaming decompression for distro Install and flashing (decompress.c). A target of its own, apart
// from CSys, so that only the agent links zlib, liblzma and libzstd: the client shares
// CSys and needs none of them.
#ifndef CDECOMPRESS_H
#define CDECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

// The format is told by the first
// bytes; a decoder turns input into output step by step.
enum {
    CSYS_FORMAT_PLAIN = 0,
    CSYS_FORMAT_GZIP = 1,
    CSYS_FORMAT_XZ = 2,
    CSYS_FORMAT_ZSTD = 3,
};
enum {
    CSYS_DECODE_OK = 0,
    // A gzip member or zstd frame ended: the stream may end here, or another may follow.
    CSYS_DECODE_MEMBER_END = 1,
    // The stream ended (xz, which reads concatenated streams itself).
    CSYS_DECODE_END = 2,
    CSYS_DECODE_ERROR = -1,
};
struct csys_decoder;
int csys_decoder_detect(const void *bytes, size_t length);
// Why this build cannot decode the format (left out by a build switch), or NULL.
const char *csys_decoder_missing(int format);
// NULL when the format is unknown or memory is short. `memory_limit` bounds the
// decoder's window (xz, zstd).
struct csys_decoder *csys_decoder_new(int format, uint64_t memory_limit);
// Decodes what fits; `finish`: no more input will come (xz then reports data that ends
// early). Returns a CSYS_DECODE_* value; on an error, csys_decoder_message says why.
int csys_decoder_run(struct csys_decoder *d, const void *in, size_t in_length, size_t *consumed,
                     void *out, size_t out_length, size_t *produced, int finish);
const char *csys_decoder_message(const struct csys_decoder *d);
void csys_decoder_free(struct csys_decoder *d);

#endif
