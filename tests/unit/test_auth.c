/* test_auth.c — handlers/auth_htpasswd.c (bcrypt only, warnings, constant
 * answers), HTTP Basic parsing, the access-rules file of the token service,
 * and the auth: configuration (file and environment only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../handlers/access_rules.h"
#include "../../handlers/auth.h"
#include "../../handlers/htpasswd.h"
#include "../../lib/arena.h"
#include "../../lib/config.h"
#include "../../lib/err.h"

static char dir[64];

static const char *write_file(const char *name, const char *text)
{
    static char path[4][256];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static char *bcrypt(const char *pw)
{
    struct crypt_data cd;
    memset(&cd, 0, sizeof cd);
    char salt[64];
    assert_non_null(crypt_gensalt_rn("$2y$", 4, NULL, 0, salt, sizeof salt));
    return strdup(crypt_r(pw, salt, &cd));
}

static void test_htpasswd(void **state)
{
    char *ha = bcrypt("pw-alice"), *hb = bcrypt("pw-bob"), text[1024], err[256] = "";
    snprintf(text, sizeof text,
             "# comment\nalice:%s\nold:$apr1$xyz$abcdefghijklmnopqrstuv\n\nbob:%s\nsha:{SHA}abc=\n",
             ha, hb);
    struct htpasswd *h = NULL;
    assert_int_equal(htpasswd_load(write_file("h1", text), &h, err, sizeof err), 0);
    assert_int_equal(htpasswd_count(h), 2);
    assert_int_equal(htpasswd_check(h, "alice", "pw-alice"), 0);
    assert_int_equal(htpasswd_check(h, "bob", "pw-bob"), 0);
    assert_int_equal(htpasswd_check(h, "alice", "pw-bob"), WERR_DENIED);
    assert_int_equal(htpasswd_check(h, "alice", ""), WERR_DENIED);
    assert_int_equal(htpasswd_check(h, "nobody", "pw-alice"), WERR_DENIED);
    assert_int_equal(htpasswd_check(h, "old", "x"), WERR_DENIED);
    assert_string_equal(htpasswd_hash(h, "alice"), ha);
    htpasswd_free(h);
    assert_int_equal(htpasswd_load("/nonexistent/htpasswd", &h, err, sizeof err), WERR_IO);
    assert_non_null(strstr(err, "/nonexistent/htpasswd"));
    assert_int_equal(htpasswd_load(write_file("h2", "no-colon-here\n"), &h, err, sizeof err),
                     WERR_INVALID);
    assert_non_null(strstr(err, ":1:"));
    free(ha);
    free(hb);
}

static void test_basic_parse(void **state)
{
    struct arena *a = arena_new();
    char *u, *p;
    assert_int_equal(auth_basic_parse(a, "Basic YWxpY2U6cDpx", &u, &p), 0); /* alice:p:q */
    assert_string_equal(u, "alice");
    assert_string_equal(p, "p:q");
    assert_int_equal(auth_basic_parse(a, "basic  YWxpY2U6", &u, &p), 0);
    assert_string_equal(p, "");
    static const char *const bad[] = {
        "Bearer abc",    "Basic", "Basic !!!!", "Basic YWxpY2U=", "Basic OnB3" /* ":pw" */,
        "Basic YQBiOmM=" /* a\0b:c */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (auth_basic_parse(a, bad[i], &u, &p) != WERR_INVALID) fail_msg("accepted %s", bad[i]);
    arena_free(a);
}

static void test_access_rules(void **state)
{
    char err[256] = "";
    struct access_rules *r = NULL;
    const char *yml = "groups:\n  admins: [root]\nrules:\n"
                      "  - repositories: [\"public/*\"]\n    anonymous: true\n    actions: [pull]\n"
                      "  - repository: \"team/*\"\n    users: [alice]\n    actions: [pull, push]\n"
                      "  - repositories: [\"*\"]\n    groups: [admins]\n    actions: [\"*\"]\n"
                      "  - repositories: [\"shared/?\"]\n    users: [\"*\"]\n    actions: pull\n";
    assert_int_equal(access_rules_load(write_file("r1.yml", yml), &r, err, sizeof err), 0);
    assert_int_equal(access_rights(r, NULL, "public/a"), RIGHT_PULL);
    assert_int_equal(access_rights(r, NULL, "team/a"), 0);
    assert_int_equal(access_rights(r, "alice", "team/a/b"), RIGHT_PULL | RIGHT_PUSH);
    assert_int_equal(access_rights(r, "alice", "other/x"), 0);
    assert_int_equal(access_rights(r, "alice", "public/a"), RIGHT_PULL);
    assert_int_equal(access_rights(r, "root", "other/x"), RIGHT_ALL);
    assert_int_equal(access_rights(r, "bob", "shared/x"), RIGHT_PULL);
    assert_int_equal(access_rights(r, "bob", "shared/xy"), 0);
    assert_int_equal(access_rights(r, NULL, "shared/x"), 0);
    struct arena *a = arena_new();
    const char **pats;
    size_t n;
    assert_int_equal(access_pull_patterns(r, "alice", a, &pats, &n), 1);
    assert_int_equal(n, 3); /* public, team and shared patterns */
    assert_int_equal(access_pull_patterns(r, "root", a, &pats, &n), 0); /* everything */
    arena_free(a);
    access_rules_free(r);
    /* no rules file: an authenticated user has every right, anonymous none */
    assert_int_equal(access_rights(NULL, "x", "a"), RIGHT_ALL);
    assert_int_equal(access_rights(NULL, NULL, "a"), 0);
    static const char *const bad[] = {
        "rules:\n  - repositories: [a]\n    actions: [fly]\n",
        "rules:\n  - repositories: [a]\n    users: [x]\n",
        "rules:\n  - users: [x]\n    actions: [pull]\n",
        "rules:\n  - repositories: [a]\n    groups: [nope]\n    actions: [pull]\n",
        "rulez: []\n",
        "rules: [\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        if (access_rules_load(write_file("bad.yml", bad[i]), &r, err, sizeof err) == 0)
            fail_msg("accepted bad rules %zu", i);
        assert_non_null(strstr(err, "bad.yml"));
    }
}

