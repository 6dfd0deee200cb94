/* tag_info.h — what the web UI shows of a tag beyond the registry API: the
 * digest it points at and when it was pushed (the mtime of its current link,
 * which every push of the tag rewrites). Results live on the arena. */
#ifndef WHARF_TAG_INFO_H
#define WHARF_TAG_INFO_H

#include <time.h>

#include "../lib/arena.h"
#include "registry.h"

/* registry_tag_info: the digest tag points at in repo (*digest, arena) and
 * the time of its last push (*pushed, 0 when the driver gives none).
 * WERR_NOTFOUND when the tag is absent or its link is not a digest. */
int registry_tag_info(struct registry *r, struct arena *a, const char *repo, const char *tag,
                      char **digest, time_t *pushed);

#endif
