/* referrers.c — the OCI 1.1 referrers index, kept at push time.
 *
 * A manifest with a subject gets one link file under its subject:
 *   <repo>/_manifests/referrers/<alg>/<subject hex>/<alg>/<referrer hex>/link
 * holding "<alg>:<referrer hex>", like every other link of the layout. The
 * reference registry never looks there (its walks cover _manifests/revisions
 * and _manifests/tags), so a root holding these stays servable and collectable
 * by it; if its garbage collection removes a referrer, the stale link is
 * skipped when listing. */
#include "registry.h"

#include "../lib/err.h"
#include "manifest.h"
#include "paths.h"

#include <stdlib.h>
#include <string.h>

/* manifests read for one page at most: with a filter that few match, a page
 * may end early (shorter, with a cursor) rather than read every referrer */
#define REFERRERS_SCAN_MAX 10000

/* split "alg:hex" into arena copies (input already validated) */
static void split_digest(struct arena *a, const char *dg, char **alg, char **hex)
{
    const char *c = strchr(dg, ':');
    *alg = arena_strndup(a, dg, (size_t)(c - dg));
    *hex = arena_strdup(a, c + 1);
}

static char *subject_dir(struct arena *a, const char *repo, const char *subject)
{
    char *alg, *hex;
    split_digest(a, subject, &alg, &hex);
    return arena_printf(a, "%s/_manifests/referrers/%s/%s", path_repo(a, repo), alg, hex);
}

static char *entry_dir(struct arena *a, const char *repo, const char *subject, const char *referrer)
{
    char *alg, *hex;
    split_digest(a, referrer, &alg, &hex);
    return arena_printf(a, "%s/%s/%s", subject_dir(a, repo, subject), alg, hex);
}

int registry_referrer_link(struct registry *r, struct arena *a, const char *repo,
                           const char *subject, const char *referrer)
{
    if (digest_parse(subject, NULL, NULL) || digest_parse(referrer, NULL, NULL))
        return WERR_INVALID;
    char *link = arena_printf(a, "%s/link", entry_dir(a, repo, subject, referrer));
    return storage_put(r->d, link, referrer, strlen(referrer));
}

int registry_referrer_unlink(struct registry *r, struct arena *a, const char *repo,
                             const char *subject, const char *referrer)
{
    if (digest_parse(subject, NULL, NULL) || digest_parse(referrer, NULL, NULL))
        return WERR_INVALID;
    int rc = storage_delete(r->d, entry_dir(a, repo, subject, referrer));
    return rc == WERR_NOTFOUND ? 0 : rc;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* describe one referrer from its stored manifest; 1 when it should be listed */
static int describe(struct registry *r, struct arena *a, const char *repo, const char *subject,
                    const char *dg, struct referrer *out)
{
    char *body;
    size_t len;
    char digest[DIGEST_MAX_STR];
    const char *mt, *detail;
    if (registry_manifest_get(r, a, repo, dg, &body, &len, digest, &mt) != 0) return 0;
    struct manifest_info mi;
    if (manifest_parse(a, body, len, mt, &mi, &detail) != 0) return 0;
    /* the index is only a hint: the manifest must still name this subject */
    if (!mi.has_subject || strcmp(mi.subject.digest, subject) != 0) return 0;
    out->digest = arena_strdup(a, digest);
    out->media_type = mi.media_type;
    out->size = (int64_t)len;
    out->artifact_type = mi.artifact_type;
    if (!out->artifact_type && mi.has_config) out->artifact_type = mi.config.media_type;
    out->annotations = mi.annotations;
    return 1;
}

int registry_referrers(struct registry *r, struct arena *a, const char *repo, const char *subject,
                       const char *artifact_type, const char *last, size_t max,
                       struct referrer **out, size_t *n, const char **next)
{
    *out = NULL;
    *n = 0;
    *next = NULL;
    if (digest_parse(subject, NULL, NULL) != 0) return WERR_INVALID;
    if (max == 0) max = 1;
    char *dir = subject_dir(a, repo, subject);
    char **algs;
    size_t nalgs;
    int rc = storage_list(r->d, a, dir, &algs, &nalgs);
    if (rc == WERR_NOTFOUND) return 0;
    if (rc) return rc;
    /* every entry's digest first (listings only, cheap), sorted, so pages
     * follow one order and a cursor (the last digest given) resumes it */
    size_t cap = 0, cnt = 0;
    char **dgs = NULL;
    for (size_t i = 0; i < nalgs; i++) {
        char **hexes;
        size_t nh;
        rc = storage_list(r->d, a, arena_printf(a, "%s/%s", dir, algs[i]), &hexes, &nh);
        if (rc == WERR_NOTFOUND) continue;
        if (rc) return rc;
        for (size_t j = 0; j < nh; j++) {
            char *dg = arena_printf(a, "%s:%s", algs[i], hexes[j]);
            if (digest_parse(dg, NULL, NULL) != 0) continue;
            if (last && strcmp(dg, last) <= 0) continue;
            if (cnt == cap) {
                size_t nc = cap ? cap * 2 : 64;
                char **nd = arena_alloc(a, nc * sizeof(*nd));
                if (cnt) memcpy(nd, dgs, cnt * sizeof(*nd));
                dgs = nd;
                cap = nc;
            }
            dgs[cnt++] = dg;
        }
    }
    if (cnt) qsort(dgs, cnt, sizeof(*dgs), cmp_str);
    struct referrer *list = arena_alloc(a, (max < cnt ? max : cnt ? cnt : 1) * sizeof(*list));
    size_t got = 0, scanned = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (scanned++ == REFERRERS_SCAN_MAX) {
            *next = i ? dgs[i - 1] : last; /* resume after what was read */
            break;
        }
        struct referrer ref;
        if (!describe(r, a, repo, subject, dgs[i], &ref)) continue;
        if (artifact_type && (!ref.artifact_type || strcmp(ref.artifact_type, artifact_type) != 0))
            continue;
        if (got == max) { /* one more exists: the page ends with a cursor */
            *next = list[got - 1].digest;
            break;
        }
        list[got++] = ref;
    }
    *out = list;
    *n = got;
    return 0;
}
