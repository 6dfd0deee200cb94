/* config.h — the resolved configuration: the reference registry's config.yml
 * schema (version 0.1) read with libyaml, then REGISTRY_<PATH> environment
 * overrides, then validation. Unknown keys, wrong types, missing required
 * values and reference keys Wharf does not support stop loading with
 * "[file:line] key.path: reason". Process lifetime: config_load/config_free. */
#ifndef WHARF_CONFIG_H
#define WHARF_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/* fastcgi.workers defaults (a dynamic pool) and bound; docs/pool.md ("The pool's size")
 * gives the measurements behind them */
#define CONFIG_WORKERS_MIN 4
#define CONFIG_WORKERS_MAX 64
#define CONFIG_WORKERS_MINSPARE 2
#define CONFIG_WORKERS_MAXSPARE 8
#define CONFIG_WORKERS_IDLETIMEOUT 10
#define CONFIG_WORKERS_LIMIT 256

enum storage_type {
    STORAGE_FILESYSTEM = 0,
    STORAGE_INMEMORY = 1,
    STORAGE_S3 = 2,
    STORAGE_SWIFT = 3, /* issue 15 */
    STORAGE_AZURE = 4,
    STORAGE_GCS = 5,
    STORAGE_OSS = 6,
};
/* an object store (s3, swift, azure, gcs, oss): no local files, listings are
 * requests, the repository index of storage/catalog.c is kept */
#define CONFIG_OBJSTORE(cfg) ((cfg)->storage >= STORAGE_S3)
enum blob_accel { ACCEL_NONE = 0, ACCEL_NGINX = 1, ACCEL_APACHE = 2 };

/* a PCRE2 pattern of validation.manifests.urls, compiled once at load */
struct config_regex {
    char *pattern;
    void *code; /* pcre2_code_8 * */
};
/* an os/architecture pair of validation.manifests.indexes.platformlist */
struct config_platform {
    char *os, *arch;
};
/* which children of an index must exist when it is pushed (Distribution 3) */
enum index_platforms { PLATFORMS_ALL = 0, PLATFORMS_NONE = 1, PLATFORMS_LIST = 2 };

struct config_header {
    char *name;
    char **values;
    size_t nvalues;
};

struct config {
    char *path; /* file loaded, or NULL when only the environment was used */

    /* log */
    int log_level;  /* enum log_level */
    int log_json;   /* log.formatter: json */
    char *log_file; /* fastcgi.logfile; NULL = stderr */

    /* storage */
    enum storage_type storage;
    char *fs_root;             /* storage.filesystem.rootdirectory (default /var/lib/registry) */
    int fs_maxthreads;         /* storage.filesystem.maxthreads (accepted; default 100) */
    int delete_enabled;        /* storage.delete.enabled */
    int readonly;              /* storage.maintenance.readonly.enabled */
    int redirect_disable;      /* storage.redirect.disable */
    int uploadpurging_enabled; /* storage.maintenance.uploadpurging.enabled (accepted) */

    /* http */
    char *http_addr;               /* http.addr: informative (the web server listens) */
    char *http_prefix;             /* http.prefix (default "/") */
    char *http_host;               /* http.host: absolute base URL for Location headers, or NULL */
    char *http_secret;             /* http.secret: secret, masked in dumps */
    int relativeurls;              /* http.relativeurls */
    struct config_header *headers; /* http.headers */
    size_t nheaders;

    /* fastcgi: Wharf's own section */
    char *listen;         /* "unix:/path", "/path" or "host:port" (default unix:/run/wharf.sock) */
    int socket_mode;      /* octal mode of a unix socket (default 0666) */
    int workers;          /* fastcgi.workers: N, or .min of a dynamic pool (default below) */
    int workers_max;      /* ....max; == workers: a static pool */
    int workers_minspare; /* ....minspare: fork more when fewer are idle (dynamic) */
    int workers_maxspare; /* ....maxspare: retire idle ones above this (dynamic) */
    long workers_idletimeout; /* ....idletimeout, seconds idle before retiring */
    int backlog;              /* listen backlog (default 1024) */
    enum blob_accel accel;    /* fastcgi.blobs.accel: none | nginx | apache */
    char *accel_prefix;       /* fastcgi.blobs.prefix: internal location (default /_wharf_blobs/) */
    long max_requests;        /* fastcgi.maxrequests: recycle a worker after N (0 = never) */
    int directio;             /* fastcgi.directio: upload data written with O_DIRECT (default 0) */
    char *pidfile;            /* fastcgi.pidfile */
    long draintimeout;        /* seconds a SIGTERM waits for requests in flight (default 60) */
    /* fastcgi.uploads (issue 12): upload bodies received by the web server
     * into a file (nginx $request_body_file) that Wharf adopts */
    int bodyfiles; /* fastcgi.uploads.bodyfiles: 1 on, 0 off (after load; -1 while loading =
                      the driver's default) */
    char *bodydir; /* fastcgi.uploads.bodydir: the only directory body files are taken from
                      (default <rootdirectory>/wharf/body for the filesystem driver) */

