/* config_storage.c — the storage drivers (filesystem, inmemory, s3, swift,
 * azure, gcs, oss), the
 * blob descriptor cache and its redis section, and middleware.storage: the
 * rules each applies after its keys, and how each is printed. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"
#include "err.h"

int apply_filesystem(struct loader *L, const struct field *f, const struct ynode *n,
                     const char *path)
{
    L->c->storage = STORAGE_FILESYSTEM;
    return 0;
}

int apply_inmemory(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    char kp[CONFIG_MAX_PATH];
    if (n->type == Y_MAP && n->nkids) {
        path_join(kp, sizeof(kp), path, n->kids[0]->key);
        return config_fail(L, n->kids[0], 1, kp, "unknown key");
    }
    if (n->type != Y_MAP && !is_null(n))
        return config_fail(L, n, 0, path,
                           "expected an empty mapping (inmemory takes no parameters)");
    L->c->storage = STORAGE_INMEMORY;
    return 0;
}

int apply_blobdescriptor(struct loader *L, const struct field *f, const struct ynode *n,
                         const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    L->c->blobdescriptor_inmemory = L->c->blobdescriptor_redis = 0;
    if (!*s)
        ;
    else if (!strcmp(s, "inmemory"))
        L->c->blobdescriptor_inmemory = 1;
    else if (!strcmp(s, "redis"))
        L->c->blobdescriptor_redis = 1;
    else
        return config_fail(L, n, 0, path, "expected inmemory or redis");
    return 0;
}

/* ---------------------------------------------------------------- storage.s3, redis (issue 7) */

void s3_config_defaults(struct config *c)
{
    c->s3_secure = 1;
    c->s3_v4auth = 1;
    c->s3_chunksize = 10L << 20;
    c->s3_copychunksize = 32L << 20;
    c->s3_copymaxconcurrency = 100;
    c->s3_copythreshold = 32L << 20;
    c->redis_db = 0;
    c->redis_dialtimeout = 0; /* 0: the client's defaults (see storage/cache_redis.c) */
    c->redis_maxidle = 1;
}

/* storage.s3: (after its keys) the reference's value checks */
int apply_s3(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    struct config *c = L->c;
    if (!c->s3_region) return config_fail(L, n, 1, path, "region: required");
    if (!c->s3_bucket) return config_fail(L, n, 1, path, "bucket: required");
    if (c->s3_storageclass && strcmp(c->s3_storageclass, "STANDARD") &&
        strcmp(c->s3_storageclass, "REDUCED_REDUNDANCY") &&
        strcmp(c->s3_storageclass, "STANDARD_IA") && strcmp(c->s3_storageclass, "ONEZONE_IA") &&
        strcmp(c->s3_storageclass, "INTELLIGENT_TIERING") &&
        strcmp(c->s3_storageclass, "GLACIER_IR") && strcmp(c->s3_storageclass, "NONE"))
        return config_fail(L, n, 1, path,
                           "storageclass: expected STANDARD, REDUCED_REDUNDANCY, STANDARD_IA, "
                           "ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR or NONE");
    if (c->s3_objectacl && strcmp(c->s3_objectacl, "private") &&
        strcmp(c->s3_objectacl, "public-read") && strcmp(c->s3_objectacl, "public-read-write") &&
        strcmp(c->s3_objectacl, "authenticated-read") &&
        strcmp(c->s3_objectacl, "bucket-owner-read") &&
        strcmp(c->s3_objectacl, "bucket-owner-full-control") &&
        strcmp(c->s3_objectacl, "log-delivery-write"))
        return config_fail(L, n, 1, path, "objectacl: not a canned ACL of S3");
    if (!c->s3_v4auth)
        return config_fail(L, n, 1, path, "v4auth: false (Signature V2) is not supported by Wharf");
    if (c->s3_keyid && !c->s3_encrypt)
        return config_fail(L, n, 1, path, "keyid: requires encrypt: true");
    if (c->s3_rootdirectory) {
        /* keys never start with '/' nor hold empty or dot segments */
        const char *r = c->s3_rootdirectory;
        while (*r == '/')
            r++;
        for (const char *p = r; *p; p++)
            if ((p[0] == '/' && p[1] == '/') || (unsigned char)*p < 0x20)
                return config_fail(L, n, 1, path, "rootdirectory: not a clean path");
        if (strstr(r, "/../") || strstr(r, "/./") || !strncmp(r, "../", 3) || !strcmp(r, "..") ||
            !strncmp(r, "./", 2))
            return config_fail(L, n, 1, path, "rootdirectory: not a clean path");
    }
    c->storage = STORAGE_S3;
    return 0;
}

