/* buildq.c — the build queue's files (buildq.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "buildq.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "names.h"

int buildq_path(const struct config *cfg, char *out, size_t len, const char *a, const char *b,
                const char *c)
{
    int n = snprintf(out, len, "%s/%s%s%s%s%s", cfg->builds_workdir, a, b ? "/" : "", b ? b : "",
                     c ? "/" : "", c ? c : "");
    return n < 0 || (size_t)n >= len ? WERR_TOOBIG : 0;
}

void buildq_now(char *out)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int buildq_mkdirs(const struct config *cfg)
{
    static const char *const subs[] = {"builds", "seen", "pushes", "sources", "tmp"};
    char p[4096];
    /* the workdir itself, and its parents */
    snprintf(p, sizeof p, "%s", cfg->builds_workdir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return WERR_IO;
        *s = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST) return WERR_IO;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (buildq_path(cfg, p, sizeof p, subs[i], NULL, NULL)) return WERR_TOOBIG;
        if (mkdir(p, 0700) != 0 && errno != EEXIST) return WERR_IO;
    }
    return 0;
}

int buildq_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n < 8 || n >= BUILDQ_ID_MAX) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == 'T' || *p == 'Z' ||
              *p == '-'))
            return 0;
    return 1;
}

/* write_whole: path's content replaced by data (temp file, fsync, rename) */
static int write_whole(const char *path, const char *data, size_t len)
{
    char tmp[4200];
    unsigned r;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = (unsigned)getpid();
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%u.tmp", path, r) >= sizeof tmp) return WERR_TOOBIG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return WERR_IO;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    int ok = off == len && fsync(fd) == 0;
    if (close(fd) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return WERR_IO;
    }
    return 0;
}

/* expand: tag_template with {N} replaced by the match's groups */
static char *expand(const char *tmpl, const char *subject, pcre2_match_data *md, uint32_t groups)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    char out[256];
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < sizeof out; p++) {
        if (*p != '{') {
            out[o++] = *p;
            continue;
        }
        int g = atoi(p + 1);
        p = strchr(p, '}');
        if (!p || (uint32_t)g > groups) return NULL;
        if (ov[2 * g] == PCRE2_UNSET) continue;
        for (PCRE2_SIZE i = ov[2 * g]; i < ov[2 * g + 1] && o + 1 < sizeof out; i++)
            out[o++] = subject[i];
    }
    out[o] = 0;
    return strdup(out);
}

int buildq_tags(const struct config_build_source *s, const char *ref, char **tags, size_t max)
{
    size_t n = 0;
    int is_branch = !strncmp(ref, "refs/heads/", 11), is_tag = !strncmp(ref, "refs/tags/", 10);
    const char *short_ref = ref + (is_branch ? 11 : is_tag ? 10 : 0);
    for (size_t i = 0; i < s->nrules && n < max; i++) {
        const struct config_build_rule *r = &s->rules[i];
        char *t = NULL;
        if (r->branch) {
            if (!is_branch || strcmp(r->branch, short_ref) != 0) continue;
            t = strdup(r->tag);
        } else {
            if (!is_tag) continue;
            pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->re, NULL);
            if (!md) return WERR_NOMEM;
            int m =
                pcre2_match(r->re, (PCRE2_SPTR)short_ref, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
            if (m > 0 && !r->tag_template) {
                t = strdup(short_ref); /* no template: the git tag itself */
            } else if (m > 0) {
                uint32_t groups = 0;
                pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &groups);
                t = expand(r->tag_template, short_ref, md, groups);
            }
            pcre2_match_data_free(md);
            if (m <= 0) continue;
            if (t && tag_valid(t, 128) != 0) {
                log_warn("builds: source %s: ref %s gives \"%s\", no valid image tag: skipped",
                         s->name, ref, t);
                free(t);
                continue;
            }
        }
        if (!t) return WERR_NOMEM;
        int dup = 0;
        for (size_t j = 0; j < n; j++)
            dup |= !strcmp(tags[j], t);
        if (dup)
            free(t);
        else
            tags[n++] = t;
    }
    return (int)n;
}

static void new_id(char *id)
{
    char now[20];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y%m%dT%H%M%SZ", &tm);
    now[16] = 0;
    unsigned char r[5];
    if (getrandom(r, sizeof r, 0) != sizeof r) memset(r, 0, sizeof r);
    snprintf(id, BUILDQ_ID_MAX, "%s-%02x%02x%02x%02x%02x", now, r[0], r[1], r[2], r[3], r[4]);
}

int buildq_write(const struct config *cfg, const char *id, struct json_object *st)
{
    char p[4096];
    if (buildq_path(cfg, p, sizeof p, "builds", id, "build.json")) return WERR_TOOBIG;
    size_t len;
    const char *s = json_object_to_json_string_length(st, JSON_C_TO_STRING_PLAIN, &len);
    return write_whole(p, s, len);
}

