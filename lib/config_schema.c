/* config_schema.c — the schema of config.yml as tables (the h2o way of
 * declaring a configuration) and the three walks over them: applying a
 * tree to struct config, printing the resolved configuration, freeing it.
 *
 * Applying: unknown keys, reference keys Wharf does not support yet, wrong
 * types and bad values all stop with "[file:line] key.path: reason" or
 * "[env] REGISTRY_X: reason". Keys with rules of their own (K_CUSTOM, or a
 * section's fn run after its children) live in the section's file.
 *
 * Printing (config_dump, `wharf config check`): every key the tables accept
 * is printed in table order, two spaces a level, with its resolved value, so
 * the output loads back to the same configuration; a choice not taken (a
 * driver, an auth method, an unconfigured proxy or redis) is left out by its
 * .shown. Secrets (F_SECRET) print as "*****". admin/run.sh and the e2e tests
 * read this output by key path: a key keeps its line format.
 *
 * Freeing: every S_STR at an offset, and each .release, once per offset
 * (keys sharing a member, like auth.<method>.realm, reset it after freeing). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_impl.h"
#include "err.h"

/* ---------------------------------------------------------------- tables */

static const struct field f_accesslog[] = {BOOL("disabled", CFG_OFF(accesslog_disabled)), END};
static const struct field f_log[] = {
    CUSTOM("level", apply_loglevel, .dump = dump_loglevel),
    CUSTOM("formatter", apply_formatter, .dump = dump_formatter),
    SECTION("accesslog", f_accesslog),
    /* issue 14: config_log.c */
    CUSTOM("fields", apply_logfields, .dump = dump_logfields, .release = release_logfields),
    BOOL("reportcaller", CFG_OFF(log_reportcaller)),
    CUSTOM("hooks", apply_loghooks, .dump = dump_loghooks, .release = release_loghooks),
    END,
};

