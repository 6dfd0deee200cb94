/* middleware.h — storage middleware of the reference's `middleware: storage:`
 * section (issue 7): each entry wraps the driver and replaces its url_for,
 * the URL a blob GET answers 307 with.
 *   redirect   (options: baseurl)  <scheme>://<host>[/<base path>]<driver path>
 *   cloudfront (options: baseurl, privatekey, keypairid, duration)
 *              <baseurl><S3 key>?Expires=..&Signature=..&Key-Pair-Id=.., a
 *              CloudFront signed URL with a canned policy (RSA-SHA1), as the
 *              reference; with a storage driver other than s3 it falls back
 *              to the driver's own url_for, as the reference does.
 */
#ifndef WHARF_STORAGE_MIDDLEWARE_H
#define WHARF_STORAGE_MIDDLEWARE_H

#include <stddef.h>
#include <time.h>

#include "../../lib/arena.h"
#include "../../lib/config.h"
#include "../driver.h"

/* storage_middleware_wrap: inner wrapped by every enabled middleware.storage
 * entry of cfg, in order (*out = inner when there is none). The wrappers own
 * inner (freed with them). The CloudFront key is read here. Returns 0, or
 * WERR_INVALID (err says why: unreadable or non-RSA key) / WERR_NOMEM; inner
 * is not freed on error. */
int storage_middleware_wrap(const struct config *cfg, struct storage_driver *inner,
                            struct storage_driver **out, char *err, size_t errlen);

/* cloudfront_canned_policy: the policy JSON CloudFront signs for a canned
 * policy: {"Statement":[{"Resource":"<url>","Condition":{"DateLessThan":
 * {"AWS:EpochTime":<expires>}}}]} (no whitespace). Arena string. */
char *cloudfront_canned_policy(struct arena *a, const char *url, time_t expires);

#endif
