/* test_middleware.c — storage/middleware/middleware.c and the middleware: section of
 * lib/config.c: redirect URLs, CloudFront canned-policy signed URLs checked
 * against `openssl dgst -sha1 -sign` run here on the policy text built here
 * from AWS's documented format (and verified with the public key), the
 * option rules, and the fall-back of cloudfront on a non-S3 driver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/arena.h"
#include "../../lib/config.h"
#include "../../lib/err.h"
#include "../../storage/driver.h"
#include "../../storage/middleware/middleware.h"

static char dir[64];

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return rc == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/wharf-mw-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char cmd[512];
    snprintf(
        cmd, sizeof cmd,
        "cd %s && openssl genrsa -traditional -out key.pem 2048 2>/dev/null && "
        "openssl rsa -in key.pem -pubout -out pub.pem 2>/dev/null && "
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out pk8.pem 2>/dev/null && "
        "openssl ecparam -name prime256v1 -genkey -noout -out ec.pem 2>/dev/null",
        dir);
    return sh(cmd);
}

static int group_teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return sh(cmd);
}

/* load: config from yaml text (written to a file); err into errbuf */
static int load(const char *yaml, struct config **out, char *err, size_t errlen)
{
    char path[128];
    snprintf(path, sizeof path, "%s/config.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    err[0] = 0;
    return config_load(path, NULL, out, err, errlen);
}

#define S3                                                                                         \
    "version: 0.1\nstorage:\n  s3:\n    accesskey: a\n    secretkey: s\n    region: us-east-1\n  " \
    "  bucket: b\n    rootdirectory: /r/oot/\n"
#define BLOB "/docker/registry/v2/blobs/sha256/ab/abcdef/data"

static char *run(const char *cmd, struct arena *a)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    assert_int_equal(pclose(p), 0);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return arena_strdup(a, buf);
}

static char *param(struct arena *a, const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    assert_non_null(q);
    size_t nl = strlen(name);
    for (const char *p = q + 1; p && *p;) {
        const char *e = strchr(p, '&');
        if (!strncmp(p, name, nl) && p[nl] == '=')
            return arena_strndup(a, p + nl + 1, e ? (size_t)(e - p - nl - 1) : strlen(p + nl + 1));
        p = e ? e + 1 : NULL;
    }
    fail_msg("no %s in %s", name, url);
    return NULL;
}

