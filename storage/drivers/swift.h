/* swift.h — the OpenStack Swift storage driver (native API), configured by
 * storage.swift of the reference's config.yml. Requests go through libcurl
 * (a pool of easy handles per driver, shared by threads), authenticated with
 * a token from TempAuth (v1), Keystone v2 or Keystone v3, kept by the driver
 * and renewed once when Swift answers 401; retried with backoff on 5xx and
 * broken connections.
 *
 * Layout (the reference's, so that a registry can switch between the
 * reference and Wharf on one container): a path /a/b is the object
 * "<prefix>/files/a/b"; a file written through a writer is a Dynamic Large
 * Object: its data are segment objects "<prefix>/segments/<3 hex>/<37
 * hex>/<%016d>" numbered from 1, and the file is a manifest whose
 * X-Object-Manifest names "<container>/<that segment path>". Uploads
 * continue across requests and nodes by adding segments; move() of such a
 * file writes the same manifest at the destination (as the reference does)
 * and deletes the source manifest; delete removes a manifest's segments with
 * it. Directories are name prefixes (an emptied directory vanishes).
 *
 * url_for gives TempURLs (HMAC-SHA1) when secretkey is set; the key is set on
 * the account (or the container, tempurlcontainerkey) at the first request. */
#ifndef WHARF_DRIVER_SWIFT_H
#define WHARF_DRIVER_SWIFT_H

#include <stddef.h>

#include "../../lib/config.h"
#include "../driver.h"

/* driver_swift_new: a driver for cfg's storage.swift section. Does no
 * network I/O: it authenticates, creates the container when missing and
 * sets the TempURL key at its first request. Returns 0 and *out (freed with
 * storage_driver_free), WERR_INVALID (err says why) or WERR_NOMEM. */
int driver_swift_new(const struct config *cfg, struct storage_driver **out, char *err,
                     size_t errlen);

/* driver_swift_tempurl: the TempURL of an object path (for tests): signature
 * over "GET\n<expires>\n<path>" with key, path the URL path of the object
 * under storage_url. The URL on a, or NULL. */
char *driver_swift_tempurl(struct arena *a, const char *storage_url, const char *container,
                           const char *object, const char *key, long long expires,
                           const char *sig_prefix);

#endif
