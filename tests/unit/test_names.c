/* test_names.c — lib/names.c: repository name grammar (OCI distribution spec),
 * tag grammar, upload ids, and the length limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../lib/err.h"
#include "../../lib/names.h"

static void test_name_valid_cases(void **state)
{
    static const char *const ok[] = {
        "a",
        "0",
        "abc",
        "library/ubuntu",
        "a/b/c/d/e",
        "a.b",
        "a_b",
        "a__b",
        "a-b",
        "a--b",
        "a---------b",
        "a.b_c__d-e--f",
        "my-org/my_repo.v2",
        "1/2/3",
        "a0/b1-c2/d3__e4",
        "foo.bar/baz.qux",
        "x-y/z--w/v__u/t.s",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int rc = name_valid(ok[i], 0);
        if (rc != 0) fail_msg("name \"%s\": rc %d, want 0", ok[i], rc);
        rc = name_valid(ok[i], 255);
        if (rc != 0) fail_msg("name \"%s\" (max 255): rc %d, want 0", ok[i], rc);
    }
    static const char *const bad[] = {
        "",    "A",   "Abc",  "abC",  "library/Ubuntu", "a___b", "a____b", "-a",    "a-",   "_a",
        "a_",  ".a",  "a.",   "a..b", "a._b",           "a_.b",  "a-.b",   "a.-b",  "a_-b", "a/",
        "/a",  "/",   "a//b", "a/-b", "a/b-",           "a/_b",  "a/.b",   "a b",   " a",   "a ",
        "a\n", "a:b", "a@b",  "a+b",  "a\\b",           "ä",     "a/../b", "a/./b", "..",   "a\tb",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = name_valid(bad[i], 0);
        if (rc != WERR_INVALID) fail_msg("name \"%s\": rc %d, want WERR_INVALID", bad[i], rc);
    }
    assert_int_equal(name_valid(NULL, 0), WERR_INVALID);
}

static void test_name_length(void **state)
{
    char s[600];
    /* 255 bytes of a valid name: "a/a/a/.../a" */
    for (int len = 1; len <= 300; len += 2) {
        memset(s, 0, sizeof s);
        for (int i = 0; i < len; i++)
            s[i] = (i % 2) ? '/' : 'a';
        assert_int_equal(name_valid(s, 0), 0);
        int rc = name_valid(s, 255);
        if (len <= 255 && rc != 0) fail_msg("len %d: rc %d, want 0", len, rc);
        if (len > 255 && rc != WERR_TOOBIG) fail_msg("len %d: rc %d, want WERR_TOOBIG", len, rc);
    }
    memset(s, 'b', 256);
    s[256] = 0;
    assert_int_equal(name_valid(s, 256), 0);
    assert_int_equal(name_valid(s, 255), WERR_TOOBIG);
    assert_int_equal(name_valid(s, 1), WERR_TOOBIG);
    s[255] = 0;
    assert_int_equal(name_valid(s, 255), 0);
    assert_int_equal(name_valid("ab", 2), 0);
    assert_int_equal(name_valid("abc", 2), WERR_TOOBIG);
    /* 0 = no limit: a long name is fine */
    memset(s, 'c', 599);
    s[599] = 0;
    assert_int_equal(name_valid(s, 0), 0);
}

static void test_tag_valid_cases(void **state)
{
    static const char *const ok[] = {
        "latest", "v1",  "V1.2.3", "_",    "_tag",
        "1.0",    "a-b", "a.b",    "a_b",  "A",
        "9",      "a..", "a--",    "x.-_", "TAG_with.Mixed-Case09",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int rc = tag_valid(ok[i], 128);
        if (rc != 0) fail_msg("tag \"%s\": rc %d, want 0", ok[i], rc);
    }
    static const char *const bad[] = {
        "",   ".a", "-a",  ".", "-",   "a b", "a/b", "a:b", "a@b", "a+b",
        " a", "a ", "a\n", "ä", "a\\", "a*",  "a,b", "a=b", "a~b", "sha256:abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = tag_valid(bad[i], 128);
        if (rc != WERR_INVALID) fail_msg("tag \"%s\": rc %d, want WERR_INVALID", bad[i], rc);
    }
    assert_int_equal(tag_valid(NULL, 128), WERR_INVALID);
}

static void test_tag_length(void **state)
{
    char s[300];
    /* [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}: at most 128 characters */
    for (int len = 1; len <= 260; len++) {
        memset(s, 0, sizeof s);
        s[0] = 'v';
        for (int i = 1; i < len; i++)
            s[i] = "._-a9Z"[i % 6];
        int rc = tag_valid(s, 128);
        if (len <= 128 && rc != 0) fail_msg("tag len %d: rc %d, want 0", len, rc);
        if (len > 128 && rc != WERR_TOOBIG) fail_msg("tag len %d: rc %d, want TOOBIG", len, rc);
        assert_int_equal(tag_valid(s, 0), 0);
    }
    assert_int_equal(tag_valid("abc", 3), 0);
    assert_int_equal(tag_valid("abcd", 3), WERR_TOOBIG);
}

static void test_uuid_valid(void **state)
{
    static const char *const ok[] = {
        "3f1c2b9e-6d2a-4c1e-9a7b-0c1d2e3f4a5b",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-4fff-bfff-ffffffffffff",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (uuid_valid(ok[i]) != 0) fail_msg("uuid \"%s\" refused", ok[i]);
    static const char *const bad[] = {
        "",
        "3F1C2B9E-6D2A-4C1E-9A7B-0C1D2E3F4A5B",
        "3f1c2b9e-6d2a-4c1e-9a7b-0c1d2e3f4a5",
        "3f1c2b9e-6d2a-4c1e-9a7b-0c1d2e3f4a5b0",
        "3f1c2b9e6d2a4c1e9a7b0c1d2e3f4a5b",
        "3f1c2b9e-6d2a-4c1e-9a7b0-c1d2e3f4a5b",
        "3f1c2b9-e6d2a-4c1e-9a7b-0c1d2e3f4a5b",
        "3f1c2b9e_6d2a_4c1e_9a7b_0c1d2e3f4a5b",
        "{3f1c2b9e-6d2a-4c1e-9a7b-0c1d2e3f4a5}",
        "3f1c2b9g-6d2a-4c1e-9a7b-0c1d2e3f4a5b",
        "3f1c2b9e-6d2a-4c1e-9a7b-0c1d2e3f4a5/",
        "../../../../../../../../../etc/passw",
        "3f1c2b9e-6d2a-4c1e-9a7b-0c1d2e3f4a5 ",
        "3f1c2b9e--d2a-4c1e-9a7b-0c1d2e3f4a5b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (uuid_valid(bad[i]) != WERR_INVALID) fail_msg("uuid \"%s\" accepted", bad[i]);
    assert_int_equal(uuid_valid(NULL), WERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid_cases), cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_tag_valid_cases),  cmocka_unit_test(test_tag_length),
        cmocka_unit_test(test_uuid_valid),
    };
    return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}
