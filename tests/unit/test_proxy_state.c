/* test_proxy_state.c — the pull-through cache's config (proxy: and
 * proxy.upstreams from the environment), upstream choice by name prefix, and
 * ttl expiry over the inmemory driver (storage/proxy_state.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/arena.h"
#include "../../lib/config.h"
#include "../../lib/digest.h"
#include "../../lib/err.h"
#include "../../storage/driver.h"
#include "../../storage/drivers/filesystem.h"
#include "../../storage/paths.h"
#include "../../storage/proxy_state.h"
#include "../../storage/registry.h"

static struct config *load_env(char **envp, int want_rc, const char *want_err)
{
    char err[512] = "";
    struct config *c = NULL;
    int rc = config_load(NULL, envp, &c, err, sizeof err);
    if (rc != want_rc || (want_err && !strstr(err, want_err)))
        print_error("rc %d, err: %s (want %d, %s)\n", rc, err, want_rc, want_err ? want_err : "");
    assert_int_equal(rc, want_rc);
    if (want_err) assert_non_null(strstr(err, want_err));
    return c;
}

static void test_config_upstreams(void **state)
{
    char *env[] = {"REGISTRY_STORAGE=inmemory",
                   "REGISTRY_PROXY_REMOTEURL=https://registry-1.docker.io/",
                   "REGISTRY_PROXY_TTL=2h",
                   "REGISTRY_PROXY_UPSTREAMS=[{prefix: ghcr.io, remoteurl: 'https://ghcr.io', "
                   "username: u, password: sekrit, ttl: 0}, {prefix: team/mirror, remoteurl: "
                   "'http://127.0.0.1:5000', remoteprefix: base}]",
                   NULL};
    struct config *c = load_env(env, 0, NULL);
    assert_int_equal(c->nupstreams, 3);
    assert_string_equal(c->upstreams[0].prefix, "ghcr.io");
    assert_int_equal(c->upstreams[0].ttl, 0);
    assert_string_equal(c->upstreams[1].remoteprefix, "base");
    assert_int_equal(c->upstreams[1].ttl, 7200); /* proxy.ttl is every entry's default */
    assert_string_equal(c->upstreams[2].prefix, "");
    assert_string_equal(c->upstreams[2].remoteurl, "https://registry-1.docker.io");
    assert_int_equal(c->upstreams[2].ttl, 7200);
    /* the dump masks the password */
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    config_dump(c, f);
    fclose(f);
    assert_null(strstr(out, "sekrit"));
    assert_non_null(strstr(out, "prefix: \"ghcr.io\""));
    free(out);
    config_free(c);
}

static void test_config_errors(void **state)
{
    char *e1[] = {"REGISTRY_STORAGE=inmemory", "REGISTRY_PROXY_REMOTEURL=ftp://x", NULL};
    assert_null(load_env(e1, WERR_INVALID, "expected an http:// or https:// URL"));
    char *e2[] = {"REGISTRY_STORAGE=inmemory", "REGISTRY_PROXY_UPSTREAMS=[{remoteurl: 'http://x'}]",
                  NULL};
    assert_null(load_env(e2, WERR_INVALID, "prefix: required"));
    char *e3[] = {"REGISTRY_STORAGE=inmemory",
                  "REGISTRY_PROXY_UPSTREAMS=[{prefix: a, remoteurl: 'http://x'}, {prefix: a, "
                  "remoteurl: 'http://y'}]",
                  NULL};
    assert_null(load_env(e3, WERR_INVALID, "listed twice"));
    char *e4[] = {"REGISTRY_STORAGE=inmemory",
                  "REGISTRY_PROXY_UPSTREAMS=[{prefix: /a, remoteurl: 'http://x'}]", NULL};
    assert_null(load_env(e4, WERR_INVALID, "must not begin or end with '/'"));
    char *e5[] = {"REGISTRY_STORAGE=inmemory", "REGISTRY_PROXY_REMOTEURL=http://x",
                  "REGISTRY_PROXY_USERNAME=u", NULL};
    assert_null(load_env(e5, WERR_INVALID, "username and password go together"));
    char *e6[] = {"REGISTRY_STORAGE=inmemory",
                  "REGISTRY_PROXY_UPSTREAMS=[{prefix: a, remoteurl: 'http://x', colour: red}]",
                  NULL};
    assert_null(load_env(e6, WERR_INVALID, "unknown key"));
}

