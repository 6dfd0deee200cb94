/* test_events.c — the events' JSON (handlers/events.c) byte for byte: the
 * reference's key order and omissions (Go's omitempty: no size/length on a
 * delete, an empty actor {} when anonymous, request.id/method/useragent
 * always present), references as the reference's Manifest.References()
 * gives them (config then layers, an index's manifests without platform,
 * annotations with sorted keys, urls kept), timestamps as Go prints
 * time.Time. Which request raises which event: test_handlers.c
 * (test_events) and tests/e2e/t_events_envelope.sh against the reference. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../handlers/events.h"
#include "../../lib/arena.h"

static void test_push_event_json(void **state)
{
    struct arena *a = arena_new();
    struct event ev = {
        .id = "11111111-2222-4333-8444-555555555555",
        .timestamp = "2026-12-03T20:35:50.254604166Z",
        .action = "push",
        .media_type = "application/octet-stream",
        .size = 70000,
        .digest = "sha256:ab",
        .repository = "ev/app",
        .url = "http://h:1/v2/ev/app/blobs/sha256:ab",
        .req_id = "r-id",
        .req_addr = "127.0.0.1:5",
        .req_host = "h:1",
        .req_method = "PUT",
        .req_useragent = "ua \"quoted\"",
        .src_addr = "vm:1",
        .src_instance = "i-id",
    };
    size_t len;
    const char *j = event_json(a, &ev, &len);
    assert_string_equal(
        j, "{\"id\":\"11111111-2222-4333-8444-555555555555\",\"timestamp\":\"2026-12-03T20:35:"
           "50.254604166Z\",\"action\":\"push\",\"target\":{\"mediaType\":\"application/"
           "octet-stream\",\"size\":70000,\"digest\":\"sha256:ab\",\"length\":70000,"
           "\"repository\":\"ev/app\",\"url\":\"http://h:1/v2/ev/app/blobs/sha256:ab\"},"
           "\"request\":{\"id\":\"r-id\",\"addr\":\"127.0.0.1:5\",\"host\":\"h:1\",\"method\":"
           "\"PUT\",\"useragent\":\"ua \\\"quoted\\\"\"},\"actor\":{},\"source\":{\"addr\":"
           "\"vm:1\",\"instanceID\":\"i-id\"}}");
    assert_int_equal(len, strlen(j));
    arena_free(a);
}

static void test_delete_and_mount_json(void **state)
{
    struct arena *a = arena_new();
    struct event ev = {
        .id = "x",
        .timestamp = "t",
        .action = "delete",
        .size = -1,
        .digest = "sha256:cd",
        .repository = "r",
        .req_id = "q",
        .req_method = "DELETE",
        .req_useragent = "",
        .actor = "alice",
    };
    size_t len;
    assert_string_equal(event_json(a, &ev, &len),
                        "{\"id\":\"x\",\"timestamp\":\"t\",\"action\":\"delete\",\"target\":{"
                        "\"digest\":\"sha256:cd\",\"repository\":\"r\"},\"request\":{\"id\":\"q\","
                        "\"method\":\"DELETE\",\"useragent\":\"\"},\"actor\":{\"name\":\"alice\"},"
                        "\"source\":{}}");
    ev.action = "mount";
    ev.size = 3;
    ev.from_repository = "other";
    ev.tag = NULL;
    const char *j = event_json(a, &ev, &len);
    assert_non_null(strstr(j, "\"size\":3,\"digest\":\"sha256:cd\",\"length\":3,\"repository\":"
                              "\"r\",\"fromRepository\":\"other\"}"));
    arena_free(a);
}

static void test_references(void **state)
{
    struct arena *a = arena_new();
    const char *img =
        "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"l\",\"digest\":\"sha256:2\",\"size\":2,"
        "\"urls\":[\"http://x/y\"],\"annotations\":{\"z\":\"1\",\"a\":\"2\"}}],"
        "\"config\":{\"digest\":\"sha256:1\",\"size\":1,\"mediaType\":\"c\"}}";
    assert_string_equal(
        event_references(a, img, strlen(img)),
        "[{\"mediaType\":\"c\",\"size\":1,\"digest\":\"sha256:1\"},{\"mediaType\":\"l\",\"size\":2,"
        "\"digest\":\"sha256:2\",\"urls\":[\"http://x/y\"],\"annotations\":{\"a\":\"2\",\"z\":"
        "\"1\"}}]");
    const char *idx = "{\"manifests\":[{\"mediaType\":\"m\",\"size\":5,\"digest\":\"sha256:5\","
                      "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
    assert_string_equal(event_references(a, idx, strlen(idx)),
                        "[{\"mediaType\":\"m\",\"size\":5,\"digest\":\"sha256:5\"}]");
    assert_null(event_references(a, "not json", 8));
    assert_null(event_references(a, "[1]", 3));
    assert_null(event_references(a, "{\"layers\":[]}", 13));
    arena_free(a);
}

static void test_timestamp(void **state)
{
    struct arena *a = arena_new();
    regex_t re;
    /* RFC 3339, UTC, up to 9 fraction digits, never a trailing zero */
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                             "(\\.[0-9]{0,8}[1-9])?Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    for (int i = 0; i < 50; i++) {
        const char *t = event_timestamp(a);
        if (regexec(&re, t, 0, NULL, 0) != 0) fail_msg("timestamp %s", t);
    }
    regfree(&re);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_event_json),
        cmocka_unit_test(test_delete_and_mount_json),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_timestamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
