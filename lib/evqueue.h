/* evqueue.h — the notifications' durable queue (issue 14): a journal of
 * events on this node's disk. Workers append an event before the request
 * answers; the sender service (run by the pool's master) reads it and
 * delivers each endpoint's events in order, at least once.
 *
 * The format, shared by both sides:
 * - Directory D (notifications.queue.directory), created 0750 by whoever
 *   needs it first.
 * - D/current.log is the segment being appended to; sealed segments are
 *   D/<seq>.log, seq a 20-digit zero-padded decimal, increasing. Anything
 *   else in D belongs to the reader (cursors, state).
 * - A record is one event per line: the event object exactly as it goes in
 *   the reference envelope's "events" array (compact JSON, no raw newline),
 *   then '\n'; at most EVQUEUE_RECORD_MAX bytes.
 * - Writer: open D/current.log O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC 0640,
 *   flock(LOCK_SH), fstat the fd and stat D/current.log: another inode (or
 *   ENOENT) means it was rotated under us: close and start again; one
 *   write() of the whole record (continued on a short write), fdatasync
 *   when asked, close (which drops the lock).
 * - Reader: rotation is rename(current.log -> <seq>.log), then open it and
 *   flock(LOCK_EX), which waits for the writers in flight; after that the
 *   segment is sealed. A line that is not valid JSON (a writer killed in
 *   the middle of its write) is skipped with a warning. */
#ifndef WHARF_EVQUEUE_H
#define WHARF_EVQUEUE_H

#include <stddef.h>

#define EVQUEUE_RECORD_MAX (1024 * 1024)
#define EVQUEUE_CURRENT "current.log"

/* evqueue_append: append one record (json, len bytes, without the newline)
 * to the journal in dir. fsync: fdatasync before returning. Returns 0, or
 * WERR_INVALID (too big, or holds a newline), WERR_IO/WERR_NOSPACE (the
 * caller logs it; a request never fails because of it). */
int evqueue_append(const char *dir, const char *json, size_t len, int fsync);

/* ---- reader (the sender service) ---------------------------------------- */

#endif
