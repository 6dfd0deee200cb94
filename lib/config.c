/* config.c — config.yml (the reference registry's schema, version 0.1) plus
 * REGISTRY_<PATH> environment overrides into a struct config.
 *
 * Three steps, like h2o's configurator:
 *   1. libyaml events -> a small tree (struct ynode) that keeps line numbers.
 *      Bounded: 1 MiB of input, nesting depth, node count; aliases refused
 *      (no billion laughs), one document only.
 *   2. Environment overrides are merged into that tree, in lexical order of
 *      the variable names as the reference does (so REGISTRY_STORAGE is
 *      applied before REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY). Each value
 *      is parsed as a YAML document, like the reference's yaml.Unmarshal of
 *      the payload, and the nodes it creates remember the variable's name.
 *   3. One table-driven walk applies the schema: unknown keys, reference keys
 *      Wharf does not support yet, wrong types and bad values all stop with
 *      "[file:line] key.path: reason" or "[env] REGISTRY_X: reason". */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "err.h"
#include "log.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_DEPTH 32
#define CONFIG_MAX_NODES 100000
#define CONFIG_MAX_KEYS 4096 /* children of one mapping or sequence */
#define CONFIG_MAX_PATH 512  /* a dotted key path; longer ones are truncated in messages */
#define ENV_PREFIX "REGISTRY_"

/* ---------------------------------------------------------------- tree */

enum ytype { Y_SCALAR, Y_MAP, Y_SEQ };

struct ynode {
    enum ytype type;
    char *key;       /* key in the parent mapping, or NULL */
    char *val;       /* scalar text */
    int plain;       /* plain (unquoted, untagged) scalar: may be bool/int/null */
    int line;        /* 1-based line of the value */
    int key_line;    /* 1-based line of the key */
    const char *env; /* variable this node came from (owned by the loader), or NULL */
    struct ynode **kids;
    size_t nkids, cap;
};

static void ynode_free(struct ynode *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->nkids; i++)
        ynode_free(n->kids[i]);
    free(n->kids);
    free(n->key);
    free(n->val);
    free(n);
}

static struct ynode *ynode_new(enum ytype t, int line, const char *env)
{
    struct ynode *n = calloc(1, sizeof(*n));
    if (!n) return NULL;
    n->type = t;
    n->line = n->key_line = line;
    n->env = env;
    return n;
}

static int ynode_add(struct ynode *parent, struct ynode *kid)
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

