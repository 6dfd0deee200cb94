/* pool.c — the prefork FastCGI pool: master (socket, spawn, reap, reload,
 * drain) and the worker accept loop.
 *
 * Signals: the master's handlers only set flags and write a byte into a
 * self-pipe its poll() waits on. A worker's SIGTERM handler sets a flag and
 * closes the worker's copy of the listening socket, so a worker blocked in
 * accept (or about to enter it) fails at once with EBADF, while a request in
 * flight (its own connection fd) completes: the handler is SA_RESTART because
 * libfcgi does not retry a read() that fails with EINTR and would drop the
 * body. Requests use FCGI_FAIL_ACCEPT_ON_INTR so a SIGHUP (single mode) still
 * interrupts accept. Signals are blocked across fork() so a child
 * never runs the master's handlers. */
#include "pool.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../handlers/app.h"
#include "../handlers/auth.h"
#include "../lib/arena.h"
#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "scoreboard.h"
#include "tasks.h"
#include "transport.h"

/* Abnormal worker exits tolerated per second before respawns pause. */
#define CRASH_LIMIT 5
/* Exit status of a worker that could not start (app_new failed). */
#define WORKER_START_FAILED 3
/* Scoreboard slots: the largest pool (fastcgi.workers.max <= 256) twice over,
 * for the old generation still draining while a reload starts the new one. */
#define SCOREBOARD_SLOTS 600
/* Seconds between two "pool grew/shrank" lines, and between two warnings
 * that the pool is at its max with connections waiting. */
#define SCALE_LOG_INTERVAL 1.0
#define QUEUE_WARN_INTERVAL 10.0

/* ---- libfcgi's poll --------------------------------------------------- */

/* libfcgi (OS_Accept, os_unix.c) waits up to 2 s for the first bytes of a
 * connection it accepted on a Unix socket (Debian's build with poll()) and
 * closes the connection when that wait fails, as it does with EINTR when a
 * signal arrives: the SIGTERM that retires a worker at a reload or a drain
 * then dropped a request the web server had already sent (nginx: 502). This
 * poll(), to which the dynamic linker binds every call of the process
 * instead of libc's, waits out a signal for the rest of the time when the
 * caller is libfcgi, and is plain ppoll() for everyone else. (t_pool.sh: "a
 * reload does not drop connections accepted but not yet read".) */
static uintptr_t fcgi_lo, fcgi_hi; /* libfcgi's code */
static pthread_once_t fcgi_once = PTHREAD_ONCE_INIT;

static int fcgi_phdr(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "libfcgi.so")) return 0;
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        fcgi_lo = info->dlpi_addr + ph->p_vaddr;
        fcgi_hi = fcgi_lo + ph->p_memsz;
        return 1;
    }
    return 0;
}

static void fcgi_range(void)
{
    dl_iterate_phdr(fcgi_phdr, NULL);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    uintptr_t caller = (uintptr_t)__builtin_return_address(0);
    pthread_once(&fcgi_once, fcgi_range);
    int patient = caller >= fcgi_lo && caller < fcgi_hi;
    struct timespec end = {0, 0};
    if (timeout > 0) {
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += timeout / 1000 + (end.tv_nsec + (timeout % 1000) * 1000000L) / 1000000000L;
        end.tv_nsec = (end.tv_nsec + (timeout % 1000) * 1000000L) % 1000000000L;
    }
    for (;;) {
        struct timespec left = {0, 0};
        if (timeout > 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long long ns =
                (long long)(end.tv_sec - now.tv_sec) * 1000000000LL + (end.tv_nsec - now.tv_nsec);
            if (ns < 0) ns = 0;
            left.tv_sec = (time_t)(ns / 1000000000LL);
            left.tv_nsec = (long)(ns % 1000000000LL);
        }
        int r = ppoll(fds, n, timeout < 0 ? NULL : &left, NULL);
        if (r >= 0 || errno != EINTR || !patient) return r;
    }
}

/* ---- signal state ---------------------------------------------------- */

static volatile sig_atomic_t m_term, m_hup;
static int self_pipe[2] = {-1, -1};

static volatile sig_atomic_t w_stop, w_reload;
static volatile sig_atomic_t w_listen_fd = -1;
/* A pool worker's scoreboard and slot (NULL/-1 in single mode). */
static struct scoreboard *w_sb;
static int w_slot = -1;

const struct scoreboard *pool_scoreboard(void)
{
    return w_sb;
}

static void master_on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGTERM || sig == SIGINT)
        m_term = 1;
    else if (sig == SIGHUP)
        m_hup = 1;
    if (self_pipe[1] >= 0) {
        ssize_t w = write(self_pipe[1], "x", 1);
        (void)w; /* full pipe: a wake-up is already pending */
    }
    errno = saved;
}