/* ---------------------------------------------------------------- swift, azure, gcs, oss (issue
 * 15) */

void objstore_config_defaults(struct config *c)
{
    c->swift_chunksize = 20L << 20; /* the reference's defaultChunkSize */
    c->gcs_chunksize = 16L << 20;   /* googleapi.DefaultUploadChunkSize */
    c->oss_chunksize = 10L << 20;
    c->oss_secure = 1;
}

/* clean_root: a rootdirectory/prefix is a clean relative key prefix */
static int clean_root(struct loader *L, const struct ynode *n, const char *path, const char *key,
                      const char *root)
{
    if (!root) return 0;
    const char *r = root;
    while (*r == '/')
        r++;
    for (const char *p = r; *p; p++)
        if ((p[0] == '/' && p[1] == '/') || (unsigned char)*p < 0x20)
            return config_fail(L, n, 1, path, "%s: not a clean path", key);
    if (strstr(r, "/../") || strstr(r, "/./") || !strncmp(r, "../", 3) || !strcmp(r, "..") ||
        !strncmp(r, "./", 2) || (strlen(r) >= 3 && !strcmp(r + strlen(r) - 3, "/..")))
        return config_fail(L, n, 1, path, "%s: not a clean path", key);
    return 0;
}

int apply_swift(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    struct config *c = L->c;
    if (!c->swift_authurl) return config_fail(L, n, 1, path, "authurl: required");
    if (strncmp(c->swift_authurl, "http://", 7) && strncmp(c->swift_authurl, "https://", 8))
        return config_fail(L, n, 1, path, "authurl: expected an http:// or https:// URL");
    if (!c->swift_username) return config_fail(L, n, 1, path, "username: required");
    if (!c->swift_password) return config_fail(L, n, 1, path, "password: required");
    if (!c->swift_container || !*c->swift_container || strchr(c->swift_container, '/'))
        return config_fail(L, n, 1, path, "container: required, without '/'");
    if (c->swift_endpointtype && strcmp(c->swift_endpointtype, "public") &&
        strcmp(c->swift_endpointtype, "internal") && strcmp(c->swift_endpointtype, "admin"))
        return config_fail(L, n, 1, path, "endpointtype: expected public, internal or admin");
    int rc = clean_root(L, n, path, "prefix", c->swift_prefix);
    if (rc) return rc;
    c->storage = STORAGE_SWIFT;
    return 0;
}

int apply_azure(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    struct config *c = L->c;
    if (!c->azure_accountname) return config_fail(L, n, 1, path, "accountname: required");
    if (!c->azure_accountkey) return config_fail(L, n, 1, path, "accountkey: required");
    if (!c->azure_container) return config_fail(L, n, 1, path, "container: required");
    /* Azure's container names: 3-63 of [a-z0-9-], starting with a letter or digit */
    size_t cl = strlen(c->azure_container);
    int ok = cl >= 3 && cl <= 63 && c->azure_container[0] != '-';
    for (size_t i = 0; ok && i < cl; i++) {
        char ch = c->azure_container[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
             (ch == '-' && c->azure_container[i + 1] != '-');
    }
    if (!ok)
        return config_fail(L, n, 1, path,
                           "container: 3 to 63 lowercase letters, digits and single dashes");
    if (c->azure_serviceurl && strncmp(c->azure_serviceurl, "http://", 7) &&
        strncmp(c->azure_serviceurl, "https://", 8))
        return config_fail(L, n, 1, path, "serviceurl: expected an http:// or https:// URL");
    int rc = clean_root(L, n, path, "rootdirectory", c->azure_rootdirectory);
    if (rc) return rc;
    c->storage = STORAGE_AZURE;
    return 0;
}

/* storage.gcs.credentials: the reference's mapping (type, project_id,
 * private_key_id, private_key, client_email, client_id, auth_uri,
 * token_uri, ...): kept as the service-account JSON it stands for; a
 * string is taken as that JSON text */
int apply_gcs_credentials(struct loader *L, const struct field *f, const struct ynode *n,
                          const char *path)
{
    free(L->c->gcs_credentials);
    L->c->gcs_credentials = NULL;
    if (is_null(n)) return 0;
    if (n->type == Y_SCALAR) { /* the key file's JSON text (and how a dump prints it) */
        if (!*n->val) return 0;
        return (L->c->gcs_credentials = strdup(n->val)) ? 0 : WERR_NOMEM;
    }
    if (n->type != Y_MAP)
        return config_fail(L, n, 0, path, "expected a mapping (the service account's keys)");
    json_object *o = json_object_new_object();
    if (!o) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        char kp[CONFIG_MAX_PATH];
        path_join(kp, sizeof kp, path, k->key);
        if (k->type != Y_SCALAR) {
            json_object_put(o);
            return config_fail(L, k, 0, kp, "expected a string");
        }
        json_object_object_add(o, k->key, json_object_new_string(k->val));
    }
    const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    L->c->gcs_credentials = js ? strdup(js) : NULL;
    json_object_put(o);
    return L->c->gcs_credentials ? 0 : WERR_NOMEM;
}