static const struct field f_filesystem[] = {
    STR("rootdirectory", CFG_OFF(fs_root), F_REQUIRED | F_ABSPATH),
    INT("maxthreads", CFG_OFF(fs_maxthreads), S_INT, 25, 1 << 20),
    END,
};
static const struct field f_delete[] = {BOOL("enabled", CFG_OFF(delete_enabled)), END};
static const struct field f_redirect[] = {BOOL("disable", CFG_OFF(redirect_disable)), END};
static const struct field f_cache[] = {
    CUSTOM("blobdescriptor", apply_blobdescriptor, .dump = dump_blobdescriptor),
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
static const struct field f_gc[] = {
    /* Wharf's online GC (issue 6) */
    BOOL("enabled", CFG_OFF(gc_enabled)),        DUR("interval", CFG_OFF(gc_interval)),
    DUR("graceperiod", CFG_OFF(gc_graceperiod)), BOOL("deleteuntagged", CFG_OFF(gc_deleteuntagged)),
    BOOL("dryrun", CFG_OFF(gc_dryrun)),          END,
};
static const struct field f_maintenance[] = {
    SECTION("uploadpurging", f_uploadpurging),
    SECTION("readonly", f_readonly),
    SECTION("gc", f_gc),
    END,
};
/* storage.s3 and redis (issue 7): config_storage.c */
static const struct field f_s3[] = {
    STR("accesskey", CFG_OFF(s3_accesskey), 0),
    STR("secretkey", CFG_OFF(s3_secretkey), F_SECRET),
    STR("sessiontoken", CFG_OFF(s3_sessiontoken), F_SECRET),
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
    INT("chunksize", CFG_OFF(s3_chunksize), S_LONG, 5L << 20, 5L << 30),
    INT("multipartcopychunksize", CFG_OFF(s3_copychunksize), S_LONG, 5L << 20, 5L << 30),
    INT("multipartcopymaxconcurrency", CFG_OFF(s3_copymaxconcurrency), S_LONG, 1, 1000),
    INT("multipartcopythresholdsize", CFG_OFF(s3_copythreshold), S_LONG, 0, 5L << 30),
    STR("storageclass", CFG_OFF(s3_storageclass), 0, .unset = "STANDARD"),
    STR("objectacl", CFG_OFF(s3_objectacl), 0, .unset = "private"),
    STR("useragent", CFG_OFF(s3_useragent), 0),
    CUSTOM_AT("loglevel", apply_s3_loglevel, CFG_OFF(s3_loglevel), S_STR, .unset = "off"),
    UNSUP("usedualstack"),
    UNSUP("accelerate"),
    UNSUP("credentialsconfigpath"),
    END,
};
/* storage.swift, azure, gcs, oss (issue 15): config_storage.c */
static const struct field f_swift[] = {
    STR("authurl", CFG_OFF(swift_authurl), F_REQUIRED),
    STR("username", CFG_OFF(swift_username), F_REQUIRED),
    STR("password", CFG_OFF(swift_password), F_REQUIRED | F_SECRET),
    STR("container", CFG_OFF(swift_container), F_REQUIRED),
    STR("region", CFG_OFF(swift_region), 0),
    STR("tenant", CFG_OFF(swift_tenant), 0),
    STR("tenantid", CFG_OFF(swift_tenantid), 0),
    STR("domain", CFG_OFF(swift_domain), 0),
    STR("domainid", CFG_OFF(swift_domainid), 0),
    STR("tenantdomain", CFG_OFF(swift_tenantdomain), 0),
    STR("tenantdomainid", CFG_OFF(swift_tenantdomainid), 0),
    STR("trustid", CFG_OFF(swift_trustid), 0),
    BOOL("insecureskipverify", CFG_OFF(swift_insecureskipverify)),
    INT("chunksize", CFG_OFF(swift_chunksize), S_LONG, 1L << 20, 5L << 30),
    STR("prefix", CFG_OFF(swift_prefix), 0),
    STR("secretkey", CFG_OFF(swift_secretkey), F_SECRET),
    STR("accesskey", CFG_OFF(swift_accesskey), 0),
    INT("authversion", CFG_OFF(swift_authversion), S_INT, 0, 3),
    STR("endpointtype", CFG_OFF(swift_endpointtype), 0, .unset = "public"),
    BOOL("tempurlcontainerkey", CFG_OFF(swift_tempurlcontainerkey)),
    UNSUP_NOTE("tempurlmethods", "TempURLs are made for GET and HEAD"),
    END,
};
static const struct field f_azure[] = {
    STR("accountname", CFG_OFF(azure_accountname), F_REQUIRED),
    STR("accountkey", CFG_OFF(azure_accountkey), F_REQUIRED | F_SECRET),
    STR("container", CFG_OFF(azure_container), F_REQUIRED),
    STR("realm", CFG_OFF(azure_realm), 0, .unset = "core.windows.net"),
    STR("serviceurl", CFG_OFF(azure_serviceurl), 0),
    STR("rootdirectory", CFG_OFF(azure_rootdirectory), 0),
    UNSUP_NOTE("credentials", "only shared-key auth: accountname and accountkey"),
    END,
};
static const struct field f_gcs[] = {
    STR("bucket", CFG_OFF(gcs_bucket), F_REQUIRED),
    STR("keyfile", CFG_OFF(gcs_keyfile), 0),
    CUSTOM_AT("credentials", apply_gcs_credentials, CFG_OFF(gcs_credentials), S_STR,
              .flags = F_SECRET),
    STR("rootdirectory", CFG_OFF(gcs_rootdirectory), 0),
    INT("chunksize", CFG_OFF(gcs_chunksize), S_LONG, 256L << 10, 1L << 30),
    END,
};
static const struct field f_oss[] = {
    STR("accesskeyid", CFG_OFF(oss_accesskeyid), F_REQUIRED),
    STR("accesskeysecret", CFG_OFF(oss_accesskeysecret), F_REQUIRED | F_SECRET),
    STR("region", CFG_OFF(oss_region), F_REQUIRED),
    STR("bucket", CFG_OFF(oss_bucket), F_REQUIRED),
    STR("endpoint", CFG_OFF(oss_endpoint), 0),
    BOOL("internal", CFG_OFF(oss_internal)),
    BOOL("encrypt", CFG_OFF(oss_encrypt)),
    BOOL("secure", CFG_OFF(oss_secure)),
    INT("chunksize", CFG_OFF(oss_chunksize), S_LONG, 5L << 20, 5L << 30),
    STR("rootdirectory", CFG_OFF(oss_rootdirectory), 0),
    END,
};
static const struct field f_redis_pool[] = {
    INT("maxidle", CFG_OFF(redis_maxidle), S_INT, 0, 100000),
    INT("maxactive", CFG_OFF(redis_maxactive), S_INT, 0, 100000),
    DUR("idletimeout", CFG_OFF(redis_idletimeout)),
    END,
};
static const struct field f_redis[] = {
    STR("addr", CFG_OFF(redis_addr), 0),
    STR("password", CFG_OFF(redis_password), F_SECRET),
    INT("db", CFG_OFF(redis_db), S_INT, 0, 1 << 20),
    CUSTOM_AT("dialtimeout", apply_redis_ms, CFG_OFF(redis_dialtimeout), S_MS),
    CUSTOM_AT("readtimeout", apply_redis_ms, CFG_OFF(redis_readtimeout), S_MS),
    CUSTOM_AT("writetimeout", apply_redis_ms, CFG_OFF(redis_writetimeout), S_MS),
    SECTION("pool", f_redis_pool),
    UNSUP("tls"),
    UNSUP("username"),
    END,
};

static const struct field f_storage[] = {
    SECTION_FN("filesystem", f_filesystem, apply_filesystem, F_DRIVER, .shown = shown_filesystem),
    CUSTOM("inmemory", apply_inmemory, .flags = F_DRIVER, .dump = dump_inmemory,
           .shown = shown_inmemory),
    SECTION_FN("s3", f_s3, apply_s3, F_DRIVER, .shown = shown_s3),
    SECTION_FN("swift", f_swift, apply_swift, F_DRIVER, .shown = shown_swift),
    SECTION_FN("azure", f_azure, apply_azure, F_DRIVER, .shown = shown_azure),
    SECTION_FN("gcs", f_gcs, apply_gcs, F_DRIVER, .shown = shown_gcs),
    SECTION_FN("oss", f_oss, apply_oss, F_DRIVER, .shown = shown_oss),
    SECTION("delete", f_delete),
    SECTION("redirect", f_redirect),
    SECTION("cache", f_cache),
    SECTION("maintenance", f_maintenance),
    UNSUP("tag"),
    END,
};

/* auth (issue 4): one access controller (config_auth.c). The methods share
 * realm and service: each prints the values of the one configured. */
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
    CUSTOM("signingalgorithms", apply_sigalgs, .dump = dump_sigalgs, .release = release_sigalgs),
    DUR("leeway", CFG_OFF(auth_leeway)),
    END,
};
static const struct field f_auth[] = {
    SECTION_FN("silly", f_auth_silly, apply_auth_method, 0, .shown = shown_auth_method),
    SECTION_FN("htpasswd", f_auth_htpasswd, apply_auth_method, 0, .shown = shown_auth_method),
    SECTION_FN("token", f_auth_token, apply_auth_method, 0, .shown = shown_auth_method),
    UNSUP("none"),
    END,
};
/* fastcgi.tokenservice: paths of the key and users are printed, never their contents */
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

