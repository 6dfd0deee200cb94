/* test_builds.c — issue 18's pieces without processes: the webhook
 * signature and token checks (handlers/hooks.c) against openssl's HMAC,
 * the tag rules (lib/buildq.c buildq_tags), FROM matching for chained
 * builds (admin/builder.c), and the builds section's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../admin/builder.h"
#include "../../handlers/hooks.h"
#include "../../lib/buildq.h"
#include "../../lib/config.h"

static void hexmac(const char *key, const char *body, char out[65])
{
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body, strlen(body), mac, &len);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static void t_signature(void **state)
{
    (void)state;
    const char *body = "{\"ref\":\"refs/heads/main\"}", *key = "0123456789abcdef-secret";
    char hex[65], pre[80];
    hexmac(key, body, hex);
    snprintf(pre, sizeof pre, "sha256=%s", hex);
    assert_int_equal(hooks_signature_ok(key, body, strlen(body), pre, 1), 1);
    assert_int_equal(hooks_signature_ok(key, body, strlen(body), hex, 0), 1);
    assert_int_equal(hooks_signature_ok(key, body, strlen(body), hex, 1), 0); /* prefix needed */
    assert_int_equal(hooks_signature_ok(key, body, strlen(body), pre, 0), 0);
    assert_int_equal(hooks_signature_ok("another-secret-key", body, strlen(body), pre, 1), 0);
    assert_int_equal(hooks_signature_ok(key, body, strlen(body) - 1, pre, 1), 0); /* body changed */
    pre[20] = pre[20] == 'a' ? 'b' : 'a';
    assert_int_equal(hooks_signature_ok(key, body, strlen(body), pre, 1), 0);
    for (size_t i = 0; i < 64; i++) /* upper-case hex is the same MAC */
        if (hex[i] >= 'a') hex[i] = (char)(hex[i] - 32);
    assert_int_equal(hooks_signature_ok(key, body, strlen(body), hex, 0), 1);
    hex[63] = 0; /* too short */
    assert_int_equal(hooks_signature_ok(key, body, strlen(body), hex, 0), 0);
    assert_int_equal(hooks_signature_ok(key, body, strlen(body), NULL, 1), 0);
    assert_int_equal(hooks_signature_ok(key, body, strlen(body), "sha256=zz", 1), 0);
    assert_int_equal(hooks_signature_ok("", body, strlen(body), "sha256=", 1), 0);
}

static void t_token(void **state)
{
    (void)state;
    assert_int_equal(hooks_token_ok("0123456789abcdef", "0123456789abcdef"), 1);
    assert_int_equal(hooks_token_ok("0123456789abcdef", "0123456789abcdeF"), 0);
    assert_int_equal(hooks_token_ok("0123456789abcdef", "0123456789abcde"), 0);
    assert_int_equal(hooks_token_ok("0123456789abcdef", ""), 0);
    assert_int_equal(hooks_token_ok("0123456789abcdef", NULL), 0);
    assert_int_equal(hooks_token_ok("", ""), 0);
}

static void t_from(void **state)
{
    (void)state;
    assert_int_equal(builder_from_matches("127.0.0.1:5000/demo/base:latest", "127.0.0.1:5000",
                                          "demo/base", "latest"),
                     1);
    assert_int_equal(
        builder_from_matches("127.0.0.1:5000/demo/base", "127.0.0.1:5000", "demo/base", "latest"),
        1);
    assert_int_equal(
        builder_from_matches("127.0.0.1:5000/demo/base", "127.0.0.1:5000", "demo/base", "1.0"), 0);
    assert_int_equal(
        builder_from_matches("127.0.0.1:5000/demo/base:1.0", "127.0.0.1:5000", "demo/base", "1.0"),
        1);
    assert_int_equal(builder_from_matches("127.0.0.1:5000/demo/basement:1.0", "127.0.0.1:5000",
                                          "demo/base", "1.0"),
                     0);
    assert_int_equal(builder_from_matches("127.0.0.1:5001/demo/base:latest", "127.0.0.1:5000",
                                          "demo/base", "latest"),
                     0);
    assert_int_equal(builder_from_matches("127.0.0.1:5000/demo/base@sha256:abcd", "127.0.0.1:5000",
                                          "demo/base", "latest"),
                     0);
    assert_int_equal(
        builder_from_matches("docker.io/demo/base:latest", "127.0.0.1:5000", "demo/base", "latest"),
        0);
}

static struct config *load(const char *yaml, char *err, size_t errlen)
{
    char path[] = "/tmp/test_builds_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    struct config *c = NULL;
    char *env[] = {NULL};
    config_load(path, env, &c, err, errlen);
    unlink(path);
    return c;
}