static void test_upstream_for(void **state)
{
    char *env[] = {"REGISTRY_STORAGE=inmemory",
                   "REGISTRY_PROXY_UPSTREAMS=[{prefix: hub, remoteurl: 'http://a'}, {prefix: "
                   "hub/special, remoteurl: 'http://b', remoteprefix: x/y}, {prefix: library, "
                   "remoteprefix: library, remoteurl: 'http://c'}]",
                   NULL};
    struct config *c = load_env(env, 0, NULL);
    struct arena *a = arena_new();
    const char *remote;
    const struct config_upstream *u = proxy_upstream_for(c, a, "hub/library/alpine", &remote);
    assert_non_null(u);
    assert_string_equal(u->remoteurl, "http://a");
    assert_string_equal(remote, "library/alpine");
    u = proxy_upstream_for(c, a, "hub/special/tool", &remote); /* the longest prefix */
    assert_string_equal(u->remoteurl, "http://b");
    assert_string_equal(remote, "x/y/tool");
    u = proxy_upstream_for(c, a, "library/alpine", &remote);
    assert_string_equal(remote, "library/alpine");
    assert_null(proxy_upstream_for(c, a, "hubx/alpine", &remote)); /* '/' boundary */
    assert_null(proxy_upstream_for(c, a, "mine/app", &remote));
    assert_null(proxy_upstream_for(c, a, "hub", &remote)); /* nothing left to ask for */
    arena_free(a);
    config_free(c);
}

static void put_blob(struct registry *r, struct arena *a, const char *data, char dg[DIGEST_MAX_STR])
{
    digest_of(DIGEST_SHA256, data, strlen(data), dg);
    assert_int_equal(storage_put(r->d, path_blob_data(a, dg), data, strlen(data)), 0);
}

