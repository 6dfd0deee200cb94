/* access_rules.c — the token service's access rules (the YAML file named by
 * fastcgi.tokenservice.accessrules): groups of users and rules granting
 * pull/push/delete on repository patterns to users, groups or anonymous
 * callers. A caller's rights on a repository are the union of every rule
 * that applies to it and whose pattern matches. */
#include "access_rules.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "../lib/arena.h"
#include "../lib/err.h"

#define RULES_MAX_BYTES (1024 * 1024)

struct rule {
    char **repos;
    size_t nrepos;
    char **users; /* "*" = any authenticated user */
    size_t nusers;
    char **groups;
    size_t ngroups;
    int anonymous;
    unsigned rights;
};

struct group {
    char *name;
    char **members;
    size_t n;
};

struct access_rules {
    struct rule *rules;
    size_t nrules;
    struct group *groups;
    size_t ngroups;
};

int access_glob(const char *pattern, const char *name)
{
    return fnmatch(pattern, name, 0) == 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void access_rules_free(struct access_rules *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nrules; i++) {
        strv_free(r->rules[i].repos, r->rules[i].nrepos);
        strv_free(r->rules[i].users, r->rules[i].nusers);
        strv_free(r->rules[i].groups, r->rules[i].ngroups);
    }
    free(r->rules);
    for (size_t i = 0; i < r->ngroups; i++) {
        free(r->groups[i].name);
        strv_free(r->groups[i].members, r->groups[i].n);
    }
    free(r->groups);
    free(r);
}

struct rl {
    yaml_document_t *doc;
    const char *path;
    char *err;
    size_t errlen;
};

static int rl_fail(struct rl *L, yaml_node_t *n, const char *what)
{
    snprintf(L->err, L->errlen, "access rules %s:%lu: %s", L->path,
             n ? (unsigned long)n->start_mark.line + 1 : 0UL, what);
    return WERR_INVALID;
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* strlist: a scalar or a sequence of scalars into a malloc'd vector */
static int strlist(struct rl *L, yaml_node_t *n, char ***out, size_t *nout)
{
    if (scalar(n)) {
        if (!(*out = calloc(1, sizeof(char *))) || !((*out)[0] = strdup(scalar(n))))
            return WERR_NOMEM;
        *nout = 1;
        return 0;
    }
    if (!n || n->type != YAML_SEQUENCE_NODE) return rl_fail(L, n, "expected a list of strings");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!(*out = calloc(cnt ? cnt : 1, sizeof(char *)))) return WERR_NOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const char *s = scalar(yaml_document_get_node(L->doc, n->data.sequence.items.start[i]));
        if (!s) return rl_fail(L, n, "expected a list of strings");
        if (!((*out)[i] = strdup(s))) return WERR_NOMEM;
        *nout = i + 1;
    }
    return 0;
}

static int parse_rule(struct rl *L, yaml_node_t *m, struct rule *r)
{
    int rc;
    if (m->type != YAML_MAPPING_NODE) return rl_fail(L, m, "a rule must be a mapping");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(L->doc, p->value);
        const char *key = scalar(k);
        if (!key) return rl_fail(L, k, "expected a key");
        if (!strcmp(key, "repositories") || !strcmp(key, "repository")) {
            if ((rc = strlist(L, v, &r->repos, &r->nrepos))) return rc;
        } else if (!strcmp(key, "users")) {
            if ((rc = strlist(L, v, &r->users, &r->nusers))) return rc;
        } else if (!strcmp(key, "groups")) {
            if ((rc = strlist(L, v, &r->groups, &r->ngroups))) return rc;
        } else if (!strcmp(key, "anonymous")) {
            const char *s = scalar(v);
            if (!s || (strcmp(s, "true") && strcmp(s, "false")))
                return rl_fail(L, v, "anonymous: expected true or false");
            r->anonymous = !strcmp(s, "true");
        } else if (!strcmp(key, "actions")) {
            char **acts = NULL;
            size_t na = 0;
            rc = strlist(L, v, &acts, &na);
            for (size_t i = 0; !rc && i < na; i++) {
                if (!strcmp(acts[i], "pull"))
                    r->rights |= RIGHT_PULL;
                else if (!strcmp(acts[i], "push"))
                    r->rights |= RIGHT_PUSH;
                else if (!strcmp(acts[i], "delete"))
                    r->rights |= RIGHT_DELETE;
                else if (!strcmp(acts[i], "*"))
                    r->rights |= RIGHT_ALL;
                else
                    rc = rl_fail(L, v, "actions: pull, push, delete or *");
            }
            strv_free(acts, na);
            if (rc) return rc;
        } else {
            return rl_fail(L, k, "unknown key (repositories, users, groups, anonymous, actions)");
        }
    }
    if (!r->nrepos) return rl_fail(L, m, "rule without repositories");
    if (!r->rights) return rl_fail(L, m, "rule without actions");
    return 0;
}