static void test_config_auth(void **state)
{
    char err[512] = "";
    struct config *c = NULL;
    char *env1[] = {"REGISTRY_STORAGE=inmemory", "REGISTRY_AUTH=htpasswd",
                    "REGISTRY_AUTH_HTPASSWD_REALM=Reg", "REGISTRY_AUTH_HTPASSWD_PATH=/x/htpasswd",
                    NULL};
    assert_int_equal(config_load(NULL, env1, &c, err, sizeof err), 0);
    assert_int_equal(c->auth_type, AUTH_HTPASSWD);
    assert_string_equal(c->auth_realm, "Reg");
    assert_string_equal(c->auth_htpasswd_path, "/x/htpasswd");
    config_free(c);
    char *env2[] = {"REGISTRY_STORAGE=inmemory", "REGISTRY_AUTH=silly", NULL};
    assert_int_equal(config_load(NULL, env2, &c, err, sizeof err), WERR_INVALID); /* realm */
    char *env3[] = {"REGISTRY_STORAGE=inmemory",
                    "REGISTRY_AUTH=token",
                    "REGISTRY_AUTH_TOKEN_REALM=https://a/auth",
                    "REGISTRY_AUTH_TOKEN_SERVICE=svc",
                    "REGISTRY_AUTH_TOKEN_ISSUER=iss",
                    "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE=/x.crt",
                    "REGISTRY_AUTH_TOKEN_SIGNINGALGORITHMS=[ES256, RS256]",
                    "REGISTRY_AUTH_TOKEN_LEEWAY=10s",
                    NULL};
    assert_int_equal(config_load(NULL, env3, &c, err, sizeof err), 0);
    assert_int_equal(c->auth_type, AUTH_TOKEN);
    assert_int_equal(c->auth_nsigalgs, 2);
    assert_int_equal(c->auth_leeway, 10);
    config_free(c);
    char *env4[] = {"REGISTRY_STORAGE=inmemory",
                    "REGISTRY_AUTH=token",
                    "REGISTRY_AUTH_TOKEN_REALM=r",
                    "REGISTRY_AUTH_TOKEN_SERVICE=s",
                    "REGISTRY_AUTH_TOKEN_ISSUER=i",
                    "REGISTRY_AUTH_TOKEN_JWKS=/j",
                    "REGISTRY_AUTH_TOKEN_SIGNINGALGORITHMS=[HS256]",
                    NULL};
    assert_int_equal(config_load(NULL, env4, &c, err, sizeof err), WERR_INVALID);
    assert_non_null(strstr(err, "HS256"));
    const char *two = "version: 0.1\nstorage: inmemory\nauth:\n  silly:\n    realm: a\n"
                      "    service: b\n  htpasswd:\n    realm: a\n    path: /p\n";
    assert_int_equal(config_load(write_file("two.yml", two), NULL, &c, err, sizeof err),
                     WERR_INVALID);
    assert_non_null(strstr(err, "only one auth method"));
    const char *ts = "version: 0.1\nstorage: inmemory\nfastcgi:\n  tokenservice:\n"
                     "    issuer: i\n    service: s\n    signingkey: /k.pem\n    htpasswd: /h\n";
    assert_int_equal(config_load(write_file("ts.yml", ts), NULL, &c, err, sizeof err), 0);
    assert_int_equal(c->ts_enabled, 1);
    assert_string_equal(c->ts_path, "/auth/token");
    assert_int_equal(c->ts_expiration, 300);
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    config_dump(c, mf);
    fclose(mf);
    assert_non_null(strstr(buf, "  tokenservice:\n    path: \"/auth/token\""));
    free(buf);
    config_free(c);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_auth.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_htpasswd),
        cmocka_unit_test(test_basic_parse),
        cmocka_unit_test(test_access_rules),
        cmocka_unit_test(test_config_auth),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
