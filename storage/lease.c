/* lease.c — a lock made of a lease object, see lease.h. */
#include "lease.h"

#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/mstime.h"

#include <errno.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LEASE_MAX 1024
#define LEASE_SETTLE_MS 250
#define LEASE_POLL_MAX_MS 500

struct lease {
    struct storage_lock base;
    struct storage_driver *d;
    char *path; /* arena */
    char token[33];
    int ttl_s;
    time_t renewed;
    int held;
};

static const struct storage_lock_ops lease_ops;

/* lease_read: 0 and the holder's token when a live lease is at path,
 * WERR_NOTFOUND when there is none or it ended, or a WERR_*. */
static int lease_read(struct storage_driver *d, const char *path, char token[33])
{
    struct arena *t = arena_new();
    if (!t) return WERR_NOMEM;
    char *data = NULL;
    size_t len = 0;
    int rc = storage_get(d, t, path, LEASE_MAX, &data, &len);
    token[0] = '\0';
    if (rc == WERR_TOOBIG) rc = WERR_INVALID;
    if (rc && rc != WERR_INVALID) goto out;
    char host[256], myhost[256] = "?";
    long pid;
    long long expires;
    if (rc || !data ||
        (sscanf(data, "wharf-lease 1\nholder %255s %ld %32s\nexpires %lld", host, &pid, token,
                &expires) != 4 &&
         sscanf(data, "wharf-gc-lease 1\nholder %255s %ld %32s\nexpires %lld", host, &pid, token,
                &expires) != 4)) {
        token[0] = '\0';
        log_warn("%s: lock %s: the object there is no lease; taken over", d->ops->name, path);
        rc = WERR_NOTFOUND;
        goto out;
    }
    gethostname(myhost, sizeof myhost - 1);
    if (expires <= (long long)time(NULL) ||
        (!strcmp(host, myhost) && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        rc = WERR_NOTFOUND;
out:
    arena_free(t);
    return rc;
}

static int lease_write(struct lease *l)
{
    char host[256] = "?", body[512];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    int n = snprintf(body, sizeof body, "wharf-lease 1\nholder %s %ld %s\nexpires %lld\n", host,
                     (long)getpid(), l->token, (long long)(now + l->ttl_s));
    int rc = storage_put(l->d, l->path, body, (size_t)n);
    if (rc == 0) l->renewed = now;
    return rc;
}

static void lease_release(void *p)
{
    struct lease *l = p;
    if (!l->held) return;
    l->held = 0;
    /* only our own lease: one that expired and was taken over stays. A lease
     * written less than half its ttl ago cannot have expired (nor been taken:
     * its holder, this process, lives): deleted without reading it first */
    char token[33];
    if (time(NULL) - l->renewed < l->ttl_s / 2 ||
        (lease_read(l->d, l->path, token) == 0 && !strcmp(token, l->token)))
        storage_delete(l->d, l->path);
}

int storage_lease_lock(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                       long wait_ms, struct storage_lock **out)
{
    *out = NULL;
    int rc = storage_path_check(path, 4096, 0);
    if (rc) return rc;
    struct lease *l = arena_zalloc(a, sizeof(*l));
    l->base.ops = &lease_ops;
    l->d = d;
    l->path = arena_strdup(a, path);
    l->ttl_s = ttl_s > 0 ? ttl_s : 60;
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) return WERR_IO;
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(l->token + 2 * i, 3, "%02x", rnd[i]);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long pause = 50;
    char token[33];
    for (;;) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        rc = lease_read(d, l->path, token);
        if (rc == WERR_NOTFOUND) {
            if ((rc = lease_write(l)) != 0) return rc;
            long took = ms_since(&t1);
            /* the caller's reads run in this wait (storage_lock_during) */
            storage_lock_settling(took * 3 > LEASE_SETTLE_MS ? took * 3 : LEASE_SETTLE_MS);
            rc = lease_read(d, l->path, token);
            if (rc == 0 && !strcmp(token, l->token)) break;
            /* another taker's write came later and won; or ours was lost */
        }
        if (rc && rc != WERR_NOTFOUND) return rc;
        long waited = ms_since(&t0);
        if (waited >= wait_ms) return WERR_BUSY;
        ms_sleep(pause < wait_ms - waited ? pause : wait_ms - waited);
        if (pause < LEASE_POLL_MAX_MS) pause *= 2;
    }
    l->held = 1;
    arena_cleanup(a, lease_release, l);
    *out = &l->base;
    return 0;
}

static int lease_renew(struct storage_lock *base)
{
    struct lease *l = (struct lease *)base;
    if (!l->held) return WERR_BUSY;
    if (time(NULL) - l->renewed < l->ttl_s / 3) return 0;
    char token[33];
    int rc = lease_read(l->d, l->path, token);
    if (rc == WERR_NOTFOUND || (rc == 0 && strcmp(token, l->token) != 0)) {
        log_warn("%s: lock %s: the lease was lost (it expired and was taken)", l->d->ops->name,
                 l->path);
        l->held = 0;
        return WERR_BUSY;
    }
    if (rc) return rc;
    return lease_write(l);
}

static void lease_unlock(struct storage_lock *base)
{
    lease_release(base);
}

static const struct storage_lock_ops lease_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .renew = lease_renew,
    .unlock = lease_unlock,
};