static int is_null(const struct ynode *n)
{
    if (!n) return 1;
    if (n->type != Y_SCALAR || !n->plain) return 0;
    const char *v = n->val;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static struct ynode *map_get(const struct ynode *m, const char *key, int nocase)
{
    if (!m || m->type != Y_MAP) return NULL;
    for (size_t i = 0; i < m->nkids; i++)
        if (nocase ? !strcasecmp(m->kids[i]->key, key) : !strcmp(m->kids[i]->key, key))
            return m->kids[i];
    return NULL;
}

/* ---------------------------------------------------------------- loader */

struct loader {
    struct config *c;
    const char *file; /* file name for messages, or NULL */
    char *err;
    size_t errlen;
    size_t nodes;    /* nodes created so far (bound) */
    char **envnames; /* owned names of applied REGISTRY_* variables */
    size_t nenv;
    int have_driver;
    int version_set;
};

/* env_name_of: "REGISTRY_" + path uppercased with '.' -> '_' into out. */
static void env_name_of(const char *path, char *out, size_t outlen)
{
    size_t i = 0, p = strlen(ENV_PREFIX);
    if (outlen <= p) {
        if (outlen) out[0] = '\0';
        return;
    }
    memcpy(out, ENV_PREFIX, p);
    for (i = 0; path[i] && p + 1 < outlen; i++)
        out[p++] = path[i] == '.' ? '_' : (char)toupper((unsigned char)path[i]);
    out[p] = '\0';
}

/* fail: write the message for node n (NULL: no location) and return WERR_INVALID.
 * at_key selects the key's line (unknown/unsupported keys) over the value's. */
static int fail(struct loader *L, const struct ynode *n, int at_key, const char *path,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(struct loader *L, const struct ynode *n, int at_key, const char *path,
                const char *fmt, ...)
{
    char loc[CONFIG_MAX_PATH + 64], reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (!path) path = "";
    if (n && n->env) {
        char own[CONFIG_MAX_PATH + 16];
        env_name_of(path, own, sizeof(own));
        /* "[env] REGISTRY_X: reason" when the variable names this key itself,
         * else also the key path inside the value it set */
        if (!*path || !strcasecmp(own, n->env))
            snprintf(loc, sizeof(loc), "[env] %s", n->env);
        else
            snprintf(loc, sizeof(loc), "[env] %s: %s", n->env, path);
    } else if (L->file) {
        int line = n ? (at_key ? n->key_line : n->line) : 1;
        if (*path)
            snprintf(loc, sizeof(loc), "[%s:%d] %s", L->file, line, path);
        else
            snprintf(loc, sizeof(loc), "[%s:%d]", L->file, line);
    } else {
        snprintf(loc, sizeof(loc), "[env]%s%s", *path ? " " : "", path);
    }
    if (L->err && L->errlen)
        snprintf(L->err, L->errlen, "%s%s %s", loc, *path || (n && n->env) ? ":" : "", reason);
    return WERR_INVALID;
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

/* parse_yaml: buf (len bytes) into a tree; *out is NULL for an empty stream.
 * env names the variable the text came from (NULL: the file). */
static int parse_yaml(struct loader *L, const char *buf, size_t len, const char *env,
                      struct ynode **out)
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
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
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
        default:
            break;
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
static int scalar_bool(const struct ynode *n, int *out)
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
static int scalar_int(const struct ynode *n, long long *out)
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
static int scalar_duration(const struct ynode *n, long *secs)
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
    if (!strcmp(s, "0")) return *secs = 0, 0;
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
    double sec = total / 1e9;
    long whole = (long)sec;
    if ((double)whole < sec) whole++;
    *secs = whole;
    return 0;
}

/* ---------------------------------------------------------------- schema */

enum kind {
    K_SECTION,     /* a mapping with known children */
    K_STR,         /* string; "" or null keeps NULL/default for optional ones */
    K_BOOL,        /* int 0/1 */
    K_INT,         /* integer in [min, max], stored in an int, long or size_t */
    K_DURATION,    /* Go duration string, seconds into a long */
    K_UNSUPPORTED, /* a reference key Wharf does not implement yet */
    K_CUSTOM,      /* fn does the work */
};

#define NOOFF ((size_t)-1)
#define F_DRIVER 1   /* a storage driver: exactly one allowed */
#define F_REQUIRED 2 /* K_STR: must not be empty */
#define F_ABSPATH 4  /* K_STR: must be an absolute path */
#define F_WEBSERVER 8 /* K_UNSUPPORTED: the web server's job; note is the whole reason */

struct field;
typedef int (*custom_fn)(struct loader *L, const struct field *f, const struct ynode *n,
                         const char *path);

struct field {
    const char *name;
    enum kind kind;
    const struct field *kids; /* K_SECTION: NULL-name-terminated */
    size_t off;               /* into struct config, or NOOFF: accepted, not kept */
    int size;                 /* K_INT: T_INT, T_LONG or T_SIZE */
    long long min, max;       /* K_INT */
    int flags;
    custom_fn fn;     /* K_CUSTOM, or K_SECTION: run after the children */
    const char *note; /* K_UNSUPPORTED: extra words */
};

#define CFG_OFF(m) offsetof(struct config, m)
#define SECTION(n, k)                                                                              \
    {                                                                                              \
        .name = n, .kind = K_SECTION, .kids = k, .off = NOOFF                                      \
    }
#define SECTION_FN(n, k, f, fl)                                                                    \
    {                                                                                              \
        .name = n, .kind = K_SECTION, .kids = k, .off = NOOFF, .fn = f, .flags = fl                \
    }
#define STR(n, m, fl)                                                                              \
    {                                                                                              \
        .name = n, .kind = K_STR, .off = m, .flags = fl                                            \
    }
#define BOOL(n, m)                                                                                 \
    {                                                                                              \
        .name = n, .kind = K_BOOL, .off = m                                                        \
    }
enum { T_INT = 1, T_LONG, T_SIZE };
#define INT(n, m, t, lo, hi)                                                                       \
    {                                                                                              \
        .name = n, .kind = K_INT, .off = m, .size = t, .min = lo, .max = hi                        \
    }
#define DUR(n, m)                                                                                  \
    {                                                                                              \
        .name = n, .kind = K_DURATION, .off = m                                                    \
    }
#define UNSUP(n)                                                                                   \
    {                                                                                              \
        .name = n, .kind = K_UNSUPPORTED, .off = NOOFF                                             \
    }
#define UNSUP_NOTE(n, w)                                                                           \
    {                                                                                              \
        .name = n, .kind = K_UNSUPPORTED, .off = NOOFF, .note = w                                  \
    }
/* a reference key whose job is the web server's in Wharf's shape (TLS, ACME) */
#define WEBSERVER(n, w)                                                                            \
    {                                                                                              \
        .name = n, .kind = K_UNSUPPORTED, .off = NOOFF, .flags = F_WEBSERVER, .note = w            \
    }
#define CUSTOM(n, f)                                                                               \
    {                                                                                              \
        .name = n, .kind = K_CUSTOM, .off = NOOFF, .fn = f                                         \
    }
#define CUSTOM_FL(n, f, fl)                                                                        \
    {                                                                                              \
        .name = n, .kind = K_CUSTOM, .off = NOOFF, .fn = f, .flags = fl                            \
    }
#define END                                                                                        \
    {                                                                                              \
        .name = NULL                                                                               \
    }

static int apply_version(struct loader *, const struct field *, const struct ynode *, const char *);
static int apply_loglevel(struct loader *, const struct field *, const struct ynode *,
                          const char *);
static int apply_formatter(struct loader *, const struct field *, const struct ynode *,
                           const char *);
static int apply_inmemory(struct loader *, const struct field *, const struct ynode *,
                          const char *);
static int apply_filesystem(struct loader *, const struct field *, const struct ynode *,
                            const char *);
static int apply_blobdescriptor(struct loader *, const struct field *, const struct ynode *,
                                const char *);
static int apply_net(struct loader *, const struct field *, const struct ynode *, const char *);
static int apply_prefix(struct loader *, const struct field *, const struct ynode *, const char *);
static int apply_host(struct loader *, const struct field *, const struct ynode *, const char *);
static int apply_headers(struct loader *, const struct field *, const struct ynode *, const char *);
static int apply_listen(struct loader *, const struct field *, const struct ynode *, const char *);
static int apply_socketmode(struct loader *, const struct field *, const struct ynode *,
                            const char *);
static int apply_accel(struct loader *, const struct field *, const struct ynode *, const char *);
static int apply_workers(struct loader *, const struct field *, const struct ynode *, const char *);
static int apply_accel_prefix(struct loader *, const struct field *, const struct ynode *,
                              const char *);

static int apply_urlpatterns(struct loader *, const struct field *, const struct ynode *,
                             const char *);
static int apply_platforms(struct loader *, const struct field *, const struct ynode *,
                           const char *);
static int apply_platformlist(struct loader *, const struct field *, const struct ynode *,
                              const char *);

static const struct field f_accesslog[] = {BOOL("disabled", CFG_OFF(accesslog_disabled)), END};
static const struct field f_log[] = {
    CUSTOM("level", apply_loglevel),
    CUSTOM("formatter", apply_formatter),
    UNSUP("fields"),
    UNSUP("hooks"),
    UNSUP("reportcaller"),
    SECTION("accesslog", f_accesslog),
    END,
};

static const struct field f_filesystem[] = {
    STR("rootdirectory", CFG_OFF(fs_root), F_REQUIRED | F_ABSPATH),
    INT("maxthreads", CFG_OFF(fs_maxthreads), T_INT, 25, 1 << 20),
    END,
};
static const struct field f_delete[] = {BOOL("enabled", CFG_OFF(delete_enabled)), END};
static const struct field f_redirect[] = {BOOL("disable", CFG_OFF(redirect_disable)), END};
static const struct field f_cache[] = {
    CUSTOM("blobdescriptor", apply_blobdescriptor),
    UNSUP("blobdescriptorsize"),
    END,
};
static const struct field f_uploadpurging[] = {
    BOOL("enabled", CFG_OFF(uploadpurging_enabled)),
    DUR("age", CFG_OFF(uploadpurging_age)),
    DUR("interval", CFG_OFF(uploadpurging_interval)),
    BOOL("dryrun", CFG_OFF(uploadpurging_dryrun)),
    END,
};
static const struct field f_readonly[] = {BOOL("enabled", CFG_OFF(readonly)), END};
static const struct field f_gc[] = { /* Wharf's online GC (issue 6) */
    BOOL("enabled", CFG_OFF(gc_enabled)),
    DUR("interval", CFG_OFF(gc_interval)),
    DUR("graceperiod", CFG_OFF(gc_graceperiod)),
    BOOL("deleteuntagged", CFG_OFF(gc_deleteuntagged)),
    BOOL("dryrun", CFG_OFF(gc_dryrun)),
    END,
};
static const struct field f_maintenance[] = {
    SECTION("uploadpurging", f_uploadpurging),
    SECTION("readonly", f_readonly),
    SECTION("gc", f_gc),
    END,
};
/* storage.s3 and redis (issue 7): apply_s3, apply_redis_ms and the rest are at the end of this file */
static int apply_s3(struct loader *, const struct field *, const struct ynode *, const char *);
static int apply_redis_ms(struct loader *, const struct field *, const struct ynode *,
                          const char *);
static int apply_s3_loglevel(struct loader *, const struct field *, const struct ynode *,
                             const char *);
static void s3_config_defaults(struct config *c);
static const struct field f_s3[] = {
    STR("accesskey", CFG_OFF(s3_accesskey), 0),
    STR("secretkey", CFG_OFF(s3_secretkey), 0),
    STR("sessiontoken", CFG_OFF(s3_sessiontoken), 0),
    STR("region", CFG_OFF(s3_region), F_REQUIRED),
    STR("regionendpoint", CFG_OFF(s3_regionendpoint), 0),
    BOOL("forcepathstyle", CFG_OFF(s3_forcepathstyle)),
    STR("bucket", CFG_OFF(s3_bucket), F_REQUIRED),
    STR("rootdirectory", CFG_OFF(s3_rootdirectory), 0),
    BOOL("encrypt", CFG_OFF(s3_encrypt)),
    STR("keyid", CFG_OFF(s3_keyid), 0),
    BOOL("secure", CFG_OFF(s3_secure)),
    BOOL("skipverify", CFG_OFF(s3_skipverify)),
    BOOL("v4auth", CFG_OFF(s3_v4auth)),
    INT("chunksize", CFG_OFF(s3_chunksize), T_LONG, 5L << 20, 5L << 30),
    INT("multipartcopychunksize", CFG_OFF(s3_copychunksize), T_LONG, 5L << 20, 5L << 30),
    INT("multipartcopymaxconcurrency", CFG_OFF(s3_copymaxconcurrency), T_LONG, 1, 1000),
    INT("multipartcopythresholdsize", CFG_OFF(s3_copythreshold), T_LONG, 0, 5L << 30),
    STR("storageclass", CFG_OFF(s3_storageclass), 0),
    STR("objectacl", CFG_OFF(s3_objectacl), 0),
    STR("useragent", CFG_OFF(s3_useragent), 0),
    CUSTOM("loglevel", apply_s3_loglevel),
    UNSUP("usedualstack"),
    UNSUP("accelerate"),
    UNSUP("credentialsconfigpath"),
    END,
};
static const struct field f_redis_pool[] = {
    INT("maxidle", CFG_OFF(redis_maxidle), T_INT, 0, 100000),
    INT("maxactive", CFG_OFF(redis_maxactive), T_INT, 0, 100000),
    DUR("idletimeout", CFG_OFF(redis_idletimeout)),
    END,
};
static const struct field f_redis[] = {
    STR("addr", CFG_OFF(redis_addr), 0),
    STR("password", CFG_OFF(redis_password), 0),
    INT("db", CFG_OFF(redis_db), T_INT, 0, 1 << 20),
    CUSTOM("dialtimeout", apply_redis_ms),
    CUSTOM("readtimeout", apply_redis_ms),
    CUSTOM("writetimeout", apply_redis_ms),
    SECTION("pool", f_redis_pool),
    UNSUP("tls"),
    UNSUP("username"),
    END,
};

static const struct field f_storage[] = {
    SECTION_FN("filesystem", f_filesystem, apply_filesystem, F_DRIVER),
    CUSTOM_FL("inmemory", apply_inmemory, F_DRIVER),
    SECTION_FN("s3", f_s3, apply_s3, F_DRIVER),
    UNSUP("azure"),
    UNSUP("gcs"),
    UNSUP("swift"),
    UNSUP("oss"),
    SECTION("delete", f_delete),
    SECTION("redirect", f_redirect),
    SECTION("cache", f_cache),
    SECTION("maintenance", f_maintenance),
    UNSUP("tag"),
    END,
};

/* auth (issue 4): one access controller; apply_auth_* are at the end of this file */
static int apply_auth_method(struct loader *, const struct field *, const struct ynode *,
                             const char *);
static int apply_sigalgs(struct loader *, const struct field *, const struct ynode *,
                         const char *);
static int apply_tokenservice(struct loader *, const struct field *, const struct ynode *,
                              const char *);
static const struct field f_auth_silly[] = {
    STR("realm", CFG_OFF(auth_realm), 0),
    STR("service", CFG_OFF(auth_service), 0),
    END,
};
static const struct field f_auth_htpasswd[] = {
    STR("realm", CFG_OFF(auth_realm), 0),
    STR("path", CFG_OFF(auth_htpasswd_path), 0),
    END,
};
static const struct field f_auth_token[] = {
    STR("realm", CFG_OFF(auth_realm), 0),
    STR("service", CFG_OFF(auth_service), 0),
    STR("issuer", CFG_OFF(auth_issuer), 0),
    STR("rootcertbundle", CFG_OFF(auth_rootcertbundle), 0),
    STR("jwks", CFG_OFF(auth_jwks), 0),
    BOOL("autoredirect", CFG_OFF(auth_autoredirect)),
    STR("autoredirectpath", CFG_OFF(auth_autoredirectpath), 0),
    CUSTOM("signingalgorithms", apply_sigalgs),
    DUR("leeway", CFG_OFF(auth_leeway)),
    END,
};
static const struct field f_auth[] = {
    SECTION_FN("silly", f_auth_silly, apply_auth_method, 0),
    SECTION_FN("htpasswd", f_auth_htpasswd, apply_auth_method, 0),
    SECTION_FN("token", f_auth_token, apply_auth_method, 0),
    UNSUP("none"),
    END,
};
static const struct field f_tokenservice[] = {
    STR("path", CFG_OFF(ts_path), 0),
    STR("issuer", CFG_OFF(ts_issuer), 0),
    STR("service", CFG_OFF(ts_service), 0),
    STR("signingkey", CFG_OFF(ts_signingkey), 0),
    STR("htpasswd", CFG_OFF(ts_htpasswd), 0),
    STR("accessrules", CFG_OFF(ts_accessrules), 0),
    DUR("expiration", CFG_OFF(ts_expiration)),
    DUR("refreshexpiration", CFG_OFF(ts_refreshexpiration)),
    END,
};

static const struct field f_http[] = {
    STR("addr", CFG_OFF(http_addr), 0),
    CUSTOM("net", apply_net),
    CUSTOM("prefix", apply_prefix),
    CUSTOM("host", apply_host),
    STR("secret", CFG_OFF(http_secret), 0),
    BOOL("relativeurls", CFG_OFF(relativeurls)),
    DUR("draintimeout", CFG_OFF(draintimeout)),
    CUSTOM("headers", apply_headers),
    WEBSERVER("tls", "TLS belongs to the web server in front of Wharf: set it in nginx "
                     "(nginx-conf/wharf-site.conf) or Apache (apache-conf/wharf-vhost.conf)"),
    WEBSERVER("letsencrypt", "certificates belong to the web server in front of Wharf: certbot "
                             "with nginx (nginx-conf/wharf-site.conf) or mod_md in Apache "
                             "(apache-conf/wharf-vhost.conf)"),
    UNSUP("debug"),
    UNSUP("http2"),
    UNSUP("h2c"),
    END,
};

static const struct field f_blobs[] = {
    CUSTOM("accel", apply_accel),
    CUSTOM("prefix", apply_accel_prefix),
    END,
};
static const struct field f_limits[] = {
    INT("manifestsize", CFG_OFF(manifest_max), T_SIZE, 1, 64LL * 1024 * 1024),
    INT("namelength", CFG_OFF(name_max), T_SIZE, 1, 4096),
    INT("taglength", CFG_OFF(tag_max), T_SIZE, 1, 128),
    INT("namecomponents", CFG_OFF(name_components_max), T_SIZE, 1, 128),
    END,
};
/* fastcgi.workers as a mapping: a dynamic pool (apply_workers) */
static const struct field f_workers[] = {
    INT("min", CFG_OFF(workers), T_INT, 1, CONFIG_WORKERS_LIMIT),
    INT("max", CFG_OFF(workers_max), T_INT, 1, CONFIG_WORKERS_LIMIT),
    INT("minspare", CFG_OFF(workers_minspare), T_INT, 1, CONFIG_WORKERS_LIMIT),
    INT("maxspare", CFG_OFF(workers_maxspare), T_INT, 1, CONFIG_WORKERS_LIMIT),
    DUR("idletimeout", CFG_OFF(workers_idletimeout)),
    END,
};
/* fastcgi.uploads (issue 12): defaults per driver in uploads_finish */
static const struct field f_uploads[] = {
    BOOL("bodyfiles", CFG_OFF(bodyfiles)),
    STR("bodydir", CFG_OFF(bodydir), F_ABSPATH),
    END,
};
static const struct field f_fastcgi[] = {
    CUSTOM("listen", apply_listen),
    CUSTOM("socketmode", apply_socketmode),
    CUSTOM("workers", apply_workers),
    INT("backlog", CFG_OFF(backlog), T_INT, 1, 65535),
    INT("maxrequests", CFG_OFF(max_requests), T_LONG, 0, LONG_MAX),
    BOOL("directio", CFG_OFF(directio)),
    STR("pidfile", CFG_OFF(pidfile), F_ABSPATH),
    STR("logfile", CFG_OFF(log_file), F_ABSPATH),
    SECTION("blobs", f_blobs),
    SECTION("limits", f_limits),
    SECTION("uploads", f_uploads),
    SECTION_FN("tokenservice", f_tokenservice, apply_tokenservice, 0),
    END,
};

static const struct field f_urls[] = {
    CUSTOM("allow", apply_urlpatterns),
    CUSTOM("deny", apply_urlpatterns),
    END,
};
static const struct field f_indexes[] = {
    CUSTOM("platforms", apply_platforms),
    CUSTOM("platformlist", apply_platformlist),
    END,
};
static const struct field f_vmanifests[] = {
    SECTION("urls", f_urls),
    SECTION("indexes", f_indexes),
    END,
};
static const struct field f_validation[] = {
    BOOL("enabled", NOOFF), /* deprecated in the reference in favour of disabled */
    BOOL("disabled", CFG_OFF(validation_disabled)),
    SECTION("manifests", f_vmanifests),
    END,
};
static const struct field f_schema1[] = {
    BOOL("enabled", CFG_OFF(schema1_enabled)),
    STR("signingkeyfile", CFG_OFF(schema1_signingkeyfile), 0),
    END,
};
static const struct field f_compatibility[] = {SECTION("schema1", f_schema1), END};

/* proxy (issue 8): apply_proxy and apply_upstreams are at the end of this file */
static int apply_proxy(struct loader *, const struct field *, const struct ynode *, const char *);
static int apply_upstreams(struct loader *, const struct field *, const struct ynode *,
                           const char *);
static const struct field f_proxy[] = {
    STR("remoteurl", CFG_OFF(proxy_remoteurl), 0),
    STR("username", CFG_OFF(proxy_username), 0),
    STR("password", CFG_OFF(proxy_password), 0),
    DUR("ttl", CFG_OFF(proxy_ttl)),
    CUSTOM("upstreams", apply_upstreams),
    END,
};

/* middleware (issue 7): apply_storage_mw is at the end of this file */
static int apply_storage_mw(struct loader *, const struct field *, const struct ynode *,
                            const char *);
static const struct field f_middleware[] = {
    CUSTOM("storage", apply_storage_mw),
    UNSUP("registry"),
    UNSUP("repository"),
    END,
};

static const struct field f_root[] = {
    CUSTOM("version", apply_version),
    SECTION("log", f_log),
    UNSUP_NOTE("loglevel", "deprecated: use log.level"),
    SECTION("storage", f_storage),
    SECTION("auth", f_auth),
    SECTION("http", f_http),
    UNSUP("notifications"),
    SECTION("redis", f_redis),
    UNSUP("health"),
    SECTION_FN("proxy", f_proxy, apply_proxy, 0),
    SECTION("validation", f_validation),
    SECTION("compatibility", f_compatibility),
    SECTION("middleware", f_middleware),
    UNSUP("reporting"),
    UNSUP("catalog"),
    UNSUP("policy"),
    SECTION("fastcgi", f_fastcgi),
    END,
};
static const struct field f_top = SECTION("", f_root);
static int proxy_finish(struct loader *L);

static const struct field *field_find(const struct field *kids, const char *name, int nocase)
{
    for (; kids && kids->name; kids++)
        if (nocase ? !strcasecmp(kids->name, name) : !strcmp(kids->name, name)) return kids;
    return NULL;
}

/* ---------------------------------------------------------------- apply */

static void path_join(char *out, size_t outlen, const char *parent, const char *key)
{
    if (*parent)
        snprintf(out, outlen, "%s.%s", parent, key);
    else
        snprintf(out, outlen, "%s", key);
}

/* path_append: path += "." key (bounded, truncating). */
static void path_append(char *path, size_t len, const char *key)
{
    size_t used = strlen(path);
    if (used && used + 1 < len) path[used++] = '.';
    for (; *key && used + 1 < len; key++)
        path[used++] = *key;
    path[used] = '\0';
}

static int set_str(char **dst, const char *v)
{
    char *s = NULL;
    if (v && !(s = strdup(v))) return WERR_NOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

/* want_string: the scalar text of n, or NULL after writing the error. A null
 * value yields "" (the zero value, as the reference's yaml.v2 gives). */
static const char *want_string(struct loader *L, const struct ynode *n, const char *path, int *rc)
{
    if (n->type != Y_SCALAR) {
        *rc = fail(L, n, 0, path, "expected a string");
        return NULL;
    }
    return is_null(n) ? "" : n->val;
}

static int apply_field(struct loader *L, const struct field *f, const struct ynode *n,
                       const char *path);

static int apply_section(struct loader *L, const struct field *f, const struct ynode *n,
                         const char *path)
{
    int rc = 0;
    char kp[CONFIG_MAX_PATH];
    if (is_null(n)) return 0; /* "key:" with nothing under it: all defaults */
    if (n->type != Y_MAP) return fail(L, n, 0, path, "expected a mapping");
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        path_join(kp, sizeof(kp), path, k->key);
        const struct field *kf = field_find(f->kids, k->key, 0);
        if (!kf) return fail(L, k, 1, kp, "unknown key");
        if ((rc = apply_field(L, kf, k, kp)) < 0) return rc;
    }
    return 0;
}

static int apply_field(struct loader *L, const struct field *f, const struct ynode *n,
                       const char *path)
{
    int rc = 0, b;
    long long v;
    long secs;
    char *base = (char *)L->c;

    if (f->flags & F_DRIVER) {
        if (L->have_driver)
            return fail(L, n, 1, path,
                        "only one storage driver may be configured (filesystem, inmemory or s3)");
        L->have_driver = 1;
    }
    switch (f->kind) {
    case K_SECTION:
        if ((rc = apply_section(L, f, n, path)) < 0) return rc;
        return f->fn ? f->fn(L, f, n, path) : 0;
    case K_UNSUPPORTED:
        if (f->flags & F_WEBSERVER) return fail(L, n, 1, path, "%s", f->note);
        return fail(L, n, 1, path, "not supported by Wharf yet%s%s%s", f->note ? " (" : "",
                    f->note ? f->note : "", f->note ? ")" : "");
    case K_CUSTOM:
        return f->fn(L, f, n, path);
    case K_BOOL:
        if (is_null(n)) return 0;
        if (scalar_bool(n, &b) < 0) return fail(L, n, 0, path, "expected a boolean");
        if (f->off != NOOFF) *(int *)(base + f->off) = b;
        return 0;
    case K_INT:
        if (is_null(n)) return 0;
        if (scalar_int(n, &v) < 0) return fail(L, n, 0, path, "expected an integer");
        if (v < f->min || v > f->max)
            return fail(L, n, 0, path, "must be between %lld and %lld", f->min, f->max);
        if (f->off == NOOFF) return 0;
        if (f->size == T_INT)
            *(int *)(base + f->off) = (int)v;
        else if (f->size == T_SIZE)
            *(size_t *)(base + f->off) = (size_t)v;
        else
            *(long *)(base + f->off) = (long)v;
        return 0;
    case K_DURATION:
        if (is_null(n)) return 0;
        if (scalar_duration(n, &secs) < 0)
            return fail(L, n, 0, path, "expected a duration such as \"60s\" or \"1h30m\"");
        if (f->off != NOOFF) *(long *)(base + f->off) = secs;
        return 0;
    case K_STR: {
        const char *s = want_string(L, n, path, &rc);
        if (!s) return rc;
        if (!*s) {
            if (f->flags & F_REQUIRED) return fail(L, n, 0, path, "must not be empty");
            return set_str((char **)(base + f->off), NULL);
        }
        if ((f->flags & F_ABSPATH) && s[0] != '/')
            return fail(L, n, 0, path, "expected an absolute path");
        return set_str((char **)(base + f->off), s);
    }
    }
    return 0;
}

static int apply_version(struct loader *L, const struct field *f, const struct ynode *n,
                         const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s) return fail(L, n, 0, path, "required");
    if (strcmp(s, "0.1") != 0)
        return fail(L, n, 0, path, "unsupported version \"%.32s\" (expected 0.1)", s);
    L->version_set = 1;
    return 0;
}

static int apply_loglevel(struct loader *L, const struct field *f, const struct ynode *n,
                          const char *path)
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
    if (lv < 0) return fail(L, n, 0, path, "expected error, warn, info or debug");
    L->c->log_level = lv;
    return 0;
}

