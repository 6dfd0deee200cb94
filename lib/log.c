/* log.c — see log.h. The three formats are the reference's (Distribution
 * 2.8 on logrus), checked against docker-registry 2.8.2's own output:
 *
 *   text:     time="2026-12-03T20:34:52.512598147Z" level=error msg="..." k=v ...
 *             (time, level, msg, then func and file with reportcaller, then
 *             the fields sorted by key; a value is Go-quoted unless it is
 *             made only of [A-Za-z0-9-._/@^+])
 *   json:     {"k":"v",...} every key sorted (Go's encoding of a map), time,
 *             level, msg among them
 *   logstash: the same with @timestamp, @version "1" and message for time,
 *             msg (the logrus-logstash-hook formatter)
 *
 * A configured field named like a key of the formatter's own is renamed
 * "fields.<name>", as logrus does. Wharf adds one field of its own, pid (the
 * pool has several processes). The time is UTC in RFC 3339 with nanoseconds,
 * trailing zeros dropped (Go's RFC3339Nano). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "loghook.h"

#define LOG_LINE_MAX 16384 /* a longer line is cut (still one line) */
#define LOG_MSG_MAX 4096

struct log_kv {
    char *key, *value;
    int raw;
};

static struct {
    enum log_level level;
    int format;
    int fd;                /* 2, or the log file (owned) */
    int caller;            /* log.reportcaller */
    int access;            /* 0 off, else the access log's fd + 1 */
    struct log_kv *fields; /* sorted by key, renamed where they clash */
    size_t nfields;
    struct config_loghook *hooks; /* copies (see loghook.h) */
    size_t nhooks;
    unsigned hooked; /* the levels any enabled hook wants */
} L = {.level = LOG_INFO, .fd = 2};

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* ---------------------------------------------------------------- set-up */

static void fields_free(struct log_kv *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].key);
        free(f[i].value);
    }
    free(f);
}

static void hooks_free(struct config_loghook *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].addr);
        free(h[i].username);
        if (h[i].password) {
            memset(h[i].password, 0, strlen(h[i].password));
            free(h[i].password);
        }
        free(h[i].from);
        for (size_t j = 0; j < h[i].nto; j++)
            free(h[i].to[j]);
        free(h[i].to);
    }
    free(h);
}

static int set_output(const char *path)
{
    if (!path || !*path) {
        if (L.fd != 2) close(L.fd);
        L.fd = 2;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return WERR_IO;
    if (L.fd != 2) close(L.fd);
    L.fd = fd;
    return 0;
}

static void reset_extras(void)
{
    fields_free(L.fields, L.nfields);
    hooks_free(L.hooks, L.nhooks);
    L.fields = NULL;
    L.nfields = 0;
    L.hooks = NULL;
    L.nhooks = 0;
    L.hooked = 0;
    L.caller = 0;
    L.access = 0;
}

int log_init(enum log_level level, int json, const char *path)
{
    reset_extras();
    L.level = level;
    L.format = json ? LOG_FMT_JSON : LOG_FMT_TEXT;
    return set_output(path);
}

/* is key one of the formatter's own (then a field of that name is renamed)? */
static int reserved_key(int format, const char *k)
{
    static const char *const text[] = {"time", "level", "msg", "func", "file", "pid", NULL};
    static const char *const stash[] = {"@timestamp", "@version", "level", "message",
                                        "function",   "file",     "pid",   NULL};
    for (const char *const *r = format == LOG_FMT_LOGSTASH ? stash : text; *r; r++)
        if (!strcmp(*r, k)) return 1;
    return 0;
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct log_kv *)a)->key, ((const struct log_kv *)b)->key);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int copy_hooks(const struct config *cfg)
{
    if (!cfg->nlog_hooks) return 0;
    if (!(L.hooks = calloc(cfg->nlog_hooks, sizeof *L.hooks))) return WERR_NOMEM;
    for (size_t i = 0; i < cfg->nlog_hooks; i++) {
        const struct config_loghook *s = &cfg->log_hooks[i];
        struct config_loghook *d = &L.hooks[i];
        L.nhooks = i + 1;
        d->disabled = s->disabled;
        d->levels = s->levels;
        d->insecure = s->insecure;
        d->addr = dup_or_null(s->addr);
        d->username = dup_or_null(s->username);
        d->password = dup_or_null(s->password);
        d->from = dup_or_null(s->from);
        if ((s->addr && !d->addr) || (s->username && !d->username) ||
            (s->password && !d->password) || (s->from && !d->from))
            return WERR_NOMEM;
        if (s->nto && !(d->to = calloc(s->nto, sizeof(char *)))) return WERR_NOMEM;
        for (size_t j = 0; j < s->nto; j++) {
            if (!(d->to[j] = strdup(s->to[j]))) return WERR_NOMEM;
            d->nto = j + 1;
        }
        if (!d->disabled) L.hooked |= d->levels;
    }
    return 0;
}

