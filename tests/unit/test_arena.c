/* test_arena.c — lib/arena.c: the per-request arena (alignment, big
 * allocations, printf, cleanup order on reset and free) and struct buf
 * (hard cap, printf of long strings). Run under valgrind for leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/arena.h"
#include "../../lib/err.h"

static void test_alloc_alignment(void **state)
{
    struct arena *a = arena_new();
    /* sizes 1..300 repeatedly, enough to span several blocks */
    for (int round = 0; round < 20; round++) {
        for (size_t n = 1; n <= 300; n++) {
            unsigned char *p = arena_alloc(a, n);
            assert_non_null(p);
            if ((uintptr_t)p % 16 != 0) fail_msg("alloc(%zu) not 16-byte aligned: %p", n, p);
            memset(p, (int)n, n);
        }
    }
    for (size_t n = 0; n < 64; n++) {
        void *p = arena_zalloc(a, n);
        assert_int_equal((uintptr_t)p % 16, 0);
    }
    arena_free(a);
}

/* allocations do not overlap: fill each with its own byte, then check all */
static void test_alloc_no_overlap(void **state)
{
    struct arena *a = arena_new();
    enum { N = 2000 };
    unsigned char *ptrs[N];
    size_t sizes[N];
    for (int i = 0; i < N; i++) {
        /* mostly small, sometimes big one-offs (> block/4) and > one block */
        sizes[i] = (i % 97 == 0) ? 20000 + (size_t)i : (i % 31 == 0) ? 5000 : 1 + (size_t)i % 200;
        ptrs[i] = arena_alloc(a, sizes[i]);
        assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
        memset(ptrs[i], i & 0xff, sizes[i]);
    }
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            if (ptrs[i][j] != (unsigned char)(i & 0xff))
                fail_msg("allocation %d byte %zu overwritten", i, j);
    arena_free(a);
}

static void test_big_allocations(void **state)
{
    struct arena *a = arena_new();
    size_t sizes[] = {4097, 16384, 16385, 100000, 1 << 20, 3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *small1 = arena_alloc(a, 10);
        unsigned char *p = arena_alloc(a, sizes[i]);
        char *small2 = arena_alloc(a, 10);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, sizes[i]); /* valgrind: the whole region is addressable */
        memcpy(small1, "123456789", 10);
        memcpy(small2, "abcdefghi", 10);
        assert_int_equal(p[0], 0xab);
        assert_int_equal(p[sizes[i] - 1], 0xab);
        assert_string_equal(small1, "123456789");
        assert_string_equal(small2, "abcdefghi");
        unsigned char *z = arena_zalloc(a, sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            if (z[j]) fail_msg("zalloc(%zu) byte %zu not zero", sizes[i], j);
    }
    arena_reset(a);
    /* usable after reset, big and small */
    unsigned char *p = arena_alloc(a, 200000);
    memset(p, 1, 200000);
    char *s = arena_strdup(a, "after reset");
    assert_string_equal(s, "after reset");
    arena_free(a);
}

static void test_strings(void **state)
{
    struct arena *a = arena_new();
    assert_null(arena_strdup(a, NULL));
    assert_string_equal(arena_strdup(a, ""), "");
    const char *src = "hello, world";
    char *d = arena_strdup(a, src);
    assert_string_equal(d, src);
    assert_ptr_not_equal(d, src);
    assert_string_equal(arena_strndup(a, src, 5), "hello");
    assert_string_equal(arena_strndup(a, src, 0), "");
    /* like strndup: at most n bytes, stopping at the string's end — never
     * reading past it (a short string with a large n stays in bounds) */
    char *e = arena_strndup(a, "ab\0cd", 5);
    assert_string_equal(e, "ab");
    char *s = malloc(3);
    memcpy(s, "xy", 3);
    assert_string_equal(arena_strndup(a, s, 128), "xy");
    free(s);
    arena_free(a);
}

static void test_printf(void **state)
{
    struct arena *a = arena_new();
    assert_string_equal(arena_printf(a, "%s-%d-%05.1f", "x", 42, 3.14159), "x-42-003.1");
    assert_string_equal(arena_printf(a, "%s", ""), "");
    assert_string_equal(arena_printf(a, "%lld", (long long)INT64_MAX), "9223372036854775807");
    /* longer than a block */
    size_t n = 50000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = 0;
    char *p = arena_printf(a, "<%s>", big);
    assert_int_equal(strlen(p), n + 2);
    assert_int_equal(p[0], '<');
    assert_int_equal(p[n + 1], '>');
    assert_memory_equal(p + 1, big, n);
    free(big);
    arena_free(a);
}

/* ---- cleanups ---- */

struct trace {
    int seq[32];
    int n;
};

struct tok {
    struct trace *t;
    int id;
};

static void record(void *p)
{
    struct tok *k = p;
    assert_true(k->t->n < 32);
    k->t->seq[k->t->n++] = k->id;
}

