/* builder.c — the builder service (builder.h).
 *
 * One loop, woken every POLL_MS or by a child's end (SIGCHLD):
 *   1. reap the build runners that ended and record their outcome;
 *   2. act on cancel requests and on builds past builds.timeout: SIGTERM to
 *      the runner's process group, SIGKILL KILL_GRACE seconds later;
 *   3. turn push triggers into chained builds (below);
 *   4. start the oldest queued builds while fewer than builds.concurrency
 *      run;
 *   5. now and then, prune finished builds beyond builds.keep and old
 *      replay-guard entries.
 *
 * A build runs in a runner: a child of this service in a process group of
 * its own, with PR_SET_PDEATHSIG so that it (and each step it starts) dies
 * with the service. It fetches the commit into tmp/<id>/src (git init +
 * fetch of the ref, then of the commit when the ref has moved on), notes
 * the Dockerfile's FROM images, runs `buildah bud --isolation chroot` with
 * a storage of its own under tmp/<id> (nothing shared between builds, all
 * of it removed when the build ends) and `buildah push` once per tag.
 * The runner reports through files in the build's directory (revision,
 * digest, from, reason); the service alone writes build.json, so a state
 * is never written by two processes.
 *
 * Crashes: a state says "running" only while this service lives. When the
 * service is stopped (SIGTERM from the master: a reload, a stop, or the
 * master's death through PR_SET_PDEATHSIG) it kills its runners and puts
 * their builds back in the queue; when it is killed outright, the next
 * service finds builds marked running at start and does the same. A build
 * started MAX_ATTEMPTS times and interrupted again fails instead.
 *
 * Chained builds: every tagged manifest push leaves a trigger
 * (buildq_pushed). For each, the sources whose last build's Dockerfile
 * FROMs builds.registry/<repository>:<tag> are queued at their first branch
 * rule's branch, once per pushed digest (buildq_seen). The build that
 * pushed the image (found by its digest) passes on its chain — the sources
 * whose builds led to it — and a source already in the chain is not built
 * again: A → B → A stops at the second A. A trigger waits while a build
 * pushing to its repository still runs, so that build's digest is known. */
#include "builder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/b64url.h"
#include "../lib/buildq.h"
#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/evqueue.h"
#include "../lib/log.h"

#define POLL_MS 250
#define KILL_GRACE 10         /* seconds between SIGTERM and SIGKILL of a build */
#define MAX_ATTEMPTS 3        /* starts of one build across service restarts */
#define PRUNE_EVERY 60        /* seconds */
#define SEEN_TTL (90 * 86400) /* replay-guard entries kept this long */
#define FROM_MAX 32           /* FROM lines of a Dockerfile noted */
#define RUNNING_MAX 64

struct running {
    char id[BUILDQ_ID_MAX];
    pid_t pid;
    time_t started;
    time_t term_at;          /* when SIGTERM was sent (0: not yet) */
    const char *stop_status; /* set when we stop it: BUILDQ_CANCELLED or BUILDQ_FAILED */
    const char *stop_reason;
    char repository[256];
};

static volatile sig_atomic_t stopping;
static struct running running[RUNNING_MAX];
static size_t nrunning;

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}
static void on_chld(int sig)
{
    (void)sig;
}

int builder_enabled(const struct config *cfg, const void *ctx)
{
    (void)ctx;
    return config_builds_active(cfg);
}

/* ---------------------------------------------------------------- helpers */

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return "";
    return json_object_get_string(v);
}

