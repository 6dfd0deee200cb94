/* config_impl.h — what the files of the configuration loader share (private
 * to lib/config*.c): the YAML tree (config_tree.c), the loader state and its
 * error messages, and the schema tables' types (config_schema.c) with the
 * appliers, printers and releasers each section's file gives them.
 *
 * One schema, three walks: applying a tree to struct config
 * (config_apply_section), printing the resolved values (config_dump_section)
 * and freeing what loading allocated (config_release_section). A key added to
 * a table is therefore parsed, dumped and freed at once. */
#ifndef WHARF_CONFIG_IMPL_H
#define WHARF_CONFIG_IMPL_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_DEPTH 32
#define CONFIG_MAX_NODES 100000
#define CONFIG_MAX_KEYS 4096 /* children of one mapping or sequence */
#define CONFIG_MAX_PATH 512  /* a dotted key path; longer ones are truncated in messages */
#define ENV_PREFIX "REGISTRY_"

/* ---------------------------------------------------------------- tree (config_tree.c) */

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

void ynode_free(struct ynode *n);
struct ynode *ynode_new(enum ytype t, int line, const char *env);
int ynode_add(struct ynode *parent, struct ynode *kid);
int is_null(const struct ynode *n);
struct ynode *map_get(const struct ynode *m, const char *key, int nocase);
/* parse_yaml: buf (len bytes) into a tree; *out is NULL for an empty stream.
 * env names the variable the text came from (NULL: the file). */
int parse_yaml(struct loader *L, const char *buf, size_t len, const char *env, struct ynode **out);
/* scalars as the reference's yaml.v2 and Go read them; -1: not one */
int scalar_bool(const struct ynode *n, int *out);
int scalar_int(const struct ynode *n, long long *out);
int scalar_duration(const struct ynode *n, long *secs);
/* scalar_duration_ms: the same in milliseconds (rounded up) */
int scalar_duration_ms(const struct ynode *n, long *ms);

/* ---------------------------------------------------------------- environment (config_env.c) */

/* normalize_storage: "storage: inmemory" becomes "storage: {inmemory: }" */
int normalize_storage(struct ynode *n);
/* env_merge: the REGISTRY_* variables of envp into the tree, in lexical order */
int env_merge(struct loader *L, struct ynode **root, char *const *envp);

/* ---------------------------------------------------------------- schema (config_schema.c) */

enum kind {
    K_SECTION,     /* a mapping with known children */
    K_STR,         /* string; "" or null keeps NULL/default for optional ones */
    K_BOOL,        /* int 0/1 */
    K_INT,         /* integer in [min, max], stored in an int, long or size_t */
    K_DURATION,    /* Go duration string, seconds into a long */
    K_UNSUPPORTED, /* a reference key Wharf does not implement yet */
    K_CUSTOM,      /* fn does the work */
};

/* how the value at off is kept: what the dump prints and the release frees */
enum store { S_NONE = 0, S_STR, S_BOOL, S_INT, S_LONG, S_SIZE, S_SECS, S_MS };

#define NOOFF ((size_t)-1)
#define F_DRIVER 1    /* a storage driver: exactly one allowed */
#define F_REQUIRED 2  /* K_STR: must not be empty */
#define F_ABSPATH 4   /* K_STR: must be an absolute path */
#define F_WEBSERVER 8 /* K_UNSUPPORTED: the web server's job; note is the whole reason */
#define F_SECRET 16   /* S_STR: printed as "*****", wiped before it is freed */

struct field;
typedef int (*custom_fn)(struct loader *L, const struct field *f, const struct ynode *n,
                         const char *path);
/* dump_fn: print key f at depth (two spaces a level), its line(s) whole */
typedef void (*dump_fn)(const struct config *c, const struct field *f, FILE *out, int depth);
/* release_fn: free what f's applier allocated and reset it, so a second call is harmless */
typedef void (*release_fn)(struct config *c, const struct field *f);
/* shown_fn: whether f is printed at all (a driver or an auth method not chosen is not) */
typedef int (*shown_fn)(const struct config *c, const struct field *f);

