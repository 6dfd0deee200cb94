/* fuzz_names: the grammar of what a URL names: repository names, tags,
 * digests and upload ids (lib/names.c, lib/digest.c), and a saved hash state
 * read back from storage (hasher_load). The whole input is tried as each,
 * and each verdict is checked against the spec's own regular expression
 * (POSIX ERE, glibc): the hand-written matchers must agree with it. */
#include "fuzz.h"

#include <regex.h>

#include "../../lib/digest.h"
#include "../../lib/err.h"
#include "../../lib/names.h"

/* the distribution spec's and image spec's grammars, anchored */
static const char *const grammar[] = {
    "^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$",
    "^[a-zA-Z0-9_][a-zA-Z0-9._-]*$",
    "^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$",
    "^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$",
    "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
};
enum { G_NAME, G_TAG, G_DIGEST, G_REGISTERED, G_UUID, G_COUNT };
static regex_t re[G_COUNT];
static int re_ready;

static void re_free(void)
{
    for (int i = 0; i < G_COUNT; i++)
        regfree(&re[i]);
}

static int matches(int g, const char *s)
{
    if (!re_ready) {
        for (int i = 0; i < G_COUNT; i++)
            if (regcomp(&re[i], grammar[i], REG_EXTENDED | REG_NOSUB) != 0) abort();
        re_ready = 1;
        atexit(re_free);
    }
    return regexec(&re[g], s, 0, NULL, 0) == 0;
}

static void disagree(const char *what, const char *s, int got)
{
    fprintf(stderr, "%s(\"%s\") = %d disagrees with the grammar\n", what, s, got);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    if (size <= 1100) {
        size_t len = strlen(s);
        int rc = name_valid(s, 0);
        if ((rc == 0) != matches(G_NAME, s)) disagree("name_valid", s, rc);
        rc = tag_valid(s, 128);
        if ((rc == 0) != (len <= 128 && matches(G_TAG, s))) disagree("tag_valid", s, rc);
        rc = uuid_valid(s);
        if ((rc == 0) != matches(G_UUID, s)) disagree("uuid_valid", s, rc);
        rc = digest_parse(s, NULL, NULL);
        if ((rc == 0) != matches(G_REGISTERED, s)) disagree("digest_parse", s, rc);
        /* the bounds: an algorithm of at most 32 characters, an encoded part
         * of at most 1024 */
        const char *colon = strchr(s, ':');
        int bounded = colon && colon - s <= 32 && strlen(colon + 1) <= 1024;
        if (rc == WERR_UNSUPPORTED && !(matches(G_DIGEST, s) && bounded))
            disagree("digest_parse", s, rc);
        if (rc == WERR_INVALID && matches(G_DIGEST, s) && bounded &&
            !(strncmp(s, "sha256:", 7) == 0 || strncmp(s, "sha512:", 7) == 0))
            disagree("digest_parse", s, rc);
    }
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
