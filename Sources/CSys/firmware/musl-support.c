// Symbols the static musl firmware needs that musl 1.2.3 does not provide.
// Only the CMake firmware build compiles this file; glibc has all of them.
#include <stddef.h>
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