struct field {
    const char *name;
    enum kind kind;
    const struct field *kids; /* K_SECTION (and fastcgi.workers): NULL-name-terminated */
    size_t off;               /* into struct config, or NOOFF: accepted, not kept */
    enum store store;         /* what is at off */
    long long min, max;       /* K_INT */
    int flags;
    custom_fn fn;       /* K_CUSTOM, or K_SECTION: run after the children */
    const char *note;   /* K_UNSUPPORTED: extra words */
    dump_fn dump;       /* printed by this instead of by its store */
    release_fn release; /* frees what fn kept beyond an S_STR at off */
    shown_fn shown;     /* NULL: always printed */
    const char *unset;  /* S_STR: printed when NULL (the default the code applies) */
};

#define CFG_OFF(m) offsetof(struct config, m)
/* Each macro takes further designators (.dump, .shown, .unset…) after its own. */
#define SECTION(n, k, ...)                                                                         \
    {                                                                                              \
        .name = n, .kind = K_SECTION, .kids = k, .off = NOOFF, __VA_ARGS__                         \
    }
#define SECTION_FN(n, k, f, fl, ...)                                                               \
    {                                                                                              \
        .name = n, .kind = K_SECTION, .kids = k, .off = NOOFF, .fn = f, .flags = fl, __VA_ARGS__   \
    }
#define STR(n, m, fl, ...)                                                                         \
    {                                                                                              \
        .name = n, .kind = K_STR, .off = m, .store = S_STR, .flags = fl, __VA_ARGS__               \
    }
#define BOOL(n, m)                                                                                 \
    {                                                                                              \
        .name = n, .kind = K_BOOL, .off = m, .store = S_BOOL                                       \
    }
#define INT(n, m, t, lo, hi)                                                                       \
    {                                                                                              \
        .name = n, .kind = K_INT, .off = m, .store = t, .min = lo, .max = hi                       \
    }
