/* test_tasks.c — the pool master's scheduler of background tasks
 * (fcgi/tasks.h) with a table of fake tasks: the pool knows nothing of what
 * they do. A task starts one interval after the first tick, in a child of
 * its own; a disabled one never starts; a stopping tick sends SIGTERM to a
 * run still going. The storage tasks `wharf serve` hands it are in
 * tests/e2e/t_gc_maint.sh, t_s3_maint.sh, t_proxy_cache.sh. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fcgi/tasks.h"
#include "../../lib/config.h"

static char dir[64];
static struct config cfg, cfg2; /* only passed through to the tasks (cfg2: a reload) */

static int setup(void **state)
{
    strcpy(dir, "/tmp/wharf-test-tasks.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ctx of a fake task: the file its run writes (its pid), its exit status,
 * whether it is enabled, how long it sleeps after writing */
struct fake {
    char path[128];
    int status;
    int enabled;
    int sleep_s;
};

static int fake_enabled(const struct config *c, const void *ctx)
{
    assert_true(c == &cfg || c == &cfg2);
    return ((const struct fake *)ctx)->enabled;
}

static long fake_interval(const struct config *c, const void *ctx)
{
    return 1;
}

static int fake_run(const struct config *c, const void *ctx)
{
    const struct fake *f = ctx;
    FILE *o = fopen(f->path, "w");
    if (!o) return 9;
    fprintf(o, "%d\n", (int)getpid());
    fclose(o);
    if (f->sleep_s) sleep((unsigned)f->sleep_s);
    return f->status;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

static pid_t pid_in(const char *p)
{
    FILE *f = fopen(p, "r");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1) pid = 0;
        fclose(f);
    }
    return (pid_t)pid;
}

static void test_runs_when_due(void **state)
{
    struct fake ok = {.status = 0, .enabled = 1}, bad = {.status = 3, .enabled = 1},
                off = {.status = 0, .enabled = 0};
    snprintf(ok.path, sizeof ok.path, "%s/ok", dir);
    snprintf(bad.path, sizeof bad.path, "%s/bad", dir);
    snprintf(off.path, sizeof off.path, "%s/off", dir);
    const struct pool_task table[] = {
        {.name = "ok",
         .enabled = fake_enabled,
         .interval = fake_interval,
         .run = fake_run,
         .ctx = &ok},
        {.name = "bad",
         .enabled = fake_enabled,
         .interval = fake_interval,
         .run = fake_run,
         .ctx = &bad},
        {.name = "off",
         .enabled = fake_enabled,
         .interval = fake_interval,
         .run = fake_run,
         .ctx = &off},
    };
    struct task_sched *s = NULL;
    assert_int_equal(task_sched_new(table, 3, &s), 0);

    /* the first tick schedules, runs nothing, and asks to be woken within
     * the interval */
    int wait_ms = -1;
    task_sched_tick(s, &cfg, 0, &wait_ms);
    assert_true(wait_ms > 0 && wait_ms <= 1001);
    assert_false(exists(ok.path));

    for (int i = 0; i < 300 && !(exists(ok.path) && exists(bad.path)); i++) {
        wait_ms = -1;
        task_sched_tick(s, &cfg, 0, &wait_ms);
        sleep_ms(10);
    }
    assert_true(exists(ok.path));
    assert_true(exists(bad.path));
    assert_false(exists(off.path));
    /* each ran in a child, not in the master */
    assert_int_not_equal(pid_in(ok.path), getpid());
    assert_int_not_equal(pid_in(bad.path), pid_in(ok.path));

    /* stop: a run still going gets SIGTERM; collect what is left */
    wait_ms = -1;
    task_sched_tick(s, &cfg, 1, &wait_ms);
    while (waitpid(-1, NULL, 0) > 0) {
    }
    task_sched_free(s);
}

static void test_stopping_kills(void **state)
{
    struct fake slow = {.status = 0, .enabled = 1, .sleep_s = 30};
    snprintf(slow.path, sizeof slow.path, "%s/slow", dir);
    const struct pool_task table[] = {{.name = "slow",
                                       .enabled = fake_enabled,
                                       .interval = fake_interval,
                                       .run = fake_run,
                                       .ctx = &slow}};
    struct task_sched *s = NULL;
    assert_int_equal(task_sched_new(table, 1, &s), 0);
    int wait_ms = -1;
    for (int i = 0; i < 300 && !exists(slow.path); i++) {
        wait_ms = -1;
        task_sched_tick(s, &cfg, 0, &wait_ms);
        sleep_ms(10);
    }
    pid_t pid = pid_in(slow.path);
    assert_true(pid > 0);
    /* a stopping tick starts nothing and sends SIGTERM to the run going */
    task_sched_tick(s, &cfg, 1, &wait_ms);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    task_sched_free(s);
    task_sched_free(NULL);
}

/* tick until pred(path) or about 3 s; 1 when it came true */
static int tick_until(struct task_sched *s, const struct config *c, const char *path, pid_t not )
{
    for (int i = 0; i < 300; i++) {
        int wait_ms = -1;
        task_sched_tick(s, c, 0, &wait_ms);
        if (exists(path) && pid_in(path) > 0 && pid_in(path) != not ) return 1;
        sleep_ms(10);
    }
    return 0;
}

/* A service (persistent row) starts on the first tick, without waiting an
 * interval; when it exits on its own it starts again about a second later;
 * a reload (another config) SIGTERMs it and starts it again at once; turned
 * off it is SIGTERMed and stays down; a stopping tick SIGTERMs it. */
static void test_service_lifecycle(void **state)
{
    struct fake svc = {.status = 0, .enabled = 1, .sleep_s = 30};
    snprintf(svc.path, sizeof svc.path, "%s/svc", dir);
    const struct pool_task table[] = {
        {.name = "svc", .enabled = fake_enabled, .run = fake_run, .ctx = &svc, .persistent = 1}};
    struct task_sched *s = NULL;
    assert_int_equal(task_sched_new(table, 1, &s), 0);

    int wait_ms = -1;
    task_sched_tick(s, &cfg, 0, &wait_ms);
    for (int i = 0; i < 100 && !exists(svc.path); i++)
        sleep_ms(10);
    pid_t first = pid_in(svc.path);
    assert_true(first > 0);

    /* it dies: restarted, not before TASK_RESTART_MIN */
    kill(first, SIGKILL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(tick_until(s, &cfg, svc.path, first));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(took >= TASK_RESTART_MIN * 0.9);
    pid_t second = pid_in(svc.path);

    /* a reload: SIGTERM, then a new child with the new configuration */
    assert_true(tick_until(s, &cfg2, svc.path, second));
    int st = 0;
    assert_int_equal(waitpid(second, &st, WNOHANG), -1); /* reaped by the scheduler */
    pid_t third = pid_in(svc.path);
    assert_int_not_equal(third, second);

    /* disabled: SIGTERM, and nothing new */
    svc.enabled = 0;
    unlink(svc.path);
    for (int i = 0; i < 150; i++) {
        wait_ms = -1;
        task_sched_tick(s, &cfg2, 0, &wait_ms);
        sleep_ms(10);
    }
    assert_int_equal(kill(third, 0), -1);
    assert_false(exists(svc.path));

    /* enabled again: at once; a stopping tick SIGTERMs it */
    svc.enabled = 1;
    assert_true(tick_until(s, &cfg2, svc.path, 0));
    pid_t fourth = pid_in(svc.path);
    task_sched_tick(s, &cfg2, 1, &wait_ms);
    assert_int_equal(waitpid(fourth, &st, 0), fourth);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    task_sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_when_due),
        cmocka_unit_test(test_stopping_kills),
        cmocka_unit_test(test_service_lifecycle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
