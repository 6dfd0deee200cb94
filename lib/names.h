/* names.h — the grammar of the distribution spec: repository names, tags,
 * references (tag or digest) and upload ids. Pure functions, no allocation. */
#ifndef WHARF_NAMES_H
#define WHARF_NAMES_H

#include <stddef.h>

/* name_valid: repository name per the OCI grammar
 *   [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 * and at most max_len bytes (0 = no limit). 0 or WERR_INVALID / WERR_TOOBIG. */
int name_valid(const char *name, size_t max_len);
/* name_components: the number of '/'-separated components of a repository name. */
size_t name_components(const char *name);
/* tag_valid: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,max_len-1}. 0 or WERR_INVALID / WERR_TOOBIG. */
int tag_valid(const char *tag, size_t max_len);
/* uuid_valid: an upload id as Wharf and the reference make them (RFC 4122 text
 * form, lowercase hex) — anything else is not an upload we could have issued. */
int uuid_valid(const char *id);

#endif