#define HEAD                                                                                       \
    "version: 0.1\nstorage: {filesystem: {rootdirectory: /tmp/x}}\nhttp: {addr: ':5000'}\n"        \
    "builds:\n  sources:\n    - name: app\n      git: file:///r\n"                                 \
    "      secret: \"0123456789abcdef0123\"\n      repository: demo/app\n"

static void t_tags(void **state)
{
    (void)state;
    char err[512] = "";
    struct config *c =
        load(HEAD "      rules:\n"
                  "        - {branch: main, tag: latest}\n"
                  "        - {branch: main, tag: stable}\n"
                  "        - {tag: '^v([0-9]+)\\.([0-9]+)$', tag_template: '{1}.{2}-x'}\n"
                  "        - {tag: '^rel-'}\n",
             err, sizeof err);
    assert_non_null(c);
    const struct config_build_source *s = config_build_source(c, "app");
    assert_non_null(s);
    assert_string_equal(s->dockerfile, "Dockerfile");
    assert_string_equal(s->context, ".");
    assert_string_equal(c->builds_registry, "127.0.0.1:5000");
    char *tags[BUILDQ_TAGS_MAX];
    assert_int_equal(buildq_tags(s, "refs/heads/main", tags, BUILDQ_TAGS_MAX), 2);
    assert_string_equal(tags[0], "latest");
    assert_string_equal(tags[1], "stable");
    free(tags[0]);
    free(tags[1]);
    assert_int_equal(buildq_tags(s, "refs/heads/dev", tags, BUILDQ_TAGS_MAX), 0);
    assert_int_equal(buildq_tags(s, "refs/tags/main", tags, BUILDQ_TAGS_MAX), 0);
    assert_int_equal(buildq_tags(s, "refs/tags/v1.20", tags, BUILDQ_TAGS_MAX), 1);
    assert_string_equal(tags[0], "1.20-x");
    free(tags[0]);
    assert_int_equal(buildq_tags(s, "refs/tags/rel-7", tags, BUILDQ_TAGS_MAX), 1);
    assert_string_equal(tags[0], "rel-7"); /* the default template: the whole git tag */
    free(tags[0]);
    assert_int_equal(buildq_tags(s, "refs/tags/v1.2.3", tags, BUILDQ_TAGS_MAX), 0);
    config_free(c);
}

static void t_refused(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *msg;
    } cases[] = {
        {HEAD "      rules: []\n", "rules: at least one"},
        {HEAD "      rules: [{branch: main}]\n", "tag: required"},
        {HEAD "      rules: [{branch: main, tag: 'bad tag'}]\n", "no valid image tag"},
        {HEAD "      rules: [{tag: '(['}]\n", "bad regex"},
        {HEAD "      rules: [{tag: 'x', tag_template: '{1}'}]\n", "the regex has 0 group"},
        {HEAD "      rules: [{tag: 'x', tag_template: '{a}'}]\n", "the only use of braces"},
        {HEAD "      rules: [{branch: main, tag: x}]\n      dockerfile: ../Dockerfile\n",
         "dockerfile: a relative path"},
        {HEAD "      rules: [{branch: main, tag: x}]\n      context: /etc\n",
         "context: a relative path"},
        {HEAD "      rules: [{branch: main, tag: x}]\n      args: {'A-B': x}\n",
         "build argument's name"},
        {HEAD "      rules: [{branch: main, tag: x}]\n      colour: red\n", "unknown key"},
        {HEAD "      rules: [{branch: main, tag: x}]\n    - name: app\n      git: file:///r\n"
              "      secret: \"0123456789abcdef0123\"\n      repository: demo/app\n"
              "      rules: [{branch: main, tag: x}]\n",
         "listed twice"},
        {HEAD "      rules: [{branch: main, tag: x}]\n  registry: http://x/\n", "host[:port] only"},
        {HEAD "      rules: [{branch: main, tag: x}]\n  workdir: relative\n", "absolute"},
        {HEAD "      rules: [{branch: main, tag: x}]\n  concurrency: 0\n", "builds.concurrency"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        struct config *c = load(cases[i].yaml, err, sizeof err);
        if (c || !strstr(err, cases[i].msg))
            fail_msg("case %zu: want an error with \"%s\", got \"%s\"", i, cases[i].msg, err);
    }
    char err[512] = "";
    struct config *c = load("version: 0.1\nstorage: {filesystem: {rootdirectory: /tmp/x}}\n"
                            "builds:\n  sources:\n    - name: APP\n      git: x\n",
                            err, sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "lower-case"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_signature), cmocka_unit_test(t_token),   cmocka_unit_test(t_from),
        cmocka_unit_test(t_tags),      cmocka_unit_test(t_refused),
    };
    return cmocka_run_group_tests_name("tests", tests, NULL, NULL);
}
