/* test_config.c — lib/config*.c: config.yml schema, REGISTRY_* overrides,
 * error messages with file:line, bounds, config_dump masking and coverage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/config.h"
#include "../../lib/config_impl.h" /* the schema tables, walked by test_dump_every_key */
#include "../../lib/err.h"
#include "../../lib/log.h"

static char tmpdir[256];
static int nfile;

static int group_setup(void **state)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/wharf-config-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    char p[512];
    for (int i = 0; i < nfile; i++) {
        snprintf(p, sizeof(p), "%s/c%d.yml", tmpdir, i);
        unlink(p);
    }
    return rmdir(tmpdir);
}

/* write_cfg: a new file holding text; returns its path (static storage per call). */
static const char *write_cfg(const char *text)
{
    static char paths[64][512];
    char *p = paths[nfile % 64];
    snprintf(p, 512, "%s/c%d.yml", tmpdir, nfile++);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return p;
}

/* expect_error: loading text (with envp) fails with exactly
 * "[<path>:<line>] <rest>"; line 0 means the message has no file part. */
static void expect_error(const char *text, char *const *envp, int line, const char *rest)
{
    char err[512], want[1024];
    struct config *c = (struct config *)1;
    const char *p = text ? write_cfg(text) : NULL;
    int rc = config_load(p, envp, &c, err, sizeof(err));
    if (line)
        snprintf(want, sizeof(want), "[%s:%d] %s", p, line, rest);
    else
        snprintf(want, sizeof(want), "%s", rest);
    if (rc >= 0 || strcmp(err, want) != 0)
        print_error("rc %d\n got: %s\nwant: %s\n", rc, rc < 0 ? err : "(success)", want);
    assert_int_equal(rc, WERR_INVALID);
    assert_null(c);
    assert_string_equal(err, want);
}

