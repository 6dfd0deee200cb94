/* tag_info.c — a tag's digest and push time, see tag_info.h. */
#include "tag_info.h"

#include "../lib/digest.h"
#include "../lib/err.h"
#include "paths.h"

#define TAG_LINK_MAX 256 /* bytes of a link read back */

int registry_tag_info(struct registry *r, struct arena *a, const char *repo, const char *tag,
                      char **digest, time_t *pushed)
{
    const char *path = path_tag_current(a, repo, tag);
    char *data;
    size_t len;
    int rc = storage_get(r->d, a, path, TAG_LINK_MAX, &data, &len);
    if (rc) return rc == WERR_TOOBIG ? WERR_NOTFOUND : rc;
    while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
        data[--len] = 0;
    if (digest_parse(data, NULL, NULL) != 0) return WERR_NOTFOUND;
    struct storage_stat st;
    *pushed = storage_stat(r->d, path, &st) == 0 ? st.mtime : 0;
    *digest = data;
    return 0;
}
