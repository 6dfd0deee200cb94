/* test_sigv4.c — lib/sigv4.c against AWS's published Signature Version 4
 * vectors: the SigV4 test suite (get-vanilla, get-vanilla-query-order-key-case,
 * post-vanilla; credentials AKIDEXAMPLE, service "service") and the worked
 * examples of the S3 API reference (GET object with Range, PUT object,
 * GET ?lifecycle, ListObjects, presigned GET URL; examplebucket). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/arena.h"
#include "../../lib/err.h"
#include "../../lib/sigv4.h"

static const struct sigv4_creds SUITE = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                         "us-east-1", "service"};
static const struct sigv4_creds S3EX = {
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3"};

#define SUITE_AUTH(sh, sig)                                                                        \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "            \
    "SignedHeaders=" sh ", Signature=" sig

static void expect_auth(const struct sigv4_creds *c, const struct sigv4_request *r,
                        const char *date, const char *want)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(sigv4_authorization(c, r, date, &b), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void t_get_vanilla(void **state)
{
    struct sigv4_param h[] = {{"Host", "example.amazonaws.com"},
                              {"X-Amz-Date", "20150830T123600Z"}};
    struct sigv4_request r = {"GET", "/", NULL, 0, h, 2, SIGV4_EMPTY_SHA256};
    expect_auth(&SUITE, &r, "20150830T123600Z",
                SUITE_AUTH("host;x-amz-date",
                           "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
}

static void t_get_query_order(void **state)
{
    struct sigv4_param h[] = {{"X-Amz-Date", "20150830T123600Z"},
                              {"Host", "example.amazonaws.com"}};
    struct sigv4_param q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
    struct sigv4_request r = {"GET", "/", q, 2, h, 2, SIGV4_EMPTY_SHA256};
    expect_auth(&SUITE, &r, "20150830T123600Z",
                SUITE_AUTH("host;x-amz-date",
                           "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"));
}

static void t_post_vanilla(void **state)
{
    struct sigv4_param h[] = {{"host", "example.amazonaws.com"},
                              {"x-amz-date", "20150830T123600Z"}};
    struct sigv4_request r = {"POST", "/", NULL, 0, h, 2, SIGV4_EMPTY_SHA256};
    expect_auth(&SUITE, &r, "20150830T123600Z",
                SUITE_AUTH("host;x-amz-date",
                           "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"));
}

static void t_s3_get_object_range(void **state)
{
    /* the canonical request and its hash as printed in the S3 reference */
    struct sigv4_param h[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                              {"Range", "bytes=0-9"},
                              {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                              {"x-amz-date", "20130524T000000Z"}};
    struct sigv4_request r = {"GET", "/test.txt", NULL, 0, h, 4, SIGV4_EMPTY_SHA256};
    struct buf cr;
    buf_init(&cr, 4096);
    assert_int_equal(sigv4_canonical_request(&r, &cr), 0);
    assert_string_equal(cr.data, "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
                                 "range:bytes=0-9\nx-amz-content-sha256:" SIGV4_EMPTY_SHA256
                                 "\nx-amz-date:20130524T000000Z\n\n"
                                 "host;range;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256);
    char hash[65];
    sigv4_sha256_hex(cr.data, cr.len, hash);
    assert_string_equal(hash, "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    buf_free(&cr);
    expect_auth(&S3EX, &r, "20130524T000000Z",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void t_s3_put_object(void **state)
{
    /* "Welcome to Amazon S3." into /test$file.text: '$' is encoded, the date
     * header and storage class are signed; extra spaces in a value are trimmed */
    char body_hash[65];
    sigv4_sha256_hex("Welcome to Amazon S3.", 21, body_hash);
    assert_string_equal(body_hash,
                        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    struct sigv4_param h[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                              {"Date", "Fri,  24 May 2013 00:00:00 GMT  "},
                              {"x-amz-date", "20130524T000000Z"},
                              {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                              {"x-amz-content-sha256", body_hash}};
    struct sigv4_request r = {"PUT", "/test$file.text", NULL, 0, h, 5, body_hash};
    expect_auth(&S3EX, &r, "20130524T000000Z",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                "aws4_request, SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
                "x-amz-storage-class, "
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

static void t_s3_get_lifecycle(void **state)
{
    struct sigv4_param h[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                              {"x-amz-date", "20130524T000000Z"},
                              {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}};
    struct sigv4_param q[] = {{"lifecycle", ""}};
    struct sigv4_request r = {"GET", "/", q, 1, h, 3, SIGV4_EMPTY_SHA256};
    expect_auth(&S3EX, &r, "20130524T000000Z",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                "aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

static void t_s3_list_objects(void **state)
{
    struct sigv4_param h[] = {{"Host", "examplebucket.s3.amazonaws.com"},
                              {"x-amz-date", "20130524T000000Z"},
                              {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}};
    struct sigv4_param q[] = {{"prefix", "J"}, {"max-keys", "2"}};
    struct sigv4_request r = {"GET", "/", q, 2, h, 3, SIGV4_EMPTY_SHA256};
    expect_auth(&S3EX, &r, "20130524T000000Z",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                "aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

static void t_s3_presign(void **state)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(sigv4_presign_query(&S3EX, "GET", "/test.txt",
                                         "examplebucket.s3.amazonaws.com", "20130524T000000Z",
                                         86400, NULL, 0, &b),
                     0);
    assert_string_equal(
        b.data, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%"
                "2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
                "X-Amz-SignedHeaders=host&X-Amz-Signature="
                "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    /* out of range expiry */
    assert_int_equal(
        sigv4_presign_query(&S3EX, "GET", "/x", "h", "20130524T000000Z", 0, NULL, 0, &b),
        WERR_INVALID);
    assert_int_equal(
        sigv4_presign_query(&S3EX, "GET", "/x", "h", "20130524T000000Z", 604801, NULL, 0, &b),
        WERR_INVALID);
    buf_free(&b);
}

static void t_wrong_secret_differs(void **state)
{
    struct sigv4_creds bad = SUITE;
    bad.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz";
    struct sigv4_param h[] = {{"Host", "example.amazonaws.com"},
                              {"X-Amz-Date", "20150830T123600Z"}};
    struct sigv4_request r = {"GET", "/", NULL, 0, h, 2, SIGV4_EMPTY_SHA256};
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(sigv4_authorization(&bad, &r, "20150830T123600Z", &b), 0);
    assert_null(strstr(b.data, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
    buf_free(&b);
}

static void t_encode(void **state)
{
    struct buf b;
    buf_init(&b, 4096);
    const char *s = "a b/c~d_e.f-g+h=i&j%k:\xc3\xa9";
    assert_int_equal(sigv4_encode(&b, s, strlen(s), 1), 0);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_string_equal(b.data, "a%20b/c~d_e.f-g%2Bh%3Di%26j%25k%3A%C3%A9");
    b.len = 0;
    assert_int_equal(sigv4_encode(&b, "x/y", 3, 0), 0);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_string_equal(b.data, "x%2Fy");
    buf_free(&b);
    /* the cap is honoured */
    buf_init(&b, 4);
    assert_int_equal(sigv4_encode(&b, "%%%", 3, 0), WERR_TOOBIG);
    buf_free(&b);
    char d[17];
    sigv4_amzdate(1369353600, d);
    assert_string_equal(d, "20130524T000000Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_get_vanilla),          cmocka_unit_test(t_get_query_order),
        cmocka_unit_test(t_post_vanilla),         cmocka_unit_test(t_s3_get_object_range),
        cmocka_unit_test(t_s3_put_object),        cmocka_unit_test(t_s3_get_lifecycle),
        cmocka_unit_test(t_s3_list_objects),      cmocka_unit_test(t_s3_presign),
        cmocka_unit_test(t_wrong_secret_differs), cmocka_unit_test(t_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