static struct config *load_ok(const char *text, char *const *envp)
{
    char err[512] = "";
    struct config *c = NULL;
    const char *p = text ? write_cfg(text) : NULL;
    int rc = config_load(p, envp, &c, err, sizeof(err));
    if (rc != 0) print_error("unexpected error %d: %s\n", rc, err);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

#define MIN "version: 0.1\nstorage:\n  inmemory:\n"
#define WORKERS_TYPE                                                                               \
    "expected an integer (a static pool) or a mapping {min, max, minspare, maxspare, "             \
    "idletimeout} (a dynamic pool)"

static void test_full_file(void **state)
{
    const char *text = "version: 0.1\n"
                       "log:\n"
                       "  level: DEBUG\n"
                       "  formatter: json\n"
                       "  accesslog:\n"
                       "    disabled: true\n"
                       "storage:\n"
                       "  filesystem:\n"
                       "    rootdirectory: /srv/registry\n"
                       "    maxthreads: 50\n"
                       "  delete:\n"
                       "    enabled: yes\n"
                       "  redirect:\n"
                       "    disable: true\n"
                       "  cache:\n"
                       "    blobdescriptor: inmemory\n"
                       "  maintenance:\n"
                       "    uploadpurging:\n"
                       "      enabled: false\n"
                       "      age: 72h\n"
                       "      interval: 12h\n"
                       "      dryrun: true\n"
                       "    readonly:\n"
                       "      enabled: true\n"
                       "auth: {}\n"
                       "http:\n"
                       "  addr: 127.0.0.1:5000\n"
                       "  net: tcp\n"
                       "  prefix: /my/registry\n"
                       "  host: https://reg.example.com\n"
                       "  secret: hunter2\n"
                       "  relativeurls: true\n"
                       "  draintimeout: 1m30s\n"
                       "  headers:\n"
                       "    X-Content-Type-Options: [nosniff]\n"
                       "fastcgi:\n"
                       "  listen: 127.0.0.1:9000\n"
                       "  socketmode: \"0660\"\n"
                       "  workers: 16\n"
                       "  backlog: 512\n"
                       "  maxrequests: 10000\n"
                       "  pidfile: /run/wharf.pid\n"
                       "  logfile: /var/log/wharf.log\n"
                       "  blobs:\n"
                       "    accel: nginx\n"
                       "    prefix: /_blobs/\n"
                       "  limits:\n"
                       "    manifestsize: 1048576\n"
                       "    namelength: 200\n"
                       "    taglength: 64\n";
    struct config *c = load_ok(text, NULL);
    assert_non_null(c->path);
    assert_int_equal(c->log_level, LOG_DEBUG);
    assert_int_equal(c->log_json, 1);
    assert_int_equal(c->accesslog_disabled, 1);
    assert_int_equal(c->storage, STORAGE_FILESYSTEM);
    assert_string_equal(c->fs_root, "/srv/registry");
    assert_int_equal(c->fs_maxthreads, 50);
    assert_int_equal(c->delete_enabled, 1);
    assert_int_equal(c->redirect_disable, 1);
    assert_int_equal(c->blobdescriptor_inmemory, 1);
    assert_int_equal(c->uploadpurging_enabled, 0);
    assert_int_equal(c->uploadpurging_age, 72 * 3600);
    assert_int_equal(c->uploadpurging_interval, 12 * 3600);
    assert_int_equal(c->uploadpurging_dryrun, 1);
    assert_int_equal(c->readonly, 1);
    assert_string_equal(c->http_addr, "127.0.0.1:5000");
    assert_string_equal(c->http_net, "tcp");
    assert_string_equal(c->http_prefix, "/my/registry/");
    assert_string_equal(c->http_host, "https://reg.example.com");
    assert_string_equal(c->http_secret, "hunter2");
    assert_int_equal(c->relativeurls, 1);
    assert_int_equal(c->draintimeout, 90);
    assert_int_equal(c->nheaders, 1);
    assert_string_equal(c->headers[0].name, "X-Content-Type-Options");
    assert_int_equal(c->headers[0].nvalues, 1);
    assert_string_equal(c->headers[0].values[0], "nosniff");
    assert_string_equal(c->listen, "127.0.0.1:9000");
    assert_int_equal(c->socket_mode, 0660);
    assert_int_equal(c->workers, 16);
    assert_int_equal(c->backlog, 512);
    assert_int_equal(c->max_requests, 10000);
    assert_string_equal(c->pidfile, "/run/wharf.pid");
    assert_string_equal(c->log_file, "/var/log/wharf.log");
    assert_int_equal(c->accel, ACCEL_NGINX);
    assert_string_equal(c->accel_prefix, "/_blobs/");
    assert_int_equal(c->manifest_max, 1048576);
    assert_int_equal(c->name_max, 200);
    assert_int_equal(c->tag_max, 64);
    config_free(c);
}

static void test_defaults(void **state)
{
    struct config *c = load_ok("version: 0.1\nstorage:\n  filesystem:\n", NULL);
    assert_int_equal(c->log_level, LOG_INFO);
    assert_int_equal(c->log_json, 0);
    assert_null(c->log_file);
    assert_int_equal(c->storage, STORAGE_FILESYSTEM);
    assert_string_equal(c->fs_root, "/var/lib/registry");
    assert_int_equal(c->fs_maxthreads, 100);
    assert_int_equal(c->delete_enabled, 0);
    assert_int_equal(c->readonly, 0);
    assert_int_equal(c->uploadpurging_enabled, 1);
    assert_string_equal(c->http_prefix, "/");
    assert_null(c->http_host);
    assert_null(c->http_secret);
    assert_int_equal(c->nheaders, 0);
    assert_string_equal(c->listen, "unix:/run/wharf.sock");
    assert_int_equal(c->socket_mode, 0666);
    /* no fastcgi.workers: the dynamic pool (docs/pool.md: fastcgi.workers) */
    assert_int_equal(c->workers, 4);
    assert_int_equal(c->workers_max, 64);
    assert_int_equal(c->workers_minspare, 2);
    assert_int_equal(c->workers_maxspare, 8);
    assert_int_equal(c->workers_idletimeout, 10);
    assert_int_equal(c->backlog, 1024);
    assert_int_equal(c->max_requests, 0);
    assert_int_equal(c->draintimeout, 60);
    assert_int_equal(c->accel, ACCEL_NONE);
    assert_string_equal(c->accel_prefix, "/_wharf_blobs/");
    assert_int_equal(c->manifest_max, 4 * 1024 * 1024);
    assert_int_equal(c->name_max, 255);
    assert_int_equal(c->tag_max, 128);
    config_free(c);

    /* the reference's short form: a bare driver name */
    c = load_ok("version: \"0.1\"\nstorage: inmemory\n", NULL);
    assert_int_equal(c->storage, STORAGE_INMEMORY);
    config_free(c);
}

static void test_type_errors(void **state)
{
    expect_error(MIN "  delete:\n    enabled: maybe\n", NULL, 5,
                 "storage.delete.enabled: expected a boolean");
    /* quoted "true" is a string in YAML, as in the reference */
    expect_error(MIN "  delete:\n    enabled: \"true\"\n", NULL, 5,
                 "storage.delete.enabled: expected a boolean");
    expect_error(MIN "fastcgi:\n  workers: eight\n", NULL, 5, "fastcgi.workers: " WORKERS_TYPE);
    expect_error(MIN "fastcgi:\n  workers: 2.5\n", NULL, 5, "fastcgi.workers: " WORKERS_TYPE);
    expect_error(MIN "http:\n  draintimeout: 60\n", NULL, 5,
                 "http.draintimeout: expected a duration such as \"60s\" or \"1h30m\"");
    expect_error(MIN "http:\n  secret:\n    a: b\n", NULL, 6, "http.secret: expected a string");
    expect_error(MIN "http: [1, 2]\n", NULL, 4, "http: expected a mapping");
    expect_error(MIN "http:\n  debug:\n    addr: localhost\n", NULL, 6,
                 "http.debug.addr: expected host:port or :port");
    expect_error(MIN "http:\n  debug:\n    addr: ':0'\n", NULL, 6,
                 "http.debug.addr: the port must be between 1 and 65535");
    expect_error(MIN "http:\n  debug:\n    prometheus: {path: metrics}\n", NULL, 6,
                 "http.debug.prometheus.path: must begin with '/'");
    expect_error(MIN "http:\n  debug:\n    prometheus: {path: /debug/vars}\n", NULL, 6,
                 "http.debug.prometheus.path: /debug/vars is a page of the debug server already");
    expect_error(MIN "http:\n  headers:\n    X-A: one\n", NULL, 6,
                 "http.headers.X-A: expected a list of strings");
    expect_error(MIN "log:\n  level: verbose\n", NULL, 5,
                 "log.level: expected error, warn, info or debug");
    expect_error(MIN "log:\n  formatter: xml\n", NULL, 5,
                 "log.formatter: expected text, json or logstash");
    expect_error(MIN "storage:\n", NULL, 4, "duplicate key \"storage\"");
}

static void test_unknown_keys(void **state)
{
    expect_error(MIN "colour: blue\n", NULL, 4, "colour: unknown key");
    expect_error("version: 0.1\nstorage:\n  filesystem:\n    rootdir: /x\n", NULL, 4,
                 "storage.filesystem.rootdir: unknown key");
    expect_error(MIN "fastcgi:\n  blobs:\n    turbo: true\n", NULL, 6,
                 "fastcgi.blobs.turbo: unknown key");
    expect_error("version: 0.1\nstorage:\n  inmemory:\n    size: 1\n", NULL, 4,
                 "storage.inmemory.size: unknown key");
    expect_error(MIN "auth:\n  ldap: {}\n", NULL, 5, "auth.ldap: unknown key");
}

static void test_unsupported_keys(void **state)
{
    expect_error(MIN "auth:\n  none: {}\n", NULL, 5, "auth.none: not supported by Wharf yet");
    expect_error("version: 0.1\nstorage:\n  s3:\n    bucket: b\n", NULL, 3,
                 "storage.s3: region: required");
    expect_error("version: 0.1\nstorage:\n  s3:\n    region: r\n    bucket: b\n"
                 "    v4auth: false\n",
                 NULL, 3, "storage.s3: v4auth: false (Signature V2) is not supported by Wharf");
    expect_error("version: 0.1\nstorage:\n  s3:\n    region: r\n    bucket: b\n"
                 "    chunksize: 1000\n",
                 NULL, 6, "storage.s3.chunksize: must be between 5242880 and 5368709120");
    expect_error("version: 0.1\nstorage:\n  s3:\n    region: r\n    bucket: b\n"
                 "    usedualstack: true\n",
                 NULL, 6, "storage.s3.usedualstack: not supported by Wharf yet");
    expect_error(MIN "http:\n  tls:\n    certificate: /c\n", NULL, 5,
                 "http.tls: TLS belongs to the web server in front of Wharf: set it in nginx "
                 "(nginx-conf/wharf-site.conf) or Apache (apache-conf/wharf-vhost.conf)");
    expect_error(MIN "loglevel: debug\n", NULL, 4,
                 "loglevel: not supported by Wharf yet (deprecated: use log.level)");
    expect_error(MIN "  cache:\n    blobdescriptorsize: 10000\n", NULL, 5,
                 "storage.cache.blobdescriptorsize: not supported by Wharf yet");
    expect_error(MIN "  cache:\n    blobdescriptor: memcached\n", NULL, 5,
                 "storage.cache.blobdescriptor: expected inmemory or redis");
    expect_error(MIN "redis:\n  tls:\n    enabled: true\n", NULL, 5,
                 "redis.tls: not supported by Wharf yet");
    expect_error(MIN "redis:\n  dialtimeout: soon\n", NULL, 5,
                 "redis.dialtimeout: expected a duration such as \"10ms\" or \"1s\"");
    expect_error(MIN "reporting:\n  bugsnag: {}\n", NULL, 4,
                 "reporting: not supported by Wharf yet");
    expect_error(MIN "middleware:\n  registry: []\n", NULL, 5,
                 "middleware.registry: not supported by Wharf yet");
    expect_error(MIN "proxy:\n  remoteurl: ftp://x\n", NULL, 5,
                 "proxy.remoteurl: expected an http:// or https:// URL");
}

/* health: the reference's checks and defaults (app.go RegisterHealthChecks) */
static void test_health(void **state)
{
    struct config *c = load_ok(MIN, NULL);
    assert_false(config_health_active(c));
    assert_false(c->health_sd_enabled);
    assert_int_equal(c->health_sd_interval, 10000);
    assert_int_equal(c->health_sd_threshold, 0);
    config_free(c);
    c = load_ok(MIN
                "health:\n  storagedriver: {enabled: true, interval: 0s, threshold: 3}\n"
                "  file:\n    - file: /run/drain\n"
                "  http:\n    - {uri: 'http://127.0.0.1:1/x', headers: {x-a: [b]}}\n"
                "  tcp:\n    - {addr: '[::1]:6379', timeout: 3s, interval: 250ms, threshold: 2}\n",
                NULL);
    assert_true(config_health_active(c));
    assert_int_equal(c->health_sd_interval, 10000); /* 0: the default */
    assert_int_equal(c->health_sd_threshold, 3);
    assert_int_equal(c->nhealth_checks, 3);
    const struct config_health_check *h = c->health_checks;
    assert_int_equal(h[0].kind, HEALTH_FILE);
    assert_string_equal(h[0].target, "/run/drain");
    assert_int_equal(h[0].interval_ms, 10000);
    assert_int_equal(h[1].kind, HEALTH_HTTP);
    assert_int_equal(h[1].statuscode, 200);
    assert_int_equal(h[1].timeout_ms, 0);
    assert_int_equal(h[1].threshold, 0);
    assert_int_equal(h[1].nheaders, 1);
    assert_string_equal(h[1].headers[0].name, "X-A");
    assert_int_equal(h[2].kind, HEALTH_TCP);
    assert_int_equal(h[2].timeout_ms, 3000);
    assert_int_equal(h[2].interval_ms, 250);
    assert_int_equal(h[2].threshold, 2);
    config_free(c);
    /* the environment, as for every key */
    char *env[] = {"REGISTRY_HEALTH_STORAGEDRIVER_ENABLED=true", NULL};
    c = load_ok(MIN, env);
    assert_true(config_health_active(c));
    config_free(c);
    expect_error(MIN "health:\n  file:\n    - interval: 1s\n", NULL, 6,
                 "health.file[0]: file: required");
    expect_error(MIN "health:\n  file:\n    - {file: /a, threshold: 2}\n", NULL, 6,
                 "health.file[0].threshold: unknown key (expected file or interval)");
    expect_error(MIN "health:\n  http:\n    - {uri: 'ftp://x'}\n", NULL, 6,
                 "health.http[0].uri: expected an http:// or https:// URL");
    expect_error(MIN "health:\n  http:\n    - {uri: 'http://x', statuscode: 42}\n", NULL, 6,
                 "health.http[0].statuscode: expected an HTTP status code (100 to 599)");
    expect_error(MIN "health:\n  tcp:\n    - {addr: redis}\n", NULL, 6,
                 "health.tcp[0].addr: expected host:port (a port from 1 to 65535)");
    expect_error(MIN "health:\n  tcp:\n    - {addr: 'a:1', timeout: soon}\n", NULL, 6,
                 "health.tcp[0].timeout: expected a duration such as \"500ms\" or \"10s\"");
    expect_error(MIN "health:\n  tcp:\n    - {addr: 'a:1'}\n    - {addr: 'a:1'}\n", NULL, 7,
                 "health.tcp[1]: \"a:1\" is checked twice");
    expect_error(MIN "health:\n  storagedriver: {enabled: true, threshold: -1}\n", NULL, 5,
                 "health.storagedriver.threshold: must be between 0 and 1000000");
    expect_error(MIN "health:\n  udp: []\n", NULL, 5, "health.udp: unknown key");
}

/* notifications: the reference's endpoint keys and defaults, Wharf's queue */
static void test_notifications(void **state)
{
    struct config *c = load_ok(MIN "notifications:\n  endpoints:\n"
                                   "    - name: a\n      url: http://127.0.0.1:1/x\n"
                                   "    - name: b\n      disabled: true\n"
                                   "      url: https://b.example\n      timeout: 250ms\n",
                               NULL);
    assert_int_equal(c->nendpoints, 2);
    assert_string_equal(c->endpoints[0].name, "a");
    assert_int_equal(c->endpoints[0].timeout_ms, 1000); /* EndpointConfig.defaults */
    assert_int_equal(c->endpoints[0].threshold, 10);
    assert_int_equal(c->endpoints[0].backoff_ms, 1000);
    assert_int_equal(c->endpoints[0].format, NOTIFY_FORMAT_DOCKER);
    assert_int_equal(c->endpoints[1].timeout_ms, 250);
    assert_true(c->endpoints[1].disabled);
    assert_true(config_notify_active(c));
    assert_true(c->notify_fsync);
    assert_non_null(c->notify_queuedir);
    assert_string_equal(c->notify_queuedir, "/var/lib/wharf/events"); /* not filesystem */
    config_free(c);
    /* filesystem: under the root, one directory per node */
    c = load_ok("version: 0.1\nstorage:\n  filesystem: {rootdirectory: /srv/r/}\n", NULL);
    assert_int_equal(strncmp(c->notify_queuedir, "/srv/r/wharf/events/", 20), 0);
    assert_true(strlen(c->notify_queuedir) > 20 && !strchr(c->notify_queuedir + 20, '/'));
    config_free(c);
    c = load_ok(MIN "notifications:\n  endpoints:\n    - {name: a, disabled: true}\n", NULL);
    assert_false(config_notify_active(c));
    config_free(c);
    expect_error(MIN "notifications:\n  endpoints:\n    - url: http://x/\n", NULL, 6,
                 "notifications.endpoints[0]: name: required");
    expect_error(MIN "notifications:\n  endpoints:\n    - name: a\n", NULL, 6,
                 "notifications.endpoints[0]: url: required");
    expect_error(MIN "notifications:\n  endpoints:\n    - {name: a, url: 'ftp://x'}\n", NULL, 6,
                 "notifications.endpoints[0].url: expected an http:// or https:// URL");
    expect_error(MIN "notifications:\n  endpoints:\n    - {name: ../x, url: 'http://x'}\n", NULL, 6,
                 "notifications.endpoints[0]: name: letters, digits, '.', '_' and '-' only (it "
                 "names the endpoint's cursor file in the queue directory)");
    expect_error(MIN "notifications:\n  endpoints:\n    - {name: a, url: 'http://x'}\n"
                     "    - {name: a, url: 'http://y'}\n",
                 NULL, 7, "notifications.endpoints[1]: name \"a\" is listed twice");
    expect_error(MIN "notifications:\n  endpoints:\n    - {name: a, url: 'http://x', "
                     "timeout: soon}\n",
                 NULL, 6,
                 "notifications.endpoints[0].timeout: expected a duration such as \"500ms\" or "
                 "\"1s\"");
    expect_error(MIN "notifications:\n  endpoints:\n    - {name: a, url: 'http://x', "
                     "format: xml}\n",
                 NULL, 6, "notifications.endpoints[0].format: expected docker or cloudevents");
    expect_error(MIN "notifications:\n  endpoints:\n    - {name: a, url: 'http://x', "
                     "retries: 3}\n",
                 NULL, 6,
                 "notifications.endpoints[0].retries: unknown key (expected name, disabled, url, "
                 "headers, timeout, threshold, backoff, ignoredmediatypes, ignore or format)");
}

static void test_version_and_storage_required(void **state)
{
    expect_error("storage:\n  inmemory:\n", NULL, 1, "version: required");
    expect_error("version:\nstorage:\n  inmemory:\n", NULL, 1, "version: required");
    expect_error("", NULL, 1, "version: required");
    expect_error("version: 0.2\nstorage:\n  inmemory:\n", NULL, 1,
                 "version: unsupported version \"0.2\" (expected 0.1)");
    expect_error("version: 0.1\n", NULL, 1,
                 "storage: required: configure exactly one driver, filesystem, inmemory, s3, "
                 "swift, azure, gcs or oss");
    expect_error("version: 0.1\nstorage:\n  delete:\n    enabled: true\n", NULL, 2,
                 "storage: required: configure exactly one driver, filesystem, inmemory, s3, "
                 "swift, azure, gcs or oss");
    expect_error("version: 0.1\nstorage:\n  inmemory:\n  filesystem:\n    rootdirectory: /x\n",
                 NULL, 4,
                 "storage.filesystem: only one storage driver may be configured (filesystem, "
                 "inmemory, s3, swift, azure, gcs or oss)");
    expect_error("- a\n- b\n", NULL, 1, "expected a mapping at the top level");
}

static void test_env_overrides(void **state)
{
    char *env[] = {
        "PATH=/usr/bin",
        "HOME=/root",
        "REGISTRYX=1", /* not REGISTRY_*: ignored */
        "REGISTRY_STORAGE_DELETE_ENABLED=true",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/x",
        "REGISTRY_LOG_LEVEL=debug",
        "REGISTRY_FASTCGI_WORKERS=4",
        "REGISTRY_FASTCGI_BLOBS_ACCEL=nginx",
        "REGISTRY_HTTP_SECRET=from-env",
        "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED=on",
        "REGISTRY_FASTCGI_LIMITS_MANIFESTSIZE=0x100000",
        "REGISTRY_HTTP_DRAINTIMEOUT=2m",
        NULL,
    };
    const char *text = "version: 0.1\n"
                       "log:\n  level: error\n"
                       "storage:\n"
                       "  filesystem:\n    rootdirectory: /data\n"
                       "  delete:\n    enabled: false\n"
                       "http:\n  secret: from-file\n"
                       "fastcgi:\n  workers: 8\n  blobs:\n    accel: apache\n";
    struct config *c = load_ok(text, env);
    assert_int_equal(c->delete_enabled, 1);
    assert_string_equal(c->fs_root, "/x");
    assert_int_equal(c->log_level, LOG_DEBUG);
    assert_int_equal(c->workers, 4);
    assert_int_equal(c->accel, ACCEL_NGINX);
    assert_string_equal(c->http_secret, "from-env");
    assert_int_equal(c->readonly, 1);
    assert_int_equal(c->manifest_max, 0x100000);
    assert_int_equal(c->draintimeout, 120);
    config_free(c);

    /* without the environment the file's values stand */
    c = load_ok(text, NULL);
    assert_int_equal(c->delete_enabled, 0);
    assert_string_equal(c->fs_root, "/data");
    assert_int_equal(c->log_level, LOG_ERROR);
    assert_int_equal(c->workers, 8);
    assert_int_equal(c->accel, ACCEL_APACHE);
    assert_string_equal(c->http_secret, "from-file");
    config_free(c);

    /* YAML 1.1 booleans from the environment; "off" turns the file's true off */
    char *env2[] = {"REGISTRY_STORAGE_DELETE_ENABLED=off", "REGISTRY_HTTP_RELATIVEURLS=Yes", NULL};
    c = load_ok(MIN "  delete:\n    enabled: true\n", env2);
    assert_int_equal(c->delete_enabled, 0);
    assert_int_equal(c->relativeurls, 1);
    config_free(c);
}

static void test_env_errors(void **state)
{
    char *e1[] = {"REGISTRY_FOO_BAR=1", NULL};
    expect_error(MIN, e1, 0, "[env] REGISTRY_FOO_BAR: unknown key");
    char *e2[] = {"REGISTRY_STORAGE_DELETE_ENABLED=maybe", NULL};
    expect_error(MIN, e2, 0, "[env] REGISTRY_STORAGE_DELETE_ENABLED: expected a boolean");
    char *e3[] = {"REGISTRY_FASTCGI_WORKERS=lots", NULL};
    expect_error(MIN, e3, 0, "[env] REGISTRY_FASTCGI_WORKERS: " WORKERS_TYPE);
    char *e4[] = {"REGISTRY_FASTCGI_WORKERS=0", NULL};
    expect_error(MIN, e4, 0, "[env] REGISTRY_FASTCGI_WORKERS: must be between 1 and 256");
    char *e5[] = {"REGISTRY_AUTH_HTPASSWD_PATH=/etc/htpasswd", NULL};
    expect_error(MIN, e5, 0, "[env] REGISTRY_AUTH_HTPASSWD_PATH: auth.htpasswd: realm: required");
    char *e6[] = {"REGISTRY_REDIS_DB=many", NULL};
    expect_error(MIN, e6, 0, "[env] REGISTRY_REDIS_DB: expected an integer");
    char *e7[] = {"REGISTRY_FASTCGI_WORKERS_MAXIMUM=3", NULL};
    expect_error(MIN, e7, 0, "[env] REGISTRY_FASTCGI_WORKERS_MAXIMUM: unknown key");
    char *e8[] = {"REGISTRY_HTTP={addr: x, colour: blue}", NULL};
    expect_error(MIN, e8, 0, "[env] REGISTRY_HTTP: http.colour: unknown key");
    char *e9[] = {"REGISTRY_FASTCGI_BLOBS_ACCEL=lighttpd", NULL};
    expect_error(MIN, e9, 0, "[env] REGISTRY_FASTCGI_BLOBS_ACCEL: expected none, nginx or apache");
    char *e10[] = {"REGISTRY_HTTP_SECRET=*ref", NULL};
    expect_error(MIN, e10, 0, "[env] REGISTRY_HTTP_SECRET: YAML aliases are not supported");
}

static void test_env_only(void **state)
{
    char err[512];
    struct config *c = NULL;

    char *e1[] = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/srv/r", "REGISTRY_FASTCGI_WORKERS=2",
                  NULL};
    c = load_ok(NULL, e1);
    assert_null(c->path);
    assert_int_equal(c->storage, STORAGE_FILESYSTEM);
    assert_string_equal(c->fs_root, "/srv/r");
    assert_int_equal(c->workers, 2);
    assert_int_equal(c->log_level, LOG_INFO);
    config_free(c);