static void worker_on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGHUP) {
        w_reload = 1;
    } else {
        w_stop = 1;
        int fd = w_listen_fd;
        if (fd >= 0) {
            w_listen_fd = -1;
            close(fd); /* our copy only: the master and siblings keep theirs */
        }
    }
    errno = saved;
}

static void set_handler(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigfillset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* In a worker: stop on TERM/INT/USR1 (SA_RESTART: a body read in flight is
 * never cut short by EINTR, libfcgi does not retry it; a restarted accept on
 * the closed listening fd fails with EBADF). HUP reloads, single mode only:
 * it must interrupt accept, so it has no SA_RESTART and is blocked while a
 * request is served. */
static void worker_signals(int single)
{
    set_handler(SIGTERM, worker_on_signal, SA_RESTART);
    set_handler(SIGINT, worker_on_signal, SA_RESTART);
    set_handler(SIGUSR1, worker_on_signal, SA_RESTART);
    set_handler(SIGHUP, single ? worker_on_signal : SIG_IGN, 0);
    set_handler(SIGPIPE, SIG_IGN, 0);
    set_handler(SIGCHLD, SIG_DFL, 0);
}

static void block_hup(int block)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGHUP);
    sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &s, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- listening socket ------------------------------------------------ */

const char *pool_listen_unix_path(const char *listen)
{
    if (!listen) return NULL;
    if (strncmp(listen, "unix:", 5) == 0) return listen + 5;
    if (listen[0] == '/') return listen;
    return NULL;
}

int pool_fd_is_listener(int fd)
{
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) != 0) return 0;
    return v != 0;
}

/* A socket file nobody answers on is stale; one that answers is in use. */
static int unix_path_prepare(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : WERR_IO;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket", path);
        return WERR_EXISTS;
    }
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return WERR_IO;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int live = connect(s, (struct sockaddr *)&sun, sizeof sun) == 0;
    close(s);
    if (live) {
        snprintf(err, errlen, "%s is in use by a running server", path);
        return WERR_EXISTS;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
        return WERR_IO;
    }
    return 0;
}

int pool_listen_open(const char *listen, int backlog, int mode, int *fd, char *err, size_t errlen)
{
    const char *path = pool_listen_unix_path(listen);
    *fd = -1;
    if (!listen || !*listen) {
        snprintf(err, errlen, "fastcgi.listen: empty address");
        return WERR_INVALID;
    }
    if (path) {
        /* libfcgi takes any address with ':' for host:port. */
        if (!*path || strchr(path, ':') ||
            strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(err, errlen, "fastcgi.listen: unusable unix socket path %s", path);
            return WERR_INVALID;
        }
        int rc = unix_path_prepare(path, err, errlen);
        if (rc != 0) {
            if (!*err) snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return rc;
        }
    } else if (!strchr(listen, ':')) {
        snprintf(err, errlen, "fastcgi.listen: %s is neither unix:/path, /path nor host:port",
                 listen);
        return WERR_INVALID;
    }
    int s = FCGX_OpenSocket(path ? path : listen, backlog > 0 ? backlog : 1024);
    if (s < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen,
                 errno ? strerror(errno) : "failed");
        return WERR_IO;
    }
    if (path && chmod(path, (mode_t)mode) != 0) {
        snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
        close(s);
        unlink(path);
        return WERR_IO;
    }
    *fd = s;
    return 0;
}

/* ---- worker ---------------------------------------------------------- */

/* The storage's first session (a token, a container check: some 10-15 ms
 * on Swift) made on a thread of its own as a pool worker starts, not on its
 * first request. Signals stay the main thread's. A pool worker's app lives
 * until the worker exits (a reload replaces workers, not their app). */
static int warm_done;

static void *warm_main(void *p)
{
    app_warm(p);
    __atomic_store_n(&warm_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int warm_start(struct app *app)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t t;
    int ok = pthread_create(&t, NULL, warm_main, app) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ok) pthread_detach(t);
    return ok;
}

/* single mode: re-read the config and rebuild the app; keep the old on error. */
static void single_reload(const struct pool_opts *o, struct config **cfg, struct app **app)
{
    struct config *ncfg = NULL;
    struct app *napp = NULL;
    char err[1024];
    if (config_load(o->config_path, o->envp, &ncfg, err, sizeof err) != 0) {
        log_error("reload: %s; keeping the running configuration", err);
        return;
    }
    if (app_new(ncfg, &napp, err, sizeof err) != 0) {
        log_error("reload: %s; keeping the running configuration", err);
        config_free(ncfg);
        return;
    }
    app_free(*app);
    config_free(*cfg);
    *cfg = ncfg;
    *app = napp;
    log_configure(ncfg, 0);
    log_info("reload: configuration reloaded");
}

