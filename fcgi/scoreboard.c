/* scoreboard.c — see scoreboard.h. Slots are fixed in place for the life of
 * the mapping: a worker keeps the index it was forked with, never a pointer
 * that could move. */
#include "scoreboard.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../lib/err.h"

struct sb_slot {
    _Atomic int pid;
    _Atomic int state;
    _Atomic unsigned gen;
    _Atomic int64_t since_ms;
    _Atomic uint64_t requests;
};

struct scoreboard {
    size_t nslots;
    size_t maplen;
    _Atomic unsigned min, max, queued;
    _Atomic int64_t updated_ms;
    struct sb_slot slot[];
};

int64_t scoreboard_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int scoreboard_new(size_t nslots, struct scoreboard **out)
{
    *out = NULL;
    if (nslots == 0 || nslots > 65536) return WERR_INVALID;
    size_t len = sizeof(struct scoreboard) + nslots * sizeof(struct sb_slot);
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return WERR_IO;
    struct scoreboard *sb = m; /* zero-filled: every slot SB_FREE */
    sb->nslots = nslots;
    sb->maplen = len;
    *out = sb;
    return 0;
}

void scoreboard_free(struct scoreboard *sb)
{
    if (sb) munmap(sb, sb->maplen);
}

size_t scoreboard_size(const struct scoreboard *sb)
{
    return sb ? sb->nslots : 0;
}

int scoreboard_claim(struct scoreboard *sb, unsigned gen)
{
    for (size_t i = 0; i < sb->nslots; i++) {
        struct sb_slot *s = &sb->slot[i];
        if (atomic_load(&s->state) != SB_FREE) continue;
        atomic_store(&s->pid, 0);
        atomic_store(&s->gen, gen);
        atomic_store(&s->requests, 0);
        atomic_store(&s->since_ms, scoreboard_now_ms());
        atomic_store(&s->state, SB_STARTING);
        return (int)i;
    }
    return -1;
}

void scoreboard_set_pid(struct scoreboard *sb, int slot, pid_t pid)
{
    if (sb && slot >= 0 && (size_t)slot < sb->nslots) atomic_store(&sb->slot[slot].pid, (int)pid);
}

void scoreboard_release(struct scoreboard *sb, int slot)
{
    if (!sb || slot < 0 || (size_t)slot >= sb->nslots) return;
    struct sb_slot *s = &sb->slot[slot];
    atomic_store(&s->state, SB_FREE);
    atomic_store(&s->pid, 0);
}

void scoreboard_set_state(struct scoreboard *sb, int slot, enum sb_state state)
{
    if (!sb || slot < 0 || (size_t)slot >= sb->nslots) return;
    struct sb_slot *s = &sb->slot[slot];
    int old = atomic_load(&s->state);
    if (old == (int)state) return; /* keep the time it entered the state */
    if (old == SB_BUSY) atomic_fetch_add(&s->requests, 1);
    /* the time first: a reader that sees BUSY then reads a start time that
     * is at worst the previous state's, never a later one */
    atomic_store(&s->since_ms, scoreboard_now_ms());
    atomic_store(&s->state, (int)state);
}

void scoreboard_slot_read(const struct scoreboard *sb, size_t i, struct sb_slot_view *out)
{
    memset(out, 0, sizeof *out);
    if (!sb || i >= sb->nslots) return;
    struct sb_slot *s = (struct sb_slot *)&sb->slot[i];
    out->state = (enum sb_state)atomic_load(&s->state);
    out->pid = (pid_t)atomic_load(&s->pid);
    out->gen = atomic_load(&s->gen);
    out->since_ms = atomic_load(&s->since_ms);
    out->requests = atomic_load(&s->requests);
}

void scoreboard_count(const struct scoreboard *sb, unsigned gen, int all_gens, int64_t now_ms,
                      struct sb_counts *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < scoreboard_size(sb); i++) {
        struct sb_slot_view v;
        scoreboard_slot_read(sb, i, &v);
        if (v.state == SB_FREE || (!all_gens && v.gen != gen)) continue;
        out->total++;
        out->requests += v.requests;
        if (v.state == SB_STARTING) {
            out->starting++;
        } else if (v.state == SB_IDLE) {
            out->idle++;
        } else {
            out->busy++;
            if (now_ms - v.since_ms > out->longest_busy_ms)
                out->longest_busy_ms = now_ms - v.since_ms;
        }
    }
}

void scoreboard_publish(struct scoreboard *sb, const struct sb_pool_view *v)
{
    if (!sb) return;
    atomic_store(&sb->min, v->min);
    atomic_store(&sb->max, v->max);
    atomic_store(&sb->queued, v->queued);
    atomic_store(&sb->updated_ms, v->updated_ms);
}

void scoreboard_pool_read(const struct scoreboard *sb, struct sb_pool_view *out)
{
    memset(out, 0, sizeof *out);
    if (!sb) return;
    struct scoreboard *m = (struct scoreboard *)sb;
    out->min = atomic_load(&m->min);
    out->max = atomic_load(&m->max);
    out->queued = atomic_load(&m->queued);
    out->updated_ms = atomic_load(&m->updated_ms);
}
