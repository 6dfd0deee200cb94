#include "arena.h"
#include "err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 16384

struct arena_block {
    struct arena_block *next;
    size_t size, used;
    max_align_t data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *data;
};

struct arena {
    struct arena_block *head;
    struct arena_cleanup *cleanups;
};

static void out_of_memory(void)
{
    fputs("wharf: out of memory\n", stderr);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) out_of_memory();
    return p;
}

char *xstrdup(const char *s)
{
    size_t l = strlen(s);
    char *p = xmalloc(l + 1);
    memcpy(p, s, l + 1);
    return p;
}

static struct arena_block *block_new(size_t n)
{
    size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
    struct arena_block *b = xmalloc(sizeof(*b) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct arena *arena_new(void)
{
    struct arena *a = xmalloc(sizeof(*a));
    a->head = block_new(0);
    a->cleanups = NULL;
    return a;
}

static void run_cleanups(struct arena *a)
{
    while (a->cleanups) {
        struct arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->data);
    }
}

void arena_reset(struct arena *a)
{
    run_cleanups(a);
    struct arena_block *b = a->head;
    while (b->next) {
        struct arena_block *n = b->next;
        b->next = n->next;
        free(n);
    }
    /* keep the last-allocated-first block only if it is the standard size */
    if (b->size != ARENA_BLOCK) {
        free(b);
        b = block_new(0);
    }
    b->used = 0;
    a->head = b;
}

void arena_free(struct arena *a)
{
    if (!a) return;
    run_cleanups(a);
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *n = b->next;
        free(b);
        b = n;
    }
    free(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    if (n > SIZE_MAX / 2) {
        /* no such allocation can succeed; rounding or the block header would wrap */
        fputs("wharf: out of memory\n", stderr);
        abort();
    }
    n = (n + 15) & ~(size_t)15;
    struct arena_block *b = a->head;
    if (b->size - b->used < n) {
        struct arena_block *nb = block_new(n);
        if (n > ARENA_BLOCK / 4) {
            /* big one-off: put it behind the current block so the head keeps its free space */
            nb->next = b->next;
            b->next = nb;
            nb->used = n;
            return (char *)nb->data;
        }
        nb->next = b;
        a->head = b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    n = strnlen(s, n); /* at most n bytes, as strndup */
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) n = 0;
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

void arena_cleanup(struct arena *a, void (*fn)(void *), void *data)
{
    struct arena_cleanup *c = arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
}

void buf_init(struct buf *b, size_t cap)
{
    b->data = NULL;
    b->len = b->size = 0;
    b->cap = cap;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (b->cap && (n > b->cap || b->len > b->cap - n)) return WERR_TOOBIG;
    if (n > SIZE_MAX / 4 || b->len > SIZE_MAX / 4 - n) return WERR_NOMEM; /* growth would wrap */
    if (b->len + n + 1 > b->size) {
        size_t ns = b->size ? b->size : 256;
        while (ns < b->len + n + 1)
            ns *= 2;
        char *nd = realloc(b->data, ns);
        if (!nd) return WERR_NOMEM;
        b->data = nd;
        b->size = ns;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return WERR_INVALID;
    if ((size_t)n < sizeof small) return buf_append(b, small, (size_t)n);
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->size = 0;
}

static void buf_cleanup(void *p)
{
    buf_free(p);
}

struct buf *buf_arena_new(struct arena *a, size_t cap)
{
    struct buf *b = arena_alloc(a, sizeof(*b));
    buf_init(b, cap);
    arena_cleanup(a, buf_cleanup, b);
    return b;
}