int log_configure(const struct config *cfg, int cgi)
{
    reset_extras();
    L.level = (enum log_level)cfg->log_level;
    L.format = cfg->log_formatter;
    if (L.format < LOG_FMT_TEXT || L.format > LOG_FMT_LOGSTASH) L.format = LOG_FMT_TEXT;
    L.caller = cfg->log_reportcaller;
    int rc = set_output(cfg->log_file);
    if (!cfg->accesslog_disabled) /* stdout as the reference, unless it is the response */
        L.access = (cgi || (cfg->log_file && *cfg->log_file) ? L.fd : 1) + 1;
    if (cfg->nlog_fields) {
        L.fields = calloc(cfg->nlog_fields, sizeof *L.fields);
        if (!L.fields) return WERR_NOMEM;
        for (size_t i = 0; i < cfg->nlog_fields; i++) {
            const struct config_logfield *f = &cfg->log_fields[i];
            struct log_kv *d = &L.fields[i];
            L.nfields = i + 1;
            size_t kl = strlen(f->key) + sizeof "fields.";
            if (!(d->key = malloc(kl)) || !(d->value = strdup(f->value ? f->value : "")))
                return WERR_NOMEM;
            snprintf(d->key, kl, "%s%s", reserved_key(L.format, f->key) ? "fields." : "", f->key);
            d->raw = f->raw;
        }
        qsort(L.fields, L.nfields, sizeof *L.fields, kv_cmp);
    }
    int hrc = copy_hooks(cfg);
    return hrc ? hrc : rc;
}

int log_level_parse(const char *s)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, names[i]) == 0) return i;
    return -1;
}

int log_enabled(enum log_level level)
{
    return level <= L.level;
}

/* ---------------------------------------------------------------- a bounded line */

struct lbuf {
    char *p;
    size_t len, cap; /* cap: bytes usable before the final "\n" and NUL */
};

static void put(struct lbuf *b, const char *s, size_t n)
{
    if (b->len >= b->cap) return;
    if (n > b->cap - b->len) n = b->cap - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(struct lbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void putc_(struct lbuf *b, char c)
{
    put(b, &c, 1);
}

/* utf8_len: the length of the valid UTF-8 sequence at s (1..4), 0 if invalid */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    unsigned cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* Go's strconv.Quote: printable UTF-8 kept, the rest escaped */
static void put_go_quoted(struct lbuf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    char e[8];
    putc_(b, '"');
    while (*s) {
        size_t n = utf8_len(s);
        if (n > 1) {
            put(b, (const char *)s, n);
            s += n;
            continue;
        }
        unsigned char c = *s++;
        switch (c) {
        case '"': puts_(b, "\\\""); break;
        case '\\': puts_(b, "\\\\"); break;
        case '\n': puts_(b, "\\n"); break;
        case '\r': puts_(b, "\\r"); break;
        case '\t': puts_(b, "\\t"); break;
        case '\a': puts_(b, "\\a"); break;
        case '\b': puts_(b, "\\b"); break;
        case '\f': puts_(b, "\\f"); break;
        case '\v': puts_(b, "\\v"); break;
        default:
            if (c < 0x20 || c >= 0x7f) {
                snprintf(e, sizeof e, "\\x%02x", c);
                puts_(b, e);
            } else {
                putc_(b, (char)c);
            }
        }
    }
    putc_(b, '"');
}

/* a JSON string as Go's encoding/json writes it (HTML escaping off):
 * invalid UTF-8 becomes U+FFFD */
static void put_json_str(struct lbuf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    char e[8];
    putc_(b, '"');
    while (*s) {
        size_t n = utf8_len(s);
        if (n == 0) {
            puts_(b, "\\ufffd");
            s++;
            continue;
        }
        if (n > 1) {
            if (n == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
                puts_(b, s[2] == 0xa8 ? "\\u2028" : "\\u2029");
            else
                put(b, (const char *)s, n);
            s += n;
            continue;
        }
        unsigned char c = *s++;
        switch (c) {
        case '"': puts_(b, "\\\""); break;
        case '\\': puts_(b, "\\\\"); break;
        case '\n': puts_(b, "\\n"); break;
        case '\r': puts_(b, "\\r"); break;
        case '\t': puts_(b, "\\t"); break;
        default:
            if (c < 0x20) {
                snprintf(e, sizeof e, "\\u%04x", c);
                puts_(b, e);
            } else {
                putc_(b, (char)c);
            }
        }
    }
    putc_(b, '"');
}

/* logrus's text formatter: quoted unless every byte is one of these */
static int text_needs_quoting(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '/' || c == '@' || c == '^' || c == '+'))
            return 1;
    }
    return 0;
}

