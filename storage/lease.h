/* lease.h — a lock made of a lease object, for drivers whose store has no
 * lock of its own (object stores): any driver may set its lock op to
 * storage_lease_lock. The lease lives at the lock's path, written and read
 * with the driver's own put_content / get_content / delete:
 *
 *   "wharf-lease 1\nholder <host> <pid> <token>\nexpires <unix time>\n"
 *
 * An object store offers no compare-and-swap every service has (conditional
 * PutObject is recent on AWS and absent from Swift's s3api), so a taker that
 * finds no live lease writes its own, waits, and reads it back: two takers
 * that both found none both write, the later write wins and the other
 * stands back on the read-back. The wait is three times what the taker's own
 * read and write took, and at least LEASE_SETTLE_MS, so that a racing write
 * issued after the same read has landed by then. A lease ends when it is
 * deleted, when it expires (its holder died or hangs), or at once when its
 * holder is a process on this host that no longer exists. Leases written by
 * Wharf before the driver lock ("wharf-gc-lease 1", the same fields) are read
 * too; anything else at the path is taken over with a warning. */
#ifndef WHARF_LEASE_H
#define WHARF_LEASE_H

#include "driver.h"

/* storage_lease_lock: the lock op of driver.h, on d's own objects. */
int storage_lease_lock(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                       long wait_ms, struct storage_lock **lk);

#endif