/* http.debug (issue 14): config_http.c */
static const struct field f_prometheus[] = {
    BOOL("enabled", CFG_OFF(debug_prom_enabled)),
    CUSTOM_AT("path", apply_debug_path, CFG_OFF(debug_prom_path), S_STR),
    END,
};
static const struct field f_debug[] = {
    CUSTOM_AT("addr", apply_debug_addr, CFG_OFF(debug_addr), S_STR),
    SECTION("prometheus", f_prometheus),
    END,
};

static const struct field f_http[] = {
    STR("addr", CFG_OFF(http_addr), 0),
    CUSTOM_AT("net", apply_net, CFG_OFF(http_net), S_STR),
    CUSTOM_AT("prefix", apply_prefix, CFG_OFF(http_prefix), S_STR),
    CUSTOM_AT("host", apply_host, CFG_OFF(http_host), S_STR),
    STR("secret", CFG_OFF(http_secret), F_SECRET),
    BOOL("relativeurls", CFG_OFF(relativeurls)),
    DUR("draintimeout", CFG_OFF(draintimeout)),
    CUSTOM("headers", apply_headers, .dump = dump_headers, .release = release_headers),
    WEBSERVER("tls", "TLS belongs to the web server in front of Wharf: set it in nginx "
                     "(nginx-conf/wharf-site.conf) or Apache (apache-conf/wharf-vhost.conf)"),
    WEBSERVER("letsencrypt", "certificates belong to the web server in front of Wharf: certbot "
                             "with nginx (nginx-conf/wharf-site.conf) or mod_md in Apache "
                             "(apache-conf/wharf-vhost.conf)"),
    SECTION("debug", f_debug),
    UNSUP("http2"),
    UNSUP("h2c"),
    END,
};