/* The accept loop. Returns the exit status: 0 when stopped or recycled. */
static int worker_loop(const struct pool_opts *o, struct config **cfg, struct app **app, int fd,
                       int single)
{
    FCGX_Request fr;
    long served = 0;
    int status = 0;
    if (FCGX_InitRequest(&fr, fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
        log_error("worker: cannot initialise a FastCGI request");
        return 1;
    }
    struct arena *a = arena_new();
    while (!w_stop) {
        if (w_reload) {
            w_reload = 0;
            if (single) single_reload(o, cfg, app);
            continue;
        }
        /* spawn-fcgi/mod_fcgid do not respawn a recycled single process. */
        long max = single ? 0 : (*cfg)->max_requests;
        if (max > 0 && served >= max) {
            log_info("worker: served %ld requests, recycling", served);
            break;
        }
        scoreboard_set_state(w_sb, w_slot, SB_IDLE);
        int rc = FCGX_Accept_r(&fr);
        if (rc < 0) {
            if (w_stop) break;
            if (rc == -EINTR) continue;
            if (rc == -EBADF || rc == -ENOTSOCK || rc == -EINVAL) {
                log_error("worker: accept: %s", strerror(-rc));
                status = 1;
                break;
            }
            /* EMFILE, ENOBUFS...: transient; do not spin. */
            log_error("worker: accept: %s", rc > -4096 ? strerror(-rc) : "libfcgi error");
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        scoreboard_set_state(w_sb, w_slot, SB_BUSY);
        if (single) block_hup(1);
        struct http_io io;
        transport_fcgi_io(&io, &fr);
        if (transport_handle(*app, a, &io) != 0)
            log_debug("worker: response not fully written (client gone)");
        /* Unread body records are discarded by libfcgi when it closes the
         * connection; the next request is a new connection. */
        FCGX_Finish_r(&fr);
        arena_reset(a);
        served++;
        scoreboard_set_state(w_sb, w_slot, SB_IDLE);
        if (single) block_hup(0);
    }
    FCGX_Finish_r(&fr);
    arena_free(a);
    log_info("worker: exiting after %ld requests", served);
    return status;
}

/* Body of a forked pool worker (never returns). */
static void worker_child(const struct pool_opts *o, struct config *cfg, int fd, unsigned gen,
                         pid_t master, struct scoreboard *sb, int slot)
{
    w_sb = sb;
    w_slot = slot;
    if (self_pipe[0] >= 0) close(self_pipe[0]);
    if (self_pipe[1] >= 0) close(self_pipe[1]);
    self_pipe[0] = self_pipe[1] = -1;
    m_term = m_hup = 0;
    w_stop = w_reload = 0;
    w_listen_fd = fd;
    worker_signals(0);
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* a master killed by -9 takes us along */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (getppid() != master) _exit(0); /* the master died before prctl */

    log_info("worker started (generation %u)", gen);
    /* Buffers of a request (upload chunks, O_DIRECT staging, streamed
     * bodies) go back to the system when freed: fixed thresholds stop glibc
     * from raising them after the first large free and keeping every idle
     * worker's heap at its high-water mark. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    struct app *app = NULL;
    char err[1024];
    if (app_new(cfg, &app, err, sizeof err) != 0) {
        log_error("worker: cannot start: %s", err);
        _exit(WORKER_START_FAILED);
    }
    int warming = warm_start(app);
    int status = worker_loop(o, &cfg, &app, fd, 0);
    /* a warm-up still running (a store that does not answer) uses the app:
     * the exit frees it */
    if (!warming || __atomic_load_n(&warm_done, __ATOMIC_ACQUIRE)) app_free(app);
    _exit(status);
}

/* ---- master ---------------------------------------------------------- */

struct worker {
    pid_t pid;
    unsigned gen;
    int slot;        /* its scoreboard slot, or -1 */
    double deadline; /* SIGKILL after this (retired workers); 0 = none */
    int killed;
    int shrunk; /* retired because the pool had too many idle workers */
};

struct pool {
    const struct pool_opts *o;
    struct config *cfg;
    int fd;
    char *unix_path; /* socket we created and remove at exit; NULL if none */
    unsigned gen;
    struct worker *w;
    size_t nw, capw;
    int stopping;
    double crash_window;
    int crashes;
    int throttled_logged;
    struct scoreboard *sb;
    struct task_sched *tasks; /* the background tasks pool_opts handed in */
    unsigned spawn_rate;      /* pool_scale_decide's rate */
    int diag_fd;              /* NETLINK_SOCK_DIAG for a unix listen queue; -1: none */
    int diag_failed;          /* the kernel has no unix_diag: fall back to poll() */
    int grown, shrunk;        /* workers added/retired since the last log line */
    double scale_logged;      /* when that line was last written */
    double queue_warned;      /* when the "at max with a queue" warning was last written */
};

/* ---- sizing -------------------------------------------------------------- */

void pool_scale_decide(const struct pool_limits *l, const struct pool_census *c, unsigned rate,
                       struct pool_decision *d)
{
    unsigned max = l->max >= l->min ? l->max : l->min;
    unsigned room = max > c->total ? max - c->total : 0;
    unsigned ready = c->idle + c->starting;
    unsigned shortfall = l->minspare > ready ? l->minspare - ready : 0;
    if (c->queued > ready && c->queued - ready > shortfall) shortfall = c->queued - ready;
    if (rate < 1) rate = 1;
    d->spawn = d->retire = 0;
    d->next_rate = 1;
    if (c->total < l->min) d->spawn = l->min - c->total; /* the floor, as a static pool */
    if (max > l->min && shortfall > 0) {
        unsigned n = shortfall < rate ? shortfall : rate;
        if (n > d->spawn) d->spawn = n;
        /* still short after this tick's spawns: faster next time */
        if (shortfall > n && room > n)
            d->next_rate = rate * 2 > POOL_SPAWN_RATE_MAX ? POOL_SPAWN_RATE_MAX : rate * 2;
        else
            d->next_rate = rate;
    }
    if (d->spawn > room) d->spawn = room;
    if (d->spawn > 0) return;
    if (c->idle > l->maxspare && c->total > l->min) {
        unsigned n = c->idle - l->maxspare;
        if (n > c->total - l->min) n = c->total - l->min;
        if (n > c->idle_expired) n = c->idle_expired;
        d->retire = n;
    }
}

static struct pool_limits limits_of(const struct config *c)
{
    struct pool_limits l;
    l.min = c->workers > 0 ? (unsigned)c->workers : 1;
    l.max = c->workers_max > c->workers ? (unsigned)c->workers_max : l.min;
    l.minspare = c->workers_minspare > 0 ? (unsigned)c->workers_minspare : 0;
    l.maxspare = c->workers_maxspare > 0 ? (unsigned)c->workers_maxspare : 0;
    return l;
}

/* Connections waiting in the listen queue, as far as the kernel says: TCP's
 * TCP_INFO has it (tcpi_unacked of a listener is its accept queue); a unix
 * socket's is in sock_diag (UNIX_DIAG_RQLEN), else poll() tells at least
 * whether it is empty (then 1 stands for "some"). */
static unsigned unix_queue_diag(struct pool *p, ino_t ino, int *ok)
{
    *ok = 0;
    if (p->diag_fd < 0 && !p->diag_failed) {
        p->diag_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (p->diag_fd < 0) p->diag_failed = 1;
    }
    if (p->diag_fd < 0) return 0;
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } q;
    memset(&q, 0, sizeof q);
    q.nlh.nlmsg_len = sizeof q;
    q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    q.nlh.nlmsg_flags = NLM_F_REQUEST;
    q.req.sdiag_family = AF_UNIX;
    q.req.udiag_states = 1u << 10; /* TCP_LISTEN */
    q.req.udiag_ino = (unsigned)ino;
    q.req.udiag_show = UDIAG_SHOW_RQLEN;
    q.req.udiag_cookie[0] = q.req.udiag_cookie[1] = ~0u; /* INET_DIAG_NOCOOKIE */
    struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
    if (sendto(p->diag_fd, &q, sizeof q, 0, (struct sockaddr *)&nl, sizeof nl) < 0) goto broken;
    union {
        struct nlmsghdr h;
        char b[1024];
    } r;
    struct pollfd pfd = {.fd = p->diag_fd, .events = POLLIN};
    if (poll(&pfd, 1, 50) != 1) goto broken;
    ssize_t n = recv(p->diag_fd, &r, sizeof r, MSG_DONTWAIT);
    if (n < (ssize_t)sizeof(struct nlmsghdr) || !NLMSG_OK(&r.h, (size_t)n)) goto broken;
    if (r.h.nlmsg_type != SOCK_DIAG_BY_FAMILY) goto broken; /* NLMSG_ERROR: no unix_diag */
    struct unix_diag_msg *m = NLMSG_DATA(&r.h);
    size_t alen = r.h.nlmsg_len - NLMSG_LENGTH(sizeof *m);
    struct rtattr *a = (struct rtattr *)(m + 1);
    for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type == UNIX_DIAG_RQLEN && RTA_PAYLOAD(a) >= sizeof(struct unix_diag_rqlen)) {
            struct unix_diag_rqlen *rq = RTA_DATA(a);
            *ok = 1;
            return rq->udiag_rqueue;
        }
    }
