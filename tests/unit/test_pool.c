/* test_pool.c — in-process pieces of the pool and the CGI transport: listen
 * address parsing, socket creation (mode, stale and live sockets), listener
 * detection, and the CGI body bound. The process lifecycle is in
 * tests/e2e/t_pool.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fcgi/pool.h"
#include "../../fcgi/scoreboard.h"
#include "../../fcgi/transport.h"
#include "../../lib/err.h"

static char dir[64];

static int setup(void **state)
{
    strcpy(dir, "/tmp/wharf-test-pool.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_unix_path(void **state)
{
    assert_string_equal(pool_listen_unix_path("unix:/run/w.sock"), "/run/w.sock");
    assert_string_equal(pool_listen_unix_path("/run/w.sock"), "/run/w.sock");
    assert_null(pool_listen_unix_path("127.0.0.1:9000"));
    assert_null(pool_listen_unix_path(":9000"));
    assert_null(pool_listen_unix_path(NULL));
}

static void test_open_unix_mode_and_listener(void **state)
{
    char path[128], addr[140], err[256] = "";
    snprintf(path, sizeof path, "%s/a.sock", dir);
    snprintf(addr, sizeof addr, "unix:%s", path);
    int fd = -1;
    assert_int_equal(pool_listen_open(addr, 16, 0660, &fd, err, sizeof err), 0);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0660);
    assert_int_equal(pool_fd_is_listener(fd), 1);
    assert_int_equal(pool_fd_is_listener(STDERR_FILENO), 0);

    /* a live socket is not stolen */
    int fd2 = -1;
    err[0] = 0;
    assert_int_equal(pool_listen_open(path, 16, 0666, &fd2, err, sizeof err), WERR_EXISTS);
    assert_int_equal(fd2, -1);
    assert_non_null(strstr(err, "in use"));

    /* once closed it is stale and replaced */
    close(fd);
    err[0] = 0;
    assert_int_equal(pool_listen_open(path, 16, 0600, &fd2, err, sizeof err), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    close(fd2);
    unlink(path);
}

