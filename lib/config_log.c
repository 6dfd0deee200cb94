/* config_log.c — version and the log section: their appliers and printers.
 * log.fields and log.hooks (issue 14) as the reference reads them: fields a
 * {name: scalar} mapping, hooks a list of {type: mail, disabled, levels,
 * options: {smtp: {addr, username, password, insecure}, from, to}}; Wharf
 * checks at load what the reference finds out when it first sends a mail
 * (an addr that is not host:port, no from, no recipient). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"
#include "err.h"
#include "log.h"
#include "loghook.h"

int apply_version(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s) return config_fail(L, n, 0, path, "required");
    if (strcmp(s, "0.1") != 0)
        return config_fail(L, n, 0, path, "unsupported version \"%.32s\" (expected 0.1)", s);
    L->version_set = 1;
    return 0;
}

int apply_loglevel(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    int rc = 0;
    char low[16];
    size_t i;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s) return 0;
    for (i = 0; s[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    low[i] = '\0';
    int lv = s[i] ? -1 : log_level_parse(low); /* the reference lowercases it */
    if (lv < 0) return config_fail(L, n, 0, path, "expected error, warn, info or debug");
    L->c->log_level = lv;
    return 0;
}

int apply_formatter(struct loader *L, const struct field *f, const struct ynode *n,
                    const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s || !strcmp(s, "text"))
        L->c->log_formatter = LOG_FMT_TEXT;
    else if (!strcmp(s, "json"))
        L->c->log_formatter = LOG_FMT_JSON;
    else if (!strcmp(s, "logstash"))
        L->c->log_formatter = LOG_FMT_LOGSTASH;
    else
        return config_fail(L, n, 0, path, "expected text, json or logstash");
    L->c->log_json = L->c->log_formatter == LOG_FMT_JSON;
    return 0;
}

PRINTER(dump_version)
{
    dump_key(out, depth, f->name);
    fputs(" \"0.1\"\n", out);
}

PRINTER(dump_loglevel)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    int lv = c->log_level >= 0 && c->log_level <= 3 ? c->log_level : LOG_INFO;
    dump_key(out, depth, f->name);
    fprintf(out, " %s\n", levels[lv]);
}

PRINTER(dump_formatter)
{
    dump_key(out, depth, f->name);
    static const char *const names[] = {"text", "json", "logstash"};
    int fm = c->log_formatter >= LOG_FMT_TEXT && c->log_formatter <= LOG_FMT_LOGSTASH
                 ? c->log_formatter
                 : LOG_FMT_TEXT;
    fprintf(out, " %s\n", names[fm]);
}

/* ---------------------------------------------------------------- log.fields */

static void logfields_free(struct config *c)
{
    for (size_t i = 0; i < c->nlog_fields; i++) {
        free(c->log_fields[i].key);
        free(c->log_fields[i].value);
    }
    free(c->log_fields);
    c->log_fields = NULL;
    c->nlog_fields = 0;
}

static int logfield_cmp(const void *a, const void *b)
{
    return strcmp(((const struct config_logfield *)a)->key,
                  ((const struct config_logfield *)b)->key);
}

