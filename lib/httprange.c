#include "httprange.h"
#include "err.h"

#include <string.h>

/* parse a non-negative decimal of at most 18 digits; returns chars used or -1 */
static int parse_num(const char *s, int64_t *out)
{
    int n = 0;
    int64_t v = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n >= 18) return -1;
        v = v * 10 + (s[n] - '0');
        n++;
    }
    if (n == 0) return -1;
    *out = v;
    return n;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

int range_parse(const char *hdr, int64_t size, int64_t *start, int64_t *end)
{
    if (!hdr) return WERR_INVALID;
    const char *p = skip_ws(hdr);
    if (strncmp(p, "bytes=", 6) != 0) return WERR_INVALID;
    p = skip_ws(p + 6);
    if (strchr(p, ',')) return WERR_INVALID;
    int64_t a = -1, b = -1;
    int n;
    if (*p == '-') {
        int64_t suffix;
        if ((n = parse_num(p + 1, &suffix)) < 0) return WERR_INVALID;
        if (*skip_ws(p + 1 + n)) return WERR_INVALID;
        if (suffix == 0 || size == 0) return WERR_RANGE;
        a = suffix >= size ? 0 : size - suffix;
        b = size - 1;
    } else {
        if ((n = parse_num(p, &a)) < 0) return WERR_INVALID;
        p += n;
        if (*p != '-') return WERR_INVALID;
        p++;
        if (*p >= '0' && *p <= '9') {
            if ((n = parse_num(p, &b)) < 0) return WERR_INVALID;
            p += n;
            if (b < a) return WERR_INVALID;
        }
        if (*skip_ws(p)) return WERR_INVALID;
        if (a >= size) return WERR_RANGE;
        if (b < 0 || b >= size) b = size - 1;
    }
    *start = a;
    *end = b;
    return 0;
}

int content_range_parse(const char *hdr, int64_t *start, int64_t *end)
{
    if (!hdr) return WERR_INVALID;
    const char *p = skip_ws(hdr);
    if (strncmp(p, "bytes=", 6) == 0)
        p += 6;
    else if (strncmp(p, "bytes ", 6) == 0)
        p = skip_ws(p + 6);
    int64_t a, b;
    int n;
    if ((n = parse_num(p, &a)) < 0) return WERR_INVALID;
    p += n;
    if (*p != '-') return WERR_INVALID;
    p++;
    if ((n = parse_num(p, &b)) < 0) return WERR_INVALID;
    p += n;
    if (b < a) return WERR_INVALID;
    if (*p == '/') {
        p++;
        int64_t total;
        if (*p == '*')
            p++;
        else if ((n = parse_num(p, &total)) < 0 || total <= b)
            return WERR_INVALID;
        else
            p += n;
    }
    if (*skip_ws(p)) return WERR_INVALID;
    *start = a;
    *end = b;
    return 0;
}