static int apply_formatter(struct loader *L, const struct field *f, const struct ynode *n,
                           const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s || !strcmp(s, "text"))
        L->c->log_json = 0;
    else if (!strcmp(s, "json"))
        L->c->log_json = 1;
    else if (!strcmp(s, "logstash"))
        return fail(L, n, 0, path, "logstash is not supported by Wharf yet");
    else
        return fail(L, n, 0, path, "expected text or json");
    return 0;
}

static int apply_filesystem(struct loader *L, const struct field *f, const struct ynode *n,
                            const char *path)
{
    L->c->storage = STORAGE_FILESYSTEM;
    return 0;
}

static int apply_inmemory(struct loader *L, const struct field *f, const struct ynode *n,
                          const char *path)
{
    char kp[CONFIG_MAX_PATH];
    if (n->type == Y_MAP && n->nkids) {
        path_join(kp, sizeof(kp), path, n->kids[0]->key);
        return fail(L, n->kids[0], 1, kp, "unknown key");
    }
    if (n->type != Y_MAP && !is_null(n))
        return fail(L, n, 0, path, "expected an empty mapping (inmemory takes no parameters)");
    L->c->storage = STORAGE_INMEMORY;
    return 0;
}

static int apply_blobdescriptor(struct loader *L, const struct field *f, const struct ynode *n,
                                const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    L->c->blobdescriptor_inmemory = L->c->blobdescriptor_redis = 0;
    if (!*s)
        ;
    else if (!strcmp(s, "inmemory"))
        L->c->blobdescriptor_inmemory = 1;
    else if (!strcmp(s, "redis"))
        L->c->blobdescriptor_redis = 1;
    else
        return fail(L, n, 0, path, "expected inmemory or redis");
    return 0;
}

static int apply_net(struct loader *L, const struct field *f, const struct ynode *n,
                     const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (*s && strcmp(s, "tcp") && strcmp(s, "unix"))
        return fail(L, n, 0, path, "expected tcp or unix");
    return set_str(&L->c->http_net, *s ? s : NULL);
}

/* http.prefix: kept with a leading and a trailing '/', as the reference's
 * router mounts it ("/my/registry" and "/my/registry/" mean the same). */
static int apply_prefix(struct loader *L, const struct field *f, const struct ynode *n,
                        const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s) s = "/";
    if (s[0] != '/') return fail(L, n, 0, path, "must begin with '/'");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == 0x7f)
            return fail(L, n, 0, path, "invalid character in a URL path");
    size_t len = strlen(s);
    char *v = malloc(len + 2);
    if (!v) return WERR_NOMEM;
    memcpy(v, s, len + 1);
    if (v[len - 1] != '/') {
        v[len] = '/';
        v[len + 1] = '\0';
    }
    free(L->c->http_prefix);
    L->c->http_prefix = v;
    return 0;
}

static int apply_host(struct loader *L, const struct field *f, const struct ynode *n,
                      const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (*s) {
        const char *rest = !strncmp(s, "http://", 7)    ? s + 7
                           : !strncmp(s, "https://", 8) ? s + 8
                                                        : NULL;
        if (!rest || !*rest || *rest == '/')
            return fail(L, n, 0, path, "expected an absolute URL (http:// or https://)");
        for (const char *p = s; *p; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                return fail(L, n, 0, path, "invalid character in a URL");
    }
    return set_str(&L->c->http_host, *s ? s : NULL);
}

static void headers_free(struct config_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        for (size_t j = 0; j < h[i].nvalues; j++)
            free(h[i].values[j]);
        free(h[i].values);
    }
    free(h);
}

