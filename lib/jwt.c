#include "jwt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "b64url.h"
#include "err.h"

#define JWT_JSON_DEPTH 16
#define RSA_MIN_BITS 2048

enum alg_kind { A_RSA, A_PSS, A_EC, A_ED };

struct alg {
    const char *name;
    enum alg_kind kind;
    const char *md; /* digest name, NULL for EdDSA */
    int ec_bytes;   /* coordinate size of an ECDSA signature half */
    int ec_bits;    /* curve size */
};

static const struct alg algs[] = {
    {"RS256", A_RSA, "SHA256", 0, 0},   {"RS384", A_RSA, "SHA384", 0, 0},
    {"RS512", A_RSA, "SHA512", 0, 0},   {"PS256", A_PSS, "SHA256", 0, 0},
    {"PS384", A_PSS, "SHA384", 0, 0},   {"PS512", A_PSS, "SHA512", 0, 0},
    {"ES256", A_EC, "SHA256", 32, 256}, {"ES384", A_EC, "SHA384", 48, 384},
    {"ES512", A_EC, "SHA512", 66, 521}, {"EdDSA", A_ED, NULL, 0, 0},
};

static const struct alg *alg_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, name) == 0) return &algs[i];
    return NULL;
}

int jwt_alg_supported(const char *alg)
{
    return alg_find(alg) != NULL;
}

struct tkey {
    EVP_PKEY *key;
    char *kid;   /* JWKS / explicit kid, or NULL */
    char lt[64]; /* libtrust key id */
    char *thumb; /* RFC 7638 thumbprint */
};

struct jwt_keyset {
    X509_STORE *store;
    struct tkey *keys;
    size_t n, cap;
    size_t ncerts;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

struct jwt_keyset *jwt_keyset_new(void)
{
    struct jwt_keyset *ks = calloc(1, sizeof(*ks));
    if (!ks) return NULL;
    if (!(ks->store = X509_STORE_new())) {
        free(ks);
        return NULL;
    }
    /* a root of the bundle may itself be the signing certificate (x5c of one) */
    X509_STORE_set_flags(ks->store, X509_V_FLAG_PARTIAL_CHAIN);
    return ks;
}

void jwt_keyset_free(struct jwt_keyset *ks)
{
    if (!ks) return;
    for (size_t i = 0; i < ks->n; i++) {
        EVP_PKEY_free(ks->keys[i].key);
        free(ks->keys[i].kid);
        free(ks->keys[i].thumb);
    }
    free(ks->keys);
    X509_STORE_free(ks->store);
    free(ks);
}

size_t jwt_keyset_count(const struct jwt_keyset *ks)
{
    return ks ? ks->n : 0;
}

int jwt_keyset_add_key(struct jwt_keyset *ks, EVP_PKEY *key, const char *kid)
{
    if (ks->n == ks->cap) {
        size_t nc = ks->cap ? ks->cap * 2 : 8;
        struct tkey *k = realloc(ks->keys, nc * sizeof(*k));
        if (!k) return WERR_NOMEM;
        ks->keys = k;
        ks->cap = nc;
    }
    struct tkey *t = &ks->keys[ks->n];
    memset(t, 0, sizeof(*t));
    if (jwt_libtrust_kid(key, t->lt, sizeof t->lt) != 0) return WERR_INVALID;
    t->thumb = jwt_thumbprint(key);
    if (kid && !(t->kid = strdup(kid))) {
        free(t->thumb);
        return WERR_NOMEM;
    }
    EVP_PKEY_up_ref(key);
    t->key = key;
    ks->n++;
    return 0;
}

int jwt_keyset_add_certs(struct jwt_keyset *ks, const char *path, char *err, size_t errlen)
{
    BIO *bio = BIO_new_file(path, "r");
    int rc = 0;
    size_t count = 0;
    if (!bio) {
        seterr(err, errlen, "%s: cannot open", path);
        ERR_clear_error();
        return WERR_IO;
    }
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        EVP_PKEY *pk = X509_get0_pubkey(x);
        if (!pk || X509_STORE_add_cert(ks->store, x) != 1 ||
            (rc = jwt_keyset_add_key(ks, pk, NULL)) != 0) {
            X509_free(x);
            seterr(err, errlen, "%s: certificate %zu: unusable key", path, count + 1);
            rc = rc ? rc : WERR_INVALID;
            goto out;
        }
        X509_free(x);
        count++;
    }
    if (!count) {
        seterr(err, errlen, "%s: no PEM certificate found", path);
        rc = WERR_INVALID;
    }
    ks->ncerts += count;
out:
    ERR_clear_error();
    BIO_free(bio);
    return rc;
}

