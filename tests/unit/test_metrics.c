/* test_metrics.c — lib/metrics.h: no-ops before metrics_init; numbers
 * recorded by several forked processes summed in the shared tables; the
 * exposition's lines (counters, histogram buckets cumulative and equal to
 * _count, in-flight back to 0, notification endpoints merged by name and
 * past the last slot); and the debug server's request-line parser
 * (admin/debug.h). The HTTP side and promtool: tests/e2e/t_metrics.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../admin/debug.h"
#include "../../lib/metrics.h"

static char *expo(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    struct metrics_pool p = {.known = 1, .busy = 1, .idle = 3, .max = 8, .min = 4};
    assert_int_equal(metrics_write_prometheus(f, &p), 0);
    fclose(f);
    return buf;
}

/* value: the sample of the line starting with series + ' ', or -1 */
static long long value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ') return strtoll(p + n + 1, NULL, 10);
    return -1;
}

static void test_inactive(void **state)
{
    /* first in the file: nothing mapped yet */
    assert_int_equal(metrics_active(), 0);
    assert_int_equal(metrics_now_ns(), 0);
    metrics_http_enter(MH_BASE, "GET");
    metrics_http_leave(MH_BASE, "GET", 200, 0, 1, 1);
    metrics_notify_count("a", METRICS_NOTIFY_SENT, 1);
    metrics_notify_pending("a", 3);
    metrics_storage_action("filesystem", MA_STAT, 0);
    metrics_cache(METRICS_CACHE_HIT);
    metrics_proxy(METRICS_PROXY_BLOB, 1, 0);
    metrics_gc(1, 1, 1, 1);
    assert_int_equal(metrics_requests_total(), 0);
    char *t = expo();
    assert_string_equal(t, "");
    free(t);
}

enum { PROCS = 4, PER = 2500 };