    /* limits (Wharf additions under fastcgi.limits) */
    size_t manifest_max; /* bytes (default 4 MiB) */
    size_t name_max;     /* repository name length (default 255) */
    size_t tag_max;      /* tag length (default 128) */

    /* accepted values kept so config_dump shows them (added with lib/config.c) */
    int accesslog_disabled;      /* log.accesslog.disabled */
    char *http_net;              /* http.net: "tcp", "unix" or NULL */
    int blobdescriptor_inmemory; /* storage.cache.blobdescriptor: inmemory */
    long uploadpurging_age;      /* storage.maintenance.uploadpurging.age, seconds (168h) */
    long uploadpurging_interval; /* ....uploadpurging.interval, seconds (24h) */
    int uploadpurging_dryrun;    /* ....uploadpurging.dryrun */

    /* validation and compatibility (added with the Distribution API, issue 3) */
    int validation_disabled;         /* validation.disabled */
    struct config_regex *urls_allow; /* validation.manifests.urls.allow (compiled) */
    size_t nurls_allow;
    struct config_regex *urls_deny; /* validation.manifests.urls.deny (compiled) */
    size_t nurls_deny;
    enum index_platforms index_platforms; /* validation.manifests.indexes.platforms */
    struct config_platform *platformlist; /* ....indexes.platformlist */
    size_t nplatformlist;
    int schema1_enabled;          /* compatibility.schema1.enabled (default false) */
    char *schema1_signingkeyfile; /* compatibility.schema1.signingkeyfile (unused) */
    size_t name_components_max;   /* fastcgi.limits.namecomponents (default 32) */

    /* auth (issue 4): exactly one of auth.silly, auth.htpasswd, auth.token */
    int auth_type;               /* enum config_auth */
    char *auth_realm;            /* auth.<method>.realm */
    char *auth_service;          /* auth.silly.service, auth.token.service */
    char *auth_htpasswd_path;    /* auth.htpasswd.path */
    char *auth_issuer;           /* auth.token.issuer */
    char *auth_rootcertbundle;   /* auth.token.rootcertbundle */
    char *auth_jwks;             /* auth.token.jwks (Distribution 3) */
    int auth_autoredirect;       /* auth.token.autoredirect */
    char *auth_autoredirectpath; /* auth.token.autoredirectpath (default /auth/token) */
    char **auth_sigalgs;         /* auth.token.signingalgorithms (NULL: all supported) */
    size_t auth_nsigalgs;
    long auth_leeway; /* auth.token.leeway, seconds (default 60) */

    /* fastcgi.tokenservice: Wharf's own Docker token service (issue 4) */
    int ts_enabled;            /* set when the section is present */
    char *ts_path;             /* route path (default /auth/token) */
    char *ts_issuer;           /* "iss" of issued tokens (required) */
    char *ts_service;          /* the only service (audience) it issues for (required) */
    char *ts_signingkey;       /* PEM private key (secret: path only printed) */
    char *ts_htpasswd;         /* users (bcrypt htpasswd) */
    char *ts_accessrules;      /* access rules YAML (optional: then every user has all) */
    long ts_expiration;        /* access token lifetime, seconds (default 300) */
    long ts_refreshexpiration; /* refresh token lifetime, seconds (default 30 days) */

    /* storage.maintenance.gc: online garbage collection run by the master (issue 6) */
    int gc_enabled;        /* ....gc.enabled (default false) */
    long gc_interval;      /* ....gc.interval, seconds (default 24h) */
    long gc_graceperiod;   /* ....gc.graceperiod, seconds (default 1h) */
    int gc_deleteuntagged; /* ....gc.deleteuntagged (default false) */
    int gc_dryrun;         /* ....gc.dryrun (default false) */

