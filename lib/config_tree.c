/* config_tree.c — config.yml (or one REGISTRY_* value) read with libyaml into a
 * small tree (struct ynode) that keeps line numbers, and the scalars read as
 * the reference's yaml.v2 reads them. Bounded: 1 MiB of input, nesting depth,
 * node count; aliases refused (no billion laughs), one document only. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "config_impl.h"
#include "err.h"

void ynode_free(struct ynode *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->nkids; i++)
        ynode_free(n->kids[i]);
    free(n->kids);
    free(n->key);
    free(n->val);
    free(n);
}

struct ynode *ynode_new(enum ytype t, int line, const char *env)
{
    struct ynode *n = calloc(1, sizeof(*n));
    if (!n) return NULL;
    n->type = t;
    n->line = n->key_line = line;
    n->env = env;
    return n;
}

int ynode_add(struct ynode *parent, struct ynode *kid)
{
    if (parent->nkids == parent->cap) {
        size_t ncap = parent->cap ? parent->cap * 2 : 4;
        struct ynode **k = realloc(parent->kids, ncap * sizeof(*k));
        if (!k) return WERR_NOMEM;
        parent->kids = k;
        parent->cap = ncap;
    }
    parent->kids[parent->nkids++] = kid;
    return 0;
}

int is_null(const struct ynode *n)
{
    if (!n) return 1;
    if (n->type != Y_SCALAR || !n->plain) return 0;
    const char *v = n->val;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

struct ynode *map_get(const struct ynode *m, const char *key, int nocase)
{
    if (!m || m->type != Y_MAP) return NULL;
    for (size_t i = 0; i < m->nkids; i++)
        if (nocase ? !strcasecmp(m->kids[i]->key, key) : !strcmp(m->kids[i]->key, key))
            return m->kids[i];
    return NULL;
}

/* ---------------------------------------------------------------- YAML -> tree */

static int yaml_fail(struct loader *L, const char *env, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int yaml_fail(struct loader *L, const char *env, int line, const char *fmt, ...)
{
    char reason[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (!L->err || !L->errlen) return WERR_INVALID;
    if (env)
        snprintf(L->err, L->errlen, "[env] %s: %s", env, reason);
    else
        snprintf(L->err, L->errlen, "[%s:%d] %s", L->file ? L->file : "config", line, reason);
    return WERR_INVALID;
}

int parse_yaml(struct loader *L, const char *buf, size_t len, const char *env, struct ynode **out)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct ynode *stack[CONFIG_MAX_DEPTH + 1];
    int depth = 0, docs = 0, done = 0, rc = 0;
    struct ynode *root = NULL;
    char *pending = NULL; /* a mapping key waiting for its value */
    int pending_line = 0;

    *out = NULL;
    if (!yaml_parser_initialize(&p)) return WERR_NOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = yaml_fail(L, env, (int)p.problem_mark.line + 1, "YAML syntax error: %s%s%s",
                           p.problem ? p.problem : "invalid input", p.context ? " " : "",
                           p.context ? p.context : "");
            goto out;
        }
        int line = (int)ev.start_mark.line + 1;
        struct ynode *n = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) rc = yaml_fail(L, env, line, "only one YAML document is allowed");
            break;
        case YAML_ALIAS_EVENT:
            rc = yaml_fail(L, env, line, "YAML aliases are not supported");
            break;
        case YAML_SCALAR_EVENT:
            n = ynode_new(Y_SCALAR, line, env);
            if (!n ||
                !(n->val = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length))) {
                rc = WERR_NOMEM;
                break;
            }
            if (strlen(n->val) != ev.data.scalar.length) {
                rc = yaml_fail(L, env, line, "NUL byte in a value");
                break;
            }
            n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                       (!ev.data.scalar.tag ||
                        strcmp((const char *)ev.data.scalar.tag, "tag:yaml.org,2002:str") != 0);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth >= CONFIG_MAX_DEPTH) {
                rc = yaml_fail(L, env, line, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
                break;
            }
            n = ynode_new(ev.type == YAML_MAPPING_START_EVENT ? Y_MAP : Y_SEQ, line, env);
            if (!n) rc = WERR_NOMEM;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0) depth--;
            break;
        default: break;
        }
        yaml_event_delete(&ev);
        if (rc) {
            ynode_free(n);
            goto out;
        }
        if (!n) continue;
        if (++L->nodes > CONFIG_MAX_NODES) {
            ynode_free(n);
            rc = yaml_fail(L, env, line, "more than %d YAML nodes", CONFIG_MAX_NODES);
            goto out;
        }
        struct ynode *top = depth ? stack[depth - 1] : NULL;
        if (!top) {
            if (root) { /* cannot happen with one document, but stay safe */
                ynode_free(n);
                rc = yaml_fail(L, env, line, "only one YAML document is allowed");
                goto out;
            }
            root = n;
        } else if (top->type == Y_MAP && !pending) {
            if (n->type != Y_SCALAR) {
                ynode_free(n);
                rc = yaml_fail(L, env, line, "mapping keys must be plain strings");
                goto out;
            }
            pending = n->val;
            pending_line = n->line;
            n->val = NULL;
            ynode_free(n);
            continue;
        } else {
            if (top->nkids >= CONFIG_MAX_KEYS) {
                ynode_free(n);
                rc = yaml_fail(L, env, line, "more than %d entries in one collection",
                               CONFIG_MAX_KEYS);
                goto out;
            }
            if (top->type == Y_MAP) {
                if (map_get(top, pending, 0)) {
                    ynode_free(n);
                    rc = yaml_fail(L, env, pending_line, "duplicate key \"%.100s\"", pending);
                    goto out;
                }
                n->key = pending;
                n->key_line = pending_line;
                pending = NULL;
            }
            if ((rc = ynode_add(top, n)) < 0) {
                ynode_free(n);
                goto out;
            }
        }
        if (n->type != Y_SCALAR) stack[depth++] = n;
    }
    *out = root;
    root = NULL;
