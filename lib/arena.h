/* arena.h — per-request memory pool with cleanup hooks.
 * Everything allocated from an arena is freed at once by arena_free(); cleanups
 * registered with arena_cleanup() run first, in reverse order (close fds, driver
 * handles). Allocation failure aborts the process (a worker is respawned), so
 * callers never test for NULL. Also a growable byte buffer with a hard cap. */
#ifndef WHARF_ARENA_H
#define WHARF_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

/* xmalloc, xrealloc, xstrdup: process-lifetime allocations with the same
 * policy as the arena: failure aborts (a worker is respawned). */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

struct arena *arena_new(void);
void arena_free(struct arena *a);
/* arena_reset: run cleanups and release all but the first block; arena stays usable. */
void arena_reset(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);  /* uninitialised, 16-byte aligned */
void *arena_zalloc(struct arena *a, size_t n); /* zeroed */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n); /* at most n bytes */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* arena_cleanup: call fn(data) when the arena is reset or freed. */
void arena_cleanup(struct arena *a, void (*fn)(void *), void *data);

/* struct buf — growable buffer (malloc-backed, NUL-terminated) with a hard cap.
 * buf_append returns WERR_TOOBIG when len would exceed cap (cap 0 = no cap).
 * The owner calls buf_free; buf_arena registers that on an arena. */
struct buf {
    char *data;
    size_t len, size, cap;
};
void buf_init(struct buf *b, size_t cap);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);
/* buf_arena_new: a buf whose struct lives on arena a and whose storage is
 * freed when a is reset or freed (the struct must outlive the cleanup, so
 * never register a buf that lives on the stack). */
struct buf *buf_arena_new(struct arena *a, size_t cap);

#endif
