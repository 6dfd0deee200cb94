/* mailhook.c — see mailhook.h. */
#include "mailhook.h"

#include <signal.h>
#include <string.h>

#include "../lib/loghook.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int mailhook_enabled(const struct config *cfg, const void *ctx)
{
    (void)ctx;
    return loghook_config_active(cfg);
}

int mailhook_run(const struct config *cfg, const void *ctx)
{
    (void)ctx;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term; /* no SA_RESTART: the sender's wait returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return loghook_sender_run(cfg, &stop);
}
