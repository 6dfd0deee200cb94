/* htpasswd.h — bcrypt entries of an Apache htpasswd file and HTTP Basic
 * credentials (auth_htpasswd.c), for the access controller (auth.htpasswd)
 * and the token service's users. */
#ifndef WHARF_HTPASSWD_H
#define WHARF_HTPASSWD_H

#include <stddef.h>

struct arena;
struct htpasswd;

/* htpasswd_load: other hash types are skipped with a warning naming the line;
 * WERR_IO when unreadable, WERR_INVALID when malformed. Caller: htpasswd_free. */
int htpasswd_load(const char *path, struct htpasswd **out, char *err, size_t errlen);
void htpasswd_free(struct htpasswd *h);
size_t htpasswd_count(const struct htpasswd *h);
/* htpasswd_check: 0 when pass matches user's bcrypt hash, else WERR_DENIED.
 * Takes the same time (one bcrypt) whether or not the user exists. */
int htpasswd_check(const struct htpasswd *h, const char *user, const char *pass);
/* htpasswd_hash: user's stored hash (owned by h) or NULL. */
const char *htpasswd_hash(const struct htpasswd *h, const char *user);

/* auth_basic_parse: "Basic base64(user:pass)" → user and pass on arena a.
 * WERR_INVALID when not Basic or malformed (bounded: 4 KiB). */
int auth_basic_parse(struct arena *a, const char *hdr, char **user, char **pass);

#endif
