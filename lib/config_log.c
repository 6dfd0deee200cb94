/* config_log.c — version and the log section: their appliers and printers. */
#include <ctype.h>
#include <string.h>

#include "config_impl.h"
#include "err.h"
#include "log.h"

int apply_version(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s) return config_fail(L, n, 0, path, "required");
    if (strcmp(s, "0.1") != 0)
        return config_fail(L, n, 0, path, "unsupported version \"%.32s\" (expected 0.1)", s);
    L->version_set = 1;
    return 0;
}

int apply_loglevel(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    int rc = 0;
    char low[16];
    size_t i;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s) return 0;
    for (i = 0; s[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    low[i] = '\0';
    int lv = s[i] ? -1 : log_level_parse(low); /* the reference lowercases it */
    if (lv < 0) return config_fail(L, n, 0, path, "expected error, warn, info or debug");
    L->c->log_level = lv;
    return 0;
}

int apply_formatter(struct loader *L, const struct field *f, const struct ynode *n,
                    const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s || !strcmp(s, "text"))
        L->c->log_json = 0;
    else if (!strcmp(s, "json"))
        L->c->log_json = 1;
    else if (!strcmp(s, "logstash"))
        return config_fail(L, n, 0, path, "logstash is not supported by Wharf yet");
    else
        return config_fail(L, n, 0, path, "expected text or json");
    return 0;
}

PRINTER(dump_version)
{
    dump_key(out, depth, f->name);
    fputs(" \"0.1\"\n", out);
}

PRINTER(dump_loglevel)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    int lv = c->log_level >= 0 && c->log_level <= 3 ? c->log_level : LOG_INFO;
    dump_key(out, depth, f->name);
    fprintf(out, " %s\n", levels[lv]);
}

PRINTER(dump_formatter)
{
    dump_key(out, depth, f->name);
    fprintf(out, " %s\n", c->log_json ? "json" : "text");
}