    char *e2[] = {"REGISTRY_STORAGE=inmemory", NULL};
    c = load_ok(NULL, e2);
    assert_int_equal(c->storage, STORAGE_INMEMORY);
    config_free(c);

    char *e3[] = {"HOME=/root", NULL};
    assert_int_equal(config_load(NULL, e3, &c, err, sizeof(err)), WERR_INVALID);
    assert_null(c);
    assert_string_equal(err, "[env] storage: required: configure exactly one driver, filesystem, "
                             "inmemory, s3, swift, azure, gcs or oss");
    assert_int_equal(config_load(NULL, NULL, &c, err, sizeof(err)), WERR_INVALID);
    assert_null(c);
}

/* REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY over a file that configures
 * inmemory adds a second driver, as in the reference (which panics): refused.
 * REGISTRY_STORAGE=filesystem replaces the section first (lexical order, even
 * though it comes later in envp), then the root directory applies. */
static void test_env_storage_switch(void **state)
{
    char *e1[] = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/x", NULL};
    expect_error(
        MIN, e1, 0,
        "[env] REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: storage.filesystem: only one "
        "storage driver may be configured (filesystem, inmemory, s3, swift, azure, gcs or oss)");

    char *e2[] = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/x", "REGISTRY_STORAGE=filesystem",
                  NULL};
    struct config *c = load_ok(MIN "  delete:\n    enabled: true\n", e2);
    assert_int_equal(c->storage, STORAGE_FILESYSTEM);
    assert_string_equal(c->fs_root, "/x");
    assert_int_equal(c->delete_enabled, 0); /* the whole section was replaced */
    config_free(c);

    char *e3[] = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=relative/dir", NULL};
    expect_error(NULL, e3, 0,
                 "[env] REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: expected an absolute path");
}

