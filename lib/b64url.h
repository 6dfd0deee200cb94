/* b64url.h — base64 (RFC 4648 §4) and base64url without padding (§5, as JWS
 * uses it) and base32 (§6, for libtrust key ids). Decoders are strict: they
 * refuse characters outside the alphabet, impossible lengths and non-zero
 * trailing bits, so one token has exactly one encoding. */
#ifndef WHARF_B64URL_H
#define WHARF_B64URL_H

#include <stddef.h>

/* b64url_encode: n bytes of p as unpadded base64url into a malloc'd
 * NUL-terminated string (caller frees); NULL when out of memory. */
char *b64url_encode(const void *p, size_t n);
/* b64url_decode: decode len chars of s (unpadded base64url) into a malloc'd
 * buffer (NUL-terminated for convenience; caller frees), *outlen its length.
 * Returns 0, WERR_INVALID (bad alphabet/length/trailing bits) or WERR_NOMEM. */
int b64url_decode(const char *s, size_t len, unsigned char **out, size_t *outlen);
/* b64_decode: the same for standard base64 with optional '=' padding (HTTP
 * Basic credentials, x5c certificates). */
int b64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen);
/* b64_encode: standard padded base64 (malloc'd; NULL when out of memory). */
char *b64_encode(const void *p, size_t n);
/* base32_encode: RFC 4648 base32 without padding into out (size >= n*8/5+2). */
void base32_encode(const unsigned char *p, size_t n, char *out);

#endif
