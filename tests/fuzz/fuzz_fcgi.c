/* fuzz_fcgi: whole requests as nginx hands them over (fcgi/http.c,
 * fcgi/router.c and the handlers behind them): FastCGI params turned into a
 * struct request, routed, name/reference grammar, query parameters, Range,
 * Content-Range, Authorization... served from an in-memory store created
 * afresh for every input (no state between inputs). Input: up to 8 requests
 * separated by lines "%%"; each is "NAME=VALUE" lines (a name may repeat, as
 * nginx sends a repeated header) up to an empty line, then its body. */
#include "fuzz.h"

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
    (void)buf;
    f->out += n;
    return 0;
}

static struct config *cfg;

static void teardown(void)
{
    config_free(cfg);
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
    if (!cfg) {
        char *const env[] = {"REGISTRY_STORAGE=inmemory", "REGISTRY_STORAGE_DELETE_ENABLED=true",
                             "REGISTRY_LOG_LEVEL=error", NULL};
        char err[256];
        if (config_load(NULL, env, &cfg, err, sizeof err) != 0) {
            fprintf(stderr, "fuzz_fcgi: %s\n", err);
            abort();
        }
        log_init(LOG_ERROR, 0, NULL);
        atexit(teardown);
    }
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
