/* test_jwt.c — lib/jwt.c and lib/b64url.c: signing and verification for every
 * algorithm, key selection (kid: libtrust id / thumbprint / JWKS, x5c, jwk),
 * and a negative table of forged and malformed tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "../../handlers/auth.h"
#include "../../lib/b64url.h"
#include "../../lib/err.h"
#include "../../lib/jwt.h"

static EVP_PKEY *k_ec256, *k_ec384, *k_ec521, *k_rsa, *k_ed, *k_other;
static time_t now;

static char *b64(const char *s)
{
    return b64url_encode(s, strlen(s));
}

/* sign_raw: a compact JWS with any header (alg taken from it) — the tests'
 * own signer, independent of jwt_sign, so forged variants can be made. */
static char *sign_raw(EVP_PKEY *key, const char *alg, const char *hdr, const char *payload)
{
    char *h = b64(hdr), *p = b64(payload), *input = NULL, *out = NULL, *s64 = NULL;
    assert_true(asprintf(&input, "%s.%s", h, p) > 0);
    unsigned char sig[1024];
    size_t sl = sizeof sig;
    const char *md = NULL;
    int pss = 0, ec = 0;
    if (!strcmp(alg + 2, "256")) md = "SHA256";
    if (!strcmp(alg + 2, "384")) md = "SHA384";
    if (!strcmp(alg + 2, "512")) md = "SHA512";
    if (!strcmp(alg, "EdDSA")) md = NULL;
    pss = alg[0] == 'P';
    ec = alg[0] == 'E' && alg[1] == 'S';
    if (!strncmp(alg, "HS", 2)) {
        unsigned int l = 0;
        /* "key" = the PEM of the public key, the classic confusion attack */
        BIO *bio = BIO_new(BIO_s_mem());
        PEM_write_bio_PUBKEY(bio, key);
        char *pem;
        long pl = BIO_get_mem_data(bio, &pem);
        HMAC(EVP_sha256(), pem, (int)pl, (unsigned char *)input, strlen(input), sig, &l);
        BIO_free(bio);
        sl = l;
    } else {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pc = NULL;
        assert_int_equal(EVP_DigestSignInit_ex(m, &pc, md, NULL, NULL, key, NULL), 1);
        if (pss) {
            EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
        }
        assert_int_equal(EVP_DigestSign(m, sig, &sl, (unsigned char *)input, strlen(input)), 1);
        EVP_MD_CTX_free(m);
        if (ec) {
            int n = alg[3] == '5' ? 32 : alg[3] == '8' ? 48 : 66;
            const unsigned char *q = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sl);
            assert_non_null(es);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, n);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + n, n);
            ECDSA_SIG_free(es);
            sl = (size_t)n * 2;
        }
    }
    s64 = b64url_encode(sig, sl);
    assert_true(asprintf(&out, "%s.%s", input, s64) > 0);
    free(h);
    free(p);
    free(input);
    free(s64);
    return out;
}

static char *claims(const char *iss, const char *aud, long exp_off, long nbf_off, int access)
{
    char *s = NULL;
    assert_true(asprintf(&s,
                         "{\"iss\":\"%s\",\"sub\":\"alice\",\"aud\":\"%s\",\"exp\":%lld,"
                         "\"nbf\":%lld%s}",
                         iss, aud, (long long)(now + exp_off), (long long)(now + nbf_off),
                         access ? ",\"access\":[{\"type\":\"repository\",\"name\":\"team/app\","
                                  "\"actions\":[\"pull\",\"push\"]}]"
                                : "") > 0);
    return s;
}

