/* inmemory.c — the inmemory storage driver: a tree of directories and files
 * held in this process. It lives inside one process, so it is for tests and
 * single-worker setups; content is lost at exit. One mutex guards the tree, so
 * threads may share a driver. The driver must outlive every reader and writer
 * (the arenas they were opened on).
 *
 * File content is a reference-counted blob: a reader holds a reference and
 * sees the content as it was at open; put replaces a file's blob, and a writer
 * copies a blob that a reader still holds before changing it. So a reader
 * never sees a partial put. Allocation failure aborts, as in lib/arena.c.
 * Semantics follow the filesystem driver: directories exist once created
 * (as parents of a file or destination) until deleted. */
#include "../../lib/err.h"
#include "../driver.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEM_PATH_MAX 4096

struct mem_blob {
    size_t refs; /* the file node + every open reader */
    size_t len, cap;
    unsigned char *data;
};

struct mem_node {
    char *name;
    int is_dir;
    time_t mtime;
    struct mem_node **kids; /* directories: sorted bytewise by name */
    size_t nkids, capkids;
    struct mem_blob *blob; /* files */
};

struct mem_held { /* a held lock */
    struct mem_held *next;
    char *path; /* malloc */
};
struct mem_driver {
    struct storage_driver base;
    pthread_mutex_t mu;
    struct mem_node *root;
    pthread_cond_t lock_cv; /* signalled when a lock is released */
    struct mem_held *held;  /* the locks held, a list (guarded by mu) */
};

struct mem_reader {
    struct storage_reader base;
    struct mem_driver *d;
    struct mem_blob *blob; /* NULL once closed */
    size_t off;
};

struct mem_writer {
    struct storage_writer base;
    struct mem_driver *d;
    char *path; /* arena */
    int64_t size;
    int open;
};

static const struct storage_driver_ops mem_ops;
static const struct storage_reader_ops mem_reader_ops;
static const struct storage_writer_ops mem_writer_ops;
static const struct storage_lock_ops mem_lock_ops;

static struct mem_blob *blob_new(const void *data, size_t len)
{
    struct mem_blob *b = xmalloc(sizeof(*b));
    b->refs = 1;
    b->len = len;
    b->cap = len;
    b->data = xmalloc(len);
    if (len) memcpy(b->data, data, len);
    return b;
}

static void blob_unref(struct mem_blob *b)
{
    if (b && --b->refs == 0) {
        free(b->data);
        free(b);
    }
}

/* blob_mut: the node's blob, copied first when a reader still holds it. */
static struct mem_blob *blob_mut(struct mem_node *n)
{
    if (n->blob->refs > 1) {
        struct mem_blob *c = blob_new(n->blob->data, n->blob->len);
        blob_unref(n->blob);
        n->blob = c;
    }
    return n->blob;
}

