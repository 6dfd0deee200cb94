/* test_evqueue_read.c — the notifications journal's reader (lib/evqueue.h):
 * rotation of current.log into sealed segments, records in order, cursors
 * that survive a reopen, torn and oversized lines skipped (a whole record
 * after a torn one kept), segments deleted once every endpoint passed them,
 * numbers that never go back, one reader per directory, pending counts.
 * Records are written here in the journal format (the writer is
 * lib/evqueue_write.c's business). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/err.h"
#include "../../lib/evqueue.h"
#include "../../lib/log.h"

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

static void append(const char *s)
{
    char p[128];
    snprintf(p, sizeof p, "%s/current.log", dir);
    FILE *f = fopen(p, "a");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void rec(int n)
{
    char b[64];
    snprintf(b, sizeof b, "{\"id\":\"e%d\"}\n", n);
    append(b);
}

/* expect: the next record for endpoint i is event n */
static void expect(struct evqueue_reader *r, size_t i, int n)
{
    const char *s;
    size_t len;
    char want[32];
    snprintf(want, sizeof want, "{\"id\":\"e%d\"}", n);
    assert_int_equal(evqueue_next(r, i, &s, &len), 1);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s, want, len);
}

static void expect_none(struct evqueue_reader *r, size_t i)
{
    const char *s;
    size_t len;
    assert_int_equal(evqueue_next(r, i, &s, &len), 0);
}

/* segments: how many sealed segments are in dir; *max: the highest number */
static int segments(unsigned long long *max)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    if (max) *max = 0;
    while ((de = readdir(d)))
        if (strlen(de->d_name) == 24 && !strcmp(de->d_name + 20, ".log")) {
            n++;
            unsigned long long v = strtoull(de->d_name, NULL, 10);
            if (max && v > *max) *max = v;
        }
    closedir(d);
    return n;
}