int access_rules_load(const char *path, struct access_rules **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0, rc = 0;
    struct access_rules *r = NULL;
    struct rl L = {.doc = &doc, .path = path, .err = err, .errlen = errlen};
    *out = NULL;
    if (!f) {
        snprintf(err, errlen, "access rules %s: cannot open: %m", path);
        return WERR_IO;
    }
    char *buf = malloc(RULES_MAX_BYTES + 1);
    size_t len = buf ? fread(buf, 1, RULES_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf) return WERR_NOMEM;
    if (len > RULES_MAX_BYTES) {
        free(buf);
        snprintf(err, errlen, "access rules %s: larger than 1 MiB", path);
        return WERR_TOOBIG;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "access rules %s:%lu: %s", path,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "YAML error");
        rc = WERR_INVALID;
        goto out;
    }
    have_doc = 1;
    if (!(r = calloc(1, sizeof(*r)))) {
        rc = WERR_NOMEM;
        goto out;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = rl_fail(&L, root, "expected a mapping with groups: and rules:");
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        const char *key = scalar(k);
        if (key && !strcmp(key, "groups")) {
            if (scalar(v) && !*scalar(v)) continue;
            if (v->type != YAML_MAPPING_NODE) {
                rc = rl_fail(&L, v, "groups: expected a mapping name: [users]");
                goto out;
            }
            size_t cnt = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
            if (!(r->groups = calloc(cnt ? cnt : 1, sizeof(*r->groups)))) {
                rc = WERR_NOMEM;
                goto out;
            }
            for (size_t i = 0; i < cnt; i++) {
                yaml_node_pair_t *gp = &v->data.mapping.pairs.start[i];
                struct group *g = &r->groups[r->ngroups++];
                const char *gn = scalar(yaml_document_get_node(&doc, gp->key));
                if (!gn || !(g->name = strdup(gn))) {
                    rc = gn ? WERR_NOMEM : rl_fail(&L, v, "group name expected");
                    goto out;
                }
                if ((rc = strlist(&L, yaml_document_get_node(&doc, gp->value), &g->members, &g->n)))
                    goto out;
            }
        } else if (key && !strcmp(key, "rules")) {
            if (v->type != YAML_SEQUENCE_NODE) {
                rc = rl_fail(&L, v, "rules: expected a list");
                goto out;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (!(r->rules = calloc(cnt ? cnt : 1, sizeof(*r->rules)))) {
                rc = WERR_NOMEM;
                goto out;
            }
            for (size_t i = 0; i < cnt; i++) {
                r->nrules++;
                if ((rc = parse_rule(&L,
                                     yaml_document_get_node(&doc, v->data.sequence.items.start[i]),
                                     &r->rules[i])))
                    goto out;
            }
        } else {
            rc = rl_fail(&L, k, "unknown key (groups, rules)");
            goto out;
        }
    }
    for (size_t i = 0; i < r->nrules; i++)
        for (size_t j = 0; j < r->rules[i].ngroups; j++) {
            size_t g = 0;
            while (g < r->ngroups && strcmp(r->groups[g].name, r->rules[i].groups[j]))
                g++;
            if (g == r->ngroups) {
                snprintf(err, errlen, "access rules %s: rule %zu: unknown group %s", path, i + 1,
                         r->rules[i].groups[j]);
                rc = WERR_INVALID;
                goto out;
            }
        }
out:
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(buf);
    if (rc)
        access_rules_free(r);
    else
        *out = r;
    return rc;
}

static int in_list(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return 1;
    return 0;
}

/* rule_applies: does rule u grant anything to user (NULL: anonymous)? */
static int rule_applies(const struct access_rules *r, const struct rule *u, const char *user)
{
    if (u->anonymous) return 1;
    if (!user) return 0;
    if (in_list(u->users, u->nusers, "*") || in_list(u->users, u->nusers, user)) return 1;
    for (size_t j = 0; j < u->ngroups; j++)
        for (size_t g = 0; g < r->ngroups; g++)
            if (!strcmp(r->groups[g].name, u->groups[j]) &&
                in_list(r->groups[g].members, r->groups[g].n, user))
                return 1;
    return 0;
}

unsigned access_rights(const struct access_rules *r, const char *user, const char *repo)
{
    if (!r) return user ? RIGHT_ALL : 0;
    unsigned got = 0;
    for (size_t i = 0; i < r->nrules; i++) {
        const struct rule *u = &r->rules[i];
        if (!rule_applies(r, u, user)) continue;
        for (size_t k = 0; k < u->nrepos; k++)
            if (access_glob(u->repos[k], repo)) got |= u->rights;
    }
    return got;
}

int access_pull_patterns(const struct access_rules *r, const char *user, struct arena *a,
                         const char ***pats, size_t *n)
{
    *pats = NULL;
    *n = 0;
    if (!r) {
        if (!user) return 1; /* anonymous: nothing */
        return 0;
    }
    size_t cap = 0;
    for (size_t i = 0; i < r->nrules; i++)
        cap += r->rules[i].nrepos;
    *pats = arena_alloc(a, (cap + 1) * sizeof(char *));
    for (size_t i = 0; i < r->nrules; i++) {
        const struct rule *u = &r->rules[i];
        if (!(u->rights & RIGHT_PULL) || !rule_applies(r, u, user)) continue;
        for (size_t k = 0; k < u->nrepos; k++) {
            if (!strcmp(u->repos[k], "*")) return 0;
            (*pats)[(*n)++] = u->repos[k];
        }
    }
    return 1;
}
