/* test_oss.c — storage/drivers/oss.h's configuration: which host, scheme
 * and addressing style each form of storage.oss's region / endpoint /
 * internal / secure gives, and the signed URL url_for builds from them
 * (no network I/O: url_for only signs). The requests themselves are tested
 * by the driver suite against tests/storage/oss_server.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../lib/arena.h"
#include "../../lib/config.h"
#include "../../lib/err.h"
#include "../../lib/osssign.h"
#include "../../storage/driver.h"
#include "../../storage/drivers/oss.h"

/* url_for of /a b/c with these settings; NULL when driver_oss_new refuses */
static char *url_of(struct arena *a, const char *region, const char *endpoint, int internal,
                    int secure, const char *root)
{
    struct config c;
    memset(&c, 0, sizeof c);
    c.oss_accesskeyid = (char *)"LTAIunit";
    c.oss_accesskeysecret = (char *)"unit-secret";
    c.oss_region = (char *)region;
    c.oss_bucket = (char *)"bkt";
    c.oss_endpoint = (char *)endpoint;
    c.oss_internal = internal;
    c.oss_secure = secure;
    c.oss_rootdirectory = (char *)root;
    c.oss_chunksize = 10L << 20;
    struct storage_driver *d = NULL;
    char err[256] = "";
    if (driver_oss_new(&c, &d, err, sizeof err) != 0) return NULL;
    assert_string_equal(d->ops->name, "oss");
    char *url = NULL;
    assert_int_equal(storage_url_for(d, a, "/a b/c", "GET", &url), 0);
    assert_int_equal(storage_url_for(d, a, "/a b/c", "DELETE", &(char *){NULL}), WERR_UNSUPPORTED);
    storage_driver_free(d);
    return url;
}

static void expect_prefix(const char *url, const char *want)
{
    assert_non_null(url);
    if (strncmp(url, want, strlen(want))) fail_msg("url %s\ndoes not start with %s", url, want);
}

static void t_hosts(void **state)
{
    struct arena *a = *state;
    const char *q = "?OSSAccessKeyId=LTAIunit&Expires=";
    char want[256];
    /* the region's public and internal endpoints, virtual-hosted */
    snprintf(want, sizeof want, "https://bkt.oss-cn-beijing.aliyuncs.com/a%%20b/c%s", q);
    expect_prefix(url_of(a, "oss-cn-beijing", NULL, 0, 1, NULL), want);
    snprintf(want, sizeof want, "http://bkt.oss-cn-beijing-internal.aliyuncs.com/a%%20b/c%s", q);
    expect_prefix(url_of(a, "oss-cn-beijing", NULL, 1, 0, NULL), want);
    /* a region without "oss-" */
    snprintf(want, sizeof want, "https://bkt.oss-cn-hangzhou.aliyuncs.com/a%%20b/c%s", q);
    expect_prefix(url_of(a, "cn-hangzhou", NULL, 0, 1, NULL), want);
    /* the endpoint as the reference writes it (with the bucket), and without */
    snprintf(want, sizeof want, "https://bkt.oss-cn-shanghai.aliyuncs.com/r/x/a%%20b/c%s", q);
    expect_prefix(url_of(a, "oss-cn-beijing", "bkt.oss-cn-shanghai.aliyuncs.com", 0, 1, "/r/x/"),
                  want);
    expect_prefix(url_of(a, "oss-cn-beijing", "oss-cn-shanghai.aliyuncs.com", 0, 1, "r/x"), want);
    /* a scheme in the endpoint wins over secure; a trailing '/' is fine */
    snprintf(want, sizeof want, "http://bkt.oss.example:9000/a%%20b/c%s", q);
    expect_prefix(url_of(a, "oss-cn-beijing", "http://oss.example:9000/", 0, 1, NULL), want);
    /* an IP address or localhost: path style */
    snprintf(want, sizeof want, "http://127.0.0.1:9000/bkt/a%%20b/c%s", q);
    expect_prefix(url_of(a, "oss-cn-beijing", "127.0.0.1:9000", 0, 0, NULL), want);
    snprintf(want, sizeof want, "https://localhost/bkt/a%%20b/c%s", q);
    expect_prefix(url_of(a, "oss-cn-beijing", "localhost", 0, 1, NULL), want);
    /* refused: a path in the endpoint */
    assert_null(url_of(a, "oss-cn-beijing", "oss.example/sub", 0, 1, NULL));
    assert_null(url_of(a, "oss-cn-beijing", "http://", 0, 1, NULL));
}

/* the URL's signature is the one lib/osssign.c gives for its Expires, over
 * the key with the root directory (the reference's 20 minutes) */
static void t_signed_url(void **state)
{
    struct arena *a = *state;
    time_t now = time(NULL);
    char *url = url_of(a, "oss-cn-beijing", NULL, 0, 1, "/root");
    assert_non_null(url);
    const char *e = strstr(url, "&Expires=");
    assert_non_null(e);
    long long exp = strtoll(e + 9, NULL, 10);
    assert_true(exp >= now + 1200 && exp <= time(NULL) + 1200);
    struct osssign_request r = {.method = "GET", .bucket = "bkt", .key = "root/a b/c"};
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(osssign_url_query("LTAIunit", "unit-secret", &r, exp, &b), 0);
    assert_non_null(strstr(url, b.data));
    assert_string_equal(strchr(url, '?') + 1, b.data);
    buf_free(&b);
}

static int setup(void **state)
{
    *state = arena_new();
    return 0;
}

static int teardown(void **state)
{
    arena_free(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_hosts, setup, teardown),
        cmocka_unit_test_setup_teardown(t_signed_url, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