static char *dump_of(const struct config *c)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    assert_non_null(f);
    config_dump(c, f);
    assert_int_equal(fclose(f), 0);
    return s;
}

/* storage.s3 and redis (issue 7): the reference's keys, defaults, secrets masked */
static void test_s3_and_redis(void **state)
{
    struct config *c =
        load_ok("version: 0.1\nstorage:\n  s3:\n    accesskey: AK\n"
                "    secretkey: s3-secret-value\n    region: us-east-1\n"
                "    regionendpoint: http://127.0.0.1:9000\n    bucket: reg\n"
                "    rootdirectory: /r/x\n    secure: false\n"
                "    chunksize: 5242880\n    multipartcopythresholdsize: 0\n"
                "    storageclass: REDUCED_REDUNDANCY\n    loglevel: debug\n"
                "  cache:\n    blobdescriptor: redis\n"
                "redis:\n  addr: 127.0.0.1:6379\n  password: redis-secret-value\n"
                "  db: 3\n  dialtimeout: 10ms\n  readtimeout: 2s\n"
                "  pool:\n    maxidle: 4\n    maxactive: 16\n    idletimeout: 300s\n",
                NULL);
    assert_int_equal(c->storage, STORAGE_S3);
    assert_string_equal(c->s3_accesskey, "AK");
    assert_string_equal(c->s3_regionendpoint, "http://127.0.0.1:9000");
    assert_string_equal(c->s3_rootdirectory, "/r/x");
    assert_int_equal(c->s3_secure, 0);
    assert_int_equal(c->s3_v4auth, 1);
    assert_int_equal(c->s3_chunksize, 5242880);
    assert_int_equal(c->s3_copythreshold, 0);
    assert_int_equal(c->s3_copychunksize, 32L << 20); /* default */
    assert_int_equal(c->s3_copymaxconcurrency, 100);
    assert_int_equal(c->blobdescriptor_redis, 1);
    assert_int_equal(c->blobdescriptor_inmemory, 0);
    assert_int_equal(c->redis_db, 3);
    assert_int_equal(c->redis_dialtimeout, 10);
    assert_int_equal(c->redis_readtimeout, 2000);
    assert_int_equal(c->redis_maxactive, 16);
    assert_int_equal(c->redis_idletimeout, 300);
    char *d = dump_of(c);
    assert_null(strstr(d, "s3-secret-value"));
    assert_null(strstr(d, "redis-secret-value"));
    assert_non_null(strstr(d, "    secretkey: \"*****\"\n"));
    assert_non_null(strstr(d, "    blobdescriptor: redis\n"));
    assert_non_null(strstr(d, "  dialtimeout: 10ms\n"));
    config_free(c);
    /* the dump loads back to the same configuration */
    const char *p = write_cfg(d);
    char err[512];
    assert_int_equal(config_load(p, NULL, &c, err, sizeof(err)), 0);
    char *d2 = dump_of(c);
    assert_string_equal(d, d2);
    free(d2);
    free(d);
    config_free(c);
    /* environment overrides reach the section */
    char *env[] = {"REGISTRY_STORAGE_S3_BUCKET=other", NULL};
    c = load_ok("version: 0.1\nstorage:\n  s3:\n    region: r\n    bucket: b\n", env);
    assert_string_equal(c->s3_bucket, "other");
    assert_int_equal(c->s3_secure, 1);
    config_free(c);
    expect_error("version: 0.1\nstorage:\n  s3:\n    region: r\n    bucket: b\n"
                 "    storageclass: CHEAP\n",
                 NULL, 3,
                 "storage.s3: storageclass: expected STANDARD, REDUCED_REDUNDANCY, STANDARD_IA, "
                 "ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR or NONE");
}

