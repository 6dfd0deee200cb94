/* test_log.c — lib/log.c and lib/loghook.c: the reference's three formats
 * (compared with what docker-registry 2.8.2 writes), log.fields, reportcaller,
 * escaping of quotes, newlines and bad UTF-8, levels, the access log switch,
 * the mail hook's message and the log section's configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/config.h"
#include "../../lib/err.h"
#include "../../lib/log.h"
#include "../../lib/loghook.h"

static char tmpdir[256];
static char logpath[300], cfgpath[300];

static int group_setup(void **state)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/wharf-log-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(logpath, sizeof logpath, "%s/log", tmpdir);
    snprintf(cfgpath, sizeof cfgpath, "%s/config.yml", tmpdir);
    return 0;
}

static int group_teardown(void **state)
{
    log_init(LOG_ERROR, 0, NULL); /* frees the copies, closes the file */
    unlink(logpath);
    unlink(cfgpath);
    return rmdir(tmpdir);
}

/* load: a configuration from YAML text (NULL on error, err filled) */
static struct config *load(const char *yaml, char *err, size_t errlen)
{
    FILE *f = fopen(cfgpath, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    struct config *c = NULL;
    if (config_load(cfgpath, NULL, &c, err, errlen) != 0) return NULL;
    return c;
}

static struct config *load_ok(const char *yaml)
{
    char err[512] = "";
    struct config *c = load(yaml, err, sizeof err);
    if (!c) print_error("config: %s\n", err);
    assert_non_null(c);
    return c;
}

static void expect_config_error(const char *yaml, const char *want)
{
    char err[512] = "";
    struct config *c = load(yaml, err, sizeof err);
    assert_null(c);
    if (!strstr(err, want)) print_error("got: %s\nwant: %s\n", err, want);
    assert_non_null(strstr(err, want));
}

/* configure: log_configure from YAML (the log section and the rest) */
static void configure(const char *log_section)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "version: 0.1\nstorage:\n  inmemory:\n%s", log_section);
    struct config *c = load_ok(yaml);
    assert_int_equal(log_configure(c, 0), 0);
    config_free(c); /* log.c keeps copies */
}

static const struct timespec T = {1700000000, 123456000}; /* 2023-11-14T22:13:20.123456Z */

static char *line_of(enum log_level lv, const char *msg)
{
    static char buf[8192];
    log_format_line(buf, sizeof buf, &T, lv, "lib/x.c", 42, "x_fn", msg);
    return buf;
}

