/* buildq.h — the build queue of issue 18 on the builder's work directory
 * (builds.workdir), shared by the workers (webhooks and the JSON API
 * enqueue, read and cancel builds; a tagged push leaves a trigger for chained
 * builds) and the builder service (admin/builder.c), which alone starts,
 * finishes and prunes builds. Everything is a file, written whole (temp file
 * + rename), so a process killed at any point leaves a readable state:
 *
 *   builds/<id>/build.json  the build's state (BUILDQ_* status, see below)
 *   builds/<id>/log         its output (git, buildah)
 *   builds/<id>/cancel      asked to stop (the API); the service acts on it
 *   seen/<sha256 hex>       replay guard: deliveries and (source, ref, commit)
 *   pushes/<name>.json      a tagged manifest was pushed: chained builds
 *   sources/<name>.from     the FROM images of the source's last build
 *   tmp/<id>/               a running build's checkout and buildah storage
 *
 * build.json: {"id", "source", "repository", "ref", "commit" (asked, may be
 * ""), "tags": [...], "status", "reason", "trigger", "chain": [sources],
 * "created", "started", "finished" (RFC 3339 UTC, "" until then),
 * "revision" (built commit), "digest" (pushed manifest)}. */
#ifndef WHARF_BUILDQ_H
#define WHARF_BUILDQ_H

#include <stddef.h>

struct config;
struct config_build_source;
struct json_object;

#define BUILDQ_QUEUED "queued"
#define BUILDQ_RUNNING "running"
#define BUILDQ_SUCCEEDED "succeeded"
#define BUILDQ_FAILED "failed"
#define BUILDQ_CANCELLED "cancelled"

#define BUILDQ_ID_MAX 40
#define BUILDQ_TAGS_MAX 16
#define BUILDQ_STATE_MAX (256 * 1024) /* bytes of a build.json read back */

/* buildq_id_valid: 1 when id has the shape buildq_enqueue gives
 * ([0-9TZ-] and lower-case hex, no '/' or '.'), else 0. */
int buildq_id_valid(const char *id);

/* buildq_tags: the image tags source's rules give git ref ("refs/heads/X"
 * or "refs/tags/X"), at most max, each malloc'd into tags[]; returns how
 * many (0: no rule matches), or WERR_NOMEM. */
int buildq_tags(const struct config_build_source *s, const char *ref, char **tags, size_t max);

/* buildq_enqueue: a new queued build of source s at git ref (commit: the
 * commit asked for, or NULL/"" for the ref's head); trigger says why
 * ("github", "manual by alice", "chain: repo:tag@digest"), chain the
 * sources whose builds led here (NULL: none). id (BUILDQ_ID_MAX) receives the
 * build's id. Returns 0, WERR_INVALID (no rule gives ref a tag), WERR_IO. */
int buildq_enqueue(const struct config *cfg, const struct config_build_source *s, const char *ref,
                   const char *commit, const char *trigger, struct json_object *chain, char *id);

/* buildq_seen: records key under the workdir's replay guard. 0 when it was
 * new (it is now recorded), WERR_EXISTS when it was there, WERR_IO. */
int buildq_seen(const struct config *cfg, const char *key);

/* buildq_forget: removes key from the replay guard (a webhook whose builds
 * could not be queued may be delivered again). */
void buildq_forget(const struct config *cfg, const char *key);

/* buildq_pushed: a manifest was pushed to repo under tag (digest): leave the
 * trigger the builder turns into chained builds. Returns 0 or WERR_IO. */
int buildq_pushed(const struct config *cfg, const char *repo, const char *tag, const char *digest);

/* buildq_read: build id's state (json_object_put by the caller), or NULL
 * when there is no such build (or it cannot be read). */
struct json_object *buildq_read(const struct config *cfg, const char *id);

/* buildq_write: replace build id's state with st (temp file + rename).
 * Returns 0 or WERR_IO. */
int buildq_write(const struct config *cfg, const char *id, struct json_object *st);

/* buildq_list: the ids of the builds, newest first, at most max, each
 * malloc'd into ids[]; returns how many, or a WERR_*. */
int buildq_list(const struct config *cfg, char **ids, size_t max);

/* buildq_path: "<workdir>/<a>[/<b>[/<c>]]" in out (len); 0, or WERR_TOOBIG. */
int buildq_path(const struct config *cfg, char *out, size_t len, const char *a, const char *b,
                const char *c);

/* buildq_now: the current time in RFC 3339 UTC ("2026-12-04T09:10:11Z") in out (32). */
void buildq_now(char *out);

/* buildq_mkdirs: the workdir and its subdirectories (mode 0700). 0 or WERR_IO. */
int buildq_mkdirs(const struct config *cfg);

#endif
