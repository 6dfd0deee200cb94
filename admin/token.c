/* token.c — `wharf token keygen [--alg ES256|ES384|RS256|EdDSA] [--days N]
 * [--cn NAME] [-o PREFIX]`: the token service's signing key, a self-signed
 * certificate of it (the reference registry trusts keys only through
 * rootcertbundle: an x5c chain to it, or a kid equal to the libtrust key id
 * of one of its certificates' keys) and a JWKS (Distribution 3's jwks). To
 * rotate: make a new key, append its .crt to the bundle every registry
 * trusts, reload them, then point signingkey at the new key and reload. */
#include "token.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../lib/b64url.h"
#include "../lib/jwt.h"

static EVP_PKEY *genkey(const char *alg)
{
    if (!strcmp(alg, "ES256")) return EVP_EC_gen("P-256");
    if (!strcmp(alg, "ES384")) return EVP_EC_gen("P-384");
    if (!strcmp(alg, "ES512")) return EVP_EC_gen("P-521");
    if (!strcmp(alg, "RS256")) return EVP_RSA_gen(3072);
    if (!strcmp(alg, "EdDSA")) return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return NULL;
}

static X509 *selfsign(EVP_PKEY *key, const char *cn, int days)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (!x) return NULL;
    FILE *r = fopen("/dev/urandom", "rb");
    if (!r || fread(serial, 1, sizeof serial, r) != sizeof serial) memset(serial, 7, sizeof serial);
    if (r) fclose(r);
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    X509_NAME *name = X509_get_subject_name(x);
    int ok = bn && X509_set_version(x, 2) && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
             X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                        -1, 0) &&
             X509_set_issuer_name(x, name) && X509_set_pubkey(x, key);
    if (ok) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *e1 =
            X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        X509_EXTENSION *e2 =
            X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,digitalSignature,keyCertSign");
        X509_EXTENSION *e3 = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
        ok = e1 && e2 && e3 && X509_add_ext(x, e1, -1) && X509_add_ext(x, e2, -1) &&
             X509_add_ext(x, e3, -1);
        X509_EXTENSION_free(e1);
        X509_EXTENSION_free(e2);
        X509_EXTENSION_free(e3);
    }
    /* Ed25519 signs without a separate digest */
    if (ok)
        ok = X509_sign(x, key,
                       EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) > 0;
    BN_free(bn);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static FILE *create(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "wharf token keygen: %s: %m (will not overwrite)\n", path);
        return NULL;
    }
    return fdopen(fd, "w");
}

