/* test_httprange.c — lib/httprange.c: the Range header of a blob GET and the
 * Content-Range header of an upload PATCH. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../lib/err.h"
#include "../../lib/httprange.h"

/* expect_range: range_parse(hdr, size) returns rc and, on success, [s, e]. */
static void expect_range(const char *hdr, int64_t size, int rc, int64_t s, int64_t e)
{
    int64_t gs = -77, ge = -77;
    int got = range_parse(hdr, size, &gs, &ge);
    if (got != rc)
        fail_msg("Range \"%s\" size %lld: rc %d, want %d", hdr ? hdr : "(null)", (long long)size,
                 got, rc);
    if (rc == 0 && (gs != s || ge != e))
        fail_msg("Range \"%s\" size %lld: [%lld,%lld], want [%lld,%lld]", hdr, (long long)size,
                 (long long)gs, (long long)ge, (long long)s, (long long)e);
}

static void expect_crange(const char *hdr, int rc, int64_t s, int64_t e)
{
    int64_t gs = -77, ge = -77;
    int got = content_range_parse(hdr, &gs, &ge);
    if (got != rc) fail_msg("Content-Range \"%s\": rc %d, want %d", hdr ? hdr : "(null)", got, rc);
    if (rc == 0 && (gs != s || ge != e))
        fail_msg("Content-Range \"%s\": [%lld,%lld], want [%lld,%lld]", hdr, (long long)gs,
                 (long long)ge, (long long)s, (long long)e);
}

static void test_range_simple(void **state)
{
    expect_range("bytes=0-0", 10, 0, 0, 0);
    expect_range("bytes=0-0", 1, 0, 0, 0);
    expect_range("bytes=0-9", 10, 0, 0, 9);
    expect_range("bytes=3-7", 10, 0, 3, 7);
    expect_range("bytes=9-9", 10, 0, 9, 9);
    expect_range("bytes=0-", 10, 0, 0, 9);
    expect_range("bytes=5-", 10, 0, 5, 9);
    expect_range("bytes=9-", 10, 0, 9, 9);
}

static void test_range_suffix(void **state)
{
    expect_range("bytes=-5", 10, 0, 5, 9);
    expect_range("bytes=-1", 10, 0, 9, 9);
    expect_range("bytes=-10", 10, 0, 0, 9);
    /* a suffix larger than the resource: the whole resource */
    expect_range("bytes=-11", 10, 0, 0, 9);
    expect_range("bytes=-999999", 10, 0, 0, 9);
    expect_range("bytes=-1", 1, 0, 0, 0);
    /* a zero-length suffix cannot be satisfied (RFC 9110 14.1.1) */
    expect_range("bytes=-0", 10, WERR_RANGE, 0, 0);
}

static void test_range_unsatisfiable(void **state)
{
    expect_range("bytes=10-", 10, WERR_RANGE, 0, 0);
    expect_range("bytes=10-20", 10, WERR_RANGE, 0, 0);
    expect_range("bytes=11-11", 10, WERR_RANGE, 0, 0);
    expect_range("bytes=100-", 10, WERR_RANGE, 0, 0);
    /* size 0: nothing can be satisfied */
    expect_range("bytes=0-", 0, WERR_RANGE, 0, 0);
    expect_range("bytes=0-0", 0, WERR_RANGE, 0, 0);
    expect_range("bytes=-5", 0, WERR_RANGE, 0, 0);
}

static void test_range_clamp(void **state)
{
    expect_range("bytes=0-10", 10, 0, 0, 9);
    expect_range("bytes=5-1000", 10, 0, 5, 9);
    expect_range("bytes=0-999999999999999999", 100, 0, 0, 99); /* 18 digits */
    expect_range("bytes=999999999999999998-999999999999999999", 999999999999999999LL, 0,
                 999999999999999998LL, 999999999999999998LL);
}

static void test_range_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=1-a",
        "bytes=--1",
        "bytes=1--2",
        "bytes=1",
        "bytes=0-1x",
        "bytes=0-1-",
        "bytes=0-1;",
        "items=0-1",
        "bytes:0-1",
        "bytes 0-1",
        "0-1",
        "bytes=5-3",      /* last < first */
        "bytes=0-1,3-4",  /* several ranges */
        "bytes=0-1, 3-4", /* several ranges */
        "bytes=-1,-2",
        "bytes=0-0,",
        "bytes=+1-2",
        "bytes=0x1-2",
        "bytes=-5x",
        "bytes=1000000000000000000-",         /* 19 digits */
        "bytes=0-1000000000000000000",        /* 19 digits */
        "bytes=-1000000000000000000",         /* 19 digits */
        "bytes=99999999999999999999999999-",  /* overflows int64 */
        "bytes=0-99999999999999999999999999", /* overflows int64 */
        "bytes=-99999999999999999999999999",  /* overflows int64 */
        "bytes=00000000000000000000000000001-2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_range(bad[i], 100, WERR_INVALID, 0, 0);
    expect_range(NULL, 100, WERR_INVALID, 0, 0);
}

static void test_crange_forms(void **state)
{
    expect_crange("0-99", 0, 0, 99);
    expect_crange("0-0", 0, 0, 0);
    expect_crange("100-199", 0, 100, 199);
    expect_crange("bytes 0-99/100", 0, 0, 99);
    expect_crange("bytes 0-99/1000", 0, 0, 99);
    expect_crange("bytes 0-99/*", 0, 0, 99);
    expect_crange("bytes=0-99", 0, 0, 99);
    expect_crange("999999999999999998-999999999999999999", 0, 999999999999999998LL,
                  999999999999999999LL);
}

static void test_crange_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "-",
        "0-",
        "-99",
        "99-0",            /* end < start */
        "bytes 5-4/10",    /* end < start */
        "bytes 0-99/99",   /* total <= end */
        "bytes 0-99/50",   /* total <= end */
        "bytes 0-99/0",    /* total <= end */
        "0-99x",           /* trailing junk */
        "0-99 x",          /* trailing junk */
        "bytes 0-99/100x", /* trailing junk */
        "bytes 0-99/*x",   /* trailing junk */
        "bytes 0-99/",     /* empty total */
        "bytes 0-99/-1",
        "0-99,100-199",
        "a-b",
        "bytes",
        "bytes=",
        "bytes -",
        "0--99",
        "+0-99",
        "0-+99",
        "1000000000000000000-1000000000000000001", /* 19 digits */
        "0-1000000000000000000",                   /* 19 digits */
        "0-99999999999999999999999999",            /* overflows int64 */
        "bytes 0-99/99999999999999999999999",      /* total overflows int64 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_crange(bad[i], WERR_INVALID, 0, 0);
    expect_crange(NULL, WERR_INVALID, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_simple),        cmocka_unit_test(test_range_suffix),
        cmocka_unit_test(test_range_unsatisfiable), cmocka_unit_test(test_range_clamp),
        cmocka_unit_test(test_range_invalid),       cmocka_unit_test(test_crange_forms),
        cmocka_unit_test(test_crange_invalid),
    };
    return cmocka_run_group_tests_name("httprange", tests, NULL, NULL);
}
