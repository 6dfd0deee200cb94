/* test_health.c — issue 14's health checks: the threshold rule, the shared
 * table across fork and its report (lib/health.c), each check of the
 * service (admin/health.c) against real files, sockets and a tiny HTTP
 * server, and the storage probe (storage/probe.c) on a filesystem root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../admin/health.h"
#include "../../lib/arena.h"
#include "../../lib/config.h"
#include "../../lib/err.h"
#include "../../lib/health.h"
#include "../../lib/log.h"
#include "../../storage/probe.h"

static char dir[256];

static int group_setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/wharf-health-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* the reference's thresholdUpdater and PeriodicChecker */
static void test_update_threshold(void **state)
{
    (void)state;
    int count = 0;
    /* threshold 0: one failure is enough, one success clears it */
    assert_int_equal(health_update(&count, 0, 0), 1);
    assert_int_equal(health_update(&count, 0, 0), 1);
    assert_int_equal(count, 1);
    assert_int_equal(health_update(&count, 0, 1), 0);
    assert_int_equal(count, 0);
    /* threshold 3: failing from the third failure in a row on */
    assert_int_equal(health_update(&count, 3, 0), 0);
    assert_int_equal(health_update(&count, 3, 0), 0);
    assert_int_equal(health_update(&count, 3, 1), 0); /* a success starts over */
    assert_int_equal(health_update(&count, 3, 0), 0);
    assert_int_equal(health_update(&count, 3, 0), 0);
    assert_int_equal(health_update(&count, 3, 0), 1);
    assert_int_equal(health_update(&count, 3, 0), 1);
    assert_int_equal(count, 3); /* capped at the threshold */
    assert_int_equal(health_update(&count, 3, 1), 0);
}

/* before health_init (CGI, commands): nothing fails, the report is {} */
static void test_uninitialised(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    int status = 0;
    assert_int_equal(health_failing(), 0);
    assert_string_equal(health_report(a, &status), "{}");
    assert_int_equal(status, 200);
    assert_int_equal(health_set(0, "x", 1, 1, "e"), 0); /* a no-op */
    assert_int_equal(health_failing(), 0);
    arena_free(a);
}

/* written by a forked child (the service), read by the parent (a worker) */
static void test_table_shared(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    int status = 0;
    assert_int_equal(health_init(), 0);
    assert_int_equal(health_init(), 0); /* idempotent */
    health_reset();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        health_set(0, "storagedriver_filesystem", 0, 0, NULL);
        health_set(1, "tcp:1", 1, 2, "connection to tcp:1 failed");
        health_set(2, "/run/<drain>&\"x\"", 1, 1, "file exists\n\xe2\x80\xa8");
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(health_failing(), 1);
    /* sorted by name, Go's escapes (HTML-safe, U+2028), no trailing newline */
    assert_string_equal(health_report(a, &status),
                        "{\"/run/\\u003cdrain\\u003e\\u0026\\\"x\\\"\":\"file exists\\n\\u2028\","
                        "\"tcp:1\":\"connection to tcp:1 failed\"}");
    assert_int_equal(status, 503);
    int count = -1, failing = -1;
    char err[64];
    assert_int_equal(health_previous("tcp:1", &count, &failing, err, sizeof err), 1);
    assert_int_equal(count, 2);
    assert_int_equal(failing, 1);
    assert_string_equal(err, "connection to tcp:1 failed");
    assert_int_equal(health_previous("nope", &count, &failing, err, sizeof err), 0);
    /* passing again */
    health_set(1, "tcp:1", 0, 0, NULL);
    health_set(2, "/run/<drain>&\"x\"", 0, 0, NULL);
    assert_int_equal(health_failing(), 0);
    assert_string_equal(health_report(a, &status), "{}");
    assert_int_equal(status, 200);
    /* bounds: a slot past the table, a name cut to the slot */
    assert_int_equal(health_set(HEALTH_MAX_SLOTS, "x", 1, 1, "e"), WERR_INVALID);
    char *longname = malloc(HEALTH_NAME_MAX * 2);
    memset(longname, 'n', HEALTH_NAME_MAX * 2 - 1);
    longname[HEALTH_NAME_MAX * 2 - 1] = '\0';
    health_reset();
    assert_int_equal(health_set(0, longname, 1, 1, "e"), 0);
    const char *r = health_report(a, &status);
    assert_int_equal(strlen(r), (size_t)(HEALTH_NAME_MAX - 1) + strlen("{\"\":\"e\"}"));
    free(longname);
    health_reset();
    assert_int_equal(health_failing(), 0);
    arena_free(a);
}

