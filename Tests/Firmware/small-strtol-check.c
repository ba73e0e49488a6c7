// Compares the firmware's strtol family (Sources/CSys/firmware/small-strtol.c, compiled
// with its symbols renamed lite_*) with glibc's: value, errno and end pointer, for the
// edge cases by hand and for 200,000 generated strings in every base.
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned long long lite_strtoull(const char *, char **, int);
long long lite_strtoll(const char *, char **, int);
unsigned long lite_strtoul(const char *, char **, int);
long lite_strtol(const char *, char **, int);
uintmax_t lite_strtoumax(const char *, char **, int);
intmax_t lite_strtoimax(const char *, char **, int);

static int checks, failures;

// One function pair on one input: the same value, errno and end. An invalid base leaves
// glibc's end pointer alone, so the end is compared only for valid bases.
#define COMPARE(mine, theirs, text, base, format)                                                   \
    do {                                                                                            \
        char *end_a = (char *)text, *end_b = (char *)text;                                          \
        errno = 0;                                                                                  \
        __typeof__(theirs(text, &end_b, base)) a = mine(text, &end_a, base);                       \
        int errno_a = errno;                                                                        \
        errno = 0;                                                                                  \
        __typeof__(a) b = theirs(text, &end_b, base);                                               \
        int errno_b = errno;                                                                        \
        checks++;                                                                                   \
        int valid = base == 0 || (base >= 2 && base <= 36);                                         \
        if (a != b || errno_a != errno_b || (valid && end_a != end_b)) {                            \
            if (failures++ < 20)                                                                    \
                printf("%s(\"%s\", %d): mine " format " errno %d end +%td; glibc " format           \
                       " errno %d end +%td\n", #theirs, text, base, a, errno_a, end_a - text, b,   \
                       errno_b, end_b - text);                                                      \
        }                                                                                           \
    } while (0)

static void check(const char *text, int base) {
    COMPARE(lite_strtoull, strtoull, text, base, "%llu");
    COMPARE(lite_strtoll, strtoll, text, base, "%lld");
    COMPARE(lite_strtoul, strtoul, text, base, "%lu");
    COMPARE(lite_strtol, strtol, text, base, "%ld");
    COMPARE(lite_strtoumax, strtoumax, text, base, "%ju");
    COMPARE(lite_strtoimax, strtoimax, text, base, "%jd");
}

int main(void) {
    static const char *const cases[] = {
        "", " ", "-", "+", "0", "-0", "+0", "00", "5000", "rounds=5000$", "  \t\n\v\f\r42x", "- 1", "+-1",
        "0x", "0X", "0x1g", "0xg", "-0x", "0x7fffffffffffffff", "0x8000000000000000", "0xffffffffffffffff",
        "0x10000000000000000", "-0x8000000000000000", "-0x8000000000000001", "-0xffffffffffffffff",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "-18446744073709551615", "-18446744073709551616",
        "99999999999999999999999999999999x", "-99999999999999999999999999999999", "0777", "0778", "08",
        "1z", "zz", "ZZ", "z", "1010b", "0b101", "7fffffff", "00000000000000000000000000000000001",
    };
    static const int bases[] = {0, 2, 8, 10, 16, 36, 1, -1, 37};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t j = 0; j < sizeof bases / sizeof bases[0]; j++) check(cases[i], bases[j]);

    // Generated strings over the characters that matter, from a fixed seed.
    static const char alphabet[] = " \t+-0000111789aAfFgxXzZ$";
    unsigned state = 12345;
    for (int n = 0; n < 200000; n++) {
        char text[32];
        state = state * 1103515245u + 12345u;
        size_t length = (state >> 16) % 31;
        for (size_t i = 0; i < length; i++) {
            state = state * 1103515245u + 12345u;
            text[i] = alphabet[(state >> 16) % (sizeof alphabet - 1)];
        }
        text[length] = 0;
        state = state * 1103515245u + 12345u;
        check(text, (int)((state >> 16) % 38));
    }
    printf("%d checks, %d differ from glibc\n", checks, failures);
    return failures != 0;
}
