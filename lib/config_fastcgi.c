/* config_fastcgi.c — the fastcgi section's own rules (Wharf's section): the
 * listening socket, its mode, the worker pool and blob acceleration. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"
#include "err.h"

/* fastcgi.listen: "unix:/abs/path", "/abs/path" or "host:port" (":port" and
 * "[v6]:port" too). */
int apply_listen(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s) return config_fail(L, n, 0, path, "must not be empty");
    if (!strncmp(s, "unix:", 5) || s[0] == '/') {
        const char *p = s[0] == '/' ? s : s + 5;
        if (p[0] != '/') return config_fail(L, n, 0, path, "expected unix:/absolute/path");
        if (strlen(p) >= 108) /* sizeof(sun_path) */
            return config_fail(L, n, 0, path, "unix socket path too long");
    } else {
        const char *colon = strrchr(s, ':');
        long long port;
        char *end;
        if (!colon) return config_fail(L, n, 0, path, "expected unix:/path, /path or host:port");
        if (s[0] == '[' && (colon == s || colon[-1] != ']'))
            return config_fail(L, n, 0, path, "expected [ipv6]:port");
        errno = 0;
        port = strtoll(colon + 1, &end, 10);
        if (!colon[1] || *end || errno || port < 1 || port > 65535)
            return config_fail(L, n, 0, path, "port must be between 1 and 65535");
        for (const char *p = s; p < colon; p++)
            if ((unsigned char)*p <= ' ' || *p == '/')
                return config_fail(L, n, 0, path, "invalid host");
    }
    return set_str(&L->c->listen, s);
}

/* fastcgi.workers: an integer N is a static pool of N workers (as before
 * dynamic pools existed); a mapping is a dynamic pool whose missing keys take
 * the defaults (config.h), clamped to the keys given: {max: 2} is 1..2, not
 * an error about the default min. */
int apply_workers(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    struct config *c = L->c;
    long long v;
    int rc;
    if (is_null(n)) return 0;
    if (n->type == Y_SCALAR) {
        if (scalar_int(n, &v) < 0)
            return config_fail(
                L, n, 0, path,
                "expected an integer (a static pool) or a mapping {min, max, minspare, "
                "maxspare, idletimeout} (a dynamic pool)");
        if (v < 1 || v > CONFIG_WORKERS_LIMIT)
            return config_fail(L, n, 0, path, "must be between 1 and %d", CONFIG_WORKERS_LIMIT);
        c->workers = c->workers_max = (int)v;
        c->workers_minspare = c->workers_maxspare = 0;
        return 0;
    }
    if (n->type != Y_MAP)
        return config_fail(L, n, 0, path,
                           "expected an integer (a static pool) or a mapping {min, max, minspare, "
                           "maxspare, idletimeout} (a dynamic pool)");
    c->workers = c->workers_max = c->workers_minspare = c->workers_maxspare = -1;
    c->workers_idletimeout = CONFIG_WORKERS_IDLETIMEOUT;
    const struct field sec = SECTION("", config_schema_workers);
    if ((rc = config_apply_section(L, &sec, n, path)) < 0) return rc;
    const struct ynode *nmin = map_get(n, "min", 0), *nmax = map_get(n, "max", 0);
    const struct ynode *nminsp = map_get(n, "minspare", 0), *nmaxsp = map_get(n, "maxspare", 0);
    char kp[CONFIG_MAX_PATH];
    if (c->workers_max < 0)
        c->workers_max = c->workers > CONFIG_WORKERS_MAX ? c->workers : CONFIG_WORKERS_MAX;
    if (c->workers < 0)
        c->workers = CONFIG_WORKERS_MIN < c->workers_max ? CONFIG_WORKERS_MIN : c->workers_max;
    if (c->workers > c->workers_max) {
        path_join(kp, sizeof kp, path, "min");
        return config_fail(L, nmin, 0, kp, "%d is above max (%d)", c->workers, c->workers_max);
    }
    if (c->workers_maxspare < 0) {
        int d = CONFIG_WORKERS_MAXSPARE;
        if (c->workers_minspare > d) d = c->workers_minspare;
        c->workers_maxspare = d < c->workers_max ? d : c->workers_max;
    }
    if (c->workers_minspare < 0) {
        int d = CONFIG_WORKERS_MINSPARE;
        c->workers_minspare = d < c->workers_maxspare ? d : c->workers_maxspare;
    }
    if (c->workers_maxspare > c->workers_max) {
        path_join(kp, sizeof kp, path, "maxspare");
        return config_fail(L, nmaxsp, 0, kp, "%d is above max (%d)", c->workers_maxspare,
                           c->workers_max);
    }
    if (c->workers_minspare > c->workers_maxspare) {
        path_join(kp, sizeof kp, path, "minspare");
        return config_fail(L, nminsp ? nminsp : nmaxsp, 0, kp, "%d is above maxspare (%d)",
                           c->workers_minspare, c->workers_maxspare);
    }
    (void)nmax;
    return 0;
}

