/* test_azsign.c — lib/azsign.c against strings built by hand from the Azure
 * Storage REST documentation: "Authorize with Shared Key" (its worked
 * example: GET a container's metadata, path style, whose canonicalized
 * resource names the account twice) and "Create a service SAS" (version
 * 2020-12-06 and later). The signatures were computed apart from Wharf
 * (Python's hmac over the same strings, with the well-known key of Azure's
 * emulator account devstoreaccount1); azurite, which verifies both, is the
 * other check (tests/storage/azure.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/arena.h"
#include "../../lib/azsign.h"
#include "../../lib/b64url.h"
#include "../../lib/err.h"

#define DEVKEY                                                                                     \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

static unsigned char *KEY;
static size_t KEYLEN;

static int setup(void **state)
{
    (void)state;
    return b64_decode(DEVKEY, strlen(DEVKEY), &KEY, &KEYLEN);
}

static int teardown(void **state)
{
    (void)state;
    free(KEY);
    return 0;
}

static void expect_sts(const char *method, const char *account, const char *path,
                       const struct azsign_param *q, size_t nq, const struct azsign_param *h,
                       size_t nh, const char *want, const char *want_sig)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(azsign_string_to_sign(method, account, path, q, nq, h, nh, &b), 0);
    assert_string_equal(b.data, want);
    char sig[45];
    assert_int_equal(azsign_hmac_b64(KEY, KEYLEN, b.data, b.len, sig), 0);
    assert_string_equal(sig, want_sig);
    buf_free(&b);
}

/* the documentation's example: eleven empty standard headers, the x-ms-
 * headers sorted, the query lowercased and sorted by name */
static void t_doc_example(void **state)
{
    struct azsign_param h[] = {{"x-ms-version", "2009-09-19"},
                               {"x-ms-date", "Sun, 11 Oct 2009 21:49:13 GMT"}};
    struct azsign_param q[] = {{"restype", "container"}, {"comp", "metadata"}, {"timeout", "20"}};
    expect_sts("GET", "myaccount", "/myaccount/mycontainer", q, 3, h, 2,
               "GET\n\n\n\n\n\n\n\n\n\n\n\n"
               "x-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\nx-ms-version:2009-09-19\n"
               "/myaccount/myaccount/mycontainer\ncomp:metadata\nrestype:container\ntimeout:20",
               "Su5rvibNeMxB7A4I87rOtEgCDtdICsL8v5H+yJs0W+M=");
}

/* Put Blob: Content-Length and If-None-Match in their lines, header names
 * in any case, values trimmed, the path as sent (encoded) */
static void t_put_blob(void **state)
{
    struct azsign_param h[] = {{"x-ms-date", "Fri, 04 Dec 2026 05:30:00 GMT"},
                               {"X-MS-Version", "2021-08-06"},
                               {"x-ms-blob-type", "  BlockBlob "},
                               {"If-None-Match", "*"},
                               {"content-length", "11"}};
    expect_sts("PUT", "devstoreaccount1", "/devstoreaccount1/c1/a/b%20c", NULL, 0, h, 5,
               "PUT\n\n\n11\n\n\n\n\n\n*\n\n\n"
               "x-ms-blob-type:BlockBlob\nx-ms-date:Fri, 04 Dec 2026 05:30:00 GMT\n"
               "x-ms-version:2021-08-06\n/devstoreaccount1/devstoreaccount1/c1/a/b%20c",
               "GVAg4xk5vppAeOn3TKorXB9lnqD11M/lde8dDR0eUaU=");
}

/* Content-Length 0 signs as an empty line (version 2015-02-21 and later);
 * query values are signed decoded */
static void t_zero_length_query(void **state)
{
    struct azsign_param h[] = {{"Content-Length", "0"},
                               {"x-ms-version", "2021-08-06"},
                               {"x-ms-date", "Fri, 04 Dec 2026 05:30:00 GMT"}};
    struct azsign_param q[] = {{"comp", "block"}, {"blockid", "AAA+/="}};
    expect_sts("PUT", "acct", "/c1/k", q, 2, h, 3,
               "PUT\n\n\n\n\n\n\n\n\n\n\n\n"
               "x-ms-date:Fri, 04 Dec 2026 05:30:00 GMT\nx-ms-version:2021-08-06\n"
               "/acct/c1/k\nblockid:AAA+/=\ncomp:block",
               "xdWgT2sZRV8DaBjuGObzT0ja/5hHkxIGQdZSmNSqb6g=");
    /* a repeated query name is refused rather than signed wrong */
    struct azsign_param dup[] = {{"comp", "a"}, {"Comp", "b"}};
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(azsign_string_to_sign("GET", "acct", "/c1", dup, 2, h, 3, &b), WERR_INVALID);
    buf_free(&b);
}

static void t_sas(void **state)
{
    struct buf b;
    buf_init(&b, 0);
    /* 2026-12-04T06:00:00Z; canonicalized resource "/blob/devstoreaccount1/c1/a/b c" */
    assert_int_equal(azsign_sas_blob(KEY, KEYLEN, "devstoreaccount1", "c1", "a/b c", "r",
                                     (time_t)1796364000, "2021-08-06", &b),
                     0);
    assert_string_equal(b.data, "sv=2021-08-06&sr=b&sp=r&se=2026-12-04T06%3A00%3A00Z&sig="
                                "KAQOMbLo6CXVpP%2F%2BalHdo9VXorYCthNXw81VeXQdDg4%3D");
    buf_free(&b);
}

static void t_rfc1123(void **state)
{
    char d[30];
    azsign_rfc1123((time_t)1796364000, d);
    assert_string_equal(d, "Fri, 04 Dec 2026 06:00:00 GMT");
    azsign_rfc1123((time_t)0, d);
    assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_doc_example),       cmocka_unit_test(t_put_blob),
        cmocka_unit_test(t_zero_length_query), cmocka_unit_test(t_sas),
        cmocka_unit_test(t_rfc1123),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
