/* access.c — questions about what the caller of a request may do that a
 * handler asks beyond the route's own action (the router checks that one). */
#include "auth.h"
#include "handlers.h"

int handler_may_pull(struct app *app, struct request *req, const char *repo)
{
    /* the access controller (handlers/auth.c) knows the caller: with no auth
     * configured or htpasswd/silly, every repository; with a token, its
     * "repository:<repo>:pull" grants */
    return auth_may(app, req, repo, RIGHT_PULL);
}
