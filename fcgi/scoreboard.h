/* scoreboard.h — the pool's shared-memory scoreboard: one slot per worker
 * process, written by that worker (its state, when it entered it, how many
 * requests it served) and read by the master, which sizes the pool from it
 * (fcgi/pool.c), and by anything else that reports on the pool (a metrics
 * exporter: scoreboard_count for totals, scoreboard_slot_read per worker).
 *
 * The memory is an anonymous MAP_SHARED mapping created by the master before
 * it forks: every worker inherits it at the same address. Each field is a C11
 * atomic written by one process at a time (the master when it claims or
 * releases a slot, the worker in between), so readers never see a torn value
 * and never take a lock; a reader may see a slot mid-update (state already
 * BUSY, start time still the previous one), which is harmless for counting.
 * A worker killed by -9 leaves its slot as it was; the master releases it
 * when it reaps the pid. */
#ifndef WHARF_SCOREBOARD_H
#define WHARF_SCOREBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum sb_state {
    SB_FREE = 0,     /* no process */
    SB_STARTING = 1, /* forked, building its app (config, storage driver) */
    SB_IDLE = 2,     /* waiting in accept() */
    SB_BUSY = 3,     /* serving a request */
};

/* A copy of one slot (scoreboard_slot_read). Times are CLOCK_MONOTONIC
 * milliseconds (scoreboard_now_ms). */
struct sb_slot_view {
    pid_t pid;
    enum sb_state state;
    unsigned gen;      /* pool generation (a SIGHUP reload starts a new one) */
    int64_t since_ms;  /* when the slot entered state (BUSY: the request's start) */
    uint64_t requests; /* requests served by this process */
};

/* Totals over the slots of one generation (or all). */
struct sb_counts {
    unsigned starting, idle, busy;
    unsigned total;          /* starting + idle + busy */
    uint64_t requests;       /* served by the processes alive now */
    int64_t longest_busy_ms; /* the oldest request in flight, 0 when none */
};

/* What the master publishes about the whole pool on each tick. */
struct sb_pool_view {
    unsigned min, max;  /* the current fastcgi.workers bounds (min == max: static) */
    unsigned queued;    /* connections waiting in the listen queue at the last tick */
    int64_t updated_ms; /* when (scoreboard_now_ms), 0 = never */
};

struct scoreboard;

/* scoreboard_new: a scoreboard of nslots slots, shared with the processes
 * forked afterwards. Returns 0, or WERR_NOMEM/WERR_IO (mmap failed). */
int scoreboard_new(size_t nslots, struct scoreboard **out);
/* scoreboard_free: unmap (in the master at exit; NULL is fine). */
void scoreboard_free(struct scoreboard *sb);
size_t scoreboard_size(const struct scoreboard *sb);

/* scoreboard_claim (master, before fork): a free slot set STARTING for
 * generation gen with pid 0; its index, or -1 when every slot is taken. */
int scoreboard_claim(struct scoreboard *sb, unsigned gen);
/* scoreboard_set_pid (master, after fork): the child's pid in its slot. */
void scoreboard_set_pid(struct scoreboard *sb, int slot, pid_t pid);
/* scoreboard_release (master, after reaping the slot's process). */
void scoreboard_release(struct scoreboard *sb, int slot);

/* scoreboard_set_state (worker): enter state now; leaving BUSY counts one
 * request served. A NULL sb or negative slot (single-process mode) is a no-op. */
void scoreboard_set_state(struct scoreboard *sb, int slot, enum sb_state state);

/* scoreboard_slot_read: a copy of slot i (i < scoreboard_size). */
void scoreboard_slot_read(const struct scoreboard *sb, size_t i, struct sb_slot_view *out);
/* scoreboard_count: totals of generation gen (all_gens: every generation),
 * with now_ms for the busy age. */
void scoreboard_count(const struct scoreboard *sb, unsigned gen, int all_gens, int64_t now_ms,
                      struct sb_counts *out);

/* scoreboard_publish (master): the pool-wide values; scoreboard_pool_read:
 * a copy of them, from any process. */
void scoreboard_publish(struct scoreboard *sb, const struct sb_pool_view *v);
void scoreboard_pool_read(const struct scoreboard *sb, struct sb_pool_view *out);

/* scoreboard_now_ms: CLOCK_MONOTONIC in milliseconds. */
int64_t scoreboard_now_ms(void);

#endif