out:
    free(pending);
    ynode_free(root);
    yaml_parser_delete(&p);
    return rc;
}

/* ---------------------------------------------------------------- scalars */

static const char *const yaml_true[] = {"y",  "Y",  "yes",  "Yes",  "YES",  "on",
                                        "On", "ON", "true", "True", "TRUE", NULL};
static const char *const yaml_false[] = {"n",   "N",   "no",    "No",    "NO",    "off",
                                         "Off", "OFF", "false", "False", "FALSE", NULL};

/* YAML 1.1 booleans, as the reference's yaml.v2 resolves them; quoted is a string. */
int scalar_bool(const struct ynode *n, int *out)
{
    if (n->type != Y_SCALAR || !n->plain) return -1;
    for (int i = 0; yaml_true[i]; i++)
        if (!strcmp(n->val, yaml_true[i])) return *out = 1, 0;
    for (int i = 0; yaml_false[i]; i++)
        if (!strcmp(n->val, yaml_false[i])) return *out = 0, 0;
    return -1;
}

/* YAML integers as yaml.v2 reads them: decimal, 0x hex, 0o / leading-0 octal,
 * 0b binary, '_' separators; plain scalars only. */
int scalar_int(const struct ynode *n, long long *out)
{
    char tmp[72];
    size_t j = 0;
    int base = 10, neg = 0;
    if (n->type != Y_SCALAR || !n->plain) return -1;
    const char *s = n->val;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        s += 2;
    } else if (s[0] == '0' && s[1]) {
        base = 8;
        s++;
    }
    for (; *s; s++) {
        if (*s == '_') continue;
        if (j + 1 >= sizeof(tmp)) return -1;
        tmp[j++] = *s;
    }
    tmp[j] = '\0';
    if (!j) return -1;
    for (size_t i = 0; i < j; i++) {
        int d = isdigit((unsigned char)tmp[i])    ? tmp[i] - '0'
                : isxdigit((unsigned char)tmp[i]) ? tolower((unsigned char)tmp[i]) - 'a' + 10
                                                  : 99;
        if (d >= base) return -1;
    }
    errno = 0;
    unsigned long long v = strtoull(tmp, NULL, base);
    if (errno || v > (unsigned long long)LLONG_MAX) return -1;
    *out = neg ? -(long long)v : (long long)v;
    return 0;
}

/* Go's time.ParseDuration ("60s", "1h30m", "1.5h", "500ms", "0") into whole
 * seconds, rounded up. Negative durations are refused. */
/* duration_ns: a Go duration ("1h30m", "500ms", "0") in nanoseconds */
static int duration_ns(const struct ynode *n, double *ns)
{
    static const struct {
        const char *u;
        double ns;
    } units[] = {{"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
                 {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
    if (n->type != Y_SCALAR) return -1;
    const char *s = n->val;
    double total = 0;
    if (*s == '+') s++;
    if (!strcmp(s, "0")) return *ns = 0, 0;
    if (!*s) return -1;
    while (*s) {
        const char *num = s;
        double v = 0, scale = 1;
        int digits = 0;
        while (isdigit((unsigned char)*s)) {
            v = v * 10 + (*s++ - '0');
            digits++;
        }
        if (*s == '.') {
            s++;
            while (isdigit((unsigned char)*s)) {
                scale /= 10;
                v += (*s++ - '0') * scale;
                digits++;
            }
        }
        if (!digits || s == num) return -1;
        size_t best = 0;
        double mult = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].u);
            if (l > best && !strncmp(s, units[i].u, l)) {
                best = l;
                mult = units[i].ns;
            }
        }
        if (!best) return -1;
        s += best;
        total += v * mult;
        if (total > 1e18) return -1; /* beyond Go's int64 nanoseconds */
    }
    *ns = total;
    return 0;
}

/* rounded up to a whole unit: a non-zero duration is never 0 */
static long ceil_units(double ns, double unit)
{
    double v = ns / unit;
    long whole = (long)v;
    if ((double)whole < v) whole++;
    return whole;
}

int scalar_duration(const struct ynode *n, long *secs)
{
    double ns;
    if (duration_ns(n, &ns) < 0) return -1;
    *secs = ceil_units(ns, 1e9);
    return 0;
}

int scalar_duration_ms(const struct ynode *n, long *ms)
{
    double ns;
    if (duration_ns(n, &ns) < 0) return -1;
    *ms = ceil_units(ns, 1e6);
    return 0;
}
