/* mstime.h — milliseconds on the monotonic clock, for the waits of locks
 * and leases: how long since a moment, and a sleep a signal does not cut
 * short. */
#ifndef WHARF_MSTIME_H
#define WHARF_MSTIME_H

#include <time.h>

/* ms_since: milliseconds from t0 (taken with CLOCK_MONOTONIC) to now */
long ms_since(const struct timespec *t0);

/* ms_sleep: sleep ms milliseconds, resumed after a signal; ms <= 0: none */
void ms_sleep(long ms);

#endif
