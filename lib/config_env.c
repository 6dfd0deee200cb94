/* config_env.c — REGISTRY_<PATH> environment overrides merged into the tree
 * before the schema walk, by the reference's rules: variables applied in
 * lexical order of their names (so REGISTRY_STORAGE comes before
 * REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY), each value parsed as a YAML
 * document like the reference's yaml.Unmarshal of the payload, and the nodes
 * it creates remember the variable's name for error messages. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_impl.h"
#include "err.h"

/* env_name_of: "REGISTRY_" + path uppercased with '.' -> '_' into out. */
void env_name_of(const char *path, char *out, size_t outlen)
{
    size_t i = 0, p = strlen(ENV_PREFIX);
    if (outlen <= p) {
        if (outlen) out[0] = '\0';
        return;
    }
    memcpy(out, ENV_PREFIX, p);
    for (i = 0; path[i] && p + 1 < outlen; i++)
        out[p++] = path[i] == '.' ? '_' : (char)toupper((unsigned char)path[i]);
    out[p] = '\0';
}

struct env_pair {
    const char *name;
    const char *value;
};

static int cmp_pairs(const void *a, const void *b)
{
    return strcmp(((const struct env_pair *)a)->name, ((const struct env_pair *)b)->name);
}

/* normalize_storage: "storage: inmemory" (a bare driver name, which the
 * reference accepts) becomes "storage: {inmemory: }" so keys below it can be
 * set from the environment and the schema sees one shape. */
int normalize_storage(struct ynode *n)
{
    if (!n || n->type != Y_SCALAR || is_null(n)) return 0;
    struct ynode *drv = ynode_new(Y_SCALAR, n->line, n->env);
    if (!drv || !(drv->val = strdup(""))) {
        ynode_free(drv);
        return WERR_NOMEM;
    }
    drv->plain = 1;
    drv->key = n->val;
    n->val = NULL;
    n->type = Y_MAP;
    if (ynode_add(n, drv) < 0) {
        ynode_free(drv);
        return WERR_NOMEM;
    }
    return 0;
}

/* env_apply: merge one REGISTRY_<PATH>=value into the tree.
 *
 * The path is resolved against the schema one '_'-separated part at a time
 * (case-insensitively), so an unknown or unsupported key is named by the
 * variable. Like the reference, the variable creates any missing parent
 * mapping and replaces the value it names, whatever the file had there.
 * Consequence, also the reference's: REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY
 * with a file that configures storage.inmemory adds a second driver and
 * loading stops ("only one storage driver"); the reference panics with
 * "multiple storage drivers specified in configuration or environment".
 * To switch drivers from the environment set REGISTRY_STORAGE=filesystem
 * (which, as in the reference, replaces the whole storage section) and then
 * REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY etc., applied after it because
 * variables are applied in lexical order. */
