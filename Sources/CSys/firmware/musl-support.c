#define _GNU_SOURCE 1
// Symbols the static musl firmware needs that musl 1.2.3 does not provide.
// Only the CMake firmware build compiles this file; glibc has all of them.
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

// Embedded Swift seeds Hasher (any Dictionary or Set) and .random() from it.
void arc4random_buf(void *buffer, size_t count) {
    unsigned char *p = buffer;
    while (count > 0) {
        ssize_t got = getrandom(p, count, 0);
        if (got > 0) {
            p += got;
            count -= (size_t)got;
        }
    }
}

// Debian's libcrypt.a is built against glibc with _FORTIFY_SOURCE, so it calls the
// checking variants of these two; musl has only the plain ones.
void __explicit_bzero_chk(void *buffer, size_t count, size_t buffer_size) {
    (void)buffer_size;
    explicit_bzero(buffer, count);
}

int __snprintf_chk(char *out, size_t max, int flag, size_t out_size, const char *format, ...) {
    (void)flag;
    (void)out_size;
    va_list args;
    va_start(args, format);
    int n = vsnprintf(out, max, format, args);
    va_end(args);
    return n;
}

// Debian's libbearssl.a is built with _FORTIFY_SOURCE too: the checking copies, which
// trap instead of writing past the destination, as glibc's do.
void *__memcpy_chk(void *to, const void *from, size_t count, size_t to_size) {
    if (count > to_size) __builtin_trap();
    return memcpy(to, from, count);
}

void *__memmove_chk(void *to, const void *from, size_t count, size_t to_size) {
    if (count > to_size) __builtin_trap();
    return memmove(to, from, count);
}

void *__memset_chk(void *to, int byte, size_t count, size_t to_size) {
    if (count > to_size) __builtin_trap();
    return memset(to, byte, count);
}
