/* test_paths.c — storage/paths.c: the exact driver paths of the reference
 * registry's layout (CNCF Distribution registry/storage/paths.go). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../lib/arena.h"
#include "../../storage/paths.h"

#define HEX256 "ab34567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"
#define HEX512 "cd" HEX256 "34567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"
#define D256 "sha256:" HEX256
#define D512 "sha512:" HEX512
#define UUID "3f1c2b9e-6d2a-4c1e-9a7b-0c1d2e3f4a5b"
#define V2 "/docker/registry/v2"

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

static void test_root(void **state)
{
    struct arena *a = *state;
    assert_string_equal(PATH_ROOT, "/docker/registry/v2");
    assert_string_equal(path_repos(a), V2 "/repositories");
    assert_string_equal(path_repo(a, "library/ubuntu"), V2 "/repositories/library/ubuntu");
}

static void test_blobs(void **state)
{
    struct arena *a = *state;
    assert_int_equal(strlen(HEX512), 128);
    assert_string_equal(path_blob_dir(a, D256), V2 "/blobs/sha256/ab/" HEX256);
    assert_string_equal(path_blob_data(a, D256), V2 "/blobs/sha256/ab/" HEX256 "/data");
    assert_string_equal(path_blob_dir(a, D512), V2 "/blobs/sha512/cd/" HEX512);
    assert_string_equal(path_blob_data(a, D512), V2 "/blobs/sha512/cd/" HEX512 "/data");
}

static void test_layers_and_revisions(void **state)
{
    struct arena *a = *state;
    const char *repos[] = {"a", "a/b/c", "my-org/my_repo.v2"};
    char want[1024];
    for (size_t i = 0; i < 3; i++) {
        const char *r = repos[i];
        snprintf(want, sizeof want, V2 "/repositories/%s/_layers/sha256/" HEX256 "/link", r);
        assert_string_equal(path_layer_link(a, r, D256), want);
        snprintf(want, sizeof want, V2 "/repositories/%s/_layers/sha512/" HEX512 "/link", r);
        assert_string_equal(path_layer_link(a, r, D512), want);
        snprintf(want, sizeof want, V2 "/repositories/%s/_manifests/revisions/sha256/" HEX256, r);
        assert_string_equal(path_revision_dir(a, r, D256), want);
        snprintf(want, sizeof want,
                 V2 "/repositories/%s/_manifests/revisions/sha256/" HEX256 "/link", r);
        assert_string_equal(path_revision_link(a, r, D256), want);
        snprintf(want, sizeof want,
                 V2 "/repositories/%s/_manifests/revisions/sha512/" HEX512 "/link", r);
        assert_string_equal(path_revision_link(a, r, D512), want);
    }
}

static void test_tags(void **state)
{
    struct arena *a = *state;
    assert_string_equal(path_tags(a, "a/b/c"), V2 "/repositories/a/b/c/_manifests/tags");
    assert_string_equal(path_tag(a, "a/b/c", "latest"),
                        V2 "/repositories/a/b/c/_manifests/tags/latest");
    assert_string_equal(path_tag_current(a, "a/b/c", "latest"),
                        V2 "/repositories/a/b/c/_manifests/tags/latest/current/link");
    assert_string_equal(path_tag_current(a, "x", "V1.2_3-rc"),
                        V2 "/repositories/x/_manifests/tags/V1.2_3-rc/current/link");
    assert_string_equal(path_tag_index_dir(a, "a/b/c", "latest", D256),
                        V2 "/repositories/a/b/c/_manifests/tags/latest/index/sha256/" HEX256);
    assert_string_equal(path_tag_index_link(a, "a/b/c", "latest", D256), V2
                        "/repositories/a/b/c/_manifests/tags/latest/index/sha256/" HEX256 "/link");
    assert_string_equal(path_tag_index_link(a, "r", "t", D512),
                        V2 "/repositories/r/_manifests/tags/t/index/sha512/" HEX512 "/link");
}

static void test_uploads(void **state)
{
    struct arena *a = *state;
    assert_string_equal(path_upload(a, "a/b/c", UUID), V2 "/repositories/a/b/c/_uploads/" UUID);
    assert_string_equal(path_upload_data(a, "a/b/c", UUID),
                        V2 "/repositories/a/b/c/_uploads/" UUID "/data");
    assert_string_equal(path_upload_startedat(a, "a/b/c", UUID),
                        V2 "/repositories/a/b/c/_uploads/" UUID "/startedat");
    assert_string_equal(path_upload_hashstates(a, "a/b/c", UUID, "sha256"),
                        V2 "/repositories/a/b/c/_uploads/" UUID "/hashstates/sha256");
    assert_string_equal(path_upload_hashstate(a, "a/b/c", UUID, "sha256", 0),
                        V2 "/repositories/a/b/c/_uploads/" UUID "/hashstates/sha256/0");
    assert_string_equal(path_upload_hashstate(a, "r", UUID, "sha256", 1048576),
                        V2 "/repositories/r/_uploads/" UUID "/hashstates/sha256/1048576");
    /* offsets past 4 GiB are printed in full */
    assert_string_equal(path_upload_hashstate(a, "r", UUID, "sha512", 5368709121LL),
                        V2 "/repositories/r/_uploads/" UUID "/hashstates/sha512/5368709121");
}

/* Paths are arena strings: independent of each other and of the inputs. */
static void test_arena_strings(void **state)
{
    struct arena *a = *state;
    char repo[] = "a/b";
    char *p1 = path_repo(a, repo);
    char *p2 = path_repo(a, "c");
    repo[0] = 'z';
    assert_string_equal(p1, V2 "/repositories/a/b");
    assert_string_equal(p2, V2 "/repositories/c");
    assert_ptr_not_equal(p1, p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layers_and_revisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uploads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_strings, setup, teardown),
    };
    return cmocka_run_group_tests_name("paths", tests, NULL, NULL);
}