/* read_small: a whole file of at most max bytes, NUL-terminated (malloc'd). */
static int read_small(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return WERR_IO;
    char *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return WERR_NOMEM;
    }
    size_t n = fread(buf, 1, max + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        free(buf);
        return bad ? WERR_IO : WERR_TOOBIG;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

/* json_parse_obj: strict parse of exactly len bytes into an object. */
static struct json_object *json_parse_obj(const char *s, size_t len)
{
    if (len > INT32_MAX || strlen(s) != len) return NULL; /* embedded NUL */
    struct json_tokener *t = json_tokener_new_ex(JWT_JSON_DEPTH);
    if (!t) return NULL;
    struct json_object *o = json_tokener_parse_ex(t, s, (int)len);
    int ok = o && json_tokener_get_error(t) == json_tokener_success &&
             json_tokener_get_parse_end(t) == len && json_object_is_type(o, json_type_object);
    json_tokener_free(t);
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

int jwt_keyset_add_jwks(struct jwt_keyset *ks, const char *path, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len;
    int rc = read_small(path, 1024 * 1024, &buf, &len);
    struct json_object *o = NULL, *keys;
    size_t added = 0;
    if (rc) {
        seterr(err, errlen, "%s: cannot read (%s)", path, werr_str(rc));
        return rc;
    }
    if (!(o = json_parse_obj(buf, len)) || !json_object_object_get_ex(o, "keys", &keys) ||
        !json_object_is_type(keys, json_type_array)) {
        seterr(err, errlen, "%s: not a JWKS document ({\"keys\": [...]})", path);
        rc = WERR_INVALID;
        goto out;
    }
    for (size_t i = 0; i < json_object_array_length(keys); i++) {
        struct json_object *k = json_object_array_get_idx(keys, i), *v;
        const char *kid = NULL;
        if (json_object_object_get_ex(k, "use", &v) && strcmp(json_object_get_string(v), "sig"))
            continue;
        if (json_object_object_get_ex(k, "kid", &v) && json_object_is_type(v, json_type_string))
            kid = json_object_get_string(v);
        EVP_PKEY *pk = jwt_pkey_from_jwk(k);
        if (!pk) {
            seterr(err, errlen, "%s: key %zu: unsupported or malformed JWK", path, i);
            rc = WERR_INVALID;
            goto out;
        }
        rc = jwt_keyset_add_key(ks, pk, kid);
        EVP_PKEY_free(pk);
        if (rc) goto out;
        added++;
    }
    if (!added) {
        seterr(err, errlen, "%s: no signing key", path);
        rc = WERR_INVALID;
    }
out:
    json_object_put(o);
    free(buf);
    ERR_clear_error();
    return rc;
}

int jwt_libtrust_kid(EVP_PKEY *key, char *out, size_t outlen)
{
    unsigned char *der = NULL, md[32];
    int n = i2d_PUBKEY(key, &der);
    if (n <= 0 || outlen < 60) {
        OPENSSL_free(der);
        return WERR_INVALID;
    }
    unsigned mdlen = 0;
    int ok = EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok) return WERR_INVALID;
    char b32[64];
    base32_encode(md, 30, b32); /* 240 bits: 48 characters, no padding */
    char *o = out;
    for (int i = 0; i < 48; i++) {
        if (i && i % 4 == 0) *o++ = ':';
        *o++ = b32[i];
    }
    *o = 0;
    return 0;
}

static char *bn_b64(const BIGNUM *bn, int width)
{
    int n = width ? width : BN_num_bytes(bn);
    unsigned char *b = malloc((size_t)n + 1);
    if (!b || BN_bn2binpad(bn, b, n) < 0) {
        free(b);
        return NULL;
    }
    char *s = b64url_encode(b, (size_t)n);
    free(b);
    return s;
}

static const char *ec_crv(EVP_PKEY *key, int *bytes)
{
    switch (EVP_PKEY_get_bits(key)) {
    case 256: *bytes = 32; return "P-256";
    case 384: *bytes = 48; return "P-384";
    case 521: *bytes = 66; return "P-521";
    }
    return NULL;
}

char *jwt_thumbprint(EVP_PKEY *key)
{
    char *json = NULL, *a = NULL, *b = NULL, *res = NULL;
    BIGNUM *x = NULL, *y = NULL;
    int id = EVP_PKEY_get_base_id(key);
    if (id == EVP_PKEY_RSA) {
        if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &x) ||
            !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &y))
            goto out;
        if (!(a = bn_b64(y, 0)) || !(b = bn_b64(x, 0))) goto out;
        if (asprintf(&json, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", a, b) < 0) json = NULL;
    } else if (id == EVP_PKEY_EC) {
        int bytes;
        const char *crv = ec_crv(key, &bytes);
        if (!crv || !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
            !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
            goto out;
        if (!(a = bn_b64(x, bytes)) || !(b = bn_b64(y, bytes))) goto out;
        if (asprintf(&json, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", crv, a,
                     b) < 0)
            json = NULL;
    } else if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) {
        unsigned char raw[64];
        size_t rl = sizeof raw;
        if (!EVP_PKEY_get_raw_public_key(key, raw, &rl) || !(a = b64url_encode(raw, rl))) goto out;
        if (asprintf(&json, "{\"crv\":\"%s\",\"kty\":\"OKP\",\"x\":\"%s\"}",
                     id == EVP_PKEY_ED25519 ? "Ed25519" : "Ed448", a) < 0)
            json = NULL;
    }
    if (json) {
        unsigned char md[32];
        unsigned mdlen;
        if (EVP_Digest(json, strlen(json), md, &mdlen, EVP_sha256(), NULL))
            res = b64url_encode(md, mdlen);
    }
out:
    BN_free(x);
    BN_free(y);
    free(a);
    free(b);
    free(json);
    ERR_clear_error();
    return res;
}

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int jb64(struct json_object *o, const char *k, unsigned char **out, size_t *len)
{
    const char *s = jstr(o, k);
    if (!s || !*s) return WERR_INVALID;
    return b64url_decode(s, strlen(s), out, len);
}

