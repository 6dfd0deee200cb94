#include "paths.h"

#include <string.h>

/* split "alg:hex" into its parts (inputs are validated digests) */
static void split(const char *digest, const char **alg, size_t *alen, const char **hex)
{
    const char *c = strchr(digest, ':');
    *alg = digest;
    *alen = (size_t)(c - digest);
    *hex = c + 1;
}

char *path_blob_dir(struct arena *a, const char *digest)
{
    const char *alg, *hex;
    size_t al;
    split(digest, &alg, &al, &hex);
    return arena_printf(a, PATH_ROOT "/blobs/%.*s/%.2s/%s", (int)al, alg, hex, hex);
}

char *path_blob_data(struct arena *a, const char *digest)
{
    return arena_printf(a, "%s/data", path_blob_dir(a, digest));
}

char *path_blob_quarantine(struct arena *a, const char *digest)
{
    return arena_printf(a, "%s/data.wharf-gc", path_blob_dir(a, digest));
}

char *path_repos(struct arena *a)
{
    return arena_strdup(a, PATH_ROOT "/repositories");
}

char *path_repo(struct arena *a, const char *repo)
{
    return arena_printf(a, PATH_ROOT "/repositories/%s", repo);
}

char *path_layer_link(struct arena *a, const char *repo, const char *digest)
{
    const char *alg, *hex;
    size_t al;
    split(digest, &alg, &al, &hex);
    return arena_printf(a, PATH_ROOT "/repositories/%s/_layers/%.*s/%s/link", repo, (int)al, alg,
                        hex);
}

char *path_revision_dir(struct arena *a, const char *repo, const char *digest)
{
    const char *alg, *hex;
    size_t al;
    split(digest, &alg, &al, &hex);
    return arena_printf(a, PATH_ROOT "/repositories/%s/_manifests/revisions/%.*s/%s", repo, (int)al,
                        alg, hex);
}

char *path_revision_link(struct arena *a, const char *repo, const char *digest)
{
    return arena_printf(a, "%s/link", path_revision_dir(a, repo, digest));
}

char *path_tags(struct arena *a, const char *repo)
{
    return arena_printf(a, PATH_ROOT "/repositories/%s/_manifests/tags", repo);
}

char *path_tag(struct arena *a, const char *repo, const char *tag)
{
    return arena_printf(a, PATH_ROOT "/repositories/%s/_manifests/tags/%s", repo, tag);
}

char *path_tag_current(struct arena *a, const char *repo, const char *tag)
{
    return arena_printf(a, "%s/current/link", path_tag(a, repo, tag));
}

char *path_tag_index_dir(struct arena *a, const char *repo, const char *tag, const char *digest)
{
    const char *alg, *hex;
    size_t al;
    split(digest, &alg, &al, &hex);
    return arena_printf(a, "%s/index/%.*s/%s", path_tag(a, repo, tag), (int)al, alg, hex);
}

char *path_tag_index_link(struct arena *a, const char *repo, const char *tag, const char *digest)
{
    return arena_printf(a, "%s/link", path_tag_index_dir(a, repo, tag, digest));
}

char *path_upload(struct arena *a, const char *repo, const char *uuid)
{
    return arena_printf(a, PATH_ROOT "/repositories/%s/_uploads/%s", repo, uuid);
}

char *path_upload_data(struct arena *a, const char *repo, const char *uuid)
{
    return arena_printf(a, "%s/data", path_upload(a, repo, uuid));
}

char *path_upload_startedat(struct arena *a, const char *repo, const char *uuid)
{
    return arena_printf(a, "%s/startedat", path_upload(a, repo, uuid));
}

char *path_upload_hashstates(struct arena *a, const char *repo, const char *uuid, const char *alg)
{
    return arena_printf(a, "%s/hashstates/%s", path_upload(a, repo, uuid), alg);
}

char *path_upload_hashstate(struct arena *a, const char *repo, const char *uuid, const char *alg,
                            int64_t offset)
{
    return arena_printf(a, "%s/%lld", path_upload_hashstates(a, repo, uuid, alg),
                        (long long)offset);
}

char *path_lock(struct arena *a, const char *name)
{
    return arena_printf(a, "/wharf/locks/%s", name);
}

char *path_upload_lock(struct arena *a, const char *uuid)
{
    return arena_printf(a, "/wharf/locks/uploads/%s", uuid);
}
