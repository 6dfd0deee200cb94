/* azure.h — the Azure Blob Storage driver, configured by storage.azure of
 * the reference's config.yml (accountname, accountkey, container, realm,
 * and Distribution 3's serviceurl and rootdirectory). Requests go through
 * libcurl (a pool of easy handles per driver), signed with SharedKey
 * (lib/azsign.c), retried with backoff on 5xx and broken connections; the
 * container is created when a request finds it missing.
 *
 * Layout: a path /a/b is the blob "<rootdirectory>/a/b" of the container
 * (the reference's names); directories are name prefixes. Every file is one
 * block blob. A writer stages Put Blocks (at most 8 MiB each) and commits
 * the block list at close, so what was written is durable and visible from
 * then on, and a writer opened later, by any process on any node, lists the
 * committed blocks (Get Block List) and appends to them; a small last block
 * is fetched back and merged with what follows, so blocks stay full and a
 * blob stays within Azure's 50,000 committed blocks. move() is a server-side
 * Copy Blob (polled until it completes) and a delete of the source. url_for
 * gives a read-only service SAS URL. Locks are lease blobs created with
 * If-None-Match: * and replaced with If-Match: a real compare-and-swap. */
#ifndef WHARF_DRIVER_AZURE_H
#define WHARF_DRIVER_AZURE_H

#include <stddef.h>

#include "../../lib/config.h"
#include "../driver.h"

/* driver_azure_new: a driver for cfg's storage.azure section. Does no
 * network I/O. Returns 0 and *out (freed with storage_driver_free),
 * WERR_INVALID (err says why: an accountkey that is not base64, a bad
 * serviceurl, no libcurl) or WERR_NOMEM. */
int driver_azure_new(const struct config *cfg, struct storage_driver **out, char *err,
                     size_t errlen);

#endif