static int write_jwks(const char *path, EVP_PKEY *key, const char *kid, const char *alg)
{
    /* the public key as a JWK: reuse the thumbprint's members */
    struct json_object *k = json_object_new_object(), *doc = json_object_new_object(),
                       *arr = json_object_new_array();
    int id = EVP_PKEY_get_base_id(key), rc = 1;
    BIGNUM *a = NULL, *b = NULL;
    char *s1 = NULL, *s2 = NULL;
    unsigned char buf[1024];
    size_t n;
    if (id == EVP_PKEY_EC) {
        int bytes = (EVP_PKEY_get_bits(key) + 7) / 8;
        if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &a) ||
            !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &b) ||
            BN_bn2binpad(a, buf, bytes) < 0 || !(s1 = b64url_encode(buf, (size_t)bytes)) ||
            BN_bn2binpad(b, buf, bytes) < 0 || !(s2 = b64url_encode(buf, (size_t)bytes)))
            goto out;
        json_object_object_add(k, "kty", json_object_new_string("EC"));
        json_object_object_add(k, "crv",
                               json_object_new_string(bytes == 32   ? "P-256"
                                                      : bytes == 48 ? "P-384"
                                                                    : "P-521"));
        json_object_object_add(k, "x", json_object_new_string(s1));
        json_object_object_add(k, "y", json_object_new_string(s2));
    } else if (id == EVP_PKEY_RSA) {
        if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &a) ||
            !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &b) ||
            BN_num_bytes(a) > (int)sizeof buf)
            goto out;
        n = (size_t)BN_bn2bin(a, buf);
        s1 = b64url_encode(buf, n);
        n = (size_t)BN_bn2bin(b, buf);
        s2 = b64url_encode(buf, n);
        if (!s1 || !s2) goto out;
        json_object_object_add(k, "kty", json_object_new_string("RSA"));
        json_object_object_add(k, "n", json_object_new_string(s1));
        json_object_object_add(k, "e", json_object_new_string(s2));
    } else {
        n = sizeof buf;
        if (!EVP_PKEY_get_raw_public_key(key, buf, &n) || !(s1 = b64url_encode(buf, n))) goto out;
        json_object_object_add(k, "kty", json_object_new_string("OKP"));
        json_object_object_add(k, "crv", json_object_new_string("Ed25519"));
        json_object_object_add(k, "x", json_object_new_string(s1));
    }
    json_object_object_add(k, "kid", json_object_new_string(kid));
    json_object_object_add(k, "use", json_object_new_string("sig"));
    json_object_object_add(k, "alg", json_object_new_string(alg));
    json_object_array_add(arr, json_object_get(k));
    json_object_object_add(doc, "keys", arr);
    FILE *f = create(path, 0644);
    if (!f) goto out;
    fprintf(f, "%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY));
    rc = fclose(f) == 0 ? 0 : 1;
out:
    BN_free(a);
    BN_free(b);
    free(s1);
    free(s2);
    json_object_put(k);
    json_object_put(doc);
    return rc;
}

int cmd_token_keygen(int argc, char **argv)
{
    const char *alg = "ES256", *cn = "wharf token signer", *prefix = "token";
    int days = 3650, rc = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--alg"))
            alg = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--cn"))
            cn = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--days"))
            days = atoi(argv[++i]);
        else if (i + 1 < argc && (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")))
            prefix = argv[++i];
        else {
            fprintf(stderr, "usage: wharf token keygen [--alg ES256|ES384|ES512|RS256|EdDSA] "
                            "[--days N] [--cn NAME] [-o PREFIX]\n");
            return 2;
        }
    }
    if (days < 1 || days > 36500) {
        fprintf(stderr, "wharf token keygen: --days must be 1..36500\n");
        return 2;
    }
    EVP_PKEY *key = genkey(alg);
    X509 *x = NULL;
    char kid[64], *kpath = NULL, *cpath = NULL, *jpath = NULL;
    if (!key) {
        fprintf(stderr, "wharf token keygen: unknown or failed algorithm %s\n", alg);
        return 2;
    }
    if (jwt_libtrust_kid(key, kid, sizeof kid) || !(x = selfsign(key, cn, days)) ||
        asprintf(&kpath, "%s.key", prefix) < 0 || asprintf(&cpath, "%s.crt", prefix) < 0 ||
        asprintf(&jpath, "%s.jwks", prefix) < 0) {
        fprintf(stderr, "wharf token keygen: cannot make the key or certificate\n");
        goto out;
    }
    FILE *f = create(kpath, 0600);
    if (!f) goto out;
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (fclose(f) || !ok) goto out;
    if (!(f = create(cpath, 0644))) goto out;
    ok = PEM_write_X509(f, x) == 1;
    if (fclose(f) || !ok) goto out;
    if (write_jwks(jpath, key, kid, alg)) goto out;
    printf("key:  %s (%s, keep secret: fastcgi.tokenservice.signingkey)\n"
           "cert: %s (append to auth.token.rootcertbundle)\n"
           "jwks: %s (auth.token.jwks)\nkid:  %s\n",
           kpath, alg, cpath, jpath, kid);
    rc = 0;
out:
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(x);
    free(kpath);
    free(cpath);
    free(jpath);
    return rc;
}
