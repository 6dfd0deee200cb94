/* fuzz_s3xml: the XML an S3 endpoint answers, as the S3 driver reads it
 * (storage/drivers/s3.c): a ListObjectsV2 page for a walk (list_page) and
 * for a directory listing (dir_page), a DeleteObjects result (delete_result)
 * and error documents (xml_find).
 * Input: the directory key on the first line ("" allowed), then the body.
 * The driver's parsers are file statics, so the target includes the file;
 * libwharf.a's copy of it is then never linked. */
#include "fuzz.h"

#include "../../storage/drivers/s3.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *dk = fuzz_split(&data, &size);
    /* a response body is a struct buf: NUL-terminated after len bytes */
    char *body = fuzz_strndup(data, size);
    struct arena *a = arena_new(), *t = arena_new();

    struct s3_list l;
    memset(&l, 0, sizeof l);
    char *token = NULL;
    list_page(a, body, size, &l, &token);
    for (size_t i = 0; i < l.n; i++)
        if (!l.e[i].key) abort();
    if (token && !*token) abort();

    struct page_ent v[8];
    for (int pass = 0; pass < 2; pass++) {
        size_t k = dir_page(t, a, body, size, dk, pass ? "a" : NULL, v, 8);
        if (k > 8) abort();
        for (size_t i = 0; i < k; i++)
            if (!*v[i].name || strchr(v[i].name, '/')) abort();
    }

    /* an error document: <Error><Code>...</Code></Error> */
    const char *vs, *ve, *cs, *ce, *next, *p = body, *e = body + size;
    while (xml_find(p, e, "Error", &vs, &ve, &next)) {
        if (vs > ve || ve > e || next > e) abort();
        if (xml_find(vs, ve, "Code", &cs, &ce, NULL)) {
            char code[64];
            snprintf(code, sizeof code, "%.*s", (int)(ce - cs), cs);
        }
        p = next;
    }
    /* a DeleteObjects result passes only when every error is NoSuchKey */
    if (delete_result(body, size) == 0) {
        p = body;
        while (xml_find(p, e, "Error", &vs, &ve, &next)) {
            char *code = xml_get(a, vs, ve, "Code");
            if (!code || strcmp(code, "NoSuchKey")) {
                fprintf(stderr, "delete_result: error %s taken for NoSuchKey\n",
                        code ? code : "(none)");
                abort();
            }
            p = next;
        }
    }
    (void)xml_get(a, body, e, "UploadId");
    (void)xml_get(a, body, e, "ETag");

    arena_free(t);
    arena_free(a);
    free(body);
    free(dk);
    return 0;
}
