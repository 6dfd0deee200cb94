/* metrics.h — TEMP stub (the `metrics` branch provides the real one). */
#ifndef WHARF_METRICS_H
#define WHARF_METRICS_H

#include <stdint.h>

enum metrics_notify_kind { METRICS_NOTIFY_SENT, METRICS_NOTIFY_RETRY, METRICS_NOTIFY_FAILURE };
void metrics_notify_count(const char *endpoint, enum metrics_notify_kind k, uint64_t n);
void metrics_notify_pending(const char *endpoint, uint64_t depth); /* queue depth gauge */

#endif