int apply_gcs(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    struct config *c = L->c;
    if (!c->gcs_bucket || !*c->gcs_bucket) return config_fail(L, n, 1, path, "bucket: required");
    if (c->gcs_keyfile && c->gcs_credentials)
        return config_fail(L, n, 1, path, "keyfile and credentials: give one of them");
    if (c->gcs_chunksize % (256L << 10))
        return config_fail(L, n, 1, path, "chunksize: expected a multiple of 262144 (256 KiB)");
    int rc = clean_root(L, n, path, "rootdirectory", c->gcs_rootdirectory);
    if (rc) return rc;
    c->storage = STORAGE_GCS;
    return 0;
}

int apply_oss(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    struct config *c = L->c;
    if (!c->oss_accesskeyid) return config_fail(L, n, 1, path, "accesskeyid: required");
    if (!c->oss_accesskeysecret) return config_fail(L, n, 1, path, "accesskeysecret: required");
    if (!c->oss_region) return config_fail(L, n, 1, path, "region: required");
    if (!c->oss_bucket) return config_fail(L, n, 1, path, "bucket: required");
    int rc = clean_root(L, n, path, "rootdirectory", c->oss_rootdirectory);
    if (rc) return rc;
    c->storage = STORAGE_OSS;
    return 0;
}

int apply_s3_loglevel(struct loader *L, const struct field *f, const struct ynode *n,
                      const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    /* the reference's aws.LogLevel names: logged at debug level */
    if (*s && strcmp(s, "off") && strcmp(s, "debug") && strcmp(s, "debugwithsigning") &&
        strcmp(s, "debugwithhttpbody") && strcmp(s, "debugwithrequestretries") &&
        strcmp(s, "debugwithrequesterrors") && strcmp(s, "debugwitheventstreambody"))
        return config_fail(L, n, 0, path, "expected off, debug or a debugwith... level");
    return set_str(&L->c->s3_loglevel, *s ? s : NULL);
}

/* redis.*timeout: a Go duration kept in milliseconds (the reference uses e.g. 10ms) */
int apply_redis_ms(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    if (is_null(n)) return 0;
    long ms = -1, secs;
    if (n->type == Y_SCALAR) {
        char *end = NULL;
        long v = strtol(n->val, &end, 10);
        if (end && end != n->val && !strcmp(end, "ms") && v >= 0 && v <= 86400000L)
            ms = v;
        else if (scalar_duration(n, &secs) == 0 && secs <= 86400)
            ms = secs * 1000;
    }
    if (ms < 0) return config_fail(L, n, 0, path, "expected a duration such as \"10ms\" or \"1s\"");
    if (!strcmp(f->name, "dialtimeout"))
        L->c->redis_dialtimeout = ms;
    else if (!strcmp(f->name, "readtimeout"))
        L->c->redis_readtimeout = ms;
    else
        L->c->redis_writetimeout = ms;
    return 0;
}

/* ---------------------------------------------------------------- middleware.storage (issue 7) */

static void storage_mw_free(struct config *c)
{
    for (size_t i = 0; i < c->nstorage_mw; i++) {
        free(c->storage_mw[i].baseurl);
        free(c->storage_mw[i].privatekey);
        free(c->storage_mw[i].keypairid);
    }
    free(c->storage_mw);
    c->storage_mw = NULL;
    c->nstorage_mw = 0;
}

