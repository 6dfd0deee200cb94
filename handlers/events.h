/* events.h — the notifications' events (issue 14), raised by the handlers
 * when at least one endpoint is enabled (config_notify_active) and appended
 * to this node's journal (lib/evqueue.h) before the response is sent; the
 * sender service delivers them. Each event is the object the reference
 * registry (2.8.2, notifications/bridge.go) puts in its envelope's "events"
 * array, field for field: id, timestamp (RFC 3339 with nanoseconds), action,
 * target, request, actor, source. docs/notifications.md lists which request
 * raises which event. A failure to append is logged, never the request's. */
#ifndef WHARF_EVENTS_H
#define WHARF_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "../fcgi/http.h"
#include "app.h"

/* the actions, as the reference spells them */
#define EVENT_PUSH "push"
#define EVENT_PULL "pull"
#define EVENT_MOUNT "mount"
#define EVENT_DELETE "delete"

/* events_manifest: a manifest pushed or pulled (action EVENT_PUSH or
 * EVENT_PULL) in req->name: its bytes, digest and media type; tag the
 * request's tag or NULL (by digest). References (the manifest's config and
 * layers, or an index's manifests) when notifications.events.
 * includereferences is on. */
void events_manifest(struct app *app, struct request *req, const char *action, const char *tag,
                     const char *digest, const char *media_type, const char *body, size_t len);

/* events_blob: a blob pushed (upload complete), pulled (GET or HEAD) or
 * mounted into req->name (from: the source repository, for EVENT_MOUNT). */
void events_blob(struct app *app, struct request *req, const char *action, const char *digest,
                 int64_t size, const char *from);

/* events_delete: a manifest (digest) or blob (digest, blob 1) deleted in
 * req->name, or a tag (tag, digest NULL). */
void events_delete(struct app *app, struct request *req, const char *digest, const char *tag);

/* ---- the event's JSON, for tests ----------------------------------------- */

/* what one event says; NULL/0 fields are left out as the reference's
 * omitempty does (target.size and length: when size < 0) */
struct event {
    const char *id, *timestamp, *action;
    const char *media_type, *digest, *repository, *from_repository, *url, *tag;
    int64_t size;           /* -1: none (deletes) */
    const char *references; /* a JSON array, or NULL */
    const char *req_id, *req_addr, *req_host, *req_method, *req_useragent;
    const char *actor; /* authenticated user or NULL */
    const char *src_addr, *src_instance;
};

/* event_json: the compact one-line JSON of ev (arena). */
char *event_json(struct arena *a, const struct event *ev, size_t *len);

/* event_references: the "references" array of a manifest (body) as the
 * reference's Manifest.References() gives it: an image's config then its
 * layers, an index's manifests, each {mediaType, size, digest, urls,
 * annotations} (keys omitted when empty; platform is not kept). NULL when
 * the body is not a manifest's JSON or references nothing. */
char *event_references(struct arena *a, const char *body, size_t len);

/* event_timestamp: now in RFC 3339 with nanoseconds as Go prints
 * time.Time (UTC, trailing zeros of the fraction dropped). */
char *event_timestamp(struct arena *a);

#endif
