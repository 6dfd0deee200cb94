/* digest.h — content digests ("sha256:<64 hex>", "sha512:<128 hex>") and a
 * streaming hasher whose state can be saved and restored, so an upload's next
 * chunk may be hashed by another process. The saved state uses the byte format
 * of Go's crypto/sha256 and crypto/sha512 MarshalBinary, the format the
 * reference registry writes under _uploads/<uuid>/hashstates/. */
#ifndef WHARF_DIGEST_H
#define WHARF_DIGEST_H

#include <stddef.h>
#include <stdint.h>

enum digest_alg { DIGEST_NONE = 0, DIGEST_SHA256 = 1, DIGEST_SHA512 = 2 };

#define DIGEST_MAX_STR 136 /* "sha512:" + 128 hex + NUL, rounded */
#define DIGEST_STATE_MAX 256

/* digest_parse: validate s per the OCI grammar restricted to registered algorithms.
 * On success sets *alg and *hex (points into s). Returns 0, WERR_INVALID for a
 * malformed digest (also an algorithm over 32 or an encoded part over 1024
 * characters: bounds), WERR_UNSUPPORTED for a well-formed one of an unknown algorithm. */
int digest_parse(const char *s, enum digest_alg *alg, const char **hex);
const char *digest_alg_name(enum digest_alg alg);       /* "sha256" / "sha512" */
enum digest_alg digest_alg_from_name(const char *name); /* DIGEST_NONE when unknown */
size_t digest_hex_len(enum digest_alg alg);

/* The hasher. Fixed size, no heap; copy freely. */
struct hasher {
    enum digest_alg alg;
    uint64_t len; /* bytes hashed so far */
    union {
        unsigned char opaque[256];
        long long align;
    } ctx;
};
void hasher_init(struct hasher *h, enum digest_alg alg);
void hasher_update(struct hasher *h, const void *p, size_t n);
/* hasher_final: writes "alg:hex" into out (DIGEST_MAX_STR bytes); h stays usable
 * only after a new hasher_init. */
void hasher_final(struct hasher *h, char out[DIGEST_MAX_STR]);
/* hasher_save: writes the state to out (DIGEST_STATE_MAX bytes); returns its length. */
size_t hasher_save(const struct hasher *h, unsigned char *out);
/* hasher_load: restores a saved state; WERR_INVALID when it is not one. */
int hasher_load(struct hasher *h, enum digest_alg alg, const unsigned char *p, size_t n);

/* digest_of: one-shot digest of a buffer into out. */
void digest_of(enum digest_alg alg, const void *p, size_t n, char out[DIGEST_MAX_STR]);

#endif
