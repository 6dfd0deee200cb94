/* jwt.h — JSON Web Tokens (RFC 7519) signed with JWS (RFC 7515) for the
 * Docker token protocol: verification against a set of trusted keys, and
 * signing for Wharf's token service. OpenSSL 3 EVP only.
 *
 * Algorithms: RS256/384/512, PS256/384/512, ES256/384/512 (JOSE r||s
 * signatures), EdDSA (Ed25519, Ed448). "none", HS* and anything else are
 * refused. A verifying key is chosen, as the reference registry does, by the
 * header's x5c (a chain to a root of the bundle), else its jwk (must equal a
 * trusted key), else its kid (libtrust key id or RFC 7638 thumbprint of a
 * bundle certificate's key, or a JWKS key's kid). */
#ifndef WHARF_JWT_H
#define WHARF_JWT_H

#include <stddef.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#define JWT_MAX_LEN (64 * 1024) /* bound on a token (x5c chains make them long) */

struct jwt_keyset;

/* jwt_keyset_new: an empty set (returns NULL when out of memory). */
struct jwt_keyset *jwt_keyset_new(void);
void jwt_keyset_free(struct jwt_keyset *ks);
/* jwt_keyset_add_certs: every certificate of a PEM bundle becomes a root for
 * x5c chains and a trusted key by libtrust id and thumbprint. WERR_IO when
 * unreadable, WERR_INVALID when it holds no certificate; err says why. */
int jwt_keyset_add_certs(struct jwt_keyset *ks, const char *path, char *err, size_t errlen);
/* jwt_keyset_add_jwks: the keys of a JWKS file ({"keys":[...]}) by kid. */
int jwt_keyset_add_jwks(struct jwt_keyset *ks, const char *path, char *err, size_t errlen);
/* jwt_keyset_add_key: one public key by kid (kid copied; key up-ref'd). */
int jwt_keyset_add_key(struct jwt_keyset *ks, EVP_PKEY *key, const char *kid);
size_t jwt_keyset_count(const struct jwt_keyset *ks);

struct jwt_verify_opts {
    const char *issuer;      /* required match of "iss" (NULL: not checked) */
    const char *audience;    /* must be "aud" or in it (NULL: not checked) */
    long leeway;             /* seconds of clock skew allowed on exp/nbf */
    const char *const *algs; /* allowed algorithms (NULL: every supported one) */
    size_t nalgs;
    time_t now; /* 0: time(NULL) */
};

/* jwt_verify: check a compact JWS token: syntax, algorithm, key, signature,
 * iss, aud, exp (required), nbf. On success *claims is the payload object
 * (caller: json_object_put). WERR_INVALID otherwise, with a short reason in
 * err that never contains the token. */
int jwt_verify(const struct jwt_keyset *ks, const char *token, const struct jwt_verify_opts *o,
               struct json_object **claims, char *err, size_t errlen);

/* jwt_alg_supported: 1 when alg is one Wharf verifies. */
int jwt_alg_supported(const char *alg);
/* jwt_key_alg: the JWS algorithm Wharf signs with for key (ES256 for P-256,
 * ES384, ES512, RS256 for RSA, EdDSA) or NULL. */
const char *jwt_key_alg(EVP_PKEY *key);
/* jwt_libtrust_kid: the reference registry's key id of a public key: base32
 * of the first 30 bytes of SHA-256 of its DER SubjectPublicKeyInfo, in 12
 * groups of 4 joined by ':' (out: at least 60 bytes). 0 or WERR_INVALID. */
int jwt_libtrust_kid(EVP_PKEY *key, char *out, size_t outlen);
/* jwt_thumbprint: RFC 7638 JWK SHA-256 thumbprint, base64url (malloc'd) or NULL. */
char *jwt_thumbprint(EVP_PKEY *key);
/* jwt_sign: compact JWS of the JSON object payload (serialised as is) with
 * key; header {"typ":"JWT","alg":...,"kid":kid}. *out malloc'd. */
int jwt_sign(EVP_PKEY *key, const char *kid, struct json_object *payload, char **out);
/* jwt_pkey_from_jwk: a public key from a JWK object (RSA, EC P-256/384/521,
 * OKP Ed25519/Ed448); NULL when malformed. Caller: EVP_PKEY_free. */
EVP_PKEY *jwt_pkey_from_jwk(struct json_object *jwk);

#endif
