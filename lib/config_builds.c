/* config_builds.c — builds (issue 18): the git sources Wharf builds images
 * from (builds.sources[], each with its webhook secret, target repository,
 * Dockerfile, context, tag rules and build arguments) and the builder's own
 * keys. What each key means: docs/configuration.md ("builds"). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"
#include "err.h"
#include "names.h"

#define SOURCE_NAME_MAX 64
#define SECRET_MIN 16 /* a webhook secret shorter than this is refused */

static void rule_clear(struct config_build_rule *r)
{
    free(r->branch);
    free(r->tag);
    free(r->tag_template);
    pcre2_code_free(r->re);
    memset(r, 0, sizeof *r);
}

static void source_clear(struct config_build_source *s)
{
    free(s->name);
    free(s->git);
    free_secret(s->secret);
    free(s->repository);
    free(s->dockerfile);
    free(s->context);
    for (size_t i = 0; i < s->nrules; i++)
        rule_clear(&s->rules[i]);
    free(s->rules);
    for (size_t i = 0; i < s->nargs; i++) {
        free(s->args[i].name);
        free(s->args[i].value);
    }
    free(s->args);
    memset(s, 0, sizeof *s);
}

static void sources_free(struct config *c)
{
    for (size_t i = 0; i < c->nbuild_sources; i++)
        source_clear(&c->build_sources[i]);
    free(c->build_sources);
    c->build_sources = NULL;
    c->nbuild_sources = 0;
}

/* a relative path inside the checkout: no "..", not absolute */
static int inside_path(const char *p)
{
    if (!*p || *p == '/') return 0;
    for (const char *s = p; *s; s = strchr(s, '/') ? strchr(s, '/') + 1 : s + strlen(s))
        if (!strncmp(s, "..", 2) && (s[2] == '/' || !s[2])) return 0;
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s < ' ') return 0;
    return 1;
}

/* a template's {N} references: digits only inside braces */
static int template_ok(const char *t)
{
    for (const char *p = t; *p; p++) {
        if (*p == '}') return 0;
        if (*p != '{') continue;
        const char *q = p + 1;
        while (isdigit((unsigned char)*q))
            q++;
        if (q == p + 1 || *q != '}' || q - p > 3) return 0;
        p = q;
    }
    return 1;
}

static int apply_rule(struct loader *L, struct config_build_rule *r, const struct ynode *k,
                      const char *rp)
{
    if (k->type != Y_MAP)
        return config_fail(L, k, 0, rp, "expected {branch, tag} or {tag, tag_template}");
    for (size_t j = 0; j < k->nkids; j++) {
        const struct ynode *v = k->kids[j];
        char kp[CONFIG_MAX_PATH];
        path_join(kp, sizeof kp, rp, v->key);
        char **dst = !strcmp(v->key, "branch")         ? &r->branch
                     : !strcmp(v->key, "tag")          ? &r->tag
                     : !strcmp(v->key, "tag_template") ? &r->tag_template
                                                       : NULL;
        if (!dst)
            return config_fail(L, v, 1, kp, "unknown key (expected branch, tag or tag_template)");
        int rc = 0;
        const char *s = want_string(L, v, kp, &rc);
        if (!s) return rc;
        if (!*s) return config_fail(L, v, 0, kp, "must not be empty");
        if ((rc = set_str(dst, s)) < 0) return rc;
    }
    if (!r->tag) return config_fail(L, k, 0, rp, "tag: required");
    if (r->branch) {
        if (r->tag_template)
            return config_fail(L, k, 0, rp,
                               "tag_template is for tag rules ({tag: regex, tag_template}); a "
                               "branch rule's tag is the image tag itself");
        if (tag_valid(r->tag, 128) != 0)
            return config_fail(L, map_get(k, "tag", 0), 0, rp, "tag: \"%s\" is no valid image tag",
                               r->tag);
        return 0;
    }
    /* no tag_template: the image tag is the git tag itself */
    if (r->tag_template && !template_ok(r->tag_template))
        return config_fail(L, map_get(k, "tag_template", 0), 0, rp,
                           "tag_template: {N} (N a group number of tag's regex) is the only "
                           "use of braces");
    int ecode;
    PCRE2_SIZE eoff;
    r->re =
        pcre2_compile((PCRE2_SPTR)r->tag, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ecode, &eoff, NULL);
    if (!r->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        return config_fail(L, map_get(k, "tag", 0), 0, rp, "tag: bad regex at offset %zu: %s",
                           (size_t)eoff, (const char *)msg);
    }
    uint32_t groups = 0;
    pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &groups);
    for (const char *p = r->tag_template ? strchr(r->tag_template, '{') : NULL; p;
         p = strchr(p + 1, '{'))
        if ((uint32_t)atoi(p + 1) > groups)
            return config_fail(L, map_get(k, "tag_template", 0), 0, rp,
                               "tag_template: {%d} but the regex has %u group(s)", atoi(p + 1),
                               (unsigned)groups);
    return 0;
}