static const struct field f_blobs[] = {
    CUSTOM("accel", apply_accel, .dump = dump_accel),
    CUSTOM_AT("prefix", apply_accel_prefix, CFG_OFF(accel_prefix), S_STR),
    END,
};
static const struct field f_limits[] = {
    INT("manifestsize", CFG_OFF(manifest_max), S_SIZE, 1, 64LL * 1024 * 1024),
    INT("namelength", CFG_OFF(name_max), S_SIZE, 1, 4096),
    INT("taglength", CFG_OFF(tag_max), S_SIZE, 1, 128),
    INT("namecomponents", CFG_OFF(name_components_max), S_SIZE, 1, 128),
    END,
};
/* fastcgi.workers as a mapping: a dynamic pool (apply_workers) */
const struct field config_schema_workers[] = {
    INT("min", CFG_OFF(workers), S_INT, 1, CONFIG_WORKERS_LIMIT),
    INT("max", CFG_OFF(workers_max), S_INT, 1, CONFIG_WORKERS_LIMIT),
    INT("minspare", CFG_OFF(workers_minspare), S_INT, 1, CONFIG_WORKERS_LIMIT),
    INT("maxspare", CFG_OFF(workers_maxspare), S_INT, 1, CONFIG_WORKERS_LIMIT),
    DUR("idletimeout", CFG_OFF(workers_idletimeout)),
    END,
};
/* fastcgi.uploads (issue 12): defaults per driver in uploads_finish (config.c) */
static const struct field f_uploads[] = {
    BOOL("bodyfiles", CFG_OFF(bodyfiles)),
    STR("bodydir", CFG_OFF(bodydir), F_ABSPATH),
    END,
};
static const struct field f_fastcgi[] = {
    CUSTOM_AT("listen", apply_listen, CFG_OFF(listen), S_STR),
    CUSTOM("socketmode", apply_socketmode, .dump = dump_socketmode),
    CUSTOM("workers", apply_workers, .kids = config_schema_workers, .dump = dump_workers),
    INT("backlog", CFG_OFF(backlog), S_INT, 1, 65535),
    INT("maxrequests", CFG_OFF(max_requests), S_LONG, 0, LONG_MAX),
    BOOL("directio", CFG_OFF(directio)),
    STR("pidfile", CFG_OFF(pidfile), F_ABSPATH),
    STR("logfile", CFG_OFF(log_file), F_ABSPATH),
    SECTION("blobs", f_blobs),
    SECTION_FN("tokenservice", f_tokenservice, apply_tokenservice, 0, .shown = shown_tokenservice),
    SECTION("uploads", f_uploads),
    SECTION("limits", f_limits),
    END,
};

