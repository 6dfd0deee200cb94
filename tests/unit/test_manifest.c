/* test_manifest.c — storage/manifest.c: parsing and validation of Docker
 * schema 2, Docker manifest lists, OCI manifests (with and without
 * mediaType), OCI indexes and OCI 1.1 artifacts; schema 1 refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/arena.h"
#include "../../lib/digest.h"
#include "../../lib/err.h"
#include "../../storage/manifest.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
/* OCI image-spec: the empty descriptor's content is "{}" */
#define EMPTY_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_DOCKER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"

static const char DOCKER_V2[] =
    "{\n"
    "  \"schemaVersion\": 2,\n"
    "  \"mediaType\": \"" MT_DOCKER_V2 "\",\n"
    "  \"config\": {\"mediaType\": \"" MT_DOCKER_CONFIG "\", \"size\": 1469, \"digest\": \"" DA
    "\"},\n"
    "  \"layers\": [\n"
    "    {\"mediaType\": \"" MT_DOCKER_LAYER "\", \"size\": 2479, \"digest\": \"" DB "\"},\n"
    "    {\"mediaType\": \"" MT_DOCKER_FOREIGN "\", \"size\": 1234, \"digest\": \"" DC
    "\", \"urls\": [\"https://example.com/layer.tar.gz\"]}\n"
    "  ]\n"
    "}\n";