/* mw_option: one key of an entry's options */
static int mw_option(struct loader *L, struct config_storage_mw *m, const struct ynode *v,
                     const char *kp)
{
    int rc = 0;
    const char *s;
    if (m->type == MW_CLOUDFRONT && !strcmp(v->key, "duration")) {
        if (is_null(v)) return 0;
        if (scalar_duration(v, &m->duration) < 0 || m->duration <= 0)
            return config_fail(L, v, 0, kp,
                               "expected a positive duration such as \"3000s\" or \"20m\"");
        return 0;
    }
    if (m->type == MW_CLOUDFRONT && !strcmp(v->key, "ipfilteredby")) {
        if (!(s = want_string(L, v, kp, &rc))) return rc;
        if (*s && strcmp(s, "none"))
            return config_fail(L, v, 0, kp, "\"%.32s\" is not supported by Wharf yet (only none)",
                               s);
        return 0;
    }
    if (m->type == MW_CLOUDFRONT &&
        (!strcmp(v->key, "awsregion") || !strcmp(v->key, "updatefrequency") ||
         !strcmp(v->key, "iprangesurl")))
        return 0; /* used only with ipfilteredby aws / awsregion */
    char **dst = !strcmp(v->key, "baseurl")                                  ? &m->baseurl
                 : m->type == MW_CLOUDFRONT && !strcmp(v->key, "privatekey") ? &m->privatekey
                 : m->type == MW_CLOUDFRONT && !strcmp(v->key, "keypairid")  ? &m->keypairid
                                                                             : NULL;
    if (!dst)
        return config_fail(
            L, v, 1, kp,
            m->type == MW_CLOUDFRONT
                ? "unknown key (expected baseurl, privatekey, keypairid, duration or "
                  "ipfilteredby)"
                : "unknown key (expected baseurl)");
    if (!(s = want_string(L, v, kp, &rc))) return rc;
    return set_str(dst, *s ? s : NULL);
}

/* mw_finish: required options; the reference's baseurl rules */
static int mw_finish(struct loader *L, struct config_storage_mw *m, const struct ynode *k,
                     const char *ep)
{
    if (!m->baseurl) return config_fail(L, k, 0, ep, "options.baseurl: required");
    const char *sep = strstr(m->baseurl, "://");
    if (m->type == MW_REDIRECT) {
        if (!sep || sep == m->baseurl)
            return config_fail(L, k, 0, ep,
                               "options.baseurl: no scheme specified for redirect baseurl");
        if (!sep[3] || sep[3] == '/')
            return config_fail(L, k, 0, ep,
                               "options.baseurl: no host specified for redirect baseurl");
        return 0;
    }
    if (!m->privatekey) return config_fail(L, k, 0, ep, "options.privatekey: required");
    if (!m->keypairid) return config_fail(L, k, 0, ep, "options.keypairid: required");
    size_t l = strlen(m->baseurl);
    char *u = malloc(l + 10);
    if (!u) return WERR_NOMEM;
    snprintf(u, l + 10, "%s%s%s", sep ? "" : "https://", m->baseurl,
             l && m->baseurl[l - 1] == '/' ? "" : "/");
    free(m->baseurl);
    m->baseurl = u;
    return 0;
}

