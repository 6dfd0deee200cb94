/* test_mstime.c — lib/mstime.c: ms_sleep sleeps its whole time though
 * signals arrive meanwhile (the lease waits rely on it), nothing for a
 * time of 0 or below; ms_since counts the milliseconds slept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include "../../lib/mstime.h"

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void test_sleep_through_signals(void **state)
{
    (void)state;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: nanosleep is cut (EINTR) */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 20000}, {0, 20000}}; /* every 20 ms */
    alarms = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ms_sleep(150);
    long slept = ms_since(&t0);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_DFL);
    assert_true(alarms >= 3); /* the sleep was interrupted */
    assert_true(slept >= 150);
    assert_true(slept < 2000);
}

static void test_no_sleep(void **state)
{
    (void)state;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ms_sleep(0);
    ms_sleep(-5);
    assert_true(ms_since(&t0) < 20);
}

static void test_since_counts(void **state)
{
    (void)state;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(ms_since(&t0) >= 0);
    ms_sleep(1200); /* across a second boundary: the nanoseconds may go negative */
    long ms = ms_since(&t0);
    assert_true(ms >= 1200 && ms < 3000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleep_through_signals),
        cmocka_unit_test(test_no_sleep),
        cmocka_unit_test(test_since_counts),
    };
    return cmocka_run_group_tests_name("mstime", tests, NULL, NULL);
}
