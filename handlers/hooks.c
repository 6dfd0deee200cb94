/* hooks.c — the build webhooks (hooks.h).
 *
 * Which service sent a request is told by its event header, and each has
 * its own way to prove it knows the secret:
 *   GitHub          X-GitHub-Event, X-Hub-Signature-256: sha256=<hex HMAC>
 *   Gitea, Forgejo  X-Gitea-Event / X-Forgejo-Event,
 *                   X-Gitea-Signature / X-Forgejo-Signature: <hex HMAC>
 *   GitLab          X-Gitlab-Event, X-Gitlab-Token: the secret itself
 *   Bitbucket       X-Event-Key, X-Hub-Signature: sha256=<hex HMAC>
 *                   (Cloud: repo:push; Server/Data Center: repo:refs_changed)
 * The HMAC is over the raw body, compared with CRYPTO_memcmp after a length
 * check; GitLab's token is compared as the SHA-256 of both sides, so its
 * length leaks nothing either. A request that fails is logged and builds
 * nothing.
 *
 * Replays: a signed body stays valid forever (none of the services signs a
 * time), so anyone who saw one could send it again. Two guards, both kept
 * in the workdir (buildq_seen): the delivery's id header (X-GitHub-Delivery,
 * X-Gitea-Delivery, X-Gitlab-Event-UUID, X-Request-UUID, X-Request-Id) is
 * accepted once, and a (source, ref, commit) is queued once — so even a
 * replay with a forged delivery id (the header is not signed) builds
 * nothing new. A redelivery from the service's own UI is refused the same
 * way; the JSON API's "build now" rebuilds on purpose. */
#include "hooks.h"

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <strings.h>

#include "../lib/buildq.h"
#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "handlers.h"

#define ZERO_SHA "0000000000000000000000000000000000000000"

int hooks_match(const struct request *req)
{
    return !strncmp(req->path, HOOKS_PREFIX, sizeof HOOKS_PREFIX - 1);
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

int hooks_signature_ok(const char *secret, const char *body, size_t len, const char *sig,
                       int prefixed)
{
    unsigned char want[32], got[32];
    unsigned int wl = 0;
    if (!secret || !*secret || !sig) return 0;
    if (prefixed) {
        if (strncmp(sig, "sha256=", 7) != 0) return 0;
        sig += 7;
    }
    if (unhex(sig, got, sizeof got) != 0) return 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, want,
              &wl) ||
        wl != sizeof want)
        return 0;
    return CRYPTO_memcmp(want, got, sizeof want) == 0;
}

int hooks_token_ok(const char *secret, const char *token)
{
    unsigned char a[32], b[32];
    unsigned int al = 0, bl = 0;
    if (!secret || !*secret || !token) return 0;
    EVP_Digest(secret, strlen(secret), a, &al, EVP_sha256(), NULL);
    EVP_Digest(token, strlen(token), b, &bl, EVP_sha256(), NULL);
    return al == 32 && bl == 32 && CRYPTO_memcmp(a, b, 32) == 0;
}

enum provider { P_NONE, P_GITHUB, P_GITEA, P_GITLAB, P_BITBUCKET };
static const char *const provider_name[] = {"", "github", "gitea", "gitlab", "bitbucket"};

static void ignored(struct request *req, struct response *res, const char *why)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ignored", json_object_new_string(why));
    json_object_reply(req, res, 200, o);
}

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static struct json_object *jget(struct json_object *o, const char *k)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* one pushed ref: "refs/heads/X" or "refs/tags/X" at commit */
struct change {
    const char *ref, *commit;
};
#define CHANGES_MAX 32

/* the pushed refs of a payload, deletions left out */
static size_t changes_of(struct arena *a, enum provider p, struct json_object *root,
                         struct change *out)
{
    size_t n = 0;
    if (p == P_GITHUB || p == P_GITEA || p == P_GITLAB) {
        const char *ref = jstr(root, "ref"), *after = jstr(root, "after");
        if (p == P_GITLAB && jstr(root, "checkout_sha")) after = jstr(root, "checkout_sha");
        if (ref && after && strcmp(after, ZERO_SHA) != 0) out[n++] = (struct change){ref, after};
        return n;
    }
    /* Bitbucket Cloud: push.changes[].new {type, name, target.hash} */
    struct json_object *ch = jget(jget(root, "push"), "changes");
    if (ch && json_object_is_type(ch, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(ch) && n < CHANGES_MAX; i++) {
            struct json_object *nw = jget(json_object_array_get_idx(ch, i), "new");
            const char *type = jstr(nw, "type"), *name = jstr(nw, "name");
            const char *hash = jstr(jget(nw, "target"), "hash");
            if (!type || !name || !hash) continue; /* a deletion: new is null */
            const char *kind = !strcmp(type, "branch") ? "heads"
                               : !strcmp(type, "tag")  ? "tags"
                                                       : NULL;
            if (!kind) continue;
            out[n++] = (struct change){arena_printf(a, "refs/%s/%s", kind, name), hash};
        }
        return n;
    }
    /* Bitbucket Server: changes[] {ref: {id}, toHash, type} */
    ch = jget(root, "changes");
    if (ch && json_object_is_type(ch, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(ch) && n < CHANGES_MAX; i++) {
            struct json_object *c = json_object_array_get_idx(ch, i);
            const char *type = jstr(c, "type"), *id = jstr(jget(c, "ref"), "id");
            const char *to = jstr(c, "toHash");
            if (!id || !to || (type && !strcmp(type, "DELETE")) || !strcmp(to, ZERO_SHA)) continue;
            out[n++] = (struct change){id, to};
        }
    }
    return n;
}