static int apply_source_key(struct loader *L, struct config_build_source *s, const struct ynode *v,
                            const char *kp)
{
    int rc = 0;
    if (!strcmp(v->key, "rules")) {
        if (is_null(v)) return 0;
        if (v->type != Y_SEQ) return config_fail(L, v, 0, kp, "expected a list of rules");
        if (!(s->rules = calloc(v->nkids ? v->nkids : 1, sizeof *s->rules))) return WERR_NOMEM;
        for (size_t i = 0; i < v->nkids; i++) {
            char rp[CONFIG_MAX_PATH + 24];
            snprintf(rp, sizeof rp, "%.*s[%zu]", CONFIG_MAX_PATH - 1, kp, i);
            s->nrules = i + 1;
            if ((rc = apply_rule(L, &s->rules[i], v->kids[i], rp)) < 0) return rc;
        }
        return 0;
    }
    if (!strcmp(v->key, "args")) {
        if (is_null(v)) return 0;
        if (v->type != Y_MAP) return config_fail(L, v, 0, kp, "expected a mapping {NAME: value}");
        if (!(s->args = calloc(v->nkids ? v->nkids : 1, sizeof *s->args))) return WERR_NOMEM;
        for (size_t i = 0; i < v->nkids; i++) {
            const struct ynode *a = v->kids[i];
            char ap[CONFIG_MAX_PATH];
            path_join(ap, sizeof ap, kp, a->key);
            const char *val = want_string(L, a, ap, &rc);
            if (!val) return rc;
            for (const char *p = a->key; *p; p++)
                if (!isalnum((unsigned char)*p) && *p != '_')
                    return config_fail(L, a, 1, ap,
                                       "a build argument's name is letters, digits "
                                       "and '_'");
            s->nargs = i + 1;
            if (!(s->args[i].name = strdup(a->key)) || !(s->args[i].value = strdup(val)))
                return WERR_NOMEM;
        }
        return 0;
    }
    char **dst = !strcmp(v->key, "name")         ? &s->name
                 : !strcmp(v->key, "git")        ? &s->git
                 : !strcmp(v->key, "secret")     ? &s->secret
                 : !strcmp(v->key, "repository") ? &s->repository
                 : !strcmp(v->key, "dockerfile") ? &s->dockerfile
                 : !strcmp(v->key, "context")    ? &s->context
                                                 : NULL;
    if (!dst)
        return config_fail(L, v, 1, kp,
                           "unknown key (expected name, git, secret, repository, dockerfile, "
                           "context, rules or args)");
    const char *val = want_string(L, v, kp, &rc);
    if (!val) return rc;
    if (dst == &s->secret) {
        free_secret(s->secret);
        s->secret = NULL;
    }
    return set_str(dst, *val ? val : NULL);
}