static void put_text_kv(struct lbuf *b, const char *k, const char *v)
{
    if (b->len) putc_(b, ' ');
    puts_(b, k);
    putc_(b, '=');
    if (text_needs_quoting(v))
        put_go_quoted(b, v);
    else
        puts_(b, v);
}

size_t log_go_quote(char *buf, size_t len, const char *s)
{
    if (len < 3) {
        if (len) buf[0] = 0;
        return 0;
    }
    struct lbuf b = {.p = buf, .cap = len - 2};
    put_go_quoted(&b, s);
    if (b.len == b.cap && buf[b.len - 1] != '"') buf[b.len++] = '"';
    buf[b.len] = 0;
    return b.len;
}

/* ---------------------------------------------------------------- formatting */

/* RFC 3339 in UTC with nanoseconds, trailing zeros dropped (Go's RFC3339Nano) */
static void rfc3339nano(char *out, size_t len, const struct timespec *ts)
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ts->tv_nsec > 0 && n + 12 < len) {
        char frac[24];
        snprintf(frac, sizeof frac, ".%09ld", ts->tv_nsec % 1000000000L);
        size_t fl = strlen(frac);
        while (fl > 1 && frac[fl - 1] == '0')
            frac[--fl] = 0;
        memcpy(out + n, frac, fl + 1);
        n += fl;
    }
    snprintf(out + n, len - n, "Z");
}

struct entry_kv {
    const char *key;
    const char *value;
    int raw;
};

static int ekv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry_kv *)a)->key, ((const struct entry_kv *)b)->key);
}

