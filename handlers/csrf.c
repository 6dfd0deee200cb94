/* csrf.c — see csrf.h. */
#include "csrf.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "handlers.h"

#define CSRF_FIXED_KEY "wharf-ui-csrf"

const char *csrf_token(const struct config *cfg, struct arena *a, const char *user)
{
    const char *key =
        cfg && cfg->http_secret && *cfg->http_secret ? cfg->http_secret : CSRF_FIXED_KEY;
    const char *msg = arena_printf(a, "wharf-csrf\n%s", user ? user : "");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, strlen(msg), mac,
              &len))
        return "";
    static const char hx[] = "0123456789abcdef";
    char *out = arena_alloc(a, 2 * (size_t)len + 1);
    for (unsigned int i = 0; i < len; i++) {
        out[2 * i] = hx[mac[i] >> 4];
        out[2 * i + 1] = hx[mac[i] & 15];
    }
    out[2 * len] = 0;
    return out;
}

/* same_origin: Origin equals this site's scheme://host */
static int same_origin(struct request *req, const char *origin)
{
    size_t sl = strlen(req->scheme ? req->scheme : "");
    if (!req->scheme || !req->host || strncmp(origin, req->scheme, sl) != 0) return 0;
    if (strncmp(origin + sl, "://", 3) != 0) return 0;
    return strcmp(origin + sl + 3, req->host) == 0;
}

int csrf_refused(struct app *app, struct request *req, struct response *res, int always)
{
    const char *origin = request_header(req, "Origin");
    const char *site = request_header(req, "Sec-Fetch-Site");
    const char *why = NULL;
    if (!always && !origin && !site) return 0; /* not a browser */
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
        why = "cross-site request";
    else if (origin && !same_origin(req, origin))
        why = "cross-origin request";
    else {
        const char *tok = request_header(req, "X-Wharf-CSRF");
        const char *want = csrf_token(app->cfg, req->arena, auth_user(req));
        if (!tok || !*want || strcmp(tok, want) != 0) why = "missing or wrong X-Wharf-CSRF token";
    }
    if (!why) return 0;
    error_reply(req, res, 403, "DENIED", "requested access to the resource is denied", why);
    return 1;
}