static int is_tchar(int ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* http.headers: name -> list of strings, in file order. Names are
 * canonicalised ("x-frame-options" -> "X-Frame-Options") as the reference's
 * http.Header.Add does when it writes them; values may not hold control
 * characters (no header injection through the config). */
static int apply_headers(struct loader *L, const struct field *f, const struct ynode *n,
                         const char *path)
{
    char kp[CONFIG_MAX_PATH];
    struct config_header *h = NULL;
    size_t nh = 0;
    int rc = 0;

    if (is_null(n)) goto done;
    if (n->type != Y_MAP) return fail(L, n, 0, path, "expected a mapping of header names");
    if (!(h = calloc(n->nkids ? n->nkids : 1, sizeof(*h)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        path_join(kp, sizeof(kp), path, k->key);
        size_t klen = strlen(k->key);
        if (!klen || klen > 256) {
            rc = fail(L, k, 1, kp, "invalid header name");
            goto out;
        }
        for (size_t j = 0; j < klen; j++)
            if (!is_tchar((unsigned char)k->key[j])) {
                rc = fail(L, k, 1, kp, "invalid header name");
                goto out;
            }
        if (!(h[nh].name = strdup(k->key))) {
            rc = WERR_NOMEM;
            goto out;
        }
        for (size_t j = 0, up = 1; j < klen; j++) {
            char ch = h[nh].name[j];
            h[nh].name[j] = (char)(up ? toupper((unsigned char)ch) : tolower((unsigned char)ch));
            up = ch == '-';
        }
        nh++;
        for (size_t j = 0; j + 1 < nh; j++)
            if (!strcmp(h[j].name, h[nh - 1].name)) {
                rc = fail(L, k, 1, kp, "duplicate header");
                goto out;
            }
        if (k->type != Y_SEQ) {
            rc = fail(L, k, 0, kp, "expected a list of strings");
            goto out;
        }
        if (k->nkids && !(h[nh - 1].values = calloc(k->nkids, sizeof(char *)))) {
            rc = WERR_NOMEM;
            goto out;
        }
        for (size_t j = 0; j < k->nkids; j++) {
            const struct ynode *v = k->kids[j];
            if (v->type != Y_SCALAR || is_null(v)) {
                rc = fail(L, v, 0, kp, "expected a list of strings");
                goto out;
            }
            for (const char *p = v->val; *p; p++)
                if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f) {
                    rc = fail(L, v, 0, kp, "control character in a header value");
                    goto out;
                }
            if (!(h[nh - 1].values[j] = strdup(v->val))) {
                rc = WERR_NOMEM;
                goto out;
            }
            h[nh - 1].nvalues++;
        }
    }
done:
    headers_free(L->c->headers, L->c->nheaders);
    L->c->headers = h;
    L->c->nheaders = nh;
    h = NULL;
    nh = 0;
out:
    headers_free(h, nh);
    return rc;
}

/* fastcgi.listen: "unix:/abs/path", "/abs/path" or "host:port" (":port" and
 * "[v6]:port" too). */
static int apply_listen(struct loader *L, const struct field *f, const struct ynode *n,
                        const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s) return fail(L, n, 0, path, "must not be empty");
    if (!strncmp(s, "unix:", 5) || s[0] == '/') {
        const char *p = s[0] == '/' ? s : s + 5;
        if (p[0] != '/') return fail(L, n, 0, path, "expected unix:/absolute/path");
        if (strlen(p) >= 108) /* sizeof(sun_path) */
            return fail(L, n, 0, path, "unix socket path too long");
    } else {
        const char *colon = strrchr(s, ':');
        long long port;
        char *end;
        if (!colon) return fail(L, n, 0, path, "expected unix:/path, /path or host:port");
        if (s[0] == '[' && (colon == s || colon[-1] != ']'))
            return fail(L, n, 0, path, "expected [ipv6]:port");
        errno = 0;
        port = strtoll(colon + 1, &end, 10);
        if (!colon[1] || *end || errno || port < 1 || port > 65535)
            return fail(L, n, 0, path, "port must be between 1 and 65535");
        for (const char *p = s; p < colon; p++)
            if ((unsigned char)*p <= ' ' || *p == '/') return fail(L, n, 0, path, "invalid host");
    }
    return set_str(&L->c->listen, s);
}

/* fastcgi.workers: an integer N is a static pool of N workers (as before
 * dynamic pools existed); a mapping is a dynamic pool whose missing keys take
 * the defaults (config.h), clamped to the keys given: {max: 2} is 1..2, not
 * an error about the default min. */
static int apply_workers(struct loader *L, const struct field *f, const struct ynode *n,
                         const char *path)
{
    struct config *c = L->c;
    long long v;
    int rc;
    if (is_null(n)) return 0;
    if (n->type == Y_SCALAR) {
        if (scalar_int(n, &v) < 0)
            return fail(L, n, 0, path,
                        "expected an integer (a static pool) or a mapping {min, max, minspare, "
                        "maxspare, idletimeout} (a dynamic pool)");
        if (v < 1 || v > CONFIG_WORKERS_LIMIT)
            return fail(L, n, 0, path, "must be between 1 and %d", CONFIG_WORKERS_LIMIT);
        c->workers = c->workers_max = (int)v;
        c->workers_minspare = c->workers_maxspare = 0;
        return 0;
    }
    if (n->type != Y_MAP)
        return fail(L, n, 0, path,
                    "expected an integer (a static pool) or a mapping {min, max, minspare, "
                    "maxspare, idletimeout} (a dynamic pool)");
    c->workers = c->workers_max = c->workers_minspare = c->workers_maxspare = -1;
    c->workers_idletimeout = CONFIG_WORKERS_IDLETIMEOUT;
    const struct field sec = SECTION("", f_workers);
    if ((rc = apply_section(L, &sec, n, path)) < 0) return rc;
    const struct ynode *nmin = map_get(n, "min", 0), *nmax = map_get(n, "max", 0);
    const struct ynode *nminsp = map_get(n, "minspare", 0), *nmaxsp = map_get(n, "maxspare", 0);
    char kp[CONFIG_MAX_PATH];
    if (c->workers_max < 0)
        c->workers_max = c->workers > CONFIG_WORKERS_MAX ? c->workers : CONFIG_WORKERS_MAX;
    if (c->workers < 0)
        c->workers = CONFIG_WORKERS_MIN < c->workers_max ? CONFIG_WORKERS_MIN : c->workers_max;
    if (c->workers > c->workers_max) {
        path_join(kp, sizeof kp, path, "min");
        return fail(L, nmin, 0, kp, "%d is above max (%d)", c->workers, c->workers_max);
    }
    if (c->workers_maxspare < 0) {
        int d = CONFIG_WORKERS_MAXSPARE;
        if (c->workers_minspare > d) d = c->workers_minspare;
        c->workers_maxspare = d < c->workers_max ? d : c->workers_max;
    }
    if (c->workers_minspare < 0) {
        int d = CONFIG_WORKERS_MINSPARE;
        c->workers_minspare = d < c->workers_maxspare ? d : c->workers_maxspare;
    }
    if (c->workers_maxspare > c->workers_max) {
        path_join(kp, sizeof kp, path, "maxspare");
        return fail(L, nmaxsp, 0, kp, "%d is above max (%d)", c->workers_maxspare,
                    c->workers_max);
    }
    if (c->workers_minspare > c->workers_maxspare) {
        path_join(kp, sizeof kp, path, "minspare");
        return fail(L, nminsp ? nminsp : nmaxsp, 0, kp, "%d is above maxspare (%d)",
                    c->workers_minspare, c->workers_maxspare);
    }
    (void)nmax;
    return 0;
}

/* fastcgi.socketmode: octal digits, as a string ("0660") or a plain number.
 * A plain 0660 is already octal in YAML 1.1; a plain 660 is read as octal too,
 * since a decimal file mode is never what anyone means. */
static int apply_socketmode(struct loader *L, const struct field *f, const struct ynode *n,
                            const char *path)
{
    if (is_null(n)) return 0;
    if (n->type != Y_SCALAR) return fail(L, n, 0, path, "expected an octal mode such as 0660");
    const char *s = n->val;
    if (!strncmp(s, "0o", 2) || !strncmp(s, "0O", 2)) s += 2;
    long v = 0;
    if (!*s || strlen(s) > 4) return fail(L, n, 0, path, "expected an octal mode such as 0660");
    for (; *s; s++) {
        if (*s < '0' || *s > '7') return fail(L, n, 0, path, "expected an octal mode such as 0660");
        v = v * 8 + (*s - '0');
    }
    if (v > 0777) return fail(L, n, 0, path, "must be at most 0777");
    L->c->socket_mode = (int)v;
    return 0;
}

static int apply_accel(struct loader *L, const struct field *f, const struct ynode *n,
                       const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s || !strcmp(s, "none"))
        L->c->accel = ACCEL_NONE;
    else if (!strcmp(s, "nginx"))
        L->c->accel = ACCEL_NGINX;
    else if (!strcmp(s, "apache"))
        L->c->accel = ACCEL_APACHE;
    else
        return fail(L, n, 0, path, "expected none, nginx or apache");
    return 0;
}

static int apply_accel_prefix(struct loader *L, const struct field *f, const struct ynode *n,
                              const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    size_t len = strlen(s);
    if (len < 2 || s[0] != '/' || s[len - 1] != '/')
        return fail(L, n, 0, path, "must begin and end with '/'");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == 0x7f)
            return fail(L, n, 0, path, "invalid character in a URL path");
    return set_str(&L->c->accel_prefix, s);
}

/* ---------------------------------------------------------------- environment */

static void regexes_free(struct config_regex *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].pattern);
        pcre2_code_free(r[i].code);
    }
    free(r);
}

static void platforms_free(struct config_platform *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].os);
        free(p[i].arch);
    }
    free(p);
}

/* validation.manifests.urls.allow / deny: a list of regular expressions, each
 * compiled with PCRE2 here so a bad pattern stops start-up with its key path. */
static int apply_urlpatterns(struct loader *L, const struct field *f, const struct ynode *n,
                             const char *path)
{
    int deny = !strcmp(f->name, "deny");
    struct config_regex **dst = deny ? &L->c->urls_deny : &L->c->urls_allow;
    size_t *ndst = deny ? &L->c->nurls_deny : &L->c->nurls_allow;
    regexes_free(*dst, *ndst);
    *dst = NULL;
    *ndst = 0;
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ) return fail(L, n, 0, path, "expected a list of regular expressions");
    struct config_regex *r = calloc(n->nkids ? n->nkids : 1, sizeof(*r));
    if (!r) return WERR_NOMEM;
    size_t i;
    int rc = 0;
    for (i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        const char *s = want_string(L, k, path, &rc);
        if (!s) goto out;
        int ecode;
        PCRE2_SIZE eoff;
        r[i].code = pcre2_compile((PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ecode, &eoff,
                                  NULL);
        if (!r[i].code) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(ecode, msg, sizeof msg);
            rc = fail(L, k, 0, path, "invalid regular expression \"%.64s\" at offset %zu: %s", s,
                      (size_t)eoff, (char *)msg);
            goto out;
        }
        if (!(r[i].pattern = strdup(s))) {
            pcre2_code_free(r[i].code);
            rc = WERR_NOMEM;
            goto out;
        }
    }
out:
    if (rc) {
        regexes_free(r, i);
        return rc;
    }
    *dst = r;
    *ndst = n->nkids;
    return 0;
}

/* validation.manifests.indexes.platforms: all | none | list (Distribution 3) */
static int apply_platforms(struct loader *L, const struct field *f, const struct ynode *n,
                           const char *path)
{
    int rc = 0;
    if (is_null(n)) return 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!strcasecmp(s, "all")) L->c->index_platforms = PLATFORMS_ALL;
    else if (!strcasecmp(s, "none")) L->c->index_platforms = PLATFORMS_NONE;
    else if (!strcasecmp(s, "list")) L->c->index_platforms = PLATFORMS_LIST;
    else return fail(L, n, 0, path, "expected all, none or list");
    return 0;
}

/* validation.manifests.indexes.platformlist: [{architecture: A, os: O}, ...] */
static int apply_platformlist(struct loader *L, const struct field *f, const struct ynode *n,
                              const char *path)
{
    platforms_free(L->c->platformlist, L->c->nplatformlist);
    L->c->platformlist = NULL;
    L->c->nplatformlist = 0;
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ)
        return fail(L, n, 0, path, "expected a list of {architecture, os} mappings");
    struct config_platform *p = calloc(n->nkids ? n->nkids : 1, sizeof(*p));
    if (!p) return WERR_NOMEM;
    int rc = 0;
    for (size_t i = 0; i < n->nkids && !rc; i++) {
        const struct ynode *k = n->kids[i];
        if (k->type != Y_MAP) {
            rc = fail(L, k, 0, path, "expected a mapping with architecture and os");
            break;
        }
        for (size_t j = 0; j < k->nkids && !rc; j++) {
            const struct ynode *v = k->kids[j];
            char kp[CONFIG_MAX_PATH];
            path_join(kp, sizeof(kp), path, v->key);
            char **dst = !strcmp(v->key, "os")             ? &p[i].os
                         : !strcmp(v->key, "architecture") ? &p[i].arch
                                                           : NULL;
            if (!dst) {
                rc = fail(L, v, 1, kp, "unknown key (expected architecture or os)");
                break;
            }
            const char *s = want_string(L, v, kp, &rc);
            if (!s) break;
            rc = set_str(dst, s);
        }
        if (!rc && (!p[i].os || !p[i].arch))
            rc = fail(L, k, 0, path, "each entry needs both architecture and os");
    }
    if (rc) {
        platforms_free(p, n->nkids);
        return rc;
    }
    L->c->platformlist = p;
    L->c->nplatformlist = n->nkids;
    return 0;
}

struct env_pair {
    const char *name;
    const char *value;
};

static int cmp_pairs(const void *a, const void *b)
{
    return strcmp(((const struct env_pair *)a)->name, ((const struct env_pair *)b)->name);
}

/* normalize_storage: "storage: inmemory" (a bare driver name, which the
 * reference accepts) becomes "storage: {inmemory: }" so keys below it can be
 * set from the environment and the schema sees one shape. */
static int normalize_storage(struct ynode *n)
{
    if (!n || n->type != Y_SCALAR || is_null(n)) return 0;
    struct ynode *drv = ynode_new(Y_SCALAR, n->line, n->env);
    if (!drv || !(drv->val = strdup(""))) {
        ynode_free(drv);
        return WERR_NOMEM;
    }
    drv->plain = 1;
    drv->key = n->val;
    n->val = NULL;
    n->type = Y_MAP;
    if (ynode_add(n, drv) < 0) {
        ynode_free(drv);
        return WERR_NOMEM;
    }
    return 0;
}

/* env_apply: merge one REGISTRY_<PATH>=value into the tree.
 *
 * The path is resolved against the schema one '_'-separated part at a time
 * (case-insensitively), so an unknown or unsupported key is named by the
 * variable. Like the reference, the variable creates any missing parent
 * mapping and replaces the value it names, whatever the file had there.
 * Consequence, also the reference's: REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY
 * with a file that configures storage.inmemory adds a second driver and
 * loading stops ("only one storage driver"); the reference panics with
 * "multiple storage drivers specified in configuration or environment".
 * To switch drivers from the environment set REGISTRY_STORAGE=filesystem
 * (which, as in the reference, replaces the whole storage section) and then
 * REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY etc., applied after it because
 * variables are applied in lexical order. */