/* middleware.storage: a list of {name, options, disabled} */
int apply_storage_mw(struct loader *L, const struct field *f, const struct ynode *n,
                     const char *path)
{
    struct config *c = L->c;
    storage_mw_free(c);
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ)
        return config_fail(L, n, 0, path, "expected a list of {name, options} mappings");
    if (!(c->storage_mw = calloc(n->nkids + 1, sizeof(*c->storage_mw)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        char ep[CONFIG_MAX_PATH / 2], kp[CONFIG_MAX_PATH];
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (k->type != Y_MAP) return config_fail(L, k, 0, ep, "expected a mapping");
        const struct ynode *nm = map_get(k, "name", 0), *opts = map_get(k, "options", 0),
                           *dis = map_get(k, "disabled", 0);
        int rc = 0, disabled = 0;
        for (size_t j = 0; j < k->nkids; j++)
            if (strcmp(k->kids[j]->key, "name") && strcmp(k->kids[j]->key, "options") &&
                strcmp(k->kids[j]->key, "disabled")) {
                path_join(kp, sizeof kp, ep, k->kids[j]->key);
                return config_fail(L, k->kids[j], 1, kp,
                                   "unknown key (expected name, options, disabled)");
            }
        path_join(kp, sizeof kp, ep, "name");
        if (!nm) return config_fail(L, k, 0, kp, "required");
        const char *s = want_string(L, nm, kp, &rc);
        if (!s) return rc;
        struct config_storage_mw m = {.duration = 1200};
        if (!strcmp(s, "redirect"))
            m.type = MW_REDIRECT;
        else if (!strcmp(s, "cloudfront"))
            m.type = MW_CLOUDFRONT;
        else
            return config_fail(L, nm, 0, kp,
                               "\"%.32s\" is not supported by Wharf yet (redirect, cloudfront)", s);
        if (dis) {
            path_join(kp, sizeof kp, ep, "disabled");
            if (scalar_bool(dis, &disabled) < 0)
                return config_fail(L, dis, 0, kp, "expected true or false");
        }
        char op[CONFIG_MAX_PATH / 2 + 16];
        path_join(op, sizeof op, ep, "options");
        if (opts && !is_null(opts) && opts->type != Y_MAP)
            return config_fail(L, opts, 0, op, "expected a mapping");
        c->storage_mw[c->nstorage_mw] = m;
        struct config_storage_mw *mp = &c->storage_mw[c->nstorage_mw++];
        for (size_t j = 0; opts && opts->type == Y_MAP && j < opts->nkids; j++) {
            path_join(kp, sizeof kp, op, opts->kids[j]->key);
            if ((rc = mw_option(L, mp, opts->kids[j], kp)) < 0) return rc;
        }
        if ((rc = mw_finish(L, mp, k, ep)) < 0) return rc;
        if (disabled) { /* kept out, as the reference skips it */
            free(mp->baseurl);
            free(mp->privatekey);
            free(mp->keypairid);
            c->nstorage_mw--;
        }
    }
    return 0;
}

RELEASER(release_storage_mw)
{
    storage_mw_free(c);
}

PRINTER(dump_inmemory)
{
    dump_key(out, depth, f->name);
    fputs(" {}\n", out);
}

PRINTER(dump_blobdescriptor)
{
    dump_key(out, depth, f->name);
    fprintf(out, " %s\n",
            c->blobdescriptor_redis      ? "redis"
            : c->blobdescriptor_inmemory ? "inmemory"
                                         : "\"\"");
}

PRINTER(dump_storage_mw)
{
    dump_key(out, depth, f->name);
    fputc('\n', out);
    for (size_t i = 0; i < c->nstorage_mw; i++) {
        const struct config_storage_mw *m = &c->storage_mw[i];
        int d = 2 * depth + 2;
        fprintf(out, "%*s- name: %s\n%*soptions:\n%*sbaseurl: ", d, "",
                m->type == MW_CLOUDFRONT ? "cloudfront" : "redirect", d + 2, "", d + 4, "");
        yaml_str(out, m->baseurl);
        fputc('\n', out);
        if (m->type != MW_CLOUDFRONT) continue;
        fprintf(out, "%*sprivatekey: ", d + 4, "");
        yaml_str(out, m->privatekey);
        fprintf(out, "\n%*skeypairid: ", d + 4, "");
        yaml_str(out, m->keypairid);
        fprintf(out, "\n%*sduration: %lds\n", d + 4, "", m->duration);
    }
}

SHOWN(shown_filesystem)
{
    return c->storage == STORAGE_FILESYSTEM;
}

SHOWN(shown_inmemory)
{
    return c->storage == STORAGE_INMEMORY;
}

SHOWN(shown_s3)
{
    return c->storage == STORAGE_S3;
}

SHOWN(shown_swift)
{
    return c->storage == STORAGE_SWIFT;
}

SHOWN(shown_azure)
{
    return c->storage == STORAGE_AZURE;
}

SHOWN(shown_gcs)
{
    return c->storage == STORAGE_GCS;
}

SHOWN(shown_oss)
{
    return c->storage == STORAGE_OSS;
}

/* redis is printed when it is used (an address given) */
SHOWN(shown_redis)
{
    return c->redis_addr != NULL;
}

SHOWN(shown_middleware)
{
    return c->nstorage_mw > 0;
}
