/* curl_lazy.c — libcurl, loaded when a configuration first needs it.
 *
 * Only the S3 driver and the pull-through cache speak HTTP to the outside.
 * Linking libcurl into the binary maps it and its ~28 dependencies (gnutls,
 * krb5, ldap, ssh2, rtmp, ...) into every process: about 3.5 ms more per exec
 * (each request in CGI mode is one exec) and 4 MB more RSS in the master and
 * about 1 MB in each worker on Debian 12, for registries that never use it.
 * So the binary is not linked with -lcurl: these definitions of the libcurl
 * functions Wharf calls dlopen "libcurl.so.4" on first use (or when
 * curl_lazy_load() is called at start-up, which reports a missing library as a
 * configuration error) and forward to it. A function called when the library
 * could not be loaded fails the way libcurl fails (NULL, CURLE_FAILED_INIT).
 *
 * Adding a libcurl call elsewhere: add its forwarder here, or the link fails
 * with an undefined reference (the binary is not linked with -lcurl). */
#define CURL_DISABLE_TYPECHECK 1 /* curl.h's setopt macros would rename ours */
#include "curl_lazy.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CURL_SONAME "libcurl.so.4"

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLcode (*easy_perform)(CURL *);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    char *(*easy_escape)(CURL *, const char *, int);
    void (*free)(void *);
    time_t (*getdate)(const char *, const time_t *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
} L;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded; /* 1 when every symbol resolved */
static char why[256];

#define SYM(field, name)                                                                           \
    do {                                                                                           \
        *(void **)&L.field = dlsym(h, name);                                                       \
        if (!L.field) {                                                                            \
            snprintf(why, sizeof why, "%s: symbol %s missing", CURL_SONAME, name);                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static void load(void)
{
    void *h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, sizeof why, "%s", e ? e : "cannot load " CURL_SONAME);
        return;
    }
    SYM(global_init, "curl_global_init");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_reset, "curl_easy_reset");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(easy_escape, "curl_easy_escape");
    SYM(free, "curl_free");
    SYM(getdate, "curl_getdate");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
    SYM(multi_init, "curl_multi_init");
    SYM(multi_add_handle, "curl_multi_add_handle");
    SYM(multi_remove_handle, "curl_multi_remove_handle");
    SYM(multi_perform, "curl_multi_perform");
    SYM(multi_poll, "curl_multi_poll");
    SYM(multi_info_read, "curl_multi_info_read");
    SYM(multi_cleanup, "curl_multi_cleanup");
    /* the library stays loaded for the life of the process (h is not closed) */
    loaded = 1;
}

static int ready(void)
{
    pthread_once(&once, load);
    return loaded;
}

int curl_lazy_load(char *err, size_t errlen)
{
    if (ready()) return 0;
    if (err && errlen) snprintf(err, errlen, "libcurl is needed by this configuration: %s", why);
    return -1;
}

int curl_lazy_loaded(void)
{
    return loaded;
}

CURLcode curl_global_init(long flags)
{
    return ready() ? L.global_init(flags) : CURLE_FAILED_INIT;
}

CURL *curl_easy_init(void)
{
    return ready() ? L.easy_init() : NULL;
}

/* The one argument after the option is a long, an object pointer, a function
 * pointer, a curl_off_t or a blob pointer; libcurl numbers its options in
 * ranges of 10000 by that type (CURLOPTTYPE_*), which is how libcurl's own
 * curl_easy_setopt reads it. */
CURLcode curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
    if (!ready()) return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, opt);
    CURLcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        rc = L.easy_setopt(c, opt, va_arg(ap, long));
    else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
        rc = L.easy_setopt(c, opt, va_arg(ap, void *));
    else if (opt < CURLOPTTYPE_OFF_T)
        rc = L.easy_setopt(c, opt, va_arg(ap, void (*)(void)));
    else if (opt < CURLOPTTYPE_BLOB)
        rc = L.easy_setopt(c, opt, va_arg(ap, curl_off_t));
    else
        rc = L.easy_setopt(c, opt, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

/* every CURLINFO takes one pointer to where the answer goes */
CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
    if (!ready()) return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = L.easy_getinfo(c, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLcode curl_easy_perform(CURL *c)
{
    return ready() ? L.easy_perform(c) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *c)
{
    if (ready()) L.easy_cleanup(c);
}

void curl_easy_reset(CURL *c)
{
    if (ready()) L.easy_reset(c);
}

const char *curl_easy_strerror(CURLcode rc)
{
    return ready() ? L.easy_strerror(rc) : "libcurl could not be loaded";
}

char *curl_easy_escape(CURL *c, const char *s, int len)
{
    return ready() ? L.easy_escape(c, s, len) : NULL;
}

void curl_free(void *p)
{
    if (ready()) L.free(p);
}

time_t curl_getdate(const char *s, const time_t *unused)
{
    return ready() ? L.getdate(s, unused) : (time_t)-1;
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
    return ready() ? L.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l)
{
    if (ready()) L.slist_free_all(l);
}

CURLM *curl_multi_init(void)
{
    return ready() ? L.multi_init() : NULL;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *c)
{
    return ready() ? L.multi_add_handle(m, c) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *c)
{
    return ready() ? L.multi_remove_handle(m, c) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
    return ready() ? L.multi_perform(m, running) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int n, int ms, int *ret)
{
    return ready() ? L.multi_poll(m, extra, n, ms, ret) : CURLM_INTERNAL_ERROR;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
    return ready() ? L.multi_info_read(m, left) : NULL;
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
    return ready() ? L.multi_cleanup(m) : CURLM_INTERNAL_ERROR;
}
