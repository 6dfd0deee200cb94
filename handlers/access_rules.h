/* access_rules.h — who may do what on which repository: the rights bits the
 * access controller and the token service share, and the token service's
 * access-rules file (fastcgi.tokenservice.accessrules). */
#ifndef WHARF_ACCESS_RULES_H
#define WHARF_ACCESS_RULES_H

#include <stddef.h>

struct arena;

/* Rights on one repository, as a bit set. */
#define RIGHT_PULL 1u
#define RIGHT_PUSH 2u
#define RIGHT_DELETE 4u
#define RIGHT_ALL (RIGHT_PULL | RIGHT_PUSH | RIGHT_DELETE)

struct access_rules;

/* access_rules_load: parse the YAML file at path (groups: and rules:).
 * WERR_IO when unreadable, WERR_INVALID (file:line in err) when malformed.
 * Caller: access_rules_free. */
int access_rules_load(const char *path, struct access_rules **out, char *err, size_t errlen);
void access_rules_free(struct access_rules *r);
/* access_rights: rights of user (NULL = anonymous) on repo under the rules
 * (r NULL: an authenticated user has every right, anonymous none). */
unsigned access_rights(const struct access_rules *r, const char *user, const char *repo);
/* access_pull_patterns: the patterns user may pull (arena array, *n set);
 * returns 0 when user may pull everything ("*"). */
int access_pull_patterns(const struct access_rules *r, const char *user, struct arena *a,
                         const char ***pats, size_t *n);

/* access_glob: does name match pattern (fnmatch, '*' also matches '/')? */
int access_glob(const char *pattern, const char *name);

#endif