/* log.fields: {name: value}; a plain number or boolean stays one in JSON */
APPLIER(apply_logfields)
{
    (void)f;
    struct config *c = L->c;
    logfields_free(c);
    if (is_null(n)) return 0;
    if (n->type != Y_MAP) return config_fail(L, n, 0, path, "expected a mapping {name: value}");
    if (!(c->log_fields = calloc(n->nkids ? n->nkids : 1, sizeof *c->log_fields)))
        return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *v = n->kids[i];
        char kp[CONFIG_MAX_PATH];
        path_join(kp, sizeof kp, path, v->key);
        if (v->type != Y_SCALAR)
            return config_fail(L, v, 0, kp, "expected a string, number or boolean");
        struct config_logfield *d = &c->log_fields[c->nlog_fields];
        int b;
        long long ll;
        const char *val = is_null(v) ? "" : v->val;
        if (!is_null(v) && scalar_bool(v, &b) == 0) {
            val = b ? "true" : "false"; /* yes/on/... as Go reads them */
            d->raw = 1;
        } else if (!is_null(v) && scalar_int(v, &ll) == 0) {
            char num[32];
            snprintf(num, sizeof num, "%lld", ll);
            if (!(d->key = strdup(v->key)) || !(d->value = strdup(num))) return WERR_NOMEM;
            d->raw = 1;
            c->nlog_fields++;
            continue;
        }
        if (!(d->key = strdup(v->key)) || !(d->value = strdup(val))) {
            c->nlog_fields++;
            return WERR_NOMEM;
        }
        c->nlog_fields++;
    }
    qsort(c->log_fields, c->nlog_fields, sizeof *c->log_fields, logfield_cmp);
    return 0;
}

PRINTER(dump_logfields)
{
    dump_key(out, depth, f->name);
    fputs(c->nlog_fields ? "\n" : " {}\n", out);
    for (size_t i = 0; i < c->nlog_fields; i++) {
        fprintf(out, "%*s", 2 * depth + 2, "");
        yaml_str(out, c->log_fields[i].key);
        fputs(": ", out);
        if (c->log_fields[i].raw)
            fputs(c->log_fields[i].value, out);
        else
            yaml_str(out, c->log_fields[i].value);
        fputc('\n', out);
    }
}

RELEASER(release_logfields)
{
    (void)f;
    logfields_free(c);
}

/* ---------------------------------------------------------------- log.hooks */

static void loghook_clear(struct config_loghook *h)
{
    free(h->addr);
    free(h->username);
    free_secret(h->password);
    free(h->from);
    for (size_t i = 0; i < h->nto; i++)
        free(h->to[i]);
    free(h->to);
    memset(h, 0, sizeof *h);
}

static void loghooks_free(struct config *c)
{
    for (size_t i = 0; i < c->nlog_hooks; i++)
        loghook_clear(&c->log_hooks[i]);
    free(c->log_hooks);
    c->log_hooks = NULL;
    c->nlog_hooks = 0;
}

static int hook_str(struct loader *L, const struct ynode *v, const char *kp, char **dst)
{
    int rc = 0;
    const char *s = want_string(L, v, kp, &rc);
    if (!s) return rc;
    return set_str(dst, *s ? s : NULL);
}

static int hook_bool(struct loader *L, const struct ynode *v, const char *kp, int *dst)
{
    if (is_null(v)) return 0;
    if (scalar_bool(v, dst) < 0) return config_fail(L, v, 0, kp, "expected a boolean");
    return 0;
}

static int hook_smtp(struct loader *L, struct config_loghook *h, const struct ynode *n,
                     const char *path)
{
    if (is_null(n)) return 0;
    if (n->type != Y_MAP)
        return config_fail(L, n, 0, path, "expected {addr, username, password, insecure}");
    for (size_t j = 0; j < n->nkids; j++) {
        const struct ynode *v = n->kids[j];
        char kp[CONFIG_MAX_PATH];
        path_join(kp, sizeof kp, path, v->key);
        int rc;
        if (!strcmp(v->key, "addr"))
            rc = hook_str(L, v, kp, &h->addr);
        else if (!strcmp(v->key, "username"))
            rc = hook_str(L, v, kp, &h->username);
        else if (!strcmp(v->key, "password")) {
            free_secret(h->password);
            h->password = NULL;
            rc = hook_str(L, v, kp, &h->password);
        } else if (!strcmp(v->key, "insecure"))
            rc = hook_bool(L, v, kp, &h->insecure);
        else
            rc = config_fail(L, v, 1, kp,
                             "unknown key (expected addr, username, password or insecure)");
        if (rc < 0) return rc;
    }
    return 0;
}

