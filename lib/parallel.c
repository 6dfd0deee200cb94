/* parallel.c — see parallel.h */
#include "parallel.h"

#include <pthread.h>

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