static void test_open_refuses(void **state)
{
    char path[128], err[256] = "";
    int fd = -1;
    snprintf(path, sizeof path, "%s/plain", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(pool_listen_open(path, 16, 0666, &fd, err, sizeof err), WERR_EXISTS);
    assert_int_equal(access(path, F_OK), 0); /* not deleted */
    err[0] = 0;
    assert_int_equal(pool_listen_open("nonsense", 16, 0666, &fd, err, sizeof err), WERR_INVALID);
    assert_true(err[0] != 0);
    assert_int_equal(pool_listen_open("unix:", 16, 0666, &fd, err, sizeof err), WERR_INVALID);
    char longp[300];
    memset(longp, 'x', sizeof longp);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    assert_int_equal(pool_listen_open(longp, 16, 0666, &fd, err, sizeof err), WERR_INVALID);
}

static void test_open_tcp(void **state)
{
    char err[256] = "";
    int fd = -1;
    assert_int_equal(pool_listen_open("127.0.0.1:0", 16, 0666, &fd, err, sizeof err), 0);
    assert_int_equal(pool_fd_is_listener(fd), 1);
    close(fd);
}

/* CGI reads stop at CONTENT_LENGTH even when more bytes are on stdin. */
static void test_cgi_body_bound(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    const char data[] = "0123456789EXTRA";
    assert_int_equal(write(p[1], data, sizeof data - 1), (ssize_t)(sizeof data - 1));
    setenv("CONTENT_LENGTH", "10", 1);
    struct cgi_io ctx;
    struct http_io io;
    transport_cgi_io(&io, &ctx, p[0], p[1]);
    char buf[64];
    size_t got = 0;
    ssize_t n;
    while ((n = io.read(io.ctx, buf + got, 3)) > 0)
        got += (size_t)n;
    assert_int_equal(n, 0);
    assert_int_equal(got, 10);
    assert_memory_equal(buf, "0123456789", 10);
    setenv("GATEWAY_INTERFACE", "CGI/1.1", 1);
    assert_string_equal(io.param(io.ctx, "GATEWAY_INTERFACE"), "CGI/1.1");
    close(p[0]);
    close(p[1]);

    /* no CONTENT_LENGTH: read to EOF */
    assert_int_equal(pipe(p), 0);
    unsetenv("CONTENT_LENGTH");
    assert_int_equal(write(p[1], data, 5), 5);
    close(p[1]);
    transport_cgi_io(&io, &ctx, p[0], -1);
    got = 0;
    while ((n = io.read(io.ctx, buf + got, sizeof buf - got)) > 0)
        got += (size_t)n;
    assert_int_equal(n, 0);
    assert_int_equal(got, 5);
    close(p[0]);
}

static void test_cgi_write(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct cgi_io ctx;
    struct http_io io;
    transport_cgi_io(&io, &ctx, -1, p[1]);
    assert_int_equal(io.write(io.ctx, "Status: 200 OK\r\n", 16), 0);
    char buf[32] = {0};
    assert_int_equal(read(p[0], buf, sizeof buf), 16);
    assert_string_equal(buf, "Status: 200 OK\r\n");
    close(p[0]);
    close(p[1]);
    transport_cgi_io(&io, &ctx, -1, p[1]); /* closed fd: an error, not a crash */
    assert_true(io.write(io.ctx, "x", 1) < 0);
}

/* decide: one call of the sizing rule */
static struct pool_decision decide(unsigned min, unsigned max, unsigned minsp, unsigned maxsp,
                                   struct pool_census c, unsigned rate)
{
    struct pool_limits l = {.min = min, .max = max, .minspare = minsp, .maxspare = maxsp};
    struct pool_decision d;
    c.total = c.starting + c.idle + c.busy;
    pool_scale_decide(&l, &c, rate, &d);
    return d;
}

static void test_scale_start_and_floor(void **state)
{
    /* an empty generation starts min at once, static or dynamic */
    struct pool_decision d = decide(4, 64, 2, 8, (struct pool_census){0}, 1);
    assert_int_equal(d.spawn, 4);
    assert_int_equal(d.retire, 0);
    d = decide(8, 8, 0, 0, (struct pool_census){0}, 1);
    assert_int_equal(d.spawn, 8);
    /* a static pool replaces what died and never grows past its size */
    d = decide(8, 8, 0, 0, (struct pool_census){.busy = 7}, 1);
    assert_int_equal(d.spawn, 1);
    d = decide(8, 8, 0, 0, (struct pool_census){.busy = 8, .queued = 50}, 32);
    assert_int_equal(d.spawn, 0);
    assert_int_equal(d.retire, 0);
    /* a static pool never retires idle workers */
    d = decide(8, 8, 0, 0, (struct pool_census){.idle = 8, .idle_expired = 8}, 1);
    assert_int_equal(d.retire, 0);
}

static void test_scale_grows_exponentially(void **state)
{
    /* all busy, none idle: 1, 2, 4, 8, ... per tick while short */
    unsigned rate = 1, busy = 4, seen[8];
    for (int i = 0; i < 8; i++) {
        struct pool_decision d =
            decide(4, 64, 2, 8, (struct pool_census){.busy = busy, .queued = 40}, rate);
        seen[i] = d.spawn;
        busy += d.spawn; /* they start and take the queue at once */
        rate = d.next_rate;
    }
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 2);
    assert_int_equal(seen[2], 4);
    assert_int_equal(seen[3], 8);
    assert_int_equal(seen[4], 16);
    assert_int_equal(seen[5], 29); /* capped by max 64 (35 busy) */
    assert_int_equal(seen[6], 0);
    assert_int_equal(busy, 64);
    /* starting workers count as ready: no double spawn while they start */
    struct pool_decision d = decide(4, 64, 2, 8, (struct pool_census){.busy = 4, .starting = 2}, 4);
    assert_int_equal(d.spawn, 0);
    assert_int_equal(d.next_rate, 1);
    /* a queue longer than the ready workers asks for more than minspare */
    d = decide(4, 64, 2, 8, (struct pool_census){.busy = 4, .idle = 2, .queued = 10}, 32);
    assert_int_equal(d.spawn, 8);
    /* never past max, rate or not */
    d = decide(4, 10, 2, 8, (struct pool_census){.busy = 9}, 32);
    assert_int_equal(d.spawn, 1);
    d = decide(4, 10, 2, 8, (struct pool_census){.busy = 10, .queued = 5}, 32);
    assert_int_equal(d.spawn, 0);
    /* enough idle: nothing to do, the rate falls back to 1 */
    d = decide(4, 64, 2, 8, (struct pool_census){.busy = 10, .idle = 3}, 16);
    assert_int_equal(d.spawn, 0);
    assert_int_equal(d.retire, 0);
    assert_int_equal(d.next_rate, 1);
}