/* Configurations that together use every key the schema accepts: one per
 * choice that excludes the others (a storage driver, an auth method). */
static const char *const every_key[] = {
    /* builds (issue 18) */
    "version: 0.1\nstorage:\n  inmemory: {}\nbuilds:\n  workdir: /tmp/wb\n  concurrency: 2\n"
    "  timeout: 10m\n  registry: 'registry.example:443'\n  tlsverify: false\n"
    "  username: builder\n  password: builds-pw\n  keep: 7\n  sources:\n"
    "    - name: app\n      git: 'https://git.example/app.git'\n"
    "      secret: every-key-secret-0123\n      repository: team/app\n"
    "      dockerfile: docker/Dockerfile\n      context: docker\n      rules:\n"
    "        - {branch: main, tag: latest}\n        - {tag: '^v(.*)$', tag_template: '{1}'}\n"
    "        - {tag: '^rel-'}\n      args: {VERSION: '1', OTHER: two}\n",

    "version: 0.1\n"
    "log:\n  level: debug\n  formatter: json\n  accesslog: {disabled: true}\n"
    "  reportcaller: true\n  fields: {service: registry, port: 5000, \"a b\": 'x\"y'}\n"
    "  hooks:\n    - type: mail\n      levels: [error, panic]\n"
    "      options: {smtp: {addr: 'mail.example:25', username: u, password: hook-pw,\n"
    "        insecure: true}, from: reg@example, to: [ops@example, dev@example]}\n"
    "    - {type: mail, disabled: true}\n"
    "storage:\n  filesystem: {rootdirectory: /srv/reg, maxthreads: 50}\n"
    "  delete: {enabled: true}\n  redirect: {disable: true}\n"
    "  cache: {blobdescriptor: inmemory}\n"
    "  maintenance:\n"
    "    uploadpurging: {enabled: true, age: 100h, interval: 2h, dryrun: true}\n"
    "    readonly: {enabled: false}\n"
    "    gc: {enabled: true, interval: 12h, graceperiod: 2h, deleteuntagged: true, dryrun: true}\n"
    "http:\n  addr: 127.0.0.1:5000\n  net: tcp\n  prefix: /reg\n  host: https://r.example\n"
    "  secret: every-key-secret\n  relativeurls: true\n  draintimeout: 30s\n"
    "  headers: {X-Content-Type-Options: [nosniff]}\n"
    "  debug: {addr: ':5001', prometheus: {enabled: true, path: /prom}}\n"
    "auth:\n  token: {realm: https://a/t, service: reg, issuer: iss, rootcertbundle: /b.pem,\n"
    "    jwks: /j.json, autoredirect: true, autoredirectpath: /auth/x,\n"
    "    signingalgorithms: [ES256, RS256], leeway: 30s}\n"
    "proxy:\n  remoteurl: https://registry-1.docker.io\n  username: u\n  password: proxy-pw\n"
    "  ttl: 24h\n"
    "  upstreams: [{prefix: ghcr, remoteurl: 'https://ghcr.io', remoteprefix: x,\n"
    "    username: g, password: up-pw, ttl: 1h}]\n"
    "middleware:\n  storage:\n"
    "    - {name: cloudfront, options: {baseurl: d.example, privatekey: /k.pem, keypairid: K,\n"
    "       duration: 20m}}\n"
    "    - {name: redirect, options: {baseurl: 'https://cdn.example'}}\n"
    "fastcgi:\n  listen: unix:/run/w.sock\n  socketmode: '0660'\n"
    "  workers: {min: 2, max: 8, minspare: 2, maxspare: 4, idletimeout: 5s}\n"
    "  backlog: 64\n  maxrequests: 1000\n  directio: true\n  pidfile: /run/w.pid\n"
    "  logfile: /var/log/w.log\n  blobs: {accel: nginx, prefix: /_b/}\n"
    "  limits: {manifestsize: 1048576, namelength: 200, taglength: 100, namecomponents: 10}\n"
    "  uploads: {bodyfiles: true, bodydir: /srv/body}\n"
    "  tokenservice: {path: /auth/token, issuer: iss, service: reg, signingkey: /k.pem,\n"
    "    htpasswd: /h, accessrules: /rules.yml, expiration: 5m, refreshexpiration: 48h}\n"
    "validation:\n  enabled: true\n  disabled: false\n  manifests:\n"
    "    urls: {allow: ['^https://'], deny: ['^http://']}\n"
    "    indexes: {platforms: list, platformlist: [{architecture: amd64, os: linux}]}\n"
    "compatibility:\n  schema1: {enabled: false, signingkeyfile: /s.key}\n"
    "notifications:\n  events: {includereferences: true}\n"
    "  queue: {directory: /srv/events, fsync: false}\n"
    "  endpoints:\n"
    "    - {name: ci, url: 'https://ci.example/hook', headers: {Authorization: [Bearer x]},\n"
    "       timeout: 500ms, threshold: 5, backoff: 2s, ignoredmediatypes: "
    "[application/octet-stream],\n"
    "       ignore: {mediatypes: [a/b], actions: [pull]}, format: cloudevents}\n"
    "    - {name: off, disabled: true}\n"
    "health:\n  storagedriver: {enabled: true, interval: 5s, threshold: 3}\n"
    "  file: [{file: /run/wharf-drain, interval: 2s}]\n"
    "  http: [{uri: 'http://127.0.0.1:8080/ping', headers: {Authorization: [Basic x]},\n"
    "    statuscode: 204, timeout: 3s, interval: 10s, threshold: 2}]\n"
    "  tcp: [{addr: '127.0.0.1:6379', timeout: 1s, interval: 5s, threshold: 3}]\n",

    "version: 0.1\n"
    "storage:\n  s3: {accesskey: AK, secretkey: s3-sk, sessiontoken: s3-st, region: us-east-1,\n"
    "    regionendpoint: 'http://127.0.0.1:9000', forcepathstyle: true, bucket: b,\n"
    "    rootdirectory: /r, encrypt: true, keyid: kms, secure: false, skipverify: true,\n"
    "    v4auth: true, chunksize: 5242880, multipartcopychunksize: 5242880,\n"
    "    multipartcopymaxconcurrency: 4, multipartcopythresholdsize: 0, storageclass: STANDARD,\n"
    "    objectacl: private, useragent: ua, loglevel: debug}\n"
    "  cache: {blobdescriptor: redis}\n"
    "redis: {addr: '127.0.0.1:6379', password: redis-pw, db: 1, dialtimeout: 10ms,\n"
    "  readtimeout: 1s, writetimeout: 2s, pool: {maxidle: 2, maxactive: 8, idletimeout: 60s}}\n"
    "auth:\n  htpasswd: {realm: r, path: /etc/htpasswd}\n",

    "version: 0.1\nstorage:\n  inmemory: {}\nauth:\n  silly: {realm: r, service: s}\n",

    "version: 0.1\nstorage:\n  swift: {authurl: 'http://127.0.0.1:8080/auth/v1.0', username: "
    "test,\n"
    "    password: swift-pw, container: reg, region: RegionOne, tenant: t, tenantid: tid,\n"
    "    domain: d, domainid: did, tenantdomain: td, tenantdomainid: tdid, trustid: tr,\n"
    "    insecureskipverify: true, chunksize: 5242880, prefix: /p, secretkey: tempurl-pw,\n"
    "    accesskey: AUTH_test, authversion: 1, endpointtype: internal,\n"
    "    tempurlcontainerkey: true}\n",

    "version: 0.1\nstorage:\n  azure: {accountname: devstoreaccount1, accountkey: azure-pw,\n"
    "    container: reg, realm: core.windows.net, serviceurl: 'http://127.0.0.1:10000/x',\n"
    "    rootdirectory: /r}\n",

    "version: 0.1\nstorage:\n  gcs: {bucket: b, rootdirectory: /r, chunksize: 5242880,\n"
    "    credentials: {type: service_account, private_key: gcs-pw, client_email: a@b}}\n",

    "version: 0.1\nstorage:\n  gcs: {bucket: b, keyfile: /k.json}\n",

    "version: 0.1\nstorage:\n  oss: {accesskeyid: AK, accesskeysecret: oss-pw, region: "
    "oss-cn-beijing,\n"
    "    endpoint: 'oss.example:9000', internal: true, bucket: b, encrypt: true, secure: false,\n"
    "    chunksize: 5242880, rootdirectory: /r}\n",
};

