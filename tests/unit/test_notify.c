/* test_notify.c — the sender's pure parts (admin/notify.h): the ignore
 * rules (ignoredmediatypes, ignore.mediatypes, ignore.actions, as the
 * reference's ignoredSink) and the request bodies: the reference's
 * envelope with one event, and a structured CloudEvents 1.0 event. The
 * delivery itself (retries, order, restarts) is tests/e2e/t_events_durable.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "../../admin/notify.h"
#include "../../lib/config.h"

static const char ev_json[] =
    "{\"id\":\"abc\",\"timestamp\":\"2026-01-02T03:04:05.000000006Z\",\"action\":\"push\","
    "\"target\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":10,"
    "\"digest\":\"sha256:00\",\"repository\":\"lib/a\",\"tag\":\"v1\"},"
    "\"source\":{\"addr\":\"node1:5000\",\"instanceID\":\"x\"}}";

static void test_ignore_rules(void **state)
{
    struct json_object *ev = json_tokener_parse(ev_json);
    assert_non_null(ev);
    struct config_endpoint e = {0};
    assert_int_equal(notify_ignored(&e, ev), 0);
    char *mt[] = {"application/octet-stream", "application/vnd.oci.image.manifest.v1+json"};
    e.ignoredmediatypes = mt;
    e.nignoredmediatypes = 1;
    assert_int_equal(notify_ignored(&e, ev), 0);
    e.nignoredmediatypes = 2;
    assert_int_equal(notify_ignored(&e, ev), 1);
    e.nignoredmediatypes = 0;
    e.ignore_mediatypes = mt;
    e.nignore_mediatypes = 2;
    assert_int_equal(notify_ignored(&e, ev), 1);
    e.nignore_mediatypes = 0;
    char *act[] = {"pull", "push"};
    e.ignore_actions = act;
    e.nignore_actions = 1;
    assert_int_equal(notify_ignored(&e, ev), 0);
    e.nignore_actions = 2;
    assert_int_equal(notify_ignored(&e, ev), 1);
    json_object_put(ev);
}

static void test_docker_envelope(void **state)
{
    struct json_object *ev = json_tokener_parse(ev_json);
    struct config_endpoint e = {.format = NOTIFY_FORMAT_DOCKER};
    const char *ct;
    size_t len;
    char *b = notify_body(&e, ev_json, strlen(ev_json), ev, &len, &ct);
    assert_non_null(b);
    assert_string_equal(ct, "application/vnd.docker.distribution.events.v1+json");
    assert_int_equal(len, strlen(b));
    struct json_object *env = json_tokener_parse(b), *evs;
    assert_non_null(env);
    assert_true(json_object_object_get_ex(env, "events", &evs));
    assert_int_equal(json_object_array_length(evs), 1);
    assert_true(json_object_equal(json_object_array_get_idx(evs, 0), ev));
    json_object_put(env);
    json_object_put(ev);
    free(b);
}

static const char *get(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static void test_cloudevents(void **state)
{
    struct json_object *ev = json_tokener_parse(ev_json);
    struct config_endpoint e = {.format = NOTIFY_FORMAT_CLOUDEVENTS};
    const char *ct;
    size_t len;
    char *b = notify_body(&e, ev_json, strlen(ev_json), ev, &len, &ct);
    assert_non_null(b);
    assert_string_equal(ct, "application/cloudevents+json");
    struct json_object *ce = json_tokener_parse(b), *data;
    assert_non_null(ce);
    assert_string_equal(get(ce, "specversion"), "1.0");
    assert_string_equal(get(ce, "id"), "abc");
    assert_string_equal(get(ce, "type"), "io.wharf.registry.manifest.push");
    assert_string_equal(get(ce, "source"), "wharf://node1:5000");
    assert_string_equal(get(ce, "subject"), "lib/a:v1");
    assert_string_equal(get(ce, "time"), "2026-01-02T03:04:05.000000006Z");
    assert_string_equal(get(ce, "datacontenttype"), "application/json");
    assert_true(json_object_object_get_ex(ce, "data", &data));
    assert_true(json_object_equal(data, ev));
    json_object_put(ce);
    free(b);
    /* a blob pull: type .blob., subject repo@digest */
    struct json_object *blob = json_tokener_parse(
        "{\"id\":\"b\",\"action\":\"pull\",\"target\":{\"mediaType\":"
        "\"application/octet-stream\",\"digest\":\"sha256:11\",\"repository\":\"r\"}}");
    b = notify_body(&e, "", 0, blob, &len, &ct);
    ce = json_tokener_parse(b);
    assert_string_equal(get(ce, "type"), "io.wharf.registry.blob.pull");
    assert_string_equal(get(ce, "subject"), "r@sha256:11");
    assert_non_null(get(ce, "source"));
    json_object_put(ce);
    json_object_put(blob);
    json_object_put(ev);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ignore_rules),
        cmocka_unit_test(test_docker_envelope),
        cmocka_unit_test(test_cloudevents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