static int env_apply(struct loader *L, struct ynode **root, const char *name, const char *value)
{
    char parts[CONFIG_MAX_PATH], path[CONFIG_MAX_PATH] = "";
    const char *keys[CONFIG_MAX_DEPTH];
    size_t nkeys = 0;
    const struct field *f = &f_top;
    struct ynode *val = NULL, *m;
    int rc = 0, header = 0;

    if (strlen(name) >= sizeof(parts)) {
        snprintf(L->err, L->errlen, "[env] %.64s...: unknown key", name);
        return WERR_INVALID;
    }
    strcpy(parts, name + strlen(ENV_PREFIX));
    for (char *save = NULL, *tok = parts; tok; tok = save) {
        save = strchr(tok, '_');
        if (save) *save++ = '\0';
        if (nkeys >= CONFIG_MAX_DEPTH) {
            snprintf(L->err, L->errlen, "[env] %s: unknown key", name);
            return WERR_INVALID;
        }
        if (header) { /* http.headers.<name>: the part is the header name */
            if (save || !*tok) {
                snprintf(L->err, L->errlen, "[env] %s: unknown key", name);
                return WERR_INVALID;
            }
            for (char *p = tok; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            keys[nkeys++] = tok;
            path_append(path, sizeof(path), tok);
            break;
        }
        const struct field *kf = f->kind == K_SECTION ? field_find(f->kids, tok, 1) : NULL;
        if (!kf) {
            snprintf(L->err, L->errlen, "[env] %s: unknown key", name);
            return WERR_INVALID;
        }
        keys[nkeys++] = kf->name;
        path_append(path, sizeof(path), kf->name);
        if (kf->kind == K_UNSUPPORTED && (kf->flags & F_WEBSERVER)) {
            snprintf(L->err, L->errlen, "[env] %s: %s: %s", name, path, kf->note);
            return WERR_INVALID;
        }
        if (kf->kind == K_UNSUPPORTED) {
            snprintf(L->err, L->errlen, "[env] %s: %s: not supported by Wharf yet%s%s%s", name,
                     path, kf->note ? " (" : "", kf->note ? kf->note : "", kf->note ? ")" : "");
            return WERR_INVALID;
        }
        if (save && kf->kind == K_CUSTOM && kf->fn == apply_headers) {
            header = 1;
            continue;
        }
        if (save && kf->kind == K_CUSTOM && kf->fn == apply_workers) {
            /* REGISTRY_FASTCGI_WORKERS_MAX: one key of the dynamic pool */
            static const struct field workers_map = SECTION("workers", f_workers);
            f = &workers_map;
            continue;
        }
        if (save && kf->kind != K_SECTION) {
            snprintf(L->err, L->errlen, "[env] %s: unknown key", name);
            return WERR_INVALID;
        }
        f = kf;
    }
    if (!nkeys) {
        snprintf(L->err, L->errlen, "[env] %s: unknown key", name);
        return WERR_INVALID;
    }

    if ((rc = parse_yaml(L, value, strlen(value), name, &val)) < 0) return rc;
    if (!val) { /* empty value: null */
        if (!(val = ynode_new(Y_SCALAR, 0, name)) || !(val->val = strdup(""))) {
            ynode_free(val);
            return WERR_NOMEM;
        }
        val->plain = 1;
    }
    val->line = val->key_line = 0;
    if (nkeys == 1 && (!strcmp(keys[0], "storage") || !strcmp(keys[0], "auth")) &&
        (rc = normalize_storage(val)) < 0)
        goto out;

    if (!*root || (*root)->type != Y_MAP) {
        /* no file, or an empty one: the environment starts the top mapping */
        ynode_free(*root);
        if (!(*root = ynode_new(Y_MAP, 1, NULL))) {
            rc = WERR_NOMEM;
            goto out;
        }
    }
    m = *root;
    for (size_t i = 0; i < nkeys; i++) {
        int nocase = header && i == nkeys - 1;
        struct ynode *k = map_get(m, keys[i], nocase);
        if (i == nkeys - 1) {
            if (!(val->key = strdup(k ? k->key : keys[i]))) {
                rc = WERR_NOMEM;
                goto out;
            }
            if (k) { /* replace in place: keeps the file's order */
                for (size_t j = 0; j < m->nkids; j++)
                    if (m->kids[j] == k) m->kids[j] = val;
                ynode_free(k);
            } else if ((rc = ynode_add(m, val)) < 0) {
                goto out;
            }
            val = NULL;
            break;
        }
        if (k && k->type != Y_MAP) {
            if ((!strcmp(keys[i], "storage") || !strcmp(keys[i], "auth")) && i == 0 &&
                (rc = normalize_storage(k)) < 0)
                goto out;
            if (k->type != Y_MAP) { /* null or a scalar: becomes a mapping */
                free(k->val);
                k->val = NULL;
                for (size_t j = 0; j < k->nkids; j++)
                    ynode_free(k->kids[j]);
                k->nkids = 0;
                k->type = Y_MAP;
                k->env = name;
            }
        }
        if (!k) {
            if (!(k = ynode_new(Y_MAP, 0, name)) || !(k->key = strdup(keys[i]))) {
                ynode_free(k);
                rc = WERR_NOMEM;
                goto out;
            }
            if ((rc = ynode_add(m, k)) < 0) {
                ynode_free(k);
                goto out;
            }
        }
        m = k;
    }
out:
    ynode_free(val);
    return rc;
}

static int env_merge(struct loader *L, struct ynode **root, char *const *envp)
{
    size_t n = 0, plen = strlen(ENV_PREFIX);
    char **vars = NULL;
    int rc = 0;

    if (!envp) return 0;
    for (char *const *e = envp; *e; e++)
        if (!strncmp(*e, ENV_PREFIX, plen) && strchr(*e, '=')) n++;
    if (!n) return 0;
    if (!(vars = calloc(n, sizeof(*vars))) || !(L->envnames = calloc(n, sizeof(char *)))) {
        free(vars);
        return WERR_NOMEM;
    }
    n = 0;
    for (char *const *e = envp; *e; e++)
        if (!strncmp(*e, ENV_PREFIX, plen) && strchr(*e, '=')) vars[n++] = *e;
    /* sort by name only: "A=.." vs "A_B=.." must order A first */
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)(strchr(vars[i], '=') - vars[i]);
        if (!(L->envnames[i] = strndup(vars[i], len))) {
            rc = WERR_NOMEM;
            goto out;
        }
        L->nenv++;
    }
    /* keep name and value paired while sorting */
    struct env_pair *pairs = calloc(n, sizeof(*pairs));
    if (!pairs) {
        rc = WERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        pairs[i].name = L->envnames[i];
        pairs[i].value = strchr(vars[i], '=') + 1;
    }
    qsort(pairs, n, sizeof(*pairs), cmp_pairs);
    for (size_t i = 0; i < n && !rc; i++) {
        const char *v = pairs[i].value;
        if (strlen(v) > CONFIG_MAX_BYTES) {
            snprintf(L->err, L->errlen, "[env] %s: value too long", pairs[i].name);
            rc = WERR_TOOBIG;
            break;
        }
        rc = env_apply(L, root, pairs[i].name, v);
    }
    free(pairs);
out:
    free(vars);
    return rc;
}

/* ---------------------------------------------------------------- load */

static int read_file(struct loader *L, const char *path, char **out, size_t *outlen)
{
    int fd = -1, rc = 0;
    char *buf = NULL;
    size_t len = 0;
    struct stat st;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
        snprintf(L->err, L->errlen, "[%s] cannot open: %s", path, strerror(errno));
        rc = WERR_IO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(L->err, L->errlen, "[%s] not a regular file", path);
        rc = WERR_IO;
        goto out;
    }
    /* read up to one byte past the cap: the size from fstat may be stale */
    if (!(buf = malloc(CONFIG_MAX_BYTES + 2))) {
        rc = WERR_NOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, CONFIG_MAX_BYTES + 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(L->err, L->errlen, "[%s] read: %s", path, strerror(errno));
            rc = WERR_IO;
            goto out;
        }
        if (r == 0) break;
        len += (size_t)r;
        if (len > CONFIG_MAX_BYTES) {
            snprintf(L->err, L->errlen, "[%s] file larger than %d bytes", path, CONFIG_MAX_BYTES);
            rc = WERR_TOOBIG;
            goto out;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    buf = NULL;
out:
    free(buf);
    if (fd >= 0) close(fd);
    return rc;
}

/* fastcgi.uploads: body files (nginx's $request_body_file adopted by Wharf)
 * by default where measured faster and where the web server's temp directory
 * can be on the storage's filesystem: on for filesystem, with the directory
 * <rootdirectory>/wharf/body (beside the locks, outside the reference's
 * docker/registry/v2 tree); for s3 on too when a bodydir is given (the worker
 * then sends a finished local file to the store instead of waiting on the
 * client); off for inmemory. */
static int uploads_finish(struct loader *L)
{
    struct config *c = L->c;
    if (c->bodydir) {
        size_t n = strlen(c->bodydir);
        while (n > 1 && c->bodydir[n - 1] == '/')
            c->bodydir[--n] = 0;
    }
    if (!c->bodydir && c->storage == STORAGE_FILESYSTEM && c->fs_root) {
        size_t n = strlen(c->fs_root);
        while (n > 1 && c->fs_root[n - 1] == '/')
            n--;
        if (!(c->bodydir = malloc(n + sizeof "/wharf/body"))) return WERR_NOMEM;
        memcpy(c->bodydir, c->fs_root, n);
        memcpy(c->bodydir + (n == 1 ? 0 : n), "/wharf/body", sizeof "/wharf/body");
    }
    if (c->bodyfiles < 0) c->bodyfiles = c->storage != STORAGE_INMEMORY && c->bodydir;
    if (c->bodyfiles && !c->bodydir)
        return fail(L, NULL, 0, "fastcgi.uploads.bodydir",
                    "required with bodyfiles: true when the storage is not filesystem");
    if (c->bodydir && !strcmp(c->bodydir, "/"))
        return fail(L, NULL, 0, "fastcgi.uploads.bodydir", "must not be /");
    return 0;
}

static int config_defaults(struct config *c)
{
    c->log_level = LOG_INFO;
    c->storage = STORAGE_FILESYSTEM;
    c->fs_maxthreads = 100;
    c->uploadpurging_enabled = 1;
    c->uploadpurging_age = 168 * 3600;
    c->uploadpurging_interval = 24 * 3600;
    c->gc_interval = 24 * 3600;
    c->gc_graceperiod = 3600;
    c->socket_mode = 0666;
    c->workers = CONFIG_WORKERS_MIN; /* a dynamic pool (apply_workers) */
    c->workers_max = CONFIG_WORKERS_MAX;
    c->workers_minspare = CONFIG_WORKERS_MINSPARE;
    c->workers_maxspare = CONFIG_WORKERS_MAXSPARE;
    c->workers_idletimeout = CONFIG_WORKERS_IDLETIMEOUT;
    c->backlog = 1024;
    c->draintimeout = 60;
    c->manifest_max = 4 * 1024 * 1024;
    c->name_max = 255;
    c->tag_max = 128;
    c->directio = 0;
    c->bodyfiles = -1; /* fastcgi.uploads.bodyfiles: per driver, uploads_finish */
    c->auth_leeway = 60;                      /* auth.token.leeway */
    c->ts_expiration = 300;                   /* fastcgi.tokenservice.expiration */
    c->ts_refreshexpiration = 30 * 24 * 3600; /* ....refreshexpiration */
    c->name_components_max = 32;
    c->proxy_ttl = 168 * 3600; /* proxy.ttl, as the reference (Distribution 3) */
    s3_config_defaults(c);     /* storage.s3, redis (issue 7) */
    if (!(c->fs_root = strdup("/var/lib/registry")) || !(c->http_prefix = strdup("/")) ||
        !(c->listen = strdup("unix:/run/wharf.sock")) ||
        !(c->accel_prefix = strdup("/_wharf_blobs/")))
        return WERR_NOMEM;
    return 0;
}

int config_load(const char *path, char *const *envp, struct config **out, char *err, size_t errlen)
{
    struct loader L = {.file = path, .err = err, .errlen = errlen};
    struct ynode *root = NULL;
    char *buf = NULL, dummy[1];
    size_t len = 0;
    int rc = 0;

    *out = NULL;
    if (!err || !errlen) {
        L.err = dummy;
        L.errlen = sizeof(dummy);
    }
    L.err[0] = '\0';
    if (!(L.c = calloc(1, sizeof(*L.c)))) return WERR_NOMEM;
    if ((rc = config_defaults(L.c)) < 0) goto out;
    if (path) {
        if (!(L.c->path = strdup(path))) {
            rc = WERR_NOMEM;
            goto out;
        }
        if ((rc = read_file(&L, path, &buf, &len)) < 0) goto out;
        if ((rc = parse_yaml(&L, buf, len, NULL, &root)) < 0) goto out;
        if (root && !is_null(root) && root->type != Y_MAP) {
            rc = fail(&L, root, 0, "", "expected a mapping at the top level");
            goto out;
        }
        if ((rc = normalize_storage(map_get(root, "storage", 0))) < 0) goto out;
        if ((rc = normalize_storage(map_get(root, "auth", 0))) < 0) goto out;
    }
    if ((rc = env_merge(&L, &root, envp)) < 0) goto out;
    if (root && root->type == Y_MAP && (rc = apply_section(&L, &f_top, root, "")) < 0) goto out;
    if (path && !L.version_set) {
        rc = fail(&L, NULL, 0, "version", "required");
        goto out;
    }
    if ((rc = proxy_finish(&L)) < 0) goto out;
    if (!L.have_driver) {
        const struct ynode *st = map_get(root, "storage", 0);
        rc = fail(&L, st, 1, "storage",
                  "required: configure exactly one driver, filesystem, inmemory or s3");
        goto out;
    }
    /* inmemory keeps everything inside one process: without an explicit
     * fastcgi.workers, a pool of one (several would each hold a registry of
     * their own, and a push would land in one, its pull in another) */
    if (L.c->storage == STORAGE_INMEMORY && !map_get(map_get(root, "fastcgi", 0), "workers", 0)) {
        L.c->workers = L.c->workers_max = 1;
        L.c->workers_minspare = L.c->workers_maxspare = 0;
    }
    if ((rc = uploads_finish(&L)) < 0) goto out;
    *out = L.c;
    L.c = NULL;
out:
    if (rc == WERR_NOMEM && L.err != dummy) snprintf(L.err, L.errlen, "out of memory");
    config_free(L.c);
    ynode_free(root);
    for (size_t i = 0; i < L.nenv; i++)
        free(L.envnames[i]);
    free(L.envnames);
    free(buf);
    return rc;
}

