/* Low-level SHA*_CTX is used (not EVP) because its state is a plain struct that
 * can be saved between requests; EVP offers no export of a partial hash. */
#define OPENSSL_API_COMPAT 0x10100000L
#include "digest.h"
#include "err.h"

#include <openssl/sha.h>
#include <string.h>

_Static_assert(sizeof(SHA256_CTX) <= 256, "hasher ctx too small");
_Static_assert(sizeof(SHA512_CTX) <= 256, "hasher ctx too small");

const char *digest_alg_name(enum digest_alg alg)
{
    return alg == DIGEST_SHA512 ? "sha512" : alg == DIGEST_SHA256 ? "sha256" : "";
}

enum digest_alg digest_alg_from_name(const char *name)
{
    if (strcmp(name, "sha256") == 0) return DIGEST_SHA256;
    if (strcmp(name, "sha512") == 0) return DIGEST_SHA512;
    return DIGEST_NONE;
}

size_t digest_hex_len(enum digest_alg alg)
{
    return alg == DIGEST_SHA512 ? 128 : alg == DIGEST_SHA256 ? 64 : 0;
}

/* OCI image-spec grammar:
 *   digest    ::= algorithm ":" encoded
 *   algorithm ::= algorithm-component (algorithm-separator algorithm-component)*
 *   algorithm-component ::= [a-z0-9]+ ; separator [+._-] ; encoded ::= [a-zA-Z0-9=_-]+ */
int digest_parse(const char *s, enum digest_alg *alg, const char **hex)
{
    if (!s) return WERR_INVALID;
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || colon[1] == 0) return WERR_INVALID;
    size_t alen = (size_t)(colon - s);
    if (alen > 32) return WERR_INVALID;
    int need_comp = 1;
    for (const char *p = s; p < colon; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            need_comp = 0;
        else if ((c == '+' || c == '.' || c == '_' || c == '-') && !need_comp)
            need_comp = 1;
        else
            return WERR_INVALID;
    }
    if (need_comp) return WERR_INVALID;
    const char *enc = colon + 1;
    size_t elen = strlen(enc);
    if (elen > 1024) return WERR_INVALID;
    for (const char *p = enc; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '=' || c == '_' || c == '-'))
            return WERR_INVALID;
    }
    char name[33];
    memcpy(name, s, alen);
    name[alen] = 0;
    enum digest_alg a = digest_alg_from_name(name);
    if (a == DIGEST_NONE) return WERR_UNSUPPORTED;
    /* registered algorithms: lowercase hex of the exact length */
    if (elen != digest_hex_len(a)) return WERR_INVALID;
    for (const char *p = enc; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return WERR_INVALID;
    if (alg) *alg = a;
    if (hex) *hex = enc;
    return 0;
}

void hasher_init(struct hasher *h, enum digest_alg alg)
{
    memset(h, 0, sizeof(*h));
    h->alg = alg;
    if (alg == DIGEST_SHA512)
        SHA512_Init((SHA512_CTX *)h->ctx.opaque);
    else
        SHA256_Init((SHA256_CTX *)h->ctx.opaque);
}

void hasher_update(struct hasher *h, const void *p, size_t n)
{
    if (!n) return;
    if (h->alg == DIGEST_SHA512)
        SHA512_Update((SHA512_CTX *)h->ctx.opaque, p, n);
    else
        SHA256_Update((SHA256_CTX *)h->ctx.opaque, p, n);
    h->len += n;
}

static void to_hex(const unsigned char *md, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[2 * n] = 0;
}

void hasher_final(struct hasher *h, char out[DIGEST_MAX_STR])
{
    unsigned char md[64];
    size_t n;
    if (h->alg == DIGEST_SHA512) {
        SHA512_Final(md, (SHA512_CTX *)h->ctx.opaque);
        n = 64;
    } else {
        SHA256_Final(md, (SHA256_CTX *)h->ctx.opaque);
        n = 32;
    }
    size_t pl = strlen(digest_alg_name(h->alg));
    memcpy(out, digest_alg_name(h->alg), pl);
    out[pl] = ':';
    to_hex(md, n, out + pl + 1);
}

void digest_of(enum digest_alg alg, const void *p, size_t n, char out[DIGEST_MAX_STR])
{
    struct hasher h;
    hasher_init(&h, alg);
    hasher_update(&h, p, n);
    hasher_final(&h, out);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}
static void put_be64(unsigned char *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}
static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get_be64(const unsigned char *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* Go format: magic "sha\x03" (sha256) or "sha\x07" (sha512), the chaining
 * values big-endian, the block buffer (full block size, pending bytes first),
 * then the total length in bytes big-endian. */
size_t hasher_save(const struct hasher *h, unsigned char *out)
{
    if (h->alg == DIGEST_SHA512) {
        const SHA512_CTX *c = (const SHA512_CTX *)h->ctx.opaque;
        memcpy(out, "sha\x07", 4);
        for (int i = 0; i < 8; i++)
            put_be64(out + 4 + 8 * i, c->h[i]);
        memset(out + 68, 0, 128);
        memcpy(out + 68, c->u.p, c->num);
        put_be64(out + 196, h->len);
        return 204;
    }
    const SHA256_CTX *c = (const SHA256_CTX *)h->ctx.opaque;
    memcpy(out, "sha\x03", 4);
    for (int i = 0; i < 8; i++)
        put_be32(out + 4 + 4 * i, c->h[i]);
    memset(out + 36, 0, 64);
    memcpy(out + 36, c->data, c->num);
    put_be64(out + 100, h->len);
    return 108;
}

int hasher_load(struct hasher *h, enum digest_alg alg, const unsigned char *p, size_t n)
{
    hasher_init(h, alg);
    if (alg == DIGEST_SHA512) {
        if (n != 204 || memcmp(p, "sha\x07", 4) != 0) return WERR_INVALID;
        SHA512_CTX *c = (SHA512_CTX *)h->ctx.opaque;
        for (int i = 0; i < 8; i++)
            c->h[i] = get_be64(p + 4 + 8 * i);
        uint64_t len = get_be64(p + 196);
        c->num = (unsigned)(len % 128);
        memcpy(c->u.p, p + 68, c->num);
        c->Nl = len << 3;
        c->Nh = len >> 61;
        h->len = len;
        return 0;
    }
    if (n != 108 || memcmp(p, "sha\x03", 4) != 0) return WERR_INVALID;
    SHA256_CTX *c = (SHA256_CTX *)h->ctx.opaque;
    for (int i = 0; i < 8; i++)
        c->h[i] = get_be32(p + 4 + 4 * i);
    uint64_t len = get_be64(p + 100);
    c->num = (unsigned)(len % 64);
    memcpy(c->data, p + 36, c->num);
    c->Nl = (SHA_LONG)(len << 3);
    c->Nh = (SHA_LONG)(len >> 29);
    h->len = len;
    return 0;
}