EVP_PKEY *jwt_pkey_from_jwk(struct json_object *jwk)
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    unsigned char *a = NULL, *b = NULL, *pt = NULL;
    size_t al = 0, bl = 0;
    BIGNUM *n = NULL, *e = NULL;
    const char *kty = jwk ? jstr(jwk, "kty") : NULL;
    if (!kty) return NULL;
    if (strcmp(kty, "RSA") == 0) {
        if (jb64(jwk, "n", &a, &al) || jb64(jwk, "e", &b, &bl)) goto out;
        n = BN_bin2bn(a, (int)al, NULL);
        e = BN_bin2bn(b, (int)bl, NULL);
        if (!n || !e || !(bld = OSSL_PARAM_BLD_new()) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
            !(params = OSSL_PARAM_BLD_to_param(bld)) ||
            !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) ||
            EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
            goto out;
    } else if (strcmp(kty, "EC") == 0) {
        const char *crv = jstr(jwk, "crv");
        size_t w = 0;
        if (crv && !strcmp(crv, "P-256"))
            w = 32;
        else if (crv && !strcmp(crv, "P-384"))
            w = 48;
        else if (crv && !strcmp(crv, "P-521"))
            w = 66;
        if (!w || jb64(jwk, "x", &a, &al) || jb64(jwk, "y", &b, &bl) || al != w || bl != w)
            goto out;
        if (!(pt = malloc(2 * w + 1))) goto out;
        pt[0] = 4;
        memcpy(pt + 1, a, w);
        memcpy(pt + 1 + w, b, w);
        if (!(bld = OSSL_PARAM_BLD_new()) ||
            !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 2 * w + 1) ||
            !(params = OSSL_PARAM_BLD_to_param(bld)) ||
            !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) ||
            EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
            goto out;
    } else if (strcmp(kty, "OKP") == 0) {
        const char *crv = jstr(jwk, "crv");
        int id = crv && !strcmp(crv, "Ed25519") ? EVP_PKEY_ED25519
                 : crv && !strcmp(crv, "Ed448") ? EVP_PKEY_ED448
                                                : 0;
        if (!id || jb64(jwk, "x", &a, &al)) goto out;
        pk = EVP_PKEY_new_raw_public_key(id, NULL, a, al);
    }
out:
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    free(a);
    free(b);
    free(pt);
    ERR_clear_error();
    return pk;
}