broken:
    /* once wrong, always wrong on this kernel: do not ask every tick */
    close(p->diag_fd);
    p->diag_fd = -1;
    p->diag_failed = 1;
    log_info("pool: no sock_diag for unix sockets: the listen queue is only seen as empty or not");
    return 0;
}

static unsigned listen_queue(struct pool *p)
{
    if (p->fd < 0) return 0;
    struct stat st;
    int ok = 0;
    if (!p->diag_failed && fstat(p->fd, &st) == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(p->fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_UNIX) {
            unsigned n = unix_queue_diag(p, st.st_ino, &ok);
            if (ok) return n;
        } else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            struct tcp_info ti;
            socklen_t tl = sizeof ti;
            if (getsockopt(p->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0) return ti.tcpi_unacked;
        }
    }
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) ? 1 : 0;
}

/* census: the current generation's workers that are not being retired; the
 * idle ones past the idle timeout counted too. */
static void census(struct pool *p, struct pool_census *c)
{
    int64_t now = scoreboard_now_ms();
    long timeout_ms = p->cfg->workers_idletimeout * 1000;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < p->nw; i++) {
        struct worker *w = &p->w[i];
        if (w->gen != p->gen || w->deadline != 0 || w->shrunk) continue;
        struct sb_slot_view v;
        scoreboard_slot_read(p->sb, (size_t)w->slot, &v);
        c->total++;
        if (v.state == SB_IDLE) {
            c->idle++;
            if (now - v.since_ms >= timeout_ms) c->idle_expired++;
        } else if (v.state == SB_BUSY) {
            c->busy++;
        } else {
            c->starting++; /* STARTING, or a slot not yet written */
        }
    }
    c->queued = listen_queue(p);
}

