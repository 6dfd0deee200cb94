/* test_handlers.c — the router and every handler in-process, without nginx:
 * requests are built in memory (method, REQUEST_URI, headers, body) through
 * the http_io seam (fcgi/http.h), answered by router_handle over an app on
 * the inmemory or a temporary filesystem driver, serialised by response_send
 * exactly as a worker would, and parsed back. Each check asserts the status,
 * the headers the spec names and the spec's error JSON
 * ({"errors":[{"code","message","detail"}]}).
 *
 * Expectations are the OCI Distribution Spec 1.1's (endpoint table, error
 * codes, "Listing Tags", "Listing Referrers", "Pushing a blob in chunks");
 * where it leaves a choice, Wharf's documented one (docs/api.md), e.g. 400
 * DIGEST_INVALID for a malformed digest and PAGINATION_NUMBER_INVALID for a
 * bad `n`, as the reference registry answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../../fcgi/http.h"
#include "../../fcgi/router.h"
#include "../../handlers/app.h"
#include "../../lib/arena.h"
#include "../../lib/config.h"
#include "../../lib/digest.h"
#include "../../lib/err.h"
#include "../../lib/health.h"
#include "../../lib/jwt.h"
#include "../../lib/log.h"
#include "../../storage/driver.h"
#include "../../storage/manifest.h"
#include "../../storage/paths.h"
#include "../../storage/registry.h"

/* ---- the in-memory transport ------------------------------------------ */

#define MAX_PARAMS 48

struct fake_io {
    const char *key[MAX_PARAMS], *val[MAX_PARAMS];
    size_t n;
    const char *body;
    size_t len, pos;
    struct buf out; /* what response_send wrote */
};

static const char *fio_param(void *ctx, const char *name)
{
    struct fake_io *io = ctx;
    for (size_t i = 0; i < io->n; i++)
        if (!strcmp(io->key[i], name)) return io->val[i];
    return NULL;
}

static size_t fio_param_all(void *ctx, const char *name, const char **vals, size_t max)
{
    struct fake_io *io = ctx;
    size_t k = 0;
    for (size_t i = 0; i < io->n && k < max; i++)
        if (!strcmp(io->key[i], name)) vals[k++] = io->val[i];
    return k;
}

/* the body arrives in small pieces, so every reader loops */
static ssize_t fio_read(void *ctx, void *buf, size_t n)
{
    struct fake_io *io = ctx;
    size_t left = io->len - io->pos;
    if (n > left) n = left;
    if (n > 1000) n = 1000;
    if (n) memcpy(buf, io->body + io->pos, n);
    io->pos += n;
    return (ssize_t)n;
}

static int fio_write(void *ctx, const void *p, size_t n)
{
    struct fake_io *io = ctx;
    return buf_append(&io->out, p, n) == 0 ? 0 : -1;
}

/* ---- fixture: one app, and the last response parsed ---------------------- */

struct fx {
    char dir[64];
    struct config *cfg;
    struct app *app;
    struct arena *ra; /* the request's arena: reset by every request */
    struct arena *ta; /* the test's own strings: lives as long as the fixture */
    const char *auth; /* "Authorization: ..." added to every request, or NULL */
    /* the last request and its response */
    const char *method, *uri;
    int status;
    size_t nh;
    const char *hname[64], *hval[64];
    const char *body;
    size_t body_len;
    struct json_object *json; /* body parsed, or NULL */
    /* token auth */
    EVP_PKEY *key;
    char kid[64];
};

/* param_key: the CGI parameter carrying an HTTP header */
static const char *param_key(struct arena *a, const char *name, size_t n)
{
    char *k = arena_alloc(a, n + 6), *o = k;
    if (!((n == 12 && !strncasecmp(name, "Content-Type", n)) ||
          (n == 14 && !strncasecmp(name, "Content-Length", n)))) {
        memcpy(o, "HTTP_", 5);
        o += 5;
    }
    for (size_t i = 0; i < n; i++)
        *o++ = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    *o = 0;
    return k;
}

/* req: one request through router_handle and response_send. Headers are
 * "Name: value" strings, NULL-terminated; Content-Length is set from len
 * unless a header gives it or "Transfer-Encoding: chunked" is among them. */
static void req(struct fx *f, const char *method, const char *uri, const void *body, size_t len,
                ...)
{
    json_object_put(f->json);
    f->json = NULL;
    arena_reset(f->ra);
    struct arena *a = f->ra;
    struct fake_io io;
    memset(&io, 0, sizeof io);
    buf_init(&io.out, 0);
    io.body = body;
    io.len = len;
#define ADD(k, v)                                                                                  \
    do {                                                                                           \
        assert_true(io.n < MAX_PARAMS);                                                            \
        io.key[io.n] = (k);                                                                        \
        io.val[io.n++] = (v);                                                                      \
    } while (0)
    ADD("REQUEST_METHOD", method);
    ADD("REQUEST_URI", uri);
    ADD("HTTP_HOST", "reg.test");
    ADD("REMOTE_ADDR", "127.0.0.1");
    int has_len = 0, chunked = 0, has_auth = 0;
    va_list ap;
    va_start(ap, len);
    for (const char *h; (h = va_arg(ap, const char *)) != NULL;) {
        const char *colon = strchr(h, ':');
        assert_non_null(colon);
        const char *k = param_key(a, h, (size_t)(colon - h));
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        if (!strcmp(k, "CONTENT_LENGTH")) has_len = 1;
        if (!strcmp(k, "HTTP_TRANSFER_ENCODING")) chunked = 1;
        if (!strcmp(k, "HTTP_AUTHORIZATION")) has_auth = 1;
        ADD(k, arena_strdup(a, v));
    }
    va_end(ap);
    if (!has_len && !chunked) ADD("CONTENT_LENGTH", arena_printf(a, "%zu", len));
    if (f->auth && !has_auth) ADD("HTTP_AUTHORIZATION", f->auth + strlen("Authorization: "));
#undef ADD
    struct http_io hio = {fio_param, fio_param_all, fio_read, fio_write, &io};
    struct request rq;
    struct response rs;
    request_init(&rq, a, &hio);
    response_init(&rs);
    router_handle(f->app, &rq, &rs);
    assert_int_equal(response_send(&rs, &rq), 0);

    /* parse what a web server would receive */
    f->method = arena_strdup(f->ta, method);
    f->uri = arena_strdup(f->ta, uri);
    f->nh = 0;
    assert_non_null(io.out.data);
    char *raw = arena_strndup(a, io.out.data, io.out.len);
    char *end = strstr(raw, "\r\n\r\n");
    assert_non_null(end);
    *end = 0;
    f->body = end + 4;
    f->body_len = io.out.len - (size_t)(end + 4 - raw);
    char *line = raw, *next;
    assert_int_equal(strncmp(line, "Status: ", 8), 0);
    f->status = atoi(line + 8);
    assert_int_equal(f->status, rs.status);
    for (line = strstr(line, "\r\n"); line; line = next) {
        line += 2;
        next = strstr(line, "\r\n");
        if (next) *next = 0;
        char *colon = strstr(line, ": ");
        assert_non_null(colon);
        *colon = 0;
        assert_true(f->nh < 64);
        f->hname[f->nh] = line;
        f->hval[f->nh++] = colon + 2;
    }
    buf_free(&io.out);
    if (f->body_len) f->json = json_tokener_parse(f->body);
}
#define R(...) req(__VA_ARGS__, (const char *)NULL)

static const char *hdr(struct fx *f, const char *name)
{
    for (size_t i = 0; i < f->nh; i++)
        if (!strcasecmp(f->hname[i], name)) return f->hval[i];
    return NULL;
}

/* dump: the last exchange, as TAP comments */
static void dump(struct fx *f)
{
    print_message("# %s %s -> %d\n", f->method, f->uri, f->status);
    for (size_t i = 0; i < f->nh; i++)
        print_message("#   %s: %s\n", f->hname[i], f->hval[i]);
    size_t n = strcspn(f->body, "\n"); /* the first line, bounded */
    if (n) print_message("#   %.*s\n", (int)(n > 600 ? 600 : n), f->body);
}

/* FAIL: the last exchange, then the failure at the test's line */
static void FAIL(struct fx *f, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void FAIL(struct fx *f, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dump(f);
    fail_msg("line %d: %s", line, msg);
}

/* expect_status: the status, and what every response carries */
static void expect_status(struct fx *f, int status, int line)
{
    if (f->status != status) FAIL(f, line, "status %d, want %d", f->status, status);
    if (!hdr(f, "Docker-Distribution-API-Version"))
        FAIL(f, line, "no Docker-Distribution-API-Version");
    const char *cl = hdr(f, "Content-Length");
    if (!strcmp(f->method, "HEAD")) {
        if (f->body_len) FAIL(f, line, "HEAD answered with a body");
    } else if (status != 304 && (!cl || (size_t)atoll(cl) != f->body_len)) {
        FAIL(f, line, "Content-Length %s, body %zu bytes", cl ? cl : "(none)", f->body_len);
    }
}
#define EXPECT_STATUS(f, st) expect_status(f, st, __LINE__)

/* expect_err: status and the spec's error body with code first */
static void expect_err(struct fx *f, int status, const char *code, int line)
{
    expect_status(f, status, line);
    const char *ct = hdr(f, "Content-Type");
    if (!ct || strncmp(ct, "application/json", 16)) FAIL(f, line, "error not JSON");
    if (!strcmp(f->method, "HEAD")) return;
    struct json_object *errs, *e0, *c, *m;
    if (!f->json || !json_object_object_get_ex(f->json, "errors", &errs) ||
        !json_object_is_type(errs, json_type_array) || json_object_array_length(errs) < 1)
        FAIL(f, line, "no errors array");
    e0 = json_object_array_get_idx(errs, 0);
    if (!json_object_object_get_ex(e0, "code", &c) || !json_object_is_type(c, json_type_string))
        FAIL(f, line, "no code");
    if (strcmp(json_object_get_string(c), code))
        FAIL(f, line, "code %s, want %s", json_object_get_string(c), code);
    if (!json_object_object_get_ex(e0, "message", &m) || !json_object_is_type(m, json_type_string))
        FAIL(f, line, "no message");
}
#define EXPECT_ERR(f, st, code) expect_err(f, st, code, __LINE__)

static void expect_hdr(struct fx *f, const char *name, const char *want, int line)
{
    const char *v = hdr(f, name);
    if (!want && v) FAIL(f, line, "unexpected %s: %s", name, v);
    if (want && (!v || strcmp(v, want)))
        FAIL(f, line, "%s: %s, want %s", name, v ? v : "(none)", want);
}
#define EXPECT_HDR(f, name, want) expect_hdr(f, name, want, __LINE__)

/* the path of an absolute Location (Wharf's default) */
static const char *loc_path(struct fx *f)
{
    const char *l = hdr(f, "Location");
    assert_non_null(l);
    const char *pfx = "http://reg.test";
    if (strncmp(l, pfx, strlen(pfx))) FAIL(f, __LINE__, "Location %s", l);
    return arena_strdup(f->ta, l + strlen(pfx));
}

/* json_strings: the array at key of the body, joined with ',' */
static const char *json_strings(struct fx *f, const char *key)
{
    struct json_object *arr;
    if (!f->json || !json_object_object_get_ex(f->json, key, &arr) ||
        !json_object_is_type(arr, json_type_array))
        FAIL(f, __LINE__, "no array %s", key);
    const char *s = "";
    for (size_t i = 0; i < json_object_array_length(arr); i++)
        s = arena_printf(f->ta, "%s%s%s", s, i ? "," : "",
                         json_object_get_string(json_object_array_get_idx(arr, i)));
    return s;
}

/* ---- set-up ---------------------------------------------------------------- */

static const char *write_file(struct fx *f, const char *name, const char *text)
{
    const char *p = arena_printf(f->ta, "%s/%s", f->dir, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return p;
}

/* fx_open: an app over the configuration yaml (@DIR@: the temp dir) */
static int fx_open(void **state, const char *yaml)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[512] = "";
    if (!f) return -1;
    strcpy(f->dir, "/tmp/wharf-test-handlers.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    f->ta = arena_new();
    f->ra = arena_new();
    *state = f;
    /* the caller's extra files (htpasswd, certificates) come first */
    if (strstr(yaml, "@DIR@/htpasswd")) {
        struct crypt_data cd;
        char salt[64];
        memset(&cd, 0, sizeof cd);
        if (!crypt_gensalt_rn("$2y$", 4, NULL, 0, salt, sizeof salt)) return -1;
        write_file(f, "htpasswd", arena_printf(f->ta, "alice:%s\n", crypt_r("secret", salt, &cd)));
    }
    if (strstr(yaml, "@DIR@/bundle.pem")) {
        f->key = EVP_EC_gen("P-256");
        X509 *x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)"token", -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        X509_set_pubkey(x, f->key);
        X509_sign(x, f->key, EVP_sha256());
        FILE *fp = fopen(arena_printf(f->ta, "%s/bundle.pem", f->dir), "w");
        if (!fp) return -1;
        PEM_write_X509(fp, x);
        fclose(fp);
        X509_free(x);
        if (jwt_libtrust_kid(f->key, f->kid, sizeof f->kid) != 0) return -1;
        if (strstr(yaml, "@DIR@/token.key")) { /* the token service signs with it */
            fp = fopen(arena_printf(f->ta, "%s/token.key", f->dir), "w");
            if (!fp) return -1;
            PEM_write_PrivateKey(fp, f->key, NULL, NULL, 0, NULL, NULL);
            fclose(fp);
        }
    }
    const char *text = "", *p = yaml, *at;
    while ((at = strstr(p, "@DIR@")) != NULL) {
        text = arena_printf(f->ta, "%s%.*s%s", text, (int)(at - p), p, f->dir);
        p = at + 5;
    }
    text = arena_printf(f->ta, "%s%s", text, p);
    const char *path = write_file(f, "config.yml", text);
    if (config_load(path, NULL, &f->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    if (app_new(f->cfg, &f->app, err, sizeof err) != 0) {
        fprintf(stderr, "app: %s\n", err);
        return -1;
    }
    return 0;
}

static int fx_close(void **state)
{
    struct fx *f = *state;
    if (!f) return 0;
    json_object_put(f->json);
    app_free(f->app);
    config_free(f->cfg);
    arena_free(f->ra);
    arena_free(f->ta);
    EVP_PKEY_free(f->key);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

#define LIMITS                                                                                     \
    "fastcgi:\n"                                                                                   \
    "  limits:\n"                                                                                  \
    "    manifestsize: 4096\n"
static int setup_mem(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  inmemory:\n"
                          "  delete:\n"
                          "    enabled: true\n" LIMITS);
}
static int setup_fs(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  filesystem:\n"
                          "    rootdirectory: @DIR@/root\n"
                          "  delete:\n"
                          "    enabled: true\n" LIMITS);
}
static int setup_fs_nginx(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  filesystem:\n"
                          "    rootdirectory: @DIR@/root\n"
                          "fastcgi:\n"
                          "  blobs:\n"
                          "    accel: nginx\n");
}
static int setup_fs_apache(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  filesystem:\n"
                          "    rootdirectory: @DIR@/root\n"
                          "fastcgi:\n"
                          "  blobs:\n"
                          "    accel: apache\n");
}
/* a mirror of an upstream that answers nothing (port 1) */
static int setup_mirror(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  filesystem:\n"
                          "    rootdirectory: @DIR@/root\n"
                          "proxy:\n"
                          "  remoteurl: http://127.0.0.1:1\n" LIMITS);
}
static int setup_nodelete(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  inmemory:\n" LIMITS);
}
static int setup_readonly(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  inmemory:\n"
                          "  delete:\n"
                          "    enabled: true\n"
                          "  maintenance:\n"
                          "    readonly:\n"
                          "      enabled: true\n");
}
/* notifications on (an endpoint), the journal in @DIR@/events, as alice */
static int setup_events(void **state)
{
    int rc = fx_open(state, "version: 0.1\n"
                            "storage:\n"
                            "  filesystem:\n"
                            "    rootdirectory: @DIR@/root\n"
                            "  delete:\n"
                            "    enabled: true\n"
                            "auth:\n"
                            "  htpasswd:\n"
                            "    realm: wharf-test\n"
                            "    path: @DIR@/htpasswd\n"
                            "notifications:\n"
                            "  events:\n"
                            "    includereferences: true\n"
                            "  endpoints:\n"
                            "    - name: sink\n"
                            "      url: http://127.0.0.1:9/events\n"
                            "  queue:\n"
                            "    directory: @DIR@/events\n");
    if (rc == 0) ((struct fx *)*state)->auth = "Authorization: Basic YWxpY2U6c2VjcmV0";
    return rc;
}
static int setup_htpasswd(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  inmemory:\n"
                          "auth:\n"
                          "  htpasswd:\n"
                          "    realm: wharf-test\n"
                          "    path: @DIR@/htpasswd\n");
}
static int setup_token(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  inmemory:\n"
                          "  delete:\n"
                          "    enabled: true\n"
                          "auth:\n"
                          "  token:\n"
                          "    realm: https://auth.test/token\n"
                          "    service: reg.test\n"
                          "    issuer: test-issuer\n"
                          "    rootcertbundle: @DIR@/bundle.pem\n");
}

