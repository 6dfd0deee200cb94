/* maintenance.c — the master's scheduler of periodic storage tasks.
 *
 * To add a periodic task (e.g. the pull-through cache's ttl expiry), write
 * its three functions and add one row to tasks[]. A task's run() executes in
 * a forked child with its own storage driver and returns a process status;
 * the master only forks, reaps and logs. Tasks need shared storage that the
 * master can open itself: with the inmemory driver (one process) they are off;
 * on every other driver they run, one run of a task at a time across the
 * workers' masters of every node sharing the storage: the child takes the
 * task's driver lock (storage_lock: a flock, a lease on S3) or skips its turn.
 * Garbage collection takes its own lock inside gc_run (shared with the
 * offline `wharf garbage-collect`). */
#include "maintenance.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/arena.h"
#include "../storage/driver.h"
#include "../storage/paths.h"
#include "../storage/open.h"
#include "../storage/gc.h"
#include "../storage/proxy_state.h"

struct maint_task {
    const char *name;
    const char *lock; /* the task's lock under /wharf/locks, or NULL: run() locks */
    int (*enabled)(const struct config *c);
    long (*interval)(const struct config *c); /* seconds between runs (> 0) */
    int (*run)(const struct config *c, struct storage_driver *d);
};

/* a task's lease on object storage outlives a holder that died this long
 * (one on the same host ends with its process) */
#define TASK_LOCK_TTL_S 900

/* ---- upload purging --------------------------------------------------- */

static int purge_enabled(const struct config *c)
{
    return c->uploadpurging_enabled && c->uploadpurging_age > 0;
}
static long purge_interval(const struct config *c)
{
    return c->uploadpurging_interval;
}
static int purge_run(const struct config *c, struct storage_driver *d)
{
    size_t n = 0;
    int rc = gc_purge_uploads(d, c->uploadpurging_age, c->uploadpurging_dryrun, &n);
    if (rc) {
        log_error("upload purging: %s", werr_str(rc));
        return 1;
    }
    log_info("upload purging: %zu upload%s %s", n, n == 1 ? "" : "s",
             c->uploadpurging_dryrun ? "would be removed (dry run)" : "removed");
    return 0;
}

/* ---- online garbage collection ------------------------------------------ */

static int gc_enabled(const struct config *c)
{
    return c->gc_enabled;
}
static long gc_interval(const struct config *c)
{
    return c->gc_interval;
}
static int gc_task_run(const struct config *c, struct storage_driver *d)
{
    struct gc_opts o = {.online = 1,
                        .grace = c->gc_graceperiod,
                        .settle_ms = 2000,
                        .delete_untagged = c->gc_deleteuntagged,
                        .dry_run = c->gc_dryrun};
    struct gc_stats st;
    int rc = gc_run(d, c, &o, &st);
    if (rc == WERR_BUSY) {
        /* another run on this storage (a manual one, or another node's on a
         * shared bucket): this round is skipped, the next one tries again */
        log_info("garbage collection: skipped, another collection is running");
        return 0;
    }
    if (rc) {
        log_error("garbage collection: %s", werr_str(rc));
        return 1;
    }
    log_info("garbage collection%s: %zu manifests, %zu blobs marked; %zu manifests and %zu "
             "blobs %s (%lld bytes); %zu young blobs kept, %zu restored",
             o.dry_run ? " (dry run)" : "", st.manifests, st.marked, st.manifests_deleted,
             st.blobs_deleted, o.dry_run ? "eligible" : "deleted", (long long)st.bytes_freed,
             st.blobs_young, st.restored);
    return 0;
}

/* One row per periodic task. */
static const struct maint_task tasks[] = {
    {"upload purging", "maintenance/upload-purging", purge_enabled, purge_interval, purge_run},
    {"garbage collection", NULL, gc_enabled, gc_interval, gc_task_run},
    {"proxy ttl expiry", "maintenance/proxy-ttl-expiry", proxy_expire_enabled,
     proxy_expire_interval, proxy_expire_run},
};
#define NTASKS (sizeof tasks / sizeof tasks[0])

/* ---- scheduler ------------------------------------------------------------- */

