/* fuzz_jwks: auth.token.jwks, a JWKS file ({"keys":[...]}) read into a key
 * set (lib/jwt.c jwt_keyset_add_jwks and the JWK parser under it). */
#include "fuzz.h"

#include "../../lib/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[256];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0) return 0;
    struct jwt_keyset *ks = jwt_keyset_new();
    if (!ks) abort();
    if (jwt_keyset_add_jwks(ks, path, err, sizeof err) != 0) (void)strlen(err);
    (void)jwt_keyset_count(ks);
    jwt_keyset_free(ks);
    close(fd);
    return 0;
}
