/* fuzz_names: the grammar of what a URL names: repository names, tags,
 * digests and upload ids (lib/names.c, lib/digest.c), and a saved hash state
 * read back from storage (hasher_load). The whole input is tried as each. */
#include "fuzz.h"

#include "../../lib/digest.h"
#include "../../lib/err.h"
#include "../../lib/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    (void)name_valid(s, 0);
    (void)name_valid(s, 255);
    (void)tag_valid(s, 128);
    (void)tag_valid(s, 0);
    (void)uuid_valid(s);
    enum digest_alg alg;
    const char *hex;
    if (digest_parse(s, &alg, &hex) == 0) {
        /* a valid digest names a registered algorithm and its hex part */
        if (strlen(hex) != digest_hex_len(alg) || !digest_alg_name(alg)) abort();
    }
    (void)digest_alg_from_name(s);
    /* a hash state as stored under _uploads/<id>/hashstates/ */
    struct hasher h;
    for (int a = DIGEST_SHA256; a <= DIGEST_SHA512; a++)
        if (hasher_load(&h, (enum digest_alg)a, data, size) == 0) {
            char out[DIGEST_MAX_STR];
            hasher_update(&h, "x", 1);
            hasher_final(&h, out);
        }
    free(s);
    return 0;
}