int buildq_enqueue(const struct config *cfg, const struct config_build_source *s, const char *ref,
                   const char *commit, const char *trigger, struct json_object *chain, char *id)
{
    char *tags[BUILDQ_TAGS_MAX];
    int nt = buildq_tags(s, ref, tags, BUILDQ_TAGS_MAX);
    if (nt < 0) return nt;
    if (nt == 0) return WERR_INVALID;
    int rc = buildq_mkdirs(cfg);
    char now[32], p[4096];
    buildq_now(now);
    struct json_object *st = json_object_new_object(), *jt = json_object_new_array();
    for (int i = 0; i < nt; i++) {
        json_object_array_add(jt, json_object_new_string(tags[i]));
        free(tags[i]);
    }
    if (rc) goto out;
    for (int tries = 0; tries < 5; tries++) {
        new_id(id);
        if ((rc = buildq_path(cfg, p, sizeof p, "builds", id, NULL))) goto out;
        if (mkdir(p, 0700) == 0) break;
        if (errno != EEXIST || tries == 4) {
            rc = WERR_IO;
            goto out;
        }
    }
    json_object_object_add(st, "id", json_object_new_string(id));
    json_object_object_add(st, "source", json_object_new_string(s->name));
    json_object_object_add(st, "repository", json_object_new_string(s->repository));
    json_object_object_add(st, "ref", json_object_new_string(ref));
    json_object_object_add(st, "commit", json_object_new_string(commit ? commit : ""));
    json_object_object_add(st, "tags", json_object_get(jt));
    json_object_object_add(st, "status", json_object_new_string(BUILDQ_QUEUED));
    json_object_object_add(st, "reason", json_object_new_string(""));
    json_object_object_add(st, "trigger", json_object_new_string(trigger ? trigger : ""));
    json_object_object_add(st, "chain", chain ? json_object_get(chain) : json_object_new_array());
    json_object_object_add(st, "created", json_object_new_string(now));
    json_object_object_add(st, "started", json_object_new_string(""));
    json_object_object_add(st, "finished", json_object_new_string(""));
    json_object_object_add(st, "revision", json_object_new_string(""));
    json_object_object_add(st, "digest", json_object_new_string(""));
    rc = buildq_write(cfg, id, st);
    if (rc) log_error("builds: cannot write the state of build %s in %s", id, cfg->builds_workdir);
out:
    json_object_put(jt);
    json_object_put(st);
    return rc;
}

static void seen_name(const char *key, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

void buildq_forget(const struct config *cfg, const char *key)
{
    char hex[65], p[4096];
    seen_name(key, hex);
    if (!buildq_path(cfg, p, sizeof p, "seen", hex, NULL)) unlink(p);
}

int buildq_seen(const struct config *cfg, const char *key)
{
    char hex[65], p[4096];
    seen_name(key, hex);
    int rc = buildq_mkdirs(cfg);
    if (rc) return rc;
    if (buildq_path(cfg, p, sizeof p, "seen", hex, NULL)) return WERR_TOOBIG;
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno == EEXIST ? WERR_EXISTS : WERR_IO;
    close(fd);
    return 0;
}

int buildq_pushed(const struct config *cfg, const char *repo, const char *tag, const char *digest)
{
    char id[BUILDQ_ID_MAX], p[4096];
    new_id(id);
    int rc = buildq_mkdirs(cfg);
    if (rc) return rc;
    if (buildq_path(cfg, p, sizeof p, "pushes", id, NULL) || strlen(p) + 5 >= sizeof p)
        return WERR_TOOBIG;
    strcat(p, ".json");
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "repository", json_object_new_string(repo));
    json_object_object_add(o, "tag", json_object_new_string(tag));
    json_object_object_add(o, "digest", json_object_new_string(digest));
    size_t len;
    const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    rc = write_whole(p, s, len);
    json_object_put(o);
    return rc;
}

struct json_object *buildq_read(const struct config *cfg, const char *id)
{
    char p[4096];
    if (!buildq_id_valid(id) || buildq_path(cfg, p, sizeof p, "builds", id, "build.json"))
        return NULL;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    char *buf = malloc(BUILDQ_STATE_MAX + 1);
    size_t len = 0;
    ssize_t r;
    while (buf && len < BUILDQ_STATE_MAX &&
           ((r = read(fd, buf + len, BUILDQ_STATE_MAX - len)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0) len += (size_t)r;
    close(fd);
    if (!buf) return NULL;
    buf[len] = 0;
    struct json_object *o = json_tokener_parse(buf);
    free(buf);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static int cmp_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

int buildq_list(const struct config *cfg, char **ids, size_t max)
{
    char p[4096];
    if (buildq_path(cfg, p, sizeof p, "builds", NULL, NULL)) return WERR_TOOBIG;
    DIR *d = opendir(p);
    if (!d) return errno == ENOENT ? 0 : WERR_IO;
    size_t n = 0, cap = 64;
    char **all = malloc(cap * sizeof *all);
    struct dirent *e;
    while (all && (e = readdir(d))) {
        if (!buildq_id_valid(e->d_name)) continue;
        if (n == cap) {
            char **m = realloc(all, 2 * cap * sizeof *all);
            if (!m) break;
            all = m;
            cap *= 2;
        }
        if (!(all[n] = strdup(e->d_name))) break;
        n++;
    }
    closedir(d);
    if (!all) return WERR_NOMEM;
    qsort(all, n, sizeof *all, cmp_desc);
    size_t k = n < max ? n : max;
    for (size_t i = 0; i < n; i++) {
        if (i < k)
            ids[i] = all[i];
        else
            free(all[i]);
    }
    free(all);
    return (int)k;
}