static const char DOCKER_LIST[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST "\",\"manifests\":["
    "{\"mediaType\":\"" MT_DOCKER_V2 "\",\"size\":528,\"digest\":\"" DA
    "\",\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"" MT_DOCKER_V2 "\",\"size\":529,\"digest\":\"" DB
    "\",\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}}]}";

#define OCI_BODY                                                                                   \
    "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":7023,\"digest\":\"" DA "\"},"        \
    "\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":32654,\"digest\":\"" DB "\"},"       \
    "{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":16724,\"digest\":\"" DC "\"}],"                  \
    "\"annotations\":{\"com.example.key1\":\"value1\"}}"

static const char OCI_WITH_MT[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\"," OCI_BODY;
static const char OCI_NO_MT[] = "{\"schemaVersion\":2," OCI_BODY;

static const char OCI_INDEX_NO_MT[] =
    "{\"schemaVersion\":2,\"manifests\":["
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":7143,\"digest\":\"" DA
    "\",\"platform\":{\"architecture\":\"ppc64le\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":7682,\"digest\":\"" DB "\"}]}";

static const char OCI_ARTIFACT[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
    "\"artifactType\":\"application/vnd.example.sbom.v1\","
    "\"config\":{\"mediaType\":\"" MT_OCI_EMPTY "\",\"digest\":\"" EMPTY_DIGEST
    "\",\"size\":2,\"data\":\"e30=\"},"
    "\"layers\":[{\"mediaType\":\"application/vnd.example.sbom.v1+json\",\"digest\":\"" DB
    "\",\"size\":123}],"
    "\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" DC "\",\"size\":1234},"
    "\"annotations\":{\"org.opencontainers.image.created\":\"2023-01-02T03:04:05Z\"}}";

struct fx {
    struct arena *a;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->a = arena_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    arena_free(f->a);
    free(f);
    return 0;
}

static int parse(struct fx *f, const char *body, const char *ct, struct manifest_info *mi,
                 const char **detail)
{
    *detail = NULL;
    return manifest_parse(f->a, body, strlen(body), ct, mi, detail);
}

/* expect_invalid: body (with ct) is refused with WERR_INVALID and a reason. */
static void expect_invalid(struct fx *f, const char *body, const char *ct, const char *why)
{
    struct manifest_info mi;
    const char *detail = NULL;
    int rc = manifest_parse(f->a, body, strlen(body), ct, &mi, &detail);
    if (rc != WERR_INVALID) fail_msg("%s: rc %d, want WERR_INVALID", why, rc);
    if (!detail || !*detail) fail_msg("%s: no detail", why);
}

static void test_docker_v2(void **state)
{
    struct fx *f = *state;
    struct manifest_info mi;
    const char *detail;
    assert_int_equal(parse(f, DOCKER_V2, MT_DOCKER_V2, &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_DOCKER_V2);
    assert_string_equal(mi.media_type, MT_DOCKER_V2);
    assert_true(mi.has_config);
    assert_string_equal(mi.config.media_type, MT_DOCKER_CONFIG);
    assert_string_equal(mi.config.digest, DA);
    assert_int_equal(mi.config.size, 1469);
    assert_int_equal(mi.nrefs, 2);
    assert_string_equal(mi.refs[0].digest, DB);
    assert_int_equal(mi.refs[0].size, 2479);
    assert_false(mi.refs[0].has_urls);
    /* a foreign layer with urls */
    assert_string_equal(mi.refs[1].media_type, MT_DOCKER_FOREIGN);
    assert_true(mi.refs[1].has_urls);
    assert_false(mi.has_subject);
    assert_null(mi.artifact_type);
    assert_false(manifest_is_index(mi.kind));
    /* without a Content-Type, the mediaType field decides */
    assert_int_equal(parse(f, DOCKER_V2, NULL, &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_DOCKER_V2);
    /* a Content-Type with parameters */
    assert_int_equal(parse(f, DOCKER_V2, MT_DOCKER_V2 "; charset=utf-8", &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_DOCKER_V2);
}

static void test_docker_list(void **state)
{
    struct fx *f = *state;
    struct manifest_info mi;
    const char *detail;
    assert_int_equal(parse(f, DOCKER_LIST, MT_DOCKER_LIST, &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_DOCKER_LIST);
    assert_string_equal(mi.media_type, MT_DOCKER_LIST);
    assert_true(manifest_is_index(mi.kind));
    assert_false(mi.has_config);
    assert_int_equal(mi.nrefs, 2);
    assert_string_equal(mi.refs[0].digest, DA);
    assert_string_equal(mi.refs[0].os, "linux");
    assert_string_equal(mi.refs[0].arch, "amd64");
    assert_string_equal(mi.refs[1].arch, "arm64");
    assert_int_equal(mi.refs[1].size, 529);

    /* a manifest list naming a non-manifest is refused */
    const char *bad = "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST "\",\"manifests\":["
                      "{\"mediaType\":\"" MT_DOCKER_LAYER "\",\"size\":1,\"digest\":\"" DA "\"}]}";
    expect_invalid(f, bad, NULL, "list entry of a layer type");
    /* a Docker list must carry its mediaType */
    const char *nomt = "{\"schemaVersion\":2,\"manifests\":[]}";
    expect_invalid(f, nomt, MT_DOCKER_LIST, "docker list without mediaType");
}

static void test_oci_manifest(void **state)
{
    struct fx *f = *state;
    struct manifest_info mi;
    const char *detail;
    /* with mediaType */
    assert_int_equal(parse(f, OCI_WITH_MT, MT_OCI_MANIFEST, &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_OCI_MANIFEST);
    assert_string_equal(mi.media_type, MT_OCI_MANIFEST);
    assert_int_equal(mi.nrefs, 2);
    assert_string_equal(mi.config.digest, DA);
    assert_int_equal(mi.refs[1].size, 16724);
    assert_int_equal(parse(f, OCI_WITH_MT, NULL, &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_OCI_MANIFEST);
    /* a Content-Type that is not a manifest type does not conflict */
    assert_int_equal(parse(f, OCI_WITH_MT, "application/json", &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_OCI_MANIFEST);

    /* without mediaType: Content-Type decides */
    assert_int_equal(parse(f, OCI_NO_MT, MT_OCI_MANIFEST, &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_OCI_MANIFEST);
    assert_string_equal(mi.media_type, MT_OCI_MANIFEST);
    assert_int_equal(mi.nrefs, 2);
    /* ...or the shape (config + layers) */
    assert_int_equal(parse(f, OCI_NO_MT, NULL, &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_OCI_MANIFEST);
    assert_int_equal(parse(f, OCI_NO_MT, "application/octet-stream", &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_OCI_MANIFEST);
    /* an OCI manifest body sent as an index has no "manifests" */
    expect_invalid(f, OCI_NO_MT, MT_OCI_INDEX, "manifest body with index Content-Type");
    /* a Docker Content-Type on a body without mediaType */
    expect_invalid(f, OCI_NO_MT, MT_DOCKER_V2, "docker v2 without mediaType");
}

static void test_oci_index(void **state)
{
    struct fx *f = *state;
    struct manifest_info mi;
    const char *detail;
    assert_int_equal(parse(f, OCI_INDEX_NO_MT, NULL, &mi, &detail), 0); /* inferred */
    assert_int_equal(mi.kind, MF_OCI_INDEX);
    assert_string_equal(mi.media_type, MT_OCI_INDEX);
    assert_int_equal(mi.nrefs, 2);
    assert_string_equal(mi.refs[0].os, "linux");
    assert_string_equal(mi.refs[0].arch, "ppc64le");
    assert_null(mi.refs[1].os);
    assert_null(mi.refs[1].arch);
    assert_int_equal(parse(f, OCI_INDEX_NO_MT, MT_OCI_INDEX, &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_OCI_INDEX);

    const char *with_mt =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
        "\",\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":1,\"digest\":\"" DA
        "\"}],"
        "\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":2,\"digest\":\"" DB "\"},"
        "\"artifactType\":\"application/vnd.example.index\"}";
    assert_int_equal(parse(f, with_mt, MT_OCI_INDEX, &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_OCI_INDEX);
    assert_true(mi.has_subject);
    assert_string_equal(mi.subject.digest, DB);
    assert_string_equal(mi.artifact_type, "application/vnd.example.index");
    /* an empty index is valid */
    assert_int_equal(
        parse(f, "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}", NULL,
              &mi, &detail),
        0);
    assert_int_equal(mi.nrefs, 0);
    /* an index without manifests */
    expect_invalid(f, "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\"}", NULL,
                   "index without manifests");
}

static void test_oci_artifact(void **state)
{
    struct fx *f = *state;
    struct manifest_info mi;
    const char *detail;
    /* the empty descriptor's digest is the digest of "{}" */
    char d[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, "{}", 2, d);
    assert_string_equal(d, EMPTY_DIGEST);

    assert_int_equal(parse(f, OCI_ARTIFACT, MT_OCI_MANIFEST, &mi, &detail), 0);
    assert_int_equal(mi.kind, MF_OCI_MANIFEST);
    assert_string_equal(mi.artifact_type, "application/vnd.example.sbom.v1");
    assert_true(mi.has_config);
    assert_string_equal(mi.config.media_type, MT_OCI_EMPTY);
    assert_string_equal(mi.config.digest, EMPTY_DIGEST);
    assert_int_equal(mi.config.size, 2);
    assert_true(mi.has_subject);
    assert_string_equal(mi.subject.digest, DC);
    assert_string_equal(mi.subject.media_type, MT_OCI_MANIFEST);
    assert_int_equal(mi.subject.size, 1234);
    assert_int_equal(mi.nrefs, 1);
    assert_string_equal(mi.refs[0].media_type, "application/vnd.example.sbom.v1+json");

    /* a subject that is not a valid descriptor */
    const char *badsubj = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                          "\"config\":{\"mediaType\":\"" MT_OCI_EMPTY
                          "\",\"digest\":\"" EMPTY_DIGEST "\",\"size\":2},\"layers\":[],"
                          "\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":1}}";
    expect_invalid(f, badsubj, NULL, "subject without digest");
}

static void test_schema1(void **state)
{
    struct fx *f = *state;
    struct manifest_info mi;
    const char *detail;
    const char *s1 = "{\"schemaVersion\":1,\"name\":\"hello\",\"tag\":\"latest\","
                     "\"architecture\":\"amd64\",\"fsLayers\":[{\"blobSum\":\"" DA "\"}],"
                     "\"history\":[{\"v1Compatibility\":\"{}\"}],"
                     "\"signatures\":[{\"header\":{},\"signature\":\"x\",\"protected\":\"y\"}]}";
    assert_int_equal(parse(f, s1, MT_DOCKER_V1_SIGNED, &mi, &detail), WERR_UNSUPPORTED);
    assert_non_null(detail);
    assert_int_equal(parse(f, s1, NULL, &mi, &detail), WERR_UNSUPPORTED);
    assert_int_equal(parse(f, s1, MT_DOCKER_V1, &mi, &detail), WERR_UNSUPPORTED);
    /* well-formed: the kind and fsLayers are there for compatibility.schema1 */
    assert_int_equal(mi.kind, MF_SCHEMA1);
    assert_int_equal(mi.nrefs, 1);
    assert_string_equal(mi.refs[0].digest, DA);
    assert_non_null(strstr(detail, "compatibility.schema1"));
    /* malformed schema 1 is invalid, not merely unsupported */
    expect_invalid(f, "{\"schemaVersion\":1,\"name\":\"h\",\"tag\":\"t\",\"fsLayers\":[]}", NULL,
                   "schema 1 without layers");
    expect_invalid(f,
                   "{\"schemaVersion\":1,\"name\":\"h\",\"tag\":\"t\","
                   "\"fsLayers\":[{\"blobSum\":\"" DA "\"}],\"history\":[{}]}",
                   NULL, "schema 1 unsigned");
    expect_invalid(f,
                   "{\"schemaVersion\":1,\"name\":\"h\",\"tag\":\"t\","
                   "\"fsLayers\":[{\"blobSum\":\"nope\"}],\"history\":[{}],\"signatures\":[{}]}",
                   NULL, "schema 1 bad blobSum");
    expect_invalid(f,
                   "{\"schemaVersion\":1,\"name\":\"h\",\"tag\":\"t\","
                   "\"fsLayers\":[{\"blobSum\":\"" DA "\"}],\"history\":[],\"signatures\":[{}]}",
                   NULL, "schema 1 history length");
    /* a schema 2 body claiming the schema 1 media type */
    expect_invalid(f, "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_V1 "\"," OCI_BODY, NULL,
                   "schema 2 body with the v1 mediaType");
}

static void test_urls_and_annotations(void **state)
{
    struct fx *f = *state;
    struct manifest_info mi;
    const char *detail;
    const char *m = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                    "\"config\":{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1},"
                    "\"layers\":[{\"mediaType\":\"c/d\",\"digest\":\"" DA "\",\"size\":1,"
                    "\"urls\":[\"https://x.example/1\",\"http://y.example/2\"]}],"
                    "\"annotations\":{\"k\":\"v/w\"}}";
    assert_int_equal(parse(f, m, NULL, &mi, &detail), 0);
    assert_int_equal(mi.refs[0].nurls, 2);
    assert_true(mi.refs[0].has_urls);
    assert_string_equal(mi.refs[0].urls[0], "https://x.example/1");
    assert_string_equal(mi.refs[0].urls[1], "http://y.example/2");
    assert_string_equal(mi.annotations, "{\"k\":\"v/w\"}");
    expect_invalid(f,
                   "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                   "\"config\":{\"mediaType\":\"a/b\",\"digest\":\"" DA "\",\"size\":1},"
                   "\"layers\":[{\"mediaType\":\"c/d\",\"digest\":\"" DA "\",\"size\":1,"
                   "\"urls\":[5]}]}",
                   NULL, "a url that is not a string");
}

static void test_bad_json(void **state)
{
    struct fx *f = *state;
    expect_invalid(f, "", NULL, "empty body");
    expect_invalid(f, "{", NULL, "unterminated object");
    expect_invalid(f, "[]", NULL, "array");
    expect_invalid(f, "null", NULL, "null");
    expect_invalid(f, "2", NULL, "number");
    expect_invalid(f, "\"x\"", NULL, "string");
    expect_invalid(f, "{\"schemaVersion\":2,}", NULL, "trailing comma");
    expect_invalid(f, "{'schemaVersion':2}", NULL, "single quotes");
    expect_invalid(
        f, "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[] /* c */}",
        NULL, "comment");

    /* trailing garbage after the object */
    size_t n = strlen(OCI_WITH_MT);
    char *buf = malloc(n + 32);
    assert_non_null(buf);
    struct manifest_info mi;
    const char *detail;
    snprintf(buf, n + 32, "%s x", OCI_WITH_MT);
    expect_invalid(f, buf, NULL, "trailing garbage");
    snprintf(buf, n + 32, "%s{}", OCI_WITH_MT);
    expect_invalid(f, buf, NULL, "a second object");
    snprintf(buf, n + 32, "%s,", OCI_WITH_MT);
    expect_invalid(f, buf, NULL, "trailing comma after object");
    /* trailing white space is fine */
    snprintf(buf, n + 32, "%s \r\n\t\n", OCI_WITH_MT);
    assert_int_equal(parse(f, buf, NULL, &mi, &detail), 0);
    /* an embedded NUL after the object (length includes it) */
    memcpy(buf, OCI_WITH_MT, n);
    buf[n] = 0;
    buf[n + 1] = 'x';
    assert_int_equal(manifest_parse(f->a, buf, n + 2, NULL, &mi, &detail), WERR_INVALID);
    /* the length bounds the parse: a truncated body is refused */
    assert_int_equal(manifest_parse(f->a, OCI_WITH_MT, n - 1, NULL, &mi, &detail), WERR_INVALID);
    assert_int_equal(manifest_parse(f->a, OCI_WITH_MT, n, NULL, &mi, &detail), 0);
    free(buf);
}

/* nest(depth): {"schemaVersion":2, ..., "x": [[[...]]]} with depth levels in total */
static char *nested(int depth)
{
    size_t cap = 4096 + (size_t)depth * 2;
    char *s = malloc(cap);
    assert_non_null(s);
    int o = snprintf(
        s, cap, "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[],\"x\":");
    for (int i = 1; i < depth; i++)
        s[o++] = '[';
    for (int i = 1; i < depth; i++)
        s[o++] = ']';
    s[o++] = '}';
    s[o] = 0;
    return s;
}

static void test_depth(void **state)
{
    struct fx *f = *state;
    struct manifest_info mi;
    const char *detail;
    char *s = nested(10);
    assert_int_equal(parse(f, s, NULL, &mi, &detail), 0);
    free(s);
    s = nested(40);
    expect_invalid(f, s, NULL, "40 levels");
    free(s);
    s = nested(5000);
    expect_invalid(f, s, NULL, "5000 levels");
    free(s);
}

static void test_schema_version(void **state)
{
    struct fx *f = *state;
    expect_invalid(f, "{\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}", NULL,
                   "schemaVersion missing");
    expect_invalid(f, "{\"schemaVersion\":3,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}",
                   NULL, "schemaVersion 3");
    expect_invalid(f, "{\"schemaVersion\":0,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}",
                   NULL, "schemaVersion 0");
    expect_invalid(f,
                   "{\"schemaVersion\":\"2\",\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}",
                   NULL, "schemaVersion a string");
    expect_invalid(f, "{\"schemaVersion\":2.0,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}",
                   NULL, "schemaVersion a double");
}

static void test_media_type_mismatch(void **state)
{
    struct fx *f = *state;
    struct manifest_info mi;
    const char *detail;
    expect_invalid(f, OCI_WITH_MT, MT_DOCKER_V2, "OCI body, Docker Content-Type");
    expect_invalid(f, OCI_WITH_MT, MT_OCI_INDEX, "manifest body, index Content-Type");
    expect_invalid(f, DOCKER_V2, MT_OCI_MANIFEST, "Docker body, OCI Content-Type");
    expect_invalid(f, DOCKER_LIST, MT_OCI_INDEX, "Docker list, OCI index Content-Type");
    /* the same type with parameters and spaces is not a mismatch */
    assert_int_equal(parse(f, OCI_WITH_MT, MT_OCI_MANIFEST " ; charset=utf-8", &mi, &detail), 0);
    /* unknown or non-string mediaType */
    expect_invalid(f, "{\"schemaVersion\":2,\"mediaType\":\"application/json\"," OCI_BODY, NULL,
                   "unknown mediaType");
    expect_invalid(f, "{\"schemaVersion\":2,\"mediaType\":5," OCI_BODY, NULL, "numeric mediaType");
    /* no mediaType, no Content-Type, no recognisable shape */
    expect_invalid(f, "{\"schemaVersion\":2,\"layers\":[]}", NULL, "shapeless");
}

/* a manifest with one layer descriptor given as text */
static void expect_bad_layer(struct fx *f, const char *layer, const char *why)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
             "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":1,\"digest\":\"" DA
             "\"},\"layers\":[%s]}",
             layer);
    expect_invalid(f, body, NULL, why);
    /* the same descriptor as the config */
    snprintf(body, sizeof body,
             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
             "\"config\":%s,\"layers\":[]}",
             layer);
    expect_invalid(f, body, NULL, why);
}

static void test_bad_descriptors(void **state)
{
    struct fx *f = *state;
    expect_bad_layer(f, "{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":1}", "digest missing");
    expect_bad_layer(f, "{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"" DA "\"}",
                     "size missing");
    expect_bad_layer(f, "{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":-1,\"digest\":\"" DA "\"}",
                     "negative size");
    expect_bad_layer(f, "{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":\"1\",\"digest\":\"" DA "\"}",
                     "size a string");
    expect_bad_layer(f, "{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":1.5,\"digest\":\"" DA "\"}",
                     "size a double");
    expect_bad_layer(f, "{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":1,\"digest\":\"sha256:abc\"}",
                     "digest too short");
    expect_bad_layer(f,
                     "{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":1,\"digest\":\"sha256:"
                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
                     "digest upper case");
    expect_bad_layer(f, "{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":1,\"digest\":5}",
                     "digest a number");
    expect_bad_layer(f, "{\"size\":1,\"digest\":\"" DA "\"}", "mediaType missing");
    expect_bad_layer(f,
                     "{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":1,\"digest\":\"" DA
                     "\",\"urls\":\"http://x\"}",
                     "urls not an array");
    expect_bad_layer(f, "\"" DA "\"", "descriptor a string");
    expect_bad_layer(f, "[]", "descriptor an array");

    /* layers not an array / missing; config missing */
    expect_invalid(f,
                   "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                   "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":1,\"digest\":\"" DA
                   "\"},\"layers\":{}}",
                   NULL, "layers an object");
    expect_invalid(f,
                   "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                   "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":1,\"digest\":\"" DA
                   "\"},\"layers\":null}",
                   NULL, "layers null");
    expect_invalid(f,
                   "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                   "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":1,\"digest\":\"" DA
                   "\"}}",
                   NULL, "layers missing");
    expect_invalid(f, "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"layers\":[]}",
                   NULL, "config missing");
    expect_invalid(f, "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":{}}",
                   NULL, "manifests an object");
    /* an index entry that is not a descriptor */
    expect_invalid(f,
                   "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
                   "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":-5,\"digest\":\"" DA "\"}]}",
                   NULL, "index entry negative size");

    /* size 0 and a large size are valid */
    struct manifest_info mi;
    const char *detail;
    const char *ok = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                     "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":0,\"digest\":\"" DA
                     "\"},\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER
                     "\",\"size\":9007199254740993,\"digest\":\"" DB "\",\"urls\":[]}]}";
    assert_int_equal(parse(f, ok, NULL, &mi, &detail), 0);
    assert_int_equal(mi.config.size, 0);
    assert_int_equal(mi.refs[0].size, 9007199254740993LL);
    assert_false(mi.refs[0].has_urls); /* an empty urls list */
}

/* sizes outside 0..2^63-1 (json-c saturates them silently) and non-integers */
static void test_size_range(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {
        "18446744073709551616",
        "18446744073709551615",
        "9223372036854775808",
        "99999999999999999999999",
        "-9223372036854775809",
        "-9223372036854775808",
        "1.0",
        "1e3",
        "2E2",
        "-0.0",
        "true",
        "null",
        "{}",
        "[1]",
    };
    char layer[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(layer, sizeof layer,
                 "{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":%s,\"digest\":\"" DA "\"}", bad[i]);
        expect_bad_layer(f, layer, bad[i]);
    }
    /* 2^63-1 is the largest size there is */
    struct manifest_info mi;
    const char *detail;
    const char *max = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                      "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":-0,\"digest\":\"" DA
                      "\"},\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER
                      "\",\"size\":9223372036854775807,\"digest\":\"" DB "\"}]}";
    assert_int_equal(parse(f, max, NULL, &mi, &detail), 0);
    assert_int_equal(mi.config.size, 0);
    assert_int_equal(mi.refs[0].size, INT64_MAX);
}

/* CVE-2021-41190: a document must read as one thing only */
static void test_ambiguous_shape(void **state)
{
    struct fx *f = *state;
#define CFG "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":1,\"digest\":\"" DA "\"}"
#define LAYERS "\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER "\",\"size\":1,\"digest\":\"" DB "\"}]"
#define MANIFESTS                                                                                  \
    "\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":1,\"digest\":\"" DC "\"}]"
    const char *both_mf = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\"," CFG
                          "," LAYERS "," MANIFESTS "}";
    const char *both_idx =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\"," CFG "," LAYERS "," MANIFESTS "}";
    const char *both_none = "{\"schemaVersion\":2," CFG "," LAYERS "," MANIFESTS "}";
    const char *idx_cfg =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\"," CFG "," MANIFESTS "}";
    const char *list_layers =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST "\"," LAYERS ",\"manifests\":[]}";
    const char *img_null_mf = "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_V2 "\"," CFG
                              "," LAYERS ",\"manifests\":null}";
    expect_invalid(f, both_mf, MT_OCI_MANIFEST, "image with manifests");
    expect_invalid(f, both_mf, NULL, "image with manifests, no Content-Type");
    expect_invalid(f, both_idx, MT_OCI_INDEX, "index with config and layers");
    expect_invalid(f, both_none, MT_OCI_INDEX, "both, Content-Type index");
    expect_invalid(f, both_none, MT_OCI_MANIFEST, "both, Content-Type image");
    expect_invalid(f, both_none, NULL, "both, nothing says which");
    expect_invalid(f, idx_cfg, NULL, "index with a config");
    expect_invalid(f, list_layers, MT_DOCKER_LIST, "manifest list with layers");
    expect_invalid(f, img_null_mf, MT_DOCKER_V2, "image with a null manifests member");
    /* the Content-Type alone says index, the document is an image */
    expect_invalid(f, "{\"schemaVersion\":2," CFG "," LAYERS "}", MT_OCI_INDEX,
                   "image shape, index Content-Type");
#undef CFG
#undef LAYERS
#undef MANIFESTS
}

static void test_kind_of(void **state)
{
    assert_int_equal(manifest_kind_of(MT_DOCKER_V2), MF_DOCKER_V2);
    assert_int_equal(manifest_kind_of(MT_DOCKER_LIST), MF_DOCKER_LIST);
    assert_int_equal(manifest_kind_of(MT_OCI_MANIFEST), MF_OCI_MANIFEST);
    assert_int_equal(manifest_kind_of(MT_OCI_INDEX), MF_OCI_INDEX);
    assert_int_equal(manifest_kind_of(MT_DOCKER_V1), MF_SCHEMA1);
    assert_int_equal(manifest_kind_of(MT_DOCKER_V1_SIGNED), MF_SCHEMA1);
    assert_int_equal(manifest_kind_of("application/json"), MF_UNKNOWN);
    assert_int_equal(manifest_kind_of(""), MF_UNKNOWN);
    assert_int_equal(manifest_kind_of(NULL), MF_UNKNOWN);
    assert_true(manifest_is_index(MF_OCI_INDEX));
    assert_true(manifest_is_index(MF_DOCKER_LIST));
    assert_false(manifest_is_index(MF_OCI_MANIFEST));
    assert_false(manifest_is_index(MF_DOCKER_V2));
    assert_false(manifest_is_index(MF_UNKNOWN));
}

static void test_media_type_inference(void **state)
{
    struct fx *f = *state;
    struct arena *a = f->a;
#define MMT(s) manifest_media_type(a, (s), strlen(s))
    assert_string_equal(MMT(DOCKER_V2), MT_DOCKER_V2);
    assert_string_equal(MMT(DOCKER_LIST), MT_DOCKER_LIST);
    assert_string_equal(MMT(OCI_WITH_MT), MT_OCI_MANIFEST);
    assert_string_equal(MMT(OCI_NO_MT), MT_OCI_MANIFEST);
    assert_string_equal(MMT(OCI_INDEX_NO_MT), MT_OCI_INDEX);
    assert_string_equal(MMT(OCI_ARTIFACT), MT_OCI_MANIFEST);
    assert_string_equal(MMT("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[],"
                            "\"signatures\":[{}]}"),
                        MT_DOCKER_V1_SIGNED);
    assert_string_equal(MMT("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}"), MT_DOCKER_V1);
    /* never NULL, even for garbage */
    const char *g = MMT("not json");
    assert_non_null(g);
    g = MMT("");
    assert_non_null(g);
#undef MMT
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_docker_v2),
        T(test_docker_list),
        T(test_oci_manifest),
        T(test_oci_index),
        T(test_oci_artifact),
        T(test_schema1),
        T(test_urls_and_annotations),
        T(test_bad_json),
        T(test_depth),
        T(test_schema_version),
        T(test_media_type_mismatch),
        T(test_bad_descriptors),
        T(test_size_range),
        T(test_ambiguous_shape),
        T(test_kind_of),
        T(test_media_type_inference),
    };
#undef T
    return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