static void check_cloudfront(const char *keyfile)
{
    struct arena *a = arena_new();
    char err[512];
    struct config *cfg;
    char *yaml = arena_printf(a,
                              S3 "middleware:\n  storage:\n    - name: cloudfront\n      options:\n"
                                 "        baseurl: cdn.example.com\n        privatekey: %s/%s\n"
                                 "        keypairid: K2JCJMDEHXQW5F\n        duration: 3000s\n"
                                 "        ipfilteredby: none\n",
                              dir, keyfile);
    if (load(yaml, &cfg, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(cfg->nstorage_mw, 1);
    assert_string_equal(cfg->storage_mw[0].baseurl, "https://cdn.example.com/");
    assert_int_equal(cfg->storage_mw[0].duration, 3000);
    struct storage_driver *in, *d;
    assert_int_equal(driver_inmemory_new(&in), 0);
    assert_int_equal(storage_middleware_wrap(cfg, in, &d, err, sizeof err), 0);
    time_t t0 = time(NULL);
    char *url;
    assert_int_equal(storage_url_for(d, a, BLOB, "GET", &url), 0);
    const char *res = "https://cdn.example.com/r/oot" BLOB;
    assert_true(strncmp(url, res, strlen(res)) == 0 && url[strlen(res)] == '?');
    long long exp = atoll(param(a, url, "Expires"));
    assert_true(exp >= t0 + 3000 && exp <= time(NULL) + 3000);
    assert_string_equal(param(a, url, "Key-Pair-Id"), "K2JCJMDEHXQW5F");
    char *sig = param(a, url, "Signature");
    /* the canned policy as AWS documents it, signed by openssl here */
    char *pol = arena_printf(a, "%s/policy.json", dir);
    FILE *f = fopen(pol, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"Statement\":[{\"Resource\":\"%s\",\"Condition\":{\"DateLessThan\":"
            "{\"AWS:EpochTime\":%lld}}}]}",
            res, exp);
    fclose(f);
    char *want = run(arena_printf(a,
                                  "openssl dgst -sha1 -sign %s/%s %s | openssl base64 -A | "
                                  "tr '+=/' '-_~'",
                                  dir, keyfile, pol),
                     a);
    assert_true(strlen(want) > 300);
    assert_string_equal(sig, want);
    /* and the public key verifies what Wharf signed */
    char *pub = arena_printf(a, "%s/pub-%s", dir, keyfile);
    assert_int_equal(
        sh(arena_printf(a, "openssl pkey -in %s/%s -pubout -out %s", dir, keyfile, pub)), 0);
    assert_int_equal(sh(arena_printf(a,
                                     "printf '%%s' '%s' | tr -- '-_~' '+=/' | openssl base64 -d -A "
                                     ">%s/sig.bin && openssl dgst -sha1 -verify %s -signature "
                                     "%s/sig.bin %s >/dev/null",
                                     sig, dir, pub, dir, pol)),
                     0);
    /* a tampered policy does not verify */
    assert_int_equal(sh(arena_printf(a,
                                     "sed -i 's/EpochTime\":/EpochTime\":1/' %s && openssl dgst "
                                     "-sha1 -verify %s -signature %s/sig.bin %s >/dev/null 2>&1",
                                     pol, pub, dir, pol)),
                     -1);
    /* the helper builds the same text */
    assert_string_equal(cloudfront_canned_policy(a, res, (time_t)exp),
                        arena_printf(a,
                                     "{\"Statement\":[{\"Resource\":\"%s\",\"Condition\":{"
                                     "\"DateLessThan\":{\"AWS:EpochTime\":%lld}}}]}",
                                     res, exp));
    /* everything else is the inner driver's */
    assert_int_equal(storage_put(d, "/x/y", "hi", 2), 0);
    struct storage_stat st;
    assert_int_equal(storage_stat(in, "/x/y", &st), 0);
    storage_driver_free(d);
    config_free(cfg);
    arena_free(a);
}

static void test_cloudfront_pkcs1(void **state)
{
    check_cloudfront("key.pem");
}

static void test_cloudfront_pkcs8(void **state)
{
    check_cloudfront("pk8.pem");
}

static void test_redirect(void **state)
{
    struct arena *a = arena_new();
    char err[512];
    struct config *cfg;
    /* a disabled entry is skipped; the redirect keeps a base path */
    if (load("version: 0.1\nstorage:\n  inmemory: {}\nmiddleware:\n  storage:\n"
             "    - name: cloudfront\n      disabled: true\n      options:\n"
             "        baseurl: x\n        privatekey: /nonexistent\n        keypairid: k\n"
             "    - name: redirect\n      options:\n        baseurl: "
             "https://blobs.example.com:8443/base/\n",
             &cfg, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(cfg->nstorage_mw, 1);
    struct storage_driver *in, *d;
    assert_int_equal(driver_inmemory_new(&in), 0);
    assert_int_equal(storage_middleware_wrap(cfg, in, &d, err, sizeof err), 0);
    char *url;
    assert_int_equal(storage_url_for(d, a, BLOB, "GET", &url), 0);
    assert_string_equal(url, "https://blobs.example.com:8443/base" BLOB);
    /* the wrapper hands lock to the inner driver, with the inner driver */
    struct storage_lock *l1, *l2;
    assert_int_equal(storage_lock(d, a, "/wharf/locks/t", 60, 0, &l1), 0);
    assert_int_equal(storage_lock(d, a, "/wharf/locks/t", 60, 0, &l2), WERR_BUSY);
    storage_unlock(l1);
    assert_int_equal(storage_lock(d, a, "/wharf/locks/t", 60, 0, &l2), 0);
    storage_unlock(l2);
    storage_driver_free(d);
    config_free(cfg);
    arena_free(a);
}

static void test_cloudfront_not_s3_falls_back(void **state)
{
    struct arena *a = arena_new();
    char err[512];
    struct config *cfg;
    char *yaml =
        arena_printf(a,
                     "version: 0.1\nstorage:\n  inmemory: {}\nmiddleware:\n  storage:\n"
                     "    - name: cloudfront\n      options:\n        baseurl: https://c/\n"
                     "        privatekey: %s/key.pem\n        keypairid: k\n",
                     dir);
    if (load(yaml, &cfg, err, sizeof err)) fail_msg("%s", err);
    struct storage_driver *in, *d;
    assert_int_equal(driver_inmemory_new(&in), 0);
    assert_int_equal(storage_middleware_wrap(cfg, in, &d, err, sizeof err), 0);
    char *url;
    assert_int_equal(storage_url_for(d, a, BLOB, "GET", &url), WERR_UNSUPPORTED);
    storage_driver_free(d);
    config_free(cfg);
    arena_free(a);
}

static void expect_error(const char *yaml_mw, const char *want)
{
    struct arena *a = arena_new();
    char err[512];
    struct config *cfg = NULL;
    char *yaml =
        arena_printf(a, "version: 0.1\nstorage:\n  inmemory: {}\nmiddleware:\n%s", yaml_mw);
    assert_int_equal(load(yaml, &cfg, err, sizeof err), WERR_INVALID);
    if (!strstr(err, want)) fail_msg("error \"%s\" lacks \"%s\"", err, want);
    arena_free(a);
}

static void test_config_errors(void **state)
{
    expect_error(
        "  storage:\n    - name: redirect\n      options:\n        baseurl: example.com\n",
        "middleware.storage[0]: options.baseurl: no scheme specified for redirect baseurl");
    expect_error("  storage:\n    - name: redirect\n      options:\n        baseurl: https:///x\n",
                 "no host specified");
    expect_error("  storage:\n    - name: redirect\n", "options.baseurl: required");
    expect_error("  storage:\n    - name: cloudfront\n      options:\n        baseurl: c\n"
                 "        privatekey: /k\n",
                 "options.keypairid: required");
    expect_error("  storage:\n    - name: cloudfront\n      options:\n        baseurl: c\n"
                 "        privatekey: /k\n        keypairid: k\n        ipfilteredby: awsregion\n",
                 "middleware.storage[0].options.ipfilteredby: \"awsregion\" is not supported");
    expect_error("  storage:\n    - name: cloudfront\n      options:\n        baseurl: c\n"
                 "        duration: soon\n",
                 "middleware.storage[0].options.duration: expected a positive duration");
    expect_error("  storage:\n    - name: gcs\n",
                 "middleware.storage[0].name: \"gcs\" is not supported");
    expect_error("  storage:\n    - name: redirect\n      option: {}\n",
                 "middleware.storage[0].option: unknown key");
    expect_error("  storage:\n    - name: redirect\n      options:\n        baseurl: http://x\n"
                 "        privatekey: /k\n",
                 "middleware.storage[0].options.privatekey: unknown key");
    expect_error("  registry:\n    - name: x\n", "middleware.registry: not supported by Wharf yet");
}

static void test_bad_key_refused(void **state)
{
    struct arena *a = arena_new();
    char err[512];
    struct config *cfg;
    const char *keys[] = {"ec.pem", "missing.pem"};
    for (size_t i = 0; i < 2; i++) {
        char *yaml =
            arena_printf(a,
                         S3 "middleware:\n  storage:\n    - name: cloudfront\n      options:\n"
                            "        baseurl: c\n        privatekey: %s/%s\n        keypairid: k\n",
                         dir, keys[i]);
        if (load(yaml, &cfg, err, sizeof err)) fail_msg("%s", err);
        struct storage_driver *in, *d = NULL;
        assert_int_equal(driver_inmemory_new(&in), 0);
        err[0] = 0;
        assert_int_equal(storage_middleware_wrap(cfg, in, &d, err, sizeof err), WERR_INVALID);
        assert_non_null(strstr(err, keys[i]));
        storage_driver_free(in);
        config_free(cfg);
    }
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cloudfront_pkcs1),
        cmocka_unit_test(test_cloudfront_pkcs8),
        cmocka_unit_test(test_redirect),
        cmocka_unit_test(test_cloudfront_not_s3_falls_back),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_bad_key_refused),
    };
    return cmocka_run_group_tests_name("middleware", tests, group_setup, group_teardown);
}
