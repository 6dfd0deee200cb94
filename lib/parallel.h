/* parallel.h — run one worker function on a few threads at once.
 *
 * The drivers put an upload's pieces or delete many objects side by side
 * (par_run: a job struct each worker takes the next item from, under a
 * mutex, stopping at the first failure); the registry checks a manifest's
 * references, reads an upload's state and puts its first files side by
 * side (par_for: a function of the item's index, every item done). */
#ifndef WHARF_PARALLEL_H
#define WHARF_PARALLEL_H

#include <stddef.h>

/* at most this many threads per par_run */
#define PAR_MAX 32

/* par_run: fn(ctx) on nt threads (at most PAR_MAX), the calling thread being
 * one of them; returns once every one has returned. A thread that cannot be
 * started is done without: the others share its work. */
void par_run(size_t nt, void *(*fn)(void *), void *ctx);

/* par_for: fn(ctx, i) once for each i in 0..n-1, on min(n, nt) threads
 * (par_run), each taking the next i; returns once every one has returned. */
void par_for(size_t n, size_t nt, void (*fn)(void *ctx, size_t i), void *ctx);

#endif