static char *read_log(void)
{
    static char buf[65536];
    FILE *f = fopen(logpath, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_text(void **state)
{
    char want[512];
    int pid = (int)getpid();
    configure("");
    snprintf(want, sizeof want,
             "time=\"2023-11-14T22:13:20.123456Z\" level=info msg=\"hello world\" pid=%d\n", pid);
    assert_string_equal(line_of(LOG_INFO, "hello world"), want);
    /* a bare word is not quoted; warn is logrus's "warning" */
    snprintf(want, sizeof want,
             "time=\"2023-11-14T22:13:20.123456Z\" level=warning msg=ok pid=%d\n", pid);
    assert_string_equal(line_of(LOG_WARN, "ok"), want);
    /* quotes, backslashes, newlines, tabs and control bytes as Go's %q */
    snprintf(want, sizeof want,
             "time=\"2023-11-14T22:13:20.123456Z\" level=error "
             "msg=\"a \\\"q\\\" b\\\\c\\nd\\te\\x01\\x7f\\xff é\" pid=%d\n",
             pid);
    assert_string_equal(line_of(LOG_ERROR, "a \"q\" b\\c\nd\te\x01\x7f\xff é"), want);
    /* no fraction when the nanoseconds are 0; trailing zeros dropped */
    char buf[512];
    struct timespec t0 = {1700000000, 0}, t1 = {1700000000, 500000000};
    log_format_line(buf, sizeof buf, &t0, LOG_INFO, "f", 1, "g", "m");
    assert_non_null(strstr(buf, "time=\"2023-11-14T22:13:20Z\" "));
    log_format_line(buf, sizeof buf, &t1, LOG_INFO, "f", 1, "g", "m");
    assert_non_null(strstr(buf, "time=\"2023-11-14T22:13:20.5Z\" "));
}

static void test_text_fields_and_caller(void **state)
{
    char want[512];
    int pid = (int)getpid();
    configure("log:\n  reportcaller: true\n  fields:\n    service: registry\n"
              "    environment: \"stag ing\"\n    msg: clash\n    zone: 3\n");
    /* time, level, msg, func, file, then the fields sorted (pid among them);
     * a field named like the formatter's own key is renamed fields.<name> */
    snprintf(want, sizeof want,
             "time=\"2023-11-14T22:13:20.123456Z\" level=info msg=hi func=x_fn "
             "file=\"lib/x.c:42\" environment=\"stag ing\" fields.msg=clash pid=%d "
             "service=registry zone=3\n",
             pid);
    assert_string_equal(line_of(LOG_INFO, "hi"), want);
}

static void test_json(void **state)
{
    char want[1024];
    int pid = (int)getpid();
    configure("log:\n  formatter: json\n  fields:\n    service: registry\n    port: 5000\n"
              "    debug: yes\n    time: clash\n");
    /* every key sorted, as Go encodes a map; numbers and booleans unquoted */
    snprintf(want, sizeof want,
             "{\"debug\":true,\"fields.time\":\"clash\",\"level\":\"error\",\"msg\":\"m\","
             "\"pid\":%d,\"port\":5000,\"service\":\"registry\","
             "\"time\":\"2023-11-14T22:13:20.123456Z\"}\n",
             pid);
    assert_string_equal(line_of(LOG_ERROR, "m"), want);
    /* escaping: quotes, backslash, newline, control bytes, bad UTF-8, U+2028,
     * no HTML escaping (DisableHTMLEscape) */
    snprintf(want, sizeof want,
             "{\"debug\":true,\"fields.time\":\"clash\",\"level\":\"info\","
             "\"msg\":\"a \\\"q\\\" b\\\\c\\nd\\te\\u0001<&>\\ufffd\\u2028é\","
             "\"pid\":%d,\"port\":5000,\"service\":\"registry\","
             "\"time\":\"2023-11-14T22:13:20.123456Z\"}\n",
             pid);
    assert_string_equal(line_of(LOG_INFO, "a \"q\" b\\c\nd\te\x01<&>\xff\xe2\x80\xa8é"), want);
}

static void test_logstash_and_caller(void **state)
{
    char want[1024];
    int pid = (int)getpid();
    configure("log:\n  formatter: logstash\n  reportcaller: true\n"
              "  fields:\n    service: registry\n    message: clash\n    msg: kept\n");
    snprintf(want, sizeof want,
             "{\"@timestamp\":\"2023-11-14T22:13:20.123456Z\",\"@version\":\"1\","
             "\"fields.message\":\"clash\",\"file\":\"lib/x.c:42\",\"function\":\"x_fn\","
             "\"level\":\"warning\",\"message\":\"m\",\"msg\":\"kept\",\"pid\":%d,"
             "\"service\":\"registry\"}\n",
             pid);
    assert_string_equal(line_of(LOG_WARN, "m"), want);
}

/* the macros pass the real call site */
static void test_reportcaller_call_site(void **state)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "version: 0.1\nstorage:\n  inmemory:\nlog:\n  reportcaller: true\n  level: info\n"
             "fastcgi:\n  logfile: %s\n",
             logpath);
    struct config *c = load_ok(yaml);
    assert_int_equal(log_configure(c, 0), 0);
    config_free(c);
    int line = __LINE__ + 1;
    log_warn("from %s", "here");
    log_debug("not written: below the level");
    char want[256];
    snprintf(want, sizeof want, "msg=\"from here\" func=test_reportcaller_call_site file=\"%s:%d\"",
             __FILE__, line);
    const char *got = read_log();
    if (!strstr(got, want)) print_error("log: %s\nwant: %s\n", got, want);
    assert_non_null(strstr(got, want));
    assert_null(strstr(got, "not written"));
    /* one line, ending in a newline */
    assert_int_equal(strchr(got, '\n') - got + 1, (long)strlen(got));
    log_init(LOG_ERROR, 0, NULL);
}

static void test_levels_and_reset(void **state)
{
    assert_int_equal(log_init(LOG_WARN, 0, logpath), 0);
    assert_true(log_enabled(LOG_ERROR));
    assert_true(log_enabled(LOG_WARN));
    assert_false(log_enabled(LOG_INFO));
    assert_false(log_access_enabled()); /* log_init: no access log */
    configure("");                      /* the reference's default: access log on */
    assert_true(log_access_enabled());
    configure("log:\n  accesslog:\n    disabled: true\n");
    assert_false(log_access_enabled());
    log_init(LOG_ERROR, 0, NULL);
}

static void test_go_quote(void **state)
{
    char buf[64];
    log_go_quote(buf, sizeof buf, "ua \"x\"\n");
    assert_string_equal(buf, "\"ua \\\"x\\\"\\n\"");
    log_go_quote(buf, sizeof buf, "");
    assert_string_equal(buf, "\"\"");
    /* truncated, still closed */
    log_go_quote(buf, 8, "abcdefghijkl");
    assert_int_equal(buf[0], '"');
    assert_int_equal(buf[strlen(buf) - 1], '"');
    assert_true(strlen(buf) < 8);
}

