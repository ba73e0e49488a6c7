// snprintf, vsnprintf and __assert_fail for the firmware, without musl's printf.
//
// The firmware formats no floating point, yet musl's vfprintf always brings long double
// formatting and, on aarch64, libgcc's 128-bit soft float: about 20 KB of a 400 KiB
// budget. Its users here are libxcrypt ("rounds=" prefixes, asserts) and a few musl
// functions (inet_ntop, ptsname_r, pthread_setname_np). This file comes before libc.a on
// the link line, so musl's snprintf.o, vsnprintf.o and assert.o are never pulled in.
// Every conversion but floating point, %p and %n is supported; those stop the agent
// rather than print something wrong. Tests/Firmware/small-printf-check.c compares it with glibc.
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Where the formatted text goes: up to `size - 1` bytes, counting what does not fit.
typedef struct {
    char *out;
    size_t size;
    size_t length;
} Output;

static void put(Output *o, const char *bytes, size_t count) {
    for (size_t i = 0; i < count; i++, o->length++) {
        if (o->length + 1 < o->size) o->out[o->length] = bytes[i];
    }
}

static void pad(Output *o, char c, long count) {
    for (; count > 0; count--) put(o, &c, 1);
}

// Writes `parts` to stderr and stops the agent: for a conversion this file lacks, and
// for a failed assert.
static _Noreturn void fail(const char *const parts[], size_t count) {
    for (size_t i = 0; i < count; i++) write(2, parts[i], strlen(parts[i]));
    abort();
}

// One conversion's flags, field width and precision (-1: none).
typedef struct {
    int left, plus, space, alternate, zero;
    long width, precision;
} Spec;

// `body` padded to the field: sign or base prefix, then zeros, then the body.
static void field(Output *o, const Spec *s, const char *prefix, long zeros, const char *body, size_t count) {
    long total = (long)strlen(prefix) + zeros + (long)count;
    if (!s->left) pad(o, ' ', s->width - total);
    put(o, prefix, strlen(prefix));
    pad(o, '0', zeros);
    put(o, body, count);
    if (s->left) pad(o, ' ', s->width - total);
}

static void integer(Output *o, const Spec *s, char conversion, uintmax_t magnitude, int negative) {
    unsigned base = conversion == 'o' ? 8 : (conversion == 'x' || conversion == 'X') ? 16 : 10;
    const char *digits = conversion == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    char text[24];
    size_t at = sizeof text;
    for (uintmax_t rest = magnitude; rest != 0 || (at == sizeof text && s->precision != 0); rest /= base) {
        text[--at] = digits[rest % base];
    }
    size_t count = sizeof text - at;
    const char *prefix = "";
    if (conversion == 'd' || conversion == 'i') prefix = negative ? "-" : s->plus ? "+" : s->space ? " " : "";
    if (s->alternate && base == 16 && magnitude != 0) prefix = conversion == 'X' ? "0X" : "0x";
    long zeros = s->precision > (long)count ? s->precision - (long)count : 0;
    if (s->alternate && base == 8 && zeros == 0 && (count == 0 || text[at] != '0')) zeros = 1;
    if (s->zero && !s->left && s->precision < 0) {
        long room = s->width - (long)strlen(prefix) - (long)count;
        if (room > zeros) zeros = room;
    }
    field(o, s, prefix, zeros, text + at, count);
}

int vsnprintf(char *restrict out, size_t size, const char *restrict format, va_list arguments) {
    Output o = {out, size, 0};
    for (const char *f = format; *f != '\0'; f++) {
        if (*f != '%') {
            put(&o, f, 1);
            continue;
        }
        Spec s = {0, 0, 0, 0, 0, 0, -1};
        for (;; f++) {
            if (f[1] == '-') s.left = 1;
            else if (f[1] == '+') s.plus = 1;
            else if (f[1] == ' ') s.space = 1;
            else if (f[1] == '#') s.alternate = 1;
            else if (f[1] == '0') s.zero = 1;
            else break;
        }
        f++;
        if (*f == '*') {
            s.width = va_arg(arguments, int);
            if (s.width < 0) s.left = 1, s.width = -s.width;
            f++;
        } else {
            for (; *f >= '0' && *f <= '9'; f++) s.width = s.width * 10 + (*f - '0');
        }
        if (*f == '.') {
            f++;
            s.precision = 0;
            if (*f == '*') {
                s.precision = va_arg(arguments, int);
                f++;
            } else {
                for (; *f >= '0' && *f <= '9'; f++) s.precision = s.precision * 10 + (*f - '0');
            }
        }
        // The argument's size: hh h (promoted to int), l ll j z t.
        char length = 0;
        if (*f == 'h' || *f == 'l') {
            length = *f++;
            if (*f == length) length = (char)(length == 'h' ? 'H' : 'L'), f++;
        } else if (*f == 'j' || *f == 'z' || *f == 't') {
            length = *f++;
        }
        switch (*f) {
        case '%':
            put(&o, "%", 1);
            break;
        case 'c': {
            char c = (char)va_arg(arguments, int);
            field(&o, &s, "", 0, &c, 1);
            break;
        }
        case 's': {
            const char *text = va_arg(arguments, const char *);
            if (text == NULL) text = "(null)";
            field(&o, &s, "", 0, text, s.precision >= 0 ? strnlen(text, (size_t)s.precision) : strlen(text));
            break;
        }
        case 'd':
        case 'i': {
            intmax_t value = length == 'L' ? va_arg(arguments, long long)
                : length == 'l' ? va_arg(arguments, long)
                : length == 'j' ? va_arg(arguments, intmax_t)
                : length == 'z' || length == 't' ? va_arg(arguments, ptrdiff_t)
                : length == 'H' ? (signed char)va_arg(arguments, int)
                : length == 'h' ? (short)va_arg(arguments, int)
                : va_arg(arguments, int);
            integer(&o, &s, *f, value < 0 ? 0 - (uintmax_t)value : (uintmax_t)value, value < 0);
            break;
        }
        case 'u':
        case 'o':
        case 'x':
        case 'X': {
            uintmax_t value = length == 'L' ? va_arg(arguments, unsigned long long)
                : length == 'l' ? va_arg(arguments, unsigned long)
                : length == 'j' ? va_arg(arguments, uintmax_t)
                : length == 'z' ? va_arg(arguments, size_t)
                : length == 't' ? (uintmax_t)va_arg(arguments, ptrdiff_t)
                : length == 'H' ? (unsigned char)va_arg(arguments, unsigned)
                : length == 'h' ? (unsigned short)va_arg(arguments, unsigned)
                : va_arg(arguments, unsigned);
            integer(&o, &s, *f, value, 0);
            break;
        }
        default: {
            const char *parts[] = {"dbgd: snprintf: unsupported conversion in \"", format, "\"\n"};
            fail(parts, sizeof parts / sizeof parts[0]);
        }
        }
    }
    if (o.size > 0) o.out[o.length < o.size ? o.length : o.size - 1] = '\0';
    return o.length > INT32_MAX ? -1 : (int)o.length;
}

int snprintf(char *restrict out, size_t size, const char *restrict format, ...) {
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(out, size, format, arguments);
    va_end(arguments);
    return length;
}

// musl's assert prints with fprintf; the same line, written with write(2).
_Noreturn void __assert_fail(const char *expression, const char *file, int line, const char *function) {
    char number[12];
    snprintf(number, sizeof number, "%d", line);
    const char *parts[] = {"Assertion failed: ", expression, " (", file, ": ", function, ": ", number, ")\n"};
    fail(parts, sizeof parts / sizeof parts[0]);
}