static void test_cleanup_order(void **state)
{
    struct trace t = {{0}, 0};
    struct tok toks[6];
    for (int i = 0; i < 6; i++)
        toks[i] = (struct tok){&t, i + 1};
    struct arena *a = arena_new();
    arena_cleanup(a, record, &toks[0]);
    arena_cleanup(a, record, &toks[1]);
    (void)arena_alloc(a, 100000); /* a big block in between */
    arena_cleanup(a, record, &toks[2]);
    assert_int_equal(t.n, 0);
    arena_reset(a);
    /* reverse order of registration, each once */
    assert_int_equal(t.n, 3);
    assert_int_equal(t.seq[0], 3);
    assert_int_equal(t.seq[1], 2);
    assert_int_equal(t.seq[2], 1);
    arena_reset(a); /* nothing left to run */
    assert_int_equal(t.n, 3);

    arena_cleanup(a, record, &toks[3]);
    for (int i = 0; i < 100; i++)
        (void)arena_alloc(a, 1000); /* spans blocks */
    arena_cleanup(a, record, &toks[4]);
    arena_cleanup(a, record, &toks[5]);
    arena_free(a);
    assert_int_equal(t.n, 6);
    assert_int_equal(t.seq[3], 6);
    assert_int_equal(t.seq[4], 5);
    assert_int_equal(t.seq[5], 4);

    arena_free(NULL); /* a no-op */
}

/* cleanups free malloc'd memory: valgrind proves they ran */
static void test_cleanup_frees(void **state)
{
    struct arena *a = arena_new();
    for (int i = 0; i < 50; i++)
        arena_cleanup(a, free, malloc(100 + (size_t)i));
    arena_reset(a);
    for (int i = 0; i < 50; i++)
        arena_cleanup(a, free, malloc(100 + (size_t)i));
    arena_free(a);
}

/* ---- struct buf ---- */

static void test_buf_basic(void **state)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    assert_int_equal(buf_puts(&b, "def"), 0);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 6);
    /* binary content, NUL-terminated after it */
    assert_int_equal(buf_append(&b, "\0x", 2), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "abcdef\0x\0", 9);
    /* no cap: a megabyte in pieces */
    char chunk[1000];
    memset(chunk, 'q', sizeof chunk);
    for (int i = 0; i < 1100; i++)
        assert_int_equal(buf_append(&b, chunk, sizeof chunk), 0);
    assert_int_equal(b.len, 8 + 1100 * 1000);
    assert_int_equal(b.data[b.len], 0);
    assert_int_equal(b.data[b.len - 1], 'q');
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    buf_free(&b); /* twice is harmless */
}

static void test_buf_cap(void **state)
{
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "0123456789", 10), 0); /* exactly the cap */
    assert_int_equal(buf_append(&b, "x", 1), WERR_TOOBIG);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "0123456789");
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(buf_puts(&b, "y"), WERR_TOOBIG);
    assert_int_equal(buf_printf(&b, "%d", 1), WERR_TOOBIG);
    assert_int_equal(b.len, 10);
    buf_free(&b);

    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "012345", 6), 0);
    assert_int_equal(buf_append(&b, "abcde", 5), WERR_TOOBIG); /* 11 > 10: nothing added */
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "012345");
    assert_int_equal(buf_append(&b, "abcd", 4), 0);
    assert_string_equal(b.data, "012345abcd");
    /* a size that would overflow len + n is refused, not wrapped */
    assert_int_equal(buf_append(&b, "z", SIZE_MAX), WERR_TOOBIG);
    assert_int_equal(buf_append(&b, "z", SIZE_MAX - 5), WERR_TOOBIG);
    assert_int_equal(b.len, 10);
    buf_free(&b);

    buf_init(&b, 1);
    assert_int_equal(buf_append(&b, "ab", 2), WERR_TOOBIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_append(&b, "a", 1), 0);
    assert_string_equal(b.data, "a");
    buf_free(&b);
}

static void test_buf_printf_long(void **state)
{
    size_t lens[] = {0, 1, 255, 256, 510, 511, 512, 513, 1023, 1024, 4096, 100000};
    char *s = malloc(100001);
    assert_non_null(s);
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        size_t n = lens[i];
        for (size_t j = 0; j < n; j++)
            s[j] = (char)('A' + (j * 7) % 26);
        s[n] = 0;
        struct buf b;
        buf_init(&b, 0);
        assert_int_equal(buf_puts(&b, "pre:"), 0);
        assert_int_equal(buf_printf(&b, "[%s]%zu", s, n), 0);
        char tail[32];
        int tl = snprintf(tail, sizeof tail, "]%zu", n);
        assert_int_equal(b.len, 4 + 1 + n + (size_t)tl);
        assert_memory_equal(b.data, "pre:[", 5);
        assert_memory_equal(b.data + 5, s, n);
        assert_string_equal(b.data + 5 + n, tail);
        buf_free(&b);

        /* the cap applies to what printf produced, long or short */
        buf_init(&b, n + 1);
        assert_int_equal(buf_printf(&b, "%s", s), 0);
        assert_int_equal(buf_printf(&b, "%s", "xy"), WERR_TOOBIG);
        assert_int_equal(b.len, n);
        if (n >= 2) {
            assert_int_equal(buf_printf(&b, "%s", s), WERR_TOOBIG);
            assert_int_equal(b.len, n);
        }
        buf_free(&b);
    }
    free(s);
}