static int check_source(struct loader *L, struct config *c, size_t i, const struct ynode *k,
                        const char *ep)
{
    struct config_build_source *s = &c->build_sources[i];
    if (!s->name) return config_fail(L, k, 0, ep, "name: required");
    size_t nl = strlen(s->name);
    if (nl > SOURCE_NAME_MAX || s->name[0] == '.' || s->name[0] == '-')
        return config_fail(L, k, 0, ep, "name: at most %d characters, not starting with . or -",
                           SOURCE_NAME_MAX);
    for (size_t j = 0; j < nl; j++)
        if (!islower((unsigned char)s->name[j]) && !isdigit((unsigned char)s->name[j]) &&
            !strchr("._-", s->name[j]))
            return config_fail(L, k, 0, ep,
                               "name: lower-case letters, digits, '.', '_' and '-' only (it is "
                               "the last part of the webhook's URL)");
    for (size_t m = 0; m < i; m++)
        if (!strcmp(c->build_sources[m].name, s->name))
            return config_fail(L, k, 0, ep, "name \"%s\" is listed twice", s->name);
    if (!s->git) return config_fail(L, k, 0, ep, "git: required (the repository's git URL)");
    if (s->git[0] == '-')
        return config_fail(L, map_get(k, "git", 0), 0, ep, "git: a URL may not start with '-'");
    for (const char *p = s->git; *p; p++)
        if ((unsigned char)*p <= ' ')
            return config_fail(L, map_get(k, "git", 0), 0, ep, "git: invalid character in the URL");
    if (!s->secret || strlen(s->secret) < SECRET_MIN)
        return config_fail(L, k, 0, ep,
                           "secret: required, at least %d characters (the webhook's secret: "
                           "`openssl rand -hex 32` makes one)",
                           SECRET_MIN);
    if (!s->repository) return config_fail(L, k, 0, ep, "repository: required");
    if (name_valid(s->repository, 255) != 0)
        return config_fail(L, map_get(k, "repository", 0), 0, ep,
                           "repository: \"%s\" is no valid repository name", s->repository);
    if (!s->dockerfile && set_str(&s->dockerfile, "Dockerfile") < 0) return WERR_NOMEM;
    if (!s->context && set_str(&s->context, ".") < 0) return WERR_NOMEM;
    if (!inside_path(s->dockerfile))
        return config_fail(L, map_get(k, "dockerfile", 0), 0, ep,
                           "dockerfile: a relative path inside the repository, without ..");
    if (!inside_path(s->context))
        return config_fail(L, map_get(k, "context", 0), 0, ep,
                           "context: a relative path inside the repository, without ..");
    if (!s->nrules)
        return config_fail(L, k, 0, ep,
                           "rules: at least one ({branch: main, tag: latest} builds main)");
    return 0;
}

/* builds.sources: [{name, git, secret, repository, ...}, ...] */
APPLIER(apply_build_sources)
{
    (void)f;
    struct config *c = L->c;
    sources_free(c);
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ)
        return config_fail(L, n, 0, path, "expected a list of {name, git, secret, ...} mappings");
    if (!(c->build_sources = calloc(n->nkids ? n->nkids : 1, sizeof *c->build_sources)))
        return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        c->nbuild_sources = i + 1;
        char ep[CONFIG_MAX_PATH / 2];
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (k->type != Y_MAP) return config_fail(L, k, 0, ep, "expected a mapping");
        for (size_t j = 0; j < k->nkids; j++) {
            char kp[CONFIG_MAX_PATH];
            path_join(kp, sizeof kp, ep, k->kids[j]->key);
            int rc = apply_source_key(L, &c->build_sources[i], k->kids[j], kp);
            if (rc < 0) return rc;
        }
        int rc = check_source(L, c, i, k, ep);
        if (rc < 0) return rc;
    }
    return 0;
}

RELEASER(release_build_sources)
{
    (void)f;
    sources_free(c);
}

