/* test_evqueue_write.c — the journal's writer (lib/evqueue_write.c, format
 * in lib/evqueue.h): records land whole, one per line; bad records are
 * refused; the directory is created; concurrent appenders in fork()ed
 * processes never interleave (records larger than PIPE_BUF included); a
 * reader rotating the way lib/evqueue.h says (rename, then flock LOCK_EX)
 * while writers append loses no record and sees no write after it sealed a
 * segment. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../lib/err.h"
#include "../../lib/evqueue.h"

static char dir[64];

static int setup(void **state)
{
    strcpy(dir, "/tmp/wharf-test-evq.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static const char *cur_path(void)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, EVQUEUE_CURRENT);
    return p;
}

static void test_append_lines(void **state)
{
    assert_int_equal(evqueue_append(dir, "{\"a\":1}", 7, 0), 0);
    assert_int_equal(evqueue_append(dir, "{\"b\":2}", 7, 1), 0);
    size_t n;
    char *s = slurp(cur_path(), &n);
    assert_non_null(s);
    assert_string_equal(s, "{\"a\":1}\n{\"b\":2}\n");
    struct stat st;
    assert_int_equal(stat(cur_path(), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    free(s);
}

static void test_refused(void **state)
{
    assert_int_equal(evqueue_append(dir, "{\"a\":\n1}", 8, 0), WERR_INVALID);
    assert_int_equal(evqueue_append(dir, "", 0, 0), WERR_INVALID);
    size_t big = EVQUEUE_RECORD_MAX;
    char *b = malloc(big);
    assert_non_null(b);
    memset(b, 'x', big);
    assert_int_equal(evqueue_append(dir, b, big, 0), WERR_INVALID); /* + '\n' is too much */
    assert_int_equal(evqueue_append(dir, b, big - 1, 0), 0);        /* exactly the maximum */
    free(b);
    struct stat st;
    assert_int_equal(stat(cur_path(), &st), 0);
    assert_int_equal(st.st_size, EVQUEUE_RECORD_MAX);
}

static void test_creates_dir(void **state)
{
    char sub[160];
    snprintf(sub, sizeof sub, "%s/a/b/events", dir);
    assert_int_equal(evqueue_append(sub, "{}", 2, 1), 0);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    char f[200];
    snprintf(f, sizeof f, "%s/%s", sub, EVQUEUE_CURRENT);
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_size, 3);
    /* a directory that cannot exist: an I/O error, never a crash */
    snprintf(sub, sizeof sub, "%s/%s/x", dir, "a/b/events/current.log");
    assert_int_equal(evqueue_append(sub, "{}", 2, 0), WERR_IO);
}

/* the record child c writes as its i-th: its size varies from a few bytes to
 * well past PIPE_BUF (4096), so an append that is not a single write shows */
#define WRITERS 4
#define PER_WRITER 150
static size_t rec_make(char *buf, size_t cap, int c, int i)
{
    size_t pad = (size_t)((i * 7919 + c * 104729) % 9000);
    int n = snprintf(buf, cap, "{\"c\":%d,\"i\":%d,\"p\":\"", c, i);
    memset(buf + n, 'a' + (c + i) % 26, pad);
    n += (int)pad;
    n += snprintf(buf + n, cap - (size_t)n, "\"}");
    return (size_t)n;
}

static void spawn_writers(pid_t *pids)
{
    for (int c = 0; c < WRITERS; c++) {
        pid_t p = fork();
        assert_true(p >= 0);
        if (p == 0) {
            char *buf = malloc(32768);
            int bad = 0;
            for (int i = 0; i < PER_WRITER; i++) {
                size_t n = rec_make(buf, 32768, c, i);
                if (evqueue_append(dir, buf, n, i % 50 == 0) != 0) bad++;
            }
            free(buf);
            _exit(bad ? 1 : 0);
        }
        pids[c] = p;
    }
}

