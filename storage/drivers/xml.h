/* xml.h — the little XML object stores answer (S3, OSS, Azure listings,
 * results and error documents): no parser, a bounded scan for <tag>...</tag>
 * in a buffer already capped by the driver, entities decoded. Shared by the
 * s3 (and oss) and azure drivers; fuzzed by tests/fuzz/fuzz_s3xml.c. */
#ifndef WHARF_DRIVER_XML_H
#define WHARF_DRIVER_XML_H

#include "../../lib/arena.h"

/* xml_find: 1 and the text between <tag> and </tag> (or the empty text of
 * <tag/>) as [*vs, *ve) when the tag is in [s, end); *next (when not NULL)
 * just after it; 0 when absent or unterminated. */
int xml_find(const char *s, const char *end, const char *tag, const char **vs, const char **ve,
             const char **next);
/* xml_text: [s, e) with its entities decoded, NUL-terminated, on the arena. */
char *xml_text(struct arena *a, const char *s, const char *e);
/* xml_get: the decoded text of the first <tag> in [s, e), or NULL. */
char *xml_get(struct arena *a, const char *s, const char *e, const char *tag);
/* xml_escape: s appended to b with & < > " ' escaped; 0 or a WERR_*. */
int xml_escape(struct buf *b, const char *s);

#endif