static int setup_tokensvc(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  inmemory:\n"
                          "auth:\n"
                          "  token:\n"
                          "    realm: https://auth.test/token\n"
                          "    service: reg.test\n"
                          "    issuer: test-issuer\n"
                          "    rootcertbundle: @DIR@/bundle.pem\n"
                          "fastcgi:\n"
                          "  tokenservice:\n"
                          "    issuer: test-issuer\n"
                          "    service: reg.test\n"
                          "    signingkey: @DIR@/token.key\n"
                          "    htpasswd: @DIR@/htpasswd\n");
}

/* ---- content helpers (through the API itself) ------------------------------- */

#define ZERO_DIGEST "sha256:0000000000000000000000000000000000000000000000000000000000000000"
#define UUID0 "00000000-0000-4000-8000-000000000000"

static const char *digest_str(struct fx *f, const void *p, size_t n)
{
    char d[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, p, n, d);
    return arena_strdup(f->ta, d);
}

/* push_blob: monolithic POST ?digest= (201) */
static const char *push_blob(struct fx *f, const char *repo, const char *data)
{
    const char *d = digest_str(f, data, strlen(data));
    R(f, "POST", arena_printf(f->ta, "/v2/%s/blobs/uploads/?digest=%s", repo, d), data,
      strlen(data), "Content-Type: application/octet-stream");
    EXPECT_STATUS(f, 201);
    EXPECT_HDR(f, "Docker-Content-Digest", d);
    return d;
}

#define CONFIG_BLOB "{\"architecture\":\"amd64\",\"os\":\"linux\"}"
#define LAYER_BLOB "layer bytes"

/* image: an OCI image manifest over CONFIG_BLOB and LAYER_BLOB (pushed to
 * repo), with a subject and an artifactType when given */
static const char *image(struct fx *f, const char *repo, const char *subject, size_t subject_size,
                         const char *atype)
{
    const char *c = push_blob(f, repo, CONFIG_BLOB), *l = push_blob(f, repo, LAYER_BLOB);
    return arena_printf(
        f->ta,
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",%s%s%s"
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
        "\"size\":%zu},"
        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\","
        "\"size\":%zu}]%s%s%s}",
        atype ? "\"artifactType\":\"" : "", atype ? atype : "", atype ? "\"," : "", c,
        strlen(CONFIG_BLOB), l, strlen(LAYER_BLOB),
        subject ? ",\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" : "",
        subject ? subject : "",
        subject ? arena_printf(f->ta, "\",\"size\":%zu}", subject_size) : "");
}

/* put_manifest: PUT (201), returns its digest */
static const char *put_manifest(struct fx *f, const char *repo, const char *ref, const char *body)
{
    R(f, "PUT", arena_printf(f->ta, "/v2/%s/manifests/%s", repo, ref), body, strlen(body),
      "Content-Type: " MT_OCI_MANIFEST);
    EXPECT_STATUS(f, 201);
    const char *d = digest_str(f, body, strlen(body));
    EXPECT_HDR(f, "Docker-Content-Digest", d);
    assert_string_equal(loc_path(f), arena_printf(f->ta, "/v2/%s/manifests/%s", repo, d));
    return d;
}

/* ---- routes ------------------------------------------------------------------ */

static void test_base_and_unknown_routes(void **state)
{
    struct fx *f = *state;
    R(f, "GET", "/v2/", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(f->body, "{}");
    EXPECT_HDR(f, "Docker-Distribution-API-Version", "registry/2.0");
    R(f, "HEAD", "/v2/", NULL, 0);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "Content-Length", "2");
    R(f, "GET", "/v2", NULL, 0);
    EXPECT_STATUS(f, 200);

    /* not an endpoint of the spec's table: 404, and the JSON body (if any)
     * uses a code of the spec's list */
    static const char *const unknown[] = {
        "/",
        "/v1/",
        "/v2/r",
        "/v2/r/",
        "/v2/r/tags",
        "/v2/r/tags/list/x",
        "/v2/r/manifests/",
        "/v2/r/blobs/",
        "/v2/r/referrers/",
        "/v2/r/unknown/x",
        "/v3/r/tags/list",
        "/v2/_catalog/x",
        "/v2/r/manifests/a/b/c/d",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        R(f, "GET", unknown[i], NULL, 0);
        EXPECT_ERR(f, 404, "UNSUPPORTED");
    }
}

/* every method the spec's table does not list for a route: 405 UNSUPPORTED
 * with Allow naming the methods that are (RFC 9110 15.5.6: MUST) */
static void test_methods_not_allowed(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *method, *uri, *allow;
    } cases[] = {
        {"POST", "/v2/", "GET, HEAD"},
        {"DELETE", "/v2/", "GET, HEAD"},
        {"PUT", "/v2/_catalog", "GET"},
        {"HEAD", "/v2/_catalog", "GET"},
        {"POST", "/v2/r/tags/list", "GET"},
        {"DELETE", "/v2/r/tags/list", "GET"},
        {"POST", "/v2/r/manifests/t", "GET, HEAD, PUT, DELETE"},
        {"PATCH", "/v2/r/manifests/t", "GET, HEAD, PUT, DELETE"},
        {"OPTIONS", "/v2/r/manifests/t", "GET, HEAD, PUT, DELETE"},
        {"POST", "/v2/r/blobs/" ZERO_DIGEST, "GET, HEAD, DELETE"},
        {"PUT", "/v2/r/blobs/" ZERO_DIGEST, "GET, HEAD, DELETE"},
        {"PATCH", "/v2/r/blobs/" ZERO_DIGEST, "GET, HEAD, DELETE"},
        {"GET", "/v2/r/blobs/uploads/", "POST"},
        {"PUT", "/v2/r/blobs/uploads/", "POST"},
        {"PATCH", "/v2/r/blobs/uploads/", "POST"},
        {"DELETE", "/v2/r/blobs/uploads/", "POST"},
        {"POST", "/v2/r/blobs/uploads/" UUID0, "GET, PATCH, PUT, DELETE"},
        {"HEAD", "/v2/r/blobs/uploads/" UUID0, "GET, PATCH, PUT, DELETE"},
        {"POST", "/v2/r/referrers/" ZERO_DIGEST, "GET"},
        {"DELETE", "/v2/r/referrers/" ZERO_DIGEST, "GET"},
        {"BREW", "/v2/r/tags/list", "GET"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        R(f, cases[i].method, cases[i].uri, NULL, 0);
        EXPECT_ERR(f, 405, "UNSUPPORTED");
        EXPECT_HDR(f, "Allow", cases[i].allow);
    }
}

/* ---- name and reference grammar ---------------------------------------------- */