static void auth_config_free(struct config *c);
static void auth_config_dump(const struct config *c, FILE *out);
static void tokenservice_dump(const struct config *c, FILE *out);
static void proxy_config_free(struct config *c);
static void s3_config_free(struct config *c);
static void s3_config_dump(const struct config *c, FILE *out);
static void redis_config_dump(const struct config *c, FILE *out);
static void proxy_config_dump(const struct config *c, FILE *out);
static void storage_mw_free(struct config *c);
static void storage_mw_dump(const struct config *c, FILE *out);

void config_free(struct config *c)
{
    if (!c) return;
    free(c->path);
    free(c->log_file);
    free(c->fs_root);
    free(c->http_addr);
    free(c->http_prefix);
    free(c->http_host);
    if (c->http_secret) {
        /* do not leave the secret in freed heap memory */
        volatile char *p = c->http_secret;
        while (*p)
            *p++ = '\0';
        free(c->http_secret);
    }
    headers_free(c->headers, c->nheaders);
    free(c->listen);
    free(c->accel_prefix);
    free(c->pidfile);
    free(c->bodydir);
    free(c->http_net);
    auth_config_free(c);
    proxy_config_free(c);
    s3_config_free(c);
    storage_mw_free(c);
    regexes_free(c->urls_allow, c->nurls_allow);
    regexes_free(c->urls_deny, c->nurls_deny);
    platforms_free(c->platformlist, c->nplatformlist);
    free(c->schema1_signingkeyfile);
    free(c);
}

/* ---------------------------------------------------------------- dump */

/* yaml_str: s as a double-quoted YAML scalar (NULL prints ""). */
static void yaml_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < ' ' || ch == 0x7f)
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static const char *yn(int b)
{
    return b ? "true" : "false";
}

void config_dump(const struct config *c, FILE *out)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    static const char *const accels[] = {"none", "nginx", "apache"};
    int lv = c->log_level >= 0 && c->log_level <= 3 ? c->log_level : LOG_INFO;
    int ac = c->accel >= ACCEL_NONE && c->accel <= ACCEL_APACHE ? (int)c->accel : 0;

    fprintf(out, "version: \"0.1\"\n");
    fprintf(out, "log:\n  level: %s\n  formatter: %s\n  accesslog:\n    disabled: %s\n", levels[lv],
            c->log_json ? "json" : "text", yn(c->accesslog_disabled));
    fprintf(out, "storage:\n");
    if (c->storage == STORAGE_INMEMORY) {
        fprintf(out, "  inmemory: {}\n");
    } else if (c->storage == STORAGE_S3) {
        s3_config_dump(c, out);
    } else {
        fprintf(out, "  filesystem:\n    rootdirectory: ");
        yaml_str(out, c->fs_root);
        fprintf(out, "\n    maxthreads: %d\n", c->fs_maxthreads);
    }
    fprintf(out, "  delete:\n    enabled: %s\n", yn(c->delete_enabled));
    fprintf(out, "  redirect:\n    disable: %s\n", yn(c->redirect_disable));
    fprintf(out, "  cache:\n    blobdescriptor: %s\n",
            c->blobdescriptor_redis      ? "redis"
            : c->blobdescriptor_inmemory ? "inmemory"
                                         : "\"\"");
    fprintf(out,
            "  maintenance:\n    uploadpurging:\n      enabled: %s\n      age: %lds\n"
            "      interval: %lds\n      dryrun: %s\n    readonly:\n      enabled: %s\n",
            yn(c->uploadpurging_enabled), c->uploadpurging_age, c->uploadpurging_interval,
            yn(c->uploadpurging_dryrun), yn(c->readonly));
    fprintf(out, "http:\n  addr: ");
    yaml_str(out, c->http_addr);
    fprintf(out, "\n  net: ");
    yaml_str(out, c->http_net);
    fprintf(out, "\n  prefix: ");
    yaml_str(out, c->http_prefix);
    fprintf(out, "\n  host: ");
    yaml_str(out, c->http_host);
    /* a secret is never printed, only whether one is set */
    fprintf(out, "\n  secret: %s\n", c->http_secret && *c->http_secret ? "\"*****\"" : "\"\"");
    fprintf(out, "  relativeurls: %s\n  draintimeout: %lds\n", yn(c->relativeurls),
            c->draintimeout);
    if (!c->nheaders)
        fprintf(out, "  headers: {}\n");
    else
        fprintf(out, "  headers:\n");
    for (size_t i = 0; i < c->nheaders; i++) {
        fprintf(out, "    ");
        yaml_str(out, c->headers[i].name);
        if (!c->headers[i].nvalues) {
            fprintf(out, ": []\n");
            continue;
        }
        fprintf(out, ":\n");
        for (size_t j = 0; j < c->headers[i].nvalues; j++) {
            fprintf(out, "      - ");
            yaml_str(out, c->headers[i].values[j]);
            fputc('\n', out);
        }
    }
    auth_config_dump(c, out);
    proxy_config_dump(c, out);
    redis_config_dump(c, out);
    storage_mw_dump(c, out);
    fprintf(out, "fastcgi:\n  listen: ");
    yaml_str(out, c->listen);
    fprintf(out, "\n  socketmode: \"0%o\"\n", (unsigned)c->socket_mode);
    if (c->workers_max > c->workers)
        fprintf(out,
                "  workers:\n    min: %d\n    max: %d\n    minspare: %d\n    maxspare: %d\n"
                "    idletimeout: %lds\n",
                c->workers, c->workers_max, c->workers_minspare, c->workers_maxspare,
                c->workers_idletimeout);
    else
        fprintf(out, "  workers: %d\n", c->workers);
    fprintf(out, "  backlog: %d\n  maxrequests: %ld\n", c->backlog, c->max_requests);
    fprintf(out, "  directio: %s\n", c->directio ? "true" : "false");
    fprintf(out, "  pidfile: ");
    yaml_str(out, c->pidfile);
    fprintf(out, "\n  logfile: ");
    yaml_str(out, c->log_file);
    fprintf(out, "\n  blobs:\n    accel: %s\n    prefix: ", accels[ac]);
    yaml_str(out, c->accel_prefix);
    tokenservice_dump(c, out);
    fprintf(out, "\n  uploads:\n    bodyfiles: %s\n    bodydir: ", c->bodyfiles ? "true" : "false");
    yaml_str(out, c->bodydir);
    fprintf(out, "\n  limits:\n    manifestsize: %zu\n    namelength: %zu\n    taglength: %zu\n",
            c->manifest_max, c->name_max, c->tag_max);
    fprintf(out, "    namecomponents: %zu\n", c->name_components_max);
    static const char *const plats[] = {"all", "none", "list"};
    fprintf(out, "validation:\n  disabled: %s\n  manifests:\n    urls:\n      allow:%s\n",
            c->validation_disabled ? "true" : "false", c->nurls_allow ? "" : " []");
    for (size_t i = 0; i < c->nurls_allow; i++) {
        fprintf(out, "        - ");
        yaml_str(out, c->urls_allow[i].pattern);
        fputc('\n', out);
    }
    fprintf(out, "      deny:%s\n", c->nurls_deny ? "" : " []");
    for (size_t i = 0; i < c->nurls_deny; i++) {
        fprintf(out, "        - ");
        yaml_str(out, c->urls_deny[i].pattern);
        fputc('\n', out);
    }
    fprintf(out, "    indexes:\n      platforms: %s\n      platformlist:%s\n",
            plats[c->index_platforms], c->nplatformlist ? "" : " []");
    for (size_t i = 0; i < c->nplatformlist; i++) {
        fprintf(out, "        - architecture: ");
        yaml_str(out, c->platformlist[i].arch);
        fprintf(out, "\n          os: ");
        yaml_str(out, c->platformlist[i].os);
        fputc('\n', out);
    }
    fprintf(out, "compatibility:\n  schema1:\n    enabled: %s\n    signingkeyfile: ",
            c->schema1_enabled ? "true" : "false");
    yaml_str(out, c->schema1_signingkeyfile);
    fputc('\n', out);
}

/* ---------------------------------------------------------------- auth (issue 4) */

/* auth.<method> (run after its keys): one method only, and its required keys. */
static int apply_auth_method(struct loader *L, const struct field *f, const struct ynode *n,
                             const char *path)
{
    struct config *c = L->c;
    int t = !strcmp(f->name, "silly")      ? AUTH_SILLY
            : !strcmp(f->name, "htpasswd") ? AUTH_HTPASSWD
                                           : AUTH_TOKEN;
    if (c->auth_type && c->auth_type != t)
        return fail(L, n, 1, path, "only one auth method may be configured");
    c->auth_type = t;
    if (!c->auth_realm || !*c->auth_realm) return fail(L, n, 1, path, "realm: required");
    if (t == AUTH_HTPASSWD && !c->auth_htpasswd_path)
        return fail(L, n, 1, path, "path: required");
    if (t != AUTH_HTPASSWD && !c->auth_service) return fail(L, n, 1, path, "service: required");
    if (t == AUTH_TOKEN) {
        if (!c->auth_issuer) return fail(L, n, 1, path, "issuer: required");
        if (!c->auth_rootcertbundle && !c->auth_jwks)
            return fail(L, n, 1, path, "rootcertbundle or jwks: required");
        if (c->auth_leeway < 0 || c->auth_leeway > 3600)
            return fail(L, n, 1, path, "leeway: must be between 0s and 1h");
    }
    return 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* auth.token.signingalgorithms: a list of JWS algorithm names (checked by
 * handlers/auth_token.c against what Wharf verifies). */
static int apply_sigalgs(struct loader *L, const struct field *f, const struct ynode *n,
                         const char *path)
{
    static const char *const known[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                        "PS512", "ES256", "ES384", "ES512", "EdDSA"};
    struct config *c = L->c;
    strv_free(c->auth_sigalgs, c->auth_nsigalgs);
    c->auth_sigalgs = NULL;
    c->auth_nsigalgs = 0;
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ || !n->nkids)
        return fail(L, n, 0, path, "expected a list of algorithms such as [ES256, RS256]");
    if (!(c->auth_sigalgs = calloc(n->nkids, sizeof(char *)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        int rc = 0;
        const char *s = want_string(L, n->kids[i], path, &rc);
        if (!s) return rc;
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(known[k], s)) k++;
        if (k == sizeof known / sizeof known[0])
            return fail(L, n->kids[i], 0, path,
                        "unsupported algorithm \"%.16s\" (RS*, PS*, ES*, EdDSA; never none or HS*)",
                        s);
        if (!(c->auth_sigalgs[i] = strdup(s))) return WERR_NOMEM;
        c->auth_nsigalgs = i + 1;
    }
    return 0;
}

/* fastcgi.tokenservice: Wharf's own token service; its required keys. */
static int apply_tokenservice(struct loader *L, const struct field *f, const struct ynode *n,
                              const char *path)
{
    struct config *c = L->c;
    if (is_null(n)) return 0;
    c->ts_enabled = 1;
    if (!c->ts_issuer) return fail(L, n, 1, path, "issuer: required");
    if (!c->ts_service) return fail(L, n, 1, path, "service: required");
    if (!c->ts_signingkey) return fail(L, n, 1, path, "signingkey: required");
    if (!c->ts_htpasswd) return fail(L, n, 1, path, "htpasswd: required");
    if (!c->ts_path && !(c->ts_path = strdup("/auth/token"))) return WERR_NOMEM;
    if (c->ts_path[0] != '/' || !strncmp(c->ts_path, "/v2/", 4) || !strcmp(c->ts_path, "/v2"))
        return fail(L, n, 1, path, "path: must start with / and lie outside /v2/");
    if (c->ts_expiration < 1 || c->ts_expiration > 24 * 3600)
        return fail(L, n, 1, path, "expiration: must be between 1s and 24h");
    if (c->ts_refreshexpiration < 60)
        return fail(L, n, 1, path, "refreshexpiration: must be at least 1m");
    return 0;
}

static void auth_config_free(struct config *c)
{
    free(c->auth_realm);
    free(c->auth_service);
    free(c->auth_htpasswd_path);
    free(c->auth_issuer);
    free(c->auth_rootcertbundle);
    free(c->auth_jwks);
    free(c->auth_autoredirectpath);
    strv_free(c->auth_sigalgs, c->auth_nsigalgs);
    free(c->ts_path);
    free(c->ts_issuer);
    free(c->ts_service);
    free(c->ts_signingkey);
    free(c->ts_htpasswd);
    free(c->ts_accessrules);
}

static void dump_kv(FILE *out, const char *indent, const char *k, const char *v)
{
    fprintf(out, "%s%s: ", indent, k);
    yaml_str(out, v);
    fputc('\n', out);
}

/* The auth section; only file paths, never file contents (keys, hashes). */
static void auth_config_dump(const struct config *c, FILE *out)
{
    static const char *const names[] = {"", "silly", "htpasswd", "token"};
    if (c->auth_type <= AUTH_NONE || c->auth_type > AUTH_TOKEN) return;
    fprintf(out, "auth:\n  %s:\n", names[c->auth_type]);
    dump_kv(out, "    ", "realm", c->auth_realm);
    if (c->auth_type == AUTH_HTPASSWD) {
        dump_kv(out, "    ", "path", c->auth_htpasswd_path);
        return;
    }
    dump_kv(out, "    ", "service", c->auth_service);
    if (c->auth_type != AUTH_TOKEN) return;
    dump_kv(out, "    ", "issuer", c->auth_issuer);
    dump_kv(out, "    ", "rootcertbundle", c->auth_rootcertbundle);
    dump_kv(out, "    ", "jwks", c->auth_jwks);
    fprintf(out, "    autoredirect: %s\n", yn(c->auth_autoredirect));
    dump_kv(out, "    ", "autoredirectpath", c->auth_autoredirectpath);
    fprintf(out, "    signingalgorithms: [");
    for (size_t i = 0; i < c->auth_nsigalgs; i++)
        fprintf(out, "%s%s", i ? ", " : "", c->auth_sigalgs[i]);
    fprintf(out, "]\n    leeway: %lds\n", c->auth_leeway);
}

/* fastcgi.tokenservice, printed inside the fastcgi block: starts with a
 * newline and ends without one (the caller's next line starts with one). */
static void tokenservice_dump(const struct config *c, FILE *out)
{
    if (!c->ts_enabled) return;
    fprintf(out, "\n  tokenservice:\n");
    dump_kv(out, "    ", "path", c->ts_path);
    dump_kv(out, "    ", "issuer", c->ts_issuer);
    dump_kv(out, "    ", "service", c->ts_service);
    dump_kv(out, "    ", "signingkey", c->ts_signingkey);
    dump_kv(out, "    ", "htpasswd", c->ts_htpasswd);
    dump_kv(out, "    ", "accessrules", c->ts_accessrules);
    fprintf(out, "    expiration: %lds\n    refreshexpiration: %lds", c->ts_expiration,
            c->ts_refreshexpiration);
}

/* ---------------------------------------------------------------- proxy (issue 8) */

static void upstream_clear(struct config_upstream *u)
{
    free(u->prefix);
    free(u->remoteprefix);
    free(u->remoteurl);
    free(u->username);
    if (u->password) {
        volatile char *p = u->password;
        while (*p)
            *p++ = '\0';
        free(u->password);
    }
    memset(u, 0, sizeof(*u));
}

static void proxy_config_free(struct config *c)
{
    for (size_t i = 0; i < c->nupstreams; i++)
        upstream_clear(&c->upstreams[i]);
    free(c->upstreams);
    free(c->proxy_remoteurl);
    free(c->proxy_username);
    if (c->proxy_password) {
        volatile char *p = c->proxy_password;
        while (*p)
            *p++ = '\0';
        free(c->proxy_password);
    }
}

/* check_remoteurl: http(s)://host[:port][/path], kept without a trailing '/' */
static int check_remoteurl(struct loader *L, const struct ynode *n, const char *path, char *url)
{
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return fail(L, n, 0, path, "expected an http:// or https:// URL");
    const char *host = url + (url[4] == 's' ? 8 : 7);
    if (!*host || *host == '/') return fail(L, n, 0, path, "the URL has no host");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
            return fail(L, n, 0, path, "invalid character in the URL");
    size_t l = strlen(url);
    while (l && url[l - 1] == '/')
        url[--l] = '\0';
    return 0;
}

/* check_prefix: a repository-name prefix: lowercase components, no '/' at the ends */
static int check_prefix(struct loader *L, const struct ynode *n, const char *path, const char *s)
{
    if (!*s) return 0;
    if (s[0] == '/' || s[strlen(s) - 1] == '/' || strstr(s, "//"))
        return fail(L, n, 0, path, "must not begin or end with '/'");
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || strchr("._-/", *p)))
            return fail(L, n, 0, path, "expected lowercase letters, digits, '.', '_', '-', '/'");
    return 0;
}