/* key_fits: may key verify (or make) signatures of algorithm al? */
static int key_fits(EVP_PKEY *key, const struct alg *al)
{
    int id = EVP_PKEY_get_base_id(key);
    switch (al->kind) {
    case A_RSA:
    case A_PSS:
        return (id == EVP_PKEY_RSA || (al->kind == A_PSS && id == EVP_PKEY_RSA_PSS)) &&
               EVP_PKEY_get_bits(key) >= RSA_MIN_BITS;
    case A_EC: return id == EVP_PKEY_EC && EVP_PKEY_get_bits(key) == al->ec_bits;
    case A_ED: return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448;
    }
    return 0;
}

static int verify_sig(EVP_PKEY *key, const struct alg *al, const char *data, size_t dlen,
                      const unsigned char *sig, size_t slen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    int ok = 0;
    if (!md) return 0;
    if (al->kind == A_EC) {
        /* JOSE: r || s, each exactly ec_bytes; EVP wants DER */
        if (slen != (size_t)al->ec_bytes * 2) goto out;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, al->ec_bytes, NULL),
               *s = BN_bin2bn(sig + al->ec_bytes, al->ec_bytes, NULL);
        if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            goto out;
        }
        int n = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (n <= 0) goto out;
        sig = der;
        slen = (size_t)n;
    }
    if (EVP_DigestVerifyInit_ex(md, &pctx, al->md, NULL, NULL, key, NULL) != 1) goto out;
    if (al->kind == A_PSS && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
                              EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
        goto out;
    if (al->kind == A_RSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) goto out;
    ok = EVP_DigestVerify(md, sig, slen, (const unsigned char *)data, dlen) == 1;
out:
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

/* key_by_x5c: the leaf's key when the chain verifies to a bundle root. */
static EVP_PKEY *key_by_x5c(const struct jwt_keyset *ks, struct json_object *x5c, time_t now)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *leaf = NULL;
    X509_STORE_CTX *ctx = NULL;
    EVP_PKEY *res = NULL;
    size_t n = json_object_array_length(x5c);
    if (!chain || n == 0 || n > 10 || !ks->ncerts) goto out;
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(x5c, i);
        unsigned char *der = NULL;
        size_t dl;
        if (!json_object_is_type(v, json_type_string)) goto out;
        const char *s = json_object_get_string(v);
        if (b64_decode(s, strlen(s), &der, &dl) != 0) goto out;
        const unsigned char *p = der;
        X509 *x = d2i_X509(NULL, &p, (long)dl);
        int whole = x && p == der + dl;
        free(der);
        if (!whole) {
            X509_free(x);
            goto out;
        }
        if (i == 0)
            leaf = x;
        else if (!sk_X509_push(chain, x)) {
            X509_free(x);
            goto out;
        }
    }
    if (!(ctx = X509_STORE_CTX_new()) || X509_STORE_CTX_init(ctx, ks->store, leaf, chain) != 1)
        goto out;
    X509_STORE_CTX_set_time(ctx, 0, now);
    if (X509_verify_cert(ctx) == 1) {
        res = X509_get_pubkey(leaf);
    }
out:
    X509_STORE_CTX_free(ctx);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    ERR_clear_error();
    return res;
}

static EVP_PKEY *key_by_jwk(const struct jwt_keyset *ks, struct json_object *jwk)
{
    EVP_PKEY *pk = jwt_pkey_from_jwk(jwk), *res = NULL;
    if (!pk) return NULL;
    for (size_t i = 0; i < ks->n && !res; i++)
        if (EVP_PKEY_eq(pk, ks->keys[i].key) == 1) res = ks->keys[i].key;
    EVP_PKEY_free(pk);
    if (res) EVP_PKEY_up_ref(res);
    ERR_clear_error();
    return res;
}

static EVP_PKEY *key_by_kid(const struct jwt_keyset *ks, const char *kid)
{
    for (size_t i = 0; i < ks->n; i++) {
        const struct tkey *t = &ks->keys[i];
        if ((t->kid && !strcmp(t->kid, kid)) || !strcmp(t->lt, kid) ||
            (t->thumb && !strcmp(t->thumb, kid))) {
            EVP_PKEY_up_ref(t->key);
            return t->key;
        }
    }
    return NULL;
}