static int exists(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static const char *const two[] = {"a", "b"};

static void test_rotation_order_and_deletion(void **state)
{
    struct evqueue_reader *r;
    for (int i = 1; i <= 3; i++)
        rec(i);
    assert_int_equal(evqueue_reader_open(dir, two, 2, 1, &r), 0);
    assert_int_equal(evqueue_pending(r, 0), 3);
    expect(r, 0, 1);
    /* the first read sealed current.log */
    assert_false(exists("current.log"));
    assert_int_equal(segments(NULL), 1);
    rec(4); /* a new current.log, not read before a.. has read the segment */
    expect(r, 0, 2);
    expect(r, 0, 3);
    expect(r, 0, 4); /* sealed in its turn */
    assert_int_equal(segments(NULL), 2);
    expect_none(r, 0);
    assert_int_equal(evqueue_ack(r, 0), 0);
    assert_int_equal(evqueue_pending(r, 0), 0);
    assert_int_equal(evqueue_pending(r, 1), 4);
    /* b has not passed them: kept */
    assert_int_equal(segments(NULL), 2);
    expect(r, 1, 1);
    expect(r, 1, 2);
    expect(r, 1, 3);
    assert_int_equal(evqueue_ack(r, 1), 0);
    assert_int_equal(segments(NULL), 1); /* the first, passed by both */
    expect(r, 1, 4);
    assert_int_equal(evqueue_ack(r, 1), 0);
    assert_int_equal(segments(NULL), 0);
    evqueue_reader_close(r);
}

static void test_cursor_persists_and_rewind(void **state)
{
    struct evqueue_reader *r;
    for (int i = 1; i <= 3; i++)
        rec(i);
    assert_int_equal(evqueue_reader_open(dir, two, 2, 1, &r), 0);
    expect(r, 0, 1);
    assert_int_equal(evqueue_ack(r, 0), 0);
    expect(r, 0, 2); /* read, not delivered */
    evqueue_rewind(r, 0);
    expect(r, 0, 2);
    evqueue_reader_close(r); /* a crash after the read: 2 not acked */
    assert_true(exists("a.cursor"));
    assert_int_equal(evqueue_reader_open(dir, two, 2, 1, &r), 0);
    assert_int_equal(evqueue_pending(r, 0), 2);
    expect(r, 0, 2);
    expect(r, 0, 3);
    assert_int_equal(evqueue_ack(r, 0), 0);
    expect(r, 1, 1); /* b had no cursor: from the oldest kept */
    evqueue_reader_close(r);
}

static void test_numbers_never_go_back(void **state)
{
    struct evqueue_reader *r;
    static const char *const one[] = {"a"};
    rec(1);
    assert_int_equal(evqueue_reader_open(dir, one, 1, 0, &r), 0);
    expect(r, 0, 1);
    assert_int_equal(evqueue_ack(r, 0), 0);
    rec(2);
    expect(r, 0, 2);
    assert_int_equal(evqueue_ack(r, 0), 0);
    assert_int_equal(segments(NULL), 0);
    evqueue_reader_close(r);
    /* every segment deleted; the next one is numbered above the cursor's */
    rec(3);
    assert_int_equal(evqueue_reader_open(dir, one, 1, 0, &r), 0);
    assert_int_equal(evqueue_pending(r, 0), 1);
    expect(r, 0, 3);
    unsigned long long max;
    assert_int_equal(segments(&max), 1);
    assert_int_equal(max, 3);
    expect_none(r, 0);
    evqueue_reader_close(r);
}

static void test_torn_lines_skipped(void **state)
{
    struct evqueue_reader *r;
    static const char *const one[] = {"a"};
    rec(1);
    append("{\"id\":\"torn\n");               /* not JSON: skipped */
    append("[1,2]\n");                        /* JSON, not an object: skipped */
    append("{\"id\":\"cut{\"id\":\"e2\"}\n"); /* a torn record, then a whole one */
    rec(3);
    append("{\"id\":\"tail"); /* a writer killed before its newline */
    assert_int_equal(evqueue_reader_open(dir, one, 1, 0, &r), 0);
    expect(r, 0, 1);
    expect(r, 0, 2);
    expect(r, 0, 3);
    expect_none(r, 0);
    assert_int_equal(evqueue_ack(r, 0), 0);
    assert_int_equal(segments(NULL), 0);
    /* the next writer appends to a new current.log: nothing lost */
    rec(4);
    expect(r, 0, 4);
    evqueue_reader_close(r);
}

static void test_oversized_line_skipped(void **state)
{
    struct evqueue_reader *r;
    static const char *const one[] = {"a"};
    size_t n = EVQUEUE_RECORD_MAX + 100;
    char *big = malloc(n + 2);
    assert_non_null(big);
    memset(big, 'x', n);
    big[0] = '{';
    big[n] = '\n';
    big[n + 1] = 0;
    rec(1);
    append(big);
    rec(2);
    free(big);
    assert_int_equal(evqueue_reader_open(dir, one, 1, 0, &r), 0);
    expect(r, 0, 1);
    expect(r, 0, 2);
    expect_none(r, 0);
    evqueue_reader_close(r);
}

/* an endpoint that never reads (dead): the live one keeps getting its
 * events, but once 64 segments are kept, sealing is slowed to once a second */
static void test_lagging_endpoint_slows_sealing(void **state)
{
    struct evqueue_reader *r;
    assert_int_equal(evqueue_reader_open(dir, two, 2, 0, &r), 0);
    for (int i = 1; i <= 64; i++) {
        rec(i);
        expect(r, 0, i);
        assert_int_equal(evqueue_ack(r, 0), 0);
    }
    assert_int_equal(segments(NULL), 64);
    /* 20 events in quick succession, each looked for at once */
    const char *s;
    size_t len;
    int next = 65;
    for (int i = 65; i < 85; i++) {
        rec(i);
        while (evqueue_next(r, 0, &s, &len) == 1) {
            char want[32];
            snprintf(want, sizeof want, "{\"id\":\"e%d\"}", next++);
            assert_memory_equal(s, want, len);
        }
    }
    assert_in_range(segments(NULL), 64, 66);     /* not one segment per event */
    for (int k = 0; k < 300 && next < 85; k++) { /* the rest within 3 s */
        if (evqueue_next(r, 0, &s, &len) == 1)
            next++;
        else
            usleep(10000);
    }
    assert_int_equal(next, 85);
    expect(r, 1, 1); /* all still there for b */
    evqueue_reader_close(r);
}

static void test_one_reader(void **state)
{
    struct evqueue_reader *r, *r2;
    static const char *const one[] = {"a"};
    assert_int_equal(evqueue_reader_open(dir, one, 1, 0, &r), 0);
    assert_int_equal(evqueue_reader_open(dir, one, 1, 0, &r2), WERR_BUSY);
    evqueue_reader_close(r);
    assert_int_equal(evqueue_reader_open(dir, one, 1, 0, &r2), 0);
    evqueue_reader_close(r2);
}

static void test_dir_created(void **state)
{
    struct evqueue_reader *r;
    static const char *const one[] = {"a"};
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(evqueue_reader_open(sub, one, 1, 0, &r), 0);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    evqueue_reader_close(r);
}

int main(void)
{
    log_init(LOG_ERROR, 0, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rotation_order_and_deletion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_persists_and_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_never_go_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_lines_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_line_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lagging_endpoint_slows_sealing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_created, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