/* dump_paths: the dotted key paths of a dump, as admin/run.sh reads them (two
 * spaces a level); list items and quoted header names are not keys. */
static size_t dump_paths(const char *dump, char paths[][CONFIG_MAX_PATH], size_t max)
{
    char stack[CONFIG_MAX_DEPTH][64] = {{0}}; /* list items leave levels unset */
    size_t n = 0;
    for (const char *line = dump; *line && n < max;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        size_t sp = strspn(line, " ");
        const char *colon = memchr(line, ':', len);
        if (colon && line[sp] != '-' && line[sp] != '"' && sp / 2 < CONFIG_MAX_DEPTH) {
            size_t d = sp / 2, klen = (size_t)(colon - line) - sp;
            snprintf(stack[d], sizeof stack[d], "%.*s", (int)klen, line + sp);
            paths[n][0] = '\0';
            for (size_t i = 0; i <= d; i++)
                path_append(paths[n], CONFIG_MAX_PATH, stack[i]);
            n++;
        }
        line += len + (eol ? 1 : 0);
    }
    return n;
}

/* check_keys: every key below f (path prefix) is among the dumps' paths */
static void check_keys(const struct field *f, const char *prefix, char (*paths)[CONFIG_MAX_PATH],
                       size_t npaths, size_t *nchecked)
{
    for (const struct field *k = f->kids; k && k->name; k++) {
        char kp[CONFIG_MAX_PATH];
        if (k->kind == K_UNSUPPORTED) continue; /* refused, so never printed */
        path_join(kp, sizeof kp, prefix, k->name);
        size_t i = 0;
        while (i < npaths && strcmp(paths[i], kp))
            i++;
        if (i == npaths) fail_msg("%s: accepted by the schema, missing from config_dump", kp);
        (*nchecked)++;
        if (k->kids) check_keys(k, kp, paths, npaths, nchecked);
    }
}

/* Every key the schema tables accept appears in config_dump's output (in the
 * dump of the configuration choosing its driver or auth method), each of
 * those configurations loads back from its dump unchanged, and (under
 * valgrind, tests/unit/valgrind.sh) each loads and frees without a leak. */
static void test_dump_every_key(void **state)
{
    enum { MAXP = 2048 };
    char(*paths)[CONFIG_MAX_PATH] = calloc(MAXP, CONFIG_MAX_PATH);
    size_t npaths = 0, nchecked = 0;
    assert_non_null(paths);
    for (size_t i = 0; i < sizeof every_key / sizeof every_key[0]; i++) {
        struct config *c = load_ok(every_key[i], NULL);
        char *d = dump_of(c);
        config_free(c);
        assert_null(strstr(d, "-pw")); /* secrets masked */
        assert_null(strstr(d, "every-key-secret"));
        assert_null(strstr(d, "s3-s"));
        npaths += dump_paths(d, paths + npaths, MAXP - npaths);
        char err[512];
        if (config_load(write_cfg(d), NULL, &c, err, sizeof err) != 0) fail_msg("%s\n%s", err, d);
        char *d2 = dump_of(c);
        assert_string_equal(d, d2);
        free(d2);
        free(d);
        config_free(c);
    }
    assert_true(npaths < MAXP);
    check_keys(&config_schema_top, "", paths, npaths, &nchecked);
    print_message("# %zu keys of the schema found in the dumps\n", nchecked);
    assert_true(nchecked > 100); /* the walk did reach the tables */
    free(paths);
}

static void test_dump_masks_secret(void **state)
{
    char *env[] = {"REGISTRY_HTTP_SECRET=env-secret-value", NULL};
    struct config *c = load_ok(
        MIN "http:\n  secret: file-secret-value\n  headers:\n    X-A: [\"q\\\"uote\"]\n", NULL);
    char *d = dump_of(c);
    assert_null(strstr(d, "file-secret-value"));
    assert_non_null(strstr(d, "  secret: \"*****\"\n"));
    assert_non_null(strstr(d, "version: \"0.1\"\n"));
    assert_non_null(strstr(d, "  inmemory: {}\n"));
    assert_non_null(strstr(d, "\n  workers: 1\n")); /* inmemory: one process */
    assert_non_null(strstr(d, "  draintimeout: 60s\n"));
    assert_non_null(strstr(d, "    \"X-A\":\n      - \"q\\\"uote\"\n"));
    config_free(c);

    /* the dump loads back to the same configuration */
    const char *p = write_cfg(d);
    char err[512];
    assert_int_equal(config_load(p, NULL, &c, err, sizeof(err)), 0);
    char *d2 = dump_of(c);
    assert_string_equal(d, d2);
    free(d2);
    config_free(c);
    free(d);

    c = load_ok(MIN, env);
    d = dump_of(c);
    assert_null(strstr(d, "env-secret-value"));
    assert_non_null(strstr(d, "\"*****\""));
    free(d);
    config_free(c);

    c = load_ok(MIN, NULL);
    d = dump_of(c);
    assert_non_null(strstr(d, "  secret: \"\"\n"));
    assert_null(strstr(d, "rootdirectory"));
    free(d);
    config_free(c);
}