/* fastcgi.socketmode: octal digits, as a string ("0660") or a plain number.
 * A plain 0660 is already octal in YAML 1.1; a plain 660 is read as octal too,
 * since a decimal file mode is never what anyone means. */
int apply_socketmode(struct loader *L, const struct field *f, const struct ynode *n,
                     const char *path)
{
    if (is_null(n)) return 0;
    if (n->type != Y_SCALAR)
        return config_fail(L, n, 0, path, "expected an octal mode such as 0660");
    const char *s = n->val;
    if (!strncmp(s, "0o", 2) || !strncmp(s, "0O", 2)) s += 2;
    long v = 0;
    if (!*s || strlen(s) > 4)
        return config_fail(L, n, 0, path, "expected an octal mode such as 0660");
    for (; *s; s++) {
        if (*s < '0' || *s > '7')
            return config_fail(L, n, 0, path, "expected an octal mode such as 0660");
        v = v * 8 + (*s - '0');
    }
    if (v > 0777) return config_fail(L, n, 0, path, "must be at most 0777");
    L->c->socket_mode = (int)v;
    return 0;
}

int apply_accel(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s || !strcmp(s, "none"))
        L->c->accel = ACCEL_NONE;
    else if (!strcmp(s, "nginx"))
        L->c->accel = ACCEL_NGINX;
    else if (!strcmp(s, "apache"))
        L->c->accel = ACCEL_APACHE;
    else
        return config_fail(L, n, 0, path, "expected none, nginx or apache");
    return 0;
}

int apply_accel_prefix(struct loader *L, const struct field *f, const struct ynode *n,
                       const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    size_t len = strlen(s);
    if (len < 2 || s[0] != '/' || s[len - 1] != '/')
        return config_fail(L, n, 0, path, "must begin and end with '/'");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == 0x7f)
            return config_fail(L, n, 0, path, "invalid character in a URL path");
    return set_str(&L->c->accel_prefix, s);
}

PRINTER(dump_socketmode)
{
    dump_key(out, depth, f->name);
    fprintf(out, " \"0%o\"\n", (unsigned)c->socket_mode);
}

/* a static pool is one number (min = max), a dynamic one the mapping */
PRINTER(dump_workers)
{
    dump_key(out, depth, f->name);
    if (c->workers_max > c->workers) {
        fputc('\n', out);
        config_dump_section(c, f, out, depth + 1);
    } else {
        fprintf(out, " %d\n", c->workers);
    }
}

PRINTER(dump_accel)
{
    static const char *const accels[] = {"none", "nginx", "apache"};
    int ac = c->accel >= ACCEL_NONE && c->accel <= ACCEL_APACHE ? (int)c->accel : 0;
    dump_key(out, depth, f->name);
    fprintf(out, " %s\n", accels[ac]);
}
