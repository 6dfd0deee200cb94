/* router.h — the one route table {method, pattern, handler, action} and dispatch.
 * router_handle matches req->path (raw REQUEST_URI path) from the right, checks
 * the name and reference grammar, answers 404/405 itself, and otherwise calls
 * the route's handler. It always leaves a complete response in res. */
#ifndef WHARF_ROUTER_H
#define WHARF_ROUTER_H

#include "../handlers/app.h"
#include "http.h"

void router_handle(struct app *app, struct request *req, struct response *res);

/* request_init: fill req from io (method, path, query, length, host...); req->arena set by caller.
 */
void request_init(struct request *req, struct arena *a, struct http_io *io);

#endif