static int spawn_one(struct pool *p)
{
    if (p->nw == p->capw) {
        size_t cap = p->capw ? p->capw * 2 : 16;
        struct worker *nw = realloc(p->w, cap * sizeof *nw);
        if (!nw) return WERR_NOMEM;
        p->w = nw;
        p->capw = cap;
    }
    int slot = scoreboard_claim(p->sb, p->gen);
    if (slot < 0) {
        log_error("pool: no free scoreboard slot (%d workers still draining?)", (int)p->nw);
        return WERR_BUSY;
    }
    sigset_t all, old;
    pid_t master = getpid();
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        if (p->diag_fd >= 0) close(p->diag_fd); /* the master's alone */
        worker_child(p->o, p->cfg, p->fd, p->gen, master, p->sb, slot);
    }
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        scoreboard_release(p->sb, slot);
        log_error("fork: %s", strerror(saved));
        return WERR_IO;
    }
    scoreboard_set_pid(p->sb, slot, pid);
    p->w[p->nw++] = (struct worker){.pid = pid, .gen = p->gen, .slot = slot};
    return 0;
}

/* retire_idle: SIGTERM the n current workers idle the longest. A worker that
 * took a request since it was counted finishes it (SIGTERM is graceful), with
 * no deadline: it was not asked to go by anyone waiting, unlike a drain. */
static void retire_idle(struct pool *p, unsigned n)
{
    for (; n > 0; n--) {
        struct worker *best = NULL;
        int64_t best_since = 0;
        for (size_t i = 0; i < p->nw; i++) {
            struct worker *w = &p->w[i];
            if (w->gen != p->gen || w->deadline != 0 || w->shrunk) continue;
            struct sb_slot_view v;
            scoreboard_slot_read(p->sb, (size_t)w->slot, &v);
            if (v.state != SB_IDLE) continue;
            if (!best || v.since_ms < best_since) {
                best = w;
                best_since = v.since_ms;
            }
        }
        if (!best) return;
        kill(best->pid, SIGTERM);
        best->shrunk = 1;
        p->shrunk++;
    }
}

/* scale: size the current generation from the scoreboard (and start the
 * missing workers of a static pool); *wait_ms shrinks to the next tick, or
 * to the end of a crash-loop pause. */