static void jset(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

/* rm_tree: remove a directory and everything below it (buildah's vfs
 * storage has read-only directories: made writable first) */
static void rm_tree(const char *path)
{
    char cmd_dir[4096];
    snprintf(cmd_dir, sizeof cmd_dir, "%s", path);
    struct stat st;
    if (lstat(cmd_dir, &st) != 0) return;
    nftw(cmd_dir, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    if (lstat(cmd_dir, &st) == 0) { /* read-only dirs kept some: chmod and retry */
        pid_t pid = fork();
        if (pid == 0) {
            execlp("chmod", "chmod", "-R", "u+rwx", cmd_dir, (char *)NULL);
            _exit(127);
        }
        if (pid > 0) waitpid(pid, NULL, 0);
        nftw(cmd_dir, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    }
}

/* read_small: the first line of a small file of the build's directory, or "" */
static void read_small(const struct config *cfg, const char *id, const char *name, char *out,
                       size_t len)
{
    char p[4096];
    out[0] = 0;
    if (buildq_path(cfg, p, sizeof p, "builds", id, name)) return;
    FILE *f = fopen(p, "re");
    if (!f) return;
    if (!fgets(out, (int)len, f)) out[0] = 0;
    fclose(f);
    out[strcspn(out, "\r\n")] = 0;
}

static void write_small(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* ---------------------------------------------------------------- events */

static void uuid4(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != sizeof b) memset(b, 0, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* build_event: the build's news as a notifications event (docs/builds.md):
 * action "build", target {repository, tag, digest}, build {id, source,
 * status, ref, revision, trigger, reason}. */
static void build_event(const struct config *cfg, struct json_object *st)
{
    if (!config_notify_active(cfg)) return;
    char id[37], now[32], host[256];
    uuid4(id);
    buildq_now(now);
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    struct json_object *ev = json_object_new_object(), *t = json_object_new_object();
    struct json_object *b = json_object_new_object(), *src = json_object_new_object();
    jset(ev, "id", id);
    jset(ev, "timestamp", now);
    jset(ev, "action", "build");
    jset(t, "repository", jstr(st, "repository"));
    struct json_object *tags;
    if (json_object_object_get_ex(st, "tags", &tags) && json_object_array_length(tags))
        jset(t, "tag", json_object_get_string(json_object_array_get_idx(tags, 0)));
    if (*jstr(st, "digest")) jset(t, "digest", jstr(st, "digest"));
    json_object_object_add(ev, "target", t);
    static const char *const keys[] = {"id",       "source",  "status", "ref",
                                       "revision", "trigger", "reason"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        jset(b, keys[i], jstr(st, keys[i]));
    json_object_object_add(ev, "build", b);
    json_object_object_add(ev, "actor", json_object_new_object());
    jset(src, "addr", host);
    json_object_object_add(ev, "source", src);
    size_t len;
    const char *s = json_object_to_json_string_length(ev, JSON_C_TO_STRING_PLAIN, &len);
    if (evqueue_append(cfg->notify_queuedir, s, len, cfg->notify_fsync) != 0)
        log_warn("builds: build %s: the event could not be queued", jstr(st, "id"));
    json_object_put(ev);
}

/* ---------------------------------------------------------------- the runner */

static char logline[8192];

/* say: one line of the runner's own into the build's log (stdout) */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(logline, sizeof logline, fmt, ap);
    va_end(ap);
    char now[32];
    buildq_now(now);
    printf("[%s] %s\n", now, logline);
    fflush(stdout);
}

/* safe_url: url without the password of a user:password@ part (logs, labels) */
static void safe_url(const char *url, char *out, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (!scheme || !at || (slash && slash < at)) {
        snprintf(out, len, "%s", url);
        return;
    }
    snprintf(out, len, "%.*s%s", (int)(scheme + 3 - url), url, at + 1);
}

/* step: run argv (PATH searched) in dir with the runner's stdout/stderr;
 * returns its exit status (128+signal when killed, 127 when not found) */
static int step(char *const *argv, const char *dir, const char *show)
{
    say("$ %s", show);
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (dir && chdir(dir) != 0) _exit(127);
        execvp(argv[0], argv);
        fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* step_out: like step, the first line of its stdout in out (git rev-parse) */
static int step_out(char *const *argv, const char *dir, char *out, size_t len)
{
    int fds[2];
    out[0] = 0;
    if (pipe(fds) != 0) return 127;
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (dir && chdir(dir) != 0) _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while ((r = read(fds[0], out + got, len - 1 - got)) > 0 || (r < 0 && errno == EINTR))
        if (r > 0 && (got += (size_t)r) >= len - 1) break;
    close(fds[0]);
    out[got] = 0;
    out[strcspn(out, "\r\n")] = 0;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* the FROM images of a Dockerfile: one per line into path (ARG-made ones,
 * stage names and scratch left out) */
static void note_froms(const char *dockerfile, const char *path)
{
    FILE *in = fopen(dockerfile, "re");
    if (!in) return;
    FILE *out = fopen(path, "we");
    char line[4096], stages[FROM_MAX][128];
    size_t nstages = 0, n = 0;
    while (out && n < FROM_MAX && fgets(line, sizeof line, in)) {
        char *p = line + strspn(line, " \t");
        if (strncasecmp(p, "FROM", 4) != 0 || (p[4] != ' ' && p[4] != '\t')) continue;
        char *save = NULL, *tok = strtok_r(p + 4, " \t\r\n", &save);
        while (tok && !strncmp(tok, "--", 2))
            tok = strtok_r(NULL, " \t\r\n", &save);
        if (!tok) continue;
        char *as = strtok_r(NULL, " \t\r\n", &save),
             *stage = as ? strtok_r(NULL, " \t\r\n", &save) : NULL;
        int known = !strcmp(tok, "scratch") || strchr(tok, '$');
        for (size_t i = 0; i < nstages; i++)
            known |= !strcasecmp(stages[i], tok);
        if (!known) {
            fprintf(out, "%s\n", tok);
            n++;
        }
        if (as && stage && !strcasecmp(as, "AS") && nstages < FROM_MAX)
            snprintf(stages[nstages++], sizeof stages[0], "%s", stage);
    }
    if (out) fclose(out);
    fclose(in);
}

/* runner: the whole build, in its child; returns the exit status (0: done) */
static int runner(const struct config *cfg, struct json_object *st)
{
    const char *id = jstr(st, "id"), *ref = jstr(st, "ref"), *commit = jstr(st, "commit");
    const struct config_build_source *s = config_build_source(cfg, jstr(st, "source"));
    char tmp[4096], src[4200], root[4200], runroot[4200], authf[4200], digestf[4200], bdir[4096];
    char reasonf[4200], url[2048];
    if (buildq_path(cfg, tmp, sizeof tmp, "tmp", id, NULL) ||
        buildq_path(cfg, bdir, sizeof bdir, "builds", id, NULL))
        return 1;
    snprintf(reasonf, sizeof reasonf, "%s/reason", bdir);
    if (!s) {
        write_small(reasonf, "the source is no longer configured");
        return 1;
    }
    safe_url(s->git, url, sizeof url);
    snprintf(src, sizeof src, "%s/src", tmp);
    snprintf(root, sizeof root, "%s/storage", tmp);
    snprintf(runroot, sizeof runroot, "%s/run", tmp);
    snprintf(authf, sizeof authf, "%s/auth.json", tmp);
    snprintf(digestf, sizeof digestf, "%s/digest", tmp);
    rm_tree(tmp);
    if (mkdir(tmp, 0700) != 0) {
        write_small(reasonf, "cannot make the build's temporary directory");
        return 1;
    }
    setenv("TMPDIR", tmp, 1);
    setenv("GIT_TERMINAL_PROMPT", "0", 1);
    setenv("BUILDAH_ISOLATION", "chroot", 1);
    say("build %s of source %s: %s%s%s from %s", id, s->name, ref, *commit ? " at " : "", commit,
        url);

    /* 1. the commit */
    char show[8192];
    char *init[] = {"git", "init", "-q", src, NULL};
    if (step(init, NULL, "git init -q src")) {
        write_small(reasonf, "git init failed");
        return 1;
    }
    char *fetch[] = {"git", "fetch", "-q",   "--no-tags", "--depth",
                     "1",   "--",    s->git, (char *)ref, NULL};
    snprintf(show, sizeof show, "git fetch -q --no-tags --depth 1 -- %s %s", url, ref);
    if (step(fetch, src, show)) {
        write_small(reasonf, "git fetch failed (see the log)");
        return 1;
    }
    char head[128];
    char *revp[] = {"git", "rev-parse", "FETCH_HEAD", NULL};
    step_out(revp, src, head, sizeof head);
    const char *want = *commit ? commit : head;
    if (*commit && strncmp(head, commit, strlen(commit)) != 0) {
        /* the ref moved on since the push: fetch the pushed commit itself */
        char *fetch2[] = {"git", "fetch", "-q",   "--no-tags",    "--depth",
                          "1",   "--",    s->git, (char *)commit, NULL};
        snprintf(show, sizeof show, "git fetch -q --no-tags --depth 1 -- %s %s", url, commit);
        if (step(fetch2, src, show)) {
            write_small(reasonf, "the pushed commit could not be fetched");
            return 1;
        }
    }
    char *co[] = {"git",        "-c", "advice.detachedHead=false", "checkout", "-q", "--detach",
                  (char *)want, NULL};
    snprintf(show, sizeof show, "git checkout -q --detach %s", want);
    if (step(co, src, show)) {
        write_small(reasonf, "git checkout failed");
        return 1;
    }
    char rev[128];
    char *revh[] = {"git", "rev-parse", "HEAD", NULL};
    step_out(revh, src, rev, sizeof rev);
    char p[4300];
    snprintf(p, sizeof p, "%s/revision", bdir);
    write_small(p, rev);
    say("revision %s", rev);

    /* 2. the build */
    char dockerfile[4300], context[4300], from[4300];
    snprintf(dockerfile, sizeof dockerfile, "%s/%s", src, s->dockerfile);
    snprintf(context, sizeof context, "%s/%s", src, s->context);
    snprintf(from, sizeof from, "%s/from", bdir);
    note_froms(dockerfile, from);
    if (cfg->builds_username) {
        char cred[1024];
        snprintf(cred, sizeof cred, "%s:%s", cfg->builds_username,
                 cfg->builds_password ? cfg->builds_password : "");
        char *b64 = b64_encode(cred, strlen(cred));
        FILE *f = b64 ? fopen(authf, "we") : NULL;
        if (f) {
            fchmod(fileno(f), 0600);
            fprintf(f, "{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}\n", cfg->builds_registry, b64);
            fclose(f);
        }
        explicit_bzero(cred, sizeof cred);
        free(b64);
    }
    char image[128], lsrc[2200], lrev[256];
    snprintf(image, sizeof image, "localhost/wharf-build-%s", id);
    for (char *c = image; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    snprintf(lsrc, sizeof lsrc, "org.opencontainers.image.source=%s", url);
    snprintf(lrev, sizeof lrev, "org.opencontainers.image.revision=%s", rev);
    const char *argv[64 + 2 * 64];
    size_t n = 0;
    const char *tls = cfg->builds_tlsverify ? "--tls-verify=true" : "--tls-verify=false";
    argv[n++] = "buildah";
    argv[n++] = "--root";
    argv[n++] = root;
    argv[n++] = "--runroot";
    argv[n++] = runroot;
    argv[n++] = "--storage-driver";
    argv[n++] = "vfs";
    argv[n++] = "bud";
    argv[n++] = "--isolation";
    argv[n++] = "chroot";
    argv[n++] = tls;
    if (cfg->builds_username) {
        argv[n++] = "--authfile";
        argv[n++] = authf;
    }
    argv[n++] = "-f";
    argv[n++] = dockerfile;
    argv[n++] = "-t";
    argv[n++] = image;
    argv[n++] = "--label";
    argv[n++] = lsrc;
    argv[n++] = "--label";
    argv[n++] = lrev;
    char args[64][1100];
    for (size_t i = 0; i < s->nargs && i < 64; i++) {
        snprintf(args[i], sizeof args[i], "%s=%s", s->args[i].name, s->args[i].value);
        argv[n++] = "--build-arg";
        argv[n++] = args[i];
    }
    argv[n++] = context;
    argv[n] = NULL;
    snprintf(show, sizeof show,
             "buildah bud --isolation chroot %s -f %s -t %s (labels source, revision; %zu build "
             "args) %s",
             tls, s->dockerfile, image, s->nargs, s->context);
    int rc = step((char *const *)argv, src, show);
    if (rc) {
        write_small(reasonf, "buildah bud failed (see the log)");
        return 1;
    }

    /* 3. the pushes */
    struct json_object *tags;
    json_object_object_get_ex(st, "tags", &tags);
    for (size_t i = 0; tags && i < json_object_array_length(tags); i++) {
        char dest[1024];
        snprintf(dest, sizeof dest, "docker://%s/%s:%s", cfg->builds_registry, s->repository,
                 json_object_get_string(json_object_array_get_idx(tags, i)));
        const char *pv[20];
        size_t k = 0;
        pv[k++] = "buildah";
        pv[k++] = "--root";
        pv[k++] = root;
        pv[k++] = "--runroot";
        pv[k++] = runroot;
        pv[k++] = "--storage-driver";
        pv[k++] = "vfs";
        pv[k++] = "push";
        pv[k++] = tls;
        if (cfg->builds_username) {
            pv[k++] = "--authfile";
            pv[k++] = authf;
        }
        pv[k++] = "--digestfile";
        pv[k++] = digestf;
        pv[k++] = image;
        pv[k++] = dest;
        pv[k] = NULL;
        snprintf(show, sizeof show, "buildah push %s %s %s", tls, image, dest);
        if (step((char *const *)pv, src, show)) {
            write_small(reasonf, "buildah push failed (see the log)");
            return 1;
        }
    }
    char digest[160] = "";
    FILE *f = fopen(digestf, "re");
    if (f) {
        if (!fgets(digest, sizeof digest, f)) digest[0] = 0;
        fclose(f);
    }
    digest[strcspn(digest, "\r\n")] = 0;
    snprintf(p, sizeof p, "%s/digest", bdir);
    write_small(p, digest);
    say("pushed %s", digest);
    return 0;
}

/* runner_start: fork the runner of build st; its pid, or -1 */
static pid_t runner_start(const struct config *cfg, struct json_object *st)
{
    char logp[4096];
    if (buildq_path(cfg, logp, sizeof logp, "builds", jstr(st, "id"), "log")) return -1;
    pid_t me = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != me) _exit(1);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int nul = open("/dev/null", O_RDONLY);
    if (fd < 0 || nul < 0) _exit(1);
    dup2(nul, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    _exit(runner(cfg, st));
}

/* ---------------------------------------------------------------- the service */

static void finish(const struct config *cfg, struct running *r, int status)
{
    struct json_object *st = buildq_read(cfg, r->id);
    char now[32], buf[512], tmp[4096];
    buildq_now(now);
    if (st) {
        const char *result = BUILDQ_SUCCEEDED, *reason = "";
        read_small(cfg, r->id, "reason", buf, sizeof buf);
        if (r->stop_status) {
            result = r->stop_status;
            reason = r->stop_reason;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            result = BUILDQ_FAILED;
            reason = *buf ? buf : "the build process failed";
        }
        jset(st, "status", result);
        jset(st, "reason", reason);
        jset(st, "finished", now);
        char rev[128], dig[160];
        read_small(cfg, r->id, "revision", rev, sizeof rev);
        read_small(cfg, r->id, "digest", dig, sizeof dig);
        jset(st, "revision", rev);
        if (!strcmp(result, BUILDQ_SUCCEEDED)) jset(st, "digest", dig);
        /* the source's FROM images, for chained builds */
        char from[4096], dst[4096];
        if (!buildq_path(cfg, from, sizeof from, "builds", r->id, "from") &&
            !buildq_path(cfg, dst, sizeof dst, "sources", jstr(st, "source"), NULL) &&
            strlen(dst) + 6 < sizeof dst && access(from, F_OK) == 0) {
            strcat(dst, ".from");
            rename(from, dst);
        }
        if (buildq_write(cfg, r->id, st) != 0)
            log_error("builds: build %s: state not written", r->id);
        log_info("builds: build %s of %s %s%s%s", r->id, jstr(st, "source"), result,
                 *reason ? ": " : "", reason);
        build_event(cfg, st);
        json_object_put(st);
    }
    if (!buildq_path(cfg, tmp, sizeof tmp, "tmp", r->id, NULL)) rm_tree(tmp);
    *r = running[--nrunning];
}

static void reap(const struct config *cfg)
{
    for (size_t i = 0; i < nrunning;) {
        int status;
        pid_t p = waitpid(running[i].pid, &status, WNOHANG);
        if (p == running[i].pid || (p < 0 && errno == ECHILD)) {
            if (p < 0) status = 1 << 8;
            finish(cfg, &running[i], status);
            continue; /* running[i] is now another build */
        }
        i++;
    }
}

static void stop_build(struct running *r, const char *status, const char *reason)
{
    if (r->term_at) return;
    r->stop_status = status;
    r->stop_reason = reason;
    r->term_at = time(NULL);
    kill(-r->pid, SIGTERM);
}

static void watch(const struct config *cfg)
{
    time_t now = time(NULL);
    for (size_t i = 0; i < nrunning; i++) {
        struct running *r = &running[i];
        char p[4096];
        if (!buildq_path(cfg, p, sizeof p, "builds", r->id, "cancel") && access(p, F_OK) == 0)
            stop_build(r, BUILDQ_CANCELLED, "cancelled");
        if (cfg->builds_timeout > 0 && now - r->started > cfg->builds_timeout)
            stop_build(r, BUILDQ_FAILED, "timed out (builds.timeout)");
        if (r->term_at && now - r->term_at >= KILL_GRACE) kill(-r->pid, SIGKILL);
    }
}

/* requeue: a build interrupted by a stop of the service goes back in the
 * queue (or fails after MAX_ATTEMPTS starts) */
static void requeue(const struct config *cfg, struct json_object *st, const char *why)
{
    struct json_object *a;
    int attempts = json_object_object_get_ex(st, "attempts", &a) ? json_object_get_int(a) : 1;
    if (attempts >= MAX_ATTEMPTS) {
        char now[32];
        buildq_now(now);
        jset(st, "status", BUILDQ_FAILED);
        jset(st, "reason", "interrupted too often (Wharf stopped during the build)");
        jset(st, "finished", now);
        build_event(cfg, st);
    } else {
        jset(st, "status", BUILDQ_QUEUED);
        jset(st, "reason", why);
    }
    buildq_write(cfg, jstr(st, "id"), st);
}

/* recover: at start, builds marked running belong to a service that died */
static void recover(const struct config *cfg)
{
    char *ids[1000];
    int n = buildq_list(cfg, ids, 1000);
    for (int i = 0; i < n; i++) {
        struct json_object *st = buildq_read(cfg, ids[i]);
        if (st && !strcmp(jstr(st, "status"), BUILDQ_RUNNING)) {
            log_warn("builds: build %s was running when the builder stopped: queued again", ids[i]);
            requeue(cfg, st, "requeued: the builder stopped during the build");
        }
        json_object_put(st);
        free(ids[i]);
    }
    char tmp[4096];
    if (!buildq_path(cfg, tmp, sizeof tmp, "tmp", NULL, NULL)) {
        DIR *d = opendir(tmp);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char p[4400];
            snprintf(p, sizeof p, "%s/%s", tmp, e->d_name);
            rm_tree(p);
        }
        if (d) closedir(d);
    }
}

static void start_queued(const struct config *cfg)
{
    size_t max = (size_t)cfg->builds_concurrency;
    if (max > RUNNING_MAX) max = RUNNING_MAX;
    if (nrunning >= max) return;
    char *ids[1000];
    int n = buildq_list(cfg, ids, 1000);
    for (int i = n - 1; i >= 0; i--) { /* oldest first */
        if (nrunning < max) {
            struct json_object *st = buildq_read(cfg, ids[i]);
            if (st && !strcmp(jstr(st, "status"), BUILDQ_QUEUED)) {
                char p[4096], now[32];
                buildq_now(now);
                int cancelled = !buildq_path(cfg, p, sizeof p, "builds", ids[i], "cancel") &&
                                access(p, F_OK) == 0;
                if (cancelled || !config_build_source(cfg, jstr(st, "source"))) {
                    jset(st, "status", BUILDQ_CANCELLED);
                    jset(st, "reason",
                         cancelled ? "cancelled" : "the source is no longer configured");
                    jset(st, "finished", now);
                    buildq_write(cfg, ids[i], st);
                    build_event(cfg, st);
                } else {
                    struct json_object *a;
                    int attempts =
                        json_object_object_get_ex(st, "attempts", &a) ? json_object_get_int(a) : 0;
                    json_object_object_add(st, "attempts", json_object_new_int(attempts + 1));
                    jset(st, "status", BUILDQ_RUNNING);
                    jset(st, "started", now);
                    jset(st, "reason", "");
                    /* the state first: a crash after the fork finds it running and requeues */
                    if (buildq_write(cfg, ids[i], st) == 0) {
                        pid_t pid = runner_start(cfg, st);
                        if (pid < 0) {
                            jset(st, "status", BUILDQ_FAILED);
                            jset(st, "reason", "fork failed");
                            buildq_write(cfg, ids[i], st);
                        } else {
                            struct running *r = &running[nrunning++];
                            memset(r, 0, sizeof *r);
                            snprintf(r->id, sizeof r->id, "%s", ids[i]);
                            snprintf(r->repository, sizeof r->repository, "%s",
                                     jstr(st, "repository"));
                            r->pid = pid;
                            r->started = time(NULL);
                            log_info("builds: build %s of %s started (%s)", r->id,
                                     jstr(st, "source"), jstr(st, "ref"));
                            build_event(cfg, st);
                        }
                    }
                }
            }
            json_object_put(st);
        }
        free(ids[i]);
    }
}

int builder_from_matches(const char *ref, const char *registry, const char *repo, const char *tag)
{
    size_t rl = strlen(registry), pl = strlen(repo);
    if (strncmp(ref, registry, rl) != 0 || ref[rl] != '/') return 0;
    const char *p = ref + rl + 1;
    if (strncmp(p, repo, pl) != 0) return 0;
    p += pl;
    if (!*p) return !strcmp(tag, "latest");
    if (*p != ':') return 0;
    return !strcmp(p + 1, tag);
}

/* the sources whose last build's Dockerfile FROMs registry/repo:tag */
static int source_froms(const struct config *cfg, const struct config_build_source *s,
                        const char *repo, const char *tag)
{
    char p[4096];
    if (buildq_path(cfg, p, sizeof p, "sources", s->name, NULL) || strlen(p) + 6 >= sizeof p)
        return 0;
    strcat(p, ".from");
    FILE *f = fopen(p, "re");
    if (!f) return 0;
    char line[1024];
    int hit = 0;
    while (!hit && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        hit = builder_from_matches(line, cfg->builds_registry, repo, tag);
    }
    fclose(f);
    return hit;
}

static int in_chain(struct json_object *chain, const char *name)
{
    for (size_t i = 0; chain && i < json_object_array_length(chain); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(chain, i)), name)) return 1;
    return 0;
}

/* one push trigger: 1 when handled (the file may go), 0 to wait */
static int chain_push(const struct config *cfg, struct json_object *t)
{
    const char *repo = jstr(t, "repository"), *tag = jstr(t, "tag"), *digest = jstr(t, "digest");
    for (size_t i = 0; i < nrunning; i++)
        if (!strcmp(running[i].repository, repo)) return 0; /* its digest is not known yet */
    /* the build that pushed it, if one did: its chain goes on */
    struct json_object *chain = json_object_new_array();
    const char *producer = NULL;
    char *ids[200];
    int n = buildq_list(cfg, ids, 200);
    struct json_object *pst = NULL;
    for (int i = 0; i < n; i++) {
        if (!pst) {
            struct json_object *st = buildq_read(cfg, ids[i]);
            if (st && *digest && !strcmp(jstr(st, "digest"), digest) &&
                !strcmp(jstr(st, "repository"), repo))
                pst = st;
            else
                json_object_put(st);
        }
        free(ids[i]);
    }
    if (pst) {
        struct json_object *pc;
        if (json_object_object_get_ex(pst, "chain", &pc))
            for (size_t i = 0; i < json_object_array_length(pc); i++)
                json_object_array_add(chain, json_object_get(json_object_array_get_idx(pc, i)));
        producer = jstr(pst, "source");
        json_object_array_add(chain, json_object_new_string(producer));
    }
    for (size_t i = 0; i < cfg->nbuild_sources; i++) {
        const struct config_build_source *s = &cfg->build_sources[i];
        if (!source_froms(cfg, s, repo, tag)) continue;
        if (in_chain(chain, s->name)) {
            log_warn("builds: %s:%s is the FROM of source %s, which is already in this chain of "
                     "builds (%s): not built again (a loop)",
                     repo, tag, s->name, json_object_to_json_string(chain));
            continue;
        }
        const char *branch = NULL;
        for (size_t r = 0; r < s->nrules && !branch; r++)
            branch = s->rules[r].branch;
        if (!branch) {
            log_warn("builds: %s:%s is the FROM of source %s, which has no branch rule to build",
                     repo, tag, s->name);
            continue;
        }
        char key[1024], ref[512], trig[1024], id[BUILDQ_ID_MAX];
        snprintf(key, sizeof key, "chain\n%s\n%s", s->name, digest);
        if (buildq_seen(cfg, key) != 0) continue; /* once per push */
        snprintf(ref, sizeof ref, "refs/heads/%s", branch);
        snprintf(trig, sizeof trig, "chain: %s:%s@%s", repo, tag, digest);
        if (buildq_enqueue(cfg, s, ref, NULL, trig, chain, id) == 0)
            log_info("builds: source %s queued as build %s: its FROM %s:%s was pushed", s->name, id,
                     repo, tag);
    }
    json_object_put(pst);
    json_object_put(chain);
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void pushes(const struct config *cfg)
{
    char dir[4096];
    if (buildq_path(cfg, dir, sizeof dir, "pushes", NULL, NULL)) return;
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while (n < 256 && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".json") && e->d_name[0] != '.')
            if ((names[n] = strdup(e->d_name))) n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        struct json_object *t = json_object_from_file(p);
        if (!t || chain_push(cfg, t)) unlink(p);
        json_object_put(t);
        free(names[i]);
    }
}

static void prune(const struct config *cfg)
{
    char *ids[4096];
    int n = buildq_list(cfg, ids, 4096);
    int finished = 0;
    for (int i = 0; i < n; i++) {
        struct json_object *st = buildq_read(cfg, ids[i]);
        const char *s = st ? jstr(st, "status") : BUILDQ_FAILED;
        int done = strcmp(s, BUILDQ_QUEUED) && strcmp(s, BUILDQ_RUNNING);
        if (done && ++finished > cfg->builds_keep) {
            char p[4096];
            if (!buildq_path(cfg, p, sizeof p, "builds", ids[i], NULL)) rm_tree(p);
        }
        json_object_put(st);
        free(ids[i]);
    }
    char dir[4096];
    if (buildq_path(cfg, dir, sizeof dir, "seen", NULL, NULL)) return;
    DIR *d = opendir(dir);
    struct dirent *e;
    time_t now = time(NULL);
    while (d && (e = readdir(d))) {
        char p[4400];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(p, &sb) == 0 && now - sb.st_mtime > SEEN_TTL) unlink(p);
    }
    if (d) closedir(d);
}

int builder_run(const struct config *cfg, const void *ctx)
{
    (void)ctx;
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_chld; /* wakes the sleep below (nanosleep is never restarted) */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    if (buildq_mkdirs(cfg) != 0) {
        log_error("builds: cannot make the work directory %s", cfg->builds_workdir);
        return 1;
    }
    recover(cfg);
    log_info("builds: builder ready (%zu sources, workdir %s, pushing to %s)", cfg->nbuild_sources,
             cfg->builds_workdir, cfg->builds_registry);
    time_t pruned = 0;
    while (!stopping) {
        reap(cfg);
        watch(cfg);
        pushes(cfg);
        if (!stopping) start_queued(cfg);
        if (time(NULL) - pruned >= PRUNE_EVERY) {
            prune(cfg);
            pruned = time(NULL);
        }
        struct timespec ts = {0, POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* stopped: the running builds go back in the queue for the next service */
    for (size_t i = 0; i < nrunning; i++)
        kill(-running[i].pid, SIGKILL);
    for (size_t i = 0; i < nrunning; i++) {
        waitpid(running[i].pid, NULL, 0);
        struct json_object *st = buildq_read(cfg, running[i].id);
        if (st) requeue(cfg, st, "requeued: Wharf stopped or reloaded during the build");
        json_object_put(st);
        char tmp[4096];
        if (!buildq_path(cfg, tmp, sizeof tmp, "tmp", running[i].id, NULL)) rm_tree(tmp);
    }
    nrunning = 0;
    return 0;
}