#define DUR(n, m)                                                                                  \
    {                                                                                              \
        .name = n, .kind = K_DURATION, .off = m, .store = S_SECS                                   \
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
/* an applier of its own; printed by .dump (given after f) */
#define CUSTOM(n, f, ...)                                                                          \
    {                                                                                              \
        .name = n, .kind = K_CUSTOM, .off = NOOFF, .fn = f, __VA_ARGS__                            \
    }
/* an applier of its own that keeps one value of store s at m: printed and freed by s */
#define CUSTOM_AT(n, f, m, s, ...)                                                                 \
    {                                                                                              \
        .name = n, .kind = K_CUSTOM, .off = m, .store = s, .fn = f, __VA_ARGS__                    \
    }
#define END                                                                                        \
    {                                                                                              \
        .name = NULL                                                                               \
    }

extern const struct field config_schema_top;       /* the whole file: a section named "" */
extern const struct field config_schema_workers[]; /* fastcgi.workers as a mapping */

const struct field *field_find(const struct field *kids, const char *name, int nocase);
int config_apply_section(struct loader *L, const struct field *f, const struct ynode *n,
                         const char *path);
/* the dump and the release of the keys of section f (its kids), at depth */
void config_dump_section(const struct config *c, const struct field *f, FILE *out, int depth);
void config_release_section(struct config *c, const struct field *f);

/* fail: write the message for node n (NULL: no location) and return WERR_INVALID.
 * at_key selects the key's line (unknown/unsupported keys) over the value's. */
int config_fail(struct loader *L, const struct ynode *n, int at_key, const char *path,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void env_name_of(const char *path, char *out, size_t outlen);
void path_join(char *out, size_t outlen, const char *parent, const char *key);
void path_append(char *path, size_t len, const char *key);
int set_str(char **dst, const char *v);
/* want_string: the scalar text of n ("" for null), or NULL after writing the error */
const char *want_string(struct loader *L, const struct ynode *n, const char *path, int *rc);
/* free_secret: s wiped, then freed (a secret is not left in freed heap memory) */
void free_secret(char *s);

/* printing helpers for the dump: "  "*depth + key + ":" */
void dump_key(FILE *out, int depth, const char *key);
void yaml_str(FILE *out, const char *s); /* s double-quoted (NULL prints "") */
const char *yn(int b);

/* ---------------------------------------------------------------- the sections' appliers */

#define APPLIER(name)                                                                              \
    int name(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
#define PRINTER(name) void name(const struct config *c, const struct field *f, FILE *out, int depth)
#define RELEASER(name) void name(struct config *c, const struct field *f)
#define SHOWN(name) int name(const struct config *c, const struct field *f)

/* config_log.c: version, log */
APPLIER(apply_version);
APPLIER(apply_loglevel);
APPLIER(apply_formatter);
PRINTER(dump_version);
PRINTER(dump_loglevel);
PRINTER(dump_formatter);
APPLIER(apply_logfields);
PRINTER(dump_logfields);
RELEASER(release_logfields);
APPLIER(apply_loghooks);
PRINTER(dump_loghooks);
RELEASER(release_loghooks);

/* config_storage.c: the drivers, cache, s3, redis, middleware.storage */
APPLIER(apply_filesystem);
APPLIER(apply_inmemory);
APPLIER(apply_blobdescriptor);
APPLIER(apply_s3);
APPLIER(apply_s3_loglevel);
APPLIER(apply_swift);
APPLIER(apply_azure);
APPLIER(apply_gcs);
APPLIER(apply_gcs_credentials);
APPLIER(apply_oss);
APPLIER(apply_redis_ms);
APPLIER(apply_storage_mw);
PRINTER(dump_inmemory);
PRINTER(dump_blobdescriptor);
PRINTER(dump_redis_ms);
PRINTER(dump_storage_mw);
RELEASER(release_storage_mw);
SHOWN(shown_filesystem);
SHOWN(shown_inmemory);
SHOWN(shown_s3);
SHOWN(shown_swift);
SHOWN(shown_azure);
SHOWN(shown_gcs);
SHOWN(shown_oss);
SHOWN(shown_redis);
SHOWN(shown_middleware);
void s3_config_defaults(struct config *c);
void objstore_config_defaults(struct config *c);

/* config_http.c: http */
APPLIER(apply_net);
APPLIER(apply_prefix);
APPLIER(apply_host);
APPLIER(apply_debug_addr); /* http.debug.addr (config_http.c) */
APPLIER(apply_debug_path); /* http.debug.prometheus.path */
APPLIER(apply_headers);
PRINTER(dump_headers);
RELEASER(release_headers);
/* a {Name: [values]} mapping of headers (http.headers, an endpoint's
 * headers): parse into *out (replacing what was there), print, free */
int config_headers_parse(struct loader *L, const struct ynode *n, const char *path,
                         struct config_header **out, size_t *nout);
void config_headers_print(FILE *out, int depth, const char *key, const struct config_header *h,
                          size_t nh);
void config_headers_free(struct config_header *h, size_t n);

/* config_notify.c: notifications (issue 14) */
APPLIER(apply_endpoints);
PRINTER(dump_endpoints);
RELEASER(release_endpoints);
int notify_finish(struct loader *L);

/* config_builds.c: builds (issue 18) */
APPLIER(apply_build_sources);
PRINTER(dump_build_sources);
RELEASER(release_build_sources);
SHOWN(shown_builds);
int builds_finish(struct loader *L);

/* config_health.c: health (issue 14) */
APPLIER(apply_health_ms);
APPLIER(apply_health_checks);
PRINTER(dump_health_checks);
RELEASER(release_health_checks);

/* config_fastcgi.c: fastcgi */
APPLIER(apply_listen);
APPLIER(apply_socketmode);
APPLIER(apply_workers);
APPLIER(apply_accel);
APPLIER(apply_accel_prefix);
PRINTER(dump_socketmode);
PRINTER(dump_workers);
PRINTER(dump_accel);

/* config_validation.c: validation */
APPLIER(apply_urlpatterns);
APPLIER(apply_platforms);
APPLIER(apply_platformlist);
PRINTER(dump_validation_enabled);
PRINTER(dump_urlpatterns);
PRINTER(dump_platforms);
PRINTER(dump_platformlist);
RELEASER(release_urlpatterns);
RELEASER(release_platformlist);

/* config_auth.c: auth, fastcgi.tokenservice */
APPLIER(apply_auth_method);
APPLIER(apply_sigalgs);
APPLIER(apply_tokenservice);
PRINTER(dump_sigalgs);
RELEASER(release_sigalgs);
SHOWN(shown_auth);
SHOWN(shown_auth_method);
SHOWN(shown_tokenservice);

/* config_proxy.c: proxy */
APPLIER(apply_proxy);
APPLIER(apply_upstreams);
PRINTER(dump_upstreams);
RELEASER(release_upstreams);
SHOWN(shown_proxy);
int proxy_finish(struct loader *L);

#endif