static void test_headers(void **state)
{
    struct config *c = load_ok(MIN "http:\n"
                                   "  headers:\n"
                                   "    x-frame-options: [DENY]\n"
                                   "    Cache-Control:\n"
                                   "      - no-store\n"
                                   "      - private\n"
                                   "    A-Empty: []\n",
                               NULL);
    assert_int_equal(c->nheaders, 3);
    assert_string_equal(c->headers[0].name, "X-Frame-Options");
    assert_string_equal(c->headers[0].values[0], "DENY");
    assert_string_equal(c->headers[1].name, "Cache-Control");
    assert_int_equal(c->headers[1].nvalues, 2);
    assert_string_equal(c->headers[1].values[0], "no-store");
    assert_string_equal(c->headers[1].values[1], "private");
    assert_string_equal(c->headers[2].name, "A-Empty");
    assert_int_equal(c->headers[2].nvalues, 0);
    config_free(c);

    /* one header from the environment replaces the file's, others stay */
    char *env[] = {"REGISTRY_HTTP_HEADERS_X-FRAME-OPTIONS=[SAMEORIGIN, DENY]",
                   "REGISTRY_HTTP_HEADERS_X-NEW=[yes]", NULL};
    c = load_ok(MIN "http:\n  headers:\n    X-Frame-Options: [DENY]\n    X-Other: [1]\n", env);
    assert_int_equal(c->nheaders, 3);
    assert_string_equal(c->headers[0].name, "X-Frame-Options");
    assert_int_equal(c->headers[0].nvalues, 2);
    assert_string_equal(c->headers[0].values[0], "SAMEORIGIN");
    assert_string_equal(c->headers[1].name, "X-Other");
    assert_string_equal(c->headers[1].values[0], "1");
    assert_string_equal(c->headers[2].name, "X-New");
    assert_string_equal(c->headers[2].values[0], "yes");
    config_free(c);

    expect_error(MIN "http:\n  headers:\n    \"Bad Name\": [x]\n", NULL, 6,
                 "http.headers.Bad Name: invalid header name");
    expect_error(MIN "http:\n  headers:\n    X-A: [\"a\\r\\nX-Evil: 1\"]\n", NULL, 6,
                 "http.headers.X-A: control character in a header value");
    expect_error(MIN "http:\n  headers:\n    X-A: [a]\n    x-a: [b]\n", NULL, 7,
                 "http.headers.x-a: duplicate header");
}

static void test_limits(void **state)
{
    struct config *c = load_ok(MIN "fastcgi:\n  limits:\n    manifestsize: 67108864\n"
                                   "    namelength: 1\n    taglength: 128\n",
                               NULL);
    assert_int_equal(c->manifest_max, 64 * 1024 * 1024);
    assert_int_equal(c->name_max, 1);
    assert_int_equal(c->tag_max, 128);
    config_free(c);
    expect_error(MIN "fastcgi:\n  limits:\n    manifestsize: 67108865\n", NULL, 6,
                 "fastcgi.limits.manifestsize: must be between 1 and 67108864");
    expect_error(MIN "fastcgi:\n  limits:\n    namelength: 0\n", NULL, 6,
                 "fastcgi.limits.namelength: must be between 1 and 4096");
    expect_error(MIN "fastcgi:\n  limits:\n    taglength: -5\n", NULL, 6,
                 "fastcgi.limits.taglength: must be between 1 and 128");
}

/* fastcgi.workers: N is static (min = max); a mapping is a dynamic pool whose
 * missing keys take defaults clamped to the keys given; cross-key errors
 * name the key and its line. */
static void test_workers(void **state)
{
    struct config *c = load_ok(MIN "fastcgi:\n  workers: 8\n", NULL);
    assert_int_equal(c->workers, 8);
    assert_int_equal(c->workers_max, 8);
    char *d0 = dump_of(c);
    assert_non_null(strstr(d0, "\n  workers: 8\n  backlog: 1024\n"));
    free(d0);
    config_free(c);
    c = load_ok(MIN "fastcgi:\n  workers: {min: 2, max: 32, minspare: 3, maxspare: 6, "
                    "idletimeout: 1m}\n",
                NULL);
    assert_int_equal(c->workers, 2);
    assert_int_equal(c->workers_max, 32);
    assert_int_equal(c->workers_minspare, 3);
    assert_int_equal(c->workers_maxspare, 6);
    assert_int_equal(c->workers_idletimeout, 60);
    char *d = dump_of(c);
    assert_non_null(strstr(d, "\n  workers:\n    min: 2\n    max: 32\n    minspare: 3\n"
                              "    maxspare: 6\n    idletimeout: 60s\n"));
    free(d);
    config_free(c);
    c = load_ok(MIN "fastcgi:\n  workers: {}\n", NULL); /* all defaults */
    assert_int_equal(c->workers, 4);
    assert_int_equal(c->workers_max, 64);
    config_free(c);
    c = load_ok(MIN "fastcgi:\n  workers:\n    max: 2\n", NULL); /* defaults clamped */
    assert_int_equal(c->workers, 2);
    assert_int_equal(c->workers_max, 2);
    assert_int_equal(c->workers_minspare, 2);
    assert_int_equal(c->workers_maxspare, 2);
    config_free(c);
    c = load_ok(MIN "fastcgi:\n  workers:\n    min: 100\n", NULL); /* max follows min */
    assert_int_equal(c->workers, 100);
    assert_int_equal(c->workers_max, 100);
    config_free(c);
    c = load_ok(MIN "fastcgi:\n  workers:\n    minspare: 12\n", NULL); /* maxspare follows */
    assert_int_equal(c->workers_minspare, 12);
    assert_int_equal(c->workers_maxspare, 12);
    config_free(c);
    /* the environment: a scalar for a static pool, or one key of the mapping */
    char *e1[] = {"REGISTRY_FASTCGI_WORKERS=5", NULL};
    c = load_ok(MIN "fastcgi:\n  workers: {min: 1, max: 9}\n", e1);
    assert_int_equal(c->workers, 5);
    assert_int_equal(c->workers_max, 5);
    config_free(c);
    char *e2[] = {"REGISTRY_FASTCGI_WORKERS_MAX=9", NULL};
    c = load_ok(MIN, e2);
    assert_int_equal(c->workers, 4);
    assert_int_equal(c->workers_max, 9);
    config_free(c);
    c = load_ok("version: 0.1\nstorage:\n  filesystem: {rootdirectory: /r}\n", NULL);
    char *d1 = dump_of(c);
    assert_non_null(strstr(d1, "\n  workers:\n    min: 4\n    max: 64\n    minspare: 2\n"
                               "    maxspare: 8\n    idletimeout: 10s\n"));
    free(d1);
    config_free(c);
    /* inmemory: one process unless fastcgi.workers says otherwise */
    c = load_ok("version: 0.1\nstorage:\n  inmemory: {}\n", NULL);
    assert_int_equal(c->workers, 1);
    assert_int_equal(c->workers_max, 1);
    config_free(c);
    char *e3[] = {"REGISTRY_STORAGE=inmemory", NULL};
    c = load_ok(MIN, e3);
    assert_int_equal(c->workers_max, 1);
    config_free(c);
    c = load_ok("version: 0.1\nstorage:\n  inmemory: {}\nfastcgi:\n  workers: 3\n", NULL);
    assert_int_equal(c->workers_max, 3);
    config_free(c);

    expect_error(MIN "fastcgi:\n  workers:\n    min: 8\n    max: 4\n", NULL, 6,
                 "fastcgi.workers.min: 8 is above max (4)");
    expect_error(MIN "fastcgi:\n  workers:\n    max: 4\n    maxspare: 5\n", NULL, 7,
                 "fastcgi.workers.maxspare: 5 is above max (4)");
    expect_error(MIN "fastcgi:\n  workers:\n    minspare: 5\n    maxspare: 3\n", NULL, 6,
                 "fastcgi.workers.minspare: 5 is above maxspare (3)");
    expect_error(MIN "fastcgi:\n  workers:\n    max: 300\n", NULL, 6,
                 "fastcgi.workers.max: must be between 1 and 256");
    expect_error(MIN "fastcgi:\n  workers:\n    minspare: 0\n", NULL, 6,
                 "fastcgi.workers.minspare: must be between 1 and 256");
    expect_error(MIN "fastcgi:\n  workers:\n    idletimeout: soon\n", NULL, 6,
                 "fastcgi.workers.idletimeout: expected a duration such as \"60s\" or \"1h30m\"");
    expect_error(MIN "fastcgi:\n  workers:\n    spare: 2\n", NULL, 6,
                 "fastcgi.workers.spare: unknown key");
    expect_error(MIN "fastcgi:\n  workers: [1, 2]\n", NULL, 5, "fastcgi.workers: " WORKERS_TYPE);
}

