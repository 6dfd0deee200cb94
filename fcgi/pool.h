/* pool.h — `wharf serve`: the FastCGI process pool.
 *
 * A master opens fastcgi.listen (or takes a listening socket already on fd 0,
 * as spawn-fcgi and mod_fcgid hand it), forks the workers that each accept
 * and serve one request at a time, respawns children that die (crash loops
 * are rate-limited), recycles a child after fastcgi.maxrequests.
 * fastcgi.workers: N is a static pool of N; a map {min, max, minspare,
 * maxspare, idletimeout} (the default) is a dynamic pool, like php-fpm's
 * `pm = dynamic`: every worker reports its state in a shared scoreboard
 * (scoreboard.h), and on each tick (POOL_TICK_MS) the master forks more
 * workers when fewer than minspare are idle (1, 2, 4, ... per tick, never
 * above max) and retires idle workers above maxspare once they have been
 * idle for idletimeout (never below min). pool_scale_decide is that rule.
 * Signals to the master: SIGTERM/SIGINT drain (requests in flight finish, at
 * most fastcgi.draintimeout seconds) and exit 0; SIGHUP re-reads the config,
 * keeps the old one when the new is invalid, else starts new workers and
 * retires the old ones gracefully (a changed listen address is reopened).
 * Workers build their struct app after fork, never in the master. */
#ifndef WHARF_POOL_H
#define WHARF_POOL_H

#include <stddef.h>

struct scoreboard;
struct pool_task;

struct pool_opts {
    const char *config_path; /* NULL: defaults + REGISTRY_* from envp only */
    char *const *envp;       /* environment for REGISTRY_* overrides (e.g. environ) */
    int inherit_fd;          /* -1: open fastcgi.listen; >= 0: serve this listening socket */
    int single;              /* 1: no master, one accept loop in this process (spawn-fcgi
                                -F N, mod_fcgid); SIGHUP then reloads in-process */
    /* background tasks the master schedules (tasks.h); none in single mode,
     * which has no master. The table outlives pool_serve. */
    const struct pool_task *tasks;
    size_t ntasks;
};

/* pool_serve: run the pool (or the single loop) until SIGTERM/SIGINT/SIGUSR1.
 * Start-up errors (bad config, socket in use, pidfile) are logged to stderr.
 * Returns the process exit status: 0 after a clean drain, 1 on start-up error. */
int pool_serve(const struct pool_opts *o);

/* pool_fd_is_listener: 1 when fd is a listening socket (spawn-fcgi hands one
 * on fd 0), else 0. */
int pool_fd_is_listener(int fd);

/* pool_listen_open: open a FastCGI listening socket on listen ("unix:/path",
 * "/path", "host:port" or ":port") with backlog; a unix socket gets mode
 * (e.g. 0666) and a stale socket file is removed first (a live one is an
 * error). *fd receives the socket. Returns 0, or WERR_INVALID (bad address),
 * WERR_EXISTS (in use / a non-socket file is there), WERR_IO; err is filled. */
int pool_listen_open(const char *listen, int backlog, int mode, int *fd, char *err, size_t errlen);

/* pool_listen_unix_path: the filesystem path of a unix listen address (a
 * pointer into listen), or NULL for TCP. */
const char *pool_listen_unix_path(const char *listen);

/* pool_scoreboard: in the master, a pool worker or a task/service child, the
 * pool's scoreboard (read-only use outside the master: scoreboard_count,
 * scoreboard_pool_read — e.g. for a metrics endpoint); NULL in
 * single-process mode, CGI and tests. */
const struct scoreboard *pool_scoreboard(void);

/* ---- sizing (dynamic pool) ------------------------------------------------ */

/* How often the master reads the scoreboard. */
#define POOL_TICK_MS 100
/* The most workers forked in one tick (php-fpm's 32 per second, per tick here). */
#define POOL_SPAWN_RATE_MAX 32

struct pool_limits {
    unsigned min, max;           /* min == max: a static pool */
    unsigned minspare, maxspare; /* idle workers kept ready (dynamic only) */
};

/* What the master sees of the current generation (workers being retired are
 * not counted). */
struct pool_census {
    unsigned total;    /* starting + idle + busy */
    unsigned starting; /* forked, not yet accepting */
    unsigned idle, busy;
    unsigned idle_expired; /* idle workers idle for longer than the idle timeout */
    unsigned queued;       /* connections waiting in the listen queue (0 = none seen) */
};

struct pool_decision {
    unsigned spawn;     /* workers to fork now */
    unsigned retire;    /* idle workers to stop now (the longest idle first) */
    unsigned next_rate; /* spawn rate for the next tick */
};

/* pool_scale_decide: the pool's sizing rule, a pure function. rate is the
 * previous next_rate (1 at start). Below min: spawn the difference at once.
 * Fewer idle-or-starting workers than minspare, or than connections queued:
 * spawn the shortfall, at most rate, then double the rate (to
 * POOL_SPAWN_RATE_MAX) while short; never past max. More than maxspare idle:
 * retire those idle past the timeout, never below min. */
void pool_scale_decide(const struct pool_limits *l, const struct pool_census *c, unsigned rate,
                       struct pool_decision *d);

#endif