static const struct field f_urls[] = {
    CUSTOM("allow", apply_urlpatterns, .dump = dump_urlpatterns, .release = release_urlpatterns),
    CUSTOM("deny", apply_urlpatterns, .dump = dump_urlpatterns, .release = release_urlpatterns),
    END,
};
static const struct field f_indexes[] = {
    CUSTOM("platforms", apply_platforms, .dump = dump_platforms),
    CUSTOM("platformlist", apply_platformlist, .dump = dump_platformlist,
           .release = release_platformlist),
    END,
};
static const struct field f_vmanifests[] = {
    SECTION("urls", f_urls),
    SECTION("indexes", f_indexes),
    END,
};
static const struct field f_validation[] = {
    BOOL("disabled", CFG_OFF(validation_disabled)),
    /* deprecated in the reference in favour of disabled: accepted, not kept,
     * printed as what it means (the opposite of disabled) */
    {.name = "enabled", .kind = K_BOOL, .off = NOOFF, .dump = dump_validation_enabled},
    SECTION("manifests", f_vmanifests),
    END,
};
static const struct field f_schema1[] = {
    BOOL("enabled", CFG_OFF(schema1_enabled)),
    STR("signingkeyfile", CFG_OFF(schema1_signingkeyfile), 0),
    END,
};
static const struct field f_compatibility[] = {SECTION("schema1", f_schema1), END};

/* proxy (issue 8): config_proxy.c */
static const struct field f_proxy[] = {
    STR("remoteurl", CFG_OFF(proxy_remoteurl), 0),
    STR("username", CFG_OFF(proxy_username), 0),
    STR("password", CFG_OFF(proxy_password), F_SECRET),
    DUR("ttl", CFG_OFF(proxy_ttl)),
    CUSTOM("upstreams", apply_upstreams, .dump = dump_upstreams, .release = release_upstreams),
    END,
};

/* middleware (issue 7): config_storage.c */
static const struct field f_middleware[] = {
    CUSTOM("storage", apply_storage_mw, .dump = dump_storage_mw, .release = release_storage_mw),
    UNSUP("registry"),
    UNSUP("repository"),
    END,
};

/* notifications (issue 14): config_notify.c */
static const struct field f_nevents[] = {
    BOOL("includereferences", CFG_OFF(events_includereferences)),
    END,
};
static const struct field f_nqueue[] = {
    /* Wharf's durable queue (the reference keeps events in memory) */
    STR("directory", CFG_OFF(notify_queuedir), F_ABSPATH),
    BOOL("fsync", CFG_OFF(notify_fsync)),
    END,
};
static const struct field f_notifications[] = {
    CUSTOM("endpoints", apply_endpoints, .dump = dump_endpoints, .release = release_endpoints),
    SECTION("events", f_nevents),
    SECTION("queue", f_nqueue),
    END,
};

/* health (issue 14): config_health.c */
static const struct field f_hstoragedriver[] = {
    BOOL("enabled", CFG_OFF(health_sd_enabled)),
    CUSTOM_AT("interval", apply_health_ms, CFG_OFF(health_sd_interval), S_MS),
    INT("threshold", CFG_OFF(health_sd_threshold), S_INT, 0, 1000000),
    END,
};
static const struct field f_health[] = {
    SECTION("storagedriver", f_hstoragedriver),
    CUSTOM("file", apply_health_checks, .dump = dump_health_checks,
           .release = release_health_checks),
    CUSTOM("http", apply_health_checks, .dump = dump_health_checks),
    CUSTOM("tcp", apply_health_checks, .dump = dump_health_checks),
    END,
};

/* builds (issue 18): config_builds.c */
static const struct field f_builds[] = {
    STR("workdir", CFG_OFF(builds_workdir), F_ABSPATH),
    INT("concurrency", CFG_OFF(builds_concurrency), S_INT, 1, 64),
    DUR("timeout", CFG_OFF(builds_timeout)),
    STR("registry", CFG_OFF(builds_registry), 0),
    BOOL("tlsverify", CFG_OFF(builds_tlsverify)),
    STR("username", CFG_OFF(builds_username), 0),
    STR("password", CFG_OFF(builds_password), F_SECRET),
    INT("keep", CFG_OFF(builds_keep), S_INT, 1, 100000),
    CUSTOM("sources", apply_build_sources, .dump = dump_build_sources,
           .release = release_build_sources),
    END,
};

