// Streaming decompression for distro Install and flashing: gzip (zlib), xz (liblzma) and zstd
// (libzstd), chosen by the stream's first bytes. The libraries' own headers stay in this
// file; Swift sees only csys_decoder_*. A format built without (DBG_NO_GZIP, DBG_NO_XZ,
// DBG_NO_ZSTD: CMakeLists.txt) is still recognised, and refused by name.
#include "decompress.h"
#include <stdlib.h>
#include <string.h>
#ifndef DBG_NO_GZIP
#include <zlib.h>
#endif
#ifndef DBG_NO_XZ
#include <lzma.h>
#endif
#ifndef DBG_NO_ZSTD
#include <zstd.h>
#endif

struct csys_decoder {
    int format;
    int started;  // gzip: a member is being decoded (several may follow each other)
#ifndef DBG_NO_GZIP
    z_stream gzip;
#endif
#ifndef DBG_NO_XZ
    lzma_stream xz;
#endif
#ifndef DBG_NO_ZSTD
    ZSTD_DStream *zstd;
#endif
    char message[128];
};

int csys_decoder_detect(const void *bytes, size_t length) {
    const unsigned char *b = bytes;
    if (length >= 2 && b[0] == 0x1f && b[1] == 0x8b) return CSYS_FORMAT_GZIP;
    if (length >= 6 && memcmp(b, "\xfd" "7zXZ\0", 6) == 0) return CSYS_FORMAT_XZ;
    if (length >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) return CSYS_FORMAT_ZSTD;
    return CSYS_FORMAT_PLAIN;
}

const char *csys_decoder_missing(int format) {
    switch (format) {
#ifdef DBG_NO_GZIP
    case CSYS_FORMAT_GZIP: return "this dbgd was built without gzip (DBG_GZIP=OFF)";
#endif
#ifdef DBG_NO_XZ
    case CSYS_FORMAT_XZ: return "this dbgd was built without xz (DBG_XZ=OFF)";
#endif
#ifdef DBG_NO_ZSTD
    case CSYS_FORMAT_ZSTD: return "this dbgd was built without zstd (DBG_ZSTD=OFF)";
#endif
    default: return NULL;
    }
}

static void set_message(struct csys_decoder *d, const char *text) {
    size_t length = strlen(text);
    if (length >= sizeof(d->message)) length = sizeof(d->message) - 1;
    memcpy(d->message, text, length);
    d->message[length] = 0;
}

struct csys_decoder *csys_decoder_new(int format, uint64_t memory_limit) {
    struct csys_decoder *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    d->format = format;
    switch (format) {
#ifndef DBG_NO_GZIP
    case CSYS_FORMAT_GZIP:
        break;  // inflateInit2 at the start of each member
#endif
#ifndef DBG_NO_XZ
    case CSYS_FORMAT_XZ: {
        lzma_stream init = LZMA_STREAM_INIT;
        d->xz = init;
        if (lzma_stream_decoder(&d->xz, memory_limit, LZMA_CONCATENATED) != LZMA_OK) {
            free(d);
            return NULL;
        }
        break;
    }
#endif
#ifndef DBG_NO_ZSTD
    case CSYS_FORMAT_ZSTD: {
        d->zstd = ZSTD_createDStream();
        int window_log = 10;
        while (window_log < 31 && ((uint64_t)1 << (window_log + 1)) <= memory_limit) window_log++;
        if (!d->zstd || ZSTD_isError(ZSTD_DCtx_setParameter(d->zstd, ZSTD_d_windowLogMax, window_log))) {
            if (d->zstd) ZSTD_freeDStream(d->zstd);
            free(d);
            return NULL;
        }
        break;
    }
#endif
    default:
        free(d);
        return NULL;
    }
    return d;
}

void csys_decoder_free(struct csys_decoder *d) {
    if (!d) return;
#ifndef DBG_NO_GZIP
    if (d->format == CSYS_FORMAT_GZIP && d->started) inflateEnd(&d->gzip);
#endif
#ifndef DBG_NO_XZ
    if (d->format == CSYS_FORMAT_XZ) lzma_end(&d->xz);
#endif
#ifndef DBG_NO_ZSTD
    if (d->format == CSYS_FORMAT_ZSTD) ZSTD_freeDStream(d->zstd);
#endif
    free(d);
}

const char *csys_decoder_message(const struct csys_decoder *d) { return d->message; }

