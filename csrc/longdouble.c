/*
 * ferredis: INCRBYFLOAT arithmetic in C `long double`.
 *
 * Redis adds INCRBYFLOAT (and HINCRBYFLOAT) increments in `long double` (80-bit extended precision on
 * x86-64) and prints the result with `%.17Lf`, trimming trailing zeros. Rust has no `long double`, and
 * the printed digits depend on that precision (10.5 + 0.1 prints "10.6" only with the extra bits), so
 * the parse, the addition and the formatting live here and Rust calls them through a small FFI.
 *
 * Parsing rules (the ones a valid float argument must satisfy in Redis): not empty, shorter than
 * FR_LD_MAX_CHARS, no leading white space, the whole string consumed by strtold, no NaN, and no
 * overflow to infinity or underflow to zero reported by strtold ("inf" spelled out is accepted).
 */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest accepted input, and size of the output buffer callers must provide. */
#define FR_LD_MAX_CHARS 5120

/* Status codes of ferredis_ld_incrby, mirrored in src/cmd/string.rs. */
#define FR_LD_OK 0
#define FR_LD_BAD_VALUE 1
#define FR_LD_BAD_INCR 2
#define FR_LD_NAN_OR_INF 3

static int fr_parse_ld(const char *s, size_t len, long double *out) {
    char buf[FR_LD_MAX_CHARS];
    char *end = NULL;
    long double v;

    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return 0;

    errno = 0;
    v = strtold(buf, &end);
    /* An embedded NUL stops strtold early: the length check rejects it. */
    if (end == NULL || *end != '\0' || (size_t)(end - buf) != len) return 0;
    if (errno == ERANGE && (isinf(v) || fpclassify(v) == FP_ZERO)) return 0;
    if (errno == EINVAL || isnan(v)) return 0;
    *out = v;
    return 1;
}

/* 1 when `s` is a float INCRBYFLOAT accepts, 0 otherwise. */
int ferredis_ld_valid(const char *s, size_t len) {
    long double v;
    return fr_parse_ld(s, len, &v);
}

/* Writes `v` as "%.17Lf" without trailing zeros (and without a trailing '.'), "-0" becoming "0".
 * Returns the length, or 0 when `cap` is too small. */
static size_t fr_format_ld(long double v, char *out, size_t cap) {
    int n = snprintf(out, cap, "%.17Lf", v);
    size_t l;

    if (n < 0 || (size_t)n + 1 > cap) return 0;
    l = (size_t)n;
    if (memchr(out, '.', l) != NULL) {
        while (l > 0 && out[l - 1] == '0') l--;
        if (l > 0 && out[l - 1] == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    out[l] = '\0';
    return l;
}

/*
 * Parses `cur` (the stored value; the caller passes "0" for a missing key) and `incr`, adds them in
 * long double and formats the sum into `out` (capacity `cap`, at least FR_LD_MAX_CHARS), storing its
 * length in `*out_len`. Returns FR_LD_OK, or which input was not a float (the stored value is checked
 * first), or FR_LD_NAN_OR_INF when the sum is not finite.
 */
int ferredis_ld_incrby(const char *cur, size_t cur_len, const char *incr, size_t incr_len,
                       char *out, size_t cap, size_t *out_len) {
    long double a, b, sum;

    if (!fr_parse_ld(cur, cur_len, &a)) return FR_LD_BAD_VALUE;
    if (!fr_parse_ld(incr, incr_len, &b)) return FR_LD_BAD_INCR;
    sum = a + b;
    if (isnan(sum) || isinf(sum)) return FR_LD_NAN_OR_INF;
    *out_len = fr_format_ld(sum, out, cap);
    return FR_LD_OK;
}
