/* token_service.h — Wharf's own Docker token service (fastcgi.tokenservice):
 * users from an htpasswd file, rights from access rules, JWTs signed with
 * the configured key. Built and owned by the access controller (auth_new);
 * the router asks it for its requests through auth_token_service. */
#ifndef WHARF_TOKEN_SERVICE_H
#define WHARF_TOKEN_SERVICE_H

#include <stddef.h>

#include "../fcgi/http.h"
#include "../lib/config.h"

struct token_service;

/* token_service_new: load cfg's fastcgi.tokenservice files (htpasswd, access
 * rules, signing key); cfg must outlive the service. Errors (WERR_IO,
 * WERR_INVALID, WERR_NOMEM) name the file in err. Caller: token_service_free. */
int token_service_new(const struct config *cfg, struct token_service **out, char *err,
                      size_t errlen);
void token_service_free(struct token_service *ts);

/* token_service_match: 1 when req is for the token service's path. */
int token_service_match(const struct token_service *ts, const struct request *req);
/* token_service_handle: GET (Basic credentials) and POST (OAuth2 password and
 * refresh_token grants) of the Docker token protocol; fills res. */
void token_service_handle(struct token_service *ts, struct request *req, struct response *res);

#endif
