/* metrics.c — TEMP stub: no-ops until the `metrics` branch lands. */
#include "metrics.h"

void metrics_notify_count(const char *endpoint, enum metrics_notify_kind k, uint64_t n)
{
    (void)endpoint;
    (void)k;
    (void)n;
}

void metrics_notify_pending(const char *endpoint, uint64_t depth)
{
    (void)endpoint;
    (void)depth;
}