static char *hdr(const char *alg, EVP_PKEY *key)
{
    char kid[64], *s = NULL;
    jwt_libtrust_kid(key, kid, sizeof kid);
    assert_true(asprintf(&s, "{\"typ\":\"JWT\",\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid) > 0);
    return s;
}

static struct jwt_keyset *keyset(void)
{
    struct jwt_keyset *ks = jwt_keyset_new();
    assert_int_equal(jwt_keyset_add_key(ks, k_ec256, NULL), 0);
    assert_int_equal(jwt_keyset_add_key(ks, k_ec384, NULL), 0);
    assert_int_equal(jwt_keyset_add_key(ks, k_ec521, NULL), 0);
    assert_int_equal(jwt_keyset_add_key(ks, k_rsa, NULL), 0);
    assert_int_equal(jwt_keyset_add_key(ks, k_ed, "ed-key-1"), 0);
    return ks;
}

/* every verification runs at the tests' clock `now`, never the wall clock:
 * under valgrind generating the keys and signing take tens of seconds, more
 * than the leeway margins the cases are built on (main sets .now) */
static struct jwt_verify_opts opts = {.issuer = "iss-a", .audience = "svc-a", .leeway = 60};

static int verify(struct jwt_keyset *ks, const char *tok, const struct jwt_verify_opts *o,
                  char *why, size_t n)
{
    struct json_object *c = NULL;
    int rc = jwt_verify(ks, tok, o, &c, why, n);
    if (rc == 0)
        assert_non_null(c);
    else
        assert_null(c);
    json_object_put(c);
    return rc;
}

static void test_every_algorithm_verifies(void **state)
{
    struct {
        const char *alg;
        EVP_PKEY **key;
    } t[] = {
        {"RS256", &k_rsa},   {"RS384", &k_rsa}, {"RS512", &k_rsa},   {"PS256", &k_rsa},
        {"PS384", &k_rsa},   {"PS512", &k_rsa}, {"ES256", &k_ec256}, {"ES384", &k_ec384},
        {"ES512", &k_ec521}, {"EdDSA", &k_ed},
    };
    struct jwt_keyset *ks = keyset();
    char *c = claims("iss-a", "svc-a", 300, -10, 1);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char *h = hdr(t[i].alg, *t[i].key), *tok = sign_raw(*t[i].key, t[i].alg, h, c),
             why[128] = "";
        int rc = verify(ks, tok, &opts, why, sizeof why);
        if (rc) fail_msg("%s: %s", t[i].alg, why);
        free(h);
        free(tok);
    }
    free(c);
    jwt_keyset_free(ks);
}

static void test_jwt_sign_roundtrip_and_access(void **state)
{
    struct jwt_keyset *ks = keyset();
    EVP_PKEY *keys[] = {k_ec256, k_rsa, k_ed};
    for (size_t i = 0; i < 3; i++) {
        char kid[64], *tok = NULL, *c = claims("iss-a", "svc-a", 300, 0, 1), why[128] = "";
        jwt_libtrust_kid(keys[i], kid, sizeof kid);
        struct json_object *pl = json_tokener_parse(c), *out = NULL;
        assert_int_equal(jwt_sign(keys[i], kid, pl, &tok), 0);
        int rc = jwt_verify(ks, tok, &opts, &out, why, sizeof why);
        if (rc) fail_msg("key %zu: %s", i, why);
        assert_int_equal(token_rights(out, "repository", "team/app"), RIGHT_PULL | RIGHT_PUSH);
        assert_int_equal(token_rights(out, "repository", "other/x"), 0);
        json_object_put(out);
        json_object_put(pl);
        free(tok);
        free(c);
    }
    jwt_keyset_free(ks);
}

static void test_libtrust_kid_format(void **state)
{
    char kid[64];
    assert_int_equal(jwt_libtrust_kid(k_ec256, kid, sizeof kid), 0);
    assert_int_equal(strlen(kid), 59);
    for (int i = 0; i < 59; i++) {
        if (i % 5 == 4)
            assert_int_equal(kid[i], ':');
        else
            assert_true((kid[i] >= 'A' && kid[i] <= 'Z') || (kid[i] >= '2' && kid[i] <= '7'));
    }
    char kid2[64];
    jwt_libtrust_kid(k_rsa, kid2, sizeof kid2);
    assert_string_not_equal(kid, kid2);
}

static void test_negative_table(void **state)
{
    struct jwt_keyset *ks = keyset();
    char *good_c = claims("iss-a", "svc-a", 300, -10, 1);
    char *h256 = hdr("ES256", k_ec256);
    char *good = sign_raw(k_ec256, "ES256", h256, good_c);
    char why[128];
    assert_int_equal(verify(ks, good, &opts, why, sizeof why), 0);

    const char *dot2 = strrchr(good, '.');
    char *nosig = strndup(good, (size_t)(dot2 - good) + 1);
    char *badsig = strdup(good);
    badsig[strlen(badsig) - 5] = badsig[strlen(badsig) - 5] == 'A' ? 'B' : 'A';

    char *t_none = NULL, *t_none_sig = NULL;
    {
        char *hn = b64("{\"alg\":\"none\",\"typ\":\"JWT\"}"), *pn = b64(good_c);
        assert_true(asprintf(&t_none, "%s.%s.", hn, pn) > 0);
        assert_true(asprintf(&t_none_sig, "%s.%s%s", hn, pn, dot2) > 0);
        free(hn);
        free(pn);
    }
    char *hhs = hdr("HS256", k_ec256);
    char *t_hs = sign_raw(k_ec256, "HS256", hhs, good_c);
    char *c_iss = claims("evil", "svc-a", 300, -10, 1),
         *t_iss = sign_raw(k_ec256, "ES256", h256, c_iss);
    char *c_aud = claims("iss-a", "svc-b", 300, -10, 1),
         *t_aud = sign_raw(k_ec256, "ES256", h256, c_aud);
    char *c_exp = claims("iss-a", "svc-a", -120, -600, 1),
         *t_exp = sign_raw(k_ec256, "ES256", h256, c_exp);
    char *c_nbf = claims("iss-a", "svc-a", 600, 120, 1),
         *t_nbf = sign_raw(k_ec256, "ES256", h256, c_nbf);
    char *t_noexp = sign_raw(k_ec256, "ES256", h256, "{\"iss\":\"iss-a\",\"aud\":\"svc-a\"}");
    char *t_strexp = sign_raw(k_ec256, "ES256", h256,
                              "{\"iss\":\"iss-a\",\"aud\":\"svc-a\",\"exp\":\"9999999999\"}");
    char *t_badjson = sign_raw(k_ec256, "ES256", h256, "{\"iss\":\"iss-a\",");
    char *t_array = sign_raw(k_ec256, "ES256", h256, "[1,2]");
    char *t_badhdr = sign_raw(k_ec256, "ES256", "{\"alg\":\"ES256\",", good_c);
    char *t_kid = sign_raw(k_ec256, "ES256", "{\"alg\":\"ES256\",\"kid\":\"AAAA:BBBB\"}", good_c);
    char *t_nokey = sign_raw(k_ec256, "ES256", "{\"alg\":\"ES256\"}", good_c);
    char *hother = hdr("ES256", k_other);
    char *t_other = sign_raw(k_other, "ES256", hother, good_c); /* untrusted key */
    char *t_mix = sign_raw(k_other, "ES256", h256, good_c);     /* trusted kid, other key */
    char *h384on256 = hdr("ES384", k_ec256);
    char *t_alg_mismatch = sign_raw(k_ec384, "ES384", h384on256, good_c);
    char *hrs = hdr("RS256", k_rsa);
    char *hps = hdr("PS256", k_rsa);
    char *t_rs_as_ps = sign_raw(k_rsa, "RS256", hps, good_c);
    char *hcrit = NULL;
    {
        char kid[64];
        jwt_libtrust_kid(k_ec256, kid, sizeof kid);
        assert_true(asprintf(&hcrit, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"crit\":[\"x\"]}", kid) >
                    0);
    }
    char *t_crit = sign_raw(k_ec256, "ES256", hcrit, good_c);
    char *t_unknown = sign_raw(k_ec256, "ES256", "{\"alg\":\"ES999\"}", good_c);
    char *t_4parts = NULL;
    assert_true(asprintf(&t_4parts, "%s.xyz", good) > 0);
    char *t_badb64 = strdup(good);
    t_badb64[3] = '*';
    char *t_pad = NULL;
    assert_true(asprintf(&t_pad, "%s==", good) > 0);
    char *c_noacc = claims("iss-a", "svc-a", 300, -10, 0);
    char *t_noacc = sign_raw(k_ec256, "ES256", h256, c_noacc);

    struct {
        const char *name;
        const char *tok;
    } bad[] = {
        {"alg none, no signature", t_none},
        {"alg none with a signature", t_none_sig},
        {"HS256 with the public key as secret", t_hs},
        {"bad signature", badsig},
        {"empty signature", nosig},
        {"wrong issuer", t_iss},
        {"wrong audience", t_aud},
        {"expired beyond leeway", t_exp},
        {"nbf in the future beyond leeway", t_nbf},
        {"no exp", t_noexp},
        {"exp not a number", t_strexp},
        {"malformed claims JSON", t_badjson},
        {"claims not an object", t_array},
        {"malformed header JSON", t_badhdr},
        {"unknown kid", t_kid},
        {"no kid, x5c or jwk", t_nokey},
        {"signed by an untrusted key", t_other},
        {"trusted kid, signature by another key", t_mix},
        {"ES384 header with a P-256 key id", t_alg_mismatch},
        {"RS256 signature labelled PS256", t_rs_as_ps},
        {"crit header", t_crit},
        {"unknown algorithm", t_unknown},
        {"four parts", t_4parts},
        {"malformed base64url", t_badb64},
        {"padded base64url", t_pad},
        {"empty string", ""},
        {"garbage", "not.a.token"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = 0;
        if (verify(ks, bad[i].tok, &opts, why, sizeof why) != WERR_INVALID)
            fail_msg("accepted: %s", bad[i].name);
        if (!why[0]) fail_msg("no reason given: %s", bad[i].name);
        if (strlen(bad[i].tok) > 20 && strstr(why, bad[i].tok))
            fail_msg("token in error: %s", bad[i].name);
        printf("ok - refused: %s (%s)\n", bad[i].name, why);
    }
    /* within the leeway: accepted; leeway 0: refused */
    char *c_skew = claims("iss-a", "svc-a", -30, 30, 1),
         *t_skew = sign_raw(k_ec256, "ES256", h256, c_skew);
    assert_int_equal(verify(ks, t_skew, &opts, why, sizeof why), 0);
    struct jwt_verify_opts strict = opts;
    strict.leeway = 0;
    assert_int_equal(verify(ks, t_skew, &strict, why, sizeof why), WERR_INVALID);
    /* signingalgorithms: RS256 only */
    const char *only_rs[] = {"RS256"};
    struct jwt_verify_opts rsonly = opts;
    rsonly.algs = only_rs;
    rsonly.nalgs = 1;
    assert_int_equal(verify(ks, good, &rsonly, why, sizeof why), WERR_INVALID);
    char *t_rs = sign_raw(k_rsa, "RS256", hrs, good_c);
    assert_int_equal(verify(ks, t_rs, &rsonly, why, sizeof why), 0);
    /* missing access claim: a valid token that grants nothing */
    struct json_object *cl = NULL;
    assert_int_equal(jwt_verify(ks, t_noacc, &opts, &cl, why, sizeof why), 0);
    assert_int_equal(token_rights(cl, "repository", "team/app"), 0);
    json_object_put(cl);

    char *all[] = {
        good_c, h256,    good,      nosig,     badsig,         t_none,   t_none_sig, hhs,
        t_hs,   c_iss,   t_iss,     c_aud,     t_aud,          c_exp,    t_exp,      c_nbf,
        t_nbf,  t_noexp, t_strexp,  t_badjson, t_array,        t_badhdr, t_kid,      t_nokey,
        hother, t_other, t_mix,     h384on256, t_alg_mismatch, hrs,      hps,        t_rs_as_ps,
        hcrit,  t_crit,  t_unknown, t_4parts,  t_badb64,       t_pad,    c_noacc,    t_noacc,
        c_skew, t_skew,  t_rs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    jwt_keyset_free(ks);
}

static X509 *selfsigned(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_time_adj(X509_getm_notBefore(x), -60, &now);
    X509_time_adj(X509_getm_notAfter(x), 3600, &now);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    return x;
}

static char *x5c_of(X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    char *s = b64_encode(der, (size_t)n);
    OPENSSL_free(der);
    return s;
}

static void test_x5c_jwk_and_files(void **state)
{
    char dir[] = "/tmp/test_jwt.XXXXXX", path[256], why[160];
    assert_non_null(mkdtemp(dir));
    X509 *x = selfsigned(k_ec256), *y = selfsigned(k_other);
    snprintf(path, sizeof path, "%s/bundle.pem", dir);
    FILE *f = fopen(path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    struct jwt_keyset *ks = jwt_keyset_new();
    assert_int_equal(jwt_keyset_add_certs(ks, path, why, sizeof why), 0);
    char *c = claims("iss-a", "svc-a", 300, -10, 1), *h = NULL, *cx = x5c_of(x), *cy = x5c_of(y);
    /* x5c chaining to the bundle */
    assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"x5c\":[\"%s\"]}", cx) > 0);
    char *t = sign_raw(k_ec256, "ES256", h, c);
    assert_int_equal(verify(ks, t, &opts, why, sizeof why), 0);
    free(h);
    free(t);
    /* x5c of a certificate outside the bundle */
    assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"x5c\":[\"%s\"]}", cy) > 0);
    t = sign_raw(k_other, "ES256", h, c);
    assert_int_equal(verify(ks, t, &opts, why, sizeof why), WERR_INVALID);
    free(h);
    free(t);
    /* kid = libtrust id of the bundle certificate's key */
    h = hdr("ES256", k_ec256);
    t = sign_raw(k_ec256, "ES256", h, c);
    assert_int_equal(verify(ks, t, &opts, why, sizeof why), 0);
    free(h);
    free(t);
    /* kid = RFC 7638 thumbprint */
    char *tp = jwt_thumbprint(k_ec256);
    assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", tp) > 0);
    t = sign_raw(k_ec256, "ES256", h, c);
    assert_int_equal(verify(ks, t, &opts, why, sizeof why), 0);
    free(h);
    free(t);
    free(tp);
    /* JWKS by kid (written as `wharf token keygen` does) and jwk in the header */
    snprintf(path, sizeof path, "%s/keys.jwks", dir);
    BIGNUM *bx = NULL, *by = NULL;
    EVP_PKEY_get_bn_param(k_other, "qx", &bx);
    EVP_PKEY_get_bn_param(k_other, "qy", &by);
    unsigned char bb[32];
    BN_bn2binpad(bx, bb, 32);
    char *sx = b64url_encode(bb, 32);
    BN_bn2binpad(by, bb, 32);
    char *sy = b64url_encode(bb, 32);
    f = fopen(path, "w");
    fprintf(
        f,
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"kid\":\"k2\"}]}",
        sx, sy);
    fclose(f);
    char *jwk = NULL;
    assert_true(
        asprintf(&jwk, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", sx, sy) > 0);
    assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"jwk\":%s}", jwk) > 0);
    t = sign_raw(k_other, "ES256", h, c);
    assert_int_equal(verify(ks, t, &opts, why, sizeof why), WERR_INVALID); /* not trusted yet */
    assert_int_equal(jwt_keyset_add_jwks(ks, path, why, sizeof why), 0);
    assert_int_equal(verify(ks, t, &opts, why, sizeof why), 0); /* jwk equals a trusted key */
    free(h);
    free(t);
    t = sign_raw(k_other, "ES256", "{\"alg\":\"ES256\",\"kid\":\"k2\"}", c);
    assert_int_equal(verify(ks, t, &opts, why, sizeof why), 0);
    free(t);
    /* unreadable / empty files */
    snprintf(path, sizeof path, "%s/none.pem", dir);
    assert_int_equal(jwt_keyset_add_certs(ks, path, why, sizeof why), WERR_IO);
    f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    assert_int_equal(jwt_keyset_add_certs(ks, path, why, sizeof why), WERR_INVALID);
    assert_int_equal(jwt_keyset_add_jwks(ks, path, why, sizeof why), WERR_INVALID);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    BN_free(bx);
    BN_free(by);
    free(sx);
    free(sy);
    free(jwk);
    free(c);
    free(cx);
    free(cy);
    X509_free(x);
    X509_free(y);
    jwt_keyset_free(ks);
}