    /* proxy (issue 8): pull-through cache. The reference's proxy: keys make one
     * upstream for every repository (prefix ""); proxy.upstreams adds more,
     * chosen by the longest matching name prefix. */
    struct config_upstream *upstreams;
    size_t nupstreams;
    char *proxy_remoteurl, *proxy_username, *proxy_password; /* proxy.*: the reference's keys */
    long proxy_ttl;                                          /* proxy.ttl (default 168h) */

    /* storage.s3 (issue 7): the reference's keys; the AWS_ACCESS_KEY_ID /
     * AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) environment is the fallback */
    char *s3_accesskey, *s3_secretkey, *s3_sessiontoken; /* secrets masked in dumps */
    char *s3_region, *s3_regionendpoint, *s3_bucket, *s3_rootdirectory;
    char *s3_keyid, *s3_storageclass, *s3_objectacl, *s3_useragent, *s3_loglevel;
    int s3_forcepathstyle, s3_encrypt, s3_secure, s3_skipverify, s3_v4auth;
    long s3_chunksize;          /* bytes per part (default 10 MiB, at least 5 MiB) */
    long s3_copychunksize;      /* multipartcopychunksize (default 32 MiB) */
    long s3_copymaxconcurrency; /* multipartcopymaxconcurrency (default 100) */
    long s3_copythreshold;      /* multipartcopythresholdsize (default 32 MiB) */

    /* storage.swift (issue 15): the reference's keys (storage/drivers/swift.c) */
    char *swift_authurl, *swift_username, *swift_password; /* password masked */
    char *swift_tenant, *swift_tenantid, *swift_domain, *swift_domainid;
    char *swift_tenantdomain, *swift_tenantdomainid, *swift_trustid;
    char *swift_region, *swift_container, *swift_prefix, *swift_endpointtype;
    char *swift_secretkey, *swift_accesskey; /* TempURL key (masked), account */
    int swift_authversion;                   /* 0: from the URL, else 1, 2 or 3 */
    int swift_insecureskipverify, swift_tempurlcontainerkey;
    long swift_chunksize; /* bytes per segment (default 20 MiB) */

    /* storage.azure (issue 15): the reference's keys and Distribution 3's
     * serviceurl and rootdirectory (storage/drivers/azure.c) */
    char *azure_accountname, *azure_accountkey; /* accountkey masked */
    char *azure_container, *azure_realm, *azure_serviceurl, *azure_rootdirectory;

    /* storage.gcs (issue 15): storage/drivers/gcs.c */
    char *gcs_bucket, *gcs_keyfile, *gcs_rootdirectory;
    char *gcs_credentials; /* credentials: the mapping as service-account JSON (masked) */
    long gcs_chunksize;    /* bytes per resumable-upload chunk (default 16 MiB, 256 KiB steps) */

    /* storage.oss (issue 15): storage/drivers/oss.c */
    char *oss_accesskeyid, *oss_accesskeysecret; /* secret masked */
    char *oss_region, *oss_endpoint, *oss_bucket, *oss_rootdirectory;
    int oss_internal, oss_encrypt, oss_secure;
    long oss_chunksize; /* bytes per part (default 10 MiB, at least 5 MiB) */

    /* storage.cache.blobdescriptor: redis, and the redis: section (issue 7) */
    int blobdescriptor_redis;
    char *redis_addr, *redis_password; /* password masked in dumps */
    int redis_db;
    long redis_dialtimeout, redis_readtimeout, redis_writetimeout; /* milliseconds */
    int redis_maxidle, redis_maxactive;
    long redis_idletimeout; /* seconds */

    /* middleware.storage (issue 7): the reference's redirect and cloudfront
     * entries, in order; each replaces the URL a blob GET redirects to (the
     * last one enabled answers) */
    struct config_storage_mw *storage_mw;
    size_t nstorage_mw;

    /* notifications (issue 14): the reference's endpoints, and Wharf's
     * durable queue (lib/evqueue.h) the events wait in until delivered */
    struct config_endpoint *endpoints; /* notifications.endpoints, in file order */
    size_t nendpoints;
    int events_includereferences; /* notifications.events.includereferences */
    char *notify_queuedir;        /* notifications.queue.directory (default: see config_notify.c) */
    int notify_fsync;             /* notifications.queue.fsync (default true) */