static int env_apply(struct loader *L, struct ynode **root, const char *name, const char *value)
{
    char parts[CONFIG_MAX_PATH], path[CONFIG_MAX_PATH] = "";
    const char *keys[CONFIG_MAX_DEPTH];
    size_t nkeys = 0;
    const struct field *f = &config_schema_top;
    struct ynode *val = NULL, *m;
    int rc = 0, header = 0;

    if (strlen(name) >= sizeof(parts)) {
        snprintf(L->err, L->errlen, "[env] %.64s...: unknown key", name);
        return WERR_INVALID;
    }
    strcpy(parts, name + strlen(ENV_PREFIX));
    for (char *save = NULL, *tok = parts; tok; tok = save) {
        save = strchr(tok, '_');
        if (save) *save++ = '\0';
        if (nkeys >= CONFIG_MAX_DEPTH) {
            snprintf(L->err, L->errlen, "[env] %s: unknown key", name);
            return WERR_INVALID;
        }
        if (header) { /* http.headers.<name>, log.fields.<name>: the part is the name */
            if (save || !*tok) {
                snprintf(L->err, L->errlen, "[env] %s: unknown key", name);
                return WERR_INVALID;
            }
            for (char *p = tok; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            keys[nkeys++] = tok;
            path_append(path, sizeof(path), tok);
            break;
        }
        const struct field *kf = f->kind == K_SECTION ? field_find(f->kids, tok, 1) : NULL;
        if (!kf) {
            snprintf(L->err, L->errlen, "[env] %s: unknown key", name);
            return WERR_INVALID;
        }
        keys[nkeys++] = kf->name;
        path_append(path, sizeof(path), kf->name);
        if (kf->kind == K_UNSUPPORTED && (kf->flags & F_WEBSERVER)) {
            snprintf(L->err, L->errlen, "[env] %s: %s: %s", name, path, kf->note);
            return WERR_INVALID;
        }
        if (kf->kind == K_UNSUPPORTED) {
            snprintf(L->err, L->errlen, "[env] %s: %s: not supported by Wharf yet%s%s%s", name,
                     path, kf->note ? " (" : "", kf->note ? kf->note : "", kf->note ? ")" : "");
            return WERR_INVALID;
        }
        if (save && kf->kind == K_CUSTOM &&
            (kf->fn == apply_headers || kf->fn == apply_logfields)) {
            /* REGISTRY_LOG_FIELDS_<NAME> (issue 14): one field, like a header */
            header = 1;
            continue;
        }
        if (save && kf->kind == K_CUSTOM && kf->fn == apply_workers) {
            /* REGISTRY_FASTCGI_WORKERS_MAX: one key of the dynamic pool */
            static const struct field workers_map = SECTION("workers", config_schema_workers);
            f = &workers_map;
            continue;
        }
        if (save && kf->kind != K_SECTION) {
            snprintf(L->err, L->errlen, "[env] %s: unknown key", name);
            return WERR_INVALID;
        }
        f = kf;
    }
    if (!nkeys) {
        snprintf(L->err, L->errlen, "[env] %s: unknown key", name);
        return WERR_INVALID;
    }

    if ((rc = parse_yaml(L, value, strlen(value), name, &val)) < 0) return rc;
    if (!val) { /* empty value: null */
        if (!(val = ynode_new(Y_SCALAR, 0, name)) || !(val->val = strdup(""))) {
            ynode_free(val);
            return WERR_NOMEM;
        }
        val->plain = 1;
    }
    val->line = val->key_line = 0;
    if (nkeys == 1 && (!strcmp(keys[0], "storage") || !strcmp(keys[0], "auth")) &&
        (rc = normalize_storage(val)) < 0)
        goto out;

    if (!*root || (*root)->type != Y_MAP) {
        /* no file, or an empty one: the environment starts the top mapping */
        ynode_free(*root);
        if (!(*root = ynode_new(Y_MAP, 1, NULL))) {
            rc = WERR_NOMEM;
            goto out;
        }
    }
    m = *root;
    for (size_t i = 0; i < nkeys; i++) {
        int nocase = header && i == nkeys - 1;
        struct ynode *k = map_get(m, keys[i], nocase);
        if (i == nkeys - 1) {
            if (!(val->key = strdup(k ? k->key : keys[i]))) {
                rc = WERR_NOMEM;
                goto out;
            }
            if (k) { /* replace in place: keeps the file's order */
                for (size_t j = 0; j < m->nkids; j++)
                    if (m->kids[j] == k) m->kids[j] = val;
                ynode_free(k);
            } else if ((rc = ynode_add(m, val)) < 0) {
                goto out;
            }
            val = NULL;
            break;
        }
        if (k && k->type != Y_MAP) {
            if ((!strcmp(keys[i], "storage") || !strcmp(keys[i], "auth")) && i == 0 &&
                (rc = normalize_storage(k)) < 0)
                goto out;
            if (k->type != Y_MAP) { /* null or a scalar: becomes a mapping */
                free(k->val);
                k->val = NULL;
                for (size_t j = 0; j < k->nkids; j++)
                    ynode_free(k->kids[j]);
                k->nkids = 0;
                k->type = Y_MAP;
                k->env = name;
            }
        }
        if (!k) {
            if (!(k = ynode_new(Y_MAP, 0, name)) || !(k->key = strdup(keys[i]))) {
                ynode_free(k);
                rc = WERR_NOMEM;
                goto out;
            }
            if ((rc = ynode_add(m, k)) < 0) {
                ynode_free(k);
                goto out;
            }
        }
        m = k;
    }
out:
    ynode_free(val);
    return rc;
}

int env_merge(struct loader *L, struct ynode **root, char *const *envp)
{
    size_t n = 0, plen = strlen(ENV_PREFIX);
    char **vars = NULL;
    int rc = 0;

    if (!envp) return 0;
    for (char *const *e = envp; *e; e++)
        if (!strncmp(*e, ENV_PREFIX, plen) && strchr(*e, '=')) n++;
    if (!n) return 0;
    if (!(vars = calloc(n, sizeof(*vars))) || !(L->envnames = calloc(n, sizeof(char *)))) {
        free(vars);
        return WERR_NOMEM;
    }
    n = 0;
    for (char *const *e = envp; *e; e++)
        if (!strncmp(*e, ENV_PREFIX, plen) && strchr(*e, '=')) vars[n++] = *e;
    /* sort by name only: "A=.." vs "A_B=.." must order A first */
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)(strchr(vars[i], '=') - vars[i]);
        if (!(L->envnames[i] = strndup(vars[i], len))) {
            rc = WERR_NOMEM;
            goto out;
        }
        L->nenv++;
    }
    /* keep name and value paired while sorting */
    struct env_pair *pairs = calloc(n, sizeof(*pairs));
    if (!pairs) {
        rc = WERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        pairs[i].name = L->envnames[i];
        pairs[i].value = strchr(vars[i], '=') + 1;
    }
    qsort(pairs, n, sizeof(*pairs), cmp_pairs);
    for (size_t i = 0; i < n && !rc; i++) {
        const char *v = pairs[i].value;
        if (strlen(v) > CONFIG_MAX_BYTES) {
            snprintf(L->err, L->errlen, "[env] %s: value too long", pairs[i].name);
            rc = WERR_TOOBIG;
            break;
        }
        rc = env_apply(L, root, pairs[i].name, v);
    }
    free(pairs);
out:
    free(vars);
    return rc;
}