static void test_name_grammar(void **state)
{
    struct fx *f = *state;
    char longname[300], deep[200] = "";
    memset(longname, 'a', 256);
    longname[256] = 0;
    for (int i = 0; i < 33; i++)
        strcat(deep, i ? "/c" : "c");
    const char *bad[] = {
        "Upper",  "a..b", "-a",  "a-",    "a/",  "a//b",      "_a",     "a%2fb", "a%2Fb",
        "a/../b", ".",    "a b", "a%00b", "a:b", "__catalog", longname, deep,
    };
    const char *routes[][2] = {
        {"GET", "/tags/list"},
        {"GET", "/manifests/latest"},
        {"HEAD", "/manifests/latest"},
        {"PUT", "/manifests/latest"},
        {"DELETE", "/manifests/" ZERO_DIGEST},
        {"GET", "/blobs/" ZERO_DIGEST},
        {"DELETE", "/blobs/" ZERO_DIGEST},
        {"POST", "/blobs/uploads/"},
        {"GET", "/blobs/uploads/" UUID0},
        {"PATCH", "/blobs/uploads/" UUID0},
        {"GET", "/referrers/" ZERO_DIGEST},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (size_t j = 0; j < sizeof routes / sizeof routes[0]; j++) {
            R(f, routes[j][0], arena_printf(f->ta, "/v2/%s%s", bad[i], routes[j][1]), NULL, 0);
            EXPECT_ERR(f, 400, "NAME_INVALID");
        }
    /* the longest name and the deepest one allowed are names */
    longname[255] = 0;
    R(f, "GET", arena_printf(f->ta, "/v2/%s/tags/list", longname), NULL, 0);
    EXPECT_ERR(f, 404, "NAME_UNKNOWN");
    deep[strlen(deep) - 2] = 0; /* 32 components */
    R(f, "GET", arena_printf(f->ta, "/v2/%s/tags/list", deep), NULL, 0);
    EXPECT_ERR(f, 404, "NAME_UNKNOWN");
    R(f, "GET", "/v2/a.b_c__d-e--f/g/tags/list", NULL, 0);
    EXPECT_ERR(f, 404, "NAME_UNKNOWN");
}

static void test_reference_grammar(void **state)
{
    struct fx *f = *state;
    char longtag[200];
    memset(longtag, 't', 129);
    longtag[129] = 0;
    /* a tag outside [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}: no such manifest to
     * read; TAG_INVALID to write or delete */
    const char *badtags[] = {"-x", ".x", "x%20y", "x+y", longtag};
    for (size_t i = 0; i < sizeof badtags / sizeof badtags[0]; i++) {
        const char *u = arena_printf(f->ta, "/v2/r/manifests/%s", badtags[i]);
        R(f, "GET", u, NULL, 0);
        EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
        R(f, "HEAD", u, NULL, 0);
        EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
        R(f, "PUT", u, "{}", 2, "Content-Type: " MT_OCI_MANIFEST);
        EXPECT_ERR(f, 400, "TAG_INVALID");
        R(f, "DELETE", u, NULL, 0);
        EXPECT_ERR(f, 400, "TAG_INVALID");
    }
    longtag[128] = 0; /* 128 characters: a tag */
    R(f, "GET", arena_printf(f->ta, "/v2/r/manifests/%s", longtag), NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");

    /* malformed digests: 400 DIGEST_INVALID wherever a digest is the reference */
    const char *baddig[] = {
        "sha256:abc",
        "sha256:"
        "000000000000000000000000000000000000000000000000000000000000000",
        "sha256:"
        "00000000000000000000000000000000000000000000000000000000000000000",
        "sha256:"
        "000000000000000000000000000000000000000000000000000000000000000G",
        "sha256:"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:",
        ":abc",
        "sha512:abc",
    };
    for (size_t i = 0; i < sizeof baddig / sizeof baddig[0]; i++) {
        const char *d = baddig[i];
        R(f, "GET", arena_printf(f->ta, "/v2/r/manifests/%s", d), NULL, 0);
        EXPECT_ERR(f, 400, "DIGEST_INVALID");
        R(f, "DELETE", arena_printf(f->ta, "/v2/r/manifests/%s", d), NULL, 0);
        EXPECT_ERR(f, 400, "DIGEST_INVALID");
        R(f, "GET", arena_printf(f->ta, "/v2/r/blobs/%s", d), NULL, 0);
        EXPECT_ERR(f, 400, "DIGEST_INVALID");
        R(f, "HEAD", arena_printf(f->ta, "/v2/r/blobs/%s", d), NULL, 0);
        EXPECT_ERR(f, 400, "DIGEST_INVALID");
        R(f, "DELETE", arena_printf(f->ta, "/v2/r/blobs/%s", d), NULL, 0);
        EXPECT_ERR(f, 400, "DIGEST_INVALID");
        /* Listing Referrers: "a <digest> with an invalid syntax, a 400 Bad Request MUST" */
        R(f, "GET", arena_printf(f->ta, "/v2/r/referrers/%s", d), NULL, 0);
        EXPECT_ERR(f, 400, "DIGEST_INVALID");
    }
    /* a non-digest blob reference */
    R(f, "GET", "/v2/r/blobs/latest", NULL, 0);
    EXPECT_ERR(f, 400, "DIGEST_INVALID");
}

/* ---- blobs ------------------------------------------------------------------- */

/* blobs.accel: the web server sends the file (registry_blob_deliver) */
static void test_blob_accel(void **state)
{
    struct fx *f = *state;
    int nginx = f->cfg->accel == ACCEL_NGINX;
    const char *d = push_blob(f, "r", "0123456789abcdefghij");
    const char *u = arena_printf(f->ta, "/v2/r/blobs/%s", d);
    const char *data =
        arena_printf(f->ta, "/docker/registry/v2/blobs/sha256/%.2s/%s/data", d + 7, d + 7);
    R(f, "GET", u, NULL, 0);
    assert_int_equal(f->status, 200); /* no Content-Length: the web server sets it */
    EXPECT_HDR(f, "Content-Length", NULL);
    EXPECT_HDR(f, "Docker-Content-Digest", d);
    EXPECT_HDR(f, "Etag", arena_printf(f->ta, "\"%s\"", d));
    EXPECT_HDR(f, "Cache-Control", "max-age=31536000");
    /* nginx adds its own Accept-Ranges to the file it sends */
    EXPECT_HDR(f, "Accept-Ranges", nginx ? NULL : "bytes");
    if (nginx) {
        EXPECT_HDR(f, "X-Accel-Redirect", arena_printf(f->ta, "/_wharf_blobs%s", data));
        EXPECT_HDR(f, "X-Sendfile", NULL);
    } else {
        EXPECT_HDR(f, "X-Sendfile", arena_printf(f->ta, "%s/root%s", f->dir, data));
        EXPECT_HDR(f, "X-Accel-Redirect", NULL);
    }
    assert_int_equal(f->body_len, 0);
    R(f, "GET", u, NULL, 0, arena_printf(f->ta, "If-None-Match: \"%s\"", d));
    EXPECT_STATUS(f, 304);
    EXPECT_HDR(f, nginx ? "X-Accel-Redirect" : "X-Sendfile", NULL);
}

/* a mirrored repository: writes refused; an upstream that does not answer is
 * a 502 for a missing blob and no manifest, while stored blobs are served */
static void test_mirror_local(void **state)
{
    struct fx *f = *state;
    R(f, "POST", "/v2/lib/app/blobs/uploads/", NULL, 0);
    EXPECT_ERR(f, 405, "UNSUPPORTED");
    R(f, "GET", "/v2/lib/app/blobs/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 502, "UNKNOWN");
    R(f, "HEAD", "/v2/lib/app/blobs/" ZERO_DIGEST, NULL, 0);
    EXPECT_STATUS(f, 502);
    R(f, "GET", "/v2/lib/app/manifests/latest", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
}

static void test_blobs(void **state)
{
    struct fx *f = *state;
    R(f, "GET", "/v2/r/blobs/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    R(f, "HEAD", "/v2/r/blobs/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    R(f, "DELETE", "/v2/r/blobs/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");

    const char *data = "0123456789abcdefghij"; /* 20 bytes */
    const char *d = push_blob(f, "r", data);
    assert_string_equal(loc_path(f), arena_printf(f->ta, "/v2/r/blobs/%s", d));
    const char *u = arena_printf(f->ta, "/v2/r/blobs/%s", d);
    R(f, "GET", u, NULL, 0);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "Docker-Content-Digest", d);
    assert_int_equal(f->body_len, 20);
    assert_memory_equal(f->body, data, 20);
    R(f, "HEAD", u, NULL, 0);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "Content-Length", "20");
    EXPECT_HDR(f, "Docker-Content-Digest", d);
    /* access is gated by the repository: not linked in s */
    R(f, "GET", arena_printf(f->ta, "/v2/s/blobs/%s", d), NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    R(f, "DELETE", arena_printf(f->ta, "/v2/s/blobs/%s", d), NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");

    /* ranges */
    R(f, "GET", u, NULL, 0, "Range: bytes=5-9");
    EXPECT_STATUS(f, 206);
    EXPECT_HDR(f, "Content-Range", "bytes 5-9/20");
    assert_int_equal(f->body_len, 5);
    assert_memory_equal(f->body, "56789", 5);
    R(f, "GET", u, NULL, 0, "Range: bytes=-3");
    EXPECT_STATUS(f, 206);
    assert_memory_equal(f->body, "hij", 3);
    R(f, "GET", u, NULL, 0, "Range: bytes=20-");
    EXPECT_STATUS(f, 416);
    EXPECT_HDR(f, "Content-Range", "bytes */20");
    R(f, "GET", u, NULL, 0, "Range: bytes=0-1,5-6"); /* several ranges: the whole blob */
    EXPECT_STATUS(f, 200);
    assert_int_equal(f->body_len, 20);
    R(f, "GET", u, NULL, 0, arena_printf(f->ta, "If-None-Match: \"%s\"", d));
    EXPECT_STATUS(f, 304);
    assert_int_equal(f->body_len, 0);

    /* delete: 202, then unknown */
    R(f, "DELETE", u, NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "GET", u, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    R(f, "DELETE", u, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
}

/* ---- uploads ----------------------------------------------------------------- */

/* start: POST (202) and the upload's path */
static const char *start(struct fx *f, const char *repo)
{
    R(f, "POST", arena_printf(f->ta, "/v2/%s/blobs/uploads/", repo), NULL, 0);
    EXPECT_STATUS(f, 202);
    EXPECT_HDR(f, "Range", "0-0");
    EXPECT_HDR(f, "Content-Length", "0");
    const char *p = loc_path(f);
    const char *uuid = hdr(f, "Docker-Upload-UUID");
    assert_non_null(uuid);
    assert_string_equal(p, arena_printf(f->ta, "/v2/%s/blobs/uploads/%s", repo, uuid));
    return p;
}

/* lock_free: the upload's lock can be taken at once (the request's arena,
 * which would release a lock left held, is not reset before the next req) */
static int lock_free(struct fx *f, const char *uuid)
{
    struct storage_lock *l = NULL;
    int rc = storage_lock(f->app->reg->d, f->ta, path_upload_lock(f->ta, uuid), 60, 0, &l);
    storage_unlock(l);
    return rc == 0;
}

/* a PATCH and a status GET give the upload's lock back before they answer:
 * the client's next request for the upload (its PUT) never finds it held */
static void test_upload_lock_free_at_answer(void **state)
{
    struct fx *f = *state;
    const char *up = start(f, "r");
    const char *uuid = arena_strdup(f->ta, hdr(f, "Docker-Upload-UUID"));
    R(f, "PATCH", up, "abc", 3, "Content-Type: application/octet-stream");
    EXPECT_STATUS(f, 202);
    assert_true(lock_free(f, uuid));
    R(f, "GET", up, NULL, 0);
    EXPECT_STATUS(f, 204);
    EXPECT_HDR(f, "Range", "0-2");
    assert_true(lock_free(f, uuid));
    R(f, "PUT", arena_printf(f->ta, "%s?digest=%s", up, digest_str(f, "abc", 3)), NULL, 0);
    EXPECT_STATUS(f, 201);
    assert_true(lock_free(f, uuid));
}

static void test_upload_chunks(void **state)
{
    struct fx *f = *state;
    const char *blob = "AAAAABBBBBCCCCC"; /* 15 bytes in three chunks */
    const char *d = digest_str(f, blob, 15);
    const char *up = start(f, "r");
    R(f, "GET", up, NULL, 0);
    EXPECT_STATUS(f, 204);
    EXPECT_HDR(f, "Range", "0-0");

    R(f, "PATCH", up, blob, 5, "Content-Range: 0-4", "Content-Type: application/octet-stream");
    EXPECT_STATUS(f, 202);
    EXPECT_HDR(f, "Range", "0-4");
    assert_string_equal(loc_path(f), up);

    /* Pushing a blob in chunks: out of order -> 416, with Location and the
     * current Range so the client can resume */
    R(f, "PATCH", up, blob + 10, 5, "Content-Range: 10-14");
    EXPECT_ERR(f, 416, "BLOB_UPLOAD_INVALID");
    EXPECT_HDR(f, "Range", "0-4");
    assert_string_equal(loc_path(f), up);
    R(f, "PATCH", up, blob, 5, "Content-Range: 0-4"); /* a retried chunk */
    EXPECT_ERR(f, 416, "BLOB_UPLOAD_INVALID");
    EXPECT_HDR(f, "Range", "0-4");
    /* a malformed Content-Range, or one the length disagrees with */
    R(f, "PATCH", up, blob + 5, 5, "Content-Range: five-nine");
    EXPECT_ERR(f, 400, "BLOB_UPLOAD_INVALID");
    R(f, "PATCH", up, blob + 5, 5, "Content-Range: 9-5");
    EXPECT_ERR(f, 400, "BLOB_UPLOAD_INVALID");
    R(f, "PATCH", up, blob + 5, 5, "Content-Range: 5-10");
    EXPECT_ERR(f, 400, "BLOB_UPLOAD_INVALID");
    /* none of those refused chunks was stored */
    R(f, "GET", up, NULL, 0);
    EXPECT_STATUS(f, 204);
    EXPECT_HDR(f, "Range", "0-4");

    R(f, "PATCH", up, blob + 5, 5); /* no Content-Range: appended (stream upload) */
    EXPECT_STATUS(f, 202);
    EXPECT_HDR(f, "Range", "0-9");

    /* the closing PUT: digest required and well formed; may carry the last chunk */
    R(f, "PUT", up, blob + 10, 5, "Content-Range: 10-14");
    EXPECT_ERR(f, 400, "DIGEST_INVALID");
    R(f, "PUT", arena_printf(f->ta, "%s?digest=sha256:xyz", up), NULL, 0);
    EXPECT_ERR(f, 400, "DIGEST_INVALID");
    R(f, "PUT", arena_printf(f->ta, "%s?digest=%s", up, d), blob + 10, 5, "Content-Range: 11-15");
    EXPECT_ERR(f, 416, "BLOB_UPLOAD_INVALID");
    R(f, "PUT", arena_printf(f->ta, "%s?digest=%s", up, d), blob + 10, 5, "Content-Range: 10-14");
    EXPECT_STATUS(f, 201);
    EXPECT_HDR(f, "Docker-Content-Digest", d);
    EXPECT_HDR(f, "Content-Length", "0");
    assert_string_equal(loc_path(f), arena_printf(f->ta, "/v2/r/blobs/%s", d));
    R(f, "GET", arena_printf(f->ta, "/v2/r/blobs/%s", d), NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_int_equal(f->body_len, 15);
    assert_memory_equal(f->body, blob, 15);
    /* the session is closed */
    R(f, "GET", up, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");
    R(f, "PATCH", up, "x", 1);
    EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");
}

static void test_upload_errors(void **state)
{
    struct fx *f = *state;
    /* unknown sessions: well-formed or not an id we could have issued */
    const char *ids[] = {UUID0, "nope", "00000000-0000-4000-8000-00000000000G", ".."};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const char *u = arena_printf(f->ta, "/v2/r/blobs/uploads/%s", ids[i]);
        R(f, "GET", u, NULL, 0);
        EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");
        R(f, "PATCH", u, "abc", 3);
        EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");
        R(f, "PUT", arena_printf(f->ta, "%s?digest=" ZERO_DIGEST, u), NULL, 0);
        EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");
        R(f, "DELETE", u, NULL, 0);
        EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");
    }

    /* a session belongs to its repository */
    const char *up = start(f, "r");
    const char *other = arena_printf(f->ta, "/v2/s/blobs/uploads/%s", strrchr(up, '/') + 1);
    R(f, "PATCH", other, "abc", 3);
    EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");
    R(f, "GET", other, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");

    /* a wrong digest: 400, nothing stored, the session is over */
    R(f, "PATCH", up, "hello", 5);
    EXPECT_STATUS(f, 202);
    R(f, "PUT", arena_printf(f->ta, "%s?digest=" ZERO_DIGEST, up), NULL, 0);
    EXPECT_ERR(f, 400, "DIGEST_INVALID");
    R(f, "HEAD", "/v2/r/blobs/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    R(f, "HEAD", arena_printf(f->ta, "/v2/r/blobs/%s", digest_str(f, "hello", 5)), NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    R(f, "GET", up, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");

    /* cancel: 204, then unknown */
    up = start(f, "r");
    R(f, "DELETE", up, NULL, 0);
    EXPECT_STATUS(f, 204);
    R(f, "GET", up, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");
    R(f, "DELETE", up, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");

    /* a body that ends before its Content-Length (the client went away) */
    up = start(f, "r");
    R(f, "PATCH", up, "abcde", 5, "Content-Length: 10");
    EXPECT_ERR(f, 400, "BLOB_UPLOAD_INVALID");

    /* a chunked body longer than its Content-Range: whatever the session
     * kept, never more than the range announced */
    up = start(f, "r");
    R(f, "PATCH", up, "0123456789", 10, "Content-Range: 0-4", "Transfer-Encoding: chunked");
    EXPECT_ERR(f, 400, "SIZE_INVALID");
    R(f, "GET", up, NULL, 0);
    if (f->status == 204) {
        const char *r = hdr(f, "Range");
        if (!r || (strcmp(r, "0-0") && strcmp(r, "0-4"))) FAIL(f, __LINE__, "kept past the range");
    } else {
        EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");
    }

    /* an unreadable Content-Length, on any route */
    R(f, "PATCH", up, "abc", 3, "Content-Length: three");
    EXPECT_ERR(f, 400, "SIZE_INVALID");
    R(f, "POST", "/v2/r/blobs/uploads/", "abc", 3, "Content-Length: -3");
    EXPECT_ERR(f, 400, "SIZE_INVALID");
    R(f, "GET", "/v2/", NULL, 0, "Content-Length: 99999999999999999999999");
    EXPECT_ERR(f, 400, "SIZE_INVALID");
}

static void test_upload_monolithic_and_mount(void **state)
{
    struct fx *f = *state;
    /* single POST: the digest must match, else nothing is stored */
    R(f, "POST", "/v2/r/blobs/uploads/?digest=" ZERO_DIGEST, "data", 4);
    EXPECT_ERR(f, 400, "DIGEST_INVALID");
    R(f, "HEAD", "/v2/r/blobs/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    R(f, "POST", "/v2/r/blobs/uploads/?digest=sha256:nothex", "data", 4);
    EXPECT_ERR(f, 400, "DIGEST_INVALID");
    /* a body shorter than announced */
    R(f, "POST", arena_printf(f->ta, "/v2/r/blobs/uploads/?digest=%s", digest_str(f, "data", 4)),
      "da", 2, "Content-Length: 4");
    EXPECT_ERR(f, 400, "BLOB_UPLOAD_INVALID");
    R(f, "HEAD", arena_printf(f->ta, "/v2/r/blobs/%s", digest_str(f, "data", 4)), NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    /* the empty blob is a blob */
    const char *empty = push_blob(f, "r", "");
    R(f, "GET", arena_printf(f->ta, "/v2/r/blobs/%s", empty), NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_int_equal(f->body_len, 0);

    /* POST then PUT with the whole blob */
    const char *up = start(f, "r");
    const char *d = digest_str(f, "whole", 5);
    R(f, "PUT", arena_printf(f->ta, "%s?digest=%s", up, d), "whole", 5,
      "Content-Type: application/octet-stream");
    EXPECT_STATUS(f, 201);
    EXPECT_HDR(f, "Docker-Content-Digest", d);

    /* mount from a repository that has it: 201 */
    R(f, "POST", arena_printf(f->ta, "/v2/m/blobs/uploads/?mount=%s&from=r", d), NULL, 0);
    EXPECT_STATUS(f, 201);
    EXPECT_HDR(f, "Docker-Content-Digest", d);
    assert_string_equal(loc_path(f), arena_printf(f->ta, "/v2/m/blobs/%s", d));
    R(f, "HEAD", arena_printf(f->ta, "/v2/m/blobs/%s", d), NULL, 0);
    EXPECT_STATUS(f, 200);

    /* a mount that cannot be done falls back to an upload session (202) and
     * links nothing: unknown blob, unknown or malformed source. r is in the
     * catalog (it has a manifest), so nothing may fall back to finding it. */
    put_manifest(f, "r", "t", image(f, "r", NULL, 0, NULL));
    const char *froms[] = {"nothere", "R", "r%2f..", "..%2fr", "r/", "r%2F", "", "r%20", "r/.."};
    for (size_t i = 0; i < sizeof froms / sizeof froms[0]; i++) {
        R(f, "POST", arena_printf(f->ta, "/v2/n/blobs/uploads/?mount=%s&from=%s", d, froms[i]),
          NULL, 0);
        EXPECT_STATUS(f, 202);
        assert_non_null(hdr(f, "Docker-Upload-UUID"));
        R(f, "HEAD", arena_printf(f->ta, "/v2/n/blobs/%s", d), NULL, 0);
        EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    }
    R(f, "POST", "/v2/n/blobs/uploads/?mount=" ZERO_DIGEST "&from=r", NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "POST", "/v2/n/blobs/uploads/?mount=sha256:bad&from=r", NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "HEAD", arena_printf(f->ta, "/v2/n/blobs/%s", d), NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    /* mount= without from= (spec 1.1: the registry MAY find it) */
    R(f, "POST", arena_printf(f->ta, "/v2/n/blobs/uploads/?mount=%s", d), NULL, 0);
    if (f->status == 201) {
        R(f, "HEAD", arena_printf(f->ta, "/v2/n/blobs/%s", d), NULL, 0);
        EXPECT_STATUS(f, 200);
    } else {
        EXPECT_STATUS(f, 202);
    }
}

/* ---- manifests --------------------------------------------------------------- */

static void test_manifests(void **state)
{
    struct fx *f = *state;
    R(f, "GET", "/v2/r/manifests/latest", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "HEAD", "/v2/r/manifests/latest", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "GET", "/v2/r/manifests/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "DELETE", "/v2/r/manifests/latest", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "DELETE", "/v2/r/manifests/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");

    const char *m = image(f, "r", NULL, 0, NULL);
    /* not JSON, not a manifest */
    R(f, "PUT", "/v2/r/manifests/latest", "{not json", 9, "Content-Type: " MT_OCI_MANIFEST);
    EXPECT_ERR(f, 400, "MANIFEST_INVALID");
    R(f, "PUT", "/v2/r/manifests/latest", "[]", 2, "Content-Type: " MT_OCI_MANIFEST);
    EXPECT_ERR(f, 400, "MANIFEST_INVALID");
    R(f, "PUT", "/v2/r/manifests/latest", "", 0, "Content-Type: " MT_OCI_MANIFEST);
    EXPECT_ERR(f, 400, "MANIFEST_INVALID");
    /* referencing a blob the repository does not have */
    const char *missing = image(f, "other", NULL, 0, NULL);
    R(f, "PUT", "/v2/r2/manifests/latest", missing, strlen(missing),
      "Content-Type: " MT_OCI_MANIFEST);
    EXPECT_ERR(f, 400, "MANIFEST_BLOB_UNKNOWN");
    /* by a digest that is not the body's */
    R(f, "PUT", "/v2/r/manifests/" ZERO_DIGEST, m, strlen(m), "Content-Type: " MT_OCI_MANIFEST);
    EXPECT_ERR(f, 400, "DIGEST_INVALID");
    /* over fastcgi.limits.manifestsize (4096 here): 413, with or without a length */
    char *big = arena_alloc(f->ta, 5001);
    memset(big, ' ', 5000);
    big[0] = '{';
    big[4999] = '}';
    big[5000] = 0;
    R(f, "PUT", "/v2/r/manifests/big", big, 5000, "Content-Type: " MT_OCI_MANIFEST);
    EXPECT_ERR(f, 413, "MANIFEST_INVALID");
    R(f, "PUT", "/v2/r/manifests/big", big, 5000, "Content-Type: " MT_OCI_MANIFEST,
      "Transfer-Encoding: chunked");
    EXPECT_ERR(f, 413, "MANIFEST_INVALID");
    R(f, "PUT", "/v2/r/manifests/latest", m, 10, "Content-Type: " MT_OCI_MANIFEST,
      "Content-Length: 400"); /* broke off */
    EXPECT_ERR(f, 400, "MANIFEST_INVALID");
    R(f, "GET", "/v2/r/manifests/latest", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");

    /* stored as sent, served with its media type */
    const char *d = put_manifest(f, "r", "latest", m);
    assert_string_equal(put_manifest(f, "r", d, m), d); /* by digest too */
    R(f, "GET", "/v2/r/manifests/latest", NULL, 0, "Accept: " MT_OCI_MANIFEST);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "Content-Type", MT_OCI_MANIFEST);
    EXPECT_HDR(f, "Docker-Content-Digest", d);
    assert_int_equal(f->body_len, strlen(m));
    assert_memory_equal(f->body, m, strlen(m));
    R(f, "HEAD", arena_printf(f->ta, "/v2/r/manifests/%s", d), NULL, 0);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "Content-Length", arena_printf(f->ta, "%zu", strlen(m)));
    R(f, "GET", "/v2/r/manifests/latest", NULL, 0, arena_printf(f->ta, "If-None-Match: \"%s\"", d));
    EXPECT_STATUS(f, 304);
    /* other repositories do not see it */
    R(f, "GET", arena_printf(f->ta, "/v2/s/manifests/%s", d), NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "DELETE", arena_printf(f->ta, "/v2/s/manifests/%s", d), NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");

    /* Deleting tags: 202, the manifest stays */
    put_manifest(f, "r", "second", m);
    R(f, "DELETE", "/v2/r/manifests/latest", NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "GET", "/v2/r/manifests/latest", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "DELETE", "/v2/r/manifests/latest", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "GET", arena_printf(f->ta, "/v2/r/manifests/%s", d), NULL, 0);
    EXPECT_STATUS(f, 200);
    /* Deleting Manifests: 202, and every tag pointing at it goes */
    R(f, "DELETE", arena_printf(f->ta, "/v2/r/manifests/%s", d), NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "GET", arena_printf(f->ta, "/v2/r/manifests/%s", d), NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "GET", "/v2/r/manifests/second", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "DELETE", arena_printf(f->ta, "/v2/r/manifests/%s", d), NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
}

/* ---- listing ----------------------------------------------------------------- */

static void test_tags_pagination(void **state)
{
    struct fx *f = *state;
    R(f, "GET", "/v2/r/tags/list", NULL, 0);
    EXPECT_ERR(f, 404, "NAME_UNKNOWN");
    const char *m = image(f, "r", NULL, 0, NULL);
    /* a repository with blobs only is found, with no tags */
    R(f, "GET", "/v2/r/tags/list", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "tags"), "");
    const char *tags[] = {"v2", "a", "B", "c_1", "c.0", "d"};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        put_manifest(f, "r", tags[i], m);
    R(f, "GET", "/v2/r/tags/list", NULL, 0);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "Content-Type", "application/json; charset=utf-8");
    EXPECT_HDR(f, "Link", NULL);
    struct json_object *name;
    assert_true(json_object_object_get_ex(f->json, "name", &name));
    assert_string_equal(json_object_get_string(name), "r");
    assert_string_equal(json_strings(f, "tags"), "B,a,c.0,c_1,d,v2"); /* ASCIIbetical */

    /* n and last, following Link */
    R(f, "GET", "/v2/r/tags/list?n=2", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "tags"), "B,a");
    EXPECT_HDR(f, "Link", "</v2/r/tags/list?last=a&n=2>; rel=\"next\"");
    R(f, "GET", "/v2/r/tags/list?last=a&n=2", NULL, 0);
    assert_string_equal(json_strings(f, "tags"), "c.0,c_1");
    EXPECT_HDR(f, "Link", "</v2/r/tags/list?last=c_1&n=2>; rel=\"next\"");
    R(f, "GET", "/v2/r/tags/list?last=c_1&n=2", NULL, 0);
    assert_string_equal(json_strings(f, "tags"), "d,v2");
    EXPECT_HDR(f, "Link", NULL);
    /* n = 0: an empty list and no Link (MUST) */
    R(f, "GET", "/v2/r/tags/list?n=0", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "tags"), "");
    EXPECT_HDR(f, "Link", NULL);
    /* n = the count exactly, or more: everything, no Link */
    R(f, "GET", "/v2/r/tags/list?n=6", NULL, 0);
    assert_string_equal(json_strings(f, "tags"), "B,a,c.0,c_1,d,v2");
    EXPECT_HDR(f, "Link", NULL);
    R(f, "GET", "/v2/r/tags/list?n=99999999999999999999999", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "tags"), "B,a,c.0,c_1,d,v2");
    /* last alone; last not itself a tag; last past the end */
    R(f, "GET", "/v2/r/tags/list?last=c.0", NULL, 0);
    assert_string_equal(json_strings(f, "tags"), "c_1,d,v2");
    R(f, "GET", "/v2/r/tags/list?last=b&n=1", NULL, 0);
    assert_string_equal(json_strings(f, "tags"), "c.0");
    R(f, "GET", "/v2/r/tags/list?last=zzz", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "tags"), "");
    /* a bad n */
    const char *badn[] = {"-1", "abc", "", "1x", "0x10", "%2d1"};
    for (size_t i = 0; i < sizeof badn / sizeof badn[0]; i++) {
        R(f, "GET", arena_printf(f->ta, "/v2/r/tags/list?n=%s", badn[i]), NULL, 0);
        EXPECT_ERR(f, 400, "PAGINATION_NUMBER_INVALID");
    }
}

/* /_wharf/api/repositories and /_wharf/api/search (issue 17): the JSON's
 * shape, paging with "next", the bounds of n and of the strings */
static const char *api_names(struct fx *f)
{
    struct json_object *arr, *next;
    if (!f->json || !json_object_object_get_ex(f->json, "repositories", &arr) ||
        !json_object_object_get_ex(f->json, "next", &next))
        FAIL(f, __LINE__, "no repositories or next");
    const char *s = "";
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *e = json_object_array_get_idx(arr, i), *name, *tags, *m;
        json_object_object_get_ex(e, "name", &name);
        json_object_object_get_ex(e, "tags", &tags);
        s = arena_printf(f->ta, "%s%s%s:%d", s, i ? "," : "", json_object_get_string(name),
                         json_object_get_int(tags));
        if (json_object_object_get_ex(e, "matched", &m))
            s = arena_printf(f->ta, "%s(%s)", s, json_object_get_string(m));
    }
    return arena_printf(f->ta, "%s|%s", s, next ? json_object_get_string(next) : "null");
}

static void test_api_repositories_search(void **state)
{
    struct fx *f = *state;
    R(f, "GET", "/_wharf/api/repositories", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(api_names(f), "|null");
    const char *m = image(f, "a", NULL, 0, NULL);
    put_manifest(f, "a", "t1", m);
    put_manifest(f, "a", "t2", m);
    image(f, "b/c", NULL, 0, NULL);
    put_manifest(f, "b/c", "t1", m);
    R(f, "GET", "/_wharf/api/repositories", NULL, 0);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "Content-Type", "application/json; charset=utf-8");
    assert_string_equal(api_names(f), "a:2,b/c:1|null");
    R(f, "GET", "/_wharf/api/repositories?n=1", NULL, 0);
    assert_string_equal(api_names(f), "a:2|a");
    R(f, "GET", "/_wharf/api/repositories?n=1&last=a", NULL, 0);
    assert_string_equal(api_names(f), "b/c:1|null");
    R(f, "GET", "/_wharf/api/repositories?filter=B%2FC", NULL, 0);
    assert_string_equal(api_names(f), "b/c:1|null");
    R(f, "GET", "/_wharf/api/search?q=t2", NULL, 0);
    assert_string_equal(api_names(f), "a:2(tag:t2)|null");
    R(f, "GET", "/_wharf/api/search?q=b%2F", NULL, 0);
    assert_string_equal(api_names(f), "b/c:1(name)|null");
    const char *badn[] = {"0", "-1", "x", ""};
    for (size_t i = 0; i < sizeof badn / sizeof badn[0]; i++) {
        R(f, "GET", arena_printf(f->ta, "/_wharf/api/repositories?n=%s", badn[i]), NULL, 0);
        EXPECT_ERR(f, 400, "PAGINATION_NUMBER_INVALID");
        R(f, "GET", arena_printf(f->ta, "/_wharf/api/search?q=a&n=%s", badn[i]), NULL, 0);
        EXPECT_ERR(f, 400, "PAGINATION_NUMBER_INVALID");
    }
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    R(f, "GET", arena_printf(f->ta, "/_wharf/api/search?q=%s", big), NULL, 0);
    EXPECT_ERR(f, 400, "NAME_INVALID");
    R(f, "GET", arena_printf(f->ta, "/_wharf/api/repositories?last=%s", big), NULL, 0);
    EXPECT_ERR(f, 400, "NAME_INVALID");
    R(f, "POST", "/_wharf/api/repositories", NULL, 0);
    EXPECT_STATUS(f, 405);
    EXPECT_HDR(f, "Allow", "GET");
    R(f, "GET", "/_wharf/api/other", NULL, 0);
    EXPECT_ERR(f, 404, "UNSUPPORTED");
}

static void test_catalog_bounds(void **state)
{
    struct fx *f = *state;
    R(f, "GET", "/v2/_catalog", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "repositories"), "");
    const char *m = image(f, "a", NULL, 0, NULL);
    put_manifest(f, "a", "t", m);
    const char *names[] = {"b/c", "b", "d-e", "z"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        image(f, names[i], NULL, 0, NULL);
        put_manifest(f, names[i], "t", m);
    }
    R(f, "GET", "/v2/_catalog", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "repositories"), "a,b,b/c,d-e,z");
    EXPECT_HDR(f, "Link", NULL);
    R(f, "GET", "/v2/_catalog?n=2", NULL, 0);
    assert_string_equal(json_strings(f, "repositories"), "a,b");
    EXPECT_HDR(f, "Link", "</v2/_catalog?last=b&n=2>; rel=\"next\"");
    R(f, "GET", "/v2/_catalog?n=2&last=b", NULL, 0);
    assert_string_equal(json_strings(f, "repositories"), "b/c,d-e");
    EXPECT_HDR(f, "Link", "</v2/_catalog?last=d-e&n=2>; rel=\"next\"");
    R(f, "GET", "/v2/_catalog?n=1&last=a", NULL, 0);
    EXPECT_HDR(f, "Link", "</v2/_catalog?last=b&n=1>; rel=\"next\"");
    R(f, "GET", "/v2/_catalog?n=1&last=b", NULL, 0);
    assert_string_equal(json_strings(f, "repositories"), "b/c");
    /* the name in Link is query-escaped, and comes back decoded */
    EXPECT_HDR(f, "Link", "</v2/_catalog?last=b%2Fc&n=1>; rel=\"next\"");
    R(f, "GET", "/v2/_catalog?n=1&last=b%2Fc", NULL, 0);
    assert_string_equal(json_strings(f, "repositories"), "d-e");
    R(f, "GET", "/v2/_catalog?n=2&last=d-e", NULL, 0);
    assert_string_equal(json_strings(f, "repositories"), "z");
    EXPECT_HDR(f, "Link", NULL);
    R(f, "GET", "/v2/_catalog?n=0", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "repositories"), "");
    EXPECT_HDR(f, "Link", NULL);
    R(f, "GET", "/v2/_catalog?last=zz", NULL, 0);
    assert_string_equal(json_strings(f, "repositories"), "");
    R(f, "GET", "/v2/_catalog?n=99999999999999999999", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "repositories"), "a,b,b/c,d-e,z");
    const char *badn[] = {"-1", "x", "", "2.5"};
    for (size_t i = 0; i < sizeof badn / sizeof badn[0]; i++) {
        R(f, "GET", arena_printf(f->ta, "/v2/_catalog?n=%s", badn[i]), NULL, 0);
        EXPECT_ERR(f, 400, "PAGINATION_NUMBER_INVALID");
    }
}

static void test_referrers(void **state)
{
    struct fx *f = *state;
    /* MUST NOT 404: an unknown subject, even in an unknown repository, is an
     * empty index */
    R(f, "GET", "/v2/nowhere/referrers/" ZERO_DIGEST, NULL, 0);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "Content-Type", MT_OCI_INDEX);
    assert_string_equal(json_strings(f, "manifests"), "");
    struct json_object *mt;
    assert_true(json_object_object_get_ex(f->json, "mediaType", &mt));
    assert_string_equal(json_object_get_string(mt), MT_OCI_INDEX);

    const char *base = image(f, "r", NULL, 0, NULL);
    const char *subj = put_manifest(f, "r", "base", base);
    const char *sig = image(f, "r", subj, strlen(base), "application/vnd.example.sig");
    R(f, "PUT", "/v2/r/manifests/sig", sig, strlen(sig), "Content-Type: " MT_OCI_MANIFEST);
    EXPECT_STATUS(f, 201);
    EXPECT_HDR(f, "OCI-Subject", subj);
    const char *sigd = hdr(f, "Docker-Content-Digest");
    assert_non_null(sigd);
    sigd = arena_strdup(f->ta, sigd);
    const char *sbom =
        image(f, "r", subj, strlen(base), NULL); /* artifactType from config.mediaType */
    R(f, "PUT", "/v2/r/manifests/sbom", sbom, strlen(sbom), "Content-Type: " MT_OCI_MANIFEST);
    EXPECT_STATUS(f, 201);

    const char *u = arena_printf(f->ta, "/v2/r/referrers/%s", subj);
    R(f, "GET", u, NULL, 0);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "OCI-Filters-Applied", NULL);
    struct json_object *arr, *e, *v;
    assert_true(json_object_object_get_ex(f->json, "manifests", &arr));
    assert_int_equal(json_object_array_length(arr), 2);
    int seen_sig = 0;
    for (size_t i = 0; i < 2; i++) {
        e = json_object_array_get_idx(arr, i);
        assert_true(json_object_object_get_ex(e, "digest", &v));
        assert_true(json_object_object_get_ex(e, "artifactType", &v));
        if (!strcmp(json_object_get_string(v), "application/vnd.example.sig"))
            seen_sig = 1;
        else
            assert_string_equal(json_object_get_string(v),
                                "application/vnd.oci.image.config.v1+json");
    }
    assert_true(seen_sig);
    R(f, "GET", arena_printf(f->ta, "%s?artifactType=application/vnd.example.sig", u), NULL, 0);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "OCI-Filters-Applied", "artifactType");
    assert_true(json_object_object_get_ex(f->json, "manifests", &arr));
    assert_int_equal(json_object_array_length(arr), 1);
    assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, 0), "digest", &v));
    assert_string_equal(json_object_get_string(v), sigd);
    R(f, "GET", arena_printf(f->ta, "%s?artifactType=application/none", u), NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_true(json_object_object_get_ex(f->json, "manifests", &arr));
    assert_int_equal(json_object_array_length(arr), 0);
    /* only this repository's referrers */
    R(f, "GET", arena_printf(f->ta, "/v2/s/referrers/%s", subj), NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_true(json_object_object_get_ex(f->json, "manifests", &arr));
    assert_int_equal(json_object_array_length(arr), 0);
    /* a deleted referrer leaves the list */
    R(f, "DELETE", arena_printf(f->ta, "/v2/r/manifests/%s", sigd), NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "GET", u, NULL, 0);
    assert_true(json_object_object_get_ex(f->json, "manifests", &arr));
    assert_int_equal(json_object_array_length(arr), 1);
}

/* ---- configuration: read-only, deletes disabled ------------------------------ */

/* ---- the web UI's JSON API (handlers/ui_api.c) and CSRF (handlers/csrf.c) ---- */

static const char *jget(struct fx *f, const char *path)
{
    struct json_object *o = f->json;
    char *dup = arena_strdup(f->ta, path), *save = NULL;
    for (char *k = strtok_r(dup, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
        struct json_object *v = NULL;
        if (json_object_is_type(o, json_type_array))
            v = json_object_array_get_idx(o, (size_t)atoi(k));
        else if (!json_object_object_get_ex(o, k, &v))
            v = NULL;
        o = v;
    }
    return o ? arena_strdup(f->ta, json_object_get_string(o)) : "(none)";
}

static void test_ui_api(void **state)
{
    struct fx *f = *state;
    R(f, "GET", "/_wharf/api/whoami", NULL, 0);
    EXPECT_STATUS(f, 200);
    EXPECT_HDR(f, "Cache-Control", "no-store");
    assert_string_equal(jget(f, "auth"), "none");
    assert_string_equal(jget(f, "admin"), "true");
    assert_string_equal(jget(f, "delete"), "true");
    const char *csrf = jget(f, "csrf");
    assert_int_equal(strlen(csrf), 64);
    const char *m = image(f, "ui/app", NULL, 0, NULL);
    const char *d = put_manifest(f, "ui/app", "v1", m);
    put_manifest(f, "ui/app", "v2", m);
    R(f, "GET", "/_wharf/api/tags?repo=ui/app", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(jget(f, "count"), "2");
    assert_string_equal(jget(f, "tags.0.name"), "v1");
    assert_string_equal(jget(f, "tags.0.digest"), d);
    assert_string_equal(
        jget(f, "tags.0.size"),
        arena_printf(f->ta, "%zu", strlen(m) + strlen(CONFIG_BLOB) + strlen(LAYER_BLOB)));
    assert_string_equal(jget(f, "tags.0.platforms.0"), "linux/amd64");
    assert_true(atoll(jget(f, "tags.0.pushed")) > 1700000000);
    assert_string_equal(jget(f, "next"), "(none)"); /* null */
    R(f, "GET", "/_wharf/api/tags?repo=ui/app&n=1", NULL, 0);
    assert_string_equal(jget(f, "tags.1"), "(none)");
    assert_string_equal(jget(f, "next"), "v1");
    R(f, "GET", "/_wharf/api/tags?repo=ui/app&n=1&last=v1", NULL, 0);
    assert_string_equal(jget(f, "tags.0.name"), "v2");
    R(f, "GET", "/_wharf/api/tags?repo=ui/app&n=x", NULL, 0);
    EXPECT_ERR(f, 400, "PAGINATION_NUMBER_INVALID");
    R(f, "GET", "/_wharf/api/tags?repo=Bad..Name", NULL, 0);
    EXPECT_ERR(f, 400, "NAME_INVALID");
    R(f, "GET", "/_wharf/api/tags", NULL, 0);
    EXPECT_ERR(f, 400, "NAME_INVALID");
    R(f, "GET", "/_wharf/api/tags?repo=no/such", NULL, 0);
    EXPECT_ERR(f, 404, "NAME_UNKNOWN");
    R(f, "GET", "/_wharf/api/nope", NULL, 0);
    EXPECT_ERR(f, 404, "UNSUPPORTED");
    R(f, "PUT", "/_wharf/api/whoami", "{}", 2);
    EXPECT_ERR(f, 405, "UNSUPPORTED");
    EXPECT_HDR(f, "Allow", "GET");
    R(f, "GET", "/_wharf/api/upstreams", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(f->body, "{\"upstreams\":[]}\n");
    /* a GC dry run: the extra blob is found, nothing goes */
    const char *orphan = push_blob(f, "ui/app", "orphan bytes");
    R(f, "GET", "/_wharf/api/gc", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(jget(f, "dry_run"), "true");
    assert_string_equal(jget(f, "blobs_deleted"), "1");
    assert_string_equal(jget(f, "items.0.digest"), orphan);
    R(f, "HEAD", arena_printf(f->ta, "/v2/ui/app/blobs/%s", orphan), NULL, 0);
    EXPECT_STATUS(f, 200);
    /* CSRF: the UI's own writes always need the token; browsers' writes to /v2/ too */
    R(f, "POST", "/_wharf/api/gc", NULL, 0);
    EXPECT_ERR(f, 403, "DENIED");
    R(f, "DELETE", "/_wharf/api/repositories/ui/app", NULL, 0);
    EXPECT_ERR(f, 403, "DENIED");
    R(f, "DELETE", "/_wharf/api/repositories/ui/app", NULL, 0, "X-Wharf-CSRF: 00");
    EXPECT_ERR(f, 403, "DENIED");
    R(f, "DELETE", "/_wharf/api/repositories/ui/app", NULL, 0,
      arena_printf(f->ta, "X-Wharf-CSRF: %s", csrf), "Origin: http://evil.test");
    EXPECT_ERR(f, 403, "DENIED");
    R(f, "DELETE", "/v2/ui/app/manifests/v2", NULL, 0, "Sec-Fetch-Site: cross-site",
      arena_printf(f->ta, "X-Wharf-CSRF: %s", csrf));
    EXPECT_ERR(f, 403, "DENIED");
    R(f, "DELETE", "/v2/ui/app/manifests/v2", NULL, 0, "Origin: http://reg.test");
    EXPECT_ERR(f, 403, "DENIED");
    R(f, "DELETE", "/v2/ui/app/manifests/v2", NULL, 0, "Origin: http://reg.test",
      "Sec-Fetch-Site: same-origin", arena_printf(f->ta, "X-Wharf-CSRF: %s", csrf));
    EXPECT_STATUS(f, 202);
    R(f, "DELETE", "/v2/ui/app/manifests/v1", NULL, 0); /* a command-line client */
    EXPECT_STATUS(f, 202);
    R(f, "DELETE", "/_wharf/api/repositories/Bad..Name", NULL, 0,
      arena_printf(f->ta, "X-Wharf-CSRF: %s", csrf));
    EXPECT_ERR(f, 400, "NAME_INVALID");
    R(f, "DELETE", "/_wharf/api/repositories/ui/app", NULL, 0,
      arena_printf(f->ta, "X-Wharf-CSRF: %s", csrf), "Origin: http://reg.test");
    EXPECT_STATUS(f, 202);
    R(f, "GET", "/v2/ui/app/tags/list", NULL, 0);
    EXPECT_ERR(f, 404, "NAME_UNKNOWN");
    R(f, "DELETE", "/_wharf/api/repositories/ui/app", NULL, 0,
      arena_printf(f->ta, "X-Wharf-CSRF: %s", csrf));
    EXPECT_ERR(f, 404, "NAME_UNKNOWN");
    /* (a GC run, online with its settle time, is t_ui.sh's) */
}

/* read-only mode and disabled deletes refuse the UI's writes as the API's */
static void test_ui_api_refused(void **state)
{
    struct fx *f = *state;
    R(f, "GET", "/_wharf/api/whoami", NULL, 0);
    const char *csrf = jget(f, "csrf"), *ro = jget(f, "readonly");
    R(f, "DELETE", "/_wharf/api/repositories/r", NULL, 0,
      arena_printf(f->ta, "X-Wharf-CSRF: %s", csrf));
    EXPECT_ERR(f, 405, "UNSUPPORTED");
    if (!strcmp(ro, "true")) {
        R(f, "POST", "/_wharf/api/gc", NULL, 0, arena_printf(f->ta, "X-Wharf-CSRF: %s", csrf));
        EXPECT_ERR(f, 405, "UNSUPPORTED");
    }
}

static void test_readonly(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *method, *uri, *allow;
    } writes[] = {
        {"POST", "/v2/r/blobs/uploads/", ""},
        {"PATCH", "/v2/r/blobs/uploads/" UUID0, "GET"},
        {"PUT", "/v2/r/blobs/uploads/" UUID0 "?digest=" ZERO_DIGEST, "GET"},
        {"DELETE", "/v2/r/blobs/uploads/" UUID0, "GET"},
        {"PUT", "/v2/r/manifests/t", "GET, HEAD"},
        {"DELETE", "/v2/r/manifests/t", "GET, HEAD"},
        {"DELETE", "/v2/r/manifests/" ZERO_DIGEST, "GET, HEAD"},
        {"DELETE", "/v2/r/blobs/" ZERO_DIGEST, "GET, HEAD"},
    };
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        R(f, writes[i].method, writes[i].uri, "{}", 2);
        EXPECT_ERR(f, 405, "UNSUPPORTED");
        EXPECT_HDR(f, "Allow", writes[i].allow);
    }
    /* reads go on */
    R(f, "GET", "/v2/", NULL, 0);
    EXPECT_STATUS(f, 200);
    R(f, "GET", "/v2/r/manifests/t", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "GET", "/v2/r/blobs/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    R(f, "GET", "/v2/r/tags/list", NULL, 0);
    EXPECT_ERR(f, 404, "NAME_UNKNOWN");
    R(f, "GET", "/v2/_catalog", NULL, 0);
    EXPECT_STATUS(f, 200);
    R(f, "GET", "/v2/r/blobs/uploads/" UUID0, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UPLOAD_UNKNOWN");
    R(f, "GET", "/v2/r/referrers/" ZERO_DIGEST, NULL, 0);
    EXPECT_STATUS(f, 200);
    /* grammar is still checked first */
    R(f, "PUT", "/v2/BAD/manifests/t", "{}", 2);
    EXPECT_ERR(f, 400, "NAME_INVALID");
}

static void test_delete_disabled(void **state)
{
    struct fx *f = *state;
    const char *m = image(f, "r", NULL, 0, NULL);
    const char *d = put_manifest(f, "r", "t", m);
    const char *layer = digest_str(f, LAYER_BLOB, strlen(LAYER_BLOB));
    /* Content Management: "MUST respond with either a 400 Bad Request or a
     * 405 Method Not Allowed" — and nothing is deleted */
    const char *dels[] = {"/v2/r/manifests/t", arena_printf(f->ta, "/v2/r/manifests/%s", d),
                          arena_printf(f->ta, "/v2/r/blobs/%s", layer)};
    for (size_t i = 0; i < 3; i++) {
        R(f, "DELETE", dels[i], NULL, 0);
        EXPECT_ERR(f, 405, "UNSUPPORTED");
        const char *allow = hdr(f, "Allow");
        if (!allow || strstr(allow, "DELETE") || !strstr(allow, "GET"))
            FAIL(f, __LINE__, "Allow %s", allow ? allow : "(none)");
        R(f, "GET", dels[i], NULL, 0);
        EXPECT_STATUS(f, 200);
    }
    /* cancelling an upload is not a delete of content */
    const char *up = start(f, "r");
    R(f, "DELETE", up, NULL, 0);
    EXPECT_STATUS(f, 204);
}

/* ---- authentication ----------------------------------------------------------- */

static void test_auth_htpasswd(void **state)
{
    struct fx *f = *state;
    const char *routes[][2] = {
        {"GET", "/v2/"},         {"GET", "/v2/r/manifests/t"}, {"POST", "/v2/r/blobs/uploads/"},
        {"GET", "/v2/_catalog"}, {"GET", "/v2/r/tags/list"},
    };
    /* alice:secret, alice:wrong, nobody:secret, not Basic, not base64 */
    const char *creds[] = {NULL, "Authorization: Basic YWxpY2U6d3Jvbmc=",
                           "Authorization: Basic bm9ib2R5OnNlY3JldA==", "Authorization: Bearer abc",
                           "Authorization: Basic %%%"};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        for (size_t j = 0; j < sizeof creds / sizeof creds[0]; j++) {
            if (creds[j])
                R(f, routes[i][0], routes[i][1], NULL, 0, creds[j]);
            else
                R(f, routes[i][0], routes[i][1], NULL, 0);
            EXPECT_ERR(f, 401, "UNAUTHORIZED");
            EXPECT_HDR(f, "WWW-Authenticate", "Basic realm=\"wharf-test\"");
        }
    f->auth = "Authorization: Basic YWxpY2U6c2VjcmV0";
    R(f, "GET", "/v2/", NULL, 0);
    EXPECT_STATUS(f, 200);
    R(f, "GET", "/v2/r/manifests/t", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "POST", "/v2/r/blobs/uploads/", NULL, 0);
    EXPECT_STATUS(f, 202);
    /* grammar before credentials? Either way, never a 2xx */
    f->auth = NULL;
    R(f, "GET", "/v2/BAD/tags/list", NULL, 0);
    if (f->status != 400 && f->status != 401) FAIL(f, __LINE__, "bad name without credentials");
}

/* ---- events (handlers/events.c) --------------------------------------------- */

/* journal_events: the events in the journal, parsed (an array; caller: put) */
static struct json_object *journal_events(struct fx *f)
{
    struct json_object *arr = json_object_new_array();
    FILE *fp = fopen(arena_printf(f->ta, "%s/events/current.log", f->dir), "r");
    if (!fp) return arr;
    char line[65536];
    while (fgets(line, sizeof line, fp)) {
        size_t n = strlen(line);
        assert_true(n > 0 && line[n - 1] == '\n'); /* whole lines */
        struct json_object *o = json_tokener_parse(line);
        assert_non_null(o);
        json_object_array_add(arr, o);
    }
    fclose(fp);
    return arr;
}

static const char *jpath(struct json_object *o, const char *a, const char *b)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, a, &v)) return NULL;
    if (b && !json_object_object_get_ex(v, b, &v)) return NULL;
    return json_object_get_string(v);
}

/* expect_event: the event at index i has action, method, repository and the
 * digest / tag / fromRepository given (NULL: absent, "*": any) */
static struct json_object *expect_event(struct json_object *evs, size_t i, const char *action,
                                        const char *method, const char *repo, const char *digest,
                                        const char *tag, const char *from)
{
    if (i >= json_object_array_length(evs))
        fail_msg("event %zu missing (%zu events)", i, json_object_array_length(evs));
    struct json_object *e = json_object_array_get_idx(evs, i);
    const char *what = json_object_to_json_string(e);
    if (strcmp(jpath(e, "action", NULL), action) || strcmp(jpath(e, "request", "method"), method) ||
        strcmp(jpath(e, "target", "repository"), repo))
        fail_msg("event %zu: want %s %s %s: %s", i, action, method, repo, what);
    const char *got[3] = {jpath(e, "target", "digest"), jpath(e, "target", "tag"),
                          jpath(e, "target", "fromRepository")};
    const char *want[3] = {digest, tag, from};
    for (int k = 0; k < 3; k++)
        if (!(want[k] && !strcmp(want[k], "*") && got[k]) && /* "*": any value */
            ((got[k] == NULL) != (want[k] == NULL) || (got[k] && strcmp(got[k], want[k]))))
            fail_msg("event %zu: field %d want %s: %s", i, k, want[k] ? want[k] : "absent", what);
    /* every event: the caller, the request, the source */
    assert_string_equal(jpath(e, "actor", "name"), "alice");
    assert_string_equal(jpath(e, "request", "host"), "reg.test");
    assert_string_equal(jpath(e, "request", "addr"), "127.0.0.1");
    assert_int_equal(strlen(jpath(e, "id", NULL)), 36);
    assert_int_equal(strlen(jpath(e, "source", "instanceID")), 36);
    return e;
}

static void test_events(void **state)
{
    struct fx *f = *state;
    struct json_object *evs;
    /* a blob pushed (monolithic), an upload cancelled (nothing), a failed push (nothing) */
    const char *d = push_blob(f, "r", "event blob");
    const char *up = start(f, "r");
    R(f, "DELETE", up, NULL, 0);
    EXPECT_STATUS(f, 204);
    R(f, "POST", "/v2/r/blobs/uploads/?digest=" ZERO_DIGEST, "data", 4);
    EXPECT_ERR(f, 400, "DIGEST_INVALID");
    evs = journal_events(f);
    assert_int_equal(json_object_array_length(evs), 1);
    struct json_object *e = expect_event(evs, 0, "push", "POST", "r", d, NULL, NULL);
    assert_string_equal(jpath(e, "target", "mediaType"), "application/octet-stream");
    assert_string_equal(jpath(e, "target", "url"),
                        arena_printf(f->ta, "http://reg.test/v2/r/blobs/%s", d));
    assert_string_equal(jpath(e, "target", "size"), "10");
    assert_string_equal(jpath(e, "target", "length"), "10");
    json_object_put(evs);

    /* a manifest by tag (2 blob pushes first), pulled by tag (GET) and by digest (HEAD) */
    const char *m = image(f, "r", NULL, 0, NULL);
    const char *md = put_manifest(f, "r", "t1", m);
    R(f, "GET", "/v2/r/manifests/t1", NULL, 0, "Accept: " MT_OCI_MANIFEST);
    EXPECT_STATUS(f, 200);
    R(f, "HEAD", arena_printf(f->ta, "/v2/r/manifests/%s", md), NULL, 0);
    EXPECT_STATUS(f, 200);
    R(f, "GET", "/v2/r/manifests/nosuch", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "GET", arena_printf(f->ta, "/v2/r/blobs/%s", d), NULL, 0);
    EXPECT_STATUS(f, 200);
    R(f, "GET", "/v2/r/blobs/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    evs = journal_events(f);
    assert_int_equal(json_object_array_length(evs), 1 + 2 + 1 + 2 + 1);
    e = expect_event(evs, 3, "push", "PUT", "r", md, "t1", NULL);
    assert_string_equal(jpath(e, "target", "mediaType"), MT_OCI_MANIFEST);
    struct json_object *refs;
    assert_true(
        json_object_object_get_ex(json_object_object_get(e, "target"), "references", &refs));
    assert_int_equal(json_object_array_length(refs), 2); /* config, layer */
    assert_string_equal(jpath(json_object_array_get_idx(refs, 0), "digest", NULL),
                        digest_str(f, CONFIG_BLOB, strlen(CONFIG_BLOB)));
    expect_event(evs, 4, "pull", "GET", "r", md, "t1", NULL);
    expect_event(evs, 5, "pull", "HEAD", "r", md, NULL, NULL);
    expect_event(evs, 6, "pull", "GET", "r", d, NULL, NULL);
    json_object_put(evs);

    /* mounts: from=, and found without from=; one that cannot be done: nothing */
    R(f, "POST", arena_printf(f->ta, "/v2/m/blobs/uploads/?mount=%s&from=r", d), NULL, 0);
    EXPECT_STATUS(f, 201);
    R(f, "POST", arena_printf(f->ta, "/v2/n/blobs/uploads/?mount=%s", d), NULL, 0);
    EXPECT_STATUS(f, 201);
    R(f, "POST", arena_printf(f->ta, "/v2/n/blobs/uploads/?mount=%s", d), NULL, 0);
    EXPECT_STATUS(f, 201); /* already there: nothing changes, no event */
    R(f, "POST", "/v2/o/blobs/uploads/?mount=" ZERO_DIGEST "&from=r", NULL, 0);
    EXPECT_STATUS(f, 202);
    /* deletes: a tag, a manifest, a blob; an unknown one raises nothing */
    R(f, "DELETE", "/v2/r/manifests/t1", NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "DELETE", arena_printf(f->ta, "/v2/r/manifests/%s", md), NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "DELETE", arena_printf(f->ta, "/v2/m/blobs/%s", d), NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "DELETE", arena_printf(f->ta, "/v2/m/blobs/%s", d), NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    evs = journal_events(f);
    assert_int_equal(json_object_array_length(evs), 7 + 2 + 3);
    expect_event(evs, 7, "mount", "POST", "m", d, NULL, "r");
    expect_event(evs, 8, "mount", "POST", "n", d, NULL, "*"); /* from whichever held it */
    e = expect_event(evs, 9, "delete", "DELETE", "r", NULL, "t1", NULL);
    assert_null(jpath(e, "target", "mediaType"));
    assert_null(jpath(e, "target", "url"));
    expect_event(evs, 10, "delete", "DELETE", "r", md, NULL, NULL);
    expect_event(evs, 11, "delete", "DELETE", "m", d, NULL, NULL);
    json_object_put(evs);
}

/* token: a bearer token for the test's key, granting access (a JSON array) */
static const char *token(struct fx *f, const char *access, long exp_off)
{
    time_t now = time(NULL);
    const char *claims = arena_printf(
        f->ta,
        "{\"iss\":\"test-issuer\",\"sub\":\"alice\",\"aud\":\"reg.test\",\"exp\":%lld,"
        "\"nbf\":%lld,\"iat\":%lld,\"jti\":\"j\",\"access\":%s}",
        (long long)(now + exp_off), (long long)(now - 10), (long long)(now - 10), access);
    struct json_object *pl = json_tokener_parse(claims);
    assert_non_null(pl);
    char *tok = NULL;
    assert_int_equal(jwt_sign(f->key, f->kid, pl, &tok), 0);
    json_object_put(pl);
    const char *h = arena_printf(f->ta, "Authorization: Bearer %s", tok);
    free(tok);
    return h;
}

static void expect_challenge(struct fx *f, const char *scope, const char *error, int line)
{
    const char *w = hdr(f, "WWW-Authenticate");
    const char *want = arena_printf(
        f->ta, "Bearer realm=\"https://auth.test/token\",service=\"reg.test\"%s%s%s%s%s",
        scope ? ",scope=\"" : "", scope ? scope : "", scope ? "\"" : "", error ? ",error=" : "",
        error ? arena_printf(f->ta, "\"%s\"", error) : "");
    if (!w || strcmp(w, want))
        FAIL(f, line, "WWW-Authenticate %s, want %s", w ? w : "(none)", want);
}
#define EXPECT_CHALLENGE(f, scope, error) expect_challenge(f, scope, error, __LINE__)

static void test_auth_token(void **state)
{
    struct fx *f = *state;
    R(f, "GET", "/v2/", NULL, 0);
    EXPECT_ERR(f, 401, "UNAUTHORIZED");
    EXPECT_CHALLENGE(f, NULL, NULL);
    R(f, "GET", "/v2/r/manifests/t", NULL, 0);
    EXPECT_ERR(f, 401, "UNAUTHORIZED");
    EXPECT_CHALLENGE(f, "repository:r:pull", NULL);
    R(f, "GET", "/v2/r/manifests/t", NULL, 0, "Authorization: Bearer not.a.token");
    EXPECT_ERR(f, 401, "UNAUTHORIZED");
    EXPECT_CHALLENGE(f, "repository:r:pull", "invalid_token");
    R(f, "GET", "/v2/r/manifests/t", NULL, 0, "Authorization: Basic YWxpY2U6c2VjcmV0");
    EXPECT_ERR(f, 401, "UNAUTHORIZED");
    /* an expired token (past the 60 s leeway) */
    R(f, "GET", "/v2/r/manifests/t", NULL, 0,
      token(f, "[{\"type\":\"repository\",\"name\":\"r\",\"actions\":[\"pull\"]}]", -120));
    EXPECT_ERR(f, 401, "UNAUTHORIZED");
    EXPECT_CHALLENGE(f, "repository:r:pull", "invalid_token");

    /* pull on r only */
    f->auth = token(f, "[{\"type\":\"repository\",\"name\":\"r\",\"actions\":[\"pull\"]}]", 300);
    R(f, "GET", "/v2/", NULL, 0);
    EXPECT_STATUS(f, 200);
    R(f, "GET", "/v2/r/manifests/t", NULL, 0);
    EXPECT_ERR(f, 404, "MANIFEST_UNKNOWN");
    R(f, "GET", "/v2/r/tags/list", NULL, 0);
    EXPECT_ERR(f, 404, "NAME_UNKNOWN");
    R(f, "POST", "/v2/r/blobs/uploads/", NULL, 0);
    EXPECT_ERR(f, 401, "DENIED");
    EXPECT_CHALLENGE(f, "repository:r:pull,push", "insufficient_scope");
    R(f, "DELETE", "/v2/r/manifests/" ZERO_DIGEST, NULL, 0);
    EXPECT_ERR(f, 401, "DENIED");
    EXPECT_CHALLENGE(f, "repository:r:delete", "insufficient_scope");
    R(f, "GET", "/v2/s/manifests/t", NULL, 0);
    EXPECT_ERR(f, 401, "DENIED");
    EXPECT_CHALLENGE(f, "repository:s:pull", "insufficient_scope");
    R(f, "GET", "/v2/_catalog", NULL, 0);
    EXPECT_ERR(f, 401, "DENIED");
    EXPECT_CHALLENGE(f, "registry:catalog:*", "insufficient_scope");

    /* a blob in s and one in t, pushed with push rights there */
    f->auth = token(f,
                    "[{\"type\":\"repository\",\"name\":\"s\",\"actions\":[\"pull\",\"push\"]},"
                    "{\"type\":\"repository\",\"name\":\"t\",\"actions\":[\"push\"]}]",
                    300);
    const char *ds = push_blob(f, "s", "in s");
    const char *dt = push_blob(f, "t", "in t");
    put_manifest(f, "t", "x", image(f, "t", NULL, 0, NULL)); /* t is in the catalog */

    /* push on r, pull on s but not on t: a mount reads `from`, so only s's
     * blob is mounted; the other falls back to an upload session */
    f->auth = token(f,
                    "[{\"type\":\"repository\",\"name\":\"r\",\"actions\":[\"pull\",\"push\"]},"
                    "{\"type\":\"repository\",\"name\":\"s\",\"actions\":[\"pull\"]}]",
                    300);
    R(f, "POST", arena_printf(f->ta, "/v2/r/blobs/uploads/?mount=%s&from=t", dt), NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "HEAD", arena_printf(f->ta, "/v2/r/blobs/%s", dt), NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    R(f, "POST", arena_printf(f->ta, "/v2/r/blobs/uploads/?mount=%s", dt), NULL, 0);
    EXPECT_STATUS(f, 202); /* mount without from: only repositories the caller may pull */
    R(f, "HEAD", arena_printf(f->ta, "/v2/r/blobs/%s", dt), NULL, 0);
    EXPECT_ERR(f, 404, "BLOB_UNKNOWN");
    R(f, "POST", arena_printf(f->ta, "/v2/r/blobs/uploads/?mount=%s&from=s", ds), NULL, 0);
    EXPECT_STATUS(f, 201);
    R(f, "HEAD", arena_printf(f->ta, "/v2/r/blobs/%s", ds), NULL, 0);
    EXPECT_STATUS(f, 200);
    /* a mount's challenge asks for pull on `from` too */
    f->auth = NULL;
    R(f, "POST", arena_printf(f->ta, "/v2/r/blobs/uploads/?mount=%s&from=s", ds), NULL, 0);
    EXPECT_ERR(f, 401, "UNAUTHORIZED");
    EXPECT_CHALLENGE(f, "repository:r:pull,push repository:s:pull", NULL);
}

/* _catalog for a token whose wharf_catalog claim limits what it may see: the
 * same paging rules as the unfiltered catalog */
static void test_catalog_filtered(void **state)
{
    struct fx *f = *state;
    const char *names[] = {"a1", "a2", "b1", "a3/x", "a4"};
    const char *acc = "";
    for (size_t i = 0; i < 5; i++)
        acc =
            arena_printf(f->ta, "%s%s{\"type\":\"repository\",\"name\":\"%s\",\"actions\":[\"*\"]}",
                         acc, i ? "," : "", names[i]);
    f->auth = token(f, arena_printf(f->ta, "[%s]", acc), 300);
    for (size_t i = 0; i < 5; i++)
        put_manifest(f, names[i], "t", image(f, names[i], NULL, 0, NULL));
    f->auth = token(f, "[{\"type\":\"registry\",\"name\":\"catalog\",\"actions\":[\"*\"]}]", 300);
    R(f, "GET", "/v2/_catalog", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "repositories"), "a1,a2,a3/x,a4,b1");

    /* the same claim with the patterns this caller may pull */
    const char *claim = "[{\"type\":\"registry\",\"name\":\"catalog\",\"actions\":[\"*\"]}]";
    time_t now = time(NULL);
    struct json_object *pl = json_tokener_parse(
        arena_printf(f->ta,
                     "{\"iss\":\"test-issuer\",\"sub\":\"bob\",\"aud\":\"reg.test\",\"exp\":%lld,"
                     "\"nbf\":%lld,\"access\":%s,\"wharf_catalog\":[\"a*\"]}",
                     (long long)(now + 300), (long long)(now - 10), claim));
    char *tok = NULL;
    assert_int_equal(jwt_sign(f->key, f->kid, pl, &tok), 0);
    json_object_put(pl);
    f->auth = arena_printf(f->ta, "Authorization: Bearer %s", tok);
    free(tok);
    R(f, "GET", "/v2/_catalog", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "repositories"), "a1,a2,a3/x,a4");
    EXPECT_HDR(f, "Link", NULL);
    R(f, "GET", "/v2/_catalog?n=2", NULL, 0);
    assert_string_equal(json_strings(f, "repositories"), "a1,a2");
    EXPECT_HDR(f, "Link", "</v2/_catalog?last=a2&n=2>; rel=\"next\"");
    R(f, "GET", "/v2/_catalog?n=1&last=a2", NULL, 0);
    assert_string_equal(json_strings(f, "repositories"), "a3/x");
    EXPECT_HDR(f, "Link", "</v2/_catalog?last=a3%2Fx&n=1>; rel=\"next\"");
    R(f, "GET", "/v2/_catalog?n=2&last=a3%2Fx", NULL, 0);
    assert_string_equal(json_strings(f, "repositories"), "a4");
    EXPECT_HDR(f, "Link", NULL);
    R(f, "GET", "/v2/_catalog?n=0", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "repositories"), "");
    EXPECT_HDR(f, "Link", NULL);
    R(f, "GET", "/v2/_catalog?n=99999999999999999999", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_string_equal(json_strings(f, "repositories"), "a1,a2,a3/x,a4");
    const char *badn[] = {"-1", "x", "", "2.5"};
    for (size_t i = 0; i < sizeof badn / sizeof badn[0]; i++) {
        R(f, "GET", arena_printf(f->ta, "/v2/_catalog?n=%s", badn[i]), NULL, 0);
        EXPECT_ERR(f, 400, "PAGINATION_NUMBER_INVALID");
    }
}

/* the token service (fastcgi.tokenservice): its error paths, and that what
 * it issues is exactly what the registry then accepts */
static const char *issued(struct fx *f, const char *key)
{
    struct json_object *v;
    if (!f->json || !json_object_object_get_ex(f->json, key, &v)) FAIL(f, __LINE__, "no %s", key);
    return arena_strdup(f->ta, json_object_get_string(v));
}

static void test_token_service(void **state)
{
    struct fx *f = *state;
    const char *q = "/auth/token?service=reg.test&scope=repository:r:pull,push";
    /* wrong credentials, unknown user, not Basic */
    const char *bad[] = {"Authorization: Basic YWxpY2U6d3Jvbmc=",
                         "Authorization: Basic bm9ib2R5OnNlY3JldA==", "Authorization: Bearer x"};
    for (size_t i = 0; i < 3; i++) {
        R(f, "GET", q, NULL, 0, bad[i]);
        EXPECT_ERR(f, 401, "UNAUTHORIZED");
        EXPECT_HDR(f, "WWW-Authenticate", "Basic realm=\"reg.test\"");
        EXPECT_HDR(f, "Cache-Control", "no-store");
    }
    R(f, "GET", "/auth/token?service=other.test&scope=repository:r:pull", NULL, 0,
      "Authorization: Basic YWxpY2U6c2VjcmV0");
    EXPECT_ERR(f, 400, "UNSUPPORTED");
    R(f, "PUT", "/auth/token", NULL, 0);
    EXPECT_ERR(f, 405, "UNSUPPORTED");
    EXPECT_HDR(f, "Allow", "GET, POST");

    /* anonymous: a token that grants nothing */
    R(f, "GET", q, NULL, 0);
    EXPECT_STATUS(f, 200);
    f->auth = arena_printf(f->ta, "Authorization: Bearer %s", issued(f, "token"));
    R(f, "GET", "/v2/r/tags/list", NULL, 0);
    EXPECT_ERR(f, 401, "DENIED");
    f->auth = NULL;
    /* alice: pull and push on r (no access rules: a user may do everything
     * asked), nothing on what she did not ask for */
    R(f, "GET", q, NULL, 0, "Authorization: Basic YWxpY2U6c2VjcmV0");
    EXPECT_STATUS(f, 200);
    assert_string_equal(issued(f, "token"), issued(f, "access_token"));
    issued(f, "expires_in");
    issued(f, "issued_at");
    f->auth = arena_printf(f->ta, "Authorization: Bearer %s", issued(f, "token"));
    R(f, "POST", "/v2/r/blobs/uploads/", NULL, 0);
    EXPECT_STATUS(f, 202);
    R(f, "GET", "/v2/s/tags/list", NULL, 0);
    EXPECT_ERR(f, 401, "DENIED");
    f->auth = NULL;

    /* the OAuth2 form */
    const char *ct = "Content-Type: application/x-www-form-urlencoded";
    const char *wrong = "grant_type=password&service=reg.test&username=alice&password=nope";
    R(f, "POST", "/auth/token", wrong, strlen(wrong), ct);
    EXPECT_ERR(f, 401, "UNAUTHORIZED");
    const char *nogrant = "grant_type=client_credentials&service=reg.test";
    R(f, "POST", "/auth/token", nogrant, strlen(nogrant), ct);
    EXPECT_ERR(f, 400, "UNSUPPORTED");
    const char *badrt = "grant_type=refresh_token&service=reg.test&refresh_token=abc";
    R(f, "POST", "/auth/token", badrt, strlen(badrt), ct);
    EXPECT_ERR(f, 401, "UNAUTHORIZED");
    R(f, "POST", "/auth/token", wrong, strlen(wrong), ct, "Content-Length: 1000"); /* broke off */
    EXPECT_ERR(f, 400, "UNSUPPORTED");
    char *huge = arena_alloc(f->ta, 70000);
    memset(huge, 'a', 70000);
    R(f, "POST", "/auth/token", huge, 70000, ct);
    EXPECT_ERR(f, 413, "SIZE_INVALID");
    const char *good = "grant_type=password&service=reg.test&username=alice&password=secret"
                       "&access_type=offline&scope=repository%3Ar%3Apull";
    R(f, "POST", "/auth/token", good, strlen(good), ct);
    EXPECT_STATUS(f, 200);
    const char *refresh = issued(f, "refresh_token");
    /* a refresh token is never an access token */
    f->auth = arena_printf(f->ta, "Authorization: Bearer %s", refresh);
    R(f, "GET", "/v2/r/tags/list", NULL, 0);
    EXPECT_ERR(f, 401, "UNAUTHORIZED");
    f->auth = NULL;
    const char *again = arena_printf(
        f->ta,
        "grant_type=refresh_token&service=reg.test&refresh_token=%s&scope=repository%%3Ar%%3Apull",
        refresh);
    R(f, "POST", "/auth/token", again, strlen(again), ct);
    EXPECT_STATUS(f, 200);
    f->auth = arena_printf(f->ta, "Authorization: Bearer %s", issued(f, "access_token"));
    R(f, "GET", "/v2/r/tags/list", NULL, 0);
    EXPECT_STATUS(f, 200); /* r exists: it has the upload started above */
}

/* each test on a fresh app; its name says which configuration */
/* clang-format off */
#define T(fn, setup) {#fn " (" #setup ")", fn, setup, fx_close, NULL}
/* clang-format on */

/* health (issue 14): while a check fails (lib/health.h's table), /v2/
 * answers the reference's health middleware's 503, without the app's
 * headers; only when a check is configured */
static int setup_health(void **state)
{
    return fx_open(state, "version: 0.1\n"
                          "storage:\n"
                          "  inmemory:\n"
                          "http:\n"
                          "  headers: {X-Custom: [yes]}\n"
                          "health:\n"
                          "  file:\n"
                          "    - file: /nonexistent/drain\n");
}
static void test_health_gate(void **state)
{
    struct fx *f = *state;
    assert_int_equal(health_init(), 0);
    health_reset();
    R(f, "GET", "/v2/", NULL, 0);
    EXPECT_STATUS(f, 200);
    assert_int_equal(health_set(0, "/nonexistent/drain", 1, 1, "file exists"), 0);
    static const char *const gated[] = {"/v2/", "/v2", "/v2/a/b/manifests/latest", "/v2/_catalog",
                                        "/v2/a/blobs/uploads/"};
    for (size_t i = 0; i < sizeof gated / sizeof gated[0]; i++) {
        R(f, "GET", gated[i], NULL, 0);
        assert_int_equal(f->status, 503); /* EXPECT_STATUS wants the API version header */
        assert_string_equal(f->body, "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"service "
                                     "unavailable\",\"detail\":\"health check failed: please see "
                                     "/debug/health\"}]}\n");
        EXPECT_HDR(f, "Content-Type", "application/json; charset=utf-8");
        assert_null(hdr(f, "Docker-Distribution-API-Version"));
        assert_null(hdr(f, "X-Custom"));
    }
    R(f, "GET", "/v2x", NULL, 0); /* not /v2/: not gated (404 of the router) */
    EXPECT_STATUS(f, 404);
    assert_int_equal(health_set(0, "/nonexistent/drain", 0, 0, NULL), 0);
    R(f, "GET", "/v2/", NULL, 0);
    EXPECT_STATUS(f, 200);
    health_reset();
}
/* a failing table does not gate a configuration without checks */
static void test_health_not_configured(void **state)
{
    struct fx *f = *state;
    assert_int_equal(health_init(), 0);
    assert_int_equal(health_set(0, "x", 1, 1, "stale"), 0);
    R(f, "GET", "/v2/", NULL, 0);
    EXPECT_STATUS(f, 200);
    health_reset();
}

int main(void)
{
    log_init(LOG_ERROR, 0, NULL);
    const struct CMUnitTest tests[] = {
        T(test_base_and_unknown_routes, setup_mem),
        T(test_methods_not_allowed, setup_mem),
        T(test_name_grammar, setup_mem),
        T(test_reference_grammar, setup_mem),
        T(test_blobs, setup_mem),
        T(test_blobs, setup_fs),
        T(test_blob_accel, setup_fs_nginx),
        T(test_blob_accel, setup_fs_apache),
        T(test_mirror_local, setup_mirror),
        T(test_upload_chunks, setup_mem),
        T(test_upload_chunks, setup_fs),
        T(test_upload_lock_free_at_answer, setup_mem),
        T(test_upload_lock_free_at_answer, setup_fs),
        T(test_upload_errors, setup_mem),
        T(test_upload_errors, setup_fs),
        T(test_upload_monolithic_and_mount, setup_mem),
        T(test_upload_monolithic_and_mount, setup_fs),
        T(test_manifests, setup_mem),
        T(test_manifests, setup_fs),
        T(test_tags_pagination, setup_mem),
        T(test_tags_pagination, setup_fs),
        T(test_catalog_bounds, setup_mem),
        T(test_catalog_bounds, setup_fs),
        T(test_api_repositories_search, setup_mem),
        T(test_api_repositories_search, setup_fs),
        T(test_referrers, setup_mem),
        T(test_referrers, setup_fs),
        T(test_ui_api, setup_mem),
        T(test_ui_api, setup_fs),
        T(test_ui_api_refused, setup_readonly),
        T(test_ui_api_refused, setup_nodelete),
        T(test_readonly, setup_readonly),
        T(test_delete_disabled, setup_nodelete),
        T(test_auth_htpasswd, setup_htpasswd),
        T(test_auth_token, setup_token),
        T(test_catalog_filtered, setup_token),
        T(test_token_service, setup_tokensvc),
        T(test_health_gate, setup_health),
        T(test_health_not_configured, setup_mem),
        T(test_events, setup_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