static void test_buf_arena(void **state)
{
    struct arena *a = arena_new();
    struct buf *b = buf_arena_new(a, 0);
    assert_int_equal(buf_printf(b, "%0*d", 5000, 7), 0);
    assert_int_equal(b->len, 5000);
    struct buf *capped = buf_arena_new(a, 10);
    assert_int_equal(buf_puts(capped, "0123456789"), 0);
    assert_int_equal(buf_puts(capped, "x"), WERR_TOOBIG);
    /* a reset frees the storage; the arena stays usable for the next request */
    arena_reset(a);
    b = buf_arena_new(a, 0);
    assert_int_equal(buf_puts(b, "again"), 0);
    assert_string_equal(b->data, "again");
    arena_free(a); /* frees every buffer's storage (valgrind) */
}

/* in_child: run fn in a forked child (3 s alarm). The child reports through a
 * pipe, not its exit status (valgrind and sanitizers rewrite that): returns
 * the byte fn wrote with child_says(), or 0 when it wrote none (it aborted,
 * crashed or hung). */
static int child_fd = -1;

static void child_says(char c)
{
    if (write(child_fd, &c, 1) != 1) _exit(4);
}

static char in_child(void (*fn)(void))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_fd = fds[1];
        alarm(3);
        fn();
        _exit(0);
    }
    close(fds[1]);
    char c = 0;
    if (read(fds[0], &c, 1) != 1) c = 0;
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return c;
}

static void child_alloc_wraps(void)
{
    struct arena *a = arena_new();
    void *p = arena_alloc(a, SIZE_MAX - 3); /* rounded up to 16, wraps to 0 */
    (void)p;
    child_says('R'); /* returned: a caller would now write SIZE_MAX-3 bytes into nothing */
    arena_free(a);
}

static void child_alloc_half(void)
{
    struct arena *a = arena_new();
    (void)arena_alloc(a, SIZE_MAX / 2); /* malloc fails: must abort */
    child_says('R');
    arena_free(a);
}

/* "Allocation failure aborts the process, so callers never test for NULL":
 * an impossible size must abort, never return a pointer to fewer bytes. */
static void test_alloc_impossible_size_aborts(void **state)
{
    if (in_child(child_alloc_half) == 'R')
        fail_msg("arena_alloc(SIZE_MAX/2) returned instead of aborting");
    /* KNOWN BUG (lib/arena.c arena_alloc): n = (n + 15) & ~15 overflows for
     * n > SIZE_MAX - 15, so arena_alloc(a, SIZE_MAX - 3) returns a pointer to a
     * 0-byte allocation instead of aborting (and SIZE_MAX - 20 makes block_new
     * malloc sizeof(header) + n, which wraps to a 16-byte block whose header is
     * then written: heap corruption). This assertion fails until it is fixed. */
    if (in_child(child_alloc_wraps) == 'R')
        fail_msg("KNOWN BUG lib/arena.c arena_alloc: arena_alloc(SIZE_MAX-3) returned a pointer "
                 "instead of aborting");
}

static void child_buf_huge(void)
{
    struct buf b;
    buf_init(&b, 0);
    static const char one = 'x';
    /* an impossible length on an uncapped buffer: must fail with a WERR_*
     * (nothing is read from &one unless the buffer was grown to n bytes) */
    int rc = buf_append(&b, &one, SIZE_MAX / 2 + 10);
    child_says(rc < 0 ? 'E' : 'R');
    buf_free(&b);
}

static void test_buf_impossible_size(void **state)
{
    /* KNOWN BUG (lib/arena.c buf_append): with cap 0, the growth loop
     * `while (ns < b->len + n + 1) ns *= 2;` wraps ns to 0 for n > SIZE_MAX/2 and
     * never ends (and b->len + n + 1 itself wraps for n near SIZE_MAX, skipping
     * the growth and memcpy-ing n bytes into a 256-byte buffer). Expected: a
     * WERR_NOMEM/WERR_TOOBIG return. The child is killed by its 3 s alarm. */
    char c = in_child(child_buf_huge);
    if (c != 'E')
        fail_msg("KNOWN BUG lib/arena.c buf_append: buf_append(cap 0, n = SIZE_MAX/2+10) %s",
                 c == 'R' ? "returned 0" : "did not return (hung or crashed)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_alignment),
        cmocka_unit_test(test_alloc_no_overlap),
        cmocka_unit_test(test_big_allocations),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_cleanup_order),
        cmocka_unit_test(test_cleanup_frees),
        cmocka_unit_test(test_buf_basic),
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_buf_printf_long),
        cmocka_unit_test(test_buf_arena),
        cmocka_unit_test(test_alloc_impossible_size_aborts),
        cmocka_unit_test(test_buf_impossible_size),
    };
    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
