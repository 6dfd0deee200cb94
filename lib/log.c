#include "log.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level cur_level = LOG_INFO;
static int cur_json;
static FILE *cur_out;

int log_init(enum log_level level, int json, const char *path)
{
    cur_level = level;
    cur_json = json;
    if (path && *path) {
        FILE *f = fopen(path, "a");
        if (!f) return WERR_IO;
        setvbuf(f, NULL, _IOLBF, 0);
        if (cur_out && cur_out != stderr) fclose(cur_out);
        cur_out = f;
    }
    return 0;
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
    return level <= cur_level;
}

static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    if (level > cur_level) return;
    FILE *out = cur_out ? cur_out : stderr;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char ts[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);
    flockfile(out);
    if (cur_json) {
        fprintf(out, "{\"time\":\"%s\",\"level\":\"%s\",\"pid\":%d,\"msg\":\"", ts, names[level],
                (int)getpid());
        json_escape(out, msg);
        fputs("\"}\n", out);
    } else {
        fprintf(out, "time=\"%s\" level=%s pid=%d msg=\"%s\"\n", ts, names[level], (int)getpid(),
                msg);
    }
    funlockfile(out);
    fflush(out);
}