static void wait_writers(pid_t *pids)
{
    for (int c = 0; c < WRITERS; c++) {
        int st;
        assert_int_equal(waitpid(pids[c], &st, 0), pids[c]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

/* check every line of text is one whole record; mark seen[c][i] */
static void check_lines(const char *text, size_t len, int seen[WRITERS][PER_WRITER])
{
    char *want = malloc(32768);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl); /* the last line ends with a newline too */
        int c = -1, i = -1;
        assert_int_equal(sscanf(p, "{\"c\":%d,\"i\":%d,", &c, &i), 2);
        assert_true(c >= 0 && c < WRITERS && i >= 0 && i < PER_WRITER);
        size_t n = rec_make(want, 32768, c, i);
        assert_int_equal((size_t)(nl - p), n);
        assert_memory_equal(p, want, n);
        seen[c][i]++;
        p = nl + 1;
    }
    free(want);
}

static void check_all_seen(int seen[WRITERS][PER_WRITER])
{
    for (int c = 0; c < WRITERS; c++)
        for (int i = 0; i < PER_WRITER; i++)
            if (seen[c][i] != 1) fail_msg("record %d/%d seen %d times", c, i, seen[c][i]);
}

static void test_concurrent_whole_lines(void **state)
{
    pid_t pids[WRITERS];
    spawn_writers(pids);
    wait_writers(pids);
    size_t n;
    char *s = slurp(cur_path(), &n);
    assert_non_null(s);
    static int seen[WRITERS][PER_WRITER];
    memset(seen, 0, sizeof seen);
    check_lines(s, n, seen);
    check_all_seen(seen);
    free(s);
}

/* rotate as the reader does: rename current.log to <seq>.log, open it, take
 * LOCK_EX (waits for writers holding LOCK_SH); its size then is final */
#define ROTATIONS_MAX 20000
static void test_rotation_under_writers(void **state)
{
    pid_t pids[WRITERS];
    static off_t sealed_size[ROTATIONS_MAX];
    int nseg = 0;
    spawn_writers(pids);
    for (;;) {
        int running = 0;
        for (int c = 0; c < WRITERS; c++) {
            int st;
            if (pids[c] <= 0) continue;
            pid_t w = waitpid(pids[c], &st, WNOHANG);
            if (w == 0) {
                running = 1;
                continue;
            }
            assert_int_equal(w, pids[c]);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0); /* every append succeeded */
            pids[c] = 0;
        }
        char seg[160];
        snprintf(seg, sizeof seg, "%s/%020d.log", dir, nseg + 1);
        if (rename(cur_path(), seg) == 0) {
            int fd = open(seg, O_RDONLY);
            assert_true(fd >= 0);
            assert_int_equal(flock(fd, LOCK_EX), 0);
            struct stat st;
            assert_int_equal(fstat(fd, &st), 0);
            sealed_size[nseg++] = st.st_size;
            close(fd);
            assert_true(nseg < ROTATIONS_MAX);
        }
        if (!running) break;
        usleep(300);
    }
    static int seen[WRITERS][PER_WRITER];
    memset(seen, 0, sizeof seen);
    for (int k = 0; k < nseg; k++) {
        char seg[160];
        snprintf(seg, sizeof seg, "%s/%020d.log", dir, k + 1);
        size_t n;
        char *s = slurp(seg, &n);
        assert_non_null(s);
        if ((off_t)n != sealed_size[k])
            fail_msg("segment %d grew after it was sealed: %lld -> %zu", k + 1,
                     (long long)sealed_size[k], n);
        check_lines(s, n, seen);
        free(s);
    }
    size_t n;
    char *s = slurp(cur_path(), &n);
    if (s) {
        check_lines(s, n, seen);
        free(s);
    }
    assert_true(nseg >= 2); /* rotations did happen while writers ran */
    check_all_seen(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_creates_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_whole_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_under_writers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
