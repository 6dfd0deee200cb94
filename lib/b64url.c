#include "b64url.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

static const char std_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *encode(const void *in, size_t n, const char *abc, int pad)
{
    const unsigned char *p = in;
    size_t olen = (n + 2) / 3 * 4 + 1;
    char *out = malloc(olen), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = abc[v >> 6 & 63];
        *o++ = abc[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        if (pad) *o++ = '=', *o++ = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = abc[v >> 6 & 63];
        if (pad) *o++ = '=';
    }
    *o = 0;
    return out;
}

char *b64url_encode(const void *p, size_t n)
{
    return encode(p, n, url_abc, 0);
}

char *b64_encode(const void *p, size_t n)
{
    return encode(p, n, std_abc, 1);
}

static int val_of(const char *abc, char c)
{
    const char *p = c ? memchr(abc, c, 64) : NULL;
    return p ? (int)(p - abc) : -1;
}

static int decode(const char *s, size_t len, const char *abc, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (len % 4 == 1) return WERR_INVALID;
    unsigned char *buf = malloc(len / 4 * 3 + 3), *o = buf;
    if (!buf) return WERR_NOMEM;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = val_of(abc, s[i]);
        if (v < 0) {
            free(buf);
            return WERR_INVALID;
        }
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) { /* non-zero trailing bits: a second encoding of the same bytes */
        free(buf);
        return WERR_INVALID;
    }
    *o = 0;
    *out = buf;
    *outlen = (size_t)(o - buf);
    return 0;
}

int b64url_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
    return decode(s, len, url_abc, out, outlen);
}

int b64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
    if (len % 4 == 0 && len >= 4) {
        size_t pad = 0;
        while (pad < 2 && s[len - 1 - pad] == '=')
            pad++;
        len -= pad;
    }
    if (memchr(s, '=', len)) {
        *out = NULL;
        *outlen = 0;
        return WERR_INVALID;
    }
    return decode(s, len, std_abc, out, outlen);
}

void base32_encode(const unsigned char *p, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8 | p[i]) & 0xffff;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            *out++ = abc[(acc >> bits) & 31];
        }
    }
    if (bits > 0) *out++ = abc[(acc << (5 - bits)) & 31];
    *out = 0;
}