static void test_hook_config(void **state)
{
    struct config *c =
        load_ok("version: 0.1\nstorage:\n  inmemory:\nlog:\n  hooks:\n"
                "    - type: mail\n      levels: [Error, warn, panic]\n"
                "      options:\n        smtp: {addr: '127.0.0.1:2525', username: u,\n"
                "          password: p, insecure: true}\n"
                "        from: reg@example\n        to: ops@example\n"
                "    - {type: mail, disabled: true}\n");
    assert_int_equal(c->nlog_hooks, 2);
    const struct config_loghook *h = &c->log_hooks[0];
    assert_int_equal(h->levels, (1u << LOG_ERROR) | (1u << LOG_WARN) | LOGHOOK_PANIC);
    assert_string_equal(h->addr, "127.0.0.1:2525");
    assert_string_equal(h->password, "p");
    assert_int_equal(h->insecure, 1);
    assert_int_equal(h->nto, 1);
    assert_string_equal(h->to[0], "ops@example");
    assert_true(c->log_hooks[1].disabled);
    assert_true(loghook_config_active(c));
    config_free(c);

#define HOOK(x) "version: 0.1\nstorage:\n  inmemory:\nlog:\n  hooks:\n" x
    expect_config_error(HOOK("    - {type: slack}\n"),
                        "log.hooks[0].type: expected mail (the only hook type)");
    expect_config_error(HOOK("    - {type: mail, levels: [loud]}\n"),
                        "log.hooks[0].levels: expected levels among panic");
    expect_config_error(HOOK("    - {type: mail, levels: [error]}\n"),
                        "log.hooks[0]: options.smtp.addr: required");
    expect_config_error(
        HOOK("    - {type: mail, options: {smtp: {addr: mail}, from: a, to: [b]}}\n"),
        "log.hooks[0]: options.smtp.addr: expected host:port");
    expect_config_error(HOOK("    - {type: mail, options: {smtp: {addr: 'm:25'}, to: [b]}}\n"),
                        "log.hooks[0]: options.from: required");
    expect_config_error(HOOK("    - {type: mail, options: {smtp: {addr: 'm:25'}, from: a}}\n"),
                        "log.hooks[0]: options.to: at least one address required");
    expect_config_error(HOOK("    - {type: mail, options: {smtp: {host: x}}}\n"),
                        "log.hooks[0].options.smtp.host: unknown key");
    expect_config_error(HOOK("    - {levels: [error]}\n"), "log.hooks[0]: type: required (mail)");
    expect_config_error("version: 0.1\nstorage:\n  inmemory:\nlog:\n  fields:\n    a: {b: c}\n",
                        "log.fields.a: expected a string, number or boolean");
    expect_config_error("version: 0.1\nstorage:\n  inmemory:\nlog:\n  reportcaller: maybe\n",
                        "log.reportcaller");
}

static void test_hook_message(void **state)
{
    char *to[] = {"ops@example", "dev@example"};
    struct config_loghook h = {
        .addr = "mail.example:25", .from = "reg@example", .to = to, .nto = 2};
    char *m = loghook_message(&h, "error", "disk\r\nBcc: evil@example", "line one\nline two\n",
                              1700000000, 3);
    assert_non_null(m);
    /* the reference's subject: [level] smtp-host: message; a line break in
     * the message cannot add a header */
    assert_non_null(strstr(m, "To: ops@example, dev@example\r\n"));
    assert_non_null(strstr(m, "From: reg@example\r\n"));
    assert_non_null(strstr(m, "\r\nSubject: [error] mail.example: disk  Bcc: evil@example\r\n"));
    assert_null(strstr(m, "\r\nBcc:"));
    assert_non_null(strstr(m, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert_non_null(strstr(m, "\r\n\r\nline one\r\nline two\r\n"));
    assert_non_null(strstr(m, "(3 earlier log lines were not mailed"));
    free(m);

    assert_int_equal(loghook_level_bit("ERROR"), 1u << LOG_ERROR);
    assert_int_equal(loghook_level_bit("warning"), 1u << LOG_WARN);
    assert_int_equal(loghook_level_bit("warn"), 1u << LOG_WARN);
    assert_int_equal(loghook_level_bit("fatal"), LOGHOOK_FATAL);
    assert_int_equal(loghook_level_bit("verbose"), 0);
    assert_string_equal(loghook_level_name(1u << LOG_WARN), "warning");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_fields_and_caller),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_logstash_and_caller),
        cmocka_unit_test(test_reportcaller_call_site),
        cmocka_unit_test(test_levels_and_reset),
        cmocka_unit_test(test_go_quote),
        cmocka_unit_test(test_hook_config),
        cmocka_unit_test(test_hook_message),
    };
    return cmocka_run_group_tests_name("log", tests, group_setup, group_teardown);
}