static void scale(struct pool *p, int *wait_ms)
{
    double t = now_s();
    if (t - p->crash_window >= 1.0) {
        p->crash_window = t;
        p->crashes = 0;
        p->throttled_logged = 0;
    }
    struct pool_limits l = limits_of(p->cfg);
    struct pool_census c;
    census(p, &c);
    struct pool_decision d;
    pool_scale_decide(&l, &c, p->spawn_rate ? p->spawn_rate : 1, &d);
    p->spawn_rate = d.next_rate;
    struct sb_pool_view pv = {
        .min = l.min, .max = l.max, .queued = c.queued, .updated_ms = scoreboard_now_ms()};
    scoreboard_publish(p->sb, &pv);
    if (*wait_ms < 0 || *wait_ms > POOL_TICK_MS) *wait_ms = POOL_TICK_MS;

    if (d.spawn > 0 && p->crashes >= CRASH_LIMIT) {
        if (!p->throttled_logged)
            log_error("workers are crashing (%d in 1s): pausing respawn", p->crashes);
        p->throttled_logged = 1;
        int ms = (int)((p->crash_window + 1.0 - t) * 1000) + 1;
        if (ms < *wait_ms) *wait_ms = ms;
        d.spawn = 0;
    }
    unsigned spawned = 0;
    for (; spawned < d.spawn; spawned++) {
        if (spawn_one(p) != 0) {
            p->crashes = CRASH_LIMIT; /* fork failed: retry after the pause */
            break;
        }
    }
    /* growth is what goes past min (not a generation's first workers, not
     * the replacement of one that died) */
    if (c.total + spawned > l.min) {
        unsigned base = c.total > l.min ? c.total : l.min;
        p->grown += (int)(c.total + spawned - base);
    }
    if (d.retire > 0) retire_idle(p, d.retire);

    if ((p->grown || p->shrunk) && t - p->scale_logged >= SCALE_LOG_INTERVAL) {
        unsigned now_total = c.total + spawned - d.retire; /* retire <= idle <= total */
        log_info("pool: %s to %u workers (%+d; busy %u, idle %u, starting %u, queued %u; "
                 "min %u, max %u)",
                 p->grown >= p->shrunk ? "grew" : "shrank", now_total, p->grown - p->shrunk, c.busy,
                 c.idle, c.starting, c.queued, l.min, l.max);
        p->grown = p->shrunk = 0;
        p->scale_logged = t;
    }
    if (c.queued > 0 && c.total >= l.max && c.idle == 0 &&
        t - p->queue_warned >= QUEUE_WARN_INTERVAL) {
        log_warn("pool: all %u workers busy (fastcgi.workers max %u) and %u connection%s "
                 "queued: requests wait for a worker",
                 c.busy, l.max, c.queued, c.queued == 1 ? "" : "s");
        p->queue_warned = t;
    }
}

static void reap(struct pool *p)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        size_t i;
        for (i = 0; i < p->nw; i++)
            if (p->w[i].pid == pid) break;
        if (i == p->nw) continue;
        struct worker w = p->w[i];
        p->w[i] = p->w[--p->nw];
        scoreboard_release(p->sb, w.slot);
        int abnormal = 1;
        if (WIFSIGNALED(st)) {
            int sig = WTERMSIG(st);
            if (w.killed)
                log_warn("worker %d killed after the drain timeout", (int)pid);
            else
                log_error("worker %d killed by signal %d (%s)", (int)pid, sig, strsignal(sig));
        } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
            log_error("worker %d exited with status %d%s", (int)pid, WEXITSTATUS(st),
                      WEXITSTATUS(st) == WORKER_START_FAILED ? " (could not start)" : "");
        } else {
            abnormal = 0;
            if (w.shrunk)
                log_debug("worker %d exited (idle, pool shrinking)", (int)pid);
            else
                log_info("worker %d exited", (int)pid);
        }
        if (abnormal && w.gen == p->gen && !p->stopping) p->crashes++;
    }
}

/* retire: SIGTERM the old generation (all: every worker) and give each until
 * deadline to finish its request in flight. */
static void retire(struct pool *p, int all, double deadline)
{
    for (size_t i = 0; i < p->nw; i++) {
        struct worker *w = &p->w[i];
        if (!all && w->gen == p->gen) continue;
        if (w->deadline == 0) kill(w->pid, SIGTERM);
        if (w->deadline == 0 || deadline < w->deadline) w->deadline = deadline;
    }
}

static void enforce_deadlines(struct pool *p, int *wait_ms)
{
    double t = now_s();
    for (size_t i = 0; i < p->nw; i++) {
        struct worker *w = &p->w[i];
        if (w->deadline <= 0 || w->killed) continue;
        if (t >= w->deadline) {
            log_warn("worker %d still busy after the drain timeout: SIGKILL", (int)w->pid);
            kill(w->pid, SIGKILL);
            w->killed = 1;
        } else {
            int ms = (int)((w->deadline - t) * 1000) + 1;
            if (*wait_ms < 0 || ms < *wait_ms) *wait_ms = ms;
        }
    }
}