    /* health (issue 14): the reference's periodic checks, run by the health
     * service (admin/health.c); while one fails /v2/ answers 503 */
    int health_sd_enabled;   /* health.storagedriver.enabled (default false) */
    long health_sd_interval; /* health.storagedriver.interval, ms (default 10s) */
    int health_sd_threshold; /* health.storagedriver.threshold (0: one failure is enough) */
    struct config_health_check *health_checks; /* health.file, .http, .tcp entries */
    size_t nhealth_checks;

    /* builds (issue 18): automated builds from git (config_builds.c,
     * admin/builder.c, docs/builds.md) */
    char *builds_workdir;   /* builds.workdir (default /var/lib/wharf/builds) */
    int builds_concurrency; /* builds.concurrency: builds running at once (default 1) */
    long builds_timeout;    /* builds.timeout, seconds (default 30m) */
    char *builds_registry;  /* builds.registry: host[:port] builds push to (default: http.addr) */
    int builds_tlsverify;   /* builds.tlsverify (default true) */
    char *builds_username;  /* builds.username: credentials builds push with */
    char *builds_password;  /* builds.password (secret) */
    int builds_keep;        /* builds.keep: finished builds kept with their logs (default 100) */
    struct config_build_source *build_sources; /* builds.sources, in file order */
    size_t nbuild_sources;

    /* http.debug (issue 14): the debug server (admin/debug.c, docs/metrics.md) */
    char *debug_addr;       /* http.debug.addr: "host:port" or ":port"; NULL = no debug server */
    int debug_prom_enabled; /* http.debug.prometheus.enabled (default false) */
    char *debug_prom_path;  /* http.debug.prometheus.path (default "/metrics") */

    /* log (issue 14): the reference's formatter, fields, reportcaller and
     * hooks (config_log.c, lib/log.h, lib/loghook.h) */
    int log_formatter;                  /* log.formatter: enum log_format (text, json, logstash) */
    int log_reportcaller;               /* log.reportcaller */
    struct config_logfield *log_fields; /* log.fields, sorted by key */
    size_t nlog_fields;
    struct config_loghook *log_hooks; /* log.hooks, in file order */
    size_t nlog_hooks;
};

/* one entry of log.fields: added to every log line */
struct config_logfield {
    char *key, *value;
    int raw; /* a number or a boolean: unquoted in JSON */
};

/* one entry of log.hooks (type mail, the only type the reference has) */
struct config_loghook {
    int disabled;
    unsigned levels; /* bit (1 << level) per name of levels (LOGHOOK_* in lib/loghook.h) */
    char *addr;      /* options.smtp.addr: host:port (required) */
    char *username;  /* options.smtp.username: AUTH when set */
    char *password;  /* options.smtp.password (secret: masked in dumps) */
    int insecure;    /* options.smtp.insecure: no TLS certificate check */
    char *from;      /* options.from (required) */
    char **to;       /* options.to (at least one) */
    size_t nto;
};

/* one entry of notifications.endpoints (defaults: the reference's
 * EndpointConfig.defaults) */
enum notify_format { NOTIFY_FORMAT_DOCKER = 0, NOTIFY_FORMAT_CLOUDEVENTS = 1 };
struct config_endpoint {
    char *name; /* required, unique; [A-Za-z0-9._-] (it names a cursor file) */
    int disabled;
    char *url;                     /* required, http:// or https:// */
    struct config_header *headers; /* headers: {Name: [values]} sent with each POST */
    size_t nheaders;
    long timeout_ms;          /* timeout (default 1s) */
    int threshold;            /* failures in a row before backing off (default 10) */
    long backoff_ms;          /* backoff (default 1s) */
    char **ignoredmediatypes; /* ignoredmediatypes: target media types not sent */
    size_t nignoredmediatypes;
    char **ignore_mediatypes; /* ignore.mediatypes: the same, the newer key */
    size_t nignore_mediatypes;
    char **ignore_actions; /* ignore.actions: push, pull, mount, delete */
    size_t nignore_actions;
    int format; /* format (Wharf): docker (default) | cloudevents */
};

/* one entry of health.file, health.http or health.tcp (defaults: the
 * reference's, registry/handlers/app.go RegisterHealthChecks) */
