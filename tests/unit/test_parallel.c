/* test_parallel.c — lib/parallel.c: par_for does every index once, on at
 * most the threads asked for (and never more than there are indexes), the
 * calling thread among them; par_run runs its function nt times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/parallel.h"

#define N 200

struct seen {
    int count[N];
    pthread_t who[PAR_MAX + 1];
    size_t nwho;
    pthread_mutex_t mu;
};

static void note(void *ctx, size_t i)
{
    struct seen *s = ctx;
    usleep(200); /* long enough for every thread to take some */
    pthread_mutex_lock(&s->mu);
    s->count[i]++;
    size_t k = 0;
    while (k < s->nwho && !pthread_equal(s->who[k], pthread_self()))
        k++;
    if (k == s->nwho && s->nwho <= PAR_MAX) s->who[s->nwho++] = pthread_self();
    pthread_mutex_unlock(&s->mu);
}

static void run(size_t n, size_t nt, struct seen *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    par_for(n, nt, note, s);
    pthread_mutex_destroy(&s->mu);
}

static int caller_among(const struct seen *s)
{
    for (size_t k = 0; k < s->nwho; k++)
        if (pthread_equal(s->who[k], pthread_self())) return 1;
    return 0;
}

static void test_par_for_every_index_once(void **state)
{
    struct seen s;
    run(N, 4, &s);
    for (size_t i = 0; i < N; i++)
        if (s.count[i] != 1) fail_msg("index %zu done %d times", i, s.count[i]);
    assert_true(s.nwho >= 1 && s.nwho <= 4);
    assert_true(caller_among(&s));
}

static void test_par_for_threads_bounded(void **state)
{
    struct seen s;
    run(3, 8, &s); /* no more threads than indexes */
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(s.count[i], 1);
    assert_in_range(s.nwho, 1, 3);
    run(N, PAR_MAX + 10, &s); /* at most PAR_MAX */
    assert_in_range(s.nwho, 1, PAR_MAX);
    run(5, 1, &s); /* one: the caller alone */
    assert_int_equal(s.nwho, 1);
    assert_true(caller_among(&s));
}

static void test_par_for_nothing(void **state)
{
    struct seen s;
    run(0, 4, &s);
    assert_int_equal(s.nwho, 0);
}

static int runs;
static pthread_mutex_t runs_mu = PTHREAD_MUTEX_INITIALIZER;

static void *count_run(void *p)
{
    pthread_mutex_lock(&runs_mu);
    runs++;
    pthread_mutex_unlock(&runs_mu);
    return p;
}

static void test_par_run_nt_times(void **state)
{
    runs = 0;
    par_run(5, count_run, NULL);
    assert_int_equal(runs, 5);
    runs = 0;
    par_run(PAR_MAX + 5, count_run, NULL);
    assert_int_equal(runs, PAR_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_par_for_every_index_once),
        cmocka_unit_test(test_par_for_threads_bounded),
        cmocka_unit_test(test_par_for_nothing),
        cmocka_unit_test(test_par_run_nt_times),
    };
    return cmocka_run_group_tests_name("parallel", tests, NULL, NULL);
}