static void test_expire(void **state)
{
    char *env[] = {"REGISTRY_STORAGE=inmemory",
                   "REGISTRY_PROXY_UPSTREAMS=[{prefix: short, remoteurl: 'http://a', ttl: 60s}, "
                   "{prefix: keep, remoteurl: 'http://a', ttl: 0}]",
                   NULL};
    struct config *c = load_env(env, 0, NULL);
    struct storage_driver *d;
    assert_int_equal(driver_inmemory_new(&d), 0);
    struct registry r = {.d = d, .cfg = c};
    struct arena *a = arena_new();
    char b1[DIGEST_MAX_STR], b2[DIGEST_MAX_STR], m[DIGEST_MAX_STR];
    put_blob(&r, a, "layer one", b1);
    put_blob(&r, a, "layer shared", b2);
    const char *mf = "{\"schemaVersion\":2}";
    digest_of(DIGEST_SHA256, mf, strlen(mf), m);
    assert_int_equal(proxy_manifest_store(&r, a, "short/x", "v1", mf, strlen(mf), m), 0);
    assert_int_equal(proxy_blob_link(&r, a, "short/x", b1, NULL), 0);
    assert_int_equal(proxy_blob_link(&r, a, "short/x", b2, NULL), 0);
    assert_int_equal(proxy_blob_link(&r, a, "keep/y", b2, NULL), 0);
    assert_int_equal(proxy_touch(&r, a, "short/x", 'm', m, 0), 0);
    assert_int_equal(proxy_touch(&r, a, "short/x", 'b', b1, 0), 0);
    assert_int_equal(proxy_touch(&r, a, "short/x", 'b', b2, 0), 0);
    assert_int_equal(proxy_touch(&r, a, "keep/y", 'b', b2, 0), 0);
    size_t n = 9;
    /* within the ttl: nothing goes */
    assert_int_equal(proxy_expire(&r, time(NULL) + 30, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(proxy_manifest_has(&r, a, "short/x", m), 0);
    /* past it: short/x's manifest, tag and links go; b1's data too, b2's stays (keep/y) */
    assert_int_equal(proxy_expire(&r, time(NULL) + 120, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(proxy_manifest_has(&r, a, "short/x", m), WERR_NOTFOUND);
    char *cur;
    assert_int_equal(proxy_tag_current(&r, a, "short/x", "v1", &cur), WERR_NOTFOUND);
    struct blob_desc bd;
    assert_int_equal(registry_blob_stat(&r, a, "short/x", b1, &bd), WERR_NOTFOUND);
    struct storage_stat st;
    assert_int_equal(storage_stat(d, path_blob_data(a, b1), &st), WERR_NOTFOUND);
    assert_int_equal(registry_blob_stat(&r, a, "keep/y", b2, &bd), 0);
    /* ttl 0: never, however late */
    assert_int_equal(proxy_expire(&r, time(NULL) + 100000000, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(registry_blob_stat(&r, a, "keep/y", b2, &bd), 0);
    arena_free(a);
    storage_driver_free(d);
    config_free(c);
}

/* the fetch lock: exclusive, with a bounded wait, and its file removed on
 * release, also when a waiter was queued on it (the waiter then holds the
 * new file, not the removed one) */
static void test_fetch_lock(void **state)
{
    char dir[] = "/tmp/wharf-plock-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct storage_driver *d;
    assert_int_equal(driver_filesystem_new(dir, &d), 0);
    struct registry r = {.d = d};
    const char *dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char path[256];
    snprintf(path, sizeof path, "%s/wharf/proxy/locks/sha256-%s.lock", dir, dg + 7);
    /* the child is forked before any lock is taken, as the master forks
     * workers holding none; it waits for the parent's lock, which the parent
     * releases after 300 ms */
    int go[2], pfd[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char g;
        if (read(go[0], &g, 1) != 1) _exit(3);
        struct arena *ca = arena_new();
        struct proxy_lock lc = PROXY_LOCK_INIT;
        int ok = proxy_lock(&r, ca, dg, 10, &lc) == 0 && lc.lk != NULL;
        struct stat sb;
        ok = ok && stat(path, &sb) == 0; /* it holds the file that is at the path now */
        char c = ok ? 'y' : 'n';
        if (write(pfd[1], &c, 1) != 1) _exit(3);
        usleep(300 * 1000);
        proxy_unlock(&lc);
        arena_free(ca);
        _exit(ok ? 0 : 1);
    }
    struct arena *a = arena_new();
    struct proxy_lock l1 = PROXY_LOCK_INIT, l2 = PROXY_LOCK_INIT;
    assert_int_equal(proxy_lock(&r, a, dg, 5, &l1), 0);
    assert_non_null(l1.lk);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    /* held: a second taker gives up after its wait */
    assert_int_equal(proxy_lock(&r, a, dg, 0, &l2), WERR_BUSY);
    assert_null(l2.lk);
    assert_int_equal(write(go[1], "g", 1), 1);
    usleep(300 * 1000);
    proxy_unlock(&l1);
    assert_null(l1.lk);
    char c = 0;
    assert_int_equal(read(pfd[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    /* while the child holds it, this process cannot take it */
    assert_int_equal(proxy_lock(&r, a, dg, 0, &l2), WERR_BUSY);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* released by both: no file left; free again */
    assert_int_equal(stat(path, &sb), -1);
    assert_int_equal(proxy_lock(&r, a, dg, 0, &l2), 0);
    proxy_unlock(&l2);
    proxy_unlock(&l2); /* idempotent */
    assert_int_equal(stat(path, &sb), -1);
    close(go[0]);
    close(go[1]);
    close(pfd[0]);
    close(pfd[1]);
    arena_free(a);
    storage_driver_free(d);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_upstreams), cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_upstream_for),     cmocka_unit_test(test_expire),
        cmocka_unit_test(test_fetch_lock),
    };
    return cmocka_run_group_tests_name("proxy_state", tests, NULL, NULL);
}