static int num_claim(struct json_object *c, const char *k, double *out, int *present)
{
    struct json_object *v;
    *present = json_object_object_get_ex(c, k, &v);
    if (!*present) return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return WERR_INVALID;
    *out = json_object_get_double(v);
    /* json-c reads NaN and Infinity too: no NumericDate, and "exp": NaN
     * or Infinity never expired */
    if (!isfinite(*out)) return WERR_INVALID;
    return 0;
}

static int aud_matches(struct json_object *c, const char *want)
{
    struct json_object *v;
    if (!json_object_object_get_ex(c, "aud", &v)) return 0;
    if (json_object_is_type(v, json_type_string)) return !strcmp(json_object_get_string(v), want);
    if (!json_object_is_type(v, json_type_array)) return 0;
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (json_object_is_type(e, json_type_string) && !strcmp(json_object_get_string(e), want))
            return 1;
    }
    return 0;
}

static int b64url_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

int jwt_verify(const struct jwt_keyset *ks, const char *token, const struct jwt_verify_opts *o,
               struct json_object **claims, char *err, size_t errlen)
{
    struct json_object *hdr = NULL, *pl = NULL, *v;
    unsigned char *hb = NULL, *pb = NULL, *sig = NULL;
    size_t hl, pl_len, sl;
    EVP_PKEY *key = NULL;
    int rc = WERR_INVALID;
    time_t now = o->now ? o->now : time(NULL);

    *claims = NULL;
    size_t tl = strnlen(token, JWT_MAX_LEN + 1);
    if (tl > JWT_MAX_LEN) {
        seterr(err, errlen, "token too long");
        goto out;
    }
    const char *d1 = memchr(token, '.', tl);
    const char *d2 = d1 ? memchr(d1 + 1, '.', tl - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', tl - (size_t)(d2 + 1 - token))) {
        seterr(err, errlen, "not a compact JWS (three dot-separated parts)");
        goto out;
    }
    size_t l1 = (size_t)(d1 - token), l2 = (size_t)(d2 - d1 - 1),
           l3 = tl - (size_t)(d2 + 1 - token);
    if (!l1 || !l2 || !b64url_chars(token, l1) || !b64url_chars(d1 + 1, l2) ||
        !b64url_chars(d2 + 1, l3) || b64url_decode(token, l1, &hb, &hl) ||
        b64url_decode(d1 + 1, l2, &pb, &pl_len) || b64url_decode(d2 + 1, l3, &sig, &sl)) {
        seterr(err, errlen, "malformed base64url");
        goto out;
    }
    if (!(hdr = json_parse_obj((char *)hb, hl))) {
        seterr(err, errlen, "malformed header JSON");
        goto out;
    }
    const char *alg = jstr(hdr, "alg");
    if (!alg) {
        seterr(err, errlen, "no alg in header");
        goto out;
    }
    const struct alg *al = alg_find(alg);
    if (!al) {
        seterr(err, errlen, "algorithm %.16s refused", alg);
        goto out;
    }
    if (o->algs) {
        size_t i = 0;
        while (i < o->nalgs && strcmp(o->algs[i], alg))
            i++;
        if (i == o->nalgs) {
            seterr(err, errlen, "algorithm %s not allowed (signingalgorithms)", alg);
            goto out;
        }
    }
    if (json_object_object_get_ex(hdr, "crit", &v)) {
        seterr(err, errlen, "critical header extensions not supported");
        goto out;
    }
    if (json_object_object_get_ex(hdr, "x5c", &v)) {
        if (!json_object_is_type(v, json_type_array) || !(key = key_by_x5c(ks, v, now))) {
            seterr(err, errlen, "x5c chain does not verify to a trusted root");
            goto out;
        }
    } else if (json_object_object_get_ex(hdr, "jwk", &v)) {
        if (!json_object_is_type(v, json_type_object) || !(key = key_by_jwk(ks, v))) {
            seterr(err, errlen, "jwk is not a trusted key");
            goto out;
        }
    } else if (jstr(hdr, "kid")) {
        if (!(key = key_by_kid(ks, jstr(hdr, "kid")))) {
            seterr(err, errlen, "signed by an unknown key id");
            goto out;
        }
    } else {
        seterr(err, errlen, "no x5c, jwk or kid in header: signing key unknown");
        goto out;
    }
    if (!key_fits(key, al)) {
        seterr(err, errlen, "key type does not match algorithm %s", alg);
        goto out;
    }
    if (!verify_sig(key, al, token, (size_t)(d2 - token), sig, sl)) {
        seterr(err, errlen, "bad signature");
        goto out;
    }
    if (!(pl = json_parse_obj((char *)pb, pl_len))) {
        seterr(err, errlen, "malformed claims JSON");
        goto out;
    }
    if (o->issuer) {
        const char *iss = jstr(pl, "iss");
        if (!iss || strcmp(iss, o->issuer)) {
            seterr(err, errlen, "wrong issuer");
            goto out;
        }
    }
    if (o->audience && !aud_matches(pl, o->audience)) {
        seterr(err, errlen, "wrong audience");
        goto out;
    }
    double exp = 0, nbf = 0;
    int has_exp, has_nbf;
    if (num_claim(pl, "exp", &exp, &has_exp) || num_claim(pl, "nbf", &nbf, &has_nbf)) {
        seterr(err, errlen, "exp/nbf not numeric");
        goto out;
    }
    if (!has_exp || exp + (double)o->leeway < (double)now) {
        seterr(err, errlen, has_exp ? "token expired" : "token has no exp");
        goto out;
    }
    if (has_nbf && nbf - (double)o->leeway > (double)now) {
        seterr(err, errlen, "token not valid yet (nbf)");
        goto out;
    }
    *claims = pl;
    pl = NULL;
    rc = 0;
out:
    EVP_PKEY_free(key);
    json_object_put(hdr);
    json_object_put(pl);
    free(hb);
    free(pb);
    free(sig);
    return rc;
}

