/* fuzz_jwt: jwt_verify on a bearer token (lib/jwt.c), jwt_pkey_from_jwk on
 * a JWK. Input: a mode byte, then
 *   'T' a compact token as a client sends it (syntax, header, key choice),
 *   'S' a header JSON, a newline, a claims JSON: the target signs them with
 *       its trusted Ed25519 key, so the claims checks run too,
 *   'J' a JWK object (other bytes: as 'T'). */
#include "fuzz.h"

#include <json-c/json.h>
#include <math.h>
#include <openssl/evp.h>

#include "../../lib/b64url.h"
#include "../../lib/jwt.h"

static struct jwt_keyset *ks;
static EVP_PKEY *key;

static void teardown(void)
{
    jwt_keyset_free(ks);
    EVP_PKEY_free(key);
}

static void setup(void)
{
    if (ks) return;
    /* a fixed key: the same input signs the same everywhere */
    static const unsigned char seed[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                           12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                           23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof seed);
    ks = jwt_keyset_new();
    if (!key || !ks || jwt_keyset_add_key(ks, key, "k1") != 0) abort();
    atexit(teardown);
}

/* sign: "b64(h).b64(p).b64(sig)" with the trusted key (malloc'd) */
static char *sign(const char *h, size_t hl, const char *p, size_t pl)
{
    char *h64 = b64url_encode(h, hl), *p64 = b64url_encode(p, pl), *in = NULL, *out = NULL;
    unsigned char sig[64];
    size_t sl = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!h64 || !p64 || !md || asprintf(&in, "%s.%s", h64, p64) < 0) abort();
    if (EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &sl, (unsigned char *)in, strlen(in)) != 1)
        abort();
    char *s64 = b64url_encode(sig, sl);
    if (!s64 || asprintf(&out, "%s.%s", in, s64) < 0) abort();
    free(s64);
    free(in);
    free(h64);
    free(p64);
    EVP_MD_CTX_free(md);
    return out;
}

/* check_claims: what a verified token must satisfy, checked here apart
 * from jwt.c: the issuer, the audience (a string or a list holding it), an
 * exp not past and an nbf (when present) not ahead, leeway allowed; both
 * NumericDates, so finite numbers (json-c also reads NaN and Infinity) */
static void check_claims(struct json_object *c, const struct jwt_verify_opts *o)
{
    struct json_object *v;
    const char *why = NULL;
    if (!json_object_object_get_ex(c, "iss", &v) || !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), o->issuer))
        why = "iss";
    int aud = 0;
    if (json_object_object_get_ex(c, "aud", &v)) {
        if (json_object_is_type(v, json_type_string))
            aud = !strcmp(json_object_get_string(v), o->audience);
        else if (json_object_is_type(v, json_type_array))
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                struct json_object *e = json_object_array_get_idx(v, i);
                if (json_object_is_type(e, json_type_string) &&
                    !strcmp(json_object_get_string(e), o->audience))
                    aud = 1;
            }
    }
    if (!aud) why = "aud";
    if (!json_object_object_get_ex(c, "exp", &v) ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) ||
        !isfinite(json_object_get_double(v)) ||
        json_object_get_double(v) + (double)o->leeway < (double)o->now)
        why = "exp";
    if (json_object_object_get_ex(c, "nbf", &v) &&
        (!(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) ||
         !isfinite(json_object_get_double(v)) ||
         json_object_get_double(v) - (double)o->leeway > (double)o->now))
        why = "nbf";
    if (why) {
        fprintf(stderr, "jwt_verify accepted claims with a wrong %s: %s\n", why,
                json_object_to_json_string(c));
        abort();
    }
}

static void verify(const char *token)
{
    static const char *const algs[] = {"EdDSA", "ES256", "RS256", "PS256"};
    struct jwt_verify_opts o = {.issuer = "wharf-fuzz",
                                .audience = "registry",
                                .leeway = 60,
                                .algs = algs,
                                .nalgs = sizeof algs / sizeof algs[0],
                                .now = 1700000000};
    struct json_object *claims = NULL;
    char err[256];
    if (jwt_verify(ks, token, &o, &claims, err, sizeof err) == 0) {
        if (!claims) abort();
        check_claims(claims, &o);
        json_object_put(claims);
    }
    /* without issuer, audience or algorithm list */
    struct jwt_verify_opts o2 = {.now = 1700000000};
    if (jwt_verify(ks, token, &o2, &claims, err, sizeof err) == 0) json_object_put(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    setup();
    char mode = (char)data[0];
    data++;
    size--;
    if (mode == 'S') {
        const uint8_t *nl = memchr(data, '\n', size);
        if (!nl) return 0;
        char *tok = sign((const char *)data, (size_t)(nl - data), (const char *)nl + 1,
                         size - (size_t)(nl - data) - 1);
        verify(tok);
        free(tok);
    } else if (mode == 'J') {
        char *s = fuzz_strndup(data, size);
        struct json_object *j = json_tokener_parse(s);
        if (j) {
            EVP_PKEY *k = jwt_pkey_from_jwk(j);
            if (k) {
                (void)jwt_key_alg(k);
                free(jwt_thumbprint(k));
                EVP_PKEY_free(k);
            }
            json_object_put(j);
        }
        free(s);
    } else {
        char *s = fuzz_strndup(data, size);
        verify(s);
        free(s);
    }
    return 0;
}
