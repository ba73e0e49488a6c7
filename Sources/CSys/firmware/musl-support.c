#define _GNU_SOURCE 1
// Symbols the static musl firmware needs that musl 1.2.3 does not provide.
// Only the CMake firmware build compiles this file; glibc has all of them.
#include <stddef.h>
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
