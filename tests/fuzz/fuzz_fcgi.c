/* fuzz_fcgi: whole requests as nginx hands them over (fcgi/http.c,
 * fcgi/router.c and the handlers behind them): FastCGI params turned into a
 * struct request, routed, name/reference grammar, query parameters, Range,
 * Content-Range... served from an in-memory store created afresh for every
 * input (no state between inputs), and Wharf's token service at /auth/token
 * (forms, scopes, Basic credentials, refresh tokens; user alice, password
 * "pw"; access rules). Input: up to 8 requests
 * separated by lines "%%"; each is "NAME=VALUE" lines (a name may repeat, as
 * nginx sends a repeated header) up to an empty line, then its body. */
#include "fuzz.h"

#include <crypt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../../fcgi/router.h"
#include "../../fcgi/transport.h"
#include "../../lib/config.h"
#include "../../lib/log.h"

#define MAX_PARAMS 64

struct fio {
    char *name[MAX_PARAMS], *value[MAX_PARAMS];
    size_t n;
    const uint8_t *body;
    size_t body_len, body_off;
    size_t out;
};

static const char *p_param(void *ctx, const char *name)
{
    struct fio *f = ctx;
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->name[i], name)) return f->value[i];
    return NULL;
}

static size_t p_param_all(void *ctx, const char *name, const char **vals, size_t max)
{
    struct fio *f = ctx;
    size_t k = 0;
    for (size_t i = 0; i < f->n && k < max; i++)
        if (!strcmp(f->name[i], name)) vals[k++] = f->value[i];
    return k;
}

static ssize_t p_read(void *ctx, void *buf, size_t n)
{
    struct fio *f = ctx;
    size_t left = f->body_len - f->body_off;
    if (n > left) n = left;
    if (n > 1000) n = 1000; /* short reads, as a socket gives them */
    memcpy(buf, f->body + f->body_off, n);
    f->body_off += n;
    return (ssize_t)n;
}

static int p_write(void *ctx, const void *buf, size_t n)
{
    struct fio *f = ctx;
    /* FUZZ_FCGI_SHOW=1: the responses on stderr, to see what a seed reaches */
    if (getenv("FUZZ_FCGI_SHOW")) fwrite(buf, 1, n, stderr);
    f->out += n;
    return 0;
}

static struct config *cfg;
static int files[3] = {-1, -1, -1};

static void teardown(void)
{
    config_free(cfg);
    for (int i = 0; i < 3; i++)
        if (files[i] >= 0) close(files[i]);
}

/* setup: the configuration, and the token service's signing key, users and
 * access rules as files (memfds) that live as long as the process */
static void setup(void)
{
    static const unsigned char seed[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                           7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
    static struct crypt_data cd;
    static const char rules[] = "groups:\n  admins: [admin]\n"
                                "rules:\n"
                                "  - repositories: [\"public/*\"]\n    anonymous: true\n"
                                "    actions: [pull]\n"
                                "  - repositories: [\"a/*\", \"c/*\"]\n    users: [alice]\n"
                                "    actions: [pull, push]\n"
                                "  - repositories: [\"*\"]\n    groups: [admins]\n"
                                "    actions: [\"*\"]\n";
    char key_path[64], users_path[64], rules_path[64], users[256];
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof seed);
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    if (!k || !b || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1) abort();
    long pl = BIO_get_mem_data(b, &pem);
    files[0] = fuzz_file((const uint8_t *)pem, (size_t)pl, key_path, sizeof key_path);
    BIO_free(b);
    EVP_PKEY_free(k);
    /* bcrypt at the lowest cost: a login costs a millisecond, not a second */
    const char *h = crypt_rn("pw", "$2y$04$abcdefghijklmnopqrstuu", &cd, (int)sizeof cd);
    if (!h || h[0] == '*') abort();
    snprintf(users, sizeof users, "alice:%s\nadmin:%s\n", h, h);
    files[1] = fuzz_file((const uint8_t *)users, strlen(users), users_path, sizeof users_path);
    files[2] = fuzz_file((const uint8_t *)rules, strlen(rules), rules_path, sizeof rules_path);
    if (files[0] < 0 || files[1] < 0 || files[2] < 0) abort();
    char e_key[128], e_users[128], e_rules[128];
    snprintf(e_key, sizeof e_key, "REGISTRY_FASTCGI_TOKENSERVICE_SIGNINGKEY=%s", key_path);
    snprintf(e_users, sizeof e_users, "REGISTRY_FASTCGI_TOKENSERVICE_HTPASSWD=%s", users_path);
    snprintf(e_rules, sizeof e_rules, "REGISTRY_FASTCGI_TOKENSERVICE_ACCESSRULES=%s", rules_path);
    char *const env[] = {"REGISTRY_STORAGE=inmemory",
                         "REGISTRY_STORAGE_DELETE_ENABLED=true",
                         "REGISTRY_LOG_LEVEL=error",
                         "REGISTRY_FASTCGI_TOKENSERVICE_ISSUER=fuzz-issuer",
                         "REGISTRY_FASTCGI_TOKENSERVICE_SERVICE=fuzz",
                         e_key,
                         e_users,
                         e_rules,
                         NULL};
    char err[256];
    if (config_load(NULL, env, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_fcgi: %s\n", err);
        abort();
    }
    log_init(LOG_ERROR, 0, NULL);
    atexit(teardown);
}

static void one_request(struct app *app, const uint8_t *data, size_t size)
{
    struct fio f;
    memset(&f, 0, sizeof f);
    while (size) {
        char *line = fuzz_split(&data, &size);
        if (!*line) {
            free(line);
            break;
        }
        char *eq = strchr(line, '=');
        if (eq && f.n < MAX_PARAMS) {
            *eq = '\0';
            f.name[f.n] = line;
            f.value[f.n++] = eq + 1;
        } else {
            free(line);
        }
    }
    f.body = data;
    f.body_len = size;
    struct http_io io = {
        .param = p_param, .param_all = p_param_all, .read = p_read, .write = p_write, .ctx = &f};
    struct arena *a = arena_new();
    (void)transport_handle(app, a, &io);
    arena_free(a);
    for (size_t i = 0; i < f.n; i++)
        free(f.name[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg) setup();
    struct app *app = NULL;
    char err[256];
    if (app_new(cfg, &app, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_fcgi: %s\n", err);
        abort();
    }
    for (int nreq = 0; nreq < 8 && size; nreq++) {
        /* this request: up to the next "\n%%\n" */
        size_t len = size, skip = 0;
        for (size_t i = 0; i + 4 <= size; i++)
            if (!memcmp(data + i, "\n%%\n", 4)) {
                len = i + 1;
                skip = 3;
                break;
            }
        one_request(app, data, len);
        data += len + skip;
        size -= len + skip;
    }
    app_free(app);
    return 0;
}
