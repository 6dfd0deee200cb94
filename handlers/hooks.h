/* hooks.h — the build webhooks of issue 18: POST /_wharf/hooks/<source>
 * from GitHub, Gitea/Forgejo, GitLab and Bitbucket (Cloud and Server). The
 * request's signature (or GitLab's token) is checked in constant time
 * against the source's secret before anything else is read from it; a
 * delivery seen before, or a (ref, commit) already queued, is refused as a
 * replay; each pushed branch or tag a rule of the source matches queues one
 * build (lib/buildq.h) for the builder service. No registry credentials:
 * the secret is the authentication. Answers are JSON: 202 {"builds":[ids]},
 * 200 {"ignored": why} for events that build nothing; errors the spec's
 * error JSON (401 bad signature, 404 unknown source, 409 replay, 413 body
 * over HOOKS_BODY_MAX). */
#ifndef WHARF_HOOKS_H
#define WHARF_HOOKS_H

#include <stddef.h>

#include "../fcgi/http.h"
#include "app.h"

#define HOOKS_PREFIX "/_wharf/hooks/"
#define HOOKS_BODY_MAX (8 * 1024 * 1024)

/* hooks_match: 1 when req's path is under HOOKS_PREFIX. */
int hooks_match(const struct request *req);
/* hooks_handle: answer a request hooks_match accepted; fills res. */
void hooks_handle(struct app *app, struct request *req, struct response *res);

/* hooks_signature_ok: 1 when sig ("sha256=<hex>" when prefixed, else bare
 * hex) is the HMAC-SHA256 of body under secret, compared in constant time. */
int hooks_signature_ok(const char *secret, const char *body, size_t len, const char *sig,
                       int prefixed);
/* hooks_token_ok: 1 when token equals secret, compared in constant time
 * (GitLab's X-Gitlab-Token). */
int hooks_token_ok(const char *secret, const char *token);

#endif
