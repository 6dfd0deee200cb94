#include "manifest.h"

#include "../lib/digest.h"
#include "../lib/err.h"

#include <json-c/json.h>
#include <string.h>

#define JSON_MAX_DEPTH 32

enum manifest_kind manifest_kind_of(const char *mt)
{
    if (!mt) return MF_UNKNOWN;
    if (!strcmp(mt, MT_DOCKER_V2)) return MF_DOCKER_V2;
    if (!strcmp(mt, MT_DOCKER_LIST)) return MF_DOCKER_LIST;
    if (!strcmp(mt, MT_OCI_MANIFEST)) return MF_OCI_MANIFEST;
    if (!strcmp(mt, MT_OCI_INDEX)) return MF_OCI_INDEX;
    if (!strcmp(mt, MT_DOCKER_V1) || !strcmp(mt, MT_DOCKER_V1_SIGNED)) return MF_SCHEMA1;
    return MF_UNKNOWN;
}

int manifest_is_index(enum manifest_kind k)
{
    return k == MF_DOCKER_LIST || k == MF_OCI_INDEX;
}

static const char *kind_type(enum manifest_kind k)
{
    switch (k) {
    case MF_DOCKER_V2: return MT_DOCKER_V2;
    case MF_DOCKER_LIST: return MT_DOCKER_LIST;
    case MF_OCI_MANIFEST: return MT_OCI_MANIFEST;
    case MF_OCI_INDEX: return MT_OCI_INDEX;
    case MF_SCHEMA1: return MT_DOCKER_V1_SIGNED;
    default: return NULL;
    }
}

static json_object *parse_json(const char *body, size_t len)
{
    if (len > 0x7fffffff) return NULL;
    json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (!tok) return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    /* trailing garbage after the object is an error too */
    if (o && (e != json_tokener_success || json_tokener_get_parse_end(tok) != len)) {
        size_t end = json_tokener_get_parse_end(tok);
        for (size_t i = end; i < len; i++)
            if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t') {
                json_object_put(o);
                o = NULL;
                break;
            }
    }
    json_tokener_free(tok);
    return o;
}

