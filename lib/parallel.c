/* parallel.c — see parallel.h */
#include "parallel.h"

#include <pthread.h>

struct par_for_job {
    void (*fn)(void *, size_t);
    void *ctx;
    size_t n, next;
};

static void *par_for_worker(void *p)
{
    struct par_for_job *j = p;
    for (;;) {
        size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->n) return NULL;
        j->fn(j->ctx, i);
    }
}

void par_for(size_t n, size_t nt, void (*fn)(void *ctx, size_t i), void *ctx)
{
    struct par_for_job j = {fn, ctx, n, 0};
    par_run(n < nt ? n : nt, par_for_worker, &j);
}

void par_run(size_t nt, void *(*fn)(void *), void *ctx)
{
    if (nt > PAR_MAX) nt = PAR_MAX;
    pthread_t th[PAR_MAX];
    size_t started = 0;
    for (; started + 1 < nt; started++)
        if (pthread_create(&th[started], NULL, fn, ctx)) break;
    fn(ctx);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}
