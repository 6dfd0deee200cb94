/* curl_lazy.h — libcurl is loaded (dlopen) when a configuration first needs
 * it; see curl_lazy.c. Code calls the ordinary libcurl API. */
#ifndef WHARF_CURL_LAZY_H
#define WHARF_CURL_LAZY_H

#include <stddef.h>

/* Load libcurl now (idempotent, thread-safe). 0, or -1 with a message in err
 * naming the library and the loader's reason. Call at start-up from code that
 * needs libcurl, so that a missing library is a start-up error. */
int curl_lazy_load(char *err, size_t errlen);

/* 1 once libcurl is loaded in this process (for tests). */
int curl_lazy_loaded(void);

#endif
