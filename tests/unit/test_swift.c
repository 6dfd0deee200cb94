/* test_swift.c — storage/drivers/swift.c without a server: the TempURL
 * signature (HMAC-SHA1 over "GET\n<expires>\n<path>", checked against
 * `openssl dgst -sha1 -hmac`), the URL's encoding and the HP Cloud form of
 * the signature; the constructor refuses an incomplete section. The driver
 * against a real Swift: tests/storage/swift_native.sh and tests/e2e/t_swift.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../lib/arena.h"
#include "../../lib/config.h"
#include "../../lib/err.h"
#include "../../storage/drivers/swift.h"

static void t_tempurl_signature(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    /* printf 'GET\n1323479485\n/v1/AUTH_account/container/object' |
     *   openssl dgst -sha1 -hmac mykey */
    char *u = driver_swift_tempurl(a, "https://swift.example.com/v1/AUTH_account", "container",
                                   "object", "mykey", 1323479485LL, NULL);
    assert_non_null(u);
    assert_string_equal(u, "https://swift.example.com/v1/AUTH_account/container/object"
                           "?temp_url_sig=d9fc2067e52b06598421664cf6610bfc8fc431f6"
                           "&temp_url_expires=1323479485");
    /* the signature is over the decoded path; the URL encodes it */
    u = driver_swift_tempurl(a, "http://127.0.0.1:8080/v1/AUTH_test", "c", "files/a b/data", "k",
                             1700000000LL, NULL);
    assert_non_null(strstr(u, "/v1/AUTH_test/c/files/a%20b/data?temp_url_sig="));
    /* HP Cloud: tenant_id:access_key:signature */
    u = driver_swift_tempurl(a, "https://swift.example.com/v1/AUTH_account", "container", "object",
                             "mykey", 1323479485LL, "t1:ak:");
    assert_non_null(strstr(u, "?temp_url_sig=t1%3Aak%3Ad9fc2067e52b06598421664cf6610bfc8fc431f6&"));
    arena_free(a);
}

static void t_new_incomplete(void **state)
{
    (void)state;
    struct config c;
    memset(&c, 0, sizeof c);
    struct storage_driver *d = NULL;
    char err[256] = "";
    c.swift_authurl = (char *)"http://127.0.0.1:1/auth/v1.0";
    c.swift_username = (char *)"u";
    c.swift_password = (char *)"p";
    assert_int_equal(driver_swift_new(&c, &d, err, sizeof err), WERR_INVALID);
    assert_null(d);
    assert_non_null(strstr(err, "container"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_tempurl_signature),
        cmocka_unit_test(t_new_incomplete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