#ifndef DBG_NO_GZIP
static int run_gzip(struct csys_decoder *d, const unsigned char *in, size_t in_length, size_t *consumed,
                    unsigned char *out, size_t out_length, size_t *produced) {
    if (!d->started) {
        memset(&d->gzip, 0, sizeof(d->gzip));
        if (inflateInit2(&d->gzip, 16 + MAX_WBITS) != Z_OK) {
            set_message(d, "cannot start the gzip decoder");
            return CSYS_DECODE_ERROR;
        }
        d->started = 1;
    }
    d->gzip.next_in = (unsigned char *)in;
    d->gzip.avail_in = (uInt)(in_length > 0x40000000 ? 0x40000000 : in_length);
    d->gzip.next_out = out;
    d->gzip.avail_out = (uInt)(out_length > 0x40000000 ? 0x40000000 : out_length);
    uInt offered_in = d->gzip.avail_in, offered_out = d->gzip.avail_out;
    int status = inflate(&d->gzip, Z_NO_FLUSH);
    *consumed = offered_in - d->gzip.avail_in;
    *produced = offered_out - d->gzip.avail_out;
    if (status == Z_STREAM_END) {
        // A member ended; another may follow (gzip files may be concatenated).
        inflateEnd(&d->gzip);
        d->started = 0;
        return CSYS_DECODE_MEMBER_END;
    }
    if (status == Z_OK || status == Z_BUF_ERROR) return CSYS_DECODE_OK;
    set_message(d, d->gzip.msg ? d->gzip.msg : "corrupt gzip data");
    return CSYS_DECODE_ERROR;
}
#endif

#ifndef DBG_NO_XZ
static int run_xz(struct csys_decoder *d, const unsigned char *in, size_t in_length, size_t *consumed,
                  unsigned char *out, size_t out_length, size_t *produced, int finish) {
    d->xz.next_in = in;
    d->xz.avail_in = in_length;
    d->xz.next_out = out;
    d->xz.avail_out = out_length;
    lzma_ret status = lzma_code(&d->xz, finish ? LZMA_FINISH : LZMA_RUN);
    *consumed = in_length - d->xz.avail_in;
    *produced = out_length - d->xz.avail_out;
    switch (status) {
    case LZMA_OK:
    case LZMA_BUF_ERROR:
        if (status == LZMA_BUF_ERROR && finish) {
            set_message(d, "the xz data ends early");
            return CSYS_DECODE_ERROR;
        }
        return CSYS_DECODE_OK;
    case LZMA_STREAM_END: return CSYS_DECODE_END;
    case LZMA_MEMLIMIT_ERROR: set_message(d, "the xz data needs more memory than the agent allows"); break;
    case LZMA_FORMAT_ERROR: set_message(d, "not xz data"); break;
    case LZMA_OPTIONS_ERROR: set_message(d, "unsupported xz options"); break;
    case LZMA_DATA_ERROR: set_message(d, "corrupt xz data"); break;
    default: set_message(d, "xz decoding failed"); break;
    }
    return CSYS_DECODE_ERROR;
}
#endif

#ifndef DBG_NO_ZSTD
static int run_zstd(struct csys_decoder *d, const unsigned char *in, size_t in_length, size_t *consumed,
                    unsigned char *out, size_t out_length, size_t *produced) {
    ZSTD_inBuffer input = { in, in_length, 0 };
    ZSTD_outBuffer output = { out, out_length, 0 };
    size_t status = ZSTD_decompressStream(d->zstd, &output, &input);
    *consumed = input.pos;
    *produced = output.pos;
    if (ZSTD_isError(status)) {
        set_message(d, ZSTD_getErrorName(status));
        return CSYS_DECODE_ERROR;
    }
    // 0: a frame is complete; further frames may follow.
    return status == 0 ? CSYS_DECODE_MEMBER_END : CSYS_DECODE_OK;
}
#endif

int csys_decoder_run(struct csys_decoder *d, const void *in, size_t in_length, size_t *consumed,
                     void *out, size_t out_length, size_t *produced, int finish) {
    *consumed = 0;
    *produced = 0;
    switch (d->format) {
#ifndef DBG_NO_GZIP
    case CSYS_FORMAT_GZIP: return run_gzip(d, in, in_length, consumed, out, out_length, produced);
#endif
#ifndef DBG_NO_XZ
    case CSYS_FORMAT_XZ: return run_xz(d, in, in_length, consumed, out, out_length, produced, finish);
#endif
#ifndef DBG_NO_ZSTD
    case CSYS_FORMAT_ZSTD: return run_zstd(d, in, in_length, consumed, out, out_length, produced);
#endif
    default: (void)finish; set_message(d, "unknown format"); return CSYS_DECODE_ERROR;
    }
}