static struct mem_node *node_new(const char *name, size_t len, int is_dir)
{
    struct mem_node *n = xmalloc(sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->name = xmalloc(len + 1);
    memcpy(n->name, name, len);
    n->name[len] = 0;
    n->is_dir = is_dir;
    n->mtime = time(NULL);
    if (!is_dir) n->blob = blob_new(NULL, 0);
    return n;
}

static void node_free(struct mem_node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    blob_unref(n->blob);
    free(n->name);
    free(n);
}

static int name_cmp(const char *a, const char *b, size_t blen)
{
    size_t alen = strlen(a);
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* find_child: the child of dir named name[0..len), or NULL; *idx is its
 * position or where it would be inserted. */
static struct mem_node *find_child(struct mem_node *dir, const char *name, size_t len, size_t *idx)
{
    size_t lo = 0, hi = dir->nkids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(dir->kids[mid]->name, name, len);
        if (c == 0) {
            *idx = mid;
            return dir->kids[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *idx = lo;
    return NULL;
}

static void insert_child(struct mem_node *dir, size_t idx, struct mem_node *n)
{
    if (dir->nkids == dir->capkids) {
        dir->capkids = dir->capkids ? dir->capkids * 2 : 8;
        dir->kids = xrealloc(dir->kids, dir->capkids * sizeof(*dir->kids));
    }
    memmove(dir->kids + idx + 1, dir->kids + idx, (dir->nkids - idx) * sizeof(*dir->kids));
    dir->kids[idx] = n;
    dir->nkids++;
}

static struct mem_node *detach_child(struct mem_node *dir, size_t idx)
{
    struct mem_node *n = dir->kids[idx];
    memmove(dir->kids + idx, dir->kids + idx + 1, (dir->nkids - idx - 1) * sizeof(*dir->kids));
    dir->nkids--;
    return n;
}

/* resolve_parent: the directory holding path's last component (path valid,
 * not "/"), creating missing directories when create; NULL when a component
 * is missing (and !create) or is a file. */
static struct mem_node *resolve_parent(struct mem_driver *d, const char *path, int create,
                                       const char **leaf, size_t *leaflen)
{
    struct mem_node *cur = d->root;
    const char *c = path + 1;
    for (;;) {
        const char *e = strchr(c, '/');
        if (!e) {
            *leaf = c;
            *leaflen = strlen(c);
            return cur;
        }
        size_t n = (size_t)(e - c), idx;
        struct mem_node *k = find_child(cur, c, n, &idx);
        if (!k) {
            if (!create) return NULL;
            k = node_new(c, n, 1);
            insert_child(cur, idx, k);
        } else if (!k->is_dir) {
            return NULL;
        }
        cur = k;
        c = e + 1;
    }
}

/* lookup: the node at a valid path, or NULL. */
static struct mem_node *lookup(struct mem_driver *d, const char *path)
{
    if (path[1] == 0) return d->root;
    const char *leaf;
    size_t ll, idx;
    struct mem_node *p = resolve_parent(d, path, 0, &leaf, &ll);
    return p ? find_child(p, leaf, ll, &idx) : NULL;
}

static void mem_free(struct storage_driver *base)
{
    struct mem_driver *d = (struct mem_driver *)base;
    if (!d) return;
    node_free(d->root);
    while (d->held) { /* a lock whose arena outlives the driver: already a bug; no leak */
        struct mem_held *h = d->held;
        d->held = h->next;
        free(h->path);
        free(h);
    }
    pthread_cond_destroy(&d->lock_cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static int mem_get_content(struct storage_driver *base, struct arena *a, const char *path,
                           size_t max, char **data, size_t *len)
{
    struct mem_driver *d = (struct mem_driver *)base;
    *data = NULL;
    *len = 0;
    int rc = storage_path_check(path, MEM_PATH_MAX, 0);
    if (rc) return rc;
    pthread_mutex_lock(&d->mu);
    struct mem_node *n = lookup(d, path);
    if (!n || n->is_dir) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    if (n->blob->len > max) {
        rc = WERR_TOOBIG;
        goto out;
    }
    char *buf = arena_alloc(a, n->blob->len + 1);
    if (n->blob->len) memcpy(buf, n->blob->data, n->blob->len);
    buf[n->blob->len] = 0;
    *data = buf;
    *len = n->blob->len;
out:
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int mem_put_content(struct storage_driver *base, const char *path, const void *data,
                           size_t len)
{
    struct mem_driver *d = (struct mem_driver *)base;
    int rc = storage_path_check(path, MEM_PATH_MAX, 0);
    if (rc) return rc;
    struct mem_blob *b = blob_new(data, len); /* copied before taking the lock */
    pthread_mutex_lock(&d->mu);
    const char *leaf;
    size_t ll, idx;
    struct mem_node *p = resolve_parent(d, path, 1, &leaf, &ll);
    if (!p) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    struct mem_node *n = find_child(p, leaf, ll, &idx);
    if (n && n->is_dir) {
        rc = WERR_EXISTS;
        goto out;
    }
    if (!n) {
        n = node_new(leaf, ll, 0);
        insert_child(p, idx, n);
    }
    blob_unref(n->blob);
    n->blob = b;
    b = NULL;
    n->mtime = time(NULL);
out:
    pthread_mutex_unlock(&d->mu);
    blob_unref(b);
    return rc;
}

static void mem_reader_release(void *p)
{
    struct mem_reader *r = p;
    if (!r->blob) return;
    pthread_mutex_lock(&r->d->mu);
    blob_unref(r->blob);
    pthread_mutex_unlock(&r->d->mu);
    r->blob = NULL;
}

static int mem_reader(struct storage_driver *base, struct arena *a, const char *path,
                      int64_t offset, struct storage_reader **out)
{
    struct mem_driver *d = (struct mem_driver *)base;
    *out = NULL;
    int rc = storage_path_check(path, MEM_PATH_MAX, 0);
    if (rc) return rc;
    pthread_mutex_lock(&d->mu);
    struct mem_node *n = lookup(d, path);
    if (!n || n->is_dir) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    if (offset < 0 || (uint64_t)offset > n->blob->len) {
        rc = WERR_RANGE;
        goto out;
    }
    struct mem_reader *r = arena_alloc(a, sizeof(*r));
    r->base.ops = &mem_reader_ops;
    r->d = d;
    r->blob = n->blob;
    r->blob->refs++;
    r->off = (size_t)offset;
    arena_cleanup(a, mem_reader_release, r);
    *out = &r->base;
out:
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static ssize_t mem_read(struct storage_reader *base, void *buf, size_t n)
{
    struct mem_reader *r = (struct mem_reader *)base;
    if (!r->blob) return WERR_INVALID;
    /* the blob is immutable while this reader holds it (blob_mut copies) */
    size_t left = r->blob->len - r->off;
    if (n > left) n = left;
    if (n > SSIZE_MAX) n = SSIZE_MAX;
    if (n) memcpy(buf, r->blob->data + r->off, n);
    r->off += n;
    return (ssize_t)n;
}

static void mem_reader_close(struct storage_reader *base)
{
    mem_reader_release(base);
}

static void mem_writer_release(void *p)
{
    ((struct mem_writer *)p)->open = 0;
}

static int mem_writer(struct storage_driver *base, struct arena *a, const char *path, int append,
                      struct storage_writer **out)
{
    struct mem_driver *d = (struct mem_driver *)base;
    *out = NULL;
    int rc = storage_path_check(path, MEM_PATH_MAX, 0);
    if (rc) return rc;
    pthread_mutex_lock(&d->mu);
    const char *leaf;
    size_t ll, idx;
    struct mem_node *p = resolve_parent(d, path, 1, &leaf, &ll);
    if (!p) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    struct mem_node *n = find_child(p, leaf, ll, &idx);
    if (n && n->is_dir) {
        rc = WERR_EXISTS;
        goto out;
    }
    if (!n) {
        n = node_new(leaf, ll, 0);
        insert_child(p, idx, n);
    } else if (!append) {
        blob_unref(n->blob);
        n->blob = blob_new(NULL, 0);
        n->mtime = time(NULL);
    }
    struct mem_writer *w = arena_alloc(a, sizeof(*w));
    w->base.ops = &mem_writer_ops;
    w->d = d;
    w->path = arena_strdup(a, path);
    w->size = (int64_t)n->blob->len;
    w->open = 1;
    arena_cleanup(a, mem_writer_release, w);
    *out = &w->base;
out:
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int mem_write(struct storage_writer *base, const void *buf, size_t len)
{
    struct mem_writer *w = (struct mem_writer *)base;
    if (!w->open) return WERR_INVALID;
    int rc = 0;
    pthread_mutex_lock(&w->d->mu);
    struct mem_node *n = lookup(w->d, w->path);
    if (!n || n->is_dir) {
        rc = WERR_NOTFOUND; /* deleted or moved away meanwhile */
        goto out;
    }
    struct mem_blob *b = blob_mut(n);
    size_t pos = (size_t)w->size, need = pos + len;
    if (need < pos) {
        rc = WERR_TOOBIG;
        goto out;
    }
    if (need > b->cap) {
        size_t cap = b->cap < 4096 ? 4096 : b->cap;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    if (b->len < pos) memset(b->data + b->len, 0, pos - b->len);
    if (len) memcpy(b->data + pos, buf, len);
    b->len = need;
    n->mtime = time(NULL);
    w->size = (int64_t)need;
out:
    pthread_mutex_unlock(&w->d->mu);
    return rc;
}

static int64_t mem_writer_size(struct storage_writer *base)
{
    return ((struct mem_writer *)base)->size;
}

static int mem_writer_truncate(struct storage_writer *base, int64_t size)
{
    struct mem_writer *w = (struct mem_writer *)base;
    if (!w->open) return WERR_INVALID;
    if (size < 0 || size > w->size) return WERR_RANGE;
    int rc = 0;
    pthread_mutex_lock(&w->d->mu);
    struct mem_node *n = lookup(w->d, w->path);
    if (!n || n->is_dir) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    struct mem_blob *b = blob_mut(n);
    if (b->len > (size_t)size) b->len = (size_t)size;
    w->size = size;
out:
    pthread_mutex_unlock(&w->d->mu);
    return rc;
}

static int mem_commit(struct storage_writer *base)
{
    struct mem_writer *w = (struct mem_writer *)base;
    if (!w->open) return WERR_INVALID;
    w->open = 0;
    return 0;
}

static void mem_cancel(struct storage_writer *base)
{
    struct mem_writer *w = (struct mem_writer *)base;
    if (!w->open) return;
    w->open = 0;
    pthread_mutex_lock(&w->d->mu);
    const char *leaf;
    size_t ll, idx;
    struct mem_node *p = resolve_parent(w->d, w->path, 0, &leaf, &ll);
    struct mem_node *n = p ? find_child(p, leaf, ll, &idx) : NULL;
    if (n && !n->is_dir) node_free(detach_child(p, idx));
    pthread_mutex_unlock(&w->d->mu);
}

static void mem_writer_close(struct storage_writer *base)
{
    mem_writer_release(base);
}

static int mem_stat(struct storage_driver *base, const char *path, struct storage_stat *st)
{
    struct mem_driver *d = (struct mem_driver *)base;
    int rc = storage_path_check(path, MEM_PATH_MAX, 1);
    if (rc) return rc;
    pthread_mutex_lock(&d->mu);
    struct mem_node *n = lookup(d, path);
    if (!n) {
        rc = WERR_NOTFOUND;
    } else {
        st->is_dir = n->is_dir;
        st->size = n->is_dir ? 0 : (int64_t)n->blob->len;
        st->mtime = n->mtime;
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int mem_list(struct storage_driver *base, struct arena *a, const char *path, char ***names,
                    size_t *n)
{
    struct mem_driver *d = (struct mem_driver *)base;
    *names = NULL;
    *n = 0;
    int rc = storage_path_check(path, MEM_PATH_MAX, 1);
    if (rc) return rc;
    pthread_mutex_lock(&d->mu);
    struct mem_node *dir = lookup(d, path);
    if (!dir || !dir->is_dir) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    char **v = arena_alloc(a, (dir->nkids + 1) * sizeof(*v));
    for (size_t i = 0; i < dir->nkids; i++)
        v[i] = arena_strdup(a, dir->kids[i]->name);
    v[dir->nkids] = NULL;
    *names = v;
    *n = dir->nkids;
out:
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int mem_move(struct storage_driver *base, const char *src, const char *dst)
{
    struct mem_driver *d = (struct mem_driver *)base;
    int rc = storage_path_check(src, MEM_PATH_MAX, 0);
    if (!rc) rc = storage_path_check(dst, MEM_PATH_MAX, 0);
    if (rc) return rc;
    size_t sl = strlen(src);
    if (strncmp(dst, src, sl) == 0 && dst[sl] == '/') return WERR_INVALID;
    pthread_mutex_lock(&d->mu);
    struct mem_node *s = lookup(d, src);
    if (!s) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    if (strcmp(src, dst) == 0) goto out;
    const char *dleaf, *sleaf;
    size_t dll, sll, didx, sidx;
    struct mem_node *dp = resolve_parent(d, dst, 1, &dleaf, &dll);
    if (!dp) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    struct mem_node *t = find_child(dp, dleaf, dll, &didx);
    if (t && (t->is_dir || s->is_dir) && !(t->is_dir && s->is_dir && t->nkids == 0)) {
        rc = WERR_EXISTS; /* as rename(2): only an empty directory is replaced by one */
        goto out;
    }
    /* creating dst's parents may have shifted src's position: find it again */
    struct mem_node *sp = resolve_parent(d, src, 0, &sleaf, &sll);
    find_child(sp, sleaf, sll, &sidx);
    detach_child(sp, sidx);
    if (find_child(dp, dleaf, dll, &didx)) node_free(detach_child(dp, didx));
    find_child(dp, dleaf, dll, &didx);
    free(s->name);
    s->name = xmalloc(dll + 1);
    memcpy(s->name, dleaf, dll);
    s->name[dll] = 0;
    insert_child(dp, didx, s);
out:
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int mem_delete(struct storage_driver *base, const char *path)
{
    struct mem_driver *d = (struct mem_driver *)base;
    int rc = storage_path_check(path, MEM_PATH_MAX, 0);
    if (rc) return rc;
    pthread_mutex_lock(&d->mu);
    const char *leaf;
    size_t ll, idx;
    struct mem_node *p = resolve_parent(d, path, 0, &leaf, &ll);
    if (!p || !find_child(p, leaf, ll, &idx))
        rc = WERR_NOTFOUND;
    else
        node_free(detach_child(p, idx));
    pthread_mutex_unlock(&d->mu);
    return rc;
}

struct walk_entry {
    char *path;
    struct storage_stat st;
};

/* walk_dir: snapshot the children of dpath under the lock, then call fn
 * without it, so the callback may use the driver (delete what it visits). */
static int walk_dir(struct mem_driver *d, const char *dpath, int top, storage_walk_fn fn, void *ctx)
{
    struct walk_entry *v = NULL;
    size_t n = 0;
    int rc = 0;
    pthread_mutex_lock(&d->mu);
    struct mem_node *dir = lookup(d, dpath);
    if (!dir || !dir->is_dir) {
        pthread_mutex_unlock(&d->mu);
        return top ? WERR_NOTFOUND : 0; /* below the top: removed meanwhile */
    }
    n = dir->nkids;
    v = xmalloc(n * sizeof(*v));
    int root = dpath[1] == 0;
    size_t dl = root ? 0 : strlen(dpath);
    for (size_t i = 0; i < n; i++) {
        struct mem_node *k = dir->kids[i];
        size_t kl = strlen(k->name);
        v[i].path = xmalloc(dl + 1 + kl + 1);
        memcpy(v[i].path, dpath, dl);
        v[i].path[dl] = '/';
        memcpy(v[i].path + dl + 1, k->name, kl + 1);
        v[i].st.is_dir = k->is_dir;
        v[i].st.size = k->is_dir ? 0 : (int64_t)k->blob->len;
        v[i].st.mtime = k->mtime;
    }
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        int r = fn(ctx, v[i].path, &v[i].st);
        if (v[i].st.is_dir) {
            if (r == 0)
                r = walk_dir(d, v[i].path, 0, fn, ctx);
            else if (r == WALK_SKIP_DIR)
                r = 0;
        } else if (r == WALK_SKIP_DIR) {
            break; /* as the reference: skip the rest of this directory */
        }
        if (r) {
            rc = r;
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].path);
    free(v);
    return rc;
}

static int mem_walk(struct storage_driver *base, const char *path, storage_walk_fn fn, void *ctx)
{
    int rc = storage_path_check(path, MEM_PATH_MAX, 1);
    if (rc) return rc;
    return walk_dir((struct mem_driver *)base, path, 1, fn, ctx);
}

/* ---- locks: the driver lives in one process, so a list of held paths ---- */

struct mem_lock {
    struct storage_lock base;
    struct mem_driver *d;
    struct mem_held *h; /* NULL once released */
};

static struct mem_held **held_find(struct mem_driver *d, const char *path)
{
    struct mem_held **p = &d->held;
    while (*p && strcmp((*p)->path, path) != 0)
        p = &(*p)->next;
    return p;
}

static void mem_lock_release(void *p)
{
    struct mem_lock *l = p;
    if (!l->h) return;
    pthread_mutex_lock(&l->d->mu);
    for (struct mem_held **q = &l->d->held; *q; q = &(*q)->next) {
        if (*q == l->h) {
            *q = l->h->next;
            break;
        }
    }
    pthread_cond_broadcast(&l->d->lock_cv);
    pthread_mutex_unlock(&l->d->mu);
    free(l->h->path);
    free(l->h);
    l->h = NULL;
}

static int mem_lock(struct storage_driver *base, struct arena *a, const char *path, int ttl_s,
                    long wait_ms, struct storage_lock **out)
{
    struct mem_driver *d = (struct mem_driver *)base;
    (void)ttl_s; /* a holder cannot die without the driver */
    *out = NULL;
    int rc = storage_path_check(path, MEM_PATH_MAX, 0);
    if (rc) return rc;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&d->mu);
    while (*held_find(d, path)) {
        if (wait_ms <= 0 || pthread_cond_timedwait(&d->lock_cv, &d->mu, &until) != 0) {
            if (*held_find(d, path)) {
                pthread_mutex_unlock(&d->mu);
                return WERR_BUSY;
            }
        }
    }
    struct mem_held *h = xmalloc(sizeof(*h));
    h->path = xstrdup(path);
    h->next = d->held;
    d->held = h;
    pthread_mutex_unlock(&d->mu);
    struct mem_lock *l = arena_zalloc(a, sizeof(*l));
    l->base.ops = &mem_lock_ops;
    l->d = d;
    l->h = h;
    arena_cleanup(a, mem_lock_release, l);
    *out = &l->base;
    return 0;
}

static int mem_lock_renew(struct storage_lock *base)
{
    return ((struct mem_lock *)base)->h ? 0 : WERR_BUSY;
}

static void mem_unlock(struct storage_lock *base)
{
    mem_lock_release(base);
}

static const struct storage_reader_ops mem_reader_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .read = mem_read,
    .close = mem_reader_close,
};

static const struct storage_writer_ops mem_writer_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .write = mem_write,
    .size = mem_writer_size,
    .truncate = mem_writer_truncate,
    .commit = mem_commit,
    .cancel = mem_cancel,
    .close = mem_writer_close,
};

static const struct storage_lock_ops mem_lock_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .renew = mem_lock_renew,
    .unlock = mem_unlock,
};

static const struct storage_driver_ops mem_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "inmemory",
    .free = mem_free,
    .get_content = mem_get_content,
    .put_content = mem_put_content,
    .reader = mem_reader,
    .writer = mem_writer,
    .stat = mem_stat,
    .list = mem_list,
    .move = mem_move,
    .delete = mem_delete,
    .walk = mem_walk,
    .lock = mem_lock,
};

int driver_inmemory_new(struct storage_driver **out)
{
    struct mem_driver *d = xmalloc(sizeof(*d));
    storage_driver_init(&d->base, &mem_ops, NULL);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->lock_cv, NULL);
    d->held = NULL;
    d->root = node_new("", 0, 1);
    *out = &d->base;
    return 0;
}
