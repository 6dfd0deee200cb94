/* tasks.c — the master's scheduler of the background tasks `wharf serve`
 * hands the pool (tasks.h).
 *
 * Each row has a due time on the monotonic clock: the first start comes one
 * interval after the pool starts (or after a reload that changed the
 * interval), then one every interval; a run still going when the next is due
 * skips that turn, so a row never has two children. The master only forks,
 * reaps and logs: the child resets the master's signal handling, dies with
 * the master (PR_SET_PDEATHSIG) and exits with what the row's run() returns.
 * The master's own reaper (waitpid(-1) in pool.c) may collect a task child
 * first; the scheduler then sees ECHILD and just forgets the child. */
#include "tasks.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/log.h"

struct task_state {
    pid_t pid;     /* running child, 0 = none */
    double due;    /* next start (monotonic seconds); 0 = not scheduled */
    long interval; /* the interval `due` was computed with */
    /* services (persistent rows) */
    double started; /* when the running child was started */
    double delay;   /* the restart delay after its next exit */
    int stopping;   /* SIGTERM sent (disabled or reloaded): start again only once reaped */
};

struct task_sched {
    const struct pool_task *t;
    size_t n;
    struct task_state *st;
    const struct config *seen_cfg; /* to notice a reload */
};

int task_sched_new(const struct pool_task *tasks, size_t n, struct task_sched **out)
{
    struct task_sched *s = calloc(1, sizeof *s);
    if (!s) return WERR_NOMEM;
    s->st = calloc(n ? n : 1, sizeof *s->st);
    if (!s->st) {
        free(s);
        return WERR_NOMEM;
    }
    s->t = tasks;
    s->n = n;
    for (size_t i = 0; i < n; i++)
        s->st[i].delay = TASK_RESTART_MIN;
    *out = s;
    return 0;
}

void task_sched_free(struct task_sched *s)
{
    if (!s) return;
    free(s->st);
    free(s);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A service's child is gone: when to start it again. One stopped on purpose
 * (disabled, reload) starts at once with the configuration of the tick that
 * sees it gone; one that died on its own waits, longer each time it dies
 * young, so a service that cannot start does not fork in a loop. */
static void service_exited(struct task_state *st)
{
    double t = mono();
    if (st->stopping) {
        st->stopping = 0;
        st->delay = TASK_RESTART_MIN;
        st->due = t;
        return;
    }
    if (t - st->started >= TASK_YOUNG) st->delay = TASK_RESTART_MIN;
    st->due = t + st->delay;
    st->delay = st->delay * 2 > TASK_RESTART_MAX ? TASK_RESTART_MAX : st->delay * 2;
}

static void reap_tasks(struct task_sched *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!s->st[i].pid) continue;
        int st;
        pid_t r = waitpid(s->st[i].pid, &st, WNOHANG);
        if (r == 0) continue;
        if (r < 0 && errno != ECHILD) continue;
        const char *what = s->t[i].persistent ? "service" : "task";
        if (r > 0 && s->st[i].stopping)
            log_debug("%s: %s %d stopped", s->t[i].name, what, (int)r); /* we asked it to */
        else if (r > 0 && WIFSIGNALED(st))
            log_warn("%s: %s %d killed by signal %d", s->t[i].name, what, (int)r, WTERMSIG(st));
        else if (r > 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0)
            log_warn("%s: %s %d failed (status %d)", s->t[i].name, what, (int)r, WEXITSTATUS(st));
        else if (r > 0 && s->t[i].persistent)
            log_warn("%s: service %d exited", s->t[i].name, (int)r);
        /* r < 0 (ECHILD): the master's own reaper got it first; nothing to report */
        s->st[i].pid = 0;
        if (s->t[i].persistent) service_exited(&s->st[i]);
    }
}

/* Body of a task child (never returns). */
static void task_child(const struct pool_task *t, const struct config *cfg, pid_t master)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2};
    for (size_t s = 0; s < sizeof sigs / sizeof sigs[0]; s++)
        signal(sigs[s], sigs[s] == SIGPIPE ? SIG_IGN : SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (getppid() != master) _exit(0); /* the master died before PDEATHSIG was armed */
    _exit(t->run(cfg, t->ctx));
}

static void start_task(struct task_sched *s, size_t i, const struct config *cfg)
{
    sigset_t all, old;
    pid_t master = getpid();
    /* blocked across fork so the child never runs the master's handlers */
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) task_child(&s->t[i], cfg, master);
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        log_error("%s: fork: %s", s->t[i].name, strerror(saved));
        return;
    }
    log_debug("%s: %s %d started", s->t[i].name, s->t[i].persistent ? "service" : "task", (int)pid);
    s->st[i].pid = pid;
    s->st[i].started = mono();
}

/* One tick of a service row: keep it running while enabled, stop it when
 * not, restart it on a reload. */
static void service_tick(struct task_sched *s, size_t i, const struct config *cfg, int reloaded,
                         double t, int *wait_ms)
{
    const struct pool_task *task = &s->t[i];
    struct task_state *st = &s->st[i];
    int on = task->enabled(cfg, task->ctx);
    if (st->pid) {
        if ((!on || reloaded) && !st->stopping) {
            kill(st->pid, SIGTERM);
            st->stopping = 1;
        }
        return; /* the reap (SIGCHLD wakes the master) decides what comes next */
    }
    if (!on) {
        st->due = 0;
        st->delay = TASK_RESTART_MIN;
        return;
    }
    if (st->due == 0) st->due = t; /* newly enabled: at once */
    if (t >= st->due) {
        start_task(s, i, cfg);
        return;
    }
    double left = st->due - t;
    int ms = (int)(left * 1000) + 1;
    if (*wait_ms < 0 || ms < *wait_ms) *wait_ms = ms;
}

void task_sched_tick(struct task_sched *s, const struct config *cfg, int stopping, int *wait_ms)
{
    reap_tasks(s);
    if (stopping || !cfg) {
        for (size_t i = 0; i < s->n; i++)
            if (s->st[i].pid) {
                kill(s->st[i].pid, SIGTERM);
                if (s->t[i].persistent) s->st[i].stopping = 1; /* its end is no news */
            }
        return;
    }
    double t = mono();
    int reloaded = cfg != s->seen_cfg;
    s->seen_cfg = cfg;
    for (size_t i = 0; i < s->n; i++) {
        if (s->t[i].persistent) {
            service_tick(s, i, cfg, reloaded, t, wait_ms);
            continue;
        }
        const struct pool_task *task = &s->t[i];
        struct task_state *st = &s->st[i];
        long iv = task->interval(cfg, task->ctx);
        if (iv <= 0 || !task->enabled(cfg, task->ctx)) {
            st->due = 0;
            continue;
        }
        /* first run one interval after start or after a reload that changed it */
        if (st->due == 0 || (reloaded && iv != st->interval)) {
            st->due = t + (double)iv;
            st->interval = iv;
        }
        if (t >= st->due) {
            if (!st->pid) start_task(s, i, cfg);
            st->due = t + (double)iv; /* a run still going skips this turn */
        }
        double left = st->due - t;
        int ms = left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1;
        if (*wait_ms < 0 || ms < *wait_ms) *wait_ms = ms;
    }
}