static void test_scale_shrinks_after_idle(void **state)
{
    /* 20 idle, maxspare 8: those past the idle timeout go, 12 at most */
    struct pool_decision d =
        decide(4, 64, 2, 8, (struct pool_census){.idle = 20, .idle_expired = 0}, 1);
    assert_int_equal(d.retire, 0);
    d = decide(4, 64, 2, 8, (struct pool_census){.idle = 20, .idle_expired = 5}, 1);
    assert_int_equal(d.retire, 5);
    d = decide(4, 64, 2, 8, (struct pool_census){.idle = 20, .idle_expired = 20}, 1);
    assert_int_equal(d.retire, 12);
    /* never below min, even when min is above maxspare */
    d = decide(10, 64, 2, 4, (struct pool_census){.idle = 12, .idle_expired = 12}, 1);
    assert_int_equal(d.retire, 2);
    d = decide(10, 64, 2, 4, (struct pool_census){.idle = 10, .idle_expired = 10}, 1);
    assert_int_equal(d.retire, 0);
    /* busy workers are never retired */
    d = decide(2, 64, 1, 2, (struct pool_census){.busy = 30, .idle = 2, .idle_expired = 2}, 1);
    assert_int_equal(d.retire, 0);
}

/* The scoreboard in one process: claim, states, counts, release. */
static void test_scoreboard(void **state)
{
    struct scoreboard *sb = NULL;
    assert_int_equal(scoreboard_new(4, &sb), 0);
    assert_int_equal(scoreboard_size(sb), 4);
    int a = scoreboard_claim(sb, 1), b = scoreboard_claim(sb, 1), c = scoreboard_claim(sb, 2);
    assert_true(a >= 0 && b >= 0 && c >= 0 && a != b && b != c);
    scoreboard_set_pid(sb, a, 100);
    scoreboard_set_state(sb, a, SB_IDLE);
    scoreboard_set_state(sb, b, SB_BUSY);
    scoreboard_set_state(sb, b, SB_IDLE); /* one request served */
    scoreboard_set_state(sb, b, SB_BUSY);
    struct sb_counts n;
    scoreboard_count(sb, 1, 0, scoreboard_now_ms(), &n);
    assert_int_equal(n.total, 2);
    assert_int_equal(n.idle, 1);
    assert_int_equal(n.busy, 1);
    assert_int_equal(n.requests, 1);
    scoreboard_count(sb, 0, 1, scoreboard_now_ms(), &n);
    assert_int_equal(n.total, 3);
    assert_int_equal(n.starting, 1);
    struct sb_slot_view v;
    scoreboard_slot_read(sb, (size_t)a, &v);
    assert_int_equal(v.pid, 100);
    assert_int_equal(v.state, SB_IDLE);
    assert_int_equal(v.gen, 1);
    assert_int_not_equal(scoreboard_claim(sb, 1), -1);
    assert_int_equal(scoreboard_claim(sb, 1), -1); /* full */
    scoreboard_release(sb, a);
    assert_int_equal(scoreboard_claim(sb, 3), a);
    struct sb_pool_view pv = {.min = 4, .max = 64, .queued = 3, .updated_ms = 7}, got;
    scoreboard_publish(sb, &pv);
    scoreboard_pool_read(sb, &got);
    assert_int_equal(got.max, 64);
    assert_int_equal(got.queued, 3);
    assert_int_equal(got.updated_ms, 7);
    scoreboard_set_state(NULL, 0, SB_BUSY); /* single mode: a no-op */
    scoreboard_free(sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unix_path),
        cmocka_unit_test(test_open_unix_mode_and_listener),
        cmocka_unit_test(test_open_refuses),
        cmocka_unit_test(test_open_tcp),
        cmocka_unit_test(test_cgi_body_bound),
        cmocka_unit_test(test_cgi_write),
        cmocka_unit_test(test_scale_start_and_floor),
        cmocka_unit_test(test_scale_grows_exponentially),
        cmocka_unit_test(test_scale_shrinks_after_idle),
        cmocka_unit_test(test_scoreboard),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