static const char *get_str(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* size_valid: a JSON integer in 0..2^63-1, as the reference (Go's int64)
 * reads it back. json-c saturates out-of-range integers instead of failing:
 * 2^64 parses as UINT64_MAX and -2^63-1 as INT64_MIN; a positive value above
 * INT64_MAX is kept as unsigned, so reading it unsigned tells it apart.
 * Floats (1.0, 1e3) and strings are not integers, whatever their value. */
static int size_valid(json_object *v)
{
    if (!json_object_is_type(v, json_type_int)) return 0;
    if (json_object_get_int64(v) < 0) return 0;
    return json_object_get_uint64(v) <= (uint64_t)INT64_MAX;
}

static int parse_descriptor(struct arena *a, json_object *o, struct descriptor *d,
                            const char **detail)
{
    memset(d, 0, sizeof(*d));
    if (!json_object_is_type(o, json_type_object)) {
        *detail = "descriptor is not an object";
        return WERR_INVALID;
    }
    const char *mt = get_str(o, "mediaType");
    const char *dg = get_str(o, "digest");
    json_object *sz;
    if (!mt || !*mt) {
        *detail = "descriptor without mediaType";
        return WERR_INVALID;
    }
    if (!dg || digest_parse(dg, NULL, NULL) != 0) {
        *detail = "descriptor with an invalid digest";
        return WERR_INVALID;
    }
    if (!json_object_object_get_ex(o, "size", &sz) || !size_valid(sz)) {
        *detail = "descriptor size is not an integer in 0..2^63-1";
        return WERR_INVALID;
    }
    d->media_type = arena_strdup(a, mt);
    d->digest = arena_strdup(a, dg);
    d->size = json_object_get_int64(sz);
    json_object *urls;
    if (json_object_object_get_ex(o, "urls", &urls)) {
        if (!json_object_is_type(urls, json_type_array)) {
            *detail = "descriptor urls is not an array";
            return WERR_INVALID;
        }
        size_t nu = json_object_array_length(urls);
        if (nu > 1024) {
            *detail = "descriptor with too many urls";
            return WERR_INVALID;
        }
        d->has_urls = nu > 0;
        d->urls = arena_alloc(a, (nu ? nu : 1) * sizeof(char *));
        for (size_t i = 0; i < nu; i++) {
            json_object *u = json_object_array_get_idx(urls, i);
            if (!json_object_is_type(u, json_type_string)) {
                *detail = "descriptor url is not a string";
                return WERR_INVALID;
            }
            d->urls[i] = arena_strdup(a, json_object_get_string(u));
        }
        d->nurls = nu;
    }
    const char *at = get_str(o, "artifactType");
    if (at) d->artifact_type = arena_strdup(a, at);
    json_object *plat;
    if (json_object_object_get_ex(o, "platform", &plat) &&
        json_object_is_type(plat, json_type_object)) {
        const char *os = get_str(plat, "os"), *arch = get_str(plat, "architecture");
        if (os) d->os = arena_strdup(a, os);
        if (arch) d->arch = arena_strdup(a, arch);
    }
    return 0;
}

/* Docker schema 1 (signed): name, tag, fsLayers[].blobSum, history of the same
 * length, signatures. The JWS signature itself is not verified. Returns
 * WERR_UNSUPPORTED when well-formed (the caller decides), else WERR_INVALID. */
static int parse_schema1(struct arena *a, json_object *o, struct manifest_info *out,
                         const char **detail)
{
    json_object *fs, *hist, *sig;
    if (!get_str(o, "name") || !get_str(o, "tag")) {
        *detail = "schema 1 manifest without name or tag";
        return WERR_INVALID;
    }
    if (!json_object_object_get_ex(o, "fsLayers", &fs) ||
        !json_object_is_type(fs, json_type_array) || json_object_array_length(fs) == 0 ||
        json_object_array_length(fs) > 100000) {
        *detail = "schema 1 manifest without fsLayers";
        return WERR_INVALID;
    }
    if (!json_object_object_get_ex(o, "history", &hist) ||
        !json_object_is_type(hist, json_type_array) ||
        json_object_array_length(hist) != json_object_array_length(fs)) {
        *detail = "schema 1 history and fsLayers differ in length";
        return WERR_INVALID;
    }
    if (!json_object_object_get_ex(o, "signatures", &sig) ||
        !json_object_is_type(sig, json_type_array) || json_object_array_length(sig) == 0) {
        *detail = "schema 1 manifest is not signed";
        return WERR_INVALID;
    }
    size_t n = json_object_array_length(fs);
    out->refs = arena_zalloc(a, n * sizeof(struct descriptor));
    for (size_t i = 0; i < n; i++) {
        json_object *l = json_object_array_get_idx(fs, i);
        const char *dg = json_object_is_type(l, json_type_object) ? get_str(l, "blobSum") : NULL;
        if (!dg || digest_parse(dg, NULL, NULL) != 0) {
            *detail = "schema 1 fsLayers entry with an invalid blobSum";
            return WERR_INVALID;
        }
        out->refs[i].digest = arena_strdup(a, dg);
        out->refs[i].media_type = "application/vnd.docker.container.image.rootfs.diff+x-gtar";
    }
    out->nrefs = n;
    out->kind = MF_SCHEMA1;
    out->media_type = MT_DOCKER_V1_SIGNED;
    *detail = "manifest type unsupported: Docker schema 1 is disabled "
              "(compatibility.schema1.enabled); push Docker schema 2 or OCI";
    return WERR_UNSUPPORTED;
}

static enum manifest_kind infer_kind(json_object *o)
{
    json_object *v;
    if (json_object_object_get_ex(o, "manifests", &v)) return MF_OCI_INDEX;
    if (json_object_object_get_ex(o, "config", &v)) return MF_OCI_MANIFEST;
    return MF_UNKNOWN;
}

int manifest_parse(struct arena *a, const char *body, size_t len, const char *content_type,
                   struct manifest_info *out, const char **detail)
{
    int rc = WERR_INVALID;
    memset(out, 0, sizeof(*out));
    *detail = "manifest invalid";
    json_object *o = parse_json(body, len);
    if (!o || !json_object_is_type(o, json_type_object)) {
        *detail = "manifest is not a JSON object";
        goto out;
    }
    json_object *sv;
    if (!json_object_object_get_ex(o, "schemaVersion", &sv) ||
        !json_object_is_type(sv, json_type_int)) {
        *detail = "schemaVersion missing";
        goto out;
    }
    int64_t schema = json_object_get_int64(sv);
    if (schema == 1) {
        rc = parse_schema1(a, o, out, detail);
        goto out;
    }
    if (schema != 2) {
        *detail = "unsupported schemaVersion";
        goto out;
    }
    json_object *mtv = NULL;
    const char *mt = NULL;
    if (json_object_object_get_ex(o, "mediaType", &mtv)) {
        if (!json_object_is_type(mtv, json_type_string)) {
            *detail = "mediaType is not a string";
            goto out;
        }
        mt = json_object_get_string(mtv);
    }
    /* Content-Type without parameters */
    char *ct = NULL;
    if (content_type && *content_type) {
        ct = arena_strdup(a, content_type);
        char *semi = strchr(ct, ';');
        if (semi) *semi = 0;
        size_t n = strlen(ct);
        while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
            ct[--n] = 0;
    }
    enum manifest_kind kind;
    if (mt) {
        kind = manifest_kind_of(mt);
        if (kind == MF_UNKNOWN || kind == MF_SCHEMA1) {
            *detail = "unknown manifest mediaType";
            goto out;
        }
        if (ct && manifest_kind_of(ct) != MF_UNKNOWN && strcmp(ct, mt) != 0) {
            *detail = "mediaType does not match the Content-Type";
            goto out;
        }
    } else {
        kind = manifest_kind_of(ct);
        if (kind == MF_UNKNOWN) kind = infer_kind(o);
        if (kind == MF_DOCKER_V2 || kind == MF_DOCKER_LIST) {
            *detail = "Docker manifests must carry their mediaType";
            goto out;
        }
        if (kind == MF_UNKNOWN || kind == MF_SCHEMA1) {
            *detail = "cannot tell the manifest type";
            goto out;
        }
    }
    /* the shape must agree with the type (CVE-2021-41190): a document that
     * reads as an image to one client and as an index to another must not be
     * stored under one digest */
    int has_layers = json_object_object_get_ex(o, "layers", NULL);
    int has_manifests = json_object_object_get_ex(o, "manifests", NULL);
    if (has_layers && has_manifests) {
        *detail = "manifest carries both layers and manifests";
        goto out;
    }
    if (manifest_is_index(kind) && (has_layers || json_object_object_get_ex(o, "config", NULL))) {
        *detail = "an index carries no config or layers (mediaType or Content-Type disagrees "
                  "with the document)";
        goto out;
    }
    if (!manifest_is_index(kind) && has_manifests) {
        *detail = "an image manifest carries no manifests (mediaType or Content-Type disagrees "
                  "with the document)";
        goto out;
    }
    out->kind = kind;
    out->media_type = kind_type(kind);
    const char *at = get_str(o, "artifactType");
    if (at) out->artifact_type = arena_strdup(a, at);
    json_object *ann;
    if (json_object_object_get_ex(o, "annotations", &ann) &&
        json_object_is_type(ann, json_type_object))
        out->annotations =
            arena_strdup(a, json_object_to_json_string_ext(
                                ann, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object *subj;
    if (json_object_object_get_ex(o, "subject", &subj)) {
        if ((rc = parse_descriptor(a, subj, &out->subject, detail)) != 0) goto out;
        out->has_subject = 1;
        rc = WERR_INVALID;
    }
    const char *listkey = manifest_is_index(kind) ? "manifests" : "layers";
    if (!manifest_is_index(kind)) {
        json_object *cfg;
        if (!json_object_object_get_ex(o, "config", &cfg)) {
            *detail = "config descriptor missing";
            goto out;
        }
        if ((rc = parse_descriptor(a, cfg, &out->config, detail)) != 0) goto out;
        out->has_config = 1;
        rc = WERR_INVALID;
    }
    json_object *arr;
    if (!json_object_object_get_ex(o, listkey, &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        *detail = manifest_is_index(kind) ? "manifests array missing" : "layers array missing";
        goto out;
    }
    size_t n = json_object_array_length(arr);
    if (n > 100000) {
        *detail = "too many descriptors";
        goto out;
    }
    out->refs = arena_alloc(a, (n ? n : 1) * sizeof(struct descriptor));
    for (size_t i = 0; i < n; i++) {
        if ((rc = parse_descriptor(a, json_object_array_get_idx(arr, i), &out->refs[i], detail)) !=
            0)
            goto out;
        if (manifest_is_index(kind) && manifest_kind_of(out->refs[i].media_type) == MF_UNKNOWN &&
            kind == MF_DOCKER_LIST) {
            *detail = "manifest list entry is not a manifest";
            rc = WERR_INVALID;
            goto out;
        }
    }
    out->nrefs = n;
    rc = 0;
out:
    if (o) json_object_put(o);
    return rc;
}

const char *manifest_media_type(struct arena *a, const char *body, size_t len)
{
    /* cheap path: a "mediaType" member at the top level of a well-formed manifest */
    json_object *o = parse_json(body, len);
    const char *res = MT_OCI_MANIFEST;
    if (!o || !json_object_is_type(o, json_type_object)) goto out;
    json_object *sv;
    if (json_object_object_get_ex(o, "schemaVersion", &sv) && json_object_get_int(sv) == 1) {
        res = get_str(o, "signatures") || json_object_object_get_ex(o, "signatures", NULL)
                  ? MT_DOCKER_V1_SIGNED
                  : MT_DOCKER_V1;
        goto out;
    }
    const char *mt = get_str(o, "mediaType");
    if (mt && *mt) {
        res = arena_strdup(a, mt);
        goto out;
    }
    res = infer_kind(o) == MF_OCI_INDEX ? MT_OCI_INDEX : MT_OCI_MANIFEST;
out:
    if (o) json_object_put(o);
    return res;
}
