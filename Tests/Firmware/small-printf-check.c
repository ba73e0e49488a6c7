// Compares the firmware's snprintf (Sources/CSys/firmware/small-printf.c, compiled with
// its symbols renamed lite_*) with glibc's, conversion by conversion, at buffer sizes
// that cut the output short. With the argument "float" it asks for a conversion the
// firmware's does not have, which must stop the process.
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

int lite_snprintf(char *out, size_t size, const char *format, ...);

static int checks, failures;

#define CHECK(...)                                                                          \
    do {                                                                                    \
        size_t sizes[] = {0, 1, 5, 96};                                                     \
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {                       \
            char mine[96], theirs[96];                                                      \
            memset(mine, '#', sizeof mine);                                                 \
            memset(theirs, '#', sizeof theirs);                                             \
            int a = lite_snprintf(sizes[i] ? mine : NULL, sizes[i], __VA_ARGS__);           \
            int b = snprintf(sizes[i] ? theirs : NULL, sizes[i], __VA_ARGS__);              \
            checks++;                                                                       \
            if (a != b || memcmp(mine, theirs, sizeof mine) != 0) {                         \
                failures++;                                                                 \
                printf("differs at size %zu: %s\n  mine:  %d \"%.*s\"\n  glibc: %d \"%.*s\"\n", \
                       sizes[i], #__VA_ARGS__, a, (int)sizeof mine, mine, b, (int)sizeof theirs, theirs); \
            }                                                                               \
        }                                                                                   \
    } while (0)

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "float") == 0) {
        char buffer[16];
        lite_snprintf(buffer, sizeof buffer, "%f", 1.5);
        return 0;  // not reached: the firmware's snprintf aborts
    }
    // The callers in the firmware: musl's inet_ntop, ptsname_r, pthread_setname_np, libxcrypt.
    CHECK("%d.%d.%d.%d", 192, 168, 0, 255);
    CHECK("%x:%x:%x:%x:%x:%x:%x:%x", 0x2001, 0xdb8, 0, 0, 0, 0xff00, 0x42, 0x8329);
    CHECK("/dev/pts/%d", 7);
    CHECK("/proc/self/task/%d/comm", 12345);
    CHECK("%s%zu$", "rounds=", (size_t)5000);
    CHECK("$%c$rounds=%lu$", '6', 9999999UL);
    CHECK("%.*s%s%lu", 3, "abcdef", "x", 1UL);
    CHECK("%s%lu$%.*s$", "$sha1$", 480000UL, 8, "saltsaltsalt");
    CHECK("%s,rounds=%lu$", "$md5", 0UL);
    // Every length and the limits of each type.
    CHECK("%d %i %u %d", INT_MIN, INT_MAX, UINT_MAX, 0);
    CHECK("%ld %lu %lld %llu", LONG_MIN, ULONG_MAX, LLONG_MIN, ULLONG_MAX);
    CHECK("%hhd %hhu %hd %hu %hhx", 300, 300, 70000, 70000, -1);
    CHECK("%jd %ju %zd %td %zu %tu", INTMAX_MIN, UINTMAX_MAX, (ssize_t)-5, (ptrdiff_t)-7, SIZE_MAX, (ptrdiff_t)9);
    // Flags, width and precision.
    CHECK("[%5d] [%-5d] [%05d] [%+d] [% d] [%+05d] [%-+6d]", 42, 42, 42, 42, 42, -42, 3);
    CHECK("[%.3d] [%.0d] [%.0u] [%5.3d] [%-8.3x] [%08.3u] [%.d]", 7, 0, 0, -7, 0xab, 5, 0);
    CHECK("[%#x] [%#X] [%#o] [%#o] [%#.3o] [%#x] [%#08x] [%#-8o]", 255, 255, 8, 0, 8, 0, 255, 8);
    CHECK("[%o] [%X] [%lx] [%llo]", 511, 0xBEEF, 0xdeadbeefcafeUL, 0777ULL);
    CHECK("[%*d] [%-*d] [%*d] [%.*d] [%.*d] [%*.*u]", 6, 1, 6, 2, -6, 3, 4, 5, -1, 6, 7, 3, 8);
    CHECK("[%c] [%3c] [%-3c] [%c]", 'a', 'b', 'c', 0xe9);
    CHECK("[%s] [%10s] [%-10s] [%.2s] [%5.1s] [%.0s] [%s]", "hello", "hi", "hi", "hello", "xyz", "gone", "");
    CHECK("100%% sure, %s%%", "yes");
    CHECK("no conversion at all, and longer than the smaller buffers");
    CHECK("%s", "");
    printf("small-printf: %d checks, %d differ from glibc\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