static void test_check_file(void **state)
{
    (void)state;
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/drain", dir);
    assert_int_equal(health_check_file(path, err, sizeof err), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(health_check_file(path, err, sizeof err), -1);
    assert_string_equal(err, "file exists");
    /* a lookup error other than "no such file" fails, in Go's words */
    char under[600], want[700];
    snprintf(under, sizeof under, "%s/x", path);
    assert_int_equal(health_check_file(under, err, sizeof err), -1);
    snprintf(want, sizeof want, "stat %s: not a directory", under);
    assert_string_equal(err, want);
    unlink(path);
    /* relative: from the current directory */
    char *cwd = getcwd(NULL, 0);
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(health_check_file("drain", err, sizeof err), 0);
    f = fopen("drain", "w");
    fclose(f);
    assert_int_equal(health_check_file("drain", err, sizeof err), -1);
    unlink("drain");
    assert_int_equal(chdir(cwd), 0);
    free(cwd);
}

/* a listening socket on a free loopback port; *port set */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 16) ||
        getsockname(fd, (struct sockaddr *)&sa, &sl))
        return -1;
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_check_tcp(void **state)
{
    (void)state;
    int port, fd = listener(&port);
    char addr[64], err[256], want[128];
    assert_true(fd >= 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_int_equal(health_check_tcp(addr, 1000, err, sizeof err), 0);
    assert_string_equal(err, "");
    snprintf(addr, sizeof addr, "[::1]:%d", port); /* not listening on v6 (or no v6) */
    assert_int_equal(health_check_tcp(addr, 1000, err, sizeof err), -1);
    close(fd); /* now nothing listens there */
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_int_equal(health_check_tcp(addr, 1000, err, sizeof err), -1);
    snprintf(want, sizeof want, "connection to %s failed", addr);
    assert_string_equal(err, want);
    assert_int_equal(health_check_tcp("no-port", 1000, err, sizeof err), -1);
}

/* serve: answer n requests on fd with status, each request's head
 * appended to log (a file) */
static void serve(int fd, int n, int status, const char *log)
{
    for (int i = 0; i < n; i++) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) _exit(1);
        char buf[4096];
        size_t got = 0;
        while (got < sizeof buf - 1) {
            ssize_t r = read(c, buf + got, sizeof buf - 1 - got);
            if (r <= 0) break;
            got += (size_t)r;
            buf[got] = 0;
            if (strstr(buf, "\r\n\r\n")) break;
        }
        buf[got] = 0;
        FILE *f = fopen(log, "a");
        if (f) {
            fputs(buf, f);
            fclose(f);
        }
        char resp[128];
        int len =
            snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
        if (write(c, resp, (size_t)len) < 0) _exit(1);
        close(c);
    }
    _exit(0);
}

static void test_check_http(void **state)
{
    (void)state;
    int port, fd = listener(&port);
    assert_true(fd >= 0);
    char log[512], uri[128], err[256];
    snprintf(log, sizeof log, "%s/http.log", dir);
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/ping", port);
    char *vals[] = {"Bearer t"};
    struct config_header hd = {.name = "Authorization", .values = vals, .nvalues = 1};
    struct config_health_check h = {
        .kind = HEALTH_HTTP, .target = uri, .statuscode = 200, .headers = &hd, .nheaders = 1};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) serve(fd, 1, 500, log);
    assert_int_equal(health_check_http(&h, 2000, err, sizeof err), -1);
    assert_string_equal(err, "downstream service returned unexpected status: 500");
    int st;
    waitpid(pid, &st, 0);
    pid = fork();
    if (pid == 0) serve(fd, 1, 204, log);
    h.statuscode = 204; /* statuscode: what passes */
    assert_int_equal(health_check_http(&h, 2000, err, sizeof err), 0);
    waitpid(pid, &st, 0);
    /* the requests were HEADs with the configured header */
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    assert_non_null(strstr(buf, "HEAD /ping HTTP/1.1\r\n"));
    assert_null(strstr(buf, "GET "));
    assert_non_null(strstr(buf, "\r\nAuthorization: Bearer t\r\n"));
    /* nothing listens any more */
    close(fd);
    assert_int_equal(health_check_http(&h, 1000, err, sizeof err), -1);
    char want[200];
    snprintf(want, sizeof want, "error while checking: %s", uri);
    assert_string_equal(err, want);
}

static struct config *load(const char *yaml)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/config.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    struct config *c = NULL;
    if (config_load(path, NULL, &c, err, sizeof err) != 0) fail_msg("config: %s", err);
    return c;
}

static void test_storage_probe(void **state)
{
    (void)state;
    char yaml[1024], root[512], err[512];
    snprintf(root, sizeof root, "%s/root", dir);
    snprintf(yaml, sizeof yaml, "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n",
             root);
    struct config *c = load(yaml);
    struct storage_probe *p = NULL;
    assert_int_equal(storage_probe_new(c, &p), 0);
    assert_string_equal(storage_probe_name(p), "storagedriver_filesystem");
    assert_int_equal(storage_probe_run(p, err, sizeof err), 0); /* made by the driver's open */
    /* gone: "not found" answers, as in the reference */
    assert_int_equal(rmdir(root), 0);
    assert_int_equal(storage_probe_run(p, err, sizeof err), 0);
    /* a file in its place: unusable */
    FILE *f = fopen(root, "w");
    assert_non_null(f);
    fclose(f);
    assert_true(storage_probe_run(p, err, sizeof err) != 0);
    char want[700];
    snprintf(want, sizeof want, "filesystem: stat %s: ", root);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    unlink(root);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(storage_probe_run(p, err, sizeof err), 0);
    /* unreadable: only an unprivileged process is refused */
    if (geteuid() != 0) {
        assert_int_equal(chmod(root, 0), 0);
        assert_true(storage_probe_run(p, err, sizeof err) != 0);
        assert_int_equal(chmod(root, 0755), 0);
    }
    storage_probe_free(p);
    config_free(c);
    /* inmemory: always answering */
    c = load("version: 0.1\nstorage:\n  inmemory:\n");
    assert_int_equal(storage_probe_new(c, &p), 0);
    assert_string_equal(storage_probe_name(p), "storagedriver_inmemory");
    assert_int_equal(storage_probe_run(p, err, sizeof err), 0);
    storage_probe_free(p);
    config_free(c);
}

int main(void)
{
    log_init(LOG_ERROR, 0, NULL);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_threshold), cmocka_unit_test(test_uninitialised),
        cmocka_unit_test(test_table_shared),     cmocka_unit_test(test_check_file),
        cmocka_unit_test(test_check_tcp),        cmocka_unit_test(test_check_http),
        cmocka_unit_test(test_storage_probe),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