static void close_listener(struct pool *p)
{
    if (p->fd >= 0 && p->o->inherit_fd < 0) close(p->fd);
    p->fd = -1;
    if (p->unix_path) {
        unlink(p->unix_path);
        free(p->unix_path);
        p->unix_path = NULL;
    }
}

static void begin_stop(struct pool *p)
{
    p->stopping = 1;
    double drain = p->cfg->draintimeout > 0 ? (double)p->cfg->draintimeout : 0;
    log_info("shutting down: draining %zu workers (up to %.0fs)", p->nw, drain);
    /* Refuse new connections now; workers keep their own copies. */
    close_listener(p);
    retire(p, 1, now_s() + drain);
}

/* "8 workers" or "dynamic pool of 4..64 workers (spare 2..8, idle 10s)" */
static const char *workers_desc(const struct config *c)
{
    static char buf[128];
    if (c->workers_max <= c->workers)
        snprintf(buf, sizeof buf, "%d workers", c->workers);
    else
        snprintf(buf, sizeof buf,
                 "dynamic pool of %d..%d workers (spare %d..%d, idle timeout %lds)", c->workers,
                 c->workers_max, c->workers_minspare, c->workers_maxspare, c->workers_idletimeout);
    return buf;
}

static int same_listen(const char *a, const char *b)
{
    const char *pa = pool_listen_unix_path(a), *pb = pool_listen_unix_path(b);
    if (pa && pb) return strcmp(pa, pb) == 0;
    return strcmp(a, b) == 0;
}

static void reload(struct pool *p)
{
    struct config *ncfg = NULL;
    char err[1024];
    err[0] = 0;
    if (config_load(p->o->config_path, p->o->envp, &ncfg, err, sizeof err) != 0) {
        log_error("reload: %s; keeping the running configuration", err);
        return;
    }
    if (auth_probe(ncfg, err, sizeof err) != 0) { /* htpasswd, keys: before any worker */
        log_error("reload: %s; keeping the running configuration", err);
        config_free(ncfg);
        return;
    }
    int nfd = p->fd;
    char *npath = NULL;
    int reopen = p->o->inherit_fd < 0 && !same_listen(ncfg->listen, p->cfg->listen);
    if (reopen) {
        err[0] = 0;
        if (pool_listen_open(ncfg->listen, ncfg->backlog, ncfg->socket_mode, &nfd, err,
                             sizeof err) != 0) {
            log_error("reload: %s; keeping the running configuration", err);
            config_free(ncfg);
            return;
        }
        const char *up = pool_listen_unix_path(ncfg->listen);
        if (up) npath = strdup(up);
    } else if (p->unix_path && ncfg->socket_mode != p->cfg->socket_mode) {
        if (chmod(p->unix_path, (mode_t)ncfg->socket_mode) != 0)
            log_warn("reload: chmod %s: %s", p->unix_path, strerror(errno));
    }
    if (log_configure(ncfg, 0) != 0) log_warn("reload: cannot open log file %s", ncfg->log_file);
    if (reopen) {
        close_listener(p);
        p->fd = nfd;
        p->unix_path = npath;
        log_info("reload: now listening on %s", ncfg->listen);
    }
    config_free(p->cfg);
    p->cfg = ncfg;
    p->gen++;
    p->crashes = 0;
    p->spawn_rate = 1;
    int wait_ms = -1;
    scale(p, &wait_ms); /* new generation first, then retire the old */
    retire(p, 0, now_s() + (double)(ncfg->draintimeout > 0 ? ncfg->draintimeout : 0));
    log_info("reload: configuration reloaded, %s (generation %u)", workers_desc(ncfg), p->gen);
}

static int write_pidfile(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return WERR_INVALID;
    FILE *f = fopen(tmp, "w");
    if (!f) return WERR_IO;
    fprintf(f, "%d\n", (int)getpid());
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return WERR_IO;
    }
    return 0;
}