static int hook_to(struct loader *L, struct config_loghook *h, const struct ynode *n,
                   const char *path)
{
    for (size_t i = 0; i < h->nto; i++)
        free(h->to[i]);
    free(h->to);
    h->to = NULL;
    h->nto = 0;
    if (is_null(n)) return 0;
    if (n->type == Y_SCALAR) { /* one address */
        if (!(h->to = calloc(1, sizeof(char *))) || !(h->to[0] = strdup(n->val))) return WERR_NOMEM;
        h->nto = 1;
        return 0;
    }
    if (n->type != Y_SEQ) return config_fail(L, n, 0, path, "expected a list of addresses");
    if (!(h->to = calloc(n->nkids ? n->nkids : 1, sizeof(char *)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *v = n->kids[i];
        if (v->type != Y_SCALAR || is_null(v))
            return config_fail(L, v, 0, path, "expected a list of addresses");
        if (!(h->to[i] = strdup(v->val))) return WERR_NOMEM;
        h->nto++;
    }
    return 0;
}

static int hook_options(struct loader *L, struct config_loghook *h, const struct ynode *n,
                        const char *path)
{
    if (is_null(n)) return 0;
    if (n->type != Y_MAP) return config_fail(L, n, 0, path, "expected {smtp, from, to}");
    for (size_t j = 0; j < n->nkids; j++) {
        const struct ynode *v = n->kids[j];
        char kp[CONFIG_MAX_PATH];
        path_join(kp, sizeof kp, path, v->key);
        int rc;
        if (!strcmp(v->key, "smtp"))
            rc = hook_smtp(L, h, v, kp);
        else if (!strcmp(v->key, "from"))
            rc = hook_str(L, v, kp, &h->from);
        else if (!strcmp(v->key, "to"))
            rc = hook_to(L, h, v, kp);
        else
            rc = config_fail(L, v, 1, kp, "unknown key (expected smtp, from or to)");
        if (rc < 0) return rc;
    }
    return 0;
}

static int hook_levels(struct loader *L, struct config_loghook *h, const struct ynode *n,
                       const char *path)
{
    h->levels = 0;
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ) return config_fail(L, n, 0, path, "expected a list of levels");
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *v = n->kids[i];
        unsigned bit = v->type == Y_SCALAR ? loghook_level_bit(v->val) : 0;
        if (!bit)
            return config_fail(L, v, 0, path,
                               "expected levels among panic, fatal, error, warn, info, debug, "
                               "trace");
        h->levels |= bit;
    }
    return 0;
}

/* the checks the reference leaves to the first mail */
static int hook_check(struct loader *L, const struct config_loghook *h, const struct ynode *k,
                      const char *ep)
{
    if (h->disabled) return 0;
    if (!h->addr) return config_fail(L, k, 0, ep, "options.smtp.addr: required");
    const char *colon = strrchr(h->addr, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == h->addr || !colon[1] || *end || port < 1 || port > 65535)
        return config_fail(L, k, 0, ep, "options.smtp.addr: expected host:port");
    for (const char *p = h->addr; *p; p++)
        if ((unsigned char)*p <= ' ' || strchr("/@?#", *p))
            return config_fail(L, k, 0, ep, "options.smtp.addr: expected host:port");
    if (!h->from) return config_fail(L, k, 0, ep, "options.from: required");
    if (!h->nto) return config_fail(L, k, 0, ep, "options.to: at least one address required");
    for (size_t i = 0; i < h->nto + 1; i++) {
        const char *a = i < h->nto ? h->to[i] : h->from;
        for (const char *p = a; *p; p++)
            if (*p == '\r' || *p == '\n')
                return config_fail(L, k, 0, ep, "options: an address holds a line break");
    }
    return 0;
}