/* in the order config_dump has always printed them */
static const struct field f_root[] = {
    CUSTOM("version", apply_version, .dump = dump_version),
    SECTION("log", f_log),
    UNSUP_NOTE("loglevel", "deprecated: use log.level"),
    SECTION("storage", f_storage),
    SECTION("http", f_http),
    SECTION("auth", f_auth, .shown = shown_auth),
    SECTION_FN("proxy", f_proxy, apply_proxy, 0, .shown = shown_proxy),
    SECTION("redis", f_redis, .shown = shown_redis),
    SECTION("middleware", f_middleware, .shown = shown_middleware),
    SECTION("fastcgi", f_fastcgi),
    SECTION("validation", f_validation),
    SECTION("compatibility", f_compatibility),
    SECTION("notifications", f_notifications),
    SECTION("health", f_health),
    SECTION("builds", f_builds, .shown = shown_builds),
    UNSUP("reporting"),
    UNSUP("catalog"),
    UNSUP("policy"),
    END,
};
const struct field config_schema_top = SECTION("", f_root);

const struct field *field_find(const struct field *kids, const char *name, int nocase)
{
    for (; kids && kids->name; kids++)
        if (nocase ? !strcasecmp(kids->name, name) : !strcmp(kids->name, name)) return kids;
    return NULL;
}

/* ---------------------------------------------------------------- errors */

