// strtol and its kin for the firmware, without musl's stdio-based scanner.
//
// musl's strtol.c reads through __intscan and a FILE shim (2 KB). Its users here are
// libxcrypt ("rounds=" in sha256crypt, sha512crypt and sha1crypt settings) and, in builds
// with the resolver, musl's resolv.conf, service and IPv6 scope parsers. This file defines
// every public name of musl's strtol.o and comes before libc.a on the link line, so that
// object is never pulled in. The firmware's CPUs are LP64: long is long long, and
// intmax_t is long. Tests/Firmware/small-strtol-check.c compares it with glibc.
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

_Static_assert(sizeof(long) == sizeof(long long), "an LP64 CPU");
_Static_assert(sizeof(intmax_t) == sizeof(long), "an LP64 CPU");

typedef struct {
    unsigned long long magnitude;  // saturated at ULLONG_MAX on overflow
    int negative;
    int overflow;
} Scanned;

static int digit_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return 99;
}

// The C standard's subject sequence: spaces, a sign, a base prefix, digits. `*end` is
// set past the last digit, or to `text` when there are none (or the base is invalid).
static Scanned scan(const char *text, char **end, int base) {
    Scanned result = {0, 0, 0};
    const unsigned char *s = (const unsigned char *)text;
    if (end) *end = (char *)text;
    if (base < 0 || base == 1 || base > 36) {
        errno = EINVAL;
        return result;
    }
    while (*s == ' ' || (*s >= '\t' && *s <= '\r')) s++;
    if (*s == '+' || *s == '-') result.negative = *s++ == '-';
    if ((base == 0 || base == 16) && s[0] == '0' && (s[1] | 0x20) == 'x' && digit_value(s[2]) < 16) {
        s += 2;
        base = 16;
    } else if (base == 0) {
        base = s[0] == '0' ? 8 : 10;
    }
    const unsigned char *first = s;
    for (int d; (d = digit_value(*s)) < base; s++) {
        if (result.magnitude > (ULLONG_MAX - (unsigned)d) / (unsigned)base) result.overflow = 1;
        else result.magnitude = result.magnitude * (unsigned)base + (unsigned)d;
    }
    if (end && s != first) *end = (char *)s;
    return result;
}

unsigned long long strtoull(const char *restrict text, char **restrict end, int base) {
    Scanned r = scan(text, end, base);
    if (r.overflow) {
        errno = ERANGE;
        return ULLONG_MAX;
    }
    return r.negative ? -r.magnitude : r.magnitude;
}

long long strtoll(const char *restrict text, char **restrict end, int base) {
    Scanned r = scan(text, end, base);
    unsigned long long limit = r.negative ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
    if (r.overflow || r.magnitude > limit) {
        errno = ERANGE;
        return r.negative ? LLONG_MIN : LLONG_MAX;
    }
    return r.negative ? (long long)-r.magnitude : (long long)r.magnitude;
}

unsigned long strtoul(const char *restrict text, char **restrict end, int base) { return strtoull(text, end, base); }
long strtol(const char *restrict text, char **restrict end, int base) { return strtoll(text, end, base); }
uintmax_t strtoumax(const char *restrict text, char **restrict end, int base) { return strtoull(text, end, base); }
intmax_t strtoimax(const char *restrict text, char **restrict end, int base) { return strtoll(text, end, base); }
