/* fuzz_challenge: the WWW-Authenticate challenge of an upstream registry, as
 * the pull-through cache reads it (lib/upstream.c upstream_challenge_param:
 * realm, service, scope of a Bearer challenge). */
#include "fuzz.h"

#include "../../lib/upstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *www = fuzz_strndup(data, size);
    struct arena *a = arena_new();
    static const char *const keys[] = {"realm", "service", "scope", "error", ""};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = upstream_challenge_param(a, www, keys[i]);
        if (v) (void)strlen(v);
    }
    arena_free(a);
    free(www);
    return 0;
}