/* fastcgi.uploads (issue 12): body files by default on the filesystem, in
 * <rootdirectory>/wharf/body; off on inmemory and on s3 without a bodydir */
static void test_uploads(void **state)
{
    (void)state;
    struct config *c =
        load_ok("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /srv/r/\n", NULL);
    assert_int_equal(c->bodyfiles, 1);
    assert_string_equal(c->bodydir, "/srv/r/wharf/body");
    config_free(c);
    c = load_ok(MIN, NULL);
    assert_int_equal(c->bodyfiles, 0);
    assert_null(c->bodydir);
    config_free(c);
    c = load_ok(MIN "fastcgi:\n  uploads:\n    bodyfiles: true\n    bodydir: /var/tmp/b/\n", NULL);
    assert_int_equal(c->bodyfiles, 1);
    assert_string_equal(c->bodydir, "/var/tmp/b");
    config_free(c);
    char *env[] = {"REGISTRY_FASTCGI_UPLOADS_BODYFILES=false", NULL};
    c = load_ok("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /srv/r\n", env);
    assert_int_equal(c->bodyfiles, 0);
    assert_string_equal(c->bodydir, "/srv/r/wharf/body");
    config_free(c);
    const char *s3 = "version: 0.1\nstorage:\n  s3:\n    region: r\n    bucket: b\n";
    c = load_ok(s3, NULL);
    assert_int_equal(c->bodyfiles, 0);
    config_free(c);
    char *env2[] = {"REGISTRY_FASTCGI_UPLOADS_BODYDIR=/tmp/wb", NULL};
    c = load_ok(s3, env2);
    assert_int_equal(c->bodyfiles, 1);
    config_free(c);
    expect_error(MIN "fastcgi:\n  uploads:\n    bodyfiles: true\n", NULL, 1,
                 "fastcgi.uploads.bodydir: required with bodyfiles: true when the storage is "
                 "not filesystem");
    expect_error(MIN "fastcgi:\n  uploads:\n    bodydir: tmp\n", NULL, 6,
                 "fastcgi.uploads.bodydir: expected an absolute path");
    expect_error(MIN "fastcgi:\n  uploads:\n    bodydir: /\n", NULL, 1,
                 "fastcgi.uploads.bodydir: must not be /");
}

static void test_bad_values(void **state)
{
    expect_error(MIN "fastcgi:\n  workers: 0\n", NULL, 5,
                 "fastcgi.workers: must be between 1 and 256");
    expect_error(MIN "fastcgi:\n  workers: 257\n", NULL, 5,
                 "fastcgi.workers: must be between 1 and 256");
    expect_error(MIN "fastcgi:\n  blobs:\n    accel: lighttpd\n", NULL, 6,
                 "fastcgi.blobs.accel: expected none, nginx or apache");
    expect_error(MIN "fastcgi:\n  blobs:\n    prefix: /nope\n", NULL, 6,
                 "fastcgi.blobs.prefix: must begin and end with '/'");
    expect_error(MIN "fastcgi:\n  listen: localhost\n", NULL, 5,
                 "fastcgi.listen: expected unix:/path, /path or host:port");
    expect_error(MIN "fastcgi:\n  listen: localhost:99999\n", NULL, 5,
                 "fastcgi.listen: port must be between 1 and 65535");
    expect_error(MIN "fastcgi:\n  listen: unix:relative.sock\n", NULL, 5,
                 "fastcgi.listen: expected unix:/absolute/path");
    expect_error(MIN "fastcgi:\n  socketmode: \"0999\"\n", NULL, 5,
                 "fastcgi.socketmode: expected an octal mode such as 0660");
    expect_error(MIN "fastcgi:\n  maxrequests: -1\n", NULL, 5,
                 "fastcgi.maxrequests: must be between 0 and 9223372036854775807");
    expect_error(MIN "http:\n  prefix: registry\n", NULL, 5, "http.prefix: must begin with '/'");
    expect_error(MIN "http:\n  host: reg.example.com\n", NULL, 5,
                 "http.host: expected an absolute URL (http:// or https://)");
    expect_error(MIN "http:\n  net: udp\n", NULL, 5, "http.net: expected tcp or unix");
    expect_error("version: 0.1\nstorage:\n  filesystem:\n    maxthreads: 10\n", NULL, 4,
                 "storage.filesystem.maxthreads: must be between 25 and 1048576");
    expect_error("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: \"\"\n", NULL, 4,
                 "storage.filesystem.rootdirectory: must not be empty");

    struct config *c = load_ok(MIN "fastcgi:\n  socketmode: 0660\n  listen: /run/w.sock\n", NULL);
    assert_int_equal(c->socket_mode, 0660);
    assert_string_equal(c->listen, "/run/w.sock");
    config_free(c);
    c = load_ok(MIN "fastcgi:\n  socketmode: 0o600\n  listen: \"[::1]:9000\"\n"
                    "http:\n  draintimeout: 1.5s\n",
                NULL);
    assert_int_equal(c->socket_mode, 0600);
    assert_string_equal(c->listen, "[::1]:9000");
    assert_int_equal(c->draintimeout, 2);
    config_free(c);
}

static void test_bounds(void **state)
{
    char err[512];
    struct config *c = NULL;

    /* billion laughs: aliases are refused outright */
    expect_error(MIN "x: &a [lol, lol]\ny: [*a, *a]\n", NULL, 5, "YAML aliases are not supported");
    expect_error(MIN "fastcgi:\n  workers: 1\n  workers: 2\n", NULL, 6,
                 "duplicate key \"workers\"");
    expect_error(MIN "---\na: 1\n---\nb: 2\n", NULL, 4, "only one YAML document is allowed");

    /* nesting depth */
    char deep[4096];
    size_t off = (size_t)snprintf(deep, sizeof(deep), MIN "http: ");
    for (int i = 0; i < 40; i++)
        deep[off++] = '[';
    for (int i = 0; i < 40; i++)
        deep[off++] = ']';
    deep[off++] = '\n';
    deep[off] = '\0';
    expect_error(deep, NULL, 4, "nesting deeper than 32 levels");

    /* size cap: 1 MiB + a bit of comments */
    size_t big = 1024 * 1024 + 10;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memcpy(text, MIN, strlen(MIN));
    memset(text + strlen(MIN), '#', big - strlen(MIN));
    text[big - 1] = '\n';
    text[big] = '\0';
    const char *p = write_cfg(text);
    free(text);
    assert_int_equal(config_load(p, NULL, &c, err, sizeof(err)), WERR_TOOBIG);
    assert_null(c);
    assert_non_null(strstr(err, "larger than 1048576 bytes"));

    char missing[600];
    snprintf(missing, sizeof(missing), "%s/does-not-exist.yml", tmpdir);
    assert_int_equal(config_load(missing, NULL, &c, err, sizeof(err)), WERR_IO);
    assert_null(c);
    assert_non_null(strstr(err, "cannot open"));

    /* a syntax error names the file and line */
    p = write_cfg(MIN "http:\n  addr: [unclosed\n");
    assert_int_equal(config_load(p, NULL, &c, err, sizeof(err)), WERR_INVALID);
    assert_null(c);
    char want[600];
    snprintf(want, sizeof(want), "[%s:", p);
    assert_memory_equal(err, want, strlen(want));
    assert_non_null(strstr(err, "YAML syntax error"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_unsupported_keys),
        cmocka_unit_test(test_version_and_storage_required),
        cmocka_unit_test(test_notifications),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_env_only),
        cmocka_unit_test(test_env_storage_switch),
        cmocka_unit_test(test_dump_masks_secret),
        cmocka_unit_test(test_dump_every_key),
        cmocka_unit_test(test_s3_and_redis),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_uploads),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_workers),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests_name("config", tests, group_setup, group_teardown);
}