PRINTER(dump_build_sources)
{
    dump_key(out, depth, f->name);
    fputs(c->nbuild_sources ? "\n" : " []\n", out);
    int d = depth + 2;
    for (size_t i = 0; i < c->nbuild_sources; i++) {
        const struct config_build_source *s = &c->build_sources[i];
        fprintf(out, "%*s- name: ", 2 * depth + 2, "");
        yaml_str(out, s->name);
        fprintf(out, "\n%*sgit: ", 2 * d, "");
        yaml_str(out, s->git);
        /* masked, yet long enough to load back (a secret has SECRET_MIN characters) */
        fprintf(out, "\n%*ssecret: \"****************\"\n%*srepository: ", 2 * d, "", 2 * d, "");
        yaml_str(out, s->repository);
        fprintf(out, "\n%*sdockerfile: ", 2 * d, "");
        yaml_str(out, s->dockerfile);
        fprintf(out, "\n%*scontext: ", 2 * d, "");
        yaml_str(out, s->context);
        fprintf(out, "\n%*srules:\n", 2 * d, "");
        for (size_t r = 0; r < s->nrules; r++) {
            const struct config_build_rule *ru = &s->rules[r];
            fprintf(out, "%*s- ", 2 * d + 2, "");
            if (ru->branch) {
                fputs("branch: ", out);
                yaml_str(out, ru->branch);
                fprintf(out, "\n%*stag: ", 2 * d + 4, "");
                yaml_str(out, ru->tag);
            } else {
                fputs("tag: ", out);
                yaml_str(out, ru->tag);
                if (ru->tag_template) {
                    fprintf(out, "\n%*stag_template: ", 2 * d + 4, "");
                    yaml_str(out, ru->tag_template);
                }
            }
            fputc('\n', out);
        }
        fprintf(out, "%*sargs:%s\n", 2 * d, "", s->nargs ? "" : " {}");
        for (size_t a = 0; a < s->nargs; a++) {
            fprintf(out, "%*s%s: ", 2 * d + 2, "", s->args[a].name);
            yaml_str(out, s->args[a].value);
            fputc('\n', out);
        }
    }
}

SHOWN(shown_builds)
{
    (void)f;
    return c->nbuild_sources || c->builds_workdir;
}

int config_builds_active(const struct config *c)
{
    return c && c->nbuild_sources > 0;
}

const struct config_build_source *config_build_source(const struct config *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->nbuild_sources; i++)
        if (!strcmp(c->build_sources[i].name, name)) return &c->build_sources[i];
    return NULL;
}

/* builds_finish: after the whole file: the workdir's default, and the
 * registry builds push to: http.addr's (a bare ":port" on loopback). */
int builds_finish(struct loader *L)
{
    struct config *c = L->c;
    if (!c->nbuild_sources) return 0;
    if (!c->builds_workdir && set_str(&c->builds_workdir, "/var/lib/wharf/builds") < 0)
        return WERR_NOMEM;
    size_t n = strlen(c->builds_workdir);
    while (n > 1 && c->builds_workdir[n - 1] == '/')
        c->builds_workdir[--n] = 0;
    if (!strcmp(c->builds_workdir, "/"))
        return config_fail(L, NULL, 0, "builds.workdir", "must not be /");
    if (!c->builds_registry) {
        const char *a = c->http_addr;
        if (!a || !*a)
            return config_fail(L, NULL, 0, "builds.registry",
                               "required without http.addr (the host:port builds push to, "
                               "as docker push names this registry)");
        char buf[300];
        snprintf(buf, sizeof buf, "%s%s", *a == ':' ? "127.0.0.1" : "", a);
        if (set_str(&c->builds_registry, buf) < 0) return WERR_NOMEM;
    }
    for (const char *p = c->builds_registry; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '/')
            return config_fail(L, NULL, 0, "builds.registry",
                               "host[:port] only (no scheme, no path): \"%s\"", c->builds_registry);
    return 0;
}