static void test_b64_strict(void **state)
{
    unsigned char *o;
    size_t n;
    assert_int_equal(b64url_decode("aGk", 3, &o, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(o, "hi", 2);
    free(o);
    assert_int_equal(b64url_decode("aGl", 3, &o, &n), WERR_INVALID); /* trailing bits */
    assert_int_equal(b64url_decode("a", 1, &o, &n), WERR_INVALID);
    assert_int_equal(b64url_decode("aG+", 3, &o, &n), WERR_INVALID);
    assert_int_equal(b64_decode("YWxpY2U6cHc=", 12, &o, &n), 0);
    assert_memory_equal(o, "alice:pw", 8);
    free(o);
    assert_int_equal(b64_decode("YW=xpY2U6cHc", 12, &o, &n), WERR_INVALID);
    char b32[16];
    base32_encode((const unsigned char *)"foobar", 6, b32);
    assert_string_equal(b32, "MZXW6YTBOI");
}

int main(void)
{
    k_ec256 = EVP_EC_gen("P-256");
    k_ec384 = EVP_EC_gen("P-384");
    k_ec521 = EVP_EC_gen("P-521");
    k_rsa = EVP_RSA_gen(2048);
    k_ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    k_other = EVP_EC_gen("P-256");
    /* the clock is read once the keys exist (RSA generation alone can take
     * many seconds under valgrind) and then stands still for the verifier */
    now = time(NULL);
    opts.now = now;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_algorithm_verifies),
        cmocka_unit_test(test_jwt_sign_roundtrip_and_access),
        cmocka_unit_test(test_libtrust_kid_format),
        cmocka_unit_test(test_negative_table),
        cmocka_unit_test(test_x5c_jwk_and_files),
        cmocka_unit_test(test_b64_strict),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    EVP_PKEY_free(k_ec256);
    EVP_PKEY_free(k_ec384);
    EVP_PKEY_free(k_ec521);
    EVP_PKEY_free(k_rsa);
    EVP_PKEY_free(k_ed);
    EVP_PKEY_free(k_other);
    return rc;
}
