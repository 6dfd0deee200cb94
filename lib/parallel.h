/* parallel.h — run one worker function on a few threads at once.
 *
 * The drivers put an upload's pieces or delete many objects side by side,
 * and the registry checks a manifest's references side by side: each has a
 * job struct its worker function takes the next item from (an index under
 * a mutex or an atomic), so any number of threads may run it. */
#ifndef WHARF_PARALLEL_H
#define WHARF_PARALLEL_H

#include <stddef.h>

/* at most this many threads per par_run */
#define PAR_MAX 32

/* par_run: fn(ctx) on nt threads (at most PAR_MAX), the calling thread being
 * one of them; returns once every one has returned. A thread that cannot be
 * started is done without: the others share its work. */
void par_run(size_t nt, void *(*fn)(void *), void *ctx);

#endif