const char *jwt_key_alg(EVP_PKEY *key)
{
    static const char *const pref[] = {"ES256", "ES384", "ES512", "RS256", "EdDSA"};
    for (size_t i = 0; i < sizeof pref / sizeof pref[0]; i++)
        if (key_fits(key, alg_find(pref[i]))) return pref[i];
    return NULL;
}

int jwt_sign(EVP_PKEY *key, const char *kid, struct json_object *payload, char **out)
{
    const char *alg = jwt_key_alg(key);
    const struct alg *al = alg_find(alg);
    struct json_object *hdr = NULL;
    char *h64 = NULL, *p64 = NULL, *s64 = NULL, *input = NULL;
    unsigned char *sig = NULL, *raw = NULL;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    size_t slen = 0;
    int rc = WERR_INVALID;
    *out = NULL;
    if (!al) goto out;
    hdr = json_object_new_object();
    json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
    json_object_object_add(hdr, "alg", json_object_new_string(alg));
    if (kid) json_object_object_add(hdr, "kid", json_object_new_string(kid));
    const char *hs = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN);
    const char *ps = json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN);
    if (!(h64 = b64url_encode(hs, strlen(hs))) || !(p64 = b64url_encode(ps, strlen(ps))) ||
        asprintf(&input, "%s.%s", h64, p64) < 0) {
        input = NULL;
        rc = WERR_NOMEM;
        goto out;
    }
    if (!(md = EVP_MD_CTX_new()) ||
        EVP_DigestSignInit_ex(md, &pctx, al->md, NULL, NULL, key, NULL) != 1 ||
        (al->kind == A_RSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) ||
        EVP_DigestSign(md, NULL, &slen, (unsigned char *)input, strlen(input)) != 1 ||
        !(sig = malloc(slen)) ||
        EVP_DigestSign(md, sig, &slen, (unsigned char *)input, strlen(input)) != 1)
        goto out;
    if (al->kind == A_EC) {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)slen);
        if (!es || !(raw = malloc((size_t)al->ec_bytes * 2))) {
            ECDSA_SIG_free(es);
            goto out;
        }
        int ok =
            BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, al->ec_bytes) == al->ec_bytes &&
            BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + al->ec_bytes, al->ec_bytes) == al->ec_bytes;
        ECDSA_SIG_free(es);
        if (!ok) goto out;
        s64 = b64url_encode(raw, (size_t)al->ec_bytes * 2);
    } else {
        s64 = b64url_encode(sig, slen);
    }
    if (!s64 || asprintf(out, "%s.%s", input, s64) < 0) {
        *out = NULL;
        rc = WERR_NOMEM;
        goto out;
    }
    rc = 0;
out:
    json_object_put(hdr);
    free(h64);
    free(p64);
    free(s64);
    free(input);
    free(sig);
    free(raw);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return rc;
}