static struct {
    pid_t pid;     /* running child, 0 = none */
    double due;    /* next start (monotonic seconds); 0 = not scheduled */
    long interval; /* the interval `due` was computed with */
} state[NTASKS];
static const struct config *seen_cfg;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reap_tasks(void)
{
    for (size_t i = 0; i < NTASKS; i++) {
        if (!state[i].pid) continue;
        int st;
        pid_t r = waitpid(state[i].pid, &st, WNOHANG);
        if (r == 0) continue;
        if (r < 0 && errno != ECHILD) continue;
        if (r > 0 && WIFSIGNALED(st))
            log_warn("%s: task %d killed by signal %d", tasks[i].name, (int)r, WTERMSIG(st));
        else if (r > 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0)
            log_warn("%s: task %d failed (status %d)", tasks[i].name, (int)r, WEXITSTATUS(st));
        /* r < 0 (ECHILD): the master's own reaper got it first; nothing to report */
        state[i].pid = 0;
    }
}

/* Body of a task child (never returns). */
static void task_child(size_t i, const struct config *cfg, pid_t master)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2};
    for (size_t s = 0; s < sizeof sigs / sizeof sigs[0]; s++)
        signal(sigs[s], sigs[s] == SIGPIPE ? SIG_IGN : SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (getppid() != master) _exit(0);
    struct storage_driver *d = NULL;
    struct bdcache *bc = NULL;
    char err[256];
    /* the configured backend (filesystem or s3), cache kept right (issue 7) */
    int rc = storage_open(cfg, &d, &bc, err, sizeof err);
    if (rc) {
        log_error("%s: cannot open storage: %s", tasks[i].name, err);
        _exit(1);
    }
    struct arena *a = arena_new();
    struct storage_lock *lk = NULL;
    int status = 0;
    if (tasks[i].lock) {
        rc = storage_lock(d, a, path_lock(a, tasks[i].lock), TASK_LOCK_TTL_S, 0, &lk);
        if (rc == WERR_BUSY)
            log_info("%s: skipped, another run is going on this storage", tasks[i].name);
        else if (rc)
            log_error("%s: cannot take its lock: %s", tasks[i].name, werr_str(rc));
        if (rc) status = rc == WERR_BUSY ? 0 : 1;
    }
    if (!rc) status = tasks[i].run(cfg, d);
    storage_unlock(lk);
    arena_free(a);
    storage_driver_free(d);
    bdcache_free(bc);
    _exit(status);
}

static void start_task(size_t i, const struct config *cfg)
{
    sigset_t all, old;
    pid_t master = getpid();
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) task_child(i, cfg, master);
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        log_error("%s: fork: %s", tasks[i].name, strerror(saved));
        return;
    }
    log_debug("%s: task %d started", tasks[i].name, (int)pid);
    state[i].pid = pid;
}

void maintenance_tick(const struct config *cfg, int stopping, int *wait_ms)
{
    reap_tasks();
    if (stopping || !cfg) {
        for (size_t i = 0; i < NTASKS; i++)
            if (state[i].pid) kill(state[i].pid, SIGTERM);
        return;
    }
    double t = mono();
    int reloaded = cfg != seen_cfg;
    seen_cfg = cfg;
    for (size_t i = 0; i < NTASKS; i++) {
        long iv = tasks[i].interval(cfg);
        /* read-only mode is for an offline GC run: no task writes meanwhile */
        if (cfg->storage == STORAGE_INMEMORY || cfg->readonly || !tasks[i].enabled(cfg) ||
            iv <= 0) {
            state[i].due = 0;
            continue;
        }
        /* first run one interval after start or after a reload that changed it */
        if (state[i].due == 0 || (reloaded && iv != state[i].interval)) {
            state[i].due = t + (double)iv;
            state[i].interval = iv;
        }
        if (t >= state[i].due) {
            if (!state[i].pid) start_task(i, cfg);
            state[i].due = t + (double)iv; /* a run still going skips this turn */
        }
        double left = state[i].due - t;
        int ms = left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1;
        if (*wait_ms < 0 || ms < *wait_ms) *wait_ms = ms;
    }
}