enum health_kind { HEALTH_FILE = 1, HEALTH_HTTP = 2, HEALTH_TCP = 3 };
struct config_health_check {
    int kind;                      /* enum health_kind */
    char *target;                  /* file: file, http: uri, tcp: addr; also the check's name */
    long interval_ms;              /* interval (default 10s) */
    long timeout_ms;               /* http, tcp: timeout (0: none given) */
    int threshold;                 /* http, tcp: failures in a row (0: one is enough) */
    int statuscode;                /* http: the status expected (default 200) */
    struct config_header *headers; /* http: headers sent with each HEAD */
    size_t nheaders;
};

/* config_health_active: 1 when a health check is configured (the health
 * service runs and /v2/ is gated on its results), else 0. */
int config_health_active(const struct config *c);

/* config_notify_active: 1 when at least one notifications endpoint is
 * enabled (events are then raised and queued), else 0. */
int config_notify_active(const struct config *c);

/* one rule of a build source: which pushed git refs build, under which tag */
struct config_build_rule {
    char *branch;       /* a branch rule: the branch name; NULL for a tag rule */
    char *tag;          /* branch rule: the image tag; tag rule: the git tag's regex */
    void *re;           /* tag rule: tag compiled (pcre2_code_8 *) */
    char *tag_template; /* tag rule: the image tag, {0} the match, {1}.. its groups;
                           NULL: the git tag itself */
};
/* one build argument (--build-arg name=value) */
struct config_build_arg {
    char *name, *value;
};
/* one entry of builds.sources: a git repository built into a repository here */
struct config_build_source {
    char *name;       /* required, unique, [a-z0-9._-]: the webhook's URL names it */
    char *git;        /* required: the git URL fetched (https://, ssh, git://, file://) */
    char *secret;     /* required: the webhook secret (HMAC key or GitLab token) */
    char *repository; /* required: the repository the image is pushed to */
    char *dockerfile; /* default "Dockerfile", relative to the checkout */
    char *context;    /* default ".", relative to the checkout */
    struct config_build_rule *rules;
    size_t nrules;
    struct config_build_arg *args;
    size_t nargs;
};
/* config_builds_active: 1 when builds.sources is not empty (the builder
 * service runs, the webhooks answer), else 0. */
int config_builds_active(const struct config *c);
/* config_build_source: the source named name, or NULL. */
const struct config_build_source *config_build_source(const struct config *c, const char *name);

/* one entry of middleware.storage */
enum config_mw { MW_REDIRECT = 1, MW_CLOUDFRONT = 2 };
struct config_storage_mw {
    int type;         /* enum config_mw */
    char *baseurl;    /* redirect: scheme://host[/path]; cloudfront: "https://" added
                         when no scheme, ends with '/' */
    char *privatekey; /* cloudfront: path of the PEM RSA private key */
    char *keypairid;  /* cloudfront: the CloudFront key pair (or public key) id */
    long duration;    /* cloudfront: seconds a signed URL stays valid (default 1200) */
};

/* one mirrored upstream registry (proxy: or an entry of proxy.upstreams) */
struct config_upstream {
    char *prefix;       /* local repository prefix, no '/' at either end; "" = every name */
    char *remoteprefix; /* replaces prefix in the upstream's repository name ("" = dropped) */
    char *remoteurl;    /* "https://registry-1.docker.io", no trailing '/' */
    char *username;     /* NULL: anonymous (or the token flow without credentials) */
    char *password;     /* secret: masked in dumps */
    long ttl;           /* seconds content unpulled stays cached; 0 = forever */
};

/* auth.<method>: which access controller runs (config_auth values) */
enum config_auth { AUTH_NONE = 0, AUTH_SILLY = 1, AUTH_HTPASSWD = 2, AUTH_TOKEN = 3 };

/* config_load: read path (may be NULL: defaults + environment only), apply
 * overrides from envp (NULL-terminated "K=V" list, e.g. environ; NULL = none),
 * validate. On error returns WERR_INVALID (WERR_IO: file unreadable,
 * WERR_TOOBIG: file over 1 MiB, WERR_NOMEM) and writes "[file:line] key.path:
 * reason" (or "[env] REGISTRY_X: reason") into err. On success *out is the
 * config, owned by the caller and freed with config_free. */
int config_load(const char *path, char *const *envp, struct config **out, char *err, size_t errlen);
void config_free(struct config *c);
/* config_dump: print the resolved configuration as YAML, secrets masked: every
 * key of the schema tables (lib/config_schema.c), a driver or auth method only
 * when it is the one configured. The output loads back to the same config. */
void config_dump(const struct config *c, FILE *out);

#endif