/* proxy.upstreams: [{prefix, remoteurl, remoteprefix, username, password, ttl}, ...] */
static int apply_upstreams(struct loader *L, const struct field *f, const struct ynode *n,
                           const char *path)
{
    struct config *c = L->c;
    for (size_t i = 0; i < c->nupstreams; i++)
        upstream_clear(&c->upstreams[i]);
    free(c->upstreams);
    c->upstreams = NULL;
    c->nupstreams = 0;
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ)
        return fail(L, n, 0, path, "expected a list of {prefix, remoteurl, ...} mappings");
    /* one spare slot: apply_proxy may append the catch-all upstream of proxy.remoteurl */
    if (!(c->upstreams = calloc(n->nkids + 1, sizeof(*c->upstreams)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        struct config_upstream *u = &c->upstreams[i];
        c->nupstreams = i + 1;
        u->ttl = -1;
        char ep[CONFIG_MAX_PATH / 2];
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (k->type != Y_MAP) return fail(L, k, 0, ep, "expected a mapping");
        for (size_t j = 0; j < k->nkids; j++) {
            const struct ynode *v = k->kids[j];
            char kp[CONFIG_MAX_PATH];
            path_join(kp, sizeof(kp), ep, v->key);
            int rc = 0;
            if (!strcmp(v->key, "ttl")) {
                long secs;
                if (is_null(v)) continue;
                if (scalar_duration(v, &secs) < 0)
                    return fail(L, v, 0, kp, "expected a duration such as \"60s\" or \"168h\"");
                u->ttl = secs;
                continue;
            }
            char **dst = !strcmp(v->key, "prefix")         ? &u->prefix
                         : !strcmp(v->key, "remoteprefix") ? &u->remoteprefix
                         : !strcmp(v->key, "remoteurl")    ? &u->remoteurl
                         : !strcmp(v->key, "username")     ? &u->username
                         : !strcmp(v->key, "password")     ? &u->password
                                                           : NULL;
            if (!dst)
                return fail(L, v, 1, kp,
                            "unknown key (expected prefix, remoteurl, remoteprefix, username, "
                            "password or ttl)");
            const char *s = want_string(L, v, kp, &rc);
            if (!s) return rc;
            if ((rc = set_str(dst, *s ? s : NULL)) < 0) return rc;
            if (dst == &u->remoteurl && u->remoteurl &&
                (rc = check_remoteurl(L, v, kp, u->remoteurl)) < 0)
                return rc;
            if ((dst == &u->prefix || dst == &u->remoteprefix) && *dst &&
                (rc = check_prefix(L, v, kp, *dst)) < 0)
                return rc;
        }
        if (!u->prefix || !*u->prefix)
            return fail(L, k, 0, ep, "prefix: required (the catch-all is proxy.remoteurl)");
        if (!u->remoteurl) return fail(L, k, 0, ep, "remoteurl: required");
        if (!u->password != !u->username)
            return fail(L, k, 0, ep, "username and password go together");
        for (size_t m = 0; m < i; m++)
            if (!strcmp(c->upstreams[m].prefix, u->prefix))
                return fail(L, k, 0, ep, "prefix \"%.64s\" is listed twice", u->prefix);
    }
    return 0;
}

/* proxy: (after its keys) the reference's remoteurl becomes the catch-all upstream */
static int apply_proxy(struct loader *L, const struct field *f, const struct ynode *n,
                       const char *path)
{
    struct config *c = L->c;
    char kp[CONFIG_MAX_PATH];
    int rc;
    if (c->proxy_ttl < 0) return fail(L, n, 1, path, "ttl: must not be negative");
    for (size_t i = 0; i < c->nupstreams; i++)
        if (c->upstreams[i].ttl < 0) c->upstreams[i].ttl = c->proxy_ttl;
    if (!c->proxy_remoteurl) {
        if (c->proxy_username || c->proxy_password)
            return fail(L, n, 1, path, "username/password without remoteurl");
        return 0;
    }
    path_join(kp, sizeof kp, path, "remoteurl");
    if ((rc = check_remoteurl(L, map_get(n, "remoteurl", 0) ? map_get(n, "remoteurl", 0) : n,
                              kp, c->proxy_remoteurl)) < 0)
        return rc;
    if (!c->proxy_password != !c->proxy_username)
        return fail(L, n, 1, path, "username and password go together");
    if (!c->upstreams && !(c->upstreams = calloc(1, sizeof(*c->upstreams)))) return WERR_NOMEM;
    struct config_upstream *u = &c->upstreams[c->nupstreams];
    memset(u, 0, sizeof(*u));
    u->ttl = c->proxy_ttl;
    if (!(u->prefix = strdup("")) || !(u->remoteurl = strdup(c->proxy_remoteurl)) ||
        (c->proxy_username && !(u->username = strdup(c->proxy_username))) ||
        (c->proxy_password && !(u->password = strdup(c->proxy_password)))) {
        c->nupstreams++;
        return WERR_NOMEM;
    }
    c->nupstreams++;
    return 0;
}

/* proxy_finish: after the whole file: the warning of the reference's docs. */
static int proxy_finish(struct loader *L)
{
    struct config *c = L->c;
    if (c->auth_type != AUTH_NONE) return 0;
    for (size_t i = 0; i < c->nupstreams; i++)
        if (c->upstreams[i].username)
            log_warn("proxy: upstream %s is used with credentials (user \"%s\") but this "
                     "registry has no auth: configured: anyone who can reach it can pull what "
                     "those credentials can read",
                     c->upstreams[i].remoteurl, c->upstreams[i].username);
    return 0;
}

static void proxy_config_dump(const struct config *c, FILE *out)
{
    if (!c->nupstreams) return;
    fprintf(out, "proxy:\n");
    if (c->proxy_remoteurl) {
        dump_kv(out, "  ", "remoteurl", c->proxy_remoteurl);
        dump_kv(out, "  ", "username", c->proxy_username);
        fprintf(out, "  password: %s\n", c->proxy_password ? "\"*****\"" : "\"\"");
    }
    fprintf(out, "  ttl: %lds\n  upstreams:%s\n", c->proxy_ttl,
            c->nupstreams > (c->proxy_remoteurl ? 1u : 0u) ? "" : " []");
    for (size_t i = 0; i < c->nupstreams; i++) {
        const struct config_upstream *u = &c->upstreams[i];
        if (!*u->prefix) continue; /* proxy.remoteurl itself */
        dump_kv(out, "    - ", "prefix", u->prefix);
        dump_kv(out, "      ", "remoteprefix", u->remoteprefix);
        dump_kv(out, "      ", "remoteurl", u->remoteurl);
        dump_kv(out, "      ", "username", u->username);
        fprintf(out, "      password: %s\n      ttl: %lds\n", u->password ? "\"*****\"" : "\"\"",
                u->ttl);
    }
}

/* ---------------------------------------------------------------- storage.s3, redis (issue 7) */

static void s3_config_defaults(struct config *c)
{
    c->s3_secure = 1;
    c->s3_v4auth = 1;
    c->s3_chunksize = 10L << 20;
    c->s3_copychunksize = 32L << 20;
    c->s3_copymaxconcurrency = 100;
    c->s3_copythreshold = 32L << 20;
    c->redis_db = 0;
    c->redis_dialtimeout = 0; /* 0: the client's defaults (see storage/cache_redis.c) */
    c->redis_maxidle = 1;
}

static void free_secret(char *s)
{
    if (!s) return;
    volatile char *p = s;
    while (*p)
        *p++ = 0;
    free(s);
}

static void s3_config_free(struct config *c)
{
    free(c->s3_accesskey);
    free_secret(c->s3_secretkey);
    free_secret(c->s3_sessiontoken);
    free(c->s3_region);
    free(c->s3_regionendpoint);
    free(c->s3_bucket);
    free(c->s3_rootdirectory);
    free(c->s3_keyid);
    free(c->s3_storageclass);
    free(c->s3_objectacl);
    free(c->s3_useragent);
    free(c->s3_loglevel);
    free(c->redis_addr);
    free_secret(c->redis_password);
}

/* storage.s3: (after its keys) the reference's value checks */
static int apply_s3(struct loader *L, const struct field *f, const struct ynode *n,
                    const char *path)
{
    struct config *c = L->c;
    if (!c->s3_region) return fail(L, n, 1, path, "region: required");
    if (!c->s3_bucket) return fail(L, n, 1, path, "bucket: required");
    if (c->s3_storageclass && strcmp(c->s3_storageclass, "STANDARD") &&
        strcmp(c->s3_storageclass, "REDUCED_REDUNDANCY") &&
        strcmp(c->s3_storageclass, "STANDARD_IA") && strcmp(c->s3_storageclass, "ONEZONE_IA") &&
        strcmp(c->s3_storageclass, "INTELLIGENT_TIERING") &&
        strcmp(c->s3_storageclass, "GLACIER_IR") && strcmp(c->s3_storageclass, "NONE"))
        return fail(L, n, 1, path,
                    "storageclass: expected STANDARD, REDUCED_REDUNDANCY, STANDARD_IA, "
                    "ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR or NONE");
    if (c->s3_objectacl && strcmp(c->s3_objectacl, "private") &&
        strcmp(c->s3_objectacl, "public-read") && strcmp(c->s3_objectacl, "public-read-write") &&
        strcmp(c->s3_objectacl, "authenticated-read") &&
        strcmp(c->s3_objectacl, "bucket-owner-read") &&
        strcmp(c->s3_objectacl, "bucket-owner-full-control") &&
        strcmp(c->s3_objectacl, "log-delivery-write"))
        return fail(L, n, 1, path, "objectacl: not a canned ACL of S3");
    if (!c->s3_v4auth)
        return fail(L, n, 1, path, "v4auth: false (Signature V2) is not supported by Wharf");
    if (c->s3_keyid && !c->s3_encrypt)
        return fail(L, n, 1, path, "keyid: requires encrypt: true");
    if (c->s3_rootdirectory) {
        /* keys never start with '/' nor hold empty or dot segments */
        const char *r = c->s3_rootdirectory;
        while (*r == '/')
            r++;
        for (const char *p = r; *p; p++)
            if ((p[0] == '/' && p[1] == '/') || (unsigned char)*p < 0x20)
                return fail(L, n, 1, path, "rootdirectory: not a clean path");
        if (strstr(r, "/../") || strstr(r, "/./") || !strncmp(r, "../", 3) || !strcmp(r, "..") ||
            !strncmp(r, "./", 2))
            return fail(L, n, 1, path, "rootdirectory: not a clean path");
    }
    c->storage = STORAGE_S3;
    return 0;
}

static int apply_s3_loglevel(struct loader *L, const struct field *f, const struct ynode *n,
                             const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    /* the reference's aws.LogLevel names: logged at debug level */
    if (*s && strcmp(s, "off") && strcmp(s, "debug") && strcmp(s, "debugwithsigning") &&
        strcmp(s, "debugwithhttpbody") && strcmp(s, "debugwithrequestretries") &&
        strcmp(s, "debugwithrequesterrors") && strcmp(s, "debugwitheventstreambody"))
        return fail(L, n, 0, path, "expected off, debug or a debugwith... level");
    return set_str(&L->c->s3_loglevel, *s ? s : NULL);
}

/* redis.*timeout: a Go duration kept in milliseconds (the reference uses e.g. 10ms) */
static int apply_redis_ms(struct loader *L, const struct field *f, const struct ynode *n,
                          const char *path)
{
    if (is_null(n)) return 0;
    long ms = -1, secs;
    if (n->type == Y_SCALAR) {
        char *end = NULL;
        long v = strtol(n->val, &end, 10);
        if (end && end != n->val && !strcmp(end, "ms") && v >= 0 && v <= 86400000L)
            ms = v;
        else if (scalar_duration(n, &secs) == 0 && secs <= 86400)
            ms = secs * 1000;
    }
    if (ms < 0) return fail(L, n, 0, path, "expected a duration such as \"10ms\" or \"1s\"");
    if (!strcmp(f->name, "dialtimeout"))
        L->c->redis_dialtimeout = ms;
    else if (!strcmp(f->name, "readtimeout"))
        L->c->redis_readtimeout = ms;
    else
        L->c->redis_writetimeout = ms;
    return 0;
}

static void s3_config_dump(const struct config *c, FILE *out)
{
    fprintf(out, "  s3:\n    accesskey: ");
    yaml_str(out, c->s3_accesskey);
    fprintf(out, "\n    secretkey: %s\n", c->s3_secretkey && *c->s3_secretkey ? "\"*****\"" : "\"\"");
    fprintf(out, "    region: ");
    yaml_str(out, c->s3_region);
    fprintf(out, "\n    regionendpoint: ");
    yaml_str(out, c->s3_regionendpoint);
    fprintf(out, "\n    forcepathstyle: %s\n    bucket: ", yn(c->s3_forcepathstyle));
    yaml_str(out, c->s3_bucket);
    fprintf(out, "\n    rootdirectory: ");
    yaml_str(out, c->s3_rootdirectory);
    fprintf(out, "\n    encrypt: %s\n    keyid: ", yn(c->s3_encrypt));
    yaml_str(out, c->s3_keyid);
    fprintf(out,
            "\n    secure: %s\n    skipverify: %s\n    v4auth: %s\n    chunksize: %ld\n"
            "    multipartcopychunksize: %ld\n    multipartcopymaxconcurrency: %ld\n"
            "    multipartcopythresholdsize: %ld\n    storageclass: ",
            yn(c->s3_secure), yn(c->s3_skipverify), yn(c->s3_v4auth), c->s3_chunksize,
            c->s3_copychunksize, c->s3_copymaxconcurrency, c->s3_copythreshold);
    yaml_str(out, c->s3_storageclass ? c->s3_storageclass : "STANDARD");
    fprintf(out, "\n    objectacl: ");
    yaml_str(out, c->s3_objectacl ? c->s3_objectacl : "private");
    fprintf(out, "\n    useragent: ");
    yaml_str(out, c->s3_useragent);
    fprintf(out, "\n    loglevel: ");
    yaml_str(out, c->s3_loglevel ? c->s3_loglevel : "off");
    fputc('\n', out);
}

static void redis_config_dump(const struct config *c, FILE *out)
{
    if (!c->redis_addr) return;
    fprintf(out, "redis:\n  addr: ");
    yaml_str(out, c->redis_addr);
    fprintf(out, "\n  password: %s\n  db: %d\n",
            c->redis_password && *c->redis_password ? "\"*****\"" : "\"\"", c->redis_db);
    fprintf(out, "  dialtimeout: %ldms\n  readtimeout: %ldms\n  writetimeout: %ldms\n",
            c->redis_dialtimeout, c->redis_readtimeout, c->redis_writetimeout);
    fprintf(out, "  pool:\n    maxidle: %d\n    maxactive: %d\n    idletimeout: %lds\n",
            c->redis_maxidle, c->redis_maxactive, c->redis_idletimeout);
}

/* ---------------------------------------------------------------- middleware (issue 7) */

static void storage_mw_free(struct config *c)
{
    for (size_t i = 0; i < c->nstorage_mw; i++) {
        free(c->storage_mw[i].baseurl);
        free(c->storage_mw[i].privatekey);
        free(c->storage_mw[i].keypairid);
    }
    free(c->storage_mw);
    c->storage_mw = NULL;
    c->nstorage_mw = 0;
}

static void storage_mw_dump(const struct config *c, FILE *out)
{
    if (!c->nstorage_mw) return;
    fprintf(out, "middleware:\n  storage:\n");
    for (size_t i = 0; i < c->nstorage_mw; i++) {
        const struct config_storage_mw *m = &c->storage_mw[i];
        fprintf(out, "    - name: %s\n      options:\n        baseurl: ",
                m->type == MW_CLOUDFRONT ? "cloudfront" : "redirect");
        yaml_str(out, m->baseurl);
        fputc('\n', out);
        if (m->type != MW_CLOUDFRONT) continue;
        fprintf(out, "        privatekey: ");
        yaml_str(out, m->privatekey);
        fprintf(out, "\n        keypairid: ");
        yaml_str(out, m->keypairid);
        fprintf(out, "\n        duration: %lds\n", m->duration);
    }
}

/* mw_option: one key of an entry's options */
static int mw_option(struct loader *L, struct config_storage_mw *m, const struct ynode *v,
                     const char *kp)
{
    int rc = 0;
    const char *s;
    if (m->type == MW_CLOUDFRONT && !strcmp(v->key, "duration")) {
        if (is_null(v)) return 0;
        if (scalar_duration(v, &m->duration) < 0 || m->duration <= 0)
            return fail(L, v, 0, kp, "expected a positive duration such as \"3000s\" or \"20m\"");
        return 0;
    }
    if (m->type == MW_CLOUDFRONT && !strcmp(v->key, "ipfilteredby")) {
        if (!(s = want_string(L, v, kp, &rc))) return rc;
        if (*s && strcmp(s, "none"))
            return fail(L, v, 0, kp, "\"%.32s\" is not supported by Wharf yet (only none)", s);
        return 0;
    }
    if (m->type == MW_CLOUDFRONT &&
        (!strcmp(v->key, "awsregion") || !strcmp(v->key, "updatefrequency") ||
         !strcmp(v->key, "iprangesurl")))
        return 0; /* used only with ipfilteredby aws / awsregion */
    char **dst = !strcmp(v->key, "baseurl")                                  ? &m->baseurl
                 : m->type == MW_CLOUDFRONT && !strcmp(v->key, "privatekey") ? &m->privatekey
                 : m->type == MW_CLOUDFRONT && !strcmp(v->key, "keypairid")  ? &m->keypairid
                                                                             : NULL;
    if (!dst)
        return fail(L, v, 1, kp,
                    m->type == MW_CLOUDFRONT
                        ? "unknown key (expected baseurl, privatekey, keypairid, duration or "
                          "ipfilteredby)"
                        : "unknown key (expected baseurl)");
    if (!(s = want_string(L, v, kp, &rc))) return rc;
    return set_str(dst, *s ? s : NULL);
}

/* mw_finish: required options; the reference's baseurl rules */
static int mw_finish(struct loader *L, struct config_storage_mw *m, const struct ynode *k,
                     const char *ep)
{
    if (!m->baseurl) return fail(L, k, 0, ep, "options.baseurl: required");
    const char *sep = strstr(m->baseurl, "://");
    if (m->type == MW_REDIRECT) {
        if (!sep || sep == m->baseurl)
            return fail(L, k, 0, ep, "options.baseurl: no scheme specified for redirect baseurl");
        if (!sep[3] || sep[3] == '/')
            return fail(L, k, 0, ep, "options.baseurl: no host specified for redirect baseurl");
        return 0;
    }
    if (!m->privatekey) return fail(L, k, 0, ep, "options.privatekey: required");
    if (!m->keypairid) return fail(L, k, 0, ep, "options.keypairid: required");
    size_t l = strlen(m->baseurl);
    char *u = malloc(l + 10);
    if (!u) return WERR_NOMEM;
    snprintf(u, l + 10, "%s%s%s", sep ? "" : "https://", m->baseurl,
             l && m->baseurl[l - 1] == '/' ? "" : "/");
    free(m->baseurl);
    m->baseurl = u;
    return 0;
}

/* middleware.storage: a list of {name, options, disabled} */
static int apply_storage_mw(struct loader *L, const struct field *f, const struct ynode *n,
                            const char *path)
{
    struct config *c = L->c;
    storage_mw_free(c);
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ) return fail(L, n, 0, path, "expected a list of {name, options} mappings");
    if (!(c->storage_mw = calloc(n->nkids + 1, sizeof(*c->storage_mw)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        char ep[CONFIG_MAX_PATH / 2], kp[CONFIG_MAX_PATH];
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (k->type != Y_MAP) return fail(L, k, 0, ep, "expected a mapping");
        const struct ynode *nm = map_get(k, "name", 0), *opts = map_get(k, "options", 0),
                           *dis = map_get(k, "disabled", 0);
        int rc = 0, disabled = 0;
        for (size_t j = 0; j < k->nkids; j++)
            if (strcmp(k->kids[j]->key, "name") && strcmp(k->kids[j]->key, "options") &&
                strcmp(k->kids[j]->key, "disabled")) {
                path_join(kp, sizeof kp, ep, k->kids[j]->key);
                return fail(L, k->kids[j], 1, kp, "unknown key (expected name, options, disabled)");
            }
        path_join(kp, sizeof kp, ep, "name");
        if (!nm) return fail(L, k, 0, kp, "required");
        const char *s = want_string(L, nm, kp, &rc);
        if (!s) return rc;
        struct config_storage_mw m = {.duration = 1200};
        if (!strcmp(s, "redirect"))
            m.type = MW_REDIRECT;
        else if (!strcmp(s, "cloudfront"))
            m.type = MW_CLOUDFRONT;
        else
            return fail(L, nm, 0, kp,
                        "\"%.32s\" is not supported by Wharf yet (redirect, cloudfront)", s);
        if (dis) {
            path_join(kp, sizeof kp, ep, "disabled");
            if (scalar_bool(dis, &disabled) < 0)
                return fail(L, dis, 0, kp, "expected true or false");
        }
        char op[CONFIG_MAX_PATH / 2 + 16];
        path_join(op, sizeof op, ep, "options");
        if (opts && !is_null(opts) && opts->type != Y_MAP)
            return fail(L, opts, 0, op, "expected a mapping");
        c->storage_mw[c->nstorage_mw] = m;
        struct config_storage_mw *mp = &c->storage_mw[c->nstorage_mw++];
        for (size_t j = 0; opts && opts->type == Y_MAP && j < opts->nkids; j++) {
            path_join(kp, sizeof kp, op, opts->kids[j]->key);
            if ((rc = mw_option(L, mp, opts->kids[j], kp)) < 0) return rc;
        }
        if ((rc = mw_finish(L, mp, k, ep)) < 0) return rc;
        if (disabled) { /* kept out, as the reference skips it */
            free(mp->baseurl);
            free(mp->privatekey);
            free(mp->keypairid);
            c->nstorage_mw--;
        }
    }
    return 0;
}
