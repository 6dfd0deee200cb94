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

/* The reader keeps, per endpoint, a cursor file D/<name>.cursor ("<seq>
 * <offset>\n": everything before that byte of segment seq is delivered),
 * written to a temp file, fsynced (when asked), renamed. It reads sealed
 * segments only; when an endpoint has read them all it seals current.log
 * (rotation above). A segment every endpoint has passed is deleted. One
 * reader per directory: D/reader.lock, flock(LOCK_EX). */
struct evqueue_reader;

/* evqueue_reader_open: the queue in dir (created 0750 if absent) for the n
 * endpoints named (cursors read; a missing one starts at the oldest event
 * kept). fsync: cursors and directory fsynced. Returns 0 (*out: the
 * caller's, evqueue_reader_close), WERR_BUSY (another reader holds the
 * directory), WERR_IO, WERR_NOMEM. */
int evqueue_reader_open(const char *dir, const char *const *names, size_t n, int fsync,
                        struct evqueue_reader **out);
void evqueue_reader_close(struct evqueue_reader *r);

/* evqueue_next: the record after the one last returned for endpoint i
 * (after its cursor on the first call), valid JSON, without its newline.
 * Returns 1 (*rec, *len: valid until the next call for i), 0 when there is
 * none now, WERR_IO. Torn and invalid lines are skipped with a warning.
 * Calls for different endpoints may run in different threads. */
int evqueue_next(struct evqueue_reader *r, size_t i, const char **rec, size_t *len);

/* evqueue_ack: the records evqueue_next returned for i are delivered: move
 * its cursor after them, save it, delete the segments all endpoints have
 * passed. Returns 0 or WERR_IO (the cursor stays in memory; retried on the
 * next ack). */
int evqueue_ack(struct evqueue_reader *r, size_t i);

/* evqueue_rewind: forget what evqueue_next returned since the last ack: the
 * next call starts at the cursor again. */
void evqueue_rewind(struct evqueue_reader *r, size_t i);

/* evqueue_pending: lines not yet acked for endpoint i (records, plus any
 * torn lines not yet skipped), sealed segments and current.log together. */
unsigned long long evqueue_pending(struct evqueue_reader *r, size_t i);

#endif
