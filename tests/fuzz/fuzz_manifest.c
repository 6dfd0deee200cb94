/* fuzz_manifest: manifest_parse and manifest_media_type (Docker schema 2,
 * manifest lists, OCI manifests and indexes, schema 1) on a pushed body.
 * Input: the Content-Type on the first line ("-" for none), then the body. */
#include "fuzz.h"

#include "../../lib/digest.h"
#include "../../storage/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *ct = fuzz_split(&data, &size);
    struct arena *a = arena_new();
    /* the body is not NUL-terminated: the parser is given its length */
    char *body = malloc(size ? size : 1);
    memcpy(body, data, size);
    struct manifest_info mi;
    const char *detail = NULL;
    int rc = manifest_parse(a, body, size, strcmp(ct, "-") ? ct : NULL, &mi, &detail);
    if (rc == 0) {
        /* an accepted manifest is of the kind its media type names, and
         * every descriptor in it names a digest and a size that can exist */
        if (!mi.media_type || manifest_kind_of(mi.media_type) != mi.kind || mi.kind == MF_UNKNOWN ||
            mi.kind == MF_SCHEMA1)
            abort();
        for (size_t i = 0; i < mi.nrefs; i++)
            if (digest_parse(mi.refs[i].digest, NULL, NULL) != 0 || mi.refs[i].size < 0) abort();
        if (mi.has_config &&
            (digest_parse(mi.config.digest, NULL, NULL) != 0 || mi.config.size < 0))
            abort();
        if (mi.has_subject && digest_parse(mi.subject.digest, NULL, NULL) != 0) abort();
        /* what the handlers read of a parsed manifest */
        volatile size_t sum = 0;
        if (mi.media_type) sum += strlen(mi.media_type);
        if (mi.has_config && mi.config.digest) sum += strlen(mi.config.digest);
        for (size_t i = 0; i < mi.nrefs; i++) {
            if (mi.refs[i].digest) sum += strlen(mi.refs[i].digest);
            if (mi.refs[i].media_type) sum += strlen(mi.refs[i].media_type);
            for (size_t j = 0; j < mi.refs[i].nurls; j++)
                sum += strlen(mi.refs[i].urls[j]);
        }
        if (mi.has_subject && mi.subject.digest) sum += strlen(mi.subject.digest);
        if (mi.annotations) sum += strlen(mi.annotations);
        (void)sum;
    } else if (detail) {
        (void)strlen(detail);
    }
    (void)strlen(manifest_media_type(a, body, size));
    free(body);
    arena_free(a);
    free(ct);
    return 0;
}
