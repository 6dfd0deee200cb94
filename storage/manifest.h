/* manifest.h — parsing and validation of manifests: Docker schema 2, Docker
 * manifest list, OCI image manifest, OCI image index (and recognition of
 * Docker schema 1, which Wharf refuses on push). Strings point into the arena. */
#ifndef WHARF_MANIFEST_H
#define WHARF_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/arena.h"

#define MT_DOCKER_V2 "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_V1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"

enum manifest_kind {
    MF_UNKNOWN = 0,
    MF_DOCKER_V2,
    MF_DOCKER_LIST,
    MF_OCI_MANIFEST,
    MF_OCI_INDEX,
    MF_SCHEMA1,
};

struct descriptor {
    const char *media_type;
    const char *digest;
    int64_t size;
    int has_urls;
    const char **urls; /* the descriptor's urls (nurls of them) */
    size_t nurls;
    const char *artifact_type;
    const char *os, *arch; /* platform of an index entry, or NULL */
};

struct manifest_info {
    enum manifest_kind kind;
    const char *media_type; /* effective media type (served as Content-Type) */
    int has_config;
    struct descriptor config;
    struct descriptor *refs; /* layers (image) or manifests (index) */
    size_t nrefs;
    int has_subject;
    struct descriptor subject;
    const char *artifact_type;
    const char *annotations; /* the top-level annotations object as JSON, or NULL */
};

/* manifest_kind_of: media type string → kind (MF_UNKNOWN when not a manifest type). */
enum manifest_kind manifest_kind_of(const char *media_type);
int manifest_is_index(enum manifest_kind k);

/* manifest_parse: parse and validate body. content_type may be NULL. Returns 0;
 * WERR_INVALID with *detail a short reason; WERR_UNSUPPORTED for a well-formed
 * Docker schema 1 manifest (out->kind MF_SCHEMA1, its fsLayers in refs: the
 * caller decides per compatibility.schema1.enabled). */
int manifest_parse(struct arena *a, const char *body, size_t len, const char *content_type,
                   struct manifest_info *out, const char **detail);

/* manifest_media_type: the media type to serve a stored manifest with (from its
 * mediaType field, or inferred from its shape). Never NULL. */
const char *manifest_media_type(struct arena *a, const char *body, size_t len);

#endif