static int master_run(const struct pool_opts *o, struct config *cfg)
{
    struct pool p;
    memset(&p, 0, sizeof p);
    p.o = o;
    p.cfg = cfg;
    p.fd = -1;
    p.diag_fd = -1;
    p.spawn_rate = 1;
    int status = 1;
    char err[1024];
    int pidfile_written = 0;

    if (scoreboard_new(SCOREBOARD_SLOTS, &p.sb) != 0) {
        log_error("cannot map the scoreboard: %s", strerror(errno));
        goto out;
    }
    w_sb = p.sb; /* pool_scoreboard() in the master and its task/service children */
    if (task_sched_new(o->tasks, o->ntasks, &p.tasks) != 0) {
        log_error("cannot schedule the background tasks: out of memory");
        goto out;
    }
    if (pipe2(self_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_error("pipe: %s", strerror(errno));
        goto out;
    }
    set_handler(SIGTERM, master_on_signal, SA_RESTART);
    set_handler(SIGINT, master_on_signal, SA_RESTART);
    set_handler(SIGHUP, master_on_signal, SA_RESTART);
    set_handler(SIGCHLD, master_on_signal, SA_RESTART | SA_NOCLDSTOP);
    set_handler(SIGPIPE, SIG_IGN, 0);
    set_handler(SIGUSR1, SIG_IGN, 0);
    set_handler(SIGUSR2, SIG_IGN, 0);

    if (o->inherit_fd >= 0) {
        p.fd = o->inherit_fd;
    } else {
        err[0] = 0;
        if (pool_listen_open(cfg->listen, cfg->backlog, cfg->socket_mode, &p.fd, err, sizeof err) !=
            0) {
            log_error("%s", err);
            goto out;
        }
        const char *up = pool_listen_unix_path(cfg->listen);
        if (up) p.unix_path = strdup(up);
    }
    if (cfg->pidfile && *cfg->pidfile) {
        if (write_pidfile(cfg->pidfile) != 0) {
            log_error("cannot write pidfile %s: %s", cfg->pidfile, strerror(errno));
            goto out;
        }
        pidfile_written = 1;
    }
    log_info("master %d: listening on %s, %s", (int)getpid(),
             o->inherit_fd >= 0 ? "inherited socket" : cfg->listen, workers_desc(cfg));

    for (;;) {
        char drain[64];
        while (read(self_pipe[0], drain, sizeof drain) > 0) {
        }
        int wait_ms = -1;
        task_sched_tick(p.tasks, p.cfg, p.stopping, &wait_ms); /* background tasks (tasks.c) */
        reap(&p);
        if (m_term && !p.stopping) begin_stop(&p);
        if (m_hup) {
            m_hup = 0;
            if (!p.stopping) reload(&p);
        }
        if (!p.stopping) scale(&p, &wait_ms);
        enforce_deadlines(&p, &wait_ms);
        if (p.stopping && p.nw == 0) break;
        struct pollfd pfd = {.fd = self_pipe[0], .events = POLLIN};
        if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            break;
        }
    }
    log_info("master %d: stopped", (int)getpid());
    status = 0;
out:
    close_listener(&p);
    if (pidfile_written) unlink(p.cfg->pidfile);
    free(p.w);
    scoreboard_free(p.sb);
    w_sb = NULL;
    task_sched_free(p.tasks);
    if (p.diag_fd >= 0) close(p.diag_fd);
    for (int i = 0; i < 2; i++)
        if (self_pipe[i] >= 0) close(self_pipe[i]);
    self_pipe[0] = self_pipe[1] = -1;
    config_free(p.cfg);
    return status;
}

static int single_run(const struct pool_opts *o, struct config *cfg)
{
    struct app *app = NULL;
    char err[1024];
    w_stop = w_reload = 0;
    w_listen_fd = o->inherit_fd;
    worker_signals(1);
    log_info("worker started (single process on an inherited socket)");
    if (app_new(cfg, &app, err, sizeof err) != 0) {
        log_error("cannot start: %s", err);
        config_free(cfg);
        return 1;
    }
    int status = worker_loop(o, &cfg, &app, o->inherit_fd, 1);
    app_free(app);
    config_free(cfg);
    return status;
}

int pool_serve(const struct pool_opts *o)
{
    struct config *cfg = NULL;
    char err[1024];
    err[0] = 0;
    /* Our dispositions first: FCGX_Init only installs its own SIGPIPE and
     * SIGUSR1 handlers where the disposition is still the default. */
    set_handler(SIGPIPE, SIG_IGN, 0);
    if (FCGX_Init() != 0) {
        log_error("FCGX_Init failed");
        return 1;
    }
    if (config_load(o->config_path, o->envp, &cfg, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }
    if (log_configure(cfg, 0) != 0)
        log_warn("cannot open log file %s: logging to stderr", cfg->log_file);
    if (auth_probe(cfg, err, sizeof err) != 0) { /* a bad htpasswd or key stops start-up */
        log_error("%s", err);
        config_free(cfg);
        return 1;
    }
    if (o->single && o->inherit_fd >= 0) return single_run(o, cfg);
    return master_run(o, cfg);
}
