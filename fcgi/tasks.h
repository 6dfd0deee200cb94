/* tasks.h — the background tasks `wharf serve` hands the pool master.
 *
 * The pool knows how to run a task, not what it does: the caller (admin/,
 * which knows storage) fills a table of struct pool_task and passes it in
 * struct pool_opts; the master schedules each row, runs it in a short-lived
 * forked child (a slow or crashing task never blocks the master or a worker),
 * at most one child per row at a time, reaps and logs it. What a task needs
 * beyond the configuration (opening storage, a lock shared with other nodes)
 * is the task's own business, inside run(). A row marked persistent is a
 * service instead (the notification sender, the health checker, the debug
 * server): one long-lived child the master keeps running. */
#ifndef WHARF_TASKS_H
#define WHARF_TASKS_H

#include <stddef.h>

struct config;

struct pool_task {
    const char *name; /* in log lines ("garbage collection") */
    /* 1 when the task runs at all under cfg; called on every tick, so a
     * reload that turns it off (or on) takes effect at once */
    int (*enabled)(const struct config *cfg, const void *ctx);
    /* seconds between two starts under cfg; <= 0 is off */
    long (*interval)(const struct config *cfg, const void *ctx);
    /* the work, in the forked child, signals at their defaults; returns the
     * child's exit status (0 = done or skipped, else failed: logged) */
    int (*run)(const struct config *cfg, const void *ctx);
    const void *ctx; /* passed to the three functions; owned by the caller */
    /* 1: a service, not a periodic task. It is started as soon as enabled()
     * is true (interval is not used and may be NULL) and kept running: when
     * it exits it is started again TASK_RESTART_MIN seconds later, the delay
     * doubling up to TASK_RESTART_MAX while it keeps dying within
     * TASK_YOUNG seconds of its start. It is sent SIGTERM when enabled()
     * turns false, when the pool stops, and on a reload (it is then started
     * again with the new configuration). run() is its whole life: it returns
     * only when the service ends. */
    int persistent;
};

/* restart delays of a service (seconds) */
#define TASK_RESTART_MIN 1.0
#define TASK_RESTART_MAX 30.0
#define TASK_YOUNG 10.0

struct task_sched;

/* task_sched_new: a scheduler for the n rows of tasks (the table must
 * outlive it). Returns 0, or WERR_NOMEM. */
int task_sched_new(const struct pool_task *tasks, size_t n, struct task_sched **out);

/* task_sched_tick: called from the master's loop on every wakeup with the
 * current configuration (a reload takes effect at once: tasks are
 * rescheduled). Reaps finished task children, starts the tasks that are due,
 * and lowers *wait_ms (-1 = forever) to the next due time. stopping (or a
 * NULL cfg): start nothing, SIGTERM the running children. */
void task_sched_tick(struct task_sched *s, const struct config *cfg, int stopping, int *wait_ms);

/* task_sched_free: forget the schedule (running children are not waited for:
 * stop them first with a stopping tick). NULL is a no-op. */
void task_sched_free(struct task_sched *s);

#endif