/* log.hooks: [{type: mail, disabled, levels, options}, ...] */
APPLIER(apply_loghooks)
{
    (void)f;
    struct config *c = L->c;
    loghooks_free(c);
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ)
        return config_fail(L, n, 0, path, "expected a list of {type, levels, options} mappings");
    if (!(c->log_hooks = calloc(n->nkids ? n->nkids : 1, sizeof *c->log_hooks))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        struct config_loghook *h = &c->log_hooks[i];
        c->nlog_hooks = i + 1;
        char ep[CONFIG_MAX_PATH / 2];
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (k->type != Y_MAP) return config_fail(L, k, 0, ep, "expected a mapping");
        int typed = 0;
        for (size_t j = 0; j < k->nkids; j++) {
            const struct ynode *v = k->kids[j];
            char kp[CONFIG_MAX_PATH];
            path_join(kp, sizeof kp, ep, v->key);
            int rc = 0;
            if (!strcmp(v->key, "type")) {
                const char *s = want_string(L, v, kp, &rc);
                if (!s) return rc;
                if (strcmp(s, "mail"))
                    return config_fail(L, v, 0, kp, "expected mail (the only hook type)");
                typed = 1;
            } else if (!strcmp(v->key, "disabled"))
                rc = hook_bool(L, v, kp, &h->disabled);
            else if (!strcmp(v->key, "levels"))
                rc = hook_levels(L, h, v, kp);
            else if (!strcmp(v->key, "options"))
                rc = hook_options(L, h, v, kp);
            else
                rc = config_fail(L, v, 1, kp,
                                 "unknown key (expected type, disabled, levels or options)");
            if (rc < 0) return rc;
        }
        if (!typed) return config_fail(L, k, 0, ep, "type: required (mail)");
        int rc = hook_check(L, h, k, ep);
        if (rc < 0) return rc;
    }
    return 0;
}

PRINTER(dump_loghooks)
{
    static const unsigned order[] = {LOGHOOK_PANIC,  LOGHOOK_FATAL,  1u << LOG_ERROR,
                                     1u << LOG_WARN, 1u << LOG_INFO, 1u << LOG_DEBUG,
                                     LOGHOOK_TRACE};
    dump_key(out, depth, f->name);
    fputs(c->nlog_hooks ? "\n" : " []\n", out);
    int d = depth + 2; /* the keys of an entry, under its "- " */
    for (size_t i = 0; i < c->nlog_hooks; i++) {
        const struct config_loghook *h = &c->log_hooks[i];
        fprintf(out, "%*s- type: mail\n", 2 * depth + 2, "");
        fprintf(out, "%*sdisabled: %s\n", 2 * d, "", yn(h->disabled));
        fprintf(out, "%*slevels:%s\n", 2 * d, "", h->levels ? "" : " []");
        for (size_t j = 0; j < sizeof order / sizeof order[0]; j++)
            if (h->levels & order[j])
                fprintf(out, "%*s- %s\n", 2 * d + 2, "", loghook_level_name(order[j]));
        fprintf(out, "%*soptions:\n%*ssmtp:\n", 2 * d, "", 2 * d + 2, "");
        fprintf(out, "%*saddr: ", 2 * d + 4, "");
        yaml_str(out, h->addr);
        fprintf(out, "\n%*susername: ", 2 * d + 4, "");
        yaml_str(out, h->username);
        fprintf(out, "\n%*spassword: %s\n", 2 * d + 4, "", h->password ? "\"*****\"" : "\"\"");
        fprintf(out, "%*sinsecure: %s\n", 2 * d + 4, "", yn(h->insecure));
        fprintf(out, "%*sfrom: ", 2 * d + 2, "");
        yaml_str(out, h->from);
        fprintf(out, "\n%*sto:%s\n", 2 * d + 2, "", h->nto ? "" : " []");
        for (size_t j = 0; j < h->nto; j++) {
            fprintf(out, "%*s- ", 2 * d + 4, "");
            yaml_str(out, h->to[j]);
            fputc('\n', out);
        }
    }
}

RELEASER(release_loghooks)
{
    (void)f;
    loghooks_free(c);
}
