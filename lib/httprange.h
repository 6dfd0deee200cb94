/* httprange.h — parsing of the Range request header (blob GET) and of the
 * Content-Range header of an upload chunk (PATCH). Pure functions. */
#ifndef WHARF_HTTPRANGE_H
#define WHARF_HTTPRANGE_H

#include <stdint.h>

/* range_parse: "bytes=a-b", "bytes=a-", "bytes=-n" against a resource of size
 * bytes; sets [*start, *end] inclusive. Returns 0; WERR_INVALID when the header
 * is malformed or asks for several ranges (serve the whole body then);
 * WERR_RANGE when it is well formed but unsatisfiable (answer 416). */
int range_parse(const char *hdr, int64_t size, int64_t *start, int64_t *end);

/* content_range_parse: an upload chunk's "a-b" (the distribution spec form),
 * also "bytes a-b/total", "bytes a-b/(star)" and "bytes=a-b"; sets [*start, *end]
 * inclusive. 0 or WERR_INVALID. */
int content_range_parse(const char *hdr, int64_t *start, int64_t *end);

#endif