size_t log_format_line(char *buf, size_t len, const struct timespec *ts, enum log_level level,
                       const char *file, int line, const char *func, const char *msg)
{
    if (len < 2) {
        if (len) buf[0] = 0;
        return 0;
    }
    struct lbuf b = {.p = buf, .cap = len - 2};
    char when[48], pid[24], where[512];
    rfc3339nano(when, sizeof when, ts);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(where, sizeof where, "%s:%d", file ? file : "?", line);
    const char *lv = level_names[level <= LOG_DEBUG ? level : LOG_DEBUG];
    if (!msg) msg = "";
    if (!func) func = "?";

    if (L.format == LOG_FMT_TEXT) {
        put_text_kv(&b, "time", when);
        put_text_kv(&b, "level", lv);
        if (*msg) put_text_kv(&b, "msg", msg);
        if (L.caller) {
            put_text_kv(&b, "func", func);
            put_text_kv(&b, "file", where);
        }
        /* the fields (sorted) with pid among them */
        int pid_done = 0;
        for (size_t i = 0; i <= L.nfields; i++) {
            if (!pid_done && (i == L.nfields || strcmp("pid", L.fields[i].key) < 0)) {
                put_text_kv(&b, "pid", pid);
                pid_done = 1;
            }
            if (i < L.nfields) put_text_kv(&b, L.fields[i].key, L.fields[i].value);
        }
    } else {
        int stash = L.format == LOG_FMT_LOGSTASH;
        size_t n = 0, cap = L.nfields + 8;
        struct entry_kv stackv[40], *kv = cap <= 40 ? stackv : malloc(cap * sizeof *kv);
        if (!kv) { /* no memory: the fields that fit beside the fixed keys */
            kv = stackv;
            cap = 40;
        }
        kv[n++] = (struct entry_kv){stash ? "@timestamp" : "time", when, 0};
        if (stash) kv[n++] = (struct entry_kv){"@version", "1", 0};
        kv[n++] = (struct entry_kv){"level", lv, 0};
        kv[n++] = (struct entry_kv){stash ? "message" : "msg", msg, 0};
        kv[n++] = (struct entry_kv){"pid", pid, 1};
        if (L.caller) {
            kv[n++] = (struct entry_kv){stash ? "function" : "func", func, 0};
            kv[n++] = (struct entry_kv){"file", where, 0};
        }
        for (size_t i = 0; i < L.nfields && n < cap; i++)
            kv[n++] = (struct entry_kv){L.fields[i].key, L.fields[i].value, L.fields[i].raw};
        qsort(kv, n, sizeof *kv, ekv_cmp);
        putc_(&b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i) putc_(&b, ',');
            put_json_str(&b, kv[i].key);
            putc_(&b, ':');
            if (kv[i].raw)
                puts_(&b, kv[i].value);
            else
                put_json_str(&b, kv[i].value);
        }
        if (kv != stackv) free(kv);
        if (b.len == b.cap) b.len--; /* cut: keep the line's end */
        putc_(&b, '}');
    }
    buf[b.len++] = '\n';
    buf[b.len] = 0;
    return b.len;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* the mail's body: the message, then the entry's fields one a line */
static void hook_body(char *buf, size_t len, const char *msg, const char *file, int line,
                      const char *func)
{
    struct lbuf b = {.p = buf, .cap = len - 1};
    char tmp[64];
    puts_(&b, msg);
    puts_(&b, "\n\n");
    if (L.caller) {
        snprintf(tmp, sizeof tmp, ":%d\n", line);
        puts_(&b, "file: ");
        puts_(&b, file ? file : "?");
        puts_(&b, tmp);
        puts_(&b, "func: ");
        puts_(&b, func ? func : "?");
        puts_(&b, "\n");
    }
    snprintf(tmp, sizeof tmp, "pid: %d\n", (int)getpid());
    puts_(&b, tmp);
    for (size_t i = 0; i < L.nfields; i++) {
        puts_(&b, L.fields[i].key);
        puts_(&b, ": ");
        puts_(&b, L.fields[i].value);
        puts_(&b, "\n");
    }
    buf[b.len] = 0;
}

void log_msg_at(enum log_level level, const char *file, int line, const char *func, const char *fmt,
                ...)
{
    if (level > L.level) return;
    int saved = errno;
    char msg[LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char out[LOG_LINE_MAX];
    size_t n = log_format_line(out, sizeof out, &now, level, file, line, func, msg);
    write_all(L.fd, out, n);
    static int in_hook; /* a hook's own lines are never mailed */
    if ((L.hooked & (1u << level)) && !in_hook) {
        in_hook = 1;
        /* the body is built here, where the fields are; loghook_fire never
         * blocks on the network (loghook.h) */
        char body[LOG_MSG_MAX + 1024];
        hook_body(body, sizeof body, msg, file, line, func);
        for (size_t i = 0; i < L.nhooks; i++)
            if (!L.hooks[i].disabled && (L.hooks[i].levels & (1u << level)))
                loghook_fire(&L.hooks[i], i, level_names[level], msg, body);
        in_hook = 0;
    }
    errno = saved;
}

/* ---------------------------------------------------------------- access log */

int log_access_enabled(void)
{
    return L.access != 0;
}

void log_access_write(const char *line, size_t len)
{
    if (L.access) write_all(L.access - 1, line, len);
}