static void test_summed_over_processes(void **state)
{
    assert_int_equal(metrics_init(), 0);
    assert_int_equal(metrics_init(), 0); /* once */
    pid_t kids[PROCS];
    for (int k = 0; k < PROCS; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            for (int i = 0; i < PER; i++) {
                int64_t t0 = metrics_now_ns();
                metrics_http_enter(MH_BLOB, "GET");
                metrics_storage_action("filesystem", MA_STAT, t0);
                metrics_http_leave(MH_BLOB, "GET", i % 5 ? 200 : 404, t0, 0, 3000);
            }
            metrics_notify_count("hook", METRICS_NOTIFY_SENT, 10);
            metrics_cache(k % 2 ? METRICS_CACHE_HIT : METRICS_CACHE_MISS);
            _exit(0);
        }
    }
    for (int k = 0; k < PROCS; k++) {
        int st;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(metrics_requests_total(), PROCS * PER);
    char *t = expo();
    assert_int_equal(
        value(t, "registry_http_requests_total{code=\"200\",handler=\"blob\",method=\"GET\"}"),
        PROCS * PER * 4 / 5);
    assert_int_equal(
        value(t, "registry_http_requests_total{code=\"404\",handler=\"blob\",method=\"GET\"}"),
        PROCS * PER / 5);
    assert_int_equal(value(t, "registry_http_request_duration_seconds_count{handler=\"blob\","
                              "method=\"GET\"}"),
                     PROCS * PER);
    assert_int_equal(value(t, "registry_http_request_duration_seconds_bucket{handler=\"blob\","
                              "method=\"GET\",le=\"+Inf\"}"),
                     PROCS * PER);
    /* 3000 bytes: not in the 1 KiB and 2 KiB buckets, in the 4 KiB one */
    assert_int_equal(
        value(t, "registry_http_response_size_bytes_bucket{handler=\"blob\",le=\"2048\"}"), 0);
    assert_int_equal(
        value(t, "registry_http_response_size_bytes_bucket{handler=\"blob\",le=\"4096\"}"),
        PROCS * PER);
    assert_int_equal(value(t, "registry_http_response_size_bytes_sum{handler=\"blob\"}"),
                     3000LL * PROCS * PER);
    assert_int_equal(value(t, "registry_http_in_flight_requests{handler=\"blob\"}"), 0);
    assert_int_equal(value(t, "registry_storage_action_seconds_count{action=\"Stat\","
                              "driver=\"filesystem\"}"),
                     PROCS * PER);
    assert_int_equal(value(t, "wharf_http_sent_bytes_total"), 3000LL * PROCS * PER);
    assert_int_equal(value(t, "wharf_notifications_sent_total{endpoint=\"hook\"}"), 10 * PROCS);
    assert_int_equal(value(t, "registry_storage_cache_total{type=\"Request\"}"), PROCS);
    assert_int_equal(value(t, "registry_storage_cache_total{type=\"Hit\"}"), PROCS / 2);
    assert_int_equal(value(t, "wharf_pool_workers{state=\"idle\"}"), 3);
    /* every family has its HELP and TYPE */
    assert_non_null(strstr(t, "# TYPE registry_http_requests_total counter\n"));
    assert_non_null(strstr(t, "# TYPE registry_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(t, "# TYPE wharf_notifications_pending gauge\n"));
    free(t);
}

static void test_in_flight_and_uploads(void **state)
{
    metrics_http_enter(MH_BLOB_UPLOAD_CHUNK, "PATCH");
    metrics_http_enter(MH_BASE, "GET");
    char *t = expo();
    assert_int_equal(value(t, "registry_http_in_flight_requests{handler=\"blob_upload_chunk\"}"),
                     1);
    assert_int_equal(value(t, "wharf_uploads_in_progress"), 1);
    free(t);
    metrics_http_leave(MH_BLOB_UPLOAD_CHUNK, "PATCH", 202, metrics_now_ns(), 100, 0);
    metrics_http_leave(MH_BASE, "GET", 200, metrics_now_ns(), 0, 2);
    metrics_http_leave(-1, "BREW", 999, metrics_now_ns(), 0, 0); /* never entered */
    t = expo();
    assert_int_equal(value(t, "registry_http_in_flight_requests{handler=\"blob_upload_chunk\"}"),
                     0);
    assert_int_equal(value(t, "wharf_uploads_in_progress"), 0);
    assert_int_equal(
        value(t, "registry_http_requests_total{code=\"500\",handler=\"other\",method=\"OTHER\"}"),
        1);
    free(t);
}

static void test_notify_slots(void **state)
{
    char name[64];
    for (int i = 0; i < METRICS_NOTIFY_SLOTS + 5; i++) {
        snprintf(name, sizeof name, "ep%d", i);
        metrics_notify_count(name, METRICS_NOTIFY_RETRY, 1);
        metrics_notify_count(name, METRICS_NOTIFY_FAILURE, 2);
    }
    metrics_notify_pending("ep1", 7);
    metrics_notify_pending("ep1", 5); /* a gauge: the last value */
    metrics_notify_count("we\"ird", METRICS_NOTIFY_SENT, 1);
    char *t = expo();
    assert_int_equal(value(t, "wharf_notifications_pending{endpoint=\"ep1\"}"), 5);
    assert_int_equal(value(t, "wharf_notifications_retries_total{endpoint=\"ep2\"}"), 1);
    assert_int_equal(value(t, "wharf_notifications_failures_total{endpoint=\"ep2\"}"), 2);
    /* "hook" took a slot in each child that saw none named yet (one to
     * PROCS: they race, the exposition merges them into one line), so at
     * least ep0..ep(SLOTS - PROCS - 1) have theirs; the rest is summed
     * under _other, and every retry is counted once */
    char series[96];
    snprintf(series, sizeof series, "wharf_notifications_retries_total{endpoint=\"ep%d\"}",
             METRICS_NOTIFY_SLOTS - PROCS - 1);
    assert_int_equal(value(t, series), 1);
    long long sum = value(t, "wharf_notifications_retries_total{endpoint=\"_other\"}");
    assert_true(sum >= 6);
    for (int i = 0; i < METRICS_NOTIFY_SLOTS + 5; i++) {
        snprintf(series, sizeof series, "wharf_notifications_retries_total{endpoint=\"ep%d\"}", i);
        long long v = value(t, series);
        if (v > 0) sum += v;
    }
    assert_int_equal(sum, METRICS_NOTIFY_SLOTS + 5);
    const char *hook = "wharf_notifications_sent_total{endpoint=\"hook\"} ";
    const char *first = strstr(t, hook);
    assert_non_null(first);
    assert_null(strstr(first + 1, hook)); /* one line, however many slots */
    assert_int_equal(value(t, "wharf_notifications_sent_total{endpoint=\"hook\"}"), PROCS * 10);
    assert_int_equal(value(t, "wharf_notifications_sent_total{endpoint=\"we\\\"ird\"}"), -1);
    free(t);
}

static void test_parse_request(void **state)
{
    char m[16], p[64];
    const char *ok = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(debug_parse_request(ok, strlen(ok), m, sizeof m, p, sizeof p), 0);
    assert_string_equal(m, "GET");
    assert_string_equal(p, "/metrics");
    const char *h10 = "HEAD /debug/vars HTTP/1.0\n\n";
    assert_int_equal(debug_parse_request(h10, strlen(h10), m, sizeof m, p, sizeof p), 0);
    assert_string_equal(m, "HEAD");
    assert_string_equal(p, "/debug/vars");
    static const char *const bad[] = {
        "GET /metrics\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        " /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET  HTTP/1.1\r\n\r\n",
        "VERYVERYLONGMETHODNAME / HTTP/1.1\r\n\r\n",
        "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
        "HTTP/1.1\r\n\r\n",
        "no newline at all",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(debug_parse_request(bad[i], strlen(bad[i]), m, sizeof m, p, sizeof p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inactive),
        cmocka_unit_test(test_summed_over_processes),
        cmocka_unit_test(test_in_flight_and_uploads),
        cmocka_unit_test(test_notify_slots),
        cmocka_unit_test(test_parse_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
