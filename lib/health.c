/* health.c — see health.h. The slots are fixed in the mapping; the used
 * part is [0, nused). A slot is written by the one health service under its
 * sequence counter: odd while the name or the text is being copied. A reader
 * that keeps finding the counter odd (a writer killed inside the slot) gives
 * up after HEALTH_READ_TRIES and takes what it copied: a garbled text is
 * better than a worker spinning forever. */
#include "health.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "err.h"

#define HEALTH_READ_TRIES 1000

struct health_slot {
    _Atomic unsigned seq;
    _Atomic int failing;
    _Atomic int count;
    char name[HEALTH_NAME_MAX];
    char error[HEALTH_ERROR_MAX];
};

struct health_table {
    _Atomic unsigned nused;
    struct health_slot slot[HEALTH_MAX_SLOTS];
};

static struct health_table *table; /* inherited across fork */

struct entry {
    char name[HEALTH_NAME_MAX];
    char error[HEALTH_ERROR_MAX];
};

int health_init(void)
{
    if (table) return 0;
    void *m = mmap(NULL, sizeof *table, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return WERR_IO;
    table = m; /* zero-filled: nothing used */
    return 0;
}

void health_reset(void)
{
    if (table) atomic_store(&table->nused, 0);
}

/* copy_cut: src into dst (size n), cut at n - 1 bytes without splitting a
 * UTF-8 sequence */
static void copy_cut(char *dst, size_t n, const char *src)
{
    size_t len = src ? strlen(src) : 0;
    if (len >= n) {
        len = n - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
            len--;
    }
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
}

int health_set(size_t i, const char *name, int failing, int count, const char *error)
{
    if (!table) return 0;
    if (i >= HEALTH_MAX_SLOTS || !name) return WERR_INVALID;
    struct health_slot *s = &table->slot[i];
    unsigned q = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, q + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    copy_cut(s->name, sizeof s->name, name);
    copy_cut(s->error, sizeof s->error, error);
    atomic_store_explicit(&s->count, count, memory_order_relaxed);
    atomic_store_explicit(&s->failing, failing != 0, memory_order_relaxed);
    atomic_store_explicit(&s->seq, q + 2, memory_order_release);
    if (atomic_load(&table->nused) < i + 1) atomic_store(&table->nused, (unsigned)(i + 1));
    return 0;
}

/* slot_read: a consistent copy of slot i's name and error (either may be NULL) */
static void slot_read(const struct health_slot *s, char *name, char *error, int *failing,
                      int *count)
{
    for (int t = 0; t < HEALTH_READ_TRIES; t++) {
        unsigned q1 = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (name) memcpy(name, s->name, HEALTH_NAME_MAX);
        if (error) memcpy(error, s->error, HEALTH_ERROR_MAX);
        *failing = atomic_load_explicit(&s->failing, memory_order_relaxed);
        *count = atomic_load_explicit(&s->count, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        unsigned q2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
        if (q1 == q2 && !(q1 & 1)) break;
    }
    if (name) name[HEALTH_NAME_MAX - 1] = '\0';
    if (error) error[HEALTH_ERROR_MAX - 1] = '\0';
}

int health_previous(const char *name, int *count, int *failing, char *error, size_t errlen)
{
    if (!table || !name) return 0;
    unsigned n = atomic_load(&table->nused);
    struct entry *e = malloc(sizeof *e);
    int found = 0;
    if (!e) return 0;
    for (unsigned i = 0; i < n && i < HEALTH_MAX_SLOTS && !found; i++) {
        int f, c;
        slot_read(&table->slot[i], e->name, e->error, &f, &c);
        if (strcmp(e->name, name)) continue;
        found = 1;
        *count = c;
        *failing = f;
        if (error && errlen) copy_cut(error, errlen, e->error);
    }
    free(e);
    return found;
}

int health_update(int *count, int threshold, int ok)
{
    if (ok) {
        *count = 0;
        return 0;
    }
    int cap = threshold > 0 ? threshold : 1;
    if (*count < cap) (*count)++;
    return *count >= cap;
}

int health_failing(void)
{
    if (!table) return 0;
    unsigned n = atomic_load_explicit(&table->nused, memory_order_acquire);
    for (unsigned i = 0; i < n && i < HEALTH_MAX_SLOTS; i++)
        if (atomic_load_explicit(&table->slot[i].failing, memory_order_relaxed)) return 1;
    return 0;
}

/* ---- the report ---------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* json_put: s as a JSON string the way Go's encoding/json writes one:
 * \" \\ \n \r \t, other controls as \u00XX, < > & as \u003c \u003e \u0026,
 * U+2028 and U+2029 escaped; returns the bytes written (out may be NULL to
 * count them). */
static size_t json_put(char *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (out) out[n] = (c);                                                                     \
        n++;                                                                                       \
    } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT((char)c);
        } else if (c == '\n' || c == '\r' || c == '\t') {
            PUT('\\');
            PUT(c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            PUT('\\');
            PUT('u');
            PUT('0');
            PUT('0');
            PUT(hex[c >> 4]);
            PUT(hex[c & 15]);
        } else if (c == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
            PUT('\\');
            PUT('u');
            PUT('2');
            PUT('0');
            PUT('2');
            PUT(p[2] == 0xa8 ? '8' : '9');
            p += 2;
        } else {
            PUT((char)c);
        }
    }
    PUT('"');
#undef PUT
    return n;
}

const char *health_report(struct arena *a, int *status)
{
    *status = 200;
    unsigned n = table ? atomic_load(&table->nused) : 0;
    if (n > HEALTH_MAX_SLOTS) n = HEALTH_MAX_SLOTS;
    struct entry *e = n ? arena_alloc(a, n * sizeof *e) : NULL;
    size_t ne = 0;
    for (unsigned i = 0; i < n; i++) {
        int failing, count;
        slot_read(&table->slot[i], e[ne].name, e[ne].error, &failing, &count);
        if (failing) ne++;
    }
    if (!ne) return "{}";
    *status = 503;
    qsort(e, ne, sizeof *e, entry_cmp);
    size_t len = 2; /* { } */
    for (size_t i = 0; i < ne; i++)
        len += json_put(NULL, e[i].name) + 1 + json_put(NULL, e[i].error) + (i > 0);
    char *out = arena_alloc(a, len + 1), *p = out;
    *p++ = '{';
    for (size_t i = 0; i < ne; i++) {
        if (i) *p++ = ',';
        p += json_put(p, e[i].name);
        *p++ = ':';
        p += json_put(p, e[i].error);
    }
    *p++ = '}';
    *p = '\0';
    return out;
}