int config_fail(struct loader *L, const struct ynode *n, int at_key, const char *path,
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

/* ---------------------------------------------------------------- apply */

void path_join(char *out, size_t outlen, const char *parent, const char *key)
{
    if (*parent)
        snprintf(out, outlen, "%s.%s", parent, key);
    else
        snprintf(out, outlen, "%s", key);
}

/* path_append: path += "." key (bounded, truncating). */
void path_append(char *path, size_t len, const char *key)
{
    size_t used = strlen(path);
    if (used && used + 1 < len) path[used++] = '.';
    for (; *key && used + 1 < len; key++)
        path[used++] = *key;
    path[used] = '\0';
}

int set_str(char **dst, const char *v)
{
    char *s = NULL;
    if (v && !(s = strdup(v))) return WERR_NOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

/* A null value yields "" (the zero value, as the reference's yaml.v2 gives). */
const char *want_string(struct loader *L, const struct ynode *n, const char *path, int *rc)
{
    if (n->type != Y_SCALAR) {
        *rc = config_fail(L, n, 0, path, "expected a string");
        return NULL;
    }
    return is_null(n) ? "" : n->val;
}

static int apply_field(struct loader *L, const struct field *f, const struct ynode *n,
                       const char *path);

int config_apply_section(struct loader *L, const struct field *f, const struct ynode *n,
                         const char *path)
{
    int rc = 0;
    char kp[CONFIG_MAX_PATH];
    if (is_null(n)) return 0; /* "key:" with nothing under it: all defaults */
    if (n->type != Y_MAP) return config_fail(L, n, 0, path, "expected a mapping");
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        path_join(kp, sizeof(kp), path, k->key);
        const struct field *kf = field_find(f->kids, k->key, 0);
        if (!kf) return config_fail(L, k, 1, kp, "unknown key");
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
            return config_fail(L, n, 1, path,
                               "only one storage driver may be configured (filesystem, inmemory, "
                               "s3, swift, azure, gcs or oss)");
        L->have_driver = 1;
    }
    switch (f->kind) {
    case K_SECTION:
        if ((rc = config_apply_section(L, f, n, path)) < 0) return rc;
        return f->fn ? f->fn(L, f, n, path) : 0;
    case K_UNSUPPORTED:
        if (f->flags & F_WEBSERVER) return config_fail(L, n, 1, path, "%s", f->note);
        return config_fail(L, n, 1, path, "not supported by Wharf yet%s%s%s", f->note ? " (" : "",
                           f->note ? f->note : "", f->note ? ")" : "");
    case K_CUSTOM: return f->fn(L, f, n, path);
    case K_BOOL:
        if (is_null(n)) return 0;
        if (scalar_bool(n, &b) < 0) return config_fail(L, n, 0, path, "expected a boolean");
        if (f->off != NOOFF) *(int *)(base + f->off) = b;
        return 0;
    case K_INT:
        if (is_null(n)) return 0;
        if (scalar_int(n, &v) < 0) return config_fail(L, n, 0, path, "expected an integer");
        if (v < f->min || v > f->max)
            return config_fail(L, n, 0, path, "must be between %lld and %lld", f->min, f->max);
        if (f->off == NOOFF) return 0;
        if (f->store == S_INT)
            *(int *)(base + f->off) = (int)v;
        else if (f->store == S_SIZE)
            *(size_t *)(base + f->off) = (size_t)v;
        else
            *(long *)(base + f->off) = (long)v;
        return 0;
    case K_DURATION:
        if (is_null(n)) return 0;
        if (scalar_duration(n, &secs) < 0)
            return config_fail(L, n, 0, path, "expected a duration such as \"60s\" or \"1h30m\"");
        if (f->off != NOOFF) *(long *)(base + f->off) = secs;
        return 0;
    case K_STR: {
        const char *s = want_string(L, n, path, &rc);
        if (!s) return rc;
        if (!*s) {
            if (f->flags & F_REQUIRED) return config_fail(L, n, 0, path, "must not be empty");
            return set_str((char **)(base + f->off), NULL);
        }
        if ((f->flags & F_ABSPATH) && s[0] != '/')
            return config_fail(L, n, 0, path, "expected an absolute path");
        return set_str((char **)(base + f->off), s);
    }
    }
    return 0;
}

/* ---------------------------------------------------------------- dump */

void dump_key(FILE *out, int depth, const char *key)
{
    fprintf(out, "%*s%s:", 2 * depth, "", key);
}

void yaml_str(FILE *out, const char *s)
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

const char *yn(int b)
{
    return b ? "true" : "false";
}

/* dump_value: " value\n" of a key kept by its store */
static void dump_value(const struct config *c, const struct field *f, FILE *out)
{
    const char *base = (const char *)c + f->off;
    switch (f->store) {
    case S_STR: {
        const char *s = *(char *const *)base;
        fputc(' ', out);
        if (f->flags & F_SECRET) /* a secret is never printed, only whether one is set */
            fputs(s && *s ? "\"*****\"" : "\"\"", out);
        else
            yaml_str(out, s ? s : f->unset);
        break;
    }
    case S_BOOL: fprintf(out, " %s", yn(*(const int *)base)); break;
    case S_INT: fprintf(out, " %d", *(const int *)base); break;
    case S_LONG: fprintf(out, " %ld", *(const long *)base); break;
    case S_SIZE: fprintf(out, " %zu", *(const size_t *)base); break;
    case S_SECS: fprintf(out, " %lds", *(const long *)base); break;
    case S_MS: fprintf(out, " %ldms", *(const long *)base); break;
    case S_NONE: break;
    }
    fputc('\n', out);
}

static void dump_field(const struct config *c, const struct field *f, FILE *out, int depth)
{
    if (f->kind == K_UNSUPPORTED || (f->shown && !f->shown(c, f))) return;
    if (f->dump) {
        f->dump(c, f, out, depth);
    } else if (f->kind == K_SECTION) {
        dump_key(out, depth, f->name);
        fputc('\n', out);
        config_dump_section(c, f, out, depth + 1);
    } else if (f->off != NOOFF && f->store != S_NONE) {
        dump_key(out, depth, f->name);
        dump_value(c, f, out);
    }
}

void config_dump_section(const struct config *c, const struct field *f, FILE *out, int depth)
{
    for (const struct field *k = f->kids; k && k->name; k++)
        dump_field(c, k, out, depth);
}

void config_dump(const struct config *c, FILE *out)
{
    config_dump_section(c, &config_schema_top, out, 0);
}

/* ---------------------------------------------------------------- free */

void free_secret(char *s)
{
    if (!s) return;
    volatile char *p = s;
    while (*p)
        *p++ = 0;
    free(s);
}

void config_release_section(struct config *c, const struct field *f)
{
    for (const struct field *k = f->kids; k && k->name; k++) {
        if (k->release) k->release(c, k);
        if (k->off != NOOFF && k->store == S_STR) {
            char **s = (char **)((char *)c + k->off);
            if (k->flags & F_SECRET)
                free_secret(*s);
            else
                free(*s);
            *s = NULL;
        }
        if (k->kind == K_SECTION) config_release_section(c, k);
    }
}