static int commit_valid(const char *c)
{
    size_t n = strlen(c);
    if (n < 7 || n > 64) return 0;
    for (const char *p = c; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

static int ref_valid(const char *r)
{
    if (strncmp(r, "refs/heads/", 11) && strncmp(r, "refs/tags/", 10)) return 0;
    if (strlen(r) > 255 || strstr(r, "..")) return 0;
    for (const char *p = r; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("~^:?*[\\", *p)) return 0;
    return 1;
}

void hooks_handle(struct app *app, struct request *req, struct response *res)
{
    const struct config *cfg = app->cfg;
    const char *name = req->path + sizeof HOOKS_PREFIX - 1;
    if (strcmp(req->method, "POST") != 0) {
        response_header(res, req->arena, "Allow", "POST");
        error_reply(req, res, 405, "UNSUPPORTED", "the operation is unsupported",
                    "webhooks are POSTed");
        return;
    }
    const struct config_build_source *s = config_build_source(cfg, name);
    if (!s) {
        error_reply(req, res, 404, "NAME_UNKNOWN", "no such build source",
                    config_builds_active(cfg) ? "not in builds.sources"
                                              : "builds are not configured");
        return;
    }
    /* the provider, by its event header */
    enum provider p = P_NONE;
    const char *event = NULL, *sig = NULL, *delivery = NULL;
    if ((event = request_header(req, "X-Gitea-Event")) ||
        (event = request_header(req, "X-Forgejo-Event"))) {
        p = P_GITEA;
        sig = request_header(req, "X-Forgejo-Signature");
        if (!sig) sig = request_header(req, "X-Gitea-Signature");
        delivery = request_header(req, "X-Forgejo-Delivery");
        if (!delivery) delivery = request_header(req, "X-Gitea-Delivery");
    } else if ((event = request_header(req, "X-GitHub-Event"))) {
        p = P_GITHUB;
        sig = request_header(req, "X-Hub-Signature-256");
        delivery = request_header(req, "X-GitHub-Delivery");
    } else if ((event = request_header(req, "X-Gitlab-Event"))) {
        p = P_GITLAB;
        sig = request_header(req, "X-Gitlab-Token");
        delivery = request_header(req, "X-Gitlab-Event-UUID");
    } else if ((event = request_header(req, "X-Event-Key"))) {
        p = P_BITBUCKET;
        sig = request_header(req, "X-Hub-Signature");
        delivery = request_header(req, "X-Request-UUID");
        if (!delivery) delivery = request_header(req, "X-Request-Id");
    } else {
        error_reply(req, res, 400, "UNSUPPORTED", "unknown webhook",
                    "expected a GitHub, Gitea, Forgejo, GitLab or Bitbucket event header");
        return;
    }
    /* the body, bounded, before the signature over it is checked */
    if (req->content_length > HOOKS_BODY_MAX) {
        error_reply(req, res, 413, "SIZE_INVALID", "webhook body too large", NULL);
        return;
    }
    size_t cap = 64 * 1024, len = 0;
    char *body = arena_alloc(req->arena, cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap >= HOOKS_BODY_MAX) {
                error_reply(req, res, 413, "SIZE_INVALID", "webhook body too large", NULL);
                return;
            }
            char *nb = arena_alloc(req->arena, 2 * cap + 1);
            memcpy(nb, body, len);
            body = nb;
            cap *= 2;
        }
        ssize_t r = request_read(req, body + len, cap - len);
        if (r < 0) {
            error_reply(req, res, 400, "UNKNOWN", "could not read the webhook's body", NULL);
            return;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    body[len] = 0;
    int ok = p == P_GITLAB  ? hooks_token_ok(s->secret, sig)
             : p == P_GITEA ? hooks_signature_ok(s->secret, body, len, sig, 0)
                            : hooks_signature_ok(s->secret, body, len, sig, 1);
    if (!ok) {
        log_warn("builds: webhook for source %s from %s refused: %s signature", s->name,
                 req->remote_addr, sig ? "bad" : "no");
        error_reply(req, res, 401, "UNAUTHORIZED", "authentication required",
                    sig ? "the webhook's signature does not match the source's secret"
                        : "the webhook carries no signature (set the source's secret in the "
                          "webhook)");
        return;
    }
    const char *ctype = request_header(req, "Content-Type");
    if (ctype && !strncasecmp(ctype, "application/x-www-form-urlencoded", 33)) {
        error_reply(req, res, 415, "UNSUPPORTED", "unsupported webhook content type",
                    "set the webhook's content type to application/json");
        return;
    }
    if (!strcmp(event, "ping") || !strcmp(event, "diagnostics:ping")) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "pong", json_object_new_string(s->name));
        json_object_reply(req, res, 200, o);
        return;
    }
    int push = p == P_GITHUB || p == P_GITEA ? !strcmp(event, "push")
               : p == P_GITLAB ? !strcmp(event, "Push Hook") || !strcmp(event, "Tag Push Hook")
                               : !strcmp(event, "repo:push") || !strcmp(event, "repo:refs_changed");
    if (!push) {
        ignored(req, res, arena_printf(req->arena, "event %.64s builds nothing", event));
        return;
    }
    const char *dkey = delivery && *delivery
                           ? arena_printf(req->arena, "delivery\n%s\n%.200s", s->name, delivery)
                           : NULL;
    if (dkey) {
        int rc = buildq_seen(cfg, dkey);
        if (rc == WERR_EXISTS) {
            log_warn("builds: webhook for source %s: delivery %.64s replayed: refused", s->name,
                     delivery);
            error_reply(req, res, 409, "DENIED", "replayed webhook",
                        "this delivery was received before");
            return;
        }
        if (rc) {
            error_reply(req, res, 500, "UNKNOWN", "the build queue is not writable", NULL);
            return;
        }
    }
    struct json_object *root = json_tokener_parse(body);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        error_reply(req, res, 400, "UNKNOWN", "the webhook's body is not a JSON object", NULL);
        return;
    }
    struct change ch[CHANGES_MAX];
    size_t nch = changes_of(req->arena, p, root, ch);
    struct json_object *ids = json_object_new_array(), *skipped = json_object_new_array();
    int replayed = 0, failed = 0;
    for (size_t i = 0; i < nch; i++) {
        const char *ref = arena_strdup(req->arena, ch[i].ref);
        const char *commit = arena_strdup(req->arena, ch[i].commit);
        if (!ref_valid(ref) || !commit_valid(commit)) {
            json_object_array_add(skipped, json_object_new_string(ref));
            continue;
        }
        char *tags[BUILDQ_TAGS_MAX];
        int nt = buildq_tags(s, ref, tags, BUILDQ_TAGS_MAX);
        for (int t = 0; t < nt; t++)
            free(tags[t]);
        if (nt <= 0) {
            json_object_array_add(skipped, json_object_new_string(ref));
            continue;
        }
        const char *ckey = arena_printf(req->arena, "commit\n%s\n%s\n%s", s->name, ref, commit);
        int rc = buildq_seen(cfg, ckey);
        if (rc == WERR_EXISTS) {
            replayed++;
            continue;
        }
        char id[BUILDQ_ID_MAX];
        if (rc || buildq_enqueue(cfg, s, ref, commit, provider_name[p], NULL, id)) {
            if (!rc) buildq_forget(cfg, ckey); /* queued nothing: a redelivery may */
            failed++;
            continue;
        }
        log_info("builds: source %s: %s at %.12s queued as build %s (%s webhook)", s->name, ref,
                 commit, id, provider_name[p]);
        json_object_array_add(ids, json_object_new_string(id));
    }
    json_object_put(root);
    if (failed) {
        if (dkey && !json_object_array_length(ids)) buildq_forget(cfg, dkey);
        json_object_put(ids);
        json_object_put(skipped);
        error_reply(req, res, 500, "UNKNOWN", "the build queue is not writable", NULL);
        return;
    }
    if (!json_object_array_length(ids) && replayed) {
        json_object_put(ids);
        json_object_put(skipped);
        log_warn("builds: webhook for source %s: a commit already queued: refused as a replay",
                 s->name);
        error_reply(req, res, 409, "DENIED", "replayed webhook",
                    "this commit of this ref was queued before");
        return;
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "builds", ids);
    json_object_object_add(o, "ignored", skipped);
    json_object_reply(req, res, json_object_array_length(ids) ? 202 : 200, o);
}
