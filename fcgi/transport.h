/* transport.h — the two transports under a request: a libfcgi FCGX_Request
 * (FastCGI) and the process environment + stdin/stdout (plain CGI). Each gives
 * a struct http_io; transport_handle runs one request through the router over
 * any http_io. Only this file and fcgi/pool.c call libfcgi. */
#ifndef WHARF_TRANSPORT_H
#define WHARF_TRANSPORT_H

#include <fcgiapp.h>
#include <stdint.h>

#include "../handlers/app.h"
#include "../lib/arena.h"
#include "http.h"

/* transport_fcgi_io: fill io with param/read/write over an accepted FastCGI
 * request fr (borrowed: it must outlive the io). Reads return 0 at the end of
 * FCGI_STDIN, <0 (WERR_IO) on a stream error. */
void transport_fcgi_io(struct http_io *io, FCGX_Request *fr);

/* CGI state: body bytes still allowed on fd in (-1 = read to EOF). */
struct cgi_io {
    int in_fd, out_fd;
    int64_t remaining;
};

/* transport_cgi_io: fill io over the environment (getenv), in_fd (body bounded
 * by CONTENT_LENGTH, to EOF when absent or empty) and out_fd. ctx is borrowed. */
void transport_cgi_io(struct http_io *io, struct cgi_io *ctx, int in_fd, int out_fd);

/* transport_handle: request_init, response_init, router_handle, response_send
 * over io, everything on arena a (the caller resets it afterwards). Returns
 * response_send's result: 0, or <0 when the response could not be written. */
int transport_handle(struct app *app, struct arena *a, struct http_io *io);

/* transport_cgi_main: serve exactly one CGI request (environment, fd 0, fd 1)
 * with the configuration at config_path (NULL: defaults and REGISTRY_* from
 * envp only). A configuration or start-up error is answered 500 with the
 * spec's error JSON and logged to stderr. Returns the process exit status. */
int transport_cgi_main(const char *config_path, char *const *envp);

#endif
